/* Reference exact and masked attention: every product and sum in float64,
 * row-wise stable softmax (subtract the row max). Straightforward and slow
 * (O(seq) memory per call); used by the tests and for the noise floor. */
#include "backend.h"
#include "internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

ripple_status ripple_attn_exact_f64(int64_t heads, int64_t seq, int64_t dim, double scale,
                                    const float *q, const float *k, const float *v, double *o)
{
    ripple_status st = ripple_attn_check(heads, seq, dim, scale, q, k, v, o);
    if (st != RIPPLE_OK) return st;
    double *p = malloc((size_t)seq * sizeof *p); /* one row of scores */
    if (!p) return ripple_fail(RIPPLE_ERR_NOMEM, "attention reference: no memory for %lld scores",
                               (long long)seq);
    for (int64_t h = 0; h < heads; h++) {
        size_t base = (size_t)h * (size_t)seq * (size_t)dim;
        const float *qh = q + base, *kh = k + base, *vh = v + base;
        double *oh = o + base;
        for (int64_t i = 0; i < seq; i++) {
            const float *qi = qh + (size_t)i * (size_t)dim;
            double m = -INFINITY;
            for (int64_t j = 0; j < seq; j++) {
                const float *kj = kh + (size_t)j * (size_t)dim;
                double s = 0.0;
                for (int64_t c = 0; c < dim; c++) s += (double)qi[c] * (double)kj[c];
                p[j] = scale * s;
                if (p[j] > m) m = p[j];
            }
            double sum = 0.0;
            for (int64_t j = 0; j < seq; j++) {
                p[j] = exp(p[j] - m);
                sum += p[j];
            }
            double *oi = oh + (size_t)i * (size_t)dim;
            for (int64_t c = 0; c < dim; c++) oi[c] = 0.0;
            for (int64_t j = 0; j < seq; j++) {
                const float *vj = vh + (size_t)j * (size_t)dim;
                double w = p[j] / sum;
                for (int64_t c = 0; c < dim; c++) oi[c] += w * (double)vj[c];
            }
        }
    }
    free(p);
    return RIPPLE_OK;
}

ripple_status ripple_attn_masked_f64(int64_t heads, int64_t seq, int64_t dim, double scale,
                                     const float *q, const float *k, const float *v,
                                     const ripple_row_rule *rule, double *o)
{
    ripple_status st = ripple_attn_check(heads, seq, dim, scale, q, k, v, o);
    if (st != RIPPLE_OK) return st;
    if (!rule || !rule->keep) return ripple_fail(RIPPLE_ERR_INVALID, "masked attention reference: no rule");
    double *p = malloc((size_t)seq * sizeof *p);
    float *sf = malloc((size_t)seq * 2 * sizeof *sf);
    uint8_t *keep = malloc((size_t)seq);
    if (!p || !sf || !keep) {
        st = ripple_fail(RIPPLE_ERR_NOMEM, "masked attention reference: no memory for %lld scores",
                         (long long)seq);
        goto done;
    }
    for (int64_t h = 0; h < heads; h++) {
        size_t base = (size_t)h * (size_t)seq * (size_t)dim;
        for (int64_t i = 0; i < seq; i++) {
            const float *qi = q + base + (size_t)i * (size_t)dim;
            for (int64_t j = 0; j < seq; j++) {
                const float *kj = k + base + (size_t)j * (size_t)dim;
                double s = 0.0;
                for (int64_t c = 0; c < dim; c++) s += (double)qi[c] * (double)kj[c];
                p[j] = scale * s;
                sf[j] = (float)p[j];
            }
            rule->keep(rule->ctx, h, i, sf, sf + seq, keep);
            double m = -INFINITY, sum = 0.0;
            for (int64_t j = 0; j < seq; j++)
                if (keep[j] && p[j] > m) m = p[j];
            if (!isfinite(m)) {
                st = ripple_fail(RIPPLE_ERR_INVALID, "masked attention reference: row %lld keeps no key",
                                 (long long)i);
                goto done;
            }
            for (int64_t j = 0; j < seq; j++) sum += p[j] = keep[j] ? exp(p[j] - m) : 0.0;
            double *oi = o + base + (size_t)i * (size_t)dim;
            for (int64_t c = 0; c < dim; c++) oi[c] = 0.0;
            for (int64_t j = 0; j < seq; j++) {
                if (!keep[j]) continue;
                const float *vj = v + base + (size_t)j * (size_t)dim;
                for (int64_t c = 0; c < dim; c++) oi[c] += p[j] / sum * (double)vj[c];
            }
        }
    }
done:
    free(p);
    free(sf);
    free(keep);
    return st;
}
