/* ripple window (paper Fig. 11, Sec. 4.4): the ripple transform at window
 * sizes 2, 3, 4, 6, 8, every size at the threshold of window 2, over a sweep
 * of thresholds (regimes: multiples of the median window-2 delta, or given);
 * score and attention savings and output error per window size and regime.
 * The paper's two claims are judged: at the threshold of window 2, window 4
 * reuses more and errs more and larger windows save less (per regime), and
 * window 2 is the best trade-off (the lowest error at matched s_score). */
#include "experiments.h"
#include "scale.h"

#include <math.h>

#define WINDOW_MAX 16
#define REGIME_MAX VERDICT_MAX_SWEEP
typedef struct window_opts {
    double value; /* theta or alpha as given */
    int have_theta, have_alpha, have_thetas;
    double thetas[REGIME_MAX], scales[REGIME_MAX];
    int nthetas, nscales;
    int windows[WINDOW_MAX], nwindows;
    unsigned axes;
    int floor;
} window_opts;

typedef struct window_state {
    window_result result; /* first: what paper reads */
    double theta[REGIME_MAX], scale[REGIME_MAX]; /* the regimes: thresholds of every window size */
    int nr, median;                              /* how many; the regime at the median delta (-1: none) */
    double delta;                                /* the median window-2 delta (nan when not measured) */
    const char *rule;                            /* where the thresholds come from */
    /* means over the rows of each regime and window size (in the order of --windows) */
    double s_score[REGIME_MAX][WINDOW_MAX], mse[REGIME_MAX][WINDOW_MAX];
} window_state;

static const char usage[] =
    "Paper Fig. 11: the ripple transform with windows of 2, 3, 4, 6 and 8 tokens,\n"
    "every window size at the same threshold (the threshold of window 2), on every\n"
    "selected (step, layer) of the captures, for a sweep of thresholds (the paper's\n"
    "shape depends on the regime; matching savings across window sizes needs the\n"
    "sweep). Reports the score and attention savings, the fraction of fully reused\n"
    "query rows, and the output error against exact attention.\n\n"
    "%s";

#define OV(...) EXP_OPTV(window_opts, __VA_ARGS__)
static const exp_opt opts[] = {
    OV("theta", EXP_DOUBLE, value, .given = EXP_GIVEN(window_opts, have_theta), .lo = 0, .hi = INFINITY, .arg = "X",
       .excl = 1, .help = "one absolute threshold for every axis and window size"),
    OV("thetas", EXP_DOUBLES, thetas, .given = EXP_GIVEN(window_opts, have_thetas), .excl = 1,
       .count = offsetof(window_opts, nthetas), .max = REGIME_MAX, .lo = 0, .hi = INFINITY, .arg = "LIST",
       .help = "absolute thresholds, comma separated (one regime each)"),
    OV("scales", EXP_DOUBLES, scales, .count = offsetof(window_opts, nscales), .max = REGIME_MAX, .lo = 0, .hi = 1e6,
       .arg = "LIST", .excl = 1,
       .help = "thresholds as multiples of the median window-2 delta\n(default 0.25,0.5,1,2,4; 1 is the default rule below)"),
    OV("alpha", EXP_DOUBLE, value, .given = EXP_GIVEN(window_opts, have_alpha), .lo = 0, .hi = INFINITY, .arg = "X",
       .excl = 1, .help = "channel-wise thresholds instead: theta_a(c) = X * mean\n"
               "window delta of channel c (each window size uses its own\n"
               "window deltas, so the threshold is NOT that of window 2)\n"
               "Default rule (no --theta, --thetas, --alpha): the median "
               "window-2 delta |x0 - x1|/2 of q over every window-2 window of the "
               "enabled axes and grouped channels of the first selected "
               "unit (its selected heads), times each --scales value."),
    OV("windows", EXP_INTS, windows, .count = offsetof(window_opts, nwindows), .max = WINDOW_MAX, .lo = 2, .hi = 4096,
       .arg = "LIST", .help = "window sizes, comma separated, each >= 2\n(default 2,3,4,6,8)"),
    EXP_OPT_AXES(window_opts, axes),
    EXP_OPT_NO_FLOOR(window_opts, floor, "floor_mse"),
    {0}};
#undef OV

static const window_opts defaults = {.windows = {2, 3, 4, 6, 8}, .nwindows = 5, .axes = RIPPLE_AXES_ALL, .floor = 1,
                                     .scales = {0.25, 0.5, 1, 2, 4}, .nscales = 5};

static const exp_col cols[] = {EXP_UNIT_COLS, {"theta", 'n'}, {"window", 'i'}, {"theta_scale", 'n'}, EXP_REUSE_COLS};
enum { C_THETA = 3, C_WINDOW, C_SCALE };
static const exp_table_def tables[] = {EXP_TABLE("window", cols, 5, NULL)};

static int plan(exp_run *r)
{
    const window_opts *o = r->opts;
    window_state *st = r->state;
    char wl[256], tl[512] = "";
    const char *axes = cli_axes_str(o->axes);
    cli_join_ints(wl, sizeof wl, o->windows, o->nwindows);
    /* the regimes: given, or multiples of the median window-2 delta of the first unit */
    st->delta = NAN;
    st->median = -1;
    if (o->have_theta || o->have_alpha) {
        st->nr = 1, st->theta[0] = o->value, st->scale[0] = NAN;
        st->rule = o->have_theta ? "given (--theta)" : "given (--alpha, channel mode)";
    } else if (o->have_thetas) {
        st->nr = o->nthetas, st->rule = "given (--thetas)";
        for (int k = 0; k < st->nr; k++) st->theta[k] = o->thetas[k], st->scale[k] = NAN;
    } else {
        EXP_TRY(exp_q_scale(r, &SCALE_WINDOW2, o->axes, 2, &st->delta));
        st->nr = o->nscales;
        for (int k = 0; k < st->nr; k++) {
            st->scale[k] = o->scales[k], st->theta[k] = o->scales[k] * st->delta;
            if (o->scales[k] == 1) st->median = k;
        }
        st->rule = "scale x the median window-2 delta |x0-x1|/2 of q over the first unit (enabled axes, grouped channels)";
    }
    cli_join_doubles(tl, sizeof tl, st->theta, st->nr, 9);
    EXP_TRY(exp_openf(r, 0, 0, "window %s=%s rule=%s windows=%s axes=%s floor=%d", o->have_alpha ? "alpha" : "theta",
                      tl, o->have_theta || o->have_alpha || o->have_thetas ? "given" : "median-w2-scales", wl, axes,
                      o->floor));
    EXP_TRY(exp_meta(r, 0, "threshold_mode", "%s", o->have_alpha ? "channel (theta column holds alpha)" : "absolute"));
    EXP_TRY(exp_meta(r, 0, "theta", "%s (%s); each the same for every window size", tl, st->rule));
    if (!isnan(st->delta)) EXP_TRY(exp_meta(r, 0, "median_delta", "%.9g", st->delta));
    EXP_TRY(exp_meta(r, 0, "axes", "%s", axes));
    EXP_TRY(exp_meta(r, 0, "windows", "%s", wl));
    EXP_TRY(exp_meta(r, 0, "savings", "s_score = score savings (paper's computation savings); s_attn = s_score/2 "
                                      "= attention savings (QK^T share of QK^T+PV); rows_reused separate"));
    EXP_TRY(exp_meta(r, 0, "metrics", "against float32 exact attention, over all heads; floor_mse = float32 vs "
                                      "float64 exact attention (noise floor) of the unit"));
    r->njobs = st->nr * o->nwindows;
    EXP_TRY(exp_job_keys(r));
    for (int j = 0; j < r->njobs; j++) { /* job j: regime j / nwindows, window size j % nwindows */
        r->job_keys[j].v[C_THETA] = st->theta[j / o->nwindows];
        r->job_keys[j].v[C_WINDOW] = o->windows[j % o->nwindows];
    }
    return 0;
}

static int compute(exp_run *r, const exp_job *j, exp_row *row)
{
    const window_opts *o = r->opts;
    const window_state *st = r->state;
    const int k = j->job / o->nwindows;
    const ripple_threshold_mode mode = o->have_alpha ? RIPPLE_THRESHOLD_CHANNEL : RIPPLE_THRESHOLD_ABSOLUTE;
    const ripple_reuse_params p = exp_params(o->axes, o->windows[j->job % o->nwindows], 0, mode, st->theta[k]);
    row->v[C_SCALE] = st->scale[k];
    return exp_reuse_row(r, j, 0, &p, o->floor, "reuse", row, NULL);
}

/* Means per regime and window size (per job) over the units. */
static int finish(exp_run *r)
{
    const window_opts *o = r->opts;
    window_state *st = r->state;
    printf("ripple window: %s (%s), axes %s, %d unit(s)%s\n", o->have_alpha ? "alpha" : "theta", st->rule,
           cli_axes_str(o->axes), r->nunits, r->reused_rows[0] ? " (finished rows of an earlier run reused)" : "");
    st->result.mse_w2 = st->result.theta = NAN;
    int ref = st->median >= 0 ? st->median : 0; /* the regime paper passes on */
    st->result.theta = st->theta[ref];
    for (int k = 0; k < st->nr; k++)
        for (int w = 0; w < o->nwindows; w++) {
            const exp_mean *x = &r->means[k * o->nwindows + w]; /* the job of regime k, window w */
            st->s_score[k][w] = exp_mean_of(x, r, 0, "s_score"), st->mse[k][w] = exp_mean_of(x, r, 0, "mse");
            if (k == ref && o->windows[w] == 2) st->result.mse_w2 = st->mse[k][w];
        }
    exp_tab_means(stdout, 0, "theta:%10.4g|window:%6.0f|s_score:%8.2f%%|s_attn:%8.2f%%|rows_reused:%10.2f%%|mse:%12.4g|"
                  "rel_l2:%9.4g|cosine:%8.5f|psnr:%8.2f", r, 0, r->means, r->njobs);
    if (o->floor)
        printf("noise floor (fp32 vs fp64 exact attention): mse %.4g\n", exp_col_mean(r, 0, "floor_mse"));
    printf("(means over units; s_score = score savings, s_attn = attention savings)\n");
    printf("exact attention: %.3f s of %.3f s\n", r->exact_seconds, cli_now() - r->t0);
    return 0;
}

/* Three panels on one x axis (the run's window sizes as tics), one curve per
 * regime (threshold), each point the mean over the selected units: score
 * savings (%) above; the query rows fully reused (%) in the middle, on an
 * axis of their own (often well under 1%, they would lie on the x axis of a
 * 0-100% scale); output MSE below. */
static int plot(exp_run *r, exp_text *gp)
{
    const window_opts *o = r->opts;
    const window_state *st = r->state;
    int wmin = o->windows[0], wmax = o->windows[0];
    char tics[512] = "", blank[512] = "", tb[48]; /* the tics with and without labels */
    for (int i = 0; i < o->nwindows; i++) {
        wmin = o->windows[i] < wmin ? o->windows[i] : wmin;
        wmax = o->windows[i] > wmax ? o->windows[i] : wmax;
        cli_appendf(tics, sizeof tics, "%s\"%d\" %d", i ? ", " : "", o->windows[i], o->windows[i]);
        cli_appendf(blank, sizeof blank, "%s\"\" %d", i ? ", " : "", o->windows[i]);
    }
    static const char *const ys[] = {"s_score", "rows_reused", "mse"};
    exp_curve cv[3][REGIME_MAX];
    char where[REGIME_MAX][64], title[REGIME_MAX][96];
    for (int k = 0; k < st->nr; k++) { /* a regime's rows: its theta as printed in the TSV */
        snprintf(where[k], sizeof where[k], "theta=%s", rtable_format_num(tb, sizeof tb, st->theta[k]));
        if (isnan(st->scale[k])) snprintf(title[k], sizeof title[k], "%.3g", st->theta[k]);
        else snprintf(title[k], sizeof title[k], "%.3g (%gx median)", st->theta[k], st->scale[k]);
        for (int p = 0; p < 3; p++)
            cv[p][k] = (exp_curve){0, "window", ys[p], where[k], "linespoints lw 2 pt 7", .ys = p < 2 ? 100 : 1,
                                   .title = p ? NULL : title[k], .mean = 1};
    }
    const exp_panel panels[] = {
        {"score savings s_score (partial scores not computed)", .xtics = blank, .ylabel = "score savings (%)",
         .yrange = "[0:100]", .curves = cv[0], .ncurves = st->nr},
        {"query rows fully reused (% of rows; none of their scores computed)", .xtics = blank,
         .ylabel = "rows reused (%)", .log = EXP_LOG, .none = "no query row fully reused at any window size",
         .curves = cv[1], .ncurves = st->nr},
        {"output MSE vs exact attention", "window size w (tokens)", "output MSE", .xtics = tics, .log = EXP_LOG,
         .none = "every output MSE is 0", .curves = cv[2], .ncurves = st->nr}};
    const exp_figure fig = {"Window size (paper Fig. 11): every size at the threshold of window 2, one curve per "
                            "threshold\nmeans over captured steps and layers",
                            "outside right top Left reverse nobox samplen 2 title \"threshold\"", wmin - 0.5, wmax + 0.5,
                            28, 0, panels, 3};
    return exp_figure_gp(r, gp, &fig);
}

static void index_section(exp_run *r, FILE *md)
{
    const window_opts *o = r->opts;
    const window_state *st = r->state;
    fprintf(md, "Thresholds: %s%s. One row per threshold and window size (means over %d row(s)):\n\n", st->rule,
            isnan(st->delta) ? "" : "", exp_rows(r, 0));
    exp_tab_means(md, 1, "theta:%.4g|window:%.0f|score savings s_score@s_score:%.1f%%|attention savings s_attn@s_attn:"
                  "%.1f%%|rows fully reused@rows_reused:%.1f%%|output MSE@mse:%.3g|rel. L2@rel_l2:%.3g",
                  r, 0, r->means, r->njobs);
    /* claim 1, per regime */
    int agree = 0, judged = 0;
    char per[2048] = "";
    for (int k = 0; k < st->nr; k++) {
        int more, less;
        verdict_kind v = verdict_window_shape(o->nwindows, o->windows, st->s_score[k], st->mse[k], &more, &less);
        if (v == VERDICT_CANNOT_TELL) continue;
        judged++, agree += v == VERDICT_AGREE;
        cli_appendf(per, sizeof per, "%stheta %.3g: %s (w=4 %s; %s)", per[0] ? "; " : "", st->theta[k], verdict_word(v),
                    more ? "reuses and errs more than w=2" : "does not both reuse and err more than w=2",
                    less < 0 ? "no size above 4 run" : less ? "larger sizes save less" : "a larger size saves as much or more");
    }
    fprintf(md, "\n");
    exp_verdictf(md, "at the threshold of window 2 (TIMERIPPLE 85%'s), window 4 degrades quality through excessive "
                     "reuse, and windows above 4 lose speedup because fewer tokens meet the condition (Sec. 4.4, Fig. 11).",
                 "per threshold (regime): window 4 has a higher mean s_score and a higher mean MSE than window 2, "
                 "and every size above 4 a lower mean s_score than 4; agree when both hold at every threshold, "
                 "partly at some (the regime decides).",
                 "%s — the shape holds at %d of %d threshold(s): %s.", verdict_word(verdict_count(agree, judged)),
                 agree, judged, judged ? per : "not judged (the run needs window sizes 2 and 4)");
    /* claim 2: matched savings, window 2 first */
    int i2 = -1, idx[WINDOW_MAX], nw = 0;
    for (int w = 0; w < o->nwindows; w++)
        if (o->windows[w] == 2) i2 = w;
    double ss[WINDOW_MAX][VERDICT_MAX_SWEEP], ms[WINDOW_MAX][VERDICT_MAX_SWEEP], out[WINDOW_MAX][VERDICT_MAX_SWEEP];
    if (i2 >= 0) idx[nw++] = i2;
    for (int w = 0; w < o->nwindows && i2 >= 0; w++)
        if (w != i2) idx[nw++] = w;
    for (int a = 0; a < nw; a++)
        for (int k = 0; k < st->nr; k++) ss[a][k] = st->s_score[k][idx[a]], ms[a][k] = st->mse[k][idx[a]];
    verdict_kind v = verdict_window_matched(nw, st->nr, (const double(*)[VERDICT_MAX_SWEEP])ss,
                                            (const double(*)[VERDICT_MAX_SWEEP])ms, out, &agree, &judged);
    if (judged) {
        fprintf(md, "Output MSE at window 2's score savings (other sizes interpolated log-linearly between their own "
                    "thresholds; `-`: that size's sweep does not reach the saving):\n\n");
        char spec[512] = "s_score:%.1f%%";
        for (int a = 0; a < nw; a++)
            cli_appendf(spec, sizeof spec, "|w=%d:%%.3g", o->windows[idx[a]]);
        exp_tab_head(md, 1, spec);
        for (int k = 0; k < st->nr; k++) {
            double v[WINDOW_MAX + 1] = {ss[0][k]};
            for (int a = 0; a < nw; a++) v[a + 1] = out[a][k];
            if (!isnan(out[0][k])) exp_tab_row(md, 1, spec, NULL, v);
        }
        fprintf(md, "\n");
    }
    exp_verdictf(md, "a window of 2 gives the best trade-off (Sec. 4.4).",
                 "at each score savings that window 2 reaches over the threshold sweep, its mean MSE is at or below "
                 "every other size's MSE at the same s_score; agree when it is in every judged comparison, partly in "
                 "some (needs a sweep of at least two thresholds).",
                 "%s — window 2 has the lowest MSE in %d of %d matched comparisons.", verdict_word(v), agree, judged);
}

static const exp_plot_def plots[] = {{"window", 800, 900, plot, NULL}};

const exp_def exp_window = {
    .name = "window", .paper = "Fig. 11", .title = "window size", .usage = usage, .help_files = 1,
    .opts_size = sizeof(window_opts), .defaults = &defaults, .opts = opts,
    .state_size = sizeof(window_state), .tables = tables, .ntables = 1,
    .plan = plan, .row = compute, .finish = finish, .progress = "window",
    .plots = plots, .nplots = 1, .index = index_section,
    .claim = "window 2 is the best trade-off; window 4 reuses too much and larger windows save less.",
};
