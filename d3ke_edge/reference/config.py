"""The settings of ``d3ke-edge reference``, validated on construction, and the syntax of choosing a person among
those matched across views. Kept apart from the pipeline so that reading them (the CLI's defaults) imports none of
it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..video.tracker import parse_person
from .opensim_tools import NEUTRAL_WEIGHT
from .views import ReferenceInputError

__all__ = ["ReferenceConfig", "parse_selection"]


def parse_selection(spec: str, view_names: list[str]) -> tuple[str | None, int | np.ndarray]:
    """One person among those matched across views: ``K`` (``person<K>``, most observed first) or ``NAME=x,y`` (the
    person at that pixel of view ``NAME``, a video's file name without extension) -> (view name or None, K or the
    point). A bad value fails at once, naming the views."""
    name, _, value = spec.strip().rpartition("=")
    value = value.strip().removeprefix("person")
    if not name and value.isdigit():
        return None, int(value)
    parts = value.split(",")
    if name and len(parts) == 2:
        if name not in view_names:
            raise ValueError(f"selection '{spec}': no view is called '{name}' (the views are {view_names})")
        try:
            return name, np.array([float(v) for v in parts])
        except ValueError:
            pass
    raise ValueError(f"selection '{spec}' is neither K (person<K>) nor NAME=x,y (a pixel in view NAME, one of "
                     f"{view_names})")


@dataclass(frozen=True)
class ReferenceConfig:
    videos: tuple[Path, ...]
    calib: Path
    out: Path
    gate_px: float = 25.0  # a camera whose reprojection error is above this is left out of a point's triangulation
    cutoff_hz: float = 6.0  # zero-lag low-pass of the trajectories (4th order: 2nd-order Butterworth both ways)
    max_gap: int = 10  # frames: shorter gaps are interpolated before filtering
    sync: bool = True  # estimate integer frame offsets between the cameras
    max_offset: int = 6  # frames, either way
    # who: ``all`` (everyone, people matched across views: one reference each), or one person tracked per view:
    # ``largest``/INDEX/x,y for every view and ``NAME=SPEC`` entries for single views (by video stem)
    person: tuple[str, ...] = ("all",)
    # with ``all``: only the person this names among those matched across views (parse_selection: K or
    # NAME=x,y); None: everyone
    select: str | None = None
    min_visibility: float = 0.3  # observations BlazePose rates less visible are not used
    min_agreement: float = 0.35  # a view with fewer of its landmarks used by the triangulation tracks someone else
    ik_neutral_weight: float = NEUTRAL_WEIGHT  # IK holds the coordinates landmarks leave free (NEUTRAL_PRIOR)
    # the whole-trial refinement (refine.py): a 1-mm/frame^2 acceleration, or a 1-mm change of a rigid segment's
    # length, costs as much as a 1-px reprojection error; 0 and 0: per-frame triangulation only
    smooth_weight: float = 1.0
    length_weight: float = 1.0

    def __post_init__(self) -> None:
        if len(self.videos) < 2:
            raise ReferenceInputError(f"a reference needs at least two videos, got {len(self.videos)}")
        for v in self.videos:
            if not Path(v).is_file():
                raise ReferenceInputError(f"video '{v}' does not exist")
        if isinstance(self.person, str):
            object.__setattr__(self, "person", (self.person,))
        stems = [Path(v).stem for v in self.videos]
        if "all" in self.person and self.person != ("all",):
            raise ReferenceInputError(f"person 'all' (everyone) stands alone; got {list(self.person)}: give 'all', or "
                                      "one person per view (largest, an index, x,y, NAME=SPEC)")
        for entry in self.person if not self.everyone else ():
            name, _, spec = entry.rpartition("=")
            if name and name not in stems:
                raise ReferenceInputError(f"person '{entry}': no video is called '{name}' (the views are {stems})")
            try:
                parse_person(spec)
            except ValueError as exc:
                raise ReferenceInputError(f"person '{entry}': {exc}") from None
        if self.select is not None:
            if not self.everyone:
                raise ReferenceInputError(f"a selection among the matched people ('{self.select}') needs person "
                                          f"'all', not {list(self.person)}")
            try:
                parse_selection(self.select, stems)
            except ValueError as exc:
                raise ReferenceInputError(str(exc)) from None
        if not self.gate_px > 0 or not self.cutoff_hz > 0 or self.max_gap < 0 or self.max_offset < 0:
            raise ReferenceInputError("gate_px and cutoff_hz must be positive, max_gap and max_offset >= 0")
        if not (self.smooth_weight >= 0 and self.length_weight >= 0):
            raise ReferenceInputError(f"the refinement's weights must be >= 0 (0: off), got smooth "
                                      f"{self.smooth_weight}, length {self.length_weight}")
        if not self.ik_neutral_weight >= 0:
            raise ReferenceInputError(f"the IK prior's weight must be >= 0 (0: none), got {self.ik_neutral_weight}")

    @property
    def everyone(self) -> bool:
        """Every person the views agree on, each their own reference (the default)."""
        return self.person == ("all",)

    def person_for(self, video: Path) -> str:
        """The person spec for one view: its own ``NAME=`` entry, else the last entry for all views."""
        specs = dict(entry.rpartition("=")[::2] for entry in self.person)  # name ('' = every view) -> spec
        return specs.get(Path(video).stem, specs.get("", "largest"))
