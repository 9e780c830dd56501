"""One model loader for everything that runs a model: ``open_model`` -> a ``StreamModel``, a per-frame model and an
optional temporal head from a checkpoint (PyTorch), an export folder or one exported artefact (its runtime).
``step()`` runs one frame with explicit state (the phone's loop, ``d3ke-edge infer``); ``run()`` a whole sequence
from the reset state (the benchmarks). Every variant returns the same decoded outputs
(``models.graphs.DECODED_OUTPUTS``); a checkpoint is read once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..artefacts import RUNTIME_FOLDERS, pick_head
from ..models.graphs import DECODED_OUTPUTS, PerFrameGraph, StepGraph
from ..models.inputs import InputSpec
from ..runtime import load_runtime
from ..train.checkpoint import CheckpointError, head_frame_rate, load_bundle, load_checkpoint, model_from_checkpoint

__all__ = ["InferModelError", "StreamModel", "open_model"]


class InferModelError(ValueError):
    """A model infer cannot run (wrong kind, missing head, another skeleton); the message says what to give."""


@dataclass
class StreamModel:
    """``step(x)`` -> decoded outputs of one frame (numpy, batch 1); ``reset()`` restarts the head's state. ``x`` is
    what the per-frame model takes (``input_spec``): an RGB crop, or the landmark features."""

    name: str
    runtime: str
    input_size: int
    metadata: dict  # the per-frame model's (skeleton names, ranges, normalisation)
    head: str | None
    head_fps: float | None  # the frame rate the head was trained at (None: not recorded by an older export)
    _frame: object
    _step: object
    _state0: list
    arch: str = ""  # the per-frame architecture (a registered model's name, or the export's backbone)
    checkpoint: Path | None = None  # the checkpoint it runs, when it is one
    _sequence: object = None  # (T, ...) -> (T, outputs): a whole sequence at once (PyTorch), else frame by frame

    def __post_init__(self) -> None:
        self.reset()

    @property
    def input_spec(self) -> InputSpec:
        """What the per-frame model takes (read from its metadata)."""
        return InputSpec.of_metadata(self.metadata)

    def reset(self) -> None:
        self._state = [s.copy() for s in self._state0]

    def run_frame(self, x: np.ndarray) -> list[np.ndarray]:
        """The per-frame model on ``x``: an image (1, 3, S, S) float32 RGB in [0, 1], or landmark features (1, 135 or 234);
        returns params, then the decoded outputs."""
        return self._frame(x)

    def run_head(self, frame_out: list[np.ndarray]) -> dict[str, np.ndarray]:
        """The step head on one frame's outputs (state carried); without a head the per-frame outputs."""
        out = frame_out
        if self._step is not None:
            res = self._step(frame_out[0], *self._state)
            n = len(self._state)
            self._state, out = list(res[len(res) - n :]), res[: len(res) - n]
        return {"params": out[0], **dict(zip(DECODED_OUTPUTS, out[1:]))}

    def step(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """One frame (batch 1) through the per-frame model and the head, the head's state carried."""
        if self._step is None and self.head is not None:
            raise InferModelError(f"head '{self.head}' is not causal: it needs the whole sequence (run), not a frame "
                                  "at a time")
        return self.run_head(self.run_frame(x))

    def run(self, xs: np.ndarray) -> dict[str, np.ndarray]:
        """A whole sequence ``xs`` (T, ...) from the reset state -> decoded outputs (T, ...): what stepping it frame by
        frame gives (a PyTorch model runs the sequence forms at once; equal to stepping, tested)."""
        if self._sequence is not None:
            return self._sequence(np.asarray(xs, np.float32))
        self.reset()
        rows = [self.step(np.asarray(x, np.float32)[None]) for x in xs]
        return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


def _torch_model(path: Path, head: str, ckpt: dict) -> StreamModel:
    bundle = load_bundle(path, ckpt)
    graph = PerFrameGraph(bundle.model).eval()
    space = bundle.model.space
    offline = _offline_head(path, head) if head not in ("auto", "none", *bundle.heads) else None
    head = head if offline is not None else _pick_head(
        head, sorted(bundle.heads), f"'{path.parent}' (temporal_<head>.pt trained on '{path.name}')")
    step, state0, module = None, [], offline
    if head is not None and offline is None:
        module = bundle.heads[head]
        step_graph = StepGraph(module, space).eval()
        state0 = [s.numpy() for s in module.init_state(1)]

        def step(*xs):
            with torch.no_grad():
                return [o.numpy() for o in step_graph(*[torch.as_tensor(x) for x in xs])]

    def frame(x):
        with torch.no_grad():
            return [o.numpy() for o in graph(torch.as_tensor(x))]

    def sequence(xs):
        with torch.no_grad():
            out = graph(torch.as_tensor(xs))
            if module is None:
                return {"params": out[0].numpy(), **{k: v.numpy() for k, v in zip(DECODED_OUTPUTS, out[1:])}}
            refined = module(out[0][None])[0]  # a causal head's sequence form equals stepping it from reset
            dec = space.decode_params(refined)
            return {"params": refined.numpy(), **{k: dec[k].numpy() for k in DECODED_OUTPUTS}}

    return StreamModel(f"{path.name} ({bundle.name})", "PyTorch (eager)", int(bundle.model.input_size),
                       bundle.model.metadata(), head, head_frame_rate(bundle) if head else None, frame, step, state0,
                       arch=bundle.name, checkpoint=path, _sequence=sequence)


def _offline_head(path: Path, head: str):
    """A non-causal head beside the checkpoint (D3KE's centre-frame transformer): whole sequences only."""
    file = path.with_name(f"temporal_{head}.pt")
    if not file.is_file():
        return None
    module = model_from_checkpoint(load_checkpoint(file)).eval()
    return None if getattr(module, "causal", False) else module


def _pick_head(head: str, available: list[str], where: str) -> str | None:
    try:
        return pick_head(head, available, where)
    except ValueError as exc:
        raise InferModelError(str(exc)) from None


def _artefact_model(path: Path, head: str, threads: int | None) -> StreamModel:
    runner = load_runtime(path, threads=threads)
    meta = runner.metadata
    if meta.get("artefact") != "per_frame":
        raise InferModelError(f"'{path}' is a {meta.get('artefact')} artefact; give the per-frame one "
                              f"(per_frame_*{path.suffix}) — its step head is taken from beside it")
    size = int(meta["model"]["input_size"])
    shape = meta["inputs"][0]["shape"]
    want = list(InputSpec.of_metadata(meta["model"]).shape)
    if list(shape) != want or meta["inputs"][0]["name"] != InputSpec.of_metadata(meta["model"]).name:
        raise InferModelError(f"'{path}' takes an input of shape {shape}, not {want} as its metadata says: the "
                              "artefact is damaged or not from this toolkit")
    steps = sorted(p.stem.removeprefix("step_") for p in path.parent.glob(f"step_*{path.suffix}"))
    head = _pick_head(head, steps, f"'{path.parent}' (step_<head>{path.suffix})")
    step, state0, head_fps = None, [], None
    if head is not None:
        step_runner = load_runtime(path.with_name(f"step_{head}{path.suffix}"), threads=threads)
        sm = step_runner.metadata
        if sm.get("artefact") != "step":
            raise InferModelError(f"'{step_runner.path}' is a {sm.get('artefact')} artefact, not a step model: not one "
                                  "export")
        if sm["model"]["skeleton_hash"] != meta["model"]["skeleton_hash"]:
            raise InferModelError(f"step model '{head}' is for skeleton {sm['model']['skeleton_name']} but the "
                                  f"per-frame model for {meta['model']['skeleton_name']}: not one export")
        dim = meta["outputs"][0]["shape"][-1]
        if sm["inputs"][0]["shape"][-1] != dim:
            raise InferModelError(f"step model '{head}' takes {sm['inputs'][0]['shape'][-1]} parameters, the per-frame "
                                  f"model gives {dim}: not one export")
        state0 = [np.zeros(tuple(s["shape"]), np.float32) for s in sm["state"]]
        step = step_runner.run
        head_fps = sm.get("frame_rate_hz")
    return StreamModel(f"{path.parent.name}/{path.name}", runner.runtime, size, meta["model"], head,
                       head_fps if head else None, runner.run, step, state0, arch=str(meta["model"].get("backbone", "")))


def _export_artefact(folder: Path, runtime: str | None, precision: str | None) -> Path:
    """The per-frame artefact of an export folder: the runtime/precision asked for, else the measured phone default
    (``phone_default.json``), else LiteRT fp32."""
    default = folder / "phone_default.json"
    if runtime is None and precision is None and default.is_file():
        chosen = folder / json.loads(default.read_text())["artefact"]
        if chosen.exists():
            return chosen
    runtime = runtime or "litert"
    if runtime not in RUNTIME_FOLDERS:
        raise InferModelError(f"runtime '{runtime}' is unknown for an export folder; choose from "
                              f"{', '.join(RUNTIME_FOLDERS)} (or pytorch with a checkpoint)")
    sub, ext = RUNTIME_FOLDERS[runtime]
    path = folder / sub / f"per_frame_{precision or 'fp32'}{ext}"
    if not path.exists():
        have = sorted(p.relative_to(folder).as_posix() for p in folder.glob(f"*/per_frame_*{ext}"))
        raise InferModelError(f"'{folder}' has no {path.relative_to(folder)}; it has: {', '.join(have) or 'none'}")
    return path


def open_model(model: str | Path, runtime: str | None = None, precision: str | None = None,
               head: str = "auto", threads: int | None = 1) -> StreamModel:
    """``model``: a per-frame checkpoint (runtime ``pytorch``), an export folder (``runtime``/``precision`` pick the
    artefact) or a per-frame artefact file (its runtime). ``head``: auto, none, or a head's name (a checkpoint's
    non-causal head runs whole sequences only)."""
    path = Path(model)
    if not path.exists():
        raise InferModelError(f"model '{path}' does not exist: give a checkpoint, an export folder or an artefact")
    if path.is_dir() and path.suffix != ".mlpackage":
        if runtime == "pytorch":
            raise InferModelError("runtime pytorch runs a checkpoint; give its checkpoint_best.pt, not a folder")
        return _artefact_model(_export_artefact(path, runtime, precision), head, threads)
    if path.suffix == ".pt":
        try:
            ckpt = load_checkpoint(path)
        except CheckpointError:
            pass  # a TorchScript artefact
        else:
            if runtime not in (None, "pytorch"):
                raise InferModelError(f"'{path}' is a checkpoint: it runs in PyTorch; export it first to run it in "
                                      f"{runtime} (d3ke-edge export {path} --out DIR)")
            return _torch_model(path, head, ckpt)
    return _artefact_model(path, head, threads)
