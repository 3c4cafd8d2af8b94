/* tiny-vdit in C (ripple/model.h): the weights file, the forward pass and
 * the Euler sampler. data/tinyvdit/ref_numpy.py is the line-by-line
 * description this file follows; where PyTorch rounds to float32 in a
 * particular order (the timestep embedding, RoPE angles, the sampler's
 * step), the same order is kept, so that the C run follows the PyTorch
 * trajectory as closely as float32 allows.
 *
 * Work outside attention is row-wise: for a block of RB token rows,
 *   pre:  a = LN(h) (1 + scale) + shift; qkv = a Wqkv^T + b; RMSNorm q, k;
 *         RoPE on video rows; scatter into q, k, v [heads, N, hd]
 *   post: h += gate * (o Wproj^T + b); m = LN(h) (1 + scale) + shift;
 *         h += gate * (GELU(m W1^T + b1) W2^T + b2)
 * Blocks are work items of the library's pool (parallel.c); each worker
 * has RB x (3I + D + 4D) floats of scratch. The partition into blocks is
 * fixed (RB rows), so each sgemm call is the same whatever the number of
 * threads: the result does not depend on it. Memory: a few [N, D]-sized
 * buffers, never N^2. */
#include "ripple/model.h"

#include "h5util.h"
#include "internal.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Token rows per work item. OpenBLAS packs a weight matrix once per sgemm
 * call, which costs about what 64 rows of FMAs cost on AVX-512: 64-row
 * blocks spent a third of the sgemm time packing, 256-row blocks about 8%
 * (perf, this VM). 2052 = 8 x 256 + 4: two workers get equal shares. */
#define RB 256

typedef struct block_w {
    const float *adaln_w, *adaln_b; /* [6D, D], [6D] */
    const float *qkv_w, *qkv_b;     /* [3I, D], [3I] */
    const float *qn, *kn;           /* [hd] */
    const float *proj_w, *proj_b;   /* [D, Iw], [D] */
    const float *fc1_w, *fc1_b;     /* [M, D], [M] */
    const float *fc2_w, *fc2_b;     /* [D, M], [D] */
} block_w;

struct ripple_model {
    ripple_model_config cfg;
    ripple_layout lay;
    int64_t inner, mlp; /* Iw = heads * head_dim, M = mlp_ratio * D */
    float *params;      /* every weight, one allocation */
    const float *x_embed_w, *x_embed_b; /* [D, P], [D] */
    const float *t_fc1_w, *t_fc1_b;     /* [D, F], [D] */
    const float *t_fc2_w, *t_fc2_b;     /* [D, D], [D] */
    const float *y_embed;               /* [classes + 1, D] */
    const float *text_tokens;           /* [classes + 1, nt, D] */
    const float *final_ada_w, *final_ada_b; /* [2D, D], [2D] */
    const float *final_w, *final_b;         /* [P, D], [P] */
    block_w *blocks;
    float *rope_cos, *rope_sin; /* [Nv, hd/2] */
    /* scratch of one forward pass */
    float *h;          /* [N, D] residual stream */
    float *q, *k, *v, *o; /* [heads, N, hd] */
    float *mod;        /* [depth, 6D] adaLN outputs, then [2D] of the final layer */
    float *tok;        /* [Nv, max(P, D)] patches in, patch outputs out */
    float *ws[RIPPLE_MAX_THREADS];
    float *vc, *vu;    /* [video_elems] velocities of the two CFG branches */
    float *cond;       /* [freq_dim + 3D]: embedding, hidden, c, silu(c) */
};

/* ------------------------------------------------------------------ loading */

typedef struct param_spec {
    char name[64];
    int rank;
    int64_t dims[3];
    const float **slot;
    size_t offset;
} param_spec;

static const char *const int_keys[] = {"frames", "height", "width", "in_channels", "hidden", "depth",
                                       "num_heads", "head_dim", "mlp_ratio", "num_classes",
                                       "num_text_tokens", "freq_dim"};

static ripple_status read_config(const h5u_file *f, ripple_model_config *c)
{
    ripple_status s;
    char fmt[64], str[64];
    int present;
    memset(c, 0, sizeof *c);
    if ((s = h5u_attr_str(f, "format", 0, fmt, sizeof fmt, &present))) return s;
    if (!present || strcmp(fmt, RIPPLE_MODEL_FORMAT))
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: not a tiny-vdit weights file (root attribute format %s%s%s, expected '%s')",
                           f->path, present ? "'" : "missing", present ? fmt : "", present ? "'" : "",
                           RIPPLE_MODEL_FORMAT);
    int64_t *dst[] = {&c->frames, &c->height, &c->width, &c->in_channels, &c->hidden, &c->depth,
                      &c->num_heads, &c->head_dim, &c->mlp_ratio, &c->num_classes, &c->num_text_tokens,
                      &c->freq_dim};
    static const int64_t hi[] = {4096, 8192, 8192, 64, 16384, 256, 256, 1024, 64, 1 << 20, 4096, 1 << 16};
    for (size_t i = 0; i < sizeof int_keys / sizeof int_keys[0]; i++) {
        if ((s = h5u_attr_ints(f, int_keys[i], 1, 1, dst[i], NULL))) return s;
        int64_t lo = !strcmp(int_keys[i], "num_text_tokens") ? 0 : 1;
        if (*dst[i] < lo || *dst[i] > hi[i])
            return ripple_fail(RIPPLE_ERR_FORMAT, "%s: config %s = %lld is outside [%lld, %lld]", f->path,
                               int_keys[i], (long long)*dst[i], (long long)lo, (long long)hi[i]);
    }
    if ((s = h5u_attr_ints(f, "patch", 1, 3, c->patch, NULL))) return s;
    if ((s = h5u_attr_ints(f, "rope_split", 1, 3, c->rope_split, NULL))) return s;
    struct { const char *k; double *v; } dk[] = {{"rope_theta", &c->rope_theta}, {"norm_eps", &c->norm_eps},
                                                 {"qk_norm_eps", &c->qk_norm_eps}, {"time_scale", &c->time_scale}};
    for (size_t i = 0; i < 4; i++) {
        if ((s = h5u_attr_double(f, dk[i].k, 1, dk[i].v, NULL))) return s;
        if (!isfinite(*dk[i].v) || *dk[i].v <= 0 || (i == 0 && *dk[i].v <= 1))
            return ripple_fail(RIPPLE_ERR_FORMAT, "%s: config %s = %g must be finite and %s", f->path, dk[i].k,
                               *dk[i].v, i == 0 ? "> 1" : "> 0");
    }
    if ((s = h5u_attr_str(f, "rope_axes", 0, str, sizeof str, &present))) return s;
    if (present && strcmp(str, "thw"))
        return ripple_fail(RIPPLE_ERR_UNSUPPORTED, "%s: rope_axes '%s': only 'thw' is implemented", f->path, str);
    if ((s = h5u_attr_str(f, "rope_pairing", 0, str, sizeof str, &present))) return s;
    if (present && strcmp(str, "interleaved"))
        return ripple_fail(RIPPLE_ERR_UNSUPPORTED, "%s: rope_pairing '%s': only 'interleaved' is implemented",
                           f->path, str);
    /* consistency */
    const int64_t extent[3] = {c->frames, c->height, c->width};
    int64_t rope_sum = 0;
    for (int a = 0; a < 3; a++) {
        if (c->patch[a] < 1 || c->patch[a] > extent[a] || extent[a] % c->patch[a])
            return ripple_fail(RIPPLE_ERR_FORMAT, "%s: patch %lld does not divide the %s %lld", f->path,
                               (long long)c->patch[a], a == 0 ? "frames" : a == 1 ? "height" : "width",
                               (long long)extent[a]);
        c->grid[a] = extent[a] / c->patch[a];
        if (c->rope_split[a] < 0 || c->rope_split[a] % 2 || c->rope_split[a] > c->head_dim)
            return ripple_fail(RIPPLE_ERR_FORMAT, "%s: rope_split[%d] = %lld must be even, in [0, head_dim]",
                               f->path, a, (long long)c->rope_split[a]);
        rope_sum += c->rope_split[a];
    }
    if (rope_sum > c->head_dim || c->head_dim % 2 || c->freq_dim % 2)
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: rope_split sums to %lld > head_dim %lld, or head_dim/freq_dim odd",
                           f->path, (long long)rope_sum, (long long)c->head_dim);
    int64_t nv, t;
    if (ripple_mul_ovf(c->grid[0], c->grid[1], &t) || ripple_mul_ovf(t, c->grid[2], &nv) ||
        ripple_add_ovf(nv, c->num_text_tokens, &c->seq_len) || c->seq_len > (1 << 22))
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: sequence too long", f->path);
    c->patch_dim = c->in_channels * c->patch[0] * c->patch[1] * c->patch[2];
    if (c->patch_dim > 65536) return ripple_fail(RIPPLE_ERR_FORMAT, "%s: patch too large", f->path);
    c->video_elems = c->in_channels * c->frames * c->height * c->width; /* <= 64 * 4096 * 8192^2: fits */
    /* optional derived attributes must agree */
    int64_t g[3], v1;
    if ((s = h5u_attr_ints(f, "grid", 0, 3, g, &present))) return s;
    if (present && (g[0] != c->grid[0] || g[1] != c->grid[1] || g[2] != c->grid[2]))
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: attribute grid [%lld,%lld,%lld] disagrees with the config's [%lld,%lld,%lld]",
                           f->path, (long long)g[0], (long long)g[1], (long long)g[2], (long long)c->grid[0],
                           (long long)c->grid[1], (long long)c->grid[2]);
    if ((s = h5u_attr_ints(f, "seq_len", 0, 1, &v1, &present))) return s;
    if (present && v1 != c->seq_len)
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: attribute seq_len %lld disagrees with the config's %lld", f->path,
                           (long long)v1, (long long)c->seq_len);
    if ((s = h5u_attr_ints(f, "video_offset", 0, 1, &v1, &present))) return s;
    if (present && v1 != c->num_text_tokens)
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: attribute video_offset %lld disagrees with num_text_tokens %lld",
                           f->path, (long long)v1, (long long)c->num_text_tokens);
    return RIPPLE_OK;
}

static void spec(param_spec *p, int *n, const char *name, int rank, int64_t d0, int64_t d1, int64_t d2,
                 const float **slot)
{
    param_spec *e = &p[(*n)++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->rank = rank;
    e->dims[0] = d0, e->dims[1] = d1, e->dims[2] = d2;
    e->slot = slot;
}

void ripple_model_free(ripple_model *m)
{
    if (!m) return;
    free(m->params);
    free(m->blocks);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m->h);
    free(m->q);
    free(m->k);
    free(m->v);
    free(m->o);
    free(m->mod);
    free(m->tok);
    free(m->vc);
    free(m->vu);
    free(m->cond);
    for (int i = 0; i < RIPPLE_MAX_THREADS; i++) free(m->ws[i]);
    free(m);
}

/* RoPE tables as model.py builds them: angles pos * theta^(-2i/n) in float64,
 * rounded to float32, then cos and sin of that float32 angle. */
static void rope_tables(ripple_model *m)
{
    const ripple_model_config *c = &m->cfg;
    const int64_t T = c->grid[0], H = c->grid[1], W = c->grid[2], half = c->head_dim / 2;
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++) {
                int64_t tok = (t * H + h) * W + w, j = 0;
                const int64_t pos[3] = {t, h, w};
                for (int a = 0; a < 3; a++) {
                    int64_t n = c->rope_split[a];
                    for (int64_t i = 0; i < n / 2; i++, j++) {
                        double freq = 1.0 / pow(c->rope_theta, (double)(2 * i) / (double)n);
                        float ang = (float)((double)pos[a] * freq);
                        m->rope_cos[tok * half + j] = (float)cos((double)ang);
                        m->rope_sin[tok * half + j] = (float)sin((double)ang);
                    }
                }
                for (; j < half; j++) m->rope_cos[tok * half + j] = 1.0f, m->rope_sin[tok * half + j] = 0.0f;
            }
}

ripple_status ripple_model_load(const char *path, ripple_model **out)
{
    ripple_status s = RIPPLE_OK;
    h5u_file f = {.id = H5I_INVALID_HID};
    ripple_model *m = NULL;
    param_spec *ps = NULL;
    if (!out || !path) return ripple_fail(RIPPLE_ERR_INVALID, "ripple_model_load: NULL argument");
    *out = NULL;
    if ((s = h5u_open(path, &f))) goto done;
    if (!(m = calloc(1, sizeof *m))) goto nomem;
    ripple_model_config *c = &m->cfg;
    if ((s = read_config(&f, c))) goto done;
    const int64_t D = c->hidden, P = c->patch_dim, F = c->freq_dim, K = c->num_classes + 1;
    m->inner = c->num_heads * c->head_dim;
    m->mlp = c->mlp_ratio * D;
    const int64_t Iw = m->inner, M = m->mlp, nt = c->num_text_tokens;
    if (Iw > 65536) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: num_heads x head_dim = %lld is too wide", path, (long long)Iw);
        goto done;
    }
    int np = 0, maxp = 12 + 12 * (int)c->depth;
    if (!(ps = calloc((size_t)maxp, sizeof *ps)) || !(m->blocks = calloc((size_t)c->depth, sizeof *m->blocks)))
        goto nomem;
    spec(ps, &np, "x_embed.weight", 2, D, P, 0, &m->x_embed_w);
    spec(ps, &np, "x_embed.bias", 1, D, 0, 0, &m->x_embed_b);
    spec(ps, &np, "t_fc1.weight", 2, D, F, 0, &m->t_fc1_w);
    spec(ps, &np, "t_fc1.bias", 1, D, 0, 0, &m->t_fc1_b);
    spec(ps, &np, "t_fc2.weight", 2, D, D, 0, &m->t_fc2_w);
    spec(ps, &np, "t_fc2.bias", 1, D, 0, 0, &m->t_fc2_b);
    spec(ps, &np, "y_embed.weight", 2, K, D, 0, &m->y_embed);
    if (nt > 0) spec(ps, &np, "text_tokens", 3, K, nt, D, &m->text_tokens);
    spec(ps, &np, "final_adaLN.weight", 2, 2 * D, D, 0, &m->final_ada_w);
    spec(ps, &np, "final_adaLN.bias", 1, 2 * D, 0, 0, &m->final_ada_b);
    spec(ps, &np, "final_linear.weight", 2, P, D, 0, &m->final_w);
    spec(ps, &np, "final_linear.bias", 1, P, 0, 0, &m->final_b);
    for (int64_t i = 0; i < c->depth; i++) {
        block_w *b = &m->blocks[i];
        char nm[64];
#define BLK(suffix, rank, d0, d1, slot)                                      \
    snprintf(nm, sizeof nm, "blocks.%lld." suffix, (long long)i);            \
    spec(ps, &np, nm, rank, d0, d1, 0, slot)
        BLK("adaLN.weight", 2, 6 * D, D, &b->adaln_w);
        BLK("adaLN.bias", 1, 6 * D, 0, &b->adaln_b);
        BLK("attn.qkv.weight", 2, 3 * Iw, D, &b->qkv_w);
        BLK("attn.qkv.bias", 1, 3 * Iw, 0, &b->qkv_b);
        BLK("attn.q_norm.weight", 1, c->head_dim, 0, &b->qn);
        BLK("attn.k_norm.weight", 1, c->head_dim, 0, &b->kn);
        BLK("attn.proj.weight", 2, D, Iw, &b->proj_w);
        BLK("attn.proj.bias", 1, D, 0, &b->proj_b);
        BLK("mlp_fc1.weight", 2, M, D, &b->fc1_w);
        BLK("mlp_fc1.bias", 1, M, 0, &b->fc1_b);
        BLK("mlp_fc2.weight", 2, D, M, &b->fc2_w);
        BLK("mlp_fc2.bias", 1, D, 0, &b->fc2_b);
#undef BLK
    }
    /* offsets, with checked sums: the sizes come from the file */
    int64_t total = 0;
    for (int i = 0; i < np; i++) {
        int64_t n = 1;
        for (int a = 0; a < ps[i].rank; a++)
            if (ripple_mul_ovf(n, ps[i].dims[a], &n)) n = INT64_MAX;
        ps[i].offset = (size_t)total;
        if (ripple_add_ovf(total, n, &total) || total > ((int64_t)1 << 32)) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: the config asks for more than 2^32 parameters", path);
            goto done;
        }
    }
    c->num_params = total;
    int64_t nattr;
    int present;
    if ((s = h5u_attr_ints(&f, "num_params", 0, 1, &nattr, &present))) goto done;
    if (present && nattr != total) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: attribute num_params %lld disagrees with the config's %lld", path,
                        (long long)nattr, (long long)total);
        goto done;
    }
    if (!(m->params = malloc((size_t)total * sizeof(float)))) goto nomem;
    for (int i = 0; i < np; i++) {
        int64_t dims[3] = {ps[i].dims[0], ps[i].dims[1], ps[i].dims[2]};
        size_t cap = (size_t)total - ps[i].offset;
        if ((s = h5u_read_floats(&f, ps[i].name, 1, ps[i].rank, dims, m->params + ps[i].offset, cap, NULL)))
            goto done;
        *ps[i].slot = m->params + ps[i].offset;
    }
    /* layout and scratch */
    ripple_layout *lay = &m->lay;
    for (int a = 0; a < 3; a++) lay->grid[a] = c->grid[a];
    lay->seq_len = c->seq_len;
    lay->video_offset = nt;
    lay->head_dim = c->head_dim;
    for (int a = 0; a < 3; a++)
        if (c->rope_split[a] > 0) {
            lay->group_axis[lay->num_groups] = a;
            lay->group_len[lay->num_groups++] = c->rope_split[a];
        }
    if ((s = ripple_layout_check(lay))) goto done;
    const size_t N = (size_t)c->seq_len, nv = N - (size_t)nt, half = (size_t)c->head_dim / 2;
    const size_t tokw = (size_t)(P > D ? P : D);
    if (!(m->rope_cos = malloc(nv * half * sizeof(float))) || !(m->rope_sin = malloc(nv * half * sizeof(float))) ||
        !(m->h = malloc(N * (size_t)D * sizeof(float))) || !(m->q = malloc(N * (size_t)Iw * sizeof(float))) ||
        !(m->k = malloc(N * (size_t)Iw * sizeof(float))) || !(m->v = malloc(N * (size_t)Iw * sizeof(float))) ||
        !(m->o = malloc(N * (size_t)Iw * sizeof(float))) ||
        !(m->mod = malloc(((size_t)c->depth * 6 + 2) * (size_t)D * sizeof(float))) ||
        !(m->tok = malloc(nv * tokw * sizeof(float))) ||
        !(m->vc = malloc((size_t)c->video_elems * sizeof(float))) ||
        !(m->vu = malloc((size_t)c->video_elems * sizeof(float))) ||
        !(m->cond = malloc((size_t)(F + 3 * D) * sizeof(float))))
        goto nomem;
    rope_tables(m);
    goto done;
nomem:
    s = ripple_fail(RIPPLE_ERR_NOMEM, "%s: out of memory loading the model", path);
done:
    h5u_close(&f);
    free(ps);
    if (s) {
        ripple_model_free(m);
        m = NULL;
    } else {
        ripple_clear_error();
    }
    *out = m;
    return s;
}

const ripple_model_config *ripple_model_get_config(const ripple_model *m) { return m ? &m->cfg : NULL; }

ripple_status ripple_model_layout(const ripple_model *m, ripple_layout *lay)
{
    if (!m || !lay) return ripple_fail(RIPPLE_ERR_INVALID, "ripple_model_layout: NULL argument");
    *lay = m->lay;
    return RIPPLE_OK;
}

void ripple_model_flops(const ripple_model *m, double *attn_flops, double *rest_flops)
{
    const ripple_model_config *c = &m->cfg;
    const double N = (double)c->seq_len, D = (double)c->hidden, Iw = (double)m->inner, Mh = (double)m->mlp;
    const double nv = N - (double)c->num_text_tokens, L = (double)c->depth;
    double attn = L * 4.0 * (double)c->num_heads * N * N * (double)c->head_dim;
    double rest = L * 2.0 * N * (D * 3.0 * Iw + Iw * D + 2.0 * D * Mh) /* qkv, proj, fc1, fc2 */
                  + 2.0 * nv * (double)c->patch_dim * D * 2.0       /* x_embed, final_linear */
                  + 2.0 * ((double)c->freq_dim * D + D * D)         /* t_fc1, t_fc2 */
                  + 2.0 * D * (L * 6.0 * D + 2.0 * D);              /* adaLN matvecs */
    if (attn_flops) *attn_flops = attn;
    if (rest_flops) *rest_flops = rest;
}

/* ------------------------------------------------------------ forward pass */

static inline float silu(float x) { return x / (1.0f + expf(-x)); }

/* y[rows, out] = x[rows, in] W^T + b, W [out, in] (torch Linear): bias
 * first, then sgemm with beta = 1 (as torch's addmm). */
static void linear(int64_t rows, int64_t in, int64_t outd, const float *x, const float *W, const float *b, float *y)
{
    for (int64_t r = 0; r < rows; r++) memcpy(y + r * outd, b, (size_t)outd * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)rows, (blasint)outd, (blasint)in, 1.0f, x,
                (blasint)in, W, (blasint)in, 1.0f, y, (blasint)outd);
}

/* LayerNorm without affine (statistics in double), then x (1 + scale) + shift,
 * onep = 1 + scale precomputed in float32 as torch does. */
static void ln_modulate(int64_t rows, int64_t D, const float *x, const float *onep, const float *shift, double eps,
                        float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < D; i++) mean += xr[i];
        mean /= (double)D;
        for (int64_t i = 0; i < D; i++) var += ((double)xr[i] - mean) * ((double)xr[i] - mean);
        var /= (double)D;
        const float inv = (float)(1.0 / sqrt(var + eps)), mf = (float)mean;
        for (int64_t i = 0; i < D; i++) {
            float n = (xr[i] - mf) * inv;
            yr[i] = n * onep[i] + shift[i];
        }
    }
}

typedef struct fwd_ctx {
    ripple_model *m;
    const block_w *b;
    const float *mod; /* this block's [6D]: sa, ca, ga, sm, cm, gm; ca, cm hold 1 + scale */
} fwd_ctx;

static float *worker_scratch(ripple_model *m, int worker)
{
    if (!m->ws[worker]) {
        size_t n = (size_t)RB * (size_t)(3 * m->inner + 2 * m->cfg.hidden + m->mlp);
        m->ws[worker] = malloc(n * sizeof(float));
    }
    return m->ws[worker];
}

static ripple_status fwd_pre(void *ctx, int worker, int64_t item)
{
    fwd_ctx *fc = ctx;
    ripple_model *m = fc->m;
    const ripple_model_config *c = &m->cfg;
    const int64_t D = c->hidden, Iw = m->inner, N = c->seq_len, hd = c->head_dim, nh = c->num_heads;
    const int64_t nt = c->num_text_tokens, half = hd / 2;
    const int64_t r0 = item * RB, rows = (N - r0 < RB) ? N - r0 : RB;
    float *ws = worker_scratch(m, worker);
    if (!ws) return ripple_fail(RIPPLE_ERR_NOMEM, "model: out of memory for a worker's scratch");
    float *a = ws, *qkv = ws + RB * D;
    ln_modulate(rows, D, m->h + r0 * D, fc->mod + 1 * D, fc->mod + 0 * D, c->norm_eps, a);
    linear(rows, D, 3 * Iw, a, fc->b->qkv_w, fc->b->qkv_b, qkv);
    for (int64_t r = 0; r < rows; r++) {
        const int64_t row = r0 + r;
        for (int which = 0; which < 3; which++)
            for (int64_t h = 0; h < nh; h++) {
                const float *src = qkv + r * 3 * Iw + which * Iw + h * hd;
                float *dst = (which == 0 ? m->q : which == 1 ? m->k : m->v) + (h * N + row) * hd;
                if (which == 2) {
                    memcpy(dst, src, (size_t)hd * sizeof(float));
                    continue;
                }
                const float *w = which == 0 ? fc->b->qn : fc->b->kn;
                double ss = 0;
                for (int64_t i = 0; i < hd; i++) ss += (double)src[i] * (double)src[i];
                const float inv = (float)(1.0 / sqrt(ss / (double)hd + c->qk_norm_eps));
                float tmp[1024];
                for (int64_t i = 0; i < hd; i++) tmp[i] = src[i] * inv * w[i];
                if (row >= nt) {
                    const float *cs = m->rope_cos + (row - nt) * half, *sn = m->rope_sin + (row - nt) * half;
                    for (int64_t i = 0; i < half; i++) {
                        float x0 = tmp[2 * i], x1 = tmp[2 * i + 1];
                        float p0 = x0 * cs[i], p1 = x1 * sn[i], p2 = x0 * sn[i], p3 = x1 * cs[i];
                        dst[2 * i] = p0 - p1;
                        dst[2 * i + 1] = p2 + p3;
                    }
                } else {
                    memcpy(dst, tmp, (size_t)hd * sizeof(float));
                }
            }
    }
    return RIPPLE_OK;
}

/* 2^t for t in [-126, 126]: t = n + f, |f| <= 1/2, 2^f by its Taylor
 * polynomial of degree 7 (truncation 5e-9 relative, below float32's 6e-8),
 * 2^n through the exponent bits. Branch-free, so gcc vectorises the loop. */
static inline float exp2_poly(float t)
{
    t = t < -126.0f ? -126.0f : t > 126.0f ? 126.0f : t;
    float n = (t + 12582912.0f) - 12582912.0f, f = t - n; /* round to nearest: 1.5 x 2^23 */
    float p = 1.5252733804059841e-05f;
    p = p * f + 1.5403530393381606e-04f;
    p = p * f + 1.3333558146428443e-03f;
    p = p * f + 9.6181291076284772e-03f;
    p = p * f + 5.5504108664821580e-02f;
    p = p * f + 2.4022650695910071e-01f;
    p = p * f + 6.9314718055994531e-01f;
    p = p * f + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* GELU, tanh form: 0.5 x (1 + tanh(u)) = x / (1 + e^(-2u)),
 * u = sqrt(2/pi) (x + 0.044715 x^3); e^(-2u) = 2^(-2u log2 e). tanhf
 * through libm took a quarter of a forward pass (perf); this form
 * vectorises and its relative error is that of exp2_poly, about 1 ulp.
 * An AVX-512 clone where the CPU has it (16 lanes instead of SSE2's 4; the
 * same operations, no contraction into FMA in ISO C mode, so the same bits). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v4", "default")))
#endif
static void gelu_tanh(float *x, int64_t n)
{
    const float k0 = 0.7978845608028654f, k1 = 0.044715f, m2log2e = -2.0f * 1.4426950408889634f;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float u = k0 * (v + k1 * v * v * v);
        x[i] = v / (1.0f + exp2_poly(m2log2e * u));
    }
}

static ripple_status fwd_post(void *ctx, int worker, int64_t item)
{
    fwd_ctx *fc = ctx;
    ripple_model *m = fc->m;
    const ripple_model_config *c = &m->cfg;
    const int64_t D = c->hidden, Iw = m->inner, Mh = m->mlp, N = c->seq_len, hd = c->head_dim, nh = c->num_heads;
    const int64_t r0 = item * RB, rows = (N - r0 < RB) ? N - r0 : RB;
    float *ws = worker_scratch(m, worker);
    if (!ws) return ripple_fail(RIPPLE_ERR_NOMEM, "model: out of memory for a worker's scratch");
    float *orow = ws, *y = ws + RB * Iw, *mm = y + RB * D, *f1 = mm + RB * D;
    const float *ga = fc->mod + 2 * D, *sm = fc->mod + 3 * D, *cm = fc->mod + 4 * D, *gm = fc->mod + 5 * D;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t h = 0; h < nh; h++)
            memcpy(orow + r * Iw + h * hd, m->o + (h * N + r0 + r) * hd, (size_t)hd * sizeof(float));
    linear(rows, Iw, D, orow, fc->b->proj_w, fc->b->proj_b, y);
    float *hr = m->h + r0 * D;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < D; i++) {
            float g = ga[i] * y[r * D + i];
            hr[r * D + i] = hr[r * D + i] + g;
        }
    ln_modulate(rows, D, hr, cm, sm, c->norm_eps, mm);
    linear(rows, D, Mh, mm, fc->b->fc1_w, fc->b->fc1_b, f1);
    gelu_tanh(f1, rows * Mh);
    linear(rows, Mh, D, f1, fc->b->fc2_w, fc->b->fc2_b, y);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < D; i++) {
            float g = gm[i] * y[r * D + i];
            hr[r * D + i] = hr[r * D + i] + g;
        }
    return RIPPLE_OK;
}

/* c = t_fc2(silu(t_fc1(emb(t)))) + y_embed[y], float32 in torch's order:
 * freqs = exp((-ln 1e4 * i) / half), arg = (t * time_scale) * freqs. */
static void conditioning(const ripple_model *m, double t, int y, float *cvec)
{
    const ripple_model_config *c = &m->cfg;
    const int64_t D = c->hidden, F = c->freq_dim, half = F / 2;
    float *emb = m->cond, *hid = m->cond + F;
    const float ts = (float)t * (float)c->time_scale, nl = (float)(-log(10000.0));
    for (int64_t i = 0; i < half; i++) {
        float fr = expf((nl * (float)i) / (float)half);
        float arg = ts * fr;
        emb[i] = (float)cos((double)arg);
        emb[half + i] = (float)sin((double)arg);
    }
    memcpy(hid, m->t_fc1_b, (size_t)D * sizeof(float));
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)D, (blasint)F, 1.0f, m->t_fc1_w, (blasint)F, emb, 1, 1.0f, hid, 1);
    for (int64_t i = 0; i < D; i++) hid[i] = silu(hid[i]);
    memcpy(cvec, m->t_fc2_b, (size_t)D * sizeof(float));
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)D, (blasint)D, 1.0f, m->t_fc2_w, (blasint)D, hid, 1, 1.0f, cvec, 1);
    for (int64_t i = 0; i < D; i++) cvec[i] = cvec[i] + m->y_embed[(int64_t)y * D + i];
}

static ripple_status exact_hook(void *ctx, const ripple_attn_call *call)
{
    (void)ctx;
    return ripple_attn_exact(RIPPLE_BACKEND_CPU, call->heads, call->layout->seq_len, call->layout->head_dim,
                             call->scale, call->q, call->k, call->v, call->o);
}

ripple_status ripple_model_forward(ripple_model *m, const float *x, double t, int y, ripple_attn_hook attn,
                                   void *attn_ctx, int call_step, int call_num_steps, int call_branch, float *v_out)
{
    if (!m || !x || !v_out) return ripple_fail(RIPPLE_ERR_INVALID, "ripple_model_forward: NULL argument");
    const ripple_model_config *c = &m->cfg;
    if (y < 0 || y > c->num_classes)
        return ripple_fail(RIPPLE_ERR_INVALID, "model: class %d is outside [0, %lld] (%lld = null)", y,
                           (long long)c->num_classes, (long long)c->num_classes);
    if (!isfinite(t)) return ripple_fail(RIPPLE_ERR_INVALID, "model: timestep %g is not finite", t);
    for (int64_t i = 0; i < c->video_elems; i++)
        if (!isfinite(x[i]))
            return ripple_fail(RIPPLE_ERR_NONFINITE, "model: input element %lld is not finite", (long long)i);
    const int64_t D = c->hidden, N = c->seq_len, nt = c->num_text_tokens, P = c->patch_dim;
    const int64_t T = c->grid[0], H = c->grid[1], W = c->grid[2], nv = N - nt;
    const int64_t pt = c->patch[0], ph = c->patch[1], pw = c->patch[2], C = c->in_channels;
    ripple_status s;

    /* conditioning and every block's adaLN vectors */
    float *cvec = m->cond + c->freq_dim + D, *sc = cvec + D;
    conditioning(m, t, y, cvec);
    for (int64_t i = 0; i < D; i++) sc[i] = silu(cvec[i]);
    for (int64_t l = 0; l <= c->depth; l++) {
        const int last = l == c->depth;
        const int64_t rows = last ? 2 * D : 6 * D;
        float *mod = m->mod + l * 6 * D;
        const float *Wt = last ? m->final_ada_w : m->blocks[l].adaln_w, *bt = last ? m->final_ada_b : m->blocks[l].adaln_b;
        memcpy(mod, bt, (size_t)rows * sizeof(float));
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)rows, (blasint)D, 1.0f, Wt, (blasint)D, sc, 1, 1.0f, mod, 1);
        /* 1 + scale, in float32 (torch's modulate) */
        for (int64_t i = 0; i < D; i++) {
            if (last) mod[D + i] = 1.0f + mod[D + i];
            else mod[D + i] = 1.0f + mod[D + i], mod[4 * D + i] = 1.0f + mod[4 * D + i];
        }
    }
    /* tokens: class tokens, then the patch embedding of x */
    if (nt > 0) memcpy(m->h, m->text_tokens + (int64_t)y * nt * D, (size_t)(nt * D) * sizeof(float));
    for (int64_t tt = 0; tt < T; tt++)
        for (int64_t hh = 0; hh < H; hh++)
            for (int64_t ww = 0; ww < W; ww++) {
                float *p = m->tok + ((tt * H + hh) * W + ww) * P;
                for (int64_t ch = 0; ch < C; ch++)
                    for (int64_t i = 0; i < pt; i++)
                        for (int64_t j = 0; j < ph; j++)
                            for (int64_t k = 0; k < pw; k++)
                                *p++ = x[((ch * c->frames + tt * pt + i) * c->height + hh * ph + j) * c->width +
                                         ww * pw + k];
            }
    linear(nv, P, D, m->tok, m->x_embed_w, m->x_embed_b, m->h + nt * D);

    const int64_t items = (N + RB - 1) / RB;
    const int threads = ripple_parallel_threads(items);
    ripple_attn_call call = {.step = call_step, .num_steps = call_num_steps, .branch = call_branch,
                             .timestep = t, .layout = &m->lay, .heads = c->num_heads,
                             .scale = 1.0 / sqrt((double)c->head_dim), .q = m->q, .k = m->k, .v = m->v, .o = m->o};
    for (int64_t l = 0; l < c->depth; l++) {
        fwd_ctx fc = {.m = m, .b = &m->blocks[l], .mod = m->mod + l * 6 * D};
        if ((s = ripple_parallel_for(items, threads, fwd_pre, &fc))) return s;
        call.layer = (int)l;
        if ((s = attn ? attn(attn_ctx, &call) : exact_hook(NULL, &call))) return s;
        if ((s = ripple_parallel_for(items, threads, fwd_post, &fc))) return s;
    }
    /* final layer on the video tokens, then unpatchify */
    const float *fmod = m->mod + c->depth * 6 * D; /* shift, 1 + scale */
    float *a = m->ws[0] ? m->ws[0] : worker_scratch(m, 0);
    if (!a) return ripple_fail(RIPPLE_ERR_NOMEM, "model: out of memory for a worker's scratch");
    for (int64_t r0 = 0; r0 < nv; r0 += RB) {
        int64_t rows = nv - r0 < RB ? nv - r0 : RB;
        ln_modulate(rows, D, m->h + (nt + r0) * D, fmod + D, fmod, c->norm_eps, a);
        linear(rows, D, P, a, m->final_w, m->final_b, m->tok + r0 * P);
    }
    for (int64_t tt = 0; tt < T; tt++)
        for (int64_t hh = 0; hh < H; hh++)
            for (int64_t ww = 0; ww < W; ww++) {
                const float *p = m->tok + ((tt * H + hh) * W + ww) * P;
                for (int64_t ch = 0; ch < C; ch++)
                    for (int64_t i = 0; i < pt; i++)
                        for (int64_t j = 0; j < ph; j++)
                            for (int64_t k = 0; k < pw; k++)
                                v_out[((ch * c->frames + tt * pt + i) * c->height + hh * ph + j) * c->width +
                                      ww * pw + k] = *p++;
            }
    return RIPPLE_OK;
}

/* ----------------------------------------------------------------- sampler */

float ripple_sampler_timestep(int num_steps, int i)
{
    if (num_steps < 1 || i < 0 || i > num_steps) return NAN;
    const float d = -1.0f / (float)num_steps;
    if (i < (num_steps + 1) / 2) return fmaf(d, (float)i, 1.0f);
    return fmaf(-d, (float)(num_steps - i), 0.0f);
}

ripple_status ripple_model_sample(ripple_model *m, const ripple_sampler_params *p, float *x)
{
    if (!m || !p || !x) return ripple_fail(RIPPLE_ERR_INVALID, "ripple_model_sample: NULL argument");
    const ripple_model_config *c = &m->cfg;
    const int S = p->num_steps ? p->num_steps : RIPPLE_SAMPLER_STEPS;
    if (S < 1 || S > 100000) return ripple_fail(RIPPLE_ERR_INVALID, "sampler: %d steps (must be 1..100000)", S);
    if (p->class_label < 0 || p->class_label >= c->num_classes)
        return ripple_fail(RIPPLE_ERR_INVALID, "sampler: class %d is outside [0, %lld)", p->class_label,
                           (long long)c->num_classes);
    if (!isfinite(p->cfg) || p->cfg < 0)
        return ripple_fail(RIPPLE_ERR_INVALID, "sampler: guidance scale %g must be finite and >= 0 (1 = none)", p->cfg);
    const int guided = p->cfg != 0.0 && p->cfg != 1.0;
    const float g = (float)p->cfg;
    const int64_t n = c->video_elems;
    ripple_status s;
    for (int i = 0; i < S; i++) {
        const float t = ripple_sampler_timestep(S, i), tn = ripple_sampler_timestep(S, i + 1);
        if (p->step && (s = p->step(p->step_ctx, i, S, (double)t, x))) return s;
        if ((s = ripple_model_forward(m, x, (double)t, p->class_label, p->attn, p->attn_ctx, i, S, 0, m->vc))) return s;
        if (guided) {
            if ((s = ripple_model_forward(m, x, (double)t, (int)c->num_classes, p->attn, p->attn_ctx, i, S, 1, m->vu)))
                return s;
            for (int64_t j = 0; j < n; j++) {
                float d = m->vc[j] - m->vu[j];
                float gd = g * d;
                m->vc[j] = m->vu[j] + gd;
            }
        }
        const float dt = (float)((double)tn - (double)t);
        for (int64_t j = 0; j < n; j++) {
            float dv = dt * m->vc[j];
            x[j] = x[j] + dv;
        }
    }
    if (p->step && (s = p->step(p->step_ctx, S, S, 0.0, x))) return s;
    return RIPPLE_OK;
}
