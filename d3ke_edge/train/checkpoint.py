"""Checkpoints: written atomically, carrying the model's name and arguments, optimiser, step and RNG states; a
per-frame checkpoint with the causal heads trained on it (``Bundle``) and the frame rate those heads learnt."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..models.registry import get_model
from ..utils.atomic import atomic_path
from .config import DataConfig

__all__ = ["save_checkpoint", "load_checkpoint", "model_from_checkpoint", "CheckpointError", "FORMAT", "Bundle",
           "load_bundle", "head_frame_rate"]

FORMAT = "d3ke-edge-checkpoint"


class CheckpointError(ValueError):
    """A file that is not a d3ke-edge checkpoint (or an incompatible one)."""


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, **content) -> Path:
    """torch.save to a temporary file, then rename: a crash never leaves a truncated checkpoint."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "version": 1, "rng": rng_state(), **content}, tmp)
    return Path(path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        raise CheckpointError(f"'{path}' is not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is not a d3ke-edge checkpoint (no '{FORMAT}' marker); "
                              "train one with `d3ke-edge train`")
    return ckpt


def model_from_checkpoint(ckpt: dict | str | Path, map_location: str = "cpu") -> torch.nn.Module:
    """Rebuild the model a checkpoint was trained as (registry name + arguments) and load its weights."""
    if not isinstance(ckpt, dict):
        ckpt = load_checkpoint(ckpt, map_location)
    model = get_model(ckpt["model_name"], **ckpt["model_kwargs"])
    model.load_state_dict(ckpt["model"])
    return model.eval()


@dataclass
class Bundle:
    """A per-frame checkpoint, its model and the causal temporal heads trained on it (by head name)."""

    checkpoint: Path
    ckpt: dict
    model: torch.nn.Module
    heads: dict[str, torch.nn.Module] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.ckpt["model_name"]


def load_bundle(checkpoint: str | Path, ckpt: dict | None = None) -> Bundle:
    """Load a per-frame checkpoint (``ckpt``: its content, when the caller has read it already) and every
    ``temporal_<head>.pt`` beside it that was trained on it."""
    path = Path(checkpoint)
    ckpt = load_checkpoint(path) if ckpt is None else ckpt
    if ckpt.get("kind") != "per_frame":
        raise CheckpointError(f"'{path}' is a {ckpt.get('kind')} checkpoint; give the per-frame checkpoint "
                              "(e.g. checkpoint_best.pt): its temporal heads are picked up from the same folder")
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


def head_frame_rate(bundle: Bundle) -> float:
    """The frame rate the checkpoint's data (and so its temporal heads) ran at."""
    return float(bundle.ckpt["config"]["data"].get("fps", DataConfig.fps))
