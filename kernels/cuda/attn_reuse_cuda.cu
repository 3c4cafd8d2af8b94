/* Fused reuse attention on the GPU ("delta rows", issue 14 item 4).
 * Interface and conventions: attn_reuse_cuda.h.
 *
 * What the CPU kernel taught (kernels/x86/attn_reuse_body.h, issue 11):
 * after the ripple transform a query row i equals, on most channels, an
 * earlier row s of its window cube, so S_i = S_s + dQ_i K~^T costs |C_i|
 * multiply-adds per key instead of d; the saving is in whole channels of a
 * row's dot products, and only on QK^T (P V and the softmax are unchanged:
 * S_i differs from S_s). A channel set per row is no saving on the tensor
 * cores (a 16-row MMA tile pays for the union of its rows' channels), so
 * this kernel is the float32 FMA kernel (flash_fp32 of attn_flash_cuda.cu)
 * with delta rows, for the analysis path, where float32 accuracy is wanted.
 *
 * Block: BM = 64 positions of cube order (a source always lies in its own
 * cube, cube order keeps cubes together), 128 threads, key tiles of BN = 64.
 * Prologue: the block's rows sorted into slots, dense rows first, then the
 * delta rows by level (the number of the token's coordinates not at their
 * window's first position: a source has fewer, so each level reads only
 * finished scores); Q^T of the dense rows to shared memory (the delta rows'
 * channel lists stay in global memory: in shared memory they cost the second
 * block per SM). Per key tile:
 *   1. dense slots: raw dot products q.k by the 8x4 register tile of
 *      flash_fp32 into SR [slot][key];
 *   2. per level: SR[i] = SR[src(i)] + sum_{c in C_i} dq_ic K~[key, c]
 *      (16 threads per row, 4 keys each, K^T in shared memory);
 *   3. the online softmax of flash_fp32 on SR, P written over S in SR, P V
 *      as flash_fp32 (P read as 4 keys of a slot at a time).
 * Run 1 (kernels/results/reuse_gpu/run1) had P in a separate [key][slot]
 * array and the lists in shared memory: 173 KB, one block per SM, 1.6x the
 * dense FMA kernel's time with no delta row at all.
 * The output rows go back to token order. Scores are float32 sums of
 * float32 products as in flash_fp32; a delta row's differ from a direct dot
 * product by rounding only (q~_i = q~_s + dq_i exactly on the differing
 * channels up to one rounding of the difference). */
#include "attn_reuse_cuda.h"

#include <cuda_runtime.h>
#include <stdint.h>

#define DEV __device__ __forceinline__
#include "flash_common.cuh"

namespace {

constexpr int BM = RIPPLE_REUSE_CUDA_BM, BN = 64, THREADS = fma_tile::THREADS, SRS = BN;

/* Level of a token: its coordinates not at their window's first position
 * (0 for text tokens). */
DEV int level_of(const ripple_reuse_cuda_geom &g, long long tok)
{
    const long long nvid = (long long)g.t * g.h * g.w;
    if (tok < g.video_offset || tok >= g.video_offset + nvid) return 0;
    const long long v = tok - g.video_offset;
    const int t = (int)(v / ((long long)g.h * g.w)), hh = (int)(v / g.w % g.h), ww = (int)(v % g.w);
    return (t % g.window != 0) + (hh % g.window != 0) + (ww % g.window != 0);
}

/* One warp per (head, position). */
__global__ void plan_kernel(ripple_reuse_cuda_geom g, int max_nnz, const float *__restrict__ q,
                            const int *__restrict__ perm, const int *__restrict__ pos, int *src, int *nnz,
                            unsigned char *chan, float *dq, unsigned long long *counts)
{
    const int lane = threadIdx.x % 32;
    const long long p = (long long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const long long head = blockIdx.y;
    if (p >= g.seq) return;
    const int dim = g.dim;
    const float *qh = q + (size_t)head * (size_t)g.seq * (size_t)dim;
    const long long tok = perm[p], p0 = p / BM * BM;
    const float *qi = qh + (size_t)tok * dim;
    const long long nvid = (long long)g.t * g.h * g.w, vo = g.video_offset;
    long long best = -1;
    int best_nz = dim + 1;
    if (tok >= vo && tok < vo + nvid) {
        const long long v = tok - vo, t = v / ((long long)g.h * g.w), hh = v / g.w % g.h, ww = v % g.w;
        for (unsigned a = 1; a < 8; a++) {
            const long long ct = (a & 1u) ? t - t % g.window : t, ch = (a & 2u) ? hh - hh % g.window : hh,
                            cw = (a & 4u) ? ww - ww % g.window : ww;
            const long long stok = vo + (ct * g.h + ch) * g.w + cw;
            if (stok == tok) continue;
            const long long sp = pos[stok];
            if (sp < p0 || sp >= p) continue;
            const float *qs = qh + (size_t)stok * dim;
            int nz = 0;
            for (int c = lane; c < dim; c += 32) nz += qi[c] != qs[c];
            nz = __reduce_add_sync(0xffffffffu, nz);
            if (nz < best_nz) best_nz = nz, best = sp;
        }
    }
    const size_t idx = (size_t)head * (size_t)g.seq + (size_t)p;
    const bool delta = best >= 0 && best_nz <= max_nnz;
    if (lane == 0) src[idx] = delta ? (int)best : -1, nnz[idx] = delta ? best_nz : 0;
    if (delta) {
        const float *qs = qh + (size_t)perm[best] * dim;
        int base = 0;
        for (int c0 = 0; c0 < dim; c0 += 32) {
            const int c = c0 + lane;
            const bool diff = c < dim && qi[c] != qs[c];
            const unsigned m = __ballot_sync(0xffffffffu, diff);
            if (diff) {
                const int off = base + __popc(m & ((1u << lane) - 1u));
                chan[idx * dim + off] = (unsigned char)c;
                dq[idx * dim + off] = qi[c] - qs[c];
            }
            base += __popc(m);
        }
    }
    if (lane == 0 && counts) {
        atomicAdd(&counts[delta ? 1 : 0], 1ull);
        if (delta) atomicAdd(&counts[2], (unsigned long long)best_nz);
    }
}

/* Shared memory: Q^T of the dense slots, K^T and V of the key tile, the
 * scores (then P) per slot: 112 KiB at DP = 128, so that two blocks share an
 * SM (the delta lists stay in global memory, read through L1). */
template <int DP> struct cfg {
    static constexpr size_t QT = (size_t)BM * DP, KT = (size_t)BN * DP, VS = (size_t)BN * DP, SR = (size_t)BM * SRS;
    static constexpr size_t SMEM = sizeof(float) * (QT + KT + VS + SR);
};

template <int DP>
__global__ void __launch_bounds__(THREADS, 2)
    reuse_attn_kernel(ripple_reuse_cuda_geom g, float scale, const float *__restrict__ q,
                      const float *__restrict__ k, const float *__restrict__ v, float *__restrict__ o,
                      const int *__restrict__ perm, const int *__restrict__ src, const int *__restrict__ nnz,
                      const unsigned char *__restrict__ chan, const float *__restrict__ dq,
                      unsigned long long *d_bad)
{
    constexpr int CU = (DP + 63) / 64;
    using C = cfg<DP>;
    extern __shared__ float4 smem4[];
    float *QT = reinterpret_cast<float *>(smem4);
    float *KT = QT + C::QT, *Vs = KT + C::KT, *SR = Vs + C::VS;
    __shared__ short slot_row[BM], slot_src[BM], slot_nnz[BM], row_slot[BM], bounds[5];

    const long long seq = g.seq, head = blockIdx.y;
    const int dim = g.dim;
    const size_t hoff = (size_t)head * (size_t)seq * (size_t)dim;
    q += hoff, k += hoff, v += hoff, o += hoff;
    const long long p0 = (long long)blockIdx.x * BM;
    const int nr = (int)(seq - p0 < BM ? seq - p0 : BM);
    const size_t pidx = (size_t)head * (size_t)seq + (size_t)p0;
    const bool vec = (dim % 4 == 0) && (((uintptr_t)q | (uintptr_t)k | (uintptr_t)v) % 16 == 0);
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;

    /* slots: dense rows, then delta rows of levels 1, 2, 3 (counting sort) */
    if (threadIdx.x == 0) {
        int count[4] = {0, 0, 0, 0};
        for (int r = 0; r < nr; r++) count[src[pidx + r] < 0 ? 0 : level_of(g, perm[p0 + r])]++;
        bounds[0] = 0;
        for (int c = 0; c < 4; c++) bounds[c + 1] = (short)(bounds[c] + count[c]);
        int next[4] = {bounds[0], bounds[1], bounds[2], bounds[3]};
        for (int r = 0; r < nr; r++) {
            const int s = next[src[pidx + r] < 0 ? 0 : level_of(g, perm[p0 + r])]++;
            slot_row[s] = (short)r, row_slot[r] = (short)s;
        }
        for (int s = 0; s < nr; s++) {
            const int r = slot_row[s], sp = src[pidx + r];
            slot_src[s] = (short)(sp < 0 ? -1 : row_slot[sp - (int)p0]);
            slot_nnz[s] = (short)nnz[pidx + r];
        }
    }
    __syncthreads();
    const int nd = bounds[1];
    for (int e = threadIdx.x; e < BM * DP / 4; e += THREADS) { /* Q^T of the dense slots, zeros elsewhere */
        const int s = e / (DP / 4), c = (e % (DP / 4)) * 4;
        const bool ok = s < nd;
        fma_tile::put_qt<BM>(QT, s, c, load4(q + (size_t)(ok ? perm[p0 + slot_row[s]] : 0) * dim, c, dim, ok, vec));
    }

    float acc[8][CU * 4], m[8], l[8];
    fma_tile::init<DP>(acc, m, l);

    for (long long key0 = 0; key0 < seq; key0 += BN) {
        __syncthreads(); /* the last tile's KT, Vs and SR are read */
        fma_tile::load_kv<DP, BN>(KT, Vs, k, v, key0, seq, dim, vec);
        __syncthreads();
        /* 1. dense slots (groups of 8; the padding past nd is overwritten below) */
        if (ty * 8 < nd) {
            float s[8][4];
            fma_tile::qk<DP, BM, BN>(s, QT, KT, ty, tx);
#pragma unroll
            for (int i = 0; i < 8; i++)
                *reinterpret_cast<float4 *>(SR + (ty * 8 + i) * SRS + tx * 4) =
                    make_float4(s[i][0], s[i][1], s[i][2], s[i][3]);
        }
        /* 2. delta slots, level by level */
        for (int lv = 1; lv < 4; lv++) {
            if (bounds[lv + 1] == bounds[lv]) continue; /* block-uniform */
            __syncthreads();
            for (int s = bounds[lv] + ty; s < bounds[lv + 1]; s += THREADS / 16) {
                /* two independent sums (even and odd list entries) for the
                 * latency of the shared loads; the list from global memory
                 * (the same address for the 16 threads of a row: one load) */
                float4 a = *reinterpret_cast<const float4 *>(SR + slot_src[s] * SRS + tx * 4);
                float4 b = make_float4(0.f, 0.f, 0.f, 0.f);
                const size_t at = (pidx + (size_t)slot_row[s]) * (size_t)dim;
                const float *dqs = dq + at;
                const unsigned char *chs = chan + at;
                const int nz = slot_nnz[s];
                int n = 0;
                for (; n + 1 < nz; n += 2) {
                    const float d0 = __ldg(dqs + n), d1 = __ldg(dqs + n + 1);
                    const float4 k0 = *reinterpret_cast<const float4 *>(KT + __ldg(chs + n) * BN + tx * 4);
                    const float4 k1 = *reinterpret_cast<const float4 *>(KT + __ldg(chs + n + 1) * BN + tx * 4);
                    a.x = fmaf(d0, k0.x, a.x), a.y = fmaf(d0, k0.y, a.y), a.z = fmaf(d0, k0.z, a.z), a.w = fmaf(d0, k0.w, a.w);
                    b.x = fmaf(d1, k1.x, b.x), b.y = fmaf(d1, k1.y, b.y), b.z = fmaf(d1, k1.z, b.z), b.w = fmaf(d1, k1.w, b.w);
                }
                if (n < nz) {
                    const float d0 = __ldg(dqs + n);
                    const float4 k0 = *reinterpret_cast<const float4 *>(KT + __ldg(chs + n) * BN + tx * 4);
                    a.x = fmaf(d0, k0.x, a.x), a.y = fmaf(d0, k0.y, a.y), a.z = fmaf(d0, k0.z, a.z), a.w = fmaf(d0, k0.w, a.w);
                }
                *reinterpret_cast<float4 *>(SR + s * SRS + tx * 4) = make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
            }
        }
        __syncthreads();
        /* 3. softmax (flash_fp32's, over the 16 threads of a row group), P in place of S */
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int sl = ty * 8 + i;
            const float4 x = *reinterpret_cast<const float4 *>(SR + sl * SRS + tx * 4);
            float sv[4] = {x.x, x.y, x.z, x.w};
            float mx = m[i];
#pragma unroll
            for (int jj = 0; jj < 4; jj++) {
                sv[jj] = sl >= nr ? 0.f : key0 + tx * 4 + jj < seq ? sv[jj] * scale : -INFINITY;
                mx = fmaxf(mx, sv[jj]);
            }
#pragma unroll
            for (int off = 1; off < 16; off <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
            if (!isfinite(mx) && tx == 0 && sl < nr) record_bad(d_bad, head, seq, perm[p0 + slot_row[sl]]);
            const float al = expf(m[i] - mx);
            m[i] = mx;
            float ls = 0.f;
#pragma unroll
            for (int jj = 0; jj < 4; jj++) {
                sv[jj] = expf(sv[jj] - mx);
                ls += sv[jj];
            }
            *reinterpret_cast<float4 *>(SR + sl * SRS + tx * 4) = make_float4(sv[0], sv[1], sv[2], sv[3]);
            l[i] = l[i] * al + ls;
#pragma unroll
            for (int u = 0; u < CU * 4; u++) acc[i][u] *= al;
        }
        __syncthreads();
        /* P V: P of 8 slots x 4 keys per step (float4 per slot row of SR) */
        for (int r0 = 0; r0 < BN; r0 += 4) {
            float4 p4[8];
#pragma unroll
            for (int i = 0; i < 8; i++) p4[i] = *reinterpret_cast<const float4 *>(SR + (ty * 8 + i) * SRS + r0);
#pragma unroll
            for (int rr = 0; rr < 4; rr++) {
                const int r = r0 + rr;
                float pv[8];
#pragma unroll
                for (int i = 0; i < 8; i++) pv[i] = rr == 0 ? p4[i].x : rr == 1 ? p4[i].y : rr == 2 ? p4[i].z : p4[i].w;
                fma_tile::pv<DP>(acc, pv, Vs, r, tx);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < 8; i++) {
        float ls = l[i];
#pragma unroll
        for (int off = 1; off < 16; off <<= 1) ls += __shfl_xor_sync(0xffffffffu, ls, off);
        const int sl = ty * 8 + i;
        if (sl >= nr) continue;
        const long long tok = perm[p0 + slot_row[sl]];
        fma_tile::store<DP>(o + (size_t)tok * dim, acc[i], 1.f / ls, tx, dim);
    }
}

template <int DP>
cudaError_t launch_attn(const ripple_reuse_cuda_geom &g, float scale, const float *q, const float *k,
                        const float *v, float *o, const int *perm, const int *src, const int *nnz,
                        const unsigned char *chan, const float *dq, unsigned long long *bad, cudaStream_t st)
{
    const size_t smem = cfg<DP>::SMEM;
    cudaError_t e = cudaFuncSetAttribute(reuse_attn_kernel<DP>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    dim3 grid((unsigned)((g.seq + BM - 1) / BM), (unsigned)g.heads);
    reuse_attn_kernel<DP><<<grid, THREADS, smem, st>>>(g, scale, q, k, v, o, perm, src, nnz, chan, dq, bad);
    return cudaGetLastError();
}

bool geom_ok(const ripple_reuse_cuda_geom *g)
{
    return g && g->heads > 0 && g->heads <= 65535 && g->seq > 0 && g->seq <= INT32_MAX && g->dim > 0 &&
           g->dim <= 128 && g->window >= 2 && g->t >= 0 && g->h >= 0 && g->w >= 0 && g->video_offset >= 0 &&
           g->video_offset + (long long)g->t * g->h * g->w <= g->seq;
}

} // namespace

extern "C" void ripple_reuse_cuda_cube_order(const ripple_reuse_cuda_geom *g, int *perm, int *pos)
{
    const long long T = g->t, H = g->h, W = g->w, vo = g->video_offset, win = g->window;
    long long n = 0;
    for (long long t0 = 0; t0 < T; t0 += win)
        for (long long h0 = 0; h0 < H; h0 += win)
            for (long long w0 = 0; w0 < W; w0 += win)
                for (long long t = t0; t < t0 + win && t < T; t++)
                    for (long long hh = h0; hh < h0 + win && hh < H; hh++)
                        for (long long ww = w0; ww < w0 + win && ww < W; ww++)
                            perm[n++] = (int)(vo + (t * H + hh) * W + ww);
    for (long long tok = 0; tok < g->seq; tok++)
        if (tok < vo || tok >= vo + T * H * W) perm[n++] = (int)tok;
    for (long long i = 0; i < g->seq; i++) pos[perm[i]] = (int)i;
}

extern "C" int ripple_reuse_cuda_plan(const ripple_reuse_cuda_geom *g, int max_nnz, const float *d_q,
                                      const int *d_perm, const int *d_pos, int *d_src, int *d_nnz,
                                      unsigned char *d_chan, float *d_dq, unsigned long long *d_counts,
                                      void *stream)
{
    if (!geom_ok(g)) return (int)cudaErrorInvalidValue;
    const int warps = 8;
    dim3 grid((unsigned)((g->seq + warps - 1) / warps), (unsigned)g->heads);
    plan_kernel<<<grid, warps * 32, 0, (cudaStream_t)stream>>>(*g, max_nnz, d_q, d_perm, d_pos, d_src, d_nnz,
                                                               d_chan, d_dq, d_counts);
    return (int)cudaGetLastError();
}

extern "C" int ripple_reuse_cuda_attn(const ripple_reuse_cuda_geom *g, float scale, const float *d_q,
                                      const float *d_k, const float *d_v, float *d_o, const int *d_perm,
                                      const int *d_src, const int *d_nnz, const unsigned char *d_chan,
                                      const float *d_dq, unsigned long long *d_bad, void *stream)
{
    if (!geom_ok(g)) return (int)cudaErrorInvalidValue;
    cudaStream_t st = (cudaStream_t)stream;
    if (g->dim <= 64)
        return (int)launch_attn<64>(*g, scale, d_q, d_k, d_v, d_o, d_perm, d_src, d_nnz, d_chan, d_dq, d_bad, st);
    return (int)launch_attn<128>(*g, scale, d_q, d_k, d_v, d_o, d_perm, d_src, d_nnz, d_chan, d_dq, d_bad, st);
}
