"""Left/right mirroring: FK(mirror(q)) equals FK(q) reflected through the sagittal plane."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from d3ke_edge.cli import app
from d3ke_edge.skeleton import load_osim
from d3ke_edge.skeleton.mirror import derive_mirror, mirror_error, side_partner

OUT_OF_PLANE = {"pelvis_list", "pelvis_rotation", "pelvis_tz", "lumbar_bending", "lumbar_rotation", "neck_bending",
                "neck_rotation"}


def test_builtin_mirror_is_exact(builtin):
    m = derive_mirror(builtin)
    negated = {n for n, s in zip(builtin.coordinate_names, m.coord_sign) if s < 0}
    assert negated == OUT_OF_PLANE  # left axes are built mirrored, so limb angles keep their sign
    err = mirror_error(builtin, m, n_poses=64)
    assert max(err["bodies"], err["joints"], err["markers"]) <= 1e-6
    assert err["body_axes_rad"] <= 1e-9


def test_pose2sim_mirror_is_exact(pose2sim_model):
    skel = load_osim(pose2sim_model)
    m = derive_mirror(skel)
    negated = {n for n, s in zip(skel.coordinate_names, m.coord_sign) if s < 0}
    assert negated == {"pelvis_list", "pelvis_rotation", "pelvis_tz", "L5_S1_Lat_Bending", "L5_S1_axial_rotation",
                       "neck_bending", "neck_rotation"}
    err = mirror_error(skel, m, n_poses=64)
    assert max(err["bodies"], err["joints"]) <= 1e-6
    assert err["body_axes_rad"] <= 2e-5  # the file writes pi and pi/2 to 6 digits in a few frame orientations


def test_asymmetric_marker_set_is_reported_not_hidden(pose2sim_model, pose2sim_markers):
    skel = load_osim(pose2sim_model, pose2sim_markers)
    with pytest.raises(ValueError, match="C7_study"):
        derive_mirror(skel)
    m = derive_mirror(skel, strict_markers=False)
    assert {n for n, _ in m.asymmetric_markers} == {"C7_study", "Nose"}
    assert mirror_error(skel, m)["markers"] <= 1e-6  # all the other 54 markers mirror exactly


def test_mirror_is_an_involution(builtin):
    m = derive_mirror(builtin)
    q = torch.randn(5, len(builtin.coordinates), dtype=torch.float64)
    torch.testing.assert_close(m.pose(m.pose(q)), q)


@pytest.mark.parametrize("name,partner", [("hip_flexion_r", "hip_flexion_l"), ("r.ASIS_study", "L.ASIS_study"),
                                          ("L_knee_study", "r_knee_study"), ("RThumb", "LThumb"), ("RHJC_study", "LHJC_study"),
                                          ("C7_study", "C7_study"), ("RightHand", "LeftHand"), ("radius_r", "radius_l")])
def test_side_partner_names(name, partner):
    pool = {name, partner, "Nose", "torso"}
    assert side_partner(name, pool) == partner


def test_mirror_cli(pose2sim_model, pose2sim_markers):
    res = CliRunner().invoke(app, ["skeleton", "mirror", str(pose2sim_model), "--markers", str(pose2sim_markers), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["passed"] and out["max_markers_err"] <= 1e-6 and "C7_study" in out["asymmetric_markers"]
