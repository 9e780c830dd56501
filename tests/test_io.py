""".mot/.sto and .trc files round-trip through opensim's own file adapters."""

from __future__ import annotations

import numpy as np
import pytest

from d3ke_edge.io import MarkerTable, MotionTable, read_mot, read_trc, write_mot, write_trc
from d3ke_edge.io.mot import MotionFileError
from d3ke_edge.skeleton.opensim_ref import import_opensim


@pytest.fixture()
def motion(builtin):
    rng = np.random.default_rng(0)
    t = np.arange(12) / 30.0
    return MotionTable(t, builtin.coordinate_names, rng.uniform(builtin.ranges[:, 0], builtin.ranges[:, 1], (12, 40)))


def test_mot_written_by_us_is_read_by_opensim(builtin, motion, tmp_path):
    path = write_mot(motion, tmp_path / "a.mot", builtin)
    table = import_opensim().TimeSeriesTable(str(path))
    assert table.getTableMetaDataAsString("inDegrees") == "yes"
    assert list(table.getColumnLabels()) == builtin.coordinate_names
    values = table.getMatrix().to_numpy()
    rot = np.array([c.is_rotational for c in builtin.coordinates])
    np.testing.assert_allclose(np.where(rot, np.radians(values), values), motion.values, atol=1e-9, rtol=0)
    np.testing.assert_allclose(np.array(table.getIndependentColumn()), motion.time, atol=1e-12)


def test_sto_written_by_opensim_is_read_by_us(builtin, motion, tmp_path):
    osim = import_opensim()
    write_mot(motion, tmp_path / "a.mot", builtin)
    osim.STOFileAdapter.write(osim.TimeSeriesTable(str(tmp_path / "a.mot")), str(tmp_path / "b.sto"))
    back = read_mot(tmp_path / "b.sto", builtin)
    np.testing.assert_allclose(back.values, motion.values, atol=1e-9, rtol=0)
    assert back.labels == builtin.coordinate_names


def test_radians_file_and_missing_columns(builtin, motion, tmp_path):
    path = write_mot(motion, tmp_path / "r.mot", builtin, in_degrees=False)
    assert "inDegrees=no" in path.read_text()
    back = read_mot(path)  # no skeleton needed when nothing is in degrees
    np.testing.assert_allclose(back.values, motion.values, atol=1e-9)
    part = MotionTable(motion.time, ["knee_angle_r"], motion.column("knee_angle_r")[:, None])
    full = part.to_skeleton_order(builtin)
    np.testing.assert_allclose(full[:, builtin.coordinate_names.index("knee_angle_r")], motion.column("knee_angle_r"))
    np.testing.assert_allclose(full[:, 0], builtin.defaults[0])
    with pytest.raises(MotionFileError, match="lacks coordinates"):
        part.to_skeleton_order(builtin, fill_defaults=False)


def test_trc_round_trip_through_opensim(builtin, tmp_path):
    rng = np.random.default_rng(1)
    t = np.arange(9) / 60.0
    pos = rng.normal(size=(9, len(builtin.markers), 3))
    path = write_trc(MarkerTable(t, builtin.marker_names, pos), tmp_path / "m.trc")
    osim = import_opensim()
    table = osim.TimeSeriesTableVec3(str(path))
    assert table.getTableMetaDataAsString("Units") == "mm"
    assert list(table.getColumnLabels()) == builtin.marker_names
    row = table.getRowAtIndex(4)
    got = np.array([[row[m].get(k) for k in range(3)] for m in range(len(builtin.markers))]) / 1000.0
    np.testing.assert_allclose(got, pos[4], atol=1e-9)
    back = read_trc(path)
    np.testing.assert_allclose(back.positions, pos, atol=1e-9)
    assert back.rate == pytest.approx(60.0)


@pytest.mark.parametrize("text,needle", [("no header here\n", "endheader"),
                                         ("x\nendheader\ntime\ta\n0\tnot-a-number\n", "row 1"),
                                         ("x\nendheader\nfoo\ta\n0\t1\n", "'time'")])
def test_bad_mot_files(tmp_path, text, needle):
    path = tmp_path / "bad.mot"
    path.write_text(text)
    with pytest.raises(MotionFileError, match=needle):
        read_mot(path)


def test_degrees_without_skeleton_is_refused(builtin, motion, tmp_path):
    path = write_mot(motion, tmp_path / "d.mot", builtin)
    with pytest.raises(MotionFileError, match="pass the skeleton"):
        read_mot(path)
