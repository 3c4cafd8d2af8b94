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

/* Fig. 11: mean score savings and mean MSE per window size (sizes in
 * increasing order) both never decrease from one size to the next. */
verdict_kind verdict_window(int n, const double *s_score, const double *mse);

/* Fig. 5: for each channel group g (own[g] its RoPE axis, 0..2, or -1 when
 * unknown), the reuse axis with the largest mean MSE mse[g][axis] (nan:
 * not measured) is its own axis. worst[g]: that axis (-1 when none);
 * *agree of *judged groups. All agree: agree; some: partly. */
verdict_kind verdict_groups(int ngroups, const int *own, const double mse[][3], int *worst, int *agree, int *judged);

/* Fig. 8, 9: the mean MSE over the earlier half of the steps (in order)
 * exceeds that of the later half (*early, *late); fewer than 2 steps:
 * cannot tell. */
verdict_kind verdict_steps(int n, const double *mse, double *early, double *late);

/* Table 1: the fitted ramp rises (theta_end >= theta_start); NULL (no
 * ramp): cannot tell. */
verdict_kind verdict_fit(const rampfit_ramp *ramp);

/* Fig. 7: at each savings level l, reuse[l] < skip[l] and reuse[l] <
 * magnitude[l] (a nan magnitude is not compared; a level with reuse or skip
 * nan is not judged). All judged levels: agree; some: partly. */
verdict_kind verdict_compare(int n, const double *reuse, const double *skip, const double *magnitude, int *agree,
                        int *judged);

#endif
