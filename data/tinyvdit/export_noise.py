"""Exports the initial noise of a PyTorch generation so that the C engine can start from it.

PYTHONPATH=data python3 -m tinyvdit.export_noise --class 7 --seed 0 --out data/noise/tiny-vdit-c7s0.h5

The noise is exactly what capture.py (make_noise) and sample.py feed the sampler for one clip:
a CPU torch.Generator seeded with --seed, randn(1, in_channels, frames, height, width), float32.
It does not depend on the class; the class is stored so that the file names its prompt
(`ripple generate --noise FILE --class C`). Written under a temporary name and renamed.

File: dataset /noise [1, C, F, H, W] float32; root attributes format = "tiny-vdit-noise",
class_label, seed, generator (how it was drawn), torch (version), config_json (the model's config).
"""

import argparse
import json
import os

import h5py
import torch

from .capture import DEFAULT_WEIGHTS, make_noise
from .model import TinyVDiTConfig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--class", dest="cls", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--weights", default=DEFAULT_WEIGHTS, help="read for the config only")
    a = ap.parse_args(argv)
    with h5py.File(a.weights, "r") as f:
        cfg = TinyVDiTConfig.from_attrs(dict(f.attrs))
    if not 0 <= a.cls < cfg.num_classes:
        raise SystemExit(f"--class must be in [0, {cfg.num_classes})")
    noise = make_noise(cfg, a.seed).numpy()
    tmp = a.out + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.create_dataset("noise", data=noise.astype("float32"))
        f.attrs["format"] = "tiny-vdit-noise"
        f.attrs["class_label"] = a.cls
        f.attrs["seed"] = a.seed
        f.attrs["generator"] = (f"torch.Generator().manual_seed({a.seed}); "
                                f"torch.randn(1, {cfg.in_channels}, {cfg.frames}, {cfg.height}, {cfg.width}, generator=g)")
        f.attrs["torch"] = str(torch.__version__)
        f.attrs["config_json"] = json.dumps(cfg.to_attrs())
    os.replace(tmp, a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
