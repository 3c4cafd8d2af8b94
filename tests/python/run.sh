#!/usr/bin/env bash
# Runs one Python test of data/ripple_py as `meson test` does:
#   tests/python/run.sh BUILD_DIR SOURCE_DIR TEST.py
# The library is installed (meson install --destdir) into a temporary root
# first, so the binding is tested against the installed libripple.so, as a
# user loads it. Exit 77 (meson's "skipped") comes from the test itself when
# numpy, h5py, torch or diffusers are missing.
set -euo pipefail
build=$1 src=$2 test=$3
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
meson install -C "$build" --no-rebuild --quiet --destdir "$root" >/dev/null
so=$(find "$root" -name 'libripple.so' | head -n 1)
[ -n "$so" ] || { echo "run.sh: meson install put no libripple.so under $root"; exit 1; }
export RIPPLE_LIBRARY=$so
export RIPPLE_EXE=$build/experiments/ripple
export PYTHONPATH=$src/data${PYTHONPATH:+:$PYTHONPATH}
export RIPPLE_TEST_TMP=$root
exec python3 "$src/tests/python/$test"
