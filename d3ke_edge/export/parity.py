"""Parity of an exported artefact with the PyTorch fp32 model, measured through the artefact's own runtime.

Per-frame artefacts: held-out synthetic frames, one at a time (the artefacts take batch 1), compared per output
against the bounds of ``tolerance.py`` (each output in its unit, the worst frame named), and on what users read: the
mean absolute angle difference from the PyTorch model (``angle_mae_delta_deg``), the mean marker distance from it
(``marker_delta_mm``) and the mean scale difference. Deltas are taken against the fp32 model, not as a change of
error against labels: a quantised model can drift several degrees from its fp32 original while its label error
changes little, or even drops, by chance (measured on a briefly trained model: 6.2 deg drift, -3.3 deg change). The
change against labels is reported too (``angle_mae_change_deg``). Step artefacts: run frame by frame from the reset
state on whole sequences and compared with the PyTorch head's sequence form (the offline causal model).
"""

from __future__ import annotations

import numpy as np
import torch

from ..models.graphs import DECODED_OUTPUTS, PER_FRAME_OUTPUTS
from ..runtime import run_stream
from ..train.losses import metrics
from .tolerance import compare_outputs

__all__ = ["per_frame_parity", "step_parity", "ParityData"]

STEP_OUTPUTS = ("refined_params", *DECODED_OUTPUTS)


class ParityData:
    """Held-out frames (the per-frame model's inputs: images or landmark features) with labels, and held-out
    sequences of per-frame params (from the fp32 PyTorch model)."""

    def __init__(self, inputs: torch.Tensor, labels: dict, seq_params: torch.Tensor, seq_labels: dict,
                 frame_ids: list[str] | None = None):
        self.inputs, self.labels = inputs, labels
        self.seq_params, self.seq_labels = seq_params, seq_labels  # (n, T, D), (n, T, ...)
        self.frame_ids = frame_ids  # "test sequence S frame F" per input, to name a frame that amplifies noise


def _as_pred(outputs: list) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(np.asarray(v)) for k, v in zip(DECODED_OUTPUTS, outputs)}


def _compare(names, ref: list[np.ndarray], got: list[np.ndarray], labels: dict, space, frame_ids=None) -> dict:
    outputs = compare_outputs(names, ref, got, frame_ids)
    m_ref = metrics(_as_pred(ref[1:6]), labels, space)
    m_got = metrics(_as_pred(got[1:6]), labels, space)
    # the same metrics with the PyTorch outputs as the target: mean angle / marker / scale difference from it
    drift = metrics(_as_pred(got[1:6]), _as_pred(ref[1:6]), space)
    return {"max_abs_diff": max(o["max_abs_diff"] for o in outputs.values()),
            "max_ratio": max(o["ratio"] for o in outputs.values()),
            "angle_mae_delta_deg": drift["angle_mae_deg"],
            "marker_delta_mm": drift["marker_mpjpe_mm"],
            "scale_delta": drift["scale_mae"],
            "angle_mae_deg": m_got["angle_mae_deg"], "angle_mae_torch_deg": m_ref["angle_mae_deg"],
            "angle_mae_change_deg": m_got["angle_mae_deg"] - m_ref["angle_mae_deg"],
            "outputs": outputs}


@torch.no_grad()
def per_frame_parity(graph: torch.nn.Module, runner, data: ParityData, space) -> dict:
    ref = [o.numpy() for o in graph(data.inputs)]
    rows = [runner.run(data.inputs[i : i + 1].numpy()) for i in range(len(data.inputs))]
    got = [np.concatenate([r[k] for r in rows]) for k in range(len(PER_FRAME_OUTPUTS))]
    return _compare(PER_FRAME_OUTPUTS, ref, got, data.labels, space, data.frame_ids)


@torch.no_grad()
def step_parity(head: torch.nn.Module, runner, data: ParityData, space) -> dict:
    refined = head(data.seq_params)  # (n, T, D): the offline causal sequence form
    dec = space.decode_params(refined)
    ref = [refined.flatten(0, 1).numpy()] + [dec[k].flatten(0, 1).numpy() for k in DECODED_OUTPUTS]
    got_seqs = []
    for seq in data.seq_params:
        frames = run_stream(runner, [seq[t : t + 1].numpy() for t in range(len(seq))])
        got_seqs.append([np.concatenate([f[k] for f in frames]) for k in range(len(STEP_OUTPUTS))])
    got = [np.concatenate([g[k] for g in got_seqs]) for k in range(len(STEP_OUTPUTS))]
    labels = {k: v.flatten(0, 1) for k, v in data.seq_labels.items()}
    n, t = data.seq_params.shape[:2]
    ids = [f"stream sequence {i} frame {j}" for i in range(n) for j in range(t)]
    return _compare(STEP_OUTPUTS, ref, got, labels, space, ids)
