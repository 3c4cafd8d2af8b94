#!/usr/bin/env bash
# One device call for the GPU reuse kernel (issue 14 item 4), from the
# repository root with the bundle unpacked in BUNDLE:
#   kernels/results/reuse_gpu/run_device.sh BUNDLE OUT [STEPS]
# BUNDLE: ../shared/tools/device-bundle output of build-gpu/experiments/ripple (its
# --version names the commit in the cuDNN step's TSV),
# build-gpu/tests/{test_cuda,checkasm}, build-gpu/kernels/dev/attn_reuse_cuda,
# plus BUNDLE/libripple_flash.so and BUNDLE/attn_cuda_bench.py.
# STEPS (default "test bench cudnn"):
#   test   test_cuda, then checkasm (every GPU entry against float64; the
#          reuse kernel on checkasm's layouts and the mini capture)
#   bench  a synthetic 67,200-token capture (ripple synth --grid 21,40,80,
#          head_dim 128, 4 heads, step 0 of 50), then attn_reuse_cuda on it:
#          the reuse kernel against tf32x3, fp32 and bf16 dense kernels
#   cudnn  attn_cuda_bench.py at the same shape in bf16 (cuDNN, FA2, ours)
# Everything lands in OUT (one folder; the caller tars it).
set -uo pipefail
b=$(cd "${1:?usage: run_device.sh BUNDLE OUT [STEPS]}" && pwd)
out=${2:?usage: run_device.sh BUNDLE OUT [STEPS]}
steps=${3:-test bench cudnn}
mkdir -p "$out"
export PATH="$b/bin:$PATH"
heads=${HEADS:-4}
for s in $steps; do
  echo "=== $s ($(date -u +%H:%M:%S))"
  case $s in
    test) # run_gpu.sh's test step (test_cuda.log, checkasm.log)
      bash "$(dirname "$0")/../run_gpu.sh" "$b" "$out" test
      grep -E "attn_reuse +cuda" "$out/checkasm.log";;
    bench)
      cap=/tmp/synth67k_h$heads.h5
      [ -f $cap ] || { s0=$SECONDS; ripple synth $cap --grid 21,40,80 --head-dim 128 --heads $heads --layers 1 --steps 1;
                       echo "synth exit $? after $((SECONDS - s0)) s"; }
      timeout ${BENCH_LIMIT:-300} attn_reuse_cuda $cap --out "$out/bench_reuse_gpu.tsv" \
        --thetas ${THETAS:-0.1,0.2,0.3,0.4} --max-frac ${FRACS:-0.25,0.5,0.75} --reps ${REPS:-3} \
        2> "$out/bench_reuse_gpu.log"; echo "attn_reuse_cuda exit $?" | tee -a "$out/bench_reuse_gpu.log"
      cat "$out/bench_reuse_gpu.log";;
    cudnn) # the binaries' commit in the TSV (git in the device's copy of the tree knows none)
      [ -n "${RIPPLE_GIT:-}" ] || export RIPPLE_GIT=$(ripple --version | sed -n 's/.*(\(.*\))/\1/p')
      PYTHONUNBUFFERED=1 timeout 200 python3 "$b/attn_cuda_bench.py" --lib "$b/libripple_flash.so" --out "$out" \
        --no-f32 --bf16-shapes ${BF16_SHAPES:-67204:128:$heads} --reps 7 > "$out/bench_cudnn.log" 2>&1
      echo "bench exit $?" | tee -a "$out/bench_cudnn.log"
      cut -f1-9 "$out/bench_cudnn.log" | grep -v "^#" | tail -8;;
  esac
done
