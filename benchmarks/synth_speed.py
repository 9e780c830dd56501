"""Synthetic-data speed: rendered crops/s (engine only) and written crops/s (JPEG + HDF5), CPU or CUDA.

    python benchmarks/synth_speed.py [--device cpu|cuda] [--size 256] [--sequences 8] [--chunk N]

Prints the numbers and writes benchmarks/reports/synth_speed_<device>.json|md. No thresholds here or in tests.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from d3ke_edge.data.shards import DatasetSpec, write_dataset
from d3ke_edge.data.synth import SynthConfig, SynthEngine
from d3ke_edge.utils.atomic import atomic_write_text


def _render_rate(cfg: SynthConfig, sequences: int) -> float:
    engine = SynthEngine(cfg)
    engine.sequence(0, as_numpy=False)  # warm-up
    if cfg.device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    frames = 0
    for k in range(1, sequences + 1):
        frames += len(engine.sequence(k, as_numpy=False)["image"])
    if cfg.device.startswith("cuda"):
        torch.cuda.synchronize()
    return frames / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--sequences", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--chunk", type=int, default=None, help="frames per render call (default: 16 CPU, 60 CUDA)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/reports"))
    args = ap.parse_args()
    chunk = args.chunk or (16 if args.device == "cpu" else 60)
    cfg = SynthConfig(size=args.size, seconds=args.seconds, chunk=chunk, device=args.device)
    result = {
        "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
        "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
        "size": args.size, "chunk": chunk, "render_crops_per_s": round(_render_rate(cfg, args.sequences), 1),
    }
    if args.device == "cpu":
        with tempfile.TemporaryDirectory() as tmp:
            spec = DatasetSpec(subjects=4, seconds=args.seconds * 2, sequence_seconds=args.seconds, size=args.size)
            t0 = time.perf_counter()
            manifest = write_dataset(tmp, spec)
            frames = sum(c["frames"] for c in manifest["counts"].values())
            result["write_crops_per_s"] = round(frames / (time.perf_counter() - t0), 1)
            size = sum(p.stat().st_size for p in Path(tmp).rglob("*.h5"))
            result["mb_per_1000_frames"] = round(size / frames * 1000 / 1e6, 2)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"synth_speed_{args.device.split(':')[0]}"
    atomic_write_text(args.out / f"{stem}.json", json.dumps(result, indent=2) + "\n")
    md = ["| metric | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in result.items()]
    atomic_write_text(args.out / f"{stem}.md", "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
