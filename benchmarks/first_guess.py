"""How accurate the network's first guess must be for the path to reach issue 26's targets: the network's
coordinates moved toward the truth by a factor (1: the network as it is, 0: the truth), then infer's fit (or none),
on the real trial against its multi-camera reference and on the motion bank's held-out test split
(``d3ke_edge/bench/first_guess.py``).

    python benchmarks/first_guess.py --reference REF/person0 --bank runs/motion_bank_full [--model M]
        [--factors 1,0.75,0.5,0.25,0] [--fit-config FIT.yaml ...] [--cameras cam01,cam03]
        [--out benchmarks/results/first_guess]

Either of --reference and --bank may be left out. Rows: no fit, infer's fit with its defaults, and the fit with
each --fit-config (labelled by its file's name). Writes first_guess.json, first_guess.md and first_guess.png.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from pathlib import Path

from d3ke_edge.bench.first_guess import FACTORS, held_out_curve, real_curve
from d3ke_edge.data.motion_bank import load_manifest
from d3ke_edge.default_model import default_model
from d3ke_edge.infer.config import FitConfig, describe_fit, load_fit_config
from d3ke_edge.utils.atomic import atomic_write_text

TARGETS = {"real": "each camera <= 10 deg, knees <= 10, elbows <= 15, below the trial's median pose held",
           "held_out": "mean <= 6 deg"}


def meets_real(row: dict, median_held: float) -> bool:
    return (max(row["per_camera"].values()) <= 10 and row["knees_deg"] <= 10 and row["elbows_deg"] <= 15
            and row["mae_deg"] < median_held)


def markdown(result: dict) -> str:
    lines = [f"# How good the network's first guess must be (`{result['model']}`)", "",
             "The network's coordinates moved toward the truth, truth + factor x (network - truth), before infer's fit "
             "(or none); the root's rotation and position stay the network's. Factor 1 is the model as it ships. "
             "Mean angle MAE in degrees.", ""]
    if "real" in result:
        real, cams = result["real"], result["real"]["cameras"]
        median = real["baselines"]["the trial's median pose, held"]
        lines += [f"## The real trial (`{result['reference']}`, infer on each camera's video)", "",
                  f"Targets: {TARGETS['real']} ({median['mae_deg']:.1f}; knees {median['knees_deg']:.1f}, elbows "
                  f"{median['elbows_deg']:.1f}).", "",
                  "| factor | path | mean MAE | " + " | ".join(cams) + " | knees | elbows | targets met |",
                  "|---|---|---|" + "---|" * len(cams) + "---|---|---|"]
        for r in real["rows"]:
            lines.append(f"| {r['factor']:g} | {r['fit']} | {r['mae_deg']:.1f} | "
                         + " | ".join(f"{r['per_camera'].get(c, math.nan):.1f}" for c in cams)
                         + f" | {r['knees_deg']:.1f} | {r['elbows_deg']:.1f} | "
                         + ("yes" if meets_real(r, median["mae_deg"]) else "no") + " |")
        for label, b in real["baselines"].items():
            lines.append(f"| | *{label}* | {b['mae_deg']:.1f} | " + " | " * len(cams)
                         + f"{b['knees_deg']:.1f} | {b['elbows_deg']:.1f} | |")
        lines.append("")
    if "held_out" in result:
        h = result["held_out"]
        lines += [f"## Held-out recorded motion (the bank's test split: {len(h['clips'])} clips, {h['sequences']} "
                  f"windows of {h['seconds']:g} s each, measured noise)", "",
                  f"Target: {TARGETS['held_out']} (over the model's rotational coordinates, as the held-out tables).",
                  "", "| factor | path | mean MAE | knees | elbows and forearms |", "|---|---|---|---|---|"]
        for r in h["rows"]:
            lines.append(f"| {r['factor']:g} | {r['fit']} | {r['mae_deg']:.2f} | {r['knees_deg']:.1f} | "
                         f"{r['elbows_deg']:.1f} |")
        lines.append("")
    lines += [f"- {label}: " + describe_fit(cfg) for label, cfg in result["fits"].items() if cfg is not None]
    return "\n".join(lines) + "\n"


def plot(result: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = [k for k in ("real", "held_out") if k in result]
    fig, axes = plt.subplots(1, len(parts), figsize=(6.2 * len(parts), 5), squeeze=False)
    for ax, part in zip(axes[0], parts):
        rows = result[part]["rows"]
        first = {r["factor"]: r["mae_deg"] for r in rows if r["fit"] == "no fit"}
        for label in dict.fromkeys(r["fit"] for r in rows):
            pts = sorted((first[r["factor"]], r["mae_deg"]) for r in rows if r["fit"] == label)
            ax.plot(*zip(*pts), marker="o", label=f"network (moved) + {label}" if label != "no fit" else "network alone")
        shipped = [r for r in rows if r["factor"] == 1.0]
        ax.scatter([first[1.0]] * len(shipped), [r["mae_deg"] for r in shipped], s=120, facecolors="none",
                   edgecolors="k", zorder=5, label="the shipped model (factor 1)")
        if part == "real":
            ax.axhline(10, color="r", ls="--", lw=1, label="target: <= 10 on each camera")
            med = result["real"]["baselines"]["the trial's median pose, held"]["mae_deg"]
            ax.axhline(med, color="gray", ls=":", lw=1.5, label=f"the trial's median pose held ({med:.1f})")
            ax.set_title(f"The real trial ({len(result['real']['cameras'])} cameras pooled)")
        else:
            ax.axhline(6, color="r", ls="--", lw=1, label="target: <= 6")
            ax.set_title("Held-out recorded motion (measured noise)")
        ax.set_xlabel("the first guess's error (network moved toward the truth), deg")
        ax.set_ylabel("error after the path, deg")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=Path, default=None, help="one person's reference folder (d3ke-edge reference)")
    ap.add_argument("--bank", type=Path, default=None, help="a motion bank (d3ke-edge motions import): its test split")
    ap.add_argument("--motions", type=Path, default=Path("../shared/data/motions"),
                    help="where the bank's clips were imported from (the manifest's paths are relative to it)")
    ap.add_argument("--model", type=Path, default=None, help="a landmark model (default: the package's own)")
    ap.add_argument("--factors", default=",".join(f"{f:g}" for f in FACTORS))
    ap.add_argument("--fit-config", type=Path, action="append", default=[],
                    help="more fit settings to run (YAML, repeatable); infer's defaults always run")
    ap.add_argument("--cameras", default="", help="the real trial's cameras to run (default: all)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/first_guess"))
    a = ap.parse_args()
    try:
        run(ap, a)
    except (ValueError, FileNotFoundError) as exc:  # a bad reference, bank, model, camera or fit file: named
        ap.exit(2, f"first_guess.py: error: {exc}\n")


def run(ap: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    if a.reference is None and a.bank is None:
        ap.error("give --reference (the real trial), --bank (held-out motion) or both")
    try:
        factors = tuple(float(f) for f in a.factors.split(","))
    except ValueError:
        ap.error(f"--factors must be numbers in [0, 1] separated by commas, got '{a.factors}'")
    if 1.0 not in factors or any(not 0 <= f <= 1 for f in factors):
        ap.error(f"--factors must be in [0, 1] and hold 1 (the model as it ships), got '{a.factors}'")
    fits: dict[str, FitConfig | None] = {"no fit": None, "fit": FitConfig()}
    for path in a.fit_config:
        fits[f"fit ({path.stem})"] = load_fit_config(path)  # a bad file stops here, before any run
    model = a.model or default_model()
    result: dict = {"model": str(a.model or "d3ke_edge/default_model"), "factors": list(factors),
                    "fits": {k: None if v is None else asdict(v) for k, v in fits.items()}}
    if a.bank is not None:  # read first: a missing bank fails before minutes of real-trial runs
        manifest = load_manifest(a.bank)
        clips = [a.motions / c["path"] for c in manifest["clips"] if c["split"] == "test" and not c["refused"]]
        if not clips:
            raise SystemExit(f"the bank '{a.bank}' has no test clip")
        missing = [str(c) for c in clips if not c.is_file()]
        if missing:
            raise SystemExit(f"the bank's test clips are not under --motions '{a.motions}': {missing[:3]}")
        result["bank_hash"] = manifest["bank_hash"]
    if a.reference is not None:
        result["reference"] = str(a.reference)
        cameras = tuple(c for c in a.cameras.split(",") if c)
        result["real"] = real_curve(a.reference, model, fits, factors, cameras)
    if a.bank is not None:
        result["held_out"] = held_out_curve(clips, model, fits, factors)
    a.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.out / "first_guess.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(a.out / "first_guess.md", markdown(result))
    plot(result, a.out / "first_guess.png")
    print(f"written to {a.out}")
    for part, rows in (("real", result.get("real", {}).get("rows", [])),
                       ("held-out", result.get("held_out", {}).get("rows", []))):
        if rows:
            print(part + ": " + "; ".join(f"{r['factor']:g} {r['fit']} {r['mae_deg']:.2f}" for r in rows))


if __name__ == "__main__":
    main()
