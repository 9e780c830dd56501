"""Motion recorded on another skeleton, moved onto ours: our differentiable FK fitted to the other skeleton's joint
centres (hips, knees, ankles, shoulders, elbows, wrists), or to a lab's markers where ours sit at the same
landmarks (a Plug-in Gait C3D: ASIS, lateral knee, acromion, ...), over a whole clip — the coordinates per frame, one
scale per body for the clip (the subject's proportions) — with the joint ranges, smoothness over time and a weak
hold of what joint centres cannot see (forearm rotation, wrists, toes) as penalties.

The fit error (joint-centre distance, mm) is the retargeting's own measure; two skeletons never put a joint at
exactly the same place, so it has a floor of a few centimetres where their definitions differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..skeleton.fk import ForwardKinematics
from ..skeleton.model import Skeleton
from .resample import periodic_coordinates

__all__ = ["JointFit", "fit_joint_centres", "HELD_COORDINATES"]

# what joint centres leave free: held weakly at their defaults
HELD_COORDINATES = ("pro_sup", "wrist_flex", "wrist_dev", "subtalar", "mtp", "neck_")


@dataclass
class JointFit:
    q: np.ndarray  # (T, n_coords) radians / metres
    scales: np.ndarray  # (n_clips, n_bodies, 3)
    errors_mm: np.ndarray  # (T, n_joints) joint-centre distance per frame, in the targets' order
    joints: list[str]

    def clip_error(self, rows: np.ndarray | slice = slice(None)) -> dict[str, float]:
        """Median and 90th percentile (mm) over the given frames and every joint, and each joint's median."""
        e = self.errors_mm[rows]
        return {"median_mm": float(np.median(e)), "p90_mm": float(np.percentile(e, 90)),
                **{f"{n}_mm": float(np.median(e[:, k])) for k, n in enumerate(self.joints)}}


def _yaw(right: np.ndarray) -> np.ndarray:
    """pelvis_rotation that turns a body's +z (its right) onto the horizontal part of ``right`` (T, 3), unwrapped."""
    return np.unwrap(np.arctan2(right[:, 0], right[:, 2]))


def _initial_pose(skel: Skeleton, fk: ForwardKinematics, targets: dict[str, np.ndarray],
                  pair: tuple[str, str]) -> tuple[np.ndarray, float]:
    """Where the fit starts: upright, facing each frame's hip axis, the pelvis placed so the hips' midpoint matches;
    and the body's scale from the legs' length (1 without leg targets)."""
    names, markers, cn = [j.name for j in skel.joints], skel.marker_names, skel.coordinate_names
    T = len(targets[pair[0]])
    q0 = np.tile(skel.defaults, (T, 1)).astype(np.float32)
    q0[:, cn.index("pelvis_rotation")] = _yaw(targets[pair[0]] - targets[pair[1]])
    ones = torch.ones(len(skel.bodies), 3)
    with torch.no_grad():
        res = fk(torch.from_numpy(q0), ones.expand(T, -1, -1))
        jc = torch.cat([res.joint_centres, res.markers], 1)
        table = names + markers
        mid = (jc[:, table.index(pair[0])] + jc[:, table.index(pair[1])]) / 2
        want = torch.from_numpy(((targets[pair[0]] + targets[pair[1]]) / 2).astype(np.float32))
        for k, c in enumerate(("pelvis_tx", "pelvis_ty", "pelvis_tz")):
            q0[:, cn.index(c)] += (want - mid)[:, k].numpy()
        legs = [("hip_r", "knee_r"), ("knee_r", "ankle_r"), ("hip_l", "knee_l"), ("knee_l", "ankle_l"),
                ("ASIS_r", "knee_lat_r"), ("knee_lat_r", "ankle_lat_r"), ("ASIS_l", "knee_lat_l"),
                ("knee_lat_l", "ankle_lat_l")]
        have = [(a, b) for a, b in legs if a in targets and b in targets]
        ratio = np.median([np.linalg.norm(targets[a] - targets[b], axis=-1).mean()
                           / float((jc[0, table.index(a)] - jc[0, table.index(b)]).norm()) for a, b in have]) \
            if have else 1.0
    return q0, ratio


def fit_joint_centres(skel: Skeleton, targets: dict[str, np.ndarray], clip: np.ndarray | None = None,
                      weights: dict[str, float] | None = None, iterations: int = 200, smooth: float = 1e-3,
                      hold: float = 1e-3, range_weight: float = 10.0, lr: float = 0.05) -> JointFit:
    """Fit ``skel`` to ``targets`` (our joint or marker name -> (T, 3) metres, Y up; must include both hips or both
    ASIS markers).
    ``clip`` (T,) ints: several clips fitted at once, one set of body scales each (a step costs about the same for
    one frame or thousands: batching a source's clips is what makes the import fast); smoothness never spans two
    clips. ``weights``: per joint (default 1). Adam on coordinates and log body scales, from an upright pose facing
    each frame's hip axis. -> the coordinates, scales and the fit's error per frame."""
    names = [j.name for j in skel.joints]
    markers = skel.marker_names
    unknown = [n for n in targets if n not in names and n not in markers]
    pair = next((p for p in (("hip_r", "hip_l"), ("ASIS_r", "ASIS_l")) if set(p) <= set(targets)), None)
    if unknown or pair is None:
        raise ValueError(f"targets must name joints or markers of '{skel.name}' and include hip_r and hip_l (or "
                         f"ASIS_r and ASIS_l); unknown: {unknown}")
    order = list(targets)
    # joint centres and markers in one table: joints first, then markers (index + number of joints)
    idx = torch.tensor([names.index(n) if n in names else len(names) + markers.index(n) for n in order])
    X = torch.tensor(np.stack([targets[n] for n in order], 1), dtype=torch.float32)  # (T, J, 3)
    if not torch.isfinite(X).all():
        raise ValueError("joint-centre targets hold non-finite values")
    w = torch.tensor([(weights or {}).get(n, 1.0) for n in order], dtype=torch.float32)
    T = X.shape[0]
    clip_np = np.zeros(T, int) if clip is None else np.asarray(clip, int)
    if clip_np.shape != (T,) or clip_np.min() < 0:
        raise ValueError(f"clip must hold a non-negative index per frame ({T}), got shape {clip_np.shape}")
    n_clips = int(clip_np.max()) + 1
    clip_t = torch.from_numpy(clip_np)
    same = torch.from_numpy((clip_np[2:] == clip_np[1:-1]) & (clip_np[1:-1] == clip_np[:-2])).float()[:, None]
    fk = ForwardKinematics(skel)
    cn = skel.coordinate_names
    q0, ratio = _initial_pose(skel, fk, targets, pair)
    q = torch.tensor(q0, requires_grad=True)
    log_s = torch.full((n_clips, len(skel.bodies)), float(np.log(ratio)), requires_grad=True)
    lo, hi = torch.tensor(skel.ranges, dtype=torch.float32).unbind(-1)
    periodic = periodic_coordinates(skel)
    bounded = torch.tensor([c.is_rotational for c in skel.coordinates]) & ~torch.from_numpy(periodic)
    held = torch.tensor([n.startswith(HELD_COORDINATES) for n in cn])
    default = torch.tensor(skel.defaults, dtype=torch.float32)
    opt = torch.optim.Adam([{"params": [q], "lr": lr}, {"params": [log_s], "lr": lr / 3}])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iterations)
    for _ in range(iterations):
        opt.zero_grad()
        s = log_s.exp()[clip_t][..., None].expand(-1, -1, 3)  # (T, bodies, 3)
        res = fk(q, s)
        pred = torch.cat([res.joint_centres, res.markers], 1)[:, idx]
        loss = (w * ((pred - X) ** 2).sum(-1)).mean() * 1e3  # ~mm^2 / 1000
        over = torch.relu(lo - q) + torch.relu(q - hi)
        loss = loss + range_weight * (over[:, bounded] ** 2).mean()
        loss = loss + hold * ((q - default)[:, held] ** 2).mean()
        if T > 2:
            loss = loss + smooth * (same * (q[2:] - 2 * q[1:-1] + q[:-2]) ** 2).mean() * 1e3
        loss = loss + 1e-2 * ((log_s - log_s.mean(1, keepdim=True)) ** 2).mean()  # proportions, not a new species
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        q_fit = torch.where(bounded, q.clamp(lo, hi), q)
        s = log_s.exp()[..., None].expand(-1, -1, 3)
        res = fk(q_fit, s[clip_t])
        err = (torch.cat([res.joint_centres, res.markers], 1)[:, idx] - X).norm(dim=-1).numpy() * 1000
    q_np = q_fit.numpy().astype(np.float64)
    wrap = np.flatnonzero(periodic)
    q_np[:, wrap] = (q_np[:, wrap] + np.pi) % (2 * np.pi) - np.pi
    return JointFit(q_np, s.numpy().astype(np.float64), err.astype(np.float64), order)
