"""The phone demo in a real browser: headless Chromium (playwright-core) opens ``d3ke-edge demo serve``'s page with a
fake camera playing a real clip; the page's LiteRT.js run of BlazePose, the quickstart's landmark model and its step
model must equal the Python pipeline (ai_edge_litert) on the same frames, carry the step state, and download a .mot
that opensim reads back. Screenshots (phone and desktop) are saved for people to look at."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from conftest import POSE2SIM

CLIP = POSE2SIM / "videos" / "cam02.mp4"
FRAMES = 16  # frames the page logs (each with its picture, for the Python pipeline to run on the same pixels)
VIEWPORTS = [[390, 844], [1280, 800]]  # a phone in portrait, a laptop


@pytest.fixture(scope="module", params=["landmark", "image"])
def demo_run(request, quickstart_out, chromium, demo_node_modules, blazepose, tmp_path_factory):
    """The page driven for ``FRAMES`` frames on one of the quickstart's exports (its landmark model, its image model):
    (the page's log, its folder, the artefacts it ran)."""
    from d3ke_edge.demo.config import pick_models
    from d3ke_edge.demo.drive import drive_page

    if not CLIP.is_file():
        pytest.skip(f"the Pose2Sim clip is absent ({CLIP}, ../shared)")
    export = quickstart_out / "landmark" / "export" if request.param == "landmark" else quickstart_out / "export"
    models = pick_models(export)
    out = tmp_path_factory.mktemp(f"demo_{request.param}")
    frames = FRAMES if request.param == "landmark" else FRAMES // 2
    summary, log, run = drive_page(
        models, blazepose, CLIP, out, chromium, frames, frames,
        VIEWPORTS if request.param == "landmark" else VIEWPORTS[:1],
        latency_runs=5,  # printed only: benchmarks/browser_latency.py measures
        offline=request.param == "landmark")  # the installed app once: cached, network off, reloaded, still running
    console = (out / "console.txt").read_text() if (out / "console.txt").is_file() else ""
    assert summary.get("ok"), f"{summary.get('error')}\n{run.stderr[-2000:]}\n{console[-2000:]}"
    print(f"browser latency (ms, median): {summary['latency']}; screenshots in {out}")
    return log, out, models, summary


def _frame(record: dict) -> np.ndarray:
    import cv2

    png = base64.b64decode(record["image"].split(",", 1)[1])
    return np.ascontiguousarray(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[..., ::-1])


def test_the_page_runs_blazepose_as_python_does(demo_run, blazepose):
    from d3ke_edge.video.detector import INPUT, PoseDetector, _letterbox
    from d3ke_edge.video.landmarks import ROI, LandmarkModel
    from d3ke_edge.video.tracker import mirror_order

    log, _, _, _ = demo_run
    records = log["log"]
    assert len(records) >= FRAMES // 2 and log["isolated"] is True  # cross-origin isolated: LiteRT.js may use threads
    assert log["stats"]["tracked"] >= len(records) and log["stats"]["detectorCalls"] >= 1
    first = records[0]
    det = PoseDetector(blazepose["pose_detection.tflite"])
    # the page's letterbox (area average, as cv2.INTER_AREA) on the same pixels: within one grey level
    canvas, _, _ = _letterbox(_frame(first))
    page_in = np.array(first["detector"]["input"], np.float32).reshape(INPUT, INPUT, 3)
    assert np.abs(canvas / 127.5 - 1 - page_in).max() <= 1.01 / 127.5
    det.interpreter.set_tensor(det._input, page_in[None])
    det.interpreter.invoke()
    np.testing.assert_allclose(det.interpreter.get_tensor(det._boxes).ravel(), first["detector"]["boxes"], atol=5e-3)
    np.testing.assert_allclose(det.interpreter.get_tensor(det._scores).ravel(), first["detector"]["scores"], atol=5e-3)
    python_det = det.detect(_frame(first))[0]
    np.testing.assert_allclose(python_det.keypoints, first["detector"]["detections"][0]["kps"], atol=0.1)  # px
    lmk = LandmarkModel(blazepose["pose_landmark_full.tflite"])
    diffs, vis, world = [], [], []
    for r in records:
        roi = ROI(np.array(r["landmark_roi"]["centre"]), r["landmark_roi"]["side"], r["landmark_roi"]["rotation"])
        lm = lmk.run(_frame(r), roi)
        # the page's tracker may have put a frame's left/right labels back (as Python's does): undo it to compare
        order = mirror_order() if r["landmarks"]["swapped"] else np.arange(33)
        diffs.append(np.abs(lm.xy - np.array(r["landmarks"]["xy"])[order]))
        vis.append(np.abs(lm.visibility - np.array(r["landmarks"]["visibility"])[order]))
        world.append(np.abs(lm.world - np.array(r["landmarks"]["world"])[order]))
    d = np.stack(diffs)
    # the crops differ by OpenCV's fixed-point bilinear (1/32 px positions, rounded weights) against the page's
    # float one: a few hundredths of a pixel typically, a few tenths at worst (on a 640-px frame)
    assert d.max() < 0.5 and np.median(d) < 0.05, f"landmarks off by {d.max():.3f} px (median {np.median(d):.4f})"
    assert np.max(vis) < 0.02 and np.max(world) < 0.01, (np.max(vis), np.max(world))


def test_the_page_runs_the_model_and_carries_the_step_state_as_python_does(demo_run):
    from d3ke_edge.data.landmark_input import landmark_features
    from d3ke_edge.runtime import load_runtime
    from d3ke_edge.video.crop import cut_crop, frame_intrinsics

    log, _, models, _ = demo_run
    K = frame_intrinsics(*log["size"], 65.0)
    frame = load_runtime(models.per_frame, threads=1)
    step = load_runtime(models.step, threads=1)
    names = [o["name"] for o in frame.metadata["outputs"]]
    step_names = [o["name"] for o in step.metadata["outputs"]]
    state = [np.zeros(tuple(s["shape"]), np.float32) for s in step.metadata["state"]]
    meta = frame.metadata
    for k, r in enumerate(log["log"]):
        if meta["inputs"][0]["name"] == "landmarks":
            lm = r["landmarks"]
            want = landmark_features(np.array(lm["xy"]), np.array(lm["visibility"]), np.array(lm["presence"]),
                                     K).numpy()
            np.testing.assert_allclose(r["input"], want, atol=1e-5)
        else:  # the page's crop of its smoothed box, against infer's (OpenCV) crop of the same box and pixels
            size = meta["model"]["input_size"]
            crop, _ = cut_crop(_frame(r), np.array(r["box"]), size)
            page = np.array(r["input"]).reshape(3, size, size).transpose(1, 2, 0) * 255
            diff = np.abs(page - crop)
            assert diff.max() <= 2.01 and diff.mean() < 0.2, (diff.max(), diff.mean())
        out = frame.run(np.array(r["input"], np.float32).reshape(meta["inputs"][0]["shape"]))
        for n, o in zip(names, out):
            np.testing.assert_allclose(r["per_frame"][n], o.ravel(), atol=1e-4, err_msg=f"frame {k} {n}")
        # the page fed the state Python carried: frame to frame, from zeros (one tracked stretch)
        for s_page, s_py in zip(r["state_in"], state):
            np.testing.assert_allclose(s_page, s_py.ravel(), atol=1e-5, err_msg=f"frame {k}: step state")
        res = step.run(out[0], *state)
        for n, o in zip(step_names, res):
            if n in r["outputs"]:
                np.testing.assert_allclose(r["outputs"][n], o.ravel(), atol=1e-4, err_msg=f"frame {k} step {n}")
        state = [res[step_names.index(s["output"])] for s in step.metadata["state"]]
    assert np.abs(state[0]).max() > 1e-3  # the state did change: it was carried, not reset


def test_the_downloaded_mot_reads_back_in_opensim_and_the_screens_were_drawn(demo_run):
    import opensim

    log, out, models, summary = demo_run
    meta = json.loads(models.per_frame.with_suffix(".json").read_text())["model"]
    table = opensim.TimeSeriesTable(str(out / "session.mot"))
    labels = list(table.getColumnLabels())
    assert labels == meta["coordinate_names"]
    rows = log["rows"]
    assert table.getNumRows() == len(rows) >= len(log["log"])  # the page records until it holds the logged frames
    angle = [t != "translational" for t in meta["coordinate_motion_types"]]
    for i, c in enumerate(labels):
        col = np.array(table.getDependentColumn(c).to_numpy())
        want = np.array([r["coordinates"][i] for r in rows]) * (180 / np.pi if angle[i] else 1.0)
        np.testing.assert_allclose(col, want, rtol=1e-9, atol=1e-9)
    knee = np.array(table.getDependentColumn("knee_angle_r").to_numpy())
    assert np.all((knee > -5) & (knee < 150))  # degrees, within the joint's range
    for w, h in VIEWPORTS if "offline" in summary else VIEWPORTS[:1]:
        shot = out / f"screenshot_{w}x{h}.png"
        assert shot.stat().st_size > 50_000, shot
    if "offline" in summary:  # installed: after one visit the service worker serves everything, models included
        assert summary["offline"]["controlled"] and summary["offline"]["error"] is None
        assert summary["offline"]["frames"] > 3


def test_the_page_catches_blazepose_s_side_flip_as_infer_does(chromium, demo_node_modules, blazepose, tmp_path):
    """The default model in the page on cam02's first 100 frames (the fake camera at 30 fps, 360x640, looping): the
    subject faces the camera throughout; BlazePose reads part of the clip facing away (without the guard 45-65 % of
    the logged frames faced the camera), and the page's side guard keeps the facing labelling (30 drives by hand:
    98-100 % facing, 0-9 relabels; which frames BlazePose flips depends on which frames the page gets to)."""
    from d3ke_edge.default_model import default_model
    from d3ke_edge.demo.config import pick_models
    from d3ke_edge.demo.drive import drive_page

    if not CLIP.is_file():
        pytest.skip(f"the Pose2Sim clip is absent ({CLIP}, ../shared)")
    summary, log, run = drive_page(pick_models(default_model()), blazepose, CLIP, tmp_path, chromium, 150, 0,
                                   VIEWPORTS[:1], latency_runs=1, clip_frames=100)
    assert summary.get("ok"), f"{summary.get('error')}\n{run.stderr[-2000:]}"
    xy = np.array([r["landmarks"]["xy"] for r in log["log"]])
    facing = xy[:, 24, 0] < xy[:, 23, 0]  # right hip left of the left one
    order = "".join("F" if f else "b" for f in facing)
    assert len(facing) == 150 and facing.mean() >= 0.9, (log["stats"], order)


def test_the_page_s_side_guard_decides_as_infer_s(tmp_path):
    """android_demo/src/sides.js against infer.sides on 200 random frame pairs (rotations from small turns to flips,
    30 and 60 fps, and frames 0.2-0.5 s apart: a page that keeps up at a few fps): the same turn angles (1e-6 deg), the same suspect / prefer decisions and the same hold of an
    unresolved frame; the page reads the limit, ratio and minimum flip from config.json, which carries infer's."""
    import shutil
    import subprocess

    from conftest import ROOT
    from scipy.spatial.transform import Rotation

    from d3ke_edge.demo.config import HOLD_S, KEEP_RATIO, MAX_GAP_S, MIN_FLIP_DEG, InferConfig
    from d3ke_edge.infer.sides import SideGuard, turn_deg

    node = shutil.which("node")
    if node is None:
        pytest.skip("needs node (apt-get install nodejs) to run the page's module")
    rng = np.random.default_rng(0)
    cases = []
    for k in range(200):
        r0 = Rotation.random(random_state=rng.integers(1 << 30)).as_matrix()
        turn = rng.choice([rng.uniform(0, 15), rng.uniform(15, 60), rng.uniform(120, 180)])
        axis = rng.normal(size=3)
        r1 = Rotation.from_rotvec(np.radians(turn) * axis / np.linalg.norm(axis)).as_matrix() @ r0
        r1m = Rotation.from_rotvec(np.radians(rng.uniform(0, 180)) * axis / np.linalg.norm(axis)).as_matrix() @ r0
        cases.append({"r0": r0.ravel().tolist(), "r1": r1.ravel().tolist(), "r1m": r1m.ravel().tolist(),
                      "dt": float(rng.choice([1 / 30, 1 / 60, 0.2, 0.5]))})
    script = tmp_path / "guard.mjs"
    script.write_text(
        f"import {{SideGuard, turnDeg}} from {json.dumps((ROOT / 'android_demo' / 'src' / 'sides.js').as_uri())};\n"
        f"const cases = JSON.parse(process.argv[2]);\n"
        f"const out = cases.map((c) => {{\n"
        f"  const g = new SideGuard({InferConfig.max_turn_deg_s}, {KEEP_RATIO}, {MIN_FLIP_DEG}, {HOLD_S}, {MAX_GAP_S});\n"
        f"  const first = g.suspect(c.r1, 0);\n"
        f"  g.accept(c.r0, 0);\n"
        f"  const r = {{turn: turnDeg(c.r0, c.r1), first, suspect: g.suspect(c.r1, c.dt)}};\n"
        f"  r.prefer = g.prefer(c.r1, c.r1m);\n"
        f"  g.accept(c.r1, c.dt, false);\n"  # held: the next frame is still compared with r0
        f"  r.held = g.suspect(c.r1m, 2 * c.dt);\n"
        f"  return r;\n"
        f"}});\n"
        f"console.log(JSON.stringify(out));\n")
    run = subprocess.run([node, str(script), json.dumps(cases)], capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 0, run.stderr
    page = json.loads(run.stdout)
    suspects = prefers = 0
    for c, p in zip(cases, page):
        r0, r1, r1m = (np.array(c[k]).reshape(3, 3) for k in ("r0", "r1", "r1m"))
        guard = SideGuard(InferConfig.max_turn_deg_s)
        assert p["first"] is False and guard.suspect(r1, 0.0) is False
        guard.accept(r0, 0.0)
        assert p["turn"] == pytest.approx(turn_deg(r0, r1), abs=1e-6)
        assert p["suspect"] == guard.suspect(r1, c["dt"]) and p["prefer"] == guard.prefer(r1, r1m)
        guard.accept(r1, c["dt"], resolved=False)
        assert p["held"] == guard.suspect(r1m, 2 * c["dt"])
        suspects += p["suspect"]
        prefers += p["prefer"]
    assert 50 <= suspects <= 150 and prefers >= 10  # both decisions were exercised
