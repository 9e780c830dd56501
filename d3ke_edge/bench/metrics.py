"""Per-sequence kinematic errors: angles overall and per joint group, joint/marker MPJPE and PA-MPJPE, scale error,
pelvis orientation, and for sequences the acceleration error and jitter.

Groups are read off coordinate names (Rajagopal/OpenCap naming, which the built-in and the Pose2Sim models share);
coordinates of no group are reported as ``other``. Pelvis orientation is the geodesic angle between the predicted and
true pelvis rotations in the camera frame (the root's three angles are not predicted as coordinates).
"""

from __future__ import annotations

import math

import torch

from ..models.kinematic_space import KinematicSpace
from ..train.losses import acceleration_error_mm, metrics

__all__ = ["ANGLE_GROUPS", "coordinate_groups", "pa_mpjpe_mm", "sequence_errors", "side_coordinates"]

ANGLE_GROUPS: dict[str, tuple[str, ...]] = {
    "hips": ("hip_",), "knees": ("knee_",), "ankles_feet": ("ankle_", "subtalar_", "mtp_"), "lumbar": ("lumbar_",),
    "neck": ("neck_",), "shoulders": ("arm_",), "elbows_forearms": ("elbow_", "pro_sup"), "wrists": ("wrist_",),
}


def coordinate_groups(space: KinematicSpace) -> dict[str, list[int]]:
    """Group -> indices into the skeleton's coordinates of the predicted rotational coordinates in it."""
    groups: dict[str, list[int]] = {}
    for i in space.coord_index.tolist():
        coord = space.skeleton.coordinates[i]
        if not coord.is_rotational:
            continue
        name = next((g for g, prefixes in ANGLE_GROUPS.items() if coord.name.startswith(prefixes)), "other")
        groups.setdefault(name, []).append(i)
    return groups


def side_coordinates(space: KinematicSpace) -> dict[str, list[int]]:
    """``left``/``right`` -> indices of the predicted rotational coordinates of that side (``*_l`` / ``*_r``)."""
    out: dict[str, list[int]] = {"left": [], "right": []}
    for i in space.coord_index.tolist():
        coord = space.skeleton.coordinates[i]
        if coord.is_rotational and coord.name.endswith(("_l", "_r")):
            out["left" if coord.name.endswith("_l") else "right"].append(i)
    return {k: v for k, v in out.items() if v}


def pa_mpjpe_mm(pred: torch.Tensor, truth: torch.Tensor) -> float:
    """Mean point error (mm) after the best similarity transform per frame (Procrustes); points (..., N, 3)."""
    p = pred.reshape(-1, *pred.shape[-2:]).double()
    t = truth.reshape(-1, *truth.shape[-2:]).double()
    p0, t0 = p - p.mean(-2, keepdim=True), t - t.mean(-2, keepdim=True)
    u, s, vh = torch.linalg.svd(p0.transpose(-1, -2) @ t0)  # (F, 3, 3)
    d = torch.sign(torch.linalg.det(u @ vh))  # no reflections
    fix = torch.ones_like(s)
    fix[:, -1] = d
    rot = u @ torch.diag_embed(fix) @ vh
    scale = (s * fix).sum(-1) / p0.pow(2).sum((-1, -2))
    aligned = scale[:, None, None] * p0 @ rot + t.mean(-2, keepdim=True)
    return float((aligned - t).norm(dim=-1).mean() * 1000.0)


def _labelled(pred: torch.Tensor, truth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The points (..., N, 3) labelled in every frame of the truth (real data lacks some markers, as NaN)."""
    keep = ~torch.isnan(truth).reshape(-1, *truth.shape[-2:]).any(-1).any(0)
    return pred[..., keep, :], truth[..., keep, :]


def sequence_errors(pred: dict, truth: dict, space: KinematicSpace) -> dict[str, float]:
    """Errors of one sequence (frames on the first axis), the same keys for every model and condition. Values the
    truth does not label (NaN: real data) are left out; a metric with no labelled value is NaN."""
    out = metrics(pred, truth, space)  # angle_mae_deg, joint/marker MPJPE, scale_mae, pelvis_rot_err_deg
    dq = (pred["coordinates"] - truth["coordinates"]).abs() * (180.0 / math.pi)
    for group, idx in coordinate_groups(space).items():
        out[f"angle_{group}_deg"] = float(dq[..., idx].nanmean())
    for side, idx in side_coordinates(space).items():  # a flipped video swaps them: the flip plot shows both
        out[f"angle_{side}_deg"] = float(dq[..., idx].nanmean())
    joints, joints_t = _labelled(pred["joints_rel"], truth["joints_rel"])
    markers, markers_t = _labelled(pred["markers_rel"], truth["markers_rel"])
    out["joint_pa_mpjpe_mm"] = pa_mpjpe_mm(joints, joints_t) if joints.shape[-2] >= 3 else math.nan
    out["marker_pa_mpjpe_mm"] = pa_mpjpe_mm(markers, markers_t) if markers.shape[-2] >= 3 else math.nan
    if len(markers) >= 3:  # (T, N, 3): frame-to-frame smoothness
        out["marker_accel_err_mm"] = acceleration_error_mm(markers[None], markers_t[None])
        second = markers[2:] - 2 * markers[1:-1] + markers[:-2]
        out["marker_jitter_mm"] = float(second.norm(dim=-1).mean() * 1000.0)
    return out
