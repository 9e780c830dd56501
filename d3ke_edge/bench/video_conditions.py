"""The reproduction study's conditions on whole video frames, before BlazePose and the model — the real-footage
counterpart of ``data.conditions`` (which acts on the engine's square crops), with the same severity levels.

- ``hflip``: the frame mirrored; the prediction is scored against the mirrored reference (``bench.reference``).
- ``resize``: the frame down by the level's factor (antialiased) and back up bilinearly, as a pipeline that
  upsamples a low-resolution stream would; the geometry is unchanged, so the calibration still holds.
- ``crop``: the person's box (the engine-style square around the clean run's landmarks, per frame) shrunk by the
  level's fraction against one seeded side, and everything outside that window painted black. Black is what
  BlazePose sees beyond a real frame border (its ROI is zero-padded), and keeping the frame's geometry keeps the
  calibrated intrinsics exact, which a real crop (a moved principal point) would not.
- ``brightness``, ``contrast``: ``data.conditions``' own kernels (torchvision's) on the whole frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms.v2.functional as tvf

from ..data.conditions import CONDITIONS, STUDY_CONDITIONS
from ..video.crop import box_from_landmarks

__all__ = ["VIDEO_CONDITIONS", "FrameCondition", "frame_condition", "person_boxes"]

VIDEO_CONDITIONS = STUDY_CONDITIONS  # hflip, resize, crop, brightness, contrast
SIDES = ("left", "right", "top", "bottom")  # the side of the person cut off by ``crop``


@dataclass(frozen=True)
class FrameCondition:
    """``cond(rgb, frame_index)`` -> the conditioned frame (H, W, 3) uint8; ``describe`` says what was done."""

    name: str
    severity: int
    level: float
    fn: Callable[[np.ndarray, int], np.ndarray]
    describe: str

    def __call__(self, rgb: np.ndarray, index: int) -> np.ndarray:
        return self.fn(rgb, index)


def _to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)


def _to_rgb(image: torch.Tensor) -> np.ndarray:
    return image.clamp(0, 1).mul(255.0).add_(0.5).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def person_boxes(xy: np.ndarray) -> np.ndarray:
    """Per frame the engine-style square box (x0, y0, side) around landmarks ``xy`` (T, 33, 2) in frame pixels;
    frames without landmarks take the nearest frame's box."""
    ok = np.isfinite(xy).all((1, 2))
    if not ok.any():
        raise ValueError("no frame has landmarks to place the person's box")
    boxes = np.full((len(xy), 3), np.nan)
    boxes[ok] = [box_from_landmarks(p) for p in xy[ok]]
    have = np.flatnonzero(ok)
    nearest = have[np.abs(np.arange(len(xy))[:, None] - have[None]).argmin(1)]
    return boxes[nearest]


def frame_condition(name: str, severity: int, boxes: np.ndarray | None = None, seed: int = 0) -> FrameCondition:
    """Condition ``name`` at ``severity`` (``hflip``: 1; others 1..5, ``data.conditions``' levels); ``crop`` needs
    the person's per-frame ``boxes`` (``person_boxes``) and draws its side from ``seed`` (one draw per video)."""
    if name == "hflip":
        if severity != 1:
            raise ValueError(f"hflip has one severity (1); got {severity}")
        return FrameCondition(name, 1, 1.0, lambda rgb, i: np.ascontiguousarray(rgb[:, ::-1]), "frame mirrored")
    if name not in VIDEO_CONDITIONS:
        raise ValueError(f"condition '{name}' is not defined on video frames; choose from {', '.join(VIDEO_CONDITIONS)}")
    cond = CONDITIONS[name]
    if not 1 <= severity <= len(cond.levels):
        raise ValueError(f"severity of {name} must be 1-{len(cond.levels)}; got {severity}")
    level = float(cond.levels[severity - 1])
    if name == "resize":
        def resize(rgb: np.ndarray, i: int) -> np.ndarray:
            img = _to_tensor(rgb)
            h, w = img.shape[-2:]
            low = tvf.resize(img, [max(2, round(h / level)), max(2, round(w / level))], antialias=True)
            return _to_rgb(tvf.resize(low, [h, w], antialias=False))
        return FrameCondition(name, severity, level, resize, f"frame down x{level:g} and back up")
    if name == "crop":
        if boxes is None:
            raise ValueError("crop needs the person's per-frame boxes (person_boxes of the clean run's landmarks)")
        side = int(np.random.default_rng(seed).integers(4))

        def crop(rgb: np.ndarray, i: int) -> np.ndarray:
            x0, y0, s = boxes[min(i, len(boxes) - 1)]
            cut = s * level  # the window is the box less ``level`` of its side, against the drawn side
            left, top, right, bottom = x0, y0, x0 + s, y0 + s
            if side == 0:
                left += cut
            elif side == 1:
                right -= cut
            elif side == 2:
                top += cut
            else:
                bottom -= cut
            h, w = rgb.shape[:2]
            r0, r1 = int(np.clip(round(top), 0, h)), int(np.clip(round(bottom), 0, h))
            c0, c1 = int(np.clip(round(left), 0, w)), int(np.clip(round(right), 0, w))
            out = np.zeros_like(rgb)
            out[r0:r1, c0:c1] = rgb[r0:r1, c0:c1]
            return out
        return FrameCondition(name, severity, level, crop,
                              f"person box less {level:.0%} on the {SIDES[side]}, black outside")

    def photometric(rgb: np.ndarray, i: int) -> np.ndarray:
        return _to_rgb(cond.kernel({"image": _to_tensor(rgb)}, level, torch.Generator().manual_seed(seed))["image"])
    return FrameCondition(name, severity, level, photometric, f"{cond.what} {level:g}")
