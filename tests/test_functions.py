"""Each OpenSim function type against opensim's own calcValue, including extrapolation and knots."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from d3ke_edge.skeleton import functions as F
from d3ke_edge.skeleton.opensim_ref import import_opensim

XS = (-1.0, -0.4, 0.1, 0.5, 1.3, 2.0)
YS = (0.2, -0.1, 0.05, 0.4, 0.3, -0.2)
PROBE = np.concatenate([np.linspace(-2.5, 3.5, 301), np.array(XS[1:-1]) + 1e-9, np.array(XS[1:-1]) - 1e-9])


def _osim_from_xml(fn: F.OsimFunction, tmp_path):
    """Let opensim build the function from the XML we write (OpenSim 4.6 reads NaturalCubicSpline as SimmSpline)."""
    from xml.etree import ElementTree as ET

    osim = import_opensim()
    root = ET.Element("OpenSimDocument", Version="40000")
    root.append(fn.to_xml("f"))
    path = tmp_path / f"{fn.xml_tag}.xml"
    path.write_text(ET.tostring(root, encoding="unicode"))
    return osim.Function.safeDownCast(osim.OpenSimObject.makeObjectFromFile(str(path)))


def _osim_knots(cls_name: str, xs, ys):
    osim = import_opensim()
    f = getattr(osim, cls_name)()
    for x, y in zip(xs, ys):
        f.addPoint(x, y)
    return f


def _osim_values(fn, xs: np.ndarray) -> np.ndarray:
    osim = import_opensim()
    return np.array([fn.calcValue(osim.Vector(1, float(x))) for x in xs])


@pytest.mark.parametrize("name,cls", [("SimmSpline", F.SimmSpline), ("NaturalCubicSpline", F.NaturalCubicSpline),
                                      ("PiecewiseLinearFunction", F.PiecewiseLinearFunction)])
@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_knot_functions_match_opensim(name, cls, n, tmp_path):
    fn = cls(XS[:n], YS[:n])
    ref = _osim_values(_osim_from_xml(fn, tmp_path), PROBE)
    np.testing.assert_allclose(fn.evaluate(PROBE), ref, atol=1e-12, rtol=0)


def test_piecewise_constant_matches_opensim_away_from_knots(tmp_path):
    probe = PROBE[np.min(np.abs(PROBE[:, None] - np.array(XS)[None]), axis=1) > 1e-6]
    fn = F.PiecewiseConstantFunction(XS, YS)
    np.testing.assert_allclose(fn.evaluate(probe), _osim_values(_osim_from_xml(fn, tmp_path), probe), atol=0)


@pytest.mark.parametrize("fn", [F.Constant(0.7), F.LinearFunction(-1.5, 0.25), F.PolynomialFunction((0.3, -1.2, 0.5, 2.0)),
                                F.MultiplierFunction(F.SimmSpline(XS, YS), 1.7)], ids=lambda f: f.xml_tag)
def test_closed_form_functions_match_opensim(fn, tmp_path):
    ref = _osim_values(_osim_from_xml(fn, tmp_path), PROBE)
    np.testing.assert_allclose(fn.evaluate(PROBE), ref, atol=1e-12, rtol=1e-12)


def test_knots_added_through_opensim_api_agree(tmp_path):
    """The same spline built point by point with opensim's API (not from our XML)."""
    fn = F.SimmSpline(XS, YS)
    np.testing.assert_allclose(fn.evaluate(PROBE), _osim_values(_osim_knots("SimmSpline", XS, YS), PROBE), atol=1e-12)


def test_spline_gradient_and_export():
    fn = F.SimmSpline(XS, YS)
    x = torch.linspace(-2.0, 3.0, 41, dtype=torch.float64).add(0.013).requires_grad_()  # off the knots
    assert torch.autograd.gradcheck(lambda v: fn(v), (x,))

    class M(torch.nn.Module):
        def forward(self, v):
            return fn(v)

    ep = torch.export.export(M(), (torch.zeros(7, dtype=torch.float32),))
    probe = torch.linspace(-2.0, 3.0, 7)
    torch.testing.assert_close(ep.module()(probe), fn(probe))


@pytest.mark.parametrize("bad", [dict(x=(0.0, 0.0, 1.0), y=(1.0, 2.0, 3.0)), dict(x=(0.0,), y=(1.0,)),
                                 dict(x=(0.0, 1.0), y=(1.0,)), dict(x=(0.0, float("nan")), y=(1.0, 2.0))])
def test_bad_spline_data_is_rejected(bad):
    with pytest.raises(ValueError):
        F.SimmSpline(**bad)
