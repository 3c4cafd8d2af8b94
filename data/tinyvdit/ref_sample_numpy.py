"""The first steps of the Euler sampler in NumPy float64 (no torch), for the C engine's tests.

python3 data/tinyvdit/ref_sample_numpy.py --noise data/noise/tiny-vdit-c7s0.h5 --class 7 \
    --run-steps 2 --out /tmp/ref2.h5 [--num-steps 50] [--weights data/models/tiny-vdit.h5]

Runs ref_numpy.forward (the model in float64) for steps 0 .. run_steps-1 of the num_steps-step
schedule without guidance: x_{i+1} = x_i + (t_{i+1} - t_i) v(x_i, t_i). The t_i are the float32
values of torch.linspace(1, 0, num_steps + 1) (sample.py), built here as torch does in float32:
d = float32(-1 / num_steps), t_i = fma(d, i, 1) for i < (num_steps + 1) / 2, else -d (num_steps - i),
each rounded once to float32 (the product of a float32 and a small integer is exact in float64).
Writes /x_<i> (the latent before step i, i = 0 .. run_steps) and /v_<i> (the velocity of step i),
float64, [1, C, F, H, W].
"""

import argparse
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_numpy import HERE, forward  # noqa: E402


def timestep(num_steps, i):
    d = float(np.float32(np.float32(-1.0) / np.float32(num_steps)))
    if i < (num_steps + 1) // 2:
        return float(np.float32(1.0 + d * i))
    return float(np.float32(-d * (num_steps - i)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=os.path.join(HERE, "models", "tiny-vdit.h5"))
    ap.add_argument("--noise", required=True)
    ap.add_argument("--class", dest="cls", type=int, required=True)
    ap.add_argument("--run-steps", type=int, default=2)
    ap.add_argument("--num-steps", type=int, default=50)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with h5py.File(a.weights, "r") as f:
        cfg = json.loads(f.attrs["config_json"])
        W = {k: f[k][...].astype(np.float64) for k in f.keys()}
    with h5py.File(a.noise, "r") as f:
        x = f["noise"][...].astype(np.float64)
    tmp = a.out + ".tmp"
    with h5py.File(tmp, "w") as out:
        for i in range(a.run_steps):
            t, tn = timestep(a.num_steps, i), timestep(a.num_steps, i + 1)
            v, _, _ = forward(W, cfg, x, t, a.cls)
            out[f"x_{i}"] = x
            out[f"v_{i}"] = v
            x = x + (tn - t) * v
        out[f"x_{a.run_steps}"] = x
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
