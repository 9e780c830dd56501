"""Shared CLI helpers: console, failing with a clear message, progress bars."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # error messages stay on one line (greppable)


def config_default(config: type, field: str):
    """The default of ``config``'s ``field``: a command's option defaults to what the library's config says, so
    the two cannot differ."""
    f = config.__dataclass_fields__[field]
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def flagged(message: str, config: type) -> str:
    """A library message that starts with one of ``config``'s fields (``"hfov must be ..."``) as the command line
    says it (``"--hfov must be ..."``): the library names its settings, the CLI its flags."""
    head, sep, rest = message.partition(" ")
    word = head.rstrip(":")
    if word in config.__dataclass_fields__:
        return f"--{word.replace('_', '-')}{head[len(word):]}{sep}{rest}"
    return message


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` as an error on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


FIT_CONFIG_HELP = ("A YAML file of the fit's settings (FitConfig's fields, e.g. 'prior_deg: 20'; those left out keep "
                   "infer's defaults; docs/infer.md lists them). Default: infer's own.")


def read_fit_config(path: Path | None):
    """``--fit-config``: the file's ``FitConfig`` (checked as read: a typo or a wrong value stops the command here,
    before any work) or None for the defaults."""
    if path is None:
        return None
    from ..infer.config import load_fit_config

    try:
        return load_fit_config(path)
    except (FileNotFoundError, ValueError) as exc:
        fail(f"--fit-config: {exc}")


class RateColumn(ProgressColumn):
    """Items per second (frames/s of a video), blank until rich has measured a speed."""

    def render(self, task) -> Text:
        return Text(f"{task.speed:.1f}/s" if task.speed else "", style="progress.data.speed")


@contextmanager
def progress(description: str, total: int, enabled: bool = True) -> Iterator:
    """A rich progress bar yielding ``advance()`` (``advance.set_total(n)`` when the total is known later); silent when
    ``enabled`` is False (e.g. --json)."""
    if not enabled:
        quiet = lambda n=1: None  # noqa: E731
        quiet.set_total = lambda n: None
        yield quiet
        return
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=err_console, transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        advance = lambda n=1: bar.advance(task, n)  # noqa: E731
        advance.set_total = lambda n: bar.update(task, total=n)
        yield advance


@contextmanager
def third_party_log(path: Path) -> Iterator[Path]:
    """Send what other packages print to ``path``: C++ logs and banners on file descriptors 1 and 2 (absl, oneDNN,
    onnxruntime), Python logging, warnings and tqdm bars (coremltools, ai-edge-quantizer, litert-torch stage
    timers). Our own consoles keep the terminal."""
    import logging
    import warnings

    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(saved[0], "w", buffering=1, closefd=False), os.fdopen(saved[1], "w", buffering=1,
                                                                               closefd=False)
    console.file, err_console.file = terminal
    logging.captureWarnings(True)
    with open(path, "a", buffering=1) as log, warnings.catch_warnings():
        warnings.simplefilter("default")
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield path
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            console.file = err_console.file = None  # back to following sys.stdout / sys.stderr
            logging.captureWarnings(False)
