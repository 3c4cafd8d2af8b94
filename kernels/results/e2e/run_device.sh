#!/usr/bin/env bash
# One device call: ripple generate --kernel reuse end to end on the device host's CPU
# (a 16-core Intel Xeon), 2 threads pinned to cores 0-1, the same invocation timing
# dense and reuse; results in OUT/e2e.
#   kernels/results/e2e/run_device.sh BUNDLE OUT [THETAS]
set -uo pipefail
b=$(cd "${1:?usage: run_device.sh BUNDLE OUT [THETAS]}" && pwd)
out=${2:?usage: run_device.sh BUNDLE OUT [THETAS]}/e2e
thetas=${3:-0.05 0.07 0.1}
export PATH="$b/bin:$PATH" OPENBLAS_CORETYPE=SkylakeX RIPPLE_NUM_THREADS=2
mkdir -p "$out"
{ lscpu | head -16; ripple --version; echo "OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE RIPPLE_NUM_THREADS=$RIPPLE_NUM_THREADS (taskset -c 0,1)"; } > "$out/e2e_info.txt" 2>&1
taskset -c 0,1 timeout 60 ripple generate --bench --reps 3 > "$out/e2e_bench_forward.txt" 2>&1
for th in $thetas; do
  taskset -c 0,1 timeout 200 ripple generate --class 7 --seed 0 --method reuse --theta $th --kernel reuse --no-gif \
     --out "$out" --name e2e-reuse-theta$th > "$out/e2e_theta$th.log" 2>&1
  echo "exit $?" >> "$out/e2e_theta$th.log"
done
rm -f "$out"/*.h5
tail -n 3 "$out"/*.log; tail -n 5 "$out/e2e_bench_forward.txt"
