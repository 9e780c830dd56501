"""Batched, differentiable forward kinematics of a :class:`Skeleton`, exact to OpenSim.

``ForwardKinematics(skel)(q, scales)`` maps coordinates ``q`` (..., n_coords; radians/metres) and per-body xyz
scale factors (..., n_bodies, 3) to body rotations/origins, joint centres and marker positions in ground.
Scaling follows OpenSim's ``Model::scale``: every offset-frame translation, marker location and non-identity
joint translation function is multiplied by its base body's factors; translational coupler constraints by the
parent body's x factor. The tree walk is a Python loop over constant structure, so ``torch.export`` captures it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .functions import OsimFunction, is_identity
from .model import GROUND, TRANSLATIONAL, Offset, Skeleton
from .rotations import axis_angle_matrix, skew

__all__ = ["ForwardKinematics", "FKResult"]


class FKResult(NamedTuple):
    body_rotations: torch.Tensor  # (..., n_bodies, 3, 3) body frame -> ground
    body_origins: torch.Tensor  # (..., n_bodies, 3)
    joint_centres: torch.Tensor  # (..., n_joints, 3) origin of each joint's child frame, in ground
    markers: torch.Tensor  # (..., n_markers, 3)
    coordinates: torch.Tensor  # (..., n_coords) with coupler-dependent coordinates filled in


class _Chain(nn.Module):
    """A constant chain of offsets on one body; translations scale with that body's factors."""

    def __init__(self, offsets: tuple[Offset, ...]):
        super().__init__()
        self.n = len(offsets)
        rots = np.stack([o.rotation_matrix() for o in offsets]) if offsets else np.zeros((0, 3, 3))
        trans = np.array([o.translation for o in offsets], dtype=np.float64).reshape(-1, 3)
        self.register_buffer("rot", torch.as_tensor(rots), persistent=False)
        self.register_buffer("trans", torch.as_tensor(trans), persistent=False)
        # Rotation and translation of the whole chain for the unscaled case are not precomputed on purpose:
        # non-uniform scaling does not commute with the rotations inside a chain.

    def forward(self, scale: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """scale (..., 3) -> (R (3,3) or None, p (..., 3) or None) of the chain in its body."""
        rot, pos = None, None
        for i in range(self.n):
            p_i = self.trans[i] * scale  # (..., 3)
            pos = p_i if pos is None else pos + (rot @ p_i.unsqueeze(-1)).squeeze(-1)
            rot = self.rot[i] if rot is None else rot @ self.rot[i]
        return rot, pos


def _inverse(rot: torch.Tensor | None, pos: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if rot is None:
        return None, None if pos is None else -pos
    rt = rot.transpose(-1, -2)
    return rt, None if pos is None else -(rt @ pos.unsqueeze(-1)).squeeze(-1)


def _compose(r1, p1, r2, p2):
    """(r1, p1) ∘ (r2, p2); None means identity rotation / zero translation."""
    if p2 is None:
        pos = p1
    else:
        moved = p2 if r1 is None else (r1 @ p2.unsqueeze(-1)).squeeze(-1)
        pos = moved if p1 is None else p1 + moved
    if r1 is None:
        rot = r2
    elif r2 is None:
        rot = r1
    else:
        rot = r1 @ r2
    return rot, pos


class _Axis(nn.Module):
    def __init__(self, axis: np.ndarray, coord_index: int | None, function: OsimFunction, scaled: bool):
        super().__init__()
        self.coord_index = coord_index
        self.function = function
        self.scaled = scaled  # translation functions other than identity scale with the parent body
        a = np.asarray(axis, dtype=np.float64)
        self.register_buffer("axis", torch.as_tensor(a), persistent=False)
        self.register_buffer("abs_axis", torch.as_tensor(np.abs(a)), persistent=False)
        self.register_buffer("k", torch.as_tensor(skew(a)), persistent=False)
        self.register_buffer("k2", torch.as_tensor(skew(a) @ skew(a)), persistent=False)
        self.register_buffer("outer", torch.as_tensor(np.outer(a, a) / max(1e-300, float(a @ a))), persistent=False)

    def value(self, q: torch.Tensor) -> torch.Tensor:
        if self.coord_index is None:
            return self.function(torch.zeros_like(q[..., 0]))
        return self.function(q[..., self.coord_index])


class _Joint(nn.Module):
    def __init__(self, skel: Skeleton, j: int):
        super().__init__()
        joint = skel.joints[j]
        cidx = {n: i for i, n in enumerate(skel.coordinate_names)}
        self.parent_index = -1 if joint.parent == GROUND else skel.body_index(joint.parent)
        self.child_index = j
        self.parent_chain = _Chain(joint.parent_offsets)
        self.child_chain = _Chain(joint.child_offsets)
        live = [a for a in joint.axes if not a.is_static_zero]
        self.rotations = nn.ModuleList(
            _Axis(a.axis, cidx.get(a.coordinate) if a.coordinate else None, a.function, False) for a in live if a.is_rotation
        )
        self.translations = nn.ModuleList(
            _Axis(a.axis, cidx.get(a.coordinate) if a.coordinate else None, a.function, not is_identity(a.function))
            for a in live
            if not a.is_rotation
        )

    def forward(self, q: torch.Tensor, parent_scale: torch.Tensor | None, child_scale: torch.Tensor):
        """Child body pose in the parent body: X_parent_P · X_PF(q) · inv(X_child_C)."""
        rot, pos = None, None
        for ax in self.rotations:  # body-fixed sequence: R = R1 @ R2 @ R3
            r_i = axis_angle_matrix(ax.k, ax.k2, ax.value(q), ax.outer)
            rot = r_i if rot is None else rot @ r_i
        for ax in self.translations:  # expressed in the parent frame P
            v = ax.value(q)
            if ax.scaled and parent_scale is not None:
                v = v * (ax.abs_axis * parent_scale).sum(-1)
            t = v.unsqueeze(-1) * ax.axis
            pos = t if pos is None else pos + t
        pr, pp = self.parent_chain(parent_scale if parent_scale is not None else torch.ones_like(child_scale))
        c_rot, c_pos = self.child_chain(child_scale)
        r, p = _compose(pr, pp, rot, pos)
        r, p = _compose(r, p, *_inverse(c_rot, c_pos))
        return r, p, c_pos


class ForwardKinematics(nn.Module):
    """Differentiable FK layer; float32 by default, ``.double()`` for float64."""

    def __init__(self, skeleton: Skeleton, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.skeleton = skeleton
        self.n_coords = len(skeleton.coordinates)
        self.n_bodies = len(skeleton.bodies)
        self.joints = nn.ModuleList(_Joint(skeleton, j) for j in range(self.n_bodies))
        cidx = {n: i for i, n in enumerate(skeleton.coordinate_names)}
        self._couplers = []
        for c in skeleton.couplers:
            dep = skeleton.coordinate(c.dependent)
            joint = next(j for j in skeleton.joints if j.name == dep.joint)
            parent = -1 if joint.parent == GROUND else skeleton.body_index(joint.parent)
            scaled_by = parent if dep.motion_type == TRANSLATIONAL else None
            self._couplers.append((cidx[c.dependent], cidx[c.independent], c.function, c.scale_factor, scaled_by))
        locs = np.array([m.location for m in skeleton.markers], dtype=np.float64).reshape(-1, 3)
        body_of = [(self.n_bodies if m.body == GROUND else skeleton.body_index(m.body)) for m in skeleton.markers]
        self.register_buffer("marker_index", torch.as_tensor(body_of, dtype=torch.long), persistent=False)
        self.marker_chains = nn.ModuleList(_Chain(m.frame_offsets) for m in skeleton.markers)
        self.chained_markers = [i for i, m in enumerate(skeleton.markers) if m.frame_offsets]
        self.register_buffer("marker_loc", torch.as_tensor(locs), persistent=False)
        self.register_buffer("eye3", torch.eye(3, dtype=torch.float64), persistent=False)  # no iota in exports
        self.to(dtype)

    def apply_couplers(self, q: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        """Fill coupler-dependent coordinates from their independents (static loop, export-friendly)."""
        if not self._couplers:
            return q
        cols = list(q.unbind(-1))
        for dep, ind, fn, factor, scaled_by in self._couplers:
            val = fn(cols[ind]) * factor
            if scaled_by is not None and scaled_by >= 0:
                val = val * scales[..., scaled_by, 0]  # OpenSim: uniform scaling only, x factor
            cols[dep] = val
        return torch.stack(cols, -1)

    def forward(self, q: torch.Tensor, scales: torch.Tensor | None = None) -> FKResult:
        if q.shape[-1] != self.n_coords:
            raise ValueError(f"expected {self.n_coords} coordinates in the last dim, got shape {tuple(q.shape)}")
        batch = q.shape[:-1]
        if scales is None:
            scales = torch.ones(*batch, self.n_bodies, 3, dtype=q.dtype, device=q.device)
        q = self.apply_couplers(q, scales)
        eye = self.eye3.to(q.dtype).expand(*batch, 3, 3)
        zero = torch.zeros(*batch, 3, dtype=q.dtype, device=q.device)
        rots: list[torch.Tensor] = []
        poss: list[torch.Tensor] = []
        centres: list[torch.Tensor] = []
        for j, joint in enumerate(self.joints):
            pi = joint.parent_index
            parent_scale = scales[..., pi, :] if pi >= 0 else None
            r, p, child_frame_pos = joint(q, parent_scale, scales[..., j, :])
            g_r, g_p = (rots[pi], poss[pi]) if pi >= 0 else (eye, zero)
            body_r, body_p = _compose(g_r, g_p, r, p)
            body_r = body_r if body_r is not None else eye
            body_p = body_p if body_p is not None else zero
            rots.append(body_r.expand(*batch, 3, 3))
            poss.append(body_p.expand(*batch, 3))
            # Joint centre = child frame origin = body origin + R_body · p_child_frame.
            cp = child_frame_pos
            centres.append(body_p if cp is None else body_p + (body_r @ cp.unsqueeze(-1)).squeeze(-1))
        body_rot = torch.stack(rots, -3)  # (..., B, 3, 3)
        body_pos = torch.stack(poss, -2)  # (..., B, 3)
        markers = self._markers(body_rot, body_pos, scales, eye, zero)
        return FKResult(body_rot, body_pos, torch.stack(centres, -2), markers, q)

    def _markers(self, body_rot, body_pos, scales, eye, zero) -> torch.Tensor:
        # Ground is appended as body index n_bodies so that every marker gathers from one table.
        rot = torch.cat([body_rot, eye.unsqueeze(-3)], -3)  # (..., B+1, 3, 3)
        pos = torch.cat([body_pos, zero.unsqueeze(-2)], -2)  # (..., B+1, 3)
        scl = torch.cat([scales, torch.ones_like(zero).unsqueeze(-2)], -2)  # (..., B+1, 3)
        idx = self.marker_index
        local = self.marker_loc * scl[..., idx, :]  # (..., M, 3)
        for m in self.chained_markers:  # markers on offset frames: rare, applied one by one
            fr, fp = self.marker_chains[m](scl[..., idx[m], :])
            local = local.clone()
            local[..., m, :] = (fr @ local[..., m, :].unsqueeze(-1)).squeeze(-1) + fp
        return pos[..., idx, :] + (rot[..., idx, :, :] @ local.unsqueeze(-1)).squeeze(-1)
