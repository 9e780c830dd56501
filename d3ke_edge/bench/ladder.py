"""The evaluation ladder on a real trial: where a landmark model's error on real footage comes from.

Each rung feeds the same model (per frame, and with infer's fit to the image) landmarks that are one step closer to
real footage, all scored against the same reference angles:

1. **clean**: the reference's own motion (its IK coordinates on its scaled model), our BlazePose marker set moved by
   it and projected through each real calibrated camera — what the model would see from a perfect BlazePose whose
   landmarks sit where our markers do. Its error is the model's prior: poses it does not know.
2. **+ measured noise**: the same projections with BlazePose's errors measured on our renders (``landmark_noise``,
   its left/right swaps and frame-to-frame drift). The step from 1 is what the noise costs.
3. **real BlazePose**: ``infer`` on the videos (``bench reference``). The step from 2 is placement: where BlazePose
   puts its landmarks on real people, against where our marker set puts them (and what the noise model misses).

The held poses (the skeleton's default, the trial's median) are printed beside them: a tracker must beat those.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..data.landmark_input import landmark_features
from ..data.landmark_synth import Corruptor, LandmarkSynthConfig
from ..default_model import default_model
from ..infer.config import FitConfig, describe_fit
from ..infer.model import open_model
from ..infer.run import resolve_skeleton
from ..io.mot import read_mot
from ..models.kinematic_space import KinematicSpace
from ..reference.calibration import fit_to_video, load_calibration
from ..reference.report import JOINT_GROUPS
from ..skeleton import load_osim
from ..skeleton.fk import ForwardKinematics
from ..skeleton.markersets import landmark_markers
from ..utils.atomic import atomic_write_text
from ..video.landmarks import LANDMARK_NAMES
from ..video.reader import VideoReader
from .landmarks import fit_predictions, stream_predictions
from .reference import COMPARED, bench_reference, compare, held_pose_baselines, load_people, mean_mae, summarise_rows

__all__ = ["evaluation_ladder", "markdown"]

RUNGS = ("clean", "measured noise", "real BlazePose")


def _reference_motion(trial) -> tuple[np.ndarray, np.ndarray]:
    """The reference's landmark markers in the calibration's world (T, 33, 3), its pelvis rotation in that world
    (T, 3, 3), from its IK coordinates on its scaled model."""
    folder = trial.folder
    skel = load_osim(folder / "scaled.osim")
    names = landmark_markers(skel, LANDMARK_NAMES)
    q = read_mot(folder / "reference.mot", skel).to_skeleton_order(skel)
    with torch.no_grad():
        res = ForwardKinematics(skel, torch.float64)(torch.from_numpy(q))
    up = np.asarray(trial.report["up_rotation"])  # world -> OpenSim ground (rows: the ground's axes)
    markers = res.markers.numpy()[:, [skel.marker_names.index(m) for m in names]] @ up  # ground -> world
    pelvis = next(j.child for j in skel.joints if j.parent == "ground")
    rot = up.T @ res.body_rotations.numpy()[:, skel.body_index(pelvis)]
    return markers, rot


def _run_model(model, space, xy: np.ndarray, vis: np.ndarray, K: np.ndarray, fps: float, fit_cfg=None) -> np.ndarray:
    """The stream model (per frame + head, as infer picks it) on landmarks (T, 33, 2) through one camera; with
    ``fit_cfg`` infer's fit after it (``bench.landmarks``' two steps). -> coordinates (T, n) radians."""
    seq = {"landmarks_2d": torch.as_tensor(xy)[None], "visibility": torch.as_tensor(vis)[None],
           "K": torch.as_tensor(K).expand(len(xy), 3, 3)[None]}
    x = landmark_features(xy, vis, np.ones(vis.shape), K)[None]
    pred = stream_predictions(model, x)[model.head or "per-frame"]
    if fit_cfg is not None:
        pred = fit_predictions(pred, seq, space, fps, fit_cfg)
    return pred["coordinates"][0].double().numpy()


def evaluation_ladder(reference: str | Path, model: str | Path | None = None, out: Path | None = None,
                      fits: tuple[bool, ...] = (False, True), seed: int = 0,
                      say: Callable[[str], object] = print, fit_config: FitConfig | None = None) -> dict:
    """Every rung for every camera of one person's reference (``model``: a landmark model infer accepts; default
    the package's; its causal head as infer picks it), without and/or with the fit (``fit_config``, default
    ``FitConfig()``). Writes ``ladder.json|md`` into ``out`` when given."""
    trials = load_people(reference)
    if len(trials) != 1:
        raise ValueError(f"the ladder needs one person's reference; '{reference}' has {len(trials)}: give one of "
                         f"{[t.folder.name for t in trials]}")
    trial = trials[0]
    fps = float(trial.report["fps"])
    fit_config = fit_config or FitConfig()
    model_path = Path(model) if model is not None else default_model()
    m = open_model(model_path, head="auto")
    if m.input_spec.is_image:
        raise ValueError(f"'{model_path}' is an image model; the ladder feeds landmarks (a d3ke_lift_* model)")
    space = KinematicSpace(resolve_skeleton(m.metadata, None))
    markers, pelvis_world = _reference_motion(trial)
    cams = {c.name: c for c in load_calibration(trial.report["calibration"])}
    videos = dict(zip(trial.report["cameras"], trial.report["videos"]))
    corruptor = Corruptor(LandmarkSynthConfig(noise="measured", swaps=1.0))
    rows = []
    for k, (name, video) in enumerate(videos.items()):
        reader = VideoReader(Path(video))
        cam = fit_to_video(cams[name], reader.width, reader.height)
        reader.close()
        xy = cam.project(markers)  # (T, 33, 2) distortion included, as the video has it
        K = cam.K
        rot_cam = cam.R @ pelvis_world
        gen = torch.Generator().manual_seed(seed * 1000 + k)
        state = corruptor.ar_noise()
        noisy, vis_n = [], []
        for t in range(len(xy)):
            x, v, _, _ = corruptor.corrupt(torch.as_tensor(xy[t : t + 1], dtype=torch.float32),
                                           torch.as_tensor(rot_cam[t : t + 1], dtype=torch.float32), gen, state)
            noisy.append(x[0].double().numpy())
            vis_n.append(v[0].double().numpy())
        inputs = {"clean": (xy, np.ones(xy.shape[:2])), "measured noise": (np.stack(noisy), np.stack(vis_n))}
        for rung, (lm, vis) in inputs.items():
            for refine in fits:
                q = _run_model(m, space, lm, vis, K, fps, fit_config if refine else None)
                names = m.metadata["coordinate_names"]
                pred = {c: np.degrees(q[:, names.index(c)]) for c in COMPARED if c in names}
                per = compare(trial.time, pred, trial)
                label = rung + (" + fit" if refine else "")
                rows.append({"camera": name, "model": label, "rung": rung, "fit": refine, "tracked": len(q),
                             "frames": len(q), "person": trial.folder.name, "coordinates": per})
                say(f"{name} {label}: angle MAE {mean_mae(per):.1f} deg")
    summary = summarise_rows(rows)
    per_camera = {r["camera"] + " | " + r["model"]: mean_mae(r["coordinates"]) for r in rows}
    with tempfile.TemporaryDirectory(prefix="d3ke-ladder-") as tmp:  # rung 3: infer on the videos
        real = bench_reference(reference, [model_path], Path(tmp), heads=("auto",), fits=fits, say=say,
                               fit_config=fit_config)
    for label, s in real["summary"].items():
        rung = "real BlazePose" + (" + fit" if label.endswith(" + fit") else "")
        summary[rung] = s
        for r in real["rows"]:
            if r["model"] == label:
                per_camera[f"{r['camera']} | {rung}"] = mean_mae(r["coordinates"])
    result = {"reference": str(reference), "model": str(model_path), "head": m.head, "seed": seed,
              "cameras": list(videos), "summary": summary, "baselines": held_pose_baselines(rows, trials),
              "per_camera": per_camera, "fit_config": asdict(fit_config)}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "ladder.json", json.dumps(result, indent=2) + "\n")
        atomic_write_text(out / "ladder.md", markdown(result))
    return result


def markdown(result: dict) -> str:
    groups = JOINT_GROUPS
    cams = result["cameras"]
    lines = [f"# The evaluation ladder: `{Path(result['model']).name}` on `{result['reference']}`", "",
             "Mean angle MAE (deg) against the reference, every camera pooled, then per camera. Rungs: our BlazePose "
             "marker set moved by the reference's own motion and projected through each real camera (clean), the "
             "same with BlazePose's measured noise, and real BlazePose on the videos (`bench reference`). "
             f"Head: {result['head'] or 'none'}. "
             + (describe_fit(result["fit_config"]) if "fit_config" in result else ""), "",
             "| rung | mean MAE | " + " | ".join(groups) + " | " + " | ".join(cams) + " |",
             "|---|---|" + "---|" * (len(groups) + len(cams))]

    def row(label: str, s: dict, per_cam: list[float]) -> str:
        g = [np.nanmean([s["coordinates"].get(c, {}).get("mae_deg", math.nan) for c in cs]) for cs in groups.values()]
        return (f"| {label} | {s['mae_deg']:.1f} | " + " | ".join(f"{v:.1f}" for v in g) + " | "
                + " | ".join("" if not math.isfinite(v) else f"{v:.1f}" for v in per_cam) + " |")

    for label, s in result["summary"].items():
        lines.append(row(label, s, [result["per_camera"].get(f"{c} | {label}", math.nan) for c in cams]))
    for label, s in result["baselines"].items():
        lines.append(row(f"*{label}*", s, [math.nan] * len(cams)))
    return "\n".join(lines) + "\n"
