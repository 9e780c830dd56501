"""Whole synthetic video frames (not crops): one engine sequence filmed by its camera, rendered full-frame at a chosen
resolution, with the labels of every frame — test footage for the video path, where the truth is known.

The engine renders square crops; a full frame is the square that covers it (the camera's intrinsics scaled so the
long side has ``long_side`` pixels), cut back to the frame's aspect.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..viz.overlay import write_video
from .camera import Camera
from .synth import SynthConfig, SynthEngine

__all__ = ["Clip", "render_clip", "write_clip"]


@dataclass
class Clip:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    fps: float
    K: np.ndarray  # (3, 3) intrinsics of the frames
    labels: dict  # the engine's labels for the frames (joints_cam, markers_cam, coordinates, scales, ...)
    silhouette: np.ndarray  # (T, 4) x0, y0, x1, y1 of the rendered body in frame pixels (NaN where none)


def render_clip(seed: int, cfg: SynthConfig = SynthConfig(), long_side: int = 640) -> Clip:
    """Render sequence ``seed`` of an engine with ``cfg`` (families, yaw range, length, fps) full-frame."""
    side = long_side
    engine = SynthEngine(SynthConfig(**{**cfg.__dict__, "size": side}))
    q, subject, cam, rng, ids = engine._spec(seed)
    f = side / max(cam.width, cam.height)
    K = cam.K.copy()
    K[:2] *= f
    w, h = int(round(cam.width * f)), int(round(cam.height * f))
    off = ((w - side) / 2, (h - side) / 2)  # the square's corner: negative along the short side
    boxes = torch.tensor([[off[0], off[1], float(side)]] * len(q))
    out = engine.render(q, subject, Camera(cam.rotation, cam.translation, K, w, h), rng, *ids, boxes=boxes,
                        return_maps=True)
    x0, y0 = int(round(-off[0])), int(round(-off[1]))
    frames = np.ascontiguousarray(out["image"][:, y0 : y0 + h, x0 : x0 + w])
    part = out.pop("part")[:, y0 : y0 + h, x0 : x0 + w]
    out.pop("depth")
    sil = np.full((len(q), 4), np.nan)
    for t, p in enumerate(part):
        ys, xs = np.nonzero(p >= 0)
        if len(xs):
            sil[t] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    labels = {k: v for k, v in out.items() if k != "image"}
    return Clip(frames, cfg.fps, K, labels, sil)


def write_clip(clip: Clip, path: str | Path, lossless: bool = True) -> Path:
    """The frames as a video: FFV1 in .avi (lossless: the pixels the labels belong to) or mp4v (.mp4)."""
    return write_video(list(clip.frames), clip.fps, path, fourcc="FFV1" if lossless else "mp4v")
