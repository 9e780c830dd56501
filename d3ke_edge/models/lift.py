"""The landmark model: BlazePose's 33 landmarks of a frame -> the same bounded kinematic space and FK as the image
models (``d3ke_lift_*``), so losses, metrics, temporal heads, export, runtimes and metadata are shared, not copied.

A residual MLP (Martinez et al. 2017's lifting network, without BatchNorm or dropout: nothing to recalibrate, and
plain Linear+ReLU converts and quantises on every target). The interface mirrors ``D3KE``'s on purpose: ``backbone``
(the trunk, whose top-level blocks the int8 sensitivity pass ranks), ``head``, ``mean``/``std`` (here the identity:
the input features are already normalised, see ``data.landmark_input``), ``encode`` -> (rot6d, p, features).
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.landmark_input import FEATURES, FEATURES_WORLD, input_layout
from ..skeleton.builtin import builtin_skeleton
from ..skeleton.model import Skeleton
from .inputs import LANDMARKS, InputSpec
from .kinematic_space import KinematicSpace
from .registry import register_model

__all__ = ["D3KELift", "ResidualBlock"]


class ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.relu(self.fc2(torch.relu(self.fc1(x))))


class D3KELift(nn.Module):

    def __init__(self, width: int = 512, blocks: int = 2, skeleton: Skeleton | None = None, world: bool = False,
                 input_size: int | None = None):
        super().__init__()
        n = FEATURES_WORLD if world else FEATURES
        if input_size not in (None, n):
            raise ValueError(f"the landmark model{' with world landmarks' if world else ''} takes {n} input features, "
                             f"not {input_size}")
        self.width, self.blocks, self.world, self.input_size = width, blocks, world, n
        self.space = KinematicSpace(skeleton or builtin_skeleton())
        self.backbone = nn.Sequential(nn.Sequential(nn.Linear(n, width), nn.ReLU()),
                                      *(ResidualBlock(width) for _ in range(blocks)))
        self.head = nn.Linear(width, self.space.dim)
        self.feature_dim = width
        self.register_buffer("mean", torch.zeros(1, n), persistent=False)
        self.register_buffer("std", torch.ones(1, n), persistent=False)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, 135 or 234) features -> rot6d (B, 6), p (B, D-6) in (-1, 1), trunk features (B, width)."""
        feat = self.backbone((x - self.mean) / self.std)
        rot6d, bounded = self.space.split(self.head(feat))
        return rot6d, torch.sigmoid(bounded) * 2.0 - 1.0, feat

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        rot6d, p, _ = self.encode(x)
        out = self.space.decode(rot6d, p)
        out.update(rot6d=rot6d, params=p)
        return out

    @property
    def input_spec(self) -> InputSpec:
        """BlazePose's landmarks as features (and its world landmarks, with ``world``)."""
        return InputSpec(LANDMARKS, self.input_size, self.world)

    def config(self) -> dict:
        return {"width": self.width, "blocks": self.blocks, "world": self.world, "input_size": self.input_size}

    def metadata(self) -> dict:
        return {**self.config(), "input": input_layout(self.world), **self.space.metadata()}


def _builder(width: int, blocks: int):
    def build(width: int = width, blocks: int = blocks, skeleton: Skeleton | None = None, world: bool = False,
              input_size: int | None = None) -> D3KELift:
        return D3KELift(width, blocks, skeleton, world, input_size)

    return build


for _name, _width, _blocks in (("d3ke_lift_mlp", 512, 2), ("d3ke_lift_mlp_large", 1024, 4)):
    register_model(_name, input=LANDMARKS)(_builder(_width, _blocks))
