/* The threshold ramp over denoising steps (method.md section 5), the one
 * definition every command uses: the struct, the ramp law, the ramp file
 * (`ripple fit` writes it, `eval/compare --ramp` read it), the per-step
 * threshold search by bisection, the least-squares fit of a ramp to per-step
 * thresholds, and the log-linear trend of an error curve over steps. Apart
 * from rampfit_load/rampfit_save, pure functions of their arguments.
 *
 * The ramp (zero-based steps, S = num_steps):
 *   theta_i = 0                                   for i < i_min and i = S-1
 *   theta_i = theta_start + (i - i_min) (theta_end - theta_start) / (i_max - i_min)
 *                                                 for i_min <= i <= i_max
 *   theta_i = theta_end                           for i_max < i < S-1
 * (i_min = i_max: theta_start at i_min, theta_end after it). The paper's
 * printed Eq. 4 drops theta_start and its Table 1 lists theta_max < theta_min;
 * this is the reading method.md fixes. */
#ifndef RIPPLE_RAMPFIT_H
#define RIPPLE_RAMPFIT_H

#include "ripple/ripple.h"

typedef struct rampfit_ramp {
    double theta_start, theta_end;
    int i_min, i_max;           /* zero-based, 0 <= i_min <= i_max */
    int num_steps;              /* S of the schedule */
    ripple_threshold_mode mode; /* what theta is: absolute (default) or alpha */
} rampfit_ramp;

/* theta of the ramp at a zero-based step (the law above). */
double rampfit_theta(const rampfit_ramp *r, int step);

/* ------------------------------------------------------------- ramp file */

/* Text file of "key value" lines: mode (absolute or channel, default
 * absolute), theta_start, theta_end (finite, >= 0), i_min, i_max,
 * num_steps (whole numbers, 0 <= i_min <= i_max < num_steps); blank lines
 * and # comments (also after a value) allowed. Unknown or repeated keys,
 * missing values, extra text, fractional or out-of-range step numbers and
 * NUL bytes are refused. Returns 0, or -1 with a one-line message naming
 * the file and line in err[RAMPFIT_ERR] (bytes of the file that are not
 * printable ASCII are shown as \xNN). */
#define RAMPFIT_ERR 512
int rampfit_load(const char *path, rampfit_ramp *r, char err[RAMPFIT_ERR]);
/* Writes the ramp atomically (temporary file + rename) with one comment
 * line; 0 or -1 (errno set). */
int rampfit_save(const char *path, const rampfit_ramp *r, const char *comment);

/* ------------------------------------------------------------- bisection */

/* Error as a function of the threshold: writes err(theta) to *err and
 * returns 0, or returns nonzero to stop the search (the caller's failure). */
typedef int (*rampfit_error_fn)(void *ctx, double theta, double *err);

typedef struct rampfit_bisect_opts {
    double start;   /* first upper bracket to try (> 0), e.g. the median window delta */
    double cap;     /* largest theta tried; beyond it err no longer changes */
    double rel_tol; /* stop when hi - lo <= rel_tol * hi; 0 = 1e-3 */
    int max_evals;  /* evaluations of err at most; 0 = 60 */
} rampfit_bisect_opts;

typedef struct rampfit_bisect_result {
    double theta;    /* largest theta found with err(theta) <= target */
    double err;      /* err(theta) (evaluated, never assumed) */
    double theta_hi; /* smallest theta seen with err > target; inf when none */
    double err_hi;   /* err(theta_hi); nan when none */
    int saturated;   /* err(cap) <= target: the target does not bound theta */
    int infeasible;  /* err(0) > target: even no reuse misses the target */
    int evals;       /* evaluations of err */
} rampfit_bisect_result;

/* Largest theta in [0, cap] with err(theta) <= target, assuming err grows
 * with theta: doubles from opts->start until err > target (or cap is
 * reached: saturated), then bisects the bracket. Returns 0, -1 on bad
 * arguments, or the nonzero value f returned. */
int rampfit_bisect(rampfit_error_fn f, void *ctx, double target, const rampfit_bisect_opts *opts,
                   rampfit_bisect_result *out);

/* ------------------------------------------------------------ ramp fitting */

typedef struct rampfit_fit_result {
    rampfit_ramp ramp;
    double sse;  /* sum over the used steps of (theta_ramp - theta_measured)^2 */
    double rms;  /* sqrt(sse / used) */
    int used;    /* measured steps used (those in [0, S-2]) */
    int ties;    /* other (i_min, i_max) with the same sse (within rounding) */
} rampfit_fit_result;

/* Fits a ramp to measured per-step thresholds theta[k] at zero-based steps
 * steps[k] (distinct, any order; steps >= S-1 are ignored: theta is 0 at
 * the last step by definition). Every pair 0 <= i_min <= i_max <= S-2 is
 * tried; for each, theta_start and theta_end >= 0 minimise the squared
 * residual in closed form (the ramp is linear in them). The smallest
 * residual wins; among equal residuals (sparse captures leave the steps
 * between captured ones undetermined) the ramp with the least sum of theta
 * over all S steps, i.e. the one that reuses least where no capture says
 * how much is safe (then the largest i_min, then the smallest i_max).
 * Returns 0, or -1 when no step is usable or an argument is bad. */
int rampfit_fit(int n, const int *steps, const double *theta, int num_steps, rampfit_fit_result *out);

/* ------------------------------------------------------------------ trend */

/* Least-squares line log10(y) = intercept + slope * x over the points with
 * y > 0 and finite. Returns the number of points used; slope and intercept
 * are nan when fewer than 2 points (or all x equal). */
int rampfit_trend_log10(int n, const double *x, const double *y, double *slope, double *intercept);

#endif
