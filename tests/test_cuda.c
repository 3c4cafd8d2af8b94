/* The CUDA test (issue 14): every GPU entry against its reference.
 *
 *   build/tests/test_cuda [--seed N]
 *
 * - exact attention, each CUDA path (tf32x3, fp32, cublas, bf16; see
 *   kernels/cuda/attn_exact_cuda.cu) on awkward shapes against float64
 *   (attn_ref.c), outputs poisoned with NaN first. The float32 paths must
 *   pass numcheck.c's attention check (the tolerance derived from float32
 *   arithmetic and flash-attention's rule: normalised MSE at most 4x a naive
 *   float32 kernel's). bf16 (dim 64 / 128 only): relative L2 error at most
 *   about twice the floor that rounding q, k, v to bf16 alone costs (float64
 *   attention on the rounded inputs), both printed.
 * - masked attention (attn_masked's "cuda": the attention-map rules box,
 *   all and top-k as mask specs, numcheck.c's NC_MASK_CASES: text tokens,
 *   per-head rules, top-k ties on integer inputs) against float64 masked
 *   attention with numcheck.c's float32 attention check;
 * - float64 attention (attn_f64's "cuda", the noise floor's reference)
 *   against attn_ref.c, within twice the float64 bound (nc_check_f64);
 * - the ripple transform, "cuda" against "c" (reuse.c), on layouts with
 *   text tokens, groups, windows 2 and 3, absolute and channel thresholds:
 *   the same masks and the same values, bit for bit.
 * One line per case, then "test_cuda: N passed, N failed"; exit 1 on a
 * failure, 77 (meson's skip) when no CUDA device answers or CUDA is not
 * built in. */
#include "backend.h"
#include "backend_cuda.h"
#include "numcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* bf16 keeps 8 significant bits (u = 2^-9). Rounding q, k and v alone
 * costs a relative L2 error `floor` (measured per case: float64 attention on
 * the rounded inputs; 3e-3 .. 1.4e-2 here, growing with the score scale);
 * the kernel also rounds P and o (u each, relative). Flash-attention's rule
 * of thumb: at most about twice the unavoidable error, so
 * rel L2 <= BF16_FLOOR_FACTOR floor + BF16_EXTRA. */
#define BF16_FLOOR_FACTOR 2.0
#define BF16_EXTRA (2.0 * 0x1.0p-9)
/* The smallest key tile of the fused float32 kernels (attn_flash_cuda.cu). */
#define FUSED_MIN_CHUNK 32

static int passed, failed;

typedef struct shape {
    int64_t heads, seq, dim;
    double sigma;
} shape;

static const shape SHAPES[] = {
    {1, 1, 64, 1.0},    {2, 7, 3, 1.0},     {3, 129, 17, 1.0},  {1, 300, 64, 5.0},
    {2, 257, 128, 1.0}, {1, 1000, 80, 2.0}, {1, 2049, 128, 1.0}, {2, 1537, 64, 3.0},
    {1, 513, 32, 1.0},  {1, 33, 128, 1.0},
};

static float bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

static double rel_l2(const float *a, const double *ref, size_t n)
{
    double e = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)a[i] - ref[i];
        e += d * d, r += ref[i] * ref[i];
    }
    return r > 0 ? sqrt(e / r) : sqrt(e);
}

static void no_memory(void)
{
    fprintf(stderr, "test_cuda: no memory\n");
    exit(1);
}

/* q, k ~ N(0, sigma^2) and v ~ N(0, 1) of shape s from seed (malloc'd). */
static void random_inputs(const shape *s, uint64_t seed, float **q, float **k, float **v)
{
    const size_t n = (size_t)(s->heads * s->seq * s->dim);
    *q = malloc(n * 4), *k = malloc(n * 4), *v = malloc(n * 4);
    if (!*q || !*k || !*v) no_memory();
    tu_rng r = {seed};
    tu_fill_normal(&r, *q, n, s->sigma);
    tu_fill_normal(&r, *k, n, s->sigma);
    tu_fill_normal(&r, *v, n, 1.0);
}

static void check_attn_path(int path, const shape *s, uint64_t seed)
{
    const char *name = ripple_cuda_path_name(path);
    const size_t n = (size_t)(s->heads * s->seq * s->dim);
    if (path == RIPPLE_CUDA_PATH_BF16 && s->dim != 64 && s->dim != 128) return;
    float *q, *k, *v, *o = malloc(n * 4);
    double *ref = malloc(n * 8);
    random_inputs(s, seed, &q, &k, &v);
    if (!o || !ref) no_memory();
    for (size_t i = 0; i < n; i++) o[i] = NAN;
    const double scale = 1.0 / sqrt((double)s->dim);
    char line[640];
    int ok = 0;
    ripple_status st = ripple_attn_exact_cuda_path(path, s->heads, s->seq, s->dim, scale, q, k, v, o);
    if (st != RIPPLE_OK) {
        snprintf(line, sizeof line, "FAILED: %s", ripple_last_error());
    } else if ((st = ripple_attn_exact_f64(s->heads, s->seq, s->dim, scale, q, k, v, ref)) != RIPPLE_OK) {
        snprintf(line, sizeof line, "FAILED: reference: %s", ripple_last_error());
    } else if (path == RIPPLE_CUDA_PATH_BF16) {
        const double err = rel_l2(o, ref, n);
        /* the floor: float64 attention on bf16-rounded inputs */
        for (size_t i = 0; i < n; i++) q[i] = bf16_round(q[i]), k[i] = bf16_round(k[i]), v[i] = bf16_round(v[i]);
        double *ref2 = malloc(n * 8);
        float *r2 = malloc(n * 4);
        double floor_err = NAN;
        if (ref2 && r2 && ripple_attn_exact_f64(s->heads, s->seq, s->dim, scale, q, k, v, ref2) == RIPPLE_OK) {
            for (size_t i = 0; i < n; i++) r2[i] = (float)ref2[i];
            floor_err = rel_l2(r2, ref, n);
        }
        free(ref2), free(r2);
        int64_t bad = -1;
        for (size_t i = 0; i < n && bad < 0; i++)
            if (!isfinite(o[i])) bad = (int64_t)i;
        const double limit = BF16_FLOOR_FACTOR * floor_err + BF16_EXTRA;
        ok = bad < 0 && err <= limit; /* NaN floor: fails */
        snprintf(line, sizeof line, "%srel L2 %.3e (limit %.3e; inputs rounded to bf16 alone: %.3e)%s",
                 ok ? "ok " : "FAILED: ", err, limit, floor_err, bad >= 0 ? ", non-finite output" : "");
    } else {
        nc_attn_result res;
        nc_check_attn(s->heads, s->seq, s->dim, scale, q, k, v, NULL, o, ref,
                      path == RIPPLE_CUDA_PATH_CUBLAS ? 0 : FUSED_MIN_CHUNK, &res);
        ok = res.ok;
        snprintf(line, sizeof line, "%snmse %.3e (naive float32 %.3e, ratio %.2f)%s%s", ok ? "ok " : "FAILED: ",
                 res.nmse, res.nmse_naive, res.nmse_naive > 0 ? res.nmse / res.nmse_naive : 0.0,
                 ok ? "" : ": ", ok ? "" : res.why);
    }
    printf("attn_exact  %-7s h%lld n%-5lld d%-4lld %s\n", name, (long long)s->heads, (long long)s->seq,
           (long long)s->dim, line);
    ok ? passed++ : failed++;
    free(q), free(k), free(v), free(o), free(ref);
}

static void check_masked(const ripple_variant *var, const nc_mask_case *c, uint64_t seed)
{
    char line[640];
    int ok = nc_mask_case_run(c, seed, var->fn.attn_masked, 0, line, sizeof line);
    printf("attn_masked %-7s %s h%lld %lldx%lldx%lld+%lld d%-4lld %s\n", var->name,
           c->kind == RIPPLE_MASK_BOX ? "box " : c->kind == RIPPLE_MASK_TOPK ? "topk" : "all ", (long long)c->heads,
           (long long)c->T, (long long)c->H, (long long)c->W, (long long)(c->text_before + c->text_after),
           (long long)c->dim, line);
    ok ? passed++ : failed++;
}

static void check_f64(const ripple_variant *var, const shape *s, uint64_t seed)
{
    const size_t n = (size_t)(s->heads * s->seq * s->dim);
    float *q, *k, *v;
    double *o = malloc(n * 8), *ref = malloc(n * 8);
    random_inputs(s, seed, &q, &k, &v);
    if (!o || !ref) no_memory();
    for (size_t i = 0; i < n; i++) o[i] = NAN;
    const double scale = 1.0 / sqrt((double)s->dim);
    char line[640];
    int ok = 0;
    ripple_status st = var->fn.attn_f64(s->heads, s->seq, s->dim, scale, q, k, v, o);
    if (st == RIPPLE_OK) st = ripple_attn_exact_f64(s->heads, s->seq, s->dim, scale, q, k, v, ref);
    if (st != RIPPLE_OK) {
        snprintf(line, sizeof line, "FAILED: %s", ripple_last_error());
    } else {
        nc_attn_result res;
        nc_check_f64(s->heads, s->seq, s->dim, scale, q, k, v, o, ref, &res);
        ok = res.ok;
        snprintf(line, sizeof line, "%snmse %.3e (atol %.3e)%s%s", ok ? "ok " : "FAILED: ", res.nmse, res.atol,
                 ok ? "" : ": ", ok ? "" : res.why);
    }
    printf("attn_f64    %-7s h%lld n%-5lld d%-4lld %s\n", var->name, (long long)s->heads, (long long)s->seq,
           (long long)s->dim, line);
    ok ? passed++ : failed++;
    free(q), free(k), free(v), free(o), free(ref);
}

typedef struct tcase {
    int64_t grid[3], text_before, text_after, dim;
    int window;
    ripple_threshold_mode mode;
    double theta[3];
    unsigned axes, groups;
} tcase;

static const tcase TCASES[] = {
    {{5, 6, 7}, 3, 2, 24, 2, RIPPLE_THRESHOLD_ABSOLUTE, {0.6, 0.5, 0.4}, 0, 0},
    {{4, 8, 9}, 0, 0, 64, 3, RIPPLE_THRESHOLD_ABSOLUTE, {0.8, 0.7, 0.9}, 0, 0},
    {{6, 5, 11}, 7, 0, 32, 2, RIPPLE_THRESHOLD_CHANNEL, {1.0, 0.8, 1.2}, 0, 0},
    {{7, 9, 4}, 1, 5, 48, 3, RIPPLE_THRESHOLD_CHANNEL, {0.9, INFINITY, 0.7}, 0x5, 0x3},
    {{1, 12, 13}, 0, 4, 16, 4, RIPPLE_THRESHOLD_ABSOLUTE, {0.5, 0.5, 0.5}, 0, 0},
    {{16, 30, 52}, 512, 0, 128, 2, RIPPLE_THRESHOLD_CHANNEL, {1.0, 1.0, 1.0}, 0, 0},
};

static void check_transform(const ripple_variant *var, const tcase *tc, uint64_t seed)
{
    ripple_layout lay = {{tc->grid[0], tc->grid[1], tc->grid[2]}, 0, tc->text_before, tc->dim, 3, {0, 1, 2}, {0}};
    lay.seq_len = tc->text_before + tc->grid[0] * tc->grid[1] * tc->grid[2] + tc->text_after;
    lay.group_len[0] = tc->dim / 3, lay.group_len[1] = tc->dim / 3, lay.group_len[2] = tc->dim / 3;
    ripple_reuse_params p = {tc->axes, tc->window, tc->mode, {tc->theta[0], tc->theta[1], tc->theta[2]}, tc->groups};
    const size_t nd = (size_t)(lay.seq_len * lay.head_dim);
    float *x = malloc(nd * 4), *y_ref = malloc(nd * 4), *y = malloc(nd * 4);
    ripple_mask_t *m_ref = malloc(nd), *m = malloc(nd);
    if (!x || !y_ref || !y || !m_ref || !m) no_memory();
    /* smooth along t, h, w plus noise, so that some windows are reused */
    tu_rng r = {seed};
    tu_fill_normal(&r, x, nd, 0.3);
    for (int64_t t = 0; t < tc->grid[0]; t++)
        for (int64_t h = 0; h < tc->grid[1]; h++)
            for (int64_t w = 0; w < tc->grid[2]; w++)
                for (int64_t c = 0; c < lay.head_dim; c++)
                    x[(size_t)((lay.video_offset + (t * tc->grid[1] + h) * tc->grid[2] + w) * lay.head_dim + c)] +=
                        (float)(sin(0.3 * (double)t + 0.1 * (double)c) + cos(0.2 * (double)h) * sin(0.25 * (double)w));
    memset(y, 0x7f, nd * 4);
    memset(m, 0xee, nd);
    char line[256];
    int ok = 0;
    ripple_status st = ripple_reuse_apply_c(&lay, &p, x, y_ref, m_ref);
    if (st == RIPPLE_OK) st = var->fn.transform(&lay, &p, x, y, m);
    if (st != RIPPLE_OK) {
        snprintf(line, sizeof line, "FAILED: %s", ripple_last_error());
    } else {
        size_t dm = 0, dv = 0, reused = 0;
        for (size_t i = 0; i < nd; i++) {
            dm += m[i] != m_ref[i];
            dv += memcmp(&y[i], &y_ref[i], 4) != 0;
            reused += m_ref[i] != 0;
        }
        ok = dm == 0 && dv == 0;
        snprintf(line, sizeof line, "%s%zu of %zu entries reused; %zu masks and %zu values differ",
                 ok ? "ok " : "FAILED: ", reused, nd, dm, dv);
    }
    printf("transform   %-7s %lldx%lldx%lld+%lld d%-4lld win %d %s %s\n", var->name, (long long)tc->grid[0],
           (long long)tc->grid[1], (long long)tc->grid[2], (long long)(tc->text_before + tc->text_after),
           (long long)tc->dim, tc->window, tc->mode == RIPPLE_THRESHOLD_CHANNEL ? "channel " : "absolute", line);
    ok ? passed++ : failed++;
    free(x), free(y_ref), free(y), free(m_ref), free(m);
}

int main(int argc, char **argv)
{
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: test_cuda [--seed N]\n");
            return 2;
        }
    }
    if (!ripple_cuda_available()) {
        printf("test_cuda: skipped: no CUDA device (or CUDA not built in)\n");
        return 77;
    }
    printf("test_cuda: seed %llu\n", (unsigned long long)seed);
    for (int path = 0; path < RIPPLE_CUDA_PATH_COUNT; path++)
        for (size_t si = 0; si < sizeof SHAPES / sizeof SHAPES[0]; si++) check_attn_path(path, &SHAPES[si], seed + si);
    for (int i = 0; i < ripple_variant_count(RIPPLE_OP_ATTN_MASKED); i++) {
        const ripple_variant *var = ripple_variant_get(RIPPLE_OP_ATTN_MASKED, i);
        if (var->backend != RIPPLE_BACKEND_CUDA) continue;
        for (int ci = 0; ci < NC_MASK_CASE_COUNT; ci++) check_masked(var, &NC_MASK_CASES[ci], seed + 200 + (uint64_t)ci);
    }
    for (int i = 0; i < ripple_variant_count(RIPPLE_OP_ATTN_F64); i++) {
        const ripple_variant *var = ripple_variant_get(RIPPLE_OP_ATTN_F64, i);
        if (var->backend != RIPPLE_BACKEND_CUDA) continue;
        for (size_t si = 0; si < sizeof SHAPES / sizeof SHAPES[0]; si++) check_f64(var, &SHAPES[si], seed + 300 + si);
    }
    for (int i = 0; i < ripple_variant_count(RIPPLE_OP_TRANSFORM); i++) {
        const ripple_variant *var = ripple_variant_get(RIPPLE_OP_TRANSFORM, i);
        if (var->backend != RIPPLE_BACKEND_CUDA) continue;
        for (size_t ti = 0; ti < sizeof TCASES / sizeof TCASES[0]; ti++) check_transform(var, &TCASES[ti], seed + 100 + ti);
    }
    printf("test_cuda: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
