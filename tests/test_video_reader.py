"""Reading videos as the phone gets them (rotation metadata, timestamps, corrupt frames, ranges) and the crop
conventions that turn a tracked person into the engine's crop: all on small files written here."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from d3ke_edge.video.reader import VideoError, VideoReader


def _numbered_frames(n: int, w: int = 160, h: int = 120) -> list[np.ndarray]:
    """Frames whose mean colour encodes their index (robust to lossy codecs)."""
    import cv2

    out = []
    for i in range(n):
        f = np.full((h, w, 3), (10 * i) % 250, np.uint8)
        cv2.rectangle(f, (0, 0), (w // 3, h // 3), (0, 0, 255), -1)  # a red block top-left (BGR)
        out.append(f)
    return out


def _write(path: Path, frames: list[np.ndarray], fourcc: str, fps: float = 30.0) -> Path:
    import cv2

    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert vw.isOpened()
    for f in frames:
        vw.write(f)
    vw.release()
    return path


def _rotate_mp4(path: Path, out: Path) -> Path:
    """Set the track header's display matrix to a 90 deg rotation, as a phone filming in portrait does."""
    data = bytearray(path.read_bytes())
    i = data.find(b"tkhd")
    version = data[i + 4]
    matrix = i + 4 + 4 + (20 if version == 0 else 32) + 8 + 8
    assert struct.unpack(">9i", data[matrix : matrix + 36])[0] == 1 << 16  # identity before
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30)
    out.write_bytes(bytes(data))
    return out


def test_rotation_metadata_gives_upright_frames(tmp_path):
    plain = _write(tmp_path / "plain.mp4", _numbered_frames(5), "mp4v")
    reader = VideoReader(_rotate_mp4(plain, tmp_path / "portrait.mp4"))
    frames = list(reader)
    assert reader.rotation == 90 and (reader.width, reader.height) == (120, 160)
    assert len(frames) == 5 and frames[0].rgb.shape == (160, 120, 3)
    # the red block drawn top-left of the landscape frame is top-right once turned 90 deg clockwise
    red = frames[0].rgb[..., 0] > 200
    ys, xs = np.nonzero(red)
    assert xs.min() > 120 * 0.6 and ys.max() < 160 * 0.4


def test_a_corrupt_frame_is_skipped_and_named_and_times_stay_right(tmp_path):
    path = _write(tmp_path / "clip.avi", _numbered_frames(10), "MJPG")
    data = bytearray(path.read_bytes())
    starts = [k for k in range(len(data) - 1) if data[k] == 0xFF and data[k + 1] == 0xD8]
    assert len(starts) == 10
    data[starts[5] : starts[6] - 16] = bytes(starts[6] - 16 - starts[5])  # frame 5's JPEG wiped
    bad = tmp_path / "bad.avi"
    bad.write_bytes(bytes(data))
    reader = VideoReader(bad)
    frames = list(reader)
    assert reader.corrupt == [5]
    assert [f.index for f in frames] == [0, 1, 2, 3, 4, 6, 7, 8, 9]
    np.testing.assert_allclose([f.time for f in frames], np.array([0, 1, 2, 3, 4, 6, 7, 8, 9]) / 30.0, atol=1e-6)
    means = [f.rgb[60:, 60:, 1].mean() for f in frames]  # the colour still says which frame it is
    np.testing.assert_allclose(means, [10 * i for i in (0, 1, 2, 3, 4, 6, 7, 8, 9)], atol=6)


def test_start_end_and_every_select_frames_by_time(tmp_path):
    path = _write(tmp_path / "clip.avi", _numbered_frames(30), "FFV1")
    frames = list(VideoReader(path, start=0.2, end=0.7, every=3))
    assert [f.index for f in frames] == [6, 9, 12, 15, 18]


def test_bad_videos_are_named(tmp_path):
    with pytest.raises(VideoError, match="does not exist"):
        VideoReader(tmp_path / "missing.mp4")
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(VideoError, match="not a video"):
        VideoReader(tmp_path / "notes.mp4")
    with pytest.raises(VideoError, match="is a folder"):
        VideoReader(tmp_path)
    empty = _write(tmp_path / "empty.avi", _numbered_frames(1), "FFV1")
    data = empty.read_bytes()
    cut = tmp_path / "header_only.avi"
    cut.write_bytes(data[: data.find(b"movi") + 4])  # the header, no frame data
    with pytest.raises(VideoError):
        list(VideoReader(cut))
    with pytest.raises(VideoError, match="range"):
        VideoReader(empty, start=2.0, end=1.0)


def test_the_crop_samples_pixel_centres_and_pads_black():
    from d3ke_edge.video.crop import cut_crop

    h, w = 100, 200
    xs = np.tile(np.arange(w, dtype=np.float64), (h, 1))
    frame = np.stack([xs, np.tile(np.arange(h, dtype=np.float64)[:, None], (1, w)), np.full((h, w), 255.0)], -1)
    crop, box = cut_crop(frame.astype(np.uint8), np.array([40.0, 20.0, 32.0]), 16)  # 2 frame px per crop px
    # crop pixel i's centre is frame coordinate 40 + (i + 0.5) * 2 = pixel-centre index 40.5 + 2 i: bilinear = that
    np.testing.assert_allclose(crop[0, :, 0], 40.5 + 2 * np.arange(16), atol=0.51)
    np.testing.assert_allclose(crop[:, 0, 1], 20.5 + 2 * np.arange(16), atol=0.51)
    crop, _ = cut_crop(frame.astype(np.uint8), np.array([-20.0, -20.0, 40.0]), 20)
    assert (crop[:10, :, 2] == 0).all() and (crop[:, :10, 2] == 0).all() and (crop[12:, 12:, 2] == 255).all()


def test_box_and_depth_constants_match_the_engine():
    """BOX_PER_EXTENT is measured on the engine's own crops; recomputed here on fresh sequences. The depth it gives
    from the engine's boxes and true bodies is within the margin's spread (+-9 %)."""
    from d3ke_edge.data.synth import SynthConfig, SynthEngine
    from d3ke_edge.video.crop import BOX_PER_EXTENT, root_translation

    engine = SynthEngine(SynthConfig(size=32, seconds=0.5))
    ratios, depth_err = [], []
    for seed in range(100, 112):
        s = engine.sequence(seed)
        rel = np.concatenate([s["joints_rel"], s["markers_rel"]], 1)
        root = s["joints_cam"][:, 0]
        extent = np.maximum(np.ptp(rel[..., 0], 1), np.ptp(rel[..., 1], 1))
        ratios += list(s["box"][:, 2] / (s["K_full"][:, 0, 0] * extent / root[:, 2]))
        for t in range(len(rel)):
            est = root_translation(s["box"][t], s["K_full"][t], rel[t])
            depth_err.append(abs(est[2] - root[t, 2]) / root[t, 2])
    assert abs(np.median(ratios) - BOX_PER_EXTENT) < 0.03
    assert np.median(depth_err) < 0.09


def test_the_root_solve_reproduces_the_engines_camera_frame_bodies():
    import torch

    from d3ke_edge.data.synth import SynthConfig, SynthEngine
    from d3ke_edge.infer.ground import CAMERA_TO_GROUND, solve_root
    from d3ke_edge.models.kinematic_space import KinematicSpace
    from d3ke_edge.skeleton.fk import ForwardKinematics

    engine = SynthEngine(SynthConfig(size=32, seconds=0.5))
    space = KinematicSpace(engine.skel)
    for seed in (3, 4):
        s = engine.sequence(seed)
        q, residual = solve_root(engine.skel, space.root_coordinates, s["coordinates"], s["pelvis_rot_cam"],
                                 s["joints_cam"][:, 0])
        assert residual < 1e-10
        res = ForwardKinematics(engine.skel, torch.float64)(torch.as_tensor(q), torch.as_tensor(s["scales"],
                                                                                                  dtype=torch.float64))
        np.testing.assert_allclose(res.joint_centres.numpy() @ CAMERA_TO_GROUND, s["joints_cam"], atol=2e-5)
        rot = [engine.skel.coordinate_names.index(n) for n in space.root_coordinates[:3]]
        assert (np.abs(q[:, rot]) <= engine.skel.ranges[rot, 1] + 1e-9).all()  # the in-range Euler solution


def test_choosing_a_person_by_point_needs_the_point_on_them_and_sides_mirror():
    from d3ke_edge.video.detector import Detection
    from d3ke_edge.video.landmarks import LANDMARK_NAMES
    from d3ke_edge.video.tracker import choose_person, mirror_order

    def person(x: float, y: float, half: float) -> Detection:  # hips at (x, y), ROI side 2.5 x half
        kp = np.array([[x, y], [x, y - half], [x, y], [x, y]], np.float64)
        return Detection(np.array([x - half, y - half, x + half, y + half]), 0.9, kp)

    man, woman = person(300, 250, 100), person(1500, 750, 120)
    assert choose_person([man, woman], "largest") is woman
    assert choose_person([man, woman], "0") is man and choose_person([man, woman], "2") is None
    assert choose_person([man, woman], "1520,760") is woman
    assert choose_person([man], "1520,760") is None  # she has not entered: nobody, not the nearest stranger
    m = mirror_order()
    names = list(LANDMARK_NAMES)
    assert names[m[names.index("left_knee")]] == "right_knee" and m[0] == 0 and (m[m] == np.arange(33)).all()
