#include "verdict.h"

#include <math.h>

const char *verdict_word(verdict_kind v)
{
    static const char *const words[] = {"cannot tell", "**agree**", "**partly**", "**disagree**"};
    return words[v >= VERDICT_CANNOT_TELL && v <= VERDICT_DISAGREE ? v : VERDICT_CANNOT_TELL];
}

/* agree when every judged case agrees, partly when some do */
static verdict_kind of_count(int agree, int judged)
{
    return judged && agree == judged ? VERDICT_AGREE : agree ? VERDICT_PARTLY : VERDICT_DISAGREE;
}

verdict_kind verdict_window(int n, const double *s_score, const double *mse)
{
    if (n < 1) return VERDICT_CANNOT_TELL;
    int up = 1;
    for (int k = 1; k < n; k++) up &= !(s_score[k] < s_score[k - 1]) && !(mse[k] < mse[k - 1]);
    return up ? VERDICT_AGREE : VERDICT_DISAGREE;
}

verdict_kind verdict_groups(int ngroups, const int *own, const double mse[][3], int *worst, int *agree, int *judged)
{
    *agree = *judged = 0;
    for (int g = 0; g < ngroups; g++) {
        int best = -1;
        for (int a = 0; a < 3; a++)
            if (!isnan(mse[g][a]) && (best < 0 || mse[g][a] > mse[g][best])) best = a;
        worst[g] = best;
        if (own[g] < 0 || best < 0) continue;
        ++*judged;
        *agree += best == own[g];
    }
    return of_count(*agree, *judged);
}

verdict_kind verdict_steps(int n, const double *mse, double *early, double *late)
{
    *early = *late = NAN;
    if (n < 2) return VERDICT_CANNOT_TELL;
    int h = n / 2;
    double e = 0, l = 0;
    for (int i = 0; i < h; i++) e += mse[i];
    for (int i = n - h; i < n; i++) l += mse[i];
    *early = e / h, *late = l / h;
    return *early > *late ? VERDICT_AGREE : VERDICT_DISAGREE;
}

verdict_kind verdict_fit(const rampfit_ramp *ramp)
{
    if (!ramp) return VERDICT_CANNOT_TELL;
    return ramp->theta_end >= ramp->theta_start ? VERDICT_AGREE : VERDICT_DISAGREE;
}

verdict_kind verdict_compare(int n, const double *reuse, const double *skip, const double *magnitude, int *agree,
                        int *judged)
{
    *agree = *judged = 0;
    for (int l = 0; l < n; l++) {
        if (isnan(reuse[l]) || isnan(skip[l])) continue;
        ++*judged;
        *agree += reuse[l] < skip[l] && (isnan(magnitude[l]) || reuse[l] < magnitude[l]);
    }
    return of_count(*agree, *judged);
}
