#!/usr/bin/env bash
# Item 3 of issue 14 on the device: `ripple eval` and `ripple compare` with
# --backend cuda on a synthetic 67,204-token capture, wall time of each:
#   kernels/results/bf16ws/eval67k.sh OUT        (ripple on PATH)
set -uo pipefail
out=${1:?usage: eval67k.sh OUT}
mkdir -p "$out"
cap=/tmp/synth67k.h5
run() { # NAME CMD...: the command's output to OUT/NAME.txt, its wall time to OUT/times.tsv
  local name=$1; shift
  local t0=$EPOCHREALTIME
  timeout 200 "$@" > "$out/$name.txt" 2>&1; local rc=$?
  printf '%s\t%d\t%s\t%s\n' "$name" $rc "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b - a}')" "$*" \
    | tee -a "$out/times.tsv"
}
printf 'name\texit\twall_s\tcommand\n' > "$out/times.tsv"
[ -f $cap ] || run synth ripple synth $cap --grid 21,40,80 --head-dim 128 --heads 2 --layers 1 --steps 2
run eval_default ripple eval $cap --step 0 --layer 0 --theta 0.17 --backend cuda --format tsv
run eval_no_floor ripple eval $cap --step 0 --layer 0 --theta 0.17 --backend cuda --format tsv --no-floor
run eval_all_methods ripple eval $cap --step 0 --layer 0 --theta 0.17 --backend cuda --format tsv \
  --method reuse,mask-skip,mask-magnitude,svg,window,oracle-topk
run compare ripple compare $cap --out /tmp/cmp67k --backend cuda
cp /tmp/cmp67k/*.tsv "$out/" 2>/dev/null
