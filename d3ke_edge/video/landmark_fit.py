"""Where BlazePose puts its 33 landmarks on our skeleton, and how far off it is: measured on the engine's renders,
where every body's pose, the camera and the scales are known.

For each landmark a body is fixed (``LANDMARK_BODIES``: the face on the head, a shoulder on its humerus, a hip on the
pelvis, ...) and its location in that body's unscaled frame is the least-squares solution of the projection
equations over every tracked frame (two linear equations per frame: u*Z - fx*X = cx*Z ... with X = R (s * p) + o),
refitted without the frames more than 3 median residuals off. BlazePose cannot tell a capsule person's front from
the back: each frame's left/right labelling is taken as the one closer to the projected true joint centres, and the
swap rate is part of the noise measurement. The result is an OpenSim marker set for the skeleton and per-landmark
pixel residuals (the noise model of the landmark-lifting model starts from them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..skeleton.fk import ForwardKinematics
from ..skeleton.mirror import REFLECT
from ..skeleton.model import Marker, Skeleton
from .landmarks import LANDMARK_NAMES
from .tracker import mirror_order

__all__ = ["LANDMARK_BODIES", "Observations", "collect", "fit_landmarks"]


def _body(name: str) -> str:
    part = name.removeprefix("left_").removeprefix("right_")
    if name == "nose" or part in ("eye_inner", "eye", "eye_outer", "ear") or name.startswith("mouth"):
        return "head"
    body = {"shoulder": "humerus", "elbow": "humerus", "wrist": "radius", "pinky": "hand", "index": "hand",
            "thumb": "hand", "hip": "pelvis", "knee": "femur", "ankle": "tibia", "heel": "calcn",
            "foot_index": "toes"}[part]
    side = "_l" if name.startswith("left_") else "_r"  # BlazePose's left is the person's own, as ours
    return body if body == "pelvis" else body + side


LANDMARK_BODIES = {n: _body(n) for n in LANDMARK_NAMES}
# joint centres that decide a frame's left/right labelling (BlazePose landmark -> our joint)
_SIDE_CHECK = {"left_shoulder": "shoulder_l", "right_shoulder": "shoulder_r", "left_hip": "hip_l",
               "right_hip": "hip_r", "left_knee": "knee_l", "right_knee": "knee_r", "left_ankle": "ankle_l",
               "right_ankle": "ankle_r", "left_elbow": "elbow_l", "right_elbow": "elbow_r"}


@dataclass
class Observations:
    """Tracked frames of rendered clips: landmarks (N, 33, 2) px, visibility (N, 33), the bodies' camera-frame
    rotations (N, B, 3, 3) and origins (N, B, 3), scales (N, B, 3), intrinsics (N, 3, 3), joint centres (N, J, 2) px,
    presence (N, 33), which clip and frame each row is, whether its labels were mirrored back (``flipped``, N),
    BlazePose's world landmarks (N, 33, 3; metres, hip-centred, camera axes), and how many frames BlazePose's labels
    were mirrored (``swapped``) / not tracked (``missed``)."""

    xy: np.ndarray
    visibility: np.ndarray
    rot: np.ndarray
    origin: np.ndarray
    scales: np.ndarray
    K: np.ndarray
    joints_2d: np.ndarray
    presence: np.ndarray
    clip: np.ndarray
    frame: np.ndarray
    flipped: np.ndarray
    world: np.ndarray
    swapped: int = 0
    missed: int = 0


def _pose_in_camera(skel: Skeleton, labels: dict) -> tuple[np.ndarray, np.ndarray]:
    fk = ForwardKinematics(skel, torch.float64)
    with torch.no_grad():
        res = fk(torch.as_tensor(labels["coordinates"], dtype=torch.float64),
                 torch.as_tensor(labels["scales"], dtype=torch.float64))
    R = torch.as_tensor(labels["cam_R"], dtype=torch.float64)[:, None]
    t = torch.as_tensor(labels["cam_t"], dtype=torch.float64)[:, None]
    rot = R @ res.body_rotations
    origin = (R @ res.body_origins.unsqueeze(-1)).squeeze(-1) + t
    return rot.numpy(), origin.numpy()


def collect(skel: Skeleton, clips, tracker_factory) -> Observations:
    """Run a fresh tracker (``tracker_factory()``) over each clip and gather the observations of tracked frames."""
    mirror = mirror_order()
    check = [LANDMARK_NAMES.index(n) for n in _SIDE_CHECK]
    check_j = [skel.joint_names.index(j) for j in _SIDE_CHECK.values()]
    parts = {k: [] for k in ("xy", "visibility", "rot", "origin", "scales", "K", "joints_2d", "presence", "clip",
                             "frame", "flipped", "world")}
    swapped = missed = 0
    for c, clip in enumerate(clips):
        tracker = tracker_factory()
        rot, origin = _pose_in_camera(skel, clip.labels)
        j = clip.labels["joints_cam"]
        j2 = (j[..., :2] / j[..., 2:3]) * np.diag(clip.K)[:2] + clip.K[:2, 2]
        for t, frame in enumerate(clip.frames):
            lm = tracker.track(frame)
            if lm is None:
                missed += 1
                continue
            xy, vis, pres, world = lm.xy, lm.visibility, lm.presence, lm.world
            keep = np.linalg.norm(xy[check] - j2[t, check_j], axis=-1).sum()
            flip = np.linalg.norm(xy[mirror][check] - j2[t, check_j], axis=-1).sum()
            if flip < keep:
                xy, vis, pres, world = xy[mirror], vis[mirror], pres[mirror], world[mirror]
                swapped += 1
            for k, v in (("xy", xy), ("visibility", vis), ("rot", rot[t]), ("origin", origin[t]),
                         ("scales", clip.labels["scales"][t]), ("K", clip.K), ("joints_2d", j2[t]),
                         ("presence", pres), ("clip", c), ("frame", t), ("flipped", flip < keep),
                         ("world", world)):
                parts[k].append(v)
    return Observations(**{k: np.stack(v) for k, v in parts.items()}, swapped=swapped, missed=missed)


def _solve(A: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    sw = np.sqrt(w)[:, None]
    return np.linalg.lstsq(A * sw, b * sw[:, 0], rcond=None)[0]


def _rows(obs: Observations, i: int, b: int):
    """The linear projection equations of landmark ``i`` on body ``b``: A p = rhs (2N rows), and what projects p."""
    R, o, s, K = obs.rot[:, b], obs.origin[:, b], obs.scales[:, b], obs.K
    u, v = obs.xy[:, i, 0], obs.xy[:, i, 1]
    fx, fy, cx, cy = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]
    Rs = R * s[:, None, :]  # X = R diag(s) p + o
    A = np.concatenate([(u - cx)[:, None] * Rs[:, 2] - fx[:, None] * Rs[:, 0],
                        (v - cy)[:, None] * Rs[:, 2] - fy[:, None] * Rs[:, 1]])
    rhs = np.concatenate([fx * o[:, 0] - (u - cx) * o[:, 2], fy * o[:, 1] - (v - cy) * o[:, 2]])

    def error(p: np.ndarray) -> np.ndarray:
        X = np.einsum("nij,j->ni", Rs, p) + o
        proj = np.stack([fx * X[:, 0] / X[:, 2] + cx, fy * X[:, 1] / X[:, 2] + cy], -1)
        return np.linalg.norm(proj - obs.xy[:, i], axis=-1)

    return A, rhs, error


def fit_landmarks(skel: Skeleton, obs: Observations, min_visibility: float = 0.5,
                  symmetric: bool = True) -> tuple[list[Marker], dict]:
    """The 33 landmarks as markers of ``skel`` (unscaled body frames) and per-landmark residuals in pixels and in
    percent of the person's height in the image. ``symmetric``: each left/right pair is averaged through the sagittal
    plane (z -> -z; the skeleton must be mirror-symmetric, as the built-in one is exactly)."""
    height_px = np.ptp(obs.joints_2d[..., 1], axis=1) * 1.25  # joint-centre span ~ 0.8 of the body's height
    fits = {}
    for i, name in enumerate(LANDMARK_NAMES):
        A, rhs, error = _rows(obs, i, skel.body_index(LANDMARK_BODIES[name]))
        use = obs.visibility[:, i] >= min_visibility
        if use.sum() < 10:
            use = np.ones_like(use)  # a landmark BlazePose calls invisible in nearly every frame: fit it anyway
        w = np.tile(use.astype(float), 2)
        for _ in range(3):  # refit without the frames more than 3 median residuals off
            p = _solve(A, rhs, w)
            err = error(p)
            inlier = use & (err <= 3 * np.median(err[use]))
            w = np.tile(inlier.astype(float), 2)
        fits[name] = (p, use, error)
    if symmetric:
        mirror, reflect = mirror_order(), np.asarray(REFLECT)
        for i, name in enumerate(LANDMARK_NAMES):
            if name.startswith("left_") or name == "mouth_left":
                other = LANDMARK_NAMES[mirror[i]]
                p = (fits[name][0] + reflect * fits[other][0]) / 2
                fits[name] = (p, *fits[name][1:])
                fits[other] = (reflect * p, *fits[other][1:])
            elif name == "nose":
                fits[name] = (fits[name][0] * np.array([1.0, 1.0, 0.0]), *fits[name][1:])
    markers, stats = [], {}
    for name, (p, use, error) in fits.items():
        err = error(p)
        inlier = use & (err <= 3 * np.median(err[use]))
        rel = err / height_px * 100
        markers.append(Marker(f"bp_{name}", LANDMARK_BODIES[name], tuple(float(x) for x in p)))
        stats[name] = {"body": LANDMARK_BODIES[name], "median_px": float(np.median(err[use])),
                       "p90_px": float(np.percentile(err[use], 90)), "median_pct_height": float(np.median(rel[use])),
                       "p90_pct_height": float(np.percentile(rel[use], 90)), "visible_frac": float(use.mean()),
                       "outlier_frac": float(1 - inlier[use].mean()), "location_m": [float(x) for x in p]}
    return markers, stats
