/* ripple fit (paper Table 1, Eq. 4): per-step thresholds for a target output
 * error, found by bisection, and the threshold ramp fitted to them.
 *
 * Phase 1, DIR/fit_steps.tsv: for each captured step i, the largest theta_i
 * whose mean output MSE over the selected captures, layers and heads is
 * <= target. The error is evaluated on every unit of the step with its exact
 * attention computed once (all units of one step are in memory together).
 * The bracket starts at the median mean window delta of q and k (absolute
 * mode) or alpha = 0.25 (channel mode), doubles until the error exceeds the
 * target or reaches the cap (absolute: half the value range of q and k, past
 * which every window is reused; channel: 1e4; or --theta-max), then bisects
 * to --tol. theta_i is then rounded DOWN to the printed 6 digits and its
 * error re-evaluated there, so `ripple eval --theta <printed theta_i>` gives
 * the printed numbers.
 *
 * Phase 2: the ramp (rampfit_fit: grid over i_min <= i_max, closed-form
 * non-negative least squares for theta_start, theta_end; residual = sum over
 * captured steps except the last of the schedule of (theta_ramp - theta_i)^2)
 * is saved to DIR/ramp.txt (the file `eval --ramp` reads) and evaluated at
 * every captured step: DIR/fit.tsv has one row per step of the schedule. */
#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "evaluate.h"
#include "rampfit.h"
#include "scale.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ripple fit CAPTURE... --out DIR --target MSE [options]\n\n"
        "For a target output error, finds per captured denoising step the largest\n"
        "threshold whose mean attention-output MSE (over the selected captures, layers\n"
        "and heads) stays <= MSE, by bisection, then fits the threshold ramp of the\n"
        "paper's Eq. 4 / Table 1 to those thresholds and saves it as DIR/ramp.txt,\n"
        "the file `ripple eval --ramp` and `ripple compare --ramp` accept.\n\n"
        "options:\n"
        "  --target MSE       target mean output MSE per step (required, > 0)\n"
        "  --mode M           absolute (default: theta in units of q, k) or channel\n"
        "                     (the threshold is alpha: theta_a(c) = alpha * mean delta(c))\n"
        "  --theta-max X      largest threshold tried (default: absolute: half the value\n"
        "                     range of q and k, where every window is reused; channel: 1e4)\n"
        "  --tol R            stop bisecting when the bracket is within R of its top\n"
        "                     (relative, default 1e-3)\n"
        "  --max-evals N      error evaluations per step at most (default 60)\n"
        "  --axes SET         axes to reuse along, letters of t,h,w (default thw)\n"
        "  --window W         window size >= 2 (default 2)\n"
        "  --groups SET       channel groups (by axis letter) allowed to be reused (default all)\n"
        "  --model NAME       name in the printed Table 1 row (default: the capture's model)\n"
        "  --no-floor         skip the float64 noise floor (slow on long sequences)\n"
        "  --keep-mb N        keep loaded steps in memory up to N MiB for the ramp's\n"
        "                     evaluation (default 4096); steps past it are read again\n"
        "%s\n"
        "Writes DIR/fit_steps.tsv (per-step thresholds), DIR/ramp.txt, DIR/fit.tsv\n"
        "(per step of the schedule: measured theta, the ramp's theta and the error it\n"
        "gives), DIR/fit.gp and DIR/fit.png. Steps are zero-based; the ramp is\n"
        "  theta_i = 0 for i < i_min and at the last step S-1,\n"
        "  theta_start + (i - i_min)(theta_end - theta_start)/(i_max - i_min) on [i_min, i_max],\n"
        "  theta_end for i_max < i < S-1.\n"
        "Savings: s_score = score savings, s_attn = attention savings (s_score/2).\n",
        drv_common_help);
}

typedef struct {
    drv_opts d;
    ripple_reuse_params rp;
    double target, theta_max, tol;
    int max_evals, floor;
    long keep_mb;
    const char *model;
} fit_opts;

static void parse(int argc, char **argv, fit_opts *o)
{
    enum { O_TARGET = 1, O_MODE, O_TMAX, O_TOL, O_MAXEV, O_AXES, O_WINDOW, O_GROUPS, O_MODEL,
           O_NOFLOOR, O_KEEP };
    static const struct option longopts[] = {
        DRV_COMMON_LONGOPTS,
        {"target", required_argument, 0, O_TARGET}, {"mode", required_argument, 0, O_MODE},
        {"theta-max", required_argument, 0, O_TMAX}, {"tol", required_argument, 0, O_TOL},
        {"max-evals", required_argument, 0, O_MAXEV}, {"axes", required_argument, 0, O_AXES},
        {"window", required_argument, 0, O_WINDOW}, {"groups", required_argument, 0, O_GROUPS},
        {"model", required_argument, 0, O_MODEL},   {"no-floor", no_argument, 0, O_NOFLOOR},
        {"keep-mb", required_argument, 0, O_KEEP},  {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    drv_opts_init(&o->d);
    o->rp.axes = RIPPLE_AXES_ALL;
    o->rp.window = 2;
    o->target = NAN;
    o->tol = 1e-3;
    o->max_evals = 60;
    o->floor = 1;
    o->keep_mb = 4096;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (drv_common_option(&o->d, c, optarg)) continue;
        switch (c) {
        case 'h': usage(stdout); exit(CLI_EXIT_OK);
        case O_TARGET:
            o->target = cli_double("--target", optarg, 0, INFINITY);
            if (!(o->target > 0) || !isfinite(o->target))
                cli_usage_error("--target: the target MSE must be positive and finite");
            break;
        case O_MODE:
            if (!strcmp(optarg, "absolute")) o->rp.mode = RIPPLE_THRESHOLD_ABSOLUTE;
            else if (!strcmp(optarg, "channel")) o->rp.mode = RIPPLE_THRESHOLD_CHANNEL;
            else cli_usage_error("--mode: '%s' is not absolute or channel", optarg);
            break;
        case O_TMAX:
            o->theta_max = cli_double("--theta-max", optarg, 0, 1e30);
            if (!(o->theta_max > 0)) cli_usage_error("--theta-max must be > 0");
            break;
        case O_TOL: o->tol = cli_double("--tol", optarg, 1e-9, 0.5); break;
        case O_MAXEV: o->max_evals = (int)cli_int("--max-evals", optarg, 2, 10000); break;
        case O_AXES: o->rp.axes = cli_axes("--axes", optarg); break;
        case O_WINDOW: o->rp.window = (int)cli_int("--window", optarg, 2, 1 << 20); break;
        case O_GROUPS: o->rp.groups = cli_axes("--groups", optarg); break;
        case O_MODEL: o->model = cli_nonempty("--model", optarg); break;
        case O_NOFLOOR: o->floor = 0; break;
        case O_KEEP: o->keep_mb = (long)cli_int("--keep-mb", optarg, 0, 1 << 24); break;
        case ':': cli_usage_error("option %s needs a value", argv[optind - 1]);
        default: cli_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (isnan(o->target)) cli_usage_error("--target MSE is required (the per-step output error to stay within)");
    drv_finish_options(&o->d, argc, argv, 1);
}

/* ------------------------------------------------ per-step error function */

typedef struct {
    eval_unit *units; /* every selected (capture, layer) of one step */
    int nu;
    ripple_reuse_params rp;
    /* log of evaluations, to find the savings at the chosen theta */
    int nlog, caplog;
    double *theta, *mse;
    ripple_savings *sv;
    ripple_status status;
} step_ctx;

/* Mean MSE (and savings) over the step's units at threshold theta. */
static int step_error(void *vctx, double theta, double *err)
{
    step_ctx *c = vctx;
    ripple_reuse_params p = c->rp;
    p.theta[0] = p.theta[1] = p.theta[2] = theta;
    double sum = 0;
    ripple_savings sv, mean = {0};
    ripple_metrics m;
    for (int i = 0; i < c->nu; i++) {
        ripple_status s = eval_run(&c->units[i], EVAL_REUSE, &p, &sv, &m);
        if (s) {
            c->status = s;
            return 1;
        }
        sum += m.mse;
        ripple_savings_add(&mean, &sv);
    }
    ripple_savings_scale(&mean, 1.0 / c->nu);
    if (c->nlog == c->caplog) {
        c->caplog = c->caplog ? 2 * c->caplog : 64;
        c->theta = realloc(c->theta, (size_t)c->caplog * sizeof *c->theta);
        c->mse = realloc(c->mse, (size_t)c->caplog * sizeof *c->mse);
        c->sv = realloc(c->sv, (size_t)c->caplog * sizeof *c->sv);
        if (!c->theta || !c->mse || !c->sv) cli_data_error("out of memory");
    }
    c->theta[c->nlog] = theta;
    c->mse[c->nlog] = sum / c->nu;
    c->sv[c->nlog++] = mean;
    *err = sum / c->nu;
    return 0;
}

static int logged(const step_ctx *c, double theta)
{
    for (int i = c->nlog - 1; i >= 0; i--)
        if (c->theta[i] == theta) return i;
    return -1;
}

/* Start of the bracket: the threshold scale SCALE_BRACKET of the step's
 * units (absolute mode), and the cap: half the value range of q and k. */
static double median_delta(const step_ctx *c)
{
    const float *q[c->nu], *k[c->nu];
    for (int i = 0; i < c->nu; i++) q[i] = c->units[i].q, k[i] = c->units[i].k;
    double med;
    ripple_status s = scale_median(c->units[0].lay, &SCALE_BRACKET, c->rp.axes, c->rp.window, c->nu,
                                   c->units[0].nh, q, k, &med);
    if (s) cli_lib_error(s, "window deltas");
    return med;
}

static double half_range(const step_ctx *c)
{
    const float *q[c->nu], *k[c->nu];
    for (int i = 0; i < c->nu; i++) q[i] = c->units[i].q, k[i] = c->units[i].k;
    return scale_half_range(c->units[0].lay, c->nu, c->units[0].nh, q, k);
}

/* x rounded down to the 6 significant digits of a TSV cell. */
static double round_down_cell(double x)
{
    char b[DRV_CELL];
    double r = strtod(drv_num(b, x), NULL);
    while (r > x && r > 0) {
        double ulp = pow(10.0, floor(log10(r)) - 5);
        r = strtod(drv_num(b, r - ulp), NULL);
    }
    return r;
}

static size_t unit_bytes(const eval_unit *u)
{
    size_t total = (size_t)u->nh * (size_t)u->lay->seq_len * (size_t)u->lay->head_dim;
    return total * (7 * sizeof(float) + 4 * sizeof(ripple_mask_t));
}

/* ----------------------------------------------------------------- driver */

enum { S_STEP, S_TIMESTEP, S_UNITS, S_THETA, S_MSE, S_SSCORE, S_SATTN, S_ROWS, S_SAT, S_INFEAS, S_EVALS,
       S_THI, S_MHI, S_START, S_CAP, S_FLOOR, S_NCOLS };
static const char *const step_cols[S_NCOLS] = {"step", "timestep", "units", "theta", "mse", "s_score",
    "s_attn", "rows_reused", "saturated", "infeasible", "evals", "theta_hi", "mse_hi", "theta_start_bracket",
    "theta_cap", "floor_mse"};

enum { F_STEP, F_CAPTURED, F_TIMESTEP, F_THETA, F_MSE, F_SSCORE, F_SATTN, F_SAT, F_RTHETA, F_RMSE,
       F_RSSCORE, F_RSATTN, F_TARGET, F_NCOLS };
static const char *const fit_cols[F_NCOLS] = {"step", "captured", "timestep", "theta_measured",
    "mse_at_theta", "s_score", "s_attn", "saturated", "theta_ramp", "mse_at_ramp", "s_score_ramp",
    "s_attn_ramp", "target"};

typedef struct {
    int step;
    int first, count; /* unit indices [first, first+count) in a step-sorted order */
    double timestep;
    eval_unit *units; /* kept in memory, or NULL */
    /* phase 1 results, parsed from the cells */
    double theta, mse, s_score, s_attn, floor_mse;
    int saturated, infeasible;
    /* phase 2: at the ramp's theta */
    double r_theta, r_mse, r_sscore, r_sattn;
} step_info;

static const drv_units *sort_units;
static int cmp_idx(const void *a, const void *b)
{
    const drv_unit_id *x = &sort_units->ids[*(const int *)a], *y = &sort_units->ids[*(const int *)b];
    if (x->step != y->step) return x->step - y->step;
    if (x->capture != y->capture) return x->capture - y->capture;
    return x->layer - y->layer;
}

/* Phase-1 numbers of a step from its cells (written now or by an earlier
 * run): the printed values are the ones used afterwards. */
static void take_step_cells(step_info *s, const char *const *c)
{
    s->theta = strtod(c[S_THETA], NULL);
    s->mse = strtod(c[S_MSE], NULL);
    s->s_score = strtod(c[S_SSCORE], NULL);
    s->s_attn = strtod(c[S_SATTN], NULL);
    s->floor_mse = strtod(c[S_FLOOR], NULL);
    s->saturated = atoi(c[S_SAT]);
    s->infeasible = atoi(c[S_INFEAS]);
}

static eval_unit *load_step(const drv_units *u, const drv_opts *o, const int *order, const step_info *si)
{
    eval_unit *eu = cli_alloc((size_t)si->count, sizeof *eu, "units");
    for (int j = 0; j < si->count; j++) drv_unit_load(u, o, order[si->first + j], &eu[j]);
    return eu;
}

static void free_step(step_info *si)
{
    if (!si->units) return;
    for (int j = 0; j < si->count; j++) eval_unit_free(&si->units[j]);
    free(si->units);
    si->units = NULL;
}

static void add_meta(drv_tsv *t, const fit_opts *o, const drv_units *u, const char *mode_word)
{
    char axes[4], groups[4];
    drv_tsv_meta(t, "command", "ripple fit (paper Table 1, Eq. 4)");
    for (int c = 0; c < u->ncaptures; c++) {
        const ripple_capture_info *info = u->srcs[c].info;
        drv_tsv_meta(t, "capture", "%d %s model=%s num_steps=%lld prompt=%s", c, o->d.captures[c], info->model,
                     (long long)info->num_steps, info->prompt[0] ? info->prompt : "(none)");
    }
    drv_tsv_meta(t, "selection", "%s", drv_selection_str(&o->d));
    drv_tsv_meta(t, "target", "mean attention-output MSE per step <= %g (mean over captures, layers; "
                              "each unit's MSE over all its heads)", o->target);
    drv_tsv_meta(t, "threshold_mode", "%s (theta columns hold %s)", mode_word,
                 o->rp.mode == RIPPLE_THRESHOLD_CHANNEL ? "alpha" : "absolute thresholds");
    drv_tsv_meta(t, "reuse", "axes=%s window=%d groups=%s, one theta for every axis",
                 cli_axes_str(o->rp.axes, axes), o->rp.window,
                 o->rp.groups ? cli_axes_str(o->rp.groups, groups) : "all");
    drv_tsv_meta(t, "search", "doubling then bisection, relative tol %g, at most %d evaluations; theta "
                              "rounded down to 6 digits and re-evaluated", o->tol, o->max_evals);
    drv_tsv_meta(t, "savings", "s_score = score savings; s_attn = attention savings (QK^T share only)");
}

int cmd_fit(int argc, char **argv)
{
    fit_opts o;
    parse(argc, argv, &o);
    drv_units u;
    drv_units_open(&u, &o.d);
    const ripple_capture_info *info0 = u.srcs[0].info;
    const int S = (int)info0->num_steps;
    for (int c = 1; c < u.ncaptures; c++)
        if (u.srcs[c].info->num_steps != S)
            cli_data_error("%s has num_steps %lld but %s has %d: a ramp is fitted to one schedule",
                           o.d.captures[c], (long long)u.srcs[c].info->num_steps,
                           o.d.captures[0], S);
    if (S < 2) cli_data_error("%s: num_steps %d: a ramp needs at least 2 steps", o.d.captures[0], S);
    const char *mode_word = o.rp.mode == RIPPLE_THRESHOLD_CHANNEL ? "channel" : "absolute";
    const char *model = o.model ? o.model : info0->model;

    /* units grouped by step */
    int *order = cli_alloc((size_t)u.n, sizeof *order, "units");
    for (int i = 0; i < u.n; i++) order[i] = i;
    sort_units = &u;
    qsort(order, (size_t)u.n, sizeof *order, cmp_idx);
    step_info *si = calloc((size_t)u.n, sizeof *si);
    if (!si) cli_data_error("out of memory");
    int ns = 0;
    for (int k = 0; k < u.n; k++) {
        const drv_unit_id *id = &u.ids[order[k]];
        if (ns == 0 || si[ns - 1].step != id->step) si[ns++] = (step_info){.step = id->step, .first = k,
                                                                             .timestep = id->timestep};
        si[ns - 1].count++;
    }

    char axes[4], groups[4], options[1024];
    int n = snprintf(options, sizeof options,
                     "target=%.9g mode=%s axes=%s window=%d groups=%s tol=%.9g max_evals=%d theta_max=%.9g "
                     "floor=%d %s captures=", o.target, mode_word, cli_axes_str(o.rp.axes, axes), o.rp.window,
                     o.rp.groups ? cli_axes_str(o.rp.groups, groups) : "all", o.tol, o.max_evals, o.theta_max,
                     o.floor, drv_selection_str(&o.d));
    for (int c = 0; c < o.d.ncaptures && n < (int)sizeof options; c++)
        n += snprintf(options + n, sizeof options - (size_t)n, "%s%s", c ? "," : "", o.d.captures[c]);

    /* ---- phase 1: per-step thresholds */
    drv_tsv *t = drv_tsv_open(&o.d, "fit_steps", S_NCOLS, step_cols, 1, options);
    add_meta(t, &o, &u, mode_word);
    const double keep_bytes = (double)o.keep_mb * 1048576.0;
    double kept = 0;
    int reloads = 0, reused1 = 0, reused2 = 0;
    for (int k = 0; k < ns; k++) {
        step_info *s = &si[k];
        char kb[DRV_CELL];
        const char *key[1] = {drv_int(kb, s->step)};
        if (!drv_tsv_has(t, key)) {
            cli_progress("fit: bisection per step", k, ns);
            step_ctx ctx = {0};
            ctx.rp = o.rp;
            ctx.units = load_step(&u, &o.d, order, s);
            ctx.nu = s->count;
            double start, cap;
            if (o.rp.mode == RIPPLE_THRESHOLD_ABSOLUTE) {
                cap = o.theta_max > 0 ? o.theta_max : half_range(&ctx) * (1 + 1e-6) + 1e-30;
                start = median_delta(&ctx);
                if (!(start > 0)) start = cap / 1024;
            } else {
                cap = o.theta_max > 0 ? o.theta_max : 1e4;
                start = 0.25;
            }
            if (start > cap) start = cap;
            rampfit_bisect_opts bo = {start, cap, o.tol, o.max_evals};
            rampfit_bisect_result r;
            int rc = rampfit_bisect(step_error, &ctx, o.target, &bo, &r);
            if (rc && ctx.status) cli_lib_error(ctx.status, "reuse");
            if (rc) cli_data_error("internal: bisection refused its arguments (start %g, cap %g)", start, cap);
            double theta = round_down_cell(r.theta), e;
            if (logged(&ctx, theta) < 0 && step_error(&ctx, theta, &e)) cli_lib_error(ctx.status, "reuse");
            int li = logged(&ctx, theta);
            double floor_mse = NAN;
            if (o.floor) {
                floor_mse = 0;
                for (int j = 0; j < ctx.nu; j++) {
                    ripple_metrics fm;
                    ripple_status st = eval_noise_floor(&ctx.units[j], &fm);
                    if (st) cli_lib_error(st, "noise floor");
                    floor_mse += fm.mse / ctx.nu;
                }
            }
            char c[S_NCOLS][DRV_CELL];
            drv_int(c[S_STEP], s->step);
            drv_num(c[S_TIMESTEP], s->timestep);
            drv_int(c[S_UNITS], s->count);
            drv_num(c[S_THETA], theta);
            drv_num(c[S_MSE], ctx.mse[li]);
            drv_num(c[S_SSCORE], ctx.sv[li].s_score);
            drv_num(c[S_SATTN], ctx.sv[li].s_attn);
            drv_num(c[S_ROWS], ctx.sv[li].rows_reused);
            drv_int(c[S_SAT], r.saturated);
            drv_int(c[S_INFEAS], r.infeasible);
            drv_int(c[S_EVALS], ctx.nlog);
            drv_num(c[S_THI], r.theta_hi);
            drv_num(c[S_MHI], r.err_hi);
            drv_num(c[S_START], start);
            drv_num(c[S_CAP], cap);
            drv_num(c[S_FLOOR], floor_mse);
            const char *row[S_NCOLS];
            for (int j = 0; j < S_NCOLS; j++) row[j] = c[j];
            drv_tsv_row(t, row);
            take_step_cells(s, row);
            free(ctx.theta);
            free(ctx.mse);
            free(ctx.sv);
            size_t bytes = unit_bytes(&ctx.units[0]) * (size_t)s->count;
            if (kept + (double)bytes <= keep_bytes) {
                s->units = ctx.units;
                kept += (double)bytes;
            } else {
                for (int j = 0; j < s->count; j++) eval_unit_free(&ctx.units[j]);
                free(ctx.units);
            }
        } else {
            reused1++;
            const char *cells[S_NCOLS];
            for (int j = 0; j < S_NCOLS; j++) cells[j] = drv_tsv_get(t, key, step_cols[j]);
            take_step_cells(s, cells);
        }
    }
    cli_progress_done();

    char steps_path[4200];
    snprintf(steps_path, sizeof steps_path, "%s", drv_tsv_close(t));

    /* ---- the ramp */
    int *fsteps = cli_alloc((size_t)ns, sizeof *fsteps, "steps");
    double *ftheta = cli_alloc((size_t)ns, sizeof *ftheta, "steps");
    for (int k = 0; k < ns; k++) {
        fsteps[k] = si[k].step;
        ftheta[k] = si[k].theta;
    }
    rampfit_fit_result fr;
    if (rampfit_fit(ns, fsteps, ftheta, S, &fr))
        cli_data_error("no captured step before the last step (%d) of the schedule: nothing to fit a ramp to "
                       "(`ripple info` lists the captured steps)", S - 1);
    rampfit_ramp ramp = {fr.ramp.theta_start, fr.ramp.theta_end, fr.ramp.i_min, fr.ramp.i_max, S, o.rp.mode};
    char ramp_path[4200], comment[1024], err[RAMPFIT_ERR];
    snprintf(ramp_path, sizeof ramp_path, "%s/ramp.txt", o.d.out_dir);
    snprintf(comment, sizeof comment,
             "fitted by ripple fit for %s: target mean output MSE %g per step; axes %s window %d groups %s "
             "(use the same with --ramp); residual rms %.3g over %d captured steps", model, o.target,
             cli_axes_str(o.rp.axes, axes), o.rp.window, o.rp.groups ? cli_axes_str(o.rp.groups, groups) : "all",
             fr.rms, fr.used);
    if (rampfit_save(ramp_path, &ramp, comment)) cli_data_error("cannot write %s", ramp_path);
    /* from here on, the ramp as `eval --ramp` reads it */
    if (rampfit_load(ramp_path, &ramp, err)) cli_data_error("%s", err);

    /* ---- phase 2: the ramp at every step */
    char options2[1400];
    snprintf(options2, sizeof options2, "%s ramp=%.9g,%.9g,%d,%d,%d", options, ramp.theta_start, ramp.theta_end,
             ramp.i_min, ramp.i_max, ramp.num_steps);
    drv_tsv *t2 = drv_tsv_open(&o.d, "fit", F_NCOLS, fit_cols, 1, options2);
    add_meta(t2, &o, &u, mode_word);
    drv_tsv_meta(t2, "ramp", "theta_start=%.9g theta_end=%.9g i_min=%d i_max=%d num_steps=%d (zero-based; %s)",
                 ramp.theta_start, ramp.theta_end, ramp.i_min, ramp.i_max, ramp.num_steps, ramp_path);
    drv_tsv_meta(t2, "ramp_law", "theta_i = 0 for i < i_min and i = S-1; theta_start + (i - i_min)(theta_end - "
                                 "theta_start)/(i_max - i_min) on [i_min, i_max]; theta_end for i_max < i < S-1");
    drv_tsv_meta(t2, "ramp_fit", "grid over 0 <= i_min <= i_max <= S-2, non-negative least squares for "
                                 "theta_start, theta_end; residual sum over captured steps < S-1 of "
                                 "(theta_ramp - theta_measured)^2 = %.6g, rms %.6g over %d steps; %d other "
                                 "(i_min, i_max) fit as well (ties go to the ramp with the least total theta over all steps: least reuse where no capture constrains it)",
                 fr.sse, fr.rms, fr.used, fr.ties);
    drv_tsv_meta(t2, "paper", "the printed Eq. 4 drops theta_start and Table 1 lists theta_max < theta_min; "
                              "ripple uses the law above (method.md section 5)");
    drv_tsv_meta(t2, "columns", "theta_measured, mse_at_theta, s_score, s_attn, saturated: from fit_steps.tsv "
                                "(nan for steps not captured); *_ramp: the ramp's theta at the step and the mean "
                                "error and savings it gives there");
    for (int step = 0, k = 0; step < S; step++) {
        char c[F_NCOLS][DRV_CELL];
        const char *row[F_NCOLS];
        for (int j = 0; j < F_NCOLS; j++) row[j] = c[j];
        const char *key[1] = {drv_int(c[F_STEP], step)};
        double th = rampfit_theta(&ramp, step);
        drv_num(c[F_RTHETA], th);
        drv_num(c[F_TARGET], o.target);
        step_info *s = k < ns && si[k].step == step ? &si[k++] : NULL;
        if (drv_tsv_has(t2, key)) reused2++;
        if (!s) {
            drv_int(c[F_CAPTURED], 0);
            for (int j = F_TIMESTEP; j <= F_SAT; j++) drv_num(c[j], NAN);
            for (int j = F_RMSE; j <= F_RSATTN; j++) drv_num(c[j], NAN);
            drv_tsv_row(t2, row);
            continue;
        }
        s->r_theta = th;
        if (drv_tsv_has(t2, key)) {
            s->r_mse = strtod(drv_tsv_get(t2, key, "mse_at_ramp"), NULL);
            s->r_sscore = strtod(drv_tsv_get(t2, key, "s_score_ramp"), NULL);
            s->r_sattn = strtod(drv_tsv_get(t2, key, "s_attn_ramp"), NULL);
            continue;
        }
        double mse = 0;
        ripple_savings sv = {0};
        if (th > 0) { /* theta 0 reuses nothing (delta < 0 never holds): error 0, savings 0 */
            cli_progress("fit: error at the ramp", k, ns);
            step_ctx ctx = {0};
            ctx.rp = o.rp;
            int fresh = !s->units;
            if (fresh) reloads++;
            ctx.units = fresh ? load_step(&u, &o.d, order, s) : s->units;
            ctx.nu = s->count;
            if (step_error(&ctx, th, &mse)) cli_lib_error(ctx.status, "reuse");
            sv = ctx.sv[0];
            free(ctx.theta);
            free(ctx.mse);
            free(ctx.sv);
            if (fresh) {
                for (int j = 0; j < s->count; j++) eval_unit_free(&ctx.units[j]);
                free(ctx.units);
            }
        }
        drv_int(c[F_CAPTURED], 1);
        drv_num(c[F_TIMESTEP], s->timestep);
        drv_num(c[F_THETA], s->theta);
        drv_num(c[F_MSE], s->mse);
        drv_num(c[F_SSCORE], s->s_score);
        drv_num(c[F_SATTN], s->s_attn);
        drv_int(c[F_SAT], s->saturated);
        drv_num(c[F_RMSE], mse);
        drv_num(c[F_RSSCORE], sv.s_score);
        drv_num(c[F_RSATTN], sv.s_attn);
        drv_tsv_row(t2, row);
        s->r_mse = strtod(c[F_RMSE], NULL);
        s->r_sscore = strtod(c[F_RSSCORE], NULL);
        s->r_sattn = strtod(c[F_RSATTN], NULL);
    }
    cli_progress_done();
    char fit_path[4200];
    snprintf(fit_path, sizeof fit_path, "%s", drv_tsv_close(t2));
    drv_append_timing(fit_path);
    for (int k = 0; k < ns; k++) free_step(&si[k]);

    /* ---- terminal */
    printf("ripple fit: target mean output MSE %g per step; mode %s, axes %s, window %d; %d capture%s, "
           "%d of %d steps captured\n", o.target, mode_word, cli_axes_str(o.rp.axes, axes), o.rp.window,
           u.ncaptures, u.ncaptures > 1 ? "s" : "", ns, S);
    printf("%5s %10s %11s %11s %8s %8s  %11s %11s %8s %8s\n", "step", "timestep", "theta_i", "mse", "s_score",
           "s_attn", "theta_ramp", "mse@ramp", "s_score", "s_attn");
    double sum_sscore = 0, sum_sattn = 0, max_rmse = 0, floor_max = 0;
    int nsat = 0, nover = 0;
    for (int k = 0; k < ns; k++) {
        const step_info *s = &si[k];
        printf("%5d %10.4g %11.5g%s%11.4g %8.4f %8.4f  %11.5g %11.4g %8.4f %8.4f%s\n", s->step, s->timestep,
               s->theta, s->saturated ? "*" : " ", s->mse, s->s_score, s->s_attn, s->r_theta, s->r_mse,
               s->r_sscore, s->r_sattn, s->step == S - 1 ? "  (last step: no reuse)" : "");
        sum_sscore += s->r_sscore;
        sum_sattn += s->r_sattn;
        max_rmse = fmax(max_rmse, s->r_mse);
        nsat += s->saturated;
        nover += s->r_mse > o.target;
        if (isfinite(s->floor_mse)) floor_max = fmax(floor_max, s->floor_mse);
    }
    if (nsat)
        printf("* saturated at %d step%s: every window is reused there and the error stays within the target; "
               "theta_i is the cap\n", nsat, nsat > 1 ? "s" : "");
    printf("at the ramp, over the captured steps: mean s_score %.4f, mean s_attn %.4f (score / attention "
           "savings); max mse %.4g (%d step%s above the target)\n", sum_sscore / ns, sum_sattn / ns, max_rmse,
           nover, nover == 1 ? "" : "s");
    if (o.floor && floor_max > 0 && o.target <= 10 * floor_max)
        printf("warning: the target is within 10x of the float32 noise floor (max %.3g over steps)\n", floor_max);
    printf("\nfitted ramp (%s thresholds), residual rms %.4g over %d steps%s:\n", mode_word, fr.rms, fr.used,
           fr.ties ? " (other ramps fit equally: captured steps leave some steps undetermined)" : "");
    printf("  %-18s %11s %11s %6s %6s %6s\n", "model", "theta_start", "theta_end", "i_min", "i_max", "steps");
    printf("  %-18.18s %11.5g %11.5g %6d %6d %6d   zero-based (ripple, ramp.txt)\n", model, ramp.theta_start,
           ramp.theta_end, ramp.i_min, ramp.i_max, S);
    printf("  %-18.18s %11.5g %11.5g %6d %6d %6d   1-based (the paper's Table 1 form)\n", model,
           ramp.theta_start, ramp.theta_end, ramp.i_min + 1, ramp.i_max + 1, S);
    printf("paper Table 1 for reference (1-based, 50 steps; its theta thresholds are in each model's own "
           "units):\n");
    static const struct { const char *m; double a, b; int lo, hi; } paper[] = {
        {"HunyuanVideo", 0.2, 0.5, 10, 20}, {"Wan2.1", 0.4, 0.6, 10, 48},
        {"CogVideoX", 0.2, 0.5, 10, 28},    {"Open-Sora-Plan", 0.4, 0.8, 20, 48}};
    for (size_t j = 0; j < sizeof paper / sizeof paper[0]; j++)
        printf("  %-18s %11.2g %11.2g %6d %6d %6d\n", paper[j].m, paper[j].a, paper[j].b, paper[j].lo,
               paper[j].hi, 50);
    printf("note: the paper's printed Eq. 4 drops theta_start and its Table 1 lists theta_max < theta_min;\n"
           "  ripple uses theta_i = theta_start + (i - i_min)(theta_end - theta_start)/(i_max - i_min) on\n"
           "  [i_min, i_max], 0 before i_min and at the last step, theta_end after i_max (method.md 5).\n");
    printf("\nramp: %s (use: ripple eval --ramp %s --axes %s --window %d ...)\n", ramp_path, ramp_path,
           cli_axes_str(o.rp.axes, axes), o.rp.window);
    printf("tables: %s (%d steps reused), %s (%d rows reused)", steps_path, reused1, fit_path, reused2);
    if (reloads) printf("; %d step%s read again for the ramp (--keep-mb)", reloads, reloads > 1 ? "s" : "");
    printf("\n");

    /* ---- figure */
    char body[4096], title_model[256];
    drv_gp_string(title_model, sizeof title_model, model);
    snprintf(body, sizeof body,
             "set title \"Threshold ramp for target MSE %g: %s (%s, axes %s, window %d)\"\n"
             "set xlabel \"denoising step (zero-based)\"\n"
             "set ylabel \"%s\"\n"
             "set y2label \"attention output MSE vs exact (log)\"\n"
             "set xrange [-0.5:%d.5]\n"
             "set yrange [0:*]\n"
             "set logscale y2\nset format y2 \"%%.0e\"\nset y2tics\nset ytics nomirror\n"
             "set key below box\nset bmargin 7\n"
             "set datafile missing \"nan\"  # steps not captured: skipped, lines go on\n"
             "f = \"fit.tsv\"\n"
             "plot f using 1:($2 == 1 ? $4 : NaN) with points pt 7 ps 1.4 lc rgb \"#1f77b4\" "
             "title \"measured theta_i (bisection)\", \\\n"
             "  f using 1:9 with linespoints lw 2.5 pt 7 ps 0.5 lc rgb \"#ff7f0e\" title \"fitted ramp\", \\\n"
             "  f using 1:10 axes x1y2 with linespoints lw 1.5 pt 6 ps 1.2 "
             "lc rgb \"#2ca02c\" title \"MSE at the ramp (right axis)\", \\\n"
             "  f using 1:($2 == 1 && $5 > 0 ? $5 : NaN) axes x1y2 with points pt 2 ps 1 lc rgb \"#9467bd\" "
             "title \"MSE at measured theta_i (right)\", \\\n"
             "  f using 1:13 axes x1y2 with lines dt 2 lw 2 lc rgb \"red\" title \"target MSE (right)\"\n",
             o.target, title_model, mode_word, cli_axes_str(o.rp.axes, axes), o.rp.window,
             o.rp.mode == RIPPLE_THRESHOLD_CHANNEL ? "threshold alpha (x mean window delta)"
                                                    : "threshold theta (units of q and k)",
             S - 1);
    int plot_rc = drv_plot(&o.d, "fit", body, 1000, 560);
    if (plot_rc == 0) printf("figure: %s/fit.png\n", o.d.out_dir);

    free(fsteps);
    free(ftheta);
    free(si);
    free(order);
    drv_units_close(&u);
    return drv_exit_status(plot_rc);
}
