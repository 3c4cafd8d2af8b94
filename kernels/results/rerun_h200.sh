#!/usr/bin/env bash
# Re-measures, from a clean build, the first CUDA backend results (issue 2,
# measured then on an H100 from a dirty tree) on the H200:
#   kernels/results/rerun_h200.sh BUNDLE OUT
# Run from the repository root. OUT gets one archive, rerun.tgz.
set -uo pipefail
b=$(cd "${1:?usage: rerun_h200.sh BUNDLE OUT}" && pwd)
out=${2:?usage: rerun_h200.sh BUNDLE OUT}
R=$b/bin/ripple
export OPENBLAS_CORETYPE=SkylakeX
w=$(mktemp -d)/rerun
mkdir -p "$w/kernels/results"
{ "$R" --version; nvidia-smi -L; lscpu | grep -m1 'Model name'; } > "$w/kernels/results/rerun_h200_info.txt" 2>&1
k=$w/kernels/results
timeout 60 "$R" bench --backend cuda --seq 4096 --heads 4 --dim 64 --reps 15 --format tsv > "$k/bench_cuda_4096.tsv" 2>&1
timeout 60 "$R" bench --backend cpu --seq 4096 --heads 4 --dim 64 --reps 15 --format tsv > "$k/bench_cpu_4096.tsv" 2>&1
timeout 90 "$R" bench --backend cuda --seq 32768 --heads 8 --dim 128 --reps 5 --format tsv > "$k/bench_cuda_32768.tsv" 2>&1
for be in cpu cuda; do
    timeout 60 "$R" eval data/captures/tiny-vdit-mini.h5 --step 10 --layer 1 --theta 0.1 --backend $be --format tsv > "$k/eval_$be.tsv" 2>&1
done
tail -n 3 "$k"/*.tsv
tar -czf "$out/rerun.tgz" -C "$(dirname "$w")" rerun
