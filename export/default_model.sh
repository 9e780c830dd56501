#!/usr/bin/env bash
# The recipe of the package's default model (d3ke_edge/default_model/): the motion bank from ../shared, the landmark
# model trained on it and the motion families (train/lift_bank_cpu.yaml, ~25 min on a 2-core CPU), exported to TFLite
# fp32 + int8 with its causal heads, then the model card written from the bank's manifest and the checkpoint, and
# (with ../shared) the real-footage benchmark whose summary the card carries.
# Usage: export/default_model.sh [MOTIONS_DIR]   (default ../shared/data/motions)
set -euo pipefail
cd "$(dirname "$0")/.."
motions="${1:-../shared/data/motions}"
# the bank the shipped model was trained on, rebuilt from its committed manifest (refused unless the hash matches):
# the folder has grown since (CMU's ASF/AMC and the C3D trials were read later), and a plain import would take them
d3ke-edge motions import "$motions" --reproduce benchmarks/results/motions/lift_bank_cpu/bank_manifest.json \
    --out runs/motion_bank
d3ke-edge train train/lift_bank_cpu.yaml
staging="$(mktemp -d runs/.default_model-XXXX)"
d3ke-edge export runs/lift_bank_cpu/checkpoint_best.pt --target tflite --precision fp32 --precision int8 --out "$staging"
python -m d3ke_edge.default_model.card --export "$staging" --bank runs/motion_bank \
    --checkpoint runs/lift_bank_cpu/checkpoint_best.pt --recipe train/lift_bank_cpu.yaml
rm -rf d3ke_edge/default_model/tflite
mv "$staging/tflite" "$staging/parity.json" "$staging/parity.md" "$staging/model_card.json" d3ke_edge/default_model/
rm -rf "$staging"
# what it measures on real footage (the shared trial's 4-camera reference), summarised into the card
videos=../shared/data/pose2sim/videos
if [ -d "$videos" ]; then
    ref=runs/reference_shared_trial
    [ -f "$ref/people.json" ] || d3ke-edge reference $(for c in 1 2 3 4; do echo --videos "$videos/cam0$c.mp4"; done) \
        --calib "$videos/Calib.qca.txt" --out "$ref"
    d3ke-edge bench reference --reference "$ref" --model d3ke_edge/default_model \
        --out benchmarks/results/reference/default_model
    python -m d3ke_edge.default_model.card --export d3ke_edge/default_model --bank runs/motion_bank \
        --checkpoint runs/lift_bank_cpu/checkpoint_best.pt --recipe train/lift_bank_cpu.yaml \
        --reference-bench benchmarks/results/reference/default_model/reference_bench.json
fi
