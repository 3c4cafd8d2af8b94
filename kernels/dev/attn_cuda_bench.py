#!/usr/bin/env python3
"""Fused attention on the GPU against PyTorch in one program (issue 14).

Loads build/lib/libripple_flash.so (kernels/cuda/attn_flash_cuda.cu, built
by meson with -Dcuda=enabled) through ctypes into PyTorch's process, so our
kernels and torch's scaled_dot_product_attention run on the same tensors,
stream and GPU, repetitions interleaved, timed with CUDA events.

  python3 kernels/dev/attn_cuda_bench.py --lib build/lib/libripple_flash.so \
      --out DIR [--reps N] [--quick]

Rows (DIR/bench_cuda_attn.tsv, '#' metadata lines first):
  float32 in/out, seq 4096/16384/32768: ours tf32x3, tf32x3_chained and
    fp32 (FFMA) beside
    torch's float32 SDPA (EFFICIENT_ATTENTION backend; cuDNN takes no
    float32);
  bf16 in/out, seq 16384 and 67200 (a 21x40x80 video grid), head_dim 64 and
    128: our default (ripple_bf16) and each of our bf16 tilings beside SDPA with the CUDNN_ATTENTION
    backend (and FLASH_ATTENTION, torch's FA2, for scale).
Accuracy of every row against float64 attention on the same inputs (as
stored: bf16 rows against the bf16 values) over --check-rows sampled query
rows per head: normalised MSE (mse / mean ref^2), relative L2, max |error|.
TFLOP/s from 4 seq^2 dim heads over the median time.
"""
import argparse
import ctypes
import math
import os
import re
import statistics
import subprocess
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def load(path):
    lib = ctypes.CDLL(path)
    vp, ll, i, f = ctypes.c_void_p, ctypes.c_longlong, ctypes.c_int, ctypes.c_float
    lib.ripple_flash_attn_f32.argtypes = [i, ll, ll, i, f, vp, vp, vp, vp, vp, vp]
    lib.ripple_flash_attn_f32.restype = i
    lib.ripple_flash_attn_bf16.argtypes = [i, ll, ll, i, f, vp, vp, vp, vp, vp]
    lib.ripple_flash_attn_bf16.restype = i
    lib.ripple_flash_bf16_variant_count.restype = i
    lib.ripple_flash_attn_tf32x3.argtypes = [i, ll, ll, i, f, vp, vp, vp, vp, vp, vp]
    lib.ripple_flash_attn_tf32x3.restype = i
    lib.ripple_flash_tf32x3_variant_count.restype = i
    lib.ripple_flash_tf32x3_variant_name.argtypes = [i]
    lib.ripple_flash_tf32x3_variant_name.restype = ctypes.c_char_p
    lib.ripple_flash_bf16_variant_name.argtypes = [i]
    lib.ripple_flash_bf16_variant_name.restype = ctypes.c_char_p
    return lib


def check(rc, what):
    if rc != 0:
        raise RuntimeError(f"{what}: CUDA error {rc}")


def time_interleaved(fns, reps, warm=2):
    """fns: {name: callable}; returns {name: [ms, ...]} (reps each, interleaved)."""
    for _ in range(warm):
        for fn in fns.values():
            fn()
    torch.cuda.synchronize()
    out = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            e.synchronize()
            out[k].append(s.elapsed_time(e))
    return out


def ref_rows(q, k, v, scale, rows):
    """float64 attention of the sampled query rows: [heads, len(rows), dim]."""
    qd = q[:, rows].double()
    outs = []
    for h in range(q.shape[0]):
        s = (qd[h] @ k[h].double().T) * scale
        p = torch.softmax(s, dim=-1)
        outs.append(p @ v[h].double())
    return torch.stack(outs)


def errors(o, ref, rows):
    d = o[:, rows].double() - ref
    mse = (d * d).mean().item()
    msr = (ref * ref).mean().item()
    nonfinite = int((~torch.isfinite(o)).sum().item())
    return mse / msr, math.sqrt(mse / msr), d.abs().max().item(), nonfinite


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default="build/lib/libripple_flash.so")
    ap.add_argument("--out", default=".")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--check-rows", type=int, default=256)
    ap.add_argument("--quick", action="store_true", help="small sizes only (a smoke run)")
    ap.add_argument("--bf16-shapes", default="", help="bf16 shapes SEQ:DIM:HEADS,... instead of the default ones")
    ap.add_argument("--no-f32", action="store_true", help="skip the float32 rows")
    ap.add_argument("--f32-shapes", default="", help="float32 shapes SEQ:DIM:HEADS,... instead of the default ones")
    ap.add_argument("--no-bf16", action="store_true", help="skip the bf16 rows")
    ap.add_argument("--impls", default="", help="time only the implementations whose name matches this regex")
    ap.add_argument("--tf32x3-tilings", action="store_true",
                    help="time every tf32x3 tiling too (rows ripple_tf32x3_NAME)")
    a = ap.parse_args()
    lib = load(os.path.abspath(a.lib))
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    stream = torch.cuda.current_stream().cuda_stream
    props = torch.cuda.get_device_properties(0)
    try:
        describe = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    except OSError:
        describe = ""
    meta = [
        f"# git {os.environ.get('RIPPLE_GIT', describe) or 'unknown'}",
        f"# device {props.name}, {props.multi_processor_count} SMs, {props.total_memory / 2**30:.0f} GiB",
        f"# torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}",
        f"# timing: CUDA events, {a.reps} reps interleaved after 2 warm-ups, median (min, max) ms;"
        f" TFLOP/s = 4 seq^2 dim heads / median",
        f"# accuracy: float64 attention on the same stored inputs, {a.check_rows} sampled query rows per head",
        f"# command: {' '.join(sys.argv)}",
    ]
    rows_out = []
    hdr = "dtype\tseq\tdim\theads\timpl\tmedian_ms\tmin_ms\tmax_ms\ttflops\tnmse\trel_l2\tmax_abs\tnonfinite"

    def emit(dtype, n, d, h, name, ts, err):
        med = statistics.median(ts)
        tf = 4.0 * n * n * d * h / (med * 1e-3) / 1e12
        row = (f"{dtype}\t{n}\t{d}\t{h}\t{name}\t{med:.3f}\t{min(ts):.3f}\t{max(ts):.3f}\t{tf:.1f}\t"
               f"{err[0]:.3e}\t{err[1]:.3e}\t{err[2]:.3e}\t{err[3]}")
        rows_out.append(row)
        print(row, flush=True)

    print("\n".join(meta))
    print(hdr, flush=True)
    g = torch.Generator(device=dev).manual_seed(14)

    # ---- float32 in/out
    f32 = [(4096, 128, 8), (16384, 64, 8), (32768, 128, 8)] if not a.quick else [(1031, 64, 2), (2048, 128, 2)]
    if a.f32_shapes:
        f32 = [tuple(int(x) for x in sh.split(":")) for sh in a.f32_shapes.split(",")]
    if a.no_f32:
        f32 = []
    kinds = [("ripple_tf32x3", 0), ("ripple_fp32", 1), ("ripple_tf32x3_chained", 2)]
    ntv = lib.ripple_flash_tf32x3_variant_count() if a.tf32x3_tilings else 0
    tnames = [lib.ripple_flash_tf32x3_variant_name(i).decode() for i in range(ntv)]
    for n, d, h in f32:
        q, k, v = (torch.randn(h, n, d, device=dev, generator=g) for _ in range(3))
        scale = 1.0 / math.sqrt(d)
        rows = torch.randperm(n, device=dev, generator=g)[: min(a.check_rows, n)]
        ref = ref_rows(q, k, v, scale, rows)
        outs = {}
        fns = {}
        for name, kind in kinds:
            o = torch.full_like(q, float("nan"))
            outs[name] = o
            fns[name] = (lambda kind=kind, o=o: check(lib.ripple_flash_attn_f32(
                kind, h, n, d, scale, q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), None, stream), "f32"))
        for vi, vn in enumerate(tnames):
            o = torch.full_like(q, float("nan"))
            outs["ripple_tf32x3_" + vn] = o
            fns["ripple_tf32x3_" + vn] = (lambda vi=vi, o=o: check(lib.ripple_flash_attn_tf32x3(
                vi, h, n, d, scale, q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), None, stream), "tf32x3"))
        q4, k4, v4 = q[None], k[None], v[None]

        def torch_eff():
            with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION]):
                outs["torch_sdpa_efficient_f32"] = F.scaled_dot_product_attention(q4, k4, v4, scale=scale)[0]
        fns["torch_sdpa_efficient_f32"] = torch_eff
        if a.impls:
            fns = {name: fn for name, fn in fns.items() if re.search(a.impls, name)}
        ts = time_interleaved(fns, a.reps)
        for name in fns:
            emit("float32", n, d, h, name, ts[name], errors(outs[name], ref, rows))
        del q, k, v, outs, fns, q4, k4, v4
        torch.cuda.empty_cache()

    # ---- bf16 in/out
    nv = lib.ripple_flash_bf16_variant_count()
    vnames = [lib.ripple_flash_bf16_variant_name(i).decode() for i in range(nv)]
    b16 = [(16384, 64, 24), (16384, 128, 24), (67200, 64, 24), (67200, 128, 24)] if not a.quick else [(1031, 64, 2), (2000, 128, 3)]
    if a.bf16_shapes:
        b16 = [tuple(int(x) for x in sh.split(":")) for sh in a.bf16_shapes.split(",")]
    if a.no_bf16:
        b16 = []
    for n, d, h in b16:
        q, k, v = (torch.randn(h, n, d, device=dev, generator=g).to(torch.bfloat16) for _ in range(3))
        scale = 1.0 / math.sqrt(d)
        rows = torch.randperm(n, device=dev, generator=g)[: min(a.check_rows, n)]
        ref = ref_rows(q, k, v, scale, rows)
        outs, fns = {}, {}
        for vi, name in [(-1, "ripple_bf16")] + [(vi, "ripple_bf16_" + vn) for vi, vn in enumerate(vnames)]:
            o = torch.full_like(q, float("nan"))
            outs[name] = o
            fns[name] = (lambda vi=vi, o=o: check(lib.ripple_flash_attn_bf16(
                vi, h, n, d, scale, q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), stream), "bf16"))
        q4, k4, v4 = q[None], k[None], v[None]
        for bname, be in (("torch_sdpa_cudnn", SDPBackend.CUDNN_ATTENTION), ("torch_sdpa_flash", SDPBackend.FLASH_ATTENTION)):
            def fn(bname=bname, be=be):
                with sdpa_kernel([be]):
                    outs[bname] = F.scaled_dot_product_attention(q4, k4, v4, scale=scale)[0]
            fns[bname] = fn
        if a.impls:
            fns = {name: fn for name, fn in fns.items() if re.search(a.impls, name)}
        ts = time_interleaved(fns, a.reps)
        for name in fns:
            emit("bf16", n, d, h, name, ts[name], errors(outs[name], ref, rows))
        del q, k, v, outs, fns, q4, k4, v4
        torch.cuda.empty_cache()

    path = os.path.join(a.out, "bench_cuda_attn.tsv")
    with open(path, "w") as fo:
        fo.write("\n".join(meta) + "\n" + hdr + "\n" + "\n".join(rows_out) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
