"""The fit to the image (``infer.fit``): on exact projections of our own BlazePose marker set it finds the pose the
landmarks came from, the subject's proportions over a stretch, and it stays where the truth is when started there."""

from __future__ import annotations

import numpy as np
import pytest

from d3ke_edge.infer.config import FitConfig
from d3ke_edge.infer.fit import ImageFit, _log_rotation, _rodrigues

K = np.array([[1500.0, 0, 540], [0, 1500.0, 960], [0, 0, 1]])


@pytest.fixture(scope="module")
def setup():
    from d3ke_edge.data.landmark_synth import landmark_skeleton
    from d3ke_edge.models.kinematic_space import KinematicSpace

    skel, names = landmark_skeleton()
    space = KinematicSpace(skel)
    return skel, names, space


def _fit(setup, **kw) -> ImageFit:
    skel, names, space = setup
    return ImageFit(skel, names, space.predicted, space.root_coordinates, skel.marker_names[:51], FitConfig(**kw))


def _project(fit: ImageFit, q, scales, R, t) -> np.ndarray:
    P = fit._points(q[None], scales[None])[0][fit.lm_index] @ R.T + t
    return np.stack([K[0, 0] * P[:, 0] / P[:, 2] + K[0, 2], K[1, 1] * P[:, 1] / P[:, 2] + K[1, 2]], 1)


def _pose(fit: ImageFit, k: int) -> np.ndarray:
    q = fit.skeleton.defaults.copy()
    q[fit.root] = 0.0
    q[fit.free] = np.clip(q[fit.free] + 0.4 * np.sin(0.1 * k + np.arange(len(fit.free))), fit.lo, fit.hi)
    return q


def test_the_fit_finds_the_pose_its_landmarks_came_from(setup):
    """Weak priors, exact landmarks, a start ~5 deg off per coordinate and 0.2 m off: within 1 deg, < 0.1 px."""
    fit = _fit(setup, iterations=10, prior_deg=1000, prior_rotation_deg=1000, prior_translation_m=100)
    rng = np.random.default_rng(0)
    q = _pose(fit, 3)
    s = np.ones((len(fit.skeleton.body_names), 3))
    R, t = _rodrigues(np.array([0.2, 2.0, 0.1])), np.array([0.1, 0.0, 4.0])
    xy = _project(fit, q, s, R, t)
    q0 = q.copy()
    q0[fit.free] = np.clip(q[fit.free] + rng.normal(0, 0.15, len(fit.free)), fit.lo, fit.hi)
    out = fit.step(xy, np.ones(33), K, 0.0, q0, _rodrigues(np.array([0.3, 1.8, 0.0])), t + 0.2, s)
    start = np.degrees(np.abs(q0[fit.free] - q[fit.free])).mean()
    err = np.degrees(np.abs(out["coordinates"][fit.free] - q[fit.free])).mean()
    assert start > 4.0 and err < 1.0, (start, err)
    assert out["residual_px"] < 0.1
    assert np.degrees(np.linalg.norm(_log_rotation(out["pelvis_rot_cam"] @ R.T))) < 1.0
    # the outputs' markers are the fitted pose's (first order from the last FK call): within a millimetre
    exact = fit._points(out["coordinates"][None], out["scales"][None])[0][fit.out_markers] @ out["pelvis_rot_cam"].T
    assert np.abs(out["markers_rel"] - exact).max() < 1e-3


def test_started_at_the_truth_the_fit_stays_there_over_a_moving_stretch(setup):
    """The network exactly right (pose and scales), the root only guessed from the box: the fit keeps the truth
    (what a lagging smoothness term, pulling toward the last frame, would not)."""
    fit = _fit(setup, smooth_deg_per_s=5000, scale_sigma=1e-4)
    s = np.ones((len(fit.skeleton.body_names), 3))
    errs = []
    for k in range(15):
        q = _pose(fit, k)
        R, t = _rodrigues(np.array([0.2, 2.0 + 0.03 * k, 0.1])), np.array([0.1, 0.0, 4.0])
        out = fit.step(_project(fit, q, s, R, t), np.ones(33), K, k / 30, q, R, t + np.array([0.1, -0.05, 0.4]), s)
        errs.append(np.degrees(np.abs(out["coordinates"][fit.free] - q[fit.free])).max())
    assert max(errs) < 1.0 and errs[-1] < errs[0], errs  # the box-guessed root (0.4 m off in depth) costs < 1 deg


def test_the_subject_s_proportions_are_learnt_over_a_stretch(setup):
    """True scale factors +-10 % per body group, the network's all 1: over 40 frames the fitted factors move ~40 % of
    the way to the truth (a single camera leaves the overall size to the depth: the pelvis group is the truth's)."""
    fit = _fit(setup, prior_deg=10)
    rng = np.random.default_rng(1)
    true_g = rng.uniform(0.9, 1.1, fit.n_groups)
    true_g[0] = 1.0
    s_true = np.ones((len(fit.skeleton.body_names), 3)) * true_g[fit.body_group, None]
    ones = np.ones_like(s_true)
    start = np.abs(true_g - 1).mean()
    for k in range(40):
        q = _pose(fit, k)
        R, t = _rodrigues(np.array([0.2, 2.0 + 0.02 * k, 0.1])), np.array([0.1, 0.0, 4.0])
        q0 = q.copy()
        q0[fit.free] = np.clip(q[fit.free] + rng.normal(0, 0.1, len(fit.free)), fit.lo, fit.hi)
        out = fit.step(_project(fit, q, s_true, R, t), np.ones(33), K, k / 30, q0,
                       _rodrigues(np.array([0.25, 1.9 + 0.02 * k, 0.0])), t + 0.1, ones)
    end = np.abs(fit._g - true_g).mean()
    assert end < 0.7 * start, (start, end)  # measured: 0.046 -> 0.028
    np.testing.assert_allclose(out["scales"], ones * fit._g[fit.body_group, None])


def test_bad_settings_and_inputs_are_named(setup):
    with pytest.raises(ValueError, match="FitConfig.huber must be a positive number"):
        FitConfig(huber=0)
    with pytest.raises(ValueError, match="FitConfig.start"):
        FitConfig(start="nowhere")
    with pytest.raises(ValueError, match="iterations must be 1-20"):
        FitConfig(iterations=0)
    fit = _fit(setup)
    s = np.ones((len(fit.skeleton.body_names), 3))
    q = _pose(fit, 0)
    xy = np.full((33, 2), 500.0)
    xy[3, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite landmark or network output"):
        fit.step(xy, np.ones(33), K, 0.0, q, np.eye(3), np.array([0, 0, 4.0]), s)


def test_the_fit_s_settings_are_read_from_yaml_and_a_typo_stops_there(tmp_path):
    """``--fit-config FILE`` (infer, bench reference / ladder / landmarks): FitConfig's fields from YAML, those left
    out at their defaults; an unknown key, a wrong type, an out-of-range value, a missing file or a list is an error
    naming it; the report says which settings differ from the defaults."""
    from dataclasses import asdict

    from d3ke_edge.infer.config import describe_fit, load_fit_config

    f = tmp_path / "fit.yaml"
    f.write_text("prior_deg: 20\niterations: 3\nstart: previous\n")
    cfg = load_fit_config(f)
    assert cfg == FitConfig(prior_deg=20.0, iterations=3, start="previous")
    assert describe_fit(asdict(cfg)) == ("The fit: iterations 3, prior_deg 20, start previous (the rest at their "
                                         "defaults).")
    assert describe_fit(asdict(FitConfig())) == "The fit: infer's default settings."
    f.write_text("")
    assert load_fit_config(f) == FitConfig()
    for text, match in [("prior_dg: 3\n", r"unknown keys \['prior_dg'\]; allowed: \[.*'prior_deg'"),
                        ("prior_deg: ten\n", "prior_deg must be float, got 'ten'"),
                        ("iterations: 2.5\n", "iterations must be int, got 2.5"),
                        ("huber: true\n", "huber must be float, got True"),
                        ("prior_deg: -1\n", "FitConfig.prior_deg must be a positive number"),
                        ("- prior_deg\n", "expected a mapping of FitConfig fields, got list"),
                        ("prior_deg: [1\n", "is not readable YAML")]:
        f.write_text(text)
        with pytest.raises(ValueError, match=match):
            load_fit_config(f)
    with pytest.raises(FileNotFoundError, match="'.*nope.yaml' does not exist"):
        load_fit_config(tmp_path / "nope.yaml")


def test_the_fit_settings_reach_infer_and_the_real_footage_bench(tmp_path, monkeypatch):
    """``infer --fit-config`` hands the file's settings to the run (a bad file stops before the video is opened);
    ``bench reference`` runs every camera's infer with them and records them in its result."""
    from types import SimpleNamespace

    from typer.testing import CliRunner

    import d3ke_edge.bench.reference as bench_ref
    import d3ke_edge.infer.run as infer_run
    from d3ke_edge.cli import app

    seen = []

    def fake_run(cfg, **kw):
        seen.append(cfg)
        raise infer_run.InferError("stopped by the test")

    monkeypatch.setattr(infer_run, "run_infer", fake_run)
    f = tmp_path / "fit.yaml"
    f.write_text("prior_deg: 25\n")
    res = CliRunner().invoke(app, ["infer", str(tmp_path / "v.mp4"), "--out", str(tmp_path / "o"),
                                   "--fit-config", str(f)])
    assert res.exit_code == 2 and "stopped by the test" in res.output, res.output
    assert seen[-1].fit == FitConfig(prior_deg=25.0)
    f.write_text("prior_dg: 25\n")
    res = CliRunner().invoke(app, ["infer", str(tmp_path / "v.mp4"), "--out", str(tmp_path / "o"),
                                   "--fit-config", str(f)])
    assert res.exit_code == 2 and "--fit-config" in res.output and "prior_dg" in res.output and len(seen) == 1

    monkeypatch.setattr(bench_ref, "run_infer", fake_run)
    trial = SimpleNamespace(report={"fps": 60.0})
    bench = bench_ref._Bench([trial], tmp_path, ("auto",), [], print, None, FitConfig(iterations=4))
    run = bench_ref._Run("cam01", 0, tmp_path / "v.mp4", 60.0, tmp_path / "m", 0, "auto", True)
    with pytest.raises(infer_run.InferError):
        bench.infer(run)
    assert seen[-1].fit == FitConfig(iterations=4) and seen[-1].refine


def test_infer_on_a_real_video_runs_and_records_the_fit_s_settings(blazepose, tmp_path, monkeypatch):
    """A user's run: ``infer`` on the Sports2D clip (a video the fit's defaults were not chosen on) from another
    folder, relative paths, ``--fit-config`` beside it: the files are written and ``summary.json`` names the settings
    the fit ran with (and none without the fit)."""
    import json
    from dataclasses import asdict

    from conftest import SHARED
    from typer.testing import CliRunner

    from d3ke_edge.cli import app

    video = SHARED / "data" / "sports2d" / "demo.mp4"
    if not video.is_file():
        pytest.skip(f"shared data not present ({video})")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fit.yaml").write_text("prior_deg: 20\niterations: 2\n")
    args = ["infer", str(video), "--end", "0.5", "--no-overlay"]
    res = CliRunner().invoke(app, [*args, "--out", "OUT", "--fit-config", "fit.yaml"])
    assert res.exit_code == 0, res.output[-2000:]
    summary = json.loads((tmp_path / "OUT" / "summary.json").read_text())
    assert summary["fit"] and summary["fit_config"] == asdict(FitConfig(prior_deg=20.0, iterations=2))
    assert summary["tracked"] > 0 and (tmp_path / "OUT" / "kinematics.mot").is_file()
    res = CliRunner().invoke(app, [*args, "--out", "OUT2", "--no-refine"])
    assert res.exit_code == 0, res.output[-2000:]
    assert json.loads((tmp_path / "OUT2" / "summary.json").read_text())["fit_config"] is None
