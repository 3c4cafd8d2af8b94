/* Attention-map baselines (method.md section 3): attention restricted, per
 * query row, to a set of keys, and the three mask builders compared with
 * reuse at the same ATTENTION savings.
 *
 * Density = fraction of the N*N score entries of a head that are kept. A
 * skipped score entry spares its QK^T and its PV work, so the attention
 * savings of a mask are 1 - density (its score savings are the same).
 *
 * Masks are never stored as N x N: each kind is a rule per query row
 * (a 3D box of radii around the query, or the top keys of the row's exact
 * scores), evaluated per block of rows, so memory stays O(block x N).
 *
 * Text tokens (every token outside the video range of the layout) are
 * treated alike by every kind: a text query row attends to all keys, and a
 * video query row always keeps every text key. Both count in the density.
 *
 * Kinds
 * - full: every key (exact attention).
 * - oracle-topk: per query row (text rows too), the ceil(density * N) keys
 *   of largest exact score (= largest probability); ties go to the lower key
 *   index. Needs the scores, computed per block of rows in float32 (the
 *   precision of ripple_attn_exact). An upper bound for block-sparse methods.
 * - window: the video keys with |dt| <= rt, |dh| <= rh, |dw| <= rw around the
 *   query's (t, h, w). Radii start at (0, 0, 0) and grow by one in turn along
 *   t, h, w (an axis stops at its extent - 1, the whole axis) until the
 *   density reaches the target.
 * - svg (Sparse VideoGen): per head, a spatial mask (video keys in the
 *   query's own frame: radii (0, H-1, W-1)) or a temporal mask (video keys
 *   at the query's own (h, w) in every frame: radii (T-1, 0, 0)), whichever
 *   gives the lower output MSE against full attention on a sample of video
 *   query rows (svg_rows rows, seeded, computed in float64; a tie goes to
 *   spatial). The chosen mask is then widened to the target density:
 *   spatial adds the frames at +-1, +-2, ... (rt grows); temporal adds the
 *   neighbouring positions in growing squares (rh = rw grow, each clamped at
 *   its extent - 1).
 * The achieved density can exceed the target: radii and key counts are
 * whole numbers, and the text keys and rows are always kept. It is at least
 * the target unless the target is below what the kind's smallest mask keeps.
 *
 * Masked attention: per row, a numerically stable softmax over the kept keys
 * only (scores in float32 by sgemm, exponentials and the row sum as in exact
 * attention), output = the weighted sum of the kept values. */
#ifndef RIPPLE_ATTNMAP_H
#define RIPPLE_ATTNMAP_H

#include "ripple/ripple.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ripple_attnmap_kind {
    RIPPLE_ATTNMAP_FULL = 0,
    RIPPLE_ATTNMAP_ORACLE_TOPK = 1,
    RIPPLE_ATTNMAP_WINDOW = 2,
    RIPPLE_ATTNMAP_SVG = 3,
    RIPPLE_ATTNMAP_COUNT = 4
} ripple_attnmap_kind;

/* "full", "oracle-topk", "window", "svg"; "?" for anything else. */
RIPPLE_API const char *ripple_attnmap_kind_name(ripple_attnmap_kind k);
/* Kind by name, or -1. */
RIPPLE_API int ripple_attnmap_kind_parse(const char *name);

/* Zeroed = full attention. */
typedef struct ripple_attnmap_params {
    ripple_attnmap_kind kind;
    double density;    /* target fraction of the N*N entries kept, in (0, 1]; 0 = 1 */
    int64_t svg_rows;  /* svg: video query rows sampled to choose the mask; 0 = 64 */
    uint64_t svg_seed; /* svg: seed of that sample; 0 = a fixed default */
} ripple_attnmap_params;

/* What the builder chose for one head. */
typedef struct ripple_attnmap_head_info {
    double density;     /* fraction of this head's N*N entries kept */
    int64_t radius[3];  /* window, svg: radii along t, h, w; -1 for other kinds */
    int64_t topk;       /* oracle-topk: keys kept per query row; 0 otherwise */
    int svg_temporal;   /* svg: 0 = spatial mask chosen, 1 = temporal */
    double svg_mse[2];  /* svg: sampled output MSE of the spatial, temporal base mask */
} ripple_attnmap_head_info;

typedef struct ripple_attnmap ripple_attnmap; /* opaque: a mask rule for every head */

/* Builds the masks of `heads` heads. q, k, v: [heads, seq_len, head_dim]
 * (layout lay); the map keeps these pointers (oracle-topk and apply read
 * them), so they must outlive it unchanged. scale: softmax scale. */
RIPPLE_API ripple_status ripple_attnmap_build(const ripple_layout *lay, const ripple_attnmap_params *p,
                                   int64_t heads, double scale, const float *q, const float *k,
                                   const float *v, ripple_attnmap **out);
RIPPLE_API void ripple_attnmap_free(ripple_attnmap *m);

/* Achieved density over all heads (fraction of heads * N * N entries kept). */
RIPPLE_API double ripple_attnmap_density(const ripple_attnmap *m);
RIPPLE_API ripple_status ripple_attnmap_head(const ripple_attnmap *m, int64_t head, ripple_attnmap_head_info *out);

/* The kept keys of query rows [row0, row0 + rows) of one head.
 * keep: [rows, seq_len] bytes, 1 = kept, 0 = skipped. */
RIPPLE_API ripple_status ripple_attnmap_keep(const ripple_attnmap *m, int64_t head, int64_t row0, int64_t rows,
                                  uint8_t *keep);

/* Masked attention of every head: o: [heads, seq_len, head_dim]. Runs on
 * RIPPLE_NUM_THREADS workers (default: online CPUs), memory O(block x N)
 * per worker. */
RIPPLE_API ripple_status ripple_attnmap_apply(const ripple_attnmap *m, float *o);
/* The same on backend b: RIPPLE_BACKEND_CUDA evaluates every kind's rule on
 * the GPU (float32 scores by cuBLAS, the same rule, softmax and P V). */
RIPPLE_API ripple_status ripple_attnmap_apply_backend(const ripple_attnmap *m, ripple_backend b, float *o);

#ifdef __cplusplus
}
#endif

#endif /* RIPPLE_ATTNMAP_H */
