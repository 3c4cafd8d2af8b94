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

#ifdef __cplusplus
}
#endif

#endif
