"""The demo page driven in headless Chromium with a fake camera (``android_demo/test/drive.mjs`` through
playwright-core): one home for the Chromium test and the browser latency benchmark."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .config import DemoModels
from .server import APP_DIR, DemoServer, build_routes

__all__ = ["write_y4m", "browser_binary", "drive_page"]


def write_y4m(video: Path, out: Path, frames: int = 40, size: tuple[int, int] = (360, 640)) -> Path:
    """The first ``frames`` of ``video`` as a .y4m (what Chromium's fake camera plays, looping)."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    with open(out, "wb") as f:
        f.write(f"YUV4MPEG2 W{size[0]} H{size[1]} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            ok, bgr = cap.read()
            if not ok:
                break
            f.write(b"FRAME\n" + cv2.cvtColor(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA),
                                               cv2.COLOR_BGR2YUV_I420).tobytes())
    cap.release()
    return out


def browser_binary(chromium: str) -> str:
    """Debian's /usr/bin/chromium is a wrapper script; playwright launches the binary."""
    real = Path("/usr/lib/chromium/chromium")
    return str(real) if real.is_file() else chromium


def drive_page(models: DemoModels, blazepose: dict[str, Path], clip: Path, out: Path, chromium: str,
               frames: int, images: int, viewports: list[list[int]], latency_runs: int, offline: bool = False,
               timeout: int = 600, clip_frames: int = 40) -> tuple[dict, dict, subprocess.CompletedProcess]:
    """Serve ``models`` on localhost, play ``clip``'s first ``clip_frames`` (looping) into the page for ``frames``
    logged frames (``images`` of them with their pictures), screenshot each viewport, time each model
    ``latency_runs`` times, and (``offline``) reload it with the network off. Returns drive.mjs's summary, the page's
    log (``{}`` when it failed) and the run."""
    out.mkdir(parents=True, exist_ok=True)
    routes = build_routes(models, {k: blazepose[k] for k in ("pose_detection.tflite", "pose_landmark_full.tflite")},
                          test_frames=frames, test_images=images)
    server = DemoServer(routes, "127.0.0.1", 0).start()
    try:
        args = {"url": server.url, "y4m": str(write_y4m(clip, out / "clip.y4m", clip_frames)), "out": str(out),
                "chromium": browser_binary(chromium), "viewports": viewports, "latency_runs": latency_runs,
                "offline": offline, "offline_probe": f"{server.url}models/export/{models.per_frame.name}"}
        run = subprocess.run(["node", "test/drive.mjs", json.dumps(args)], cwd=APP_DIR, capture_output=True,
                             text=True, timeout=timeout)
    finally:
        server.stop()
    summary = json.loads(run.stdout.strip().splitlines()[-1]) if run.stdout.strip() else {}
    log = json.loads((out / "log.json").read_text()) if summary.get("ok") else {}
    return summary, log, run
