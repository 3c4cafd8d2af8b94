/* The experiments of `ripple` (one description each, engine.h) and what
 * `ripple paper` sets and reads of them: their options structs and the
 * numbers their runs leave in r->state. */
#ifndef RIPPLE_EXPERIMENTS_H
#define RIPPLE_EXPERIMENTS_H

#include "engine.h"
#include "rampfit.h"
#include "verdict.h"

extern const exp_def exp_window, exp_groups, exp_steps, exp_fit, exp_compare, exp_paper;

/* ripple window (Fig. 11) */
#define WINDOW_MAX 16
typedef struct window_opts {
    double value; /* theta or alpha as given */
    int have_theta, have_alpha;
    int windows[WINDOW_MAX], nwindows;
    unsigned axes;
    int floor;
} window_opts;
typedef struct window_state {
    ripple_reuse_params rp;
    double theta;      /* the threshold of every window size */
    const char *rule;  /* where it comes from */
    /* means over the rows of each window size (in the order of --windows) */
    double s_score[WINDOW_MAX], s_attn[WINDOW_MAX], rows[WINDOW_MAX], mse[WINDOW_MAX], rel_l2[WINDOW_MAX],
        cosine[WINDOW_MAX], psnr[WINDOW_MAX], floor[WINDOW_MAX];
    int count[WINDOW_MAX];
} window_state;

/* ripple groups (Fig. 5) */
typedef struct groups_opts {
    int frame; /* -1 = T/2 */
    int heat_step, heat_layer;
    int window, floor;
} groups_opts;
typedef struct groups_state {
    int ngroups, gaxis[3];
    int heat_unit;
    int64_t frame, H, W;
    double mse[3][3]; /* mean mse per (channel group, reuse axis) */
} groups_state;

/* ripple steps (Fig. 8, 9) */
typedef struct steps_opts {
    double theta;
    int have_theta, have_alpha;
    unsigned axes, groups;
    int window, floor;
} steps_opts;
typedef struct steps_state {
    ripple_reuse_params rp;
    char (*labels)[128];
    int nsteps;            /* steps 0..nsteps-1 have room */
    int *nmean;            /* [nsteps]: 1 where a mean row exists */
    double *mean;          /* [nsteps][8]: the mean row's averaged columns, as printed */
    double *ts, *capmse;   /* [nsteps], [captures][nsteps] (mse of the capture rows, nan where none) */
    double slope, intercept, floor_mean;
    int used;
    double mse_over_steps; /* mean over the mean rows of their mse (paper's target for fit) */
} steps_state;

/* ripple fit (Table 1, Eq. 4) */
typedef struct fit_opts {
    double target, theta_max, tol;
    int have_theta_max;
    int max_evals, floor, keep_mb;
    ripple_threshold_mode mode;
    unsigned axes, groups;
    int window;
    const char *model;
} fit_opts;
typedef struct fit_state {
    ripple_reuse_params rp;
    int S, ns;
    struct fit_step *si;
    rampfit_fit_result fr;
    rampfit_ramp ramp;
    int have_ramp;
    int reused1, reused2, reloads;
    double kept_bytes; /* of the steps kept in memory for the ramp's evaluation */
    char ramp_path[4200];
} fit_state;

/* ripple compare (Fig. 7, Tables 2-4) */
#define COMPARE_MAX_SWEEP 64
typedef struct compare_opts {
    unsigned methods; /* bits of eval_method */
    double thetas[COMPARE_MAX_SWEEP], alphas[COMPARE_MAX_SWEEP];
    int nthetas, nalphas; /* 0 = automatic */
    unsigned axes;
    int window, floor, table3, table4;
    const char *ramp_path;
} compare_opts;

/* paper's index (cmd_paper.c): the figures and files of a run's folder, and
 * one verdict paragraph. */
void paper_files(const exp_run *r, FILE *md);
void paper_verdict(FILE *md, const char *claim, const char *result, const char *criterion);

#endif
