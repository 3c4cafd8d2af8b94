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
 * ripple_attn_exact_cuda_path runs any of them (tests, benchmarks).
 *
 * Also here, on the same context (issue 14, item 3):
 *   ripple_attn_masked_cuda     attn_masked's CUDA variant, the twin of the
 *           CPU "blas" one in kernels/attn_exact.c: per block of rows,
 *           S = fl(scale) Q_blk K^T (cublasSgemm, the scores the rule sees, as
 *           on the CPU), masked_softmax_rows (the rule of the row's mask spec,
 *           backend.h, evaluated per key; oracle-topk's k-th largest score by
 *           a radix select of 4 x 8 bits over the row, ties to the lower key
 *           index as attnmap.c's topk_row), P V by cublasSgemm;
 *   ripple_attn_exact_f64_cuda  attn_f64's CUDA variant, the twin of the
 *           float64 reference attn_ref.c (the drivers' noise floor): q, k, v
 *           widened to double on the device, S = Q_blk K^T by cublasDgemm,
 *           e = exp(scale s - max) and the row sums in double, E V by
 *           cublasDgemm, divided by the sums. */
#include "attn_flash_cuda.h"
#include "attn_reuse_cuda.h"
#include "backend.h"
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

template <typename T> __device__ static T block_reduce(T x, bool is_max, T *shared)
{
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    for (int off = 16; off > 0; off >>= 1) {
        T y = __shfl_xor_sync(0xffffffffu, x, off);
        x = is_max ? (x > y ? x : y) : x + y;
    }
    if (lane == 0) shared[warp] = x;
    __syncthreads();
    const unsigned nwarps = blockDim.x >> 5;
    x = threadIdx.x < nwarps ? shared[threadIdx.x] : (is_max ? (T)-INFINITY : (T)0);
    if (warp == 0)
        for (int off = 16; off > 0; off >>= 1) {
            T y = __shfl_xor_sync(0xffffffffu, x, off);
            x = is_max ? (x > y ? x : y) : x + y;
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

/* ------------------------------------------------------ masked attention */

#define MASK_THREADS 256

/* The rule of one head, by value (backend.h's ripple_mask_spec). */
typedef struct mask_args {
    int kind;              /* ripple_mask_kind */
    int vo, nv, T, H, W;   /* BOX: the layout */
    int r[3];              /* BOX: radii t, h, w */
    long long topk;        /* TOPK: keys per row */
} mask_args;

/* Orders like the floats (x + 0 turns -0 into +0: equal scores, one key). */
__device__ static unsigned score_key(float x)
{
    const unsigned u = __float_as_uint(x + 0.0f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* What a row keeps: topk: key > K, or key == K at index <= jcut; box: the
 * row's (t, h, w) and whether it is a video row. */
typedef struct row_rule {
    int all;
    unsigned K;
    long long jcut;
    int video, t, h, w;
} row_rule;

__device__ static bool rule_keeps(const mask_args &a, const row_rule &rr, int j, float s)
{
    if (rr.all) return true;
    if (a.kind == RIPPLE_MASK_TOPK) {
        const unsigned key = score_key(s);
        return key > rr.K || (key == rr.K && j <= rr.jcut);
    }
    if (j < a.vo || j >= a.vo + a.nv) return true; /* text keys */
    const int x = j - a.vo, w = x % a.W, h = (x / a.W) % a.H, t = x / (a.W * a.H);
    return abs(t - rr.t) <= a.r[0] && abs(h - rr.h) <= a.r[1] && abs(w - rr.w) <= a.r[2];
}

/* d_s: [rows, seq] scores fl(scale) q.k of rows row0.. of one head;
 * replaced by the masked softmax (0 off the mask). One block of
 * MASK_THREADS per row. A row whose max kept score is not finite is left
 * and bad_base + its index recorded in *d_bad (least wins). */
__global__ static void masked_softmax_rows(float *d_s, int seq, mask_args a, int row0, long long bad_base,
                                           unsigned long long *d_bad)
{
    __shared__ float red[MASK_THREADS / 32];
    __shared__ unsigned hist[256];
    __shared__ long long scan[MASK_THREADS];
    __shared__ unsigned sh_prefix;
    __shared__ long long sh_want, sh_jcut;
    float *row = d_s + (long long)blockIdx.x * seq;
    const int i = row0 + (int)blockIdx.x;
    row_rule rr = {a.kind == RIPPLE_MASK_ALL, 0u, -1, 0, 0, 0, 0};
    if (a.kind == RIPPLE_MASK_BOX) {
        rr.video = i >= a.vo && i < a.vo + a.nv;
        rr.all = !rr.video; /* text rows keep every key */
        if (rr.video) {
            const int x = i - a.vo;
            rr.w = x % a.W, rr.h = (x / a.W) % a.H, rr.t = x / (a.W * a.H);
        }
    } else if (a.kind == RIPPLE_MASK_TOPK && a.topk >= seq) {
        rr.all = 1;
    } else if (a.kind == RIPPLE_MASK_TOPK) {
        /* radix select of the topk-th largest key, 8 bits a pass from the top */
        unsigned prefix = 0, pmask = 0;
        long long want = a.topk; /* rank still sought among keys matching prefix */
        for (int pass = 0; pass < 4; pass++) {
            const int shift = 24 - 8 * pass;
            for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
            __syncthreads();
            for (int j = threadIdx.x; j < seq; j += blockDim.x) {
                const unsigned key = score_key(row[j]);
                if ((key & pmask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
            }
            __syncthreads();
            if (threadIdx.x == 0) {
                int b = 255;
                while (want > (long long)hist[b]) want -= hist[b--];
                sh_prefix = prefix | ((unsigned)b << shift);
                sh_want = want;
            }
            __syncthreads();
            prefix = sh_prefix, want = sh_want;
            pmask |= 255u << shift;
            __syncthreads();
        }
        rr.K = prefix;
        /* the want-th key equal to K in index order: contiguous segments
         * per thread, counts scanned, the owning thread finds it */
        const int per = (seq + (int)blockDim.x - 1) / (int)blockDim.x;
        const int j0 = (int)threadIdx.x * per, j1 = min(seq, j0 + per);
        long long c = 0;
        for (int j = j0; j < j1; j++) c += score_key(row[j]) == rr.K;
        scan[threadIdx.x] = c;
        __syncthreads();
        if (threadIdx.x == 0) {
            for (int t = 1; t < (int)blockDim.x; t++) scan[t] += scan[t - 1];
            sh_jcut = -1;
        }
        __syncthreads();
        const long long before = scan[threadIdx.x] - c;
        if (before < want && want <= before + c) {
            long long cnt = before;
            for (int j = j0; j < j1; j++)
                if (score_key(row[j]) == rr.K && ++cnt == want) {
                    sh_jcut = j;
                    break;
                }
        }
        __syncthreads();
        rr.jcut = sh_jcut;
    }
    float m = -INFINITY;
    for (int j = threadIdx.x; j < seq; j += blockDim.x) {
        const float s = row[j];
        if (rule_keeps(a, rr, j, s)) m = fmaxf(m, s);
    }
    m = block_reduce(m, true, red);
    if (!isfinite(m)) {
        if (threadIdx.x == 0) atomicMin(d_bad, (unsigned long long)(bad_base + blockIdx.x));
        return;
    }
    float sum = 0.0f;
    for (int j = threadIdx.x; j < seq; j += blockDim.x) {
        const float s = row[j];
        const float e = rule_keeps(a, rr, j, s) ? expf(s - m) : 0.0f;
        row[j] = e;
        sum += e;
    }
    sum = block_reduce(sum, false, red);
    const float inv = 1.0f / sum; /* sum >= 1: the max kept entry is exp(0) */
    for (int j = threadIdx.x; j < seq; j += blockDim.x) row[j] *= inv;
}

/* ------------------------------------------------ float64 exact attention */

__global__ static void widen_f64(const float *x, double *y, long long n)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = (double)x[i];
}

/* d_s: [rows, seq] raw scores q.k (double); replaced by exp(scale s - max),
 * the row sums into d_sum[rows]. One block of SOFTMAX_THREADS per row. */
__global__ static void exp_rows_f64(double *d_s, long long seq, double scale, double *d_sum)
{
    __shared__ double shared[SOFTMAX_THREADS / 32];
    double *row = d_s + (long long)blockIdx.x * seq;
    double m = -INFINITY;
    for (long long j = threadIdx.x; j < seq; j += blockDim.x) m = fmax(m, scale * row[j]);
    m = block_reduce(m, true, shared);
    double sum = 0.0;
    for (long long j = threadIdx.x; j < seq; j += blockDim.x) {
        const double e = exp(scale * row[j] - m);
        row[j] = e;
        sum += e;
    }
    sum = block_reduce(sum, false, shared);
    if (threadIdx.x == 0) d_sum[blockIdx.x] = sum;
}

/* d_o: [rows, dim] row r divided by d_sum[r]. */
__global__ static void div_rows_f64(double *d_o, const double *d_sum, long long rows, long long dim)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < rows * dim;
         i += (long long)gridDim.x * blockDim.x)
        d_o[i] /= d_sum[i / dim];
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

/* The error of a kernel's first non-finite score row (d_bad's head * seq + row). */
static ripple_status nonfinite(unsigned long long bad, int64_t seq, const char *what)
{
    return ripple_fail(RIPPLE_ERR_NONFINITE,
                       "%s: non-finite scores in head %lld, query row %lld (scale * q.k overflows float32)", what,
                       (long long)(bad / (unsigned long long)seq), (long long)(bad % (unsigned long long)seq));
}

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
        CUDA_CHECK((cudaError_t)ripple_flash_attn_bf16(-1, (long long)heads, (long long)seq, (int)dim,
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
    if (bad != none) st = nonfinite(bad, seq, "attention");

done:
    pthread_mutex_unlock(&c->lock);
    return st;
}

/* ------------------------------------------------------ masked attention */

extern "C" ripple_status ripple_attn_masked_cuda(int64_t heads, int64_t seq, int64_t dim, double scale,
                                                 const float *q, const float *k, const float *v,
                                                 const struct ripple_row_rule *rule, float *o)
{
    ripple_status st = RIPPLE_OK;
    cuda_ctx *c = &g_ctx;
    if (!rule || !rule->spec)
        return ripple_fail(RIPPLE_ERR_UNSUPPORTED, "CUDA masked attention: the rule has no mask spec");
    const ripple_mask_spec *sp = rule->spec;
    if (seq > INT32_MAX || dim > INT32_MAX)
        return ripple_fail(RIPPLE_ERR_INVALID, "CUDA masked attention: seq %lld or dim %lld exceeds int",
                           (long long)seq, (long long)dim);
    if (sp->kind == RIPPLE_MASK_BOX && sp->lay.seq_len != seq)
        return ripple_fail(RIPPLE_ERR_INVALID, "CUDA masked attention: the mask's layout has seq %lld, not %lld",
                           (long long)sp->lay.seq_len, (long long)seq);
    const size_t n = (size_t)heads * (size_t)seq * (size_t)dim;
    const size_t bytes = n * sizeof(float);
    long long block = ATTN_CUDA_SCORES / seq;
    if (block < 1) block = 1;
    if (block > seq) block = seq;
    const float alpha = (float)scale, one = 1.0f, beta = 0.0f;
    const unsigned long long none = ~0ull;
    unsigned long long bad = none;
    mask_args a;
    memset(&a, 0, sizeof a);
    a.kind = sp->kind;
    if (sp->kind == RIPPLE_MASK_BOX) {
        const int64_t nv = ripple_layout_video_tokens(&sp->lay);
        a.vo = (int)sp->lay.video_offset, a.nv = (int)nv;
        a.T = (int)sp->lay.grid[0], a.H = (int)sp->lay.grid[1], a.W = (int)sp->lay.grid[2];
    }

    pthread_mutex_lock(&c->lock);
    float *d_q, *d_k, *d_v, *d_o, *d_s;
    if ((st = ctx_prepare(c, 4 * n + (size_t)block * (size_t)seq)) != RIPPLE_OK) goto done;
    d_q = c->d_work, d_k = d_q + n, d_v = d_k + n, d_o = d_v + n, d_s = d_o + n;
    CUDA_CHECK(cudaMemcpyAsync(d_q, q, bytes, cudaMemcpyHostToDevice, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(d_k, k, bytes, cudaMemcpyHostToDevice, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(d_v, v, bytes, cudaMemcpyHostToDevice, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(c->d_bad, &none, sizeof none, cudaMemcpyHostToDevice, c->stream));
    for (int64_t h = 0; h < heads; h++) {
        const size_t off = (size_t)h * (size_t)seq * (size_t)dim;
        if (sp->kind == RIPPLE_MASK_BOX)
            for (int x = 0; x < 3; x++) {
                const int64_t r = sp->radius[3 * h + x];
                a.r[x] = r < 0 ? 0 : r > INT32_MAX ? INT32_MAX : (int)r;
            }
        if (sp->kind == RIPPLE_MASK_TOPK) a.topk = sp->topk[h] < 1 ? 1 : sp->topk[h];
        for (long long r0 = 0; r0 < seq; r0 += block) {
            const int rows = (int)(seq - r0 < block ? seq - r0 : block);
            /* column-major: S^T [seq, rows] = fl(scale) K . Q_blk^T */
            CUBLAS_CHECK(cublasSgemm(c->handle, CUBLAS_OP_T, CUBLAS_OP_N, (int)seq, rows, (int)dim, &alpha,
                                     d_k + off, (int)dim, d_q + off + (size_t)r0 * dim, (int)dim, &beta, d_s,
                                     (int)seq));
            masked_softmax_rows<<<rows, MASK_THREADS, 0, c->stream>>>(d_s, (int)seq, a, (int)r0,
                                                                     (long long)(h * seq + r0), c->d_bad);
            CUDA_CHECK(cudaGetLastError());
            CUBLAS_CHECK(cublasSgemm(c->handle, CUBLAS_OP_N, CUBLAS_OP_N, (int)dim, rows, (int)seq, &one,
                                     d_v + off, (int)dim, d_s, (int)seq, &beta, d_o + off + (size_t)r0 * dim,
                                     (int)dim));
        }
    }
    CUDA_CHECK(cudaMemcpyAsync(o, d_o, bytes, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(&bad, c->d_bad, sizeof bad, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    if (bad != none)
        st = ripple_fail(RIPPLE_ERR_NONFINITE, "masked attention: non-finite scores in head %lld, query row %lld",
                         (long long)(bad / (unsigned long long)seq), (long long)(bad % (unsigned long long)seq));
done:
    pthread_mutex_unlock(&c->lock);
    return st;
}

/* ------------------------------------------------ float64 exact attention */

extern "C" ripple_status ripple_attn_exact_f64_cuda(int64_t heads, int64_t seq, int64_t dim, double scale,
                                                    const float *q, const float *k, const float *v, double *o)
{
    ripple_status st = RIPPLE_OK;
    cuda_ctx *c = &g_ctx;
    if (seq > INT32_MAX || dim > INT32_MAX)
        return ripple_fail(RIPPLE_ERR_INVALID, "CUDA float64 attention: seq %lld or dim %lld exceeds int",
                           (long long)seq, (long long)dim);
    const size_t n = (size_t)heads * (size_t)seq * (size_t)dim;
    long long block = ATTN_CUDA_SCORES / seq;
    if (block < 1) block = 1;
    if (block > seq) block = seq;
    const double one = 1.0, zero = 0.0;
    const size_t doubles = 4 * n + (size_t)block * (size_t)seq + (size_t)block;
    const float *src[3] = {q, k, v};

    pthread_mutex_lock(&c->lock);
    double *d_q, *d_k, *d_v, *d_o, *d_s, *d_sum;
    float *d_f;
    /* doubles first (8-byte aligned), then one float tensor for the uploads */
    if ((st = ctx_prepare(c, 2 * doubles + n)) != RIPPLE_OK) goto done;
    d_q = (double *)c->d_work, d_k = d_q + n, d_v = d_k + n, d_o = d_v + n, d_s = d_o + n;
    d_sum = d_s + (size_t)block * (size_t)seq;
    d_f = (float *)(d_sum + block);
    for (int t = 0; t < 3; t++) {
        CUDA_CHECK(cudaMemcpyAsync(d_f, src[t], n * sizeof(float), cudaMemcpyHostToDevice, c->stream));
        widen_f64<<<1024, 256, 0, c->stream>>>(d_f, t == 0 ? d_q : t == 1 ? d_k : d_v, (long long)n);
        CUDA_CHECK(cudaGetLastError());
    }
    for (int64_t h = 0; h < heads; h++) {
        const size_t off = (size_t)h * (size_t)seq * (size_t)dim;
        for (long long r0 = 0; r0 < seq; r0 += block) {
            const int rows = (int)(seq - r0 < block ? seq - r0 : block);
            CUBLAS_CHECK(cublasDgemm(c->handle, CUBLAS_OP_T, CUBLAS_OP_N, (int)seq, rows, (int)dim, &one,
                                     d_k + off, (int)dim, d_q + off + (size_t)r0 * dim, (int)dim, &zero, d_s,
                                     (int)seq));
            exp_rows_f64<<<rows, SOFTMAX_THREADS, 0, c->stream>>>(d_s, (long long)seq, scale, d_sum);
            CUDA_CHECK(cudaGetLastError());
            CUBLAS_CHECK(cublasDgemm(c->handle, CUBLAS_OP_N, CUBLAS_OP_N, (int)dim, rows, (int)seq, &one,
                                     d_v + off, (int)dim, d_s, (int)seq, &zero, d_o + off + (size_t)r0 * dim,
                                     (int)dim));
            div_rows_f64<<<256, 256, 0, c->stream>>>(d_o + off + (size_t)r0 * dim, d_sum, rows, (long long)dim);
            CUDA_CHECK(cudaGetLastError());
        }
    }
    CUDA_CHECK(cudaMemcpyAsync(o, d_o, n * sizeof(double), cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
done:
    pthread_mutex_unlock(&c->lock);
    return st;
}

/* ------------------------------------------------------ reuse attention */

/* attn_reuse's CUDA variant: the delta-row kernel of attn_reuse_cuda.cu on
 * host arrays (copies in and out, as the exact path). A row becomes a delta
 * row when it differs from its source on at most REUSE_CUDA_MAX_FRAC x dim
 * channels (below the CPU kernel's 0.75: a delta multiply-add here costs a
 * shared-memory load of a key vector per 4 FMAs, a dense one 3 loads per 32). */
#define REUSE_CUDA_MAX_FRAC 0.5
extern "C" ripple_status ripple_attn_reuse_cuda(const ripple_layout *lay, int window, int64_t heads, double scale,
                                                const float *q, const float *k, const float *v, float *o,
                                                ripple_attn_reuse_work *work)
{
    ripple_status st = RIPPLE_OK;
    cuda_ctx *c = &g_ctx;
    const int64_t seq = lay->seq_len, dim = lay->head_dim;
    if (seq > INT32_MAX / 2 || dim > 128 || heads > 65535)
        return ripple_fail(RIPPLE_ERR_UNSUPPORTED,
                           "CUDA reuse attention: takes dim <= 128, heads <= 65535 and seq < 2^30 "
                           "(dim %lld, heads %lld, seq %lld)",
                           (long long)dim, (long long)heads, (long long)seq);
    const ripple_reuse_cuda_geom g = {heads, seq, lay->video_offset, (int)dim, (int)lay->grid[0],
                                      (int)lay->grid[1], (int)lay->grid[2], window > 0 ? window : 2};
    const size_t n = (size_t)heads * (size_t)seq * (size_t)dim, rows = (size_t)heads * (size_t)seq;
    const size_t bytes = n * sizeof(float);
    /* floats: q k v o dq, then src nnz (int), perm pos (int), counts (2 words
     * each), chan (bytes) */
    const size_t floats = 5 * n + 2 * rows + 2 * (size_t)seq + 8 + (n + 3) / 4;
    const unsigned long long none = ~0ull;
    unsigned long long bad = none, counts[3] = {0, 0, 0};
    int *perm = (int *)malloc(2 * (size_t)seq * sizeof(int));
    if (!perm) return ripple_fail(RIPPLE_ERR_NOMEM, "CUDA reuse attention: no memory for the cube order");
    ripple_reuse_cuda_cube_order(&g, perm, perm + seq);

    pthread_mutex_lock(&c->lock);
    float *d_q, *d_k, *d_v, *d_o, *d_dq;
    int *d_src, *d_nnz, *d_perm;
    unsigned long long *d_counts;
    unsigned char *d_chan;
    if ((st = ctx_prepare(c, floats)) != RIPPLE_OK) goto done;
    d_q = c->d_work, d_k = d_q + n, d_v = d_k + n, d_o = d_v + n, d_dq = d_o + n;
    d_src = (int *)(d_dq + n), d_nnz = d_src + rows, d_perm = d_nnz + rows;
    d_counts = (unsigned long long *)(((uintptr_t)(d_perm + 2 * seq) + 7) & ~(uintptr_t)7);
    d_chan = (unsigned char *)(d_counts + 3);
    CUDA_CHECK(cudaMemcpyAsync(d_q, q, bytes, cudaMemcpyHostToDevice, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(d_k, k, bytes, cudaMemcpyHostToDevice, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(d_v, v, bytes, cudaMemcpyHostToDevice, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(d_perm, perm, 2 * (size_t)seq * sizeof(int), cudaMemcpyHostToDevice, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(c->d_bad, &none, sizeof none, cudaMemcpyHostToDevice, c->stream));
    CUDA_CHECK(cudaMemsetAsync(d_counts, 0, sizeof counts, c->stream));
    CUDA_CHECK((cudaError_t)ripple_reuse_cuda_plan(&g, (int)(REUSE_CUDA_MAX_FRAC * (double)dim), d_q, d_perm,
                                                   d_perm + seq, d_src, d_nnz, d_chan, d_dq, d_counts, c->stream));
    CUDA_CHECK((cudaError_t)ripple_reuse_cuda_attn(&g, (float)scale, d_q, d_k, d_v, d_o, d_perm, d_src, d_nnz,
                                                   d_chan, d_dq, c->d_bad, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(o, d_o, bytes, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(&bad, c->d_bad, sizeof bad, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(counts, d_counts, sizeof counts, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    if (bad != none)
        st = nonfinite(bad, seq, "reuse attention");
    else if (work) {
        memset(work, 0, sizeof *work);
        work->rows = (int64_t)rows, work->dense_rows = (int64_t)counts[0];
        work->delta_rows = (int64_t)counts[1], work->delta_channels = (int64_t)counts[2];
    }
done:
    pthread_mutex_unlock(&c->lock);
    free(perm);
    return st;
}
