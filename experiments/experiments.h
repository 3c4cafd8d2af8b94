/* The experiments of `ripple`, one description each (engine.h), and the
 * results `ripple paper` reads of their runs: each experiment's state
 * (r->state) begins with its result struct. */
#ifndef RIPPLE_EXPERIMENTS_H
#define RIPPLE_EXPERIMENTS_H

#include "engine.h"
#include "rampfit.h"
#include "verdict.h"

extern const exp_def exp_window, exp_groups, exp_steps, exp_fit, exp_compare, exp_paper, exp_quality, exp_frames;

typedef struct window_result {
    double mse_w2; /* mean output MSE of window size 2 at theta (nan when not run) */
    double theta;  /* the threshold at the median window-2 delta (or the first one given) */
} window_result;

typedef struct steps_result {
    double mse_over_steps; /* mean over the steps of the mean rows' mse */
} steps_result;

/* Whether frames and quality take num_steps and classes (NULL: not given)
 * as --num-steps and --classes, as `ripple paper` passes them on: checked by
 * their own option parser, and the classes against the model's when its
 * weights load (when they do not, frames and quality report it). 0, or a
 * usage error in r. */
int exp_gen_check(exp_run *r, const char *num_steps, const char *classes);

#endif
