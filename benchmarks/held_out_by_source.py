"""A landmark model on the motion bank's held-out test clips, per clip and per source (AddBiomechanics, OpenCap,
DeepMimic, CMU, ...): ``bench landmarks`` on every test-split clip of the manifest (its original, not its mirror),
with the measured noise, per frame, with the model's head and after infer's fit.

    python benchmarks/held_out_by_source.py --bank runs/motion_bank [--model M] [--sequences 4]
        [--fit-config FIT.yaml] [--out benchmarks/results/motions/held_out_by_source]

The model defaults to the package's own (d3ke_edge/default_model). Writes held_out.json and held_out.md.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from d3ke_edge.bench.landmarks import bench_landmarks
from d3ke_edge.data.motion_bank import load_manifest
from d3ke_edge.infer.config import FitConfig, describe_fit, load_fit_config
from d3ke_edge.utils.atomic import atomic_write_text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bank", type=Path, required=True, help="a motion bank (d3ke-edge motions import)")
    ap.add_argument("--motions", type=Path, default=Path("../shared/data/motions"),
                    help="where the bank's clips were imported from (the manifest's paths are relative to it)")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--sequences", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--fit-config", type=Path, default=None, help="the fit's settings (YAML; default: infer's)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/motions/held_out_by_source"))
    a = ap.parse_args()
    fit_config = load_fit_config(a.fit_config) if a.fit_config else FitConfig()
    manifest = load_manifest(a.bank)
    test = [c for c in manifest["clips"] if c["split"] == "test" and not c["refused"]]
    rows = {}
    for c in test:
        r = bench_landmarks(a.model, [a.motions / c["path"]], a.sequences, a.seconds, say=lambda s: None,
                            fit_config=fit_config)
        errs = next(iter(r["motions"].values()))["errors"]
        rows[c["path"]] = {"source": c["source"], **{k: v["angle_mae_deg"] for k, v in errs.items()}}
        print(c["path"], {k: round(v, 2) for k, v in rows[c["path"]].items() if k != "source"}, flush=True)
    cols = list(dict.fromkeys(k for r in rows.values() for k in r if k != "source"))
    by_source = {s: {k: float(np.mean([r[k] for r in rows.values() if r["source"] == s])) for k in cols}
                 for s in dict.fromkeys(r["source"] for r in rows.values())}
    overall = {k: float(np.mean([r[k] for r in rows.values()])) for k in cols}
    result = {"bank_hash": manifest["bank_hash"], "model": str(a.model or "d3ke_edge/default_model"),
              "sequences": a.sequences, "seconds": a.seconds, "noise": "measured", "clips": rows,
              "fit_config": asdict(fit_config),
              "by_source": by_source, "mean": overall}
    a.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.out / "held_out.json", json.dumps(result, indent=2) + "\n")
    lines = [f"# Held-out recorded motion per source (`{result['model']}`)", "",
             f"The bank's test split ({len(rows)} clips, bank {manifest['bank_hash'][:12]}...), {a.sequences} windows "
             f"of {a.seconds:g} s per clip, each its own subject and seeded camera, BlazePose's measured noise. "
             "Mean angle MAE (deg) over the model's rotational coordinates. " + describe_fit(result["fit_config"]), "",
             "| source | clips | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for s, v in by_source.items():
        n = sum(r["source"] == s for r in rows.values())
        lines.append(f"| {s} | {n} | " + " | ".join(f"{v[k]:.2f}" for k in cols) + " |")
    lines.append(f"| **all clips** | {len(rows)} | " + " | ".join(f"**{overall[k]:.2f}**" for k in cols) + " |")
    lines += ["", "| clip | source | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for p, r in rows.items():
        lines.append(f"| {p} | {r['source']} | " + " | ".join(f"{r[k]:.2f}" for k in cols) + " |")
    atomic_write_text(a.out / "held_out.md", "\n".join(lines) + "\n")
    print(f"written to {a.out}")


if __name__ == "__main__":
    main()
