"""The temporal stage: heads trained on the frozen per-frame model's outputs (as D3KE), then compared.

1. Render training and test sequences, run the frozen per-frame model once over them and keep its parameter
   vectors x_t = [rot6d, p] with the labels (the per-frame model is not run again).
2. Train each head on (B, T, D) windows with the D3KE loss through the shared bounded mapping and FK (plus,
   with ``temporal.accel``, a marker-acceleration term).
3. Report per head: angle MAE / MPJPE against the per-frame predictions on the test sequences, acceleration
   error (smoothness), latency of one streaming step (CPU, batch 1) and the lookahead it needs.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from ..data.datasets import image_to_float
from ..data.synth import SynthEngine
from ..models.registry import get_model
from ..models.temporal import CentreFrameTransformer
from ..utils.atomic import atomic_write_text
from .checkpoint import model_from_checkpoint, save_checkpoint
from .config import Experiment
from .data import landmark_synth, sequence_seed, synth_config
from .losses import acceleration_error_mm, acceleration_loss, d3ke_loss, metrics

__all__ = ["train_temporal", "per_frame_outputs", "step_latency_ms", "head_kwargs", "TARGETS"]

TARGETS = ("coordinates", "coordinates_valid", "scales", "pelvis_rot_cam", "markers_rel", "joints_rel")


def head_kwargs(name: str, dim: int, cfg) -> dict:
    """Constructor arguments of a temporal head from the temporal config (width -> channels / hidden / d_model)."""
    if name == "transformer_causal":
        return {"dim": dim, "window": cfg.causal_window, "d_model": cfg.width}
    if name.startswith("transformer"):
        return {"dim": dim, "window": cfg.window}
    return {"dim": dim, ("channels" if name.startswith("tcn") else "hidden"): cfg.width}


@torch.no_grad()
def per_frame_outputs(model, exp: Experiment, n: int, kind: int, seconds: float) -> dict[str, torch.Tensor]:
    """Render ``n`` sequences and run the frozen per-frame model: x (n, T, D) and the labels (n, T, ...).

    Landmark models: the same motions' landmarks, one camera per sequence, the measured noise drawn along it."""
    if not model.input_spec.is_image:
        synth = landmark_synth(exp.data, exp.optim.seed, kind, n, seconds, model.space.skeleton, first=10_000,
                               features=model.input_size)
        seqs = synth.sequences(list(range(n)), torch.Generator().manual_seed(sequence_seed(exp.optim.seed, kind, 900_002)))
        rot6d, p, _ = model.encode(seqs["landmarks"].flatten(0, 1))
        x = model.space.join(rot6d, p).unflatten(0, seqs["landmarks"].shape[:2])
        return {"x": x, **{k: seqs[k] for k in TARGETS}}

    engine = SynthEngine(synth_config(exp.data, exp.model.input_size, "cpu", seconds))
    xs, labels = [], {k: [] for k in TARGETS}
    for i in range(n):
        seq = engine.sequence(sequence_seed(exp.optim.seed, kind, 10_000 + i), sequence_id=i, as_numpy=False)
        rot6d, p, _ = model.encode(image_to_float(seq["image"]))
        xs.append(model.space.join(rot6d, p))
        for k in TARGETS:
            labels[k].append(seq[k])
    return {"x": torch.stack(xs), **{k: torch.stack(v) for k, v in labels.items()}}


def step_latency_ms(head, dim: int, repeats: int = 200) -> float:
    """Median CPU time of one streaming step (batch 1), the latency a causal head adds per frame."""
    head = head.eval()
    x = torch.zeros(1, dim)
    with torch.no_grad():
        if isinstance(head, CentreFrameTransformer):
            window = torch.zeros(1, head.window, dim)
            run = lambda: head.forward_window(window)  # noqa: E731
        else:
            state = head.init_state(1)
            run = lambda: head.step(x, *state)  # noqa: E731
        for _ in range(10):
            run()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def _evaluate(space, x: torch.Tensor, data: dict) -> dict[str, float]:
    pred = space.decode_params(x)
    flat = lambda d: {k: v.flatten(0, 1) for k, v in d.items()}  # noqa: E731
    m = metrics(flat(pred), flat({k: data[k] for k in TARGETS}), space)
    m["marker_accel_err_mm"] = acceleration_error_mm(pred["markers_rel"], data["markers_rel"])
    return m


def train_temporal(exp: Experiment, per_frame_ckpt: str | Path, out: str | Path | None = None) -> dict:
    """Train every head of ``exp.temporal`` on the frozen per-frame model; writes OUT/temporal.json."""
    cfg = exp.temporal
    if cfg is None:
        raise ValueError("the config has no 'temporal' section")
    out = Path(out or exp.out)
    model = model_from_checkpoint(per_frame_ckpt)
    space = model.space
    train = per_frame_outputs(model, exp, cfg.train_sequences, 1, cfg.sequence_seconds)
    test = per_frame_outputs(model, exp, cfg.test_sequences, 3, cfg.sequence_seconds)
    report = {"per_frame": _evaluate(space, test["x"], test), "heads": {}}
    for name in cfg.heads:
        kwargs = head_kwargs(name, space.dim, cfg)
        head = get_model(name, **kwargs)
        torch.manual_seed(exp.optim.seed)
        opt = torch.optim.Adam(head.parameters(), lr=cfg.lr)
        rng = np.random.default_rng(exp.optim.seed)
        t0 = time.perf_counter()
        for step in range(cfg.steps):
            for g in opt.param_groups:
                g["lr"] = cfg.lr * (cfg.lr_end / cfg.lr) ** (step / max(1, cfg.steps - 1))
            idx = rng.integers(len(train["x"]), size=cfg.batch)
            pred = space.decode_params(head(train["x"][idx]))  # (B, T, ...)
            target = {k: train[k][idx] for k in TARGETS}
            loss, _ = d3ke_loss(pred, target, space, exp.loss)
            if cfg.accel:
                loss = loss + cfg.accel * acceleration_loss(pred["markers_rel"], target["markers_rel"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        head.eval()
        with torch.no_grad():
            m = _evaluate(space, head(test["x"]), test)
        m.update(train_seconds=time.perf_counter() - t0, step_latency_ms=step_latency_ms(head, space.dim),
                 lookahead_frames=getattr(head, "lookahead", 0),
                 receptive_field=head.receptive_field(), causal=head.causal,
                 angle_gain_deg=report["per_frame"]["angle_mae_deg"] - m["angle_mae_deg"],
                 accel_gain_mm=report["per_frame"]["marker_accel_err_mm"] - m["marker_accel_err_mm"])
        report["heads"][name] = m
        save_checkpoint(out / f"temporal_{name}.pt", kind="temporal", model_name=name,
                        model_kwargs=kwargs, model=head.state_dict(), step=cfg.steps,
                        per_frame=str(per_frame_ckpt), metrics=m, metadata=space.metadata(),
                        state_shapes=[list(s) for s in head.state_shapes(1)] if head.causal else [])
    atomic_write_text(out / "temporal.json", json.dumps(report, indent=2, default=_json) + "\n")
    return report


def _json(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return str(x)
