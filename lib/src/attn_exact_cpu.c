/* Exact attention on the CPU: o = softmax(scale q k^T) v per head.
 * Twin of kernels/attn_exact.cu; reference in attn_ref.c.
 *
 * The CPU backend has named paths (ripple.h, ripple_cpu_path_*): "blas" in
 * this file, and the fused SIMD kernels "avx2" and "avx512" in
 * kernels/cpu/attn_exact_*.c. The table at the end of this file lists them;
 * ripple_attn_exact_cpu runs the last one the CPU can run, or the one named
 * by RIPPLE_CPU_PATH.
 *
 * Path "blas". Work items are (head, block of B query rows). A worker computes
 *   S = (scale log2 e) Q_blk K^T      cblas_sgemm, K^T by CblasTrans   [B, seq]
 *   P = 2^(S - rowmax S), l = rowsum P  one fused pass after a max pass
 *   O_blk = P V / l                    cblas_sgemm, then a [B, dim] rescale
 * so the memory is B x seq floats per worker, never seq^2. Folding log2 e
 * into the sgemm alpha turns exp into exp2, whose polynomial (exp2_poly) is
 * written branch-free so gcc vectorises it. The row loops are compiled for
 * the baseline ISA only (no target_clones), so that this path is one fixed,
 * testable variant; the fast paths are the fused kernels.
 * Row sums: float lanes over chunks of 256 entries, chunks added in double.
 * Work items run on parallel.c's pthread pool (RIPPLE_NUM_THREADS, default:
 * online CPUs); during a call OpenBLAS is set to one thread so each worker's
 * sgemm runs in the worker (no oversubscription), and the caller's OpenBLAS
 * setting is restored afterwards.
 *
 * History of this path (before the fused paths existed, when its row loops
 * still had target_clones; 2-core AMD EPYC Zen 4 VM, OpenBLAS 0.3.21 pthread DYNAMIC_ARCH ->
 * Cooperlake kernels, gcc 12 -O3; seq 4096, dim 64, 4 heads, 4 N^2 d flops
 * per head). The machine was shared with parallel builds (load average 4-6
 * on 2 cores), so single figures swing by 2x; only ratios to the sgemm of
 * the same run mean anything:
 *   ripple bench (2 threads, B=64, exp2_poly, target_clones):
 *     attention 83.0 GFLOP/s vs sgemm 2048^3 98.8 -> 0.84
 *     attention 37.8 GFLOP/s vs sgemm 2048^3 43.1 -> 0.88 (heavier load)
 *     attention 42.5 GFLOP/s vs sgemm 2048^3 113  -> 0.38 (load burst)
 *   B=128: 0.40 and 1.14 in two runs; B=32 / 256 (quick harness): 0.51-0.59
 *     and 0.75-0.83: no difference resolvable under this load; B=64 kept
 *     (64 x 4096 floats = 1 MiB = one Zen 4 L2).
 *   One thread per stage (1 head, quick harness): QK^T sgemm 49-85 GFLOP/s,
 *   PV sgemm 55-90, similar to one-thread sgemm 2048^3 (50-79), so the two
 *   thin sgemms (K = 64 for QK^T, N = 64 for PV) run near peak and the
 *   fused softmax (16-lane exp2 polynomial, AVX-512 clone) is a small part.
 *   target_clones("avx512f", "avx2,fma") silently made separate avx2 and
 *   fma clones (commas separate clones): use arch=x86-64-v4 / v3.
 * To do on a quiet machine: re-run the B sweep; try computing S for two
 * row blocks per K pack (OpenBLAS re-packs K^T and V for every call).
 */
#include "internal.h"
#include "ripple_config.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Query rows per work item: S block = ATTN_BLOCK x seq floats. */
#ifndef ATTN_BLOCK
#define ATTN_BLOCK 64
#endif
/* Float lanes of the fused max/exp/sum loops (one AVX-512 register). */
#define LANES 16
/* Entries summed in float before the partial sums go to double. */
#define SUM_CHUNK 256


static inline uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* 2^x for x <= 0 (scores minus the row max). x < -126 gives 2^-126, far below
 * anything that changes a row sum >= 1. Round-to-nearest splits x = n + f,
 * f in [-1/2, 1/2]; 2^f by the Cephes exp2f minimax polynomial (relative
 * error ~2e-7 in float); 2^n by building the exponent field. No branches, so
 * gcc vectorises callers. */
static inline float exp2_poly(float x)
{
    const float shifter = 0x1.8p23f; /* adding it rounds to an integer */
    x = x < -126.0f ? -126.0f : x;
    float t = x + shifter;
    float n = t - shifter;
    float f = x - n;
    int32_t ni = (int32_t)(f2u(t) - f2u(shifter)); /* n as integer, -126..0 */
    float p = 1.535336188319500e-4f;
    p = p * f + 1.339887440266574e-3f;
    p = p * f + 9.618437357674640e-3f;
    p = p * f + 5.550332471162809e-2f;
    p = p * f + 2.402264791363012e-1f;
    p = p * f + 6.931472028550421e-1f;
    p = p * f + 1.0f;
    return p * u2f((uint32_t)(ni + 127) << 23);
}

/* Max of a row; n >= 1. */
static float row_max(const float *s, int64_t n)
{
    float acc[LANES];
    for (int l = 0; l < LANES; l++) acc[l] = -INFINITY;
    int64_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++) acc[l] = s[j + l] > acc[l] ? s[j + l] : acc[l];
    float m = -INFINITY;
    for (int l = 0; l < LANES; l++) m = acc[l] > m ? acc[l] : m;
    for (; j < n; j++) m = s[j] > m ? s[j] : m;
    return m;
}

/* s[j] = 2^(s[j] - m) in place; returns the sum of the new values. */
static double row_exp2_sum(float *s, int64_t n, float m)
{
    double total = 0.0;
    int64_t j = 0;
    while (j + LANES <= n) {
        float acc[LANES] = {0};
        int64_t end = j + SUM_CHUNK <= n ? j + SUM_CHUNK : n;
        for (; j + LANES <= end; j += LANES)
            for (int l = 0; l < LANES; l++) {
                float e = exp2_poly(s[j + l] - m);
                s[j + l] = e;
                acc[l] += e;
            }
        for (int l = 0; l < LANES; l++) total += (double)acc[l];
    }
    for (; j < n; j++) {
        float e = exp2_poly(s[j] - m);
        s[j] = e;
        total += (double)e;
    }
    return total;
}

typedef struct attn_worker {
    float *s;        /* [ATTN_BLOCK, seq] */
    double *rowsum;  /* [ATTN_BLOCK] */
} attn_worker;

typedef struct attn_job {
    int64_t seq, dim, nblocks;
    float alpha; /* scale * log2(e) */
    const float *q, *k, *v;
    float *o;
    attn_worker *workers; /* [threads] */
} attn_job;

/* Work item it = head * nblocks + block. */
static ripple_status attn_item(void *ctx, int worker, int64_t it)
{
    attn_job *job = ctx;
    attn_worker *w = &job->workers[worker];
    const int64_t seq = job->seq, dim = job->dim;
    int64_t h = it / job->nblocks;
    int64_t r0 = (it % job->nblocks) * ATTN_BLOCK;
    int64_t rows = seq - r0 < ATTN_BLOCK ? seq - r0 : ATTN_BLOCK;
    const float *qh = job->q + (size_t)h * (size_t)seq * (size_t)dim;
    const float *kh = job->k + (size_t)h * (size_t)seq * (size_t)dim;
    const float *vh = job->v + (size_t)h * (size_t)seq * (size_t)dim;
    float *oh = job->o + (size_t)h * (size_t)seq * (size_t)dim;

    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)seq, (int)dim,
                job->alpha, qh + (size_t)r0 * (size_t)dim, (int)dim, kh, (int)dim, 0.0f,
                w->s, (int)seq);
    for (int64_t r = 0; r < rows; r++) {
        float *srow = w->s + (size_t)r * (size_t)seq;
        float m = row_max(srow, seq);
        if (!isfinite(m))
            return ripple_fail(RIPPLE_ERR_NONFINITE,
                               "attention: non-finite scores in head %lld, query row %lld "
                               "(scale * q.k overflows float32)",
                               (long long)h, (long long)(r0 + r));
        w->rowsum[r] = row_exp2_sum(srow, seq, m);
    }
    float *ob = oh + (size_t)r0 * (size_t)dim;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)dim, (int)seq, 1.0f,
                w->s, (int)seq, vh, (int)dim, 0.0f, ob, (int)dim);
    for (int64_t r = 0; r < rows; r++) {
        float inv = (float)(1.0 / w->rowsum[r]); /* rowsum >= 1: the max entry is 2^0 */
        float *orow = ob + (size_t)r * (size_t)dim;
        for (int64_t c = 0; c < dim; c++) orow[c] *= inv;
    }
    return RIPPLE_OK;
}

ripple_status ripple_attn_exact_blas(int64_t heads, int64_t seq, int64_t dim, double scale,
                                     const float *q, const float *k, const float *v, float *o)
{
    ripple_status st = RIPPLE_OK;
    if (seq > INT32_MAX || dim > INT32_MAX)
        return ripple_fail(RIPPLE_ERR_INVALID, "attention: seq %lld or dim %lld exceeds BLAS int",
                           (long long)seq, (long long)dim);

    attn_worker workers[RIPPLE_MAX_THREADS];
    attn_job job = {
        .seq = seq, .dim = dim,
        .nblocks = (seq + ATTN_BLOCK - 1) / ATTN_BLOCK,
        .alpha = (float)(scale * 1.4426950408889634),
        .q = q, .k = k, .v = v, .o = o,
        .workers = workers,
    };
    int64_t items = heads * job.nblocks;
    int nthreads = ripple_parallel_threads(items);
    int nworkers = 0;

    memset(workers, 0, sizeof workers);
    for (int t = 0; t < nthreads; t++) {
        workers[t].s = malloc((size_t)ATTN_BLOCK * (size_t)seq * sizeof(float));
        workers[t].rowsum = malloc(ATTN_BLOCK * sizeof(double));
        nworkers++;
        if (!workers[t].s || !workers[t].rowsum) {
            st = ripple_fail(RIPPLE_ERR_NOMEM, "attention: no memory for a %d x %lld score block",
                             ATTN_BLOCK, (long long)seq);
            goto done;
        }
    }
    st = ripple_parallel_for(items, nthreads, attn_item, &job);

done:
    for (int t = 0; t < nworkers; t++) {
        free(workers[t].s);
        free(workers[t].rowsum);
    }
    return st;
}

/* ------------------------------------------------------------ the paths */

typedef ripple_status (*cpu_attn_fn)(int64_t heads, int64_t seq, int64_t dim, double scale,
                                     const float *q, const float *k, const float *v, float *o);

static int path_any(void) { return 1; }

#if RIPPLE_HAVE_X86_KERNELS
static int path_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
/* libgcc's and compiler-rt's cpu model also check that the OS saves the
 * AVX-512 state (XCR0) before reporting avx512f. */
static int path_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
#endif

static const struct cpu_path {
    const char *name;
    int (*available)(void);
    cpu_attn_fn fn;
} cpu_paths[] = {
    {"blas", path_any, ripple_attn_exact_blas},
#if RIPPLE_HAVE_X86_KERNELS
    {"avx2", path_avx2, ripple_attn_exact_avx2},
    {"avx512", path_avx512, ripple_attn_exact_avx512},
#endif
};
#define NUM_CPU_PATHS ((int)(sizeof cpu_paths / sizeof cpu_paths[0]))

int ripple_cpu_path_count(void) { return NUM_CPU_PATHS; }

const char *ripple_cpu_path_name(int i)
{
    return i >= 0 && i < NUM_CPU_PATHS ? cpu_paths[i].name : NULL;
}

int ripple_cpu_path_available(int i)
{
    return i >= 0 && i < NUM_CPU_PATHS ? cpu_paths[i].available() : 0;
}

static pthread_once_t selected_once = PTHREAD_ONCE_INIT;
static int selected_path = -1;
static char selected_env[32];

static void select_path(void)
{
    const char *env = getenv("RIPPLE_CPU_PATH");
    if (env && *env) {
        snprintf(selected_env, sizeof selected_env, "%s", env);
        for (int i = 0; i < NUM_CPU_PATHS; i++)
            if (!strcmp(env, cpu_paths[i].name) && cpu_paths[i].available()) selected_path = i;
        return;
    }
    for (int i = 0; i < NUM_CPU_PATHS; i++)
        if (cpu_paths[i].available()) selected_path = i;
}

int ripple_cpu_path_selected(void)
{
    pthread_once(&selected_once, select_path);
    return selected_path;
}

ripple_status ripple_attn_exact_cpu_path(int path, int64_t heads, int64_t seq, int64_t dim,
                                         double scale, const float *q, const float *k,
                                         const float *v, float *o)
{
    if (path < 0 || path >= NUM_CPU_PATHS)
        return ripple_fail(RIPPLE_ERR_INVALID, "attention: no CPU path %d (there are %d)", path,
                           NUM_CPU_PATHS);
    if (!cpu_paths[path].available())
        return ripple_fail(RIPPLE_ERR_UNSUPPORTED,
                           "attention: CPU path %s cannot run on this processor",
                           cpu_paths[path].name);
    ripple_status st = ripple_attn_check(heads, seq, dim, scale, q, k, v, o);
    if (st != RIPPLE_OK) return st;
    return cpu_paths[path].fn(heads, seq, dim, scale, q, k, v, o);
}

ripple_status ripple_attn_exact_cpu(int64_t heads, int64_t seq, int64_t dim, double scale,
                                    const float *q, const float *k, const float *v, float *o)
{
    int path = ripple_cpu_path_selected();
    if (path < 0) {
        char names[128] = "";
        for (int i = 0; i < NUM_CPU_PATHS; i++)
            if (cpu_paths[i].available())
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                         names[0] ? ", " : "", cpu_paths[i].name);
        return ripple_fail(RIPPLE_ERR_UNSUPPORTED,
                           "attention: RIPPLE_CPU_PATH=%s is not a CPU path this machine can run "
                           "(it can run: %s)",
                           selected_env, names);
    }
    return ripple_attn_exact_cpu_path(path, heads, seq, dim, scale, q, k, v, o);
}
