"""The latency benchmark: rows, ratios to the server baseline measured in the same run, the video path, the sweep
cache, the int8 graph XNNPACK runs whole, and bad inputs. No timing thresholds: only consistency."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from d3ke_edge.bench.latency import Candidate, LatencyConfig, candidates_from, run_latency, server_candidates
from d3ke_edge.export.sweep import sweep_artefact


def _cli(*args):
    return subprocess.run([sys.executable, "-c", "from d3ke_edge.cli import app; app()", *args],
                          capture_output=True, text=True)


def test_latency_rows_ratios_and_the_video_path(quickstart_out):
    """The quickstart's latency report (measured once per session by the quickstart fixture): every row consistent,
    ratios to the server baseline measured in the same run, step models alone, the video path per stage."""
    res = json.loads((quickstart_out / "bench" / "latency.json").read_text())
    rows = res["rows"]
    assert not [r for r in rows if "error" in r], [r["error"] for r in rows if "error" in r]
    server = next(r for r in rows if r["group"] == "server" and r["kind"] == "torch")
    assert server["vs_server"] == 1.0 and server["runtime"] == "PyTorch eager (CPU)" and server["size"] == 256
    for r in rows:
        assert 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"], r["name"]
        assert r["vs_server"] == pytest.approx(r["p50_ms"] / server["p50_ms"])
        assert r["rss_peak_mb"] > 0 and r["fps"] == pytest.approx(1e3 / r["mean_ms"])
        if r["file"] and r["group"] == "user":
            path = quickstart_out / "export" / r["name"]
            if path.is_file():
                assert r["file_mb"] == pytest.approx(path.stat().st_size / 1e6)
    names = {r["name"] for r in rows if r["group"] == "user"}
    assert {"tflite/per_frame_fp32.tflite", "tflite/per_frame_int8.tflite", "tflite/step_gru_causal.tflite",
            "onnx/per_frame_int8.onnx", "torchscript/step_tcn_causal.pt"} <= names
    assert any(r["model"] == "transformer_centre243" for r in rows)  # the server's 243-frame head
    assert next(r for r in rows if r["group"] == "sweep")["runtime"].startswith("ai-edge-litert")
    video = [r for r in rows if r["group"] == "pipeline"]
    assert len(video) == 2  # each per-frame LiteRT artefact with the step model of its folder
    for r in video:
        s = r["stages_ms"]
        assert s["model"] > 0 and s["step"] > 0 and s["decode"] > 0
        assert s["decode"] + s["crop"] + s["model"] + s["step"] <= 1.5 * s["total"]
    assert "Measured on" in (quickstart_out / "bench" / "latency.md").read_text()


def test_a_latency_run_and_the_sweep_cache(quickstart_out, tmp_path):
    """A small run of its own: a step artefact and the sweep model the quickstart converted (asking for it again
    converts nothing: the cache)."""
    cfg = LatencyConfig(threads=(1,), iters=5, warmup=1, min_seconds=0.0, server=False, sweep_models=())
    cache = quickstart_out / "bench" / "cache" / "sweep"
    before = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    edge = sweep_artefact("d3ke_mnv3_small", 192, "tflite_fp32", cache)
    assert edge.name in before and {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == before
    cands = candidates_from(quickstart_out / "export" / "tflite" / "step_gru_causal.tflite")
    cands.append(Candidate("d3ke_mnv3_small 192px", "sweep", {"kind": "artefact", "path": str(edge)}, "fp32", 192,
                           "d3ke_mnv3_small", str(edge)))
    rows = run_latency(cands, cfg, tmp_path)["rows"]
    assert [r["model"] for r in rows] == ["step gru_causal", "d3ke_mnv3_small"]
    assert all(r["p50_ms"] > 0 and "vs_server" not in r for r in rows)  # no server in this run: no ratio
    assert json.loads((tmp_path / "latency.json").read_text())["rows"] == rows


def test_the_int8_tflite_graph_keeps_hard_swish_in_float(quickstart_out):
    """XNNPACK has no int8 hard-swish: int8 HARD_SWISH ops ran on the reference kernel between delegate partitions
    (int8 2x slower than fp32). The export keeps every hard-swish in float, inside one XNNPACK partition."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(str(quickstart_out / "export" / "tflite" / "per_frame_int8.tflite"))
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    ops = it._get_ops_details()
    hswish = [o for o in ops if o["op_name"] == "HARD_SWISH"]
    assert hswish and all(tensors[o["inputs"][0]]["dtype"].__name__ == "float32" for o in hswish)
    assert any(o["op_name"] == "CONV_2D" and tensors[o["inputs"][0]]["dtype"].__name__ == "int8" for o in ops)


def test_bad_latency_inputs_exit_with_a_named_error(tmp_path):
    out = tmp_path / "lat"
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model")
    res = _cli("bench", "latency", "--model", str(junk), "--sweep", "none", "--no-server", "--out", str(out))
    assert res.returncode == 2 and "junk.tflite" in res.stderr and not (out / "latency.json").exists()
    res = _cli("bench", "latency", "--sweep", "d3ke_tiny", "--out", str(out))
    assert res.returncode == 2 and "unknown sweep model(s) ['d3ke_tiny']; choose from" in res.stderr
    assert "d3ke_mnv3_small" in res.stderr
    res = _cli("bench", "latency", "--sweep", "none", "--no-server", "--out", str(out))
    assert res.returncode == 2 and "nothing to time" in res.stderr


def test_a_benchmark_model_log_from_a_phone_is_read_back():
    """The Android script's parser, on a log in the format LiteRT's benchmark_model prints."""
    from d3ke_edge.bench.phone import parse_benchmark_model

    log = """INFO: Num threads: [1]
INFO: Loaded model /data/local/tmp/d3ke_edge/per_frame_int8.tflite
INFO: count=45 first=4120 curr=2210 min=2170 max=4120 avg=2290 std=290
INFO: count=100 first=2230 curr=2190 min=2150 max=2600 avg=2220.5 std=60 p5=2160 median=2200 p95=2400
INFO: Inference timings in us: Init: 35120, First inference: 4120, Warmup (avg): 2290, Inference (avg): 2220.5
INFO: Peak memory footprint (MB): init=4.2 overall=9.8
============================== Summary by node type ==============================
\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]
\t   TfLiteXNNPackDelegate\t        1\t     1.820\t    82.000%\t    82.000%\t     0.000\t        1
\t              BATCH_MATMUL\t       77\t     0.250\t    11.300%\t    93.300%\t     0.000\t       77

Timings (microseconds): count=100 first=2230
"""
    row = parse_benchmark_model(log)
    assert row["load_s"] == pytest.approx(0.03512) and row["first_ms"] == pytest.approx(4.12)
    assert row["mean_ms"] == pytest.approx(2.2205) and row["p50_ms"] == pytest.approx(2.2)
    assert row["p95_ms"] == pytest.approx(2.4) and row["rss_peak_mb"] == pytest.approx(9.8)
    assert row["op_profile"] == {"TfLiteXNNPackDelegate": {"count": 1, "avg_ms": 1.82, "percent": 82.0},
                                 "BATCH_MATMUL": {"count": 77, "avg_ms": 0.25, "percent": 11.3}}
    with pytest.raises(ValueError, match="did not finish"):
        parse_benchmark_model("ERROR: Failed to load model")


def test_the_server_baseline_on_cuda_batch_1_and_64(tmp_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (the server baseline's GPU rows)")
    cfg = LatencyConfig(threads=(1,), iters=5, warmup=2, server_size=64, server_onnx=False, sweep_models=())
    cands = [c for c in server_candidates(cfg, tmp_path) if c.spec.get("device") == "cuda"]
    assert {(c.precision, c.spec.get("batch")) for c in cands if c.spec["kind"] == "torch"} == {
        ("fp32", 1), ("fp32", 64), ("bf16", 1), ("bf16", 64)}
    rows = run_latency(cands, cfg, tmp_path)["rows"]
    assert not [r for r in rows if "error" in r]
    b64 = next(r for r in rows if r["batch"] == 64 and r["precision"] == "fp32")
    assert b64["fps"] == pytest.approx(64e3 / b64["mean_ms"])
