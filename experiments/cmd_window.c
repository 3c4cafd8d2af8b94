/* ripple window (paper Fig. 11): the ripple transform at window sizes
 * 2, 3, 4, 6, 8 with the threshold of window 2 kept fixed; score and
 * attention savings and output error per window size.
 *
 * Output in --out DIR: window.tsv (one row per capture, step, layer and
 * window size), window.gp and window.png (savings and mse against window
 * size, and below on an axis of its own the fully reused rows, all means
 * over the selected units). */
#include "experiments.h"
#include "scale.h"

#include <math.h>
#include <string.h>

#define WINDOW_MAX 16
typedef struct window_opts {
    double value; /* theta or alpha as given */
    int have_theta, have_alpha;
    int windows[WINDOW_MAX], nwindows;
    unsigned axes;
    int floor;
} window_opts;

typedef struct window_state {
    window_result result; /* first: what paper reads */
    ripple_reuse_params rp;
    double theta;      /* the threshold of every window size */
    const char *rule;  /* where it comes from */
    /* means over the rows of each window size (in the order of --windows) */
    double s_score[WINDOW_MAX], s_attn[WINDOW_MAX], mse[WINDOW_MAX], rel_l2[WINDOW_MAX];
} window_state;

static const char usage[] =
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
    "DIR/window.gp (reads only window.tsv), DIR/window.png.\n";

#define O(...) EXP_OPT(window_opts, __VA_ARGS__)
#define OV(...) EXP_OPTV(window_opts, __VA_ARGS__)
static const exp_opt opts[] = {
    OV("theta", EXP_DOUBLE, value, .given = EXP_GIVEN(window_opts, have_theta), .lo = 0, .hi = INFINITY),
    OV("alpha", EXP_DOUBLE, value, .given = EXP_GIVEN(window_opts, have_alpha), .lo = 0, .hi = INFINITY),
    OV("windows", EXP_INTS, windows, .count = offsetof(window_opts, nwindows), .max = WINDOW_MAX, .lo = 2, .hi = 4096),
    O("axes", EXP_AXES, axes),
    O("no-floor", EXP_UNSET, floor),
    {0}};
#undef O
#undef OV

static void defaults(void *p)
{
    *(window_opts *)p = (window_opts){.windows = {2, 3, 4, 6, 8}, .nwindows = 5, .axes = RIPPLE_AXES_ALL, .floor = 1};
}

static int check(exp_run *r)
{
    const window_opts *o = r->opts;
    if (o->have_theta && o->have_alpha)
        return exp_fail(r, EXP_USAGE, "--theta and --alpha exclude each other (absolute vs channel thresholds)");
    return 0;
}

static const exp_col cols[] = {{"capture", 's'}, {"step", 'i'}, {"layer", 'i'}, {"window", 'i'}, {"theta", 'n'},
    {"s_score", 'n'}, {"s_attn", 'n'}, {"rows_reused", 'n'}, {"q_reused", 'n'}, {"k_reused", 'n'}, {"mse", 'n'},
    {"rel_l2", 'n'}, {"cosine", 'n'}, {"psnr", 'n'}, {"floor_mse", 'n'}};
enum { C_WINDOW = 3, C_THETA, C_SSCORE };
static const exp_table_def tables[] = {{"window", cols, (int)(sizeof cols / sizeof cols[0]), 4}};

static int plan(exp_run *r)
{
    const window_opts *o = r->opts;
    window_state *st = r->state;
    char wl[256] = "", axes[4], sel[256], buf[1024];
    size_t nw = 0;
    for (int i = 0; i < o->nwindows; i++) nw += (size_t)snprintf(wl + nw, sizeof wl - nw, "%s%d", i ? "," : "", o->windows[i]);
    cli_axes_str(o->axes, axes);
    /* the threshold: given, or the default rule on the first unit */
    st->theta = o->value;
    st->rule = o->have_theta ? "given (--theta)" : o->have_alpha ? "given (--alpha, channel mode)" : NULL;
    if (!st->rule) {
        eval_unit *u;
        EXP_TRY(exp_load(r, 0, &u));
        const float *q[1] = {u->q};
        ripple_status s = scale_median(u->lay, &SCALE_WINDOW2, o->axes, 2, 1, u->nh, q, NULL, &st->theta);
        if (s) return exp_lib(r, s, "window deltas");
        st->rule = "median window-2 delta |x0-x1|/2 of q over the first unit (enabled axes, grouped channels)";
    }
    st->rp = (ripple_reuse_params){.axes = o->axes, .mode = o->have_alpha ? RIPPLE_THRESHOLD_CHANNEL : RIPPLE_THRESHOLD_ABSOLUTE,
                                   .theta = {st->theta, st->theta, st->theta}};
    snprintf(buf, sizeof buf, "window %s=%.9g rule=%s windows=%s axes=%s floor=%d %s", o->have_alpha ? "alpha" : "theta",
             st->theta, o->have_theta || o->have_alpha ? "given" : "median-w2", wl, axes, o->floor,
             exp_selection(r, sel, sizeof sel));
    EXP_TRY(exp_open(r, 0, buf));
    EXP_TRY(exp_meta(r, 0, "threshold_mode", "%s", o->have_alpha ? "channel (theta column holds alpha)" : "absolute"));
    EXP_TRY(exp_meta(r, 0, "theta", "%.9g (%s); the same for every window size", st->theta, st->rule));
    EXP_TRY(exp_meta(r, 0, "axes", "%s", axes));
    EXP_TRY(exp_meta(r, 0, "windows", "%s", wl));
    EXP_TRY(exp_meta(r, 0, "savings", "s_score = score savings (paper's computation savings); s_attn = s_score/2 "
                                      "= attention savings (QK^T share of QK^T+PV); rows_reused separate"));
    EXP_TRY(exp_meta(r, 0, "metrics", "against float32 exact attention, over all heads; floor_mse = float32 vs "
                                      "float64 exact attention (noise floor) of the unit"));
    r->njobs = o->nwindows;
    return 0;
}

static int key(exp_run *r, const exp_job *j, exp_row *row)
{
    const window_opts *o = r->opts;
    row->s[0] = r->c.captures[j->unit->source];
    row->v[1] = j->unit->id.step, row->v[2] = j->unit->id.layer, row->v[C_WINDOW] = o->windows[j->job];
    return 0;
}

static int compute(exp_run *r, const exp_job *j, exp_row *row)
{
    const window_opts *o = r->opts;
    const window_state *st = r->state;
    eval_unit *u;
    EXP_TRY(exp_load(r, j->group, &u));
    if (o->floor) EXP_TRY(exp_floor(r, j->group, &row->v[14]));
    ripple_reuse_params p = st->rp;
    p.window = o->windows[j->job];
    ripple_savings sv;
    ripple_metrics m;
    ripple_status s = eval_run(u, EVAL_REUSE, &p, &sv, &m);
    if (s) return exp_lib(r, s, "reuse");
    const double v[] = {st->theta, sv.s_score, sv.s_attn, sv.rows_reused, sv.q_reused, sv.k_reused, m.mse,
                        m.rel_l2, m.cosine, m.psnr};
    memcpy(row->v + C_THETA, v, sizeof v);
    return 0;
}

/* Means per window size over every finished row (of this run and an earlier one). */
static int finish(exp_run *r)
{
    const window_opts *o = r->opts;
    window_state *st = r->state;
    exp_mean m[WINDOW_MAX] = {{0}}, all = {0};
    for (int row = 0; row < exp_rows(r, 0); row++)
        for (int w = 0; w < o->nwindows; w++)
            if (exp_num(r, 0, row, "window") == o->windows[w]) exp_mean_add(&m[w], r, 0, row), exp_mean_add(&all, r, 0, row);
    char axes[4];
    printf("ripple window: %s=%.4g (%s), axes %s, %d unit(s)%s\n", o->have_alpha ? "alpha" : "theta", st->theta,
           st->rule, cli_axes_str(o->axes, axes), r->nunits,
           r->reused_rows[0] ? " (finished rows of an earlier run reused)" : "");
    printf("%6s %9s %9s %11s %12s %9s %8s %8s\n", "window", "s_score", "s_attn", "rows_reused", "mse", "rel_l2",
           "cosine", "psnr");
    st->result.mse_w2 = NAN;
    for (int w = 0; w < o->nwindows; w++) {
        st->s_score[w] = exp_mean_of(&m[w], r, 0, "s_score"), st->s_attn[w] = exp_mean_of(&m[w], r, 0, "s_attn");
        st->mse[w] = exp_mean_of(&m[w], r, 0, "mse"), st->rel_l2[w] = exp_mean_of(&m[w], r, 0, "rel_l2");
        if (o->windows[w] == 2) st->result.mse_w2 = st->mse[w];
        printf("%6d %8.2f%% %8.2f%% %10.2f%% %12.4g %9.4g %8.5f %8.2f\n", o->windows[w], 100 * st->s_score[w],
               100 * st->s_attn[w], 100 * exp_mean_of(&m[w], r, 0, "rows_reused"), st->mse[w], st->rel_l2[w],
               exp_mean_of(&m[w], r, 0, "cosine"), exp_mean_of(&m[w], r, 0, "psnr"));
    }
    if (o->floor)
        printf("noise floor (fp32 vs fp64 exact attention): mse %.4g\n", exp_mean_of(&all, r, 0, "floor_mse"));
    printf("(means over units; s_score = score savings, s_attn = attention savings)\n");
    printf("exact attention: %.3f s of %.3f s\n", r->exact_seconds, cli_now() - r->t0);
    return 0;
}

/* Two panels on one x axis (the run's window sizes as tics): above, the
 * means per window size (smooth unique) of the savings on the left axis (%)
 * and of mse on the right axis (log); below, on an axis of its own, the
 * share of query rows fully reused, which is often well under 1% and would
 * lie on the x axis of the savings' 0-100% scale. */
enum { WIN_W = 800, WIN_H = 680, WIN_TITLE = 50, WIN_LOWER = 240 }; /* canvas; multiplot title, lower panel */
static int plot(exp_run *r, exp_text *gp)
{
    const window_opts *o = r->opts;
    int wmin = o->windows[0], wmax = o->windows[0];
    char tics[512] = "", blank[512] = ""; /* the tics with and without labels */
    size_t nt = 0, nb = 0;
    for (int i = 0; i < o->nwindows; i++) {
        wmin = o->windows[i] < wmin ? o->windows[i] : wmin;
        wmax = o->windows[i] > wmax ? o->windows[i] : wmax;
        nt += (size_t)snprintf(tics + nt, sizeof tics - nt, "%s\"%d\" %d", i ? ", " : "", o->windows[i], o->windows[i]);
        nb += (size_t)snprintf(blank + nb, sizeof blank - nb, "%s\"\" %d", i ? ", " : "", o->windows[i]);
    }
    const double H = WIN_H;
    exp_printf(gp,
        "set datafile columnheaders\n"
        "stats \"window.tsv\" using (column(\"mse\")) nooutput\n"
        "mse_lo = STATS_min; mse_hi = STATS_max\n"
        "stats \"window.tsv\" using (100*column(\"rows_reused\")) nooutput\n"
        "rows_hi = STATS_max\n"
        "stats \"window.tsv\" using (strcol(\"floor_mse\") eq \"nan\" ? 0 : column(\"floor_mse\")) nooutput\n"
        "floor = STATS_mean\n"
        "floor_text = floor > 0 ? sprintf(\"%%.1e\", floor) : \"not computed\"\n"
        "set multiplot title sprintf(\"Window size (paper Fig. 11): the threshold of window 2 at every size\\n"
        "mean over captured steps and layers; noise floor (fp32 vs fp64) MSE %%s\", floor_text)\n"
        "set lmargin at screen %.4f\n"
        "set rmargin at screen %.4f\n"
        "set xrange [%g:%g]\n"
        "# upper panel: savings (left) and MSE (right); x tic labels only on the lower panel\n"
        "set origin 0, %.4f\n"
        "set size 1, %.4f\n"
        "set bmargin 1\n"
        "set xtics (%s)\n"
        "set key outside top center horizontal Left reverse box samplen 2 width 2\n"
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
        "plot \"window.tsv\" using (column(\"window\")):(100*column(\"s_score\")) smooth unique with linespoints lw 2 pt 7 lc rgb \"#1f77b4\" title \"score savings s_score (left)\", \\\n"
        "     \"\" using (column(\"window\")):(100*column(\"s_attn\")) smooth unique with linespoints lw 2 pt 5 lc rgb \"#2ca02c\" title \"attention savings s_attn (left)\", \\\n"
        "     \"\" using (column(\"window\")):(column(\"mse\")) smooth unique axes x1y2 with linespoints lw 2 pt 9 lc rgb \"#d62728\" title sprintf(\"output MSE (right%%s)\", mse_lo > 0 ? \", log\" : \"\")\n"
        "# lower panel: query rows fully reused, on a linear axis fitted to its values\n"
        "unset y2tics\n"
        "unset y2label\n"
        "unset logscale y2\n"
        "set origin 0, 0\n"
        "set size 1, %.4f\n"
        "set bmargin 3.2\n"
        "set xtics (%s)\n"
        "set xlabel \"window size w (tokens)\" offset 0,0.3\n"
        "set ylabel \"rows reused (%%)\"\n"
        "rows_top = rows_hi > 0 ? rows_hi * 1.25 : 1.0\n"
        "set yrange [0 : rows_top]\n"
        "# about 4 tic steps of 1, 2 or 5 times a power of 10\n"
        "tic_m = 10.0**floor(log10(rows_top / 4.0)); tic_f = rows_top / 4.0 / tic_m\n"
        "set ytics mirror 0, tic_m * (tic_f < 1.5 ? 1 : tic_f < 3.5 ? 2 : tic_f < 7.5 ? 5 : 10)\n"
        "set format y \"%%g\"\n"
        "set key outside top center horizontal Left reverse box samplen 2 width 2\n"
        "if (!(rows_hi > 0)) set label 1 \"no query row fully reused at any window size\" at graph 0.5, graph 0.5 center\n"
        "plot \"window.tsv\" using (column(\"window\")):(100*column(\"rows_reused\")) smooth unique with linespoints lw 2 pt 4 "
        "lc rgb \"#17becf\" title \"query rows fully reused (%% of rows; none of their scores computed)\"\n"
        "unset multiplot\n",
        78 / (double)WIN_W, 1 - 110 / (double)WIN_W, wmin - 0.5, wmax + 0.5,
        WIN_LOWER / H, 1 - WIN_TITLE / H - WIN_LOWER / H, blank, WIN_LOWER / H, tics);
    return 0;
}

static void index_section(exp_run *r, FILE *md)
{
    const window_opts *o = r->opts;
    const window_state *st = r->state;
    static const char claim[] = "with the threshold of window 2 kept, larger windows give more savings at a higher "
                                "output error (Fig. 11).";
    const char *th = rtable_meta_get(r->tabs[0], "theta");
    fprintf(md, "Threshold: %s\n\n| window | score savings s_score | attention savings s_attn | output MSE | rel. L2 |\n"
                "|---:|---:|---:|---:|---:|\n", th ? th : "?");
    for (int k = 0; k < o->nwindows; k++)
        fprintf(md, "| %d | %.1f%% | %.1f%% | %.3g | %.3g |\n", o->windows[k], 100 * st->s_score[k],
                100 * st->s_attn[k], st->mse[k], st->rel_l2[k]);
    fprintf(md, "\n(means over %d row(s); windows in the order run)\n\n", exp_rows(r, 0));
    int n = o->nwindows, up_s = verdict_window(n, st->s_score, st->s_score) == VERDICT_AGREE,
        up_m = verdict_window(n, st->mse, st->mse) == VERDICT_AGREE;
    char res[512];
    snprintf(res, sizeof res, "%s — score savings %s with the window (%.1f%% at w=%d, %.1f%% at w=%d); MSE %s "
             "(%.3g to %.3g).", verdict_word(verdict_window(n, st->s_score, st->mse)), up_s ? "grow" : "do not grow",
             100 * st->s_score[0], o->windows[0], 100 * st->s_score[n - 1], o->windows[n - 1],
             up_m ? "grows" : "does not grow", st->mse[0], st->mse[n - 1]);
    paper_verdict(md, claim, res, "agree when the mean s_score and the mean MSE over units both do not decrease from "
                                  "one window size to the next (sizes in increasing order).");
}

static const exp_plot_def plots[] = {{"window", WIN_W, WIN_H, plot, NULL}};

const exp_def exp_window = {
    .name = "window", .paper = "Fig. 11", .title = "window size", .usage = usage,
    .opts_size = sizeof(window_opts), .defaults = defaults, .opts = opts, .check = check,
    .state_size = sizeof(window_state), .tables = tables, .ntables = 1,
    .plan = plan, .key = key, .row = compute, .finish = finish, .progress = "window",
    .plots = plots, .nplots = 1, .index = index_section,
    .claim = "larger windows give more savings at a higher error.",
};

int cmd_window(int argc, char **argv) { return exp_main(&exp_window, argc, argv); }
