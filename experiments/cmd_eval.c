/* ripple eval: the ripple transform and the mask baselines on one captured
 * (step, layer), against exact attention; one row per method. */
#include "cli.h"
#include "commands.h"
#include "ripple_version.h"
#include "rampfit.h"
#include "evaluate.h"
#include "table.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static void usage(FILE *f)
{
    fprintf(f,
        "usage: ripple eval CAPTURE --step S --layer L [options]\n\n"
        "Applies the ripple transform (reuse of per-channel partial scores between\n"
        "adjacent tokens) and the mask baselines to the q/k of one captured step and\n"
        "layer, and compares each attention output with exact attention.\n\n"
        "options:\n"
        "  --step S           denoising step (as captured; see `ripple info`)\n"
        "  --layer L          layer (as captured)\n"
        "  --heads a:b        heads a..b-1 of those stored (default: all)\n"
        "  --theta X          absolute threshold for every axis (default 0: no reuse)\n"
        "  --theta-t X, --theta-h X, --theta-w X\n"
        "                     per-axis absolute thresholds (override --theta)\n"
        "  --alpha X          channel-wise thresholds: theta_a(c) = X * mean window\n"
        "                     delta of channel c along axis a (paper Table 4)\n"
        "  --ramp FILE        thresholds from a ramp file (`ripple fit`): theta of --step\n"
        "  --axes SET         axes to reuse along, letters of t,h,w (default thw)\n"
        "  --window W         window size >= 2 (default 2)\n"
        "  --groups SET       channel groups (by axis letter) allowed to be reused\n"
        "                     (default: all groups of the capture)\n"
        "  --method LIST      comma list of reuse, mask-skip, mask-magnitude (default:\n"
        "                     these three), the attention-map masks svg, window,\n"
        "                     oracle-topk (at the attention savings of reuse, as in\n"
        "                     `ripple compare`) and the variants reuse-t (along t only),\n"
        "                     reuse-channel (theta taken as alpha), reuse-ramp (--ramp)\n"
        "  --backend B        cpu or cuda (default cpu)\n"
        "  --format F         table (default on a terminal) or tsv (all columns)\n"
        "  --wide             every column in the table format too\n"
        "  --no-floor         skip the float64 noise-floor row (slow on long sequences)\n"
        "  -h, --help         this text\n\n"
        "Columns: s_score = 1 - computed partial scores / N^2 d (the paper's\n"
        "\"computation savings\"); s_attn = s_score/2, the share of all attention\n"
        "FLOPs (QK^T + PV) spared; rows_reused = fraction of query rows whose every\n"
        "channel is reused (their PV and softmax could be copied too, not counted in\n"
        "s_attn). grp_t/h/w: reused fraction of the entries of the t/h/w channel group;\n"
        "axis_t/h/w: fraction of all entries marked along that axis (both mean of q\n"
        "and k; entries marked along several axes count for each). mse, rel_l2,\n"
        "cosine, psnr compare each output with exact attention\n"
        "in float32; the row `exact` is the noise floor: float32 exact attention\n"
        "against a float64 reference. mask-magnitude zeroes per head and tensor as\n"
        "many lowest-|x| entries as reuse marks; its savings are of its own mask.\n"
        "An attention-map mask keeps the fraction 1 - s_attn(reuse) of the N^2 score\n"
        "entries: its s_score = s_attn = 1 - achieved density (columns about reused\n"
        "entries are nan).\n");
}

typedef struct {
    const char *path;
    cli_unit_opts u;
    ripple_reuse_params rp;
    int have_theta, have_alpha;
    const char *ramp;
    const ripple_layout *lay;
    unsigned methods; /* bits EVAL_BIT(m) */
    int floor;
    int wide;
} eval_opts;

static void parse_methods(const char *s, unsigned *on)
{
    char err[CLI_ERR];
    if (cli_parse_methods("--method", s, on, err)) cli_usage_error("%s", err);
}

static void parse(int argc, char **argv, eval_opts *o)
{
    enum { O_METHOD = 256, O_NOFLOOR, O_RAMP, O_WIDE };
    static const struct option longopts[] = {CLI_UNIT_LONGOPTS,
        {"backend", required_argument, 0, CLI_O_BACKEND}, CLI_REUSE_LONGOPTS,
        {"method", required_argument, 0, O_METHOD},
        {"no-floor", no_argument, 0, O_NOFLOOR},    {"ramp", required_argument, 0, O_RAMP},
        {"wide", no_argument, 0, O_WIDE},           {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->u = cli_unit_defaults();
    cli_reuse_opts ro = cli_reuse_defaults();
    o->floor = 1;
    o->methods = EVAL_BIT(EVAL_MASK_MAGNITUDE + 1) - 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); exit(CLI_EXIT_OK);
        case O_METHOD: parse_methods(optarg, &o->methods); break;
        case O_NOFLOOR: o->floor = 0; break;
        case O_RAMP: o->ramp = cli_nonempty("--ramp", optarg); break;
        case O_WIDE: o->wide = 1; break;
        default:
            if (!cli_reuse_option(c, optarg, &ro)) cli_unit_option(c, optarg, argv, &o->u);
        }
    }
    cli_reuse_finish(&ro);
    o->rp = ro.rp, o->have_theta = ro.have_theta, o->have_alpha = ro.have_alpha;
    o->path = cli_one_capture(argc, argv);
    if (o->u.step < 0 || o->u.layer < 0)
        cli_usage_error("--step and --layer are required (`ripple info %s` lists them)", o->path);
    if (o->methods & EVAL_BIT(EVAL_REUSE_RAMP) && !o->ramp)
        cli_usage_error("--method reuse-ramp needs --ramp FILE (a ramp written by `ripple fit`)");
    if (o->ramp && (o->have_theta || o->have_alpha))
        cli_usage_error("--ramp gives the thresholds: leave out --theta/--alpha");
    if (o->ramp) {
        rampfit_ramp r;
        char err[RAMPFIT_ERR];
        if (rampfit_load(o->ramp, &r, err)) cli_data_error("%s", err);
        o->rp.mode = r.mode;
        o->rp.theta[0] = o->rp.theta[1] = o->rp.theta[2] = rampfit_theta(&r, o->u.step);
    }
}

static void add_row(rtable *t, const eval_opts *o, const ripple_reuse_params *rp, const char *method,
                    const ripple_savings *sv, const ripple_metrics *m)
{
    double theta = 0;
    for (int a = 0; a < 3; a++)
        if (rp->axes & RIPPLE_AXIS_BIT(a)) theta = fmax(theta, rp->theta[a]);
    rtable_add_row(t);
    rtable_set_str(t, "method", method);
    rtable_set_str(t, "mode", cli_mode_str(rp->mode));
    rtable_set_num(t, "theta", theta);
    rtable_set_num(t, "theta_t", rp->theta[0]);
    rtable_set_num(t, "theta_h", rp->theta[1]);
    rtable_set_num(t, "theta_w", rp->theta[2]);
    rtable_set_int(t, "window", rp->window);
    rtable_set_str(t, "axes", cli_axes_str(rp->axes));
    rtable_set_str(t, "groups", rp->groups ? cli_axes_str(rp->groups) : "thw");
    rtable_set_num(t, "s_score", sv->s_score);
    rtable_set_num(t, "s_attn", sv->s_attn);
    rtable_set_num(t, "rows_reused", sv->rows_reused);
    rtable_set_num(t, "q_reused", sv->q_reused);
    rtable_set_num(t, "k_reused", sv->k_reused);
    /* reused fraction per channel group and per marking axis, mean of q and k */
    static const char *const grp_cols[3] = {"grp_t", "grp_h", "grp_w"};
    static const char *const ax_cols[3] = {"axis_t", "axis_h", "axis_w"};
    for (int a = 0; a < 3; a++) {
        double g = NAN;
        for (int gi = 0; gi < o->lay->num_groups; gi++)
            if (o->lay->group_axis[gi] == a) g = 0.5 * (sv->q_group[gi] + sv->k_group[gi]);
        rtable_set_num(t, grp_cols[a], g);
        rtable_set_num(t, ax_cols[a], 0.5 * (sv->q_axis[a] + sv->k_axis[a]));
    }
    rtable_set_num(t, "mse", m->mse);
    rtable_set_num(t, "rel_l2", m->rel_l2);
    rtable_set_num(t, "cosine", m->cosine);
    rtable_set_num(t, "psnr", m->psnr);
    rtable_set_num(t, "max_abs", m->max_abs);
}

int cmd_eval(int argc, char **argv)
{
    eval_opts o;
    parse(argc, argv, &o);

    ripple_capture *cap = cli_capture_open(o.path, "cannot use capture");
    const ripple_capture_info *info = ripple_capture_get_info(cap);
    cli_require_entry(cap, o.u.step, o.u.layer);
    src source;
    ripple_status s;
    if ((s = src_from_capture(cap, &source))) cli_lib_error(s, "cannot use capture");
    o.lay = &info->layout;
    if (o.u.head_hi < 0) o.u.head_hi = info->num_heads;
    if (o.u.head_lo >= info->num_heads || o.u.head_hi > info->num_heads)
        cli_usage_error("--heads %lld:%lld: the capture stores heads 0:%lld", (long long)o.u.head_lo,
                        (long long)o.u.head_hi, (long long)info->num_heads);
    if (o.u.backend == RIPPLE_BACKEND_CUDA && !ripple_backend_available(RIPPLE_BACKEND_CUDA))
        cli_data_error("--backend cuda: no usable CUDA device, or ripple was built without CUDA");

    eval_unit u;
    const src_unit id = {o.u.step, o.u.layer, 0};
    if ((s = eval_unit_load(&u, &source, &id, o.u.head_lo, o.u.head_hi - o.u.head_lo, o.u.backend)))
        cli_lib_error(s, "cannot evaluate");

    static const char *const columns[] = {"method", "mode", "theta", "theta_t", "theta_h", "theta_w",
        "window", "axes", "groups", "s_score", "s_attn", "rows_reused", "q_reused", "k_reused",
        "grp_t", "grp_h", "grp_w", "axis_t", "axis_h", "axis_w", "mse", "rel_l2", "cosine", "psnr", "max_abs"};
    rtable *t = rtable_new((int)(sizeof columns / sizeof columns[0]), columns);
    if (!t) cli_data_error("out of memory");
    rtable_meta(t, "command", "ripple eval");
    rtable_meta(t, "ripple", "%s", RIPPLE_GIT_DESCRIBE);
    rtable_meta(t, "capture", "%s", o.path);
    rtable_meta(t, "model", "%s", info->model);
    rtable_meta(t, "step", "%d", o.u.step);
    rtable_meta(t, "layer", "%d", o.u.layer);
    rtable_meta(t, "heads", "%lld:%lld", (long long)o.u.head_lo, (long long)o.u.head_hi);
    rtable_meta(t, "backend", "%s", ripple_backend_name(o.u.backend));
    rtable_meta(t, "threshold_mode", "%s (theta columns hold %s)",
                cli_mode_str(o.rp.mode),
                o.rp.mode == RIPPLE_THRESHOLD_CHANNEL ? "alpha" : "absolute thresholds");
    rtable_meta(t, "savings", "s_score = score savings; s_attn = attention savings (QK^T share only)");
    rtable_meta(t, "metrics", "against float32 exact attention; row exact = float32 vs float64 noise floor");
    rtable_meta(t, "exact_attention_seconds", "%.3f", u.exact_seconds);

    ripple_metrics m;
    ripple_savings sv;
    if (o.floor) {
        if ((s = eval_noise_floor(&u, &m))) cli_lib_error(s, "noise floor");
        ripple_savings none = {0};
        ripple_reuse_params none_p = o.rp;
        none_p.theta[0] = none_p.theta[1] = none_p.theta[2] = 0;
        add_row(t, &o, &none_p, "exact", &none, &m);
    }
    for (int meth = 0; meth < EVAL_METHOD_COUNT; meth++) {
        if (!(o.methods & EVAL_BIT(meth))) continue;
        const ripple_reuse_params rp = eval_method_params((eval_method)meth, &o.rp);
        double target, density;
        char detail[128];
        if (!eval_methods[meth].attnmap) s = eval_run(&u, (eval_method)meth, &rp, &sv, &m);
        else if (!(s = eval_density_target(&u, &o.rp, &target)))
            s = eval_run_map(&u, (eval_method)meth, target, &sv, &m, &density, detail, sizeof detail);
        if (s) cli_lib_error(s, eval_method_name(meth));
        add_row(t, &o, &rp, eval_method_name(meth), &sv, &m);
    }

    /* the terminal table shows the main columns; TSV and --wide show all */
    static const char *const brief[] = {"method", "theta", "window", "axes", "s_score", "s_attn",
        "rows_reused", "q_reused", "k_reused", "mse", "rel_l2", "cosine", "psnr"};
    int rc = o.u.tsv    ? rtable_write_tsv(t, stdout)
             : o.wide ? rtable_write_pretty(t, stdout)
                      : rtable_write_pretty_cols(t, stdout, (int)(sizeof brief / sizeof brief[0]), brief);
    if (!o.u.tsv)
        printf("s_score: score savings (partial scores not computed); s_attn: attention savings "
               "(share of QK^T+PV FLOPs); row exact: fp32 vs fp64 noise floor. %s\n",
               o.rp.mode == RIPPLE_THRESHOLD_CHANNEL ? "theta holds alpha (channel-wise thresholds)."
                                                     : "theta: absolute threshold.");
    if (rc || fflush(stdout)) cli_data_error("cannot write the table to standard output");
    rtable_free(t);
    eval_unit_free(&u);
    src_close(&source);
    return CLI_EXIT_OK;
}
