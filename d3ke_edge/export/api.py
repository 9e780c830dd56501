"""``export()``: checkpoint -> artefacts for each target and precision, each checked through its runtime.

Everything is written into a staging folder inside OUT first; only when every artefact converted and passed its
parity check are they moved into place (with ``parity.json`` / ``parity.md``). A failure at any stage removes the
staging folder and raises ``ExportError`` naming the stage, so a failed export leaves no artefact behind.

Layout: ``OUT/<target>/per_frame_<precision>.<ext>`` and ``OUT/<target>/step_<head>.<ext>``, each with a
``.json`` metadata file beside it. Step models are always fp32: int8 recurrent state was measured lossy
(stack.md), and the step is tiny next to the backbone.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..utils.atomic import atomic_write_text
from .bundle import Bundle, load_bundle
from .metadata import per_frame_metadata, step_metadata
from .modules import PER_FRAME_OUTPUTS, PerFrameGraph, StepGraph, step_input_names, step_output_names
from .parity import FP32_TOLERANCE, ParityData, per_frame_parity, step_parity
from .targets import EXTENSIONS, PRECISIONS, TARGETS, target_module

__all__ = ["ExportConfig", "ExportError", "export", "parity_markdown", "resolve_targets"]


class ExportError(RuntimeError):
    """An export that failed; the message names the target, artefact and stage."""


@dataclass(frozen=True)
class ExportConfig:
    targets: tuple[str, ...] = TARGETS
    precisions: tuple[str, ...] = ("fp32",)
    out: str = "export"
    size: int | None = None  # input size (default: the checkpoint's)
    calib_frames: int = 64  # int8 calibration frames (training distribution)
    parity_frames: int = 48  # held-out frames for the per-frame parity check
    stream_sequences: int = 2  # held-out sequences for the streaming check
    max_angle_delta: float = 1.0  # deg: quantised artefacts fail above this mean angle difference from PyTorch
    steps: bool = True  # also write the step models of the causal heads beside the checkpoint
    seed: int = 0

    def __post_init__(self) -> None:
        for t in self.targets:
            target_module(t)  # raises for an unknown target, naming the known ones
            for p in self.precisions:
                if p not in PRECISIONS[t]:
                    raise ValueError(f"precision '{p}' is not available for {t} (it has {', '.join(PRECISIONS[t])})")
        if self.calib_frames < 1 or self.parity_frames < 1 or self.stream_sequences < 1:
            raise ValueError("calib_frames, parity_frames and stream_sequences must be positive")


def resolve_targets(target: str) -> tuple[str, ...]:
    if target == "all":
        return TARGETS
    target_module(target)  # raises with the list of targets
    return (target,)


def _data(bundle: Bundle, cfg: ExportConfig, size: int) -> tuple[list[tuple], ParityData]:
    """Calibration frames (training distribution) and held-out parity frames/sequences, rendered (seeded)."""
    from ..data.datasets import image_to_float
    from ..data.synth import SynthEngine
    from ..train.config import DataConfig
    from ..train.data import sequence_seed, synth_config, validation_set
    from ..train.temporal import TARGETS as keys

    known = {f.name for f in dataclasses.fields(DataConfig)}
    raw = {k: tuple(v) if isinstance(v, list) else v for k, v in bundle.ckpt["config"]["data"].items() if k in known}
    data_cfg = dataclasses.replace(DataConfig(**{**raw, "source": "synth", "root": None}), val_sequences=8,
                                   sequence_seconds=1.0)
    calib = validation_set(data_cfg, size, cfg.seed, "calib", "cpu", max_frames=cfg.calib_frames)["image"]
    test = validation_set(data_cfg, size, cfg.seed, "test", "cpu")
    pick = torch.linspace(0, len(test["image"]) - 1, min(cfg.parity_frames, len(test["image"]))).long()
    engine = SynthEngine(synth_config(data_cfg, size, "cpu"))
    seqs = [engine.sequence(sequence_seed(cfg.seed, 3, 50_000 + i), sequence_id=i, as_numpy=False)
            for i in range(cfg.stream_sequences)]
    with torch.no_grad():
        params = []
        for s in seqs:
            rot6d, p, _ = bundle.model.encode(image_to_float(s["image"]))
            params.append(torch.cat([rot6d, p], -1))
    parity = ParityData(test["image"][pick], {k: test[k][pick] for k in keys}, torch.stack(params),
                        {k: torch.stack([s[k] for s in seqs]) for k in keys})
    return [(x[None],) for x in calib], parity


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def _convert(target: str, graph, example, names_in, names_out, path: Path, precision: str, calib, meta: dict,
             what: str) -> Path:
    try:
        return target_module(target).convert(graph, example, names_in, names_out, path, precision, calib, meta)
    except Exception as exc:
        raise ExportError(f"{target} {what} ({precision}): conversion failed: {type(exc).__name__}: {exc}") from exc


def _check(target: str, path: Path, what: str, fn: Callable) -> tuple[dict, str]:
    from ..runtime import load_runtime

    try:
        runner = load_runtime(path)
        return fn(runner), runner.runtime
    except Exception as exc:
        raise ExportError(f"{target} {what}: running '{path.name}' in its runtime failed: "
                          f"{type(exc).__name__}: {exc}") from exc


def export(checkpoint: str | Path, cfg: ExportConfig = ExportConfig(),
           progress: Callable[[str], object] | None = None) -> list[dict]:
    """Export, check and write; returns the parity rows (also OUT/parity.json and OUT/parity.md)."""
    say = progress or (lambda msg: None)
    bundle = load_bundle(checkpoint)
    size = cfg.size or bundle.model.input_size
    out = Path(cfg.out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    rows: list[dict] = []
    metas: dict[Path, dict] = {}  # artefact -> its metadata, in the order of rows
    ok = False
    try:
        say(f"rendering {cfg.calib_frames} calibration and {cfg.parity_frames} parity frames at {size} px")
        calib, data = _data(bundle, cfg, size)
        space = bundle.model.space
        graph = PerFrameGraph(bundle.model).eval()
        example = (torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(cfg.seed)),)
        with torch.no_grad():
            example_out = graph(*example)
        for target in cfg.targets:
            (stage / target).mkdir()
            for precision in cfg.precisions:
                path = stage / target / f"per_frame_{precision}{EXTENSIONS[target]}"
                meta = per_frame_metadata(bundle.model, size, precision, target, example[0], example_out)
                say(f"{target} per-frame {precision}: converting")
                _convert(target, graph, example, ["image"], PER_FRAME_OUTPUTS, path, precision, calib, meta,
                         "per-frame model")
                say(f"{target} per-frame {precision}: checking parity")
                result, runtime = _check(target, path, "per-frame model",
                                         lambda r: per_frame_parity(graph, r, data, space))
                rows.append(_row(target, precision, path, stage, "per_frame", None, result, runtime, cfg))
                metas[path] = meta
            for name, head in (bundle.heads if cfg.steps else {}).items():
                step = StepGraph(head, space).eval()
                state = head.init_state(1)
                s_example = (data.seq_params[0, :1].clone(), *state)
                with torch.no_grad():
                    s_out = step(*s_example)
                n = len(state)
                path = stage / target / f"step_{name}{EXTENSIONS[target]}"
                meta = step_metadata(name, head, space, "fp32", target, s_example, s_out)
                say(f"{target} step {name}: converting")
                _convert(target, step, s_example, step_input_names(n), step_output_names(n), path, "fp32", None, meta,
                         f"step model {name}")
                say(f"{target} step {name}: checking step-by-step against the sequence form")
                result, runtime = _check(target, path, f"step model {name}",
                                         lambda r, head=head: step_parity(head, r, data, space))
                rows.append(_row(target, "fp32", path, stage, "step", name, result, runtime, cfg))
                metas[path] = meta
        failed = [r for r in rows if not r["pass"]]
        if failed:
            table = parity_markdown(rows)
            names = ", ".join(f"{r['target']} {r['artefact']}" for r in failed)
            raise ExportError(f"parity failed for {names} (fp32: max |diff| <= {FP32_TOLERANCE:g}; quantised: mean "
                              f"angle difference <= {cfg.max_angle_delta} deg); nothing was written.\n{table}")
        for (path, meta), r in zip(metas.items(), rows):  # the sidecar metadata, with its artefact's parity
            meta = {**meta, "parity": {k: v for k, v in r.items() if k != "artefact"}}
            atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
        _publish(stage, out, cfg.targets)
        atomic_write_text(out / "parity.json", json.dumps(rows, indent=2) + "\n")
        atomic_write_text(out / "parity.md", parity_markdown(rows))
        ok = True
        return rows
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if not ok and created:
            shutil.rmtree(out, ignore_errors=True)  # a failed export into a new folder leaves nothing


def _row(target, precision, path: Path, stage: Path, kind: str, head: str | None, result: dict, runtime: str,
         cfg: ExportConfig) -> dict:
    quantised = precision != "fp32"
    stream = result["max_abs_diff"] if kind == "step" else None
    ok = result["max_abs_diff"] <= FP32_TOLERANCE if not quantised else result["angle_mae_delta_deg"] <= cfg.max_angle_delta
    ok = ok and all(math.isfinite(v) for v in result.values())
    return {"target": target, "precision": precision, "kind": kind, "head": head,
            "artefact": str(path.relative_to(stage)), "size_mb": round(_size_mb(path), 3),
            "max_abs_diff": result["max_abs_diff"], "angle_mae_delta_deg": result["angle_mae_delta_deg"],
            "angle_mae_change_deg": result["angle_mae_change_deg"], "angle_mae_deg": result["angle_mae_deg"],
            "angle_mae_torch_deg": result["angle_mae_torch_deg"], "marker_delta_mm": result["marker_delta_mm"],
            "scale_delta": result["scale_delta"], "streaming_max_abs_diff": stream, "runtime": runtime,
            "pass": bool(ok)}


def _publish(stage: Path, out: Path, targets) -> None:
    """Move every staged file into OUT (replacing an older export of the same name)."""
    for target in targets:
        dest = out / target
        dest.mkdir(exist_ok=True)
        for item in sorted((stage / target).iterdir()):
            final = dest / item.name
            if final.is_dir():
                shutil.rmtree(final)
            os.replace(item, final)


def parity_markdown(rows: list[dict]) -> str:
    head = ("| target | precision | artefact | MB | max abs diff | angle MAE delta (deg) | marker delta (mm) | "
            "angle MAE change vs labels (deg) | streaming max diff | runtime | pass |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n")
    fmt = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
    lines = [f"| {r['target']} | {r['precision']} | {r['artefact']} | {r['size_mb']:.2f} | {r['max_abs_diff']:.2e} | "
             f"{r['angle_mae_delta_deg']:.3f} | {r['marker_delta_mm']:.2f} | {r['angle_mae_change_deg']:+.3f} | "
             f"{fmt(r['streaming_max_abs_diff'], '.2e')} | {r['runtime']} | {'yes' if r['pass'] else 'NO'} |"
             for r in rows]
    return head + "\n".join(lines) + "\n"
