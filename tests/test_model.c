/* tiny-vdit in C (ripple/model.h, ripple/method.h): the forward pass against
 * the golden file, two sampler steps against the NumPy reference, the
 * methods that must reproduce the dense clip bit for bit, thread-count
 * independence, the noise generator, and bad weights files.
 *
 * Tolerances (derived here, not tuned):
 * - FWD_REL = 1e-4 of max|ref|, for a float32 forward pass against another
 *   float32 one (the golden file: PyTorch on the CPU) or against float64.
 *   A float32 dot product of length K has a rounding error of about
 *   sqrt(K) u |x||w| (u = 2^-24 = 6e-8), worst case K u: with K <= 1024
 *   (fc2), about 2e-6 typical and 6e-5 worst case relative to the terms.
 *   A forward pass runs about 20 such stages in sequence (6 blocks x qkv,
 *   attention, proj, fc1, fc2 -- LayerNorm and RMSNorm renormalise in
 *   between, so errors add rather than multiply): 20 x 2e-6 = 4e-5 if the
 *   errors were all aligned at their typical size, below 1e-4. (ref_numpy.py
 *   uses the same 1e-4 for its MATCH; it measures 1.1e-6.)
 * - F16_REL = 2^-11: golden q/k/v/o are stored as float16, whose rounding is
 *   at most half an ulp, 2^-11 of the value (normal range; these values are
 *   far above float16's subnormals), added to the float32 difference. */
#include "testutil.h"

#include "ripple/method.h"
#include "ripple/model.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEIGHTS RIPPLE_SOURCE_ROOT "/data/models/tiny-vdit.h5"
#define GOLDEN RIPPLE_SOURCE_ROOT "/data/golden/tiny-vdit-golden.h5"
#define NOISE RIPPLE_SOURCE_ROOT "/data/noise/tiny-vdit-c7s0.h5"
#define FWD_REL 1e-4
#define F16_REL (1.0 / 2048.0)

static ripple_model *load_model(void)
{
    ripple_model *m = NULL;
    ripple_status s = ripple_model_load(WEIGHTS, &m);
    cr_assert_eq(s, RIPPLE_OK, "load %s: %s", WEIGHTS, ripple_last_error());
    return m;
}

/* Reads a dataset of the golden file as float32 (HDF5 converts float16). */
static float *golden_floats(const char *name, size_t n)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(GOLDEN, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(f >= 0, "cannot open %s", GOLDEN);
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    cr_assert(ds >= 0, "%s: no %s", GOLDEN, name);
    hid_t sp = H5Dget_space(ds);
    cr_assert_eq((size_t)H5Sget_simple_extent_npoints(sp), n, "%s: %s has %lld values, expected %zu", GOLDEN, name,
                 (long long)H5Sget_simple_extent_npoints(sp), n);
    float *out = malloc(n * sizeof(float));
    cr_assert(out && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0);
    H5Sclose(sp);
    H5Dclose(ds);
    H5Fclose(f);
    return out;
}

static double max_abs(const float *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)x[i]));
    return m;
}

/* Every element within atol + rtol |ref|; the worst relative to max|ref| is logged. */
static void expect_close(const char *what, const float *a, const float *ref, size_t n, double atol, double rtol)
{
    double worst = 0, scale = max_abs(ref, n), num = 0, den = 0;
    size_t bad = n;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        worst = fmax(worst, d);
        num += d * d, den += (double)ref[i] * (double)ref[i];
        if (!(d <= atol + rtol * fabs((double)ref[i])) && bad == n) bad = i;
    }
    cr_log_info("%s: max|diff| / max|ref| = %.3g, nmse %.3g (atol %.3g, rtol %.3g)", what, worst / scale,
                den > 0 ? num / den : 0, atol, rtol);
    cr_expect_eq(bad, n, "%s: element %zu: %.9g vs %.9g (atol %.3g + rtol %.3g)", what, bad,
                 bad < n ? (double)a[bad] : 0.0, bad < n ? (double)ref[bad] : 0.0, atol, rtol);
}

/* A hook that computes exact attention and keeps the q, k, v, o of one layer. */
typedef struct keep_ctx {
    int layer;
    size_t n;
    float *q, *k, *v, *o;
} keep_ctx;

static ripple_status keep_hook(void *ctx, const ripple_attn_call *c)
{
    keep_ctx *kc = ctx;
    ripple_status s = ripple_attn_exact(RIPPLE_BACKEND_CPU, c->heads, c->layout->seq_len, c->layout->head_dim,
                                        c->scale, c->q, c->k, c->v, c->o);
    if (!s && c->layer == kc->layer) {
        memcpy(kc->q, c->q, kc->n * sizeof(float));
        memcpy(kc->k, c->k, kc->n * sizeof(float));
        memcpy(kc->v, c->v, kc->n * sizeof(float));
        memcpy(kc->o, c->o, kc->n * sizeof(float));
    }
    return s;
}

Test(model, config_of_the_committed_weights)
{
    ripple_model *m = load_model();
    const ripple_model_config *c = ripple_model_get_config(m);
    cr_expect_eq(c->seq_len, 2052);
    cr_expect_eq(c->num_params, 7381252, "num_params %lld (data/README.md: 7,381,252)", (long long)c->num_params);
    ripple_layout lay;
    cr_assert_eq(ripple_model_layout(m, &lay), RIPPLE_OK);
    cr_expect_eq(lay.video_offset, 4);
    cr_expect_eq(lay.num_groups, 3);
    cr_expect_eq(lay.group_len[1], 24);
    double fa, fr;
    ripple_model_flops(m, &fa, &fr);
    /* 6 x 4 x 4 heads x 2052^2 x 64 = 25.9 GFLOP of attention */
    cr_expect(fabs(fa - 6.0 * 4 * 4 * 2052.0 * 2052.0 * 64) < 1, "attention flops %g", fa);
    ripple_model_free(m);
}

Test(model, forward_matches_golden, .timeout = 120)
{
    ripple_model *m = load_model();
    const ripple_model_config *c = ripple_model_get_config(m);
    const size_t ne = (size_t)c->video_elems, nl = (size_t)(c->num_heads * c->seq_len * c->head_dim);
    float *x = malloc(ne * sizeof(float)), *v = malloc(ne * sizeof(float)), *vref = malloc(ne * sizeof(float));
    cr_assert_eq(ripple_video_read(GOLDEN, "x", c, x), RIPPLE_OK, "%s", ripple_last_error());
    cr_assert_eq(ripple_video_read(GOLDEN, "v", c, vref), RIPPLE_OK, "%s", ripple_last_error());
    float *t = golden_floats("t", 1);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(GOLDEN, H5F_ACC_RDONLY, H5P_DEFAULT), ds = H5Dopen2(f, "y", H5P_DEFAULT);
    long long y = -1;
    cr_assert(H5Dread(ds, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, &y) >= 0);
    H5Dclose(ds);
    H5Fclose(f);
    keep_ctx kc = {.layer = 5, .n = nl, .q = malloc(nl * 4), .k = malloc(nl * 4), .v = malloc(nl * 4),
                   .o = malloc(nl * 4)};
    cr_assert_eq(ripple_model_forward(m, x, (double)t[0], (int)y, keep_hook, &kc, -1, 0, 0, v), RIPPLE_OK, "%s",
                 ripple_last_error());
    /* output: float32 vs PyTorch float32 (FWD_REL of the header) */
    expect_close("output v", v, vref, ne, FWD_REL * max_abs(vref, ne), 0);
    static const char *const names[4] = {"layers/005/q", "layers/005/k", "layers/005/v", "layers/005/o"};
    float *mine[4] = {kc.q, kc.k, kc.v, kc.o};
    for (int i = 0; i < 4; i++) {
        float *ref = golden_floats(names[i], nl);
        /* float16 storage (F16_REL) plus the float32 difference (FWD_REL) */
        expect_close(names[i], mine[i], ref, nl, FWD_REL * max_abs(ref, nl), F16_REL * (1 + F16_REL));
        free(ref);
    }
    free(kc.q), free(kc.k), free(kc.v), free(kc.o);
    free(x), free(v), free(vref), free(t);
    ripple_model_free(m);
}

/* Reads a float64 dataset written by ref_sample_numpy.py. */
static double *ref_doubles(const char *path, const char *name, size_t n)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(f >= 0, "cannot open %s", path);
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    cr_assert(ds >= 0, "%s: no %s", path, name);
    double *out = malloc(n * sizeof(double));
    cr_assert(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0);
    H5Dclose(ds);
    H5Fclose(f);
    return out;
}

typedef struct step_ctx {
    float *x[3]; /* the latent before steps 0, 1 and after step 1 */
    int stop_after;
} step_ctx;

static ripple_status grab_step(void *ctx, int step, int num_steps, double t, const float *x)
{
    (void)num_steps, (void)t;
    step_ctx *sc = ctx;
    if (step <= sc->stop_after) memcpy(sc->x[step], x, 8192 * sizeof(float));
    if (step == sc->stop_after) return RIPPLE_ERR_NOT_FOUND; /* stop here: the rest is not needed */
    return RIPPLE_OK;
}

/* Two Euler steps of the 50-step schedule against ref_sample_numpy.py
 * (float64) on the same noise. x_2 = x_0 + dt_0 v_0 + dt_1 v_1 with
 * dt = -0.02: each v is within FWD_REL max|v| (header), and x_1's own
 * difference (<= 0.02 FWD_REL max|v|) moves v_1 by the network's gain times
 * that, far below FWD_REL; so |x_2 - ref| <= 0.04 FWD_REL max|v| plus the
 * float32 rounding of the two updates, 2 u max|x| each. */
Test(model, two_sampler_steps_match_numpy, .timeout = 300)
{
    if (tu_system("python3 -c 'import numpy, h5py' >/dev/null 2>&1") != 0) {
        cr_skip_test("numpy or h5py not installed: the NumPy reference cannot run");
        return;
    }
    const char *out = tu_tmp("ref2.h5");
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "python3 '%s/data/tinyvdit/ref_sample_numpy.py' --noise '%s' --class 7 --run-steps 2 --out '%s'",
             RIPPLE_SOURCE_ROOT, NOISE, out);
    cr_assert_eq(tu_system(cmd), 0, "ref_sample_numpy.py failed: %s", cmd);
    ripple_model *m = load_model();
    const ripple_model_config *c = ripple_model_get_config(m);
    const size_t ne = (size_t)c->video_elems;
    cr_assert_eq(ne, 8192);
    float *x = malloc(ne * sizeof(float));
    cr_assert_eq(ripple_video_read(NOISE, "noise", c, x), RIPPLE_OK, "%s", ripple_last_error());
    step_ctx sc = {.stop_after = 2};
    for (int i = 0; i < 3; i++) sc.x[i] = malloc(ne * sizeof(float));
    ripple_sampler_params sp = {.class_label = 7, .cfg = 1.0, .step = grab_step, .step_ctx = &sc};
    cr_assert_eq(ripple_model_sample(m, &sp, x), RIPPLE_ERR_NOT_FOUND, "%s", ripple_last_error());
    double *v0 = ref_doubles(out, "v_0", ne), *x2 = ref_doubles(out, "x_2", ne), *x0 = ref_doubles(out, "x_0", ne);
    double vmax = 0, xmax = 0;
    for (size_t i = 0; i < ne; i++) vmax = fmax(vmax, fabs(v0[i])), xmax = fmax(xmax, fabs(x2[i]));
    /* the starting noise is the same bits (float32 in both files) */
    for (size_t i = 0; i < ne; i++) cr_assert_eq((double)sc.x[0][i], x0[i], "noise element %zu differs", i);
    const double u = 0x1p-24, atol = 0.04 * FWD_REL * vmax + 4 * u * xmax;
    double worst = 0;
    size_t bad = ne;
    for (size_t i = 0; i < ne; i++) {
        double d = fabs((double)sc.x[2][i] - x2[i]);
        worst = fmax(worst, d);
        if (!(d <= atol) && bad == ne) bad = i;
    }
    cr_log_info("x after 2 steps: max|diff| %.3g (bound %.3g; max|v_0| %.3g)", worst, atol, vmax);
    cr_expect_eq(bad, ne, "x_2 element %zu: %.9g vs %.9g (bound %.3g)", bad, bad < ne ? sc.x[2][bad] : 0.0,
                 bad < ne ? x2[bad] : 0.0, atol);
    free(v0), free(x2), free(x0), free(x);
    for (int i = 0; i < 3; i++) free(sc.x[i]);
    ripple_model_free(m);
}

/* ------------------------------------------------- bit-identical clips */

typedef struct method_ctx {
    ripple_method *m;
    double s_score_max;
} method_ctx;

static ripple_status method_hook(void *ctx, const ripple_attn_call *c)
{
    method_ctx *mc = ctx;
    ripple_method_result r;
    ripple_status s = ripple_method_attend(mc->m, c, &r);
    if (!s) mc->s_score_max = fmax(mc->s_score_max, r.savings.s_score);
    return s;
}

/* A short clip (a 2-step schedule, so that a test stays at seconds; cfg
 * 2 runs both branches) with a method, or exact when p is NULL. */
static float *clip(ripple_model *m, const ripple_method_params *p, double *s_score_max, double cfg)
{
    const ripple_model_config *c = ripple_model_get_config(m);
    float *x = malloc((size_t)c->video_elems * sizeof(float));
    cr_assert_eq(ripple_noise_normal(3, c->video_elems, x), RIPPLE_OK);
    /* one step under the sanitizers (the same code, a few times slower per step) */
    ripple_sampler_params sp = {.class_label = 2, .cfg = cfg, .num_steps = getenv("RIPPLE_SANITIZER_RUN") ? 1 : 2};
    method_ctx mc = {0};
    if (p) {
        ripple_layout lay;
        ripple_model_layout(m, &lay);
        cr_assert_eq(ripple_method_create(p, &lay, c->num_heads, &mc.m), RIPPLE_OK, "%s", ripple_last_error());
        sp.attn = method_hook, sp.attn_ctx = &mc;
    }
    cr_assert_eq(ripple_model_sample(m, &sp, x), RIPPLE_OK, "%s", ripple_last_error());
    ripple_method_free(mc.m);
    if (s_score_max) *s_score_max = mc.s_score_max;
    return x;
}

Test(model, reuse_theta0_and_full_masks_give_the_dense_clip, .timeout = 300)
{
    ripple_model *m = load_model();
    const size_t ne = (size_t)ripple_model_get_config(m)->video_elems;
    float *dense = clip(m, NULL, NULL, 1.0);
    static const ripple_method_kind kinds[] = {RIPPLE_METHOD_EXACT, RIPPLE_METHOD_REUSE, RIPPLE_METHOD_MASK_SKIP,
                                               RIPPLE_METHOD_MASK_MAGNITUDE, RIPPLE_METHOD_SVG, RIPPLE_METHOD_WINDOW,
                                               RIPPLE_METHOD_ORACLE_TOPK, RIPPLE_METHOD_REUSE_SVG};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        ripple_method_params p = {.kind = kinds[i], .density = 1.0}; /* theta 0: nothing reused */
        double smax;
        float *x = clip(m, &p, &smax, 1.0);
        cr_expect_eq(smax, 0.0, "%s: savings %g at theta 0 / density 1", ripple_method_name(kinds[i]), smax);
        cr_expect_eq(memcmp(x, dense, ne * sizeof(float)), 0, "%s at theta 0 / density 1: clip differs from dense",
                     ripple_method_name(kinds[i]));
        free(x);
    }
    /* and the comparison can fail: reuse that reuses gives another clip */
    ripple_method_params p = {.kind = RIPPLE_METHOD_REUSE, .reuse = {.theta = {0.5, 0.5, 0.5}}};
    double smax;
    float *x = clip(m, &p, &smax, 1.0);
    cr_expect_gt(smax, 0.0, "theta 0.5 reuses nothing?");
    cr_expect_neq(memcmp(x, dense, ne * sizeof(float)), 0, "theta 0.5 gives the dense clip bit for bit");
    free(x);
    free(dense);
    ripple_model_free(m);
}

Test(model, same_clip_on_1_and_2_threads, .timeout = 300)
{
    ripple_model *m = load_model();
    const size_t ne = (size_t)ripple_model_get_config(m)->video_elems;
    setenv("RIPPLE_NUM_THREADS", "1", 1);
    float *a = clip(m, NULL, NULL, 2.0);
    setenv("RIPPLE_NUM_THREADS", "2", 1);
    float *b = clip(m, NULL, NULL, 2.0);
    unsetenv("RIPPLE_NUM_THREADS");
    cr_expect_eq(memcmp(a, b, ne * sizeof(float)), 0, "1 and 2 threads give different clips");
    free(a), free(b);
    ripple_model_free(m);
}

/* ------------------------------------------------------------- noise */

Test(model, noise_is_counter_based_and_normal)
{
    enum { N = 1 << 16 };
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
    cr_assert_eq(ripple_noise_normal(0, N, a), RIPPLE_OK);
    cr_assert_eq(ripple_noise_normal(0, 7, b), RIPPLE_OK);
    cr_expect_eq(memcmp(a, b, 7 * sizeof(float)), 0, "a prefix of the stream differs");
    /* element 0 from the documented formula, recomputed here */
    uint64_t z = 0 + 1 * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull, z = (z ^ (z >> 27)) * 0x94d049bb133111ebull, z ^= z >> 31;
    uint64_t z2 = 0 + 2 * 0x9e3779b97f4a7c15ull;
    z2 = (z2 ^ (z2 >> 30)) * 0xbf58476d1ce4e5b9ull, z2 = (z2 ^ (z2 >> 27)) * 0x94d049bb133111ebull, z2 ^= z2 >> 31;
    double u1 = (double)((z >> 11) + 1) * 0x1p-53, u2 = (double)(z2 >> 11) * 0x1p-53;
    cr_expect_eq(a[0], (float)(sqrt(-2 * log(u1)) * cos(2 * M_PI * u2)));
    /* N(0, 1): mean within 5 sigma of 0 (sigma 1/sqrt(N) = 0.004), variance within 5 sigma of 1 (sqrt(2/N) = 0.0055) */
    double s1 = 0, s2 = 0;
    for (int i = 0; i < N; i++) s1 += a[i], s2 += (double)a[i] * a[i];
    double mean = s1 / N, var = s2 / N - mean * mean;
    cr_expect(fabs(mean) < 5.0 / sqrt(N), "mean %g", mean);
    cr_expect(fabs(var - 1) < 5.0 * sqrt(2.0 / N), "variance %g", var);
    cr_assert_eq(ripple_noise_normal(1, N, b), RIPPLE_OK);
    cr_expect_neq(memcmp(a, b, N * sizeof(float)), 0, "seeds 0 and 1 give the same noise");
    free(a), free(b);
}

/* ------------------------------------------------------- bad weights */

static void expect_refused(const char *path, ripple_status want, const char *needle)
{
    ripple_model *m = (ripple_model *)1;
    ripple_status s = ripple_model_load(path, &m);
    cr_expect_eq(s, want, "%s: status %d (%s), expected %d", path, s, ripple_last_error(), want);
    cr_expect_null(m);
    const char *msg = ripple_last_error();
    cr_expect(strstr(msg, needle) != NULL, "%s: message '%s' lacks '%s'", path, msg, needle);
    cr_expect(strchr(msg, '\n') == NULL, "message is not one line: '%s'", msg);
}

Test(model, refuses_files_that_are_not_weights)
{
    expect_refused(RIPPLE_SOURCE_ROOT "/data/captures/tiny-vdit-mini.h5", RIPPLE_ERR_FORMAT,
                   "not a tiny-vdit weights file");
    expect_refused(RIPPLE_SOURCE_ROOT "/README.md", RIPPLE_ERR_FORMAT, "not an HDF5 file");
    expect_refused(tu_tmp("no-such-file.h5"), RIPPLE_ERR_IO, "cannot open");
    expect_refused(RIPPLE_SOURCE_ROOT "/data", RIPPLE_ERR_IO, "not a regular file");
}

Test(model, refuses_a_truncated_weights_file)
{
    const char *path = tu_tmp("truncated.h5");
    char cmd[1024];
    /* the first 20 MB of 28.9: the superblock and metadata are intact, the last weights are past the end */
    snprintf(cmd, sizeof cmd, "head -c 20000000 '%s' > '%s'", WEIGHTS, path);
    cr_assert_eq(tu_system(cmd), 0);
    ripple_model *m = NULL;
    ripple_status s = ripple_model_load(path, &m);
    cr_expect_neq(s, RIPPLE_OK, "a truncated file loads");
    cr_expect_null(m);
    cr_log_info("truncated: %s", ripple_last_error());
    cr_expect(strstr(ripple_last_error(), "truncated") || strstr(ripple_last_error(), "past the end"),
              "message: %s", ripple_last_error());
}

/* Edits a copy of the weights with h5py (skipped without it). */
static const char *edited_copy(const char *name, const char *python_edit)
{
    if (tu_system("python3 -c 'import h5py' >/dev/null 2>&1") != 0) return NULL;
    const char *path = tu_tmp(name);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && python3 -c \"import h5py, numpy as np; f = h5py.File('%s', 'r+'); %s; f.close()\"",
             WEIGHTS, path, path, python_edit);
    cr_assert_eq(tu_system(cmd), 0, "edit failed: %s", cmd);
    return path;
}

Test(model, refuses_shapes_that_disagree_with_the_config)
{
    const char *p = edited_copy("shape.h5", "w = f['blocks.3.mlp_fc1.weight'][...]; del f['blocks.3.mlp_fc1.weight']; "
                                            "f['blocks.3.mlp_fc1.weight'] = w[:512]");
    if (!p) {
        cr_skip_test("h5py not installed");
        return;
    }
    expect_refused(p, RIPPLE_ERR_FORMAT, "blocks.3.mlp_fc1.weight has shape [512,256], the config wants [1024,256]");
    p = edited_copy("params.h5", "f.attrs['hidden'] = 128");
    expect_refused(p, RIPPLE_ERR_FORMAT, "attribute num_params 7381252 disagrees with the config's");
    p = edited_copy("config.h5", "f.attrs['hidden'] = 128; del f.attrs['num_params']");
    expect_refused(p, RIPPLE_ERR_FORMAT, "the config wants");
    p = edited_copy("missing.h5", "del f['final_linear.bias']");
    expect_refused(p, RIPPLE_ERR_FORMAT, "missing dataset /final_linear.bias");
    p = edited_copy("nan.h5", "w = f['t_fc1.bias']; a = w[...]; a[3] = np.nan; w[...] = a");
    expect_refused(p, RIPPLE_ERR_NONFINITE, "/t_fc1.bias: element 3 is not finite");
    p = edited_copy("depth.h5", "f.attrs['depth'] = 7; del f.attrs['num_params']");
    expect_refused(p, RIPPLE_ERR_FORMAT, "missing dataset /blocks.6.adaLN.weight");
}

Test(model, sampler_refuses_bad_arguments)
{
    ripple_model *m = load_model();
    float *x = calloc(8192, sizeof(float));
    ripple_sampler_params p = {.class_label = 10};
    cr_expect_eq(ripple_model_sample(m, &p, x), RIPPLE_ERR_INVALID);
    cr_expect(strstr(ripple_last_error(), "class 10 is outside [0, 10)"), "%s", ripple_last_error());
    p.class_label = 1, p.cfg = NAN;
    cr_expect_eq(ripple_model_sample(m, &p, x), RIPPLE_ERR_INVALID);
    p.cfg = 1, p.num_steps = -3;
    cr_expect_eq(ripple_model_sample(m, &p, x), RIPPLE_ERR_INVALID);
    x[5] = INFINITY;
    cr_expect_eq(ripple_model_forward(m, x, 0.5, 1, NULL, NULL, -1, 0, 0, x), RIPPLE_ERR_NONFINITE);
    free(x);
    ripple_model_free(m);
}
