"""Strip of real test-split clips (two per class, in class order, labelled; frames across)
for comparison with samples.

PYTHONPATH=data python3 -m tinyvdit.data_strip --data .devdata --out data_strip.png
"""
import argparse

import torch

from .moving_fmnist import CLASS_NAMES, MovingFMNIST, load_fmnist
from .sample import label_strip, strip_image, write_png

ap = argparse.ArgumentParser()
ap.add_argument("--data", default=".devdata")
ap.add_argument("--out", required=True)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
ds = MovingFMNIST(*load_fmnist(a.data, "test"), frames=8, device="cpu")
clips = ds.sample(torch.arange(10).repeat_interleave(2), torch.Generator().manual_seed(a.seed))
write_png(a.out, label_strip(strip_image(clips[:, 0].numpy()), CLASS_NAMES, 2, clips.shape[2]))
