/* ripple steps (paper Fig. 8, 9): output error per denoising step at one
 * fixed threshold, one curve per capture (prompt/seed), their mean and a
 * fitted log-linear trend.
 *
 * steps.tsv holds four kinds of rows, told apart by the first column:
 *   layer    one (capture, step, layer): the row `ripple eval --method reuse`
 *            prints for the same settings (same numbers, same precision)
 *   capture  mean over the selected layers of one (capture, step)
 *   mean     mean over captures of the capture rows of one step
 *   trend    10^(intercept + slope * step): least-squares line of
 *            log10(mean mse) against the step, over the steps with mse > 0
 * Aggregates are computed from the printed (%.6g) cells, so a resumed run
 * gives the same file as an uninterrupted one. */
#include "experiments.h"

#include <math.h>
#include <string.h>

typedef struct steps_opts {
    double theta;
    int have_theta, have_alpha;
    unsigned axes, groups;
    int window, floor;
} steps_opts;

typedef struct steps_state {
    steps_result result; /* first: what paper reads */
    ripple_reuse_params rp;
    char (*labels)[128];
    int nsteps;            /* steps 0..nsteps-1 have room */
    int *nmean;            /* [nsteps]: 1 where a mean row exists */
    double *mean;          /* [nsteps][8]: the mean row's averaged columns, as printed */
    double *ts, *capmse;   /* [nsteps], [captures][nsteps] (mse of the capture rows, nan where none) */
    double *ys;            /* [npts]: the mse of the mean rows in step order (the trend's points) */
    double slope, intercept;
    int npts, used;
} steps_state;

static const char usage[] =
    "Output error of the ripple transform per denoising step at one fixed\n"
    "threshold (paper Fig. 8, 9): a curve per capture file (prompt/seed), the mean\n"
    "over captures, and a fitted trend (least-squares line of log10(mse) against\n"
    "the step). Each (step, layer) is evaluated as `ripple eval --method reuse`\n"
    "would, with its exact attention computed once. Steps are zero-based as\n"
    "captured.\n\n"
    "%s";

#define OV(...) EXP_OPTV(steps_opts, __VA_ARGS__)
static const exp_opt opts[] = {
    OV("theta", EXP_DOUBLE, theta, .given = EXP_GIVEN(steps_opts, have_theta), .lo = 0, .hi = INFINITY, .excl = 1,
       .required = 1, .arg = "X", .help = "absolute threshold for every axis"),
    OV("alpha", EXP_DOUBLE, theta, .given = EXP_GIVEN(steps_opts, have_alpha), .lo = 0, .hi = INFINITY, .excl = 1,
       .arg = "X", .help = "channel-wise thresholds: X * mean window delta per channel"),
    EXP_OPT_AXES(steps_opts, axes),
    EXP_OPT_WINDOW(steps_opts, window),
    EXP_OPT_GROUPS(steps_opts, groups),
    EXP_OPT_NO_FLOOR(steps_opts, floor, "floor_mse"),
    {0}};
#undef OV

static const steps_opts defaults = {.axes = RIPPLE_AXES_ALL, .window = 2, .floor = 1};

static const exp_col cols[] = {{"kind", 's'}, {"capture", 'i'}, {"step", 'i'}, {"layer", 'i'}, {"label", 's'},
    {"timestep", 'n'}, {"theta", 'n'}, {"s_score", 'n'}, {"s_attn", 'n'}, {"rows_reused", 'n'}, {"mse", 'n'},
    {"rel_l2", 'n'}, {"cosine", 'n'}, {"psnr", 'n'}, {"floor_mse", 'n'}};
enum { C_LABEL = 4, C_TIMESTEP, C_THETA, C_AVG, NAVG = 8, A_MSE = 3 };
static const exp_table_def tables[] = {
    EXP_TABLE("steps", cols, 4, "rows of kind layer, capture, mean, trend; see the `#` lines")};

static int plan(exp_run *r)
{
    const steps_opts *o = r->opts;
    steps_state *st = r->state;
    st->rp = exp_params(o->axes, o->window, o->groups,
                        o->have_alpha ? RIPPLE_THRESHOLD_CHANNEL : RIPPLE_THRESHOLD_ABSOLUTE, o->theta);
    const char *axes = cli_axes_str(o->axes), *groups = o->groups ? cli_axes_str(o->groups) : "all";
    EXP_TRY(exp_openf(r, 0, 1, "%s=%.9g axes=%s window=%d groups=%s floor=%d", o->have_alpha ? "alpha" : "theta",
                      o->theta, axes, o->window, groups, o->floor));
    if (!(st->labels = exp_alloc(r, (size_t)r->c.ncaptures, sizeof *st->labels))) return EXP_DATA;
    for (int c = 0; c < r->c.ncaptures; c++) {
        src_label(&r->srcs[c], st->labels[c], sizeof st->labels[c]);
        EXP_TRY(exp_meta(r, 0, "label", "%d %s", c, st->labels[c]));
    }
    EXP_TRY(exp_meta(r, 0, "threshold_mode", "%s (the theta column holds %s)", o->have_alpha ? "channel" : "absolute",
                     o->have_alpha ? "alpha" : "the absolute threshold"));
    EXP_TRY(exp_meta(r, 0, "reuse", "axes=%s window=%d groups=%s", axes, o->window, groups));
    EXP_TRY(exp_meta(r, 0, "savings", "s_score = score savings; s_attn = attention savings (QK^T share only)"));
    EXP_TRY(exp_meta(r, 0, "metrics", "against float32 exact attention, mean over the selected heads; "
                                      "floor_mse = float32 exact vs float64 reference (nan with --no-floor)"));
    EXP_TRY(exp_meta(r, 0, "kinds", "layer = one (capture, step, layer); capture = mean over layers; "
                                    "mean = mean over captures; trend = 10^(a + b*step), least squares of "
                                    "log10(mean mse) on step over steps with mse > 0"));
    r->njobs = 1;
    return 0;
}

static int key(exp_run *r, const exp_job *j, exp_row *row)
{
    (void)r;
    row->s[0] = "layer";
    row->v[1] = j->unit->source, row->v[2] = j->unit->id.step, row->v[3] = j->unit->id.layer;
    return 0;
}

static int compute(exp_run *r, const exp_job *j, exp_row *row)
{
    const steps_opts *o = r->opts;
    const steps_state *st = r->state;
    row->s[C_LABEL] = st->labels[j->unit->source];
    row->v[C_TIMESTEP] = j->unit->id.timestep, row->v[C_THETA] = o->theta;
    return exp_reuse_row(r, j, 0, &st->rp, o->floor, "reuse", row, NULL);
}

/* Writes an aggregate row (capture index or "all", layer "all"): the means
 * m of the averaged columns (m NULL: a trend row, its mse trend); mean gets
 * them as printed, into (when not NULL) the row as printed. */
static int put_mean(exp_run *r, const char *kind, int capture, int step, const char *label, const exp_mean *m,
                    double trend, double *mean, exp_mean *into)
{
    const steps_state *st = r->state;
    exp_row row;
    exp_row_init(&row);
    row.s[0] = kind, row.s[C_LABEL] = label, row.s[3] = "all";
    if (capture < 0) row.s[1] = "all";
    row.v[1] = capture, row.v[2] = step, row.v[C_TIMESTEP] = st->ts[step], row.v[C_THETA] = st->rp.theta[0];
    for (int k = 0; k < NAVG; k++)
        row.v[C_AVG + k] = m ? exp_mean_of(m, r, 0, cols[C_AVG + k].name) : k == A_MSE ? trend : NAN;
    EXP_TRY(exp_put(r, 0, &row));
    if (mean) memcpy(mean, row.v + C_AVG, NAVG * sizeof *mean);
    if (into) exp_mean_add(into, r, 0, exp_find(r, 0, &row));
    return 0;
}

/* The layer rows' bucket: their (capture, step). */
static int capture_step(const exp_run *r, const exp_job *j)
{
    return j->unit->source * ((const steps_state *)r->state)->nsteps + j->unit->id.step;
}

/* The capture rows (mean over layers), the mean rows (over captures), the
 * trend; then the terminal table. */
static int finish(exp_run *r)
{
    const steps_opts *o = r->opts;
    steps_state *st = r->state;
    const int nc = r->c.ncaptures;
    int ns = 0;
    for (int i = 0; i < r->nunits; i++) ns = r->units[i].id.step + 1 > ns ? r->units[i].id.step + 1 : ns;
    st->nsteps = ns;
    exp_mean *m, *all = exp_alloc(r, (size_t)ns, sizeof *all); /* per (capture, step); per step */
    st->ts = exp_alloc(r, (size_t)ns, sizeof *st->ts);
    st->capmse = exp_alloc(r, (size_t)nc * (size_t)ns, sizeof *st->capmse);
    st->mean = exp_alloc(r, (size_t)ns * NAVG, sizeof *st->mean);
    st->nmean = exp_alloc(r, (size_t)ns, sizeof *st->nmean);
    double *xs = exp_alloc(r, (size_t)ns, sizeof *xs), *ys = st->ys = exp_alloc(r, (size_t)ns, sizeof *ys);
    if (!all || !st->ts || !st->capmse || !st->mean || !st->nmean || !xs || !ys) return EXP_DATA;
    EXP_TRY(exp_job_means(r, 0, nc * ns, capture_step, &m));
    for (int i = 0; i < r->nunits; i++) st->ts[r->units[i].id.step] = r->units[i].id.timestep;
    double parsed[NAVG];
    for (int c = 0; c < nc; c++)
        for (int s = 0; s < ns; s++) {
            const size_t at = (size_t)c * (size_t)ns + (size_t)s;
            st->capmse[at] = NAN;
            if (!m[at].rows) continue;
            EXP_TRY(put_mean(r, "capture", c, s, st->labels[c], &m[at], NAN, parsed, &all[s]));
            st->capmse[at] = parsed[A_MSE];
        }
    for (int s = 0; s < ns; s++) {
        if (!all[s].rows) continue;
        EXP_TRY(put_mean(r, "mean", -1, s, "mean over captures", &all[s], NAN, st->mean + (size_t)s * NAVG, NULL));
        st->nmean[s] = 1;
        xs[st->npts] = s;
        ys[st->npts++] = st->mean[(size_t)s * NAVG + A_MSE];
    }
    st->result.mse_over_steps = exp_rows_mean(r, 0, "mse", "kind=mean");
    st->used = rampfit_trend_log10(st->npts, xs, ys, &st->slope, &st->intercept);
    for (int k = 0; k < st->npts && isfinite(st->slope); k++)
        EXP_TRY(put_mean(r, "trend", -1, (int)xs[k], "trend", NULL, pow(10.0, st->intercept + st->slope * xs[k]), NULL,
                         NULL));

    /* terminal */
    char path[4200];
    printf("ripple steps: %s %g, axes %s, window %d; mse = mean output MSE over layers and heads\n",
           o->have_alpha ? "alpha" : "theta", o->theta, cli_axes_str(o->axes), o->window);
    static const char term[] = "step:%5.0f|timestep:%10.4g|mse mean:%11.4g|mse min:%11.4g|mse max:%11.4g|trend:%11.4g|"
                               "s_score:%8.4f|s_attn:%8.4f";
    exp_tab_head(stdout, 0, term);
    for (int s = 0; s < ns; s++) {
        if (!st->nmean[s]) continue;
        double lo = INFINITY, hi = -INFINITY, *m = st->mean + (size_t)s * NAVG;
        for (int c = 0; c < nc; c++) {
            double x = st->capmse[(size_t)c * (size_t)ns + (size_t)s];
            if (!isnan(x)) lo = fmin(lo, x), hi = fmax(hi, x);
        }
        const double v[] = {s, st->ts[s], m[A_MSE], lo, hi,
                            isfinite(st->slope) ? pow(10.0, st->intercept + st->slope * s) : NAN, m[0], m[1]};
        exp_tab_row(stdout, 0, term, NULL, v);
    }
    if (isfinite(st->slope))
        printf("trend: log10(mse) = %.4g %+.4g * step (%d steps): x%.3g per step, x%.3g per 10 steps\n", st->intercept,
               st->slope, st->used, pow(10.0, st->slope), pow(10.0, 10 * st->slope));
    else
        printf("trend: none (fewer than two steps with mse > 0)\n");
    printf("table: %s (%d rows reused from an earlier run)\n", exp_path(r, "steps.tsv", path, sizeof path),
           r->reused_rows[0]);
    return 0;
}

/* A curve per capture, the mean over captures and the trend; the noise
 * floor is usually decades below the curves: then stated, not drawn. */
static int plot(exp_run *r, exp_text *gp)
{
    const steps_opts *o = r->opts;
    const steps_state *st = r->state;
    const int nc = r->c.ncaptures;
    char title[512], mean[64], trend[64];
    exp_curve *cv = exp_alloc(r, (size_t)nc + 3, sizeof *cv);
    char (*where)[48] = exp_alloc(r, (size_t)nc, sizeof *where), (*with)[80] = exp_alloc(r, (size_t)nc, sizeof *with);
    if (!cv || !where || !with) return EXP_DATA;
    snprintf(title, sizeof title, "Output error per denoising step: %s, %s = %g, axes %s, window %d",
             r->srcs[0].info->model, o->have_alpha ? "alpha" : "theta", o->theta, cli_axes_str(o->axes),
             o->window);
    /* the palette's 10 colours repeat: every 10 captures the next point type
     * and dash, so that no two curves look alike */
    static const int pts[] = {7, 5, 9, 11, 13};
    for (int c = 0; c < nc; c++) {
        snprintf(where[c], sizeof where[c], "kind=capture capture=%d", c);
        snprintf(with[c], sizeof with[c], "linespoints lw 1.5 dt %d pt %d ps 0.7", c / 10 % 5 + 1, pts[c / 10 % 5]);
        cv[c] = (exp_curve){0, "step", "mse", where[c], with[c], .title = st->labels[c]};
    }
    snprintf(mean, sizeof mean, "mean over %d capture%s", nc, nc > 1 ? "s" : "");
    snprintf(trend, sizeof trend, "trend: x%.3g per step", pow(10.0, st->slope));
    cv[nc] = (exp_curve){0, "step", "mse", "kind=mean", "linespoints lw 3.5 pt 5 ps 1", "black", .title = mean};
    cv[nc + 1] = (exp_curve){0, .color = "black", .title = "fp32 noise floor (vs fp64), mean MSE",
                             .level = o->floor ? exp_col_mean(r, 0, "floor_mse") : NAN};
    cv[nc + 2] = (exp_curve){0, "step", "mse", "kind=trend", "lines dt 2 lw 2.5", "red", .title = trend};
    const exp_panel panel = {.xlabel = "denoising step (zero-based)", .yfmt = "%.2e", .none = "every output MSE is 0",
                             .ylabel = "attention output MSE vs exact (mean over layers, heads)", .log = EXP_LOG,
                             .curves = cv, .ncurves = nc + 2 + isfinite(st->slope)};
    const exp_figure fig = {title, "below box maxcols 2", 0, 0, 0, 5 + (nc + 3) / 2, &panel, 1}; /* room for the key */
    return exp_figure_gp(r, gp, &fig);
}

static void index_section(exp_run *r, FILE *md)
{
    const steps_state *st = r->state;
    fprintf(md, "Options: `%s`\n\n", exp_meta_value(r, 0, "options"));
    exp_tab_rows(md, 1, "step:%.0f|mean output MSE@mse:%.3g|score savings@s_score:%.1f%%", r, 0, "kind=mean");
    fprintf(md, "\n");
    char res[1024];
    double early, late;
    verdict_kind v = verdict_steps(st->npts, st->ys, &early, &late);
    if (v == VERDICT_CANNOT_TELL) snprintf(res, sizeof res, "cannot tell (%d step(s))", st->npts);
    else
        snprintf(res, sizeof res, "%s — mean MSE of the earlier half of the captured steps %.3g, of the later half %.3g.",
                 verdict_word(v), early, late);
    exp_verdict(md, "early (noisy) denoising steps are more sensitive: at the same threshold their attention error "
                    "is higher, which is why the threshold ramps up over the steps (Fig. 8, 9).", res,
                "agree when the mean MSE over the earlier half of the captured steps (rows of kind mean) exceeds "
                "that of the later half.");

    /* Fig. 8: the same trend in every prompt (capture), on the steps all of them hold */
    const int nc = r->c.ncaptures;
    int common, layers = 0, lay_seen[4096] = {0};
    for (int i = 0; i < r->nunits; i++)
        if (r->units[i].id.layer >= 0 && r->units[i].id.layer < 4096 && !lay_seen[r->units[i].id.layer]++) layers++;
    double corr;
    v = verdict_prompts(nc, st->nsteps, st->capmse, 0.5, &corr, &common);
    long long heads = r->c.head_hi >= 0 ? r->c.head_hi - r->c.head_lo : -1;
    char scope[256];
    if (heads > 0) snprintf(scope, sizeof scope, "%d prompt(s), %lld head(s) of %d layer(s), %d common step(s)", nc, heads, layers, common);
    else snprintf(scope, sizeof scope, "%d prompt(s), all stored heads of %d layer(s), %d common step(s)", nc, layers, common);
    if (v == VERDICT_CANNOT_TELL)
        snprintf(res, sizeof res, "cannot tell — %s: the prompt claim needs at least 2 prompts and 3 common steps.", scope);
    else
        snprintf(res, sizeof res, "%s — %s; the smallest correlation of log MSE over the steps between two prompts is "
                 "%.2f. What this can show: whether these prompts share the per-step trend on these heads. What it "
                 "cannot: that the trend holds for prompts in general or for every layer and head (the paper averages "
                 "10 prompts over the whole model; full captures from `ripple generate --capture` can test that).",
                 verdict_word(v), scope, corr);
    exp_verdict(md, "the sensitivity to the threshold depends on the denoising step, not on the prompt: all prompts "
                      "show similar trends (Fig. 8), so one threshold schedule serves every prompt (Sec. 3.3).",
                  res, "agree when every prompt (capture) shows the early-steps trend above on its own and every pair of "
                       "prompts has a Pearson correlation of log MSE over the common steps of at least 0.5; partly when "
                       "the trends hold but a pair correlates less; disagree when a prompt lacks the trend.");
}

static const exp_plot_def plots[] = {{"steps", 900, 600, plot, NULL}};

const exp_def exp_steps = {
    .name = "steps", .paper = "Fig. 8, 9", .title = "error per denoising step at a fixed threshold", .usage = usage,
    .args = "(--theta X | --alpha X)", .help_files = 1,
    .opts_size = sizeof(steps_opts), .defaults = &defaults, .opts = opts,
    .state_size = sizeof(steps_state), .tables = tables, .ntables = 1,
    .plan = plan, .key = key, .row = compute, .finish = finish, .progress = "steps: (capture, step, layer)",
    .plots = plots, .nplots = 1, .index = index_section,
    .claim = "early denoising steps are more sensitive to reuse.",
};
