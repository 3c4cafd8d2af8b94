/* Device helpers shared by the fused kernels of attn_flash_cuda.cu and
 * attn_reuse_cuda.cu (included after DEV is defined). */
#ifndef RIPPLE_FLASH_COMMON_CUH
#define RIPPLE_FLASH_COMMON_CUH

#include <stdint.h>

DEV void record_bad(unsigned long long *d_bad, long long head, long long seq, long long row)
{
    if (d_bad && row < seq) atomicMin(d_bad, (unsigned long long)(head * seq + row));
}

/* Tensor-core score fragments (the mma/wgmma accumulator layout of 16 rows,
 * flattened: s[4i + u] is row g, key 8i + 2t + u; s[4i + 2 + u] row g + 8):
 * scaled, keys at or past seq set to -inf, and the row maxima mx0 (row g),
 * mx1 (row g + 8), which come in as the running ones, taken over the tile and
 * the quad of lanes that holds the two rows. */
template <int N>
DEV void scale_mask_max(float (&s)[N], long long key0, long long seq, int t, float scale, float &mx0, float &mx1)
{
#pragma unroll
    for (int i = 0; i < N / 4; i++) {
#pragma unroll
        for (int u = 0; u < 2; u++) {
            const bool ok = key0 + i * 8 + 2 * t + u < seq;
            s[4 * i + u] = ok ? s[4 * i + u] * scale : -INFINITY;
            s[4 * i + 2 + u] = ok ? s[4 * i + 2 + u] * scale : -INFINITY;
            mx0 = fmaxf(mx0, s[4 * i + u]);
            mx1 = fmaxf(mx1, s[4 * i + 2 + u]);
        }
    }
#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, off));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, off));
    }
}

/* The end of a tensor-core kernel's two rows r0 (g) and r0 + 8: the quad's
 * partial sums l0, l1 added up, and a row whose running max is not finite
 * recorded in d_bad. */
DEV void finish_rows(float &l0, float &l1, bool bad, float m0, float m1, unsigned long long *d_bad, long long head,
                     long long seq, long long r0)
{
#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {
        l0 += __shfl_xor_sync(0xffffffffu, l0, off);
        l1 += __shfl_xor_sync(0xffffffffu, l1, off);
    }
    if (bad) {
        if (!isfinite(m0)) record_bad(d_bad, head, seq, r0);
        if (!isfinite(m1)) record_bad(d_bad, head, seq, r0 + 8);
    }
}

/* Four consecutive channels c..c+3 of one row (zeros past dim or when the
 * row is out of range); vec: dim % 4 == 0 and rows 16-byte aligned. */
DEV float4 load4(const float *row, int c, int dim, bool ok, bool vec)
{
    float4 z = make_float4(0.f, 0.f, 0.f, 0.f);
    if (!ok) return z;
    if (vec) return c < dim ? __ldg(reinterpret_cast<const float4 *>(row + c)) : z;
    z.x = c < dim ? __ldg(row + c) : 0.f;
    z.y = c + 1 < dim ? __ldg(row + c + 1) : 0.f;
    z.z = c + 2 < dim ? __ldg(row + c + 2) : 0.f;
    z.w = c + 3 < dim ? __ldg(row + c + 3) : 0.f;
    return z;
}

/* The float32 FMA tiles shared by flash_fp32 (attn_flash_cuda.cu) and the
 * reuse kernel (attn_reuse_cuda.cu): 128 threads, thread (ty, tx) = (tid /
 * 16, tid % 16) owns rows ty*8..+7 x keys tx*4..+3 of a score tile and rows
 * ty*8..+7 x channels tx*4 + 64 u + 0..3 of the output. QT: [DP][BM] (Q
 * transposed), KT: [DP][BN], Vs: [BN][DP]. */
namespace fma_tile {

constexpr int THREADS = 128;

/* Zero sums, running max -inf, per-thread partial row sums zero. */
template <int DP>
DEV void init(float (&acc)[8][(DP + 63) / 64 * 4], float (&m)[8], float (&l)[8])
{
#pragma unroll
    for (int i = 0; i < 8; i++) {
        m[i] = -INFINITY, l[i] = 0.f;
#pragma unroll
        for (int u = 0; u < (DP + 63) / 64 * 4; u++) acc[i][u] = 0.f;
    }
}

/* Four channels c..c+3 of the row in column `col` of Q^T [DP][BM]. */
template <int BM>
DEV void put_qt(float *QT, int col, int c, float4 x)
{
    QT[(c + 0) * BM + col] = x.x, QT[(c + 1) * BM + col] = x.y;
    QT[(c + 2) * BM + col] = x.z, QT[(c + 3) * BM + col] = x.w;
}

/* K^T and V of keys [key0, key0 + BN) to shared memory (zeros past seq). */
template <int DP, int BN>
DEV void load_kv(float *KT, float *Vs, const float *k, const float *v, long long key0, long long seq, int dim,
                 bool vec)
{
    for (int e = threadIdx.x; e < BN * DP / 4; e += THREADS) {
        const int r = e / (DP / 4), c = (e % (DP / 4)) * 4;
        const bool ok = key0 + r < seq;
        const size_t off = (size_t)(ok ? key0 + r : 0) * dim;
        const float4 x = load4(k + off, c, dim, ok, vec);
        KT[(c + 0) * BN + r] = x.x, KT[(c + 1) * BN + r] = x.y;
        KT[(c + 2) * BN + r] = x.z, KT[(c + 3) * BN + r] = x.w;
        *reinterpret_cast<float4 *>(Vs + r * DP + c) = load4(v + off, c, dim, ok, vec);
    }
}

/* s = Q K^T of the thread's 8 rows (QT columns ty*8..) and 4 keys. */
template <int DP, int BM, int BN>
DEV void qk(float (&s)[8][4], const float *QT, const float *KT, int ty, int tx)
{
#pragma unroll
    for (int i = 0; i < 8; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll 4
    for (int c = 0; c < DP; c++) {
        const float4 qa = *reinterpret_cast<const float4 *>(QT + c * BM + ty * 8);
        const float4 qb = *reinterpret_cast<const float4 *>(QT + c * BM + ty * 8 + 4);
        const float4 kb = *reinterpret_cast<const float4 *>(KT + c * BN + tx * 4);
        const float qv[8] = {qa.x, qa.y, qa.z, qa.w, qb.x, qb.y, qb.z, qb.w};
        const float kv[4] = {kb.x, kb.y, kb.z, kb.w};
#pragma unroll
        for (int i = 0; i < 8; i++)
#pragma unroll
            for (int jj = 0; jj < 4; jj++) s[i][jj] = fmaf(qv[i], kv[jj], s[i][jj]);
    }
}

/* acc += p (the 8 rows' weights of key r) x V[r] over the thread's channels. */
template <int DP>
DEV void pv(float (&acc)[8][(DP + 63) / 64 * 4], const float (&p)[8], const float *Vs, int r, int tx)
{
#pragma unroll
    for (int cu = 0; cu < (DP + 63) / 64; cu++) {
        const int c = tx * 4 + 64 * cu;
        float4 vb = make_float4(0.f, 0.f, 0.f, 0.f);
        if (c < DP) vb = *reinterpret_cast<const float4 *>(Vs + r * DP + c);
        const float vv[4] = {vb.x, vb.y, vb.z, vb.w};
#pragma unroll
        for (int i = 0; i < 8; i++)
#pragma unroll
            for (int jj = 0; jj < 4; jj++) acc[i][cu * 4 + jj] = fmaf(p[i], vv[jj], acc[i][cu * 4 + jj]);
    }
}

/* One output row: the thread's channels of acc_row times inv. */
template <int DP>
DEV void store(float *orow, const float (&acc_row)[(DP + 63) / 64 * 4], float inv, int tx, int dim)
{
#pragma unroll
    for (int cu = 0; cu < (DP + 63) / 64; cu++)
#pragma unroll
        for (int jj = 0; jj < 4; jj++) {
            const int c = tx * 4 + 64 * cu + jj;
            if (c < dim) orow[c] = acc_row[cu * 4 + jj] * inv;
        }
}

} // namespace fma_tile

#endif
