/* Numerics shared by the Criterion suites and tests/checkasm.c (numcheck.h).
 *
 * Attention tolerance (float32 implementations). Let u = 2^-24, A = max over
 * query/key pairs of |scale| sum_c |q_c k_c| (computed here), vmax = max |v|.
 * - A score s = scale q.k computed in float with a dim-term dot product has
 *   |error| <= gamma_(dim+4) A (Higham's gamma_n = n u / (1 - n u); +4 for
 *   folding log2 e into the scale and subtracting the row max).
 * - A probability p_j = exp(s_j - m) then has relative error <= 2 gamma A
 *   (entry and row max both off) plus EXP_REL from the exp approximation.
 * - o = sum p_j v_j / sum p_j is a convex combination of v, so relative
 *   errors eps of the p_j move o by at most 2 eps vmax; the float sums over
 *   seq keys add gamma_seq vmax each (numerator and denominator).
 * - A fused kernel rescales the running row sum and the output accumulators
 *   by 2^(m - m') once per key chunk: each rescale is off by at most 2u
 *   (exp2f, 1 ulp, and the product), on numerator and denominator, so 4u per
 *   chunk of at least `fused_chunk` keys.
 * So per element |o - ref| <= ATOL_SAFETY * vmax (4 gamma_(dim+4) A +
 * 2 EXP_REL + 2 gamma_seq + 4 u ceil(seq / fused_chunk)), rtol = 0 (o is
 * bounded by vmax, not by |ref|). Masking only drops keys: the same bound.
 * These are worst-case bounds; random errors grow like sqrt(n) instead of n,
 * so the normalised MSE must also sit under NMSE_SAFETY * (typical error)^2
 * / mean(ref^2), with the typical error vmax (4 sqrt(dim+4) u A + 2 EXP_REL
 * + 2 sqrt(seq) u + 4 sqrt(chunks) u).
 * Both bounds are loose by design (worst case); the tight check is
 * flash-attention's rule: the normalised MSE of the implementation must be at
 * most NAIVE_FACTOR times that of a naive float32 kernel (sequential float
 * sums, expf, the same mask) on the same inputs, plus NMSE_FLOOR for cases
 * where both are exact (seq 1: o = v). */
#include "numcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define U_F32 0x1.0p-24
/* exp / exp2 approximation of an implementation (CPU: Cephes polynomial
 * ~2e-7; CUDA expf: 2 ulp). */
#define EXP_REL 4e-7
/* Headroom for the worst-case bound and for the typical-error estimate. */
#define ATOL_SAFETY 2.0
#define NMSE_SAFETY 16.0
/* nmse <= NAIVE_FACTOR nmse(naive float32) + NMSE_FLOOR; 4 = (2x in error)^2;
 * the floor is (4u)^2. */
#define NAIVE_FACTOR 4.0
#define NMSE_FLOOR (16.0 * U_F32 * U_F32)

uint64_t tu_next(tu_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double tu_uniform(tu_rng *r) { return (double)(tu_next(r) >> 11) * 0x1.0p-53; }

double tu_normal(tu_rng *r)
{
    double u1 = tu_uniform(r), u2 = tu_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void tu_fill_normal(tu_rng *r, float *x, size_t n, double sigma)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(sigma * tu_normal(r));
}

int64_t tu_first_mismatch_f64(const float *a, const double *ref, size_t n, double atol, double rtol)
{
    for (size_t i = 0; i < n; i++) {
        int fa = isfinite(a[i]), fr = isfinite(ref[i]);
        if (fa != fr) return (int64_t)i;
        if (!fa) continue;
        if (fabs((double)a[i] - ref[i]) > atol + rtol * fabs(ref[i])) return (int64_t)i;
    }
    return -1;
}

double tu_nmse_f64(const float *a, const double *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    return den > 0 ? num / den : num;
}

static double gamma_n(double n) { return n * U_F32 / (1.0 - n * U_F32); }

/* Naive float32 attention: row by row, sequential float sums, expf; keys
 * outside the rule's mask get weight 0. */
static int naive_f32(int64_t heads, int64_t seq, int64_t dim, float scale, const float *q,
                     const float *k, const float *v, const ripple_row_rule *rule, float *o)
{
    float *p = malloc((size_t)seq * 2 * sizeof *p);
    uint8_t *keep = malloc((size_t)seq);
    if (!p || !keep) return free(p), free(keep), -1;
    for (int64_t h = 0; h < heads; h++)
        for (int64_t i = 0; i < seq; i++) {
            const float *qi = q + (size_t)((h * seq + i) * dim);
            float m = -INFINITY, sum = 0.0f;
            for (int64_t j = 0; j < seq; j++) {
                const float *kj = k + (size_t)((h * seq + j) * dim);
                float s = 0.0f;
                for (int64_t d = 0; d < dim; d++) s += qi[d] * kj[d];
                p[j] = scale * s;
            }
            if (rule) rule->keep(rule->ctx, h, i, p, p + seq, keep);
            else memset(keep, 1, (size_t)seq);
            for (int64_t j = 0; j < seq; j++)
                if (keep[j]) m = p[j] > m ? p[j] : m;
            for (int64_t j = 0; j < seq; j++) {
                p[j] = keep[j] ? expf(p[j] - m) : 0.0f;
                sum += p[j];
            }
            float *oi = o + (size_t)((h * seq + i) * dim);
            for (int64_t d = 0; d < dim; d++) {
                float acc = 0.0f;
                for (int64_t j = 0; j < seq; j++) acc += p[j] * v[(size_t)((h * seq + j) * dim + d)];
                oi[d] = acc / sum;
            }
        }
    free(p);
    free(keep);
    return 0;
}

/* max |scale| sum_c |q_c k_c| over pairs, and max |scale q.k|. */
static double score_bound(int64_t heads, int64_t seq, int64_t dim, double scale, const float *q,
                          const float *k, double *max_score)
{
    double a = 0.0, ms = 0.0;
    for (int64_t h = 0; h < heads; h++)
        for (int64_t i = 0; i < seq; i++)
            for (int64_t j = 0; j < seq; j++) {
                const float *qi = q + (size_t)((h * seq + i) * dim);
                const float *kj = k + (size_t)((h * seq + j) * dim);
                double s = 0.0, sa = 0.0;
                for (int64_t d = 0; d < dim; d++) {
                    s += (double)qi[d] * kj[d];
                    sa += fabs((double)qi[d] * kj[d]);
                }
                a = fmax(a, fabs(scale) * sa);
                ms = fmax(ms, fabs(scale * s));
            }
    *max_score = ms;
    return a;
}

void nc_check_attn(int64_t heads, int64_t seq, int64_t dim, double scale, const float *q,
                   const float *k, const float *v, const ripple_row_rule *rule, const float *o,
                   const double *ref, int64_t fused_chunk, nc_attn_result *r)
{
    nc_check_attn_delta(heads, seq, dim, scale, q, k, v, rule, o, ref, fused_chunk, 0, r);
}

/* Delta rows (kernels/x86/attn_reuse_body.h) compute a score as
 *   S_i = S_s + sum_{c in C_i} fl(fl(alpha q_ic) - fl(alpha q_sc)) k_c
 * along a chain root -> ... -> i of at most `depth` steps. Each step adds a
 * dot product of at most dim + 1 terms (the source's score and the
 * channels) whose terms are bounded by |alpha q_ic k_c| + |alpha q_sc k_c|
 * (the difference) plus the rounding u |dq_c k_c| of the difference itself,
 * so a step's error is at most gamma_(dim+2) (|S_s| + 2A + A) <= 3 gamma A
 * beyond the source's own, and the chain's error is at most (1 + 3 depth)
 * gamma_(dim+4) A: the worst-case score term is multiplied by
 * F = 1 + 3 depth. Random roundings add like a random walk over the 1 + 4
 * depth dot products' worth of terms, so the typical score error and the
 * naive-kernel comparison (in rms error) take sqrt(1 + 4 depth). depth = 0
 * is the dense kernel's check. */
void nc_check_attn_delta(int64_t heads, int64_t seq, int64_t dim, double scale, const float *q,
                         const float *k, const float *v, const ripple_row_rule *rule, const float *o,
                         const double *ref, int64_t fused_chunk, int depth, nc_attn_result *r)
{
    const double f_worst = 1.0 + 3.0 * depth, f_typ2 = 1.0 + 4.0 * depth;
    memset(r, 0, sizeof *r);
    const size_t n = (size_t)(heads * seq * dim);
    double vmax = 0.0, ref2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        vmax = fmax(vmax, fabs((double)v[i]));
        ref2 += ref[i] * ref[i];
    }
    ref2 /= (double)n;
    double a = score_bound(heads, seq, dim, scale, q, k, &r->max_score);
    double chunks = fused_chunk > 0 ? ceil((double)seq / (double)fused_chunk) : 0.0;
    r->atol = ATOL_SAFETY * vmax *
              (4.0 * f_worst * gamma_n((double)dim + 4) * a + 2.0 * EXP_REL + 2.0 * gamma_n((double)seq) +
               4.0 * U_F32 * chunks);
    double typ = vmax * (4.0 * sqrt(f_typ2 * ((double)dim + 4)) * U_F32 * a + 2.0 * EXP_REL +
                         2.0 * sqrt((double)seq) * U_F32 + 4.0 * sqrt(chunks) * U_F32);
    r->nmse_bound = NMSE_SAFETY * typ * typ / (ref2 > 0 ? ref2 : 1.0);

    int64_t bad = tu_first_mismatch_f64(o, ref, n, r->atol, 0.0);
    if (bad >= 0) {
        snprintf(r->why, sizeof r->why, "element %lld = %.9g, ref %.9g, atol %.3g (max score %.1f)",
                 (long long)bad, (double)o[bad], ref[bad], r->atol, r->max_score);
        return;
    }
    r->nmse = tu_nmse_f64(o, ref, n);
    if (!(r->nmse <= r->nmse_bound)) {
        snprintf(r->why, sizeof r->why, "nmse %.3g > bound %.3g", r->nmse, r->nmse_bound);
        return;
    }
    float *on = malloc(n * sizeof *on);
    if (!on || naive_f32(heads, seq, dim, (float)scale, q, k, v, rule, on) != 0) {
        free(on);
        snprintf(r->why, sizeof r->why, "no memory for the naive float32 kernel");
        return;
    }
    r->nmse_naive = tu_nmse_f64(on, ref, n);
    free(on);
    if (!(r->nmse <= NAIVE_FACTOR * f_typ2 * r->nmse_naive + NMSE_FLOOR)) {
        snprintf(r->why, sizeof r->why, "nmse %.3g vs naive float32 %.3g (limit %g x + %.2g)", r->nmse,
                 r->nmse_naive, NAIVE_FACTOR * f_typ2, NMSE_FLOOR);
        return;
    }
    r->ok = 1;
}

/* ------------------------------------------------ float64 against float64 */

/* Two float64 implementations of exact attention (the reference attn_ref.c
 * and another, e.g. the GPU's DGEMM path): each is off the exact result by
 * the bound of the header with u = 2^-53 (scores gamma_(dim+4) A, exp 1 ulp
 * on the CPU and 2 on CUDA, sums over seq keys), so they differ by at most
 * twice it. */
#define U_F64 0x1.0p-53
#define EXP_REL_F64 (4.0 * U_F64)

static double gamma64(double n) { return n * U_F64 / (1.0 - n * U_F64); }

void nc_check_f64(int64_t heads, int64_t seq, int64_t dim, double scale, const float *q, const float *k,
                  const float *v, const double *o, const double *ref, nc_attn_result *r)
{
    memset(r, 0, sizeof *r);
    const size_t n = (size_t)(heads * seq * dim);
    double vmax = 0.0, err2 = 0.0, ref2 = 0.0;
    for (size_t i = 0; i < n; i++) vmax = fmax(vmax, fabs((double)v[i]));
    const double a = score_bound(heads, seq, dim, scale, q, k, &r->max_score);
    r->atol = ATOL_SAFETY * 2.0 * vmax *
              (4.0 * gamma64((double)dim + 4) * a + 2.0 * EXP_REL_F64 + 2.0 * gamma64((double)seq));
    for (size_t i = 0; i < n; i++) {
        const double d = o[i] - ref[i];
        if (!isfinite(o[i]) || !(fabs(d) <= r->atol)) {
            snprintf(r->why, sizeof r->why, "element %zu = %.17g, ref %.17g, atol %.3g", i, o[i], ref[i], r->atol);
            return;
        }
        err2 += d * d, ref2 += ref[i] * ref[i];
    }
    r->nmse = ref2 > 0 ? err2 / ref2 : err2;
    r->ok = 1;
}

/* ------------------------------------------------------ mask-spec cases */

/* keep[] of the spec rule through ripple_mask_spec_keep (attnmap.c). */
ripple_layout nc_layout(int64_t T, int64_t H, int64_t W, int64_t text_before, int64_t text_after, int64_t dim)
{
    ripple_layout lay;
    memset(&lay, 0, sizeof lay);
    lay.grid[0] = T, lay.grid[1] = H, lay.grid[2] = W;
    lay.video_offset = text_before;
    lay.seq_len = text_before + T * H * W + text_after;
    lay.head_dim = dim;
    return lay;
}

static ripple_layout mask_layout(const nc_mask_case *c)
{
    ripple_layout lay = nc_layout(c->T, c->H, c->W, c->text_before, c->text_after, c->dim);
    lay.num_groups = 1;
    lay.group_len[0] = c->dim;
    return lay;
}

int nc_mask_case_run(const nc_mask_case *c, uint64_t seed, ripple_attn_masked_fn fn, int64_t fused_chunk,
                     char *line, size_t len)
{
    const ripple_layout lay = mask_layout(c);
    const int64_t seq = lay.seq_len, dim = c->dim, heads = c->heads;
    const size_t n = (size_t)(heads * seq * dim);
    int64_t radius[3 * 4], topk[4];
    for (int64_t h = 0; h < heads && h < 4; h++) {
        /* each head its own rule, so that a head mix-up shows */
        for (int x = 0; x < 3; x++) {
            int64_t r = c->radius[x] + h;
            radius[3 * h + x] = r > lay.grid[x] - 1 ? lay.grid[x] - 1 : r;
        }
        topk[h] = c->topk + 3 * h > seq ? seq : c->topk + 3 * h;
    }
    const ripple_mask_spec spec = {c->kind, lay, radius, topk};
    const ripple_row_rule rule = {ripple_mask_spec_keep, &spec, &spec};
    float *q = malloc(n * sizeof *q), *k = malloc(n * sizeof *k), *v = malloc(n * sizeof *v);
    float *o = malloc(n * sizeof *o);
    double *ref = malloc(n * sizeof *ref);
    int ok = 0;
    if (!q || !k || !v || !o || !ref || heads > 4) {
        snprintf(line, len, "FAILED: no memory (or more than 4 heads)");
        goto done;
    }
    tu_rng rg = {seed};
    if (c->int_range > 0) {
        /* integers in [-int_range, int_range]: every score q.k is exact in
         * float32 and float64 alike, so the top-k sets (ties included) are
         * the same in every implementation */
        for (size_t i = 0; i < n; i++) {
            q[i] = (float)((int64_t)(tu_next(&rg) % (uint64_t)(2 * c->int_range + 1)) - c->int_range);
            k[i] = (float)((int64_t)(tu_next(&rg) % (uint64_t)(2 * c->int_range + 1)) - c->int_range);
        }
    } else {
        tu_fill_normal(&rg, q, n, 1.0);
        tu_fill_normal(&rg, k, n, 1.0);
    }
    tu_fill_normal(&rg, v, n, 1.0);
    for (size_t i = 0; i < n; i++) o[i] = NAN;
    const double scale = 1.0 / sqrt((double)dim);
    ripple_status st = fn(heads, seq, dim, scale, q, k, v, &rule, o);
    if (st == RIPPLE_OK) st = ripple_attn_masked_f64(heads, seq, dim, scale, q, k, v, &rule, ref);
    if (st != RIPPLE_OK) {
        snprintf(line, len, "FAILED: %s", ripple_last_error());
        goto done;
    }
    nc_attn_result r;
    nc_check_attn(heads, seq, dim, scale, q, k, v, &rule, o, ref, fused_chunk, &r);
    ok = r.ok;
    snprintf(line, len, "%snmse %.3e (naive float32 %.3e)%s%s", ok ? "ok " : "FAILED: ", r.nmse, r.nmse_naive,
             ok ? "" : ": ", ok ? "" : r.why);
done:
    free(q), free(k), free(v), free(o), free(ref);
    return ok;
}

const nc_mask_case NC_MASK_CASES[] = {
    {2, 3, 4, 5, 2, 1, 16, RIPPLE_MASK_BOX, {1, 1, 2}, 0, 0},
    {1, 4, 6, 7, 0, 0, 64, RIPPLE_MASK_BOX, {0, 5, 6}, 0, 0},
    {1, 5, 3, 3, 3, 0, 32, RIPPLE_MASK_BOX, {4, 0, 0}, 0, 0},
    {1, 4, 16, 20, 7, 0, 128, RIPPLE_MASK_BOX, {1, 3, 4}, 0, 0},
    {2, 1, 3, 2, 0, 0, 8, RIPPLE_MASK_ALL, {0, 0, 0}, 0, 0},
    {2, 2, 5, 13, 4, 3, 24, RIPPLE_MASK_TOPK, {0, 0, 0}, 47, 3},
    {1, 1, 10, 20, 0, 0, 8, RIPPLE_MASK_TOPK, {0, 0, 0}, 1, 1},
    {1, 1, 10, 20, 0, 0, 8, RIPPLE_MASK_TOPK, {0, 0, 0}, 133, 1},
    {1, 1, 1, 1, 0, 0, 64, RIPPLE_MASK_TOPK, {0, 0, 0}, 1, 2},
    {1, 4, 16, 20, 7, 0, 128, RIPPLE_MASK_TOPK, {0, 0, 0}, 700, 3},
};
const int NC_MASK_CASE_COUNT = (int)(sizeof NC_MASK_CASES / sizeof NC_MASK_CASES[0]);
