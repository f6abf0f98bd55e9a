#!/usr/bin/env bash
# Pack what `pipeline/gpu_check.sh` needs on a lent GPU machine (issue 11 §5) into carry/gpu-check/,
# which .gitignore keeps out of the repository and the device tool carries (`carry:
# ["carry/gpu-check"]`). The device has no Rust toolchain and no network, and what travels is
# limited to 64 MiB with the working tree, so:
#   - the release binary, stripped and xz-compressed (67 MB → ≈ 12 MB); it keeps its
#     DT_NEEDED on libtorch_cuda (build.rs), and the check script points LD_LIBRARY_PATH at the
#     device's torch 2.11.0;
#   - m3e-small with its weights in f16 (96 → 48 MB): the model loader converts every tensor to
#     the variable's kind, so the run trains in the same f32 weights as a CPU run of this pack
#     (`DEVICE=cpu bash pipeline/gpu_check.sh`) — both start from the f16-rounded values;
#   - the documented coronary split (`corpus split --by report --ratios 8:1:1 --seed 42`),
#     xz-compressed. The corpus texts go nowhere but this ignored folder and the device.
# Usage: bash pipeline/gpu_pack.sh [PACK_DIR]   (after `make build`; `make gpu-pack` does both)
set -euo pipefail

PACK=${1:-carry/gpu-check}
BIN=${BIN:-target/release/cbrrel}
ENCODER=${ENCODER:-../shared/models/m3e-small}
CORPUS=${CORPUS:-../shared/data/coronary_angiography/reports.jsonl}
PYTHON=${PYTHON:-.venv/bin/python}
# What travels: this pack and the working tree, 64 MiB in all; 1 MiB kept for margin.
LIMIT_MIB=${LIMIT_MIB:-63}

[[ -x $BIN ]] || { echo "gpu_pack: no $BIN (run make build)" >&2; exit 1; }
[[ -f $ENCODER/config.json ]] || { echo "gpu_pack: no encoder at $ENCODER" >&2; exit 1; }
[[ -f $CORPUS ]] || { echo "gpu_pack: no corpus at $CORPUS" >&2; exit 1; }
if ! readelf -d "$BIN" | grep -q 'libtorch_cuda'; then
  echo "gpu_pack: $BIN does not link libtorch_cuda: CUDA would not be seen on the device" >&2
  exit 1
fi

rm -rf "$PACK.tmp"
mkdir -p "$PACK.tmp/m3e-small"
strip -o "$PACK.tmp/cbrrel" "$BIN"
xz -T0 -6 "$PACK.tmp/cbrrel"
for f in config.json vocab.txt tokenizer.json tokenizer_config.json special_tokens_map.json; do
  [[ -f $ENCODER/$f ]] && cp "$ENCODER/$f" "$PACK.tmp/m3e-small/"
done
"$PYTHON" - "$ENCODER/model.safetensors" "$PACK.tmp/m3e-small/model.safetensors" <<'PY'
import sys, warnings
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch
from safetensors.torch import load_file, save_file
weights = load_file(sys.argv[1])
save_file({k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()}, sys.argv[2])
PY
"$BIN" corpus split "$CORPUS" --by report --ratios 8:1:1 --seed 42 --out "$PACK.tmp/split" >/dev/null
xz -T0 "$PACK.tmp"/split/*.jsonl   # 2.3 → 0.3 MB; gpu_check.sh unpacks them
git rev-parse HEAD > "$PACK.tmp/COMMIT" 2>/dev/null || true
rm -rf "$PACK"
mv "$PACK.tmp" "$PACK"

size_kib=$(du -sk "$PACK" | cut -f1)
tree_kib=$(git ls-files -z | xargs -0 du -ck 2>/dev/null | tail -1 | cut -f1)
echo "gpu_pack: $PACK $((size_kib / 1024)) MiB (+ working tree $((tree_kib / 1024)) MiB)"
if (( size_kib + tree_kib > LIMIT_MIB * 1024 )); then
  echo "gpu_pack: over the ${LIMIT_MIB} MiB the device tool carries" >&2
  exit 1
fi
