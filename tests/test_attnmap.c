/* Attention-map baselines (attnmap.h) against brute-force float64 versions
 * on small grids with text tokens before and after the video tokens:
 * full mask = exact attention, masked attention = float64 softmax over the
 * kept keys, densities counted entry by entry, the oracle keeps the largest
 * scores, the window and svg rules and radii re-derived from their
 * definitions, and svg picks the mask that the data favours. */
#include "ripple/attnmap.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* float32 unit roundoff */
#define U32 (0x1.0p-24)

typedef struct {
    ripple_layout lay;
    int64_t heads;
    double scale;
    float *q, *k, *v;
} fixture;

/* grid T,H,W; `pre` text tokens before the video tokens and `post` after. */
static void fx_init(fixture *f, int64_t T, int64_t H, int64_t W, int64_t pre, int64_t post, int64_t d,
                    int64_t heads, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    f->lay.grid[0] = T, f->lay.grid[1] = H, f->lay.grid[2] = W;
    f->lay.video_offset = pre;
    f->lay.seq_len = pre + T * H * W + post;
    f->lay.head_dim = d;
    f->heads = heads;
    f->scale = 1.0 / sqrt((double)d);
    size_t n = (size_t)heads * (size_t)f->lay.seq_len * (size_t)d;
    f->q = malloc(n * sizeof(float));
    f->k = malloc(n * sizeof(float));
    f->v = malloc(n * sizeof(float));
    cr_assert(f->q && f->k && f->v);
    tu_rng r = {seed};
    cr_log_info("attnmap fixture seed %llu", (unsigned long long)seed);
    tu_fill_normal(&r, f->q, n, 1.0);
    tu_fill_normal(&r, f->k, n, 1.0);
    tu_fill_normal(&r, f->v, n, 1.0);
}

static void fx_free(fixture *f)
{
    free(f->q);
    free(f->k);
    free(f->v);
}

static int is_video(const ripple_layout *lay, int64_t i)
{
    return i >= lay->video_offset && i < lay->video_offset + lay->grid[0] * lay->grid[1] * lay->grid[2];
}

/* float64 scores of row i of head h: sc[seq]; bound[j] = the float32 error
 * bound of each score: gamma_d * scale * sum_c |q_c k_c| (any summation
 * order, FMA or not), gamma_d = d u / (1 - d u). */
static void scores_f64(const fixture *f, int64_t h, int64_t i, double *sc, double *bound)
{
    const int64_t n = f->lay.seq_len, d = f->lay.head_dim;
    const float *q = f->q + ((size_t)h * (size_t)n + (size_t)i) * (size_t)d;
    const double gamma = (double)d * U32 / (1.0 - (double)d * U32);
    for (int64_t j = 0; j < n; j++) {
        const float *k = f->k + ((size_t)h * (size_t)n + (size_t)j) * (size_t)d;
        double acc = 0, mag = 0;
        for (int64_t c = 0; c < d; c++) {
            acc += (double)q[c] * (double)k[c];
            mag += fabs((double)q[c] * (double)k[c]);
        }
        sc[j] = f->scale * acc;
        if (bound) bound[j] = gamma * f->scale * mag + U32 * fabs(sc[j]);
    }
}

/* Brute-force masked attention of one head in float64 with the kept keys
 * from ripple_attnmap_keep; out: [seq, dim]. Returns the largest score
 * error bound seen (for the tolerance). */
static double masked_f64(const fixture *f, const ripple_attnmap *m, int64_t h, double *out)
{
    const int64_t n = f->lay.seq_len, d = f->lay.head_dim;
    uint8_t *keep = malloc((size_t)n * (size_t)n);
    double *sc = malloc((size_t)n * sizeof *sc), *bd = malloc((size_t)n * sizeof *bd);
    cr_assert(keep && sc && bd);
    cr_assert_eq(ripple_attnmap_keep(m, h, 0, n, keep), RIPPLE_OK, "%s", ripple_last_error());
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        scores_f64(f, h, i, sc, bd);
        const uint8_t *kr = keep + (size_t)i * (size_t)n;
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < n; j++)
            if (kr[j]) {
                mx = fmax(mx, sc[j]);
                worst = fmax(worst, bd[j]);
            }
        double *o = out + (size_t)i * (size_t)d;
        for (int64_t c = 0; c < d; c++) o[c] = 0;
        for (int64_t j = 0; j < n; j++) {
            if (!kr[j]) continue;
            double p = exp(sc[j] - mx);
            sum += p;
            const float *vj = f->v + ((size_t)h * (size_t)n + (size_t)j) * (size_t)d;
            for (int64_t c = 0; c < d; c++) o[c] += p * (double)vj[c];
        }
        for (int64_t c = 0; c < d; c++) o[c] /= sum;
    }
    free(keep);
    free(sc);
    free(bd);
    return worst;
}

/* apply() against the float64 brute force, every head. Tolerance: each
 * probability carries the relative error of exp of a score off by at most
 * `worst` (e^x - 1 ~ x, twice: the entry and the max), plus the float row
 * sum and the rescale (a few u, times 8 for slack over the accumulation of
 * n terms in float lanes); the output is a convex combination of v, so the
 * absolute error is at most that relative error times 2 max|v| (the sum and
 * the weights both move), plus the float PV accumulation (gamma_n max|v|). */
static void check_apply(const fixture *f, const ripple_attnmap *m, const char *what)
{
    const int64_t n = f->lay.seq_len, d = f->lay.head_dim, nh = f->heads;
    size_t per = (size_t)n * (size_t)d;
    float *o = malloc(per * (size_t)nh * sizeof *o);
    double *ref = malloc(per * sizeof *ref);
    cr_assert(o && ref);
    cr_assert_eq(ripple_attnmap_apply(m, o), RIPPLE_OK, "%s", ripple_last_error());
    double vmax = 0;
    for (size_t i = 0; i < per * (size_t)nh; i++) vmax = fmax(vmax, fabs((double)f->v[i]));
    for (int64_t h = 0; h < nh; h++) {
        double worst = masked_f64(f, m, h, ref);
        double gamma_n = (double)n * U32 / (1.0 - (double)n * U32);
        double rel = 2.0 * worst + 8.0 * 8.0 * U32;
        double atol = 2.0 * rel * vmax + gamma_n * vmax;
        int64_t bad = tu_first_mismatch_f64(o + (size_t)h * per, ref, per, atol, 0.0);
        cr_expect_eq(bad, -1, "%s: head %lld: element %lld: %g vs %g (atol %g)",
                     what, (long long)h, (long long)bad,
                     bad >= 0 ? (double)o[(size_t)h * per + (size_t)bad] : 0.0,
                     bad >= 0 ? ref[bad] : 0.0, atol);
    }
    free(o);
    free(ref);
}

/* Brute-force rule of a box mask with radii r: is key j kept by query i? */
static int box_keeps(const ripple_layout *lay, const int64_t r[3], int64_t i, int64_t j)
{
    if (!is_video(lay, i) || !is_video(lay, j)) return 1;
    const int64_t H = lay->grid[1], W = lay->grid[2];
    int64_t a = i - lay->video_offset, b = j - lay->video_offset;
    int64_t ta = a / (H * W), ha = (a / W) % H, wa = a % W;
    int64_t tb = b / (H * W), hb = (b / W) % H, wb = b % W;
    return llabs(ta - tb) <= r[0] && llabs(ha - hb) <= r[1] && llabs(wa - wb) <= r[2];
}

/* Density of a box rule, counted entry by entry. */
static double box_density_brute(const ripple_layout *lay, const int64_t r[3])
{
    const int64_t n = lay->seq_len;
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) kept += box_keeps(lay, r, i, j);
    return (double)kept / ((double)n * (double)n);
}

/* Kept entries of one head through the public keep(), and a check that
 * every row keeps what `rule` says (rule NULL: no per-entry check). */
static int64_t count_kept(const ripple_attnmap *m, const ripple_layout *lay, int64_t h, const int64_t *rule)
{
    const int64_t n = lay->seq_len;
    uint8_t *keep = malloc((size_t)n * (size_t)n);
    cr_assert(keep);
    cr_assert_eq(ripple_attnmap_keep(m, h, 0, n, keep), RIPPLE_OK, "%s", ripple_last_error());
    int64_t kept = 0, bad = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            int k = keep[(size_t)i * (size_t)n + (size_t)j];
            if (k != 0 && k != 1 && bad++ < 3) cr_expect(0, "keep byte %d is not 0 or 1", k);
            kept += k != 0;
            if (rule && k != box_keeps(lay, rule, i, j) && bad++ < 3)
                cr_expect(0, "head %lld row %lld key %lld: kept %d, rule says %d", (long long)h,
                          (long long)i, (long long)j, k, box_keeps(lay, rule, i, j));
        }
    free(keep);
    return kept;
}

Test(attnmap, kind_names)
{
    for (int k = 0; k < RIPPLE_ATTNMAP_COUNT; k++)
        cr_expect_eq(ripple_attnmap_kind_parse(ripple_attnmap_kind_name((ripple_attnmap_kind)k)), k);
    cr_expect_eq(ripple_attnmap_kind_parse("topk"), -1);
    cr_expect_eq(ripple_attnmap_kind_parse(NULL), -1);
}

Test(attnmap, invalid_arguments)
{
    fixture f;
    fx_init(&f, 2, 3, 3, 2, 0, 16, 1, 11);
    ripple_attnmap *m = (ripple_attnmap *)&f; /* must be reset to NULL on failure */
    ripple_attnmap_params p = {.kind = RIPPLE_ATTNMAP_WINDOW, .density = 1.5};
    cr_expect_eq(ripple_attnmap_build(&f.lay, &p, 1, f.scale, f.q, f.k, f.v, &m), RIPPLE_ERR_INVALID);
    cr_expect_null(m);
    p.density = NAN;
    cr_expect_eq(ripple_attnmap_build(&f.lay, &p, 1, f.scale, f.q, f.k, f.v, &m), RIPPLE_ERR_INVALID);
    p.density = 0.5;
    p.kind = (ripple_attnmap_kind)9;
    cr_expect_eq(ripple_attnmap_build(&f.lay, &p, 1, f.scale, f.q, f.k, f.v, &m), RIPPLE_ERR_INVALID);
    p.kind = RIPPLE_ATTNMAP_SVG;
    cr_expect_eq(ripple_attnmap_build(&f.lay, &p, 0, f.scale, f.q, f.k, f.v, &m), RIPPLE_ERR_INVALID);
    cr_expect_eq(ripple_attnmap_build(&f.lay, &p, 1, f.scale, NULL, f.k, f.v, &m), RIPPLE_ERR_INVALID);
    cr_expect_neq(ripple_last_error()[0], '\0');
    cr_assert_eq(ripple_attnmap_build(&f.lay, &p, 1, f.scale, f.q, f.k, f.v, &m), RIPPLE_OK);
    uint8_t keep[64];
    cr_expect_eq(ripple_attnmap_keep(m, 1, 0, 1, keep), RIPPLE_ERR_NOT_FOUND);
    cr_expect_eq(ripple_attnmap_keep(m, 0, f.lay.seq_len, 1, keep), RIPPLE_ERR_NOT_FOUND);
    ripple_attnmap_head_info hi;
    cr_expect_eq(ripple_attnmap_head(m, -1, &hi), RIPPLE_ERR_NOT_FOUND);
    ripple_attnmap_free(m);
    ripple_attnmap_free(NULL);
    fx_free(&f);
}

/* The full mask is exact attention: against ripple_attn_exact_f64. */
Test(attnmap, full_mask_is_exact_attention)
{
    fixture f;
    fx_init(&f, 3, 4, 5, 7, 2, 32, 2, 1);
    ripple_attnmap *m;
    ripple_attnmap_params p = {0}; /* zeroed: full */
    cr_assert_eq(ripple_attnmap_build(&f.lay, &p, f.heads, f.scale, f.q, f.k, f.v, &m), RIPPLE_OK);
    cr_expect_eq(ripple_attnmap_density(m), 1.0);
    const int64_t n = f.lay.seq_len, d = f.lay.head_dim;
    size_t total = (size_t)f.heads * (size_t)n * (size_t)d;
    float *o = malloc(total * sizeof *o);
    double *ref = malloc(total * sizeof *ref);
    cr_assert(o && ref);
    cr_assert_eq(ripple_attnmap_apply(m, o), RIPPLE_OK);
    cr_assert_eq(ripple_attn_exact_f64(f.heads, n, d, f.scale, f.q, f.k, f.v, ref), RIPPLE_OK);
    /* |v| <= ~5 for 2*69*32 normals; scores off by <= gamma_32 * 3.6 ~ 7e-6
     * (scale * sum |q k| ~ 0.18 * 20 for normals): relative error of the
     * weights ~ 2e-5, so 1e-4 absolute on outputs of size ~1 has 5x slack
     * (check_apply below derives the bound from the data). */
    cr_expect_eq(tu_first_mismatch_f64(o, ref, total, 1e-4, 0.0), -1);
    cr_expect_lt(tu_nmse_f64(o, ref, total), 1e-10);
    check_apply(&f, m, "full");
    ripple_attnmap_free(m);
    free(o);
    free(ref);
    fx_free(&f);
}

Test(attnmap, oracle_topk_keeps_the_largest_scores)
{
    fixture f;
    fx_init(&f, 3, 4, 5, 7, 2, 32, 2, 2);
    const int64_t n = f.lay.seq_len;
    const double targets[] = {0.01, 0.3, 0.5, 0.77, 1.0};
    double *sc = malloc((size_t)n * sizeof *sc), *bd = malloc((size_t)n * sizeof *bd);
    uint8_t *keep = malloc((size_t)n * (size_t)n);
    cr_assert(sc && bd && keep);
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        ripple_attnmap *m;
        ripple_attnmap_params p = {.kind = RIPPLE_ATTNMAP_ORACLE_TOPK, .density = targets[t]};
        cr_assert_eq(ripple_attnmap_build(&f.lay, &p, f.heads, f.scale, f.q, f.k, f.v, &m), RIPPLE_OK);
        int64_t kk = (int64_t)ceil(targets[t] * (double)n);
        cr_expect_eq(ripple_attnmap_density(m), (double)kk / (double)n, "target %g", targets[t]);
        for (int64_t h = 0; h < f.heads; h++) {
            ripple_attnmap_head_info hi;
            cr_assert_eq(ripple_attnmap_head(m, h, &hi), RIPPLE_OK);
            cr_expect_eq(hi.topk, kk);
            cr_assert_eq(ripple_attnmap_keep(m, h, 0, n, keep), RIPPLE_OK);
            for (int64_t i = 0; i < n; i++) {
                const uint8_t *kr = keep + (size_t)i * (size_t)n;
                scores_f64(&f, h, i, sc, bd);
                int64_t cnt = 0;
                double min_kept = INFINITY, max_dropped = -INFINITY;
                for (int64_t j = 0; j < n; j++) {
                    cnt += kr[j];
                    /* within the float32 score error of each side */
                    if (kr[j]) min_kept = fmin(min_kept, sc[j] + bd[j]);
                    else max_dropped = fmax(max_dropped, sc[j] - bd[j]);
                }
                cr_expect_eq(cnt, kk, "target %g head %lld row %lld keeps %lld", targets[t], (long long)h,
                             (long long)i, (long long)cnt);
                cr_expect_geq(min_kept, max_dropped, "target %g head %lld row %lld drops a larger score",
                              targets[t], (long long)h, (long long)i);
            }
            cr_expect_eq(count_kept(m, &f.lay, h, NULL), kk * n);
        }
        check_apply(&f, m, "oracle-topk");
        ripple_attnmap_free(m);
    }
    free(sc);
    free(bd);
    free(keep);
    fx_free(&f);
}

/* Ties go to the lower key index: all keys equal. */
Test(attnmap, oracle_topk_ties)
{
    fixture f;
    fx_init(&f, 2, 2, 2, 1, 0, 8, 1, 3);
    const int64_t n = f.lay.seq_len, d = f.lay.head_dim;
    /* Ties must be exact by construction: no BLAS promises that identical key
     * rows give bit-identical scores (OpenBLAS's FMA kernels compute the
     * column past an 8-wide block by another path, 1-2 ulp apart). With q in
     * multiples of 1/4 (|q| <= 4), k = 1/2 and scale 1/4, every product and
     * every partial sum of a score is a multiple of 1/32 below 2^4, exact in
     * float32 in any order, with or without FMA, wherever alpha is applied. */
    for (int64_t i = 0; i < n * d; i++) {
        float x = roundf(f.q[i] * 4.0f) / 4.0f;
        f.q[i] = x > 4.0f ? 4.0f : x < -4.0f ? -4.0f : x;
    }
    for (int64_t j = 0; j < n; j++)
        for (int64_t c = 0; c < d; c++) f.k[j * d + c] = 0.5f;
    const double scale = 0.25;
    ripple_attnmap *m;
    ripple_attnmap_params p = {.kind = RIPPLE_ATTNMAP_ORACLE_TOPK, .density = 0.4};
    cr_assert_eq(ripple_attnmap_build(&f.lay, &p, 1, scale, f.q, f.k, f.v, &m), RIPPLE_OK);
    uint8_t keep[81];
    cr_assert_eq(ripple_attnmap_keep(m, 0, 0, n, keep), RIPPLE_OK);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            cr_expect_eq(keep[i * n + j], j < 4, "row %lld key %lld", (long long)i, (long long)j);
    ripple_attnmap_free(m);
    fx_free(&f);
}

Test(attnmap, window_radii_rule_and_density)
{
    fixture f;
    fx_init(&f, 3, 4, 5, 7, 2, 16, 2, 4);
    const double targets[] = {0.0001, 0.2, 0.35, 0.5, 0.75, 0.9, 0.999, 1.0};
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        ripple_attnmap *m;
        ripple_attnmap_params p = {.kind = RIPPLE_ATTNMAP_WINDOW, .density = targets[t]};
        cr_assert_eq(ripple_attnmap_build(&f.lay, &p, f.heads, f.scale, f.q, f.k, f.v, &m), RIPPLE_OK);
        /* the ladder by its definition, densities counted entry by entry */
        int64_t r[3] = {0, 0, 0};
        int next = 0;
        while (box_density_brute(&f.lay, r) < targets[t]) {
            int a = -1;
            for (int s = 0; s < 3 && a < 0; s++)
                if (r[(next + s) % 3] < f.lay.grid[(next + s) % 3] - 1) a = (next + s) % 3;
            if (a < 0) break;
            r[a]++;
            next = (a + 1) % 3;
        }
        double want = box_density_brute(&f.lay, r);
        for (int64_t h = 0; h < f.heads; h++) {
            ripple_attnmap_head_info hi;
            cr_assert_eq(ripple_attnmap_head(m, h, &hi), RIPPLE_OK);
            cr_expect(hi.radius[0] == r[0] && hi.radius[1] == r[1] && hi.radius[2] == r[2],
                      "target %g: radii %lld,%lld,%lld, want %lld,%lld,%lld", targets[t],
                      (long long)hi.radius[0], (long long)hi.radius[1], (long long)hi.radius[2],
                      (long long)r[0], (long long)r[1], (long long)r[2]);
            int64_t kept = count_kept(m, &f.lay, h, r);
            double n2 = (double)f.lay.seq_len * (double)f.lay.seq_len;
            /* densities are ratios of integers below 2^53: exact to 1 ulp */
            cr_expect_float_eq(hi.density, (double)kept / n2, 1e-15);
            cr_expect_float_eq(hi.density, want, 1e-15);
        }
        cr_expect_float_eq(ripple_attnmap_density(m), want, 1e-15);
        if (targets[t] >= 0.2) cr_expect_geq(ripple_attnmap_density(m), targets[t]);
        check_apply(&f, m, "window");
        ripple_attnmap_free(m);
    }
    fx_free(&f);
}

/* Head 0: q = k = one-hot of the position (h, w), so a query attends to its
 * own position in every frame (temporal wins). Head 1: one-hot of the frame,
 * so a query attends to its own frame (spatial wins). */
static void plant_svg(fixture *f)
{
    const int64_t n = f->lay.seq_len, d = f->lay.head_dim, vo = f->lay.video_offset;
    const int64_t H = f->lay.grid[1], W = f->lay.grid[2];
    const int64_t nv = f->lay.grid[0] * H * W;
    cr_assert_geq(d, H * W);
    for (int64_t h = 0; h < 2; h++)
        for (int64_t x = 0; x < nv; x++) {
            float *q = f->q + ((size_t)h * (size_t)n + (size_t)(vo + x)) * (size_t)d;
            float *k = f->k + ((size_t)h * (size_t)n + (size_t)(vo + x)) * (size_t)d;
            int64_t hot = h == 0 ? x % (H * W) : x / (H * W);
            for (int64_t c = 0; c < d; c++) {
                q[c] = 0.01f * q[c] + (c == hot ? 6.0f : 0.0f);
                k[c] = 0.01f * k[c] + (c == hot ? 6.0f : 0.0f);
            }
        }
}

Test(attnmap, svg_choice_widening_and_rule)
{
    fixture f;
    fx_init(&f, 3, 4, 5, 7, 2, 32, 2, 5);
    plant_svg(&f);
    const int64_t T = f.lay.grid[0], H = f.lay.grid[1], W = f.lay.grid[2];
    const double targets[] = {0.05, 0.3, 0.6, 0.95};
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        ripple_attnmap *m;
        ripple_attnmap_params p = {.kind = RIPPLE_ATTNMAP_SVG, .density = targets[t], .svg_rows = 16};
        cr_assert_eq(ripple_attnmap_build(&f.lay, &p, f.heads, f.scale, f.q, f.k, f.v, &m), RIPPLE_OK);
        for (int64_t h = 0; h < f.heads; h++) {
            ripple_attnmap_head_info hi;
            cr_assert_eq(ripple_attnmap_head(m, h, &hi), RIPPLE_OK);
            cr_expect_eq(hi.svg_temporal, h == 0, "head %lld: mse spatial %g temporal %g", (long long)h,
                         hi.svg_mse[0], hi.svg_mse[1]);
            cr_expect_eq(hi.svg_temporal, hi.svg_mse[1] < hi.svg_mse[0]);
            /* the smallest widening that reaches the target */
            int64_t r[3];
            if (hi.svg_temporal) {
                int64_t s = 0;
                for (;; s++) {
                    r[0] = T - 1, r[1] = s < H - 1 ? s : H - 1, r[2] = s < W - 1 ? s : W - 1;
                    if (box_density_brute(&f.lay, r) >= targets[t] || (r[1] == H - 1 && r[2] == W - 1)) break;
                }
            } else {
                r[1] = H - 1, r[2] = W - 1;
                for (r[0] = 0; r[0] < T - 1 && box_density_brute(&f.lay, r) < targets[t]; r[0]++) {}
            }
            cr_expect(hi.radius[0] == r[0] && hi.radius[1] == r[1] && hi.radius[2] == r[2],
                      "target %g head %lld: radii %lld,%lld,%lld, want %lld,%lld,%lld", targets[t], (long long)h,
                      (long long)hi.radius[0], (long long)hi.radius[1], (long long)hi.radius[2],
                      (long long)r[0], (long long)r[1], (long long)r[2]);
            int64_t kept = count_kept(m, &f.lay, h, r);
            cr_expect_float_eq(hi.density, (double)kept / ((double)f.lay.seq_len * (double)f.lay.seq_len), 1e-15);
        }
        check_apply(&f, m, "svg");
        ripple_attnmap_free(m);
    }
    fx_free(&f);
}

/* One frame and no text: the spatial mask is the whole grid (error 0). */
Test(attnmap, svg_single_frame_no_text)
{
    fixture f;
    fx_init(&f, 1, 3, 3, 0, 0, 8, 1, 6);
    ripple_attnmap *m;
    ripple_attnmap_params p = {.kind = RIPPLE_ATTNMAP_SVG, .density = 0.5};
    cr_assert_eq(ripple_attnmap_build(&f.lay, &p, 1, f.scale, f.q, f.k, f.v, &m), RIPPLE_OK);
    ripple_attnmap_head_info hi;
    cr_assert_eq(ripple_attnmap_head(m, 0, &hi), RIPPLE_OK);
    cr_expect_eq(hi.svg_temporal, 0);
    cr_expect_eq(hi.svg_mse[0], 0.0);
    cr_expect_eq(ripple_attnmap_density(m), 1.0);
    check_apply(&f, m, "svg");
    ripple_attnmap_free(m);
    fx_free(&f);
}
