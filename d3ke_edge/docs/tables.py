"""The tables of numbers in the README and ``docs/``, each made from committed result files (``benchmarks/results``,
the default model's parity), so the prose around them cannot drift from the measurements.

A table is a function ``(root: Path) -> str`` (Markdown, links relative to the document that shows it are given by
the caller) registered in ``TABLES`` under the name a document's block uses (``docs.blocks``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

from ..default_model.card import real_footage_summary
from ..reference.report import JOINT_GROUPS

__all__ = ["TABLES", "GROUPS"]

RESULTS = Path("benchmarks/results")
DEFAULT_MODEL = RESULTS / "reference/default_model"
GROUPS = JOINT_GROUPS  # the real-footage tables' joint groups


def _load(root: Path, rel: Path | str) -> dict | list:
    path = root / rel
    if not path.is_file():
        raise FileNotFoundError(f"the docs' tables read '{rel}', which is missing: re-run the benchmark that writes it")
    return json.loads(path.read_text())


def _f(v: float | None, digits: int = 1) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _times(v: float | None) -> str:
    return "" if not v else f"{v:.1f}x" if v < 10 else f"{v:.0f}x"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _groups(coords: dict) -> list[str]:
    return [_f(sum(coords[c]["mae_deg"] for c in cs) / len(cs)) for cs in GROUPS.values()]


def _short(label: str) -> str:
    """A bench reference row label without the model's path and runtime: 'per frame', '+ gru_causal + fit', ..."""
    rest = label.split(")", 1)[1].strip() if ")" in label else label
    return "per frame" + (" " + rest if rest == "+ fit" else "") if rest in ("", "+ fit") else rest.removeprefix("+ ")


def headline(root: Path) -> str:
    """The README's one table: real footage beside its baselines, held-out recorded motion, synthetic, speed,
    parity, the reference's agreement — each cell's number from the file its row links."""
    real = real_footage_summary(_load(root, DEFAULT_MODEL / "reference_bench.json"))  # the card's, as infer runs it
    held = _load(root, RESULTS / "motions/held_out_by_source/held_out.json")
    synth = _load(root, RESULTS / "motions/lift_bank_cpu/landmark_model.json")["A"]["measured noise"]
    speed = _load(root, DEFAULT_MODEL / "infer_speed_cam01.json")["speed"]
    parity = _load(root, "d3ke_edge/default_model/parity.json")
    agree = _load(root, RESULTS / "reference/agreement/agreement.json")["angles"][0]
    fp32 = [p for p in parity if p["precision"] == "fp32"]
    rows = [
        ["Real footage: the shared 4-camera trial, each camera alone, against our multi-camera reference (mean MAE "
         "over 11 angles)", f"{_f(real['mae_deg'])} deg (default model + GRU + fit)",
         f"trial's median pose held {_f(real['median_pose_held_deg'])}, default pose "
         f"{_f(real['default_pose_held_deg'])}",
         f"[reference_bench.md]({DEFAULT_MODEL}/reference_bench.md)"],
        ["Held-out recorded motion capture (the bank's test clips, BlazePose's measured noise)",
         f"{_f(held['mean']['gru_causal'])} deg (GRU), {_f(held['mean']['gru_causal + fit'])} with the fit", "",
         "[held_out.md](benchmarks/results/motions/held_out_by_source/held_out.md)"],
        ["Synthetic test sequences (the default model's own distribution, measured noise)",
         f"{_f(synth['gru_causal']['angle_mae_deg'])} deg (GRU)", f"per frame {_f(synth['per-frame']['angle_mae_deg'])}",
         "[landmark_model.md](benchmarks/results/motions/lift_bank_cpu/landmark_model.md)"],
        ["Speed: `infer` on a 1080x1920 video, decode to fit, one CPU thread",
         f"{_f(speed['path']['mean_ms'])} ms/frame ({_f(speed['path']['fps'], 0)} frames/s)",
         f"BlazePose {_f(speed['track']['mean_ms'])} ms, the fit {_f(speed['fit']['mean_ms'])} ms",
         f"[infer_speed_cam01.json]({DEFAULT_MODEL}/infer_speed_cam01.json)"],
        ["Parity: the shipped TFLite fp32 artefacts against PyTorch (worst angle difference)",
         f"{max(p['angle_mae_delta_deg'] for p in fp32):.1e} deg",
         f"int8: {_f(next(p['angle_mae_delta_deg'] for p in parity if p['precision'] == 'int8'), 2)} deg",
         "[parity.md](d3ke_edge/default_model/parity.md)"],
        ["Our reference against Pose2Sim's published IK of the same trial (10 angles)",
         f"{_f(agree['mean_mae_deg'])} deg", f"their median pose held {_f(agree['median_pose_mae_deg'])}",
         "[agreement.md](benchmarks/results/reference/agreement/agreement.md)"],
    ]
    return _table(["what", "measured", "beside it", "file"], rows)


def real_footage(root: Path) -> str:
    """The default model on each camera of the shared trial, per frame / head, without and with the fit."""
    ref = _load(root, DEFAULT_MODEL / "reference_bench.json")
    rows = [[_short(k), _f(s["mae_deg"]), *_groups(s["coordinates"])] for k, s in ref["summary"].items()]
    rows += [[f"*{k}*", _f(s["mae_deg"]), *_groups(s["coordinates"])] for k, s in ref["baselines"].items()]
    return _table(["default model", "mean MAE deg", *GROUPS], rows)


def ladder(root: Path) -> str:
    """The evaluation ladder: the same model on clean projections, with measured noise, and on real BlazePose."""
    lad = _load(root, DEFAULT_MODEL / "ladder.json")
    cams = lad["cameras"]
    rows = [[k, _f(s["mae_deg"]), *_groups(s["coordinates"]),
             *[_f(lad["per_camera"].get(f"{c} | {k}")) for c in cams]] for k, s in lad["summary"].items()]
    rows += [[f"*{k}*", _f(s["mae_deg"]), *_groups(s["coordinates"]), *[""] * len(cams)]
             for k, s in lad["baselines"].items()]
    return _table(["rung", "mean MAE deg", *GROUPS, *cams], rows)


def agreement(root: Path) -> str:
    """Our reference against each independent result: per coordinate MAE, its median pose held, bias, r."""
    agree = _load(root, RESULTS / "reference/agreement/agreement.json")["angles"]
    coords = list(agree[0]["coordinates"])
    rows = [[a["other"], _f(a["mean_mae_deg"]), _f(a["median_pose_mae_deg"]), str(a["lag_frames"]),
             *[f"{_f(a['coordinates'][c]['mae_deg'])} ({a['coordinates'][c]['bias_deg']:+.0f})" for c in coords]]
            for a in agree]
    return _table(["against", "mean MAE deg", "their median pose held", "lag frames",
                   *[f"{c} (bias)" for c in coords]], rows)


def reference_quality(root: Path) -> str:
    """The shared trial's reference per camera: reprojection, label fixes, the camera predicted from the others."""
    ref = _load(root, RESULTS / "reference/reference.json")
    rows = [[name, f"{c['tracked_frames']}/{c['frames']}", f"{c['offset_frames']:+d}", _f(c["reprojection_median_px"]),
             _f(c["reprojection_p90_px"]), f"{100 * c['used_fraction']:.0f} %", _f(c["final_median_px"]),
             _f(c["held_out_median_px"])] for name, c in ref["cameras"].items()]
    rows.append(["**all**", "", "", _f(ref["reprojection_median_px"]), "", "", _f(ref["final_reprojection_median_px"]),
                 _f(ref["held_out_median_px"])])
    ik = ref["ik"]
    return (_table(["camera", "tracked", "offset", "reprojection median px", "p90 px", "used in",
                    "refined median px", "predicted from the others px"], rows)
            + f"\n\nOpenSim IK marker error: RMS median {_f(ik['marker_rms_median_mm'])} mm, p90 "
              f"{_f(ik['marker_rms_p90_mm'])} mm over {ik['frames']} frames.")


def reference_bones(root: Path) -> str:
    """The shared trial's segment lengths and their std: refined, filtered only, raw per frame."""
    ref = _load(root, RESULTS / "reference/reference.json")
    rows = [[seg, _f(v["mean_mm"], 0), _f(v["std_mm"]), _f(ref["bones_unrefined"][seg]["std_mm"]),
             _f(ref["bones_raw"][seg]["std_mm"])] for seg, v in ref["bones_filtered"].items()]
    return _table(["segment", "length mm", "std mm (reference, refined)", "filtered, not refined", "raw per frame"],
                  rows)


def single_camera_models(root: Path) -> str:
    """Earlier models (the image quickstart model, ``lift_cpu.yaml``'s landmark model) on the shared trial."""
    ref = _load(root, RESULTS / "reference/bench_image_lift.json")
    rows = [[f"`{k}`", _f(s["mae_deg"]), _f(s["rmse_deg"]), *_groups(s["coordinates"])] for k, s in ref["summary"].items()]
    return _table(["model", "mean MAE deg", "RMSE", *GROUPS], rows)


def conditions(root: Path) -> str:
    """The study's conditions on the real videos: mean MAE per model, clean and the change under each condition."""
    c = _load(root, RESULTS / "reference/bench_conditions.json")
    models = list(c["summary"])
    cells: dict[tuple[str, int], dict[str, list[float]]] = {}
    for r in c["robustness_rows"]:
        per = [v["mae_deg"] for v in r["coordinates"].values()]
        cells.setdefault((r["condition"], r["severity"]), {}).setdefault(r["model"], []).extend(per)
    clean = {m: c["summary"][m]["mae_deg"] for m in models}
    rows = [["clean", "", *[_f(clean[m]) for m in models]]]
    for (cond, sev), per_model in cells.items():
        rows.append([cond, str(sev), *[f"{sum(v) / len(v) - clean[m]:+.1f}" if (v := per_model.get(m)) else ""
                                       for m in models]])
    return _table(["condition", "severity", *[f"`{m}`" for m in models]], rows)


def landmark_model(root: Path) -> str:
    """``lift_cpu.yaml``'s landmark model against the image quickstart model on synthetic tests (A: its own
    distribution; B: the image model's rendered sequences; C: rendered clips through infer)."""
    lm = _load(root, RESULTS / "landmark_model/landmark_model.json")
    keys = ("angle_mae_deg", "angle_hips_deg", "angle_knees_deg", "angle_ankles_feet_deg", "angle_shoulders_deg",
            "angle_elbows_forearms_deg", "pelvis_rot_err_deg")
    rows = []
    for section in ("A", "B", "C"):
        for data, heads in lm.get(section, {}).items():
            for head, e in heads.items():
                if isinstance(e, dict) and "angle_mae_deg" in e:
                    rows.append([section, data, head, *[_f(e.get(k), 2) for k in keys]])
    return _table(["test", "data / model", "head", "angle MAE", "hips", "knees", "ankles/feet", "shoulders", "elbows",
                   "pelvis orientation"], rows)


def infer_speed(root: Path) -> str:
    """``infer`` per stage on the shared trial's cam01 (1080x1920), one thread."""
    s = _load(root, DEFAULT_MODEL / "infer_speed_cam01.json")
    rows = [[k, _f(v["mean_ms"], 2), _f(v["p90_ms"], 2)] for k, v in s["speed"].items() if k != "overlay"]
    return (_table(["stage", "mean ms", "p90 ms"], rows)
            + f"\n\n{s['frames']} frames of {s['size'][0]}x{s['size'][1]}, model `{s['model']}` "
              f"({s['runtime']}), head {s['head']}: {_f(s['speed']['path']['fps'], 0)} frames/s decode to fit.")


def latency(root: Path) -> str:
    """The latency benchmark's server baseline and edge sweep (p50 ms, 1 thread)."""
    lat = _load(root, RESULTS / "latency/latency.json")
    m = lat["machine"]
    rows = [[r["name"], r["runtime"], r["precision"], _f(r["p50_ms"], 2),
             "" if r["kind"] == "torch_head" else _times(r.get("speedup_vs_server"))]
            for r in lat["rows"] if r["group"] in ("server", "sweep")]
    return (_table(["candidate", "runtime", "precision", "p50 ms", "faster than the server"], rows)
            + f"\n\nMeasured on {m['cores']} cores of an {m['cpu']} ({m['isa']}), torch {m['torch']}, 1 thread; "
              "random weights (latency does not depend on them).")


def held_out(root: Path) -> str:
    """The default model on the motion bank's held-out test clips, per source."""
    h = _load(root, RESULTS / "motions/held_out_by_source/held_out.json")
    cols = list(h["mean"])
    rows = [[s, str(sum(c["source"] == s for c in h["clips"].values())), *[_f(v[k], 2) for k in cols]]
            for s, v in h["by_source"].items()]
    rows.append(["**all clips**", str(len(h["clips"])), *[_f(h["mean"][k], 2) for k in cols]])
    return _table(["source", "clips", *cols], rows)


def synthetic(root: Path) -> str:
    """The default model on its own synthetic test distribution, under each landmark condition."""
    a = _load(root, RESULTS / "motions/lift_bank_cpu/landmark_model.json")["A"]
    keys = ("angle_mae_deg", "angle_hips_deg", "angle_knees_deg", "angle_ankles_feet_deg", "angle_shoulders_deg",
            "angle_elbows_forearms_deg")
    rows = [[cond, head, *[_f(e[k], 2) for k in keys]] for cond, heads in a.items() for head, e in heads.items()]
    return _table(["landmarks", "model", "angle MAE", "hips", "knees", "ankles/feet", "shoulders", "elbows"], rows)


def bank(root: Path) -> str:
    """The shared motion bank as imported: files, refused, seconds per split."""
    m = _load(root, RESULTS / "motions/manifest.json")
    s = m["summary"]
    return _table(["files", "imported", "refused", "train s", "val s", "test s", "bank hash"],
                  [[str(s["files"]), str(s["imported"]), str(s["refused"]), *[_f(s["seconds"][k]) for k in
                                                                               ("train", "val", "test")],
                    f"`{m['bank_hash'][:12]}`"]])


def parity(root: Path) -> str:
    """The shipped default model's artefacts against PyTorch, worst kernel family."""
    p = _load(root, "d3ke_edge/default_model/parity.json")
    rows = [[x["artefact"], f"{x['size_mb']:.2f}", f"{x['angle_mae_delta_deg']:.2g}", f"{x['marker_delta_mm']:.2g}",
             "pass" if x["pass"] else f"FAIL: {x.get('reason')}"] for x in p]
    return _table(["artefact", "MB", "angle difference deg", "marker difference mm", "check"], rows)


def fk_speed(root: Path) -> str:
    """Our batched FK against opensim's per-pose realizePosition (``benchmarks/fk_speed.py``), batch 1024."""
    rows = []
    for path in sorted((root / RESULTS / "fk_speed").glob("fk_speed_*.json")):
        r = _load(root, path.relative_to(root))
        p = r["poses_per_s"]
        rows.append([f"{Path(r['model']).stem} ({r['bodies']} bodies, {r['markers']} markers)",
                     *[f"{p[k]:,}" for k in ("ours_fp32_1thread", "ours_fp32_2threads", "ours_fp64_2threads")],
                     f"{next(v for k, v in p.items() if k.startswith('opensim')):,}"])
    return _table(["model", "ours fp32, 1 thread", "ours fp32, 2 threads", "ours fp64, 2 threads",
                   "opensim (set q, realizePosition, read all)"], rows)


def gpu_check(root: Path) -> str:
    """The short GPU check (``benchmarks/gpu_check.py``): server training step rates and inference latency."""
    eager = _load(root, RESULTS / "gpu_check_h100_eager.json")
    comp = _load(root, RESULTS / "gpu_check_h100_compile.json")
    rows = [["training, eager, bf16, data rendered on the GPU (steady)",
             _f(eager["throughput"]["frames_per_s_steady"], 0)],
            ["optimisation step alone, eager", _f(eager["step"]["frames_per_s"], 0)],
            ["optimisation step, `torch.compile`", _f(comp["step_compile"]["frames_per_s"], 0)],
            ["optimisation step, CUDA graphs (`compile_mode: reduce-overhead`)",
             _f(comp["step_cudagraphs"]["frames_per_s"], 0)],
            ["the renderer, 256-px crops", _f(comp["render_split"]["crops_per_s"], 0)]]
    lat = [[f"{x['model']} {x['size']} px, batch {x['batch']}, {x['precision']}", _f(x["frames_per_s"], 0)]
           for x in eager["latency"]]
    return (_table([f"server recipe on one {eager['device']} (torch {eager['torch']})", "frames/s"], rows) + "\n\n"
            + _table(["inference", "frames/s"], lat))


def first_guess(root: Path) -> str:
    """How good the network's first guess must be (``benchmarks/first_guess.py``): per factor, the real trial and
    held-out motion without the fit and with each fit setting."""
    r = _load(root, RESULTS / "first_guess/first_guess.json")
    fits = list(r["fits"])
    parts = [(name, r[key]["rows"]) for name, key in (("real", "real"), ("held-out", "held_out")) if key in r]
    cell = {(name, row["factor"], row["fit"]): row for name, rows in parts for row in rows}
    header = ["factor"] + [f"{name}: {'network alone' if f == 'no fit' else '+ ' + f}" for name, _ in parts
                           for f in fits]
    rows = [[f"{factor:g}" + (" (as shipped)" if factor == 1 else "")]
            + [_f(cell[name, factor, f]["mae_deg"], 1 if name == "real" else 2) for name, _ in parts for f in fits]
            for factor in r["factors"]]
    return _table(header, rows)


TABLES: dict[str, Callable[[Path], str]] = {f.__name__: f for f in (
    headline, fk_speed, real_footage, ladder, agreement, reference_quality, reference_bones, single_camera_models,
    conditions, landmark_model, infer_speed, latency, held_out, synthetic, bank,
    parity, gpu_check, first_guess)}
