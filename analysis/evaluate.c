#include "evaluate.h"
#include "backend.h"
#include "internal.h"
#include "table.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Mask value of an entry a baseline zeroes: reused, but along no axis. */
enum { ZEROED = 0x80 };

#define T_ONLY RIPPLE_AXIS_BIT(RIPPLE_AXIS_T)
const eval_method_info eval_methods[EVAL_METHOD_COUNT] = {
    [EVAL_REUSE] = {"reuse", EVAL_REUSE, 0, RIPPLE_ATTNMAP_FULL, 0, 0, 0, "#d62728"},
    [EVAL_MASK_SKIP] = {"mask-skip", EVAL_MASK_SKIP, 0, RIPPLE_ATTNMAP_FULL, 0, 0, 0, "#7f7f7f"},
    [EVAL_MASK_MAGNITUDE] = {"mask-magnitude", EVAL_MASK_MAGNITUDE, 0, RIPPLE_ATTNMAP_FULL, 0, 0, 0, "#8c564b"},
    [EVAL_SVG] = {"svg", EVAL_SVG, 1, RIPPLE_ATTNMAP_SVG, 0, 0, 0, "#1f77b4"},
    [EVAL_WINDOW] = {"window", EVAL_WINDOW, 1, RIPPLE_ATTNMAP_WINDOW, 0, 0, 0, "#17becf"},
    [EVAL_ORACLE_TOPK] = {"oracle-topk", EVAL_ORACLE_TOPK, 1, RIPPLE_ATTNMAP_ORACLE_TOPK, 0, 0, 0, "#2ca02c"},
    [EVAL_REUSE_T] = {"reuse-t", EVAL_REUSE, 0, RIPPLE_ATTNMAP_FULL, T_ONLY, 0, 0, "#ff7f0e"},
    [EVAL_REUSE_CHANNEL] = {"reuse-channel", EVAL_REUSE, 0, RIPPLE_ATTNMAP_FULL, 0, 1, 0, "#9467bd"},
    [EVAL_REUSE_RAMP] = {"reuse-ramp", EVAL_REUSE, 0, RIPPLE_ATTNMAP_FULL, 0, 0, 1, "#e377c2"},
};

const char *eval_method_name(eval_method m)
{
    return (m >= 0 && m < EVAL_METHOD_COUNT) ? eval_methods[m].name : "?";
}

int eval_method_parse(const char *name)
{
    for (int m = 0; m < EVAL_METHOD_COUNT; m++)
        if (!strcmp(name, eval_methods[m].name)) return m;
    return -1;
}

const char *eval_method_list(unsigned bits, const char *sep, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int m = 0; m < EVAL_METHOD_COUNT && len < n; m++)
        if (bits & EVAL_BIT(m))
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? sep : "", eval_methods[m].name);
    return buf;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void eval_unit_free(eval_unit *u)
{
    free(u->q); free(u->k); free(u->v); free(u->ref);
    free(u->qt); free(u->kt); free(u->out);
    free(u->mq); free(u->mk); free(u->zq); free(u->zk);
    memset(u, 0, sizeof *u);
}

ripple_status eval_unit_load(eval_unit *u, src *source, const src_unit *id, int64_t head_lo, int64_t nh,
                             ripple_backend backend)
{
    memset(u, 0, sizeof *u);
    const ripple_capture_info *info = source->info;
    const int step = id->step, layer = id->layer;
    u->lay = &info->layout;
    u->step = step;
    u->layer = layer;
    u->head_lo = head_lo;
    u->nh = nh;
    u->scale = info->scale;
    u->backend = backend;
    size_t total = (size_t)nh * (size_t)u->lay->seq_len * (size_t)u->lay->head_dim;
    float **f[] = {&u->q, &u->k, &u->v, &u->ref, &u->qt, &u->kt, &u->out};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!(*f[i] = malloc(total * sizeof(float)))) goto nomem;
    ripple_mask_t **mm[] = {&u->mq, &u->mk, &u->zq, &u->zk};
    for (size_t i = 0; i < sizeof mm / sizeof mm[0]; i++)
        if (!(*mm[i] = malloc(total * sizeof(ripple_mask_t)))) goto nomem;

    static const ripple_tensor which[3] = {RIPPLE_TENSOR_Q, RIPPLE_TENSOR_K, RIPPLE_TENSOR_V};
    float *dst[3] = {u->q, u->k, u->v};
    ripple_status s;
    for (int i = 0; i < 3; i++)
        if ((s = src_read(source, id, which[i], head_lo, nh, dst[i]))) goto fail;
    double t0 = now_s();
    s = ripple_attn_exact(backend, nh, u->lay->seq_len, u->lay->head_dim, u->scale, u->q, u->k, u->v,
                          u->ref);
    u->exact_seconds = now_s() - t0;
    if (s) goto fail;
    return RIPPLE_OK;
nomem:
    eval_unit_free(u);
    return ripple_fail(RIPPLE_ERR_NOMEM, "out of memory for step %d layer %d (%zu floats per tensor)",
                       step, layer, total);
fail:
    eval_unit_free(u);
    return s;
}

static ripple_status attention_of(eval_unit *u, const float *q, const float *k, ripple_metrics *m)
{
    const int64_t n = u->lay->seq_len, d = u->lay->head_dim;
    ripple_status s = ripple_attn_exact(u->backend, u->nh, n, d, u->scale, q, k, u->v, u->out);
    if (s) return s;
    return ripple_metrics_compute(u->nh * n, d, u->out, u->ref, m);
}

ripple_reuse_params eval_method_params(eval_method method, const ripple_reuse_params *p)
{
    ripple_reuse_params pv = *p;
    if (eval_methods[method].axes) pv.axes = eval_methods[method].axes;
    if (eval_methods[method].channel) pv.mode = RIPPLE_THRESHOLD_CHANNEL;
    return pv;
}

ripple_status eval_run(eval_unit *u, eval_method method, const ripple_reuse_params *p,
                       ripple_savings *sv, ripple_metrics *m)
{
    const size_t per_head = (size_t)u->lay->seq_len * (size_t)u->lay->head_dim;
    const size_t total = per_head * (size_t)u->nh;
    ripple_savings one;
    ripple_status s;
    memset(sv, 0, sizeof *sv);
    if (method < 0 || method >= EVAL_METHOD_COUNT || eval_methods[method].attnmap)
        return ripple_fail(RIPPLE_ERR_INVALID, "%s is not a score-level method", eval_method_name(method));
    const ripple_reuse_params pv = eval_method_params(method, p);

    /* Every method starts from the reuse mask: it fixes the budget. */
    for (int64_t h = 0; h < u->nh; h++) {
        size_t off = (size_t)h * per_head;
        if ((s = ripple_reuse_apply(u->lay, &pv, u->q + off, u->qt + off, u->mq + off))) return s;
        if ((s = ripple_reuse_apply(u->lay, &pv, u->k + off, u->kt + off, u->mk + off))) return s;
    }
    switch (eval_methods[method].runs) {
    case EVAL_REUSE:
    case EVAL_MASK_SKIP:
        for (int64_t h = 0; h < u->nh; h++) {
            size_t off = (size_t)h * per_head;
            if ((s = ripple_savings_compute(u->lay, u->mq + off, u->mk + off, &one))) return s;
            ripple_savings_add(sv, &one);
        }
        if (method == EVAL_MASK_SKIP) {
            if ((s = ripple_mask_skip((int64_t)total, u->q, u->mq, u->qt))) return s;
            if ((s = ripple_mask_skip((int64_t)total, u->k, u->mk, u->kt))) return s;
        }
        break;
    case EVAL_MASK_MAGNITUDE:
        for (int64_t h = 0; h < u->nh; h++) {
            size_t off = (size_t)h * per_head;
            int64_t cq = 0, ck = 0;
            for (size_t i = 0; i < per_head; i++) {
                cq += u->mq[off + i] != 0;
                ck += u->mk[off + i] != 0;
            }
            if ((s = ripple_mask_magnitude((int64_t)per_head, u->q + off, cq, u->qt + off))) return s;
            if ((s = ripple_mask_magnitude((int64_t)per_head, u->k + off, ck, u->kt + off))) return s;
            /* its savings are those of its own mask: the entries it zeroes
             * (marked by no axis, so the per-axis fractions stay 0) */
            for (size_t i = 0; i < per_head; i++) {
                u->zq[off + i] = (u->qt[off + i] == 0.0f && u->q[off + i] != 0.0f) ? ZEROED : 0;
                u->zk[off + i] = (u->kt[off + i] == 0.0f && u->k[off + i] != 0.0f) ? ZEROED : 0;
            }
            if ((s = ripple_savings_compute(u->lay, u->zq + off, u->zk + off, &one))) return s;
            ripple_savings_add(sv, &one);
        }
        break;
    default:
        return ripple_fail(RIPPLE_ERR_INVALID, "unknown method %d", (int)method);
    }
    ripple_savings_scale(sv, 1.0 / (double)u->nh);
    return attention_of(u, u->qt, u->kt, m);
}

ripple_status eval_density_target(eval_unit *u, const ripple_reuse_params *p, double *target)
{
    ripple_savings sv;
    ripple_metrics m;
    ripple_status s = eval_run(u, EVAL_REUSE, p, &sv, &m);
    if (!s) *target = 1.0 - rtable_round(sv.s_attn);
    return s;
}

ripple_status eval_run_map(eval_unit *u, eval_method method, double target, ripple_savings *sv, ripple_metrics *m,
                           double *density, char *detail, size_t n)
{
    if (method < 0 || method >= EVAL_METHOD_COUNT || !eval_methods[method].attnmap)
        return ripple_fail(RIPPLE_ERR_INVALID, "%s is not an attention-map mask", eval_method_name(method));
    const ripple_attnmap_kind kind = eval_methods[method].map;
    ripple_attnmap_params p = {.kind = kind, .density = target};
    ripple_attnmap *map;
    ripple_status s = ripple_attnmap_build(u->lay, &p, u->nh, u->scale, u->q, u->k, u->v, &map);
    if (s) return s;
    if ((s = ripple_attnmap_apply_backend(map, u->backend, u->out)) ||
        (s = ripple_metrics_compute(u->nh * u->lay->seq_len, u->lay->head_dim, u->out, u->ref, m)))
        goto done;
    *density = ripple_attnmap_density(map);
    ripple_savings none = {1.0 - *density, 1.0 - *density, NAN, NAN, NAN, {NAN, NAN, NAN}, {NAN, NAN, NAN},
                           {NAN, NAN, NAN}, {NAN, NAN, NAN}};
    *sv = none;
    ripple_attnmap_head_info hi;
    ripple_attnmap_head(map, 0, &hi);
    if (kind == RIPPLE_ATTNMAP_ORACLE_TOPK) {
        snprintf(detail, n, "keys_per_row=%lld", (long long)hi.topk);
    } else if (kind == RIPPLE_ATTNMAP_WINDOW) {
        snprintf(detail, n, "radii=%lld,%lld,%lld", (long long)hi.radius[0], (long long)hi.radius[1],
                 (long long)hi.radius[2]);
    } else {
        int temporal = 0;
        for (int64_t h = 0; h < u->nh; h++) {
            ripple_attnmap_head(map, h, &hi);
            temporal += hi.svg_temporal;
        }
        snprintf(detail, n, "heads_spatial=%lld,heads_temporal=%d", (long long)(u->nh - temporal), temporal);
    }
done:
    ripple_attnmap_free(map);
    return s;
}

ripple_status eval_noise_floor(eval_unit *u, ripple_metrics *m)
{
    const int64_t n = u->lay->seq_len, d = u->lay->head_dim;
    size_t total = (size_t)u->nh * (size_t)n * (size_t)d;
    double *ref64 = malloc(total * sizeof(double));
    if (!ref64) return ripple_fail(RIPPLE_ERR_NOMEM, "out of memory for the float64 reference");
    ripple_status s = ripple_attn_f64(u->backend, u->nh, n, d, u->scale, u->q, u->k, u->v, ref64);
    if (!s) s = ripple_metrics_compute_f64(u->nh * n, d, u->ref, ref64, m);
    free(ref64);
    return s;
}
