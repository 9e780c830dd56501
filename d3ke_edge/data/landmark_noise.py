"""BlazePose's errors on people whose pose is known, measured and replayed: the landmark model's noise model.

Measured by ``benchmarks/blazepose_on_renders.py``: BlazePose runs on the engine's rendered clips (truth known), its
landmarks are compared with the projections of the fitted ``blazepose`` marker set, and every tracked frame is kept as
one row: the 33 residuals in units of the landmark box's side (``landmark_input.landmark_box``), BlazePose's
visibility and presence, the body's yaw to the camera (0: facing it, +-90 deg: side views), whether its left/right
labels had to be mirrored back, its clip and frame, and the residuals of BlazePose's world landmarks (both sides
normalised by ``landmark_input.world_normalise``: hip-centred, unit RMS radius). Nothing is guessed from these rows:

- ``draw``: a whole measured frame's residuals (image and world), visibilities and presences (their joint
  distribution across landmarks kept: a misplaced arm moves all its landmarks) from a frame of the same yaw sector (8 of 45 deg): side
  views' hidden limbs get the errors and low visibilities that BlazePose gave hidden limbs;
- ``swap_rate``: per yaw sector, how often BlazePose's left/right labels were mirrored;
- ``rho``: per landmark, the lag-1 autocorrelation of its residuals in consecutive tracked frames (jitter vs a slowly
  drifting offset), used to draw sequences.

Frames BlazePose missed (no person) are counted (``missed_rate``) but not replayed: infer has no landmarks then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .landmark_input import landmark_box, world_normalise

__all__ = ["NOISE_FILE", "YAW_SECTORS", "facing_yaw", "yaw_sector", "measure_noise", "LandmarkNoise",
           "noise_summary"]

NOISE_FILE = Path(__file__).with_name("noise") / "blazepose_renders.npz"
YAW_SECTORS = 8


def facing_yaw(pelvis_rot_cam: torch.Tensor) -> torch.Tensor:
    """Pelvis orientation in the camera frame (..., 3, 3) -> yaw (...) in radians: where its forward axis (x) points
    in the camera's x-z plane; 0 when the body faces the camera."""
    f = pelvis_rot_cam[..., :, 0]
    return torch.atan2(f[..., 0], -f[..., 2])


def yaw_sector(yaw: torch.Tensor) -> torch.Tensor:
    """Sector k covers yaw (k - 0.5 .. k + 0.5) x 45 deg (k = 0: facing the camera, 2: the body's left side to it)."""
    width = 2 * math.pi / YAW_SECTORS
    return torch.floor(yaw / width + 0.5).long() % YAW_SECTORS


def measure_noise(obs, markers, skeleton, pelvis: str = "pelvis") -> dict[str, np.ndarray]:
    """Rows of the noise model from tracked frames (``landmark_fit.Observations``) and the fitted markers."""
    xs, Xs = [], []
    for m in markers:
        b = skeleton.body_index(m.body)
        X = np.einsum("nij,nj->ni", obs.rot[:, b], obs.scales[:, b] * np.asarray(m.location)) + obs.origin[:, b]
        K = obs.K
        xs.append(np.stack([K[:, 0, 0] * X[:, 0] / X[:, 2] + K[:, 0, 2], K[:, 1, 1] * X[:, 1] / X[:, 2] + K[:, 1, 2]], -1))
        Xs.append(X)
    clean = torch.as_tensor(np.stack(xs, 1))  # (N, 33, 2)
    _, side = landmark_box(clean)
    residual = (torch.as_tensor(obs.xy) - clean) / side.unsqueeze(-1)
    world = world_normalise(torch.as_tensor(obs.world)) - world_normalise(torch.as_tensor(np.stack(Xs, 1)))
    yaw = facing_yaw(torch.as_tensor(obs.rot[:, skeleton.body_index(pelvis)]))
    return {"residual": residual.numpy().astype(np.float32), "world_residual": world.numpy().astype(np.float32),
            "visibility": obs.visibility.astype(np.float32),
            "presence": obs.presence.astype(np.float32), "yaw": yaw.numpy().astype(np.float32),
            "flipped": obs.flipped.astype(bool), "clip": obs.clip.astype(np.int32), "frame": obs.frame.astype(np.int32),
            "missed": np.array(obs.missed), "frames": np.array(len(obs.xy) + obs.missed)}


def _rho(rows: dict[str, np.ndarray]) -> np.ndarray:
    """Lag-1 autocorrelation per landmark over consecutive tracked frames of the same clip (x and y pooled)."""
    r, clip, frame = rows["residual"], rows["clip"], rows["frame"]
    nxt = (clip[1:] == clip[:-1]) & (frame[1:] == frame[:-1] + 1)
    a, b = r[:-1][nxt], r[1:][nxt]  # (M, 33, 2)
    a = a - a.mean(0)
    b = b - b.mean(0)
    return ((a * b).sum((0, 2)) / np.sqrt((a * a).sum((0, 2)) * (b * b).sum((0, 2)))).astype(np.float32)


@dataclass
class LandmarkNoise:
    """The measured rows, grouped by yaw sector, ready to be drawn from (CPU torch)."""

    residual: torch.Tensor  # (N, 33, 2) in landmark-box sides, rows sorted by sector
    visibility: torch.Tensor  # (N, 33)
    presence: torch.Tensor  # (N, 33)
    world_residual: torch.Tensor | None  # (N, 33, 3) normalised world landmarks' residuals (None: not measured)
    start: torch.Tensor  # (S,) first row of each sector
    count: torch.Tensor  # (S,) rows per sector
    swap_rate: torch.Tensor  # (S,)
    rho: torch.Tensor  # (33,)
    missed_rate: float
    source: str

    @classmethod
    def load(cls, path: str | Path = NOISE_FILE) -> "LandmarkNoise":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"noise model '{path}' does not exist: it ships with the package; measure it "
                                    "again with python benchmarks/blazepose_on_renders.py")
        with np.load(path) as z:
            rows = {k: z[k] for k in z.files}
        return cls.from_rows(rows, str(path))

    @classmethod
    def from_rows(cls, rows: dict[str, np.ndarray], source: str = "rows") -> "LandmarkNoise":
        sector = yaw_sector(torch.as_tensor(rows["yaw"], dtype=torch.float32))
        order = torch.argsort(sector, stable=True)
        count = torch.bincount(sector, minlength=YAW_SECTORS)
        if (count == 0).any():
            raise ValueError(f"{source}: no measured frames in yaw sectors {torch.nonzero(count == 0).flatten().tolist()}"
                             "; measure on more clips")
        flipped = torch.as_tensor(rows["flipped"], dtype=torch.float32)
        swap = torch.zeros(YAW_SECTORS).index_add_(0, sector, flipped) / count
        f32 = lambda k: torch.as_tensor(rows[k], dtype=torch.float32)[order].contiguous()  # noqa: E731
        missed = float(rows["missed"]) / max(float(rows["frames"]), 1.0)
        world = f32("world_residual") if "world_residual" in rows else None
        return cls(f32("residual"), f32("visibility"), f32("presence"), world, torch.cumsum(count, 0) - count, count,
                   swap, torch.as_tensor(_rho(rows)), missed, source)

    def draw(self, sector: torch.Tensor, gen: torch.Generator | None = None):
        """One measured frame per entry of ``sector`` (N,): residuals (N, 33, 2), visibility, presence (N, 33),
        world residuals (N, 33, 3) or None."""
        u = torch.rand(sector.shape, generator=gen)
        row = self.start[sector] + (u * self.count[sector]).long().clamp_max(self.count[sector] - 1)
        world = None if self.world_residual is None else self.world_residual[row]
        return self.residual[row], self.visibility[row], self.presence[row], world

    def swaps(self, sector: torch.Tensor, gen: torch.Generator | None = None, scale: float = 1.0) -> torch.Tensor:
        """Whether each frame's left/right labels are mirrored: the sector's measured rate x ``scale``."""
        return torch.rand(sector.shape, generator=gen) < self.swap_rate[sector] * scale


def noise_summary(noise: LandmarkNoise, names: tuple[str, ...]) -> dict:
    """The numbers behind the noise model, for reports: per landmark the residual (% of the landmark box's side)
    median / p90, mean visibility and rho (and the world landmarks' residual in % of their RMS radius when measured);
    per yaw sector the frames and swap rate."""
    err = noise.residual.norm(dim=-1) * 100  # (N, 33)
    per = {n: {"median_pct_box": float(err[:, i].median()), "p90_pct_box": float(err[:, i].quantile(0.9)),
               "visibility_mean": float(noise.visibility[:, i].mean()), "rho": float(noise.rho[i])}
           for i, n in enumerate(names)}
    if noise.world_residual is not None:
        werr = noise.world_residual.norm(dim=-1) * 100  # % of the RMS radius
        for i, n in enumerate(names):
            per[n].update(world_median_pct_rms=float(werr[:, i].median()),
                          world_p90_pct_rms=float(werr[:, i].quantile(0.9)))
    sectors = [{"yaw_deg": k * 360 // YAW_SECTORS if k <= YAW_SECTORS // 2 else k * 360 // YAW_SECTORS - 360,
                "frames": int(noise.count[k]), "swap_rate": float(noise.swap_rate[k])} for k in range(YAW_SECTORS)]
    return {"source": noise.source, "frames": int(noise.count.sum()), "missed_rate": noise.missed_rate,
            "landmarks": per, "sectors": sectors}
