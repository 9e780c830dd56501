"""Read and write OpenSim ``.mot``/``.sto`` coordinate tables.

Files store rotational coordinates in degrees when the header says ``inDegrees=yes``; in memory a
:class:`MotionTable` always holds radians and metres. Which columns are angles comes from the skeleton's
coordinate motion types (every coordinate that is not translational), never from guessing by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..skeleton.model import Skeleton
from ..utils.atomic import atomic_write_text

__all__ = ["MotionTable", "read_mot", "write_mot", "MotionFileError"]


class MotionFileError(ValueError):
    """A .mot/.sto/.trc file we cannot read; the message names the file and the problem."""


@dataclass
class MotionTable:
    """Coordinates over time: ``values`` (T, C) in radians/metres, ``labels`` the coordinate names."""

    time: np.ndarray  # (T,)
    labels: list[str]
    values: np.ndarray  # (T, C)
    name: str = "coordinates"

    def __post_init__(self) -> None:
        self.time = np.asarray(self.time, dtype=np.float64)
        self.values = np.asarray(self.values, dtype=np.float64).reshape(len(self.time), len(self.labels))

    def column(self, label: str) -> np.ndarray:
        return self.values[:, self.labels.index(label)]

    def to_skeleton_order(self, skel: Skeleton, fill_defaults: bool = True) -> np.ndarray:
        """(T, n_coords) in the skeleton's order; missing coordinates take their defaults (or raise)."""
        out = np.tile(skel.defaults, (len(self.time), 1))
        missing = [n for n in skel.coordinate_names if n not in self.labels]
        if missing and not fill_defaults:
            raise MotionFileError(f"motion '{self.name}' lacks coordinates {missing}")
        for i, n in enumerate(skel.coordinate_names):
            if n in self.labels:
                out[:, i] = self.column(n)
        return out


def _angle_mask(labels: list[str], skel: Skeleton | None, path: Path) -> np.ndarray:
    if skel is None:
        raise MotionFileError(f"{path}: the file is in degrees; pass the skeleton so angles can be told from lengths")
    kinds = {c.name: c.is_rotational for c in skel.coordinates}
    return np.array([kinds.get(label, False) for label in labels])


def _coordinate_label(label: str) -> str:
    """OpenSim 4 state files name columns '/jointset/<joint>/<coord>/value'; keep the coordinate name."""
    parts = label.strip("/").split("/")
    if len(parts) >= 2 and parts[-1] == "value":
        return parts[-2]
    return label


def read_mot(path: str | Path, skeleton: Skeleton | None = None, allow_missing: bool = False) -> MotionTable:
    """Read a .mot/.sto file; degrees are converted to radians using ``skeleton``'s coordinate types. A ``NaN`` value
    (a missing one, as ``write_mot`` writes it) is an error unless ``allow_missing``; infinities and a missing time
    always are."""
    path = Path(path)
    if not path.is_file():
        raise MotionFileError(f"{path}: no such file")
    lines = path.read_text(errors="replace").splitlines()
    try:
        end = next(i for i, line in enumerate(lines) if line.strip().lower() == "endheader")
    except StopIteration:
        raise MotionFileError(f"{path}: no 'endheader' line; not an OpenSim .mot/.sto file") from None
    pairs = [ln.partition("=") for ln in lines[:end] if "=" in ln]
    header = {k.strip().lower(): v.strip() for k, _, v in pairs}
    in_degrees = header.get("indegrees", "no").lower() == "yes"
    labels = [_coordinate_label(t) for t in lines[end + 1].strip().split("\t" if "\t" in lines[end + 1] else None)]
    if not labels or labels[0].lower() != "time":
        raise MotionFileError(f"{path}: the first column after 'endheader' must be 'time', got {labels[:1]}")
    rows = [ln.split() for ln in lines[end + 2 :] if ln.strip()]
    try:
        data = np.array(rows, dtype=np.float64)
    except ValueError:
        bad = next(i for i, r in enumerate(rows) if len(r) != len(labels) or not _all_numbers(r))
        raise MotionFileError(f"{path}: data row {bad + 1} is not {len(labels)} numbers") from None
    if data.ndim != 2 or data.shape[1] != len(labels):
        raise MotionFileError(f"{path}: rows have {data.shape[-1] if data.ndim == 2 else '?'} values, header names {len(labels)}")
    bad = ~np.isfinite(data) & ~(np.isnan(data) & allow_missing)
    bad[:, 0] = ~np.isfinite(data[:, 0])
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise MotionFileError(f"{path}: non-finite value in row {r + 1}, column '{labels[c]}'")
    values = data[:, 1:]
    if in_degrees and values.size:
        values = np.where(_angle_mask(labels[1:], skeleton, path), np.radians(values), values)
    return MotionTable(data[:, 0], labels[1:], values, name=lines[0].strip() if end > 0 else path.stem)


def _all_numbers(row: list[str]) -> bool:
    try:
        [float(v) for v in row]
    except ValueError:
        return False
    return True


def write_mot(table: MotionTable, path: str | Path, skeleton: Skeleton, in_degrees: bool = True,
              header: dict[str, str] | None = None) -> Path:
    """Write ``table`` as an OpenSim .mot (rotational columns in degrees by default), atomically. ``header``: extra
    ``key=value`` lines (OpenSim keeps them as table metadata; newlines and '=' in values are replaced)."""
    values = table.values
    if in_degrees:
        values = np.where(_angle_mask(table.labels, skeleton, Path(path)), np.degrees(values), values)
    head = [
        table.name,
        "version=1",
        f"nRows={len(table.time)}",
        f"nColumns={len(table.labels) + 1}",
        f"inDegrees={'yes' if in_degrees else 'no'}",
        *(f"{k}={str(v).replace(chr(10), ' ').replace('=', ':')}" for k, v in (header or {}).items()),
        "endheader",
        "\t".join(["time", *table.labels]),
    ]
    fmt = lambda v: "NaN" if np.isnan(v) else f"{v:.12g}"  # noqa: E731  (the spelling OpenSim's readers parse)
    body = ["\t".join(fmt(v) for v in (t, *row)) for t, row in zip(table.time, values)]
    return atomic_write_text(path, "\n".join(head + body) + "\n")
