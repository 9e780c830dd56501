"""BlazePose's models fetched from the mediapipe wheel, and our decoder of its person detector: anchors, decoding,
weighted NMS against hand-made values, and real frames of ../shared checked by eye (values recorded below)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from d3ke_edge.video.detector import decode_detections, pose_anchors, roi_from_detection, weighted_nms
from d3ke_edge.video.models import BLAZEPOSE_FILES, ModelFetchError, fetch_models

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_anchors_follow_mediapipes_merged_stride_layers():
    a = pose_anchors()
    assert a.shape == (2254, 2)  # 28x28x2 + 14x14x2 + 7x7x(3 layers x 2)
    np.testing.assert_allclose(a[0], [0.5 / 28, 0.5 / 28]) and np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [1.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(a[1568], [0.5 / 14, 0.5 / 14])
    np.testing.assert_allclose(a[1960:1966], np.tile([0.5 / 7, 0.5 / 7], (6, 1)))  # six per cell on the 7x7 grid
    np.testing.assert_allclose(a[-1], [6.5 / 7, 6.5 / 7])


def test_decoding_and_weighted_nms_by_hand():
    anchors = pose_anchors()
    raw = np.zeros((1, 2254, 12), np.float32)
    scores = np.full((1, 2254, 1), -10.0, np.float32)
    raw[0, 1960] = [22.4, -11.2, 44.8, 67.2, 0, 0, 22.4, 22.4, 0, 0, 0, 0]  # anchor centre (1/14, 1/14)
    scores[0, 1960] = 2.0
    (box, score, kps), = decode_detections(raw, scores, anchors)
    cx, cy = 1 / 14 + 0.1, 1 / 14 - 0.05
    np.testing.assert_allclose(box, [cx - 0.1, cy - 0.15, cx + 0.1, cy + 0.15], atol=1e-6)
    assert score == pytest.approx(1 / (1 + np.exp(-2.0)))
    np.testing.assert_allclose(kps[1], [1 / 14 + 0.1, 1 / 14 + 0.1], atol=1e-6)
    a = (np.array([0, 0, 1, 1.0]), 0.9, np.zeros((4, 2)))
    b = (np.array([0.1, 0, 1.1, 1.0]), 0.6, np.ones((4, 2)))
    c = (np.array([5, 5, 6, 6.0]), 0.7, np.zeros((4, 2)))
    merged = weighted_nms([b, c, a])
    assert [m[1] for m in merged] == [0.9, 0.7]  # best first; b absorbed into a
    np.testing.assert_allclose(merged[0][0], (a[0] * 0.9 + b[0] * 0.6) / 1.5)
    np.testing.assert_allclose(merged[0][2], np.full((4, 2), 0.6 / 1.5))


def _frame(video: Path, index: int) -> np.ndarray:
    import cv2

    if not video.is_file():
        pytest.skip(f"{video} is absent (../shared)")
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, bgr = cap.read()
    assert ok
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def test_real_frames_with_values_checked_by_eye(blazepose):
    """Pose2Sim cam01 frame 30 (one subject, 1080x1920) and Sports2D frame 60 (two small people in a wide frame):
    the hip keypoint on the subject's mid-hip and the scale point above the head, as drawn and looked at."""
    from d3ke_edge.video.detector import PoseDetector

    det = PoseDetector(blazepose["pose_detection.tflite"])
    (one,) = det.detect(_frame(SHARED / "pose2sim" / "videos" / "cam01.mp4", 30))
    assert one.score > 0.9
    np.testing.assert_allclose(one.keypoints[0], [433, 785], atol=15)  # mid-hip
    np.testing.assert_allclose(one.keypoints[1], [717, 457], atol=20)  # above the head
    roi = roi_from_detection(one)
    assert 1000 < roi.side < 1400 and 0.6 < roi.rotation < 0.9  # MediaPipe: + when the body leans right (here ~41 deg)
    wide = _frame(SHARED / "sports2d" / "demo.mp4", 60)
    assert det.detect(wide) == []  # 25-px people in a 1768-px frame: the full-frame detector misses them
    people = sorted(det.detect(wide, tiles=4), key=lambda d: d.keypoints[0, 0])
    assert len(people) == 2 and min(p.score for p in people) > 0.9
    np.testing.assert_allclose(people[0].keypoints[0], [628, 301], atol=15)  # the man on the box
    np.testing.assert_allclose(people[1].keypoints[0], [1415, 740], atol=15)  # the walking woman


def test_the_cache_is_checked_and_offline_gives_the_manual_command(blazepose, tmp_path):
    dest = tmp_path / "cache"
    dest.mkdir()
    for name, path in blazepose.items():
        shutil.copy(path, dest / name)
    assert fetch_models(dest=dest) == {n: dest / n for n in BLAZEPOSE_FILES}  # from the cache, no download
    (dest / "pose_detection.tflite").write_bytes(b"tampered")
    with pytest.raises(ModelFetchError, match="does not match its pinned sha256"):
        fetch_models(dest=dest)
    env = {**os.environ, "D3KE_EDGE_CACHE": str(tmp_path / "empty"), "PIP_NO_INDEX": "1",
           "PIP_FIND_LINKS": str(tmp_path / "nowhere"), "PIP_CONFIG_FILE": os.devnull}
    res = subprocess.run([sys.executable, "-c", "from d3ke_edge.cli import app; app()", "models", "fetch"],
                         capture_output=True, text=True, env=env)
    assert res.returncode == 2 and "pip download mediapipe==0.10.21" in res.stderr and "offline?" in res.stderr
    assert not (tmp_path / "empty" / "blazepose" / "pose_detection.tflite").exists()


def test_the_roi_crop_and_the_back_projection_agree():
    """A dot drawn in the frame lands, after cropping through the ROI, on the crop pixel that the ROI's affine map
    sends back to the dot (rotation and scale included)."""
    import cv2

    from d3ke_edge.video.landmarks import ROI, SIZE, LandmarkModel

    frame = np.zeros((600, 800, 3), np.uint8)
    dot = np.array([430.0, 250.0])
    cv2.circle(frame, tuple(dot.astype(int)), 3, (255, 255, 255), -1)
    roi = ROI(np.array([400.0, 300.0]), 300.0, 0.5)
    crop = LandmarkModel.crop(None, frame, roi)  # the crop needs no model
    ys, xs = np.nonzero(crop[..., 0] > 128)
    found = np.array([xs.mean(), ys.mean()])
    m = roi.matrix()
    np.testing.assert_allclose(found @ m[:, :2].T + m[:, 2], dot, atol=1.5)
    np.testing.assert_allclose(np.array([SIZE / 2, SIZE / 2]) @ m[:, :2].T + m[:, 2], roi.centre)


def test_landmarks_on_a_real_frame_checked_by_eye(blazepose):
    """Pose2Sim cam01 frame 30, detector ROI then one tracking step (the ROI from the landmarks' own hip centre and
    scale point): nose, hips and ankles where the overlay we looked at shows them."""
    from d3ke_edge.video.detector import PoseDetector
    from d3ke_edge.video.landmarks import LANDMARK_NAMES, LandmarkModel

    frame = _frame(SHARED / "pose2sim" / "videos" / "cam01.mp4", 30)
    (det,) = PoseDetector(blazepose["pose_detection.tflite"]).detect(frame)
    model = LandmarkModel(blazepose["pose_landmark_full.tflite"])
    first = model.run(frame, roi_from_detection(det))
    tracked = model.run(frame, first.next_roi())
    assert first.pose_score > 0.9 and tracked.pose_score > 0.9 and len(LANDMARK_NAMES) == 33
    expect = {"nose": (689, 556), "left_hip": (478, 813), "right_hip": (392, 767), "left_ankle": (418, 1095),
              "right_ankle": (221, 1080)}
    for name, xy in expect.items():
        np.testing.assert_allclose(tracked.xy[LANDMARK_NAMES.index(name)], xy, atol=25, err_msg=name)
    assert tracked.visibility[LANDMARK_NAMES.index("left_hip")] > 0.5
    hips = tracked.world[[23, 24]].mean(0)
    assert np.abs(hips).max() < 0.05  # world landmarks are hip-centred (metres)
    # ... in the camera's axes: the same ROI on the frame turned 90 deg clockwise gives the same crop, so the image
    # landmarks turn with the frame and so must the world ones (BlazePose's output is in the crop's axes)
    from d3ke_edge.video.landmarks import ROI

    roi = first.next_roi()
    h = frame.shape[0]
    turn = lambda p: np.stack([h - 1 - p[..., 1], p[..., 0]], -1)  # noqa: E731  frame pixel -> turned frame pixel
    turned = model.run(np.ascontiguousarray(np.rot90(frame, k=-1)), ROI(turn(roi.centre), roi.side, roi.rotation + np.pi / 2))
    np.testing.assert_allclose(turned.xy, turn(tracked.xy), atol=3.0)
    np.testing.assert_allclose(turned.world[:, :2], np.stack([-tracked.world[:, 1], tracked.world[:, 0]], -1), atol=0.02)
    np.testing.assert_allclose(turned.world[:, 2], tracked.world[:, 2], atol=0.02)
    # upright person: the head above the hips (camera y down) and the world landmarks about a person's size
    assert tracked.world[0, 1] < -0.4 and 0.3 < np.sqrt((tracked.world**2).sum(-1).mean()) < 0.8


def _frames(video: Path, n: int, start: int = 0):
    import cv2

    if not video.is_file():
        pytest.skip(f"{video} is absent (../shared)")
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    for _ in range(n):
        ok, bgr = cap.read()
        if not ok:
            return
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def test_tracking_follows_the_chosen_person(blazepose):
    """Pose2Sim cam01: the detector runs once, the landmarks carry the ROI through all 100 frames. Sports2D, two
    people: from frame 45 (she enters at ~40), `--person x,y` near the walking woman keeps her for 60 frames (her
    hips stay on the right half while she walks left) and never jumps to the man on the box."""
    from d3ke_edge.video.tracker import PoseTracker, choose_person

    models = (blazepose["pose_detection.tflite"], blazepose["pose_landmark_full.tflite"])
    tracker = PoseTracker(*models)
    for frame in _frames(SHARED / "pose2sim" / "videos" / "cam01.mp4", 100):
        assert tracker.track(frame) is not None
    assert tracker.stats.frames == tracker.stats.tracked == 100 and tracker.stats.detector_calls == 1

    woman = PoseTracker(*models, person="1520,760", tiles=4)
    hips = []
    for frame in _frames(SHARED / "sports2d" / "demo.mp4", 60, start=45):
        found = woman.track(frame)
        if found is not None:
            hips.append(found.xy[[23, 24]].mean(0))
    hips = np.array(hips)
    assert len(hips) >= 55 and (hips[:, 0] > 884).all() and hips[-1, 0] < hips[0, 0] - 200
    with pytest.raises(ValueError, match="person must be"):
        choose_person([], "tallest")


def test_a_model_of_the_wrong_kind_is_named(blazepose):
    from d3ke_edge.video.detector import PoseDetector
    from d3ke_edge.video.landmarks import LandmarkModel

    with pytest.raises(ValueError, match=r"not BlazePose's \[1, 224, 224, 3\] detector input"):
        PoseDetector(blazepose["pose_landmark_full.tflite"])
    with pytest.raises(ValueError, match=r"not BlazePose's \[1, 256, 256, 3\] landmark input"):
        LandmarkModel(blazepose["pose_detection.tflite"])
