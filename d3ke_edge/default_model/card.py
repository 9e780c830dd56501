"""``python -m d3ke_edge.default_model.card``: the default model's card, from the things it was made of — the export
folder (artefacts, sizes, parity), the checkpoint (steps, validation), the recipe and the motion bank's manifest
(its hash, the seconds per split, each source's licence). Numbers it measured live in ``benchmarks/results``; the
card points at them instead of copying them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..utils.atomic import atomic_write_text

__all__ = ["make_card"]

RESULTS = {  # where the default model's measurements are (relative to the repository)
    "real_trial": "benchmarks/results/reference/default_model/reference_bench.md",
    "ladder": "benchmarks/results/reference/default_model/ladder.md",
    "synthetic_and_held_out_motion": "benchmarks/results/motions/lift_bank_cpu/landmark_model.md",
    "parity": "d3ke_edge/default_model/parity.md",
}


def make_card(export: Path, bank: Path, checkpoint: Path, recipe: str) -> dict:
    """The card of the model exported into ``export``, trained by ``recipe`` on the bank in ``bank``."""
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
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--export", type=Path, required=True)
    ap.add_argument("--bank", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--recipe", required=True)
    a = ap.parse_args()
    card = make_card(a.export, a.bank, a.checkpoint, a.recipe)
    atomic_write_text(a.export / "model_card.json", json.dumps(card, indent=2) + "\n")
    print(f"model card: {a.export / 'model_card.json'}")


if __name__ == "__main__":
    main()
