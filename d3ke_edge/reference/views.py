"""BlazePose in every view of a synchronised multi-camera recording: one tracker per video (infer's front end), the
landmarks of each frame stacked per view, and the checks that the videos belong together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..video.reader import VideoReader
from ..video.tracker import PoseTracker

__all__ = ["ViewLandmarks", "ReferenceInputError", "track_view", "check_views"]


class ReferenceInputError(ValueError):
    """Inputs that cannot make a reference (videos out of step, a camera missing, nobody seen); the message names
    the problem and what to give instead."""


@dataclass
class ViewLandmarks:
    """One video's BlazePose landmarks: ``xy`` (T, 33, 2) pixels (NaN where nobody was found), ``visibility``
    (T, 33), and what the video is."""

    name: str
    path: Path
    xy: np.ndarray
    visibility: np.ndarray
    fps: float
    size: tuple[int, int]  # (width, height), upright

    @property
    def tracked(self) -> int:
        return int(np.isfinite(self.xy[:, 0, 0]).sum())


def frame_landmarks(lm) -> tuple[np.ndarray, np.ndarray]:
    """One tracked frame's (xy (33, 2), visibility (33,)); nobody found (``lm`` None): NaN and 0."""
    return (lm.xy, lm.visibility) if lm is not None else (np.full((33, 2), np.nan), np.zeros(33))


def close_in_step(reader) -> None:
    """Close a view's reader; a video with corrupt frames is refused, since its frames would fall out of step."""
    reader.close()
    if reader.corrupt:
        raise ReferenceInputError(f"'{reader.path}' has corrupt frames {reader.corrupt[:10]}: the views would fall "
                                  "out of step; re-export the video")


def track_view(path: str | Path, models: dict[str, Path], person: str = "largest", tiles: int = 0,
               advance: Callable[[int], object] | None = None) -> ViewLandmarks:
    """Every frame of one video through the tracker (left/right labels as BlazePose gave them: the views decide)."""
    path = Path(path)
    reader = VideoReader(path)
    tracker = PoseTracker(models["pose_detection.tflite"], models["pose_landmark_full.tflite"], person, tiles,
                          fix_swaps=False)
    xy, vis = [], []
    for fr in reader:
        frame_xy, frame_vis = frame_landmarks(tracker.track(fr.rgb))
        xy.append(frame_xy)
        vis.append(frame_vis)
        if advance:
            advance(1)
    close_in_step(reader)
    return ViewLandmarks(path.stem, path, np.array(xy), np.array(vis), reader.fps, (reader.width, reader.height))


def check_views(views: list[ViewLandmarks]) -> None:
    """Synchronised views: the same frame count and rate, and a person seen in every one."""
    counts = {v.name: len(v.xy) for v in views}
    if len(set(counts.values())) != 1:
        raise ReferenceInputError(f"the videos have different frame counts {counts}: they are not synchronised; cut "
                                  "them to the same frames (e.g. ffmpeg -ss/-frames:v) before building a reference")
    rates = {v.name: round(v.fps, 3) for v in views}
    if max(rates.values()) - min(rates.values()) > 0.01:
        raise ReferenceInputError(f"the videos have different frame rates {rates}; give videos recorded in sync")
    never = [v.name for v in views if v.tracked == 0]
    if never:
        raise ReferenceInputError(f"nobody was found in {never}; drop that camera or check that it films the person")
