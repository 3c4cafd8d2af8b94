/* Fused ("flash") exact attention on the CPU: the body shared by the SIMD
 * paths. Not a header to include anywhere else: attn_exact_avx2.c and
 * attn_exact_avx512.c each define the vector layer below and then include
 * this file once, so the two paths are the same algorithm in two widths.
 *
 * The including file defines:
 *   W              float lanes of a vector
 *   vf             the vector type
 *   VLOAD(p) VSTORE(p, x) VSET1(s) VZERO() VFMA(a, b, c) = a*b + c
 *   VMUL(a, b) VMAX(a, b) VADD(a, b) VSUB(a, b) VHMAX(x) VHSUM(x)
 *   VROUND(x) (to the nearest integer)  VMUL_POW2(p, n) = p * 2^n, n integral
 *   QK_R  query rows of the QK^T register tile (times 2 vectors of keys)
 *   PV_R  query rows of the PV register tile (times PV_NV vectors of channels)
 *   FLASH_FN       the function name, FLASH_PATH its path name (a string)
 *
 * Algorithm (FlashAttention-2's loop order, on one core per work item).
 * Work items are (head, block of BQ query rows). Per head, K is packed once
 * as K^T panels of KW = 2W keys, kp[nkb][dim][KW], and V as vp[seqp][dimp]
 * (keys padded to KW, channels to W, padding zero). A work item walks the
 * keys in chunks of at most KC (equal sizes, multiples of KW):
 *   S = ((scale log2 e) Q_blk) K_c^T   register tile QK_R x 2W, loop over dim
 *   m' = max(m, rowmax S); P = 2^(S - m'); l = l 2^(m - m') + rowsum P
 *   O = O 2^(m - m') + P V_c           register tile PV_R x PV_NV W
 * and at the end o = O / l. Memory per worker: BQ x (KC + dimp) floats plus
 * the packed K and V of the heads (the size of k and v), never seq^2, all in
 * the calling thread's workspace (lib/src/workspace.c), kept between calls.
 * Padded keys get the score -inf; their 2^(-126 - m) <= 2^-126 enters the row
 * sum only (PV stops at the last real key), below 2^-100 of a sum that is at
 * least 1. Row sums: float lanes per chunk, chunks added in double.
 *
 * Tile sizes (kernels/dev/attn_exact_cpu_sweep.sh, one thread, seq 4096,
 * dim 64, 2-vCPU Intel Xeon with AVX-512 (Sapphire Rapids), 2026-12-01): the
 * avx512 path reached 0.80-0.92 of one-thread sgemm 1024^3 in the same run
 * over BQ 48/96/192, KC 128/256/512 and PV_KB 64/KC, with no ordering that
 * repeated between runs; BQ 96, KC 256 kept. perf: Q K^T 47%, P V 41%,
 * softmax and rescaling 11% of the kernel's time. */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KW (2 * W)
#ifndef BQ
#define BQ 96
#endif
#ifndef KC
#define KC 256
#endif
#ifndef PV_KB
#define PV_KB KC
#endif
_Static_assert(BQ % QK_R == 0 && BQ % PV_R == 0, "BQ must be a multiple of both row tiles");
_Static_assert(KC % KW == 0 && KC >= 128, "KC: a multiple of the key panel, at least 128 (tests/test_attn.c)");

typedef struct flash_worker {
    float *qb;   /* [BQ, dim]: the block's query rows, zero past the last */
    float *s;    /* [BQ, KC]: scores, then probabilities */
    float *acc;  /* [BQ, dimp]: unnormalised output */
    float *m;    /* [BQ]: running row max of the scaled scores */
    double *l;   /* [BQ]: running row sum */
} flash_worker;

typedef struct flash_job {
    int64_t seq, dim, dimp, nkb, nqb;
    int64_t kc;           /* keys per chunk: a multiple of KW, at most KC */
    float alpha;          /* scale * log2(e) */
    const float *q, *k, *v;
    float *o;
    float *kp, *vp;       /* packed K^T panels and padded V, all heads */
    flash_worker *workers;
} flash_job;

/* 2^x for x <= 0 (scores minus the row max), the BLAS path's exp2_poly in
 * vectors: x = n + f by rounding, f in [-1/2, 1/2], 2^f by the Cephes exp2f
 * minimax polynomial (relative error ~2e-7), times 2^n; x < -126 gives
 * 2^-126. */
static inline vf VEXP2(vf x)
{
    x = VMAX(x, VSET1(-126.0f));
    vf n = VROUND(x);
    vf f = VSUB(x, n);
    vf p = VSET1(1.535336188319500e-4f);
    p = VFMA(p, f, VSET1(1.339887440266574e-3f));
    p = VFMA(p, f, VSET1(9.618437357674640e-3f));
    p = VFMA(p, f, VSET1(5.550332471162809e-2f));
    p = VFMA(p, f, VSET1(2.402264791363012e-1f));
    p = VFMA(p, f, VSET1(6.931472028550421e-1f));
    p = VFMA(p, f, VSET1(1.0f));
    return VMUL_POW2(p, n);
}

static size_t kp_head_floats(const flash_job *j) { return (size_t)j->nkb * (size_t)j->dim * KW; }
static size_t vp_head_floats(const flash_job *j) { return (size_t)j->nkb * KW * (size_t)j->dimp; }

/* Packs head h's K into K^T panels and V into padded rows. */
static ripple_status flash_pack(void *ctx, int worker, int64_t h)
{
    (void)worker;
    flash_job *j = ctx;
    const int64_t seq = j->seq, dim = j->dim, dimp = j->dimp;
    const float *kh = j->k + (size_t)h * (size_t)seq * (size_t)dim;
    const float *vh = j->v + (size_t)h * (size_t)seq * (size_t)dim;
    float *kp = j->kp + (size_t)h * kp_head_floats(j);
    float *vp = j->vp + (size_t)h * vp_head_floats(j);
    for (int64_t b = 0; b < j->nkb; b++) {
        float *panel = kp + (size_t)b * (size_t)dim * KW;
        for (int64_t t = 0; t < KW; t++) {
            int64_t key = b * KW + t;
            for (int64_t c = 0; c < dim; c++)
                panel[(size_t)c * KW + (size_t)t] = key < seq ? kh[(size_t)key * (size_t)dim + (size_t)c] : 0.0f;
        }
    }
    for (int64_t key = 0; key < j->nkb * KW; key++) {
        float *row = vp + (size_t)key * (size_t)dimp;
        for (int64_t c = 0; c < dimp; c++)
            row[c] = key < seq && c < dim ? vh[(size_t)key * (size_t)dim + (size_t)c] : 0.0f;
    }
    return RIPPLE_OK;
}

/* S[r][0..2W) of rows r0..r0+QK_R = Q_r . K_panel (Q already scaled by alpha). */
static inline void qk_tile(const float *qb, int64_t dim, const float *panel, float *s)
{
    vf a0[QK_R], a1[QK_R];
    for (int r = 0; r < QK_R; r++) a0[r] = VZERO(), a1[r] = VZERO();
    for (int64_t c = 0; c < dim; c++) {
        vf k0 = VLOAD(panel + (size_t)c * KW), k1 = VLOAD(panel + (size_t)c * KW + W);
        for (int r = 0; r < QK_R; r++) {
            vf b = VSET1(qb[(size_t)r * (size_t)dim + (size_t)c]);
            a0[r] = VFMA(b, k0, a0[r]);
            a1[r] = VFMA(b, k1, a1[r]);
        }
    }
    for (int r = 0; r < QK_R; r++) {
        VSTORE(s + (size_t)r * KC, a0[r]);
        VSTORE(s + (size_t)r * KC + W, a1[r]);
    }
}

/* acc[r][c0 .. c0 + NV W) += sum_j P[r][j] vp[j][c0 ..] for PV_R rows. */
#define PV_TILE(NAME, NV)                                                                  \
    static inline void NAME(const float *s, const float *vp, int64_t dimp, int64_t nk,     \
                            float *acc)                                                    \
    {                                                                                      \
        vf a[PV_R][NV];                                                                    \
        for (int r = 0; r < PV_R; r++)                                                     \
            for (int v = 0; v < NV; v++) a[r][v] = VLOAD(acc + (size_t)r * (size_t)dimp + (size_t)v * W); \
        for (int64_t t = 0; t < nk; t++) {                                                 \
            vf x[NV];                                                                      \
            for (int v = 0; v < NV; v++) x[v] = VLOAD(vp + (size_t)t * (size_t)dimp + (size_t)v * W); \
            for (int r = 0; r < PV_R; r++) {                                               \
                vf b = VSET1(s[(size_t)r * KC + (size_t)t]);                               \
                for (int v = 0; v < NV; v++) a[r][v] = VFMA(b, x[v], a[r][v]);             \
            }                                                                              \
        }                                                                                  \
        for (int r = 0; r < PV_R; r++)                                                     \
            for (int v = 0; v < NV; v++) VSTORE(acc + (size_t)r * (size_t)dimp + (size_t)v * W, a[r][v]); \
    }
PV_TILE(pv_tile_wide, PV_NV)
PV_TILE(pv_tile_one, 1)

/* attn_reuse_body.h includes this file for its pieces (the vector exp2,
 * the packing, the register tiles) and defines its own entry point. */
#ifndef FLASH_NO_ENTRY
/* Work item it = head * nqb + query block. */
static ripple_status flash_item(void *ctx, int worker, int64_t it)
{
    flash_job *j = ctx;
    flash_worker *w = &j->workers[worker];
    const int64_t seq = j->seq, dim = j->dim, dimp = j->dimp;
    const int64_t h = it / j->nqb, r0 = (it % j->nqb) * BQ;
    const int64_t nr = seq - r0 < BQ ? seq - r0 : BQ;
    const float *qh = j->q + (size_t)h * (size_t)seq * (size_t)dim;
    const float *kp = j->kp + (size_t)h * kp_head_floats(j);
    const float *vp = j->vp + (size_t)h * vp_head_floats(j);

    /* alpha folded into the copy of Q: one rounding per q entry, none per score */
    for (size_t i = 0; i < (size_t)nr * (size_t)dim; i++) w->qb[i] = qh[(size_t)r0 * (size_t)dim + i] * j->alpha;
    memset(w->qb + (size_t)nr * (size_t)dim, 0, (size_t)(BQ - nr) * (size_t)dim * sizeof(float));
    memset(w->acc, 0, (size_t)BQ * (size_t)dimp * sizeof(float));
    for (int64_t r = 0; r < BQ; r++) w->m[r] = -INFINITY, w->l[r] = 0.0;
    /* rows of the tiles that cover nr rows (the last block may be short) */
    const int64_t nr_qk = (nr + QK_R - 1) / QK_R * QK_R;
    const int64_t nr_pv = (nr + PV_R - 1) / PV_R * PV_R;

    for (int64_t k0 = 0; k0 < seq; k0 += j->kc) {
        const int64_t nk = seq - k0 < j->kc ? seq - k0 : j->kc;
        const int64_t nkp = (nk + KW - 1) / KW * KW;
        const float *chunk = kp + (size_t)(k0 / KW) * (size_t)dim * KW;
        /* panel outer: one K panel (dim x 2W floats) stays in L1 for all strips */
        for (int64_t b = 0; b < nkp; b += KW)
            for (int64_t r = 0; r < nr_qk; r += QK_R)
                qk_tile(w->qb + (size_t)r * (size_t)dim, dim, chunk + (size_t)(b / KW) * (size_t)dim * KW,
                        w->s + (size_t)r * KC + (size_t)b);
        for (int64_t r = 0; r < nr; r++) {
            float *srow = w->s + (size_t)r * KC;
            for (int64_t t = nk; t < nkp; t++) srow[t] = -INFINITY;
            vf vm = VSET1(-INFINITY);
            for (int64_t t = 0; t < nkp; t += W) vm = VMAX(vm, VLOAD(srow + t));
            float mc = VHMAX(vm);
            if (!isfinite(mc))
                return ripple_fail(RIPPLE_ERR_NONFINITE,
                                   "attention: non-finite scores in head %lld, query row %lld "
                                   "(scale * q.k overflows float32)",
                                   (long long)h, (long long)(r0 + r));
            float mnew = mc > w->m[r] ? mc : w->m[r];
            if (mnew > w->m[r] && w->m[r] > -INFINITY) {
                float corr = exp2f(w->m[r] - mnew);
                w->l[r] *= (double)corr;
                float *arow = w->acc + (size_t)r * (size_t)dimp;
                for (int64_t c = 0; c < dimp; c++) arow[c] *= corr;
            }
            w->m[r] = mnew;
            vf vmn = VSET1(mnew), sum = VZERO();
            for (int64_t t = 0; t < nkp; t += W) {
                vf e = VEXP2(VSUB(VLOAD(srow + t), vmn));
                VSTORE(srow + t, e);
                sum = VADD(sum, e);
            }
            w->l[r] += (double)VHSUM(sum);
        }
        /* keys in sub-blocks of PV_KB outer, so that the sub-block of V stays
         * in L1 while every strip of rows uses it */
        for (int64_t t0 = 0; t0 < nk; t0 += PV_KB) {
            const int64_t nt = nk - t0 < PV_KB ? nk - t0 : PV_KB;
            const float *vc = vp + (size_t)(k0 + t0) * (size_t)dimp;
            for (int64_t r = 0; r < nr_pv; r += PV_R) {
                const float *sr = w->s + (size_t)r * KC + (size_t)t0;
                float *ar = w->acc + (size_t)r * (size_t)dimp;
                int64_t c = 0;
                for (; c + PV_NV * W <= dimp; c += PV_NV * W) pv_tile_wide(sr, vc + c, dimp, nt, ar + c);
                for (; c < dimp; c += W) pv_tile_one(sr, vc + c, dimp, nt, ar + c);
            }
        }
    }
    float *oh = j->o + ((size_t)h * (size_t)seq + (size_t)r0) * (size_t)dim;
    for (int64_t r = 0; r < nr; r++) {
        float inv = (float)(1.0 / w->l[r]); /* l >= 1: the max entry is 2^0 */
        const float *arow = w->acc + (size_t)r * (size_t)dimp;
        for (int64_t c = 0; c < dim; c++) oh[(size_t)r * (size_t)dim + (size_t)c] = arow[c] * inv;
    }
    return RIPPLE_OK;
}

ripple_status FLASH_FN(int64_t heads, int64_t seq, int64_t dim, double scale, const float *q,
                       const float *k, const float *v, float *o)
{
    ripple_status st = RIPPLE_OK;
    flash_worker workers[RIPPLE_MAX_THREADS];
    flash_job job = {
        .seq = seq, .dim = dim, .dimp = (dim + W - 1) / W * W,
        .nqb = (seq + BQ - 1) / BQ,
        .alpha = (float)(scale * 1.4426950408889634),
        .q = q, .k = k, .v = v, .o = o, .workers = workers,
    };
    /* Chunks of equal size (a multiple of the panel, at most KC), so that a
     * short last chunk does not pay a whole chunk's fixed costs: seq 1028 is
     * 5 chunks of 224 keys, not 4 of 256 and one of 4. */
    {
        int64_t nchunks = (seq + KC - 1) / KC;
        job.kc = ((seq + nchunks - 1) / nchunks + KW - 1) / KW * KW;
        job.nkb = nchunks * (job.kc / KW);
    }
    int64_t items = heads * job.nqb;
    int nthreads = ripple_parallel_threads(items);
    /* One block of the calling thread's workspace (workspace.c: kept from
     * call to call, so a warm call touches no fresh pages): the packed K
     * and V, then each worker's tiles, every piece 64-byte aligned. */
    const size_t kpn = (size_t)heads * kp_head_floats(&job), vpn = (size_t)heads * vp_head_floats(&job);
#define ALIGN16(n) (((n) + 15) / 16 * 16) /* floats, to 64 bytes */
    const size_t tile = ALIGN16((size_t)BQ * (size_t)dim) + ALIGN16((size_t)BQ * KC) +
                        ALIGN16((size_t)BQ * (size_t)job.dimp) + ALIGN16(BQ) + ALIGN16(2 * BQ);
    const size_t total = ALIGN16(kpn) + ALIGN16(vpn) + (size_t)nthreads * tile;
    float *ws = ripple_workspace(total * sizeof(float));
    if (!ws)
        return ripple_fail(RIPPLE_ERR_NOMEM, "attention (%s): no memory for packed k, v and tiles (%zu floats)",
                           FLASH_PATH, total);
    memset(workers, 0, sizeof workers);
    job.kp = ws;
    job.vp = ws + ALIGN16(kpn);
    for (int t = 0; t < nthreads; t++) {
        float *p = job.vp + ALIGN16(vpn) + (size_t)t * tile;
        flash_worker *w = &workers[t];
        w->qb = p, p += ALIGN16((size_t)BQ * (size_t)dim);
        w->s = p, p += ALIGN16((size_t)BQ * KC);
        w->acc = p, p += ALIGN16((size_t)BQ * (size_t)job.dimp);
        w->m = p, p += ALIGN16(BQ);
        w->l = (double *)p;
    }
#undef ALIGN16
    st = ripple_parallel_for(heads, ripple_parallel_threads(heads), flash_pack, &job);
    if (st == RIPPLE_OK) st = ripple_parallel_for(items, nthreads, flash_item, &job);

    return st;
}
#endif /* FLASH_NO_ENTRY */
