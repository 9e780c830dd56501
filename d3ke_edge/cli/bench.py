"""``d3ke-edge bench robustness | latency | report | reference``: accuracy under test-time conditions, latency, the
report, and single-camera accuracy against a multi-camera reference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import FIT_CONFIG_HELP, console, err_console, fail, read_fit_config, third_party_log
from .export import say

app = typer.Typer(no_args_is_help=True, add_completion=False)


def _model_specs(specs: list[str]) -> list[str]:
    """An export folder stands for its per-frame artefacts, each alone and with every step model beside it."""
    out = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir() and path.suffix != ".mlpackage":
            found = sorted(p for p in path.glob("*/per_frame_*") if p.suffix in (".tflite", ".onnx", ".pt",
                                                                                  ".mlpackage"))
            if not found:
                raise ValueError(f"'{path}' holds no per-frame artefact (TARGET/per_frame_PRECISION.EXT); give an "
                                 "export folder, an artefact or a checkpoint")
            for p in found:
                out.append(str(p))
                out += [f"{p}:{s.stem.removeprefix('step_')}" for s in sorted(p.parent.glob(f"step_*{p.suffix}"))]
        else:
            out.append(spec)
    return out


@app.command("robustness")
def robustness(
    model: Annotated[list[str], typer.Option(help="PATH or PATH:HEAD: a per-frame checkpoint (with a temporal head "
                                                  "temporal_HEAD.pt beside it: causal heads scored streaming, "
                                                  "transformer_centre243 offline), a per-frame artefact (with "
                                                  "step_HEAD.<ext> beside it), or an export folder (all of its "
                                                  "per-frame artefacts, alone and with each step model); repeat.")],
    data: Annotated[list[str] | None, typer.Option(help="Test data, repeatable: synth:N (N synthetic held-out "
                                                        "sequences), a folder written by `d3ke-edge synth` (its "
                                                        "test split), or bmlmovi:DIR (D3KE's BML-MoVi layout).")] = None,
    motion: Annotated[list[Path] | None, typer.Option(help="A .mot/.sto file rendered by the engine as one more "
                                                           "test sequence; repeatable.")] = None,
    baseline: Annotated[str | None, typer.Option(help="The reference for mCE and the paired differences (PATH or "
                                                      "PATH:HEAD; added to the models). Default: a d3ke_resnext50 "
                                                      "among --model, else the first model.")] = None,
    conditions: Annotated[str, typer.Option(help="'study' (hflip, resize, crop, brightness, contrast), 'all', or "
                                                 "a comma-separated list.")] = "study",
    severities: Annotated[str, typer.Option(help="Comma-separated severities 1-5 (clean is always run).")] = "1,3,5",
    seconds: Annotated[float, typer.Option(help="Seconds per synthetic test sequence.")] = 1.0,
    like: Annotated[Path | None, typer.Option(help="Test on the motion families and camera yaws this checkpoint was "
                                                   "trained on (default: the first checkpoint among --model; "
                                                   "artefacts only: everything).")] = None,
    out: Annotated[Path, typer.Option(help="Report folder (robustness.json / .md; cache/ makes reruns free).")] = Path(
        "bench"),
) -> None:
    """Angle, joint and marker errors per model x condition x severity, the change against clean, and each model
    against the baseline (paired bootstrap by sequence, mean corruption error)."""
    from ..bench.robustness import RobustnessConfig, load_predictor, run_robustness, training_distribution
    from ..data.conditions import CONDITIONS, STUDY_CONDITIONS
    from ..train.checkpoint import CheckpointError

    names = {"study": STUDY_CONDITIONS, "all": ("hflip", *CONDITIONS)}.get(
        conditions, tuple(c.strip() for c in conditions.split(",") if c.strip()))
    try:
        sequences, shards, bml = 0, [], []
        for src in data or ["synth:4"]:
            if src.startswith("synth:"):
                sequences += int(src.removeprefix("synth:"))
            elif src.startswith("bmlmovi:"):
                bml.append(src.removeprefix("bmlmovi:"))
            else:
                shards.append(src)
        levels = tuple(int(s) for s in severities.split(","))
        base_cfg = dict(conditions=names, severities=levels, sequences=sequences, seconds=seconds,
                        motions=tuple(str(m) for m in motion or ()), shards=tuple(shards), bmlmovi=tuple(bml))
        RobustnessConfig(**base_cfg)  # bad conditions, severities or data fail before any loading
        with third_party_log(out.parent / f"{out.name}_bench.log"):
            specs = _model_specs(model)
            predictors = [load_predictor(m) for m in specs]
            base = None
            if baseline:
                base = load_predictor(baseline)
                predictors.insert(0, base)
            like = like or next((p.checkpoint for p in predictors if p.checkpoint is not None), None)
            dist = training_distribution(like) if like else {}
            cfg = RobustnessConfig(**base_cfg, **dist)
            results = run_robustness(predictors, cfg, out, progress=say, baseline=base)
    except (ValueError, FileNotFoundError, CheckpointError) as exc:
        fail(str(exc))
    console.print(robustness_table(results))
    console.print(f"report: {out / 'robustness.json'} and robustness.md ({results['cells_computed']} cells computed, "
                  "the rest from the cache)")


def robustness_table(results: dict):
    """Per model: clean error, the mean over conditions, mCE against the baseline, the worst condition."""
    from rich.table import Table

    table = Table(title=f"Robustness (baseline for mCE: {results['baseline']})", title_justify="left")
    for col in ("model", "clean deg", "conditions deg", "mCE", "worst condition"):
        table.add_column(col, justify="left" if col in ("model", "worst condition") else "right")
    for name, s in results["summary"].items():
        rows = {k: r for k, r in results["models"][name].items() if not k.startswith(("clean", "hflip_unmirrored"))}
        worst = max(rows, key=lambda k: rows[k]["angle_mae_deg"]) if rows else ""
        short = name.replace("ai-edge-litert Interpreter (XNNPACK)", "LiteRT")
        table.add_row(short, f"{s['clean_angle_mae_deg']:.2f}", f"{s['corrupted_angle_mae_deg']:.2f}",
                      f"{s['mce']:.0%}",
                      f"{worst} {rows[worst]['angle_mae_deg']:.2f} ({rows[worst]['angle_drop_vs_clean']:+.0%})" if worst
                      else "")
    return table


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip() and t.strip() != "none")


@app.command("latency")
def latency(
    model: Annotated[list[str] | None, typer.Option(help="An artefact, an export folder (every artefact in it) or a "
                                                         "checkpoint (PyTorch eager); repeat.")] = None,
    threads: Annotated[str, typer.Option(help="Comma-separated CPU thread counts.")] = "1,2",
    iters: Annotated[int, typer.Option(help="Timed calls per row (after warm-up).")] = 50,
    warmup: Annotated[int, typer.Option(help="Untimed warm-up calls per row.")] = 5,
    server: Annotated[bool, typer.Option(help="Time the server baseline (d3ke_resnext50, PyTorch eager and "
                                              "onnxruntime, and the 243-frame head) in the same run.")] = True,
    server_size: Annotated[int, typer.Option(help="The server baseline's input size.")] = 256,
    server_checkpoint: Annotated[Path | None, typer.Option(help="A d3ke_resnext50 checkpoint for the baseline "
                                                                "(default: random weights).")] = None,
    sweep: Annotated[str, typer.Option(help="Registered models for the edge sweep, comma-separated, or 'none'.")] = (
        "d3ke_mnv3_small,d3ke_mnv3_large,d3ke_effnet_b0"),
    sizes: Annotated[str, typer.Option(help="Edge sweep input sizes.")] = "128,192,256",
    formats: Annotated[str, typer.Option(help="Edge sweep formats: tflite_fp32, tflite_int8, onnx_fp32.")] = (
        "tflite_fp32,tflite_int8,onnx_fp32"),
    video: Annotated[Path | None, typer.Option(help="A video to time the whole per-frame path on (decode, crop, "
                                                    "model, step head) for each per-frame artefact given.")] = None,
    out: Annotated[Path, typer.Option(help="Report folder (latency.json / .md; cache/ holds converted sweep "
                                           "models).")] = Path("bench"),
) -> None:
    """Load time, first call, p50/p90/p99, frames/s, peak memory and size per artefact, against the server
    baseline measured in the same run."""
    from ..bench.latency import Candidate, LatencyConfig, candidates_from, run_latency, server_candidates
    from ..export.sweep import sweep_artefact
    from ..train.checkpoint import CheckpointError

    try:
        if video is not None and not video.is_file():
            raise FileNotFoundError(f"video '{video}' does not exist")
        cfg = LatencyConfig(threads=tuple(int(t) for t in _csv(threads)), iters=iters, warmup=warmup, server=server,
                            server_size=server_size, sweep_models=_csv(sweep),
                            sweep_sizes=tuple(int(s) for s in _csv(sizes)), sweep_formats=_csv(formats),
                            video=str(video) if video else None)
        with third_party_log(out.parent / f"{out.name}_bench.log"):
            cands = [c for m in model or [] for c in candidates_from(m)]
            if cfg.server:
                cands += server_candidates(cfg, out, str(server_checkpoint) if server_checkpoint else None, say,
                                           convert=sweep_artefact)
            for name in cfg.sweep_models:
                for size in cfg.sweep_sizes:
                    for fmt in cfg.sweep_formats:
                        path = sweep_artefact(name, size, fmt, out / "cache" / "sweep", say)
                        cands.append(Candidate(f"{name} {size}px", "sweep", {"kind": "artefact", "path": str(path)},
                                               fmt.split("_")[1], size, name, str(path)))
            if not cands:
                raise ValueError("nothing to time: give --model, or keep the server baseline or the sweep")
            run_latency(cands, cfg, out, progress=say)
    except (ValueError, FileNotFoundError, CheckpointError) as exc:
        fail(str(exc))
    console.print(latency_table(out / "latency.json"))
    console.print(f"report: {out / 'latency.json'} and latency.md (every column)")


_RUNTIMES = (("ai-edge-litert", "LiteRT"), ("onnxruntime", "onnxruntime"), ("torch.jit", "TorchScript"),
             ("MIL reference", "Core ML (MIL ref.)"), ("coremltools", "Core ML"), ("PyTorch eager (CPU)", "PyTorch"),
             ("PyTorch eager", "PyTorch CUDA"))


def _runtime_short(runtime: str) -> str:
    return next((short for prefix, short in _RUNTIMES if runtime.startswith(prefix)), runtime.split(" (")[0])


def latency_table(path: Path):
    """The headline columns of latency.json as a rich table that fits 80 columns (the .md has every column)."""
    import json

    from rich.table import Table

    results = json.loads(Path(path).read_text())
    m, threads = results["machine"], results["config"]["threads"]
    one = len(threads) == 1
    table = Table(title=f"Latency, measured on {m['cpu']} ({m['isa']}, {m['cores']} cores)"
                  + (f", {threads[0]} thread" + "s" * (threads[0] > 1) if one else ""), title_justify="left")
    cols = [("model", "left"), ("runtime", "left"), ("prec", "left"), ("px", "right")] + (
        [] if one else [("thr", "right")]) + [("p50 ms", "right"), ("vs server", "right"), ("+MB", "right")]
    for col, just in cols:
        table.add_column(col, justify=just, overflow="fold")
    for r in results["rows"]:
        name = r["name"].replace("per_frame_", "").replace("video path: ", "video: ")
        if "error" in r:
            table.add_row(name, f"[red]failed: {r['error']}[/red]", *[""] * (len(cols) - 2))
            continue
        speedup = r.get("speedup_vs_server")
        ratio = "" if speedup is None else (f"{speedup:,.0f}x" if speedup >= 10 else f"{speedup:.2f}x")
        cells = [name, _runtime_short(r["runtime"]), r["precision"], str(r["size"] or "")] + (
            [] if one else [str(r["threads"])]) + [f"{r['p50_ms']:.2f}", ratio, f"{r['rss_model_mb']:.0f}"]
        table.add_row(*cells)
    return table


@app.command("report")
def report(folder: Annotated[Path, typer.Argument(help="A folder holding robustness.json and/or latency.json.")]
           ) -> None:
    """Rebuild report.html (plots embedded), plots/*.png and phone_default.json from the JSON results."""
    from ..bench.report import build_report

    try:
        path = build_report(folder)
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    console.print(f"report: {path}")


@app.command("reference")
def reference(
    reference_dir: Annotated[Path, typer.Option("--reference", help="A folder made by d3ke-edge reference.")],
    model: Annotated[list[Path], typer.Option("--model", help="A model infer accepts (checkpoint, export folder or artefact); repeat for several.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (reference_bench.json/.md, Bland-Altman plots).")],
    heads: Annotated[str, typer.Option("--heads", help="Comma-separated: none (per frame) and/or auto (the model's causal head).")] = "none,auto",
    conditions: Annotated[str, typer.Option("--conditions", help="Comma-separated test-time conditions applied to the real videos before BlazePose: hflip, resize, crop, brightness, contrast ('' = none; 'study' = all five).")] = "",
    severities: Annotated[str, typer.Option("--severities", help="Comma-separated severities 1-5 for the conditions (hflip has one).")] = "1,3,5",
    cameras: Annotated[str, typer.Option("--cameras", help="Comma-separated camera names of the reference (default: all).")] = "",
    fit: Annotated[str, typer.Option("--fit", help="Comma-separated: off (the network alone) and/or on (with infer's fit to the image).")] = "off,on",
    fit_config: Annotated[Optional[Path], typer.Option("--fit-config", help=FIT_CONFIG_HELP)] = None,
) -> None:
    """Each camera of the reference's trial through infer with each model, per frame and streaming, without and with
    the fit to the image, against the
    reference's OpenSim angles (time-aligned): MAE, RMSE and bias per coordinate, Bland-Altman plots; with
    --conditions, again on the videos under the reproduction study's test-time conditions."""
    from ..bench.reference import bench_reference
    from ..infer.model import InferModelError
    from ..infer.run import InferError
    from ..train.checkpoint import CheckpointError
    from ..video.models import ModelFetchError
    from .common import err_console, progress

    head_list = tuple(h.strip() for h in heads.split(",") if h.strip())
    if not head_list or any(h not in ("none", "auto") for h in head_list):
        fail(f"--heads takes none and/or auto, got '{heads}'")
    for m in model:
        if not m.exists():
            fail(f"--model '{m}' does not exist")
    from ..bench.video_conditions import VIDEO_CONDITIONS

    cond_list = VIDEO_CONDITIONS if conditions.strip() == "study" else tuple(
        c.strip() for c in conditions.split(",") if c.strip())
    bad = [c for c in cond_list if c not in VIDEO_CONDITIONS]
    if bad:
        fail(f"--conditions: {bad} are not defined on video frames; choose from {', '.join(VIDEO_CONDITIONS)} or study")
    try:
        sev_list = tuple(int(v) for v in severities.split(",") if v.strip())
    except ValueError:
        fail(f"--severities takes comma-separated integers 1-5, got '{severities}'")
    if cond_list and (not sev_list or any(not 1 <= v <= 5 for v in sev_list)):
        fail(f"--severities must be within 1-5, got '{severities}'")
    cam_list = tuple(c.strip() for c in cameras.split(",") if c.strip())
    fit_words = [f.strip() for f in fit.split(",") if f.strip()]
    if not fit_words or any(f not in ("off", "on") for f in fit_words):
        fail(f"--fit takes off and/or on, got '{fit}'")
    fit_cfg = read_fit_config(fit_config)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with third_party_log(out / "bench_reference.log"), progress("camera x model runs", 1) as advance:
            result = bench_reference(reference_dir, model, out, head_list,
                                     say=lambda m: err_console.print(f"[dim]{m}[/]", highlight=False),
                                     advance=advance, total=advance.set_total, conditions=cond_list,
                                     severities=sev_list, cameras=cam_list,
                                     fits=tuple(dict.fromkeys(f == "on" for f in fit_words)), fit_config=fit_cfg)
    except (FileNotFoundError, InferError, InferModelError, CheckpointError, ModelFetchError, ValueError) as exc:
        fail(str(exc))
    _print_reference_tables(result)
    console.print(f"written to {out}: reference_bench.md, reference_bench.json, bland_altman_*.png"
                  + (", robustness_reference.png" if result.get("robustness") else ""))


def _print_reference_tables(result: dict) -> None:
    """bench reference's summary on the terminal: the models beside the held poses, then the conditions."""
    import numpy as np
    from rich.table import Table

    table = Table(title="Single camera against the reference (deg, all cameras pooled)")
    for col in ("model", "mean MAE", "mean RMSE", "knees MAE", "hips MAE", "elbows MAE"):
        table.add_column(col, justify="left" if col == "model" else "right")
    pair = lambda s, a, b: np.nanmean([s["coordinates"].get(c, {}).get("mae_deg", np.nan) for c in (a, b)])  # noqa: E731
    for label, s in {**result["summary"], **{f"[dim]{k}[/]": v for k, v in result.get("baselines", {}).items()}}.items():
        table.add_row(label, f"{s['mae_deg']:.1f}", f"{s['rmse_deg']:.1f}",
                      f"{pair(s, 'knee_angle_r', 'knee_angle_l'):.1f}", f"{pair(s, 'hip_flexion_r', 'hip_flexion_l'):.1f}",
                      f"{pair(s, 'elbow_flex_r', 'elbow_flex_l'):.1f}")
    console.print(table)
    if result.get("robustness"):
        table = Table(title="Under test-time conditions on the real videos (mean MAE, deg; change from clean)")
        labels = list(result["robustness"])
        table.add_column("condition")
        for label in labels:
            table.add_column(label, justify="right")
        table.add_row("clean", *(f"{result['robustness'][m]['clean']['mae_deg']:.1f}" for m in labels))
        keys = list(dict.fromkeys(k for m in labels for k in result["robustness"][m]["cells"]))
        for key in keys:
            cells = [result["robustness"][m]["cells"].get(key) for m in labels]
            table.add_row(key.replace(":", " "), *(
                "" if c is None else ("no person" if c["mae_deg"] is None else
                                      f"{c['mae_deg']:.1f} ({c['delta_deg']:+.1f})") for c in cells))
        console.print(table)


@app.command("reference-agreement")
def reference_agreement(
    ours: Annotated[Path, typer.Argument(help="A folder made by d3ke-edge reference (or any .mot).")],
    other: Annotated[list[Path], typer.Option("--other", help="An independent .mot/.sto of the same trial (e.g. Pose2Sim's IK); repeat for several.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (agreement.json/.md, agreement.png).")],
    max_lag: Annotated[int, typer.Option("--max-lag", help="Frames: the time lag between the two results is searched within this, either way.")] = 6,
    trc: Annotated[Optional[Path], typer.Option("--trc", help="Another triangulation of the same keypoints (.trc, e.g. Pose2Sim's) to compare our landmarks.trc with; the limb they disagree on most is drawn into the reference's videos (chain_<limb>.jpg).")] = None,
) -> None:
    """Our reference against independent results of the same trial, coordinate by name: the best lag, then per
    coordinate mean absolute difference, bias, bias-removed MAE, RMSE and correlation, and a plot; with --trc the
    triangulated keypoints themselves and the limb angles they make."""
    from rich.table import Table

    from ..bench.agreement import run_agreement

    for p in [ours, *other, *([trc] if trc else [])]:
        if not p.exists():
            fail(f"'{p}' does not exist")
    if max_lag < 0:
        fail(f"--max-lag must be >= 0, got {max_lag}")
    try:
        result = run_agreement(ours, list(other), out, max_lag, trc)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    for r in result["angles"]:
        table = Table(title=f"ours - {r['other']} (lag {r['lag_frames']:+d} frames): mean MAE {r['mean_mae_deg']:.1f} "
                            f"deg; its median pose held: {r['median_pose_mae_deg']:.1f}")
        for col in ("coordinate", "MAE", "median pose", "bias", "MAE unbiased", "corr."):
            table.add_column(col, justify="left" if col == "coordinate" else "right")
        for c, m in r["coordinates"].items():
            table.add_row(c, f"{m['mae_deg']:.1f}", f"{m['median_pose_mae_deg']:.1f}", f"{m['bias_deg']:+.1f}",
                          f"{m['mae_bias_removed_deg']:.1f}", f"{m['correlation']:.2f}")
        console.print(table)
    if "landmarks" in result:
        lm = result["landmarks"]
        console.print(f"landmarks: median {lm['median_mm']:.0f} mm apart; limb angles from the points alone: "
                      + ", ".join(f"{k} {v['bias_deg']:+.0f} deg" for k, v in lm["chains"].items()))
        views = lm.get("views", {})
        if "image" in views:
            console.print(f"{views['chain']} drawn into every view where the two differ most ({views['image']}): look "
                          "at which one lies on the limb")
        elif views:
            console.print(f"{views['chain']} not drawn into the views: {views['skipped']}")
    console.print(f"written to {out}: agreement.md, agreement.json, agreement.png")


@app.command("ladder")
def ladder(
    reference_dir: Annotated[Path, typer.Option("--reference", help="One person's folder made by d3ke-edge reference (or a folder with one person).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (ladder.json/.md).")],
    model: Annotated[Optional[Path], typer.Option("--model", help="A landmark model infer accepts (default: the package's own).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="The measured noise's draw.")] = 0,
    fit_config: Annotated[Optional[Path], typer.Option("--fit-config", help=FIT_CONFIG_HELP)] = None,
) -> None:
    """The evaluation ladder on a real trial: the model (per frame + its head, without and with the fit) on the
    reference's own motion projected through the real cameras (clean), the same with BlazePose's measured noise,
    and real BlazePose on the videos — so the real-footage error splits into prior, noise and placement."""
    from rich.table import Table

    from ..bench.ladder import evaluation_ladder
    from ..infer.model import InferModelError
    from ..infer.run import InferError

    if model is not None and not model.exists():
        fail(f"--model '{model}' does not exist")
    fit_cfg = read_fit_config(fit_config)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with third_party_log(out / "ladder.log"):
            result = evaluation_ladder(reference_dir, model, out, seed=seed,
                                       say=lambda m: err_console.print(f"[dim]{m}[/]", highlight=False),
                                       fit_config=fit_cfg)
    except (FileNotFoundError, InferError, InferModelError, ValueError) as exc:
        fail(str(exc))
    table = Table(title="The evaluation ladder (mean angle MAE, deg, all cameras)")
    for col in ("rung", "mean MAE", *result["cameras"]):
        table.add_column(col, justify="left" if col == "rung" else "right")
    for label, s in {**result["summary"], **{f"[dim]{k}[/]": v for k, v in result["baselines"].items()}}.items():
        table.add_row(label, f"{s['mae_deg']:.1f}", *(f"{result['per_camera'][f'{c} | {label}']:.1f}"
                                                      if f"{c} | {label}" in result["per_camera"] else ""
                                                      for c in result["cameras"]))
    console.print(table)
    console.print(f"written to {out}: ladder.json, ladder.md")


@app.command("landmarks")
def landmarks(
    motion: Annotated[list[Path], typer.Option("--motion", help="A recorded motion: an OpenSim .mot in the skeleton's coordinates, a DeepMimic clip, an AMC (its .asf beside it) or a C3D; repeat for several.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (landmarks_bench.json/.md).")],
    model: Annotated[Optional[Path], typer.Option("--model", help="A landmark model: its checkpoint (d3ke_lift_*; every head) or an export infer runs (default: the package's own).")] = None,
    noise: Annotated[str, typer.Option("--noise", help="measured (BlazePose-like landmarks) | clean (exact projections).")] = "measured",
    sequences: Annotated[int, typer.Option("--sequences", help="Windows per motion, each its own subject and camera.")] = 8,
    seconds: Annotated[float, typer.Option("--seconds", help="Length of each window.")] = 2.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    fit: Annotated[bool, typer.Option("--fit/--no-fit", help="Also score each prediction after infer's fit to the image (rows '+ fit').")] = True,
    fit_config: Annotated[Optional[Path], typer.Option("--fit-config", help=FIT_CONFIG_HELP)] = None,
) -> None:
    """A landmark model on recorded motion seen through seeded phone cameras: angle error per coordinate and joint
    group, per motion, per frame and with each causal head, and after the fit to the image (JSON: top-level
    angle_mae_deg, the mean over motions, per frame)."""
    import json

    from rich.table import Table

    from ..bench.landmarks import bench_landmarks, markdown
    from ..data.motion_bank import BankError
    from ..train.checkpoint import CheckpointError
    from ..utils.atomic import atomic_write_text

    for p in [*([model] if model is not None else []), *motion]:
        if not p.exists():
            fail(f"'{p}' does not exist")
    fit_cfg = read_fit_config(fit_config)
    try:
        result = bench_landmarks(model, list(motion), sequences, seconds, noise, seed,
                                 say=lambda m: console.print(f"[dim]{m}[/]", highlight=False), fit=fit,
                                 fit_config=fit_cfg)
    except (BankError, CheckpointError, ValueError) as exc:
        fail(str(exc))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "landmarks_bench.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / "landmarks_bench.md", markdown(result))
    table = Table(title=f"angle MAE (deg), {noise} landmarks; mean over motions, per frame: {result['angle_mae_deg']:.2f}")
    for col in ("motion", "model", "all", "hips", "knees", "ankles", "shoulders", "elbows"):
        table.add_column(col, justify="left" if col in ("motion", "model") else "right")
    keys = ("angle_mae_deg", "angle_hips_deg", "angle_knees_deg", "angle_ankles_feet_deg", "angle_shoulders_deg",
            "angle_elbows_forearms_deg")
    for name, r in result["motions"].items():
        for head, e in r["errors"].items():
            table.add_row(name, head, *(f"{e.get(k, float('nan')):.1f}" for k in keys))
    console.print(table)
    console.print(f"written to {out}: landmarks_bench.json, landmarks_bench.md")
