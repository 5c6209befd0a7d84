#!/bin/bash
# Run on the GPU machine, from a folder holding scripts/toy/*.py and kjv.txt:
#   bash run_device.sh OUT smoke|full|final
# smoke: two 120-step runs (checks the pipeline); full: the sweep below;
# final: only the shipped setting (d03_s2000).
# Trains the tokenizer, trains the sweep of settings below in parallel (the
# model is so small that one run leaves the GPU mostly idle), keeps the run
# with the lowest validation loss (bf16 weights), records its reference
# continuations, and packs everything into OUT/toy.tar.
set -euo pipefail
OUT=$1; MODE=$2
cd "$(dirname "$0")"
W=/tmp/toy; rm -rf "$W"; mkdir -p "$W" "$OUT"
python3 -c "import torch, transformers, tokenizers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'tokenizers', tokenizers.__version__, torch.cuda.get_device_name())"
python3 train_tokenizer.py kjv.txt "$W/tok"

if [ "$MODE" = smoke ]; then
    RUNS=("d00 --dropout 0.0 --steps 120 --warmup 40 --eval-every 60"
          "d01 --dropout 0.1 --steps 120 --warmup 40 --eval-every 60")
elif [ "$MODE" = final ]; then
    RUNS=("d03_s2000 --dropout 0.3 --steps 2000")
else
    # Sweep 1 (d00_s1000, d01_s2000, d01_s3000, d02_s3000) overfit: val
    # 4.18, 3.20, 3.40, 2.93. This is sweep 2, with more dropout.
    RUNS=("d02_s1500 --dropout 0.2 --steps 1500"
          "d03_s2000 --dropout 0.3 --steps 2000"
          "d03_s3000 --dropout 0.3 --steps 3000"
          "d04_s3000 --dropout 0.4 --steps 3000")
fi
pids=()
for r in "${RUNS[@]}"; do
    set -- $r; tag=$1; shift
    python3 train.py --corpus kjv.txt --tok "$W/tok" --out "$W/$tag" --time-limit "${TIME_LIMIT:-420}" "$@" \
        2>&1 | grep --line-buffered -v -i warn | tee "$W/$tag.log" &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

best=$(python3 - "$W" <<'PY'
import glob, json, os, sys
ms = [json.load(open(p)) for p in glob.glob(os.path.join(sys.argv[1], "*", "metrics.json"))]
for m in sorted(ms, key=lambda m: m["val_loss_bf16_weights"]):
    print(f"{m['tag']}: val {m['val_loss_bf16_weights']} train {m['train_loss_bf16_weights']} "
          f"epochs {m['epochs']:.1f} time {m['train_time_s']}s", file=sys.stderr)
print(min(ms, key=lambda m: m["val_loss_bf16_weights"])["tag"])
PY
)
echo "best run: $best"
python3 make_reference.py "$W/$best/hf" "$W/ref" 2>&1 | grep -v -i warn
cd "$W" && tar cf "$OUT/toy.tar" tok ref "$best/hf" */metrics.json *.log && echo "best=$best" > "$OUT/best.txt"
ls -l "$OUT"
