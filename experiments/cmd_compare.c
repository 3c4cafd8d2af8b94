/* ripple compare: reuse against the masking baselines at equal savings over a
 * sweep of thresholds (paper Fig. 7, Tables 2-4), on every selected
 * (capture, step, layer). Each unit is loaded once (q, k, v, exact attention),
 * every method and threshold runs on it, then it is freed. The methods are
 * those of the registry (evaluate.h); the attention-map masks take the
 * attention savings of reuse at the same threshold as their budget. */
#include "experiments.h"
#include "scale.h"

#include <math.h>
#include <string.h>

#define AUTO_POINTS 8
#define AUTO_LO 0.05 /* auto sweep: AUTO_LO .. AUTO_HI times the median window delta */
#define AUTO_HI 2.0

#define COMPARE_MAX_SWEEP 64
typedef struct compare_opts {
    unsigned methods; /* bits of eval_method */
    double thetas[COMPARE_MAX_SWEEP], alphas[COMPARE_MAX_SWEEP];
    int nthetas, nalphas; /* 0 = automatic */
    unsigned axes;
    int window, floor, table3, table4;
    const char *ramp_path;
} compare_opts;

static const char usage[] =
    "Reuse against the masking baselines at equal savings, over a sweep of\n"
    "thresholds, on every selected (capture, step, layer) (paper Fig. 7, Tables 2-4).\n"
    "Per unit and threshold theta: reuse, mask-skip and mask-magnitude (the same\n"
    "budget as reuse's mask), then the attention-map masks svg, window and\n"
    "oracle-topk at density 1 - s_attn(reuse at theta): the same ATTENTION savings.\n"
    "The figure: output MSE (log, fitted to the data) against attention savings,\n"
    "one curve per method, the noise floor dashed (or, when it lies far below the\n"
    "data, its value in the titles); a second panel against score savings for the\n"
    "score-level methods.\n\n"
    "%s"
    "An attention-map mask of density D (fraction of the N^2 score entries kept)\n"
    "spares QK^T and PV of the rest: s_attn = s_score = 1 - D.\n"
    "Text tokens: their query rows attend to all keys and every video row keeps\n"
    "all text keys (counted in D). threshold = theta for mode absolute, alpha for\n"
    "mode channel. mse etc. compare with float32 exact attention; mse_floor is\n"
    "float32 exact attention against a float64 reference on the same unit.\n";

#define ON(o, m) (((o)->methods & EVAL_BIT(m)) != 0)

static int parse_methods(exp_run *r, void *opts, const char *arg)
{
    char err[CLI_ERR];
    compare_opts *o = opts;
    return cli_parse_methods("--methods", arg, &o->methods, err) ? exp_fail(r, EXP_USAGE, "%s", err) : 0;
}

static const compare_opts defaults = {.methods = EVAL_BIT(EVAL_ORACLE_TOPK + 1) - 1, .axes = RIPPLE_AXES_ALL,
                                      .window = 2, .floor = 1};

#define OV(...) EXP_OPTV(compare_opts, __VA_ARGS__)
static const exp_opt opts[] = {
    OV("thetas", EXP_DOUBLES, thetas, .count = offsetof(compare_opts, nthetas), .max = COMPARE_MAX_SWEEP, .lo = 0,
       .hi = INFINITY, .arg = "LIST", .help = "absolute thresholds of the sweep, e.g. 0.01,0.02,0.05 "
                                             "(default: 8 values, geometric from 0.05x to 2x the median "
                                             "window delta of q over the first unit; printed and recorded)"),
    OV("alphas", EXP_DOUBLES, alphas, .count = offsetof(compare_opts, nalphas), .max = COMPARE_MAX_SWEEP, .lo = 0,
       .hi = INFINITY, .arg = "LIST", .help = "coefficients of the channel-wise sweep (reuse-channel) "
                                             "(default: 8 values, geometric from 0.05 to 2); --alpha-sweep "
                                             "is the same option"),
    OV("alpha-sweep", EXP_DOUBLES, alphas, .count = offsetof(compare_opts, nalphas), .max = COMPARE_MAX_SWEEP, .lo = 0, .hi = INFINITY),
    OV("methods", EXP_CUSTOM, methods, .parse = parse_methods, .arg = "LIST",
       .help = "comma list of reuse, mask-skip, mask-magnitude, svg,\n"
               "window, oracle-topk (default: these six) and the variants\n"
               "reuse-t       along t only, at the same thetas (Table 3)\n"
               "reuse-channel channel-wise thresholds of --alphas (Table 4)\n"
               "reuse-ramp    the thresholds of --ramp per step (Table 3)"),
    OV("table3", EXP_FLAG, table3, .help = "add reuse-t (and reuse-ramp when --ramp is given)"),
    OV("table4", EXP_FLAG, table4, .help = "add reuse-channel"),
    OV("ramp", EXP_TEXT, ramp_path, .arg = "FILE", .help = "a ramp (`ripple fit`): adds reuse-ramp, one point per unit\n"
                                                          "at the ramp's threshold of its step"),
    OV("axes", EXP_AXES, axes, .arg = "SET", .help = "axes of reuse and its mask baselines (default thw;\n"
                                                    "--axes t runs the whole comparison temporal-only)"),
    EXP_OPT_WINDOW(compare_opts, window),
    EXP_OPT_NO_FLOOR(compare_opts, floor, "mse_floor"),
    {0}};
#undef OV

static int check(exp_run *r)
{
    compare_opts *o = r->opts;
    if (o->table3) o->methods |= EVAL_BIT(EVAL_REUSE_T);
    if (o->table4) o->methods |= EVAL_BIT(EVAL_REUSE_CHANNEL);
    if (o->ramp_path) o->methods |= EVAL_BIT(EVAL_REUSE_RAMP);
    if (ON(o, EVAL_REUSE_RAMP) && !o->ramp_path)
        return exp_fail(r, EXP_USAGE, "reuse-ramp needs --ramp FILE (a ramp written by `ripple fit`)");
    if (o->nalphas && !ON(o, EVAL_REUSE_CHANNEL))
        return exp_fail(r, EXP_USAGE, "--alphas sweeps reuse-channel: add --table4 or --methods ...,reuse-channel");
    return 0;
}

static const exp_col cols[] = {{"capture", 's'}, {"step", 'i'}, {"layer", 'i'}, {"method", 's'}, {"threshold", 'n'},
    {"mode", 's'}, {"axes", 's'}, {"window", 'i'}, {"timestep", 'n'}, {"density_target", 'n'}, {"density", 'n'},
    {"s_score", 'n'}, {"s_attn", 'n'}, {"rows_reused", 'n'}, {"mse", 'n'}, {"rel_l2", 'n'}, {"cosine", 'n'},
    {"psnr", 'n'}, {"max_abs", 'n'}, {"mse_floor", 'n'}, {"detail", 's'}};
enum { C_THRESHOLD = 4, C_MODE, C_AXES, C_WINDOW };
static const exp_col summary_cols[] = {{"method", 's'}, {"mode", 's'}, {"threshold", 'n'}, {"units", 'i'},
    {"s_score", 'n'}, {"s_attn", 'n'}, {"density", 'n'}, {"rows_reused", 'n'}, {"mse", 'n'}, {"rel_l2", 'n'},
    {"cosine", 'n'}, {"mse_floor", 'n'}};
enum { T_ROWS, T_SUMMARY };
static const exp_table_def tables[] = {
    EXP_TABLE("compare", cols, 5, NULL),
    EXP_TABLE("compare_summary", summary_cols, 0, "mean over units per method and threshold")};

/* One job of a unit: a method at a threshold (slot: its index in the sweep). */
typedef struct {
    int method, slot;
    double threshold;
    ripple_threshold_mode mode;
    unsigned axes;
} job;

typedef struct {
    rampfit_ramp ramp;
    double thetas[COMPARE_MAX_SWEEP], alphas[COMPARE_MAX_SWEEP];
    int nthetas, nalphas;
    job jobs[EVAL_METHOD_COUNT * COMPARE_MAX_SWEEP];
    char options[4096];
    /* s_attn of reuse per slot when reuse is not among the methods, for the unit in cache_group */
    int cache_group;
    double reuse_sattn[COMPARE_MAX_SWEEP];
} compare_state;

static void geometric(double lo, double hi, int n, double *out)
{
    for (int i = 0; i < n; i++) out[i] = lo * pow(hi / lo, (double)i / (double)(n - 1));
}

static int plan(exp_run *r)
{
    const compare_opts *o = r->opts;
    compare_state *st = r->state;
    char err[RAMPFIT_ERR], th[1024], al[1024], caps[2048], methods[256], sel[256], ramp_desc[256] = "none";
    if (o->ramp_path && rampfit_load(o->ramp_path, &st->ramp, err)) return exp_fail(r, EXP_DATA, "%s", err);
    memcpy(st->thetas, o->thetas, sizeof st->thetas);
    memcpy(st->alphas, o->alphas, sizeof st->alphas);
    st->nthetas = o->nthetas, st->nalphas = o->nalphas, st->cache_group = -1;
    double med = NAN;
    if (!st->nthetas && (o->methods & (EVAL_BIT(EVAL_REUSE_T + 1) - 1))) {
        EXP_TRY(exp_q_scale(r, &SCALE_SWEEP, o->axes, o->window, &med));
        if (!(med > 0)) return exp_fail(r, EXP_DATA, "the first unit has no window deltas (no reusable channels?); give --thetas");
        geometric(AUTO_LO * med, AUTO_HI * med, AUTO_POINTS, st->thetas);
        st->nthetas = AUTO_POINTS;
        fprintf(stderr, "ripple compare: thetas %s (%gx to %gx the median window delta %.4g of q)\n",
                cli_join_doubles(th, sizeof th, st->thetas, st->nthetas, 6), AUTO_LO, AUTO_HI, med);
    }
    if (ON(o, EVAL_REUSE_CHANNEL) && !st->nalphas) {
        geometric(AUTO_LO, AUTO_HI, AUTO_POINTS, st->alphas);
        st->nalphas = AUTO_POINTS;
    }
    /* the jobs of every unit */
    int n = 0;
    for (int i = 0; i < st->nthetas; i++)
        for (int m = EVAL_REUSE; m <= EVAL_REUSE_T; m++)
            if (ON(o, m))
                st->jobs[n++] = (job){m, i, st->thetas[i], RIPPLE_THRESHOLD_ABSOLUTE,
                                      m == EVAL_REUSE_T ? RIPPLE_AXIS_BIT(RIPPLE_AXIS_T) : o->axes};
    for (int i = 0; ON(o, EVAL_REUSE_CHANNEL) && i < st->nalphas; i++)
        st->jobs[n++] = (job){EVAL_REUSE_CHANNEL, i, st->alphas[i], RIPPLE_THRESHOLD_CHANNEL, o->axes};
    if (ON(o, EVAL_REUSE_RAMP)) st->jobs[n++] = (job){EVAL_REUSE_RAMP, 0, 0, st->ramp.mode, o->axes};
    r->njobs = n;

    /* everything that changes the rows goes into the options line */
    exp_capture_list(r, caps, sizeof caps);
    if (o->ramp_path)
        snprintf(ramp_desc, sizeof ramp_desc, "%s mode=%s theta_start=%g theta_end=%g i_min=%d i_max=%d num_steps=%d",
                 o->ramp_path, cli_mode_str(st->ramp.mode), st->ramp.theta_start,
                 st->ramp.theta_end, st->ramp.i_min, st->ramp.i_max, st->ramp.num_steps);
    snprintf(st->options, sizeof st->options, "captures=%s %s methods=%s thetas=%s alphas=%s axes=%s window=%d ramp=%s floor=%d",
             strlen(caps) + 2 < 2048 ? caps : "", exp_selection(r, sel, sizeof sel),
             eval_method_list(o->methods, ",", methods, sizeof methods),
             cli_join_doubles(th, sizeof th, st->thetas, st->nthetas, 6), cli_join_doubles(al, sizeof al, st->alphas, st->nalphas, 6),
             cli_axes_str(o->axes), o->window, ramp_desc, o->floor);
    EXP_TRY(exp_open(r, T_ROWS, st->options));
    if (!isnan(med))
        EXP_TRY(exp_meta(r, T_ROWS, "thetas", "%s: %d values, %gx to %gx the median window delta %.6g of q (first unit)",
                         th, AUTO_POINTS, AUTO_LO, AUTO_HI, med));
    else EXP_TRY(exp_meta(r, T_ROWS, "thetas", "%s", th));
    if (st->nalphas)
        EXP_TRY(exp_meta(r, T_ROWS, "alphas", "%s (reuse-channel: theta_a(c) = alpha * mean window delta(c))", al));
    EXP_TRY(exp_meta(r, T_ROWS, "threshold", "theta (mode absolute) or alpha (mode channel); reuse-ramp: the ramp's "
                                            "theta of the step"));
    EXP_TRY(exp_meta(r, T_ROWS, "savings", "s_score = 1 - computed partial scores/(N^2 d); s_attn = s_score/2 for "
                     "score-level methods; attention-map masks: s_attn = s_score = 1 - density"));
    EXP_TRY(exp_meta(r, T_ROWS, "matching", "svg, window, oracle-topk at density_target = 1 - s_attn(reuse at the same theta)"));
    EXP_TRY(exp_meta(r, T_ROWS, "text_tokens", "text query rows attend to all keys; video rows keep all text keys "
                                              "(counted in density)"));
    EXP_TRY(exp_meta(r, T_ROWS, "svg", "per head spatial (own frame) or temporal (own position) mask, lower MSE on 64 "
                                      "sampled video rows (float64, fixed seed), widened to the target density"));
    return exp_meta(r, T_ROWS, "metrics", "against float32 exact attention of the unit; mse_floor = float32 exact vs float64");
}

/* The job with the ramp's threshold of the unit's step. */
static job job_of(const exp_run *r, const exp_job *j)
{
    const compare_state *st = r->state;
    job jb = st->jobs[j->job];
    if (jb.method == EVAL_REUSE_RAMP) jb.threshold = rampfit_theta(&st->ramp, j->unit->id.step);
    return jb;
}

static int key(exp_run *r, const exp_job *j, exp_row *row)
{
    const job jb = job_of(r, j);
    exp_key_unit(r, j, row);
    row->s[3] = eval_methods[jb.method].name, row->v[C_THRESHOLD] = jb.threshold;
    return 0;
}

/* The density an attention-map mask gets: 1 - s_attn of reuse at the same
 * threshold, as reuse's row prints it (or as it would, reuse not selected). */
static int density_target(exp_run *r, const exp_job *j, const job *jb, eval_unit *u, double *target)
{
    const compare_opts *o = r->opts;
    compare_state *st = r->state;
    exp_row k;
    exp_row_init(&k);
    key(r, j, &k);
    k.s[3] = eval_methods[EVAL_REUSE].name;
    int row = exp_find(r, T_ROWS, &k);
    if (row >= 0) {
        *target = 1.0 - exp_num(r, T_ROWS, row, "s_attn");
        return 0;
    }
    if (st->cache_group != j->group) {
        for (int i = 0; i < COMPARE_MAX_SWEEP; i++) st->reuse_sattn[i] = NAN;
        st->cache_group = j->group;
    }
    if (isnan(st->reuse_sattn[jb->slot])) {
        ripple_reuse_params rp = exp_params(o->axes, o->window, 0, RIPPLE_THRESHOLD_ABSOLUTE, jb->threshold);
        ripple_status s = eval_density_target(u, &rp, &st->reuse_sattn[jb->slot]);
        if (s) return exp_lib(r, s, "reuse");
    }
    *target = st->reuse_sattn[jb->slot];
    return 0;
}

static int compute(exp_run *r, const exp_job *j, exp_row *row)
{
    const compare_opts *o = r->opts;
    const job jb = job_of(r, j);
    eval_unit *u;
    EXP_TRY(exp_load(r, j->group, &u));
    double floor_mse = NAN, target = NAN, density = NAN;
    if (o->floor) EXP_TRY(exp_floor(r, j->group, &floor_mse));
    ripple_savings sv;
    ripple_metrics m;
    ripple_status s;
    static char detail[128];
    snprintf(detail, sizeof detail, "-");
    if (eval_methods[jb.method].attnmap) {
        EXP_TRY(density_target(r, j, &jb, u, &target));
        s = eval_run_map(u, (eval_method)jb.method, target, &sv, &m, &density, detail, sizeof detail);
    } else {
        ripple_reuse_params rp = exp_params(jb.axes, o->window, 0, jb.mode, jb.threshold);
        s = eval_run(u, (eval_method)jb.method, &rp, &sv, &m);
    }
    if (s) return exp_lib(r, s, eval_methods[jb.method].name);
    row->s[C_MODE] = cli_mode_str(jb.mode);
    row->s[C_AXES] = cli_axes_str(jb.axes), row->s[20] = detail;
    const double v[] = {o->window, j->unit->id.timestep, target, density, sv.s_score, sv.s_attn,
                        eval_methods[jb.method].attnmap ? NAN : sv.rows_reused, m.mse, m.rel_l2, m.cosine, m.psnr,
                        m.max_abs, floor_mse};
    memcpy(row->v + C_WINDOW, v, sizeof v);
    return 0;
}

/* Summary: mean over units per (method, threshold slot), i.e. per job, from
 * the cells, the threshold too (the ramp's varies with the step). */
static int finish(exp_run *r)
{
    compare_state *st = r->state;
    if (r->reused_rows[T_ROWS])
        fprintf(stderr, "ripple compare: reused %d of %lld rows from an earlier run\n", r->reused_rows[T_ROWS],
                (long long)r->ngroups * r->njobs);
    EXP_TRY(exp_open(r, T_SUMMARY, NULL));
    EXP_TRY(exp_meta(r, T_SUMMARY, "options", "%s", st->options));
    EXP_TRY(exp_meta(r, T_SUMMARY, "summary", "mean over the %d selected units of each column; reuse-ramp: one row, "
                                              "threshold = mean ramp theta", r->nunits));
    EXP_TRY(exp_meta(r, T_SUMMARY, "savings", "fractions; s_attn = attention savings, s_score = score savings (see compare.tsv)"));
    for (int m = 0; m < EVAL_METHOD_COUNT; m++) /* by method, then slot */
        for (int i = 0; i < COMPARE_MAX_SWEEP; i++)
            for (int jj = 0; jj < r->njobs; jj++) {
                const exp_mean *a = &r->means[jj];
                if (st->jobs[jj].method != m || st->jobs[jj].slot != i || !a->rows) continue;
                exp_row row;
                exp_row_init(&row);
                row.s[0] = eval_methods[m].name;
                row.s[1] = cli_mode_str(st->jobs[jj].mode);
                for (int c = 2; c < 12; c++) /* the means of compare.tsv's columns of the same names */
                    row.v[c] = c == 3 ? a->rows : exp_mean_of(a, r, T_ROWS, summary_cols[c].name);
                EXP_TRY(exp_put(r, T_SUMMARY, &row));
            }
    static const char *const show[] = {"method", "threshold", "s_attn", "s_score", "mse", "rel_l2", "cosine"};
    if (rtable_write_pretty_cols(r->tabs[T_SUMMARY], stdout, 7, show) || fflush(stdout))
        return exp_fail(r, EXP_DATA, "cannot write to standard output");
    return 0;
}

/* Output MSE against attention savings, one curve per method, and against
 * score savings for the score-level methods; the noise floor (its mean over
 * the summary's rows) dashed. Fixed colour and point type per method, so
 * every figure reads alike: score-level methods circles, attention-map
 * masks squares, the ramp a large triangle (one point). */
static int plot(exp_run *r, exp_text *gp)
{
    const compare_opts *o = r->opts;
    exp_curve cv[2][EVAL_METHOD_COUNT + 1];
    char where[EVAL_METHOD_COUNT][64], with[EVAL_METHOD_COUNT][64];
    int n[2] = {0, 0};
    for (int m = 0; m < EVAL_METHOD_COUNT; m++) {
        if (!ON(o, m)) continue;
        snprintf(where[m], sizeof where[m], "method=%s", eval_methods[m].name);
        snprintf(with[m], sizeof with[m], "linespoints lw %d pt %d ps %.1f", m == EVAL_REUSE ? 3 : 2,
                 eval_methods[m].attnmap ? 5 : m == EVAL_REUSE_RAMP ? 9 : 7, m == EVAL_REUSE_RAMP ? 2.0 : 0.9);
        for (int p = 0; p < 2; p++)
            if (!p || !eval_methods[m].attnmap)
                cv[p][n[p]++] = (exp_curve){T_SUMMARY, p ? "s_score" : "s_attn", "mse", where[m], with[m],
                                            eval_methods[m].color, eval_methods[m].name, .xs = 100};
    }
    for (int p = 0; p < 2; p++)
        cv[p][n[p]++] = (exp_curve){T_SUMMARY, .color = "black", .title = "fp32 noise floor",
                                    .level = o->floor ? exp_col_mean(r, T_SUMMARY, "mse_floor") : NAN};
    const exp_panel panels[] = {
        {"Reuse vs masking at equal attention savings (mean over units)",
         "attention savings s_attn (% of QK^T + PV FLOPs)", "output MSE vs exact attention", .log = EXP_LOG,
         .none = "every output MSE is 0", .curves = cv[0], .ncurves = n[0]},
        {"Score-level methods at equal score savings", "score savings s_score (% of partial scores q_c k_c)",
         "output MSE vs exact attention", .log = EXP_LOG, .none = "every output MSE is 0", .curves = cv[1],
         .ncurves = n[1]}};
    const exp_figure fig = {NULL, "outside right top Left reverse box samplen 2 spacing 1.1 width 1", 0, 0, 24, 0,
                            panels, 2};
    return exp_figure_gp(r, gp, &fig);
}

/* Tables 2-4 at matched attention savings: per method, log10(mse) is
 * interpolated linearly in s_attn between its own points of the summary
 * (means over units per threshold; verdict_interp_linear), at a few savings
 * levels inside its range. */
static void index_matched(const exp_run *r, FILE *md)
{
    enum { MAXM = 12, MAXP = 256 };
    static const double levels[] = {0.10, 0.20, 0.30, 0.40};
    const int nlev = (int)(sizeof levels / sizeof levels[0]);
    const char *meth[MAXM];
    double px[MAXM][MAXP], py[MAXM][MAXP];
    int np[MAXM] = {0}, nm = 0;
    for (int i = 0; i < exp_rows(r, T_SUMMARY); i++) {
        const char *name = exp_str(r, T_SUMMARY, i, "method");
        int j;
        for (j = 0; j < nm && strcmp(name, meth[j]); j++) {}
        if (j == nm) {
            if (nm == MAXM) continue;
            meth[nm++] = name;
        }
        double x = exp_num(r, T_SUMMARY, i, "s_attn"), y = exp_num(r, T_SUMMARY, i, "mse");
        if (np[j] < MAXP && isfinite(x) && y > 0) px[j][np[j]] = x, py[j][np[j]++] = log10(y);
    }
    fprintf(md, "Tables 2-4 at matched **attention savings** s_attn: each method's output MSE interpolated "
                "(log-linear) between its own measured points; `-` where the method's sweep does not reach "
                "that saving. `reuse-t` = temporal-only reuse and `reuse-ramp` = the fitted ramp (Table 3; one setting, "
                "so compared below at its own savings), "
                "`reuse-channel` = channel-wise thresholds (Table 4).\n\n");
    char spec[256] = "method:%-s";
    for (int l = 0; l < nlev; l++)
        cli_appendf(spec, sizeof spec, "|s_attn %.0f%%:%%.3g", 100 * levels[l]);
    exp_tab_head(md, 1, spec);
    for (int j = 0; j < nm; j++) {
        double v[1 + 4];
        for (int l = 0; l < nlev; l++) v[l + 1] = pow(10.0, verdict_interp_linear(np[j], px[j], py[j], levels[l]));
        if (np[j] >= 2) exp_tab_row(md, 1, spec, &meth[j], v); /* one setting: below, at its own savings */
    }
    fprintf(md, "\n");
    /* a method of one point (the ramp) is set against fixed-threshold reuse at its own savings */
    int ju = -1;
    for (int j = 0; j < nm; j++)
        if (!strcmp(meth[j], "reuse")) ju = j;
    for (int j = 0; j < nm; j++) {
        if (np[j] != 1) continue;
        double x = px[j][0], fixed = ju >= 0 ? verdict_interp_linear(np[ju], px[ju], py[ju], x) : NAN;
        fprintf(md, "`%s` has one setting, so it is compared at its own attention savings: s_attn %.1f%%, MSE %.3g; "
                    "fixed-threshold `reuse` at the same s_attn: %s%.3g%s.\n\n",
                meth[j], 100 * x, pow(10.0, py[j][0]), isnan(fixed) ? "outside its sweep (" : "", isnan(fixed) ? NAN : pow(10.0, fixed),
                isnan(fixed) ? ")" : "");
    }
}

/* The paper's headline (Abstract, Sec. 5: "up to 85% computational savings
 * on self-attention"; Table 2: TIMERIPPLE 85%, 2.66x) against our two
 * savings: reuse's s_attn and rel_l2 interpolated at s_score 0.85. */
static void index_headline(const exp_run *r, FILE *md)
{
    double ps = NAN, pa = NAN, pl = NAN, hs = NAN, ha = NAN, hl = NAN;
    for (int i = 0; i < exp_rows(r, T_SUMMARY); i++) {
        if (strcmp(exp_str(r, T_SUMMARY, i, "method"), "reuse")) continue;
        double x = exp_num(r, T_SUMMARY, i, "s_score"), a = exp_num(r, T_SUMMARY, i, "s_attn"),
               l = exp_num(r, T_SUMMARY, i, "rel_l2");
        if (x <= 0.85 && (isnan(ps) || x > ps)) ps = x, pa = a, pl = l;
        if (x >= 0.85 && (isnan(hs) || x < hs)) hs = x, ha = a, hl = l;
    }
    fprintf(md, "**The headline 85%%.** The paper claims up to 85%% savings of self-attention computation "
                "(Abstract, Sec. 5; TIMERIPPLE 85%% in Table 2) and turns it into a 2.66x speedup on HunyuanVideo by "
                "scaling the attention latency by the work saved (Sec. 4.2, *Performance*). Under method.md's "
                "accounting that 85%% can only be the score savings s_score: reuse spares partial scores of QK^T, "
                "not PV, so the attention savings are s_attn = s_score/2 plus the PV of copied rows, at most 50%% "
                "plus the rows fully reused.");
    if (isnan(ps) || isnan(hs)) {
        fprintf(md, " This sweep does not reach s_score 85%% from both sides, so the attention savings there are not "
                    "measured.\n\n");
        return;
    }
    double f = hs > ps ? (0.85 - ps) / (hs - ps) : 0;
    fprintf(md, " On these captures, reuse at s_score 85%% (interpolated between the thresholds at %.1f%% and %.1f%%) "
                "gives s_attn %.1f%% at rel_l2 %.2f%%; the attention work left is %.1f%% of dense, not 15%%.\n\n",
            100 * ps, 100 * hs, 100 * (pa + f * (ha - pa)), 100 * (pl + f * (hl - pl)), 100 * (1 - (pa + f * (ha - pa))));
}

static void index_section(exp_run *r, FILE *md)
{
    static const char claim[] = "at equal savings, reusing partial scores of adjacent tokens gives a lower attention "
                                "error than masking the same entries (mask-skip) or as many small-magnitude entries "
                                "(mask-magnitude) (Fig. 7).";
    /* per threshold of the sweep (slot), each method's mean over units (its job): reuse, mask-skip and
     * mask-magnitude, then the attention-map masks run (the Table 3/4 variants: see below) */
    const compare_opts *o = r->opts;
    const compare_state *st = r->state;
    exp_mean none = {0};
    int meth[EVAL_METHOD_COUNT] = {EVAL_REUSE, EVAL_MASK_SKIP, EVAL_MASK_MAGNITUDE}, nm = 3;
    for (int m = EVAL_SVG; m <= EVAL_ORACLE_TOPK; m++)
        if (ON(o, m)) meth[nm++] = m;
    const int nl = o->methods & (EVAL_BIT(EVAL_REUSE_T) - 1) ? st->nthetas : 0;
    fprintf(md, "Mean output MSE over units per threshold of reuse. mask-skip and mask-magnitude take reuse's "
                "budget exactly (the same entry count); the attention-map masks (svg, window, oracle-topk) aim at "
                "reuse's attention savings s_attn, and where the one they reached differs by more than 1 point it "
                "is given beside their MSE (svg's masks come in coarse steps):\n\n");
    char spec[512] = "threshold:%s|reuse s_score:%.1f%%|reuse s_attn:%.1f%%";
    for (int j = 0; j < nm; j++) cli_appendf(spec, sizeof spec, "|%s:%%.3g", eval_methods[meth[j]].name);
    exp_tab_head(md, 1, spec);
    double reuse[COMPARE_MAX_SWEEP], skip[COMPARE_MAX_SWEEP], mag[COMPARE_MAX_SWEEP];
    for (int k = 0; k < nl; k++) {
        const exp_mean *x[EVAL_METHOD_COUNT];
        for (int j = 0; j < nm; j++) {
            x[j] = &none;
            for (int jj = 0; jj < r->njobs; jj++)
                if (st->jobs[jj].method == meth[j] && st->jobs[jj].slot == k) x[j] = &r->means[jj];
        }
        char level[48];
        double ra = exp_mean_of(x[0], r, T_ROWS, "s_attn");
        fprintf(md, "| %s | %.1f%% | %.1f%% |", rtable_format_num(level, sizeof level, st->thetas[k]),
                100 * exp_mean_of(x[0], r, T_ROWS, "s_score"), 100 * ra);
        for (int j = 0; j < nm; j++) {
            double v = exp_mean_of(x[j], r, T_ROWS, "mse"), oa = exp_mean_of(x[j], r, T_ROWS, "s_attn");
            if (j >= 3 && fabs(oa - ra) > 0.01) fprintf(md, " %.3g (at s_attn %.1f%%) |", v, 100 * oa);
            else fprintf(md, " %.3g |", v);
        }
        fprintf(md, "\n");
        reuse[k] = exp_mean_of(x[0], r, T_ROWS, "mse"), skip[k] = exp_mean_of(x[1], r, T_ROWS, "mse");
        mag[k] = exp_mean_of(x[2], r, T_ROWS, "mse");
    }
    int agree, judged;
    verdict_kind vk = verdict_compare(nl, reuse, skip, mag, &agree, &judged);
    fprintf(md, "\n");
    exp_verdictf(md, claim, "agree when, at every threshold of the sweep, the mean MSE of reuse is below that "
                            "of mask-skip and of mask-magnitude (the attention-map columns are shown for "
                            "Table 2, not judged here).",
                 "%s — reuse has the lowest MSE of the three at %d of %d savings levels.", verdict_word(vk), agree, judged);
    index_matched(r, md);
    index_headline(r, md);
}

static const exp_plot_def plots[] = {{"compare", 800, 1000, plot, NULL}};

const exp_def exp_compare = {
    .name = "compare", .paper = "Fig. 7", .title = "reuse vs masking at equal savings", .usage = usage, .help_files = 1,
    .opts_size = sizeof(compare_opts), .defaults = &defaults, .opts = opts, .check = check,
    .state_size = sizeof(compare_state), .tables = tables, .ntables = 2,
    .plan = plan, .key = key, .row = compute, .finish = finish, .progress = "compare",
    .plots = plots, .nplots = 1, .index = index_section,
    .claim = "reuse has a lower error than masking at equal savings (Fig. 7).",
};
