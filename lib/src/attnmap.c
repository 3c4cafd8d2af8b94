/* Attention-map baselines: masked attention with a key set per query row,
 * and the oracle-topk, window and svg mask builders (attnmap.h explains the
 * rules). Masks are rules per row, evaluated per block of ATTNMAP_BLOCK rows:
 * memory is ATTNMAP_BLOCK x seq per worker, never seq^2.
 *
 * apply is masked attention through the backend table (backend.h's
 * attn_masked; its CPU variant in kernels/attn_exact.c shares exact
 * attention's row pipeline):
 *   S = scale Q_blk K^T; keep = the row's rule (topk reads S);
 *   P = exp(S - max over kept) on kept entries, 0 elsewhere; O = P V / rowsum
 * The PV product still runs over every key (the zeros included): this is a
 * replay of the error of a sparse method, not a fast kernel. */
#include "ripple/attnmap.h"
#include "backend.h"
#include "internal.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ATTNMAP_BLOCK 64
#define SVG_DEFAULT_ROWS 64
#define SVG_DEFAULT_SEED 0x5eed5eedull

static const char *const kind_names[RIPPLE_ATTNMAP_COUNT] = {"full", "oracle-topk", "window", "svg"};

const char *ripple_attnmap_kind_name(ripple_attnmap_kind k)
{
    return (k >= 0 && k < RIPPLE_ATTNMAP_COUNT) ? kind_names[k] : "?";
}

int ripple_attnmap_kind_parse(const char *name)
{
    if (!name) return -1;
    for (int k = 0; k < RIPPLE_ATTNMAP_COUNT; k++)
        if (!strcmp(name, kind_names[k])) return k;
    return -1;
}

struct ripple_attnmap {
    ripple_layout lay;
    ripple_attnmap_kind kind;
    int64_t heads;
    double scale;
    const float *q, *k, *v; /* [heads, seq, dim], owned by the caller */
    ripple_attnmap_head_info *info; /* [heads] */
    double density;
    int64_t *radius, *topk; /* [heads * 3], [heads]: the rule as a mask spec */
    ripple_mask_spec spec;
};

/* ------------------------------------------------------------- geometry */

/* Sum over positions x of 0..L-1 of the count of x' with |x - x'| <= r. */
static int64_t box_axis_sum(int64_t L, int64_t r)
{
    int64_t s = 0;
    for (int64_t x = 0; x < L; x++) {
        int64_t lo = x - r < 0 ? 0 : x - r, hi = x + r > L - 1 ? L - 1 : x + r;
        s += hi - lo + 1;
    }
    return s;
}

/* Kept entries (of N*N) of a box rule with radii r; text rows keep every key,
 * video rows keep every text key. As a double: N*N may pass 2^53 only for
 * N > 9e7, far beyond any capture. */
static double box_kept(const ripple_layout *lay, const int64_t r[3])
{
    const int64_t n = lay->seq_len, nv = ripple_layout_video_tokens(lay), nt = n - nv;
    double video = (double)box_axis_sum(lay->grid[0], r[0]) * (double)box_axis_sum(lay->grid[1], r[1]) *
                   (double)box_axis_sum(lay->grid[2], r[2]);
    return (double)nt * (double)n + (double)nv * (double)nt + video;
}

static double box_density(const ripple_layout *lay, const int64_t r[3])
{
    double n = (double)lay->seq_len;
    return box_kept(lay, r) / (n * n);
}

/* 1 when a density reaches the target; the tolerance absorbs the rounding
 * of target * N^2 (relative 1e-12, far below one entry in 1e9). */
static int reaches(double density, double target) { return density >= target * (1.0 - 1e-12); }

/* keep[0..n) for query row i under the box rule with radii r. */
static void box_row(const ripple_layout *lay, const int64_t r[3], int64_t i, uint8_t *keep)
{
    const int64_t n = lay->seq_len, vo = lay->video_offset, nv = ripple_layout_video_tokens(lay);
    const int64_t T = lay->grid[0], H = lay->grid[1], W = lay->grid[2];
    if (i < vo || i >= vo + nv) {
        memset(keep, 1, (size_t)n);
        return;
    }
    memset(keep, 1, (size_t)vo);
    memset(keep + vo, 0, (size_t)nv);
    memset(keep + vo + nv, 1, (size_t)(n - vo - nv));
    int64_t x = i - vo, w = x % W, h = (x / W) % H, t = x / (W * H);
    int64_t t0 = t - r[0] < 0 ? 0 : t - r[0], t1 = t + r[0] > T - 1 ? T - 1 : t + r[0];
    int64_t h0 = h - r[1] < 0 ? 0 : h - r[1], h1 = h + r[1] > H - 1 ? H - 1 : h + r[1];
    int64_t w0 = w - r[2] < 0 ? 0 : w - r[2], w1 = w + r[2] > W - 1 ? W - 1 : w + r[2];
    for (int64_t tt = t0; tt <= t1; tt++)
        for (int64_t hh = h0; hh <= h1; hh++)
            memset(keep + vo + (tt * H + hh) * W + w0, 1, (size_t)(w1 - w0 + 1));
}

/* ----------------------------------------------------------------- topk */

/* The k-th largest value of x[0..n) (1 <= k <= n); x is reordered. */
static float kth_largest(float *x, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1, want = k - 1; /* index in descending order */
    while (lo < hi) {
        /* median of three as pivot */
        int64_t mid = lo + (hi - lo) / 2;
        float a = x[lo], b = x[mid], c = x[hi];
        float pivot = (a > b) ? ((b > c) ? b : (a > c ? c : a)) : ((a > c) ? a : (b > c ? c : b));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (x[i] > pivot) i++;
            while (x[j] < pivot) j--;
            if (i <= j) {
                float tmp = x[i];
                x[i] = x[j];
                x[j] = tmp;
                i++;
                j--;
            }
        }
        /* now x[lo..j] >= pivot >= x[i..hi], x[j+1..i-1] == pivot */
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else return pivot;
    }
    return x[want];
}

/* keep the k keys of largest score of s[0..n); ties to the lower index. */
static void topk_row(const float *s, int64_t n, int64_t k, float *scratch, uint8_t *keep)
{
    if (k >= n) {
        memset(keep, 1, (size_t)n);
        return;
    }
    memcpy(scratch, s, (size_t)n * sizeof *s);
    float v = kth_largest(scratch, n, k);
    int64_t above = 0;
    for (int64_t j = 0; j < n; j++) above += s[j] > v;
    int64_t ties = k - above;
    for (int64_t j = 0; j < n; j++) {
        if (s[j] > v) keep[j] = 1;
        else if (s[j] == v && ties > 0) keep[j] = 1, ties--;
        else keep[j] = 0;
    }
}

/* ------------------------------------------------------------ row rules */

/* Kept keys of row i of head h under a mask spec (backend.h), the one form
 * of a map's rule (ripple_attnmap_build fills m->spec from the kind and
 * each head's radius or topk). srow: the row's scores (TOPK only),
 * scratch: [seq] floats. */
void ripple_mask_spec_keep(const void *ctx, int64_t h, int64_t i, const float *srow, float *scratch,
                           uint8_t *keep)
{
    const ripple_mask_spec *sp = ctx;
    switch (sp->kind) {
    case RIPPLE_MASK_TOPK: topk_row(srow, sp->lay.seq_len, sp->topk[h], scratch, keep); break;
    case RIPPLE_MASK_BOX: box_row(&sp->lay, sp->radius + 3 * h, i, keep); break;
    default: memset(keep, 1, (size_t)sp->lay.seq_len); break;
    }
}

/* ------------------------------------------------------------------ svg */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* float64 attention output of row i restricted to keep (NULL = all keys):
 * out[dim]. sc: the row's scores in float64 [seq]. */
static void row_out_f64(const double *sc, const uint8_t *keep, const float *v, int64_t n, int64_t d,
                        double *out)
{
    double mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < n; j++)
        if ((!keep || keep[j]) && sc[j] > mx) mx = sc[j];
    for (int64_t c = 0; c < d; c++) out[c] = 0;
    for (int64_t j = 0; j < n; j++) {
        if (keep && !keep[j]) continue;
        double p = exp(sc[j] - mx);
        sum += p;
        const float *vj = v + (size_t)j * (size_t)d;
        for (int64_t c = 0; c < d; c++) out[c] += p * (double)vj[c];
    }
    for (int64_t c = 0; c < d; c++) out[c] /= sum;
}

/* One sampled row of svg_choose: its squared output errors of the spatial
 * and the temporal base mask against full attention, in float64. */
typedef struct svg_job {
    const ripple_attnmap *m;
    const float *qh, *kh, *vh;
    const int64_t *perm;
    double *err;        /* [rows * 2] */
    double *sc[RIPPLE_MAX_THREADS], *out[RIPPLE_MAX_THREADS];
    uint8_t *keep[RIPPLE_MAX_THREADS];
} svg_job;

static ripple_status svg_row(void *ctx, int worker, int64_t s)
{
    svg_job *jb = ctx;
    const ripple_layout *lay = &jb->m->lay;
    const int64_t n = lay->seq_len, d = lay->head_dim;
    const int64_t T = lay->grid[0], H = lay->grid[1], W = lay->grid[2];
    const int64_t base[2][3] = {{0, H - 1, W - 1}, {T - 1, 0, 0}}; /* spatial, temporal */
    double *sc = jb->sc[worker], *out = jb->out[worker];
    uint8_t *keep = jb->keep[worker];
    const int64_t i = lay->video_offset + jb->perm[s];
    const float *qi = jb->qh + (size_t)i * (size_t)d;
    for (int64_t j = 0; j < n; j++) {
        const float *kj = jb->kh + (size_t)j * (size_t)d;
        double acc = 0;
        for (int64_t c = 0; c < d; c++) acc += (double)qi[c] * (double)kj[c];
        sc[j] = jb->m->scale * acc;
    }
    row_out_f64(sc, NULL, jb->vh, n, d, out);
    for (int b = 0; b < 2; b++) {
        box_row(lay, base[b], i, keep);
        row_out_f64(sc, keep, jb->vh, n, d, out + d * (1 + b));
        double e2 = 0;
        for (int64_t c = 0; c < d; c++) {
            double e = out[d * (1 + b) + c] - out[c];
            e2 += e * e;
        }
        jb->err[2 * s + b] = e2;
    }
    return RIPPLE_OK;
}

/* Chooses spatial or temporal for each head by the sampled output MSE; the
 * sampled rows run on the worker pool (ripple_parallel_for), their errors
 * are summed in row order. */
static ripple_status svg_choose(ripple_attnmap *m, const ripple_attnmap_params *p)
{
    const ripple_layout *lay = &m->lay;
    const int64_t n = lay->seq_len, d = lay->head_dim;
    const int64_t nv = ripple_layout_video_tokens(lay);
    int64_t rows = p->svg_rows > 0 ? p->svg_rows : SVG_DEFAULT_ROWS;
    if (rows > nv) rows = nv;
    ripple_status st = RIPPLE_OK;
    const int nthreads = ripple_parallel_threads(rows > 0 ? rows : 1);
    svg_job jb;
    memset(&jb, 0, sizeof jb);
    jb.m = m;
    int64_t *perm = malloc((size_t)nv * sizeof *perm);
    jb.err = malloc((size_t)(rows > 0 ? rows : 1) * 2 * sizeof *jb.err);
    int ok = perm && jb.err;
    for (int t = 0; t < nthreads && ok; t++) {
        jb.sc[t] = malloc((size_t)n * sizeof *jb.sc[t]);
        jb.out[t] = malloc((size_t)d * 3 * sizeof *jb.out[t]);
        jb.keep[t] = malloc((size_t)n);
        ok = jb.sc[t] && jb.out[t] && jb.keep[t];
    }
    if (!ok) {
        st = ripple_fail(RIPPLE_ERR_NOMEM, "svg: no memory for the sampled rows (seq %lld)", (long long)n);
        goto done;
    }
    jb.perm = perm;
    for (int64_t h = 0; h < m->heads; h++) {
        /* the same rows for every head: partial Fisher-Yates from one seed */
        uint64_t seed = p->svg_seed ? p->svg_seed : SVG_DEFAULT_SEED;
        for (int64_t i = 0; i < nv; i++) perm[i] = i;
        for (int64_t i = 0; i < rows; i++) {
            int64_t j = i + (int64_t)(splitmix(&seed) % (uint64_t)(nv - i));
            int64_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        const size_t off = (size_t)h * (size_t)n * (size_t)d;
        jb.qh = m->q + off, jb.kh = m->k + off, jb.vh = m->v + off;
        if (rows > 0 && (st = ripple_parallel_for(rows, nthreads, svg_row, &jb))) goto done;
        double err[2] = {0, 0};
        for (int64_t s = 0; s < rows; s++) err[0] += jb.err[2 * s], err[1] += jb.err[2 * s + 1];
        ripple_attnmap_head_info *hi = &m->info[h];
        for (int b = 0; b < 2; b++) hi->svg_mse[b] = rows > 0 ? err[b] / (double)(rows * d) : 0.0;
        hi->svg_temporal = hi->svg_mse[1] < hi->svg_mse[0];
    }
done:
    free(perm);
    free(jb.err);
    for (int t = 0; t < nthreads; t++) free(jb.sc[t]), free(jb.out[t]), free(jb.keep[t]);
    return st;
}

/* Widens the chosen svg mask of every head until the target density. */
static void svg_widen(ripple_attnmap *m, double target)
{
    const int64_t L[3] = {m->lay.grid[0], m->lay.grid[1], m->lay.grid[2]};
    for (int64_t h = 0; h < m->heads; h++) {
        ripple_attnmap_head_info *hi = &m->info[h];
        int64_t *r = hi->radius;
        if (!hi->svg_temporal) {
            r[0] = 0, r[1] = L[1] - 1, r[2] = L[2] - 1;
            while (!reaches(box_density(&m->lay, r), target) && r[0] < L[0] - 1) r[0]++;
        } else {
            r[0] = L[0] - 1, r[1] = 0, r[2] = 0;
            int64_t s = 0, smax = (L[1] > L[2] ? L[1] : L[2]) - 1;
            while (!reaches(box_density(&m->lay, r), target) && s < smax) {
                s++;
                r[1] = s < L[1] - 1 ? s : L[1] - 1;
                r[2] = s < L[2] - 1 ? s : L[2] - 1;
            }
        }
    }
}

/* Window radii: round robin t, h, w until the target density. */
static void window_radii(const ripple_layout *lay, double target, int64_t r[3])
{
    r[0] = r[1] = r[2] = 0;
    int next = 0;
    while (!reaches(box_density(lay, r), target)) {
        int a = -1;
        for (int s = 0; s < 3 && a < 0; s++) {
            int c = (next + s) % 3;
            if (r[c] < lay->grid[c] - 1) a = c;
        }
        if (a < 0) break; /* the whole grid */
        r[a]++;
        next = (a + 1) % 3;
    }
}

/* ---------------------------------------------------------------- build */

void ripple_attnmap_free(ripple_attnmap *m)
{
    if (!m) return;
    free(m->info);
    free(m->radius);
    free(m->topk);
    free(m);
}

ripple_status ripple_attnmap_build(const ripple_layout *lay, const ripple_attnmap_params *p,
                                   int64_t heads, double scale, const float *q, const float *k,
                                   const float *v, ripple_attnmap **out)
{
    if (!out) return ripple_fail(RIPPLE_ERR_INVALID, "attnmap: out is NULL");
    *out = NULL;
    if (!lay || !p || !q || !k || !v) return ripple_fail(RIPPLE_ERR_INVALID, "attnmap: NULL argument");
    ripple_status st = ripple_layout_check(lay);
    if (st) return st;
    if (p->kind < 0 || p->kind >= RIPPLE_ATTNMAP_COUNT)
        return ripple_fail(RIPPLE_ERR_INVALID, "attnmap: unknown kind %d", (int)p->kind);
    if (!(p->density >= 0 && p->density <= 1))
        return ripple_fail(RIPPLE_ERR_INVALID, "attnmap: density %g is not in (0, 1]", p->density);
    if (heads < 1) return ripple_fail(RIPPLE_ERR_INVALID, "attnmap: heads %lld < 1", (long long)heads);
    if (!(scale > 0) || !isfinite(scale))
        return ripple_fail(RIPPLE_ERR_INVALID, "attnmap: scale %g is not positive", scale);
    if (lay->seq_len > INT32_MAX || lay->head_dim > INT32_MAX)
        return ripple_fail(RIPPLE_ERR_INVALID, "attnmap: seq %lld or dim %lld exceeds BLAS int",
                           (long long)lay->seq_len, (long long)lay->head_dim);
    if (p->svg_rows < 0) return ripple_fail(RIPPLE_ERR_INVALID, "attnmap: svg_rows < 0");
    double target = p->density > 0 ? p->density : 1.0;

    ripple_attnmap *m = calloc(1, sizeof *m);
    if (!m || !(m->info = calloc((size_t)heads, sizeof *m->info)) ||
        !(m->radius = calloc((size_t)heads * 3, sizeof *m->radius)) ||
        !(m->topk = calloc((size_t)heads, sizeof *m->topk))) {
        ripple_attnmap_free(m);
        return ripple_fail(RIPPLE_ERR_NOMEM, "attnmap: out of memory");
    }
    m->lay = *lay;
    m->kind = p->kind;
    m->heads = heads;
    m->scale = scale;
    m->q = q, m->k = k, m->v = v;
    const int64_t n = lay->seq_len;
    const double nn = (double)n * (double)n;
    for (int64_t h = 0; h < heads; h++) {
        ripple_attnmap_head_info *hi = &m->info[h];
        hi->radius[0] = hi->radius[1] = hi->radius[2] = -1;
        hi->density = 1.0;
    }
    switch (p->kind) {
    case RIPPLE_ATTNMAP_FULL: break;
    case RIPPLE_ATTNMAP_ORACLE_TOPK: {
        int64_t kk = (int64_t)ceil(target * (double)n * (1.0 - 1e-12));
        if (kk < 1) kk = 1;
        if (kk > n) kk = n;
        for (int64_t h = 0; h < heads; h++) {
            m->info[h].topk = kk;
            m->info[h].density = (double)kk / (double)n;
        }
        break;
    }
    case RIPPLE_ATTNMAP_WINDOW: {
        int64_t r[3];
        window_radii(lay, target, r);
        for (int64_t h = 0; h < heads; h++) {
            memcpy(m->info[h].radius, r, sizeof r);
            m->info[h].density = box_kept(lay, r) / nn;
        }
        break;
    }
    case RIPPLE_ATTNMAP_SVG:
        if ((st = svg_choose(m, p))) {
            ripple_attnmap_free(m);
            return st;
        }
        svg_widen(m, target);
        for (int64_t h = 0; h < heads; h++) m->info[h].density = box_kept(lay, m->info[h].radius) / nn;
        break;
    default: break;
    }
    double sum = 0;
    for (int64_t h = 0; h < heads; h++) sum += m->info[h].density;
    m->density = sum / (double)heads;
    /* the rule as a mask spec: ripple_mask_spec_keep on the host, the CUDA
     * variant of attn_masked on a device */
    for (int64_t h = 0; h < heads; h++) {
        memcpy(m->radius + 3 * h, m->info[h].radius, sizeof m->info[h].radius);
        m->topk[h] = m->info[h].topk;
    }
    m->spec.kind = p->kind == RIPPLE_ATTNMAP_ORACLE_TOPK ? RIPPLE_MASK_TOPK
                 : (p->kind == RIPPLE_ATTNMAP_WINDOW || p->kind == RIPPLE_ATTNMAP_SVG) ? RIPPLE_MASK_BOX
                 : RIPPLE_MASK_ALL;
    m->spec.lay = *lay;
    m->spec.radius = m->radius;
    m->spec.topk = m->topk;
    *out = m;
    return RIPPLE_OK;
}

double ripple_attnmap_density(const ripple_attnmap *m) { return m ? m->density : NAN; }

ripple_status ripple_attnmap_head(const ripple_attnmap *m, int64_t head, ripple_attnmap_head_info *out)
{
    if (!m || !out) return ripple_fail(RIPPLE_ERR_INVALID, "attnmap: NULL argument");
    if (head < 0 || head >= m->heads)
        return ripple_fail(RIPPLE_ERR_NOT_FOUND, "attnmap: head %lld of %lld", (long long)head,
                           (long long)m->heads);
    *out = m->info[head];
    return RIPPLE_OK;
}

/* Scores of rows [r0, r0 + rows) of head h: s = scale q k^T, [rows, seq]. */
static void block_scores(const ripple_attnmap *m, int64_t h, int64_t r0, int64_t rows, float *s)
{
    const int64_t n = m->lay.seq_len, d = m->lay.head_dim;
    const size_t off = (size_t)h * (size_t)n * (size_t)d;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)n, (int)d, (float)m->scale,
                m->q + off + (size_t)r0 * (size_t)d, (int)d, m->k + off, (int)d, 0.0f, s, (int)n);
}

ripple_status ripple_attnmap_keep(const ripple_attnmap *m, int64_t head, int64_t row0, int64_t rows,
                                  uint8_t *keep)
{
    if (!m || !keep) return ripple_fail(RIPPLE_ERR_INVALID, "attnmap: NULL argument");
    const int64_t n = m->lay.seq_len;
    if (head < 0 || head >= m->heads || row0 < 0 || rows < 0 || row0 + rows > n)
        return ripple_fail(RIPPLE_ERR_NOT_FOUND, "attnmap: head %lld rows %lld+%lld outside %lld x %lld",
                           (long long)head, (long long)row0, (long long)rows, (long long)m->heads,
                           (long long)n);
    float *s = NULL, *scratch = NULL;
    if (m->kind == RIPPLE_ATTNMAP_ORACLE_TOPK) {
        s = malloc((size_t)ATTNMAP_BLOCK * (size_t)n * sizeof *s);
        scratch = malloc((size_t)n * sizeof *scratch);
        if (!s || !scratch) {
            free(s);
            free(scratch);
            return ripple_fail(RIPPLE_ERR_NOMEM, "attnmap: no memory for a score block");
        }
    }
    for (int64_t b = 0; b < rows; b += ATTNMAP_BLOCK) {
        int64_t nb = rows - b < ATTNMAP_BLOCK ? rows - b : ATTNMAP_BLOCK;
        if (s) block_scores(m, head, row0 + b, nb, s);
        for (int64_t r = 0; r < nb; r++)
            ripple_mask_spec_keep(&m->spec, head, row0 + b + r, s ? s + (size_t)r * (size_t)n : NULL, scratch,
                                  keep + (size_t)(b + r) * (size_t)n);
    }
    free(s);
    free(scratch);
    return RIPPLE_OK;
}

/* ---------------------------------------------------------------- apply */

/* Masked attention through the backend table's attn_masked op, with this
 * map's rule per row (the CPU variant: kernels/attn_exact.c). */
ripple_status ripple_attnmap_apply(const ripple_attnmap *m, float *o)
{
    return ripple_attnmap_apply_backend(m, RIPPLE_BACKEND_CPU, o);
}

/* The rule goes with its spec, so the CUDA variant evaluates it on the
 * device (kernels/cuda/attn_exact_cuda.cu). */
ripple_status ripple_attnmap_apply_backend(const ripple_attnmap *m, ripple_backend b, float *o)
{
    if (!m || !o) return ripple_fail(RIPPLE_ERR_INVALID, "attnmap: NULL argument");
    const ripple_row_rule rule = {ripple_mask_spec_keep, &m->spec, &m->spec};
    return ripple_attn_masked(b, m->heads, m->lay.seq_len, m->lay.head_dim, m->scale, m->q, m->k, m->v, &rule, o);
}
