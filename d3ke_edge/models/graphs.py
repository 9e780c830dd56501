"""The graphs every artefact is made from and that infer and the benchmarks run on a checkpoint: plain modules with
fixed tensor inputs and outputs (no dicts), one per artefact.

- ``PerFrameGraph``: RGB crop (1, 3, S, S) float in [0, 1] -> params, coordinates, scales, pelvis rotation,
  root-relative joint centres and markers (the model's bounded mapping and FK inside).
- ``StepGraph``: per-frame params (1, D) + a causal head's state tensors -> refined outputs + new state.

The output names below are the single source of the artefacts' output layout (written into their metadata).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PerFrameGraph", "StepGraph", "DECODED_OUTPUTS", "PER_FRAME_OUTPUTS", "step_output_names",
           "step_input_names"]

# Outputs of the bounded mapping + FK, in artefact order (shapes for the built-in model in the metadata).
DECODED_OUTPUTS = ("coordinates", "scales", "pelvis_rot_cam", "joints_rel", "markers_rel")
PER_FRAME_OUTPUTS = ("params", *DECODED_OUTPUTS)


def _decoded(space, params: torch.Tensor) -> tuple[torch.Tensor, ...]:
    out = space.decode_params(params)
    return tuple(out[k] for k in DECODED_OUTPUTS)


class PerFrameGraph(nn.Module):
    """image -> (params, coordinates, scales, pelvis_rot_cam, joints_rel, markers_rel)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model.eval()

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        rot6d, p, _ = self.model.encode(image)
        params = self.model.space.join(rot6d, p)
        return (params, *_decoded(self.model.space, params))


def step_input_names(n_state: int) -> list[str]:
    return ["params"] + [f"state_{i}" for i in range(n_state)]


def step_output_names(n_state: int) -> list[str]:
    return ["refined_params", *DECODED_OUTPUTS] + [f"new_state_{i}" for i in range(n_state)]


class StepGraph(nn.Module):
    """(params, *state) -> (refined params, coordinates, scales, pelvis_rot_cam, joints_rel, markers_rel, *state)."""

    def __init__(self, head: nn.Module, space: nn.Module):
        super().__init__()
        if not getattr(head, "causal", False):
            raise ValueError(f"{type(head).__name__} is not a causal streaming head (it has no step form)")
        self.head, self.space = head.eval(), space

    def forward(self, params: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y, *new_state = self.head.step(params, *state)
        return (y, *_decoded(self.space, y), *new_state)
