"""``d3ke-edge bench robustness``: accuracy of checkpoints and exported artefacts under test-time conditions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console, fail, third_party_log
from .export import say

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("robustness")
def robustness(
    model: Annotated[list[str], typer.Option(help="PATH or PATH:HEAD: a per-frame checkpoint or exported per-frame "
                                                  "artefact, optionally with a causal head (temporal_HEAD.pt or "
                                                  "step_HEAD.<ext> beside it) scored streaming; repeat.")],
    conditions: Annotated[str, typer.Option(help="'study' (hflip, resize, crop, brightness, contrast), 'all', or "
                                                 "a comma-separated list.")] = "study",
    severities: Annotated[str, typer.Option(help="Comma-separated severities 1-5 (clean is always run).")] = "1,3,5",
    sequences: Annotated[int, typer.Option(help="Synthetic test sequences (held-out seeds).")] = 4,
    seconds: Annotated[float, typer.Option(help="Seconds per test sequence.")] = 1.0,
    like: Annotated[Path | None, typer.Option(help="Test on the motion families and camera yaws this checkpoint was "
                                                   "trained on (default: the first checkpoint among --model; "
                                                   "artefacts only: everything).")] = None,
    out: Annotated[Path, typer.Option(help="Report folder (robustness.json / .md; cache/ makes reruns free).")] = Path(
        "bench"),
) -> None:
    """Angle, joint and marker errors per model x condition x severity, with the change against clean."""
    from ..bench.robustness import RobustnessConfig, load_predictor, run_robustness, training_distribution
    from ..data.conditions import CONDITIONS, STUDY_CONDITIONS
    from ..train.checkpoint import CheckpointError

    names = {"study": STUDY_CONDITIONS, "all": ("hflip", *CONDITIONS)}.get(
        conditions, tuple(c.strip() for c in conditions.split(",") if c.strip()))
    try:
        levels = tuple(int(s) for s in severities.split(","))
        RobustnessConfig(conditions=names, severities=levels)  # a bad condition or severity fails before any loading
        with third_party_log(out.parent / f"{out.name}_bench.log"):
            predictors = [load_predictor(m) for m in model]
            like = like or next((p.checkpoint for p in predictors if p.checkpoint is not None), None)
            dist = training_distribution(like) if like else {}
            cfg = RobustnessConfig(conditions=names, severities=levels, sequences=sequences, seconds=seconds, **dist)
            results = run_robustness(predictors, cfg, out, progress=say)
    except (ValueError, FileNotFoundError, CheckpointError) as exc:
        fail(str(exc))
    console.print((out / "robustness.md").read_text())
    console.print(f"report: {out / 'robustness.json'} and robustness.md ({results['cells_computed']} cells computed, "
                  "the rest from the cache)")



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
    from ..bench.latency import (LatencyConfig, candidates_from, run_latency, server_candidates, sweep_artefact,
                                 Candidate)
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
                cands += server_candidates(cfg, out, str(server_checkpoint) if server_checkpoint else None, say)
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


def latency_table(path: Path):
    """The headline columns of latency.json as a rich table (the .md has every column)."""
    import json

    from rich.table import Table

    results = json.loads(Path(path).read_text())
    m = results["machine"]
    table = Table(title=f"Latency, measured on {m['cpu']} ({m['isa']}, {m['cores']} cores)", title_justify="left")
    for col, just in (("model", "left"), ("runtime", "left"), ("prec", "left"), ("px", "right"), ("thr", "right"),
                      ("p50 ms", "right"), ("p99 ms", "right"), ("vs server", "right"), ("+MB", "right")):
        table.add_column(col, justify=just)
    for r in results["rows"]:
        if "error" in r:
            table.add_row(r["name"], f"[red]failed: {r['error']}[/red]", *[""] * 7)
            continue
        speedup = r.get("speedup_vs_server")
        table.add_row(r["name"], r["runtime"].split(" (")[0], r["precision"], str(r["size"] or ""), str(r["threads"]),
                      f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", "" if speedup is None else f"{speedup:.3g}x",
                      f"{r['rss_model_mb']:.0f}")
    return table
