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

template <int SD> DEV void wgmma_bf16_ss_n176(float (&d)[88], uint64_t da, uint64_t db)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %90, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n176k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63,%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79,%80,%81,%82,%83,%84,%85,%86,%87}, %88, %89, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87])
                 : "l"(da), "l"(db), "n"(SD));
}

/* S's wgmma at N = BN keys: 64 and 128 in flash_bf16_wgmma.cuh, 176 here (FA3's tile at head_dim 128) */
template <int N, int SD> DEV void wgmma_ss_bn(float (&d)[N / 2], uint64_t da, uint64_t db)
{
    if constexpr (N == 176) wgmma_bf16_ss_n176<SD>(d, da, db);
    else wgmma_bf16_ss<N, SD>(d, da, db);
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
    wgmma_ss_bn<BN, 0>(s, dq, dk);
#pragma unroll
    for (int kk = 1; kk < D / 16; kk++)
        wgmma_ss_bn<BN, 1>(s, dq + (((kk / 4) * BM * 128 + (kk % 4) * 32) >> 4),
                             dk + (((kk / 4) * BN * 128 + (kk % 4) * 32) >> 4));
}

/* O += P V over BN keys: 16 keys per wgmma, two 8-key groups (2048 bytes) further down V. */
template <int D, int BN> DEV void pv(float (&o)[D / 2], const uint32_t (&p)[BN / 16][4], uint64_t dv)
{
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) wgmma_bf16_rs_tb<D>(o, p[kk], dv + kk * (2048 >> 4));
}

DEV float ex2(float x)
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

/* 2^x for x <= 0 on the FMA pipes instead of the MUFU (FlashAttention-4's
 * trick): x clamped at -126, n = round(x) by the 1.5 * 2^23 addition, 2^f
 * on f = x - n in [-0.5, 0.5] by a cubic (relative error 7.5e-5, fitted by
 * kernels/results/bf16ws/fit_ex2.py; P is rounded to bf16, 2^-9, after), n added to the exponent field. */
DEV float ex2_poly(float x)
{
    x = fmaxf(x, -126.f);
    const float t = x + 12582912.f, f = x - (t - 12582912.f);
    const float q = fmaf(fmaf(fmaf(0.05517132f, f, 0.24261054f), f, 0.69326097f), f, 0.9999281f);
    return __int_as_float(__float_as_int(q) + ((__float_as_int(t) - 0x4B400000) << 23));
}

/* The online softmax of one score tile in place: s becomes 2^(scale s -
 * m_new) (keys at or past seq masked when MASK, the last tile only); m0, m1
 * are the running maxima of the scaled scores of rows g, g + 8; returns the
 * factors 2^(m_old - m_new). The maxima are taken on the raw scores (scale >
 * 0), so that each exponent is one FFMA. PQ of every 4 groups of 8 keys take
 * ex2_poly. */
template <int BN, bool MASK, int PQ>
DEV void softmax_tile(float (&s)[BN / 2], int key0, int seq, int t, float scale_log2, float &m0, float &m1,
                      float &l0, float &l1, float &al0, float &al1)
{
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int i = 0; i < BN / 8; i++) {
#pragma unroll
        for (int u = 0; u < 2; u++) {
            if (MASK && key0 + i * 8 + 2 * t + u >= seq) s[4 * i + u] = s[4 * i + 2 + u] = -INFINITY;
            mx0 = fmaxf(mx0, s[4 * i + u]), mx1 = fmaxf(mx1, s[4 * i + 2 + u]);
        }
    }
#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, off));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, off));
    }
    const float n0 = fmaxf(m0, mx0 * scale_log2), n1 = fmaxf(m1, mx1 * scale_log2);
    al0 = ex2(m0 - n0), al1 = ex2(m1 - n1);
    m0 = n0, m1 = n1;
    float r0 = 0.f, r1 = 0.f;
#pragma unroll
    for (int i = 0; i < BN / 8; i++) {
#pragma unroll
        for (int u = 0; u < 4; u++) {
            const float x = fmaf(s[4 * i + u], scale_log2, u < 2 ? -n0 : -n1);
            s[4 * i + u] = i % 4 < PQ ? ex2_poly(x) : ex2(x);
        }
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

template <int D, int BN, int CW, int ST, bool PP, int PQ>
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
    if (BN > seq) softmax_tile<BN, true, PQ>(s, 0, seq, t, scale_log2, m0, m1, l0, l1, al0, al1);
    else softmax_tile<BN, false, PQ>(s, 0, seq, t, scale_log2, m0, m1, l0, l1, al0, al1);
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
        if ((j + 1) * BN > seq) softmax_tile<BN, true, PQ>(s, j * BN, seq, t, scale_log2, m0, m1, l0, l1, al0, al1);
        else softmax_tile<BN, false, PQ>(s, j * BN, seq, t, scale_log2, m0, m1, l0, l1, al0, al1);
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

    bf16wg::store_rows<D>(o + (size_t)head * (size_t)seq * D, row0 + cw * 64 + warp * 16 + g, seq, t, acc, l0, l1);
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

template <int D, int BN, int CW, int ST, bool PP, int PQ>
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
    e = cudaFuncSetAttribute(flash_bf16ws<D, BN, CW, ST, PP, PQ>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             (int)C::SMEM);
    if (e != cudaSuccess) return e;
    dim3 grid((unsigned)((seq + C::BM - 1) / C::BM), (unsigned)heads);
    flash_bf16ws<D, BN, CW, ST, PP, PQ><<<grid, C::THREADS, C::SMEM, st>>>(tq, tk, tv, (int)seq,
                                                                        scale * 1.4426950408889634f, (bf *)o);
    return cudaGetLastError();
}

} // namespace bf16ws
