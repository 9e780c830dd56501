"""Per-frame CNN backbones from torchvision, fully convolutional (no pooling/classifier): image -> (B, C, h, w).

Weights: torchvision's ImageNet weights cannot be downloaded here, so backbones start random unless a local
torchvision state_dict file is given (``weights=path``). Hard-swish backbones (MobileNetV3) run in float islands
under int8 XNNPACK (stack.md: 16 ms int8 vs 8 ms fp32), which the export issue measures; they stay available.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torchvision

__all__ = ["BACKBONES", "build_backbone"]

# name -> (torchvision constructor name, output channels)
BACKBONES: dict[str, tuple[str, int]] = {
    "resnext50_32x4d": ("resnext50_32x4d", 2048),
    "resnet18": ("resnet18", 512),
    "mobilenet_v2": ("mobilenet_v2", 1280),
    "mobilenet_v3_large": ("mobilenet_v3_large", 960),
    "mobilenet_v3_small": ("mobilenet_v3_small", 576),
    "efficientnet_b0": ("efficientnet_b0", 1280),
}


def build_backbone(name: str, weights: str | Path | None = None) -> tuple[nn.Module, int]:
    """(feature extractor, channels). ``weights``: a local torchvision classification state_dict."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone '{name}'; choose from {sorted(BACKBONES)}")
    ctor, channels = BACKBONES[name]
    net = getattr(torchvision.models, ctor)(weights=None)
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"backbone weights '{path}' do not exist")
        missing, unexpected = net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=False)
        if unexpected or any(not k.startswith(("fc.", "classifier.")) for k in missing):
            raise ValueError(f"'{path}' is not a torchvision {ctor} state_dict (missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]})")
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            # torchvision builds MobileNetV3 with momentum 0.01, tuned for ImageNet-length runs: after a few hundred
            # steps its running statistics are still near their initial values and eval-mode outputs are garbage.
            m.momentum = 0.1
    if hasattr(net, "features"):  # MobileNet / EfficientNet
        return net.features, channels
    return nn.Sequential(*list(net.children())[:-2]), channels  # ResNet / ResNeXt without avgpool and fc
