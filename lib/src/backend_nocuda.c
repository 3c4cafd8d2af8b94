/* The CUDA backend's entry points in a build without CUDA. */
#include "backend_cuda.h"
#include "internal.h"

int ripple_cuda_available(void) { return 0; }

ripple_status ripple_attn_exact_cuda(int64_t heads, int64_t seq, int64_t dim, double scale,
                                     const float *q, const float *k, const float *v, float *o)
{
    (void)heads, (void)seq, (void)dim, (void)scale, (void)q, (void)k, (void)v, (void)o;
    return ripple_fail(RIPPLE_ERR_UNSUPPORTED,
                       "CUDA backend: built without CUDA (reconfigure with -Dcuda=enabled)");
}
