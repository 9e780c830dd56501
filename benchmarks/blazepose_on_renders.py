"""BlazePose on the engine's renders, where the truth is known: where it puts its 33 landmarks on the built-in
skeleton (an OpenSim marker set, fitted) and how far off it is (per-landmark pixel residuals, visibility, left/right
swaps, frames missed) — the landmark model's noise model.

    python benchmarks/blazepose_on_renders.py [--clips 32] [--out benchmarks/results/blazepose] [--install]

Writes ``blazepose_markers.xml`` (the marker set), ``blazepose_noise.npz`` (the noise model's rows, see
``d3ke_edge.data.landmark_noise``), ``blazepose_on_renders.json`` and ``.md``. ``--install`` also copies the marker
set and the noise rows to where the package ships them (``skeleton/markersets/blazepose.xml``,
``data/noise/blazepose_renders.npz``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from d3ke_edge.data.clip import render_clip
from d3ke_edge.data.landmark_noise import NOISE_FILE, LandmarkNoise, measure_noise, noise_summary
from d3ke_edge.data.synth import SynthConfig
from d3ke_edge.skeleton.builtin import builtin_skeleton
from d3ke_edge.skeleton.markersets import marker_set_path
from d3ke_edge.skeleton.osim_write import write_marker_set
from d3ke_edge.utils.atomic import atomic_write_text
from d3ke_edge.video.landmark_fit import collect, fit_landmarks
from d3ke_edge.video.landmarks import LANDMARK_NAMES
from d3ke_edge.video.models import fetch_models
from d3ke_edge.video.tracker import PoseTracker


def markdown(summary: dict) -> str:
    """The report of a run's summary (``blazepose_on_renders.json``)."""
    noise = summary["noise_model"]
    lines = [f"# BlazePose on {summary['clips']} engine clips ({summary['frames']} frames, all motion families and "
             "yaws)", "",
             f"tracked {summary['tracked']} / {summary['frames']} frames; left/right labels mirrored in "
             f"{summary['swapped']} ({100 * summary['swap_rate']:.0f} %) of them", "",
             "| landmark | body | median px | p90 px | median % height | p90 % height | visible | outliers |",
             "|---|---|---|---|---|---|---|---|"]
    for name, s in summary["landmarks"].items():
        lines.append(f"| {name} | {s['body']} | {s['median_px']:.1f} | {s['p90_px']:.1f} | "
                     f"{s['median_pct_height']:.1f} | {s['p90_pct_height']:.1f} | {100 * s['visible_frac']:.0f} % | "
                     f"{100 * s['outlier_frac']:.0f} % |")
    lines += ["", "## The noise model (residual in % of the landmark box's larger side; rho: lag-1 autocorrelation; "
              "world: the world landmarks' residual in % of their RMS distance from the hips' midpoint)", "",
              "| landmark | median % | p90 % | mean visibility | rho | world median % | world p90 % |",
              "|---|---|---|---|---|---|---|"]
    for name, s in noise["landmarks"].items():
        lines.append(f"| {name} | {s['median_pct_box']:.2f} | {s['p90_pct_box']:.2f} | {s['visibility_mean']:.2f} | "
                     f"{s['rho']:.2f} | {s.get('world_median_pct_rms', float('nan')):.1f} | "
                     f"{s.get('world_p90_pct_rms', float('nan')):.1f} |")
    lines += ["", "| body yaw to camera (deg) | frames | left/right mirrored |", "|---|---|---|"]
    lines += [f"| {s['yaw_deg']} | {s['frames']} | {100 * s['swap_rate']:.0f} % |" for s in noise["sectors"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "blazepose")
    ap.add_argument("--install", action="store_true", help="copy the marker set and noise rows into the package")
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
    rows = measure_noise(obs, markers, skel)
    noise = noise_summary(LandmarkNoise.from_rows(rows, "benchmarks/blazepose_on_renders.py"), LANDMARK_NAMES)
    summary = {"clips": args.clips, "frames": frames, "tracked": len(obs.xy), "missed": obs.missed,
               "swapped": obs.swapped, "swap_rate": obs.swapped / max(len(obs.xy), 1),
               "render_s": round(t_render, 1), "landmarks": stats, "noise_model": noise}
    args.out.mkdir(parents=True, exist_ok=True)
    write_marker_set(markers, args.out / "blazepose_markers.xml")
    np.savez_compressed(args.out / "blazepose_noise.npz", **rows)
    if args.install:
        shutil.copyfile(args.out / "blazepose_markers.xml", marker_set_path("blazepose"))
        NOISE_FILE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.out / "blazepose_noise.npz", NOISE_FILE)
    atomic_write_text(args.out / "blazepose_on_renders.json", json.dumps(summary, indent=2) + "\n")
    md = markdown(summary)
    atomic_write_text(args.out / "blazepose_on_renders.md", md)
    print(md)


if __name__ == "__main__":
    main()
