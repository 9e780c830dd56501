"""Coordinate time series in the skeleton's order: which coordinates turn a full circle (they wrap at +-pi) and
resampling that interpolates those around the circle. Used by the motion bank, its retargeting and the landmark
data's windows."""

from __future__ import annotations

import numpy as np

from ..skeleton.model import Skeleton

__all__ = ["periodic_coordinates", "resample_at"]


def periodic_coordinates(skel: Skeleton) -> np.ndarray:
    """Mask of the rotational coordinates whose range is a full turn (they wrap at +-pi: interpolate around)."""
    return np.array([c.is_rotational and c.range[1] - c.range[0] >= 2 * np.pi - 1e-6 for c in skel.coordinates])


def resample_at(time: np.ndarray, q: np.ndarray, t_new: np.ndarray, periodic: np.ndarray) -> np.ndarray:
    """``q`` (T, C) sampled at ``time`` -> at ``t_new`` (inside the span), linear; ``periodic`` columns unwrapped
    first and wrapped back into [-pi, pi)."""
    q = q.copy()
    q[:, periodic] = np.unwrap(q[:, periodic], axis=0)
    out = np.stack([np.interp(t_new, time, q[:, i]) for i in range(q.shape[1])], 1)
    out[:, periodic] = (out[:, periodic] + np.pi) % (2 * np.pi) - np.pi
    return out
