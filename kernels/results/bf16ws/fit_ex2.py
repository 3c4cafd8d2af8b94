#!/usr/bin/env python3
"""The cubic of ex2_poly (kernels/cuda/flash_bf16_ws.cuh): 2^f on [-0.5, 0.5],
near-minimax in relative error by Lawson's iteration (weighted least squares on
a dense grid), rounded to float32; prints the coefficients c0..c3 and the
largest relative error of the float32 Horner form on the grid."""
import numpy as np

f = np.linspace(-0.5, 0.5, 20001)
y = 2.0 ** f
w = np.ones_like(f)
a = np.vander(f, 4, increasing=True) / y[:, None]
for _ in range(200):
    c, *_ = np.linalg.lstsq(a * np.sqrt(w)[:, None], np.sqrt(w), rcond=None)
    e = np.abs(a @ c - 1)
    w = w * e
    w /= w.sum()
c = c.astype(np.float32)
x = f.astype(np.float32)
p = ((c[3] * x + c[2]) * x + c[1]) * x + c[0]
print("c0..c3", " ".join(repr(float(v)) for v in c), "max rel error %.2e" % np.abs(p / y - 1).max())
