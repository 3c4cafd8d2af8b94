/* ripple paper: every experiment of method.md section 6 that has a
 * description, on the same captures, and DIR/index.md showing each figure
 * and table with what the paper claims and whether these captures agree.
 *
 * The experiments run in this process, one after the other, each into
 * DIR/<name>/ (with that folder's lock): an experiment that fails returns
 * its error, which is printed and reported in the index, and the others
 * still run. Their options are set through their option tables, as a
 * command line would give them (exp_set: the same checks, and the index
 * shows the command that reproduces each); their results are read as
 * structs (their tables and state), nothing is parsed back from files. Each
 * experiment writes its own section of the index, and every verdict comes
 * from a stated numeric criterion on those numbers (verdict.h). */
#include "experiments.h"

#include "ripple_version.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "Runs the experiments of the paper that ripple reproduces on captures, in\n"
    "this order, each into its own folder DIR/<name>/:\n"
    "  window   Fig. 11  savings and error per window size\n"
    "  groups   Fig. 5   forced reuse per channel group and axis\n"
    "  steps    Fig. 8/9 error per denoising step at a fixed threshold\n"
    "  fit      Tbl. 1   per-step thresholds for a target error, fitted ramp\n"
    "  compare  Fig. 7   reuse vs masking baselines at equal savings\n"
    "and with --generate the experiments that run our model (data/models/):\n"
    "  frames   Fig. 5   forced reuse per group and axis, in generated frames\n"
    "  quality  Tbl. 2-4 PSNR/SSIM of generated clips at matched s_attn (with\n"
    "                    Table 3's variants on fit's ramp and Table 4's)\n"
    "then writes DIR/index.md: every figure, the key numbers of each experiment,\n"
    "one sentence on what the paper claims and whether these captures agree (by\n"
    "a numeric criterion stated beside it). An experiment that fails is reported\n"
    "in the index, the others still run, and paper exits 1. The experiments run\n"
    "in this process: stopping paper (Ctrl-C, kill) stops them; the same command\n"
    "again resumes from the finished rows. One run per DIR at a time.\n\n"
    "%s\n"
    "At the end prints the total wall time and the share of it spent in exact\n"
    "attention (as recorded by each experiment).\n";

typedef struct {
    int quick, generate;
    double theta, target;            /* NAN = choose */
    const char *num_steps, *classes; /* passed on to frames and quality; NULL = theirs */
} paper_opts;

#define OV(...) EXP_OPTV(paper_opts, __VA_ARGS__)
static const exp_opt opts[] = {
    OV("quick", EXP_FLAG, quick, .help = "a fast pass: first stored head only (unless --heads is\n"
                                        "given), first captured layer only (unless --layers is\n"
                                        "given), windows 2,4,8, no float64 noise floor"),
    OV("theta", EXP_DOUBLE, theta, .lo = 0, .hi = INFINITY, .arg = "X",
       .help = "threshold of steps (default: the threshold window chose,\n"
               "the median window-2 delta of q; see `ripple window --help`)"),
    OV("target", EXP_DOUBLE, target, .lo = 0, .hi = INFINITY, .open = 1, .arg = "MSE",
       .help = "target error of fit (default: the mean output MSE that\nsteps measured at that threshold)"),
    OV("generate", EXP_FLAG, generate, .help = "also frames and quality (they generate clips: with\n"
                                              "--quick about 20 minutes on 2 cores, without it hours;\n"
                                              "see `ripple quality --help`)"),
    OV("num-steps", EXP_TEXT, num_steps, .arg = "N", .help = "sampler steps of frames' and quality's clips (default:\n"
                                                            "theirs, 50, or 10 with --quick); for smoke runs and\n"
                                                            "tests: a clip of fewer steps is not the paper's setting"),
    OV("classes", EXP_TEXT, classes, .arg = "LIST", .help = "the classes of their prompts, comma separated (default:\n"
                                                           "theirs: frames 7, quality every class, both 7,1 with\n"
                                                           "--quick); for smoke runs and tests"),
    {0}};
#undef OV

static const paper_opts defaults = {0, 0, NAN, NAN, NULL, NULL};

static int check(exp_run *r)
{
    const paper_opts *o = r->opts;
    if ((o->num_steps || o->classes) && !o->generate)
        return exp_fail(r, EXP_USAGE, "--%s sets the clips of frames and quality: add --generate",
                        o->num_steps ? "num-steps" : "classes");
    /* refused here, before any experiment runs, as frames and quality would refuse them */
    return exp_gen_check(r, o->num_steps, o->classes);
}

/* ------------------------------------------------------------ the runs */

enum { X_WINDOW, X_GROUPS, X_STEPS, X_FIT, X_COMPARE, X_FRAMES, X_QUALITY, X_COUNT };

/* A run of def in DIR/<name> with the common options of paper and the
 * --quick restrictions. */
static exp_run *prepare(const exp_run *r, exp_sub *x, const exp_def *def, const char *first_layer)
{
    const paper_opts *o = r->opts;
    exp_run *s = exp_sub_new(r, x, def);
    if (!s || def->units) return s; /* runs the model: no selection of captured units */
    if (o->quick && !r->c.layers && first_layer[0]) s->c.layers = first_layer;
    if (o->quick && !r->c.heads_given) s->c.head_lo = 0, s->c.head_hi = 1;
    return s;
}

/* Options paper gives are valid: a refusal would be a bug. */
static void set(exp_run *x, const char *name, const char *value) { EXP_ASSERT(exp_set(x, name, value) == 0); }

/* A signal ends paper as it would end any command, after saying how to go on:
 * the finished rows are on disk, the folders' locks go with the process. */
static void stopped(int sig)
{
    static const char msg[] = "ripple paper: stopped by a signal; rerun the same command to resume\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The captured units of each capture (units[c]) and the first one's layer (for --quick). */
typedef struct {
    size_t *units;
    char first_layer[32];
} paper_state;

static const char *status(const exp_sub *x) { return !x->ran ? "not run" : x->rc ? "FAILED" : "ok"; }

/* The threshold steps ran at and the target fit had, as they were passed on. */
static char theta[64], target[64];

/* asked: the experiments paper was asked to run (those needing --generate only with it) */
static int write_index(exp_run *r, exp_sub *xs, double wall, double exact, int recorded, int failed, int asked)
{
    const paper_opts *o = r->opts;
    char tmp[4400], final[4400], sel[256];
    snprintf(tmp, sizeof tmp, "%s/index.md.tmp", r->c.out_dir);
    snprintf(final, sizeof final, "%s/index.md", r->c.out_dir);
    FILE *md = fopen(tmp, "w");
    if (!md) return exp_fail(r, EXP_DATA, "cannot write %s: %s", tmp, strerror(errno));
    fprintf(md, "# ripple: the paper's experiments on these captures\n\n"
                "TIMERIPPLE (arXiv 2511.12035), replayed on captured Q/K/V; definitions in method.md. "
                "Written by `ripple paper` (%s)%s.\n\nCaptures:\n\n", RIPPLE_GIT_DESCRIBE,
            o->quick ? " with --quick (first head and first layer only, windows 2,4,8, no noise floor)" : "");
    const paper_state *st = r->state;
    for (int c = 0; c < r->c.ncaptures; c++) {
        const ripple_capture_info *i = r->srcs[c].info;
        fprintf(md, "- `%s`: model %s, grid %lldx%lldx%lld (+%lld text tokens), %lld heads x %lld channels, "
                    "rope %s, %zu captured (step, layer) of %lld steps%s%s\n",
                r->c.captures[c], i->model, (long long)i->layout.grid[0], (long long)i->layout.grid[1],
                (long long)i->layout.grid[2], (long long)i->layout.video_offset, (long long)i->num_heads,
                (long long)i->layout.head_dim, i->rope_axes, st->units[c], (long long)i->num_steps,
                i->prompt[0] ? ", prompt: " : "", i->prompt);
    }
    fprintf(md, "\nSelection: %s. Backend: %s.\n\n", exp_selection(r, sel, sizeof sel), ripple_backend_name(r->c.backend));
    fprintf(md, "Wall time %.1f s; exact attention %.2f s (%.1f%%, as recorded by %d of %d drivers). "
                "%d of %d experiments failed.\n\n",
            wall, exact, wall > 0 ? 100 * exact / wall : 0, recorded, asked, failed, asked);
    fprintf(md, "Savings are always named: *score savings* s_score = 1 - computed partial scores / (N^2 d) (the "
                "paper's \"computation savings\"); *attention savings* s_attn = s_score / 2 (QK^T and PV each cost "
                "2N^2d; reuse spares only QK^T). Errors compare the attention output with float32 exact "
                "attention.\n\n");
    fprintf(md, "Threshold of steps: %s (%s). Target MSE of fit: %s (%s).\n\n", theta[0] ? theta : "none",
            !isnan(o->theta) ? "given with --theta" : "window's rule: the median window-2 delta of q; set it with --theta X",
            target[0] ? target : "none",
            !isnan(o->target) ? "given with --target"
                              : "the mean MSE steps measured at that threshold, i.e. the MSE at the median-delta "
                                "threshold; set it with --target MSE");
    /* the paper's order */
    static const int order[X_COUNT] = {X_GROUPS, X_FRAMES, X_COMPARE, X_QUALITY, X_STEPS, X_FIT, X_WINDOW};
    static const char spec[] = "experiment:%-s|paper:%-s|status:%-s|wall (s):%.1f";
    exp_tab_head(md, 1, spec);
    for (int k = 0; k < X_COUNT; k++) {
        const exp_sub *x = &xs[order[k]];
        const char *text[] = {x->run->def->name, x->run->def->paper, x->skipped ? "not run (needs --generate)" : status(x)};
        exp_tab_row(md, 1, spec, text, (const double[]){0, 0, 0, x->wall});
    }
    fprintf(md, "\n");
    for (int k = 0; k < X_COUNT; k++)
        if (!xs[order[k]].skipped) exp_sub_section(md, &xs[order[k]]);
    if (fclose(md) || rename(tmp, final)) return exp_fail(r, EXP_DATA, "cannot write %s: %s", final, strerror(errno));
    return 0;
}

static int paper_run(exp_run *r)
{
    const paper_opts *o = r->opts;
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], stopped);
    double t0 = cli_now();
    paper_state *st = r->state;
    if (!(st->units = exp_alloc(r, (size_t)r->c.ncaptures, sizeof *st->units))) return EXP_DATA;
    for (int c = 0; c < r->c.ncaptures; c++)
        for (src_unit u; src_next(&r->srcs[c], &u); st->units[c]++)
            if (!c && !st->units[c]) snprintf(st->first_layer, sizeof st->first_layer, "%d", u.layer);
    exp_sub xs[X_COUNT] = {{0}};
    static const exp_def *const defs[X_COUNT] = {&exp_window, &exp_groups, &exp_steps, &exp_fit, &exp_compare,
                                                 &exp_frames, &exp_quality};
    int rc = 0, failed = 0, recorded = 0, asked = 0;
    double wall = 0, exact = 0;
    for (int i = 0; i < X_COUNT && !rc; i++)
        if (!prepare(r, &xs[i], defs[i], st->first_layer)) rc = exp_fail(r, EXP_DATA, "out of memory");

    if (rc) goto done;
    /* window first: its threshold is that of steps */
    if (o->quick) set(xs[X_WINDOW].run, "windows", "2,4,8");
    for (int i = 0; i < X_COMPARE && o->quick; i++) set(xs[i].run, "no-floor", NULL);
    exp_sub_run(&xs[X_WINDOW]);
    const exp_run *w = xs[X_WINDOW].run;
    int wdone = w->finished && exp_rows(w, 0);
    double theta_w = wdone ? rtable_round(((const window_result *)w->state)->theta) : NAN; /* as its table holds it */
    double mse_w2 = wdone ? ((const window_result *)w->state)->mse_w2 : NAN;
    exp_sub_run(&xs[X_GROUPS]);

    /* numbers reach the next experiment as a command line would give them:
     * window's threshold as its table holds it, the target in 6 digits */
    static char ramp[4400];
    snprintf(theta, sizeof theta, "%.9g", isnan(o->theta) ? theta_w : o->theta);
    if (isnan(o->theta) && isnan(theta_w)) exp_sub_skip(&xs[X_STEPS], "no threshold: window gave none (it failed); give --theta X");
    else set(xs[X_STEPS].run, "theta", theta), exp_sub_run(&xs[X_STEPS]);
    const exp_run *sr = xs[X_STEPS].run;
    double mse_steps = sr->finished ? ((const steps_result *)sr->state)->mse_over_steps : NAN;

    double t = !isnan(o->target) ? o->target : !isnan(mse_steps) && mse_steps > 0 ? mse_steps : mse_w2;
    snprintf(target, sizeof target, "%.6g", t);
    if (!(t > 0))
        exp_sub_skip(&xs[X_FIT], isnan(t) ? "no target MSE: steps and window measured none (they failed); give --target MSE"
                                     : "no target MSE: the error measured at the threshold is 0 (nothing reused); "
                                       "give --target MSE");
    else set(xs[X_FIT].run, "target", target), exp_sub_run(&xs[X_FIT]);

    snprintf(ramp, sizeof ramp, "%s/fit/ramp.txt", r->c.out_dir);
    if (!o->quick) { /* Tables 3 and 4: temporal-only, the fitted ramp, channel-wise thresholds */
        set(xs[X_COMPARE].run, "table3", NULL), set(xs[X_COMPARE].run, "table4", NULL);
        if (xs[X_FIT].ran && xs[X_FIT].rc == 0 && access(ramp, R_OK) == 0) set(xs[X_COMPARE].run, "ramp", ramp);
    }
    exp_sub_run(&xs[X_COMPARE]);

    /* the model runs: Fig. 5 in frames; Tables 2-4 end to end, Table 3 with fit's ramp */
    if (o->generate) {
        for (int i = X_FRAMES; i <= X_QUALITY; i++) {
            if (o->quick) set(xs[i].run, "quick", NULL);
            if (o->num_steps) set(xs[i].run, "num-steps", o->num_steps);
            if (o->classes) set(xs[i].run, "classes", o->classes);
        }
        exp_sub_run(&xs[X_FRAMES]);
        set(xs[X_QUALITY].run, "table3", NULL), set(xs[X_QUALITY].run, "table4", NULL);
        if (xs[X_FIT].ran && xs[X_FIT].rc == 0 && access(ramp, R_OK) == 0) set(xs[X_QUALITY].run, "ramp", ramp);
        exp_sub_run(&xs[X_QUALITY]);
    } else {
        xs[X_FRAMES].skipped = xs[X_QUALITY].skipped = 1;
    }

    wall = cli_now() - t0;
    for (int i = 0; i < X_COUNT; i++) {
        failed += xs[i].rc != 0;
        asked += !xs[i].skipped;
        if (xs[i].ran) exact += xs[i].run->exact_seconds, recorded++;
    }
    rc = write_index(r, xs, wall, exact, recorded, failed, asked);
    if (!rc) {
        static const char spec[] = "driver:%-8s|paper:%-15s|status:%-7s|wall s:%9.1f|exact s:%9s";
        printf("\n");
        exp_tab_head(stdout, 0, spec);
        for (int i = 0; i < X_COUNT; i++) {
            char ex[48] = "n/r";
            if (xs[i].ran) snprintf(ex, sizeof ex, "%.2f", xs[i].run->exact_seconds);
            const char *text[] = {xs[i].run->def->name, xs[i].run->def->paper, status(&xs[i]), NULL, ex};
            if (!xs[i].skipped) exp_tab_row(stdout, 0, spec, text, (const double[]){0, 0, 0, xs[i].wall});
        }
        printf("ripple paper: wall time %.1f s; exact attention %.2f s = %.1f%% of it (recorded by %d of %d drivers)\n",
               wall, exact, wall > 0 ? 100 * exact / wall : 0, recorded, asked);
        printf("wrote %s/index.md\n", r->c.out_dir);
        fflush(stdout);
    }
done:
    for (int i = 0; i < X_COUNT; i++) exp_free(xs[i].run);
    if (rc || !failed) return rc;
    fprintf(stderr, "ripple paper: %d experiment(s) failed (see %s/index.md)\n", failed, r->c.out_dir);
    r->msg[0] = '\0'; /* each failure said why */
    return EXP_DATA;
}

const exp_def exp_paper = {
    .name = "paper", .paper = "all", .title = "the paper's experiments", .usage = usage,
    .opts_size = sizeof(paper_opts), .defaults = &defaults, .opts = opts, .check = check, .run = paper_run,
    .state_size = sizeof(paper_state),
};
