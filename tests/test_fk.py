"""The FK layer itself: dtypes, batch shapes, gradients, torch.export capture, scaling semantics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from d3ke_edge.skeleton import ForwardKinematics, load_osim
from d3ke_edge.skeleton.opensim_ref import sample_poses, sample_scales


@pytest.fixture(scope="module")
def poses(builtin):
    rng = np.random.default_rng(0)
    return torch.as_tensor(sample_poses(builtin, 6, rng)), torch.as_tensor(sample_scales(builtin, 6, rng))


def test_float32_agrees_with_float64(builtin, poses):
    q, s = poses
    f64 = ForwardKinematics(builtin, torch.float64)(q, s)
    f32 = ForwardKinematics(builtin)(q.float(), s.float())
    assert f32.markers.dtype == torch.float32
    torch.testing.assert_close(f32.markers.double(), f64.markers, atol=2e-6, rtol=0)


def test_batch_and_time_dims(builtin, poses):
    q, s = poses
    fk = ForwardKinematics(builtin, torch.float64)
    flat = fk(q, s)
    seq = fk(q.reshape(2, 3, -1), s.reshape(2, 3, *s.shape[1:]))
    assert seq.markers.shape == (2, 3, len(builtin.markers), 3)
    assert seq.body_rotations.shape == (2, 3, len(builtin.bodies), 3, 3)
    torch.testing.assert_close(seq.markers.reshape(6, -1, 3), flat.markers)


def test_rotations_are_proper(builtin, poses):
    q, s = poses
    rot = ForwardKinematics(builtin, torch.float64)(q, s).body_rotations
    eye = torch.eye(3, dtype=torch.float64).expand_as(rot)
    torch.testing.assert_close(rot @ rot.transpose(-1, -2), eye, atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.linalg.det(rot), torch.ones(rot.shape[:-2], dtype=torch.float64))


def test_gradients_are_correct(pose2sim_model):
    skel = load_osim(pose2sim_model)
    fk = ForwardKinematics(skel, torch.float64)
    rng = np.random.default_rng(1)
    q = torch.as_tensor(sample_poses(skel, 2, rng)).requires_grad_()
    s = torch.as_tensor(sample_scales(skel, 2, rng)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: fk(a, b).body_origins, (q, s))


def test_every_coordinate_and_scale_moves_a_marker(builtin, poses):
    q, s = poses
    fk = ForwardKinematics(builtin, torch.float64)
    jq, js = torch.autograd.functional.jacobian(lambda a, b: fk(a, b).markers, (q[:1], s[:1]))
    assert (jq.abs().sum(dim=(0, 1, 2, 3)) > 1e-6).all()  # (1, M, 3, 1, n) -> per coordinate
    assert (js.abs().sum(dim=(0, 1, 2, 3, 5)) > 1e-6).all()  # per body


def test_torch_export_captures_fk(builtin, poses):
    q, s = poses

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fk = ForwardKinematics(builtin)

        def forward(self, q, s):
            r = self.fk(q, s)
            return r.markers, r.joint_centres

    model = Wrap()
    ep = torch.export.export(model, (q.float(), s.float()))
    q2, s2 = q.flip(0).float(), s.flip(0).float()
    for a, b in zip(ep.module()(q2, s2), model(q2, s2)):
        torch.testing.assert_close(a, b)


def test_unit_scales_equal_no_scales(builtin, poses):
    q, _ = poses
    fk = ForwardKinematics(builtin, torch.float64)
    torch.testing.assert_close(fk(q).markers, fk(q, torch.ones(6, len(builtin.bodies), 3, dtype=torch.float64)).markers)


def test_wrong_coordinate_count_is_rejected(builtin):
    with pytest.raises(ValueError, match="expected 40 coordinates"):
        ForwardKinematics(builtin)(torch.zeros(2, 39))


def test_uniform_scale_scales_the_whole_body(builtin):
    fk = ForwardKinematics(builtin, torch.float64)
    q = torch.as_tensor(builtin.defaults)[None].clone()  # the session skeleton's cached defaults stay untouched
    q[0, builtin.coordinate_names.index("pelvis_ty")] = 0.0  # keep the root at the origin
    base = fk(q).markers
    big = fk(q, torch.full((1, len(builtin.bodies), 3), 1.1, dtype=torch.float64)).markers
    torch.testing.assert_close(big, 1.1 * base)
