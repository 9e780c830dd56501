"""The HTML report: built from the JSON results, rebuilt by `bench report`, checked in headless Chromium (every
plot decodes; a screenshot is saved), and the default phone artefact chosen by measurement."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from d3ke_edge.bench.report import build_report, phone_default


@pytest.fixture(scope="module")
def bench_dir(quickstart_out, tmp_path_factory):
    """The quickstart's robustness and latency results (measured once per session), copied to rebuild the report."""
    out = tmp_path_factory.mktemp("bench")
    for name in ("robustness.json", "latency.json"):
        shutil.copy(quickstart_out / "bench" / name, out / name)
    return out


def test_the_report_loads_in_chromium_with_every_plot(bench_dir, chromium, tmp_path):
    page = build_report(bench_dir)
    text = page.read_text()
    assert text.count("<img ") == 5 and "Default phone artefact" in text
    for png in ("severity", "groups", "flip", "latency", "pareto"):
        assert (bench_dir / "plots" / f"{png}.png").stat().st_size > 10_000
    exe = chromium
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=5000"]
    dom = subprocess.run([exe, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, dom.stderr[-2000:]
    assert 'data-plots="5"' in body.group(0) and 'data-loaded="5"' in body.group(0), body.group(0)
    shot = bench_dir / "report.png"
    subprocess.run([exe, *flags, "--window-size=1200,2600", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.stat().st_size > 50_000
    print(f"screenshot: {shot}")


def test_bench_report_rebuilds_the_page_and_the_phone_default_is_the_fastest_close_to_the_best(bench_dir):
    import json

    (bench_dir / "report.html").unlink(missing_ok=True)
    res = subprocess.run([sys.executable, "-c", "from d3ke_edge.cli import app; app()", "bench", "report",
                          str(bench_dir)], capture_output=True, text=True)
    assert res.returncode == 0 and (bench_dir / "report.html").read_text().count("<img ") == 5
    rob = json.loads((bench_dir / "robustness.json").read_text())
    lat = json.loads((bench_dir / "latency.json").read_text())
    pick = phone_default(rob, lat)
    cands = pick["candidates"]
    assert {Path(c["file"]).name for c in cands} == {"per_frame_fp32.tflite", "per_frame_int8.tflite"}
    best = min(c["clean_deg"] for c in cands), min(c["conditions_deg"] for c in cands)
    close = [c for c in cands if c["clean_deg"] <= best[0] + 0.5 and c["conditions_deg"] <= best[1] + 0.5]
    assert pick["file"] == min(close, key=lambda c: c["p50_ms"])["file"]
    assert json.loads((bench_dir / "phone_default.json").read_text())["file"] == pick["file"]
    # nothing to join: no default, and a folder without results is a named error
    assert phone_default(rob, None) is None
    empty = bench_dir / "empty"
    empty.mkdir()
    res = subprocess.run([sys.executable, "-c", "from d3ke_edge.cli import app; app()", "bench", "report", str(empty)],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "holds neither robustness.json nor latency.json" in res.stderr


def test_sweep_candidates_take_the_accuracy_of_a_trained_checkpoint_of_their_family():
    from d3ke_edge.bench.report import _sweep_joined

    rob = {"files": {"ckpt (PyTorch)": "/x/checkpoint_best.pt", "ckpt + gru (PyTorch)": "/x/checkpoint_best.pt:gru"},
           "architectures": {"ckpt (PyTorch)": {"arch": "d3ke_mnv3_small", "size": 64, "checkpoint": True},
                             "ckpt + gru (PyTorch)": {"arch": "d3ke_mnv3_small", "size": 64, "checkpoint": True}},
           "summary": {"ckpt (PyTorch)": {"clean_angle_mae_deg": 5.0, "corrupted_angle_mae_deg": 6.0}}}
    row = {"group": "sweep", "threads": 1, "p50_ms": 1.0, "precision": "int8", "runtime": "LiteRT", "file": "/c/a"}
    lat = {"config": {"threads": [1, 2]}, "rows": [
        {**row, "name": "d3ke_mnv3_small 64px", "model": "d3ke_mnv3_small", "size": 64},
        {**row, "name": "d3ke_mnv3_small 128px", "model": "d3ke_mnv3_small", "size": 128},  # no trained 128 px model
        {**row, "name": "d3ke_effnet_b0 64px", "model": "d3ke_effnet_b0", "size": 64}]}
    joined = _sweep_joined(rob, lat)
    assert [j["name"] for j in joined] == ["d3ke_mnv3_small 64px int8 (accuracy of ckpt (PyTorch))"]
    assert joined[0]["clean_deg"] == 5.0 and joined[0]["conditions_deg"] == 6.0
