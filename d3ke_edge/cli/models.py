"""``d3ke-edge models``: third-party models the toolkit runs (BlazePose), fetched once and checked."""

from __future__ import annotations

import typer

from .common import console, fail

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("fetch")
def fetch() -> None:
    """Download BlazePose's detector and landmark models from the mediapipe wheel (without installing mediapipe),
    check their pinned sha256 sums and cache them ($D3KE_EDGE_CACHE, default ~/.cache/d3ke-edge)."""
    from ..video.models import ModelFetchError, fetch_models

    try:
        paths = fetch_models(progress=lambda msg: console.print(msg))
    except ModelFetchError as exc:
        fail(str(exc))
    for name, path in paths.items():
        console.print(f"{name}: {path}")


@app.command("path")
def path() -> None:
    """Print the cache folder the models are (or will be) kept in."""
    from ..video.models import cache_dir

    console.print(str(cache_dir()))
