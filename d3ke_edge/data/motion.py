"""Procedural, human-like motion for the built-in skeleton (names follow Rajagopal/OpenCap).

Every family returns coordinates (T, n_coords) in the skeleton's order, radians/metres, smooth in time and
inside the coordinate ranges, with the root height set so the lowest foot marker touches the floor.
"""

from __future__ import annotations

import numpy as np
import torch

from ..skeleton.fk import ForwardKinematics
from ..skeleton.model import Skeleton

__all__ = ["walking", "plant_feet", "FOOT_MARKERS"]

FOOT_MARKERS = ("heel_r", "heel_l", "toe_r", "toe_l", "mt1_r", "mt1_l", "mt5_r", "mt5_l")


def _set(q: np.ndarray, skel: Skeleton, name: str, values: np.ndarray) -> None:
    q[:, skel.coordinate_names.index(name)] = values


def plant_feet(skel: Skeleton, q: np.ndarray, markers: tuple[str, ...] = FOOT_MARKERS, floor: float = 0.0) -> np.ndarray:
    """Shift pelvis_ty per frame so that the lowest of ``markers`` sits on the floor (y = ``floor``)."""
    idx = [skel.marker_names.index(m) for m in markers if m in skel.marker_names]
    if not idx:
        raise ValueError(f"skeleton '{skel.name}' has none of the foot markers {markers}")
    with torch.no_grad():
        y = ForwardKinematics(skel, torch.float64)(torch.as_tensor(q)).markers[:, idx, 1].amin(-1).numpy()
    out = q.copy()
    out[:, skel.coordinate_names.index("pelvis_ty")] += floor - y
    return out


def walking(skel: Skeleton, seconds: float = 2.0, fps: float = 30.0, speed: float = 1.3, cadence: float = 1.8) -> np.ndarray:
    """A straight walk along +x: gait-shaped hip/knee/ankle curves, counter-swinging arms, pelvis rotation.

    ``cadence`` is in steps per second (two steps make one gait cycle); adults walk at ~1.8 steps/s at 1.3 m/s.
    """
    t = np.arange(int(round(seconds * fps))) / fps
    q = np.tile(skel.defaults, (len(t), 1))
    phase = 2 * np.pi * (cadence / 2) * t
    deg = np.radians
    for side, shift in (("r", 0.0), ("l", np.pi)):
        p = phase + shift
        _set(q, skel, f"hip_flexion_{side}", deg(10 + 25 * np.sin(p)))
        # Knee: small stance bump, large swing peak (~60 deg) just after toe-off.
        knee = 8 + 10 * np.clip(np.sin(p + 0.6), 0, None) + 52 * np.clip(np.sin(p - 2.2), 0, None) ** 1.5
        _set(q, skel, f"knee_angle_{side}", deg(knee))
        _set(q, skel, f"ankle_angle_{side}", deg(3 + 10 * np.sin(p - 1.2)))
        _set(q, skel, f"arm_flex_{side}", deg(-15 * np.sin(p)))
        _set(q, skel, f"arm_add_{side}", deg(-8 + 0 * p))
        _set(q, skel, f"elbow_flex_{side}", deg(20 + 10 * np.sin(p + np.pi)))
    _set(q, skel, "pelvis_rotation", deg(5 * np.sin(phase)))
    _set(q, skel, "pelvis_list", deg(3 * np.sin(2 * phase)))
    _set(q, skel, "lumbar_rotation", deg(-4 * np.sin(phase)))
    _set(q, skel, "pelvis_tx", speed * t)
    return plant_feet(skel, q)
