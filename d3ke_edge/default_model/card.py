"""``python -m d3ke_edge.default_model.card``: the default model's card, from the things it was made of — the export
folder (artefacts, sizes, parity), the checkpoint (steps, validation), the recipe and the motion bank's manifest
(its hash, the seconds per split, each source's licence). Numbers it measured live in ``benchmarks/results``; the
card points at them, and carries one summary of the real-footage result (``real_footage``, made from that file and
checked against it by a test) because an installed package has no ``benchmarks/`` to read."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..reference.report import JOINT_GROUPS
from ..utils.atomic import atomic_write_text

__all__ = ["make_card", "real_footage_summary"]

RESULTS = {  # where the default model's measurements are (relative to the repository)
    "real_trial": "benchmarks/results/reference/default_model/reference_bench.md",
    "ladder": "benchmarks/results/reference/default_model/ladder.md",
    "synthetic_and_held_out_motion": "benchmarks/results/motions/lift_bank_cpu/landmark_model.md",
    "parity": "d3ke_edge/default_model/parity.md",
}


def real_footage_summary(reference_bench: dict) -> dict:
    """The row ``infer`` runs (the causal head and the fit) of ``bench reference``'s result, beside the poses held
    constant that a tracker must beat: mean angle MAE (deg), the range over cameras, knees and elbows."""
    label = next(k for k in reference_bench["summary"] if k.endswith(" + fit") and "causal" in k)
    s = reference_bench["summary"][label]
    per_camera = [r for r in reference_bench["rows"] if r["model"] == label]
    cams = [sum(c["mae_deg"] for c in r["coordinates"].values()) / len(r["coordinates"]) for r in per_camera]
    pair = lambda a, b: round((s["coordinates"][a]["mae_deg"] + s["coordinates"][b]["mae_deg"]) / 2, 1)  # noqa: E731
    base = reference_bench["baselines"]
    return {"trial": "the shared Pose2Sim trial, each of its 4 cameras alone, against our 4-camera OpenSim reference",
            "mae_deg": round(s["mae_deg"], 1), "per_camera_deg": [round(min(cams), 1), round(max(cams), 1)],
            "knees_deg": pair(*JOINT_GROUPS["knees"]), "elbows_deg": pair(*JOINT_GROUPS["elbows"]),
            "median_pose_held_deg": round(next(v["mae_deg"] for k, v in base.items() if "median" in k), 1),
            "default_pose_held_deg": round(next(v["mae_deg"] for k, v in base.items() if "default" in k), 1),
            "file": RESULTS["real_trial"]}


def make_card(export: Path, bank: Path, checkpoint: Path, recipe: str, reference_bench: Path | None = None) -> dict:
    """The card of the model exported into ``export``, trained by ``recipe`` on the bank in ``bank``; with
    ``reference_bench`` (``bench reference``'s JSON for this model) its real-footage summary."""
    import torch

    manifest = json.loads((bank / "manifest.json").read_text())
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    trained_on = ckpt.get("motion_bank_hash")  # recorded by training since the bank existed
    if trained_on is not None and trained_on != manifest["bank_hash"]:
        raise ValueError(f"'{checkpoint}' was trained on the motion bank {trained_on[:12]}..., not '{bank}' "
                         f"({manifest['bank_hash'][:12]}...): give the bank it was trained on")
    parity = json.loads((export / "parity.json").read_text())
    rows = parity["rows"] if isinstance(parity, dict) else parity
    sources: dict[str, dict] = {}
    for c in manifest["clips"]:
        if c.get("refused"):
            continue
        s = sources.setdefault(c["source"], {"licence": c["licence"].split(": ", 1)[-1], "clips": 0, "seconds": 0.0})
        s["clips"] += 1
        s["seconds"] = round(s["seconds"] + c["duration_s"], 1)
    return {
        "name": "lift_bank_cpu", "architecture": ckpt["config"]["model"]["name"], "recipe": recipe,
        "remake": "export/default_model.sh", "steps": int(ckpt["step"]),
        "validation": {k: round(float(v), 3) for k, v in ckpt["best"].items() if k != "step"},
        "motion_bank": {"hash": manifest["bank_hash"], "seconds": manifest["summary"]["seconds"],
                        "clips_imported": manifest["summary"]["imported"], "sources": sources,
                        "manifest": "benchmarks/results/motions/lift_bank_cpu/bank_manifest.md"},
        "families": "the built-in motion families (d3ke_edge.data.motion), motion_bank_weight 0.5",
        "artefacts": [{"artefact": r["artefact"], "precision": r["precision"], "kind": r["kind"],
                       "head": r.get("head"), "size_mb": r["size_mb"], "parity": r["pass"]} for r in rows],
        "infer": "per-frame fp32 + gru_causal step head, then the fit to the image (d3ke_edge.infer.fit)",
        "results": RESULTS,
        **({"real_footage": real_footage_summary(json.loads(reference_bench.read_text()))} if reference_bench else {}),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--export", type=Path, required=True)
    ap.add_argument("--bank", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--recipe", required=True)
    ap.add_argument("--reference-bench", type=Path, default=None,
                    help="bench reference's JSON for this model (benchmarks/results/reference/default_model/)")
    a = ap.parse_args()
    card = make_card(a.export, a.bank, a.checkpoint, a.recipe, a.reference_bench)
    atomic_write_text(a.export / "model_card.json", json.dumps(card, indent=2) + "\n")
    print(f"model card: {a.export / 'model_card.json'}")


if __name__ == "__main__":
    main()
