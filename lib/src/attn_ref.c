/* Reference exact attention: every product and sum in float64, row-wise
 * stable softmax (subtract the row max). Straightforward and slow (O(seq)
 * doubles of memory per call); used by the tests and for the noise floor. */
#include "internal.h"

#include <math.h>
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
