"""Following one person through a video as MediaPipe does: the detector finds them, then each frame's landmarks give
the next frame's ROI; the detector runs again only when the landmark model's pose flag drops."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .detector import Detection, PoseDetector, roi_from_detection
from .landmarks import LandmarkModel, Landmarks

__all__ = ["PoseTracker", "TrackStats", "choose_person"]


def choose_person(dets: list[Detection], person: str) -> Detection | None:
    """``largest`` / ``auto`` (the biggest ROI), ``INDEX`` (left to right by hip position), or ``x,y`` (the hip
    nearest that frame point)."""
    valid = person in ("largest", "auto") or person.isdigit() or (
        person.count(",") == 1 and all(v.strip().lstrip("-").replace(".", "", 1).isdigit() for v in person.split(",")))
    if not valid:
        raise ValueError(f"--person must be auto, largest, an index or x,y; got '{person}'")
    if not dets:
        return None
    if person in ("largest", "auto"):
        return max(dets, key=lambda d: np.linalg.norm(d.keypoints[1] - d.keypoints[0]))
    if "," in person:
        point = np.array([float(v) for v in person.split(",")])
        return min(dets, key=lambda d: np.linalg.norm(d.keypoints[0] - point))
    ordered = sorted(dets, key=lambda d: d.keypoints[0, 0])  # an index, left to right
    return ordered[int(person)] if int(person) < len(ordered) else None


@dataclass
class TrackStats:
    frames: int = 0
    tracked: int = 0  # frames with landmarks
    detector_calls: int = 0
    lost: list[int] = field(default_factory=list)  # frames where the pose flag dropped (re-detection)


class PoseTracker:
    """``track(frame_rgb)`` -> ``Landmarks`` of the chosen person, or None when nobody is found."""

    def __init__(self, detector_model: str | Path, landmark_model: str | Path, person: str = "largest",
                 tiles: int = 1, min_pose: float = 0.5, threads: int | None = 1):
        choose_person([], person)  # a bad --person fails at once
        self.detector = PoseDetector(detector_model, threads)
        self.landmarks = LandmarkModel(landmark_model, threads)
        self.person, self.tiles, self.min_pose = person, tiles, min_pose
        self.roi = None
        self.stats = TrackStats()

    def _detect(self, frame: np.ndarray):
        self.stats.detector_calls += 1
        det = choose_person(self.detector.detect(frame, tiles=self.tiles), self.person)
        return roi_from_detection(det) if det is not None else None

    def track(self, frame_rgb: np.ndarray) -> Landmarks | None:
        self.stats.frames += 1
        for attempt in range(2):  # the tracked ROI, then (once) a fresh detection on the same frame
            if self.roi is None:
                self.roi = self._detect(frame_rgb)
                if self.roi is None:
                    return None
            result = self.landmarks.run(frame_rgb, self.roi)
            if result.pose_score >= self.min_pose:
                self.roi = result.next_roi()
                self.stats.tracked += 1
                return result
            self.roi = None
            if attempt == 0:
                self.stats.lost.append(self.stats.frames - 1)
        return None
