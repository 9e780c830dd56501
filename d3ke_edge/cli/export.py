"""``d3ke-edge export CHECKPOINT --target tflite|coreml|torchscript|onnx|all --precision ...``"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console, err_console, fail, third_party_log


def say(message: str) -> None:
    """One dim progress line on stderr (the export's stages)."""
    err_console.print(f"[dim]{message}[/]", highlight=False)


def print_parity(rows: list[dict]) -> None:
    """The parity table: one row per artefact, the worst over its runtime's kernel families (all in parity.json)."""
    from rich.table import Table

    table = Table(title="parity with PyTorch fp32: each artefact in its runtime, under every kernel family",
                  title_justify="left")
    table.add_column("artefact", no_wrap=True)
    for col in ("MB", "diff/bound", "angle Δ°", "marker Δ mm"):
        table.add_column(col, justify="right")
    table.add_column("pass")
    for r in rows:
        ratio = f"{r['max_ratio']:.2g}" if r["precision"] == "fp32" and r["pass"] else "—"
        table.add_row(r["artefact"], f"{r['size_mb']:.2f}", ratio, f"{r['angle_mae_delta_deg']:.3f}",
                      f"{r['marker_delta_mm']:.2f}", "[green]yes[/]" if r["pass"] else "[red]NO[/]")
    console.print(table)
    blocks = next((r["float_blocks"] for r in rows if r.get("float_blocks") is not None), None)
    if blocks is not None:
        console.print(f"int8: backbone blocks kept in float by the sensitivity pass: {', '.join(blocks) or 'none'}")
    for r in rows:
        if not r["pass"]:
            console.print(f"[red]NO {r['artefact']}: {r['reason']}[/]")


def export(
    checkpoint: Annotated[Path, typer.Argument(help="A per-frame checkpoint (checkpoint_best.pt); temporal_*.pt "
                                                     "heads beside it become streaming step models.")],
    target: Annotated[str, typer.Option(help="tflite, coreml, torchscript, onnx or all.")] = "all",
    precision: Annotated[list[str], typer.Option(help="fp32, fp16 (Core ML) or int8; repeat for several.")] = None,
    calib_frames: Annotated[int, typer.Option(help="Calibration frames for int8 (rendered, seeded).")] = 128,
    float_blocks: Annotated[str, typer.Option(help="int8: backbone blocks to keep in float, comma-separated module "
                                                   "paths ('11,12'); 'auto' lets the sensitivity pass decide, "
                                                   "'none' quantises every block.")] = "auto",
    int8_budget: Annotated[float, typer.Option(help="int8: the sensitivity pass keeps blocks in float until the "
                                                    "simulated mean angle drift is at most this (deg).")] = 0.5,
    size: Annotated[int, typer.Option(help="Input size in pixels (default: the checkpoint's).")] = 0,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("export"),
    max_angle_delta: Annotated[float, typer.Option(help="Quantised artefacts fail above this mean angle "
                                                        "difference from the PyTorch model (deg).")] = 1.0,
) -> None:
    """Export a checkpoint, run every artefact in its real runtime, and write parity.json next to them."""
    from ..export.api import ExportConfig, ExportError, resolve_targets
    from ..export.api import export as run_export
    from ..quantize import QuantConfig
    from ..train.checkpoint import CheckpointError

    blocks = {"auto": None, "none": ()}.get(float_blocks, tuple(b.strip() for b in float_blocks.split(",")))
    try:
        targets = resolve_targets(target)
        quant = QuantConfig(calib_frames=calib_frames, budget_deg=int8_budget, float_blocks=blocks)
        cfg = ExportConfig(targets=targets, precisions=tuple(precision or ["fp32"]), out=str(out),
                           size=size or None, quant=quant, max_angle_delta=max_angle_delta)
    except ValueError as exc:
        fail(str(exc))
    log = out.parent / f"{out.name}_export.log"
    try:
        with third_party_log(log):
            rows = run_export(checkpoint, cfg, progress=say)
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    except ExportError as exc:
        fail(f"{exc}\n(converter and runtime messages: {log})", code=1)
    print_parity(rows)
    console.print(f"artefacts and parity.json / parity.md: {out}; converter and runtime messages: {log}")


def verify(
    export_dir: Annotated[Path, typer.Argument(help="A folder written by d3ke-edge export (with parity.json).")],
    checkpoint: Annotated[Path, typer.Option(help="The checkpoint it was exported from (its temporal_*.pt beside).")],
    max_angle_delta: Annotated[float, typer.Option(help="Bound for quantised artefacts (deg).")] = 1.0,
) -> None:
    """Check an existing export again on this machine: every artefact under every kernel family of its runtime."""
    from ..export.api import ExportConfig, ExportError
    from ..export.api import verify as run_verify
    from ..train.checkpoint import CheckpointError

    log = export_dir.parent / f"{export_dir.name}_verify.log"
    try:
        with third_party_log(log):
            rows = run_verify(export_dir, checkpoint, ExportConfig(max_angle_delta=max_angle_delta), progress=say)
    except (CheckpointError, FileNotFoundError, ValueError, ExportError) as exc:
        fail(str(exc))
    print_parity(rows)
    bad = [r["artefact"] for r in rows if not r["pass"]]
    if bad:
        fail(f"{len(bad)} of {len(rows)} artefacts fail on this machine: {', '.join(bad)}", code=1)
    console.print(f"all {len(rows)} artefacts pass on this machine (messages: {log})")
