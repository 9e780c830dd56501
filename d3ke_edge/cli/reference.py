"""``d3ke-edge reference --videos cam01.mp4 cam02.mp4 ... --calib FILE --out DIR``: a multi-camera reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..reference.config import ReferenceConfig
from .common import config_default, console, err_console, fail, flagged, third_party_log

_D = lambda name: config_default(ReferenceConfig, name)  # noqa: E731 - the CLI's defaults are the config's


def reference(
    videos: Annotated[list[Path], typer.Option("--videos", help="Synchronised videos, one per camera: repeat the option for each video.")],
    calib: Annotated[Path, typer.Option("--calib", help="The cameras' calibration: Qualisys .qca.txt, Pose2Sim/Anipose .toml or OpenCV .yml.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (landmarks.trc, reference.mot, reference.json/.md, angles.png).")],
    osim: Annotated[Optional[Path], typer.Option("--osim", help="The .osim to scale and run IK on (default: the built-in skeleton with its BlazePose markers).")] = None,
    markers: Annotated[Optional[Path], typer.Option("--markers", help="A BlazePose marker set for --osim (e.g. Pose2Sim's Markers_BlazePose.xml).")] = None,
    gate: Annotated[float, typer.Option("--gate", help="Pixels: a camera further off than this is left out of a point's triangulation.")] = _D("gate_px"),
    cutoff: Annotated[float, typer.Option("--cutoff", help="Low-pass cut-off of the trajectories, Hz (zero-lag Butterworth).")] = _D("cutoff_hz"),
    smooth: Annotated[float, typer.Option("--smooth", help="Whole-trial refinement: weight of each point's acceleration (a 1-mm/frame^2 acceleration costs as much as 1 px of reprojection); 0 with --bone-length 0: per-frame triangulation only.")] = _D("smooth_weight"),
    bone_length: Annotated[float, typer.Option("--bone-length", help="Whole-trial refinement: weight keeping each rigid segment (thigh, shank, upper arm, forearm, foot, pelvis) one length (1 mm off costs as much as 1 px).")] = _D("length_weight"),
    no_sync: Annotated[bool, typer.Option("--no-sync", help="Do not estimate frame offsets between the cameras.")] = False,
    ik_prior: Annotated[float, typer.Option("--ik-prior", help="Weight holding the coordinates the landmarks leave free (hip/humeral/forearm rotation, subtalar, mtp) to neutral in IK; 0: none.")] = _D("ik_neutral_weight"),
    person: Annotated[Optional[list[str]], typer.Option("--person", help="Who: all (default: everyone the views agree on, one reference each in OUT/person<k>/) | one person per view: largest | INDEX (left to right) | x,y in every view, or NAME=SPEC for one view (NAME: its video's file name without extension); repeat the option.")] = None,
    select: Annotated[Optional[str], typer.Option("--select", help="With everyone matched across views: make only this person's reference: K (OUT/person<K>, most observed first) or NAME=x,y (whoever covers that pixel in view NAME when it first sees them).")] = None,
) -> None:
    """BlazePose in every view, the views' left/right labelling and frame offsets chosen by the triangulation,
    robust triangulation refined over the whole trial (smooth trajectories, rigid segments of one length) and a
    zero-lag filter, then OpenSim's ScaleTool and InverseKinematicsTool: the reference a
    single camera is measured against (``d3ke-edge bench reference``)."""
    from ..reference.build import build_reference
    from ..reference.calibration import CalibrationError
    from ..reference.views import ReferenceInputError
    from ..video.models import ModelFetchError
    from ..video.reader import VideoError
    from .common import progress

    try:
        cfg = ReferenceConfig(tuple(videos), calib, out, gate_px=gate, cutoff_hz=cutoff, sync=not no_sync,
                              person=tuple(person or ()) or ("all",), select=select, ik_neutral_weight=ik_prior,
                              smooth_weight=smooth, length_weight=bone_length)
    except (ReferenceInputError, ValueError) as exc:
        fail(flagged(str(exc), ReferenceConfig))
    for p, what in ((osim, "--osim"), (markers, "--markers")):
        if p is not None and not p.is_file():
            fail(f"{what} '{p}' does not exist")
    out.mkdir(parents=True, exist_ok=True)
    try:
        with third_party_log(out / "reference.log"), progress("BlazePose, all views", 1) as advance:
            advance.set_total(_frame_total(videos))
            report = build_reference(cfg, say=lambda m: err_console.print(f"[dim]{m}[/]", highlight=False),
                                     advance=advance, osim=osim, markers=markers)
    except (ReferenceInputError, CalibrationError, VideoError, ModelFetchError) as exc:
        fail(str(exc))
    except RuntimeError as exc:
        fail(f"{exc}; OpenSim's messages are in {out / 'reference.log'}", code=1)
    if "people" in report:
        for p in report["people"]:
            where = out / p["folder"]
            if p.get("error") == "not selected":
                continue
            if "error" in p:
                console.print(f"person{p['person']} ({', '.join(p['views'])}): no reference: {p['error']}")
            else:
                _summary_line(f"person{p['person']} ({', '.join(p['views'])}; {p['frames_in_2_views']}/{p['frames']} "
                              "frames in >= 2 views)", json.loads((where / "reference.json").read_text()))
        console.print(f"written to {out}: people.md, people.json and person<k>/ (reference.mot, landmarks.trc, "
                      "reference.md, angles.png)")
        return
    _summary_line("reference", report)
    console.print(f"written to {out}: reference.mot, landmarks.trc, reference.md, angles.png")


def _summary_line(who: str, report: dict) -> None:
    ik = report["ik"]
    held = report["held_out_median_px"]
    console.print(f"{who}: {report['frames']} frames, reprojection median {report['final_reprojection_median_px']:.1f} px "
                  f"(per frame {report['reprojection_median_px']:.1f})"
                  + (f", each camera from the others {held:.1f} px (unrefined {report['held_out_per_frame_median_px']:.1f})"
                     if held is not None else "")
                  + f", IK marker RMS median {ik['marker_rms_median_mm']:.1f} mm; "
                  + "thigh/shank std " + ", ".join(f"{k} {v['std_mm']:.0f}" for k, v in report["bones_filtered"].items()
                                                   if k.startswith(("thigh", "shank"))) + " mm")


def _frame_total(videos: list[Path]) -> int:
    import cv2

    total = 0
    for v in videos:
        cap = cv2.VideoCapture(str(v))
        total += int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        cap.release()
    return max(total, 1)
