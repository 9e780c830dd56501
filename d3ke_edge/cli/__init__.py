"""The ``d3ke-edge`` command line: sub-commands grouped by pipeline stage."""

from __future__ import annotations

import typer

from .bench import app as bench_app
from .demo import app as demo_app
from .export import export, verify
from .infer import infer
from .models import app as models_app
from .motions import app as motions_app
from .quickstart import quickstart
from .reference import reference
from .skeleton import app as skeleton_app
from .synth import app as synth_app
from .train import train

app = typer.Typer(
    name="d3ke-edge",
    help="Single-camera 3D human kinematics from GPU training to the phone (D3KE, OpenSim skeletons).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(skeleton_app, name="skeleton", help="OpenSim models: check our FK against opensim, write, mirror.")
app.add_typer(bench_app, name="bench", help="Benchmarks: accuracy under test-time conditions, latency, the report.")
app.add_typer(models_app, name="models", help="Third-party models the toolkit runs (BlazePose): fetch, path.")
app.add_typer(demo_app, name="demo", help="The phone demo: live joint angles in the phone's browser (LiteRT.js), served from an export.")
app.add_typer(motions_app, name="motions", help="Recorded motion capture: import it into a bank in the skeleton's coordinates.")
app.add_typer(synth_app, name="synth", help="Synthetic data: render a labelled dataset, or preview it.")
app.command("train", help="Train a D3KE model from a YAML config (per-frame, then temporal heads).")(train)
app.command("export", help="Export a checkpoint to TFLite, Core ML, TorchScript and ONNX, checked through each runtime.")(export)
app.command("verify", help="Check an existing export again on this machine, under every kernel family of each "
                            "runtime.")(verify)
app.command("infer", help="A video in, OpenSim kinematics out: BlazePose tracking, the model and its causal head, frame by frame as on the phone.")(infer)
app.command("reference", help="A multi-camera reference from synchronised videos and their calibration: triangulated BlazePose landmarks, OpenSim scaling and IK.")(reference)
app.command("quickstart")(quickstart)

__all__ = ["app"]
