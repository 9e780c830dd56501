"""The latency benchmark as committed: server baseline vs the edge sweep (and any artefacts given), on this machine.

    python benchmarks/latency.py [--model EXPORT_DIR ...] [--sweep ...] [--sizes ...] [--threads 1,2]

Runs ``d3ke-edge bench latency`` into ``benchmarks/results/latency/`` (the converted sweep models stay in its
``cache/``, which git ignores) and prints the table. Latency needs no trained weights: the sweep and the server
baseline use random weights (seed 0).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "latency"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--sweep", default="d3ke_mnv3_small,d3ke_mnv3_large,d3ke_effnet_b0")
    ap.add_argument("--sizes", default="128,256")
    ap.add_argument("--formats", default="tflite_fp32,tflite_int8,onnx_fp32")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--iters", default="30")
    args = ap.parse_args()
    cmd = [sys.executable, "-c", "from d3ke_edge.cli import app; app()", "bench", "latency", "--sweep", args.sweep,
           "--sizes", args.sizes, "--formats", args.formats, "--threads", args.threads, "--iters", args.iters,
           "--out", str(RESULTS)]
    for m in args.model:
        cmd += ["--model", m]
    sys.exit(subprocess.call(cmd))


if __name__ == "__main__":
    main()
