"""The D3KE/BML-MoVi layout reader, on small files written here in that layout."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from d3ke_edge.data.bmlmovi import BMLMoviDataset
from d3ke_edge.data.synth import LABEL_KEYS, REAL_DATA_FAMILY


def _write_subject(path, skel, n=6, jpeg=False, drop_marker="toe_l"):
    rng = np.random.default_rng(0)
    markers = [m for m in skel.marker_names if m != drop_marker][::-1]  # another order, one missing
    joints = skel.joint_names[::-1]
    coords = skel.coordinate_names[::-1]
    data = {
        "markers": rng.normal(size=(n, len(markers), 3)).astype(np.float32),
        "joints": rng.normal(size=(n, len(joints), 3)).astype(np.float32),
        "coordinates": rng.normal(size=(n, len(coords))).astype(np.float32),
        "boxes": np.tile(np.array([10, 20, 210, 260], np.float32), (n, 1)),
        "masks": np.array([True, True, False, True, True, True][:n]),
        "scales": rng.uniform(0.9, 1.1, size=(len(skel.bodies), 3)).astype(np.float32),
    }
    images = rng.integers(0, 255, size=(n, 32, 32, 3), dtype=np.uint8)
    with h5py.File(path, "w") as f:
        for k, v in data.items():
            f[k] = v
        if jpeg:
            import cv2

            ds = f.create_dataset("images_jpeg", (n,), dtype=h5py.vlen_dtype(np.uint8))
            for i in range(n):
                ds[i] = cv2.imencode(".jpg", images[i])[1].reshape(-1)
        else:
            f["images"] = images
        f.attrs["marker_names"] = markers
        f.attrs["joint_names"] = joints
        f.attrs["coordinate_names"] = coords
        f.attrs["body_names"] = skel.body_names
    return data, images, markers, joints, coords


def test_reader_yields_our_sample_dict_by_name(builtin, tmp_path):
    data, images, markers, joints, coords = _write_subject(tmp_path / "s01.h5", builtin)
    ds = BMLMoviDataset(tmp_path, builtin)
    assert len(ds) == 5  # the masked frame is left out
    s = ds[2]  # file frame 3
    assert set(s) == {"image", *LABEL_KEYS}
    assert s["image"].shape == (3, 32, 32) and s["frame"] == 3 and s["family"] == REAL_DATA_FAMILY
    k = builtin.marker_names.index("knee_lat_r")
    np.testing.assert_allclose(s["markers_cam"][k].numpy(), data["markers"][3, markers.index("knee_lat_r")])
    miss = builtin.marker_names.index("toe_l")
    assert not s["markers_vis"][miss] and np.isnan(s["markers_cam"][miss]).all()
    pelvis = builtin.body_index("pelvis")
    np.testing.assert_allclose(s["markers_rel"][k].numpy(),
                               data["markers"][3, markers.index("knee_lat_r")] - data["joints"][3, joints.index("ground_pelvis")])
    c = builtin.coordinate_names.index("knee_angle_r")
    assert float(s["coordinates"][c]) == pytest.approx(float(data["coordinates"][3, coords.index("knee_angle_r")]))
    assert s["coordinates_valid"].all()
    np.testing.assert_allclose(s["box"].numpy(), [10, 20, 240])
    assert pelvis == 0
    np.testing.assert_array_equal((s["image"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), images[3])


def test_reader_jpeg_images_and_errors(builtin, tmp_path):
    _write_subject(tmp_path / "s02.h5", builtin, jpeg=True)
    assert BMLMoviDataset([tmp_path / "s02.h5"], builtin, valid_only=False)[2]["image"].shape == (3, 32, 32)
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["images"] = np.zeros((1, 8, 8, 3), np.uint8)
    with pytest.raises(KeyError, match="bad.h5.*missing datasets"):
        BMLMoviDataset([tmp_path / "bad.h5"], builtin)
    with pytest.raises(FileNotFoundError):
        BMLMoviDataset(tmp_path / "empty_dir_that_does_not_exist", builtin)
