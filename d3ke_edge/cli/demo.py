"""``d3ke-edge demo serve [EXPORT_DIR]``: the phone demo (android_demo/) for a phone on the same network."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import console, err_console, fail

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("serve")
def serve(
    export: Annotated[Optional[Path], typer.Argument(help="A d3ke-edge export folder of a landmark model (its tflite/ artefacts); default: the package's own model.")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on: 0.0.0.0 for a phone on the LAN, 127.0.0.1 for this machine only.")] = "0.0.0.0",
    port: Annotated[int, typer.Option("--port", help="Port (0: any free one).")] = 8443,
    https: Annotated[bool, typer.Option("--https/--http", help="HTTPS with the demo's own certificate authority (a phone's browser gives the camera only to HTTPS pages; localhost may use --http).")] = True,
    precision: Annotated[str, typer.Option("--precision", help="The per-frame artefact: fp32 | int8.")] = "fp32",
    head: Annotated[str, typer.Option("--head", help="auto (the export's step model) | none | a head's name.")] = "auto",
    certs_dir: Annotated[Path, typer.Option("--certs", help="Where the certificate authority and the server certificate are kept.")] = Path.home() / ".cache" / "d3ke-edge" / "demo-certs",
) -> None:
    """Serve the phone demo: LiteRT.js in the browser runs BlazePose, the exported landmark model and its step model
    on the phone's camera; joint angles drawn live, recorded as .mot. Nothing leaves the phone."""
    from ..demo.certs import ensure_certificates, lan_addresses
    from ..demo.config import DemoError, pick_models
    from ..demo.server import DemoServer, build_routes
    from ..video.models import ModelFetchError, fetch_models

    if export is None:
        from ..default_model import default_model

        try:
            export = default_model()
        except FileNotFoundError as exc:
            fail(str(exc))
    if not export.is_dir():
        fail(f"'{export}' is not a folder: give a d3ke-edge export folder (d3ke-edge export CKPT --out DIR)")
    try:
        models = pick_models(export, precision, head)
        blaze = fetch_models(progress=lambda m: err_console.print(f"[dim]{m}[/]"))
        certs = ensure_certificates(certs_dir) if https else None
        routes = build_routes(models, {k: blaze[k] for k in ("pose_detection.tflite", "pose_landmark_full.tflite")},
                              ca=certs.ca if certs else None, say=lambda m: err_console.print(f"[dim]{m}[/]"))
        server = DemoServer(routes, host, port, certs).start()
    except (DemoError, ModelFetchError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port} ({exc}); choose another --port")
    scheme = "https" if https else "http"
    console.print(f"serving {models.per_frame.name}" + (f" + {models.step.name}" if models.step else "") +
                  f" on {scheme}://{host}:{server.port}/")
    if host in ("0.0.0.0", ""):
        for ip in lan_addresses():
            console.print(f"  on the phone: [bold]{scheme}://{ip}:{server.port}/[/]")
    if certs:
        console.print(
            f"HTTPS with the demo's own certificate authority ({certs.ca}). To trust it once on the phone, download "
            f"{scheme}://<this machine>:{server.port}/ca.crt and install it — Android: Settings > Security > "
            "Encryption & credentials > Install a certificate > CA certificate; iPhone: open the file, install the "
            "profile, then Settings > General > About > Certificate Trust Settings. SHA-256 to compare: "
            f"{certs.fingerprint}. Without it the browser warns and the app cannot work offline.")
    console.print("Ctrl+C stops the server.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
