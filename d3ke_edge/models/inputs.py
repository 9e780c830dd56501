"""What a per-frame model takes, in one place: every per-frame model declares an ``InputSpec`` (an RGB crop, or
BlazePose's landmarks as features), and training, export, inference and the benchmarks ask it — its name (the batch
key and the artefact's input name), shape, an example input, the training data that make it, and how to build it
from a video frame and its tracked landmarks. Exported artefacts carry it in their metadata (``of_metadata``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.landmark_input import FEATURES, FEATURES_WORLD, landmark_features
from ..video.crop import cut_crop

__all__ = ["InputSpec", "IMAGE", "LANDMARKS"]

IMAGE, LANDMARKS = "image", "landmarks"


@dataclass(frozen=True)
class InputSpec:
    """``name``: ``image`` (an RGB crop, (1, 3, size, size) float in [0, 1]) or ``landmarks`` (BlazePose's 33
    landmarks as ``size`` features, ``data.landmark_input``; ``world``: with its world landmarks)."""

    name: str
    size: int
    world: bool = False

    def __post_init__(self) -> None:
        if self.name not in (IMAGE, LANDMARKS):
            raise ValueError(f"a per-frame model takes an image or landmarks, not '{self.name}'")
        if self.name == LANDMARKS and self.size != (FEATURES_WORLD if self.world else FEATURES):
            raise ValueError(f"landmark features{' with world landmarks' if self.world else ''} are "
                             f"{FEATURES_WORLD if self.world else FEATURES}, not {self.size}")

    @property
    def is_image(self) -> bool:
        return self.name == IMAGE

    @property
    def shape(self) -> tuple[int, ...]:
        """One frame's input, batch 1."""
        return (1, 3, self.size, self.size) if self.is_image else (1, self.size)

    @property
    def data_source(self) -> str:
        """The training data that make this input: rendered crops (``synth``) or projected landmarks."""
        return "synth" if self.is_image else LANDMARKS

    def at_size(self, size: int) -> "InputSpec":
        """The same input at another crop size (an image model exported or benchmarked at ``size`` px); landmark
        features have one size."""
        return InputSpec(self.name, size, self.world) if self.is_image else self

    def describe(self) -> str:
        return f"{self.size} px crops" if self.is_image else "projected landmarks"

    def example(self, batch: int = 1, seed: int = 0) -> torch.Tensor:
        """A plausible input for tracing: a random crop, or random landmarks in their box with probabilities in 0..1
        and a centred camera."""
        g = torch.Generator().manual_seed(seed)
        if self.is_image:
            return torch.rand(batch, 3, self.size, self.size, generator=g)
        x = torch.rand(batch, self.size, generator=g)
        x[:, :66] = x[:, :66] * 2 - 1
        x[:, FEATURES - 3 : FEATURES] = torch.tensor([0.0, 0.0, 0.6])
        if self.world:
            x[:, FEATURES:] = x[:, FEATURES:] * 2 - 1
        return x

    def from_frame(self, rgb: np.ndarray, box: np.ndarray, landmarks, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One video frame (RGB uint8), the person's box and BlazePose's landmarks on it (``video.landmarks``), the
        intrinsics -> (the input, batch 1, float32; the box the crop was cut at)."""
        if self.is_image:
            crop, box = cut_crop(rgb, box, self.size)
            return (crop.astype(np.float32) / 255.0).transpose(2, 0, 1)[None], box
        world = landmarks.world if self.world else None
        return landmark_features(landmarks.xy, landmarks.visibility, landmarks.presence, K, world)[None].numpy(), box

    @classmethod
    def of_metadata(cls, meta: dict) -> "InputSpec":
        """The spec of an exported (or checkpointed) model from its metadata (``model`` section)."""
        layout = meta.get("input", {})
        if layout.get("name") == LANDMARKS:
            return cls(LANDMARKS, int(layout["features"]), bool(layout.get("world", False)))
        return cls(IMAGE, int(meta["input_size"]))
