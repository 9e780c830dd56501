"""Reading a video file frame by frame as the phone would get it: upright, with each frame's own timestamp.

OpenCV's FFmpeg backend applies the rotation a phone stores in the container (portrait clips come out portrait) and
gives each decoded frame its presentation time, so variable frame rate needs nothing more than using that time. A
frame the decoder cannot read in the middle of a file is skipped and counted (``VideoReader.corrupt``); the stream
ends after the container's frame count or a run of failures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["VideoError", "VideoFrame", "VideoReader"]

MAX_FAILED_IN_A_ROW = 8  # this many failed reads in a row: the end of the stream (or a truncated file)


class VideoError(ValueError):
    """A video we cannot read; the message names the file, the problem and what to do."""


@dataclass
class VideoFrame:
    index: int  # position in the stream, counting skipped corrupt frames (from the timestamp at constant rate)
    time: float  # seconds, the frame's presentation time
    rgb: np.ndarray  # (H, W, 3) uint8, upright


class VideoReader:
    """``for frame in VideoReader(path, start=..., end=..., every=...)``; ``fps``, ``width``, ``height`` (upright),
    ``rotation`` (degrees the container asked for), ``frame_count`` (the container's claim), ``corrupt`` (indices
    skipped)."""

    def __init__(self, path: str | Path, start: float = 0.0, end: float | None = None, every: int = 1):
        import cv2

        self.path = Path(path)
        if not self.path.exists():
            raise VideoError(f"video '{self.path}' does not exist")
        if self.path.is_dir():
            raise VideoError(f"'{self.path}' is a folder; give a video file (.mp4, .mov, .avi, ...)")
        if every < 1:
            raise VideoError(f"every must be >= 1, got {every}")
        if start < 0 or (end is not None and end <= start):
            raise VideoError(f"the range start {start} .. end {end} is empty; give 0 <= start < end (seconds)")
        self.cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not self.cap.isOpened():
            raise VideoError(f"'{self.path}' is not a video OpenCV/FFmpeg can open (is it a video file, and complete?)")
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.frame_count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.rotation = int(self.cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0) % 360
        self.width, self.height = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if self.rotation in (90, 270) and self.width > self.height:  # backends differ in reporting the upright size
            self.width, self.height = self.height, self.width
        if self.fps <= 0 or self.width <= 0:
            raise VideoError(f"'{self.path}' has no video stream with a frame rate (fps={self.fps})")
        self.start, self.end, self.every = start, end, every
        self.corrupt: list[int] = []
        self.decoded = 0
        if start > 0:
            self.cap.set(cv2.CAP_PROP_POS_MSEC, start * 1000.0)

    def __iter__(self) -> Iterator[VideoFrame]:
        import cv2

        pending: list[float] = []  # failed reads; corrupt frames only if a good frame follows (else: the end)
        last_time, n = None, 0
        while True:
            ok, bgr = self.cap.read()
            if not ok:
                if len(pending) + 1 >= MAX_FAILED_IN_A_ROW:
                    break
                pending.append((last_time + 1.0 / self.fps) if last_time is not None else self.start)
                last_time = pending[-1]
                continue
            self.corrupt += [int(round(t * self.fps)) for t in pending]
            pending = []
            t = float(self.cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
            if last_time is not None and t <= last_time - 1e-6:  # some backends report 0 after a bad frame
                t = last_time + 1.0 / self.fps
            last_time = t
            if t < self.start - 0.5 / self.fps:
                continue
            if self.end is not None and t >= self.end:
                break
            self.decoded += 1
            if n % self.every == 0:
                if bgr.ndim == 2:
                    bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
                yield VideoFrame(int(round(t * self.fps)), t, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            n += 1
        if self.decoded == 0:
            raise VideoError(f"'{self.path}' has no decodable frame" + (
                f" in {self.start:g}-{self.end:g} s" if self.start or self.end else "") + " (empty or corrupt file)")

    def close(self) -> None:
        self.cap.release()
