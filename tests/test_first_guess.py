"""How accurate the network's first guess must be (``bench.first_guess``, ``benchmarks/first_guess.py``): the
network's coordinates moved toward the truth, then the path as always — infer's hook, the real trial's curve
against its reference, held-out recorded motion's curve."""

from __future__ import annotations

import json
import re
import runpy
import sys

import numpy as np
import pytest
from conftest import ROOT, SHARED

from d3ke_edge.infer.config import FitConfig

WALKING = SHARED / "data" / "motions" / "addbiomechanics" / "Expert1" / "walking1.mot"


def test_a_first_guess_moves_the_joint_coordinates_toward_the_truth_and_leaves_the_root():
    from d3ke_edge.bench.first_guess import moved_coordinates, toward
    from d3ke_edge.skeleton.builtin import builtin_skeleton

    skel = builtin_skeleton()
    names = skel.coordinate_names
    moved = moved_coordinates(skel)
    assert [n for n, m in zip(names, moved) if not m] == [n for n in names if n.startswith("pelvis_")]
    rng = np.random.default_rng(0)
    q, truth = rng.normal(size=(5, len(names))), rng.normal(size=(5, len(names)))
    np.testing.assert_allclose(toward(q, truth, 1.0, moved), q, atol=1e-12)
    np.testing.assert_allclose(toward(q, truth, 0.0, moved)[:, moved], truth[:, moved])
    np.testing.assert_array_equal(toward(q, truth, 0.0, moved)[:, ~moved], q[:, ~moved])
    np.testing.assert_allclose(toward(q, truth, 0.25, moved)[:, moved], (truth + 0.25 * (q - truth))[:, moved])
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="must be in \\[0, 1\\]"):
            toward(q, truth, bad, moved)


def test_infer_s_first_guess_replaces_the_network_s_coordinates_before_the_fit(blazepose, tmp_path):
    """The hook sees each frame's time and the network's coordinates; what it returns is what the frame records
    without the fit, and what the fit starts from (``network_coordinates``) with it."""
    from d3ke_edge.infer.config import InferConfig
    from d3ke_edge.infer.run import run_infer
    from d3ke_edge.skeleton.builtin import builtin_skeleton

    video = SHARED / "data" / "sports2d" / "demo.mp4"
    if not video.is_file():
        pytest.skip(f"shared data not present ({video})")
    seen = []
    knee = builtin_skeleton().coordinate_names.index("knee_angle_r")  # the default model's skeleton

    def hook(t: float, q: np.ndarray) -> np.ndarray:
        seen.append(t)
        out = q.copy()
        out[knee] = 0.7
        return out

    for refine in (False, True):
        seen.clear()
        res = run_infer(InferConfig(video=video, model=None, out=tmp_path / str(refine), end=0.3, overlay=False,
                                    refine=refine), say=lambda m: None, first_guess=hook)
        got = [f["network_coordinates"] if refine else f["outputs"]["coordinates"] for f in res.tracked]
        assert len(got) == len(res.tracked) > 3
        np.testing.assert_allclose([np.asarray(g)[knee] for g in got], 0.7, atol=1e-6)
        if refine:  # the fit moved on from there
            fitted = np.array([f["outputs"]["coordinates"][knee] for f in res.tracked])
            assert np.abs(fitted - 0.7).max() > 1e-3
        assert len(seen) == len(res.tracked) and np.all(np.diff(seen) > 0)  # once per frame, in time order


def test_the_first_guess_curve_on_the_real_trial(pose2sim_reference, tmp_path, monkeypatch):
    """``benchmarks/first_guess.py`` on one camera of the shared trial, the network as it is and the reference
    itself. Measured on cam03: the network alone 13.6 deg, with the fit 11.3; the reference itself 0, with the fit
    7.7 — the fit moves even the truth (its smoothness lags the motion), so it pays only for a poor first guess."""
    ref, res = pose2sim_reference
    assert res.exit_code == 0, res.output
    out = tmp_path / "fg"
    script = str(ROOT / "benchmarks" / "first_guess.py")
    monkeypatch.setattr(sys, "argv", [script, "--reference", str(ref), "--factors", "1,0", "--cameras", "cam03",
                                      "--out", str(out)])
    runpy.run_path(script, run_name="__main__")
    r = json.loads((out / "first_guess.json").read_text())
    rows = {(row["factor"], row["fit"]): row for row in r["real"]["rows"]}
    assert set(rows) == {(1.0, "no fit"), (1.0, "fit"), (0.0, "no fit"), (0.0, "fit")}
    assert list(rows[1.0, "fit"]["per_camera"]) == ["cam03"]
    assert rows[0.0, "no fit"]["mae_deg"] < 0.01  # the reference's own angles, scored against themselves
    assert 9.0 < rows[1.0, "no fit"]["mae_deg"] < 20.0
    assert rows[1.0, "fit"]["mae_deg"] < rows[1.0, "no fit"]["mae_deg"] - 0.5  # the fit pays for the shipped model
    assert 3.0 < rows[0.0, "fit"]["mae_deg"] < 12.0  # ... and costs a perfect one
    median = r["real"]["baselines"]["the trial's median pose, held"]["mae_deg"]
    assert 6.0 < median < 14.0
    md = (out / "first_guess.md").read_text()
    assert "| 0 | no fit | 0.0 |" in md and "*the trial's median pose, held*" in md
    assert (out / "first_guess.png").stat().st_size > 10_000
    monkeypatch.setattr(sys, "argv", [script, "--reference", str(ref), "--factors", "0.5", "--out", str(out)])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(script, run_name="__main__")
    assert exc.value.code == 2  # a curve without the model as it ships has nothing to read against


def test_the_first_guess_curve_on_held_out_motion():
    """On a recorded clip as ``bench landmarks`` sees it: factor 1 is the bench's own number for the model's head,
    factor 0 the truth; the fit from the truth drifts under the measured noise."""
    from d3ke_edge.bench.first_guess import held_out_curve
    from d3ke_edge.bench.landmarks import bench_landmarks
    from d3ke_edge.default_model import default_model

    if not WALKING.is_file():
        pytest.skip(f"shared data not present ({WALKING})")
    r = held_out_curve([WALKING], default_model(), {"no fit": None, "fit": FitConfig()}, (1.0, 0.0),
                       say=lambda m: None)
    rows = {(row["factor"], row["fit"]): row["mae_deg"] for row in r["rows"]}
    bench = bench_landmarks(None, [WALKING], 4, 2.0, say=lambda m: None, fit=False)
    errors = bench["motions"][WALKING.name]["errors"]
    head = next(k for k in errors if k != "per-frame")
    assert rows[1.0, "no fit"] == pytest.approx(errors[head]["angle_mae_deg"], abs=1e-6)
    assert rows[0.0, "no fit"] < 1e-3
    assert 1.0 < rows[0.0, "fit"] < rows[1.0, "no fit"] + 2.0
    assert r["clips"] == [str(WALKING)] and r["sequences"] == 4


def test_bad_inputs_are_named_before_any_run_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    script = str(ROOT / "benchmarks" / "first_guess.py")
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.yaml").write_text("prior_dg: 3\n")
    out = tmp_path / "out"
    for args, message in ((["--bank", str(tmp_path / "empty")], "is not a motion bank"),
                          (["--reference", str(tmp_path / "empty")], "is not a reference folder"),
                          (["--bank", str(tmp_path / "empty"), "--fit-config", str(tmp_path / "bad.yaml")],
                           "unknown keys \\['prior_dg'\\]"),
                          (["--reference", str(tmp_path / "empty"), "--factors", "1,x"], "--factors must be numbers"),
                          ([], "give --reference")):
        monkeypatch.setattr(sys, "argv", [script, *args, "--out", str(out)])
        with pytest.raises(SystemExit) as exc:
            runpy.run_path(script, run_name="__main__")
        assert exc.value.code == 2, args
        assert re.search(message, capsys.readouterr().err), args
    assert not out.exists()
