"""The torch ripple transform (data/ripple_py/reuse.py) against the installed C
library (libripple.so through data/ripple_py/clib.py): identical masks, values
and savings on the same float32 inputs, exactly (no tolerance: both compute
the same float64 operations in the same order, see reuse.py), for every axis
set, windows 2-4, both threshold modes, channel-group restrictions, text
tokens before and after the video tokens, on random inputs with planted
equal neighbours and on real captured tensors (our tiny model's capture, and
a capture of diffusers' HunyuanVideo when diffusers is installed)."""

import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.require("numpy", "h5py", "torch")

import unittest  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ripple_py import clib  # noqa: E402
from ripple_py.reuse import Layout, ReuseParams, _axis_deltas, _ordered_mean, ripple_transform, savings  # noqa: E402

AXIS_SETS = ["t", "h", "w", "th", "tw", "hw", "thw"]
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def compare(tc, lay, x, params, label):
    """x: [heads, N, d] float32 numpy. Asserts equality head by head; returns the reused fraction."""
    xo, m = ripple_transform(torch.from_numpy(x), lay, params)
    reused = 0.0
    for h in range(x.shape[0]):
        co, cm = clib.reuse_apply(lay, params, x[h])
        tm = m[h].numpy()
        tc.assertTrue(np.array_equal(cm, tm), f"{label} head {h}: {int((cm != tm).sum())} mask entries differ")
        tc.assertTrue(np.array_equal(co, xo[h].numpy()),
                      f"{label} head {h}: {int((co != xo[h].numpy()).sum())} values differ")
        mk = np.ascontiguousarray(cm[::-1])     # a second, different mask for the k side
        cs = clib.savings_compute(lay, cm, mk)
        ts = savings(lay, torch.from_numpy(tm), torch.from_numpy(mk))
        for key, val in ts.items():
            tc.assertEqual(float(val), cs[key], f"{label} head {h}: savings {key}")
        reused += float((cm != 0).mean())
    return reused / x.shape[0]


class RandomInputs(unittest.TestCase):
    def test_every_option(self):
        rng = np.random.default_rng(12)
        print(f"libripple {clib.version()} from {os.environ.get('RIPPLE_LIBRARY')}; seed 12")
        # (grid, text before, text after, head_dim, rope_split): text before (CogVideoX),
        # after (HunyuanVideo), none (Wan); axes of odd length (trailing windows of 1..3)
        shapes = [((3, 5, 4), 3, 0, 16, (4, 6, 6)), ((4, 3, 5), 0, 2, 16, (4, 6, 4)),
                  ((5, 4, 7), 0, 0, 12, (4, 4, 4)), ((2, 7, 3), 1, 1, 10, (2, 4, 4))]
        n = 0
        fractions = []
        for grid, before, after, d, split in shapes:
            lay = Layout(grid, before + int(np.prod(grid)) + after, before, d, "thw", split)
            for mode, axes, win, groups in itertools.product(("absolute", "channel"), AXIS_SETS, (2, 3, 4),
                                                             (None, "h", "tw")):
                x = rng.standard_normal((2, lay.seq_len, d)).astype(np.float32)
                # equal neighbours along every axis (delta exactly 0), and values of mixed magnitude
                x[:, before:before + 3] = x[:, before:before + 1]
                x[:, before + 7::5] *= 100.0
                theta = 0.6 if mode == "absolute" else 0.9
                params = ReuseParams(theta=(theta, 0.8 * theta, 1.2 * theta), mode=mode, axes=axes, window=win,
                                     groups=groups)
                fractions.append(compare(self, lay, x, params, f"{grid} {mode} {axes} w{win} groups {groups}"))
                n += 1
        for mode in ("absolute", "channel"):       # theta 0 (nothing) and infinity (everything windowed)
            for th in (0.0, float("inf")):
                lay = Layout((3, 4, 5), 60 + 2, 2, 16, "thw", (4, 6, 6))
                x = rng.standard_normal((2, lay.seq_len, 16)).astype(np.float32)
                f = compare(self, lay, x, ReuseParams(theta=th, mode=mode), f"{mode} theta {th}")
                self.assertEqual(f == 0.0, th == 0.0, f"{mode} theta {th}: reused fraction {f}")
        # not vacuous: reuse happened, but not everywhere
        self.assertGreater(np.mean(fractions), 0.05)
        self.assertLess(np.max(fractions), 0.95)
        print(f"{n} option sets x 2 heads equal; mean reused fraction {np.mean(fractions):.3f}")

    def test_channel_threshold_mean_is_bitwise_the_c_mean(self):
        rng = np.random.default_rng(5)
        lay = Layout((5, 6, 7), 210 + 4, 4, 16, "thw", (4, 6, 6))
        x = rng.standard_normal((lay.seq_len, 16)).astype(np.float32) * 3
        xg = torch.from_numpy(x[4:4 + 210]).double().unflatten(0, (5, 6, 7))
        for a, axis in enumerate("thw"):
            for win in (2, 3, 4):
                deltas, _, _ = _axis_deltas(xg, a, win)
                ours = _ordered_mean(deltas).numpy()
                theirs = clib.window_delta_mean(lay, axis, win, x)
                self.assertTrue(np.array_equal(ours, theirs), f"axis {axis} window {win}")


class CapturedInputs(unittest.TestCase):
    def test_tiny_vdit_capture(self):
        path = os.path.join(SRC, "data", "captures", "tiny-vdit-mini.h5")
        with h5py.File(path, "r") as f:
            a = f.attrs
            lay = Layout(tuple(a["grid"]), int(a["seq_len"]), int(a["video_offset"]), int(a["head_dim"]),
                         str(a["rope_axes"]), tuple(a["rope_split"]))
            step = sorted(f["steps"])[0]
            layer = sorted(f["steps"][step]["layers"])[0]
            g = f["steps"][step]["layers"][layer]
            tensors = {t: g[t][...].astype(np.float32) for t in ("q", "k")}
        fractions = []
        for t, x in tensors.items():
            for mode, th in (("absolute", 0.1), ("absolute", 0.3), ("channel", 0.8)):
                for axes, win in (("thw", 2), ("t", 3), ("hw", 4), ("th", 2)):
                    fractions.append(compare(self, lay, x, ReuseParams(theta=th, mode=mode, axes=axes, window=win),
                                             f"tiny-vdit {t} {mode} {th} {axes} w{win}"))
        self.assertGreater(max(fractions), 0.2)

    def test_diffusers_capture(self):
        try:
            import diffusers  # noqa: F401
        except ImportError:
            self.skipTest("diffusers is not installed")
        from ripple_py.adapters import RippleCapture
        model, inputs, _ = common.tiny_models()["hunyuanvideo"]
        path = os.path.join(common.tmpdir(), "hy.h5")
        cap = RippleCapture(model, path, num_steps=2, steps=[1], layers="all", storage="float32")
        with cap:
            common.run_loop(model, inputs(torch.Generator().manual_seed(3)), [900, 400], cap)
        with h5py.File(path, "r") as f:
            a = f.attrs
            lay = Layout(tuple(a["grid"]), int(a["seq_len"]), int(a["video_offset"]), int(a["head_dim"]),
                         str(a["rope_axes"]), tuple(a["rope_split"]))
            self.assertEqual(lay.video_offset, 0)
            self.assertGreater(lay.seq_len, lay.num_video, "HunyuanVideo's text tokens follow the video tokens")
            for layer in f["steps/001/layers"]:
                for t in ("q", "k"):
                    x = f[f"steps/001/layers/{layer}/{t}"][...]
                    for mode, th, axes, win in (("absolute", 0.5, "thw", 2), ("channel", 1.0, "tw", 3),
                                                ("absolute", 0.8, "h", 4)):
                        compare(self, lay, x, ReuseParams(theta=th, mode=mode, axes=axes, window=win),
                                f"hunyuanvideo layer {layer} {t} {mode} {axes} w{win}")


if __name__ == "__main__":
    common.main()
