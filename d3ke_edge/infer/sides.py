"""Whole-body left/right label flips, caught by how fast the body would have to turn.

BlazePose can take a person facing the camera for one facing away and keep that labelling for seconds (the shared
trial's cam02: frames 58-97 of 98, every landmark's side the wrong way round). The tracker's frame-to-frame check
cannot see such a flip when it starts with the limbs overlapping in the picture. A landmark model believes the labels,
so at the flip its pelvis turns by 60-180 deg between two frames; a person turns at most a few hundred deg/s outside
of a pirouette. When the network's pelvis would turn faster than ``max_turn_deg_s``, the frame is run again with the
labels mirrored, and the mirrored labelling is kept when it turns less than half as far (``SideGuard.prefer``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["SideGuard", "turn_deg"]

KEEP_RATIO = 0.5  # the mirrored labelling must turn the body less than half as far to be taken


def turn_deg(r0: np.ndarray, r1: np.ndarray) -> float:
    """The angle (deg) of the rotation between two rotation matrices."""
    c = (np.trace(np.asarray(r0, np.float64).T @ np.asarray(r1, np.float64)) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


class SideGuard:
    """Remembers the last frame's pelvis rotation (camera frame) and time; ``suspect`` says when a frame turns the
    body faster than ``max_turn_deg_s``, ``prefer`` which of two labellings turns it less (the mirrored one only when
    it turns less than ``KEEP_RATIO`` as far)."""

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
        s); never on a stretch's first frame."""
        if self._last is None:
            return False
        dt = max(time - self._last[1], 1e-3)
        return self._turn(rot) / dt > self.max_turn_deg_s

    def prefer(self, rot: np.ndarray, rot_mirrored: np.ndarray) -> bool:
        """True when the mirrored labelling's rotation turns the body less than ``KEEP_RATIO`` as far as the given
        one's."""
        return self._turn(rot_mirrored) < KEEP_RATIO * self._turn(rot)

    def accept(self, rot: np.ndarray, time: float) -> None:
        """The rotation this frame went on with."""
        self._last = (np.asarray(rot, np.float64).reshape(3, 3), float(time))
