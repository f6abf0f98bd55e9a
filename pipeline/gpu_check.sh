#!/usr/bin/env bash
# The prepared GPU check of issue 11 §5: everything a lent GPU machine should measure, in one
# call, from the pack `pipeline/gpu_pack.sh` made (carry/gpu-check: binary, m3e-small in f16,
# the documented coronary split). On the device (no Rust, no network):
#     bash pipeline/gpu_check.sh                      (DEVICE=cuda, results under $OUT)
# Here, the same script on the CPU, for the reference numbers and as its test:
#     DEVICE=cpu OUT=runs/gpu-check-cpu bash pipeline/gpu_check.sh   (`make gpu-check`)
#
# 1. One training epoch of the coronary split with m3e-small (the documented recipe, seed 42):
#    loss, dev P/R/F1, segments/s, peak GPU memory — next to a CPU run of the same pack.
# 2. `cbrrel extract` over GPU_CHECK_REPORTS generated reports with that model: sentences/s,
#    subjects capped, peak GPU memory.
# 3. A BERT-base-shaped encoder (GPU_CHECK_SHAPE, 12 × 768) with the full head, trained one
#    epoch on GPU_CHECK_BIG_TRAIN reports (speed, not quality), then `cbrrel eval` of the test
#    split at each batch size of GPU_CHECK_BATCHES: segments/s; the FLOPs of one segment
#    (pipeline/torch_reference.py flops, at the test split's mean segment length) give the model
#    FLOP utilisation against GPU_CHECK_PEAK_TFLOPS (790: an H100/H200's dense bf16 peak as
#    ../shared/docs/GPU.md measured it).
# Everything lands in $OUT (log.txt, one JSON per step, summary.json and summary.md). A step
# that fails is logged and the next one still runs: device time is too scarce to lose the rest.
set -uo pipefail

DEVICE=${DEVICE:-cuda}
PACK=${PACK:-carry/gpu-check}
OUT=${OUT:-runs/gpu-check}
REPORTS=${GPU_CHECK_REPORTS:-10000}
EPOCHS=${GPU_CHECK_EPOCHS:-1}
TRAIN_REPORTS=${GPU_CHECK_TRAIN_REPORTS:-0}        # 0: the whole training split
SHAPE=${GPU_CHECK_SHAPE:-hidden=768,layers=12,heads=12,intermediate=3072}
BIG_TRAIN=${GPU_CHECK_BIG_TRAIN:-40}
BATCHES=${GPU_CHECK_BATCHES:-64 128 256}
PEAK=${GPU_CHECK_PEAK_TFLOPS:-790}
EXTRACT_BATCH=${GPU_CHECK_EXTRACT_BATCH:-64}
# The encoder of step 1: the pack's m3e-small, or (the script's own test, tests/gpu_check.rs)
# a random one of GPU_CHECK_ENCODER_CONFIG's shape; the tokenizer of every step.
TOKENIZER=${GPU_CHECK_TOKENIZER:-$PACK/m3e-small}
if [[ -n ${GPU_CHECK_ENCODER_CONFIG:-} ]]; then
  ENCODER=(--encoder-config "$GPU_CHECK_ENCODER_CONFIG" --tokenizer "$TOKENIZER")
else
  ENCODER=(--encoder "$PACK/m3e-small")
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
: > "$OUT/log.txt"
: > "$OUT/steps.jsonl"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/log.txt" >&2; }
failed=()
step() { # step NAME CMD… : run, log its time and status; never stop the script
  local name=$1; shift
  log "start $name"
  local t0=$(date +%s%N)
  "$@" 2>>"$OUT/$name.stderr"
  local rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  log "end $name rc=$rc ${ms} ms"
  echo "{\"step\": \"$name\", \"rc\": $rc, \"ms\": $ms}" >> "$OUT/steps.jsonl"
  (( rc == 0 )) || failed+=("$name")
  return $rc
}

# The interpreter whose torch the binary links against: the device's /opt/torch/.venv, the
# project's .venv here.
if [[ -z ${PYTHON:-} ]]; then
  for p in /opt/torch/.venv/bin/python .venv/bin/python python3; do
    if [[ -x $p || $p == python3 ]] && "$p" -c "import torch" 2>/dev/null; then PYTHON=$p; break; fi
  done
fi
TORCH_LIB=$("$PYTHON" -c "import torch,os;print(os.path.dirname(torch.__file__)+'/lib')" 2>/dev/null)
export LD_LIBRARY_PATH=$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

BIN=${BIN:-$OUT/cbrrel}
if [[ ! -x $BIN ]]; then
  if [[ -f $PACK/cbrrel.xz ]]; then
    xz -dc "$PACK/cbrrel.xz" > "$BIN" && chmod +x "$BIN"
  else
    BIN=target/release/cbrrel
  fi
fi
log "device=$DEVICE pack=$PACK bin=$BIN python=$PYTHON torch_lib=$TORCH_LIB commit=$(cat "$PACK/COMMIT" 2>/dev/null)"
"$BIN" info --format json > "$OUT/info.json" 2>>"$OUT/log.txt"
cat "$OUT/info.json" >&2
if command -v nvidia-smi >/dev/null; then
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/gpu-name.txt" 2>/dev/null
else
  echo "cpu: $(nproc --all) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)" > "$OUT/gpu-name.txt"
fi

# Peak GPU memory of a step: nvidia-smi sampled every 100 ms while it runs (the CUDA context
# included); `none` without nvidia-smi.
sampler=""
sample_start() {
  : > "$OUT/$1.gpu-mem"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$OUT/$1.gpu-mem" 2>/dev/null &
    sampler=$!
  fi
}
sample_stop() { [[ -n $sampler ]] && kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null; sampler=""; }

# The split: xz-compressed in the pack (pipeline/gpu_pack.sh), plain in a test's.
SPLIT=$PACK/split
if compgen -G "$SPLIT/*.jsonl.xz" >/dev/null; then
  mkdir -p "$OUT/split"
  for f in "$SPLIT"/*.jsonl.xz; do xz -dc "$f" > "$OUT/split/$(basename "$f" .xz)"; done
  SPLIT=$OUT/split
fi
TRAIN=$SPLIT/train.jsonl
if (( TRAIN_REPORTS > 0 )); then
  head -n "$TRAIN_REPORTS" "$SPLIT/train.jsonl" > "$OUT/train-subset.jsonl"
  TRAIN=$OUT/train-subset.jsonl
fi

# 1. One epoch of the documented recipe (BENCHMARKS.md "Full model, m3e-small encoder").
rm -rf "$OUT/m3e"
sample_start train-m3e
step train-m3e "$BIN" train --train "$TRAIN" --dev "$SPLIT/dev.jsonl" "${ENCODER[@]}" \
  --epochs "$EPOCHS" --batch-size 16 --lr 5e-5 --set train.head_lr=1e-3 --set train.ema_decay=0.99 \
  --set train.patience=3 --seed 42 --device "$DEVICE" --format json --out "$OUT/m3e" \
  > "$OUT/train-m3e.json"
sample_stop

# 2. The nightly extraction over generated reports with that model.
rm -rf "$OUT/gen" "$OUT/work" "$OUT/store"
step generate "$BIN" fixtures generate --reports "$REPORTS" --seed 7 --out "$OUT/gen" >/dev/null
step ingest "$BIN" ingest --config pipeline/nightly.toml --input "$OUT/gen/reports.csv" \
  --work-dir "$OUT/work" --store "$OUT/store" --format json > "$OUT/ingest.json"
sample_start extract
step extract "$BIN" extract --config pipeline/nightly.toml --work-dir "$OUT/work" --store "$OUT/store" \
  --model "$OUT/m3e" \
  --device "$DEVICE" --batch-size "$EXTRACT_BATCH" --format json > "$OUT/extract.json"
sample_stop
rm -rf "$OUT/gen" "$OUT/work" "$OUT/store"

# 3. The base-shaped encoder: a model to time (one epoch on a few reports), its throughput per
# batch size, and the FLOPs of a segment.
rm -rf "$OUT/big"
head -n "$BIG_TRAIN" "$SPLIT/train.jsonl" > "$OUT/big-train.jsonl"
sample_start train-big
step train-big "$BIN" train --train "$OUT/big-train.jsonl" --encoder-config "$SHAPE" \
  --tokenizer "$TOKENIZER" --epochs 1 --batch-size 16 --seed 42 --device "$DEVICE" \
  --format json --out "$OUT/big" > "$OUT/train-big.json"
sample_stop
for b in $BATCHES; do
  sample_start "eval-big-$b"
  step "eval-big-$b" "$BIN" eval --model "$OUT/big" --data "$SPLIT/test.jsonl" --batch-size "$b" \
    --device "$DEVICE" --format json > "$OUT/eval-big-$b.json"
  sample_stop
done
# The mean segment length as the timed model tokenizes (its own split_alnum, config.json).
alnum=()
[[ $("$PYTHON" -c "import json;print(json.load(open('$OUT/big/config.json'))['segment'].get('split_alnum', False))" 2>/dev/null) == True ]] \
  && alnum=(--split-alnum)
step text "$BIN" text --tokenizer "$TOKENIZER" "${alnum[@]}" "$SPLIT/test.jsonl" --format json \
  > "$OUT/text.json"
len=$("$PYTHON" -c "import json;t=json.load(open('$OUT/text.json'));print(round(t['tokens']/max(t['segments'],1)))" 2>/dev/null || echo 64)
step flops "$PYTHON" pipeline/torch_reference.py flops --run "$OUT/big" --len "$len" --subjects 2 \
  > "$OUT/flops.json"

step summary "$PYTHON" pipeline/gpu_summary.py "$OUT" "$DEVICE" "$PEAK" > "$OUT/summary.md"
cat "$OUT/summary.md" "$OUT/summary.stderr" >&2
if (( ${#failed[@]} > 0 )); then
  log "failed steps: ${failed[*]} (see $OUT/<step>.stderr)"
  exit 1
fi
log "done"
