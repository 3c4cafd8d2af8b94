/* Fused (flash-style) exact attention on device pointers, the kernels of
 * kernels/cuda/attn_flash_cuda.cu. Plain C types only and no dependence on
 * the rest of ripple, so the same file is built into the library (its CUDA
 * backend, kernels/cuda/attn_exact_cuda.cu) and into the shared module
 * build/kernels/libripple_flash.so that kernels/dev/attn_cuda_bench.py loads
 * next to PyTorch (ctypes) to time both in one program.
 *
 * Every tensor is [heads, seq, dim], row-major, on the device; o = softmax(
 * scale q k^T) v per head. The calls only enqueue work on `stream` (a
 * cudaStream_t, NULL = the default stream) and return a cudaError_t (0 =
 * launched). d_bad (may be NULL) receives, by atomicMin, head * seq + row of
 * the first query row whose scores are not finite (scale q.k overflows
 * float32); the caller sets it to ~0 beforehand. */
#ifndef RIPPLE_ATTN_FLASH_CUDA_H
#define RIPPLE_ATTN_FLASH_CUDA_H

#ifdef __cplusplus
extern "C" {
#endif

/* Float32 in and out.
 * RIPPLE_FLASH_TF32X3: scores and P V on the tensor cores in 3xTF32 (each
 *   float32 operand split into a TF32 big part and a TF32 rest; three
 *   products big*big + big*rest + rest*big, float32 accumulation): float32
 *   accuracy at tensor-core speed. dim <= 128. On sm_90a builds and CC 9.x
 *   devices, dim 33..128 runs the wgmma kernel (tiling wg2_bn32), else the
 *   mma.sync one.
 *   Each 8-term product goes into a zeroed fragment and is added to the
 *   running sums in float32 (the tensor cores do not accumulate in
 *   round-to-nearest float32).
 * RIPPLE_FLASH_FP32: plain float32 FMA (no tensor cores), the accuracy and
 *   speed yardstick. dim <= 128.
 * RIPPLE_FLASH_TF32X3_CHAINED: tf32x3 with the sums kept in the tensor-core
 *   fragments (faster, and measured 10-200x a naive float32 kernel's
 *   normalised MSE: for the benchmark only). */
enum { RIPPLE_FLASH_TF32X3 = 0, RIPPLE_FLASH_FP32 = 1, RIPPLE_FLASH_TF32X3_CHAINED = 2 };

int ripple_flash_attn_f32(int kind, long long heads, long long seq, int dim, float scale,
                          const float *d_q, const float *d_k, const float *d_v, float *d_o,
                          unsigned long long *d_bad, void *stream);

/* RIPPLE_FLASH_TF32X3 in one of its tilings, for the benchmark: variant -1
 * is the default (the one RIPPLE_FLASH_TF32X3 takes), 0.. the tilings
 * (ripple_flash_tf32x3_variant_name). dim <= 32 takes one tiling always. */
int ripple_flash_attn_tf32x3(int variant, long long heads, long long seq, int dim, float scale,
                             const float *d_q, const float *d_k, const float *d_v, float *d_o,
                             unsigned long long *d_bad, void *stream);
int ripple_flash_tf32x3_variant_count(void);
const char *ripple_flash_tf32x3_variant_name(int variant);

/* bf16 in and out (__nv_bfloat16 arrays), float32 softmax and accumulation;
 * dim 64 or 128. variant -1 is the default (FA3's shape on sm_90a builds,
 * Hopper devices and 16-byte aligned tensors, else the mma.sync kernel);
 * 0.. the tilings (ripple_flash_bf16_variant_name), for the benchmark. The
 * TMA tilings (ws*) take seq < 2^31 and 16-byte aligned tensors. */
int ripple_flash_attn_bf16(int variant, long long heads, long long seq, int dim, float scale,
                           const void *d_q, const void *d_k, const void *d_v, void *d_o,
                           void *stream);
int ripple_flash_bf16_variant_count(void);
const char *ripple_flash_bf16_variant_name(int variant);

/* float32 <-> bf16 (round to nearest even) on the device, n elements. */
int ripple_flash_f32_to_bf16(const float *d_x, void *d_y, long long n, void *stream);
int ripple_flash_bf16_to_f32(const void *d_x, float *d_y, long long n, void *stream);

#ifdef __cplusplus
}
#endif

#endif
