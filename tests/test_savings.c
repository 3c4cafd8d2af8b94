/* Savings (method.md section 2) against brute-force counting.
 *
 * The reference counts in exact integers (the sum of nq(c) nk(c) stays far
 * below 2^53 here) and divides once, so the only difference to the library is
 * the rounding of a few double operations: TOL = 1e-12 absolute on fractions
 * in [0, 1] leaves ~4000 ulps of room. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-12

#define CHECK_NEAR(got, want, ...)                                      \
    do {                                                                \
        if (!(fabs((got) - (want)) <= TOL)) cr_assert_fail(__VA_ARGS__); \
    } while (0)

static int64_t rand_int(tu_rng *r, int64_t lo, int64_t hi) /* [lo, hi] */
{
    return lo + (int64_t)(tu_next(r) % (uint64_t)(hi - lo + 1));
}

/* Literal reference of ripple_savings, field by field. */
static void ref_savings(const ripple_layout *lay, const uint8_t *mq, const uint8_t *mk,
                        ripple_savings *s)
{
    const int64_t N = lay->seq_len, d = lay->head_dim;
    memset(s, 0, sizeof *s);
    int64_t sum_nn = 0, rq = 0, rk = 0, full = 0, axq[3] = {0}, axk[3] = {0};
    for (int64_t c = 0; c < d; c++) {
        int64_t nq = N, nk = N;
        for (int64_t i = 0; i < N; i++) {
            if (mq[i * d + c]) nq--;
            if (mk[i * d + c]) nk--;
        }
        sum_nn += nq * nk;
        rq += N - nq;
        rk += N - nk;
    }
    for (int64_t i = 0; i < N; i++) {
        int all = 1;
        for (int64_t c = 0; c < d; c++) {
            if (!mq[i * d + c]) all = 0;
            for (int a = 0; a < 3; a++) {
                if (mq[i * d + c] & (1u << a)) axq[a]++;
                if (mk[i * d + c] & (1u << a)) axk[a]++;
            }
        }
        full += all;
    }
    s->s_score = 1.0 - (double)sum_nn / (double)(N * N * d);
    s->s_attn = s->s_score / 2;
    s->rows_reused = (double)full / (double)N;
    s->q_reused = (double)rq / (double)(N * d);
    s->k_reused = (double)rk / (double)(N * d);
    for (int a = 0; a < 3; a++) {
        s->q_axis[a] = (double)axq[a] / (double)(N * d);
        s->k_axis[a] = (double)axk[a] / (double)(N * d);
    }
    for (int g = 0; g < lay->num_groups; g++) {
        int64_t first = 0;
        for (int h = 0; h < g; h++) first += lay->group_len[h];
        int64_t gq = 0, gk = 0;
        for (int64_t i = 0; i < N; i++)
            for (int64_t c = first; c < first + lay->group_len[g]; c++) {
                gq += mq[i * d + c] != 0;
                gk += mk[i * d + c] != 0;
            }
        if (lay->group_len[g] > 0) {
            s->q_group[g] = (double)gq / (double)(N * lay->group_len[g]);
            s->k_group[g] = (double)gk / (double)(N * lay->group_len[g]);
        }
    }
}

/* All fields of ripple_savings are doubles: view them as an array. */
#define NFIELDS (sizeof(ripple_savings) / sizeof(double))

static void fields(const ripple_savings *s, double *f) { memcpy(f, s, sizeof *s); }

static void check_equal(const ripple_savings *got, const ripple_savings *want, const char *what)
{
    double g[NFIELDS], w[NFIELDS];
    fields(got, g);
    fields(want, w);
    for (size_t i = 0; i < NFIELDS; i++)
        CHECK_NEAR(g[i], w[i], "%s: field %zu is %.17g, reference %.17g", what, i, g[i], w[i]);
}

Test(savings, layout_of_struct_is_all_doubles)
{
    cr_assert_eq(sizeof(ripple_savings), 17 * sizeof(double));
}

Test(savings, matches_bruteforce_random_masks)
{
    const uint64_t seed = 31337;
    cr_log_info("savings.matches_bruteforce_random_masks: seed %llu", (unsigned long long)seed);
    tu_rng rng = {seed};
    for (int trial = 0; trial < 400; trial++) {
        ripple_layout lay;
        memset(&lay, 0, sizeof lay);
        for (int a = 0; a < 3; a++) lay.grid[a] = rand_int(&rng, 1, 4);
        lay.video_offset = rand_int(&rng, 0, 3);
        lay.seq_len = lay.video_offset + lay.grid[0] * lay.grid[1] * lay.grid[2] + rand_int(&rng, 0, 2);
        lay.num_groups = (int)rand_int(&rng, 0, 3);
        int64_t sum = 0;
        for (int g = 0; g < lay.num_groups; g++) {
            lay.group_axis[g] = (int)rand_int(&rng, 0, 2);
            lay.group_len[g] = rand_int(&rng, 0, 4);
            sum += lay.group_len[g];
        }
        lay.head_dim = sum + rand_int(&rng, sum ? 0 : 1, 3);
        const int64_t N = lay.seq_len, d = lay.head_dim, nd = N * d;
        uint8_t *mq = malloc((size_t)nd), *mk = malloc((size_t)nd);
        /* density from none to all; mask values are any of the 8 axis sets */
        const double pq = (trial % 5) / 4.0, pk = tu_uniform(&rng);
        for (int64_t i = 0; i < nd; i++) {
            mq[i] = tu_uniform(&rng) < pq ? (uint8_t)rand_int(&rng, 1, 7) : 0;
            mk[i] = tu_uniform(&rng) < pk ? (uint8_t)rand_int(&rng, 1, 7) : 0;
        }
        /* some rows entirely reused (unless q is to reuse nothing) */
        for (int64_t i = 0; i < N; i++)
            if (pq > 0 && tu_uniform(&rng) < 0.2)
                for (int64_t c = 0; c < d; c++) mq[i * d + c] = (uint8_t)rand_int(&rng, 1, 7);
        ripple_savings got, want;
        cr_assert_eq(ripple_savings_compute(&lay, mq, mk, &got), RIPPLE_OK, "%s", ripple_last_error());
        ref_savings(&lay, mq, mk, &want);
        char what[64];
        snprintf(what, sizeof what, "trial %d", trial);
        check_equal(&got, &want, what);
        if (trial % 5 == 0) { /* nothing reused in q */
            CHECK_NEAR(got.rows_reused, 0.0, "rows");
            CHECK_NEAR(got.q_reused, 0.0, "q");
        }
        if (trial % 5 == 4) { /* everything reused in q: no score is computed */
            CHECK_NEAR(got.s_score, 1.0, "s_score with all q reused");
            CHECK_NEAR(got.s_attn, 0.5, "s_attn");
            CHECK_NEAR(got.rows_reused, 1.0, "rows");
        }
        for (int g = lay.num_groups; g < 3; g++)
            if (got.q_group[g] != 0.0 || got.k_group[g] != 0.0)
                cr_assert_fail("absent group %d is not 0", g);
        free(mq);
        free(mk);
    }
}

/* A hand-worked case: N = 4 tokens (1 text + 3 video in a 3x1x1 grid),
 * d = 2 channels, group 0 = channel 0 (axis t), channel 1 in no group.
 * q reuses tokens 2 and 3 at channel 0 (t); k reuses token 3 at channel 0 by t
 * and by h at once (bits 0b011).
 * nq = (2, 4), nk = (3, 4): s_score = 1 - (6 + 16) / 32 = 10/32. */
Test(savings, hand_worked_example)
{
    ripple_layout lay;
    memset(&lay, 0, sizeof lay);
    lay.grid[0] = 3;
    lay.grid[1] = lay.grid[2] = 1;
    lay.video_offset = 1;
    lay.seq_len = 4;
    lay.head_dim = 2;
    lay.num_groups = 1;
    lay.group_axis[0] = RIPPLE_AXIS_T;
    lay.group_len[0] = 1;
    const uint8_t mq[8] = {0, 0, 0, 0, 1, 0, 1, 0};
    const uint8_t mk[8] = {0, 0, 0, 0, 0, 0, 3, 0};
    ripple_savings s;
    cr_assert_eq(ripple_savings_compute(&lay, mq, mk, &s), RIPPLE_OK);
    cr_assert_float_eq(s.s_score, 10.0 / 32.0, TOL);
    cr_assert_float_eq(s.s_attn, 5.0 / 32.0, TOL);
    cr_assert_float_eq(s.rows_reused, 0.0, TOL);
    cr_assert_float_eq(s.q_reused, 2.0 / 8.0, TOL);
    cr_assert_float_eq(s.k_reused, 1.0 / 8.0, TOL);
    cr_assert_float_eq(s.q_group[0], 2.0 / 4.0, TOL);
    cr_assert_float_eq(s.k_group[0], 1.0 / 4.0, TOL);
    cr_assert_float_eq(s.q_axis[0], 2.0 / 8.0, TOL);
    cr_assert_float_eq(s.q_axis[1], 0.0, TOL);
    cr_assert_float_eq(s.k_axis[0], 1.0 / 8.0, TOL);
    cr_assert_float_eq(s.k_axis[1], 1.0 / 8.0, TOL);
    cr_assert_float_eq(s.k_axis[2], 0.0, TOL);
}

/* Masks straight from ripple_reuse_apply with forced reuse on a grid where
 * every channel is grouped: rows_reused counts the fully reused rows. */
Test(savings, from_reuse_masks)
{
    ripple_layout lay;
    memset(&lay, 0, sizeof lay);
    lay.grid[0] = 2;
    lay.grid[1] = 2;
    lay.grid[2] = 3;
    lay.video_offset = 2;
    lay.seq_len = 14;
    lay.head_dim = 6;
    lay.num_groups = 3;
    for (int g = 0; g < 3; g++) {
        lay.group_axis[g] = g;
        lay.group_len[g] = 2;
    }
    float x[14 * 6] = {0}, xo[14 * 6];
    uint8_t mq[14 * 6], mk[14 * 6];
    ripple_reuse_params p;
    memset(&p, 0, sizeof p);
    p.theta[0] = p.theta[1] = p.theta[2] = INFINITY;
    cr_assert_eq(ripple_reuse_apply(&lay, &p, x, xo, mq), RIPPLE_OK);
    /* k: only the w axis, window 3: positions w = 1, 2 of each row */
    p.axes = RIPPLE_AXIS_BIT(RIPPLE_AXIS_W);
    p.window = 3;
    cr_assert_eq(ripple_reuse_apply(&lay, &p, x, xo, mk), RIPPLE_OK);
    ripple_savings s, ref;
    cr_assert_eq(ripple_savings_compute(&lay, mq, mk, &s), RIPPLE_OK);
    ref_savings(&lay, mq, mk, &ref);
    check_equal(&s, &ref, "from reuse");
    /* q, window 2 on all axes: a video token is reused along t when t = 1,
     * along h when h = 1, along w when w = 1 (w = 2 is a trailing single
     * position). Only (0,0,0) and (0,0,2) stay computed, so 10 of the 14
     * rows are fully reused (the 2 text rows are not). */
    cr_assert_float_eq(s.rows_reused, 10.0 / 14.0, TOL);
    cr_assert_float_eq(s.k_reused, 8.0 / 14.0, TOL);
    /* nq(c) = 4, nk(c) = 6 for every c: s_score = 1 - 24 / 196 */
    cr_assert_float_eq(s.s_score, 1.0 - 24.0 / 196.0, TOL);
}

Test(savings, add_and_scale_every_field)
{
    ripple_savings a, b;
    double fa[NFIELDS], fb[NFIELDS], f[NFIELDS];
    for (size_t i = 0; i < NFIELDS; i++) {
        fa[i] = 0.25 * (double)(i + 1);
        fb[i] = 1.0 / (double)(i + 3);
    }
    memcpy(&a, fa, sizeof a);
    memcpy(&b, fb, sizeof b);
    ripple_savings_add(&a, &b);
    fields(&a, f);
    for (size_t i = 0; i < NFIELDS; i++) cr_assert_eq(f[i], fa[i] + fb[i], "add: field %zu", i);
    ripple_savings_scale(&a, 0.5);
    fields(&a, f);
    for (size_t i = 0; i < NFIELDS; i++)
        cr_assert_eq(f[i], (fa[i] + fb[i]) * 0.5, "scale: field %zu", i);
    /* mean of two heads */
    ripple_savings sum;
    memset(&sum, 0, sizeof sum);
    memcpy(&a, fa, sizeof a);
    ripple_savings_add(&sum, &a);
    ripple_savings_add(&sum, &b);
    ripple_savings_scale(&sum, 1.0 / 2.0);
    fields(&sum, f);
    for (size_t i = 0; i < NFIELDS; i++) cr_assert_float_eq(f[i], (fa[i] + fb[i]) / 2, 1e-15);
}

Test(savings, rejects_bad_arguments)
{
    ripple_layout lay;
    memset(&lay, 0, sizeof lay);
    lay.grid[0] = lay.grid[1] = lay.grid[2] = 1;
    lay.seq_len = 1;
    lay.head_dim = 1;
    uint8_t m[1] = {0};
    ripple_savings s;
    cr_assert_eq(ripple_savings_compute(&lay, m, m, &s), RIPPLE_OK);
    cr_assert_eq(ripple_savings_compute(&lay, NULL, m, &s), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_savings_compute(&lay, m, NULL, &s), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_savings_compute(&lay, m, m, NULL), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_savings_compute(NULL, m, m, &s), RIPPLE_ERR_INVALID);
    lay.seq_len = 0;
    cr_assert_eq(ripple_savings_compute(&lay, m, m, &s), RIPPLE_ERR_INVALID);
}
