#!/usr/bin/env bash
# One device call for issue 14 (and issue 7's CPU question), on the H200:
#   kernels/results/run_gpu.sh BUNDLE OUT [STEPS]
# BUNDLE: ../shared/tools/device-bundle output of build/experiments/ripple,
# build/tests/test_cuda, build/tests/checkasm, plus BUNDLE/libripple_flash.so
# and BUNDLE/attn_cuda_bench.py (the bench loads the module next to torch).
# STEPS (default "info cpu test bench"): any of
#   info   lscpu | head -20, nvidia-smi               -> OUT/info.txt
#   cpu    ripple bench --torch, 2 and 1 threads       -> OUT/bench_cpu_device.txt
#   test   test_cuda, then checkasm                    -> OUT/test_cuda.log, OUT/checkasm.log
#   bench  attn_cuda_bench.py $BENCH_ARGS              -> OUT/bench_cuda_attn.tsv, OUT/bench_cuda_attn.log
#   lib    ripple bench --backend cuda (the library path, host copies
#          included) per RIPPLE_CUDA_PATH at seq 32768, 8 heads, dim 128 -> OUT/bench_cuda_lib.txt
#   paper  ripple synth (21x40x80 = 67200 tokens) + ripple paper --backend cuda $PAPER_ARGS
#          -> OUT/paper_gpu.log
#   paperfull  the same capture, ripple paper --backend cuda (no --quick: both
#          heads, noise floors, Tables 3 and 4) -> OUT/paper_full_gpu.log;
#          the TSVs and index.md of both runs -> OUT/paper_out.tar.gz
# Each step has its own time limit so that one hang leaves the others' logs.
set -uo pipefail
b=$(cd "${1:?usage: run_gpu.sh BUNDLE OUT [STEPS]}" && pwd)
out=${2:?usage: run_gpu.sh BUNDLE OUT [STEPS]}
steps=${3:-info cpu test bench}
mkdir -p "$out"
export PATH="$b/bin:$PATH"
for s in $steps; do
  echo "=== $s ($(date -u +%H:%M:%S))"
  case $s in
    info)
      { lscpu | head -20; nvidia-smi; nvcc --version | tail -2; python3 -c 'import torch; print("torch", torch.__version__, "cudnn", torch.backends.cudnn.version())'; } > "$out/info.txt" 2>&1
      head -20 "$out/info.txt";;
    cpu)
      { echo "# ripple bench --torch on the device host's CPU (issue 7), RIPPLE_NUM_THREADS=t and --threads t"
        lscpu | head -20
        for t in 2 1; do
          echo "## RIPPLE_NUM_THREADS=$t ripple bench --torch --threads $t"
          RIPPLE_NUM_THREADS=$t timeout 150 ripple bench --torch --threads $t
          echo "## exit $?"
        done; } > "$out/bench_cpu_device.txt" 2>&1
      grep -E "^##|sgemm|torch|avx|blas|target" "$out/bench_cpu_device.txt" | head -30;;
    test)
      timeout 240 test_cuda > "$out/test_cuda.log" 2>&1; echo "test_cuda exit $?" | tee -a "$out/test_cuda.log"
      grep -E "FAILED|passed" "$out/test_cuda.log" | head -20
      timeout 120 checkasm > "$out/checkasm.log" 2>&1; echo "checkasm exit $?" | tee -a "$out/checkasm.log"
      grep -E "cuda|passed" "$out/checkasm.log" | head -12;;
    bench)
      PYTHONUNBUFFERED=1 timeout 300 python3 "$b/attn_cuda_bench.py" --lib "$b/libripple_flash.so" --out "$out" ${BENCH_ARGS:-} \
        > "$out/bench_cuda_attn.log" 2>&1; echo "bench exit $?" | tee -a "$out/bench_cuda_attn.log"
      cut -f1-9 "$out/bench_cuda_attn.log" | grep -v "^#" | tail -32;;
    lib)
      for p in tf32x3 fp32 cublas; do
        echo "## RIPPLE_CUDA_PATH=$p ripple bench --backend cuda --seq 32768 --heads 8 --dim 128 --reps 5"
        RIPPLE_CUDA_PATH=$p timeout 120 ripple bench --backend cuda --seq 32768 --heads 8 --dim 128 --reps 5; echo "## exit $?"
      done > "$out/bench_cuda_lib.txt" 2>&1
      grep -E "^##|attn|sgemm" "$out/bench_cuda_lib.txt";;
    paper|paperfull)
      # what is left of DEADLINE (seconds since this script began, default 540)
      left=$(( ${DEADLINE:-540} - SECONDS )); [ $left -gt 20 ] || { echo "$s: no time left"; continue; }
      cap=/tmp/synth67k.h5
      if [ $s = paper ]; then log=$out/paper_gpu.log; dir=/tmp/paper; args=${PAPER_ARGS:-}
      else log=$out/paper_full_gpu.log; dir=/tmp/paper_full; args=; fi
      { if [ ! -f $cap ]; then
          echo "# ripple synth $cap --grid 21,40,80 --head-dim 128 ${SYNTH_ARGS:-}"
          s0=$SECONDS; ripple synth "$cap" --grid 21,40,80 --head-dim 128 ${SYNTH_ARGS:-}; echo "synth exit $? after $((SECONDS - s0)) s"
        fi
        left=$(( ${DEADLINE:-540} - SECONDS ))
        echo "# ripple paper $cap --backend cuda --out $dir $args  (limit ${left} s)"
        s0=$SECONDS; timeout $left ripple paper "$cap" --backend cuda --out $dir $args; echo "paper exit $? after $((SECONDS - s0)) s wall"
        ls -R $dir | head -60; } > "$log" 2>&1
      (cd /tmp && tar -czf "$out/paper_out.tar.gz" $(ls -d paper paper_full 2>/dev/null) 2>/dev/null)
      grep -E "^==|exact attention|paper exit|synth exit" "$log" | tail -30;;
  esac
done
