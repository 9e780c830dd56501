"""Training batches as a pure function of (seed, step), so a resumed run sees exactly the batches it would have.

- synth: sequences are rendered on the fly (on the training device when it is a GPU); batch ``s`` draws frames
  at random from the sequences ``[s*r, s*r + pool)`` (r fresh sequences per step), each rendered once.
- shards / bmlmovi: batch ``s`` indexes the dataset with a generator seeded by (seed, s).
Validation sets are fixed: their own sequence seeds, or the dataset's val split.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import IterableDataset

from ..data.bmlmovi import BMLMoviDataset
from ..data.conditions import augment_batch
from ..data.datasets import SynthShardDataset, sequence_to_batch
from ..data.landmark_input import FEATURES, FEATURES_WORLD
from ..data.landmark_synth import LandmarkSynth, LandmarkSynthConfig, PoseBank
from ..data.synth import FAMILY_NAMES, LABEL_KEYS, SynthConfig, SynthEngine
from ..skeleton.builtin import builtin_skeleton
from ..skeleton.mirror import derive_mirror
from .config import DataConfig

__all__ = ["StepBatches", "SynthSource", "LandmarkSource", "validation_set", "sequence_seed", "synth_config",
           "landmark_synth"]


def sequence_seed(seed: int, kind: int, index: int) -> int:
    """Seed of synthetic sequence ``index`` of a stream (kind 1: train, 2: val, 3: test)."""
    return int(np.random.SeedSequence([seed, kind, index]).generate_state(1)[0])


def synth_config(cfg: DataConfig, size: int, device: str, seconds: float | None = None) -> SynthConfig:
    """The renderer settings a training data config implies (one place, for train, val and temporal data)."""
    return SynthConfig(size=size, fps=cfg.fps, seconds=seconds or cfg.sequence_seconds, device=device,
                       backgrounds=cfg.backgrounds, families=cfg.families or FAMILY_NAMES,
                       yaw_range_deg=cfg.yaw_range_deg, chunk=16 if device == "cpu" else 256)


def _render(engine: SynthEngine, seeds: list[int], ids: list[int], group: int) -> list[dict[str, torch.Tensor]]:
    """Sequences as batches (float images), rendered ``group`` at a time in batched draws."""
    out = []
    for g in range(0, len(seeds), group):
        out += [sequence_to_batch(s) for s in engine.sequences(seeds[g : g + group], ids[g : g + group], as_numpy=False)]
    return out


class SynthSource:
    """Frames (or clips) of on-the-fly rendered sequences; the batch of a step depends only on (seed, step)."""

    def __init__(self, cfg: DataConfig, size: int, batch: int, seed: int, device: str):
        self.cfg, self.batch, self.seed = cfg, batch, seed
        self.synth = synth_config(cfg, size, device)
        self.engine: SynthEngine | None = None
        self.cache: dict[int, dict[str, torch.Tensor]] = {}

    def _window(self, step: int) -> int:
        """Render the pool of sequences step ``step`` draws from; returns the first sequence id.

        Missing sequences are rendered ``render_batch`` per batched draw, at least ``render_batch`` of them (ahead
        of need); each one depends only on its own seed, so the batches do not depend on ``render_batch``.
        """
        if self.engine is None:
            self.engine = SynthEngine(self.synth)
        first = int(step * self.cfg.sequences_per_step)
        for i in list(self.cache):
            if i < first:
                del self.cache[i]
        missing = [i for i in range(first, first + self.cfg.pool) if i not in self.cache]
        if missing:
            ahead = range(missing[0], max(missing[-1] + 1, missing[0] + self.cfg.render_batch))
            ids = [i for i in ahead if i not in self.cache]
            seeds = [sequence_seed(self.seed, 1, i) for i in ids]
            self.cache.update(zip(ids, _render(self.engine, seeds, ids, self.cfg.render_batch)))
        return first

    def __call__(self, step: int) -> dict[str, torch.Tensor]:
        first = self._window(step)
        rng = np.random.default_rng([self.seed, step])
        which = rng.integers(first, first + self.cfg.pool, size=self.batch)
        frames = [int(rng.integers(len(self.cache[i]["frame"]))) for i in which]
        return {k: torch.stack([self.cache[i][k][f] for i, f in zip(which, frames)]) for k in self.cache[first]}

    def clips(self, step: int, n: int, length: int) -> dict[str, torch.Tensor]:
        """``n`` clips of ``length`` consecutive frames (n, length, ...) for end-to-end temporal training."""
        first = self._window(step)
        rng = np.random.default_rng([self.seed, step])
        out = []
        for i in rng.integers(first, first + self.cfg.pool, size=n):
            seq = self.cache[int(i)]
            T = len(seq["frame"])
            if T < length:
                raise ValueError(f"sequences have {T} frames, fewer than the clip length {length}")
            s0 = int(rng.integers(0, T - length + 1))
            out.append({k: v[s0 : s0 + length] for k, v in seq.items()})
        return {k: torch.stack([c[k] for c in out]) for k in out[0]}


def landmark_synth(cfg: DataConfig, seed: int, kind: int, sequences: int, seconds: float | None = None,
                   skeleton=None, first: int = 0, features: int = FEATURES):
    """The landmark data of a training data config: a pose bank of ``sequences`` motions of stream ``kind`` (1 train,
    2 val, 3 test, 4 calib; their own seeds, from index ``first``) and its sampler, making the model's input
    ``features`` (135, or 234 with the world landmarks)."""
    if features not in (FEATURES, FEATURES_WORLD):
        raise ValueError(f"landmark models take {FEATURES} or {FEATURES_WORLD} features, not {features}")
    split = {1: "train", 2: "val"}.get(kind, "test")  # calibration data (4) is held out like a test set
    lcfg = LandmarkSynthConfig(sequences, seconds or cfg.sequence_seconds, cfg.fps, cfg.families, cfg.yaw_range_deg,
                               cfg.landmark_noise, cfg.landmark_swaps, cfg.landmark_pose_spread_deg,
                               world=features == FEATURES_WORLD, placement_m=cfg.landmark_placement_m,
                               motion_bank=cfg.motion_bank, motion_bank_weight=cfg.motion_bank_weight,
                               motion_bank_split=split)
    bank = PoseBank.build(lcfg, [sequence_seed(seed, kind, first + i) for i in range(sequences)], skeleton)
    return LandmarkSynth(bank, lcfg)


class LandmarkSource:
    """Landmark batches: fresh cameras and noise draws on one training pose bank, a function of (seed, step)."""

    def __init__(self, cfg: DataConfig, batch: int, seed: int, skeleton=None, features: int = FEATURES):
        self.cfg, self.batch, self.seed, self.skeleton, self.features = cfg, batch, seed, skeleton, features
        self.synth = None

    def __call__(self, step: int) -> dict[str, torch.Tensor]:
        if self.synth is None:  # built in the data process, once
            self.synth = landmark_synth(self.cfg, self.seed, 1, self.cfg.bank_sequences, skeleton=self.skeleton,
                                        features=self.features)
        gen = torch.Generator().manual_seed(sequence_seed(self.seed, 6, step))
        return self.synth.batch(self.batch, gen)


class _DatasetSource:
    def __init__(self, dataset, batch: int, seed: int):
        self.dataset, self.batch, self.seed = dataset, batch, seed

    def __call__(self, step: int) -> dict[str, torch.Tensor]:
        idx = np.random.default_rng([self.seed, step]).integers(len(self.dataset), size=self.batch)
        samples = [self.dataset[int(i)] for i in idx]
        return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}


def _dataset(cfg: DataConfig, split: str, skeleton=None):
    if cfg.source == "shards":
        return SynthShardDataset(cfg.root, split)
    from pathlib import Path

    return BMLMoviDataset(Path(cfg.root) / split, skeleton)


class StepBatches(IterableDataset):
    """Yields ``(step, batch)`` for steps ``start .. stop-1``, each once and in order, with any number of data
    processes; use ``DataLoader(self, batch_size=None, num_workers=N)``."""

    def __init__(self, cfg: DataConfig, size: int, batch: int, seed: int, start: int, stop: int,
                 device: str = "cpu", skeleton=None):
        self.cfg, self.size, self.batch, self.seed = cfg, size, batch, seed
        self.start, self.stop, self.device, self.skeleton = start, stop, device, skeleton

    def _source(self):
        if self.cfg.source == "synth":
            return SynthSource(self.cfg, self.size, self.batch, self.seed, self.device)
        if self.cfg.source == "landmarks":
            return LandmarkSource(self.cfg, self.batch, self.seed, self.skeleton, self.size)
        return _DatasetSource(_dataset(self.cfg, "train", self.skeleton), self.batch, self.seed)

    def __iter__(self):
        first, every = self.start, 1
        info = torch.utils.data.get_worker_info()
        if info is not None:
            torch.set_num_threads(1)  # the training process keeps the other cores
            # each data process makes every n-th step (a batch is a function of the step, so any process can make
            # any); the loader takes one batch from each in turn, so the steps arrive in order, each once
            first, every = self.start + info.id, info.num_workers
        source = self._source()
        mirror = None
        if "hflip" in self.cfg.augment:
            mirror = derive_mirror(self.skeleton or builtin_skeleton())
        for step in range(first, self.stop, every):
            batch = source(step)
            if self.cfg.augment:  # the benchmark's kernels, seeded by (seed, step): a resumed run sees the same

                batch = augment_batch(batch, self.cfg.augment, self.cfg.augment_p, self.cfg.augment_max_severity,
                                      mirror, sequence_seed(self.seed, 5, step))
            yield step, batch


def validation_set(cfg: DataConfig, size: int, seed: int, split: str = "val", device: str = "cpu",
                   skeleton=None, max_frames: int = 2048) -> dict[str, torch.Tensor]:
    """A fixed batch: rendered sequences of their own seeds (synth) or the dataset's split.

    ``split``: val, test, or calib (training-distribution frames for BatchNorm recalibration).
    """
    kind = {"val": 2, "test": 3, "calib": 4}[split]
    if cfg.source == "landmarks":  # every frame of the split's own motions, each with a random camera (seeded)
        synth = landmark_synth(cfg, seed, kind, max(8, cfg.val_sequences), skeleton=skeleton, features=size)
        gen = torch.Generator().manual_seed(sequence_seed(seed, kind, 900_001))
        idx = torch.arange(len(synth.bank))
        if len(idx) > max_frames:
            idx = idx[torch.randperm(len(idx), generator=gen)[:max_frames]]
        return synth.views(idx, gen)
    if cfg.source == "synth":
        engine = SynthEngine(synth_config(cfg, size, device))
        n_seq = max(8, cfg.val_sequences) if split == "calib" else cfg.val_sequences
        ids = list(range(n_seq))
        seqs = _render(engine, [sequence_seed(seed, kind, i) for i in ids], ids, cfg.render_batch)
        batch = {k: torch.cat([s[k] for s in seqs]) for k in seqs[0]}
        if split == "calib":  # a random subset spread over all sequences
            n = len(batch["frame"])
            pick = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_frames]
            batch = {k: v[pick.to(v.device)] for k, v in batch.items()}
        return batch
    ds = _dataset(cfg, "train" if split == "calib" else split, skeleton)
    idx = np.linspace(0, len(ds) - 1, min(len(ds), max_frames)).astype(int)
    samples = [ds[int(i)] for i in idx]
    return {k: torch.stack([s[k] for s in samples]) for k in LABEL_KEYS + ("image",)}
