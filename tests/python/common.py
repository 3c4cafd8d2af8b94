"""Shared by the Python tests: skipping, the tiny diffusers models, a
pipeline-like denoising loop, and the C command."""

import os
import subprocess
import sys
import unittest

SKIP = 77  # meson's exit status for a skipped test


def require(*modules):
    """Exits 77 (skipped, with the reason) unless every module imports."""
    missing = []
    for m in modules:
        try:
            __import__(m)
        except Exception as e:  # noqa: BLE001
            missing.append(f"{m} ({type(e).__name__}: {e})")
    if missing:
        print("SKIP: cannot import " + ", ".join(missing) + " (bash .ci/install-deps installs them)")
        sys.exit(SKIP)


def ripple(*args):
    """Runs the ripple command; returns (rc, stdout + stderr)."""
    p = subprocess.run([os.environ.get("RIPPLE_EXE", "ripple"), *map(str, args)], capture_output=True, text=True,
                       timeout=300)
    return p.returncode, p.stdout + p.stderr


def tmpdir():
    import tempfile
    return tempfile.mkdtemp(dir=os.environ.get("RIPPLE_TEST_TMP"))


def main():
    prog = unittest.main(exit=False, verbosity=2)
    r = prog.result
    if not r.wasSuccessful():
        sys.exit(1)
    if r.testsRun and len(r.skipped) == r.testsRun:
        sys.exit(SKIP)
    sys.exit(0)


# ---------------------------------------------------------------- tiny models
# diffusers' own tiny random configurations (tests/models/transformers/
# test_models_transformer_{hunyuan_video,wan,cogvideox}.py), on inputs with at
# least 2 positions along every axis (their inputs have 1 or 2 frames).

def tiny_models():
    """name -> (model, inputs(seed), call kwargs builder) for each adapter."""
    import torch
    from diffusers import CogVideoXTransformer3DModel, HunyuanVideoTransformer3DModel, WanTransformer3DModel
    out = {}
    torch.manual_seed(0)
    hy = HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=10, num_layers=1,
        num_single_layers=1, num_refiner_layers=1, patch_size=1, patch_size_t=1, guidance_embeds=True,
        text_embed_dim=16, pooled_projection_dim=8, rope_axes_dim=(2, 4, 4), image_condition_type=None).eval()

    def hy_inputs(g, text_valid=9):
        mask = torch.ones(1, 12)
        mask[0, text_valid:] = 0   # padded text tokens, as the pipeline pads prompts
        return dict(hidden_states=torch.randn(1, 4, 3, 5, 6, generator=g),
                    encoder_hidden_states=torch.randn(1, 12, 16, generator=g),
                    pooled_projections=torch.randn(1, 8, generator=g), encoder_attention_mask=mask,
                    guidance=torch.tensor([3500.0]))
    out["hunyuanvideo"] = (hy, hy_inputs, "BCFHW")

    torch.manual_seed(0)
    wan = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=4, out_channels=4,
        text_dim=16, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32).eval()

    def wan_inputs(g):
        return dict(hidden_states=torch.randn(1, 4, 3, 8, 10, generator=g),
                    encoder_hidden_states=torch.randn(1, 12, 16, generator=g))
    out["wan"] = (wan, wan_inputs, "BCFHW")

    # CogVideoX: diffusers' tiny config has attention_head_dim 8, which its own
    # 3D RoPE cannot split (get_3d_rotary_pos_embed gives 2 + 2 + 2 channels);
    # the rotary variants use 16 (split 4, 6, 6), everything else as diffusers'.
    base = dict(num_attention_heads=2, in_channels=4, out_channels=4, time_embed_dim=2, text_embed_dim=8,
                num_layers=2, sample_width=8, sample_height=8, sample_frames=8, patch_size=2,
                temporal_compression_ratio=4, max_text_seq_length=8)
    torch.manual_seed(0)
    cog = CogVideoXTransformer3DModel(attention_head_dim=8, **base).eval()
    torch.manual_seed(0)
    cog_rope = CogVideoXTransformer3DModel(attention_head_dim=16, use_rotary_positional_embeddings=True, **base).eval()
    torch.manual_seed(0)
    cog15 = CogVideoXTransformer3DModel(attention_head_dim=16, use_rotary_positional_embeddings=True,
                                        patch_size_t=2, **base).eval()

    def cog_inputs_for(model, frames):
        def f(g):
            hs = torch.randn(1, frames, 4, 8, 8, generator=g)
            kw = dict(hidden_states=hs, encoder_hidden_states=torch.randn(1, 8, 8, generator=g))
            if model.config.use_rotary_positional_embeddings:
                kw["image_rotary_emb"] = cogvideox_rope(model, frames, 8, 8)
            return kw
        return f
    # sincos positions are laid out for sample_frames 8 -> (8-1)//4+1 = 2 latent frames
    out["cogvideox"] = (cog, cog_inputs_for(cog, 2), "BFCHW")
    out["cogvideox-rope"] = (cog_rope, cog_inputs_for(cog_rope, 3), "BFCHW")
    out["cogvideox1.5"] = (cog15, cog_inputs_for(cog15, 4), "BFCHW")
    return out


def cogvideox_rope(model, latent_frames, latent_h, latent_w):
    """The rotary embedding as CogVideoXPipeline._prepare_rotary_positional_embeddings
    builds it (its lines, on latent sizes; the pipeline needs a text encoder)."""
    from diffusers.models.embeddings import get_3d_rotary_pos_embed
    try:
        from diffusers.pipelines.cogvideo.pipeline_cogvideox import get_resize_crop_region_for_grid
    except ImportError:   # the pipeline module needs transformers; its helper, verbatim:
        def get_resize_crop_region_for_grid(src, tgt_width, tgt_height):
            tw, th = tgt_width, tgt_height
            h, w = src
            r = h / w
            if r > (th / tw):
                resize_height = th
                resize_width = int(round(th / h * w))
            else:
                resize_width = tw
                resize_height = int(round(tw / w * h))
            crop_top = int(round((th - resize_height) / 2.0))
            crop_left = int(round((tw - resize_width) / 2.0))
            return (crop_top, crop_left), (crop_top + resize_height, crop_left + resize_width)
    c = model.config
    p, pt = c.patch_size, c.patch_size_t
    gh, gw = latent_h // p, latent_w // p
    bw, bh = c.sample_width // p, c.sample_height // p
    if pt is None:
        crops = get_resize_crop_region_for_grid((gh, gw), bw, bh)
        return get_3d_rotary_pos_embed(c.attention_head_dim, crops, (gh, gw), latent_frames)
    return get_3d_rotary_pos_embed(c.attention_head_dim, None, (gh, gw), (latent_frames + pt - 1) // pt,
                                   grid_type="slice", max_size=(bh, bw))


def run_loop(model, inputs, timesteps, session=None, uncond_inputs=None, batched_cfg=False):
    """The denoising loop of the diffusers pipelines, reduced to the transformer
    calls: per step a cond call (and an uncond call when uncond_inputs are
    given) in cache_context, as HunyuanVideoPipeline and WanPipeline do; with
    batched_cfg the single call on the batch [uncond; cond] in
    cache_context("cond_uncond"), as CogVideoXPipeline does; then the step
    callback. Returns the outputs of the last step."""
    import torch
    outs = None
    for i, t in enumerate(timesteps):
        ts = torch.tensor([float(t)])
        with torch.no_grad():
            if batched_cfg:
                cat = {k: (torch.cat([uncond_inputs[k], v]) if torch.is_tensor(v) and k != "image_rotary_emb" else v)
                       for k, v in inputs.items()}
                with model.cache_context("cond_uncond"):
                    outs = [model(timestep=ts.expand(2), **cat).sample]
            else:
                with model.cache_context("cond"):
                    outs = [model(timestep=ts, **inputs).sample]
                if uncond_inputs is not None:
                    with model.cache_context("uncond"):
                        outs.append(model(timestep=ts, **uncond_inputs).sample)
        if session is not None:
            session.step_callback(None, i, t, {})
    return outs
