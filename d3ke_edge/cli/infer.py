"""``d3ke-edge infer VIDEO --out DIR [--model CKPT|EXPORT_DIR|ARTEFACT]``: a video in, OpenSim kinematics out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..default_model import model_card
from ..infer.config import InferConfig
from .common import (FIT_CONFIG_HELP, config_default, console, err_console, fail, flagged, read_fit_config,
                     third_party_log)

_D = lambda name: config_default(InferConfig, name)  # noqa: E731 - the CLI's defaults are the config's

def honesty(image_model: bool) -> str:
    """What a user should know before trusting the numbers, from the default model's card (its real-footage result,
    generated from the committed benchmark)."""
    if image_model:
        return ("The image models are trained on synthetic renders and are far off a multi-camera reference on real "
                "people (docs/reference.md) — read the overlay before trusting the numbers.")
    r = model_card()["real_footage"]
    return (f"On {r['trial']}, the package's default model (with its head and the fit) was {r['mae_deg']:g} deg off "
            f"on average ({r['per_camera_deg'][0]:g}-{r['per_camera_deg'][1]:g} per camera; knees {r['knees_deg']:g}, "
            f"elbows {r['elbows_deg']:g}), where holding that trial's median pose scores {r['median_pose_held_deg']:g} "
            f"({r['file']}) — read the overlay before trusting the numbers.")


def infer(
    video: Annotated[Path, typer.Argument(help="The video file (phone .mp4/.mov, any FFmpeg format).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (kinematics.mot, markers.trc, frames.jsonl, overlay.mp4, angles.png).")],
    model: Annotated[Optional[Path], typer.Option("--model", help="A per-frame checkpoint, an export folder or one per-frame artefact (default: the package's own landmark model, d3ke_edge/default_model).")] = None,
    runtime: Annotated[Optional[str], typer.Option("--runtime", help="litert | onnx | torchscript | coreml (export folder; default: its phone_default.json, else litert) | pytorch (checkpoint).")] = None,
    precision: Annotated[Optional[str], typer.Option("--precision", help="fp32 | int8 | fp16 (export folder).")] = None,
    head: Annotated[str, typer.Option("--head", help="auto (gru_causal, tcn_causal, ... the first present) | none | a causal head's name.")] = _D("head"),
    hfov: Annotated[float, typer.Option("--hfov", help="The camera's field of view across the frame's long side, degrees (a phone's main camera: ~65).")] = _D("hfov"),
    person: Annotated[str, typer.Option("--person", help="auto/largest | INDEX (left to right) | x,y (a point on the person in the first frames).")] = _D("person"),
    tiles: Annotated[int, typer.Option("--tiles", help="Detector tiles along the long side: 0 = auto (only when the full frame finds nobody), 1 = full frame only, N.")] = _D("tiles"),
    start: Annotated[float, typer.Option("--start", help="Start time, seconds.")] = _D("start"),
    end: Annotated[Optional[float], typer.Option("--end", help="End time, seconds (default: the end).")] = None,
    every: Annotated[int, typer.Option("--every", help="Process every N-th frame (long videos).")] = _D("every"),
    landmark_every: Annotated[Optional[int], typer.Option("--landmark-every", help="Run BlazePose's landmarks on every N-th processed frame and extrapolate the box in between: its 18 ms are most of a frame on one CPU core; 2 (the image models' default with --no-refine) measured no accuracy change on rendered clips. 1 = MediaPipe's own loop, and the only choice for landmark models (d3ke_lift_*), whose input the landmarks are, and for the fit to the image.")] = None,
    angles: Annotated[Optional[str], typer.Option("--angles", help="Comma-separated coordinates for the overlay panel and angles.png.")] = None,
    osim: Annotated[Optional[Path], typer.Option("--osim", help="The model's .osim when it is not the built-in skeleton.")] = None,
    search_frames: Annotated[int, typer.Option("--search-frames", help="Stop with an error when nobody is found in this many first frames.")] = _D("search_frames"),
    no_overlay: Annotated[bool, typer.Option("--no-overlay", help="Skip overlay.mp4 (faster).")] = False,
    max_turn_deg_s: Annotated[float, typer.Option("--max-turn-deg-s", help="Deg/s: a landmark model's pelvis turning faster than this is taken for BlazePose flipping every landmark's side (a person facing the camera read as facing away); the frame's model runs again with the labels mirrored, kept when the given labelling turned the body 90 deg or more and the mirrored one less than 45. 0 = off.")] = _D("max_turn_deg_s"),
    refine: Annotated[bool, typer.Option("--refine/--no-refine", help="Fit the skeleton to BlazePose's landmarks after the network (projected markers onto the landmarks, pulled toward the network's pose and the previous frame; causal). Needs the landmarks on every frame.")] = _D("refine"),
    fit_config: Annotated[Optional[Path], typer.Option("--fit-config", help=FIT_CONFIG_HELP)] = None,
) -> None:
    """Run BlazePose tracking, the engine-style crop, the model and its causal step head over a video, frame by
    frame as the phone does, and write OpenSim files, a per-frame log, an overlay video and angle curves."""
    from ..infer.model import InferModelError
    from ..infer.outputs import write_outputs
    from ..infer.run import InferError, run_infer
    from ..train.checkpoint import CheckpointError
    from ..video.models import ModelFetchError
    from ..video.reader import VideoError
    from .common import progress

    fit = read_fit_config(fit_config)
    try:
        cfg = InferConfig(video=video, model=model, out=out, runtime=runtime, precision=precision, head=head,
                          hfov=hfov, person=person, tiles=tiles, start=start, end=end, every=every, landmark_every=landmark_every,
                          search_frames=search_frames, osim=osim, overlay=not no_overlay, refine=refine,
                          max_turn_deg_s=max_turn_deg_s, **({"fit": fit} if fit is not None else {}),
                          angles=tuple(a.strip() for a in angles.split(",") if a.strip()) if angles else ())
    except ValueError as exc:
        fail(flagged(str(exc), InferConfig))
    out.mkdir(parents=True, exist_ok=True)
    try:
        with third_party_log(out / "infer.log"), progress("infer frames", 1) as advance:
            res = run_infer(cfg, say=lambda m: err_console.print(f"[dim]{m}[/]", highlight=False),
                            advance=advance, total=advance.set_total)
            files = write_outputs(res, out)
    except (VideoError, InferError, InferModelError, CheckpointError, ModelFetchError, FileNotFoundError,
            ValueError) as exc:  # FitError is a ValueError
        fail(flagged(str(exc), InferConfig))
    _print_summary(res, files)


def _print_summary(res, files: dict) -> None:
    from rich.table import Table

    from ..infer.outputs import speed_table

    n, ok = len(res.frames), len(res.tracked)
    tr = res.track
    console.print(f"[bold]{res.cfg.video.name}[/]: {res.size[0]}x{res.size[1]} at {res.fps:.2f} fps"
                  + (f", rotated {res.rotation} deg by its metadata" if res.rotation else "")
                  + f"; model {res.model_name}" + (f" + {res.head}" if res.head else " (no head)")
                  + f" via {res.runtime}", highlight=False)
    console.print(f"person in {ok}/{n} frames ({100 * ok / max(n, 1):.0f} %), detector runs {tr['detector_calls']}, "
                  f"re-detections {len(tr['lost'])}, left/right swaps fixed {len(tr['swaps'])}"
                  + (f", whole-body side flips caught {len(tr['relabelled'])} (at {tr['relabelled'][:10]})"
                     if tr.get("relabelled") else "")
                  + (f", corrupt frames skipped {len(res.corrupt)} (at {res.corrupt[:10]})" if res.corrupt else ""),
                  highlight=False)
    table = Table(title="speed per frame (this machine, 1 thread)", title_justify="left")
    for col in ("stage", "mean ms", "p90 ms"):
        table.add_column(col, justify="right" if col != "stage" else "left")
    rows = speed_table(res)
    for k, v in rows.items():
        name = "decode..fit (the phone's path)" if k == "path" else k
        table.add_row(name, f"{v['mean_ms']:.2f}", f"{v['p90_ms']:.2f}")
    console.print(table)
    if "path" in rows:
        console.print(f"the phone's path runs at {rows['path']['fps']:.0f} frames/s here "
                      f"({'faster' if rows['path']['fps'] >= 30 else 'SLOWER'} than real time at 30 fps)")
    rate = res.fps / res.cfg.every
    if res.head_fps and abs(rate / res.head_fps - 1) > 0.25:
        console.print(f"[yellow]the {res.head} head was trained at {res.head_fps:g} frames/s; this run fed it "
                      f"{rate:g} (its state advances one frame per step): --every {max(1, round(res.fps / res.head_fps))} "
                      "matches the training rate[/]")
    for name, path in files.items():
        console.print(f"  {name}: {path}", highlight=False)
    from ..models.inputs import InputSpec

    console.print(f"[yellow]{honesty(InputSpec.of_metadata(res.metadata).is_image)}[/]")
