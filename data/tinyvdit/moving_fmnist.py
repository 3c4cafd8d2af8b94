"""Moving Fashion-MNIST clips, generated on the fly and deterministic from a seed.

Recipe of one clip (T frames of S x S pixels, values in [-1, 1], background -1):
  * label y; 1 item (p = 0.5) or 2 items (p = 0.5), each a random Fashion-MNIST image of class y
    (train split for training, test split for held-out evaluation);
  * item size (edge of the 28x28 source box, in pixels): U(15, 21) for one item, U(12, 16) for two;
    size changes linearly by a factor (1 + ds * f) at frame f, ds ~ U(-0.04, 0.04);
  * rotation theta0 ~ U(-0.3, 0.3) rad plus omega * f, omega ~ U(-0.08, 0.08) rad/frame;
  * centre starts uniformly inside the box [m, S - m] (m = 0.4 * largest size), moves with a
    speed U(1, 3) px/frame in a uniform random direction and bounces off the box (reflection);
  * items are drawn by bilinear sampling (torch grid_sample) and combined by max.
All random parameters come from a torch.Generator on the CPU seeded by the caller.
"""

import gzip
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _find(root, names):
    for n in names:
        p = os.path.join(root, n)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"none of {names} in {root}")


def load_fmnist(root, split="train"):
    pre = "train" if split == "train" else "t10k"
    ip = _find(root, [f"{pre}-images-idx3-ubyte.gz", f"{pre}-images.idx3-ubyte.gz"])
    lp = _find(root, [f"{pre}-labels-idx1-ubyte.gz", f"{pre}-labels.idx1-ubyte.gz"])
    with gzip.open(ip, "rb") as f:
        img = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(lp, "rb") as f:
        lab = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    assert len(img) == len(lab)
    return img, lab


def _reflect(p, lo, hi):
    L = hi - lo
    q = torch.remainder(p - lo, 2 * L)
    return lo + torch.where(q > L, 2 * L - q, q)


class MovingFMNIST:
    def __init__(self, images, labels, frames=8, size=32, device="cpu"):
        self.T, self.S, self.device = frames, size, device
        self.img = torch.from_numpy(images.astype(np.float32) / 255.0).to(device)[:, None]
        labels = torch.from_numpy(labels)
        self.num_classes = int(labels.max()) + 1
        idx = [torch.nonzero(labels == c).flatten() for c in range(self.num_classes)]
        self.counts = torch.tensor([len(i) for i in idx])
        m = int(self.counts.max())
        self.table = torch.stack([torch.cat([i, i[: m - len(i)]]) if len(i) < m else i for i in idx])

    def params(self, y, gen):
        """Draw the per-clip, per-item random parameters on the CPU (deterministic)."""
        B, T = y.shape[0], self.T
        u = lambda *s: torch.rand(*s, generator=gen)  # noqa: E731
        two = u(B) < 0.5
        r = (u(B, 2) * self.counts[y][:, None]).long().clamp(max=self.table.shape[1] - 1)
        img_idx = self.table[y[:, None].expand(B, 2), r]
        size0 = torch.where(two[:, None], 12 + 4 * u(B, 2), 15 + 6 * u(B, 2))
        ds = -0.04 + 0.08 * u(B, 2)
        th0 = -0.3 + 0.6 * u(B, 2)
        om = -0.08 + 0.16 * u(B, 2)
        speed = 1 + 2 * u(B, 2)
        ang = 2 * math.pi * u(B, 2)
        f = torch.arange(T, dtype=torch.float32)
        size = size0[..., None] * (1 + ds[..., None] * f)             # [B,2,T]
        m = 0.4 * size.max(-1).values                                 # [B,2]
        lo, hi = m, self.S - m
        cx0 = lo + (hi - lo) * u(B, 2)
        cy0 = lo + (hi - lo) * u(B, 2)
        cx = _reflect(cx0[..., None] + (speed * torch.cos(ang))[..., None] * f, lo[..., None], hi[..., None])
        cy = _reflect(cy0[..., None] + (speed * torch.sin(ang))[..., None] * f, lo[..., None], hi[..., None])
        theta = th0[..., None] + om[..., None] * f
        return dict(two=two, img_idx=img_idx, size=size, cx=cx, cy=cy, theta=theta)

    def render(self, p):
        B, T, S = p["two"].shape[0], self.T, self.S
        dev = self.device
        size, cx, cy, th = (p[k].to(dev) for k in ("size", "cx", "cy", "theta"))
        c, s = torch.cos(th), torch.sin(th)
        k = S / size                                                  # [B,2,T]
        # input_norm = R(-theta) * (S/size) * out_norm + R(-theta) * (S/2 - centre) * 2/size
        tx, ty = (S / 2 - cx) * 2 / size, (S / 2 - cy) * 2 / size
        A = torch.stack([torch.stack([c * k, s * k, c * tx + s * ty], -1),
                         torch.stack([-s * k, c * k, -s * tx + c * ty], -1)], -2)  # [B,2,T,2,3]
        src = self.img[p["img_idx"].to(dev)]                          # [B,2,1,28,28]
        src = src[:, :, None].expand(B, 2, T, 1, 28, 28).reshape(B * 2 * T, 1, 28, 28)
        grid = F.affine_grid(A.reshape(-1, 2, 3), (B * 2 * T, 1, S, S), align_corners=False)
        out = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        out = out.view(B, 2, T, S, S)
        out = torch.where(p["two"].to(dev)[:, None, None, None], torch.maximum(out[:, 0], out[:, 1]), out[:, 0])
        return (out * 2 - 1)[:, None]                                 # [B,1,T,S,S]

    def sample(self, y, gen):
        return self.render(self.params(y.cpu(), gen))
