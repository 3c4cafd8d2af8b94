/* The GPU reuse kernel (kernels/cuda/attn_reuse_cuda.cu) against the dense
 * GPU kernels on the same rippled inputs, in one program (issue 14 item 4).
 *
 * Varies: the threshold theta of the transform (absolute, all axes, window
 * 2) and the delta-row cut max_frac (a row is a delta row when it differs
 * from its source on at most max_frac x d channels).
 *
 * For one (step, layer) of a capture, heads [0, --heads): the transform of
 * q and k on the CPU (ripple_reuse_apply), s_score and s_attn of its masks
 * (ripple_savings_compute, mean over heads); then on the device, timed by
 * CUDA events (--reps repetitions interleaved after one warm-up, median):
 *   reuse       plan + delta-row attention on q~, k~ (float32 FMA)
 *   reuse_attn  the attention kernel alone (the plan is per q~, reusable
 *               by nothing else, so `reuse` is the figure that counts)
 *   tf32x3, fp32  the float32 fused kernels on q~, k~ (attn_flash_cuda.cu)
 *   bf16        the bf16 fused kernel on bf16 copies of q~, k~, v
 * Accuracy: the reuse output against float64 attention on q~, k~ over
 * --check-rows sampled rows per head (nmse, normalised by the mean square
 * of the reference), and the attention-output PSNR of the reuse output
 * against exact attention on the ORIGINAL q, k (the tf32x3 kernel; its
 * nmse against float64 is about 1e-12, far below what 35 dB measures).
 *
 *   build-gpu/kernels/dev/attn_reuse_cuda CAPTURE --out FILE.tsv [--step S]
 *       [--layer L] [--heads H] [--thetas LIST] [--max-frac LIST] [--reps N]
 *       [--check-rows N]
 * Built by meson with -Dcuda=enabled (not installed, not a test). Writes
 * FILE.tsv ('#' metadata, header, one row per theta and max_frac) through
 * FILE.tsv.partial, renamed when complete; progress on stderr. */
#include "../cuda/attn_flash_cuda.h"
#include "../cuda/attn_reuse_cuda.h"
#include "ripple/ripple.h"
#include "ripple_version.h"

#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXL 16

static int die(const char *msg, const char *what)
{
    fprintf(stderr, "attn_reuse_cuda: %s%s%s\n", msg, what ? ": " : "", what ? what : "");
    return 1;
}

#define CK(call)                                                                              \
    do {                                                                                      \
        cudaError_t e_ = (cudaError_t)(call);                                                 \
        if (e_ != cudaSuccess) return die(#call, cudaGetErrorString(e_));                     \
    } while (0)

static int parse_list(const char *s, double *out, int max)
{
    int n = 0;
    char *end;
    while (*s && n < max) {
        out[n++] = strtod(s, &end);
        if (end == s) return -1;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* float64 attention of row r of head h: out[dim] */
static void ref_row(const float *q, const float *k, const float *v, int64_t seq, int64_t dim, double scale,
                    int64_t r, double *s, double *out)
{
    double m = -INFINITY, l = 0;
    for (int64_t j = 0; j < seq; j++) {
        double d = 0;
        for (int64_t c = 0; c < dim; c++) d += (double)q[r * dim + c] * (double)k[j * dim + c];
        s[j] = d * scale;
        if (s[j] > m) m = s[j];
    }
    for (int64_t c = 0; c < dim; c++) out[c] = 0;
    for (int64_t j = 0; j < seq; j++) {
        const double p = exp(s[j] - m);
        l += p;
        for (int64_t c = 0; c < dim; c++) out[c] += p * (double)v[j * dim + c];
    }
    for (int64_t c = 0; c < dim; c++) out[c] /= l;
}

enum { K_REUSE, K_REUSE_ATTN, K_TF32X3, K_FP32, K_BF16, K_COUNT };

int main(int argc, char **argv)
{
    const char *path = NULL, *out = NULL;
    int step = -1, layer = -1, reps = 5, check_rows = 32;
    int64_t nheads = 0;
    double thetas[MAXL] = {0.05, 0.1, 0.2, 0.4}, fracs[MAXL] = {0.25, 0.5, 0.75};
    int nth = 4, nfr = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: attn_reuse_cuda CAPTURE --out FILE.tsv [--step S] [--layer L] [--heads H]\n"
                   "       [--thetas LIST] [--max-frac LIST] [--reps N] [--check-rows N]\n"
                   "GPU reuse kernel against the dense GPU kernels on the same rippled inputs\n"
                   "(defaults: the first captured step and layer, all heads, thetas 0.05,0.1,0.2,0.4,\n"
                   "max-frac 0.25,0.5,0.75, 5 reps, 32 check rows per head).\n");
            return 0;
        }
        if (a[0] != '-') {
            path = a;
            continue;
        }
        if (!val) return die("option needs a value", a), 2;
        i++;
        if (!strcmp(a, "--out")) out = val;
        else if (!strcmp(a, "--step")) step = atoi(val);
        else if (!strcmp(a, "--layer")) layer = atoi(val);
        else if (!strcmp(a, "--heads")) nheads = atoll(val);
        else if (!strcmp(a, "--reps")) reps = atoi(val);
        else if (!strcmp(a, "--check-rows")) check_rows = atoi(val);
        else if (!strcmp(a, "--thetas")) nth = parse_list(val, thetas, MAXL);
        else if (!strcmp(a, "--max-frac")) nfr = parse_list(val, fracs, MAXL);
        else return die("unknown option (see --help)", a), 2;
        if (nth <= 0 || nfr <= 0 || reps < 1 || check_rows < 1) return die("bad value", a), 2;
    }
    if (!path || !out) return die("usage: attn_reuse_cuda CAPTURE --out FILE.tsv (see --help)", NULL), 2;

    ripple_capture *cap;
    if (ripple_capture_open(path, &cap) != RIPPLE_OK) return die(ripple_last_error(), NULL);
    const ripple_capture_info *info = ripple_capture_get_info(cap);
    const ripple_layout *lay = &info->layout;
    const ripple_capture_entry *e0 = ripple_capture_get_entry(cap, 0);
    if (step < 0) step = e0->step;
    if (layer < 0) layer = e0->layer;
    if (!ripple_capture_find(cap, step, layer)) return die("no such (step, layer) in the capture", path);
    const int64_t H = nheads > 0 && nheads < info->num_heads ? nheads : info->num_heads;
    const int64_t N = lay->seq_len, d = lay->head_dim;
    if (d > 128) return die("the reuse kernel takes head_dim <= 128", path);
    const size_t n = (size_t)(H * N * d);
    float *x[3], *xr[2], *o_ref = malloc(n * sizeof(float)), *o = malloc(n * sizeof(float));
    ripple_mask_t *mk[2] = {malloc((size_t)(N * d)), malloc((size_t)(N * d))};
    for (int t = 0; t < 3; t++) x[t] = malloc(n * sizeof(float));
    for (int t = 0; t < 2; t++) xr[t] = malloc(n * sizeof(float));
    if (!o_ref || !o || !mk[0] || !mk[1] || !x[0] || !x[1] || !x[2] || !xr[0] || !xr[1])
        return die("no memory for the tensors", NULL);
    for (int t = 0; t < 3; t++)
        if (ripple_capture_read(cap, step, layer, (ripple_tensor)t, 0, H, x[t]) != RIPPLE_OK)
            return die(ripple_last_error(), NULL);

    const ripple_reuse_cuda_geom g = {H, N, lay->video_offset, (int)d, (int)lay->grid[0], (int)lay->grid[1],
                                      (int)lay->grid[2], 2};
    const float scale = (float)info->scale;
    int *perm = malloc(2 * (size_t)N * sizeof(int));
    if (!perm) return die("no memory", NULL);
    ripple_reuse_cuda_cube_order(&g, perm, perm + N);
    float *d_x[3], *d_xr[2], *d_o, *d_dq;
    void *b_q, *b_k, *b_v, *b_o;
    int *d_perm, *d_src, *d_nnz;
    unsigned char *d_chan;
    unsigned long long *d_counts, *d_bad;
    for (int t = 0; t < 3; t++) CK(cudaMalloc((void **)&d_x[t], n * sizeof(float)));
    for (int t = 0; t < 2; t++) CK(cudaMalloc((void **)&d_xr[t], n * sizeof(float)));
    CK(cudaMalloc((void **)&d_o, n * sizeof(float)));
    CK(cudaMalloc((void **)&d_dq, n * sizeof(float)));
    CK(cudaMalloc(&b_q, n * 2));
    CK(cudaMalloc(&b_k, n * 2));
    CK(cudaMalloc(&b_v, n * 2));
    CK(cudaMalloc(&b_o, n * 2));
    CK(cudaMalloc((void **)&d_perm, 2 * (size_t)N * sizeof(int)));
    CK(cudaMalloc((void **)&d_src, (size_t)(H * N) * sizeof(int)));
    CK(cudaMalloc((void **)&d_nnz, (size_t)(H * N) * sizeof(int)));
    CK(cudaMalloc((void **)&d_chan, n));
    CK(cudaMalloc((void **)&d_counts, 3 * sizeof(unsigned long long)));
    CK(cudaMalloc((void **)&d_bad, sizeof(unsigned long long)));
    CK(cudaMemcpy(d_perm, perm, 2 * (size_t)N * sizeof(int), cudaMemcpyHostToDevice));
    for (int t = 0; t < 3; t++) CK(cudaMemcpy(d_x[t], x[t], n * sizeof(float), cudaMemcpyHostToDevice));
    CK(ripple_flash_f32_to_bf16(d_x[2], b_v, (long long)n, NULL));
    /* the reference of the PSNR: exact attention on the original q, k */
    CK(ripple_flash_attn_f32(RIPPLE_FLASH_TF32X3, H, N, (int)d, scale, d_x[0], d_x[1], d_x[2], d_o, NULL, NULL));
    CK(cudaMemcpy(o_ref, d_o, n * sizeof(float), cudaMemcpyDeviceToHost));

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.partial", out);
    FILE *f = fopen(tmp, "w");
    if (!f) return die("cannot write", tmp);
    struct cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    fprintf(f, "# attn_reuse_cuda (kernels/dev/attn_reuse_cuda.c), ripple %s\n", RIPPLE_GIT_DESCRIBE);
    fprintf(f, "# device %s, %d SMs\n", prop.name, prop.multiProcessorCount);
    fprintf(f, "# capture %s step %d layer %d heads %lld of %lld, seq %lld, dim %lld, grid %lldx%lldx%lld\n", path,
            step, layer, (long long)H, (long long)info->num_heads, (long long)N, (long long)d,
            (long long)lay->grid[0], (long long)lay->grid[1], (long long)lay->grid[2]);
    fprintf(f, "# transform: absolute theta on all axes, window 2 (CPU, ripple_reuse_apply); s_score, s_attn: "
               "ripple_savings_compute, mean over heads\n");
    fprintf(f, "# timing: CUDA events, %d reps interleaved after 1 warm-up, median ms; speedup_* = kernel ms / "
               "reuse ms (plan included)\n", reps);
    fprintf(f, "# accuracy: nmse_f64 = reuse vs float64 attention on q~, k~ over %d sampled rows per head; "
               "psnr = reuse output vs exact attention on the original q, k (tf32x3), ripple_metrics_compute\n",
            check_rows);
    fprintf(f, "theta\tmax_frac\ts_score\ts_attn\tdelta_rows\tdelta_chan_frac\twork_frac\treuse_ms\treuse_attn_ms\t"
               "tf32x3_ms\tfp32_ms\tbf16_ms\tspeedup_tf32x3\tspeedup_fp32\tspeedup_bf16\tpsnr\tpsnr_dense\tnmse_f64\n");

    cudaEvent_t ev0, ev1;
    CK(cudaEventCreate(&ev0));
    CK(cudaEventCreate(&ev1));
    double *srow = malloc((size_t)N * sizeof(double)), ref[128];
    float *times = malloc((size_t)reps * K_COUNT * sizeof(float));
    if (!srow || !times) return die("no memory", NULL);
    for (int ti = 0; ti < nth; ti++) {
        ripple_reuse_params p = {.window = 2, .mode = RIPPLE_THRESHOLD_ABSOLUTE,
                                 .theta = {thetas[ti], thetas[ti], thetas[ti]}};
        ripple_savings sum = {0}, one;
        for (int64_t h = 0; h < H; h++) {
            const size_t off = (size_t)(h * N * d);
            for (int t = 0; t < 2; t++)
                if (ripple_reuse_apply(lay, &p, x[t] + off, xr[t] + off, mk[t]) != RIPPLE_OK)
                    return die(ripple_last_error(), NULL);
            if (ripple_savings_compute(lay, mk[0], mk[1], &one) != RIPPLE_OK) return die(ripple_last_error(), NULL);
            ripple_savings_add(&sum, &one);
        }
        ripple_savings_scale(&sum, 1.0 / (double)H);
        for (int t = 0; t < 2; t++) CK(cudaMemcpy(d_xr[t], xr[t], n * sizeof(float), cudaMemcpyHostToDevice));
        CK(ripple_flash_f32_to_bf16(d_xr[0], b_q, (long long)n, NULL));
        CK(ripple_flash_f32_to_bf16(d_xr[1], b_k, (long long)n, NULL));
        /* dense psnr: tf32x3 on q~, k~ against the reference */
        ripple_metrics md, mr;
        CK(ripple_flash_attn_f32(RIPPLE_FLASH_TF32X3, H, N, (int)d, scale, d_xr[0], d_xr[1], d_x[2], d_o, NULL, NULL));
        CK(cudaMemcpy(o, d_o, n * sizeof(float), cudaMemcpyDeviceToHost));
        if (ripple_metrics_compute(H * N, d, o, o_ref, &md) != RIPPLE_OK) return die(ripple_last_error(), NULL);
        for (int fi = 0; fi < nfr; fi++) {
            const int max_nnz = (int)(fracs[fi] * (double)d);
            unsigned long long counts[3], bad = ~0ull;
            for (int rep = -1; rep < reps; rep++)
                for (int kk = 0; kk < K_COUNT; kk++) {
                    CK(cudaEventRecord(ev0, NULL));
                    if (kk == K_REUSE || kk == K_REUSE_ATTN) {
                        if (kk == K_REUSE) {
                            CK(cudaMemsetAsync(d_counts, 0, sizeof counts, NULL));
                            CK(ripple_reuse_cuda_plan(&g, max_nnz, d_xr[0], d_perm, d_perm + N, d_src, d_nnz, d_chan,
                                                      d_dq, d_counts, NULL));
                        }
                        CK(ripple_reuse_cuda_attn(&g, scale, d_xr[0], d_xr[1], d_x[2], d_o, d_perm, d_src, d_nnz,
                                                  d_chan, d_dq, d_bad, NULL));
                    } else if (kk == K_BF16) {
                        CK(ripple_flash_attn_bf16(-1, H, N, (int)d, scale, b_q, b_k, b_v, b_o, NULL));
                    } else {
                        CK(ripple_flash_attn_f32(kk == K_TF32X3 ? RIPPLE_FLASH_TF32X3 : RIPPLE_FLASH_FP32, H, N, (int)d,
                                                 scale, d_xr[0], d_xr[1], d_x[2], d_o, NULL, NULL));
                    }
                    CK(cudaEventRecord(ev1, NULL));
                    CK(cudaEventSynchronize(ev1));
                    float ms;
                    CK(cudaEventElapsedTime(&ms, ev0, ev1));
                    if (rep >= 0) times[kk * reps + rep] = ms;
                }
            /* the last kernel to write d_o was fp32: run the reuse kernel once more for its output */
            CK(cudaMemcpy(d_bad, &bad, sizeof bad, cudaMemcpyHostToDevice));
            CK(ripple_reuse_cuda_attn(&g, scale, d_xr[0], d_xr[1], d_x[2], d_o, d_perm, d_src, d_nnz, d_chan, d_dq,
                                      d_bad, NULL));
            CK(cudaMemcpy(o, d_o, n * sizeof(float), cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(counts, d_counts, sizeof counts, cudaMemcpyDeviceToHost));
            CK(cudaMemcpy(&bad, d_bad, sizeof bad, cudaMemcpyDeviceToHost));
            if (bad != ~0ull) return die("non-finite scores in the reuse kernel", NULL);
            if (ripple_metrics_compute(H * N, d, o, o_ref, &mr) != RIPPLE_OK) return die(ripple_last_error(), NULL);
            double e2 = 0, r2 = 0;
            for (int64_t h = 0; h < H; h++)
                for (int i = 0; i < check_rows; i++) {
                    const int64_t r = (int64_t)(((uint64_t)i * 2654435761u + (uint64_t)h * 40503u) % (uint64_t)N);
                    const size_t off = (size_t)(h * N * d);
                    ref_row(xr[0] + off, xr[1] + off, x[2] + off, N, d, scale, r, srow, ref);
                    for (int64_t c = 0; c < d; c++) {
                        const double df = (double)o[off + (size_t)(r * d + c)] - ref[c];
                        e2 += df * df, r2 += ref[c] * ref[c];
                    }
                }
            double med[K_COUNT];
            for (int kk = 0; kk < K_COUNT; kk++) {
                qsort(times + kk * reps, (size_t)reps, sizeof(float), cmp_float);
                med[kk] = reps % 2 ? times[kk * reps + reps / 2]
                                   : 0.5 * (times[kk * reps + reps / 2 - 1] + times[kk * reps + reps / 2]);
            }
            const double rows = (double)(H * N);
            const double dchan = counts[1] ? (double)counts[2] / ((double)counts[1] * (double)d) : 0;
            const double work = 0.5 + 0.5 * ((double)counts[0] * (double)d + (double)counts[2] + (double)counts[1]) /
                                          (rows * (double)d);
            fprintf(f, "%.6g\t%.3g\t%.6f\t%.6f\t%.6f\t%.6f\t%.6f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.4f\t%.4f\t%.4f\t%.3f\t%.3f\t%.3e\n",
                    thetas[ti], fracs[fi], sum.s_score, sum.s_attn, (double)counts[1] / rows, dchan, work, med[K_REUSE],
                    med[K_REUSE_ATTN], med[K_TF32X3], med[K_FP32], med[K_BF16], med[K_TF32X3] / med[K_REUSE],
                    med[K_FP32] / med[K_REUSE], med[K_BF16] / med[K_REUSE], mr.psnr, md.psnr, e2 / r2);
            fflush(f);
            fprintf(stderr, "theta %g max_frac %g: s_score %.3f, delta rows %.3f, reuse %.2f ms, tf32x3 %.2f, fp32 %.2f, "
                            "bf16 %.2f, psnr %.1f dB\n",
                    thetas[ti], fracs[fi], sum.s_score, (double)counts[1] / rows, med[K_REUSE], med[K_TF32X3],
                    med[K_FP32], med[K_BF16], mr.psnr);
        }
    }
    if (fclose(f) != 0 || rename(tmp, out) != 0) return die("cannot finish", out);
    fprintf(stderr, "wrote %s\n", out);
    ripple_capture_close(cap);
    return 0;
}
