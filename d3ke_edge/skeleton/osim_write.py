"""Write a :class:`Skeleton` as an OpenSim 4 ``.osim`` file (and marker sets as MarkerSet ``.xml``).

Joints whose axes match a built-in OpenSim joint type are written as that type (PinJoint, BallJoint, ...);
everything else as a CustomJoint with its full SpatialTransform. Files are written atomically.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from ..utils.atomic import atomic_write_text
from .functions import is_identity
from .model import GROUND, Joint, Marker, Offset, Skeleton
from .osim_parse import JOINT_DOFS

__all__ = ["skeleton_to_xml", "write_osim", "write_marker_set"]

_AXIS_NAMES = ("rotation1", "rotation2", "rotation3", "translation1", "translation2", "translation3")


def _vec(values) -> str:
    return " ".join(repr(float(v)) for v in values)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, **attrs)
    if text is not None:
        el.text = text
    return el


def _frame_path(body: str) -> str:
    return "/ground" if body == GROUND else f"/bodyset/{body}"


def _native_kind(joint: Joint) -> str | None:
    """The built-in OpenSim joint type whose coordinate layout this joint has exactly, if any."""
    live = [a for a in joint.axes if not a.is_static_zero]
    if any(a.coordinate is None or not is_identity(a.function) for a in live):
        return None
    if tuple(a.coordinate for a in live) != joint.coordinates:
        return None
    layout = tuple((a.is_rotation, tuple(float(v) for v in a.axis)) for a in live)
    matches = [kind for kind, dofs in JOINT_DOFS.items() if layout == dofs]  # Ball and Gimbal share a layout
    return joint.kind if joint.kind in matches else next(iter(matches), None)


def _offset_frames(parent: ET.Element, owner: str, stem: str, body: str, chain: tuple[Offset, ...]) -> str:
    """Write a chain of PhysicalOffsetFrames under ``parent``; returns the socket path of its last frame."""
    if not chain:
        return _frame_path(body)
    socket = _frame_path(body)
    for i, off in enumerate(chain):
        name = stem if i == len(chain) - 1 else f"{stem}_{i}"
        fr = _sub(parent, "PhysicalOffsetFrame", name=name)
        _sub(fr, "socket_parent", socket)
        _sub(fr, "translation", _vec(off.translation))
        _sub(fr, "orientation", _vec(off.orientation))
        socket = f"{owner}/{name}"
    return socket


def _joint_xml(skel: Skeleton, joint: Joint) -> ET.Element:
    kind = _native_kind(joint) or "CustomJoint"
    el = ET.Element(kind, name=joint.name)
    owner = f"/jointset/{joint.name}"
    frames = ET.Element("frames")
    parent_stem = f"{joint.parent}_offset"
    child_stem = f"{joint.child}_offset" if joint.child != joint.parent else f"{joint.child}_child_offset"
    _sub(el, "socket_parent_frame", _offset_frames(frames, owner, parent_stem, joint.parent, joint.parent_offsets))
    _sub(el, "socket_child_frame", _offset_frames(frames, owner, child_stem, joint.child, joint.child_offsets))
    coords = _sub(el, "coordinates")
    for name in joint.coordinates:
        c = skel.coordinate(name)
        ce = _sub(coords, "Coordinate", name=c.name)
        _sub(ce, "default_value", repr(float(c.default)))
        _sub(ce, "default_speed_value", "0")
        _sub(ce, "range", _vec(c.range))
        _sub(ce, "clamped", "true" if c.clamped else "false")
        _sub(ce, "locked", "true" if c.locked else "false")
    el.append(frames)
    if kind == "CustomJoint":
        st = _sub(el, "SpatialTransform")
        for name, ax in zip(_AXIS_NAMES, joint.axes):
            ta = _sub(st, "TransformAxis", name=name)
            _sub(ta, "coordinates", ax.coordinate or "")
            _sub(ta, "axis", _vec(ax.axis))
            ta.append(ax.function.to_xml("function"))
    return el


def _marker_xml(m: Marker, frames_by_body: dict[str, ET.Element]) -> ET.Element:
    el = ET.Element("Marker", name=m.name)
    socket = _frame_path(m.body)
    if m.frame_offsets:  # markers on offset frames: the frames live in the body's <components>
        holder = frames_by_body[m.body]
        socket = _offset_frames(holder, _frame_path(m.body), f"{m.name}_frame", m.body, m.frame_offsets)
    _sub(el, "socket_parent_frame", socket)
    _sub(el, "location", _vec(m.location))
    _sub(el, "fixed", "false")
    return el


def skeleton_to_xml(skel: Skeleton) -> ET.ElementTree:
    """The OpenSim 4 document for ``skel`` (bodies, joints, coordinates, couplers, markers)."""
    root = ET.Element("OpenSimDocument", Version="40000")
    model = _sub(root, "Model", name=skel.name)
    if skel.credits:
        _sub(model, "credits", skel.credits)
    _sub(model, "length_units", "meters")
    _sub(model, "force_units", "N")
    _sub(model, "gravity", "0 -9.8066499999999994 0")
    _sub(model, "Ground", name="ground")
    bodies = _sub(_sub(model, "BodySet", name="bodyset"), "objects")
    components: dict[str, ET.Element] = {}
    for b in skel.bodies:
        be = _sub(bodies, "Body", name=b.name)
        _sub(be, "mass", repr(float(b.mass)))
        _sub(be, "mass_center", _vec(b.mass_center))
        _sub(be, "inertia", _vec(b.inertia))
        if any(m.body == b.name and m.frame_offsets for m in skel.markers):
            components[b.name] = _sub(be, "components")
    joints = _sub(_sub(model, "JointSet", name="jointset"), "objects")
    for j in skel.joints:
        joints.append(_joint_xml(skel, j))
    cons = _sub(_sub(model, "ConstraintSet", name="constraintset"), "objects")
    for c in skel.couplers:
        ce = _sub(cons, "CoordinateCouplerConstraint", name=c.name)
        _sub(ce, "isEnforced", "true")
        _sub(ce, "coupled_coordinates_function").append(c.function.to_xml("function"))
        _sub(ce, "independent_coordinate_names", c.independent)
        _sub(ce, "dependent_coordinate_name", c.dependent)
        _sub(ce, "scale_factor", repr(float(c.scale_factor)))
    markers = _sub(_sub(model, "MarkerSet", name="markerset"), "objects")
    for m in skel.markers:
        markers.append(_marker_xml(m, components))
    tree = ET.ElementTree(root)
    ET.indent(tree, space="\t")
    return tree


def _serialise(tree: ET.ElementTree) -> str:
    return '<?xml version="1.0" encoding="UTF-8" ?>\n' + ET.tostring(tree.getroot(), encoding="unicode") + "\n"


def write_osim(skel: Skeleton, path: str | Path) -> Path:
    """Write ``skel`` to ``path`` atomically; returns the path."""
    return atomic_write_text(path, _serialise(skeleton_to_xml(skel)))


def write_marker_set(markers: list[Marker] | tuple[Marker, ...], path: str | Path) -> Path:
    """Write markers as an OpenSim MarkerSet file (markers must sit directly on bodies)."""
    root = ET.Element("OpenSimDocument", Version="40000")
    objects = _sub(_sub(root, "MarkerSet", name="markerset"), "objects")
    for m in markers:
        if m.frame_offsets:
            raise ValueError(f"marker '{m.name}' sits on an offset frame; a MarkerSet file can only attach to bodies")
        objects.append(_marker_xml(m, {}))
    tree = ET.ElementTree(root)
    ET.indent(tree, space="\t")
    return atomic_write_text(path, _serialise(tree))
