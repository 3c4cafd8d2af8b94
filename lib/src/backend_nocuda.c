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

const char *ripple_cuda_path_name(int path)
{
    static const char *const names[RIPPLE_CUDA_PATH_COUNT] = {"tf32x3", "fp32", "cublas", "bf16"};
    return path >= 0 && path < RIPPLE_CUDA_PATH_COUNT ? names[path] : NULL;
}

ripple_status ripple_attn_exact_cuda_path(int path, int64_t heads, int64_t seq, int64_t dim, double scale,
                                          const float *q, const float *k, const float *v, float *o)
{
    (void)path;
    return ripple_attn_exact_cuda(heads, seq, dim, scale, q, k, v, o);
}

ripple_status ripple_reuse_apply_cuda(const ripple_layout *lay, const ripple_reuse_params *p,
                                      const float *x, float *x_out, ripple_mask_t *mask)
{
    (void)lay, (void)p, (void)x, (void)x_out, (void)mask;
    return ripple_fail(RIPPLE_ERR_UNSUPPORTED,
                       "CUDA transform: built without CUDA (reconfigure with -Dcuda=enabled)");
}

ripple_status ripple_attn_masked_cuda(int64_t heads, int64_t seq, int64_t dim, double scale,
                                      const float *q, const float *k, const float *v,
                                      const struct ripple_row_rule *rule, float *o)
{
    (void)heads, (void)seq, (void)dim, (void)scale, (void)q, (void)k, (void)v, (void)rule, (void)o;
    return ripple_fail(RIPPLE_ERR_UNSUPPORTED,
                       "CUDA masked attention: built without CUDA (reconfigure with -Dcuda=enabled)");
}

ripple_status ripple_attn_exact_f64_cuda(int64_t heads, int64_t seq, int64_t dim, double scale,
                                         const float *q, const float *k, const float *v, double *o)
{
    (void)heads, (void)seq, (void)dim, (void)scale, (void)q, (void)k, (void)v, (void)o;
    return ripple_fail(RIPPLE_ERR_UNSUPPORTED,
                       "CUDA float64 attention: built without CUDA (reconfigure with -Dcuda=enabled)");
}

ripple_status ripple_attn_reuse_cuda(const ripple_layout *lay, int window, int64_t heads, double scale,
                                     const float *q, const float *k, const float *v, float *o,
                                     struct ripple_attn_reuse_work *work)
{
    (void)lay, (void)window, (void)heads, (void)scale, (void)q, (void)k, (void)v, (void)o, (void)work;
    return ripple_fail(RIPPLE_ERR_UNSUPPORTED,
                       "CUDA reuse attention: built without CUDA (reconfigure with -Dcuda=enabled)");
}
