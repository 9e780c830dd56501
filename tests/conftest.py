from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
POSE2SIM = SHARED / "data" / "pose2sim"
sys.path.insert(0, str(Path(__file__).parent))  # the zoo model helper


@pytest.fixture(scope="session")
def pose2sim_model() -> Path:
    path = POSE2SIM / "Model_Pose2Sim_simple.osim"
    if not path.is_file():
        pytest.skip(f"shared data not present ({path}); the Pose2Sim model comes from ../shared")
    return path


@pytest.fixture(scope="session")
def pose2sim_markers(pose2sim_model: Path) -> Path:
    return pose2sim_model.parent / "Markers_LSTM.xml"


@pytest.fixture(scope="session")
def builtin():
    from d3ke_edge.skeleton.builtin import builtin_skeleton

    return builtin_skeleton()


@pytest.fixture(scope="session")
def builtin_osim(builtin, tmp_path_factory) -> Path:
    from d3ke_edge.skeleton.osim_write import write_osim

    return write_osim(builtin, tmp_path_factory.mktemp("builtin") / "builtin.osim")


@pytest.fixture(scope="session")
def zoo_osim(tmp_path_factory) -> Path:
    from zoo import zoo_skeleton

    from d3ke_edge.skeleton.osim_write import write_osim

    return write_osim(zoo_skeleton(), tmp_path_factory.mktemp("zoo") / "zoo.osim")


def _needs_quickstart(item: pytest.Item) -> bool:
    return "quickstart_run" in getattr(item, "fixturenames", ())


_QUICKSTART: dict = {}  # the background quickstart: process, folder, log files


@pytest.hookimpl(trylast=True)  # after -k / -m deselection: only a session that runs such a test starts it
def pytest_collection_modifyitems(session, config, items) -> None:
    """Tests of the trained model run last, and the README's main command starts now in a background process: the
    other tests (mostly one core) run at a lower priority while it trains and exports (the session's largest cost)."""
    items.sort(key=_needs_quickstart)  # stable: files and tests keep their order within each group
    if not any(_needs_quickstart(i) for i in items) or os.environ.get("D3KE_QUICKSTART_DIR"):
        return
    out = Path(tempfile.mkdtemp(prefix="d3ke_quickstart_"))
    logs = [open(out.parent / f"{out.name}.{k}.log", "w+") for k in ("stdout", "stderr")]
    cli = [sys.executable, "-c", "from d3ke_edge.cli import app; app()"]
    proc = subprocess.Popen([*cli, "quickstart", "--out", str(out / "run")], stdout=logs[0], stderr=logs[1],
                            stdin=subprocess.DEVNULL)
    _QUICKSTART.update(proc=proc, out=out, logs=logs)
    # the other tests yield to it: on a 2-core machine they then fill the cores its single-threaded export stages leave
    # idle instead of slowing its two-threaded training (measured without this: the quickstart 15 -> 20.5 min)
    os.nice(10)


def pytest_unconfigure(config) -> None:
    proc = _QUICKSTART.get("proc")
    if proc is None:
        return
    if proc.poll() is None:  # interrupted: do not leave a training process behind
        proc.kill()
        proc.wait()
    for f in _QUICKSTART["logs"]:
        f.close()
        Path(f.name).unlink(missing_ok=True)
    shutil.rmtree(_QUICKSTART["out"], ignore_errors=True)


@pytest.fixture(scope="session")
def quickstart_run():
    """The README's main command, run once per test session in a background subprocess started at collection (train
    + export are the slow part of the suite; every test of the trained model and its export reads this run).
    ``D3KE_QUICKSTART_DIR``: a developer's finished quickstart folder, used instead."""
    reuse = os.environ.get("D3KE_QUICKSTART_DIR")
    if reuse:
        return Path(reuse), subprocess.CompletedProcess([], 0, "(reused)", "")
    proc = _QUICKSTART["proc"]
    code = proc.wait()
    text = []
    for f in _QUICKSTART["logs"]:
        f.flush()
        f.seek(0)
        text.append(f.read())
    return _QUICKSTART["out"] / "run", subprocess.CompletedProcess(proc.args, code, *text)


@pytest.fixture(scope="session")
def quickstart_out(quickstart_run) -> Path:
    out, res = quickstart_run
    if not (out / "train" / "checkpoint_best.pt").is_file():
        pytest.fail(f"the quickstart did not train a model (exit {res.returncode}):\n{res.stderr[-3000:]}")
    return out


@pytest.fixture(scope="session")
def blazepose():
    """BlazePose's models in the user cache (downloaded once per machine); skips when offline with no cache."""
    from d3ke_edge.video.models import ModelFetchError, fetch_models

    try:
        return fetch_models()
    except ModelFetchError as exc:
        pytest.skip(f"BlazePose models unavailable: {exc}")


@pytest.fixture(scope="session")
def pose2sim_reference(blazepose, tmp_path_factory):
    """``d3ke-edge reference`` on the Pose2Sim 4-camera trial of ../shared with the defaults (everyone: the one
    subject is ``person0``), once per session: (the subject's reference folder, the CLI result)."""
    from typer.testing import CliRunner

    from d3ke_edge.cli import app

    trial = POSE2SIM / "videos"
    videos = [trial / f"cam0{i}.mp4" for i in range(1, 5)]
    if not all(v.is_file() for v in videos):
        pytest.skip(f"the Pose2Sim trial is absent ({trial}, ../shared)")
    out = tmp_path_factory.mktemp("reference") / "ref"
    # a relative --out, as a user types it (OpenSim's tools once resolved their setup file from another folder)
    args = ["reference", *sum([["--videos", str(v)] for v in videos], []), "--calib", str(trial / "Calib.qca.txt"),
            "--out", "ref"]
    here = os.getcwd()
    os.chdir(out.parent)
    try:
        return out / "person0", CliRunner().invoke(app, args)
    finally:
        os.chdir(here)


@pytest.fixture(scope="session")
def tiny_world_lift(tmp_path_factory) -> Path:
    """A landmark model with world landmarks trained for 40 steps (seconds; for the plumbing, not for accuracy):
    its checkpoint. Independent of the quickstart, so its tests run while the quickstart trains."""
    import dataclasses

    from d3ke_edge.cli.quickstart import LIFT_CONFIG
    from d3ke_edge.train.config import ModelConfig, load_config
    from d3ke_edge.train.loop import train

    out = tmp_path_factory.mktemp("tiny_world_lift")
    exp = load_config(LIFT_CONFIG, out=str(out))
    exp = dataclasses.replace(
        exp, model=ModelConfig(name="d3ke_lift_mlp", world_landmarks=True), temporal=None,
        data=dataclasses.replace(exp.data, bank_sequences=8, val_sequences=8, workers=0),
        optim=dataclasses.replace(exp.optim, steps=40, ckpt_every=40, val_every=40, log_every=20))
    summary = train(exp)
    assert summary["best"]["angle_mae_deg"] < summary["mean_pose"]["angle_mae_deg"] + 2.0  # 40 steps: it runs
    return out / "checkpoint_best.pt"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed here if missing (CI runs as root on Debian); skips when it cannot be had."""
    exe = shutil.which("chromium")
    if exe is None and shutil.which("apt-get") and os.geteuid() == 0:
        for cmd in (["apt-get", "install", "-y", "--no-install-recommends", "chromium"], ["apt-get", "update"],
                    ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]):
            subprocess.run(cmd, capture_output=True, timeout=1200, env={**os.environ,
                                                                      "DEBIAN_FRONTEND": "noninteractive"})
            if shutil.which("chromium"):
                break
        exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("needs Debian's chromium package (apt-get install chromium)")
    return exe


@pytest.fixture(scope="session")
def demo_node_modules() -> Path:
    """The phone demo's npm packages from its lockfile (npm ci, once); skips when npm or the registry is missing."""
    app = ROOT / "android_demo"
    modules = app / "node_modules"
    if not all((modules / p / "package.json").is_file() for p in ("@litertjs/core", "playwright-core")):
        npm = shutil.which("npm")
        if npm is None and shutil.which("apt-get") and os.geteuid() == 0:
            subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "npm"], capture_output=True,
                           timeout=1200, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
            npm = shutil.which("npm")
        if npm is None:
            pytest.skip("needs npm (apt-get install npm) for the demo's packages")
        run = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=app, capture_output=True, text=True,
                             timeout=900)
        if run.returncode != 0:
            pytest.skip(f"npm ci failed in android_demo/ (is the npm registry reachable?): {run.stderr[-500:]}")
    return modules
