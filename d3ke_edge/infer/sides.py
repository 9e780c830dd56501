"""Whole-body left/right label flips, caught by how fast the body would have to turn.

BlazePose can take a person facing the camera for one facing away and keep that labelling for seconds (the shared
trial's cam02: frames 58-97 of 98; Sports2D: frames 69-105, every landmark's side the wrong way round). The tracker's
frame-to-frame check cannot see such a flip when it starts with the limbs overlapping in the picture. A landmark model
believes the labels, so at the flip its per-frame pelvis turns by 118-176 deg between two frames (measured on both
clips; the mirrored labelling then turns it 10-39); a person turns at most a few hundred deg/s outside of a pirouette.
When the per-frame model's pelvis would turn faster than ``max_turn_deg_s``, the frame is run again with the labels
mirrored, and the mirrored labelling is kept when the given one turns the body by ``MIN_FLIP_DEG`` or more and the
mirrored one by less than half that (``SideGuard.prefer``; Sports2D's side views and somersault turn it 30-84 deg a
frame, no flip). A flip can take a few frames read in between (the person side-on); such frames do not become the
reference, so the next ones are compared with the last frame before them (for ``HOLD_S``: a body that keeps turning
fast for longer is turning). Frames further apart than ``MAX_GAP_S`` (a page that keeps up at under 10 fps, a sparse
``--every``) are judged as if that far apart: otherwise a flip's 120-180 deg would pass for a turn at 900 deg/s once
frames arrive 0.2 s apart (the phone page under load read 45-63 % of a facing subject as facing away). The price: a
spin faster than ~1350 deg/s can be taken for a flip, and between frames that far apart a real turn of 90+ deg whose
mirror turns less than 45 (``--max-turn-deg-s 0`` turns the guard off). The limit: continuity tells that the labelling changed, not which one is
right, so a stretch that starts flipped stays flipped.
"""

from __future__ import annotations

import numpy as np

__all__ = ["HOLD_S", "KEEP_RATIO", "MAX_GAP_S", "MIN_FLIP_DEG", "SideGuard", "turn_deg"]

MIN_FLIP_DEG = 90.0  # the given labelling must turn the body at least this far: a flip reverses the facing
KEEP_RATIO = 0.5  # and the mirrored one less than this x MIN_FLIP_DEG, to be taken
HOLD_S = 0.1  # how long suspect frames neither labelling explains may stay out of the reference
MAX_GAP_S = 0.1  # frames further apart are judged as if this far apart (the turn rate's time step is capped)


def turn_deg(r0: np.ndarray, r1: np.ndarray) -> float:
    """The angle (deg) of the rotation between two rotation matrices."""
    c = (np.trace(np.asarray(r0, np.float64).T @ np.asarray(r1, np.float64)) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


class SideGuard:
    """Remembers the last frame's pelvis rotation (camera frame) and time; ``suspect`` says when a frame turns the
    body faster than ``max_turn_deg_s``, ``prefer`` whether the mirrored labelling is the continuous one."""

    def __init__(self, max_turn_deg_s: float):
        if not (np.isfinite(max_turn_deg_s) and max_turn_deg_s > 0):
            raise ValueError(f"max_turn_deg_s must be a positive number, got {max_turn_deg_s}")
        self.max_turn_deg_s = float(max_turn_deg_s)
        self.reset()

    def reset(self) -> None:
        """A new stretch: nothing to compare the next frame with."""
        self._last: tuple[np.ndarray, float] | None = None

    def _turn(self, rot: np.ndarray) -> float:
        return turn_deg(self._last[0], rot) if self._last is not None else 0.0

    def suspect(self, rot: np.ndarray, time: float) -> bool:
        """Whether the body turns faster than the limit from the last frame to this one (``rot`` (3, 3), at ``time``
        s); never on a stretch's first frame. The time between them counts up to ``MAX_GAP_S``."""
        if self._last is None:
            return False
        dt = min(max(time - self._last[1], 1e-3), MAX_GAP_S)
        return self._turn(rot) / dt > self.max_turn_deg_s

    def prefer(self, rot: np.ndarray, rot_mirrored: np.ndarray) -> bool:
        """True when the given labelling's rotation turns the body by ``MIN_FLIP_DEG`` or more and the mirrored one's
        by less than ``KEEP_RATIO`` x ``MIN_FLIP_DEG`` (a side-on frame can turn both labellings far, one of them
        less than half as far as the other: that is no evidence)."""
        return self._turn(rot) >= MIN_FLIP_DEG and self._turn(rot_mirrored) < KEEP_RATIO * MIN_FLIP_DEG

    def accept(self, rot: np.ndarray, time: float, resolved: bool = True) -> None:
        """The rotation this frame went on with; ``resolved`` False (suspect, and mirroring did not make it
        continuous): it does not become the reference while the reference is younger than ``HOLD_S``."""
        if not resolved and self._last is not None and time - self._last[1] < HOLD_S:
            return
        self._last = (np.asarray(rot, np.float64).reshape(3, 3), float(time))
