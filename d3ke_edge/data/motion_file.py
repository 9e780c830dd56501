"""Drive the synthetic engine with recorded motion: an OpenSim .mot/.sto resampled to the video frame rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.mot import MotionFileError, read_mot
from ..skeleton.model import Skeleton

__all__ = ["load_motion"]


def load_motion(path: str | Path, skel: Skeleton, fps: float) -> np.ndarray:
    """(T, n_coords) at ``fps``: columns matched by coordinate name, missing coordinates at their defaults.

    Resampling is linear in time over the file's span; a file that names none of the skeleton's coordinates,
    or whose time column is not increasing, is an error.
    """
    table = read_mot(path, skel)
    shared = [n for n in table.labels if n in skel.coordinate_names]
    if not shared:
        raise MotionFileError(f"{path}: none of its columns name a coordinate of '{skel.name}' "
                              f"(expected names like {skel.coordinate_names[:4]})")
    if len(table.time) < 2 or np.any(np.diff(table.time) <= 0):
        raise MotionFileError(f"{path}: the time column must hold at least two strictly increasing values")
    q = table.to_skeleton_order(skel)
    t_new = np.arange(table.time[0], table.time[-1] + 1e-9, 1.0 / fps)
    return np.stack([np.interp(t_new, table.time, q[:, i]) for i in range(q.shape[1])], axis=1)
