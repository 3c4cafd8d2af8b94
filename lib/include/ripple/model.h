/* tiny-vdit inference in C: the weights file, one forward pass, the 50-step
 * Euler sampler of the rectified flow, and attention hooks through which
 * every attention call of a run can be observed or replaced.
 *
 * The model (data/README.md, data/tinyvdit/ref_numpy.py describe it line by
 * line): pixel video [C, F, H, W] -> patch tokens (frame-major, channels
 * (c, pt, ph, pw)) after num_text_tokens learned class tokens; depth
 * adaLN-zero blocks (LayerNorm without affine, per-head RMSNorm of q and k,
 * 3D RoPE on video tokens only, softmax(q k^T / sqrt(head_dim)) v,
 * GELU-tanh MLP); a final adaLN + Linear back to patches. float32 throughout
 * (LayerNorm/RMSNorm statistics in double), OpenBLAS sgemm for the linear
 * layers, attention through ripple_attn_exact or a hook. Memory is
 * O(seq_len x width): no seq_len^2 buffer.
 *
 * Threads: the work outside attention runs in blocks of a fixed number of
 * token rows on RIPPLE_NUM_THREADS workers (ripple_attn_exact's pool), so
 * the result does not depend on the number of threads: the same input gives
 * the same bits on 1 or 16 threads (on one machine and OpenBLAS build).
 *
 * A model holds its scratch buffers: one forward pass or sampler run at a
 * time per model (use one model per thread). */
#ifndef RIPPLE_MODEL_H
#define RIPPLE_MODEL_H

#include "ripple/ripple.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RIPPLE_MODEL_FORMAT "tiny-vdit-weights"
#define RIPPLE_SAMPLER_STEPS 50

/* Configuration, from the root attributes of the weights file. */
typedef struct ripple_model_config {
    int64_t frames, height, width, in_channels;
    int64_t patch[3];        /* pt, ph, pw */
    int64_t hidden;          /* width D */
    int64_t depth;           /* blocks */
    int64_t num_heads, head_dim, mlp_ratio;
    int64_t num_classes;     /* class num_classes is the "null" class of CFG */
    int64_t num_text_tokens; /* class tokens before the video tokens */
    int64_t rope_split[3];   /* channels of the t, h, w RoPE groups */
    int64_t freq_dim;        /* sinusoidal timestep embedding size */
    double rope_theta, norm_eps, qk_norm_eps, time_scale;
    /* derived */
    int64_t grid[3];    /* T, H, W token grid */
    int64_t seq_len;    /* num_text_tokens + T*H*W */
    int64_t patch_dim;  /* in_channels * pt * ph * pw */
    int64_t num_params; /* floats in the weights */
    int64_t video_elems; /* in_channels * frames * height * width: one clip */
} ripple_model_config;

typedef struct ripple_model ripple_model; /* opaque: weights + scratch */

/* Loads a tiny-vdit weights file (data/tinyvdit/model.py save_weights):
 * root attribute format = "tiny-vdit-weights", the config attributes, and
 * one float32 dataset per parameter. Refuses, with a one-line message, a
 * file that is not such a file, a config out of range, a missing parameter,
 * a shape that disagrees with the config, storage outside the file
 * (external, virtual, truncated) and non-finite weights. */
RIPPLE_API ripple_status ripple_model_load(const char *path, ripple_model **out);
RIPPLE_API void ripple_model_free(ripple_model *m);
RIPPLE_API const ripple_model_config *ripple_model_get_config(const ripple_model *m);
/* Layout of the model's attention calls (grid, seq_len, video_offset,
 * head_dim, channel groups t, h, w of rope_split). */
RIPPLE_API ripple_status ripple_model_layout(const ripple_model *m, ripple_layout *lay);

/* Counted FLOPs of one forward pass (one branch): attention = QK^T and PV,
 * 4 * heads * seq_len^2 * head_dim per layer; rest = every matrix product
 * (linear layers, conditioning), 2 * rows * in * out each. Elementwise work
 * (norms, RoPE, GELU, softmax exponentials) is not counted. */
RIPPLE_API void ripple_model_flops(const ripple_model *m, double *attn_flops, double *rest_flops);

/* ----------------------------------------------------------- attention hook */

/* One attention call of the model. q, k: post-RMSNorm, post-RoPE; v; o: the
 * output the hook writes. All [heads, seq_len, head_dim], row-major. */
typedef struct ripple_attn_call {
    int step;       /* sampler step, zero-based; -1 for a lone forward pass */
    int num_steps;  /* steps of the run (0 for a lone forward pass) */
    int layer;      /* block */
    int branch;     /* 0 = conditional, 1 = unconditional (the CFG null class) */
    double timestep; /* t fed to the model (1 = noise) */
    const ripple_layout *layout;
    int64_t heads;
    double scale; /* softmax scale, 1/sqrt(head_dim) */
    const float *q, *k, *v;
    float *o;
} ripple_attn_call;

/* Computes call->o (or observes the call and computes it). A non-OK status
 * stops the forward pass with that status (set a message with the library's
 * error, or ripple_last_error() keeps whatever the hook's callee set). */
typedef ripple_status (*ripple_attn_hook)(void *ctx, const ripple_attn_call *call);

/* One forward pass: x [in_channels, frames, height, width] (the latent of
 * one clip), timestep t, class y in [0, num_classes] (num_classes = null);
 * v_out: the predicted velocity, same shape. attn NULL = exact attention
 * (ripple_attn_exact on the CPU backend). call_step, call_branch and
 * call_num_steps are passed to the hook as they are. */
RIPPLE_API ripple_status ripple_model_forward(ripple_model *m, const float *x, double t, int y,
                                              ripple_attn_hook attn, void *attn_ctx, int call_step,
                                              int call_num_steps, int call_branch, float *v_out);

/* ------------------------------------------------------------------ sampler */

/* Step hook: called before the model evaluations of step i (x = the latent
 * at t_i) and once more with step = num_steps after the last update (x = the
 * generated clip, t = 0). Non-OK stops the run with that status. */
typedef ripple_status (*ripple_step_hook)(void *ctx, int step, int num_steps, double t, const float *x);

/* Zeroed = class 0, no guidance, 50 steps, exact attention, no step hook. */
typedef struct ripple_sampler_params {
    int class_label;  /* 0 .. num_classes-1 */
    double cfg;       /* classifier-free guidance scale; 0 or 1 = none (one branch) */
    int num_steps;    /* 0 = RIPPLE_SAMPLER_STEPS */
    ripple_attn_hook attn;
    void *attn_ctx;
    ripple_step_hook step;
    void *step_ctx;
} ripple_sampler_params;

/* t_i of the uniform grid from 1 to 0 with num_steps + 1 points, as float32
 * values computed the way torch.linspace(1, 0, num_steps + 1) computes them
 * in float32 (data/tinyvdit/sample.py uses those): with d = -1/num_steps
 * rounded to float32, t_i = fmaf(d, i, 1) for i < (num_steps+1)/2, else
 * fmaf(-d, num_steps - i, 0) (checked against torch 2.15 for 1..200 steps).
 * i in [0, num_steps]. */
RIPPLE_API float ripple_sampler_timestep(int num_steps, int i);

/* The Euler sampler of the rectified flow: x holds the initial noise
 * [in_channels, frames, height, width] and receives the clip (values about
 * [-1, 1]). Step i evaluates v at t_i (with CFG: v = v_u + cfg (v_c - v_u),
 * the conditional branch first) and sets x += (t_{i+1} - t_i) v, the step
 * width rounded to float32 once, as PyTorch does with a Python scalar. */
RIPPLE_API ripple_status ripple_model_sample(ripple_model *m, const ripple_sampler_params *p, float *x);

/* -------------------------------------------------------------------- noise */

/* Standard normal noise of our own, the same on every machine: element i of
 * a stream is one half of a Box-Muller pair j = i/2 drawn from two words of
 * splitmix64 (counter-based: word w = mix64(seed + (w+1) * 0x9e3779b97f4a7c15),
 * mix64 = the splitmix64 finaliser), u1 = ((word(2j) >> 11) + 1) / 2^53 in
 * (0, 1], u2 = (word(2j+1) >> 11) / 2^53; element 2j = r cos(2 pi u2),
 * 2j+1 = r sin(2 pi u2), r = sqrt(-2 ln u1), in double, rounded to float.
 * (A libm whose log/cos/sin differ in the last bit of a double could change
 * an element's float in a 1-in-2^29 case.) */
RIPPLE_API ripple_status ripple_noise_normal(uint64_t seed, int64_t n, float *out);

/* Reads the float32-convertible dataset `name` of an HDF5 file holding one
 * clip: shape [1, C, F, H, W] or [C, F, H, W] of the model's sizes (the
 * noise files of data/tinyvdit/export_noise.py, the golden file's /x and /v,
 * ripple generate's clip files). out: [C, F, H, W]. Non-finite values and
 * storage outside the file are refused. */
RIPPLE_API ripple_status ripple_video_read(const char *path, const char *name, const ripple_model_config *cfg,
                                           float *out);
/* Writes clip x [C, F, H, W] as dataset `name` [1, C, F, H, W] float32 of a
 * new HDF5 file (temporary file beside path, renamed on success), with root
 * attributes format = `format` (if not NULL), class_label, seed, and the
 * text `source` (if not NULL). */
RIPPLE_API ripple_status ripple_video_write(const char *path, const char *name, const ripple_model_config *cfg,
                                            const float *x, const char *format, int64_t class_label,
                                            int64_t seed, const char *source);

#ifdef __cplusplus
}
#endif

#endif /* RIPPLE_MODEL_H */
