"""The settings of ``d3ke-edge infer`` and of the fit to the image, validated on construction. Kept apart from the
code that runs them (``run.py``, ``fit.py``) so that reading them (the CLI's defaults) imports no model code."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..video.crop import frame_intrinsics
from ..video.tracker import parse_person

__all__ = ["FitConfig", "InferConfig", "describe_fit", "load_fit_config"]


@dataclass(frozen=True)
class FitConfig:
    """Weights of the fit's terms (every residual is divided by its sigma), validated on construction."""

    iterations: int = 1  # Gauss-Newton steps per frame after the rigid one (the first frame of a stretch takes 3x)
    sigma_scale: float = 1.0  # x each landmark's measured error (data.landmark_noise: BlazePose on our renders)
    huber: float = 2.0  # residuals beyond this many sigmas count linearly
    prior_deg: float = 10.0  # pull toward the network's coordinates
    prior_rotation_deg: float = 30.0  # pull toward the network's pelvis rotation (its least sure output)
    prior_translation_m: float = 0.5  # pull toward the box-based root position (depth is what it constrains)
    smooth_deg_per_s: float = 120.0  # pull toward the last frames' motion continued, per second between frames
    momentum: float = 0.0  # how much of the last frames' velocity that continuation keeps (0: stand still)
    min_visibility: float = 0.2  # landmarks BlazePose sees less than this do not pull
    depth_sigma_m: float = 0.0  # > 0: BlazePose's world landmarks' depths (relative to its hips) pull too, this sure
    scale_sigma: float = 0.08  # the subject's scale factors (one per body group) start at the network's, this sure
    scale_forget: float = 0.98  # per frame: how much of what earlier frames said about the scales is kept
    rigid_iterations: int = 1  # steps that move only the pelvis rotation and position first (the body's place)
    start: str = "network"  # each frame starts from: network (its prediction) | previous (the last frame's fit)

    def __post_init__(self) -> None:
        for name in ("sigma_scale", "huber", "prior_deg", "prior_rotation_deg", "prior_translation_m", "smooth_deg_per_s",
                     "scale_sigma"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"FitConfig.{name} must be a positive number, got {v}")
        for name in ("depth_sigma_m", "momentum"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"FitConfig.{name} must be >= 0, got {v}")
        if not 0 <= self.scale_forget <= 1 or self.momentum > 1:
            raise ValueError(f"FitConfig.scale_forget and momentum must be in [0, 1], got {self.scale_forget}, "
                             f"{self.momentum}")
        if self.rigid_iterations < 0:
            raise ValueError(f"FitConfig.rigid_iterations must be >= 0, got {self.rigid_iterations}")
        if not 1 <= self.iterations <= 20:
            raise ValueError(f"FitConfig.iterations must be 1-20, got {self.iterations}")
        if self.start not in ("network", "previous"):
            raise ValueError(f"FitConfig.start must be 'network' or 'previous', got {self.start!r}")
        if not 0 <= self.min_visibility < 1:
            raise ValueError(f"FitConfig.min_visibility must be in [0, 1), got {self.min_visibility}")


def load_fit_config(path: str | Path) -> FitConfig:
    """The fit's settings from a YAML mapping of ``FitConfig`` fields (those left out keep their defaults), checked
    as read: a missing file, an unknown key (a typo), a value of the wrong type or out of range is a ``ValueError``
    (``FileNotFoundError`` for the file) that names it."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"fit config '{path}' does not exist (a YAML mapping of FitConfig fields)")
    try:
        raw = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"fit config '{path}' is not readable YAML ({exc})") from exc
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ValueError(f"fit config '{path}': expected a mapping of FitConfig fields, got {type(raw).__name__}")
    defaults = {f.name: f.default for f in dataclasses.fields(FitConfig)}
    unknown = sorted(str(k) for k in raw if k not in defaults)
    if unknown:
        raise ValueError(f"fit config '{path}': unknown keys {unknown}; allowed: {sorted(defaults)}")
    for key, value in raw.items():
        want = type(defaults[key])
        # YAML reads 1 where 1.0 was meant; a bool is an int to Python but never a weight here
        ok = isinstance(value, want) or (want is float and isinstance(value, int))
        if isinstance(value, bool) or not ok:
            raise ValueError(f"fit config '{path}': {key} must be {want.__name__}, got {value!r}")
    try:
        return FitConfig(**{k: float(v) if type(defaults[k]) is float else v for k, v in raw.items()})
    except ValueError as exc:
        raise ValueError(f"fit config '{path}': {exc}") from exc


def describe_fit(settings: dict | None) -> str:
    """A result's fit settings (``asdict(FitConfig)``, as the bench JSONs record them) in words for its tables: the
    fields that differ from the defaults, or that there are none."""
    if settings is None:
        return "The fit: not run."
    changed = {k: v for k, v in settings.items() if getattr(FitConfig(), k, v) != v}
    return "The fit: " + (", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in changed.items())
                          + " (the rest at their defaults)." if changed else "infer's default settings.")


@dataclass(frozen=True)
class InferConfig:
    """What ``d3ke-edge infer`` does; validated on construction."""

    video: Path
    model: Path | None  # None: the package's default model (d3ke_edge/default_model)
    out: Path
    runtime: str | None = None  # litert | onnx | torchscript | coreml (export folder) | pytorch (checkpoint)
    precision: str | None = None  # fp32 | int8 | fp16 (export folder)
    head: str = "auto"  # auto | none | a causal head's name
    hfov: float = 65.0  # degrees across the long side of the frame
    person: str = "auto"
    tiles: int = 0  # 0: auto (tiles only when the full frame finds nobody)
    start: float = 0.0
    end: float | None = None
    every: int = 1
    # BlazePose on every N-th processed frame, the box extrapolated in between (image models); None: 2 for image
    # models without the fit, else 1 (a landmark model's input and the fit's targets are the landmarks)
    landmark_every: int | None = None
    refine: bool = True  # the fit to the image after the network (infer.fit)
    # a landmark model's pelvis turning faster than this (deg/s) is taken for BlazePose flipping every landmark's
    # side: the frame runs again mirrored (infer.sides); 0: off
    max_turn_deg_s: float = 900.0
    fit: FitConfig = field(default_factory=FitConfig)
    search_frames: int = 90  # no person in this many first frames: stop with an error
    angles: tuple[str, ...] = ()  # overlay panel and plot; () = the large joints the model has
    osim: Path | None = None  # the model's skeleton when it is not the built-in one
    overlay: bool = True
    threads: int = 1

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")
        if self.landmark_every is not None and self.landmark_every < 1:
            raise ValueError(f"landmark_every must be >= 1, got {self.landmark_every}")
        if self.refine and (self.landmark_every or 1) > 1:
            raise ValueError(f"landmark_every {self.landmark_every} leaves frames without landmarks, and the fit to "
                             "the image needs them on every frame: turn the fit off or leave landmark_every at 1")
        if self.search_frames < 1:
            raise ValueError(f"search_frames must be >= 1, got {self.search_frames}")
        if not (np.isfinite(self.max_turn_deg_s) and self.max_turn_deg_s >= 0):
            raise ValueError(f"max_turn_deg_s must be >= 0 (0: off), got {self.max_turn_deg_s}")
        if self.tiles < 0:
            raise ValueError(f"tiles must be >= 0 (0: auto), got {self.tiles}")
        if self.head.strip() == "":
            raise ValueError("head must be auto, none or a head's name")
        parse_person(self.person)
        frame_intrinsics(1, 1, self.hfov)  # range check
