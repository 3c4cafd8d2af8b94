#!/usr/bin/env bash
# Installs the build into a temporary root (meson install --destdir), then
# builds tests/install/example.c against it as a user would, through
# pkg-config, shared and static, runs both, and checks that the shared
# library exports the public API (ripple_*) and nothing else.
#   tests/install/run.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
meson install -C "$build" --no-rebuild --quiet --destdir "$root" >/dev/null
pc=$(find "$root" -name ripple.pc | head -n 1)
[ -n "$pc" ] || { echo "install: no ripple.pc installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
# the .pc names the real prefix; point it (only ripple's) at the temporary root
prefix=$root$(pkg-config --variable=prefix ripple)
pc() { pkg-config --define-variable=prefix="$prefix" "$@" ripple; }
libdir=$(pc --variable=libdir)
for h in ripple.h attnmap.h; do
    [ -f "$(pc --variable=includedir)/ripple/$h" ] || { echo "install: header ripple/$h missing"; exit 1; }
done
cc -std=c11 -Wall -Wextra -Werror "$src/tests/install/example.c" $(pc --cflags --libs) -lm -o "$root/example_shared"
LD_LIBRARY_PATH=$libdir "$root/example_shared"
cc -std=c11 -Wall -Wextra -Werror "$src/tests/install/example.c" $(pc --cflags) \
   "$libdir/libripple.a" $(pc --static --libs | sed 's/-lripple//') -lm -o "$root/example_static"
"$root/example_static"
so=$(ls "$libdir"/libripple.so.* | head -n 1)
extra=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^ripple_' | grep -Ev '^(_init|_fini|_edata|_end|__bss_start)$' || true)
if [ -n "$extra" ]; then echo "install: libripple.so exports non-API symbols:"; echo "$extra" | head; exit 1; fi
echo "install: shared and static builds of example.c ran; $(nm -D --defined-only "$so" | grep -c ' ripple_') ripple_* symbols exported, nothing else"
