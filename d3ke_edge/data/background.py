"""Backgrounds of a static scene seen through moving crops: a textured floor plane and a wall or a photo.

Everything is a function of full-frame pixel coordinates, so as the detector box moves the crop shows the same
scene: the floor is the ray-plane intersection (y = 0) of each crop pixel, tiled and noisy; above the horizon a
gradient with low-frequency noise, or a user photo when a folder of images is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .camera import Camera

__all__ = ["SceneStyle", "sample_scene", "render_background", "list_images"]

_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class SceneStyle:
    wall: np.ndarray  # (2, 3) gradient top/bottom colours
    floor: np.ndarray  # (2, 3) tile colours
    tile_m: float
    noise: np.ndarray  # (3, 6, 8) low-frequency colour noise grid
    noise_amp: float
    photo: np.ndarray | None  # (H, W, 3) float image in [0, 1] covering the full frame, or None


def list_images(folder: str | Path | None) -> list[Path]:
    """Image files of a background folder; a missing or empty folder is an error, not a silent fallback."""
    if folder is None:
        return []
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"background folder '{folder}' does not exist")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in _IMAGE_EXT)
    if not files:
        raise FileNotFoundError(f"background folder '{folder}' holds no {', '.join(_IMAGE_EXT)} images")
    return files


def sample_scene(rng: np.random.Generator, cam: Camera, images: list[Path] = ()) -> SceneStyle:
    """Colours, tiles and noise of one scene; half the scenes use a user photo when ``images`` are given."""
    wall = rng.uniform(0.1, 0.95, size=(2, 3)) * rng.uniform(0.6, 1.0, size=(2, 1))
    base = rng.uniform(0.1, 0.8, size=3)
    floor = np.stack([base, np.clip(base * rng.uniform(0.6, 1.4, size=3), 0, 1)])
    photo = None
    if len(images) and rng.random() < 0.5:
        import cv2

        path = images[rng.integers(len(images))]
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"background image '{path}' cannot be decoded; remove it or convert it to JPEG/PNG")
        photo = cv2.resize(img[:, :, ::-1], (cam.width, cam.height), interpolation=cv2.INTER_AREA) / 255.0
    return SceneStyle(wall, floor, float(rng.uniform(0.3, 1.2)), rng.normal(0, 1, size=(3, 6, 8)),
                      float(rng.uniform(0.02, 0.12)), photo)


def render_background(cam: Camera, style: SceneStyle, boxes: torch.Tensor, size: int, detail: int = 4) -> torch.Tensor:
    """(F, 3, size, size) background crops for boxes (F, 3) = (x0, y0, side) in full-frame pixels.

    The scene is evaluated on a grid ``detail`` times coarser and upsampled bilinearly: the background reads as
    slightly out of focus behind a sharp person (a phone focused on its subject), at a sixteenth of the cost.
    """
    full = size
    size = max(8, size // detail)
    dt, dev = boxes.dtype, boxes.device
    F = len(boxes)
    g = (torch.arange(size, dtype=dt, device=dev) + 0.5) / size
    uf = boxes[:, 0, None, None] + g.view(1, 1, -1) * boxes[:, 2, None, None]  # (F, 1, S)
    vf = boxes[:, 1, None, None] + g.view(1, -1, 1) * boxes[:, 2, None, None]  # (F, S, 1)
    uf, vf = uf.expand(F, size, size), vf.expand(F, size, size)
    gx, gy = uf / cam.width * 2 - 1, vf / cam.height * 2 - 1
    grid = torch.stack([gx, gy], -1)
    if style.photo is not None:
        photo = torch.as_tensor(style.photo, dtype=dt, device=dev).permute(2, 0, 1)[None].expand(F, -1, -1, -1)
        upper = torch.nn.functional.grid_sample(photo, grid, align_corners=False, padding_mode="reflection")
    else:
        wall = torch.as_tensor(style.wall, dtype=dt, device=dev)
        w = ((vf / cam.height).clamp(0, 1)).unsqueeze(1)
        upper = wall[0].view(1, 3, 1, 1) * (1 - w) + wall[1].view(1, 3, 1, 1) * w
        noise = torch.as_tensor(style.noise, dtype=dt, device=dev)[None].expand(F, -1, -1, -1)
        upper = upper + style.noise_amp * torch.nn.functional.grid_sample(noise, grid, mode="bicubic", align_corners=False)
    # Floor: intersect each pixel's ray with the plane y = 0.
    Kinv = torch.as_tensor(np.linalg.inv(cam.K), dtype=dt, device=dev)
    Rt = torch.as_tensor(cam.rotation.T, dtype=dt, device=dev)
    rays = torch.stack([uf, vf, torch.ones_like(uf)], -1) @ Kinv.T @ Rt.T  # (F, S, S, 3) world directions
    origin = torch.as_tensor(cam.position, dtype=dt, device=dev)
    s = -origin[1] / rays[..., 1].clamp(max=-1e-6)
    hit_x, hit_z = origin[0] + s * rays[..., 0], origin[2] + s * rays[..., 2]
    checker = ((torch.floor(hit_x / style.tile_m) + torch.floor(hit_z / style.tile_m)) % 2).unsqueeze(1)
    floor = torch.as_tensor(style.floor, dtype=dt, device=dev)
    floor_rgb = floor[0].view(1, 3, 1, 1) * (1 - checker) + floor[1].view(1, 3, 1, 1) * checker
    fog = (1 - torch.exp(-s / 15.0)).unsqueeze(1)  # distant floor fades into the wall colour
    floor_rgb = floor_rgb * (1 - fog) + upper * fog
    on_floor = (rays[..., 1] < -1e-6).unsqueeze(1)
    out = torch.where(on_floor & (style.photo is None), floor_rgb, upper).clamp(0, 1)
    return torch.nn.functional.interpolate(out, size=(full, full), mode="bilinear", align_corners=False)
