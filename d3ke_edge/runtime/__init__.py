"""Runtimes that execute exported artefacts: one loader, one interface.

``load_runtime(path)`` picks the runtime from the file type and returns a ``Runner``: ``run(*arrays)`` takes the
inputs in the artefact's input order and returns its outputs in the metadata's output order, as numpy arrays.
Runtimes: ai-edge-litert Interpreter (XNNPACK) for .tflite, onnxruntime for .onnx, ``torch.jit.load`` for
TorchScript .pt, and for .mlpackage ``MLModel.predict`` on macOS or the MIL reference executor elsewhere.
"""

from __future__ import annotations

import json
import platform
import re
import warnings
from pathlib import Path

import numpy as np

__all__ = ["Runner", "load_runtime", "read_metadata"]


class Runner:
    """Base: ``metadata`` (the artefact's embedded dict), ``runtime`` (what executes it), ``run(*inputs)``."""

    runtime = ""

    def __init__(self, path: Path, metadata: dict):
        self.path, self.metadata = path, metadata
        self.input_names = [i["name"] for i in metadata["inputs"]]
        self.output_names = [o["name"] for o in metadata["outputs"]]

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError


class TFLiteRunner(Runner):
    runtime = "ai-edge-litert Interpreter (XNNPACK)"

    def __init__(self, path: Path, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        from ..export.targets.tflite import read_metadata as meta

        super().__init__(path, meta(path))
        self.interpreter = Interpreter(str(path), num_threads=threads)
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

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map.get("d3ke_metadata")
        if meta is None:
            raise ValueError(f"'{path}' has no d3ke_metadata: not a d3ke-edge export")
        super().__init__(path, json.loads(meta))

    def run(self, *inputs):
        feeds = {n: np.ascontiguousarray(x, dtype=np.float32) for n, x in zip(self.input_names, inputs)}
        return self.session.run(self.output_names, feeds)


class TorchScriptRunner(Runner):
    runtime = "torch.jit.load"

    def __init__(self, path: Path, threads: int | None = None):
        import torch

        from ..export.targets.torchscript import METADATA_FILE

        extra = {METADATA_FILE: ""}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.module = torch.jit.load(str(path), _extra_files=extra, map_location="cpu")
        if not extra[METADATA_FILE]:
            raise ValueError(f"'{path}' has no {METADATA_FILE}: not a d3ke-edge export")
        super().__init__(path, json.loads(extra[METADATA_FILE]))  # threads: torch's are process-wide, left as set

    def run(self, *inputs):
        import torch

        with torch.no_grad():
            out = self.module(*[torch.as_tensor(np.asarray(x, dtype=np.float32)) for x in inputs])
        return [o.numpy() for o in out]


class CoreMLRunner(Runner):
    def __init__(self, path: Path, threads: int | None = None):
        import coremltools as ct

        from ..export.targets.coreml import METADATA_KEY

        spec = ct.utils.load_spec(str(path))
        meta = spec.description.metadata.userDefined.get(METADATA_KEY)
        if meta is None:
            raise ValueError(f"'{path}' has no {METADATA_KEY}: not a d3ke-edge export")
        super().__init__(path, json.loads(meta))
        if platform.system() == "Darwin":
            self.model = ct.models.MLModel(str(path))
            self.runtime = "coremltools MLModel.predict (Core ML)"
        else:
            from .mil_executor import MilProgram

            self.model = MilProgram(path)
            self.runtime = "MIL reference executor (PyTorch ops; Core ML predict needs macOS)"

    def run(self, *inputs):
        feeds = {n: np.asarray(x, dtype=np.float32) for n, x in zip(self.input_names, inputs)}
        out = self.model.predict(feeds) if hasattr(self.model, "predict") else self.model.run(feeds)
        return [np.asarray(out[n], dtype=np.float32) for n in self.output_names]


_RUNNERS = {".tflite": TFLiteRunner, ".onnx": OnnxRunner, ".pt": TorchScriptRunner, ".mlpackage": CoreMLRunner}


def load_runtime(path: str | Path, threads: int | None = None) -> Runner:
    """The runner for an exported artefact (by extension)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"artefact '{path}' does not exist")
    cls = _RUNNERS.get(path.suffix)
    if cls is None:
        raise ValueError(f"'{path}': unknown artefact type '{path.suffix}'; expected one of {sorted(_RUNNERS)}")
    return cls(path, threads)


def read_metadata(path: str | Path) -> dict:
    return load_runtime(path).metadata
