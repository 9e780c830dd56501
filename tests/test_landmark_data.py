"""The landmark model's data: projected markers equal the image engine's labels for the same motion, subject and
camera; the features are invariant to where the person stands and how large; noise draws come from the measured rows
of the body's yaw sector; sequences share one camera and carry correlated noise."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from d3ke_edge.data.camera import project
from d3ke_edge.data.landmark_input import FEATURES, FEATURES_WORLD, landmark_features, world_normalise
from d3ke_edge.data.landmark_noise import YAW_SECTORS, LandmarkNoise, facing_yaw, yaw_sector
from d3ke_edge.data.landmark_synth import LandmarkSynth, LandmarkSynthConfig, PoseBank, landmark_skeleton
from d3ke_edge.data.synth import SynthConfig, SynthEngine
from d3ke_edge.train.config import DataConfig
from d3ke_edge.train.data import StepBatches
from d3ke_edge.train.loop import data_processes


def test_projected_landmarks_and_labels_equal_the_engine_s():
    skel, lm_names = landmark_skeleton()
    engine = SynthEngine(SynthConfig(size=32, seconds=0.5), skeleton=skel)
    seq = engine.sequence(7)
    cfg = LandmarkSynthConfig(sequences=1, seconds=0.5, noise="none")
    synth = LandmarkSynth(PoseBank.build(cfg, [7]), cfg)
    np.testing.assert_allclose(synth.bank.coordinates.numpy(), seq["coordinates"], atol=1e-6)
    T = len(seq["frame"])
    R = torch.as_tensor(seq["cam_R"][:1]).expand(T, 3, 3)
    t = torch.as_tensor(seq["cam_t"][0])
    pos = (-R[0].T @ t).expand(T, 3)
    K = torch.as_tensor(seq["K_full"][:1]).expand(T, 3, 3)
    out = synth._views(torch.arange(T), K, R, pos, torch.Generator())
    own = len(skel.marker_names) - len(lm_names)
    np.testing.assert_allclose(out["joints_rel"].numpy(), seq["joints_rel"], atol=2e-5)
    np.testing.assert_allclose(out["markers_rel"].numpy(), seq["markers_rel"][:, :own], atol=2e-5)
    np.testing.assert_allclose(out["pelvis_rot_cam"].numpy(), seq["pelvis_rot_cam"], atol=1e-5)
    lm = [skel.marker_names.index(m) for m in lm_names]
    truth = project(torch.as_tensor(seq["markers_cam"][:, lm]), K)
    np.testing.assert_allclose(out["landmarks_2d"].numpy(), truth.numpy(), atol=2e-3)  # pixels
    assert out["landmarks"].shape == (T, FEATURES)
    # with the world landmarks: the same features, then the camera-frame landmarks, hip-centred, unit RMS radius
    wcfg = LandmarkSynthConfig(sequences=1, seconds=0.5, noise="none", world=True)
    world = LandmarkSynth(synth.bank, wcfg)._views(torch.arange(T), K, R, pos, torch.Generator())["landmarks"]
    assert world.shape == (T, FEATURES_WORLD)
    np.testing.assert_allclose(world[:, :FEATURES].numpy(), out["landmarks"].numpy(), atol=1e-6)
    cam = torch.as_tensor(seq["markers_cam"][:, lm], dtype=torch.float32)
    hips = (cam[:, 23] + cam[:, 24]) / 2
    expect = (cam - hips[:, None]) / (cam - hips[:, None]).norm(dim=-1).square().mean(-1).sqrt()[:, None, None]
    np.testing.assert_allclose(world[:, FEATURES:].numpy(), expect.flatten(1).numpy(), atol=1e-5)


def test_features_ignore_where_the_person_stands_and_how_large():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(4, 33, 2, generator=g) * 300 + 100
    vis, pres = torch.rand(4, 33, generator=g), torch.rand(4, 33, generator=g)
    K = torch.tensor([[1000.0, 0, 640], [0, 1000.0, 360], [0, 0, 1]])
    a = landmark_features(xy, vis, pres, K)
    b = landmark_features(xy * 2.5 + torch.tensor([50.0, -30.0]), vis, pres, K)
    np.testing.assert_allclose(a[:, :132].numpy(), b[:, :132].numpy(), atol=1e-5)
    assert a[:, :66].abs().max() <= 1.0 + 1e-6 and math.isclose(float(a[:, :66].abs().amax(1).min()), 1.0, rel_tol=1e-5)
    lo, hi = xy.amin(1), xy.amax(1)
    np.testing.assert_allclose(a[:, 132].numpy(), (((lo + hi) / 2)[:, 0] - 640).numpy() / 1000, rtol=1e-5)
    np.testing.assert_allclose(a[:, 134].numpy(), (hi - lo).amax(-1).numpy() / 1000, rtol=1e-5)
    with pytest.raises(ValueError, match="NaN"):
        landmark_features(torch.full((33, 2), float("nan")), vis[0], pres[0], K)
    with pytest.raises(ValueError, match="expected landmarks"):
        landmark_features(xy[:, :17], vis, pres, K)
    # world landmarks: free of where the hips are and of the person's size (metres are BlazePose's guess)
    w = torch.randn(4, 33, 3, generator=g)
    c = landmark_features(xy, vis, pres, K, w)
    d = landmark_features(xy, vis, pres, K, w * 1.3 + torch.tensor([0.2, -0.1, 3.0]))
    assert c.shape == (4, FEATURES_WORLD) and torch.equal(c[:, :FEATURES], a)
    np.testing.assert_allclose(c.numpy(), d.numpy(), atol=1e-5)
    n = world_normalise(w)
    np.testing.assert_allclose(n[:, [23, 24]].mean(1).numpy(), 0.0, atol=1e-6)
    np.testing.assert_allclose(n.norm(dim=-1).square().mean(-1).numpy(), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="world landmarks"):
        landmark_features(xy, vis, pres, K, w[..., :2])


def _rows(n_per: int = 20) -> dict[str, np.ndarray]:
    """Synthetic noise rows whose residual encodes the sector they were measured in."""
    yaw = np.repeat(np.arange(YAW_SECTORS) * 2 * np.pi / YAW_SECTORS, n_per) - np.pi
    yaw = (yaw + np.pi) % (2 * np.pi) - np.pi
    sector = yaw_sector(torch.as_tensor(yaw)).numpy()
    res = np.zeros((len(yaw), 33, 2), np.float32)
    res[..., 0] = sector[:, None]
    frame = np.tile(np.arange(n_per), YAW_SECTORS)
    res[..., 1] = np.where(frame % 2, 0.01, -0.01)[:, None]  # alternating: lag-1 correlation -1
    return {"residual": res, "visibility": np.full((len(yaw), 33), 0.5, np.float32),
            "presence": np.ones((len(yaw), 33), np.float32), "yaw": yaw.astype(np.float32),
            "flipped": (sector == 2) & (frame < n_per // 2), "clip": np.repeat(np.arange(YAW_SECTORS), n_per),
            "frame": frame, "missed": np.array(5), "frames": np.array(len(yaw) + 5)}


def test_noise_draws_come_from_the_body_s_yaw_sector():
    noise = LandmarkNoise.from_rows(_rows())
    sector = torch.arange(YAW_SECTORS).repeat(50)
    res, vis, pres, _ = noise.draw(sector, torch.Generator().manual_seed(1))
    assert torch.equal(res[:, 0, 0].long(), sector)
    assert noise.swap_rate[2] == pytest.approx(0.5) and float(noise.swap_rate.sum()) == pytest.approx(0.5)
    assert noise.missed_rate == pytest.approx(5 / 165)
    # facing the camera (pelvis x towards -z of the camera) is sector 0; turned 90 deg, sector 2 or 6
    facing = torch.tensor([[0.0, 0, -1], [0, 1, 0], [1, 0, 0]]).T  # columns: pelvis x, y, z in the camera frame
    assert int(yaw_sector(facing_yaw(facing))) == 0
    side = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert int(yaw_sector(facing_yaw(side))) in (2, 6)


def test_measured_noise_ships_and_is_plausible():
    noise = LandmarkNoise.load()
    assert int(noise.count.min()) >= 50  # every yaw sector measured
    err = noise.residual.norm(dim=-1).median(0).values  # per landmark, in landmark-box sides
    assert 0.003 < float(err.min()) and float(err.max()) < 0.06
    assert 0.0 < float(noise.swap_rate.mean()) < 0.5
    assert bool(((noise.rho > 0.0) & (noise.rho < 1.0)).all())
    # BlazePose's world landmarks, normalised (unit RMS radius): off by a few to a few tens of percent of it
    werr = noise.world_residual.norm(dim=-1).median(0).values
    assert noise.world_residual.shape == (*noise.residual.shape[:2], 3)
    assert 0.02 < float(werr.min()) and float(werr.max()) < 0.5


def test_sequences_share_a_camera_and_batches_replay_from_their_seed():
    cfg = LandmarkSynthConfig(sequences=3, seconds=1.0)
    synth = LandmarkSynth(PoseBank.build(cfg, [1, 2, 3]), cfg)
    a = synth.batch(64, torch.Generator().manual_seed(9))
    b = synth.batch(64, torch.Generator().manual_seed(9))
    assert all(torch.equal(a[k], b[k]) for k in a)
    seqs = synth.sequences([0, 2], torch.Generator().manual_seed(3))
    assert seqs["landmarks"].shape == (2, 30, FEATURES)
    assert torch.equal(seqs["K"][:, :1].expand_as(seqs["K"]), seqs["K"])
    assert torch.isfinite(seqs["landmarks"]).all()


def test_a_sequence_s_camera_keeps_a_travelling_subject_in_front_and_in_frame():
    """A subject who runs 12 m in a second (a sprint clip of the bank) is filmed from afar: every frame's root in
    front of the camera and inside its frame, the landmarks a person's size; a subject who stands still is seen as
    closely as the single-frame cameras see people (2-6 m)."""
    cfg = LandmarkSynthConfig(sequences=8, seconds=1.0, noise="none")
    bank = PoseBank.build(cfg, list(range(8)))
    still = LandmarkSynth(bank, cfg).sequences(list(range(8)), torch.Generator().manual_seed(5))
    run = torch.zeros_like(bank.pelvis_origin)
    run[:, 0] = bank.frame.float() / cfg.fps * 12.0  # 12 m/s along x
    moved = dataclasses.replace(bank, pelvis_origin=bank.pelvis_origin + run, joints=bank.joints + run[:, None],
                                markers=bank.markers + run[:, None], landmarks=bank.landmarks + run[:, None])
    seqs = LandmarkSynth(moved, cfg).sequences(list(range(8)), torch.Generator().manual_seed(5))
    for s in (still, seqs):
        hips = s["landmarks_2d"][..., [23, 24], :].mean(-2)  # (n, T, 2) px
        size = s["K"][..., :2, 2] * 2  # frame width, height
        assert ((hips > 0) & (hips < size)).all()
        side = (s["landmarks_2d"].amax(-2) - s["landmarks_2d"].amin(-2)).amax(-1)
        assert side.min() > 20 and side.max() < 2 * size.amax()
    def depth(s: dict) -> torch.Tensor:  # a person's height in px ~ f * 1.7 m / depth
        y = s["landmarks_2d"][..., 1]
        return s["K"][..., 0, 0] * 1.7 / (y.amax(-1) - y.amin(-1))

    assert depth(seqs).amin() > 1.0 and depth(seqs).amax(1).amin() > 6.0  # 12 m of path: seen from at least ~6 m
    assert depth(still).median() < 6.0


def test_pose_spread_moves_limbs_within_their_ranges_and_leaves_the_root():
    from d3ke_edge.data.landmark_synth import spread_pose
    from d3ke_edge.data.motion import generate_motion

    skel, _ = landmark_skeleton()
    rng = np.random.default_rng(0)
    q = generate_motion(skel, "walk", rng, 2.0, 30.0)
    out = spread_pose(skel, q, 20.0, 30.0, np.random.default_rng(1))
    d = np.degrees(np.abs(out - q))
    names = skel.coordinate_names
    root = [names.index(n) for n in ("pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty",
                                     "pelvis_tz")]
    assert d[:, root].max() == 0.0
    assert d.max() <= 30.0 + 1e-9 and d.max() > 5.0
    assert (out >= skel.ranges[:, 0] - 1e-12).all() and (out <= skel.ranges[:, 1] + 1e-12).all()
    # smooth: frame-to-frame change of the offset is small (it is a slow wander, not noise)
    assert np.degrees(np.abs(np.diff(out - q, axis=0))).max() < 3.0


def test_landmark_placement_moves_each_subjects_landmarks_by_a_constant_on_their_bodies():
    """``placement_m``: the input landmarks move, rigidly with their bodies and constantly per subject; the labels
    (coordinates, the skeleton's own markers) and the bank without it stay as they were."""
    import torch

    from d3ke_edge.data.landmark_synth import LandmarkSynthConfig, PoseBank

    seeds = [11, 12]
    plain = PoseBank.build(LandmarkSynthConfig(sequences=2, seconds=1.0), seeds)
    moved = PoseBank.build(LandmarkSynthConfig(sequences=2, seconds=1.0, placement_m=0.02), seeds)
    assert torch.equal(plain.coordinates, moved.coordinates) and torch.equal(plain.markers, moved.markers)
    d = moved.landmarks - plain.landmarks
    assert 0.015 < float(d.std()) < 0.025 and float(d.norm(dim=-1).max()) <= 0.04 * 3**0.5 + 1e-6  # 2 std per axis
    # a constant offset in the body frame: its length does not change over a subject's frames
    for s in range(2):
        length = d[moved.sequence == s].norm(dim=-1)
        assert float(length.std(0).max()) < 1e-5
    with pytest.raises(ValueError, match="placement_m"):
        LandmarkSynthConfig(placement_m=0.5)


@pytest.mark.parametrize("start", [0, 3])
def test_data_processes_make_each_step_once_and_in_order(start):
    """Two data processes give the steps one process gives, once each and in order, with the same batches (each
    process made every step before: a two-worker run trained on each batch twice). A resumed run starts mid-way."""
    cfg = DataConfig(source="landmarks", bank_sequences=3, sequence_seconds=0.5, val_sequences=1)

    def run(workers: int) -> list:
        stream = StepBatches(cfg, FEATURES, 4, 0, start, 8)
        return list(torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers))

    one, two = run(0), run(2)
    assert [s for s, _ in two] == [s for s, _ in one] == list(range(start, 8))
    assert all(torch.equal(a[k], b[k]) for (_, a), (_, b) in zip(one, two) for k in a)


def test_landmark_data_uses_its_data_processes_on_a_gpu_too():
    """The GPU recipes' landmark data is made on the CPU: their data processes run beside a CUDA run (they were
    dropped whenever the training device was not the CPU); only the renderer on the GPU stays in the training
    process."""
    assert data_processes(DataConfig(source="landmarks", workers=6), "cuda") == 6
    assert data_processes(DataConfig(source="synth", workers=6), "cuda") == 0
    assert data_processes(DataConfig(source="synth", workers=2), "cpu") == 2
    recipe = yaml.safe_load((Path(__file__).resolve().parents[1] / "train" / "lift_bank_gpu.yaml").read_text())["data"]
    assert data_processes(DataConfig(source=recipe["source"], workers=recipe["workers"]), "cuda") == 6
