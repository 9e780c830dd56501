"""Runtimes that execute exported artefacts: one loader, one interface.

``load_runtime(path)`` picks the runtime from the file type and returns a ``Runner``: ``run(*arrays)`` takes the
inputs in the artefact's input order and returns its outputs in the metadata's output order, as numpy arrays.
Runtimes: ai-edge-litert Interpreter (XNNPACK) for .tflite, onnxruntime for .onnx, ``torch.jit.load`` for
TorchScript .pt, and for .mlpackage ``MLModel.predict`` on macOS or the MIL reference executor elsewhere.

``kernels`` selects another kernel family of the same runtime (``KERNELS`` lists them; the first is the default), so
an artefact can be checked under the kernels other machines run: LiteRT's XNNPACK delegate or its built-in
kernels; onnxruntime's fused int8 kernels or the unfused graph (QDQ pairs around float ops, the reference
semantics); TorchScript int8 under the x86 (fbgemm) or the qnnpack (ARM) quantised engine.
"""

from __future__ import annotations

import contextlib
import json
import platform
import re
import warnings
from pathlib import Path

import numpy as np

from ..artefacts import METADATA_KEY, TORCHSCRIPT_METADATA_FILE, by_type, read_metadata
from .mil_executor import MilProgram

__all__ = ["KERNELS", "Runner", "load_runtime", "read_metadata", "run_stream"]

# kernel families per artefact type; the first is what ``load_runtime`` uses by default
KERNELS = {".tflite": ("xnnpack", "builtin"), ".onnx": ("optimised", "unfused"), ".pt": ("x86", "qnnpack"),
           ".mlpackage": ("default",)}


class Runner:
    """Base: ``metadata`` (the artefact's embedded dict), ``runtime`` (what executes it), ``run(*inputs)``."""

    runtime = ""
    kernels = "default"

    def __init__(self, path: Path, metadata: dict):
        self.path, self.metadata = path, metadata
        self.input_names = [i["name"] for i in metadata["inputs"]]
        self.output_names = [o["name"] for o in metadata["outputs"]]

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError


class TFLiteRunner(Runner):
    runtime = "ai-edge-litert Interpreter (XNNPACK)"

    def __init__(self, path: Path, threads: int | None = None, kernels: str = "xnnpack"):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        super().__init__(path, read_metadata(path))
        resolver = {"xnnpack": OpResolverType.AUTO,
                    "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}[kernels]
        if kernels == "builtin":
            self.runtime = "ai-edge-litert Interpreter (built-in kernels, no XNNPACK)"
        self.kernels = kernels
        self.interpreter = Interpreter(str(path), num_threads=threads, experimental_op_resolver_type=resolver)
        self.signature = self.interpreter.get_signature_runner()
        sig = self.interpreter.get_signature_list()["serving_default"]
        key = lambda s: int(re.sub(r"\D", "", s) or 0)  # noqa: E731 - args_10 after args_9
        self._inputs = sorted(sig["inputs"], key=key)
        self._outputs = sorted(sig["outputs"], key=key)

    def run(self, *inputs):
        out = self.signature(**{n: np.ascontiguousarray(x, dtype=np.float32) for n, x in zip(self._inputs, inputs)})
        return [out[n] for n in self._outputs]


class OnnxRunner(Runner):
    runtime = "onnxruntime (CPU)"

    def __init__(self, path: Path, threads: int | None = None, kernels: str = "optimised"):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only: its warnings go nowhere a user reads
        if kernels == "unfused":  # QDQ pairs stay around float ops: no fused int8 kernel, the reference semantics
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            self.runtime = "onnxruntime (CPU, graph optimisations off)"
        self.kernels = kernels
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if meta is None:
            raise ValueError(f"'{path}' has no {METADATA_KEY}: not a d3ke-edge export")
        super().__init__(path, json.loads(meta))

    def run(self, *inputs):
        feeds = {n: np.ascontiguousarray(x, dtype=np.float32) for n, x in zip(self.input_names, inputs)}
        return self.session.run(self.output_names, feeds)


class TorchScriptRunner(Runner):
    runtime = "torch.jit.load"

    def __init__(self, path: Path, threads: int | None = None, kernels: str = "x86"):
        import torch

        extra = {TORCHSCRIPT_METADATA_FILE: ""}
        self.kernels, self.runtime = kernels, f"torch.jit.load (quantised engine {kernels})"
        with warnings.catch_warnings(), _quantized_engine(kernels):  # int8 weights are packed for the engine at load
            warnings.simplefilter("ignore")
            self.module = torch.jit.load(str(path), _extra_files=extra, map_location="cpu")
        if not extra[TORCHSCRIPT_METADATA_FILE]:
            raise ValueError(f"'{path}' has no {TORCHSCRIPT_METADATA_FILE}: not a d3ke-edge export")
        super().__init__(path, json.loads(extra[TORCHSCRIPT_METADATA_FILE]))  # threads: torch's are process-wide, left as set

    def run(self, *inputs):
        import torch

        with torch.no_grad(), _quantized_engine(self.kernels):
            out = self.module(*[torch.as_tensor(np.asarray(x, dtype=np.float32)) for x in inputs])
        return [o.numpy() for o in out]


@contextlib.contextmanager
def _quantized_engine(engine: str):
    import torch

    before = torch.backends.quantized.engine
    if engine not in torch.backends.quantized.supported_engines:
        raise ValueError(f"quantised engine '{engine}' is not in this torch build "
                         f"({', '.join(torch.backends.quantized.supported_engines)})")
    torch.backends.quantized.engine = engine
    try:
        yield
    finally:
        torch.backends.quantized.engine = before


class CoreMLRunner(Runner):
    def __init__(self, path: Path, threads: int | None = None, kernels: str = "default"):
        import coremltools as ct

        spec = ct.utils.load_spec(str(path))
        meta = spec.description.metadata.userDefined.get(METADATA_KEY)
        if meta is None:
            raise ValueError(f"'{path}' has no {METADATA_KEY}: not a d3ke-edge export")
        super().__init__(path, json.loads(meta))
        if platform.system() == "Darwin":
            self.model = ct.models.MLModel(str(path))
            self.runtime = "coremltools MLModel.predict (Core ML)"
        else:
            self.model = MilProgram(path)
            self.runtime = "MIL reference executor (PyTorch ops; Core ML predict needs macOS)"

    def run(self, *inputs):
        feeds = {n: np.asarray(x, dtype=np.float32) for n, x in zip(self.input_names, inputs)}
        out = self.model.predict(feeds) if hasattr(self.model, "predict") else self.model.run(feeds)
        return [np.asarray(out[n], dtype=np.float32) for n in self.output_names]


_RUNNERS = {".tflite": TFLiteRunner, ".onnx": OnnxRunner, ".pt": TorchScriptRunner, ".mlpackage": CoreMLRunner}


def load_runtime(path: str | Path, threads: int | None = None, kernels: str | None = None) -> Runner:
    """The runner for an exported artefact (by extension); ``kernels``: one of ``KERNELS[extension]``."""
    path = Path(path)
    cls = by_type(path, _RUNNERS)
    kernels = kernels or KERNELS[path.suffix][0]
    if kernels not in KERNELS[path.suffix]:
        raise ValueError(f"kernels '{kernels}' are not available for {path.suffix} artefacts; choose from "
                         f"{', '.join(KERNELS[path.suffix])}")
    return cls(path, threads, kernels)


def run_stream(runner: Runner, frames) -> list[list[np.ndarray]]:
    """Run a step artefact over a sequence of per-frame inputs (each (1, D)) from its reset state (zeros, as its
    metadata says), carrying the state frame to frame as the phone does; each frame's outputs without the state."""
    state = [np.zeros(tuple(s["shape"]), np.float32) for s in runner.metadata["state"]]
    n_state = len(state)
    outputs = []
    for x in frames:
        out = runner.run(np.asarray(x, np.float32), *state)
        state = out[len(out) - n_state :]
        outputs.append(out[: len(out) - n_state])
    return outputs
