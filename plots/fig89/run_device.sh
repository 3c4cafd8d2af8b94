#!/usr/bin/env bash
# Fig. 8/9 at full scale for 10 prompts (issue 10), the reuse kernel on full
# generated captures (issue 11) and `ripple quality --quick` timed on 2
# cores, in one call on the GPU machine's 16-core CPU (no GPU used):
#
#   plots/fig89/run_device.sh BUNDLE OUT
#
# BUNDLE: ../shared/tools/device-bundle output of a CPU build of ripple
# (BUNDLE/bin/ripple). Run from the repository root (the weights are
# data/models/tiny-vdit.h5, given relatively so that the merged tables
# match wherever they are merged). The captures (about 0.9 GB each) stay in
# /tmp on the device; OUT gets the tables, figures and logs.
#
# 1. 10 prompts (classes 0-9, seed 0), 50 steps each, with a capture of
#    every step, layer and head (`ripple generate --capture`), 1 thread
#    each, all at once; and 2 more runs (classes 7, 1) capturing steps
#    0,10,20,30,40,49 only, for the reuse-kernel bench.
# 2. `ripple steps` on the 10 captures at the threshold of the committed
#    7-step experiments (0.0457764) in 16 shards, and `ripple fit` (every
#    4th step) in 13 shards (one step each), 1 thread per shard, at once.
# 3. The merges; `ripple bench --reuse` on the 2 step-subset captures, one
#    thread each, pinned to cores 0 and 1; `ripple quality --quick` with 2
#    threads pinned to cores 14 and 15 (its wall time on 2 cores).
# SMOKE=1: the same plumbing on 3 sampler steps (a check before a device call).
set -uo pipefail
b=$(cd "${1:?usage: run_device.sh BUNDLE OUT}" && pwd)
out=${2:?usage: run_device.sh BUNDLE OUT}
R=$b/bin/ripple W=data/models/tiny-vdit.h5 tmp=/tmp/fig89
export OPENBLAS_CORETYPE=SkylakeX RIPPLE_NUM_THREADS=1
mkdir -p "$out" "$tmp"
{ lscpu | head -20; nproc; free -g; df -h /tmp; "$R" --version; } > "$out/host.txt" 2>&1
t0=$SECONDS
# taskset where the cores exist (the device host has 16; a SMOKE run here may not)
pin() { if [ "$(nproc)" -ge 16 ]; then taskset -c "$@"; else shift; "$@"; fi; }
stamp() { echo "=== $* ($((SECONDS - t0)) s)"; }
gen=() substeps=0,10,20,30,40,49 fitsteps=0,4,8,12,16,20,24,28,32,36,40,44,48 nfit=13 bench=(--reps 5) quick=1
if [ "${SMOKE:-0}" = 1 ]; then gen=(--steps 3) substeps=0,2 fitsteps=0,1,2 nfit=3 bench=(--reps 1 --theta 0.1) quick=0; fi

stamp "1. generate + capture"
# SKIPGEN=1: the captures of an earlier call of this script on a machine still held
[ "${SKIPGEN:-0}" = 1 ] || for c in 0 1 2 3 4 5 6 7 8 9; do
    timeout 200 "$R" generate --class $c --seed 0 --weights $W --out "$tmp" --no-gif "${gen[@]}" \
        --capture "$tmp/c${c}s0.h5" --capture-no-o > "$out/generate_c${c}s0.log" 2>&1 &
done
[ "${SKIPGEN:-0}" = 1 ] || for c in 7 1; do
    timeout 200 "$R" generate --class $c --seed 0 --weights $W --out "$tmp/sub" --no-gif "${gen[@]}" \
        --capture "$tmp/sub/c${c}s0-6steps.h5" --capture-steps $substeps --capture-no-o \
        > "$out/generate_c${c}s0-6steps.log" 2>&1 &
done
wait
tail -n 2 "$out"/generate_*.log
mkdir -p "$out/clips" && cp "$tmp"/c*s0-exact.png "$tmp"/c*s0-exact.tsv "$out/clips/" 2>/dev/null
ls -la "$tmp" "$tmp/sub" >> "$out/host.txt"
caps=$(ls "$tmp"/c?s0.h5)

stamp "2. steps (16 shards) + fit (13 shards)"
for i in $(seq 1 16); do
    timeout 180 "$R" steps $caps --out "$out/steps" --theta 0.0457764 --no-floor --shard $i/16 \
        > "$out/steps_shard$i.log" 2>&1 &
done
for i in $(seq 1 $nfit); do
    timeout 180 "$R" fit $caps --out "$out/fit" --target 5e-5 --steps $fitsteps --no-floor --max-evals 10 \
        --tol 0.02 --keep-mb 1024 --shard $i/$nfit > "$out/fit_shard$i.log" 2>&1 &
done
wait
grep -L "wrote" "$out"/steps_shard*.log "$out"/fit_shard*.log | sed 's/^/no "wrote" in /'

stamp "3. merges, bench --reuse, quality --quick on 2 cores"
for c in 7 1; do
    pin $((c == 7 ? 0 : 1)) timeout 200 "$R" bench --reuse "$tmp/sub/c${c}s0-6steps.h5" \
        --out "$out/bench_reuse_c${c}s0" --threads 1 "${bench[@]}" > "$out/bench_reuse_c${c}s0.log" 2>&1 &
done
[ $quick = 1 ] && ( s0=$SECONDS; RIPPLE_NUM_THREADS=2 pin 14,15 timeout 200 "$R" quality --quick --weights $W \
    --out "$out/quality-quick" > "$out/quality-quick.log" 2>&1; echo "exit $? after $((SECONDS - s0)) s wall" >> "$out/quality-quick.log" ) &
( RIPPLE_NUM_THREADS=6 pin 2-7 timeout 200 "$R" merge "$out/steps" > "$out/steps_merge.log" 2>&1; echo "exit $?" >> "$out/steps_merge.log" ) &
( RIPPLE_NUM_THREADS=6 pin 8-13 timeout 200 "$R" merge "$out/fit" > "$out/fit_merge.log" 2>&1; echo "exit $?" >> "$out/fit_merge.log" ) &
wait
for m in steps fit; do grep -q "^exit 0" "$out/${m}_merge.log" && rm -rf "$out/$m"/shard-*; done
tail -n 3 "$out"/*merge.log "$out"/quality-quick.log "$out"/bench_reuse_*.log
stamp "done"
# one file back (the device returns a limited number of files)
tar -czf "$out.tgz" -C "$(dirname "$out")" "$(basename "$out")" && rm -rf "$out"
