"""Per-model latency of the phone demo in the browser (LiteRT.js, wasm + XNNPACK, headless Chromium on this CPU)
next to the Python runtime (ai_edge_litert, XNNPACK) on the same CPU and the same artefacts.

    python benchmarks/browser_latency.py EXPORT_DIR [--clip VIDEO] [--out benchmarks/results/browser] [--runs 50]

The page is driven by ``android_demo/test/drive.mjs`` (fake camera: the clip), which times each model on the inputs
the page recorded; Python times the same models with one thread and with the page's thread count. Writes
``browser_latency.json`` / ``.md`` and the page's screenshots; ``d3ke-edge bench report`` picks the JSON up.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def python_latency(path: Path, inputs: list[np.ndarray], threads: int, runs: int) -> float:
    """Median ms of one ai_edge_litert Interpreter call (warm)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(str(path), num_threads=threads)
    it.allocate_tensors()
    details = it.get_input_details()
    for d, x in zip(sorted(details, key=lambda d: d["index"]), inputs):
        it.set_tensor(d["index"], x.reshape(d["shape"]).astype(np.float32))
    for _ in range(5):
        it.invoke()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        it.invoke()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("export", type=Path)
    ap.add_argument("--clip", type=Path, default=ROOT.parent / "shared" / "data" / "pose2sim" / "videos" / "cam02.mp4")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "browser")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--chromium", default="/usr/lib/chromium/chromium")
    args = ap.parse_args()

    from d3ke_edge.bench.browser import browser_markdown as markdown
    from d3ke_edge.demo.config import pick_models
    from d3ke_edge.demo.drive import drive_page
    from d3ke_edge.utils.atomic import atomic_write_text
    from d3ke_edge.video.models import fetch_models

    models = pick_models(args.export)
    blaze = fetch_models()
    summary, log, run = drive_page(models, blaze, args.clip, args.out, args.chromium, frames=8, images=0,
                                   viewports=[[390, 844]], latency_runs=args.runs, timeout=900)
    if not summary.get("ok"):
        raise SystemExit(f"the page failed: {summary.get('error')}\n{run.stderr[-2000:]}")
    for name in ("log.json", "session.mot", "console.txt", "clip.y4m"):  # keep the results and the screenshot
        (args.out / name).unlink(missing_ok=True)
    rec = next(r for r in log["log"] if "input" in r)
    threads = 2 if log["isolated"] else 1
    state = [np.zeros(s["shape"], np.float32)
             for s in json.loads(models.step.with_suffix(".json").read_text())["state"]] if models.step else []
    cases = {"BlazePose detector (224 px)": (blaze["pose_detection.tflite"], [np.zeros((1, 224, 224, 3), np.float32)]),
             "BlazePose landmarks (256 px)": (blaze["pose_landmark_full.tflite"], [np.zeros((1, 256, 256, 3), np.float32)]),
             f"per-frame model ({models.per_frame.name})": (models.per_frame, [np.array(rec["input"], np.float32)])}
    keys = ["detector", "landmarks", "per_frame"]
    if models.step:
        cases[f"step model ({models.step.name})"] = (models.step, [np.array(rec["per_frame"]["params"], np.float32),
                                                                    *state])
        keys.append("step")
    out = {}
    for (name, (path, inputs)), key in zip(cases.items(), keys):
        out[name] = {"browser_ms": summary["latency"][key], "python_ms_1": python_latency(path, inputs, 1, args.runs),
                     "python_ms_threads": python_latency(path, inputs, threads, args.runs)}
    chromium = subprocess.run([args.chromium, "--version"], capture_output=True, text=True).stdout.strip()
    lock = json.loads((ROOT / "android_demo" / "package-lock.json").read_text())
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine()) if Path("/proc/cpuinfo").is_file() else platform.machine()
    result = {"machine": f"{cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores",
              "chromium": chromium, "litertjs": lock["packages"]["node_modules/@litertjs/core"]["version"],
              "isolated": log["isolated"], "browser_threads": threads, "models": out,
              "page_stages_ms": {k: float(np.median(v)) for k, v in log["timing"].items()}}
    atomic_write_text(args.out / "browser_latency.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(args.out / "browser_latency.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
