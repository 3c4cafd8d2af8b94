"""Where does each head put its attention mass?  Spatial versus temporal heads.

For every layer and head, the softmax attention P = softmax(q k^T / sqrt(64)) of the conditional
branch is computed exactly (float32) at the chosen denoising steps of 50-step generations of
every class, and averaged over all video query tokens (t, h, w):
  own_frame   = mass on keys of the same frame t (all h, w; includes the query's own token)
  same_pos    = mass on keys at the same (h, w) in the OTHER frames t' != t
  nbhd3_other = mass on keys within the 3x3 spatial neighbourhood of (h, w) in the other frames
  text        = mass on the learned class tokens at the front of the sequence
Uniform attention would give own_frame = 256/2052 = 0.125, same_pos = 7/2052 = 0.0034 and
nbhd3_other = 63/2052 = 0.031 (less at the borders).
Objects move by 1-3 px (0.5-1.5 tokens) per frame, so a head that follows content across frames puts
its mass NEAR its own position in other frames rather than exactly on it; the labels therefore use the
3x3 neighbourhood:  temporal if nbhd3_other >= 0.4;  spatial if own_frame >= 0.45 and
nbhd3_other <= 0.1;  otherwise mixed.  (Thresholds set by us after looking at the measured values;
all numbers are in the TSV, so anyone can relabel.)

PYTHONPATH=data python3 -m tinyvdit.head_mass --weights data/models/tiny-vdit.h5 --out head_mass.tsv
"""

import argparse

import torch

from .capture import make_noise
from .model import load_weights
from .sample import euler_sample

SPATIAL_MIN_OWN = 0.45
SPATIAL_MAX_NBHD = 0.1
TEMPORAL_MIN_NBHD = 0.4


def label(own, same, nbhd):
    if nbhd >= TEMPORAL_MIN_NBHD:
        return "temporal"
    if own >= SPATIAL_MIN_OWN and nbhd <= SPATIAL_MAX_NBHD:
        return "spatial"
    return "mixed"


def head_stats(q, k, cfg):
    """q, k: [H, N, hd] of one sequence. Returns [H, 4] (own_frame, same_pos, nbhd3_other, text)."""
    T, Hg, Wg = cfg.grid
    off = cfg.num_text_tokens
    H = q.shape[0]
    P = torch.softmax((q.float() @ k.float().transpose(1, 2)) * cfg.head_dim ** -0.5, dim=-1)
    text = P[:, off:, :off].sum(-1).mean(-1)
    Pv = P[:, off:, off:].reshape(H, T, Hg * Wg, T, Hg * Wg)
    ti = torch.arange(T, device=q.device)
    own = Pv[:, ti, :, ti, :].sum(-1).mean((0, 2))                   # [T,H,HW] -> [H]
    D = Pv.diagonal(dim1=2, dim2=4)                                  # [H, T, T, HW]
    same = (D.sum(2) - D[:, ti, ti]).mean((1, 2))
    P7 = Pv.reshape(H, T, Hg, Wg, T, Hg, Wg)
    hh = torch.arange(Hg, device=q.device)[:, None]
    ww = torch.arange(Wg, device=q.device)[None, :]
    nb = 0
    for dh in (-1, 0, 1):
        for dw in (-1, 0, 1):
            h2, w2 = hh + dh, ww + dw
            valid = ((h2 >= 0) & (h2 < Hg) & (w2 >= 0) & (w2 < Wg)).float()
            sub = P7[:, :, hh, ww, :, h2.clamp(0, Hg - 1), w2.clamp(0, Wg - 1)]  # [Hg,Wg,H,T,T]
            nb = nb + sub * valid[:, :, None, None, None]
    nb_other = (nb.sum(-1) - nb[:, :, :, ti, ti]).mean((0, 1, 3))
    return torch.stack([own, same, nb_other, text], 1)


@torch.no_grad()
def measure(model, steps=(10, 25, 40), seeds=(0,), num_steps=50):
    cfg = model.cfg
    dev = next(model.parameters()).device
    acc = torch.zeros(cfg.depth, cfg.num_heads, 4, device=dev)
    per_step = {s: torch.zeros(cfg.depth, cfg.num_heads, 4, device=dev) for s in steps}
    n = 0
    state = {"step": -1}

    def on_step(i, t):
        state["step"] = i

    def hook(layer, q, k, v, o):
        if state["step"] in per_step:
            st = head_stats(q[0], k[0], cfg)
            acc[layer] += st
            per_step[state["step"]][layer] += st

    model.set_attention_hook(hook)
    try:
        for c in range(cfg.num_classes):
            for s in seeds:
                euler_sample(model, torch.tensor([c], device=dev), make_noise(cfg, 1000 + s).to(dev), num_steps, 1.0,
                             on_step)
                n += 1
    finally:
        model.set_attention_hook(None)
    acc /= n * len(steps)
    for s in per_step:
        per_step[s] /= n
    return acc.cpu(), {s: v.cpu() for s, v in per_step.items()}


def write_tsv(path, acc):
    with open(path, "w") as f:
        f.write("layer\thead\town_frame\tsame_pos_other_frames\tnbhd3_other_frames\ttext\tlabel\n")
        for l in range(acc.shape[0]):
            for h in range(acc.shape[1]):
                o, s, nb, tx = acc[l, h].tolist()
                f.write(f"{l}\t{h}\t{o:.4f}\t{s:.4f}\t{nb:.4f}\t{tx:.4f}\t{label(o, s, nb)}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", default="10,25,40")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    model, _ = load_weights(a.weights, a.device)
    steps = tuple(int(x) for x in a.steps.split(","))
    acc, per_step = measure(model, steps)
    write_tsv(a.out, acc)
    base = a.out.rsplit(".", 1)[0]
    for s, v in per_step.items():
        write_tsv(f"{base}_step{s:03d}.tsv", v)
    print(open(a.out).read())


if __name__ == "__main__":
    main()
