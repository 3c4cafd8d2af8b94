/* Attention methods inside the denoising loop: what a model's attention
 * call (ripple_attn_call, ripple/model.h) computes instead of exact
 * attention, with the savings of every call (method.md sections 1-3, 5).
 *
 *   exact           ripple_attn_exact (the default)
 *   reuse           the ripple transform on q and k (per head), then exact
 *                   attention on q~, k~ (= reuse of partial scores)
 *   mask-skip       the reuse mask, reused entries set to 0
 *   mask-magnitude  per head and tensor, as many lowest-|x| entries set to 0
 *                   as reuse marks
 *   svg, window, oracle-topk   attention-map masks (ripple/attnmap.h) at a
 *                   target density
 *   reuse+svg       the ripple transform, then the svg mask built and
 *                   applied on q~, k~ (the paper's TIMERIPPLE+SVG)
 *
 * The threshold of step i is theta of the parameters, or step_theta[i] on
 * every axis when a per-step table is given (a ramp: method.md section 5).
 * An attention-map mask that keeps every entry (density 1) runs exact
 * attention: it is the same function, and the dense clip is then
 * reproduced bit for bit.
 *
 * Savings per call (mean over heads, ripple_savings):
 *   reuse, mask-skip: of the reuse mask; mask-magnitude: of its own zeroes;
 *   maps: s_score = s_attn = 1 - achieved density (a skipped score spares its
 *   QK^T and PV work), rows_reused = 0, entry fractions 0;
 *   reuse+svg: s_score = 1 - density (1 - s_score of reuse), s_attn likewise
 *   with reuse's s_attn, rows_reused of reuse: this assumes the entries the
 *   mask keeps carry reuse's average savings (an approximation).
 *
 * The hook computes what the method defines; it does not make it faster
 * (reuse runs exact attention on q~, k~). The fused reuse kernel (the
 * backend table's attn_reuse slot) is the place for that. */
#ifndef RIPPLE_METHOD_H
#define RIPPLE_METHOD_H

#include "ripple/attnmap.h"
#include "ripple/model.h"
#include "ripple/ripple.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ripple_method_kind {
    RIPPLE_METHOD_EXACT = 0,
    RIPPLE_METHOD_REUSE = 1,
    RIPPLE_METHOD_MASK_SKIP = 2,
    RIPPLE_METHOD_MASK_MAGNITUDE = 3,
    RIPPLE_METHOD_SVG = 4,
    RIPPLE_METHOD_WINDOW = 5,
    RIPPLE_METHOD_ORACLE_TOPK = 6,
    RIPPLE_METHOD_REUSE_SVG = 7,
    RIPPLE_METHOD_COUNT = 8
} ripple_method_kind;

/* "exact", "reuse", "mask-skip", "mask-magnitude", "svg", "window",
 * "oracle-topk", "reuse+svg"; "?" otherwise. */
RIPPLE_API const char *ripple_method_name(ripple_method_kind k);
/* Kind by name, or -1. */
RIPPLE_API int ripple_method_parse(const char *name);
/* 1 if the kind uses the reuse parameters (reuse, mask-*, reuse+svg). */
RIPPLE_API int ripple_method_uses_reuse(ripple_method_kind k);
/* 1 if the kind uses a density (svg, window, oracle-topk, reuse+svg). */
RIPPLE_API int ripple_method_uses_density(ripple_method_kind k);

/* Zeroed = exact attention on the CPU backend. */
typedef struct ripple_method_params {
    ripple_method_kind kind;
    ripple_reuse_params reuse; /* the transform (its theta unless step_theta) */
    const double *step_theta;  /* optional [num_step_theta]: theta of every axis at step i; copied */
    int num_step_theta;        /* must cover every step of the run */
    double density;            /* maps: target density in (0, 1]; 0 = 1 */
    ripple_backend backend;    /* of exact attention */
    int fused;                 /* reuse only: attention by ripple_attn_reuse (the fused reuse kernel)
                                  on q~, k~ instead of exact attention on them; the same result within
                                  the kernel's tolerance, faster where whole rows are deltas */
} ripple_method_params;

/* What one call did. */
typedef struct ripple_method_result {
    ripple_savings savings; /* mean over heads */
    double density;         /* maps: achieved density; 1 otherwise */
    double theta;           /* the threshold used (largest over enabled axes); 0 for maps */
} ripple_method_result;

typedef struct ripple_method ripple_method; /* opaque: parameters + scratch */

/* Checks the parameters for a model's layout (heads per call). */
RIPPLE_API ripple_status ripple_method_create(const ripple_method_params *p, const ripple_layout *lay,
                                              int64_t heads, ripple_method **out);
RIPPLE_API void ripple_method_free(ripple_method *m);

/* Computes call->o by the method; res (may be NULL) receives the savings.
 * call->layout must equal the layout given at creation. */
RIPPLE_API ripple_status ripple_method_attend(ripple_method *m, const ripple_attn_call *call,
                                              ripple_method_result *res);

#ifdef __cplusplus
}
#endif

#endif /* RIPPLE_METHOD_H */
