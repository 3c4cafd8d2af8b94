"""scikit-image's PSNR and SSIM of image pairs, for tests/test_quality.c.

Input (argv[1]): int32 count, then per pair int32 height, int32 width,
float32 img[height*width], float32 ref[height*width] (row-major, little
endian). Output: one line per pair, "psnr ssim" as repr() of the float64
values. The float32 pixels are converted to float64 first, so that
scikit-image computes in double, as ripple does (with float32 inputs it
would compute in float32).
"""
import sys
import warnings

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

data = open(sys.argv[1], "rb").read()
off = 0


def take(dtype, count):
    global off
    a = np.frombuffer(data, dtype=dtype, count=count, offset=off)
    off += a.nbytes
    return a


(n,) = take("<i4", 1)
for _ in range(n):
    h, w = take("<i4", 2)
    img = take("<f4", h * w).reshape(h, w).astype(np.float64)
    ref = take("<f4", h * w).reshape(h, w).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # equal images: division by zero -> inf
        psnr = peak_signal_noise_ratio(ref, img, data_range=1.0)
    ssim = structural_similarity(ref, img, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=1.0)
    print(repr(float(psnr)), repr(float(ssim)))
