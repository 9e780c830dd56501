"""Marker trajectories from a C3D file (read with the ``c3d`` package from PyPI), named as our skeleton's markers.

A lab's Plug-in Gait markers sit on landmarks our built-in markers also mark (``PLUG_IN_GAIT``: ASIS, PSIS, the
lateral knee and ankle, heel, toe, acromion, lateral elbow, both wrist styloids, C7, T10, the sternum, the head):
those are what the retargeting fits. Wand markers (thigh, tibia, upper arm, forearm) sit anywhere along a segment and
are left out. The file's units and vertical axis are read from it and turned into metres, Y up.

Gaps: a marker missing for up to ``MAX_GAP`` frames is interpolated; a marker missing in more than
``MAX_MISSING`` of the frames is dropped (if it is needed, the clip is refused); what is left is cut to its longest
stretch in which every kept marker is seen.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np

__all__ = ["C3DError", "PLUG_IN_GAIT", "NEEDED", "read_c3d_markers"]

# Plug-in Gait label -> our built-in skeleton's marker at the same landmark
PLUG_IN_GAIT = {
    "LASI": "ASIS_l", "RASI": "ASIS_r", "LPSI": "PSIS_l", "RPSI": "PSIS_r",
    "LKNE": "knee_lat_l", "RKNE": "knee_lat_r", "LANK": "ankle_lat_l", "RANK": "ankle_lat_r",
    "LHEE": "heel_l", "RHEE": "heel_r", "LTOE": "toe_l", "RTOE": "toe_r",
    "LSHO": "acromion_l", "RSHO": "acromion_r", "LELB": "elbow_lat_l", "RELB": "elbow_lat_r",
    "LWRA": "wrist_rad_l", "RWRA": "wrist_rad_r", "LWRB": "wrist_uln_l", "RWRB": "wrist_uln_r",
    "C7": "C7", "T10": "T10", "CLAV": "sternum_jugular", "STRN": "sternum_xiphoid",
}  # the head markers are left out: a headband sits where the lab puts it (5-6 cm from ours on the tennis serve)
# without these a body cannot be placed and its legs and arms followed
NEEDED = ("LASI", "RASI", "LKNE", "RKNE", "LANK", "RANK", "LSHO", "RSHO", "LELB", "RELB", "LWRA", "RWRA")
MAX_GAP = 10  # frames
MAX_MISSING = 0.2  # fraction of frames
MIN_FRAMES = 10


class C3DError(ValueError):
    """A C3D file we cannot use; the message names the file and the reason."""


def _fill_gaps(x: np.ndarray, max_gap: int) -> np.ndarray:
    """Linear interpolation over runs of NaN rows no longer than ``max_gap`` (x: (T, 3))."""
    out = x.copy()
    bad = np.isnan(x).any(1)
    t = 0
    while t < len(x):
        if not bad[t]:
            t += 1
            continue
        end = t
        while end < len(x) and bad[end]:
            end += 1
        if 0 < t and end < len(x) and end - t <= max_gap:
            w = (np.arange(t, end) - (t - 1)) / (end - (t - 1))
            out[t:end] = x[t - 1] * (1 - w[:, None]) + x[end] * w[:, None]
        t = end
    return out


def read_c3d_markers(path: str | Path) -> tuple[np.ndarray, dict[str, np.ndarray], list[str]]:
    """(time (T,) s, our marker name -> (T, 3) metres Y up, the file's labels left out) of a C3D file.
    No needed Plug-in Gait marker, a file ``c3d`` cannot parse, or too few usable frames: a ``C3DError``."""
    import c3d

    path = Path(path)
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no analog data" and missing optional parameters
            reader = c3d.Reader(f)
            labels = [lb.strip().split(":")[-1] for lb in reader.point_labels]
            rate = float(reader.point_rate)
            unit = reader.get("POINT:UNITS")
            unit = unit.string_value.strip("\x00 ").lower() if unit is not None else "mm"
            frames = [points.copy() for _, points, _ in reader.read_frames()]
    except (OSError, ValueError, EOFError, AssertionError, struct.error) as exc:
        raise C3DError(f"'{path}' cannot be read as C3D ({type(exc).__name__}: {exc})") from exc
    if not frames or rate <= 0:
        raise C3DError(f"'{path}' holds no point frames")
    pts = np.stack(frames)  # (T, N, 5): x, y, z, residual (-1: not seen), cameras
    xyz = np.where(pts[..., 3:4] < 0, np.nan, pts[..., :3]) * (1.0 if unit == "m" else 1e-3)
    missing = [m for m in NEEDED if m not in labels]
    if missing:
        have = sorted(set(labels) & set(PLUG_IN_GAIT))
        raise C3DError(f"'{path}' lacks the Plug-in Gait markers {missing} that place the body and follow its limbs "
                       f"(it has {have or 'none of them'}; its labels: {labels[:8]}...): not a full-body marker set "
                       "we can retarget")
    # the vertical axis: the one along which the shoulders sit furthest from the ankles
    sho = np.nanmean(xyz[:, [labels.index("LSHO"), labels.index("RSHO")]], axis=(0, 1))
    ank = np.nanmean(xyz[:, [labels.index("LANK"), labels.index("RANK")]], axis=(0, 1))
    up = int(np.nanargmax(np.abs(sho - ank)))
    sign = np.sign((sho - ank)[up])
    # a proper rotation taking the vertical axis to +Y
    to_y = {0: np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]]), 1: np.eye(3),
            2: np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0.0]])}[up]
    if sign < 0:  # upside down: half a turn about x
        to_y = np.diag([1.0, -1.0, -1.0]) @ to_y
    markers, dropped = {}, []
    for lb, ours in PLUG_IN_GAIT.items():
        if lb not in labels:
            continue
        x = _fill_gaps(xyz[:, labels.index(lb)] @ to_y.T, MAX_GAP)
        if np.isnan(x).any(1).mean() > MAX_MISSING:
            if lb in NEEDED:
                raise C3DError(f"'{path}': marker {lb} is missing in {100 * np.isnan(x).any(1).mean():.0f} % of "
                               f"the frames (more than {100 * MAX_MISSING:.0f} %)")
            dropped.append(lb)
            continue
        markers[ours] = x
    seen = np.all([~np.isnan(v).any(1) for v in markers.values()], 0)
    edges = np.diff(np.concatenate([[0], seen.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # every complete stretch
    k = len(starts) - 1 - int(np.argmax((ends - starts)[::-1])) if len(starts) else None  # the longest, the last
    length, first = (int(ends[k] - starts[k]), int(starts[k])) if k is not None else (0, 0)
    if length < MIN_FRAMES:
        raise C3DError(f"'{path}': no stretch of {MIN_FRAMES} frames in which every marker is seen")
    rows = slice(first, first + length)
    left_out = [lb for lb in labels if lb not in PLUG_IN_GAIT] + dropped
    return np.arange(length) / rate, {k: v[rows] for k, v in markers.items()}, left_out

