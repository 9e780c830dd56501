"""The built-in full-body model, generated from code (no third-party model file is shipped).

Conventions are OpenSim's (Y up, X forward, Z to the subject's right) and the coordinate names are those of the
Rajagopal (2016) / OpenCap models, plus neck_flexion/bending/rotation, so their .mot files animate it.

Reference subject: 1.75 m, 75 kg, standing upright with the feet on the floor at the default pose.
- Segment lengths and landmark heights: Winter, *Biomechanics and Motor Control of Human Movement*, 4th ed.
  (2009), Fig. 4.1, as fractions of body height H (hip 0.530H, knee 0.285H, ankle 0.039H, shoulder 0.818H,
  upper arm 0.186H, forearm 0.146H, hand 0.108H, foot length 0.152H, shoulder width 0.259H).
- Hip joint centre in the pelvis: Harrington et al., J Biomech 40:595 (2007), regression on pelvic width
  (inter-ASIS 0.245 m) and depth (0.155 m).
- Ankle, subtalar and MTP axes: Inman (1976) as used in gait2392/Rajagopal.
- Segment masses: de Leva, J Biomech 29:1223 (1996), fractions of body mass; inertias are radius-of-gyration
  approximations (they do not enter kinematics).

The left side is generated as the exact mirror of the right (z -> -z, rotation axes a -> -M a), so the same
positive angle means the same anatomical motion on both sides and mirroring a pose is a pure swap of sides.
"""

from __future__ import annotations

import math

import numpy as np

from .functions import LinearFunction
from .model import Body, Coordinate, Joint, Marker, Offset, Skeleton, TransformAxis

__all__ = ["builtin_skeleton", "REFERENCE_HEIGHT_M", "REFERENCE_MASS_KG"]

REFERENCE_HEIGHT_M = 1.75
REFERENCE_MASS_KG = 75.0
H = REFERENCE_HEIGHT_M
X, Y, Z = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)
_MIRROR = np.diag([1.0, 1.0, -1.0])

# Landmark geometry (metres) of the reference subject, derived from the fractions cited above.
HIP_HEIGHT = 0.530 * H
PELVIS_TO_HJC = (-0.047, -0.084, 0.088)  # Harrington 2007 with PW 0.245, PD 0.155
PELVIS_HEIGHT = HIP_HEIGHT - PELVIS_TO_HJC[1]
THIGH, SHANK = 0.245 * H, 0.246 * H
UPPER_ARM, FOREARM, HAND = 0.186 * H, 0.146 * H, 0.108 * H
FOOT_LENGTH = 0.152 * H
LUMBAR_IN_PELVIS = (-0.10, 0.08, 0.0)
SHOULDER_IN_TORSO = (0.03, 0.818 * H - 0.03 - PELVIS_HEIGHT - 0.08, 0.259 * H / 2 - 0.045)
NECK_IN_TORSO = (0.0, 0.845 * H - PELVIS_HEIGHT - 0.08, 0.0)
SUBTALAR_IN_TALUS = (-0.049, -0.042, 0.008)

# (name, range in degrees, default in degrees) of the coordinates of one side, in joint order.
_deg = math.radians


def _unit(v) -> tuple[float, float, float]:
    a = np.asarray(v, dtype=np.float64)
    return tuple(float(x) for x in a / np.linalg.norm(a))


def _mirror_axis(axis) -> tuple[float, float, float]:
    """Axis of the left joint so that the same angle gives the mirrored motion: -M a."""
    return tuple(float(x) for x in -_MIRROR @ np.asarray(axis))


def _mirror_point(p) -> tuple[float, float, float]:
    return (float(p[0]), float(p[1]), -float(p[2]))


def _rot_joint(name, parent, child, at, coords_axes, side_coords) -> tuple[Joint, list[Coordinate]]:
    """A CustomJoint with up to three rotations; coords_axes = [(coord, axis, range_deg, default_deg)]."""
    rots = [TransformAxis(True, _unit(ax), c, LinearFunction()) for c, ax, _, _ in coords_axes]
    fill = [TransformAxis(True, a) for a in (X, Y, Z) if all(abs(np.dot(a, r.axis)) < 0.999 for r in rots)]
    axes = tuple((rots + fill)[:3]) + (TransformAxis(False, X), TransformAxis(False, Y), TransformAxis(False, Z))
    coords = [
        Coordinate(c, name, "rotational", _deg(d), (_deg(lo), _deg(hi))) for c, _, (lo, hi), d in coords_axes
    ]
    side_coords.extend(coords)
    return Joint(name, "CustomJoint", parent, child, (Offset(tuple(at)),), (), axes, tuple(c for c, *_ in coords_axes)), coords


def _side(side: str) -> tuple[list[Joint], list[Coordinate]]:
    """Joints and coordinates of one leg and one arm; the left side mirrors the right."""
    m = (lambda p: _mirror_point(p)) if side == "l" else (lambda p: tuple(float(v) for v in p))
    a = (lambda v: _mirror_axis(_unit(v))) if side == "l" else _unit
    s = f"_{side}"
    coords: list[Coordinate] = []
    joints = [
        _rot_joint(f"hip{s}", "pelvis", f"femur{s}", m(PELVIS_TO_HJC), [
            (f"hip_flexion{s}", a(Z), (-30, 120), 0),
            (f"hip_adduction{s}", a(X), (-50, 30), 0),
            (f"hip_rotation{s}", a(Y), (-40, 40), 0),
        ], coords)[0],
        _rot_joint(f"knee{s}", f"femur{s}", f"tibia{s}", m((0.0, -THIGH, 0.0)), [
            (f"knee_angle{s}", a((0, 0, -1)), (0, 140), 0),
        ], coords)[0],
        _rot_joint(f"ankle{s}", f"tibia{s}", f"talus{s}", m((0.0, -SHANK, 0.0)), [
            (f"ankle_angle{s}", a((-0.10501355, -0.17402245, 0.97912632)), (-40, 30), 0),
        ], coords)[0],
        _rot_joint(f"subtalar{s}", f"talus{s}", f"calcn{s}", m(SUBTALAR_IN_TALUS), [
            (f"subtalar_angle{s}", a((0.78717961, 0.60474746, -0.12094949)), (-20, 20), 0),
        ], coords)[0],
        _rot_joint(f"mtp{s}", f"calcn{s}", f"toes{s}", m((0.166, -0.006, 0.0)), [
            (f"mtp_angle{s}", a((-0.5809544, 0.0, 0.81393611)), (-30, 30), 0),
        ], coords)[0],
        _rot_joint(f"shoulder{s}", "torso", f"humerus{s}", m(SHOULDER_IN_TORSO), [
            (f"arm_flex{s}", a(Z), (-90, 180), 0),
            (f"arm_add{s}", a(X), (-180, 30), 0),
            (f"arm_rot{s}", a(Y), (-90, 90), 0),
        ], coords)[0],
        _rot_joint(f"elbow{s}", f"humerus{s}", f"ulna{s}", m((0.0, -UPPER_ARM, 0.0)), [
            (f"elbow_flex{s}", a(Z), (0, 150), 0),
        ], coords)[0],
        # Forearm long axis; 0 = mid-position (palm facing the thigh), positive = supination.
        _rot_joint(f"radioulnar{s}", f"ulna{s}", f"radius{s}", m((0.0, 0.0, 0.0)), [
            (f"pro_sup{s}", a((0, -1, 0)), (-90, 90), 0),
        ], coords)[0],
        _rot_joint(f"wrist{s}", f"radius{s}", f"hand{s}", m((0.0, -FOREARM, 0.0)), [
            (f"wrist_flex{s}", a(X), (-70, 70), 0),
            (f"wrist_dev{s}", a((0, 0, -1)), (-25, 35), 0),
        ], coords)[0],
    ]
    return joints, coords


def _markers() -> list[Marker]:
    central = [
        ("C7", "torso", (-0.05, NECK_IN_TORSO[1] + 0.005, 0.0)),
        ("T10", "torso", (-0.065, 0.16, 0.0)),
        ("sternum_jugular", "torso", (0.10, NECK_IN_TORSO[1] - 0.035, 0.0)),
        ("sternum_xiphoid", "torso", (0.15, 0.19, 0.0)),
        ("head_top", "head", (0.01, H - 0.845 * H - 0.008, 0.0)),
    ]
    right = [
        ("ASIS", "pelvis", (0.0, 0.0, 0.1225)),
        ("PSIS", "pelvis", (-0.155, 0.01, 0.045)),
        ("trochanter", "femur", (-0.01, 0.0, 0.075)),
        ("thigh", "femur", (0.0, -0.22, 0.07)),
        ("knee_lat", "femur", (0.0, -THIGH, 0.05)),
        ("knee_med", "femur", (0.0, -THIGH, -0.05)),
        ("shank", "tibia", (0.0, -0.2, 0.045)),
        ("ankle_lat", "tibia", (-0.005, -SHANK, 0.035)),
        ("ankle_med", "tibia", (0.005, -SHANK + 0.01, -0.035)),
        ("heel", "calcn", (-0.02, 0.005, -0.008)),
        ("mt1", "calcn", (0.166, -0.005, -0.038)),
        ("mt5", "calcn", (0.14, -0.005, 0.038)),
        ("toe", "toes", (0.08, 0.0, -0.01)),
        ("acromion", "torso", (0.02, SHOULDER_IN_TORSO[1] + 0.03, SHOULDER_IN_TORSO[2] + 0.01)),
        ("upper_arm", "humerus", (-0.015, -0.16, 0.042)),
        ("elbow_lat", "humerus", (0.0, -UPPER_ARM, 0.035)),
        ("elbow_med", "humerus", (0.0, -UPPER_ARM, -0.04)),
        ("wrist_rad", "radius", (0.03, -FOREARM, 0.0)),
        ("wrist_uln", "ulna", (-0.03, -FOREARM, 0.0)),  # the ulna does not turn in pro/supination
        ("mcp3", "hand", (0.0, -0.085, 0.0)),
        ("fingertip", "hand", (0.0, -HAND, 0.0)),
        ("head_front", "head", (0.1, 0.18, 0.045)),
        ("head_back", "head", (-0.09, 0.17, 0.05)),
    ]
    out = [Marker(n, b, p) for n, b, p in central]
    for side in ("r", "l"):
        for name, body, p in right:
            body_name = body if body in ("pelvis", "torso", "head") else f"{body}_{side}"
            loc = p if side == "r" else _mirror_point(p)
            out.append(Marker(f"{name}_{side}", body_name, tuple(float(v) for v in loc)))
    return out


# de Leva (1996) mass fractions; the torso takes upper + middle trunk, the pelvis the lower trunk.
_MASS_FRACTION = {
    "pelvis": 0.1117, "femur": 0.1416, "tibia": 0.0433, "talus": 0.0020, "calcn": 0.0100, "toes": 0.0017,
    "torso": 0.3229, "head": 0.0694, "humerus": 0.0271, "ulna": 0.0081, "radius": 0.0081, "hand": 0.0061,
}
_LENGTH = {"femur": THIGH, "tibia": SHANK, "humerus": UPPER_ARM, "ulna": FOREARM, "radius": FOREARM, "hand": HAND,
           "torso": 0.45, "head": 0.25, "pelvis": 0.2, "talus": 0.05, "calcn": 0.2, "toes": 0.08}


def _body(name: str) -> Body:
    kind = name.rsplit("_", 1)[0] if name.endswith(("_r", "_l")) else name
    mass = _MASS_FRACTION[kind] * REFERENCE_MASS_KG
    length = _LENGTH[kind]
    down = kind in ("femur", "tibia", "humerus", "ulna", "radius", "hand")
    com = (0.0, -0.43 * length if down else 0.4 * length if kind in ("torso", "head") else 0.0, 0.0)
    ixx = mass * (0.3 * length) ** 2
    return Body(name, mass, com, (ixx, 0.4 * ixx, ixx, 0.0, 0.0, 0.0))


def builtin_skeleton() -> Skeleton:
    """The d3ke-edge full-body model: 40 coordinates, 51 anatomical markers, Rajagopal/OpenCap names."""
    pelvis_axes = (
        TransformAxis(True, Z, "pelvis_tilt", LinearFunction()),
        TransformAxis(True, X, "pelvis_list", LinearFunction()),
        TransformAxis(True, Y, "pelvis_rotation", LinearFunction()),
        TransformAxis(False, X, "pelvis_tx", LinearFunction()),
        TransformAxis(False, Y, "pelvis_ty", LinearFunction()),
        TransformAxis(False, Z, "pelvis_tz", LinearFunction()),
    )
    pelvis_coords = [
        Coordinate("pelvis_tilt", "ground_pelvis", "rotational", 0.0, (_deg(-90), _deg(90))),
        Coordinate("pelvis_list", "ground_pelvis", "rotational", 0.0, (_deg(-90), _deg(90))),
        Coordinate("pelvis_rotation", "ground_pelvis", "rotational", 0.0, (_deg(-180), _deg(180))),
        Coordinate("pelvis_tx", "ground_pelvis", "translational", 0.0, (-5.0, 5.0)),
        Coordinate("pelvis_ty", "ground_pelvis", "translational", PELVIS_HEIGHT, (-1.0, 2.0)),
        Coordinate("pelvis_tz", "ground_pelvis", "translational", 0.0, (-5.0, 5.0)),
    ]
    root = Joint("ground_pelvis", "CustomJoint", "ground", "pelvis", (), (), pelvis_axes,
                 tuple(c.name for c in pelvis_coords))
    trunk: list[Coordinate] = []
    back = _rot_joint("back", "pelvis", "torso", LUMBAR_IN_PELVIS, [
        ("lumbar_extension", Z, (-90, 90), 0), ("lumbar_bending", X, (-90, 90), 0), ("lumbar_rotation", Y, (-90, 90), 0),
    ], trunk)[0]
    neck = _rot_joint("neck", "torso", "head", NECK_IN_TORSO, [
        ("neck_flexion", (0, 0, -1), (-60, 70), 0), ("neck_bending", X, (-45, 45), 0), ("neck_rotation", Y, (-80, 80), 0),
    ], trunk)[0]
    right_j, right_c = _side("r")
    left_j, left_c = _side("l")
    legs = lambda js: js[:5]  # noqa: E731
    arms = lambda js: js[5:]  # noqa: E731
    joints = [root, *legs(right_j), *legs(left_j), back, neck, *arms(right_j), *arms(left_j)]
    coord_by_joint = {c.joint: [] for c in pelvis_coords + trunk + right_c + left_c}
    for c in pelvis_coords + trunk + right_c + left_c:
        coord_by_joint[c.joint].append(c)
    coords = tuple(c for j in joints for c in coord_by_joint[j.name])
    return Skeleton(
        name="d3ke_edge_fullbody",
        bodies=tuple(_body(j.child) for j in joints),
        joints=tuple(joints),
        coordinates=coords,
        markers=tuple(_markers()),
        credits="Generated by d3ke-edge from published anthropometry (Winter 2009, Harrington 2007, de Leva 1996, "
        "Inman 1976); coordinate names follow Rajagopal 2016 / OpenCap.",
    )
