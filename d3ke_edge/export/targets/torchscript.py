"""TorchScript by ``torch.jit.trace`` (deprecated since torch 2.10 but still the format LibTorch/PyTorch Mobile load).

int8: FX graph-mode static quantisation of the backbone only (the bounded mapping and FK stay fp32), with the x86
default scheme: activations 7-bit (``reduce_range``, so fbgemm's u8*s8 products never saturate without VNNI),
weights per channel; the same artefact runs under the qnnpack (ARM) engine, which the export checks too. The blocks
the quantisation plan keeps in float get no qconfig.
Metadata travels as the extra file ``d3ke_metadata.json``.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import torch

from ...artefacts import TORCHSCRIPT_METADATA_FILE


def _quantize_backbone(graph: torch.nn.Module, quant) -> torch.nn.Module:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    graph = copy.deepcopy(graph).eval()
    model = graph.model
    torch.backends.quantized.engine = "x86"
    norm = lambda x: (x - model.mean) / model.std  # noqa: E731 - calibrate on what the backbone sees
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mapping = get_default_qconfig_mapping("x86")
        for block in quant.float_blocks:
            mapping.set_module_name(block, None)
        prepared = prepare_fx(model.backbone, mapping, (norm(quant.calib[0][0]),))
        with torch.no_grad():
            for (image,) in quant.calib:
                prepared(norm(image))
        model.backbone = convert_fx(prepared)
    return graph


def convert(graph, example: tuple, input_names, output_names, path: Path, precision: str, quant, metadata: dict):
    if precision == "int8":
        graph = _quantize_backbone(graph, quant)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript deprecation and tracer warnings on constant shapes
        traced = torch.jit.trace(graph, example, check_trace=False)
        traced.save(str(path), _extra_files={TORCHSCRIPT_METADATA_FILE: json.dumps(metadata)})
    return path
