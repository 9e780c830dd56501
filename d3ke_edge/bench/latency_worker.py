"""One latency measurement in a process of its own (so peak memory is that model's, not the benchmark's).

``python -m d3ke_edge.bench.latency_worker SPEC_JSON`` prints one JSON line: load time, first call, per-call times
and memory. Specs (``kind``):

- ``artefact``: ``path`` run through ``load_runtime`` (a per-frame artefact on a frame, a step artefact on params and
  its reset state);
- ``torch``: a registered per-frame model (``model``, ``size``, optional ``checkpoint``) in PyTorch eager, on
  ``device`` (cpu/cuda) in ``dtype`` (fp32/bf16) at ``batch``;
- ``torch_head``: a temporal head (``head``, ``dim``) in PyTorch eager: one output frame (a 243-frame window for the
  centre-frame head, one step for a causal one);
- ``pipeline``: ``video`` decoded with OpenCV, a centre square cropped and resized, ``path`` (per-frame artefact)
  and optionally ``step`` (a step artefact) per frame; the time of each stage.

Only torch, numpy, opencv and the runtime of the artefact are imported, lazily.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from ..infer.model import open_model
from ..models import get_model
from ..models.graphs import PerFrameGraph
from ..runtime import load_runtime
from ..train.checkpoint import load_checkpoint, model_from_checkpoint


def _memory_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB, from /proc (Linux); NaN elsewhere."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        return float("nan"), float("nan")


def _times_ms(fn, warmup: int, iters: int, sync=lambda: None, min_seconds: float = 1.0) -> list[float]:
    """Per-call times: at least ``iters`` calls and, for sub-millisecond models, at least ``min_seconds`` of them
    (up to 50x ``iters``), so a p50 of 0.3 ms is not decided by a handful of scheduler hiccups."""
    for _ in range(warmup):
        fn()
    sync()
    out: list[float] = []
    start = time.perf_counter()
    while len(out) < iters or (time.perf_counter() - start < min_seconds and len(out) < 50 * iters):
        t = time.perf_counter()
        fn()
        sync()
        out.append((time.perf_counter() - t) * 1e3)
    return out


def _artefact(spec: dict) -> dict:
    t = time.perf_counter()
    runner = load_runtime(spec["path"], threads=spec["threads"])
    load_s = time.perf_counter() - t
    meta = runner.metadata
    rng = np.random.default_rng(0)
    inputs = [rng.random(tuple(i["shape"]), dtype=np.float32) for i in meta["inputs"]]
    if meta["artefact"] == "step":  # the reset state, as the phone starts
        inputs = inputs[:1] + [np.zeros(tuple(s["shape"]), np.float32) for s in meta["state"]]
    return {"load_s": load_s, "runtime": runner.runtime, "fn": lambda: runner.run(*inputs)}


def _torch_model(spec: dict) -> dict:
    import torch

    t = time.perf_counter()
    if spec.get("checkpoint"):
        model = model_from_checkpoint(load_checkpoint(spec["checkpoint"]))
    else:
        torch.manual_seed(0)  # latency does not depend on the weights' values
        model = get_model(spec["model"], input_size=spec["size"])
    device = torch.device(spec.get("device", "cpu"))
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[spec.get("dtype", "fp32")]
    graph = PerFrameGraph(model).eval().to(device)
    x = model.input_spec.at_size(spec["size"] or model.input_size).example(spec.get("batch", 1)).to(device)
    load_s = time.perf_counter() - t

    def run():
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            return graph(x)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    name = "PyTorch eager" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else " (CPU)")
    return {"load_s": load_s, "runtime": name, "fn": run, "sync": sync}


def _torch_head(spec: dict) -> dict:
    import torch

    t = time.perf_counter()
    torch.manual_seed(0)
    head = get_model(spec["head"], dim=spec["dim"]).eval()
    device = torch.device(spec.get("device", "cpu"))
    head.to(device)
    load_s = time.perf_counter() - t
    if getattr(head, "causal", False):
        state = head.init_state(1)
        state = tuple(s.to(device) for s in state)
        x = torch.zeros(1, spec["dim"], device=device)

        def run():
            with torch.no_grad():
                return head.step(x, *state)
    else:  # one output frame = one full window (the centre-frame head sees window frames per prediction)
        x = torch.zeros(1, head.window, spec["dim"], device=device)

        def run():
            with torch.no_grad():
                return head.forward_window(x)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    return {"load_s": load_s, "runtime": "PyTorch eager" + (" (CUDA)" if device.type == "cuda" else " (CPU)"),
            "fn": run, "sync": sync}


def _pipeline(spec: dict) -> dict:
    """Decode, crop, model and step head per frame; returns per-stage times (the frame loop itself)."""
    import cv2

    head = Path(spec["step"]).stem.removeprefix("step_") if spec.get("step") else "none"
    model = open_model(spec["path"], head=head, threads=spec["threads"])  # the stream model infer runs
    size = model.input_size
    if not model.input_spec.is_image:
        raise ValueError(f"'{spec['path']}' is a landmark model: its video path (BlazePose every frame, then the model) "
                         "is timed by d3ke-edge infer's speed table, not by this image-crop loop")
    cap = cv2.VideoCapture(spec["video"])
    if not cap.isOpened():
        raise ValueError(f"cannot open video '{spec['video']}'")
    stages: dict[str, list[float]] = {"decode": [], "crop": [], "model": [], "step": [], "total": []}
    frames = 0
    while frames < spec["iters"] + spec["warmup"]:
        t0 = time.perf_counter()
        ok, frame = cap.read()
        if not ok:
            if frames == 0:
                raise ValueError(f"'{spec['video']}' has no decodable frame")
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)  # loop a short clip
            continue
        t1 = time.perf_counter()
        h, w = frame.shape[:2]
        side = min(h, w)  # the person box comes from the detector (a later stage); a centre square stands in
        y, x = (h - side) // 2, (w - side) // 2
        crop = cv2.resize(frame[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA)
        image = (cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        t2 = time.perf_counter()
        out = model.run_frame(image)
        t3 = time.perf_counter()
        model.run_head(out)  # the step head, its state carried (the per-frame outputs when there is none)
        t4 = time.perf_counter()
        if frames >= spec["warmup"]:
            for k, v in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
                stages[k].append(v * 1e3)
        frames += 1
    return {"stages": stages, "runtime": model.runtime, "size": size}


def measure(spec: dict) -> dict:
    """Run one spec in this process; the result without the callable."""
    import torch

    torch.set_num_threads(spec["threads"])  # TorchScript and eager; LiteRT/onnxruntime take threads at load
    rss0, _ = _memory_mb()
    if spec["kind"] == "pipeline":
        res = _pipeline(spec)
        rss1, peak = _memory_mb()
        total = res["stages"]["total"]
        return {"runtime": res["runtime"], "load_s": float("nan"), "first_ms": float("nan"), "times_ms": total,
                "stages_ms": {k: float(np.median(v)) if v else 0.0 for k, v in res["stages"].items()},
                "rss_before_mb": rss0, "rss_peak_mb": peak}
    prepared = {"artefact": _artefact, "torch": _torch_model, "torch_head": _torch_head}[spec["kind"]](spec)
    fn, sync = prepared["fn"], prepared.get("sync", lambda: None)
    t = time.perf_counter()
    fn()
    sync()
    first_ms = (time.perf_counter() - t) * 1e3
    times = _times_ms(fn, spec["warmup"], spec["iters"], sync, spec.get("min_seconds", 1.0))
    _, peak = _memory_mb()
    return {"runtime": prepared["runtime"], "load_s": prepared["load_s"], "first_ms": first_ms, "times_ms": times,
            "rss_before_mb": rss0, "rss_peak_mb": peak}


def main() -> None:
    spec = json.loads(sys.argv[1])
    try:
        result = measure(spec)
    except Exception as exc:  # reported to the parent, which names the candidate
        result = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
