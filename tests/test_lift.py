"""The landmark model (``d3ke_lift_*``): the quickstart trains it on projected motions with the measured BlazePose
noise, its causal heads step exactly as their sequence form, every export passes parity, and infer runs it on
BlazePose's landmarks of the quickstart's rendered clip — reproducibly from the logged landmarks — within a bound of
the truth. Bad configurations are named."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def lift(quickstart_out):
    summary = json.loads((quickstart_out / "summary.json").read_text())
    if "landmark" not in summary:
        pytest.fail("the quickstart has no landmark stage")
    return quickstart_out / "landmark", summary["landmark"]


def test_the_landmark_model_learns_in_the_quickstart(lift):
    folder, s = lift
    # the full task (every motion family, cameras all around, measured noise) in about 1.5 minutes
    assert s["val_angle_mae_deg"] < 0.7 * s["mean_pose_angle_mae_deg"], s
    assert s["train_seconds"] < 240
    # a causal head smooths the noisy landmarks' frame-to-frame jitter without losing accuracy
    head, per_frame = s["temporal"]["gru_causal"], s["per_frame_test"]
    assert head["marker_accel_err_mm"] < 0.9 * per_frame["marker_accel_err_mm"], (head, per_frame)
    assert head["angle_mae_deg"] < per_frame["angle_mae_deg"] + 0.3


def test_the_step_head_equals_its_sequence_form_on_landmark_outputs(lift):
    from d3ke_edge.train.checkpoint import load_bundle

    folder, _ = lift
    bundle = load_bundle(folder / "train" / "checkpoint_best.pt")
    head = bundle.heads["gru_causal"]
    x = bundle.model.space.join(*bundle.model.encode(bundle.model.input_spec.example(20, seed=3))[:2])[None]
    with torch.no_grad():
        seq = head(x)[0]
        state, steps = head.init_state(1), []
        for t in range(x.shape[1]):
            y, *state = head.step(x[:, t], *state)
            steps.append(y[0])
    torch.testing.assert_close(torch.stack(steps), seq, atol=1e-5, rtol=0)


def test_every_export_of_the_landmark_model_passes_parity(lift):
    folder, s = lift
    rows = json.loads((folder / "export" / "parity.json").read_text())
    targets = {r["target"] for r in rows}
    assert targets == {"tflite", "coreml", "torchscript", "onnx"}
    assert {(r["kind"], r["precision"]) for r in rows} >= {("per_frame", "fp32"), ("per_frame", "int8"), ("step", "fp32")}
    bad = [(r["artefact"], r["reason"]) for r in rows if not r["pass"]]
    assert not bad, bad
    for r in rows:
        if r["kind"] == "per_frame" and r["precision"] == "int8":
            assert r["angle_mae_delta_deg"] < 1.0
    meta = json.loads((folder / "export" / "tflite" / "per_frame_fp32.json").read_text())
    assert meta["inputs"][0]["name"] == "landmarks" and meta["inputs"][0]["shape"] == [1, 135]
    assert meta["model"]["input"]["features"] == 135 and "normalisation" in meta["model"]["input"]


def test_infer_runs_the_landmark_model_on_blazepose_s_landmarks(lift, quickstart_out):
    from d3ke_edge.data.landmark_input import landmark_features
    from d3ke_edge.infer.synthetic import render_from_recipe
    from d3ke_edge.runtime import load_runtime
    from d3ke_edge.video.crop import frame_intrinsics

    folder, s = lift
    if "infer" not in s or "skipped" in s["infer"]:
        pytest.skip(f"the landmark stage's infer did not run: {s.get('infer')}")
    inf = folder / "infer"
    summary = json.loads((inf / "summary.json").read_text())
    frames = [json.loads(line) for line in (inf / "frames.jsonl").read_text().splitlines()]
    ok = [f for f in frames if f["status"] == "ok"]
    assert len(ok) == len(frames) == 60 and summary["landmark_every"] == 1
    # the artefact on features made from the logged landmarks gives the logged per-frame parameters
    runner = load_runtime(folder / "export" / summary["model"])
    K = frame_intrinsics(*summary["size"], summary["hfov_deg"])
    lm = np.array([f["landmarks"] for f in ok])
    assert lm.shape == (60, 33, 4)
    # against the truth: the same clip as the image model's infer stage
    clip = render_from_recipe(json.loads((quickstart_out / "infer" / "clip.json").read_text()))
    assert s["infer"]["tracked_frames"] == len(clip.frames)
    assert s["infer"]["angle_mae_deg"] < 9.0, s["infer"]
    x = landmark_features(lm[..., :2], lm[..., 2], lm[..., 3], K).numpy()
    params = np.stack([runner.run(x[i : i + 1])[0][0] for i in range(len(x))])
    np.testing.assert_allclose(params, np.array([f["frame_params"] for f in ok]), atol=2e-3)


def test_landmark_configurations_that_cannot_work_are_named(lift, tmp_path):
    from d3ke_edge.infer.config import InferConfig
    from d3ke_edge.infer.run import InferError, run_infer
    from d3ke_edge.train.config import DataConfig, ModelConfig

    folder, s = lift
    with pytest.raises(ValueError, match="takes 135 features"):
        ModelConfig(name="d3ke_lift_mlp", input_size=64)
    with pytest.raises(ValueError, match="augment acts on images"):
        DataConfig(source="landmarks", augment=("motion_blur",))
    with pytest.raises(ValueError, match="landmark noise"):
        DataConfig(source="landmarks", landmark_noise="/nope.npz")
    assert ModelConfig(name="d3ke_lift_mlp").input_size == 135 and ModelConfig().input_size == 192
    clip = next((folder.parent / "infer").glob("clip.avi"), None)
    if clip is None:
        pytest.skip("no rendered clip")
    with pytest.raises(InferError, match="needs them on every frame"):
        run_infer(InferConfig(video=clip, model=folder / "train" / "checkpoint_best.pt", out=tmp_path / "x",
                              landmark_every=2, refine=False), say=lambda m: None)
    with pytest.raises(ValueError, match="the fit to the image needs them on every frame"):
        InferConfig(video=clip, model=folder / "train" / "checkpoint_best.pt", out=tmp_path / "x", landmark_every=2)
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_the_robustness_benchmark_runs_landmark_models_through_blazepose_on_the_conditioned_crops(lift, blazepose):
    from d3ke_edge.bench.metrics import sequence_errors
    from d3ke_edge.bench.robustness import LABELS, load_predictor
    from d3ke_edge.data.conditions import apply_condition
    from d3ke_edge.data.datasets import sequence_to_batch
    from d3ke_edge.data.synth import SynthConfig, SynthEngine

    folder, _ = lift
    pred = load_predictor(folder / "export" / "tflite" / "per_frame_fp32.tflite")
    assert pred.size == 256  # BlazePose's ROI size: the crops are rendered for BlazePose, not for the model
    engine = SynthEngine(SynthConfig(size=pred.size, seconds=1.0, families=("walk", "squat"),
                                     yaw_range_deg=(-45.0, 45.0)))
    sample = sequence_to_batch(engine.sequence(4242, as_numpy=False))
    clean = sequence_errors(pred.predict(sample), {k: sample[k] for k in LABELS}, pred.space)
    dark = apply_condition(sample, "brightness", 5)
    worse = sequence_errors(pred.predict(dark), {k: sample[k] for k in LABELS}, pred.space)
    assert clean["angle_mae_deg"] < 12.0, clean
    assert np.isfinite(worse["angle_mae_deg"]) and worse["angle_mae_deg"] != clean["angle_mae_deg"]


def test_a_world_landmark_model_exports_and_runs_through_infer(tiny_world_lift, blazepose, tmp_path):
    """``model.world_landmarks``: BlazePose's world landmarks as 99 more inputs, end to end — the data make 234
    features, the artefact says so in its metadata and passes parity, and infer logs the world landmarks it fed, so
    the artefact on the logged values reproduces the logged parameters."""
    from d3ke_edge.data.landmark_input import FEATURES_WORLD, landmark_features
    from d3ke_edge.export.api import ExportConfig, export
    from d3ke_edge.infer.config import InferConfig
    from d3ke_edge.infer.outputs import write_outputs
    from d3ke_edge.infer.run import run_infer
    from d3ke_edge.infer.synthetic import write_test_clip
    from d3ke_edge.runtime import load_runtime
    from d3ke_edge.train.config import ModelConfig
    from d3ke_edge.video.crop import frame_intrinsics

    clip, _ = write_test_clip(tmp_path / "clip", 11, ("walk",), (-30.0, 30.0), seconds=1.0)
    rows = export(tiny_world_lift,
                  ExportConfig(targets=("tflite",), out=str(tmp_path / "export"), steps=False, parity_frames=16,
                               stream_sequences=1))
    assert [r["pass"] for r in rows] == [True], rows
    meta = json.loads((tmp_path / "export" / "tflite" / "per_frame_fp32.json").read_text())
    assert meta["inputs"][0]["shape"] == [1, FEATURES_WORLD] and meta["model"]["input"]["world"] is True
    assert "world" in meta["model"]["input"]["order"][-1]
    res = run_infer(InferConfig(video=clip, model=tmp_path / "export", out=tmp_path / "infer"), say=lambda m: None)
    write_outputs(res, tmp_path / "infer")
    frames = [json.loads(line) for line in (tmp_path / "infer" / "frames.jsonl").read_text().splitlines()]
    ok = [f for f in frames if f["status"] == "ok"]
    assert len(ok) >= 27
    lm, world = np.array([f["landmarks"] for f in ok]), np.array([f["world_landmarks"] for f in ok])
    assert world.shape == (len(ok), 33, 3)
    summary = json.loads((tmp_path / "infer" / "summary.json").read_text())
    K = frame_intrinsics(*summary["size"], summary["hfov_deg"])
    x = landmark_features(lm[..., :2], lm[..., 2], lm[..., 3], K, world).numpy()
    runner = load_runtime(tmp_path / "export" / "tflite" / "per_frame_fp32.tflite")
    params = np.stack([runner.run(x[i : i + 1])[0][0] for i in range(len(x))])
    np.testing.assert_allclose(params, np.array([f["frame_params"] for f in ok]), atol=2e-3)
    with pytest.raises(ValueError, match="only landmark models"):
        ModelConfig(name="d3ke_mnv3_small", world_landmarks=True)
    with pytest.raises(ValueError, match="takes 234 features"):
        ModelConfig(name="d3ke_lift_mlp", world_landmarks=True, input_size=135)
