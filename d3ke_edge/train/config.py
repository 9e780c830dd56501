"""Typed configuration of a training run; YAML is read only at the CLI boundary (``load_config``).

Each stage gets its own frozen dataclass, validated in ``__post_init__``, so every default lives in one place.
``train/*.yaml`` are the commented examples.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..data.conditions import CONDITIONS
from ..data.landmark_input import FEATURES, FEATURES_WORLD
from ..data.landmark_synth import LandmarkSynthConfig
from ..models.inputs import LANDMARKS
from ..models.registry import input_kind

__all__ = ["ModelConfig", "DataConfig", "LossConfig", "OptimConfig", "TemporalConfig", "Experiment", "load_config"]


@dataclass(frozen=True)
class ModelConfig:
    name: str = "d3ke_mnv3_small"
    input_size: int | None = None  # image models: the crop side (default 192); landmark models: their 135 / 234 features
    backbone_weights: str | None = None  # a local torchvision state_dict (hub downloads are not used)
    world_landmarks: bool = False  # landmark models: BlazePose's world landmarks as an extra input (234 features)

    def __post_init__(self) -> None:
        if self.landmarks:
            n = FEATURES_WORLD if self.world_landmarks else FEATURES
            if self.input_size not in (None, n):
                raise ValueError(f"model.input_size: the landmark model '{self.name}' takes {n} features; "
                                 f"leave input_size out (got {self.input_size})")
            if self.backbone_weights is not None:
                raise ValueError(f"model.backbone_weights: the landmark model '{self.name}' has no pretrained backbone")
            object.__setattr__(self, "input_size", n)
            return
        if self.world_landmarks:
            raise ValueError(f"model.world_landmarks: '{self.name}' is an image model; only landmark models "
                             "(d3ke_lift_*) take BlazePose's world landmarks")
        if self.input_size is None:
            object.__setattr__(self, "input_size", 192)
        if not 64 <= self.input_size <= 512 and self.input_size != 32:
            raise ValueError(f"model.input_size must be within 64..512, got {self.input_size}")

    @property
    def landmarks(self) -> bool:
        """Whether this is a landmark model (BlazePose landmarks in) rather than an image model."""
        return input_kind(self.name) == LANDMARKS

    def kwargs(self) -> dict:
        """The builder's arguments (what a checkpoint stores to rebuild the model)."""
        if self.landmarks:
            return {"world": True} if self.world_landmarks else {}
        return {"input_size": self.input_size}


@dataclass(frozen=True)
class DataConfig:
    source: str = "synth"  # synth (rendered on the fly, no disk) | shards (a written dataset) | bmlmovi | landmarks
    root: str | None = None  # dataset directory for shards / bmlmovi
    sequence_seconds: float = 2.0
    fps: float = 30.0
    pool: int = 8  # sequences frames are drawn from (synth)
    sequences_per_step: float = 0.5  # fresh sequences rendered per step (synth)
    render_device: str = "auto"  # auto: the training device
    render_batch: int = 1  # sequences rendered per renderer call (synth): later steps' sequences are drawn ahead
    workers: int = 1  # data processes (0: made in the training process; the GPU renderer always is)
    val_sequences: int = 8
    backgrounds: str | None = None
    families: tuple[str, ...] | None = None  # synth motion families (None: all)
    yaw_range_deg: tuple[float, float] | None = None  # synth camera yaw range (None: all around)
    # training-time augmentation with the robustness benchmark's condition kernels (data.conditions): each frame
    # gets one of ``augment`` with probability ``augment_p``, at a severity up to ``augment_max_severity``
    augment: tuple[str, ...] = ()
    augment_p: float = 0.5
    augment_max_severity: int = 3
    # landmarks (the landmark models' data, data.landmark_synth): motions in the training pose bank, and the noise
    # that makes projected markers BlazePose-like (measured: the shipped rows; none; or a noise .npz)
    bank_sequences: int = 256
    landmark_noise: str = "measured"
    landmark_swaps: float = 1.0  # x the measured left/right swap rates (0: none)
    landmark_pose_spread_deg: float = 0.0  # smooth random offsets on the motions' coordinates (LandmarkSynthConfig)
    landmark_placement_m: float = 0.0  # per-subject offsets of the landmarks on their bodies (LandmarkSynthConfig)
    # recorded motion (d3ke-edge motions import): this fraction of the pose bank's sequences from the bank's clips
    # (training: its train split; validation: its val split), the rest from the families
    motion_bank: str | None = None
    motion_bank_weight: float = 0.0

    def __post_init__(self) -> None:
        unknown = [c for c in self.augment if c != "hflip" and c not in CONDITIONS]
        if unknown:
            raise ValueError(f"data.augment: unknown condition(s) {unknown}; choose from hflip, {', '.join(CONDITIONS)}")
        if not 0.0 <= self.augment_p <= 1.0 or not 1 <= self.augment_max_severity <= 5:
            raise ValueError(f"data.augment_p must be within 0-1 and data.augment_max_severity within 1-5; got "
                             f"{self.augment_p}, {self.augment_max_severity}")
        if self.source not in ("synth", "shards", "bmlmovi", "landmarks"):
            raise ValueError(f"data.source must be synth, shards, bmlmovi or landmarks, got '{self.source}'")
        if self.source == "landmarks" and self.augment:
            raise ValueError("data.augment acts on images; the landmark data has its own measured noise "
                             "(data.landmark_noise)")
        if self.source == "landmarks":
            LandmarkSynthConfig(self.bank_sequences, self.sequence_seconds, self.fps, self.families,
                                self.yaw_range_deg, self.landmark_noise, self.landmark_swaps,
                                self.landmark_pose_spread_deg, placement_m=self.landmark_placement_m,
                                motion_bank=self.motion_bank, motion_bank_weight=self.motion_bank_weight)  # validates
        elif self.motion_bank_weight:
            raise ValueError("data.motion_bank feeds the landmark data (data.source: landmarks); the image engine "
                             "takes recorded motion as a .mot per sequence")
        if self.source not in ("synth", "landmarks") and not self.root:
            raise ValueError(f"data.root is required for data.source '{self.source}'")
        if self.render_batch < 1 or self.pool < 1:
            raise ValueError(f"data.render_batch and data.pool must be >= 1, got {self.render_batch}, {self.pool}")


@dataclass(frozen=True)
class LossConfig:
    """D3KE: 1.0 joint + 2.0 marker + 0.1 body scale + lambda angle (0.06 in the seed document, 0.01 in its code)."""

    marker: float = 2.0
    joint: float = 1.0
    scale: float = 0.1
    angle: float = 0.06
    rotation: float = 0.0  # not in D3KE: |R_pred - R_true|_F of the pelvis orientation; helps short runs
    teacher: float = 1.0  # weight of the distillation term when optim.teacher is set


@dataclass(frozen=True)
class OptimConfig:
    steps: int = 1000
    batch: int = 64
    lr: float = 5e-4  # D3KE: 5e-4 -> 3.33e-5 exponentially over 28/30 of training, then 3.33e-6 -> 1e-6
    lr_end: float = 3.33e-5
    lr_tail: tuple[float, float] = (3.33e-6, 1e-6)
    tail_fraction: float = 2 / 30
    weight_decay: float = 1e-3
    grad_clip: float = 1.0
    seed: int = 0
    ckpt_every: int = 500
    val_every: int = 250
    log_every: int = 20
    bf16: bool = True  # on CUDA only
    channels_last: bool = True  # CUDA and CPU (CPU, MobileNetV3-Small 64 px, batch 64: fwd+bwd 408 -> 327 ms)
    compile: bool = False
    # torch.compile mode. The FK head is many small kernels, so launches dominate a step: on one H100,
    # ResNeXt-50 256 px batch 64 measured 838 frames/s eager, 1254 "default", 2210 "reduce-overhead" (CUDA graphs).
    compile_mode: str = "default"
    teacher: str | None = None  # checkpoint of a server model to distil from
    tensorboard: bool = True  # also log to OUT/tensorboard (needs the tensorboard package)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 1:
            raise ValueError("optim.steps and optim.batch must be positive")
        modes = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
        if self.compile_mode not in modes:
            raise ValueError(f"optim.compile_mode must be one of {modes}, got '{self.compile_mode}'")


@dataclass(frozen=True)
class TemporalConfig:
    heads: tuple[str, ...] = ("tcn_causal", "gru_causal")
    train_sequences: int = 48
    test_sequences: int = 12
    sequence_seconds: float = 2.0
    steps: int = 400
    batch: int = 16
    lr: float = 1e-3  # D3KE's temporal stage: 1e-3 -> 5e-6
    lr_end: float = 5e-6
    window: int = 243  # for the offline centre-frame transformer
    causal_window: int = 30  # frames the causal transformer attends to per layer (its key/value cache + 1)
    width: int = 128  # TCN channels / GRU hidden size / causal transformer width (a multiple of its 4 heads)
    clip: int = 16  # frames per clip for end-to-end training (``--stage end-to-end``)
    accel: float = 0.0  # weight of a marker-acceleration term (not in D3KE; 0 = D3KE's loss only)


@dataclass(frozen=True)
class Experiment:
    out: str
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    temporal: TemporalConfig | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _build(cls, values: dict | None, where: str):
    values = dict(values or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; allowed: {sorted(names)}")
    for f in dataclasses.fields(cls):
        if f.name in values and isinstance(values[f.name], list):
            values[f.name] = tuple(values[f.name])
    return cls(**values)


def load_config(path: str | Path, out: str | None = None) -> Experiment:
    """Read a YAML experiment; ``out`` overrides its output directory."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config '{path}' does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    allowed = {"out", "model", "data", "loss", "optim", "temporal"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValueError(f"{path}: unknown sections {unknown}; allowed: {sorted(allowed)}")
    return Experiment(
        out=out or raw.get("out") or f"runs/{path.stem}",
        model=_build(ModelConfig, raw.get("model"), f"{path}: model"),
        data=_build(DataConfig, raw.get("data"), f"{path}: data"),
        loss=_build(LossConfig, raw.get("loss"), f"{path}: loss"),
        optim=_build(OptimConfig, raw.get("optim"), f"{path}: optim"),
        temporal=_build(TemporalConfig, raw["temporal"], f"{path}: temporal") if raw.get("temporal") else None,
    )
