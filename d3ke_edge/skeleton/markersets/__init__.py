"""Marker sets shipped with the package, for the built-in skeleton (OpenSim MarkerSet files).

- ``blazepose``: BlazePose's 33 landmarks as markers ``bp_<landmark>``, fitted on the engine's renders by
  ``benchmarks/blazepose_on_renders.py`` (where BlazePose puts each landmark on our bodies; its "hip" is not the hip
  joint centre). The landmark model projects them to make its training inputs.

Another model works the same way: ``load_osim(model.osim, markers=its_blazepose_markers.xml)``.
"""

from __future__ import annotations

from pathlib import Path

from ..model import Marker, Skeleton
from ..osim_parse import load_marker_set

__all__ = ["MARKER_SETS", "marker_set_path", "load_named_marker_set", "landmark_markers"]

MARKER_SETS = ("blazepose",)
LANDMARK_PREFIX = "bp_"


def marker_set_path(name: str) -> Path:
    if name not in MARKER_SETS:
        raise ValueError(f"unknown marker set '{name}'; the package ships {', '.join(MARKER_SETS)}")
    return Path(__file__).with_name(f"{name}.xml")


def load_named_marker_set(name: str, skeleton: Skeleton) -> list[Marker]:
    """A shipped marker set, checked against ``skeleton``'s bodies."""
    return load_marker_set(marker_set_path(name), skeleton)


def landmark_markers(skeleton: Skeleton, names: tuple[str, ...]) -> list[str]:
    """The marker names of landmarks ``names`` (``bp_<name>``) on ``skeleton``; a missing one is named."""
    have = set(skeleton.marker_names)
    wanted = [LANDMARK_PREFIX + n for n in names]
    missing = [m for m in wanted if m not in have]
    if missing:
        raise ValueError(f"skeleton '{skeleton.name}' has no landmark markers {missing[:4]}{'...' if len(missing) > 4 else ''}: "
                         "merge a BlazePose marker set into it (load_osim(MODEL, markers=SET.xml), or the shipped "
                         "'blazepose' set for the built-in skeleton)")
    return wanted
