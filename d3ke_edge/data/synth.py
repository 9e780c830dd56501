"""The synthetic data engine: subject + motion + camera + scene -> rendered person crops with exact labels.

``SynthEngine.sequence(seed)`` renders one sequence (a subject doing one motion, filmed by one static camera,
cropped per frame like a person detector would) and returns the sample arrays (see ``LABEL_KEYS``). The same
seed gives the same arrays on the same device. Everything is batched torch, so ``device="cuda"`` renders on the
GPU with the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..skeleton.builtin import builtin_skeleton
from ..skeleton.fk import ForwardKinematics
from ..skeleton.model import Skeleton
from .background import list_images, render_background, sample_scene
from .body_shape import primitive_table, primitives_in_ground
from .camera import Camera, crop_boxes, crop_intrinsics, project, sample_camera
from .motion import FAMILIES, generate_motion
from .render import RenderInputs, render_capsules
from .subjects import Subject, sample_subject

__all__ = ["SynthConfig", "SynthEngine", "LABEL_KEYS", "FAMILY_NAMES", "MOTION_FILE_FAMILY", "REAL_DATA_FAMILY"]

FAMILY_NAMES = tuple(FAMILIES)
MOTION_FILE_FAMILY = -1  # family id of sequences driven by a .mot file
REAL_DATA_FAMILY = -2  # family id of frames read from recorded data (BML-MoVi layout)
JOINT_VIS_TOL_M = 0.12  # joint centres lie inside the body: visible if within this depth of the surface
MARKER_VIS_TOL_M = 0.05  # markers sit on the skin

LABEL_KEYS = (
    "coordinates", "coordinates_valid", "scales", "pelvis_rot_cam", "joints_cam", "joints_rel", "markers_cam", "markers_rel",
    "joints_2d", "markers_2d", "joints_vis", "markers_vis", "joints_in_crop", "markers_in_crop", "box", "K",
    "K_full", "cam_R", "cam_t", "subject", "sequence", "frame", "family",
)


@dataclass(frozen=True)
class SynthConfig:
    """What the engine renders; every default lives here."""

    size: int = 256
    fps: float = 30.0
    seconds: float = 2.0
    families: tuple[str, ...] = FAMILY_NAMES
    backgrounds: str | None = None
    chunk: int = 16  # frames rendered together (CPU: ~16; GPU: hundreds)
    yaw_range_deg: tuple[float, float] | None = None  # camera yaw around the subject (0: front); None: all around
    device: str = "cpu"
    dtype: torch.dtype = field(default=torch.float32)

    def __post_init__(self) -> None:
        if not 32 <= self.size <= 1024:
            raise ValueError(f"size must be within 32..1024 pixels, got {self.size}")
        if self.fps <= 0 or self.seconds <= 0:
            raise ValueError(f"fps and seconds must be positive, got fps={self.fps}, seconds={self.seconds}")
        unknown = sorted(set(self.families) - set(FAMILY_NAMES))
        if unknown:
            raise ValueError(f"unknown motion families {unknown}; choose from {list(FAMILY_NAMES)}")


class SynthEngine:
    def __init__(self, cfg: SynthConfig = SynthConfig(), skeleton: Skeleton | None = None):
        self.cfg = cfg
        self.skel = skeleton or builtin_skeleton()
        self.device = torch.device(cfg.device)
        self.fk = ForwardKinematics(self.skel, cfg.dtype).to(self.device)
        self.images = list_images(cfg.backgrounds)

    # --- one sequence --------------------------------------------------------------------------------------------
    def sequence(self, seed: int, subject_id: int = 0, sequence_id: int = 0, motion: np.ndarray | None = None,
                 subject: Subject | None = None, family: str | None = None, as_numpy: bool = True,
                 camera_yaw: float | None = None) -> dict:
        """Render one sequence (numpy arrays, or tensors on the engine's device with ``as_numpy=False``).

        ``motion`` (T, n_coords) replaces the procedural motion and is rendered exactly as given (no re-planting
        of the feet: a motion-capture file keeps its own root height).
        """
        rng = np.random.default_rng(seed)
        subject = subject or sample_subject(self.skel, rng)
        if motion is None:
            family = family or self.cfg.families[rng.integers(len(self.cfg.families))]
            q = generate_motion(self.skel, family, rng, self.cfg.seconds, self.cfg.fps, subject.scales)
            fam_id = FAMILY_NAMES.index(family)
        else:
            q = np.asarray(motion, dtype=np.float64)
            if q.ndim != 2 or q.shape[1] != len(self.skel.coordinates):
                raise ValueError(f"motion must be (T, {len(self.skel.coordinates)}) coordinates, got {q.shape}")
            if not np.all(np.isfinite(q)):
                raise ValueError("motion holds NaN or infinite coordinates")
            fam_id = MOTION_FILE_FAMILY
        root = q[:, self.skel.coordinate_names.index("pelvis_tx")], q[:, self.skel.coordinate_names.index("pelvis_tz")]
        path = np.stack([root[0], np.zeros(len(q)), root[1]], -1)
        target = np.array([path[:, 0].mean(), 0.9 * subject.height_m / 1.75, path[:, 2].mean()])
        if camera_yaw is None and self.cfg.yaw_range_deg is not None:
            camera_yaw = float(np.radians(rng.uniform(*self.cfg.yaw_range_deg)))
        cam = sample_camera(rng, target, path + np.array([0.0, target[1], 0.0]), camera_yaw)
        return self.render(q, subject, cam, rng, subject_id, sequence_id, fam_id, as_numpy)

    def render(self, q: np.ndarray, subject: Subject, cam: Camera, rng: np.random.Generator, subject_id: int,
               sequence_id: int, family_id: int, as_numpy: bool = True, boxes: torch.Tensor | None = None,
               return_maps: bool = False) -> dict:
        """Render given coordinates (T, n) for a subject and camera; returns images (T, S, S, 3) uint8 and labels.

        ``boxes`` (T, 3) overrides the detector-like crops; ``return_maps`` adds the z-buffer ``depth`` and the
        body-part map ``part`` (-1 on background), which the label tests use.
        """
        dt, dev, S = self.cfg.dtype, self.device, self.cfg.size
        T = len(q)
        table = {k: torch.as_tensor(v, device=dev) for k, v in primitive_table(self.skel, subject).items()}
        for k in ("local_a", "local_b", "radii", "color"):
            table[k] = table[k].to(dt)
        scales = torch.as_tensor(subject.scales, dtype=dt, device=dev).expand(T, -1, -1)
        with torch.no_grad():
            res = self.fk(torch.as_tensor(q, dtype=dt, device=dev), scales)
        R = torch.as_tensor(cam.rotation, dtype=dt, device=dev)
        t = torch.as_tensor(cam.translation, dtype=dt, device=dev)
        to_cam = lambda x: x @ R.T + t  # noqa: E731
        ends, radii = primitives_in_ground(res, table)
        ends_c = to_cam(ends)  # (T, P, 2, 3)
        joints_c, markers_c = to_cam(res.joint_centres), to_cam(res.markers)
        K_full = torch.as_tensor(cam.K, dtype=dt, device=dev)
        uv_ends = project(ends_c.flatten(1, 2), K_full)
        rad_px = (radii.flatten().unsqueeze(0) / ends_c.flatten(1, 2)[..., 2]) * K_full[0, 0]
        drawn = crop_boxes(uv_ends, rad_px, rng)  # drawn either way: overriding keeps the other draws unchanged
        boxes = drawn if boxes is None else torch.as_tensor(boxes, dtype=dt, device=dev)
        K = crop_intrinsics(K_full, boxes, S)
        style = sample_scene(rng, cam, self.images)
        background = render_background(cam, style, boxes, S)
        light = torch.as_tensor(_light(rng), dtype=dt, device=dev).expand(T, 3)
        ambient = torch.full((T,), float(rng.uniform(0.35, 0.65)), dtype=dt, device=dev)
        tex = torch.as_tensor(
            [subject.texture if textured else (0, 0.0, 0.0) for textured in table["textured"].tolist()], dtype=dt
        )
        depth = torch.empty((T, S, S), dtype=dt, device=dev)
        part = torch.empty((T, S, S), dtype=torch.long, device=dev)
        for c0 in range(0, T, self.cfg.chunk):
            sl = slice(c0, c0 + self.cfg.chunk)
            out = render_capsules(RenderInputs(ends_c[sl], radii, table["color"], K[sl], background[sl], light[sl],
                                               ambient[sl], table["part"], tex), in_place=True)
            depth[sl], part[sl] = out.depth, out.part
        image = background  # rendered into in place
        labels = self._labels(q, subject, cam, res, R, joints_c, markers_c, K, K_full, boxes, depth)
        ids = {"subject": subject_id, "sequence": sequence_id, "family": family_id}
        labels.update({k: torch.full((T,), v, dtype=torch.int32, device=dev) for k, v in ids.items()})
        labels["frame"] = torch.arange(T, dtype=torch.int32, device=dev)
        labels["image"] = (image.permute(0, 2, 3, 1) * 255.0 + 0.5).clamp(0, 255).to(torch.uint8)
        if return_maps:
            labels.update(depth=depth, part=part)
        if as_numpy:
            return {k: v.cpu().numpy() for k, v in labels.items()}
        return labels

    def _labels(self, q, subject, cam, res, R, joints_c, markers_c, K, K_full, boxes, depth) -> dict[str, np.ndarray]:
        S = self.cfg.size
        pelvis = self.skel.body_index("pelvis")
        root = joints_c[:, pelvis : pelvis + 1]  # pelvis origin = its joint centre (no child offset)
        out = {}
        for name, pts, tol in (("joints", joints_c, JOINT_VIS_TOL_M), ("markers", markers_c, MARKER_VIS_TOL_M)):
            uv = project(pts, K)  # (T, N, 2)
            inside = (uv >= 0).all(-1) & (uv < S).all(-1) & (pts[..., 2] > 0)
            ij = uv.floor().long().clamp(0, S - 1)
            surface = depth.flatten(1).gather(1, ij[..., 1] * S + ij[..., 0])  # z-buffer under each point
            out[f"{name}_2d"] = uv
            out[f"{name}_in_crop"] = inside
            out[f"{name}_vis"] = inside & (pts[..., 2] - surface < tol)
            out[f"{name}_cam"] = pts
            out[f"{name}_rel"] = pts - root
        T, dev = len(q), joints_c.device
        out.update(
            coordinates=torch.as_tensor(q, device=dev),
            coordinates_valid=torch.ones(q.shape, dtype=torch.bool, device=dev),
            scales=torch.as_tensor(subject.scales, device=dev).expand(T, -1, -1),
            pelvis_rot_cam=R @ res.body_rotations[:, pelvis],
            box=boxes, K=K, K_full=K_full.expand(T, 3, 3),
            cam_R=R.expand(T, 3, 3), cam_t=torch.as_tensor(cam.translation, device=dev).expand(T, 3),
        )
        return {k: v if v.dtype == torch.bool else v.to(torch.float32).contiguous() for k, v in out.items()}


def _light(rng: np.random.Generator) -> np.ndarray:
    """A light from the camera's side of the subject, somewhat above (camera frame: y down, z forward)."""
    v = np.array([rng.uniform(-1, 1), rng.uniform(-1.0, -0.1), rng.uniform(-1.0, -0.3)])
    return v / np.linalg.norm(v)
