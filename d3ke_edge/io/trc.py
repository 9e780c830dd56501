"""Read and write ``.trc`` marker trajectories (OpenSim's TRC adapter reads what we write)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..utils.atomic import atomic_write_text
from .mot import MotionFileError

__all__ = ["MarkerTable", "read_trc", "write_trc"]

_UNIT_TO_M = {"mm": 1e-3, "cm": 1e-2, "m": 1.0}


@dataclass
class MarkerTable:
    """Marker positions over time, in metres: ``positions`` (T, M, 3)."""

    time: np.ndarray  # (T,)
    names: list[str]
    positions: np.ndarray  # (T, M, 3)

    def __post_init__(self) -> None:
        self.time = np.asarray(self.time, dtype=np.float64)
        self.positions = np.asarray(self.positions, dtype=np.float64).reshape(len(self.time), len(self.names), 3)

    @property
    def rate(self) -> float:
        return float(1.0 / np.median(np.diff(self.time))) if len(self.time) > 1 else 0.0


def write_trc(table: MarkerTable, path: str | Path, units: str = "mm") -> Path:
    """Write markers as TRC (default millimetres), atomically. Missing positions (NaN) are written as ``NaN``: OpenSim's
    TRC adapter drops trailing empty fields of a row (a frame whose last marker is missing then has one column too
    few and the whole file is refused), while it reads ``NaN`` anywhere as a missing marker."""
    if units not in _UNIT_TO_M:
        raise ValueError(f"units must be one of {sorted(_UNIT_TO_M)}, got '{units}'")
    path = Path(path)
    n, m = len(table.time), len(table.names)
    rate = table.rate or 1.0
    pos = table.positions / _UNIT_TO_M[units]
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{rate:.6g}\t{rate:.6g}\t{n}\t{m}\t{units}\t{rate:.6g}\t1\t{n}",
        "\t".join(["Frame#", "Time"] + [f"{name}\t\t" for name in table.names]).rstrip("\t"),
        "\t".join(["", ""] + [f"X{i + 1}\tY{i + 1}\tZ{i + 1}" for i in range(m)]),
        "",
    ]
    fmt = lambda v: "NaN" if np.isnan(v) else f"{v:.6f}"  # noqa: E731
    for k in range(n):
        lines.append("\t".join([str(k + 1), f"{table.time[k]:.10g}"] + [fmt(v) for v in pos[k].ravel()]))
    return atomic_write_text(path, "\n".join(lines) + "\n")


def read_trc(path: str | Path) -> MarkerTable:
    """Read a TRC file into metres; empty or ``NaN`` fields (gaps) become NaN."""
    path = Path(path)
    if not path.is_file():
        raise MotionFileError(f"{path}: no such file")
    lines = path.read_text(errors="replace").splitlines()
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise MotionFileError(f"{path}: not a TRC file (first line must start with 'PathFileType')")
    keys, vals = lines[1].split("\t"), lines[2].split("\t")
    meta = dict(zip([k.strip() for k in keys], [v.strip() for v in vals]))
    units = meta.get("Units", "mm")
    if units not in _UNIT_TO_M:
        raise MotionFileError(f"{path}: unknown Units '{units}', expected one of {sorted(_UNIT_TO_M)}")
    names = [t.strip() for t in lines[3].split("\t")[2:] if t.strip()]
    rows = [ln.split("\t") for ln in lines[5:] if ln.strip()]
    n_cols = 2 + 3 * len(names)
    data = np.full((len(rows), n_cols), np.nan)
    for r, row in enumerate(rows):
        for c, v in enumerate(row[:n_cols]):
            if v.strip():
                try:
                    data[r, c] = float(v)
                except ValueError:
                    raise MotionFileError(f"{path}: row {r + 1}, column {c + 1} is not a number: '{v}'") from None
    return MarkerTable(data[:, 1], names, data[:, 2:].reshape(len(rows), len(names), 3) * _UNIT_TO_M[units])
