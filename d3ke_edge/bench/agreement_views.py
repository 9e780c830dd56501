"""Which of two triangulations the images agree with: one limb chain (hip-knee-ankle, shoulder-elbow-wrist) of our
reference and of another triangulation of the same trial, drawn into every calibrated view at the frames where the
two disagree most.

Numbers alone cannot say which of two references is right where they differ; the videos can. The other
triangulation is moved into our frame by the same rigid transform as ``aligned_points.align_points`` and projected through
our reference's cameras (video frames found through its frame offsets).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..reference.build import match_cameras
from ..reference.calibration import fit_to_video, load_calibration
from ..utils.atomic import atomic_write_bytes
from .aligned_points import CHAINS, align_points, chain_angle

__all__ = ["worst_frames", "chain_views"]

OURS_BGR, OTHER_BGR = (0, 230, 255), (60, 220, 60)  # yellow: ours, green: the other
CROP = (600, 800)  # pixels (width, height) around our chain's middle point, full resolution


def worst_frames(diff: np.ndarray, count: int, spacing: int = 10) -> list[int]:
    """Indices of the ``count`` largest ``|diff|`` (NaN never), at least ``spacing`` apart, largest first."""
    order = np.argsort(-np.nan_to_num(np.abs(diff), nan=-1.0))
    chosen: list[int] = []
    for i in order:
        if not np.isfinite(diff[i]) or len(chosen) == count:
            break
        if all(abs(int(i) - j) >= spacing for j in chosen):
            chosen.append(int(i))
    return chosen


def chain_views(reference: str | Path, other_trc: str | Path, image: str | Path, chain: str = "knee_l",
                lag_s: float = 0.0, frames: int = 3) -> dict:
    """Draw ``chain`` (a ``CHAINS`` label) of our reference folder's ``landmarks.trc`` (yellow) and of ``other_trc``
    (green) into each view of the reference at the ``frames`` frames where their angles differ most; one row per
    frame, one column per view -> ``image`` (.jpg or .png by its name; photographs: .jpg is a tenth the size) and
    {chain, frames: [{frame, ours_deg, other_deg}], image}."""
    import cv2

    trios = dict(CHAINS)
    if chain not in trios:
        raise ValueError(f"unknown chain '{chain}'; one of {', '.join(trios)}")
    ref = Path(reference)
    needed = [ref / "reference.json", ref / "views.npz", ref / "landmarks.trc"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"'{ref}' is not a reference folder (missing {missing}); the views are drawn from one")
    report = json.loads(needed[0].read_text())
    views = np.load(needed[1])
    videos = [Path(v) for v in report["videos"]]
    gone = [str(v) for v in videos if not v.is_file()]
    if gone:
        raise FileNotFoundError(f"the reference's videos {gone} are gone; the views are drawn from them")
    al = align_points(needed[2], other_trc, lag_s)
    k = [al.names.index(n) for n in trios[chain]]
    ours_deg, other_deg = chain_angle(al.ours[:, k]), chain_angle(al.other[:, k])
    rows = worst_frames(ours_deg - other_deg, frames)
    cams, _ = match_cameras(load_calibration(report["calibration"]), videos)
    caps = [cv2.VideoCapture(str(v)) for v in videos]
    sizes = [(int(c.get(cv2.CAP_PROP_FRAME_WIDTH)), int(c.get(cv2.CAP_PROP_FRAME_HEIGHT))) for c in caps]
    cams = [fit_to_video(c, *s) for c, s in zip(cams, sizes)]
    offsets = np.array([report["cameras"][str(n)]["offset_frames"] for n in views["names"]], int)
    first = -min(0, int(offsets.min()))  # reference frame 0 is this frame of a view with offset 0
    up = views["up"]  # world -> our .trc frame (rows); the .trc holds world @ up.T
    grid, listed = [], []
    try:
        for r in rows:
            frame = al.ours_rows[r]
            tiles = []
            for v, (cam, cap) in enumerate(zip(cams, caps)):
                cap.set(cv2.CAP_PROP_POS_FRAMES, frame + first + int(offsets[v]))
                ok, img = cap.read()
                if not ok:
                    img = np.zeros((sizes[v][1], sizes[v][0], 3), np.uint8)
                centre = None
                for colour, pts in ((OTHER_BGR, al.other[r, k]), (OURS_BGR, al.ours[r, k])):
                    if not np.isfinite(pts).all():
                        continue
                    q = np.round(cam.project(pts @ up)).astype(int)
                    cv2.polylines(img, [q.reshape(-1, 1, 2)], False, colour, 5, cv2.LINE_AA)
                    for p in q:
                        cv2.circle(img, (int(p[0]), int(p[1])), 11, colour, -1, cv2.LINE_AA)
                    centre = q[1]
                tiles.append(_crop(img, centre, f"{views['names'][v]} frame {frame}"))
            grid.append(np.concatenate(tiles, 1))
            listed.append({"frame": int(frame), "ours_deg": round(float(ours_deg[r]), 1),
                           "other_deg": round(float(other_deg[r]), 1)})
    finally:
        for cap in caps:
            cap.release()
    if not grid:
        raise ValueError(f"no frame has the {chain} chain in both triangulations")
    params = [cv2.IMWRITE_JPEG_QUALITY, 85] if Path(image).suffix.lower() in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(Path(image).suffix, np.concatenate(grid, 0), params)
    atomic_write_bytes(image, data.tobytes())
    return {"chain": chain, "frames": listed, "image": Path(image).name}


def _crop(img: np.ndarray, centre, label: str) -> np.ndarray:
    """A CROP-sized window of ``img`` around ``centre`` (padded at the borders), at half size, labelled."""
    import cv2

    w, h = CROP
    cx, cy = (img.shape[1] // 2, img.shape[0] // 2) if centre is None else (int(centre[0]), int(centre[1]))
    padded = cv2.copyMakeBorder(img, h, h, w, w, cv2.BORDER_CONSTANT)
    tile = padded[cy + h - h // 2: cy + h + h // 2, cx + w - w // 2: cx + w + w // 2]
    tile = cv2.resize(tile, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    cv2.putText(tile, label, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
    return tile
