"""The metadata every artefact carries (embedded where the format allows it, and as a JSON file beside it)."""

from __future__ import annotations

import importlib.metadata as im

import torch

from ..models.graphs import PER_FRAME_OUTPUTS, step_input_names, step_output_names

__all__ = ["FORMAT", "per_frame_metadata", "step_metadata", "tool_versions"]

FORMAT = "d3ke-edge-export"

_TOOLS = ("torch", "litert-torch", "ai-edge-litert", "ai-edge-quantizer", "coremltools", "onnx", "onnxruntime",
          "d3ke-edge")


def tool_versions() -> dict[str, str]:
    out = {}
    for name in _TOOLS:
        try:
            out[name] = im.version(name)
        except im.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _io(names, tensors) -> list[dict]:
    return [{"name": n, "shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
            for n, t in zip(names, tensors)]


def per_frame_metadata(model: torch.nn.Module, size: int, precision: str, target: str,
                       example: torch.Tensor, outputs: tuple[torch.Tensor, ...]) -> dict:
    meta = model.metadata()
    meta["input_size"] = size
    return {"format": FORMAT, "version": 1, "artefact": "per_frame", "target": target, "precision": precision,
            "model": meta, "inputs": _io([model.input_spec.name], [example]), "outputs": _io(PER_FRAME_OUTPUTS, outputs),
            "units": {"coordinates": "rad (rotational) / m (translational)", "joints_rel": "m, camera frame",
                      "markers_rel": "m, camera frame", "scales": "factor per body xyz"},
            "tools": tool_versions()}


def step_metadata(head_name: str, head: torch.nn.Module, space, precision: str, target: str,
                  inputs: tuple[torch.Tensor, ...], outputs: tuple[torch.Tensor, ...], frame_rate_hz: float) -> dict:
    """``frame_rate_hz``: the frame rate the head was trained at (its state advances one frame per step)."""
    n = len(inputs) - 1
    return {"format": FORMAT, "version": 1, "artefact": "step", "target": target, "precision": precision,
            "head": head_name, "receptive_field": head.receptive_field(), "lookahead_frames": 0,
            "frame_rate_hz": frame_rate_hz,
            "model": space.metadata(),
            "inputs": _io(step_input_names(n), inputs), "outputs": _io(step_output_names(n), outputs),
            "state": [{"input": f"state_{i}", "output": f"new_state_{i}", "shape": list(inputs[1 + i].shape),
                       "initial": "zeros"} for i in range(n)],
            "usage": "feed the per-frame artefact's 'params'; pass new_state_i back as state_i; zeros = reset",
            "tools": tool_versions()}
