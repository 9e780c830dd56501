"""The short GPU check of issue 4: server-baseline training throughput, error after a fixed budget, latency.

    PYTHONPATH=. python benchmarks/gpu_check.py [--out DIR] [--budget-s 150] [--deadline-s 420] [--smoke]

Parts (each appended to DIR/gpu_check.json as soon as it is measured, so a run cut short keeps what it had):
1. ``latency``: per-frame model forward time (batch 1 and 64; fp32 and bf16) for the server baseline and two
   edge backbones, median of timed repetitions after warm-up.
2. ``render``: synthetic crops/s of the on-GPU renderer at the training size.
3. ``step``: optimisation steps/s on one fixed batch (the model's share of a training step, no data).
4. ``throughput``: ``train()`` with ``train/server_resnext50.yaml``'s settings for a few hundred steps, data
   included (rendered on the GPU on the fly); the steady rate excludes the first pool fill.
5. ``budget``: a full schedule sized to ``--budget-s`` seconds at the measured rate; validation angle MAE,
   marker MPJPE and the mean-pose baseline on the validation split.
6. ``compile``: the throughput run again with ``torch.compile`` (only if time is left before the deadline).

Prints every part and writes DIR/gpu_check.json and DIR/gpu_check.md. No thresholds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from d3ke_edge.models.registry import get_model
from d3ke_edge.train.config import (
    DataConfig,
    Experiment,
    LossConfig,
    ModelConfig,
    OptimConfig,
)
from d3ke_edge.train.data import SynthSource, sequence_seed, synth_config
from d3ke_edge.train.loop import train
from d3ke_edge.train.losses import d3ke_loss
from d3ke_edge.utils.atomic import atomic_write_text

T0 = time.perf_counter()


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def median_ms(fn, dev, reps: int) -> float:
    """``fn``'s median wall time (ms) over ``reps`` calls after three warm-up calls, the device synchronised."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        _sync(dev)
        t = time.perf_counter()
        fn()
        _sync(dev)
        times.append((time.perf_counter() - t) * 1e3)
    return sorted(times)[len(times) // 2]


def latency(dev: torch.device, smoke: bool) -> list[dict]:
    rows = []
    for name, size in [("d3ke_resnext50", 256), ("d3ke_mnv3_large", 192), ("d3ke_effnet_b0", 192)]:
        model = get_model(name, input_size=size).to(dev).eval()
        if dev.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        for batch in (1, 64):
            x = torch.rand(batch, 3, size, size, device=dev)
            for prec in ("fp32", "bf16") if dev.type == "cuda" else ("fp32",):
                ctx = torch.autocast("cuda", torch.bfloat16) if prec == "bf16" else torch.autocast("cpu", enabled=False)

                def fn():
                    with torch.no_grad(), ctx:
                        model(x)

                ms = median_ms(fn, dev, 3 if smoke else 30)
                rows.append({"model": name, "size": size, "batch": batch, "precision": prec,
                             "ms_per_call": round(ms, 3), "frames_per_s": round(batch / ms * 1e3, 1)})
                print(rows[-1], flush=True)
    return rows


def render_rate(exp: Experiment, dev: torch.device, smoke: bool, chunk: int | None = None) -> dict:
    """Crops/s of the renderer as training uses it: ``data.render_batch`` sequences per batched draw."""
    from d3ke_edge.data.synth import SynthEngine

    cfg = synth_config(exp.data, exp.model.input_size, str(dev))
    cfg = dataclasses.replace(cfg, chunk=chunk or cfg.chunk)
    engine = SynthEngine(cfg)
    k = exp.data.render_batch
    engine.sequences(list(range(k)), as_numpy=False)  # warm-up
    n = 2 if smoke else max(12, 2 * k)
    _sync(dev)
    t = time.perf_counter()
    frames = sum(len(seq["image"]) for i in range(0, n, k)
                 for seq in engine.sequences([sequence_seed(0, 1, j) for j in range(i, i + k)], as_numpy=False))
    _sync(dev)
    return {"crops_per_s": round(frames / (time.perf_counter() - t), 1), "size": cfg.size, "chunk": cfg.chunk,
            "render_batch": k}


def render_sweep(exp: Experiment, dev: torch.device, smoke: bool) -> list[dict]:
    """Crops/s over sequences per draw x frames per chunk, to choose ``render_batch`` and the CUDA chunk."""
    rows = []
    for k in (1, 2) if smoke else (1, 4, 8, 16):
        for chunk in (16,) if smoke else (64, 256, 512):
            e = dataclasses.replace(exp, data=dataclasses.replace(exp.data, render_batch=k))
            rows.append(render_rate(e, dev, smoke, chunk))
    return rows


def render_split(exp: Experiment, dev: torch.device, smoke: bool) -> dict:
    """Where a rendered sequence's time goes: CPU motion generation vs the rest (GPU FK, raster, labels)."""
    import numpy as np

    from d3ke_edge.data.motion import generate_motion
    from d3ke_edge.data.subjects import sample_subject
    from d3ke_edge.data.synth import SynthEngine

    cfg = synth_config(exp.data, exp.model.input_size, str(dev))
    engine = SynthEngine(cfg)
    engine.sequence(0, as_numpy=False)
    n = 2 if smoke else 12
    t = time.perf_counter()
    for i in range(n):
        rng = np.random.default_rng(i)
        sub = sample_subject(engine.skel, rng)
        generate_motion(engine.skel, cfg.families[i % len(cfg.families)], rng, cfg.seconds, cfg.fps, sub.scales,
                        engine.fk_motion)
    motion_ms = (time.perf_counter() - t) / n * 1e3
    _sync(dev)
    t = time.perf_counter()
    frames = sum(len(engine.sequence(i, as_numpy=False)["image"]) for i in range(n))
    _sync(dev)
    seq_ms = (time.perf_counter() - t) / n * 1e3
    return {"sequence_ms": round(seq_ms, 1), "motion_cpu_ms": round(motion_ms, 1),
            "frames_per_sequence": frames // n, "crops_per_s": round(frames / n / seq_ms * 1e3, 1)}


def step_rate(exp: Experiment, dev: torch.device, smoke: bool, compile_mode: str | None = None) -> dict:
    """Optimisation steps on one fixed batch: the model-side ceiling of the training throughput."""
    model = get_model(exp.model.name, input_size=exp.model.input_size).to(dev).train()
    cuda = dev.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = SynthSource(exp.data, exp.model.input_size, exp.optim.batch, 0, str(dev))(0)
    batch = {k: v.to(dev) for k, v in batch.items()}
    image = batch["image"].contiguous(memory_format=torch.channels_last) if cuda else batch["image"]

    fwd = torch.compile(model, mode=compile_mode) if compile_mode else model
    t = time.perf_counter()

    def one():
        with torch.autocast("cuda", torch.bfloat16, enabled=cuda):
            pred = fwd(image)
        pred = {k: v.float() for k, v in pred.items()}
        loss, _ = d3ke_loss(pred, batch, model.space, exp.loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    one()
    _sync(dev)
    first_s = time.perf_counter() - t
    ms = median_ms(one, dev, 3 if smoke else 30)
    return {"compile": compile_mode or "eager", "first_step_s": round(first_s, 1), "ms_per_step": round(ms, 2),
            "frames_per_s": round(exp.optim.batch / ms * 1e3, 1)}


def run_train(exp: Experiment, label: str) -> dict:
    stamps: list[tuple[int, float]] = []
    summary = train(exp, on_step=lambda step, info: stamps.append((step, time.perf_counter())))
    half = len(stamps) // 3
    (s0, t0), (s1, t1) = stamps[half], stamps[-1]
    steady = (s1 - s0) * exp.optim.batch / max(1e-9, t1 - t0)
    best = summary["best"]
    return {"label": label, "steps": exp.optim.steps, "batch": exp.optim.batch,
            "train_seconds": round(summary["train_seconds"], 1),
            "frames_per_s_overall": round(summary["frames_per_s"], 1), "frames_per_s_steady": round(steady, 1),
            "val_angle_mae_deg": round(best.get("angle_mae_deg", float("nan")), 3),
            "val_marker_mpjpe_mm": round(best.get("marker_mpjpe_mm", float("nan")), 2),
            "val_joint_mpjpe_mm": round(best.get("joint_mpjpe_mm", float("nan")), 2),
            "mean_pose_angle_mae_deg": round(summary["mean_pose"]["angle_mae_deg"], 3),
            "history": summary["history"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/reports"))
    ap.add_argument("--budget-s", type=float, default=150.0)
    ap.add_argument("--deadline-s", type=float, default=420.0)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, to check the script on a CPU")
    ap.add_argument("--parts", default="latency,render,step,throughput,budget,compile",
                    help="comma-separated subset; extra: render_sweep, render_split, step_compile, step_cudagraphs")
    ap.add_argument("--sequences-per-step", type=float, default=1.0)
    ap.add_argument("--render-batch", type=int, default=8, help="sequences per batched draw (data.render_batch)")
    args = ap.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    tmp = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    # train/server_resnext50.yaml's settings (read here without YAML: the device has no PyYAML)
    exp = Experiment(
        out=str(tmp / "run"),
        model=ModelConfig("d3ke_resnext50", 64 if args.smoke else 256),
        data=DataConfig(pool=4 if args.smoke else 64, sequences_per_step=args.sequences_per_step, workers=0,
                        render_batch=args.render_batch,
                        val_sequences=2 if args.smoke else 16, sequence_seconds=0.5 if args.smoke else 2.0),
        loss=LossConfig(),
        optim=OptimConfig(steps=6 if args.smoke else 300, batch=8 if args.smoke else 64, ckpt_every=10**9,
                          val_every=10**9, log_every=50, tensorboard=False, compile=False),
    )
    report: dict = {"device": torch.cuda.get_device_name() if dev.type == "cuda" else platform.processor(),
                    "torch": torch.__version__, "python": platform.python_version()}
    args.out.mkdir(parents=True, exist_ok=True)

    def save(part: str, value) -> None:
        report[part] = value
        report["elapsed_s"] = round(time.perf_counter() - T0, 1)
        print(f"== {part} ({report['elapsed_s']} s): {json.dumps(value)[:2000]}", flush=True)
        atomic_write_text(args.out / "gpu_check.json", json.dumps(report, indent=2) + "\n")

    parts = set(args.parts.split(","))
    left = lambda: args.deadline_s - (time.perf_counter() - T0)
    if "latency" in parts:
        save("latency", latency(dev, args.smoke))
    if "render" in parts:
        save("render", render_rate(exp, dev, args.smoke))
    if "render_sweep" in parts:
        save("render_sweep", render_sweep(exp, dev, args.smoke))
    if "render_split" in parts:
        save("render_split", render_split(exp, dev, args.smoke))
    if "step" in parts:
        save("step", step_rate(exp, dev, args.smoke))
    if "step_compile" in parts:
        save("step_compile", step_rate(exp, dev, args.smoke, "default"))
    if "throughput" in parts:
        save("throughput", run_train(exp, "throughput (eager, bf16, channels_last)"))
    if "budget" in parts and "throughput" in report:
        rate = report["throughput"]["frames_per_s_steady"]
        steps = 8 if args.smoke else max(200, int(args.budget_s * rate / exp.optim.batch))
        budget = dataclasses.replace(exp, out=str(tmp / "budget"),
                                     optim=dataclasses.replace(exp.optim, steps=steps, val_every=max(1, steps // 4)))
        save("budget", {"budget_s": args.budget_s, **run_train(budget, f"{args.budget_s:.0f} s schedule")})
    if "compile" in parts and (left() > 150 or args.smoke):
        comp = dataclasses.replace(exp, out=str(tmp / "compile"), optim=dataclasses.replace(exp.optim, compile=True))
        save("compile", run_train(comp, f"throughput (torch.compile, bf16, channels_last, "
                                        f"{args.sequences_per_step} new sequences/step)"))
    if "step_cudagraphs" in parts and (left() > 100 or args.smoke):
        save("step_cudagraphs", step_rate(exp, dev, args.smoke, "reduce-overhead"))
    md = ["| part | frames/s | notes |", "|---|---|---|"]
    for r in report.get("latency", []):
        md.append(f"| latency {r['model']} {r['size']}px b{r['batch']} {r['precision']} | {r['frames_per_s']} | "
                  f"{r['ms_per_call']} ms/call |")
    if "render" in report:
        r = report["render"]
        md.append(f"| render ({r['size']} px) | {r['crops_per_s']} | synthetic crops, {r['render_batch']} sequences "
                  f"per draw, chunk {r['chunk']} |")
    for r in report.get("render_sweep", []):
        md.append(f"| render sweep | {r['crops_per_s']} | {r['render_batch']} sequences per draw, chunk {r['chunk']} |")
    if "render_split" in report:
        r = report["render_split"]
        md.append(f"| render, one sequence | {r['crops_per_s']} | {r['sequence_ms']} ms per sequence, of which "
                  f"{r['motion_cpu_ms']} ms CPU motion generation |")
    for part in ("step", "step_compile", "step_cudagraphs"):
        if part in report:
            r = report[part]
            md.append(f"| optimisation step only ({r['compile']}) | {r['frames_per_s']} | {r['ms_per_step']} ms/step, "
                      f"first step {r['first_step_s']} s |")
    for part in ("throughput", "budget", "compile"):
        if part in report:
            r = report[part]
            md.append(f"| {r['label']} | {r['frames_per_s_steady']} | {r['steps']} steps, {r['train_seconds']} s; "
                      f"val angle {r['val_angle_mae_deg']} deg (mean pose {r['mean_pose_angle_mae_deg']}), "
                      f"marker {r['val_marker_mpjpe_mm']} mm |")
    atomic_write_text(args.out / "gpu_check.md", f"GPU check on {report['device']} (torch {report['torch']})\n\n"
                      + "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
