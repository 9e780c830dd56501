"""``d3ke-edge bench robustness``: accuracy of checkpoints and exported artefacts under test-time conditions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console, fail, third_party_log
from .export import say

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("robustness")
def robustness(
    model: Annotated[list[str], typer.Option(help="PATH or PATH:HEAD: a per-frame checkpoint or exported per-frame "
                                                  "artefact, optionally with a causal head (temporal_HEAD.pt or "
                                                  "step_HEAD.<ext> beside it) scored streaming; repeat.")],
    conditions: Annotated[str, typer.Option(help="'study' (hflip, resize, crop, brightness, contrast), 'all', or "
                                                 "a comma-separated list.")] = "study",
    severities: Annotated[str, typer.Option(help="Comma-separated severities 1-5 (clean is always run).")] = "1,3,5",
    sequences: Annotated[int, typer.Option(help="Synthetic test sequences (held-out seeds).")] = 4,
    seconds: Annotated[float, typer.Option(help="Seconds per test sequence.")] = 1.0,
    like: Annotated[Path | None, typer.Option(help="Test on the motion families and camera yaws this checkpoint was "
                                                   "trained on (default: the first checkpoint among --model; "
                                                   "artefacts only: everything).")] = None,
    out: Annotated[Path, typer.Option(help="Report folder (robustness.json / .md; cache/ makes reruns free).")] = Path(
        "bench"),
) -> None:
    """Angle, joint and marker errors per model x condition x severity, with the change against clean."""
    from ..bench.robustness import RobustnessConfig, load_predictor, run_robustness, training_distribution
    from ..data.conditions import CONDITIONS, STUDY_CONDITIONS
    from ..train.checkpoint import CheckpointError

    names = {"study": STUDY_CONDITIONS, "all": ("hflip", *CONDITIONS)}.get(
        conditions, tuple(c.strip() for c in conditions.split(",") if c.strip()))
    try:
        levels = tuple(int(s) for s in severities.split(","))
        RobustnessConfig(conditions=names, severities=levels)  # a bad condition or severity fails before any loading
        with third_party_log(out.parent / f"{out.name}_bench.log"):
            predictors = [load_predictor(m) for m in model]
            like = like or next((p.checkpoint for p in predictors if p.checkpoint is not None), None)
            dist = training_distribution(like) if like else {}
            cfg = RobustnessConfig(conditions=names, severities=levels, sequences=sequences, seconds=seconds, **dist)
            results = run_robustness(predictors, cfg, out, progress=say)
    except (ValueError, FileNotFoundError, CheckpointError) as exc:
        fail(str(exc))
    console.print((out / "robustness.md").read_text())
    console.print(f"report: {out / 'robustness.json'} and robustness.md ({results['cells_computed']} cells computed, "
                  "the rest from the cache)")

