"""Golden reference for a C inference engine: one forward pass of tiny-vdit on the CPU in float32.

Inputs: a held-out moving-Fashion-MNIST clip x0 (test split, clip seed --seed, class --class), noise
eps (torch.Generator seed --seed, randn of the clip's shape), t = --t;
x_t = (1 - t) x0 + t eps is the model input; the model output v (velocity, target eps - x0) is stored.

File layout (data/golden/tiny-vdit-golden.h5):
  /x      [1,1,T,H,W] float32  model input x_t
  /t      [1] float32           timestep fed to the model (rectified flow, 1 = noise)
  /y      [1] int64             class label
  /v      [1,1,T,H,W] float32  model output
  /x0, /noise                   the clean clip and the noise that made x
  /layers/LLL/{q,k,v,o} [heads, seq_len, head_dim]  post-RoPE q, k and v, attention output o,
                                float32 (float16 if the file would exceed 5 MB; see attribute qkv_dtype)
  /c      [hidden] float32      conditioning vector (t embedding + class embedding) fed to adaLN
  /hidden [depth+1, n_tok, hidden] float32  residual stream before block 0, after each block,
                                at the token indices /hidden_tokens (cheap per-block debugging)
Root attributes: the model config, the weights file and its sha256, and the conventions.
"""

import argparse
import hashlib
import json
import os

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from .model import load_weights, modulate, timestep_embedding
from .moving_fmnist import MovingFMNIST, load_fmnist


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--data", default=".devdata")
    ap.add_argument("--out", required=True)
    ap.add_argument("--class", dest="cls", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--t", type=float, default=0.6)
    ap.add_argument("--layer", type=int, default=-1, help="layer whose q/k/v/o are stored (-1 = last)")
    ap.add_argument("--max-mb", type=float, default=5.0)
    a = ap.parse_args()
    torch.set_num_threads(min(16, os.cpu_count() or 1))
    model, _ = load_weights(a.weights, "cpu")
    cfg = model.cfg
    layer = a.layer % cfg.depth
    te = MovingFMNIST(*load_fmnist(a.data, "test"), frames=cfg.frames, size=cfg.height, device="cpu")
    g = torch.Generator().manual_seed(a.seed)
    y = torch.tensor([a.cls])
    x0 = te.sample(y, g)
    noise = torch.randn(x0.shape, generator=g)
    t = torch.tensor([a.t], dtype=torch.float32)
    x = (1 - t) * x0 + t * noise
    grabbed = {}
    model.set_attention_hook(lambda l, q, k, v, o: grabbed.update({"qkvo": (q, k, v, o)}) if l == layer else None)
    hidden = []
    tok_idx = list(range(cfg.num_text_tokens)) + [cfg.num_text_tokens + i for i in (0, 1, 17, 255, 256, 1000, 2047)]
    with torch.no_grad():
        v = model(x, t, y)
        # recompute the residual stream for per-block debugging values
        c = model.t_fc2(F.silu(model.t_fc1(timestep_embedding(t * cfg.time_scale, cfg.freq_dim)))) + model.y_embed(y)
        h = torch.cat([model.text_tokens[y], model.x_embed(model.patchify(x))], dim=1)
        hidden.append(h[0, tok_idx])
        model.set_attention_hook(None)
        for blk in model.blocks:
            h = blk(h, c, model.rope_cos, model.rope_sin)
            hidden.append(h[0, tok_idx])
        sh, sc = model.final_adaLN(F.silu(c)).chunk(2, dim=-1)
        v2 = model.unpatchify(model.final_linear(modulate(model.final_norm(h[:, cfg.num_text_tokens:]), sh, sc)))
    assert torch.allclose(v, v2, atol=1e-5), "recomputed forward differs"
    sha = hashlib.sha256(open(a.weights, "rb").read()).hexdigest()
    q, k, vv, o = (z[0].numpy() for z in grabbed["qkvo"])
    for dtype, with_o in ((np.float32, True), (np.float32, False), (np.float16, True), (np.float16, False)):
        tmp = a.out + ".tmp"
        with h5py.File(tmp, "w") as f:
            for kk, val in cfg.to_attrs().items():
                f.attrs[kk] = val
            f.attrs["format"] = "tiny-vdit-golden"
            f.attrs["config_json"] = json.dumps(cfg.to_attrs())
            f.attrs["weights"] = os.path.basename(a.weights)
            f.attrs["weights_sha256"] = sha
            f.attrs["class_label"] = a.cls
            f.attrs["clip_seed"] = a.seed
            f.attrs["timestep"] = a.t
            f.attrs["timestep_convention"] = ("rectified flow: x = (1-t) x0 + t noise, t in [0,1], 1 = noise; "
                                              "model fed t, embeds sin/cos of t*1000; output v predicts noise - x0")
            f.attrs["layer"] = layer
            f.attrs["qkv_dtype"] = np.dtype(dtype).name
            f.attrs["grid"] = list(cfg.grid)
            f.attrs["seq_len"] = cfg.seq_len
            f.attrs["video_offset"] = cfg.num_text_tokens
            f.attrs["computed_on"] = "CPU, float32, torch " + torch.__version__
            f.attrs["patchify"] = "token (t,h,w) frame-major; token channels ordered (c, pt, ph, pw)"
            f.attrs["rope"] = ("video tokens only; head channels [0:16) t, [16:40) h, [40:64) w; pairs (2i,2i+1) "
                               "in each group rotated by pos * theta^(-2i/n), theta=10000, n = group size; "
                               "applied after per-head RMSNorm of q and k (eps 1e-6, learned weight)")
            for name, arr in (("x", x), ("t", t), ("v", v), ("x0", x0), ("noise", noise), ("c", c[0])):
                f.create_dataset(name, data=arr.numpy().astype(np.float32))
            f.create_dataset("y", data=y.numpy().astype(np.int64))
            f.create_dataset("hidden", data=torch.stack(hidden).numpy().astype(np.float32))
            f.create_dataset("hidden_tokens", data=np.asarray(tok_idx, np.int64))
            gl = f.create_group(f"layers/{layer:03d}")
            for name, arr in (("q", q), ("k", k), ("v", vv), ("o", o))[: 4 if with_o else 3]:
                gl.create_dataset(name, data=arr.astype(dtype), shuffle=True, compression="gzip",
                                  compression_opts=9, chunks=(1, arr.shape[1], arr.shape[2]))
        mb = os.path.getsize(tmp) / 1e6
        print(f"golden with {np.dtype(dtype).name} q/k/v (o: {with_o}): {mb:.2f} MB")
        if mb <= a.max_mb:
            os.replace(tmp, a.out)
            return
    raise SystemExit("golden file too large even in float16")


if __name__ == "__main__":
    main()
