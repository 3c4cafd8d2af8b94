/* Error metrics (method.md section 4) against values computed by hand on
 * tiny arrays, the conventions for zero rows and equal arrays, and the
 * rejection of non-finite values. */
#include "testutil.h"

#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

/* Hand-computed values are exact up to a few double roundings. */
#define TOL 1e-12

/* out = [[1, 2], [3, 4]], ref = [[1, 1], [3, 6]]
 * diff = [[0, 1], [0, -2]]: mse = 5/4, max_abs = 2
 * ||ref||^2 = 1 + 1 + 9 + 36 = 47: rel_l2 = sqrt(5/47)
 * cos row 0 = (1 + 2) / (sqrt 5 sqrt 2) = 3/sqrt(10)
 * cos row 1 = (9 + 24) / (5 sqrt 45) = 33 / (5 sqrt 45)
 * psnr = 10 log10(36 / 1.25) */
Test(metrics, hand_computed)
{
    const float out[4] = {1, 2, 3, 4}, ref[4] = {1, 1, 3, 6};
    const double ref64[4] = {1, 1, 3, 6};
    ripple_metrics m, m64;
    cr_assert_eq(ripple_metrics_compute(2, 2, out, ref, &m), RIPPLE_OK);
    cr_assert_eq(ripple_metrics_compute_f64(2, 2, out, ref64, &m64), RIPPLE_OK);
    double cosine = 0.5 * (3.0 / sqrt(10.0) + 33.0 / (5.0 * sqrt(45.0)));
    const ripple_metrics *ms[2] = {&m, &m64};
    for (int i = 0; i < 2; i++) {
        cr_assert_float_eq(ms[i]->mse, 1.25, TOL);
        cr_assert_float_eq(ms[i]->max_abs, 2.0, TOL);
        cr_assert_float_eq(ms[i]->rel_l2, sqrt(5.0 / 47.0), TOL);
        cr_assert_float_eq(ms[i]->cosine, cosine, TOL);
        cr_assert_float_eq(ms[i]->psnr, 10.0 * log10(36.0 / 1.25), TOL);
    }
}

/* A float64 reference that is not a float: the difference is kept in double. */
Test(metrics, f64_reference_keeps_precision)
{
    const float out[1] = {1.0f};
    const double ref[1] = {1.0 + 1e-12};
    ripple_metrics m;
    cr_assert_eq(ripple_metrics_compute_f64(1, 1, out, ref, &m), RIPPLE_OK);
    cr_assert_float_eq(m.max_abs, 1e-12, 1e-15); /* 1 + 1e-12 rounds by ~1e-16 */
    cr_assert(isfinite(m.psnr) && m.psnr > 200.0);
}

Test(metrics, equal_arrays)
{
    const float a[6] = {1, -2, 3, 0.5f, 0, -7};
    ripple_metrics m;
    cr_assert_eq(ripple_metrics_compute(3, 2, a, a, &m), RIPPLE_OK);
    cr_assert_eq(m.mse, 0.0);
    cr_assert_eq(m.rel_l2, 0.0);
    cr_assert_eq(m.max_abs, 0.0);
    cr_assert(isinf(m.psnr) && m.psnr > 0);
    cr_assert_float_eq(m.cosine, 1.0, TOL);
}

/* Rows: both zero -> 1, out zero only -> 0, ref zero only -> 0, opposite -> -1.
 * mean = 0/4 = 0. */
Test(metrics, cosine_zero_rows)
{
    const float out[8] = {0, 0, 0, 0, 1, 2, 1, 1};
    const float ref[8] = {0, 0, 3, 4, 0, 0, -2, -2};
    ripple_metrics m;
    cr_assert_eq(ripple_metrics_compute(4, 2, out, ref, &m), RIPPLE_OK);
    cr_assert_float_eq(m.cosine, (1.0 + 0.0 + 0.0 - 1.0) / 4.0, TOL);
    const float z[2] = {0, 0}, one[2] = {0, 1};
    cr_assert_eq(ripple_metrics_compute(1, 2, z, z, &m), RIPPLE_OK);
    cr_assert_eq(m.cosine, 1.0);
    cr_assert_eq(m.rel_l2, 0.0);
    cr_assert_eq(ripple_metrics_compute(1, 2, one, z, &m), RIPPLE_OK);
    cr_assert_eq(m.cosine, 0.0);
    cr_assert(isinf(m.rel_l2));
    cr_assert(isinf(m.psnr) && m.psnr < 0); /* max|ref| = 0, mse > 0 */
}

Test(metrics, rejects_nonfinite)
{
    float out[4] = {1, 2, 3, 4}, ref[4] = {1, 2, 3, 4};
    double ref64[4] = {1, 2, 3, 4};
    ripple_metrics m;
    out[3] = NAN;
    cr_assert_eq(ripple_metrics_compute(2, 2, out, ref, &m), RIPPLE_ERR_NONFINITE);
    cr_assert(strstr(ripple_last_error(), "out[1, 1]"), "%s", ripple_last_error());
    out[3] = 4;
    ref[2] = -INFINITY;
    cr_assert_eq(ripple_metrics_compute(2, 2, out, ref, &m), RIPPLE_ERR_NONFINITE);
    cr_assert(strstr(ripple_last_error(), "ref[1, 0]"), "%s", ripple_last_error());
    ref64[1] = INFINITY;
    cr_assert_eq(ripple_metrics_compute_f64(2, 2, out, ref64, &m), RIPPLE_ERR_NONFINITE);
    cr_assert(strstr(ripple_last_error(), "ref[0, 1]"), "%s", ripple_last_error());
}

Test(metrics, rejects_bad_arguments)
{
    const float a[2] = {1, 2};
    ripple_metrics m;
    cr_assert_eq(ripple_metrics_compute(0, 2, a, a, &m), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_metrics_compute(1, -1, a, a, &m), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_metrics_compute(1, 2, NULL, a, &m), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_metrics_compute(1, 2, a, NULL, &m), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_metrics_compute(1, 2, a, a, NULL), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_metrics_compute_f64(1, 2, a, NULL, &m), RIPPLE_ERR_INVALID);
}
