/* Helpers shared by the Criterion suites: seeded random data, temporary
 * paths, and the three-way comparison of STYLE.md (non-finite places, per
 * element atol + rtol*|ref|, normalised MSE). */
#ifndef RIPPLE_TESTUTIL_H
#define RIPPLE_TESTUTIL_H

#include "ripple/ripple.h"

#include <stddef.h>
#include <stdint.h>

/* splitmix64-based generator; the seed is printed by the tests that use it. */
typedef struct { uint64_t s; } tu_rng;
uint64_t tu_next(tu_rng *r);
double tu_uniform(tu_rng *r);          /* [0, 1) */
double tu_normal(tu_rng *r);           /* N(0, 1) */
void tu_fill_normal(tu_rng *r, float *x, size_t n, double sigma);

/* A path under a per-process temporary folder ("name" is a suffix). The
 * result lives in one of 4 rotating buffers: copy it to keep it longer. */
const char *tu_tmp_path(const char *name);

/* Returns the index of the first element failing |a - ref| <= atol + rtol*|ref|,
 * or -1 when all pass (non-finite values must match in place). */
int64_t tu_first_mismatch_f64(const float *a, const double *ref, size_t n, double atol, double rtol);
/* mse(a, ref) / mse(0, ref). */
double tu_nmse_f64(const float *a, const double *ref, size_t n);

/* Whole file as a malloc'd string, or NULL. */
char *tu_read_file(const char *path);
/* The same without the run-dependent timing lines of a driver's TSV
 * (`# exact_attention_seconds:`, `# wall_seconds:`), for comparing runs. */
char *tu_read_table(const char *path);

/* Runs a shell command, returns its exit status (-1 if it did not exit). */
int tu_system(const char *cmd);

#endif
