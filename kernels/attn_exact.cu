/* Exact attention on a CUDA device: o = softmax(scale q k^T) v per head.
 * Twin of lib/src/attn_exact_cpu.c; reference lib/src/attn_ref.c.
 *
 * q, k, v go to the device once; per head and block of query rows:
 *   S^T = K Q_blk^T          cublasSgemm (row-major [B, seq] S is the
 *                            column-major [seq, B] S^T)
 *   P = softmax_rows(scale S) softmax_rows: one thread block per row, max and
 *                            sum by warp shuffles + shared memory
 *   O_blk^T = V^T P^T         cublasSgemm
 * The score buffer holds at most ATTN_CUDA_SCORES floats (block rows chosen
 * from it), so memory is O(block * seq), never seq^2. Synchronous: returns
 * after o is back on the host. Every CUDA / cuBLAS status is checked and
 * becomes RIPPLE_ERR_BACKEND with the error's name. */
#include "backend_cuda.h"
#include "internal.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <math.h>

/* Score buffer budget: 32M floats = 128 MiB. */
#define ATTN_CUDA_SCORES (32ll << 20)
#define SOFTMAX_THREADS 256

#define CUDA_CHECK(call)                                                                      \
    do {                                                                                      \
        cudaError_t e_ = (call);                                                              \
        if (e_ != cudaSuccess) {                                                              \
            st = ripple_fail(RIPPLE_ERR_BACKEND, "CUDA backend: %s failed: %s (%s)", #call,   \
                             cudaGetErrorString(e_), cudaGetErrorName(e_));                   \
            goto done;                                                                        \
        }                                                                                     \
    } while (0)

#define CUBLAS_CHECK(call)                                                                    \
    do {                                                                                      \
        cublasStatus_t s_ = (call);                                                           \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                    \
            st = ripple_fail(RIPPLE_ERR_BACKEND, "CUDA backend: %s failed: %s", #call,         \
                             cublasGetStatusString(s_));                                      \
            goto done;                                                                        \
        }                                                                                     \
    } while (0)

__device__ static float block_reduce(float x, bool is_max, float *shared)
{
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    for (int off = 16; off > 0; off >>= 1) {
        float y = __shfl_xor_sync(0xffffffffu, x, off);
        x = is_max ? fmaxf(x, y) : x + y;
    }
    if (lane == 0) shared[warp] = x;
    __syncthreads();
    const unsigned nwarps = blockDim.x >> 5;
    x = threadIdx.x < nwarps ? shared[threadIdx.x] : (is_max ? -INFINITY : 0.0f);
    if (warp == 0)
        for (int off = 16; off > 0; off >>= 1) {
            float y = __shfl_xor_sync(0xffffffffu, x, off);
            x = is_max ? fmaxf(x, y) : x + y;
        }
    if (threadIdx.x == 0) shared[0] = x;
    __syncthreads();
    x = shared[0];
    __syncthreads(); /* shared is reused by the next reduction */
    return x;
}

/* d_s: [rows, seq] raw scores q.k; replaced by softmax(scale * row). One
 * block of SOFTMAX_THREADS threads per row. */
__global__ static void softmax_rows(float *d_s, long long seq, float scale)
{
    __shared__ float shared[SOFTMAX_THREADS / 32];
    float *row = d_s + (long long)blockIdx.x * seq;
    float m = -INFINITY;
    for (long long j = threadIdx.x; j < seq; j += blockDim.x) m = fmaxf(m, scale * row[j]);
    m = block_reduce(m, true, shared);
    float sum = 0.0f;
    for (long long j = threadIdx.x; j < seq; j += blockDim.x) {
        float e = expf(scale * row[j] - m);
        row[j] = e;
        sum += e;
    }
    sum = block_reduce(sum, false, shared);
    const float inv = 1.0f / sum; /* sum >= 1: the max entry is exp(0) */
    for (long long j = threadIdx.x; j < seq; j += blockDim.x) row[j] *= inv;
}

extern "C" int ripple_cuda_available(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* clear the sticky-free error */
        return 0;
    }
    return n > 0;
}

extern "C" ripple_status ripple_attn_exact_cuda(int64_t heads, int64_t seq, int64_t dim,
                                                double scale, const float *q, const float *k,
                                                const float *v, float *o)
{
    ripple_status st = RIPPLE_OK;
    float *d_q = NULL, *d_k = NULL, *d_v = NULL, *d_o = NULL, *d_s = NULL;
    cublasHandle_t handle = NULL;
    const size_t n = (size_t)heads * (size_t)seq * (size_t)dim;
    const size_t bytes = n * sizeof(float);
    long long block = ATTN_CUDA_SCORES / seq;
    if (block < 1) block = 1;
    if (block > seq) block = seq;
    if (seq > INT32_MAX || dim > INT32_MAX)
        return ripple_fail(RIPPLE_ERR_INVALID, "CUDA backend: seq %lld or dim %lld exceeds int",
                           (long long)seq, (long long)dim);
    const float alpha = 1.0f, beta = 0.0f;

    CUDA_CHECK(cudaMalloc((void **)&d_q, bytes));
    CUDA_CHECK(cudaMalloc((void **)&d_k, bytes));
    CUDA_CHECK(cudaMalloc((void **)&d_v, bytes));
    CUDA_CHECK(cudaMalloc((void **)&d_o, bytes));
    CUDA_CHECK(cudaMalloc((void **)&d_s, (size_t)block * (size_t)seq * sizeof(float)));
    CUDA_CHECK(cudaMemcpy(d_q, q, bytes, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(d_k, k, bytes, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(d_v, v, bytes, cudaMemcpyHostToDevice));
    CUBLAS_CHECK(cublasCreate(&handle));
    /* exact float32 products: no TF32 tensor-core shortcut */
    CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_PEDANTIC_MATH));

    for (int64_t h = 0; h < heads; h++) {
        const size_t off = (size_t)h * (size_t)seq * (size_t)dim;
        for (long long r0 = 0; r0 < seq; r0 += block) {
            const int rows = (int)(seq - r0 < block ? seq - r0 : block);
            /* column-major: S^T [seq, rows] = K [seq, dim] . Q_blk^T [dim, rows] */
            CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, (int)seq, rows, (int)dim,
                                     &alpha, d_k + off, (int)dim, d_q + off + (size_t)r0 * dim,
                                     (int)dim, &beta, d_s, (int)seq));
            softmax_rows<<<rows, SOFTMAX_THREADS>>>(d_s, (long long)seq, (float)scale);
            CUDA_CHECK(cudaGetLastError());
            /* column-major: O_blk^T [dim, rows] = V^T [dim, seq] . P^T [seq, rows] */
            CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, (int)dim, rows, (int)seq,
                                     &alpha, d_v + off, (int)dim, d_s, (int)seq, &beta,
                                     d_o + off + (size_t)r0 * dim, (int)dim));
        }
    }
    CUDA_CHECK(cudaMemcpy(o, d_o, bytes, cudaMemcpyDeviceToHost)); /* synchronises */
    CUDA_CHECK(cudaDeviceSynchronize());

done:
    if (handle) cublasDestroy(handle);
    cudaFree(d_q);
    cudaFree(d_k);
    cudaFree(d_v);
    cudaFree(d_o);
    cudaFree(d_s);
    return st;
}
