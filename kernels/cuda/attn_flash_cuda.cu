/* Fused exact attention on the GPU (issue 14): one pass over K and V per
 * block of query rows with the online softmax (flash attention), so the
 * scores never reach device memory. Interface and conventions:
 * attn_flash_cuda.h. The kernels:
 *
 *   flash_bf16ws  (flash_bf16_ws.cuh) bf16 in FlashAttention-3's shape: a
 *                 TMA producer warpgroup, 2-3 consumer warpgroups on wgmma,
 *                 the softmax of one key tile under the MMAs of the next;
 *                 the bf16 default on sm_90a (1.08-1.24x cuDNN's attention
 *                 on the H200, kernels/results/bf16ws runs 3 and 4).
 *   flash_bf16wg  (flash_bf16_wgmma.cuh) bf16 on wgmma without overlap, for
 *                 the record (slower than flash_bf16).
 *   flash_tf32wg  (flash_tf32_wgmma.cuh) the arithmetic of flash_tf32x3 on
 *                 Hopper's warpgroup MMA: Q, K, V^T split once into shared
 *                 memory, two warpgroups of 64 rows sharing 32-key tiles by
 *                 default. RIPPLE_FLASH_TF32X3 at dim 33..128 on sm_90a
 *                 (61.7 TFLOP/s at seq 32k, dim 128 on the H200).
 *   flash_tf32x3  float32 in/out; S = Q K^T and O += P V on the tensor cores
 *                 (mma.sync m16n8k8 TF32) in 3xTF32: x = big + rest with big
 *                 = tf32(x), rest = tf32(x - big), and a.b ~ rest_a.big_b +
 *                 big_a.rest_b + big_a.big_b (the rest.rest term is ~2^-22
 *                 relative), float32 accumulation: each 8-term MMA into a
 *                 zeroed fragment, then float32 adds. 8 warps, 16 query rows
 *                 each (BM = 128); key tiles of BN keys, split into (big,
 *                 rest) pairs once per block when stored to shared memory,
 *                 laid out so that each B fragment is one 16-byte load; the
 *                 next tile is loaded to registers while this one is used.
 *                 P V uses the score fragments as A fragments directly: the
 *                 8 keys of a score tile are taken in the order (0,2,4,6,
 *                 1,3,5,7), which makes the C layout of S the A layout of P,
 *                 and V's rows are read in the same order.
 *   flash_fp32    float32 in/out with plain FFMA (the yardstick): 128
 *                 threads, 64 query rows, 64-key tiles, 8x4 score and 8x8
 *                 output register tiles, P through shared memory.
 *   flash_bf16    bf16 in/out (mma.sync m16n8k16, float32 accumulation and
 *                 softmax; the default off Hopper), FA2's layout: Q fragments in registers, K and V
 *                 double-buffered by cp.async, ldmatrix (.trans for V), P
 *                 packed from the score fragments; BM = 16 * warps * MT.
 *
 * Softmax in every kernel: s = scale * q.k in float32, running max m and sum
 * l per row, p = exp(s - m) (expf for the float32 kernels, exp2 of
 * pre-scaled scores for bf16), O rescaled by exp(m_old - m_new) per tile,
 * divided by l at the end. Keys past seq are masked (-inf); query rows past
 * seq are computed on zeros and not stored. */
#include "attn_flash_cuda.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <string.h>

#define DEV __device__ __forceinline__
#include "flash_common.cuh"

/* ------------------------------------------------------------ helpers */

DEV uint32_t f2tf32(float x)
{
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
}

/* x = big + rest, both TF32 bit patterns. */
DEV void split_tf32(float x, uint32_t &big, uint32_t &rest)
{
    big = f2tf32(x);
    rest = f2tf32(x - __uint_as_float(big));
}

DEV void mma_tf32(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                  uint32_t b1)
{
    asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
                 "{%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

DEV void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1)
{
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
                 "{%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

DEV uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

DEV void ldmatrix_x4(uint32_t (&r)[4], const void *p)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(p)));
}

DEV void ldmatrix_x4_trans(uint32_t (&r)[4], const void *p)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_u32(p)));
}

/* 16 bytes global -> shared; bytes = 0 zero-fills. */
DEV void cp_async16(void *smem, const void *gmem, int bytes)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(smem_u32(smem)), "l"(gmem),
                 "r"(bytes));
}
DEV void cp_async_commit() { asm volatile("cp.async.commit_group;"); }
template <int N> DEV void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N)); }

DEV uint32_t pack_bf16(float lo, float hi)
{
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

#include "flash_tf32_wgmma.cuh"

/* -------------------------------------------------------- flash_tf32x3 */

namespace tf32x3 {

/* DP: head_dim padded; BN: keys per tile; WARPS: 16 query rows each (BM =
 * 16 WARPS); QSPLIT: Q stored in shared memory already split (the K4 layout,
 * twice Q's bytes, no split per tile); MINB: blocks per SM the launch bounds
 * ask for (registers capped at 65536 / (32 WARPS MINB)); PREFETCH (kernel):
 * the next K, V tile is loaded to registers while this one is used (else
 * after it, with the other blocks of the SM hiding the wait). */
template <int DP, int BN, int WARPS, bool QSPLIT> struct cfg {
    static constexpr int THREADS = WARPS * 32, BM = WARPS * 16;
    static constexpr int KS = 2 * DP + 16;                /* floats per key (or split Q) row of K4 */
    static constexpr int QS = QSPLIT ? KS : DP + 4;       /* floats per Q row (conflict-free A loads) */
    static constexpr int VS = 4 * DP + 8;                 /* floats per key pair row of V4 */
    static constexpr int Q_FLOATS = BM * QS, K_FLOATS = BN * KS, V_FLOATS = BN / 2 * VS;
    static constexpr size_t SMEM = sizeof(float) * (Q_FLOATS + K_FLOATS + V_FLOATS);
    static constexpr int F4 = BN * DP / 4; /* float4 per K (or V) tile */
    static constexpr int PER_THREAD = F4 / THREADS;
    static_assert(F4 % THREADS == 0, "tile must split evenly over the threads");
};

/* K4 (and a split Q): row r, channel c -> r*KS + (c/8)*16 + (c%4)*4 +
 * ((c%8)/4)*2 + {big, rest}: lane (g, t) of an S B-fragment reads b0 =
 * K[g][8kk+t], b1 = K[g][8kk+t+4] (big, rest each) as one float4, and the
 * A fragment of a split Q is two such float4 (rows g and g+8).
 * V4: key r, channel c -> (r/2)*VS + c*4 + (r%2)*2 + {big, rest}: the P V
 * B-fragment of lane (g, t) is keys 2t, 2t+1 of the group (see the key
 * order above) at channel g: one float4. */
template <int KS> DEV void put_k4(float *X4, int r, int c, float x)
{
    uint32_t b, s;
    split_tf32(x, b, s);
    *reinterpret_cast<uint2 *>(X4 + r * KS + (c / 8) * 16 + (c % 4) * 4 + ((c % 8) / 4) * 2) = make_uint2(b, s);
}

template <class C, int DP>
DEV void store_split(float *K4, float *V4, const float4 (&kr)[C::PER_THREAD], const float4 (&vr)[C::PER_THREAD])
{
#pragma unroll
    for (int i = 0; i < C::PER_THREAD; i++) {
        const int e = threadIdx.x + i * C::THREADS; /* float4 index in the tile */
        const int r = e / (DP / 4), c = (e % (DP / 4)) * 4;
        const float kx[4] = {kr[i].x, kr[i].y, kr[i].z, kr[i].w};
        const float vx[4] = {vr[i].x, vr[i].y, vr[i].z, vr[i].w};
#pragma unroll
        for (int u = 0; u < 4; u++) {
            const int cc = c + u;
            put_k4<C::KS>(K4, r, cc, kx[u]);
            uint32_t b, s;
            split_tf32(vx[u], b, s);
            *reinterpret_cast<uint2 *>(V4 + (r / 2) * C::VS + cc * 4 + (r % 2) * 2) = make_uint2(b, s);
        }
    }
}

template <class C, int DP>
DEV void load_tile(const float *k, const float *v, long long seq, int dim, bool vec, long long key0,
                   float4 (&kr)[C::PER_THREAD], float4 (&vr)[C::PER_THREAD])
{
#pragma unroll
    for (int i = 0; i < C::PER_THREAD; i++) {
        const int e = threadIdx.x + i * C::THREADS;
        const int r = e / (DP / 4), c = (e % (DP / 4)) * 4;
        const long long key = key0 + r;
        const bool ok = key < seq;
        const size_t off = (size_t)(ok ? key : 0) * (size_t)dim;
        kr[i] = load4(k + off, c, dim, ok, vec);
        vr[i] = load4(v + off, c, dim, ok, vec);
    }
}

template <int DP, int BN, int WARPS, int MINB, bool QSPLIT, bool PREFETCH, bool FRESH>
__global__ void __launch_bounds__(WARPS * 32, MINB)
    flash_tf32x3(long long seq, int dim, float scale, const float *__restrict__ q,
                 const float *__restrict__ k, const float *__restrict__ v, float *__restrict__ o,
                 unsigned long long *d_bad)
{
    using C = cfg<DP, BN, WARPS, QSPLIT>;
    extern __shared__ float4 smem4[];
    float *Qs = reinterpret_cast<float *>(smem4);
    float *K4 = Qs + C::Q_FLOATS;
    float *V4 = K4 + C::K_FLOATS;

    const long long head = blockIdx.y;
    const size_t hoff = (size_t)head * (size_t)seq * (size_t)dim;
    q += hoff, k += hoff, v += hoff, o += hoff;
    const long long row0 = (long long)blockIdx.x * C::BM;
    const bool vec = (dim % 4 == 0) && (((uintptr_t)q | (uintptr_t)k | (uintptr_t)v) % 16 == 0);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;

    /* Q block -> shared: plain float32 (split at use) or split once */
    for (int e = threadIdx.x; e < C::BM * DP / 4; e += C::THREADS) {
        const int r = e / (DP / 4), c = (e % (DP / 4)) * 4;
        const long long row = row0 + r;
        const bool ok = row < seq;
        const float4 x = load4(q + (size_t)(ok ? row : 0) * (size_t)dim, c, dim, ok, vec);
        if constexpr (QSPLIT) {
            put_k4<C::KS>(Qs, r, c, x.x), put_k4<C::KS>(Qs, r, c + 1, x.y);
            put_k4<C::KS>(Qs, r, c + 2, x.z), put_k4<C::KS>(Qs, r, c + 3, x.w);
        } else {
            *reinterpret_cast<float4 *>(Qs + r * C::QS + c) = x;
        }
    }
    float4 kr[C::PER_THREAD], vr[C::PER_THREAD];
    load_tile<C, DP>(k, v, seq, dim, vec, 0, kr, vr);
    store_split<C, DP>(K4, V4, kr, vr);
    __syncthreads();

    float acc_o[DP / 8][4];
#pragma unroll
    for (int n = 0; n < DP / 8; n++) acc_o[n][0] = acc_o[n][1] = acc_o[n][2] = acc_o[n][3] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f; /* rows g, g+8 */
    bool bad = false;
    const float *qa = Qs + (warp * 16 + g) * C::QS + (QSPLIT ? t * 4 : t);
    const long long ntiles = (seq + BN - 1) / BN;

    for (long long j = 0; j < ntiles; j++) {
        if (PREFETCH && j + 1 < ntiles) load_tile<C, DP>(k, v, seq, dim, vec, (j + 1) * BN, kr, vr);

        /* S = Q K^T for this warp's 16 rows and the BN keys */
        float s[BN / 8][4];
#pragma unroll
        for (int n = 0; n < BN / 8; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
        /* Each 8-channel step into a zeroed fragment, added to s in float32:
         * the tensor cores' own accumulation is not round-to-nearest float32
         * (measured: accumulating all of a row in the fragment gave 10-200x
         * a naive float32 kernel's error), so it only ever sums 8 products.
         * Unrolled by 4 only: fully unrolled, the loads hoisted ahead spill. */
#pragma unroll 4
        for (int kk = 0; kk < DP / 8; kk++) {
            uint32_t ab[4], ar[4];
            if constexpr (QSPLIT) {
                const uint4 a0 = *reinterpret_cast<const uint4 *>(qa + kk * 16);
                const uint4 a1 = *reinterpret_cast<const uint4 *>(qa + 8 * C::QS + kk * 16);
                ab[0] = a0.x, ar[0] = a0.y, ab[2] = a0.z, ar[2] = a0.w;
                ab[1] = a1.x, ar[1] = a1.y, ab[3] = a1.z, ar[3] = a1.w;
            } else {
                split_tf32(qa[kk * 8], ab[0], ar[0]);
                split_tf32(qa[8 * C::QS + kk * 8], ab[1], ar[1]);
                split_tf32(qa[kk * 8 + 4], ab[2], ar[2]);
                split_tf32(qa[8 * C::QS + kk * 8 + 4], ab[3], ar[3]);
            }
#pragma unroll
            for (int n = 0; n < BN / 8; n++) {
                const uint4 b = *reinterpret_cast<const uint4 *>(K4 + (n * 8 + g) * C::KS + kk * 16 + t * 4);
                if (FRESH) {
                    float p[4] = {0.f, 0.f, 0.f, 0.f};
                    mma_tf32(p, ar[0], ar[1], ar[2], ar[3], b.x, b.z);
                    mma_tf32(p, ab[0], ab[1], ab[2], ab[3], b.y, b.w);
                    mma_tf32(p, ab[0], ab[1], ab[2], ab[3], b.x, b.z);
                    s[n][0] += p[0], s[n][1] += p[1], s[n][2] += p[2], s[n][3] += p[3];
                } else {
                    mma_tf32(s[n], ar[0], ar[1], ar[2], ar[3], b.x, b.z);
                    mma_tf32(s[n], ab[0], ab[1], ab[2], ab[3], b.y, b.w);
                    mma_tf32(s[n], ab[0], ab[1], ab[2], ab[3], b.x, b.z);
                }
            }
        }
        /* online softmax; c0, c1: row g, keys 8n+2t, 8n+2t+1; c2, c3: row g+8 */
        const long long key0 = j * BN;
        float mx0 = m0, mx1 = m1;
#pragma unroll
        for (int n = 0; n < BN / 8; n++) {
#pragma unroll
            for (int u = 0; u < 2; u++) {
                const bool ok = key0 + n * 8 + 2 * t + u < seq;
                s[n][u] = ok ? s[n][u] * scale : -INFINITY;
                s[n][2 + u] = ok ? s[n][2 + u] * scale : -INFINITY;
                mx0 = fmaxf(mx0, s[n][u]);
                mx1 = fmaxf(mx1, s[n][2 + u]);
            }
        }
#pragma unroll
        for (int off = 1; off < 4; off <<= 1) {
            mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, off));
            mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, off));
        }
        bad |= !isfinite(mx0) || !isfinite(mx1);
        const float al0 = expf(m0 - mx0), al1 = expf(m1 - mx1); /* 0 on the first tile */
        m0 = mx0, m1 = mx1;
        l0 *= al0, l1 *= al1;
#pragma unroll
        for (int n = 0; n < BN / 8; n++) {
            s[n][0] = expf(s[n][0] - m0), s[n][1] = expf(s[n][1] - m0);
            s[n][2] = expf(s[n][2] - m1), s[n][3] = expf(s[n][3] - m1);
            l0 += s[n][0] + s[n][1];
            l1 += s[n][2] + s[n][3];
        }
#pragma unroll
        for (int n = 0; n < DP / 8; n++) acc_o[n][0] *= al0, acc_o[n][1] *= al0, acc_o[n][2] *= al1, acc_o[n][3] *= al1;

        /* O += P V; the A fragment of key group kk is (c0, c2, c1, c3) of s[kk] */
#pragma unroll
        for (int kk = 0; kk < BN / 8; kk++) {
            uint32_t ab[4], ar[4];
            split_tf32(s[kk][0], ab[0], ar[0]);
            split_tf32(s[kk][2], ab[1], ar[1]);
            split_tf32(s[kk][1], ab[2], ar[2]);
            split_tf32(s[kk][3], ab[3], ar[3]);
#pragma unroll
            for (int n = 0; n < DP / 8; n++) {
                const uint4 b = *reinterpret_cast<const uint4 *>(V4 + (kk * 4 + t) * C::VS + (n * 8 + g) * 4);
                if (FRESH) { /* 8 keys, then float32 adds (see S) */
                    float p[4] = {0.f, 0.f, 0.f, 0.f};
                    mma_tf32(p, ar[0], ar[1], ar[2], ar[3], b.x, b.z);
                    mma_tf32(p, ab[0], ab[1], ab[2], ab[3], b.y, b.w);
                    mma_tf32(p, ab[0], ab[1], ab[2], ab[3], b.x, b.z);
                    acc_o[n][0] += p[0], acc_o[n][1] += p[1], acc_o[n][2] += p[2], acc_o[n][3] += p[3];
                } else {
                    mma_tf32(acc_o[n], ar[0], ar[1], ar[2], ar[3], b.x, b.z);
                    mma_tf32(acc_o[n], ab[0], ab[1], ab[2], ab[3], b.y, b.w);
                    mma_tf32(acc_o[n], ab[0], ab[1], ab[2], ab[3], b.x, b.z);
                }
            }
        }
        __syncthreads();
        if (j + 1 < ntiles) {
            if (!PREFETCH) load_tile<C, DP>(k, v, seq, dim, vec, (j + 1) * BN, kr, vr);
            store_split<C, DP>(K4, V4, kr, vr);
            __syncthreads();
        }
    }
    const long long r0 = row0 + warp * 16 + g, r1 = r0 + 8;
    finish_rows(l0, l1, bad, m0, m1, d_bad, head, seq, r0);
    const float i0 = 1.f / l0, i1 = 1.f / l1;
#pragma unroll
    for (int n = 0; n < DP / 8; n++) {
        const int c = n * 8 + 2 * t;
        if (r0 < seq) {
            if (c < dim) o[(size_t)r0 * dim + c] = acc_o[n][0] * i0;
            if (c + 1 < dim) o[(size_t)r0 * dim + c + 1] = acc_o[n][1] * i0;
        }
        if (r1 < seq) {
            if (c < dim) o[(size_t)r1 * dim + c] = acc_o[n][2] * i1;
            if (c + 1 < dim) o[(size_t)r1 * dim + c + 1] = acc_o[n][3] * i1;
        }
    }
}

template <int DP, int BN, int WARPS, int MINB, bool QSPLIT, bool PREFETCH, bool FRESH>
static cudaError_t launch(long long heads, long long seq, int dim, float scale, const float *q,
                          const float *k, const float *v, float *o, unsigned long long *bad,
                          cudaStream_t st)
{
    using C = cfg<DP, BN, WARPS, QSPLIT>;
    static_assert((C::SMEM + 1024) * MINB <= 228 * 1024, "MINB blocks of this tiling do not fit in an SM's shared memory");
    cudaError_t e = cudaFuncSetAttribute(flash_tf32x3<DP, BN, WARPS, MINB, QSPLIT, PREFETCH, FRESH>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)C::SMEM);
    if (e != cudaSuccess) return e;
    dim3 grid((unsigned)((seq + C::BM - 1) / C::BM), (unsigned)heads);
    flash_tf32x3<DP, BN, WARPS, MINB, QSPLIT, PREFETCH, FRESH><<<grid, C::THREADS, C::SMEM, st>>>(seq, dim, scale, q, k, v, o, bad);
    return cudaGetLastError();
}

} // namespace tf32x3

/* ---------------------------------------------------------- flash_fp32 */

namespace fp32 {

constexpr int THREADS = fma_tile::THREADS, BM = 64, BN = 64;

/* QT: [DP][BM] (Q transposed), KT: [DP][BN], Vs: [BN][DP], PT: [BN][BM]. */
template <int DP> struct cfg {
    static constexpr int QT = BM * DP, KT = BN * DP, VS = BN * DP, PT = BN * BM;
    static constexpr size_t SMEM = sizeof(float) * (QT + KT + VS + PT);
};

/* Thread (ty, tx) = (tid / 16, tid % 16): score rows ty*8..+7 x keys
 * tx*4..+3; output rows ty*8..+7 x channels tx*4 + 64 u + 0..3. */
template <int DP>
__global__ void __launch_bounds__(THREADS)
    flash_fp32(long long seq, int dim, float scale, const float *__restrict__ q,
               const float *__restrict__ k, const float *__restrict__ v, float *__restrict__ o,
               unsigned long long *d_bad)
{
    constexpr int CU = (DP + 63) / 64; /* 4-channel groups per thread */
    extern __shared__ float4 smem4[];
    float *QT = reinterpret_cast<float *>(smem4);
    float *KT = QT + cfg<DP>::QT, *Vs = KT + cfg<DP>::KT, *PT = Vs + cfg<DP>::VS;
    const long long head = blockIdx.y;
    const size_t hoff = (size_t)head * (size_t)seq * (size_t)dim;
    q += hoff, k += hoff, v += hoff, o += hoff;
    const long long row0 = (long long)blockIdx.x * BM;
    const bool vec = (dim % 4 == 0) && (((uintptr_t)q | (uintptr_t)k | (uintptr_t)v) % 16 == 0);
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;

    for (int e = threadIdx.x; e < BM * DP / 4; e += THREADS) {
        const int r = e / (DP / 4), c = (e % (DP / 4)) * 4;
        const bool ok = row0 + r < seq;
        fma_tile::put_qt<BM>(QT, r, c, load4(q + (size_t)(ok ? row0 + r : 0) * dim, c, dim, ok, vec));
    }
    float acc[8][CU * 4], m[8], l[8];
    fma_tile::init<DP>(acc, m, l);

    for (long long key0 = 0; key0 < seq; key0 += BN) {
        __syncthreads(); /* the last tile's KT, Vs, PT are read */
        fma_tile::load_kv<DP, BN>(KT, Vs, k, v, key0, seq, dim, vec);
        __syncthreads();
        float s[8][4];
        fma_tile::qk<DP, BM, BN>(s, QT, KT, ty, tx);
        /* softmax over the 16 threads of a row group (one half-warp) */
#pragma unroll
        for (int i = 0; i < 8; i++) {
            float mx = m[i];
#pragma unroll
            for (int jj = 0; jj < 4; jj++) {
                s[i][jj] = key0 + tx * 4 + jj < seq ? s[i][jj] * scale : -INFINITY;
                mx = fmaxf(mx, s[i][jj]);
            }
#pragma unroll
            for (int off = 1; off < 16; off <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
            if (!isfinite(mx) && tx == 0) record_bad(d_bad, head, seq, row0 + ty * 8 + i);
            const float al = expf(m[i] - mx);
            m[i] = mx;
            float ls = 0.f;
#pragma unroll
            for (int jj = 0; jj < 4; jj++) {
                s[i][jj] = expf(s[i][jj] - mx);
                ls += s[i][jj];
                PT[(tx * 4 + jj) * BM + ty * 8 + i] = s[i][jj];
            }
            l[i] = l[i] * al + ls; /* per-thread partial: reduced at the end */
#pragma unroll
            for (int u = 0; u < CU * 4; u++) acc[i][u] *= al;
        }
        __syncthreads();
#pragma unroll 4
        for (int r = 0; r < BN; r++) {
            const float4 pa = *reinterpret_cast<const float4 *>(PT + r * BM + ty * 8);
            const float4 pb = *reinterpret_cast<const float4 *>(PT + r * BM + ty * 8 + 4);
            const float pv[8] = {pa.x, pa.y, pa.z, pa.w, pb.x, pb.y, pb.z, pb.w};
            fma_tile::pv<DP>(acc, pv, Vs, r, tx);
        }
    }
#pragma unroll
    for (int i = 0; i < 8; i++) {
        float ls = l[i];
#pragma unroll
        for (int off = 1; off < 16; off <<= 1) ls += __shfl_xor_sync(0xffffffffu, ls, off);
        const long long row = row0 + ty * 8 + i;
        if (row >= seq) continue;
        fma_tile::store<DP>(o + (size_t)row * dim, acc[i], 1.f / ls, tx, dim);
    }
}

template <int DP>
static cudaError_t launch(long long heads, long long seq, int dim, float scale, const float *q,
                          const float *k, const float *v, float *o, unsigned long long *bad,
                          cudaStream_t st)
{
    const size_t smem = cfg<DP>::SMEM;
    cudaError_t e =
        cudaFuncSetAttribute(flash_fp32<DP>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    dim3 grid((unsigned)((seq + BM - 1) / BM), (unsigned)heads);
    flash_fp32<DP><<<grid, THREADS, smem, st>>>(seq, dim, scale, q, k, v, o, bad);
    return cudaGetLastError();
}

} // namespace fp32

/* ---------------------------------------------------------- flash_bf16 */

namespace bf16 {

typedef __nv_bfloat16 bf;

/* MT: 16-row m-tiles per warp. MT = 2 loads each K and V fragment once for
 * two MMAs per warp (FA2's 4 warps x 128 rows at head_dim 128): half the
 * shared-memory traffic per MMA. Q fragments stay in registers while they
 * fit (D * MT <= 128), else they are loaded from shared memory per use. */
template <int D, int WARPS, int BN, int MT> struct cfg {
    static constexpr int THREADS = WARPS * 32, BM = WARPS * 16 * MT;
    static constexpr int S = D + 8; /* bf16 per smem row: 16-byte pad, ldmatrix conflict-free */
    static constexpr int Q_EL = BM * S, KV_EL = BN * S;
    static constexpr size_t SMEM = sizeof(bf) * (Q_EL + 4 * KV_EL); /* Q, K x2, V x2 */
    static constexpr bool QREG = D * MT <= 128;
};

/* rows x D bf16 from global (row stride D) to shared (stride S) by
 * cp.async; rows past `valid` are zero-filled. */
template <int D, int S, int THREADS>
DEV void async_rows(bf *dst, const bf *src, int rows, long long valid)
{
    constexpr int CH = D / 8; /* 16-byte chunks per row */
    for (int e = threadIdx.x; e < rows * CH; e += THREADS) {
        const int r = e / CH, c = (e % CH) * 8;
        const bool ok = r < valid;
        cp_async16(dst + r * S + c, src + (size_t)(ok ? r : 0) * D + c, ok ? 16 : 0);
    }
}

template <int D, int WARPS, int BN, int MT>
__global__ void __launch_bounds__(WARPS * 32)
    flash_bf16(long long seq, float scale_log2, const bf *__restrict__ q, const bf *__restrict__ k,
               const bf *__restrict__ v, bf *__restrict__ o)
{
    using C = cfg<D, WARPS, BN, MT>;
    constexpr int S = C::S;
    extern __shared__ float4 smem4[];
    bf *Qs = reinterpret_cast<bf *>(smem4);
    bf *Ks = Qs + C::Q_EL; /* two stages */
    bf *Vs = Ks + 2 * C::KV_EL;
    const long long head = blockIdx.y;
    const size_t hoff = (size_t)head * (size_t)seq * D;
    q += hoff, k += hoff, v += hoff, o += hoff;
    const long long row0 = (long long)blockIdx.x * C::BM;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const long long ntiles = (seq + BN - 1) / BN;

    async_rows<D, S, C::THREADS>(Qs, q + (size_t)row0 * D, C::BM, seq - row0);
    async_rows<D, S, C::THREADS>(Ks, k, BN, seq);
    async_rows<D, S, C::THREADS>(Vs, v, BN, seq);
    cp_async_commit();

    uint32_t qf[C::QREG ? MT : 1][D / 16][4];
    float acc_o[MT][D / 8][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int n = 0; n < D / 8; n++) acc_o[mt][n][0] = acc_o[mt][n][1] = acc_o[mt][n][2] = acc_o[mt][n][3] = 0.f;
    float m0[MT], m1[MT], l0[MT], l1[MT]; /* rows g, g+8 of each m-tile */
#pragma unroll
    for (int mt = 0; mt < MT; mt++) m0[mt] = m1[mt] = -INFINITY, l0[mt] = l1[mt] = 0.f;
    const bf *qrow = Qs + (warp * MT * 16 + lane % 16) * S + (lane / 16) * 8; /* + mt*16*S + kk*16 */

    for (long long j = 0; j < ntiles; j++) {
        const int buf = (int)(j & 1);
        if (j + 1 < ntiles) {
            const long long k1 = (j + 1) * BN;
            async_rows<D, S, C::THREADS>(Ks + (buf ^ 1) * C::KV_EL, k + (size_t)k1 * D, BN, seq - k1);
            async_rows<D, S, C::THREADS>(Vs + (buf ^ 1) * C::KV_EL, v + (size_t)k1 * D, BN, seq - k1);
        }
        cp_async_commit();
        cp_async_wait<1>();
        __syncthreads();
        if (C::QREG && j == 0) {
#pragma unroll
            for (int mt = 0; mt < (C::QREG ? MT : 1); mt++)
#pragma unroll
                for (int kk = 0; kk < D / 16; kk++) ldmatrix_x4(qf[mt][kk], qrow + mt * 16 * S + kk * 16);
        }
        const bf *Kb = Ks + buf * C::KV_EL, *Vb = Vs + buf * C::KV_EL;

        float s[MT][BN / 8][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int n = 0; n < BN / 8; n++) s[mt][n][0] = s[mt][n][1] = s[mt][n][2] = s[mt][n][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            uint32_t qa[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                if (C::QREG) {
#pragma unroll
                    for (int u = 0; u < 4; u++) qa[mt][u] = qf[C::QREG ? mt : 0][kk][u];
                } else {
                    ldmatrix_x4(qa[mt], qrow + mt * 16 * S + kk * 16);
                }
            }
#pragma unroll
            for (int n = 0; n < BN / 8; n += 2) {
                uint32_t b[4];
                ldmatrix_x4(b, Kb + (n * 8 + (lane / 16) * 8 + lane % 8) * S + kk * 16 + ((lane / 8) % 2) * 8);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    mma_bf16(s[mt][n], qa[mt], b[0], b[1]);
                    mma_bf16(s[mt][n + 1], qa[mt], b[2], b[3]);
                }
            }
        }
        const long long key0 = j * BN;
        uint32_t pf[MT][BN / 16][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            float mx0 = m0[mt], mx1 = m1[mt];
#pragma unroll
            for (int n = 0; n < BN / 8; n++)
#pragma unroll
                for (int u = 0; u < 2; u++) {
                    const bool ok = key0 + n * 8 + 2 * t + u < seq;
                    s[mt][n][u] = ok ? s[mt][n][u] * scale_log2 : -INFINITY;
                    s[mt][n][2 + u] = ok ? s[mt][n][2 + u] * scale_log2 : -INFINITY;
                    mx0 = fmaxf(mx0, s[mt][n][u]);
                    mx1 = fmaxf(mx1, s[mt][n][2 + u]);
                }
#pragma unroll
            for (int off = 1; off < 4; off <<= 1) {
                mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, off));
                mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, off));
            }
            const float al0 = exp2f(m0[mt] - mx0), al1 = exp2f(m1[mt] - mx1);
            m0[mt] = mx0, m1[mt] = mx1;
            l0[mt] *= al0, l1[mt] *= al1;
#pragma unroll
            for (int n = 0; n < BN / 8; n++) {
                const float p0 = exp2f(s[mt][n][0] - mx0), p1 = exp2f(s[mt][n][1] - mx0);
                const float p2 = exp2f(s[mt][n][2] - mx1), p3 = exp2f(s[mt][n][3] - mx1);
                l0[mt] += p0 + p1, l1[mt] += p2 + p3;
                pf[mt][n / 2][(n % 2) * 2 + 0] = pack_bf16(p0, p1);
                pf[mt][n / 2][(n % 2) * 2 + 1] = pack_bf16(p2, p3);
            }
#pragma unroll
            for (int n = 0; n < D / 8; n++)
                acc_o[mt][n][0] *= al0, acc_o[mt][n][1] *= al0, acc_o[mt][n][2] *= al1, acc_o[mt][n][3] *= al1;
        }
#pragma unroll
        for (int kk = 0; kk < BN / 16; kk++) {
#pragma unroll
            for (int n = 0; n < D / 8; n += 2) {
                uint32_t b[4];
                ldmatrix_x4_trans(b, Vb + (kk * 16 + ((lane / 8) % 2) * 8 + lane % 8) * S + n * 8 + (lane / 16) * 8);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
                    mma_bf16(acc_o[mt][n], pf[mt][kk], b[0], b[1]);
                    mma_bf16(acc_o[mt][n + 1], pf[mt][kk], b[2], b[3]);
                }
            }
        }
        __syncthreads(); /* this stage is refilled two iterations on */
    }
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        float s0 = l0[mt], s1 = l1[mt];
#pragma unroll
        for (int off = 1; off < 4; off <<= 1) {
            s0 += __shfl_xor_sync(0xffffffffu, s0, off);
            s1 += __shfl_xor_sync(0xffffffffu, s1, off);
        }
        const long long r0 = row0 + (warp * MT + mt) * 16 + g, r1 = r0 + 8;
        const float i0 = 1.f / s0, i1 = 1.f / s1;
#pragma unroll
        for (int n = 0; n < D / 8; n++) {
            const int c = n * 8 + 2 * t;
            if (r0 < seq)
                *reinterpret_cast<__nv_bfloat162 *>(o + (size_t)r0 * D + c) =
                    __floats2bfloat162_rn(acc_o[mt][n][0] * i0, acc_o[mt][n][1] * i0);
            if (r1 < seq)
                *reinterpret_cast<__nv_bfloat162 *>(o + (size_t)r1 * D + c) =
                    __floats2bfloat162_rn(acc_o[mt][n][2] * i1, acc_o[mt][n][3] * i1);
        }
    }
}

template <int D, int WARPS, int BN, int MT>
static cudaError_t launch(long long heads, long long seq, float scale, const void *q, const void *k,
                          const void *v, void *o, cudaStream_t st)
{
    using C = cfg<D, WARPS, BN, MT>;
    cudaError_t e = cudaFuncSetAttribute(flash_bf16<D, WARPS, BN, MT>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)C::SMEM);
    if (e != cudaSuccess) return e;
    dim3 grid((unsigned)((seq + C::BM - 1) / C::BM), (unsigned)heads);
    flash_bf16<D, WARPS, BN, MT><<<grid, C::THREADS, C::SMEM, st>>>(
        seq, scale * 1.4426950408889634f, (const bf *)q, (const bf *)k, (const bf *)v, (bf *)o);
    return cudaGetLastError();
}

} // namespace bf16

#include "flash_bf16_wgmma.cuh"
#include "flash_bf16_ws.cuh"

/* ------------------------------------------------------------ the API */

/* tf32x3 tilings (dim 33..128; dim <= 32 always takes w8_bn32): NAME, keys
 * per tile, warps of 16 query rows, blocks per SM asked of the launch bounds,
 * Q split once in shared memory, the next tile loaded while this one is used.
 * Only the two the default falls back to are listed; the study of 15 such
 * tilings, none faster (kernels/results/tf32x3/run1), ran at 572a7d1. */
#define TF32X3_TILINGS(X)                                                                          \
    X(w8_bn32, 32, 8, 1, false, true) /* the fallback at dim 65..128 */                            \
    X(w8_bn64, 64, 8, 1, false, true) /* the fallback at dim 33..64 */
/* the wgmma kernel (flash_tf32_wgmma.cuh): NAME, keys per tile, warpgroups
 * per block, S groups in flight, blocks per SM (dim 64, dim 128), Q big in
 * registers, channels per P V chunk, prefetch. The default (wg2_bn32) and
 * the nearest of the ten measured in kernels/results/tf32x3/run3 (e40245c). */
#define TF32WG_TILINGS(X)                                                                          \
    X(wg_bn16, 16, 1, 4, 2, 2, false, 64, true)                                                    \
    X(wg2_bn16, 16, 2, 4, 1, 1, false, 64, true)                                                   \
    X(wg2_bn32, 32, 2, 2, 1, 1, false, 64, true)                                                   \
    X(wg2_bn32_ns4, 32, 2, 4, 1, 1, false, 64, true)                                               \
    X(wg2_bn32_qreg_np, 32, 2, 2, 1, 1, true, 64, false)

typedef cudaError_t (*tf32x3_launch)(long long, long long, int, float, const float *, const float *, const float *,
                                     float *, unsigned long long *, cudaStream_t);
static const struct {
    const char *name;
    tf32x3_launch d64, d128;
} tf32x3_tilings[] = {
#define X(NAME, BN, W, MB, QS, PF) \
    {#NAME, tf32x3::launch<64, BN, W, MB, QS, PF, true>, tf32x3::launch<128, BN, W, MB, QS, PF, true>},
    TF32X3_TILINGS(X)
#undef X
#define X(NAME, BN, WG, NS, MB64, MB128, QR, PVN, PF)                                                \
    {#NAME, tf32wg::launch<64, tf32wg::tiling<BN, WG, NS, MB64, QR, PVN, PF>>,                         \
     tf32wg::launch<128, tf32wg::tiling<BN, WG, NS, MB128, QR, PVN, PF>>},
    TF32WG_TILINGS(X)
#undef X
};

extern "C" int ripple_flash_tf32x3_variant_count(void) { return (int)(sizeof tf32x3_tilings / sizeof tf32x3_tilings[0]); }

/* The index of the entry called NAME in a tiling table (0, its default, when none is). */
template <class T, size_t N> static int tiling_index(const T (&table)[N], const char *name)
{
    for (size_t i = 0; i < N; i++)
        if (strcmp(table[i].name, name) == 0) return (int)i;
    return 0;
}

__global__ void arch_probe() {}

/* The tiling RIPPLE_FLASH_TF32X3 takes at dim 33..128: the wgmma kernel's
 * wg2_bn32 (kernels/results/tf32x3/run3: the fastest at both dims) where this
 * file was built for sm_90a (meson's cuda_sm 90 builds sm_90a) and the device
 * is a CC 9.x one; otherwise the mma.sync kernel's, w8_bn64 (dim <= 64) or
 * w8_bn32, which run on any sm_80+. */
static bool wgmma_device(void)
{
    int dev = 0, major = 0;
    cudaFuncAttributes fa;
    return cudaGetDevice(&dev) == cudaSuccess &&
           cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess && major == 9 &&
           cudaFuncGetAttributes(&fa, arch_probe) == cudaSuccess && fa.binaryVersion == 90;
}

static int tf32x3_default(int dim)
{
    return tiling_index(tf32x3_tilings, wgmma_device() ? "wg2_bn32" : dim <= 64 ? "w8_bn64" : "w8_bn32");
}

extern "C" const char *ripple_flash_tf32x3_variant_name(int variant)
{
    return variant >= 0 && variant < ripple_flash_tf32x3_variant_count() ? tf32x3_tilings[variant].name : NULL;
}

extern "C" int ripple_flash_attn_tf32x3(int variant, long long heads, long long seq, int dim, float scale,
                                        const float *d_q, const float *d_k, const float *d_v, float *d_o,
                                        unsigned long long *d_bad, void *stream)
{
    cudaStream_t st = (cudaStream_t)stream;
    if (heads <= 0 || seq <= 0 || dim <= 0 || dim > 128 || heads > 65535 || variant < -1 ||
        variant >= ripple_flash_tf32x3_variant_count())
        return (int)cudaErrorInvalidValue;
    if (dim <= 32)
        return (int)tf32x3::launch<32, 32, 8, 1, false, true, true>(heads, seq, dim, scale, d_q, d_k, d_v, d_o, d_bad, st);
    if (variant < 0) variant = tf32x3_default(dim);
    const tf32x3_launch f = dim <= 64 ? tf32x3_tilings[variant].d64 : tf32x3_tilings[variant].d128;
    return (int)f(heads, seq, dim, scale, d_q, d_k, d_v, d_o, d_bad, st);
}

extern "C" int ripple_flash_attn_f32(int kind, long long heads, long long seq, int dim, float scale,
                                     const float *d_q, const float *d_k, const float *d_v,
                                     float *d_o, unsigned long long *d_bad, void *stream)
{
    cudaStream_t st = (cudaStream_t)stream;
    if (heads <= 0 || seq <= 0 || dim <= 0 || dim > 128 || heads > 65535) return (int)cudaErrorInvalidValue;
#define TF(DP, BN, FR) (int)tf32x3::launch<DP, BN, 8, 1, false, true, FR>(heads, seq, dim, scale, d_q, d_k, d_v, d_o, d_bad, st)
    if (kind == RIPPLE_FLASH_TF32X3) return ripple_flash_attn_tf32x3(-1, heads, seq, dim, scale, d_q, d_k, d_v, d_o, d_bad, stream);
    if (kind == RIPPLE_FLASH_TF32X3_CHAINED)
        return dim <= 32 ? TF(32, 32, false) : dim <= 64 ? TF(64, 64, false) : TF(128, 32, false);
#undef TF
    if (kind == RIPPLE_FLASH_FP32) {
        if (dim <= 64) return (int)fp32::launch<64>(heads, seq, dim, scale, d_q, d_k, d_v, d_o, d_bad, st);
        return (int)fp32::launch<128>(heads, seq, dim, scale, d_q, d_k, d_v, d_o, d_bad, st);
    }
    return (int)cudaErrorInvalidValue;
}

/* bf16 tilings: the mma.sync kernel's (warps, BN, m-tiles per warp), the
 * wgmma kernel's (flash_bf16_wgmma.cuh: keys per tile, warpgroups, blocks
 * per SM at dim 64 and 128, V descriptor fields swapped), FA3's shape
 * (flash_bf16_ws.cuh). */
typedef cudaError_t (*bf16_launch)(long long, long long, float, const void *, const void *, const void *, void *,
                                   cudaStream_t);
static const struct {
    const char *name;
    bf16_launch d64, d128;
} bf16_variants[] = {
    /* FA2's tiling at head_dim 128, 128 rows per block: the fastest mma.sync one on the H200
       (kernels/results/reuse_gpu/run2: 1.42-1.52x w4_bn128 at dim 128, 1.2x at 64) */
    {"w4_bn64_m2", bf16::launch<64, 4, 64, 2>, bf16::launch<128, 4, 64, 2>},
    {"w4_bn32_m2", bf16::launch<64, 4, 32, 2>, bf16::launch<128, 4, 32, 2>},
    {"w4_bn128", bf16::launch<64, 4, 128, 1>, bf16::launch<128, 4, 128, 1>}, /* the default before m-tiles */
    {"w4_bn64", bf16::launch<64, 4, 64, 1>, bf16::launch<128, 4, 64, 1>},
    {"w8_bn64", bf16::launch<64, 8, 64, 1>, bf16::launch<128, 8, 64, 1>},
#define W(NAME, BN, WG, MB64, MB128, VS) \
    {#NAME, bf16wg::launch<64, BN, WG, MB64, VS>, bf16wg::launch<128, BN, WG, MB128, VS>},
    /* correct, and slower than w4_bn64_m2 (kernels/results/tf32x3/bf16_run1); the other reading of
       V's descriptor fields (VSWAP) made illegal addresses there and is not listed */
    W(bwg_bn64, 64, 1, 2, 2, false) W(bwg2_bn64, 64, 2, 1, 1, false) W(bwg2_bn128, 128, 2, 1, 1, false)
#undef W
#define W(NAME, BN64, CW64, ST64, BN128, CW128, ST128, PP, PQ) \
    {#NAME, bf16ws::launch<64, BN64, CW64, ST64, PP, PQ>, bf16ws::launch<128, BN128, CW128, ST128, PP, PQ>},
    /* FA3's shape (flash_bf16_ws.cuh): keys per tile, consumer warpgroups and stages at dim 64, then at 128,
       ping-pong, exponentials on the FMA pipes (of 4) */
    W(ws_pp, 128, 2, 2, 128, 2, 2, true, 0) W(ws3, 128, 3, 2, 64, 3, 2, false, 0)
    W(ws_pp_bn176, 176, 2, 2, 176, 2, 2, true, 0) W(ws3_p1, 128, 3, 2, 64, 3, 2, false, 1)
    W(ws3_p2, 128, 3, 2, 64, 3, 2, false, 2) W(ws_pp_p1, 128, 2, 2, 128, 2, 2, true, 1)
#undef W
};

extern "C" int ripple_flash_bf16_variant_count(void) { return (int)(sizeof bf16_variants / sizeof bf16_variants[0]); }

/* The tiling variant -1 takes: FA3's shape where this file was built for
 * sm_90a, the device is a CC 9.x one and every tensor is 16-byte aligned
 * (the TMA's rule), ws3 at dim 64 and ws_pp_bn176 at 128
 * (kernels/results/bf16ws/run2: 1.14-1.25x and 1.16-1.17x cuDNN's
 * attention there); otherwise the mma.sync kernel's w4_bn64_m2, which runs
 * on any sm_80+. */
static int bf16_default(int dim, const void *q, const void *k, const void *v, const void *o)
{
    const bool aligned = (((uintptr_t)q | (uintptr_t)k | (uintptr_t)v | (uintptr_t)o) & 15) == 0;
    return tiling_index(bf16_variants, aligned && wgmma_device() ? (dim == 64 ? "ws3" : "ws_pp_bn176") : "w4_bn64_m2");
}

extern "C" const char *ripple_flash_bf16_variant_name(int variant)
{
    return variant >= 0 && variant < ripple_flash_bf16_variant_count() ? bf16_variants[variant].name : NULL;
}

extern "C" int ripple_flash_attn_bf16(int variant, long long heads, long long seq, int dim, float scale,
                                      const void *d_q, const void *d_k, const void *d_v, void *d_o,
                                      void *stream)
{
    cudaStream_t st = (cudaStream_t)stream;
    if (heads <= 0 || seq <= 0 || heads > 65535 || (dim != 64 && dim != 128) || variant < -1 ||
        variant >= ripple_flash_bf16_variant_count())
        return (int)cudaErrorInvalidValue;
    if (variant < 0) variant = bf16_default(dim, d_q, d_k, d_v, d_o);
    const bf16_launch f = dim == 64 ? bf16_variants[variant].d64 : bf16_variants[variant].d128;
    return (int)f(heads, seq, scale, d_q, d_k, d_v, d_o, st);
}

__global__ static void to_bf16(const float *x, __nv_bfloat16 *y, long long n)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = __float2bfloat16_rn(x[i]);
}

__global__ static void from_bf16(const __nv_bfloat16 *x, float *y, long long n)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = __bfloat162float(x[i]);
}

static unsigned blocks_for(long long n)
{
    long long b = (n + 255) / 256;
    return (unsigned)(b < 4096 ? (b > 0 ? b : 1) : 4096);
}

extern "C" int ripple_flash_f32_to_bf16(const float *d_x, void *d_y, long long n, void *stream)
{
    to_bf16<<<blocks_for(n), 256, 0, (cudaStream_t)stream>>>(d_x, (__nv_bfloat16 *)d_y, n);
    return (int)cudaGetLastError();
}

extern "C" int ripple_flash_bf16_to_f32(const void *d_x, float *d_y, long long n, void *stream)
{
    from_bf16<<<blocks_for(n), 256, 0, (cudaStream_t)stream>>>((const __nv_bfloat16 *)d_x, d_y, n);
    return (int)cudaGetLastError();
}
