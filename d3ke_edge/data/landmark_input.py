"""The landmark model's input: BlazePose's 33 landmarks of one frame as one feature vector (one home for the layout).

Landmarks are made independent of where the person stands and how large they appear: coordinates are taken relative
to the centre of the landmarks' bounding box and divided by its larger side (x2: within -1..1). What that removes
is given back as three camera features, so the pelvis orientation in the camera frame stays predictable off-centre
and the depth stays inferable: the box centre as a ray ((c - principal point) / focal) and the box side / focal.

Layout (``FEATURES`` = 135): 33 x (x, y) normalised, row-major; 33 visibilities; 33 presences (BlazePose's
probabilities, 0..1); then ray_x, ray_y, side_over_focal. With BlazePose's world landmarks (``FEATURES_WORLD`` = 234,
an option of the model): then 33 x (x, y, z) of them, centred on their hips' midpoint and divided by their RMS
distance from it (scale-free: one camera cannot tell a person's size, and BlazePose's metres are a guess of it). The
same function makes the training inputs from projected markers and the inputs of ``infer`` from BlazePose; exports
write ``input_layout()`` into their metadata.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["N_LANDMARKS", "FEATURES", "FEATURES_WORLD", "landmark_features", "landmark_box", "world_normalise",
           "input_layout"]

N_LANDMARKS = 33
FEATURES = N_LANDMARKS * 4 + 3
FEATURES_WORLD = FEATURES + N_LANDMARKS * 3
_HIPS = (23, 24)  # BlazePose's left and right hip: their midpoint is its world landmarks' origin


def landmark_box(xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 33, 2) pixels -> centre (..., 2) of their bounding box and its larger side (..., 1), >= 1 px."""
    lo, hi = xy.amin(-2), xy.amax(-2)
    return (lo + hi) / 2, (hi - lo).amax(-1, keepdim=True).clamp_min(1.0)


def world_normalise(world: torch.Tensor) -> torch.Tensor:
    """3D landmarks (..., 33, 3) in camera axes -> centred on the hips' midpoint, divided by their RMS distance from
    it."""
    centred = world - world[..., _HIPS, :].mean(-2, keepdim=True)
    return centred / centred.square().sum(-1).mean(-1)[..., None, None].sqrt().clamp_min(1e-6)


def _tensor(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a) if not torch.is_tensor(a) else a, dtype=torch.float32)


def landmark_features(xy, visibility, presence, K, world=None) -> torch.Tensor:
    """Landmarks (..., 33, 2) in pixels, visibility and presence (..., 33), intrinsics (..., 3, 3) or (3, 3), and
    optionally BlazePose's world landmarks (..., 33, 3) -> features (..., 135 or 234) float32. numpy inputs are
    accepted."""
    xy, visibility, presence, K = (_tensor(a) for a in (xy, visibility, presence, K))
    if xy.shape[-2:] != (N_LANDMARKS, 2) or visibility.shape[-1] != N_LANDMARKS or presence.shape[-1] != N_LANDMARKS:
        raise ValueError(f"expected landmarks (..., {N_LANDMARKS}, 2) and probabilities (..., {N_LANDMARKS}); got "
                         f"{tuple(xy.shape)}, {tuple(visibility.shape)}, {tuple(presence.shape)}")
    if not torch.isfinite(xy).all():
        raise ValueError("landmarks hold NaN or infinite coordinates")
    centre, side = landmark_box(xy)
    norm = (xy - centre.unsqueeze(-2)) / side.unsqueeze(-2) * 2.0
    f = torch.stack([K[..., 0, 0], K[..., 1, 1]], -1)
    c = torch.stack([K[..., 0, 2], K[..., 1, 2]], -1)
    ray = (centre - c) / f
    size = side / f[..., :1]
    parts = [norm.flatten(-2), visibility, presence, ray, size]
    if world is not None:
        world = _tensor(world)
        if world.shape[-2:] != (N_LANDMARKS, 3) or not torch.isfinite(world).all():
            raise ValueError(f"world landmarks must be finite (..., {N_LANDMARKS}, 3), got {tuple(world.shape)}")
        parts.append(world_normalise(world).flatten(-2))
    return torch.cat(parts, -1)


def input_layout(world: bool = False) -> dict:
    """What an exported landmark model's ``landmarks`` input holds (for the phone app: read, do not copy)."""
    norm = ("box = bounding box of the 33 landmarks in pixels; xy_norm = (xy - box centre) / box's larger side * 2; "
            "ray = (box centre - principal point) / focal (fx, fy); side_over_focal = larger side / fx")
    order = ["xy (33 x 2, row-major)", "visibility (33)", "presence (33)", "ray_x", "ray_y", "side_over_focal"]
    if world:
        order.append("world (33 x 3, row-major)")
        norm += ("; world = BlazePose's world landmarks in camera axes (x right, y down, z forward: its output turned "
                 "by the ROI's rotation) minus the midpoint of landmarks 23 and 24, divided by their RMS distance "
                 "from it")
    return {"name": "landmarks", "features": FEATURES_WORLD if world else FEATURES, "landmarks": N_LANDMARKS,
            "world": world, "order": order, "normalisation": norm,
            "landmark_source": "BlazePose pose_landmark_full (33 body landmarks, MediaPipe order)"}
