"""A multi-camera reference from synchronised videos and their calibration: BlazePose in every view, the left/right
labelling of each view chosen by the triangulation, frame offsets between cameras estimated, robust triangulation,
the whole trial refined at once (``refine.py``: smooth trajectories, rigid segments; checked by each camera predicted
from the others), gap filling and a zero-lag low-pass, and a ``.trc`` of the landmarks in an OpenSim (Y-up) frame.

The joint angles come from OpenSim's own tools on that ``.trc`` (``reference.opensim_tools``), not from ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.landmark_synth import landmark_skeleton
from ..io.trc import MarkerTable, write_trc
from ..skeleton.osim_write import write_osim
from ..utils.atomic import atomic_write_text
from ..video.landmarks import LANDMARK_NAMES
from ..video.models import fetch_models
from ..video.tracker import mirror_order
from .calibration import Camera, fit_to_video, load_calibration
from .config import ReferenceConfig
from .filter import fill_gaps, lowpass
from .opensim_tools import marker_names_for, run_ik, run_scale, write_landmarks
from .people import associate, person_views, select_person, track_people
from .refine import RefineConfig, refine_trajectories, segment_lengths
from .report import angle_plot, markdown, people_markdown
from .triangulate import (
    SyncEstimate,
    choose_labelling,
    estimate_offsets,
    reprojection_errors,
    robust_triangulate,
    shift_views,
)
from .views import ReferenceInputError, ViewLandmarks, check_views, track_view

__all__ = ["ReferenceConfig", "Reference", "label_groups", "match_cameras", "up_rotation", "triangulate_views"]


@dataclass
class Reference:
    """What the triangulation made: landmarks (T, 33, 3) in the OpenSim frame (metres, filtered), the raw ones, and
    the figures of its quality."""

    time: np.ndarray
    points: np.ndarray  # filtered, OpenSim frame (Y up)
    raw: np.ndarray  # unfiltered, OpenSim frame
    cameras: list[Camera]
    views: list[ViewLandmarks]
    flips: np.ndarray  # (T, V, G) the views whose left/right labels were mirrored back, per label group
    offsets: np.ndarray  # (V,) frames: view v's frame t + offset[v] is the reference's frame t
    errors: np.ndarray  # (T, V, 33) reprojection error (px) of the raw points in every view that saw them
    used: np.ndarray  # (T, V, 33) the views each point was triangulated from
    up: np.ndarray  # (3, 3) calibration world -> OpenSim frame
    unrefined: np.ndarray  # the per-frame triangulation gap-filled and filtered, without the refinement
    final_errors: np.ndarray  # (T, V, 33) reprojection error (px) of ``points`` in every view that saw them
    held_out: dict[str, dict[str, float]]  # per view: median px of its landmarks predicted from the other views
    notes: list[str] = field(default_factory=list)
    sync: SyncEstimate | None = None  # the frame offsets' estimate (None with sync off)


def label_groups() -> dict[str, np.ndarray]:
    """The sided landmarks in groups whose left/right labels BlazePose mirrors together (the trunk with the face,
    the arms, the legs)."""
    part = lambda n: n.removeprefix("left_").removeprefix("right_")  # noqa: E731
    arms = {"elbow", "wrist", "pinky", "index", "thumb"}
    legs = {"knee", "ankle", "heel", "foot_index"}
    sided = [i for i, n in enumerate(LANDMARK_NAMES) if n.startswith(("left_", "right_"))]
    pick = lambda f: np.array([i for i in sided if f(part(LANDMARK_NAMES[i]))])  # noqa: E731
    return {"trunk": pick(lambda p: p not in arms | legs), "arms": pick(lambda p: p in arms),
            "legs": pick(lambda p: p in legs)}


def relabel(flips: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-landmark arrays (T, V, 33, ...) with each view's left/right labels mirrored back where ``flips`` (T, V, G)
    says, group by group (``label_groups``)."""
    mirror = mirror_order()
    per_landmark = np.zeros((*flips.shape[:2], 33), bool)
    for k, g in enumerate(label_groups().values()):
        per_landmark[..., g] = flips[..., k : k + 1]
    return tuple(np.where(per_landmark.reshape(*per_landmark.shape, *([1] * (a.ndim - 3))), a[:, :, mirror], a)
                 for a in arrays)


def match_cameras(cameras: list[Camera], videos: list[Path]) -> tuple[list[Camera], str]:
    """The calibration's camera for each video: by name (the video's file stem) when every stem is a camera's name,
    else by order. Fewer cameras than videos is an error."""
    if len(cameras) < len(videos):
        raise ReferenceInputError(f"the calibration has {len(cameras)} cameras ({[c.name for c in cameras]}) but "
                                  f"{len(videos)} videos were given; give one calibrated camera per video")
    by_name = {c.name: c for c in cameras}
    stems = [Path(v).stem for v in videos]
    if all(s in by_name for s in stems):
        return [by_name[s] for s in stems], "by name"
    return cameras[: len(videos)], f"by order (video names {stems} are not the calibration's {list(by_name)})"


def up_rotation(cameras: list[Camera]) -> np.ndarray:
    """World -> OpenSim (Y up) rotation. The world's up axis is taken as the coordinate axis closest to the
    cameras' mean 'image up' direction (cameras stand upright); the other axes keep a right-handed order."""
    up_dirs = np.stack([-c.R.T @ np.array([0.0, 1.0, 0.0]) for c in cameras])  # image up in world coordinates
    mean = up_dirs.mean(0)
    k = int(np.argmax(np.abs(mean)))
    sign = np.sign(mean[k])
    y = np.zeros(3)
    y[k] = sign
    x = np.zeros(3)
    x[(k + 1) % 3] = 1.0
    z = np.cross(x, y)
    return np.stack([x, y, z])  # rows: the new axes in world coordinates


def triangulate_views(cfg: ReferenceConfig, views: list[ViewLandmarks], cameras: list[Camera],
                      say: Callable[[str], object] = print) -> Reference:
    check_views(views)
    notes = []
    cams = []
    for c, v in zip(cameras, views):
        fitted = fit_to_video(c, *v.size)
        notes += fitted.notes[len(c.notes):] + c.notes
        cams.append(fitted)
    xy = np.stack([v.xy for v in views], 1)  # (T, V, 33, 2)
    w = np.stack([np.where(v.visibility >= cfg.min_visibility, v.visibility, 0.0) for v in views], 1)
    mirror = mirror_order()
    # BlazePose mirrors the whole body, or only the legs or the arms: each group's labelling is chosen on its own
    groups = label_groups()
    flips = np.stack([choose_labelling(cams, xy, w, mirror, g) for g in groups.values()], -1)  # (T, V, G)
    xy, w = relabel(flips, xy, w)
    if cfg.sync:
        sync = estimate_offsets(cams, xy, w, cfg.max_offset)
        offsets = sync.offsets
        notes.append(f"frame offsets against {views[0].name}: " + sync.describe([v.name for v in views]))
    else:
        sync, offsets = None, np.zeros(len(views), int)
        notes.append("frame offsets not estimated (sync off): every view taken as recorded in step")
    if offsets.any():
        xy, w, flips = shift_views(offsets, xy, w, flips)
    tri = _triangulate(cfg, cams, xy, w)
    _check_agreement(cfg, views, tri, w.transpose(1, 0, 2).reshape(len(views), -1) > 0)
    refined = _refine(cfg, cams, xy, w, tri)
    T, V = xy.shape[:2]
    up = up_rotation(cams)
    fps = views[0].fps
    smooth = lambda p: lowpass(fill_gaps(p, cfg.max_gap), fps, cfg.cutoff_hz)  # noqa: E731
    raw = tri.points.reshape(T, 33, 3) @ up.T
    points = smooth(refined) @ up.T
    final_errors = np.where(w > 0, reprojection_errors(cams, points @ up, xy.transpose(1, 0, 2, 3)).transpose(1, 0, 2),
                            np.nan)
    held_out = _held_out(cfg, cams, xy, w, smooth, [v.name for v in views]) if V > 2 else {}
    t0 = max(0, -int(offsets.min()))
    time = (np.arange(T) + t0) / fps
    return Reference(time, points, raw, cams, views, flips, offsets,
                     tri.errors.reshape(V, T, 33).transpose(1, 0, 2), tri.used.reshape(V, T, 33).transpose(1, 0, 2),
                     up, smooth(raw), final_errors, held_out, notes, sync)


def _triangulate(cfg: ReferenceConfig, cams: list[Camera], xy: np.ndarray, w: np.ndarray):
    """Robust per-frame triangulation of ``xy`` (T, V, 33, 2) -> Triangulation over T*33 points."""
    T, V = xy.shape[:2]
    return robust_triangulate(cams, xy.transpose(1, 0, 2, 3).reshape(V, T * 33, 2),
                              w.transpose(1, 0, 2).reshape(V, T * 33), cfg.gate_px)


def _refine(cfg: ReferenceConfig, cams: list[Camera], xy: np.ndarray, w: np.ndarray, tri) -> np.ndarray:
    """The whole-trial refinement of a triangulation over the views each point was triangulated from -> refined
    world points (T, 33, 3)."""
    T, V = xy.shape[:2]
    used = tri.used.reshape(V, T, 33).transpose(1, 0, 2)
    return refine_trajectories(cams, xy, np.where(used, w, 0.0), tri.points.reshape(T, 33, 3),
                               RefineConfig(smooth=cfg.smooth_weight, length=cfg.length_weight))


def _held_out(cfg: ReferenceConfig, cams: list[Camera], xy: np.ndarray, w: np.ndarray, smooth: Callable,
              names: list[str]) -> dict[str, dict[str, float]]:
    """Each view predicted from the others: the reference rebuilt without it (same settings), projected into it, and
    its median distance to that view's own landmarks — a figure the fit did not see, with and without the
    refinement (the refinement's weights are chosen by it, not by the bone lengths it steadies)."""
    out = {}
    for v, name in enumerate(names):
        keep = [u for u in range(len(cams)) if u != v]
        sub = [cams[u] for u in keep]
        tri = _triangulate(cfg, sub, xy[:, keep], w[:, keep])
        refined = _refine(cfg, sub, xy[:, keep], w[:, keep], tri)
        plain = smooth(tri.points.reshape(len(xy), 33, 3))
        seen = w[:, v] > 0
        err = lambda p: float(np.nanmedian(np.linalg.norm(cams[v].project(p) - xy[:, v], axis=-1)[seen]))  # noqa: E731
        out[name] = {"refined_px": err(smooth(refined)), "per_frame_px": err(plain)}
    return out


def _check_agreement(cfg: ReferenceConfig, views: list[ViewLandmarks], tri, seen: np.ndarray) -> None:
    """Each view must have tracked the person the others see: a view whose landmarks the triangulation mostly
    leaves out (``used`` / ``seen`` below ``cfg.min_agreement``) is following someone else, or is another camera
    than the calibration says."""
    frac = tri.used.sum(1) / np.maximum(seen.sum(1), 1)
    median_px = [float(np.nanmedian(np.where(seen[v], tri.errors[v], np.nan))) for v in range(len(views))]
    if len(views) == 2:
        if median_px[0] > cfg.gate_px:  # one person seen twice is a few px off; another person tens
            raise ReferenceInputError(
                f"the two views disagree (median reprojection {median_px[0]:.0f} px): they track different people "
                "or the calibration's cameras are not these videos; point at the same person in each view (person "
                f"{views[0].name}=x,y and person {views[1].name}=x,y), and check the camera order")
        return
    bad = [v for v in range(len(views)) if frac[v] < cfg.min_agreement]
    if bad and len(bad) < len(views):
        names = ", ".join(f"{views[v].name} ({100 * frac[v]:.0f} % of its landmarks agree, median "
                          f"{median_px[v]:.0f} px off)" for v in bad)
        raise ReferenceInputError(
            f"{names} {'does' if len(bad) == 1 else 'do'} not see what the other views see: the tracker probably "
            "follows another person there (or the calibration's camera is another one); point at the person (person "
            f"{views[bad[0]].name}=x,y: pixels in its first frames, or person {views[bad[0]].name}=INDEX, left to "
            "right), and check the camera order")
    if bad:
        raise ReferenceInputError(
            f"no view agrees with the others (at most {100 * frac.max():.0f} % of landmarks within the "
            f"{cfg.gate_px:g}-px gate): check that the calibration belongs to these videos")


def _bone_stats(points: np.ndarray) -> dict[str, dict[str, float]]:
    """Length mean and std (mm) of the segments a rigid body would keep: thighs, shanks and upper arms."""
    lengths = segment_lengths(points)
    return {name: {"mean_mm": float(np.nanmean(lengths[name])), "std_mm": float(np.nanstd(lengths[name]))}
            for name in ("thigh_l", "thigh_r", "shank_l", "shank_r", "upper_arm_l", "upper_arm_r")}


def build_reference(cfg: ReferenceConfig, say: Callable[[str], object] = print,
                    advance: Callable[[int], object] | None = None, osim: Path | None = None,
                    markers: Path | None = None) -> dict:
    """The whole reference into ``cfg.out``. With ``cfg.person`` ``all`` (the default) everyone the views agree on
    gets their own folder ``cfg.out/person<k>/`` (most observed first) and ``people.json`` / ``.md`` say who was
    matched where; with one person chosen per view, the folder is ``cfg.out`` itself. Each reference folder
    (``_write_reference``): ``landmarks.trc``, ``views.npz``, OpenSim's scaled model, ``reference.mot``,
    ``angles.png``, ``reference.json`` / ``.md``. Returns the report (``people.json``'s content for ``all``)."""
    cameras, how = match_cameras(load_calibration(cfg.calib), list(cfg.videos))
    say(f"cameras matched {how}: " + ", ".join(f"{Path(v).name} -> {c.name}" for v, c in zip(cfg.videos, cameras)))
    models = fetch_models(progress=say)
    if cfg.everyone:
        return _build_people(cfg, cameras, how, models, say, advance, osim, markers)
    views = [track_view(v, models, cfg.person_for(v), advance=advance) for v in cfg.videos]
    ref = triangulate_views(cfg, views, cameras, say)
    return _write_reference(cfg, ref, views, how, osim, markers, say)


def _build_people(cfg: ReferenceConfig, cameras: list[Camera], how: str, models: dict, say: Callable,
                  advance: Callable | None, osim: Path | None, markers: Path | None) -> dict:
    """Everyone: every person followed in every view (``people.track_people``), matched across views by geometry
    (``people.associate``), and a reference per person from the views that see them."""
    import dataclasses
    import json

    tracked = [track_people(v, models, i, advance=advance) for i, v in enumerate(cfg.videos)]
    check_views([t.as_view() for t in tracked])
    names = [t.name for t in tracked]
    fitted = [fit_to_video(c, *t.size) for c, t in zip(cameras, tracked)]
    people = associate([t.tracks for t in tracked], fitted)
    summary = {"views": names, "tracks_per_view": {t.name: len(t.tracks) for t in tracked}, "people": []}
    if not people:
        raise ReferenceInputError(
            f"no person is seen alike by two views (tracks per view: {summary['tracks_per_view']}): check that the "
            "calibration belongs to these videos and that they are synchronised")
    say(f"{len(people)} people matched across views: " + "; ".join(
        f"person{k} in {', '.join(names[v] for v in p.views)}" for k, p in enumerate(people)))
    chosen = None
    if cfg.select is not None:
        try:
            chosen = select_person(people, cfg.select, [Path(v).stem for v in cfg.videos])
        except ValueError as exc:
            raise ReferenceInputError(str(exc)) from None
        say(f"selected person{chosen} ({cfg.select}); the others get no reference")
        summary["selected"] = chosen
    for k, person in enumerate(people):
        idx, views = person_views(person, tracked)
        entry = {"person": k, "folder": f"person{k}", "views": [names[v] for v in idx],
                 "frames": int(len(views[0].xy)),
                 "tracked_frames": {names[v]: int(person.tracks[v].seen.sum()) for v in idx},
                 "frames_in_2_views": person.frames_in(2), "frames_in_all_its_views": person.frames_in(len(idx))}
        if chosen is not None and k != chosen:
            entry["error"] = "not selected"
            summary["people"].append(entry)
            continue
        pcfg = dataclasses.replace(cfg, videos=tuple(cfg.videos[v] for v in idx), out=cfg.out / f"person{k}")
        try:
            ref = triangulate_views(pcfg, views, [cameras[v] for v in idx], say)
            report = _write_reference(pcfg, ref, views, how, osim, markers, say)
        except ReferenceInputError as exc:  # one person's failure does not cost the others their reference
            entry["error"] = str(exc)
            say(f"person{k}: no reference ({exc})")
        else:
            entry["ik_marker_rms_median_mm"] = report["ik"]["marker_rms_median_mm"]
            entry["reprojection_median_px"] = report["final_reprojection_median_px"]
        summary["people"].append(entry)
    cfg.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cfg.out / "people.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(cfg.out / "people.md", people_markdown(summary))
    if not any("error" not in p for p in summary["people"]):
        raise ReferenceInputError("no person's reference could be made: " + "; ".join(
            f"person{p['person']}: {p['error']}" for p in summary["people"]))
    return summary


def _write_reference(cfg: ReferenceConfig, ref: Reference, views: list[ViewLandmarks], how: str,
                     osim: Path | None, markers: Path | None, say: Callable) -> dict:
    """One person's reference into ``cfg.out``, written to a staging folder and moved in when everything succeeded:
    ``landmarks.trc`` (refined and filtered; ``landmarks_raw.trc`` per frame), ``views.npz`` (every view's 2D
    landmarks and their labelling), OpenSim's scaled model, ``reference.mot`` and marker errors, ``angles.png``,
    ``reference.json`` / ``.md``. Returns the report."""
    import json
    import shutil
    import tempfile

    for note in ref.notes:
        say(note)
    cfg.out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".reference-", dir=cfg.out))
    try:
        model_path, names = _model(stage, osim, markers)
        trc, bridged = write_landmarks(MarkerTable(ref.time, [names.get(n, f"bp_{n}") for n in LANDMARK_NAMES],
                                                   ref.points), stage / "landmarks.trc")
        if bridged:
            ref.notes.append(f"{len(bridged)} frame(s) without any landmark (first: {bridged[0]}) were bridged by "
                             "linear interpolation in landmarks.trc: OpenSim's IK cannot solve an empty frame")
        write_trc(MarkerTable(ref.time, [names.get(n, f"bp_{n}") for n in LANDMARK_NAMES], ref.raw),
                  stage / "landmarks_raw.trc")
        np.savez_compressed(stage / "views.npz", names=np.array([v.name for v in views]),
                            xy=np.stack([v.xy for v in views]), visibility=np.stack([v.visibility for v in views]),
                            flips=ref.flips, offsets=ref.offsets, errors=ref.errors, used=ref.used, up=ref.up)
        valid = np.isfinite(ref.points).all((1, 2))
        if valid.sum() < 2:
            raise ReferenceInputError("fewer than two frames have every landmark triangulated; check the "
                                      "calibration matches the videos")
        span = (float(ref.time[valid][0]), float(ref.time[valid][-1]))
        scaled, factors = run_scale(model_path, trc, stage, names, span)
        ik = run_ik(scaled, trc, stage, names, span, cfg.ik_neutral_weight)
        report = _report(cfg, ref, how, factors, ik, names)
        angle_plot(stage / "reference.mot", stage / "angles.png")
        atomic_write_text(stage / "reference.json", json.dumps(report, indent=2) + "\n")
        atomic_write_text(stage / "reference.md", markdown(report))
        for p in sorted(stage.iterdir()):
            dest = cfg.out / p.name
            if dest.is_dir():
                shutil.rmtree(dest)
            p.replace(dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return report


def _model(stage: Path, osim: Path | None, markers: Path | None) -> tuple[Path, dict[str, str]]:
    """The model OpenSim scales: the built-in skeleton with its BlazePose markers, or the user's .osim (+ marker
    set), copied into the output with the marker set merged."""
    if osim is None:
        skel, _ = landmark_skeleton()
        path = write_osim(skel, stage / "model.osim")
        return path, marker_names_for(list(skel.marker_names))
    import opensim

    model = opensim.Model(str(osim))
    if markers is not None:
        model.updateMarkerSet(opensim.MarkerSet(str(markers)))
    model.finalizeConnections()
    path = stage / "model.osim"
    model.printToXML(str(path))
    have = [model.getMarkerSet().get(i).getName() for i in range(model.getMarkerSet().getSize())]
    return path, marker_names_for(have)


def _report(cfg: ReferenceConfig, ref: Reference, how: str, factors: dict, ik, names: dict) -> dict:
    V = len(ref.views)
    per_cam = {}
    for v, view in enumerate(ref.views):
        e, u = ref.errors[:, v], ref.used[:, v]
        per_cam[view.name] = {
            "tracked_frames": view.tracked, "frames": len(view.xy), "offset_frames": int(ref.offsets[v]),
            "offset_found_frames": int(ref.sync.found[v]) if ref.sync is not None else None,
            "offset_gain": float(ref.sync.gain[v]) if ref.sync is not None else None,
            "offset_confident": bool(ref.sync.confident[v]) if ref.sync is not None else None,
            "reprojection_median_px": float(np.nanmedian(e)), "reprojection_p90_px": float(np.nanpercentile(e, 90)),
            "used_fraction": float(u.mean()),
            "final_median_px": float(np.nanmedian(ref.final_errors[:, v])),
            "held_out_median_px": ref.held_out.get(view.name, {}).get("refined_px"),
            "held_out_per_frame_median_px": ref.held_out.get(view.name, {}).get("per_frame_px"),
            "label_fixes": {g: int(ref.flips[:, v, k].sum()) for k, g in enumerate(label_groups())}}
    return {
        "videos": [str(p) for p in cfg.videos], "calibration": str(cfg.calib), "camera_matching": how,
        "notes": ref.notes, "frames": int(len(ref.time)), "fps": ref.views[0].fps,
        "settings": {"gate_px": cfg.gate_px, "cutoff_hz": cfg.cutoff_hz, "max_gap": cfg.max_gap, "sync": cfg.sync,
                     "min_visibility": cfg.min_visibility, "person": list(cfg.person),
                     "ik_neutral_weight": cfg.ik_neutral_weight, "smooth_weight": cfg.smooth_weight,
                     "length_weight": cfg.length_weight},
        "cameras": per_cam,
        "reprojection_median_px": float(np.nanmedian(ref.errors)),
        "reprojection_median_used_px": float(np.nanmedian(np.where(ref.used, ref.errors, np.nan))),
        "final_reprojection_median_px": float(np.nanmedian(ref.final_errors)),
        "held_out_median_px": (float(np.mean([h["refined_px"] for h in ref.held_out.values()]))
                               if ref.held_out else None),
        "held_out_per_frame_median_px": (float(np.mean([h["per_frame_px"] for h in ref.held_out.values()]))
                                         if ref.held_out else None),
        "points_missing_fraction": float(np.isnan(ref.raw[..., 0]).mean()),
        "bones_filtered": _bone_stats(ref.points), "bones_unrefined": _bone_stats(ref.unrefined),
        "bones_raw": _bone_stats(ref.raw),
        "scale_factors": {k: v for k, v in factors.items() if not k.endswith("_offset") and k != "ground"},
        "ik": {"marker_rms_median_mm": float(np.median(ik.rms_m) * 1000),
               "marker_rms_p90_mm": float(np.percentile(ik.rms_m, 90) * 1000),
               "marker_max_mm": float(ik.max_m.max() * 1000), "frames": int(len(ik.rms_m)),
               "neutral_coordinates": ik.neutral, "neutral_weight": cfg.ik_neutral_weight,
               "largest_steps": ik.steps},
        "up_rotation": ref.up.tolist(), "markers": names,
        "time_note": f"times are {ref.views[0].name}'s; camera v's frame f is the reference's time "
                     "(f - offset_frames[v]) / fps",
        "files": ["landmarks.trc", "landmarks_raw.trc", "views.npz", "model.osim", "scaled.osim", "scale_setup.xml",
                  "ik_setup.xml", "reference.mot", "reference_ik_marker_errors.sto", "angles.png",
                  "reference.json", "reference.md"],
        "cameras_count": V}
