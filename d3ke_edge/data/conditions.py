"""Test-time conditions: pure, seeded kernels on a sample batch (image + labels), each at severities 1-5.

The robustness benchmark applies them to whole test sequences, and training-time augmentation can call the same
kernels. A call makes one random draw (crop side, occlusion box, rotation sign, noise), so applied to one sequence
the condition persists over its frames, as a real one would. Severity 0 is the clean sample itself.

Images are float (..., 3, H, W) in [0, 1]; labels follow where geometry changes: ``hflip`` mirrors the truth with
the skeleton's mirror map (a flipped left-arm movement is a right-arm movement); ``crop`` and ``resize`` move the
2D labels and intrinsics with the pixels; ``rotation`` (in-plane, about the crop centre) turns the camera-frame 3D
labels about the optical axis too, and the principal point about the centre (exact for square pixels). The
photometric kernels leave labels alone. torchvision's ``transforms.v2.functional`` kernels are used where one
exists (brightness, contrast, JPEG, erasing, rotation, resize).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as nnf
import torchvision.transforms.v2.functional as tvf

from ..skeleton.mirror import Mirror
from .transforms import hflip_sample

__all__ = ["Condition", "CONDITIONS", "STUDY_CONDITIONS", "apply_condition"]

Sample = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Condition:
    name: str
    levels: tuple[float, ...]  # the kernel's parameter at severity 1..len(levels)
    kernel: Callable[[Sample, float, torch.Generator], Sample]
    what: str  # the parameter, for reports


def _image(sample: Sample, image: torch.Tensor) -> Sample:
    return {**sample, "image": image.clamp(0.0, 1.0)}


def _size(sample: Sample) -> int:
    return sample["image"].shape[-1]


def warp_2d(sample: Sample, scale: float, offset: tuple[float, float]) -> Sample:
    """Pixel labels and intrinsics after ``uv -> (uv - offset) * scale`` (a crop window resized back)."""
    out = dict(sample)
    shift = torch.as_tensor(offset, dtype=torch.float32)
    size = _size(sample)
    for name in ("joints", "markers"):
        if f"{name}_2d" in sample:
            uv = (sample[f"{name}_2d"] - shift.to(sample[f"{name}_2d"])) * scale
            out[f"{name}_2d"] = uv
            if f"{name}_in_crop" in sample:
                inside = ((uv >= 0) & (uv <= size)).all(-1)
                out[f"{name}_in_crop"] = sample[f"{name}_in_crop"] & inside
    if "K" in sample:
        K = sample["K"].clone()
        K[..., 0, :] = sample["K"][..., 0, :] * scale
        K[..., 1, :] = sample["K"][..., 1, :] * scale
        K[..., 0, 2] = (sample["K"][..., 0, 2] - offset[0]) * scale
        K[..., 1, 2] = (sample["K"][..., 1, 2] - offset[1]) * scale
        out["K"] = K
    return out


def _resize(sample: Sample, factor: float, g: torch.Generator) -> Sample:
    """The person at lower resolution: down by ``factor`` (antialiased), back up bilinearly as a pipeline would."""
    size = _size(sample)
    small = max(2, round(size / factor))
    low = tvf.resize(sample["image"], [small, small], antialias=True)
    return _image(sample, tvf.resize(low, [size, size], antialias=False))


def _crop(sample: Sample, fraction: float, g: torch.Generator) -> Sample:
    """The person box shrunk by ``fraction`` and shifted against one random side, so that side of the body is cut
    off; the window is resized back to the input size."""
    size = _size(sample)
    side = size * (1.0 - fraction)
    cut = size - side
    which = int(torch.randint(4, (1,), generator=g))  # 0: cut left, 1: right, 2: top, 3: bottom
    x0 = cut if which == 0 else (0.0 if which == 1 else cut / 2)
    y0 = cut if which == 2 else (0.0 if which == 3 else cut / 2)
    top, left, h = round(y0), round(x0), round(side)
    image = tvf.resized_crop(sample["image"], top, left, h, h, [size, size], antialias=True)
    return _image(warp_2d(sample, size / h, (left, top)), image)


def _brightness(sample: Sample, factor: float, g: torch.Generator) -> Sample:
    return _image(sample, tvf.adjust_brightness(sample["image"], factor))


def _contrast(sample: Sample, factor: float, g: torch.Generator) -> Sample:
    return _image(sample, tvf.adjust_contrast(sample["image"], factor))


def _noise(sample: Sample, sigma: float, g: torch.Generator) -> Sample:
    img = sample["image"]
    return _image(sample, img + sigma * torch.randn(img.shape, generator=g).to(img))


def _blur(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Depthwise convolution with one 2D kernel (replicate padding), any leading dims."""
    lead, (c, h, w) = image.shape[:-3], image.shape[-3:]
    x = image.reshape(-1, c, h, w)
    k = kernel.to(x)[None, None].expand(c, 1, *kernel.shape)
    pad = (kernel.shape[1] // 2, kernel.shape[1] // 2, kernel.shape[0] // 2, kernel.shape[0] // 2)
    return nnf.conv2d(nnf.pad(x, pad, mode="replicate"), k, groups=c).reshape(*lead, c, h, w)


def _odd(fraction: float, size: int) -> int:
    return 1 + 2 * max(1, round(fraction * size / 2))


def _motion_blur(sample: Sample, fraction: float, g: torch.Generator) -> Sample:
    """A horizontal streak (a camera pan) ``fraction`` of the crop long."""
    n = _odd(fraction, _size(sample))
    return _image(sample, _blur(sample["image"], torch.full((1, n), 1.0 / n)))


def _defocus_blur(sample: Sample, fraction: float, g: torch.Generator) -> Sample:
    """A disk kernel (out-of-focus lens) of radius ``fraction`` of the crop."""
    n = _odd(2 * fraction, _size(sample))
    r = torch.arange(n, dtype=torch.float32) - n // 2
    disk = ((r[:, None] ** 2 + r[None, :] ** 2) <= (n / 2) ** 2).float()
    return _image(sample, _blur(sample["image"], disk / disk.sum()))


def _jpeg(sample: Sample, quality: float, g: torch.Generator) -> Sample:
    img = sample["image"]
    lead = img.shape[:-3]
    u8 = (img.reshape(-1, *img.shape[-3:]) * 255.0).round().to(torch.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torchvision 0.29 points image codecs to torchcodec
        out = tvf.jpeg(u8, int(quality)).float().div(255.0)
    return _image(sample, out.reshape(*lead, *img.shape[-3:]))


def _pixelate(sample: Sample, fraction: float, g: torch.Generator) -> Sample:
    size = _size(sample)
    small = max(2, round(size * fraction))
    low = tvf.resize(sample["image"], [small, small], antialias=True)
    return _image(sample, tvf.resize(low, [size, size], interpolation=tvf.InterpolationMode.NEAREST))


def _occlusion(sample: Sample, area: float, g: torch.Generator) -> Sample:
    """A random-coloured rectangle covering ``area`` of the crop, placed in its central half (on the body)."""
    size = _size(sample)
    aspect = math.exp(float(torch.empty(1).uniform_(-0.7, 0.7, generator=g)))
    h = min(size, round(size * math.sqrt(area / aspect)))
    w = min(size, round(size * math.sqrt(area * aspect)))
    cy, cx = (size * (0.25 + 0.5 * torch.rand(2, generator=g))).tolist()
    top, left = int(min(max(cy - h / 2, 0), size - h)), int(min(max(cx - w / 2, 0), size - w))
    colour = torch.rand(3, 1, 1, generator=g).to(sample["image"])
    return _image(sample, tvf.erase(sample["image"], top, left, h, w, colour))


def _rotation(sample: Sample, degrees: float, g: torch.Generator) -> Sample:
    """In-plane rotation about the crop centre by +-``degrees``; 2D labels and camera-frame 3D labels turn along."""
    angle = degrees if bool(torch.rand(1, generator=g) < 0.5) else -degrees
    out = _image(sample, tvf.rotate(sample["image"], angle, interpolation=tvf.InterpolationMode.BILINEAR))
    a = math.radians(angle)  # torchvision turns the image counter-clockwise on screen for a positive angle
    c, s = math.cos(a), math.sin(a)
    # image v points down: a counter-clockwise turn on screen is a rotation by -a about the camera's z axis
    rz = torch.tensor([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    centre = _size(sample) / 2.0

    def turn(u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pixels about the centre
        du, dv = u - centre, v - centre
        return c * du + s * dv + centre, -s * du + c * dv + centre

    for name in ("joints", "markers"):
        if f"{name}_2d" in sample:
            out[f"{name}_2d"] = torch.stack(turn(sample[f"{name}_2d"][..., 0], sample[f"{name}_2d"][..., 1]), -1)
        for frame in ("cam", "rel"):
            key = f"{name}_{frame}"
            if key in sample:
                out[key] = sample[key] @ rz.to(sample[key]).T
    if "pelvis_rot_cam" in sample:
        out["pelvis_rot_cam"] = rz.to(sample["pelvis_rot_cam"]) @ sample["pelvis_rot_cam"]
    if "K" in sample:  # the principal point turns about the centre too, so K @ (Rz X) lands on the turned labels
        K = sample["K"].clone()
        K[..., 0, 2], K[..., 1, 2] = turn(sample["K"][..., 0, 2], sample["K"][..., 1, 2])
        out["K"] = K
    return out


def _low_light(sample: Sample, dim: float, g: torch.Generator) -> Sample:
    """A dark scene: exposure times ``dim``, gamma 1.5, and the sensor noise that comes with the gain."""
    img = sample["image"].clamp(0, 1) ** 1.5 * dim
    return _image(sample, img + 0.02 * math.sqrt(1.0 / dim) * torch.randn(img.shape, generator=g).to(img))


CONDITIONS: dict[str, Condition] = {c.name: c for c in (
    Condition("resize", (1.5, 2.0, 3.0, 4.0, 6.0), _resize, "downscale factor"),
    Condition("crop", (0.05, 0.1, 0.15, 0.2, 0.3), _crop, "fraction of the box cut off one side"),
    Condition("brightness", (1.2, 1.4, 1.6, 1.8, 2.0), _brightness, "brightness factor"),
    Condition("contrast", (0.6, 0.45, 0.3, 0.2, 0.1), _contrast, "contrast factor"),
    Condition("gaussian_noise", (0.02, 0.04, 0.06, 0.09, 0.12), _noise, "noise sigma"),
    Condition("motion_blur", (0.02, 0.04, 0.06, 0.09, 0.12), _motion_blur, "streak length / crop"),
    Condition("defocus_blur", (0.01, 0.02, 0.03, 0.045, 0.06), _defocus_blur, "disk radius / crop"),
    Condition("jpeg", (60, 40, 25, 15, 8), _jpeg, "JPEG quality"),
    Condition("pixelate", (0.6, 0.5, 0.4, 0.3, 0.25), _pixelate, "resolution factor"),
    Condition("occlusion", (0.05, 0.1, 0.15, 0.2, 0.3), _occlusion, "occluded area / crop"),
    Condition("rotation", (5.0, 10.0, 15.0, 20.0, 30.0), _rotation, "in-plane degrees"),
    Condition("low_light", (0.6, 0.45, 0.3, 0.2, 0.12), _low_light, "exposure factor"),
)}
STUDY_CONDITIONS = ("hflip", "resize", "crop", "brightness", "contrast")  # the reproduction study's five


def apply_condition(sample: Sample, name: str, severity: int, mirror: Mirror | None = None, seed: int = 0) -> Sample:
    """``sample`` under condition ``name`` at ``severity`` (0 = clean; ``hflip`` has severity 1 only and needs the
    skeleton's ``mirror``). One seeded draw per call: call it once per sequence."""
    if name == "hflip":
        if severity not in (0, 1):
            raise ValueError(f"hflip has one severity (1); got {severity}")
        if severity and mirror is None:
            raise ValueError("hflip needs the skeleton's mirror map to mirror the labels (derive_mirror(skeleton))")
        return hflip_sample(sample, mirror) if severity else dict(sample)
    if name not in CONDITIONS:
        raise ValueError(f"unknown condition '{name}'; choose from hflip, {', '.join(CONDITIONS)}")
    cond = CONDITIONS[name]
    if not 0 <= severity <= len(cond.levels):
        raise ValueError(f"severity of {name} must be 0-{len(cond.levels)}; got {severity}")
    if severity == 0:
        return dict(sample)
    return cond.kernel(sample, cond.levels[severity - 1], torch.Generator().manual_seed(seed))


def augment_batch(batch: Sample, names: tuple[str, ...], p: float, max_severity: int, mirror: Mirror | None,
                  seed: int) -> Sample:
    """Training-time augmentation with the benchmark's kernels: each frame of ``batch`` (first axis) gets, with
    probability ``p``, one of ``names`` at a severity drawn from 1..``max_severity`` (its own seeded draw); the
    labels follow exactly as in the benchmark (hflip mirrors them)."""
    rng = np.random.default_rng(seed)
    n = batch["image"].shape[0]
    picks = [(i, names[rng.integers(len(names))], int(rng.integers(1, max_severity + 1))) for i in range(n)
             if rng.random() < p]
    if not picks:
        return batch
    out = {k: v.clone() if torch.is_tensor(v) else v for k, v in batch.items()}
    for i, name, severity in picks:
        one = {k: v[i : i + 1] for k, v in batch.items() if torch.is_tensor(v) and v.shape[:1] == (n,)}
        done = apply_condition(one, name, 1 if name == "hflip" else severity, mirror, seed * 1_000_003 + i)
        for k, v in done.items():
            out[k][i] = v[0].to(out[k].dtype)
    return out
