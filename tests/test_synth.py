"""The synthetic data engine: labels agree with images, mirroring, motion families, determinism, datasets."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from d3ke_edge.cli import app
from d3ke_edge.data.camera import Camera, sample_camera
from d3ke_edge.data.datasets import SynthShardDataset, SynthStream
from d3ke_edge.data.motion import FOOT_MARKERS, generate_motion
from d3ke_edge.data.shards import DatasetSpec, split_of, write_dataset
from d3ke_edge.data.subjects import HEIGHT_RANGE_M, sample_subject
from d3ke_edge.data.synth import FAMILY_NAMES, LABEL_KEYS, SynthConfig, SynthEngine
from d3ke_edge.data.transforms import hflip_sample
from d3ke_edge.skeleton import ForwardKinematics
from d3ke_edge.skeleton.mirror import derive_mirror


@pytest.fixture(scope="module")
def engine():
    return SynthEngine(SynthConfig(size=128, seconds=0.5))


def _scene(engine, seed: int, family: str):
    rng = np.random.default_rng(seed)
    subject = sample_subject(engine.skel, rng)
    q = generate_motion(engine.skel, family, rng, 0.5, 30.0, subject.scales)
    path = np.stack([q[:, 3], np.full(len(q), 0.9), q[:, 5]], -1)
    cam = sample_camera(rng, np.array([q[:, 3].mean(), 0.9, q[:, 5].mean()]), path)
    return subject, q, cam


def test_visible_labels_land_on_rendered_body_pixels(engine):
    from scipy.ndimage import binary_dilation

    on, near, total, joints_on, joints_total = 0, 0, 0, 0, 0
    for k, family in enumerate(FAMILY_NAMES):
        subject, q, cam = _scene(engine, k, family)
        out = engine.render(q, subject, cam, np.random.default_rng(k), 0, 0, 0, return_maps=True)
        body = np.isfinite(out["depth"])
        assert body.mean() > 0.05  # a person is in every crop
        for f in range(len(q)):
            grown = binary_dilation(body[f])
            for (u, v), seen in zip(out["markers_2d"][f], out["markers_vis"][f]):
                if seen:
                    total += 1
                    on += body[f][int(v), int(u)]
                    near += grown[int(v), int(u)]
            for (u, v), seen in zip(out["joints_2d"][f], out["joints_vis"][f]):
                if seen:
                    joints_total += 1
                    joints_on += body[f][int(v), int(u)]
    assert total > 1000 and joints_total > 500
    assert joints_on == joints_total  # joint centres lie inside the body
    assert on / total > 0.97 and near / total > 0.995  # markers sit on the skin: edge pixels may round outside


def test_occluded_markers_are_behind_the_surface(engine):
    subject, q, cam = _scene(engine, 3, "walk")
    out = engine.render(q, subject, cam, np.random.default_rng(0), 0, 0, 0, return_maps=True)
    hidden = out["markers_in_crop"] & ~out["markers_vis"]
    assert hidden.any()  # from any side some markers are hidden
    f, m = np.nonzero(hidden)
    u, v = out["markers_2d"][f, m].astype(int).T
    assert np.all(out["markers_cam"][f, m, 2] > out["depth"][f, v, u] + 0.05)


def test_mirrored_scene_renders_the_flipped_image_and_labels(engine):
    mirror = derive_mirror(engine.skel)
    subject, q, cam = _scene(engine, 7, "throw")
    a = engine.render(q, subject, cam, np.random.default_rng(1), 0, 0, 0, return_maps=True)
    F, S = np.diag([-1.0, 1.0, 1.0]), np.diag([1.0, 1.0, -1.0])
    cam_m = Camera(F @ cam.rotation @ S, F @ cam.translation, cam.K, cam.width, cam.height)
    box = a["box"].copy()
    box[:, 0] = cam.width - box[:, 0] - box[:, 2]
    q_m = mirror.pose(torch.as_tensor(q)).numpy()
    b = engine.render(q_m, subject, cam_m, np.random.default_rng(1), 0, 0, 0, boxes=torch.as_tensor(box),
                      return_maps=True)
    flipped_depth = np.flip(a["depth"], -1)
    assert np.array_equal(np.isfinite(flipped_depth), np.isfinite(b["depth"]))  # same silhouette, pixel for pixel
    both = np.isfinite(b["depth"])
    assert np.abs(flipped_depth[both] - b["depth"][both]).max() < 1e-4
    sample = {k: torch.as_tensor(a[k]) for k in LABEL_KEYS}
    sample["image"] = torch.as_tensor(a["image"]).permute(0, 3, 1, 2)
    expected = hflip_sample(sample, mirror)
    for key in LABEL_KEYS:
        got, want = torch.as_tensor(b[key]), expected[key]
        if got.dtype == torch.bool:
            assert torch.equal(got, want), key
        else:
            torch.testing.assert_close(got.float(), want.float(), atol=1e-3, rtol=1e-5, msg=key)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_motion_families_are_smooth_in_range_and_grounded(engine, family):
    skel = engine.skel
    rng = np.random.default_rng(11)
    q = generate_motion(skel, family, rng, 3.0, 30.0)
    lo, hi = skel.ranges[:, 0], skel.ranges[:, 1]
    assert np.all(q >= lo - 1e-9) and np.all(q <= hi + 1e-9)
    rot = np.array([c.motion_type != "translational" for c in skel.coordinates])
    acc = np.diff(q[:, rot], 2, axis=0) * 30.0**2
    # rad/s^2: a 10 degree jump between frames would already give ~160; running knees reach a few hundred.
    assert np.abs(acc).max() < (500.0 if family == "run" else 150.0)
    with torch.no_grad():
        feet = ForwardKinematics(skel, torch.float64)(torch.as_tensor(q)).markers
    idx = [skel.marker_names.index(m) for m in FOOT_MARKERS]
    lowest = feet[:, idx, 1].amin(-1).numpy()
    assert lowest.min() > -1e-6  # never below the floor
    if family not in ("run", "jump", "jumping_jack"):  # these have flight phases
        assert np.median(lowest) < 1e-6


def test_subjects_span_heights_and_keep_sides_equal(engine):
    rng = np.random.default_rng(0)
    heights = [sample_subject(engine.skel, rng).height_m for _ in range(200)]
    assert HEIGHT_RANGE_M[0] <= min(heights) < 1.5 and 1.95 < max(heights) <= HEIGHT_RANGE_M[1]
    s = sample_subject(engine.skel, rng).scales
    names = engine.skel.body_names
    for i, n in enumerate(names):
        if n.endswith("_r"):
            np.testing.assert_array_equal(s[i], s[names.index(n[:-2] + "_l")])


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_and_resume(tmp_path, monkeypatch):
    spec = DatasetSpec(subjects=3, seconds=0.5, sequence_seconds=0.5, size=64, seed=5)
    write_dataset(tmp_path / "a", spec)
    # An interrupted run: the second subject fails half-way; nothing half-written is left behind.
    import d3ke_edge.data.shards as shards

    real = shards._subject_arrays
    calls = {"n": 0}

    def flaky(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(shards, "_subject_arrays", flaky)
    with pytest.raises(KeyboardInterrupt):
        write_dataset(tmp_path / "b", spec)
    assert not list((tmp_path / "b").rglob("*.tmp")) and not (tmp_path / "b" / "manifest.json").exists()
    assert len(list((tmp_path / "b").rglob("*.h5"))) == 1
    monkeypatch.setattr(shards, "_subject_arrays", real)
    write_dataset(tmp_path / "b", spec)  # resumes
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["counts"]["test"]["subjects"] == 1 and manifest["skeleton"]["hash"]
    with pytest.raises(FileExistsError):
        write_dataset(tmp_path / "a", DatasetSpec(subjects=3, seconds=0.5, sequence_seconds=0.5, size=64, seed=6))


def test_same_bytes_across_processes(tmp_path):
    """Another process with another hash seed (set iteration order!) must write the same bytes."""
    import os
    import subprocess
    import sys

    for i, hashseed in enumerate(("1", "2")):
        code = ("from d3ke_edge.data.shards import DatasetSpec, write_dataset; "
                f"write_dataset('{tmp_path / str(i)}', DatasetSpec(subjects=2, seconds=0.2, sequence_seconds=0.2, "
                "size=48, seed=9))")
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONHASHSEED": hashseed})
    assert _digest(tmp_path / "0") == _digest(tmp_path / "1")


def test_batched_draw_equals_one_sequence_at_a_time():
    """Several sequences drawn in one call (chunks spanning sequences) give exactly the per-sequence arrays."""
    engine = SynthEngine(SynthConfig(size=48, seconds=0.3, chunk=7))  # 9 frames each: chunks straddle sequences
    seeds = [11, 12, 13]  # checker, striped and plain clothing: every texture path in one batch
    one = [engine.sequence(s, sequence_id=i) for i, s in enumerate(seeds)]
    many = engine.sequences(seeds)
    for a, b in zip(one, many):
        assert set(a) == set(b)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert len({int(m["sequence"][0]) for m in many}) == 3
    with pytest.raises(ValueError, match="sequence ids"):
        engine.sequences(seeds, [0])


def test_synth_batches_do_not_depend_on_render_batch():
    from d3ke_edge.train.config import DataConfig
    from d3ke_edge.train.data import SynthSource

    cfg = dict(sequence_seconds=0.2, pool=3, sequences_per_step=1.0, workers=0)
    a = SynthSource(DataConfig(**cfg), 48, 5, 0, "cpu")
    b = SynthSource(DataConfig(**cfg, render_batch=4), 48, 5, 0, "cpu")
    for step in (0, 1, 2, 5):
        x, y = a(step), b(step)
        for k in x:
            torch.testing.assert_close(x[k], y[k], rtol=0, atol=0, msg=k)
    assert len(b.cache) >= 3 and min(b.cache) == 5  # older sequences are dropped
    with pytest.raises(ValueError, match="render_batch"):
        DataConfig(render_batch=0)


def test_split_by_subject():
    splits = [split_of(s, 20) for s in range(20)]
    assert splits.count("train") == 16 and splits.count("val") == 2 and splits.count("test") == 2
    assert splits[-1] == "test" and splits[0] == "train"


def test_shard_dataset_and_stream_yield_the_same_sample_dict(tmp_path):
    write_dataset(tmp_path, DatasetSpec(subjects=3, seconds=0.5, sequence_seconds=0.5, size=64, seed=1))
    ds = SynthShardDataset(tmp_path, "train")
    sample = ds[3]
    batch = next(iter(SynthStream(SynthConfig(size=64, seconds=0.5), batch_size=4, pool=2)))
    assert set(sample) == set(batch) == {"image", *LABEL_KEYS}
    for key, value in sample.items():
        assert batch[key].dtype == value.dtype, key
        assert tuple(batch[key].shape[1:]) == tuple(value.shape), key
    assert sample["image"].shape == (3, 64, 64) and 0.0 <= float(sample["image"].min()) <= float(sample["image"].max()) <= 1.0
    loader = torch.utils.data.DataLoader(ds, batch_size=5, num_workers=1)
    assert next(iter(loader))["markers_rel"].shape == (5, len(ds.manifest["skeleton"]["markers"]), 3)


def test_mot_driver_reproduces_the_file(engine, tmp_path):
    from d3ke_edge.data.motion import walking
    from d3ke_edge.data.motion_file import load_motion
    from d3ke_edge.io import MotionTable, write_mot

    skel = engine.skel
    q = walking(skel, seconds=1.0, fps=60.0)
    keep = [n for n in skel.coordinate_names if n != "wrist_dev_r"]  # one column missing -> its default
    cols = [skel.coordinate_names.index(n) for n in keep]
    write_mot(MotionTable(np.arange(len(q)) / 60.0, keep, q[:, cols]), tmp_path / "w.mot", skel)
    motion = load_motion(tmp_path / "w.mot", skel, fps=30.0)  # resampled 60 -> 30 fps
    np.testing.assert_allclose(motion[:, cols], q[::2, cols], atol=1e-9)
    np.testing.assert_allclose(motion[:, skel.coordinate_names.index("wrist_dev_r")], skel.defaults[skel.coordinate_names.index("wrist_dev_r")])
    seq = engine.sequence(0, motion=motion[:10])
    np.testing.assert_allclose(seq["coordinates"], motion[:10], atol=1e-6)
    assert (seq["family"] == -1).all()


def test_synth_cli_writes_and_reports_errors(tmp_path):
    res = CliRunner().invoke(app, ["synth", "--subjects", "1", "--seconds", "0.2", "--size", "64", "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "d" / "manifest.json").is_file()
    res = CliRunner().invoke(app, ["synth", "--motion", str(tmp_path / "missing.mot"), "--out", str(tmp_path / "e")])
    assert res.exit_code == 2 and "missing.mot" in res.stderr
    res = CliRunner().invoke(app, ["synth", "--backgrounds", str(tmp_path / "nope"), "--out", str(tmp_path / "f"),
                                   "--subjects", "1", "--seconds", "0.2"])
    assert res.exit_code == 2 and "does not exist" in res.stderr


def test_background_photos_are_used(tmp_path):
    import cv2

    folder = tmp_path / "bg"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((90, 160, 3), (0, 0, 255), np.uint8))  # pure red photo
    eng = SynthEngine(SynthConfig(size=64, seconds=0.2, backgrounds=str(folder)))
    reds = 0
    for seed in range(6):
        img = eng.sequence(seed)["image"][0].astype(int)
        reds += (img[0, 0, 0] > 200 and img[0, 0, 1] < 40)
    assert 0 < reds < 6  # about half of the scenes
