#!/usr/bin/env bash
# The main job on the embedded default: describe the bundled capture of our
# own trained video DiT and evaluate reuse against the baselines on it.
# Falls back to a synthetic capture when the bundled one is absent.
# Usage: experiments/demo.sh [BUILD_DIR]   (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
ripple=$build/experiments/ripple
if [ ! -x "$ripple" ]; then
    echo "demo: $ripple not found; build first: meson setup build && ninja -C build" >&2
    exit 1
fi
capture=$root/data/captures/tiny-vdit-mini.h5
if [ ! -f "$capture" ]; then
    capture=${TMPDIR:-/tmp}/ripple-demo-synth.h5
    echo "== data/captures/tiny-vdit-mini.h5 not found: synthesising $capture"
    "$ripple" synth "$capture" --grid 8,16,16 --heads 2 --steps 4 --layers 2 --text 4 --seed 1
fi
echo "== ripple info $capture"
"$ripple" info "$capture"
entry=$("$ripple" info "$capture" --format tsv | awk -F'\t' '$1=="first_entry"{print $2; exit}')
step=${entry%/*}; layer=${entry#*/}
for theta in 0.05 0.1 0.2; do
    echo
    echo "== ripple eval $capture --step $step --layer $layer --theta $theta"
    "$ripple" eval "$capture" --step "$step" --layer "$layer" --theta "$theta" --format table
done
