"""The landmark model's accuracy on synthetic test sequences, and against the image model on the same sequences.

    python benchmarks/landmark_model.py --lift RUN/checkpoint_best.pt [--image QUICKSTART/checkpoint_best.pt]
        [--sequences 16] [--bank BANK] [--out benchmarks/results/landmark_model]

A: the landmark model (per frame, and each causal head trained beside it) on test motions of its own distribution
   (their own seeds, one camera per sequence, the 15 families as they are: no pose spread, no recorded motion), under the measured BlazePose noise, the same without left/right swaps,
   and clean projections.
B: with ``--image``: both models on the same rendered sequences (the image model's data distribution): the image
   model on the engine's crops, the landmark model on the same frames' projected landmarks with the measured noise.
C: with ``--image`` and ``--clips N``: the whole video path (``infer``: BlazePose tracking, then each model, per
   frame and with its GRU head) on N full-frame rendered clips of the image model's distribution, scored against
   their truth: the landmark model on BlazePose's real output, not on the noise model.
D: with ``--bank BANK``: held-out recorded motion, the bank's test split (its clips never enter training), one
   seeded camera per sequence, with the measured noise and clean.
Errors per joint group (``bench.metrics.sequence_errors``), averaged over sequences. Writes JSON and Markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from d3ke_edge.bench.landmarks import GROUP_KEYS, mean_errors, predict_sequences
from d3ke_edge.bench.metrics import sequence_errors
from d3ke_edge.data.datasets import image_to_float
from d3ke_edge.data.landmark_input import landmark_features
from d3ke_edge.data.landmark_synth import Corruptor, LandmarkSynthConfig, landmark_skeleton
from d3ke_edge.data.synth import SynthEngine
from d3ke_edge.train.checkpoint import load_bundle
from d3ke_edge.train.config import DataConfig
from d3ke_edge.train.data import landmark_synth, sequence_seed, synth_config
from d3ke_edge.train.temporal import TARGETS
from d3ke_edge.utils.atomic import atomic_write_text

KEYS = GROUP_KEYS


def _data_cfg(bundle) -> DataConfig:
    known = {f.name for f in dataclasses.fields(DataConfig)}
    raw = {k: tuple(v) if isinstance(v, list) else v for k, v in bundle.ckpt["config"]["data"].items() if k in known}
    return DataConfig(**raw)


def lift_on_its_distribution(lift, n: int, seed: int = 0) -> dict:
    cfg = dataclasses.replace(_data_cfg(lift), motion_bank=None, motion_bank_weight=0.0)  # the families' test set
    out = {}
    for label, swaps, noise in (("measured noise", 1.0, "measured"), ("measured noise, no swaps", 0.0, "measured"),
                                ("clean projections", 0.0, "none")):
        dcfg = dataclasses.replace(cfg, landmark_swaps=swaps, landmark_noise=noise, landmark_pose_spread_deg=0.0)
        synth = landmark_synth(dcfg, seed, 3, n, skeleton=lift.model.space.skeleton, first=20_000,
                               features=lift.model.input_size)
        seqs = synth.sequences(list(range(n)), torch.Generator().manual_seed(sequence_seed(seed, 3, 900_003)))
        out[label] = mean_errors(predict_sequences(lift, seqs["landmarks"]), seqs, lift.model.space)
    return out


def recorded(lift, bank: Path, n: int, seed: int = 0) -> dict:
    """D: held-out recorded motion — the bank's test split (windows of its clips, each on a random subject), one
    seeded camera per sequence, with the measured noise and clean."""
    cfg = dataclasses.replace(_data_cfg(lift), motion_bank=str(bank), motion_bank_weight=1.0,
                              landmark_pose_spread_deg=0.0)
    out = {}
    for label, swaps, noise in (("measured noise", 1.0, "measured"), ("clean projections", 0.0, "none")):
        dcfg = dataclasses.replace(cfg, landmark_swaps=swaps, landmark_noise=noise)
        synth = landmark_synth(dcfg, seed, 3, n, skeleton=lift.model.space.skeleton, first=40_000,
                               features=lift.model.input_size)
        seqs = synth.sequences(list(range(n)), torch.Generator().manual_seed(sequence_seed(seed, 3, 900_006)))
        out[label] = mean_errors(predict_sequences(lift, seqs["landmarks"]), seqs, lift.model.space)
    return out


def same_sequences(lift, image, n: int, seed: int = 0) -> dict:
    """Both models on the image model's rendered test sequences (landmarks projected from the same frames)."""
    cfg = _data_cfg(image)
    skel, lm_names = landmark_skeleton()
    size = image.model.input_size
    engine = SynthEngine(synth_config(cfg, size, "cpu", seconds=2.0), skeleton=skel)
    own = len(skel.marker_names) - len(lm_names)
    lm = [skel.marker_names.index(m) for m in lm_names]
    world = lift.model.world
    noise = Corruptor(LandmarkSynthConfig(fps=cfg.fps, world=world))  # the measured noise, swaps included
    gen = torch.Generator().manual_seed(sequence_seed(seed, 3, 900_004))
    imgs, feats, truth = [], [], {k: [] for k in TARGETS}
    for i in range(n):
        s = engine.sequence(sequence_seed(seed, 3, 30_000 + i), sequence_id=i, as_numpy=False)
        K = s["K_full"]
        cam = s["markers_cam"][:, lm]
        xy = cam[..., :2] / cam[..., 2:] * torch.stack([K[:, 0, 0], K[:, 1, 1]], -1)[:, None] + K[:, None, :2, 2]
        state = noise.ar_noise()
        frames = [noise.corrupt(xy[t : t + 1], s["pelvis_rot_cam"][t : t + 1], gen, state,
                                cam[t : t + 1] if world else None) for t in range(len(xy))]
        xy_n, vis, pres = (torch.cat([f[j] for f in frames]) for j in range(3))
        feats.append(landmark_features(xy_n, vis, pres, K, torch.cat([f[3] for f in frames]) if world else None))
        imgs.append(image_to_float(s["image"]))
        for k in TARGETS:
            truth[k].append(s[k][..., :own, :] if k == "markers_rel" else s[k])
    truth = {k: torch.stack(v) for k, v in truth.items()}
    return {"image model": mean_errors(predict_sequences(image, torch.stack(imgs)), truth, image.model.space),
            "landmark model": mean_errors(predict_sequences(lift, torch.stack(feats)), truth, lift.model.space)}


def through_infer(lift_ckpt: Path, image_ckpt: Path, cfg: DataConfig, clips: int) -> dict:
    import tempfile

    from d3ke_edge.infer.config import InferConfig
    from d3ke_edge.infer.run import run_infer
    from d3ke_edge.infer.synthetic import write_test_clip
    from d3ke_edge.models.graphs import DECODED_OUTPUTS

    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, ckpt in (("image model", image_ckpt), ("landmark model", lift_ckpt)):
            space = load_bundle(ckpt).model.space
            per_head: dict[str, list] = {}
            for i in range(clips):
                folder = Path(tmp) / f"clip{i}"
                folder.mkdir(exist_ok=True)
                video, clip = write_test_clip(folder, 700_000 + i, cfg.families, cfg.yaw_range_deg)
                for head in ("none", "gru_causal"):
                    res = run_infer(InferConfig(video, ckpt, folder / f"{label}_{head}", head=head, overlay=False),
                                    say=lambda m: None)
                    ok = [f for f in res.frames if f["status"] == "ok"]
                    if len(ok) < 3:
                        continue
                    rows = [int(round(f["time"] * clip.fps)) for f in ok]
                    pred = {k: torch.as_tensor(np.stack([f["outputs"][k] for f in ok]), dtype=torch.float32)
                            for k in DECODED_OUTPUTS}
                    truth = {k: torch.as_tensor(clip.labels[k][rows], dtype=torch.float32) for k in DECODED_OUTPUTS}
                    per_head.setdefault("per-frame" if head == "none" else head, []).append(
                        sequence_errors(pred, truth, space))
            out[label] = {h: {k: float(np.nanmean([e[k] for e in errs])) for k in KEYS if k in errs[0]}
                          for h, errs in per_head.items()}
    return out


def _table(title: str, rows: dict[str, dict[str, float]]) -> list[str]:
    head = ["model", "angle MAE", "hips", "knees", "ankles/feet", "shoulders", "elbows", "lumbar", "pelvis rot",
            "MPJPE mm", "PA-MPJPE mm", "accel err mm/f^2"]
    keys = KEYS[:-1]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{r.get(k, float('nan')):.2f}" for k in keys) + " |")
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lift", type=Path, required=True)
    ap.add_argument("--image", type=Path)
    ap.add_argument("--sequences", type=int, default=16)
    ap.add_argument("--clips", type=int, default=0)
    ap.add_argument("--bank", type=Path, help="a motion bank (d3ke-edge motions import): D, its test split")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "landmark_model")
    args = ap.parse_args()
    lift = load_bundle(args.lift)
    report = {"lift": str(args.lift), "image": str(args.image) if args.image else None, "sequences": args.sequences,
              "A": lift_on_its_distribution(lift, args.sequences)}
    lines = [f"# The landmark model ({lift.name}) on synthetic test sequences", "",
             "Angles: mean absolute error in degrees per joint group; pelvis rot: geodesic error of the pelvis "
             "orientation in the camera frame (deg).", ""]
    for label, rows in report["A"].items():
        lines += _table(f"A. Its own distribution (all motions, cameras all around): {label}", rows)
    if args.image:
        image = load_bundle(args.image)
        report["B"] = same_sequences(lift, image, args.sequences)
        for label, rows in report["B"].items():
            lines += _table(f"B. The image model's test sequences ({image.name}'s distribution): {label}", rows)
        if args.clips:
            report["C"] = through_infer(args.lift, args.image, _data_cfg(image), args.clips)
            for label, rows in report["C"].items():
                lines += _table(f"C. {args.clips} rendered clips through infer (BlazePose -> model): {label}", rows)
    if args.bank:
        report["D"] = recorded(lift, args.bank, args.sequences)
        for label, rows in report["D"].items():
            lines += _table(f"D. Held-out recorded motion (the bank's test split, {args.bank.name}): {label}", rows)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "landmark_model.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(args.out / "landmark_model.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
