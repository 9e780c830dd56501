"""Small rotation helpers shared by the skeleton (numpy for constants, torch for batched poses)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["euler_xyz_body_fixed", "axis_angle_matrix", "skew", "rotation_6d_to_matrix", "matrix_to_rotation_6d"]


def _rx(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def euler_xyz_body_fixed(angles: np.ndarray) -> np.ndarray:
    """OpenSim frame ``orientation``: body-fixed X then Y then Z, ``R = Rx @ Ry @ Rz``."""
    x, y, z = (float(a) for a in angles)
    return _rx(x) @ _ry(y) @ _rz(z)


def skew(axis: np.ndarray) -> np.ndarray:
    x, y, z = axis
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def axis_angle_matrix(axis_k: torch.Tensor, axis_k2: torch.Tensor, angle: torch.Tensor,
                      axis_outer: torch.Tensor | None = None) -> torch.Tensor:
    """Rodrigues with a constant unit axis given as ``K = skew(axis)`` and ``K @ K``; angle (...,) -> (..., 3, 3).

    R = I + sin K + (1 - cos) K^2 = a a^T + sin K - cos K^2. Passing the constant ``axis_outer`` (a a^T) keeps
    ``torch.eye`` (an iota, which LiteRT's interpreter lacks) out of exported graphs.
    """
    s = torch.sin(angle)[..., None, None]
    c = torch.cos(angle)[..., None, None]
    if axis_outer is None:
        axis_outer = torch.eye(3, dtype=angle.dtype, device=angle.device) + axis_k2
    return axis_outer + s * axis_k - c * axis_k2


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """Zhou et al. 6D representation -> rotation matrix by Gram-Schmidt; (..., 6) -> (..., 3, 3), columns b1 b2 b3."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rotation_6d(rot: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rotation_6d_to_matrix` (first two columns); (..., 3, 3) -> (..., 6)."""
    return torch.cat([rot[..., :, 0], rot[..., :, 1]], dim=-1)
