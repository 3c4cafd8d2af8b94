/* ripple compare: reuse against the masking baselines at equal savings over a
 * sweep of thresholds (paper Fig. 7, Tables 2-4), on every selected
 * (capture, step, layer). Each unit is loaded once (q, k, v, exact attention),
 * every method and threshold runs on it, then it is freed. */
#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "rampfit.h"
#include "scale.h"
#include "evaluate.h"
#include "ripple/attnmap.h"
#include "ripple_version.h"
#include "table.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SWEEP 64
#define AUTO_POINTS 8
#define AUTO_LO 0.05 /* auto sweep: AUTO_LO .. AUTO_HI times the median window delta */
#define AUTO_HI 2.0

/* the methods of the registry (evaluate.h), in its order */
enum { M_REUSE = EVAL_REUSE, M_SKIP = EVAL_MASK_SKIP, M_MAG = EVAL_MASK_MAGNITUDE, M_SVG = EVAL_SVG,
       M_WINDOW = EVAL_WINDOW, M_TOPK = EVAL_ORACLE_TOPK, M_REUSE_T = EVAL_REUSE_T,
       M_REUSE_CHANNEL = EVAL_REUSE_CHANNEL, M_REUSE_RAMP = EVAL_REUSE_RAMP, M_COUNT = EVAL_METHOD_COUNT };
#define method_names(m) (eval_methods[m].name)
/* score-level methods (their own s_score); the others are attention-map masks */
static int is_attnmap(int m) { return eval_methods[m].attnmap; }
static int is_score_level(int m) { return !is_attnmap(m); }

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ripple compare CAPTURE... --out DIR [options]\n\n"
        "Reuse against the masking baselines at equal savings, over a sweep of\n"
        "thresholds, on every selected (capture, step, layer) (paper Fig. 7, Tables 2-4).\n"
        "Per unit and threshold theta: reuse, mask-skip and mask-magnitude (the same\n"
        "budget as reuse's mask), then the attention-map masks svg, window and\n"
        "oracle-topk at density 1 - s_attn(reuse at theta): the same ATTENTION savings.\n\n"
        "options:\n"
        "  --thetas LIST      absolute thresholds of the sweep, e.g. 0.01,0.02,0.05\n"
        "                     (default: %d values, geometric from %gx to %gx the median\n"
        "                     window delta of q over the first unit; printed and recorded)\n"
        "  --alphas LIST      coefficients of the channel-wise sweep (reuse-channel)\n"
        "                     (default: %d values, geometric from %g to %g); --alpha-sweep\n"
        "                     is the same option\n"
        "  --methods LIST     comma list of reuse, mask-skip, mask-magnitude, svg,\n"
        "                     window, oracle-topk (default: these six) and the variants\n"
        "                     reuse-t       reuse along t only, at the same thetas (Table 3)\n"
        "                     reuse-channel channel-wise thresholds over --alphas (Table 4)\n"
        "                     reuse-ramp    the thresholds of --ramp per step (Table 3)\n"
        "  --table3           add reuse-t (and reuse-ramp when --ramp is given)\n"
        "  --table4           add reuse-channel\n"
        "  --ramp FILE        a ramp (`ripple fit`): adds reuse-ramp, one point per unit\n"
        "                     at the ramp's threshold of its step\n"
        "  --axes SET         axes of reuse and its mask baselines (default thw;\n"
        "                     --axes t runs the whole comparison temporal-only)\n"
        "  --window W         reuse window size >= 2 (default 2)\n"
        "  --no-floor         skip the float64 noise floor (mse_floor = nan)\n"
        "%s\n"
        "Output in DIR: compare.tsv (one row per capture, step, layer, method,\n"
        "threshold), compare_summary.tsv (mean over units per method and threshold),\n"
        "compare.gp and compare.png: output MSE (log) against attention savings, one\n"
        "curve per method, the noise floor dashed; a second panel against score savings\n"
        "for the score-level methods.\n\n"
        "Savings: s_score = 1 - computed partial scores / (N^2 d) (the paper's\n"
        "\"computation savings\"); s_attn = s_score / 2, the share of attention FLOPs\n"
        "(QK^T + PV) spared. An attention-map mask of density D (fraction of the N^2\n"
        "score entries kept) spares QK^T and PV of the rest: s_attn = s_score = 1 - D.\n"
        "Text tokens: their query rows attend to all keys and every video row keeps\n"
        "all text keys (counted in D). threshold = theta for mode absolute, alpha for\n"
        "mode channel. mse etc. compare with float32 exact attention; mse_floor is\n"
        "float32 exact attention against a float64 reference on the same unit.\n",
        AUTO_POINTS, AUTO_LO, AUTO_HI, AUTO_POINTS, AUTO_LO, AUTO_HI, drv_common_help);
}

typedef struct {
    drv_opts d;
    int on[M_COUNT];
    double thetas[MAX_SWEEP], alphas[MAX_SWEEP];
    int nthetas, nalphas; /* 0 = automatic */
    unsigned axes;
    int window;
    const char *ramp_path;
    rampfit_ramp ramp;
    int floor;
} cmp_opts;

static int parse_list(const char *opt, const char *s, double *out)
{
    char buf[2048], *items[MAX_SWEEP];
    int n = cli_list(opt, s, buf, sizeof buf, items, MAX_SWEEP);
    for (int i = 0; i < n; i++) out[i] = cli_double(opt, items[i], 0, INFINITY);
    return n;
}

static void parse_methods(const char *s, int *on)
{
    char buf[512], *items[64];
    int n = cli_list("--methods", s, buf, sizeof buf, items, 64);
    memset(on, 0, sizeof(int) * M_COUNT);
    for (int i = 0; i < n; i++) {
        const char *tok = items[i];
        int m = -1;
        for (int i = 0; i < M_COUNT; i++)
            if (!strcmp(tok, method_names(i))) m = i;
        if (m < 0)
            cli_usage_error("--methods: unknown method '%s' (reuse, mask-skip, mask-magnitude, svg, "
                            "window, oracle-topk, reuse-t, reuse-channel, reuse-ramp)", tok);
        on[m] = 1;
    }
}

static void parse(int argc, char **argv, cmp_opts *o)
{
    enum { O_THETAS = 256, O_ALPHAS, O_METHODS, O_AXES, O_WINDOW, O_RAMP, O_TABLE3, O_TABLE4, O_NOFLOOR };
    static const struct option longopts[] = {
        DRV_COMMON_LONGOPTS,
        {"thetas", required_argument, 0, O_THETAS},   {"alphas", required_argument, 0, O_ALPHAS},
        {"alpha-sweep", required_argument, 0, O_ALPHAS}, {"methods", required_argument, 0, O_METHODS},
        {"axes", required_argument, 0, O_AXES},       {"window", required_argument, 0, O_WINDOW},
        {"ramp", required_argument, 0, O_RAMP},       {"table3", no_argument, 0, O_TABLE3},
        {"table4", no_argument, 0, O_TABLE4},         {"no-floor", no_argument, 0, O_NOFLOOR},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    drv_opts_init(&o->d);
    for (int m = 0; m <= M_TOPK; m++) o->on[m] = 1;
    o->axes = RIPPLE_AXES_ALL;
    o->window = 2;
    o->floor = 1;
    int table3 = 0, table4 = 0, methods_given = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (drv_common_option(&o->d, c, optarg)) continue;
        switch (c) {
        case 'h': usage(stdout); exit(CLI_EXIT_OK);
        case O_THETAS: o->nthetas = parse_list("--thetas", optarg, o->thetas); break;
        case O_ALPHAS: o->nalphas = parse_list("--alphas", optarg, o->alphas); break;
        case O_METHODS: parse_methods(optarg, o->on); methods_given = 1; break;
        case O_AXES: o->axes = cli_axes("--axes", optarg); break;
        case O_WINDOW: o->window = (int)cli_int("--window", optarg, 2, 1 << 20); break;
        case O_RAMP: o->ramp_path = cli_nonempty("--ramp", optarg); break;
        case O_TABLE3: table3 = 1; break;
        case O_TABLE4: table4 = 1; break;
        case O_NOFLOOR: o->floor = 0; break;
        case ':': cli_usage_error("option %s needs a value", argv[optind - 1]);
        default: cli_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    (void)methods_given;
    if (table3) o->on[M_REUSE_T] = 1;
    if (table4) o->on[M_REUSE_CHANNEL] = 1;
    if (o->ramp_path) o->on[M_REUSE_RAMP] = 1;
    if (o->on[M_REUSE_RAMP] && !o->ramp_path)
        cli_usage_error("reuse-ramp needs --ramp FILE (a ramp written by `ripple fit`)");
    if (o->nalphas && !o->on[M_REUSE_CHANNEL])
        cli_usage_error("--alphas sweeps reuse-channel: add --table4 or --methods ...,reuse-channel");
    drv_finish_options(&o->d, argc, argv, 1);
    if (o->ramp_path) {
        char err[RAMPFIT_ERR];
        if (rampfit_load(o->ramp_path, &o->ramp, err)) cli_data_error("%s", err);
    }
}

/* ------------------------------------------------------------ the sweep */

/* The threshold scale (SCALE_SWEEP) of q of the first unit (read only q:
 * no attention needed). */
static double median_delta(const drv_units *u, const cmp_opts *o)
{
    const drv_unit_id *id = &u->ids[0];
    src *source = &u->srcs[id->capture];
    const ripple_layout *lay = &source->info->layout;
    int64_t hi = o->d.head_hi < 0 ? source->info->num_heads : o->d.head_hi, nh = hi - o->d.head_lo;
    size_t per = (size_t)lay->seq_len * (size_t)lay->head_dim;
    float *q = cli_alloc(per * (size_t)nh, sizeof *q, "q of the first unit");
    src_unit su = {id->step, id->layer, id->timestep};
    ripple_status s = src_read(source, &su, RIPPLE_TENSOR_Q, o->d.head_lo, nh, q);
    if (s) cli_lib_error(s, "cannot read q");
    double med;
    const float *qs[1] = {q};
    if ((s = scale_median(lay, &SCALE_SWEEP, o->axes, o->window, 1, nh, qs, NULL, &med)))
        cli_lib_error(s, "window deltas");
    free(q);
    return med;
}

static void geometric(double lo, double hi, int n, double *out)
{
    for (int i = 0; i < n; i++) out[i] = lo * pow(hi / lo, (double)i / (double)(n - 1));
}

static const char *list_str(const double *x, int n, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len + 24 < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%.6g", i ? "," : "", x[i]);
    return buf;
}

/* ---------------------------------------------------------------- rows */

static const char *const columns[] = {"capture", "step", "layer", "method", "threshold", "mode", "axes",
    "window", "timestep", "density_target", "density", "s_score", "s_attn", "rows_reused", "mse", "rel_l2",
    "cosine", "psnr", "max_abs", "mse_floor", "detail"};
enum { NCOLS = (int)(sizeof columns / sizeof columns[0]), KEYS = 5 };

/* One job of a unit: a method at a threshold. */
typedef struct {
    int method;
    int slot; /* index of the threshold in its sweep (summary slot) */
    double threshold;
    ripple_threshold_mode mode;
    unsigned axes;
} job;

/* Summary accumulator per (method, slot). */
typedef struct {
    int n;
    double threshold, s_score, s_attn, density, rows_reused, mse, rel_l2, cosine, floor;
    int nfloor;
} acc;

typedef struct {
    double s_score, s_attn, density, rows_reused, mse, rel_l2, cosine, floor;
} rowvals;

static double cell_num(const char *s) { return s ? strtod(s, NULL) : NAN; }

static void acc_add(acc *a, double threshold, const rowvals *r)
{
    a->n++;
    a->threshold += threshold;
    a->s_score += r->s_score;
    a->s_attn += r->s_attn;
    a->density += isnan(r->density) ? 0 : r->density;
    a->rows_reused += isnan(r->rows_reused) ? 0 : r->rows_reused;
    a->mse += r->mse;
    a->rel_l2 += r->rel_l2;
    a->cosine += r->cosine;
    if (!isnan(r->floor)) a->floor += r->floor, a->nfloor++;
}

typedef struct {
    const char *capture;
    char step[DRV_CELL], layer[DRV_CELL], thr[DRV_CELL];
    const char *key[KEYS];
} rowkey;

static void make_key(rowkey *k, const char *capture, int step, int layer, const job *j)
{
    k->capture = capture;
    drv_int(k->step, step);
    drv_int(k->layer, layer);
    drv_num(k->thr, j->threshold);
    k->key[0] = capture;
    k->key[1] = k->step;
    k->key[2] = k->layer;
    k->key[3] = method_names(j->method);
    k->key[4] = k->thr;
}

static void read_old(const drv_tsv *t, const rowkey *k, rowvals *r)
{
    r->s_score = cell_num(drv_tsv_get(t, k->key, "s_score"));
    r->s_attn = cell_num(drv_tsv_get(t, k->key, "s_attn"));
    r->density = cell_num(drv_tsv_get(t, k->key, "density"));
    r->rows_reused = cell_num(drv_tsv_get(t, k->key, "rows_reused"));
    r->mse = cell_num(drv_tsv_get(t, k->key, "mse"));
    r->rel_l2 = cell_num(drv_tsv_get(t, k->key, "rel_l2"));
    r->cosine = cell_num(drv_tsv_get(t, k->key, "cosine"));
    r->floor = cell_num(drv_tsv_get(t, k->key, "mse_floor"));
}

/* Writes a finished row and returns in *r its values as read back from the
 * cells written: the summary then averages the same numbers whether a row
 * was computed in this run or reused from an earlier one, so a resumed run
 * gives byte-identical summaries. */
static void write_row(drv_tsv *t, const rowkey *k, const job *j, double timestep, int window,
                      double density_target, const ripple_savings *sv, double density,
                      const ripple_metrics *m, double floor, const char *detail, rowvals *r)
{
    char b[16][DRV_CELL], axes[4];
    const char *cells[NCOLS] = {k->key[0], k->key[1], k->key[2], k->key[3], k->key[4],
        j->mode == RIPPLE_THRESHOLD_CHANNEL ? "channel" : "absolute", cli_axes_str(j->axes, axes),
        drv_int(b[0], window), drv_num(b[1], timestep), drv_num(b[2], density_target),
        drv_num(b[3], density), drv_num(b[4], sv->s_score), drv_num(b[5], sv->s_attn),
        drv_num(b[6], is_attnmap(j->method) ? NAN : sv->rows_reused), drv_num(b[7], m->mse),
        drv_num(b[8], m->rel_l2), drv_num(b[9], m->cosine), drv_num(b[10], m->psnr),
        drv_num(b[11], m->max_abs), drv_num(b[12], floor), detail};
    drv_tsv_row(t, cells);
    *r = (rowvals){cell_num(b[4]), cell_num(b[5]), cell_num(b[3]), cell_num(b[6]),
                   cell_num(b[7]), cell_num(b[8]), cell_num(b[9]), cell_num(b[12])};
}

/* v as it reads back from its cell. */
static double as_cell(double v)
{
    char b[DRV_CELL];
    return cell_num(drv_num(b, v));
}

/* ----------------------------------------------------------------- plot */

/* Fixed colour and point type per method, so every figure reads alike:
 * score-level methods circles, attention-map masks squares, the ramp a
 * large triangle (one point). */

/* Appends one panel's plot command: x = 100 * column xcol, y = mse (on a
 * log axis, logy, only mse > 0). */
static void plot_panel(const cmp_opts *o, const char *xcol, int score_only, int logy, char *body, size_t size)
{
    size_t len = strlen(body);
    int first = 1;
    for (int m = 0; m < M_COUNT; m++) {
        if (!o->on[m] || (score_only && !is_score_level(m))) continue;
        int pt = is_attnmap(m) ? 5 : m == M_REUSE_RAMP ? 9 : 7;
        len += (size_t)snprintf(body + len, size - len,
            "%sS using (strcol(\"method\") eq \"%s\" ? 100*column(\"%s\") : NaN):"
            "%s lw %d pt %d ps %.1f lc rgb \"%s\" title \"%s\"",
            first ? "plot " : ", \\\n     ", method_names(m), xcol,
            logy ? "(column(\"mse\") > 0 ? column(\"mse\") : NaN)" : "(column(\"mse\"))", m == M_REUSE ? 3 : 2, pt,
            m == M_REUSE_RAMP ? 2.0 : 0.9, eval_methods[m].color, method_names(m));
        first = 0;
    }
    if (o->floor)
        len += (size_t)snprintf(body + len, size - len,
            ", \\\n     floor with lines dt 2 lw 2 lc rgb \"black\" title \"fp32 noise floor\"");
    snprintf(body + len, size - len, "\n");
}

/* logy: some mean mse is > 0 (else, with nothing reused, every mse is 0 and
 * a log axis would have no point to draw: the axis is linear). */
static int plot(const cmp_opts *o, int logy)
{
    char body[16384];
    snprintf(body, sizeof body,
        "# Reads compare_summary.tsv (mean over units per method and threshold),\n"
        "# written by the same run as compare.tsv.\n"
        "S = \"compare_summary.tsv\"\n"
        "set datafile columnheaders\n"
        "%s"
        "set key outside right top Left reverse box samplen 2 spacing 1.1 width 1\n"
        "%s"
        "set ylabel \"output MSE vs exact attention\"\n"
        "set style data linespoints\n"
        "set multiplot layout 2,1\n"
        "set title \"Reuse vs masking at equal attention savings (mean over units)\"\n"
        "set xlabel \"attention savings s_attn (%% of QK^T + PV FLOPs)\"\n",
        o->floor ? "stats S using (column(\"mse_floor\") > 0 ? column(\"mse_floor\") : NaN) nooutput\n"
                   "floor = STATS_mean\n" : "",
        logy ? "set logscale y\nset format y \"%.0e\"\n"
             : "set yrange [0:1]\nset format y \"%.1f\"\n"
               "set label 1 \"every output MSE is 0\" at graph 0.5, graph 0.6 center\n");
    plot_panel(o, "s_attn", 0, logy, body, sizeof body);
    size_t len = strlen(body);
    snprintf(body + len, sizeof body - len,
        "set title \"Score-level methods at equal score savings\"\n"
        "set xlabel \"score savings s_score (%% of partial scores q_c k_c)\"\n");
    plot_panel(o, "s_score", 1, logy, body, sizeof body);
    len = strlen(body);
    snprintf(body + len, sizeof body - len, "unset multiplot\n");
    return drv_plot(&o->d, "compare", body, 800, 1000);
}

/* ------------------------------------------------------------------ main */

int cmd_compare(int argc, char **argv)
{
    cmp_opts o;
    parse(argc, argv, &o);
    drv_units units;
    drv_units_open(&units, &o.d);

    char buf[4096];
    double med = NAN;
    if (!o.nthetas && (o.on[M_REUSE] || o.on[M_SKIP] || o.on[M_MAG] || o.on[M_SVG] || o.on[M_WINDOW] ||
                       o.on[M_TOPK] || o.on[M_REUSE_T])) {
        med = median_delta(&units, &o);
        if (!(med > 0)) cli_data_error("the first unit has no window deltas (no reusable channels?); give --thetas");
        geometric(AUTO_LO * med, AUTO_HI * med, AUTO_POINTS, o.thetas);
        o.nthetas = AUTO_POINTS;
        fprintf(stderr, "ripple compare: thetas %s (%gx to %gx the median window delta %.4g of q)\n",
                list_str(o.thetas, o.nthetas, buf, sizeof buf), AUTO_LO, AUTO_HI, med);
    }
    if (o.on[M_REUSE_CHANNEL] && !o.nalphas) {
        geometric(AUTO_LO, AUTO_HI, AUTO_POINTS, o.alphas);
        o.nalphas = AUTO_POINTS;
    }

    /* jobs of every unit */
    job jobs[M_COUNT * MAX_SWEEP];
    int njobs = 0;
    for (int i = 0; i < o.nthetas; i++)
        for (int m = M_REUSE; m <= M_REUSE_T; m++)
            if (o.on[m])
                jobs[njobs++] = (job){m, i, o.thetas[i], RIPPLE_THRESHOLD_ABSOLUTE,
                                      m == M_REUSE_T ? RIPPLE_AXIS_BIT(RIPPLE_AXIS_T) : o.axes};
    for (int i = 0; o.on[M_REUSE_CHANNEL] && i < o.nalphas; i++)
        jobs[njobs++] = (job){M_REUSE_CHANNEL, i, o.alphas[i], RIPPLE_THRESHOLD_CHANNEL, o.axes};
    if (o.on[M_REUSE_RAMP]) jobs[njobs++] = (job){M_REUSE_RAMP, 0, 0, o.ramp.mode, o.axes};

    /* everything that changes the rows goes into the options line */
    char methods[256] = "", th[1024], al[1024], axes[4], capl[2048] = "";
    for (int m = 0; m < M_COUNT; m++)
        if (o.on[m]) strcat(strcat(methods, methods[0] ? "," : ""), method_names(m));
    for (int c = 0; c < o.d.ncaptures; c++)
        if (strlen(capl) + strlen(o.d.captures[c]) + 2 < sizeof capl)
            strcat(strcat(capl, c ? "," : ""), o.d.captures[c]);
    char ramp_desc[256] = "none";
    if (o.ramp_path)
        snprintf(ramp_desc, sizeof ramp_desc, "%s mode=%s theta_start=%g theta_end=%g i_min=%d i_max=%d num_steps=%d",
                 o.ramp_path, o.ramp.mode == RIPPLE_THRESHOLD_CHANNEL ? "channel" : "absolute",
                 o.ramp.theta_start, o.ramp.theta_end, o.ramp.i_min, o.ramp.i_max, o.ramp.num_steps);
    char options[4096];
    snprintf(options, sizeof options, "captures=%s %s methods=%s thetas=%s alphas=%s axes=%s window=%d ramp=%s floor=%d",
             capl, drv_selection_str(&o.d), methods, list_str(o.thetas, o.nthetas, th, sizeof th),
             list_str(o.alphas, o.nalphas, al, sizeof al), cli_axes_str(o.axes, axes), o.window, ramp_desc,
             o.floor);

    drv_tsv *t = drv_tsv_open(&o.d, "compare", NCOLS, columns, KEYS, options);
    drv_tsv_meta(t, "command", "ripple compare");
    for (int c = 0; c < o.d.ncaptures; c++)
        drv_tsv_meta(t, "capture", "%s (model %s)", o.d.captures[c], units.srcs[c].info->model);
    drv_tsv_meta(t, "backend", "%s", ripple_backend_name(o.d.backend));
    if (!isnan(med))
        drv_tsv_meta(t, "thetas", "%s: %d values, %gx to %gx the median window delta %.6g of q (first unit)",
                     th, AUTO_POINTS, AUTO_LO, AUTO_HI, med);
    else drv_tsv_meta(t, "thetas", "%s", th);
    if (o.nalphas) drv_tsv_meta(t, "alphas", "%s (reuse-channel: theta_a(c) = alpha * mean window delta(c))", al);
    drv_tsv_meta(t, "threshold", "theta (mode absolute) or alpha (mode channel); reuse-ramp: the ramp's theta of the step");
    drv_tsv_meta(t, "savings", "s_score = 1 - computed partial scores/(N^2 d); s_attn = s_score/2 for score-level "
                 "methods; attention-map masks: s_attn = s_score = 1 - density");
    drv_tsv_meta(t, "matching", "svg, window, oracle-topk at density_target = 1 - s_attn(reuse at the same theta)");
    drv_tsv_meta(t, "text_tokens", "text query rows attend to all keys; video rows keep all text keys (counted in density)");
    drv_tsv_meta(t, "svg", "per head spatial (own frame) or temporal (own position) mask, lower MSE on 64 sampled "
                 "video rows (float64, fixed seed), widened to the target density");
    drv_tsv_meta(t, "metrics", "against float32 exact attention of the unit; mse_floor = float32 exact vs float64");

    acc *sum = calloc((size_t)M_COUNT * MAX_SWEEP, sizeof *sum);
    if (!sum) cli_data_error("out of memory");
    int64_t total = (int64_t)units.n * njobs, done = 0, reused = 0;
    for (int ui = 0; ui < units.n; ui++) {
        const drv_unit_id *id = &units.ids[ui];
        const char *capture = o.d.captures[id->capture];
        rowkey keys[M_COUNT * MAX_SWEEP];
        int missing = 0;
        for (int j = 0; j < njobs; j++) {
            job jb = jobs[j];
            if (jb.method == M_REUSE_RAMP) jb.threshold = rampfit_theta(&o.ramp, id->step);
            make_key(&keys[j], capture, id->step, id->layer, &jb);
            missing += !drv_tsv_has(t, keys[j].key);
        }
        eval_unit u;
        int loaded = 0;
        double floor = NAN;
        if (missing) {
            drv_unit_load(&units, &o.d, ui, &u);
            loaded = 1;
            ripple_metrics fm;
            ripple_status s;
            if (o.floor) {
                if ((s = eval_noise_floor(&u, &fm))) cli_lib_error(s, "noise floor");
                floor = fm.mse;
            }
        }
        double reuse_s_attn[MAX_SWEEP];
        for (int i = 0; i < MAX_SWEEP; i++) reuse_s_attn[i] = NAN;
        for (int j = 0; j < njobs; j++) {
            job jb = jobs[j];
            const rowkey *k = &keys[j];
            if (jb.method == M_REUSE_RAMP) jb.threshold = rampfit_theta(&o.ramp, id->step);
            rowvals r;
            if (drv_tsv_has(t, k->key)) {
                read_old(t, k, &r);
                reused++;
                if (jb.method == M_REUSE) reuse_s_attn[jb.slot] = r.s_attn;
            } else {
                if (!loaded) cli_data_error("internal: unit not loaded");
                ripple_savings sv;
                ripple_metrics m;
                ripple_status s;
                double density = NAN, target = NAN;
                char detail[128] = "-";
                if (is_attnmap(jb.method)) {
                    if (isnan(reuse_s_attn[jb.slot])) {
                        /* reuse not selected or not run yet: its savings fix the budget */
                        ripple_reuse_params rp = {.axes = o.axes, .window = o.window, .mode = RIPPLE_THRESHOLD_ABSOLUTE,
                                                  .theta = {jb.threshold, jb.threshold, jb.threshold}};
                        if ((s = eval_run(&u, EVAL_REUSE, &rp, &sv, &m))) cli_lib_error(s, "reuse");
                        reuse_s_attn[jb.slot] = as_cell(sv.s_attn); /* as a reused reuse row gives it */
                    }
                    target = 1.0 - reuse_s_attn[jb.slot];
                    if ((s = eval_run_map(&u, (eval_method)jb.method, target, &sv, &m, &density, detail,
                                          sizeof detail)))
                        cli_lib_error(s, method_names(jb.method));
                } else {
                    ripple_reuse_params rp = {.axes = jb.axes, .window = o.window, .mode = jb.mode,
                                              .theta = {jb.threshold, jb.threshold, jb.threshold}};
                    if ((s = eval_run(&u, (eval_method)jb.method, &rp, &sv, &m)))
                        cli_lib_error(s, method_names(jb.method));
                }
                write_row(t, k, &jb, id->timestep, o.window, target, &sv, density, &m, floor, detail, &r);
                if (jb.method == M_REUSE) reuse_s_attn[jb.slot] = r.s_attn;
            }
            acc_add(&sum[jb.method * MAX_SWEEP + jb.slot], jb.threshold, &r);
            cli_progress("compare", ++done, total);
        }
        if (loaded) eval_unit_free(&u);
    }
    cli_progress_done();
    const char *tsv_path = drv_tsv_close(t);
    char tsv_copy[4096];
    snprintf(tsv_copy, sizeof tsv_copy, "%s", tsv_path);
    drv_append_timing(tsv_copy);
    if (reused) fprintf(stderr, "ripple compare: reused %lld of %lld rows from an earlier run\n",
                        (long long)reused, (long long)total);

    /* summary: mean over units per (method, threshold) */
    static const char *const scols[] = {"method", "mode", "threshold", "units", "s_score", "s_attn", "density",
        "rows_reused", "mse", "rel_l2", "cosine", "mse_floor"};
    static const char *const tcols[] = {"method", "threshold", "s_attn", "s_score", "mse", "rel_l2", "cosine"};
    int any_mse = 0; /* some mean mse > 0: the figure's y axis can be logarithmic */
    rtable *st = rtable_new((int)(sizeof scols / sizeof scols[0]), scols);
    rtable *tt = rtable_new((int)(sizeof tcols / sizeof tcols[0]), tcols);
    if (!st || !tt) cli_data_error("out of memory");
    rtable_meta(st, "command", "ripple compare (summary of compare.tsv)");
    rtable_meta(st, "ripple", "%s", RIPPLE_GIT_DESCRIBE);
    rtable_meta(st, "options", "%s", options);
    rtable_meta(st, "summary", "mean over the %d selected units of each column; reuse-ramp: one row, threshold = "
                "mean ramp theta", units.n);
    rtable_meta(st, "savings", "fractions; s_attn = attention savings, s_score = score savings (see compare.tsv)");
    for (int m = 0; m < M_COUNT; m++)
        for (int i = 0; i < MAX_SWEEP; i++) {
            acc *a = &sum[m * MAX_SWEEP + i];
            if (!a->n) continue;
            double n = (double)a->n;
            rtable_add_row(st);
            rtable_set_str(st, "method", method_names(m));
            rtable_set_str(st, "mode", m == M_REUSE_CHANNEL || (m == M_REUSE_RAMP && o.ramp.mode == RIPPLE_THRESHOLD_CHANNEL)
                                           ? "channel" : "absolute");
            rtable_set_num(st, "threshold", a->threshold / n);
            rtable_set_int(st, "units", a->n);
            rtable_set_num(st, "s_score", a->s_score / n);
            rtable_set_num(st, "s_attn", a->s_attn / n);
            rtable_set_num(st, "density", is_attnmap(m) ? a->density / n : NAN);
            rtable_set_num(st, "rows_reused", is_attnmap(m) ? NAN : a->rows_reused / n);
            rtable_set_num(st, "mse", a->mse / n);
            any_mse |= a->mse / n > 0;
            rtable_set_num(st, "rel_l2", a->rel_l2 / n);
            rtable_set_num(st, "cosine", a->cosine / n);
            rtable_set_num(st, "mse_floor", a->nfloor ? a->floor / a->nfloor : NAN);
            rtable_add_row(tt);
            rtable_set_str(tt, "method", method_names(m));
            rtable_set_num(tt, "threshold", a->threshold / n);
            rtable_set_num(tt, "s_attn", a->s_attn / n);
            rtable_set_num(tt, "s_score", a->s_score / n);
            rtable_set_num(tt, "mse", a->mse / n);
            rtable_set_num(tt, "rel_l2", a->rel_l2 / n);
            rtable_set_num(tt, "cosine", a->cosine / n);
        }
    char spath[4200];
    snprintf(spath, sizeof spath, "%s/compare_summary.tsv", o.d.out_dir);
    if (rtable_save_tsv(st, spath)) cli_data_error("cannot write %s", spath);
    if (rtable_write_pretty(tt, stdout) || fflush(stdout)) cli_data_error("cannot write to standard output");
    rtable_free(st);
    rtable_free(tt);
    free(sum);

    int plot_rc = plot(&o, any_mse);
    if (plot_rc == 0)
        fprintf(stderr, "ripple compare: wrote %s, %s, %s/compare.gp and the figure %s/compare.png\n", tsv_copy,
                spath, o.d.out_dir, o.d.out_dir);
    else
        fprintf(stderr, "ripple compare: wrote %s, %s and %s/compare.gp (no figure)\n", tsv_copy, spath, o.d.out_dir);
    drv_units_close(&units);
    return drv_exit_status(plot_rc);
}
