"""The fit to the image: after the network (and its causal head), move the pose so that our BlazePose marker set,
projected through the frame's camera, lands on BlazePose's landmarks.

Per frame, one Gauss-Newton step on the body's place (pelvis rotation in the camera, root position), then
``iterations`` on everything (also every predicted coordinate and the subject's proportions) minimise

- the landmarks' reprojection error, each in units of its own measured error (the median BlazePose residual of that
  landmark on the engine's renders, ``data.landmark_noise``, x the landmark box's side), weighted by BlazePose's
  visibility and made robust by Huber weights (a landmark on the wrong limb pulls with bounded force);
- a pull toward the network's prediction (``prior_deg``, ``prior_rotation_deg``): a single view does not see depth,
  the network guesses it; each frame starts from the network's pose (starting from the last fit kept bad basins);
- smoothness: a pull toward the previous frame's fit (``smooth_deg_per_s`` x dt; ``momentum`` > 0 continues its
  velocity instead) — causal, so it streams frame by frame as the phone runs it;
- the joint ranges, by clamping every step into them.

The subject's proportions: one scale factor per body group (left and right share one) on top of the network's
scales averaged over the stretch. A single camera cannot tell a larger person further away from a smaller one
nearer, but it sees proportions; what each frame says about them (the Schur complement of its normal equations) is
accumulated with a forgetting factor (``scale_forget``) on top of a prior (``scale_sigma``) — a recursive estimate,
one person, one body.

The Jacobian is by forward differences: our float64 FK runs once per step on a batch of the current pose and one
pose per coordinate and per scale group moved by ``EPS`` (one batched call costs about what one pose does); rotation
and translation are differentiated in closed form. Markers and joint centres for the outputs come from the same
batch, moved by the step (first order), so no extra FK call is made.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.landmark_noise import NOISE_FILE
from ..skeleton.fk import ForwardKinematics
from ..skeleton.mirror import side_partner
from ..skeleton.model import GROUND, Skeleton
from .config import FitConfig

__all__ = ["FitConfig", "FitError", "ImageFit"]  # FitConfig lives in infer.config (the CLI reads its defaults)

EPS = 1e-4  # rad (or m): forward-difference step of each coordinate


class FitError(ValueError):
    """The fit cannot run for this model (its skeleton has no BlazePose markers); the message says what to do."""


class ImageFit:
    """The causal fit of one tracked person; ``step`` per frame, ``reset`` when the track breaks."""

    def __init__(self, skeleton: Skeleton, landmark_markers: list[str], predicted: list[str],
                 root_coordinates: list[str], marker_names: list[str], cfg: FitConfig | None = None):
        """``skeleton`` carries the landmark markers (``landmark_markers``, BlazePose's order); ``predicted`` are
        the coordinates the network predicts (the fit moves them), ``marker_names`` the model's own markers (the
        ``markers_rel`` output's order)."""
        self.cfg = cfg or FitConfig()
        names = skeleton.coordinate_names
        self.skeleton = skeleton
        self.free = np.array([names.index(n) for n in predicted])
        self.root = np.array([names.index(n) for n in root_coordinates])
        self.lo, self.hi = skeleton.ranges[self.free, 0], skeleton.ranges[self.free, 1]
        self.lm_index = np.array([skeleton.marker_names.index(m) for m in landmark_markers])
        self.n_markers = len(skeleton.marker_names)
        self.out_markers = np.array([skeleton.marker_names.index(m) for m in marker_names])
        root_joint = next(j for j in skeleton.joints if j.parent == GROUND)
        self.root_body = skeleton.body_index(root_joint.child)
        self.fk = ForwardKinematics(skeleton, torch.float64)
        self.sigma = landmark_sigma() * self.cfg.sigma_scale  # (33,) per axis, in landmark-box sides
        # one uniform scale factor per body group, left and right sharing one (as the network predicts them)
        keys = [min(b, side_partner(b, skeleton.body_names)) for b in skeleton.body_names]
        groups = list(dict.fromkeys(keys))
        self.body_group = np.array([groups.index(k) for k in keys])
        self.n_groups = len(groups)
        self.reset()

    def reset(self) -> None:
        self._prev: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None  # q, R, t, time
        self._velocity: tuple[np.ndarray, np.ndarray] | None = None  # free coordinates' (rad/s), rotation's (rad/s)
        self._scale_sum: np.ndarray | None = None
        self._scale_n = 0
        self._g = np.ones(self.n_groups)  # the subject's scale factors per group, as fitted so far
        self._g_info = np.zeros((self.n_groups, self.n_groups))  # what the frames so far know about them

    def _points(self, q: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """Root-relative points (markers then joint centres) in the pelvis frame for poses ``q`` (B, n) and
        per-body scales (B, bodies, 3): (B, P, 3)."""
        with torch.no_grad():
            res = self.fk(torch.from_numpy(q), torch.from_numpy(scales))
        pts = torch.cat([res.markers, res.joint_centres], -2)
        origin = res.body_origins[:, self.root_body : self.root_body + 1]
        r0 = res.body_rotations[:, self.root_body]
        return ((pts - origin) @ r0).numpy()  # (p - o) R0: pelvis-frame coordinates

    def step(self, xy: np.ndarray, visibility: np.ndarray, K: np.ndarray, time: float,
             coordinates: np.ndarray, pelvis_rot_cam: np.ndarray, root_cam: np.ndarray,
             scales: np.ndarray, world: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """One frame: BlazePose's landmarks ``xy`` (33, 2) px and ``visibility`` (33,), the intrinsics, the frame's
        time (s), the network's ``coordinates`` (n,), ``pelvis_rot_cam`` (3, 3), ``root_cam`` (3,), ``scales``
        (bodies, 3) and optionally BlazePose's world landmarks (33, 3; used when ``depth_sigma_m`` > 0). Returns the
        fitted ``coordinates``, ``pelvis_rot_cam``, ``root_cam``, ``scales``, ``markers_rel`` and ``joints_rel``
        (camera frame, root-relative) and ``residual_px`` (the visible landmarks' median reprojection error)."""
        cfg = self.cfg
        if not (np.isfinite(xy).all() and np.isfinite(coordinates).all() and np.isfinite(root_cam).all()
                and np.isfinite(scales).all()):
            raise ValueError("the fit got a non-finite landmark or network output; it cannot place the body")
        self._scale_sum = scales.astype(np.float64) if self._scale_sum is None else self._scale_sum + scales
        self._scale_n += 1
        base_scales = self._scale_sum / self._scale_n  # the network's, averaged over the stretch
        net = (coordinates.astype(np.float64), pelvis_rot_cam.astype(np.float64), root_cam.astype(np.float64))
        q, R, t = self._start(*net)
        g_mean, g = self._g.copy(), self._g.copy()
        smooth = self._smoothness(time)
        w_vis = np.where(visibility >= cfg.min_visibility, np.clip(visibility, 0, 1), 0.0)
        sigma = np.repeat(self.sigma * max(float(np.ptp(xy, 0).max()), 1.0), 2)  # (66,) px
        iters = cfg.iterations * (3 if self._prev is None else 1)
        g_prior = self._scale_prior()  # what earlier frames said about the scales: fixed within this frame
        for it in range(iters + cfg.rigid_iterations):
            rigid = it < cfg.rigid_iterations
            base, d_pts, u, dPdx, P = self._linearise(q, g, base_scales, R, t, K, rigid)
            H, grad = self._normal_equations(u, dPdx, P, xy, sigma, w_vis, world)
            data_H = self._priors(H, grad, q, R, t, net, smooth)  # all but the scale prior: what this frame knows
            H[-self.n_groups :, -self.n_groups :] += g_prior
            grad[-self.n_groups :] += g_prior @ (g - g_mean)
            q, R, t, g, step = self._update(H, grad, q, R, t, g, rigid)
        # what this frame told about the scales (the Schur complement), kept with a forgetting factor: its noise
        # is correlated from frame to frame, so the past is not counted as independent evidence forever
        m = 6 + len(self.free)
        A, B, C = data_H[:m, :m], data_H[:m, m:], data_H[m:, m:]
        self._g_info = cfg.scale_forget * self._g_info + (C - B.T @ np.linalg.solve(A, B))
        self._g = g
        return self._outputs(base, d_pts, step, q, R, t, time, K, xy, w_vis, base_scales, g)

    def _start(self, q_net: np.ndarray, R_net: np.ndarray, t_net: np.ndarray) -> tuple[np.ndarray, ...]:
        """Where this frame's steps start: the network's pose; the root from the last fit (the box's guess is far
        worse), or everything from the last fit (``start: previous``)."""
        prev = self._prev
        if prev is None:
            return q_net.copy(), R_net.copy(), t_net.copy()
        if self.cfg.start == "network":
            return q_net.copy(), R_net.copy(), prev[2].copy()
        return prev[0].copy(), prev[1].copy(), prev[2].copy()

    def _smoothness(self, time: float) -> tuple[float, np.ndarray, np.ndarray] | None:
        """(sigma, free coordinates, pelvis rotation) where the last frames' motion, continued, puts this frame (no
        lag on fast motion); None on a stretch's first frame."""
        prev = self._prev
        if prev is None:
            return None
        dt = max(time - prev[3], 1e-3)
        vq, vr = self._velocity if self._velocity is not None else (np.zeros(len(self.free)), np.zeros(3))
        return (np.radians(self.cfg.smooth_deg_per_s) * dt, prev[0][self.free] + self.cfg.momentum * vq * dt,
                _rodrigues(self.cfg.momentum * vr * dt) @ prev[1])

    def _linearise(self, q, g, base_scales, R, t, K, rigid: bool) -> tuple[np.ndarray, ...]:
        """One FK call: the pose, and (unless only the body's place moves) each coordinate and scale group moved by
        ``EPS``. -> the points (pelvis frame), their derivatives, the landmarks' pixels, dP/dx and P (camera)."""
        nf, ng = len(self.free), self.n_groups
        m = 1 if rigid else 1 + nf + ng
        qb = np.repeat(q[None], m, 0)
        gb = np.repeat(g[None], m, 0)
        if not rigid:
            qb[np.arange(1, nf + 1), self.free] += EPS
            gb[np.arange(nf + 1, nf + ng + 1), np.arange(ng)] += EPS
        pts = self._points(qb, base_scales[None] * gb[:, self.body_group, None])
        base = pts[0]  # (P, 3) pelvis frame
        d_pts = (pts[1:] - base) / EPS if not rigid else np.zeros((nf + ng, *base.shape))  # (nf + ng, P, 3)
        rel = base[self.lm_index] @ R.T  # rotated, before translation
        P = rel + t
        fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
        X, Y, Z = P[:, 0], P[:, 1], np.maximum(P[:, 2], 1e-3)
        u = np.stack([fx * X / Z + cx, fy * Y / Z + cy], 1)
        dudP = np.zeros((len(P), 2, 3))
        dudP[:, 0, 0], dudP[:, 0, 2] = fx / Z, -fx * X / Z**2
        dudP[:, 1, 1], dudP[:, 1, 2] = fy / Z, -fy * Y / Z**2
        # P = exp(w) R p + t: dP/dw = -[R p]x, dP/dt = I, dP/d(q, g) = R dp/d(q, g)
        skew = np.zeros((len(P), 3, 3))
        skew[:, 0, 1], skew[:, 0, 2] = rel[:, 2], -rel[:, 1]
        skew[:, 1, 0], skew[:, 1, 2] = -rel[:, 2], rel[:, 0]
        skew[:, 2, 0], skew[:, 2, 1] = rel[:, 1], -rel[:, 0]
        dPdqg = np.einsum("ij,klj->lik", R, d_pts[:, self.lm_index])  # (L, 3, nf + ng)
        dPdx = np.concatenate([skew, np.broadcast_to(np.eye(3), (len(P), 3, 3)), dPdqg], 2)  # (L, 3, n)
        return base, d_pts, u, (dudP, dPdx), P

    def _normal_equations(self, u, dP, P, xy, sigma, w_vis, world) -> tuple[np.ndarray, np.ndarray]:
        """The landmarks' reprojection residuals in units of their measured error, Huber-weighted (and BlazePose's
        depths, when asked) -> the Gauss-Newton H and gradient."""
        cfg = self.cfg
        dudP, dPdx = dP
        n = dPdx.shape[-1]
        J = np.einsum("lab,lbn->lan", dudP, dPdx).reshape(-1, n) / sigma[:, None]
        r = (u - xy).reshape(-1) / sigma
        norm = np.linalg.norm(r.reshape(-1, 2), axis=1)
        huber = np.where(norm <= cfg.huber, 1.0, cfg.huber / np.maximum(norm, 1e-9))
        w = np.repeat(w_vis * huber, 2)
        H = J.T @ (J * w[:, None])
        grad = J.T @ (w * r)
        if world is not None and cfg.depth_sigma_m > 0:  # depth relative to the hips' midpoint (23, 24)
            dz = dPdx[:, 2] - dPdx[[23, 24], 2].mean(0)  # (L, n)
            rz = (P[:, 2] - P[[23, 24], 2].mean()) - (world[:, 2] - world[[23, 24], 2].mean())
            wz = w_vis / cfg.depth_sigma_m**2
            H += dz.T @ (dz * wz[:, None])
            grad += dz.T @ (wz * rz)
        return H, grad

    def _priors(self, H, grad, q, R, t, net, smooth) -> np.ndarray:
        """Add the pulls toward the network's rotation and coordinates, the box-based root and the previous frames'
        motion to ``H`` and ``grad`` (in place) -> a copy of H before the scale prior."""
        cfg = self.cfg
        q_net, R_net, t_net = net
        nf, ng = len(self.free), self.n_groups
        prior = np.radians(cfg.prior_deg)
        diag = np.concatenate([np.full(3, 1 / np.radians(cfg.prior_rotation_deg) ** 2),
                               np.full(3, 1 / cfg.prior_translation_m**2), np.full(nf, 1 / prior**2), np.zeros(ng)])
        grad += diag * np.concatenate([_log_rotation(R @ R_net.T), t - t_net, q[self.free] - q_net[self.free],
                                       np.zeros(ng)])
        if smooth is not None:
            sigma, q_pred, R_pred = smooth
            sd = np.concatenate([np.full(3, 1 / sigma**2), np.zeros(3), np.full(nf, 1 / sigma**2), np.zeros(ng)])
            grad += sd * np.concatenate([_log_rotation(R @ R_pred.T), np.zeros(3), q[self.free] - q_pred,
                                         np.zeros(ng)])
            diag = diag + sd
        H[np.diag_indices(H.shape[0])] += diag
        return H.copy()

    def _scale_prior(self) -> np.ndarray:
        return np.eye(self.n_groups) / self.cfg.scale_sigma**2 + self._g_info

    def _update(self, H, grad, q, R, t, g, rigid: bool) -> tuple:
        """One Gauss-Newton step (only the body's place when ``rigid``), clamped into the joint ranges."""
        nf = len(self.free)
        dx = np.zeros(H.shape[0])
        if rigid:
            dx[:6] = -np.linalg.solve(H[:6, :6], grad[:6])
        else:
            dx = -np.linalg.solve(H, grad)
        R = _rodrigues(dx[:3]) @ R
        t = t + dx[3:6]
        q_new = q.copy()
        q_new[self.free] = np.clip(q[self.free] + dx[6 : 6 + nf], self.lo, self.hi)
        step = np.concatenate([q_new[self.free] - q[self.free], dx[6 + nf :]])
        return q_new, R, t, np.clip(g + dx[6 + nf :], 0.7, 1.4), step

    def _outputs(self, base, d_pts, step, q, R, t, time, K, xy, w_vis, base_scales, g) -> dict[str, np.ndarray]:
        """The fitted outputs from the last batch, moved by the last step to first order (no extra FK call); the
        frame is remembered for the next one's smoothness."""
        moved = base + np.einsum("kpj,k->pj", d_pts, step)
        cam_rel = moved @ R.T
        P = cam_rel[self.lm_index] + t
        u = np.stack([K[0, 0] * P[:, 0] / P[:, 2] + K[0, 2], K[1, 1] * P[:, 1] / P[:, 2] + K[1, 2]], 1)
        seen = w_vis > 0
        resid = float(np.median(np.linalg.norm(u - xy, axis=1)[seen])) if seen.any() else float("nan")
        prev = self._prev
        if prev is not None and self.cfg.momentum > 0:  # only the continued motion (momentum) uses the velocity
            dt = max(time - prev[3], 1e-3)
            self._velocity = ((q[self.free] - prev[0][self.free]) / dt, _log_rotation(R @ prev[1].T) / dt)
        self._prev = (q, R, t, time)
        return {"coordinates": q, "pelvis_rot_cam": R, "root_cam": t,
                "scales": base_scales * g[self.body_group, None], "markers_rel": cam_rel[self.out_markers],
                "joints_rel": cam_rel[self.n_markers :], "residual_px": resid}


def _rodrigues(w: np.ndarray) -> np.ndarray:
    th = float(np.linalg.norm(w))
    if th < 1e-12:
        return np.eye(3)
    k = w / th
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(th) * kx + (1 - np.cos(th)) * kx @ kx


def landmark_sigma() -> np.ndarray:
    """Each BlazePose landmark's measured error per axis (33,), in landmark-box sides: the median residual length on
    the engine's renders over sqrt(2 ln 2) (a 2D Gaussian's median radius in its sigmas)."""
    with np.load(NOISE_FILE) as d:
        res = d["residual"][..., :2]
    return np.median(np.linalg.norm(res, axis=-1), 0) / np.sqrt(2 * np.log(2))


def _log_rotation(R: np.ndarray) -> np.ndarray:
    """The rotation vector of ``R`` (3,)."""
    c = np.clip((np.trace(R) - 1) / 2, -1.0, 1.0)
    th = float(np.arccos(c))
    v = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    if th < 1e-9:
        return v / 2
    return v * th / (2 * np.sin(th)) if th < np.pi - 1e-6 else v / 2 * th  # near pi: rare, a usable direction
