"""Per-frame models and temporal heads: bounded outputs, gradients, export capture, step == sequence."""

from __future__ import annotations

import pytest
import torch

from d3ke_edge.models import get_model, list_models
from d3ke_edge.models.kinematic_space import SCALE_RANGE
from d3ke_edge.models.registry import input_kind
from d3ke_edge.models.temporal import CentreFrameTransformer

PER_FRAME = [n for n in list_models("d3ke_*") if input_kind(n) == "image"]  # the image models (lift: test_lift)


def test_registry():
    assert {"d3ke_resnext50", "d3ke_mnv3_large", "d3ke_mnv3_small", "d3ke_effnet_b0", "d3ke_resnet18", "d3ke_mnv2"} <= set(PER_FRAME)
    assert {"tcn_causal", "gru_causal", "transformer_centre243"} <= set(list_models())
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        get_model("nope")


@pytest.mark.parametrize("name", PER_FRAME)
def test_outputs_are_bounded_and_consistent(name):
    torch.manual_seed(0)
    model = get_model(name, input_size=64).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64))
    space, skel = model.space, model.space.skeleton
    q = out["coordinates"]
    lo, hi = torch.as_tensor(skel.ranges[:, 0]).float(), torch.as_tensor(skel.ranges[:, 1]).float()
    assert torch.all(q >= lo - 1e-5) and torch.all(q <= hi + 1e-5)
    assert out["scales"].min() >= SCALE_RANGE[0] and out["scales"].max() <= SCALE_RANGE[1]
    rot = out["pelvis_rot_cam"]
    torch.testing.assert_close(rot @ rot.transpose(-1, -2), torch.eye(3).expand(2, 3, 3), atol=1e-5, rtol=0)
    assert out["markers_rel"].shape == (2, len(skel.markers), 3)
    assert torch.allclose(out["joints_rel"][:, 0], torch.zeros(2, 3), atol=1e-6)  # root-relative
    root = [skel.coordinate_names.index(n) for n in space.root_coordinates]
    assert torch.all(q[:, root] == 0)  # the root pose is the 6D rotation, not coordinates


def test_space_round_trip():
    model = get_model("d3ke_mnv3_small", input_size=64)
    space = model.space
    p = torch.rand(4, space.dim - 6) * 1.8 - 0.9
    back = space.encode_targets(space.coordinates(p), space.scales(p))
    torch.testing.assert_close(back, p, atol=1e-5, rtol=0)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = get_model("d3ke_mnv3_small", input_size=64).train()
    out = model(torch.rand(2, 3, 64, 64))
    (out["markers_rel"].square().sum() + out["coordinates"].square().sum()).backward()
    assert model.head.weight.grad.abs().sum() > 0
    dead = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not dead, dead[:5]
    dim = model.space.dim
    for name in ("tcn_causal", "gru_causal", "transformer_causal"):
        head = get_model(name, dim=dim)
        opt = torch.optim.SGD(head.parameters(), lr=0.1)
        x = torch.rand(2, 12, dim) * 1.8 - 0.9
        for _ in range(2):  # the output layer starts at zero (identity refinement); after one step all move
            opt.zero_grad()
            head(x).square().sum().backward()
            opt.step()
        dead = [n for n, p in head.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
        assert not dead, (name, dead)


@pytest.mark.parametrize("name,kwargs", [("tcn_causal", {}), ("tcn_causal", {"kernel": 2, "dilations": (1, 3, 9)}),
                                         ("gru_causal", {"hidden": 64}),
                                         ("transformer_causal", {"window": 6, "d_model": 16, "heads": 2}),
                                         ("transformer_causal", {"window": 50, "layers": 1})])
def test_step_equals_sequence_including_the_first_frames(name, kwargs):
    torch.manual_seed(1)
    dim = 20
    head = get_model(name, dim=dim, **kwargs).eval()
    for p in head.parameters():
        torch.nn.init.normal_(p, std=0.2)
    x = torch.rand(3, 40, dim) * 1.8 - 0.9
    with torch.no_grad():
        full = head(x)
        state = head.init_state(3)
        steps = []
        for t in range(x.shape[1]):
            y, *state = head.step(x[:, t], *state)
            steps.append(y)
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=0)
    # a reset (fresh state) after a sequence reproduces the first frames again
    with torch.no_grad():
        y0, *_ = head.step(x[:, 0], *head.init_state(3))
    torch.testing.assert_close(y0, full[:, 0], atol=1e-5, rtol=0)


def test_causal_transformer_sees_exactly_its_receptive_field():
    """Frame t's output depends on frames t-rf+1 .. t only: nothing later, nothing older than the window chain."""
    torch.manual_seed(3)
    head = get_model("transformer_causal", dim=10, window=4, d_model=16, heads=2, layers=2).eval()
    for p in head.parameters():
        torch.nn.init.normal_(p, std=0.2)
    x = torch.rand(2, 20, 10) * 1.8 - 0.9
    moved = x.clone()
    moved[:, 5] += 0.5
    with torch.no_grad():
        changed = (head(moved) - head(x)).abs().amax((0, 2)) > 0
    rf = head.receptive_field()
    assert rf == 2 * 3 + 1 and head.causal
    assert changed.tolist() == [5 <= t < 5 + rf for t in range(20)]
    assert len(head.state_shapes(1)) == 2 * 2 + 1 and head.state_shapes(1)[0] == (1, 2, 3, 8)
    with pytest.raises(ValueError, match="divisible"):
        get_model("transformer_causal", dim=10, d_model=10, heads=4)


def test_offline_transformer_is_non_causal_centre_frame():
    torch.manual_seed(2)
    head = CentreFrameTransformer(dim=10, window=9, d_model=16, heads=2, layers=1).eval()
    for p in head.out.parameters():
        torch.nn.init.normal_(p, std=0.2)
    x = torch.rand(2, 20, 10) * 1.8 - 0.9
    with torch.no_grad():
        full = head(x)
        torch.testing.assert_close(full[:, 10], head.forward_window(x[:, 6:15]), atol=1e-5, rtol=0)
        later = x.clone()
        later[:, 14] += 0.3  # a frame 4 steps in the future changes the centre frame's output
        assert not torch.allclose(head(later)[:, 10], full[:, 10])
    assert head.lookahead == 4 and not head.causal


def test_torch_export_captures_model_and_step():
    model = get_model("d3ke_mnv3_small", input_size=64).eval()
    ep = torch.export.export(model, (torch.rand(1, 3, 64, 64),))
    x = torch.rand(1, 3, 64, 64)
    for k, v in model(x).items():
        torch.testing.assert_close(ep.module()(x)[k], v, atol=1e-5, rtol=1e-4)
    for name in ("tcn_causal", "transformer_causal"):  # shift-register state and rolling key/value cache
        head = get_model(name, dim=model.space.dim).eval()
        for p in head.out.parameters():  # a non-identity refinement, so the step's arithmetic is compared
            torch.nn.init.normal_(p, std=0.1)

        class Step(torch.nn.Module):
            def __init__(self, head):
                super().__init__()
                self.head, self.space = head, model.space

            def forward(self, x, *state):
                y, *new = self.head.step(x, *state)
                out = self.space.decode_params(y)
                return (out["coordinates"], out["markers_rel"], *new)

        state = [torch.rand_like(s) for s in head.init_state(1)]  # any state, not only the reset one
        x = torch.rand(1, model.space.dim) * 1.8 - 0.9
        step = Step(head)
        ep = torch.export.export(step, (x, *state))
        for a, b in zip(ep.module()(x, *state), step(x, *state)):
            torch.testing.assert_close(a, b)


def test_the_parameter_layout_has_one_home():
    """rot6d first, then the bounded values: split/join invert each other on any axis, refine keeps the bounded part
    inside (-1, 1), and exported metadata states the same layout."""
    import torch

    from d3ke_edge.models.kinematic_space import KinematicSpace
    from d3ke_edge.skeleton.builtin import builtin_skeleton

    space = KinematicSpace(builtin_skeleton())
    params = torch.cat([torch.randn(4, 6), torch.rand(4, space.dim - 6) * 2 - 1], -1)
    rot6d, p = space.split(params)
    assert rot6d.shape == (4, 6) and p.shape == (4, space.dim - 6)
    assert torch.equal(space.join(rot6d, p), params)
    channels = params[:, :, None, None]  # a head's (B, D, h, w) map
    r, b = space.split(channels, dim=1)
    assert torch.equal(r[:, :, 0, 0], rot6d) and torch.equal(b[:, :, 0, 0], p)
    refined = space.refine(params, torch.full_like(params, 50.0))
    assert (refined[:, 6:].abs() <= 1).all() and torch.allclose(refined[:, :6], rot6d + 50.0)
    half = space.refine(torch.zeros(1, space.dim), torch.full((1, space.dim), 0.5))
    assert torch.allclose(half[:, 6:], torch.tanh(torch.tensor(0.5)).expand(1, space.dim - 6))
    dec = space.decode_params(params)
    assert torch.equal(dec["coordinates"], space.decode(rot6d, p)["coordinates"])
    layout = space.metadata()["param_layout"]
    assert layout["rot6d"] == KinematicSpace.ROT_DIM and sum(layout.values()) == space.dim
