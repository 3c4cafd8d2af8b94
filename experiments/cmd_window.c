/* ripple window (paper Fig. 11): the ripple transform at window sizes
 * 2, 3, 4, 6, 8 with the threshold of window 2 kept fixed; score and
 * attention savings and output error per window size.
 *
 * Output in --out DIR: window.tsv (one row per capture, step, layer and
 * window size), window.gp and window.png (savings and mse against window
 * size, both means over the selected units). */
#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "evaluate.h"
#include "scale.h"
#include "ripple_version.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WINDOWS 16

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ripple window CAPTURE... --out DIR [options]\n\n"
        "Paper Fig. 11: the ripple transform with windows of 2, 3, 4, 6 and 8 tokens,\n"
        "every window size at the same threshold (the threshold of window 2), on every\n"
        "selected (step, layer) of the captures. Reports score savings (s_score, the\n"
        "paper's \"computation savings\"), attention savings (s_attn = s_score/2, the\n"
        "share of QK^T + PV FLOPs spared), the fraction of fully reused query rows,\n"
        "and the output error against exact attention.\n\n"
        "options:\n"
        "  --theta X          absolute threshold for every axis and window size\n"
        "  --alpha X          channel-wise thresholds instead: theta_a(c) = X * mean\n"
        "                     window delta of channel c (each window size uses its own\n"
        "                     window deltas, so the threshold is NOT that of window 2)\n"
        "                     Default (neither given): theta = the median window-2\n"
        "                     delta |x0 - x1|/2 of q over every window-2 window of the\n"
        "                     enabled axes and grouped channels of the first selected\n"
        "                     unit (its selected heads); written to the TSV.\n"
        "  --windows LIST     window sizes, comma separated, each >= 2 (default 2,3,4,6,8)\n"
        "  --axes SET         axes to reuse along, letters of t,h,w (default thw)\n"
        "  --no-floor         skip the float64 noise floor (floor_mse column = nan)\n"
        "%s\n"
        "Files: DIR/window.tsv (rows per capture, step, layer, window; `#` metadata:\n"
        "captures, options, git describe, backend, theta rule, exact attention time),\n"
        "DIR/window.gp (reads only window.tsv), DIR/window.png.\n",
        drv_common_help);
}

typedef struct {
    drv_opts d;
    ripple_reuse_params rp;
    int have_theta, have_alpha;
    double value; /* theta or alpha as given */
    int windows[MAX_WINDOWS];
    int nwindows;
    int floor;
} window_opts;

static void parse_windows(const char *s, window_opts *o)
{
    char buf[256], *items[MAX_WINDOWS];
    o->nwindows = 0;
    if (!*s) cli_usage_error("--windows: empty list (e.g. 2,3,4,6,8)");
    int n = cli_list("--windows", s, buf, sizeof buf, items, MAX_WINDOWS);
    for (int i = 0; i < n; i++) {
        int w = (int)cli_int("--windows", items[i], 2, 4096);
        for (int i = 0; i < o->nwindows; i++)
            if (o->windows[i] == w) cli_usage_error("--windows: size %d given twice", w);
        o->windows[o->nwindows++] = w;
    }
}

static void parse(int argc, char **argv, window_opts *o)
{
    enum { O_THETA = 256, O_ALPHA, O_WINDOWS, O_AXES, O_NOFLOOR };
    static const struct option longopts[] = {
        DRV_COMMON_LONGOPTS,
        {"theta", required_argument, 0, O_THETA},
        {"alpha", required_argument, 0, O_ALPHA},
        {"windows", required_argument, 0, O_WINDOWS},
        {"axes", required_argument, 0, O_AXES},
        {"no-floor", no_argument, 0, O_NOFLOOR},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    drv_opts_init(&o->d);
    o->rp.axes = RIPPLE_AXES_ALL;
    o->floor = 1;
    static const int def[] = {2, 3, 4, 6, 8};
    for (int i = 0; i < 5; i++) o->windows[i] = def[i];
    o->nwindows = 5;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (drv_common_option(&o->d, c, optarg)) continue;
        switch (c) {
        case 'h': usage(stdout); exit(CLI_EXIT_OK);
        case O_THETA: o->value = cli_double("--theta", optarg, 0, INFINITY); o->have_theta = 1; break;
        case O_ALPHA: o->value = cli_double("--alpha", optarg, 0, INFINITY); o->have_alpha = 1; break;
        case O_WINDOWS: parse_windows(optarg, o); break;
        case O_AXES: o->rp.axes = cli_axes("--axes", optarg); break;
        case O_NOFLOOR: o->floor = 0; break;
        case ':': cli_usage_error("option %s needs a value", argv[optind - 1]);
        default: cli_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (o->have_theta && o->have_alpha)
        cli_usage_error("--theta and --alpha exclude each other (absolute vs channel thresholds)");
    o->rp.mode = o->have_alpha ? RIPPLE_THRESHOLD_CHANNEL : RIPPLE_THRESHOLD_ABSOLUTE;
    drv_finish_options(&o->d, argc, argv, 1);
}

/* The default threshold: the window-2 delta scale (SCALE_WINDOW2) of q over
 * the heads of unit u. */
static double default_theta(const eval_unit *u, unsigned axes)
{
    double med;
    const float *q[1] = {u->q};
    ripple_status s = scale_median(u->lay, &SCALE_WINDOW2, axes, 2, 1, u->nh, q, NULL, &med);
    if (s) cli_lib_error(s, "window deltas");
    return med;
}

static const char *const columns[] = {"capture", "step", "layer", "window", "theta", "s_score", "s_attn",
    "rows_reused", "q_reused", "k_reused", "mse", "rel_l2", "cosine", "psnr", "floor_mse"};
enum { NCOLS = sizeof columns / sizeof columns[0], NKEY = 4 };
enum { C_SSCORE = 5, C_SATTN, C_ROWS, C_QR, C_KR, C_MSE, C_REL, C_COS, C_PSNR, C_FLOOR };

/* gnuplot body: means per window size (smooth unique) of the savings on the
 * left axis (%) and of mse on the right axis (log); columns by number. The
 * x tics are the window sizes of the run. */
static char *plot_body(const window_opts *o)
{
    size_t cap = 8192, n = 0;
    char *b = cli_alloc(cap, 1, "plot script");
    int wmin = o->windows[0], wmax = o->windows[0];
    char tics[512] = "";
    size_t nt = 0;
    for (int i = 0; i < o->nwindows; i++) {
        if (o->windows[i] < wmin) wmin = o->windows[i];
        if (o->windows[i] > wmax) wmax = o->windows[i];
        nt += (size_t)snprintf(tics + nt, sizeof tics - nt, "%s\"%d\" %d", i ? ", " : "", o->windows[i],
                               o->windows[i]);
    }
    n += (size_t)snprintf(b + n, cap - n,
        "set datafile columnheaders\n"
        "stats \"window.tsv\" using 11 nooutput\n"
        "mse_lo = STATS_min; mse_hi = STATS_max\n"
        "stats \"window.tsv\" using (strcol(15) eq \"nan\" ? 0 : column(15)) nooutput\n"
        "floor = STATS_mean\n"
        "floor_text = floor > 0 ? sprintf(\"%%.1e\", floor) : \"not computed\"\n"
        "set title sprintf(\"Window size (paper Fig. 11): the threshold of window 2 at every size\\n"
        "mean over captured steps and layers; noise floor (fp32 vs fp64) MSE %%s\", floor_text)\n"
        "set xlabel \"window size w (tokens)\" offset 0,0.6\n"
        "set bmargin 6.5\n"
        "set my2tics 10\n"
        "set ylabel \"savings (%%)\"\n"
        "set y2label sprintf(\"output MSE vs exact attention%%s\", mse_lo > 0 ? \" (log)\" : \"\")\n"
        "set yrange [0:100]\n"
        "set ytics nomirror\n"
        "# a log axis needs mse > 0; with nothing reused (--theta 0) every mse is 0\n"
        "if (mse_lo > 0) { set logscale y2; set y2range [mse_lo / 2 : mse_hi * 2] } \\\n"
        "else { set y2range [0 : (mse_hi > 0 ? mse_hi * 1.1 : 1)] }\n"
        "set y2tics\n"
        "set format y2 \"%%.1e\"\n"
        "set xrange [%g:%g]\n"
        "set xtics (%s)\n"
        "set key below center horizontal box\n"
        "plot \"window.tsv\" using 4:(100*$6) smooth unique with linespoints lw 2 pt 7 lc rgb \"#1f77b4\" title \"score savings s_score (left)\", \\\n"
        "     \"\" using 4:(100*$7) smooth unique with linespoints lw 2 pt 5 lc rgb \"#2ca02c\" title \"attention savings s_attn (left)\", \\\n"
        "     \"\" using 4:(100*$8) smooth unique with linespoints lw 1.5 dt 2 pt 4 lc rgb \"#17becf\" title \"query rows fully reused (left)\", \\\n"
        "     \"\" using 4:11 smooth unique axes x1y2 with linespoints lw 2 pt 9 lc rgb \"#d62728\" title \"MSE (right)\"\n",
        wmin - 0.5, wmax + 0.5, tics);
    if (n >= cap) cli_data_error("plot script too long");
    return b;
}

/* Sums per window size of the columns from s_score on, over finished rows. */
typedef struct {
    const window_opts *o;
    double (*sum)[NCOLS];
    int *cnt;
} window_sums;

static void add_window_row(char **cell, void *ctx)
{
    window_sums *ws = ctx;
    int w = atoi(cell[3]);
    for (int wi = 0; wi < ws->o->nwindows; wi++) {
        if (ws->o->windows[wi] != w) continue;
        for (int c = C_SSCORE; c < NCOLS; c++) ws->sum[wi][c] += strtod(cell[c], NULL);
        ws->cnt[wi]++;
    }
}

int cmd_window(int argc, char **argv)
{
    window_opts o;
    parse(argc, argv, &o);
    double t_start = cli_now();

    drv_units units;
    drv_units_open(&units, &o.d);

    char wl[256] = "";
    size_t nw = 0;
    for (int i = 0; i < o.nwindows; i++)
        nw += (size_t)snprintf(wl + nw, sizeof wl - nw, "%s%d", i ? "," : "", o.windows[i]);
    char axes[4];
    cli_axes_str(o.rp.axes, axes);

    /* The threshold: given, or the default rule on the first unit. */
    eval_unit u;
    int loaded = -1; /* index of the unit in u, -1 = none */
    double theta = o.value;
    const char *rule = o.have_theta ? "given (--theta)" : o.have_alpha ? "given (--alpha, channel mode)" : NULL;
    if (!rule) {
        drv_unit_load(&units, &o.d, 0, &u);
        loaded = 0;
        theta = default_theta(&u, o.rp.axes);
        rule = "median window-2 delta |x0-x1|/2 of q over the first unit (enabled axes, grouped channels)";
    }
    for (int a = 0; a < 3; a++) o.rp.theta[a] = theta;

    char options[1024];
    snprintf(options, sizeof options, "window %s=%.9g rule=%s windows=%s axes=%s floor=%d %s",
             o.have_alpha ? "alpha" : "theta", theta, o.have_theta || o.have_alpha ? "given" : "median-w2",
             wl, axes, o.floor, drv_selection_str(&o.d));
    drv_tsv *t = drv_tsv_open(&o.d, "window", NCOLS, columns, NKEY, options);
    drv_tsv_meta(t, "command", "ripple window");
    for (int c = 0; c < o.d.ncaptures; c++)
        drv_tsv_meta(t, "capture", "%s (model %s)", o.d.captures[c],
                     units.srcs[c].info->model);
    drv_tsv_meta(t, "selection", "%s", drv_selection_str(&o.d));
    drv_tsv_meta(t, "backend", "%s", ripple_backend_name(o.d.backend));
    drv_tsv_meta(t, "threshold_mode", "%s", o.have_alpha ? "channel (theta column holds alpha)" : "absolute");
    drv_tsv_meta(t, "theta", "%.9g (%s); the same for every window size", theta, rule);
    drv_tsv_meta(t, "axes", "%s", axes);
    drv_tsv_meta(t, "windows", "%s", wl);
    drv_tsv_meta(t, "savings", "s_score = score savings (paper's computation savings); s_attn = s_score/2 "
                               "= attention savings (QK^T share of QK^T+PV); rows_reused separate");
    drv_tsv_meta(t, "metrics", "against float32 exact attention, over all heads; floor_mse = float32 vs "
                               "float64 exact attention (noise floor) of the unit");

    const int64_t total = (int64_t)units.n * o.nwindows;
    int64_t done = 0;
    for (int i = 0; i < units.n; i++) {
        const drv_unit_id *id = &units.ids[i];
        char ks[DRV_CELL], kl[DRV_CELL], kw[DRV_CELL];
        const char *key[NKEY] = {o.d.captures[id->capture], drv_int(ks, id->step), drv_int(kl, id->layer), NULL};
        double floor_mse = NAN;
        for (int wi = 0; wi < o.nwindows; wi++, done++) {
            key[3] = drv_int(kw, o.windows[wi]);
            if (drv_tsv_has(t, key)) continue;
            if (loaded != i) {
                if (loaded >= 0) eval_unit_free(&u);
                drv_unit_load(&units, &o.d, i, &u);
                loaded = i;
            }
            if (o.floor && isnan(floor_mse)) {
                ripple_metrics fm;
                ripple_status s = eval_noise_floor(&u, &fm);
                if (s) cli_lib_error(s, "noise floor");
                floor_mse = fm.mse;
            }
            ripple_reuse_params p = o.rp;
            p.window = o.windows[wi];
            ripple_savings sv;
            ripple_metrics m;
            ripple_status s = eval_run(&u, EVAL_REUSE, &p, &sv, &m);
            if (s) cli_lib_error(s, "reuse");
            char b[NCOLS][DRV_CELL];
            const char *cells[NCOLS] = {key[0], key[1], key[2], key[3], drv_num(b[4], theta),
                drv_num(b[5], sv.s_score), drv_num(b[6], sv.s_attn), drv_num(b[7], sv.rows_reused),
                drv_num(b[8], sv.q_reused), drv_num(b[9], sv.k_reused), drv_num(b[10], m.mse),
                drv_num(b[11], m.rel_l2), drv_num(b[12], m.cosine), drv_num(b[13], m.psnr),
                drv_num(b[14], floor_mse)};
            drv_tsv_row(t, cells);
            cli_progress("window", done + 1, total);
        }
    }
    cli_progress_done();
    if (loaded >= 0) eval_unit_free(&u);

    /* Summary per window size, from the finished rows (earlier and this run):
     * read back through the TSV so that reused rows count too. */
    int reused = drv_tsv_reused(t);
    double sum[MAX_WINDOWS][NCOLS];
    int cnt[MAX_WINDOWS];
    memset(sum, 0, sizeof sum);
    memset(cnt, 0, sizeof cnt);
    const char *path = drv_tsv_close(t);
    char tsv_path[4096];
    snprintf(tsv_path, sizeof tsv_path, "%s", path);
    window_sums ws = {&o, sum, cnt};
    drv_tsv_foreach(tsv_path, NCOLS, add_window_row, &ws);
    drv_append_timing(tsv_path);

    printf("ripple window: %s=%.4g (%s), axes %s, %d unit(s)%s\n", o.have_alpha ? "alpha" : "theta", theta,
           rule, axes, units.n, reused ? " (finished rows of an earlier run reused)" : "");
    printf("%6s %9s %9s %11s %12s %9s %8s %8s\n", "window", "s_score", "s_attn", "rows_reused", "mse",
           "rel_l2", "cosine", "psnr");
    for (int wi = 0; wi < o.nwindows; wi++) {
        double n = cnt[wi] ? cnt[wi] : NAN;
        printf("%6d %8.2f%% %8.2f%% %10.2f%% %12.4g %9.4g %8.5f %8.2f\n", o.windows[wi],
               100 * sum[wi][C_SSCORE] / n, 100 * sum[wi][C_SATTN] / n, 100 * sum[wi][C_ROWS] / n,
               sum[wi][C_MSE] / n, sum[wi][C_REL] / n, sum[wi][C_COS] / n, sum[wi][C_PSNR] / n);
    }
    if (o.floor) {
        double fl = 0;
        int nf = 0;
        for (int wi = 0; wi < o.nwindows; wi++) fl += sum[wi][C_FLOOR], nf += cnt[wi];
        printf("noise floor (fp32 vs fp64 exact attention): mse %.4g\n", nf ? fl / nf : NAN);
    }
    printf("(means over units; s_score = score savings, s_attn = attention savings)\n");
    printf("exact attention: %.3f s of %.3f s\n", drv_exact_seconds(), cli_now() - t_start);

    char *body = plot_body(&o);
    int rc = drv_plot(&o.d, "window", body, 800, 500);
    free(body);
    printf("wrote %s, %s/window.gp%s\n", tsv_path, o.d.out_dir, rc == 0 ? ", window.png" : " (no figure)");
    drv_units_close(&units);
    return drv_exit_status(rc);
}
