r"""The GPU check of issue 26's lever: the landmark model's GPU recipe (train/lift_bank_gpu.yaml: the larger model on
the motion bank) on one GPU, its schedule cut to a time budget.

    PYTHONPATH=. python benchmarks/gpu_lift_bank.py --out DIR [--recipe train/lift_bank_gpu.yaml] [--budget-s 300]
                                                    [--smoke]

Needs the recipe's motion bank (on the device machine: carry runs/motion_bank). Parts, each written to
DIR/gpu_lift_bank.json as soon as it is measured, so a run cut short keeps what it had:

1. ``step``: optimisation steps/s of the recipe's model on one fixed batch (the model's ceiling, no data);
2. ``data``: batches/s one data process makes on a small bank (the recipe's data processes make about that many
   times theirs) and how long a bank of the recipe's size takes to build, extrapolated from it;
3. ``train``: the recipe with its steps cut to what fits ``--budget-s`` at the slower of the two rates (its learning
   rate schedule and validation scaled with it); the steady training rate and the validation history.

The run itself lands in ``--run`` (default: a temporary folder); DIR receives only what the device machine can
return (at most 8 files of up to 16 MB, 64 MB in all): the report, the run's train_log.csv, and checkpoint_best.pt
without its optimiser state (what export and infer read), cut into DIR/checkpoint_best.pt.partNN of 15 MB. Back here:

    cat DIR/checkpoint_best.pt.part* > runs/lift_bank_gpu/checkpoint_best.pt
    d3ke-edge train train/lift_bank_cpu.yaml --stage temporal --per-frame runs/lift_bank_gpu/checkpoint_best.pt \
        --out runs/lift_bank_gpu
    python benchmarks/held_out_by_source.py --bank runs/motion_bank_full --model runs/lift_bank_gpu/checkpoint_best.pt \
        --out DIR2
    d3ke-edge bench reference --reference REF --model runs/lift_bank_gpu/checkpoint_best.pt --out DIR3

against the shipped default's figures (benchmarks/results/motions/held_out_by_source, .../reference/default_model);
judge it there, not by the validation figure this script prints (docs/gpu.md).
On the device machine: carry runs/motion_bank, give the run a timeout_s of --budget-s + 3 minutes (the bank's build,
four validations and the parts come on top of the training).

Prints every part; writes DIR/gpu_lift_bank.json and DIR/gpu_lift_bank.md. No thresholds. ``--smoke``: tiny sizes,
to check the script on a CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch
from gpu_check import median_ms  # the sibling check's timing and training report
from gpu_check import run_train as timed_train

from d3ke_edge.models.registry import get_model
from d3ke_edge.train.checkpoint import load_checkpoint, save_checkpoint
from d3ke_edge.train.config import Experiment, load_config
from d3ke_edge.train.data import landmark_synth, sequence_seed
from d3ke_edge.train.losses import d3ke_loss
from d3ke_edge.utils.atomic import atomic_write_text

T0 = time.perf_counter()
PART_BYTES = 15 * 2**20  # under the device machine's 16 MB per returned file
PROBE_SEQUENCES = 64  # the small bank the data rate is measured on


def step_rate(exp: Experiment, dev: torch.device, reps: int) -> dict:
    """Optimisation steps on one fixed batch of the recipe's data: the model-side ceiling of the training rate."""
    model = get_model(exp.model.name, **exp.model.kwargs()).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    synth = landmark_synth(dataclasses.replace(exp.data, motion_bank_weight=0.0), exp.optim.seed, 1, 4,
                           features=model.input_spec.size)
    batch = {k: v.to(dev) for k, v in synth.batch(exp.optim.batch, torch.Generator().manual_seed(0)).items()}

    def one() -> None:
        pred = {k: v.float() for k, v in model(batch["landmarks"]).items()}
        loss, _ = d3ke_loss(pred, batch, model.space, exp.loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    ms = median_ms(one, dev, reps)
    return {"model": exp.model.name, "parameters": sum(p.numel() for p in model.parameters()),
            "batch": exp.optim.batch, "ms_per_step": round(ms, 3), "steps_per_s": round(1e3 / ms, 1)}


def data_rate(exp: Experiment, batches: int) -> dict:
    """One data process's batches/s on a small bank, and the recipe's bank's build time extrapolated from it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a data process
    try:
        t = time.perf_counter()
        synth = landmark_synth(exp.data, exp.optim.seed, 1, PROBE_SEQUENCES)
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        for step in range(batches):
            synth.batch(exp.optim.batch, torch.Generator().manual_seed(sequence_seed(exp.optim.seed, 6, step)))
        per_process = batches / (time.perf_counter() - t)
    finally:
        torch.set_num_threads(threads)
    workers = max(1, exp.data.workers)
    return {"workers": exp.data.workers, "batches_per_s_per_process": round(per_process, 1),
            "batches_per_s_estimate": round(per_process * workers, 1),
            "bank_build_s_estimate": round(build_s * exp.data.bank_sequences / PROBE_SEQUENCES, 1)}


def run_train(exp: Experiment, budget_s: float, rate: float, build_s: float) -> dict:
    """The recipe cut to ``budget_s`` at ``rate`` steps/s, the bank's build (``build_s``) taken off."""
    o, recipe_steps = exp.optim, exp.optim.steps
    steps = max(20, int((budget_s - build_s) * rate))
    if steps < o.steps:
        o = dataclasses.replace(o, steps=steps, val_every=max(1, steps // 4), ckpt_every=max(1, steps // 4),
                                log_every=max(1, min(o.log_every, steps // 20)))
    report = timed_train(dataclasses.replace(exp, optim=o), f"{budget_s:.0f} s schedule")
    return {**report, "recipe_steps": recipe_steps,
            "steps_per_s_steady": round(report["frames_per_s_steady"] / o.batch, 1)}


def model_parts(checkpoint: Path, out: Path) -> list[str]:
    """The checkpoint without its optimiser state, cut into ``out/NAME.partNN`` of PART_BYTES each (a cat of them
    in order is the file)."""
    slim = {k: v for k, v in load_checkpoint(checkpoint).items() if k not in ("optimizer", "rng")}
    with tempfile.TemporaryDirectory() as tmp:
        data = save_checkpoint(Path(tmp) / checkpoint.name, **slim).read_bytes()
    names = []
    for i in range(0, len(data), PART_BYTES):
        name = f"{checkpoint.name}.part{i // PART_BYTES:02d}"
        (out / name).write_bytes(data[i : i + PART_BYTES])
        names.append(name)
    return names


def markdown(report: dict) -> str:
    lines = [f"# GPU check: `{report['recipe']}` ({report['device']}, torch {report['torch']})", "",
             "| part | figure |", "|---|---|"]
    if "step" in report:
        s = report["step"]
        lines.append(f"| step (fixed batch, no data) | {s['steps_per_s']} steps/s of {s['batch']} "
                     f"({s['ms_per_step']} ms; {s['parameters']:,} parameters) |")
    if "data" in report:
        d = report["data"]
        lines.append(f"| data | {d['batches_per_s_per_process']} batches/s per process x {d['workers']} processes; "
                     f"bank build ~{d['bank_build_s_estimate']} s |")
    if "train" in report:
        t = report["train"]
        lines.append(f"| train | {t['steps']} of the recipe's {t['recipe_steps']} steps in {t['train_seconds']} s "
                     f"({t['steps_per_s_steady']} steps/s steady); val angle MAE {t['val_angle_mae_deg']} deg "
                     f"(mean pose {t['mean_pose_angle_mae_deg']}) |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--run", type=Path, default=None, help="the training run's folder (default: a temporary one)")
    ap.add_argument("--recipe", type=Path, default=Path("train/lift_bank_gpu.yaml"))
    ap.add_argument("--budget-s", type=float, default=300.0, help="the training part's share of the time")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, to check the script on a CPU")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False  # the recipe trains in fp32 (angles exact); keep it so
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    run = args.run or Path(tempfile.mkdtemp(prefix="gpu_lift_bank_"))
    exp = load_config(args.recipe, out=str(run))
    if args.smoke:
        exp = dataclasses.replace(exp, data=dataclasses.replace(exp.data, bank_sequences=8, val_sequences=2,
                                                                workers=min(exp.data.workers, 2)),
                                  optim=dataclasses.replace(exp.optim, batch=64))
    bank = exp.data.motion_bank
    if bank and not (Path(bank) / "manifest.json").is_file():
        raise SystemExit(f"the recipe's motion bank '{bank}' is not here: import it (d3ke-edge motions import "
                         f"../shared/data/motions --out {bank}) and carry it to the device machine")
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"recipe": str(args.recipe), "torch": torch.__version__, "python": platform.python_version(),
                    "device": torch.cuda.get_device_name() if dev.type == "cuda" else platform.processor() or "cpu"}

    def save(part: str, value) -> None:
        report[part] = value
        report["elapsed_s"] = round(time.perf_counter() - T0, 1)
        print(f"== {part} ({report['elapsed_s']} s): {json.dumps(value)[:1500]}", flush=True)
        atomic_write_text(args.out / "gpu_lift_bank.json", json.dumps(report, indent=2) + "\n")
        atomic_write_text(args.out / "gpu_lift_bank.md", markdown(report))

    save("step", step_rate(exp, dev, 5 if args.smoke else 50))
    save("data", data_rate(exp, 3 if args.smoke else 20))
    rate = min(report["step"]["steps_per_s"], report["data"]["batches_per_s_estimate"])
    budget = 20 / rate + report["data"]["bank_build_s_estimate"] if args.smoke else args.budget_s
    save("train", run_train(exp, budget, rate, report["data"]["bank_build_s_estimate"]))
    shutil.copy(run / "train_log.csv", args.out / "train_log.csv")
    save("checkpoint_parts", model_parts(run / "checkpoint_best.pt", args.out))


if __name__ == "__main__":
    main()
