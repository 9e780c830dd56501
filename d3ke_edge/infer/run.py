"""``run_infer``: a video in, OpenSim kinematics out — causal and frame by frame, as the phone runs it.

Per frame: decode (upright, its own timestamp) -> BlazePose tracking -> the engine-style crop (smoothed box) -> the
per-frame model (a landmark model's run again with the labels mirrored when BlazePose flips every side: ``infer.sides``)
-> the step head (state carried; reset after a gap) -> the root's position from the box and the
predicted body -> the fit to the image (``infer.fit``: the pose, root and the subject's proportions moved so our
BlazePose markers land on the landmarks; causal, on by default). After the last frame the root joint's coordinates are solved in a camera-aligned ground frame and
the files are written (``infer.outputs``); the overlay is written while the video is read. Everything goes to a
staging folder first and is moved into ``out`` only when all of it succeeded.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.landmark_synth import landmark_skeleton
from ..default_model import default_model
from ..models.graphs import DECODED_OUTPUTS
from ..skeleton import load_osim
from ..skeleton.builtin import builtin_skeleton
from ..video.crop import BoxSmoother, box_from_landmarks, frame_intrinsics, root_translation
from ..video.models import fetch_models
from ..video.reader import VideoError, VideoReader
from ..video.tracker import PoseTracker, mirrored
from .config import FitConfig, InferConfig
from .fit import FitError, ImageFit
from .model import open_model
from .overlay import OverlayWriter
from .sides import SideGuard

__all__ = ["InferError", "InferResult", "run_infer", "STAGES"]

FirstGuess = Callable[[float, np.ndarray], np.ndarray]  # (frame time s, coordinates (C,) rad) -> coordinates
STAGES = ("decode", "track", "crop", "model", "head", "fit", "overlay")  # timed per frame (ms)
PELVIS = 1 + DECODED_OUTPUTS.index("pelvis_rot_cam")  # its place in the per-frame model's outputs (params first)


class InferError(ValueError):
    """Infer cannot go on (no person, a model for another skeleton); the message says what to do."""


@dataclass
class InferResult:
    """What one run produced, in memory (``outputs.write_outputs`` turns it into files)."""

    cfg: InferConfig
    model_name: str
    runtime: str
    head: str | None
    head_fps: float | None
    metadata: dict
    skeleton: object  # the model's Skeleton (built-in or --osim), resolved once
    angles: list[str]  # the panel's and angles.png's coordinates
    fps: float
    size: tuple[int, int]
    rotation: int
    K: np.ndarray
    frames: list[dict] = field(default_factory=list)  # one per processed frame (frames.jsonl)
    corrupt: list[int] = field(default_factory=list)
    stage_ms: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in STAGES})
    track: dict = field(default_factory=dict)
    landmark_every: int = 1  # what ran (the config's, or the model kind's default)
    wall_s: float = 0.0
    staging: Path | None = None

    @property
    def tracked(self) -> list[dict]:
        return [f for f in self.frames if f["status"] == "ok"]


def _frame_record(fr, lm, box, frame_params: np.ndarray, out: dict, root: np.ndarray, world: bool = False) -> dict:
    """One frame's line of frames.jsonl (``lm`` None: a frame between landmark runs, its box extrapolated;
    ``world``: the model takes BlazePose's world landmarks, so they are logged too)."""
    extra = {"world_landmarks": np.round(lm.world, 5).tolist()} if world and lm is not None else {}
    return {"frame": fr.index, "time": round(fr.time, 6), "status": "ok",
            "box": [float(v) for v in box], "person_score": None if lm is None else round(float(lm.pose_score), 4),
            # x, y (pixels), visibility, presence: enough digits to remake a landmark model's input exactly
            "landmarks": None if lm is None else np.round(np.concatenate(
                [lm.xy, lm.visibility[:, None], lm.presence[:, None]], 1), 4).tolist(),
            **extra, "root_cam": root, "frame_params": frame_params[0], "outputs": {k: v[0] for k, v in out.items()}}


class _Stream:
    """The per-frame part of the loop for one run: tracking (or the box extrapolated between landmark runs), the
    model's input, the model and its head, the root, the fit; state reset after a stretch without the person."""

    def __init__(self, cfg: InferConfig, model, tracker: PoseTracker, fit: ImageFit | None, K: np.ndarray,
                 landmark_every: int, res: InferResult, first_guess: FirstGuess | None = None):
        self.cfg, self.model, self.tracker, self.fit, self.K = cfg, model, tracker, fit, K
        self.landmark_every, self.res, self.first_guess = landmark_every, res, first_guess
        self.smoother, self.gap, self.seen = BoxSmoother(), True, 0
        # only a landmark model takes the labels as they come; an image model's input has no sides to flip
        self.sides = (SideGuard(cfg.max_turn_deg_s) if cfg.max_turn_deg_s > 0 and not model.input_spec.is_image
                      else None)

    def track(self, fr):
        """BlazePose on this frame (None between landmark runs, or nobody found: ``self.between`` says which)."""
        self.between = not self.gap and self.landmark_every > 1 and self.seen % self.landmark_every != 0
        lm = None if self.between else self.tracker.track(fr.rgb)
        if lm is None and not self.between:
            if self.seen == 0 and len(self.res.frames) + 1 >= self.cfg.search_frames:
                raise InferError(
                    f"no person found in the first {len(self.res.frames) + 1} frames of '{self.cfg.video}' "
                    f"({self.cfg.start:g}-{fr.time:.2f} s); if they enter later start later, if they are small in a "
                    "wide frame look with tiles (4), or point at them (a pixel x,y on the person)")
            self.gap = True
        return lm

    def model_input(self, fr, lm) -> tuple[np.ndarray, np.ndarray]:
        """(the model's input, the box): the landmark features, or the engine-style crop."""
        if self.gap:  # a new stretch: the head's state, the box filter and the fit start fresh
            self.model.reset()
            self.smoother.reset()
            if self.fit is not None:
                self.fit.reset()
            if self.sides is not None:
                self.sides.reset()
            self.gap = False
        self.seen += 1
        box = self.smoother.predict(fr.time) if self.between else self.smoother(box_from_landmarks(lm.xy), fr.time)
        return self.model.input_spec.from_frame(fr.rgb, box, lm, self.K)  # a landmark model's box places the root

    def sides_checked(self, fr, lm, box: np.ndarray, frame_out: list) -> tuple:
        """When the per-frame model's pelvis turns faster than a person can since the last frame, the frame is run
        again with the labels mirrored (``infer.sides``); the mirrored labelling, when it is the continuous one
        (``SideGuard.prefer``), is kept and handed to the tracker -> (lm, per-frame outputs). The per-frame model, not
        the head: it follows the labels at once, where the head's state spreads a flip over frames that each turn
        less."""
        sides, model = self.sides, self.model
        if sides is None or lm is None:
            return lm, frame_out
        rot = frame_out[PELVIS][0]
        resolved = True
        if sides.suspect(rot, fr.time):
            lm_m = mirrored(lm)
            frame_m = model.run_frame(model.input_spec.from_frame(fr.rgb, box, lm_m, self.K)[0])
            resolved = sides.prefer(rot, frame_m[PELVIS][0])
            if resolved:
                self.tracker.relabel(lm_m)
                lm, frame_out, rot = lm_m, frame_m, frame_m[PELVIS][0]
        sides.accept(rot, fr.time, resolved)
        return lm, frame_out

    def refine(self, fr, lm, out: dict, root: np.ndarray) -> tuple[dict, np.ndarray, dict | None]:
        """The fit to the image after the head (when on) -> (outputs, root, the fit's own figures)."""
        if self.fit is None:
            return out, root, None
        world = lm.world if self.cfg.fit.depth_sigma_m > 0 else None
        fitted = self.fit.step(lm.xy, lm.visibility, self.K, fr.time, out["coordinates"][0], out["pelvis_rot_cam"][0],
                               root, out["scales"][0], world)
        root = fitted.pop("root_cam")
        out = {**out, **{k: v[None].astype(np.float32) for k, v in fitted.items() if k != "residual_px"}}
        return out, root, fitted


def _process(stream: _Stream, fr, overlay) -> bool:
    """One decoded frame through the whole path into ``stream.res`` (its record, its stage times) -> whether it
    held the person (its stages were timed)."""
    res, model = stream.res, stream.model
    t1 = time.perf_counter()
    lm = stream.track(fr)
    t2 = time.perf_counter()
    if lm is None and not stream.between:
        res.frames.append({"frame": fr.index, "time": round(fr.time, 6), "status": "no_person"})
        if overlay is not None:
            overlay.write(fr.rgb, None)
        return False
    x, box = stream.model_input(fr, lm)
    t3 = time.perf_counter()
    frame_out = model.run_frame(x)
    lm, frame_out = stream.sides_checked(fr, lm, box, frame_out)  # a frame run again when the body flips
    t4 = time.perf_counter()
    out = model.run_head(frame_out)
    if stream.first_guess is not None:
        q = stream.first_guess(fr.time, out["coordinates"][0].astype(np.float64))
        out = {**out, "coordinates": q[None].astype(np.float32)}
    root = root_translation(box, stream.K, np.concatenate([out["joints_rel"][0], out["markers_rel"][0]]))
    t5 = time.perf_counter()
    network_q = out["coordinates"][0]
    out, root, fitted = stream.refine(fr, lm, out, root)
    rec = _frame_record(fr, lm, box, frame_out[0], out, root, model.input_spec.world)
    if fitted is not None:  # what the network (and its head) said, before the fit moved it
        rec["network_coordinates"] = network_q
        rec["fit_residual_px"] = round(fitted["residual_px"], 2)
    t6 = time.perf_counter()
    res.frames.append(rec)
    if overlay is not None:
        overlay.write(fr.rgb, rec)
    t7 = time.perf_counter()
    for k, v in zip(STAGES[1:], (t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6)):
        res.stage_ms[k].append(v * 1e3)
    return True


def run_infer(cfg: InferConfig, say: Callable[[str], object] = print,
              advance: Callable[[int], object] | None = None, total: Callable[[int], object] | None = None,
              frame_filter: Callable[[np.ndarray, int], np.ndarray] | None = None,
              first_guess: FirstGuess | None = None) -> InferResult:
    """Run the whole path over the video; the overlay video is left in ``result.staging`` for ``write_outputs``.
    ``frame_filter(rgb, frame_index)``, if given, changes each decoded frame before anything sees it (the benchmarks'
    test-time conditions on real footage); ``first_guess(time_s, coordinates)``, if given, replaces the network's
    (and its head's) coordinates of each frame before the fit sees them (``bench.first_guess``: how good the
    network must be)."""
    model = open_model(cfg.model or default_model(), cfg.runtime, cfg.precision, cfg.head, cfg.threads)
    landmarks_in = not model.input_spec.is_image
    if landmarks_in and (cfg.landmark_every or 1) > 1:
        raise InferError(f"landmark_every {cfg.landmark_every}: the landmark model '{model.name}' takes BlazePose's "
                         "landmarks as its input, so it needs them on every frame; leave landmark_every at 1")
    landmark_every = cfg.landmark_every or (1 if landmarks_in or cfg.refine else 2)
    skeleton = resolve_skeleton(model.metadata, cfg.osim)
    fit = image_fit(skeleton, model.metadata, cfg.fit) if cfg.refine else None
    blaze = fetch_models(progress=say)
    tracker = PoseTracker(blaze["pose_detection.tflite"], blaze["pose_landmark_full.tflite"], cfg.person, cfg.tiles,
                          threads=cfg.threads)
    reader = VideoReader(cfg.video, cfg.start, cfg.end, cfg.every)
    K = frame_intrinsics(reader.width, reader.height, cfg.hfov)
    if total is not None:
        span = (cfg.end or reader.frame_count / reader.fps) - cfg.start
        total(max(int(span * reader.fps / cfg.every), 1))
    angles = panel_angles(model.metadata, cfg.angles)
    cfg.out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".infer-", dir=cfg.out))  # same file system: the final moves are atomic
    res = InferResult(cfg, model.name, model.runtime, model.head, model.head_fps, model.metadata, skeleton, angles,
                      reader.fps, (reader.width, reader.height), reader.rotation, K, staging=staging,
                      landmark_every=landmark_every)
    stream = _Stream(cfg, model, tracker, fit, K, landmark_every, res, first_guess)
    overlay = None
    t_start = time.perf_counter()
    try:
        if cfg.overlay:
            overlay = OverlayWriter(staging / "overlay.mp4", reader.fps / cfg.every, skeleton, model.metadata, K,
                                    angles)
        it = iter(reader)
        while True:
            t0 = time.perf_counter()
            fr = next(it, None)
            if fr is None:
                break
            if frame_filter is not None:
                fr.rgb = frame_filter(fr.rgb, fr.index)
            decode_ms = (time.perf_counter() - t0) * 1e3
            if _process(stream, fr, overlay):
                res.stage_ms["decode"].append(decode_ms)
            if advance:
                advance(1)
        res.wall_s = time.perf_counter() - t_start
        _check_found(res, stream.seen)
        if overlay is not None:
            overlay.close()
    except BaseException:
        if overlay is not None:
            overlay.close()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        reader.close()
    _finish(res, reader, tracker)
    return res


def _check_found(res: InferResult, seen: int) -> None:
    cfg = res.cfg
    if not res.frames:
        raise VideoError(f"'{cfg.video}' has no frame in {cfg.start:g}-{cfg.end if cfg.end else 'end'} s")
    if seen == 0:
        raise InferError(f"no person found in any of the {len(res.frames)} frames of '{cfg.video}'; if they are "
                         "small in a wide frame look with tiles (4), or point at them (a pixel x,y on the person)")


def _finish(res: InferResult, reader: VideoReader, tracker: PoseTracker) -> None:
    """The tracker's counts and the corrupt frames (named and counted, in time order)."""
    res.corrupt = reader.corrupt
    s = tracker.stats
    res.track = {"frames": s.frames, "tracked": s.tracked, "detector_calls": s.detector_calls, "lost": s.lost,
                 "swaps": s.swaps, "relabelled": s.relabelled}
    for i in reader.corrupt:
        res.frames.append({"frame": i, "time": round(i / reader.fps, 6), "status": "corrupt"})
    res.frames.sort(key=lambda f: f["time"])


def image_fit(skeleton, metadata: dict, cfg: FitConfig) -> ImageFit:
    """The fit for a model's skeleton: its BlazePose markers (the shipped set merged into the built-in skeleton)."""
    try:
        skel, markers = landmark_skeleton(skeleton)
    except (ValueError, KeyError) as exc:
        raise FitError(f"the fit to the image needs BlazePose's landmarks as markers on skeleton "
                       f"'{metadata['skeleton_name']}' ({exc}); give a .osim that has them, or turn the fit off") from exc
    return ImageFit(skel, markers, metadata["predicted_coordinates"], metadata["root_coordinates"],
                    metadata["marker_names"], cfg)


def resolve_skeleton(metadata: dict, osim: Path | None):
    """The skeleton the model predicts: the built-in one, or ``--osim`` (its hash must be the model's)."""
    want = metadata["skeleton_hash"]
    skel = builtin_skeleton() if osim is None else load_osim(osim)
    if skel.hash != want:
        where = "the built-in skeleton" if osim is None else f"'{osim}'"
        raise InferError(f"the model predicts skeleton '{metadata['skeleton_name']}' (hash {want}), not {where} "
                         f"(hash {skel.hash}); give the model's own .osim (osim)")
    return skel


DEFAULT_ANGLES = ("hip_flexion_r", "hip_flexion_l", "knee_angle_r", "knee_angle_l", "ankle_angle_r", "ankle_angle_l",
                  "elbow_flex_r", "elbow_flex_l")


def panel_angles(metadata: dict, chosen: tuple[str, ...]) -> list[str]:
    """The coordinates shown in the overlay panel and angles.png: ``chosen`` (checked) or the large joints present."""
    names = metadata["coordinate_names"]
    if chosen:
        unknown = [a for a in chosen if a not in names]
        if unknown:
            raise InferError(f"angles: {', '.join(unknown)} not in the model's coordinates; it has: "
                             f"{', '.join(names)}")
        return list(chosen)
    return [a for a in DEFAULT_ANGLES if a in names] or list(metadata["predicted_coordinates"][:8])
