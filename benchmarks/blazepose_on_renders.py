"""BlazePose on the engine's renders, where the truth is known: where it puts its 33 landmarks on the built-in
skeleton (an OpenSim marker set, fitted) and how far off it is (per-landmark pixel residuals, visibility, left/right
swaps, frames missed) — the measured start of the landmark-lifting model's noise model.

    python benchmarks/blazepose_on_renders.py [--clips 16] [--out benchmarks/results/blazepose]

Writes ``blazepose_markers.xml`` (the marker set), ``blazepose_on_renders.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from d3ke_edge.data.clip import render_clip
from d3ke_edge.data.synth import SynthConfig
from d3ke_edge.skeleton.builtin import builtin_skeleton
from d3ke_edge.skeleton.osim_write import write_marker_set
from d3ke_edge.utils.atomic import atomic_write_text
from d3ke_edge.video.landmark_fit import collect, fit_landmarks
from d3ke_edge.video.models import fetch_models
from d3ke_edge.video.tracker import PoseTracker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "blazepose")
    args = ap.parse_args()
    skel = builtin_skeleton()
    models = fetch_models()
    t0 = time.perf_counter()
    clips = [render_clip(900_000 + i, SynthConfig(seconds=args.seconds)) for i in range(args.clips)]
    t_render = time.perf_counter() - t0
    factory = lambda: PoseTracker(models["pose_detection.tflite"], models["pose_landmark_full.tflite"],  # noqa: E731
                                  fix_swaps=False)
    obs = collect(skel, clips, factory)
    markers, stats = fit_landmarks(skel, obs)
    frames = sum(len(c.frames) for c in clips)
    summary = {"clips": args.clips, "frames": frames, "tracked": len(obs.xy), "missed": obs.missed,
               "swapped": obs.swapped, "swap_rate": obs.swapped / max(len(obs.xy), 1),
               "render_s": round(t_render, 1), "landmarks": stats}
    args.out.mkdir(parents=True, exist_ok=True)
    write_marker_set(markers, args.out / "blazepose_markers.xml")
    atomic_write_text(args.out / "blazepose_on_renders.json", json.dumps(summary, indent=2) + "\n")
    lines = [f"# BlazePose on {args.clips} engine clips ({frames} frames, all motion families and yaws)", "",
             f"tracked {len(obs.xy)} / {frames} frames; left/right labels mirrored in {obs.swapped} "
             f"({100 * summary['swap_rate']:.0f} %) of them", "",
             "| landmark | body | median px | p90 px | median % height | p90 % height | visible | outliers |",
             "|---|---|---|---|---|---|---|---|"]
    for name, s in stats.items():
        lines.append(f"| {name} | {s['body']} | {s['median_px']:.1f} | {s['p90_px']:.1f} | "
                     f"{s['median_pct_height']:.1f} | {s['p90_pct_height']:.1f} | {100 * s['visible_frac']:.0f} % | "
                     f"{100 * s['outlier_frac']:.0f} % |")
    atomic_write_text(args.out / "blazepose_on_renders.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
