/* Synthetic q, k, v with planted spatio-temporal correlation, shaped like the
 * post-RoPE attention inputs of a video DiT.
 *
 * The model, for one (step, layer, head) and every video token (t, h, w):
 *
 *   field   Each channel c carries a smooth random field F_c(t, h, w) of unit
 *           variance: random Fourier features of a squared-exponential
 *           kernel, F = sqrt(2/K) * sum_k cos(w_k . (t, h, w) + phi_k) with
 *           K = SYNTH_FEATURES, w_k ~ N(0, diag(1/l_t^2, 1/l_h^2, 1/l_w^2))
 *           and phi_k ~ U[0, 2 pi). The correlation of two tokens at offset
 *           d along axis a is exp(-d^2 / (2 l_a^2)) on average.
 *           Correlation lengths per head: l_a = smooth * 2^u_a, u_a ~
 *           U[-1/2, 1/2], doubled on the head's favoured axis
 *           (head + layer) mod 3, so some heads are smoother in t, others in
 *           h or w.
 *   q, k    q_c = g_c (S_c + Q_c) / sqrt 2 and k_c = g'_c (S_c + K_c) / sqrt 2,
 *           with S_c a field shared by q and k (so q and k of nearby tokens
 *           align, as in local attention) and Q_c, K_c their own fields;
 *           per-channel gains g ~ U[0.6, 1.4]. The fields do not depend on
 *           the step: they are the "content" of the video.
 *   noise   then i.i.d. white noise N(0, sigma(step)^2) is added to every
 *           video entry of q, k and v, with
 *               sigma(step) = noise * (1 - 0.9 * step / (num_steps - 1))
 *           (sigma = noise when num_steps = 1): noise at step 0, falling
 *           linearly to noise/10 at the last step. The noise is fresh for
 *           every step.
 *   RoPE    then a real 3D RoPE on q and k: in channel group g (axis a =
 *           group_axis[g], L = group_len[g] channels), the consecutive pair
 *           (2i, 2i+1) counted from the group's first channel is rotated by
 *           the angle pos_a * rope_base^(-2i/L), pos_a the token's coordinate
 *           along a (0-based). An odd group's last channel and channels
 *           outside every group are not rotated. Rotating after the noise
 *           keeps the noise i.i.d. N(0, sigma^2) and makes the norm of every
 *           pair independent of rope_base (the tests rely on it).
 *   v       v_c = g''_c V_c + noise: a smooth field, no RoPE.
 *   text    tokens outside [video_offset, video_offset + T*H*W) get i.i.d.
 *           N(0, 1) values in every channel of q, k and v, independent of
 *           the step.
 *
 * Values are O(1), like q and k after an RMS norm. Every random number comes
 * from a counter-based generator (splitmix64) keyed by a hash of (seed,
 * layer, head, tensor, channel) or (seed, step, layer, head, tensor), so the
 * output is deterministic in (seed, step, layer, head) and does not depend on
 * nheads or on the other heads. Cost: O(nheads * seq_len * head_dim * K). */
#include "internal.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

enum { SYNTH_FEATURES = 8 }; /* random Fourier features per field */

static const double synth_default_smooth = 3.0;
static const double synth_default_noise = 0.3;
static const double synth_default_rope_base = 10000.0;
static const double synth_two_pi = 6.283185307179586;

/* Streams: what a generator is used for, part of its key. */
enum {
    STREAM_HEAD = 1, /* correlation lengths of a head */
    STREAM_FIELD_S,  /* field shared by q and k */
    STREAM_FIELD_Q,
    STREAM_FIELD_K,
    STREAM_FIELD_V,
    STREAM_GAIN,     /* per-channel gains */
    STREAM_NOISE,    /* white noise of one step (tensor in the key) */
    STREAM_TEXT      /* text tokens (tensor in the key) */
};

/* ------------------------------------------------------------ generator */

static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Key of a stream: a hash of the seed and up to five counters. */
static uint64_t synth_key(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b, uint64_t c,
                          uint64_t d)
{
    uint64_t h = mix64(seed ^ 0x5259504C45ull); /* "RIPLE" */
    h = mix64(h ^ stream);
    h = mix64(h ^ a);
    h = mix64(h ^ b);
    h = mix64(h ^ c);
    return mix64(h ^ d);
}

typedef struct {
    uint64_t s;
    double spare;
    int has_spare;
} synth_rng;

static synth_rng rng_init(uint64_t key) { return (synth_rng){key, 0.0, 0}; }

static uint64_t rng_next(synth_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* [0, 1) */
static double rng_uniform(synth_rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* N(0, 1), Box-Muller using both values. */
static double rng_normal(synth_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = 1.0 - rng_uniform(r); /* (0, 1] */
    double u2 = rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    r->spare = rad * sin(synth_two_pi * u2);
    r->has_spare = 1;
    return rad * cos(synth_two_pi * u2);
}

/* ---------------------------------------------------------------- fields */

typedef struct {
    const ripple_layout *lay;
    int64_t nv;         /* video tokens */
    double len[3];      /* correlation lengths of the head, per axis */
    double *cw_re, *cw_im;   /* [W] */
    double *ch_re, *ch_im;   /* [H] */
    double *cth_re, *cth_im; /* [T*H] */
} field_ctx;

/* buf[v] += amp * F(v) for every video token v (flat (t*H + h)*W + w):
 * one realisation of the smooth field keyed by key. */
static void field_add(field_ctx *fc, uint64_t key, double amp, double *buf)
{
    const int64_t T = fc->lay->grid[0], H = fc->lay->grid[1], W = fc->lay->grid[2];
    synth_rng r = rng_init(key);
    const double a = amp * sqrt(2.0 / SYNTH_FEATURES);
    for (int f = 0; f < SYNTH_FEATURES; f++) {
        double wt = rng_normal(&r) / fc->len[0];
        double wh = rng_normal(&r) / fc->len[1];
        double ww = rng_normal(&r) / fc->len[2];
        double phi = synth_two_pi * rng_uniform(&r);
        for (int64_t w = 0; w < W; w++) {
            fc->cw_re[w] = cos(ww * (double)w);
            fc->cw_im[w] = sin(ww * (double)w);
        }
        /* e^{i(wt t + phi)} e^{i wh h}: T + H sines and cosines, not T*H */
        for (int64_t h = 0; h < H; h++) {
            fc->ch_re[h] = cos(wh * (double)h);
            fc->ch_im[h] = sin(wh * (double)h);
        }
        for (int64_t t = 0; t < T; t++) {
            const double ang = wt * (double)t + phi, tr = a * cos(ang), ti = a * sin(ang);
            for (int64_t h = 0; h < H; h++) {
                fc->cth_re[t * H + h] = tr * fc->ch_re[h] - ti * fc->ch_im[h];
                fc->cth_im[t * H + h] = tr * fc->ch_im[h] + ti * fc->ch_re[h];
            }
        }
        /* cos(x + y) = cos x cos y - sin x sin y, x the (t, h) part */
        for (int64_t th = 0; th < T * H; th++) {
            const double cr = fc->cth_re[th], ci = fc->cth_im[th];
            double *row = buf + th * W;
            for (int64_t w = 0; w < W; w++) row[w] += cr * fc->cw_re[w] - ci * fc->cw_im[w];
        }
    }
}

/* ------------------------------------------------------------------ API */

static ripple_status check_params(const ripple_synth_params *p, double *smooth, double *noise,
                                  double *base)
{
    *smooth = synth_default_smooth;
    *noise = synth_default_noise;
    *base = synth_default_rope_base;
    if (!p) return RIPPLE_OK;
    if (!isfinite(p->smooth) || p->smooth < 0)
        return ripple_fail(RIPPLE_ERR_INVALID, "synth: smooth %g must be finite and >= 0 (0 = %g)",
                           p->smooth, synth_default_smooth);
    if (!isfinite(p->noise) || p->noise < 0)
        return ripple_fail(RIPPLE_ERR_INVALID, "synth: noise %g must be finite and >= 0 (0 = %g)",
                           p->noise, synth_default_noise);
    if (!isfinite(p->rope_base) || (p->rope_base != 0 && p->rope_base <= 1))
        return ripple_fail(RIPPLE_ERR_INVALID,
                           "synth: rope_base %g must be > 1 (0 = %g)", p->rope_base,
                           synth_default_rope_base);
    if (p->smooth > 0) *smooth = p->smooth;
    if (p->noise > 0) *noise = p->noise;
    if (p->rope_base > 0) *base = p->rope_base;
    return RIPPLE_OK;
}

/* Rotates the RoPE channel pairs of every video token of one head x:
 * [seq_len, head_dim]. */
static ripple_status apply_rope(const ripple_layout *lay, double base, float *x)
{
    const int64_t T = lay->grid[0], H = lay->grid[1], W = lay->grid[2], d = lay->head_dim;
    int64_t start = 0;
    for (int g = 0; g < lay->num_groups; g++) {
        const int64_t len = lay->group_len[g], npair = len / 2;
        const int axis = lay->group_axis[g];
        const int64_t npos = lay->grid[axis];
        if (npair > 0) {
            size_t n = ripple_mul3(npair, npos, 2);
            double *tab = n ? malloc(n * sizeof *tab) : NULL;
            if (!tab) return ripple_fail(RIPPLE_ERR_NOMEM, "synth: no memory for a RoPE table");
            for (int64_t i = 0; i < npair; i++) {
                double inv_freq = pow(base, -2.0 * (double)i / (double)len);
                for (int64_t pos = 0; pos < npos; pos++) {
                    tab[2 * (i * npos + pos)] = cos((double)pos * inv_freq);
                    tab[2 * (i * npos + pos) + 1] = sin((double)pos * inv_freq);
                }
            }
            for (int64_t t = 0; t < T; t++)
                for (int64_t h = 0; h < H; h++)
                    for (int64_t w = 0; w < W; w++) {
                        const int64_t coord[3] = {t, h, w};
                        const int64_t pos = coord[axis];
                        float *row = x + (lay->video_offset + (t * H + h) * W + w) * d + start;
                        for (int64_t i = 0; i < npair; i++) {
                            const double c = tab[2 * (i * npos + pos)], s = tab[2 * (i * npos + pos) + 1];
                            const double x0 = row[2 * i], x1 = row[2 * i + 1];
                            row[2 * i] = (float)(x0 * c - x1 * s);
                            row[2 * i + 1] = (float)(x0 * s + x1 * c);
                        }
                    }
            free(tab);
        }
        start += len;
    }
    return RIPPLE_OK;
}

/* Per-axis correlation lengths of (layer, head). */
static void head_lengths(uint64_t seed, int layer, int64_t head, double smooth, double len[3])
{
    synth_rng r = rng_init(synth_key(seed, STREAM_HEAD, (uint64_t)layer, (uint64_t)head, 0, 0));
    const int favoured = (int)(((uint64_t)head + (uint64_t)layer) % 3u);
    for (int a = 0; a < 3; a++) {
        double u = rng_uniform(&r) - 0.5;
        len[a] = smooth * exp2(u) * (a == favoured ? 2.0 : 1.0);
    }
}

ripple_status ripple_synth_layer(const ripple_layout *lay, const ripple_synth_params *p,
                                 int step, int num_steps, int layer, int64_t nheads, float *q,
                                 float *k, float *v)
{
    ripple_status st = ripple_layout_check(lay);
    if (st) return st;
    double smooth, noise, base;
    if ((st = check_params(p, &smooth, &noise, &base))) return st;
    if (num_steps < 1 || step < 0 || step >= num_steps)
        return ripple_fail(RIPPLE_ERR_INVALID, "synth: step %d must be in 0..num_steps-1 (num_steps %d)",
                           step, num_steps);
    if (layer < 0) return ripple_fail(RIPPLE_ERR_INVALID, "synth: layer %d is negative", layer);
    if (nheads < 1) return ripple_fail(RIPPLE_ERR_INVALID, "synth: nheads %lld must be >= 1",
                                       (long long)nheads);
    if (!q || !k || !v) return ripple_fail(RIPPLE_ERR_INVALID, "synth: q, k or v is NULL");
    if (!ripple_mul3(nheads, lay->seq_len, lay->head_dim))
        return ripple_fail(RIPPLE_ERR_NOMEM, "synth: %lld heads x %lld tokens x %lld channels overflows",
                           (long long)nheads, (long long)lay->seq_len, (long long)lay->head_dim);

    const uint64_t seed = p ? p->seed : 0;
    const int64_t T = lay->grid[0], H = lay->grid[1], W = lay->grid[2];
    const int64_t nv = ripple_layout_video_tokens(lay), d = lay->head_dim, n = lay->seq_len;
    const double sigma =
        num_steps > 1 ? noise * (1.0 - 0.9 * (double)step / (double)(num_steps - 1)) : noise;
    const double rs2 = sqrt(0.5);

    field_ctx fc = {.lay = lay, .nv = nv};
    double *bs = malloc((size_t)nv * sizeof *bs);
    double *bx = malloc((size_t)nv * sizeof *bx);
    fc.cw_re = malloc((size_t)W * sizeof(double));
    fc.cw_im = malloc((size_t)W * sizeof(double));
    fc.ch_re = malloc((size_t)H * sizeof(double));
    fc.ch_im = malloc((size_t)H * sizeof(double));
    fc.cth_re = malloc((size_t)(T * H) * sizeof(double));
    fc.cth_im = malloc((size_t)(T * H) * sizeof(double));
    if (!bs || !bx || !fc.cw_re || !fc.cw_im || !fc.ch_re || !fc.ch_im || !fc.cth_re || !fc.cth_im) {
        st = ripple_fail(RIPPLE_ERR_NOMEM, "synth: no memory for %lld-token field buffers",
                         (long long)nv);
        goto done;
    }

    for (int64_t hd = 0; hd < nheads; hd++) {
        float *out[3] = {q + hd * n * d, k + hd * n * d, v + hd * n * d};
        head_lengths(seed, layer, hd, smooth, fc.len);
        const uint64_t L = (uint64_t)layer, Hd = (uint64_t)hd;
        synth_rng gain = rng_init(synth_key(seed, STREAM_GAIN, L, Hd, 0, 0));

        /* smooth fields of the video tokens, channel by channel */
        for (int64_t c = 0; c < d; c++) {
            const uint64_t C = (uint64_t)c;
            memset(bs, 0, (size_t)nv * sizeof *bs);
            field_add(&fc, synth_key(seed, STREAM_FIELD_S, L, Hd, C, 0), 1.0, bs);
            for (int x = 0; x < 3; x++) {
                const double g = 0.6 + 0.8 * rng_uniform(&gain);
                const uint64_t stream = (uint64_t)(STREAM_FIELD_Q + x);
                memset(bx, 0, (size_t)nv * sizeof *bx);
                field_add(&fc, synth_key(seed, stream, L, Hd, C, 0), 1.0, bx);
                float *dst = out[x] + lay->video_offset * d + c;
                if (x < 2)
                    for (int64_t i = 0; i < nv; i++) dst[i * d] = (float)(g * rs2 * (bs[i] + bx[i]));
                else
                    for (int64_t i = 0; i < nv; i++) dst[i * d] = (float)(g * bx[i]);
            }
        }
        for (int x = 0; x < 3; x++) {
            /* white noise of this step on the video tokens, before RoPE (a
             * rotation of i.i.d. normal pairs is again i.i.d. normal) */
            synth_rng nr = rng_init(synth_key(seed, STREAM_NOISE, (uint64_t)step, L, Hd, (uint64_t)x));
            float *vid = out[x] + lay->video_offset * d;
            for (int64_t i = 0; i < nv * d; i++) vid[i] = (float)((double)vid[i] + sigma * rng_normal(&nr));
            /* text tokens: before and after the video range */
            synth_rng tr = rng_init(synth_key(seed, STREAM_TEXT, L, Hd, (uint64_t)x, 0));
            for (int64_t i = 0; i < lay->video_offset * d; i++) out[x][i] = (float)rng_normal(&tr);
            for (int64_t i = (lay->video_offset + nv) * d; i < n * d; i++)
                out[x][i] = (float)rng_normal(&tr);
        }
        if ((st = apply_rope(lay, base, out[0])) || (st = apply_rope(lay, base, out[1]))) goto done;
    }
    st = RIPPLE_OK;
done:
    free(bs);
    free(bx);
    free(fc.cw_re);
    free(fc.cw_im);
    free(fc.ch_re);
    free(fc.ch_im);
    free(fc.cth_re);
    free(fc.cth_im);
    return st;
}
