/* Savings of one head under reuse (method.md section 2), from the masks of
 * ripple_reuse_apply. Counts are exact integers; only the final ratios are
 * doubles.
 *
 * s_attn is the lead's documented choice: s_score / 2, i.e. only the spared
 * QK^T work. Query rows whose every channel is reused (they equal their
 * source row, so softmax and PV could be copied too) are reported separately
 * as rows_reused, never folded into s_attn. */
#include "internal.h"

#include <string.h>

ripple_status ripple_savings_compute(const ripple_layout *lay, const ripple_mask_t *mq,
                                     const ripple_mask_t *mk, ripple_savings *out)
{
    ripple_status st = ripple_layout_check(lay);
    if (st) return st;
    if (!mq || !mk || !out) return ripple_fail(RIPPLE_ERR_INVALID, "mq, mk or out is NULL");

    const int64_t N = lay->seq_len, d = lay->head_dim;
    int64_t *cq = calloc((size_t)d * 2, sizeof(int64_t)); /* reused entries per channel */
    if (!cq) return ripple_fail(RIPPLE_ERR_NOMEM, "cannot allocate %lld counters", (long long)(2 * d));
    int64_t *ck = cq + d;
    int64_t aq[3] = {0, 0, 0}, ak[3] = {0, 0, 0}, full_rows = 0;

    for (int64_t i = 0; i < N; i++) {
        const ripple_mask_t *rq = mq + (size_t)i * (size_t)d;
        const ripple_mask_t *rk = mk + (size_t)i * (size_t)d;
        int64_t row = 0;
        for (int64_t c = 0; c < d; c++) {
            const unsigned q = rq[c], k = rk[c];
            row += q != 0;
            cq[c] += q != 0;
            ck[c] += k != 0;
            for (int a = 0; a < 3; a++) {
                aq[a] += (q >> a) & 1u;
                ak[a] += (k >> a) & 1u;
            }
        }
        full_rows += row == d;
    }

    const double Nd = (double)N * (double)d;
    double computed = 0.0, tq = 0.0, tk = 0.0;
    for (int64_t c = 0; c < d; c++) {
        computed += (double)(N - cq[c]) * (double)(N - ck[c]);
        tq += (double)cq[c];
        tk += (double)ck[c];
    }
    ripple_savings s;
    memset(&s, 0, sizeof s);
    s.s_score = 1.0 - computed / ((double)N * Nd);
    s.s_attn = s.s_score / 2.0;
    s.rows_reused = (double)full_rows / (double)N;
    s.q_reused = tq / Nd;
    s.k_reused = tk / Nd;
    int64_t start = 0;
    for (int g = 0; g < lay->num_groups; g++) {
        const int64_t len = lay->group_len[g];
        int64_t gq = 0, gk = 0;
        for (int64_t c = start; c < start + len; c++) {
            gq += cq[c];
            gk += ck[c];
        }
        if (len > 0) {
            s.q_group[g] = (double)gq / ((double)N * (double)len);
            s.k_group[g] = (double)gk / ((double)N * (double)len);
        }
        start += len;
    }
    for (int a = 0; a < 3; a++) {
        s.q_axis[a] = (double)aq[a] / Nd;
        s.k_axis[a] = (double)ak[a] / Nd;
    }
    *out = s;
    free(cq);
    return RIPPLE_OK;
}

void ripple_savings_add(ripple_savings *sum, const ripple_savings *one)
{
    if (!sum || !one) return;
    sum->s_score += one->s_score;
    sum->s_attn += one->s_attn;
    sum->rows_reused += one->rows_reused;
    sum->q_reused += one->q_reused;
    sum->k_reused += one->k_reused;
    for (int i = 0; i < 3; i++) {
        sum->q_group[i] += one->q_group[i];
        sum->k_group[i] += one->k_group[i];
        sum->q_axis[i] += one->q_axis[i];
        sum->k_axis[i] += one->k_axis[i];
    }
}

void ripple_savings_scale(ripple_savings *s, double factor)
{
    if (!s) return;
    s->s_score *= factor;
    s->s_attn *= factor;
    s->rows_reused *= factor;
    s->q_reused *= factor;
    s->k_reused *= factor;
    for (int i = 0; i < 3; i++) {
        s->q_group[i] *= factor;
        s->k_group[i] *= factor;
        s->q_axis[i] *= factor;
        s->k_axis[i] *= factor;
    }
}
