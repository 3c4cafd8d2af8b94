"""Independent NumPy forward pass of tiny-vdit (no torch), checked against the golden file.

It is the executable description a C inference engine can follow line by line:
reads data/models/tiny-vdit.h5, runs the model on /x, /t, /y of data/golden/tiny-vdit-golden.h5
and compares the output with /v, the per-block residual samples with /hidden and the post-RoPE
q/k/v/o of the stored layer.

python3 data/tinyvdit/ref_numpy.py [--weights data/models/tiny-vdit.h5] [--golden data/golden/tiny-vdit-golden.h5]
"""

import argparse
import json
import os

import h5py
import numpy as np

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def layer_norm(x, eps):  # no affine
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps)


def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1 + np.exp(-x))


def linear(W, name, x):
    return x @ W[name + ".weight"].T + W[name + ".bias"]


def rope_tables(cfg):
    T, H, Wd = cfg["frames"] // cfg["patch"][0], cfg["height"] // cfg["patch"][1], cfg["width"] // cfg["patch"][2]
    t, h, w = np.meshgrid(np.arange(T), np.arange(H), np.arange(Wd), indexing="ij")
    angs = []
    for pos, n in zip((t.ravel(), h.ravel(), w.ravel()), cfg["rope_split"]):
        freqs = 1.0 / cfg["rope_theta"] ** (np.arange(0, n, 2) / n)
        angs.append(pos[:, None] * freqs[None])
    a = np.concatenate(angs, 1)  # [Nv, 32]
    return np.cos(a), np.sin(a), (T, H, Wd)


def rope(x, cos, sin):  # x [heads, Nv, 64]; channel pairs (2i, 2i+1)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * cos - x1 * sin
    out[..., 1::2] = x0 * sin + x1 * cos
    return out


def forward(W, cfg, x, t, y, keep_layer=None):
    D, nh, hd, nt = cfg["hidden"], cfg["num_heads"], cfg["head_dim"], cfg["num_text_tokens"]
    cos, sin, (T, H, Wd) = rope_tables(cfg)
    # patchify: token (t, h, w) frame-major, channels (c, pt, ph, pw)
    C = cfg["in_channels"]
    p = x[0].reshape(C, T, 1, H, 2, Wd, 2).transpose(1, 3, 5, 0, 2, 4, 6).reshape(T * H * Wd, C * 4)
    # conditioning: sinusoidal embedding of t*1000, [cos | sin], freqs exp(-ln(1e4) i / 128)
    half = cfg["freq_dim"] // 2
    freqs = np.exp(-np.log(10000.0) * np.arange(half) / half)
    arg = t * cfg["time_scale"] * freqs
    temb = np.concatenate([np.cos(arg), np.sin(arg)])
    c = linear(W, "t_fc2", silu(linear(W, "t_fc1", temb))) + W["y_embed.weight"][y]
    h = np.concatenate([W["text_tokens"][y], linear(W, "x_embed", p)], 0)  # [N, D]
    hidden = [h]
    kept = None
    for i in range(cfg["depth"]):
        b = f"blocks.{i}."
        sa, ca, ga, sm, cm, gm = np.split(linear(W, b + "adaLN", silu(c)), 6)
        a = layer_norm(h, cfg["norm_eps"]) * (1 + ca) + sa
        qkv = linear(W, b + "attn.qkv", a).reshape(-1, 3, nh, hd).transpose(1, 2, 0, 3)  # [3, nh, N, hd]
        q = rms_norm(qkv[0], W[b + "attn.q_norm.weight"], cfg["qk_norm_eps"])
        k = rms_norm(qkv[1], W[b + "attn.k_norm.weight"], cfg["qk_norm_eps"])
        v = qkv[2]
        q[:, nt:] = rope(q[:, nt:], cos, sin)
        k[:, nt:] = rope(k[:, nt:], cos, sin)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True))
        o = (s / s.sum(-1, keepdims=True)) @ v  # [nh, N, hd]
        if i == keep_layer:
            kept = (q, k, v, o)
        h = h + ga * linear(W, b + "attn.proj", o.transpose(1, 0, 2).reshape(-1, nh * hd))
        m = layer_norm(h, cfg["norm_eps"]) * (1 + cm) + sm
        h = h + gm * linear(W, b + "mlp_fc2", gelu_tanh(linear(W, b + "mlp_fc1", m)))
        hidden.append(h)
    shift, scale = np.split(linear(W, "final_adaLN", silu(c)), 2)
    out = linear(W, "final_linear", layer_norm(h[nt:], cfg["norm_eps"]) * (1 + scale) + shift)  # [Nv, 4]
    v_out = out.reshape(T, H, Wd, C, 1, 2, 2).transpose(3, 0, 4, 1, 5, 2, 6).reshape(1, C, T, 2 * H, 2 * Wd)
    return v_out, hidden, kept


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=os.path.join(HERE, "models", "tiny-vdit.h5"))
    ap.add_argument("--golden", default=os.path.join(HERE, "golden", "tiny-vdit-golden.h5"))
    a = ap.parse_args()
    with h5py.File(a.weights, "r") as f:
        cfg = json.loads(f.attrs["config_json"])
        W = {k: f[k][...].astype(np.float64) for k in f.keys()}
    with h5py.File(a.golden, "r") as g:
        x, t, y = g["x"][...].astype(np.float64), float(g["t"][0]), int(g["y"][0])
        layer = int(g.attrs["layer"])
        v_ref = g["v"][...]
        hid_ref, tok = g["hidden"][...], g["hidden_tokens"][...]
        lg = g[f"layers/{layer:03d}"]
        qkvo_ref = [lg[n][...].astype(np.float64) for n in ("q", "k", "v", "o") if n in lg]
    v, hidden, kept = forward(W, cfg, x, t, y, keep_layer=layer)
    rel = lambda a_, b_: float(np.abs(a_ - b_).max() / np.abs(b_).max())  # noqa: E731
    print(f"output v: max|diff| / max|ref| = {rel(v, v_ref):.2e}")
    print(f"hidden (all blocks, sampled tokens): {rel(np.stack([h[tok] for h in hidden]), hid_ref):.2e}")
    for n, mine, ref in zip("qkvo", kept, qkvo_ref):
        print(f"layer {layer} {n}: {rel(mine, ref):.2e} (golden stored as {g_dtype(a.golden, layer, n)})")
    ok = rel(v, v_ref) < 1e-4 and all(rel(m, r) < 2e-3 for m, r in zip(kept, qkvo_ref))
    print("MATCH" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)


def g_dtype(path, layer, n):
    with h5py.File(path, "r") as g:
        return str(g[f"layers/{layer:03d}/{n}"].dtype)


if __name__ == "__main__":
    main()
