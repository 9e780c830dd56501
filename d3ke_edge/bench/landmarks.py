"""A landmark model on any recorded motion: each motion file (an OpenSim ``.mot`` in the skeleton's coordinates, or
a DeepMimic clip) seen through seeded phone cameras as the landmark data sees the families — a random subject, its
landmarks projected and, with ``noise="measured"``, made BlazePose-like — and the model's angles (per frame and with
each causal head it carries) against the recording's, per coordinate and per joint group.

Each motion is imported on its own (``motions import``'s reading, range rules and retargeting, no mirror, no split),
then ``sequences`` windows of it are drawn, each with its own subject and camera (seeded: the same numbers on every
run).
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..data.landmark_synth import LandmarkSynth, LandmarkSynthConfig, PoseBank
from ..data.motion_bank import BankConfig, BankError, import_bank
from ..default_model import default_model
from ..infer.config import FitConfig, describe_fit
from ..infer.model import open_model
from ..infer.run import image_fit, resolve_skeleton
from ..models.graphs import DECODED_OUTPUTS
from ..models.kinematic_space import KinematicSpace
from ..train.checkpoint import load_bundle
from ..train.data import sequence_seed
from ..train.temporal import TARGETS
from ..video.crop import box_from_landmarks, root_translation
from .metrics import sequence_errors

__all__ = ["predict_sequences", "stream_predictions", "fit_predictions", "mean_errors", "bench_landmarks", "markdown",
           "GROUP_KEYS", "LandmarkRunner", "motion_sequences"]

GROUP_KEYS = ("angle_mae_deg", "angle_hips_deg", "angle_knees_deg", "angle_ankles_feet_deg", "angle_shoulders_deg",
              "angle_elbows_forearms_deg", "angle_lumbar_deg", "pelvis_rot_err_deg", "joint_mpjpe_mm",
              "joint_pa_mpjpe_mm", "marker_accel_err_mm", "marker_jitter_mm")


@torch.no_grad()
def predict_sequences(bundle, x: torch.Tensor) -> dict[str, dict]:
    """A loaded bundle on inputs ``x`` (n, T, ...) -> {"per-frame": decoded (n, T, ...), head name: decoded}."""
    space = bundle.model.space
    rot6d, p, _ = bundle.model.encode(x.flatten(0, 1))
    params = space.join(rot6d, p).unflatten(0, x.shape[:2])
    out = {"per-frame": space.decode_params(params)}
    for name, head in bundle.heads.items():
        out[name] = space.decode_params(head(params))
    return out


def fit_predictions(pred: dict, seqs: dict, space, fps: float, cfg=None) -> dict[str, torch.Tensor]:
    """``pred`` (decoded, (n, T, ...)) after the fit to the image (``infer.fit``) on each sequence's own landmarks
    (``landmarks_2d``, ``visibility``, ``K`` of ``LandmarkSynth.sequences``), frame by frame as ``infer`` runs it
    (the root placed from the landmark box first, as there). Returns the decoded dict with the fitted values."""
    fit = image_fit(space.skeleton, space.metadata(), cfg or FitConfig())
    out = {k: v.clone() for k, v in pred.items()}
    n, T = pred["coordinates"].shape[:2]
    for i in range(n):
        fit.reset()
        for t in range(T):
            xy = seqs["landmarks_2d"][i, t].double().numpy()
            K = seqs["K"][i, t].double().numpy()
            box = box_from_landmarks(xy)
            pts = torch.cat([pred["joints_rel"][i, t], pred["markers_rel"][i, t]]).double().numpy()
            r = fit.step(xy, seqs["visibility"][i, t].double().numpy(), K, t / fps,
                         pred["coordinates"][i, t].double().numpy(), pred["pelvis_rot_cam"][i, t].double().numpy(),
                         root_translation(box, K, pts), pred["scales"][i, t].double().numpy())
            for k in ("coordinates", "pelvis_rot_cam", "markers_rel", "joints_rel"):
                out[k][i, t] = torch.as_tensor(r[k], dtype=out[k].dtype)
    return out


def mean_errors(preds: dict[str, dict], truth: dict, space) -> dict[str, dict[str, float]]:
    """Per prediction (``predict_sequences``' keys): ``sequence_errors`` averaged over the sequences."""
    rows = {}
    for name, pred in preds.items():
        per_seq = [sequence_errors({k: v[i] for k, v in pred.items()}, {k: truth[k][i] for k in TARGETS}, space)
                   for i in range(len(truth["coordinates"]))]
        rows[name] = {k: float(np.nanmean([e[k] for e in per_seq])) for k in GROUP_KEYS if k in per_seq[0]}
    return rows


def _per_coordinate(pred: dict, truth: dict, space) -> dict[str, float]:
    """MAE (deg) of every predicted rotational coordinate over all sequences and frames."""
    names = space.skeleton.coordinate_names
    dq = (pred["coordinates"] - truth["coordinates"]).abs() * (180.0 / math.pi)
    return {names[i]: float(dq[..., i].mean()) for i in space.coord_index.tolist()
            if space.skeleton.coordinates[i].is_rotational}


def stream_predictions(model, x: torch.Tensor) -> dict[str, dict]:
    """A loaded stream model (``infer.model.open_model``) on inputs ``x`` (n, T, F), frame by frame as infer
    runs it, its head's state reset per sequence: {"per-frame": decoded (n, T, ...), its head's name: decoded}."""
    names = ["per-frame"] + ([model.head] if model.head else [])
    seqs: dict[str, list[dict]] = {k: [] for k in names}
    for i in range(x.shape[0]):
        model.reset()
        frames: dict[str, list[dict]] = {k: [] for k in names}
        for t in range(x.shape[1]):
            fo = model.run_frame(x[i, t : t + 1].numpy())
            frames["per-frame"].append(dict(zip(DECODED_OUTPUTS, fo[1:])))
            if model.head:
                frames[model.head].append(model.run_head(fo))
        for k in names:
            seqs[k].append({o: np.concatenate([f[o] for f in frames[k]]) for o in DECODED_OUTPUTS})
    return {k: {o: torch.as_tensor(np.stack([s[o] for s in v])) for o in DECODED_OUTPUTS} for k, v in seqs.items()}


class LandmarkRunner:
    """What the bench runs: a checkpoint (its bundle: every head) or an export (infer's loader: the head it picks),
    each read once."""

    def __init__(self, path: Path):
        self.bundle = self.stream = None
        if path.suffix == ".pt":
            self.bundle = load_bundle(path)
            if self.bundle.model.input_spec.is_image:
                raise ValueError(f"'{path}' is an image model; this bench feeds landmarks (a d3ke_lift_* model)")
            self.space, self.world = self.bundle.model.space, self.bundle.model.world
            self.fps = float(self.bundle.ckpt["config"]["data"].get("fps", 30.0))
        else:
            self.stream = open_model(path, head="auto")
            if self.stream.input_spec.is_image:
                raise ValueError(f"'{path}' is an image model; this bench feeds landmarks (a d3ke_lift_* model)")
            self.space = KinematicSpace(resolve_skeleton(self.stream.metadata, None))
            self.world, self.fps = self.stream.input_spec.world, float(self.stream.head_fps or 30.0)

    def predict(self, x: torch.Tensor) -> dict[str, dict]:
        return predict_sequences(self.bundle, x) if self.bundle is not None else stream_predictions(self.stream, x)


def motion_sequences(motion: Path, k: int, runner: LandmarkRunner, sequences: int, seconds: float,
                     noise: str = "measured", seed: int = 0) -> tuple[dict, dict]:
    """The ``k``-th motion of a bench, imported on its own and seen as ``sequences`` seeded windows of ``seconds``
    (each its own subject and camera; ``noise``: measured | clean) -> (``LandmarkSynth.sequences``' dict, the
    manifest's clip entry). A motion the bank's rules refuse is a ``BankError`` naming why."""
    skel = runner.space.skeleton
    with tempfile.TemporaryDirectory(prefix="d3ke-bench-landmarks-") as tmp:
        bank = Path(tmp) / f"motion{k}"
        m = import_bank([motion], bank, skel, BankConfig(mirror=False, val_fraction=0.0, test_fraction=0.0),
                        say=lambda s: None)
        clip = m["clips"][0]
        if clip["refused"]:
            raise BankError(f"'{motion}' cannot be benched: {clip['refused']}")
        cfg = LandmarkSynthConfig(sequences, seconds, runner.fps, noise="none" if noise == "clean" else "measured",
                                  swaps=0.0 if noise == "clean" else 1.0, world=runner.world,
                                  motion_bank=str(bank), motion_bank_weight=1.0)
        seeds = [sequence_seed(seed, 5, 1000 * k + i) for i in range(sequences)]
        synth = LandmarkSynth(PoseBank.build(cfg, seeds, skel), cfg)
        seqs = synth.sequences(list(range(sequences)), torch.Generator().manual_seed(sequence_seed(seed, 5, k)))
    return seqs, clip


def bench_landmarks(model: str | Path | None, motions: list[Path], sequences: int = 8, seconds: float = 2.0,
                    noise: str = "measured", seed: int = 0, say=print, fit: bool = True,
                    fit_config: FitConfig | None = None) -> dict:
    """``model`` (a landmark model's checkpoint, or an export infer runs; None: the package's default model) on
    each of ``motions``, per frame and with each head, each also
    followed by infer's fit to the image (``fit``; rows "+ fit"; its settings ``fit_config``, default
    ``FitConfig()``) -> {"angle_mae_deg": the mean over motions (per frame), "motions": {name: {"errors": mean_errors rows, "coordinates": per-coordinate MAE per frame,
    "frames": ...}}}. A motion the bank's rules refuse is an error naming why."""
    if noise not in ("measured", "clean"):
        raise ValueError(f"noise must be measured or clean, got '{noise}'")
    if sequences < 1 or not seconds > 0:
        raise ValueError(f"sequences must be >= 1 and seconds > 0, got {sequences}, {seconds}")
    model = Path(model) if model is not None else default_model()
    runner = LandmarkRunner(model)
    space = runner.space
    fps = runner.fps
    results = {}
    for k, motion in enumerate(motions):
        seqs, clip = motion_sequences(motion, k, runner, sequences, seconds, noise, seed)
        preds = runner.predict(seqs["landmarks"])
        if fit:  # infer's fit to the image after each, on the same landmarks
            preds.update({f"{name} + fit": fit_predictions(p, seqs, space, fps, fit_config)
                          for name, p in list(preds.items())})
        errors = mean_errors(preds, seqs, space)
        name = Path(motion).name
        results[name] = {"path": str(motion), "frames": int(seqs["coordinates"].shape[1]), "errors": errors,
                         "coordinates": _per_coordinate(preds["per-frame"], seqs, space),
                         "fit_error_mm": clip["fit_error_mm"]}
        say(f"{name}: angle MAE {errors['per-frame']['angle_mae_deg']:.1f} deg per frame"
            + "".join(f", {h} {e['angle_mae_deg']:.1f}" for h, e in errors.items() if h != "per-frame"))
    return {"model": str(model), "noise": noise, "sequences": sequences, "seconds": seconds, "seed": seed,
            "fit_config": asdict(fit_config or FitConfig()) if fit else None,
            "angle_mae_deg": float(np.mean([r["errors"]["per-frame"]["angle_mae_deg"] for r in results.values()])),
            "motions": results}


def markdown(result: dict) -> str:
    """The result as Markdown: per motion and joint group, then per coordinate."""
    m = Path(result["model"])
    lines = [f"# `{m.parent.name if m.suffix == '.pt' else m.name}` on recorded motion ({result['noise']} landmarks)", "",
             f"{result['sequences']} windows of {result['seconds']:g} s per motion, each its own subject and camera "
             f"(seed {result['seed']}). Mean angle MAE over the motions, per frame: **{result['angle_mae_deg']:.2f} "
             "deg**. " + describe_fit(result.get("fit_config")), "",
             "| motion | model | angle MAE | hips | knees | ankles/feet | shoulders | elbows | lumbar |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in result["motions"].items():
        for head, e in r["errors"].items():
            lines.append(f"| {name} | {head} | " + " | ".join(f"{e.get(k, math.nan):.2f}" for k in GROUP_KEYS[:7])
                         + " |")
    coords = list(dict.fromkeys(c for r in result["motions"].values() for c in r["coordinates"]))
    lines += ["", "Per coordinate, per frame (deg):", "", "| motion | " + " | ".join(coords) + " |",
              "|---|" + "---|" * len(coords)]
    for name, r in result["motions"].items():
        lines.append(f"| {name} | " + " | ".join(f"{r['coordinates'].get(c, math.nan):.1f}" for c in coords) + " |")
    return "\n".join(lines) + "\n"
