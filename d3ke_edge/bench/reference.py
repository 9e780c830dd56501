"""Single camera against the multi-camera reference (``d3ke-edge reference``): every camera of the trial through
``infer`` with each model, per frame and with its causal head, compared with the reference's OpenSim IK angles in the
same model's coordinates, time-aligned by the reference's frame offsets; MAE, RMSE and bias per coordinate and
Bland-Altman plots."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..reference.report import MAIN_ANGLES

__all__ = ["COMPARED", "ReferenceTrial", "load_reference", "compare", "bench_reference", "markdown",
           "bland_altman_plot"]

COMPARED = tuple(c for pair in MAIN_ANGLES for c in pair)  # the joint angles compared (not the root)


@dataclass
class ReferenceTrial:
    folder: Path
    report: dict
    time: np.ndarray
    angles: dict[str, np.ndarray]  # degrees, the reference model's coordinates


def load_reference(folder: str | Path) -> ReferenceTrial:
    """A ``d3ke-edge reference`` output folder."""
    import opensim

    folder = Path(folder)
    files = [folder / "reference.json", folder / "reference.mot"]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"'{folder}' is not a reference folder (missing {missing}); make one with "
                                "d3ke-edge reference --videos ... --calib ... --out DIR")
    report = json.loads(files[0].read_text())
    table = opensim.TimeSeriesTable(str(files[1]))
    labels = list(table.getColumnLabels())
    angles = {c: np.array(table.getDependentColumn(c).to_numpy()) for c in labels if c in COMPARED}
    return ReferenceTrial(folder, report, np.array(table.getIndependentColumn()), angles)


def compare(pred_time: np.ndarray, pred: dict[str, np.ndarray], trial: ReferenceTrial) -> dict[str, dict]:
    """Per coordinate: the reference interpolated at the prediction's (aligned) times, inside its time span ->
    MAE, RMSE, bias (prediction - reference), and the pairs for Bland-Altman plots. Degrees."""
    inside = (pred_time >= trial.time[0]) & (pred_time <= trial.time[-1])
    out = {}
    for c, ref in trial.angles.items():
        if c not in pred:
            continue
        p = pred[c][inside]
        r = np.interp(pred_time[inside], trial.time, ref)
        ok = np.isfinite(p) & np.isfinite(r)
        d = p[ok] - r[ok]
        out[c] = {"mae_deg": float(np.abs(d).mean()) if len(d) else math.nan,
                  "rmse_deg": float(np.sqrt((d**2).mean())) if len(d) else math.nan,
                  "bias_deg": float(d.mean()) if len(d) else math.nan, "frames": int(ok.sum()),
                  "pred": p[ok].tolist(), "ref": r[ok].tolist()}
    return out


def _hfovs_deg(report: dict) -> dict[str, float]:
    """Each calibrated camera's field of view across its long side (a phone knows its own); {} when the trial's
    calibration cannot be read any more (infer's default is used then)."""
    from ..reference.calibration import load_calibration

    try:
        cams = load_calibration(report["calibration"])
    except (OSError, ValueError):
        return {}
    out = {}
    for cam in cams:
        w, h = cam.size
        f = cam.K[0, 0] if w >= h else cam.K[1, 1]
        out[cam.name] = float(np.degrees(2 * np.arctan(max(w, h) / 2 / f)))
    return out


def bench_reference(reference: str | Path, models: list[Path], out: Path, heads: tuple[str, ...] = ("none", "auto"),
                    say: Callable[[str], object] = print, advance: Callable[[int], object] | None = None,
                    total: Callable[[int], object] | None = None) -> dict:
    """Every camera x model x head through ``infer`` (``total``/``advance``: that many steps); returns (and writes ``reference_bench.json`` / ``.md`` and one
    Bland-Altman plot per model into ``out``) the comparison."""
    from ..infer.run import InferConfig, run_infer
    from ..utils.atomic import atomic_write_text

    trial = load_reference(reference)
    fps = float(trial.report["fps"])
    out.mkdir(parents=True, exist_ok=True)
    if total:
        total(len(trial.report["cameras"]) * len(models) * len(heads))
    rows = []
    hfovs = _hfovs_deg(trial.report)
    order = sorted(heads, key=lambda h: h == "none")  # "auto" first: without a causal head it is the per-frame run
    for c_index, ((cam, info), video) in enumerate(zip(trial.report["cameras"].items(), trial.report["videos"])):
        video = Path(video)  # cameras and videos are both in video order
        if not video.is_file():
            raise FileNotFoundError(f"the reference's video '{video}' is gone; the bench runs infer on it")
        hfov = hfovs.get(cam)
        for m_index, model in enumerate(models):
            per_frame_done = False
            for head in order:
                if advance:
                    advance(1)
                if head == "none" and per_frame_done:
                    continue  # the model has no causal head: its "auto" run was this one
                work = Path(tempfile.mkdtemp(prefix=".bench-reference-", dir=out))
                try:
                    res = run_infer(InferConfig(video=video, model=model, out=work, head=head, overlay=False,
                                                hfov=hfov or 65.0), say=lambda m: None)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                if res.head is None:
                    if per_frame_done or "none" not in heads:
                        continue
                    per_frame_done = True
                names = list(res.skeleton.coordinate_names)
                ok = res.tracked
                t = np.array([f["time"] for f in ok]) - info["offset_frames"] / fps
                pred = {c: np.degrees(np.array([f["outputs"]["coordinates"][names.index(c)] for f in ok]))
                        for c in COMPARED if c in names}
                per = compare(t, pred, trial)
                where = "/".join(Path(model).resolve().parts[-2:])  # two checkpoints are often both checkpoint_best.pt
                label = f"{where} ({res.runtime.split(' (')[0]})" + (f" + {res.head}" if res.head else "")
                rows.append({"camera": cam, "model": label, "model_path": str(model), "head": res.head,
                             "tracked": len(ok), "frames": len(res.frames), "hfov_deg": hfov, "coordinates": per,
                             "_order": (c_index, m_index, res.head is not None)})
                maes = [v["mae_deg"] for v in per.values()]
                say(f"{cam} {label}: angle MAE {np.nanmean(maes):.1f} deg over {len(per)} coordinates")
    rows.sort(key=lambda r: r.pop("_order"))  # per frame before streaming, as the tables read
    result = {"reference": str(trial.folder), "compared": list(COMPARED), "rows": rows,
              "summary": _summary(rows)}
    plots = {}
    for label in dict.fromkeys(r["model"] for r in rows):
        png = out / f"bland_altman_{len(plots)}.png"
        bland_altman_plot([r for r in rows if r["model"] == label], label, png)
        plots[label] = png.name
    result["plots"] = plots
    slim = {**result, "rows": [{**r, "coordinates": {c: {k: v for k, v in m.items() if k not in ("pred", "ref")}
                                                      for c, m in r["coordinates"].items()}} for r in rows]}
    atomic_write_text(out / "reference_bench.json", json.dumps(slim, indent=2) + "\n")
    atomic_write_text(out / "reference_bench.md", markdown(slim))
    return slim


def _summary(rows: list[dict]) -> dict[str, dict]:
    """Per model: MAE and RMSE per coordinate over all cameras' frames pooled, and the mean over coordinates."""
    out = {}
    for label in dict.fromkeys(r["model"] for r in rows):
        per = {}
        for c in COMPARED:
            d = np.concatenate([np.array(r["coordinates"][c]["pred"]) - np.array(r["coordinates"][c]["ref"])
                                for r in rows if r["model"] == label and c in r["coordinates"]] or [np.zeros(0)])
            if len(d):
                per[c] = {"mae_deg": float(np.abs(d).mean()), "rmse_deg": float(np.sqrt((d**2).mean())),
                          "bias_deg": float(d.mean())}
        out[label] = {"coordinates": per, "mae_deg": float(np.mean([v["mae_deg"] for v in per.values()])),
                      "rmse_deg": float(np.mean([v["rmse_deg"] for v in per.values()]))}
    return out


def markdown(result: dict) -> str:
    lines = [f"# Single camera against the multi-camera reference (`{result['reference']}`)", "",
             "Angle error in degrees (prediction - reference), every camera's frames pooled; per camera below.", ""]
    cols = [c for c in COMPARED if any(c in s["coordinates"] for s in result["summary"].values())]
    lines += ["| model | mean MAE | mean RMSE | " + " | ".join(cols) + " |", "|---|---|---|" + "---|" * len(cols)]
    for label, s in result["summary"].items():
        cells = [f"{s['coordinates'][c]['mae_deg']:.1f} / {s['coordinates'][c]['rmse_deg']:.1f}"
                 if c in s["coordinates"] else "" for c in cols]
        lines.append(f"| {label} | {s['mae_deg']:.1f} | {s['rmse_deg']:.1f} | " + " | ".join(cells) + " |")
    lines += ["", "(cells: MAE / RMSE)", "", "| camera | model | tracked | mean MAE | mean RMSE |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        m = [v["mae_deg"] for v in r["coordinates"].values()]
        e = [v["rmse_deg"] for v in r["coordinates"].values()]
        lines.append(f"| {r['camera']} | {r['model']} | {r['tracked']}/{r['frames']} | {np.nanmean(m):.1f} | "
                     f"{np.nanmean(e):.1f} |")
    return "\n".join(lines) + "\n"


def bland_altman_plot(rows: list[dict], label: str, png: Path) -> Path:
    """Difference against mean for the main joint angles, all cameras pooled (bias and 95 % limits drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [("hip flexion", ("hip_flexion_r", "hip_flexion_l")), ("knee", ("knee_angle_r", "knee_angle_l")),
              ("ankle", ("ankle_angle_r", "ankle_angle_l")), ("elbow", ("elbow_flex_r", "elbow_flex_l"))]
    fig, axes = plt.subplots(1, len(groups), figsize=(4 * len(groups), 3.6))
    cameras = list(dict.fromkeys(r["camera"] for r in rows))
    for ax, (title, coords) in zip(axes, groups):
        for r in rows:
            colour = f"C{cameras.index(r['camera'])}"
            for c, marker in zip(coords, ("o", "x")):  # right, left
                if c in r["coordinates"]:
                    p, q = np.array(r["coordinates"][c]["pred"]), np.array(r["coordinates"][c]["ref"])
                    ax.scatter((p + q) / 2, p - q, s=6, alpha=0.5, color=colour, marker=marker, linewidths=0.7,
                               label=f"{r['camera']} {'right' if marker == 'o' else 'left'}")
        d = np.concatenate([np.array(r["coordinates"][c]["pred"]) - np.array(r["coordinates"][c]["ref"])
                            for r in rows for c in coords if c in r["coordinates"]] or [np.zeros(1)])
        bias, sd = float(d.mean()), float(d.std())
        for y, style in ((bias, "-"), (bias + 1.96 * sd, "--"), (bias - 1.96 * sd, "--")):
            ax.axhline(y, color="k", linestyle=style, linewidth=0.8)
        ax.set_title(f"{title}: bias {bias:+.1f}, LoA +-{1.96 * sd:.1f} deg", fontsize=9)
        ax.set_xlabel("mean of both (deg)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("single camera - reference (deg)")
    axes[0].legend(fontsize=7, markerscale=3)
    fig.suptitle(label, fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return png
