/* Error metrics of an attention output against a reference (method.md
 * section 4). Everything accumulates in double.
 *
 *   mse     = mean over all rows*dim elements of (out - ref)^2
 *   rel_l2  = ||out - ref|| / ||ref||   (Frobenius norms over all elements);
 *             0 when both are zero, +inf when ref is zero and out is not
 *   cosine  = mean over rows of <out_r, ref_r> / (||out_r|| ||ref_r||);
 *             a row where both are zero counts 1 (identical), a row where
 *             exactly one is zero counts 0 (no direction in common)
 *   psnr    = 10 log10(max|ref|^2 / mse); +inf when mse = 0; -inf when ref
 *             is all zero and mse > 0
 *   max_abs = max |out - ref|
 *
 * Non-finite values in out or ref are rejected with RIPPLE_ERR_NONFINITE,
 * naming the first (row, column). */
#include "internal.h"

#include <math.h>

/* ref is read through one of the two pointers. */
static ripple_status metrics_run(int64_t rows, int64_t dim, const float *out, const float *ref32,
                                 const double *ref64, ripple_metrics *m)
{
    if (rows <= 0 || dim <= 0)
        return ripple_fail(RIPPLE_ERR_INVALID, "metrics: sizes must be positive (rows %lld, dim %lld)",
                           (long long)rows, (long long)dim);
    if (!out || (!ref32 && !ref64) || !m)
        return ripple_fail(RIPPLE_ERR_INVALID, "metrics: %s is NULL",
                           !out ? "out" : !m ? "the result" : "ref");
    if (ripple_mul3(rows, dim, 1) == 0)
        return ripple_fail(RIPPLE_ERR_INVALID, "metrics: rows*dim overflows (%lld x %lld)",
                           (long long)rows, (long long)dim);

    double sq_err = 0.0, sq_ref = 0.0, sq_out = 0.0, cos_sum = 0.0, max_ref = 0.0, max_abs = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        double dot = 0.0, nr = 0.0, no = 0.0;
        for (int64_t c = 0; c < dim; c++) {
            size_t i = (size_t)r * (size_t)dim + (size_t)c;
            double a = (double)out[i];
            double b = ref64 ? ref64[i] : (double)ref32[i];
            if (!isfinite(a) || !isfinite(b))
                return ripple_fail(RIPPLE_ERR_NONFINITE, "metrics: %s[%lld, %lld] = %g is not finite",
                                   !isfinite(a) ? "out" : "ref", (long long)r, (long long)c,
                                   !isfinite(a) ? a : b);
            double d = a - b;
            sq_err += d * d;
            if (fabs(d) > max_abs) max_abs = fabs(d);
            if (fabs(b) > max_ref) max_ref = fabs(b);
            dot += a * b;
            nr += b * b;
            no += a * a;
        }
        sq_ref += nr;
        sq_out += no;
        if (nr == 0.0 && no == 0.0) cos_sum += 1.0;
        else if (nr > 0.0 && no > 0.0) cos_sum += dot / (sqrt(nr) * sqrt(no));
        /* exactly one zero row: 0 */
    }
    double n = (double)rows * (double)dim;
    m->mse = sq_err / n;
    if (sq_ref > 0.0) m->rel_l2 = sqrt(sq_err) / sqrt(sq_ref);
    else m->rel_l2 = sq_out > 0.0 ? INFINITY : 0.0;
    m->cosine = cos_sum / (double)rows;
    if (m->mse == 0.0) m->psnr = INFINITY;
    else m->psnr = 10.0 * log10(max_ref * max_ref / m->mse); /* -inf when ref is zero */
    m->max_abs = max_abs;
    return RIPPLE_OK;
}

ripple_status ripple_metrics_compute(int64_t rows, int64_t dim, const float *out,
                                     const float *ref, ripple_metrics *m)
{
    if (!ref) return ripple_fail(RIPPLE_ERR_INVALID, "metrics: ref is NULL");
    return metrics_run(rows, dim, out, ref, NULL, m);
}

ripple_status ripple_metrics_compute_f64(int64_t rows, int64_t dim, const float *out,
                                         const double *ref, ripple_metrics *m)
{
    if (!ref) return ripple_fail(RIPPLE_ERR_INVALID, "metrics: ref is NULL");
    return metrics_run(rows, dim, out, NULL, ref, m);
}
