"""Left/right mirroring of poses, derived from the skeleton itself.

Partners are found by name (``_r``/``_l``, ``r_``/``L_``, ``r.``/``L.``, ``RThumb``/``LThumb``, Right/Left) and
each coordinate's sign is read off the kinematics: the FK Jacobian column of a coordinate, reflected through the
sagittal plane (z -> -z) with bodies and markers swapped, must equal ± the column of its partner. So adduction,
axial rotation, list, lateral bending and pelvis_tz flip sign while flexion does not, for any model whose left
side mirrors its right, without a hand-written table. :func:`mirror_error` verifies the result on random poses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from .fk import ForwardKinematics
from .model import Skeleton
from .opensim_ref import sample_poses

__all__ = ["Mirror", "derive_mirror", "mirror_error", "side_partner"]

REFLECT = (1.0, 1.0, -1.0)  # the sagittal plane of OpenSim models is x-y: z -> -z
_SWAP = {"r": "l", "l": "r", "R": "L", "L": "R", "Right": "Left", "Left": "Right", "right": "left",
         "left": "right", "RIGHT": "LEFT", "LEFT": "RIGHT"}
_SIDE_PATTERNS = (
    r"(?<=[_.\-])([rRlL])$",  # hip_flexion_r, knee.R
    r"^([rRlL])(?=[_.\-])",  # r_knee_study, L.ASIS_study
    r"^([RL])(?=[A-Z])",  # RThumb, LHJC_study
    r"(?<=[_.\-])([rRlL])(?=[_.\-])",  # arm_r_marker
    r"(Right|Left|right|left|RIGHT|LEFT)",
)


def side_partner(name: str, names: set[str] | list[str]) -> str:
    """The other side's name of ``name`` among ``names``; ``name`` itself when it has no side."""
    pool = set(names)
    for pat in _SIDE_PATTERNS:
        m = re.search(pat, name)
        if not m:
            continue
        token = m.group(1)
        targets = [_SWAP[token]] + ([_SWAP[token].swapcase()] if len(token) == 1 else [])
        for t in targets:
            cand = name[: m.start(1)] + t + name[m.end(1) :]
            if cand in pool and cand != name:
                return cand
    return name


@dataclass(frozen=True)
class Mirror:
    """``mirror(q)[i] = sign[i] * q[perm[i]]``; points swap by ``*_perm`` and reflect z."""

    coord_perm: tuple[int, ...]
    coord_sign: tuple[float, ...]
    body_perm: tuple[int, ...]
    joint_perm: tuple[int, ...]
    marker_perm: tuple[int, ...]
    asymmetric_markers: tuple[tuple[str, float], ...] = ()  # (name, distance from its mirror at neutral, m)

    def pose(self, q: torch.Tensor) -> torch.Tensor:
        """Mirror coordinates (..., n_coords)."""
        sign = torch.as_tensor(self.coord_sign, dtype=q.dtype, device=q.device)
        return q[..., list(self.coord_perm)] * sign

    def scales(self, s: torch.Tensor) -> torch.Tensor:
        """Per-body scale factors (..., n_bodies, 3) follow their body."""
        return s[..., list(self.body_perm), :]

    @staticmethod
    def reflect(x: torch.Tensor, perm: tuple[int, ...]) -> torch.Tensor:
        """Points (..., n, 3) in ground: swap sides by ``perm`` and reflect through the sagittal plane."""
        return x[..., list(perm), :] * torch.as_tensor(REFLECT, dtype=x.dtype, device=x.device)


def _perm(names: list[str]) -> tuple[int, ...]:
    index = {n: i for i, n in enumerate(names)}
    return tuple(index[side_partner(n, names)] for n in names)


def _stacked_points(fk: ForwardKinematics, q: torch.Tensor) -> torch.Tensor:
    """Body origins, two points on each body's x and y axes (so axial rotations show) and markers."""
    res = fk(q)
    axes = res.body_origins.unsqueeze(-2) + 0.1 * res.body_rotations[..., :, :2].transpose(-1, -2)  # (..., B, 2, 3)
    return torch.cat([res.body_origins, axes.flatten(-3, -2), res.markers], -2)  # (..., B + 2B + M, 3)


def derive_mirror(skel: Skeleton, tol: float = 1e-6, strict_markers: bool = True) -> Mirror:
    """Derive the mirror map of ``skel``.

    Raises ValueError naming the bodies or coordinates that are not left/right symmetric. Markers whose mirror
    image is more than ``tol`` away from their partner (a marker set that is itself asymmetric) raise too, unless
    ``strict_markers`` is False: then they are listed in ``Mirror.asymmetric_markers`` for reports to exclude.
    """
    fk = ForwardKinematics(skel, dtype=torch.float64)
    body_perm, marker_perm = _perm(skel.body_names), _perm(skel.marker_names)
    joint_perm, coord_perm = _perm(skel.joint_names), _perm(skel.coordinate_names)
    nb = len(body_perm)
    axis_perm = tuple(nb + 2 * body_perm[b] + k for b in range(nb) for k in range(2))
    point_perm = body_perm + axis_perm + tuple(3 * nb + i for i in marker_perm)
    lo, hi = skel.ranges[:, 0], skel.ranges[:, 1]
    q0 = torch.as_tensor(np.where((lo <= 0) & (hi >= 0), 0.0, (lo + hi) / 2))
    with torch.no_grad():
        p0 = _stacked_points(fk, q0)
        asym = (Mirror.reflect(p0, point_perm) - p0).norm(dim=-1)
    body_asym = asym[: 3 * nb].reshape(-1)
    bad = sorted({skel.body_names[i if i < nb else (i - nb) // 2] for i in torch.nonzero(body_asym > tol).flatten().tolist()})
    if bad:
        raise ValueError(f"model '{skel.name}' is not left/right symmetric at the neutral pose: bodies {bad}")
    marker_asym = [(n, float(d)) for n, d in zip(skel.marker_names, asym[3 * nb :]) if d > tol]
    if marker_asym and strict_markers:
        raise ValueError(
            f"markers of '{skel.name}' are not left/right symmetric at the neutral pose: "
            + ", ".join(f"{n} ({d:.1e} m)" for n, d in marker_asym)
        )
    jac = torch.autograd.functional.jacobian(lambda q: _stacked_points(fk, q), q0)  # (P, 3, n)
    keep = torch.ones(jac.shape[0], dtype=torch.bool)
    for name, _ in marker_asym:  # their motion cannot mirror exactly either
        keep[3 * nb + skel.marker_names.index(name)] = False
        keep[3 * nb + marker_perm[skel.marker_names.index(name)]] = False
    dependent = set(skel.dependent_coordinates)
    signs = []
    for i, name in enumerate(skel.coordinate_names):
        col, partner = jac[..., i], jac[..., coord_perm[i]]
        reflected = Mirror.reflect(col, point_perm)[keep]
        col, partner = col[keep], partner[keep]
        if name in dependent or col.abs().max() < 1e-12:
            signs.append(1.0)
            continue
        s = 1.0 if (reflected * partner).sum() >= 0 else -1.0
        resid = (reflected - s * partner).abs().max() / col.abs().max()
        if resid > 1e-3:  # only picks the sign; exactness is what mirror_error measures
            raise ValueError(
                f"coordinate '{name}' of model '{skel.name}' has no mirror counterpart: its motion reflected through "
                f"the sagittal plane differs from ±'{skel.coordinate_names[coord_perm[i]]}' (relative residual {resid:.1e})"
            )
        signs.append(s)
    return Mirror(coord_perm, tuple(signs), body_perm, joint_perm, marker_perm, tuple(marker_asym))


def mirror_error(skel: Skeleton, mirror: Mirror, n_poses: int = 64, seed: int = 0) -> dict[str, float]:
    """Worst |FK(mirror(q), mirror(s)) - reflect(FK(q, s))| (m) over random poses and scales, per output kind."""
    rng = np.random.default_rng(seed)
    q = torch.as_tensor(sample_poses(skel, n_poses, rng))
    s = torch.as_tensor(rng.uniform(0.8, 1.2, size=(n_poses, len(skel.bodies), 1)).repeat(3, -1))
    s = (s + mirror.scales(s)) / 2  # a mirrored subject has its sides' scales swapped; symmetric ones stay exact
    fk = ForwardKinematics(skel, dtype=torch.float64)
    with torch.no_grad():
        a, b = fk(q, s), fk(mirror.pose(q), mirror.scales(s))
    marker_err = (Mirror.reflect(a.markers, mirror.marker_perm) - b.markers).norm(dim=-1)  # (n, M)
    skip = {n for n, _ in mirror.asymmetric_markers}
    symmetric = [i for i, n in enumerate(skel.marker_names) if n not in skip and skel.marker_names[mirror.marker_perm[i]] not in skip]
    rot_err = Mirror.reflect(a.body_rotations[..., :, :2].transpose(-1, -2).flatten(-3, -2), _pairs(mirror.body_perm))
    rot_err = (rot_err - b.body_rotations[..., :, :2].transpose(-1, -2).flatten(-3, -2)).norm(dim=-1)
    err = {
        "bodies": (Mirror.reflect(a.body_origins, mirror.body_perm) - b.body_origins).norm(dim=-1).max(),
        "body_axes_rad": rot_err.max(),
        "joints": (Mirror.reflect(a.joint_centres, mirror.joint_perm) - b.joint_centres).norm(dim=-1).max(),
        "markers": marker_err[..., symmetric].max() if symmetric else torch.zeros(()),
    }
    return {k: float(v) for k, v in err.items()}


def _pairs(perm: tuple[int, ...]) -> tuple[int, ...]:
    """Permutation of (body, axis) pairs flattened as 2*b + k."""
    return tuple(2 * perm[b] + k for b in range(len(perm)) for k in range(2))
