"""A rendered clip with known truth for the video path: written as a lossless video with its recipe, so infer's
results on it can be scored, and re-rendered bit for bit (tests, the quickstart)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data.clip import Clip, render_clip, write_clip
from ..data.synth import SynthConfig
from ..models.graphs import DECODED_OUTPUTS
from ..train.losses import metrics
from ..utils.atomic import atomic_write_text

__all__ = ["write_test_clip", "render_from_recipe", "score_against_truth"]


def write_test_clip(folder: Path, seed: int, families: tuple[str, ...] | None, yaw_range_deg, seconds: float = 2.0,
                    long_side: int = 640) -> tuple[Path, Clip]:
    """Render sequence ``seed`` full-frame into ``folder/clip.avi`` (FFV1) and its recipe into ``clip.json``."""
    recipe = {"seed": seed, "families": list(families) if families else None,
              "yaw_range_deg": list(yaw_range_deg) if yaw_range_deg else None, "seconds": seconds,
              "long_side": long_side}
    clip = render_from_recipe(recipe)
    path = write_clip(clip, folder / "clip.avi")
    atomic_write_text(folder / "clip.json", json.dumps(recipe, indent=2) + "\n")
    return path, clip


def render_from_recipe(recipe: dict) -> Clip:
    kw = {"seconds": recipe["seconds"]}
    if recipe.get("families"):
        kw["families"] = tuple(recipe["families"])
    if recipe.get("yaw_range_deg"):
        kw["yaw_range_deg"] = tuple(recipe["yaw_range_deg"])
    return render_clip(recipe["seed"], SynthConfig(**kw), recipe["long_side"])


def score_against_truth(frames: list[dict], clip: Clip, space) -> dict:
    """The training metrics (``train.losses.metrics``: angle MAE, MPJPE, ...) of infer's outputs (after the head)
    against the clip's truth over tracked frames, and the median relative depth error of the root position."""
    import torch

    ok = [f for f in frames if f["status"] == "ok"]
    rows = [int(round(f["time"] * clip.fps)) for f in ok]
    pred = {k: torch.as_tensor(np.stack([f["outputs"][k] for f in ok]), dtype=torch.float32) for k in DECODED_OUTPUTS}
    truth = {k: torch.as_tensor(clip.labels[k][rows], dtype=torch.float32) for k in DECODED_OUTPUTS}
    pelvis = np.array([f["root_cam"] for f in ok])
    true_root = clip.labels["joints_cam"][rows, 0]
    return {"tracked": len(ok), "frames": len(frames), **metrics(pred, truth, space),
            "depth_err_rel_median": float(np.median(np.abs(pelvis[:, 2] - true_root[:, 2]) / true_root[:, 2]))}
