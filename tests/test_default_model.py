"""The model that ships in the package: its files load and say what they are, ``infer`` and ``demo serve`` use it
without being told, and its recipe trains (a short version, from the shared motion capture)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from d3ke_edge.default_model import DEFAULT_MODEL, default_model, model_card

ROOT = Path(__file__).resolve().parents[1]
MOTIONS = ROOT.parent / "shared" / "data" / "motions"


def test_the_shipped_files_load_and_equal_their_metadata():
    """Every artefact runs in LiteRT, carries the metadata its JSON has, and passed parity; <= 10 MB in all; the
    card names the recipe, the bank (its hash = the committed manifest's) and each source's licence."""
    from d3ke_edge.artefacts import read_metadata
    from d3ke_edge.default_model.card import real_footage_summary
    from d3ke_edge.runtime import load_runtime

    folder = default_model()
    files = [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert sum(p.stat().st_size for p in files) <= 10e6
    arts = sorted((folder / "tflite").glob("*.tflite"))
    assert {a.name for a in arts} >= {"per_frame_fp32.tflite", "per_frame_int8.tflite", "step_gru_causal.tflite"}
    for a in arts:
        meta = json.loads(a.with_suffix(".json").read_text())
        # the artefact carries what the sidecar says (the sidecar adds the parity measured after conversion)
        assert read_metadata(a) == {k: v for k, v in meta.items() if k != "parity"}, a.name
        assert meta["parity"]["pass"] is True
        runner = load_runtime(a, threads=1)
        x = [np.zeros(tuple(i["shape"]), np.float32) for i in meta["inputs"]]
        out = runner.run(*x)
        assert all(np.isfinite(o).all() for o in out), a.name
    assert all(r["pass"] for r in json.loads((folder / "parity.json").read_text()))
    card = model_card()
    assert (ROOT / card["recipe"]).is_file() and (ROOT / card["remake"]).is_file()
    committed = json.loads((ROOT / card["motion_bank"]["manifest"]).with_suffix(".json").read_text())
    assert card["motion_bank"]["hash"] == committed["bank_hash"]
    assert {s["licence"] for s in card["motion_bank"]["sources"].values()} == {
        "GPL-3.0 with an added term (see the file)", "MIT", "Apache-2.0"}
    assert {a["artefact"] for a in card["artefacts"]} == {f"tflite/{a.name}" for a in arts}
    # the real-footage summary the card carries (infer prints it) is the committed result's, not a copy that drifts
    bench = json.loads((ROOT / card["real_footage"]["file"]).with_suffix(".json").read_text())
    assert card["real_footage"] == real_footage_summary(bench)


def test_infer_and_the_demo_use_the_shipped_model_when_given_none(tmp_path, blazepose):
    from typer.testing import CliRunner

    from d3ke_edge.cli import app
    from d3ke_edge.demo.config import pick_models
    from d3ke_edge.infer.synthetic import write_test_clip

    clip, _ = write_test_clip(tmp_path / "clip", 7, ("walk",), (-30.0, 30.0), seconds=1.0)
    res = CliRunner().invoke(app, ["infer", str(clip), "--out", str(tmp_path / "out"), "--no-overlay"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["model"].endswith("per_frame_fp32.tflite") and summary["head"] == "gru_causal"
    assert summary["tracked"] >= 27
    frames = [json.loads(ln) for ln in (tmp_path / "out" / "frames.jsonl").read_text().splitlines()]
    ok = [f for f in frames if f["status"] == "ok"]
    # the fit ran on every tracked frame: the head's coordinates kept beside the fitted ones, residuals in pixels
    assert all("network_coordinates" in f and 0 <= f["fit_residual_px"] < 30 for f in ok)
    assert "fit" in summary["speed"]
    models = pick_models(DEFAULT_MODEL)
    assert models.per_frame.name == "per_frame_fp32.tflite" and models.step.name == "step_gru_causal.tflite"


def test_the_default_model_s_recipe_trains_from_the_shared_bank(tmp_path):
    """The recipe (train/lift_bank_cpu.yaml) cut to a few steps, on a bank imported from a slice of the shared
    motion capture: it trains both stages, records the bank's hash with the weights, and the card writer accepts
    it (and refuses another bank)."""
    if not MOTIONS.is_dir():
        pytest.skip("the shared motion capture is absent (../shared/data/motions)")
    from typer.testing import CliRunner

    from d3ke_edge.cli import app
    from d3ke_edge.data.motion_bank import load_manifest
    from d3ke_edge.train.checkpoint import load_checkpoint

    run = CliRunner()
    bank = tmp_path / "bank"
    res = run.invoke(app, ["motions", "import", str(MOTIONS / "addbiomechanics" / "Expert1"), "--out", str(bank)])
    assert res.exit_code == 0, res.output
    recipe = yaml.safe_load((ROOT / "train" / "lift_bank_cpu.yaml").read_text())
    recipe["out"] = str(tmp_path / "run")
    recipe["data"].update(motion_bank=str(bank), bank_sequences=24, val_sequences=2)
    recipe["optim"].update(steps=30, ckpt_every=30, val_every=30, log_every=10, batch=32)
    recipe["temporal"].update(train_sequences=8, test_sequences=2, steps=5, batch=4, heads=["gru_causal"])
    cfg = tmp_path / "short.yaml"
    cfg.write_text(yaml.safe_dump(recipe))
    res = run.invoke(app, ["train", str(cfg)])
    assert res.exit_code == 0, res.output
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint_best.pt")
    assert ckpt["motion_bank_hash"] == load_manifest(bank)["bank_hash"]
    assert np.isfinite(ckpt["best"]["angle_mae_deg"]) and (tmp_path / "run" / "temporal_gru_causal.pt").is_file()


def test_bench_landmarks_runs_the_shipped_model_by_default(tmp_path, monkeypatch):
    """``bench landmarks`` with no --model: the default model's TFLite artefacts, frame by frame as infer runs them
    (per frame, its GRU head, each also with the fit, whose settings --fit-config gives), on a recorded motion
    through seeded cameras."""
    from typer.testing import CliRunner

    from d3ke_edge.cli import app
    from d3ke_edge.io.mot import MotionTable, write_mot
    from d3ke_edge.skeleton.builtin import builtin_skeleton

    skel = builtin_skeleton()
    t = np.arange(0, 1.5, 0.01)
    names = list(skel.coordinate_names)
    q = np.tile(skel.defaults, (len(t), 1))
    q[:, names.index("knee_angle_r")] = np.radians(30 - 30 * np.cos(2 * np.pi * t))
    q[:, names.index("elbow_flex_l")] = np.radians(40 + 30 * np.sin(2 * np.pi * t))
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "LICENSE").write_text("MIT License\n")
    write_mot(MotionTable(t, names, q), tmp_path / "lab" / "bend.mot", skel)
    import d3ke_edge.bench.landmarks as bench_landmarks
    from d3ke_edge.infer.config import FitConfig

    used = []  # the fit's settings as the bench hands them to infer's fit (--fit-config)
    real_fit = bench_landmarks.image_fit
    monkeypatch.setattr(bench_landmarks, "image_fit", lambda *a: used.append(a[-1]) or real_fit(*a))
    (tmp_path / "fit.yaml").write_text("iterations: 2\n")
    res = CliRunner().invoke(app, ["bench", "landmarks", "--motion", str(tmp_path / "lab" / "bend.mot"),
                                   "--sequences", "2", "--seconds", "1.0", "--out", str(tmp_path / "out"),
                                   "--fit-config", str(tmp_path / "fit.yaml")])
    assert res.exit_code == 0, res.output
    r = json.loads((tmp_path / "out" / "landmarks_bench.json").read_text())
    rows = r["motions"]["bend.mot"]["errors"]
    assert set(rows) == {"per-frame", "gru_causal", "per-frame + fit", "gru_causal + fit"}
    assert r["model"].endswith("default_model") and 0 < r["angle_mae_deg"] < 30, r["angle_mae_deg"]
    assert used == [FitConfig(iterations=2)] * 2 and r["fit_config"]["iterations"] == 2
    md = (tmp_path / "out" / "landmarks_bench.md").read_text()
    assert "The fit: iterations 2 (the rest at their defaults)." in md


def test_the_default_model_s_bank_is_rebuilt_from_the_shared_motion_capture(tmp_path):
    """The recipe's first step (export/default_model.sh: ``motions import ../shared/data/motions --reproduce`` the
    committed manifest) gives back the bank the default model was trained on — its hash, the card's — although the
    shared folder has grown since (CMU's ASF/AMC and the C3D trials, refused then, are read now)."""
    if not MOTIONS.is_dir():
        pytest.skip("the shared motion capture is absent (../shared/data/motions)")
    from typer.testing import CliRunner

    from d3ke_edge.cli import app

    manifest = ROOT / "benchmarks" / "results" / "motions" / "lift_bank_cpu" / "bank_manifest.json"
    assert f"--reproduce {manifest.relative_to(ROOT)}" in (ROOT / "export" / "default_model.sh").read_text()
    res = CliRunner().invoke(app, ["motions", "import", str(MOTIONS), "--out", str(tmp_path / "bank"),
                                   "--reproduce", str(manifest)])
    assert res.exit_code == 0, res.output
    rebuilt = json.loads((tmp_path / "bank" / "manifest.json").read_text())["bank_hash"]
    assert rebuilt == json.loads(manifest.read_text())["bank_hash"] == model_card()["motion_bank"]["hash"]
