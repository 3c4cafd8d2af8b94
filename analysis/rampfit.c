#include "rampfit.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

double rampfit_theta(const rampfit_ramp *r, int step)
{
    if (step < r->i_min || step >= r->num_steps - 1) return 0.0;
    if (step > r->i_max) return r->theta_end;
    if (r->i_max == r->i_min) return r->theta_start;
    return r->theta_start + (double)(step - r->i_min) * (r->theta_end - r->theta_start) /
                                (double)(r->i_max - r->i_min);
}

/* ------------------------------------------------------------- ramp file */

/* Copies s (n bytes) into dst[size] with bytes outside printable ASCII as
 * \xNN, cut to fit: text from a file is never echoed raw. */
static const char *printable(char *dst, size_t size, const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char one[5] = {(char)c, 0};
        if (c < 0x20 || c >= 0x7f || c == '\\') snprintf(one, sizeof one, "\\x%02x", c);
        size_t len = strlen(one);
        if (k + len + 4 >= size) {
            if (k + 4 <= size) memcpy(dst + k, "...", 3), k += 3;
            break;
        }
        memcpy(dst + k, one, len);
        k += len;
    }
    if (size) dst[k] = '\0';
    return dst;
}

/* Reads one whole integer in [lo, hi] from s; 0 on success. */
static int ramp_int(const char *s, long long lo, long long hi, int *out)
{
    if (!*s || strspn(s, "+-0123456789") != strlen(s)) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

int rampfit_load(const char *path, rampfit_ramp *r, char err[RAMPFIT_ERR])
{
    static const char *const keys[] = {"mode", "theta_start", "theta_end", "i_min", "i_max", "num_steps"};
    enum { K_MODE, K_START, K_END, K_IMIN, K_IMAX, K_STEPS, K_COUNT };
    static const char hint[] = "keys: mode, theta_start, theta_end, i_min, i_max, num_steps; `ripple fit` writes ramps";
    char shown[200];
    printable(shown, sizeof shown, path, strlen(path));
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, RAMPFIT_ERR, "cannot open ramp %s: %s", shown, strerror(errno));
        return -1;
    }
    memset(r, 0, sizeof *r);
    int seen[K_COUNT] = {0}, lineno = 0, rc = -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)len)) {
            snprintf(err, RAMPFIT_ERR, "%s:%d: a NUL byte: not a ramp text file (%s)", shown, lineno, hint);
            goto done;
        }
        if (len && line[len - 1] == '\n') line[--len] = '\0';
        if (len && line[len - 1] == '\r') line[--len] = '\0';
        /* tokens: key, value, then only an optional # comment */
        char *p = line + strspn(line, " \t");
        if (!*p || *p == '#') continue;
        char *key = p;
        p += strcspn(p, " \t");
        char *val = p + strspn(p, " \t");
        if (*p) *p = '\0';
        char *vend = val + strcspn(val, " \t");
        char *rest = vend + strspn(vend, " \t");
        char ks[64], vs[64];
        printable(ks, sizeof ks, key, strlen(key));
        if (!*val || *val == '#') {
            snprintf(err, RAMPFIT_ERR, "%s:%d: '%s' has no value (expected 'key value')", shown, lineno, ks);
            goto done;
        }
        if (*rest && *rest != '#') {
            printable(vs, sizeof vs, rest, strlen(rest));
            snprintf(err, RAMPFIT_ERR, "%s:%d: unexpected text '%s' after the value of %s", shown, lineno, vs, ks);
            goto done;
        }
        *vend = '\0';
        printable(vs, sizeof vs, val, strlen(val));
        int k = 0;
        while (k < K_COUNT && strcmp(key, keys[k])) k++;
        if (k == K_COUNT) {
            snprintf(err, RAMPFIT_ERR, "%s:%d: unknown key '%s' (%s)", shown, lineno, ks, hint);
            goto done;
        }
        if (seen[k]) {
            snprintf(err, RAMPFIT_ERR, "%s:%d: %s given twice", shown, lineno, ks);
            goto done;
        }
        seen[k] = 1;
        const char *bad = NULL;
        if (k == K_MODE) {
            if (!strcmp(val, "absolute")) r->mode = RIPPLE_THRESHOLD_ABSOLUTE;
            else if (!strcmp(val, "channel")) r->mode = RIPPLE_THRESHOLD_CHANNEL;
            else bad = "absolute or channel";
        } else if (k == K_START || k == K_END) {
            char *end;
            double v = strtod(val, &end);
            if (*end || !isfinite(v) || v < 0) bad = "a finite number >= 0";
            else *(k == K_START ? &r->theta_start : &r->theta_end) = v;
        } else if (k == K_STEPS) {
            if (ramp_int(val, 1, INT32_MAX, &r->num_steps)) bad = "a whole number of steps >= 1";
        } else if (ramp_int(val, 0, INT32_MAX, k == K_IMIN ? &r->i_min : &r->i_max)) {
            bad = "a whole zero-based step >= 0";
        }
        if (bad) {
            snprintf(err, RAMPFIT_ERR, "%s:%d: bad value '%s' for %s (must be %s)", shown, lineno, vs, ks, bad);
            goto done;
        }
    }
    if (ferror(f)) {
        snprintf(err, RAMPFIT_ERR, "cannot read ramp %s: %s", shown, strerror(errno));
        goto done;
    }
    if (!seen[K_START] || !seen[K_END] || !seen[K_IMIN] || !seen[K_IMAX] || !seen[K_STEPS]) {
        snprintf(err, RAMPFIT_ERR, "%s: a ramp needs theta_start, theta_end, i_min, i_max and num_steps", shown);
        goto done;
    }
    if (r->i_max < r->i_min || r->i_max >= r->num_steps) {
        snprintf(err, RAMPFIT_ERR, "%s: need 0 <= i_min <= i_max < num_steps (got i_min %d, i_max %d, num_steps %d)",
                 shown, r->i_min, r->i_max, r->num_steps);
        goto done;
    }
    rc = 0;
done:
    free(line);
    fclose(f);
    return rc;
}

int rampfit_save(const char *path, const rampfit_ramp *r, const char *comment)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    fprintf(f, "# ripple threshold ramp (method.md section 5; zero-based steps)\n");
    if (comment && *comment) { /* one comment line, whatever the text holds */
        fputs("# ", f);
        for (const char *p = comment; *p; p++) fputc(*p == '\n' || *p == '\r' ? ' ' : *p, f);
        fputc('\n', f);
    }
    fprintf(f, "mode %s\ntheta_start %.9g\ntheta_end %.9g\ni_min %d\ni_max %d\nnum_steps %d\n",
            r->mode == RIPPLE_THRESHOLD_CHANNEL ? "channel" : "absolute", r->theta_start, r->theta_end,
            r->i_min, r->i_max, r->num_steps);
    if (fclose(f) || rename(tmp, path)) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- bisection */

int rampfit_bisect(rampfit_error_fn f, void *ctx, double target, const rampfit_bisect_opts *opts,
                   rampfit_bisect_result *out)
{
    if (!f || !opts || !out || !(target >= 0) || !(opts->start > 0) || !(opts->cap > 0) ||
        !isfinite(opts->start) || !isfinite(opts->cap))
        return -1;
    const double rel_tol = opts->rel_tol > 0 ? opts->rel_tol : 1e-3;
    const int max_evals = opts->max_evals > 0 ? opts->max_evals : 60;
    out->theta = 0;
    out->err = NAN;
    out->theta_hi = INFINITY;
    out->err_hi = NAN;
    out->saturated = out->infeasible = 0;
    out->evals = 0;

    double lo = 0, err_lo = NAN; /* err(lo) <= target once evaluated */
    double hi = fmin(opts->start, opts->cap), err_hi = NAN;
    int rc;
    /* Bracket: double until err > target or the cap. */
    for (;;) {
        double e;
        if ((rc = f(ctx, hi, &e))) return rc;
        out->evals++;
        if (e > target) {
            err_hi = e;
            break;
        }
        lo = hi;
        err_lo = e;
        if (hi >= opts->cap || out->evals >= max_evals) {
            out->saturated = hi >= opts->cap;
            out->theta = lo;
            out->err = err_lo;
            return 0;
        }
        hi = fmin(2 * hi, opts->cap);
    }
    /* Bisect [lo, hi]: err(lo) <= target < err(hi). */
    while (hi - lo > rel_tol * hi && out->evals < max_evals) {
        double mid = 0.5 * (lo + hi), e;
        if (mid <= lo || mid >= hi) break; /* no representable midpoint */
        if ((rc = f(ctx, mid, &e))) return rc;
        out->evals++;
        if (e <= target) {
            lo = mid;
            err_lo = e;
        } else {
            hi = mid;
            err_hi = e;
        }
    }
    if (isnan(err_lo)) { /* never below target: is no reuse at all within it? */
        double e;
        if ((rc = f(ctx, 0.0, &e))) return rc;
        out->evals++;
        err_lo = e;
        out->infeasible = e > target;
    }
    out->theta = lo;
    out->err = err_lo;
    out->theta_hi = hi;
    out->err_hi = err_hi;
    return 0;
}

/* ------------------------------------------------------------ ramp fitting */

/* Coefficients of theta_start (ca) and theta_end (cb) in the ramp's value at
 * step s (the ramp is ca * theta_start + cb * theta_end). */
static void ramp_coef(int s, int i_min, int i_max, double *ca, double *cb)
{
    *ca = *cb = 0;
    if (s < i_min) return;
    if (s > i_max) {
        *cb = 1;
        return;
    }
    if (i_max == i_min) {
        *ca = 1;
        return;
    }
    double u = (double)(s - i_min) / (double)(i_max - i_min);
    *ca = 1 - u;
    *cb = u;
}

typedef struct {
    double saa, sab, sbb, say, sby, syy;
} normal_eq;

static double quad_sse(const normal_eq *q, double a, double b)
{
    double v = q->syy - 2 * (a * q->say + b * q->sby) + a * a * q->saa + 2 * a * b * q->sab + b * b * q->sbb;
    return v > 0 ? v : 0;
}

/* Best (a, b) >= 0 for one (i_min, i_max): the unconstrained optimum when it
 * is well posed and feasible, else the best of the flat ramp (a = b) and the
 * two faces a = 0, b = 0. A coefficient that no used step depends on takes
 * the other's value (a flat ramp), so it never invents a jump. */
static double solve_pair(const normal_eq *q, double *a, double *b)
{
    double best = INFINITY, ba = 0, bb = 0;
#define TRY(A, B)                                \
    do {                                         \
        double a_ = (A), b_ = (B);               \
        double e_ = quad_sse(q, a_, b_);         \
        if (e_ < best) best = e_, ba = a_, bb = b_; \
    } while (0)
    double det = q->saa * q->sbb - q->sab * q->sab;
    if (q->saa > 0 && q->sbb > 0 && det > 1e-12 * q->saa * q->sbb) {
        double ua = (q->sbb * q->say - q->sab * q->sby) / det;
        double ub = (q->saa * q->sby - q->sab * q->say) / det;
        if (ua >= 0 && ub >= 0) TRY(ua, ub);
    }
    /* flat: a = b = c, design ca + cb */
    double sff = q->saa + 2 * q->sab + q->sbb, sfy = q->say + q->sby;
    if (sff > 0) {
        double c = fmax(0, sfy / sff);
        TRY(c, c);
    }
    if (q->saa > 0) {
        double c = fmax(0, q->say / q->saa);
        TRY(c, q->sbb > 0 ? 0 : c);
    }
    if (q->sbb > 0) {
        double c = fmax(0, q->sby / q->sbb);
        TRY(q->saa > 0 ? 0 : c, c);
    }
    TRY(0, 0);
#undef TRY
    *a = ba;
    *b = bb;
    return best;
}

static double ramp_sum(const rampfit_ramp *r)
{
    double sum = 0;
    for (int i = 0; i < r->num_steps; i++) sum += rampfit_theta(r, i);
    return sum;
}

int rampfit_fit(int n, const int *steps, const double *theta, int num_steps, rampfit_fit_result *out)
{
    if (!out || n < 0 || (n > 0 && (!steps || !theta)) || num_steps < 2) return -1;
    const int last = num_steps - 2; /* largest step a ramp may use */
    int used = 0;
    double syy = 0;
    for (int k = 0; k < n; k++) {
        if (steps[k] < 0 || !isfinite(theta[k]) || theta[k] < 0) return -1;
        if (steps[k] > last) continue;
        used++;
        syy += theta[k] * theta[k];
    }
    if (used == 0) return -1;
    /* residuals within this of each other are equal (rounding of the
     * quadratic form is ~1e-16 * syy) */
    const double tie = 1e-10 * syy + 1e-300;

    double best = INFINITY, best_sum = INFINITY;
    int ties = 0;
    rampfit_ramp br = {0, 0, 0, 0, num_steps, RIPPLE_THRESHOLD_ABSOLUTE};
    for (int i_min = last; i_min >= 0; i_min--) {
        for (int i_max = i_min; i_max <= last; i_max++) {
            normal_eq q = {0, 0, 0, 0, 0, syy};
            for (int k = 0; k < n; k++) {
                if (steps[k] > last) continue;
                double ca, cb;
                ramp_coef(steps[k], i_min, i_max, &ca, &cb);
                q.saa += ca * ca;
                q.sab += ca * cb;
                q.sbb += cb * cb;
                q.say += ca * theta[k];
                q.sby += cb * theta[k];
            }
            double a, b, e = solve_pair(&q, &a, &b);
            rampfit_ramp r = {a, b, i_min, i_max, num_steps, RIPPLE_THRESHOLD_ABSOLUTE};
            if (e < best - tie) {
                best = e;
                ties = 0;
                br = r;
                best_sum = ramp_sum(&r);
            } else if (e <= best + tie) {
                /* equal fit: the ramp with the least total theta, i.e. the
                 * least reuse at the steps no capture constrains */
                ties++;
                double sum = ramp_sum(&r);
                if (sum < best_sum - 1e-12 * (best_sum + 1)) {
                    br = r;
                    best_sum = sum;
                }
            }
        }
    }
    double sse = 0;
    for (int k = 0; k < n; k++) {
        if (steps[k] > last) continue;
        double r = rampfit_theta(&br, steps[k]) - theta[k];
        sse += r * r;
    }
    out->ramp = br;
    out->sse = sse;
    out->rms = sqrt(sse / used);
    out->used = used;
    out->ties = ties;
    return 0;
}

/* ------------------------------------------------------------------ trend */

int rampfit_trend_log10(int n, const double *x, const double *y, double *slope, double *intercept)
{
    double sx = 0, sy = 0;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (!(y[i] > 0) || !isfinite(y[i]) || !isfinite(x[i])) continue;
        sx += x[i];
        sy += log10(y[i]);
        m++;
    }
    *slope = *intercept = NAN;
    if (m < 2) return m;
    double mx = sx / m, my = sy / m, sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        if (!(y[i] > 0) || !isfinite(y[i]) || !isfinite(x[i])) continue;
        double dx = x[i] - mx;
        sxx += dx * dx;
        sxy += dx * (log10(y[i]) - my);
    }
    if (!(sxx > 0)) return m;
    *slope = sxy / sxx;
    *intercept = my - *slope * mx;
    return m;
}
