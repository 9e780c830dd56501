"""The built-in full-body model: names, ranges, anthropometry, markers, .osim round trip."""

from __future__ import annotations

import numpy as np
import torch

from d3ke_edge.skeleton import ForwardKinematics, load_osim
from d3ke_edge.skeleton.builtin import REFERENCE_HEIGHT_M

RAJAGOPAL = [
    "pelvis_tilt", "pelvis_list", "pelvis_rotation", "pelvis_tx", "pelvis_ty", "pelvis_tz",
    *[f"{n}_{s}" for s in "rl" for n in ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle", "ankle_angle",
                                         "subtalar_angle", "mtp_angle")],
    "lumbar_extension", "lumbar_bending", "lumbar_rotation", "neck_flexion", "neck_bending", "neck_rotation",
    *[f"{n}_{s}" for s in "rl" for n in ("arm_flex", "arm_add", "arm_rot", "elbow_flex", "pro_sup", "wrist_flex",
                                         "wrist_dev")],
]
REQUIRED_MARKERS = {"ASIS_r", "ASIS_l", "PSIS_r", "PSIS_l", "knee_lat_r", "knee_med_r", "ankle_lat_l", "ankle_med_l",
                    "heel_r", "toe_l", "mt1_r", "mt5_l", "acromion_r", "elbow_lat_l", "elbow_med_r", "wrist_rad_r",
                    "wrist_uln_l", "C7", "sternum_jugular", "head_top"}


def test_coordinates_are_named_as_rajagopal_opencap(builtin):
    assert sorted(builtin.coordinate_names) == sorted(RAJAGOPAL)
    assert len(builtin.coordinates) == 40


def test_ranges_are_realistic(builtin):
    deg = {c.name: np.degrees(c.range) for c in builtin.coordinates if c.motion_type != "translational"}
    assert deg["knee_angle_r"][0] == 0 and 120 <= deg["knee_angle_r"][1] <= 160
    assert deg["hip_flexion_l"][1] >= 110 and deg["hip_flexion_l"][0] <= -20
    assert deg["elbow_flex_r"][0] == 0 and deg["elbow_flex_r"][1] >= 140
    assert -50 <= deg["ankle_angle_r"][0] < 0 < deg["ankle_angle_r"][1] <= 40
    for c in builtin.coordinates:
        assert c.range[0] <= c.default <= c.range[1]


def test_markers(builtin):
    assert len(builtin.markers) >= 40
    assert REQUIRED_MARKERS <= set(builtin.marker_names)


def test_standing_anthropometry(builtin):
    r = ForwardKinematics(builtin, torch.float64)(torch.as_tensor(builtin.defaults)[None])
    m = dict(zip(builtin.marker_names, r.markers[0].numpy()))
    j = dict(zip(builtin.joint_names, r.joint_centres[0].numpy()))
    assert abs(m["head_top"][1] - REFERENCE_HEIGHT_M) < 0.01
    feet = [m[n][1] for n in ("heel_r", "toe_r", "mt1_r", "mt5_r")]
    assert 0.0 <= min(feet) < 0.03  # standing on the floor
    assert abs(j["knee_r"][1] - 0.285 * REFERENCE_HEIGHT_M) < 0.01  # Winter: knee at 0.285 H
    assert abs(j["hip_r"][1] - 0.530 * REFERENCE_HEIGHT_M) < 0.01
    assert 0.24 < np.linalg.norm(m["toe_r"] - m["heel_r"]) + 0.02 < 0.30  # foot length ~0.152 H


def test_osim_round_trip_keeps_the_model(builtin, builtin_osim):
    again = load_osim(builtin_osim)
    assert again.hash == builtin.hash
    assert again.coordinate_names == builtin.coordinate_names and again.marker_names == builtin.marker_names
