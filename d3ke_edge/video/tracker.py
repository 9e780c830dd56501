"""Following one person through a video as MediaPipe does: the detector finds them, then each frame's landmarks give
the next frame's ROI; the detector runs again only when the landmark model's pose flag drops.

Identity: the person is chosen once (``--person``); after a loss, the re-detection nearest to where they were last
seen is taken (within ``REACQUIRE_SIDES`` ROI sides), not the largest again, so a second person does not take over.
Left/right: BlazePose can swap the sides of a person seen from the side for a frame or more; each frame's labelling
is compared with the previous one and swapped back when the mirrored labelling is much closer (``TrackStats.swaps``).
It can also take a person facing the camera for one facing away and keep that labelling for seconds; a 2D comparison
cannot see that flip when it starts with the limbs overlapping, so the caller that can (``infer``: the body's turn
rate) hands the corrected labelling back through ``relabel``, and the frame-to-frame comparison keeps it from then on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .detector import Detection, PoseDetector, roi_from_detection
from .landmarks import LANDMARK_NAMES, LandmarkModel, Landmarks

__all__ = ["PoseTracker", "TrackStats", "choose_person", "mirror_order", "mirrored", "parse_person"]

AUTO_TILES = 4  # tiles along the long side when the full-frame detector finds nobody (small people, wide frames)
REACQUIRE_SIDES = 1.0  # a lost person is re-found within this many ROI sides of their last hip centre
MIN_POSE = 0.5  # the landmark model's pose flag below which the person is lost (re-detection)
SWAP_RATIO = 0.5  # the mirrored labelling must move the limbs less than half as much to be taken


def parse_person(person: str) -> str | int | np.ndarray:
    """``auto``/``largest``, an index (left to right) or a frame point ``x,y``; a bad value fails at once."""
    text = person.strip()
    if text in ("largest", "auto"):
        return "largest"
    if text.isdigit():
        return int(text)
    parts = text.split(",")
    if len(parts) == 2:
        try:
            return np.array([float(v) for v in parts])
        except ValueError:
            pass
    raise ValueError(f"person must be auto, largest, an index or x,y; got '{person}'")


def _side(det: Detection) -> float:
    return roi_from_detection(det).side


def choose_person(dets: list[Detection], person: str) -> Detection | None:
    """``largest`` / ``auto`` (the biggest ROI), ``INDEX`` (left to right by hip position), or ``x,y`` (the person
    whose ROI holds that frame point, the nearest hip if several; nobody if none does — they may not have entered)."""
    choice = parse_person(person)
    if not dets:
        return None
    if isinstance(choice, str):
        return max(dets, key=_side)
    if isinstance(choice, np.ndarray):
        near = [d for d in dets if np.linalg.norm(d.keypoints[0] - choice) <= _side(d) / 2]
        return min(near, key=lambda d: np.linalg.norm(d.keypoints[0] - choice)) if near else None
    ordered = sorted(dets, key=lambda d: d.keypoints[0, 0])
    return ordered[choice] if choice < len(ordered) else None


def mirror_order() -> np.ndarray:
    """Index map that swaps BlazePose's left and right landmarks (nose stays)."""
    names = list(LANDMARK_NAMES)
    swap = lambda n: n.replace("left", "#").replace("right", "left").replace("#", "right")  # noqa: E731
    return np.array([names.index(swap(n)) for n in names])


_MIRROR = mirror_order()
SWAP_LIMBS = np.array([i for i, n in enumerate(LANDMARK_NAMES)
                       if n.split("_")[-1] in ("elbow", "wrist", "knee", "ankle", "heel", "index")])


def mirrored(lm: Landmarks) -> Landmarks:
    """The same detection with its left and right labels swapped (every per-landmark array)."""
    m = _MIRROR
    return replace(lm, xy=lm.xy[m], z=lm.z[m], visibility=lm.visibility[m], presence=lm.presence[m], world=lm.world[m])


@dataclass
class TrackStats:
    frames: int = 0
    tracked: int = 0  # frames with landmarks
    detector_calls: int = 0
    lost: list[int] = field(default_factory=list)  # frames where the pose flag dropped (re-detection)
    swaps: list[int] = field(default_factory=list)  # frames whose left/right labels were swapped back
    relabelled: list[int] = field(default_factory=list)  # frames whose labels the caller swapped (``relabel``)


class PoseTracker:
    """``track(frame_rgb)`` -> ``Landmarks`` of the chosen person, or None when nobody is found.

    ``tiles``: 1 (full frame), N (N overlapping square tiles too) or 0 (auto: tiles only when the full frame finds
    nobody)."""

    def __init__(self, detector_model: str | Path, landmark_model: str | Path, person: str = "largest",
                 tiles: int = 0, min_pose: float = MIN_POSE, threads: int | None = 1, fix_swaps: bool = True):
        choose_person([], person)  # a bad --person fails at once
        self.detector = PoseDetector(detector_model, threads)
        self.landmarks = LandmarkModel(landmark_model, threads)
        self.person, self.tiles, self.min_pose, self.fix_swaps = person, tiles, min_pose, fix_swaps
        self.roi = None
        self.last: Landmarks | None = None  # the last landmarks of the followed person (identity, swaps)
        self.stats = TrackStats()

    def _choose(self, dets: list[Detection]) -> Detection | None:
        if self.last is None:
            return choose_person(dets, self.person)
        hip = self.last.aux[0]
        near = [d for d in dets if np.linalg.norm(d.keypoints[0] - hip) <= REACQUIRE_SIDES * self.last.roi.side]
        return min(near, key=lambda d: np.linalg.norm(d.keypoints[0] - hip)) if near else None

    def _detect(self, frame: np.ndarray):
        self.stats.detector_calls += 1
        dets = self.detector.detect(frame, tiles=max(self.tiles, 1))
        det = self._choose(dets)
        if det is None and self.tiles == 0:
            det = self._choose(self.detector.detect(frame, tiles=AUTO_TILES))
        return roi_from_detection(det) if det is not None else None

    def _unswap(self, result: Landmarks) -> Landmarks:
        """Swap the labels back when the mirrored labelling moves the limbs much less since the previous frame."""
        if not self.fix_swaps or self.last is None:
            return result
        keep = np.linalg.norm(result.xy[SWAP_LIMBS] - self.last.xy[SWAP_LIMBS], axis=-1).sum()
        swap = np.linalg.norm(result.xy[_MIRROR][SWAP_LIMBS] - self.last.xy[SWAP_LIMBS], axis=-1).sum()
        if swap >= SWAP_RATIO * keep:
            return result
        self.stats.swaps.append(self.stats.frames - 1)
        return mirrored(result)

    def relabel(self, lm: Landmarks) -> None:
        """The caller found this frame's labels the wrong way round and took ``lm`` (``mirrored`` of what ``track``
        returned) instead: later frames are compared with it, so the corrected labelling carries on."""
        self.last = lm
        self.stats.relabelled.append(self.stats.frames - 1)

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
                self.last = self._unswap(result)
                return self.last
            self.roi = None
            if attempt == 0:
                self.stats.lost.append(self.stats.frames - 1)
        return None
