#!/usr/bin/env bash
# tf32x3 tilings on the H200 (issue 14), one device call:
#   kernels/results/tf32x3/run_device.sh BUNDLE OUT
# BUNDLE as for kernels/results/run_gpu.sh (libripple_flash.so and
# attn_cuda_bench.py in it). KIND=bf16 does the same for the bf16 tilings
# (shapes $SHAPES default 16384:64:24,16384:128:24,67200:64:24,67200:128:24;
# a probe passes at nmse < 1e-4, bf16's rounding being ~5e-6).
# 1. probe: every tiling named in $PROBE (required) alone (at most $PTIMEOUT
#    s, default 90), in a
#    process of its own, on small shapes with odd seq and dim (a wrong
#    descriptor can take the CUDA context down with it); it passes when its
#    normalised MSE against float64 is < 1e-9 at every shape -> OUT/probe.log
# 2. bench: the float32 shapes $SHAPES with the default, fp32, chained, torch,
#    the tilings in $KEEP and every probed tiling that passed
#    -> OUT/bench_cuda_attn.tsv, OUT/bench_cuda_attn.log
set -uo pipefail
b=$(cd "${1:?usage: run_device.sh BUNDLE OUT}" && pwd)
out=${2:?usage: run_device.sh BUNDLE OUT}
kind=${KIND:-tf32x3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if [ "$kind" = bf16 ]; then
  probe=${PROBE:?PROBE: the bf16 tilings to probe}
  shapes=${SHAPES:-16384:64:24,16384:128:24,67200:64:24,67200:128:24}
  keep=${KEEP:-w4_bn64_m2}
  pshapes=1031:64:2,2000:128:2,300:64:3,777:128:1 limit=1e-4 prefix=ripple_bf16_ shapes_opt=--bf16-shapes
  bench=(python3 "$b/attn_cuda_bench.py" --lib "$b/libripple_flash.so" --no-f32)
else
  probe=${PROBE:?PROBE: the tf32x3 tilings to probe (ripple_flash_tf32x3_variant_name)}
  shapes=${SHAPES:-32768:128:8,16384:64:8,4096:128:8}
  keep=${KEEP:-w8_bn32 w8_bn64}
  pshapes=1031:64:2,2000:128:2,777:100:1,300:40:3 limit=1e-9 prefix=ripple_tf32x3_ shapes_opt=--f32-shapes
  bench=(python3 "$b/attn_cuda_bench.py" --lib "$b/libripple_flash.so" --no-bf16 --tf32x3-tilings)
fi
pass=""
for v in $probe; do
  echo "## probe $v" >> "$out/probe.log"
  if timeout "${PTIMEOUT:-90}" "${bench[@]}" --out /tmp --reps 2 $shapes_opt $pshapes \
      --impls "^$prefix$v\$" >> "$out/probe.log" 2>&1 &&
     awk -F'\t' -v n="$prefix$v" -v lim=$limit '$5 == n { rows++; if (!($10 < lim + 0)) bad++ } END { exit !(rows == 4 && !bad) }' "$out/probe.log"; then
    pass="$pass $v"; echo "## $v passed" >> "$out/probe.log"
  else
    echo "## $v FAILED" >> "$out/probe.log"
  fi
done
echo "probe passed:$pass"
re="^ripple_tf32x3\$|^ripple_fp32\$|^ripple_tf32x3_chained\$|^ripple_bf16\$|^torch_"
for v in $keep $pass; do re="$re|^$prefix$v\$"; done
timeout 300 "${bench[@]}" --out "$out" $shapes_opt "$shapes" --impls "$re" > "$out/bench_cuda_attn.log" 2>&1
echo "bench exit $?" | tee -a "$out/bench_cuda_attn.log"
cut -f2-6,9,10 "$out/bench_cuda_attn.log" | grep -v "^#"
