#!/usr/bin/env bash
# Measures CPU exact attention for issue 7's targets and keeps the outputs:
# every CPU path beside OpenBLAS sgemm and PyTorch's CPU SDPA (torch is
# optional: without it that row is a note), in one run per configuration,
# repetitions interleaved.
#   kernels/results/bench_cpu.sh OUTDIR [REPS [THREADS]]   (after ninja -C build)
# THREADS (default: all online CPUs) is used by ripple, sgemm and torch alike.
# Configurations, each written as OUTDIR/bench_cpu_<name>_t<THREADS>.tsv:
#   4096      4 heads, seq 4096, dim 64 (the issue's shape), this CPU as it is
#   1028      4 heads, seq 1028, dim 64 (our model's captures)
#   4096_avx2 the shape of 4096 with every library held to AVX2: ripple's
#             avx2 path, OpenBLAS's Haswell kernels, torch's MKL and oneDNN
#             limited to AVX2 (what an AVX2-only x86 such as a Zen 2/3 EPYC
#             runs; on this Intel core, not on that machine)
set -euo pipefail
out=${1:?usage: bench_cpu.sh OUTDIR [REPS]}
reps=${2:-9}
threads=${3:-$(nproc)}
cd "$(dirname "$0")/../.."
mkdir -p "$out"
r=build/experiments/ripple
$r bench --threads "$threads" --reps "$reps" --torch --format tsv > "$out/bench_cpu_4096_t$threads.tsv"
$r bench --threads "$threads" --reps "$reps" --torch --format tsv --seq 1028 > "$out/bench_cpu_1028_t$threads.tsv"
OPENBLAS_CORETYPE=Haswell RIPPLE_CPU_PATH=avx2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
    ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 \
    $r bench --threads "$threads" --reps "$reps" --torch --format tsv --path avx2 > "$out/bench_cpu_4096_avx2_t$threads.tsv"
grep -h -E "^# (cpu|torch)|sgemm:|torch sdpa:" "$out"/bench_cpu_*.tsv
