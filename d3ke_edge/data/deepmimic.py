"""DeepMimic's motion clips (Peng et al. 2018; the ``humanoid3d`` character): joint centres over time.

A clip is JSON with ``Frames``: per frame ``[dt, root position (3), root quaternion (4, w first), then per joint of
the character in its order a quaternion (spherical joints) or an angle about the joint's z axis (revolute)]``; the
character file (``character_humanoid3d.txt``, beside the clips) gives each joint's parent and its attachment in the
parent's frame. Y is up, metres; the character faces +x with its right side at +z, as an OpenSim model does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DeepMimicError", "DEEPMIMIC_TO_JOINTS", "read_deepmimic", "CHARACTER_FILE"]

CHARACTER_FILE = "character_humanoid3d.txt"
# DeepMimic joint -> our skeleton's joint at the same place. Its root, chest and neck are not where our pelvis, back
# and neck joints are (its neck sits ~10 cm from ours in every frame: a fit to it bends our lumbar spine), so they
# are left out; the shoulders and hips orient the trunk.
DEEPMIMIC_TO_JOINTS = {"right_hip": "hip_r", "right_knee": "knee_r", "right_ankle": "ankle_r",
                       "left_hip": "hip_l", "left_knee": "knee_l", "left_ankle": "ankle_l",
                       "right_shoulder": "shoulder_r", "right_elbow": "elbow_r", "right_wrist": "wrist_r",
                       "left_shoulder": "shoulder_l", "left_elbow": "elbow_l", "left_wrist": "wrist_l"}
_SIZE = {"none": 0, "spherical": 4, "revolute": 1, "fixed": 0}


class DeepMimicError(ValueError):
    """A DeepMimic clip or character we cannot read; names the file and the problem."""


@dataclass(frozen=True)
class _Joint:
    name: str
    kind: str
    parent: int
    attach: np.ndarray  # (3,) in the parent's frame


def _character(path: Path) -> list[_Joint]:
    try:
        joints = json.loads(path.read_text())["Skeleton"]["Joints"]
        out = [_Joint(j["Name"], j["Type"], int(j["Parent"]), np.array([j["AttachX"], j["AttachY"], j["AttachZ"]],
                                                                        float)) for j in joints]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DeepMimicError(f"{path}: not a DeepMimic character file ({exc})") from exc
    if any(j.kind not in _SIZE for j in out) or any(
            np.any([j["AttachThetaX"], j["AttachThetaY"], j["AttachThetaZ"]]) for j in joints):
        raise DeepMimicError(f"{path}: joint types other than {list(_SIZE)} or rotated attachments are not read")
    return out


def _quat_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions, w first (normalised here) -> (..., 3, 3)."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
                     np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
                     np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)


def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s, o, i = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, o], -1), np.stack([s, c, o], -1), np.stack([o, o, i], -1)], -2)


def read_deepmimic(path: str | Path, character: str | Path | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A clip -> (time (T,) s, every joint's centre (T, 3) in metres by DeepMimic name). ``character``: the
    character file (default: ``character_humanoid3d.txt`` beside the clip)."""
    path = Path(path)
    char = Path(character) if character else path.parent / CHARACTER_FILE
    if not char.is_file():
        raise DeepMimicError(f"{path}: its character file '{char}' is missing (the joints' layout comes from it)")
    joints = _character(char)
    try:
        frames = np.array(json.loads(path.read_text())["Frames"], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DeepMimicError(f"{path}: not a DeepMimic clip ({exc})") from exc
    width = 1 + 3 + 4 + sum(_SIZE[j.kind] for j in joints[1:])
    if frames.ndim != 2 or frames.shape[1] != width or len(frames) < 2:
        raise DeepMimicError(f"{path}: frames of {width} values expected for '{char.name}' (at least two), got "
                             f"shape {frames.shape}")
    if not np.isfinite(frames).all():
        raise DeepMimicError(f"{path}: holds non-finite values")
    time = np.concatenate([[0.0], np.cumsum(frames[:-1, 0])])
    rot = [None] * len(joints)
    pos = [None] * len(joints)
    rot[0], pos[0] = _quat_matrix(frames[:, 4:8]), frames[:, 1:4]
    col = 8
    for k, j in enumerate(joints[1:], start=1):
        n = _SIZE[j.kind]
        local = (_quat_matrix(frames[:, col:col + 4]) if j.kind == "spherical" else
                 _rot_z(frames[:, col]) if j.kind == "revolute" else np.broadcast_to(np.eye(3), (len(frames), 3, 3)))
        col += n
        pos[k] = pos[j.parent] + np.einsum("tij,j->ti", rot[j.parent], j.attach)
        rot[k] = rot[j.parent] @ local
    return time, {j.name: pos[k] for k, j in enumerate(joints)}
