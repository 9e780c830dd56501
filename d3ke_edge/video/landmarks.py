"""BlazePose's landmark model on a rotated square region of interest, and the ROI for the next frame from its output.

``pose_landmark_full.tflite`` takes the 256x256 RGB crop of the ROI in [0, 1] and returns 39 points x (x, y, z,
visibility, presence) in crop pixels (33 body landmarks, then 6 auxiliary: 33 = hip centre and 34 = scale point
define the next ROI exactly as the detector's keypoints 0 and 1 do), a pose-presence probability, a segmentation
mask, heatmaps and 39 x 3 world landmarks (metres, hip-centred, in the crop's rotated axes). One affine map takes
crop pixels to frame pixels; the crop is sampled through it and the landmarks are projected back through it, so the two
agree by construction. The world landmarks are turned by the ROI's rotation too (as MediaPipe's world landmark
projection does), so their axes are the camera's: x right, y down, z away from the camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["LANDMARK_NAMES", "ROI", "Landmarks", "LandmarkModel", "roi_from_points"]

SIZE = 256
ROI_SCALE = 1.25  # the ROI side / twice the hip-to-scale-point distance (MediaPipe's)
LANDMARK_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)


@dataclass
class ROI:
    """A rotated square in frame pixels: centre (x, y), side, rotation (radians, MediaPipe's sign: + when the body
    leans right)."""

    centre: np.ndarray
    side: float
    rotation: float

    def matrix(self) -> np.ndarray:
        """2x3 affine from crop pixels (0..256) to frame pixels."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        k = self.side / SIZE
        a = np.array([[c, -s], [s, c]]) * k
        return np.hstack([a, (self.centre - a @ np.array([SIZE / 2, SIZE / 2]))[:, None]])


def roi_from_points(centre: np.ndarray, scale_point: np.ndarray, scale: float = ROI_SCALE) -> ROI:
    """MediaPipe's ROI: centred on ``centre``, side 2 x |scale_point - centre| x ``scale``, rotated so that
    centre -> scale_point points up in the crop."""
    d = scale_point - centre
    rotation = math.pi / 2 - math.atan2(-float(d[1]), float(d[0]))
    rotation = (rotation + math.pi) % (2 * math.pi) - math.pi
    return ROI(np.asarray(centre, np.float64), 2.0 * float(np.linalg.norm(d)) * scale, rotation)


@dataclass
class Landmarks:
    """One person's landmarks in frame pixels, with their probabilities, and the ROI they came from."""

    xy: np.ndarray  # (33, 2) frame pixels
    z: np.ndarray  # (33,) depth in crop-pixel units scaled to frame pixels (relative to the hips)
    visibility: np.ndarray  # (33,) probability
    presence: np.ndarray  # (33,) probability
    pose_score: float  # the model's pose-presence probability (the tracker's "still there" flag)
    world: np.ndarray  # (33, 3) metres, hip-centred, camera axes (x right, y down, z forward)
    roi: ROI
    aux: np.ndarray  # (6, 2) frame pixels: 0 hip centre and 1 scale point define the next ROI

    def next_roi(self) -> ROI:
        return roi_from_points(self.aux[0], self.aux[1])


def open_model(model: str | Path, threads: int | None, size: int, what: str):
    """A LiteRT interpreter for one of BlazePose's models and its input index, after checking the input is
    (1, size, size, 3)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(model), num_threads=threads)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    if list(inp["shape"]) != [1, size, size, 3]:
        raise ValueError(f"'{model}' takes {list(inp['shape'])}, not BlazePose's [1, {size}, {size}, 3] {what} input")
    return interpreter, inp["index"]


def _world_to_camera(world: np.ndarray, roi: ROI) -> np.ndarray:
    """World landmarks in the rotated crop's axes -> the camera's: x and y turned by the ROI's rotation."""
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    out = np.array(world, np.float64)
    out[:, :2] = out[:, :2] @ np.array([[c, -s], [s, c]]).T
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x.astype(np.float64), -80, 80)))


class LandmarkModel:
    """``run(frame_rgb, roi)`` -> ``Landmarks`` (LiteRT, XNNPACK)."""

    def __init__(self, model: str | Path, threads: int | None = 1):
        self.interpreter, self._input = open_model(model, threads, SIZE, "landmark")
        by_size = {int(np.prod(o["shape"])): o["index"] for o in self.interpreter.get_output_details()}
        try:
            self._points, self._flag, self._world = by_size[195], by_size[1], by_size[117]
        except KeyError:
            raise ValueError(f"'{model}' is not BlazePose's full landmark model (outputs {sorted(by_size)})") from None

    def crop(self, frame_rgb: np.ndarray, roi: ROI) -> np.ndarray:
        import cv2

        return cv2.warpAffine(frame_rgb, roi.matrix(), (SIZE, SIZE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT)

    def run(self, frame_rgb: np.ndarray, roi: ROI) -> Landmarks:
        crop = self.crop(frame_rgb, roi)
        self.interpreter.set_tensor(self._input, (crop.astype(np.float32) / 255.0)[None])
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self._points).reshape(39, 5)
        m = roi.matrix()
        xy = raw[:, :2] @ m[:, :2].T + m[:, 2]
        return Landmarks(xy=xy[:33], z=raw[:33, 2] * roi.side / SIZE, visibility=_sigmoid(raw[:33, 3]),
                         presence=_sigmoid(raw[:33, 4]),
                         pose_score=float(np.asarray(self.interpreter.get_tensor(self._flag)).reshape(-1)[0]),
                         world=_world_to_camera(self.interpreter.get_tensor(self._world).reshape(39, 3)[:33], roi),
                         roi=roi, aux=xy[33:])
