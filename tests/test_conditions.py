"""Test-time condition kernels: severity 0 is clean, labels follow the pixels, severity grows the change."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from d3ke_edge.data.conditions import CONDITIONS, STUDY_CONDITIONS, apply_condition
from d3ke_edge.data.datasets import sequence_to_batch
from d3ke_edge.data.synth import SynthConfig, SynthEngine
from d3ke_edge.skeleton.builtin import builtin_skeleton
from d3ke_edge.skeleton.mirror import derive_mirror

ALL = ("hflip", *CONDITIONS)


@pytest.fixture(scope="module")
def seq():
    engine = SynthEngine(SynthConfig(size=96, seconds=0.2))
    return sequence_to_batch(engine.sequence(7, as_numpy=False))


@pytest.fixture(scope="module")
def mirror():
    return derive_mirror(builtin_skeleton())


def _project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    uvw = points @ K.transpose(-1, -2)
    return uvw[..., :2] / uvw[..., 2:]


def test_the_study_conditions_and_the_rest_are_registered():
    assert set(STUDY_CONDITIONS) <= set(ALL) and len(ALL) == 13
    assert all(len(c.levels) == 5 for c in CONDITIONS.values())


@pytest.mark.parametrize("name", ALL)
def test_severity_zero_is_clean_and_the_call_is_deterministic(seq, mirror, name):
    clean = apply_condition(seq, name, 0, mirror)
    assert all(torch.equal(clean[k], seq[k]) for k in seq)
    a = apply_condition(seq, name, 1, mirror, seed=3)
    b = apply_condition(seq, name, 1, mirror, seed=3)
    assert all(torch.equal(a[k], b[k]) for k in seq)
    assert a["image"].shape == seq["image"].shape and 0 <= a["image"].min() and a["image"].max() <= 1
    assert not torch.equal(a["image"], seq["image"])


@pytest.mark.parametrize("name", [n for n in CONDITIONS if n not in ("rotation", "crop")])
def test_the_image_changes_more_with_severity(seq, name):
    change = [float((apply_condition(seq, name, s, seed=1)["image"] - seq["image"]).abs().mean()) for s in range(6)]
    assert change[0] == 0 and all(b > a for a, b in zip(change, change[1:])), change


@pytest.mark.parametrize("name", ["crop", "rotation"])
def test_geometric_conditions_move_the_labels_with_the_pixels(seq, name):
    """After the kernel, the camera-frame markers projected with the (new) intrinsics land on the (new) 2D labels."""
    for severity in (1, 5):
        out = apply_condition(seq, name, severity, seed=severity)
        got = _project(out["markers_cam"], out["K"])
        err = (got - out["markers_2d"]).norm(dim=-1)
        assert float(err.max()) < 1e-3 * seq["image"].shape[-1], (name, severity, float(err.max()))
    before = _project(seq["markers_cam"], seq["K"])
    assert float((before - seq["markers_2d"]).norm(dim=-1).max()) < 0.1  # the engine's own labels are exact


def test_rotation_turns_the_body_and_keeps_bone_lengths(seq):
    out = apply_condition(seq, "rotation", 4, seed=0)
    bone = lambda x: (x[..., 1:, :] - x[..., :-1, :]).norm(dim=-1)  # noqa: E731
    torch.testing.assert_close(bone(out["joints_rel"]), bone(seq["joints_rel"]), atol=1e-5, rtol=0)
    det = torch.linalg.det(out["pelvis_rot_cam"])
    torch.testing.assert_close(det, torch.ones_like(det), atol=1e-5, rtol=0)
    # the image turned the same way as the labels: the rendered body's centre of mass moves with the 2D labels
    assert not torch.allclose(out["pelvis_rot_cam"], seq["pelvis_rot_cam"])


def test_crop_cuts_part_of_the_body_out_of_the_frame(seq):
    out = apply_condition(seq, "crop", 5, seed=0)
    assert float(out["markers_in_crop"].float().mean()) < float(seq["markers_in_crop"].float().mean())


def test_hflip_mirrors_the_truth_and_twice_is_identity(seq, mirror):
    once = apply_condition(seq, "hflip", 1, mirror)
    twice = apply_condition(once, "hflip", 1, mirror)
    for k in ("image", "coordinates", "markers_rel", "pelvis_rot_cam", "markers_2d"):
        torch.testing.assert_close(twice[k], seq[k], atol=1e-5, rtol=0)
    # the mirrored truth projects onto the flipped pixels' labels
    err = (_project(once["markers_cam"], once["K"]) - once["markers_2d"]).norm(dim=-1)
    assert float(err.max()) < 0.1


def test_bad_names_and_severities_name_the_choices(seq, mirror):
    with pytest.raises(ValueError, match="unknown condition 'fog'; choose from hflip, resize"):
        apply_condition(seq, "fog", 1)
    with pytest.raises(ValueError, match="severity of jpeg must be 0-5"):
        apply_condition(seq, "jpeg", 6)
    with pytest.raises(ValueError, match="mirror map"):
        apply_condition(seq, "hflip", 1)
    with pytest.raises(ValueError, match="one severity"):
        apply_condition(seq, "hflip", 2, mirror)


def test_rotation_direction_matches_torchvision(seq):
    """A bright dot at a labelled pixel ends up where the rotated label says."""
    size = seq["image"].shape[-1]
    img = torch.zeros(1, 3, size, size)
    u, v = 70, 30
    img[..., v - 1 : v + 2, u - 1 : u + 2] = 1.0
    sample = {"image": img, "markers_2d": torch.tensor([[[u + 0.5, v + 0.5]]])}
    out = apply_condition(sample, "rotation", 5, seed=0)
    ys, xs = np.nonzero(out["image"][0, 0].numpy() > 0.3)
    centre = np.array([xs.mean() + 0.5, ys.mean() + 0.5])
    assert np.linalg.norm(centre - out["markers_2d"][0, 0].numpy()) < 1.5


def test_training_augmentation_uses_the_benchmark_kernels_per_frame():
    """``augment_batch``: p=0 is the identity; p=1 changes every frame with its own draw, labels follow the kernel
    (a flipped frame carries the mirrored truth); the same seed gives the same batch; bad configs are named."""
    import pytest
    import torch

    from d3ke_edge.data.conditions import apply_condition, augment_batch
    from d3ke_edge.data.datasets import sequence_to_batch
    from d3ke_edge.data.synth import SynthConfig, SynthEngine
    from d3ke_edge.skeleton.builtin import builtin_skeleton
    from d3ke_edge.skeleton.mirror import derive_mirror
    from d3ke_edge.train.config import DataConfig

    batch = sequence_to_batch(SynthEngine(SynthConfig(size=48, seconds=0.2)).sequences([7], as_numpy=False)[0])
    mirror = derive_mirror(builtin_skeleton())
    same = augment_batch(batch, ("brightness",), 0.0, 3, None, seed=1)
    assert torch.equal(same["image"], batch["image"])
    flipped = augment_batch(batch, ("hflip",), 1.0, 3, mirror, seed=1)
    reference = apply_condition({k: v[:1] for k, v in batch.items() if torch.is_tensor(v)}, "hflip", 1, mirror)
    for key in ("image", "coordinates", "markers_rel", "pelvis_rot_cam", "markers_2d"):
        assert torch.allclose(flipped[key][0], reference[key][0].to(flipped[key].dtype)), key
    mixed = augment_batch(batch, ("brightness", "crop", "defocus_blur"), 1.0, 3, None, seed=2)
    changed = (mixed["image"] - batch["image"]).abs().flatten(1).amax(1)
    assert (changed > 1e-3).all()
    again = augment_batch(batch, ("brightness", "crop", "defocus_blur"), 1.0, 3, None, seed=2)
    assert torch.equal(again["image"], mixed["image"]) and torch.equal(again["K"], mixed["K"])
    assert not torch.equal(augment_batch(batch, ("crop",), 1.0, 3, None, seed=3)["K"], batch["K"])
    with pytest.raises(ValueError, match=r"unknown condition\(s\) \['fog'\]; choose from hflip, resize"):
        DataConfig(augment=("fog",))
    with pytest.raises(ValueError, match="augment_p must be within 0-1"):
        DataConfig(augment=("crop",), augment_p=1.5)


def test_training_batches_apply_the_configured_augmentation():
    import torch

    from d3ke_edge.train.config import DataConfig
    from d3ke_edge.train.data import StepBatches

    plain = next(iter(StepBatches(DataConfig(pool=1, sequence_seconds=0.2), 48, 4, 0, 0, 1)))[1]
    aug = next(iter(StepBatches(DataConfig(pool=1, sequence_seconds=0.2, augment=("hflip",), augment_p=1.0), 48, 4,
                                0, 0, 1)))[1]
    assert torch.allclose(aug["image"], plain["image"].flip(-1))
    assert not torch.allclose(aug["markers_rel"], plain["markers_rel"])
