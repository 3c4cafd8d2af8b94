"""Capture post-RoPE q, k, v and the attention output o of tiny-vdit during a 50-step generation.

PYTHONPATH=data python3 -m tinyvdit.capture --class 7 --seed 0 --steps 0,12,25,37,49 \
    --layers 1,4 [--heads 0,2] [--no-o] [--cfg 1.0] --out capture.h5 [--weights data/models/tiny-vdit.h5]

--steps / --layers / --heads take a comma list or `all`. The run uses the Euler sampler of
sample.py (t_i = 1 - i/num_steps); the `timestep` of step i is t_i, the value the model is fed
(1 = pure noise). With --cfg != 1 the model runs on the batch [cond; uncond] and the conditional
half is captured (guidance="cond"). The model runs in float32 (TF32 off) so captures are exact.
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # data/ for ripple_py

from ripple_py.capture_file import CaptureWriter  # noqa: E402

from .model import load_weights  # noqa: E402
from .moving_fmnist import CLASS_NAMES  # noqa: E402
from .sample import euler_sample  # noqa: E402

DEFAULT_WEIGHTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", "tiny-vdit.h5")


def parse_list(s, n):
    if s == "all":
        return list(range(n))
    out = sorted({int(x) for x in s.split(",") if x.strip()})
    if not out or out[0] < 0 or out[-1] >= n:
        raise SystemExit(f"list {s!r} must be within [0, {n})")
    return out


def make_noise(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 1, cfg.frames, cfg.height, cfg.width, generator=g)


def capture(model, cls, seed, steps, layers, heads, out, num_steps=50, cfg_scale=1.0,
            with_o=True, source="data/tinyvdit/capture.py"):
    cfg = model.cfg
    dev = next(model.parameters()).device
    heads = list(range(cfg.num_heads)) if heads is None else list(heads)
    state = {"step": -1}
    # `layers` is a list (captured at every step of `steps`) or a dict {step: [layers]}
    plan = {s: set(layers[s] if isinstance(layers, dict) else layers) for s in steps}
    steps_set = set(plan)
    w = CaptureWriter(out, model="tiny-vdit", grid=cfg.grid, rope_axes=cfg.rope_axes,
                      rope_split=cfg.rope_split, num_heads=len(heads), head_dim=cfg.head_dim,
                      num_layers=cfg.depth, num_steps=num_steps, seq_len=cfg.seq_len,
                      video_offset=cfg.num_text_tokens, scale=cfg.head_dim ** -0.5,
                      heads=heads if len(heads) != cfg.num_heads else None,
                      prompt=f"class {cls} ({CLASS_NAMES[cls]})", seed=seed, source=source,
                      guidance="cond",
                      extra_attrs={"class_label": cls, "cfg_scale": float(cfg_scale),
                                   "timestep_convention": "rectified flow t in [0,1], 1 = noise; "
                                   "step i has t = 1 - i/num_steps"})
    hidx = torch.tensor(heads, device=dev)

    def on_step(i, t):
        state["step"] = i
        if i in steps_set:
            w.set_timestep(i, t)

    def hook(layer, q, k, v, o):
        if layer in plan.get(state["step"], ()):
            sel = lambda x: x[0].index_select(0, hidx)  # noqa: E731  (batch 0 = conditional branch)
            w.add(state["step"], layer, sel(q), sel(k), sel(v), sel(o) if with_o else None)

    model.set_attention_hook(hook)
    try:
        with torch.no_grad():
            x = euler_sample(model, torch.tensor([cls], device=dev), make_noise(cfg, seed).to(dev),
                             num_steps, cfg_scale, on_step)
        w.close()
    except BaseException:
        w.abort()
        raise
    finally:
        model.set_attention_hook(None)
    return x


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--class", dest="cls", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", default="0,12,25,37,49")
    ap.add_argument("--layers", default="all")
    ap.add_argument("--heads", default="all")
    ap.add_argument("--num-steps", type=int, default=50)
    ap.add_argument("--cfg", type=float, default=1.0)
    ap.add_argument("--no-o", action="store_true")
    ap.add_argument("--out", required=True)
    ap.add_argument("--weights", default=DEFAULT_WEIGHTS)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args(argv)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model, _ = load_weights(a.weights, a.device)
    cfg = model.cfg
    if not 0 <= a.cls < cfg.num_classes:
        raise SystemExit(f"--class must be in [0, {cfg.num_classes})")
    capture(model, a.cls, a.seed, parse_list(a.steps, a.num_steps), parse_list(a.layers, cfg.depth),
            None if a.heads == "all" else parse_list(a.heads, cfg.num_heads), a.out, a.num_steps, a.cfg,
            not a.no_o, source="tiny-vdit data/tinyvdit/capture.py " + " ".join(argv or sys.argv[1:]))
    print(f"wrote {a.out} ({os.path.getsize(a.out) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
