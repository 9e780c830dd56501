"""End-to-end temporal training: the per-frame network and one causal head trained jointly on clips.

The alternative to D3KE's two-stage scheme (temporal head on frozen per-frame outputs): gradients of the
refined outputs reach the backbone. Each step draws clips of consecutive frames (``temporal.clip`` long) from
the on-the-fly renderer; the loss is the D3KE loss on the refined outputs plus the same loss on the per-frame
outputs (so the per-frame model stays usable on its own).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from ..models.registry import get_model
from ..utils.atomic import atomic_write_text
from .checkpoint import model_from_checkpoint, save_checkpoint
from .config import Experiment
from .data import SynthSource
from .losses import d3ke_loss
from .temporal import TARGETS
from .temporal import head_kwargs as _head_kwargs

__all__ = ["train_end_to_end"]


def train_end_to_end(exp: Experiment, init: str | Path | None = None) -> dict:
    """Train ``exp.temporal.heads[0]`` with the per-frame model (initialised from ``init`` when given)."""
    cfg = exp.temporal
    if cfg is None or exp.data.source != "synth":
        raise ValueError("end-to-end training needs a 'temporal' section and data.source: synth")
    out = Path(exp.out)
    model = model_from_checkpoint(init).train() if init else get_model(exp.model.name, input_size=exp.model.input_size)
    model.train()
    name = cfg.heads[0]
    head_kwargs = _head_kwargs(name, model.space.dim, cfg)
    head = get_model(name, **head_kwargs)
    if not getattr(head, "causal", False):
        raise ValueError(f"end-to-end training streams a causal head; '{name}' is not causal")
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=exp.optim.weight_decay)
    source = SynthSource(exp.data, exp.model.input_size, exp.optim.batch, exp.optim.seed, "cpu")
    t0, log = time.perf_counter(), []
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = cfg.lr * (cfg.lr_end / cfg.lr) ** (step / max(1, cfg.steps - 1))
        clip = source.clips(step, cfg.batch, cfg.clip)  # (B, T, ...)
        B, T = clip["image"].shape[:2]
        rot6d, p, _ = model.encode(clip["image"].flatten(0, 1))
        x = model.space.join(rot6d, p).view(B, T, -1)
        y = head(x)
        target = {k: clip[k].flatten(0, 1) for k in TARGETS}
        refined, terms = d3ke_loss(model.space.decode_params(y.flatten(0, 1)), target,
                                   model.space, exp.loss)
        per_frame, _ = d3ke_loss(model.space.decode(rot6d, p), target, model.space, exp.loss)
        loss = refined + per_frame
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, exp.optim.grad_clip)
        opt.step()
        log.append({"step": step + 1, "loss": float(loss.detach()), "refined": float(refined.detach()),
                    "per_frame": float(per_frame.detach())})
    model.eval()
    save_checkpoint(out / "end_to_end.pt", kind="end_to_end", model_name=exp.model.name,
                    model_kwargs={"input_size": exp.model.input_size}, model=model.state_dict(),
                    head_name=name, head_kwargs=head_kwargs, head=head.state_dict(), step=cfg.steps,
                    config=exp.to_dict(), metadata=model.metadata(),
                    state_shapes=[list(s) for s in head.state_shapes(1)])
    summary = {"steps": cfg.steps, "head": name, "seconds": time.perf_counter() - t0, "log": log[-5:]}
    atomic_write_text(out / "end_to_end.json", json.dumps(summary, indent=2) + "\n")
    return summary
