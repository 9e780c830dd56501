"""Intrinsic float32 noise of the exported per-frame graph: the same PyTorch model under other CPU kernels.

The fp32 parity bounds (``d3ke_edge/export/tolerance.py``) come from this measurement. Each setting runs in its own
process (thread count, oneDNN on/off, ``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``, batch 1 vs batched) on the
export's held-out parity frames; every output is compared with a float64 run of the same model, per frame, both as
an absolute difference and relative to that frame's largest |value| of the output (the form the bounds take).

    python benchmarks/fp32_noise.py CHECKPOINT [CHECKPOINT ...] [--out benchmarks/results/fp32_noise]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# name -> (environment, python code run before the model: threads, oneDNN switch, batching)
SETTINGS: dict[str, tuple[dict[str, str], str]] = {
    "default": ({}, ""),
    "1 thread": ({}, "torch.set_num_threads(1)"),
    "batch 1": ({}, "BATCH1 = True"),
    "oneDNN off": ({}, "torch.backends.mkldnn.enabled = False"),
    "ATEN_CPU_CAPABILITY=default": ({"ATEN_CPU_CAPABILITY": "default"}, ""),
    "ONEDNN_MAX_CPU_ISA=SSE41": ({"ONEDNN_MAX_CPU_ISA": "SSE41"}, ""),
    "float64 reference": ({}, "FLOAT64 = True"),
}

_WORKER = """
import sys, copy, numpy as np, torch
BATCH1 = FLOAT64 = False
{setup}
from d3ke_edge.export.api import ExportConfig, parity_data
from d3ke_edge.train.checkpoint import load_bundle
from d3ke_edge.models.graphs import PerFrameGraph
bundle = load_bundle(sys.argv[1])
data = parity_data(bundle, ExportConfig(), bundle.model.input_size)
graph = PerFrameGraph(bundle.model).eval()
images = data.inputs
if FLOAT64:
    graph, images = copy.deepcopy(graph).double(), images.double()
with torch.no_grad():
    if BATCH1:
        outs = [torch.cat(o) for o in zip(*[graph(images[i : i + 1]) for i in range(len(images))])]
    else:
        outs = graph(images)
np.savez(sys.argv[2], *[o.double().numpy() for o in outs], capability=torch.backends.cpu.get_cpu_capability())
"""


def _run(checkpoint: Path, name: str, tmp: Path) -> tuple[list[np.ndarray], str]:
    env, setup = SETTINGS[name]
    out = tmp / f"{abs(hash(name))}.npz"
    code = _WORKER.format(setup=setup)
    subprocess.run([sys.executable, "-c", code, str(checkpoint), str(out)], check=True, env={**os.environ, **env},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    z = np.load(out)
    return [z[f"arr_{i}"] for i in range(len(z.files) - 1)], str(z["capability"])


def measure(checkpoint: Path) -> dict:
    from d3ke_edge.models.graphs import PER_FRAME_OUTPUTS

    with tempfile.TemporaryDirectory() as tmp:
        runs = {name: _run(checkpoint, name, Path(tmp)) for name in SETTINGS}
    ref, _ = runs.pop("float64 reference")
    result = {"checkpoint": str(checkpoint), "settings": {}}
    for name, (outs, capability) in runs.items():
        per_output = {}
        for out_name, r, o in zip(PER_FRAME_OUTPUTS, ref, outs):
            diff = np.abs(o - r).reshape(len(r), -1).max(1)
            mag = np.abs(r).reshape(len(r), -1).max(1)
            rel = diff / mag
            per_output[out_name] = {"max_abs": float(diff.max()), "max_rel_to_frame": float(rel.max()),
                                    "worst_frame": int(diff.argmax()),
                                    "worst_frame_magnitude": float(mag[diff.argmax()]),
                                    "median_frame_magnitude": float(np.median(mag))}
        result["settings"][name] = {"aten_capability": capability, "outputs": per_output}
    return result


def _cpu_name() -> str:
    try:
        names = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                 if ln.startswith("model name")]
        return names[0] if names else platform.machine()
    except OSError:
        return platform.processor() or platform.machine()


def _markdown(results: list[dict]) -> str:
    lines = ["# fp32 noise of the per-frame graph against float64 (max over the parity frames)", "",
             f"Machine: {_cpu_name()}, {os.cpu_count()} cores. Each cell: max |diff| / max |diff| relative to the "
             "frame's largest |value| of that output.", ""]
    for res in results:
        lines += [f"## {res['checkpoint']}", "", "| setting | capability | " + " | ".join(
            f"{k} abs / rel" for k in next(iter(res["settings"].values()))["outputs"]) + " |",
            "|---|---|" + "---|" * len(next(iter(res["settings"].values()))["outputs"])]
        for name, s in res["settings"].items():
            cells = [f"{v['max_abs']:.1e} / {v['max_rel_to_frame']:.1e}" for v in s["outputs"].values()]
            lines.append(f"| {name} | {s['aten_capability']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "fp32_noise")
    args = parser.parse_args()
    results = [measure(c) for c in args.checkpoints]
    worst: dict[str, float] = {}
    for res in results:
        for s in res["settings"].values():
            for k, v in s["outputs"].items():
                worst[k] = max(worst.get(k, 0.0), v["max_rel_to_frame"])
    report = {"results": results, "worst_rel_to_frame": worst}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(_markdown(results))
    print(_markdown(results))
    print("worst relative-to-frame noise per output:", json.dumps(worst, indent=1))


if __name__ == "__main__":
    main()
