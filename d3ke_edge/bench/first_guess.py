"""How accurate the network's first guess must be: the network's coordinates moved toward the truth,
``truth + factor * (network - truth)`` (factor 1: the network as it is, 0: the truth itself), then through the rest
of the path as always — infer's fit to the image or nothing — and scored as always:

- on the real trial (``real_curve``): infer on each camera's video, the truth its multi-camera reference
  (``d3ke-edge reference``), scored by ``bench reference`` beside the poses held constant;
- on held-out recorded motion (``held_out_curve``): the bank's test split seen through seeded cameras with
  BlazePose's measured noise, as ``benchmarks/held_out_by_source.py`` sees it.

The root's coordinates (the pelvis's rotation and position) stay the network's: their frame is the camera's, the
reference's is the room's, and the angles scored do not include them. Only the coordinates move (the network's
joint and marker positions do not), so the rows without the fit score the angles alone — which is what is scored.
The question it answers: the error after the path as a function of the first guess's own error, so a model to be
trained (``docs/gpu.md``) has a number to reach.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..infer.config import FitConfig
from ..infer.model import open_model
from ..infer.run import FirstGuess, resolve_skeleton
from ..io.mot import read_mot
from ..reference.report import JOINT_GROUPS
from ..skeleton.model import GROUND, Skeleton
from .landmarks import LandmarkRunner, fit_predictions, mean_errors, motion_sequences
from .reference import bench_reference, load_people, mean_mae

__all__ = ["toward", "moved_coordinates", "reference_first_guess", "real_curve", "held_out_curve", "FACTORS"]

FACTORS = (1.0, 0.75, 0.5, 0.25, 0.0)


def moved_coordinates(skeleton: Skeleton) -> np.ndarray:
    """(C,) bool: the coordinates a first guess moves — all but the root joint's (the body's place in the camera)."""
    root = next(j for j in skeleton.joints if j.parent == GROUND)
    return np.array([n not in root.coordinates for n in skeleton.coordinate_names])


def toward(q: np.ndarray, truth: np.ndarray, factor: float, moved: np.ndarray) -> np.ndarray:
    """``truth + factor * (q - truth)`` where ``moved``, ``q`` elsewhere (any leading shape, coordinates last)."""
    if not 0.0 <= factor <= 1.0 or not math.isfinite(factor):
        raise ValueError(f"a first guess factor must be in [0, 1] (1: the network, 0: the truth), got {factor}")
    return np.where(moved, truth + factor * (q - truth), q)


def reference_first_guess(reference: str | Path, skeleton: Skeleton, factor: float) -> Callable[[str], FirstGuess]:
    """For ``bench_reference(first_guess=...)``: camera -> infer's hook moving each frame's coordinates toward the
    reference's (its ``reference.mot`` at the frame's time less that camera's offset). One person's reference."""
    trials = load_people(reference)
    if len(trials) != 1:
        raise ValueError(f"'{reference}' holds {len(trials)} people; give one person's folder (REF/person<k>)")
    trial = trials[0]
    q_ref = read_mot(trial.folder / "reference.mot", skeleton).to_skeleton_order(skeleton)  # (T, C) rad
    moved = moved_coordinates(skeleton)
    fps = float(trial.report["fps"])
    toward(q_ref[0], q_ref[0], factor, moved)  # a bad factor fails here, not in the first frame of a run

    def for_camera(camera: str) -> FirstGuess:
        offset = trial.report["cameras"][camera]["offset_frames"] / fps

        def guess(time_s: float, q: np.ndarray) -> np.ndarray:
            t = time_s - offset
            truth = np.array([np.interp(t, trial.time, q_ref[:, i]) for i in range(q_ref.shape[1])])
            return toward(q, truth, factor, moved)

        return guess

    return for_camera


def real_curve(reference: str | Path, model: Path, fits: dict[str, FitConfig | None],
               factors: tuple[float, ...] = FACTORS, cameras: tuple[str, ...] = (),
               say: Callable[[str], object] = print) -> dict:
    """The real trial through infer (the model's causal head, as infer picks it) for each first-guess factor and
    each fit setting (``fits``: label -> settings, None: no fit), on ``cameras`` (default: all) -> {"rows":
    [{factor, fit, mae_deg, per_camera, knees_deg, elbows_deg}], "baselines": the poses held constant, "cameras"}."""
    skeleton = resolve_skeleton(open_model(model, head="none").metadata, None)  # what infer's coordinates index
    rows, baselines, compared = [], {}, []
    for factor in factors:
        hook = reference_first_guess(reference, skeleton, factor)
        for label, cfg in fits.items():
            with tempfile.TemporaryDirectory(prefix="d3ke-first-guess-") as tmp:
                r = bench_reference(reference, [model], Path(tmp), heads=("auto",), fits=(cfg is not None,),
                                    cameras=cameras, fit_config=cfg, first_guess=hook, say=lambda m: None)
            pooled = next(iter(r["summary"].values()))
            per_camera = {row["camera"]: mean_mae(row["coordinates"]) for row in r["rows"]}
            rows.append({"factor": factor, "fit": label, "mae_deg": pooled["mae_deg"], "per_camera": per_camera,
                         **_groups(pooled["coordinates"])})
            baselines, compared = r["baselines"], r["cameras"]
            say(f"real trial, factor {factor:g}, {label}: {pooled['mae_deg']:.2f} deg (cameras "
                + " / ".join(f"{v:.1f}" for v in per_camera.values()) + ")")
    held = {k: {"mae_deg": v["mae_deg"], **_groups(v["coordinates"])} for k, v in baselines.items()}
    return {"rows": rows, "baselines": held, "cameras": compared}


def held_out_curve(clips: list[Path], model: Path, fits: dict[str, FitConfig | None],
                   factors: tuple[float, ...] = FACTORS, sequences: int = 4, seconds: float = 2.0,
                   say: Callable[[str], object] = print) -> dict:
    """Recorded motion (each clip as ``bench landmarks`` sees it, measured noise, seeded) through the model's
    causal head (an export's: the one infer picks; a checkpoint's: its first; per frame without one) for each factor
    and fit setting -> {"rows": [{factor, fit, mae_deg (the
    mean over clips of the model's rotational coordinates, as the held-out tables), knees_deg, elbows_deg}]}."""
    runner = LandmarkRunner(Path(model))
    space = runner.space
    moved = moved_coordinates(space.skeleton)
    cached = []  # the network runs once per clip; the factors and fits reuse its predictions
    for clip in clips:
        seqs, _ = motion_sequences(clip, 0, runner, sequences, seconds)
        preds = runner.predict(seqs["landmarks"])
        head = next((k for k in preds if k != "per-frame"), "per-frame")
        cached.append((seqs, preds[head]))
    rows = []
    for factor in factors:
        for label, cfg in fits.items():
            errs = []
            for seqs, pred in cached:
                q = toward(pred["coordinates"].double().numpy(), seqs["coordinates"].double().numpy(), factor, moved)
                p = {**pred, "coordinates": torch.from_numpy(q).to(pred["coordinates"].dtype)}
                if cfg is not None:
                    p = fit_predictions(p, seqs, space, runner.fps, cfg)
                errs.append(mean_errors({"x": p}, seqs, space)["x"])
            row = {"factor": factor, "fit": label,
                   **{k: float(np.mean([e[key] for e in errs])) for k, key in
                      (("mae_deg", "angle_mae_deg"), ("knees_deg", "angle_knees_deg"),
                       ("elbows_deg", "angle_elbows_forearms_deg"))}}
            rows.append(row)
            say(f"held-out motion, factor {factor:g}, {label}: {row['mae_deg']:.2f} deg (knees {row['knees_deg']:.1f})")
    return {"rows": rows, "clips": [str(c) for c in clips], "sequences": sequences, "seconds": seconds}


def _groups(per: dict[str, dict]) -> dict[str, float]:
    """The knees' and elbows' MAE (the issue's targets name them) from pooled per-coordinate figures."""
    return {f"{group}_deg": float(np.mean([per[c]["mae_deg"] for c in JOINT_GROUPS[group] if c in per]))
            for group in ("knees", "elbows")}
