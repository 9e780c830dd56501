"""CLI smoke tests (--help everywhere) and the quickstart contract."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from d3ke_edge.cli import app


@pytest.mark.parametrize("args", [[], ["skeleton"], ["skeleton", "check"], ["skeleton", "mirror"],
                                  ["skeleton", "builtin"], ["quickstart"]])
def test_help(args):
    res = CliRunner().invoke(app, [*args, "--help"])
    assert res.exit_code == 0
    assert "Usage" in res.stdout


def test_builtin_writes_osim(tmp_path):
    out = tmp_path / "m.osim"
    res = CliRunner().invoke(app, ["skeleton", "builtin", "--out", str(out)])
    assert res.exit_code == 0 and out.is_file() and "40 coordinates" in res.stdout


def test_quickstart_summary(tmp_path):
    res = CliRunner().invoke(app, ["quickstart", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    sk, mo = summary["skeleton"], summary["motion"]
    assert sk["opensim_check_passed"] and sk["max_marker_err_m"] < 1e-10 and sk["mirror_max_err_m"] < 1e-6
    assert sk["coordinates"] == 40 and sk["markers"] >= 40
    assert mo["opensim_mot_roundtrip_max_err"] < 1e-8 and mo["opensim_trc_roundtrip_max_err_m"] < 1e-8
    for key in ("mot", "trc", "preview_png"):
        assert (tmp_path / "motion").joinpath(mo[key].rsplit("/", 1)[-1]).is_file()
