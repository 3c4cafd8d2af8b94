#!/usr/bin/env bash
# tf32x3 tilings on the H200 (issue 14), one device call:
#   kernels/results/tf32x3/run_device.sh BUNDLE OUT
# BUNDLE as for kernels/results/run_gpu.sh (libripple_flash.so and
# attn_cuda_bench.py in it).
# 1. probe: every tiling named in $PROBE (default: the wgmma ones) alone, in a
#    process of its own, on small shapes with odd seq and dim (a wrong
#    descriptor can take the CUDA context down with it); it passes when its
#    normalised MSE against float64 is < 1e-9 at every shape -> OUT/probe.log
# 2. bench: the float32 shapes $SHAPES with the default, fp32, chained, torch,
#    the tilings in $KEEP and every probed tiling that passed
#    -> OUT/bench_cuda_attn.tsv, OUT/bench_cuda_attn.log
set -uo pipefail
b=$(cd "${1:?usage: run_device.sh BUNDLE OUT}" && pwd)
out=${2:?usage: run_device.sh BUNDLE OUT}
probe=${PROBE:-wg_bn16 wg_bn16_swap wg_bn32 wg_bn32_swap}
shapes=${SHAPES:-32768:128:8,16384:64:8,4096:128:8}
keep=${KEEP:-w8_bn32 w8_bn64}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
bench=(python3 "$b/attn_cuda_bench.py" --lib "$b/libripple_flash.so" --no-bf16 --tf32x3-tilings)
pass=""
for v in $probe; do
  echo "## probe $v" >> "$out/probe.log"
  if timeout 90 "${bench[@]}" --out /tmp --reps 2 --f32-shapes 1031:64:2,2000:128:2,777:100:1,300:40:3 \
      --impls "^ripple_tf32x3_$v\$" >> "$out/probe.log" 2>&1 &&
     awk -F'\t' -v n="ripple_tf32x3_$v" '$5 == n { rows++; if (!($10 < 1e-9)) bad++ } END { exit !(rows == 4 && !bad) }' "$out/probe.log"; then
    pass="$pass $v"; echo "## $v passed" >> "$out/probe.log"
  else
    echo "## $v FAILED" >> "$out/probe.log"
  fi
done
echo "probe passed:$pass"
re="^ripple_tf32x3\$|^ripple_fp32\$|^ripple_tf32x3_chained\$|^torch_"
for v in $keep $pass; do re="$re|^ripple_tf32x3_$v\$"; done
timeout 300 "${bench[@]}" --out "$out" --f32-shapes "$shapes" --impls "$re" > "$out/bench_cuda_attn.log" 2>&1
echo "bench exit $?" | tee -a "$out/bench_cuda_attn.log"
cut -f2-6,9,10 "$out/bench_cuda_attn.log" | grep -v "^#"
