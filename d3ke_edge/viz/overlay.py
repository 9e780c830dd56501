"""Draw labels over frames (opencv): the skeleton's joint tree and markers, visible vs occluded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..skeleton.model import GROUND, Skeleton
from ..utils.atomic import atomic_path

__all__ = ["draw_pose", "contact_sheet", "open_video_writer", "write_video"]

VISIBLE, OCCLUDED, BONE = (255, 230, 0), (230, 40, 40), (40, 255, 120)


def draw_pose(image: np.ndarray, skel: Skeleton, joints_2d: np.ndarray, markers_2d: np.ndarray,
              markers_vis: np.ndarray | None = None, thickness: int = 1) -> np.ndarray:
    """A copy of RGB ``image`` (S, S, 3) with bones between joint centres and marker dots (``thickness``: line
    width in pixels; dots grow with it)."""
    import cv2

    out = np.ascontiguousarray(image.copy())
    parent = {j.child: i for i, j in enumerate(skel.joints)}
    for i, j in enumerate(skel.joints):
        if j.parent == GROUND:
            continue
        a, b = joints_2d[parent[j.parent]], joints_2d[i]
        if np.all(np.isfinite([*a, *b])):
            cv2.line(out, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), BONE, thickness, cv2.LINE_AA)
    vis = np.ones(len(markers_2d), bool) if markers_vis is None else markers_vis
    for (u, v), seen in zip(markers_2d, vis):
        if np.isfinite(u) and np.isfinite(v):
            cv2.circle(out, (int(u), int(v)), 1 + thickness, VISIBLE if seen else OCCLUDED, -1, cv2.LINE_AA)
    return out


def contact_sheet(frames: list[np.ndarray], columns: int, path: str | Path, labels: list[str] | None = None) -> Path:
    """Tile RGB frames into a grid PNG (atomic write)."""
    import cv2

    h, w = frames[0].shape[:2]
    rows = -(-len(frames) // columns)
    sheet = np.zeros((rows * h, columns * w, 3), np.uint8)
    for i, fr in enumerate(frames):
        r, c = divmod(i, columns)
        tile = np.ascontiguousarray(fr)
        if labels:
            cv2.putText(tile, labels[i], (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = tile
    with atomic_path(path) as tmp:
        ok, buf = cv2.imencode(".png", sheet[:, :, ::-1])
        if not ok:
            raise RuntimeError("PNG encoding failed")
        tmp.write_bytes(buf.tobytes())
    return Path(path)


def open_video_writer(path: Path, fps: float, width: int, height: int, fourcc: str = "mp4v"):
    """An opencv VideoWriter (the container follows ``path``'s suffix); raises if opencv cannot open it."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"opencv could not open a {fourcc} writer for '{path}'")
    return writer


def write_video(frames: list[np.ndarray], fps: float, path: str | Path, fourcc: str = "mp4v") -> Path:
    """Write RGB frames as a video atomically (mp4v in .mp4 by default; e.g. FFV1 in .avi is lossless); raises if
    opencv cannot open a writer."""
    path = Path(path)
    h, w = frames[0].shape[:2]
    with atomic_path(path) as tmp:
        video = tmp.with_suffix(path.suffix)  # the container follows the suffix
        writer = open_video_writer(video, fps, w, h, fourcc)
        for fr in frames:
            writer.write(np.ascontiguousarray(fr[:, :, ::-1]))
        writer.release()
        video.replace(tmp)
    return path
