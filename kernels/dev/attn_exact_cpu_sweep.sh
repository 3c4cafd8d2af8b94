#!/usr/bin/env bash
# Builds the tile-size variants of kernels/dev/attn_exact_cpu.c into DIR
# (default /tmp/attn_dev) as attn_dev_PATH_BQ_KC_PVKB, so that they can be run
# here or carried to another machine (../shared/tools/device-bundle), and
# prints the command that runs them all:
#   kernels/dev/attn_exact_cpu_sweep.sh [DIR]      (after ninja -C build)
#   for x in DIR/attn_dev_*; do $x 4096 64 9; done
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-/tmp/attn_dev}
mkdir -p "$dir"
libs="build/lib/libripple.a -lopenblas -lhdf5_serial -lm -lpthread"
if [ -d /usr/local/cuda/lib64 ] && grep -q 'RIPPLE_HAVE_CUDA 1' build/lib/ripple_config.h; then
    libs="$libs -L/usr/local/cuda/lib64 -lcudart -lcublas -lstdc++"
fi
for path in avx512 avx2; do
    flags="-mavx2 -mfma"; [ $path = avx512 ] && flags="-mavx512f -mfma"
    P=$(echo $path | tr a-z A-Z)
    for bq in 48 96 192; do
        for kc in 128 256 512; do
            for kb in 64 $kc; do
                cc -O3 -std=c11 -D_POSIX_C_SOURCE=200809L $flags -DPATH_$P -DBQ=$bq -DKC=$kc -DPV_KB=$kb \
                   -Ilib/include -Ilib/src -Ibuild/lib kernels/dev/attn_exact_cpu.c $libs \
                   -o "$dir/attn_dev_${path}_${bq}_${kc}_${kb}"
            done
        done
    done
done
echo "built $(ls "$dir"/attn_dev_* | wc -l) variants in $dir; run: for x in $dir/attn_dev_*; do \$x 4096 64 9; done"
