"""Training data for the landmark model without rendering: the engine's motions and subjects through FK once (a
pose bank), seen by a fresh random phone camera per sample, projected, made BlazePose-like by the measured noise
model, and turned into the model's input features. Labels are the image engine's (same keys, same frames).

A pose bank is a function of (config, seed); the cameras and noise of a batch are a function of a torch generator
seeded by the caller (the training stream seeds it by step), so a resumed run replays its batches. Cameras follow
``data.camera.sample_camera``'s distribution (frame sizes, HFOV 50-75 deg, 2-6 m, height 0.3-2.2 m, roll +-5 deg,
yaw all around or ``yaw_range_deg``), vectorised; the aim wanders off the person by up to half the half-field of view
so the camera features cover people anywhere in the frame. A whole sequence shares one camera that keeps every
root position of it in front and inside the frame (``LandmarkSynth.cameras`` with a path): a clip that travels
12 m is seen from afar rather than run through.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..skeleton.builtin import builtin_skeleton
from ..skeleton.fk import ForwardKinematics
from ..skeleton.markersets import landmark_markers, load_named_marker_set
from ..skeleton.model import GROUND, Skeleton
from ..video.landmarks import LANDMARK_NAMES
from ..video.tracker import mirror_order
from .camera import FRAME_SIZES
from .landmark_input import landmark_box, landmark_features, world_normalise
from .landmark_noise import LandmarkNoise, facing_yaw, yaw_sector
from .motion import FOOT_MARKERS, generate_motion, plant_feet
from .resample import periodic_coordinates, resample_at
from .subjects import sample_subject
from .synth import FAMILY_NAMES, MOTION_FILE_FAMILY

__all__ = ["LandmarkSynthConfig", "PoseBank", "Corruptor", "LandmarkSynth", "landmark_skeleton", "bank_clips",
           "recorded_motion"]


@dataclass(frozen=True)
class LandmarkSynthConfig:
    """What the landmark data holds; every default lives here."""

    sequences: int = 256  # motions (each with its own subject) in the pose bank
    seconds: float = 2.0
    fps: float = 30.0
    families: tuple[str, ...] | None = None  # None: all
    yaw_range_deg: tuple[float, float] | None = None  # camera yaw around the subject (0: front); None: all around
    noise: str = "measured"  # measured (the shipped BlazePose noise rows) | none | a path to a noise .npz
    swaps: float = 1.0  # x the measured left/right swap rate per yaw sector (0: labels never mirrored)
    # Poses beyond the 15 families' styles: every limb/trunk coordinate of a motion gets a smooth random offset of up
    # to this many degrees (a per-sequence constant plus a slow wander, clipped to the coordinate's range). Cheap
    # without rendering; it covers strides and arm positions the families do not make (the Pose2Sim lunge).
    pose_spread_deg: float = 0.0
    world: bool = False  # the features include BlazePose's world landmarks (truth + their measured residuals)
    # Where BlazePose puts a landmark on a body varies from person to person (and differs between real people and
    # our capsule renders, on which the marker set was fitted: the Pose2Sim subject's BlazePose landmarks scale the
    # model's pelvis x1.08 and feet x1.24 against thighs x0.92): each subject's landmarks get a constant offset in
    # their body's frame, normal with this std (metres; clipped at 2 std), so the model cannot lean on exact placement.
    placement_m: float = 0.0
    # Recorded motion (``d3ke-edge motions import``): this fraction of the sequences are windows of the bank's clips
    # of ``motion_bank_split`` (the rest come from the families), each on its own random subject
    motion_bank: str | None = None
    motion_bank_weight: float = 0.0
    motion_bank_split: str = "train"

    def __post_init__(self) -> None:
        if self.sequences < 1 or self.seconds <= 0 or self.fps <= 0:
            raise ValueError(f"sequences, seconds and fps must be positive, got {self.sequences}, {self.seconds}, "
                             f"{self.fps}")
        unknown = sorted(set(self.families or ()) - set(FAMILY_NAMES))
        if unknown:
            raise ValueError(f"unknown motion families {unknown}; choose from {list(FAMILY_NAMES)}")
        if self.noise not in ("measured", "none") and not Path(self.noise).is_file():
            raise ValueError(f"landmark noise must be 'measured', 'none' or a noise .npz file; '{self.noise}' is "
                             "neither")
        if not 0.0 <= self.pose_spread_deg <= 90.0:
            raise ValueError(f"pose_spread_deg must be within 0..90 degrees, got {self.pose_spread_deg}")
        if not 0.0 <= self.placement_m <= 0.1:
            raise ValueError(f"placement_m is a std in metres: within 0..0.1, got {self.placement_m}")
        if not 0.0 <= self.swaps <= 2.0:
            raise ValueError(f"swaps scales the measured swap rates: within 0..2, got {self.swaps}")
        if not 0.0 <= self.motion_bank_weight <= 1.0:
            raise ValueError(f"motion_bank_weight is a fraction of the sequences: within 0..1, got "
                             f"{self.motion_bank_weight}")
        if self.motion_bank_weight > 0 and not self.motion_bank:
            raise ValueError("motion_bank_weight > 0 needs motion_bank: a folder made by d3ke-edge motions import")
        if self.motion_bank and not (Path(self.motion_bank) / "manifest.json").is_file():
            raise ValueError(f"motion_bank '{self.motion_bank}' is not a motion bank (no manifest.json); make one "
                             "with d3ke-edge motions import SRC --out BANK")
        if self.motion_bank_split not in ("train", "val", "test"):
            raise ValueError(f"motion_bank_split must be train, val or test, got '{self.motion_bank_split}'")


def landmark_skeleton(skeleton: Skeleton | None = None) -> tuple[Skeleton, list[str]]:
    """The skeleton with its landmark markers (the shipped BlazePose set merged into the built-in one when missing)."""
    skel = skeleton or builtin_skeleton()
    if not any(m.startswith("bp_") for m in skel.marker_names):
        skel = skel.with_markers(load_named_marker_set("blazepose", skel))
    return skel, landmark_markers(skel, LANDMARK_NAMES)


def spread_pose(skel: Skeleton, q: np.ndarray, spread_deg: float, fps: float, rng: np.random.Generator) -> np.ndarray:
    """``q`` (T, n) with a smooth random offset on every rotational coordinate but the root's: a constant of up to
    ``spread_deg`` plus a wander of half that over 1-3 s, clipped to the coordinate's range."""
    root = set(next(j for j in skel.joints if j.parent == GROUND).coordinates)
    cols = [i for i, c in enumerate(skel.coordinates) if c.is_rotational and c.name not in root and not c.locked
            and c.name not in skel.dependent_coordinates]
    t = np.arange(len(q))[:, None] / fps
    n = len(cols)
    offset = rng.uniform(-1, 1, n) + 0.5 * np.sin(2 * np.pi * t / rng.uniform(1.0, 3.0, n) + rng.uniform(0, 6.3, n))
    out = q.copy()
    out[:, cols] = np.clip(q[:, cols] + np.radians(spread_deg) * offset, skel.ranges[cols, 0], skel.ranges[cols, 1])
    return out


def bank_clips(bank: str | Path, split: str, skel: Skeleton) -> list[tuple[np.ndarray, float]]:
    """The clips of ``split`` in a motion bank (mirrored copies included), as (q in ``skel``'s coordinate order,
    fps); a coordinate the bank lacks takes its default. A split with no clip is an error."""
    import json

    bank = Path(bank)
    manifest = json.loads((bank / "manifest.json").read_text())
    out = []
    for c in manifest["clips"]:
        if c["refused"] or c["split"] != split:
            continue
        for name in (c["id"], f"{c['id']}_mirror") if c.get("mirrored") else (c["id"],):
            with np.load(bank / "clips" / f"{name}.npz") as z:
                names, q = [str(n) for n in z["coordinates"]], z["q"].astype(np.float64)
                fps = float(z["fps"])
            full = np.tile(skel.defaults, (len(q), 1))
            for i, n in enumerate(skel.coordinate_names):
                if n in names:
                    full[:, i] = q[:, names.index(n)]
            out.append((full, fps))
    if not out:
        raise ValueError(f"motion bank '{bank}' has no clip in its {split} split")
    return out


def recorded_motion(skel: Skeleton, clip: tuple[np.ndarray, float], rng: np.random.Generator, seconds: float,
                    fps: float, scales: np.ndarray, fk: ForwardKinematics) -> np.ndarray:
    """A ``seconds`` window of a recorded clip at ``fps`` (a random start; a shorter clip holds its last pose), on a
    subject of body ``scales``: the feet planted per frame for this body plus the clip's own flight (its lowest foot
    above the clip's lowest, at the bank's unit scale), so jumps and runs keep their airborne frames."""
    q, src_fps = clip
    n = int(round(seconds * fps))
    span = (n - 1) / fps
    duration = (len(q) - 1) / src_fps
    start = float(rng.uniform(0.0, max(duration - span, 0.0)))
    window = resample_at(np.arange(len(q)) / src_fps, q, np.minimum(start + np.arange(n) / fps, duration),
                         periodic_coordinates(skel))
    idx = [skel.marker_names.index(m) for m in FOOT_MARKERS if m in skel.marker_names]
    with torch.no_grad():
        y = fk(torch.as_tensor(window, dtype=torch.float64)).markers[:, idx, 1].amin(-1).numpy()
    planted = plant_feet(skel, window, scales=scales, fk=fk)
    planted[:, skel.coordinate_names.index("pelvis_ty")] += y - y.min()
    return planted


@dataclass
class PoseBank:
    """World-frame FK of every frame of ``sequences`` motions: (N, ...) tensors plus each frame's sequence/frame."""

    coordinates: torch.Tensor  # (N, n_coords)
    scales: torch.Tensor  # (S, n_bodies, 3) per sequence
    height: torch.Tensor  # (S,) subject heights
    pelvis_rot: torch.Tensor  # (N, 3, 3) pelvis -> world
    pelvis_origin: torch.Tensor  # (N, 3)
    joints: torch.Tensor  # (N, J, 3) world
    markers: torch.Tensor  # (N, M, 3) world, the skeleton's own markers
    landmarks: torch.Tensor  # (N, 33, 3) world
    sequence: torch.Tensor  # (N,)
    frame: torch.Tensor  # (N,)
    family: torch.Tensor  # (S,)

    @classmethod
    def build(cls, cfg: LandmarkSynthConfig, seeds: list[int], skeleton: Skeleton | None = None) -> "PoseBank":
        base = skeleton or builtin_skeleton()
        skel, lm_names = landmark_skeleton(base)
        own = [skel.marker_names.index(m) for m in base.marker_names]
        lm = [skel.marker_names.index(m) for m in lm_names]
        families = cfg.families or FAMILY_NAMES
        fk64 = ForwardKinematics(skel, torch.float64)
        clips = bank_clips(cfg.motion_bank, cfg.motion_bank_split, skel) if cfg.motion_bank_weight > 0 else []
        qs, scales, heights, fams, placement = [], [], [], [], []
        for seed in seeds:
            rng = np.random.default_rng(seed)
            subject = sample_subject(skel, rng)
            # recorded or made: drawn from a stream of its own, so a bank without recorded motion is unchanged
            pick = np.random.default_rng([seed, 1_000_003])
            if clips and pick.random() < cfg.motion_bank_weight:
                q = recorded_motion(skel, clips[pick.integers(len(clips))], pick, cfg.seconds, cfg.fps,
                                    subject.scales, fk64)
                fams.append(MOTION_FILE_FAMILY)
            else:
                family = families[rng.integers(len(families))]
                q = generate_motion(skel, family, rng, cfg.seconds, cfg.fps, subject.scales, fk64)
                fams.append(FAMILY_NAMES.index(family))
            qs.append(spread_pose(skel, q, cfg.pose_spread_deg, cfg.fps, rng) if cfg.pose_spread_deg else q)
            scales.append(subject.scales)
            heights.append(subject.height_m)
            if cfg.placement_m:  # drawn last: the bank without it is unchanged
                placement.append(np.clip(rng.normal(0.0, cfg.placement_m, (len(lm), 3)), -2 * cfg.placement_m,
                                         2 * cfg.placement_m))
        T = [len(q) for q in qs]
        q = torch.as_tensor(np.concatenate(qs), dtype=torch.float32)
        s = torch.as_tensor(np.stack(scales), dtype=torch.float32)
        seq = torch.repeat_interleave(torch.arange(len(seeds)), torch.as_tensor(T))
        fk = ForwardKinematics(skel, torch.float32)
        with torch.no_grad():
            res = [fk(qc, s[sc]) for qc, sc in zip(q.split(4096), seq.split(4096))]
        cat = lambda i: torch.cat([r[i] for r in res])  # noqa: E731
        rot, origin, joints, markers = cat(0), cat(1), cat(2), cat(3)
        landmarks = markers[:, lm].contiguous()
        if placement:
            body = [skel.body_index(skel.markers[i].body) for i in lm]
            off = torch.as_tensor(np.stack(placement), dtype=torch.float32)[seq]  # (N, 33, 3) in the body frames
            landmarks += torch.einsum("nkij,nkj->nki", rot[:, body], off)
        pelvis = skel.body_index("pelvis")
        return cls(q, s, torch.as_tensor(heights, dtype=torch.float32), rot[:, pelvis].contiguous(),
                   origin[:, pelvis].contiguous(), joints, markers[:, own].contiguous(), landmarks,
                   seq, torch.cat([torch.arange(t) for t in T]), torch.as_tensor(fams))

    def __len__(self) -> int:
        return len(self.coordinates)


def _look_at(pos: torch.Tensor, target: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """World->camera rotations (N, 3, 3) for cameras at ``pos`` looking at ``target`` with world y up (as look_at)."""
    f = torch.nn.functional.normalize(target - pos, dim=-1)
    up = torch.tensor([0.0, 1.0, 0.0]).expand_as(f)
    r = torch.nn.functional.normalize(torch.cross(f, up, dim=-1), dim=-1)
    d = torch.cross(f, r, dim=-1)
    rot = torch.stack([r, d, f], -2)
    c, s = torch.cos(roll), torch.sin(roll)
    z, o = torch.zeros_like(c), torch.ones_like(c)
    roll_m = torch.stack([torch.stack([c, -s, z], -1), torch.stack([s, c, z], -1), torch.stack([z, z, o], -1)], -2)
    return roll_m @ rot


def _keep_in_view(path: torch.Tensor, pos: torch.Tensor, R: torch.Tensor, tan_half_w: torch.Tensor,
                  aspect: torch.Tensor, near: float = 1.5, inside: float = 0.8) -> torch.Tensor:
    """Camera positions (N, 3) moved back along their optical axes (rows 2 of R, (N, 3, 3)) until every point of
    ``path`` (N, T, 3) is ``near`` metres in front and within ``inside`` of the half-frame (half-width tangent
    ``tan_half_w`` (N,), height/width ``aspect`` (N,)). Backing away along the axis leaves x and y in the camera
    unchanged, so the distance needed is exact; a camera already far enough does not move."""
    p = (path - pos[:, None]) @ R.transpose(1, 2)
    tx, ty = (tan_half_w * inside)[:, None], (tan_half_w * aspect * inside)[:, None]
    need = torch.maximum(torch.maximum(p[..., 0].abs() / tx, p[..., 1].abs() / ty), torch.full_like(tx, near))
    back = (need - p[..., 2]).amax(1).clamp_min(0.0)
    return pos - back[:, None] * R[:, 2]


class Corruptor:
    """Projected landmarks -> BlazePose-like ones, per the config's noise (measured rows, or none) and swap scale."""

    def __init__(self, cfg: LandmarkSynthConfig):
        self.cfg = cfg
        self.noise = None if cfg.noise == "none" else LandmarkNoise.load() if cfg.noise == "measured" else \
            LandmarkNoise.load(cfg.noise)
        self.mirror = torch.as_tensor(mirror_order())
        if cfg.world and self.noise is not None and self.noise.world_residual is None:
            raise ValueError(f"the noise model '{self.noise.source}' has no world landmark residuals; measure it again "
                             "with python benchmarks/blazepose_on_renders.py")

    def corrupt(self, xy: torch.Tensor, pelvis_rot_cam: torch.Tensor, gen: torch.Generator, noise_state=None,
                world: torch.Tensor | None = None):
        """Projected landmarks (N, 33, 2) px made BlazePose-like: a measured frame's residuals (scaled by the landmark
        box), visibilities and presences from the body's yaw sector, and the sector's left/right swap rate.
        ``noise_state``: a function that turns this frame's draw into a correlated one (sequences). ``world``: the
        landmarks in camera coordinates (N, 33, 3), made into BlazePose-like world landmarks (normalised, plus the
        same measured frame's world residuals). -> xy, vis, pres, world (or None)."""
        n = len(xy)
        if world is not None:
            world = world_normalise(world)
        if self.noise is None:
            return xy, torch.ones(n, 33), torch.ones(n, 33), world
        sector = yaw_sector(facing_yaw(pelvis_rot_cam))
        res, vis, pres, wres = self.noise.draw(sector, gen)
        if world is not None:
            res = torch.cat([res, wres], -1)  # image and world residuals drift together (one AR state)
        if noise_state is not None:
            res = noise_state(res)
        _, side = landmark_box(xy)
        xy = xy + res[..., :2] * side[:, None]
        if world is not None:
            world = world + res[..., 2:]
        swap = self.noise.swaps(sector, gen, self.cfg.swaps)
        mirrored = lambda a: torch.where(swap.view(-1, *([1] * (a.dim() - 1))), a[:, self.mirror], a)  # noqa: E731
        return mirrored(xy), mirrored(vis), mirrored(pres), None if world is None else mirrored(world)

    def ar_noise(self):
        """A fresh noise state for one batch of sequences: AR(1) with the measured lag-1 autocorrelation per landmark
        (e_t = rho e_t-1 + sqrt(1 - rho^2) d_t, d_t this frame's draw: the variance is kept, the heavy tails of the
        measured rows are softened; visibility and presence are the current draw's)."""
        rho = (self.noise.rho if self.noise is not None else torch.zeros(33))[None, :, None]
        prev: list[torch.Tensor] = []

        def step(d: torch.Tensor) -> torch.Tensor:
            e = d if not prev else rho * prev[-1] + torch.sqrt(1 - rho**2) * d
            prev[:] = [e]
            return e

        return step


class LandmarkSynth:
    """Samples (``batch``) and whole sequences (``sequences``) of landmark inputs with labels from one pose bank."""

    def __init__(self, bank: PoseBank, cfg: LandmarkSynthConfig):
        self.bank, self.cfg = bank, cfg
        self.corruptor = Corruptor(cfg)
        self.sizes = torch.tensor(FRAME_SIZES, dtype=torch.float32)

    # --- cameras ---------------------------------------------------------------------------------------------------
    def cameras(self, idx: torch.Tensor, gen: torch.Generator, path: torch.Tensor | None = None):
        """Random cameras for bank frames ``idx`` (N,): K (N, 3, 3), R (N, 3, 3), position (N, 3). With ``path``
        (N, T, 3: the root positions a camera must watch, a whole sequence's) each looks at the middle of its path
        and stands back far enough that every one of them is in front of it and inside its frame (a sprint of 12 m
        is filmed from afar, not run through)."""
        b, n = self.bank, len(idx)
        u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=gen)  # noqa: E731
        wh = self.sizes[torch.randint(len(self.sizes), (n,), generator=gen)]
        hfov = torch.deg2rad(u(50.0, 75.0))
        f = wh[:, 0] / 2 / torch.tan(hfov / 2)
        if self.cfg.yaw_range_deg is None:
            yaw = u(0.0, 2 * math.pi)
        else:
            yaw = torch.deg2rad(u(*self.cfg.yaw_range_deg))
        dist, cam_h, roll = u(2.0, 6.0), u(0.3, 2.2), torch.deg2rad(u(-5.0, 5.0))
        seq = b.sequence[idx]
        centre = b.pelvis_origin[idx] if path is None else (path.amin(1) + path.amax(1)) / 2
        target = torch.stack([centre[:, 0], 0.9 * b.height[seq] / 1.75, centre[:, 2]], -1)
        pos = torch.stack([target[:, 0] + dist * torch.cos(yaw), cam_h, target[:, 2] + dist * torch.sin(yaw)], -1)
        # aim off the person: up to half the half-field of view sideways and half the vertical one up/down
        R0 = _look_at(pos, target, torch.zeros(n))
        half_w = dist * torch.tan(hfov / 2)
        half_h = half_w * wh[:, 1] / wh[:, 0]
        shift = torch.stack([u(-0.5, 0.5) * half_w, u(-0.5, 0.5) * half_h], -1)
        aim = target + shift[:, :1] * R0[:, 0] + shift[:, 1:] * R0[:, 1]
        R = _look_at(pos, aim, roll)
        if path is not None:
            pos = _keep_in_view(path, pos, R, torch.tan(hfov / 2), wh[:, 1] / wh[:, 0])
        K = torch.zeros(n, 3, 3)
        K[:, 0, 0] = K[:, 1, 1] = f
        K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = wh[:, 0] / 2, wh[:, 1] / 2, 1.0
        return K, R, pos

    # --- samples ---------------------------------------------------------------------------------------------------
    def _views(self, idx: torch.Tensor, K, R, pos, gen, noise_state=None):
        b = self.bank
        to_cam = lambda x: (x - pos[:, None]) @ R.transpose(1, 2)  # noqa: E731
        lm = to_cam(b.landmarks[idx])
        xy = lm[..., :2] / lm[..., 2:].clamp_min(1e-3) * torch.stack([K[:, 0, 0], K[:, 1, 1]], -1)[:, None] \
            + K[:, None, :2, 2]
        pelvis_rot_cam = R @ b.pelvis_rot[idx]
        xy, vis, pres, world = self.corruptor.corrupt(xy, pelvis_rot_cam, gen, noise_state,
                                                      lm if self.cfg.world else None)
        root = b.pelvis_origin[idx][:, None]
        rel = lambda x: (x - root) @ R.transpose(1, 2)  # noqa: E731
        return {"landmarks": landmark_features(xy, vis, pres, K, world),
                "coordinates": b.coordinates[idx], "coordinates_valid": torch.ones_like(b.coordinates[idx], dtype=torch.bool),
                "scales": b.scales[b.sequence[idx]], "pelvis_rot_cam": pelvis_rot_cam,
                "joints_rel": rel(b.joints[idx]), "markers_rel": rel(b.markers[idx]),
                "landmarks_2d": xy, "visibility": vis, "K": K, "sequence": b.sequence[idx], "frame": b.frame[idx],
                **({} if world is None else {"world_landmarks": world})}

    def views(self, idx: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """Bank frames ``idx`` (N,), each through its own random camera and noise draw."""
        return self._views(idx, *self.cameras(idx, gen), gen)

    def batch(self, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """``n`` independent samples: a random bank frame, camera and noise draw each."""
        return self.views(torch.randint(len(self.bank), (n,), generator=gen), gen)

    def sequences(self, which: list[int], gen: torch.Generator, frames: int | None = None) -> dict[str, torch.Tensor]:
        """Whole bank sequences ``which`` (each seen by one camera), (n, T, ...); ``frames`` cuts them to T frames."""
        b = self.bank
        starts = torch.cumsum(torch.bincount(b.sequence), 0) - torch.bincount(b.sequence)
        lengths = torch.bincount(b.sequence)[which]
        T = int(lengths.min()) if frames is None else frames
        if T > int(lengths.min()):
            raise ValueError(f"sequences have {int(lengths.min())} frames, fewer than the {T} asked for")
        idx = (starts[which][:, None] + torch.arange(T)).T.reshape(-1)  # time-major: (T * n,)
        n = len(which)
        K, R, pos = self.cameras(idx[:n], gen, b.pelvis_origin[idx].reshape(T, n, 3).transpose(0, 1))
        outs, state = [], self.corruptor.ar_noise()
        for t in range(T):
            outs.append(self._views(idx[t * n : (t + 1) * n], K, R, pos, gen, state))
        return {k: torch.stack([o[k] for o in outs], 1) for k in outs[0]}
