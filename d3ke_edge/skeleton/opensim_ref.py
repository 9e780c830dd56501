"""OpenSim itself as the reference for our FK layer (``opensim`` from PyPI, imported lazily).

``check_against_opensim`` samples poses uniformly inside the coordinate ranges and random per-axis body scales,
lets opensim scale a copy of the model and compute body origins, joint centres and marker positions, and
compares our layer (float64) with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .fk import ForwardKinematics
from .model import GROUND, TRANSLATIONAL, Skeleton
from .osim_parse import load_osim

__all__ = ["CheckReport", "opensim_fk", "sample_poses", "sample_scales", "check_against_opensim", "import_opensim"]

TOLERANCE_M = 1e-5


def import_opensim():
    """Import opensim quietly (its logger prints every model load otherwise)."""
    try:
        import opensim as osim
    except ImportError as exc:  # pragma: no cover - opensim is a pinned dependency
        raise RuntimeError("the 'opensim' package is required for this check: pip install opensim==4.6") from exc
    osim.Logger.setLevelString("error")
    return osim


def sample_poses(skel: Skeleton, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, n_coords) uniform inside each coordinate's range; coupler-dependent columns are left at 0."""
    lo, hi = skel.ranges[:, 0], skel.ranges[:, 1]
    q = rng.uniform(lo, hi, size=(n, len(lo)))
    for name in skel.dependent_coordinates:
        q[:, skel.coordinate_names.index(name)] = 0.0
    return q


def sample_scales(skel: Skeleton, n: int, rng: np.random.Generator, low: float = 0.8, high: float = 1.2) -> np.ndarray:
    """(n, n_bodies, 3) per-axis factors; uniform per body where OpenSim demands it (translational couplers)."""
    s = rng.uniform(low, high, size=(n, len(skel.bodies), 3))
    for b in _uniform_scale_bodies(skel):
        s[:, b, :] = s[:, b, :1]
    return s


def _uniform_scale_bodies(skel: Skeleton) -> list[int]:
    out = []
    for c in skel.couplers:
        dep = skel.coordinate(c.dependent)
        if dep.motion_type == TRANSLATIONAL:
            joint = next(j for j in skel.joints if j.name == dep.joint)
            if joint.parent != GROUND:
                out.append(skel.body_index(joint.parent))
    return out


def _load_reference_model(osim, model_path: Path, markers_path: Path | None):
    model = osim.Model(str(model_path))
    if markers_path is not None:
        model.updateMarkerSet(osim.MarkerSet(str(markers_path)))
    for i in range(model.getCoordinateSet().getSize()):  # the check samples every coordinate, locked or not
        c = model.getCoordinateSet().get(i)
        c.setDefaultLocked(False)
        c.setDefaultClamped(False)
    model.finalizeConnections()
    return model


def opensim_fk(
    skel: Skeleton,
    model_path: str | Path,
    markers_path: str | Path | None,
    q: np.ndarray,
    scales: np.ndarray,
    on_pose: Callable[[], object] | None = None,
) -> dict[str, np.ndarray]:
    """Body origins, joint centres and markers (n, *, 3) computed by opensim, one scaled model copy per pose."""
    osim = import_opensim()
    base = _load_reference_model(osim, Path(model_path), Path(markers_path) if markers_path else None)
    n = len(q)
    out = {
        "body_origins": np.zeros((n, len(skel.bodies), 3)),
        "joint_centres": np.zeros((n, len(skel.joints), 3)),
        "markers": np.zeros((n, len(skel.markers), 3)),
    }
    vec = lambda v: np.array([v.get(0), v.get(1), v.get(2)])  # noqa: E731
    for k in range(n):
        model = base.clone()
        state = model.initSystem()
        scale_set = osim.ScaleSet()
        for b, name in enumerate(skel.body_names):
            sc = osim.Scale()
            sc.setSegmentName(name)
            sc.setScaleFactors(osim.Vec3(*scales[k, b]))
            sc.setApply(True)
            scale_set.cloneAndAppend(sc)
        model.scale(state, scale_set, False)
        state = model.initSystem()
        coords = model.getCoordinateSet()
        for i, name in enumerate(skel.coordinate_names):
            if name not in skel.dependent_coordinates:
                coords.get(name).setValue(state, float(q[k, i]), False)
        for cc in _couplers(osim, model):  # dependents from opensim's own coupler function and scale factor
            ind = coords.get(cc.getIndependentCoordinateNames().get(0)).getValue(state)
            factor = osim.PropertyHelper.getValueDouble(cc.getPropertyByName("scale_factor"))
            value = cc.getFunction().calcValue(osim.Vector(1, ind)) * factor
            coords.get(cc.getDependentCoordinateName()).setValue(state, value, False)
        model.realizePosition(state)
        for b, name in enumerate(skel.body_names):
            out["body_origins"][k, b] = vec(model.getBodySet().get(name).getPositionInGround(state))
        for j, name in enumerate(skel.joint_names):
            out["joint_centres"][k, j] = vec(model.getJointSet().get(name).getChildFrame().getPositionInGround(state))
        for m, name in enumerate(skel.marker_names):
            out["markers"][k, m] = vec(model.getMarkerSet().get(name).getLocationInGround(state))
        if on_pose is not None:
            on_pose()
    return out


def _couplers(osim, model):
    cs = model.getConstraintSet()
    out = []
    for i in range(cs.getSize()):
        cc = osim.CoordinateCouplerConstraint.safeDownCast(cs.get(i))
        if cc is not None:
            out.append(cc)
    return out


@dataclass
class CheckReport:
    model: str
    markers_file: str | None
    n_poses: int
    seed: int
    skeleton_hash: str
    max_body_err_m: float
    max_joint_err_m: float
    max_marker_err_m: float
    tolerance_m: float
    passed: bool
    body_err_m: dict[str, float] = field(default_factory=dict)
    joint_err_m: dict[str, float] = field(default_factory=dict)
    marker_err_m: dict[str, float] = field(default_factory=dict)
    opensim_seconds: float = 0.0
    ours_seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


def check_against_opensim(
    model_path: str | Path,
    markers_path: str | Path | None = None,
    n_poses: int = 50,
    seed: int = 0,
    tolerance_m: float = TOLERANCE_M,
    on_pose: Callable[[], object] | None = None,
) -> CheckReport:
    """Worst position error of our float64 FK against opensim over random poses and body scales."""
    if n_poses < 1:
        raise ValueError(f"n_poses must be at least 1, got {n_poses}")
    skel = load_osim(model_path, markers_path)
    rng = np.random.default_rng(seed)
    q = sample_poses(skel, n_poses, rng)
    scales = sample_scales(skel, n_poses, rng)
    t0 = time.perf_counter()
    ref = opensim_fk(skel, model_path, markers_path, q, scales, on_pose)
    t1 = time.perf_counter()
    fk = ForwardKinematics(skel, dtype=torch.float64)
    with torch.no_grad():
        res = fk(torch.as_tensor(q), torch.as_tensor(scales))
    t2 = time.perf_counter()
    errs = {
        "body": np.linalg.norm(res.body_origins.numpy() - ref["body_origins"], axis=-1).max(0),
        "joint": np.linalg.norm(res.joint_centres.numpy() - ref["joint_centres"], axis=-1).max(0),
        "marker": np.linalg.norm(res.markers.numpy() - ref["markers"], axis=-1).max(0),
    }
    worst = {k: float(v.max()) if v.size else 0.0 for k, v in errs.items()}
    return CheckReport(
        model=str(model_path),
        markers_file=str(markers_path) if markers_path else None,
        n_poses=n_poses,
        seed=seed,
        skeleton_hash=skel.hash,
        max_body_err_m=worst["body"],
        max_joint_err_m=worst["joint"],
        max_marker_err_m=worst["marker"],
        tolerance_m=tolerance_m,
        passed=max(worst.values()) <= tolerance_m,
        body_err_m=dict(zip(skel.body_names, map(float, errs["body"]))),
        joint_err_m=dict(zip(skel.joint_names, map(float, errs["joint"]))),
        marker_err_m=dict(zip(skel.marker_names, map(float, errs["marker"]))),
        opensim_seconds=t1 - t0,
        ours_seconds=t2 - t1,
    )
