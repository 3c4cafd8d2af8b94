#!/usr/bin/env bash
# Builds the variants of kernels/dev/attn_reuse_cpu.c into DIR (default
# /tmp/reuse_dev) as reuse_dev_PATH_MAXFRAC_DNV, and prints the command that
# runs them all (after meson compile -C build):
#   kernels/dev/attn_reuse_cpu.sh [DIR]
#   for x in DIR/reuse_dev_*; do $x data/captures/tiny-vdit-c1s2-steps.h5 24 1 9 0.05 0.1 0.2; done
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-/tmp/reuse_dev}
mkdir -p "$dir"
libs="build/lib/libripple.a -lopenblas -lhdf5_serial -lm -lpthread"
if [ -d /usr/local/cuda/lib64 ] && grep -q 'RIPPLE_HAVE_CUDA 1' build/lib/ripple_config.h; then
    libs="$libs -L/usr/local/cuda/lib64 -lcudart -lcublas -lstdc++"
fi
build() { # path maxfrac dnv
    local flags="-mavx2 -mfma" P=AVX2
    [ "$1" = avx512 ] && flags="-mavx512f -mfma" P=AVX512
    cc -O3 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $flags -DPATH_$P -DDELTA_MAX_FRAC=$2 -DDNV=$3 \
       -Ilib/include -Ilib/src -Ibuild/lib -Ikernels/x86 kernels/dev/attn_reuse_cpu.c $libs \
       -o "$dir/reuse_dev_$1_$2_$3"
}
for frac in 0.5 0.75 0.9; do build avx512 $frac 8; done
build avx512 0.75 4
build avx512 0.75 16

build avx2 0.75 8
echo "built $(ls "$dir"/reuse_dev_* | wc -l) variants in $dir; run: for x in $dir/reuse_dev_*; do \$x data/captures/tiny-vdit-c1s2-steps.h5 24 1 9 0.05 0.1 0.2; done"
