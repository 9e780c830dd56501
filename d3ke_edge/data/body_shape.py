"""Body volume for rendering: tapered capsules whose end points ride on skeleton bodies.

Each primitive joins point A (fixed in body ``body_a``) to point B (fixed in ``body_b``) with radii that taper
from ``r_a`` to ``r_b``; end points are in the reference subject's body frames and scale with the body's scale
factors, radii with the subject's height and girth. Defined for the built-in skeleton (body names below).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..skeleton.builtin import FOREARM, SHANK, THIGH, UPPER_ARM
from ..skeleton.fk import FKResult
from ..skeleton.model import Skeleton
from .subjects import MATERIALS, Subject

__all__ = ["Primitive", "PRIMITIVES", "primitive_table", "primitives_in_ground", "SURFACE_MARGIN_M"]

SURFACE_MARGIN_M = 0.006


@dataclass(frozen=True)
class Primitive:
    name: str
    body_a: str
    a: tuple[float, float, float]
    body_b: str
    b: tuple[float, float, float]
    r_a: float
    r_b: float
    material: str  # skin | hair | top | bottom | shoe; sleeves/pants switch some to skin
    girth: str  # trunk | legs | arms | head
    part: str  # body part for visibility labels


def _limbs(s: str) -> list[Primitive]:
    z = 1.0 if s == "r" else -1.0
    return [
        Primitive(f"upper_arm_{s}", f"humerus_{s}", (0, 0, 0), f"humerus_{s}", (0, -UPPER_ARM, 0), 0.05, 0.04,
                  "top", "arms", f"humerus_{s}"),
        Primitive(f"forearm_{s}", f"radius_{s}", (0, 0, 0), f"radius_{s}", (0, -FOREARM, 0), 0.041, 0.029,
                  "sleeve", "arms", f"radius_{s}"),
        Primitive(f"hand_{s}", f"hand_{s}", (0, -0.01, 0), f"hand_{s}", (0, -0.17, 0), 0.03, 0.022,
                  "skin", "arms", f"hand_{s}"),
        Primitive(f"thigh_{s}", f"femur_{s}", (0, 0, 0.005 * z), f"femur_{s}", (0, -THIGH, 0), 0.085, 0.055,
                  "bottom", "legs", f"femur_{s}"),
        Primitive(f"shank_{s}", f"tibia_{s}", (0, 0, 0), f"tibia_{s}", (0, -SHANK, 0), 0.055, 0.035,
                  "pants", "legs", f"tibia_{s}"),
        Primitive(f"foot_{s}", f"calcn_{s}", (-0.005, 0.02, 0.002 * z), f"toes_{s}", (0.065, 0.0, -0.003 * z), 0.048, 0.034,
                  "shoe", "legs", f"calcn_{s}"),
    ]


PRIMITIVES: tuple[Primitive, ...] = (
    Primitive("hips", "pelvis", (-0.05, -0.07, 0.085), "pelvis", (-0.05, -0.07, -0.085), 0.105, 0.105,
              "bottom", "trunk", "pelvis"),
    Primitive("buttocks", "pelvis", (-0.10, -0.03, 0.05), "pelvis", (-0.10, -0.03, -0.05), 0.08, 0.08,
              "bottom", "trunk", "pelvis"),
    Primitive("abdomen_r", "torso", (0.025, 0.0, 0.05), "torso", (0.03, 0.22, 0.055), 0.105, 0.11, "top", "trunk", "torso"),
    Primitive("abdomen_l", "torso", (0.025, 0.0, -0.05), "torso", (0.03, 0.22, -0.055), 0.105, 0.11, "top", "trunk", "torso"),
    Primitive("chest_r", "torso", (0.045, 0.2, 0.05), "torso", (0.025, 0.345, 0.085), 0.12, 0.105, "top", "trunk", "torso"),
    Primitive("chest_l", "torso", (0.045, 0.2, -0.05), "torso", (0.025, 0.345, -0.085), 0.12, 0.105, "top", "trunk", "torso"),
    Primitive("neck", "torso", (0.02, 0.36, 0.0), "head", (0.02, 0.07, 0.0), 0.05, 0.048, "skin", "head", "head"),
    Primitive("head", "head", (0.03, 0.11, 0.0), "head", (0.035, 0.165, 0.0), 0.092, 0.088, "skin", "head", "head"),
    # Hair covers the top and back of the head, so front and back views differ (the face stays skin).
    Primitive("hair", "head", (-0.025, 0.135, 0.0), "head", (0.005, 0.19, 0.0), 0.088, 0.08, "hair", "head", "head"),
    *_limbs("r"),
    *_limbs("l"),
)


def primitive_table(skel: Skeleton, subject: Subject, prims: tuple[Primitive, ...] = PRIMITIVES) -> dict[str, np.ndarray]:
    """Constant per-subject arrays: body indices, local points (scaled), radii, colours, part ids."""
    missing = sorted(({p.body_a for p in prims} | {p.body_b for p in prims}) - set(skel.body_names))
    if missing:
        raise ValueError(f"skeleton '{skel.name}' lacks bodies {missing} that the body shape is built on; "
                         "the synthetic renderer needs the built-in skeleton")
    ia = np.array([skel.body_index(p.body_a) for p in prims])
    ib = np.array([skel.body_index(p.body_b) for p in prims])
    scale_h = subject.height_m / 1.75
    # +6 mm of skin and cloth over the bony landmarks, so surface markers fall inside the silhouette.
    radii = (np.array([[p.r_a, p.r_b] for p in prims]) + SURFACE_MARGIN_M) * scale_h
    radii *= np.array([subject.girth[p.girth] for p in prims])[:, None]

    def material(p: Primitive) -> str:
        if p.material == "sleeve":
            return "top" if subject.long_sleeves else "skin"
        if p.material == "pants":
            return "bottom" if subject.long_pants else "skin"
        return p.material

    mats = [material(p) for p in prims]
    return {
        "body_a": ia, "body_b": ib,
        "local_a": np.array([p.a for p in prims]) * subject.scales[ia],
        "local_b": np.array([p.b for p in prims]) * subject.scales[ib],
        "radii": radii,
        "color": np.stack([subject.colors[m] for m in mats]),
        "textured": np.array([m in ("top", "bottom") for m in mats]),
        "material": np.array([MATERIALS.index(m) for m in mats]),
        "part": np.array([skel.body_index(p.part) for p in prims]),
    }


def primitives_in_ground(fk: FKResult, table: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """End points (..., P, 2, 3) in ground from an FK result and the per-subject table (as tensors)."""
    rot, org = fk.body_rotations, fk.body_origins
    pa = org[..., table["body_a"], :] + (rot[..., table["body_a"], :, :] @ table["local_a"].unsqueeze(-1)).squeeze(-1)
    pb = org[..., table["body_b"], :] + (rot[..., table["body_b"], :, :] @ table["local_b"].unsqueeze(-1)).squeeze(-1)
    return torch.stack([pa, pb], -2), table["radii"]
