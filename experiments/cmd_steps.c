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
#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "evaluate.h"
#include "rampfit.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ripple steps CAPTURE... --out DIR (--theta X | --alpha X) [options]\n\n"
        "Output error of the ripple transform per denoising step at one fixed\n"
        "threshold (paper Fig. 8, 9): a curve per capture file (prompt/seed), the mean\n"
        "over captures, and a fitted trend (least-squares line of log10(mse) against\n"
        "the step). Each (step, layer) is evaluated as `ripple eval --method reuse`\n"
        "would, with its exact attention computed once.\n\n"
        "options:\n"
        "  --theta X          absolute threshold for every axis\n"
        "  --alpha X          channel-wise thresholds: X * mean window delta per channel\n"
        "  --axes SET         axes to reuse along, letters of t,h,w (default thw)\n"
        "  --window W         window size >= 2 (default 2)\n"
        "  --groups SET       channel groups (by axis letter) allowed to be reused (default all)\n"
        "  --no-floor         skip the float64 noise floor (slow on long sequences)\n"
        "%s\n"
        "Writes DIR/steps.tsv (rows of kind layer, capture, mean, trend; see the\n"
        "`#` lines), DIR/steps.gp and DIR/steps.png. Steps are zero-based as captured.\n"
        "Savings: s_score = score savings (the paper's \"computation savings\"),\n"
        "s_attn = attention savings (s_score/2).\n",
        drv_common_help);
}

typedef struct {
    drv_opts d;
    ripple_reuse_params rp;
    int have_theta, have_alpha, floor;
} steps_opts;

static void parse(int argc, char **argv, steps_opts *o)
{
    enum { O_THETA = 1, O_ALPHA, O_AXES, O_WINDOW, O_GROUPS, O_NOFLOOR };
    static const struct option longopts[] = {
        DRV_COMMON_LONGOPTS,
        {"theta", required_argument, 0, O_THETA},   {"alpha", required_argument, 0, O_ALPHA},
        {"axes", required_argument, 0, O_AXES},     {"window", required_argument, 0, O_WINDOW},
        {"groups", required_argument, 0, O_GROUPS}, {"no-floor", no_argument, 0, O_NOFLOOR},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    drv_opts_init(&o->d);
    o->rp.axes = RIPPLE_AXES_ALL;
    o->rp.window = 2;
    o->floor = 1;
    double theta = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (drv_common_option(&o->d, c, optarg)) continue;
        switch (c) {
        case 'h': usage(stdout); exit(CLI_EXIT_OK);
        case O_THETA: theta = cli_double("--theta", optarg, 0, INFINITY); o->have_theta = 1; break;
        case O_ALPHA: theta = cli_double("--alpha", optarg, 0, INFINITY); o->have_alpha = 1; break;
        case O_AXES: o->rp.axes = cli_axes("--axes", optarg); break;
        case O_WINDOW: o->rp.window = (int)cli_int("--window", optarg, 2, 1 << 20); break;
        case O_GROUPS: o->rp.groups = cli_axes("--groups", optarg); break;
        case O_NOFLOOR: o->floor = 0; break;
        case ':': cli_usage_error("option %s needs a value", argv[optind - 1]);
        default: cli_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (o->have_theta && o->have_alpha)
        cli_usage_error("--theta and --alpha exclude each other (absolute vs channel thresholds)");
    if (!o->have_theta && !o->have_alpha)
        cli_usage_error("give the fixed threshold: --theta X (absolute) or --alpha X (channel-wise)");
    o->rp.mode = o->have_alpha ? RIPPLE_THRESHOLD_CHANNEL : RIPPLE_THRESHOLD_ABSOLUTE;
    o->rp.theta[0] = o->rp.theta[1] = o->rp.theta[2] = theta;
    drv_finish_options(&o->d, argc, argv, 1);
}

/* Label of a capture for legends: prompt (shortened) and seed, else the file
 * name. Tabs, newlines and quotes are replaced so the label is safe in a TSV
 * cell and a gnuplot string. */
static void capture_label(const ripple_capture_info *info, const char *path, char *buf, size_t n)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char seed[48] = "";
    if (info->has_seed) snprintf(seed, sizeof seed, " seed %lld", (long long)info->seed);
    if (info->prompt[0]) snprintf(buf, n, "%.40s%s%s", info->prompt, strlen(info->prompt) > 40 ? "..." : "", seed);
    else snprintf(buf, n, "%s%s", base, seed);
    for (char *p = buf; *p; p++)
        if (*p == '\t' || *p == '\n' || *p == '\r' || *p == '"' || *p == '\'' || *p == '\\') *p = ' ';
}

enum { C_KIND, C_CAPTURE, C_STEP, C_LAYER, C_LABEL, C_TIMESTEP, C_THETA, C_S_SCORE, C_S_ATTN,
       C_ROWS, C_MSE, C_REL, C_COS, C_PSNR, C_FLOOR, C_NCOLS };
static const char *const columns[C_NCOLS] = {"kind", "capture", "step", "layer", "label", "timestep",
    "theta", "s_score", "s_attn", "rows_reused", "mse", "rel_l2", "cosine", "psnr", "floor_mse"};
/* numeric columns that are averaged into capture/mean rows */
static const int avg_cols[] = {C_S_SCORE, C_S_ATTN, C_ROWS, C_MSE, C_REL, C_COS, C_PSNR, C_FLOOR};
enum { NAVG = (int)(sizeof avg_cols / sizeof avg_cols[0]) };

/* Mean of the averaged columns over a set of rows (values per row, NAVG each);
 * nan cells (no floor) stay nan. */
typedef struct {
    double sum[NAVG];
    int n;
} acc;

static void acc_add(acc *a, const double *v)
{
    for (int j = 0; j < NAVG; j++) a->sum[j] += v[j];
    a->n++;
}

/* Writes a row of averaged values; vals: the NAVG means. */
static void put_row(drv_tsv *t, const char *kind, const char *capture, int step, const char *layer,
                    const char *label, double timestep, double theta, const double *vals, double *parsed)
{
    char cells[C_NCOLS][DRV_CELL + 128];
    const char *row[C_NCOLS];
    snprintf(cells[C_KIND], sizeof cells[0], "%s", kind);
    snprintf(cells[C_CAPTURE], sizeof cells[0], "%s", capture);
    drv_int(cells[C_STEP], step);
    snprintf(cells[C_LAYER], sizeof cells[0], "%s", layer);
    snprintf(cells[C_LABEL], sizeof cells[0], "%s", label);
    drv_num(cells[C_TIMESTEP], timestep);
    drv_num(cells[C_THETA], theta);
    for (int j = 0; j < NAVG; j++) {
        drv_num(cells[avg_cols[j]], vals[j]);
        if (parsed) parsed[j] = strtod(cells[avg_cols[j]], NULL);
    }
    for (int c = 0; c < C_NCOLS; c++) row[c] = cells[c];
    drv_tsv_row(t, row);
}

int cmd_steps(int argc, char **argv)
{
    steps_opts o;
    parse(argc, argv, &o);
    drv_units u;
    drv_units_open(&u, &o.d);

    char axes[4], groups[4];
    const char *mode = o.rp.mode == RIPPLE_THRESHOLD_CHANNEL ? "channel" : "absolute";
    char options[1024];
    int n = snprintf(options, sizeof options, "%s=%.9g axes=%s window=%d groups=%s floor=%d %s captures=",
                     o.have_alpha ? "alpha" : "theta", o.rp.theta[0], cli_axes_str(o.rp.axes, axes),
                     o.rp.window, o.rp.groups ? cli_axes_str(o.rp.groups, groups) : "all", o.floor,
                     drv_selection_str(&o.d));
    for (int c = 0; c < o.d.ncaptures && n < (int)sizeof options; c++)
        n += snprintf(options + n, sizeof options - (size_t)n, "%s%s", c ? "," : "", o.d.captures[c]);

    drv_tsv *t = drv_tsv_open(&o.d, "steps", C_NCOLS, columns, 4, options);
    drv_tsv_meta(t, "command", "ripple steps (paper Fig. 8, 9)");
    char (*labels)[128] = cli_alloc((size_t)u.ncaptures, sizeof *labels, "labels");
    for (int c = 0; c < u.ncaptures; c++) {
        const ripple_capture_info *info = u.srcs[c].info;
        capture_label(u.srcs[c].info, o.d.captures[c], labels[c], sizeof labels[c]);
        drv_tsv_meta(t, "capture", "%d %s model=%s num_steps=%lld seed=%lld prompt=%s label=%s", c,
                     o.d.captures[c], info->model, (long long)info->num_steps,
                     info->has_seed ? (long long)info->seed : -1LL, info->prompt[0] ? info->prompt : "(none)",
                     labels[c]);
    }
    drv_tsv_meta(t, "selection", "%s", drv_selection_str(&o.d));
    drv_tsv_meta(t, "threshold_mode", "%s (the theta column holds %s)", mode,
                 o.have_alpha ? "alpha" : "the absolute threshold");
    drv_tsv_meta(t, "reuse", "axes=%s window=%d groups=%s", cli_axes_str(o.rp.axes, axes), o.rp.window,
                 o.rp.groups ? cli_axes_str(o.rp.groups, groups) : "all");
    drv_tsv_meta(t, "savings", "s_score = score savings; s_attn = attention savings (QK^T share only)");
    drv_tsv_meta(t, "metrics", "against float32 exact attention, mean over the selected heads; "
                               "floor_mse = float32 exact vs float64 reference (nan with --no-floor)");
    drv_tsv_meta(t, "kinds", "layer = one (capture, step, layer); capture = mean over layers; "
                             "mean = mean over captures; trend = 10^(a + b*step), least squares of "
                             "log10(mean mse) on step over steps with mse > 0");

    /* per-unit values, parsed back from the cells */
    double *vals = cli_alloc((size_t)u.n * NAVG, sizeof *vals, "values");
    for (int i = 0; i < u.n; i++) {
        const drv_unit_id *id = &u.ids[i];
        char kc[DRV_CELL], ks[DRV_CELL], kl[DRV_CELL];
        const char *key[4] = {"layer", drv_int(kc, id->capture), drv_int(ks, id->step), drv_int(kl, id->layer)};
        double *v = vals + (size_t)i * NAVG;
        if (drv_tsv_has(t, key)) {
            for (int j = 0; j < NAVG; j++) v[j] = strtod(drv_tsv_get(t, key, columns[avg_cols[j]]), NULL);
            continue;
        }
        cli_progress("steps: (capture, step, layer)", i, u.n);
        eval_unit eu;
        drv_unit_load(&u, &o.d, i, &eu);
        ripple_savings sv;
        ripple_metrics m, fm = {NAN, NAN, NAN, NAN, NAN};
        ripple_status s = eval_run(&eu, EVAL_REUSE, &o.rp, &sv, &m);
        if (s) cli_lib_error(s, "reuse");
        if (o.floor && (s = eval_noise_floor(&eu, &fm))) cli_lib_error(s, "noise floor");
        eval_unit_free(&eu);
        double raw[NAVG] = {sv.s_score, sv.s_attn, sv.rows_reused, m.mse, m.rel_l2, m.cosine, m.psnr, fm.mse};
        put_row(t, "layer", kc, id->step, kl, labels[id->capture], id->timestep, o.rp.theta[0], raw, v);
    }
    cli_progress_done();

    /* capture rows: mean over layers of each (capture, step) */
    int maxstep = 0;
    for (int i = 0; i < u.n; i++) maxstep = u.ids[i].step > maxstep ? u.ids[i].step : maxstep;
    int nsteps = maxstep + 1;
    acc *per_cap = calloc((size_t)u.ncaptures * (size_t)nsteps, sizeof *per_cap);
    acc *per_step = calloc((size_t)nsteps, sizeof *per_step);
    double *ts = calloc((size_t)nsteps, sizeof *ts);
    double *capmse = calloc((size_t)u.ncaptures * (size_t)nsteps, sizeof *capmse);
    if (!per_cap || !per_step || !ts || !capmse) cli_data_error("out of memory");
    for (int i = 0; i < u.n; i++) {
        acc_add(&per_cap[(size_t)u.ids[i].capture * (size_t)nsteps + (size_t)u.ids[i].step],
                vals + (size_t)i * NAVG);
        ts[u.ids[i].step] = u.ids[i].timestep;
    }
    for (int c = 0; c < u.ncaptures; c++) {
        char kc[DRV_CELL];
        drv_int(kc, c);
        for (int s = 0; s < nsteps; s++) {
            acc *a = &per_cap[(size_t)c * (size_t)nsteps + (size_t)s];
            if (!a->n) {
                capmse[(size_t)c * (size_t)nsteps + (size_t)s] = NAN;
                continue;
            }
            double mean[NAVG], parsed[NAVG];
            for (int j = 0; j < NAVG; j++) mean[j] = a->sum[j] / a->n;
            put_row(t, "capture", kc, s, "all", labels[c], ts[s], o.rp.theta[0], mean, parsed);
            acc_add(&per_step[s], parsed);
            capmse[(size_t)c * (size_t)nsteps + (size_t)s] = parsed[3];
        }
    }
    /* mean rows over captures, and the trend */
    double *xs = cli_alloc((size_t)nsteps, sizeof *xs, "steps");
    double *ys = cli_alloc((size_t)nsteps, sizeof *ys, "steps");
    double *meanrow = cli_alloc((size_t)nsteps * NAVG, sizeof *meanrow, "steps");
    int npts = 0;
    for (int s = 0; s < nsteps; s++) {
        if (!per_step[s].n) continue;
        double mean[NAVG];
        for (int j = 0; j < NAVG; j++) mean[j] = per_step[s].sum[j] / per_step[s].n;
        put_row(t, "mean", "all", s, "all", "mean over captures", ts[s], o.rp.theta[0], mean,
                meanrow + (size_t)s * NAVG);
        xs[npts] = s;
        ys[npts++] = meanrow[(size_t)s * NAVG + 3];
    }
    double floor_mean = 0;
    for (int k = 0; k < npts; k++) floor_mean += meanrow[(size_t)xs[k] * NAVG + 7] / npts;
    double slope, icpt;
    int used = rampfit_trend_log10(npts, xs, ys, &slope, &icpt);
    for (int k = 0; k < npts && isfinite(slope); k++) {
        int s = (int)xs[k];
        double tr[NAVG];
        for (int j = 0; j < NAVG; j++) tr[j] = NAN;
        tr[3] = pow(10.0, icpt + slope * s);
        put_row(t, "trend", "all", s, "all", "trend", ts[s], o.rp.theta[0], tr, NULL);
    }
    int reused = drv_tsv_reused(t);
    const char *path = drv_tsv_close(t);
    drv_append_timing(path);

    /* terminal table */
    printf("ripple steps: %s %g, axes %s, window %d; mse = mean output MSE over layers and heads\n",
           o.have_alpha ? "alpha" : "theta", o.rp.theta[0], cli_axes_str(o.rp.axes, axes), o.rp.window);
    printf("%5s %10s %11s %11s %11s %11s %8s %8s\n", "step", "timestep", "mse mean", "mse min", "mse max",
           "trend", "s_score", "s_attn");
    for (int s = 0; s < nsteps; s++) {
        if (!per_step[s].n) continue;
        double lo = INFINITY, hi = -INFINITY;
        for (int c = 0; c < u.ncaptures; c++) {
            double v = capmse[(size_t)c * (size_t)nsteps + (size_t)s];
            if (isnan(v)) continue;
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
        const double *m = meanrow + (size_t)s * NAVG;
        printf("%5d %10.4g %11.4g %11.4g %11.4g %11.4g %8.4f %8.4f\n", s, ts[s], m[3], lo, hi,
               isfinite(slope) ? pow(10.0, icpt + slope * s) : NAN, m[0], m[1]);
    }
    if (isfinite(slope))
        printf("trend: log10(mse) = %.4g %+.4g * step (%d steps): x%.3g per step, x%.3g per 10 steps\n",
               icpt, slope, used, pow(10.0, slope), pow(10.0, 10 * slope));
    else
        printf("trend: none (fewer than two steps with mse > 0)\n");
    printf("table: %s (%d rows reused from an earlier run)\n", path, reused);

    /* figure */
    size_t cap = 4096 + (size_t)u.ncaptures * 512;
    char *body = cli_alloc(cap, 1, "plot");
    size_t len = 0;
#define APPEND(...) len += (size_t)snprintf(body + len, len < cap ? cap - len : 0, __VA_ARGS__)
    char model[256];
    drv_gp_string(model, sizeof model, u.srcs[0].info->model);
    APPEND("set title \"Output error per denoising step: %s, %s = %g, axes %s, window %d", model,
           o.have_alpha ? "alpha" : "theta", o.rp.theta[0], cli_axes_str(o.rp.axes, axes), o.rp.window);
    /* the noise floor is usually decades below the curves: stated, not drawn */
    if (o.floor) APPEND("\\n(noise floor, fp32 vs fp64 exact attention: mean MSE %.2g)", floor_mean);
    APPEND("\"\n");
    /* log y where the curves span a decade or more, else linear (a log axis
     * over less than a decade has at most one labelled tick). On a log axis
     * points with mse <= 0 are left out; on a linear one they are drawn:
     * with nothing reused (--theta 0) every mse is 0, and the figure shows
     * that instead of failing on "all points y value undefined". */
    double ylo = INFINITY, yhi = 0;
    for (size_t j = 0; j < (size_t)u.ncaptures * (size_t)nsteps; j++)
        if (capmse[j] > 0) ylo = fmin(ylo, capmse[j]), yhi = fmax(yhi, capmse[j]);
    int logy = yhi > 0 && yhi >= 10 * ylo;
    const char *ycol = logy ? "($11 > 0 ? $11 : NaN)" : "11";
    if (logy) APPEND("set logscale y\nset format y \"%%.0e\"\n");
    else APPEND("set format y \"%%.2e\"\n");
    if (!(yhi > 0)) APPEND("set yrange [0:1]\nset label 1 \"every output MSE is 0\" at graph 0.5, graph 0.6 center\n");
    APPEND("set bmargin %d\n", 4 + (u.ncaptures + 3) / 2); /* room for the key, two columns */
    APPEND("set xlabel \"denoising step (zero-based)\"\n"
           "set ylabel \"attention output MSE vs exact (mean over layers, heads)\"\n"
           "set key below box maxcols 2\n"
           "f = \"steps.tsv\"\nplot \\\n");
    for (int c = 0; c < u.ncaptures; c++) {
        char label[300];
        APPEND("  f using (strcol(1) eq \"capture\" && strcol(2) eq \"%d\" ? $3 : NaN):%s "
               "with linespoints lw 1.5 pt 7 ps 0.7 title \"%s\", \\\n", c, ycol,
               drv_gp_string(label, sizeof label, labels[c]));
    }
    APPEND("  f using (strcol(1) eq \"mean\" ? $3 : NaN):%s with linespoints lw 3.5 "
           "lc rgb \"black\" pt 5 ps 1 title \"mean over %d capture%s\"", ycol, u.ncaptures,
           u.ncaptures > 1 ? "s" : "");
    if (isfinite(slope))
        APPEND(", \\\n  f using (strcol(1) eq \"trend\" ? $3 : NaN):11 with lines dt 2 lw 2.5 lc rgb \"red\" "
               "title \"trend: x%.3g per step\"", pow(10.0, slope));
    APPEND("\n");
#undef APPEND
    if (len >= cap) cli_data_error("internal: plot script too long");
    int plot_rc = drv_plot(&o.d, "steps", body, 900, 600);
    if (plot_rc == 0) printf("figure: %s/steps.png\n", o.d.out_dir);

    free(body);
    free(xs);
    free(ys);
    free(meanrow);
    free(per_cap);
    free(per_step);
    free(ts);
    free(capmse);
    free(vals);
    free(labels);
    drv_units_close(&u);
    return drv_exit_status(plot_rc);
}
