/* Evaluation of one (step, layer) unit: loads q/k/v once from a source,
 * computes exact attention once, then scores any number of methods and
 * settings against it (savings and output error). Shared by `ripple eval`
 * and every experiment so that every table agrees with `ripple eval` by
 * construction.
 *
 * The registry of methods (eval_methods) is the one list of what can be
 * compared: its names are those of `eval --method` and `compare --methods`,
 * its colours those of every figure. */
#ifndef RIPPLE_EVALUATE_H
#define RIPPLE_EVALUATE_H

#include "ripple/attnmap.h"
#include "ripple/ripple.h"
#include "source.h"

typedef enum eval_method {
    /* score level: the reuse mask of the parameters fixes the budget */
    EVAL_REUSE = 0,          /* ripple transform: reused entries copy their source */
    EVAL_MASK_SKIP = 1,      /* the same mask, reused entries set to 0 */
    EVAL_MASK_MAGNITUDE = 2, /* as many lowest-|x| entries set to 0 (per head, tensor) */
    /* attention-map masks at the attention savings of reuse (eval_density_target) */
    EVAL_SVG = 3,
    EVAL_WINDOW = 4,
    EVAL_ORACLE_TOPK = 5,
    /* variants of reuse (paper Tables 3, 4) */
    EVAL_REUSE_T = 6,       /* along t only */
    EVAL_REUSE_CHANNEL = 7, /* channel-wise thresholds: theta holds alpha */
    EVAL_REUSE_RAMP = 8,    /* the thresholds of a ramp per step (the caller sets them) */
    EVAL_METHOD_COUNT = 9
} eval_method;

typedef struct eval_method_info {
    const char *name;
    eval_method runs;         /* what eval_run runs: REUSE, MASK_SKIP, MASK_MAGNITUDE; maps: itself */
    int attnmap;              /* an attention-map mask (kind map) */
    ripple_attnmap_kind map;
    unsigned axes;            /* variants: the axes reused along (0 = those of the parameters) */
    int channel;              /* variant: channel-wise thresholds */
    int ramp;                 /* variant: needs a ramp */
    const char *color;        /* its colour in every figure */
} eval_method_info;

extern const eval_method_info eval_methods[EVAL_METHOD_COUNT];

const char *eval_method_name(eval_method m);
/* Method by name, or -1. */
int eval_method_parse(const char *name);
/* A set of methods: the bits EVAL_BIT(m). */
#define EVAL_BIT(m) (1u << (unsigned)(m))
#define EVAL_METHODS_ALL (EVAL_BIT(EVAL_METHOD_COUNT) - 1)
/* The names of the methods in bits, joined by sep, into buf[n]. */
const char *eval_method_list(unsigned bits, const char *sep, char *buf, size_t n);

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

/* Reads q, k, v of unit id of source s (heads [head_lo, head_lo + nh)) and
 * computes exact attention. */
ripple_status eval_unit_load(eval_unit *u, src *s, const src_unit *id, int64_t head_lo, int64_t nh,
                             ripple_backend backend);
void eval_unit_free(eval_unit *u);

/* p as method runs it: a variant's axes and threshold mode applied. */
ripple_reuse_params eval_method_params(eval_method method, const ripple_reuse_params *p);

/* Runs a score-level method (or variant: reuse-t reuses along t only,
 * reuse-channel in channel mode) with the reuse parameters p, which define
 * the mask and so the budget of the baselines. sv: mean over heads; m: over
 * all heads. */
ripple_status eval_run(eval_unit *u, eval_method method, const ripple_reuse_params *p,
                       ripple_savings *sv, ripple_metrics *m);

/* The density an attention-map mask gets to match reuse at p: 1 - s_attn of
 * reuse, s_attn as a table prints it (6 digits), so the target is the same
 * whether reuse's row was computed now or read from an earlier run. */
ripple_status eval_density_target(eval_unit *u, const ripple_reuse_params *p, double *target);

/* Runs the attention-map mask `method` at density target. sv: s_score =
 * s_attn = 1 - achieved density (a skipped score entry spares QK^T and PV),
 * the fields about reused entries nan; *density: achieved; detail[n]: what
 * the builder chose (radii, keys per row, heads spatial/temporal). */
ripple_status eval_run_map(eval_unit *u, eval_method method, double target, ripple_savings *sv, ripple_metrics *m,
                           double *density, char *detail, size_t n);

/* Noise floor: float32 exact attention against the float64 reference. */
ripple_status eval_noise_floor(eval_unit *u, ripple_metrics *m);

#endif
