"""Time every Core ML artefact of an export folder on a Mac (Core ML's own runtime, each compute-unit setting) and
write ``coreml.json``. For an iPhone, use Xcode's Core ML performance report (README of this folder).

    python benchmarks/phone/coreml_macos.py EXPORT_DIR [--out DIR] [--iters 100]

Core ML prediction needs macOS: elsewhere this exits with that message. Not run by the toolkit's authors (their
machines are Linux), so no README number comes from it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("export_dir", type=Path)
    ap.add_argument("--out", type=Path, default=Path("phone_coreml"))
    ap.add_argument("--iters", type=int, default=100)
    args = ap.parse_args()
    if platform.system() != "Darwin":
        sys.exit("Core ML prediction needs macOS (this is " + platform.system() + "); run it on a Mac")
    import coremltools as ct

    from d3ke_edge.runtime import read_metadata

    models = sorted(args.export_dir.glob("**/*.mlpackage"))
    if not models:
        sys.exit(f"no .mlpackage under {args.export_dir}: give a d3ke-edge export folder")
    rows = []
    for path in models:
        meta = read_metadata(path)
        feeds = {i["name"]: np.random.default_rng(0).random(i["shape"], dtype=np.float32) for i in meta["inputs"]}
        for units in ("CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE", "ALL"):
            t0 = time.perf_counter()
            model = ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, units))
            load_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            model.predict(feeds)
            first_ms = (time.perf_counter() - t0) * 1e3
            times = []
            for _ in range(args.iters):
                t0 = time.perf_counter()
                model.predict(feeds)
                times.append((time.perf_counter() - t0) * 1e3)
            t = np.asarray(times)
            rows.append({"name": str(path.relative_to(args.export_dir)), "compute_units": units, "load_s": load_s,
                         "first_ms": first_ms, "p50_ms": float(np.percentile(t, 50)),
                         "p90_ms": float(np.percentile(t, 90)), "p99_ms": float(np.percentile(t, 99))})
            print(f"{rows[-1]['name']:40s} {units:12s} p50 {rows[-1]['p50_ms']:.2f} ms")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "coreml.json").write_text(json.dumps({"machine": platform.platform(), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
