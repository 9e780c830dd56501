"""Phone-candidate backbones converted for the latency sweep: a registered model (random weights, or a
checkpoint's) at one size and format, converted once and cached (``bench latency`` times what this writes)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch

from ..artefacts import EXTENSIONS
from ..data.datasets import image_to_float
from ..data.synth import SynthConfig, SynthEngine
from ..models import get_model
from ..models.graphs import PER_FRAME_OUTPUTS, PerFrameGraph
from ..quantize import QuantPlan
from ..train.checkpoint import load_checkpoint, model_from_checkpoint
from .metadata import per_frame_metadata
from .targets import target_module

__all__ = ["sweep_artefact"]


def _calibration(size: int, frames: int = 16) -> list[tuple]:
    """Rendered synthetic crops for int8 activation ranges (timing needs a realistic range, not trained weights)."""
    engine = SynthEngine(SynthConfig(size=size, seconds=frames / 30))
    seq = engine.sequences([12345], as_numpy=False)[0]
    return [(image_to_float(img)[None],) for img in seq["image"][:frames]] or [(torch.rand(1, 3, size, size),)]


def sweep_artefact(model: str, size: int, fmt: str, cache: Path, say: Callable[[str], object] = print,
                   checkpoint: str | None = None) -> Path:
    """Convert a registered model (random weights, seed 0, or a checkpoint's) at ``size`` px to ``fmt`` once;
    later calls return the cached file."""
    target, precision = fmt.split("_")
    tag = "ckpt" if checkpoint else "random"
    path = cache / f"{model}_{size}_{tag}_{precision}{EXTENSIONS[target]}"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    say(f"converting {model} at {size} px to {target} {precision} (once; cached in {cache})")
    if checkpoint:
        net = model_from_checkpoint(load_checkpoint(checkpoint))
        net.input_size = size
    else:
        torch.manual_seed(0)
        net = get_model(model, input_size=size)
    graph = PerFrameGraph(net.eval()).eval()
    example = (torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)),)
    with torch.no_grad():
        example_out = graph(*example)
    meta = per_frame_metadata(net, size, precision, target, example[0], example_out)
    meta["weights"] = f"checkpoint {checkpoint}" if checkpoint else "random (seed 0): for latency only"
    plan = QuantPlan(_calibration(size), ()) if precision == "int8" else None
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    target_module(target).convert(graph, example, ["image"], list(PER_FRAME_OUTPUTS), tmp, precision, plan, meta)
    os.replace(tmp, path)
    return path
