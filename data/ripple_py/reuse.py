"""The ripple transform (shared/spec/method.md section 1) in vectorised torch.

Works on any device and on any leading batch shape: ``x`` is ``[..., N, d]``
(e.g. ``[heads, N, d]`` or ``[batch, heads, N, d]``); every leading index is
one head, transformed on its own, as ``ripple_reuse_apply`` does for one head.

It reproduces the C library (lib/src/reuse.c) operation for operation, so that
masks and values agree exactly on the same float32 inputs:

* window deltas in float64: ``|x0 - x1| * 0.5`` for windows of two, otherwise
  the two-pass ``sqrt(sum_k (x_k - mean)^2 / n)`` with the sums taken
  sequentially in window order (each addition its own rounding, as C does)
  and a correctly rounded square root (see _sqrt);
* the strict test ``delta < theta`` in float64;
* channel mode: ``theta_a(c) = alpha * mean over windows of delta(c)``, the
  mean's sum taken in the C loop order (the two other coordinates in grid
  order, then the windows along the axis). On the CPU it is summed
  sequentially (``cumsum``, a sequential loop in ATen), which is bit-identical
  to C; on a GPU ``sum`` is used (a tree reduction: relative difference at most
  ``n_windows * 2^-53``, so a mask could differ only where a delta lies that
  close to its threshold);
* a reused entry takes the final value of the first position of its window
  along the first marking axis in the order t, h, w; chains (a source that is
  itself reused along another axis) have at most three links (a source along
  ``a`` is the first of its ``a``-window, so it cannot be marked along ``a``
  again) and are resolved by pointer jumping.

Values are copied, never recomputed: ``x_out`` has ``x``'s dtype and strides.
"""

from dataclasses import dataclass, field

import math

import torch

AXES = "thw"
AXIS_BIT = {"t": 1, "h": 2, "w": 4}


def axes_mask(s):
    """Axis letters (any of t, h, w, each once) -> bit set; None or '' -> all."""
    if s is None or s == "":
        return 7
    if isinstance(s, int):
        if not 0 < s <= 7:
            raise ValueError(f"axis set {s} must be a bit set in 1..7")
        return s
    m = 0
    for ch in str(s):
        if ch not in AXIS_BIT:
            raise ValueError(f"axis set {s!r}: letter {ch!r} is not t, h or w")
        if m & AXIS_BIT[ch]:
            raise ValueError(f"axis set {s!r}: letter {ch!r} appears twice")
        m |= AXIS_BIT[ch]
    return m


@dataclass
class Layout:
    """Token and channel geometry of one attention call (ripple_layout)."""

    grid: tuple           # (T, H, W)
    seq_len: int          # tokens per call, text included
    video_offset: int     # index of the first video token
    head_dim: int
    rope_axes: str = "thw"          # axis letter of each channel group, channel order
    rope_split: tuple = (0, 0, 0)   # channels of each group

    def __post_init__(self):
        self.grid = tuple(int(g) for g in self.grid)
        self.rope_split = tuple(int(r) for r in self.rope_split)
        T, H, W = self.grid
        if min(self.grid) <= 0 or self.seq_len <= 0 or self.head_dim <= 0 or self.video_offset < 0:
            raise ValueError(f"layout {self}: sizes must be positive (video_offset >= 0)")
        if self.seq_len < self.video_offset + T * H * W:
            raise ValueError(f"seq_len {self.seq_len} < video_offset {self.video_offset} + T*H*W {T * H * W}")
        if len(self.rope_axes) != len(self.rope_split[:len(self.rope_axes)]) or any(
                r <= 0 for r in self.rope_split[:len(self.rope_axes)]):
            raise ValueError(f"rope_split {self.rope_split} does not give one positive size per axis of {self.rope_axes!r}")
        axes_mask(self.rope_axes) if self.rope_axes else None
        if sum(self.rope_split[:len(self.rope_axes)]) > self.head_dim:
            raise ValueError(f"rope_split {self.rope_split} sums past head_dim {self.head_dim}")

    @property
    def num_video(self):
        T, H, W = self.grid
        return T * H * W

    def channel_axis(self):
        """[head_dim] list: axis index (0 t, 1 h, 2 w) of each channel's group, -1 for none."""
        out = [-1] * self.head_dim
        c = 0
        for a, n in zip(self.rope_axes, self.rope_split):
            for i in range(n):
                out[c + i] = AXES.index(a)
            c += n
        return out


@dataclass
class ReuseParams:
    """Options of `ripple eval`: theta (per axis t, h, w) or alpha (mode 'channel'),
    axes, window, groups (axis letters of the channel groups allowed; None = all)."""

    theta: tuple = (0.0, 0.0, 0.0)
    mode: str = "absolute"      # or "channel" (theta holds alpha)
    axes: str = "thw"
    window: int = 2
    groups: str = None

    def __post_init__(self):
        if isinstance(self.theta, (int, float)):
            self.theta = (float(self.theta),) * 3
        self.theta = tuple(float(t) for t in self.theta)
        if len(self.theta) != 3 or any(math.isnan(t) or t < 0 for t in self.theta):
            raise ValueError(f"theta {self.theta} must be three values >= 0 (inf allowed)")
        if self.mode not in ("absolute", "channel"):
            raise ValueError(f"mode {self.mode!r} is neither absolute nor channel")
        if int(self.window) != self.window or self.window < 2:
            raise ValueError(f"window {self.window} must be an integer >= 2")
        self.window = int(self.window)
        axes_mask(self.axes)
        if self.groups is not None:
            axes_mask(self.groups)


def _seq_sum(xs):
    """xs[0] + xs[1] + ... left to right, each addition rounded (C's loop)."""
    s = xs[0]
    for x in xs[1:]:
        s = s + x
    return s


def _sqrt(t):
    """IEEE (correctly rounded) square root, as C's sqrt: torch's float64 sqrt on
    the CPU is not (in torch 2.15 it differed from it in 0.7% of random inputs),
    numpy's is, and so is CUDA's double-precision sqrt."""
    if t.device.type == "cpu":
        import numpy as np
        return torch.from_numpy(np.sqrt(t.contiguous().numpy()))
    return torch.sqrt(t)


def _window_delta(win):
    """win: list of n tensors [..., d] (float64), the window's positions in order."""
    n = len(win)
    if n == 2:
        return (win[0] - win[1]).abs() * 0.5
    mean = _seq_sum(win) / n
    var = _seq_sum([(w - mean) * (w - mean) for w in win])
    return _sqrt(var / n)


# permutation of (T, H, W) putting axis a last with the other two in grid order:
# the loop order of axis_pass in reuse.c (outer, inner, then windows along a)
_PERM = {0: (1, 2, 0), 1: (0, 2, 1), 2: (0, 1, 2)}


def _axis_deltas(xg, a, win):
    """xg: [..., T, H, W, d] float64. Returns (deltas [..., O1, O2, nwin, d], starts, lens)
    for the windows along axis a, in reuse.c's order."""
    lead = xg.dim() - 4
    perm = tuple(range(lead)) + tuple(lead + p for p in _PERM[a]) + (lead + 3,)
    y = xg.permute(perm)  # [..., O1, O2, L, d]
    L = y.shape[-2]
    starts = list(range(0, L - 1, win))          # a trailing single position has no window
    lens = [min(win, L - p0) for p0 in starts]
    full = [p0 for p0, n in zip(starts, lens) if n == win]
    out = []
    if full:
        nf = len(full)
        yf = y[..., :nf * win, :].unflatten(-2, (nf, win))   # [..., O1, O2, nf, win, d]
        out.append(_window_delta([yf[..., k, :] for k in range(win)]))
    if len(full) < len(starts):                  # the trailing shorter window
        p0, n = starts[-1], lens[-1]
        yt = y[..., p0:p0 + n, :]
        out.append(_window_delta([yt[..., k, :] for k in range(n)]).unsqueeze(-2))
    return torch.cat(out, dim=-2), starts, lens


def _ordered_mean(deltas):
    """Mean over all windows (dims -4..-2 flattened in C order) per channel: [..., d]."""
    flat = deltas.flatten(-4, -2)
    nw = flat.shape[-2]
    if flat.device.type == "cpu":
        s = torch.cumsum(flat, dim=-2)[..., -1, :]
    else:
        s = flat.sum(dim=-2)
    return s / nw


def ripple_transform(x, layout, params):
    """Applies the ripple transform to x: [..., N, d] (any float dtype, any device).

    Returns (x_out, mask): x_out like x with reused entries replaced by the final
    value of their source; mask uint8 [..., N, d] with the bits 1 (t), 2 (h),
    4 (w) of the axes that marked each entry (0 = computed), as ripple_reuse_apply."""
    lay, p = layout, params
    if x.shape[-2] != lay.seq_len or x.shape[-1] != lay.head_dim:
        raise ValueError(f"x has shape {tuple(x.shape)}, layout wants [..., {lay.seq_len}, {lay.head_dim}]")
    T, H, W = lay.grid
    d = lay.head_dim
    V = lay.num_video
    vo = lay.video_offset
    lead = x.shape[:-2]
    dev = x.device
    axes = axes_mask(p.axes)
    groups = axes_mask(p.groups)
    win = p.window
    ch_axis = lay.channel_axis()
    eligible = torch.tensor([ax >= 0 and bool(groups & (1 << ax)) for ax in ch_axis], device=dev)
    mask = torch.zeros(x.shape, dtype=torch.uint8, device=dev)
    x_out = x.clone()
    if not bool(eligible.any()):
        return x_out, mask

    xg = x[..., vo:vo + V, :].to(torch.float64).unflatten(-2, (T, H, W))  # [..., T, H, W, d]
    mv = torch.zeros(lead + (T, H, W, d), dtype=torch.uint8, device=dev)
    for a in range(3):
        theta = p.theta[a]
        if not axes & (1 << a) or theta == 0.0 or lay.grid[a] < 2:
            continue
        deltas, starts, lens = _axis_deltas(xg, a, win)          # [..., O1, O2, nwin, d]
        if p.mode == "channel":
            if math.isinf(theta):
                thr = torch.full(lead + (d,), math.inf, dtype=torch.float64, device=dev)
            else:
                thr = theta * _ordered_mean(deltas)               # [..., d]
            thr = torch.where(eligible, thr, torch.zeros((), dtype=torch.float64, device=dev))
            thr = thr[..., None, None, None, :]
        else:
            thr = torch.where(eligible, torch.tensor(theta, dtype=torch.float64, device=dev),
                              torch.zeros((), dtype=torch.float64, device=dev))
        cond = deltas < thr                                       # [..., O1, O2, nwin, d]
        # mark every non-first position of each marked window
        L = lay.grid[a]
        pos = torch.arange(L, device=dev)
        win_of = torch.div(pos, win, rounding_mode="floor")       # window index of each position
        first = (pos % win) == 0
        has_win = win_of < len(starts)
        idx = win_of.clamp(max=len(starts) - 1)
        m = cond.index_select(-2, idx) & (has_win & ~first)[:, None]
        perm = _PERM[a]
        inv = [perm.index(i) for i in range(3)]
        nl = len(lead)
        m = m.permute(tuple(range(nl)) + tuple(nl + i for i in inv) + (nl + 3,))
        mv |= m.to(torch.uint8) << a

    mask[..., vo:vo + V, :] = mv.flatten(-4, -2)
    mflat = mask[..., vo:vo + V, :]
    if bool((mflat != 0).any()):
        tt, hh, ww = torch.meshgrid(torch.arange(T, device=dev), torch.arange(H, device=dev),
                                    torch.arange(W, device=dev), indexing="ij")
        back = [((tt % win) * H * W).flatten(), ((hh % win) * W).flatten(), (ww % win).flatten()]
        tok = torch.arange(V, device=dev)[:, None]
        off = torch.where((mflat & 1) != 0, back[0][:, None],
                          torch.where((mflat & 2) != 0, back[1][:, None],
                                      torch.where((mflat & 4) != 0, back[2][:, None], 0)))
        src = tok - off                                           # [..., V, d]
        for _ in range(2):                                        # 2 doublings cover the <= 3 links
            src = torch.gather(src, -2, src)
        xv = x[..., vo:vo + V, :]
        x_out[..., vo:vo + V, :] = torch.gather(xv, -2, src)
    return x_out, mask


def savings(layout, mq, mk):
    """Savings of each head (method.md section 2) from the masks of q and k
    ([..., N, d]); the same integer counts and final ratios as
    ripple_savings_compute. Returns a dict of float64 tensors of shape [...]."""
    N, d = layout.seq_len, layout.head_dim
    rq, rk = mq != 0, mk != 0
    cq = rq.sum(dim=-2, dtype=torch.int64)          # reused entries per channel [..., d]
    ck = rk.sum(dim=-2, dtype=torch.int64)
    computed = ((N - cq) * (N - ck)).sum(dim=-1).to(torch.float64)   # exact integers
    Nd = float(N) * float(d)
    out = {"s_score": 1.0 - computed / (float(N) * Nd)}
    out["s_attn"] = out["s_score"] / 2.0
    out["rows_reused"] = (rq.sum(dim=-1) == d).sum(dim=-1).to(torch.float64) / float(N)
    out["q_reused"] = cq.sum(dim=-1).to(torch.float64) / Nd
    out["k_reused"] = ck.sum(dim=-1).to(torch.float64) / Nd
    start = 0
    for g, (a, n) in enumerate(zip(layout.rope_axes, layout.rope_split)):
        out[f"q_group{g}"] = cq[..., start:start + n].sum(dim=-1).to(torch.float64) / (float(N) * float(n))
        out[f"k_group{g}"] = ck[..., start:start + n].sum(dim=-1).to(torch.float64) / (float(N) * float(n))
        start += n
    for a in range(3):
        out[f"q_axis{a}"] = ((mq >> a) & 1).sum(dim=(-2, -1), dtype=torch.int64).to(torch.float64) / Nd
        out[f"k_axis{a}"] = ((mk >> a) & 1).sum(dim=(-2, -1), dtype=torch.int64).to(torch.float64) / Nd
    return out


@dataclass
class Ramp:
    """Threshold ramp over steps (method.md section 5), as `ripple fit` writes it."""

    theta_start: float
    theta_end: float
    i_min: int
    i_max: int
    num_steps: int
    mode: str = "absolute"

    def theta(self, step):
        """The ramp law of drv_ramp_theta (experiments/driver.c), zero-based steps."""
        if step < self.i_min or step >= self.num_steps - 1:
            return 0.0
        if step > self.i_max:
            return self.theta_end
        if self.i_max == self.i_min:
            return self.theta_start
        return self.theta_start + float(step - self.i_min) * (self.theta_end - self.theta_start) / float(
            self.i_max - self.i_min)

    @classmethod
    def load(cls, path):
        """Reads a ramp file ('key value' lines, # comments), refusing what `ripple eval --ramp` refuses."""
        keys = ("mode", "theta_start", "theta_end", "i_min", "i_max", "num_steps")
        vals = {}
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                s = line.split("#", 1)[0].split()
                if not s:
                    continue
                if len(s) != 2:
                    raise ValueError(f"{path}:{lineno}: expected 'key value', got {line.strip()!r}")
                k, v = s
                if k not in keys:
                    raise ValueError(f"{path}:{lineno}: unknown key {k!r} (keys: {', '.join(keys)})")
                if k in vals:
                    raise ValueError(f"{path}:{lineno}: {k} given twice")
                vals[k] = v
        missing = [k for k in keys[1:] if k not in vals]
        if missing:
            raise ValueError(f"{path}: a ramp needs theta_start, theta_end, i_min, i_max and num_steps (missing {missing})")
        mode = vals.get("mode", "absolute")
        if mode not in ("absolute", "channel"):
            raise ValueError(f"{path}: mode {mode!r} must be absolute or channel")
        r = cls(float(vals["theta_start"]), float(vals["theta_end"]), int(vals["i_min"]), int(vals["i_max"]),
                int(vals["num_steps"]), mode)
        if not (math.isfinite(r.theta_start) and math.isfinite(r.theta_end) and r.theta_start >= 0 and r.theta_end >= 0):
            raise ValueError(f"{path}: theta_start and theta_end must be finite and >= 0")
        if not 0 <= r.i_min <= r.i_max < r.num_steps:
            raise ValueError(f"{path}: need 0 <= i_min <= i_max < num_steps (got {r.i_min}, {r.i_max}, {r.num_steps})")
        return r
