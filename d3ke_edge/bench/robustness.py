"""Accuracy under test-time conditions: models x conditions x severities on whole test sequences.

A model is a checkpoint (PyTorch) or an exported per-frame artefact (run by its runtime, frame by frame, as the phone
runs it). Test data are synthetic test sequences (held-out seeds, rendered at each model's input size). Each
(model, data, condition, severity) cell is computed once and cached as JSON under ``OUT/cache`` (keyed by the model
file's hash and the data's recipe), so a rerun recomputes nothing that is there. ``hflip`` is scored against the
mirrored truth, and once against the unmirrored one (``hflip_unmirrored``) to show the size of that mistake.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.bmlmovi import BMLMoviDataset
from ..data.conditions import CONDITIONS, STUDY_CONDITIONS, apply_condition, warp_2d
from ..data.datasets import SynthShardDataset, sequence_to_batch
from ..data.landmark_input import landmark_features
from ..data.motion_file import load_motion
from ..data.synth import SynthConfig, SynthEngine
from ..infer.model import InferModelError, open_model
from ..models.graphs import DECODED_OUTPUTS
from ..models.kinematic_space import KinematicSpace
from ..skeleton.builtin import builtin_skeleton
from ..skeleton.mirror import derive_mirror
from ..train.checkpoint import load_checkpoint
from ..train.data import sequence_seed
from ..utils.atomic import atomic_write_text
from ..video.landmarks import ROI, LandmarkModel
from ..video.models import fetch_models
from .metrics import sequence_errors

__all__ = ["Predictor", "RobustnessConfig", "load_predictor", "run_robustness", "robustness_markdown",
           "training_distribution"]

METRICS_VERSION = 2  # part of the cache key: cells computed with other metrics are recomputed
LABELS = ("coordinates", "scales", "pelvis_rot_cam", "joints_rel", "markers_rel")


@dataclass(frozen=True)
class RobustnessConfig:
    conditions: tuple[str, ...] = STUDY_CONDITIONS
    severities: tuple[int, ...] = (1, 3, 5)
    sequences: int = 4  # synthetic test sequences (held-out seeds); 0 with other data only
    seconds: float = 1.0
    motions: tuple[str, ...] = ()  # .mot/.sto files, each rendered by the engine as one more test sequence
    shards: tuple[str, ...] = ()  # written datasets (d3ke-edge synth --out): every sequence of their test split
    bmlmovi: tuple[str, ...] = ()  # folders in D3KE's BML-MoVi layout: each subject file's valid frames, in order
    families: tuple[str, ...] | None = None  # motion families (None: all); a checkpoint's own with ``like()``
    yaw_range_deg: tuple[float, float] | None = None  # camera yaw around the subject (None: all around)
    seed: int = 0

    def __post_init__(self) -> None:
        known = ("hflip", *CONDITIONS)
        unknown = [c for c in self.conditions if c not in known]
        if unknown:
            raise ValueError(f"unknown condition(s) {unknown}; choose from {', '.join(known)}")
        if not self.severities or any(not 1 <= s <= 5 for s in self.severities):
            raise ValueError(f"severities must be within 1-5 (0 is the clean run, always done); got {self.severities}")
        if self.sequences < 0 or self.seconds <= 0:
            raise ValueError("sequences must be >= 0 and seconds positive")
        if self.sequences == 0 and not self.motions and not self.shards and not self.bmlmovi:
            raise ValueError("no test data: give synthetic sequences (synth:N), a motion file, a shard folder or a "
                             "BML-MoVi folder")
        for path in (*self.motions, *self.shards, *self.bmlmovi):
            if not Path(path).exists():
                raise FileNotFoundError(f"test data '{path}' does not exist")


def training_distribution(checkpoint: str | Path) -> dict:
    """The motion families and camera yaw range a checkpoint was trained on (its test data should match them)."""
    data = load_checkpoint(checkpoint)["config"]["data"]
    yaw = data.get("yaw_range_deg")
    return {"families": tuple(data["families"]) if data.get("families") else None,
            "yaw_range_deg": tuple(yaw) if yaw else None}


class Predictor:
    """``predict(sample)`` -> the decoded outputs (``LABELS``) for a sequence batch; ``name``, ``key``, ``size``;
    ``checkpoint``: the checkpoint it runs, if it is one (its training distribution is the default test data)."""

    def __init__(self, name: str, key: str, size: int, space, fn: Callable[[dict], dict],
                 checkpoint: Path | None = None, arch: str = ""):
        self.name, self.key, self.size, self.space, self._fn = name, key, size, space, fn
        self.checkpoint, self.arch = checkpoint, arch
        self.path: str = ""  # the file it runs (set by ``load_predictor``): joins accuracy to latency rows

    def predict(self, sample: dict) -> dict[str, torch.Tensor]:
        return self._fn(sample)


def _file_hash(path: Path) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def _split_spec(spec: str | Path) -> tuple[Path, str | None]:
    """``PATH`` or ``PATH:HEAD`` (a causal head: ``temporal_HEAD.pt`` beside a checkpoint, ``step_HEAD.<ext>`` beside
    an artefact)."""
    text = str(spec)
    path, _, head = text.rpartition(":") if ":" in text and not Path(text).exists() else (text, "", "")
    return Path(path), (head or None)


LANDMARK_CROP = 256  # landmark models are scored on crops at BlazePose's own ROI size


class _CropLandmarks:
    """Landmark models on the benchmark's crops: BlazePose's landmark model on each (conditioned) crop taken as its
    ROI, then the landmark features with the crop's intrinsics — the conditions act on the image before BlazePose."""

    def __init__(self, world: bool = False):
        self.model, self.world = None, world
        self._path = fetch_models()["pose_landmark_full.tflite"]

    def __call__(self, sample: dict) -> torch.Tensor:
        if self.model is None:
            self.model = LandmarkModel(self._path, threads=None)
        images, K = sample["image"], sample["K"]
        size = images.shape[-1]
        roi = ROI(np.array([size / 2, size / 2]), float(size), 0.0)
        rows = []
        for img in images:
            frame = (img.permute(1, 2, 0).numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
            lm = self.model.run(frame, roi)
            rows.append((lm.xy, lm.visibility, lm.presence, lm.world))
        xy, vis, pres, world = (np.stack([r[i] for r in rows]) for i in range(4))
        return landmark_features(xy, vis, pres, K, world if self.world else None)


def _predictor(path: Path, key: str, head_name: str | None) -> Predictor:
    """The model (``infer.model.open_model``: the loader ``d3ke-edge infer`` uses) on whole test sequences: a
    checkpoint's sequence forms in PyTorch, or a per-frame artefact frame by frame with its step model streamed from
    the reset state as the phone runs it. A head is a causal head's name, or (beside a checkpoint) D3KE's
    non-causal centre-frame head."""
    try:
        model = open_model(path, head=head_name or "none", threads=None)
    except InferModelError as exc:
        raise ValueError(str(exc)) from None
    if model.metadata["skeleton_hash"] != builtin_skeleton().hash:
        raise ValueError(f"'{path}' was exported for skeleton {model.metadata['skeleton_name']}; only the built-in "
                         "skeleton's synthetic test data exist here")
    if head_name is not None:  # a retrained head is another model: its file is part of the cache key
        key += _file_hash(path.with_name(f"temporal_{head_name}.pt") if model.checkpoint else
                          path.with_name(f"step_{head_name}{path.suffix}"))
    landmarks = None if model.input_spec.is_image else _CropLandmarks(model.input_spec.world)

    def run(sample: dict) -> dict:
        out = model.run((sample["image"] if landmarks is None else landmarks(sample)).numpy())
        return {k: torch.as_tensor(out[k]) for k in DECODED_OUTPUTS}

    runtime = "PyTorch" if model.checkpoint else model.runtime
    label = f"{path.parent.name}/{path.name}" + (f" + {head_name}" if head_name else "") + f" ({runtime})"
    size = LANDMARK_CROP if landmarks is not None else model.input_size
    space = KinematicSpace(builtin_skeleton())
    return Predictor(label, key, size, space, run, checkpoint=model.checkpoint, arch=model.arch)


def load_predictor(spec: str | Path) -> Predictor:
    """``PATH[:HEAD]``: a per-frame checkpoint or a per-frame artefact (.tflite, .onnx, .mlpackage, TorchScript .pt),
    optionally followed by a causal head's name to score its streaming outputs."""
    path, head = _split_spec(spec)
    if not path.exists():
        raise FileNotFoundError(f"model '{path}' does not exist: give a checkpoint or an exported per-frame artefact")
    pred = _predictor(path, _file_hash(path), head)
    pred.path = str(path.resolve()) + (f":{head}" if head else "")
    return pred


def _sequences(cfg: RobustnessConfig, size: int) -> list[dict]:
    """Every test sequence at ``size`` px: synthetic (held-out seeds), rendered motion files, shard test splits."""
    extra = {k: v for k, v in (("families", cfg.families), ("yaw_range_deg", cfg.yaw_range_deg)) if v is not None}
    engine = SynthEngine(SynthConfig(size=size, seconds=cfg.seconds, **extra))
    seeds = [sequence_seed(cfg.seed, 3, 90_000 + i) for i in range(cfg.sequences)]
    seqs = [sequence_to_batch(s) for s in engine.sequences(seeds, as_numpy=False)] if seeds else []
    for i, path in enumerate(cfg.motions):
        q = load_motion(path, engine.skel, engine.cfg.fps)
        seqs.append(sequence_to_batch(engine.sequence(sequence_seed(cfg.seed, 4, i), motion=q, as_numpy=False)))
    for root in cfg.shards:
        seqs += [_to_size(s, size) for s in _shard_sequences(root)]
    for root in cfg.bmlmovi:
        seqs += [_to_size(s, size) for s in _bmlmovi_sequences(root)]
    if not seqs:
        raise ValueError("the test data hold no sequence")
    return seqs


def _grouped(ds) -> list[dict]:
    """A frame dataset's frames grouped into their (subject, sequence), each in frame order, stacked."""
    groups: dict[tuple, list[dict]] = {}
    for idx in range(len(ds)):
        sample = ds[idx]
        groups.setdefault((int(sample["subject"]), int(sample["sequence"])), []).append(sample)
    out = []
    for frames in groups.values():
        frames.sort(key=lambda f: int(f["frame"]))
        out.append({k: torch.stack([f[k] for f in frames]) for k in frames[0]})
    return out


def _shard_sequences(root: str | Path) -> list[dict]:
    """The test split of a written dataset, frames grouped into their sequences (in frame order)."""
    return _grouped(SynthShardDataset(root, "test"))


def _bmlmovi_sequences(root: str | Path) -> list[dict]:
    """D3KE's prepared BML-MoVi layout: each subject file's valid frames as one sequence, in frame order. Labels the
    layout lacks (intrinsics, pelvis rotation, a missing marker) are NaN and left out of the errors."""
    return _grouped(BMLMoviDataset(root, builtin_skeleton()))


def _to_size(seq: dict, size: int) -> dict:
    """A sequence rendered at another size, resized to the model's input (pixel labels and intrinsics follow)."""
    import torchvision.transforms.v2.functional as tvf

    have = seq["image"].shape[-1]
    if have == size:
        return seq
    out = warp_2d(seq, size / have, (0.0, 0.0))
    out["image"] = tvf.resize(seq["image"], [size, size], antialias=True).clamp(0.0, 1.0)
    return out


def _fingerprint(folder: Path) -> str:
    """Names, sizes and modification times of a folder's files (real datasets are too large to hash per run)."""
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.glob("*.h5"))]
    return hashlib.sha256(json.dumps(stats).encode()).hexdigest()[:16]


def _data_recipe(cfg: RobustnessConfig, size: int) -> str:
    """What the test data of one input size are made of: settings and the content of every input file."""
    files = {str(p): _file_hash(Path(p)) for p in cfg.motions}
    files.update({str(p): _file_hash(Path(p) / "manifest.json") for p in cfg.shards})
    files.update({str(p): _fingerprint(Path(p)) for p in cfg.bmlmovi})
    recipe = {"size": size, **asdict(cfg), "conditions": None, "severities": None, "files": files}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def _cell(pred: Predictor, seqs: list[dict], condition: str, severity: int, mirror, mirrored: bool = True) -> dict:
    per_seq = []
    for i, seq in enumerate(seqs):
        seed = int(hashlib.sha256(f"{condition}/{severity}/{i}".encode()).hexdigest()[:8], 16)
        sample = seq if condition == "clean" else apply_condition(seq, condition, severity, mirror, seed)
        truth = sample if mirrored else seq  # the unmirrored comparison keeps the original truth
        per_seq.append(sequence_errors(pred.predict(sample), {k: truth[k] for k in LABELS}, pred.space))
    keys = per_seq[0].keys()
    def mean(values: list[float]) -> float:  # NaN where no sequence labels the value (real data)
        finite = [v for v in values if not math.isnan(v)]
        return float(np.mean(finite)) if finite else math.nan

    return {"mean": {k: mean([s[k] for s in per_seq]) for k in keys}, "per_sequence": per_seq}


def default_baseline(models: list[Predictor]) -> Predictor:
    """The server model when one is among them (a ``d3ke_resnext50``, preferring its non-causal head), else the
    first model."""
    server = [m for m in models if "resnext50" in m.arch]
    return next((m for m in server if "centre243" in m.name), server[0]) if server else models[0]


def paired_bootstrap(a: list[float], b: list[float], resamples: int = 2000, seed: int = 0) -> dict:
    """Mean of a - b over paired sequences with a 95 % percentile interval from resampling the sequences."""
    d = np.asarray(a, float) - np.asarray(b, float)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), (resamples, len(d)))].mean(1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {"delta": float(d.mean()), "ci95": [float(lo), float(hi)], "sequences": int(len(d))}


def corruption_errors(rows: dict, base_rows: dict, metric: str = "angle_mae_deg") -> dict:
    """ImageNet-C style: per condition, the model's summed error over severities relative to the baseline's (CE)
    and the same for the increase over clean (relative CE); their means over conditions (mCE, relative mCE)."""
    conds = sorted({k.split("/")[0] for k in rows} - {"clean", "hflip_unmirrored"})
    ce, rel = {}, {}
    for c in conds:
        keys = [k for k in rows if k.split("/")[0] == c and k in base_rows]
        e = sum(rows[k][metric] for k in keys)
        eb = sum(base_rows[k][metric] for k in keys)
        ce[c] = e / eb if eb > 0 else math.nan
        de = sum(rows[k][metric] - rows["clean/0"][metric] for k in keys)
        db = sum(base_rows[k][metric] - base_rows["clean/0"][metric] for k in keys)
        rel[c] = de / db if db > 0 else math.nan
    finite = [v for v in rel.values() if not math.isnan(v)]  # NaN: the baseline did not get worse at all
    return {"ce": ce, "mce": float(np.mean(list(ce.values()))) if ce else math.nan,
            "relative_ce": rel, "relative_mce": float(np.mean(finite)) if finite else math.nan}


def run_robustness(models: list[Predictor], cfg: RobustnessConfig, out: str | Path,
                   progress: Callable[[str], object] | None = None, baseline: Predictor | None = None) -> dict:
    """Every model x condition x severity (plus clean), cached per cell; each model against the baseline (paired
    bootstrap by sequence, mean corruption error); writes ``robustness.json|md``."""
    say = progress or (lambda msg: None)
    out = Path(out)
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    mirror = derive_mirror(builtin_skeleton())
    cells = [("clean", 0, True)] + [(c, s, True) for c in cfg.conditions for s in (cfg.severities if c != "hflip"
                                                                                 else (1,))]
    if "hflip" in cfg.conditions:
        cells.append(("hflip", 1, False))
    data: dict[int, list[dict]] = {}
    seen: dict[str, int] = {}
    for m in models:  # one row per model even when two share a label
        seen[m.name] = seen.get(m.name, 0) + 1
        if seen[m.name] > 1:
            m.name = f"{m.name} #{seen[m.name]}"
    base = baseline or default_baseline(models)
    results = {"config": asdict(cfg), "baseline": base.name, "models": {}, "per_sequence": {}, "vs_baseline": {},
               "summary": {}, "files": {m.name: m.path for m in models},
               "architectures": {m.name: {"arch": m.arch, "size": m.size, "checkpoint": m.checkpoint is not None}
                                 for m in models}}
    computed = 0
    for model in models:
        rows: dict[str, dict] = {}
        per_seq: dict[str, list[float]] = {}
        results["per_sequence"][model.name] = per_seq
        for condition, severity, mirrored in cells:
            label = condition if mirrored else "hflip_unmirrored"
            path = cache / f"{model.key}_{_data_recipe(cfg, model.size)}_m{METRICS_VERSION}_{label}_{severity}.json"
            if path.is_file():
                cell = json.loads(path.read_text())
            else:
                if model.size not in data:
                    say(f"preparing the test sequences at {model.size} px")
                    data[model.size] = _sequences(cfg, model.size)
                say(f"{model.name}: {label} severity {severity}")
                cell = _cell(model, data[model.size], condition, severity, mirror, mirrored)
                atomic_write_text(path, json.dumps(cell) + "\n")
                computed += 1
            rows[f"{label}/{severity}"] = cell["mean"]
            per_seq.setdefault(f"{label}/{severity}", [s["angle_mae_deg"] for s in cell["per_sequence"]])
        clean = rows["clean/0"]["angle_mae_deg"]
        for r in rows.values():
            r["angle_drop_vs_clean"] = r["angle_mae_deg"] / clean - 1.0 if clean > 0 else math.nan
        results["models"][model.name] = rows
    base_rows, base_seq = results["models"][base.name], results["per_sequence"][base.name]
    for model in models:
        rows, seqs = results["models"][model.name], results["per_sequence"][model.name]
        corrupted = [r["angle_mae_deg"] for k, r in rows.items() if k.split("/")[0] not in ("clean", "hflip_unmirrored")]
        results["summary"][model.name] = {"clean_angle_mae_deg": rows["clean/0"]["angle_mae_deg"],
                                          "corrupted_angle_mae_deg": float(np.mean(corrupted)) if corrupted else math.nan,
                                          **corruption_errors(rows, base_rows)}
        if model is not base:  # paired only when both saw the same sequences (same count; seeds are shared)
            results["vs_baseline"][model.name] = {k: paired_bootstrap(seqs[k], base_seq[k]) for k in seqs
                                                  if k in base_seq and len(seqs[k]) == len(base_seq[k])}
    results["cells_computed"] = computed
    atomic_write_text(out / "robustness.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(out / "robustness.md", robustness_markdown(results))
    return results


def _data_line(cfg: dict) -> str:
    parts = []
    if cfg["sequences"]:
        parts.append(f"{cfg['sequences']} synthetic test sequences x {cfg['seconds']} s (held-out seeds; families "
                     f"{cfg['families'] or 'all'}, camera yaw {cfg['yaw_range_deg'] or 'all around'})")
    parts += [f"motion file {Path(m).name}" for m in cfg["motions"]] + [f"test split of {s}" for s in cfg["shards"]]
    parts += [f"BML-MoVi layout {b}" for b in cfg.get("bmlmovi", ())]
    return "; ".join(parts)


def robustness_markdown(results: dict) -> str:
    """A summary (clean, corrupted, mCE against the baseline), then per model: angle MAE, marker MPJPE / PA-MPJPE,
    the change against clean and the paired difference from the baseline per condition."""
    lines = ["# Robustness to test-time conditions", "",
             f"Test data: {_data_line(results['config'])}. hflip is scored against the mirrored truth, "
             "hflip_unmirrored against the original. Baseline for mCE and the paired differences: "
             f"**{results['baseline']}**. Differences are model minus baseline angle MAE, mean over sequences with "
             "a 95 % bootstrap interval (resampling sequences).", "",
             "| model | clean angle MAE (deg) | mean over conditions | mCE | relative mCE |", "|---|---|---|---|---|"]
    for name, r in results["summary"].items():
        lines.append(f"| {name} | {r['clean_angle_mae_deg']:.2f} | {r['corrupted_angle_mae_deg']:.2f} | "
                     f"{r['mce']:.1%} | {r['relative_mce']:.1%} |")
    lines.append("")
    for name, rows in results["models"].items():
        vs = results["vs_baseline"].get(name, {})
        lines += [f"## {name}", "", "| condition | severity | angle MAE (deg) | vs clean | vs baseline (95 % CI) | "
                  "marker MPJPE (mm) | marker PA-MPJPE (mm) |", "|---|---|---|---|---|---|---|"]
        for key, r in rows.items():
            condition, severity = key.split("/")
            b = vs.get(key)
            delta = f"{b['delta']:+.2f} [{b['ci95'][0]:+.2f}, {b['ci95'][1]:+.2f}]" if b else "—"
            lines.append(f"| {condition} | {severity} | {r['angle_mae_deg']:.2f} | {r['angle_drop_vs_clean']:+.1%} | "
                         f"{delta} | {r['marker_mpjpe_mm']:.1f} | {r['marker_pa_mpjpe_mm']:.1f} |")
        lines.append("")
    return "\n".join(lines)
