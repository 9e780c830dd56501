"""The demo's server side without a browser: which artefacts it picks (and the named errors), config.json written from
the artefacts' metadata and the Python constants, only mapped files served with the isolation headers, and the
certificate authority a phone is told to trust."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest


def _fake_export(folder: Path, joint_parents: bool = True, input_name: str = "landmarks") -> Path:
    tfl = folder / "tflite"
    tfl.mkdir(parents=True)
    model = {"skeleton_name": "s", "skeleton_hash": "h", "coordinate_names": ["a"], "joint_names": ["j0", "j1"],
             "input": {"features": 135}}
    if joint_parents:
        model["joint_parents"] = [-1, 0]
    for name, art in (("per_frame_fp32", "per_frame"), ("step_gru_causal", "step"), ("step_tcn_causal", "step")):
        (tfl / f"{name}.tflite").write_bytes(b"tflite " + name.encode())
        meta = {"artefact": art, "model": model, "inputs": [{"name": input_name if art == "per_frame" else "params"}],
                "outputs": [{"name": "params"}], "head": name.removeprefix("step_"), "state": []}
        (tfl / f"{name}.json").write_text(json.dumps(meta))
    return folder


def test_the_demo_picks_the_export_s_artefacts_and_names_what_it_cannot_run(tmp_path):
    from d3ke_edge.demo.config import DemoError, pick_models

    export = _fake_export(tmp_path / "ok")
    m = pick_models(export)
    assert m.per_frame.name == "per_frame_fp32.tflite" and m.step.name == "step_gru_causal.tflite"  # auto: GRU first
    assert pick_models(export, head="tcn_causal").step.name == "step_tcn_causal.tflite"
    assert pick_models(export / "tflite", head="none").step is None
    with pytest.raises(DemoError, match="no per_frame_int8.tflite .* it has per_frame_fp32.tflite"):
        pick_models(export, precision="int8")
    with pytest.raises(DemoError, match="no causal head 'lstm'"):
        pick_models(export, head="lstm")
    with pytest.raises(DemoError, match="joint tree .* export it again"):
        pick_models(_fake_export(tmp_path / "old", joint_parents=False))


def test_config_json_carries_the_python_constants_and_the_metadata(tmp_path):
    from d3ke_edge.data.camera import ENGINE_MARGIN
    from d3ke_edge.demo.config import demo_config, pick_models
    from d3ke_edge.video import detector, tracker
    from d3ke_edge.video.crop import BOX_PER_EXTENT

    m = pick_models(_fake_export(tmp_path / "e"))
    urls = {str(m.per_frame): "models/export/a.tflite", str(m.step): "models/export/b.tflite"}
    cfg = demo_config(m, {"detector": "d", "landmark": "l"}, "wasm/", urls)
    bp = cfg["blazepose"]
    assert bp["anchors"]["strides"] == list(detector.ANCHOR_OPTIONS["strides"])
    assert bp["mirror_order"] == tracker.mirror_order().tolist() and bp["min_pose"] == tracker.MIN_POSE
    assert cfg["crop"]["engine_margin"] == pytest.approx(np.mean(ENGINE_MARGIN))
    assert cfg["crop"]["box_per_extent"] == BOX_PER_EXTENT
    assert cfg["per_frame"]["meta"]["model"]["joint_parents"] == [-1, 0] and cfg["step"]["url"] == "models/export/b.tflite"
    from d3ke_edge.infer.config import InferConfig
    from d3ke_edge.infer.sides import HOLD_S, KEEP_RATIO, MAX_GAP_S, MIN_FLIP_DEG

    assert cfg["sides"] == {"max_turn_deg_s": InferConfig.max_turn_deg_s, "keep_ratio": KEEP_RATIO,
                            "min_flip_deg": MIN_FLIP_DEG, "hold_s": HOLD_S, "max_gap_s": MAX_GAP_S}


def test_every_module_of_the_app_is_served_and_cached_for_offline_use():
    """The server's file list and the service worker's offline shell name the same files, and every module under
    android_demo/src is in both (a module missing from either is a 404 or an app that breaks offline)."""
    import re

    from d3ke_edge.demo.server import APP_DIR, APP_FILES

    shell = re.search(r"const SHELL = \[(.*?)\];", (APP_DIR / "sw.js").read_text(), re.DOTALL).group(1)
    cached = set(re.findall(r"'([^']+)'", shell)) - {"./"}
    assert cached == set(APP_FILES) - {"sw.js"}
    modules = {f"src/{f.name}" for f in (APP_DIR / "src").glob("*.js")}
    assert modules <= set(APP_FILES) and "src/sides.js" in modules


def test_the_server_serves_only_its_files_with_isolation_headers_over_its_own_https(tmp_path, demo_node_modules):
    from d3ke_edge.demo.certs import ensure_certificates
    from d3ke_edge.demo.config import pick_models
    from d3ke_edge.demo.server import DemoServer, build_routes

    m = pick_models(_fake_export(tmp_path / "e"))
    det, lmk = tmp_path / "det.tflite", tmp_path / "lmk.tflite"
    det.write_bytes(b"d")
    lmk.write_bytes(b"l")
    certs = ensure_certificates(tmp_path / "certs", ["localhost", "127.0.0.1"])
    routes = build_routes(m, {"pose_detection.tflite": det, "pose_landmark_full.tflite": lmk}, ca=certs.ca)
    server = DemoServer(routes, "127.0.0.1", 0, certs).start()
    ctx = ssl.create_default_context(cafile=str(certs.ca))  # trusting the demo's authority is enough
    try:
        base = f"https://localhost:{server.port}"
        with urllib.request.urlopen(base + "/", context=ctx) as r:
            assert r.headers["Content-Type"].startswith("text/html")
            assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert r.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        wasm = next(u for u in routes if u.endswith(".wasm"))
        with urllib.request.urlopen(base + wasm, context=ctx) as r:
            assert r.headers["Content-Type"] == "application/wasm"
        with urllib.request.urlopen(base + "/config.json?x=1", context=ctx) as r:
            cfg = json.loads(r.read())
        assert cfg["per_frame"]["url"] == "models/export/per_frame_fp32.tflite" and len(cfg["version"]) == 12
        with urllib.request.urlopen(base + "/models/export/per_frame_fp32.tflite", context=ctx) as r:
            assert r.read() == b"tflite per_frame_fp32"
        with urllib.request.urlopen(base + "/ca.crt", context=ctx) as r:
            assert r.read() == certs.ca.read_bytes()
        for bad in ("/../pyproject.toml", "/etc/passwd", "/src/../../README.md", "/node_modules/x"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(base + bad, context=ctx)
            assert err.value.code == 404
        with pytest.raises(urllib.error.URLError):  # without the authority the certificate is not trusted
            urllib.request.urlopen(base + "/", context=ssl.create_default_context())
    finally:
        server.stop()
    again = ensure_certificates(tmp_path / "certs", ["localhost", "127.0.0.1"])
    assert again.fingerprint == certs.fingerprint and again.cert.read_bytes() == certs.cert.read_bytes()
    before = certs.cert.read_bytes()
    more = ensure_certificates(tmp_path / "certs", ["localhost", "127.0.0.1", "10.1.2.3"])  # a new address
    assert more.fingerprint == certs.fingerprint and more.cert.read_bytes() != before  # same authority, new cert


def test_demo_serve_names_a_wrong_folder(tmp_path):
    from typer.testing import CliRunner

    from d3ke_edge.cli import app

    res = CliRunner().invoke(app, ["demo", "serve", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "is not a folder" in res.output
    res = CliRunner().invoke(app, ["demo", "serve", str(_fake_export(tmp_path / "old", joint_parents=False))])
    assert res.exit_code == 2 and "export it again" in res.output
