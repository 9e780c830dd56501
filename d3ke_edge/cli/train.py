"""``d3ke-edge train CONFIG.yaml``: the per-frame stage, then (if configured) the temporal stage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from .common import console, fail

STAGES = ("all", "per-frame", "temporal", "end-to-end")


def train(
    config: Annotated[Path, typer.Argument(help="Experiment YAML (see train/*.yaml; every key is documented there).")],
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint_last.pt (same batches, same RNG).")] = False,
    out: Annotated[Optional[str], typer.Option("--out", help="Output directory (overrides the config's 'out').")] = None,
    stage: Annotated[str, typer.Option("--stage", help="all | per-frame | temporal (on frozen per-frame outputs) | end-to-end (per-frame + first head jointly).")] = "all",
    per_frame: Annotated[Optional[Path], typer.Option("--per-frame", help="Per-frame checkpoint for --stage temporal (default OUT/checkpoint_best.pt) or to start --stage end-to-end from.")] = None,
) -> None:
    """Train a D3KE model on CPU or GPU (multi-GPU: torchrun --nproc_per_node=N $(which d3ke-edge) train CONFIG)."""
    import os

    from ..train.checkpoint import CheckpointError
    from ..train.config import load_config

    if stage not in STAGES:
        fail(f"--stage must be one of {', '.join(STAGES)}, got '{stage}'")
    try:
        exp = load_config(config, out)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        fail(str(exc))
    rank0 = os.environ.get("RANK", "0") == "0"
    summary: dict = {}
    try:
        if stage in ("all", "per-frame"):
            summary["per_frame"] = run_per_frame(exp, resume, rank0)
        if stage in ("all", "temporal") and exp.temporal is not None and rank0:
            from ..train.temporal import train_temporal

            ckpt = per_frame or Path(exp.out) / "checkpoint_best.pt"
            summary["temporal"] = train_temporal(exp, ckpt)
            print_temporal(summary["temporal"])
        elif stage == "temporal" and exp.temporal is None:
            fail(f"{config} has no 'temporal' section")
        if stage == "end-to-end":
            from ..train.end_to_end import train_end_to_end

            summary["end_to_end"] = train_end_to_end(exp, per_frame)
            console.print(f"end-to-end: {summary['end_to_end']['steps']} steps, last loss "
                          f"{summary['end_to_end']['log'][-1]['loss']:.3f}")
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    if rank0:
        console.print(f"outputs in {exp.out}")


def run_per_frame(exp, resume: bool, rank0: bool) -> dict:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from ..train.loop import train as run

    if not rank0:
        return run(exp, resume)
    with Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("train", total=exp.optim.steps, info="")

        def on_step(step: int, info: dict) -> None:
            bar.update(task, completed=step, info=f"loss {info['loss']:.3f}  {info['frames_per_s']:.0f} frames/s")

        summary = run(exp, resume, on_step)
    best, mean = summary["best"], summary["mean_pose"]
    console.print(f"per-frame: best val angle MAE {best['angle_mae_deg']:.2f} deg at step {best['step']} "
                  f"(mean pose {mean['angle_mae_deg']:.2f} deg), marker MPJPE {best['marker_mpjpe_mm']:.1f} mm "
                  f"(mean pose {mean['marker_mpjpe_mm']:.1f} mm), {summary['frames_per_s']:.0f} frames/s")
    return summary


def print_temporal(report: dict) -> None:
    table = Table(title="temporal heads (test sequences)", title_justify="left")
    for col in ("head", "angle MAE deg", "marker MPJPE mm", "accel err mm/f^2", "step ms", "lookahead"):
        table.add_column(col, justify="right")
    pf = report["per_frame"]
    table.add_row("per-frame", f"{pf['angle_mae_deg']:.2f}", f"{pf['marker_mpjpe_mm']:.1f}",
                  f"{pf['marker_accel_err_mm']:.2f}", "-", "0")
    for name, m in report["heads"].items():
        table.add_row(name, f"{m['angle_mae_deg']:.2f}", f"{m['marker_mpjpe_mm']:.1f}", f"{m['marker_accel_err_mm']:.2f}",
                      f"{m['step_latency_ms']:.3f}", str(m["lookahead_frames"]))
    console.print(table)
