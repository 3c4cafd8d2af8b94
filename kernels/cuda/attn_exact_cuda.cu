/* Exact attention on a CUDA device: o = softmax(scale q k^T) v per head.
 * Twin of kernels/attn_exact.c (CPU "blas"); reference lib/src/attn_ref.c;
 * listed in the backend table, lib/src/backend.c.
 *
 * One context per process (device 0): a cuBLAS handle bound to a stream of
 * ours, and a workspace on the device that grows to the largest call and is
 * kept, so a call allocates nothing once warm. Calls are serialised by the
 * context's lock. q, k, v go to the device once per call; per head and
 * block of query rows:
 *   S^T = K Q_blk^T          cublasSgemm (row-major [B, seq] S is the
 *                            column-major [seq, B] S^T)
 *   P = softmax_rows(scale S) softmax_rows: one thread block per row, max and
 *                            sum by warp shuffles + shared memory
 *   O_blk^T = V^T P^T         cublasSgemm
 * The score buffer holds at most ATTN_CUDA_SCORES floats (block rows chosen
 * from it), so memory is O(block * seq), never seq^2. Synchronous: returns
 * after o is back on the host (one stream synchronisation per call). A row
 * whose scores are not finite (scale q.k overflows float32) is refused as on
 * the CPU: the softmax kernel records the first such (head, row) and the call
 * returns RIPPLE_ERR_NONFINITE naming it. Every CUDA / cuBLAS status is
 * checked and becomes RIPPLE_ERR_BACKEND with the error's name.
 *
 * Paths (issue 14), all on the same context and host copies:
 *   tf32x3  the default for dim <= 128: the fused 3xTF32 tensor-core kernel
 *           of attn_flash_cuda.cu (float32 accuracy);
 *   fp32    the fused plain-FFMA kernel (the yardstick), dim <= 128;
 *   cublas  the cuBLAS + softmax path above (any dim; the default past 128);
 *   bf16    q, k, v rounded to bf16 on the device, the fused bf16 kernel,
 *           o back to float32 (dim 64 or 128; not float32-accurate: for
 *           measuring what bf16 costs in accuracy).
 * RIPPLE_CUDA_PATH=NAME picks the path of the table's "cuda" variant;
 * ripple_attn_exact_cuda_path runs any of them (tests, benchmarks). */
#include "attn_flash_cuda.h"
#include "backend_cuda.h"
#include "internal.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
 * block of SOFTMAX_THREADS threads per row. A row whose max is not finite is
 * left as it is and its index (row0 + row) recorded in *d_bad (the least one
 * wins; *d_bad starts at ~0). */
__global__ static void softmax_rows(float *d_s, long long seq, float scale, long long row0,
                                    unsigned long long *d_bad)
{
    __shared__ float shared[SOFTMAX_THREADS / 32];
    float *row = d_s + (long long)blockIdx.x * seq;
    float m = -INFINITY;
    for (long long j = threadIdx.x; j < seq; j += blockDim.x) m = fmaxf(m, scale * row[j]);
    m = block_reduce(m, true, shared);
    if (!isfinite(m)) {
        if (threadIdx.x == 0) atomicMin(d_bad, (unsigned long long)(row0 + blockIdx.x));
        return;
    }
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

/* The process's CUDA context. */
typedef struct cuda_ctx {
    pthread_mutex_t lock;
    int ready;
    cublasHandle_t handle;
    cudaStream_t stream;
    float *d_work;   /* q, k, v, o and the score block */
    size_t capacity; /* floats in d_work */
    unsigned long long *d_bad;
} cuda_ctx;

static cuda_ctx g_ctx = {PTHREAD_MUTEX_INITIALIZER, 0, NULL, NULL, NULL, 0, NULL};

/* Creates the handle and stream once; grows the workspace to `floats`. */
static ripple_status ctx_prepare(cuda_ctx *c, size_t floats)
{
    ripple_status st = RIPPLE_OK;
    if (!c->ready) {
        CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
        CUBLAS_CHECK(cublasCreate(&c->handle));
        CUBLAS_CHECK(cublasSetStream(c->handle, c->stream));
        /* exact float32 products: no TF32 tensor-core shortcut */
        CUBLAS_CHECK(cublasSetMathMode(c->handle, CUBLAS_PEDANTIC_MATH));
        CUDA_CHECK(cudaMalloc((void **)&c->d_bad, sizeof *c->d_bad));
        c->ready = 1;
    }
    if (floats > c->capacity) {
        cudaFree(c->d_work);
        c->d_work = NULL;
        c->capacity = 0;
        CUDA_CHECK(cudaMalloc((void **)&c->d_work, floats * sizeof(float)));
        c->capacity = floats;
    }
done:
    return st;
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

static const char *const path_names[RIPPLE_CUDA_PATH_COUNT] = {"tf32x3", "fp32", "cublas", "bf16"};

extern "C" const char *ripple_cuda_path_name(int path)
{
    return path >= 0 && path < RIPPLE_CUDA_PATH_COUNT ? path_names[path] : NULL;
}

/* RIPPLE_CUDA_PATH, read once: -1 = default (by dim), -2 = not a path. */
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static int env_path = -1;
static char env_text[32];

static void read_env(void)
{
    const char *e = getenv("RIPPLE_CUDA_PATH");
    if (!e || !*e) return;
    snprintf(env_text, sizeof env_text, "%s", e);
    env_path = -2;
    for (int i = 0; i < RIPPLE_CUDA_PATH_COUNT; i++)
        if (!strcmp(e, path_names[i])) env_path = i;
}

extern "C" ripple_status ripple_attn_exact_cuda(int64_t heads, int64_t seq, int64_t dim,
                                                double scale, const float *q, const float *k,
                                                const float *v, float *o)
{
    pthread_once(&env_once, read_env);
    if (env_path == -2)
        return ripple_fail(RIPPLE_ERR_INVALID,
                           "CUDA backend: RIPPLE_CUDA_PATH=%s is not a path (tf32x3, fp32, cublas, bf16)",
                           env_text);
    const int path = env_path >= 0 ? env_path : dim <= 128 ? RIPPLE_CUDA_PATH_TF32X3 : RIPPLE_CUDA_PATH_CUBLAS;
    return ripple_attn_exact_cuda_path(path, heads, seq, dim, scale, q, k, v, o);
}

extern "C" ripple_status ripple_attn_exact_cuda_path(int path, int64_t heads, int64_t seq, int64_t dim,
                                                     double scale, const float *q, const float *k,
                                                     const float *v, float *o)
{
    ripple_status st = RIPPLE_OK;
    cuda_ctx *c = &g_ctx;
    const size_t n = (size_t)heads * (size_t)seq * (size_t)dim;
    const size_t bytes = n * sizeof(float);
    long long block = ATTN_CUDA_SCORES / seq;
    if (block < 1) block = 1;
    if (block > seq) block = seq;
    if (path < 0 || path >= RIPPLE_CUDA_PATH_COUNT)
        return ripple_fail(RIPPLE_ERR_INVALID, "CUDA backend: no path %d", path);
    if (seq > INT32_MAX || dim > INT32_MAX)
        return ripple_fail(RIPPLE_ERR_INVALID, "CUDA backend: seq %lld or dim %lld exceeds int",
                           (long long)seq, (long long)dim);
    if ((path == RIPPLE_CUDA_PATH_TF32X3 || path == RIPPLE_CUDA_PATH_FP32) && (dim > 128 || heads > 65535))
        return ripple_fail(RIPPLE_ERR_UNSUPPORTED,
                           "CUDA backend: the fused %s kernel takes dim <= 128 and heads <= 65535 "
                           "(dim %lld, heads %lld): use RIPPLE_CUDA_PATH=cublas",
                           path_names[path], (long long)dim, (long long)heads);
    if (path == RIPPLE_CUDA_PATH_BF16 && ((dim != 64 && dim != 128) || heads > 65535))
        return ripple_fail(RIPPLE_ERR_UNSUPPORTED,
                           "CUDA backend: the bf16 kernel takes dim 64 or 128 (dim %lld)", (long long)dim);
    const float alpha = 1.0f, beta = 0.0f;
    const unsigned long long none = ~0ull;
    unsigned long long bad = none;
    /* past q, k, v, o: the cuBLAS score block, or bf16 q, k, v, o (2n floats) */
    size_t extra = (size_t)block * (size_t)seq;
    if (path != RIPPLE_CUDA_PATH_CUBLAS) extra = path == RIPPLE_CUDA_PATH_BF16 ? 2 * n + 4 : 0;

    pthread_mutex_lock(&c->lock);
    float *d_q, *d_k, *d_v, *d_o, *d_s;
    if ((st = ctx_prepare(c, 4 * n + extra)) != RIPPLE_OK) goto done;
    d_q = c->d_work, d_k = d_q + n, d_v = d_k + n, d_o = d_v + n, d_s = d_o + n;
    CUDA_CHECK(cudaMemcpyAsync(d_q, q, bytes, cudaMemcpyHostToDevice, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(d_k, k, bytes, cudaMemcpyHostToDevice, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(d_v, v, bytes, cudaMemcpyHostToDevice, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(c->d_bad, &none, sizeof none, cudaMemcpyHostToDevice, c->stream));

    if (path == RIPPLE_CUDA_PATH_TF32X3 || path == RIPPLE_CUDA_PATH_FP32) {
        CUDA_CHECK((cudaError_t)ripple_flash_attn_f32(
            path == RIPPLE_CUDA_PATH_TF32X3 ? RIPPLE_FLASH_TF32X3 : RIPPLE_FLASH_FP32, (long long)heads,
            (long long)seq, (int)dim, (float)scale, d_q, d_k, d_v, d_o, c->d_bad, c->stream));
    } else if (path == RIPPLE_CUDA_PATH_BF16) {
        /* bf16 tensors after o, 16-byte aligned (n * 2 bytes each) */
        char *b = (char *)(((uintptr_t)d_s + 15) & ~(uintptr_t)15);
        void *b_q = b, *b_k = b + 2 * n, *b_v = b + 4 * n, *b_o = b + 6 * n;
        CUDA_CHECK((cudaError_t)ripple_flash_f32_to_bf16(d_q, b_q, (long long)n, c->stream));
        CUDA_CHECK((cudaError_t)ripple_flash_f32_to_bf16(d_k, b_k, (long long)n, c->stream));
        CUDA_CHECK((cudaError_t)ripple_flash_f32_to_bf16(d_v, b_v, (long long)n, c->stream));
        CUDA_CHECK((cudaError_t)ripple_flash_attn_bf16(0, (long long)heads, (long long)seq, (int)dim,
                                                       (float)scale, b_q, b_k, b_v, b_o, c->stream));
        CUDA_CHECK((cudaError_t)ripple_flash_bf16_to_f32(b_o, d_o, (long long)n, c->stream));
    } else {
        for (int64_t h = 0; h < heads; h++) {
            const size_t off = (size_t)h * (size_t)seq * (size_t)dim;
            for (long long r0 = 0; r0 < seq; r0 += block) {
                const int rows = (int)(seq - r0 < block ? seq - r0 : block);
                /* column-major: S^T [seq, rows] = K [seq, dim] . Q_blk^T [dim, rows] */
                CUBLAS_CHECK(cublasSgemm(c->handle, CUBLAS_OP_T, CUBLAS_OP_N, (int)seq, rows, (int)dim,
                                         &alpha, d_k + off, (int)dim, d_q + off + (size_t)r0 * dim,
                                         (int)dim, &beta, d_s, (int)seq));
                softmax_rows<<<rows, SOFTMAX_THREADS, 0, c->stream>>>(d_s, (long long)seq, (float)scale,
                                                                     (long long)(h * seq + r0), c->d_bad);
                CUDA_CHECK(cudaGetLastError());
                /* column-major: O_blk^T [dim, rows] = V^T [dim, seq] . P^T [seq, rows] */
                CUBLAS_CHECK(cublasSgemm(c->handle, CUBLAS_OP_N, CUBLAS_OP_N, (int)dim, rows, (int)seq,
                                         &alpha, d_v + off, (int)dim, d_s, (int)seq, &beta,
                                         d_o + off + (size_t)r0 * dim, (int)dim));
            }
        }
    }
    CUDA_CHECK(cudaMemcpyAsync(o, d_o, bytes, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(&bad, c->d_bad, sizeof bad, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    if (bad != none)
        st = ripple_fail(RIPPLE_ERR_NONFINITE,
                         "attention: non-finite scores in head %lld, query row %lld "
                         "(scale * q.k overflows float32)",
                         (long long)(bad / (unsigned long long)seq), (long long)(bad % (unsigned long long)seq));

done:
    pthread_mutex_unlock(&c->lock);
    return st;
}
