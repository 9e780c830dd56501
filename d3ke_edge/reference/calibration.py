"""Multi-camera calibrations, read into one form: per camera OpenCV's pinhole model (K, distortion k1 k2 p1 p2 k3),
the world->camera rotation and translation in metres (x right, y down, z forward), and the image size.

Readers (``load_calibration`` picks by name):

- Qualisys ``.qca.txt`` (XML). Measured on the Pose2Sim trial: the file's rotation (r11..r33 by rows) is
  world->camera in Qualisys' camera axes; ``diag(1, -1, -1)`` turns it into OpenCV's; the position is the camera
  centre in millimetres (t = -R c / 1000). Intrinsics are in sub-pixel units of 1/64 px. The image size is the
  ``fov_video`` window.
- Pose2Sim / Anipose ``.toml``: one table per camera with ``name``, ``size``, ``matrix``, ``distortions`` (k1 k2 p1
  p2), ``rotation`` (Rodrigues vector, world->camera) and ``translation`` (metres).
- OpenCV FileStorage ``.yml`` / ``.yaml`` (EasyMocap's layout): ``names``, then per camera ``K_<name>``,
  ``dist_<name>`` and ``R_<name>`` (Rodrigues) or ``Rot_<name>`` (3x3) and ``T_<name>`` (metres), in one file or an
  ``intri.yml`` / ``extri.yml`` pair (give either; the other is read from beside it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..utils.atomic import atomic_write_text

__all__ = ["Camera", "CalibrationError", "load_calibration", "read_qualisys", "read_toml", "read_opencv_yaml",
           "write_toml"]


class CalibrationError(ValueError):
    """A calibration file we cannot use; the message names the file, what is wrong and what to give instead."""


@dataclass
class Camera:
    """One calibrated camera: x_px ~ K distort(R X + t) for world points X in metres."""

    name: str
    K: np.ndarray  # (3, 3)
    dist: np.ndarray  # (5,) k1 k2 p1 p2 k3
    R: np.ndarray  # (3, 3) world -> camera (OpenCV axes)
    t: np.ndarray  # (3,) metres
    size: tuple[int, int]  # (width, height) pixels the calibration describes
    notes: list[str] = field(default_factory=list)  # what was assumed while reading (reported)

    def __post_init__(self) -> None:
        self.K = np.asarray(self.K, np.float64).reshape(3, 3)
        self.dist = np.resize(np.asarray(self.dist, np.float64).ravel(), 5) if np.size(self.dist) else np.zeros(5)
        self.R = np.asarray(self.R, np.float64).reshape(3, 3)
        self.t = np.asarray(self.t, np.float64).reshape(3)
        if not (np.isfinite(self.K).all() and np.isfinite(self.R).all() and np.isfinite(self.t).all()):
            raise CalibrationError(f"camera '{self.name}': the calibration holds NaN or infinite values")
        if abs(np.linalg.det(self.R) - 1.0) > 1e-3 or np.abs(self.R @ self.R.T - np.eye(3)).max() > 1e-3:
            raise CalibrationError(f"camera '{self.name}': its rotation is not a rotation matrix (det "
                                   f"{np.linalg.det(self.R):.4f})")

    @property
    def centre(self) -> np.ndarray:
        """The camera's position in the world (metres)."""
        return -self.R.T @ self.t

    @property
    def P(self) -> np.ndarray:
        """(3, 4) projection for undistorted normalised coordinates: [R | t]."""
        return np.hstack([self.R, self.t[:, None]])

    def project(self, X: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> pixels (..., 2), distortion included (points behind the camera give NaN)."""
        import cv2

        X = np.asarray(X, np.float64)
        flat = X.reshape(-1, 3)
        ok = np.isfinite(flat).all(1) & ((flat @ self.R.T + self.t)[:, 2] > 1e-6)
        out = np.full((len(flat), 2), np.nan)
        if ok.any():
            rvec = cv2.Rodrigues(self.R)[0]
            out[ok] = cv2.projectPoints(flat[ok], rvec, self.t, self.K, self.dist)[0].reshape(-1, 2)
        return out.reshape(*X.shape[:-1], 2)

    def normalise(self, xy: np.ndarray) -> np.ndarray:
        """Pixels (..., 2) -> undistorted normalised image coordinates (..., 2)."""
        import cv2

        xy = np.asarray(xy, np.float64)
        flat = xy.reshape(-1, 1, 2)
        ok = np.isfinite(flat).all(-1).ravel()
        out = np.full((len(flat), 2), np.nan)
        if ok.any():
            out[ok] = cv2.undistortPoints(flat[ok], self.K, self.dist).reshape(-1, 2)
        return out.reshape(xy.shape)


def _rotation(values) -> np.ndarray:
    """A Rodrigues vector (3,) or a matrix (3, 3) -> a rotation matrix."""
    import cv2

    a = np.asarray(values, np.float64)
    return cv2.Rodrigues(a.reshape(3))[0] if a.size == 3 else a.reshape(3, 3)


def read_qualisys(path: str | Path) -> list[Camera]:
    """A Qualisys ``.qca.txt`` calibration (see the module's note on its axes and units)."""
    import xml.etree.ElementTree as ET

    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise CalibrationError(f"'{path}' is not a readable Qualisys calibration (XML: {exc})") from None
    cams = []
    flip = np.diag([1.0, -1.0, -1.0])
    for el in root.iter("camera"):
        if el.get("active", "1") != "1":
            continue
        tr, intr, fov = el.find("transform"), el.find("intrinsic"), el.find("fov_video")
        name = el.get("serial") or f"cam{len(cams) + 1:02d}"
        if tr is None or intr is None:
            raise CalibrationError(f"'{path}': camera '{name}' has no transform or intrinsic element")
        try:
            g = lambda e, k: float(e.get(k))  # noqa: E731
            R = flip @ np.array([[g(tr, f"r{i}{j}") for j in (1, 2, 3)] for i in (1, 2, 3)])
            centre = np.array([g(tr, k) for k in "xyz"]) / 1000.0
            K = np.array([[g(intr, "focalLengthU") / 64, g(intr, "skew"), g(intr, "centerPointU") / 64],
                          [0.0, g(intr, "focalLengthV") / 64, g(intr, "centerPointV") / 64], [0.0, 0.0, 1.0]])
            dist = [g(intr, "radialDistortion1"), g(intr, "radialDistortion2"), g(intr, "tangentalDistortion1"),
                    g(intr, "tangentalDistortion2"), g(intr, "radialDistortion3")]
            if fov is not None:
                size = (int(g(fov, "right") - g(fov, "left")) + 1, int(g(fov, "bottom") - g(fov, "top")) + 1)
            else:
                size = (int(round(g(intr, "sensorMaxU") / 64)) + 1, int(round(g(intr, "sensorMaxV") / 64)) + 1)
        except (TypeError, ValueError) as exc:
            raise CalibrationError(f"'{path}': camera '{name}' has a missing or non-numeric value ({exc})") from None
        cams.append(Camera(name, K, dist, R, -R @ centre, size))
    if not cams:
        raise CalibrationError(f"'{path}' holds no active camera")
    return cams


def read_toml(path: str | Path) -> list[Camera]:
    """A Pose2Sim / Anipose ``.toml`` calibration."""
    import tomllib

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise CalibrationError(f"'{path}' is not valid TOML ({exc})") from None
    cams = []
    for key, c in data.items():
        if not isinstance(c, dict) or key == "metadata":
            continue
        missing = [k for k in ("matrix", "rotation", "translation", "size") if k not in c]
        if missing:
            raise CalibrationError(f"'{path}': camera table [{key}] lacks {missing}")
        if c.get("fisheye", False):
            raise CalibrationError(f"'{path}': camera [{key}] is a fisheye calibration; only the pinhole model with "
                                   "k1 k2 p1 p2 (k3) distortion is supported")
        size = tuple(int(round(v)) for v in c["size"])
        cams.append(Camera(str(c.get("name", key)), c["matrix"], c.get("distortions", []), _rotation(c["rotation"]),
                           c["translation"], size))
    if not cams:
        raise CalibrationError(f"'{path}' holds no camera table")
    return cams


def write_toml(cameras: list[Camera], path: str | Path) -> Path:
    """Cameras as a Pose2Sim / Anipose ``.toml`` (written atomically)."""
    import cv2

    arr = lambda a: "[ " + ", ".join(arr(v) if np.ndim(v) else repr(float(v)) for v in a) + " ]"  # noqa: E731
    lines = []
    for i, c in enumerate(cameras):
        lines += [f"[cam_{i + 1:02d}]", f'name = "{c.name}"', f"size = {arr(c.size)}", f"matrix = {arr(c.K)}",
                  f"distortions = {arr(c.dist[:4])}", f"rotation = {arr(cv2.Rodrigues(c.R)[0].ravel())}",
                  f"translation = {arr(c.t)}", "fisheye = false", ""]
    lines += ["[metadata]", "adjusted = false", "error = 0.0", ""]
    return atomic_write_text(Path(path), "\n".join(lines))


def read_opencv_yaml(path: str | Path) -> list[Camera]:
    """OpenCV FileStorage YAML in EasyMocap's layout (one file, or an intri.yml / extri.yml pair)."""
    import cv2

    path = Path(path)
    pair = {"intri": path.with_name(path.name.replace("intri", "extri")),
            "extri": path.with_name(path.name.replace("extri", "intri"))}
    files = [path] + [p for k, p in pair.items() if k in path.name and p != path and p.is_file()]
    nodes: dict[str, np.ndarray] = {}
    names: list[str] = []
    for f in files:
        fs = cv2.FileStorage(str(f), cv2.FILE_STORAGE_READ)
        if not fs.isOpened():
            raise CalibrationError(f"'{f}' is not an OpenCV FileStorage file")
        node = fs.getNode("names")
        if not node.empty() and not names:
            names = [node.at(i).string() for i in range(node.size())]
        for key in fs.root().keys():
            m = fs.getNode(key).mat() if key != "names" else None  # an opencv-matrix node (None for others)
            if m is not None:
                nodes[key] = m
        fs.release()
    if not names:
        raise CalibrationError(f"'{path}' has no 'names' list (EasyMocap's layout: names, K_<name>, dist_<name>, "
                               "R_<name> or Rot_<name>, T_<name>)")
    cams = []
    for name in names:
        need = [k for k in (f"K_{name}", f"T_{name}") if k not in nodes]
        rot = nodes.get(f"Rot_{name}", nodes.get(f"R_{name}"))
        if need or rot is None:
            raise CalibrationError(f"'{path}': camera '{name}' lacks {need + ([] if rot is not None else [f'R_{name}'])}"
                                   + (" (the extrinsics live in extri.yml beside intri.yml)" if "intri" in path.name
                                      else ""))
        w, h = nodes.get(f"W_{name}"), nodes.get(f"H_{name}")
        K = nodes[f"K_{name}"]
        size = (int(w.ravel()[0]), int(h.ravel()[0])) if w is not None and h is not None else \
            (int(round(2 * K[0, 2])), int(round(2 * K[1, 2])))
        cam = Camera(name, K, nodes.get(f"dist_{name}", np.zeros(5)), _rotation(rot), nodes[f"T_{name}"], size)
        if w is None:
            cam.notes.append(f"{name}: no image size in the file; assumed twice the principal point {size}")
        cams.append(cam)
    return cams


def load_calibration(path: str | Path) -> list[Camera]:
    """Read a calibration by its name: ``*.qca.txt`` (Qualisys), ``*.toml`` (Pose2Sim / Anipose), ``*.yml`` /
    ``*.yaml`` (OpenCV FileStorage)."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"calibration '{path}' does not exist")
    name = path.name.lower()
    if name.endswith(".qca.txt") or name.endswith(".qca"):
        cams = read_qualisys(path)
    elif name.endswith(".toml"):
        cams = read_toml(path)
    elif name.endswith((".yml", ".yaml")):
        cams = read_opencv_yaml(path)
    else:
        raise CalibrationError(f"'{path}': unknown calibration format; give a Qualisys .qca.txt, a Pose2Sim/Anipose "
                               ".toml or an OpenCV .yml")
    names = [c.name for c in cams]
    if len(set(names)) != len(names):
        raise CalibrationError(f"'{path}': camera names repeat ({names})")
    return cams


def fit_to_video(cam: Camera, width: int, height: int) -> Camera:
    """The camera for a video of ``width`` x ``height``: the calibration's own size, or a crop of it from the top
    left corner (the principal point stays; noted), or a scaled copy when the aspect ratio matches (K scaled;
    noted). Anything else is an error naming both sizes."""
    W, H = cam.size
    if (width, height) == (W, H):
        return cam
    if width <= W and height <= H and max(W - width, H - height) <= 0.02 * max(W, H):
        out = Camera(cam.name, cam.K, cam.dist, cam.R, cam.t, (width, height), list(cam.notes))
        out.notes.append(f"{cam.name}: the video is {width}x{height}, the calibration {W}x{H}: treated as a crop "
                         "from the top-left corner (principal point kept)")
        return out
    if math.isclose(width / W, height / H, rel_tol=1e-3):
        s = width / W
        K = cam.K.copy()
        K[:2] *= s
        out = Camera(cam.name, K, cam.dist, cam.R, cam.t, (width, height), list(cam.notes))
        out.notes.append(f"{cam.name}: the video is {width}x{height}, the calibration {W}x{H}: intrinsics scaled "
                         f"by {s:.4g}")
        return out
    raise CalibrationError(f"camera '{cam.name}': the video is {width}x{height} but the calibration describes "
                           f"{W}x{H} (neither a small crop nor a scaled copy); calibrate at the video's size")
