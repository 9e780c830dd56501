"""What an export starts from: the per-frame model of a checkpoint and the causal temporal heads trained on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..train.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint

__all__ = ["Bundle", "load_bundle"]


@dataclass
class Bundle:
    checkpoint: Path
    ckpt: dict
    model: torch.nn.Module
    heads: dict[str, torch.nn.Module] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.ckpt["model_name"]


def load_bundle(checkpoint: str | Path) -> Bundle:
    """Load a per-frame checkpoint and every ``temporal_<head>.pt`` beside it that was trained on it."""
    path = Path(checkpoint)
    ckpt = load_checkpoint(path)
    if ckpt.get("kind") != "per_frame":
        raise CheckpointError(f"'{path}' is a {ckpt.get('kind')} checkpoint; export takes the per-frame checkpoint "
                              "(e.g. checkpoint_best.pt); its temporal heads are picked up from the same folder")
    model = model_from_checkpoint(ckpt)
    heads = {}
    for p in sorted(path.parent.glob("temporal_*.pt")):
        h = load_checkpoint(p)
        if h.get("kind") != "temporal" or Path(h.get("per_frame", "")).name != path.name:
            continue
        head = model_from_checkpoint(h)
        if getattr(head, "causal", False):
            heads[h["model_name"]] = head.eval()
    return Bundle(path, ckpt, model.eval(), heads)
