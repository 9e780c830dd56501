"""TorchScript by ``torch.jit.trace`` (deprecated since torch 2.10 but still the format LibTorch/PyTorch Mobile load).

int8: FX graph-mode static quantisation of the backbone only (x86 backend; the bounded mapping and FK stay fp32).
Metadata travels as the extra file ``d3ke_metadata.json``.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import torch

METADATA_FILE = "d3ke_metadata.json"


def _quantize_backbone(graph: torch.nn.Module, calib: list[tuple]) -> torch.nn.Module:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    graph = copy.deepcopy(graph).eval()
    model = graph.model
    torch.backends.quantized.engine = "x86"
    norm = lambda x: (x - model.mean) / model.std  # noqa: E731 - calibrate on what the backbone sees
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_fx(model.backbone, get_default_qconfig_mapping("x86"), (norm(calib[0][0]),))
        with torch.no_grad():
            for (image,) in calib:
                prepared(norm(image))
        model.backbone = convert_fx(prepared)
    return graph


def convert(graph, example: tuple, input_names, output_names, path: Path, precision: str, calib, metadata: dict):
    if precision == "int8":
        graph = _quantize_backbone(graph, calib)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript deprecation and tracer warnings on constant shapes
        traced = torch.jit.trace(graph, example, check_trace=False)
        traced.save(str(path), _extra_files={METADATA_FILE: json.dumps(metadata)})
    return path
