"""Acclaim ASF/AMC motion capture (the CMU Graphics Lab database's format): joint centres over time.

The ``.asf`` file is the subject's skeleton: units, the root, per bone its direction and length (in the parent-free
"global" frame of the zero pose), its local axis (Euler angles, XYZ) and degrees of freedom; ``:hierarchy`` the
parent of each bone. The ``.amc`` file is the motion: per frame a number, then one line per bone with its values in
the order of its ``dof``. A bone's world rotation is ``parent · C · R(dof) · C⁻¹`` (C its axis rotation, R = Rz Ry Rx
of its angles), its end ``start + length · rotation · direction``; the root places everything. Lengths are in the
file's unit (``length 0.45``: 1/0.45 inch), turned into metres here. Y is up.

Where a bone ends is a joint of ours: ``lhipjoint`` ends at the left hip, ``lfemur`` at the knee, ``ltibia`` at the
ankle, ``lclavicle`` at the shoulder, ``lhumerus`` at the elbow, ``lradius`` at the wrist (``l``: the subject's
left).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["AcclaimError", "ACCLAIM_TO_JOINTS", "read_asf", "read_amc", "amc_joint_centres", "AMC_FPS"]

AMC_FPS = 120.0  # the CMU database's capture rate (AMC files carry no time)
INCH_M = 0.0254
ACCLAIM_TO_JOINTS = {"rhipjoint": "hip_r", "rfemur": "knee_r", "rtibia": "ankle_r",
                     "lhipjoint": "hip_l", "lfemur": "knee_l", "ltibia": "ankle_l",
                     "rclavicle": "shoulder_r", "rhumerus": "elbow_r", "rradius": "wrist_r",
                     "lclavicle": "shoulder_l", "lhumerus": "elbow_l", "lradius": "wrist_l"}  # bone -> joint at its end


class AcclaimError(ValueError):
    """An ASF or AMC file we cannot read; the message names the file, the line and what was wrong."""


@dataclass
class Bone:
    name: str
    direction: np.ndarray  # (3,) unit, zero pose
    length: float  # metres
    axis: np.ndarray  # (3, 3) C
    dof: list[str] = field(default_factory=list)  # rx, ry, rz (tx, ty, tz for the root)
    parent: str | None = None
    unit: float = 1.0  # metres per file unit (the root's translation values)


def _euler_xyz(deg: np.ndarray) -> np.ndarray:
    """R = Rz(z) Ry(y) Rx(x) for angles (..., 3) in degrees -> (..., 3, 3)."""
    x, y, z = np.radians(deg[..., 0]), np.radians(deg[..., 1]), np.radians(deg[..., 2])
    cx, sx, cy, sy, cz, sz = np.cos(x), np.sin(x), np.cos(y), np.sin(y), np.cos(z), np.sin(z)
    R = np.empty(deg.shape[:-1] + (3, 3))
    R[..., 0, 0], R[..., 0, 1], R[..., 0, 2] = cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx
    R[..., 1, 0], R[..., 1, 1], R[..., 1, 2] = sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx
    R[..., 2, 0], R[..., 2, 1], R[..., 2, 2] = -sy, cy * sx, cy * cx
    return R


def read_asf(path: str | Path) -> dict[str, Bone]:
    """The skeleton of an ``.asf`` file: bones by name (the root as ``root``), parents filled, lengths in metres."""
    path = Path(path)
    try:
        lines = path.read_text(errors="strict").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise AcclaimError(f"'{path}' cannot be read as an ASF skeleton ({exc})") from exc
    scale, section, bones, cur = INCH_M, None, {}, None
    root = Bone("root", np.zeros(3), 0.0, np.eye(3), ["tx", "ty", "tz", "rx", "ry", "rz"])
    bones["root"] = root
    for n, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        try:
            if line.startswith(":"):
                section = words[0]
                continue
            if section == ":units" and words[0] == "length":
                scale = INCH_M / float(words[1])
            elif section == ":root" and words[0] == "order":
                root.dof = [w.lower() for w in words[1:]]
            elif section == ":root" and words[0] == "axis" and words[1].upper() != "XYZ":
                raise AcclaimError(f"'{path}' line {n}: root axis order {words[1]} (only XYZ is read)")
            elif section == ":bonedata":
                if words[0] == "begin":
                    cur = {"dof": []}
                elif words[0] == "end":
                    if cur is None or not {"name", "direction", "length", "axis"} <= set(cur):
                        raise AcclaimError(f"'{path}' line {n}: a bone without name, direction, length or axis")
                    bones[cur["name"]] = Bone(cur["name"], cur["direction"], cur["length"] * scale,
                                              _euler_xyz(cur["axis"]), cur["dof"])
                    cur = None
                elif cur is not None and words[0] == "name":
                    cur["name"] = words[1]
                elif cur is not None and words[0] == "direction":
                    d = np.array([float(v) for v in words[1:4]])
                    cur["direction"] = d / max(np.linalg.norm(d), 1e-12)
                elif cur is not None and words[0] == "length":
                    cur["length"] = float(words[1])
                elif cur is not None and words[0] == "axis":
                    if len(words) > 4 and words[4].upper() != "XYZ":
                        raise AcclaimError(f"'{path}' line {n}: bone axis order {words[4]} (only XYZ is read)")
                    cur["axis"] = np.array([float(v) for v in words[1:4]])
                elif cur is not None and words[0] == "dof":
                    cur["dof"] = [w.lower() for w in words[1:]]
            elif section == ":hierarchy" and words[0] not in ("begin", "end"):
                for child in words[1:]:
                    if child not in bones:
                        raise AcclaimError(f"'{path}' line {n}: the hierarchy names bone '{child}', which "
                                           ":bonedata does not define")
                    bones[child].parent = words[0]
        except (ValueError, IndexError) as exc:
            if isinstance(exc, AcclaimError):
                raise
            raise AcclaimError(f"'{path}' line {n}: cannot read '{line}' ({exc})") from exc
    root.unit = scale
    orphans = [b.name for b in bones.values() if b.name != "root" and b.parent is None]
    if len(bones) < 2 or orphans:
        raise AcclaimError(f"'{path}' is not a complete ASF skeleton: "
                           + (f"bones without a parent in :hierarchy: {orphans[:5]}" if orphans else "no bones"))
    return bones


def read_amc(path: str | Path, bones: dict[str, Bone]) -> dict[str, np.ndarray]:
    """The frames of an ``.amc`` file: per bone (and ``root``) its values (T, len(dof)) in degrees (root: its
    translation in metres first). A line with the wrong count, a bone the skeleton lacks, frames that skip a bone
    or a file with no frame is an ``AcclaimError`` naming the line."""
    path = Path(path)
    try:
        text = path.read_text(errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise AcclaimError(f"'{path}' cannot be read as AMC motion ({exc})") from exc
    frames: list[dict[str, list[float]]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ":")):
            continue
        words = line.split()
        if len(words) == 1 and words[0].isdigit():
            frames.append({})
            continue
        if not frames:
            raise AcclaimError(f"'{path}' line {n}: bone values before the first frame number")
        name = words[0]
        if name not in bones:
            raise AcclaimError(f"'{path}' line {n}: bone '{name}' is not in the skeleton (another subject's ASF?)")
        want = len(bones[name].dof)
        try:
            vals = [float(v) for v in words[1:]]
        except ValueError as exc:
            raise AcclaimError(f"'{path}' line {n}: a value of '{name}' is not a number ({exc})") from exc
        if len(vals) != want:
            raise AcclaimError(f"'{path}' line {n}: bone '{name}' has {len(vals)} values, its dof need {want} "
                               "(a truncated or corrupt file)")
        frames[-1][name] = vals
    if not frames or not frames[0]:
        raise AcclaimError(f"'{path}' holds no frame")
    names = list(frames[0])
    if len(frames) > 1 and list(frames[-1]) != names and set(frames[-1]) <= set(names):
        frames.pop()  # the last frame cut off mid-write: the file ends early, the frames before it are whole
    bad = next((i for i, f in enumerate(frames) if list(f) != names), None)
    if bad is not None:
        raise AcclaimError(f"'{path}': frame {bad + 1} does not list the same bones as frame 1 (a corrupt file)")
    out = {name: np.array([f[name] for f in frames], dtype=np.float64) for name in names}
    if "root" not in out:
        raise AcclaimError(f"'{path}' has no root line: the body cannot be placed")
    return out


def amc_joint_centres(bones: dict[str, Bone], motion: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every bone's end point over time (T, 3) in metres, Y up (the world of the capture)."""
    root_vals = motion["root"]
    T = len(root_vals)
    dof = bones["root"].dof
    pos = np.stack([root_vals[:, dof.index(a)] for a in ("tx", "ty", "tz")], 1) * bones["root"].unit
    rot = _euler_xyz(np.stack([root_vals[:, dof.index(a)] for a in ("rx", "ry", "rz")], 1))
    world_rot, end = {"root": rot}, {"root": pos}
    children: dict[str, list[str]] = {}
    for b in bones.values():
        if b.parent is not None:
            children.setdefault(b.parent, []).append(b.name)
    stack = list(children.get("root", []))
    while stack:
        name = stack.pop()
        b = bones[name]
        angles = np.zeros((T, 3))
        if name in motion:
            for k, d in enumerate(b.dof):
                if d in ("rx", "ry", "rz"):
                    angles[:, "xyz".index(d[1])] = motion[name][:, k]
        local = b.axis @ _euler_xyz(angles) @ b.axis.T
        world_rot[name] = world_rot[b.parent] @ local
        end[name] = end[b.parent] + b.length * (world_rot[name] @ b.direction)
        stack += children.get(name, [])
    return end

