"""The study's conditions on whole video frames (``bench.video_conditions``): each does what it says on a frame of
known content, with ``data.conditions``' levels; the mirrored run is scored through the skeleton's mirror map."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as tvf

from d3ke_edge.bench.video_conditions import SIDES, frame_condition, person_boxes
from d3ke_edge.data.conditions import CONDITIONS


def _frame(h: int = 96, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_hflip_resize_and_the_photometric_conditions_do_what_they_say():
    rgb = _frame()
    assert np.array_equal(frame_condition("hflip", 1)(rgb, 0), rgb[:, ::-1])
    for severity, factor in ((1, 1.5), (5, 6.0)):
        cond = frame_condition("resize", severity)
        assert cond.level == factor == CONDITIONS["resize"].levels[severity - 1]
        out = cond(rgb, 0)
        assert out.shape == rgb.shape and out.dtype == np.uint8
        # random pixels lose their fine detail: neighbour differences shrink with the factor
        rough = lambda x: np.abs(np.diff(x.astype(float), axis=1)).mean()  # noqa: E731
        assert rough(out) < rough(rgb) * (0.75 if severity == 1 else 0.3)
    t = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    bright = frame_condition("brightness", 5)(rgb, 0).astype(float)
    want = (tvf.adjust_brightness(t, 2.0).clamp(0, 1) * 255).permute(1, 2, 0).numpy()
    assert np.abs(bright - want).max() <= 0.51
    flat = frame_condition("contrast", 5)(rgb, 0)
    assert flat.std() < 0.15 * rgb.std()
    with pytest.raises(ValueError, match="hflip has one severity"):
        frame_condition("hflip", 3)
    with pytest.raises(ValueError, match="not defined on video frames"):
        frame_condition("rotation", 1)
    with pytest.raises(ValueError, match="severity of resize must be 1-5"):
        frame_condition("resize", 6)
    with pytest.raises(ValueError, match="crop needs the person's per-frame boxes"):
        frame_condition("crop", 1)


def test_crop_keeps_the_shrunk_person_box_and_paints_the_rest_black():
    rgb = np.full((200, 300, 3), 200, np.uint8)
    boxes = np.array([[100.0, 50.0, 100.0], [110.0, 50.0, 100.0]])  # x0, y0, side per frame
    seen = set()
    for seed in range(12):
        cond = frame_condition("crop", 5, boxes, seed=seed)  # 30 % of the box cut off one side
        side = next(s for s in SIDES if s in cond.describe)
        seen.add(side)
        out = cond(rgb, 1)
        rows, cols = np.nonzero(out[..., 0])
        window = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
        x0, y0, x1, y1 = 110, 50, 210, 150
        want = {"left": (x0 + 30, y0, x1, y1), "right": (x0, y0, x1 - 30, y1), "top": (x0, y0 + 30, x1, y1),
                "bottom": (x0, y0, x1, y1 - 30)}[side]
        assert window == want, (side, window)
        assert (out[rows.min():rows.max() + 1, cols.min():cols.max() + 1] == 200).all()
    assert seen == set(SIDES)  # the seed draws every side


def test_person_boxes_fill_frames_without_landmarks_from_the_nearest():
    xy = np.zeros((5, 33, 2))
    xy[:, :, 0] = np.linspace(100, 200, 33)
    xy[:, :, 1] = np.linspace(300, 500, 33)
    xy[3] += 50
    xy[[0, 4]] = np.nan
    boxes = person_boxes(xy)
    assert np.isfinite(boxes).all()
    np.testing.assert_allclose(boxes[0], boxes[1])
    np.testing.assert_allclose(boxes[4], boxes[3])
    assert boxes[1, 2] > 200  # the square holds the 200-px tall landmark spread with the engine's margin
    with pytest.raises(ValueError, match="no frame has landmarks"):
        person_boxes(np.full((3, 33, 2), np.nan))


def test_a_run_on_the_mirrored_video_is_scored_through_the_skeletons_mirror():
    from d3ke_edge.bench.reference import _predictions
    from d3ke_edge.skeleton.builtin import builtin_skeleton

    skel = builtin_skeleton()
    names = list(skel.coordinate_names)
    q = np.zeros(len(names))
    q[names.index("knee_angle_r")] = np.radians(60)
    q[names.index("hip_flexion_l")] = np.radians(20)
    q[names.index("hip_adduction_r")] = np.radians(10)
    frames = [{"status": "ok", "time": 0.1, "outputs": {"coordinates": q.tolist()}}]
    res = SimpleNamespace(skeleton=skel, tracked=frames)
    t, plain = _predictions(res, {"offset_frames": 3}, 60.0)
    assert t[0] == pytest.approx(0.05)
    assert plain["knee_angle_r"][0] == pytest.approx(60) and plain["knee_angle_l"][0] == pytest.approx(0)
    _, back = _predictions(res, {"offset_frames": 3}, 60.0, mirrored=True)
    # a right-knee flexion seen in a mirror is a left-knee flexion; adduction keeps its sign (OpenSim's left and
    # right coordinates are defined mirror-symmetrically)
    assert back["knee_angle_l"][0] == pytest.approx(60) and back["knee_angle_r"][0] == pytest.approx(0)
    assert back["hip_flexion_r"][0] == pytest.approx(20)
    if "hip_adduction_l" in back:
        assert back["hip_adduction_l"][0] == pytest.approx(10)
