"""The bounded kinematic output space shared by every head: parameters -> coordinates, scales, rotation, FK.

One source of truth for what a model predicts (and what exports carry as metadata):
- ``rot6d`` (6): pelvis orientation in the camera frame, Gram-Schmidt to 3x3 (Zhou et al. 2019, as D3KE);
- ``p`` (n_scale + n_coord) in (-1, 1): scale factors per body group (left/right share) and the coordinates
  that are not the root's six nor set by a coupler, each mapped linearly to its range from the skeleton.
Everything is root-relative in the camera frame of the crop (D3KE does not predict pelvis translation).
"""

from __future__ import annotations

import torch
from torch import nn

from ..skeleton.fk import ForwardKinematics
from ..skeleton.mirror import side_partner
from ..skeleton.model import GROUND, Skeleton
from ..skeleton.rotations import rotation_6d_to_matrix

__all__ = ["KinematicSpace", "SCALE_RANGE"]

SCALE_RANGE = (0.65, 1.40)  # covers the synthetic subjects (0.74-1.30) with margin


class KinematicSpace(nn.Module):
    """The parameter vector's layout lives here and only here: ``params = join(rot6d, p)`` (6D rotation first, then
    the bounded values); ``split``, ``decode_params`` and ``refine`` read it."""

    ROT_DIM = 6  # the 6D rotation at the front of every parameter vector

    def __init__(self, skeleton: Skeleton, scale_range: tuple[float, float] = SCALE_RANGE):
        super().__init__()
        self.skeleton = skeleton
        root = next(j for j in skeleton.joints if j.parent == GROUND)
        self.root_coordinates = list(root.coordinates)
        excluded = set(self.root_coordinates) | set(skeleton.dependent_coordinates)
        self.predicted = [c.name for c in skeleton.coordinates if c.name not in excluded and not c.locked]
        groups: list[str] = []
        for b in skeleton.body_names:  # one xyz group per body, shared by left/right partners
            key = min(b, side_partner(b, skeleton.body_names))
            if key not in groups:
                groups.append(key)
        self.scale_groups = groups
        body_group = [groups.index(min(b, side_partner(b, skeleton.body_names))) for b in skeleton.body_names]
        self.n_scale = 3 * len(groups)
        self.n_coord = len(self.predicted)
        self.dim = self.ROT_DIM + self.n_scale + self.n_coord
        idx = [skeleton.coordinate_names.index(n) for n in self.predicted]
        lo, hi = skeleton.ranges[idx, 0], skeleton.ranges[idx, 1]
        self.register_buffer("coord_index", torch.as_tensor(idx, dtype=torch.long), persistent=False)
        self.register_buffer("coord_centre", torch.as_tensor((lo + hi) / 2, dtype=torch.float32), persistent=False)
        self.register_buffer("coord_half", torch.as_tensor((hi - lo) / 2, dtype=torch.float32), persistent=False)
        self.register_buffer("coord_default", torch.as_tensor(skeleton.defaults, dtype=torch.float32), persistent=False)
        root_idx = [skeleton.coordinate_names.index(n) for n in self.root_coordinates]
        self.coord_default[root_idx] = 0.0  # root pose comes from rot6d; translation is not predicted
        # coordinates = cat([predicted values, defaults])[gather]: a constant-index gather instead of an
        # index_put, which Core ML's converter rejects.
        gather = [len(idx) + i for i in range(len(skeleton.coordinates))]
        for k, i in enumerate(idx):
            gather[i] = k
        self.register_buffer("coord_gather", torch.as_tensor(gather, dtype=torch.long), persistent=False)
        self.register_buffer("body_group", torch.as_tensor(body_group, dtype=torch.long), persistent=False)
        first = [body_group.index(g) for g in range(len(groups))]  # a representative body per group
        self.register_buffer("group_first", torch.as_tensor(first, dtype=torch.long), persistent=False)
        self.scale_range = scale_range
        self.fk = ForwardKinematics(skeleton)
        pelvis = skeleton.body_index(root.child)
        self.root_body = pelvis

    # --- the parameter vector's layout ----------------------------------------------------------------------------
    @classmethod
    def split(cls, params: torch.Tensor, dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
        """params (..., D) -> rot6d (..., 6), p (..., D-6); ``dim`` picks another axis (a head's channels)."""
        lead = (slice(None),) * (dim % params.dim())  # plain slices: the exported graphs stay what they were
        return params[lead + (slice(None, cls.ROT_DIM),)], params[lead + (slice(cls.ROT_DIM, None),)]

    @staticmethod
    def join(rot6d: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return torch.cat([rot6d, p], -1)

    @classmethod
    def refine(cls, params: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """A temporal head's correction in the unbounded domain: rot6d adds, p stays in (-1, 1) through atanh/tanh."""
        rot6d, p = cls.split(params)
        d_rot, d_p = cls.split(delta)
        return cls.join(rot6d + d_rot, torch.tanh(torch.atanh(p.clamp(-0.999999, 0.999999)) + d_p))

    def decode_params(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.decode(*self.split(params))

    # --- the bounded mapping -------------------------------------------------------------------------------------
    def coordinates(self, p: torch.Tensor) -> torch.Tensor:
        """(..., n_scale + n_coord) in (-1, 1) -> all coordinates (..., n_coords); others at defaults."""
        values = self.coord_centre + self.coord_half * p[..., self.n_scale :]
        both = torch.cat([values, self.coord_default.expand(*p.shape[:-1], -1)], -1)
        return both.index_select(-1, self.coord_gather)

    def scales(self, p: torch.Tensor) -> torch.Tensor:
        """(..., n_scale + n_coord) -> per-body xyz scale factors (..., n_bodies, 3)."""
        lo, hi = self.scale_range
        groups = (lo + hi) / 2 + (hi - lo) / 2 * p[..., : self.n_scale]
        groups = groups.reshape(*p.shape[:-1], -1, 3)  # (..., G, 3)
        return groups[..., self.body_group, :]

    def encode_targets(self, coordinates: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        """Inverse of the mapping for labels: (coords, scales) -> p (clipped into [-1, 1])."""
        lo, hi = self.scale_range
        s = (scales[..., self.group_first, :].flatten(-2) - (lo + hi) / 2) / ((hi - lo) / 2)
        c = (coordinates[..., self.coord_index] - self.coord_centre) / self.coord_half
        return torch.cat([s, c], -1).clamp(-1.0, 1.0)

    def decode(self, rot6d: torch.Tensor, p: torch.Tensor) -> dict[str, torch.Tensor]:
        """Bounded parameters -> coordinates, scales, pelvis rotation, root-relative camera-frame points."""
        q = self.coordinates(p)
        s = self.scales(p)
        rot = rotation_6d_to_matrix(rot6d)  # (..., 3, 3) pelvis -> camera
        res = self.fk(q, s)
        origin = res.body_origins[..., self.root_body : self.root_body + 1, :]
        # With the root coordinates at zero the pelvis frame is ground's (up to its fixed offset).
        r0 = res.body_rotations[..., self.root_body, :, :]
        to_cam = rot @ r0.transpose(-1, -2)

        def cam(x: torch.Tensor) -> torch.Tensor:
            return (x - origin) @ to_cam.transpose(-1, -2)

        return {
            "coordinates": q,
            "scales": s,
            "pelvis_rot_cam": rot,
            "markers_rel": cam(res.markers),
            "joints_rel": cam(res.joint_centres),
        }

    def metadata(self) -> dict:
        """What an exported artefact needs to interpret the outputs, without copying numbers."""
        skel = self.skeleton
        return {
            "skeleton_name": skel.name,
            "skeleton_hash": skel.hash,
            "coordinate_names": skel.coordinate_names,
            "coordinate_ranges": skel.ranges.tolist(),
            "coordinate_motion_types": [c.motion_type for c in skel.coordinates],
            "predicted_coordinates": self.predicted,
            "root_coordinates": self.root_coordinates,
            "marker_names": skel.marker_names,
            "joint_names": skel.joint_names,
            # each joint's parent joint (-1: the root's parent is the ground): the bones an app draws
            "joint_parents": [next((k for k, p in enumerate(skel.joints) if p.child == j.parent), -1)
                              for j in skel.joints],
            "body_names": skel.body_names,
            "scale_groups": self.scale_groups,
            "scale_range": list(self.scale_range),
            "param_layout": {"rot6d": 6, "scales": self.n_scale, "coordinates": self.n_coord},
        }
