"""``d3ke-edge infer``: on the quickstart's rendered clip (truth known) the crops follow the engine's convention and
the model runs exactly on them; every runtime gives the same kinematics; the files round-trip through opensim;
tracking keeps identities and sides on real footage (../shared); bad inputs are named and leave no files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="module")
def infer_run(quickstart_out):
    folder = quickstart_out / "infer"
    summary = json.loads((quickstart_out / "summary.json").read_text()).get("infer", {})
    if "skipped" in summary or not (folder / "frames.jsonl").exists():
        pytest.skip(f"the quickstart's infer stage did not run: {summary.get('skipped', 'no infer folder')}")
    from d3ke_edge.infer.synthetic import render_from_recipe

    frames = [json.loads(line) for line in (folder / "frames.jsonl").read_text().splitlines()]
    clip = render_from_recipe(json.loads((folder / "clip.json").read_text()))
    return folder, json.loads((folder / "summary.json").read_text()), frames, clip


def _decoded(frames_path: Path) -> list[np.ndarray]:
    from d3ke_edge.video.reader import VideoReader

    return [f.rgb for f in VideoReader(frames_path)]


def test_infer_crops_like_the_engine_and_runs_the_model_exactly_on_them(infer_run, quickstart_out):
    from d3ke_edge.data.camera import ENGINE_MARGIN, Camera
    from d3ke_edge.data.synth import SynthConfig, SynthEngine
    from d3ke_edge.models.graphs import DECODED_OUTPUTS
    from d3ke_edge.runtime import load_runtime, run_stream
    from d3ke_edge.video.crop import cut_crop

    folder, summary, frames, clip = infer_run
    ok = [f for f in frames if f["status"] == "ok"]
    assert len(ok) == len(frames) == len(clip.frames)  # BlazePose follows the rendered person in every frame
    boxes = np.array([f["box"] for f in ok])
    # the box convention: side / silhouette extent at the engine's mean margin, centred on the body
    sil = clip.silhouette
    ratio = boxes[:, 2] / np.maximum(sil[:, 2] - sil[:, 0], sil[:, 3] - sil[:, 1])
    assert abs(np.median(ratio) - np.mean(ENGINE_MARGIN)) < 0.05, np.median(ratio)
    assert ENGINE_MARGIN[0] - 0.07 < np.percentile(ratio, 5) and np.percentile(ratio, 95) < ENGINE_MARGIN[1] + 0.07
    centre_off = ((sil[:, :2] + sil[:, 2:]) / 2 - (boxes[:, :2] + boxes[:, 2:] / 2)) / boxes[:, 2:]
    assert np.abs(centre_off).max() < 0.06
    # exactness: the same artefact on infer's crops of the decoded (lossless) video gives the logged parameters
    artefact = quickstart_out / "export" / summary["model"]
    runner = load_runtime(artefact)
    size = int(runner.metadata["model"]["input_size"])
    video = _decoded(folder / "clip.avi")
    np.testing.assert_array_equal(video[0], clip.frames[0])  # FFV1 is lossless
    mine = np.stack([runner.run((cut_crop(video[i], b, size)[0].astype(np.float32) / 255).transpose(2, 0, 1)[None])[0][0]
                     for i, b in enumerate(boxes)])
    np.testing.assert_allclose(mine, np.array([f["frame_params"] for f in ok]), atol=2e-5)
    # the head's outputs are the step artefact streamed over those parameters from its reset state
    step = load_runtime(artefact.with_name(f"step_{summary['head']}{artefact.suffix}"))
    streamed = run_stream(step, [p[None].astype(np.float32) for p in mine])
    k = DECODED_OUTPUTS.index("coordinates") + 1
    # (before the fit to the image, which infer runs after the head: frames.jsonl keeps both)
    np.testing.assert_allclose(np.stack([s[k][0] for s in streamed]),
                               np.array([f.get("network_coordinates", f["outputs"]["coordinates"]) for f in ok]),
                               atol=2e-5)
    # the engine rendering those very boxes at the model's size (its training crops) gives the same angles
    recipe = json.loads((folder / "clip.json").read_text())
    engine = SynthEngine(SynthConfig(size=size, seconds=recipe["seconds"], families=tuple(recipe["families"]),
                                     yaw_range_deg=tuple(recipe["yaw_range_deg"])))
    q, subject, cam, rng, ids = engine._spec(recipe["seed"])
    h, w = clip.frames.shape[1:3]
    rendered = engine.render(q, subject, Camera(cam.rotation, cam.translation, clip.K, w, h), rng, *ids,
                             boxes=torch.as_tensor(boxes, dtype=torch.float32))["image"]
    theirs = np.stack([runner.run((im.astype(np.float32) / 255).transpose(2, 0, 1)[None])[k][0] for im in rendered])
    names, pred = runner.metadata["model"]["coordinate_names"], runner.metadata["model"]["predicted_coordinates"]
    idx = [names.index(n) for n in pred]
    from d3ke_edge.models.kinematic_space import KinematicSpace
    from d3ke_edge.skeleton.builtin import builtin_skeleton

    space = KinematicSpace(builtin_skeleton())
    ours = space.decode_params(torch.as_tensor(mine))["coordinates"].numpy()
    diff = np.degrees(np.abs(ours[:, idx] - theirs[:, idx])).mean()
    truth = clip.labels["coordinates"][:, idx]
    err_ours = np.degrees(np.abs(ours[:, idx] - truth)).mean()
    err_theirs = np.degrees(np.abs(theirs[:, idx] - truth)).mean()
    assert diff < 1.0 and abs(err_ours - err_theirs) < 0.5, (diff, err_ours, err_theirs)
    # the root's depth from the box and the predicted body
    assert summary["speed"]["path"]["mean_ms"] > 0
    root = np.array([f["root_cam"] for f in ok])
    assert np.median(np.abs(root[:, 2] - clip.labels["joints_cam"][:, 0, 2]) / clip.labels["joints_cam"][:, 0, 2]) < 0.25


def test_the_mot_and_trc_round_trip_through_opensim(infer_run):
    from d3ke_edge.io import read_mot, read_trc
    from d3ke_edge.skeleton.builtin import builtin_skeleton
    from d3ke_edge.skeleton.opensim_ref import import_opensim

    folder, summary, frames, clip = infer_run
    osim = import_opensim()
    skel = builtin_skeleton()
    table = osim.TimeSeriesTable(str(folder / "kinematics.mot"))
    assert table.getTableMetaDataAsString("inDegrees") == "yes"
    assert "person box" in table.getTableMetaDataAsString("d3ke_translation")
    labels = list(table.getColumnLabels())
    assert labels == skel.coordinate_names
    back = table.getMatrix().to_numpy()
    ours = read_mot(folder / "kinematics.mot", skel)
    rot = np.array([c.is_rotational for c in skel.coordinates])
    np.testing.assert_allclose(np.where(rot, np.radians(back), back), ours.values, atol=1e-9)
    ok = [f for f in frames if f["status"] == "ok"]
    pred = [skel.coordinate_names.index(n) for n in ("knee_angle_r", "hip_flexion_l", "elbow_flex_r")]
    np.testing.assert_allclose(ours.values[:, pred], np.array([f["outputs"]["coordinates"] for f in ok])[:, pred],
                               atol=1e-6)
    # the root was solved: pelvis translation is the estimated root position in the Y-up ground frame
    tx = [skel.coordinate_names.index(n) for n in ("pelvis_tx", "pelvis_ty", "pelvis_tz")]
    root = np.array([f["root_cam"] for f in ok])
    np.testing.assert_allclose(ours.values[:, tx], root * [1, -1, -1], atol=1e-4)
    trc = osim.TimeSeriesTableVec3(str(folder / "markers.trc"))
    assert trc.getNumRows() == len(frames)
    mine = read_trc(folder / "markers.trc")
    first = trc.getRowAtIndex(0)
    np.testing.assert_allclose([[first[m].get(k) / 1000 for k in range(3)] for m in range(3)], mine.positions[0, :3],
                               atol=1e-6)


def test_every_runtime_gives_the_same_kinematics(quickstart_out, blazepose, infer_run, tmp_path):
    """The same 10 frames through the checkpoint (PyTorch) and the fp32 LiteRT, ONNX and TorchScript exports, each
    with its GRU step model."""
    from d3ke_edge.infer.config import InferConfig
    from d3ke_edge.infer.run import run_infer

    folder = infer_run[0]
    outs = {}
    for name, model, runtime in (("pytorch", quickstart_out / "train" / "checkpoint_best.pt", None),
                                 ("litert", quickstart_out / "export", "litert"),
                                 ("onnx", quickstart_out / "export", "onnx"),
                                 ("torchscript", quickstart_out / "export", "torchscript")):
        cfg = InferConfig(video=folder / "clip.avi", model=model, out=tmp_path / name, runtime=runtime,
                          precision=None if runtime is None else "fp32", head="gru_causal", end=0.32, overlay=False)
        res = run_infer(cfg, say=lambda m: None)
        assert res.head == "gru_causal" and len(res.tracked) == 10
        outs[name] = np.array([f["outputs"]["coordinates"] for f in res.tracked])
    for name in ("litert", "onnx", "torchscript"):
        np.testing.assert_allclose(outs[name], outs["pytorch"], atol=2e-3, err_msg=name)


def _frames(video: Path, n: int | None = None):
    from d3ke_edge.video.reader import VideoReader

    if not video.is_file():
        pytest.skip(f"{video} is absent (../shared)")
    for i, f in enumerate(VideoReader(video)):
        if n is not None and i >= n:
            return
        yield f.rgb


def test_tracking_keeps_one_identity_through_a_two_person_clip(blazepose):
    """Sports2D: a man on a box (then flipping off it) and a woman walking right to left in front of it. Pointed at
    where she enters, the tracker takes nobody before she is there (a point is not the nearest stranger), follows
    her to where she leaves (hips continuous, on the ground), and does not jump to the man after she is gone."""
    from d3ke_edge.video.tracker import PoseTracker

    tracker = PoseTracker(blazepose["pose_detection.tflite"], blazepose["pose_landmark_full.tflite"],
                          person="1520,760")
    hips = []
    for i, frame in enumerate(_frames(SHARED / "sports2d" / "demo.mp4")):
        lm = tracker.track(frame)
        hips.append((i, *(lm.xy[[23, 24]].mean(0) if lm is not None else (np.nan, np.nan)),
                     lm.roi.side if lm is not None else np.nan))
    h = np.array(hips)
    seen = h[~np.isnan(h[:, 1])]
    assert 36 <= seen[0, 0] <= 46 and 190 <= seen[-1, 0] <= 205  # measured: 39 .. 199
    assert len(seen) == seen[-1, 0] - seen[0, 0] + 1  # never lost in between
    assert (seen[:, 2] > 650).all()  # on the ground, never the man on the box (hips ~200-300 px)
    jumps = np.linalg.norm(np.diff(seen[:, 1:3], axis=0), axis=1) / seen[1:, 3]
    assert jumps.max() < 0.1 and seen[-1, 1] < seen[0, 1] - 1300


def test_left_right_swaps_of_a_side_view_are_fixed(blazepose):
    """Pose2Sim cam02 (a side view): BlazePose swaps the legs' labels back and forth (21 ankle-order changes in 100
    frames of ~2 steps); with the check, the labels follow the previous frame (measured: 46 frames swapped back,
    6 order changes left, the leg crossings of the steps)."""
    from d3ke_edge.video.tracker import PoseTracker

    flips = {}
    for fix in (False, True):
        tracker = PoseTracker(blazepose["pose_detection.tflite"], blazepose["pose_landmark_full.tflite"],
                              fix_swaps=fix)
        order = []
        for frame in _frames(SHARED / "pose2sim" / "videos" / "cam02.mp4"):
            lm = tracker.track(frame)
            order.append(np.sign(lm.xy[27, 0] - lm.xy[28, 0]))
        flips[fix] = int((np.diff(order) != 0).sum())
        if fix:
            assert len(tracker.stats.swaps) >= 20
    assert flips[False] >= 15 and flips[True] <= 8, flips


def test_the_side_guard_flags_only_turns_no_person_makes():
    """The guard's arithmetic: no suspicion on a stretch's first frame or at a fast real turn (600 deg/s), suspicion
    at a flip (150 deg in 1/60 s); the mirrored labelling taken only when the given one turns the body 90 deg or more
    and the mirrored one less than 45 deg; suspect frames mirroring did not resolve are not the reference for 0.1 s."""
    from d3ke_edge.infer.sides import SideGuard, turn_deg

    def yaw(deg):
        c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])

    assert turn_deg(yaw(10), yaw(-140)) == pytest.approx(150.0, abs=1e-6)
    guard = SideGuard(900.0)
    assert not guard.suspect(yaw(150), 0.0)  # nothing to compare with
    guard.accept(yaw(0), 0.0)
    assert not guard.suspect(yaw(10), 1 / 60)  # 600 deg/s: a fast turn, not a flip
    assert guard.suspect(yaw(150), 1 / 60)  # 9000 deg/s
    assert guard.prefer(yaw(150), yaw(5)) and not guard.prefer(yaw(150), yaw(80))
    assert guard.suspect(yaw(60), 1 / 60) and not guard.prefer(yaw(60), yaw(5))  # fast, but no flip: too small
    guard.accept(yaw(75), 1 / 60, resolved=False)  # in between, neither labelling continuous: held
    guard.accept(yaw(80), 2 / 60, resolved=False)
    assert guard.suspect(yaw(170), 3 / 60) and guard.prefer(yaw(170), yaw(10))  # compared with the frame before
    guard.accept(yaw(85), 6 / 60, resolved=False)  # 0.1 s after the reference: a body still turning is turning
    assert not guard.suspect(yaw(88), 7 / 60)
    guard.reset()
    assert not guard.suspect(yaw(150), 5 / 60)
    with pytest.raises(ValueError, match="max_turn_deg_s"):
        SideGuard(0.0)
    from d3ke_edge.infer.config import InferConfig

    with pytest.raises(ValueError, match="max_turn_deg_s"):
        InferConfig(video=Path("v.mp4"), model=None, out=Path("o"), max_turn_deg_s=-1.0)


def test_a_whole_body_side_flip_is_caught_by_the_turn_rate(blazepose, tmp_path):
    """Pose2Sim cam02: the subject faces the camera throughout (right hip left of the left hip in the picture), but
    from frame 58 BlazePose labels every landmark the wrong way round (a person facing away) and the frame-to-frame
    check keeps that labelling. The default model's per-frame pelvis then turns 118-176 deg in a frame; with the
    guard the labels are mirrored back there (measured: frames 58, 59, 69-72 relabelled, then the tracker carries
    it) and every frame has the facing-the-camera order; without it the last 40 frames face away."""
    video = SHARED / "pose2sim" / "videos" / "cam02.mp4"
    if not video.is_file():
        pytest.skip(f"{video} is absent (../shared)")
    from d3ke_edge.infer.config import InferConfig
    from d3ke_edge.infer.run import run_infer

    facing = {}
    for turn in (900.0, 0.0):
        res = run_infer(InferConfig(video=video, model=None, out=tmp_path / f"t{turn:g}", overlay=False,
                                    max_turn_deg_s=turn), say=lambda m: None)
        lm = np.array([f["landmarks"] for f in res.tracked])
        facing[turn] = lm[:, 24, 0] < lm[:, 23, 0]  # right hip left of the left one: facing the camera
        if turn:
            assert 56 <= res.track["relabelled"][0] <= 60, res.track["relabelled"]
        else:
            assert res.track["relabelled"] == []
    assert len(facing[900.0]) >= 95 and facing[900.0].all()
    assert facing[0.0][:55].all() and (~facing[0.0][60:]).mean() >= 0.9


def test_the_side_guard_leaves_a_somersault_alone_and_fixes_its_flip(blazepose, tmp_path):
    """Sports2D (30 fps): the man stands on a box facing the camera, walks side-on, somersaults off it and lands.
    BlazePose flips his labels for frames 69-105 while he faces the camera; the guard relabels frame 69 only (then
    the tracker carries it) — not the side-on steps, the somersault or the landing, whose per-frame turns (30-84 deg
    a frame) are no flip. Every frame outside 69-105 keeps the labels it had without the guard."""
    video = SHARED / "sports2d" / "demo.mp4"
    if not video.is_file():
        pytest.skip(f"{video} is absent (../shared)")
    from d3ke_edge.infer.config import InferConfig
    from d3ke_edge.infer.run import run_infer

    labels, relabelled = {}, {}
    for turn in (900.0, 0.0):
        res = run_infer(InferConfig(video=video, model=None, out=tmp_path / f"t{turn:g}", overlay=False,
                                    max_turn_deg_s=turn), say=lambda m: None)
        labels[turn] = {f["frame"]: np.array(f["landmarks"])[:, :2] for f in res.tracked}
        relabelled[turn] = res.track["relabelled"]
    assert relabelled[0.0] == [] and len(relabelled[900.0]) == 1 and 66 <= relabelled[900.0][0] <= 72
    changed = [k for k in labels[0.0] if not np.allclose(labels[0.0][k], labels[900.0][k])]
    first = relabelled[900.0][0]
    assert changed == list(range(first, first + len(changed))) and 30 <= len(changed) <= 45
    for k in changed:  # facing the camera: his right hip left of his left one with the guard, the other way without
        assert labels[900.0][k][24, 0] < labels[900.0][k][23, 0] and labels[0.0][k][24, 0] > labels[0.0][k][23, 0]


def _cli(*args):
    from typer.testing import CliRunner

    from d3ke_edge.cli import app

    return CliRunner().invoke(app, ["infer", *map(str, args)])


def test_bad_inputs_are_named_and_leave_no_files(quickstart_out, blazepose, infer_run, zoo_osim, tmp_path):
    import shutil

    from d3ke_edge.viz.overlay import write_video

    export, clip = quickstart_out / "export", infer_run[0] / "clip.avi"
    out = tmp_path / "out"
    cases = [
        ((tmp_path / "missing.mp4", "--model", export), "does not exist"),
        ((tmp_path, "--model", export), "is a folder"),
        ((clip, "--model", tmp_path / "none"), "does not exist"),
        ((clip, "--model", export / "tflite" / "step_gru_causal.tflite"), "is a step artefact"),
        ((clip, "--model", export, "--head", "lstm"), "no causal head 'lstm'"),
        ((clip, "--model", quickstart_out / "train" / "checkpoint_best.pt", "--runtime", "litert"), "export it first"),
        ((clip, "--model", export, "--runtime", "tensorrt"), "--runtime 'tensorrt' is unknown"),
        ((clip, "--model", export, "--osim", zoo_osim), "the model predicts skeleton"),
        ((clip, "--model", export, "--person", "tallest"), "--person must be"),
        ((clip, "--model", export, "--angles", "knee_angle_x"), "knee_angle_x not in the model's coordinates"),
        ((clip, "--model", export, "--hfov", "200"), "--hfov must be within"),
    ]
    (tmp_path / "text.mp4").write_text("hello")
    cases.append(((tmp_path / "text.mp4", "--model", export), "not a video"))
    noise = np.random.default_rng(0).integers(0, 255, (12, 96, 128, 3), dtype=np.uint8)
    write_video(list(noise), 30.0, tmp_path / "nobody.avi", fourcc="FFV1")
    cases.append(((tmp_path / "nobody.avi", "--model", export, "--search-frames", "8", "--tiles", "1"),
                  "no person found in the first 8 frames"))
    # a step model that does not belong to the per-frame model (another export's, here one with another width)
    mixed = tmp_path / "mixed"
    shutil.copytree(export / "tflite", mixed)
    shutil.copy(export / "tflite" / "per_frame_fp32.tflite", mixed / "step_gru_causal.tflite")
    cases.append(((clip, "--model", mixed / "per_frame_fp32.tflite", "--head", "gru_causal"), "not one export"))
    for args, message in cases:
        result = _cli(*args, "--out", out)
        text = " ".join(result.output.split())
        assert result.exit_code == 2 and message in text, (args, text[-600:])
    leftovers = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert leftovers in ([], ["infer.log"]), leftovers  # no half-written outputs, no staging folders


def test_a_corrupt_frame_in_the_middle_is_skipped_and_reported(infer_run, quickstart_out, blazepose, tmp_path):
    """The quickstart clip re-encoded as MJPG with frame 20's JPEG wiped: infer goes on, and the frame is named in
    summary.json and frames.jsonl; the head restarts after it is not needed (the person is still there)."""
    from d3ke_edge.viz.overlay import write_video

    folder, _, _, clip = infer_run
    mjpg = write_video(list(clip.frames), clip.fps, tmp_path / "clip.avi", fourcc="MJPG")
    data = bytearray(mjpg.read_bytes())
    starts = [k for k in range(len(data) - 1) if data[k] == 0xFF and data[k + 1] == 0xD8 and data[k + 2] == 0xFF]
    data[starts[20] : starts[21] - 16] = bytes(starts[21] - 16 - starts[20])
    mjpg.write_bytes(bytes(data))
    result = _cli(mjpg, "--model", quickstart_out / "export", "--out", tmp_path / "out", "--no-overlay")
    assert result.exit_code == 0, result.output[-2000:]
    assert "corrupt frames skipped 1 (at [20])" in " ".join(result.output.split())
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["corrupt"] == [20] and summary["tracked"] == len(clip.frames) - 1
    status = [json.loads(line)["status"] for line in (tmp_path / "out" / "frames.jsonl").read_text().splitlines()]
    assert status[20] == "corrupt" and status.count("ok") == len(clip.frames) - 1
