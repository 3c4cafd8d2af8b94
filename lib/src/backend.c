/* The backend table (backend.h explains it), the CPU path API on top of it,
 * the shared argument check, and the public dispatchers. */
#include "backend.h"
#include "backend_cuda.h"
#include "internal.h"
#include "ripple_config.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ the table */

static int any_machine(void) { return 1; }

#if RIPPLE_HAVE_X86_KERNELS
static int cpu_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
/* libgcc's and compiler-rt's cpu model also check that the OS saves the
 * AVX-512 state (XCR0) before reporting avx512f. */
static int cpu_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
#endif

#define CPU RIPPLE_BACKEND_CPU
#define CUDA RIPPLE_BACKEND_CUDA
static const ripple_variant attn_exact_variants[] = {
    {"blas", CPU, any_machine, {.attn_exact = ripple_attn_exact_blas}},
#if RIPPLE_HAVE_X86_KERNELS
    {"avx2", CPU, cpu_avx2, {.attn_exact = ripple_attn_exact_avx2}},
    {"avx512", CPU, cpu_avx512, {.attn_exact = ripple_attn_exact_avx512}},
#endif
    {"cuda", CUDA, ripple_cuda_available, {.attn_exact = ripple_attn_exact_cuda}},
};
static const ripple_variant attn_masked_variants[] = {
    {"blas", CPU, any_machine, {.attn_masked = ripple_attn_masked_blas}},
    {"cuda", CUDA, ripple_cuda_available, {.attn_masked = ripple_attn_masked_cuda}},
};
/* "c" is the reference itself (attn_ref.c). */
static const ripple_variant attn_f64_variants[] = {
    {"c", CPU, any_machine, {.attn_f64 = ripple_attn_exact_f64}},
    {"cuda", CUDA, ripple_cuda_available, {.attn_f64 = ripple_attn_exact_f64_cuda}},
};
/* The fused CPU reuse kernels are x86 only: elsewhere the CPU runs "exact". */
static const ripple_variant attn_reuse_variants[] = {
    {"exact", CPU, any_machine, {.attn_reuse = ripple_attn_reuse_exact}},
#if RIPPLE_HAVE_X86_KERNELS
    {"avx2", CPU, cpu_avx2, {.attn_reuse = ripple_attn_reuse_avx2}},
    {"avx512", CPU, cpu_avx512, {.attn_reuse = ripple_attn_reuse_avx512}},
#endif
    {"cuda", CUDA, ripple_cuda_available, {.attn_reuse = ripple_attn_reuse_cuda}},
};
static const ripple_variant transform_variants[] = {
    {"c", CPU, any_machine, {.transform = ripple_reuse_apply_c}},
    {"cuda", CUDA, ripple_cuda_available, {.transform = ripple_reuse_apply_cuda}},
};
#undef CPU
#undef CUDA

static const struct {
    const char *name;
    const ripple_variant *v;
    int n;
} ops[RIPPLE_OP_COUNT] = {
#define OP(e, name, arr) [e] = {name, arr, (int)(sizeof arr / sizeof arr[0])}
    OP(RIPPLE_OP_ATTN_EXACT, "attn_exact", attn_exact_variants),
    OP(RIPPLE_OP_ATTN_MASKED, "attn_masked", attn_masked_variants),
    OP(RIPPLE_OP_TRANSFORM, "transform", transform_variants),
    OP(RIPPLE_OP_ATTN_REUSE, "attn_reuse", attn_reuse_variants),
    OP(RIPPLE_OP_ATTN_F64, "attn_f64", attn_f64_variants),
#undef OP
};

const char *ripple_op_name(ripple_op op)
{
    return (int)op >= 0 && op < RIPPLE_OP_COUNT ? ops[op].name : "?";
}

int ripple_variant_count(ripple_op op) { return (int)op >= 0 && op < RIPPLE_OP_COUNT ? ops[op].n : 0; }

const ripple_variant *ripple_variant_get(ripple_op op, int i)
{
    return i >= 0 && i < ripple_variant_count(op) ? &ops[op].v[i] : NULL;
}

/* RIPPLE_CPU_PATH: read once. selected_exact: index into attn_exact_variants. */
static pthread_once_t cpu_path_once = PTHREAD_ONCE_INIT;
static int selected_exact = -1;
static char cpu_path_env[32];

static void select_cpu_path(void)
{
    const char *env = getenv("RIPPLE_CPU_PATH");
    const ripple_variant *v = attn_exact_variants;
    int n = (int)(sizeof attn_exact_variants / sizeof attn_exact_variants[0]);
    if (env && *env) snprintf(cpu_path_env, sizeof cpu_path_env, "%s", env);
    for (int i = 0; i < n; i++)
        if (v[i].backend == RIPPLE_BACKEND_CPU && v[i].available() &&
            (!cpu_path_env[0] || !strcmp(cpu_path_env, v[i].name)))
            selected_exact = i;
}

/* Names of the CPU variants of op this machine can run, for messages. */
static void runnable_names(ripple_op op, char *buf, size_t n)
{
    buf[0] = '\0';
    for (int i = 0; i < ops[op].n; i++)
        if (ops[op].v[i].backend == RIPPLE_BACKEND_CPU && ops[op].v[i].available())
            snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", buf[0] ? ", " : "", ops[op].v[i].name);
}

const ripple_variant *ripple_variant_select(ripple_op op, ripple_backend b)
{
    if ((int)op < 0 || op >= RIPPLE_OP_COUNT)
        return ripple_fail(RIPPLE_ERR_INVALID, "backend table: no op %d", (int)op), NULL;
    const ripple_variant *best = NULL;
    if (b == RIPPLE_BACKEND_CUDA)
        for (int i = 0; i < ops[op].n; i++)
            if (ops[op].v[i].backend == RIPPLE_BACKEND_CUDA) best = &ops[op].v[i];
    if (best) return best; /* its own availability is checked by the caller */
    if (op == RIPPLE_OP_ATTN_EXACT) {
        pthread_once(&cpu_path_once, select_cpu_path);
        if (selected_exact < 0) {
            char names[128];
            runnable_names(op, names, sizeof names);
            return ripple_fail(RIPPLE_ERR_UNSUPPORTED,
                               "attention: RIPPLE_CPU_PATH=%s is not a CPU path this machine can run "
                               "(it can run: %s)",
                               cpu_path_env, names),
                   NULL;
        }
        return &attn_exact_variants[selected_exact];
    }
    if (op == RIPPLE_OP_ATTN_REUSE) {
        /* RIPPLE_CPU_PATH picks the reuse kernel of the same ISA, so that a
         * comparison on one path times both ops in one width; "blas" (no
         * fused reuse kernel) runs "exact" */
        pthread_once(&cpu_path_once, select_cpu_path);
        if (cpu_path_env[0]) {
            for (int i = 0; i < ops[op].n; i++)
                if (ops[op].v[i].backend == RIPPLE_BACKEND_CPU && ops[op].v[i].available() &&
                    (!strcmp(ops[op].v[i].name, cpu_path_env) || !strcmp(ops[op].v[i].name, "exact")))
                    best = &ops[op].v[i];
            if (best) return best;
        }
    }
    for (int i = 0; i < ops[op].n; i++)
        if (ops[op].v[i].backend == RIPPLE_BACKEND_CPU && ops[op].v[i].available()) best = &ops[op].v[i];
    if (!best)
        ripple_fail(RIPPLE_ERR_UNSUPPORTED, "%s: no variant of this op is built in", ops[op].name);
    return best;
}

/* ------------------------------------------------- the CPU paths (public) */

/* The public path index i is the i-th CPU variant of attn_exact. */
static const ripple_variant *cpu_path(int i)
{
    int k = 0;
    for (int j = 0; j < ops[RIPPLE_OP_ATTN_EXACT].n; j++)
        if (attn_exact_variants[j].backend == RIPPLE_BACKEND_CPU && k++ == i) return &attn_exact_variants[j];
    return NULL;
}

int ripple_cpu_path_count(void)
{
    int k = 0;
    while (cpu_path(k)) k++;
    return k;
}

const char *ripple_cpu_path_name(int i)
{
    const ripple_variant *v = cpu_path(i);
    return v ? v->name : NULL;
}

int ripple_cpu_path_available(int i)
{
    const ripple_variant *v = cpu_path(i);
    return v ? v->available() : 0;
}

int ripple_cpu_path_selected(void)
{
    const ripple_variant *v = ripple_variant_select(RIPPLE_OP_ATTN_EXACT, RIPPLE_BACKEND_CPU);
    for (int i = 0; v && cpu_path(i); i++)
        if (cpu_path(i) == v) return i;
    return -1;
}

ripple_status ripple_attn_exact_cpu_path(int path, int64_t heads, int64_t seq, int64_t dim,
                                         double scale, const float *q, const float *k,
                                         const float *v, float *o)
{
    const ripple_variant *var = cpu_path(path);
    if (!var)
        return ripple_fail(RIPPLE_ERR_INVALID, "attention: no CPU path %d (there are %d)", path,
                           ripple_cpu_path_count());
    if (!var->available())
        return ripple_fail(RIPPLE_ERR_UNSUPPORTED,
                           "attention: CPU path %s cannot run on this processor", var->name);
    ripple_status st = ripple_attn_check(heads, seq, dim, scale, q, k, v, o);
    if (st != RIPPLE_OK) return st;
    return var->fn.attn_exact(heads, seq, dim, scale, q, k, v, o);
}

/* ------------------------------------------------------------ dispatch */

int ripple_backend_available(ripple_backend b)
{
    if (b == RIPPLE_BACKEND_CPU) return 1;
    if (b == RIPPLE_BACKEND_CUDA) return ripple_cuda_available();
    return 0;
}

const char *ripple_backend_name(ripple_backend b)
{
    return b == RIPPLE_BACKEND_CPU ? "cpu" : b == RIPPLE_BACKEND_CUDA ? "cuda" : "unknown";
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
    if (b != RIPPLE_BACKEND_CPU && b != RIPPLE_BACKEND_CUDA)
        return ripple_fail(RIPPLE_ERR_INVALID, "attention: unknown backend %d", (int)b);
    ripple_status st = ripple_attn_check(heads, seq, dim, scale, q, k, v, o);
    if (st != RIPPLE_OK) return st;
    const ripple_variant *var = ripple_variant_select(RIPPLE_OP_ATTN_EXACT, b);
    if (!var) return RIPPLE_ERR_UNSUPPORTED;
    if (!var->available()) {
        if (b == RIPPLE_BACKEND_CUDA && !RIPPLE_HAVE_CUDA) /* says how to build it in */
            return var->fn.attn_exact(heads, seq, dim, scale, q, k, v, o);
        return ripple_fail(RIPPLE_ERR_UNSUPPORTED,
                           "attention: backend %s is not available on this machine", ripple_backend_name(b));
    }
    return var->fn.attn_exact(heads, seq, dim, scale, q, k, v, o);
}

ripple_status ripple_attn_masked(ripple_backend b, int64_t heads, int64_t seq, int64_t dim,
                                 double scale, const float *q, const float *k, const float *v,
                                 const ripple_row_rule *rule, float *o)
{
    ripple_status st = ripple_attn_check(heads, seq, dim, scale, q, k, v, o);
    if (st != RIPPLE_OK) return st;
    if (!rule || !rule->keep) return ripple_fail(RIPPLE_ERR_INVALID, "masked attention: no mask rule");
    if (b != RIPPLE_BACKEND_CPU && b != RIPPLE_BACKEND_CUDA)
        return ripple_fail(RIPPLE_ERR_INVALID, "masked attention: unknown backend %d", (int)b);
    /* a host-only rule runs on the CPU whatever the backend */
    const ripple_variant *var = ripple_variant_select(RIPPLE_OP_ATTN_MASKED, rule->spec ? b : RIPPLE_BACKEND_CPU);
    if (!var) return RIPPLE_ERR_UNSUPPORTED;
    if (!var->available())
        return ripple_fail(RIPPLE_ERR_UNSUPPORTED, "masked attention: backend %s is not available on this machine",
                           ripple_backend_name(b));
    return var->fn.attn_masked(heads, seq, dim, scale, q, k, v, rule, o);
}

ripple_status ripple_attn_f64(ripple_backend b, int64_t heads, int64_t seq, int64_t dim, double scale,
                              const float *q, const float *k, const float *v, double *o)
{
    if (b != RIPPLE_BACKEND_CPU && b != RIPPLE_BACKEND_CUDA)
        return ripple_fail(RIPPLE_ERR_INVALID, "float64 attention: unknown backend %d", (int)b);
    ripple_status st = ripple_attn_check(heads, seq, dim, scale, q, k, v, o);
    if (st != RIPPLE_OK) return st;
    const ripple_variant *var = ripple_variant_select(RIPPLE_OP_ATTN_F64, b);
    if (!var) return RIPPLE_ERR_UNSUPPORTED;
    if (!var->available())
        return ripple_fail(RIPPLE_ERR_UNSUPPORTED, "float64 attention: backend %s is not available on this machine",
                           ripple_backend_name(b));
    return var->fn.attn_f64(heads, seq, dim, scale, q, k, v, o);
}

ripple_status ripple_reuse_apply(const ripple_layout *lay, const ripple_reuse_params *p,
                                 const float *x, float *x_out, ripple_mask_t *mask)
{
    const ripple_variant *var = ripple_variant_select(RIPPLE_OP_TRANSFORM, RIPPLE_BACKEND_CPU);
    if (!var) return RIPPLE_ERR_UNSUPPORTED;
    return var->fn.transform(lay, p, x, x_out, mask);
}

/* ------------------------------------------------------- reuse attention */

/* Variant "exact": the definition itself, exact attention on Q~, K~ (what
 * reuse cost before the fused kernels; the fallback off x86). */
ripple_status ripple_attn_reuse_exact(const ripple_layout *lay, int window, int64_t heads, double scale,
                                      const float *q, const float *k, const float *v, float *o,
                                      ripple_attn_reuse_work *work)
{
    (void)window;
    ripple_status st = ripple_attn_exact(RIPPLE_BACKEND_CPU, heads, lay->seq_len, lay->head_dim, scale, q, k, v, o);
    if (st == RIPPLE_OK && work) {
        memset(work, 0, sizeof *work);
        work->rows = work->dense_rows = heads * lay->seq_len;
    }
    return st;
}

double ripple_attn_reuse_work_frac(const ripple_attn_reuse_work *w, int64_t dim)
{
    if (!w || w->rows <= 0 || dim <= 0) return 1.0;
    const double qk = ((double)w->dense_rows * (double)dim + (double)w->delta_channels + (double)w->delta_rows) /
                      ((double)w->rows * (double)dim);
    return 0.5 * qk + 0.5;
}

ripple_status ripple_attn_reuse(ripple_backend b, const ripple_layout *lay, int window, int64_t heads,
                                double scale, const float *q_rippled, const float *k_rippled, const float *v,
                                float *o)
{
    ripple_status st = ripple_layout_check(lay);
    if (st != RIPPLE_OK) return st;
    if (window != 0 && window < 2)
        return ripple_fail(RIPPLE_ERR_INVALID, "reuse attention: window %d must be >= 2 (0 = default 2)", window);
    if (!ripple_backend_available(b))
        return ripple_fail(RIPPLE_ERR_UNSUPPORTED, "reuse attention: backend %s is not available here",
                           ripple_backend_name(b));
    st = ripple_attn_check(heads, lay->seq_len, lay->head_dim, scale, q_rippled, k_rippled, v, o);
    if (st != RIPPLE_OK) return st;
    const ripple_variant *var = ripple_variant_select(RIPPLE_OP_ATTN_REUSE, b);
    if (!var) return RIPPLE_ERR_UNSUPPORTED;
    return var->fn.attn_reuse(lay, window, heads, scale, q_rippled, k_rippled, v, o, NULL);
}
