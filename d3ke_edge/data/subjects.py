"""Synthetic subjects: height and segment proportions -> per-body scale factors, girths and appearance.

A subject is plain data (numpy), drawn from a seeded generator so the same seed gives the same person.
Proportion noise is symmetric (left and right segments share their factors), as in real scaling from markers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton.builtin import REFERENCE_HEIGHT_M
from ..skeleton.model import Skeleton

__all__ = ["Subject", "sample_subject", "HEIGHT_RANGE_M", "MATERIALS"]

HEIGHT_RANGE_M = (1.45, 2.00)
MATERIALS = ("skin", "hair", "top", "bottom", "shoe")

# Segment groups whose length (y) and width (x, z) vary together, keyed by body-name prefix.
_GROUPS = {
    "pelvis": "pelvis", "femur": "thigh", "tibia": "shank", "talus": "foot", "calcn": "foot", "toes": "foot",
    "torso": "trunk", "head": "head", "humerus": "upper_arm", "ulna": "forearm", "radius": "forearm", "hand": "hand",
}
# Skin tones (linear-ish sRGB in [0, 1]) spanning light to dark, interpolated with noise.
_SKIN = np.array([[0.96, 0.80, 0.69], [0.90, 0.70, 0.56], [0.78, 0.57, 0.42], [0.62, 0.43, 0.30],
                  [0.45, 0.30, 0.21], [0.30, 0.20, 0.14]])
_HAIR = np.array([[0.08, 0.06, 0.05], [0.25, 0.16, 0.09], [0.50, 0.35, 0.18], [0.80, 0.68, 0.45],
                  [0.55, 0.55, 0.55], [0.45, 0.18, 0.08]])


@dataclass(frozen=True)
class Subject:
    height_m: float
    scales: np.ndarray  # (n_bodies, 3) per-body xyz scale factors of the skeleton
    girth: dict[str, float]  # multiplicative radius factors per region (trunk, arms, legs)
    colors: dict[str, np.ndarray]  # material -> base RGB (3,)
    long_sleeves: bool
    long_pants: bool
    texture: tuple[int, float, float]  # (kind 0 plain / 1 stripes / 2 checker, frequency, amplitude)


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def sample_subject(skel: Skeleton, rng: np.random.Generator) -> Subject:
    """Draw a person: height 1.45-2.00 m, proportions +-~5 %, girths, skin/hair/clothing colours."""
    height = float(rng.uniform(*HEIGHT_RANGE_M))
    base = height / REFERENCE_HEIGHT_M
    groups = sorted(set(_GROUPS.values()))  # sorted: set order varies with the process hash seed
    length = {g: float(np.clip(rng.normal(1.0, 0.04), 0.9, 1.1)) for g in groups}
    width = {g: float(np.clip(rng.normal(1.0, 0.06), 0.85, 1.15)) for g in groups}
    scales = np.ones((len(skel.bodies), 3))
    for i, name in enumerate(skel.body_names):
        group = _GROUPS.get(name.rsplit("_", 1)[0] if name.endswith(("_r", "_l")) else name)
        if group is None:
            continue
        scales[i] = base * np.array([width[group], length[group], width[group]])
    build = float(rng.uniform(0.85, 1.3))  # slim .. heavy; trunk and thighs follow it most
    girth = {"trunk": build * rng.uniform(0.95, 1.05), "legs": (0.5 + 0.5 * build) * rng.uniform(0.95, 1.05),
             "arms": (0.6 + 0.4 * build) * rng.uniform(0.95, 1.05), "head": float(rng.uniform(0.95, 1.05))}
    w = rng.uniform(0, len(_SKIN) - 1)
    skin = _SKIN[int(w)] * (1 - w % 1) + _SKIN[min(int(w) + 1, len(_SKIN) - 1)] * (w % 1)
    colors = {
        "skin": np.clip(skin * rng.uniform(0.95, 1.05, 3), 0, 1),
        "hair": np.clip(_HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.85, 1.15), 0, 1),
        "top": _hsv_to_rgb(rng.uniform(), rng.uniform(0.0, 0.9), rng.uniform(0.15, 0.95)),
        "bottom": _hsv_to_rgb(rng.uniform(), rng.uniform(0.0, 0.7), rng.uniform(0.1, 0.8)),
        "shoe": _hsv_to_rgb(rng.uniform(), rng.uniform(0.0, 0.5), rng.uniform(0.05, 0.95)),
    }
    texture = (int(rng.integers(3)), float(rng.uniform(4, 14)), float(rng.uniform(0.1, 0.35)))
    return Subject(height, scales, {k: float(v) for k, v in girth.items()}, colors, bool(rng.random() < 0.5),
                   bool(rng.random() < 0.6), texture)
