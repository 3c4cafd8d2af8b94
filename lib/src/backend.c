/* Backends of exact attention: one table entry per ripple_backend (dav1d
 * style), the shared argument check, and the public dispatcher. */
#include "backend_cuda.h"
#include "internal.h"
#include "ripple_config.h"

#include <math.h>

typedef struct attn_backend {
    const char *name;
    int (*available)(void);
    ripple_status (*attn_exact)(int64_t heads, int64_t seq, int64_t dim, double scale,
                                const float *q, const float *k, const float *v, float *o);
} attn_backend;

static int cpu_available(void) { return 1; }

static const attn_backend backends[] = {
    [RIPPLE_BACKEND_CPU] = {"cpu", cpu_available, ripple_attn_exact_cpu},
    [RIPPLE_BACKEND_CUDA] = {"cuda", ripple_cuda_available, ripple_attn_exact_cuda},
};
#define NUM_BACKENDS ((int)(sizeof backends / sizeof backends[0]))

static const attn_backend *backend_get(ripple_backend b)
{
    return (int)b >= 0 && (int)b < NUM_BACKENDS ? &backends[b] : NULL;
}

int ripple_backend_available(ripple_backend b)
{
    const attn_backend *be = backend_get(b);
    return be ? be->available() : 0;
}

const char *ripple_backend_name(ripple_backend b)
{
    const attn_backend *be = backend_get(b);
    return be ? be->name : "unknown";
}

/* Index of the first non-finite value of x[0..n), or -1. */
static int64_t first_nonfinite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return (int64_t)i;
    return -1;
}

ripple_status ripple_attn_check(int64_t heads, int64_t seq, int64_t dim, double scale,
                                const float *q, const float *k, const float *v, const void *o)
{
    if (heads <= 0 || seq <= 0 || dim <= 0)
        return ripple_fail(RIPPLE_ERR_INVALID,
                           "attention: sizes must be positive (heads %lld, seq %lld, dim %lld)",
                           (long long)heads, (long long)seq, (long long)dim);
    if (!q || !k || !v || !o)
        return ripple_fail(RIPPLE_ERR_INVALID, "attention: %s is NULL",
                           !q ? "q" : !k ? "k" : !v ? "v" : "o");
    if (!isfinite(scale))
        return ripple_fail(RIPPLE_ERR_INVALID, "attention: scale %g is not finite", scale);
    size_t n = ripple_mul3(heads, seq, dim);
    if (n == 0)
        return ripple_fail(RIPPLE_ERR_INVALID,
                           "attention: heads*seq*dim overflows (%lld x %lld x %lld)",
                           (long long)heads, (long long)seq, (long long)dim);
    const float *t[3] = {q, k, v};
    for (int i = 0; i < 3; i++) {
        int64_t bad = first_nonfinite(t[i], n);
        if (bad >= 0) {
            int64_t per_head = seq * dim;
            return ripple_fail(RIPPLE_ERR_NONFINITE,
                               "attention: %c[%lld, %lld, %lld] is not finite", "qkv"[i],
                               (long long)(bad / per_head), (long long)(bad % per_head / dim),
                               (long long)(bad % dim));
        }
    }
    return RIPPLE_OK;
}

ripple_status ripple_attn_exact(ripple_backend b, int64_t heads, int64_t seq, int64_t dim,
                                double scale, const float *q, const float *k, const float *v,
                                float *o)
{
    const attn_backend *be = backend_get(b);
    if (!be) return ripple_fail(RIPPLE_ERR_INVALID, "attention: unknown backend %d", (int)b);
    ripple_status st = ripple_attn_check(heads, seq, dim, scale, q, k, v, o);
    if (st != RIPPLE_OK) return st;
    if (!be->available()) {
        if (b == RIPPLE_BACKEND_CUDA && !RIPPLE_HAVE_CUDA) /* says how to build it in */
            return be->attn_exact(heads, seq, dim, scale, q, k, v, o);
        return ripple_fail(RIPPLE_ERR_UNSUPPORTED,
                           "attention: backend %s is not available on this machine", be->name);
    }
    return be->attn_exact(heads, seq, dim, scale, q, k, v, o);
}
