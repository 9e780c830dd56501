"""Triangulated trajectories refined over the whole trial at once, as Anipose's spatiotemporal optimisation does
(Karashchuk et al., Cell Reports 2021): every point of every frame is moved to trade its reprojection error in the
views it was triangulated from against two physical facts — trajectories are smooth, and the distance between two
landmarks on one rigid segment (hip and knee, knee and ankle, ...) stays the same in every frame (its length is a
free unknown, one per segment).

Why: per-frame triangulation lets each landmark slide on its own; BlazePose's knee and ankle landmarks slide with the
knee's flexion, so a shank triangulated frame by frame changes length by ~2 cm. The weights are chosen by how well
the refined points predict a camera left out of the fit (the report's held-out figure, ``build._held_out``), not by
the lengths they steady.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..video.landmarks import LANDMARK_NAMES
from .calibration import Camera

__all__ = ["RIGID_SEGMENTS", "RefineConfig", "refine_trajectories", "segment_lengths"]

# Pairs of BlazePose landmarks a rigid segment keeps a constant distance apart (joint centres on one bone, or two
# points on the foot or the pelvis). The report's bone-length stability is measured on the first six.
RIGID_SEGMENTS: tuple[tuple[str, str, str], ...] = (
    ("thigh_l", "left_hip", "left_knee"), ("thigh_r", "right_hip", "right_knee"),
    ("shank_l", "left_knee", "left_ankle"), ("shank_r", "right_knee", "right_ankle"),
    ("upper_arm_l", "left_shoulder", "left_elbow"), ("upper_arm_r", "right_shoulder", "right_elbow"),
    ("forearm_l", "left_elbow", "left_wrist"), ("forearm_r", "right_elbow", "right_wrist"),
    ("pelvis", "left_hip", "right_hip"),
    ("heel_l", "left_ankle", "left_heel"), ("heel_r", "right_ankle", "right_heel"),
    ("foot_l", "left_heel", "left_foot_index"), ("foot_r", "right_heel", "right_foot_index"),
)


@dataclass(frozen=True)
class RefineConfig:
    """Weights of the refinement's three terms; reprojection residuals are in pixels, the others in millimetres."""

    smooth: float = 0.0  # per (mm / frame^2)^2 of each point's acceleration
    length: float = 0.0  # per mm^2 of a segment's departure from its own length
    loss_px: float = 10.0  # reprojection residuals beyond this weigh less (soft-L1, as Anipose)
    iterations: int = 300

    def __post_init__(self) -> None:
        if self.smooth < 0 or self.length < 0 or not self.loss_px > 0 or self.iterations < 1:
            raise ValueError(f"refine weights must be >= 0, loss_px > 0 and iterations >= 1, got {self}")

    @property
    def active(self) -> bool:
        return self.smooth > 0 or self.length > 0


def _pairs() -> np.ndarray:
    """RIGID_SEGMENTS as landmark index pairs (S, 2)."""
    return np.array([[LANDMARK_NAMES.index(a), LANDMARK_NAMES.index(b)] for _, a, b in RIGID_SEGMENTS], int)


def segment_lengths(points: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame length (mm) of every rigid segment of landmarks ``points`` (T, 33, 3) in metres."""
    pairs = _pairs()
    return {name: np.linalg.norm(points[:, a] - points[:, b], axis=-1) * 1000
            for (name, _, _), (a, b) in zip(RIGID_SEGMENTS, pairs)}


def refine_trajectories(cams: list[Camera], xy: np.ndarray, w: np.ndarray, start: np.ndarray,
                        cfg: RefineConfig) -> np.ndarray:
    """Move the triangulated points ``start`` (T, 33, 3, world metres; NaN where none) to minimise

        sum_obs w * softL1(reprojection px)  +  smooth * |acceleration mm/f^2|^2  +  length * (|a - b| - L_seg)^2

    over the observations ``xy`` (T, V, 33, 2) pixels with weights ``w`` (T, V, 33) (0: not used; e.g. the robust
    triangulation's choice of views). Points missing in ``start`` are initialised by interpolation and stay
    missing in the result (the caller's gap rules decide them). -> (T, 33, 3)."""
    import torch

    T, V, N = xy.shape[:3]
    missing = ~np.isfinite(start).all(-1)
    if not cfg.active or missing.all():
        return start.copy()
    init = start.copy()
    tt = np.arange(T)
    for n in range(N):  # linear interpolation (ends held) only to start the solver somewhere sensible
        ok = ~missing[:, n]
        if ok.sum() == 0:
            init[:, n] = np.nanmean(start.reshape(-1, 3), 0)
        elif (~ok).any():
            for k in range(3):
                init[:, n, k] = np.interp(tt, tt[ok], start[ok, n, k])
    # observations in undistorted normalised coordinates, residuals scaled back to pixels by each camera's focal
    xn = np.stack([c.normalise(xy[:, v]) for v, c in enumerate(cams)], 1)  # (T, V, N, 2)
    seen = np.isfinite(xn).all(-1) & (w > 0)
    f = torch.tensor([0.5 * (c.K[0, 0] + c.K[1, 1]) for c in cams], dtype=torch.float64)
    R = torch.tensor(np.stack([c.R for c in cams]), dtype=torch.float64)
    t = torch.tensor(np.stack([c.t for c in cams]), dtype=torch.float64)
    obs = torch.tensor(np.nan_to_num(xn), dtype=torch.float64)
    ww = torch.tensor(np.where(seen, w, 0.0), dtype=torch.float64)
    # a segment counts only where both its ends were triangulated in some frame (feet out of the picture: no feet)
    all_pairs = _pairs()
    both = ~(missing[:, all_pairs[:, 0]] | missing[:, all_pairs[:, 1]])  # (T, S)
    pairs_np = all_pairs[both.any(0)]
    pairs = torch.tensor(pairs_np, dtype=torch.long)
    X = torch.tensor(init, dtype=torch.float64, requires_grad=True)
    seg0 = np.linalg.norm(init[:, pairs_np[:, 0]] - init[:, pairs_np[:, 1]], axis=-1)
    L = torch.tensor(np.nanmedian(np.where(both[:, both.any(0)], seg0, np.nan), 0), dtype=torch.float64,
                     requires_grad=True)
    s = cfg.loss_px

    def cost() -> torch.Tensor:
        cam = torch.einsum("vij,tnj->tvni", R, X) + t[None, :, None]
        z = cam[..., 2:].clamp_min(1e-3)
        r = (cam[..., :2] / z - obs) * f[None, :, None, None]  # px
        r2 = (r ** 2).sum(-1)
        total = (ww * 2 * s * s * (torch.sqrt(1 + r2 / (s * s)) - 1)).sum()
        if cfg.smooth > 0 and T > 2:
            acc = (X[2:] - 2 * X[1:-1] + X[:-2]) * 1000
            total = total + cfg.smooth * (acc ** 2).sum()
        if cfg.length > 0 and len(pairs_np):
            seg = (X[:, pairs[:, 0]] - X[:, pairs[:, 1]]).norm(dim=-1)
            total = total + cfg.length * (((seg - L[None]) * 1000) ** 2).sum()
        return total

    opt = torch.optim.LBFGS([X, L], lr=1, max_iter=cfg.iterations, tolerance_grad=1e-9, tolerance_change=1e-12,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        c = cost()
        c.backward()
        return c

    opt.step(closure)
    out = X.detach().numpy().copy()
    out[missing] = np.nan
    return out
