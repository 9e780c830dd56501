"""Fitting BlazePose's landmarks as markers of our skeleton: the projection equations recover known body-frame points
from noisy, outlier-laden 2D observations (the BlazePose run on renders is `benchmarks/blazepose_on_renders.py`)."""

from __future__ import annotations

import numpy as np

from d3ke_edge.data.synth import SynthConfig, SynthEngine
from d3ke_edge.skeleton.mirror import REFLECT
from d3ke_edge.video.landmark_fit import LANDMARK_BODIES, Observations, _pose_in_camera, fit_landmarks
from d3ke_edge.video.landmarks import LANDMARK_NAMES
from d3ke_edge.video.tracker import mirror_order


def _observations(truth: dict[str, np.ndarray], noise_px: float, outliers: float, seed: int = 0) -> Observations:
    engine = SynthEngine(SynthConfig(size=32, seconds=1.0))
    rng = np.random.default_rng(seed)
    parts = {k: [] for k in ("xy", "visibility", "rot", "origin", "scales", "K", "joints_2d", "presence", "clip",
                             "frame", "flipped", "world")}
    for c, s in enumerate(engine.sequence(seed + k) for k in range(6)):
        rot, origin = _pose_in_camera(engine.skel, s)
        K = s["K_full"][0].astype(np.float64)
        for t in range(len(rot)):
            xy = []
            for name in LANDMARK_NAMES:
                b = engine.skel.body_index(LANDMARK_BODIES[name])
                X = rot[t, b] @ (s["scales"][t, b] * truth[name]) + origin[t, b]
                xy.append(K[:2, :2] @ (X[:2] / X[2]) + K[:2, 2])
            xy = np.array(xy) + rng.normal(0, noise_px, (33, 2))
            bad = rng.random(33) < outliers
            xy[bad] += rng.normal(0, 60, (bad.sum(), 2))
            j = s["joints_cam"][t]
            for k, v in (("xy", xy), ("visibility", np.ones(33)), ("rot", rot[t]), ("origin", origin[t]),
                         ("scales", s["scales"][t]), ("K", K), ("joints_2d", K[:2, :2] @ (j[:, :2] / j[:, 2:]).T),
                         ("presence", np.ones(33)), ("clip", c), ("frame", t), ("flipped", False),
                         ("world", np.zeros((33, 3)))):
                parts[k].append(v if k != "joints_2d" else v.T + K[:2, 2])
    return Observations(**{k: np.stack(v) for k, v in parts.items()})


def test_the_fit_recovers_known_points_through_noise_and_outliers():
    rng = np.random.default_rng(1)
    truth = {n: rng.uniform(-0.08, 0.08, 3) for n in LANDMARK_NAMES}
    obs = _observations(truth, noise_px=1.0, outliers=0.05)
    markers, stats = fit_landmarks(SynthEngine(SynthConfig(size=32)).skel, obs, symmetric=False)
    for m, name in zip(markers, LANDMARK_NAMES):
        assert m.name == f"bp_{name}" and m.body == LANDMARK_BODIES[name]
        assert np.abs(np.array(m.location) - truth[name]).max() < 0.006, name
        assert 0.5 < stats[name]["median_px"] < 2.0 and 0.02 < stats[name]["outlier_frac"] < 0.12


def test_the_symmetric_fit_mirrors_left_and_right():
    rng = np.random.default_rng(2)
    m = mirror_order()
    truth = {}
    for i, name in enumerate(LANDMARK_NAMES):
        if name not in truth:
            p = rng.uniform(-0.08, 0.08, 3)
            p = p * [1, 1, 0] if m[i] == i else p
            truth[name], truth[LANDMARK_NAMES[m[i]]] = p, np.asarray(REFLECT) * p
    obs = _observations(truth, noise_px=2.0, outliers=0.0, seed=5)
    markers, _ = fit_landmarks(SynthEngine(SynthConfig(size=32)).skel, obs)
    loc = {mk.name.removeprefix("bp_"): np.array(mk.location) for mk in markers}
    for i, name in enumerate(LANDMARK_NAMES):
        np.testing.assert_allclose(loc[LANDMARK_NAMES[m[i]]], np.asarray(REFLECT) * loc[name], atol=1e-12)
        assert np.abs(loc[name] - truth[name]).max() < 0.006, name
