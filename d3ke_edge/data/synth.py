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
from ..skeleton.fk import FKResult, ForwardKinematics
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


@dataclass
class _Scene:
    """One planned sequence: everything drawn from its seed, ready to be drawn with others in one batch."""

    q: np.ndarray  # (T, n_coords)
    subject: Subject
    cam: Camera
    res: FKResult
    R: torch.Tensor  # world -> camera rotation
    ends: torch.Tensor  # (T, P, 2, 3) capsule ends, camera frame
    joints: torch.Tensor  # (T, J, 3) camera frame
    markers: torch.Tensor  # (T, M, 3) camera frame
    K: torch.Tensor  # (T, 3, 3) crop intrinsics
    K_full: torch.Tensor  # (3, 3)
    boxes: torch.Tensor  # (T, 3)
    ids: tuple[int, int, int]  # subject, sequence, family
    part: torch.Tensor  # (P,)
    radii: torch.Tensor  # (T, P, 2)
    color: torch.Tensor  # (T, P, 3)
    texture: torch.Tensor  # (T, P, 3)
    background: torch.Tensor  # (T, 3, S, S); the image is drawn into it
    light: torch.Tensor  # (T, 3)
    ambient: torch.Tensor  # (T,)


class SynthEngine:
    def __init__(self, cfg: SynthConfig = SynthConfig(), skeleton: Skeleton | None = None):
        self.cfg = cfg
        self.skel = skeleton or builtin_skeleton()
        self.device = torch.device(cfg.device)
        self.fk = ForwardKinematics(self.skel, cfg.dtype).to(self.device)
        self.fk_motion = ForwardKinematics(self.skel, torch.float64)  # CPU float64: feet planting of motions
        self.images = list_images(cfg.backgrounds)

    # --- sequences -----------------------------------------------------------------------------------------------
    def sequence(self, seed: int, subject_id: int = 0, sequence_id: int = 0, motion: np.ndarray | None = None,
                 subject: Subject | None = None, family: str | None = None, as_numpy: bool = True,
                 camera_yaw: float | None = None) -> dict:
        """Render one sequence (numpy arrays, or tensors on the engine's device with ``as_numpy=False``).

        ``motion`` (T, n_coords) replaces the procedural motion and is rendered exactly as given (no re-planting
        of the feet: a motion-capture file keeps its own root height).
        """
        scene = self._prepare(*self._spec(seed, subject_id, sequence_id, motion, subject, family, camera_yaw))
        return self._draw([scene], as_numpy)[0]

    def sequences(self, seeds: list[int], sequence_ids: list[int] | None = None, as_numpy: bool = True) -> list[dict]:
        """Render several procedural sequences in one batched draw; equal to ``sequence(seed, sequence_id=i)`` each.

        Drawing many frames per call is what makes the renderer fast: its cost is a loop over body primitives
        whose per-iteration overhead is shared by every frame in the call.
        """
        ids = list(range(len(seeds))) if sequence_ids is None else list(sequence_ids)
        if len(ids) != len(seeds):
            raise ValueError(f"{len(seeds)} seeds but {len(ids)} sequence ids")
        specs = [self._spec(seed, sequence_id=i) for seed, i in zip(seeds, ids)]
        poses = self._fk([q for q, *_ in specs], [sub.scales for _, sub, *_ in specs])  # one FK for all
        return self._draw([self._prepare(*spec, res=res) for spec, res in zip(specs, poses)], as_numpy)

    def render(self, q: np.ndarray, subject: Subject, cam: Camera, rng: np.random.Generator, subject_id: int,
               sequence_id: int, family_id: int, as_numpy: bool = True, boxes: torch.Tensor | None = None,
               return_maps: bool = False) -> dict:
        """Render given coordinates (T, n) for a subject and camera; returns images (T, S, S, 3) uint8 and labels.

        ``boxes`` (T, 3) overrides the detector-like crops; ``return_maps`` adds the z-buffer ``depth`` and the
        body-part map ``part`` (-1 on background), which the label tests use.
        """
        scene = self._prepare(q, subject, cam, rng, (subject_id, sequence_id, family_id), boxes)
        return self._draw([scene], as_numpy, return_maps)[0]

    # --- the phases: per-sequence draws (subject, motion, camera), FK, per-sequence crops and scene, one draw ----
    def _spec(self, seed: int, subject_id: int = 0, sequence_id: int = 0, motion: np.ndarray | None = None,
              subject: Subject | None = None, family: str | None = None, camera_yaw: float | None = None
              ) -> tuple[np.ndarray, Subject, Camera, np.random.Generator, tuple[int, int, int]]:
        """What a seed decides before rendering: coordinates, subject, camera, and the generator to go on with."""
        rng = np.random.default_rng(seed)
        subject = subject or sample_subject(self.skel, rng)
        if motion is None:
            family = family or self.cfg.families[rng.integers(len(self.cfg.families))]
            q = generate_motion(self.skel, family, rng, self.cfg.seconds, self.cfg.fps, subject.scales, self.fk_motion)
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
        return q, subject, cam, rng, (subject_id, sequence_id, fam_id)

    @torch.no_grad()
    def _fk(self, qs: list[np.ndarray], scales: list[np.ndarray]) -> list[FKResult]:
        """Forward kinematics of several sequences in one call (its cost is per call, not per frame)."""
        dt, dev = self.cfg.dtype, self.device
        q = torch.cat([torch.as_tensor(x, dtype=dt, device=dev) for x in qs])
        s = torch.cat([torch.as_tensor(sc, dtype=dt, device=dev).expand(len(x), -1, -1) for x, sc in zip(qs, scales)])
        res = self.fk(q, s)
        bounds = np.cumsum([0] + [len(x) for x in qs])
        return [FKResult(*(f[a:b] for f in res)) for a, b in zip(bounds[:-1], bounds[1:])]

    def _prepare(self, q: np.ndarray, subject: Subject, cam: Camera, rng: np.random.Generator,
                 ids: tuple[int, int, int], boxes: torch.Tensor | None = None, res: FKResult | None = None) -> _Scene:
        """Crops, scene, light and the capsules in camera frame of one sequence (``res``: its FK, if computed)."""
        dt, dev, S = self.cfg.dtype, self.device, self.cfg.size
        T = len(q)
        table = {k: torch.as_tensor(v, device=dev) for k, v in primitive_table(self.skel, subject).items()}
        for k in ("local_a", "local_b", "radii", "color"):
            table[k] = table[k].to(dt)
        res = self._fk([q], [subject.scales])[0] if res is None else res
        R = torch.as_tensor(cam.rotation, dtype=dt, device=dev)
        t = torch.as_tensor(cam.translation, dtype=dt, device=dev)
        to_cam = lambda x: x @ R.T + t  # noqa: E731
        ends, radii = primitives_in_ground(res, table)
        ends_c = to_cam(ends)  # (T, P, 2, 3)
        K_full = torch.as_tensor(cam.K, dtype=dt, device=dev)
        uv_ends = project(ends_c.flatten(1, 2), K_full)
        rad_px = (radii.flatten().unsqueeze(0) / ends_c.flatten(1, 2)[..., 2]) * K_full[0, 0]
        drawn = crop_boxes(uv_ends, rad_px, rng)  # drawn either way: overriding keeps the other draws unchanged
        boxes = drawn if boxes is None else torch.as_tensor(boxes, dtype=dt, device=dev)
        K = crop_intrinsics(K_full, boxes, S)
        style = sample_scene(rng, cam, self.images)
        tex = torch.as_tensor(
            [subject.texture if textured else (0, 0.0, 0.0) for textured in table["textured"].tolist()], dtype=dt,
            device=dev)
        P = len(radii)
        return _Scene(
            q=q, subject=subject, cam=cam, res=res, R=R, ends=ends_c, joints=to_cam(res.joint_centres),
            markers=to_cam(res.markers), K=K, K_full=K_full, boxes=boxes, ids=ids, part=table["part"],
            radii=radii.expand(T, P, 2), color=table["color"].expand(T, P, 3), texture=tex.expand(T, P, 3),
            background=render_background(cam, style, boxes, S),
            light=torch.as_tensor(_light(rng), dtype=dt, device=dev).expand(T, 3),
            ambient=torch.full((T,), float(rng.uniform(0.35, 0.65)), dtype=dt, device=dev),
        )

    def _draw(self, scenes: list[_Scene], as_numpy: bool, return_maps: bool = False) -> list[dict]:
        """Draw every frame of ``scenes`` in chunks of ``cfg.chunk`` frames and label each scene."""
        dt, dev, S = self.cfg.dtype, self.device, self.cfg.size
        cat = lambda xs: xs[0] if len(xs) == 1 else torch.cat(xs)  # noqa: E731
        fields = ("ends", "radii", "color", "K", "background", "light", "ambient", "texture")
        ends, radii, color, K, image, light, ambient, tex = (cat([getattr(sc, f) for sc in scenes]) for f in fields)
        N = len(ends)
        depth = torch.empty((N, S, S), dtype=dt, device=dev)
        part = torch.empty((N, S, S), dtype=torch.long, device=dev)
        for c0 in range(0, N, self.cfg.chunk):
            sl = slice(c0, c0 + self.cfg.chunk)
            out = render_capsules(RenderInputs(ends[sl], radii[sl], color[sl], K[sl], image[sl], light[sl],
                                               ambient[sl], scenes[0].part, tex[sl]), in_place=True)
            depth[sl], part[sl] = out.depth, out.part  # the image is drawn into ``image`` in place
        images = (image.permute(0, 2, 3, 1) * 255.0 + 0.5).clamp(0, 255).to(torch.uint8)
        results, f0 = [], 0
        for sc in scenes:
            T = len(sc.q)
            sl = slice(f0, f0 + T)
            f0 += T
            labels = self._labels(sc, depth[sl])
            labels.update({k: torch.full((T,), v, dtype=torch.int32, device=dev)
                           for k, v in zip(("subject", "sequence", "family"), sc.ids)})
            labels["frame"] = torch.arange(T, dtype=torch.int32, device=dev)
            labels["image"] = images[sl]
            if return_maps:
                labels.update(depth=depth[sl], part=part[sl])
            results.append({k: v.cpu().numpy() for k, v in labels.items()} if as_numpy else labels)
        return results

    def _labels(self, sc: _Scene, depth: torch.Tensor) -> dict[str, torch.Tensor]:
        S = self.cfg.size
        q, subject, cam, res, R, joints_c, markers_c = sc.q, sc.subject, sc.cam, sc.res, sc.R, sc.joints, sc.markers
        K, K_full, boxes = sc.K, sc.K_full, sc.boxes
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
