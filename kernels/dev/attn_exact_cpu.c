/* Variants of the fused CPU exact-attention kernel, timed one at a time.
 *
 * The kernel is kernels/x86/attn_flash_body.h; this file compiles one of its
 * SIMD paths under another name with the tile sizes given on the command
 * line, checks it against the float64 reference (lib/src/attn_ref.c) and
 * times it on one thread, beside OpenBLAS sgemm on one thread in the same
 * run. Knobs (all -D):
 *   PATH_AVX512 or PATH_AVX2   which SIMD path
 *   BQ   query rows per work item (a multiple of both register tiles)
 *   KC   keys per chunk (a multiple of 2 W, at least 128)
 *   PV_KB keys per sub-block of the P V loop (V sub-block kept in L1)
 * Build every variant, then run them (arguments: seq dim reps):
 *   kernels/dev/attn_exact_cpu_sweep.sh /tmp/attn_dev
 *   for x in /tmp/attn_dev/attn_dev_*; do $x 4096 64 9; done
 * Each prints its rel_l2 against float64, its GFLOP/s and sgemm 1024^3's on
 * one thread (best of reps, interleaved), and their ratio.
 * Findings are recorded in kernels/x86/attn_flash_body.h's header. */
#define FLASH_FN dev_attn
#include "internal.h"
ripple_status dev_attn(int64_t heads, int64_t seq, int64_t dim, double scale, const float *q,
                       const float *k, const float *v, float *o);
#if defined(PATH_AVX2)
#include "../x86/attn_exact_avx2.c"
#else
#include "../x86/attn_exact_avx512.c"
#endif

#include <cblas.h>
#include <stdio.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void fill(float *x, size_t n, uint64_t s)
{
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 40) * 0x1.0p-24 * 2.0 - 1.0);
    }
}

int main(int argc, char **argv)
{
    int64_t seq = argc > 1 ? atol(argv[1]) : 4096, dim = argc > 2 ? atol(argv[2]) : 64;
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    setenv("RIPPLE_NUM_THREADS", "1", 1);
    openblas_set_num_threads(1);
    size_t n = (size_t)(seq * dim);
    float *q = malloc(n * 4), *k = malloc(n * 4), *v = malloc(n * 4), *o = malloc(n * 4);
    fill(q, n, 1), fill(k, n, 2), fill(v, n, 3);
    double scale = 1.0 / sqrt((double)dim);
    int64_t nv = seq < 512 ? seq : 512;
    double *ref = malloc((size_t)(nv * dim) * 8);
    ripple_attn_exact_f64(1, nv, dim, scale, q, k, v, ref);
    FLASH_FN(1, nv, dim, scale, q, k, v, o);
    double e2 = 0, r2 = 0;
    for (int64_t i = 0; i < nv * dim; i++) e2 += (o[i] - ref[i]) * (o[i] - ref[i]), r2 += ref[i] * ref[i];
    const int sn = 1024;
    float *a = malloc((size_t)sn * sn * 4), *b = malloc((size_t)sn * sn * 4), *c = malloc((size_t)sn * sn * 4);
    fill(a, (size_t)sn * sn, 4), fill(b, (size_t)sn * sn, 5);
    double best_a = 1e30, best_s = 1e30;
    for (int r = 0; r <= reps; r++) {
        double t0 = now();
        if (FLASH_FN(1, seq, dim, scale, q, k, v, o) != RIPPLE_OK) return 1;
        double t1 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, sn, sn, sn, 1.0f, a, sn, b, sn, 0.0f, c, sn);
        double t2 = now();
        if (r && t1 - t0 < best_a) best_a = t1 - t0;
        if (r && t2 - t1 < best_s) best_s = t2 - t1;
    }
    double ga = 4.0 * seq * seq * dim / best_a * 1e-9, gs = 2.0 * sn * sn * sn / best_s * 1e-9;
    printf("%s BQ %d KC %d PV_KB %d seq %lld dim %lld: rel_l2 %.2e  attn %.1f GFLOP/s  sgemm %.1f  ratio %.2f (best of %d)\n",
           FLASH_PATH, BQ, KC, PV_KB, (long long)seq, (long long)dim, sqrt(e2 / r2), ga, gs, ga / gs, reps);
    return 0;
}
