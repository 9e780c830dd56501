"""The files of one ``infer`` run, written into the run's staging folder and then moved into place together:

- ``kinematics.mot``: every coordinate per tracked frame (rotational in degrees), the root joint solved in the
  camera-aligned ground frame (``infer.ground``); the header says how the translation was obtained.
- ``markers.trc``: the model's markers in the same ground frame, millimetres; frames without a person are empty.
- ``frames.jsonl``: one line per frame read: time, status (ok / no_person / corrupt), box, person score, the 33
  BlazePose landmarks (x, y, visibility, presence; and their world landmarks when the model takes them), root
  position, the per-frame model's parameters (before the head), the outputs (after the head and the fit to the
  image) and, with the fit, the head's coordinates before it (``network_coordinates``) and its residual in pixels.
- ``overlay.mp4`` (written while reading), ``angles.png`` (the panel's angles over time), ``summary.json``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..io import MarkerTable, MotionTable, write_mot, write_trc
from ..utils.atomic import atomic_write_text
from .ground import solve_root, to_ground
from .run import STAGES, InferResult

__all__ = ["write_outputs", "speed_table", "TRANSLATION_NOTE"]

TRANSLATION_NOTE = ("estimated from the person box and the predicted body size (depth from the box side as in the "
                    "synthetic engine's crops); ground is the camera frame turned Y-up (x right, y up, z towards the "
                    "camera), the floor unknown")


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return np.round(x.astype(np.float64), 6).tolist()
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.floating):
        return float(x)
    return x


def speed_table(res: InferResult) -> dict[str, dict[str, float]]:
    """Per stage: mean and p90 ms over tracked frames; ``path`` = decode..fit (the phone's loop), ``all`` with the
    overlay."""
    st = {k: np.asarray(v) for k, v in res.stage_ms.items() if v}
    rows = {k: {"mean_ms": float(v.mean()), "p90_ms": float(np.percentile(v, 90))} for k, v in st.items()}
    if st:
        path = sum(st[k] for k in STAGES if k != "overlay" and k in st)
        rows["path"] = {"mean_ms": float(path.mean()), "p90_ms": float(np.percentile(path, 90)),
                        "fps": float(1e3 / path.mean())}
    return rows


def _plot_angles(path: Path, time: np.ndarray, values: np.ndarray, names: list[str], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=110)
    joints = list(dict.fromkeys(n.removesuffix("_r").removesuffix("_l") for n in names))
    for i, name in enumerate(names):  # one colour per joint: right solid, left dashed
        colour = f"C{joints.index(name.removesuffix('_r').removesuffix('_l')) % 10}"
        ax.plot(time, values[:, i], lw=1.4, label=name, color=colour, ls="--" if name.endswith("_l") else "-")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("angle (deg)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(ncol=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_outputs(res: InferResult, out: Path) -> dict[str, Path]:
    """Write every file of ``res`` and move them into ``out`` (existing files of an earlier run are replaced); on
    any failure nothing reaches ``out`` and the staging folder is removed."""
    try:
        files = _write_staged(res)
    except BaseException:
        shutil.rmtree(res.staging, ignore_errors=True)
        raise
    out.mkdir(parents=True, exist_ok=True)
    final = {}
    for name, path in files.items():
        dest = out / name
        path.replace(dest)  # same file system: each move is atomic, and all happen after everything succeeded
        final[name] = dest
    shutil.rmtree(res.staging, ignore_errors=True)
    return final


def _write_staged(res: InferResult) -> dict[str, Path]:
    cfg, stage = res.cfg, res.staging
    skel = res.skeleton
    names = res.metadata["coordinate_names"]
    ok = res.tracked
    t = np.array([f["time"] for f in ok])
    q = np.stack([f["outputs"]["coordinates"] for f in ok]).astype(np.float64)
    rot = np.stack([f["outputs"]["pelvis_rot_cam"] for f in ok]).astype(np.float64)
    root = np.stack([f["root_cam"] for f in ok])
    q, residual = solve_root(skel, res.metadata["root_coordinates"], q, rot, root)
    files = {}
    table = MotionTable(t, names, q, name=f"d3ke-edge infer {cfg.video.name}")
    files["kinematics.mot"] = write_mot(table, stage / "kinematics.mot", skel,
                                        header={"d3ke_translation": TRANSLATION_NOTE,
                                                "d3ke_model": res.model_name, "d3ke_head": res.head or "none",
                                                "d3ke_rows": "frames with a person only (see frames.jsonl)"})
    read = [f for f in res.frames if f["status"] != "corrupt"]  # frames without a person stay empty (NaN)
    markers = np.full((len(read), len(skel.marker_names), 3), np.nan)
    for i, f in enumerate(read):
        if f["status"] == "ok":
            markers[i] = to_ground(f["outputs"]["markers_rel"] + f["root_cam"])
    files["markers.trc"] = write_trc(MarkerTable([f["time"] for f in read], skel.marker_names, markers),
                                     stage / "markers.trc")
    lines = [json.dumps(_jsonable(f), separators=(",", ":")) for f in res.frames]
    files["frames.jsonl"] = atomic_write_text(stage / "frames.jsonl", "\n".join(lines) + "\n")
    shown = res.angles
    idx = [names.index(a) for a in shown]
    _plot_angles(stage / "angles.png", t, np.degrees(q[:, idx]), shown,
                 f"{cfg.video.name}: {res.model_name}" + (f" + {res.head}" if res.head else "")
                 + (" + fit" if cfg.refine else "") + f" ({res.runtime})")
    files["angles.png"] = stage / "angles.png"
    if (stage / "overlay.mp4").exists():
        files["overlay.mp4"] = stage / "overlay.mp4"
    summary = {
        "video": str(cfg.video), "model": res.model_name, "runtime": res.runtime, "head": res.head,
        "head_frame_rate_hz": res.head_fps, "fit": cfg.refine, "fit_config": asdict(cfg.fit) if cfg.refine else None,
        "landmark_every": res.landmark_every,
        "every": cfg.every,
        "fps": res.fps, "size": list(res.size), "rotation_deg": res.rotation, "hfov_deg": cfg.hfov,
        "frames": len(res.frames), "tracked": len(ok), "corrupt": res.corrupt, "tracking": res.track,
        "root_solve_residual": residual, "translation": TRANSLATION_NOTE, "speed": speed_table(res),
        "wall_s": res.wall_s, "files": sorted(files),
    }
    files["summary.json"] = atomic_write_text(stage / "summary.json", json.dumps(_jsonable(summary), indent=2))
    return files
