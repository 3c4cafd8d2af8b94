/* Fused reuse attention on the GPU (issue 14 item 4): the device-pointer
 * kernels of kernels/cuda/attn_reuse_cuda.cu. Plain C types, no dependence
 * on the rest of ripple (as attn_flash_cuda.h), so the library's CUDA
 * variant of attn_reuse (attn_exact_cuda.cu) and the benchmark
 * (kernels/dev/attn_reuse_cuda.c) call the same code.
 *
 * o = softmax(scale Q~ K~^T) V for the rippled q~, k~, exactly that
 * function for ANY input (the structure is found by comparing values, so it
 * decides the speed, never the result); float32 in and out, float32 FMA (no
 * tensor cores), dim <= 128. Tensors [heads, seq, dim] in token order.
 *
 * The layout part: the video grid t x h x w at token video_offset, the
 * transform's window. perm[p] (int32, seq entries, on the device): the
 * token at position p of cube order (ripple_reuse_cuda_cube_order fills it
 * on the host), pos[token] its inverse.
 *
 * Two steps, both only enqueued on `stream`:
 *   ripple_reuse_cuda_plan: for every (head, position) the source row (an
 *     earlier position of the same block of RIPPLE_REUSE_CUDA_BM positions
 *     whose q~ differs on the fewest channels, among the corner projections
 *     of the token inside its window cube) and the differing channels with
 *     their differences dq = q~_i - q~_s, when there are at most max_nnz of
 *     them; else the row is dense. Plan arrays: src [heads*seq] int32,
 *     nnz [heads*seq] int32, chan [heads*seq*dim] uint8, dq [heads*seq*dim]
 *     float. counts (3 unsigned long long, may be NULL): dense rows, delta
 *     rows, delta channels, added to.
 *   ripple_reuse_cuda_attn: the attention from the plan.
 * d_bad as in attn_flash_cuda.h (head * seq + token). */
#ifndef RIPPLE_ATTN_REUSE_CUDA_H
#define RIPPLE_ATTN_REUSE_CUDA_H

#ifdef __cplusplus
extern "C" {
#endif

enum { RIPPLE_REUSE_CUDA_BM = 64 };

typedef struct ripple_reuse_cuda_geom {
    long long heads, seq, video_offset;
    int dim, t, h, w, window;
} ripple_reuse_cuda_geom;

/* Host: perm (seq int32) in cube order (cubes of window^3 in flat order,
 * their tokens in flat order, then the text tokens), pos its inverse. */
void ripple_reuse_cuda_cube_order(const ripple_reuse_cuda_geom *g, int *perm, int *pos);

int ripple_reuse_cuda_plan(const ripple_reuse_cuda_geom *g, int max_nnz, const float *d_q, const int *d_perm,
                           const int *d_pos, int *d_src, int *d_nnz, unsigned char *d_chan, float *d_dq,
                           unsigned long long *d_counts, void *stream);

int ripple_reuse_cuda_attn(const ripple_reuse_cuda_geom *g, float scale, const float *d_q, const float *d_k,
                           const float *d_v, float *d_o, const int *d_perm, const int *d_src, const int *d_nnz,
                           const unsigned char *d_chan, const float *d_dq, unsigned long long *d_bad,
                           void *stream);

#ifdef __cplusplus
}
#endif

#endif
