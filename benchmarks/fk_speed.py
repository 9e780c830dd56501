"""FK speed: our batched layer (float32/float64, batch 1024) against opensim's per-pose realizePosition.

    python benchmarks/fk_speed.py [--model builtin|PATH.osim] [--markers FILE.xml] [--out benchmarks/reports]

Prints poses/s and writes fk_speed.json and fk_speed.md. Timing numbers live here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from d3ke_edge.skeleton import ForwardKinematics, load_osim
from d3ke_edge.skeleton.builtin import builtin_skeleton
from d3ke_edge.skeleton.opensim_ref import import_opensim, sample_poses
from d3ke_edge.skeleton.osim_write import write_osim
from d3ke_edge.utils.atomic import atomic_write_text


def _ours(skel, q: np.ndarray, dtype: torch.dtype, threads: int, repeats: int = 10) -> float:
    torch.set_num_threads(threads)
    fk = ForwardKinematics(skel, dtype)
    x = torch.as_tensor(q, dtype=dtype)
    with torch.no_grad():
        fk(x)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            fk(x)
            best = min(best, time.perf_counter() - t0)
    return len(q) / best


def _opensim(model_path: Path, markers: Path | None, skel, q: np.ndarray) -> float:
    """Set coordinates, realizePosition, read every marker and body origin, as a user of opensim would."""
    osim = import_opensim()
    model = osim.Model(str(model_path))
    if markers is not None:
        model.updateMarkerSet(osim.MarkerSet(str(markers)))
    state = model.initSystem()
    coords = [model.getCoordinateSet().get(n) for n in skel.coordinate_names]
    marker_objs = [model.getMarkerSet().get(n) for n in skel.marker_names]
    bodies = [model.getBodySet().get(n) for n in skel.body_names]
    t0 = time.perf_counter()
    for row in q:
        for c, v in zip(coords, row):
            c.setValue(state, float(v), False)
        model.realizePosition(state)
        for m in marker_objs:
            m.getLocationInGround(state)
        for b in bodies:
            b.getPositionInGround(state)
    return len(q) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="builtin")
    ap.add_argument("--markers", type=Path, default=None)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/reports"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.model == "builtin":
            path = write_osim(builtin_skeleton(), Path(tmp) / "builtin.osim")
        else:
            path = Path(args.model)
        skel = load_osim(path, args.markers)
        q = sample_poses(skel, args.batch, np.random.default_rng(0))
        rows = {
            "ours_fp32_1thread": _ours(skel, q, torch.float32, 1),
            "ours_fp32_2threads": _ours(skel, q, torch.float32, 2),
            "ours_fp64_2threads": _ours(skel, q, torch.float64, 2),
            "opensim_4.6": _opensim(path, args.markers, skel, q[:256]),
        }
    result = {"model": args.model, "bodies": len(skel.bodies), "markers": len(skel.markers), "batch": args.batch,
              "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
              "poses_per_s": {k: round(v) for k, v in rows.items()}}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"fk_speed_{Path(args.model).stem}"
    atomic_write_text(args.out / f"{stem}.json", json.dumps(result, indent=2) + "\n")
    md = [f"# FK speed: {args.model} ({len(skel.bodies)} bodies, {len(skel.markers)} markers), batch {args.batch}", "",
          "| implementation | poses/s |", "|---|---|"] + [f"| {k} | {v:,.0f} |" for k, v in rows.items()]
    atomic_write_text(args.out / f"{stem}.md", "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
