"""Capture and reuse inside diffusers' video transformers (diffusers 0.42):
HunyuanVideoTransformer3DModel, WanTransformer3DModel, CogVideoXTransformer3DModel
(CogVideoX 1.0 with or without rotary embeddings, and CogVideoX 1.5's layout).

Both sessions install, with ``set_attn_processor``, a processor around the
model's own one on each selected self-attention layer. The upstream processor
runs unchanged; only the function it computes attention with
(``dispatch_attention_fn`` for HunyuanVideo and Wan, ``F.scaled_dot_product_attention``
for CogVideoX) is replaced, for the duration of that call, by one that sees
q, k, v exactly as they are multiplied (after QK normalisation and RoPE) and
the output o it returns.

    cap = RippleCapture(pipe.transformer, "run.h5", num_steps=50, steps=[0, 10, 25, 49],
                        layers=[0, 10, 20], heads="all", prompt=prompt, seed=0)
    with cap:
        pipe(prompt, num_inference_steps=50, callback_on_step_end=cap.step_callback, ...)

    reuse = RippleReuse(pipe.transformer, theta=0.2, axes="thw", window=2)
    with reuse:
        video = pipe(prompt, num_inference_steps=50, callback_on_step_end=reuse.step_callback).frames[0]
    reuse.records   # one dict per attention call: step, layer, branch, savings

The step counter is the pipeline's step callback (``callback_on_step_end``,
called after step i: the next step is i + 1). The CFG branch of a call comes
from the pipeline's ``cache_context`` ("cond", "uncond", or CogVideoX's
"cond_uncond" batch [uncond; cond]); a model called without one is "cond".

Layers are the model's self-attention blocks in execution order: HunyuanVideo
0..num_layers-1 are the dual-stream ``transformer_blocks`` and the
``single_transformer_blocks`` follow; Wan ``blocks[i].attn1``; CogVideoX
``transformer_blocks[i].attn1``. Text tokens: HunyuanVideo after the video
tokens (``video_offset`` 0, its padded text tokens, masked out by the model,
are left out of the capture), CogVideoX before them (``video_offset`` = text
length), Wan none (text enters through cross-attention, which is not captured).
"""

import contextlib
import functools
import inspect
import math
import sys
import types

import torch
import torch.nn.functional as F

from .capture_file import CaptureError, CaptureWriter
from .reuse import Layout, Ramp, ReuseParams, ripple_transform, savings


class UnsupportedModelError(TypeError):
    """The model is not one of the classes ripple has an adapter for."""


# ----------------------------------------------------------------- model specs

def _cfg(model, name, default=None):
    return getattr(model.config, name, default)


def _rope_split_from_sin(sin, head_dim, what):
    """Channel groups of a 3D RoPE from its sin table [T, H, W, D] (every axis of
    length >= 2, position 0 first): a channel belongs to the one axis along which
    its sin changes. Returns (axes, split) in channel order."""
    D = sin.shape[-1]
    base = sin[0, 0, 0]
    moved = [(sin[1, 0, 0] != base), (sin[0, 1, 0] != base), (sin[0, 0, 1] != base)]
    axes, split = "", []
    for c in range(D):
        owners = [a for a in range(3) if bool(moved[a][c])]
        if len(owners) != 1:
            raise UnsupportedModelError(f"{what}: RoPE channel {c} varies along {len(owners)} axes, not one")
        letter = "thw"[owners[0]]
        if axes and axes[-1] == letter:
            split[-1] += 1
        else:
            if letter in axes:
                raise UnsupportedModelError(f"{what}: the RoPE channels of axis {letter} are not contiguous")
            axes += letter
            split.append(1)
    if sum(split) != head_dim:
        raise UnsupportedModelError(f"{what}: its RoPE covers {sum(split)} channels but head_dim is {head_dim}")
    return axes, tuple(split)


class _Spec:
    name = ""
    text = "none"            # where text tokens sit in the self-attention sequence
    seq_dim_layout = "BNHD"  # layout of q, k, v, o at the attention function

    def __init__(self, model):
        self.model = model

    def head_dim(self):
        return int(_cfg(self.model, "attention_head_dim"))

    def num_heads(self):
        return int(_cfg(self.model, "num_attention_heads"))


class _Hunyuan(_Spec):
    name = "hunyuanvideo"
    text = "after"

    def layer_names(self):
        m = self.model
        return ([f"transformer_blocks.{i}.attn.processor" for i in range(len(m.transformer_blocks))] +
                [f"single_transformer_blocks.{i}.attn.processor" for i in range(len(m.single_transformer_blocks))])

    def rope(self):
        # the model's RoPE module (config rope_axes_dim, default [16, 56, 56]), channel order t, h, w
        return "thw", tuple(int(r) for r in self.model.rope.rope_dim), "3D RoPE (HunyuanVideoRotaryPosEmbed.rope_dim)"

    def grid(self, hidden_states):
        _, _, F_, H, W = hidden_states.shape
        p, pt = int(_cfg(self.model, "patch_size")), int(_cfg(self.model, "patch_size_t"))
        return (F_ // pt, H // p, W // p)

    def layer_map(self):
        n = len(self.model.transformer_blocks)
        return f"0..{n - 1}: transformer_blocks (dual-stream); {n}..: single_transformer_blocks"


class _Wan(_Spec):
    name = "wan"
    text = "none"

    def layer_names(self):
        return [f"blocks.{i}.attn1.processor" for i in range(len(self.model.blocks))]

    def rope(self):
        r = self.model.rope   # WanRotaryPosEmbed: t_dim = d - 2*(2*(d//6)), h_dim = w_dim = 2*(d//6)
        return "thw", (int(r.t_dim), int(r.h_dim), int(r.w_dim)), "3D RoPE (WanRotaryPosEmbed.t_dim/h_dim/w_dim)"

    def grid(self, hidden_states):
        _, _, F_, H, W = hidden_states.shape
        pt, ph, pw = (int(x) for x in _cfg(self.model, "patch_size"))
        return (F_ // pt, H // ph, W // pw)

    def layer_map(self):
        return "i: blocks[i].attn1 (self-attention)"


class _CogVideoX(_Spec):
    name = "cogvideox"
    text = "before"
    seq_dim_layout = "BHND"

    def __init__(self, model):
        super().__init__(model)
        if _cfg(model, "patch_size_t") is not None:
            self.name = "cogvideox1.5"

    def layer_names(self):
        return [f"transformer_blocks.{i}.attn1.processor" for i in range(len(self.model.transformer_blocks))]

    def rope(self):
        # CogVideoX's RoPE is built by its pipeline with diffusers' get_3d_rotary_pos_embed
        # (embed_dim = attention_head_dim): read the split off that function on a 2x2x2 grid
        from diffusers.models.embeddings import get_3d_rotary_pos_embed
        d = self.head_dim()
        rotary = bool(_cfg(self.model, "use_rotary_positional_embeddings"))
        try:
            if _cfg(self.model, "patch_size_t") is None:
                cos, sin = get_3d_rotary_pos_embed(d, ((0, 0), (2, 2)), (2, 2), 2)
            else:
                cos, sin = get_3d_rotary_pos_embed(d, None, (2, 2), 2, grid_type="slice", max_size=(2, 2))
            axes, split = _rope_split_from_sin(sin.reshape(2, 2, 2, -1), d, "CogVideoX get_3d_rotary_pos_embed")
        except (AssertionError, UnsupportedModelError, RuntimeError) as e:
            if rotary:
                raise UnsupportedModelError(f"CogVideoX with head_dim {d}: its RoPE cannot be split ({e!r})") from e
            axes, split = "thw", (d - 2 * (d * 3 // 8), d * 3 // 8, d * 3 // 8)
        if rotary:
            return axes, split, "3D RoPE (diffusers get_3d_rotary_pos_embed, as CogVideoXPipeline builds it)"
        return axes, split, ("none: this CogVideoX adds sin-cos positions to its input and has no RoPE; "
                             "rope_split is the split of CogVideoX's RoPE variant (or thirds where that has "
                             "none), kept so that every channel can be reused; its groups carry no axis")

    def grid(self, hidden_states):
        _, F_, _, H, W = hidden_states.shape
        p, pt = int(_cfg(self.model, "patch_size")), _cfg(self.model, "patch_size_t")
        return (F_ if pt is None else F_ // int(pt), H // p, W // p)

    def layer_map(self):
        return "i: transformer_blocks[i].attn1 (joint text-video self-attention)"


_SPECS = {"HunyuanVideoTransformer3DModel": _Hunyuan, "WanTransformer3DModel": _Wan,
          "CogVideoXTransformer3DModel": _CogVideoX}


def spec_for(model):
    """The adapter of a model, or UnsupportedModelError naming what is supported."""
    for cls in type(model).__mro__:
        if cls.__name__ in _SPECS and cls.__module__.startswith("diffusers."):
            return _SPECS[cls.__name__](model)
    raise UnsupportedModelError(
        f"ripple has no adapter for {type(model).__module__}.{type(model).__name__}; supported: "
        f"{', '.join(sorted(_SPECS))} (diffusers), e.g. pipe.transformer. For another PyTorch model "
        f"write its q, k, v with ripple_py.capture_file.CaptureWriter")


def model_rope(model):
    """(rope_axes, rope_split, description) of a supported model."""
    return spec_for(model).rope()


# ------------------------------------------------------------ interception

class _FunctionalProxy(types.ModuleType):
    """torch.nn.functional with scaled_dot_product_attention replaced."""

    def __init__(self, sdpa):
        super().__init__("torch.nn.functional")
        self.scaled_dot_product_attention = sdpa

    def __getattr__(self, name):
        return getattr(F, name)


def _target(inner):
    """(module, global name, kind) of the attention function the processor calls."""
    cls = type(inner)
    mod = sys.modules[cls.__module__]
    names = cls.__call__.__code__.co_names
    if "dispatch_attention_fn" in names and "dispatch_attention_fn" in vars(mod):
        return mod, "dispatch_attention_fn", "dispatch"
    if "scaled_dot_product_attention" in names and vars(mod).get("F") is F:
        return mod, "F", "sdpa"
    raise UnsupportedModelError(f"attention processor {cls.__name__} computes attention in a way ripple cannot "
                                f"intercept (neither dispatch_attention_fn nor F.scaled_dot_product_attention)")


@contextlib.contextmanager
def _swap(mod, name, value):
    old = vars(mod)[name]
    setattr(mod, name, value)
    try:
        yield
    finally:
        setattr(mod, name, old)


def _wrap(inner, layer, session):
    """A processor around `inner` that hands its attention call to session._attention.
    Its __call__ shows inner's signature (Attention.forward drops keyword arguments
    a processor's signature does not name)."""
    mod, name, kind = _target(inner)
    call = type(inner).__call__

    @functools.wraps(call)
    def __call__(self, attn, *args, **kwargs):
        if not session._active(layer):
            return inner(attn, *args, **kwargs)
        bound = inspect.signature(call).bind(inner, attn, *args, **kwargs)
        enc = bound.arguments.get("encoder_hidden_states")
        text_len = 0 if (enc is None or session.spec.text == "none") else int(enc.shape[1])
        orig = vars(mod)[name]
        fn = orig.scaled_dot_product_attention if kind == "sdpa" else orig

        def attention(q, k, v, *a, **kw):
            return session._attention(layer, text_len, fn, q, k, v, a, kw)

        with _swap(mod, name, _FunctionalProxy(attention) if kind == "sdpa" else attention):
            return inner(attn, *args, **kwargs)

    cls = type(f"Ripple{type(inner).__name__}", (), {"__call__": __call__, "inner": inner, "layer": layer})
    return cls()


# ------------------------------------------------------------------ sessions

def _parse_list(sel, n, what):
    if isinstance(sel, str):
        if sel != "all":
            raise ValueError(f"{what}: {sel!r} must be 'all' or a list of integers")
        return list(range(n))
    out = sorted({int(x) for x in sel})
    if not out:
        raise CaptureError(f"{what}: the selection is empty")
    bad = [x for x in out if not 0 <= x < n]
    if bad:
        raise CaptureError(f"{what} {bad} out of range: the model has {n} (zero-based 0..{n - 1})")
    return out


class _Session:
    """Processors, the step counter, the branch of each call."""

    needs_steps = True

    def __init__(self, model, layers="all"):
        self.spec = spec_for(model)
        self.model = model
        self.names = self.spec.layer_names()
        self.layers = _parse_list(layers, len(self.names), "layers")
        self.step = 0
        self._context = None
        self._fwd = None
        self._calls = {}
        self._saved = None

    # -- installation
    def __enter__(self):
        m = self.model
        self._saved = dict(m.attn_processors)
        procs = dict(self._saved)
        for layer in self.layers:
            procs[self.names[layer]] = _wrap(self._saved[self.names[layer]], layer, self)
        m.set_attn_processor(procs)
        self._hook = m.register_forward_pre_hook(self._pre_forward, with_kwargs=True)
        orig_cc = m.cache_context
        sess = self

        @contextlib.contextmanager
        def cache_context(name, *a, **kw):
            prev, sess._context = sess._context, name
            try:
                with orig_cc(name, *a, **kw):
                    yield
            finally:
                sess._context = prev

        m.cache_context = cache_context
        return self

    def _uninstall(self):
        m = self.model
        if self._saved is not None:
            m.set_attn_processor(dict(self._saved))
            self._saved = None
            self._hook.remove()
            vars(m).pop("cache_context", None)

    def __exit__(self, exc_type, exc, tb):
        self._uninstall()
        return False

    # -- the pipeline's step callback
    def step_callback(self, pipe, i, t, callback_kwargs):
        """Pass as callback_on_step_end=session.step_callback (called after step i)."""
        n = getattr(pipe, "num_timesteps", None) if pipe is not None else None
        self._check_schedule(n)
        self.step = int(i) + 1
        return callback_kwargs

    def _check_schedule(self, n):
        pass

    # -- per forward
    def _pre_forward(self, module, args, kwargs):
        b = inspect.signature(module.forward).bind_partial(*args, **kwargs).arguments
        hs, ts = b.get("hidden_states"), b.get("timestep")
        key = (self.step, self._context)
        self._calls[key] = self._calls.get(key, 0) + 1
        if self.needs_steps and self._calls[key] > 1:
            raise CaptureError(
                f"the model ran twice at step {self.step} for branch {self._context or 'cond'}: the step "
                f"counter did not advance; pass callback_on_step_end=<session>.step_callback to the pipeline "
                f"(or call step_callback(None, i, t, {{}}) after each step of your own loop)")
        self._fwd = {"grid": self.spec.grid(hs), "timestep": ts, "batch": int(hs.shape[0])}

    def _branches(self, batch):
        """[(branch, batch indices)] of the current call."""
        c = self._context or "cond"
        if c in ("cond", "uncond"):
            return [(c, list(range(batch)))]
        if c == "cond_uncond":   # CogVideoX: torch.cat([negative_prompt_embeds, prompt_embeds])
            if batch % 2:
                return [("cond", list(range(batch)))]   # guidance_scale <= 1: one branch only
            h = batch // 2
            return [("uncond", list(range(h))), ("cond", list(range(h, batch)))]
        raise CaptureError(f"unknown cache context {c!r} (ripple knows cond, uncond, cond_uncond)")

    def _active(self, layer):
        return True

    def _geometry(self, q, text_len, kw_scale):
        """(grid, video_offset, N, head_dim, scale) of the current call; checks that the
        sequence is video tokens plus the processor's text tokens."""
        grid = self._fwd["grid"]
        n_video = grid[0] * grid[1] * grid[2]
        if self.spec.seq_dim_layout == "BNHD":
            N, d = q.shape[1], q.shape[3]
        else:
            N, d = q.shape[2], q.shape[3]
        if N != n_video + text_len:
            raise CaptureError(f"{self.spec.name}: attention over {N} tokens, expected grid {list(grid)} = {n_video} "
                               f"video tokens + {text_len} text tokens")
        vo = text_len if self.spec.text == "before" else 0
        scale = kw_scale if kw_scale is not None else 1.0 / math.sqrt(d)
        return grid, vo, N, d, float(scale)

    def _heads_first(self, x):
        """[B, H, N, D] view of q, k, v or o as the attention function sees them."""
        return x.transpose(1, 2) if self.spec.seq_dim_layout == "BNHD" else x


class RippleCapture(_Session):
    """Records post-RoPE q, k, v (and o) of selected steps, layers and heads of one
    CFG branch into a capture file, written incrementally (shared/spec/capture-format.md).

    model: pipe.transformer; path: the capture to write; num_steps: the
    pipeline's num_inference_steps; steps, layers, heads: lists or "all";
    branch: "cond" or "uncond"; batch_index: which video of the branch's batch;
    storage: "auto" (float16, float32 for a tensor that would overflow it) or
    "float32"; with_o: also record the model's attention output."""

    def __init__(self, model, path, *, num_steps, steps="all", layers="all", heads="all", branch="cond",
                 batch_index=0, with_o=True, storage="auto", model_name=None, prompt=None, seed=None,
                 compression=True, source=None):
        super().__init__(model, layers)
        self.path = path
        if int(num_steps) != num_steps or num_steps < 1:
            raise CaptureError(f"num_steps {num_steps!r} must be a positive integer")
        self.num_steps = int(num_steps)
        if not isinstance(steps, str):
            past = [int(s) for s in steps if int(s) >= self.num_steps]
            if past:
                raise CaptureError(f"steps {past} are past the schedule: the run has num_steps {self.num_steps} "
                                   f"(steps are zero-based, 0..{self.num_steps - 1})")
        self.steps = _parse_list(steps, self.num_steps, "steps")
        self.heads = _parse_list(heads, self.spec.num_heads(), "heads")
        if branch not in ("cond", "uncond"):
            raise CaptureError(f"branch must be 'cond' or 'uncond', got {branch!r}")
        self.branch, self.batch_index = branch, int(batch_index)
        self.with_o, self.storage, self.compression = with_o, storage, compression
        self.model_name = model_name or self.spec.name
        self.prompt, self.seed, self.source = prompt, seed, source
        self.rope_axes, self.rope_split, self.rope_desc = self.spec.rope()
        self.writer = None
        self._done = set()
        self._steps_set = set(self.steps)
        self._layers_set = set(self.layers)

    def _check_schedule(self, n):
        if isinstance(n, int) and n != self.num_steps:
            raise CaptureError(f"the pipeline runs {n} steps but the capture was set up with num_steps "
                               f"{self.num_steps}")

    def _active(self, layer):
        if self.step >= self.num_steps:
            raise CaptureError(f"the model ran step {self.step}, past num_steps {self.num_steps}")
        return self.step in self._steps_set

    def _pre_forward(self, module, args, kwargs):
        super()._pre_forward(module, args, kwargs)

    def _timestep(self, b):
        ts = self._fwd["timestep"]
        if ts is None:
            raise CaptureError("the model was called without a timestep")
        ts = torch.as_tensor(ts)
        if ts.ndim == 0:
            return float(ts)
        v = ts[b] if ts.shape[0] > b else ts[0]
        return float(v.max())   # Wan 2.2 per-token timesteps: the value of the noised tokens

    def _attention(self, layer, text_len, fn, q, k, v, a, kw):
        o = fn(q, k, v, *a, **kw)
        sel = [idx for br, idx in self._branches(q.shape[0]) if br == self.branch]
        if not sel:
            return o
        if self.batch_index >= len(sel[0]):
            raise CaptureError(f"batch_index {self.batch_index}: branch {self.branch} has {len(sel[0])} videos")
        b = sel[0][self.batch_index]
        grid, vo, N, d, scale = self._geometry(q, text_len, kw.get("scale"))
        n_eff = N
        mask = kw.get("attn_mask", a[0] if a else None)
        if mask is not None:
            n_eff = self._valid_prefix(mask, b, N)
        heads = torch.tensor(self.heads, device=q.device)
        pick = [self._heads_first(x)[b].index_select(0, heads)[:, :n_eff] for x in (q, k, v, o)]
        if self.writer is None:
            self._open(grid, vo, n_eff, d, scale)
        elif (self._geom != (grid, vo, n_eff, d, scale)):
            raise CaptureError(f"layer {layer} step {self.step}: geometry {(grid, vo, n_eff, d, scale)} differs from "
                               f"the first captured call {self._geom}; one capture file holds one geometry")
        self.writer.add(self.step, layer, pick[0], pick[1], pick[2], pick[3] if self.with_o else None,
                        timestep=self._timestep(b))
        self._done.add((self.step, layer))
        return o

    @staticmethod
    def _valid_prefix(mask, b, N):
        """Tokens attended to in batch element b: a key mask that keeps a prefix of the
        sequence (HunyuanVideo masks its trailing padded text tokens)."""
        m = mask[b] if mask.shape[0] > 1 else mask[0]
        if m.dtype != torch.bool:
            raise CaptureError(f"attention mask of dtype {m.dtype}: ripple captures only boolean key masks")
        m = m.reshape(-1, m.shape[-1])
        if m.shape[-1] != N or not bool((m == m[0]).all()):
            raise CaptureError("the attention mask is not one key mask shared by every query")
        keep = m[0]
        n = int(keep.sum())
        if not bool(keep[:n].all()):
            raise CaptureError("the attention mask keeps tokens that are not a prefix of the sequence")
        return n

    def _open(self, grid, vo, n_eff, d, scale):
        import diffusers
        self._geom = (grid, vo, n_eff, d, scale)
        text_pos = {"after": "after the video tokens", "before": "before the video tokens",
                    "none": "none (text enters through cross-attention)"}[self.spec.text]
        self.writer = CaptureWriter(
            self.path, model=self.model_name, grid=grid, rope_axes=self.rope_axes, rope_split=self.rope_split,
            num_heads=len(self.heads), head_dim=d, num_layers=len(self.names), num_steps=self.num_steps,
            seq_len=n_eff, video_offset=vo, scale=scale,
            heads=self.heads if len(self.heads) != self.spec.num_heads() else None,
            prompt=self.prompt, seed=self.seed, guidance=self.branch, compression=self.compression,
            storage=self.storage,
            source=self.source or f"ripple_py.adapters.RippleCapture ({type(self.model).__name__}, diffusers "
                                  f"{diffusers.__version__})",
            extra_attrs={"text_tokens": text_pos, "rope": self.rope_desc, "layer_map": self.spec.layer_map(),
                         "diffusers_class": type(self.model).__name__,
                         "timestep_convention": "the timestep the model is fed at that step"})

    def __exit__(self, exc_type, exc, tb):
        self._uninstall()
        if exc_type is not None:
            if self.writer is not None:
                self.writer.abort()
            return False
        want = {(s, l) for s in self.steps for l in self.layers}
        missing = sorted(want - self._done)
        if missing:
            if self.writer is not None:
                self.writer.abort()
            ms = sorted({s for s, _ in missing})
            raise CaptureError(f"{self.path}: steps {ms} were selected but never ran (the run stopped after "
                               f"{self.step} steps of num_steps {self.num_steps}); no file was written")
        self.writer.close()
        return False


class RippleReuse(_Session):
    """Generation with reuse: the ripple transform on q and k of every selected
    layer (every head, both CFG branches), then the model's own attention on the
    rippled q, k (method.md: reuse attention is exact attention on Q~, K~).

    Thresholds as `ripple eval`: theta (one value or per axis (t, h, w)), or
    alpha (channel mode), or ramp (a Ramp or the path of a `ripple fit` file,
    theta of the current step); axes, window, groups. head_chunk bounds memory:
    heads transformed together. records: one dict per attention call."""

    def __init__(self, model, *, theta=None, alpha=None, ramp=None, axes="thw", window=2, groups=None,
                 layers="all", head_chunk=4):
        super().__init__(model, layers)
        given = [x is not None for x in (theta, alpha, ramp)]
        if sum(given) > 1:
            raise ValueError("theta, alpha and ramp exclude each other (as in `ripple eval`)")
        if isinstance(ramp, str):
            ramp = Ramp.load(ramp)
        self.ramp = ramp
        self.needs_steps = ramp is not None
        mode = "channel" if alpha is not None else "absolute"
        self.params = ReuseParams(theta=alpha if alpha is not None else (theta or 0.0), mode=mode, axes=axes,
                                  window=window, groups=groups)
        self.rope_axes, self.rope_split, _ = self.spec.rope()
        self.head_chunk = int(head_chunk)
        self.records = []

    def _check_schedule(self, n):
        if self.ramp is not None and isinstance(n, int) and n != self.ramp.num_steps:
            raise ValueError(f"the pipeline runs {n} steps but the ramp is for num_steps {self.ramp.num_steps}")

    def params_at(self, step):
        if self.ramp is None:
            return self.params
        p = self.params
        return ReuseParams(theta=self.ramp.theta(step), mode=self.ramp.mode, axes=p.axes, window=p.window,
                           groups=p.groups)

    def _ripple(self, x, lay, p):
        """x: [B, H, N, D] view -> (rippled tensor with x's strides, mask [B, H, N, D])."""
        out = x.clone()
        mask = torch.empty(x.shape, dtype=torch.uint8, device=x.device)
        for h0 in range(0, x.shape[1], self.head_chunk):
            xo, m = ripple_transform(x[:, h0:h0 + self.head_chunk], lay, p)
            out[:, h0:h0 + self.head_chunk] = xo
            mask[:, h0:h0 + self.head_chunk] = m
        return out, mask

    def _attention(self, layer, text_len, fn, q, k, v, a, kw):
        grid, vo, N, d, _ = self._geometry(q, text_len, kw.get("scale"))
        lay = Layout(grid, N, vo, d, self.rope_axes, self.rope_split)
        p = self.params_at(self.step)
        qh, kh = self._heads_first(q), self._heads_first(k)
        q2, mq = self._ripple(qh, lay, p)
        k2, mk = self._ripple(kh, lay, p)
        if self.spec.seq_dim_layout == "BNHD":
            q2, k2 = q2.transpose(1, 2), k2.transpose(1, 2)
        sv = savings(lay, mq, mk)
        for br, idx in self._branches(q.shape[0]):
            rec = {"step": self.step, "layer": layer, "branch": br, "mode": p.mode, "theta": p.theta,
                   "heads": len(idx) * qh.shape[1]}
            for key in ("s_score", "s_attn", "rows_reused", "q_reused", "k_reused"):
                rec[key] = float(sv[key][idx].mean())
            self.records.append(rec)
        return fn(q2, k2, v, *a, **kw)

    def summary(self):
        """Mean savings over all recorded calls (each call weighted equally)."""
        if not self.records:
            return {}
        keys = ("s_score", "s_attn", "rows_reused", "q_reused", "k_reused")
        return {k: sum(r[k] for r in self.records) / len(self.records) for k in keys}


def estimate_capture_bytes(num_steps, num_layers, num_heads, seq_len, head_dim, tensors=4, elem_bytes=2):
    """Bytes of tensor data of a capture before compression."""
    return num_steps * num_layers * tensors * num_heads * seq_len * head_dim * elem_bytes
