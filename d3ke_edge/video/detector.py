"""BlazePose's person detector, decoded by our own code from MediaPipe's published graph options.

``pose_detection.tflite`` takes a letterboxed 224x224 RGB frame in [-1, 1] and returns, per SSD anchor, 12 values
(box centre x/y, width, height, then 4 keypoints x/y, relative to the anchor in 224-px units) and a score logit.
The options below are those of MediaPipe's ``pose_detection_cpu.pbtxt`` (SsdAnchorsCalculator,
TensorsToDetectionsCalculator, NonMaxSuppression); keypoint 0 is the mid-hip centre and keypoint 1 the point that
sets the person's scale and rotation (the landmark ROI, ``roi_from_detection``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .landmarks import ROI_SCALE, open_model, roi_from_points

__all__ = ["ANCHOR_OPTIONS", "Detection", "PoseDetector", "decode_detections", "pose_anchors", "roi_from_detection",
           "weighted_nms"]

INPUT = 224
ANCHOR_OPTIONS = {"strides": (8, 16, 32, 32, 32), "aspect_ratios": (1.0,), "interpolated_scale_aspect_ratio": 1.0,
                  "anchor_offset": 0.5, "fixed_anchor_size": True}
MIN_SCORE = 0.5
SCORE_CLIP = 100.0
NMS_IOU = 0.3


@dataclass
class Detection:
    """A person in frame pixels: box (x0, y0, x1, y1), score, and the 4 keypoints (x, y)."""

    box: np.ndarray
    score: float
    keypoints: np.ndarray  # (4, 2): mid-hip, scale/rotation point, and two more (MediaPipe's order)


def pose_anchors() -> np.ndarray:
    """(2254, 2) anchor centres in [0, 1] (fixed-size anchors: only the centres matter). Consecutive layers with the
    same stride share one grid, each adding (aspect ratios + interpolated) anchors per cell, as MediaPipe merges
    them."""
    strides = ANCHOR_OPTIONS["strides"]
    per_layer = len(ANCHOR_OPTIONS["aspect_ratios"]) + (1 if ANCHOR_OPTIONS["interpolated_scale_aspect_ratio"] else 0)
    out, i = [], 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        cells = math.ceil(INPUT / strides[i])
        n = per_layer * (j - i)
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        centres = np.stack([(xs + ANCHOR_OPTIONS["anchor_offset"]) / cells,
                            (ys + ANCHOR_OPTIONS["anchor_offset"]) / cells], -1).reshape(-1, 2)
        out.append(np.repeat(centres, n, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


def decode_detections(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray,
                      min_score: float = MIN_SCORE) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """Boxes (x0, y0, x1, y1) and keypoints in the 224-px letterboxed input's [0, 1] coordinates, with sigmoid
    scores, for every anchor above ``min_score`` (before NMS)."""
    raw_boxes = raw_boxes.reshape(-1, 12)
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.reshape(-1).astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
    keep = np.nonzero(scores >= min_score)[0]
    out = []
    for k in keep:
        v = raw_boxes[k] / INPUT
        cx, cy = v[0] + anchors[k, 0], v[1] + anchors[k, 1]
        w, h = v[2], v[3]
        kps = v[4:12].reshape(4, 2) + anchors[k]
        out.append((np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32), float(scores[k]), kps))
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def weighted_nms(dets: list[tuple[np.ndarray, float, np.ndarray]], iou: float = NMS_IOU
                 ) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """MediaPipe's weighted NMS: the best remaining detection absorbs those overlapping it by more than ``iou``;
    its box and keypoints become their score-weighted mean, its score stays the best one's."""
    rest = sorted(dets, key=lambda d: -d[1])
    out = []
    while rest:
        best = rest[0]
        group = [d for d in rest if _iou(best[0], d[0]) > iou]
        rest = [d for d in rest if _iou(best[0], d[0]) <= iou]
        w = np.array([d[1] for d in group])
        box = sum(d[0] * s for d, s in zip(group, w)) / w.sum()
        kps = sum(d[2] * s for d, s in zip(group, w)) / w.sum()
        out.append((box.astype(np.float32), best[1], kps.astype(np.float32)))
    return out


def _letterbox(frame_rgb: np.ndarray) -> tuple[np.ndarray, float, tuple[float, float]]:
    """The frame scaled into 224x224 with its aspect kept (zero padding); the scale and the padding in pixels."""
    import cv2

    h, w = frame_rgb.shape[:2]
    scale = INPUT / max(h, w)
    nh, nw = round(h * scale), round(w * scale)
    canvas = np.zeros((INPUT, INPUT, 3), np.uint8)
    py, px = (INPUT - nh) // 2, (INPUT - nw) // 2
    canvas[py : py + nh, px : px + nw] = cv2.resize(frame_rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    return canvas, scale, (px, py)


class PoseDetector:
    """``detect(frame_rgb)`` -> people in frame pixels, best first. ``tiles`` > 1 also runs overlapping square tiles
    along the frame's long side (small people in wide frames), merged by NMS."""

    def __init__(self, model: str | Path, threads: int | None = 1):
        self.interpreter, self._input = open_model(model, threads, INPUT, "detector")
        outs = sorted(self.interpreter.get_output_details(), key=lambda o: -int(np.prod(o["shape"])))
        self._boxes, self._scores = outs[0]["index"], outs[1]["index"]
        self.anchors = pose_anchors()
        if outs[0]["shape"][1] != len(self.anchors):
            raise ValueError(f"'{model}' has {outs[0]['shape'][1]} anchors, the decoder {len(self.anchors)}")

    def _run(self, rgb: np.ndarray, min_score: float) -> list[Detection]:
        canvas, scale, (px, py) = _letterbox(rgb)
        self.interpreter.set_tensor(self._input, (canvas.astype(np.float32) / 127.5 - 1.0)[None])
        self.interpreter.invoke()
        dets = decode_detections(self.interpreter.get_tensor(self._boxes), self.interpreter.get_tensor(self._scores),
                                 self.anchors, min_score)
        back = lambda p: (p * INPUT - np.array([px, py])) / scale  # noqa: E731 - input [0, 1] -> frame pixels
        return [Detection(back(b.reshape(2, 2)).reshape(4), s, back(k)) for b, s, k in dets]

    def detect(self, frame_rgb: np.ndarray, tiles: int = 1, min_score: float = MIN_SCORE) -> list[Detection]:
        h, w = frame_rgb.shape[:2]
        found = self._run(frame_rgb, min_score)
        if tiles > 1:
            side = min(h, w)
            long = max(h, w)
            for t in np.linspace(0, long - side, tiles).round().astype(int):
                y0, x0 = (t, 0) if h > w else (0, t)
                for d in self._run(frame_rgb[y0 : y0 + side, x0 : x0 + side], min_score):
                    shift = np.array([x0, y0], np.float32)
                    found.append(Detection(d.box + np.tile(shift, 2), d.score, d.keypoints + shift))
        merged = weighted_nms([(d.box, d.score, d.keypoints) for d in found])
        return [Detection(b, s, k) for b, s, k in merged]


def roi_from_detection(det: Detection, scale: float | None = None):
    """MediaPipe's landmark ROI from a detection: centre at the mid-hip keypoint, side 2 x |kp1 - kp0| x ``scale``,
    rotated so kp0 -> kp1 points up (``landmarks.ROI``)."""
    return roi_from_points(det.keypoints[0], det.keypoints[1], ROI_SCALE if scale is None else scale)
