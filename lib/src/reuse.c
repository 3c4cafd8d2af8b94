/* The ripple transform (method.md section 1): marks the entries of one head's
 * Q or K that may be reused from the first position of their window along
 * t, h or w, and replaces each marked entry by the final value of its source.
 *
 * Work is O(N d) per enabled axis (twice that in channel-threshold mode, which
 * first needs the per-channel mean window delta), with temporaries allocated
 * once per call: the mark array [N, d] (the caller's mask when given) and
 * three double rows of d. Sources are not stored: an entry marked along axis
 * a takes its value from the first position of its a-window, which is found
 * from the token's coordinates while resolving.
 *
 * Choices fixed here (the lead's reading of the spec):
 * - zeroed params: all axes, window 2, absolute mode, theta 0 (nothing is
 *   reused, since the test is strict: delta < theta), all channel groups;
 * - a NULL params pointer means the zeroed (default) params;
 * - channel mode: theta_a(c) = alpha_a * mean window delta along a of c;
 *   alpha = INFINITY means forced reuse (theta = INFINITY even where the mean
 *   delta is 0); a channel whose windows are all constant gets theta 0 for
 *   finite alpha, so nothing of it is reused;
 * - delta is computed in double: |x0 - x1| / 2 for windows of two, otherwise
 *   two-pass mean then mean squared deviation. Non-finite values give a
 *   non-finite or NaN delta, which is never below a finite theta. */
#include "backend.h"
#include "internal.h"

#include <math.h>
#include <string.h>

#define ALL_AXES RIPPLE_AXES_ALL

/* Stride in tokens of one step along axis a. */
static int64_t axis_stride(const ripple_layout *lay, int a)
{
    if (a == RIPPLE_AXIS_T) return lay->grid[1] * lay->grid[2];
    if (a == RIPPLE_AXIS_H) return lay->grid[2];
    return 1;
}

/* Scratch of one call: three double rows of head_dim. */
typedef struct scratch {
    double *mean; /* per channel mean of the current window */
    double *var;  /* per channel sum of squared deviations */
    double *thr;  /* per channel threshold (mark pass) or delta sum (mean pass) */
} scratch;

/* One pass over every window along axis `a` of size `win`.
 * marks == NULL: adds every window's delta(c) to s->thr[c] and returns the
 * number of windows. marks != NULL: ORs `bit` into the marks of every
 * non-first position of each window whose delta(c) < s->thr[c]. */
static int64_t axis_pass(const ripple_layout *lay, int a, int64_t win, const float *x,
                         const scratch *s, ripple_mask_t *marks, ripple_mask_t bit)
{
    const int64_t T = lay->grid[0], H = lay->grid[1], W = lay->grid[2];
    const int64_t d = lay->head_dim;
    const int64_t len = lay->grid[a];
    const int64_t stride = axis_stride(lay, a);
    /* the two coordinates other than a, as outer loops */
    int64_t n_outer = 1, n_inner = 1, s_outer = 0, s_inner = 0;
    if (a == RIPPLE_AXIS_T) { n_outer = H; s_outer = W; n_inner = W; s_inner = 1; }
    if (a == RIPPLE_AXIS_H) { n_outer = T; s_outer = H * W; n_inner = W; s_inner = 1; }
    if (a == RIPPLE_AXIS_W) { n_outer = T; s_outer = H * W; n_inner = H; s_inner = W; }
    int64_t windows = 0;
    if (len < 2) return 0;

    for (int64_t o = 0; o < n_outer; o++) {
        for (int64_t in = 0; in < n_inner; in++) {
            const int64_t line = lay->video_offset + o * s_outer + in * s_inner;
            for (int64_t p0 = 0; p0 + 1 < len; p0 += win) {
                const int64_t n = (len - p0 < win) ? len - p0 : win;
                const int64_t tok0 = line + p0 * stride;
                const float *x0 = x + (size_t)tok0 * (size_t)d;
                windows++;
                if (n == 2) {
                    const float *x1 = x0 + (size_t)stride * (size_t)d;
                    if (!marks) {
                        for (int64_t c = 0; c < d; c++)
                            s->thr[c] += fabs((double)x0[c] - (double)x1[c]) * 0.5;
                    } else {
                        ripple_mask_t *m1 = marks + (size_t)(tok0 + stride) * (size_t)d;
                        for (int64_t c = 0; c < d; c++)
                            if (fabs((double)x0[c] - (double)x1[c]) * 0.5 < s->thr[c])
                                m1[c] |= bit;
                    }
                    continue;
                }
                for (int64_t c = 0; c < d; c++) s->mean[c] = 0.0;
                for (int64_t k = 0; k < n; k++) {
                    const float *xk = x0 + (size_t)(k * stride) * (size_t)d;
                    for (int64_t c = 0; c < d; c++) s->mean[c] += (double)xk[c];
                }
                for (int64_t c = 0; c < d; c++) {
                    s->mean[c] /= (double)n;
                    s->var[c] = 0.0;
                }
                for (int64_t k = 0; k < n; k++) {
                    const float *xk = x0 + (size_t)(k * stride) * (size_t)d;
                    for (int64_t c = 0; c < d; c++) {
                        const double dv = (double)xk[c] - s->mean[c];
                        s->var[c] += dv * dv;
                    }
                }
                if (!marks) {
                    for (int64_t c = 0; c < d; c++) s->thr[c] += sqrt(s->var[c] / (double)n);
                    continue;
                }
                for (int64_t c = 0; c < d; c++) {
                    if (!(sqrt(s->var[c] / (double)n) < s->thr[c])) continue;
                    for (int64_t k = 1; k < n; k++)
                        marks[(size_t)(tok0 + k * stride) * (size_t)d + (size_t)c] |= bit;
                }
            }
        }
    }
    return windows;
}

static ripple_status scratch_init(scratch *s, int64_t d)
{
    s->mean = malloc((size_t)d * 3 * sizeof(double));
    if (!s->mean) return ripple_fail(RIPPLE_ERR_NOMEM, "cannot allocate %lld doubles", (long long)(3 * d));
    s->var = s->mean + d;
    s->thr = s->var + d;
    return RIPPLE_OK;
}

/* Mean window delta per channel along a into s->thr (0 with no windows). */
static void compute_delta_mean(const ripple_layout *lay, int a, int64_t win, const float *x, const scratch *s)
{
    for (int64_t c = 0; c < lay->head_dim; c++) s->thr[c] = 0.0;
    int64_t nw = axis_pass(lay, a, win, x, s, NULL, 0);
    if (nw > 0)
        for (int64_t c = 0; c < lay->head_dim; c++) s->thr[c] /= (double)nw;
}

ripple_status ripple_window_delta_mean(const ripple_layout *lay, ripple_axis axis, int window,
                                       const float *x, double *delta_mean)
{
    ripple_status st = ripple_layout_check(lay);
    if (st) return st;
    if ((int)axis < 0 || (int)axis >= RIPPLE_AXIS_COUNT)
        return ripple_fail(RIPPLE_ERR_INVALID, "axis %d is not t, h or w", (int)axis);
    if (window == 0) window = 2;
    if (window < 2)
        return ripple_fail(RIPPLE_ERR_INVALID, "window %d must be >= 2", window);
    if (!x || !delta_mean) return ripple_fail(RIPPLE_ERR_INVALID, "x or delta_mean is NULL");
    scratch s = {0};
    if ((st = scratch_init(&s, lay->head_dim))) return st;
    compute_delta_mean(lay, (int)axis, window, x, &s);
    memcpy(delta_mean, s.thr, (size_t)lay->head_dim * sizeof(double));
    free(s.mean);
    return RIPPLE_OK;
}

ripple_status ripple_reuse_check(const ripple_reuse_params *p)
{
    if (p->axes & ~ALL_AXES)
        return ripple_fail(RIPPLE_ERR_INVALID, "axes 0x%x has bits other than t, h, w (0x7)", p->axes);
    if (p->groups & ~ALL_AXES)
        return ripple_fail(RIPPLE_ERR_INVALID, "groups 0x%x has bits other than t, h, w (0x7)",
                           p->groups);
    if (p->window != 0 && p->window < 2)
        return ripple_fail(RIPPLE_ERR_INVALID, "window %d must be >= 2 (0 = default 2)", p->window);
    if (p->mode != RIPPLE_THRESHOLD_ABSOLUTE && p->mode != RIPPLE_THRESHOLD_CHANNEL)
        return ripple_fail(RIPPLE_ERR_INVALID, "threshold mode %d is neither absolute nor channel",
                           (int)p->mode);
    for (int a = 0; a < RIPPLE_AXIS_COUNT; a++)
        if (isnan(p->theta[a]) || p->theta[a] < 0)
            return ripple_fail(RIPPLE_ERR_INVALID, "theta[%d] = %g must be >= 0 (INFINITY allowed)",
                               a, p->theta[a]);
    return RIPPLE_OK;
}

ripple_status ripple_reuse_apply_c(const ripple_layout *lay, const ripple_reuse_params *p,
                                 const float *x, float *x_out, ripple_mask_t *mask)
{
    static const ripple_reuse_params defaults;
    ripple_status st = ripple_layout_check(lay);
    if (st) return st;
    if (!p) p = &defaults;
    if ((st = ripple_reuse_check(p))) return st;
    if (!x || !x_out) return ripple_fail(RIPPLE_ERR_INVALID, "x or x_out is NULL");

    const unsigned axes = p->axes ? p->axes : ALL_AXES;
    const unsigned groups = p->groups ? p->groups : ALL_AXES;
    const int64_t win = p->window ? p->window : 2;
    const int64_t d = lay->head_dim;
    const size_t nd = (size_t)lay->seq_len * (size_t)d;

    scratch s = {0};
    ripple_mask_t *own = NULL, *marks = mask;
    unsigned char *eligible = NULL;
    if ((st = scratch_init(&s, d))) goto done;
    eligible = malloc((size_t)d);
    if (!marks) marks = own = malloc(nd);
    if (!eligible || !marks) {
        st = ripple_fail(RIPPLE_ERR_NOMEM, "cannot allocate the marks of %zu entries", nd);
        goto done;
    }
    memset(marks, 0, nd);
    int any_eligible = 0;
    for (int64_t c = 0; c < d; c++) {
        const int g = ripple_layout_group_of(lay, c);
        eligible[c] = g >= 0 && (groups & RIPPLE_AXIS_BIT(lay->group_axis[g]));
        any_eligible |= eligible[c];
    }

    /* 1. marks, from the original values of x */
    for (int a = 0; any_eligible && a < RIPPLE_AXIS_COUNT; a++) {
        const double theta = p->theta[a];
        if (!(axes & RIPPLE_AXIS_BIT(a)) || theta == 0.0 || lay->grid[a] < 2) continue;
        if (p->mode == RIPPLE_THRESHOLD_CHANNEL) {
            compute_delta_mean(lay, a, win, x, &s);
            for (int64_t c = 0; c < d; c++)
                s.thr[c] = !eligible[c] ? 0.0 : isinf(theta) ? theta : theta * s.thr[c];
        } else {
            for (int64_t c = 0; c < d; c++) s.thr[c] = eligible[c] ? theta : 0.0;
        }
        axis_pass(lay, a, win, x, &s, marks, (ripple_mask_t)RIPPLE_AXIS_BIT(a));
    }

    /* 2. resolution in increasing token order: a source has a smaller index
     * than its dependents, so it already holds its final value. */
    if (x_out != x) memmove(x_out, x, nd * sizeof(float));
    if (any_eligible) {
        const int64_t T = lay->grid[0], H = lay->grid[1], W = lay->grid[2];
        const int64_t step[3] = {H * W * d, W * d, d}; /* elements per axis step */
        size_t tok = (size_t)lay->video_offset;
        for (int64_t t = 0; t < T; t++) {
            const int64_t ot = (t % win) * step[0];
            for (int64_t h = 0; h < H; h++) {
                const int64_t oh = (h % win) * step[1];
                for (int64_t w = 0; w < W; w++, tok++) {
                    const int64_t ow = (w % win) * step[2];
                    const size_t base = tok * (size_t)d;
                    const ripple_mask_t *m = marks + base;
                    float *xo = x_out + base;
                    for (int64_t c = 0; c < d; c++) {
                        if (!m[c]) continue;
                        const int64_t back = (m[c] & 1u) ? ot : (m[c] & 2u) ? oh : ow;
                        xo[c] = xo[c - back];
                    }
                }
            }
        }
    }
    st = RIPPLE_OK;
done:
    free(own);
    free(eligible);
    free(s.mean);
    return st;
}
