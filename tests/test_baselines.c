/* Baselines (method.md section 3): mask-skip and mask-magnitude against
 * brute force. Both outputs are exact (copies or zeros), so comparisons are
 * bitwise. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                         \
    do {                                         \
        if (!(cond)) cr_assert_fail(__VA_ARGS__); \
    } while (0)

static int64_t rand_int(tu_rng *r, int64_t lo, int64_t hi) /* [lo, hi] */
{
    return lo + (int64_t)(tu_next(r) % (uint64_t)(hi - lo + 1));
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

Test(baselines, mask_skip)
{
    const uint64_t seed = 11;
    cr_log_info("baselines.mask_skip: seed %llu", (unsigned long long)seed);
    tu_rng rng = {seed};
    for (int trial = 0; trial < 50; trial++) {
        const int64_t n = rand_int(&rng, 0, 300);
        float *x = malloc(sizeof(float) * (size_t)(n + 1)), *y = malloc(sizeof(float) * (size_t)(n + 1));
        uint8_t *m = malloc((size_t)(n + 1));
        tu_fill_normal(&rng, x, (size_t)n, 1.0);
        for (int64_t i = 0; i < n; i++) m[i] = tu_uniform(&rng) < 0.4 ? (uint8_t)rand_int(&rng, 1, 7) : 0;
        cr_assert_eq(ripple_mask_skip(n, x, m, y), RIPPLE_OK);
        for (int64_t i = 0; i < n; i++)
            CHECK(same_bits(y[i], m[i] ? 0.0f : x[i]), "trial %d entry %lld", trial, (long long)i);
        /* in place */
        cr_assert_eq(ripple_mask_skip(n, x, m, x), RIPPLE_OK);
        CHECK(n == 0 || memcmp(x, y, sizeof(float) * (size_t)n) == 0, "in place differs");
        free(x);
        free(y);
        free(m);
    }
    cr_assert_eq(ripple_mask_skip(-1, NULL, NULL, NULL), RIPPLE_ERR_INVALID);
    float v = 1;
    uint8_t mm = 0;
    cr_assert_eq(ripple_mask_skip(1, NULL, &mm, &v), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_mask_skip(1, &v, NULL, &v), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_mask_skip(0, NULL, NULL, NULL), RIPPLE_OK);
}

/* Literal reference: repeatedly zero the smallest remaining |x|, the lowest
 * index on ties. O(n * count). */
static void ref_magnitude(int64_t n, const float *x, int64_t count, float *y)
{
    char *done = calloc((size_t)n + 1, 1);
    memcpy(y, x, sizeof(float) * (size_t)n);
    for (int64_t k = 0; k < count; k++) {
        int64_t best = -1;
        for (int64_t i = 0; i < n; i++)
            if (!done[i] && (best < 0 || fabsf(x[i]) < fabsf(x[best]))) best = i;
        done[best] = 1;
        y[best] = 0.0f;
    }
    free(done);
}

/* Values with many ties: small integers of both signs, both zeros, and
 * sometimes a wide spread of magnitudes or infinities. */
static void fill_ties(tu_rng *r, float *x, int64_t n, int kind)
{
    for (int64_t i = 0; i < n; i++) {
        switch (kind) {
        case 0: x[i] = (float)rand_int(r, -3, 3); break;
        case 1: x[i] = rand_int(r, 0, 1) ? -0.0f : 0.0f; break;
        case 2: x[i] = (float)(tu_normal(r) * pow(2.0, (double)rand_int(r, -140, 120))); break;
        default:
            x[i] = rand_int(r, 0, 9) == 0 ? (rand_int(r, 0, 1) ? INFINITY : -INFINITY)
                                          : (float)tu_normal(r);
        }
    }
}

Test(baselines, mask_magnitude_matches_bruteforce)
{
    const uint64_t seed = 12345;
    cr_log_info("baselines.mask_magnitude_matches_bruteforce: seed %llu", (unsigned long long)seed);
    tu_rng rng = {seed};
    for (int trial = 0; trial < 120; trial++) {
        const int64_t n = rand_int(&rng, 0, 40);
        float *x = malloc(sizeof(float) * (size_t)(n + 1)), *y = malloc(sizeof(float) * (size_t)(n + 1));
        float *r = malloc(sizeof(float) * (size_t)(n + 1)), *z = malloc(sizeof(float) * (size_t)(n + 1));
        fill_ties(&rng, x, n, trial % 4);
        for (int64_t count = 0; count <= n; count++) {
            ref_magnitude(n, x, count, r);
            for (int64_t i = 0; i < n; i++) y[i] = NAN; /* poisoned */
            cr_assert_eq(ripple_mask_magnitude(n, x, count, y), RIPPLE_OK, "%s", ripple_last_error());
            for (int64_t i = 0; i < n; i++) {
                CHECK(same_bits(y[i], r[i]), "trial %d n %lld count %lld entry %lld: %g vs %g", trial,
                      (long long)n, (long long)count, (long long)i, (double)y[i], (double)r[i]);
            }
            /* in place */
            memcpy(z, x, sizeof(float) * (size_t)n);
            cr_assert_eq(ripple_mask_magnitude(n, z, count, z), RIPPLE_OK);
            CHECK(n == 0 || memcmp(z, y, sizeof(float) * (size_t)n) == 0, "in place differs");
        }
        free(x);
        free(y);
        free(r);
        free(z);
    }
}

/* A larger array against a sort of (|x|, index): exercises every level of the
 * library's radix selection. */
typedef struct { float a; int64_t i; } keyed;

static int cmp_keyed(const void *pa, const void *pb)
{
    const keyed *a = pa, *b = pb;
    if (a->a != b->a) return a->a < b->a ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

Test(baselines, mask_magnitude_large_against_sort)
{
    const uint64_t seed = 777;
    cr_log_info("baselines.mask_magnitude_large_against_sort: seed %llu", (unsigned long long)seed);
    tu_rng rng = {seed};
    const int64_t n = 200003;
    float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    float *r = malloc(sizeof(float) * (size_t)n);
    keyed *k = malloc(sizeof(keyed) * (size_t)n);
    for (int kind = 0; kind < 4; kind++) {
        fill_ties(&rng, x, n, kind);
        if (kind == 3) /* near-equal magnitudes: differ only in the low bits */
            for (int64_t i = 0; i < n; i++)
                x[i] = (float)(1.0 + (double)rand_int(&rng, 0, 3000) * 0x1p-23) * (i % 2 ? -1.0f : 1.0f);
        for (int64_t i = 0; i < n; i++) k[i] = (keyed){fabsf(x[i]), i};
        qsort(k, (size_t)n, sizeof *k, cmp_keyed);
        const int64_t counts[] = {0, 1, 2, n / 3, n / 2, n - 1, n, rand_int(&rng, 0, n)};
        for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
            const int64_t count = counts[ci];
            memcpy(r, x, sizeof(float) * (size_t)n);
            for (int64_t j = 0; j < count; j++) r[k[j].i] = 0.0f;
            cr_assert_eq(ripple_mask_magnitude(n, x, count, y), RIPPLE_OK);
            CHECK(memcmp(y, r, sizeof(float) * (size_t)n) == 0, "kind %d count %lld differs", kind,
                  (long long)count);
        }
    }
    free(x);
    free(y);
    free(r);
    free(k);
}

Test(baselines, mask_magnitude_rejects_bad_arguments)
{
    float v[3] = {1, 2, 3}, w[3];
    cr_assert_eq(ripple_mask_magnitude(3, v, -1, w), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_mask_magnitude(3, v, 4, w), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_mask_magnitude(-1, v, 0, w), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_mask_magnitude(3, NULL, 1, w), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_mask_magnitude(3, v, 1, NULL), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_mask_magnitude(0, NULL, 0, NULL), RIPPLE_OK);
}
