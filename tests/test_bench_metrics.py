"""Benchmark metrics: groups, Procrustes, smoothness."""

from __future__ import annotations

import math

import torch

from d3ke_edge.bench.metrics import coordinate_groups, pa_mpjpe_mm, sequence_errors
from d3ke_edge.models.kinematic_space import KinematicSpace
from d3ke_edge.skeleton.builtin import builtin_skeleton
from d3ke_edge.skeleton.rotations import axis_angle_matrix, skew


def _space():
    return KinematicSpace(builtin_skeleton())


def test_every_predicted_rotational_coordinate_has_one_group():
    space = _space()
    groups = coordinate_groups(space)
    assert set(groups) == {"hips", "knees", "ankles_feet", "lumbar", "neck", "shoulders", "elbows_forearms", "wrists"}
    flat = [i for idx in groups.values() for i in idx]
    assert len(flat) == len(set(flat)) == 34


def test_pa_mpjpe_ignores_a_similarity_transform_but_not_a_deformation():
    g = torch.Generator().manual_seed(0)
    pts = torch.randn(5, 20, 3, generator=g)
    axis = torch.tensor([0.3, 0.5, 0.8]) / torch.tensor([0.3, 0.5, 0.8]).norm()
    k = torch.as_tensor(skew(axis.numpy()), dtype=torch.float32)
    rot = axis_angle_matrix(k, k @ k, torch.tensor(0.7))
    moved = 1.3 * pts @ rot.T + torch.tensor([0.1, -0.2, 0.5])
    assert pa_mpjpe_mm(moved, pts) < 1e-3
    bent = pts.clone()
    bent[:, 0] += 0.05
    assert pa_mpjpe_mm(bent, pts) > 1.0


def test_sequence_errors_are_zero_on_the_truth_and_per_group_on_an_offset():
    space = _space()
    q = torch.zeros(6, len(space.skeleton.coordinates))
    s = torch.ones(6, len(space.skeleton.body_names), 3)
    truth = {**space.decode(torch.tensor([1.0, 0, 0, 0, 1, 0]).expand(6, 6), space.encode_targets(q, s))}
    zero = sequence_errors(truth, truth, space)
    assert all(abs(v) < 1e-6 for v in zero.values()), zero
    pred = dict(truth)
    knee = [i for i, c in enumerate(space.skeleton.coordinates) if c.name.startswith("knee_")]
    coords = truth["coordinates"].clone()
    coords[:, knee] += math.radians(10.0)
    pred["coordinates"] = coords
    err = sequence_errors(pred, truth, space)
    assert abs(err["angle_knees_deg"] - 10.0) < 1e-4 and err["angle_hips_deg"] == 0.0
    assert abs(err["angle_mae_deg"] - 10.0 * 2 / 34) < 1e-4
