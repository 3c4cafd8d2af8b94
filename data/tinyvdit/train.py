"""Rectified-flow training of tiny-vdit on moving Fashion-MNIST.

x_t = (1 - t) x0 + t eps, target v = eps - x0, t ~ logit-normal(0, 1) (sigmoid of a standard normal),
class label dropped to the null class with p = 0.1 (for optional classifier-free guidance).
AdamW, linear warm-up, constant LR, linear decay to 10 % over the last 20 % of the run (progress =
larger of step/--max-steps and elapsed/--minutes, so a wall-clock bounded run still decays),
EMA of the weights (the EMA weights are the ones saved and evaluated).

Loss log (loss.tsv): step, mean training loss since the previous row (online model, with label
dropout), EMA model loss on a fixed held-out set (test-split images, fixed clips, t and noise),
EMA model loss on a fixed set of train-split clips generated the same way.

PYTHONPATH=data python3 -m tinyvdit.train --data .devdata --out OUTDIR --max-steps N --minutes M
"""

import argparse
import json
import math
import os
import time

import torch
import torch.nn.functional as F

from .model import TinyVDiT, TinyVDiTConfig, load_weights, save_weights
from .moving_fmnist import MovingFMNIST, load_fmnist


def make_eval_set(data, n, seed, device):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % data.num_classes
    x0 = torch.cat([data.sample(y[i:i + 64], g) for i in range(0, n, 64)])
    noise = torch.randn(x0.shape, generator=g).to(device)
    t = torch.sigmoid(torch.randn(n, generator=g)).to(device)
    return y.to(device), x0, noise, t


@torch.no_grad()
def eval_loss(model, ev, bs=64):
    y, x0, noise, t = ev
    tot = 0.0
    for i in range(0, len(y), bs):
        tt = t[i:i + bs].view(-1, 1, 1, 1, 1)
        xt = (1 - tt) * x0[i:i + bs] + tt * noise[i:i + bs]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=x0.is_cuda):
            pred = model(xt, t[i:i + bs], y[i:i + bs])
        tot += F.mse_loss(pred.float(), noise[i:i + bs] - x0[i:i + bs], reduction="sum").item()
    return tot / x0.numel()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=".devdata")
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-steps", type=int, default=20000)
    ap.add_argument("--minutes", type=float, default=8.0, help="wall-clock cap on the training loop")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-n", type=int, default=256)
    ap.add_argument("--init", default=None, help="start from these weights (EMA of an earlier run)")
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--compile", type=int, default=1, help="torch.compile the training forward (1/0)")
    ap.add_argument("--step-offset", type=int, default=0, help="added to logged steps (continuation runs)")
    a = ap.parse_args()

    dev = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    tr = MovingFMNIST(*load_fmnist(a.data, "train"), frames=a.frames, device=dev)
    te = MovingFMNIST(*load_fmnist(a.data, "test"), frames=a.frames, device=dev)
    ev_held = make_eval_set(te, a.eval_n, 1234, dev)
    ev_train = make_eval_set(tr, a.eval_n, 4321, dev)

    if a.init:
        model, _ = load_weights(a.init, dev)
        model.train()
        cfg = model.cfg
    else:
        cfg = TinyVDiTConfig(depth=a.depth, hidden=a.hidden, num_heads=a.heads, frames=a.frames)
        model = TinyVDiT(cfg).to(dev)
    ema = TinyVDiT(cfg).to(dev).eval()
    ema.load_state_dict(model.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"config {json.dumps(cfg.to_attrs())}\nparams {nparams} grid {cfg.grid} seq_len {cfg.seq_len}", flush=True)

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if p.dim() >= 2 and "text_tokens" not in n and "y_embed" not in n else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.99), fused=True)

    def lr_at(s, elapsed=0.0):
        # progress = the larger of the step and wall-clock fractions; linear decay to 10 % past 0.8
        f = min(1.0, (s + 1) / a.warmup)
        prog = max(s / a.max_steps, elapsed / (a.minutes * 60))
        if prog > 0.8:
            f *= 1.0 - 0.9 * min(1.0, (prog - 0.8) / 0.2)
        return a.lr * f

    gdata = torch.Generator().manual_seed(a.seed)          # clip parameters (CPU)
    gcuda = torch.Generator(device=dev).manual_seed(a.seed + 1)  # noise, t, label dropout
    tsv = open(os.path.join(a.out, "loss.tsv"), "w")
    tsv.write("step\ttrain_loss\theldout_loss\ttrain_eval_loss\telapsed_s\n")
    fwd = torch.compile(model) if a.compile else model
    t0 = time.time()
    run_loss, run_n, step = 0.0, 0, 0
    ema_params = list(ema.parameters())
    model_params = list(model.parameters())
    while step < a.max_steps:
        y = torch.randint(0, cfg.num_classes, (a.batch,), generator=gdata)
        x0 = tr.sample(y, gdata)
        y = y.to(dev)
        noise = torch.randn(x0.shape, device=dev, generator=gcuda)
        t = torch.sigmoid(torch.randn(a.batch, device=dev, generator=gcuda))
        drop = torch.rand(a.batch, device=dev, generator=gcuda) < 0.1
        y_in = torch.where(drop, torch.full_like(y, cfg.num_classes), y)
        tt = t.view(-1, 1, 1, 1, 1)
        xt = (1 - tt) * x0 + tt * noise
        for gr in opt.param_groups:
            gr["lr"] = lr_at(step, time.time() - t0)
        def fwd_bwd(f):
            with torch.autocast("cuda", dtype=torch.bfloat16):
                pred = f(xt, t, y_in)
            loss = F.mse_loss(pred.float(), noise - x0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            return loss
        try:
            loss = fwd_bwd(fwd)
        except Exception as e:  # noqa: BLE001  torch.compile trouble: fall back to eager
            if fwd is model:
                raise
            print(f"torch.compile failed ({type(e).__name__}: {e}); eager from now on", flush=True)
            fwd = model
            loss = fwd_bwd(fwd)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dcy = min(a.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, model_params, 1.0 - dcy)
        run_loss += loss.detach()
        run_n += 1
        step += 1
        elapsed = time.time() - t0
        last = step >= a.max_steps or elapsed > a.minutes * 60
        if step % a.eval_every == 0 or last or step == 50:
            tl = (run_loss / run_n).item()
            hl = eval_loss(ema, ev_held)
            trl = eval_loss(ema, ev_train)
            tsv.write(f"{step + a.step_offset}\t{tl:.6f}\t{hl:.6f}\t{trl:.6f}\t{elapsed:.1f}\n")
            tsv.flush()
            print(f"step {step} train {tl:.4f} heldout {hl:.4f} train_eval {trl:.4f} lr {lr_at(step, elapsed):.2e} "
                  f"{elapsed:.0f}s {step / elapsed:.1f} it/s", flush=True)
            run_loss, run_n = 0.0, 0
        if step % 2000 == 0 or last:
            save_weights(ema, os.path.join(a.out, "tiny-vdit.h5"),
                         {"train_steps": step + a.step_offset, "train_seed": a.seed, "train_batch": a.batch,
                          "train_lr": a.lr, "ema_decay": a.ema, "init": a.init or ""})
        if last:
            break
    tsv.close()
    print(f"done {step} steps in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
