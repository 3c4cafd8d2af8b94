/* Private helpers shared by the library's translation units. */
#ifndef RIPPLE_INTERNAL_H
#define RIPPLE_INTERNAL_H

#include "ripple/ripple.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" { /* the CUDA kernels include this header */
#endif

#if defined(__GNUC__)
#define RIPPLE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define RIPPLE_PRINTF(f, a)
#endif

/* Records the message of an error for ripple_last_error() and returns s. */
ripple_status ripple_fail(ripple_status s, const char *fmt, ...) RIPPLE_PRINTF(2, 3);
/* Clears the last error message. */
void ripple_clear_error(void);

/* Programmer errors (broken internal invariants) abort loudly. */
#define RIPPLE_ASSERT(cond)                                                            \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "ripple: internal error at %s:%d: %s\n", __FILE__, __LINE__, \
                    #cond);                                                            \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* a*b*c as size_t elements, or 0 on overflow or non-positive factor. */
size_t ripple_mul3(int64_t a, int64_t b, int64_t c);

/* Checked int64 arithmetic for sizes that come from files or callers:
 * return 1 on overflow (then *r is unspecified), 0 otherwise. */
static inline int ripple_add_ovf(int64_t a, int64_t b, int64_t *r) { return __builtin_add_overflow(a, b, r); }
static inline int ripple_mul_ovf(int64_t a, int64_t b, int64_t *r) { return __builtin_mul_overflow(a, b, r); }

/* Exact attention backends (backend.c checks the arguments with
 * ripple_attn_check, then dispatches). q, k, v, o: [heads, seq, dim]. */
ripple_status ripple_attn_check(int64_t heads, int64_t seq, int64_t dim, double scale,
                                const float *q, const float *k, const float *v, const void *o);
/* The calling thread's scratch block (workspace.c): at least `bytes`,
 * 64-byte aligned, kept for the next call of the same thread (its contents
 * are not); NULL when out of memory. One user at a time per thread: a kernel
 * takes it whole and must not call another kernel that takes it. */
void *ripple_workspace(size_t bytes);

/* Worker pool (parallel.c) for the CPU paths. */
#define RIPPLE_MAX_THREADS 64
/* One work item: returns RIPPLE_OK, or an error recorded with ripple_fail.
 * worker in [0, n_threads) indexes the caller's per-worker scratch. */
typedef ripple_status (*ripple_parallel_fn)(void *ctx, int worker, int64_t item);
/* Workers for n_items items: RIPPLE_NUM_THREADS, else the online CPUs, at
 * most RIPPLE_MAX_THREADS and at most n_items. */
int ripple_parallel_threads(int64_t n_items);
/* Runs fn for every item in [0, n_items) on n_threads workers (from
 * ripple_parallel_threads); the first call sets OpenBLAS to one thread. The first
 * failing item stops the rest; its status is returned and its message is
 * ripple_last_error() in the calling thread. */
ripple_status ripple_parallel_for(int64_t n_items, int n_threads, ripple_parallel_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif
