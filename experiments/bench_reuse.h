/* ripple bench --reuse (bench_reuse.c): the fused reuse kernel against the
 * dense CPU path on a real capture, over thresholds. */
#ifndef RIPPLE_BENCH_REUSE_H
#define RIPPLE_BENCH_REUSE_H

#include <stdint.h>

/* Runs the sweep, writes out_dir/bench_reuse.{tsv,gp,png}; returns the exit
 * code (errors exit through cli_*_error). cpu: the processor, for the TSV. */
int bench_reuse(const char *capture, const char *out_dir, const double *thetas, int ntheta, int64_t reps,
                int64_t threads, const char *cpu);

#endif
