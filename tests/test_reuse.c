/* The ripple transform (method.md section 1) against an independent,
 * literal brute force, and reuse attention against a brute force that copies
 * per-channel partial scores.
 *
 * The reference here shares no code with lib/src/reuse.c: it visits every
 * video token, finds its window along each axis by integer division, computes
 * delta with the pairwise formula var = sum_{i<j} (x_i - x_j)^2 / n^2 (the
 * library uses |x0 - x1| / 2 and two-pass mean/variance), stores an explicit
 * source per entry, and resolves in token order.
 *
 * Exactness: values are multiples of 1/8, so each window's delta is
 * sqrt(k) / (8 n) for an integer k, and the two delta formulas agree to a few
 * ulps. The reference counts every decision where |delta - theta| is within
 * AMBIG_REL of theta; the tests require that count to be 0, so the strict
 * comparison delta < theta has the same outcome in both implementations and
 * x_out and mask must agree bit for bit. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Two delta formulas differ by a few ulps (~1e-15 relative); a decision
 * closer than this to theta would not be a meaningful exact comparison. */
#define AMBIG_REL 1e-9

/* Checks in hot loops: Criterion records every cr_assert with --full-stats,
 * which is slow for millions of elements, so only a failure goes through it. */
#define CHECK(cond, ...)                         \
    do {                                         \
        if (!(cond)) cr_assert_fail(__VA_ARGS__); \
    } while (0)

/* ------------------------------------------------------------ reference */

static int ref_group(const ripple_layout *lay, int64_t c)
{
    int64_t end = 0;
    for (int g = 0; g < lay->num_groups; g++) {
        end += lay->group_len[g];
        if (c < end) return g;
    }
    return -1;
}

static int64_t ref_token(const ripple_layout *lay, const int64_t co[3])
{
    return lay->video_offset + (co[0] * lay->grid[1] + co[1]) * lay->grid[2] + co[2];
}

/* delta of channel c over the window starting at co (co[a] = window start)
 * of n positions along a: pairwise formula, in double. */
static double ref_delta(const ripple_layout *lay, const float *x, int a, const int64_t co[3],
                        int64_t n, int64_t c)
{
    double v[64];
    CHECK(n <= 64, "window too long");
    for (int64_t k = 0; k < n; k++) {
        int64_t p[3] = {co[0], co[1], co[2]};
        p[a] += k;
        v[k] = (double)x[ref_token(lay, p) * lay->head_dim + c];
    }
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) s += (v[i] - v[j]) * (v[i] - v[j]);
    return sqrt(s / (double)(n * n));
}

/* Mean over windows along a of delta(c), brute force over the tokens that
 * start a window. */
static double ref_delta_mean(const ripple_layout *lay, const float *x, int a, int win, int64_t c)
{
    double sum = 0.0;
    int64_t count = 0;
    int64_t co[3];
    for (co[0] = 0; co[0] < lay->grid[0]; co[0]++)
        for (co[1] = 0; co[1] < lay->grid[1]; co[1]++)
            for (co[2] = 0; co[2] < lay->grid[2]; co[2]++) {
                if (co[a] % win != 0) continue;
                int64_t n = lay->grid[a] - co[a];
                if (n > win) n = win;
                if (n < 2) continue;
                sum += ref_delta(lay, x, a, co, n, c);
                count++;
            }
    return count ? sum / (double)count : 0.0;
}

typedef struct ref_out {
    float *x;      /* [N, d] rippled */
    uint8_t *mask; /* [N, d] */
    int64_t *src;  /* [N, d] source token of a reused entry, -1 if computed */
    int64_t ambiguous;
} ref_out;

static void ref_reuse(const ripple_layout *lay, const ripple_reuse_params *p, const float *x,
                      ref_out *r)
{
    const int64_t N = lay->seq_len, d = lay->head_dim;
    const unsigned axes = p->axes ? p->axes : 7u;
    const unsigned groups = p->groups ? p->groups : 7u;
    const int win = p->window ? p->window : 2;
    double *theta = malloc(sizeof(double) * 3 * (size_t)d); /* [3][d] */
    for (int a = 0; a < 3; a++)
        for (int64_t c = 0; c < d; c++) {
            double th = p->theta[a];
            if (p->mode == RIPPLE_THRESHOLD_CHANNEL && !isinf(th))
                th = th * ref_delta_mean(lay, x, a, win, c);
            theta[a * d + c] = th;
        }
    memset(r->mask, 0, (size_t)(N * d));
    for (int64_t i = 0; i < N * d; i++) r->src[i] = -1;
    r->ambiguous = 0;
    const int64_t V = lay->grid[0] * lay->grid[1] * lay->grid[2];
    for (int64_t v = 0; v < V; v++) {
        const int64_t co[3] = {v / (lay->grid[1] * lay->grid[2]), (v / lay->grid[2]) % lay->grid[1],
                               v % lay->grid[2]};
        const int64_t tok = lay->video_offset + v;
        CHECK(tok == ref_token(lay, co), "token coordinates");
        for (int64_t c = 0; c < d; c++) {
            const int g = ref_group(lay, c);
            if (g < 0 || !(groups & (1u << lay->group_axis[g]))) continue;
            for (int a = 0; a < 3; a++) {
                if (!(axes & (1u << a))) continue;
                const int64_t start = (co[a] / win) * win;
                int64_t n = lay->grid[a] - start;
                if (n > win) n = win;
                if (n < 2 || co[a] == start) continue;
                int64_t w0[3] = {co[0], co[1], co[2]};
                w0[a] = start;
                const double delta = ref_delta(lay, x, a, w0, n, c);
                const double th = theta[a * d + c];
                if (isfinite(th) && th > 0 && fabs(delta - th) <= AMBIG_REL * th) r->ambiguous++;
                if (!(delta < th)) continue;
                r->mask[tok * d + c] |= (uint8_t)(1u << a);
                if (r->src[tok * d + c] < 0) r->src[tok * d + c] = ref_token(lay, w0);
            }
        }
    }
    memcpy(r->x, x, sizeof(float) * (size_t)(N * d));
    for (int64_t tok = 0; tok < N; tok++)
        for (int64_t c = 0; c < d; c++)
            if (r->src[tok * d + c] >= 0) {
                CHECK(r->src[tok * d + c] < tok, "source after its dependent");
                r->x[tok * d + c] = r->x[r->src[tok * d + c] * d + c];
            }
    free(theta);
}

static void ref_alloc(ref_out *r, int64_t nd)
{
    r->x = malloc(sizeof(float) * (size_t)nd);
    r->mask = malloc((size_t)nd);
    r->src = malloc(sizeof(int64_t) * (size_t)nd);
}

static void ref_free(ref_out *r)
{
    free(r->x);
    free(r->mask);
    free(r->src);
}

/* ------------------------------------------------------------- fixtures */

static int64_t rand_int(tu_rng *r, int64_t lo, int64_t hi) /* [lo, hi] */
{
    return lo + (int64_t)(tu_next(r) % (uint64_t)(hi - lo + 1));
}

/* A random small layout: T, H, W in 1..5, text tokens before and other
 * tokens after the video, groups of 0..3 channels with random axes, and up to
 * 2 channels in no group. */
static ripple_layout rand_layout(tu_rng *r)
{
    ripple_layout lay;
    memset(&lay, 0, sizeof lay);
    for (int a = 0; a < 3; a++) lay.grid[a] = rand_int(r, 1, 5);
    lay.video_offset = rand_int(r, 0, 3);
    lay.seq_len = lay.video_offset + lay.grid[0] * lay.grid[1] * lay.grid[2] + rand_int(r, 0, 2);
    lay.num_groups = (int)rand_int(r, 0, 3);
    int64_t sum = 0;
    for (int g = 0; g < lay.num_groups; g++) {
        lay.group_axis[g] = (int)rand_int(r, 0, 2);
        lay.group_len[g] = rand_int(r, 0, 3);
        sum += lay.group_len[g];
    }
    lay.head_dim = sum + rand_int(r, sum ? 0 : 1, 2);
    return lay;
}

/* Multiples of 1/8 in [-levels/8, levels/8]. */
static void fill_quantised(tu_rng *r, float *x, int64_t n, int levels)
{
    for (int64_t i = 0; i < n; i++) x[i] = (float)((double)rand_int(r, -levels, levels) / 8.0);
}

static const double abs_thetas[] = {0.07, 0.13, 0.29, 0.41, 0.63};
static const double alphas[] = {0.37, 0.737, 1.291, 2.113};

/* theta kinds: 0 all zero, 1 all INFINITY, 2 random finite per axis,
 * 3 per axis a random pick of 0, INFINITY, finite. */
static void pick_theta(tu_rng *r, ripple_reuse_params *p, int kind)
{
    for (int a = 0; a < 3; a++) {
        double fin = p->mode == RIPPLE_THRESHOLD_CHANNEL ? alphas[rand_int(r, 0, 3)]
                                                         : abs_thetas[rand_int(r, 0, 4)];
        int k = kind == 3 ? (int)rand_int(r, 0, 2) : kind;
        p->theta[a] = k == 0 ? 0.0 : k == 1 ? INFINITY : fin;
    }
}

static void describe(char *buf, size_t n, const ripple_layout *lay, const ripple_reuse_params *p)
{
    snprintf(buf, n,
             "grid %lldx%lldx%lld off %lld seq %lld d %lld groups %d [%d:%lld %d:%lld %d:%lld] | "
             "axes %u win %d mode %d theta %g %g %g groups %u",
             (long long)lay->grid[0], (long long)lay->grid[1], (long long)lay->grid[2],
             (long long)lay->video_offset, (long long)lay->seq_len, (long long)lay->head_dim,
             lay->num_groups, lay->group_axis[0], (long long)lay->group_len[0], lay->group_axis[1],
             (long long)lay->group_len[1], lay->group_axis[2], (long long)lay->group_len[2], p->axes,
             p->window, (int)p->mode, p->theta[0], p->theta[1], p->theta[2], p->groups);
}

/* Library vs reference on one case, plus mask == NULL and in-place runs.
 * Returns the number of reused entries. */
static int64_t check_case(const ripple_layout *lay, const ripple_reuse_params *p, const float *x)
{
    const int64_t nd = lay->seq_len * lay->head_dim;
    char what[512];
    describe(what, sizeof what, lay, p);
    float *xo = malloc(sizeof(float) * (size_t)nd);
    float *xo2 = malloc(sizeof(float) * (size_t)nd);
    uint8_t *mask = malloc((size_t)nd);
    ref_out r;
    ref_alloc(&r, nd);
    ref_reuse(lay, p, x, &r);
    CHECK(r.ambiguous == 0, "%s: %lld decisions within %g of theta; pick other thetas", what,
                 (long long)r.ambiguous, AMBIG_REL);

    memset(mask, 0xAB, (size_t)nd); /* poisoned: every entry must be written */
    for (int64_t i = 0; i < nd; i++) xo[i] = NAN;
    ripple_status st = ripple_reuse_apply(lay, p, x, xo, mask);
    CHECK(st == RIPPLE_OK, "%s: %s", what, ripple_last_error());
    int64_t reused = 0;
    for (int64_t i = 0; i < nd; i++) {
        CHECK(mask[i] == r.mask[i], "%s: mask[%lld,%lld] = %d, reference %d", what,
                     (long long)(i / lay->head_dim), (long long)(i % lay->head_dim), mask[i],
                     r.mask[i]);
        CHECK(memcmp(&xo[i], &r.x[i], sizeof(float)) == 0, "%s: x_out[%lld,%lld] = %g, reference %g",
                  what, (long long)(i / lay->head_dim), (long long)(i % lay->head_dim),
                  (double)xo[i], (double)r.x[i]);
        reused += mask[i] != 0;
    }
    /* without a mask */
    CHECK(ripple_reuse_apply(lay, p, x, xo2, NULL) == RIPPLE_OK, "%s", ripple_last_error());
    CHECK(memcmp(xo2, xo, sizeof(float) * (size_t)nd) == 0, "%s: mask NULL differs", what);
    /* in place */
    memcpy(xo2, x, sizeof(float) * (size_t)nd);
    CHECK(ripple_reuse_apply(lay, p, xo2, xo2, mask) == RIPPLE_OK, "%s", ripple_last_error());
    CHECK(memcmp(xo2, xo, sizeof(float) * (size_t)nd) == 0, "%s: in place differs", what);
    CHECK(memcmp(mask, r.mask, (size_t)nd) == 0, "%s: in-place mask differs", what);
    ref_free(&r);
    free(xo);
    free(xo2);
    free(mask);
    return reused;
}

/* ---------------------------------------------------------------- tests */

Test(reuse, matches_bruteforce_random_small)
{
    const uint64_t seed = 20240611;
    cr_log_info("reuse.matches_bruteforce_random_small: seed %llu", (unsigned long long)seed);
    tu_rng rng = {seed};
    int64_t cases = 0, reused = 0, reused_finite = 0, entries_finite = 0;
    for (int trial = 0; trial < 60; trial++) {
        ripple_layout lay = rand_layout(&rng);
        const int64_t nd = lay.seq_len * lay.head_dim;
        float *x = malloc(sizeof(float) * (size_t)nd);
        fill_quantised(&rng, x, nd, trial % 3 == 0 ? 2 : 8);
        for (unsigned axes = 1; axes <= 7; axes++)
            for (int win = 2; win <= 4; win++)
                for (int mode = 0; mode < 2; mode++)
                    for (int gsel = 0; gsel < 2; gsel++)
                        for (int kind = 0; kind < 4; kind++) {
                            ripple_reuse_params p;
                            memset(&p, 0, sizeof p);
                            p.axes = axes;
                            /* window 2 both as the default 0 and spelled out */
                            p.window = win == 2 && (trial & 1) ? 0 : win;
                            p.mode = (ripple_threshold_mode)mode;
                            p.groups = gsel ? (unsigned)rand_int(&rng, 1, 7) : 0u;
                            pick_theta(&rng, &p, kind);
                            int64_t n = check_case(&lay, &p, x);
                            if (kind == 0) CHECK(n == 0, "theta 0 must reuse nothing");
                            if (kind == 2) {
                                reused_finite += n;
                                entries_finite += nd;
                            }
                            reused += n;
                            cases++;
                        }
        free(x);
    }
    cr_log_info("%lld cases, %lld reused entries; finite thetas reuse %.3f of entries",
                (long long)cases, (long long)reused, (double)reused_finite / (double)entries_finite);
    /* the finite thresholds must make a real mix of decisions */
    cr_assert_gt(reused_finite, entries_finite / 50);
    cr_assert_lt(reused_finite, entries_finite / 2);
}

Test(reuse, matches_bruteforce_model_shape)
{
    /* A capture-like head: 16x24x24 grid after 17 text tokens and 3 trailing
     * tokens, head_dim 64 split 16/24/24 (t, h, w) with no spare channels,
     * then a split with 8 spare channels. */
    const uint64_t seed = 77;
    cr_log_info("reuse.matches_bruteforce_model_shape: seed %llu", (unsigned long long)seed);
    tu_rng rng = {seed};
    ripple_layout lay;
    memset(&lay, 0, sizeof lay);
    lay.grid[0] = 16;
    lay.grid[1] = 24;
    lay.grid[2] = 24;
    lay.video_offset = 17;
    lay.seq_len = 17 + 16 * 24 * 24 + 3;
    lay.head_dim = 64;
    lay.num_groups = 3;
    lay.group_axis[0] = 0;
    lay.group_axis[1] = 1;
    lay.group_axis[2] = 2;
    lay.group_len[0] = 16;
    lay.group_len[1] = 24;
    lay.group_len[2] = 24;
    const int64_t nd = lay.seq_len * lay.head_dim;
    float *x = malloc(sizeof(float) * (size_t)nd);
    fill_quantised(&rng, x, nd, 8);
    for (int v = 0; v < 2; v++) {
        if (v == 1) {
            lay.group_len[1] = 20;
            lay.group_len[2] = 20;
        }
        ripple_reuse_params p;
        memset(&p, 0, sizeof p);
        p.theta[0] = 0.29;
        p.theta[1] = 0.13;
        p.theta[2] = 0.41;
        check_case(&lay, &p, x);
        p.window = 3;
        p.mode = RIPPLE_THRESHOLD_CHANNEL;
        p.theta[0] = 0.737;
        p.theta[1] = 1.291;
        p.theta[2] = INFINITY;
        p.groups = RIPPLE_AXIS_BIT(RIPPLE_AXIS_T) | RIPPLE_AXIS_BIT(RIPPLE_AXIS_W);
        check_case(&lay, &p, x);
    }
    free(x);
}

/* theta = INFINITY on a 2x2x2 grid with every channel in a group: every video
 * token but (0,0,0) copies (0,0,0); text stays. Values need not be quantised. */
Test(reuse, forced_reuse_copies_first_token)
{
    ripple_layout lay;
    memset(&lay, 0, sizeof lay);
    lay.grid[0] = lay.grid[1] = lay.grid[2] = 2;
    lay.video_offset = 1;
    lay.seq_len = 10;
    lay.head_dim = 5;
    lay.num_groups = 2;
    lay.group_axis[0] = RIPPLE_AXIS_H;
    lay.group_len[0] = 2;
    lay.group_axis[1] = RIPPLE_AXIS_T;
    lay.group_len[1] = 3;
    tu_rng rng = {5};
    float x[50], xo[50];
    uint8_t m[50];
    tu_fill_normal(&rng, x, 50, 1.0);
    for (int mode = 0; mode < 2; mode++) {
        ripple_reuse_params p;
        memset(&p, 0, sizeof p);
        p.mode = (ripple_threshold_mode)mode;
        p.theta[0] = p.theta[1] = p.theta[2] = INFINITY;
        cr_assert_eq(ripple_reuse_apply(&lay, &p, x, xo, m), RIPPLE_OK);
        for (int tok = 0; tok < 10; tok++)
            for (int c = 0; c < 5; c++) {
                const int v = tok - 1;
                const int video = v >= 0 && v < 8;
                const float want = (video ? x[5 + c] : x[tok * 5 + c]);
                CHECK(xo[tok * 5 + c] == want, "token %d channel %d", tok, c);
                /* bits: t if t = 1, h if h = 1, w if w = 1 */
                const unsigned bits = video ? (unsigned)(((v >> 2) & 1) | (((v >> 1) & 1) << 1) |
                                                         ((v & 1) << 2))
                                            : 0u;
                CHECK(m[tok * 5 + c] == bits, "token %d channel %d", tok, c);
            }
    }
}

Test(reuse, zero_params_reuse_nothing)
{
    ripple_layout lay;
    memset(&lay, 0, sizeof lay);
    lay.grid[0] = 3;
    lay.grid[1] = 2;
    lay.grid[2] = 2;
    lay.seq_len = 12;
    lay.head_dim = 4;
    lay.num_groups = 1;
    lay.group_len[0] = 4;
    float x[48], xo[48];
    uint8_t m[48];
    for (int i = 0; i < 48; i++) x[i] = 1.0f; /* every delta is 0 */
    ripple_reuse_params p;
    memset(&p, 0, sizeof p);
    cr_assert_eq(ripple_reuse_apply(&lay, &p, x, xo, m), RIPPLE_OK);
    cr_assert_eq(ripple_reuse_apply(&lay, NULL, x, xo, m), RIPPLE_OK);
    for (int i = 0; i < 48; i++) CHECK(m[i] == 0, "entry %d reused", i);
    /* any positive theta reuses every non-first window position of constant
     * data: all tokens but (0,0,0) and (2,0,0), whose t-window {2} is a
     * trailing single position and which is first along h and w */
    p.theta[0] = p.theta[1] = p.theta[2] = 1e-30;
    cr_assert_eq(ripple_reuse_apply(&lay, &p, x, xo, m), RIPPLE_OK);
    int n = 0;
    for (int i = 0; i < 48; i++) n += m[i] != 0;
    cr_assert_eq(n, (12 - 2) * 4);
}

Test(reuse, window_delta_mean_matches_bruteforce)
{
    /* Library (|x0-x1|/2 or two-pass) vs reference (pairwise) on normal
     * values: both are accurate to a few ulps per window, so the means agree
     * to 1e-12 relative (plus 1e-15 absolute for near-zero means). */
    const uint64_t seed = 99;
    cr_log_info("reuse.window_delta_mean_matches_bruteforce: seed %llu", (unsigned long long)seed);
    tu_rng rng = {seed};
    for (int trial = 0; trial < 200; trial++) {
        ripple_layout lay = rand_layout(&rng);
        const int64_t nd = lay.seq_len * lay.head_dim;
        float *x = malloc(sizeof(float) * (size_t)nd);
        tu_fill_normal(&rng, x, (size_t)nd, 1.0);
        double *dm = malloc(sizeof(double) * (size_t)lay.head_dim);
        for (int a = 0; a < 3; a++)
            for (int win = 2; win <= 6; win++) {
                cr_assert_eq(ripple_window_delta_mean(&lay, (ripple_axis)a, win, x, dm), RIPPLE_OK);
                for (int64_t c = 0; c < lay.head_dim; c++) {
                    double ref = ref_delta_mean(&lay, x, a, win, c);
                    CHECK(fabs(dm[c] - ref) <= 1e-15 + 1e-12 * fabs(ref),
                              "trial %d axis %d win %d c %lld: %.17g vs %.17g", trial, a, win,
                              (long long)c, dm[c], ref);
                    if (lay.grid[a] < 2) CHECK(dm[c] == 0.0, "no window must give 0");
                }
            }
        /* window 0 is the default 2 */
        double *dm2 = malloc(sizeof(double) * (size_t)lay.head_dim);
        cr_assert_eq(ripple_window_delta_mean(&lay, RIPPLE_AXIS_W, 0, x, dm2), RIPPLE_OK);
        cr_assert_eq(ripple_window_delta_mean(&lay, RIPPLE_AXIS_W, 2, x, dm), RIPPLE_OK);
        cr_assert(memcmp(dm, dm2, sizeof(double) * (size_t)lay.head_dim) == 0);
        free(dm2);
        free(dm);
        free(x);
    }
}

/* ----------------------------------------------------- reuse attention */

/* Brute-force reuse attention: the score of (i, j) is the sum over channels of
 * partial scores, each COPIED from a table of partial scores of computed
 * pairs: p(i,j,c) = P[rq(i,c)][rk(j,c)][c] where rq, rk follow the sources to
 * a computed entry. Softmax and PV in double. */
static void ref_reuse_attention(int64_t N, int64_t d, double scale, const float *q, const float *k,
                                const float *v, const ref_out *rq, const ref_out *rk, double *o)
{
    double *P = malloc(sizeof(double) * (size_t)(N * N * d)); /* [i][j][c], computed pairs */
    int64_t *sq = malloc(sizeof(int64_t) * (size_t)(N * d)), *sk = malloc(sizeof(int64_t) * (size_t)(N * d));
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < d; c++) {
            int64_t a = i, b = i, steps = 0;
            while (rq->src[a * d + c] >= 0) a = rq->src[a * d + c], steps++;
            while (rk->src[b * d + c] >= 0) b = rk->src[b * d + c], steps++;
            CHECK(steps <= 2 * N, "source chain does not end");
            sq[i * d + c] = a;
            sk[i * d + c] = b;
        }
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < N; j++)
            for (int64_t c = 0; c < d; c++)
                P[(i * N + j) * d + c] = rq->mask[i * d + c] || rk->mask[j * d + c]
                                             ? NAN /* not computed */
                                             : (double)q[i * d + c] * (double)k[j * d + c];
    double *s = malloc(sizeof(double) * (size_t)N);
    for (int64_t i = 0; i < N; i++) {
        double mx = -INFINITY;
        for (int64_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (int64_t c = 0; c < d; c++) {
                const double pc = P[(sq[i * d + c] * N + sk[j * d + c]) * d + c];
                CHECK(!isnan(pc), "copied a partial score that was never computed");
                acc += pc;
            }
            s[j] = scale * acc;
            if (s[j] > mx) mx = s[j];
        }
        double z = 0.0;
        for (int64_t j = 0; j < N; j++) z += (s[j] = exp(s[j] - mx));
        for (int64_t c = 0; c < d; c++) {
            double acc = 0.0;
            for (int64_t j = 0; j < N; j++) acc += s[j] * (double)v[j * d + c];
            o[i * d + c] = acc / z;
        }
    }
    free(s);
    free(P);
    free(sq);
    free(sk);
}

/* softmax(scale Q K^T) V in double, on float inputs. */
static void attention_f64(int64_t N, int64_t d, double scale, const float *q, const float *k,
                          const float *v, double *o)
{
    double *s = malloc(sizeof(double) * (size_t)N);
    for (int64_t i = 0; i < N; i++) {
        double mx = -INFINITY;
        for (int64_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (int64_t c = 0; c < d; c++) acc += (double)q[i * d + c] * (double)k[j * d + c];
            s[j] = scale * acc;
            if (s[j] > mx) mx = s[j];
        }
        double z = 0.0;
        for (int64_t j = 0; j < N; j++) z += (s[j] = exp(s[j] - mx));
        for (int64_t c = 0; c < d; c++) {
            double acc = 0.0;
            for (int64_t j = 0; j < N; j++) acc += s[j] * (double)v[j * d + c];
            o[i * d + c] = acc / z;
        }
    }
    free(s);
}

Test(reuse, attention_equals_copied_partial_scores)
{
    /* The partial scores copied by the brute force are the same products as
     * those of Q~ K~^T (Q~ holds exact copies of computed entries), summed in
     * the same channel order, so the outputs agree up to double rounding of
     * exp and the sums: 1e-12 relative to max |O| is ~1e4 ulps of slack. */
    const double tol = 1e-12;
    const uint64_t seed = 4242;
    cr_log_info("reuse.attention_equals_copied_partial_scores: seed %llu", (unsigned long long)seed);
    tu_rng rng = {seed};
    int64_t reused_total = 0;
    for (int trial = 0; trial < 300; trial++) {
        ripple_layout lay = rand_layout(&rng);
        const int64_t N = lay.seq_len, d = lay.head_dim, nd = N * d;
        float *q = malloc(sizeof(float) * (size_t)nd), *k = malloc(sizeof(float) * (size_t)nd);
        float *v = malloc(sizeof(float) * (size_t)nd);
        float *qt = malloc(sizeof(float) * (size_t)nd), *kt = malloc(sizeof(float) * (size_t)nd);
        uint8_t *mq = malloc((size_t)nd), *mk = malloc((size_t)nd);
        fill_quantised(&rng, q, nd, trial % 2 ? 3 : 8);
        fill_quantised(&rng, k, nd, trial % 2 ? 3 : 8);
        tu_fill_normal(&rng, v, (size_t)nd, 1.0);
        ripple_reuse_params p;
        memset(&p, 0, sizeof p);
        p.axes = (unsigned)rand_int(&rng, 1, 7);
        p.window = (int)rand_int(&rng, 2, 4);
        p.mode = (ripple_threshold_mode)rand_int(&rng, 0, 1);
        p.groups = (unsigned)rand_int(&rng, 0, 7);
        pick_theta(&rng, &p, (int)rand_int(&rng, 1, 3));
        char what[512];
        describe(what, sizeof what, &lay, &p);

        ref_out rq, rk;
        ref_alloc(&rq, nd);
        ref_alloc(&rk, nd);
        ref_reuse(&lay, &p, q, &rq);
        ref_reuse(&lay, &p, k, &rk);
        cr_assert_eq(rq.ambiguous + rk.ambiguous, 0, "%s: ambiguous thresholds", what);
        cr_assert_eq(ripple_reuse_apply(&lay, &p, q, qt, mq), RIPPLE_OK, "%s", ripple_last_error());
        cr_assert_eq(ripple_reuse_apply(&lay, &p, k, kt, mk), RIPPLE_OK, "%s", ripple_last_error());
        cr_assert(memcmp(mq, rq.mask, (size_t)nd) == 0 && memcmp(mk, rk.mask, (size_t)nd) == 0,
                  "%s: masks differ", what);
        for (int64_t i = 0; i < nd; i++) reused_total += (mq[i] != 0) + (mk[i] != 0);

        const double scale = 1.0 / sqrt((double)d);
        double *o_ref = malloc(sizeof(double) * (size_t)nd), *o_lib = malloc(sizeof(double) * (size_t)nd);
        ref_reuse_attention(N, d, scale, q, k, v, &rq, &rk, o_ref);
        attention_f64(N, d, scale, qt, kt, v, o_lib);
        double omax = 0.0;
        for (int64_t i = 0; i < nd; i++) omax = fmax(omax, fabs(o_ref[i]));
        for (int64_t i = 0; i < nd; i++)
            CHECK(fabs(o_lib[i] - o_ref[i]) <= tol * omax, "%s: O[%lld,%lld] %.17g vs %.17g",
                      what, (long long)(i / d), (long long)(i % d), o_lib[i], o_ref[i]);
        free(o_ref);
        free(o_lib);
        ref_free(&rq);
        ref_free(&rk);
        free(q);
        free(k);
        free(v);
        free(qt);
        free(kt);
        free(mq);
        free(mk);
    }
    cr_log_info("%lld reused q/k entries over 300 cases", (long long)reused_total);
    cr_assert_gt(reused_total, 1000);
}

/* ------------------------------------------------------------ rejection */

static ripple_layout small_layout(void)
{
    ripple_layout lay;
    memset(&lay, 0, sizeof lay);
    lay.grid[0] = lay.grid[1] = lay.grid[2] = 2;
    lay.seq_len = 8;
    lay.head_dim = 4;
    lay.num_groups = 1;
    lay.group_len[0] = 4;
    return lay;
}

Test(reuse, rejects_bad_arguments)
{
    ripple_layout lay = small_layout();
    float x[32] = {0}, xo[32];
    uint8_t m[32];
    double dm[4];
    ripple_reuse_params p;
#define REJECT(expr)                                                                  \
    do {                                                                              \
        ripple_status s_ = (expr);                                                    \
        cr_assert_eq(s_, RIPPLE_ERR_INVALID, "%s returned %d", #expr, (int)s_);       \
        cr_assert_neq(ripple_last_error()[0], '\0', "%s left no message", #expr);      \
    } while (0)
    memset(&p, 0, sizeof p);
    p.window = 1;
    REJECT(ripple_reuse_apply(&lay, &p, x, xo, m));
    p.window = -2;
    REJECT(ripple_reuse_apply(&lay, &p, x, xo, m));
    memset(&p, 0, sizeof p);
    p.theta[1] = -0.5;
    REJECT(ripple_reuse_apply(&lay, &p, x, xo, m));
    p.theta[1] = NAN;
    REJECT(ripple_reuse_apply(&lay, &p, x, xo, m));
    p.theta[1] = -INFINITY;
    REJECT(ripple_reuse_apply(&lay, &p, x, xo, m));
    memset(&p, 0, sizeof p);
    p.axes = 0x8;
    REJECT(ripple_reuse_apply(&lay, &p, x, xo, m));
    p.axes = 0;
    p.groups = 0x11;
    REJECT(ripple_reuse_apply(&lay, &p, x, xo, m));
    p.groups = 0;
    p.mode = (ripple_threshold_mode)5;
    REJECT(ripple_reuse_apply(&lay, &p, x, xo, m));
    memset(&p, 0, sizeof p);
    REJECT(ripple_reuse_apply(&lay, &p, NULL, xo, m));
    REJECT(ripple_reuse_apply(&lay, &p, x, NULL, m));
    REJECT(ripple_reuse_apply(NULL, &p, x, xo, m));
    ripple_layout bad = lay;
    bad.grid[1] = 0;
    REJECT(ripple_reuse_apply(&bad, &p, x, xo, m));
    bad = lay;
    bad.video_offset = 1; /* 8 video tokens no longer fit in seq 8 */
    REJECT(ripple_reuse_apply(&bad, &p, x, xo, m));
    bad = lay;
    bad.group_len[0] = 5; /* groups exceed head_dim */
    REJECT(ripple_reuse_apply(&bad, &p, x, xo, m));
    bad = lay;
    bad.group_axis[0] = 3;
    REJECT(ripple_reuse_apply(&bad, &p, x, xo, m));

    REJECT(ripple_window_delta_mean(&lay, (ripple_axis)3, 2, x, dm));
    REJECT(ripple_window_delta_mean(&lay, (ripple_axis)-1, 2, x, dm));
    REJECT(ripple_window_delta_mean(&lay, RIPPLE_AXIS_T, 1, x, dm));
    REJECT(ripple_window_delta_mean(&lay, RIPPLE_AXIS_T, 2, NULL, dm));
    REJECT(ripple_window_delta_mean(&lay, RIPPLE_AXIS_T, 2, x, NULL));
    bad = lay;
    bad.seq_len = 7;
    REJECT(ripple_window_delta_mean(&bad, RIPPLE_AXIS_T, 2, x, dm));
#undef REJECT
    /* INFINITY is a valid theta (forced reuse) */
    memset(&p, 0, sizeof p);
    p.theta[0] = INFINITY;
    cr_assert_eq(ripple_reuse_apply(&lay, &p, x, xo, m), RIPPLE_OK);
}
