#!/bin/bash
# The whole tiny-vdit pipeline as run on the GPU machine (one `device` call), from the repo root:
#   STEPS=<max steps> MINUTES=<wall-clock cap> [INIT=<weights.h5>] bash data/run_device.sh
# Needs the Fashion-MNIST *.gz files (Debian dataset-fashion-mnist) in .devdata/ (carried, not committed).
# Results go to $OUT: loss.tsv, train.log, samples PNGs, head_mass.tsv, and bundle.tar split in
# 15 MB parts (weights, captures, golden, everything) -- reassemble with `cat bundle.tar.part-* | tar x`.
set -euo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=data
OUTD=${OUT:-/tmp/out}
W=/tmp/run
rm -rf "$W"; mkdir -p "$W" "$OUTD"
STEPS=${STEPS:-300}
MINUTES=${MINUTES:-1}
SEED=${SEED:-0}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c 'import torch, h5py; print("torch", torch.__version__, "h5py", h5py.__version__)'

python3 -m tinyvdit.train --data .devdata --out "$W" --max-steps "$STEPS" --minutes "$MINUTES" \
    --seed "$SEED" ${INIT:+--init "$INIT"} 2>&1 | tee "$W/train.log"
cp "$W/loss.tsv" "$W/train.log" "$OUTD/"

WT="$W/tiny-vdit.h5"
python3 -m tinyvdit.sample --weights "$WT" --out "$W/samples_cfg2.png" --seed 0 --per-class 2 --cfg 2.0
python3 -m tinyvdit.sample --weights "$WT" --out "$W/samples_cfg1.png" --seed 0 --per-class 2 --cfg 1.0
python3 -m tinyvdit.data_strip --data .devdata --out "$W/data_strip.png"
cp "$W/samples_cfg2.png" "$W/samples_cfg1.png" "$OUTD/"
python3 -m tinyvdit.head_mass --weights "$WT" --out "$W/head_mass.tsv" --steps 10,25,40
python3 -m tinyvdit.make_mini --weights "$WT" --head-mass "$W/head_mass.tsv" --out "$W/tiny-vdit-mini.h5"
python3 -m tinyvdit.golden --weights "$WT" --data .devdata --out "$W/tiny-vdit-golden.h5" --class 7 --seed 0 --t 0.6
python3 -c "
import sys; sys.path.insert(0, 'data')
from ripple_py.capture_file import check_capture
s = check_capture('$W/tiny-vdit-mini.h5'); print('mini capture ok', s['steps'])"
ls -la "$W"
(cd "$W" && tar cf - --exclude='*.tmp' . ) | split -b 15000000 - "$OUTD/bundle.tar.part-"
ls -la "$OUTD"
