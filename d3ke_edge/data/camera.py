"""Phone-like cameras, projection and detector-like square person crops.

Camera frame is OpenCV's: x right, y down, z forward; ``X_cam = R @ X_world + t``. Intrinsics ``K`` are 3x3.
A crop is a square box (x0, y0, size) in full-frame pixels; its own intrinsics map camera points straight to
crop pixels, so the renderer never draws the full frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..video.crop import ENGINE_MARGIN

__all__ = ["ENGINE_MARGIN", "Camera", "sample_camera", "look_at", "project", "crop_boxes", "crop_intrinsics"]

FRAME_SIZES = ((1280, 720), (720, 1280), (800, 600))  # landscape/portrait phone video, BML-MoVi's 800x600


@dataclass(frozen=True)
class Camera:
    rotation: np.ndarray  # (3, 3) world -> camera
    translation: np.ndarray  # (3,)
    K: np.ndarray  # (3, 3) full-frame intrinsics
    width: int
    height: int

    @property
    def position(self) -> np.ndarray:
        return -self.rotation.T @ self.translation


def look_at(position: np.ndarray, target: np.ndarray, roll: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """World->camera (R, t) for a camera at ``position`` looking at ``target`` with world y up."""
    f = target - position
    f = f / np.linalg.norm(f)
    r = np.cross(f, np.array([0.0, 1.0, 0.0]))
    r = r / np.linalg.norm(r)
    d = np.cross(f, r)
    rot = np.stack([r, d, f])
    c, s = np.cos(roll), np.sin(roll)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ rot
    return rot, -rot @ position


def sample_camera(rng: np.random.Generator, target: np.ndarray, path: np.ndarray, yaw: float | None = None) -> Camera:
    """HFOV 50-75 deg, 2-6 m from ``target``, any yaw, height 0.3-2.2 m, roll +-5 deg.

    ``path`` (T, 3) are the subject's root positions; every one stays at least 1.5 m in front of the camera.
    ``yaw`` fixes the viewing direction (0: in front of a subject facing +x, pi/2: its right side, pi: behind).
    """
    width, height = FRAME_SIZES[rng.integers(len(FRAME_SIZES))]
    hfov = np.radians(rng.uniform(50.0, 75.0))
    f = (width / 2) / np.tan(hfov / 2)
    K = np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])
    drawn = rng.uniform(0.0, 2 * np.pi)  # drawn either way, so fixing the yaw leaves every other draw unchanged
    yaw = drawn if yaw is None else yaw
    dist = rng.uniform(2.0, 6.0)
    cam_h = rng.uniform(0.3, 2.2)
    direction = np.array([np.cos(yaw), 0.0, np.sin(yaw)])
    pos = np.array([target[0], cam_h, target[2]]) + dist * direction
    roll = np.radians(rng.uniform(-5.0, 5.0))
    rot, t = look_at(pos, target, roll)
    # A moving subject must stay >= 1.5 m in front of the lens: back the camera away along its axis if needed.
    nearest = float(np.min((path @ rot.T + t)[:, 2])) if len(path) else dist
    if nearest < 1.5:
        pos = pos - rot[2] * (1.5 - nearest)
        rot, t = look_at(pos, target, roll)
    return Camera(rot, t, K, int(width), int(height))


def project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Camera points (..., N, 3) -> pixels (..., N, 2) with intrinsics (..., 3, 3)."""
    z = points[..., 2:3].clamp_min(1e-6)
    uv = points[..., :2] / z
    fx, fy = K[..., 0, 0, None, None], K[..., 1, 1, None, None]
    cx, cy = K[..., 0, 2, None, None], K[..., 1, 2, None, None]
    return torch.cat([uv[..., :1] * fx + cx, uv[..., 1:] * fy + cy], -1)


def crop_boxes(uv: torch.Tensor, radius_px: torch.Tensor, rng: np.random.Generator, margin=ENGINE_MARGIN,
               jitter: float = 0.1) -> torch.Tensor:
    """Square boxes (F, 3) = (x0, y0, size) around projected points (F, N, 2) padded by radius_px (F, N).

    Size is the larger side times a random margin; the centre moves by up to ``jitter`` of the size, as the
    boxes of a person detector do. One margin per sequence, jitter per frame but smoothed.
    """
    lo = (uv - radius_px.unsqueeze(-1)).amin(-2)
    hi = (uv + radius_px.unsqueeze(-1)).amax(-2)
    centre = (lo + hi) / 2
    size = (hi - lo).amax(-1) * float(rng.uniform(*margin))
    n = len(uv)
    shake = torch.as_tensor(rng.uniform(-jitter, jitter, size=(n, 2)), dtype=uv.dtype, device=uv.device)
    if n > 2:  # smooth the jitter over time (a tracker, not white noise)
        kernel = torch.ones(1, 1, 5, dtype=uv.dtype, device=uv.device) / 5
        shake = torch.nn.functional.conv1d(shake.T.unsqueeze(1), kernel, padding=2).squeeze(1).T * 2.0
    centre = centre + shake * size.unsqueeze(-1)
    return torch.cat([centre - size.unsqueeze(-1) / 2, size.unsqueeze(-1)], -1)


def crop_intrinsics(K: torch.Tensor, boxes: torch.Tensor, out_size: int) -> torch.Tensor:
    """Intrinsics (F, 3, 3) mapping camera points to pixels of an ``out_size`` crop of each box (F, 3)."""
    s = out_size / boxes[:, 2]
    Kc = K.expand(len(boxes), 3, 3).clone()
    Kc[:, 0, 0] = K[0, 0] * s
    Kc[:, 1, 1] = K[1, 1] * s
    Kc[:, 0, 2] = (K[0, 2] - boxes[:, 0]) * s
    Kc[:, 1, 2] = (K[1, 2] - boxes[:, 1]) * s
    return Kc
