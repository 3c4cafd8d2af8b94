/* ripple paper: every experiment of method.md section 6 that has a driver,
 * on the same captures, and DIR/index.md showing each figure and table with
 * what the paper claims and whether these captures agree.
 *
 * Each driver runs in a child process (fork, then the driver's cmd_*), so a
 * driver that exits on an error does not end the others; its output goes
 * to DIR/<driver>/. The index is written from the TSVs the drivers wrote
 * (nothing is recomputed here), and every verdict comes from a stated
 * numeric criterion on those numbers. */
#include "cli.h"
#include "commands.h"
#include "driver.h"
#include "ripple_version.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ripple paper CAPTURE... --out DIR [options]\n\n"
        "Runs the experiments of the paper that ripple reproduces on captures, in\n"
        "this order, each into its own folder DIR/<name>/:\n"
        "  window   Fig. 11  savings and error per window size\n"
        "  groups   Fig. 5   forced reuse per channel group and axis\n"
        "  steps    Fig. 8/9 error per denoising step at a fixed threshold\n"
        "  fit      Tbl. 1   per-step thresholds for a target error, fitted ramp\n"
        "  compare  Fig. 7   reuse vs masking baselines at equal savings\n"
        "then writes DIR/index.md: every figure, the key numbers read back from the\n"
        "TSVs, one sentence on what the paper claims and whether these captures\n"
        "agree (by a numeric criterion stated beside it). A driver that fails is\n"
        "reported in the index, the others still run, and paper exits 1.\n"
        "Stopping paper (Ctrl-C, kill) stops the running driver too; the same\n"
        "command again resumes from the finished rows. One run per DIR at a time.\n\n"
        "options:\n"
        "  --quick            a fast pass: first stored head only (unless --heads is\n"
        "                     given), first captured layer only (unless --layers is\n"
        "                     given), windows 2,4,8, no float64 noise floor\n"
        "  --theta X          threshold of steps (default: the threshold window chose,\n"
        "                     the median window-2 delta of q; see `ripple window --help`)\n"
        "  --target MSE       target error of fit (default: the mean output MSE that\n"
        "                     steps measured at that threshold)\n"
        "%s\n"
        "At the end prints the total wall time and the share of it spent in exact\n"
        "attention (as recorded by each driver's `# exact_attention_seconds:` line).\n",
        drv_common_help);
}

typedef struct {
    drv_opts d;
    int quick;
    double theta, target; /* NAN = choose */
    /* common options as given, to pass on */
    const char *steps, *layers, *heads, *backend;
} paper_opts;

static void parse(int argc, char **argv, paper_opts *o)
{
    enum { O_QUICK = 256, O_THETA, O_TARGET };
    static const struct option longopts[] = {
        DRV_COMMON_LONGOPTS,
        {"quick", no_argument, 0, O_QUICK},
        {"theta", required_argument, 0, O_THETA},
        {"target", required_argument, 0, O_TARGET},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    drv_opts_init(&o->d);
    o->theta = o->target = NAN;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == DRV_O_STEPS) o->steps = optarg;
        if (c == DRV_O_LAYERS) o->layers = optarg;
        if (c == DRV_O_HEADS) o->heads = optarg;
        if (c == DRV_O_BACKEND) o->backend = optarg;
        if (drv_common_option(&o->d, c, optarg)) continue;
        switch (c) {
        case 'h': usage(stdout); exit(CLI_EXIT_OK);
        case O_QUICK: o->quick = 1; break;
        case O_THETA: o->theta = cli_double("--theta", optarg, 0, INFINITY); break;
        case O_TARGET:
            o->target = cli_double("--target", optarg, 0, INFINITY);
            if (!(o->target > 0) || !isfinite(o->target))
                cli_usage_error("--target: the target MSE must be positive and finite");
            break;
        case ':': cli_usage_error("option %s needs a value", argv[optind - 1]);
        default: cli_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    drv_finish_options(&o->d, argc, argv, 1);
}

/* ------------------------------------------------------------ TSV reading */

typedef struct {
    int ok;       /* file read and header found */
    char **meta;  /* "# key: value" lines, without "# " */
    int nmeta;
    char **cols;
    int ncols;
    char ***rows; /* [nrows][ncols] */
    int nrows;
} table;

static char *dupstr(const char *s)
{
    char *d = strdup(s);
    if (!d) cli_data_error("out of memory");
    return d;
}

static void *grow(void *p, size_t n, size_t size)
{
    void *q = realloc(p, n * size);
    if (!q) cli_data_error("out of memory");
    return q;
}

static int split(char *line, char ***out)
{
    int n = 0;
    char **cells = NULL;
    char *p = line;
    for (;;) {
        cells = grow(cells, (size_t)n + 1, sizeof *cells);
        char *tab = strchr(p, '\t');
        cells[n++] = p;
        if (!tab) break;
        *tab = '\0';
        p = tab + 1;
    }
    *out = cells;
    return n;
}

static void table_load(table *t, const char *path)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "r");
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n') break; /* cut short */
        line[--len] = '\0';
        if (line[0] == '#') {
            t->meta = grow(t->meta, (size_t)t->nmeta + 1, sizeof *t->meta);
            t->meta[t->nmeta++] = dupstr(line[1] == ' ' ? line + 2 : line + 1);
            continue;
        }
        char **cells;
        char *copy = dupstr(line);
        int n = split(copy, &cells);
        if (!t->cols) {
            t->cols = cells;
            t->ncols = n;
            continue;
        }
        if (n != t->ncols) {
            free(cells);
            free(copy);
            continue;
        }
        t->rows = grow(t->rows, (size_t)t->nrows + 1, sizeof *t->rows);
        t->rows[t->nrows++] = cells;
    }
    free(line);
    fclose(f);
    t->ok = t->cols != NULL;
}

static void table_free(table *t)
{
    for (int i = 0; i < t->nmeta; i++) free(t->meta[i]);
    free(t->meta);
    if (t->cols) {
        free(t->cols[0]);
        free(t->cols);
    }
    for (int r = 0; r < t->nrows; r++) {
        free(t->rows[r][0]);
        free(t->rows[r]);
    }
    free(t->rows);
    memset(t, 0, sizeof *t);
}

static int col(const table *t, const char *name)
{
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->cols[c], name)) return c;
    return -1;
}

static double num(const table *t, int r, int c)
{
    if (c < 0) return NAN;
    char *end;
    double v = strtod(t->rows[r][c], &end);
    return end == t->rows[r][c] ? NAN : v;
}

/* Value of the last "key: value" metadata line, or NULL. */
static const char *meta(const table *t, const char *key)
{
    size_t n = strlen(key);
    const char *v = NULL;
    for (int i = 0; i < t->nmeta; i++)
        if (!strncmp(t->meta[i], key, n) && t->meta[i][n] == ':') v = t->meta[i] + n + 1 + (t->meta[i][n + 1] == ' ');
    return v;
}

/* ---------------------------------------------------------- experiments */

enum { X_WINDOW, X_GROUPS, X_STEPS, X_FIT, X_COMPARE, X_COUNT };

typedef struct {
    const char *name, *paper;
    int (*run)(int, char **);
    int ran, rc;
    double wall;
    double exact; /* NAN = not recorded */
    char cmdline[2048];
    char why[256]; /* not run: the reason */
} experiment;

static experiment xs[X_COUNT] = {
    {"window", "Fig. 11", cmd_window, 0, 0, 0, NAN, "", ""},
    {"groups", "Fig. 5", cmd_groups, 0, 0, 0, NAN, "", ""},
    {"steps", "Fig. 8, 9", cmd_steps, 0, 0, 0, NAN, "", ""},
    {"fit", "Table 1, Eq. 4", cmd_fit, 0, 0, 0, NAN, "", ""},
    {"compare", "Fig. 7", cmd_compare, 0, 0, 0, NAN, "", ""},
};

typedef struct {
    char *v[64];
    int n;
    char store[64][512];
} args;

static void arg(args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(args *a, const char *fmt, ...)
{
    if (a->n >= 63) cli_data_error("too many arguments");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->store[a->n], sizeof a->store[0], fmt, ap);
    va_end(ap);
    a->v[a->n] = a->store[a->n];
    a->n++;
    a->v[a->n] = NULL;
}

/* The arguments every driver gets: name, captures, --out DIR/name and the
 * common options as given (plus the --quick restrictions). */
static void base_args(args *a, const paper_opts *o, const experiment *x, const char *first_layer)
{
    a->n = 0;
    arg(a, "%s", x->name);
    for (int c = 0; c < o->d.ncaptures; c++) arg(a, "%s", o->d.captures[c]);
    arg(a, "--out");
    arg(a, "%s/%s", o->d.out_dir, x->name);
    if (o->steps) arg(a, "--steps"), arg(a, "%s", o->steps);
    if (o->layers) arg(a, "--layers"), arg(a, "%s", o->layers);
    else if (o->quick && first_layer) arg(a, "--layers"), arg(a, "%s", first_layer);
    if (o->heads) arg(a, "--heads"), arg(a, "%s", o->heads);
    else if (o->quick) arg(a, "--heads"), arg(a, "0:1");
    if (o->backend) arg(a, "--backend"), arg(a, "%s", o->backend);
    if (o->d.svg) arg(a, "--svg");
    if (o->d.pdf) arg(a, "--pdf");
    if (o->d.fresh) arg(a, "--fresh");
}

/* Sum of the `# exact_attention_seconds:` lines (the last of each file) of
 * the TSVs in DIR/name; NAN when none records it. */
static double exact_seconds_of(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return NAN;
    double sum = NAN;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".tsv")) continue;
        char path[4600];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        table t;
        table_load(&t, path);
        const char *v = meta(&t, "exact_attention_seconds");
        if (v) sum = (isnan(sum) ? 0 : sum) + strtod(v, NULL);
        table_free(&t);
    }
    closedir(d);
    return sum;
}

/* ------------------------------------------------------ child processes
 *
 * A driver's child must not outlive paper: a rerun would race it on the same
 * .partial files. SIGINT, SIGTERM and SIGHUP to paper are passed on to the
 * running child, paper waits for it and then dies of the same signal; if
 * paper is killed outright, the child gets SIGKILL (PR_SET_PDEATHSIG). The
 * lock of each --out folder (drv_finish_options) refuses a second run. */

static volatile sig_atomic_t child_pid, pending_signal;
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP};
enum { NFORWARDED = (int)(sizeof forwarded / sizeof forwarded[0]) };

static void forward_signal(int sig)
{
    pending_signal = sig;
    if (child_pid > 0) kill((pid_t)child_pid, sig);
}

static void install_forwarding(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward_signal;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < NFORWARDED; i++) sigaction(forwarded[i], &sa, NULL);
}

/* After the child is reaped: an interrupted paper ends as the signal says. */
static void die_if_signalled(void)
{
    int sig = pending_signal;
    if (!sig) return;
    fprintf(stderr, "ripple paper: stopped by signal %d; rerun the same command to resume\n", sig);
    fflush(NULL);
    signal(sig, SIG_DFL);
    raise(sig);
    _exit(128 + sig);
}

static void run(experiment *x, args *a, const paper_opts *o)
{
    size_t n = 0;
    n += (size_t)snprintf(x->cmdline + n, sizeof x->cmdline - n, "ripple");
    for (int i = 0; i < a->n && n < sizeof x->cmdline; i++) {
        char word[1100];
        n += (size_t)snprintf(x->cmdline + n, sizeof x->cmdline - n, " %s",
                              drv_shell_word(word, sizeof word, a->v[i]));
    }
    printf("\n== %s (%s): %s\n", x->name, x->paper, x->cmdline);
    fflush(NULL); /* nothing buffered may be written twice by the child */
    double t0 = cli_now();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) cli_data_error("fork: %s", strerror(errno));
    if (pid == 0) {
        for (int i = 0; i < NFORWARDED; i++) signal(forwarded[i], SIG_DFL);
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
        if (getppid() != parent) _exit(128 + SIGKILL); /* paper died before prctl */
        cli_cmd = x->name;
        optind = 0; /* glibc: full reinitialisation of getopt */
        int rc = x->run(a->n, a->v);
        int out = cli_flush_stdout(); /* _exit skips the check at exit */
        fflush(stderr);
        _exit(rc ? rc : out);
    }
    child_pid = pid;
    if (pending_signal) kill(pid, pending_signal); /* arrived before child_pid was set */
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) cli_data_error("waitpid: %s", strerror(errno));
    child_pid = 0;
    die_if_signalled();
    x->ran = 1;
    x->wall = cli_now() - t0;
    x->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", o->d.out_dir, x->name);
    x->exact = exact_seconds_of(dir);
    printf("== %s: %s in %.1f s\n", x->name, x->rc == 0 ? "done" : "FAILED", x->wall);
}

/* An experiment that cannot run because an earlier one gave nothing to run
 * it with: counted as failed, with the reason (and no misleading usage
 * error from a child started without its required option). */
static void not_run(experiment *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void not_run(experiment *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->why, sizeof x->why, fmt, ap);
    va_end(ap);
    x->ran = 0;
    x->rc = CLI_EXIT_DATA;
    printf("\n== %s (%s): not run: %s\n", x->name, x->paper, x->why);
    fflush(stdout);
    fprintf(stderr, "ripple paper: %s not run: %s\n", x->name, x->why);
}

/* ---------------------------------------------------------------- index */

static FILE *md;

static void figures(const paper_opts *o, const experiment *x)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", o->d.out_dir, x->name);
    DIR *d = opendir(dir);
    if (!d) return;
    char *names[32];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 32) {
        size_t len = strlen(e->d_name);
        if ((len > 4 && !strcmp(e->d_name + len - 4, ".png")) || (len > 4 && !strcmp(e->d_name + len - 4, ".tsv")) ||
            !strcmp(e->d_name, "ramp.txt"))
            names[n++] = dupstr(e->d_name);
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[i], names[j]) > 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    int figs = 0, files = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(names[i] + strlen(names[i]) - 4, ".png")) {
            fprintf(md, "![%s](%s/%s)\n\n", names[i], x->name, names[i]);
            figs++;
        }
    }
    if (figs == 0) fprintf(md, "*(no figure: gnuplot missing or the driver failed; see its .gp script)*\n\n");
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i] + strlen(names[i]) - 4, ".png"))
            fprintf(md, "%s[%s](%s/%s)", files++ ? ", " : "Files: ", names[i], x->name, names[i]);
        free(names[i]);
    }
    if (files) fprintf(md, "\n\n");
}

static void header(const paper_opts *o, const experiment *x, const char *title)
{
    (void)o;
    fprintf(md, "## %s — %s\n\n", x->paper, title);
    fprintf(md, "Command: `%s`  \n", x->cmdline);
    if (!x->ran) fprintf(md, "Status: **not run**%s%s\n\n", x->why[0] ? ": " : "", x->why);
    else if (x->rc)
        fprintf(md, "Status: **FAILED** (exit %d after %.1f s; its messages are on the terminal; the files below "
                    "are what it left)\n\n", x->rc, x->wall);
    else fprintf(md, "Status: done in %.1f s", x->wall);
    if (x->ran && !x->rc) {
        if (isnan(x->exact)) fprintf(md, " (exact attention time not recorded by this driver)\n\n");
        else fprintf(md, ", of which exact attention %.2f s\n\n", x->exact);
    }
}

static void verdict(const char *claim, const char *result, const char *criterion)
{
    fprintf(md, "**Paper:** %s  \n**These captures:** %s  \n*Criterion:* %s\n\n", claim, result, criterion);
}

static void tsv_path_load(table *t, const paper_opts *o, const char *sub, const char *name)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s/%s", o->d.out_dir, sub, name);
    table_load(t, path);
}

/* window: mean per window size from window.tsv. Returns the threshold. */
static double index_window(const paper_opts *o, const experiment *x, double *mse_w2)
{
    header(o, x, "window size");
    table t;
    tsv_path_load(&t, o, "window", "window.tsv");
    double theta = NAN;
    *mse_w2 = NAN;
    int cw = col(&t, "window"), cs = col(&t, "s_score"), ca = col(&t, "s_attn"), cm = col(&t, "mse"),
        ct = col(&t, "theta"), cr = col(&t, "rel_l2");
    if (!t.ok || cw < 0 || cs < 0 || cm < 0 || t.nrows == 0) {
        fprintf(md, "No usable window.tsv.\n\n");
        verdict("larger windows give more savings at a higher error.", "cannot tell (no table)", "-");
        table_free(&t);
        return NAN;
    }
    figures(o, x);
    int ws[64], nw = 0;
    double s[64] = {0}, a[64] = {0}, m[64] = {0}, r[64] = {0};
    int cnt[64] = {0};
    for (int i = 0; i < t.nrows; i++) {
        int w = (int)num(&t, i, cw), k;
        for (k = 0; k < nw && ws[k] != w; k++) {}
        if (k == nw) {
            if (nw == 64) continue;
            ws[nw++] = w;
        }
        s[k] += num(&t, i, cs), a[k] += num(&t, i, ca), m[k] += num(&t, i, cm), r[k] += num(&t, i, cr);
        cnt[k]++;
        theta = num(&t, i, ct);
    }
    const char *th = meta(&t, "theta");
    fprintf(md, "Threshold: %s\n\n", th ? th : "?");
    fprintf(md, "| window | score savings s_score | attention savings s_attn | output MSE | rel. L2 |\n"
                "|---:|---:|---:|---:|---:|\n");
    for (int k = 0; k < nw; k++) {
        fprintf(md, "| %d | %.1f%% | %.1f%% | %.3g | %.3g |\n", ws[k], 100 * s[k] / cnt[k], 100 * a[k] / cnt[k],
                m[k] / cnt[k], r[k] / cnt[k]);
        if (ws[k] == 2) *mse_w2 = m[k] / cnt[k];
    }
    fprintf(md, "\n(means over %d row(s); windows in the order run)\n\n", t.nrows);
    int sav_up = 1, err_up = 1;
    for (int k = 1; k < nw; k++) {
        if (s[k] / cnt[k] < s[k - 1] / cnt[k - 1]) sav_up = 0;
        if (m[k] / cnt[k] < m[k - 1] / cnt[k - 1]) err_up = 0;
    }
    char res[512];
    snprintf(res, sizeof res, "%s — score savings %s with the window (%.1f%% at w=%d, %.1f%% at w=%d); MSE %s "
             "(%.3g to %.3g).", sav_up && err_up ? "**agree**" : "**disagree**",
             sav_up ? "grow" : "do not grow", 100 * s[0] / cnt[0], ws[0], 100 * s[nw - 1] / cnt[nw - 1], ws[nw - 1],
             err_up ? "grows" : "does not grow", m[0] / cnt[0], m[nw - 1] / cnt[nw - 1]);
    verdict("with the threshold of window 2 kept, larger windows give more savings at a higher output error "
            "(Fig. 11).", res,
            "agree when the mean s_score and the mean MSE over units both do not decrease from one window size "
            "to the next (sizes in increasing order).");
    table_free(&t);
    return theta;
}

static void index_groups(const paper_opts *o, const experiment *x)
{
    header(o, x, "channel groups x reuse axes (forced reuse)");
    table t;
    tsv_path_load(&t, o, "groups", "groups.tsv");
    int cg = col(&t, "group_idx"), ca = col(&t, "axis_idx"), cm = col(&t, "mse"), cl = col(&t, "group");
    if (!t.ok || cg < 0 || ca < 0 || cm < 0 || t.nrows == 0) {
        fprintf(md, "No usable groups.tsv.\n\n");
        verdict("each channel group carries the position along its own RoPE axis.", "cannot tell (no table)", "-");
        table_free(&t);
        return;
    }
    figures(o, x);
    double m[3][3] = {{0}};
    int cnt[3][3] = {{0}};
    char letter[3] = {'?', '?', '?'};
    int ng = 0;
    for (int i = 0; i < t.nrows; i++) {
        int g = (int)num(&t, i, cg), a = (int)num(&t, i, ca);
        if (g < 0 || g > 2 || a < 0 || a > 2) continue;
        m[g][a] += num(&t, i, cm);
        cnt[g][a]++;
        letter[g] = t.rows[i][cl][0];
        if (g + 1 > ng) ng = g + 1;
    }
    fprintf(md, "Mean output MSE (rows: reused channel group; columns: reuse axis; theta = infinity):\n\n"
                "| channel group | along t | along h | along w |\n|---|---:|---:|---:|\n");
    int agree = 0, judged = 0;
    char detail[512] = "";
    size_t dn = 0;
    for (int g = 0; g < ng; g++) {
        fprintf(md, "| %c-channels |", letter[g]);
        int best = -1;
        for (int a = 0; a < 3; a++) {
            double v = cnt[g][a] ? m[g][a] / cnt[g][a] : NAN;
            fprintf(md, " %.3g |", v);
            if (!isnan(v) && (best < 0 || v > m[g][best] / cnt[g][best])) best = a;
        }
        fprintf(md, "\n");
        const char *own = strchr("thw", letter[g]);
        if (own && best >= 0) {
            judged++;
            agree += best == (int)(own - "thw");
            dn += (size_t)snprintf(detail + dn, sizeof detail - dn, "%s%c-channels hurt most along %c", dn ? "; " : "",
                                   letter[g], "thw"[best]);
        }
    }
    char res[768];
    snprintf(res, sizeof res, "%s — %d of %d groups: %s.", judged && agree == judged ? "**agree**" : agree ? "**partly**" : "**disagree**",
             agree, judged, detail);
    fprintf(md, "\n");
    verdict("the attention pattern comes from spatial and temporal correlations carried by the RoPE channel "
            "groups: a channel group holds the position along its own axis, so forcing its reuse along that axis "
            "costs the most, and along the other axes little (Fig. 5; this is the project's reading of the figure).",
            res, "for each channel group (row), the reuse axis with the largest mean MSE is the group's own RoPE "
                 "axis (rows compare like with like: the same channels and the same reused fraction).");
    table_free(&t);
}

/* steps: mean rows; returns the mean mse over steps. */
static double index_steps(const paper_opts *o, const experiment *x)
{
    header(o, x, "error per denoising step at a fixed threshold");
    table t;
    tsv_path_load(&t, o, "steps", "steps.tsv");
    int ck = col(&t, "kind"), cs = col(&t, "step"), cm = col(&t, "mse"), ca = col(&t, "s_score");
    if (!t.ok || ck < 0 || cs < 0 || cm < 0) {
        fprintf(md, "No usable steps.tsv.\n\n");
        verdict("early denoising steps are more sensitive to reuse.", "cannot tell (no table)", "-");
        table_free(&t);
        return NAN;
    }
    figures(o, x);
    int st[1024], n = 0;
    double ms[1024], ss[1024];
    for (int i = 0; i < t.nrows && n < 1024; i++) {
        if (strcmp(t.rows[i][ck], "mean")) continue;
        st[n] = (int)num(&t, i, cs), ms[n] = num(&t, i, cm), ss[n] = num(&t, i, ca);
        n++;
    }
    const char *th = meta(&t, "options");
    fprintf(md, "Options: `%s`\n\n| step | mean output MSE | score savings |\n|---:|---:|---:|\n", th ? th : "?");
    double sum = 0;
    for (int i = 0; i < n; i++) {
        fprintf(md, "| %d | %.3g | %.1f%% |\n", st[i], ms[i], 100 * ss[i]);
        sum += ms[i];
    }
    fprintf(md, "\n");
    char res[512];
    if (n < 2) snprintf(res, sizeof res, "cannot tell (%d step(s))", n);
    else {
        double early = 0, late = 0;
        int h = n / 2;
        for (int i = 0; i < h; i++) early += ms[i];
        for (int i = n - h; i < n; i++) late += ms[i];
        early /= h, late /= h;
        snprintf(res, sizeof res, "%s — mean MSE of the earlier half of the captured steps %.3g, of the later "
                 "half %.3g.", early > late ? "**agree**" : "**disagree**", early, late);
    }
    verdict("early (noisy) denoising steps are more sensitive: at the same threshold their attention error is "
            "higher, which is why the threshold ramps up over the steps (Fig. 8, 9).", res,
            "agree when the mean MSE over the earlier half of the captured steps (rows of kind mean) exceeds "
            "that of the later half.");
    table_free(&t);
    return n ? sum / n : NAN;
}

static void index_fit(const paper_opts *o, const experiment *x)
{
    header(o, x, "per-step thresholds for a target error, and the fitted ramp");
    table t;
    tsv_path_load(&t, o, "fit", "fit_steps.tsv");
    int cs = col(&t, "step"), ct = col(&t, "theta"), cm = col(&t, "mse"), ca = col(&t, "s_score");
    if (!t.ok || cs < 0 || ct < 0) {
        fprintf(md, "No usable fit_steps.tsv.\n\n");
        verdict("the threshold ramps up over the denoising steps.", "cannot tell (no table)", "-");
        table_free(&t);
        return;
    }
    figures(o, x);
    const char *tg = meta(&t, "target");
    fprintf(md, "Target: %s\n\n| step | largest theta within target | its MSE | score savings |\n"
                "|---:|---:|---:|---:|\n", tg ? tg : "?");
    for (int i = 0; i < t.nrows; i++)
        fprintf(md, "| %s | %.4g | %.3g | %.1f%% |\n", t.rows[i][cs], num(&t, i, ct), num(&t, i, cm),
                100 * num(&t, i, ca));
    char path[4400];
    snprintf(path, sizeof path, "%s/fit/ramp.txt", o->d.out_dir);
    drv_ramp r;
    char err[DRV_RAMP_ERR];
    char res[512];
    if (drv_ramp_load(path, &r, err) == 0) {
        fprintf(md, "\nFitted ramp (fit/ramp.txt, zero-based steps): theta_start %.4g, theta_end %.4g, i_min %d, "
                    "i_max %d of %d steps. (The paper's printed Eq. 4 drops theta_start and its Table 1 lists "
                    "theta_max < theta_min; method.md section 5 gives the reading used here.)\n\n",
                r.theta_start, r.theta_end, r.i_min, r.i_max, r.num_steps);
        snprintf(res, sizeof res, "%s — theta_start %.4g, theta_end %.4g.",
                 r.theta_end >= r.theta_start ? "**agree**" : "**disagree**", r.theta_start, r.theta_end);
    } else {
        fprintf(md, "\nNo fitted ramp: %s\n\n", err);
        snprintf(res, sizeof res, "cannot tell (no ramp)");
    }
    verdict("each model needs a threshold that ramps up over the steps, with no reuse before i_min and at the last "
            "step (Table 1: e.g. HunyuanVideo 0.2/0.5/10/20).", res,
            "agree when the fitted ramp has theta_end >= theta_start.");
    table_free(&t);
}

/* Tables 2-4 at matched attention savings: per method, log10(mse) is
 * interpolated linearly in s_attn between its own points of
 * compare_summary.tsv (means over units per threshold), at a few savings
 * levels inside its range. */
static void index_matched(const table *t, int cmth, int cm, int ca)
{
    enum { MAXM = 12, MAXP = 256 };
    static const double levels[] = {0.10, 0.20, 0.30, 0.40};
    const int nlev = (int)(sizeof levels / sizeof levels[0]);
    const char *meth[MAXM];
    double px[MAXM][MAXP], py[MAXM][MAXP];
    int np[MAXM] = {0}, nm = 0;
    for (int i = 0; i < t->nrows; i++) {
        int j;
        for (j = 0; j < nm && strcmp(t->rows[i][cmth], meth[j]); j++) {}
        if (j == nm) {
            if (nm == MAXM) continue;
            meth[nm++] = t->rows[i][cmth];
        }
        double x = num(t, i, ca), y = num(t, i, cm);
        if (np[j] < MAXP && isfinite(x) && y > 0) px[j][np[j]] = x, py[j][np[j]++] = log10(y);
    }
    fprintf(md, "Tables 2-4 at matched **attention savings** s_attn: each method's output MSE interpolated "
                "(log-linear) between its own measured points; `-` where the method's sweep does not reach "
                "that saving. `reuse-t` = temporal-only reuse and `reuse-ramp` = the fitted ramp (Table 3), "
                "`reuse-channel` = channel-wise thresholds (Table 4).\n\n| method |");
    for (int l = 0; l < nlev; l++) fprintf(md, " s_attn %.0f%% |", 100 * levels[l]);
    fprintf(md, "\n|---|");
    for (int l = 0; l < nlev; l++) fprintf(md, "---:|");
    fprintf(md, "\n");
    for (int j = 0; j < nm; j++) {
        /* sort the method's points by savings (insertion sort: few points) */
        for (int a = 1; a < np[j]; a++)
            for (int b = a; b > 0 && px[j][b - 1] > px[j][b]; b--) {
                double tx = px[j][b], ty = py[j][b];
                px[j][b] = px[j][b - 1], py[j][b] = py[j][b - 1];
                px[j][b - 1] = tx, py[j][b - 1] = ty;
            }
        fprintf(md, "| %s |", meth[j]);
        for (int l = 0; l < nlev; l++) {
            double v = NAN, x = levels[l];
            for (int a = 0; a + 1 < np[j] && isnan(v); a++)
                if (px[j][a] <= x && x <= px[j][a + 1] && px[j][a + 1] > px[j][a])
                    v = py[j][a] + (x - px[j][a]) * (py[j][a + 1] - py[j][a]) / (px[j][a + 1] - px[j][a]);
            if (isnan(v)) fprintf(md, " - |");
            else fprintf(md, " %.3g |", pow(10.0, v));
        }
        fprintf(md, "\n");
    }
    fprintf(md, "\n");
}

static void index_compare(const paper_opts *o, const experiment *x)
{
    header(o, x, "reuse vs masking at equal savings");
    table t;
    tsv_path_load(&t, o, "compare", "compare.tsv");
    int cmth = col(&t, "method"), cm = col(&t, "mse"), cs = col(&t, "s_score"), ca = col(&t, "s_attn");
    static const char *const level_names[] = {"threshold", "level", "theta"};
    int cl = -1;
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0] && cl < 0; i++) cl = col(&t, level_names[i]);
    figures(o, x);
    if (!t.ok || cmth < 0 || cm < 0 || cl < 0) {
        fprintf(md, "No usable compare.tsv (needs columns method, mse and threshold).\n\n");
        verdict("reuse has a lower error than masking at equal savings (Fig. 7).", "cannot tell (no table)", "-");
        table_free(&t);
        return;
    }
    /* methods in the order met; reuse, mask-skip, mask-magnitude first */
    enum { MAXM = 12, MAXL = 128 };
    const char *meth[MAXM] = {"reuse", "mask-skip", "mask-magnitude"};
    int nm = 3;
    const char *lv[MAXL];
    double m[MAXL][MAXM] = {{0}}, sav[MAXL] = {0}, att[MAXL] = {0};
    int cnt[MAXL][MAXM] = {{0}}, nl = 0;
    for (int i = 0; i < t.nrows; i++) {
        int k, j;
        if (!strncmp(t.rows[i][cmth], "reuse-", 6)) continue; /* Table 3/4 variants: see below */
        for (j = 0; j < nm && strcmp(t.rows[i][cmth], meth[j]); j++) {}
        if (j == nm) {
            if (nm == MAXM) continue;
            meth[nm++] = t.rows[i][cmth];
        }
        for (k = 0; k < nl && strcmp(lv[k], t.rows[i][cl]); k++) {}
        if (k == nl) {
            if (nl == MAXL) continue;
            lv[nl++] = t.rows[i][cl];
        }
        m[k][j] += num(&t, i, cm);
        if (j == 0) sav[k] += num(&t, i, cs), att[k] += num(&t, i, ca);
        cnt[k][j]++;
    }
    fprintf(md, "Mean output MSE over units per threshold of reuse (the baselines take reuse's budget: "
                "mask-skip/mask-magnitude the same entry count, attention-map masks the same attention savings):\n\n"
                "| %s | reuse s_score | reuse s_attn |", t.cols[cl]);
    for (int j = 0; j < nm; j++) fprintf(md, " %s |", meth[j]);
    fprintf(md, "\n|---:|---:|---:|");
    for (int j = 0; j < nm; j++) fprintf(md, "---:|");
    fprintf(md, "\n");
    int judged = 0, agree = 0;
    for (int k = 0; k < nl; k++) {
        double v[MAXM];
        for (int j = 0; j < nm; j++) v[j] = cnt[k][j] ? m[k][j] / cnt[k][j] : NAN;
        fprintf(md, "| %s | %.1f%% | %.1f%% |", lv[k], cnt[k][0] ? 100 * sav[k] / cnt[k][0] : NAN,
                cnt[k][0] ? 100 * att[k] / cnt[k][0] : NAN);
        for (int j = 0; j < nm; j++) fprintf(md, " %.3g |", v[j]);
        fprintf(md, "\n");
        if (!isnan(v[0]) && !isnan(v[1])) {
            judged++;
            agree += v[0] < v[1] && (isnan(v[2]) || v[0] < v[2]);
        }
    }
    char res[256];
    snprintf(res, sizeof res, "%s — reuse has the lowest MSE of the three at %d of %d savings levels.",
             judged && agree == judged ? "**agree**" : agree ? "**partly**" : "**disagree**", agree, judged);
    fprintf(md, "\n");
    verdict("at equal savings, reusing partial scores of adjacent tokens gives a lower attention error than "
            "masking the same entries (mask-skip) or as many small-magnitude entries (mask-magnitude) (Fig. 7).",
            res, "agree when, at every threshold of the sweep, the mean MSE of reuse is below that of mask-skip and "
                 "of mask-magnitude (the attention-map columns are shown for Table 2, not judged here).");
    table st;
    tsv_path_load(&st, o, "compare", "compare_summary.tsv");
    int sm = col(&st, "method"), sme = col(&st, "mse"), sa = col(&st, "s_attn");
    if (st.ok && sm >= 0 && sme >= 0 && sa >= 0) index_matched(&st, sm, sme, sa);
    table_free(&st);
    table_free(&t);
}

static void capture_lines(const paper_opts *o)
{
    for (int c = 0; c < o->d.ncaptures; c++) {
        ripple_capture *cap;
        if (ripple_capture_open(o->d.captures[c], &cap)) {
            fprintf(md, "- `%s`: cannot open (%s)\n", o->d.captures[c], ripple_last_error());
            continue;
        }
        const ripple_capture_info *i = ripple_capture_get_info(cap);
        fprintf(md, "- `%s`: model %s, grid %lldx%lldx%lld (+%lld text tokens), %lld heads x %lld channels, "
                    "rope %s, %zu captured (step, layer) of %lld steps%s%s\n",
                o->d.captures[c], i->model, (long long)i->layout.grid[0], (long long)i->layout.grid[1],
                (long long)i->layout.grid[2], (long long)i->layout.video_offset, (long long)i->num_heads,
                (long long)i->layout.head_dim, i->rope_axes, ripple_capture_num_entries(cap),
                (long long)i->num_steps, i->prompt[0] ? ", prompt: " : "", i->prompt);
        ripple_capture_close(cap);
    }
}

int cmd_paper(int argc, char **argv)
{
    paper_opts o;
    parse(argc, argv, &o); /* DIR is created, writable and locked from here */
    install_forwarding();
    double t0 = cli_now();

    /* The first captured layer, for --quick; and a check that every capture opens. */
    char first_layer[32] = "";
    for (int c = 0; c < o.d.ncaptures; c++) {
        ripple_capture *cap = cli_capture_open(o.d.captures[c], "cannot use capture"); /* checked in a child */
        if (c == 0 && ripple_capture_num_entries(cap))
            snprintf(first_layer, sizeof first_layer, "%d", ripple_capture_get_entry(cap, 0)->layer);
        ripple_capture_close(cap);
    }

    args a;
    /* window first: its threshold is that of steps */
    base_args(&a, &o, &xs[X_WINDOW], first_layer);
    if (o.quick) arg(&a, "--windows"), arg(&a, "2,4,8"), arg(&a, "--no-floor");
    run(&xs[X_WINDOW], &a, &o);

    base_args(&a, &o, &xs[X_GROUPS], first_layer);
    if (o.quick) arg(&a, "--no-floor");
    run(&xs[X_GROUPS], &a, &o);

    /* Each section goes to its own memory buffer while the drivers run (window's
     * numbers choose steps' threshold, steps' the target of fit); the index is
     * put together at the end in the paper's order, after the totals. */
    char *sec[X_COUNT] = {0};
    size_t seclen[X_COUNT] = {0};
#define SECTION(i, call)                                                     \
    do {                                                                     \
        md = open_memstream(&sec[i], &seclen[i]);                            \
        if (!md) cli_data_error("out of memory");                            \
        call;                                                                \
        fclose(md);                                                          \
    } while (0)

    double mse_w2 = NAN, theta_w = NAN, mse_steps = NAN;
    SECTION(X_WINDOW, theta_w = index_window(&o, &xs[X_WINDOW], &mse_w2));
    SECTION(X_GROUPS, index_groups(&o, &xs[X_GROUPS]));

    double theta = isnan(o.theta) ? theta_w : o.theta;
    base_args(&a, &o, &xs[X_STEPS], first_layer);
    if (!isnan(theta)) arg(&a, "--theta"), arg(&a, "%.9g", theta);
    if (o.quick) arg(&a, "--no-floor");
    if (isnan(theta)) not_run(&xs[X_STEPS], "no threshold: window gave none (it failed); give --theta X");
    else run(&xs[X_STEPS], &a, &o);
    SECTION(X_STEPS, mse_steps = index_steps(&o, &xs[X_STEPS]));

    double target = !isnan(o.target) ? o.target : !isnan(mse_steps) && mse_steps > 0 ? mse_steps : mse_w2;
    base_args(&a, &o, &xs[X_FIT], first_layer);
    if (!isnan(target) && target > 0) arg(&a, "--target"), arg(&a, "%.6g", target);
    if (o.quick) arg(&a, "--no-floor");
    if (!(target > 0))
        not_run(&xs[X_FIT], "no target MSE: %s; give --target MSE",
                isnan(target) ? "steps and window measured none (they failed)"
                              : "the error measured at the threshold is 0 (nothing reused)");
    else run(&xs[X_FIT], &a, &o);
    SECTION(X_FIT, index_fit(&o, &xs[X_FIT]));

    base_args(&a, &o, &xs[X_COMPARE], first_layer);
    if (!o.quick) {
        /* Tables 3 and 4: temporal-only, the fitted ramp, channel-wise thresholds */
        char ramp[4400];
        snprintf(ramp, sizeof ramp, "%s/fit/ramp.txt", o.d.out_dir);
        arg(&a, "--table3"), arg(&a, "--table4");
        if (xs[X_FIT].rc == 0 && access(ramp, R_OK) == 0) arg(&a, "--ramp"), arg(&a, "%s", ramp);
    }
    run(&xs[X_COMPARE], &a, &o);
    SECTION(X_COMPARE, index_compare(&o, &xs[X_COMPARE]));
#undef SECTION

    double wall = cli_now() - t0, exact = 0;
    int failed = 0, recorded = 0;
    for (int i = 0; i < X_COUNT; i++) {
        failed += xs[i].rc != 0;
        if (!isnan(xs[i].exact)) exact += xs[i].exact, recorded++;
    }

    char tmp_md[4400];
    snprintf(tmp_md, sizeof tmp_md, "%s/index.md.tmp", o.d.out_dir);
    md = fopen(tmp_md, "w");
    if (!md) cli_data_error("cannot write %s: %s", tmp_md, strerror(errno));
    fprintf(md, "# ripple: the paper's experiments on these captures\n\n"
                "TIMERIPPLE (arXiv 2511.12035), replayed on captured Q/K/V; definitions in method.md. "
                "Written by `ripple paper` (%s)%s.\n\n", RIPPLE_GIT_DESCRIBE,
            o.quick ? " with --quick (first head and first layer only, windows 2,4,8, no noise floor)" : "");
    fprintf(md, "Captures:\n\n");
    capture_lines(&o);
    fprintf(md, "\nSelection: %s. Backend: %s.\n\n", drv_selection_str(&o.d), ripple_backend_name(o.d.backend));
    fprintf(md, "Wall time %.1f s; exact attention %.2f s (%.1f%%, as recorded by %d of %d drivers). "
                "%d of %d experiments failed.\n\n",
            wall, exact, wall > 0 ? 100 * exact / wall : 0, recorded, X_COUNT, failed, X_COUNT);
    fprintf(md, "Savings are always named: *score savings* s_score = 1 - computed partial scores / (N^2 d) (the "
                "paper's \"computation savings\"); *attention savings* s_attn = s_score / 2 (QK^T and PV each cost "
                "2N^2d; reuse spares only QK^T). Errors compare the attention output with float32 exact "
                "attention.\n\n");
    /* the paper's order */
    static const int order[X_COUNT] = {X_GROUPS, X_COMPARE, X_STEPS, X_FIT, X_WINDOW};
    fprintf(md, "| experiment | paper | status | wall (s) |\n|---|---|---|---:|\n");
    for (int k = 0; k < X_COUNT; k++) {
        const experiment *x = &xs[order[k]];
        fprintf(md, "| %s | %s | %s | %.1f |\n", x->name, x->paper, !x->ran ? "not run" : x->rc ? "FAILED" : "ok",
                x->wall);
    }
    fprintf(md, "\n");
    for (int k = 0; k < X_COUNT; k++) {
        int i = order[k];
        if (seclen[i] && fwrite(sec[i], 1, seclen[i], md) != seclen[i]) cli_data_error("cannot write %s", tmp_md);
        free(sec[i]);
    }
    char final_md[4400];
    snprintf(final_md, sizeof final_md, "%s/index.md", o.d.out_dir);
    if (fclose(md) || rename(tmp_md, final_md)) cli_data_error("cannot write %s: %s", final_md, strerror(errno));

    printf("\n%-8s %-15s %-7s %9s %9s\n", "driver", "paper", "status", "wall s", "exact s");
    for (int i = 0; i < X_COUNT; i++) {
        char ex[DRV_CELL];
        if (isnan(xs[i].exact)) snprintf(ex, sizeof ex, "n/r");
        else snprintf(ex, sizeof ex, "%.2f", xs[i].exact);
        printf("%-8s %-15s %-7s %9.1f %9s\n", xs[i].name, xs[i].paper,
               !xs[i].ran ? "not run" : xs[i].rc ? "FAILED" : "ok", xs[i].wall, ex);
    }
    printf("ripple paper: wall time %.1f s; exact attention %.2f s = %.1f%% of it (recorded by %d of %d drivers)\n",
           wall, exact, wall > 0 ? 100 * exact / wall : 0, recorded, X_COUNT);
    printf("wrote %s\n", final_md);
    fflush(stdout);
    if (failed) {
        fprintf(stderr, "ripple paper: %d experiment(s) failed (see %s)\n", failed, final_md);
        return CLI_EXIT_DATA;
    }
    return CLI_EXIT_OK;
}
