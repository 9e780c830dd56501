"""OpenSim skeleton: parse/write .osim, differentiable forward kinematics, mirroring, the built-in model."""

from .fk import FKResult, ForwardKinematics
from .model import Body, Coordinate, Coupler, Joint, Marker, Offset, Skeleton, TransformAxis
from .osim_parse import OsimError, load_marker_set, load_osim

__all__ = [
    "Body", "Coordinate", "Coupler", "FKResult", "ForwardKinematics", "Joint", "Marker", "Offset", "OsimError",
    "Skeleton", "TransformAxis", "load_marker_set", "load_osim",
]
