/* flash_bf16ws: the bf16 flash kernel in FlashAttention-3's shape (Shah et
 * al. 2024, Sec. 3): warp specialisation, TMA loads, wgmma, the softmax of
 * one key tile under the MMAs of the next. Included by attn_flash_cuda.cu
 * after flash_bf16_wgmma.cuh (whose wgmma wrappers it uses). Arithmetic as
 * flash_bf16: bf16 inputs, float32 scores, softmax (exp2 of pre-scaled
 * scores) and accumulation, P rounded to bf16 for P V.
 *
 * Block: one producer warpgroup and CW consumer warpgroups of 64 query rows
 * each (BM = 64 CW). One thread of the producer loads Q once and K, V tiles
 * of BN keys into a ring of ST stages with the Tensor Memory Accelerator
 * (cp.async.bulk.tensor, 3-d tensor maps [heads][seq][D] so that rows past
 * seq come back as zeros), each stage with a "full" mbarrier (the TMA's
 * bytes arrived) and an "empty" one (every consumer warp is done with it);
 * K and V have their own, so S = Q K^T can start before V is in.
 * Shared-memory tiles are in the 128-byte swizzle both TMA and wgmma know:
 * D/64 sub-tiles of [rows][64 channels], 128-byte rows, the 16-byte chunk c
 * of row r at chunk c ^ (r % 8), every sub-tile 1024-byte aligned. wgmma
 * descriptors: Q and K K-major (8-row groups 1024 bytes apart, 16 channels
 * further = 32 bytes further inside a sub-tile), V MN-major for P V (8-key
 * groups 1024 bytes apart, the second 64 channels a sub-tile further).
 *
 * Consumer loop, tile j (FA3's Algorithm 2): issue S_j = Q K_j^T, issue O
 * += P_{j-1} V_{j-1}, wait for S_j, its softmax (max, exp2, sums) while P V
 * runs, wait for P V, rescale O, P_j = bf16(S_j). PP (two consumers only):
 * FA3's ping-pong, the warpgroups take turns issuing their MMAs (named
 * barriers 1, 2), so one's softmax runs under the other's MMAs. Registers:
 * setmaxnreg gives the producer 24 and the consumers the rest. */

#include <cuda.h> /* CUtensorMap and the encoder's types; the entry point comes from the runtime */

namespace bf16ws {

typedef __nv_bfloat16 bf;

template <int D, int BN, int CW, int ST> struct cfg {
    static constexpr int BM = 64 * CW, THREADS = 128 * (CW + 1);
    static constexpr int Q_BYTES = BM * D * 2, KV_BYTES = BN * D * 2;
    static constexpr size_t SMEM = 1024 + Q_BYTES + 2 * (size_t)ST * KV_BYTES; /* + alignment slack */
    /* 65536 registers per SM: the producer warpgroup's 24 each, the consumers' the rest (multiple of 8) */
    static constexpr int CREGS = CW == 2 ? 240 : 160;
};

DEV uint64_t desc_sw128(const unsigned char *p, uint32_t lbo, uint32_t sbo)
{
    return (uint64_t)((smem_u32(p) & 0x3FFFF) >> 4) | (uint64_t)(lbo >> 4) << 16 | (uint64_t)(sbo >> 4) << 32 |
           1ull << 62;
}

DEV void mbar_init(uint64_t *b, int count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_u32(b)), "r"(count));
}
DEV void mbar_expect_tx(uint64_t *b, uint32_t bytes)
{
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_u32(b)), "r"(bytes) : "memory");
}
DEV void mbar_arrive(uint64_t *b)
{
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_u32(b)) : "memory");
}
DEV void mbar_wait(uint64_t *b, uint32_t parity)
{
    asm volatile("{\n.reg .pred p;\nWAIT:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
                 "@!p bra WAIT;\n}\n" ::"r"(smem_u32(b)),
                 "r"(parity)
                 : "memory");
}
DEV void tma_load(void *dst, const CUtensorMap *map, uint64_t *bar, int c0, int c1, int c2)
{
    asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], "
                 "[%2];\n" ::"r"(smem_u32(dst)),
                 "l"((uint64_t)map), "r"(smem_u32(bar)), "r"(c0), "r"(c1), "r"(c2)
                 : "memory");
}
DEV void bar_sync(int id, int n) { asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory"); }
DEV void bar_arrive(int id, int n) { asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(n) : "memory"); }
template <int N> DEV void fence_u32(uint32_t (&d)[N][4])
{
#pragma unroll
    for (int i = 0; i < N; i++)
#pragma unroll
        for (int u = 0; u < 4; u++) asm volatile("" : "+r"(d[i][u])::"memory");
}

/* The D/64 boxes of `rows` rows at (row, head) of one tensor into dst's sub-tiles. */
template <int D>
DEV void load_rows(unsigned char *dst, const CUtensorMap *map, uint64_t *bar, int rows, int row, int head)
{
#pragma unroll
    for (int c = 0; c < D / 64; c++) tma_load(dst + c * rows * 128, map, bar, 64 * c, row, head);
}

/* S = Q K^T over D channels: 16 channels per wgmma (k-step kk: sub-tile kk / 4, 32 bytes per step in it). */
template <int D, int BN, int BM> DEV void qk(float (&s)[BN / 2], uint64_t dq, uint64_t dk)
{
    wgmma_bf16_ss<BN, 0>(s, dq, dk);
#pragma unroll
    for (int kk = 1; kk < D / 16; kk++)
        wgmma_bf16_ss<BN, 1>(s, dq + (((kk / 4) * BM * 128 + (kk % 4) * 32) >> 4),
                             dk + (((kk / 4) * BN * 128 + (kk % 4) * 32) >> 4));
}

/* O += P V over BN keys: 16 keys per wgmma, two 8-key groups (2048 bytes) further down V. */
template <int D, int BN> DEV void pv(float (&o)[D / 2], const uint32_t (&p)[BN / 16][4], uint64_t dv)
{
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) wgmma_bf16_rs_tb<D>(o, p[kk], dv + kk * (2048 >> 4));
}

/* The online softmax of one score tile in place: s becomes exp2(s - m_new);
 * returns the factors exp2(m_old - m_new) of rows g and g + 8. */
template <int BN>
DEV void softmax_tile(float (&s)[BN / 2], long long key0, long long seq, int t, float scale_log2, float &m0,
                      float &m1, float &l0, float &l1, float &al0, float &al1)
{
    float mx0 = m0, mx1 = m1;
    scale_mask_max(s, key0, seq, t, scale_log2, mx0, mx1);
    al0 = exp2f(m0 - mx0), al1 = exp2f(m1 - mx1);
    m0 = mx0, m1 = mx1;
    float r0 = 0.f, r1 = 0.f;
#pragma unroll
    for (int i = 0; i < BN / 8; i++) {
        s[4 * i] = exp2f(s[4 * i] - mx0), s[4 * i + 1] = exp2f(s[4 * i + 1] - mx0);
        s[4 * i + 2] = exp2f(s[4 * i + 2] - mx1), s[4 * i + 3] = exp2f(s[4 * i + 3] - mx1);
        r0 += s[4 * i] + s[4 * i + 1], r1 += s[4 * i + 2] + s[4 * i + 3];
    }
    l0 = l0 * al0 + r0, l1 = l1 * al1 + r1;
}

/* P (bf16) from the exponentiated scores: the accumulator layout of S is the register A layout of P V. */
template <int BN> DEV void pack_p(uint32_t (&p)[BN / 16][4], const float (&s)[BN / 2])
{
#pragma unroll
    for (int i = 0; i < BN / 8; i++) {
        p[i / 2][(i % 2) * 2 + 0] = pack_bf16(s[4 * i], s[4 * i + 1]);
        p[i / 2][(i % 2) * 2 + 1] = pack_bf16(s[4 * i + 2], s[4 * i + 3]);
    }
}

template <int D, int BN, int CW, int ST, bool PP>
__global__ void __launch_bounds__(128 * (CW + 1), 1)
    flash_bf16ws(const __grid_constant__ CUtensorMap tq, const __grid_constant__ CUtensorMap tk,
                 const __grid_constant__ CUtensorMap tv, int seq, float scale_log2, bf *__restrict__ o)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    using C = cfg<D, BN, CW, ST>;
    static_assert(!PP || CW == 2, "ping-pong takes two consumer warpgroups");
    extern __shared__ unsigned char smem_ws[];
    __shared__ uint64_t bars[1 + 4 * ST];
    uint64_t *bar_q = bars, *full_k = bars + 1, *full_v = full_k + ST, *empty_k = full_v + ST, *empty_v = empty_k + ST;
    unsigned char *Qs = smem_ws + ((1024 - (smem_u32(smem_ws) & 1023)) & 1023);
    unsigned char *Ks = Qs + C::Q_BYTES, *Vs = Ks + ST * C::KV_BYTES;
    const int head = blockIdx.y, row0 = blockIdx.x * C::BM;
    const int wg = threadIdx.x / 128, warp = threadIdx.x / 32 % 4, lane = threadIdx.x % 32;
    const int ntiles = (seq + BN - 1) / BN;

    if (threadIdx.x == 0) {
        mbar_init(bar_q, 1);
        for (int s = 0; s < ST; s++) {
            mbar_init(full_k + s, 1), mbar_init(full_v + s, 1);
            mbar_init(empty_k + s, 4 * CW), mbar_init(empty_v + s, 4 * CW); /* one arrival per consumer warp */
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    if (wg == 0) { /* producer */
        asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n");
        if (threadIdx.x == 0) {
            mbar_expect_tx(bar_q, C::Q_BYTES);
            load_rows<D>(Qs, &tq, bar_q, C::BM, row0, head);
            for (int j = 0; j < ntiles; j++) {
                const int s = j % ST;
                const uint32_t ph = (uint32_t)(j / ST) & 1u;
                mbar_wait(empty_k + s, ph ^ 1u); /* a fresh barrier passes parity 1 */
                mbar_expect_tx(full_k + s, C::KV_BYTES);
                load_rows<D>(Ks + s * C::KV_BYTES, &tk, full_k + s, BN, j * BN, head);
                mbar_wait(empty_v + s, ph ^ 1u);
                mbar_expect_tx(full_v + s, C::KV_BYTES);
                load_rows<D>(Vs + s * C::KV_BYTES, &tv, full_v + s, BN, j * BN, head);
            }
        }
        return;
    }

    /* consumers */
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(C::CREGS));
    const int cw = wg - 1, g = lane / 4, t = lane % 4;
    const uint64_t dq = desc_sw128(Qs + cw * 64 * 128, 16, 1024);
    const uint64_t dk0 = desc_sw128(Ks, 16, 1024), dv0 = desc_sw128(Vs, BN * 128, 1024);
    constexpr uint64_t STAGE = C::KV_BYTES >> 4;
    const int me = 1 + cw, other = 1 + (cw ^ 1);

    float acc[D / 2], s[BN / 2];
    uint32_t p[BN / 16][4];
#pragma unroll
    for (int i = 0; i < D / 2; i++) acc[i] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f, al0, al1;

    if (PP && cw == 1) bar_arrive(other, 256); /* the first warpgroup goes first */
    mbar_wait(bar_q, 0);
    mbar_wait(full_k, 0);
    if (PP) bar_sync(me, 256);
    wg_fence();
    qk<D, BN, C::BM>(s, dq, dk0);
    wg_commit();
    if (PP) bar_arrive(other, 256);
    wg_wait<0>();
    fence_regs(s);
    if (lane == 0) mbar_arrive(empty_k);
    softmax_tile<BN>(s, 0, seq, t, scale_log2, m0, m1, l0, l1, al0, al1);
    pack_p<BN>(p, s);

    for (int j = 1; j < ntiles; j++) {
        const int sj = j % ST, sp = (j - 1) % ST;
        mbar_wait(full_k + sj, (uint32_t)(j / ST) & 1u);
        if (PP) bar_sync(me, 256);
        wg_fence();
        qk<D, BN, C::BM>(s, dq, dk0 + sj * STAGE);
        wg_commit();
        mbar_wait(full_v + sp, (uint32_t)((j - 1) / ST) & 1u);
        pv<D, BN>(acc, p, dv0 + sp * STAGE);
        wg_commit();
        if (PP) bar_arrive(other, 256);
        wg_wait<1>();
        fence_regs(s);
        if (lane == 0) mbar_arrive(empty_k + sj);
        softmax_tile<BN>(s, (long long)j * BN, seq, t, scale_log2, m0, m1, l0, l1, al0, al1);
        wg_wait<0>();
        fence_regs(acc);
        fence_u32(p);
        if (lane == 0) mbar_arrive(empty_v + sp);
#pragma unroll
        for (int i = 0; i < D / 8; i++)
            acc[4 * i] *= al0, acc[4 * i + 1] *= al0, acc[4 * i + 2] *= al1, acc[4 * i + 3] *= al1;
        pack_p<BN>(p, s);
    }
    const int sl = (ntiles - 1) % ST;
    mbar_wait(full_v + sl, (uint32_t)((ntiles - 1) / ST) & 1u);
    if (PP) bar_sync(me, 256);
    wg_fence();
    pv<D, BN>(acc, p, dv0 + sl * STAGE);
    wg_commit();
    if (PP && cw == 0) bar_arrive(other, 256); /* the second's last turn is answered by nobody */
    wg_wait<0>();
    fence_regs(acc);
    fence_u32(p);

#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {
        l0 += __shfl_xor_sync(0xffffffffu, l0, off);
        l1 += __shfl_xor_sync(0xffffffffu, l1, off);
    }
    const long long r0 = row0 + cw * 64 + warp * 16 + g, r1 = r0 + 8;
    const float i0 = 1.f / l0, i1 = 1.f / l1;
    o += (size_t)head * (size_t)seq * D;
#pragma unroll
    for (int i = 0; i < D / 8; i++) {
        const int c = i * 8 + 2 * t;
        if (r0 < seq)
            *reinterpret_cast<__nv_bfloat162 *>(o + (size_t)r0 * D + c) =
                __floats2bfloat162_rn(acc[4 * i] * i0, acc[4 * i + 1] * i0);
        if (r1 < seq)
            *reinterpret_cast<__nv_bfloat162 *>(o + (size_t)r1 * D + c) =
                __floats2bfloat162_rn(acc[4 * i + 2] * i1, acc[4 * i + 3] * i1);
    }
#else
    __trap(); /* TMA, wgmma and setmaxnreg need sm_90a */
#endif
}

typedef CUresult (*encode_tiled_fn)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *, const cuuint64_t *,
                                     const cuuint64_t *, const cuuint32_t *, const cuuint32_t *, CUtensorMapInterleave,
                                     CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

/* cuTensorMapEncodeTiled from the driver through the runtime (nothing links libcuda); NULL when absent. */
static encode_tiled_fn encoder(void)
{
    static const encode_tiled_fn fn = [] {
        void *f = nullptr;
        cudaDriverEntryPointQueryResult q;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q) !=
                cudaSuccess ||
            q != cudaDriverEntryPointSuccess)
            f = nullptr;
        return (encode_tiled_fn)f;
    }();
    return fn;
}

/* [heads][seq][D] bf16, boxes of 64 channels x `rows` rows x 1 head, 128-byte swizzle, zeros out of bounds. */
static cudaError_t tensor_map(CUtensorMap *m, const void *x, long long heads, long long seq, int D, int rows)
{
    const encode_tiled_fn enc = encoder();
    if (!enc) return cudaErrorNotSupported;
    const cuuint64_t dims[3] = {(cuuint64_t)D, (cuuint64_t)seq, (cuuint64_t)heads};
    const cuuint64_t strides[2] = {(cuuint64_t)D * 2, (cuuint64_t)seq * (cuuint64_t)D * 2};
    const cuuint32_t box[3] = {64, (cuuint32_t)rows, 1}, one[3] = {1, 1, 1};
    return enc(m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, const_cast<void *>(x), dims, strides, box, one,
               CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
               CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS
               ? cudaSuccess
               : cudaErrorInvalidValue;
}

template <int D, int BN, int CW, int ST, bool PP>
static cudaError_t launch(long long heads, long long seq, float scale, const void *q, const void *k, const void *v,
                          void *o, cudaStream_t st)
{
    using C = cfg<D, BN, CW, ST>;
    static_assert(C::SMEM + 1024 <= 227 * 1024, "the stages do not fit in an SM's shared memory");
    static_assert(24 * 128 + C::CREGS * 128 * CW <= 65536, "the warpgroups' registers do not fit");
    if (seq > 0x7fffffff) return cudaErrorInvalidValue; /* TMA coordinates are 32-bit */
    CUtensorMap tq, tk, tv;
    cudaError_t e;
    if ((e = tensor_map(&tq, q, heads, seq, D, C::BM)) != cudaSuccess ||
        (e = tensor_map(&tk, k, heads, seq, D, BN)) != cudaSuccess ||
        (e = tensor_map(&tv, v, heads, seq, D, BN)) != cudaSuccess)
        return e;
    e = cudaFuncSetAttribute(flash_bf16ws<D, BN, CW, ST, PP>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             (int)C::SMEM);
    if (e != cudaSuccess) return e;
    dim3 grid((unsigned)((seq + C::BM - 1) / C::BM), (unsigned)heads);
    flash_bf16ws<D, BN, CW, ST, PP><<<grid, C::THREADS, C::SMEM, st>>>(tq, tk, tv, (int)seq,
                                                                        scale * 1.4426950408889634f, (bf *)o);
    return cudaGetLastError();
}

} // namespace bf16ws
