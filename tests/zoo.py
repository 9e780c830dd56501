"""A small model that uses every supported joint type, function type, coupler kind and offset chains.

Built from our dataclasses and written with our writer; opensim then reads that XML on its own, so the check
compares two independent interpretations of the same file.
"""

from __future__ import annotations

import math

from d3ke_edge.skeleton import functions as F
from d3ke_edge.skeleton.model import Body, Coordinate, Coupler, Joint, Marker, Offset, Skeleton, TransformAxis

X, Y, Z = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


def _ax(rot: bool, axis, coord=None, fn=None) -> TransformAxis:
    return TransformAxis(rot, axis, coord, fn or (F.LinearFunction() if coord else F.Constant(0.0)))


def _native(name, kind, parent, child, dofs, p_off, c_off=()):
    """A joint of a built-in type: dofs = [(coord, is_rot, axis)]."""
    rots = [_ax(True, ax, c) for c, r, ax in dofs if r]
    trans = [_ax(False, ax, c) for c, r, ax in dofs if not r]
    rots += [_ax(True, (X, Y, Z)[i]) for i in range(len(rots), 3)]
    trans += [_ax(False, (X, Y, Z)[i]) for i in range(len(trans), 3)]
    return Joint(name, kind, parent, child, p_off, c_off, tuple(rots + trans), tuple(c for c, _, _ in dofs))


def _coord(name, joint, motion, lo, hi):
    return Coordinate(name, joint, motion, 0.0, (lo, hi))


def zoo_skeleton() -> Skeleton:
    o = lambda t, r=(0.0, 0.0, 0.0): Offset(t, r)  # noqa: E731
    oblique = (0.3 / math.sqrt(0.3**2 + 0.2**2 + 0.93**2), 0.2 / math.sqrt(0.3**2 + 0.2**2 + 0.93**2),
               0.93 / math.sqrt(0.3**2 + 0.2**2 + 0.93**2))
    spline_x = (-1.0, -0.3, 0.2, 0.7, 1.2)
    custom_axes = (
        _ax(True, Z, "cflex", F.LinearFunction()),
        _ax(True, X, "cflex", F.NaturalCubicSpline(spline_x, (0.1, -0.05, 0.0, 0.12, 0.3))),
        _ax(True, oblique, "cbeta", F.LinearFunction()),
        _ax(False, X, "cflex", F.PolynomialFunction((0.01, -0.02, 0.03))),
        _ax(False, Y, "cflex", F.MultiplierFunction(F.SimmSpline(spline_x, (0.0, 0.01, 0.03, 0.02, -0.01)), 1.3)),
        _ax(False, Z, "cflex", F.PiecewiseLinearFunction((-1.0, 0.0, 1.0), (0.02, -0.01, 0.04))),
    )
    step_axes = (
        _ax(True, Z, "step", F.PiecewiseConstantFunction((-1.0, 0.0, 0.5), (-0.2, 0.1, 0.3))),
        _ax(True, X), _ax(True, Y),
        _ax(False, X, None, F.Constant(0.05)), _ax(False, Y, None, F.Constant(-0.1)), _ax(False, Z),
    )
    joints = (
        _native("free", "FreeJoint", "ground", "base",
                [("fx", True, X), ("fy", True, Y), ("fz", True, Z), ("ftx", False, X), ("fty", False, Y), ("ftz", False, Z)],
                (o((0.0, 0.9, 0.0), (0.1, 0.0, 0.0)),)),
        _native("ball", "BallJoint", "base", "a", [("bx", True, X), ("by", True, Y), ("bz", True, Z)],
                (o((0.1, 0.2, 0.05), (0.2, -0.1, 0.3)),), (o((0.0, -0.02, 0.0), (0.0, 0.4, 0.0)),)),
        _native("gimbal", "GimbalJoint", "a", "b", [("gx", True, X), ("gy", True, Y), ("gz", True, Z)],
                (o((0.0, -0.3, 0.02)),), (o((0.01, 0.1, 0.0), (0.3, 0.2, 0.1)),)),
        _native("planar", "PlanarJoint", "b", "c", [("pz", True, Z), ("ptx", False, X), ("pty", False, Y)],
                (o((0.05, -0.25, 0.0), (0.0, 0.0, 0.5)),)),
        _native("slider", "SliderJoint", "c", "d", [("sx", False, X)], (o((0.0, -0.1, 0.03), (0.0, 0.7, 0.0)),)),
        _native("universal", "UniversalJoint", "d", "e", [("ux", True, X), ("uy", True, Y)],
                (o((0.02, -0.2, 0.0), (0.1, 0.2, 0.3)),), (o((0.0, 0.05, 0.0)),)),
        _native("pin", "PinJoint", "e", "f", [("pin", True, Z)],
                (o((0.0, -0.1, 0.0), (0.0, 0.0, 0.3)), o((0.02, -0.05, 0.01), (0.4, 0.0, 0.0))),
                (o((0.0, 0.03, 0.0), (0.0, 0.0, -0.2)),)),
        Joint("custom", "CustomJoint", "base", "g", (o((-0.05, 0.1, 0.12), (0.0, 0.1, 0.0)),),
              (o((0.0, 0.2, 0.0)),), custom_axes, ("cflex", "cbeta")),
        Joint("step", "CustomJoint", "g", "h", (o((0.0, -0.3, 0.0)),), (), step_axes, ("step",)),
        _native("weld", "WeldJoint", "h", "k", [], (o((0.1, 0.0, -0.05), (0.3, 0.3, 0.3)),), (o((0.0, 0.01, 0.0)),)),
    )
    coords = (
        _coord("fx", "free", "rotational", -1.0, 1.0), _coord("fy", "free", "rotational", -3.0, 3.0),
        _coord("fz", "free", "rotational", -1.0, 1.0), _coord("ftx", "free", "translational", -1.0, 1.0),
        _coord("fty", "free", "translational", 0.0, 1.0), _coord("ftz", "free", "translational", -1.0, 1.0),
        _coord("bx", "ball", "rotational", -1.2, 1.2), _coord("by", "ball", "rotational", -1.2, 1.2),
        _coord("bz", "ball", "rotational", -1.2, 1.2),
        _coord("gx", "gimbal", "rotational", -1.2, 1.2), _coord("gy", "gimbal", "rotational", -1.2, 1.2),
        _coord("gz", "gimbal", "rotational", -1.2, 1.2),
        _coord("pz", "planar", "rotational", -2.0, 2.0), _coord("ptx", "planar", "translational", -0.2, 0.2),
        _coord("pty", "planar", "translational", -0.2, 0.2),
        _coord("sx", "slider", "translational", -0.1, 0.1),
        _coord("ux", "universal", "rotational", -1.0, 1.0), _coord("uy", "universal", "rotational", -1.0, 1.0),
        _coord("pin", "pin", "rotational", -2.0, 2.0),
        _coord("cflex", "custom", "rotational", -1.5, 1.5), _coord("cbeta", "custom", "rotational", -1.0, 1.0),
        _coord("step", "step", "coupled", -1.5, 1.5),
    )
    names = ["base", "a", "b", "c", "d", "e", "f", "g", "h", "k"]
    bodies = tuple(Body(n, 1.0, (0.0, -0.1, 0.0)) for n in names)
    markers = tuple(Marker(f"m_{n}", n, (0.03 * i, -0.05, 0.02 * (i % 3) - 0.02)) for i, n in enumerate(names))
    markers += (
        Marker("m_chain", "e", (0.01, 0.02, 0.03), (o((0.0, -0.05, 0.01), (0.0, 0.5, 0.0)), o((0.02, 0.0, 0.0), (0.3, 0.0, 0.2)))),
        Marker("m_ground", "ground", (0.5, 0.0, 0.2)),
    )
    couplers = (
        Coupler("rot_coupler", "cbeta", "bx", F.PolynomialFunction((0.3, -0.5, 0.1)), 0.8),
        Coupler("trans_coupler", "sx", "gx", F.LinearFunction(0.05, 0.01), 1.5),
    )
    return Skeleton("zoo", bodies, joints, coords, markers, couplers)
