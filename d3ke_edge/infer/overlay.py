"""``overlay.mp4``: each video frame with the predicted skeleton projected into it (through the estimated root
position and the frame's intrinsics), the crop box, and a live panel of chosen joint angles; written while the video
is read, so long videos never sit in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.camera import project
from ..skeleton.model import Skeleton
from ..viz.overlay import draw_pose, open_video_writer

__all__ = ["OverlayWriter"]

PANEL_BG, TEXT, BOX, LOST = (20, 20, 20), (255, 255, 255), (255, 200, 0), (255, 80, 80)


def _label(name: str) -> str:
    side = {"_r": " R", "_l": " L"}.get(name[-2:], "")
    return (name[:-2] if side else name).replace("_", " ") + side


class OverlayWriter:
    def __init__(self, path: Path, fps: float, skeleton: Skeleton, metadata: dict, K: np.ndarray, angles: list[str]):
        self.path, self.fps, self.skel, self.K = Path(path), fps, skeleton, K
        self.angles = angles
        self.index = [metadata["coordinate_names"].index(a) for a in angles]
        self.writer = None

    def draw(self, rgb: np.ndarray, rec: dict | None) -> np.ndarray:
        """The overlay frame (RGB) for one video frame and its record (None: nobody found)."""
        import cv2
        import torch

        h, w = rgb.shape[:2]
        thick = max(1, round(max(h, w) / 600))
        scale = max(min(h, w) / 1100, 0.45)  # follows the short side (a portrait panel must not cover the person)
        if rec is None or rec.get("status") != "ok":
            out = np.ascontiguousarray(rgb.copy())
            cv2.putText(out, "no person", (12, int(40 * scale) + 10), cv2.FONT_HERSHEY_SIMPLEX, scale, LOST,
                        thick, cv2.LINE_AA)
            return out
        o, root = rec["outputs"], np.asarray(rec["root_cam"])
        K = torch.as_tensor(self.K, dtype=torch.float64)
        j2 = project(torch.as_tensor(o["joints_rel"] + root, dtype=torch.float64), K).numpy()
        m2 = project(torch.as_tensor(o["markers_rel"] + root, dtype=torch.float64), K).numpy()
        out = draw_pose(rgb, self.skel, j2, m2, thickness=thick)
        x0, y0, side = (int(v) for v in rec["box"])
        cv2.rectangle(out, (x0, y0), (x0 + side, y0 + side), BOX, thick, cv2.LINE_AA)
        line = int(34 * scale) + 6
        panel_h = line * (len(self.angles) + 1) + 10
        panel_w = int(330 * scale) + 20
        cv2.rectangle(out, (0, 0), (panel_w, panel_h), PANEL_BG, -1)
        cv2.putText(out, f"t {rec['time']:.2f} s", (8, line), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.8, TEXT, thick,
                    cv2.LINE_AA)
        for k, (name, i) in enumerate(zip(self.angles, self.index)):
            text = f"{_label(name)}: {np.degrees(o['coordinates'][i]):6.1f} deg"
            cv2.putText(out, text, (8, line * (k + 2)), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.8, TEXT, thick,
                        cv2.LINE_AA)
        return out

    def write(self, rgb: np.ndarray, rec: dict | None) -> None:
        if self.writer is None:
            self.writer = open_video_writer(self.path, self.fps, rgb.shape[1], rgb.shape[0])
        self.writer.write(np.ascontiguousarray(self.draw(rgb, rec)[:, :, ::-1]))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
