"""Two triangulations of one trial as points: aligned by one rigid transform, and the angle each limb chain makes at
its middle point — a comparison with no model and no IK, so a difference can be traced to the points themselves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io.trc import read_trc
from ..reference.opensim_tools import POSE2SIM_NAMES

__all__ = ["CHAINS", "AlignedPoints", "align_points", "chain_angle"]


def _kabsch(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation R and translation t with R a + t ~ b (least squares, no scale) over rows of (N, 3)."""
    ma, mb = a.mean(0), b.mean(0)
    U, _, Vt = np.linalg.svd((a - ma).T @ (b - mb))
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(Vt.T @ U.T))])
    R = Vt.T @ D @ U.T
    return R, mb - R @ ma


# (the angle's name, the three keypoints of the chain) by BlazePose landmark; matched to the other file by name
CHAINS = (("knee_l", ("left_hip", "left_knee", "left_ankle")), ("knee_r", ("right_hip", "right_knee", "right_ankle")),
          ("elbow_l", ("left_shoulder", "left_elbow", "left_wrist")),
          ("elbow_r", ("right_shoulder", "right_elbow", "right_wrist")))


def chain_angle(P: np.ndarray) -> np.ndarray:
    """Flexion (deg; 0 = straight) at the middle of three points (T, 3, 3)."""
    u, v = P[:, 0] - P[:, 1], P[:, 2] - P[:, 1]
    cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return 180.0 - np.degrees(np.arccos(np.clip(cos, -1, 1)))


@dataclass
class AlignedPoints:
    """Two triangulations of one trial on common rows, the other's moved into our frame by one rigid transform."""

    names: list[str]  # BlazePose landmark names both have
    ours_rows: list[int]  # our frame index of each compared row
    ours: np.ndarray  # (F, K, 3) our points (our .trc's frame, metres)
    other: np.ndarray  # (F, K, 3) theirs, aligned
    rotation: np.ndarray  # theirs -> ours
    translation: np.ndarray


def align_points(ours_trc: str | Path, other_trc: str | Path, lag_s: float = 0.0) -> AlignedPoints:
    """Our ``.trc`` (BlazePose names ``bp_*`` or Pose2Sim's) and another triangulation (``LKnee``, ...) on the rows
    both have (ours at ``t``, theirs at ``t + lag_s``), theirs moved by one rigid transform fitted over every shared
    keypoint and frame (the two world frames differ)."""
    a, b = read_trc(ours_trc), read_trc(other_trc)

    def index(table, landmark: str) -> int | None:
        for cand in (f"bp_{landmark}", POSE2SIM_NAMES.get(landmark), landmark):
            if cand in table.names:
                return table.names.index(cand)
        return None

    shared = [(lm, index(a, lm), index(b, lm)) for lm in POSE2SIM_NAMES]
    shared = [s for s in shared if s[1] is not None and s[2] is not None]
    if len(shared) < 4:
        raise ValueError(f"'{ours_trc}' and '{other_trc}' share {len(shared)} keypoints; at least 4 are needed to "
                         "align them (BlazePose names bp_<landmark> or Pose2Sim's LKnee, RHip, ...)")
    t = a.time + lag_s
    rows = [(i, int(round(np.interp(ti, b.time, np.arange(len(b.time)))))) for i, ti in enumerate(t)
            if b.time[0] - 1e-9 <= ti <= b.time[-1] + 1e-9]
    A = np.stack([a.positions[i][[s[1] for s in shared]] for i, _ in rows])  # (F, K, 3)
    B = np.stack([b.positions[j][[s[2] for s in shared]] for _, j in rows])
    ok = np.isfinite(A).all(-1) & np.isfinite(B).all(-1)
    R, tr = _kabsch(B[ok], A[ok])
    return AlignedPoints([s[0] for s in shared], [i for i, _ in rows], A, B @ R.T + tr, R, tr)
