#!/usr/bin/env bash
# The reuse kernel on the later steps of a generated capture (the first
# call, plots/fig89/run_device.sh, was cut after step 20): a capture of
# steps 30, 40, 49 (all layers and heads) of class 7 seed 0, then
# ripple bench --reuse on it, one thread pinned to core 2.
#   kernels/results/reuse/run_device_gen.sh BUNDLE OUT
set -uo pipefail
b=$(cd "${1:?usage: run_device_gen.sh BUNDLE OUT}" && pwd)
out=${2:?usage: run_device_gen.sh BUNDLE OUT}/reuse
export OPENBLAS_CORETYPE=SkylakeX
mkdir -p "$out" /tmp/gen
RIPPLE_NUM_THREADS=2 taskset -c 3,4 timeout 120 "$b/bin/ripple" generate --class 7 --seed 0 --out /tmp/gen --no-gif \
    --capture /tmp/gen/c7s0-late.h5 --capture-steps 30,40,49 --capture-no-o > "$out/generate_c7s0-late.log" 2>&1
RIPPLE_NUM_THREADS=1 taskset -c 2 timeout 330 "$b/bin/ripple" bench --reuse /tmp/gen/c7s0-late.h5 --out "$out/bench_reuse_gen_c7s0-late" \
    --threads 1 --reps 3 --theta 0.05,0.1,0.2,0.5 > "$out/bench_reuse_gen_c7s0-late.log" 2>&1
echo "exit $?" >> "$out/bench_reuse_gen_c7s0-late.log"
tail -n 4 "$out/bench_reuse_gen_c7s0-late.log"
