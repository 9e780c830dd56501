"""Two kinematic results of the same trial compared: our multi-camera reference against an independent one (Pose2Sim's
published IK, a marker-based lab's ``.mot``), coordinate by coordinate by name.

Angles: the best time lag within a few frames (two pipelines number frames differently), then per coordinate the mean
absolute difference, the bias (ours - other), RMSE and the correlation over time. Landmarks (``landmark_agreement``):
the two triangulations of the same keypoints after one rigid alignment, per keypoint, and the angle each
hip-knee-ankle and shoulder-elbow-wrist chain makes at its middle point, so a difference in the angles can be traced
to the points themselves (a detector's) or to what OpenSim's IK made of them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..utils.atomic import atomic_write_text
from .agreement_views import chain_views
from .aligned_points import CHAINS, align_points, chain_angle

__all__ = ["AGREEMENT_COORDINATES", "Angles", "read_angles", "angle_agreement", "landmark_agreement", "markdown",
           "agreement_plot", "run_agreement"]

# The coordinates the issue that asked for this compares (both sides): what every pipeline's model has under one name
AGREEMENT_COORDINATES = ("hip_flexion_r", "hip_flexion_l", "hip_adduction_r", "hip_adduction_l", "knee_angle_r",
                         "knee_angle_l", "ankle_angle_r", "ankle_angle_l", "elbow_flex_r", "elbow_flex_l")


@dataclass
class Angles:
    name: str
    time: np.ndarray  # (T,) seconds
    values: dict[str, np.ndarray]  # coordinate -> degrees


def read_angles(path: str | Path, name: str | None = None) -> Angles:
    """An OpenSim ``.mot``/``.sto`` (or a ``d3ke-edge reference`` folder: its ``reference.mot``) read by OpenSim's
    own adapter; rotational values in degrees (a file with ``inDegrees=no`` is converted)."""
    import opensim

    path = Path(path)
    if path.is_dir():
        path = path / "reference.mot"
    if not path.is_file():
        raise FileNotFoundError(f"'{path}' does not exist; give a .mot/.sto or a folder made by d3ke-edge reference")
    try:
        table = opensim.TimeSeriesTable(str(path))
    except Exception as exc:  # opensim raises its own exception types through SWIG
        raise ValueError(f"opensim cannot read '{path}' as a motion file ({exc}); give an OpenSim .mot/.sto") from None
    degrees = not (table.hasTableMetaDataKey("inDegrees")
                   and table.getTableMetaDataAsString("inDegrees").strip().lower() == "no")
    values = {}
    for c in table.getColumnLabels():
        v = np.array(table.getDependentColumn(c).to_numpy(), np.float64)
        values[c] = v if degrees or c.endswith(("_tx", "_ty", "_tz")) else np.degrees(v)
    return Angles(name or path.stem, np.array(table.getIndependentColumn(), np.float64), values)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def _per_coordinate(ours: Angles, other: Angles, coords: list[str], shift_s: float) -> dict[str, dict]:
    """Per coordinate: ``other`` interpolated at our times + ``shift_s`` inside its span -> the figures and pairs."""
    t = ours.time + shift_s
    inside = (t >= other.time[0] - 1e-9) & (t <= other.time[-1] + 1e-9)
    out = {}
    for c in coords:
        a = ours.values[c][inside]
        b = np.interp(t[inside], other.time, other.values[c])
        ok = np.isfinite(a) & np.isfinite(b)
        a, b = a[ok], b[ok]
        d = a - b
        held = np.abs(b - np.median(b)) if len(b) else np.zeros(0)  # the other's own median pose held constant
        out[c] = {"mae_deg": float(np.abs(d).mean()) if len(d) else math.nan,
                  "median_pose_mae_deg": float(held.mean()) if len(d) else math.nan,
                  "bias_deg": float(d.mean()) if len(d) else math.nan,
                  "mae_bias_removed_deg": float(np.abs(d - d.mean()).mean()) if len(d) else math.nan,
                  "rmse_deg": float(np.sqrt((d ** 2).mean())) if len(d) else math.nan,
                  "correlation": _pearson(a, b), "frames": int(len(d)),
                  "series": {"time": t[inside][ok].tolist(), "ours": a.tolist(), "other": b.tolist()}}
    return out


def angle_agreement(ours: Angles, other: Angles, coordinates: tuple[str, ...] = AGREEMENT_COORDINATES,
                    max_lag: int = 6) -> dict:
    """``ours`` against ``other`` over the coordinates both have: the lag (in our frames, within ``max_lag`` either
    way) that minimises the mean absolute difference, and at that lag per coordinate MAE, bias, bias-removed MAE,
    RMSE and correlation. Degrees. A coordinate neither file has is listed as missing, never silently skipped."""
    coords = [c for c in coordinates if c in ours.values and c in other.values]
    missing = {"ours": [c for c in coordinates if c not in ours.values],
               "other": [c for c in coordinates if c not in other.values]}
    if not coords:
        raise ValueError(f"'{ours.name}' and '{other.name}' share none of the coordinates {list(coordinates)}; "
                         "compare files of models with the same coordinate names")
    dt = float(np.median(np.diff(ours.time))) if len(ours.time) > 1 else 0.0
    lags = {}
    for lag in range(-max_lag, max_lag + 1):
        per = _per_coordinate(ours, other, coords, lag * dt)
        if min(p["frames"] for p in per.values()) >= 3:
            lags[lag] = float(np.mean([p["mae_deg"] for p in per.values()]))
    if not lags:
        raise ValueError(f"'{ours.name}' ({ours.time[0]:.3f}-{ours.time[-1]:.3f} s) and '{other.name}' "
                         f"({other.time[0]:.3f}-{other.time[-1]:.3f} s) do not overlap in time")
    best = min(lags, key=lambda k: (lags[k], abs(k)))
    per = _per_coordinate(ours, other, coords, best * dt)
    return {"ours": ours.name, "other": other.name, "lag_frames": int(best), "lag_s": best * dt,
            "mae_by_lag": {str(k): v for k, v in lags.items()},
            "mean_mae_deg": float(np.mean([p["mae_deg"] for p in per.values()])),
            "median_pose_mae_deg": float(np.mean([p["median_pose_mae_deg"] for p in per.values()])),
            "max_mae_deg": float(max(p["mae_deg"] for p in per.values())),
            "coordinates": per, "missing": missing}


def landmark_agreement(ours_trc: str | Path, other_trc: str | Path, lag_s: float = 0.0) -> dict:
    """Our triangulated landmarks (``landmarks.trc``) against another triangulation of the same trial
    (``align_points``): per keypoint the median and 90th-percentile distance and the mean offset (mm, in our frame),
    and per limb chain the angle at its middle point in both."""
    al = align_points(ours_trc, other_trc, lag_s)
    A, Bo, names = al.ours, al.other, al.names
    ok = np.isfinite(A).all(-1) & np.isfinite(Bo).all(-1)
    d = np.where(ok, np.linalg.norm(A - Bo, axis=-1), np.nan) * 1000
    points = {lm: {"median_mm": float(np.nanmedian(d[:, k])), "p90_mm": float(np.nanpercentile(d[:, k], 90)),
                   "mean_offset_mm": (np.nanmean(A[:, k] - Bo[:, k], 0) * 1000).round(1).tolist()}
              for k, lm in enumerate(names)}
    chains = {}
    for label, trio in CHAINS:
        if all(n in names for n in trio):
            k = [names.index(n) for n in trio]
            ours_a, other_a = chain_angle(A[:, k]), chain_angle(Bo[:, k])
            diff = ours_a - other_a
            chains[label] = {"mae_deg": float(np.nanmean(np.abs(diff))), "bias_deg": float(np.nanmean(diff)),
                             "series": {"frame": al.ours_rows, "ours": ours_a.tolist(), "other": other_a.tolist()}}
    return {"ours": str(ours_trc), "other": str(other_trc), "frames": len(al.ours_rows),
            "rotation": al.rotation.tolist(), "median_mm": float(np.nanmedian(d)), "points": points, "chains": chains}


def markdown(result: dict) -> str:
    lines = [f"# Agreement of `{Path(result['ours_path']).name}` with independent results", ""]
    for r in result["angles"]:
        lines += [f"## against `{r['other']}`", "",
                  f"Best lag {r['lag_frames']:+d} frames ({1000 * r['lag_s']:+.0f} ms; ours + lag = theirs); mean "
                  f"absolute difference **{r['mean_mae_deg']:.1f} deg** over {len(r['coordinates'])} coordinates, "
                  f"largest {r['max_mae_deg']:.1f}; the other's own median pose held constant is "
                  f"{r['median_pose_mae_deg']:.1f} deg from it (what following no motion at all would score).", "",
                  "| coordinate | MAE deg | median pose held, MAE | bias deg (ours - other) | MAE, bias removed | RMSE | "
                  "correlation | frames |", "|---|---|---|---|---|---|---|---|"]
        for c, m in r["coordinates"].items():
            lines.append(f"| {c} | {m['mae_deg']:.1f} | {m['median_pose_mae_deg']:.1f} | {m['bias_deg']:+.1f} | "
                         f"{m['mae_bias_removed_deg']:.1f} | {m['rmse_deg']:.1f} | {m['correlation']:.2f} | "
                         f"{m['frames']} |")
        for side, cs in r["missing"].items():
            if cs:
                lines.append(f"\nNot in {side}: {', '.join(cs)}.")
        lines.append("")
    lm = result.get("landmarks")
    if lm:
        lines += [f"## Landmarks against `{Path(lm['other']).name}`", "",
                  f"One rigid transform over every shared keypoint; median distance {lm['median_mm']:.0f} mm over "
                  f"{lm['frames']} frames.", "", "| keypoint | median mm | p90 mm | mean offset mm (x, y, z; ours) |",
                  "|---|---|---|---|"]
        for n, p in lm["points"].items():
            lines.append(f"| {n} | {p['median_mm']:.0f} | {p['p90_mm']:.0f} | {p['mean_offset_mm']} |")
        lines += ["", "Angle at the middle of each limb chain, from the points alone (no model, no IK):", "",
                  "| chain | MAE deg | bias deg (ours - other) |", "|---|---|---|"]
        for n, c in lm["chains"].items():
            lines.append(f"| {n} | {c['mae_deg']:.1f} | {c['bias_deg']:+.1f} |")
        lines.append("")
        views = lm.get("views")
        if views and "image" in views:
            lines += [f"`{views['chain']}` where the two differ most, drawn into every view (yellow: ours, green: the "
                      "other; the images say which one is on the limb): "
                      + ", ".join(f"frame {f['frame']} ours {f['ours_deg']:.0f} deg, the other {f['other_deg']:.0f}"
                                  for f in views["frames"]) + ".", "", f"![{views['chain']}]({views['image']})", ""]
        elif views:
            lines += [f"`{views['chain']}` not drawn into the views: {views['skipped']}", ""]
    if result.get("plot"):
        lines += [f"![agreement]({result['plot']})", ""]
    return "\n".join(lines)


def agreement_plot(results: list[dict], png: Path) -> Path:
    """One panel per coordinate: ours and each other result over time (at the best lag)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    coords = list(dict.fromkeys(c for r in results for c in r["coordinates"]))
    cols = 2
    fig, axes = plt.subplots(math.ceil(len(coords) / cols), cols, figsize=(11, 2.2 * math.ceil(len(coords) / cols)),
                             squeeze=False, sharex=True)
    for ax, c in zip(axes.flat, coords):
        drawn = False
        for i, r in enumerate(results):
            m = r["coordinates"].get(c)
            if m is None:
                continue
            series = m["series"]
            if not drawn:
                ax.plot(series["time"], series["ours"], color="k", linewidth=1.6, label="ours")
                drawn = True
            ax.plot(series["time"], series["other"], color=f"C{i}", linewidth=1.1,
                    label=f"{r['other']} (MAE {m['mae_deg']:.1f}, r {m['correlation']:.2f})")
        ax.set_title(c, fontsize=9)
        ax.legend(fontsize=6, loc="best")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(coords):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("time (s, ours)")
    fig.supylabel("degrees")
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)
    return png


def _without_series(obj):
    """``obj`` with every ``series`` entry (the per-frame values the plot draws) left out: what the JSON keeps."""
    if isinstance(obj, dict):
        return {k: _without_series(v) for k, v in obj.items() if k != "series"}
    if isinstance(obj, list):
        return [_without_series(v) for v in obj]
    return obj


def run_agreement(ours: str | Path, others: list[Path], out: Path, max_lag: int = 6,
                  other_trc: Path | None = None) -> dict:
    """Everything above into ``out``: ``agreement.json`` / ``.md`` and ``agreement.png``. ``ours``: a reference
    folder or a ``.mot``; ``other_trc``: another triangulation to compare our ``landmarks.trc`` with (needs a
    reference folder)."""
    ours_path = Path(ours)
    mine = read_angles(ours_path, "ours")
    results = [angle_agreement(mine, read_angles(p), max_lag=max_lag) for p in others]
    out.mkdir(parents=True, exist_ok=True)
    result: dict = {"ours_path": str(ours_path), "angles": results}
    if other_trc is not None:
        trc = ours_path / "landmarks.trc" if ours_path.is_dir() else None
        if trc is None or not trc.is_file():
            raise FileNotFoundError(f"comparing the triangulated points needs our landmarks.trc, which '{ours_path}' lacks; give the reference "
                                    "folder rather than its .mot")
        lag = results[0]["lag_s"] if results else 0.0
        lm = result["landmarks"] = landmark_agreement(trc, other_trc, lag)
        if lm["chains"]:  # the chain the two disagree on most, drawn into the views: which one the images follow

            worst = max(lm["chains"], key=lambda c: lm["chains"][c]["mae_deg"])
            try:
                lm["views"] = chain_views(ours_path, other_trc, out / f"chain_{worst}.jpg", worst, lag)
            except FileNotFoundError as exc:  # the videos are not on this machine: the numbers stand without them
                lm["views"] = {"chain": worst, "skipped": str(exc)}
    result["plot"] = agreement_plot(results, out / "agreement.png").name
    slim = _without_series(result)
    atomic_write_text(out / "agreement.json", json.dumps(slim, indent=2) + "\n")
    atomic_write_text(out / "agreement.md", markdown(slim))
    return slim
