"""Procedural, human-like motion for the built-in skeleton (coordinate names of Rajagopal/OpenCap).

Each family draws its own speed, amplitude and style from the generator and returns coordinates
(T, n_coords) in the skeleton's order, radians/metres. All curves are sums of sinusoids, smooth steps and
low-pass random drifts (so velocities and accelerations stay human), clipped into the coordinate ranges, with
the root height set so that the lowest foot marker touches the floor (plus a flight phase for jumps).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..skeleton.fk import ForwardKinematics
from ..skeleton.model import Skeleton

__all__ = ["FAMILIES", "generate_motion", "walking", "plant_feet", "FOOT_MARKERS"]

FOOT_MARKERS = ("heel_r", "heel_l", "toe_r", "toe_l", "mt1_r", "mt1_l", "mt5_r", "mt5_l")
_deg = np.radians


class _Pose:
    """Named access to a (T, n) coordinate array with helpers for smooth curves."""

    def __init__(self, skel: Skeleton, t: np.ndarray, rng: np.random.Generator):
        self.skel, self.t, self.rng = skel, t, rng
        self.q = np.tile(skel.defaults, (len(t), 1))
        self.q[:, skel.coordinate_names.index("pelvis_ty")] = 0.0
        self.flight = np.zeros(len(t))

    def __setitem__(self, name: str, values) -> None:
        self.q[:, self.skel.coordinate_names.index(name)] = values

    def __getitem__(self, name: str) -> np.ndarray:
        return self.q[:, self.skel.coordinate_names.index(name)]

    def add(self, name: str, values) -> None:
        self[name] = self[name] + values

    def both(self, stem: str, right, left=None) -> None:
        self[f"{stem}_r"] = right
        self[f"{stem}_l"] = right if left is None else left

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def cycle(self, period: float) -> np.ndarray:
        """Phase (rad) of a repeated movement with a random start."""
        return 2 * np.pi * self.t / period + self.u(0, 2 * np.pi)

    def phase01(self, lo: float, hi: float) -> np.ndarray:
        """Phase in [0, 1) of a repeated movement whose period is drawn from [lo, hi] s, with a random start."""
        period = self.u(lo, hi)
        return (self.t / period + self.u(0, 1)) % 1.0

    def bump(self, period: float) -> np.ndarray:
        """0 -> 1 -> 0 smoothly once per period (a repeated down-and-up movement)."""
        return 0.5 - 0.5 * np.cos(self.cycle(period))

    def drift(self, amp_deg: float, cutoff_s: float = 1.5) -> np.ndarray:
        """Low-pass random walk (smooth style variation) of roughly +-amp_deg."""
        n = len(self.t)
        knots = max(2, int(np.ceil(self.t[-1] / cutoff_s)) + 2) if n > 1 else 2
        xs = np.linspace(self.t[0], self.t[-1] + 1e-9, knots)
        return _deg(np.interp(self.t, xs, self.rng.normal(0, amp_deg, knots)))


def _pulse(phase: np.ndarray, start: float, end: float) -> np.ndarray:
    """A smooth 0 -> 1 -> 0 bump (sin^2, zero slope at both ends) while start <= phase < end, else 0."""
    x = np.clip((phase - start) / (end - start), 0.0, 1.0)
    return np.sin(np.pi * x) ** 2


def _gait(p: _Pose, speed: float, cadence: float, hip: float, knee_swing: float, arm: float, lean: float) -> None:
    ph = 2 * np.pi * (cadence / 2) * p.t + p.u(0, 2 * np.pi)
    for side, shift in (("r", 0.0), ("l", np.pi)):
        s = ph + shift
        p[f"hip_flexion_{side}"] = _deg(hip * 0.4 + hip * np.sin(s))
        knee = 8 + 12 * np.clip(np.sin(s + 0.6), 0, None) + knee_swing * np.clip(np.sin(s - 2.2), 0, None) ** 1.5
        p[f"knee_angle_{side}"] = _deg(knee)
        p[f"ankle_angle_{side}"] = _deg(2 + 12 * np.sin(s - 1.2))
        p[f"arm_flex_{side}"] = _deg(-arm * np.sin(s) + (lean * 1.5 if knee_swing > 70 else 0))
        p[f"arm_add_{side}"] = _deg(-8 + p.u(-3, 3))
        p[f"elbow_flex_{side}"] = _deg((80 if knee_swing > 70 else 20) + 12 * np.sin(s + np.pi))
    p["pelvis_rotation"] = p["pelvis_rotation"] + _deg(6 * np.sin(ph))
    p["pelvis_list"] = _deg(3 * np.sin(2 * ph))
    p["pelvis_tilt"] = _deg(-lean)
    p["lumbar_rotation"] = _deg(-5 * np.sin(ph))
    p["pelvis_tx"] = speed * p.t


def walking(skel: Skeleton, seconds: float = 2.0, fps: float = 30.0, speed: float = 1.3, cadence: float = 1.8) -> np.ndarray:
    """A straight walk along +x (deterministic; the quickstart's sample motion). ``cadence`` in steps/s."""
    p = _Pose(skel, np.arange(int(round(seconds * fps))) / fps, np.random.default_rng(0))
    _gait(p, speed, cadence, hip=25, knee_swing=52, arm=15, lean=0)
    return _finish(p)


def _walk(p: _Pose) -> None:
    _gait(p, p.u(0.8, 1.6), p.u(1.5, 2.1), p.u(18, 28), p.u(45, 60), p.u(8, 25), p.u(-3, 5))


def _run(p: _Pose) -> None:
    _gait(p, p.u(2.0, 4.0), p.u(2.5, 3.2), p.u(30, 45), p.u(80, 110), p.u(25, 45), p.u(5, 12))
    ph = 2 * np.pi * p.u(2.5, 3.2) * p.t
    p.flight = np.clip(np.sin(ph), 0, None) * p.u(0.03, 0.1)


def _squat(p: _Pose) -> None:
    b = p.bump(p.u(2.0, 4.0)) * p.u(0.5, 1.0)
    p.both("hip_flexion", _deg(100 * b))
    p.both("knee_angle", _deg(120 * b))
    p.both("ankle_angle", _deg(25 * b))
    p["pelvis_tilt"] = _deg(-30 * b)
    p["lumbar_extension"] = _deg(-15 * b)
    p.both("arm_flex", _deg(p.u(0, 90) * b))


def _lunge(p: _Pose) -> None:
    b = p.bump(p.u(2.5, 4.0)) * p.u(0.6, 1.0)
    front, back = ("r", "l") if p.rng.random() < 0.5 else ("l", "r")
    p[f"hip_flexion_{front}"] = _deg(15 + 75 * b)
    p[f"knee_angle_{front}"] = _deg(5 + 85 * b)
    p[f"ankle_angle_{front}"] = _deg(15 * b)
    p[f"hip_flexion_{back}"] = _deg(-15 - 10 * b)
    p[f"knee_angle_{back}"] = _deg(10 + 80 * b)
    p[f"ankle_angle_{back}"] = _deg(-25 * b)
    p[f"mtp_angle_{back}"] = _deg(25 * b)
    p.both("arm_add", _deg(-10 - 20 * b))


def _jump(p: _Pose) -> None:
    ph = p.phase01(1.2, 2.0)
    crouch = _pulse(ph, 0.0, 0.5) * p.u(0.5, 1.0)
    air = _pulse(ph, 0.5, 1.0)
    p.flight = air * p.u(0.15, 0.4)
    p.both("hip_flexion", _deg(70 * crouch))
    p.both("knee_angle", _deg(5 + 90 * crouch))
    p.both("ankle_angle", _deg(20 * crouch - 25 * air))
    p["pelvis_tilt"] = _deg(-25 * crouch)
    p.both("arm_flex", _deg(-40 * crouch + 120 * air))


def _jumping_jack(p: _Pose) -> None:
    b = p.bump(p.u(0.8, 1.4))
    p.both("hip_adduction", _deg(-25 * b))
    p.both("arm_add", _deg(-10 - 150 * b))
    p.both("knee_angle", _deg(10 + 10 * b))
    p.flight = np.abs(np.sin(np.pi * b)) * p.u(0.03, 0.1)


def _arm_raise(p: _Pose) -> None:
    b1, b2 = p.bump(p.u(2.0, 4.0)), p.bump(p.u(2.0, 4.0))
    how = p.rng.integers(3)
    if how == 0:
        p.both("arm_flex", _deg(170 * b1), _deg(170 * b2))
    elif how == 1:
        p.both("arm_add", _deg(-10 - 160 * b1), _deg(-10 - 160 * b2))
    else:
        p.both("arm_flex", _deg(90 * b1), _deg(90 * b1))
        p.both("arm_add", _deg(-10 - 80 * b2), _deg(-10 - 80 * b2))
    p.both("elbow_flex", _deg(p.u(0, 40) * b1))


def _wave(p: _Pose) -> None:
    side = "r" if p.rng.random() < 0.5 else "l"
    p[f"arm_add_{side}"] = _deg(-100 + p.u(-20, 20))
    p[f"arm_rot_{side}"] = _deg(40)
    p[f"elbow_flex_{side}"] = _deg(80 + 30 * np.sin(p.cycle(p.u(0.5, 1.0))))
    p[f"wrist_dev_{side}"] = _deg(15 * np.sin(p.cycle(p.u(0.5, 1.0))))


def _reach(p: _Pose) -> None:
    b = p.bump(p.u(2.0, 3.5))
    side = "r" if p.rng.random() < 0.5 else "l"
    p[f"arm_flex_{side}"] = _deg(p.u(40, 150) * b)
    p[f"arm_add_{side}"] = _deg(p.u(-60, 20) * b)
    p[f"elbow_flex_{side}"] = _deg(70 - 60 * b)
    p["lumbar_extension"] = _deg(-p.u(0, 30) * b)
    p["lumbar_rotation"] = _deg(p.u(-25, 25) * b)
    p.both("hip_flexion", _deg(p.u(0, 40) * b))


def _throw(p: _Pose) -> None:
    ph = p.phase01(1.5, 2.5)
    wind = _pulse(ph, 0.0, 0.6)
    release = _pulse(ph, 0.6, 1.0)
    side = "r" if p.rng.random() < 0.5 else "l"
    sign = 1 if side == "r" else -1
    p[f"arm_add_{side}"] = _deg(-90 * wind - 30 * release)
    p[f"arm_rot_{side}"] = _deg(-60 * wind + 50 * release)
    p[f"arm_flex_{side}"] = _deg(-30 * wind + 100 * release)
    p[f"elbow_flex_{side}"] = _deg(90 * wind + 20 * release)
    p["lumbar_rotation"] = _deg(sign * (25 * wind - 30 * release))
    p["pelvis_rotation"] = p["pelvis_rotation"] + _deg(sign * (15 * wind - 20 * release))


def _kick(p: _Pose) -> None:
    ph = p.phase01(1.5, 2.5)
    back = _pulse(ph, 0.0, 0.4)
    swing = _pulse(ph, 0.4, 1.0)
    side = "r" if p.rng.random() < 0.5 else "l"
    p[f"hip_flexion_{side}"] = _deg(-25 * back + p.u(60, 100) * swing)
    p[f"knee_angle_{side}"] = _deg(80 * back + 20 * swing)
    p[f"ankle_angle_{side}"] = _deg(-30 * swing)
    other = "l" if side == "r" else "r"
    p[f"knee_angle_{other}"] = _deg(15 + 10 * swing)
    p.both("arm_add", _deg(-30 - 20 * swing))


def _bend(p: _Pose) -> None:
    b = p.bump(p.u(2.5, 4.5)) * p.u(0.5, 1.0)
    p["pelvis_tilt"] = _deg(-60 * b)
    p["lumbar_extension"] = _deg(-45 * b)
    p.both("hip_flexion", _deg(60 * b))
    p.both("knee_angle", _deg(p.u(0, 30) * b))
    p.both("arm_flex", _deg(60 * b))


def _twist(p: _Pose) -> None:
    s = np.sin(p.cycle(p.u(1.5, 3.0)))
    p["lumbar_rotation"] = _deg(p.u(25, 45) * s)
    p["pelvis_rotation"] = p["pelvis_rotation"] + _deg(p.u(5, 20) * s)
    p.both("arm_add", _deg(-70 + p.u(-20, 20)))
    p.both("elbow_flex", _deg(p.u(0, 90)))


def _sit_stand(p: _Pose) -> None:
    b = np.clip(0.5 - 0.5 * np.cos(p.cycle(p.u(3.0, 5.0))) * 1.2, 0, 1)
    p.both("hip_flexion", _deg(90 * b))
    p.both("knee_angle", _deg(95 * b))
    p.both("ankle_angle", _deg(10 * b))
    p["pelvis_tilt"] = _deg(-20 * b * (1 - b) * 4)
    p.both("arm_flex", _deg(30 * b))


def _stretch(p: _Pose) -> None:
    b = p.bump(p.u(3.0, 5.0))
    how = p.rng.integers(3)
    if how == 0:  # side bend with arm overhead
        side = p.u(-1, 1)
        p["lumbar_bending"] = _deg(35 * b * np.sign(side))
        p["arm_add_r" if side > 0 else "arm_add_l"] = _deg(-160 * b)
    elif how == 1:  # quadriceps stretch
        side = "r" if p.rng.random() < 0.5 else "l"
        p[f"knee_angle_{side}"] = _deg(130 * b)
        p[f"hip_flexion_{side}"] = _deg(-10 * b)
        p[f"arm_flex_{side}"] = _deg(-40 * b)
        p[f"elbow_flex_{side}"] = _deg(60 * b)
    else:  # reach up on toes
        p.both("arm_flex", _deg(175 * b))
        p.both("ankle_angle", _deg(-30 * b))
        p.both("mtp_angle", _deg(25 * b))


FAMILIES: dict[str, Callable[[_Pose], None]] = {
    "walk": _walk, "run": _run, "squat": _squat, "lunge": _lunge, "jump": _jump, "jumping_jack": _jumping_jack,
    "arm_raise": _arm_raise, "wave": _wave, "reach": _reach, "throw": _throw, "kick": _kick, "bend": _bend,
    "twist": _twist, "sit_stand": _sit_stand, "stretch": _stretch,
}


def plant_feet(skel: Skeleton, q: np.ndarray, markers: tuple[str, ...] = FOOT_MARKERS, floor: float = 0.0,
               scales: np.ndarray | None = None, fk: ForwardKinematics | None = None) -> np.ndarray:
    """Shift pelvis_ty per frame so that the lowest of ``markers`` sits on the floor (y = ``floor``).

    ``fk``: a float64 CPU ``ForwardKinematics`` of ``skel`` to reuse (building one costs more than running it).
    """
    idx = [skel.marker_names.index(m) for m in markers if m in skel.marker_names]
    if not idx:
        raise ValueError(f"skeleton '{skel.name}' has none of the foot markers {markers}")
    s = None if scales is None else torch.as_tensor(scales).expand(len(q), *scales.shape)
    with torch.no_grad():
        fk = ForwardKinematics(skel, torch.float64) if fk is None else fk
        y = fk(torch.as_tensor(q, dtype=torch.float64), s).markers[:, idx, 1].amin(-1).numpy()
    out = q.copy()
    out[:, skel.coordinate_names.index("pelvis_ty")] += floor - y
    return out


def _finish(p: _Pose, scales: np.ndarray | None = None, fk: ForwardKinematics | None = None) -> np.ndarray:
    q = np.clip(p.q, p.skel.ranges[:, 0], p.skel.ranges[:, 1])
    q = plant_feet(p.skel, q, scales=scales, fk=fk)
    q[:, p.skel.coordinate_names.index("pelvis_ty")] += p.flight
    return q


def generate_motion(skel: Skeleton, family: str, rng: np.random.Generator, seconds: float, fps: float,
                    scales: np.ndarray | None = None, fk: ForwardKinematics | None = None) -> np.ndarray:
    """(T, n_coords) of one procedural ``family`` with random style, feet planted for a subject's ``scales``.

    ``fk``: a float64 CPU ``ForwardKinematics`` of ``skel`` to reuse across calls (see ``plant_feet``).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown motion family '{family}'; choose from {sorted(FAMILIES)}")
    p = _Pose(skel, np.arange(max(1, int(round(seconds * fps)))) / fps, rng)
    # Subjects face +x; the camera's yaw gives every viewing direction. (pelvis_rotation is the last of the
    # body-fixed tilt-list-rotation sequence, so it cannot serve as a heading once the pelvis tilts.)
    FAMILIES[family](p)
    for name in ("lumbar_extension", "lumbar_bending", "neck_flexion", "neck_rotation", "neck_bending",
                 "arm_rot_r", "arm_rot_l", "pro_sup_r", "pro_sup_l", "wrist_flex_r", "wrist_flex_l",
                 "hip_rotation_r", "hip_rotation_l", "subtalar_angle_r", "subtalar_angle_l"):
        p.add(name, p.drift(6.0))  # individual style, smooth in time
    p.add("elbow_flex_r", np.abs(p.drift(8.0)))
    p.add("elbow_flex_l", np.abs(p.drift(8.0)))
    return _finish(p, scales, fk)
