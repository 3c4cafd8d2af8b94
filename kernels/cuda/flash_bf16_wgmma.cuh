/* flash_bf16wg: the bf16 flash kernel on Hopper's warpgroup MMA (wgmma,
 * sm_90a), included by attn_flash_cuda.cu after flash_tf32_wgmma.cuh (whose
 * wgmma fences and waits it uses). Same arithmetic as flash_bf16: bf16
 * inputs, float32 scores, softmax (exp2 of pre-scaled scores) and output
 * accumulation, P rounded to bf16 for P V.
 *
 * WG warpgroups (128 threads each) per block, 64 query rows each, sharing K
 * and V tiles of BN keys, which cp.async double-buffers. Every operand is
 * copied as stored (16-byte chunks) into wgmma's no-swizzle canonical
 * layouts: Q [rows][D] and K [keys][D] K-major (8-row x 16-byte core
 * matrices, LBO = 128 bytes along K, SBO = 16 D bytes between 8-row
 * groups), V [keys][D] MN-major for the transposed B of P V (core matrices of
 * 8 keys x 8 channels, 128 bytes apart along the channels: the descriptor's
 * SBO; 16 D bytes apart along the keys: its LBO. VSWAP, the other reading,
 * made illegal addresses in kernels/results/tf32x3/bf16_run1). S = Q K^T from shared
 * memory, P from registers (the accumulator layout of S is the A layout of
 * P for bf16, no key permutation). No overlap of the softmax with the MMAs
 * inside a warpgroup (FA3's ping-pong is not done): the other warpgroup or
 * block of the SM fills the gaps. Measured slower than the mma.sync kernel
 * (bf16_run1: 165-235 against 245-309 TFLOP/s): kept for the benchmark. */

template <int SD> DEV void wgmma_bf16_ss_n64(float (&d)[32], uint64_t da, uint64_t db)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "l"(da), "l"(db), "n"(SD));
}

template <int SD> DEV void wgmma_bf16_ss_n128(float (&d)[64], uint64_t da, uint64_t db)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "l"(da), "l"(db), "n"(SD));
}

/* B transposed (MN-major: V as stored, [keys][channels]) */
DEV void wgmma_bf16_rs_n64_tb(float (&d)[32], const uint32_t (&a)[4], uint64_t db)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, {%32,%33,%34,%35}, %36, p, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db));
}

/* B transposed (MN-major: V as stored, [keys][channels]) */
DEV void wgmma_bf16_rs_n128_tb(float (&d)[64], const uint32_t (&a)[4], uint64_t db)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, {%64,%65,%66,%67}, %68, p, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db));
}

template <int N, int SD> DEV void wgmma_bf16_ss(float (&d)[N / 2], uint64_t da, uint64_t db)
{
    if constexpr (N == 64) wgmma_bf16_ss_n64<SD>(d, da, db);
    else wgmma_bf16_ss_n128<SD>(d, da, db);
}
template <int N> DEV void wgmma_bf16_rs_tb(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t db)
{
    if constexpr (N == 64) wgmma_bf16_rs_n64_tb(d, a, db);
    else wgmma_bf16_rs_n128_tb(d, a, db);
}

namespace bf16wg {

typedef __nv_bfloat16 bf;
constexpr int CM = 128;

template <int D, int BN, int WG> struct cfg {
    static constexpr int THREADS = 128 * WG, BM = 64 * WG;
    static constexpr int SBO = 16 * D;                 /* bytes per 8 rows of a [rows][D] bf16 tile */
    static constexpr int Q_BYTES = BM / 8 * SBO, KV_BYTES = BN / 8 * SBO;
    static constexpr size_t SMEM = Q_BYTES + 4 * (size_t)KV_BYTES; /* Q, K x2, V x2 */
};

DEV uint64_t desc(const unsigned char *p, uint32_t lbo, uint32_t sbo)
{
    return (uint64_t)((smem_u32(p) & 0x3FFFF) >> 4) | (uint64_t)(lbo >> 4) << 16 | (uint64_t)(sbo >> 4) << 32;
}

/* rows x D bf16 (row stride D) -> the canonical layout: chunk (r, c/8) at
 * (r/8) SBO + (c/8) 128 + (r%8) 16; rows past `valid` zero-filled. The same
 * placement is K-major for Q and K and MN-major for V. */
template <int D, int THREADS>
DEV void async_tile(unsigned char *dst, const bf *src, int rows, long long valid)
{
    constexpr int CH = D / 8;
    for (int e = threadIdx.x; e < rows * CH; e += THREADS) {
        const int r = e % 8 + 8 * (e / (8 * CH)), c8 = (e / 8) % CH;
        const bool ok = r < valid;
        cp_async16(dst + (r / 8) * (16 * D) + c8 * CM + (r % 8) * 16, src + (size_t)(ok ? r : 0) * D + c8 * 8,
                   ok ? 16 : 0);
    }
}

/* The end of a bf16 wgmma kernel's rows r0 (g) and r0 + 8 of one head's o:
 * the quad's partial sums l0, l1 added up, O / l stored as bf16 (rows at or
 * past seq not). */
template <int D>
DEV void store_rows(__nv_bfloat16 *o, long long r0, long long seq, int t, const float (&acc)[D / 2], float l0, float l1)
{
#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {
        l0 += __shfl_xor_sync(0xffffffffu, l0, off);
        l1 += __shfl_xor_sync(0xffffffffu, l1, off);
    }
    const long long r1 = r0 + 8;
    const float i0 = 1.f / l0, i1 = 1.f / l1;
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
}

template <int D, int BN, int WG, int MINB, bool VSWAP>
__global__ void __launch_bounds__(128 * WG, MINB)
    flash_bf16wg(long long seq, float scale_log2, const bf *__restrict__ q, const bf *__restrict__ k,
                 const bf *__restrict__ v, bf *__restrict__ o)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    using C = cfg<D, BN, WG>;
    extern __shared__ __align__(128) unsigned char smem_bw[];
    unsigned char *Qs = smem_bw, *Ks = Qs + C::Q_BYTES, *Vs = Ks + 2 * C::KV_BYTES;
    const long long head = blockIdx.y;
    const size_t hoff = (size_t)head * (size_t)seq * D;
    q += hoff, k += hoff, v += hoff, o += hoff;
    const long long row0 = (long long)blockIdx.x * C::BM;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4, wg = warp / 4;
    const long long ntiles = (seq + BN - 1) / BN;

    async_tile<D, C::THREADS>(Qs, q + (size_t)row0 * D, C::BM, seq - row0);
    async_tile<D, C::THREADS>(Ks, k, BN, seq);
    async_tile<D, C::THREADS>(Vs, v, BN, seq);
    cp_async_commit();

    const uint64_t dQ = desc(Qs + wg * 8 * C::SBO, CM, C::SBO);
    /* V, MN-major: core matrices CM bytes apart along the channels, SBO bytes apart along the keys */
    const uint32_t vl = VSWAP ? CM : C::SBO, vs = VSWAP ? C::SBO : CM;
    constexpr uint64_t KSTEP = 2 * CM >> 4;        /* 16 channels further along Q's, K's rows */
    constexpr uint64_t VSTEP = 2 * C::SBO >> 4;    /* 16 keys further down V */

    float acc_o[D / 2];
#pragma unroll
    for (int i = 0; i < D / 2; i++) acc_o[i] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f; /* rows 16 warp + g, + 8 */

    for (long long j = 0; j < ntiles; j++) {
        const int buf = (int)(j & 1);
        if (j + 1 < ntiles) {
            const long long k1 = (j + 1) * BN;
            async_tile<D, C::THREADS>(Ks + (buf ^ 1) * C::KV_BYTES, k + (size_t)k1 * D, BN, seq - k1);
            async_tile<D, C::THREADS>(Vs + (buf ^ 1) * C::KV_BYTES, v + (size_t)k1 * D, BN, seq - k1);
        }
        cp_async_commit();
        cp_async_wait<1>();
        fence_proxy_async(); /* cp.async's writes, then wgmma's async-proxy reads */
        __syncthreads();
        const uint64_t dK = desc(Ks + buf * C::KV_BYTES, CM, C::SBO), dV = desc(Vs + buf * C::KV_BYTES, vl, vs);

        float s[BN / 2];
#pragma unroll
        for (int i = 0; i < BN / 2; i++) s[i] = 0.f;
        wg_fence();
        wgmma_bf16_ss<BN, 0>(s, dQ, dK);
#pragma unroll
        for (int kk = 1; kk < D / 16; kk++) wgmma_bf16_ss<BN, 1>(s, dQ + kk * KSTEP, dK + kk * KSTEP);
        wg_commit();
        wg_wait<0>();
        fence_regs(s);

        float mx0 = m0, mx1 = m1;
        scale_mask_max(s, j * BN, seq, t, scale_log2, mx0, mx1);
        const float al0 = exp2f(m0 - mx0), al1 = exp2f(m1 - mx1);
        m0 = mx0, m1 = mx1;
        l0 *= al0, l1 *= al1;
        uint32_t pf[BN / 16][4];
#pragma unroll
        for (int i = 0; i < BN / 8; i++) {
            const float p0 = exp2f(s[4 * i] - mx0), p1 = exp2f(s[4 * i + 1] - mx0);
            const float p2 = exp2f(s[4 * i + 2] - mx1), p3 = exp2f(s[4 * i + 3] - mx1);
            l0 += p0 + p1, l1 += p2 + p3;
            pf[i / 2][(i % 2) * 2 + 0] = pack_bf16(p0, p1);
            pf[i / 2][(i % 2) * 2 + 1] = pack_bf16(p2, p3);
        }
#pragma unroll
        for (int i = 0; i < D / 8; i++)
            acc_o[4 * i] *= al0, acc_o[4 * i + 1] *= al0, acc_o[4 * i + 2] *= al1, acc_o[4 * i + 3] *= al1;

        wg_fence();
#pragma unroll
        for (int kk = 0; kk < BN / 16; kk++) wgmma_bf16_rs_tb<D>(acc_o, pf[kk], dV + kk * VSTEP);
        wg_commit();
        wg_wait<0>();
        fence_regs(acc_o);
        __syncthreads(); /* this stage is refilled two iterations on */
    }
    store_rows<D>(o, row0 + warp * 16 + g, seq, t, acc_o, l0, l1);
#else
    __trap(); /* wgmma needs sm_90a */
#endif
}

template <int D, int BN, int WG, int MINB, bool VSWAP>
static cudaError_t launch(long long heads, long long seq, float scale, const void *q, const void *k, const void *v,
                          void *o, cudaStream_t st)
{
    using C = cfg<D, BN, WG>;
    static_assert((C::SMEM + 1024) * MINB <= 228 * 1024, "MINB blocks of this tiling do not fit in an SM's shared memory");
    cudaError_t e = cudaFuncSetAttribute(flash_bf16wg<D, BN, WG, MINB, VSWAP>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)C::SMEM);
    if (e != cudaSuccess) return e;
    dim3 grid((unsigned)((seq + C::BM - 1) / C::BM), (unsigned)heads);
    flash_bf16wg<D, BN, WG, MINB, VSWAP><<<grid, C::THREADS, C::SMEM, st>>>(
        seq, scale * 1.4426950408889634f, (const bf *)q, (const bf *)k, (const bf *)v, (bf *)o);
    return cudaGetLastError();
}

} // namespace bf16wg
