"""Read an OpenSim 4.x ``.osim`` model (and MarkerSet ``.xml`` files) into a :class:`Skeleton`.

Only what forward kinematics needs is read; everything else (geometry, forces, contact) is ignored. Anything
kinematic we cannot honour exactly (an unknown joint or function type, a reversed joint, a constraint other than
CoordinateCouplerConstraint) raises :class:`OsimError` naming the element, its name and the file: a silent
identity transform would give wrong angles without anyone noticing.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np

from . import functions as F
from .model import (
    COUPLED,
    GROUND,
    ROTATIONAL,
    TRANSLATIONAL,
    Body,
    Coordinate,
    Coupler,
    Joint,
    Marker,
    Offset,
    Skeleton,
    TransformAxis,
)

__all__ = ["OsimError", "load_osim", "load_marker_set", "JOINT_DOFS"]

_X, _Y, _Z = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)

# Built-in joint types as (is_rotation, axis) per coordinate, in the order of their <coordinates> list.
# Rotations are body-fixed in sequence, translations are along the parent frame's axes (verified against opensim).
JOINT_DOFS: dict[str, tuple[tuple[bool, tuple[float, float, float]], ...]] = {
    "WeldJoint": (),
    "PinJoint": ((True, _Z),),
    "SliderJoint": ((False, _X),),
    "UniversalJoint": ((True, _X), (True, _Y)),
    "BallJoint": ((True, _X), (True, _Y), (True, _Z)),
    "GimbalJoint": ((True, _X), (True, _Y), (True, _Z)),
    "FreeJoint": ((True, _X), (True, _Y), (True, _Z), (False, _X), (False, _Y), (False, _Z)),
    "PlanarJoint": ((True, _Z), (False, _X), (False, _Y)),
}
_SUPPORTED_JOINTS = sorted([*JOINT_DOFS, "CustomJoint"])
_AXIS_NAMES = ("rotation1", "rotation2", "rotation3", "translation1", "translation2", "translation3")


class OsimError(ValueError):
    """An .osim or MarkerSet file we cannot read exactly; the message names the element, its name and the file."""


class _Reader:
    """Parsing context: the file (for messages) and a resolver for component paths."""

    def __init__(self, path: Path):
        self.path = path
        self.frames: dict[str, tuple[str, ET.Element | None, str]] = {}  # abs path -> (kind, element, owner path)

    def fail(self, el: ET.Element | None, what: str) -> OsimError:
        tag = el.tag if el is not None else "model"
        name = el.get("name", "") if el is not None else ""
        return OsimError(f"{self.path}: <{tag} name='{name}'>: {what}")

    def text(self, el: ET.Element, child: str, default: str | None = None) -> str:
        node = el.find(child)
        if node is None or node.text is None:
            if default is None:
                raise self.fail(el, f"missing <{child}>")
            return default
        return node.text.strip()

    def floats(self, el: ET.Element, child: str, n: int | None = None, default: str | None = None) -> tuple[float, ...]:
        raw = self.text(el, child, default)
        try:
            vals = tuple(float(v) for v in raw.split())
        except ValueError:
            raise self.fail(el, f"<{child}> is not a list of numbers: '{raw}'") from None
        if n is not None and len(vals) != n:
            raise self.fail(el, f"<{child}> must hold {n} numbers, got {len(vals)}: '{raw}'")
        if not all(np.isfinite(vals)):
            raise self.fail(el, f"<{child}> holds a non-finite number: '{raw}'")
        return vals

    def flag(self, el: ET.Element, child: str, default: bool) -> bool:
        raw = self.text(el, child, "true" if default else "false").lower()
        if raw not in ("true", "false", "1", "0"):
            raise self.fail(el, f"<{child}> must be true or false, got '{raw}'")
        return raw in ("true", "1")

    # --- functions ---------------------------------------------------------------------------------------------
    def function(self, el: ET.Element) -> F.OsimFunction:
        tag = el.tag
        if tag == "function":  # pre-4.0 style wrapper <function><SimmSpline>...</SimmSpline></function>
            inner = [c for c in el if isinstance(c.tag, str)]
            if len(inner) != 1:
                raise self.fail(el, "expected exactly one function inside <function>")
            return self.function(inner[0])
        if tag not in F.FUNCTION_TYPES:
            raise self.fail(el, f"unsupported function type '{tag}'; supported: {sorted(F.FUNCTION_TYPES)}")
        try:
            if tag == "Constant":
                return F.Constant(self.floats(el, "value", 1)[0])
            if tag == "LinearFunction":
                slope, intercept = self.floats(el, "coefficients", 2)
                return F.LinearFunction(slope, intercept)
            if tag == "PolynomialFunction":
                return F.PolynomialFunction(self.floats(el, "coefficients"))
            if tag == "MultiplierFunction":
                holder = el.find("function")
                inner = [c for c in holder] if holder is not None else []
                if len(inner) != 1:
                    raise self.fail(el, "expected one function inside <function>")
                return F.MultiplierFunction(self.function(inner[0]), self.floats(el, "scale", 1, "1")[0])
            cls = F.FUNCTION_TYPES[tag]
            return cls(x=self.floats(el, "x"), y=self.floats(el, "y"))  # type: ignore[call-arg]
        except OsimError:
            raise
        except ValueError as exc:
            raise self.fail(el, str(exc)) from None

    def child_function(self, el: ET.Element, skip: tuple[str, ...]) -> F.OsimFunction | None:
        cands = [c for c in el if isinstance(c.tag, str) and c.tag not in skip]
        if not cands:
            return None
        if len(cands) > 1:
            raise self.fail(el, f"expected one function, found {[c.tag for c in cands]}")
        return self.function(cands[0])

    # --- component paths -----------------------------------------------------------------------------------------
    def register_frames(self, model: ET.Element) -> None:
        self.frames["/ground"] = ("ground", None, "")
        for body in model.findall("./BodySet/objects/Body"):
            path = f"/bodyset/{body.get('name')}"
            self.frames[path] = ("body", body, "")
            for fr in body.findall("./components/PhysicalOffsetFrame"):
                self.frames[f"{path}/{fr.get('name')}"] = ("offset", fr, f"{path}/{fr.get('name')}")
        for joint in model.findall("./JointSet/objects/*"):
            jpath = f"/jointset/{joint.get('name')}"
            for fr in joint.findall("./frames/PhysicalOffsetFrame"):
                self.frames[f"{jpath}/{fr.get('name')}"] = ("offset", fr, f"{jpath}/{fr.get('name')}")
        for fr in model.findall("./components/PhysicalOffsetFrame"):
            self.frames[f"/{fr.get('name')}"] = ("offset", fr, f"/{fr.get('name')}")

    def resolve(self, owner: str, ref: str, el: ET.Element, depth: int = 0) -> tuple[str, tuple[Offset, ...]]:
        """A socket path -> (base body, chain of offsets from that body to the frame)."""
        if depth > 32:
            raise self.fail(el, f"frame path '{ref}' forms a cycle")
        path = posixpath.normpath(ref if ref.startswith("/") else posixpath.join(owner, ref))
        if path not in self.frames:  # OpenSim 4.0 files sometimes give bare body names
            alt = f"/bodyset/{ref}" if "/" not in ref else ""
            if ref in ("ground", "/ground"):
                path = "/ground"
            elif alt in self.frames:
                path = alt
            else:
                raise self.fail(el, f"frame '{ref}' (resolved to '{path}') does not exist in the model")
        kind, fr, fr_path = self.frames[path]
        if kind == "ground":
            return GROUND, ()
        if kind == "body":
            return path.rsplit("/", 1)[1], ()
        assert fr is not None
        parent_ref = self.text(fr, "socket_parent")
        base, chain = self.resolve(fr_path, parent_ref, fr, depth + 1)
        offset = Offset(self.floats(fr, "translation", 3, "0 0 0"), self.floats(fr, "orientation", 3, "0 0 0"))
        return base, chain + (offset,)


def _coordinate(r: _Reader, el: ET.Element, joint: str, motion: str) -> Coordinate:
    lo, hi = r.floats(el, "range", 2, "-1.5707963 1.5707963")
    if lo > hi:
        raise r.fail(el, f"<range> lower bound {lo} exceeds upper bound {hi}")
    return Coordinate(
        name=el.get("name", ""),
        joint=joint,
        motion_type=motion,
        default=r.floats(el, "default_value", 1, "0")[0],
        range=(lo, hi),
        locked=r.flag(el, "locked", False),
        clamped=r.flag(el, "clamped", True),
    )


def _custom_axes(r: _Reader, joint: ET.Element) -> tuple[list[TransformAxis], list[str]]:
    st = joint.find("SpatialTransform")
    if st is None:
        raise r.fail(joint, "CustomJoint without <SpatialTransform>")
    axes, order = [], []
    for i, name in enumerate(_AXIS_NAMES):
        ta = st.find(f"TransformAxis[@name='{name}']")
        if ta is None:
            axes.append(TransformAxis(i < 3, (_X, _Y, _Z)[i % 3]))
            continue
        coords = r.text(ta, "coordinates", "").split()
        vec = np.asarray(r.floats(ta, "axis", 3), dtype=np.float64)
        if np.linalg.norm(vec) < 1e-12:
            raise r.fail(ta, "<axis> is the zero vector")
        fn = r.child_function(ta, skip=("coordinates", "axis"))
        if len(coords) > 1:
            raise r.fail(ta, f"TransformAxis driven by several coordinates {coords} is not supported")
        if fn is None:
            fn = F.LinearFunction() if coords else F.Constant(0.0)
        if not coords and not fn.is_constant:
            raise r.fail(ta, "a non-constant function needs a coordinate")
        axes.append(TransformAxis(i < 3, tuple(vec / np.linalg.norm(vec)), coords[0] if coords else None, fn))
        order += [c for c in coords if c not in order]
    for start in (0, 3):  # OpenSim refuses collinear axes; so do we, rather than produce a degenerate joint
        a = [np.asarray(ax.axis) for ax in axes[start : start + 3]]
        if min(np.linalg.norm(np.cross(a[i], a[j])) for i, j in ((0, 1), (0, 2), (1, 2))) < 1e-5:
            raise r.fail(joint, "SpatialTransform has collinear axes")
    return axes, order


def _motion_type(name: str, axes: list[TransformAxis]) -> str:
    # As OpenSim's CustomJoint: an identity function on a rotation (translation) axis makes it rotational (translational).
    for ax in axes:
        if ax.coordinate == name and F.is_identity(ax.function):
            return ROTATIONAL if ax.is_rotation else TRANSLATIONAL
    return COUPLED


def _joint(r: _Reader, el: ET.Element) -> tuple[Joint, list[Coordinate]]:
    kind, name = el.tag, el.get("name", "")
    if kind not in _SUPPORTED_JOINTS:
        raise r.fail(el, f"unsupported joint type '{kind}'; supported: {_SUPPORTED_JOINTS}")
    if r.flag(el, "reverse", False):
        raise r.fail(el, "reversed joints (<reverse>true</reverse>) are not supported")
    owner = f"/jointset/{name}"
    parent, p_chain = r.resolve(owner, r.text(el, "socket_parent_frame"), el)
    child, c_chain = r.resolve(owner, r.text(el, "socket_child_frame"), el)
    if child == GROUND:
        raise r.fail(el, "ground cannot be a joint's child")
    coord_els = el.findall("./coordinates/Coordinate")
    if kind == "CustomJoint":
        axes, order = _custom_axes(r, el)
        by_name = {c.get("name"): c for c in coord_els}
        missing = [c for c in order if c not in by_name]
        if missing:
            raise r.fail(el, f"SpatialTransform uses coordinates {missing} that are not in <coordinates>")
        coords = [_coordinate(r, by_name[c], name, _motion_type(c, axes)) for c in order]
    else:
        dofs = JOINT_DOFS[kind]
        if len(coord_els) != len(dofs):
            raise r.fail(el, f"{kind} needs {len(dofs)} <Coordinate> elements, found {len(coord_els)}")
        rot = [(c, ax) for c, (is_rot, ax) in zip(coord_els, dofs) if is_rot]
        tra = [(c, ax) for c, (is_rot, ax) in zip(coord_els, dofs) if not is_rot]
        axes = [TransformAxis(True, ax, c.get("name"), F.LinearFunction()) for c, ax in rot]
        axes += [TransformAxis(True, (_X, _Y, _Z)[i]) for i in range(len(rot), 3)]
        axes += [TransformAxis(False, ax, c.get("name"), F.LinearFunction()) for c, ax in tra]
        axes += [TransformAxis(False, (_X, _Y, _Z)[i]) for i in range(len(tra), 3)]
        coords = [
            _coordinate(r, c, name, ROTATIONAL if is_rot else TRANSLATIONAL) for c, (is_rot, _) in zip(coord_els, dofs)
        ]
    joint = Joint(name, kind, parent, child, p_chain, c_chain, tuple(axes), tuple(c.name for c in coords))
    return joint, coords


def _couplers(r: _Reader, model: ET.Element) -> list[Coupler]:
    out = []
    for el in model.findall("./ConstraintSet/objects/*"):
        enforced = r.flag(el, "isEnforced", True) and not r.flag(el, "isDisabled", False)
        if not enforced:
            continue
        if el.tag != "CoordinateCouplerConstraint":
            raise r.fail(el, f"constraint type '{el.tag}' is not supported (only CoordinateCouplerConstraint)")
        holder = el.find("coupled_coordinates_function")
        inner = [c for c in holder] if holder is not None else []
        if len(inner) != 1:
            raise r.fail(el, "missing <coupled_coordinates_function>")
        independents = r.text(el, "independent_coordinate_names").split()
        if len(independents) != 1:
            raise r.fail(el, f"only one independent coordinate is supported, got {independents}")
        out.append(
            Coupler(
                name=el.get("name", ""),
                dependent=r.text(el, "dependent_coordinate_name"),
                independent=independents[0],
                function=r.function(inner[0]),
                scale_factor=r.floats(el, "scale_factor", 1, "1")[0],
            )
        )
    return out


def _markers(r: _Reader, container: ET.Element) -> list[Marker]:
    out = []
    for el in container.findall("./objects/Marker"):
        name = el.get("name", "")
        body, chain = r.resolve(f"/markerset/{name}", r.text(el, "socket_parent_frame"), el)
        out.append(Marker(name, body, r.floats(el, "location", 3), chain))
    return out


def _order_tree(r: _Reader, joints: list[Joint], bodies: dict[str, Body]) -> list[Joint]:
    by_child: dict[str, Joint] = {}
    for j in joints:
        if j.child in by_child:
            raise r.fail(None, f"body '{j.child}' is the child of two joints ('{by_child[j.child].name}', '{j.name}'): closed loops are not supported")
        if j.child not in bodies:
            raise r.fail(None, f"joint '{j.name}' moves body '{j.child}', which is not in the BodySet")
        if j.parent != GROUND and j.parent not in bodies:
            raise r.fail(None, f"joint '{j.name}' has parent body '{j.parent}', which is not in the BodySet")
        by_child[j.child] = j
    unattached = [b for b in bodies if b not in by_child]
    if unattached:
        raise r.fail(None, f"bodies {unattached} have no joint connecting them to the model")
    ordered, placed, remaining = [], {GROUND}, list(joints)
    while remaining:  # greedy in file order, so an already parent-first file keeps its order
        ready = [j for j in remaining if j.parent in placed]
        if not ready:
            loop = sorted(j.child for j in remaining)
            raise r.fail(None, f"bodies {loop} are not connected to ground (a cycle or a missing parent)")
        j = ready[0]
        ordered.append(j)
        placed.add(j.child)
        remaining.remove(j)
    return ordered


def _root(path: Path) -> ET.Element:
    if not path.is_file():
        raise OsimError(f"{path}: no such file; pass the path to an OpenSim 4.x .osim model")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise OsimError(f"{path}: not well-formed XML ({exc}); is this an OpenSim file?") from None
    if root.tag != "OpenSimDocument":
        raise OsimError(f"{path}: root element is <{root.tag}>, expected <OpenSimDocument>")
    try:
        version = int(root.get("Version", "0"))
    except ValueError:
        raise OsimError(f"{path}: <OpenSimDocument Version='{root.get('Version')}'> is not a number") from None
    if version < 30000:
        raise OsimError(f"{path}: document version {version} is too old; open and save it with OpenSim 4.x")
    return root


def load_marker_set(path: str | Path, skeleton: Skeleton | None = None) -> list[Marker]:
    """Read an OpenSim MarkerSet file (Pose2Sim style, markers attached to ``/bodyset/<body>``)."""
    path = Path(path)
    root = _root(path)
    ms = root.find("MarkerSet")
    if ms is None:
        raise OsimError(f"{path}: no <MarkerSet> element; is this a marker file?")
    r = _Reader(path)
    if skeleton is not None:
        r.frames["/ground"] = ("ground", None, "")
        for b in skeleton.body_names:
            r.frames[f"/bodyset/{b}"] = ("body", None, "")
    markers = _markers(r, ms)
    if skeleton is not None:
        for m in markers:
            if m.body != GROUND and m.body not in skeleton.body_names:
                raise OsimError(f"{path}: <Marker name='{m.name}'>: body '{m.body}' is not in model '{skeleton.name}'")
    return markers


def load_osim(path: str | Path, markers: str | Path | None = None) -> Skeleton:
    """Parse an OpenSim 4.x model; optionally merge a MarkerSet file into it (same names are replaced)."""
    path = Path(path)
    root = _root(path)
    model = root.find("Model")
    if model is None:
        raise OsimError(f"{path}: no <Model> element")
    if int(root.get("Version", "0")) < 40000 or model.find("JointSet") is None:
        raise OsimError(f"{path}: this is an OpenSim 3.x model (no <JointSet>); open and save it with OpenSim 4.x")
    r = _Reader(path)
    r.register_frames(model)
    bodies = {}
    for b in model.findall("./BodySet/objects/Body"):
        bodies[b.get("name", "")] = Body(
            b.get("name", ""),
            r.floats(b, "mass", 1, "0")[0],
            r.floats(b, "mass_center", 3, "0 0 0"),
            r.floats(b, "inertia", 6, "0 0 0 0 0 0"),
        )
    parsed = [_joint(r, el) for el in model.findall("./JointSet/objects/*")]
    joints = _order_tree(r, [j for j, _ in parsed], bodies)
    coord_by_joint = {j.name: cs for j, cs in parsed}
    coords = tuple(c for j in joints for c in coord_by_joint[j.name])
    ms = model.find("MarkerSet")
    marker_list = _markers(r, ms) if ms is not None else []
    couplers = _couplers(r, model)
    names = {c.name for c in coords}
    for c in couplers:
        for n in (c.dependent, c.independent):
            if n not in names:
                raise OsimError(f"{path}: <CoordinateCouplerConstraint name='{c.name}'>: unknown coordinate '{n}'")
    skel = Skeleton(
        name=model.get("name", path.stem),
        bodies=tuple(bodies[j.child] for j in joints),
        joints=tuple(joints),
        coordinates=coords,
        markers=tuple(marker_list),
        couplers=tuple(couplers),
        source=str(path),
        credits=r.text(model, "credits", ""),
    )
    if markers is not None:
        skel = skel.with_markers(load_marker_set(markers, skel))
    return skel
