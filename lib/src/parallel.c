/* Worker pool for the CPU attention paths (attn_exact_cpu.c, attnmap.c).
 *
 * Workers are pthreads that take item numbers from a shared counter under a
 * mutex; worker 0 runs in the calling thread. The first call sets OpenBLAS
 * to one thread, once for the process, so that each worker's sgemm runs in
 * the worker (no oversubscription); ripple never changes it again. The first item to fail stops the others taking more; its status
 * is returned and its message, recorded in the worker's thread by
 * ripple_fail, is recorded again in the calling thread. */
#include "internal.h"

#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct parallel_pool {
    int64_t n_items;
    ripple_parallel_fn fn;
    void *ctx;
    pthread_mutex_t lock;
    int64_t next;         /* next item */
    ripple_status status; /* of the first failing item */
    char message[1024];   /* its ripple_last_error() */
} parallel_pool;

typedef struct parallel_worker {
    parallel_pool *pool;
    int index;
} parallel_worker;

static int64_t pool_take(parallel_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    int64_t it = pool->status != RIPPLE_OK ? -1 : pool->next;
    if (it >= 0 && it < pool->n_items) pool->next++;
    else it = -1;
    pthread_mutex_unlock(&pool->lock);
    return it;
}

static void *pool_worker_run(void *arg)
{
    parallel_worker *w = arg;
    parallel_pool *pool = w->pool;
    for (int64_t it; (it = pool_take(pool)) >= 0;) {
        ripple_status st = pool->fn(pool->ctx, w->index, it);
        if (st != RIPPLE_OK) {
            pthread_mutex_lock(&pool->lock);
            if (pool->status == RIPPLE_OK) {
                pool->status = st;
                snprintf(pool->message, sizeof pool->message, "%s", ripple_last_error());
            }
            pthread_mutex_unlock(&pool->lock);
            return NULL;
        }
    }
    return NULL;
}

/* Each worker calls sgemm on its own block, so OpenBLAS must not start
 * threads of its own: set to one thread once per process, at the first
 * parallel call, and left so (ripple.h says so to library users). */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single_thread(void) { openblas_set_num_threads(1); }

int ripple_parallel_threads(int64_t n_items)
{
    long n = 0;
    const char *env = getenv("RIPPLE_NUM_THREADS");
    if (env && *env) n = strtol(env, NULL, 10);
    if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0) n = 1;
    if (n > RIPPLE_MAX_THREADS) n = RIPPLE_MAX_THREADS;
    if (n > n_items) n = (long)n_items;
    return (int)n;
}

ripple_status ripple_parallel_for(int64_t n_items, int n_threads, ripple_parallel_fn fn, void *ctx)
{
    if (n_items <= 0) return RIPPLE_OK;
    RIPPLE_ASSERT(n_threads >= 1 && n_threads <= RIPPLE_MAX_THREADS && fn);
    parallel_pool pool = {.n_items = n_items, .fn = fn, .ctx = ctx, .status = RIPPLE_OK};
    parallel_worker workers[RIPPLE_MAX_THREADS];
    pthread_t tids[RIPPLE_MAX_THREADS];
    int started = 0;

    pthread_mutex_init(&pool.lock, NULL);
    for (int t = 0; t < n_threads; t++) workers[t] = (parallel_worker){.pool = &pool, .index = t};
    pthread_once(&blas_once, blas_single_thread);
    /* Worker 0 runs in the calling thread. */
    for (int t = 1; t < n_threads; t++) {
        if (pthread_create(&tids[t], NULL, pool_worker_run, &workers[t]) != 0) break;
        started++;
    }
    pool_worker_run(&workers[0]);
    for (int t = 1; t <= started; t++) pthread_join(tids[t], NULL);
    pthread_mutex_destroy(&pool.lock);

    if (pool.status != RIPPLE_OK) return ripple_fail(pool.status, "%s", pool.message);
    return RIPPLE_OK;
}
