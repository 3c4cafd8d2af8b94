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

verdict_kind verdict_count(int agree, int judged) { return judged ? of_count(agree, judged) : VERDICT_CANNOT_TELL; }

/* log MSE of curve (s, m) at s_score x, from its nearest points at or
 * below and at or above x; nan when the curve does not reach x. */
static double interp_log(int nk, const double *s, const double *m, double x)
{
    int lo = -1, hi = -1;
    for (int k = 0; k < nk; k++) {
        if (isnan(s[k]) || !(m[k] > 0)) continue;
        if (s[k] <= x && (lo < 0 || s[k] > s[lo])) lo = k;
        if (s[k] >= x && (hi < 0 || s[k] < s[hi])) hi = k;
    }
    if (lo < 0 || hi < 0) return NAN;
    if (s[hi] == s[lo]) return log(m[lo]);
    double f = (x - s[lo]) / (s[hi] - s[lo]);
    return log(m[lo]) + f * (log(m[hi]) - log(m[lo]));
}

verdict_kind verdict_window_matched(int nw, int nk, const double s_score[][VERDICT_MAX_SWEEP],
                                    const double mse[][VERDICT_MAX_SWEEP], double out_mse[][VERDICT_MAX_SWEEP],
                                    int *agree, int *judged)
{
    *agree = *judged = 0;
    for (int w = 0; w < nw; w++)
        for (int k = 0; k < nk; k++) out_mse[w][k] = NAN;
    if (nw < 2 || nk < 1) return VERDICT_CANNOT_TELL;
    for (int k = 0; k < nk; k++) {
        double x = s_score[0][k];
        if (isnan(x) || !(mse[0][k] > 0)) continue;
        out_mse[0][k] = mse[0][k];
        for (int w = 1; w < nw; w++) {
            double l = interp_log(nk, s_score[w], mse[w], x);
            if (isnan(l)) continue;
            out_mse[w][k] = exp(l);
            ++*judged;
            *agree += mse[0][k] <= out_mse[w][k];
        }
    }
    return verdict_count(*agree, *judged);
}

verdict_kind verdict_window_shape(int nw, const int *w, const double *s_score, const double *mse, int *more_at_4,
                                  int *less_above_4)
{
    int i2 = -1, i4 = -1, above = 0, less = 1;
    for (int i = 0; i < nw; i++) {
        if (w[i] == 2) i2 = i;
        if (w[i] == 4) i4 = i;
    }
    *more_at_4 = *less_above_4 = -1;
    if (i2 < 0 || i4 < 0) return VERDICT_CANNOT_TELL;
    *more_at_4 = s_score[i4] > s_score[i2] && mse[i4] > mse[i2];
    for (int i = 0; i < nw; i++)
        if (w[i] > 4) above = 1, less &= s_score[i] < s_score[i4];
    if (!above) return *more_at_4 ? VERDICT_AGREE : VERDICT_DISAGREE;
    *less_above_4 = less;
    return of_count(*more_at_4 + *less_above_4, 2);
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

verdict_kind verdict_fit(int n, const double *ratio, double tol, double *lo, double *hi)
{
    int agree = 0, judged = 0;
    *lo = *hi = NAN;
    for (int i = 0; i < n; i++) {
        if (isnan(ratio[i])) continue;
        if (!judged || ratio[i] < *lo) *lo = ratio[i];
        if (!judged || ratio[i] > *hi) *hi = ratio[i];
        judged++;
        agree += ratio[i] >= 1 / tol && ratio[i] <= tol;
    }
    /* two free values (theta_start, theta_end) fit two steps exactly: a test needs a third */
    return judged >= 3 ? of_count(agree, judged) : VERDICT_CANNOT_TELL;
}

verdict_kind verdict_prompts(int np, int all_steps, const double *all_mse, double min_corr, double *min_seen,
                             int *common)
{
    *min_seen = NAN;
    /* the steps every prompt holds */
    int keep[all_steps > 0 ? all_steps : 1], ns = 0;
    for (int s = 0; s < all_steps; s++) {
        int all = 1;
        for (int p = 0; p < np; p++) all &= !isnan(all_mse[(size_t)p * (size_t)all_steps + (size_t)s]);
        if (all) keep[ns++] = s;
    }
    *common = ns;
    if (np < 2 || ns < 3) return VERDICT_CANNOT_TELL;
    double mse[np * ns];
    for (int p = 0; p < np; p++)
        for (int k = 0; k < ns; k++) mse[p * ns + k] = all_mse[(size_t)p * (size_t)all_steps + (size_t)keep[k]];
    int trend = 1, corr_ok = 1;
    for (int p = 0; p < np; p++) {
        double e, l;
        trend &= verdict_steps(ns, mse + (size_t)p * ns, &e, &l) == VERDICT_AGREE;
    }
    for (int a = 0; a < np; a++)
        for (int b = a + 1; b < np; b++) {
            double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
            for (int s = 0; s < ns; s++) ma += log(mse[a * ns + s]) / ns, mb += log(mse[b * ns + s]) / ns;
            for (int s = 0; s < ns; s++) {
                double x = log(mse[a * ns + s]) - ma, y = log(mse[b * ns + s]) - mb;
                sab += x * y, saa += x * x, sbb += y * y;
            }
            double c = saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
            if (isnan(*min_seen) || !(c >= *min_seen)) *min_seen = c;
            corr_ok &= c >= min_corr;
        }
    return !trend ? VERDICT_DISAGREE : corr_ok ? VERDICT_AGREE : VERDICT_PARTLY;
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

double verdict_interp_linear(int n, const double *x, const double *y, double x0)
{
    double xl = -INFINITY, yl = NAN, xr = INFINITY, yr = NAN, at = 0;
    int nat = 0;
    for (int k = 0; k < n; k++) {
        if (!isfinite(x[k]) || !isfinite(y[k])) continue;
        if (x[k] == x0) at += y[k], nat++;
        else if (x[k] < x0 && x[k] > xl) xl = x[k], yl = y[k];
        else if (x[k] > x0 && x[k] < xr) xr = x[k], yr = y[k];
    }
    if (nat) return at / nat;
    if (isnan(yl) || isnan(yr)) return NAN;
    return yl + (yr - yl) * (x0 - xl) / (xr - xl);
}

verdict_kind verdict_quality_matched(int n, const double *psnr_a, const double *ssim_a, const double *psnr_b,
                                     const double *ssim_b, int *agree, int *judged)
{
    *agree = *judged = 0;
    for (int l = 0; l < n; l++) {
        if (isnan(psnr_a[l]) || isnan(ssim_a[l]) || isnan(psnr_b[l]) || isnan(ssim_b[l])) continue;
        (*judged)++;
        *agree += psnr_a[l] > psnr_b[l] && ssim_a[l] > ssim_b[l];
    }
    if (!*judged) return VERDICT_CANNOT_TELL;
    return *agree == *judged ? VERDICT_AGREE : *agree ? VERDICT_PARTLY : VERDICT_DISAGREE;
}
