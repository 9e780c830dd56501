"""The per-frame D3KE model: RGB crop -> backbone -> 1x1 conv head -> bounded kinematic space -> FK.

As in D3KE: per-pixel sigmoid on the scale and coordinate channels, spatial average, x2-1 and a linear map to the
skeleton's ranges (every output bounded, which quantises well); the 6D rotation channels are averaged raw.
ImageNet normalisation happens inside the model, so callers feed RGB in [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from ..skeleton.builtin import builtin_skeleton
from ..skeleton.model import Skeleton
from .backbones import build_backbone
from .inputs import IMAGE, InputSpec
from .kinematic_space import KinematicSpace
from .registry import register_model

__all__ = ["D3KE", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class D3KE(nn.Module):

    def __init__(self, backbone: str, skeleton: Skeleton | None = None, input_size: int = 256,
                 backbone_weights: str | None = None):
        super().__init__()
        self.backbone_name, self.input_size = backbone, input_size
        self.space = KinematicSpace(skeleton or builtin_skeleton())
        self.backbone, channels = build_backbone(backbone, backbone_weights)
        self.head = nn.Conv2d(channels, self.space.dim, kernel_size=1)
        self.feature_dim = channels
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def input_spec(self) -> InputSpec:
        """An RGB crop of ``input_size`` px."""
        return InputSpec(IMAGE, self.input_size)

    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) in [0, 1] -> rot6d (B, 6), p (B, D-6) in (-1, 1), pooled features (B, C)."""
        feat = self.backbone((image - self.mean) / self.std)  # (B, C, h, w)
        out = self.head(feat)  # (B, D, h, w)
        rot, bounded = self.space.split(out, dim=1)  # channels in the parameter layout
        rot6d = rot.mean((2, 3))
        p = torch.sigmoid(bounded).mean((2, 3)) * 2.0 - 1.0
        return rot6d, p, feat.mean((2, 3))

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        rot6d, p, _ = self.encode(image)
        out = self.space.decode(rot6d, p)
        out.update(rot6d=rot6d, params=p)
        return out

    def config(self) -> dict:
        """Constructor arguments, stored in checkpoints so a model is rebuilt from its file alone."""
        return {"backbone": self.backbone_name, "input_size": self.input_size}

    def metadata(self) -> dict:
        return {**self.config(), "normalisation": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                                                   "input_range": [0.0, 1.0], "layout": "NCHW RGB"},
                **self.space.metadata()}


def _builder(backbone: str, default_size: int):
    def build(input_size: int = default_size, skeleton: Skeleton | None = None, backbone_weights: str | None = None):
        return D3KE(backbone, skeleton, input_size, backbone_weights)

    return build


# The server baseline (D3KE's own) and the edge candidates.
for _name, _backbone, _size in (
    ("d3ke_resnext50", "resnext50_32x4d", 256),
    ("d3ke_resnet18", "resnet18", 224),
    ("d3ke_mnv2", "mobilenet_v2", 224),
    ("d3ke_mnv3_large", "mobilenet_v3_large", 224),
    ("d3ke_mnv3_small", "mobilenet_v3_small", 192),
    ("d3ke_effnet_b0", "efficientnet_b0", 224),
):
    register_model(_name, input=IMAGE)(_builder(_backbone, _size))
