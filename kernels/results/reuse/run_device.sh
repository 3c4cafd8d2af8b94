#!/usr/bin/env bash
# Issue 11's reuse-kernel benchmark again, from a clean build, on the device host's idle CPU.
set -uo pipefail
export PATH="$PWD/.bundle/bin:$PATH"
for c in c1s2-steps c7s0-steps mini; do
  timeout 100 ripple bench --reuse data/captures/tiny-vdit-$c.h5 --out $OUT/r-$c --threads 1 --reps 7 > $OUT/log-$c.txt 2>&1
  echo "exit $?" >> $OUT/log-$c.txt
  cp $OUT/r-$c/*.tsv $OUT/bench_reuse_$c.tsv 2>/dev/null
done
RIPPLE_CPU_PATH=avx2 timeout 80 ripple bench --reuse data/captures/tiny-vdit-c1s2-steps.h5 --out $OUT/r-avx2 --threads 1 --reps 5 --theta 0.05,0.1,0.2,0.5 > $OUT/log-avx2.txt 2>&1
echo "exit $?" >> $OUT/log-avx2.txt
cp $OUT/r-avx2/*.tsv $OUT/bench_reuse_avx2.tsv 2>/dev/null
rm -rf $OUT/r-*
ls -la $OUT; tail -n 4 $OUT/log-*.txt
