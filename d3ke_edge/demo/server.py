"""``d3ke-edge demo serve``: the phone demo's files, its LiteRT.js runtime (from ``android_demo/node_modules``,
never a CDN), BlazePose's models, the export's artefacts and a generated ``config.json``, over HTTP(S) with the
headers that give the page threads (cross-origin isolation). Only the mapped files are served."""

from __future__ import annotations

import hashlib
import json
import mimetypes
import shutil
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .config import DemoError, DemoModels, demo_config

__all__ = ["APP_DIR", "DemoServer", "ensure_npm", "build_routes"]

APP_DIR = Path(__file__).resolve().parents[2] / "android_demo"
APP_FILES = ("index.html", "app.css", "manifest.webmanifest", "sw.js", "src/app.js", "src/blazepose.js",
             "src/kinematics.js", "src/models.js", "src/mot.js", "src/sides.js", "icons/icon-192.png",
             "icons/icon-512.png")
VENDOR = {"@litertjs/core": ("dist", "wasm"), "@litertjs/wasm-utils": ("dist",)}
TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".wasm": "application/wasm",
         ".tflite": "application/octet-stream",
         ".webmanifest": "application/manifest+json", ".json": "application/json", ".crt": "application/x-x509-ca-cert",
         ".mjs": "text/javascript", ".map": "application/json"}


def ensure_npm(app_dir: Path = APP_DIR, say=print) -> Path:
    """``android_demo/node_modules`` with the lockfile's packages (``npm ci`` once: it needs npm and the registry)."""
    if not app_dir.is_dir():
        raise DemoError(f"the demo app is not at '{app_dir}': it ships in the repository's android_demo/ folder; "
                        "run d3ke-edge from a clone (pip install -e .)")
    modules = app_dir / "node_modules"
    if all((modules / pkg / "package.json").is_file() for pkg in VENDOR):
        return modules
    npm = shutil.which("npm")
    if npm is None:
        raise DemoError("the demo needs LiteRT.js from npm (android_demo/package-lock.json) and npm is not installed: "
                        "install Node.js 20+ (e.g. apt install npm), or run npm ci in android_demo/ elsewhere and copy "
                        "node_modules/")
    say("installing the demo's npm packages (npm ci in android_demo/) ...")
    run = subprocess.run([npm, "ci", "--omit=dev", "--no-audit", "--no-fund"], cwd=app_dir, capture_output=True,
                         text=True, timeout=600)
    if run.returncode != 0:
        raise DemoError(f"npm ci failed in '{app_dir}' (the npm registry must be reachable once):\n"
                        f"{run.stderr[-1500:]}")
    return modules


def build_routes(models: DemoModels, blazepose: dict[str, Path], app_dir: Path = APP_DIR,
                 test_frames: int = 0, test_images: int = 0, ca: Path | None = None,
                 say=print) -> dict[str, Path | bytes]:
    """URL path -> file (or bytes, for ``config.json``) for everything the page may load."""
    modules = ensure_npm(app_dir, say)
    routes: dict[str, Path | bytes] = {f"/{f}": app_dir / f for f in APP_FILES}
    routes["/"] = app_dir / "index.html"
    for pkg, subdirs in VENDOR.items():
        for sub in subdirs:
            for p in (modules / pkg / sub).rglob("*"):
                if p.is_file():
                    routes[f"/vendor/{pkg}/{p.relative_to(modules / pkg).as_posix()}"] = p
    for name, path in blazepose.items():
        routes[f"/models/blazepose/{name}"] = Path(path)
    urls = {}
    for p in (models.per_frame, models.step):
        if p is not None:
            url = f"/models/export/{p.name}"
            routes[url] = p
            urls[str(p)] = url.lstrip("/")
    cfg = demo_config(models, {"detector": "models/blazepose/pose_detection.tflite",
                               "landmark": "models/blazepose/pose_landmark_full.tflite"},
                      "vendor/@litertjs/core/wasm/", urls, test_frames, test_images)
    # the offline cache's version: what the page runs (app files, npm lockfile, the artefacts)
    digest = hashlib.sha256()
    for p in [*(app_dir / f for f in APP_FILES), app_dir / "package-lock.json", models.per_frame, models.step]:
        if p is not None and Path(p).is_file():
            digest.update(Path(p).read_bytes())
    cfg["version"] = digest.hexdigest()[:12]
    routes["/config.json"] = json.dumps(cfg).encode()
    if ca is not None:
        routes["/ca.crt"] = ca
    missing = [u for u, p in routes.items() if isinstance(p, Path) and not p.is_file()]
    if missing:
        raise DemoError(f"the demo's files are incomplete: {missing[:5]} (reinstall with npm ci in android_demo/)")
    return routes


def _handler(routes: dict[str, Path | bytes], log: list[str]):
    class Handler(BaseHTTPRequestHandler):
        server_version = "d3ke-edge-demo"

        def _send(self, body: bool) -> None:
            path = self.path.split("?", 1)[0]
            target = routes.get(path)
            if target is None:
                self.send_error(HTTPStatus.NOT_FOUND, "not part of the demo")
                return
            data = target if isinstance(target, bytes) else target.read_bytes()
            suffix = ".json" if isinstance(target, bytes) else target.suffix
            self.send_response(HTTPStatus.OK)
            kind = TYPES.get(suffix) or mimetypes.guess_type(f"x{suffix}")[0] or "application/octet-stream"
            self.send_header("Content-Type", kind + ("; charset=utf-8" if kind.startswith("text/") else ""))
            self.send_header("Content-Length", str(len(data)))
            # cross-origin isolation: SharedArrayBuffer, so LiteRT.js may use threads
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")
            self.send_header("Cache-Control", "no-cache")  # the service worker keeps the offline copy
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            self._send(True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._send(False)

        def log_message(self, fmt: str, *args) -> None:
            log.append(fmt % args)

    return Handler


@dataclass
class DemoServer:
    """A running server (``start()`` in a thread, ``url``, ``stop()``)."""

    routes: dict[str, Path | bytes]
    host: str = "127.0.0.1"
    port: int = 0
    certs: object | None = None  # certs.Certificates for HTTPS
    log: list[str] = field(default_factory=list)

    def start(self) -> "DemoServer":
        self.httpd = ThreadingHTTPServer((self.host, self.port), _handler(self.routes, self.log))
        if self.certs is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.certs.cert, self.certs.key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "") else self.host
        return f"{'https' if self.certs else 'http'}://{host}:{self.port}/"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
