#!/usr/bin/env bash
# Time every TFLite artefact of an export folder on an Android phone with LiteRT's benchmark_model (XNNPACK, CPU),
# with an op profile, and write the numbers as JSON beside the raw logs.
#
#   benchmarks/phone/android_litert.sh EXPORT_DIR [OUT_DIR] [THREADS...]
#
# Needs: adb (Android platform-tools) and a phone with USB debugging on; the first run downloads LiteRT's prebuilt
# android_aarch64_benchmark_model (override with BENCHMARK_MODEL=/path/to/binary). Not run by the toolkit's authors:
# their machines reach no phone, so no number in the README comes from this script.
set -euo pipefail
EXPORT=${1:?usage: $0 EXPORT_DIR [OUT_DIR] [THREADS...]}
OUT=${2:-phone_android}
shift $(( $# >= 2 ? 2 : $# ))
THREADS=("${@:-1 4}")
URL=https://storage.googleapis.com/tensorflow-nightly-public/prod/tensorflow/release/lite/tools/nightly/latest/android_aarch64_benchmark_model
REMOTE=/data/local/tmp/d3ke_edge

command -v adb >/dev/null || { echo "adb not found: install Android platform-tools" >&2; exit 2; }
adb get-state >/dev/null 2>&1 || { echo "no phone: connect one with USB debugging on and authorise this computer" >&2; exit 2; }
ls "$EXPORT"/tflite/*.tflite >/dev/null 2>&1 || { echo "no $EXPORT/tflite/*.tflite: give a d3ke-edge export folder" >&2; exit 2; }
mkdir -p "$OUT"
BIN=${BENCHMARK_MODEL:-$OUT/android_aarch64_benchmark_model}
[ -f "$BIN" ] || curl -fL -o "$BIN" "$URL"
adb shell mkdir -p "$REMOTE"
adb push "$BIN" "$REMOTE/benchmark_model" >/dev/null
adb shell chmod 755 "$REMOTE/benchmark_model"
adb shell getprop ro.product.model > "$OUT/device.txt"
for model in "$EXPORT"/tflite/*.tflite; do
  name=$(basename "$model" .tflite)
  adb push "$model" "$REMOTE/$name.tflite" >/dev/null
  for t in ${THREADS[@]}; do
    echo "$name, $t thread(s)"
    adb shell "$REMOTE/benchmark_model" --graph="$REMOTE/$name.tflite" --num_threads="$t" --use_xnnpack=true \
      --warmup_runs=10 --num_runs=100 --enable_op_profiling=true --report_peak_memory_footprint=true \
      > "$OUT/${name}_t$t.log" 2>&1 || echo "  failed: see $OUT/${name}_t$t.log"
  done
done
python3 - "$OUT" <<'PY'
import json, sys
from pathlib import Path
from d3ke_edge.bench.phone import parse_benchmark_model
out = Path(sys.argv[1])
rows = []
for log in sorted(out.glob("*_t*.log")):
    name, threads = log.stem.rsplit("_t", 1)
    try:
        rows.append({"name": name, "threads": int(threads), **parse_benchmark_model(log.read_text())})
    except ValueError as exc:
        rows.append({"name": name, "threads": int(threads), "error": str(exc)})
device = (out / "device.txt").read_text().strip()
(out / "android.json").write_text(json.dumps({"device": device, "rows": rows}, indent=2) + "\n")
for r in rows:
    print(r["name"], r["threads"], "error" if "error" in r else f"{r['mean_ms']:.2f} ms mean")
PY
