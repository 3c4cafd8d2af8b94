"""The diffusers adapters (data/ripple_py/adapters.py) on diffusers' tiny random
HunyuanVideo, Wan and CogVideoX (without RoPE, with RoPE, 1.5 layout)
transformers, on the CPU, driven by the pipelines' loop (common.run_loop):

* the capture passes the C reader (`ripple info`, `ripple eval`);
* softmax(scale q k^T) v from the captured tensors reproduces the captured o
  within a bound derived from float32/float16 rounding (attention_bound), and
  the same check fails on tensors that are not what the model multiplied;
* the recorded channel split is the one of the RoPE the model applied, read
  off its cos/sin tables; the defaults of the real models give HunyuanVideo
  [16, 56, 56], Wan [44, 42, 42], CogVideoX [16, 24, 24];
* text tokens sit where the file says: in layer 0 a change of the text input
  changes exactly the text rows, a change of one latent voxel exactly the row
  video_offset + (t*H + h)*W + w;
* each step's timestep and the CFG branch are the ones the model was fed;
* the reuse processor at theta 0 leaves the model's output bit-identical.
"""

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.require("numpy", "h5py", "torch", "diffusers")

import unittest  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ripple_py.adapters import RippleCapture, RippleReuse, model_rope  # noqa: E402

U32 = 2.0 ** -24   # unit roundoff of float32
U16 = 2.0 ** -11   # unit roundoff of float16
SUB16 = 2.0 ** -25  # largest absolute rounding error of a float16 subnormal


def gamma(n, u):
    """Higham's gamma_n = n u / (1 - n u): relative error bound of n roundings."""
    return n * u / (1 - n * u)


def attention_bound(q, k, v, o, scale, stored16):
    """|o - softmax(scale q k^T) v| bound per element, from the captured tensors
    (float64 numpy [N, d]), and the float64 reference itself.

    The model computed o in float32 on the unrounded q, k, v:
    * each score s_ij = scale sum_c q_ic k_jc has at most d products, d - 1 sums
      and the scaling (SDPA may scale q first): |ds| <= gamma_{d+3} S_ij with
      S_ij = scale sum_c |q_ic k_jc|;
    * softmax: a score error eps = max_j |ds_ij| moves every p_ij by at most a
      factor e^{+-2 eps}; exp, the sum of N terms, the division and an online
      softmax's rescaling per block add at most gamma_{2N+5} relative;
    * o_ic = sum_j p_ij v_jc: at most N products and sums, gamma_N, all on
      A_ic = sum_j p_ij |v_jc|.
    Stored as float16 (stored16), each of q, k, v, o was also rounded once:
    relative U16, absolute SUB16 below 2^-14, so the scores move by a further
    (2 U16 + U16^2) S_ij + SUB16 scale sum_c (|q_ic| + |k_jc|), v by
    U16 A_ic + SUB16, o by U16 |o_ic| + SUB16.
    The bounds use the stored values in place of the unrounded ones: a factor
    (1 + U16)^2 more, taken as 1.01."""
    N, d = q.shape
    s = scale * q @ k.T
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    ref = p @ v
    S = scale * np.abs(q) @ np.abs(k).T
    A = p @ np.abs(v)
    eps = gamma(d + 3, U32) * S.max(axis=1)
    extra = 0.0
    if stored16:
        S2 = scale * (np.abs(q).sum(axis=1)[:, None] + np.abs(k).sum(axis=1)[None, :])
        eps = eps + ((2 * U16 + U16 ** 2) * S + SUB16 * S2).max(axis=1)
        extra = U16 * A + SUB16 + U16 * np.abs(o) + SUB16
    tol = ((np.expm1(2 * eps)[:, None] + gamma(2 * N + 5, U32) + gamma(N, U32)) * A + extra) * 1.01
    return ref, tol


def read(path, step, layer):
    with h5py.File(path, "r") as f:
        g = f[f"steps/{step:03d}/layers/{layer:03d}"]
        return {t: g[t][...].astype(np.float64) for t in g}, dict(f.attrs), \
            {int(s): float(f[f"steps/{s}"].attrs["timestep"]) for s in f["steps"]}


MODELS = common.tiny_models()


def capture(name, path, steps, layers="all", storage="float32", timesteps=(900, 600, 300), seed=1, **kw):
    model, inputs, _ = MODELS[name]
    g = torch.Generator().manual_seed(seed)
    inp = inputs(g)
    cap = RippleCapture(model, path, num_steps=len(timesteps), steps=steps, layers=layers, storage=storage, **kw)
    with cap:
        common.run_loop(model, inp, timesteps, cap)
    return inp


def rope_split_applied(name, inp):
    """The channel split of the RoPE tables the model really applies on this input:
    a channel belongs to the axis along which its sin changes over the grid."""
    model, _, layout = MODELS[name]
    if name.startswith("cogvideox"):
        if "image_rotary_emb" not in inp:
            return None
        sin = inp["image_rotary_emb"][1]
        hs = inp["hidden_states"]
        pt = model.config.patch_size_t or 1
        T, H, W = hs.shape[1] // pt, hs.shape[3] // model.config.patch_size, hs.shape[4] // model.config.patch_size
    else:
        cos, sin = model.rope(inp["hidden_states"])
        hs = inp["hidden_states"]
        if name == "wan":
            pt, ph, pw = model.config.patch_size
        else:
            pt, ph, pw = model.config.patch_size_t, model.config.patch_size, model.config.patch_size
        T, H, W = hs.shape[2] // pt, hs.shape[3] // ph, hs.shape[4] // pw
    sin = sin.reshape(T, H, W, -1)
    axes, split = "", []
    for c in range(sin.shape[-1]):
        moved = [bool((sin.narrow(a, 1, 1)[..., c] != sin.narrow(a, 0, 1)[..., c]).any()) for a in range(3)]
        assert sum(moved) == 1, f"channel {c} moves along {moved}"
        letter = "thw"[moved.index(True)]
        if axes.endswith(letter):
            split[-1] += 1
        else:
            axes += letter
            split.append(1)
    return axes, split


class Adapters(unittest.TestCase):
    def test_capture_reads_in_c_and_reproduces_o(self):
        tmp = common.tmpdir()
        for name in MODELS:
            with self.subTest(model=name):
                for storage in ("float32", "auto"):
                    path = os.path.join(tmp, f"{name}-{storage}.h5")
                    capture(name, path, steps=[0, 2], storage=storage)
                    rc, out = common.ripple("info", path)
                    self.assertEqual(rc, 0, out)
                    nl = len(RippleCapture(MODELS[name][0], path + ".unused", num_steps=3).names)
                    worst_all, control_all = 0.0, math.inf
                    for layer in range(nl):
                        rc, out = common.ripple("eval", path, "--step", 2, "--layer", layer, "--theta", 0.3,
                                                "--format", "tsv")
                        self.assertEqual(rc, 0, out)
                        t, a, _ = read(path, 2, layer)
                        worst, control = 0.0, 0.0
                        for h in range(t["q"].shape[0]):
                            q, k, v, o = (t[x][h] for x in "qkvo")
                            ref, tol = attention_bound(q, k, v, o, float(a["scale"]), storage == "auto")
                            worst = max(worst, float((np.abs(o - ref) / tol).max()))
                            # the same check on what the model did not multiply: k of two
                            # video tokens swapped (positions 0 and 1 of the first row)
                            vo = int(a["video_offset"])
                            k2 = k.copy()
                            k2[[vo, vo + 1]] = k2[[vo + 1, vo]]
                            ref2, tol2 = attention_bound(q, k2, v, o, float(a["scale"]), storage == "auto")
                            control = max(control, float((np.abs(o - ref2) / tol2).max()))
                        self.assertLessEqual(worst, 1.0, f"{name} {storage} layer {layer}: |o - ref| / bound = {worst}")
                        self.assertGreater(control, 1.0, f"{name} {storage} layer {layer}: the bound does not "
                                                         f"distinguish swapped keys ({control})")
                        worst_all, control_all = max(worst_all, worst), min(control_all, control)
                    print(f"{name}: {storage} capture read by ripple info/eval; max |o - ref| / bound {worst_all:.3g}, "
                          f"with two keys swapped at least {control_all:.3g}")

    def test_rope_split_is_the_models(self):
        tmp = common.tmpdir()
        for name in MODELS:
            with self.subTest(model=name):
                path = os.path.join(tmp, f"{name}.h5")
                inp = capture(name, path, steps=[0], layers=[0])
                _, a, _ = read(path, 0, 0)
                applied = rope_split_applied(name, inp)
                if applied is None:   # CogVideoX without RoPE: every channel in a group
                    self.assertEqual(int(np.sum(a["rope_split"])), int(a["head_dim"]))
                    self.assertTrue(str(a["rope"]).startswith("none"))
                    continue
                self.assertEqual((str(a["rope_axes"]), [int(x) for x in a["rope_split"]]), applied)

    def test_rope_split_of_the_real_models(self):
        from diffusers import CogVideoXTransformer3DModel, HunyuanVideoTransformer3DModel, WanTransformer3DModel
        with torch.device("meta"):   # the real configurations, one block each, no memory
            hy = HunyuanVideoTransformer3DModel(num_layers=1, num_single_layers=1, num_refiner_layers=1)
            wan = WanTransformer3DModel(num_layers=1)
            cog = CogVideoXTransformer3DModel(num_layers=1, use_rotary_positional_embeddings=True)
        self.assertEqual(model_rope(hy)[:2], ("thw", (16, 56, 56)))
        self.assertEqual(model_rope(wan)[:2], ("thw", (44, 42, 42)))
        self.assertEqual(model_rope(cog)[:2], ("thw", (16, 24, 24)))

    def test_text_and_video_tokens_sit_where_the_file_says(self):
        tmp = common.tmpdir()
        for name in MODELS:
            with self.subTest(model=name):
                model, inputs, layout = MODELS[name]
                base = inputs(torch.Generator().manual_seed(4))
                runs = {}
                for what in ("base", "text", "voxel"):
                    inp = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in base.items()}
                    if what == "text":
                        inp["encoder_hidden_states"] += 1.0
                    if what == "voxel":     # one latent value, frame f, row y, column x
                        hs = inp["hidden_states"]
                        f, y, x = 1, 3, 2
                        if layout == "BCFHW":
                            hs[0, 0, f, y, x] += 1.0
                        else:
                            hs[0, f, 0, y, x] += 1.0
                    path = os.path.join(tmp, f"{name}-{what}.h5")
                    cap = RippleCapture(model, path, num_steps=1, steps=[0], layers=[0], storage="float32")
                    with cap:
                        common.run_loop(model, inp, [500], cap)
                    runs[what], a, _ = read(path, 0, 0)
                T, H, W = (int(g) for g in a["grid"])
                vo, N = int(a["video_offset"]), int(a["seq_len"])
                video = set(range(vo, vo + T * H * W))
                def changed(r):
                    d = sum(np.abs(runs[r][t] - runs["base"][t]).sum(axis=(0, 2)) for t in "qkv")
                    return set(np.nonzero(d)[0].tolist())
                self.assertEqual(changed("text"), set(range(N)) - video, f"{name}: rows changed by the text input")
                if name == "hunyuanvideo":
                    self.assertEqual(vo, 0)
                    self.assertGreater(N, T * H * W)
                if name.startswith("cogvideox"):
                    self.assertGreater(vo, 0)
                if name == "wan":
                    self.assertEqual((vo, N), (0, T * H * W))
                c = model.config
                if name == "wan":
                    pt, ph, pw = c.patch_size
                elif name == "hunyuanvideo":
                    pt, ph, pw = c.patch_size_t, c.patch_size, c.patch_size
                else:
                    pt, ph, pw = c.patch_size_t or 1, c.patch_size, c.patch_size
                tok = vo + ((1 // pt) * H + 3 // ph) * W + 2 // pw
                self.assertEqual(changed("voxel"), {tok}, f"{name}: rows changed by latent voxel (1, 3, 2)")

    def test_timesteps_and_cfg_branch(self):
        tmp = common.tmpdir()
        for name in MODELS:
            with self.subTest(model=name):
                model, inputs, _ = MODELS[name]
                cond = inputs(torch.Generator().manual_seed(5))
                unc = dict(cond, encoder_hidden_states=torch.randn(cond["encoder_hidden_states"].shape,
                                                                    generator=torch.Generator().manual_seed(6)))
                batched = name.startswith("cogvideox")
                files = {}
                for branch in ("cond", "uncond"):
                    files[branch] = os.path.join(tmp, f"{name}-{branch}.h5")
                    # the last layer: Wan's text enters by cross-attention, after layer 0's self-attention
                    last = len(RippleCapture(model, files[branch], num_steps=3).names) - 1
                    cap = RippleCapture(model, files[branch], num_steps=3, steps=[1, 2], layers=[last], branch=branch,
                                        storage="float32")
                    with cap:
                        common.run_loop(model, cond, [800, 450, 125], cap, uncond_inputs=unc, batched_cfg=batched)
                alone = {}
                for branch, inp in (("cond", cond), ("uncond", unc)):
                    alone[branch] = os.path.join(tmp, f"{name}-{branch}-alone.h5")
                    cap = RippleCapture(model, alone[branch], num_steps=1, steps=[0], layers=[last], storage="float32")
                    with cap:
                        common.run_loop(model, inp, [450], cap)
                for branch in ("cond", "uncond"):
                    t, a, ts = read(files[branch], 1, last)
                    self.assertEqual(ts, {1: 450.0, 2: 125.0})
                    self.assertEqual(a["guidance"], branch)
                    other = "uncond" if branch == "cond" else "cond"
                    same, _, _ = read(alone[branch], 0, last)
                    diff, _, _ = read(alone[other], 0, last)
                    near = max(np.abs(t[x] - same[x]).max() for x in "qkv")
                    far = max(np.abs(t[x] - diff[x]).max() for x in "qkv")
                    # batch [uncond; cond] and batch 1 may round differently (BLAS blocking);
                    # the branch is the one whose inputs it is closer to by orders of magnitude
                    self.assertLess(near * 1e3, far, f"{name} {branch}: {near} vs {far}")

    def test_reuse_at_theta_0_is_bit_identical(self):
        for name in MODELS:
            with self.subTest(model=name):
                model, inputs, _ = MODELS[name]
                inp = inputs(torch.Generator().manual_seed(7))
                unc = dict(inp, encoder_hidden_states=inp["encoder_hidden_states"] * 0.5)
                batched = name.startswith("cogvideox")
                ref = common.run_loop(model, inp, [700, 200], None, unc, batched)
                r0 = RippleReuse(model, theta=0.0)
                with r0:
                    out0 = common.run_loop(model, inp, [700, 200], r0, unc, batched)
                for x, y in zip(ref, out0):
                    self.assertTrue(torch.equal(x, y), f"{name}: theta 0 changed the output")
                self.assertTrue(r0.records and all(r["s_score"] == 0 for r in r0.records))
                r1 = RippleReuse(model, theta=float("inf"), axes="thw", window=2)
                with r1:
                    out1 = common.run_loop(model, inp, [700, 200], r1, unc, batched)
                self.assertFalse(torch.equal(ref[0], out1[0]), f"{name}: forced reuse did not change the output")
                branches = {r["branch"] for r in r1.records}
                self.assertEqual(branches, {"cond", "uncond"})
                self.assertGreater(r1.summary()["s_score"], 0.3)
                print(f"{name}: theta 0 bit-identical; theta inf s_score {r1.summary()['s_score']:.3f} over "
                      f"{len(r1.records)} calls")


if __name__ == "__main__":
    common.main()
