"""tiny-vdit: a small video diffusion transformer with the attention anatomy of
CogVideoX / HunyuanVideo single-stream blocks.

* pixel-space grayscale video [B, 1, T, H, W], patch 1x2x2 -> tokens, channel order (c, ph, pw)
* sequence = [num_text_tokens learned class tokens] + [T*Hg*Wg video tokens], frame-major
* each block: adaLN-zero (timestep + class) -> LayerNorm -> qkv -> per-head RMSNorm(q), RMSNorm(k)
  -> 3D RoPE on video tokens only (split [16, 24, 24] over t, h, w, interleaved pairs)
  -> softmax(q k^T / sqrt(64)) v -> out proj; then adaLN-zero MLP (GELU-tanh, 4x)
* rectified flow: x_t = (1 - t) x_0 + t * eps, t in [0, 1] (1 = pure noise); the model predicts
  v = eps - x_0 and is fed t itself (sinusoidal embedding of t * 1000).
"""

import json
import math
import os
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class TinyVDiTConfig:
    frames: int = 8
    height: int = 32
    width: int = 32
    in_channels: int = 1
    patch: tuple = (1, 2, 2)
    hidden: int = 256
    depth: int = 6
    num_heads: int = 4
    head_dim: int = 64
    mlp_ratio: int = 4
    num_classes: int = 10
    num_text_tokens: int = 4
    rope_split: tuple = (16, 24, 24)
    rope_axes: str = "thw"
    rope_theta: float = 10000.0
    rope_pairing: str = "interleaved"  # channels (2i, 2i+1) of a group form one rotation pair
    norm_eps: float = 1e-6
    qk_norm_eps: float = 1e-6
    time_scale: float = 1000.0
    freq_dim: int = 256

    @property
    def grid(self):
        pt, ph, pw = self.patch
        return (self.frames // pt, self.height // ph, self.width // pw)

    @property
    def num_video_tokens(self):
        T, H, W = self.grid
        return T * H * W

    @property
    def seq_len(self):
        return self.num_text_tokens + self.num_video_tokens

    @property
    def patch_dim(self):
        pt, ph, pw = self.patch
        return self.in_channels * pt * ph * pw

    def to_attrs(self):
        d = asdict(self)
        d["patch"] = list(self.patch)
        d["rope_split"] = list(self.rope_split)
        return d

    @classmethod
    def from_attrs(cls, attrs):
        kw = {}
        for k in cls.__dataclass_fields__:
            if k in attrs:
                v = attrs[k]
                if hasattr(v, "tolist"):
                    v = v.tolist()
                if isinstance(v, bytes):
                    v = v.decode()
                if k in ("patch", "rope_split"):
                    v = tuple(int(x) for x in v)
                kw[k] = v
        return cls(**kw)


def rope_angles(cfg):
    """[Nv, head_dim/2] rotation angles of the video tokens, frame-major (t, h, w)."""
    T, H, W = cfg.grid
    t, h, w = torch.meshgrid(torch.arange(T), torch.arange(H), torch.arange(W), indexing="ij")
    pos = [t.reshape(-1).double(), h.reshape(-1).double(), w.reshape(-1).double()]
    out = []
    for p, n in zip(pos, cfg.rope_split):
        freqs = 1.0 / (cfg.rope_theta ** (torch.arange(0, n, 2, dtype=torch.float64) / n))
        out.append(p[:, None] * freqs[None, :])
    ang = torch.cat(out, dim=1)  # [Nv, sum(split)/2]
    rest = (cfg.head_dim - sum(cfg.rope_split)) // 2
    if rest:
        ang = torch.cat([ang, torch.zeros(ang.shape[0], rest, dtype=ang.dtype)], 1)
    return ang.float()


def apply_rope(x, cos, sin):
    """x [..., N, hd]; cos/sin [N, hd/2]; interleaved pairs (2i, 2i+1)."""
    xf = x.float()
    x0, x1 = xf[..., 0::2], xf[..., 1::2]
    r0 = x0 * cos - x1 * sin
    r1 = x0 * sin + x1 * cos
    return torch.stack([r0, r1], dim=-1).flatten(-2).to(x.dtype)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.float()).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, cfg, layer_idx):
        super().__init__()
        self.cfg = cfg
        self.layer_idx = layer_idx
        inner = cfg.num_heads * cfg.head_dim
        self.qkv = nn.Linear(cfg.hidden, 3 * inner)
        self.q_norm = RMSNorm(cfg.head_dim, cfg.qk_norm_eps)
        self.k_norm = RMSNorm(cfg.head_dim, cfg.qk_norm_eps)
        self.proj = nn.Linear(inner, cfg.hidden)
        self.hook = None  # callable(layer_idx, q, k, v, o) with [B, heads, N, hd] tensors

    def forward(self, x, cos, sin):
        B, N, _ = x.shape
        nh, hd, nt = self.cfg.num_heads, self.cfg.head_dim, self.cfg.num_text_tokens
        q, k, v = self.qkv(x).view(B, N, 3, nh, hd).permute(2, 0, 3, 1, 4)
        q, k = self.q_norm(q), self.k_norm(k)
        q = torch.cat([q[:, :, :nt], apply_rope(q[:, :, nt:], cos, sin)], dim=2)
        k = torch.cat([k[:, :, :nt], apply_rope(k[:, :, nt:], cos, sin)], dim=2)
        o = F.scaled_dot_product_attention(q, k, v)
        if self.hook is not None:
            self.hook(self.layer_idx, q, k, v, o)
        return self.proj(o.transpose(1, 2).reshape(B, N, nh * hd))


def modulate(x, shift, scale):
    return x * (1 + scale[:, None]) + shift[:, None]


class Block(nn.Module):
    def __init__(self, cfg, layer_idx):
        super().__init__()
        D = cfg.hidden
        self.norm1 = nn.LayerNorm(D, elementwise_affine=False, eps=cfg.norm_eps)
        self.attn = Attention(cfg, layer_idx)
        self.norm2 = nn.LayerNorm(D, elementwise_affine=False, eps=cfg.norm_eps)
        self.mlp_fc1 = nn.Linear(D, cfg.mlp_ratio * D)
        self.mlp_fc2 = nn.Linear(cfg.mlp_ratio * D, D)
        self.adaLN = nn.Linear(D, 6 * D)

    def forward(self, x, c, cos, sin):
        sa, ca, ga, sm, cm, gm = self.adaLN(F.silu(c)).chunk(6, dim=-1)
        x = x + ga[:, None] * self.attn(modulate(self.norm1(x), sa, ca), cos, sin)
        h = self.mlp_fc2(F.gelu(self.mlp_fc1(modulate(self.norm2(x), sm, cm)), approximate="tanh"))
        return x + gm[:, None] * h


def timestep_embedding(t, dim, max_period=10000.0):
    """DiT sinusoidal embedding: [cos(t f_i), sin(t f_i)], f_i = max_period^(-i/half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TinyVDiT(nn.Module):
    def __init__(self, cfg: TinyVDiTConfig):
        super().__init__()
        self.cfg = cfg
        D = cfg.hidden
        self.x_embed = nn.Linear(cfg.patch_dim, D)
        self.t_fc1 = nn.Linear(cfg.freq_dim, D)
        self.t_fc2 = nn.Linear(D, D)
        self.y_embed = nn.Embedding(cfg.num_classes + 1, D)  # index num_classes = null (CFG)
        self.text_tokens = nn.Parameter(torch.zeros(cfg.num_classes + 1, cfg.num_text_tokens, D))
        self.blocks = nn.ModuleList([Block(cfg, i) for i in range(cfg.depth)])
        self.final_norm = nn.LayerNorm(D, elementwise_affine=False, eps=cfg.norm_eps)
        self.final_adaLN = nn.Linear(D, 2 * D)
        self.final_linear = nn.Linear(D, cfg.patch_dim)
        ang = rope_angles(cfg)
        self.register_buffer("rope_cos", torch.cos(ang), persistent=False)
        self.register_buffer("rope_sin", torch.sin(ang), persistent=False)
        self.reset_parameters()

    def reset_parameters(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.t_fc1.weight, std=0.02)
        nn.init.normal_(self.t_fc2.weight, std=0.02)
        nn.init.normal_(self.y_embed.weight, std=0.02)
        nn.init.normal_(self.text_tokens, std=0.02)
        for b in self.blocks:
            nn.init.zeros_(b.adaLN.weight)
            nn.init.zeros_(b.adaLN.bias)
        nn.init.zeros_(self.final_adaLN.weight)
        nn.init.zeros_(self.final_adaLN.bias)
        nn.init.zeros_(self.final_linear.weight)
        nn.init.zeros_(self.final_linear.bias)

    def patchify(self, x):
        B, C, Tf, Hp, Wp = x.shape
        pt, ph, pw = self.cfg.patch
        T, H, W = Tf // pt, Hp // ph, Wp // pw
        x = x.reshape(B, C, T, pt, H, ph, W, pw).permute(0, 2, 4, 6, 1, 3, 5, 7)
        return x.reshape(B, T * H * W, C * pt * ph * pw)

    def unpatchify(self, tok):
        B = tok.shape[0]
        pt, ph, pw = self.cfg.patch
        T, H, W = self.cfg.grid
        C = self.cfg.in_channels
        x = tok.reshape(B, T, H, W, C, pt, ph, pw).permute(0, 4, 1, 5, 2, 6, 3, 7)
        return x.reshape(B, C, T * pt, H * ph, W * pw)

    def set_attention_hook(self, hook):
        for b in self.blocks:
            b.attn.hook = hook

    def forward(self, x, t, y):
        """x [B,1,T,H,W], t [B] in [0,1] (1 = noise), y [B] long (num_classes = null)."""
        cfg = self.cfg
        B = x.shape[0]
        if t.dim() == 0:
            t = t.expand(B)
        c = self.t_fc2(F.silu(self.t_fc1(timestep_embedding(t * cfg.time_scale, cfg.freq_dim).to(x.dtype))))
        c = c + self.y_embed(y)
        h = torch.cat([self.text_tokens[y], self.x_embed(self.patchify(x))], dim=1)
        for blk in self.blocks:
            h = blk(h, c, self.rope_cos, self.rope_sin)
        shift, scale = self.final_adaLN(F.silu(c)).chunk(2, dim=-1)
        h = modulate(self.final_norm(h[:, cfg.num_text_tokens:]), shift, scale)
        return self.unpatchify(self.final_linear(h))


# ---------------------------------------------------------------- weights I/O
def save_weights(model, path, extra_attrs=None, dtype="float32"):
    """Weights as float32 HDF5 datasets named by parameter; config as root attributes."""
    import h5py
    import numpy as np
    tmp = path + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with h5py.File(tmp, "w") as f:
        for k, v in model.cfg.to_attrs().items():
            f.attrs[k] = v
        f.attrs["format"] = "tiny-vdit-weights"
        f.attrs["config_json"] = json.dumps(model.cfg.to_attrs())
        f.attrs["grid"] = list(model.cfg.grid)
        f.attrs["seq_len"] = model.cfg.seq_len
        f.attrs["video_offset"] = model.cfg.num_text_tokens
        f.attrs["num_params"] = sum(p.numel() for p in model.parameters())
        for k, v in (extra_attrs or {}).items():
            f.attrs[k] = v
        for name, p in model.state_dict().items():
            f.create_dataset(name, data=p.detach().float().cpu().numpy().astype(dtype))
    os.replace(tmp, path)


def load_weights(path, device="cpu"):
    import h5py
    with h5py.File(path, "r") as f:
        cfg = TinyVDiTConfig.from_attrs(dict(f.attrs))
        model = TinyVDiT(cfg)
        sd = model.state_dict()
        missing = [k for k in sd if k not in f]
        if missing:
            raise ValueError(f"{path}: missing parameters {missing}")
        new = {}
        for k in sd:
            arr = torch.from_numpy(f[k][...])
            if tuple(arr.shape) != tuple(sd[k].shape):
                raise ValueError(f"{path}: {k} has shape {tuple(arr.shape)}, model wants {tuple(sd[k].shape)}")
            new[k] = arr
        model.load_state_dict(new)
        attrs = dict(f.attrs)
    return model.to(device).eval(), attrs
