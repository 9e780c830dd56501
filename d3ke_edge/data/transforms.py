"""Label-aware kernels shared by augmentation and the robustness benchmark (torchvision-v2 style).

``hflip_sample`` mirrors a sample left/right: the image is flipped and every label follows, so a flipped
video of a left-arm movement gets the labels of a right-arm movement. In camera coordinates a horizontal image
flip is x -> -x (F = diag(-1, 1, 1)); the skeleton's sagittal reflection is S = diag(1, 1, -1), so rotations
map as R -> F R S and points swap sides by the mirror permutation.
"""

from __future__ import annotations

import torch

from ..skeleton.mirror import Mirror

__all__ = ["hflip_image", "hflip_points_cam", "hflip_points_2d", "hflip_rotation", "hflip_sample"]

_F = (-1.0, 1.0, 1.0)
_S = (1.0, 1.0, -1.0)


def hflip_image(image: torch.Tensor) -> torch.Tensor:
    """(..., C, H, W) or (..., H, W, C) uint8 image with channels last when the last dim is 3 and H != 3."""
    return image.flip(-2) if image.shape[-1] == 3 and image.shape[-3] != 3 else image.flip(-1)


def hflip_points_cam(points: torch.Tensor, perm: tuple[int, ...]) -> torch.Tensor:
    """Camera-frame points (..., N, 3): swap sides and negate x."""
    return points[..., list(perm), :] * torch.as_tensor(_F, dtype=points.dtype, device=points.device)


def hflip_points_2d(uv: torch.Tensor, perm: tuple[int, ...], width: float) -> torch.Tensor:
    """Pixel coordinates (..., N, 2) in an image ``width`` wide (pixel centres at i + 0.5): u -> width - u."""
    out = uv[..., list(perm), :].clone()
    out[..., 0] = width - out[..., 0]
    return out


def hflip_rotation(rot: torch.Tensor) -> torch.Tensor:
    """A body orientation in camera frame (..., 3, 3): R -> F R S."""
    f = torch.as_tensor(_F, dtype=rot.dtype, device=rot.device)
    s = torch.as_tensor(_S, dtype=rot.dtype, device=rot.device)
    return f[:, None] * rot * s[None, :]


def _hflip_K(K: torch.Tensor, width: torch.Tensor | float) -> torch.Tensor:
    out = K.clone()
    out[..., 0, 2] = width - K[..., 0, 2]
    return out


def hflip_sample(sample: dict[str, torch.Tensor], mirror: Mirror) -> dict[str, torch.Tensor]:
    """The mirrored sample: image flipped, labels mirrored (works on single samples and batches)."""
    out = dict(sample)
    img = sample["image"]
    size = img.shape[-1] if img.shape[-3] == 3 else img.shape[-2]
    out["image"] = hflip_image(img)
    jp, mp = mirror.joint_perm, mirror.marker_perm
    out["coordinates"] = mirror.pose(sample["coordinates"])
    out["coordinates_valid"] = sample["coordinates_valid"][..., list(mirror.coord_perm)]
    out["scales"] = mirror.scales(sample["scales"])
    for name, perm in (("joints", jp), ("markers", mp)):
        out[f"{name}_cam"] = hflip_points_cam(sample[f"{name}_cam"], perm)
        out[f"{name}_rel"] = hflip_points_cam(sample[f"{name}_rel"], perm)
        out[f"{name}_2d"] = hflip_points_2d(sample[f"{name}_2d"], perm, size)
        for key in ("vis", "in_crop"):
            out[f"{name}_{key}"] = sample[f"{name}_{key}"][..., list(perm)]
    out["pelvis_rot_cam"] = hflip_rotation(sample["pelvis_rot_cam"])
    out["cam_R"] = hflip_rotation(sample["cam_R"])
    out["cam_t"] = sample["cam_t"] * torch.as_tensor(_F, dtype=sample["cam_t"].dtype, device=sample["cam_t"].device)
    out["K"] = _hflip_K(sample["K"], size)
    full_width = 2 * sample["K_full"][..., 0, 2]  # synthetic frames have their principal point at the centre
    out["K_full"] = _hflip_K(sample["K_full"], full_width)
    box = sample["box"].clone()
    box[..., 0] = full_width - sample["box"][..., 0] - sample["box"][..., 2]
    out["box"] = box
    return out
