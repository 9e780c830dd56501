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

from ..data.conditions import CONDITIONS, STUDY_CONDITIONS, apply_condition
from ..utils.atomic import atomic_write_text
from .metrics import sequence_errors

__all__ = ["Predictor", "RobustnessConfig", "load_predictor", "run_robustness", "robustness_markdown",
           "training_distribution"]

LABELS = ("coordinates", "scales", "pelvis_rot_cam", "joints_rel", "markers_rel")


@dataclass(frozen=True)
class RobustnessConfig:
    conditions: tuple[str, ...] = STUDY_CONDITIONS
    severities: tuple[int, ...] = (1, 3, 5)
    sequences: int = 4  # synthetic test sequences (held-out seeds)
    seconds: float = 1.0
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
        if self.sequences < 1 or self.seconds <= 0:
            raise ValueError("sequences and seconds must be positive")


def training_distribution(checkpoint: str | Path) -> dict:
    """The motion families and camera yaw range a checkpoint was trained on (its test data should match them)."""
    from ..train.checkpoint import load_checkpoint

    data = load_checkpoint(checkpoint)["config"]["data"]
    yaw = data.get("yaw_range_deg")
    return {"families": tuple(data["families"]) if data.get("families") else None,
            "yaw_range_deg": tuple(yaw) if yaw else None}


class Predictor:
    """``predict(sample)`` -> the decoded outputs (``LABELS``) for a sequence batch; ``name``, ``key``, ``size``;
    ``checkpoint``: the checkpoint it runs, if it is one (its training distribution is the default test data)."""

    def __init__(self, name: str, key: str, size: int, space, fn: Callable[[dict], dict],
                 checkpoint: Path | None = None):
        self.name, self.key, self.size, self.space, self._fn = name, key, size, space, fn
        self.checkpoint = checkpoint

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


def _torch_predictor(path: Path, key: str, head_name: str | None) -> Predictor:
    from ..export.bundle import load_bundle
    from ..export.modules import DECODED_OUTPUTS, PerFrameGraph

    bundle = load_bundle(path)
    graph = PerFrameGraph(bundle.model).eval()
    head = None
    if head_name is not None:
        if head_name not in bundle.heads:
            raise ValueError(f"no causal head '{head_name}' beside '{path}' (temporal_{head_name}.pt); it has: "
                             f"{', '.join(bundle.heads) or 'none'}")
        head = bundle.heads[head_name]
    space = bundle.model.space

    @torch.no_grad()
    def run(sample: dict) -> dict:
        out = graph(sample["image"])
        if head is None:
            return dict(zip(DECODED_OUTPUTS, out[1:]))
        refined = head(out[0][None])[0]  # the offline causal form, equal to stepping from the reset state (tested)
        dec = space.decode(refined[..., :6], refined[..., 6:])
        return {k: dec[k] for k in DECODED_OUTPUTS}

    label = f"{path.parent.name}/{path.name}" + (f" + {head_name}" if head_name else "") + " (PyTorch)"
    if head_name is not None:  # a retrained head is another model: its file is part of the cache key
        key += _file_hash(path.with_name(f"temporal_{head_name}.pt"))
    return Predictor(label, key, bundle.model.input_size, space, run, checkpoint=path)


def _artefact_predictor(path: Path, key: str, head_name: str | None) -> Predictor:
    from ..export.modules import DECODED_OUTPUTS
    from ..models.kinematic_space import KinematicSpace
    from ..runtime import load_runtime, run_stream
    from ..skeleton.builtin import builtin_skeleton

    runner = load_runtime(path)
    meta = runner.metadata
    if meta.get("artefact") != "per_frame":
        raise ValueError(f"'{path}' is a {meta.get('artefact')} artefact; give the per-frame one (and the head as "
                         f"PATH:HEAD)")
    if meta["model"]["skeleton_hash"] != builtin_skeleton().hash:
        raise ValueError(f"'{path}' was exported for skeleton {meta['model']['skeleton_name']}; only the built-in "
                         "skeleton's synthetic test data exist here")
    step = None
    if head_name is not None:
        step_path = path.with_name(f"step_{head_name}{path.suffix}")
        if not step_path.exists():
            raise FileNotFoundError(f"no step model '{step_path.name}' beside '{path}'")
        step = load_runtime(step_path)
        key += _file_hash(step_path)

    def run(sample: dict) -> dict:
        rows = [runner.run(x[None].numpy()) for x in sample["image"]]
        if step is not None:  # frame by frame from the reset state, as the phone runs it
            rows = run_stream(step, [r[0] for r in rows])
        return {k: torch.as_tensor(np.concatenate([r[i + 1] for r in rows])) for i, k in enumerate(DECODED_OUTPUTS)}

    label = f"{path.parent.name}/{path.name}" + (f" + {head_name}" if head_name else "") + f" ({runner.runtime})"
    return Predictor(label, key, int(meta["model"]["input_size"]), KinematicSpace(builtin_skeleton()), run)


def load_predictor(spec: str | Path) -> Predictor:
    """``PATH[:HEAD]``: a per-frame checkpoint or a per-frame artefact (.tflite, .onnx, .mlpackage, TorchScript .pt),
    optionally followed by a causal head's name to score its streaming outputs."""
    from ..train.checkpoint import CheckpointError, load_checkpoint

    path, head = _split_spec(spec)
    if not path.exists():
        raise FileNotFoundError(f"model '{path}' does not exist: give a checkpoint or an exported per-frame artefact")
    key = _file_hash(path)
    if path.suffix == ".pt":
        try:
            load_checkpoint(path)
        except CheckpointError:
            return _artefact_predictor(path, key, head)  # not a checkpoint: a TorchScript artefact
        return _torch_predictor(path, key, head)
    return _artefact_predictor(path, key, head)


def _sequences(cfg: RobustnessConfig, size: int) -> list[dict]:
    from ..data.datasets import sequence_to_batch
    from ..data.synth import SynthConfig, SynthEngine
    from ..train.data import sequence_seed

    extra = {k: v for k, v in (("families", cfg.families), ("yaw_range_deg", cfg.yaw_range_deg)) if v is not None}
    engine = SynthEngine(SynthConfig(size=size, seconds=cfg.seconds, **extra))
    seeds = [sequence_seed(cfg.seed, 3, 90_000 + i) for i in range(cfg.sequences)]
    return [sequence_to_batch(s) for s in engine.sequences(seeds, as_numpy=False)]


def _cell(pred: Predictor, seqs: list[dict], condition: str, severity: int, mirror, mirrored: bool = True) -> dict:
    per_seq = []
    for i, seq in enumerate(seqs):
        seed = int(hashlib.sha256(f"{condition}/{severity}/{i}".encode()).hexdigest()[:8], 16)
        sample = seq if condition == "clean" else apply_condition(seq, condition, severity, mirror, seed)
        truth = sample if mirrored else seq  # the unmirrored comparison keeps the original truth
        per_seq.append(sequence_errors(pred.predict(sample), {k: truth[k] for k in LABELS}, pred.space))
    keys = per_seq[0].keys()
    return {"mean": {k: float(np.mean([s[k] for s in per_seq])) for k in keys}, "per_sequence": per_seq}


def run_robustness(models: list[Predictor], cfg: RobustnessConfig, out: str | Path,
                   progress: Callable[[str], object] | None = None) -> dict:
    """Every model x condition x severity (plus clean), cached per cell; writes ``robustness.json|md``."""
    from ..skeleton.builtin import builtin_skeleton
    from ..skeleton.mirror import derive_mirror

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
    results = {"config": asdict(cfg), "models": {}}
    computed = 0
    for model in models:
        rows = {}
        for condition, severity, mirrored in cells:
            label = condition if mirrored else "hflip_unmirrored"
            recipe = json.dumps({"size": model.size, **asdict(cfg), "conditions": None, "severities": None},
                                sort_keys=True)
            data_key = hashlib.sha256(recipe.encode()).hexdigest()[:12]
            path = cache / f"{model.key}_{data_key}_{label}_{severity}.json"
            if path.is_file():
                cell = json.loads(path.read_text())
            else:
                if model.size not in data:
                    say(f"rendering {cfg.sequences} test sequences at {model.size} px")
                    data[model.size] = _sequences(cfg, model.size)
                say(f"{model.name}: {label} severity {severity}")
                cell = _cell(model, data[model.size], condition, severity, mirror, mirrored)
                atomic_write_text(path, json.dumps(cell) + "\n")
                computed += 1
            rows[f"{label}/{severity}"] = cell["mean"]
        clean = rows["clean/0"]["angle_mae_deg"]
        for r in rows.values():
            r["angle_drop_vs_clean"] = r["angle_mae_deg"] / clean - 1.0 if clean > 0 else math.nan
        results["models"][model.name] = rows
    results["cells_computed"] = computed
    atomic_write_text(out / "robustness.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(out / "robustness.md", robustness_markdown(results))
    return results


def robustness_markdown(results: dict) -> str:
    """One table per model: angle MAE, marker MPJPE / PA-MPJPE and the change against clean per condition."""
    lines = ["# Robustness to test-time conditions", "",
             f"Synthetic test sequences: {results['config']['sequences']} x {results['config']['seconds']} s "
             f"(held-out seeds; families {results['config']['families'] or 'all'}, camera yaw "
             f"{results['config']['yaw_range_deg'] or 'all around'}); hflip is scored against the mirrored truth, "
             "hflip_unmirrored against the original.", ""]
    for name, rows in results["models"].items():
        lines += [f"## {name}", "", "| condition | severity | angle MAE (deg) | vs clean | marker MPJPE (mm) | "
                  "marker PA-MPJPE (mm) |", "|---|---|---|---|---|---|"]
        for key, r in rows.items():
            condition, severity = key.split("/")
            lines.append(f"| {condition} | {severity} | {r['angle_mae_deg']:.2f} | {r['angle_drop_vs_clean']:+.1%} | "
                         f"{r['marker_mpjpe_mm']:.1f} | {r['marker_pa_mpjpe_mm']:.1f} |")
        lines.append("")
    return "\n".join(lines)
