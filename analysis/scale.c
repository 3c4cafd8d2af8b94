#include "scale.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Appends the window-2 deltas of one head x along axis a, channels [0, nc). */
static size_t add_pairs(const ripple_layout *lay, int a, int64_t nc, const float *x, double *v)
{
    const int64_t T = lay->grid[0], H = lay->grid[1], W = lay->grid[2], d = lay->head_dim;
    const int64_t size[3] = {T, H, W}, stride[3] = {H * W, W, 1};
    size_t n = 0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++) {
                const int64_t coord[3] = {t, h, w};
                if (coord[a] % 2 || coord[a] + 1 >= size[a]) continue;
                int64_t i0 = lay->video_offset + (t * H + h) * W + w, i1 = i0 + stride[a];
                for (int64_t c = 0; c < nc; c++) v[n++] = fabs((double)x[i0 * d + c] - (double)x[i1 * d + c]) / 2;
            }
    return n;
}

ripple_status scale_median(const ripple_layout *lay, const scale_spec *spec, unsigned axes, int window, int n,
                           int64_t nh, const float *const *q, const float *const *k, double *out)
{
    const int64_t d = lay->head_dim;
    const size_t per_head = (size_t)lay->seq_len * (size_t)d;
    int64_t grouped = 0;
    for (int g = 0; g < lay->num_groups; g++) grouped += lay->group_len[g];
    const int64_t nc = spec->all_channels ? d : grouped; /* groups are the first channels */
    const int ntensors = spec->with_k ? 2 : 1;
    size_t cap = 0;
    for (int a = 0; a < 3; a++) {
        if (!(axes & RIPPLE_AXIS_BIT(a))) continue;
        const int64_t video = lay->grid[0] * lay->grid[1] * lay->grid[2];
        cap += spec->sample == SCALE_PAIRS ? (size_t)(video / lay->grid[a] * (lay->grid[a] / 2)) * (size_t)nc
                                           : (size_t)d;
    }
    cap *= (size_t)n * (size_t)nh * (size_t)ntensors;
    double *v = malloc((cap ? cap : 1) * sizeof *v), *dm = malloc((size_t)d * sizeof *dm);
    ripple_status s = RIPPLE_OK;
    size_t m = 0;
    if (!v || !dm) {
        s = ripple_fail(RIPPLE_ERR_NOMEM, "out of memory for %zu window deltas", cap);
        goto done;
    }
    for (int i = 0; i < n; i++)
        for (int64_t h = 0; h < nh; h++)
            for (int a = 0; a < 3; a++) {
                if (!(axes & RIPPLE_AXIS_BIT(a))) continue;
                for (int t = 0; t < ntensors; t++) {
                    const float *x = (t ? k[i] : q[i]) + (size_t)h * per_head;
                    if (spec->sample == SCALE_PAIRS) {
                        m += add_pairs(lay, a, nc, x, v + m);
                        continue;
                    }
                    if ((s = ripple_window_delta_mean(lay, (ripple_axis)a, window, x, dm))) goto done;
                    for (int64_t c = 0; c < nc; c++)
                        if (dm[c] > 0) v[m++] = dm[c];
                }
            }
    *out = 0;
    if (m) {
        qsort(v, m, sizeof *v, cmp_double);
        *out = spec->upper_median || m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
    }
done:
    free(v);
    free(dm);
    return s;
}

double scale_half_range(const ripple_layout *lay, int n, int64_t nh, const float *const *q, const float *const *k)
{
    double lo = INFINITY, hi = -INFINITY;
    const size_t total = (size_t)nh * (size_t)lay->seq_len * (size_t)lay->head_dim;
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < total; j++) {
            lo = fmin(lo, fmin(q[i][j], k[i][j]));
            hi = fmax(hi, fmax(q[i][j], k[i][j]));
        }
    return hi > lo ? 0.5 * (hi - lo) : 0;
}
