/* Attention methods in the denoising loop (ripple/method.h). The score-level
 * methods follow analysis/evaluate.c's eval_run entry for entry (the same
 * transform, the same budget of the baselines, the same savings), so a call
 * in the loop and `ripple eval` on a capture of that call agree. */
#include "ripple/method.h"

#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Mask value of an entry a baseline zeroes: reused, but along no axis. */
enum { ZEROED = 0x80 };

static const char *const names[RIPPLE_METHOD_COUNT] = {"exact", "reuse", "mask-skip", "mask-magnitude",
                                                        "svg", "window", "oracle-topk", "reuse+svg"};

const char *ripple_method_name(ripple_method_kind k)
{
    return (int)k >= 0 && k < RIPPLE_METHOD_COUNT ? names[k] : "?";
}

int ripple_method_parse(const char *name)
{
    for (int k = 0; name && k < RIPPLE_METHOD_COUNT; k++)
        if (!strcmp(name, names[k])) return k;
    return -1;
}

int ripple_method_uses_reuse(ripple_method_kind k)
{
    return k == RIPPLE_METHOD_REUSE || k == RIPPLE_METHOD_MASK_SKIP || k == RIPPLE_METHOD_MASK_MAGNITUDE ||
           k == RIPPLE_METHOD_REUSE_SVG;
}

int ripple_method_uses_density(ripple_method_kind k)
{
    return k == RIPPLE_METHOD_SVG || k == RIPPLE_METHOD_WINDOW || k == RIPPLE_METHOD_ORACLE_TOPK ||
           k == RIPPLE_METHOD_REUSE_SVG;
}

struct ripple_method {
    ripple_method_params p;
    double *step_theta;
    ripple_layout lay;
    int64_t heads;
    size_t per_head, total;
    float *qt, *kt;               /* [heads, N, d] */
    ripple_mask_t *mq, *mk, *zq, *zk;
};

void ripple_method_free(ripple_method *m)
{
    if (!m) return;
    free(m->step_theta);
    free(m->qt);
    free(m->kt);
    free(m->mq);
    free(m->mk);
    free(m->zq);
    free(m->zk);
    free(m);
}

ripple_status ripple_method_create(const ripple_method_params *p, const ripple_layout *lay, int64_t heads,
                                   ripple_method **out)
{
    if (!p || !lay || !out) return ripple_fail(RIPPLE_ERR_INVALID, "ripple_method_create: NULL argument");
    *out = NULL;
    ripple_status s = ripple_layout_check(lay);
    if (s) return s;
    if ((int)p->kind < 0 || p->kind >= RIPPLE_METHOD_COUNT)
        return ripple_fail(RIPPLE_ERR_INVALID, "method: unknown kind %d", (int)p->kind);
    if (heads < 1 || heads > 4096) return ripple_fail(RIPPLE_ERR_INVALID, "method: %lld heads", (long long)heads);
    if (ripple_method_uses_density(p->kind) && !(p->density >= 0 && p->density <= 1))
        return ripple_fail(RIPPLE_ERR_INVALID, "method %s: density %g is not in (0, 1]", names[p->kind], p->density);
    if (p->fused && p->kind != RIPPLE_METHOD_REUSE)
        return ripple_fail(RIPPLE_ERR_INVALID, "method %s: the fused reuse kernel computes reuse only", names[p->kind]);
    if (ripple_method_uses_reuse(p->kind)) {
        const ripple_reuse_params *r = &p->reuse;
        if (r->window != 0 && r->window < 2)
            return ripple_fail(RIPPLE_ERR_INVALID, "method %s: window %d must be >= 2", names[p->kind], r->window);
        for (int a = 0; a < 3; a++)
            if (!(r->theta[a] >= 0)) /* +inf allowed: forced reuse */
                return ripple_fail(RIPPLE_ERR_INVALID, "method %s: theta %g must be >= 0", names[p->kind], r->theta[a]);
        if (p->step_theta) {
            if (p->num_step_theta < 1)
                return ripple_fail(RIPPLE_ERR_INVALID, "method: a step_theta table of %d steps", p->num_step_theta);
            for (int i = 0; i < p->num_step_theta; i++)
                if (!(p->step_theta[i] >= 0))
                    return ripple_fail(RIPPLE_ERR_INVALID, "method: step_theta[%d] = %g must be >= 0", i,
                                       p->step_theta[i]);
        }
    }
    ripple_method *m = calloc(1, sizeof *m);
    if (!m) return ripple_fail(RIPPLE_ERR_NOMEM, "method: out of memory");
    m->p = *p;
    m->lay = *lay;
    m->heads = heads;
    m->per_head = (size_t)lay->seq_len * (size_t)lay->head_dim;
    m->total = m->per_head * (size_t)heads;
    if (p->step_theta && ripple_method_uses_reuse(p->kind)) {
        if (!(m->step_theta = malloc((size_t)p->num_step_theta * sizeof(double)))) goto nomem;
        memcpy(m->step_theta, p->step_theta, (size_t)p->num_step_theta * sizeof(double));
    }
    m->p.step_theta = m->step_theta;
    if (p->kind != RIPPLE_METHOD_EXACT) {
        if (!(m->qt = malloc(m->total * sizeof(float))) || !(m->kt = malloc(m->total * sizeof(float))) ||
            !(m->mq = malloc(m->total)) || !(m->mk = malloc(m->total)) || !(m->zq = malloc(m->total)) ||
            !(m->zk = malloc(m->total)))
            goto nomem;
    }
    *out = m;
    return RIPPLE_OK;
nomem:
    ripple_method_free(m);
    return ripple_fail(RIPPLE_ERR_NOMEM, "method: out of memory for %zu floats of scratch", 2 * m->total);
}

static int same_layout(const ripple_layout *a, const ripple_layout *b)
{
    if (a->seq_len != b->seq_len || a->video_offset != b->video_offset || a->head_dim != b->head_dim ||
        a->num_groups != b->num_groups)
        return 0;
    for (int i = 0; i < 3; i++)
        if (a->grid[i] != b->grid[i]) return 0;
    for (int g = 0; g < a->num_groups; g++)
        if (a->group_axis[g] != b->group_axis[g] || a->group_len[g] != b->group_len[g]) return 0;
    return 1;
}

/* Masked attention by an attention-map rule, or exact when it keeps all. */
static ripple_status map_attend(ripple_method *m, ripple_attnmap_kind kind, const ripple_attn_call *c,
                                const float *q, const float *k, double *density)
{
    ripple_attnmap_params ap = {.kind = kind, .density = m->p.density};
    ripple_attnmap *map = NULL;
    ripple_status s = ripple_attnmap_build(&m->lay, &ap, m->heads, c->scale, q, k, c->v, &map);
    if (s) return s;
    *density = ripple_attnmap_density(map);
    if (*density >= 1.0) /* every entry kept: exact attention, the same function */
        s = ripple_attn_exact(m->p.backend, m->heads, m->lay.seq_len, m->lay.head_dim, c->scale, q, k, c->v, c->o);
    else
        s = ripple_attnmap_apply(map, c->o);
    ripple_attnmap_free(map);
    return s;
}

ripple_status ripple_method_attend(ripple_method *m, const ripple_attn_call *c, ripple_method_result *res)
{
    if (!m || !c || !c->q || !c->k || !c->v || !c->o || !c->layout)
        return ripple_fail(RIPPLE_ERR_INVALID, "ripple_method_attend: NULL argument");
    if (c->heads != m->heads || !same_layout(c->layout, &m->lay))
        return ripple_fail(RIPPLE_ERR_INVALID, "method: the call's heads or layout differ from the method's");
    ripple_method_result r;
    memset(&r, 0, sizeof r);
    r.density = 1.0;
    const int64_t N = m->lay.seq_len, d = m->lay.head_dim;
    const ripple_method_kind kind = m->p.kind;
    ripple_status s = RIPPLE_OK;

    if (kind == RIPPLE_METHOD_EXACT) {
        s = ripple_attn_exact(m->p.backend, m->heads, N, d, c->scale, c->q, c->k, c->v, c->o);
        goto done;
    }
    if (kind == RIPPLE_METHOD_SVG || kind == RIPPLE_METHOD_WINDOW || kind == RIPPLE_METHOD_ORACLE_TOPK) {
        ripple_attnmap_kind mk = kind == RIPPLE_METHOD_SVG      ? RIPPLE_ATTNMAP_SVG
                                 : kind == RIPPLE_METHOD_WINDOW ? RIPPLE_ATTNMAP_WINDOW
                                                                : RIPPLE_ATTNMAP_ORACLE_TOPK;
        if ((s = map_attend(m, mk, c, c->q, c->k, &r.density))) goto done;
        r.savings.s_score = r.savings.s_attn = 1.0 - r.density;
        goto done;
    }

    /* the reuse mask fixes every score-level method's budget */
    ripple_reuse_params rp = m->p.reuse;
    if (m->step_theta) {
        if (c->step < 0 || c->step >= m->p.num_step_theta) {
            s = ripple_fail(RIPPLE_ERR_INVALID, "method: step %d has no threshold (the ramp covers %d steps)", c->step,
                            m->p.num_step_theta);
            goto done;
        }
        rp.theta[0] = rp.theta[1] = rp.theta[2] = m->step_theta[c->step];
    }
    unsigned axes = rp.axes ? rp.axes : RIPPLE_AXES_ALL;
    for (int a = 0; a < 3; a++)
        if (axes & RIPPLE_AXIS_BIT(a)) r.theta = fmax(r.theta, rp.theta[a]);
    ripple_savings one, sum;
    memset(&sum, 0, sizeof sum);
    for (int64_t h = 0; h < m->heads; h++) {
        size_t off = (size_t)h * m->per_head;
        if ((s = ripple_reuse_apply(&m->lay, &rp, c->q + off, m->qt + off, m->mq + off))) goto done;
        if ((s = ripple_reuse_apply(&m->lay, &rp, c->k + off, m->kt + off, m->mk + off))) goto done;
    }
    if (kind == RIPPLE_METHOD_MASK_MAGNITUDE) {
        for (int64_t h = 0; h < m->heads; h++) {
            size_t off = (size_t)h * m->per_head;
            int64_t cq = 0, ck = 0;
            for (size_t i = 0; i < m->per_head; i++) {
                cq += m->mq[off + i] != 0;
                ck += m->mk[off + i] != 0;
            }
            if ((s = ripple_mask_magnitude((int64_t)m->per_head, c->q + off, cq, m->qt + off))) goto done;
            if ((s = ripple_mask_magnitude((int64_t)m->per_head, c->k + off, ck, m->kt + off))) goto done;
            for (size_t i = 0; i < m->per_head; i++) {
                m->zq[off + i] = (m->qt[off + i] == 0.0f && c->q[off + i] != 0.0f) ? ZEROED : 0;
                m->zk[off + i] = (m->kt[off + i] == 0.0f && c->k[off + i] != 0.0f) ? ZEROED : 0;
            }
            if ((s = ripple_savings_compute(&m->lay, m->zq + off, m->zk + off, &one))) goto done;
            ripple_savings_add(&sum, &one);
        }
    } else {
        for (int64_t h = 0; h < m->heads; h++) {
            size_t off = (size_t)h * m->per_head;
            if ((s = ripple_savings_compute(&m->lay, m->mq + off, m->mk + off, &one))) goto done;
            ripple_savings_add(&sum, &one);
        }
        if (kind == RIPPLE_METHOD_MASK_SKIP) {
            if ((s = ripple_mask_skip((int64_t)m->total, c->q, m->mq, m->qt))) goto done;
            if ((s = ripple_mask_skip((int64_t)m->total, c->k, m->mk, m->kt))) goto done;
        }
    }
    ripple_savings_scale(&sum, 1.0 / (double)m->heads);
    r.savings = sum;
    if (kind == RIPPLE_METHOD_REUSE_SVG) {
        if ((s = map_attend(m, RIPPLE_ATTNMAP_SVG, c, m->qt, m->kt, &r.density))) goto done;
        r.savings.s_score = 1.0 - r.density * (1.0 - sum.s_score);
        r.savings.s_attn = 1.0 - r.density * (1.0 - sum.s_attn);
        goto done;
    }
    if (kind == RIPPLE_METHOD_REUSE && m->p.fused)
        s = ripple_attn_reuse(m->p.backend, &m->lay, rp.window ? rp.window : 2, m->heads, c->scale, m->qt, m->kt,
                              c->v, c->o);
    else
        s = ripple_attn_exact(m->p.backend, m->heads, N, d, c->scale, m->qt, m->kt, c->v, c->o);
done:
    if (!s && res) *res = r;
    return s;
}
