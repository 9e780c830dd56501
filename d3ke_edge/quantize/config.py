"""``QuantConfig``: how int8 artefacts are made (validated when built, so a typo fails at once)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["QuantConfig"]


@dataclass(frozen=True)
class QuantConfig:
    """int8 settings shared by every target.

    - ``calib_frames``: rendered training-distribution frames for activation ranges (and the sensitivity pass).
    - ``budget_deg``: the sensitivity pass keeps the most sensitive backbone blocks in float until the simulated
      mean angle drift from the fp32 model is at most this (half the default 1 deg acceptance bound, leaving room
      for the difference between the simulation and each runtime's kernels).
    - ``float_blocks``: blocks to keep in float, as module paths inside the backbone (``"12"``, ``"layer4.2"``);
      ``None`` lets the sensitivity pass decide, ``()`` quantises every block.
    """

    calib_frames: int = 128
    budget_deg: float = 0.5
    float_blocks: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.calib_frames < 8:
            raise ValueError(f"calib_frames must be at least 8 (got {self.calib_frames}): activation ranges from "
                             "fewer frames miss the tails that int8 clips")
        if not self.budget_deg > 0:
            raise ValueError(f"budget_deg must be positive (got {self.budget_deg})")
        if self.float_blocks is not None and not all(isinstance(b, str) and b for b in self.float_blocks):
            raise ValueError(f"float_blocks must be module paths inside the backbone, e.g. ('12',); got "
                             f"{self.float_blocks!r}")
