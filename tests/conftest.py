from __future__ import annotations

import sys
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


@pytest.fixture(scope="session")
def quickstart_run(tmp_path_factory):
    """The README's main command, run once per test session in a subprocess (train + export are the slow part of
    the suite; every test of the trained model and its export reads this run)."""
    import subprocess

    import os

    reuse = os.environ.get("D3KE_QUICKSTART_DIR")  # a developer's finished quickstart folder, to skip the 8 minutes
    if reuse:
        return Path(reuse), subprocess.CompletedProcess([], 0, "(reused)", "")
    out = tmp_path_factory.mktemp("quickstart")
    cli = [sys.executable, "-c", "from d3ke_edge.cli import app; app()"]
    res = subprocess.run([*cli, "quickstart", "--out", str(out)], capture_output=True, text=True)
    return out, res


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
