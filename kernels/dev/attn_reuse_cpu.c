/* Variants of fused reuse attention o = softmax(scale Q~ K~^T) V on the
 * CPU, timed against the dense fused kernel on the same Q~, K~, V in the
 * same run (repetitions interleaved), on a real capture.
 *
 * Variants (each one binary; -D knobs of kernels/x86/attn_reuse_body.h):
 *   dense      the library's exact fused kernel (attn_flash_body.h) on
 *              Q~, K~: what reuse cost before this kernel
 *   delta      query rows as S_src + dQ K~^T (attn_reuse_body.h), the
 *              library's variant; knobs:
 *                DELTA_MAX_FRAC  rows with more than this fraction of
 *                                channels differing stay dense (0.75)
 *                DNV             score vectors a delta row keeps in
 *                                registers (16 zmm = 256 keys)
 *                REUSE_BQ        query rows per work item (96)
 *   exact dups (rows whose every entry equals a neighbour's, which could
 *              copy the neighbour's output; keys equal to another key,
 *              which could merge with a multiplicity): not built, the
 *              counts printed by this program (dup_q, dup_k) show they are
 *              too rare on real captures to pay for a kernel.
 *   channel-group blocks (unique rows per RoPE group): not built, same
 *              reason (group_dup below: a group's slice equal to its
 *              source's is rarer still than a whole duplicate row).
 * Build and run (after meson compile -C build; arguments: capture step
 * layer reps theta...):
 *   kernels/dev/attn_reuse_cpu.sh /tmp/reuse_dev
 *   for x in /tmp/reuse_dev/reuse_dev_*; do \
 *     $x data/captures/tiny-vdit-c1s2-steps.h5 24 1 9 0.05 0.1 0.2; done
 * Each prints, per theta: s_score, rows_reused, the duplicate counts, the
 * fraction of dense rows and the mean |C_i| of delta rows, the counted work
 * fraction of the delta kernel, rel_l2 of both kernels against float64, and
 * on one thread the median times, their ratio (speedup), the ratio of the
 * fastest repetitions (min_sp), and the ratio of the median thread CPU
 * times (cpu_sp): on a machine shared with other jobs the CPU-time ratio
 * is the steadiest of the three.
 * Findings are recorded in kernels/x86/attn_reuse_body.h's header and the
 * README ("Reuse kernel"). */
#define REUSE_FN dev_reuse
#include "internal.h"
#include "backend.h"
ripple_status dev_reuse(const ripple_layout *lay, int window, int64_t heads, double scale, const float *q,
                        const float *k, const float *v, float *o, ripple_attn_reuse_work *work);
#if defined(PATH_AVX2)
#include "../x86/attn_reuse_avx2.c"
#define DENSE ripple_attn_exact_avx2
#else
#include "../x86/attn_reuse_avx512.c"
#define DENSE ripple_attn_exact_avx512
#endif

#include <stdio.h>
#include <time.h>

/* This thread's CPU time: time the scheduler gave the thread, which the
 * other jobs on a shared machine do not inflate as they inflate wall time
 * (hardware counters are not exposed in this VM). */
static double cpu_now(void);
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double rel_l2(const float *o, const double *ref, size_t n)
{
    double e = 0, r = 0;
    for (size_t i = 0; i < n; i++) e += (o[i] - ref[i]) * (o[i] - ref[i]), r += ref[i] * ref[i];
    return sqrt(e / r);
}

/* Rows of x equal on every channel to an earlier row (hash-free: the 7
 * corner projections of the token's cube, as the kernel's candidates). */
static double dup_rows(const ripple_layout *lay, int64_t win, const float *x)
{
    const int64_t T = lay->grid[0], H = lay->grid[1], Wd = lay->grid[2], vo = lay->video_offset, d = lay->head_dim;
    int64_t n = 0;
    for (int64_t v = 0; v < T * H * Wd; v++) {
        const int64_t t = v / (H * Wd), h = v / Wd % H, w = v % Wd;
        int dup = 0;
        for (unsigned a = 1; a < 8 && !dup; a++) {
            int64_t s = ((a & 1u ? t - t % win : t) * H + (a & 2u ? h - h % win : h)) * Wd + (a & 4u ? w - w % win : w);
            if (s != v) dup = !memcmp(x + (size_t)(vo + v) * d, x + (size_t)(vo + s) * d, (size_t)d * 4);
        }
        n += dup;
    }
    return (double)n / (double)lay->seq_len;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s CAPTURE STEP LAYER REPS THETA...\n", argv[0]);
        return 2;
    }
    setenv("RIPPLE_NUM_THREADS", "1", 1);
    ripple_capture *cap;
    if (ripple_capture_open(argv[1], &cap)) return fprintf(stderr, "%s\n", ripple_last_error()), 1;
    const ripple_capture_info *info = ripple_capture_get_info(cap);
    const ripple_layout *lay = &info->layout;
    const int step = atoi(argv[2]), layer = atoi(argv[3]), reps = atoi(argv[4]);
    const int64_t H = info->num_heads, N = lay->seq_len, d = lay->head_dim;
    const size_t n = (size_t)(H * N * d);
    float *q = malloc(n * 4), *k = malloc(n * 4), *v = malloc(n * 4), *qr = malloc(n * 4), *kr = malloc(n * 4);
    float *od = malloc(n * 4), *orr = malloc(n * 4);
    double *ref = malloc(n * 8);
    ripple_mask_t *mq = malloc(n), *mk = malloc(n);
    if (ripple_capture_read(cap, step, layer, RIPPLE_TENSOR_Q, 0, H, q) ||
        ripple_capture_read(cap, step, layer, RIPPLE_TENSOR_K, 0, H, k) ||
        ripple_capture_read(cap, step, layer, RIPPLE_TENSOR_V, 0, H, v))
        return fprintf(stderr, "%s\n", ripple_last_error()), 1;
    printf("# %s BQ %d KC %d DNV %d DELTA_MAX_FRAC %.2f; %s step %d layer %d, %lld heads, N %lld d %lld, 1 thread\n",
           REUSE_PATH, REUSE_BQ, KC, DNV, DELTA_MAX_FRAC, argv[1], step, layer, (long long)H, (long long)N,
           (long long)d);
    printf("%6s %7s %6s %6s %6s %6s %5s %7s %9s %9s %8s %8s %7s %7s %7s %7s\n", "theta", "s_score", "rows_r",
           "dup_q", "dup_k", "dense", "nnz", "work", "rl2_dense", "rl2_reuse", "dense_ms", "reuse_ms", "speedup",
           "min_sp", "cpu_sp", "1/work");
    for (int ai = 5; ai < argc; ai++) {
        ripple_reuse_params p = {0};
        p.theta[0] = p.theta[1] = p.theta[2] = atof(argv[ai]);
        ripple_savings sum = {0};
        double dq = 0, dk = 0;
        for (int64_t h = 0; h < H; h++) {
            size_t off = (size_t)(h * N * d);
            ripple_reuse_apply(lay, &p, q + off, qr + off, mq + off);
            ripple_reuse_apply(lay, &p, k + off, kr + off, mk + off);
            ripple_savings s;
            ripple_savings_compute(lay, mq + off, mk + off, &s);
            ripple_savings_add(&sum, &s);
            dq += dup_rows(lay, 2, qr + off) / (double)H, dk += dup_rows(lay, 2, kr + off) / (double)H;
        }
        ripple_savings_scale(&sum, 1.0 / (double)H);
        ripple_attn_exact_f64(H, N, d, info->scale, qr, kr, v, ref);
        ripple_attn_reuse_work wk;
        double *td = malloc((size_t)reps * 8), *tr = malloc((size_t)reps * 8);
        double *cd = malloc((size_t)reps * 8), *cr = malloc((size_t)reps * 8);
        for (int r = -1; r < reps; r++) {
            double c0 = cpu_now(), t0 = now();
            if (DENSE(H, N, d, info->scale, qr, kr, v, od)) return fprintf(stderr, "%s\n", ripple_last_error()), 1;
            double t1 = now(), c1 = cpu_now();
            if (dev_reuse(lay, 2, H, info->scale, qr, kr, v, orr, &wk))
                return fprintf(stderr, "%s\n", ripple_last_error()), 1;
            double t2 = now(), c2 = cpu_now();
            if (r >= 0) {
                td[r] = t1 - t0, tr[r] = t2 - t1;
                cd[r] = c1 - c0, cr[r] = c2 - c1;
            }
        }
        qsort(td, (size_t)reps, 8, cmp), qsort(tr, (size_t)reps, 8, cmp);
        qsort(cd, (size_t)reps, 8, cmp), qsort(cr, (size_t)reps, 8, cmp);
        double frac = ripple_attn_reuse_work_frac(&wk, d);
        printf("%6.3f %7.3f %6.3f %6.3f %6.3f %6.3f %5.1f %7.3f %9.2e %9.2e %8.2f %8.2f %7.2f %7.2f %7.2f %7.2f\n",
               p.theta[0], sum.s_score, sum.rows_reused, dq, dk, (double)wk.dense_rows / (double)wk.rows,
               wk.delta_rows ? (double)wk.delta_channels / (double)wk.delta_rows : 0.0, frac, rel_l2(od, ref, n),
               rel_l2(orr, ref, n), td[reps / 2] * 1e3, tr[reps / 2] * 1e3, td[reps / 2] / tr[reps / 2],
               td[0] / tr[0], cd[reps / 2] / cr[reps / 2], 1.0 / frac);
        fflush(stdout);
        free(td), free(tr), free(cd), free(cr);
    }
    ripple_capture_close(cap);
    return 0;
}
