"""D3KE's training loss and the validation metrics (one copy of each, shared by every stage)."""

from __future__ import annotations

import math

import torch

from ..models.kinematic_space import KinematicSpace
from .config import LossConfig

__all__ = ["d3ke_loss", "acceleration_loss", "metrics", "acceleration_error_mm", "mean_pose_metrics"]


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


def _point_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean L1 over xyz of points (..., N, 3); NaN targets (unlabelled) are masked out."""
    ok = torch.isfinite(target).all(-1, keepdim=True).expand_as(target)
    return _masked_mean((pred - torch.nan_to_num(target)).abs(), ok)


def angle_loss(pred_q: torch.Tensor, target_q: torch.Tensor, valid: torch.Tensor, space: KinematicSpace) -> torch.Tensor:
    """Range-normalised smooth-L1 in degrees: each error rescaled so a coordinate's full range counts 180 deg."""
    idx = space.coord_index
    rng = (2.0 * space.coord_half).clamp_min(1e-6)
    err = (pred_q[..., idx] - torch.nan_to_num(target_q[..., idx])) / rng * 180.0
    ok = valid[..., idx] & torch.isfinite(target_q[..., idx])
    return _masked_mean(torch.nn.functional.smooth_l1_loss(err, torch.zeros_like(err), reduction="none", beta=1.0), ok)


def d3ke_loss(pred: dict, target: dict, space: KinematicSpace, w: LossConfig,
              teacher: dict | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted marker + joint + scale + angle loss (and a distillation term against ``teacher`` outputs)."""
    valid = target.get("coordinates_valid", torch.ones_like(target["coordinates"], dtype=torch.bool))
    terms = {
        "marker": _point_l1(pred["markers_rel"], target["markers_rel"]),
        "joint": _point_l1(pred["joints_rel"], target["joints_rel"]),
        "scale": _masked_mean((pred["scales"] - torch.nan_to_num(target["scales"])).abs(),
                              torch.isfinite(target["scales"])),
        "angle": angle_loss(pred["coordinates"], target["coordinates"], valid, space),
    }
    total = w.marker * terms["marker"] + w.joint * terms["joint"] + w.scale * terms["scale"] + w.angle * terms["angle"]
    if w.rotation:
        rot_ok = torch.isfinite(target["pelvis_rot_cam"]).all(-1).all(-1)
        err = (pred["pelvis_rot_cam"] - torch.nan_to_num(target["pelvis_rot_cam"])).flatten(-2).norm(dim=-1)
        terms["rotation"] = _masked_mean(err, rot_ok)
        total = total + w.rotation * terms["rotation"]
    if teacher is not None:
        t = {k: v.detach() for k, v in teacher.items()}
        distil = (w.marker * _point_l1(pred["markers_rel"], t["markers_rel"])
                  + w.joint * _point_l1(pred["joints_rel"], t["joints_rel"])
                  + w.scale * (pred["scales"] - t["scales"]).abs().mean()
                  + w.angle * angle_loss(pred["coordinates"], t["coordinates"], torch.ones_like(valid), space))
        terms["teacher"] = distil
        total = total + w.teacher * distil
    return total, {k: float(v.detach()) for k, v in terms.items()}


def _accel(x: torch.Tensor) -> torch.Tensor:
    """Second difference over time of (B, T, ...) -> (B, T-2, ...)."""
    return x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]


def acceleration_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean L1 between predicted and true accelerations of points (B, T, N, 3) (m/frame^2); unlabelled masked.

    Not in D3KE (a per-frame method); it makes temporal heads trade frame-to-frame jitter for accuracy explicitly.
    """
    return _point_l1(_accel(pred), _accel(target))


@torch.no_grad()
def metrics(pred: dict, target: dict, space: KinematicSpace) -> dict[str, float]:
    """Angle MAE (deg, rotational predicted coordinates), joint/marker MPJPE (mm), scale MAE, pelvis angle (deg)."""
    idx = space.coord_index
    rot = torch.as_tensor([space.skeleton.coordinates[i].is_rotational for i in idx.tolist()], device=idx.device)
    dq = (pred["coordinates"][..., idx] - target["coordinates"][..., idx]).abs()
    angle = dq[..., rot].nanmean() * 180.0 / math.pi  # NaN: a value the data does not label (real data)
    mpjpe = lambda a, b: (a - b).norm(dim=-1).nanmean() * 1000.0  # noqa: E731
    r_rel = pred["pelvis_rot_cam"].transpose(-1, -2) @ target["pelvis_rot_cam"]
    cos = ((r_rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0).clamp(-1.0, 1.0)
    return {
        "angle_mae_deg": float(angle),
        "joint_mpjpe_mm": float(mpjpe(pred["joints_rel"], target["joints_rel"])),
        "marker_mpjpe_mm": float(mpjpe(pred["markers_rel"], target["markers_rel"])),
        "scale_mae": float((pred["scales"] - target["scales"]).abs().nanmean()),
        "pelvis_rot_err_deg": float(torch.rad2deg(torch.arccos(cos)).nanmean()),
    }


@torch.no_grad()
def acceleration_error_mm(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean |second difference| error of points (B, T, N, 3) in mm/frame^2 (smoothness, as in VideoPose3D)."""
    return float((_accel(pred) - _accel(target)).norm(dim=-1).mean() * 1000.0)


@torch.no_grad()
def mean_pose_metrics(target: dict, space: KinematicSpace) -> dict[str, float]:
    """The constant predictor: every frame gets the set's own mean coordinates, scales and root-relative points.

    Using the evaluated set's own means makes this the strongest constant baseline, so beating it is meaningful.
    """
    idx = space.coord_index
    rot = torch.as_tensor([space.skeleton.coordinates[i].is_rotational for i in idx.tolist()], device=idx.device)
    q = target["coordinates"][..., idx][..., rot]
    mean_pt = lambda x: (x - x.nanmean(0, keepdim=True)).norm(dim=-1).nanmean() * 1000.0  # noqa: E731
    return {
        "angle_mae_deg": float((q - q.mean(0, keepdim=True)).abs().mean() * 180.0 / math.pi),
        "joint_mpjpe_mm": float(mean_pt(target["joints_rel"])),
        "marker_mpjpe_mm": float(mean_pt(target["markers_rel"])),
    }
