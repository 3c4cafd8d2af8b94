/* Fused reuse attention on the CPU ("delta rows"): the body shared by the
 * SIMD paths attn_reuse_avx2.c and attn_reuse_avx512.c, which define the
 * vector layer (attn_flash_body.h lists it) and then include this file once.
 *
 * o = softmax(scale Q~ K~^T) V for the rippled Q~, K~ (ripple_reuse_apply's
 * output), exactly that function for ANY input: the structure reuse leaves
 * in Q~ is found by comparing values, so it only decides how fast the
 * kernel runs, never what it computes.
 *
 * The idea. After the ripple transform most entries of a query row i equal
 * the entries of a neighbour s (its window's first position along t, h or
 * w), so with dQ_i = Q~_i - Q~_s, nonzero on the set C_i of channels where
 * the two rows differ,
 *     S_i = Q~_i K~^T = S_s + dQ_i K~^T = S_s + sum_{c in C_i} dQ_ic K~[:, c]
 * costs |C_i| x N multiply-adds instead of d x N. Reusing single partial
 * scores saves nothing on a machine whose multiply-add is one instruction;
 * skipping whole columns c of a row's dot products does.
 *
 * Order of the query rows. A row's source must be in the same work item,
 * whose score block S already holds it. The transform's windows tile the
 * video grid into cubes of window^3 tokens (shorter at the edges) and every
 * source of a token lies in its own cube, so the work items take the query
 * tokens in cube order (cubes in flat order, tokens of a cube in flat order,
 * text tokens last), BQ of them per item; o is written back in token order.
 *
 * Plan of a work item (built once, used for every key chunk). For each row
 * in order, the candidate sources are the 7 corner projections of its token
 * inside its cube (coordinates on any non-empty set of axes moved to their
 * window's first position) that are earlier rows of the same item; the one
 * with the fewest differing channels wins. A row becomes a delta row when
 * |C_i| <= DELTA_MAX_FRAC x d, else a dense row. Dense rows go first in the
 * score block and through the flash kernel's register tile; delta rows
 * follow in row order (a source always precedes its dependents, so its
 * scores are final when a dependent reads them).
 *
 * Per key chunk (FlashAttention-2 order, as attn_flash_body.h):
 *   S_dense = (alpha Q~_dense) K_c^T                  qk_tile, K^T panels
 *   S_i = S_s + sum_{c in C_i} dQ_ic K_c^T[c, :]        DNV vectors of keys
 *                                                      in registers, K_c^T
 *                                                      rows contiguous (kt)
 *   then the online softmax and P V of the flash kernel, unchanged.
 * dQ_ic = fl(alpha Q~_ic) - fl(alpha Q~_sc), the difference of the two rows
 * the dense kernel would have used (alpha = scale log2 e).
 *
 * Memory per call: the flash kernel's packed K and V, plus K~^T chunks kt
 * [heads][chunks][dim][kc] (the size of k), plus per worker its tiles and a
 * plan of BQ x dim channel indices and differences. All in the calling
 * thread's workspace.
 *
 * Measured (ripple bench --reuse, one thread, 16-core Xeon with AVX-512,
 * kernels/results/reuse/; README "Reuse kernel"): 1.07-1.12x the dense
 * kernel at s_score 0.8-0.9, 1.3-1.4x at 0.95-0.98, 0.76-0.85 of this
 * kernel's own counted-work ceiling. P V and softmax (~52% of dense time)
 * are untouched; a delta multiply-add costs ~2x a dense one (one load per
 * FMA from a K~^T chunk in L2). DNV 8 and 16 are within noise. */

#ifndef DELTA_MAX_FRAC
#define DELTA_MAX_FRAC 0.75
#endif
#ifndef REUSE_BQ
#define REUSE_BQ BQ
#endif

typedef struct reuse_worker {
    flash_worker fw;  /* qb holds the dense rows only */
    int32_t *sidx;    /* [BQ] score-block row of each row of the item */
    int32_t *src;     /* [BQ] delta rows: score-block row of the source */
    int32_t *nnz;     /* [BQ] delta rows: |C_i| */
    int32_t *chan;    /* [BQ, dim] delta rows: C_i */
    float *dq;        /* [BQ, dim] delta rows: dQ_ic, c in C_i */
    int32_t *delta;   /* [BQ] the delta rows, in order (item row index) */
} reuse_worker;

typedef struct reuse_job {
    flash_job fj;            /* packing and chunking of the flash kernel */
    const ripple_layout *lay;
    int64_t window;
    const int64_t *perm;     /* [seq]: token of each position */
    const int64_t *pos;      /* [seq]: position of each token */
    float *kt;               /* [heads][nchunks][dim][kc] */
    int64_t nchunks;
    reuse_worker *rw;
    ripple_attn_reuse_work *work; /* [threads] counts, or NULL */
} reuse_job;

static size_t kt_head_floats(const reuse_job *j) { return (size_t)j->nchunks * (size_t)j->fj.dim * (size_t)j->fj.kc; }

/* Packs head h's K~ as K^T chunks (keys past seq zero), beside flash_pack. */
static ripple_status reuse_pack(void *ctx, int worker, int64_t h)
{
    reuse_job *j = ctx;
    ripple_status st = flash_pack(&j->fj, worker, h);
    if (st != RIPPLE_OK) return st;
    const int64_t seq = j->fj.seq, dim = j->fj.dim, kc = j->fj.kc;
    const float *kh = j->fj.k + (size_t)h * (size_t)seq * (size_t)dim;
    float *kt = j->kt + (size_t)h * kt_head_floats(j);
    for (int64_t b = 0; b < j->nchunks; b++)
        for (int64_t c = 0; c < dim; c++) {
            float *row = kt + ((size_t)b * (size_t)dim + (size_t)c) * (size_t)kc;
            for (int64_t t = 0; t < kc; t++) {
                int64_t key = b * kc + t;
                row[t] = key < seq ? kh[(size_t)key * (size_t)dim + (size_t)c] : 0.0f;
            }
        }
    return RIPPLE_OK;
}

/* Builds the plan of the item of rows [p0, p0 + nr) (positions). Returns the
 * number of dense rows; fills w->qb with their scaled rows. */
static int64_t reuse_plan(const reuse_job *j, reuse_worker *w, const float *qh, int64_t p0, int64_t nr,
                          int64_t *ndelta_out)
{
    const ripple_layout *lay = j->lay;
    const int64_t dim = j->fj.dim, win = j->window;
    const int64_t T = lay->grid[0], H = lay->grid[1], Wd = lay->grid[2], vo = lay->video_offset;
    const int64_t nvid = T * H * Wd;
    const int64_t max_nnz = (int64_t)(DELTA_MAX_FRAC * (double)dim);
    const float alpha = j->fj.alpha;
    int64_t nd = 0, ndelta = 0;
    /* pass 1: choose a source for each row (by position: item row index) */
    for (int64_t r = 0; r < nr; r++) {
        const int64_t tok = j->perm[p0 + r];
        const float *qi = qh + (size_t)tok * (size_t)dim;
        int64_t best = -1, best_nnz = dim + 1;
        if (tok >= vo && tok < vo + nvid) {
            const int64_t v = tok - vo, t = v / (H * Wd), hh = v / Wd % H, ww = v % Wd;
            for (unsigned a = 1; a < 8; a++) {
                const int64_t ct = (a & 1u) ? t - t % win : t, ch = (a & 2u) ? hh - hh % win : hh,
                              cw = (a & 4u) ? ww - ww % win : ww;
                const int64_t stok = vo + (ct * H + ch) * Wd + cw;
                if (stok == tok) continue;
                const int64_t sr = j->pos[stok] - p0; /* item row of the candidate */
                if (sr < 0 || sr >= r) continue;
                const float *qs = qh + (size_t)stok * (size_t)dim;
                int64_t nz = 0;
                for (int64_t c = 0; c < dim; c++) nz += qi[c] != qs[c];
                if (nz < best_nnz) best_nnz = nz, best = sr;
            }
        }
        if (best >= 0 && best_nnz <= max_nnz) {
            w->src[r] = (int32_t)best; /* item row for now; score row below */
            w->nnz[r] = (int32_t)best_nnz;
            w->delta[ndelta++] = (int32_t)r;
        } else {
            w->src[r] = -1;
            w->sidx[r] = (int32_t)nd;
            for (int64_t c = 0; c < dim; c++) w->fw.qb[(size_t)nd * (size_t)dim + (size_t)c] = qi[c] * alpha;
            nd++;
        }
    }
    memset(w->fw.qb + (size_t)nd * (size_t)dim, 0, (size_t)(REUSE_BQ - nd) * (size_t)dim * sizeof(float));
    /* pass 2: delta rows get score rows after the dense ones, in row order */
    for (int64_t e = 0; e < ndelta; e++) {
        const int64_t r = w->delta[e];
        w->sidx[r] = (int32_t)(nd + e);
    }
    for (int64_t e = 0; e < ndelta; e++) {
        const int64_t r = w->delta[e];
        const int64_t sr = w->src[r];
        const float *qi = qh + (size_t)j->perm[p0 + r] * (size_t)dim;
        const float *qs = qh + (size_t)j->perm[p0 + sr] * (size_t)dim;
        int32_t *ch = w->chan + (size_t)r * (size_t)dim;
        float *dq = w->dq + (size_t)r * (size_t)dim;
        int64_t n = 0;
        for (int64_t c = 0; c < dim; c++) { /* branch-free: written always, kept where they differ */
            ch[n] = (int32_t)c, dq[n] = qi[c] * alpha - qs[c] * alpha;
            n += qi[c] != qs[c];
        }
        RIPPLE_ASSERT(n == w->nnz[r]);
        w->src[r] = w->sidx[sr];
    }
    *ndelta_out = ndelta;
    return nd;
}

/* Keys [t, t + DNV W) of one delta row: dst = s + sum_n dq[n] kt[chan[n]],
 * DNV vectors of scores in registers. */
static inline void delta_block(const float *s, float *dst, const float *kt, int64_t kc, const int32_t *chan,
                               const float *dq, int64_t nnz)
{
    vf a[DNV];
    for (int v = 0; v < DNV; v++) a[v] = VLOAD(s + (size_t)v * W);
    for (int64_t n = 0; n < nnz; n++) {
        const vf b = VSET1(dq[n]);
        const float *row = kt + (size_t)chan[n] * (size_t)kc;
        for (int v = 0; v < DNV; v++) a[v] = VFMA(b, VLOAD(row + (size_t)v * W), a[v]);
    }
    for (int v = 0; v < DNV; v++) VSTORE(dst + (size_t)v * W, a[v]);
}

/* The same for one vector of keys (the tail of a chunk). */
static inline void delta_vec(const float *s, float *dst, const float *kt, int64_t kc, const int32_t *chan,
                             const float *dq, int64_t nnz)
{
    vf a = VLOAD(s);
    for (int64_t n = 0; n < nnz; n++) a = VFMA(VSET1(dq[n]), VLOAD(kt + (size_t)chan[n] * (size_t)kc), a);
    VSTORE(dst, a);
}

/* Every delta row's scores for keys [0, nkp) of a chunk, DNV W keys at a
 * time (outer) so that those keys' K~^T block (dim x DNV W floats) stays in
 * L1 while every delta row reads it. Sources precede dependents in the
 * list, and a key block of a row depends only on the same block of its
 * source. */
static void delta_rows(const reuse_worker *rw, float *s, int64_t nd, int64_t ndelta, const float *ktc,
                       int64_t kc, int64_t nkp, int64_t dim)
{
    int64_t t = 0;
    for (; t + DNV * W <= nkp; t += DNV * W)
        for (int64_t e = 0; e < ndelta; e++) {
            const int64_t r = rw->delta[e];
            delta_block(s + (size_t)rw->src[r] * KC + (size_t)t, s + (size_t)(nd + e) * KC + (size_t)t, ktc + t, kc,
                        rw->chan + (size_t)r * (size_t)dim, rw->dq + (size_t)r * (size_t)dim, rw->nnz[r]);
        }
    for (; t < nkp; t += W)
        for (int64_t e = 0; e < ndelta; e++) {
            const int64_t r = rw->delta[e];
            delta_vec(s + (size_t)rw->src[r] * KC + (size_t)t, s + (size_t)(nd + e) * KC + (size_t)t, ktc + t, kc,
                      rw->chan + (size_t)r * (size_t)dim, rw->dq + (size_t)r * (size_t)dim, rw->nnz[r]);
        }
}

/* Work item it = head * nqb + query block (of positions in cube order). */
static ripple_status reuse_item(void *ctx, int worker, int64_t it)
{
    reuse_job *j = ctx;
    reuse_worker *rw = &j->rw[worker];
    flash_worker *w = &rw->fw;
    const int64_t seq = j->fj.seq, dim = j->fj.dim, dimp = j->fj.dimp, kcs = j->fj.kc;
    const int64_t h = it / j->fj.nqb, p0 = (it % j->fj.nqb) * REUSE_BQ;
    const int64_t nr = seq - p0 < REUSE_BQ ? seq - p0 : REUSE_BQ;
    const float *qh = j->fj.q + (size_t)h * (size_t)seq * (size_t)dim;
    const float *kp = j->fj.kp + (size_t)h * kp_head_floats(&j->fj);
    const float *vp = j->fj.vp + (size_t)h * vp_head_floats(&j->fj);
    const float *kt = j->kt + (size_t)h * kt_head_floats(j);

    int64_t ndelta = 0;
    const int64_t nd = reuse_plan(j, rw, qh, p0, nr, &ndelta);
    if (j->work) {
        ripple_attn_reuse_work *wk = &j->work[worker];
        wk->rows += nr, wk->dense_rows += nd, wk->delta_rows += ndelta;
        for (int64_t e = 0; e < ndelta; e++) wk->delta_channels += rw->nnz[rw->delta[e]];
    }
    memset(w->acc, 0, (size_t)REUSE_BQ * (size_t)dimp * sizeof(float));
    for (int64_t r = 0; r < REUSE_BQ; r++) w->m[r] = -INFINITY, w->l[r] = 0.0;
    const int64_t nd_qk = (nd + QK_R - 1) / QK_R * QK_R;
    const int64_t nr_pv = (nr + PV_R - 1) / PV_R * PV_R;

    for (int64_t k0 = 0, kb = 0; k0 < seq; k0 += kcs, kb++) {
        const int64_t nk = seq - k0 < kcs ? seq - k0 : kcs;
        const int64_t nkp = (nk + KW - 1) / KW * KW;
        const float *chunk = kp + (size_t)(k0 / KW) * (size_t)dim * KW;
        const float *ktc = kt + (size_t)kb * (size_t)dim * (size_t)kcs;
        for (int64_t b = 0; b < nkp; b += KW)
            for (int64_t r = 0; r < nd_qk; r += QK_R)
                qk_tile(w->qb + (size_t)r * (size_t)dim, dim, chunk + (size_t)(b / KW) * (size_t)dim * KW,
                        w->s + (size_t)r * KC + (size_t)b);
        delta_rows(rw, w->s, nd, ndelta, ktc, kcs, nkp, dim);
        for (int64_t r = 0; r < nr; r++) {
            float *srow = w->s + (size_t)r * KC;
            for (int64_t t = nk; t < nkp; t++) srow[t] = -INFINITY;
            vf vm = VSET1(-INFINITY);
            for (int64_t t = 0; t < nkp; t += W) vm = VMAX(vm, VLOAD(srow + t));
            float mc = VHMAX(vm);
            if (!isfinite(mc)) {
                int64_t row = -1; /* the token of score row r, for the message */
                for (int64_t q = 0; q < nr; q++)
                    if (rw->sidx[q] == r) row = j->perm[p0 + q];
                return ripple_fail(RIPPLE_ERR_NONFINITE,
                                   "reuse attention: non-finite scores in head %lld, query row %lld "
                                   "(scale * q.k overflows float32)",
                                   (long long)h, (long long)row);
            }
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
    float *oh = j->fj.o + (size_t)h * (size_t)seq * (size_t)dim;
    for (int64_t r = 0; r < nr; r++) {
        const int64_t sr = rw->sidx[r];
        float inv = (float)(1.0 / w->l[sr]); /* l >= 1: the max entry is 2^0 */
        const float *arow = w->acc + (size_t)sr * (size_t)dimp;
        float *orow = oh + (size_t)j->perm[p0 + r] * (size_t)dim;
        for (int64_t c = 0; c < dim; c++) orow[c] = arow[c] * inv;
    }
    return RIPPLE_OK;
}

ripple_status REUSE_FN(const ripple_layout *lay, int window, int64_t heads, double scale, const float *q,
                       const float *k, const float *v, float *o, ripple_attn_reuse_work *work)
{
    ripple_status st = RIPPLE_OK;
    const int64_t seq = lay->seq_len, dim = lay->head_dim;
    reuse_worker rws[RIPPLE_MAX_THREADS];
    flash_worker dummy[1];
    reuse_job job = {
        .fj = {
            .seq = seq, .dim = dim, .dimp = (dim + W - 1) / W * W,
            .nqb = (seq + REUSE_BQ - 1) / REUSE_BQ,
            .alpha = (float)(scale * 1.4426950408889634),
            .q = q, .k = k, .v = v, .o = o, .workers = dummy,
        },
        .lay = lay, .window = window > 0 ? window : 2, .rw = rws,
    };
    {
        int64_t nchunks = (seq + KC - 1) / KC;
        job.fj.kc = ((seq + nchunks - 1) / nchunks + KW - 1) / KW * KW;
        job.fj.nkb = nchunks * (job.fj.kc / KW);
    }
    job.nchunks = (seq + job.fj.kc - 1) / job.fj.kc;
    const int64_t items = heads * job.fj.nqb;
    const int nthreads = ripple_parallel_threads(items);
    const int npack = ripple_parallel_threads(heads);
    const size_t kpn = (size_t)heads * kp_head_floats(&job.fj), vpn = (size_t)heads * vp_head_floats(&job.fj);
    const size_t ktn = (size_t)heads * kt_head_floats(&job);
    const size_t bqd = (size_t)REUSE_BQ * (size_t)dim;
#define ALIGN16(n) (((n) + 15) / 16 * 16) /* 4-byte words, to 64 bytes */
    const size_t tile = ALIGN16(bqd) + ALIGN16((size_t)REUSE_BQ * KC) + ALIGN16((size_t)REUSE_BQ * (size_t)job.fj.dimp) +
                        ALIGN16(REUSE_BQ) + ALIGN16(2 * REUSE_BQ) + 4 * ALIGN16(REUSE_BQ) + 2 * ALIGN16(bqd);
    const size_t total = ALIGN16(kpn) + ALIGN16(vpn) + ALIGN16(ktn) + 2 * ALIGN16((size_t)seq * 2) +
                         (size_t)nthreads * tile;
    float *ws = ripple_workspace(total * sizeof(float));
    if (!ws)
        return ripple_fail(RIPPLE_ERR_NOMEM,
                           "reuse attention (%s): no memory for packed k, v and tiles (%zu floats)", REUSE_PATH,
                           total);
    job.fj.kp = ws;
    job.fj.vp = ws + ALIGN16(kpn);
    job.kt = job.fj.vp + ALIGN16(vpn);
    int64_t *perm = (int64_t *)(job.kt + ALIGN16(ktn));
    int64_t *pos = perm + ALIGN16((size_t)seq * 2) / 2;
    float *p = (float *)(pos + ALIGN16((size_t)seq * 2) / 2);
    memset(rws, 0, sizeof rws);
    for (int t = 0; t < nthreads; t++) {
        reuse_worker *w = &rws[t];
        w->fw.qb = p, p += ALIGN16(bqd);
        w->fw.s = p, p += ALIGN16((size_t)REUSE_BQ * KC);
        w->fw.acc = p, p += ALIGN16((size_t)REUSE_BQ * (size_t)job.fj.dimp);
        w->fw.m = p, p += ALIGN16(REUSE_BQ);
        w->fw.l = (double *)p, p += ALIGN16(2 * REUSE_BQ);
        w->sidx = (int32_t *)p, p += ALIGN16(REUSE_BQ);
        w->src = (int32_t *)p, p += ALIGN16(REUSE_BQ);
        w->nnz = (int32_t *)p, p += ALIGN16(REUSE_BQ);
        w->delta = (int32_t *)p, p += ALIGN16(REUSE_BQ);
        w->chan = (int32_t *)p, p += ALIGN16(bqd);
        w->dq = p, p += ALIGN16(bqd);
    }
#undef ALIGN16
    /* cube order: cubes of window^3 in flat order, their tokens in flat
     * order, then the text tokens */
    {
        const int64_t T = lay->grid[0], H = lay->grid[1], Wd = lay->grid[2], vo = lay->video_offset;
        const int64_t win = job.window;
        int64_t n = 0;
        for (int64_t t0 = 0; t0 < T; t0 += win)
            for (int64_t h0 = 0; h0 < H; h0 += win)
                for (int64_t w0 = 0; w0 < Wd; w0 += win)
                    for (int64_t t = t0; t < t0 + win && t < T; t++)
                        for (int64_t hh = h0; hh < h0 + win && hh < H; hh++)
                            for (int64_t ww = w0; ww < w0 + win && ww < Wd; ww++)
                                perm[n++] = vo + (t * H + hh) * Wd + ww;
        for (int64_t tok = 0; tok < seq; tok++)
            if (tok < vo || tok >= vo + T * H * Wd) perm[n++] = tok;
        RIPPLE_ASSERT(n == seq);
        for (int64_t i = 0; i < seq; i++) pos[perm[i]] = i;
    }
    job.perm = perm, job.pos = pos;
    ripple_attn_reuse_work counts[RIPPLE_MAX_THREADS];
    if (work) memset(counts, 0, sizeof counts), job.work = counts;
    st = ripple_parallel_for(heads, npack, reuse_pack, &job);
    if (st == RIPPLE_OK) st = ripple_parallel_for(items, nthreads, reuse_item, &job);
    if (st == RIPPLE_OK && work) {
        memset(work, 0, sizeof *work);
        for (int t = 0; t < nthreads; t++) {
            work->rows += counts[t].rows, work->dense_rows += counts[t].dense_rows;
            work->delta_rows += counts[t].delta_rows, work->delta_channels += counts[t].delta_channels;
        }
    }
    return st;
}
