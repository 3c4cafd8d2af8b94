#!/usr/bin/env bash
# Two MPI ranks with one thread each against one process with one thread, on
# the same compare sweep (issue 13's figure: target >= 1.8x on 2 cores).
#
#   experiments/bench_mpi.sh [BUILD [REPS [OUT.tsv [STEPS]]]]   # defaults: build 3 bench_mpi.tsv 4
#
# Validates first (the two runs' rows must be identical), then times REPS
# interleaved pairs (one process, then mpirun -np 2, then one process...) so
# that load from other users of the machine falls on both alike; prints the
# median wall time of each, the ratio of the medians and the CPU seconds the
# runs were given (user+sys, children included: on a loaded machine a rank
# that gets less than a core shows here), and writes them as TSV with `#`
# metadata. The capture: 2 x STEPS units (STEPS steps x 2 layers) of 4x16x16 video
# tokens + 4 text tokens, 2 heads x 64 channels; compare's default sweep
# (8 thresholds x 6 methods per unit).
set -euo pipefail
build=${1:-build} reps=${2:-3} out=${3:-bench_mpi.tsv} steps=${4:-4}
ripple=$(realpath "$build/experiments/ripple")
command -v mpirun >/dev/null || { echo "bench_mpi: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 RIPPLE_NUM_THREADS=1
"$ripple" synth "$work/bench.h5" --grid 4,16,16 --heads 2 --head-dim 64 --steps "$steps" --layers 2 --seed 5 >/dev/null
one=("$ripple" compare "$work/bench.h5" --out "$work/one" --fresh)
# --bind-to none: Open MPI pins each rank to a core by default; on a machine
# shared with others a pinned rank waits for its core while the other is idle
# (measured here: 6 of 8 groups went to rank 0, 1.27x). Unpinned, the kernel
# moves the ranks to whichever core is free.
two=(mpirun --bind-to none --oversubscribe -np 2 "$ripple" compare "$work/bench.h5" --out "$work/two" --fresh)
# seconds of wall and of CPU (user+sys of the command and its children)
timed() {
    /usr/bin/time -f '%e %U %S' -o "$work/t" "$@" >"$work/log" 2>&1
    awk '{printf "%s %.2f\n", $1, $2 + $3}' "$work/t"
}
timed "${one[@]}" >/dev/null
timed "${two[@]}" >/dev/null
cp "$work/log" "$work/two.log"
if ! cmp -s <(grep -v '^#' "$work/one/compare.tsv") <(grep -v '^#' "$work/two/compare.tsv"); then
    echo "bench_mpi: the two runs' rows differ: not timed"; exit 1
fi
split=$(grep -o 'groups computed by ranks 0..1: [0-9]* [0-9]*' "$work/two.log" || echo "?")
load0=$(cut -d' ' -f1-3 /proc/loadavg)
w1=() w2=() c1=() c2=()
for ((i = 0; i < reps; i++)); do
    read -r w c < <(timed "${one[@]}")
    w1+=("$w") c1+=("$c")
    read -r w c < <(timed "${two[@]}")
    w2+=("$w") c2+=("$c")
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
m1=$(median "${w1[@]}") m2=$(median "${w2[@]}")
ratio=$(awk -v a="$m1" -v b="$m2" 'BEGIN{printf "%.2f", a/b}')
{
    echo "# bench_mpi: ripple compare, one process 1 thread vs mpirun -np 2, 1 thread per rank"
    echo "# ripple: $(git -C "$(dirname "$0")" describe --always --dirty --tags 2>/dev/null || echo unknown)"
    echo "# host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "# mpi: $(mpirun --version | head -1)"
    echo "# load average (1, 5, 15 min) before: $load0; after: $load1 (other users of the machine)"
    echo "# capture: $((2 * steps)) units, 4x16x16+4 tokens, 2 heads x 64; compare defaults; reps $reps interleaved"
    echo "# mpi split (validation run): $split"
    echo -e "run\trep\twall_s\tcpu_s"
    for ((i = 0; i < reps; i++)); do
        echo -e "one_process\t$i\t${w1[i]}\t${c1[i]}"
        echo -e "two_ranks\t$i\t${w2[i]}\t${c2[i]}"
    done
    echo "# command: experiments/bench_mpi.sh $build $reps $out $steps"
    echo "# median wall: one process $m1 s, two ranks $m2 s: speedup ${ratio}x (target 1.8x)"
    awk -v a="$(median "${c2[@]}")" -v b="$m2" 'BEGIN{printf "# cores the two ranks got: median cpu_s / median wall_s = %.2f (2.00 on an idle machine)\n", a/b}'
} | tee "$out"
