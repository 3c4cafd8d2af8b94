/* Exact attention: every backend against the float64 reference (dav1d
 * checkasm style: random inputs, awkward shapes, outputs poisoned with NaN
 * so unwritten elements show), the reference against hand-computed values,
 * stable softmax at large score magnitudes, argument rejection, and the CUDA
 * backend (skipped without a GPU; must say "unsupported" without CUDA).
 *
 * The tolerance (numcheck.c derives it) allows for the per-chunk rescaling of
 * the fused paths, whose key chunks hold at least FUSED_MIN_CHUNK keys.
 * Every CPU path (ripple_cpu_path_*) is tested on its own, not only the one
 * this CPU would pick; a path this CPU cannot run is reported as skipped. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Fewest keys in a key chunk of the fused CPU paths (attn_flash_body.h
 * asserts KC >= 128 at compile time). */
#define FUSED_MIN_CHUNK 128

typedef struct attn_case {
    int64_t heads, seq, dim;
    double scale;
    float *q, *k, *v, *o;
    double *ref;
    size_t n;
} attn_case;

static void case_alloc(attn_case *c, int64_t heads, int64_t seq, int64_t dim, double scale)
{
    c->heads = heads, c->seq = seq, c->dim = dim, c->scale = scale;
    c->n = (size_t)(heads * seq * dim);
    c->q = malloc(c->n * sizeof(float));
    c->k = malloc(c->n * sizeof(float));
    c->v = malloc(c->n * sizeof(float));
    c->o = malloc(c->n * sizeof(float));
    c->ref = malloc(c->n * sizeof(double));
    cr_assert(c->q && c->k && c->v && c->o && c->ref);
}

static void case_free(attn_case *c)
{
    free(c->q), free(c->k), free(c->v), free(c->o), free(c->ref);
}

/* q, k ~ N(0, qk_sigma^2), v ~ N(0, 1); scale 1/sqrt(dim). */
static void case_random(attn_case *c, int64_t heads, int64_t seq, int64_t dim, double qk_sigma,
                        uint64_t seed)
{
    case_alloc(c, heads, seq, dim, 1.0 / sqrt((double)dim));
    tu_rng r = {seed};
    tu_fill_normal(&r, c->q, c->n, qk_sigma);
    tu_fill_normal(&r, c->k, c->n, qk_sigma);
    tu_fill_normal(&r, c->v, c->n, 1.0);
}

/* max |scale q.k| over pairs (from the check's result). */
static double case_max_score(const attn_case *c)
{
    nc_attn_result r;
    nc_check_attn(c->heads, c->seq, c->dim, c->scale, c->q, c->k, c->v, NULL, c->o, c->ref, 0, &r);
    return r.max_score;
}

/* Which implementation a check runs: a backend, or one CPU path by index. */
typedef struct attn_impl {
    ripple_backend backend;
    int path; /* -1: the backend's default */
} attn_impl;

static const char *impl_name(attn_impl im)
{
    return im.path >= 0 ? ripple_cpu_path_name(im.path) : ripple_backend_name(im.backend);
}

static ripple_status impl_run(attn_impl im, const attn_case *c, float *o)
{
    if (im.path >= 0)
        return ripple_attn_exact_cpu_path(im.path, c->heads, c->seq, c->dim, c->scale, c->q, c->k,
                                          c->v, o);
    return ripple_attn_exact(im.backend, c->heads, c->seq, c->dim, c->scale, c->q, c->k, c->v, o);
}

/* Runs im on c (output poisoned first) and applies the three checks. */
static void check_impl(attn_impl im, attn_case *c, const char *what)
{
    for (size_t i = 0; i < c->n; i++) c->o[i] = NAN;
    ripple_status st = impl_run(im, c, c->o);
    cr_assert_eq(st, RIPPLE_OK, "%s %s: %s", impl_name(im), what, ripple_last_error());
    st = ripple_attn_exact_f64(c->heads, c->seq, c->dim, c->scale, c->q, c->k, c->v, c->ref);
    cr_assert_eq(st, RIPPLE_OK, "%s: %s", what, ripple_last_error());

    nc_attn_result r;
    nc_check_attn(c->heads, c->seq, c->dim, c->scale, c->q, c->k, c->v, NULL, c->o, c->ref,
                  FUSED_MIN_CHUNK, &r);
    cr_log_info("%s %s h%lld n%lld d%lld: nmse %.3g, naive float32 %.3g, bound %.3g", impl_name(im),
                what, (long long)c->heads, (long long)c->seq, (long long)c->dim, r.nmse, r.nmse_naive,
                r.nmse_bound);
    cr_assert(r.ok, "%s %s (h%lld n%lld d%lld): %s", impl_name(im), what, (long long)c->heads,
              (long long)c->seq, (long long)c->dim, r.why);
}

static void check_backend(ripple_backend b, attn_case *c, const char *what)
{
    check_impl((attn_impl){b, -1}, c, what);
}

/* seq: 1 token, below a register tile, past one query block (96) and one
 * key chunk (256) without being a multiple; dim: not a multiple of any
 * vector width, and the real models' 64 and 128. */
static const int64_t SEQS[] = {1, 7, 129, 300};
static const int64_t DIMS[] = {3, 16, 64, 128};

static void run_shapes_impl(attn_impl im, double qk_sigma, uint64_t seed0, double min_score)
{
    int idx = 0;
    for (size_t si = 0; si < sizeof SEQS / sizeof SEQS[0]; si++)
        for (size_t di = 0; di < sizeof DIMS / sizeof DIMS[0]; di++, idx++) {
            attn_case c;
            uint64_t seed = seed0 + (uint64_t)idx;
            int64_t heads = 1 + idx % 3;
            /* the score std is qk_sigma^2 whatever the dim (scale 1/sqrt(dim)) */
            case_random(&c, heads, SEQS[si], DIMS[di], qk_sigma, seed);
            cr_log_info("%s seq %lld dim %lld heads %lld seed %llu", impl_name(im),
                        (long long)SEQS[si], (long long)DIMS[di], (long long)heads,
                        (unsigned long long)seed);
            check_impl(im, &c, "random");
            if (min_score > 0 && SEQS[si] >= 129) {
                double ms = case_max_score(&c);
                cr_assert_geq(ms, min_score, "scores should reach %.0f, got %.1f", min_score, ms);
            }
            case_free(&c);
        }
}

static void run_shapes(ripple_backend b, double qk_sigma, uint64_t seed0, double min_score)
{
    run_shapes_impl((attn_impl){b, -1}, qk_sigma, seed0, min_score);
}

/* fn(path) for every CPU path this CPU can run; the others are logged as
 * skipped (a CI machine without AVX-512 cannot test that path). */
static void for_each_cpu_path(void (*fn)(attn_impl))
{
    int ran = 0;
    for (int i = 0; i < ripple_cpu_path_count(); i++) {
        if (!ripple_cpu_path_available(i)) {
            cr_log_warn("cpu path %s: skipped, this CPU cannot run it", ripple_cpu_path_name(i));
            continue;
        }
        fn((attn_impl){RIPPLE_BACKEND_CPU, i});
        ran++;
    }
    cr_assert_geq(ran, 1);
}

static void path_random(attn_impl im) { run_shapes_impl(im, 1.0, 1000, 0); }
/* sigma 5: scale*q.k ~ N(0, 25) reaches +-80 over 300^2 pairs; a softmax
 * without the max subtraction would overflow expf (> 88.7). */
static void path_large(attn_impl im) { run_shapes_impl(im, 5.0, 2000, 80.0); }

/* Scores in the thousands: still finite and close; then several query
 * blocks and key chunks, the running max moving from chunk to chunk. */
static void path_huge(attn_impl im)
{
    attn_case c;
    case_random(&c, 2, 257, 64, 30.0, 3000);
    check_impl(im, &c, "huge scores");
    case_free(&c);
    case_random(&c, 1, 1000, 80, 2.0, 3001);
    check_impl(im, &c, "seq 1000");
    case_free(&c);
}

/* Identical keys: every score of a row is equal, o = mean of v rows. */
static void path_identical(attn_impl im)
{
    attn_case c;
    case_random(&c, 2, 300, 64, 1.0, 4000);
    for (int64_t h = 0; h < c.heads; h++)
        for (int64_t j = 1; j < c.seq; j++)
            memcpy(c.k + (size_t)((h * c.seq + j) * c.dim), c.k + (size_t)(h * c.seq * c.dim),
                   (size_t)c.dim * sizeof(float));
    check_impl(im, &c, "identical scores");
    for (int64_t h = 0; h < c.heads; h++)
        for (int64_t d = 0; d < c.dim; d++) {
            double mean = 0.0;
            for (int64_t j = 0; j < c.seq; j++) mean += c.v[(size_t)((h * c.seq + j) * c.dim + d)];
            mean /= (double)c.seq;
            for (int64_t i = 0; i < c.seq; i++) {
                double o = c.o[(size_t)((h * c.seq + i) * c.dim + d)];
                /* float sum of 300 terms of |v| < 5: 300 u 5 ~ 1e-4 worst */
                cr_assert_float_eq(o, mean, 1e-4, "%s h%lld row %lld dim %lld", impl_name(im),
                                   (long long)h, (long long)i, (long long)d);
            }
        }
    case_free(&c);
}

/* Work split between threads must not change a single bit. */
static void path_threads(attn_impl im)
{
    attn_case c;
    case_random(&c, 3, 300, 64, 2.0, 5000);
    float *o1 = malloc(c.n * sizeof(float));
    cr_assert(o1);
    setenv("RIPPLE_NUM_THREADS", "1", 1);
    cr_assert_eq(impl_run(im, &c, o1), RIPPLE_OK);
    setenv("RIPPLE_NUM_THREADS", "3", 1);
    cr_assert_eq(impl_run(im, &c, c.o), RIPPLE_OK);
    unsetenv("RIPPLE_NUM_THREADS");
    cr_assert_eq(memcmp(o1, c.o, c.n * sizeof(float)), 0, "%s", impl_name(im));
    free(o1);
    case_free(&c);
}

/* Finite inputs whose scores overflow float: refused, not NaN. */
static void path_overflow(attn_impl im)
{
    attn_case c;
    case_alloc(&c, 1, 3, 2, 1.0);
    for (size_t i = 0; i < c.n; i++) c.q[i] = c.k[i] = c.v[i] = 3e38f;
    cr_assert_eq(impl_run(im, &c, c.o), RIPPLE_ERR_NONFINITE, "%s", impl_name(im));
    cr_assert(strstr(ripple_last_error(), "non-finite scores"), "%s", ripple_last_error());
    case_free(&c);
}

Test(attn, cpu_random_shapes) { run_shapes(RIPPLE_BACKEND_CPU, 1.0, 1000, 0); }
Test(attn, cpu_paths_random_shapes) { for_each_cpu_path(path_random); }
Test(attn, cpu_paths_large_scores) { for_each_cpu_path(path_large); }
Test(attn, cpu_paths_huge_scores) { for_each_cpu_path(path_huge); }
Test(attn, cpu_paths_identical_scores) { for_each_cpu_path(path_identical); }
Test(attn, cpu_paths_threads_deterministic) { for_each_cpu_path(path_threads); }
Test(attn, cpu_paths_score_overflow) { for_each_cpu_path(path_overflow); }

/* The path table: names, and the default is the last path this CPU can run
 * unless RIPPLE_CPU_PATH names one. */
Test(attn, cpu_path_table)
{
    int n = ripple_cpu_path_count();
    cr_assert_geq(n, 1);
    cr_assert_str_eq(ripple_cpu_path_name(0), "blas");
    cr_assert_eq(ripple_cpu_path_available(0), 1);
    cr_assert_null(ripple_cpu_path_name(n));
    cr_assert_eq(ripple_cpu_path_available(-1), 0);
    int sel = ripple_cpu_path_selected();
    cr_assert(sel >= 0 && ripple_cpu_path_available(sel));
    const char *env = getenv("RIPPLE_CPU_PATH");
    if (env && *env) cr_assert_str_eq(ripple_cpu_path_name(sel), env);
    else
        for (int i = sel + 1; i < n; i++) cr_assert_eq(ripple_cpu_path_available(i), 0);
    float x[4] = {0};
    cr_assert_eq(ripple_attn_exact_cpu_path(n, 1, 2, 2, 1.0, x, x, x, x), RIPPLE_ERR_INVALID);
    cr_log_info("cpu paths: %d, selected %s", n, ripple_cpu_path_name(sel));
}

/* seq 2, dim 1, scale 1: q = (0, 1), k = (0, ln 3), v = (1, 5).
 * Row 0: scores (0, 0) -> o = 3. Row 1: scores (0, ln 3) -> p = (1/4, 3/4),
 * o = 1/4 + 15/4 = 4. */
Test(attn, reference_hand_computed)
{
    const float q[2] = {0.0f, 1.0f}, v[2] = {1.0f, 5.0f};
    const float k[2] = {0.0f, (float)log(3.0)};
    double o[2];
    cr_assert_eq(ripple_attn_exact_f64(1, 2, 1, 1.0, q, k, v, o), RIPPLE_OK);
    /* k rounded to float: o[1] exact in terms of the stored k */
    double o1 = (1.0 + 5.0 * exp((double)(float)log(3.0))) / (1.0 + exp((double)(float)log(3.0)));
    cr_assert_float_eq(o[0], 3.0, 1e-15);
    cr_assert_float_eq(o[1], o1, 1e-15);
    cr_assert_float_eq(o[1], 4.0, 1e-6);
}

Test(attn, rejects_bad_arguments)
{
    float x[8] = {0};
    double xd[8];
    ripple_backend bs[2] = {RIPPLE_BACKEND_CPU, RIPPLE_BACKEND_CUDA};
    for (int i = 0; i < 2; i++) {
        ripple_backend b = bs[i];
        cr_assert_eq(ripple_attn_exact(b, 0, 2, 2, 1.0, x, x, x, x), RIPPLE_ERR_INVALID);
        cr_assert(strstr(ripple_last_error(), "positive"), "%s", ripple_last_error());
        cr_assert_eq(ripple_attn_exact(b, 1, 0, 2, 1.0, x, x, x, x), RIPPLE_ERR_INVALID);
        cr_assert_eq(ripple_attn_exact(b, 1, 2, -1, 1.0, x, x, x, x), RIPPLE_ERR_INVALID);
        cr_assert_eq(ripple_attn_exact(b, 1, 2, 2, 1.0, NULL, x, x, x), RIPPLE_ERR_INVALID);
        cr_assert(strstr(ripple_last_error(), "q is NULL"), "%s", ripple_last_error());
        cr_assert_eq(ripple_attn_exact(b, 1, 2, 2, 1.0, x, x, NULL, x), RIPPLE_ERR_INVALID);
        cr_assert_eq(ripple_attn_exact(b, 1, 2, 2, 1.0, x, x, x, NULL), RIPPLE_ERR_INVALID);
        cr_assert_eq(ripple_attn_exact(b, 1, 2, 2, NAN, x, x, x, x), RIPPLE_ERR_INVALID);
        cr_assert_eq(ripple_attn_exact(b, INT64_MAX / 2, 4, 4, 1.0, x, x, x, x), RIPPLE_ERR_INVALID);
        cr_assert(strstr(ripple_last_error(), "overflow"), "%s", ripple_last_error());
    }
    cr_assert_eq(ripple_attn_exact((ripple_backend)7, 1, 2, 2, 1.0, x, x, x, x), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_attn_exact_f64(1, 0, 2, 1.0, x, x, x, xd), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_attn_exact_f64(1, 2, 2, 1.0, x, NULL, x, xd), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_attn_exact_f64(1, 2, 2, 1.0, x, x, x, NULL), RIPPLE_ERR_INVALID);
}

Test(attn, rejects_nonfinite_inputs)
{
    float q[8] = {0}, k[8] = {0}, v[8] = {0}, o[8];
    k[5] = INFINITY; /* [head 0, row 2, col 1] with seq 4, dim 2 */
    cr_assert_eq(ripple_attn_exact(RIPPLE_BACKEND_CPU, 1, 4, 2, 1.0, q, k, v, o), RIPPLE_ERR_NONFINITE);
    cr_assert(strstr(ripple_last_error(), "k[0, 2, 1]"), "%s", ripple_last_error());
    k[5] = 0.0f;
    v[7] = NAN;
    cr_assert_eq(ripple_attn_exact(RIPPLE_BACKEND_CPU, 2, 2, 2, 1.0, q, k, v, o), RIPPLE_ERR_NONFINITE);
    cr_assert(strstr(ripple_last_error(), "v[1, 1, 1]"), "%s", ripple_last_error());
    /* finite inputs whose scores overflow float */
    float big[2] = {3e38f, 3e38f};
    cr_assert_eq(ripple_attn_exact(RIPPLE_BACKEND_CPU, 1, 1, 2, 1.0, big, big, big, o), RIPPLE_ERR_NONFINITE);
}

Test(attn, backend_names)
{
    cr_assert_str_eq(ripple_backend_name(RIPPLE_BACKEND_CPU), "cpu");
    cr_assert_str_eq(ripple_backend_name(RIPPLE_BACKEND_CUDA), "cuda");
    cr_assert_eq(ripple_backend_available(RIPPLE_BACKEND_CPU), 1);
    cr_assert_eq(ripple_backend_available((ripple_backend)7), 0);
}

/* Without CUDA built in (or without a device) the CUDA backend answers
 * "unsupported" and says why. */
Test(attn, cuda_unsupported_when_unavailable)
{
    if (ripple_backend_available(RIPPLE_BACKEND_CUDA)) cr_skip_test("CUDA device present");
    float x[4] = {0};
    cr_assert_eq(ripple_attn_exact(RIPPLE_BACKEND_CUDA, 1, 2, 2, 1.0, x, x, x, x), RIPPLE_ERR_UNSUPPORTED);
    const char *msg = ripple_last_error();
    cr_assert(strstr(msg, "built without CUDA (reconfigure with -Dcuda=enabled)") ||
                  strstr(msg, "not available"),
              "%s", msg);
    cr_log_info("cuda: %s", msg);
}

Test(attn, cuda_random_shapes)
{
    if (!ripple_backend_available(RIPPLE_BACKEND_CUDA)) cr_skip_test("no CUDA device");
    run_shapes(RIPPLE_BACKEND_CUDA, 1.0, 6000, 0);
    run_shapes(RIPPLE_BACKEND_CUDA, 5.0, 7000, 80.0);
    attn_case c;
    case_random(&c, 2, 1000, 64, 1.0, 8000); /* several query blocks */
    check_backend(RIPPLE_BACKEND_CUDA, &c, "seq 1000");
    case_free(&c);
}
