#!/usr/bin/env bash
# Seed corpus for fuzz_capture: small captures made by `ripple synth`, and,
# when python3 has h5py, files that use what synth never writes (contiguous
# and compact storage, fixed-length strings, links, external storage,
# virtual datasets, other filters). Usage: make_seeds.sh RIPPLE OUTDIR
set -euo pipefail
ripple=${1:?usage: make_seeds.sh path/to/ripple OUTDIR}
out=${2:?usage: make_seeds.sh path/to/ripple OUTDIR}
mkdir -p "$out"
i=0
synth() {
    i=$((i + 1))
    "$ripple" synth "$out/synth$i.h5" "$@" >/dev/null
}
synth --grid 1,1,2 --heads 1 --head-dim 8 --rope-split 2,2,2 --steps 1 --layers 1 --num-steps 2 --text 0
synth --grid 2,2,2 --heads 1 --head-dim 8 --rope-split 4,2,2 --steps 1 --layers 1 --num-steps 2 --text 1 --dtype f32
synth --grid 2,1,3 --heads 2 --head-dim 8 --rope-split 2,2,4 --steps 2 --layers 2 --num-steps 3 --text 2
synth --grid 1,2,2 --heads 1 --head-dim 16 --steps 2 --layers 1 --num-steps 5 --text 3 --dtype f32
if python3 -c 'import h5py, numpy' 2>/dev/null; then
    python3 - "$out" <<'PY'
import sys, h5py, numpy as np
out = sys.argv[1]
def base(name, strings=np.bytes_, **kw):  # fixed-length strings: no global heap
    f = h5py.File(f"{out}/{name}.h5", "w")
    a = f.attrs
    a["format"] = strings("ripple-capture"); a["format_version"] = 1; a["model"] = strings("m")
    a["grid"] = np.array([1, 2, 2], dtype=np.int32); a["rope_axes"] = strings("thw")
    a["rope_split"] = [2, 2, 2]; a["num_heads"] = 1; a["head_dim"] = 8; a["num_layers"] = 1
    a["num_steps"] = 2; a["seq_len"] = 5; a["video_offset"] = 1; a["scale"] = 0.35
    g = f.create_group("steps/000"); g.attrs["timestep"] = 0.5
    l = g.create_group("layers/000")
    x = (np.arange(40) % 7 - 3).reshape(1, 5, 8) / 4.0
    return f, l, x
f, l, x = base("contiguous", strings=np.bytes_)
for t in "qkvo": l.create_dataset(t, data=x.astype(np.float32))
f.close()
f, l, x = base("compact", strings=str)
for t in "qkv": l.create_dataset(t, data=x.astype(np.float16), chunks=None)
f.close()
f, l, x = base("filters")
l.create_dataset("q", data=x.astype(np.float16), chunks=(1, 5, 8), fletcher32=True)
l.create_dataset("k", data=x.astype(np.float32), chunks=(1, 2, 8), shuffle=True, compression="gzip")
l.create_dataset("v", data=x.astype(np.float32), chunks=(1, 3, 3), scaleoffset=4, compression="gzip")
f.close()
f, l, x = base("lzf")
for t in "qkv": l.create_dataset(t, data=x.astype(np.float32), chunks=(1, 5, 8), compression="lzf" if t == "v" else None)
f.close()
f, l, x = base("links")
l.create_dataset("q", data=x.astype(np.float32))
l["k"] = h5py.SoftLink("/steps/000/layers/000/q")
l["v"] = h5py.ExternalLink("other.h5", "/x")
f.close()
f, l, x = base("external")
l.create_dataset("q", data=x.astype(np.float32))
l.create_dataset("k", shape=(1, 5, 8), dtype=np.float32, external=[("/etc/hostname", 0, 160)])
l.create_dataset("v", shape=(1, 5, 8), dtype=np.float32)
f.close()
f, l, x = base("virtual")
l.create_dataset("q", data=x.astype(np.float32))
lay = h5py.VirtualLayout(shape=(1, 5, 8), dtype=np.float32)
lay[...] = h5py.VirtualSource(f"{out}/contiguous.h5", "/steps/000/layers/000/q", shape=(1, 5, 8))
l.create_virtual_dataset("k", lay)
l.create_dataset("v", data=x.astype(np.float32), chunks=(1, 1, 8))
f.close()
PY
fi
ls -l "$out"
