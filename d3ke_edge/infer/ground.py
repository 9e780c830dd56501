"""From camera-frame predictions to OpenSim's ground frame: one camera does not know the floor, so ground is the
camera's frame turned to OpenSim's Y-up convention (x right, y up, z towards the camera; ``CAMERA_TO_GROUND``).

The root joint's coordinates (pelvis tilt/list/rotation and translation for the built-in model; whatever the
.osim's root joint has otherwise) are solved through our FK so that the root body's rotation and origin equal the
predicted ones — numerically, so any root joint definition works, not only the Z-X-Y one of the gait models.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from ..skeleton.fk import ForwardKinematics
from ..skeleton.model import Skeleton

__all__ = ["CAMERA_TO_GROUND", "solve_root", "to_ground"]

STARTS = 4  # grid points refined per frame
CAMERA_TO_GROUND = np.diag([1.0, -1.0, -1.0])  # OpenCV camera (y down, z forward) -> Y-up ground facing the camera


def to_ground(points_cam: np.ndarray) -> np.ndarray:
    """Camera-frame points (..., 3) in the ground frame."""
    return points_cam @ CAMERA_TO_GROUND.T


def _residual(fk: ForwardKinematics, q: torch.Tensor, body: int, rot: torch.Tensor, origin: torch.Tensor | None):
    res = fk(q)
    err = (res.body_rotations[:, body] - rot).flatten(1).pow(2).sum(-1)
    if origin is not None:
        err = err + (res.body_origins[:, body] - origin).pow(2).sum(-1)
    return err


def _refine(fk, q, free, body, rot, origin, iters: int = 60) -> tuple[torch.Tensor, torch.Tensor]:
    x = q[:, free].clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=iters, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        full = q.clone()
        full[:, free] = x
        loss = _residual(fk, full, body, rot, origin).sum()
        loss.backward()
        return loss

    opt.step(closure)
    out = q.clone()
    out[:, free] = x.detach()
    with torch.no_grad():
        return out, _residual(fk, out, body, rot, origin)


def solve_root(skel: Skeleton, root_coordinates: list[str], coordinates: np.ndarray, pelvis_rot_cam: np.ndarray,
               root_cam: np.ndarray | None, tol: float = 1e-6) -> tuple[np.ndarray, float]:
    """Fill the root joint's coordinates of ``coordinates`` (T, n) so the root body has the ground-frame rotation
    ``CAMERA_TO_GROUND @ pelvis_rot_cam`` (T, 3, 3) and origin ``to_ground(root_cam)`` (T, 3; None: translation
    coordinates stay zero). Returns the coordinates and the largest residual (rotation-matrix entries^2 + m^2)."""
    names = skel.coordinate_names
    free_rot = [names.index(n) for n in root_coordinates if skel.coordinates[names.index(n)].is_rotational]
    free_tr = [names.index(n) for n in root_coordinates if not skel.coordinates[names.index(n)].is_rotational]
    free = free_rot + (free_tr if root_cam is not None else [])
    body = skel.body_index(next(j.child for j in skel.joints if set(root_coordinates) <= set(j.coordinates)))
    fk = ForwardKinematics(skel, torch.float64)
    C = torch.as_tensor(CAMERA_TO_GROUND)
    rot = C @ torch.as_tensor(pelvis_rot_cam, dtype=torch.float64)
    origin = None if root_cam is None else torch.as_tensor(to_ground(root_cam), dtype=torch.float64)
    q = torch.as_tensor(coordinates, dtype=torch.float64).clone()
    q[:, [names.index(n) for n in root_coordinates]] = 0.0
    if len(q) == 0:
        return q.numpy(), 0.0
    # Every frame starts from its best few points of a coarse grid over the rotational root coordinates; all are
    # refined together; of the exact solutions (Euler angles have two) the one inside the coordinate ranges wins.
    grid = torch.as_tensor(list(itertools.product((0.0, np.pi / 2, np.pi, -np.pi / 2), repeat=len(free_rot))),
                           dtype=torch.float64)
    k = min(STARTS, len(grid))
    with torch.no_grad():
        starts = q.repeat_interleave(len(grid), 0)
        starts[:, free_rot] = grid.repeat(len(q), 1)
        err = _residual(fk, starts, body, rot.repeat_interleave(len(grid), 0), None).view(len(q), len(grid))
        best = err.topk(k, 1, largest=False).indices  # (T, k)
        cand = q.repeat_interleave(k, 0)
        cand[:, free_rot] = grid[best.flatten()]
    rep = lambda x: None if x is None else x.repeat_interleave(k, 0)  # noqa: E731
    cand, err = _refine(fk, cand, free, body, rep(rot), rep(origin))
    cand[:, free_rot] = torch.remainder(cand[:, free_rot] + np.pi, 2 * np.pi) - np.pi
    ranges = torch.as_tensor(skel.ranges[free_rot], dtype=torch.float64)
    outside = (ranges[:, 0] - cand[:, free_rot]).clamp_min(0).sum(-1) + (cand[:, free_rot] - ranges[:, 1]).clamp_min(0).sum(-1)
    score = (err > tol) * 1e6 + outside * 1e3 + cand[:, free_rot].abs().sum(-1)
    pick = score.view(len(q), k).argmin(1) + torch.arange(len(q)) * k
    return cand[pick].numpy(), float(err[pick].max())
