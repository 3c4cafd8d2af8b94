/* Evaluation of one captured (step, layer): loads q/k/v once, computes exact
 * attention once, then scores any number of methods and settings against it
 * (savings and output error). Shared by `ripple eval` and the experiment
 * drivers so that every table agrees with `ripple eval` by construction. */
#ifndef RIPPLE_EVALUATE_H
#define RIPPLE_EVALUATE_H

#include "ripple/ripple.h"

typedef enum eval_method {
    EVAL_REUSE = 0,          /* ripple transform: reused entries copy their source */
    EVAL_MASK_SKIP = 1,      /* the same mask, reused entries set to 0 */
    EVAL_MASK_MAGNITUDE = 2, /* as many lowest-|x| entries set to 0 (per head, tensor) */
    EVAL_METHOD_COUNT = 3
} eval_method;

const char *eval_method_name(eval_method m);
/* Method by name, or -1. */
int eval_method_parse(const char *name);

typedef struct eval_unit {
    const ripple_layout *lay;
    int step, layer;
    int64_t head_lo, nh; /* heads [head_lo, head_lo + nh) of those stored */
    double scale;
    ripple_backend backend;
    double exact_seconds; /* time of the exact attention of this unit */
    /* [nh, seq_len, head_dim] each */
    float *q, *k, *v, *ref;
    /* scratch of the same size */
    float *qt, *kt, *out;
    ripple_mask_t *mq, *mk, *zq, *zk;
} eval_unit;

/* Reads q, k, v of (step, layer, heads) and computes exact attention. */
ripple_status eval_unit_load(eval_unit *u, ripple_capture *cap, int step, int layer,
                             int64_t head_lo, int64_t nh, ripple_backend backend);
void eval_unit_free(eval_unit *u);

/* Runs one method with the reuse parameters p (which define the mask and so
 * the budget of the baselines). sv: mean over heads; m: over all heads. */
ripple_status eval_run(eval_unit *u, eval_method method, const ripple_reuse_params *p,
                       ripple_savings *sv, ripple_metrics *m);

/* Noise floor: float32 exact attention against the float64 reference. */
ripple_status eval_noise_floor(eval_unit *u, ripple_metrics *m);

#endif
