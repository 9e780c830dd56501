"""``d3ke-edge quickstart``: run every stage that exists on built-in defaults and print a short report.

Each stage is a function ``(out_dir, report) -> None`` that adds its numbers to the report; later stages
(synthetic data, training, export) append themselves to ``STAGES``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from ..utils.atomic import atomic_write_text
from .common import console, fail, progress, third_party_log

Report = dict[str, dict[str, object]]


def _stage_skeleton(out: Path, report: Report) -> None:
    """Build the built-in skeleton, write its .osim, check it against opensim and its mirror."""
    import torch

    from ..skeleton.builtin import builtin_skeleton
    from ..skeleton.fk import ForwardKinematics
    from ..skeleton.mirror import derive_mirror, mirror_error
    from ..skeleton.opensim_ref import check_against_opensim
    from ..skeleton.osim_write import write_osim

    skel = builtin_skeleton()
    osim_path = write_osim(skel, out / "skeleton" / "d3ke_edge_fullbody.osim")
    n_poses = 20
    with progress("skeleton vs opensim", n_poses) as step:
        check = check_against_opensim(osim_path, n_poses=n_poses, seed=0, on_pose=step)
    mirror = derive_mirror(skel)
    mirror_err = mirror_error(skel, mirror, n_poses=64)
    fk = ForwardKinematics(skel)
    q = torch.as_tensor(skel.defaults, dtype=torch.float32).expand(1024, -1).contiguous()
    with torch.no_grad():
        fk(q)
        t0 = time.perf_counter()
        for _ in range(5):
            fk(q)
        fk_rate = 5 * 1024 / (time.perf_counter() - t0)
    report["skeleton"] = {
        "osim": str(osim_path),
        "hash": skel.hash,
        "bodies": len(skel.bodies),
        "coordinates": len(skel.coordinates),
        "markers": len(skel.markers),
        "max_body_err_m": check.max_body_err_m,
        "max_marker_err_m": check.max_marker_err_m,
        "opensim_check_passed": check.passed,
        "mirror_max_err_m": max(mirror_err["bodies"], mirror_err["joints"], mirror_err["markers"]),
        "fk_poses_per_s_batch1024": round(fk_rate),
    }
    if not check.passed:
        fail(f"the built-in skeleton disagrees with opensim by {max(check.max_body_err_m, check.max_marker_err_m):.2e} m")


def _stage_motion(out: Path, report: Report) -> None:
    """Write a sample walking motion as .mot (degrees) and its markers as .trc, and read both back with opensim."""
    import torch

    from ..data.motion import walking
    from ..io import MarkerTable, MotionTable, write_mot, write_trc
    from ..skeleton.builtin import builtin_skeleton
    from ..skeleton.fk import ForwardKinematics
    from ..skeleton.opensim_ref import import_opensim

    skel = builtin_skeleton()
    fps = 30.0
    q = walking(skel, seconds=4.0, fps=fps)
    t = np.arange(len(q)) / fps
    mot = write_mot(MotionTable(t, skel.coordinate_names, q, name="walking"), out / "motion" / "walking.mot", skel)
    with torch.no_grad():
        markers = ForwardKinematics(skel, torch.float64)(torch.as_tensor(q)).markers.numpy()
    trc = write_trc(MarkerTable(t, skel.marker_names, markers), out / "motion" / "walking.trc")
    from ..viz.stick import plot_poses

    with torch.no_grad():
        shown = ForwardKinematics(skel, torch.float64)(torch.as_tensor(q[:60:10]))
    preview = plot_poses(skel, shown.joint_centres.numpy(), shown.markers.numpy(), out / "motion" / "walking.png",
                         "built-in skeleton, sample walking motion")
    osim = import_opensim()
    table = osim.TimeSeriesTable(str(mot))
    back = table.getMatrix().to_numpy()
    rot = np.array([c.is_rotational for c in skel.coordinates])
    mot_err = float(np.abs(np.where(rot, np.radians(back), back) - q).max())
    trc_table = osim.TimeSeriesTableVec3(str(trc))
    first = trc_table.getRowAtIndex(0)
    trc_err = max(abs(first[m].get(k) / 1000.0 - markers[0, m, k]) for m in range(len(skel.markers)) for k in range(3))
    report["motion"] = {
        "mot": str(mot),
        "trc": str(trc),
        "preview_png": str(preview),
        "frames": len(q),
        "opensim_mot_roundtrip_max_err": mot_err,
        "opensim_trc_roundtrip_max_err_m": trc_err,
    }


def _stage_synth(out: Path, report: Report) -> None:
    """Render a small synthetic dataset (6 subjects x 4 s) and its preview; read a frame back."""
    from ..data.datasets import SynthShardDataset
    from ..data.preview import write_preview
    from ..data.shards import DatasetSpec, write_dataset

    spec = DatasetSpec(subjects=6, seconds=4.0, sequence_seconds=2.0, fps=30.0, size=256, seed=0)
    total = spec.subjects * spec.sequences_per_subject * 60
    t0 = time.perf_counter()
    with progress("synthetic frames", total) as step:
        manifest = write_dataset(out / "synth", spec, on_frames=step)
    seconds = time.perf_counter() - t0
    frames = sum(c["frames"] for c in manifest["counts"].values())
    size_mb = sum(p.stat().st_size for p in (out / "synth").rglob("*.h5")) / 1e6
    sample = SynthShardDataset(out / "synth", "train")[0]
    preview = write_preview(out / "synth_preview", seconds=1.0)
    report["synth"] = {
        "dataset": str(out / "synth"),
        "frames": frames,
        "splits": {k: v["subjects"] for k, v in manifest["counts"].items()},
        "mb_per_1000_frames": round(size_mb / frames * 1000, 1),
        "write_frames_per_s": round(frames / seconds, 1),
        "sample_image_shape": list(sample["image"].shape),
        "preview_png": str(preview["contact_sheet"]),
        "preview_mp4": str(preview["video"]),
    }


QUICKSTART_CONFIG = Path(__file__).resolve().parents[2] / "train" / "quickstart_cpu.yaml"


def _stage_train(out: Path, report: Report) -> None:
    """Train the CPU quickstart model (train/quickstart_cpu.yaml) and its causal temporal heads."""
    from ..train.config import load_config
    from ..train.temporal import train_temporal
    from .train import print_temporal, run_per_frame

    if not QUICKSTART_CONFIG.is_file():
        fail(f"{QUICKSTART_CONFIG} is missing; the quickstart runs from a source checkout (pip install -e .)")
    exp = load_config(QUICKSTART_CONFIG, out=str(out / "train"))
    summary = run_per_frame(exp, resume=False, rank0=True)
    temporal = train_temporal(exp, out / "train" / "checkpoint_best.pt")
    print_temporal(temporal)
    best = summary["best"]
    report["train"] = {
        "config": str(QUICKSTART_CONFIG),
        "checkpoint": str(out / "train" / "checkpoint_best.pt"),
        "val_angle_mae_deg": best["angle_mae_deg"],
        "mean_pose_angle_mae_deg": summary["mean_pose"]["angle_mae_deg"],
        "val_marker_mpjpe_mm": best["marker_mpjpe_mm"],
        "mean_pose_marker_mpjpe_mm": summary["mean_pose"]["marker_mpjpe_mm"],
        "val_pelvis_rot_err_deg": best["pelvis_rot_err_deg"],
        "train_seconds": summary["train_seconds"],
        "train_frames_per_s": summary["frames_per_s"],
        "temporal": {name: {k: m[k] for k in ("angle_mae_deg", "marker_accel_err_mm", "step_latency_ms")}
                     for name, m in temporal["heads"].items()},
        "per_frame_test": {k: temporal["per_frame"][k] for k in ("angle_mae_deg", "marker_accel_err_mm")},
    }


def _stage_export(out: Path, report: Report) -> None:
    """Export the quickstart model to every target (fp32 and int8; fp16 for Core ML), checked in each runtime.

    Not strict: an artefact that fails its check is left out and reported (red, with the reason) while the others
    are kept; the quickstart then exits non-zero only if an fp32 artefact failed (see ``quickstart``)."""
    from ..artefacts import TARGETS
    from ..export.api import ExportConfig, export
    from .export import print_parity, say

    ckpt = out / "train" / "checkpoint_best.pt"
    rows = export(ckpt, ExportConfig(targets=TARGETS, precisions=("fp32", "int8"), out=str(out / "export"),
                                     strict=False), progress=say)
    rows += export(ckpt, ExportConfig(targets=("coreml",), precisions=("fp16",), out=str(out / "export" / "fp16"),
                                      steps=False, strict=False), progress=say)  # step models are fp32 anyway
    print_parity(rows)
    int8 = next((r for r in rows if r["precision"] == "int8" and "float_blocks" in r), None)
    report["export"] = {
        "dir": str(out / "export"),
        "artefacts": len(rows),
        "passed": sum(r["pass"] for r in rows),
        "all_pass": all(r["pass"] for r in rows),
        "fp32_all_pass": all(r["pass"] for r in rows if r["precision"] == "fp32"),
        "max_fp32_ratio_to_bound": max(r["max_ratio"] for r in rows if r["precision"] == "fp32"),
        "max_streaming_abs_diff": max(r["streaming_max_abs_diff"] or 0.0 for r in rows),
        "int8_float_blocks": int8["float_blocks"] if int8 else None,
        "status": {r["artefact"]: "pass" if r["pass"] else f"FAIL: {r['reason']}" for r in rows},
        **{f"{r['target']}_{r['precision']}_angle_delta_deg": r["angle_mae_delta_deg"] for r in rows
           if r["kind"] == "per_frame"},
    }


def _stage_bench(out: Path, report: Report) -> None:
    """A small robustness report (the model, its TFLite fp32/int8, a streaming head; the study's five conditions at
    three severities) and a latency report (every artefact, the server baseline at 256 px, one edge candidate), the
    HTML report, and the default phone artefact chosen from both."""
    from ..bench.latency import Candidate, LatencyConfig, candidates_from, run_latency, server_candidates
    from ..bench.report import build_report
    from ..bench.robustness import RobustnessConfig, load_predictor, run_robustness, training_distribution
    from ..export.sweep import sweep_artefact
    from .bench import latency_table, robustness_table
    from .export import say

    ckpt, export_dir, bench = out / "train" / "checkpoint_best.pt", out / "export", out / "bench"
    tflite = export_dir / "tflite"
    specs = [str(ckpt), f"{ckpt}:gru_causal"] + [str(p) for p in (tflite / "per_frame_fp32.tflite",
                                                                 tflite / "per_frame_int8.tflite") if p.exists()]
    cfg = RobustnessConfig(severities=(1, 3, 5), sequences=3, seconds=1.0, **training_distribution(ckpt))
    rob = run_robustness([load_predictor(s) for s in specs], cfg, bench, progress=say)
    # the phone runtimes (Core ML runs only as a reference executor off macOS: no latency worth reporting), the
    # checkpoint, the server baseline in PyTorch eager (its onnxruntime conversion is `bench latency`'s job)
    lcfg = LatencyConfig(threads=(1,), iters=30, min_seconds=0.5, server_onnx=False,
                         sweep_models=("d3ke_mnv3_small",), sweep_sizes=(192,), sweep_formats=("tflite_fp32",),
                         video=str(out / "synth_preview" / "preview.mp4"))
    cands = [c for target in ("tflite", "onnx", "torchscript") for c in candidates_from(export_dir / target)]
    cands += candidates_from(ckpt) + server_candidates(lcfg, bench, say=say)
    edge = sweep_artefact("d3ke_mnv3_small", 192, "tflite_fp32", bench / "cache" / "sweep", say)
    cands.append(Candidate("d3ke_mnv3_small 192px", "sweep", {"kind": "artefact", "path": str(edge)}, "fp32", 192,
                           "d3ke_mnv3_small", str(edge)))
    lat = run_latency(cands, lcfg, bench, progress=say)
    html = build_report(bench)
    console.print(robustness_table(rob))
    console.print(latency_table(bench / "latency.json"))
    pick = json.loads((bench / "phone_default.json").read_text()) if (bench / "phone_default.json").exists() else None
    if pick:  # the phone app reads this beside the artefacts
        rel = str(Path(pick["file"]).relative_to(export_dir.resolve()))
        atomic_write_text(export_dir / "phone_default.json", json.dumps({"artefact": rel, **pick}, indent=2) + "\n")
    server = next(r for r in lat["rows"] if r["group"] == "server" and r["kind"] == "torch" and "p50_ms" in r)
    report["bench"] = {
        "report": str(html),
        "clean_angle_mae_deg": {n: s["clean_angle_mae_deg"] for n, s in rob["summary"].items()},
        "mce_vs_baseline": {n: s["mce"] for n, s in rob["summary"].items()},
        "server_p50_ms": server["p50_ms"],
        "phone_default": rel if pick else None,
        "phone_default_p50_ms": pick["p50_ms"] if pick else None,
    }


QUICKSTART_CLIP_SEED = 5  # a held-out engine sequence (training draws its own seeds) that BlazePose tracks throughout


def _stage_infer(out: Path, report: Report) -> None:
    """``d3ke-edge infer`` on a short clip rendered full-frame by the engine (the quickstart cannot assume real
    footage): BlazePose tracking, the export's phone-default artefact and its GRU step head; scored against the truth.
    Without the BlazePose models (offline, no cache) the stage is reported as skipped, not fatal."""
    from ..bench.robustness import training_distribution
    from ..infer.config import InferConfig
    from ..infer.outputs import speed_table, write_outputs
    from ..infer.run import run_infer
    from ..infer.synthetic import score_against_truth, write_test_clip
    from ..models.kinematic_space import KinematicSpace
    from ..video.models import ModelFetchError
    from .export import say

    folder = out / "infer"
    dist = training_distribution(out / "train" / "checkpoint_best.pt")
    video, clip = write_test_clip(folder, QUICKSTART_CLIP_SEED, dist["families"], dist["yaw_range_deg"])
    cfg = InferConfig(video=video, model=out / "export", out=folder)
    try:
        res = run_infer(cfg, say=say)
    except ModelFetchError as exc:
        console.print(f"[yellow]infer skipped: {exc}[/]")
        report["infer"] = {"skipped": str(exc).splitlines()[0]}
        return
    files = write_outputs(res, folder)
    score = score_against_truth(res.frames, clip, KinematicSpace(res.skeleton))
    speed = speed_table(res)
    console.print(f"infer on a rendered {len(res.frames)}-frame clip: person in {score['tracked']}/{score['frames']} "
                  f"frames, angle MAE {score['angle_mae_deg']:.2f} deg against the truth ({res.model_name} + "
                  f"{res.head}), root depth error {100 * score['depth_err_rel_median']:.0f} % (median), "
                  f"{speed['path']['fps']:.0f} frames/s decode..fit; overlay: {files['overlay.mp4']}")
    report["infer"] = {
        "video": str(video), "overlay": str(files["overlay.mp4"]), "mot": str(files["kinematics.mot"]),
        "model": res.model_name, "head": res.head, "tracked_frames": score["tracked"], "frames": score["frames"],
        "angle_mae_deg": score["angle_mae_deg"], "root_depth_err_median": score["depth_err_rel_median"],
        "path_fps": speed["path"]["fps"],
    }


LIFT_CONFIG = QUICKSTART_CONFIG.with_name("lift_quickstart.yaml")


def _stage_landmark(out: Path, report: Report) -> None:
    """The landmark model (BlazePose landmarks -> OpenSim): trained on projected motions with the measured BlazePose
    noise (train/lift_quickstart.yaml), exported to every target (fp32, int8) with parity, and run by infer on the
    infer stage's rendered clip, scored against the same truth as the image model."""
    from ..artefacts import TARGETS
    from ..export.api import ExportConfig, export
    from ..infer.config import InferConfig
    from ..infer.outputs import speed_table, write_outputs
    from ..infer.run import run_infer
    from ..infer.synthetic import render_from_recipe, score_against_truth
    from ..models.kinematic_space import KinematicSpace
    from ..train.config import load_config
    from ..train.temporal import train_temporal
    from ..video.models import ModelFetchError
    from .export import print_parity, say
    from .train import print_temporal, run_per_frame

    if not LIFT_CONFIG.is_file():
        fail(f"{LIFT_CONFIG} is missing; the quickstart runs from a source checkout (pip install -e .)")
    folder = out / "landmark"
    exp = load_config(LIFT_CONFIG, out=str(folder / "train"))
    summary = run_per_frame(exp, resume=False, rank0=True)
    ckpt = folder / "train" / "checkpoint_best.pt"
    temporal = train_temporal(exp, ckpt)
    print_temporal(temporal)
    rows = export(ckpt, ExportConfig(targets=TARGETS, precisions=("fp32", "int8"), out=str(folder / "export"),
                                     strict=False), progress=say)
    print_parity(rows)
    best = summary["best"]
    report["landmark"] = {
        "config": str(LIFT_CONFIG), "checkpoint": str(ckpt),
        "val_angle_mae_deg": best["angle_mae_deg"], "mean_pose_angle_mae_deg": summary["mean_pose"]["angle_mae_deg"],
        "val_pelvis_rot_err_deg": best["pelvis_rot_err_deg"], "train_seconds": summary["train_seconds"],
        "train_samples_per_s": summary["frames_per_s"],
        "temporal": {name: {k: m[k] for k in ("angle_mae_deg", "marker_accel_err_mm", "step_latency_ms")}
                     for name, m in temporal["heads"].items()},
        "per_frame_test": {k: temporal["per_frame"][k] for k in ("angle_mae_deg", "marker_accel_err_mm")},
        "export_dir": str(folder / "export"), "export_artefacts": len(rows),
        "export_passed": sum(r["pass"] for r in rows), "export_all_pass": all(r["pass"] for r in rows),
        "export_fp32_all_pass": all(r["pass"] for r in rows if r["precision"] == "fp32"),
        "export_status": {r["artefact"]: "pass" if r["pass"] else f"FAIL: {r['reason']}" for r in rows},
    }
    recipe = out / "infer" / "clip.json"
    if not recipe.is_file():
        return  # the infer stage was skipped: no clip to compare on
    clip = render_from_recipe(json.loads(recipe.read_text()))
    cfg = InferConfig(video=out / "infer" / "clip.avi", model=folder / "export", out=folder / "infer")
    try:
        res = run_infer(cfg, say=say)
    except ModelFetchError as exc:
        report["landmark"]["infer"] = {"skipped": str(exc).splitlines()[0]}
        return
    files = write_outputs(res, folder / "infer")
    score = score_against_truth(res.frames, clip, KinematicSpace(res.skeleton))
    speed = speed_table(res)
    image = report.get("infer", {}).get("angle_mae_deg")
    console.print(f"infer with the landmark model on the same clip: angle MAE {score['angle_mae_deg']:.2f} deg against "
                  f"the truth ({res.model_name} + {res.head})"
                  + (f", the image model {image:.2f} deg" if image is not None else "")
                  + f", {speed['path']['fps']:.0f} frames/s decode..fit; overlay: {files['overlay.mp4']}")
    report["landmark"]["infer"] = {
        "overlay": str(files["overlay.mp4"]), "mot": str(files["kinematics.mot"]), "model": res.model_name,
        "head": res.head, "tracked_frames": score["tracked"], "angle_mae_deg": score["angle_mae_deg"],
        "image_model_angle_mae_deg": image, "path_fps": speed["path"]["fps"]}


STAGES: list[tuple[str, Callable[[Path, Report], None]]] = [
    ("skeleton", _stage_skeleton),
    ("motion", _stage_motion),
    ("synth", _stage_synth),
    ("train", _stage_train),
    ("export", _stage_export),
    ("bench", _stage_bench),
    ("infer", _stage_infer),
    ("landmark", _stage_landmark),
]


def _print_report(report: Report) -> None:
    table = Table(title="d3ke-edge quickstart", title_justify="left")
    table.add_column("stage")
    table.add_column("result")
    for stage, values in report.items():
        for i, (k, v) in enumerate(values.items()):
            if isinstance(v, dict) and k == "status":
                v = f"{sum(x == 'pass' for x in v.values())}/{len(v)} pass"
            elif isinstance(v, dict) and k == "export_status":
                v = f"{sum(x == 'pass' for x in v.values())}/{len(v)} pass"
            elif isinstance(v, dict):
                continue  # per-model numbers: in the tables printed above and in summary.json
            text = f"{v:.3g}" if isinstance(v, float) else str(v)
            table.add_row(stage if i == 0 else "", f"{k}: {text}")
    console.print(table)


def quickstart(
    out: Annotated[Path, typer.Option("--out", help="Directory for everything the quickstart writes.")] = Path(
        "d3ke_quickstart"
    ),
) -> None:
    """Run every stage on built-in defaults and write OUT/summary.json (other packages' output: OUT/quickstart.log)."""
    out.mkdir(parents=True, exist_ok=True)
    report: Report = {}
    log = out / "quickstart.log"
    console.print(f"messages of the converters and runtimes: {log}")
    with third_party_log(log):
        for name, stage in STAGES:
            t0 = time.perf_counter()
            console.print(f"[bold]stage[/] {name} ...")
            stage(out, report)
            report[name]["seconds"] = round(time.perf_counter() - t0, 2)
    # The headline numbers also sit at the top level, where scripts look for them.
    headline = {k: report["train"][k] for k in ("val_angle_mae_deg", "mean_pose_angle_mae_deg", "val_marker_mpjpe_mm",
                                                "train_seconds")} if "train" in report else {}
    atomic_write_text(out / "summary.json", json.dumps({**headline, **report}, indent=2) + "\n")
    _print_report(report)
    console.print(f"summary: {out / 'summary.json'}")
    fp32_failed = False
    for stage, folder, status, fp32 in (("export", out / "export", "status", "fp32_all_pass"),
                                        ("landmark", out / "landmark" / "export", "export_status",
                                         "export_fp32_all_pass")):
        r = report.get(stage, {})
        failed = [k for k, v in r.get(status, {}).items() if v != "pass"]
        if failed:
            console.print(f"[red]{len(failed)} exported artefact(s) of the {stage} stage failed their check and were "
                          f"left out:[/] {', '.join(failed)} (reasons in {folder / 'parity.md'})")
        fp32_failed |= bool(r) and not r.get(fp32, True)
    if fp32_failed:
        raise typer.Exit(1)  # an fp32 artefact that disagrees with PyTorch is a bug, not a precision trade-off
