/* ripple bench --reuse (bench_reuse.c): the fused reuse kernel against the
 * dense CPU path on a real capture, over thresholds. */
#ifndef RIPPLE_BENCH_REUSE_H
#define RIPPLE_BENCH_REUSE_H

#include <stdint.h>

/* Runs the sweep over the captured (step, layer) entries whose step is in
 * steps[0..nsteps) (nsteps 0: every entry), writes
 * out_dir/bench_reuse.{tsv,gp,png} (the TSV as .partial until the sweep is
 * done); returns the exit code (errors exit through cli_*_error). cpu: the
 * processor, for the TSV. */
int bench_reuse(const char *capture, const char *out_dir, const double *thetas, int ntheta, const int64_t *steps,
                int nsteps, int64_t reps, int64_t threads, const char *cpu);

#endif
