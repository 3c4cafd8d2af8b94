/* ripple groups (paper Fig. 5): which channel group carries what. Forced
 * reuse (theta = infinity: every window is reused) of one RoPE channel group
 * (the t, h or w channels) along one axis (t, h or w) at a time; output
 * error per (group, axis) cell, and where in a frame that error falls. */
#include "experiments.h"

#include <math.h>
#include <string.h>

typedef struct groups_opts {
    int frame; /* -1 = T/2 */
    int heat_step, heat_layer;
    int window, floor;
} groups_opts;

typedef struct groups_state {
    int ngroups, gaxis[3];
    int heat_unit;
    int64_t frame, H, W;
    double mse[3][3]; /* mean mse per (channel group, reuse axis) */
} groups_state;

static const char usage[] =
    "Paper Fig. 5: forced reuse (threshold infinite, so every window of 2 tokens\n"
    "is reused) of one channel group (the channels RoPE rotates by t, h or w)\n"
    "along one axis (t, h or w), for every group x axis cell, on every selected\n"
    "(step, layer). Reports the output error against exact attention per cell\n"
    "(a groups x axes table, mean over units) and, for one unit and one frame,\n"
    "the error per token as heat maps, so that stripes along an axis show.\n\n"
    "%s"
    "Error per token in the heat maps: mean over heads and channels of (O' - O)^2.\n";

#define OV(...) EXP_OPTV(groups_opts, __VA_ARGS__)
static const exp_opt opts[] = {
    OV("frame", EXP_INT, frame, .lo = 0, .hi = INT32_MAX, .arg = "F", .help = "frame of the heat maps (default T/2)"),
    OV("step", EXP_INT, heat_step, .lo = 0, .hi = INT32_MAX, .arg = "S --layer L",
       .help = "unit of the heat maps (default: the first selected)"),
    OV("layer", EXP_INT, heat_layer, .lo = 0, .hi = INT32_MAX), /* listed with --step */
    OV("window", EXP_INT, window, .lo = 2, .hi = 4096, .arg = "W", .help = "window size of the forced reuse (default 2)"),
    EXP_OPT_NO_FLOOR(groups_opts, floor, "floor_mse"),
    {0}};
#undef OV

static const groups_opts defaults = {-1, -1, -1, 2, 1};

static int check(exp_run *r)
{
    const groups_opts *o = r->opts;
    if ((o->heat_step < 0) != (o->heat_layer < 0))
        return exp_fail(r, EXP_USAGE, "--step and --layer go together (the unit of the heat maps)");
    return 0;
}

static const exp_col cols[] = {EXP_UNIT_COLS, {"group", 's'}, {"axis", 's'}, {"group_idx", 'i'}, {"axis_idx", 'i'},
    EXP_REUSE_COLS};
static const exp_col heat_cols[] = {{"cell", 'i'}, {"group", 's'}, {"axis", 's'}, {"h", 'i'}, {"w", 'i'}, {"err", 'n'}};
static const exp_col summary_cols[] = {{"group", 's'}, {"t", 'n'}, {"h", 'n'}, {"w", 'n'}};
enum { T_ROWS, T_HEAT, T_SUMMARY };
static const exp_table_def tables[] = {
    EXP_TABLE("groups", cols, 5, NULL),
    EXP_TABLE("groups_heat", heat_cols, 5, "per-token error of one frame of one unit, per (group, axis) cell"),
    EXP_TABLE("groups_summary", summary_cols, 0, "the groups x axes table of mean mse over units, rewritten at "
                                                 "the end")};

static const char *const letters[] = {"t", "h", "w"};

static int plan(exp_run *r)
{
    const groups_opts *o = r->opts;
    groups_state *st = r->state;
    /* every capture must have the same channel groups (the table's rows) */
    const ripple_layout *lay0 = &r->srcs[0].info->layout;
    st->ngroups = lay0->num_groups;
    if (st->ngroups == 0)
        return exp_fail(r, EXP_DATA, "%s has no RoPE channel groups (rope_split): nothing to reuse", r->c.captures[0]);
    for (int c = 1; c < r->c.ncaptures; c++) {
        const ripple_layout *l = &r->srcs[c].info->layout;
        if (l->num_groups != st->ngroups || memcmp(l->group_axis, lay0->group_axis, sizeof(int) * (size_t)st->ngroups))
            return exp_fail(r, EXP_DATA, "%s and %s have different channel groups; run them separately",
                            r->c.captures[0], r->c.captures[c]);
    }
    memcpy(st->gaxis, lay0->group_axis, sizeof st->gaxis);
    /* the heat-map unit and frame */
    st->heat_unit = o->heat_step < 0 ? 0 : -1;
    for (int i = 0; i < r->nunits && st->heat_unit < 0; i++)
        if (r->units[i].id.step == o->heat_step && r->units[i].id.layer == o->heat_layer) st->heat_unit = i;
    if (st->heat_unit < 0)
        return exp_fail(r, EXP_USAGE, "--step %d --layer %d is not among the selected units (see `ripple info`)",
                        o->heat_step, o->heat_layer);
    const exp_unit *hu = &r->units[st->heat_unit];
    const ripple_layout *hlay = &r->srcs[hu->source].info->layout;
    const int64_t T = hlay->grid[0];
    st->H = hlay->grid[1], st->W = hlay->grid[2];
    st->frame = o->frame < 0 ? T / 2 : o->frame;
    if (st->frame >= T)
        return exp_fail(r, EXP_USAGE, "--frame %lld: the capture has frames 0..%lld", (long long)st->frame, (long long)T - 1);

    EXP_TRY(exp_openf(r, T_ROWS, 0, "groups theta=inf window=%d floor=%d", o->window, o->floor));
    EXP_TRY(exp_meta(r, T_ROWS, "reuse", "forced: absolute theta = inf on the one axis, window %d, only the one "
                                         "channel group", o->window));
    EXP_TRY(exp_meta(r, T_ROWS, "savings", "s_score = score savings; s_attn = s_score/2 = attention savings"));
    EXP_TRY(exp_meta(r, T_ROWS, "metrics", "against float32 exact attention, all heads; floor_mse = fp32 vs fp64 noise floor"));
    EXP_TRY(exp_openf(r, T_HEAT, 0, "groups-heat capture=%s step=%d layer=%d frame=%lld window=%d",
                      r->c.captures[hu->source], hu->id.step, hu->id.layer, (long long)st->frame, o->window));
    EXP_TRY(exp_meta(r, T_HEAT, "unit", "capture %d step %d layer %d frame %lld of %lld; grid %lldx%lldx%lld", hu->source, hu->id.step,
                     hu->id.layer, (long long)st->frame, (long long)T, (long long)T, (long long)st->H, (long long)st->W));
    EXP_TRY(exp_meta(r, T_HEAT, "err", "mean over heads and channels of (O' - O)^2 at token (frame, h, w); "
                                       "cell = 3*group_idx + axis_idx"));
    r->njobs = st->ngroups * 3;
    EXP_TRY(exp_job_keys(r));
    for (int j = 0; j < r->njobs; j++) /* job j: channel group j / 3 along axis j % 3 */
        r->job_keys[j].s[3] = letters[st->gaxis[j / 3]], r->job_keys[j].s[4] = letters[j % 3];
    return 0;
}

/* The heat-map unit's rows of a cell are written in order: the last one marks it done. */
static int heat_needed(exp_run *r, const exp_job *j)
{
    const groups_state *st = r->state;
    if (j->group != st->heat_unit) return 0;
    exp_row last;
    exp_row_init(&last);
    last.v[0] = j->job, last.s[1] = letters[st->gaxis[j->job / 3]], last.s[2] = letters[j->job % 3];
    last.v[3] = (double)(st->H - 1), last.v[4] = (double)(st->W - 1);
    return exp_find(r, T_HEAT, &last) < 0;
}

/* Per-token error of the frame: mean over heads and channels of (O' - O)^2. */
static int put_heat(exp_run *r, const exp_job *j, const eval_unit *u)
{
    const groups_state *st = r->state;
    const ripple_layout *lay = u->lay;
    const int64_t d = lay->head_dim, n = lay->seq_len;
    exp_row row;
    exp_row_init(&row);
    row.v[0] = j->job, row.s[1] = letters[st->gaxis[j->job / 3]], row.s[2] = letters[j->job % 3];
    for (int64_t h = 0; h < st->H; h++)
        for (int64_t w = 0; w < st->W; w++) {
            int64_t tok = lay->video_offset + (st->frame * st->H + h) * st->W + w;
            double s = 0;
            for (int64_t hd = 0; hd < u->nh; hd++) {
                const float *o = u->out + ((size_t)hd * (size_t)n + (size_t)tok) * (size_t)d;
                const float *ref = u->ref + ((size_t)hd * (size_t)n + (size_t)tok) * (size_t)d;
                for (int64_t c = 0; c < d; c++) s += ((double)o[c] - ref[c]) * ((double)o[c] - ref[c]);
            }
            row.v[3] = (double)h, row.v[4] = (double)w, row.v[5] = s / (double)(u->nh * d);
            EXP_TRY(exp_put(r, T_HEAT, &row));
        }
    return 0;
}

static int compute(exp_run *r, const exp_job *j, exp_row *row)
{
    const groups_opts *o = r->opts;
    const groups_state *st = r->state;
    eval_unit *u;
    const int g = j->job / 3, a = j->job % 3;
    const ripple_reuse_params p = exp_params(RIPPLE_AXIS_BIT(a), o->window, RIPPLE_AXIS_BIT(st->gaxis[g]),
                                             RIPPLE_THRESHOLD_ABSOLUTE, INFINITY);
    row->v[5] = g, row->v[6] = a;
    EXP_TRY(exp_reuse_row(r, j, T_ROWS, &p, o->floor, "forced reuse", row, &u));
    /* a finished row is kept as it was (exp_put): then only the heat map was missing */
    return heat_needed(r, j) ? put_heat(r, j, u) : 0;
}

/* The groups x axes table of mean mse over the units. */
static int finish(exp_run *r)
{
    const groups_opts *o = r->opts;
    groups_state *st = r->state;
    EXP_TRY(exp_open(r, T_SUMMARY, NULL));
    EXP_TRY(exp_meta(r, T_SUMMARY, "summary", "of groups.tsv: mean mse over %d unit(s)", r->nunits));
    EXP_TRY(exp_meta(r, T_SUMMARY, "rows", "reused channel group; columns: reuse axis; theta = inf, window %d", o->window));
    printf("ripple groups: forced reuse (theta = inf, window %d), %d unit(s)%s\n", o->window, r->nunits,
           r->reused_rows[T_ROWS] ? " (finished rows of an earlier run reused)" : "");
    printf("mean output mse   %12s %12s %12s   (reuse axis)\n", "along t", "along h", "along w");
    for (int g = 0; g < st->ngroups; g++) {
        exp_row row;
        exp_row_init(&row);
        row.s[0] = letters[st->gaxis[g]];
        printf("%c-channels        ", "thw"[st->gaxis[g]]);
        for (int a = 0; a < 3; a++) {
            row.v[1 + a] = st->mse[g][a] = exp_mean_of(&r->means[g * 3 + a], r, T_ROWS, "mse"); /* job g*3+a */
            printf(" %12.4g", st->mse[g][a]);
        }
        printf("\n");
        EXP_TRY(exp_put(r, T_SUMMARY, &row));
    }
    printf("exact attention: %.3f s of %.3f s\n", r->exact_seconds, cli_now() - r->t0);
    return 0;
}

/* Bars of the mean mse over units: x = reuse axis, one series per group. */
static int plot_bars(exp_run *r, exp_text *gp)
{
    const groups_state *st = r->state;
    exp_curve cv[4];
    char where[3][16], title[3][16];
    int g;
    for (g = 0; g < st->ngroups; g++) {
        snprintf(where[g], sizeof where[g], "group=%s", letters[st->gaxis[g]]);
        snprintf(title[g], sizeof title[g], "%c-channels", "thw"[st->gaxis[g]]);
        cv[g] = (exp_curve){T_ROWS, "axis_idx", "mse", where[g], "boxes", .title = title[g], .dx = 0.27 * (g - 1),
                            .mean = 1};
    }
    cv[g] = (exp_curve){T_ROWS, .color = "black", .title = "fp32 noise floor", .level = exp_col_mean(r, T_ROWS, "floor_mse")};
    const exp_panel panel = {.xlabel = "reuse axis", .ylabel = "output MSE vs exact attention", .log = EXP_LOG,
                             .xtics = "\"t (frames)\" 0, \"h (rows)\" 1, \"w (columns)\" 2", .curves = cv,
                             .ncurves = g + 1, .set = "set style fill solid 0.85 border -1\nset boxwidth 0.26"};
    const exp_figure fig = {"Forced reuse of one channel group along one axis (paper Fig. 5)\ntheta = infinity, "
                            "window 2; mean over captured steps and layers",
                            "below center horizontal box title \"reused channel group\"", -0.6, 2.6, 0, 7, &panel, 1};
    return exp_figure_gp(r, gp, &fig);
}

/* Layout of the heat maps, in pixels: 3 equal square panels per row, one
 * row per channel group, and one colour bar for all of them at the right
 * (a colour box of its own position, so that no panel shrinks for it). */
enum { HEAT_W = 800, HEAT_L = 75, HEAT_R = 690, HEAT_SX = 40, HEAT_TOP = 105, HEAT_BOT = 62, HEAT_SY = 75,
       HEAT_PANEL = (HEAT_R - HEAT_L - 2 * HEAT_SX) / 3 };

/* A panel's height in pixels: its width times the grid's H/W (within 1/4 and 2 panels). */
static int heat_panel_h(const groups_state *st)
{
    double h = HEAT_PANEL * (double)st->H / (double)st->W;
    return h < HEAT_PANEL / 4 ? HEAT_PANEL / 4 : h > 2 * HEAT_PANEL ? 2 * HEAT_PANEL : (int)(h + 0.5);
}

static int heat_height(const groups_state *st)
{
    return HEAT_TOP + HEAT_BOT + st->ngroups * heat_panel_h(st) + (st->ngroups - 1) * HEAT_SY;
}

/* A tic step that puts at most 5 labels on an axis of n tokens. */
static int heat_tic(int64_t n)
{
    static const int steps[] = {1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128, 200, 256, 500, 1000};
    int i = 0;
    while (i + 1 < (int)(sizeof steps / sizeof steps[0]) && n > 5 * (int64_t)steps[i]) i++;
    return steps[i];
}

/* One panel per cell, rows = channel groups, columns = reuse axes; a shared
 * colour range, logarithmic when it spans more than two decades. Axis
 * labels on the outer panels only (every panel has the same axes). */
static int plot_heat(exp_run *r, exp_text *gp)
{
    const groups_state *st = r->state;
    const exp_unit *hu = &r->units[st->heat_unit];
    const double W = HEAT_W, H = heat_height(st);
    exp_printf(gp,
        "set datafile columnheaders\n"
        "stats \"groups_heat.tsv\" using (column(\"err\")) nooutput\n"
        "hi = STATS_max\n"
        "stats \"groups_heat.tsv\" using (column(\"err\") > 0 ? column(\"err\") : 1/0) nooutput\n"
        "lo = STATS_min\n"
        "log_cb = hi > 100 * lo\n"
        "if (log_cb) { set logscale cb; set format cb \"%%.0e\" } else { set format cb \"%%.1e\" }\n"
        "# on a log bar, labels at 2 and 5 times each decade too (a bar often spans only two decades)\n"
        "if (log_cb) { do for [e = floor(log10(lo)) : ceil(log10(hi))] { "
        "set cbtics add (sprintf(\"%%.0e\", 2 * 10.0**e) 2 * 10.0**e, sprintf(\"%%.0e\", 5 * 10.0**e) 5 * 10.0**e) } }\n"
        "set cbrange [lo:hi]\n"
        "set palette defined (0 \"#440154\", 0.25 \"#3b528b\", 0.5 \"#21918c\", 0.75 \"#5ec962\", 1 \"#fde725\")\n"
        "# one colour bar for every panel, at the right, placed by hand (no panel shrinks for it):\n"
        "# drawn with the last panel (@colorbox), none with the others\n"
        "colorbox = \"set colorbox user origin screen %.4f, screen %.4f size screen %.4f, screen %.4f\"\n"
        "set cbtics font \",10\"\n"
        "set cblabel sprintf(\"output error per token, (O'-O)^2%%s\", log_cb ? \" (log scale)\" : \"\") "
        "offset 0.5,0 font \",11\"\n"
        "unset key\n"
        "unset grid\n"
        "set size ratio %g\n"
        "set xrange [-0.5:%g]\n"
        "set yrange [%g:-0.5]\n"
        "set xtics out nomirror %d font \",10\"\n"
        "set ytics out nomirror %d font \",10\"\n"
        "set multiplot layout %d,3 margins screen %.4f, %.4f, %.4f, %.4f spacing screen %.4f, %.4f "
        "title \"Per-token output error (O'-O)^2, mean over heads and channels: frame %lld of step %d, layer %d\\n"
        "forced reuse (theta = inf) of one channel group (row) along one axis (column); one colour scale\" "
        "font \",12\"\n",
        (HEAT_R + 18) / W, HEAT_BOT / H, 16 / W, (H - HEAT_TOP - HEAT_BOT) / H,
        (double)st->H / (double)st->W, (double)st->W - 0.5, (double)st->H - 0.5, heat_tic(st->W), heat_tic(st->H),
        st->ngroups,
        HEAT_L / W, HEAT_R / W, HEAT_BOT / H, (H - HEAT_TOP) / H, HEAT_SX / W, HEAT_SY / H,
        (long long)st->frame, hu->id.step, hu->id.layer);
    for (int g = 0; g < st->ngroups; g++)
        for (int a = 0; a < 3; a++) {
            long long first = (long long)(g * 3 + a) * st->H * st->W, last = first + st->H * st->W - 1;
            exp_printf(gp, "\n%s\n%s\n%s\nset title \"%c-channels along %c\" offset 0,-0.4 font \",11\"\n"
                           "plot \"groups_heat.tsv\" every ::%lld::%lld using (column(\"w\")):(column(\"h\")):"
                           "(column(\"err\")) with image\n",
                       g == st->ngroups - 1 && a == 2 ? "@colorbox" : "unset colorbox",
                       a == 0 ? "set ylabel \"h token index (row)\" offset 1,0 font \",10\"" : "unset ylabel",
                       g == st->ngroups - 1 ? "set xlabel \"w token index (column)\" offset 0,0.3 font \",10\"" : "unset xlabel",
                       "thw"[st->gaxis[g]], "thw"[a], first, last);
        }
    exp_printf(gp, "unset multiplot\n");
    return 0;
}

static void index_section(exp_run *r, FILE *md)
{
    const groups_state *st = r->state;
    fprintf(md, "Mean output MSE (rows: reused channel group; columns: reuse axis; theta = infinity):\n\n");
    exp_tab_rows(md, 1, "channel group@group:%-s-channels|along t@t:%.3g|along h@h:%.3g|along w@w:%.3g", r,
                 T_SUMMARY, NULL);
    int worst[3], agree, judged;
    verdict_kind v = verdict_groups(st->ngroups, st->gaxis, st->mse, worst, &agree, &judged);
    char detail[512] = "";
    for (int g = 0; g < st->ngroups; g++)
        if (worst[g] >= 0)
            cli_appendf(detail, sizeof detail, "%s%c-channels hurt most along %c", detail[0] ? "; " : "",
                        "thw"[st->gaxis[g]], "thw"[worst[g]]);
    fprintf(md, "\n");
    exp_verdictf(md, "the attention pattern comes from spatial and temporal correlations carried by the RoPE channel "
                     "groups: a channel group holds the position along its own axis, so forcing its reuse along that "
                     "axis costs the most, and along the other axes little (Fig. 5; this is the project's reading of "
                     "the figure).",
                 "for each channel group (row), the reuse axis with the largest mean MSE is the group's own RoPE "
                 "axis (rows compare like with like: the same channels and the same reused fraction).",
                 "%s — %d of %d groups: %s.", verdict_word(v), agree, judged, detail);
}

static void heat_size(const exp_run *r, int *width, int *height)
{
    *width = HEAT_W, *height = heat_height(r->state);
}

static const exp_plot_def plots[] = {{"groups", 800, 500, plot_bars, NULL}, {"groups_heat", 800, 760, plot_heat, heat_size}};

const exp_def exp_groups = {
    .name = "groups", .paper = "Fig. 5", .title = "channel groups x reuse axes (forced reuse)", .usage = usage,
    .help_files = 1,
    .opts_size = sizeof(groups_opts), .defaults = &defaults, .opts = opts, .check = check,
    .state_size = sizeof(groups_state), .tables = tables, .ntables = 3,
    .plan = plan, .needed = heat_needed, .row = compute, .finish = finish, .progress = "groups",
    .plots = plots, .nplots = 2, .index = index_section,
    .claim = "each channel group carries the position along its own RoPE axis.",
};
