/* CPU variant "blas" of exact attention, o = softmax(scale q k^T) v per
 * head, and of masked attention (the same with a rule that keeps some keys
 * of each query row: the attention-map baselines). One row pipeline serves
 * both; they differ only in the per-row softmax step.
 * Twins: x86/attn_exact_avx2.c and x86/attn_exact_avx512.c (fused, exact
 * attention only), cuda/attn_exact_cuda.cu; reference lib/src/attn_ref.c;
 * the backend table that lists them all is lib/src/backend.c.
 *
 * Work items are (head, block of B query rows). A worker computes
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
#include "backend.h"
#include "internal.h"

#include <cblas.h>
#include <math.h>
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

/* The per-row step between the two sgemms: srow holds alpha q.k for one
 * query row; the step turns it into unnormalised weights and returns their
 * sum (>= 1), or a status < 0 through *st. */
typedef struct row_step {
    double alpha_factor; /* alpha = (float)(scale * alpha_factor) */
    double (*run)(const struct row_step *rs, void *scratch, int64_t head, int64_t row, float *srow,
                  int64_t n, ripple_status *st);
    const ripple_row_rule *rule; /* masked attention only */
} row_step;

/* Exact: 2^(s - max), log2 e folded into alpha. */
static double step_exact(const row_step *rs, void *scratch, int64_t h, int64_t row, float *srow,
                         int64_t n, ripple_status *st)
{
    (void)rs, (void)scratch;
    float m = row_max(srow, n);
    if (!isfinite(m)) {
        *st = ripple_fail(RIPPLE_ERR_NONFINITE,
                          "attention: non-finite scores in head %lld, query row %lld "
                          "(scale * q.k overflows float32)",
                          (long long)h, (long long)row);
        return 0;
    }
    return row_exp2_sum(srow, n, m);
}

/* Masked: the rule keeps some keys; e^(s - max over kept) on those, 0 on the
 * rest, summed in double entry by entry. alpha = scale: the rule sees the
 * scores scale q.k (oracle-topk ranks them). scratch: [n] floats, then [n]
 * keep bytes. */
static double step_masked(const row_step *rs, void *scratch, int64_t h, int64_t row, float *srow,
                          int64_t n, ripple_status *st)
{
    float *fs = scratch;
    uint8_t *keep = (uint8_t *)(fs + n);
    rs->rule->keep(rs->rule->ctx, h, row, srow, fs, keep);
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; j++)
        if (keep[j] && srow[j] > mx) mx = srow[j];
    if (!isfinite(mx)) {
        *st = ripple_fail(RIPPLE_ERR_NONFINITE,
                          "masked attention: non-finite scores in head %lld, query row %lld",
                          (long long)h, (long long)row);
        return 0;
    }
    double sum = 0;
    for (int64_t j = 0; j < n; j++) {
        float e = keep[j] ? expf(srow[j] - mx) : 0.0f;
        srow[j] = e;
        sum += (double)e;
    }
    return sum; /* >= 1: the max kept entry is e^0 */
}

typedef struct attn_worker {
    float *s;        /* [ATTN_BLOCK, seq] */
    double *rowsum;  /* [ATTN_BLOCK] */
    void *scratch;   /* the row step's: [seq] floats + [seq] bytes */
} attn_worker;

typedef struct attn_job {
    int64_t seq, dim, nblocks;
    float alpha;
    const float *q, *k, *v;
    float *o;
    const row_step *step;
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
        ripple_status st = RIPPLE_OK;
        w->rowsum[r] = job->step->run(job->step, w->scratch, h, r0 + r, w->s + (size_t)r * (size_t)seq,
                                      seq, &st);
        if (st != RIPPLE_OK) return st;
    }
    float *ob = oh + (size_t)r0 * (size_t)dim;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)dim, (int)seq, 1.0f,
                w->s, (int)seq, vh, (int)dim, 0.0f, ob, (int)dim);
    for (int64_t r = 0; r < rows; r++) {
        float inv = (float)(1.0 / w->rowsum[r]); /* rowsum >= 1 */
        float *orow = ob + (size_t)r * (size_t)dim;
        for (int64_t c = 0; c < dim; c++) orow[c] *= inv;
    }
    return RIPPLE_OK;
}

static ripple_status attn_rows(int64_t heads, int64_t seq, int64_t dim, double scale, const float *q,
                               const float *k, const float *v, float *o, const row_step *step)
{
    ripple_status st = RIPPLE_OK;
    if (seq > INT32_MAX || dim > INT32_MAX)
        return ripple_fail(RIPPLE_ERR_INVALID, "attention: seq %lld or dim %lld exceeds BLAS int",
                           (long long)seq, (long long)dim);

    attn_worker workers[RIPPLE_MAX_THREADS];
    attn_job job = {
        .seq = seq, .dim = dim,
        .nblocks = (seq + ATTN_BLOCK - 1) / ATTN_BLOCK,
        .alpha = (float)(scale * step->alpha_factor),
        .q = q, .k = k, .v = v, .o = o, .step = step,
        .workers = workers,
    };
    int64_t items = heads * job.nblocks;
    int nthreads = ripple_parallel_threads(items);
    int nworkers = 0;

    memset(workers, 0, sizeof workers);
    for (int t = 0; t < nthreads; t++) {
        workers[t].s = malloc((size_t)ATTN_BLOCK * (size_t)seq * sizeof(float));
        workers[t].rowsum = malloc(ATTN_BLOCK * sizeof(double));
        workers[t].scratch = step->rule ? malloc((size_t)seq * (sizeof(float) + 1)) : NULL;
        nworkers++;
        if (!workers[t].s || !workers[t].rowsum || (step->rule && !workers[t].scratch)) {
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
        free(workers[t].scratch);
    }
    return st;
}

ripple_status ripple_attn_exact_blas(int64_t heads, int64_t seq, int64_t dim, double scale,
                                     const float *q, const float *k, const float *v, float *o)
{
    const row_step step = {.alpha_factor = 1.4426950408889634, .run = step_exact};
    return attn_rows(heads, seq, dim, scale, q, k, v, o, &step);
}

ripple_status ripple_attn_masked_blas(int64_t heads, int64_t seq, int64_t dim, double scale,
                                      const float *q, const float *k, const float *v,
                                      const ripple_row_rule *rule, float *o)
{
    const row_step step = {.alpha_factor = 1.0, .run = step_masked, .rule = rule};
    return attn_rows(heads, seq, dim, scale, q, k, v, o, &step);
}
