"""ONNX through the dynamo exporter (opset 20); int8 by onnxruntime's static QDQ quantisation of backbone nodes.

int8 scheme: activations uint8 asymmetric, weights int8 symmetric per channel with ``reduce_range`` (7-bit weights):
on x86 CPUs without VNNI, onnxruntime's u8*s8 kernels add pairs of products in 16 bits (``vpmaddubsw``), which
saturates with full 8-bit weights (onnxruntime's quantisation docs); 7-bit weights keep every pair in range on any
instruction set. The blocks the quantisation plan keeps in float are left out by their PyTorch name scope.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import torch

from ...artefacts import METADATA_KEY

OPSET = 20


def _backbone_nodes(model_proto, float_blocks=()) -> list[str]:
    """Nodes whose PyTorch name scope is the backbone (the exporter records it as node metadata), except those of
    the blocks kept in float."""
    names = []
    skip = tuple(f"'model.backbone.{b}'" for b in float_blocks)
    for node in model_proto.graph.node:
        scopes = {p.key: p.value for p in node.metadata_props}.get("pkg.torch.onnx.name_scopes", "")
        if "'model.backbone" in scopes and not any(s in scopes for s in skip):
            names.append(node.name)
    return names


def convert(graph, example: tuple, input_names, output_names, path: Path, precision: str, quant, metadata: dict):
    import onnx

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fp32 = Path(tmp) / "fp32.onnx"
        torch.onnx.export(graph, example, str(fp32), dynamo=True, opset_version=OPSET, input_names=list(input_names),
                          output_names=list(output_names), verbose=False, external_data=False)
        model = onnx.load(str(fp32))
        if precision == "int8":
            from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

            class Reader(CalibrationDataReader):
                def __init__(self):
                    self.items = iter([{n: t.numpy() for n, t in zip(input_names, x)} for x in quant.calib])

                def get_next(self):
                    return next(self.items, None)

            q = Path(tmp) / "int8.onnx"
            quantize_static(str(fp32), str(q), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_quantize=_backbone_nodes(model, quant.float_blocks))
            model = onnx.load(str(q))
        del model.metadata_props[:]
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
        onnx.save(model, str(path))
    return path
