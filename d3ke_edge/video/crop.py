"""From a tracked person to the crop the image model was trained on: the synthetic engine's square box convention,
smoothed causally, cut from the frame, with the crop's intrinsics from the video's field of view.

The engine's box (``data.camera.crop_boxes``, which takes its margin from here: ``data`` builds on ``video``'s facts
about BlazePose and the crop, never the reverse) is the square around the rendered body's silhouette times a margin
drawn from ``ENGINE_MARGIN``. BlazePose's 33 landmarks sit on joints, face and finger tips, inside the silhouette:
their bounding square is ``SILHOUETTE_PER_LANDMARKS`` times smaller (measured on engine renders, below). So a
video's box is the landmarks' square times both factors, centred on the landmarks' box.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ENGINE_MARGIN", "SILHOUETTE_PER_LANDMARKS", "BOX_PER_EXTENT", "box_from_landmarks", "BoxSmoother", "cut_crop",
           "frame_intrinsics", "root_translation"]

ENGINE_MARGIN = (1.15, 1.35)  # a crop's side / the body's extent, drawn per sequence (video crops use the mean)
# Silhouette square / landmark square, median over 416 tracked frames of 7 engine sequences rendered full-frame (6
# motion families, cameras within +-45 deg; per-sequence medians 1.10-1.23; BlazePose tracked the person in 100 %
# of frames of 6 of the 7 sequences, and in none where the person was 80 px tall in a 640 px frame).
SILHOUETTE_PER_LANDMARKS = 1.12
# The engine's box side / the projected extent (x or y, the larger) of the root-relative joints and markers at the
# root's depth: median 1.278 (p5 1.19, p95 1.40) over 40 engine sequences. It turns a box and a predicted body
# into a depth. Tested against the engine.
BOX_PER_EXTENT = 1.28


def box_from_landmarks(xy: np.ndarray) -> np.ndarray:
    """The engine-style square box (x0, y0, side) around landmarks (N, 2) in frame pixels."""
    lo, hi = xy.min(0), xy.max(0)
    side = float((hi - lo).max()) * SILHOUETTE_PER_LANDMARKS * float(np.mean(ENGINE_MARGIN))
    centre = (lo + hi) / 2
    return np.array([centre[0] - side / 2, centre[1] - side / 2, side])


class BoxSmoother:
    """A causal One-Euro filter (Casiez et al., CHI 2012) on the box centre and log side: still boxes stay still,
    fast moves follow with little lag, like the engine's smoothed detector jitter. ``reset()`` after a gap."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.02, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        self._x = self._dx = self._t = None

    @staticmethod
    def _alpha(cutoff: float, dt: float) -> float:
        r = 2 * math.pi * cutoff * dt
        return r / (r + 1)

    def __call__(self, box: np.ndarray, t: float) -> np.ndarray:
        x = np.array([box[0] + box[2] / 2, box[1] + box[2] / 2, math.log(box[2])])
        if self._x is None or t <= self._t:
            self._x, self._dx, self._t = x, np.zeros(3), t
        else:
            dt = t - self._t
            dx = (x - self._x) / dt
            a_d = self._alpha(self.d_cutoff, dt)
            self._dx = a_d * dx + (1 - a_d) * self._dx
            # the centre's speed in box sides per second sets the cut-off for all three (scale-free)
            speed = float(np.linalg.norm(self._dx[:2])) / math.exp(self._x[2]) * 100
            a = self._alpha(self.min_cutoff + self.beta * speed, dt)
            self._x, self._t = a * x + (1 - a) * self._x, t
        return self._box(self._x)

    @staticmethod
    def _box(x: np.ndarray) -> np.ndarray:
        side = math.exp(x[2])
        return np.array([x[0] - side / 2, x[1] - side / 2, side])

    def predict(self, t: float) -> np.ndarray | None:
        """The box at time ``t`` extrapolated at the filtered velocity, without a measurement (frames whose
        landmarks are skipped); None before the first box."""
        if self._x is None:
            return None
        return self._box(self._x + self._dx * (t - self._t))


def cut_crop(frame_rgb: np.ndarray, box: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The (size, size, 3) uint8 crop of a square box (x0, y0, side), black outside the frame, sampled at the crop's
    pixel centres like the engine's renderer (one bilinear warp: no area filter, and it reads only the pixels it
    needs, 0.2 ms instead of 5 ms for a 1080x1920 frame). Returns the crop and the box it used."""
    import cv2

    x0, y0, side = float(box[0]), float(box[1]), max(float(box[2]), 2.0)
    s = size / side
    # crop pixel centre i + 0.5 <-> frame coordinate x0 + (i + 0.5) / s (pixel centres at +0.5 in both)
    m = np.array([[s, 0.0, s * (0.5 - x0) - 0.5], [0.0, s, s * (0.5 - y0) - 0.5]])
    crop = cv2.warpAffine(frame_rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(0, 0, 0))
    return crop, np.array([x0, y0, side], np.float64)


def frame_intrinsics(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """K (3x3) of an upright frame whose long side spans ``hfov_deg`` (a phone's main camera films about 65 deg
    across the long side of a 16:9 video), principal point at the centre, square pixels."""
    if not 10.0 <= hfov_deg <= 170.0:
        raise ValueError(f"hfov must be within 10..170 degrees, got {hfov_deg}")
    f = (max(width, height) / 2) / math.tan(math.radians(hfov_deg) / 2)
    return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def root_translation(box: np.ndarray, K: np.ndarray, points_rel: np.ndarray) -> np.ndarray:
    """The root's camera-frame position (3,) from a box and root-relative camera-frame points (N, 3) of the
    predicted body: depth from the box side (``BOX_PER_EXTENT``), x/y so the points' box centre lands on the box's."""
    f = float(K[0, 0])
    extent = float(max(np.ptp(points_rel[:, 0]), np.ptp(points_rel[:, 1])))
    z = BOX_PER_EXTENT * f * extent / float(box[2])
    centre_px = np.array([box[0] + box[2] / 2, box[1] + box[2] / 2])
    ray = (centre_px - K[:2, 2]) / f  # the box centre's direction
    mid = (points_rel[:, :2].min(0) + points_rel[:, :2].max(0)) / 2
    return np.array([*(ray * z - mid), z])
