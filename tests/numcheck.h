/* Numerics shared by the Criterion suites (through testutil.h) and by
 * tests/checkasm.c: seeded random data, the three-way comparison of
 * STYLE.md (non-finite places, per element atol + rtol |ref|, normalised
 * MSE), and the attention check with its tolerance derived from float32
 * arithmetic. No Criterion here. */
#ifndef RIPPLE_NUMCHECK_H
#define RIPPLE_NUMCHECK_H

#include "backend.h"
#include "ripple/ripple.h"

#include <stddef.h>
#include <stdint.h>

/* splitmix64-based generator; the seed is printed by the tests that use it. */
typedef struct { uint64_t s; } tu_rng;
uint64_t tu_next(tu_rng *r);
double tu_uniform(tu_rng *r);          /* [0, 1) */
double tu_normal(tu_rng *r);           /* N(0, 1) */
void tu_fill_normal(tu_rng *r, float *x, size_t n, double sigma);

/* Returns the index of the first element failing |a - ref| <= atol + rtol*|ref|,
 * or -1 when all pass (non-finite values must match in place). */
int64_t tu_first_mismatch_f64(const float *a, const double *ref, size_t n, double atol, double rtol);
/* mse(a, ref) / mse(0, ref). */
double tu_nmse_f64(const float *a, const double *ref, size_t n);

/* Result of nc_check_attn. */
typedef struct nc_attn_result {
    int ok;
    char why[512];           /* what failed, for the message */
    double nmse, nmse_naive; /* of the output and of a naive float32 kernel */
    double atol, nmse_bound; /* the derived limits */
    double max_score;        /* max |scale q.k|, for the message */
} nc_attn_result;

/* Checks o (float32, from the implementation under test, poisoned before it
 * ran) against ref (float64) for o = softmax(scale q k^T) v over [heads,
 * seq, dim], masked by rule when rule != NULL. The tolerance is derived in
 * numcheck.c's header; `fused_chunk` > 0 adds the rescaling term of a fused
 * kernel whose key chunks hold at least that many keys. */
void nc_check_attn(int64_t heads, int64_t seq, int64_t dim, double scale, const float *q,
                   const float *k, const float *v, const ripple_row_rule *rule, const float *o,
                   const double *ref, int64_t fused_chunk, nc_attn_result *r);

/* The same for a kernel whose scores come from delta chains of at most
 * `depth` steps (fused reuse attention): the score terms of the tolerance
 * grow as numcheck.c derives; depth 0 is nc_check_attn. */
void nc_check_attn_delta(int64_t heads, int64_t seq, int64_t dim, double scale, const float *q,
                         const float *k, const float *v, const ripple_row_rule *rule, const float *o,
                         const double *ref, int64_t fused_chunk, int depth, nc_attn_result *r);

/* Two float64 attention outputs of [heads, seq, dim] (o against the
 * reference ref), within twice the float64 bound of numcheck.c. */
void nc_check_f64(int64_t heads, int64_t seq, int64_t dim, double scale, const float *q, const float *k,
                  const float *v, const double *o, const double *ref, nc_attn_result *r);

/* A layout of T x H x W video tokens between text_before and text_after
 * text tokens, head_dim dim; no channel groups yet (the caller sets them). */
ripple_layout nc_layout(int64_t T, int64_t H, int64_t W, int64_t text_before, int64_t text_after, int64_t dim);

/* Masked attention with a mask spec (backend.h) on a layout: box, all, or
 * top-k rules (head h: radii + h clamped, topk + 3h), text tokens before
 * and after the video. int_range > 0: q, k integers in [-int_range,
 * int_range] (exact scores, so every implementation keeps the same keys,
 * ties included); else N(0, 1). */
typedef struct nc_mask_case {
    int64_t heads, T, H, W, text_before, text_after, dim;
    ripple_mask_kind kind;
    int64_t radius[3];
    int64_t topk;
    int64_t int_range;
} nc_mask_case;
extern const nc_mask_case NC_MASK_CASES[];
extern const int NC_MASK_CASE_COUNT;
/* Runs fn on case c (poisoned output) and checks it against
 * ripple_attn_masked_f64 with nc_check_attn; writes one line; 1 = ok. */
int nc_mask_case_run(const nc_mask_case *c, uint64_t seed, ripple_attn_masked_fn fn, int64_t fused_chunk,
                     char *line, size_t len);

#endif
