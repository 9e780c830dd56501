"""Our FK against opensim 4.6 on random poses and random non-uniform body scales."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from d3ke_edge.cli import app
from d3ke_edge.skeleton.opensim_ref import TOLERANCE_M, check_against_opensim


def _assert_exact(report, n_markers: int):
    assert report.passed
    assert report.max_body_err_m < 1e-10 and report.max_joint_err_m < 1e-10 and report.max_marker_err_m < 1e-10
    assert len(report.marker_err_m) == n_markers


def test_builtin_model_matches_opensim(builtin, builtin_osim):
    _assert_exact(check_against_opensim(builtin_osim, n_poses=12, seed=1), len(builtin.markers))


def test_pose2sim_model_with_lstm_markers_matches_opensim(pose2sim_model, pose2sim_markers):
    _assert_exact(check_against_opensim(pose2sim_model, pose2sim_markers, n_poses=12, seed=2), 56)


def test_every_joint_function_and_coupler_type_matches_opensim(zoo_osim):
    """Free/Ball/Gimbal/Planar/Slider/Universal/Pin/Weld/Custom joints, all function types, offset chains,
    rotational and translational couplers, a marker on an offset frame and one on ground."""
    _assert_exact(check_against_opensim(zoo_osim, n_poses=16, seed=3), 12)


def test_check_cli_json_contract(pose2sim_model, pose2sim_markers):
    res = CliRunner().invoke(
        app, ["skeleton", "check", str(pose2sim_model), "--markers", str(pose2sim_markers), "--poses", "3", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["n_poses"] == 3 and out["passed"] is True
    assert out["max_marker_err_m"] <= TOLERANCE_M and out["max_body_err_m"] <= TOLERANCE_M
    assert set(out["marker_err_m"]) >= {"r.ASIS_study", "L_calc_study"}


def test_check_cli_builtin_table_and_failure_exit(tmp_path):
    res = CliRunner().invoke(app, ["skeleton", "check", "builtin", "--poses", "2"])
    assert res.exit_code == 0, res.output
    assert "PASS" in res.stdout and "knee_lat_r" in res.stdout
    # An impossible tolerance must fail with exit 1.
    res = CliRunner().invoke(app, ["skeleton", "check", "builtin", "--poses", "2", "--tolerance", "-1"])
    assert res.exit_code == 1 and "FAIL" in res.stdout


@pytest.mark.parametrize("args,needle", [(["skeleton", "check", "nope.osim"], "does not exist"),
                                         (["skeleton", "check", "builtin", "--markers", "nope.xml"], "does not exist")])
def test_check_cli_missing_files(args, needle):
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and needle in res.stderr
