/* flash_tf32wg: the 3xTF32 flash kernel of attn_flash_cuda.cu on Hopper's
 * warpgroup MMA (wgmma, sm_90a), included there after its helpers (split_tf32,
 * load4, record_bad, smem_u32). Same arithmetic as flash_tf32x3: x = big +
 * rest, a.b ~ rest_a.big_b + big_a.rest_b + big_a.big_b, each 8-term product
 * into a zeroed accumulator (wgmma's scale-d = 0), added to the running sums
 * in float32.
 *
 * WG warpgroups (128 threads each) per block, 64 query rows each; K and V
 * tiles of BN keys, shared by the warpgroups. Operands in shared memory,
 * split once when stored, in the canonical no-swizzle K-major layout: 8-row
 * x 16-byte core matrices, contiguous along K (the descriptor's LBO = 128
 * bytes), SBO bytes between 8-row groups (run 2 of kernels/results/tf32x3
 * ran the other reading of the two fields too: wrong results).
 *   Q big, Q rest: [64 rows][DP], A of S = Q K^T (from shared memory; with
 *     QREG, Q big from registers, loaded once);
 *   K big, K rest: [BN keys][DP], B of S;
 *   V^T big, rest: [DP channels][BN keys], B of O += P V; the keys of each
 *     group of 8 are stored in the order 0,2,4,6,1,3,5,7, so that the
 *     accumulator layout of S is the register A layout of P (as in
 *     flash_tf32x3), and P goes to the tensor cores from registers.
 * S accumulators of NS groups are in flight at once (a ring of NS zeroed
 * accumulators, each added to S after wgmma.wait_group), two for P V, which
 * runs in chunks of PVN channels. PF: the next K, V tile is loaded to
 * registers while this one is used (else after it). */

DEV void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
DEV void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> DEV void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"); }
DEV void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
/* keeps the compiler from reading accumulators before the wait that makes them valid */
template <int N> DEV void fence_regs(float (&d)[N])
{
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(d[i])::"memory");
}

template <int SD> DEV void wgmma_ss_n16(float (&d)[8], uint64_t da, uint64_t db)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %10, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n16k8.f32.tf32.tf32 {%0,%1,%2,%3,%4,%5,%6,%7}, %8, %9, p, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7])
                 : "l"(da), "l"(db), "n"(SD));
}

template <int SD> DEV void wgmma_ss_n32(float (&d)[16], uint64_t da, uint64_t db)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k8.f32.tf32.tf32 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, %16, %17, p, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                 : "l"(da), "l"(db), "n"(SD));
}

template <int SD> DEV void wgmma_ss_n64(float (&d)[32], uint64_t da, uint64_t db)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k8.f32.tf32.tf32 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "l"(da), "l"(db), "n"(SD));
}

template <int SD> DEV void wgmma_rs_n16(float (&d)[8], const uint32_t (&a)[4], uint64_t db)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %13, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n16k8.f32.tf32.tf32 {%0,%1,%2,%3,%4,%5,%6,%7}, {%8,%9,%10,%11}, %12, p, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "n"(SD));
}

template <int SD> DEV void wgmma_rs_n32(float (&d)[16], const uint32_t (&a)[4], uint64_t db)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %21, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k8.f32.tf32.tf32 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, {%16,%17,%18,%19}, %20, p, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "n"(SD));
}

template <int SD> DEV void wgmma_rs_n64(float (&d)[32], const uint32_t (&a)[4], uint64_t db)
{
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k8.f32.tf32.tf32 {%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, {%32,%33,%34,%35}, %36, p, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "n"(SD));
}

template <int N, int SD> DEV void wgmma_ss(float (&d)[N / 2], uint64_t da, uint64_t db)
{
    if constexpr (N == 16) wgmma_ss_n16<SD>(d, da, db);
    else if constexpr (N == 32) wgmma_ss_n32<SD>(d, da, db);
    else wgmma_ss_n64<SD>(d, da, db);
}

template <int N, int SD> DEV void wgmma_rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t db)
{
    if constexpr (N == 16) wgmma_rs_n16<SD>(d, a, db);
    else if constexpr (N == 32) wgmma_rs_n32<SD>(d, a, db);
    else wgmma_rs_n64<SD>(d, a, db);
}

namespace tf32wg {

constexpr int CM = 128; /* bytes of a core matrix */

template <int BN_, int WG_, int NS_, int MINB_, bool QREG_, int PVN_, bool PF_> struct tiling {
    static constexpr int BN = BN_, WG = WG_, NS = NS_, MINB = MINB_, PVN = PVN_;
    static constexpr bool QREG = QREG_, PF = PF_;
};

template <int DP, class T> struct cfg {
    static constexpr int BN = T::BN, THREADS = 128 * T::WG, BM = 64 * T::WG;
    static constexpr int KSBO = DP / 4 * CM;      /* bytes between 8-row groups of Q, K ([rows][DP]) */
    static constexpr int VSBO = BN / 4 * CM + 16; /* of V^T ([DP][BN]); +16: fewer bank conflicts on store */
    static constexpr int Q_BYTES = BM / 8 * KSBO, K_BYTES = BN / 8 * KSBO, V_BYTES = DP / 8 * VSBO;
    static constexpr size_t SMEM = 2 * (size_t)(Q_BYTES + K_BYTES + V_BYTES);
    static constexpr int PER_THREAD = BN * DP / 4 / THREADS;
    static_assert(BN * DP / 4 % THREADS == 0, "tile must split evenly over the threads");
    static_assert(DP % T::PVN == 0, "P V runs in chunks of PVN channels");
};

DEV uint64_t make_desc(const unsigned char *p, uint32_t sbo)
{
    return (uint64_t)((smem_u32(p) & 0x3FFFF) >> 4) | (uint64_t)(CM >> 4) << 16 | (uint64_t)(sbo >> 4) << 32;
}

/* element (row r, channels c..c+3) of a K-major [rows][DP] tile: byte offset */
template <int DP> DEV int kmajor(int r, int c) { return (r / 8) * (DP / 4 * CM) + (c / 4) * CM + (r % 8) * 16; }

/* float4 e of a [rows][DP] tile in the order that makes 8 consecutive threads
 * fill one core matrix (8 rows, 16 bytes each) */
template <int DP> DEV void tile_pos(int e, int &r, int &c) { r = e % 8 + 8 * (e / (2 * DP)), c = (e / 8) % (DP / 4) * 4; }

DEV void put_split4(unsigned char *big, unsigned char *rest, int off, float4 x)
{
    uint32_t b[4], s[4];
    split_tf32(x.x, b[0], s[0]), split_tf32(x.y, b[1], s[1]), split_tf32(x.z, b[2], s[2]), split_tf32(x.w, b[3], s[3]);
    *reinterpret_cast<uint4 *>(big + off) = make_uint4(b[0], b[1], b[2], b[3]);
    *reinterpret_cast<uint4 *>(rest + off) = make_uint4(s[0], s[1], s[2], s[3]);
}

template <class C, int DP>
DEV void load_kv(const float *k, const float *v, long long seq, int dim, bool vec, long long key0,
                 float4 (&kr)[C::PER_THREAD], float4 (&vr)[C::PER_THREAD])
{
#pragma unroll
    for (int i = 0; i < C::PER_THREAD; i++) {
        int r, c;
        tile_pos<DP>(threadIdx.x + i * C::THREADS, r, c);
        const long long key = key0 + r;
        const bool ok = key < seq;
        const size_t off = (size_t)(ok ? key : 0) * (size_t)dim;
        kr[i] = load4(k + off, c, dim, ok, vec);
        vr[i] = load4(v + off, c, dim, ok, vec);
    }
}

template <class C, int DP>
DEV void store_kv(unsigned char *Kb, unsigned char *Kr, unsigned char *Vb, unsigned char *Vr,
                  const float4 (&kr)[C::PER_THREAD], const float4 (&vr)[C::PER_THREAD])
{
#pragma unroll
    for (int i = 0; i < C::PER_THREAD; i++) {
        int r, c;
        tile_pos<DP>(threadIdx.x + i * C::THREADS, r, c);
        put_split4(Kb, Kr, kmajor<DP>(r, c), kr[i]);
        /* V^T: row = channel, K index = the key's place in its group of 8 */
        const int j = r % 8, kap = (r / 8) * 8 + (j % 2 ? 4 + j / 2 : j / 2);
        const float vx[4] = {vr[i].x, vr[i].y, vr[i].z, vr[i].w};
#pragma unroll
        for (int u = 0; u < 4; u++) {
            const int cc = c + u, off = (cc / 8) * C::VSBO + (kap / 4) * CM + (cc % 8) * 16 + (kap % 4) * 4;
            uint32_t b, s;
            split_tf32(vx[u], b, s);
            *reinterpret_cast<uint32_t *>(Vb + off) = b;
            *reinterpret_cast<uint32_t *>(Vr + off) = s;
        }
    }
}

template <int DP, class T>
__global__ void __launch_bounds__(128 * T::WG, T::MINB)
    flash_tf32wg(long long seq, int dim, float scale, const float *__restrict__ q, const float *__restrict__ k,
                 const float *__restrict__ v, float *__restrict__ o, unsigned long long *d_bad)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    using C = cfg<DP, T>;
    constexpr int BN = T::BN, NS = T::NS, PVN = T::PVN, NH = DP / PVN, THREADS = C::THREADS, BM = C::BM;
    extern __shared__ __align__(128) unsigned char smem_wg[];
    unsigned char *Qb = smem_wg, *Qr = Qb + C::Q_BYTES, *Kb = Qr + C::Q_BYTES, *Kr = Kb + C::K_BYTES;
    unsigned char *Vb = Kr + C::K_BYTES, *Vr = Vb + C::V_BYTES;

    const long long head = blockIdx.y;
    const size_t hoff = (size_t)head * (size_t)seq * (size_t)dim;
    q += hoff, k += hoff, v += hoff, o += hoff;
    const long long row0 = (long long)blockIdx.x * BM;
    const bool vec = (dim % 4 == 0) && (((uintptr_t)q | (uintptr_t)k | (uintptr_t)v) % 16 == 0);
    /* warp: the warp's 16 rows in the block (its warpgroup's 64, then its own 16) */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4, wg = warp / 4;

    for (int e = threadIdx.x; e < BM * DP / 4; e += THREADS) {
        int r, c;
        tile_pos<DP>(e, r, c);
        const long long row = row0 + r;
        const bool ok = row < seq;
        put_split4(Qb, Qr, kmajor<DP>(r, c), load4(q + (size_t)(ok ? row : 0) * (size_t)dim, c, dim, ok, vec));
    }
    float4 kr[C::PER_THREAD], vr[C::PER_THREAD];
    load_kv<C, DP>(k, v, seq, dim, vec, 0, kr, vr);
    store_kv<C, DP>(Kb, Kr, Vb, Vr, kr, vr);
    fence_proxy_async();
    __syncthreads();

    const int qoff = wg * 8 * C::KSBO; /* this warpgroup's 64 rows of Q */
    const uint64_t dQb = make_desc(Qb + qoff, C::KSBO), dQr = make_desc(Qr + qoff, C::KSBO);
    const uint64_t dKb = make_desc(Kb, C::KSBO), dKr = make_desc(Kr, C::KSBO);
    const uint64_t dVb = make_desc(Vb, C::VSBO), dVr = make_desc(Vr, C::VSBO);
    constexpr uint64_t KSTEP = 2 * CM >> 4;              /* 8 channels (or keys) further along K */
    constexpr uint64_t HSTEP = PVN / 8 * C::VSBO >> 4;   /* PVN channels further along V^T's rows */
    /* QREG: the A fragments of Q big, (row g, ch t), (g+8, t), (g, t+4), (g+8, t+4) per 8 channels */
    uint32_t qa[T::QREG ? DP / 8 : 1][4];
    if constexpr (T::QREG) {
        const int r = warp * 16 + g;
#pragma unroll
        for (int kk = 0; kk < DP / 8; kk++) {
            const int c = kk * 8 + t;
            qa[kk][0] = *reinterpret_cast<const uint32_t *>(Qb + kmajor<DP>(r, c & ~3) + (c % 4) * 4);
            qa[kk][1] = *reinterpret_cast<const uint32_t *>(Qb + kmajor<DP>(r + 8, c & ~3) + (c % 4) * 4);
            qa[kk][2] = *reinterpret_cast<const uint32_t *>(Qb + kmajor<DP>(r, (c + 4) & ~3) + (c % 4) * 4);
            qa[kk][3] = *reinterpret_cast<const uint32_t *>(Qb + kmajor<DP>(r + 8, (c + 4) & ~3) + (c % 4) * 4);
        }
    }

    float acc_o[NH][PVN / 2];
#pragma unroll
    for (int h = 0; h < NH; h++)
#pragma unroll
        for (int i = 0; i < PVN / 2; i++) acc_o[h][i] = 0.f;
    float st[NS][BN / 2], pt[2][PVN / 2];
#pragma unroll
    for (int u = 0; u < NS; u++)
#pragma unroll
        for (int i = 0; i < BN / 2; i++) st[u][i] = 0.f;
#pragma unroll
    for (int i = 0; i < PVN / 2; i++) pt[0][i] = pt[1][i] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f; /* rows 16 warp + g, + 8 */
    bool bad = false;
    const long long ntiles = (seq + BN - 1) / BN;

    for (long long j = 0; j < ntiles; j++) {
        if (T::PF && j + 1 < ntiles) load_kv<C, DP>(k, v, seq, dim, vec, (j + 1) * BN, kr, vr);

        /* S = Q K^T: DP/8 groups of three wgmma, NS in flight */
        float s[BN / 2];
#pragma unroll
        for (int i = 0; i < BN / 2; i++) s[i] = 0.f;
#pragma unroll
        for (int kk = 0; kk < DP / 8; kk++) {
            float(&D)[BN / 2] = st[kk % NS];
            wg_fence();
            wgmma_ss<BN, 0>(D, dQr + kk * KSTEP, dKb + kk * KSTEP);
            if constexpr (T::QREG) {
                wgmma_rs<BN, 1>(D, qa[kk], dKr + kk * KSTEP);
                wgmma_rs<BN, 1>(D, qa[kk], dKb + kk * KSTEP);
            } else {
                wgmma_ss<BN, 1>(D, dQb + kk * KSTEP, dKr + kk * KSTEP);
                wgmma_ss<BN, 1>(D, dQb + kk * KSTEP, dKb + kk * KSTEP);
            }
            wg_commit();
            if (kk >= NS - 1) {
                wg_wait<NS - 1>();
                float(&E)[BN / 2] = st[(kk - NS + 1) % NS];
                fence_regs(E);
#pragma unroll
                for (int i = 0; i < BN / 2; i++) s[i] += E[i];
            }
        }
        wg_wait<0>();
#pragma unroll
        for (int kk = DP / 8 - NS + 1; kk < DP / 8; kk++) {
            float(&E)[BN / 2] = st[kk % NS];
            fence_regs(E);
#pragma unroll
            for (int i = 0; i < BN / 2; i++) s[i] += E[i];
        }

        /* online softmax (scale_mask_max: flash_common.cuh) */
        float mx0 = m0, mx1 = m1;
        scale_mask_max(s, j * BN, seq, t, scale, mx0, mx1);
        bad |= !isfinite(mx0) || !isfinite(mx1);
        const float al0 = expf(m0 - mx0), al1 = expf(m1 - mx1);
        m0 = mx0, m1 = mx1;
        l0 *= al0, l1 *= al1;
#pragma unroll
        for (int i = 0; i < BN / 8; i++) {
            s[4 * i] = expf(s[4 * i] - m0), s[4 * i + 1] = expf(s[4 * i + 1] - m0);
            s[4 * i + 2] = expf(s[4 * i + 2] - m1), s[4 * i + 3] = expf(s[4 * i + 3] - m1);
            l0 += s[4 * i] + s[4 * i + 1];
            l1 += s[4 * i + 2] + s[4 * i + 3];
        }
#pragma unroll
        for (int h = 0; h < NH; h++)
#pragma unroll
            for (int i = 0; i < PVN / 8; i++)
                acc_o[h][4 * i] *= al0, acc_o[h][4 * i + 1] *= al0, acc_o[h][4 * i + 2] *= al1, acc_o[h][4 * i + 3] *= al1;

        /* O += P V: (BN/8) x NH groups of three wgmma, two in flight */
        constexpr int NG = BN / 8 * NH;
#pragma unroll
        for (int gi = 0; gi < NG; gi++) {
            const int kk = gi / NH, h = gi % NH;
            uint32_t ab[4], ar[4];
            split_tf32(s[4 * kk], ab[0], ar[0]);
            split_tf32(s[4 * kk + 2], ab[1], ar[1]);
            split_tf32(s[4 * kk + 1], ab[2], ar[2]);
            split_tf32(s[4 * kk + 3], ab[3], ar[3]);
            float(&D)[PVN / 2] = pt[gi % 2];
            const uint64_t vo = kk * KSTEP + h * HSTEP;
            wg_fence();
            wgmma_rs<PVN, 0>(D, ar, dVb + vo);
            wgmma_rs<PVN, 1>(D, ab, dVr + vo);
            wgmma_rs<PVN, 1>(D, ab, dVb + vo);
            wg_commit();
            if (gi >= 1) {
                wg_wait<1>();
                float(&E)[PVN / 2] = pt[(gi - 1) % 2];
                fence_regs(E);
#pragma unroll
                for (int i = 0; i < PVN / 2; i++) acc_o[(gi - 1) % NH][i] += E[i];
            }
        }
        wg_wait<0>();
        {
            float(&E)[PVN / 2] = pt[(NG - 1) % 2];
            fence_regs(E);
#pragma unroll
            for (int i = 0; i < PVN / 2; i++) acc_o[(NG - 1) % NH][i] += E[i];
        }
        __syncthreads();
        if (j + 1 < ntiles) {
            if (!T::PF) load_kv<C, DP>(k, v, seq, dim, vec, (j + 1) * BN, kr, vr);
            store_kv<C, DP>(Kb, Kr, Vb, Vr, kr, vr);
            fence_proxy_async();
            __syncthreads();
        }
    }
    const long long r0 = row0 + warp * 16 + g, r1 = r0 + 8;
    finish_rows(l0, l1, bad, m0, m1, d_bad, head, seq, r0);
    const float i0 = 1.f / l0, i1 = 1.f / l1;
#pragma unroll
    for (int h = 0; h < NH; h++)
#pragma unroll
        for (int i = 0; i < PVN / 8; i++) {
            const int c = h * PVN + i * 8 + 2 * t;
            if (r0 < seq) {
                if (c < dim) o[(size_t)r0 * dim + c] = acc_o[h][4 * i] * i0;
                if (c + 1 < dim) o[(size_t)r0 * dim + c + 1] = acc_o[h][4 * i + 1] * i0;
            }
            if (r1 < seq) {
                if (c < dim) o[(size_t)r1 * dim + c] = acc_o[h][4 * i + 2] * i1;
                if (c + 1 < dim) o[(size_t)r1 * dim + c + 1] = acc_o[h][4 * i + 3] * i1;
            }
        }
#else
    __trap(); /* wgmma needs sm_90a */
#endif
}

template <int DP, class T>
static cudaError_t launch(long long heads, long long seq, int dim, float scale, const float *q, const float *k,
                          const float *v, float *o, unsigned long long *bad, cudaStream_t st)
{
    using C = cfg<DP, T>;
    static_assert((C::SMEM + 1024) * T::MINB <= 228 * 1024, "MINB blocks of this tiling do not fit in an SM's shared memory");
    cudaError_t e = cudaFuncSetAttribute(flash_tf32wg<DP, T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)C::SMEM);
    if (e != cudaSuccess) return e;
    dim3 grid((unsigned)((seq + C::BM - 1) / C::BM), (unsigned)heads);
    flash_tf32wg<DP, T><<<grid, C::THREADS, C::SMEM, st>>>(seq, dim, scale, q, k, v, o, bad);
    return cudaGetLastError();
}

} // namespace tf32wg
