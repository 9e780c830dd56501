"""``d3ke-edge synth ...``: write the synthetic dataset, or a preview of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import console, fail, progress

app = typer.Typer(no_args_is_help=False, invoke_without_command=True)


@app.callback()
def synth(
    ctx: typer.Context,
    out: Annotated[Optional[Path], typer.Option("--out", help="Dataset directory (train/val/test shards + manifest).")] = None,
    subjects: Annotated[int, typer.Option("--subjects", min=1, help="Synthetic people; split ~80/10/10 by subject.")] = 10,
    seconds: Annotated[float, typer.Option("--seconds", min=0.1, help="Seconds of motion per subject.")] = 10.0,
    sequence_seconds: Annotated[float, typer.Option("--sequence-seconds", min=0.1, help="Length of each sequence (one motion, one camera).")] = 2.0,
    fps: Annotated[float, typer.Option("--fps", min=1.0, help="Video frame rate.")] = 30.0,
    size: Annotated[int, typer.Option("--size", min=32, max=1024, help="Square crop size in pixels (D3KE: 256).")] = 256,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same bytes.")] = 0,
    motion: Annotated[Optional[list[Path]], typer.Option("--motion", help="OpenSim .mot/.sto to render instead of procedural motion (repeatable).")] = None,
    backgrounds: Annotated[Optional[Path], typer.Option("--backgrounds", help="Folder of photos used as backgrounds in half of the scenes.")] = None,
) -> None:
    """Render the synthetic dataset (sharded HDF5, JPEG frames, exact labels) into --out.

    An interrupted run is resumed by running the same command again; finished shards are kept.
    """
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        fail("--out is required: the directory to write the dataset into")
    from ..data.motion_file import load_motion
    from ..data.shards import DatasetSpec, write_dataset
    from ..io.mot import MotionFileError
    from ..skeleton.builtin import builtin_skeleton

    try:
        spec = DatasetSpec(subjects, seconds, sequence_seconds, fps, size, seed, str(backgrounds) if backgrounds else None)
        motions = [load_motion(p, builtin_skeleton(), fps) for p in (motion or [])]
    except (ValueError, MotionFileError, FileNotFoundError) as exc:
        fail(str(exc))
    total = subjects * spec.sequences_per_subject * int(round(sequence_seconds * fps))
    try:
        with progress("rendering frames", total) as step:
            manifest = write_dataset(out, spec, motions or None, [str(p) for p in motion or []], on_frames=step)
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    counts = manifest["counts"]
    console.print(f"wrote {out}: " + ", ".join(f"{k} {v['subjects']} subjects / {v['frames']} frames" for k, v in counts.items()))


@app.command("preview")
def preview(
    out: Annotated[Path, typer.Option("--out", help="Directory for preview.png and preview.mp4.")] = Path("synth_preview"),
    seed: Annotated[int, typer.Option("--seed", help="Seed of subjects, motions and scenes.")] = 0,
    size: Annotated[int, typer.Option("--size", min=32, max=1024, help="Render size in pixels.")] = 256,
    backgrounds: Annotated[Optional[Path], typer.Option("--backgrounds", help="Folder of background photos.")] = None,
) -> None:
    """Contact sheet (every motion family from front, side and back) and an MP4, labels drawn over the renders."""
    from ..data.preview import write_preview

    try:
        paths = write_preview(out, seed=seed, size=size, backgrounds=str(backgrounds) if backgrounds else None)
    except FileNotFoundError as exc:
        fail(str(exc))
    console.print(json.dumps({k: str(v) for k, v in paths.items()}))
