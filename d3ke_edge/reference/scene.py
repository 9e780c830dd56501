"""A scene several calibrated cameras film, with several people in it, rendered by the engine: test footage for the
multi-camera reference, where every person's true coordinates are known.

Each person is rendered on their own through each camera (full frame, as ``clip.render_clip``); the people are then
composited by the engine's z-buffer, the nearer surface winning, over the first person's scene. The cameras stand
on a circle around the scene's centre, looking at it, and are written as a Pose2Sim/Anipose ``.toml``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.camera import Camera, look_at
from ..data.synth import SynthConfig, SynthEngine
from ..viz.overlay import write_video
from .calibration import Camera as CalibCamera
from .calibration import write_toml

__all__ = ["ScenePerson", "ring_cameras", "render_scene", "write_scene", "passing_people"]


@dataclass
class ScenePerson:
    q: np.ndarray  # (T, n_coords) the built-in skeleton's coordinates (radians, metres)
    seed: int  # the engine seed that drew their subject (body, clothes)


def ring_cameras(n: int, radius: float = 5.0, height: float = 1.8, size: tuple[int, int] = (640, 360),
                 hfov_deg: float = 65.0, target: tuple[float, float, float] = (0.0, 0.9, 0.0)) -> list[Camera]:
    """``n`` cameras evenly around the scene (the first at 45 deg), all looking at ``target`` (engine world: y up)."""
    w, h = size
    f = (w / 2) / np.tan(np.radians(hfov_deg) / 2)
    K = np.array([[f, 0.0, w / 2], [0.0, f, h / 2], [0.0, 0.0, 1.0]])
    cams = []
    for i in range(n):
        a = np.pi / 4 + 2 * np.pi * i / n
        R, t = look_at(np.array([radius * np.cos(a), height, radius * np.sin(a)]), np.asarray(target, float))
        cams.append(Camera(R, t, K, w, h))
    return cams


def passing_people(seconds: float = 2.0, fps: float = 30.0, gap_m: float = 0.8, seeds: tuple[int, int] = (3, 11)
                   ) -> list[ScenePerson]:
    """Two people walking past each other the opposite ways along x, ``gap_m`` apart, crossing at the centre."""
    engine = SynthEngine(SynthConfig(families=("walk",), seconds=seconds, fps=fps))
    names = list(engine.skel.coordinate_names)
    tx, tz, rot = (names.index(c) for c in ("pelvis_tx", "pelvis_tz", "pelvis_rotation"))
    people = []
    for k, seed in enumerate(seeds):
        q = engine._spec(seed)[0].copy()
        span = q[:, tx] - q[:, tx].mean()  # walked distance, centred: they cross mid-clip
        q[:, tx] = span if k == 0 else -span
        q[:, tz] = (0.5 - k) * gap_m
        if k == 1:
            q[:, rot] += np.pi  # facing the other way
        people.append(ScenePerson(q, seed))
    return people


def render_scene(people: list[ScenePerson], cameras: list[Camera], fps: float = 30.0) -> np.ndarray:
    """Every camera's frames (V, T, H, W, 3) uint8 RGB of ``people`` composited by depth."""
    videos = []
    for cam in cameras:
        side = max(cam.width, cam.height)
        off = ((cam.width - side) / 2, (cam.height - side) / 2)
        x0, y0 = int(round(-off[0])), int(round(-off[1]))
        image = depth = None
        for person in people:
            engine = SynthEngine(SynthConfig(size=side, fps=fps))
            _, subject, _, rng, ids = engine._spec(person.seed)
            boxes = torch.tensor([[off[0], off[1], float(side)]] * len(person.q))
            out = engine.render(person.q, subject, cam, rng, *ids, boxes=boxes, return_maps=True)
            img = out["image"][:, y0: y0 + cam.height, x0: x0 + cam.width]
            z = np.where(np.asarray(out["part"]) >= 0, np.asarray(out["depth"]), np.inf)[:, y0: y0 + cam.height,
                                                                                           x0: x0 + cam.width]
            if image is None:
                image, depth = img.copy(), z
            else:
                nearer = z < depth
                image[nearer], depth = img[nearer], np.minimum(depth, z)
        videos.append(image)
    return np.stack(videos)


def write_scene(folder: str | Path, people: list[ScenePerson], cameras: list[Camera], fps: float = 30.0) -> dict:
    """The scene as files a user would have: ``cam01.avi`` ... (lossless FFV1), ``calibration.toml`` and the truth
    ``truth.npz`` (per person the coordinates, radians/metres) with ``scene.json`` (names, fps). -> the file map."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frames = render_scene(people, cameras, fps)
    names = [f"cam{v + 1:02d}" for v in range(len(cameras))]
    videos = [write_video(list(frames[v]), fps, folder / f"{n}.avi", fourcc="FFV1") for v, n in enumerate(names)]
    calib = write_toml([CalibCamera(n, c.K, np.zeros(5), c.rotation, c.translation, (c.width, c.height))
                        for n, c in zip(names, cameras)], folder / "calibration.toml")
    np.savez_compressed(folder / "truth.npz", **{f"person{k}": p.q for k, p in enumerate(people)})
    (folder / "scene.json").write_text(json.dumps({"cameras": names, "fps": fps, "people": len(people),
                                                   "frames": int(frames.shape[1])}, indent=2) + "\n")
    return {"videos": videos, "calibration": calib, "truth": folder / "truth.npz"}
