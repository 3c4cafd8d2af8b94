/* ripple fit (paper Table 1, Eq. 4): per-step thresholds for a target output
 * error, found by bisection, and the threshold ramp fitted to them.
 *
 * Phase 1, DIR/fit_steps.tsv: for each captured step i, the largest theta_i
 * whose mean output MSE over the selected captures, layers and heads is
 * <= target. The error is evaluated on every unit of the step with its exact
 * attention computed once (all units of one step are in memory together).
 * The bracket starts at the threshold scale of q and k (SCALE_BRACKET,
 * absolute mode) or alpha = 0.25 (channel mode), doubles until the error
 * exceeds the target or reaches the cap (absolute: half the value range of
 * q and k, past which every window is reused; channel: 1e4; or
 * --theta-max), then bisects to --tol. theta_i is then rounded DOWN to the
 * printed 6 digits and its error re-evaluated there, so `ripple eval
 * --theta <printed theta_i>` gives the printed numbers.
 *
 * Phase 2: the ramp (rampfit_fit: grid over i_min <= i_max, closed-form
 * non-negative least squares for theta_start, theta_end; residual = sum over
 * captured steps except the last of the schedule of (theta_ramp - theta_i)^2)
 * is saved to DIR/ramp.txt (the file `eval --ramp` reads) and evaluated at
 * every captured step: DIR/fit.tsv has one row per step of the schedule. */
#include "experiments.h"
#include "scale.h"

#include <math.h>
#include <string.h>

typedef struct fit_opts {
    double target, theta_max, tol;
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

static const char usage[] =
    "For a target output error, finds per captured denoising step the largest\n"
    "threshold whose mean attention-output MSE (over the selected captures, layers\n"
    "and heads) stays <= MSE, by bisection, then fits the threshold ramp of the\n"
    "paper's Eq. 4 / Table 1 to those thresholds and saves it as DIR/ramp.txt,\n"
    "the file `ripple eval --ramp` and `ripple compare --ramp` accept.\n\n"
    "%s"
    "Steps are zero-based; the ramp is\n"
    "  theta_i = 0 for i < i_min and at the last step S-1,\n"
    "  theta_start + (i - i_min)(theta_end - theta_start)/(i_max - i_min)\n"
    "    on [i_min, i_max],\n"
    "  theta_end for i_max < i < S-1.\n";

#define OV(...) EXP_OPTV(fit_opts, __VA_ARGS__)
static const exp_opt opts[] = {
    OV("target", EXP_DOUBLE, target, .lo = 0, .hi = INFINITY, .open = 1, .required = 1, .arg = "MSE",
       .help = "target mean output MSE per step (required, > 0)"),
    OV("mode", EXP_MODE, mode, .arg = "M", .help = "absolute (default: theta in units of q, k) or channel "
                                                  "(the threshold is alpha: theta_a(c) = alpha * mean delta(c))"),
    OV("theta-max", EXP_DOUBLE, theta_max, .lo = 0, .hi = 1e30, .open = 1,
       .arg = "X", .help = "largest threshold tried (default: absolute: half the value "
                           "range of q and k, where every window is reused; channel: 1e4)"),
    OV("tol", EXP_DOUBLE, tol, .lo = 1e-9, .hi = 0.5, .arg = "R",
       .help = "stop bisecting when the bracket is within R of its top\n(relative, default 1e-3)"),
    OV("max-evals", EXP_INT, max_evals, .lo = 2, .hi = 10000, .arg = "N",
       .help = "error evaluations per step at most (default 60)"),
    EXP_OPT_AXES(fit_opts, axes),
    EXP_OPT_WINDOW(fit_opts, window),
    EXP_OPT_GROUPS(fit_opts, groups),
    OV("model", EXP_TEXT, model, .arg = "NAME", .help = "name in the printed Table 1 row\n(default: the capture's model)"),
    EXP_OPT_NO_FLOOR(fit_opts, floor, "floor_mse"),
    OV("keep-mb", EXP_INT, keep_mb, .lo = 0, .hi = 1 << 24, .arg = "N",
       .help = "keep loaded steps in memory up to N MiB for the ramp's\n"
               "evaluation (default 4096); steps past it are read again"),
    {0}};
#undef OV

static const fit_opts defaults = {.target = NAN, .tol = 1e-3, .max_evals = 60, .floor = 1, .keep_mb = 4096,
                                  .axes = RIPPLE_AXES_ALL, .window = 2};

static const exp_col step_cols[] = {{"step", 'i'}, {"timestep", 'n'}, {"units", 'i'}, {"theta", 'n'}, {"mse", 'n'},
    {"s_score", 'n'}, {"s_attn", 'n'}, {"rows_reused", 'n'}, {"saturated", 'i'}, {"infeasible", 'i'},
    {"evals", 'i'}, {"theta_hi", 'n'}, {"mse_hi", 'n'}, {"theta_start_bracket", 'n'}, {"theta_cap", 'n'},
    {"floor_mse", 'n'}};
enum { S_STEP, S_TIMESTEP, S_UNITS, S_THETA, S_MSE, S_SSCORE, S_SATTN, S_ROWS, S_SAT, S_INFEAS, S_EVALS, S_THI,
       S_MHI, S_START, S_CAP, S_FLOOR };
static const exp_col fit_cols[] = {{"step", 'i'}, {"captured", 'i'}, {"timestep", 'n'}, {"theta_measured", 'n'},
    {"mse_at_theta", 'n'}, {"s_score", 'n'}, {"s_attn", 'n'}, {"saturated", 'i'}, {"theta_ramp", 'n'},
    {"mse_at_ramp", 'n'}, {"s_score_ramp", 'n'}, {"s_attn_ramp", 'n'}, {"target", 'n'}};
enum { F_STEP, F_CAPTURED, F_TIMESTEP, F_THETA, F_MSE, F_SSCORE, F_SATTN, F_SAT, F_RTHETA, F_RMSE, F_RSSCORE,
       F_RSATTN, F_TARGET };
enum { T_STEPS, T_FIT };
static const exp_table_def tables[] = {
    EXP_TABLE("fit_steps", step_cols, 1, "per captured step: the largest threshold within the target"),
    EXP_TABLE("fit", fit_cols, 1, "per step of the schedule: measured theta, the ramp's theta and the error it gives")};

/* A captured step: its units are group g (all captures and layers of it). */
typedef struct fit_step {
    int step;
    double timestep;
    /* phase 1, as printed */
    double theta, mse, s_score, s_attn, floor_mse;
    int saturated;
    /* phase 2: at the ramp's theta */
    double r_theta, r_mse, r_sscore, r_sattn;
} fit_step;

/* ------------------------------------------------ per-step error function */

typedef struct {
    double theta, mse;
    ripple_savings sv; /* mean over the step's units */
} evaluation;

typedef struct {
    eval_unit *units; /* every selected (capture, layer) of one step */
    int nu, nlog, cap;
    ripple_reuse_params rp;
    evaluation *log; /* every evaluation, to find the savings at the chosen theta */
    ripple_status status;
} step_ctx;

/* Mean MSE (and savings) over the step's units at threshold theta. */
static int step_error(void *vctx, double theta, double *err)
{
    step_ctx *c = vctx;
    const ripple_reuse_params p = exp_params(c->rp.axes, c->rp.window, c->rp.groups, c->rp.mode, theta);
    double sum = 0;
    ripple_savings sv, mean = {0};
    ripple_metrics m;
    for (int i = 0; i < c->nu; i++) {
        if ((c->status = eval_run(&c->units[i], EVAL_REUSE, &p, &sv, &m))) return 1;
        sum += m.mse;
        ripple_savings_add(&mean, &sv);
    }
    ripple_savings_scale(&mean, 1.0 / c->nu);
    EXP_ASSERT(c->nlog < c->cap); /* the bisection's evaluations, the rounded theta and theta 0 */
    c->log[c->nlog++] = (evaluation){theta, *err = sum / c->nu, mean};
    return 0;
}

static int logged(const step_ctx *c, double theta)
{
    for (int i = c->nlog - 1; i >= 0; i--)
        if (c->log[i].theta == theta) return i;
    return -1;
}

static size_t unit_bytes(const eval_unit *u)
{
    size_t total = (size_t)u->nh * (size_t)u->lay->seq_len * (size_t)u->lay->head_dim;
    return total * (7 * sizeof(float) + 4 * sizeof(ripple_mask_t));
}

/* ------------------------------------------------------------------ plan */

static int unit_step(const exp_unit *u) { return u->id.step; }

static int add_meta(exp_run *r, int t)
{
    const fit_opts *o = r->opts;
    EXP_TRY(exp_meta(r, t, "target", "mean attention-output MSE per step <= %g (mean over captures, layers; "
                                     "each unit's MSE over all its heads)", o->target));
    EXP_TRY(exp_meta(r, t, "threshold_mode", "%s (theta columns hold %s)", cli_mode_str(o->mode),
                     o->mode == RIPPLE_THRESHOLD_CHANNEL ? "alpha" : "absolute thresholds"));
    EXP_TRY(exp_meta(r, t, "reuse", "axes=%s window=%d groups=%s, one theta for every axis", cli_axes_str(o->axes),
                     o->window, o->groups ? cli_axes_str(o->groups) : "all"));
    EXP_TRY(exp_meta(r, t, "search", "doubling then bisection, relative tol %g, at most %d evaluations; theta "
                                     "rounded down to 6 digits and re-evaluated", o->tol, o->max_evals));
    return exp_meta(r, t, "savings", "s_score = score savings; s_attn = attention savings (QK^T share only)");
}

/* The units grouped by step (every capture and layer of a step together). */
static int plan(exp_run *r)
{
    const fit_opts *o = r->opts;
    fit_state *st = r->state;
    st->S = (int)r->srcs[0].info->num_steps;
    for (int c = 1; c < r->c.ncaptures; c++)
        if (r->srcs[c].info->num_steps != st->S)
            return exp_fail(r, EXP_DATA, "%s has num_steps %lld but %s has %d: a ramp is fitted to one schedule",
                            r->c.captures[c], (long long)r->srcs[c].info->num_steps, r->c.captures[0], st->S);
    if (st->S < 2) return exp_fail(r, EXP_DATA, "%s: num_steps %d: a ramp needs at least 2 steps", r->c.captures[0], st->S);
    st->rp = (ripple_reuse_params){.axes = o->axes, .window = o->window, .mode = o->mode, .groups = o->groups};
    EXP_TRY(exp_group_by(r, unit_step));
    if (!(st->si = exp_alloc(r, (size_t)r->ngroups, sizeof *st->si))) return EXP_DATA;
    for (st->ns = 0; st->ns < r->ngroups; st->ns++) {
        const exp_unit *u = &r->units[r->members[r->groups[st->ns].first]];
        st->si[st->ns] = (fit_step){.step = u->id.step, .timestep = u->id.timestep};
    }
    EXP_TRY(exp_openf(r, T_STEPS, 1, "target=%.9g mode=%s axes=%s window=%d groups=%s tol=%.9g max_evals=%d "
                      "theta_max=%.9g floor=%d", o->target, cli_mode_str(o->mode),
                      cli_axes_str(o->axes), o->window, o->groups ? cli_axes_str(o->groups) : "all",
                      o->tol, o->max_evals, o->theta_max, o->floor));
    r->njobs = 1;
    return add_meta(r, T_STEPS);
}

static int key(exp_run *r, const exp_job *j, exp_row *row)
{
    row->v[S_STEP] = ((fit_state *)r->state)->si[j->group].step;
    return 0;
}

/* The bisection of one step. */
static int bisect(exp_run *r, const exp_job *j, step_ctx *ctx, exp_row *row)
{
    const fit_opts *o = r->opts;
    fit_state *st = r->state;
    const exp_group *g = &r->groups[j->group];
    cli_progress("fit: bisection per step", j->group, r->ngroups);
    EXP_TRY(exp_load(r, j->group, &ctx->units));
    ctx->nu = g->count;
    double start, cap;
    if (o->mode == RIPPLE_THRESHOLD_ABSOLUTE) {
        const float *q[g->count], *k[g->count];
        for (int i = 0; i < g->count; i++) q[i] = ctx->units[i].q, k[i] = ctx->units[i].k;
        cap = o->theta_max > 0 ? o->theta_max : scale_half_range(ctx->units[0].lay, g->count, ctx->units[0].nh, q, k) * (1 + 1e-6) + 1e-30;
        ripple_status s = scale_median(ctx->units[0].lay, &SCALE_BRACKET, o->axes, o->window, g->count,
                                       ctx->units[0].nh, q, k, &start);
        if (s) return exp_lib(r, s, "window deltas");
        if (!(start > 0)) start = cap / 1024;
    } else {
        cap = o->theta_max > 0 ? o->theta_max : 1e4;
        start = 0.25;
    }
    if (start > cap) start = cap;
    rampfit_bisect_opts bo = {start, cap, o->tol, o->max_evals};
    rampfit_bisect_result b;
    int rc = rampfit_bisect(step_error, ctx, o->target, &bo, &b);
    if (rc && ctx->status) return exp_lib(r, ctx->status, "reuse");
    EXP_ASSERT(rc == 0); /* the arguments are checked above: start and cap > 0 and finite */
    double theta = rtable_round_down(b.theta), e;
    if (logged(ctx, theta) < 0 && step_error(ctx, theta, &e)) return exp_lib(r, ctx->status, "reuse");
    int li = logged(ctx, theta);
    double floor_mse = NAN;
    if (o->floor) EXP_TRY(exp_floor(r, j->group, &floor_mse));
    const fit_step *s = &st->si[j->group];
    const evaluation *at = &ctx->log[li];
    const double v[] = {s->step, s->timestep, g->count, theta, at->mse, at->sv.s_score, at->sv.s_attn,
                        at->sv.rows_reused, b.saturated, b.infeasible, ctx->nlog, b.theta_hi, b.err_hi, start,
                        cap, floor_mse};
    memcpy(row->v, v, sizeof v);
    return 0;
}

static int compute(exp_run *r, const exp_job *j, exp_row *row)
{
    const fit_opts *o = r->opts;
    fit_state *st = r->state;
    step_ctx ctx = {.rp = st->rp, .cap = o->max_evals + 2, .log = exp_alloc(r, (size_t)o->max_evals + 2, sizeof *ctx.log)};
    int rc = ctx.log ? bisect(r, j, &ctx, row) : EXP_DATA;
    /* the step stays in memory for the ramp's evaluation while --keep-mb allows */
    double bytes = rc ? 0 : (double)(unit_bytes(&ctx.units[0]) * (size_t)r->groups[j->group].count);
    if (!rc && st->kept_bytes + bytes <= (double)o->keep_mb * 1048576.0) {
        exp_keep(r, j->group);
        st->kept_bytes += bytes;
    }
    return rc;
}

/* ------------------------------------------------------------ the ramp */

/* The ramp at every step of the schedule (fit.tsv). */
static int ramp_rows(exp_run *r)
{
    const fit_opts *o = r->opts;
    fit_state *st = r->state;
    for (int step = 0, k = 0; step < st->S; step++) {
        exp_row row;
        exp_row_init(&row);
        row.v[F_STEP] = step, row.v[F_RTHETA] = rampfit_theta(&st->ramp, step), row.v[F_TARGET] = o->target;
        int g = k < st->ns && st->si[k].step == step ? k++ : -1, found = exp_find(r, T_FIT, &row);
        st->reused2 += found >= 0;
        if (g < 0) {
            row.v[F_CAPTURED] = 0;
            EXP_TRY(exp_put(r, T_FIT, &row));
            continue;
        }
        fit_step *s = &st->si[g];
        s->r_theta = row.v[F_RTHETA];
        if (found >= 0) {
            s->r_mse = exp_num(r, T_FIT, found, "mse_at_ramp"), s->r_sscore = exp_num(r, T_FIT, found, "s_score_ramp");
            s->r_sattn = exp_num(r, T_FIT, found, "s_attn_ramp");
            continue;
        }
        double mse = 0;
        ripple_savings sv = {0};
        if (s->r_theta > 0) { /* theta 0 reuses nothing (delta < 0 never holds): error 0, savings 0 */
            cli_progress("fit: error at the ramp", g, st->ns);
            evaluation one;
            step_ctx ctx = {.rp = st->rp, .nu = r->groups[g].count, .cap = 1, .log = &one};
            st->reloads += !r->groups[g].eu;
            EXP_TRY(exp_load(r, g, &ctx.units));
            if (step_error(&ctx, s->r_theta, &mse)) return exp_lib(r, ctx.status, "reuse");
            sv = one.sv;
        }
        const double v[] = {1, s->timestep, s->theta, s->mse, s->s_score, s->s_attn, s->saturated, s->r_theta, mse,
                            sv.s_score, sv.s_attn};
        memcpy(row.v + F_CAPTURED, v, sizeof v);
        EXP_TRY(exp_put(r, T_FIT, &row));
        s->r_mse = row.v[F_RMSE], s->r_sscore = row.v[F_RSSCORE], s->r_sattn = row.v[F_RSATTN];
    }
    cli_progress_done();
    return 0;
}

static void print_terminal(exp_run *r)
{
    const fit_opts *o = r->opts;
    const fit_state *st = r->state;
    const char *mode_word = cli_mode_str(o->mode);
    const char *model = o->model ? o->model : r->srcs[0].info->model;
    const rampfit_ramp *ramp = &st->ramp;
    const char *axes = cli_axes_str(o->axes);
    char path[4200];
    printf("ripple fit: target mean output MSE %g per step; mode %s, axes %s, window %d; %d capture%s, "
           "%d of %d steps captured\n", o->target, mode_word, axes, o->window, r->c.ncaptures,
           r->c.ncaptures > 1 ? "s" : "", st->ns, st->S);
    printf("%5s %10s %11s %11s %8s %8s  %11s %11s %8s %8s\n", "step", "timestep", "theta_i", "mse", "s_score",
           "s_attn", "theta_ramp", "mse@ramp", "s_score", "s_attn");
    double sum_sscore = 0, sum_sattn = 0, max_rmse = 0, floor_max = 0;
    int nsat = 0, nover = 0;
    for (int k = 0; k < st->ns; k++) {
        const fit_step *s = &st->si[k];
        printf("%5d %10.4g %11.5g%s%11.4g %8.4f %8.4f  %11.5g %11.4g %8.4f %8.4f%s\n", s->step, s->timestep, s->theta,
               s->saturated ? "*" : " ", s->mse, s->s_score, s->s_attn, s->r_theta, s->r_mse, s->r_sscore, s->r_sattn,
               s->step == st->S - 1 ? "  (last step: no reuse)" : "");
        sum_sscore += s->r_sscore;
        sum_sattn += s->r_sattn;
        max_rmse = fmax(max_rmse, s->r_mse);
        nsat += s->saturated;
        nover += s->r_mse > o->target;
        if (isfinite(s->floor_mse)) floor_max = fmax(floor_max, s->floor_mse);
    }
    if (nsat)
        printf("* saturated at %d step%s: every window is reused there and the error stays within the target; "
               "theta_i is the cap\n", nsat, nsat > 1 ? "s" : "");
    printf("at the ramp, over the captured steps: mean s_score %.4f, mean s_attn %.4f (score / attention "
           "savings); max mse %.4g (%d step%s above the target)\n", sum_sscore / st->ns, sum_sattn / st->ns, max_rmse,
           nover, nover == 1 ? "" : "s");
    if (o->floor && floor_max > 0 && o->target <= 10 * floor_max)
        printf("warning: the target is within 10x of the float32 noise floor (max %.3g over steps)\n", floor_max);
    printf("\nfitted ramp (%s thresholds), residual rms %.4g over %d steps%s:\n", mode_word, st->fr.rms, st->fr.used,
           st->fr.ties ? " (other ramps fit equally: captured steps leave some steps undetermined)" : "");
    printf("  %-18s %11s %11s %6s %6s %6s\n", "model", "theta_start", "theta_end", "i_min", "i_max", "steps");
    printf("  %-18.18s %11.5g %11.5g %6d %6d %6d   zero-based (ripple, ramp.txt)\n", model, ramp->theta_start,
           ramp->theta_end, ramp->i_min, ramp->i_max, st->S);
    printf("  %-18.18s %11.5g %11.5g %6d %6d %6d   1-based (the paper's Table 1 form)\n", model, ramp->theta_start,
           ramp->theta_end, ramp->i_min + 1, ramp->i_max + 1, st->S);
    printf("paper Table 1 for reference (1-based, 50 steps; its theta thresholds are in each model's own units):\n");
    static const struct { const char *m; double a, b; int lo, hi; } paper[] = {
        {"HunyuanVideo", 0.2, 0.5, 10, 20}, {"Wan2.1", 0.4, 0.6, 10, 48},
        {"CogVideoX", 0.2, 0.5, 10, 28},    {"Open-Sora-Plan", 0.4, 0.8, 20, 48}};
    for (size_t j = 0; j < sizeof paper / sizeof paper[0]; j++)
        printf("  %-18s %11.2g %11.2g %6d %6d %6d\n", paper[j].m, paper[j].a, paper[j].b, paper[j].lo, paper[j].hi, 50);
    printf("note: the paper's printed Eq. 4 drops theta_start and its Table 1 lists theta_max < theta_min;\n"
           "  ripple uses theta_i = theta_start + (i - i_min)(theta_end - theta_start)/(i_max - i_min) on\n"
           "  [i_min, i_max], 0 before i_min and at the last step, theta_end after i_max (method.md 5).\n");
    printf("\nramp: %s (use: ripple eval --ramp %s --axes %s --window %d ...)\n", st->ramp_path, st->ramp_path, axes,
           o->window);
    printf("tables: %s (%d steps reused), ", exp_path(r, "fit_steps.tsv", path, sizeof path), st->reused1);
    printf("%s (%d rows reused)", exp_path(r, "fit.tsv", path, sizeof path), st->reused2);
    if (st->reloads) printf("; %d step%s read again for the ramp (--keep-mb)", st->reloads, st->reloads > 1 ? "s" : "");
    printf("\n");
}

/* The ramp fitted to the per-step thresholds, saved, read back as `eval
 * --ramp` reads it, and evaluated at every step. */
static int finish(exp_run *r)
{
    const fit_opts *o = r->opts;
    fit_state *st = r->state;
    int *steps = exp_alloc(r, (size_t)st->ns, sizeof *steps);
    double *theta = exp_alloc(r, (size_t)st->ns, sizeof *theta);
    if (!steps || !theta) return EXP_DATA;
    st->reused1 = r->reused_rows[T_STEPS];
    for (int k = 0, at; k < st->ns; k++) { /* step k's phase-1 numbers as printed (now or by an earlier run) */
        fit_step *s = &st->si[k];
        EXP_TRY(exp_job_row(r, T_STEPS, k, 0, &at)); /* step k is group k */
        s->theta = exp_num(r, T_STEPS, at, "theta"), s->mse = exp_num(r, T_STEPS, at, "mse");
        s->s_score = exp_num(r, T_STEPS, at, "s_score"), s->s_attn = exp_num(r, T_STEPS, at, "s_attn");
        s->floor_mse = exp_num(r, T_STEPS, at, "floor_mse"), s->saturated = (int)exp_num(r, T_STEPS, at, "saturated");
        steps[k] = s->step, theta[k] = s->theta;
    }
    if (rampfit_fit(st->ns, steps, theta, st->S, &st->fr))
        return exp_fail(r, EXP_DATA, "no captured step before the last step (%d) of the schedule: nothing to fit a "
                                     "ramp to (`ripple info` lists the captured steps)", st->S - 1);
    st->ramp = st->fr.ramp;
    st->ramp.num_steps = st->S, st->ramp.mode = o->mode;
    char comment[1024], err[RAMPFIT_ERR], buf[1400];
    exp_path(r, "ramp.txt", st->ramp_path, sizeof st->ramp_path);
    snprintf(comment, sizeof comment, "fitted by ripple fit for %s: target mean output MSE %g per step; axes %s window %d "
             "groups %s (use the same with --ramp); residual rms %.3g over %d captured steps",
             o->model ? o->model : r->srcs[0].info->model, o->target, cli_axes_str(o->axes), o->window,
             o->groups ? cli_axes_str(o->groups) : "all", st->fr.rms, st->fr.used);
    if (rampfit_save(st->ramp_path, &st->ramp, comment)) return exp_fail(r, EXP_DATA, "cannot write %s", st->ramp_path);
    if (rampfit_load(st->ramp_path, &st->ramp, err)) return exp_fail(r, EXP_DATA, "%s", err);
    st->have_ramp = 1;
    const rampfit_ramp *p = &st->ramp;
    snprintf(buf, sizeof buf, "%s ramp=%.9g,%.9g,%d,%d,%d", rtable_meta_get(r->tabs[T_STEPS], "options"),
             p->theta_start, p->theta_end, p->i_min, p->i_max, p->num_steps);
    EXP_TRY(exp_open(r, T_FIT, buf));
    EXP_TRY(add_meta(r, T_FIT));
    EXP_TRY(exp_meta(r, T_FIT, "ramp", "theta_start=%.9g theta_end=%.9g i_min=%d i_max=%d num_steps=%d (zero-based; %s)",
                     p->theta_start, p->theta_end, p->i_min, p->i_max, p->num_steps, st->ramp_path));
    EXP_TRY(exp_meta(r, T_FIT, "ramp_law", "theta_i = 0 for i < i_min and i = S-1; theta_start + (i - i_min)(theta_end - "
                                           "theta_start)/(i_max - i_min) on [i_min, i_max]; theta_end for i_max < i < S-1"));
    EXP_TRY(exp_meta(r, T_FIT, "ramp_fit", "grid over 0 <= i_min <= i_max <= S-2, non-negative least squares for "
                     "theta_start, theta_end; residual sum over captured steps < S-1 of (theta_ramp - theta_measured)^2 "
                     "= %.6g, rms %.6g over %d steps; %d other (i_min, i_max) fit as well (ties go to the ramp with the "
                     "least total theta over all steps: least reuse where no capture constrains it)",
                     st->fr.sse, st->fr.rms, st->fr.used, st->fr.ties));
    EXP_TRY(exp_meta(r, T_FIT, "paper", "the printed Eq. 4 drops theta_start and Table 1 lists theta_max < theta_min; "
                                        "ripple uses the law above (method.md section 5)"));
    EXP_TRY(exp_meta(r, T_FIT, "columns", "theta_measured, mse_at_theta, s_score, s_attn, saturated: from fit_steps.tsv "
                                          "(nan for steps not captured); *_ramp: the ramp's theta at the step and the "
                                          "mean error and savings it gives there"));
    EXP_TRY(ramp_rows(r));
    print_terminal(r);
    return 0;
}

/* Thresholds on the left axis, errors on the right (log). */
static int plot(exp_run *r, exp_text *gp)
{
    const fit_opts *o = r->opts;
    const fit_state *st = r->state;
    char title[512];
    const int ch = o->mode == RIPPLE_THRESHOLD_CHANNEL;
    snprintf(title, sizeof title, "Threshold ramp for target MSE %g: %s (%s, axes %s, window %d)", o->target,
             o->model ? o->model : r->srcs[0].info->model, cli_mode_str(o->mode), cli_axes_str(o->axes),
             o->window);
    const exp_curve curves[] = {
        {T_FIT, "step", "theta_measured", "captured=1", "points pt 7 ps 1.4", .title = "measured theta_i (bisection)"},
        {T_FIT, "step", "theta_ramp", NULL, "linespoints lw 2.5 pt 7 ps 0.5", .title = "fitted ramp"},
        {T_FIT, "step", "mse_at_ramp", NULL, "linespoints lw 1.5 pt 6 ps 1.2", .title = "MSE at the ramp (right axis)",
         .y2 = 1},
        {T_FIT, "step", "mse_at_theta", "captured=1", "points pt 2 ps 1", exp_palette[4],
         "MSE at measured theta_i (right)", .y2 = 1},
        {T_FIT, .color = "red", .title = "target MSE (right)", .level = o->target, .y2 = 1}};
    const exp_panel panel = {.xlabel = "denoising step (zero-based)", .yrange = "[0:*]", .log2 = EXP_LOG,
                             .ylabel = ch ? "threshold alpha (x mean window delta)"
                                          : "threshold theta (units of q and k)",
                             .y2label = "attention output MSE vs exact", .curves = curves, .ncurves = 5};
    const exp_figure fig = {title, "below box", -0.5, st->S - 0.5, 0, 7, &panel, 1};
    return exp_figure_gp(r, gp, &fig);
}

static void index_section(exp_run *r, FILE *md)
{
    const fit_state *st = r->state;
    fprintf(md, "Target: %s\n\n", exp_meta_value(r, T_STEPS, "target"));
    exp_tab_rows(md, 1, "step:%.0f|largest theta within target@theta:%.4g|its MSE@mse:%.3g|score savings@s_score:%.1f%%",
                 r, T_STEPS, NULL);
    const rampfit_ramp *p = &st->ramp;
    fprintf(md, "\nFitted ramp (fit/ramp.txt, zero-based steps): theta_start %.4g, theta_end %.4g, i_min %d, i_max %d "
                "of %d steps. (The paper's printed Eq. 4 drops theta_start and its Table 1 lists theta_max < "
                "theta_min; method.md section 5 gives the reading used here.)\n\n",
            p->theta_start, p->theta_end, p->i_min, p->i_max, p->num_steps);
    /* the paper's claim: the ramp induces the same MSE at each step */
    double ratio[1024], lo, hi;
    int n = 0, first_reuse = -1;
    char steps[1024] = "";
    for (int i = 0; i < exp_rows(r, T_FIT) && n < 1024; i++) {
        if (first_reuse < 0 && exp_num(r, T_FIT, i, "theta_ramp") > 0) first_reuse = (int)exp_num(r, T_FIT, i, "step");
        if (exp_num(r, T_FIT, i, "captured") != 1 || !(exp_num(r, T_FIT, i, "theta_ramp") > 0)) continue;
        ratio[n] = exp_num(r, T_FIT, i, "mse_at_ramp") / exp_num(r, T_FIT, i, "target");
        cli_appendf(steps, sizeof steps, "%s%s: %.2fx", n ? ", " : "", exp_str(r, T_FIT, i, "step"), ratio[n]);
        n++;
    }
    const double tol = 2;
    verdict_kind v = verdict_fit(n, ratio, tol, &lo, &hi);
    exp_verdictf(md, "thresholds are chosen so that they induce the same MSE at each step, and Eq. 4's ramp with "
                     "Table 1's values does that, leaving the first 10 steps and the last one untouched (Sec. 3.3, "
                     "Table 1).",
                 "agree when at every captured step where the fitted ramp reuses, its mean MSE is within a factor "
                 "2 of the target (0.5x to 2x); partly when at some; cannot tell with fewer than 3 such steps "
                 "(the ramp's two thresholds fit two steps exactly); i_min is reported beside it, not judged "
                 "(our captures may start reusing safely earlier).",
                 "%s — the ramp's MSE over the target at the captured steps where it reuses: %s (%.2fx to "
                 "%.2fx). The fitted ramp first reuses at step %d (zero-based) where the paper leaves the first 10 "
                 "steps untouched (i_min 10 for HunyuanVideo, Wan2.1, CogVideoX, 20 for Open-Sora-Plan).",
                 verdict_word(v), n ? steps : "none", lo, hi, first_reuse);
}

static const exp_plot_def plots[] = {{"fit", 1000, 560, plot, NULL}};

const exp_def exp_fit = {
    .name = "fit", .paper = "Table 1, Eq. 4", .title = "per-step thresholds for a target error, and the fitted ramp",
    .usage = usage, .args = "--target MSE", .help_files = 1, .opts_size = sizeof(fit_opts), .defaults = &defaults,
    .opts = opts, .state_size = sizeof(fit_state), .tables = tables, .ntables = 2, .timing_table = T_FIT,
    .plan = plan, .key = key, .row = compute, .finish = finish,
    .plots = plots, .nplots = 1, .index = index_section,
    .claim = "the threshold ramps up over the denoising steps.",
};
