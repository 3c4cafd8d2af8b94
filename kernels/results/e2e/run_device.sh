#!/usr/bin/env bash
# One device call: ripple generate --kernel reuse end to end on the device host's CPU
# (an idle 16-core Intel Xeon), 2 threads, the same invocation timing dense and reuse.
set -uo pipefail
export PATH="$PWD/.bundle/bin:$PATH" OPENBLAS_CORETYPE=SkylakeX RIPPLE_NUM_THREADS=2
out=$OUT
{ lscpu | head -16; ripple --version; echo "OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE RIPPLE_NUM_THREADS=$RIPPLE_NUM_THREADS"; } > $out/e2e_info.txt 2>&1
timeout 60 ripple generate --bench --reps 3 > $out/e2e_bench_forward.txt 2>&1
for th in 0.05 0.1; do
  timeout 200 ripple generate --class 7 --seed 0 --method reuse --theta $th --kernel reuse --no-gif \
     --out $out --name e2e-reuse-theta$th > $out/e2e_theta$th.log 2>&1
  echo "exit $?" >> $out/e2e_theta$th.log
done
rm -f $out/*.h5
ls -la $out; tail -n 3 $out/*.log; cat $out/e2e_bench_forward.txt | tail -5
