"""TFLite / LiteRT through litert-torch (torch.export inside; no TensorFlow).

int8: ai-edge-quantizer, static int8 (8-bit activations, per-channel 8-bit weights) on the backbone's ops only,
selected by the module path litert-torch writes into tensor names; the bounded mapping and FK stay fp32, and so do
the backbone blocks the quantisation plan keeps in float (a later no-quantise rule on their module paths wins) and
every hard-swish (XNNPACK has no int8 hard-swish; see ``_int8``).
Metadata: a ``d3ke_metadata`` entry in the flatbuffer's metadata table (read back with ``artefacts.read_metadata``).
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import warnings
import weakref
from pathlib import Path

from ...artefacts import METADATA_KEY

BACKBONE_REGEX = ".*_backbone/.*"
# fp32 conversions by graph object: int8 quantises the fp32 flatbuffer, so one export call converts once (~1 min)
_FP32: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _quiet():
    for name in ("litert_torch", "absl", "ai_edge_quantizer"):
        logging.getLogger(name).setLevel(logging.ERROR)


def embed_metadata(path: Path, metadata: dict) -> None:
    """Add (or replace) the metadata entry with the flatbuffer object API of ai-edge-litert's schema."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    raw = path.read_bytes()
    model = schema.ModelT.InitFromPackedBuf(bytearray(raw), 0)
    for b in model.buffers or []:  # ai-edge-quantizer appends tensor data after the flatbuffer: inline it again
        if b.offset and b.offset > 1:
            b.data, b.offset, b.size = list(raw[b.offset : b.offset + b.size]), 0, 0
    buf = schema.BufferT()
    buf.data = list(json.dumps(metadata).encode())
    model.buffers = list(model.buffers or []) + [buf]
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_KEY, len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != METADATA_KEY.encode()] + [entry]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(bytes(builder.Output()))


def block_regex(block: str) -> str:
    """Tensor names of one backbone block: litert-torch writes ``.../<Class>_<attribute>/...`` per module level."""
    path = "/".join(rf"[^/;]*_{re.escape(part)}" for part in block.split("."))
    return rf".*_backbone/{path}(/|;|$).*"


def _int8(fp32: Path, out: Path, quant) -> None:
    from ai_edge_quantizer import algorithm_manager, qtyping, quantizer

    q = quantizer.Quantizer(str(fp32))
    q.add_static_config(regex=BACKBONE_REGEX, operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                        activation_num_bits=8, weight_num_bits=8)
    # int8 HARD_SWISH has no XNNPACK kernel: each one ran on the reference kernel between delegate partitions and
    # made the int8 model 2-3x slower than fp32 (issue 11's op profile). In float (dequantise, XNNPACK's f32
    # hard-swish, quantise) the whole backbone stays in one XNNPACK partition.
    q.update_quantization_recipe(regex=".*", operation_name=qtyping.TFLOperationName.HARD_SWISH,
                                 algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE)
    for block in quant.float_blocks:
        q.update_quantization_recipe(regex=block_regex(block), operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                     algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE)
    signature = "serving_default"
    data = {signature: [{f"args_{i}": t.numpy() for i, t in enumerate(x)} for x in quant.calib]}
    result = q.calibrate(data)
    q.quantize(result, enable_progress_report=False).export_model(str(out), overwrite=True)


def convert(graph, example: tuple, input_names, output_names, path: Path, precision: str, quant, metadata: dict):
    import litert_torch

    _quiet()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fp32 = Path(tmp) / "fp32.tflite"
        key = (tuple(tuple(t.shape) for t in example),)
        cached = _FP32.get(graph, {}).get(key)
        if cached is None:
            litert_torch.convert(graph.eval(), example).export(str(fp32))
            _FP32.setdefault(graph, {})[key] = fp32.read_bytes()
        else:
            fp32.write_bytes(cached)
        if precision == "int8":
            q = Path(tmp) / "int8.tflite"
            _int8(fp32, q, quant)
            fp32 = q
        path.write_bytes(fp32.read_bytes())
    embed_metadata(path, metadata)
    return path
