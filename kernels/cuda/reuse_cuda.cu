/* The ripple transform of one head on the GPU (issue 14): twin of
 * lib/src/reuse.c ("c"), the same marks and values (method.md section 1;
 * reuse.c's header fixes the readings followed here too). Host arrays in and
 * out, synchronous, like ripple_reuse_apply; device 0, its own stream and
 * buffers per call (the transform is O(N d): the copies dominate).
 *
 *   1. per enabled axis, one thread per (window, channel): the window delta
 *      in double, exactly as reuse.c computes it (|x0 - x1| / 2 for two
 *      positions, else two-pass mean and mean squared deviation; products
 *      and sums with explicit rounding, __dmul_rn / __dadd_rn, so that nvcc
 *      contracts nothing into an FMA the C code does not have); marks the
 *      window's non-first positions of the channel when delta < theta(c).
 *      Channel mode first sums the deltas per channel (fixed chunks of
 *      windows, chunk sums added on the host in order: deterministic; the
 *      order differs from reuse.c's single loop, so theta(c) may differ in
 *      its last bits, which can flip a mark only for a delta within that
 *      rounding of the threshold).
 *   2. resolution, one thread per (token, channel): reuse.c copies
 *      x[src] into a marked entry in increasing token order, so a marked
 *      entry ends with the value of the first unmarked entry on its chain of
 *      sources (t first, then h, then w, as reuse.c picks): followed here
 *      (at most three steps: each step moves to the start of a window along
 *      an axis that then carries no mark of that axis). */
#include "backend.h"
#include "backend_cuda.h"
#include "internal.h"

#include <cuda_runtime.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CUDA_CHECK(call)                                                                      \
    do {                                                                                      \
        cudaError_t e_ = (call);                                                              \
        if (e_ != cudaSuccess) {                                                              \
            st = ripple_fail(RIPPLE_ERR_BACKEND, "CUDA transform: %s failed: %s (%s)", #call, \
                             cudaGetErrorString(e_), cudaGetErrorName(e_));                   \
            goto done;                                                                        \
        }                                                                                     \
    } while (0)

/* Windows along one axis: `lines` lines of `len` positions, `per_line`
 * windows each; line l = (o, in) starts at token off + o*s_outer + in*s_inner. */
typedef struct axis_geom {
    long long len, stride, n_inner, s_outer, s_inner, off, per_line, lines, win;
} axis_geom;

static axis_geom geom_of(const ripple_layout *lay, int a, long long win)
{
    const long long T = lay->grid[0], H = lay->grid[1], W = lay->grid[2];
    axis_geom g;
    g.len = lay->grid[a];
    g.stride = a == RIPPLE_AXIS_T ? H * W : a == RIPPLE_AXIS_H ? W : 1;
    long long n_outer = 1;
    if (a == RIPPLE_AXIS_T) n_outer = H, g.s_outer = W, g.n_inner = W, g.s_inner = 1;
    else if (a == RIPPLE_AXIS_H) n_outer = T, g.s_outer = H * W, g.n_inner = W, g.s_inner = 1;
    else n_outer = T, g.s_outer = H * W, g.n_inner = H, g.s_inner = W;
    g.off = lay->video_offset;
    g.per_line = g.len < 2 ? 0 : (g.len - 1 + win - 1) / win; /* p0 = 0, win, ... while p0 + 1 < len */
    g.lines = n_outer * g.n_inner;
    g.win = win;
    return g;
}

/* Window w's first token and its number of positions. */
__device__ static long long window_of(const axis_geom &g, long long w, long long *n)
{
    const long long line = w / g.per_line, p0 = (w % g.per_line) * g.win;
    const long long o = line / g.n_inner, in = line % g.n_inner;
    *n = g.len - p0 < g.win ? g.len - p0 : g.win;
    return g.off + o * g.s_outer + in * g.s_inner + p0 * g.stride;
}

/* delta(c) of the window at tok0 with n positions, as reuse.c's axis_pass. */
__device__ static double window_delta(const float *x, long long d, long long stride, long long tok0,
                                      long long n, long long c)
{
    const float *x0 = x + tok0 * d + c;
    if (n == 2) return __dmul_rn(fabs(__dadd_rn((double)x0[0], -(double)x0[stride * d])), 0.5);
    double mean = 0.0, var = 0.0;
    for (long long k = 0; k < n; k++) mean = __dadd_rn(mean, (double)x0[k * stride * d]);
    mean = __ddiv_rn(mean, (double)n);
    for (long long k = 0; k < n; k++) {
        const double dv = __dadd_rn((double)x0[k * stride * d], -mean);
        var = __dadd_rn(var, __dmul_rn(dv, dv));
    }
    return __dsqrt_rn(__ddiv_rn(var, (double)n));
}

/* One thread per (window, channel): marks of one axis. */
__global__ static void mark_axis(axis_geom g, const float *x, long long d, const double *thr,
                                 unsigned char *marks, unsigned char bit)
{
    const long long total = g.lines * g.per_line * d;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        const long long w = i / d, c = i % d;
        long long n;
        const long long tok0 = window_of(g, w, &n);
        if (!(window_delta(x, d, g.stride, tok0, n, c) < thr[c])) continue;
        for (long long k = 1; k < n; k++) marks[(tok0 + k * g.stride) * d + c] |= bit;
    }
}

/* Channel mode: partial[chunk * d + c] = sum of delta(c) over the windows
 * of one chunk, in window order. */
__global__ static void delta_sums(axis_geom g, const float *x, long long d, long long chunk,
                                  double *partial)
{
    const long long nwin = g.lines * g.per_line, nchunks = (nwin + chunk - 1) / chunk;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < nchunks * d;
         i += (long long)gridDim.x * blockDim.x) {
        const long long ch = i / d, c = i % d;
        double s = 0.0;
        for (long long w = ch * chunk; w < nwin && w < (ch + 1) * chunk; w++) {
            long long n;
            const long long tok0 = window_of(g, w, &n);
            s = __dadd_rn(s, window_delta(x, d, g.stride, tok0, n, c));
        }
        partial[i] = s;
    }
}

/* One thread per (token, channel) of the whole sequence: the resolved value. */
__global__ static void resolve(const float *x, const unsigned char *marks, float *y, long long seq,
                               long long d, long long off, long long T, long long H, long long W,
                               long long win)
{
    const long long total = seq * d;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        long long tok = i / d;
        const long long c = i % d;
        if (tok >= off && tok < off + T * H * W) {
            for (int step = 0; step < 4; step++) {
                const unsigned char m = marks[tok * d + c];
                if (!m) break;
                const long long v = tok - off, t = v / (H * W), h = v / W % H, w = v % W;
                tok -= (m & 1u) ? (t % win) * H * W : (m & 2u) ? (h % win) * W : (w % win);
            }
        }
        y[i] = x[tok * d + c];
    }
}

static unsigned grid_for(long long n)
{
    long long b = (n + 255) / 256;
    return (unsigned)(b < 8192 ? (b > 0 ? b : 1) : 8192);
}

extern "C" ripple_status ripple_reuse_apply_cuda(const ripple_layout *lay, const ripple_reuse_params *p,
                                                 const float *x, float *x_out, ripple_mask_t *mask)
{
    static const ripple_reuse_params defaults = {};
    ripple_status st = ripple_layout_check(lay);
    if (st) return st;
    if (!p) p = &defaults;
    if ((st = ripple_reuse_check(p))) return st;
    if (!x || !x_out) return ripple_fail(RIPPLE_ERR_INVALID, "x or x_out is NULL");

    const unsigned axes = p->axes ? p->axes : RIPPLE_AXES_ALL;
    const unsigned groups = p->groups ? p->groups : RIPPLE_AXES_ALL;
    const long long win = p->window ? p->window : 2;
    const long long d = lay->head_dim, seq = lay->seq_len;
    const size_t nd = (size_t)seq * (size_t)d;
    const long long chunk = 256;

    cudaStream_t s = NULL;
    float *d_x = NULL, *d_y = NULL;
    unsigned char *d_m = NULL;
    double *d_thr = NULL, *d_part = NULL, *thr = NULL, *part = NULL;
    unsigned char *eligible = NULL;
    int any_eligible = 0;
    size_t max_chunks = 1;
    for (int a = 0; a < RIPPLE_AXIS_COUNT; a++) {
        axis_geom g = geom_of(lay, a, win);
        size_t nc = (size_t)((g.lines * g.per_line + chunk - 1) / chunk);
        if (nc > max_chunks) max_chunks = nc;
    }
    thr = (double *)malloc((size_t)d * sizeof(double));
    part = (double *)malloc(max_chunks * (size_t)d * sizeof(double));
    eligible = (unsigned char *)malloc((size_t)d);
    if (!thr || !part || !eligible) {
        st = ripple_fail(RIPPLE_ERR_NOMEM, "CUDA transform: cannot allocate %lld channels' scratch", d);
        goto done;
    }
    for (long long c = 0; c < d; c++) {
        const int gi = ripple_layout_group_of(lay, c);
        eligible[c] = gi >= 0 && (groups & RIPPLE_AXIS_BIT(lay->group_axis[gi]));
        any_eligible |= eligible[c];
    }
    CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CUDA_CHECK(cudaMalloc((void **)&d_x, nd * sizeof(float)));
    CUDA_CHECK(cudaMalloc((void **)&d_y, nd * sizeof(float)));
    CUDA_CHECK(cudaMalloc((void **)&d_m, nd));
    CUDA_CHECK(cudaMalloc((void **)&d_thr, (size_t)d * sizeof(double)));
    CUDA_CHECK(cudaMalloc((void **)&d_part, max_chunks * (size_t)d * sizeof(double)));
    CUDA_CHECK(cudaMemcpyAsync(d_x, x, nd * sizeof(float), cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaMemsetAsync(d_m, 0, nd, s));

    for (int a = 0; any_eligible && a < RIPPLE_AXIS_COUNT; a++) {
        const double theta = p->theta[a];
        if (!(axes & RIPPLE_AXIS_BIT(a)) || theta == 0.0 || lay->grid[a] < 2) continue;
        const axis_geom g = geom_of(lay, a, win);
        const long long nwin = g.lines * g.per_line;
        if (p->mode == RIPPLE_THRESHOLD_CHANNEL) {
            const long long nc = (nwin + chunk - 1) / chunk;
            delta_sums<<<grid_for(nc * d), 256, 0, s>>>(g, d_x, d, chunk, d_part);
            CUDA_CHECK(cudaGetLastError());
            CUDA_CHECK(cudaMemcpyAsync(part, d_part, (size_t)(nc * d) * sizeof(double), cudaMemcpyDeviceToHost, s));
            CUDA_CHECK(cudaStreamSynchronize(s));
            for (long long c = 0; c < d; c++) {
                double sum = 0.0;
                for (long long i = 0; i < nc; i++) sum += part[i * d + c];
                const double mean = nwin > 0 ? sum / (double)nwin : 0.0;
                thr[c] = !eligible[c] ? 0.0 : isinf(theta) ? theta : theta * mean;
            }
        } else {
            for (long long c = 0; c < d; c++) thr[c] = eligible[c] ? theta : 0.0;
        }
        CUDA_CHECK(cudaMemcpyAsync(d_thr, thr, (size_t)d * sizeof(double), cudaMemcpyHostToDevice, s));
        mark_axis<<<grid_for(nwin * d), 256, 0, s>>>(g, d_x, d, d_thr, d_m, (unsigned char)RIPPLE_AXIS_BIT(a));
        CUDA_CHECK(cudaGetLastError());
        CUDA_CHECK(cudaStreamSynchronize(s)); /* thr is rewritten for the next axis */
    }
    resolve<<<grid_for((long long)nd), 256, 0, s>>>(d_x, d_m, d_y, seq, d, lay->video_offset, lay->grid[0],
                                                    lay->grid[1], lay->grid[2], win);
    CUDA_CHECK(cudaGetLastError());
    CUDA_CHECK(cudaMemcpyAsync(x_out, d_y, nd * sizeof(float), cudaMemcpyDeviceToHost, s));
    if (mask) CUDA_CHECK(cudaMemcpyAsync(mask, d_m, nd, cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));

done:
    cudaFree(d_x), cudaFree(d_y), cudaFree(d_m), cudaFree(d_thr), cudaFree(d_part);
    if (s) cudaStreamDestroy(s);
    free(thr), free(part), free(eligible);
    return st;
}
