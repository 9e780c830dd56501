"""Reader for D3KE's prepared BML-MoVi layout: one HDF5 file per subject, yielding our sample dict.

BML-MoVi needs registration and is not available here, so this reader follows the layout described in
``shared/notes/d3ke.md`` and is tested on files the tests write in that layout. Expected per-subject file:

=================  ========================  =====================================================
dataset            shape                     meaning
=================  ========================  =====================================================
``images``         (N, S, S, 3) uint8        person crops (or ``images_jpeg``: vlen uint8 JPEG bytes)
``boxes``          (N, 4)                    crop box x0, y0, x1, y1 in full-frame pixels
``markers``        (N, M, 3)                 virtual markers, camera frame, metres
``joints``         (N, J, 3)                 joint centres, camera frame, metres
``coordinates``    (N, C)                    OpenSim coordinates, radians / metres
``scales``         (N, B, 3) or (B, 3)       per-body scale factors
``masks``          (N,) bool                 frame usable (IK marker error below 2 cm)
=================  ========================  =====================================================

with string-list attributes ``marker_names``, ``joint_names``, ``coordinate_names``, ``body_names`` that are
matched by name to the skeleton's; a skeleton name the file lacks gets NaN and a False mask, never a guess.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..skeleton.model import Skeleton
from .datasets import to_sample
from .synth import REAL_DATA_FAMILY

__all__ = ["BMLMoviDataset", "REQUIRED"]

REQUIRED = ("boxes", "markers", "joints", "coordinates", "masks")


def _names(f, key: str, path: Path) -> list[str]:
    if key not in f.attrs:
        raise KeyError(f"{path}: attribute '{key}' is missing; the reader matches names to the skeleton")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs[key]]


def _reorder(values: np.ndarray, have: list[str], want: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Columns of ``values`` (..., len(have), ...) put in ``want`` order along axis 0 of the tail; NaN if absent."""
    out = np.full((len(want),) + values.shape[1:], np.nan, dtype=np.float32)
    found = np.zeros(len(want), dtype=bool)
    index = {n: i for i, n in enumerate(have)}
    for j, name in enumerate(want):
        if name in index:
            out[j] = values[index[name]]
            found[j] = True
    return out, found


class BMLMoviDataset(Dataset):
    """Frames of per-subject files (``root/*.h5`` or a list of files) as our sample dict."""

    def __init__(self, files: str | Path | list[str | Path], skeleton: Skeleton, valid_only: bool = True):
        import h5py

        paths = sorted(Path(files).glob("*.h5")) if isinstance(files, (str, Path)) else [Path(p) for p in files]
        if not paths:
            raise FileNotFoundError(f"no .h5 files in '{files}'")
        self.skel, self.paths = skeleton, paths
        self.index: list[tuple[int, int]] = []
        for i, p in enumerate(paths):
            with h5py.File(p, "r") as f:
                missing = [k for k in REQUIRED if k not in f]
                if missing or ("images" not in f and "images_jpeg" not in f):
                    raise KeyError(f"{p}: missing datasets {missing or ['images']}; see the layout in "
                                   "d3ke_edge/data/bmlmovi.py")
                masks = np.asarray(f["masks"], dtype=bool)
                self.index += [(i, k) for k in range(len(masks)) if masks[k] or not valid_only]
        self._handles: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state

    def _image(self, f, k: int, path: Path) -> np.ndarray:
        if "images" in f:
            return np.asarray(f["images"][k])
        import cv2

        img = cv2.imdecode(np.asarray(f["images_jpeg"][k], dtype=np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{path}: frame {k} holds a JPEG that cannot be decoded")
        return img[:, :, ::-1].copy()

    def __getitem__(self, idx: int) -> dict[str, torch.Tensor]:
        import h5py

        i, k = self.index[idx]
        path = self.paths[i]
        if i not in self._handles:  # opened per worker process, after the fork
            self._handles[i] = h5py.File(path, "r")
        f = self._handles[i]
        skel = self.skel
        image = self._image(f, k, path)
        coords, c_ok = _reorder(np.asarray(f["coordinates"][k]), _names(f, "coordinate_names", path), skel.coordinate_names)
        markers, m_ok = _reorder(np.asarray(f["markers"][k]), _names(f, "marker_names", path), skel.marker_names)
        joints, j_ok = _reorder(np.asarray(f["joints"][k]), _names(f, "joint_names", path), skel.joint_names)
        scales = np.ones((len(skel.bodies), 3), dtype=np.float32) * np.nan
        if "scales" in f:
            raw = np.asarray(f["scales"][k] if f["scales"].ndim == 3 else f["scales"])
            scales, _ = _reorder(raw, _names(f, "body_names", path), skel.body_names)
        root = joints[skel.body_index("pelvis")] if "pelvis" in skel.body_names else joints[0]
        x0, y0, x1, y1 = np.asarray(f["boxes"][k], dtype=np.float32)
        valid = bool(f["masks"][k])
        nan3 = np.full((3, 3), np.nan, dtype=np.float32)
        labels = {
            "coordinates": coords, "coordinates_valid": c_ok & valid, "scales": scales, "pelvis_rot_cam": nan3,
            "joints_cam": joints, "joints_rel": joints - root, "markers_cam": markers, "markers_rel": markers - root,
            "joints_2d": np.full((len(joints), 2), np.nan, np.float32),
            "markers_2d": np.full((len(markers), 2), np.nan, np.float32),
            "joints_vis": j_ok & valid, "markers_vis": m_ok & valid,
            "joints_in_crop": j_ok & valid, "markers_in_crop": m_ok & valid,
            "box": np.array([x0, y0, max(x1 - x0, y1 - y0)], np.float32),
            "K": nan3, "K_full": nan3, "cam_R": nan3, "cam_t": np.full(3, np.nan, np.float32),
            "subject": np.int32(i), "sequence": np.int32(i), "frame": np.int32(k), "family": np.int32(REAL_DATA_FAMILY),
        }
        return to_sample(image, labels)
