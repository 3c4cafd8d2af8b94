"""How far a float32 run of the sampler drifts from a float64 run of the same model and noise.

PYTHONPATH=data python3 -m tinyvdit.drift_fp32 --class 7 --seed 0 --layer 1 --head 0 \
    --steps 0,8,16,24,32,40,48 --out data/results/drift_fp32_c7s0.tsv

Runs tiny-vdit on the CPU twice, in float32 and in float64 (the same weights, the same noise, the
50-step Euler sampler of sample.py), and records, at the given steps, the difference of the
post-RoPE q, k and v of one (layer, head) and of the latent x: max|a - b| / max|b| and the
normalised MSE. The C engine's test against a PyTorch capture (tests/test_generate.c) derives its
tolerance from these figures: two float32 implementations each drift from the exact trajectory by
about this much, so they differ from each other by at most about twice it.
"""

import argparse
import os

import torch

from .capture import DEFAULT_WEIGHTS, make_noise
from .model import load_weights
from .sample import euler_sample


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--class", dest="cls", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layer", type=int, default=1)
    ap.add_argument("--head", type=int, default=0)
    ap.add_argument("--steps", default="0,8,16,24,32,40,48")
    ap.add_argument("--out", required=True)
    ap.add_argument("--weights", default=DEFAULT_WEIGHTS)
    a = ap.parse_args(argv)
    steps = [int(s) for s in a.steps.split(",")]
    runs = {}
    for dtype in (torch.float32, torch.float64):
        model, _ = load_weights(a.weights, "cpu")
        model = model.to(dtype)
        model.rope_cos, model.rope_sin = model.rope_cos.to(dtype), model.rope_sin.to(dtype)
        got, state = {}, {"step": -1}

        def on_step(i, t, x=None):
            state["step"] = i

        def hook(layer, q, k, v, o):
            if layer == a.layer and state["step"] in steps:
                got[state["step"]] = [t[0, a.head].double().clone() for t in (q, k, v)]

        model.set_attention_hook(hook)
        x = euler_sample(model, torch.tensor([a.cls]), make_noise(model.cfg, a.seed).to(dtype), 50, 1.0, on_step)
        runs[dtype] = (got, x.double())
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"# tinyvdit/drift_fp32.py --class {a.cls} --seed {a.seed} --layer {a.layer} --head {a.head} "
                f"(torch {torch.__version__}, CPU, {torch.get_num_threads()} threads)\n")
        f.write("# rel = max|fp32 - fp64| / max|fp64|; nmse = mse(fp32, fp64) / mse(0, fp64)\n")
        f.write("step\ttensor\trel\tnmse\n")
        g32, g64 = runs[torch.float32][0], runs[torch.float64][0]
        for s in steps:
            for name, t32, t64 in zip("qkv", g32[s], g64[s]):
                d = t32 - t64
                f.write(f"{s}\t{name}\t{(d.abs().max() / t64.abs().max()).item():.3e}\t"
                        f"{((d * d).mean() / (t64 * t64).mean()).item():.3e}\n")
        d = runs[torch.float32][1] - runs[torch.float64][1]
        f.write(f"50\tclip\t{(d.abs().max() / runs[torch.float64][1].abs().max()).item():.3e}\t"
                f"{((d * d).mean() / (runs[torch.float64][1] ** 2).mean()).item():.3e}\n")
    os.replace(tmp, a.out)
    print(open(a.out).read())


if __name__ == "__main__":
    main()
