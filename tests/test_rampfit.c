/* rampfit: the ramp law, exact recovery of planted ramps from per-step
 * thresholds, the bisection search and the log-linear trend. */
#include "rampfit.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

/* A fit that reproduces its data exactly has a residual at rounding level:
 * thetas are O(1), 50 steps, double precision. */
#define EXACT_TOL 1e-9

/* The paper's Table 1 (1-based, 50 steps) converted to zero-based steps. */
static const rampfit_ramp paper[] = {
    {0.2, 0.5, 9, 19, 50, RIPPLE_THRESHOLD_ABSOLUTE},  /* HunyuanVideo */
    {0.4, 0.6, 9, 47, 50, RIPPLE_THRESHOLD_ABSOLUTE},  /* Wan2.1 */
    {0.2, 0.5, 9, 27, 50, RIPPLE_THRESHOLD_ABSOLUTE},  /* CogVideoX */
    {0.4, 0.8, 19, 47, 50, RIPPLE_THRESHOLD_ABSOLUTE}, /* Open-Sora-Plan */
};

Test(rampfit, theta_follows_the_law)
{
    const rampfit_ramp r = {0.2, 0.5, 9, 19, 50, RIPPLE_THRESHOLD_ABSOLUTE};
    cr_expect_eq(rampfit_theta(&r, 0), 0.0);
    cr_expect_eq(rampfit_theta(&r, 8), 0.0);
    cr_expect_float_eq(rampfit_theta(&r, 9), 0.2, 1e-15);
    cr_expect_float_eq(rampfit_theta(&r, 14), 0.35, 1e-15);
    cr_expect_float_eq(rampfit_theta(&r, 19), 0.5, 1e-15);
    cr_expect_float_eq(rampfit_theta(&r, 20), 0.5, 1e-15);
    cr_expect_float_eq(rampfit_theta(&r, 48), 0.5, 1e-15);
    cr_expect_eq(rampfit_theta(&r, 49), 0.0, "the last step never reuses");
    const rampfit_ramp one = {0.3, 0.7, 5, 5, 10, RIPPLE_THRESHOLD_ABSOLUTE};
    cr_expect_eq(rampfit_theta(&one, 4), 0.0);
    cr_expect_eq(rampfit_theta(&one, 5), 0.3);
    cr_expect_eq(rampfit_theta(&one, 6), 0.7);
    cr_expect_eq(rampfit_theta(&one, 9), 0.0);
}

static void plant(const rampfit_ramp *r, int n, const int *steps, double *theta)
{
    for (int k = 0; k < n; k++) theta[k] = rampfit_theta(r, steps[k]);
}

Test(rampfit, recovers_planted_ramps_exactly_from_every_step)
{
    int steps[50];
    double theta[50];
    for (int i = 0; i < 50; i++) steps[i] = i;
    for (size_t p = 0; p < sizeof paper / sizeof paper[0]; p++) {
        plant(&paper[p], 50, steps, theta);
        rampfit_fit_result f;
        cr_assert_eq(rampfit_fit(50, steps, theta, 50, &f), 0);
        cr_expect_eq(f.ramp.i_min, paper[p].i_min, "ramp %zu: i_min %d", p, f.ramp.i_min);
        cr_expect_eq(f.ramp.i_max, paper[p].i_max, "ramp %zu: i_max %d", p, f.ramp.i_max);
        cr_expect_float_eq(f.ramp.theta_start, paper[p].theta_start, EXACT_TOL, "ramp %zu", p);
        cr_expect_float_eq(f.ramp.theta_end, paper[p].theta_end, EXACT_TOL, "ramp %zu", p);
        cr_expect_eq(f.ramp.num_steps, 50);
        cr_expect_eq(f.used, 49, "the last step is not used");
        cr_expect_lt(f.rms, EXACT_TOL);
        cr_expect_eq(f.ties, 0, "ramp %zu: the fit is unique", p);
    }
}

Test(rampfit, recovers_a_decreasing_and_a_short_schedule)
{
    int steps[20];
    double theta[20];
    for (int i = 0; i < 20; i++) steps[i] = i;
    const rampfit_ramp down = {0.9, 0.1, 3, 12, 20, RIPPLE_THRESHOLD_ABSOLUTE};
    plant(&down, 20, steps, theta);
    rampfit_fit_result f;
    cr_assert_eq(rampfit_fit(20, steps, theta, 20, &f), 0);
    cr_expect_eq(f.ramp.i_min, 3);
    cr_expect_eq(f.ramp.i_max, 12);
    cr_expect_float_eq(f.ramp.theta_start, 0.9, EXACT_TOL);
    cr_expect_float_eq(f.ramp.theta_end, 0.1, EXACT_TOL);

    const rampfit_ramp jump = {0.25, 0.75, 4, 4, 8, RIPPLE_THRESHOLD_ABSOLUTE}; /* i_min = i_max */
    plant(&jump, 8, steps, theta);
    cr_assert_eq(rampfit_fit(8, steps, theta, 8, &f), 0);
    cr_expect_eq(f.ramp.i_min, 4);
    cr_expect_eq(f.ramp.i_max, 4);
    cr_expect_float_eq(f.ramp.theta_start, 0.25, EXACT_TOL);
    cr_expect_float_eq(f.ramp.theta_end, 0.75, EXACT_TOL);
}

Test(rampfit, recovers_steps_and_thetas_from_noisy_thresholds)
{
    tu_rng rng = {20251112};
    int steps[50];
    double theta[50];
    for (int i = 0; i < 50; i++) steps[i] = i;
    for (size_t p = 0; p < sizeof paper / sizeof paper[0]; p++) {
        plant(&paper[p], 50, steps, theta);
        /* 1% noise on the reusing steps: far below the jump at i_min */
        for (int i = 0; i < 50; i++)
            if (theta[i] > 0) theta[i] *= 1 + 0.01 * tu_normal(&rng);
        rampfit_fit_result f;
        cr_assert_eq(rampfit_fit(50, steps, theta, 50, &f), 0);
        cr_expect_eq(f.ramp.i_min, paper[p].i_min, "ramp %zu (seed 20251112)", p);
        cr_expect_leq(abs(f.ramp.i_max - paper[p].i_max), 1, "ramp %zu: i_max %d", p, f.ramp.i_max);
        cr_expect_float_eq(f.ramp.theta_start, paper[p].theta_start, 0.03, "ramp %zu", p);
        cr_expect_float_eq(f.ramp.theta_end, paper[p].theta_end, 0.03, "ramp %zu", p);
        cr_expect_lt(f.rms, 0.02);
    }
}

Test(rampfit, sparse_steps_give_the_least_reusing_exact_fit)
{
    /* captured every 5 steps and the last one, as real captures do */
    int steps[11];
    double theta[11];
    for (int k = 0; k < 10; k++) steps[k] = 5 * k;
    steps[10] = 49;
    const rampfit_ramp hy = paper[0]; /* 0.2 -> 0.5 over steps 9..19 */
    plant(&hy, 11, steps, theta);
    rampfit_fit_result f;
    cr_assert_eq(rampfit_fit(11, steps, theta, 50, &f), 0);
    for (int k = 0; k < 11; k++)
        cr_expect_float_eq(rampfit_theta(&f.ramp, steps[k]), theta[k], EXACT_TOL, "step %d", steps[k]);
    /* steps 6..9 are undetermined: start at the first captured reusing step */
    cr_expect_eq(f.ramp.i_min, 10);
    cr_expect_eq(f.ramp.i_max, 19, "the line through steps 10 and 15 meets 0.5 at 19");
    cr_expect_gt(f.ties, 0, "other starts 6..9 fit equally");
    for (int i = 0; i < 50; i++)
        cr_expect_leq(rampfit_theta(&f.ramp, i), rampfit_theta(&hy, i) + EXACT_TOL,
                      "never reuses more than the planted ramp (step %d)", i);
}

Test(rampfit, thresholds_are_never_negative)
{
    int steps[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    /* a falling line that would extrapolate below zero */
    double theta[10] = {0, 0, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.0, 0.0};
    rampfit_fit_result f;
    cr_assert_eq(rampfit_fit(10, steps, theta, 10, &f), 0);
    cr_expect_geq(f.ramp.theta_start, 0);
    cr_expect_geq(f.ramp.theta_end, 0);
    cr_expect_eq(f.ramp.i_min, 2);
    cr_expect_float_eq(f.ramp.theta_start, 0.5, EXACT_TOL);
    cr_expect_float_eq(f.ramp.theta_end, 0.0, EXACT_TOL);
    cr_expect_lt(f.rms, EXACT_TOL);

    double zero[10] = {0};
    cr_assert_eq(rampfit_fit(10, steps, zero, 10, &f), 0);
    for (int i = 0; i < 10; i++) cr_expect_eq(rampfit_theta(&f.ramp, i), 0.0);
}

Test(rampfit, bad_input_is_refused)
{
    int steps[3] = {0, 1, 9};
    double theta[3] = {0.1, 0.2, 0.3};
    rampfit_fit_result f;
    cr_expect_eq(rampfit_fit(3, steps, theta, 1, &f), -1, "one step: no ramp");
    int last[1] = {9};
    cr_expect_eq(rampfit_fit(1, last, theta, 10, &f), -1, "only the last step");
    double bad[3] = {0.1, NAN, 0.3};
    cr_expect_eq(rampfit_fit(3, steps, bad, 10, &f), -1);
    double neg[3] = {0.1, -0.2, 0.3};
    cr_expect_eq(rampfit_fit(3, steps, neg, 10, &f), -1);
    cr_expect_eq(rampfit_fit(0, steps, theta, 10, &f), -1);
}

/* ------------------------------------------------------------- bisection */

typedef struct {
    int kind, calls, fail_at;
} fctx;

static int err_fn(void *ctx, double theta, double *err)
{
    fctx *c = ctx;
    if (++c->calls == c->fail_at) return 7;
    switch (c->kind) {
    case 0: *err = theta * theta; break;                     /* smooth, grows */
    case 1: *err = 0.1 * fmin(theta, 1.0); break;            /* saturates at 0.1 */
    case 2: *err = 1 + theta; break;                         /* never within target */
    default: *err = floor(theta * 10) / 10; break;           /* step function */
    }
    return 0;
}

Test(rampfit, bisection_finds_the_largest_theta_within_target)
{
    fctx c = {0, 0, 0};
    rampfit_bisect_opts o = {0.01, 100, 1e-6, 0};
    rampfit_bisect_result r;
    cr_assert_eq(rampfit_bisect(err_fn, &c, 0.25, &o, &r), 0);
    cr_expect_float_eq(r.theta, 0.5, 1e-6);
    cr_expect_leq(r.err, 0.25);
    cr_expect_gt(r.err_hi, 0.25);
    cr_expect_leq(r.theta_hi - r.theta, 1e-6 * r.theta_hi);
    cr_expect_eq(r.evals, c.calls);
    cr_expect(!r.saturated && !r.infeasible);

    c = (fctx){3, 0, 0};
    cr_assert_eq(rampfit_bisect(err_fn, &c, 0.35, &o, &r), 0);
    cr_expect_lt(r.theta, 0.4);
    cr_expect_gt(r.theta, 0.4 - 1e-5);
    cr_expect_float_eq(r.err, 0.3, 1e-12);
}

Test(rampfit, bisection_reports_saturation_infeasibility_and_failure)
{
    rampfit_bisect_opts o = {0.01, 8, 1e-3, 0};
    rampfit_bisect_result r;
    fctx c = {1, 0, 0};
    cr_assert_eq(rampfit_bisect(err_fn, &c, 1.0, &o, &r), 0);
    cr_expect(r.saturated);
    cr_expect_eq(r.theta, 8.0, "the cap");
    cr_expect(isinf(r.theta_hi));

    c = (fctx){2, 0, 0};
    cr_assert_eq(rampfit_bisect(err_fn, &c, 0.5, &o, &r), 0);
    cr_expect(r.infeasible);
    cr_expect_eq(r.theta, 0.0);
    cr_expect_float_eq(r.err, 1.0, 1e-15, "err(0) evaluated, not assumed");

    c = (fctx){0, 0, 3};
    cr_expect_eq(rampfit_bisect(err_fn, &c, 0.25, &o, &r), 7, "the callback's failure comes back");

    rampfit_bisect_opts bad = {0, 8, 0, 0};
    cr_expect_eq(rampfit_bisect(err_fn, &c, 0.25, &bad, &r), -1);
    cr_expect_eq(rampfit_bisect(err_fn, &c, -1, &o, &r), -1);
}

Test(rampfit, bisection_respects_the_evaluation_budget)
{
    fctx c = {0, 0, 0};
    rampfit_bisect_opts o = {1e-6, 1e6, 1e-12, 12};
    rampfit_bisect_result r;
    cr_assert_eq(rampfit_bisect(err_fn, &c, 0.25, &o, &r), 0);
    cr_expect_leq(r.evals, 13, "budget, plus err(0) only when nothing was within target");
    cr_expect_leq(r.err, 0.25);
}

/* ------------------------------------------------------------------ trend */

Test(rampfit, log_trend_recovers_an_exponential)
{
    double x[8], y[8];
    for (int i = 0; i < 8; i++) {
        x[i] = i;
        y[i] = pow(10, 2 - 0.5 * i);
    }
    y[3] = 0; /* a step with no reuse: ignored */
    double slope, icpt;
    cr_expect_eq(rampfit_trend_log10(8, x, y, &slope, &icpt), 7);
    cr_expect_float_eq(slope, -0.5, 1e-12);
    cr_expect_float_eq(icpt, 2.0, 1e-12);
    cr_expect_eq(rampfit_trend_log10(1, x, y, &slope, &icpt), 1);
    cr_expect(isnan(slope) && isnan(icpt));
}
