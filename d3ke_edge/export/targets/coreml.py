"""Core ML (mlprogram, iOS 17+) through torch.export and coremltools 9.

fp16: compute precision float16. int8: int8 weights (linear symmetric, per channel) on conv/linear weights,
activations fp16 - W8A8 needs ``MLModel.predict`` for calibration, which exists only on macOS (stack.md).
Metadata: user-defined metadata key ``d3ke_metadata``.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import torch

from ...artefacts import METADATA_KEY


def convert(graph, example: tuple, input_names, output_names, path: Path, precision: str, quant, metadata: dict):
    import coremltools as ct

    logging.getLogger("coremltools").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(graph.eval(), example).run_decompositions({})
        inputs = [ct.TensorType(name=n, shape=tuple(t.shape)) for n, t in zip(input_names, example)]
        outputs = [ct.TensorType(name=n) for n in output_names]
        compute = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
        ml = ct.convert(ep, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS17, inputs=inputs,
                        outputs=outputs, compute_precision=compute)
        if precision == "int8":
            from coremltools.optimize import coreml as cto

            cfg = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                              weight_threshold=2048)
            ml = cto.linear_quantize_weights(ml, cto.OptimizationConfig(op_type_configs={"conv": cfg,
                                                                                         "linear": cfg}))
    ml.user_defined_metadata[METADATA_KEY] = json.dumps(metadata)
    ml.short_description = f"d3ke-edge {metadata['artefact']} model ({precision})"
    ml.save(str(path))
    return path
