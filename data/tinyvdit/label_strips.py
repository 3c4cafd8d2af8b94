"""Adds the class labels to strips written before sample.py and data_strip.py labelled them.

The layout is the one strip_image writes and sample.py / data_strip.py document: rows of
96 px tiles (32 px frames upscaled 3x) with 2 px gaps, frames left to right, rows per class in
class order, --per-class rows each (the committed strips: 2). The clips themselves are not
regenerated (sampling them again takes hours on a CPU), so the pixels are kept as they were.

PYTHONPATH=data python3 -m tinyvdit.label_strips data/results/samples_cfg1.png ...
"""
import argparse

import numpy as np

from .moving_fmnist import CLASS_NAMES
from .sample import label_strip, write_png


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pngs", nargs="+", help="unlabelled strips, rewritten in place")
    ap.add_argument("--per-class", type=int, default=2)
    ap.add_argument("--frames", type=int, default=8)
    a = ap.parse_args()
    from PIL import Image
    for p in a.pngs:
        img = np.asarray(Image.open(p).convert("L"))
        try:
            out = label_strip(img, CLASS_NAMES, a.per_class, a.frames)  # refuses an image of another layout
        except ValueError as e:
            raise SystemExit(f"{p}: {e}")
        write_png(p, out)
        print(f"{p}: {img.shape[1]}x{img.shape[0]} -> {out.shape[1]}x{out.shape[0]}")


if __name__ == "__main__":
    main()
