/* Synthetic data (ripple_synth_layer) and the `ripple synth` / `ripple info`
 * commands: determinism, the exact RoPE rotation, the per-step noise law,
 * argument validation, and command-line behaviour (exit codes 0/1/2, no
 * output file left behind on failure). */
#include "testutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const double pi = 3.141592653589793;

/* 8x16x16 grid, 4 text tokens first, head_dim 64 split t 16, h 24, w 24. */
static ripple_layout std_layout(void)
{
    ripple_layout lay = {.grid = {8, 16, 16}, .video_offset = 4, .head_dim = 64, .num_groups = 3,
                         .group_axis = {RIPPLE_AXIS_T, RIPPLE_AXIS_H, RIPPLE_AXIS_W},
                         .group_len = {16, 24, 24}};
    lay.seq_len = lay.video_offset + 8 * 16 * 16;
    return lay;
}

typedef struct {
    float *q, *k, *v;
    size_t n;
} qkv;

static qkv qkv_alloc(const ripple_layout *lay, int64_t nheads)
{
    qkv b;
    b.n = (size_t)nheads * (size_t)lay->seq_len * (size_t)lay->head_dim;
    b.q = malloc(b.n * sizeof(float));
    b.k = malloc(b.n * sizeof(float));
    b.v = malloc(b.n * sizeof(float));
    cr_assert(b.q && b.k && b.v);
    return b;
}

static void qkv_free(qkv *b)
{
    free(b->q);
    free(b->k);
    free(b->v);
}

static void synth(const ripple_layout *lay, const ripple_synth_params *p, int step, int num_steps,
                  int layer, int64_t nheads, qkv *b)
{
    ripple_status st = ripple_synth_layer(lay, p, step, num_steps, layer, nheads, b->q, b->k, b->v);
    cr_assert_eq(st, RIPPLE_OK, "synth failed: %s", ripple_last_error());
}

/* ------------------------------------------------------------- library */

Test(synth, deterministic_in_seed_step_layer_head)
{
    ripple_layout lay = std_layout();
    qkv a = qkv_alloc(&lay, 2), b = qkv_alloc(&lay, 2), one = qkv_alloc(&lay, 1);
    ripple_synth_params p = {.seed = 42};
    synth(&lay, &p, 3, 10, 1, 2, &a);
    synth(&lay, &p, 3, 10, 1, 2, &b);
    cr_expect(!memcmp(a.q, b.q, a.n * sizeof(float)), "q differs between identical calls");
    cr_expect(!memcmp(a.k, b.k, a.n * sizeof(float)), "k differs between identical calls");
    cr_expect(!memcmp(a.v, b.v, a.n * sizeof(float)), "v differs between identical calls");

    /* a head does not depend on how many heads were asked for */
    synth(&lay, &p, 3, 10, 1, 1, &one);
    cr_expect(!memcmp(a.q, one.q, one.n * sizeof(float)), "head 0 depends on nheads");

    /* heads differ from each other */
    cr_expect(memcmp(a.q, a.q + one.n, one.n * sizeof(float)), "heads 0 and 1 are equal");

    /* another seed, step or layer gives other values */
    p.seed = 43;
    synth(&lay, &p, 3, 10, 1, 2, &b);
    cr_expect(memcmp(a.q, b.q, a.n * sizeof(float)), "seed does not change q");
    p.seed = 42;
    synth(&lay, &p, 4, 10, 1, 2, &b);
    cr_expect(memcmp(a.q, b.q, a.n * sizeof(float)), "step does not change q");
    synth(&lay, &p, 3, 10, 0, 2, &b);
    cr_expect(memcmp(a.q, b.q, a.n * sizeof(float)), "layer does not change q");
    qkv_free(&a);
    qkv_free(&b);
    qkv_free(&one);
}

Test(synth, values_are_finite_and_order_one)
{
    ripple_layout lay = std_layout();
    qkv a = qkv_alloc(&lay, 3);
    synth(&lay, NULL, 0, 50, 0, 3, &a);
    float *t[3] = {a.q, a.k, a.v};
    for (int x = 0; x < 3; x++) {
        double ss = 0;
        size_t bad = a.n; /* first non-finite element (loop asserts are slow under --full-stats) */
        for (size_t i = 0; i < a.n; i++) {
            if (!isfinite(t[x][i]) && bad == a.n) bad = i;
            ss += (double)t[x][i] * t[x][i];
        }
        cr_assert_eq(bad, a.n, "tensor %d element %zu is not finite", x, bad);
        double rms = sqrt(ss / (double)a.n);
        cr_expect(rms > 0.5 && rms < 2.0, "tensor %d has rms %g, not O(1)", x, rms);
    }
    qkv_free(&a);
}

/* RoPE, exactly: with two rope bases b1, b2 the pair (2i, 2i+1) of a group
 * of L channels along axis a is the same vector turned by
 * pos_a * (b2^(-2i/L) - b1^(-2i/L)); its norm does not change; v and the
 * channels outside the groups do not change at all. */
Test(synth, rope_rotates_pairs_by_position_along_the_group_axis)
{
    ripple_layout lay = std_layout();
    lay.grid[0] = 5, lay.grid[1] = 6, lay.grid[2] = 7;
    lay.head_dim = 70; /* 6 channels outside the groups */
    lay.group_len[0] = 17; /* odd: its last channel is not rotated */
    lay.group_len[1] = 24;
    lay.group_len[2] = 23;
    lay.group_axis[0] = RIPPLE_AXIS_W, lay.group_axis[1] = RIPPLE_AXIS_T, lay.group_axis[2] = RIPPLE_AXIS_H;
    lay.seq_len = lay.video_offset + 5 * 6 * 7 + 3; /* text before and after */
    const double b1 = 10000, b2 = 50;
    qkv a = qkv_alloc(&lay, 2), b = qkv_alloc(&lay, 2);
    ripple_synth_params p1 = {.seed = 9, .rope_base = b1}, p2 = {.seed = 9, .rope_base = b2};
    synth(&lay, &p1, 1, 4, 2, 2, &a);
    synth(&lay, &p2, 1, 4, 2, 2, &b);
    cr_expect(!memcmp(a.v, b.v, a.n * sizeof(float)), "v depends on the rope base");
    const int64_t d = lay.head_dim, W = lay.grid[2], H = lay.grid[1];
    const float *xa[2] = {a.q, a.k}, *xb[2] = {b.q, b.k};
    int64_t checked = 0, rotated = 0;
    /* the first failure only: asserts in loops are slow under --full-stats */
    char first_fail[512] = "";
#define NOTE(...)                                                                            \
    do {                                                                                     \
        if (!first_fail[0]) snprintf(first_fail, sizeof first_fail, __VA_ARGS__);            \
    } while (0)
    for (int x = 0; x < 2; x++)
        for (int64_t hd = 0; hd < 2; hd++)
            for (int64_t tok = 0; tok < lay.seq_len; tok++) {
                const float *ra = xa[x] + (hd * lay.seq_len + tok) * d;
                const float *rb = xb[x] + (hd * lay.seq_len + tok) * d;
                int64_t v = tok - lay.video_offset;
                int video = v >= 0 && v < 5 * 6 * 7;
                int64_t coord[3] = {video ? v / (H * W) : 0, video ? v / W % H : 0, video ? v % W : 0};
                int64_t start = 0;
                for (int g = 0; g < 3; g++) {
                    const int64_t len = lay.group_len[g];
                    for (int64_t i = 0; 2 * i + 1 < len; i++) {
                        const int64_t c = start + 2 * i;
                        if (!video) {
                            if (ra[c] != rb[c] || ra[c + 1] != rb[c + 1])
                                NOTE("text token %lld rotated", (long long)tok);
                            continue;
                        }
                        double na = hypot(ra[c], ra[c + 1]), nb = hypot(rb[c], rb[c + 1]);
                        if (!(fabs(na - nb) <= 1e-5 * (1 + na)))
                            NOTE("pair norm changes with the rope base: %g vs %g (token %lld ch %lld)",
                                 na, nb, (long long)tok, (long long)c);
                        if (na < 0.1) continue;
                        const double pos = (double)coord[lay.group_axis[g]];
                        const double want = pos * (pow(b2, -2.0 * (double)i / (double)len) -
                                                   pow(b1, -2.0 * (double)i / (double)len));
                        const double got = atan2(rb[c + 1], rb[c]) - atan2(ra[c + 1], ra[c]);
                        const double err = remainder(got - want, 2 * pi);
                        if (!(fabs(err) < 1e-4))
                            NOTE("pair %lld of group %d (axis %d) at token %lld turned by %g, want %g",
                                 (long long)i, g, lay.group_axis[g], (long long)tok, got, want);
                        checked++;
                        rotated += fabs(remainder(want, 2 * pi)) > 1e-3;
                    }
                    if (len % 2) {
                        const int64_t c = start + len - 1;
                        if (ra[c] != rb[c]) NOTE("odd last channel %lld is rotated", (long long)c);
                    }
                    start += len;
                }
                for (int64_t c = start; c < d; c++)
                    if (ra[c] != rb[c]) NOTE("channel %lld outside the groups is rotated", (long long)c);
            }
#undef NOTE
    cr_expect_str_eq(first_fail, "", "%s", first_fail);
    cr_expect_gt(checked, 10000);
    cr_expect_gt(rotated, checked / 2, "too few pairs were actually rotated (%lld of %lld)",
                 (long long)rotated, (long long)checked);
    qkv_free(&a);
    qkv_free(&b);
}

/* Mean over heads of the per-channel window deltas of x along axis a. */
static void mean_deltas(const ripple_layout *lay, const float *x, int64_t nheads, ripple_axis a,
                        double *out)
{
    double *dm = malloc((size_t)lay->head_dim * sizeof *dm);
    for (int64_t c = 0; c < lay->head_dim; c++) out[c] = 0;
    for (int64_t h = 0; h < nheads; h++) {
        cr_assert_eq(ripple_window_delta_mean(lay, a, 2, x + h * lay->seq_len * lay->head_dim, dm),
                     RIPPLE_OK, "%s", ripple_last_error());
        for (int64_t c = 0; c < lay->head_dim; c++) out[c] += dm[c] / (double)nheads;
    }
    free(dm);
}

/* The statistical face of RoPE: the fastest pair (i = 0, one radian per
 * position) of a group varies much more along the group's own axis than the
 * slowest pair does, and not along the other axes. */
Test(synth, fast_rope_pairs_vary_along_their_axis_only)
{
    ripple_layout lay = std_layout();
    const int64_t nh = 8;
    qkv a = qkv_alloc(&lay, nh);
    ripple_synth_params p = {.seed = 5};
    synth(&lay, &p, 49, 50, 0, nh, &a); /* last step: little noise */
    double dm[3][64];
    for (int ax = 0; ax < 3; ax++) mean_deltas(&lay, a.q, nh, (ripple_axis)ax, dm[ax]);
    int64_t start = 0;
    for (int g = 0; g < 3; g++) {
        const int64_t len = lay.group_len[g];
        for (int ax = 0; ax < 3; ax++) {
            double fast = (dm[ax][start] + dm[ax][start + 1]) / 2;
            double slow = (dm[ax][start + len - 2] + dm[ax][start + len - 1]) / 2;
            if (ax == lay.group_axis[g])
                cr_expect_gt(fast, 2.0 * slow, "group %d along its axis: fast pair %g, slow pair %g",
                             g, fast, slow);
            else
                cr_expect(fast < 1.6 * slow && slow < 1.6 * fast,
                          "group %d along axis %d: fast pair %g vs slow pair %g should be alike", g,
                          ax, fast, slow);
        }
        start += len;
    }
    qkv_free(&a);
}

/* The noise law of ripple_synth_params, quantitatively: with fields that
 * are constant over the grid (huge smooth) and no RoPE groups, the window-2
 * delta |x0 - x1| / 2 of two N(0, sigma^2) values has mean sigma / sqrt(pi),
 * sigma(step) = noise * (1 - 0.9 * step / (num_steps - 1)). */
Test(synth, noise_follows_the_documented_law)
{
    ripple_layout lay = std_layout();
    lay.num_groups = 0;
    const int64_t nh = 4;
    const int num_steps = 21;
    qkv a = qkv_alloc(&lay, nh);
    ripple_synth_params p = {.seed = 11, .smooth = 1e6, .noise = 0.5};
    const int steps[] = {0, 5, 10, 20};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        synth(&lay, &p, steps[s], num_steps, 3, nh, &a);
        const double sigma = 0.5 * (1 - 0.9 * steps[s] / (double)(num_steps - 1));
        float *t[3] = {a.q, a.k, a.v};
        for (int x = 0; x < 3; x++) {
            double dm[64], mean = 0;
            mean_deltas(&lay, t[x], nh, RIPPLE_AXIS_W, dm);
            for (int c = 0; c < 64; c++) mean += dm[c] / 64;
            /* 4 heads x 64 channels x 1024 windows: relative sd ~ 0.2% */
            cr_expect(fabs(mean / (sigma / sqrt(pi)) - 1) < 0.02,
                      "step %d tensor %d: mean delta %g, law says %g", steps[s], x, mean,
                      sigma / sqrt(pi));
        }
    }
    qkv_free(&a);
}

/* With the default smooth fields: less noise, smaller deltas, step by step. */
Test(synth, deltas_fall_with_the_step)
{
    ripple_layout lay = std_layout();
    const int64_t nh = 2;
    qkv a = qkv_alloc(&lay, nh);
    ripple_synth_params p = {.seed = 3};
    double prev = INFINITY;
    for (int step = 0; step < 50; step += 7) {
        synth(&lay, &p, step, 50, 0, nh, &a);
        double mean = 0;
        for (int ax = 0; ax < 3; ax++) {
            double dm[64];
            mean_deltas(&lay, a.k, nh, (ripple_axis)ax, dm);
            for (int c = 0; c < 64; c++) mean += dm[c] / (3 * 64);
        }
        cr_expect_lt(mean, prev, "mean window delta at step %d (%g) >= earlier step (%g)", step,
                     mean, prev);
        prev = mean;
    }
    qkv_free(&a);
}

Test(synth, text_tokens_are_standard_normal_and_step_independent)
{
    ripple_layout lay = std_layout();
    lay.video_offset = 100;
    lay.seq_len = 100 + 8 * 16 * 16 + 50;
    qkv a = qkv_alloc(&lay, 1), b = qkv_alloc(&lay, 1);
    synth(&lay, NULL, 0, 10, 0, 1, &a);
    synth(&lay, NULL, 9, 10, 0, 1, &b);
    double s = 0, ss = 0;
    size_t cnt = 0;
    int64_t changed = -1;
    for (int64_t tok = 0; tok < lay.seq_len; tok++) {
        if (tok >= lay.video_offset && tok < lay.video_offset + 8 * 16 * 16) continue;
        for (int64_t c = 0; c < 64; c++) {
            float x = a.q[tok * 64 + c];
            if (x != b.q[tok * 64 + c] && changed < 0) changed = tok;
            s += x, ss += (double)x * x, cnt++;
        }
    }
    cr_expect_eq(changed, -1, "text token %lld changes with the step", (long long)changed);
    double mean = s / (double)cnt, var = ss / (double)cnt - mean * mean;
    cr_expect(fabs(mean) < 0.05 && fabs(var - 1) < 0.1, "text mean %g var %g", mean, var);
    qkv_free(&a);
    qkv_free(&b);
}

Test(synth, rejects_bad_arguments)
{
    ripple_layout lay = std_layout();
    qkv a = qkv_alloc(&lay, 1);
    ripple_synth_params p = {0};
#define BAD(call, code)                                                                      \
    do {                                                                                     \
        ripple_status st_ = (call);                                                          \
        cr_expect_eq(st_, code, "%s returned %d", #call, st_);                               \
        cr_expect(strlen(ripple_last_error()) > 0, "%s left no message", #call);              \
    } while (0)
    BAD(ripple_synth_layer(NULL, &p, 0, 1, 0, 1, a.q, a.k, a.v), RIPPLE_ERR_INVALID);
    BAD(ripple_synth_layer(&lay, &p, 1, 1, 0, 1, a.q, a.k, a.v), RIPPLE_ERR_INVALID);
    BAD(ripple_synth_layer(&lay, &p, -1, 5, 0, 1, a.q, a.k, a.v), RIPPLE_ERR_INVALID);
    BAD(ripple_synth_layer(&lay, &p, 0, 0, 0, 1, a.q, a.k, a.v), RIPPLE_ERR_INVALID);
    BAD(ripple_synth_layer(&lay, &p, 0, 1, -1, 1, a.q, a.k, a.v), RIPPLE_ERR_INVALID);
    BAD(ripple_synth_layer(&lay, &p, 0, 1, 0, 0, a.q, a.k, a.v), RIPPLE_ERR_INVALID);
    BAD(ripple_synth_layer(&lay, &p, 0, 1, 0, 1, a.q, NULL, a.v), RIPPLE_ERR_INVALID);
    ripple_layout bad = lay;
    bad.seq_len = 100; /* video tokens do not fit */
    BAD(ripple_synth_layer(&bad, &p, 0, 1, 0, 1, a.q, a.k, a.v), RIPPLE_ERR_INVALID);
    bad = lay;
    bad.group_len[2] = 40; /* groups exceed head_dim */
    BAD(ripple_synth_layer(&bad, &p, 0, 1, 0, 1, a.q, a.k, a.v), RIPPLE_ERR_INVALID);
    bad = lay;
    bad.grid[1] = 0;
    BAD(ripple_synth_layer(&bad, &p, 0, 1, 0, 1, a.q, a.k, a.v), RIPPLE_ERR_INVALID);
    p.smooth = -1;
    BAD(ripple_synth_layer(&lay, &p, 0, 1, 0, 1, a.q, a.k, a.v), RIPPLE_ERR_INVALID);
    p.smooth = 0, p.noise = NAN;
    BAD(ripple_synth_layer(&lay, &p, 0, 1, 0, 1, a.q, a.k, a.v), RIPPLE_ERR_INVALID);
    p.noise = 0, p.rope_base = 0.5;
    BAD(ripple_synth_layer(&lay, &p, 0, 1, 0, 1, a.q, a.k, a.v), RIPPLE_ERR_INVALID);
    p.rope_base = INFINITY;
    BAD(ripple_synth_layer(&lay, &p, 0, 1, 0, 1, a.q, a.k, a.v), RIPPLE_ERR_INVALID);
    /* heads x seq_len x head_dim overflowing */
    BAD(ripple_synth_layer(&lay, NULL, 0, 1, 0, INT64_MAX / 2, a.q, a.k, a.v), RIPPLE_ERR_NOMEM);
#undef BAD
    qkv_free(&a);
}

Test(synth, fast_enough)
{
    ripple_layout lay = std_layout();
    qkv a = qkv_alloc(&lay, 4);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    synth(&lay, NULL, 0, 50, 0, 4, &a);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    /* about 0.06 s on one core of the build machine; generous for debug builds */
    cr_expect_lt(s, 1.0, "one layer of 4 heads on 8x16x16 took %.3f s", s);
    qkv_free(&a);
}

/* ------------------------------------------------------- command line */

/* Number of entries in a folder besides . and .. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* Value of a key<TAB>value line of TSV text ("" if absent). */
static const char *tsv_key(const char *text, const char *key)
{
    static char val[512];
    size_t kl = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (!strncmp(l, key, kl) && l[kl] == '\t') {
            const char *e = strchr(l + kl + 1, '\n');
            size_t n = e ? (size_t)(e - l - kl - 1) : strlen(l + kl + 1);
            if (n >= sizeof val) n = sizeof val - 1;
            memcpy(val, l + kl + 1, n);
            val[n] = '\0';
            return val;
        }
    }
    return "";
}

Test(synth_cli, synth_then_info)
{
    char a[2048];
    const char *out = tu_tmp("s1.h5");
    snprintf(a, sizeof a, "synth '%s' --grid 3,4,5 --heads 3 --head-dim 32 --rope-split 8,12,12 "
             "--num-steps 20 --steps 3 --layers 2 --text 5 --seed 7 --dtype f32", out);
    cr_assert_eq(tu_ripple(NULL, a), 0, "synth failed: %s", tu_err());
    cr_assert(tu_exists(out));

    snprintf(a, sizeof a, "info '%s'", out);
    cr_assert_eq(tu_ripple(NULL, a), 0, "info failed: %s", tu_err());
    const char *txt = tu_out();
    cr_expect(strstr(txt, "3 x 4 x 5"), "no grid in: %s", txt);
    cr_expect(strstr(txt, "synthetic"), "no model in: %s", txt);
    cr_expect(strstr(txt, "t 0-7, h 8-19, w 20-31"), "no channel groups in: %s", txt);
    cr_expect(strstr(txt, "0 (t=1)"), "no step 0 with its timestep in: %s", txt);
    cr_expect(strstr(txt, "19 (t=0.05)"), "no last step 19 in: %s", txt);
    cr_expect(strstr(txt, "window delta is below theta"), "no explanation in: %s", txt);

    snprintf(a, sizeof a, "info '%s' --format tsv", out);
    cr_assert_eq(tu_ripple(NULL, a), 0, "info tsv failed: %s", tu_err());
    txt = tu_out();
    cr_expect_str_eq(tsv_key(txt, "grid"), "3,4,5");
    cr_expect_str_eq(tsv_key(txt, "seq_len"), "65");
    cr_expect_str_eq(tsv_key(txt, "video_offset"), "5");
    cr_expect_str_eq(tsv_key(txt, "text_tokens"), "5");
    cr_expect_str_eq(tsv_key(txt, "rope_split"), "8,12,12");
    cr_expect_str_eq(tsv_key(txt, "num_heads"), "3");
    cr_expect_str_eq(tsv_key(txt, "num_steps"), "20");
    cr_expect_str_eq(tsv_key(txt, "num_layers"), "2");
    cr_expect_str_eq(tsv_key(txt, "seed"), "7");
    cr_expect_str_eq(tsv_key(txt, "dtype"), "float32");
    cr_expect_str_eq(tsv_key(txt, "entries"), "6");
    cr_expect_str_eq(tsv_key(txt, "first_entry"), "0/0");
    cr_expect_str_eq(tsv_key(txt, "data_bytes"), "449280"); /* 6 x 3 x 3 x 65 x 32 x 4 */
    cr_expect(strstr(txt, "step\t10\t0.5\t0-1\n"), "step 10 line missing: %s", txt);
    cr_expect(strstr(txt, "tensor\tgroup\tfirst_channel\tchannels\tdelta_t\tdelta_h\tdelta_w\n"),
              "delta header missing: %s", txt);
    /* q of the t group: a positive delta along t */
    const char *row = strstr(txt, "\nq\tt\t0\t8\t");
    cr_assert(row, "no q/t row: %s", txt);
    double dt = strtod(row + strlen("\nq\tt\t0\t8\t"), NULL);
    cr_expect(dt > 0.01 && dt < 2, "q t-group delta along t is %g", dt);

    /* another entry and a subset of heads */
    snprintf(a, sizeof a, "info '%s' --format tsv --step 19 --layer 1 --heads 1:3", out);
    cr_assert_eq(tu_ripple(NULL, a), 0, "%s", tu_err());
    txt = tu_out();
    cr_expect_str_eq(tsv_key(txt, "delta_entry"), "19/1");
    cr_expect_str_eq(tsv_key(txt, "delta_heads"), "1:3");
}

Test(synth_cli, same_seed_same_data_other_seed_other_data)
{
    char a[2048], first[1 << 12];
    const char *common = "--grid 2,3,4 --heads 1 --head-dim 16 --rope-split 4,6,6 --steps 1 --layers 1";
    snprintf(a, sizeof a, "synth '%s' %s --seed 1", tu_tmp("d1.h5"), common);
    cr_assert_eq(tu_ripple(NULL, a), 0, "%s", tu_err());
    snprintf(a, sizeof a, "synth '%s' %s --seed 1", tu_tmp("d2.h5"), common);
    cr_assert_eq(tu_ripple(NULL, a), 0, "%s", tu_err());
    snprintf(a, sizeof a, "synth '%s' %s --seed 2", tu_tmp("d3.h5"), common);
    cr_assert_eq(tu_ripple(NULL, a), 0, "%s", tu_err());
    /* the delta table of info is a fingerprint of the data */
    snprintf(a, sizeof a, "info '%s' --format tsv", tu_tmp("d1.h5"));
    cr_assert_eq(tu_ripple(NULL, a), 0, "%s", tu_err());
    snprintf(first, sizeof first, "%s", strstr(tu_out(), "tensor\t"));
    snprintf(a, sizeof a, "info '%s' --format tsv", tu_tmp("d2.h5"));
    cr_assert_eq(tu_ripple(NULL, a), 0, "%s", tu_err());
    cr_expect_str_eq(strstr(tu_out(), "tensor\t"), first);
    snprintf(a, sizeof a, "info '%s' --format tsv", tu_tmp("d3.h5"));
    cr_assert_eq(tu_ripple(NULL, a), 0, "%s", tu_err());
    cr_expect_str_neq(strstr(tu_out(), "tensor\t"), first);
}

/* A misuse of synth: exit code, a short message naming the problem, and no
 * file left in the (otherwise empty) output folder. */
static void synth_misuse(const char *opts, int code, const char *needle)
{
    static int count;
    char dir[600], a[2048];
    snprintf(dir, sizeof dir, "%s", tu_tmp("misuse"));
    snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "%d", count++);
    mkdir(dir, 0700);
    snprintf(a, sizeof a, "synth '%s/out.h5' %s", dir, opts);
    int rc = tu_ripple(NULL, a);
    const char *err = tu_err();
    cr_expect_eq(rc, code, "`ripple %s` exited %d, wanted %d (stderr: %s)", a, rc, code, err);
    cr_expect(strstr(err, needle), "`ripple %s`: stderr lacks '%s': %s", a, needle, err);
    cr_expect_leq(tu_count_lines(err), 2, "`ripple %s`: long error: %s", a, err);
    cr_expect_eq(dir_entries(dir), 0, "`ripple %s` left files in %s", a, dir);
}

Test(synth_cli, bad_options_exit_2_and_write_nothing)
{
    synth_misuse("--grid 0,4,4", 2, "--grid");
    synth_misuse("--grid 4,4", 2, "--grid");
    synth_misuse("--heads 0", 2, "--heads");
    synth_misuse("--dtype f64", 2, "--dtype");
    synth_misuse("--rope-split 40,40,40", 2, "--rope-split");
    synth_misuse("--steps 60", 2, "--num-steps");
    synth_misuse("--smooth -1", 2, "--smooth");
    synth_misuse("--noise abc", 2, "not a number");
    synth_misuse("--bogus", 2, "unknown option '--bogus'");
    synth_misuse("--seed", 2, "needs a value");
    synth_misuse("--grid 1000,1000,1000 --heads 24", 2, "GiB");
    synth_misuse("--grid 2000000000,2000000000,2000000000", 2, "too many");
    synth_misuse("--head-dim 2", 2, "--rope-split");
    cr_expect_eq(tu_ripple(NULL, "synth"), 2);
    cr_expect(strstr(tu_err(), "missing OUT.h5"));
    cr_expect_eq(tu_ripple(NULL, "synth --help"), 0);
    cr_expect(strstr(tu_out(), "usage: ripple synth"));
    cr_expect(strstr(tu_out(), "sigma(step)"));
}

Test(synth_cli, unwritable_output_exits_1)
{
    char a[1024];
    snprintf(a, sizeof a, "synth /nonexistent-dir/x.h5 --grid 2,2,2 --head-dim 8 --rope-split 2,2,2");
    int rc = tu_ripple(NULL, a);
    cr_expect_eq(rc, 1, "exit %d: %s", rc, tu_err());
    cr_expect(strstr(tu_err(), "/nonexistent-dir/x.h5"), "%s", tu_err());
    cr_expect(!tu_exists("/nonexistent-dir/x.h5"));
}

Test(synth_cli, info_errors)
{
    char a[2048];
    tu_expect_misuse("info /nonexistent/x.h5", 1, "/nonexistent/x.h5");
    FILE *f = fopen(tu_tmp("junk.h5"), "w");
    fputs("this is not HDF5\n", f);
    fclose(f);
    snprintf(a, sizeof a, "info '%s'", tu_tmp("junk.h5"));
    tu_expect_misuse(a, 1, "junk.h5");
    tu_expect_misuse("info", 2, "missing CAPTURE");

    const char *out = tu_tmp("ie.h5");
    snprintf(a, sizeof a, "synth '%s' --grid 2,3,4 --heads 2 --head-dim 16 --rope-split 4,6,6 "
             "--steps 2 --layers 1", out);
    cr_assert_eq(tu_ripple(NULL, a), 0, "%s", tu_err());
    snprintf(a, sizeof a, "info '%s' --format xml", out);
    tu_expect_misuse(a, 2, "--format");
    snprintf(a, sizeof a, "info '%s' --heads 1:9", out);
    tu_expect_misuse(a, 2, "--heads");
    snprintf(a, sizeof a, "info '%s' --bogus", out);
    tu_expect_misuse(a, 2, "unknown option '--bogus'");
    snprintf(a, sizeof a, "info '%s' '%s'", out, out);
    tu_expect_misuse(a, 2, "unexpected argument");
    snprintf(a, sizeof a, "info '%s' --step 5 --layer 0", out);
    tu_expect_misuse(a, 1, "step 5 is not captured");
    snprintf(a, sizeof a, "info '%s' --step 0 --layer 3", out);
    tu_expect_misuse(a, 1, "layer 3 is not captured");
    cr_expect_eq(tu_ripple(NULL, "info --help"), 0);
    cr_expect(strstr(tu_out(), "usage: ripple info"));
}
