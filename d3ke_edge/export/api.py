"""``export()``: checkpoint -> artefacts for each target and precision, each checked through its runtime.

Everything is written into a staging folder inside OUT first. Strict (``d3ke-edge export``): only when every artefact
converted and passed its parity check are they moved into place (with ``parity.json`` / ``parity.md``); a failure
removes the staging folder and raises ``ExportError`` naming the stage, so a failed export leaves no artefact behind.
Not strict (the quickstart): the artefacts that pass are published, the failed ones are reported in the rows (with
the reason) and left out.

Every artefact is checked under each kernel family its runtime offers (``runtime.KERNELS``), and its row holds the
worst of them. fp32 artefacts pass when every output is within its bound (``tolerance.py``); int8 and fp16 ones
when the mean angle difference from the PyTorch model is at most ``max_angle_delta``. int8 follows one plan
(``quantize.plan_int8``): calibration frames and the backbone blocks a sensitivity pass keeps in float.

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
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..artefacts import EXTENSIONS, PARITY_FILE, PRECISIONS, TARGETS, sidecar, size_mb
from ..data.datasets import image_to_float
from ..data.synth import SynthEngine
from ..models.graphs import PER_FRAME_OUTPUTS, PerFrameGraph, StepGraph, step_input_names, step_output_names
from ..quantize import QuantConfig, QuantPlan, plan_int8
from ..runtime import KERNELS, load_runtime
from ..train.checkpoint import Bundle, head_frame_rate, load_bundle
from ..train.config import DataConfig
from ..train.data import landmark_synth, sequence_seed, synth_config, validation_set
from ..train.temporal import TARGETS as keys
from ..utils.atomic import atomic_write_text
from .metadata import per_frame_metadata, step_metadata
from .parity import ParityData, per_frame_parity, step_parity
from .targets import target_module

__all__ = ["ExportConfig", "ExportError", "calibration_frames", "check_artefact", "export", "parity_data",
           "parity_markdown", "resolve_targets", "verify"]


class ExportError(RuntimeError):
    """An export that failed; the message names the target, artefact and stage."""


@dataclass(frozen=True)
class ExportConfig:
    targets: tuple[str, ...] = TARGETS
    precisions: tuple[str, ...] = ("fp32",)
    out: str = "export"
    size: int | None = None  # input size (default: the checkpoint's)
    quant: QuantConfig = field(default_factory=QuantConfig)  # int8: calibration and the float blocks
    parity_frames: int = 48  # held-out frames for the per-frame parity check
    stream_sequences: int = 2  # held-out sequences for the streaming check
    max_angle_delta: float = 1.0  # deg: quantised artefacts fail above this mean angle difference from PyTorch
    steps: bool = True  # also write the step models of the causal heads beside the checkpoint
    strict: bool = True  # any failure aborts and writes nothing; False publishes what passed (the quickstart)
    seed: int = 0

    def __post_init__(self) -> None:
        for t in self.targets:
            target_module(t)  # raises for an unknown target, naming the known ones
            for p in self.precisions:
                if p not in PRECISIONS[t]:
                    raise ValueError(f"precision '{p}' is not available for {t} (it has {', '.join(PRECISIONS[t])})")
        if self.parity_frames < 1 or self.stream_sequences < 1:
            raise ValueError("parity_frames and stream_sequences must be positive")
        if not self.max_angle_delta > 0:
            raise ValueError(f"max_angle_delta must be positive (got {self.max_angle_delta})")


def resolve_targets(target: str) -> tuple[str, ...]:
    if target == "all":
        return TARGETS
    target_module(target)  # raises with the list of targets
    return (target,)


def _data_config(bundle: Bundle):
    """The checkpoint's training data settings, made synthetically in 1 s sequences (rendered for image models,
    projected for landmark models) from the motion families only: an export checks parity and calibrates int8 on
    any machine, with or without the motion bank the model was trained on."""
    known = {f.name for f in dataclasses.fields(DataConfig)}
    raw = {k: tuple(v) if isinstance(v, list) else v for k, v in bundle.ckpt["config"]["data"].items() if k in known}
    return dataclasses.replace(DataConfig(**{**raw, "source": bundle.model.input_spec.data_source, "root": None, "motion_bank": None,
                                             "motion_bank_weight": 0.0}), val_sequences=8, sequence_seconds=1.0)


def calibration_frames(bundle: Bundle, cfg: ExportConfig, size: int) -> list[tuple]:
    """``cfg.quant.calib_frames`` rendered frames of the training distribution (seeded), as example-input tuples."""
    data_cfg = _data_config(bundle)
    n_calib = cfg.quant.calib_frames
    calib_cfg = dataclasses.replace(data_cfg, val_sequences=max(8, math.ceil(n_calib / data_cfg.fps)))
    calib = validation_set(calib_cfg, size, cfg.seed, "calib", "cpu", bundle.model.space.skeleton,
                           max_frames=n_calib)[bundle.model.input_spec.name]
    return [(x[None],) for x in calib]


def parity_data(bundle: Bundle, cfg: ExportConfig, size: int) -> ParityData:
    """Held-out parity frames and streaming sequences, rendered (seeded)."""
    data_cfg = _data_config(bundle)
    spec, skel = bundle.model.input_spec, bundle.model.space.skeleton
    key = spec.name
    test = validation_set(data_cfg, size, cfg.seed, "test", "cpu", skel)
    pick = torch.linspace(0, len(test[key]) - 1, min(cfg.parity_frames, len(test[key]))).long()
    ids = [f"test sequence {int(test['sequence'][i])} frame {int(test['frame'][i])}" for i in pick]
    if not spec.is_image:
        synth = landmark_synth(data_cfg, cfg.seed, 3, cfg.stream_sequences, skeleton=skel, first=50_000, features=size)
        both = synth.sequences(list(range(cfg.stream_sequences)),
                               torch.Generator().manual_seed(sequence_seed(cfg.seed, 3, 900_005)))
        inputs = list(both[key])
        seqs = [{k: both[k][i] for k in keys} for i in range(cfg.stream_sequences)]
    else:
        engine = SynthEngine(synth_config(data_cfg, size, "cpu"))
        seqs = [engine.sequence(sequence_seed(cfg.seed, 3, 50_000 + i), sequence_id=i, as_numpy=False)
                for i in range(cfg.stream_sequences)]
        inputs = [image_to_float(s["image"]) for s in seqs]
    with torch.no_grad():
        params = []
        for x in inputs:
            rot6d, p, _ = bundle.model.encode(x)
            params.append(bundle.model.space.join(rot6d, p))
    return ParityData(test[key][pick], {k: test[k][pick] for k in keys}, torch.stack(params),
                      {k: torch.stack([s[k] for s in seqs]) for k in keys}, ids)


def _convert(target: str, graph, example, names_in, names_out, path: Path, precision: str, quant, meta: dict,
             what: str) -> Path:
    try:
        return target_module(target).convert(graph, example, names_in, names_out, path, precision, quant, meta)
    except Exception as exc:
        raise ExportError(f"{target} {what} ({precision}): conversion failed: {type(exc).__name__}: {exc}") from exc


def check_artefact(path: Path, fn: Callable, what: str = "") -> dict:
    """Run ``fn(runner)`` under every kernel family of the artefact's runtime; the worst of them, and each."""
    results = {}
    for kernels in KERNELS[path.suffix]:
        try:
            runner = load_runtime(path, kernels=kernels)
            results[kernels] = {**fn(runner), "runtime": runner.runtime}
        except Exception as exc:
            raise ExportError(f"{what}: running '{path.name}' with {kernels} kernels failed: "
                              f"{type(exc).__name__}: {exc}") from exc
    worst = max(results.values(), key=lambda r: (r["max_ratio"], r["angle_mae_delta_deg"]))
    worst_angle = max(results.values(), key=lambda r: r["angle_mae_delta_deg"])
    return {**worst, "angle_mae_delta_deg": worst_angle["angle_mae_delta_deg"],
            "marker_delta_mm": max(r["marker_delta_mm"] for r in results.values()),
            "runtime": results[KERNELS[path.suffix][0]]["runtime"],
            "kernels": {k: _kernel_summary(r) for k, r in results.items()}}


def _kernel_summary(r: dict) -> dict:
    return {"runtime": r["runtime"], "max_ratio": r["max_ratio"], "angle_mae_delta_deg": r["angle_mae_delta_deg"],
            "marker_delta_mm": r["marker_delta_mm"]}


@dataclass
class _Job:
    target: str
    kind: str  # per_frame | step
    precision: str
    path: Path
    graph: torch.nn.Module
    example: tuple
    names: tuple[list[str], list[str]]
    meta: dict
    check: Callable
    head: str | None = None


def _jobs(bundle: Bundle, cfg: ExportConfig, stage: Path, data: ParityData, size: int) -> list[_Job]:
    """Every artefact to write, in order: per target, its per-frame precisions, then its step models."""
    space = bundle.model.space
    graph = PerFrameGraph(bundle.model).eval()
    model = bundle.model
    example = (model.input_spec.at_size(size).example(1, cfg.seed),)
    with torch.no_grad():
        example_out = graph(*example)
    jobs = []
    for target in cfg.targets:
        for precision in cfg.precisions:
            meta = per_frame_metadata(bundle.model, size, precision, target, example[0], example_out)
            path = stage / target / f"per_frame_{precision}{EXTENSIONS[target]}"
            names = ([model.input_spec.name], list(PER_FRAME_OUTPUTS))
            jobs.append(_Job(target, "per_frame", precision, path, graph, example, names, meta,
                             lambda r: per_frame_parity(graph, r, data, space)))
        for name, head in (bundle.heads if cfg.steps else {}).items():
            step = StepGraph(head, space).eval()
            state = head.init_state(1)
            s_example = (data.seq_params[0, :1].clone(), *state)
            with torch.no_grad():
                s_out = step(*s_example)
            n = len(state)
            meta = step_metadata(name, head, space, "fp32", target, s_example, s_out, head_frame_rate(bundle))
            jobs.append(_Job(target, "step", "fp32", stage / target / f"step_{name}{EXTENSIONS[target]}", step,
                             s_example, (step_input_names(n), step_output_names(n)), meta,
                             lambda r, head=head: step_parity(head, r, data, space), name))
    return jobs


def _run_job(job: _Job, quant: QuantPlan | None, cfg: ExportConfig, stage: Path, say) -> dict:
    what = f"{job.target} {'per-frame' if job.kind == 'per_frame' else 'step ' + job.head} {job.precision}"
    job.path.parent.mkdir(exist_ok=True)
    plan = quant if job.precision == "int8" else None
    if plan is not None:
        job.meta["quantisation"] = plan.metadata()
    say(f"{what}: converting")
    _convert(job.target, job.graph, job.example, *job.names, job.path, job.precision, plan, job.meta,
             "per-frame model" if job.kind == "per_frame" else f"step model {job.head}")
    say(f"{what}: checking parity under each kernel family")
    result = check_artefact(job.path, job.check, f"{job.target} {job.kind} model")
    return _row(job, result, stage, cfg)


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
    ok = False
    try:
        say(f"making {cfg.quant.calib_frames} calibration and {cfg.parity_frames} parity frames"
            + f" ({bundle.model.input_spec.at_size(size).describe()})")
        data = parity_data(bundle, cfg, size)
        quant = None
        if "int8" in cfg.precisions:
            quant = plan_int8(bundle.model, calibration_frames(bundle, cfg, size), cfg.quant, say)
        metas: dict[Path, dict] = {}
        for job in _jobs(bundle, cfg, stage, data, size):
            try:
                rows.append(_run_job(job, quant, cfg, stage, say))
            except ExportError as exc:
                if cfg.strict:
                    raise
                rows.append(_failed_row(job, stage, str(exc)))
            metas[job.path] = job.meta
        failed = [r for r in rows if not r["pass"]]
        if failed and cfg.strict:
            names = ", ".join(f"{r['target']} {r['artefact']} ({r['reason']})" for r in failed)
            raise ExportError(f"parity failed for {names}; nothing was written.\n{parity_markdown(rows)}")
        for r in rows:  # the sidecar metadata, with its artefact's parity; failed artefacts are not published
            path = stage / r["artefact"]
            if r["pass"]:
                meta = {**metas[path], "parity": {k: v for k, v in r.items() if k != "artefact"}}
                atomic_write_text(sidecar(path), json.dumps(meta, indent=2) + "\n")
            elif path.exists():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        _publish(stage, out, cfg.targets)
        atomic_write_text(out / PARITY_FILE, json.dumps(rows, indent=2) + "\n")
        atomic_write_text(out / "parity.md", parity_markdown(rows))
        ok = True
        return rows
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if not ok and created:
            shutil.rmtree(out, ignore_errors=True)  # a failed export into a new folder leaves nothing


def _verdict(precision: str, result: dict, max_angle_delta: float) -> tuple[bool, str]:
    values = [v for k, v in result.items() if isinstance(v, float)]
    if not all(math.isfinite(v) for v in values):
        return False, "non-finite outputs"
    if precision == "fp32":
        bad = {k: o for k, o in result["outputs"].items() if not o["pass"]}
        if bad:
            name, o = max(bad.items(), key=lambda kv: kv[1]["ratio"])
            return False, (f"{name} off by {o['max_diff']:.3g} {o['unit']} at {o['worst_frame']} "
                           f"({o['ratio']:.1f}x its bound {o['bound']})")
        return True, "every output within its fp32 bound"
    if result["angle_mae_delta_deg"] > max_angle_delta:
        return False, f"mean angle drift {result['angle_mae_delta_deg']:.2f} deg > {max_angle_delta} deg"
    return True, f"mean angle drift <= {max_angle_delta} deg"


def _row(job: _Job, result: dict, stage: Path, cfg: ExportConfig) -> dict:
    ok, reason = _verdict(job.precision, result, cfg.max_angle_delta)
    stream = result["max_abs_diff"] if job.kind == "step" else None
    row = {"target": job.target, "precision": job.precision, "kind": job.kind, "head": job.head,
           "artefact": str(job.path.relative_to(stage)), "size_mb": round(size_mb(job.path), 3),
           **{k: result[k] for k in ("max_abs_diff", "max_ratio", "angle_mae_delta_deg", "angle_mae_change_deg",
                                     "angle_mae_deg", "angle_mae_torch_deg", "marker_delta_mm", "scale_delta",
                                     "runtime", "kernels", "outputs")},
           "streaming_max_abs_diff": stream, "pass": ok, "reason": reason}
    if job.precision == "int8":
        row["float_blocks"] = job.meta["quantisation"]["float_blocks"]
    return row


def verify(export_dir: str | Path, checkpoint: str | Path, cfg: ExportConfig = ExportConfig(),
           progress: Callable[[str], object] | None = None) -> list[dict]:
    """Run the parity checks of an existing export again, on this machine, against its checkpoint: every artefact
    of ``EXPORT_DIR/parity.json`` under every kernel family, with the bounds the export used. Writes nothing."""
    say = progress or (lambda msg: None)
    out = Path(export_dir)
    listing = out / PARITY_FILE
    if not listing.is_file():
        raise FileNotFoundError(f"'{listing}' does not exist: give the folder an export wrote (d3ke-edge export)")
    bundle = load_bundle(checkpoint)
    size = cfg.size or bundle.model.input_size
    data = parity_data(bundle, cfg, size)
    graph = PerFrameGraph(bundle.model).eval()
    rows = []
    for old in json.loads(listing.read_text()):
        path = out / old["artefact"]
        if not old["pass"] or not path.exists():
            continue  # left out by the export (a failed artefact is never published)
        if old["kind"] == "step" and old["head"] not in bundle.heads:
            raise ExportError(f"{path}: its head '{old['head']}' has no temporal_{old['head']}.pt beside {checkpoint}")
        fn = ((lambda r: per_frame_parity(graph, r, data, bundle.model.space)) if old["kind"] == "per_frame" else
              (lambda r, h=bundle.heads.get(old["head"]): step_parity(h, r, data, bundle.model.space)))
        say(f"{old['artefact']}: checking parity under each kernel family")
        result = check_artefact(path, fn, old["artefact"])
        ok, reason = _verdict(old["precision"], result, cfg.max_angle_delta)
        rows.append({**{k: old[k] for k in ("target", "precision", "kind", "head", "artefact", "size_mb")},
                     **{k: result[k] for k in ("max_abs_diff", "max_ratio", "angle_mae_delta_deg", "marker_delta_mm",
                                               "runtime", "kernels", "outputs")},
                     "float_blocks": old.get("float_blocks"), "pass": ok, "reason": reason})
    return rows


def _failed_row(job: _Job, stage: Path, reason: str) -> dict:
    nan = float("nan")
    return {"target": job.target, "precision": job.precision, "kind": job.kind, "head": job.head,
            "artefact": str(job.path.relative_to(stage)), "size_mb": 0.0, "max_abs_diff": nan, "max_ratio": nan,
            "angle_mae_delta_deg": nan, "angle_mae_change_deg": nan, "angle_mae_deg": nan,
            "angle_mae_torch_deg": nan, "marker_delta_mm": nan, "scale_delta": nan, "runtime": "", "kernels": {},
            "outputs": {}, "streaming_max_abs_diff": None, "pass": False, "reason": reason}


def _publish(stage: Path, out: Path, targets) -> None:
    """Move every staged file into OUT (replacing an older export of the same name)."""
    for target in targets:
        if not (stage / target).is_dir():
            continue
        dest = out / target
        dest.mkdir(exist_ok=True)
        for item in sorted((stage / target).iterdir()):
            final = dest / item.name
            if final.is_dir():
                shutil.rmtree(final)
            os.replace(item, final)


def parity_markdown(rows: list[dict]) -> str:
    head = ("| target | precision | artefact | MB | max diff / bound | angle MAE delta (deg) | marker delta (mm) | "
            "angle MAE change vs labels (deg) | kernels checked | pass | reason |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = [f"| {r['target']} | {r['precision']} | {r['artefact']} | {r['size_mb']:.2f} | {r['max_ratio']:.2g} | "
             f"{r['angle_mae_delta_deg']:.3f} | {r['marker_delta_mm']:.2f} | {r['angle_mae_change_deg']:+.3f} | "
             f"{', '.join(r['kernels']) or '—'} | {'yes' if r['pass'] else 'NO'} | {r['reason']} |" for r in rows]
    return head + "\n".join(lines) + "\n"
