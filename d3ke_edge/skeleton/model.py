"""The skeleton as plain, immutable data: bodies, joints, coordinates, markers, coupler constraints.

Every OpenSim joint type is stored in one general form, the CustomJoint ``SpatialTransform``: three rotation
axes applied in sequence (body-fixed) and three translation axes expressed in the joint's parent frame, each
driven by one coordinate through a function. Offset frames are kept as chains of (translation, XYZ body-fixed
orientation) because OpenSim scales each link of a chain by its base body's factors.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .functions import Constant, OsimFunction
from .rotations import euler_xyz_body_fixed

__all__ = [
    "GROUND",
    "Offset",
    "TransformAxis",
    "Coordinate",
    "Joint",
    "Body",
    "Marker",
    "Coupler",
    "Skeleton",
]

GROUND = "ground"

ROTATIONAL, TRANSLATIONAL, COUPLED = "rotational", "translational", "coupled"


@dataclass(frozen=True)
class Offset:
    """A rigid offset: translation (m) and XYZ body-fixed Euler orientation (rad), as OpenSim writes frames."""

    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    orientation: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def rotation_matrix(self) -> np.ndarray:
        return euler_xyz_body_fixed(np.asarray(self.orientation, dtype=np.float64))


@dataclass(frozen=True)
class TransformAxis:
    """One of a SpatialTransform's six axes: ``value = function(coordinate)`` about/along ``axis``."""

    is_rotation: bool
    axis: tuple[float, float, float]
    coordinate: str | None = None
    function: OsimFunction = field(default_factory=Constant)

    @property
    def is_static_zero(self) -> bool:
        return self.function.is_constant and float(self.function.evaluate(0.0)) == 0.0


@dataclass(frozen=True)
class Coordinate:
    name: str
    joint: str
    motion_type: str  # rotational | translational | coupled
    default: float = 0.0
    range: tuple[float, float] = (-np.pi / 2, np.pi / 2)
    locked: bool = False
    clamped: bool = True

    @property
    def is_rotational(self) -> bool:
        return self.motion_type != TRANSLATIONAL


@dataclass(frozen=True)
class Joint:
    name: str
    kind: str  # the OpenSim type it was read as (CustomJoint, PinJoint, ...)
    parent: str  # body name or GROUND
    child: str
    parent_offsets: tuple[Offset, ...]  # chain from the parent body to the joint frame P
    child_offsets: tuple[Offset, ...]  # chain from the child body to the joint frame C
    axes: tuple[TransformAxis, ...]  # 3 rotations then 3 translations
    coordinates: tuple[str, ...]


@dataclass(frozen=True)
class Body:
    name: str
    mass: float = 1.0
    mass_center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    inertia: tuple[float, float, float, float, float, float] = (0.01, 0.01, 0.01, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Marker:
    name: str
    body: str  # base body (or GROUND)
    location: tuple[float, float, float]
    frame_offsets: tuple[Offset, ...] = ()  # chain from the body to the frame the marker is attached to


@dataclass(frozen=True)
class Coupler:
    """CoordinateCouplerConstraint: ``dependent = scale_factor * function(independent)``."""

    name: str
    dependent: str
    independent: str
    function: OsimFunction
    scale_factor: float = 1.0


@dataclass(frozen=True)
class Skeleton:
    """A parsed or generated OpenSim model, bodies ordered parent-before-child."""

    name: str
    bodies: tuple[Body, ...]
    joints: tuple[Joint, ...]  # joints[i] moves bodies[i]
    coordinates: tuple[Coordinate, ...]
    markers: tuple[Marker, ...] = ()
    couplers: tuple[Coupler, ...] = ()
    source: str = "<generated>"
    credits: str = ""

    def __post_init__(self) -> None:
        if len(self.joints) != len(self.bodies) or any(j.child != b.name for j, b in zip(self.joints, self.bodies)):
            raise ValueError("Skeleton: joints[i] must be the joint whose child is bodies[i]")
        seen = {GROUND}
        for joint in self.joints:
            if joint.parent not in seen:
                raise ValueError(f"Skeleton: joint '{joint.name}' has parent '{joint.parent}' that is not earlier in the tree")
            seen.add(joint.child)
        for name, items in (("coordinate", self.coordinate_names), ("marker", self.marker_names), ("body", self.body_names)):
            dupes = sorted({n for n in items if items.count(n) > 1})
            if dupes:
                raise ValueError(f"Skeleton: duplicate {name} names {dupes}")

    # --- names and lookups -------------------------------------------------------------------------------------
    @cached_property
    def body_names(self) -> list[str]:
        return [b.name for b in self.bodies]

    @cached_property
    def coordinate_names(self) -> list[str]:
        return [c.name for c in self.coordinates]

    @cached_property
    def marker_names(self) -> list[str]:
        return [m.name for m in self.markers]

    @cached_property
    def joint_names(self) -> list[str]:
        return [j.name for j in self.joints]

    def body_index(self, name: str) -> int:
        try:
            return self.body_names.index(name)
        except ValueError:
            raise KeyError(f"unknown body '{name}'; bodies are {self.body_names}") from None

    def coordinate(self, name: str) -> Coordinate:
        for c in self.coordinates:
            if c.name == name:
                return c
        raise KeyError(f"unknown coordinate '{name}'; coordinates are {self.coordinate_names}")

    @cached_property
    def dependent_coordinates(self) -> list[str]:
        return [c.dependent for c in self.couplers]

    @cached_property
    def independent_coordinates(self) -> list[str]:
        """Coordinates a pose is given by: not set by a coupler constraint."""
        dep = set(self.dependent_coordinates)
        return [n for n in self.coordinate_names if n not in dep]

    @cached_property
    def ranges(self) -> np.ndarray:  # (n_coords, 2)
        return np.array([c.range for c in self.coordinates], dtype=np.float64)

    @cached_property
    def defaults(self) -> np.ndarray:  # (n_coords,)
        return np.array([c.default for c in self.coordinates], dtype=np.float64)

    def with_markers(self, markers: tuple[Marker, ...] | list[Marker], replace: bool = False) -> "Skeleton":
        """A copy with markers merged in (same names replaced), as OpenSim does for a MarkerSet file."""
        new = {m.name: m for m in markers}
        kept = () if replace else tuple(m for m in self.markers if m.name not in new)
        from dataclasses import replace as dc_replace

        return dc_replace(self, markers=kept + tuple(markers))

    # --- identity ------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Kinematic content as JSON-able data (what the hash covers)."""

        def fn(f: OsimFunction) -> dict:
            d = {"type": f.xml_tag}
            for k, v in vars(f).items():
                if k.startswith("_"):
                    continue
                d[k] = fn(v) if isinstance(v, OsimFunction) else v
            return d

        return {
            "bodies": self.body_names,
            "joints": [
                {
                    "name": j.name, "parent": j.parent, "child": j.child,
                    "parent_offsets": [vars(o) for o in j.parent_offsets],
                    "child_offsets": [vars(o) for o in j.child_offsets],
                    # Inert axes (constant zero) are left out: a PinJoint and its CustomJoint twin hash alike.
                    "axes": [
                        {"rot": a.is_rotation, "axis": a.axis, "coord": a.coordinate, "fn": fn(a.function)}
                        for a in j.axes
                        if not a.is_static_zero
                    ],
                }
                for j in self.joints
            ],
            "coordinates": [vars(c) for c in self.coordinates],
            "markers": [
                {"name": m.name, "body": m.body, "loc": m.location, "frames": [vars(o) for o in m.frame_offsets]}
                for m in self.markers
            ],
            "couplers": [
                {"dep": c.dependent, "ind": c.independent, "fn": fn(c.function), "s": c.scale_factor} for c in self.couplers
            ],
        }

    @cached_property
    def hash(self) -> str:
        """Short content hash of the kinematics; exported models and datasets record it."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=float).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
