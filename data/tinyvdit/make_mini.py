"""Write the small test capture data/captures/tiny-vdit-mini.h5 (<= 5 MB).

Heads/layers are chosen from head_mass.tsv: the most temporal head (largest same_pos mass) and the
most spatial head (largest own-frame mass among the other heads) of the model, in the two layers
where those maxima occur (if both fall in one layer, the other layer is the next-best one for the
second head). Tries the layouts of `ladder` in order (most data first) and keeps the first that fits.

PYTHONPATH=data python3 -m tinyvdit.make_mini --weights W --head-mass head_mass.tsv --out FILE
"""

import argparse
import csv
import os

import torch

from .capture import capture
from .model import load_weights


def choose(tsv):
    rows = list(csv.DictReader(open(tsv), delimiter="\t"))
    for r in rows:
        r["layer"], r["head"] = int(r["layer"]), int(r["head"])
        r["own"], r["same"] = float(r["own_frame"]), float(r["same_pos_other_frames"])
    tmp = max(rows, key=lambda r: r["same"])
    others = [r for r in rows if r["head"] != tmp["head"]]
    diff_layer = [r for r in others if r["layer"] != tmp["layer"]]
    sp = max(diff_layer or others, key=lambda r: r["own"])
    layers = sorted({tmp["layer"], sp["layer"]})
    if len(layers) == 1:
        layers = sorted({layers[0], (layers[0] + 1) % 6})
    heads = sorted({tmp["head"], sp["head"]})
    return layers, heads, tmp, sp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--head-mass", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--class", dest="cls", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-mb", type=float, default=5.0)
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model, _ = load_weights(a.weights, dev)
    layers, heads, tmp, sp = choose(a.head_mass)
    print(f"temporal head L{tmp['layer']}H{tmp['head']} same_pos {tmp['same']:.3f}; "
          f"spatial head L{sp['layer']}H{sp['head']} own_frame {sp['own']:.3f}; layers {layers} heads {heads}")
    la, lb = layers
    ladder = [({5: [la, lb], 25: [la, lb], 45: [la, lb]}, True),
              ({5: [la, lb], 25: [la, lb], 45: [la, lb]}, False),
              ({10: [la, lb], 40: [la, lb]}, False),
              ({10: [la, lb], 40: [la]}, False),
              ({10: [la], 25: [lb], 40: [la]}, False),
              ({25: [la, lb]}, False)]
    for plan, with_o in ladder:
        steps = sorted(plan)
        desc = "; ".join(f"step {s}: layers {plan[s]}" for s in steps)
        capture(model, a.cls, a.seed, steps, plan, heads, a.out, 50, 1.0, with_o,
                source=f"tiny-vdit make_mini (class {a.cls}, seed {a.seed}, heads {heads}, "
                       f"{desc}, o {'kept' if with_o else 'omitted'})")
        mb = os.path.getsize(a.out) / 1e6
        print(f"{desc} o={with_o}: {mb:.2f} MB")
        if mb <= a.max_mb:
            return
    raise SystemExit("mini capture does not fit")


if __name__ == "__main__":
    main()
