"""BlazePose's error on real footage, measured against a multi-camera reference (``d3ke-edge reference``), next to
its error on the engine's renders (the landmark model's noise model, ``data/noise/blazepose_renders.npz``).

For each view, every landmark is triangulated from the *other* views (the reference's own labelling fixes, frame
offsets and pixel gate) and projected into it; the residual is BlazePose's landmark minus that projection, in units
of the projected landmarks' box side — the unit of the noise model. Leaving the view out keeps its own error from
pulling the triangulation towards it, so the numbers are an upper bound (they include the other views'
triangulation error); a bias common to all views (a knee landmark that slides with flexion in every view) cannot be
seen this way at all.

    python benchmarks/blazepose_on_reference.py --reference REF_DIR [--out benchmarks/results/blazepose_real]

Writes ``blazepose_on_reference.json`` / ``.md`` and ``residuals.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from d3ke_edge.data.landmark_input import landmark_box
from d3ke_edge.data.landmark_noise import YAW_SECTORS, LandmarkNoise, _rho, facing_yaw, yaw_sector
from d3ke_edge.io.trc import read_trc
from d3ke_edge.reference.build import relabel
from d3ke_edge.reference.calibration import fit_to_video, load_calibration
from d3ke_edge.reference.triangulate import robust_triangulate, shift_views
from d3ke_edge.utils.atomic import atomic_write_text
from d3ke_edge.video.landmarks import LANDMARK_NAMES
from d3ke_edge.video.reader import VideoReader

GROUPS = {"face": [n for n in LANDMARK_NAMES if n in ("nose",) or any(k in n for k in ("eye", "ear", "mouth"))],
          "shoulders": ["left_shoulder", "right_shoulder"], "elbows": ["left_elbow", "right_elbow"],
          "wrists": ["left_wrist", "right_wrist"], "hands": [n for n in LANDMARK_NAMES if
                                                            any(k in n for k in ("pinky", "index", "thumb"))
                                                            and "foot" not in n],
          "hips": ["left_hip", "right_hip"], "knees": ["left_knee", "right_knee"],
          "ankles": ["left_ankle", "right_ankle"], "feet": [n for n in LANDMARK_NAMES if
                                                            any(k in n for k in ("heel", "foot_index"))]}


def real_rows(ref: Path, gate_px: float) -> dict[str, np.ndarray]:
    """The noise model's rows (residual, visibility, yaw, flipped, clip = view, frame) from a reference folder."""
    report = json.loads((ref / "reference.json").read_text())
    views = np.load(ref / "views.npz")
    names = [str(n) for n in views["names"]]
    by_name = {c.name: c for c in load_calibration(report["calibration"])}
    cams = []
    for name, video in zip(names, report["videos"]):
        reader = VideoReader(Path(video))
        cams.append(fit_to_video(by_name[name], reader.width, reader.height))
        reader.close()
    xy = views["xy"].transpose(1, 0, 2, 3)  # (T, V, 33, 2) as BlazePose labelled them
    vis = views["visibility"].transpose(1, 0, 2)
    w = np.where(vis >= report["settings"]["min_visibility"], vis, 0.0)
    offsets = views["offsets"]
    xy, w, vis = shift_views(offsets, xy, w, vis)
    flips = views["flips"]  # (T', V, G), already on the shifted frames
    xy, w, vis = relabel(flips, xy, w, vis)
    T, V = xy.shape[:2]
    trc = read_trc(ref / "landmarks.trc")
    up = np.asarray(report["up_rotation"])
    complete = trc.positions @ up  # OpenSim frame -> the calibration's world
    if complete.shape[:2] != (T, 33):
        raise ValueError(f"{ref}: landmarks.trc has {complete.shape[:2]} frames x markers, the views {T} x 33")
    rows = {k: [] for k in ("residual", "visibility", "yaw", "flipped", "clip", "frame", "box_px")}
    idx = {n: i for i, n in enumerate(LANDMARK_NAMES)}
    for v in range(V):
        others = [u for u in range(V) if u != v]
        flat = lambda a: a[:, others].transpose(1, 0, *range(2, a.ndim)).reshape(len(others), T * 33, *a.shape[3:])  # noqa: E731
        X = robust_triangulate([cams[u] for u in others], flat(xy), flat(w), gate_px).points.reshape(T, 33, 3)
        proj = cams[v].project(X)  # (T, 33, 2); NaN where the other views could not triangulate a landmark
        # the unit: the box of the reference's own (complete, filtered) landmarks seen from this view
        _, side = landmark_box(torch.as_tensor(cams[v].project(complete)))
        ok = np.isfinite(proj).all(-1).sum(-1) >= 17
        rows["residual"].append((xy[ok, v] - proj[ok]) / side.numpy()[ok, :, None])
        X = np.where(np.isfinite(X), X, complete)  # yaw from the filtered points where a landmark is missing
        rows["box_px"].append(side.numpy()[:, 0])
        rows["visibility"].append(vis[ok, v])
        # the body's yaw to this camera, from the triangulated hips and shoulders (OpenSim pelvis axes: x forward,
        # y up, z right), as the noise model's sectors count it
        Xc = X[ok] @ cams[v].R.T + cams[v].t
        right = Xc[:, idx["right_hip"]] - Xc[:, idx["left_hip"]]
        up = (Xc[:, [idx["left_shoulder"], idx["right_shoulder"]]].mean(1)
              - Xc[:, [idx["left_hip"], idx["right_hip"]]].mean(1))
        up -= right * ((up * right).sum(-1, keepdims=True) / (right * right).sum(-1, keepdims=True))
        fwd = np.cross(up, right)
        rot = np.zeros((len(fwd), 3, 3))
        rot[:, :, 0] = fwd / np.linalg.norm(fwd, axis=-1, keepdims=True)
        rows["yaw"].append(facing_yaw(torch.as_tensor(rot)).numpy())
        rows["flipped"].append(flips[ok, v].any(-1))
        rows["clip"].append(np.full(int(ok.sum()), v))
        rows["frame"].append(np.flatnonzero(ok))
    out = {k: np.concatenate(x) for k, x in rows.items()}
    out["views"] = np.array(names)
    return out


def summarise(rows: dict[str, np.ndarray], names: tuple[str, ...]) -> dict:
    """Per landmark median / p90 residual (% of box side), mean visibility and lag-1 autocorrelation."""
    err = np.linalg.norm(rows["residual"], axis=-1) * 100
    rho = _rho({**rows, "residual": np.nan_to_num(rows["residual"])})
    return {n: {"median_pct_box": float(np.nanmedian(err[:, i])), "p90_pct_box": float(np.nanquantile(err[:, i], 0.9)),
                "visibility_mean": float(rows["visibility"][:, i].mean()), "rho": float(rho[i])}
            for i, n in enumerate(names)}


def markdown(s: dict) -> str:
    lines = [f"# BlazePose on real footage against the multi-camera reference (`{s['reference']}`)", "",
             f"{s['frames']} view-frames from {len(s['views'])} views ({', '.join(s['views'])}); landmark box "
             f"{s['box_px_median']:.0f} px (median). Residual of each view's landmark from the other views' "
             "triangulation, in % of the landmark box's larger side (the noise model's unit), next to BlazePose on "
             f"the engine's renders (`{s['renders_source']}`) in the same yaw sectors ({s['sectors_compared']}).",
             "", "| landmarks | real median % | real p90 % | renders median % | renders p90 % | real / renders (median) | "
             "real visibility | renders visibility |", "|---|---|---|---|---|---|---|---|"]
    for g, v in s["groups"].items():
        lines.append(f"| {g} | {v['real_median']:.1f} | {v['real_p90']:.1f} | {v['renders_median']:.1f} | "
                     f"{v['renders_p90']:.1f} | {v['ratio_median']:.2f} | {v['real_visibility']:.2f} | "
                     f"{v['renders_visibility']:.2f} |")
    lines += ["", f"All landmarks: real median {s['all']['real_median']:.1f} %, renders {s['all']['renders_median']:.1f} % "
              f"(x{s['all']['ratio_median']:.2f}); p90 {s['all']['real_p90']:.1f} vs {s['all']['renders_p90']:.1f} %.",
              f"Lag-1 autocorrelation of the residuals (median over landmarks): real {s['rho_real']:.2f}, renders "
              f"{s['rho_renders']:.2f}.", "",
              "| view | frames | yaw sectors (deg) | left/right fixed in (any group) | median residual % |", "|---|---|---|---|---|"]
    for v in s["per_view"]:
        lines.append(f"| {v['view']} | {v['frames']} | {', '.join(map(str, v['sectors_deg']))} | "
                     f"{100 * v['swap_rate']:.0f} % | {v['median_pct_box']:.1f} |")
    lines += ["", "Swap rate on the renders in the same sectors: " + ", ".join(
        f"{k} deg {100 * r:.0f} %" for k, r in s["renders_swap_rate"].items()), "", "![residuals](residuals.png)"]
    return "\n".join(lines) + "\n"


def plot(s: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(s["groups"])
    x = np.arange(len(groups))
    fig, ax = plt.subplots(figsize=(9, 3.4))
    for k, (key, label, colour) in enumerate((("real", "real footage (vs reference)", "C3"),
                                              ("renders", "engine renders (vs truth)", "C0"))):
        med = [s["groups"][g][f"{key}_median"] for g in groups]
        p90 = [s["groups"][g][f"{key}_p90"] for g in groups]
        ax.bar(x + (k - 0.5) * 0.38, med, 0.36, color=colour, label=f"{label}: median")
        ax.scatter(x + (k - 0.5) * 0.38, p90, color=colour, marker="_", s=200, label=f"{label}: p90")
    ax.set_xticks(x, groups)
    ax.set_ylabel("residual, % of landmark box")
    ax.set_title("BlazePose landmark error: real footage vs the engine's renders (same yaw sectors)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/blazepose_real"))
    args = ap.parse_args()
    report = json.loads((args.reference / "reference.json").read_text())
    rows = real_rows(args.reference, report["settings"]["gate_px"])
    names = tuple(LANDMARK_NAMES)
    real = summarise(rows, names)
    noise = LandmarkNoise.load()
    sectors = sorted(set(yaw_sector(torch.as_tensor(rows["yaw"], dtype=torch.float32)).tolist()))
    keep = torch.cat([torch.arange(int(noise.start[k]), int(noise.start[k] + noise.count[k])) for k in sectors])
    ren_err = noise.residual[keep].norm(dim=-1).numpy() * 100
    ren_vis = noise.visibility[keep].numpy()
    real_err = np.linalg.norm(rows["residual"], axis=-1) * 100
    deg = lambda k: k * 360 // YAW_SECTORS if k <= YAW_SECTORS // 2 else k * 360 // YAW_SECTORS - 360  # noqa: E731

    def group(cols: list[int]) -> dict:
        r, e = real_err[:, cols].ravel(), ren_err[:, cols].ravel()
        r = r[np.isfinite(r)]
        return {"real_median": float(np.median(r)), "real_p90": float(np.quantile(r, 0.9)),
                "renders_median": float(np.median(e)), "renders_p90": float(np.quantile(e, 0.9)),
                "ratio_median": float(np.median(r) / np.median(e)),
                "real_visibility": float(rows["visibility"][:, cols].mean()),
                "renders_visibility": float(ren_vis[:, cols].mean())}

    sector = yaw_sector(torch.as_tensor(rows["yaw"], dtype=torch.float32)).numpy()
    s = {"reference": str(args.reference), "views": [str(v) for v in rows["views"]], "frames": int(len(real_err)),
         "box_px_median": float(np.median(rows["box_px"])), "renders_source": Path(noise.source).name,
         "sectors_compared": ", ".join(f"{deg(k)} deg" for k in sectors),
         "groups": {g: group([names.index(n) for n in ns]) for g, ns in GROUPS.items()},
         "all": group(list(range(33))),
         "rho_real": float(np.median([v["rho"] for v in real.values()])),
         "rho_renders": float(np.median(noise.rho.numpy())),
         "per_view": [{"view": str(name), "frames": int((rows["clip"] == v).sum()),
                       "sectors_deg": sorted({deg(int(k)) for k in sector[rows["clip"] == v]}),
                       "swap_rate": float(rows["flipped"][rows["clip"] == v].mean()),
                       "median_pct_box": float(np.nanmedian(real_err[rows["clip"] == v]))}
                      for v, name in enumerate(rows["views"])],
         "renders_swap_rate": {f"{deg(k)}": float(noise.swap_rate[k]) for k in sectors},
         "landmarks": real}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "blazepose_on_reference.json", json.dumps(s, indent=2) + "\n")
    atomic_write_text(args.out / "blazepose_on_reference.md", markdown(s))
    plot(s, args.out / "residuals.png")
    print(markdown(s))


if __name__ == "__main__":
    main()
