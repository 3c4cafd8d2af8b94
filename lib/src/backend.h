/* The backend table (dav1d's style): every op the library runs on a
 * backend, and for each op its variants, the CPU ones first in order of
 * preference, then the CUDA one. Variants share a stem with their op; their
 * files sit where a reader looks first (libvmaf's layout):
 *
 *   op                 reference (tests)        CPU variants                       CUDA
 *   attn_exact         attn_ref.c (float64)     kernels/attn_exact.c "blas",       kernels/cuda/attn_exact_cuda.cu
 *                                                                                   (+ attn_flash_cuda.cu)
 *                                               kernels/x86/attn_exact_avx2.c,
 *                                               kernels/x86/attn_exact_avx512.c
 *   attn_masked        attn_ref.c (float64)     kernels/attn_exact.c "blas"        kernels/cuda/attn_exact_cuda.cu
 *                                                                                   (rules with a mask spec)
 *   transform          tests' brute force       lib/src/reuse.c "c"                kernels/cuda/reuse_cuda.cu
 *   attn_reuse         attn_ref.c on Q~, K~     "exact" (attn_exact on Q~, K~),     -
 *                      (float64)                kernels/x86/attn_reuse_avx2.c,
 *                                               kernels/x86/attn_reuse_avx512.c
 *                                               (delta rows, attn_reuse_body.h)
 *   attn_f64           itself                   lib/src/attn_ref.c "c"             kernels/cuda/attn_exact_cuda.cu
 *                                                                                   (cuBLAS DGEMM + softmax)
 *
 * A backend without a variant of an op runs the CPU one (the data are host
 * arrays either way). ripple_attn_exact, ripple_attnmap_apply and
 * ripple_reuse_apply dispatch through this table; tests/test_checkasm.c runs
 * every variant that can run here against the reference, and times them. */
#ifndef RIPPLE_BACKEND_H
#define RIPPLE_BACKEND_H

#include "ripple/ripple.h"

#ifdef __cplusplus
extern "C" {
#endif

/* q, k, v, o: [heads, seq, dim], row-major host arrays; arguments checked by
 * the dispatcher (ripple_attn_check) before a variant runs. */
typedef ripple_status (*ripple_attn_exact_fn)(int64_t heads, int64_t seq, int64_t dim, double scale,
                                              const float *q, const float *k, const float *v, float *o);

/* A mask rule the CUDA variant of attn_masked evaluates on the device
 * (the attention-map kinds of attnmap.c; attnmap.h states the rules):
 *   ALL   every key;
 *   BOX   text rows keep every key, video rows every text key and the video
 *         keys with |dt| <= radius[3h], |dh| <= radius[3h+1], |dw| <= radius[3h+2]
 *         around the row's own (t, h, w) in lay's grid;
 *   TOPK  the topk[h] keys of largest score scale q.k of the row (all when
 *         topk[h] >= seq), ties to the lower key index.
 * radius, topk: per head, owned by the caller. */
typedef enum ripple_mask_kind { RIPPLE_MASK_ALL = 0, RIPPLE_MASK_BOX, RIPPLE_MASK_TOPK } ripple_mask_kind;
typedef struct ripple_mask_spec {
    ripple_mask_kind kind;
    ripple_layout lay;     /* BOX: grid, video_offset, seq_len */
    const int64_t *radius; /* BOX: [heads * 3] */
    const int64_t *topk;   /* TOPK: [heads] */
} ripple_mask_spec;

/* A mask rule for masked attention: keep[j] = 1 for the keys query row `row`
 * of `head` keeps, 0 for the others; at least one key must be kept. srow:
 * that row's scores scale q.k ([seq]); scratch: [seq] floats of the caller's.
 * Called from several threads at once: ctx is read-only. spec: the same
 * rule in a form a device can evaluate, or NULL (host callback only: the
 * CUDA backend then runs the CPU variant). */
typedef struct ripple_row_rule {
    void (*keep)(const void *ctx, int64_t head, int64_t row, const float *srow, float *scratch,
                 uint8_t *keep);
    const void *ctx;
    const ripple_mask_spec *spec;
} ripple_row_rule;

/* The host form of a spec's rule (attnmap.c): a keep callback whose ctx is
 * a const ripple_mask_spec *. */
void ripple_mask_spec_keep(const void *spec, int64_t head, int64_t row, const float *srow, float *scratch,
                           uint8_t *keep);

/* o = softmax over the kept keys of scale q k^T, times v. */
typedef ripple_status (*ripple_attn_masked_fn)(int64_t heads, int64_t seq, int64_t dim, double scale,
                                               const float *q, const float *k, const float *v,
                                               const ripple_row_rule *rule, float *o);

/* Float64 exact attention (the reference's definition): o: [heads, seq,
 * dim] doubles. Arguments checked by the dispatcher. */
typedef ripple_status (*ripple_attn_f64_fn)(int64_t heads, int64_t seq, int64_t dim, double scale,
                                            const float *q, const float *k, const float *v, double *o);

typedef ripple_status (*ripple_transform_fn)(const ripple_layout *lay, const ripple_reuse_params *p,
                                             const float *x, float *x_out, ripple_mask_t *mask);

/* Work a fused reuse kernel did, counted (ripple_attn_reuse_work_frac
 * turns it into a fraction of dense attention's work). */
typedef struct ripple_attn_reuse_work {
    int64_t rows;           /* query rows, all heads */
    int64_t dense_rows;     /* rows whose scores took the full d x N dot products */
    int64_t delta_rows;     /* rows computed as S_src + dQ K~^T */
    int64_t delta_channels; /* sum over delta rows of |C_i| (channels of dQ_i) */
} ripple_attn_reuse_work;

/* Fused reuse attention: o = softmax(scale Q~ K~^T) V for the rippled
 * q~, k~ (ripple_reuse_apply's outputs), [heads, seq, dim] with seq and dim
 * those of lay; window: the transform's window (0 = 2), which only tells
 * the kernel where reuse sources lie. work: counts of what it did (NULL:
 * none). Arguments checked by ripple_attn_reuse. */
typedef ripple_status (*ripple_attn_reuse_fn)(const ripple_layout *lay, int window, int64_t heads, double scale,
                                              const float *q, const float *k, const float *v, float *o,
                                              ripple_attn_reuse_work *work);

/* Work of the reuse kernel as a fraction of dense attention's 4 N^2 d
 * (QK^T 2 N^2 d scaled by the delta rows' channels, PV 2 N^2 d whole):
 *   (dense_rows d + sum |C_i| + delta_rows) / (rows d) / 2 + 1/2,
 * the + delta_rows being the read of the source's scores (one add per
 * score, counted as one channel). */
double ripple_attn_reuse_work_frac(const ripple_attn_reuse_work *w, int64_t dim);

typedef enum ripple_op {
    RIPPLE_OP_ATTN_EXACT = 0,
    RIPPLE_OP_ATTN_MASKED,
    RIPPLE_OP_TRANSFORM,
    RIPPLE_OP_ATTN_REUSE,
    RIPPLE_OP_ATTN_F64,
    RIPPLE_OP_COUNT
} ripple_op;

typedef struct ripple_variant {
    const char *name;       /* "blas", "avx2", "avx512", "c", "cuda" */
    ripple_backend backend; /* which backend it belongs to */
    int (*available)(void); /* this machine can run it */
    union {
        ripple_attn_exact_fn attn_exact;
        ripple_attn_masked_fn attn_masked;
        ripple_transform_fn transform;
        ripple_attn_reuse_fn attn_reuse;
        ripple_attn_f64_fn attn_f64;
    } fn;
} ripple_variant;

const char *ripple_op_name(ripple_op op);
/* Variants of op: count, and the i-th (NULL past the end). */
int ripple_variant_count(ripple_op op);
const ripple_variant *ripple_variant_get(ripple_op op, int i);
/* The variant that op runs on backend b: for the CPU the last one this CPU
 * can run (RIPPLE_CPU_PATH overrides it for attn_exact), for CUDA its own or
 * else the CPU's; NULL, with the reason in ripple_last_error(), if none. */
const ripple_variant *ripple_variant_select(ripple_op op, ripple_backend b);

/* Masked attention through the table (attnmap.c's apply). */
ripple_status ripple_attn_masked(ripple_backend b, int64_t heads, int64_t seq, int64_t dim,
                                 double scale, const float *q, const float *k, const float *v,
                                 const ripple_row_rule *rule, float *o);

/* Float64 exact attention through the table: the reference on the CPU
 * (ripple_attn_exact_f64), DGEMM on the GPU; the drivers' noise floor. */
ripple_status ripple_attn_f64(ripple_backend b, int64_t heads, int64_t seq, int64_t dim, double scale,
                              const float *q, const float *k, const float *v, double *o);

/* The variants (declared here so that the table can name them). */
ripple_status ripple_attn_exact_blas(int64_t heads, int64_t seq, int64_t dim, double scale,
                                     const float *q, const float *k, const float *v, float *o);
ripple_status ripple_attn_exact_avx2(int64_t heads, int64_t seq, int64_t dim, double scale,
                                     const float *q, const float *k, const float *v, float *o);
ripple_status ripple_attn_exact_avx512(int64_t heads, int64_t seq, int64_t dim, double scale,
                                       const float *q, const float *k, const float *v, float *o);
ripple_status ripple_attn_masked_blas(int64_t heads, int64_t seq, int64_t dim, double scale,
                                      const float *q, const float *k, const float *v,
                                      const ripple_row_rule *rule, float *o);
ripple_status ripple_attn_reuse_exact(const ripple_layout *lay, int window, int64_t heads, double scale,
                                      const float *q, const float *k, const float *v, float *o,
                                      ripple_attn_reuse_work *work);
ripple_status ripple_attn_reuse_avx2(const ripple_layout *lay, int window, int64_t heads, double scale,
                                     const float *q, const float *k, const float *v, float *o,
                                     ripple_attn_reuse_work *work);
ripple_status ripple_attn_reuse_avx512(const ripple_layout *lay, int window, int64_t heads, double scale,
                                       const float *q, const float *k, const float *v, float *o,
                                       ripple_attn_reuse_work *work);
/* The transform's parameter check (reuse.c), shared by its variants. */
ripple_status ripple_reuse_check(const ripple_reuse_params *p);
ripple_status ripple_reuse_apply_c(const ripple_layout *lay, const ripple_reuse_params *p,
                                   const float *x, float *x_out, ripple_mask_t *mask);
/* Masked attention in float64 (the reference). o: [heads, seq, dim]. The
 * rule is given float32 scores scale q.k computed in float64 and rounded. */
ripple_status ripple_attn_masked_f64(int64_t heads, int64_t seq, int64_t dim, double scale,
                                     const float *q, const float *k, const float *v,
                                     const ripple_row_rule *rule, double *o);

#ifdef __cplusplus
}
#endif

#endif
