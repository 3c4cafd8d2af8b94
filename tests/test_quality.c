/* PSNR and SSIM (ripple/quality.h) against scikit-image, and the commands
 * that use them: `ripple quality` (Tables 2-4 end to end) and `ripple
 * frames` (Fig. 5 in generated frames) on tiny settings (1-2 sampler
 * steps), their resumption and bad input. */
#include "testutil.h"

#include "ripple/model.h"
#include "ripple/quality.h"

#include <criterion/criterion.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WEIGHTS RIPPLE_SOURCE_ROOT "/data/models/tiny-vdit.h5"
#define SKIMAGE RIPPLE_SOURCE_ROOT "/tests/skimage_quality.py"

/* Both sides accumulate in double from the same float32 pixels; they differ
 * only in summation order and in how the 11 Gaussian weights are rounded
 * (exp in double, then normalised): relative errors of a few 1e-16 per
 * operation over at most 121 x 5 products per pixel and ~1e3 pixels in the
 * mean, so |difference| stays below 1e-12 for SSIM (in [-1, 1]) and for
 * PSNR (10 log10 of an MSE computed to ~1e-15 relative: about 4e-15 dB).
 * The issue asks for 1e-6; that is the bound checked, with 6 orders of
 * margin, so a wrong window, constant or crop fails it by far. */
#define QUALITY_TOL 1e-6

static int have_skimage(void)
{
    return tu_system("python3 -c 'import skimage.metrics' >/dev/null 2>&1") == 0;
}

typedef struct pair {
    int h, w;
    float *img, *ref;
} pair;

/* Writes the pairs, runs scikit-image, checks ripple's PSNR and SSIM of each. */
static void against_skimage(const pair *pairs, int n, const char *what)
{
    const char *bin = tu_tmp(what);
    FILE *f = fopen(bin, "wb");
    cr_assert(f);
    int32_t cnt = n;
    fwrite(&cnt, 4, 1, f);
    for (int i = 0; i < n; i++) {
        int32_t hw[2] = {pairs[i].h, pairs[i].w};
        fwrite(hw, 4, 2, f);
        fwrite(pairs[i].img, 4, (size_t)pairs[i].h * pairs[i].w, f);
        fwrite(pairs[i].ref, 4, (size_t)pairs[i].h * pairs[i].w, f);
    }
    cr_assert_eq(fclose(f), 0);
    char cmd[2048], out[1024];
    snprintf(out, sizeof out, "%s.out", bin);
    snprintf(cmd, sizeof cmd, "python3 '%s' '%s' > '%s'", SKIMAGE, bin, out);
    cr_assert_eq(tu_system(cmd), 0, "scikit-image failed");
    FILE *in = fopen(out, "r");
    cr_assert(in);
    for (int i = 0; i < n; i++) {
        double sp, ss, psnr, ssim;
        cr_assert_eq(fscanf(in, "%lf %lf", &sp, &ss), 2, "%s: no line %d from scikit-image", what, i);
        const int64_t px = (int64_t)pairs[i].h * pairs[i].w;
        cr_assert_eq(ripple_quality_psnr(px, pairs[i].img, pairs[i].ref, 1.0, &psnr), RIPPLE_OK, "%s",
                     ripple_last_error());
        cr_assert_eq(ripple_quality_ssim(pairs[i].h, pairs[i].w, pairs[i].img, pairs[i].ref, 1.0, &ssim), RIPPLE_OK,
                     "%s", ripple_last_error());
        if (isinf(sp)) cr_expect(isinf(psnr) && psnr > 0, "%s pair %d: psnr %g, scikit-image inf", what, i, psnr);
        else cr_expect(fabs(psnr - sp) <= QUALITY_TOL, "%s pair %d (%dx%d): psnr %.12g, scikit-image %.12g", what, i,
                       pairs[i].h, pairs[i].w, psnr, sp);
        cr_expect(fabs(ssim - ss) <= QUALITY_TOL, "%s pair %d (%dx%d): ssim %.12g, scikit-image %.12g", what, i,
                  pairs[i].h, pairs[i].w, ssim, ss);
    }
    fclose(in);
}

/* Random pairs of awkward sizes (the 11x11 minimum, non-square, odd), at
 * three levels of difference: equal, small noise, unrelated. Seed logged. */
Test(quality_lib, random_frames_against_skimage)
{
    if (!have_skimage()) cr_skip_test("scikit-image not installed (pip install scikit-image; .ci/install-deps does)");
    static const int sizes[][2] = {{11, 11}, {32, 32}, {17, 23}, {40, 13}, {12, 64}};
    enum { NS = 5, NL = 3 };
    pair pairs[NS * NL];
    const uint64_t seed = 20240611;
    cr_log_info("seed %llu", (unsigned long long)seed);
    tu_rng rng;
    rng.s = seed;
    for (int s = 0; s < NS; s++)
        for (int l = 0; l < NL; l++) {
            pair *p = &pairs[s * NL + l];
            p->h = sizes[s][0], p->w = sizes[s][1];
            const size_t n = (size_t)p->h * p->w;
            p->img = malloc(n * sizeof(float)), p->ref = malloc(n * sizeof(float));
            for (size_t i = 0; i < n; i++) {
                p->ref[i] = (float)tu_uniform(&rng);
                float v = l == 0 ? p->ref[i] : l == 1 ? p->ref[i] + 0.05f * (float)tu_normal(&rng)
                                                      : (float)tu_uniform(&rng);
                p->img[i] = v < 0 ? 0 : v > 1 ? 1 : v;
            }
        }
    against_skimage(pairs, NS * NL, "random.bin");
    double psnr, ssim;
    cr_expect_eq(ripple_quality_psnr(121, pairs[0].img, pairs[0].ref, 1.0, &psnr), RIPPLE_OK);
    cr_expect(isinf(psnr) && psnr > 0, "equal images: psnr %g", psnr);
    cr_expect_eq(ripple_quality_ssim(11, 11, pairs[0].img, pairs[0].ref, 1.0, &ssim), RIPPLE_OK);
    cr_expect_eq(ssim, 1.0, "equal images: ssim %.17g", ssim);
    for (int i = 0; i < NS * NL; i++) free(pairs[i].img), free(pairs[i].ref);
}

Test(quality_lib, refuses_bad_input)
{
    float a[144] = {0}, b[144] = {0};
    double v;
    cr_expect_eq(ripple_quality_ssim(10, 12, a, b, 1.0, &v), RIPPLE_ERR_INVALID, "a frame below 11x11");
    cr_expect(strstr(ripple_last_error(), "11"), "%s", ripple_last_error());
    cr_expect_eq(ripple_quality_psnr(144, a, b, 0.0, &v), RIPPLE_ERR_INVALID, "data_range 0");
    cr_expect_eq(ripple_quality_psnr(0, a, b, 1.0, &v), RIPPLE_ERR_INVALID, "no pixels");
    cr_expect_eq(ripple_quality_psnr(144, NULL, b, 1.0, &v), RIPPLE_ERR_INVALID, "NULL image");
    a[7] = NAN;
    cr_expect_eq(ripple_quality_ssim(12, 12, a, b, 1.0, &v), RIPPLE_ERR_NONFINITE, "a NaN pixel");
    cr_expect_eq(ripple_quality_pixels(144, a, b), RIPPLE_ERR_NONFINITE, "a NaN value");
    ripple_quality_result q;
    a[7] = 0;
    cr_expect_eq(ripple_quality_clip(0, 12, 12, a, b, 1.0, &q), RIPPLE_ERR_INVALID, "no frames");
}

Test(quality_lib, pixels_and_clip)
{
    const float x[4] = {-3, -1, 0.5f, 2};
    float p[4];
    cr_assert_eq(ripple_quality_pixels(4, x, p), RIPPLE_OK);
    cr_expect(p[0] == 0 && p[1] == 0 && p[2] == 0.75f && p[3] == 1, "%g %g %g %g", p[0], p[1], p[2], p[3]);
    /* two frames, one equal, one off by 0.1 everywhere: MSE 0.01 / 2 -> PSNR 10 log10(200) */
    float a[2 * 144], b[2 * 144];
    for (int i = 0; i < 2 * 144; i++) a[i] = 0.5f, b[i] = i < 144 ? 0.5f : 0.6f;
    ripple_quality_result q;
    cr_assert_eq(ripple_quality_clip(2, 12, 12, a, b, 1.0, &q), RIPPLE_OK);
    const double mse = 0.5 * (double)(0.6f - 0.5f) * (double)(0.6f - 0.5f);
    cr_expect(fabs(q.mse - mse) <= 1e-15, "mse %.17g, expected %.17g", q.mse, mse);
    cr_expect(fabs(q.psnr - 10 * log10(1 / mse)) <= 1e-12, "psnr %.17g", q.psnr);
    cr_expect(isfinite(q.psnr_min) && q.psnr_min < q.psnr, "the worst frame's psnr %g", q.psnr_min);
    cr_expect(q.ssim_min < 1 && q.ssim < 1 && q.ssim > q.ssim_min, "ssim %g, min %g", q.ssim, q.ssim_min);
}

/* ------------------------------------------------------------ commands */

static char *tiny_dir;

/* One tiny quality run shared by the tests below: 2 prompts, 2 steps,
 * reuse at theta 0 and 0.05, svg at density 1 (exact attention), every
 * clip kept. */
static const char *tiny_quality(void)
{
    if (tiny_dir) return tiny_dir;
    tiny_dir = strdup(tu_tmp("quality-tiny"));
    char a[2048];
    snprintf(a, sizeof a, "quality --out '%s' --num-steps 2 --classes 7,1 --thetas 0,0.05 --methods svg "
             "--densities 1 --keep-clips --levels 0.1", tiny_dir);
    cr_assert_eq(tu_ripple(NULL, a), 0, "quality failed: %s", tu_err());
    return tiny_dir;
}

static double cell_num(const char *tsv, const char *cls, const char *method, const char *setting, const char *col)
{
    const char *keys[] = {"class", "method", "setting"}, *vals[] = {cls, method, setting};
    char out[64];
    tu_tsv_cell(tsv, 3, keys, vals, col, out);
    return strtod(out, NULL);
}

Test(quality_cmd, theta_zero_is_the_dense_clip_and_a_threshold_is_not, .timeout = 900)
{
    /* clips of the model: the sanitizer build runs the same code in test_model and test_generate */
    if (getenv("RIPPLE_SANITIZER_RUN")) cr_skip_test("model clips under the sanitizers outlast CI's budget");
    const char *dir = tiny_quality();
    char p[1024];
    snprintf(p, sizeof p, "%s/quality.tsv", dir);
    char *tsv = strdup(tu_slurp(p));
    /* 2 prompts x (exact, reuse 0, reuse 0.05, svg 1) */
    cr_assert_eq(tu_tsv_cell(tsv, 0, NULL, NULL, NULL, NULL), 8, "%s", tsv);
    cr_expect(strstr(tsv, "# options: quality "), "no options line");
    cr_expect(strstr(tsv, "# ripple: "), "no git describe line");
    cr_expect(!strstr(tsv, "# selection:"), "a selection of captured units in a model run");
    for (int c = 0; c < 2; c++) {
        const char *cls = c ? "1" : "7";
        /* theta 0 reuses nothing and svg at density 1 is exact attention: the dense clip bit for bit */
        cr_expect(isinf(cell_num(tsv, cls, "reuse", "0", "psnr")), "class %s theta 0: psnr not inf", cls);
        cr_expect_eq(cell_num(tsv, cls, "reuse", "0", "ssim"), 1.0, "class %s theta 0: ssim not 1", cls);
        cr_expect_eq(cell_num(tsv, cls, "reuse", "0", "s_attn"), 0.0);
        cr_expect(isinf(cell_num(tsv, cls, "svg", "1", "psnr")), "class %s svg density 1: psnr not inf", cls);
        /* a real threshold reuses and changes the clip */
        const double psnr = cell_num(tsv, cls, "reuse", "0.05", "psnr"), ssim = cell_num(tsv, cls, "reuse", "0.05", "ssim");
        const double s_attn = cell_num(tsv, cls, "reuse", "0.05", "s_attn");
        cr_expect(isfinite(psnr) && psnr > 10, "class %s theta 0.05: psnr %g", cls, psnr);
        cr_expect(ssim < 1 && ssim > 0, "class %s theta 0.05: ssim %g", cls, ssim);
        cr_expect(s_attn > 0.05 && s_attn <= 0.5, "class %s theta 0.05: s_attn %g (at most 1/2 by definition)", cls, s_attn);
        /* speedup_theory = T / (T - A s_attn) with the dense row's T and A (6 digits each) */
        const double T = cell_num(tsv, cls, "exact", "0", "wall_seconds"), A = cell_num(tsv, cls, "exact", "0", "attn_seconds");
        const double sp = cell_num(tsv, cls, "reuse", "0.05", "speedup_theory");
        cr_expect(fabs(sp - T / (T - A * s_attn)) <= 1e-4 * sp, "speedup_theory %g, T %g A %g", sp, T, A);
    }
    snprintf(p, sizeof p, "%s/quality-means.tsv", dir);
    cr_expect_eq(tu_tsv_cell(tu_slurp(p), 0, NULL, NULL, NULL, NULL), 4, "one row per setting");
    snprintf(p, sizeof p, "%s/quality-matched.tsv", dir);
    cr_expect(tu_exists(p), "no matched table");
    snprintf(p, sizeof p, "%s/quality.tsv.partial", dir);
    cr_expect(!tu_exists(p), "partial file left behind");
    free(tsv);
}

/* The generated frames of the run against scikit-image, and the table's
 * PSNR/SSIM as the library computes them from the kept clip files. */
Test(quality_cmd, generated_frames_against_skimage, .timeout = 900)
{
    /* clips of the model: the sanitizer build runs the same code in test_model and test_generate */
    if (getenv("RIPPLE_SANITIZER_RUN")) cr_skip_test("model clips under the sanitizers outlast CI's budget");
    const char *dir = tiny_quality();
    ripple_model *m = NULL;
    cr_assert_eq(ripple_model_load(WEIGHTS, &m), RIPPLE_OK, "%s", ripple_last_error());
    const ripple_model_config *c = ripple_model_get_config(m);
    const int64_t n = c->video_elems, per = c->height * c->width;
    float *d = malloc((size_t)n * sizeof(float)), *x = malloc((size_t)n * sizeof(float));
    char p[1024];
    snprintf(p, sizeof p, "%s/clips/c7s0-dense.h5", dir);
    cr_assert_eq(ripple_video_read(p, "clip", c, d), RIPPLE_OK, "%s", ripple_last_error());
    snprintf(p, sizeof p, "%s/clips/c7s0-reuse-0.05.h5", dir);
    cr_assert_eq(ripple_video_read(p, "clip", c, x), RIPPLE_OK, "%s", ripple_last_error());
    cr_assert_eq(ripple_quality_pixels(n, d, d), RIPPLE_OK);
    cr_assert_eq(ripple_quality_pixels(n, x, x), RIPPLE_OK);
    ripple_quality_result q;
    cr_assert_eq(ripple_quality_clip(c->frames, c->height, c->width, x, d, 1.0, &q), RIPPLE_OK);
    snprintf(p, sizeof p, "%s/quality.tsv", dir);
    const char *tsv = tu_slurp(p);
    /* the table prints 6 significant digits */
    const double tp = cell_num(tsv, "7", "reuse", "0.05", "psnr"), ts = cell_num(tsv, "7", "reuse", "0.05", "ssim");
    cr_expect(fabs(tp - q.psnr) <= 5e-6 * fabs(q.psnr), "table psnr %g, library %.9g", tp, q.psnr);
    cr_expect(fabs(ts - q.ssim) <= 5e-6, "table ssim %g, library %.9g", ts, q.ssim);
    if (have_skimage()) {
        pair pairs[16];
        int np = 0;
        for (int64_t f = 0; f < c->frames && np < 16; f++)
            pairs[np++] = (pair){(int)c->height, (int)c->width, x + f * per, d + f * per};
        against_skimage(pairs, np, "generated.bin");
    } else {
        cr_log_warn("scikit-image not installed: the generated frames were not compared with it");
    }
    free(d), free(x);
    ripple_model_free(m);
}

Test(quality_cmd, resumes_from_finished_rows, .timeout = 900)
{
    /* clips of the model: the sanitizer build runs the same code in test_model and test_generate */
    if (getenv("RIPPLE_SANITIZER_RUN")) cr_skip_test("model clips under the sanitizers outlast CI's budget");
    const char *dir = tiny_quality();
    char p[1024], a[2048];
    snprintf(p, sizeof p, "%s/quality.tsv", dir);
    char *before = tu_read_table(p);
    snprintf(a, sizeof a, "quality --out '%s' --num-steps 2 --classes 7,1 --thetas 0,0.05 --methods svg "
             "--densities 1 --keep-clips --levels 0.1", dir);
    cr_assert_eq(tu_ripple(NULL, a), 0, "%s", tu_err());
    cr_expect(strstr(tu_out(), "finished rows of an earlier run reused"), "%s", tu_out());
    char *after = tu_read_table(p);
    cr_expect_str_eq(after, before, "a resumed run changed the rows");
    free(before), free(after);
}

Test(quality_cmd, misuse)
{
    const char *dir = tu_tmp("quality-misuse");
    char a[2048];
    snprintf(a, sizeof a, "quality --out '%s' --cfg nan", dir);
    tu_expect_misuse(a, 2, "--cfg");
    snprintf(a, sizeof a, "quality --out '%s' --methods svg,bogus", dir);
    tu_expect_misuse(a, 2, "bogus");
    snprintf(a, sizeof a, "quality --out '%s' --classes 10", dir);
    tu_expect_misuse(a, 2, "class 10");
    snprintf(a, sizeof a, "quality '%s' --out '%s'", WEIGHTS, dir);
    tu_expect_misuse(a, 2, "reads no capture");
    snprintf(a, sizeof a, "quality --out '%s' --steps 0:2", dir);
    tu_expect_misuse(a, 2, "--num-steps");
    snprintf(a, sizeof a, "quality --out '%s' --ramp /nonexistent", dir);
    tu_expect_misuse(a, 2, "--table3");
    snprintf(a, sizeof a, "quality --out '%s' --table3 --ramp /nonexistent --num-steps 1", dir);
    tu_expect_misuse(a, 1, "/nonexistent");
    snprintf(a, sizeof a, "frames --out '%s' --window 1", dir);
    tu_expect_misuse(a, 2, "--window");
    /* nothing but the folder's lock and the clips folder is left */
    char p[1024];
    snprintf(p, sizeof p, "%s/quality.tsv", dir);
    cr_expect(!tu_exists(p), "a table was written");
    snprintf(p, sizeof p, "%s/quality.tsv.partial", dir);
    cr_expect(!tu_exists(p), "a partial table was written");
}

Test(quality_cmd, bad_weights_are_a_data_error)
{
    const char *dir = tu_tmp("quality-badweights");
    const char *cut = tu_tmp("cut-weights.h5");
    char a[2048];
    snprintf(a, sizeof a, "head -c 100000 '%s' > '%s'", WEIGHTS, cut);
    cr_assert_eq(tu_system(a), 0);
    snprintf(a, sizeof a, "quality --out '%s' --weights '%s' --num-steps 1", dir, cut);
    tu_expect_misuse(a, 1, "cannot load the model");
    snprintf(a, sizeof a, "quality --out '%s' --weights /nonexistent.h5 --num-steps 1", dir);
    tu_expect_misuse(a, 1, "cannot load the model");
    snprintf(a, sizeof a, "%s/quality.tsv", dir);
    cr_expect(!tu_exists(a), "a table was written");
}

Test(quality_cmd, unwritable_out_is_a_data_error)
{
    /* chmod does not stop root; /proc refuses new files to everyone */
    tu_expect_misuse("quality --out /proc/ripple-quality --num-steps 1", 1, "/proc");
}

Test(frames_cmd, grid_and_rows, .timeout = 600)
{
    /* clips of the model: the sanitizer build runs the same code in test_model and test_generate */
    if (getenv("RIPPLE_SANITIZER_RUN")) cr_skip_test("model clips under the sanitizers outlast CI's budget");
    const char *dir = tu_tmp("frames-tiny");
    char a[2048], p[1024];
    snprintf(a, sizeof a, "frames --out '%s' --num-steps 1", dir);
    cr_assert_eq(tu_ripple(NULL, a), 0, "frames failed: %s", tu_err());
    snprintf(p, sizeof p, "%s/frames.tsv", dir);
    const char *tsv = tu_slurp(p);
    cr_expect_eq(tu_tsv_cell(tsv, 0, NULL, NULL, NULL, NULL), 10, "dense + 3 x 3 cells:\n%s", tsv);
    const char *keys[] = {"group", "axis"}, *dense[] = {"dense", "dense"}, *hh[] = {"h", "h"};
    char cell[64];
    tu_tsv_cell(tsv, 2, keys, dense, "psnr", cell);
    cr_expect_str_eq(cell, "inf", "the dense row against itself");
    tu_tsv_cell(tsv, 2, keys, hh, "s_score", cell);
    /* every window of the h channels along h reused: 1/3-ish of the channels, half the rows */
    cr_expect(atof(cell) > 0.05, "forced reuse saves nothing: s_score %s", cell);
    tu_tsv_cell(tsv, 2, keys, hh, "psnr", cell);
    cr_expect(isfinite(atof(cell)), "forced reuse left the clip unchanged: psnr %s", cell);
    snprintf(p, sizeof p, "%s/frames-c7s0.png", dir);
    cr_expect(!memcmp(tu_slurp(p), "\x89PNG", 4), "no frame grid %s", p);
}
