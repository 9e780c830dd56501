"""Latency of exported artefacts against the server baseline, measured in the same run.

Every candidate runs in a process of its own (``latency_worker``), so load time, first call and peak memory are that
model's. Candidates:

- the user's models: artefacts, export folders (every per-frame and step artefact in them) or checkpoints (PyTorch
  eager);
- the server baseline: ``d3ke_resnext50`` at ``server_size`` px in PyTorch eager (as D3KE ran it) and through
  onnxruntime, and D3KE's 243-frame centre-frame head; on CUDA too when a GPU is present (batch 1 and 64,
  fp32/bf16). Its weights are a checkpoint's when given (``server``), random otherwise: latency does not depend on
  the weights' values;
- the edge sweep: registered backbones x input sizes x formats (TFLite fp32/int8, ONNX fp32), random weights,
  converted once into ``OUT/cache/sweep`` (a rerun converts nothing).

Every row carries its ratio to the server baseline's PyTorch eager CPU p50 at the same thread count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..artefacts import size_mb
from ..models import get_model, list_models
from ..runtime import KERNELS, read_metadata
from ..train.checkpoint import CheckpointError, load_checkpoint
from ..utils.atomic import atomic_write_text

__all__ = ["LatencyConfig", "Candidate", "candidates_from", "run_latency", "latency_markdown",
           "server_candidates"]

SERVER_MODEL = "d3ke_resnext50"
SERVER_HEAD = "transformer_centre243"
SWEEP_FORMATS = ("tflite_fp32", "tflite_int8", "onnx_fp32")


@dataclass(frozen=True)
class LatencyConfig:
    threads: tuple[int, ...] = (1, 2)
    warmup: int = 5
    iters: int = 50
    min_seconds: float = 1.0  # sub-millisecond models: time at least this long (a p50 of 30 calls is noise)
    server_size: int = 256
    server: bool = True
    server_onnx: bool = True
    sweep_models: tuple[str, ...] = ("d3ke_mnv3_small", "d3ke_mnv3_large", "d3ke_effnet_b0")
    sweep_sizes: tuple[int, ...] = (128, 192, 256)
    sweep_formats: tuple[str, ...] = SWEEP_FORMATS
    video: str | None = None  # a video for the whole per-frame path (decode, crop, LiteRT model, step head)
    cuda: bool = True  # also on the GPU when one is present

    def __post_init__(self) -> None:
        if not self.threads or any(t < 1 for t in self.threads):
            raise ValueError(f"threads must be positive integers, got {self.threads}")
        if self.iters < 5 or self.warmup < 0:
            raise ValueError(f"iters must be at least 5 (a p99 of fewer is meaningless), got {self.iters}")
        known = list_models("d3ke_*")
        unknown = [m for m in self.sweep_models if m not in known]
        if unknown:
            raise ValueError(f"unknown sweep model(s) {unknown}; choose from {', '.join(known)}")
        bad = [f for f in self.sweep_formats if f not in SWEEP_FORMATS]
        if bad:
            raise ValueError(f"unknown sweep format(s) {bad}; choose from {', '.join(SWEEP_FORMATS)}")
        if any(not 32 <= s <= 512 or s % 32 for s in (*self.sweep_sizes, self.server_size)):
            raise ValueError("input sizes must be multiples of 32 within 32-512 (the backbones' stride)")


@dataclass
class Candidate:
    """One thing to time: ``spec`` for the worker (without threads/iters), and how to label it."""

    name: str
    group: str  # user | server | sweep
    spec: dict
    precision: str = "fp32"
    size: int | None = None
    model: str | None = None
    file: str | None = None


def _artefact_candidate(path: Path, group: str = "user") -> Candidate:
    try:
        meta = read_metadata(path)
    except (ValueError, FileNotFoundError):
        raise
    except Exception as exc:  # each runtime fails in its own way on a file that is not its model
        raise ValueError(f"'{path}' is not a readable artefact ({type(exc).__name__}: {exc}); export it again") from exc
    kind = meta.get("artefact")
    model = meta["model"].get("backbone") if kind == "per_frame" else meta.get("head")
    size = int(meta["model"]["input_size"]) if kind == "per_frame" else None
    name = f"{path.parent.name}/{path.name}"
    return Candidate(name, group, {"kind": "artefact", "path": str(path)}, meta.get("precision", "fp32"), size,
                     ("step " if kind == "step" else "") + str(model), str(path))


def candidates_from(spec: str | Path) -> list[Candidate]:
    """A per-frame or step artefact, an export folder (every artefact in it) or a per-frame checkpoint."""
    path = Path(spec).resolve()
    if not path.exists():
        raise FileNotFoundError(f"model '{spec}' does not exist: give an artefact, an export folder or a checkpoint")
    if path.is_dir() and path.suffix != ".mlpackage":
        found = sorted(p for p in path.rglob("*") if p.suffix in KERNELS and (p.suffix != ".pt" or p.is_file())
                       and ".staging-" not in str(p) and not any(q.suffix == ".mlpackage" for q in p.parents))
        if not found:
            raise ValueError(f"'{path}' holds no artefact ({', '.join(KERNELS)})")
        return [_artefact_candidate(p) for p in found]
    if path.suffix == ".pt":
        try:
            ckpt = load_checkpoint(path)
        except CheckpointError:
            return [_artefact_candidate(path)]
        size = int(ckpt["config"]["model"].get("input_size") or 0) or None
        return [Candidate(f"{path.parent.name}/{path.name}", "user",
                          {"kind": "torch", "model": ckpt["model_name"], "size": size, "checkpoint": str(path)},
                          size=size, model=ckpt["model_name"], file=str(path))]
    return [_artefact_candidate(path)]


def server_candidates(cfg: LatencyConfig, out: Path, checkpoint: str | None = None,
                      say: Callable[[str], object] = print, convert: Callable[..., Path] | None = None
                      ) -> list[Candidate]:
    """The server baseline: PyTorch eager CPU (the reference), onnxruntime, the 243-frame head, CUDA if present.
    The onnxruntime row needs ``convert`` (``export.sweep.sweep_artefact``: benchmarks run artefacts, export makes
    them)."""
    import torch

    size = cfg.server_size
    base = {"kind": "torch", "model": SERVER_MODEL, "size": size, "checkpoint": checkpoint}
    rows = [Candidate(f"{SERVER_MODEL} {size}px", "server", dict(base), size=size, model=SERVER_MODEL)]
    if cfg.server_onnx:
        if convert is None:
            raise ValueError("the server baseline's onnxruntime row needs a converter (export.sweep.sweep_artefact)")
        path = convert(SERVER_MODEL, size, "onnx_fp32", out / "cache" / "sweep", say, checkpoint)
        rows.append(Candidate(f"{SERVER_MODEL} {size}px", "server", {"kind": "artefact", "path": str(path)},
                              size=size, model=SERVER_MODEL, file=str(path)))
    dim = get_model(SERVER_MODEL, input_size=64).space.dim
    rows.append(Candidate(f"{SERVER_HEAD} (per output frame)", "server",
                          {"kind": "torch_head", "head": SERVER_HEAD, "dim": dim}, model=SERVER_HEAD))
    if cfg.cuda and torch.cuda.is_available():
        for dtype in ("fp32", "bf16"):
            for batch in (1, 64):
                rows.append(Candidate(f"{SERVER_MODEL} {size}px batch {batch}", "server",
                                      {**base, "device": "cuda", "dtype": dtype, "batch": batch}, dtype, size,
                                      SERVER_MODEL))
        rows.append(Candidate(f"{SERVER_HEAD} (per output frame)", "server",
                              {"kind": "torch_head", "head": SERVER_HEAD, "dim": dim, "device": "cuda"},
                              model=SERVER_HEAD))
    return rows


def _run_worker(spec: dict, timeout: float = 900) -> dict:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-m", "d3ke_edge.bench.latency_worker", json.dumps(spec)],
                          capture_output=True, text=True, timeout=timeout, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"worker exited {proc.returncode}: {' / '.join(tail)}"}
    return json.loads(lines[-1])


def _row(c: Candidate, threads: int, res: dict) -> dict:
    row = {"name": c.name, "group": c.group, "kind": c.spec["kind"], "precision": c.precision, "size": c.size,
           "model": c.model, "file": c.file, "file_mb": size_mb(Path(c.file)) if c.file else None, "threads": threads,
           "device": c.spec.get("device", "cpu"), "batch": c.spec.get("batch", 1)}
    if "error" in res:
        return {**row, "error": res["error"]}
    t = np.asarray(res["times_ms"])
    row.update(runtime=res["runtime"], load_s=res["load_s"], first_ms=res["first_ms"],
               p50_ms=float(np.percentile(t, 50)), p90_ms=float(np.percentile(t, 90)),
               p99_ms=float(np.percentile(t, 99)), mean_ms=float(t.mean()),
               fps=float(1e3 * row["batch"] / t.mean()), rss_peak_mb=res["rss_peak_mb"],
               rss_model_mb=res["rss_peak_mb"] - res["rss_before_mb"])
    if "stages_ms" in res:
        row["stages_ms"] = res["stages_ms"]
    return row


def run_latency(cands: list[Candidate], cfg: LatencyConfig, out: str | Path,
                progress: Callable[[str], object] | None = None, meta: dict | None = None) -> dict:
    """Time every candidate at every thread count, add ratios to the server baseline, write latency.json|md."""
    say = progress or (lambda msg: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for c in cands:
        for threads in cfg.threads if c.spec.get("device", "cpu") == "cpu" else (1,):
            say(f"timing {c.name} ({c.precision}, {threads} thread{'s' * (threads > 1)})")
            spec = {**c.spec, "threads": threads, "warmup": cfg.warmup, "iters": cfg.iters,
                    "min_seconds": cfg.min_seconds}
            rows.append(_row(c, threads, _run_worker(spec)))
    if cfg.video:
        for c in cands:
            # the phone's path: LiteRT per-frame artefacts, each with the step model of its folder
            if c.group == "user" and c.spec["kind"] == "artefact" and c.size and c.file.endswith(".tflite"):
                step = next((d.file for d in cands if d.group == "user" and d.model and d.model.startswith("step")
                             and Path(d.file).suffix == Path(c.file).suffix
                             and Path(d.file).parent == Path(c.file).parent), None)
                for threads in cfg.threads:
                    say(f"timing the per-frame path over the video with {c.name}")
                    spec = {"kind": "pipeline", "path": c.file, "step": step, "video": cfg.video,
                            "threads": threads, "warmup": cfg.warmup, "iters": cfg.iters}
                    p = Candidate(f"video path: {c.name}" + (f" + {Path(step).name}" if step else ""), "pipeline",
                                  spec, c.precision, c.size, c.model, c.file)
                    rows.append(_row(p, threads, _run_worker(spec)))
    _ratios(rows)
    env = _machine()
    results = {"config": asdict(cfg), "machine": env, **(meta or {}), "rows": rows}
    atomic_write_text(out / "latency.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(out / "latency.md", latency_markdown(results))
    return results


def _ratios(rows: list[dict]) -> None:
    """Each CPU row's p50 as a fraction of the server baseline's PyTorch eager CPU p50 at the same thread count."""
    base = {r["threads"]: r["p50_ms"] for r in rows if r["group"] == "server" and r["kind"] == "torch"
            and r["device"] == "cpu" and "p50_ms" in r}
    for r in rows:
        if "p50_ms" in r and r["threads"] in base and r["device"] == "cpu":
            r["vs_server"] = r["p50_ms"] / base[r["threads"]]
            r["speedup_vs_server"] = base[r["threads"]] / r["p50_ms"]


def _machine() -> dict:
    import platform

    import torch

    cpu = ""
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                   if ln.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    flags = ""
    try:
        f = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")).split()
        flags = ", ".join(x for x in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile") if x in f)
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "isa": flags, "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def latency_markdown(results: dict) -> str:
    m = results["machine"]
    lines = ["# Latency", "", f"Measured on {m['cpu']} ({m['isa'] or 'no AVX2'}, {m['cores']} cores"
             + (f", {m['gpu']}" if m.get("gpu") else "") + f"), torch {m['torch']}. Each row in a process of its own; "
             f"{results['config']['iters']} timed calls after {results['config']['warmup']} warm-up calls. "
             "`x server` is p50 divided by the server baseline's (PyTorch eager, CPU, same threads): below 1 is "
             "faster. Sweep and server rows use random weights (latency does not depend on their values).", "",
             "| group | model | runtime | prec | px | thr | load s | first ms | p50 ms | p90 ms | p99 ms | fps | "
             "x server | RSS MB | file MB |", "|" + "---|" * 15]
    for r in results["rows"]:
        if "error" in r:
            lines.append(f"| {r['group']} | {r['name']} | failed: {r['error']} |" + " |" * 12)
            continue
        f = lambda v, d=1: "" if v is None or v != v else f"{v:.{d}f}"  # noqa: E731 - NaN/None as blank
        lines.append(f"| {r['group']} | {r['name']} | {r['runtime']} | {r['precision']} | {r['size'] or ''} | "
                     f"{r['threads']} | {f(r['load_s'], 2)} | {f(r['first_ms'])} | {f(r['p50_ms'], 2)} | "
                     f"{f(r['p90_ms'], 2)} | {f(r['p99_ms'], 2)} | {f(r['fps'])} | {f(r.get('vs_server'), 3)} | "
                     f"{f(r['rss_peak_mb'], 0)} | {f(r['file_mb'], 2)} |")
    stages = [r for r in results["rows"] if "stages_ms" in r]
    if stages:
        lines += ["", "Per-frame path over a video (median ms per stage; the crop is a centre square until the "
                  "person detector exists):", "", "| path | thr | decode | crop | model | step | total |",
                  "|---|---|---|---|---|---|---|"]
        for r in stages:
            s = r["stages_ms"]
            lines.append(f"| {r['name']} | {r['threads']} | {s['decode']:.2f} | {s['crop']:.2f} | {s['model']:.2f} | "
                         f"{s['step']:.2f} | {s['total']:.2f} |")
    return "\n".join(lines) + "\n"
