#!/usr/bin/env bash
# Re-measures, from a clean build, the first CUDA backend results (issue 2,
# measured then on an H100 from a dirty tree) on the H200, and regenerates
# the committed `ripple paper` outputs of the committed captures (the
# window noise floor was written one cell past its table before b6e71eb):
#   kernels/results/rerun_h200.sh BUNDLE OUT
# Run from the repository root. OUT gets one archive, rerun.tgz.
set -uo pipefail
b=$(cd "${1:?usage: rerun_h200.sh BUNDLE OUT}" && pwd)
out=${2:?usage: rerun_h200.sh BUNDLE OUT}
R=$b/bin/ripple
export OPENBLAS_CORETYPE=SkylakeX
w=$(mktemp -d)/rerun
mkdir -p "$w/kernels/results" "$w/plots"
{ "$R" --version; nvidia-smi -L; lscpu | grep -m1 'Model name'; } > "$w/kernels/results/rerun_h200_info.txt" 2>&1
k=$w/kernels/results
timeout 60 "$R" bench --backend cuda --seq 4096 --heads 4 --dim 64 --reps 15 --format tsv > "$k/bench_cuda_4096.tsv" 2>&1
timeout 60 "$R" bench --backend cpu --seq 4096 --heads 4 --dim 64 --reps 15 --format tsv > "$k/bench_cpu_4096.tsv" 2>&1
timeout 90 "$R" bench --backend cuda --seq 32768 --heads 8 --dim 128 --reps 5 --format tsv > "$k/bench_cuda_32768.tsv" 2>&1
for be in cpu cuda; do
    timeout 60 "$R" eval data/captures/tiny-vdit-mini.h5 --step 10 --layer 1 --theta 0.1 --backend $be --format tsv > "$k/eval_$be.tsv" 2>&1
done
rm -rf plots/tiny-vdit-mini plots/tiny-vdit-steps
timeout 200 "$R" paper data/captures/tiny-vdit-mini.h5 --out plots/tiny-vdit-mini > /tmp/mini.log 2>&1
mv /tmp/mini.log plots/tiny-vdit-mini/paper.log
timeout 250 "$R" paper data/captures/tiny-vdit-c7s0-steps.h5 data/captures/tiny-vdit-c1s2-steps.h5 --out plots/tiny-vdit-steps > /tmp/steps.log 2>&1
mv /tmp/steps.log plots/tiny-vdit-steps/paper.log
cp -r plots/tiny-vdit-mini plots/tiny-vdit-steps "$w/plots/"
tail -n 3 "$k"/*.tsv plots/*/paper.log
tar -czf "$out/rerun.tgz" -C "$(dirname "$w")" rerun
