"""Training: losses, the LR schedule, distillation, and exact resume after SIGKILL on a tiny CPU run."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from d3ke_edge.models import get_model
from d3ke_edge.train.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from d3ke_edge.train.config import LossConfig, OptimConfig, load_config
from d3ke_edge.train.loop import lr_at
from d3ke_edge.train.losses import acceleration_error_mm, acceleration_loss, d3ke_loss, mean_pose_metrics, metrics

TINY = """
out: {out}
model: {{name: d3ke_mnv3_small, input_size: 64}}
data: {{source: synth, sequence_seconds: 0.3, pool: 2, sequences_per_step: 0.5, workers: 0, val_sequences: 1}}
optim: {{steps: {steps}, batch: 4, lr: 1.0e-3, lr_end: 1.0e-4, ckpt_every: {every}, val_every: 5, log_every: 5,
        seed: 0{teacher}}}
"""


def _cfg(tmp: Path, name: str, steps: int = 30, every: int = 5, teacher: str = "") -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(TINY.format(out=tmp / name, steps=steps, every=every, teacher=teacher))
    return path


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from d3ke_edge.cli import app; app()", *args]


def _target(model, n=3):
    with torch.no_grad():
        return model(torch.rand(n, 3, 64, 64))


def test_loss_is_zero_on_its_own_target_and_ignores_unlabelled():
    model = get_model("d3ke_mnv3_small", input_size=64).eval()
    t = _target(model)
    t = {**t, "coordinates_valid": torch.ones_like(t["coordinates"], dtype=torch.bool)}
    loss, terms = d3ke_loss(t, t, model.space, LossConfig())
    assert float(loss) == 0.0 and set(terms) == {"marker", "joint", "scale", "angle"}
    # an untrained backbone is input-independent (stack.md), so a second forward pass would not differ: perturb
    other = {k: v + 0.05 if v.is_floating_point() else v for k, v in t.items()}
    noisy = {**t, "markers_rel": t["markers_rel"].clone()}
    noisy["markers_rel"][:, 5] = float("nan")  # unlabelled marker
    l1, _ = d3ke_loss(other, noisy, model.space, LossConfig())
    assert math.isfinite(float(l1))
    m = metrics(other, t, model.space)
    assert m["angle_mae_deg"] > 0 and m["marker_mpjpe_mm"] > 0
    assert mean_pose_metrics(t, model.space)["angle_mae_deg"] > 0


def test_acceleration_loss_measures_jitter_not_offsets():
    torch.manual_seed(0)
    t = torch.linspace(0, 1, 12)
    smooth = torch.stack([t, t**2, torch.sin(t)], -1)[None, :, None, :].expand(2, 12, 5, 3).clone()  # (B, T, N, 3)
    assert float(acceleration_loss(smooth + 0.3, smooth)) == pytest.approx(0.0, abs=1e-6)  # constant offset: no cost
    jitter = smooth + 0.01 * torch.randn_like(smooth)
    value = float(acceleration_loss(jitter, smooth))
    assert value > 0.005
    hidden = smooth.clone()
    hidden[:, :, 2] = float("nan")  # an unlabelled marker is masked, not propagated
    assert math.isfinite(float(acceleration_loss(jitter, hidden)))
    assert acceleration_error_mm(jitter, smooth) > acceleration_error_mm(smooth + 0.3, smooth)


def test_distillation_term():
    model = get_model("d3ke_mnv3_small", input_size=64).eval()
    pred, target, teacher = _target(model), _target(model), _target(model)
    target["coordinates_valid"] = torch.ones_like(target["coordinates"], dtype=torch.bool)
    plain, _ = d3ke_loss(pred, target, model.space, LossConfig())
    both, terms = d3ke_loss(pred, target, model.space, LossConfig(teacher=0.5), teacher)
    assert terms["teacher"] > 0 and float(both) == pytest.approx(float(plain) + 0.5 * terms["teacher"], rel=1e-5)


def test_lr_schedule_follows_d3ke():
    o = OptimConfig(steps=300, lr=5e-4, lr_end=3.33e-5, lr_tail=(3.33e-6, 1e-6))
    assert lr_at(0, o) == pytest.approx(5e-4)
    assert lr_at(279, o) == pytest.approx(3.33e-5, rel=0.02)
    assert lr_at(280, o) == pytest.approx(3.33e-6)
    assert lr_at(299, o) == pytest.approx(1e-6, rel=0.1)


def test_config_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {name: d3ke_mnv3_small, widht: 3}\n")
    with pytest.raises(ValueError, match="unknown keys"):
        load_config(bad)
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "none.yaml")


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_cli("train", str(_cfg(tmp_path, "a"))), check=True, env=env, capture_output=True)
    proc = subprocess.Popen(_cli("train", str(_cfg(tmp_path, "b"))), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    last = tmp_path / "b" / "checkpoint_last.pt"
    killed_at = None
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if last.is_file() and load_checkpoint(last)["step"] >= 10:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed_at = load_checkpoint(last)["step"]
            break
        time.sleep(0.05)
    assert killed_at is not None and killed_at < 30, "the run must be killed part-way"
    res = subprocess.run(_cli("train", str(_cfg(tmp_path, "b")), "--resume"), env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    a = load_checkpoint(tmp_path / "a" / "checkpoint_last.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoint_last.pt")
    assert a["step"] == b["step"] == 30
    for k, v in a["model"].items():
        torch.testing.assert_close(b["model"][k], v, atol=1e-6, rtol=0, msg=k)
    assert model_from_checkpoint(b).space.dim == get_model("d3ke_mnv3_small", input_size=64).space.dim


def test_teacher_run_and_bad_checkpoints(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(_cli("train", str(_cfg(tmp_path, "t", steps=2, every=2))), check=True, env=env, capture_output=True)
    teacher = tmp_path / "t" / "checkpoint_last.pt"
    res = subprocess.run(_cli("train", str(_cfg(tmp_path, "s", steps=2, every=2, teacher=f", teacher: {teacher}"))),
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    log = (tmp_path / "s" / "train_log.csv").read_text()
    assert "teacher" in log.splitlines()[0]
    junk = tmp_path / "junk.pt"
    torch.save({"weights": 1}, junk)
    with pytest.raises(CheckpointError, match="not a d3ke-edge checkpoint"):
        load_checkpoint(junk)
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path / "text.pt")


def test_torchrun_ddp_two_processes_on_cpu(tmp_path):
    """The multi-GPU path (DistributedDataParallel via torchrun) exercised with gloo on two CPU processes."""
    import json

    cli = os.path.join(os.path.dirname(sys.executable), "d3ke-edge")
    cfg = _cfg(tmp_path, "ddp", steps=2, every=2)
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", cli, "train", str(cfg)],
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["world"] == 2 and summary["best"]["step"] == 2
    assert load_checkpoint(tmp_path / "ddp" / "checkpoint_last.pt")["step"] == 2


def test_end_to_end_trains_backbone_and_head_jointly(tmp_path):
    from dataclasses import replace

    from d3ke_edge.train.config import TemporalConfig
    from d3ke_edge.train.end_to_end import train_end_to_end

    exp = load_config(_cfg(tmp_path, "e2e", steps=1, every=1))
    exp = replace(exp, temporal=TemporalConfig(heads=("gru_causal",), steps=2, batch=2, clip=4, width=16),
                  data=replace(exp.data, sequence_seconds=0.3, pool=2))
    from d3ke_edge.train.checkpoint import save_checkpoint

    start = get_model("d3ke_mnv3_small", input_size=64)
    init = save_checkpoint(tmp_path / "init.pt", kind="per_frame", model_name="d3ke_mnv3_small",
                           model_kwargs={"input_size": 64}, model=start.state_dict())
    summary = train_end_to_end(exp, init)
    assert summary["steps"] == 2 and all(math.isfinite(r["loss"]) for r in summary["log"])
    ck = load_checkpoint(tmp_path / "e2e" / "end_to_end.pt")
    assert ck["kind"] == "end_to_end" and ck["head_name"] == "gru_causal" and ck["state_shapes"] == [[1, 16]]
    head = get_model(ck["head_name"], **ck["head_kwargs"])
    head.load_state_dict(ck["head"])
    model = model_from_checkpoint(ck)
    before = start.state_dict()
    moved = [k for k, v in ck["model"].items() if k.startswith("backbone.") and k.endswith("weight")
             and not torch.equal(v, before[k])]
    assert len(moved) > 10  # the backbone was updated by the joint loss
    assert any(not torch.equal(v, torch.zeros_like(v)) for k, v in ck["head"].items() if k.startswith("out."))
    assert model.space.dim == head.dim


def test_the_gpu_check_script_returns_a_model_that_loads(tmp_path):
    """benchmarks/gpu_lift_bank.py (the device check of the landmark GPU recipe), its smoke sizes on the CPU, on the
    recipe without its motion bank (absent in a fresh clone): the report holds the three parts; the returned files
    fit what the device machine sends back (<= 8, each <= 16 MB, 64 MB in all) and the parts, joined, are the run's
    best model without its optimiser state — the same outputs."""
    import json

    import numpy as np
    import yaml

    from d3ke_edge.infer.model import open_model

    root = Path(__file__).resolve().parents[1]
    recipe = yaml.safe_load((root / "train" / "lift_bank_gpu.yaml").read_text())
    recipe["data"].pop("motion_bank")
    recipe["data"]["motion_bank_weight"] = 0.0
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    out, run = tmp_path / "out", tmp_path / "run"
    subprocess.run([sys.executable, str(root / "benchmarks" / "gpu_lift_bank.py"), "--out", str(out), "--run", str(run),
                    "--recipe", str(tmp_path / "recipe.yaml"), "--smoke"], check=True, capture_output=True, cwd=root)
    report = json.loads((out / "gpu_lift_bank.json").read_text())
    assert report["step"]["steps_per_s"] > 0 and report["data"]["batches_per_s_per_process"] > 0
    assert report["train"]["steps"] >= 20 and report["train"]["recipe_steps"] == recipe["optim"]["steps"]
    files = sorted(out.iterdir())
    assert len(files) <= 8 and max(f.stat().st_size for f in files) <= 16 * 2**20
    assert sum(f.stat().st_size for f in files) <= 64 * 2**20
    parts = sorted(out.glob("checkpoint_best.pt.part*"))
    assert [p.name for p in parts] == report["checkpoint_parts"]
    (tmp_path / "joined.pt").write_bytes(b"".join(p.read_bytes() for p in parts))
    assert "optimizer" not in load_checkpoint(tmp_path / "joined.pt")
    x = np.random.default_rng(0).normal(size=(1, 135)).astype(np.float32)
    a = open_model(tmp_path / "joined.pt", head="none").run_frame(x)
    b = open_model(run / "checkpoint_best.pt", head="none").run_frame(x)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
