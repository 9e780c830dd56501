"""A batched software renderer of tapered capsules, in PyTorch (same code on CPU and CUDA).

Each capsule is projected to the image as a 2D tapered capsule (end points and radii divided by depth); a pixel
inside it gets depth ``z(t) - r(t) * sqrt(1 - d^2/rho^2)`` and the normal of the swept sphere, a z-buffer
keeps the nearest surface (correct occlusion), and Lambert shading with an ambient term colours it. The loop is
over primitives; each one only touches the pixel window its projection can cover (the union over the batch), so
a CPU renders a sequence chunk with little wasted work and a GPU renders large batches in the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["RenderInputs", "RenderOutput", "render_capsules"]


@dataclass
class RenderInputs:
    ends: torch.Tensor  # (B, P, 2, 3) capsule end points in camera frame (m)
    radii: torch.Tensor  # (P, 2) or (B, P, 2) radii at the ends (m)
    color: torch.Tensor  # (P, 3) or (B, P, 3) base RGB in [0, 1]
    K: torch.Tensor  # (B, 3, 3) intrinsics of the output image
    background: torch.Tensor  # (B, 3, S, S)
    light: torch.Tensor  # (B, 3) unit vector towards the light, camera frame
    ambient: torch.Tensor  # (B,)
    part: torch.Tensor  # (P,) integer label written into the part map
    texture: torch.Tensor | None = None  # (P, 3) or (B, P, 3): kind (0 plain, 1 stripes, 2 checker), frequency, amplitude


@dataclass
class RenderOutput:
    image: torch.Tensor  # (B, 3, S, S) float in [0, 1]
    depth: torch.Tensor  # (B, S, S) metres, +inf on background
    part: torch.Tensor  # (B, S, S) int64, -1 on background


def _per_batch(x: torch.Tensor, batch: int) -> torch.Tensor:
    return x if x.dim() == 3 else x.unsqueeze(0).expand(batch, *x.shape)


def render_capsules(inp: RenderInputs, in_place: bool = False) -> RenderOutput:
    """Render the capsules over the background; see the module docstring for the model.

    With ``in_place`` the background tensor itself becomes the image (no copy), which saves a pass over the
    frames when the caller owns a freshly made background.
    """
    B, P = inp.ends.shape[:2]
    S = inp.background.shape[-1]
    dev, dt = inp.ends.device, inp.ends.dtype
    radii, color = _per_batch(inp.radii, B), _per_batch(inp.color, B)
    textured = checkered = [False] * P
    if inp.texture is not None:
        texture = _per_batch(inp.texture, B)
        kind = texture[..., 0]
        textured, checkered = (kind > 0).any(0).tolist(), (kind == 2).any(0).tolist()  # host syncs, once per call
        tex_amp = torch.where(kind > 0, texture[..., 2], 0.0)
    image = inp.background if in_place else inp.background.clone()
    depth = torch.full((B, S, S), float("inf"), device=dev, dtype=dt)
    part = torch.full((B, S, S), -1, device=dev, dtype=torch.long)
    # Deferred shading: the loop keeps only depth, primitive id and shade per pixel; colour is composed once.
    winner = torch.full((B, S, S), -1, device=dev, dtype=torch.long)
    shading = torch.zeros((B, S, S), device=dev, dtype=dt)
    fx, fy, cx, cy = inp.K[:, 0, 0], inp.K[:, 1, 1], inp.K[:, 0, 2], inp.K[:, 1, 2]
    z = inp.ends[..., 2].clamp_min(1e-3)  # (B, P, 2)
    u = inp.ends[..., 0] / z * fx[:, None, None] + cx[:, None, None]
    v = inp.ends[..., 1] / z * fy[:, None, None] + cy[:, None, None]
    rho = radii / z * fx[:, None, None]  # projected radii (B, P, 2)
    lo_u, hi_u = (u - rho).amin(-1), (u + rho).amax(-1)  # (B, P)
    lo_v, hi_v = (v - rho).amin(-1), (v + rho).amax(-1)
    windows = torch.stack([lo_u.amin(0), hi_u.amax(0), lo_v.amin(0), hi_v.amax(0)], -1)  # union over the batch
    windows = windows.floor().clamp(0, S).long().tolist()  # one host sync per batch
    pix = torch.arange(S, device=dev, dtype=dt) + 0.5
    light = inp.light.view(B, 3, 1, 1)
    amb = inp.ambient.view(B, 1, 1)
    for p in range(P):
        x0, x1, y0, y1 = windows[p]
        x1, y1 = min(x1 + 1, S), min(y1 + 1, S)
        if x1 <= x0 or y1 <= y0:
            continue
        col = lambda t, p=p: t[:, p].view(B, 1, 1)  # noqa: E731
        ua, va, ub, vb = col(u[..., 0]), col(v[..., 0]), col(u[..., 1]), col(v[..., 1])
        du, dv = ub - ua, vb - va
        inv_len2 = 1.0 / (du * du + dv * dv + 1e-9)
        pu, pv = pix[x0:x1].view(1, 1, -1) - ua, pix[y0:y1].view(1, -1, 1) - va  # (B, 1, w), (B, h, 1)
        t = (pu * (du * inv_len2) + pv * (dv * inv_len2)).clamp_(0.0, 1.0)  # (B, h, w)
        eu, ev = pu - t * du, pv - t * dv
        r0, r1 = col(rho[..., 0]), col(rho[..., 1])
        inv_rp = 1.0 / (r0 + t * (r1 - r0) + 1e-12)
        nx, ny = eu * inv_rp, ev * inv_rp
        d2 = nx * nx + ny * ny
        bulge = (1.0 - d2).clamp_(min=0.0).sqrt_()
        R0, R1 = col(radii[..., 0]), col(radii[..., 1])
        z0, z1 = col(z[..., 0]), col(z[..., 1])
        zz = z0 + t * (z1 - z0) - (R0 + t * (R1 - R0)) * bulge
        win_depth = depth[:, y0:y1, x0:x1]
        hit = (d2 < 1.0) & (zz < win_depth)  # (B, h, w)
        # Lambert on the swept sphere's normal (nx, ny, -bulge), with ambient light.
        lam = (nx * light[:, 0] + ny * light[:, 1] - bulge * light[:, 2]).clamp_(min=0.0)
        shade = amb + (1.0 - amb) * lam
        if textured[p]:  # stripes along the capsule; checker adds a pattern around it
            wave = torch.sin((6.2831853 * col(texture[..., 1])) * t)
            if checkered[p]:
                wave = torch.where(col(kind) == 2, wave * torch.sin(9.42 * nx), wave)
            shade = shade * (1.0 - col(tex_amp) * (wave > 0).to(dt))
        torch.where(hit, zz, win_depth, out=win_depth)
        win_shade, win_id = shading[:, y0:y1, x0:x1], winner[:, y0:y1, x0:x1]
        torch.where(hit, shade, win_shade, out=win_shade)
        win_id.masked_fill_(hit, p)
    body = winner >= 0
    safe = winner.clamp(min=0)
    rgb = torch.gather(color, 1, safe.view(B, -1, 1).expand(-1, -1, 3)).view(B, S, S, 3).permute(0, 3, 1, 2)
    image.copy_(torch.where(body.unsqueeze(1), rgb * shading.unsqueeze(1), image))
    part = torch.where(body, inp.part[safe], part)
    return RenderOutput(image, depth, part)  # colours never exceed 1: base colour x shade <= 1
