"""CLI smoke tests (--help everywhere) and the quickstart contract."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from d3ke_edge.cli import app


@pytest.mark.parametrize("args", [[], ["skeleton"], ["skeleton", "check"], ["skeleton", "mirror"],
                                  ["skeleton", "builtin"], ["synth"], ["synth", "preview"], ["train"],
                                  ["quickstart"], ["bench"], ["bench", "robustness"], ["verify"], ["export"]])
def test_help(args):
    res = CliRunner().invoke(app, [*args, "--help"])
    assert res.exit_code == 0
    assert "Usage" in res.stdout


def test_builtin_writes_osim(tmp_path):
    out = tmp_path / "m.osim"
    res = CliRunner().invoke(app, ["skeleton", "builtin", "--out", str(out)])
    assert res.exit_code == 0 and out.is_file() and "40 coordinates" in res.stdout


def test_quickstart_summary(quickstart_run):
    tmp_path, res = quickstart_run
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    sk, mo = summary["skeleton"], summary["motion"]
    assert sk["opensim_check_passed"] and sk["max_marker_err_m"] < 1e-10 and sk["mirror_max_err_m"] < 1e-6
    assert sk["coordinates"] == 40 and sk["markers"] >= 40
    assert mo["opensim_mot_roundtrip_max_err"] < 1e-8 and mo["opensim_trc_roundtrip_max_err_m"] < 1e-8
    for key in ("mot", "trc", "preview_png"):
        assert (tmp_path / "motion").joinpath(mo[key].rsplit("/", 1)[-1]).is_file()
    sy = summary["synth"]
    assert sy["frames"] == 720 and sy["splits"] == {"train": 4, "val": 1, "test": 1}
    assert (tmp_path / "synth_preview" / "preview.png").is_file() and (tmp_path / "synth_preview" / "preview.mp4").is_file()
    # The CPU quickstart model learns: clearly below the mean-pose baseline (its time is a benchmark, not a test).
    for key in ("val_angle_mae_deg", "mean_pose_angle_mae_deg", "val_marker_mpjpe_mm", "train_seconds"):
        assert key in summary
    assert summary["val_angle_mae_deg"] < 0.85 * summary["mean_pose_angle_mae_deg"]
    assert summary["val_marker_mpjpe_mm"] < summary["train"]["mean_pose_marker_mpjpe_mm"]
    assert set(summary["train"]["temporal"]) == {"tcn_causal", "gru_causal"}
    # ... and its export to every target passes parity through the real runtimes at the default bounds
    ex = summary["export"]
    assert ex["all_pass"] and ex["artefacts"] == 4 * (2 + 2) + 1  # per target: per-frame fp32/int8 + 2 heads; fp16
    assert ex["fp32_all_pass"] and ex["max_fp32_ratio_to_bound"] <= 1.0 and ex["max_streaming_abs_diff"] <= 1e-4
    assert ex["passed"] == ex["artefacts"] and set(ex["status"].values()) == {"pass"}
    assert isinstance(ex["int8_float_blocks"], list)
    rows = json.loads((tmp_path / "export" / "parity.json").read_text())
    assert {(r["target"], r["precision"]) for r in rows} >= {(t, p) for t in ("tflite", "coreml", "torchscript", "onnx")
                                                            for p in ("fp32", "int8")}
    assert all(r["pass"] for r in rows) and all(r["angle_mae_delta_deg"] <= 1.0 for r in rows)
    assert (tmp_path / "export" / "fp16" / "coreml" / "per_frame_fp16.mlpackage").is_dir()
    # ... and the benchmark stage: a robustness and latency report, and the default phone artefact by measurement
    bench = summary["bench"]
    assert (tmp_path / "bench" / "report.html").read_text().count("<img ") == 5
    assert bench["server_p50_ms"] > 0 and bench["phone_default"].startswith(("tflite/", "onnx/", "coreml/"))
    pick = json.loads((tmp_path / "export" / "phone_default.json").read_text())
    assert (tmp_path / "export" / pick["artefact"]).exists() and "within 0.5 deg of the best" in pick["rule"]
    rob = json.loads((tmp_path / "bench" / "robustness.json").read_text())
    assert len(rob["models"]) == 4 and {k.split("/")[0] for k in next(iter(rob["models"].values()))} == {
        "clean", "hflip", "resize", "crop", "brightness", "contrast", "hflip_unmirrored"}


def test_quickstart_terminal_shows_our_output_and_logs_the_rest(quickstart_run):
    """Third-party progress bars, banners and warnings go to OUT/quickstart.log, not the newcomer's terminal."""
    out, res = quickstart_run
    if res.stdout == "(reused)":
        pytest.skip("D3KE_QUICKSTART_DIR: a reused quickstart folder has no captured terminal output")
    terminal = res.stdout + res.stderr
    for noise in ("LiteRT-Torch Convert", "Running Calibration", "Converting PyTorch Frontend", "WARNING:",
                  "absl::InitializeLog", "XNNPACK delegate", "TracerWarning", "FutureWarning"):
        assert noise not in terminal, noise
    assert "quickstart.log" in terminal and "parity with PyTorch fp32" in terminal
    assert "Robustness (baseline for mCE" in terminal and "Latency, measured on" in terminal
    log = (out / "quickstart.log").read_text()
    assert "LiteRT-Torch Convert" in log and "Converting PyTorch Frontend" in log
