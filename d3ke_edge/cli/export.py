"""``d3ke-edge export CHECKPOINT --target tflite|coreml|torchscript|onnx|all --precision ...``"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console, err_console, fail


def say(message: str) -> None:
    """One dim progress line on stderr (the export's stages)."""
    err_console.print(f"[dim]{message}[/]", highlight=False)


def print_parity(rows: list[dict]) -> None:
    from rich.table import Table

    table = Table(title="parity against the PyTorch fp32 model, through each runtime")
    for col in ("target", "precision", "artefact", "MB", "max |diff|", "angle MAE Δ (deg)", "marker Δ (mm)",
                "stream |diff|", "runtime", "pass"):
        table.add_column(col)
    for r in rows:
        stream = "—" if r["streaming_max_abs_diff"] is None else f"{r['streaming_max_abs_diff']:.1e}"
        table.add_row(r["target"], r["precision"], r["artefact"], f"{r['size_mb']:.2f}", f"{r['max_abs_diff']:.1e}",
                      f"{r['angle_mae_delta_deg']:.3f}", f"{r['marker_delta_mm']:.2f}", stream, r["runtime"],
                      "[green]yes[/]" if r["pass"] else "[red]NO[/]")
    console.print(table)


def export(
    checkpoint: Annotated[Path, typer.Argument(help="A per-frame checkpoint (checkpoint_best.pt); temporal_*.pt "
                                                     "heads beside it become streaming step models.")],
    target: Annotated[str, typer.Option(help="tflite, coreml, torchscript, onnx or all.")] = "all",
    precision: Annotated[list[str], typer.Option(help="fp32, fp16 (Core ML) or int8; repeat for several.")] = None,
    calib_frames: Annotated[int, typer.Option(help="Calibration frames for int8 (rendered, seeded).")] = 64,
    size: Annotated[int, typer.Option(help="Input size in pixels (default: the checkpoint's).")] = 0,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("export"),
    max_angle_delta: Annotated[float, typer.Option(help="Quantised artefacts fail above this mean angle "
                                                        "difference from the PyTorch model (deg).")] = 1.0,
) -> None:
    """Export a checkpoint, run every artefact in its real runtime, and write parity.json next to them."""
    from ..export.api import ExportConfig, ExportError
    from ..export.api import export as run_export
    from ..export.api import resolve_targets
    from ..train.checkpoint import CheckpointError

    try:
        targets = resolve_targets(target)
        cfg = ExportConfig(targets=targets, precisions=tuple(precision or ["fp32"]), out=str(out),
                           size=size or None, calib_frames=calib_frames, max_angle_delta=max_angle_delta)
    except ValueError as exc:
        fail(str(exc))
    try:
        rows = run_export(checkpoint, cfg, progress=say)
    except (CheckpointError, FileNotFoundError) as exc:
        fail(str(exc))
    except ExportError as exc:
        fail(str(exc), code=1)
    print_parity(rows)
    console.print(f"artefacts and parity.json / parity.md: {out}")
