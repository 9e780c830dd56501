"""ONNX through the dynamo exporter (opset 20); int8 by onnxruntime's static QDQ quantisation of backbone nodes."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import torch

OPSET = 20


def _backbone_nodes(model_proto) -> list[str]:
    """Nodes whose PyTorch name scope is the backbone (the exporter records it as node metadata)."""
    names = []
    for node in model_proto.graph.node:
        scopes = {p.key: p.value for p in node.metadata_props}.get("pkg.torch.onnx.name_scopes", "")
        if "'model.backbone" in scopes:
            names.append(node.name)
    return names


def convert(graph, example: tuple, input_names, output_names, path: Path, precision: str, calib, metadata: dict):
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
                    self.items = iter([{n: t.numpy() for n, t in zip(input_names, x)} for x in calib])

                def get_next(self):
                    return next(self.items, None)

            q = Path(tmp) / "int8.onnx"
            quantize_static(str(fp32), str(q), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            nodes_to_quantize=_backbone_nodes(model))
            model = onnx.load(str(q))
        del model.metadata_props[:]
        entry = model.metadata_props.add()
        entry.key, entry.value = "d3ke_metadata", json.dumps(metadata)
        onnx.save(model, str(path))
    return path
