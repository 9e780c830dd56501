"""One module per target: ``convert(graph, example, input_names, output_names, path, precision, quant, metadata)``.

``graph`` is a module with positional tensor inputs and a tuple of tensor outputs (``export.modules``);
``quant`` is the int8 ``QuantPlan`` (calibration inputs and the backbone blocks kept in float), None otherwise.
"""

from __future__ import annotations

import importlib

__all__ = ["TARGETS", "PRECISIONS", "EXTENSIONS", "target_module"]

TARGETS = ("tflite", "coreml", "torchscript", "onnx")
# What each target implements. int8: static int8 backbone (TFLite, ONNX, TorchScript) or int8 weights (Core ML).
PRECISIONS = {"tflite": ("fp32", "int8"), "coreml": ("fp32", "fp16", "int8"), "torchscript": ("fp32", "int8"),
              "onnx": ("fp32", "int8")}
EXTENSIONS = {"tflite": ".tflite", "coreml": ".mlpackage", "torchscript": ".pt", "onnx": ".onnx"}


def target_module(target: str):
    if target not in TARGETS:
        raise ValueError(f"unknown target '{target}'; choose from {', '.join(TARGETS)} or all")
    return importlib.import_module(f"{__name__}.{target}")
