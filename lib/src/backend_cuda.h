/* Private entry points of the CUDA backend (kernels/attn_exact.cu, or
 * backend_nocuda.c in a build without CUDA). Plain C types only, so both the
 * C library and nvcc include it. */
#ifndef RIPPLE_BACKEND_CUDA_H
#define RIPPLE_BACKEND_CUDA_H

#include "ripple/ripple.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when CUDA is built in and at least one device answers. */
int ripple_cuda_available(void);
/* Exact attention on device 0; synchronous. Arguments already checked.
 * q, k, v, o: [heads, seq, dim] host pointers, row-major. */
ripple_status ripple_attn_exact_cuda(int64_t heads, int64_t seq, int64_t dim, double scale,
                                     const float *q, const float *k, const float *v, float *o);

/* The CUDA paths of exact attention (kernels/cuda/attn_exact_cuda.cu says
 * what each is); ripple_attn_exact_cuda runs RIPPLE_CUDA_PATH's, by default
 * tf32x3 for dim <= 128 and cublas past it. */
enum {
    RIPPLE_CUDA_PATH_TF32X3 = 0,
    RIPPLE_CUDA_PATH_FP32,
    RIPPLE_CUDA_PATH_CUBLAS,
    RIPPLE_CUDA_PATH_BF16,
    RIPPLE_CUDA_PATH_COUNT
};
const char *ripple_cuda_path_name(int path);
ripple_status ripple_attn_exact_cuda_path(int path, int64_t heads, int64_t seq, int64_t dim, double scale,
                                          const float *q, const float *k, const float *v, float *o);

/* Masked attention on device 0 (attn_masked's CUDA variant): the rule's
 * spec evaluated on the device (RIPPLE_ERR_UNSUPPORTED for a rule without
 * one; the dispatcher sends those to the CPU). Host arrays as the CPU
 * variant, the same pipeline (float32 scores, rule, softmax, P V). */
struct ripple_row_rule;
ripple_status ripple_attn_masked_cuda(int64_t heads, int64_t seq, int64_t dim, double scale,
                                      const float *q, const float *k, const float *v,
                                      const struct ripple_row_rule *rule, float *o);
/* Float64 exact attention on device 0 (attn_f64's CUDA variant): o, host
 * doubles [heads, seq, dim]. */
ripple_status ripple_attn_exact_f64_cuda(int64_t heads, int64_t seq, int64_t dim, double scale,
                                         const float *q, const float *k, const float *v, double *o);

/* The ripple transform of one head on device 0 (kernels/cuda/reuse_cuda.cu),
 * host arrays in and out as ripple_reuse_apply; the same marks and values. */
ripple_status ripple_reuse_apply_cuda(const ripple_layout *lay, const ripple_reuse_params *p,
                                      const float *x, float *x_out, ripple_mask_t *mask);

/* Fused reuse attention on device 0 (attn_reuse's CUDA variant, the
 * delta-row kernel of kernels/cuda/attn_reuse_cuda.cu): host arrays as the
 * CPU variants; dim <= 128. */
struct ripple_attn_reuse_work;
ripple_status ripple_attn_reuse_cuda(const ripple_layout *lay, int window, int64_t heads, double scale,
                                     const float *q, const float *k, const float *v, float *o,
                                     struct ripple_attn_reuse_work *work);

#ifdef __cplusplus
}
#endif

#endif
