/* ripple groups (paper Fig. 5): which channel group carries what. Forced
 * reuse (theta = infinity: every window is reused) of one RoPE channel group
 * (the t, h or w channels) along one axis (t, h or w) at a time; output
 * error per (group, axis) cell, and where in a frame that error falls.
 *
 * Output in --out DIR:
 *   groups.tsv          one row per capture, step, layer, group and axis
 *   groups_summary.tsv  the groups x axes table of mean mse over units
 *                       (rewritten from groups.tsv at the end of each run)
 *   groups.gp/.png      bars of mse per reuse axis and channel group (log)
 *   groups_heat.tsv     per-token error of one frame of one unit, per cell:
 *                       long format (cell, group, axis, h, w, err)
 *   groups_heat.gp/.png a grid of heat maps, one per (group, axis) cell */
#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "evaluate.h"
#include "ripple_version.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ripple groups CAPTURE... --out DIR [options]\n\n"
        "Paper Fig. 5: forced reuse (threshold infinite, so every window of 2 tokens\n"
        "is reused) of one channel group (the channels RoPE rotates by t, h or w)\n"
        "along one axis (t, h or w), for every group x axis cell, on every selected\n"
        "(step, layer). Reports the output error against exact attention per cell\n"
        "(a groups x axes table, mean over units) and, for one unit and one frame,\n"
        "the error per token as heat maps, so that stripes along an axis show.\n\n"
        "options:\n"
        "  --frame F          frame of the heat maps (default T/2)\n"
        "  --step S --layer L unit of the heat maps (default: the first selected)\n"
        "  --window W         window size of the forced reuse (default 2)\n"
        "  --no-floor         skip the float64 noise floor (floor_mse column = nan)\n"
        "%s\n"
        "Savings columns: s_score = score savings (the paper's computation savings),\n"
        "s_attn = s_score/2 = attention savings. Error per token in the heat maps:\n"
        "mean over heads and channels of (O' - O)^2.\n",
        drv_common_help);
}

typedef struct {
    drv_opts d;
    int frame; /* -1 = T/2 */
    int heat_step, heat_layer;
    int window;
    int floor;
} groups_opts;

static void parse(int argc, char **argv, groups_opts *o)
{
    enum { O_FRAME = 256, O_STEP, O_LAYER, O_WINDOW, O_NOFLOOR };
    static const struct option longopts[] = {
        DRV_COMMON_LONGOPTS,
        {"frame", required_argument, 0, O_FRAME},
        {"step", required_argument, 0, O_STEP},
        {"layer", required_argument, 0, O_LAYER},
        {"window", required_argument, 0, O_WINDOW},
        {"no-floor", no_argument, 0, O_NOFLOOR},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    drv_opts_init(&o->d);
    o->frame = o->heat_step = o->heat_layer = -1;
    o->window = 2;
    o->floor = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (drv_common_option(&o->d, c, optarg)) continue;
        switch (c) {
        case 'h': usage(stdout); exit(CLI_EXIT_OK);
        case O_FRAME: o->frame = (int)cli_int("--frame", optarg, 0, INT32_MAX); break;
        case O_STEP: o->heat_step = (int)cli_int("--step", optarg, 0, INT32_MAX); break;
        case O_LAYER: o->heat_layer = (int)cli_int("--layer", optarg, 0, INT32_MAX); break;
        case O_WINDOW: o->window = (int)cli_int("--window", optarg, 2, 4096); break;
        case O_NOFLOOR: o->floor = 0; break;
        case ':': cli_usage_error("option %s needs a value", argv[optind - 1]);
        default: cli_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if ((o->heat_step < 0) != (o->heat_layer < 0))
        cli_usage_error("--step and --layer go together (the unit of the heat maps)");
    drv_finish_options(&o->d, argc, argv, 1);
}

static const char *const columns[] = {"capture", "step", "layer", "group", "axis", "group_idx", "axis_idx",
    "s_score", "s_attn", "rows_reused", "q_reused", "k_reused", "mse", "rel_l2", "cosine", "psnr",
    "floor_mse"};
enum { NCOLS = sizeof columns / sizeof columns[0], NKEY = 5, C_MSE = 12 };
static const char *const heat_columns[] = {"cell", "group", "axis", "h", "w", "err"};
enum { NHEAT = 6, NHEAT_KEY = 5 };

/* Means per cell (3*group_idx + axis_idx) through a datablock, then one bar
 * series per channel group. */
static const char bars_fmt[] =
    "set datafile columnheaders\n"
    "stats \"groups.tsv\" using (strcol(17) eq \"nan\" ? 0 : column(17)) nooutput\n"
    "floor = STATS_mean\n"
    "floor_text = floor > 0 ? sprintf(\"%%.1e\", floor) : \"not computed\"\n"
    "set table $cells separator tab\n"
    "plot \"groups.tsv\" using (3*$6 + $7):13 smooth unique\n"
    "unset table\n"
    "set datafile nocolumnheaders\n"
    "set datafile separator whitespace\n"
    "set title sprintf(\"Forced reuse of one channel group along one axis (paper Fig. 5)\\n"
    "theta = infinity, window 2; mean over captured steps and layers; noise floor MSE %%s\", floor_text)\n"
    "set xlabel \"reuse axis\" offset 0,0.6\n"
    "set ylabel \"output MSE vs exact attention (log)\"\n"
    "set logscale y\n"
    "set format y \"%%.0e\"\n"
    "set mytics 10\n"
    "set xrange [-0.6:2.6]\n"
    "set xtics (\"t (frames)\" 0, \"h (rows)\" 1, \"w (columns)\" 2)\n"
    "set style fill solid 0.85 border -1\n"
    "set boxwidth 0.26\n"
    "set key below center horizontal box title \"reused channel group\"\n"
    "set bmargin 6.5\n"
    "g(x) = int(x + 0.5) / 3\n"
    "a(x) = int(x + 0.5) %% 3\n"
    "plot $cells using (g($1) == 0 ? a($1) - 0.27 : 1/0):2 with boxes lc rgb \"#1f77b4\" title \"%c-channels\", \\\n"
    "     $cells using (g($1) == 1 ? a($1) : 1/0):2 with boxes lc rgb \"#ff7f0e\" title \"%c-channels\", \\\n"
    "     $cells using (g($1) == 2 ? a($1) + 0.27 : 1/0):2 with boxes lc rgb \"#2ca02c\" title \"%c-channels\"\n";

/* Per-token error of frame F: err[h*W + w] = mean over heads and channels. */
static void frame_error(const eval_unit *u, int64_t frame, double *err)
{
    const ripple_layout *lay = u->lay;
    const int64_t H = lay->grid[1], W = lay->grid[2], d = lay->head_dim, n = lay->seq_len;
    for (int64_t h = 0; h < H; h++)
        for (int64_t w = 0; w < W; w++) {
            int64_t tok = lay->video_offset + (frame * H + h) * W + w;
            double s = 0;
            for (int64_t hd = 0; hd < u->nh; hd++) {
                const float *o = u->out + ((size_t)hd * (size_t)n + (size_t)tok) * (size_t)d;
                const float *r = u->ref + ((size_t)hd * (size_t)n + (size_t)tok) * (size_t)d;
                for (int64_t c = 0; c < d; c++) {
                    double e = (double)o[c] - (double)r[c];
                    s += e * e;
                }
            }
            err[h * W + w] = s / (double)(u->nh * d);
        }
}

/* The heat-map figure: one panel per cell, rows = channel groups, columns
 * = reuse axes; a shared colour range, logarithmic when it spans more than
 * two decades (decided by gnuplot from the TSV). */
static char *heat_body(int ngroups, const int *gaxis, int64_t H, int64_t W, int64_t frame, int step,
                       int layer)
{
    size_t cap = 16384;
    char *b = cli_alloc(cap, 1, "plot script");
    size_t n = 0;
#define APPEND(...) n += (size_t)snprintf(b + n, n < cap ? cap - n : 0, __VA_ARGS__)
    APPEND("set datafile columnheaders\n"
           "stats \"groups_heat.tsv\" using 6 nooutput\n"
           "hi = STATS_max\n"
           "stats \"groups_heat.tsv\" using ($6 > 0 ? $6 : 1/0) nooutput\n"
           "lo = STATS_min\n"
           "if (hi > 100 * lo) { set logscale cb; set format cb \"%%.0e\" } else { set format cb \"%%.1e\" }\n"
           "set cbrange [lo:hi]\n"
           "set palette defined (0 \"#440154\", 0.25 \"#3b528b\", 0.5 \"#21918c\", 0.75 \"#5ec962\", 1 \"#fde725\")\n"
           "unset key\n"
           "set size ratio %g\n"
           "set xrange [-0.5:%g]\n"
           "set yrange [%g:-0.5]\n"
           "set xtics out nomirror 4 font \",8\"\n"
           "set ytics out nomirror 4 font \",8\"\n"
           "set cbtics font \",8\"\n"
           "set xlabel \"w (column)\" offset 0,0.5 font \",9\"\n"
           "set ylabel \"h (row)\" offset 1,0 font \",9\"\n"
           "set multiplot layout %d,3 title \"Per-token output error (O'-O)^2, mean over heads and channels: "
           "frame %lld of step %d, layer %d\\nforced reuse (theta = inf) of one channel group (row) along one axis "
           "(column); shared colour scale\"\n",
           (double)H / (double)W, (double)W - 0.5, (double)H - 0.5, ngroups,
           (long long)frame, step, layer);
    for (int g = 0; g < ngroups; g++)
        for (int a = 0; a < 3; a++) {
            int cell = g * 3 + a;
            long long first = (long long)cell * H * W, last = first + H * W - 1;
            APPEND("%s\nset title \"%c-channels along %c\" font \",10\"\n"
                   "plot \"groups_heat.tsv\" every ::%lld::%lld using 5:4:6 with image\n",
                   a == 2 ? "set colorbox" : "unset colorbox", "thw"[gaxis[g]], "thw"[a], first, last);
        }
    APPEND("unset multiplot\n");
#undef APPEND
    if (n >= cap) cli_data_error("plot script too long");
    return b;
}

/* Mean-MSE sums per (channel group, axis) cell over finished rows. */
typedef struct {
    int ngroups;
    double (*sum)[3];
    int (*cnt)[3];
} group_sums;

static void add_group_row(char **cell, void *ctx)
{
    group_sums *gs = ctx;
    int g = atoi(cell[5]), a = atoi(cell[6]);
    if (g < 0 || g >= gs->ngroups || a < 0 || a > 2) return;
    gs->sum[g][a] += strtod(cell[C_MSE], NULL);
    gs->cnt[g][a]++;
}

int cmd_groups(int argc, char **argv)
{
    groups_opts o;
    parse(argc, argv, &o);
    double t_start = cli_now();

    drv_units units;
    drv_units_open(&units, &o.d);

    /* Every capture must have the same channel groups (the table's rows). */
    const ripple_layout *lay0 = &units.srcs[0].info->layout;
    int ngroups = lay0->num_groups;
    if (ngroups == 0)
        cli_data_error("%s has no RoPE channel groups (rope_split): nothing to reuse", o.d.captures[0]);
    for (int c = 1; c < units.ncaptures; c++) {
        const ripple_layout *l = &units.srcs[c].info->layout;
        int same = l->num_groups == ngroups;
        for (int g = 0; same && g < ngroups; g++) same = l->group_axis[g] == lay0->group_axis[g];
        if (!same)
            cli_data_error("%s and %s have different channel groups; run them separately", o.d.captures[0],
                           o.d.captures[c]);
    }
    int gaxis[3];
    for (int g = 0; g < ngroups; g++) gaxis[g] = lay0->group_axis[g];

    /* The heat-map unit and frame. */
    int heat_unit = 0;
    if (o.heat_step >= 0) {
        heat_unit = -1;
        for (int i = 0; i < units.n; i++)
            if (units.ids[i].step == o.heat_step && units.ids[i].layer == o.heat_layer) {
                heat_unit = i;
                break;
            }
        if (heat_unit < 0)
            cli_usage_error("--step %d --layer %d is not among the selected units (see `ripple info`)",
                            o.heat_step, o.heat_layer);
    }
    const drv_unit_id *hid = &units.ids[heat_unit];
    const ripple_layout *hlay = &units.srcs[hid->capture].info->layout;
    const int64_t T = hlay->grid[0], H = hlay->grid[1], W = hlay->grid[2];
    int64_t frame = o.frame < 0 ? T / 2 : o.frame;
    if (frame >= T) cli_usage_error("--frame %lld: the capture has frames 0..%lld", (long long)frame, (long long)T - 1);

    char options[1024];
    snprintf(options, sizeof options, "groups theta=inf window=%d floor=%d %s", o.window, o.floor,
             drv_selection_str(&o.d));
    drv_tsv *t = drv_tsv_open(&o.d, "groups", NCOLS, columns, NKEY, options);
    drv_tsv_meta(t, "command", "ripple groups");
    for (int c = 0; c < o.d.ncaptures; c++)
        drv_tsv_meta(t, "capture", "%s (model %s, rope_axes %s)", o.d.captures[c],
                     units.srcs[c].info->model, units.srcs[c].info->rope_axes);
    drv_tsv_meta(t, "selection", "%s", drv_selection_str(&o.d));
    drv_tsv_meta(t, "backend", "%s", ripple_backend_name(o.d.backend));
    drv_tsv_meta(t, "reuse", "forced: absolute theta = inf on the one axis, window %d, only the one channel group",
                 o.window);
    drv_tsv_meta(t, "savings", "s_score = score savings; s_attn = s_score/2 = attention savings");
    drv_tsv_meta(t, "metrics", "against float32 exact attention, all heads; floor_mse = fp32 vs fp64 noise floor");

    char heat_options[1024];
    snprintf(heat_options, sizeof heat_options, "groups-heat capture=%s step=%d layer=%d frame=%lld window=%d %s",
             o.d.captures[hid->capture], hid->step, hid->layer, (long long)frame, o.window,
             drv_selection_str(&o.d));
    drv_tsv *ht = drv_tsv_open(&o.d, "groups_heat", NHEAT, heat_columns, NHEAT_KEY, heat_options);
    drv_tsv_meta(ht, "command", "ripple groups (heat maps)");
    drv_tsv_meta(ht, "capture", "%s", o.d.captures[hid->capture]);
    drv_tsv_meta(ht, "unit", "step %d layer %d frame %lld of %lld; grid %lldx%lldx%lld", hid->step, hid->layer,
                 (long long)frame, (long long)T, (long long)T, (long long)H, (long long)W);
    drv_tsv_meta(ht, "backend", "%s", ripple_backend_name(o.d.backend));
    drv_tsv_meta(ht, "err", "mean over heads and channels of (O' - O)^2 at token (frame, h, w); "
                            "cell = 3*group_idx + axis_idx");

    double *err = cli_alloc((size_t)(H * W), sizeof *err, "heat map");
    const int64_t total = (int64_t)units.n * ngroups * 3;
    int64_t done = 0;
    eval_unit u;
    int loaded = -1;
    for (int i = 0; i < units.n; i++) {
        const drv_unit_id *id = &units.ids[i];
        double floor_mse = NAN;
        for (int g = 0; g < ngroups; g++)
            for (int a = 0; a < 3; a++, done++) {
                char ks[DRV_CELL], kl[DRV_CELL], gs[2] = {"thw"[gaxis[g]], 0}, as[2] = {"thw"[a], 0};
                const char *key[NKEY] = {o.d.captures[id->capture], drv_int(ks, id->step), drv_int(kl, id->layer),
                                         gs, as};
                int need_row = !drv_tsv_has(t, key);
                int need_heat = 0;
                char kc[DRV_CELL], kh[DRV_CELL], kw[DRV_CELL];
                if (i == heat_unit) {
                    /* rows of a cell are written in order: the last one marks it done */
                    const char *hk[NHEAT_KEY] = {drv_int(kc, g * 3 + a), gs, as, drv_int(kh, H - 1),
                                                 drv_int(kw, W - 1)};
                    need_heat = !drv_tsv_has(ht, hk);
                }
                if (!need_row && !need_heat) continue;
                if (loaded != i) {
                    if (loaded >= 0) eval_unit_free(&u);
                    drv_unit_load(&units, &o.d, i, &u);
                    loaded = i;
                }
                ripple_reuse_params p = {0};
                p.axes = RIPPLE_AXIS_BIT(a);
                p.window = o.window;
                p.mode = RIPPLE_THRESHOLD_ABSOLUTE;
                p.theta[0] = p.theta[1] = p.theta[2] = INFINITY;
                p.groups = RIPPLE_AXIS_BIT(gaxis[g]);
                ripple_savings sv;
                ripple_metrics m;
                ripple_status s = eval_run(&u, EVAL_REUSE, &p, &sv, &m);
                if (s) cli_lib_error(s, "forced reuse");
                if (need_heat) {
                    frame_error(&u, frame, err);
                    for (int64_t h = 0; h < H; h++)
                        for (int64_t w = 0; w < W; w++) {
                            char e[DRV_CELL];
                            const char *cells[NHEAT] = {drv_int(kc, g * 3 + a), gs, as, drv_int(kh, h),
                                                        drv_int(kw, w), drv_num(e, err[h * W + w])};
                            drv_tsv_row(ht, cells);
                        }
                }
                if (need_row) {
                    if (o.floor && isnan(floor_mse)) {
                        ripple_metrics fm;
                        if ((s = eval_noise_floor(&u, &fm))) cli_lib_error(s, "noise floor");
                        floor_mse = fm.mse;
                    }
                    char b[NCOLS][DRV_CELL];
                    const char *cells[NCOLS] = {key[0], key[1], key[2], gs, as, drv_int(b[5], g),
                        drv_int(b[6], a), drv_num(b[7], sv.s_score), drv_num(b[8], sv.s_attn),
                        drv_num(b[9], sv.rows_reused), drv_num(b[10], sv.q_reused), drv_num(b[11], sv.k_reused),
                        drv_num(b[12], m.mse), drv_num(b[13], m.rel_l2), drv_num(b[14], m.cosine),
                        drv_num(b[15], m.psnr), drv_num(b[16], floor_mse)};
                    drv_tsv_row(t, cells);
                }
                cli_progress("groups", done + 1, total);
            }
    }
    cli_progress_done();
    if (loaded >= 0) eval_unit_free(&u);
    free(err);
    int reused = drv_tsv_reused(t);

    /* Summary: mean mse per cell, read back from the finished table. */
    char tsv_path[4096];
    snprintf(tsv_path, sizeof tsv_path, "%s", drv_tsv_close(t));
    drv_tsv_close(ht);
    double sum[3][3] = {{0}};
    int cnt[3][3] = {{0}};
    group_sums gs = {ngroups, sum, cnt};
    drv_tsv_foreach(tsv_path, NCOLS, add_group_row, &gs);
    drv_append_timing(tsv_path);

    char spath[4200];
    snprintf(spath, sizeof spath, "%s/groups_summary.tsv", o.d.out_dir);
    FILE *sf = fopen(spath, "w");
    if (!sf) cli_data_error("cannot write %s", spath);
    fprintf(sf, "# command: ripple groups (summary of groups.tsv: mean mse over %d unit(s))\n# ripple: %s\n",
            units.n, RIPPLE_GIT_DESCRIBE);
    fprintf(sf, "# rows: reused channel group; columns: reuse axis; theta = inf, window %d\n", o.window);
    fprintf(sf, "group\tt\th\tw\n");
    printf("ripple groups: forced reuse (theta = inf, window %d), %d unit(s)%s\n", o.window, units.n,
           reused ? " (finished rows of an earlier run reused)" : "");
    printf("mean output mse   %12s %12s %12s   (reuse axis)\n", "along t", "along h", "along w");
    for (int g = 0; g < ngroups; g++) {
        fprintf(sf, "%c", "thw"[gaxis[g]]);
        printf("%c-channels        ", "thw"[gaxis[g]]);
        for (int a = 0; a < 3; a++) {
            double v = cnt[g][a] ? sum[g][a] / cnt[g][a] : NAN;
            char b[DRV_CELL];
            fprintf(sf, "\t%s", drv_num(b, v));
            printf(" %12.4g", v);
        }
        fprintf(sf, "\n");
        printf("\n");
    }
    if (fclose(sf)) cli_data_error("cannot write %s", spath);
    printf("exact attention: %.3f s of %.3f s\n", drv_exact_seconds(), cli_now() - t_start);

    char bars[4096];
    snprintf(bars, sizeof bars, bars_fmt, "thw"[gaxis[0]], ngroups > 1 ? "thw"[gaxis[1]] : '-',
             ngroups > 2 ? "thw"[gaxis[2]] : '-');
    int rc = drv_plot(&o.d, "groups", bars, 800, 500);
    int rc_heat;
    char *hb = heat_body(ngroups, gaxis, H, W, frame, hid->step, hid->layer);
    rc_heat = drv_plot(&o.d, "groups_heat", hb, 800, ngroups == 3 ? 760 : 300 + 230 * ngroups);
    rc = rc < 0 || rc_heat < 0 ? -1 : rc | rc_heat;
    free(hb);
    printf("wrote %s, %s, %s/groups_heat.tsv and their .gp%s\n", tsv_path, spath, o.d.out_dir,
           rc == 0 ? " and .png" : " (figures not drawn)");
    drv_units_close(&units);
    return drv_exit_status(rc);
}
