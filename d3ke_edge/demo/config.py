"""``config.json`` for the phone demo: which artefacts of an export it runs and everything it needs to know about
them and about BlazePose, taken from the artefacts' own metadata and from the Python modules that the app's
JavaScript mirrors (one source of truth: the app copies no number)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..artefacts import pick_head
from ..infer.config import InferConfig
from ..infer.sides import HOLD_S, KEEP_RATIO, MAX_GAP_S, MIN_FLIP_DEG
from ..video import detector, landmarks, tracker
from ..video.crop import BOX_PER_EXTENT, ENGINE_MARGIN, SILHOUETTE_PER_LANDMARKS

__all__ = ["DemoError", "DemoModels", "pick_models", "demo_config", "DEFAULT_ANGLES"]

DEFAULT_ANGLES = ("knee_angle_r", "knee_angle_l", "hip_flexion_r", "hip_flexion_l", "elbow_flex_r", "elbow_flex_l")


class DemoError(ValueError):
    """The demo cannot run this export (wrong folder, an image model, missing metadata); the message says why."""


@dataclass(frozen=True)
class DemoModels:
    per_frame: Path  # the per-frame .tflite
    step: Path | None  # its step model (None: per frame only)


def _meta(path: Path) -> dict:
    side = path.with_suffix(".json")
    if not side.is_file():
        raise DemoError(f"'{path}' has no metadata '{side.name}' beside it: the app reads everything it needs from "
                        "there; export again with d3ke-edge export")
    return json.loads(side.read_text())


def pick_models(export: Path, precision: str = "fp32", head: str = "auto") -> DemoModels:
    """The LiteRT artefacts of ``export`` (a d3ke-edge export folder or its ``tflite/`` folder) the app runs."""
    export = Path(export)
    folder = export / "tflite" if (export / "tflite").is_dir() else export
    per_frame = folder / f"per_frame_{precision}.tflite"
    if not per_frame.is_file():
        have = sorted(p.name for p in folder.glob("per_frame_*.tflite"))
        raise DemoError(f"'{folder}' has no {per_frame.name} (the phone demo runs LiteRT artefacts); it has "
                        f"{', '.join(have) or 'none'} — give a d3ke-edge export folder, or choose another precision")
    meta = _meta(per_frame)
    if meta.get("artefact") != "per_frame":
        raise DemoError(f"'{per_frame}' is a {meta.get('artefact')} artefact, not a per-frame model")
    if "joint_parents" not in meta["model"]:
        raise DemoError(f"'{per_frame}' was exported before its metadata held the skeleton's joint tree "
                        "(model.joint_parents); export it again with this version")
    steps = {p.stem.removeprefix("step_"): p for p in folder.glob("step_*.tflite")}
    try:
        name = pick_head(head, sorted(steps), f"'{folder}' (step_<head>.tflite)")
    except ValueError as exc:
        raise DemoError(str(exc)) from None
    step = steps[name] if name else None
    if step is not None and _meta(step)["model"]["skeleton_hash"] != meta["model"]["skeleton_hash"]:
        raise DemoError(f"'{step.name}' is for another skeleton than '{per_frame.name}': not one export")
    return DemoModels(per_frame, step)


def demo_config(models: DemoModels, blazepose: dict[str, str], wasm: str, urls: dict[str, str],
                test_frames: int = 0, test_images: int = 0) -> dict:
    """The app's ``config.json``: ``urls`` maps the artefacts to the paths the server gives them."""
    import numpy as np

    limbs = [int(i) for i in tracker.SWAP_LIMBS]  # the landmarks the swap rule compares
    cfg = {
        "wasm": wasm,
        "hfov_deg": InferConfig.hfov,  # infer's default: a phone's main camera across the long side
        "angles": list(DEFAULT_ANGLES),
        "plot_frames": 150,
        "test_frames": test_frames, "test_images": test_images,
        "blazepose": {
            **blazepose,
            "detector_input": detector.INPUT, "landmark_input": landmarks.SIZE,
            "anchors": {k: list(v) if isinstance(v, tuple) else v for k, v in detector.ANCHOR_OPTIONS.items()},
            "min_score": detector.MIN_SCORE, "score_clip": detector.SCORE_CLIP, "nms_iou": detector.NMS_IOU,
            "roi_scale": landmarks.ROI_SCALE, "min_pose": tracker.MIN_POSE, "reacquire_sides": tracker.REACQUIRE_SIDES,
            "swap_ratio": tracker.SWAP_RATIO, "mirror_order": [int(i) for i in tracker.mirror_order()],
            "swap_limbs": limbs, "landmark_names": list(landmarks.LANDMARK_NAMES),
        },
        # infer's guard against whole-body side flips (infer.sides), for landmark models
        "sides": {"max_turn_deg_s": InferConfig.max_turn_deg_s, "keep_ratio": KEEP_RATIO, "min_flip_deg": MIN_FLIP_DEG,
                  "hold_s": HOLD_S, "max_gap_s": MAX_GAP_S},
        "crop": {"silhouette_per_landmarks": SILHOUETTE_PER_LANDMARKS, "engine_margin": float(np.mean(ENGINE_MARGIN)),
                 "box_per_extent": BOX_PER_EXTENT},
        "per_frame": {"name": f"{models.per_frame.parent.parent.name}/{models.per_frame.name}",
                      "url": urls[str(models.per_frame)], "meta": _meta(models.per_frame)},
        "step": None if models.step is None else {"url": urls[str(models.step)], "meta": _meta(models.step)},
    }
    return cfg
