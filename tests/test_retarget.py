"""Retargeting onto our skeleton: the FK fit recovers a known motion from its joint centres, and DeepMimic clips are
read into joint centres (the rest pose exactly; bad files named)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from d3ke_edge.skeleton.builtin import builtin_skeleton
from d3ke_edge.skeleton.fk import ForwardKinematics

DEEPMIMIC = Path(__file__).resolve().parents[2] / "shared" / "data" / "motions" / "deepmimic"
JOINTS = ("hip_r", "knee_r", "ankle_r", "hip_l", "knee_l", "ankle_l", "shoulder_r", "elbow_r", "wrist_r",
          "shoulder_l", "elbow_l", "wrist_l")


def test_the_fit_recovers_a_known_walk_from_its_joint_centres():
    """Our own walk (1 s) on a body 8 % larger, turned 60 deg, seen only through 12 joint centres: the fit finds the
    scale, the knees and hips within a few degrees, the joints within millimetres. Two clips at once keep their own
    scales."""
    from d3ke_edge.data.motion import walking
    from d3ke_edge.data.retarget import fit_joint_centres

    skel = builtin_skeleton()
    cn, jn = skel.coordinate_names, [j.name for j in skel.joints]
    q = walking(skel, seconds=1.0)
    q[:, cn.index("pelvis_rotation")] += np.radians(60)
    fk = ForwardKinematics(skel, dtype=torch.float64)
    T = len(q)
    targets = {}
    for k, scale in enumerate((1.08, 0.95)):
        jc = fk(torch.from_numpy(q), torch.full((T, len(skel.bodies), 3), scale, dtype=torch.float64)).joint_centres
        for n in JOINTS:
            targets.setdefault(n, []).append(jc[:, jn.index(n)].numpy())
    targets = {n: np.concatenate(v) for n, v in targets.items()}
    clip = np.repeat([0, 1], T)
    fit = fit_joint_centres(skel, targets, clip, iterations=300)
    for k in (0, 1):
        assert fit.clip_error(clip == k)["median_mm"] < 6.0
    assert np.median(fit.scales[0, :, 0]) == pytest.approx(1.08, abs=0.03)
    assert np.median(fit.scales[1, :, 0]) == pytest.approx(0.95, abs=0.03)
    for c in ("knee_angle_r", "knee_angle_l"):
        assert np.median(np.degrees(np.abs(fit.q[:T, cn.index(c)] - q[:, cn.index(c)]))) < 4.0, c
    # hip centres do not fix the pelvis' tilt (the lumbar joint can take it): hip flexion may carry an offset, its
    # motion must be right (measured offset 4.6 deg, bias-removed error < 1)
    for c in ("hip_flexion_r", "hip_flexion_l"):
        d = np.degrees(fit.q[:T, cn.index(c)] - q[:, cn.index(c)])
        assert abs(np.median(d)) < 8.0 and np.median(np.abs(d - np.median(d))) < 2.0, c
    with pytest.raises(ValueError, match="hip_r and hip_l"):
        fit_joint_centres(skel, {"knee_r": targets["knee_r"]})


def _character(folder: Path) -> None:
    joints = [("root", "none", -1, (0, 0, 0)), ("chest", "spherical", 0, (0, 0.24, 0)),
              ("right_hip", "spherical", 0, (0, 0, 0.085)), ("right_knee", "revolute", 2, (0, -0.42, 0))]
    (folder / "character_humanoid3d.txt").write_text(json.dumps({"Skeleton": {"Joints": [
        {"ID": k, "Name": n, "Type": t, "Parent": p, "AttachX": a[0], "AttachY": a[1], "AttachZ": a[2],
         "AttachThetaX": 0, "AttachThetaY": 0, "AttachThetaZ": 0} for k, (n, t, p, a) in enumerate(joints)]}}))


def test_deepmimic_clips_become_joint_centres(tmp_path):
    from d3ke_edge.data.deepmimic import DeepMimicError, read_deepmimic

    _character(tmp_path)
    turn = [np.cos(np.pi / 4), 0, np.sin(np.pi / 4), 0]  # the root turned 90 deg about y
    frames = [[0.5, 0, 0.9, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0.0],
              [0.5, 1, 0.9, 0, *turn, 1, 0, 0, 0, 1, 0, 0, 0, np.pi / 2]]  # and the knee bent 90 deg
    (tmp_path / "clip.txt").write_text(json.dumps({"Loop": "none", "Frames": frames}))
    time, j = read_deepmimic(tmp_path / "clip.txt")
    assert np.allclose(time, [0, 0.5])
    assert np.allclose(j["right_hip"][0], [0, 0.9, 0.085]) and np.allclose(j["right_knee"][0], [0, 0.48, 0.085])
    # turned: the hip's +z offset now points along +x; the knee hangs below it
    assert np.allclose(j["right_hip"][1], [1.085, 0.9, 0], atol=1e-9)
    assert np.allclose(j["right_knee"][1], [1.085, 0.48, 0], atol=1e-9)
    (tmp_path / "short.txt").write_text(json.dumps({"Frames": [[0.1, 0, 0]] * 3}))
    with pytest.raises(DeepMimicError, match="frames of 17 values"):
        read_deepmimic(tmp_path / "short.txt")
    (tmp_path / "broken.txt").write_text('{"Frames": [[0.1, ')
    with pytest.raises(DeepMimicError, match="not a DeepMimic clip"):
        read_deepmimic(tmp_path / "broken.txt")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "clip.txt").write_text(json.dumps({"Frames": frames}))
    with pytest.raises(DeepMimicError, match="character file"):
        read_deepmimic(other / "clip.txt")


def test_the_deepmimic_walk_and_a_backflip_through_the_bank(tmp_path):
    """The bank retargets DeepMimic clips in one fit: the walk within a few mm (measured 1.4 mm median), the
    backflip refused (its pelvis turns past the skeleton's tilt range: p90 ~120 mm)."""
    from d3ke_edge.data.motion_bank import BankConfig, import_bank

    if not DEEPMIMIC.is_dir():
        pytest.skip("the shared DeepMimic clips are absent (../shared/data/motions/deepmimic)")
    files = [DEEPMIMIC / f"humanoid3d_{n}.txt" for n in ("walk", "jog", "backflip")]
    m = import_bank(files, tmp_path / "bank", builtin_skeleton(), BankConfig(fit_iterations=400), say=lambda s: None)
    clips = {Path(c["path"]).stem: c for c in m["clips"]}
    assert clips["humanoid3d_walk"]["fit_error_mm"] < 6.0 and clips["humanoid3d_jog"]["fit_error_mm"] < 8.0
    assert clips["humanoid3d_walk"]["source"] == "deepmimic" and "MIT" in clips["humanoid3d_walk"]["licence"]
    assert "p90" in clips["humanoid3d_backflip"]["refused"]
    walk = np.load(tmp_path / "bank" / "clips" / f"{clips['humanoid3d_walk']['id']}.npz")
    knee = np.degrees(walk["q"][:, builtin_skeleton().coordinate_names.index("knee_angle_r")])
    assert 50 < knee.max() < 85 and knee.min() < 20  # a walk's swing and stance
