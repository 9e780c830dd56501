"""A look at the synthetic data: every motion family from the front, the side and the back, with labels drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..viz.overlay import contact_sheet, draw_pose, write_video
from .synth import FAMILY_NAMES, SynthConfig, SynthEngine

__all__ = ["write_preview", "VIEWS"]

VIEWS = {"front": 0.0, "side": np.pi / 2, "back": np.pi}


def write_preview(out: str | Path, seed: int = 0, size: int = 256, seconds: float = 2.0, fps: float = 30.0,
                  backgrounds: str | None = None, families: tuple[str, ...] = FAMILY_NAMES) -> dict[str, Path]:
    """Write ``preview.png`` (families x views, mid-sequence frame) and ``preview.mp4`` (all frames, front view)."""
    import cv2

    out = Path(out)
    engine = SynthEngine(SynthConfig(size=size, seconds=seconds, fps=fps, backgrounds=backgrounds))
    tiles, names, video = [], [], []
    for i, family in enumerate(families):
        for view, yaw in VIEWS.items():
            seq = engine.sequence(seed * 1000 + i, subject_id=i, family=family, camera_yaw=yaw)
            drawn = [draw_pose(seq["image"][k], engine.skel, seq["joints_2d"][k], seq["markers_2d"][k],
                               seq["markers_vis"][k]) for k in range(len(seq["image"]))]
            mid = len(drawn) // 2
            tiles.append(cv2.resize(drawn[mid], (160, 160), interpolation=cv2.INTER_AREA))
            names.append(f"{family} {view}")
            if view == "front":
                video += drawn
    sheet = contact_sheet(tiles, len(VIEWS) * 3, out / "preview.png", names)
    clip = write_video(video, fps, out / "preview.mp4")
    return {"contact_sheet": sheet, "video": clip}
