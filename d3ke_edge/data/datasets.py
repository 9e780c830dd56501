"""PyTorch datasets with one sample dict: written shards, on-the-fly rendering, and the D3KE/BML-MoVi layout.

A sample is a dict of tensors: ``image`` (3, S, S) float in [0, 1] and the labels of ``LABEL_KEYS`` (float32,
bool masks, int32 ids). ``SynthShardDataset`` yields one sample at a time (collate with a DataLoader);
``SynthStream`` renders whole batches on the training device and yields them already collated, with the same
keys, dtypes and per-sample shapes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset

from .synth import LABEL_KEYS, SynthConfig, SynthEngine

__all__ = ["SynthShardDataset", "SynthStream", "to_sample", "image_to_float", "sequence_to_batch"]


def image_to_float(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(..., H, W, 3) uint8 RGB -> (..., 3, H, W) float in [0, 1], the layout every model takes."""
    return torch.as_tensor(image).movedim(-1, -3).float().div_(255.0)


def sequence_to_batch(seq: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A rendered sequence (``SynthEngine.sequence(..., as_numpy=False)``) as a batch of sample dicts."""
    return {**seq, "image": image_to_float(seq["image"])}


def to_sample(image: np.ndarray | torch.Tensor, labels: dict) -> dict[str, torch.Tensor]:
    """(S, S, 3) uint8 image + label arrays -> the sample dict (image (3, S, S) float in [0, 1])."""
    sample = {"image": image_to_float(image)}
    for key in LABEL_KEYS:
        sample[key] = torch.as_tensor(np.asarray(labels[key]))
    return sample


class SynthShardDataset(Dataset):
    """Frames of a written dataset split (``root/<split>/subject_*.h5``), read lazily (safe with workers)."""

    def __init__(self, root: str | Path, split: str = "train"):
        import h5py

        self.root = Path(root)
        manifest = self.root / "manifest.json"
        if not manifest.is_file():
            raise FileNotFoundError(f"'{self.root}' has no manifest.json; write a dataset with `d3ke-edge synth --out`")
        self.manifest = json.loads(manifest.read_text())
        self.files = sorted((self.root / split).glob("subject_*.h5"))
        if not self.files:
            raise FileNotFoundError(f"'{self.root}/{split}' holds no shards; the split has no subjects")
        self.index: list[tuple[int, int]] = []
        for i, path in enumerate(self.files):
            with h5py.File(path, "r") as f:
                self.index += [(i, k) for k in range(len(f["frame"]))]
        self._handles: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self.index)

    def _file(self, i: int):
        import h5py

        if i not in self._handles:  # opened per worker process, after the fork
            self._handles[i] = h5py.File(self.files[i], "r")
        return self._handles[i]

    def __getitem__(self, idx: int) -> dict[str, torch.Tensor]:
        import cv2

        i, k = self.index[idx]
        f = self._file(i)
        buf = f["image_jpeg"][k]
        image = cv2.imdecode(np.asarray(buf, dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{self.files[i]}: frame {k} holds a JPEG that cannot be decoded (corrupt shard?)")
        return to_sample(image[:, :, ::-1].copy(), {key: f[key][k] for key in LABEL_KEYS})

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state


class SynthStream(IterableDataset):
    """Endless batches rendered on ``cfg.device`` (no disk at all); use ``DataLoader(stream, batch_size=None)``.

    Consecutive frames of one sequence are nearly identical, so batches draw frames at random from a pool of
    ``pool`` recent sequences, one of which is replaced by a freshly rendered one after every batch.
    """

    def __init__(self, cfg: SynthConfig, batch_size: int, seed: int = 0, pool: int = 8):
        self.cfg, self.batch_size, self.seed, self.pool = cfg, batch_size, seed, pool

    def _render(self, engine: SynthEngine, rng: np.random.Generator, count: int) -> dict[str, torch.Tensor]:
        return sequence_to_batch(engine.sequence(int(rng.integers(2**63 - 1)), sequence_id=count, as_numpy=False))

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        engine = SynthEngine(self.cfg)
        rng = np.random.default_rng([self.seed, worker])
        pool = [self._render(engine, rng, i) for i in range(self.pool)]
        count = self.pool
        while True:
            sizes = [len(p["image"]) for p in pool]
            pick = rng.integers(0, sum(sizes), size=self.batch_size)
            seq_of = np.searchsorted(np.cumsum(sizes), pick, side="right")
            frame_of = pick - np.concatenate([[0], np.cumsum(sizes)[:-1]])[seq_of]
            yield {k: torch.stack([pool[s][k][f] for s, f in zip(seq_of, frame_of)]) for k in pool[0]}
            pool[count % self.pool] = self._render(engine, rng, count)
            count += 1
