/* The verdicts of `ripple paper`: for each experiment, whether these
 * captures agree with what the paper claims, by the numeric criterion that
 * the index states beside it. Pure functions of the experiment's numbers
 * (means over units, read from its tables), so each one is tested on
 * numbers built to agree and to disagree. */
#ifndef RIPPLE_VERDICT_H
#define RIPPLE_VERDICT_H

#include "rampfit.h"

typedef enum verdict_kind {
    VERDICT_CANNOT_TELL = 0, /* too few numbers to judge */
    VERDICT_AGREE,
    VERDICT_PARTLY, /* some of the judged cases agree */
    VERDICT_DISAGREE
} verdict_kind;

/* "**agree**", "**partly**", "**disagree**", "cannot tell". */
const char *verdict_word(verdict_kind v);

/* agree of judged cases: all agree, some partly, none disagree; none
 * judged: cannot tell. */
verdict_kind verdict_count(int agree, int judged);

/* Fig. 11, Sec. 4.4 "window 2 is the best trade-off", at matched savings:
 * for each window size w (w[0] must be 2: the reference), a curve of
 * (s_score[w][k], mse[w][k]) over the thresholds k = 0..nk-1 of a sweep
 * (any order; nan points skipped). At each s_score of window 2's curve,
 * every other size's MSE is interpolated (linear in s_score, log in MSE)
 * between its two nearest points on either side; a size whose curve does
 * not reach that s_score is not judged there. out_mse[w][k] (nan: not
 * judged) receives those MSEs. Judged pairs where window 2's MSE is the
 * lower: all agree, some partly, none disagree. */
#define VERDICT_MAX_SWEEP 16
verdict_kind verdict_window_matched(int nw, int nk, const double s_score[][VERDICT_MAX_SWEEP],
                                    const double mse[][VERDICT_MAX_SWEEP], double out_mse[][VERDICT_MAX_SWEEP],
                                    int *agree, int *judged);

/* Fig. 11, Sec. 4.4 at the threshold of window 2 (one threshold regime):
 * window sizes w[0..nw-1] in increasing order with mean s_score and MSE.
 * The paper's shape: window 4 reuses more than window 2 and errs more
 * (s_score and MSE of 4 above those of 2), and every size above 4 saves
 * less than 4. Agree when both hold, partly when one does, disagree when
 * neither; cannot tell when the run lacks window 2, window 4 or a size above 4
 * (then only the first part is judged: agree or disagree on it). */
verdict_kind verdict_window_shape(int nw, const int *w, const double *s_score, const double *mse, int *more_at_4,
                                  int *less_above_4);

/* Fig. 5: for each channel group g (own[g] its RoPE axis, 0..2, or -1 when
 * unknown), the reuse axis with the largest mean MSE mse[g][axis] (nan:
 * not measured) is its own axis. worst[g]: that axis (-1 when none);
 * *agree of *judged groups. All agree: agree; some: partly. */
verdict_kind verdict_groups(int ngroups, const int *own, const double mse[][3], int *worst, int *agree, int *judged);

/* Fig. 8, 9: the mean MSE over the earlier half of the steps (in order)
 * exceeds that of the later half (*early, *late); fewer than 2 steps:
 * cannot tell. */
verdict_kind verdict_steps(int n, const double *mse, double *early, double *late);

/* Table 1, Sec. 3.3 "thresholds such that they induce the same MSE at each
 * step": the ratio of the ramp's per-step MSE to the target, ratio[0..n-1],
 * over the captured steps where the ramp reuses (theta > 0). A ratio within
 * [1/tol, tol] is equalised: all steps agree, some partly, none disagree;
 * fewer than 3 steps: cannot tell (the ramp's two thresholds fit two steps
 * exactly). *lo and *hi: the smallest and largest ratio. */
verdict_kind verdict_fit(int n, const double *ratio, double tol, double *lo, double *hi);

/* Fig. 8 "all prompts show similar trends", with np prompts (captures) of
 * ns steps each, mse[p * ns + s] (the same steps, in order; nan where a
 * prompt lacks a step), on the *common steps that every prompt holds: every
 * prompt shows the early-steps trend (verdict_steps) and every pair of
 * prompts has a Pearson correlation of log MSE over those steps >= min_corr.
 * All: agree; the trend in every prompt but a pair below min_corr: partly; a
 * prompt without the trend: disagree; fewer than 2 prompts or 3 common
 * steps: cannot tell. *min_seen: the smallest pairwise correlation (nan when
 * not computed). */
verdict_kind verdict_prompts(int np, int ns, const double *mse, double min_corr, double *min_seen, int *common);

/* Fig. 7: at each savings level l, reuse[l] < skip[l] and reuse[l] <
 * magnitude[l] (a nan magnitude is not compared; a level with reuse or skip
 * nan is not judged). All judged levels: agree; some: partly. */
verdict_kind verdict_compare(int n, const double *reuse, const double *skip, const double *magnitude, int *agree,
                        int *judged);

/* Tables 2-4 end to end (ripple quality): y at x0 on the curve of n
 * points (x[k], y[k]) (any order; points with a non-finite x or y are
 * left out), linear between the nearest points on either side of x0 (a
 * point at x0 itself: its y, the mean of several); nan when no point lies
 * on one side (the curve does not reach x0). */
double verdict_interp_linear(int n, const double *x, const double *y, double x0);

/* Tables 2-4 at matched savings: at each level l, method a is better than
 * method b when its PSNR and its SSIM are both higher (psnr +inf above any
 * finite value); a level where any of the four is nan is not judged. All
 * judged levels: agree; some: partly; none: disagree; no level judged:
 * cannot tell. */
verdict_kind verdict_quality_matched(int n, const double *psnr_a, const double *ssim_a, const double *psnr_b,
                                     const double *ssim_b, int *agree, int *judged);

#endif
