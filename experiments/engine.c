#include "engine.h"
#include "dist.h"
#include "scale.h"

#include "ripple_version.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <signal.h>
#include <time.h>
#include <unistd.h>

/* Messages of an MPI run (dist.h): rank 0 sends a run's command (JOB) or
 * the end (QUIT); each worker answers with what it planned (PLAN), rank 0
 * says whether the sweep goes ahead (GO); then workers ask for a group
 * (REQ), get one or -1 (ASSIGN), send each row they finish (ROW) and at the
 * end their status, exact-attention seconds and failed unit (DONE). */
enum { TAG_JOB = 1, TAG_QUIT, TAG_PLAN, TAG_GO, TAG_REQ, TAG_ASSIGN, TAG_ROW, TAG_DONE };

const char exp_common_help[] =
    "common options:\n"
    "  --out DIR          folder for the TSV, the gnuplot script and the figure\n"
    "                     (required)\n"
    "  --steps SEL        steps to use: all (default), a list 0,10,20 or a range a:b\n"
    "  --layers SEL       layers to use, likewise\n"
    "  --heads a:b        heads a..b-1 of those stored (default: all)\n"
    "  --backend B        cpu (default) or cuda, for exact attention\n"
    "  --svg, --pdf       also render the figure as SVG / PDF\n"
    "  --fresh            recompute rows finished by an earlier run with the same\n"
    "                     options\n"
    "  --shard I/N        compute shard I of N of the units (a fixed split) into\n"
    "                     DIR/shard-I-of-N/; `ripple merge DIR` combines the shards.\n"
    "                     Default: from SLURM_ARRAY_TASK_ID/_COUNT, or\n"
    "                     OMPI_COMM_WORLD_RANK/_SIZE or PMI_RANK/_SIZE (mpirun of a\n"
    "                     build without MPI); 1/1: none\n"
    "  -h, --help         this text\n"
    "Under mpirun (a build with MPI) the ranks share the units, rank 0 writes the\n"
    "files.\n";

/* ------------------------------------------------------- errors, memory */

typedef struct exp_block {
    struct exp_block *next;
    max_align_t data[];
} exp_block;

int exp_fail(exp_run *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    return code;
}

int exp_lib(exp_run *r, ripple_status s, const char *what)
{
    return exp_fail(r, s == RIPPLE_ERR_INVALID ? EXP_USAGE : EXP_DATA, "%s: %s", what, ripple_last_error());
}

void *exp_alloc(exp_run *r, size_t count, size_t size)
{
    exp_block *b = NULL;
    if (!count || size <= (SIZE_MAX - sizeof *b) / count) b = calloc(1, sizeof *b + count * size);
    if (!b) {
        exp_fail(r, EXP_DATA, "out of memory allocating %zu x %zu bytes", count, size);
        return NULL;
    }
    b->next = r->blocks;
    r->blocks = b;
    return b->data;
}

exp_run *exp_new(const exp_def *def)
{
    exp_run *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->def = def;
    r->t0 = cli_now();
    r->lock_fd = -1;
    r->c.head_hi = -1;
    r->c.backend = RIPPLE_BACKEND_CPU;
    r->role = dist_size() > 1 ? (dist_rank() ? EXP_WORKER : EXP_LEAD) : EXP_SOLO;
    r->opts = exp_alloc(r, 1, def->opts_size ? def->opts_size : 1);
    r->state = exp_alloc(r, 1, def->state_size ? def->state_size : 1);
    r->tabs = exp_alloc(r, (size_t)def->ntables + 1, sizeof *r->tabs);
    r->reused_rows = exp_alloc(r, (size_t)def->ntables + 1, sizeof *r->reused_rows);
    if (!r->opts || !r->state || !r->tabs || !r->reused_rows) {
        exp_free(r);
        return NULL;
    }
    if (def->defaults) memcpy(r->opts, def->defaults, def->opts_size);
    return r;
}

static void unload(exp_group *g)
{
    if (!g->eu) return;
    for (int k = 0; k < g->count; k++) eval_unit_free(&g->eu[k]);
    free(g->eu);
    g->eu = NULL;
}

void exp_free(exp_run *r)
{
    if (!r) return;
    if (r->def->cleanup) r->def->cleanup(r);
    for (int g = 0; g < r->ngroups; g++) unload(&r->groups[g]);
    for (int i = 0; r->tabs && i < r->def->ntables; i++) rtable_free(r->tabs[i]);
    for (int c = 0; r->srcs && c < r->c.ncaptures; c++) src_close(&r->srcs[c]);
    for (int i = 0; r->merge_tabs && i < r->def->ntables * r->merge_n; i++) rtable_free(r->merge_tabs[i]);
    if (r->lock_fd >= 0) close(r->lock_fd);
    while (r->blocks) {
        exp_block *b = r->blocks;
        r->blocks = b->next;
        free(b);
    }
    free(r);
}

/* -------------------------------------------------------------- options */

/* Items of a --steps/--layers list selection; MAX_SEL_LEN characters at most. */
enum { MAX_SEL_LEN = 1024, MAX_SEL_ITEMS = MAX_SEL_LEN / 2 + 1 };

/* 1 if value is selected by sel (NULL/"all" = everything; "a,b,c"; "a:b"
 * half-open; "a:"), 0 if not, EXP_USAGE (-) for a malformed selection. */
static int selected(exp_run *r, const char *opt, const char *sel, int value)
{
    char err[CLI_ERR];
    if (!sel || !strcmp(sel, "all")) return 1;
    if (strchr(sel, ':')) {
        int64_t lo, hi;
        if (cli_parse_range(opt, sel, &lo, &hi, err)) return -exp_fail(r, EXP_USAGE, "%s", err);
        return value >= lo && (hi < 0 || value < hi);
    }
    char buf[MAX_SEL_LEN];
    char *items[MAX_SEL_ITEMS];
    int n, hit = 0;
    if (cli_parse_list(opt, sel, buf, sizeof buf, items, MAX_SEL_ITEMS, &n, err))
        return -exp_fail(r, EXP_USAGE, "%s", err);
    for (int i = 0; i < n; i++) {
        int64_t v;
        if (cli_parse_int(opt, items[i], 0, INT32_MAX, &v, err)) return -exp_fail(r, EXP_USAGE, "%s", err);
        hit |= v == value;
    }
    return hit;
}

enum { O_STEPS = 1, O_LAYERS, O_HEADS, O_OUT, O_SVG, O_PDF, O_BACKEND, O_FRESH, O_SHARD, O_HELP, O_OWN = 1000 };
static const struct option common_longopts[] = {
    {"steps", required_argument, 0, O_STEPS},     {"layers", required_argument, 0, O_LAYERS},
    {"heads", required_argument, 0, O_HEADS},     {"out", required_argument, 0, O_OUT},
    {"svg", no_argument, 0, O_SVG},               {"pdf", no_argument, 0, O_PDF},
    {"backend", required_argument, 0, O_BACKEND}, {"fresh", no_argument, 0, O_FRESH},
    {"shard", required_argument, 0, O_SHARD},     {"help", no_argument, 0, O_HELP}};
enum { NCOMMON = (int)(sizeof common_longopts / sizeof common_longopts[0]) };

/* "I/N", 1 <= I <= N, into *i, *n. */
static int parse_shard(exp_run *r, const char *what, const char *arg, int *i, int *n)
{
    char a[32], err[CLI_ERR];
    const char *slash = strchr(arg, '/');
    int64_t vi, vn;
    if (!slash || slash == arg || (size_t)(slash - arg) >= sizeof a)
        return exp_fail(r, EXP_USAGE, "%s: '%s' is not I/N (shard I of N, 1 <= I <= N)", what, arg);
    memcpy(a, arg, (size_t)(slash - arg));
    a[slash - arg] = '\0';
    if (cli_parse_int(what, slash + 1, 1, 1 << 20, &vn, err) || cli_parse_int(what, a, 1, vn, &vi, err))
        return exp_fail(r, EXP_USAGE, "%s (in '%s': shard I of N, 1 <= I <= N)", err, arg);
    *i = (int)vi, *n = (int)vn;
    return 0;
}

static int common_option(exp_run *r, int c, char *arg)
{
    char err[CLI_ERR];
    exp_common *o = &r->c;
    switch (c) {
    /* a selection is checked when given, so a bad one is a usage error before any work */
    case O_STEPS: o->steps = arg; return selected(r, "--steps", arg, 0) < 0 ? EXP_USAGE : 0;
    case O_LAYERS: o->layers = arg; return selected(r, "--layers", arg, 0) < 0 ? EXP_USAGE : 0;
    case O_HEADS:
        o->heads_given = 1;
        return cli_parse_range("--heads", arg, &o->head_lo, &o->head_hi, err) ? exp_fail(r, EXP_USAGE, "%s", err) : 0;
    case O_OUT: o->out_dir = arg; return *arg ? 0 : exp_fail(r, EXP_USAGE, "--out: empty value");
    case O_SVG: o->svg = 1; return 0;
    case O_PDF: o->pdf = 1; return 0;
    case O_FRESH: o->fresh = 1; return 0;
    case O_SHARD: o->shard_from = "--shard"; return parse_shard(r, "--shard", arg, &o->shard, &o->nshards);
    case O_BACKEND:
        if (!strcmp(arg, "cpu")) o->backend = RIPPLE_BACKEND_CPU;
        else if (!strcmp(arg, "cuda")) o->backend = RIPPLE_BACKEND_CUDA;
        else return exp_fail(r, EXP_USAGE, "--backend: '%s' is not cpu or cuda", arg);
        return 0;
    default: abort(); /* not a common option: a bug */
    }
}

/* Option o of the description with its value arg. */
/* The option of the description given first whose excl is excl (0: none). */
static const exp_opt *given_with(const exp_run *r, int excl)
{
    for (int w = 0; excl && w < r->nown_words; w += 2)
        for (const exp_opt *o = r->def->opts; o->name; o++)
            if (o->excl == excl && !strcmp(o->name, r->own_words[w])) return o;
    return NULL;
}

/* A required option (or group of excl) none of which was given: its usage error. */
static int check_required(exp_run *r)
{
    for (const exp_opt *o = r->def->opts; o && o->name; o++) {
        int given = 0;
        for (int w = 0; w < r->nown_words; w += 2) given |= !strcmp(o->name, r->own_words[w]);
        if (!o->required || given || given_with(r, o->excl)) continue;
        char list[512] = "";
        for (const exp_opt *p = r->def->opts; p->name; p++)
            if (p == o || (o->excl && p->excl == o->excl))
                cli_appendf(list, sizeof list, "%s--%s%s%s", list[0] ? " or " : "", p->name, p->arg ? " " : "",
                            p->arg ? p->arg : "");
        return exp_fail(r, EXP_USAGE, "%s is required", list);
    }
    return 0;
}

static int own_option(exp_run *r, const exp_opt *o, const char *arg)
{
    char name[64], err[CLI_ERR], buf[2048], *items[256];
    snprintf(name, sizeof name, "--%s", o->name);
    char *field = (char *)r->opts + o->off;
    int64_t iv;
    int n, rc = 0;
    size_t len = strlen(r->given);
    char word[1100];
    snprintf(r->given + len, sizeof r->given - len, " %s%s%s", name, arg ? " " : "",
             arg ? cli_shell_word(word, sizeof word, arg) : "");
    if (o->given) *(int *)((char *)r->opts + o->given - 1) = 1;
    const exp_opt *other = given_with(r, o->excl);
    if (o->excl && other && other != o)
        return exp_fail(r, EXP_USAGE, "--%s and %s exclude each other", other->name, name);
    EXP_ASSERT(r->nown_words + 2 <= 2 * EXP_MAX_OWN);
    r->own_words[r->nown_words++] = o->name;
    r->own_words[r->nown_words++] = arg;
    switch (o->kind) {
    case EXP_FLAG: *(int *)field = 1; break;
    case EXP_UNSET: *(int *)field = 0; break;
    case EXP_INT:
        rc = cli_parse_int(name, arg, (int64_t)o->lo, (int64_t)o->hi, &iv, err);
        *(int *)field = (int)iv;
        break;
    case EXP_DOUBLE:
        rc = cli_parse_double(name, arg, o->lo, o->hi, (double *)field, err);
        if (!rc && o->open && (*(double *)field == o->lo || isinf(*(double *)field)))
            return o->lo == 0 ? exp_fail(r, EXP_USAGE, "%s: %s must be positive (> 0)%s", name, arg,
                                         isinf(o->hi) ? " and finite" : "")
                              : exp_fail(r, EXP_USAGE, "%s: %s must be > %g%s", name, arg, o->lo,
                                         isinf(o->hi) ? " and finite" : "");
        break;
    case EXP_TEXT:
        if (!*arg) return exp_fail(r, EXP_USAGE, "%s: empty value", name);
        *(const char **)field = arg;
        break;
    case EXP_AXES: rc = cli_parse_axes(name, arg, (unsigned *)field, err); break;
    case EXP_MODE:
        if (!strcmp(arg, "absolute")) *(ripple_threshold_mode *)field = RIPPLE_THRESHOLD_ABSOLUTE;
        else if (!strcmp(arg, "channel")) *(ripple_threshold_mode *)field = RIPPLE_THRESHOLD_CHANNEL;
        else return exp_fail(r, EXP_USAGE, "%s: '%s' is not absolute or channel", name, arg);
        break;
    case EXP_DOUBLES:
    case EXP_INTS:
        EXP_ASSERT(o->max <= 256);
        if ((rc = cli_parse_list(name, arg, buf, sizeof buf, items, o->max, &n, err))) break;
        for (int i = 0; i < n && !rc; i++) {
            if (o->kind == EXP_DOUBLES) {
                rc = cli_parse_double(name, items[i], o->lo, o->hi, (double *)field + i, err);
                continue;
            }
            if ((rc = cli_parse_int(name, items[i], (int64_t)o->lo, (int64_t)o->hi, &iv, err))) break;
            for (int j = 0; j < i; j++)
                if (((int *)field)[j] == iv) return exp_fail(r, EXP_USAGE, "%s: %lld given twice", name, (long long)iv);
            ((int *)field)[i] = (int)iv;
        }
        *(int *)((char *)r->opts + o->count) = n;
        break;
    case EXP_CUSTOM: return o->parse(r, r->opts, arg);
    }
    return rc ? exp_fail(r, EXP_USAGE, "%s", err) : 0;
}

/* Help text h, its first line from column col on, the others from column
 * indent, words wrapped at 80 columns; its own line breaks and runs of
 * spaces (aligned sub-lists) are kept. */
static void put_help(exp_text *t, const char *h, int col, int indent)
{
    enum { WIDTH = 80 };
    int fresh = 1; /* fresh: nothing written on this line yet */
    for (const char *p = h; *p;) {
        if (*p == '\n') {
            exp_printf(t, "\n%*s", indent, "");
            col = indent, fresh = 1, p++;
            continue;
        }
        const size_t sep = strspn(p, " "), n = strcspn(p + sep, " \n");
        if (!fresh && col + (int)(sep + n) > WIDTH) {
            exp_printf(t, "\n%*s%.*s", indent, "", (int)n, p + sep);
            col = indent + (int)n;
        } else {
            exp_printf(t, "%.*s", (int)(sep + n), p);
            col += (int)(sep + n);
        }
        fresh = 0, p += sep + n;
    }
    exp_printf(t, "\n");
}

static const char savings_help[] =
    "Savings: s_score = 1 - computed partial scores / (N^2 d), the score savings\n"
    "(the paper's \"computation savings\"); s_attn = s_score/2, the attention\n"
    "savings: the share of attention FLOPs (QK^T + PV) spared.\n";

/* The files of --help: each table (what a row is: its about, or its key
 * columns) and figure; the savings when a table has them. */
static void files_help(exp_text *t, const exp_def *d)
{
    exp_text f = {0};
    int savings = 0;
    exp_printf(&f, "\nFiles in DIR:");
    for (int i = 0; i < d->ntables; i++) {
        const exp_table_def *td = &d->tables[i];
        exp_printf(&f, " %s.tsv%s%s", td->name, td->about || td->keys ? " (" : "", td->about ? td->about : "");
        for (int k = 0; k < td->keys && !td->about; k++)
            exp_printf(&f, "%s %s", !k ? "a row per" : k < td->keys - 1 ? "," : " and", td->cols[k].name);
        exp_printf(&f, "%s,", td->about || td->keys ? ")" : "");
        for (int c = 0; c < td->ncols; c++) savings |= !strcmp(td->cols[c].name, "s_score");
    }
    for (int i = 0; i < d->nplots; i++)
        exp_printf(&f, " %s.gp and %s.png%s", d->plots[i].name, d->plots[i].name,
                   i < d->nplots - 1 ? "," : " (the .gp scripts read only the TSVs);");
    exp_printf(&f, " each TSV begins with `#` lines: the options, captures, git describe, backend, what the "
               "columns mean, timing.");
    if (!f.failed) put_help(t, f.buf, 0, 0);
    t->failed |= f.failed;
    free(f.buf);
    if (savings) exp_printf(t, "%s", savings_help);
}

/* --help: the usage line, then the description's usage with its own
 * options (those with help), the common ones and, with help_files, its files. */
static int print_usage(exp_run *r)
{
    exp_text t = {0};
    for (const exp_opt *o = r->def->opts; o && o->name; o++) {
        if (!o->help) continue;
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        exp_printf(&t, "%s  %-18s ", t.len ? "" : "options:\n", left);
        put_help(&t, o->help, 3 + (strlen(left) > 18 ? (int)strlen(left) : 18), 21);
    }
    exp_printf(&t, "%s", exp_common_help);
    if (r->def->help_files) files_help(&t, r->def);
    if (t.failed) return exp_fail(r, EXP_DATA, "out of memory");
    printf("usage: ripple %s%s --out DIR%s%s [options]\n\n", r->def->name, r->def->units ? "" : " CAPTURE...",
           r->def->args ? " " : "", r->def->args ? r->def->args : "");
    printf(r->def->usage, t.buf);
    free(t.buf);
    return EXP_HELP;
}

int exp_parse(exp_run *r, int argc, char **argv)
{
    int nown = 0;
    while (r->def->opts && r->def->opts[nown].name) nown++;
    struct option *lo = exp_alloc(r, (size_t)(NCOMMON + nown + 1), sizeof *lo);
    if (!lo) return EXP_DATA;
    memcpy(lo, common_longopts, sizeof common_longopts);
    for (int i = 0; i < nown; i++) {
        const exp_opt *o = &r->def->opts[i];
        int flag = o->kind == EXP_FLAG || o->kind == EXP_UNSET;
        lo[NCOMMON + i] = (struct option){o->name, flag ? no_argument : required_argument, 0, O_OWN + i};
    }
    opterr = 0;
    optind = 0; /* glibc: full reinitialisation */
    int c, rc = 0;
    while (!rc && (c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
        if (c == 'h' || c == O_HELP) return print_usage(r);
        if (c == ':') rc = exp_fail(r, EXP_USAGE, "option %s needs a value", argv[optind - 1]);
        else if (c == '?') rc = exp_fail(r, EXP_USAGE, "unknown option '%s'", argv[optind - 1]);
        else if (c >= O_OWN) rc = own_option(r, &r->def->opts[c - O_OWN], optarg);
        else rc = common_option(r, c, optarg);
    }
    if (rc) return rc;
    r->c.captures = argv + optind;
    r->c.ncaptures = argc - optind;
    return 0;
}

int exp_set(exp_run *r, const char *name, const char *value)
{
    for (const exp_opt *o = r->def->opts; o && o->name; o++)
        if (!strcmp(o->name, name)) return own_option(r, o, value);
    fprintf(stderr, "ripple: internal error: %s has no option --%s\n", r->def->name, name);
    abort();
}

const char *exp_cmdline(const exp_run *r, char *buf, size_t n)
{
    size_t len = (size_t)snprintf(buf, n, "ripple %s", r->def->name);
#define ADD(...) (len += len < n ? (size_t)snprintf(buf + len, n - len, __VA_ARGS__) : 0)
    char w[1100];
    for (int c = 0; c < r->c.ncaptures; c++) ADD(" %s", cli_shell_word(w, sizeof w, r->c.captures[c]));
    const char *out = r->out_parent ? r->out_parent : r->c.out_dir;
    ADD(" --out %s", out ? cli_shell_word(w, sizeof w, out) : "?");
    if (r->c.steps) ADD(" --steps %s", cli_shell_word(w, sizeof w, r->c.steps));
    if (r->c.layers) ADD(" --layers %s", cli_shell_word(w, sizeof w, r->c.layers));
    if (r->c.head_hi >= 0) ADD(" --heads %lld:%lld", (long long)r->c.head_lo, (long long)r->c.head_hi);
    else if (r->c.head_lo) ADD(" --heads %lld:", (long long)r->c.head_lo);
    if (r->c.backend != RIPPLE_BACKEND_CPU) ADD(" --backend %s", ripple_backend_name(r->c.backend));
    if (r->c.svg) ADD(" --svg");
    if (r->c.pdf) ADD(" --pdf");
    if (r->c.fresh) ADD(" --fresh");
    if (r->c.nshards > 1) ADD(" --shard %d/%d", r->c.shard, r->c.nshards);
    ADD("%s", r->given);
#undef ADD
    return buf;
}

void exp_report(const exp_run *r, int status)
{
    if (status <= 0 || !r->msg[0]) return;
    fprintf(stderr, "ripple %s: %s\n", r->def->name, r->msg);
    if (status == EXP_USAGE) fprintf(stderr, "Try 'ripple %s --help'.\n", r->def->name);
}

const exp_def *exp_lookup(const char *name)
{
    for (int i = 0; exp_registry[i]; i++)
        if (!strcmp(exp_registry[i]->name, name)) return exp_registry[i];
    return NULL;
}

/* The transport of an MPI run broke (or a peer broke the protocol): no
 * rank can go on alone, so every rank ends. */
static void transport_broken(const char *what)
{
    fprintf(stderr, "ripple: rank %d: MPI transport failed (%s); ending every rank\n", dist_rank(), what);
    dist_abort(CLI_EXIT_DATA);
}

static void send_or_die(int to, int tag, const void *buf, size_t len)
{
    if (dist_send(to, tag, buf, len)) transport_broken("send");
}

/* A message of tag from rank from, waiting for it. */
/* (not inlined: gcc 12 takes the returned pointer for one to its local variable) */
__attribute__((noinline)) static char *recv_or_die(int from, int tag, size_t *len, int *src)
{
    char *buf = NULL;
    size_t n = 0;
    if (dist_recv(from, tag, 1, src, NULL, &buf, &n) != 1) transport_broken("receive");
    if (len) *len = n;
    return buf;
}

/* A worker rank: runs what rank 0 sends, until QUIT. Its own exit code is
 * 0: rank 0 reports every failure, and its exit code is the run's. */
static int follow(void)
{
    for (;;) {
        int tag;
        char *buf = NULL;
        size_t len = 0;
        if (dist_recv(0, -1, 1, NULL, &tag, &buf, &len) != 1) transport_broken("receive");
        if (tag == TAG_QUIT) {
            free(buf);
            return 0;
        }
        if (tag != TAG_JOB) transport_broken("unexpected message");
        /* name \0 word \0 word ... */
        int argc = 0;
        for (size_t i = 0; i < len; i++) argc += buf[i] == '\0';
        char **argv = calloc((size_t)argc + 1, sizeof *argv);
        if (!argv) transport_broken("out of memory");
        for (size_t i = 0, k = 0; i < len && k < (size_t)argc; i += strlen(buf + i) + 1) argv[k++] = buf + i;
        const exp_def *def = exp_lookup(argv[0]);
        exp_run *r = def ? exp_new(def) : NULL;
        int rc = r ? exp_parse(r, argc, argv) : EXP_DATA;
        if (!rc) rc = exp_execute(r);
        if (!r || !r->synced) { /* failed before planning: rank 0 waits for every rank's plan */
            char msg[1200];
            int n = snprintf(msg, sizeof msg, "%d\n%s", rc ? rc : EXP_DATA,
                             !def ? "unknown experiment" : !r ? "out of memory" : r->msg[0] ? r->msg : "did not plan");
            send_or_die(0, TAG_PLAN, msg, (size_t)n + 1);
            free(recv_or_die(0, TAG_GO, NULL, NULL));
        }
        exp_free(r);
        free(argv);
        free(buf);
    }
}

int exp_main(const exp_def *def, int argc, char **argv)
{
    char err[256];
    if (dist_init(err, sizeof err)) {
        fprintf(stderr, "ripple %s: %s\n", def->name, err);
        dist_finalize();
        return CLI_EXIT_DATA;
    }
    if (dist_rank() > 0) {
        int rc = follow();
        dist_finalize();
        return rc;
    }
    exp_run *r = exp_new(def);
    int rc = EXP_DATA;
    if (!r) fprintf(stderr, "ripple %s: out of memory\n", def->name);
    else {
        rc = exp_parse(r, argc, argv);
        if (rc == 0) rc = exp_execute(r);
        exp_report(r, rc);
        exp_free(r);
    }
    for (int w = 1; w < dist_size(); w++) send_or_die(w, TAG_QUIT, "", 1);
    dist_finalize();
    return rc == EXP_HELP ? CLI_EXIT_OK : rc;
}

const char *exp_selection(const exp_run *r, char *buf, size_t n)
{
    char heads[64];
    if (r->c.head_hi < 0) snprintf(heads, sizeof heads, "%lld:", (long long)r->c.head_lo);
    else snprintf(heads, sizeof heads, "%lld:%lld", (long long)r->c.head_lo, (long long)r->c.head_hi);
    snprintf(buf, n, "steps=%s layers=%s heads=%s backend=%s", r->c.steps ? r->c.steps : "all",
             r->c.layers ? r->c.layers : "all", heads, ripple_backend_name(r->c.backend));
    return buf;
}

const char *exp_capture_list(const exp_run *r, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int c = 0; c < r->c.ncaptures && len < n; c++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", c ? "," : "", r->c.captures[c]);
    return buf;
}

/* --------------------------------------------------------------- folder */

static int mkdir_p(exp_run *r, const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return exp_fail(r, EXP_USAGE, "--out: path too long");
    for (char *p = buf + 1;; p++) {
        if (*p && *p != '/') continue;
        char was = *p;
        *p = '\0';
        if (mkdir(buf, 0777) && errno != EEXIST) return exp_fail(r, EXP_DATA, "cannot create %s: %s", buf, strerror(errno));
        if (!(*p = was)) break;
    }
    struct stat st;
    if (stat(buf, &st) || !S_ISDIR(st.st_mode)) return exp_fail(r, EXP_DATA, "--out %s is not a folder", dir);
    return 0;
}

/* Takes DIR/.ripple.lock (flock, held until the run is freed or the
 * process ends), which is also the check that DIR is writable. */
static int lock_out_dir(exp_run *r)
{
    char path[4200];
    const char *dir = r->c.out_dir;
    if (snprintf(path, sizeof path, "%s/.ripple.lock", dir) >= (int)sizeof path)
        return exp_fail(r, EXP_USAGE, "--out: path too long");
    r->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (r->lock_fd < 0) return exp_fail(r, EXP_DATA, "cannot write %s: %s", dir, strerror(errno));
    if (flock(r->lock_fd, LOCK_EX | LOCK_NB) == 0) return 0;
    if (errno == EWOULDBLOCK)
        return exp_fail(r, EXP_DATA, "another ripple run is writing %s (it holds %s): wait for it to end or stop it",
                        dir, path);
    return exp_fail(r, EXP_DATA, "cannot lock %s: %s", path, strerror(errno));
}

const char *exp_path(const exp_run *r, const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", r->c.out_dir, name);
    return buf;
}

/* ---------------------------------------------------------------- units */

/* Opens every capture and lists the selected units, in the sources' order
 * (step-major, source.h): by capture, step, layer. */
/* r->srcs: the captures opened as sources. */
static int open_sources(exp_run *r)
{
    if (!(r->srcs = exp_alloc(r, (size_t)r->c.ncaptures, sizeof *r->srcs))) return EXP_DATA;
    for (int c = 0; c < r->c.ncaptures; c++) {
        /* libhdf5 may crash or hang on corrupted metadata: read it in a child first */
        int chk = cli_capture_check(r->c.captures[c], "cannot use capture", r->msg, sizeof r->msg);
        if (chk) return chk == CLI_EXIT_USAGE ? EXP_USAGE : EXP_DATA;
        ripple_status s = src_open_capture(r->c.captures[c], &r->srcs[c]);
        if (s) return exp_lib(r, s, "cannot use capture");
    }
    return 0;
}

static int plan_units(exp_run *r)
{
    int cap = 0;
    EXP_TRY(open_sources(r));
    for (int c = 0; c < r->c.ncaptures; c++) {
        const ripple_capture_info *info = r->srcs[c].info;
        if (r->c.head_lo >= info->num_heads || r->c.head_hi > info->num_heads)
            return exp_fail(r, EXP_USAGE, "--heads: %s stores heads 0:%lld", r->c.captures[c],
                            (long long)info->num_heads);
        src_unit e;
        while (src_next(&r->srcs[c], &e)) {
            int a = selected(r, "--steps", r->c.steps, e.step), b = selected(r, "--layers", r->c.layers, e.layer);
            if (a < 0 || b < 0) return EXP_USAGE;
            if (!a || !b) continue;
            if (r->nunits == cap) {
                exp_unit *p = exp_alloc(r, (size_t)(cap = cap ? 2 * cap : 64), sizeof *p);
                if (!p) return EXP_DATA;
                if (r->nunits) memcpy(p, r->units, (size_t)r->nunits * sizeof *p);
                r->units = p;
            }
            r->units[r->nunits++] = (exp_unit){c, e, (int)info->num_steps};
        }
    }
    if (r->nunits == 0) {
        char sel[256];
        return exp_fail(r, EXP_DATA, "the selection (%s) matches no captured step and layer; `ripple info` lists them",
                        exp_selection(r, sel, sizeof sel));
    }
    int *one = exp_alloc(r, (size_t)r->nunits, sizeof *one), *members = exp_alloc(r, (size_t)r->nunits, sizeof *one);
    if (!one || !members) return EXP_DATA;
    for (int i = 0; i < r->nunits; i++) one[i] = 1, members[i] = i;
    return exp_set_groups(r, r->nunits, members, one);
}

int exp_set_groups(exp_run *r, int ngroups, const int *members, const int *count)
{
    exp_group *g = exp_alloc(r, (size_t)ngroups, sizeof *g);
    int *m = exp_alloc(r, (size_t)r->nunits, sizeof *m);
    if (!g || !m) return EXP_DATA;
    for (int i = 0, k = 0; i < ngroups; k += count[i], i++) g[i] = (exp_group){k, count[i], NULL, 0, NAN};
    memcpy(m, members, (size_t)r->nunits * sizeof *m);
    r->groups = g, r->ngroups = ngroups, r->members = m;
    return 0;
}

int exp_group_by(exp_run *r, int (*key)(const exp_unit *u))
{
    int *keys = exp_alloc(r, (size_t)r->nunits, sizeof *keys), *members = exp_alloc(r, (size_t)r->nunits, sizeof *members);
    int *count = exp_alloc(r, (size_t)r->nunits, sizeof *count), ngroups = 0;
    if (!keys || !members || !count) return EXP_DATA;
    for (int u = 0; u < r->nunits; u++) {
        keys[u] = key(&r->units[u]);
        int k = u; /* insertion sort by key, stable: the units of a key stay in their order */
        while (k > 0 && keys[members[k - 1]] > keys[u]) members[k] = members[k - 1], k--;
        members[k] = u;
    }
    for (int k = 0; k < r->nunits; k++) {
        if (k == 0 || keys[members[k]] != keys[members[k - 1]]) ngroups++;
        count[ngroups - 1]++;
    }
    return exp_set_groups(r, ngroups, members, count);
}

void exp_heads(const exp_run *r, int s, int64_t *lo, int64_t *nh)
{
    int64_t hi = r->c.head_hi < 0 ? r->srcs[s].info->num_heads : r->c.head_hi;
    *lo = r->c.head_lo;
    *nh = hi - r->c.head_lo;
}


int exp_q_scale(exp_run *r, const struct scale_spec *spec, unsigned axes, int window, double *med)
{
    const exp_unit *u = &r->units[0];
    src *s = &r->srcs[u->source];
    const ripple_layout *lay = &s->info->layout;
    int64_t lo, nh;
    exp_heads(r, u->source, &lo, &nh);
    float *q = exp_alloc(r, (size_t)lay->seq_len * (size_t)lay->head_dim * (size_t)nh, sizeof *q);
    if (!q) return EXP_DATA;
    ripple_status st = src_read(s, &u->id, RIPPLE_TENSOR_Q, lo, nh, q);
    if (st) return exp_lib(r, st, "cannot read q");
    const float *qs[1] = {q};
    if ((st = scale_median(lay, spec, axes, window, 1, nh, qs, NULL, med))) return exp_lib(r, st, "window deltas");
    return 0;
}

int exp_load(exp_run *r, int g, eval_unit **units)
{
    exp_group *gr = &r->groups[g];
    for (int i = 0; i < r->ngroups; i++)
        if (i != g && !r->groups[i].kept) unload(&r->groups[i]);
    if (!gr->eu) {
        if (!(gr->eu = calloc((size_t)gr->count, sizeof *gr->eu))) return exp_fail(r, EXP_DATA, "out of memory");
        for (int k = 0; k < gr->count; k++) {
            const exp_unit *u = &r->units[r->members[gr->first + k]];
            int64_t lo, nh;
            exp_heads(r, u->source, &lo, &nh);
            ripple_status s = eval_unit_load(&gr->eu[k], &r->srcs[u->source], &u->id, lo, nh, r->c.backend);
            if (s) {
                unload(gr);
                return exp_lib(r, s, "cannot evaluate");
            }
            r->exact_seconds += gr->eu[k].exact_seconds;
        }
    }
    *units = gr->eu;
    return 0;
}

void exp_keep(exp_run *r, int g) { r->groups[g].kept = 1; }

int exp_floor(exp_run *r, int g, double *mse)
{
    exp_group *gr = &r->groups[g];
    if (isnan(gr->floor)) {
        eval_unit *eu;
        EXP_TRY(exp_load(r, g, &eu));
        double sum = 0;
        for (int k = 0; k < gr->count; k++) {
            ripple_metrics fm;
            ripple_status s = eval_noise_floor(&eu[k], &fm);
            if (s) return exp_lib(r, s, "noise floor");
            sum += fm.mse / gr->count;
        }
        gr->floor = sum;
    }
    *mse = gr->floor;
    return 0;
}

/* --------------------------------------------------------------- tables */

ripple_reuse_params exp_params(unsigned axes, int window, unsigned groups, ripple_threshold_mode mode, double theta)
{
    return (ripple_reuse_params){.axes = axes, .window = window, .groups = groups, .mode = mode,
                                 .theta = {theta, theta, theta}};
}

int exp_reuse_row(exp_run *r, const exp_job *j, int i, const ripple_reuse_params *p, int floor, const char *what,
                  exp_row *row, eval_unit **unit)
{
    eval_unit *u;
    ripple_savings sv;
    ripple_metrics m;
    double floor_mse = NAN;
    EXP_TRY(exp_load(r, j->group, &u));
    ripple_status s = eval_run(u, EVAL_REUSE, p, &sv, &m);
    if (s) return exp_lib(r, s, what);
    if (floor) EXP_TRY(exp_floor(r, j->group, &floor_mse));
    static const char *const names[] = {"s_score", "s_attn", "rows_reused", "q_reused", "k_reused", "mse", "rel_l2",
                                        "cosine", "psnr", "floor_mse"};
    const double v[] = {sv.s_score, sv.s_attn, sv.rows_reused, sv.q_reused, sv.k_reused, m.mse, m.rel_l2, m.cosine,
                        m.psnr, floor_mse};
    const exp_table_def *t = &r->def->tables[i];
    for (int c = 0; c < t->ncols; c++)
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            if (!strcmp(t->cols[c].name, names[k])) row->v[c] = v[k];
    if (unit) *unit = u;
    return 0;
}

void exp_row_init(exp_row *row)
{
    for (int c = 0; c < EXP_MAX_COLS; c++) row->v[c] = NAN, row->s[c] = NULL;
}

/* The cells of row in table i as text, into cells[] (buffers in b). */
static void format_row(const exp_table_def *td, const exp_row *row, int n, char (*b)[48], const char **cells)
{
    for (int c = 0; c < n; c++) {
        if (row->s[c]) cells[c] = row->s[c];
        else if (td->cols[c].type == 'i' && isfinite(row->v[c])) snprintf(b[c], 48, "%lld", (long long)row->v[c]), cells[c] = b[c];
        else cells[c] = rtable_format_num(b[c], 48, row->v[c]);
    }
}

static void tsv_path(const exp_run *r, int i, const char *suffix, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s.tsv%s", r->c.out_dir, r->def->tables[i].name, suffix);
}

/* Rows of an earlier run from path, when its options line and header are ours. */
static int take_old(exp_run *r, int i, const char *path, const char *options_line)
{
    rtable *old = rtable_load_tsv(path), *t = r->tabs[i];
    const exp_table_def *td = &r->def->tables[i];
    int ok = old && rtable_cols(old) == td->ncols;
    for (int c = 0; ok && c < td->ncols; c++) ok = !strcmp(rtable_col_name(old, c), td->cols[c].name);
    const char *opt = ok ? rtable_meta_get(old, "options") : NULL;
    if (ok && opt && !strcmp(opt, options_line + strlen("# options: "))) {
        const char *cells[EXP_MAX_COLS];
        for (int row = 0; row < rtable_rows(old); row++) {
            for (int c = 0; c < td->ncols; c++) cells[c] = rtable_cell(old, row, c);
            if (rtable_add_cells(t, cells) < 0) {
                rtable_free(old);
                return exp_fail(r, EXP_DATA, "out of memory");
            }
        }
    }
    rtable_free(old);
    return 0;
}

/* Lines that differ between the shards of one run, and between them and
 * their merge. */
static int run_dependent(const char *line)
{
    static const char *const keys[] = {"# shard:", "# shard_command:", "# exact_attention_seconds:", "# wall_seconds:",
                                       "# ripple:", "# merged:", "# threads:"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        if (!strncmp(line, keys[k], strlen(keys[k]))) return 1;
    return 0;
}

/* EXP_MERGE: the rows of table i from every shard, which must have been
 * run with this options line (the rest of their metadata is checked when
 * the plan is complete: merge_check). */
static int take_shards(exp_run *r, int i, const char *options)
{
    const exp_table_def *td = &r->def->tables[i];
    rtable *t = r->tabs[i];
    const int n = r->merge_n;
    char path[4200];
    for (int k = 0; k < n; k++) {
        snprintf(path, sizeof path, "%s/%s.tsv", r->merge_dirs[k], td->name);
        rtable *sh = r->merge_tabs[i * n + k] = rtable_load_tsv(path);
        if (!sh) return exp_fail(r, EXP_DATA, "cannot read %s (shard %d/%d): %s", path, k + 1, n, strerror(errno));
        int ok = rtable_cols(sh) == td->ncols;
        for (int c = 0; ok && c < td->ncols; c++) ok = !strcmp(rtable_col_name(sh, c), td->cols[c].name);
        if (!ok) return exp_fail(r, EXP_DATA, "%s: its columns are not those ripple %s writes (another version of ripple?)", path, r->def->name);
        const char *opt = rtable_meta_get(sh, "options");
        if (!opt || strcmp(opt, options))
            return exp_fail(r, EXP_DATA, "%s: shard %d/%d was run with other options than shard 1/%d: it has '%s', the merge expects '%s'",
                            path, k + 1, n, n, opt ? opt : "(none)", options);
        const char *cells[EXP_MAX_COLS];
        for (int row = 0; row < rtable_rows(sh); row++) {
            for (int c = 0; c < td->ncols; c++) cells[c] = rtable_cell(sh, row, c);
            if (rtable_find(t, td->keys, cells) >= 0)
                return exp_fail(r, EXP_DATA, "%s: a row of shard %d/%d (%s %s ...) is also in an earlier shard: these folders are not the shards of one run",
                                path, k + 1, n, cells[0], td->keys > 1 ? cells[1] : "");
            if (rtable_add_cells(t, cells) < 0) return exp_fail(r, EXP_DATA, "out of memory");
        }
        if (i == r->def->timing_table) {
            const char *e = rtable_meta_get(sh, "exact_attention_seconds"), *w = rtable_meta_get(sh, "wall_seconds");
            r->merge_exact += e ? strtod(e, NULL) : 0;
            r->merge_wall += w ? strtod(w, NULL) : 0;
        }
    }
    return exp_meta(r, i, "merged", "%d shards (exact_attention_seconds and wall_seconds: sums over the shards)", n);
}

/* EXP_MERGE, once planned: every shard's metadata is this run's (the same
 * captures, thresholds chosen from them, selection), line for line. */
static int merge_check(exp_run *r)
{
    const int n = r->merge_n;
    for (int i = 0; i < r->def->ntables; i++)
        for (int k = 0; k < n; k++) {
            const rtable *sh = r->merge_tabs[i * n + k], *t = r->tabs[i];
            if (!sh) continue;
            int a = 0, b = 0;
            for (;;) {
                while (rtable_meta_at(t, a) && run_dependent(rtable_meta_at(t, a))) a++;
                while (rtable_meta_at(sh, b) && run_dependent(rtable_meta_at(sh, b))) b++;
                const char *x = rtable_meta_at(t, a), *y = rtable_meta_at(sh, b);
                if (!x && !y) break;
                if (!x || !y || strcmp(x, y))
                    return exp_fail(r, EXP_DATA, "%s/%s.tsv (shard %d/%d) does not come from these captures and options: it has '%s' where the merge has '%s'",
                                    r->merge_dirs[k], r->def->tables[i].name, k + 1, n, y ? y : "(nothing)", x ? x : "(nothing)");
                a++, b++;
            }
        }
    return 0;
}

int exp_open(exp_run *r, int i, const char *options)
{
    const exp_table_def *td = &r->def->tables[i];
    const char *names[EXP_MAX_COLS];
    EXP_ASSERT(td->ncols <= EXP_MAX_COLS && !r->tabs[i]);
    for (int c = 0; c < td->ncols; c++) names[c] = td->cols[c].name;
    if (!(r->tabs[i] = rtable_new(td->ncols, names))) return exp_fail(r, EXP_DATA, "out of memory");
    char line[1200], path[4200];
    if (td->keys) EXP_TRY(exp_meta(r, i, "options", "%s", options));
    EXP_TRY(exp_meta(r, i, "ripple", "%s", RIPPLE_GIT_DESCRIBE));
    EXP_TRY(exp_meta(r, i, "command", "ripple %s (paper %s)", r->def->name, r->def->paper));
    if (!td->keys) return 0;
    if (r->c.nshards > 1) {
        char cmd[4096];
        EXP_TRY(exp_meta(r, i, "shard", "%d/%d", r->c.shard, r->c.nshards));
        EXP_TRY(exp_meta(r, i, "shard_command", "%s", exp_cmdline(r, cmd, sizeof cmd)));
    }
    for (int c = 0; c < r->c.ncaptures; c++) {
        const ripple_capture_info *f = r->srcs[c].info;
        EXP_TRY(exp_meta(r, i, "capture", "%d %s model=%s num_steps=%lld rope_axes=%s seed=%lld prompt=%s", c,
                         r->c.captures[c], f->model, (long long)f->num_steps, f->rope_axes,
                         f->has_seed ? (long long)f->seed : -1LL, f->prompt[0] ? f->prompt : "(none)"));
    }
    if (!r->def->units) EXP_TRY(exp_meta(r, i, "selection", "%s", exp_selection(r, line, sizeof line)));
    EXP_TRY(exp_meta(r, i, "backend", "%s", ripple_backend_name(r->c.backend)));
    snprintf(line, sizeof line, "# options: %s", rtable_meta_get(r->tabs[i], "options"));
    if (r->role == EXP_MERGE && r->planning) {
        EXP_TRY(take_shards(r, i, line + strlen("# options: ")));
    } else if (!r->c.fresh) {
        tsv_path(r, i, "", path, sizeof path);
        EXP_TRY(take_old(r, i, path, line));
        tsv_path(r, i, ".partial", path, sizeof path);
        if (rtable_rows(r->tabs[i]) == 0) EXP_TRY(take_old(r, i, path, line));
    }
    r->reused_rows[i] = rtable_rows(r->tabs[i]);
    return 0;
}

int exp_openf(exp_run *r, int i, int captures, const char *fmt, ...)
{
    char buf[8192], sel[256], caps[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof buf)
        snprintf(buf + n, sizeof buf - (size_t)n, " %s%s%s", exp_selection(r, sel, sizeof sel),
                 captures ? " captures=" : "", captures ? exp_capture_list(r, caps, sizeof caps) : "");
    return exp_open(r, i, buf);
}

const char *exp_meta_value(const exp_run *r, int i, const char *key)
{
    const char *v = r->tabs[i] ? rtable_meta_get(r->tabs[i], key) : NULL;
    return v ? v : "?";
}

int exp_meta(exp_run *r, int i, const char *key, const char *fmt, ...)
{
    char value[1100];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    return rtable_meta(r->tabs[i], key, "%s", value) ? exp_fail(r, EXP_DATA, "out of memory") : 0;
}

void exp_key_unit(const exp_run *r, const exp_job *j, exp_row *row)
{
    row->s[0] = r->c.captures[j->unit->source];
    row->v[1] = j->unit->id.step, row->v[2] = j->unit->id.layer;
}

int exp_job_keys(exp_run *r)
{
    if (!(r->job_keys = exp_alloc(r, (size_t)r->njobs, sizeof *r->job_keys))) return EXP_DATA;
    for (int j = 0; j < r->njobs; j++) exp_row_init(&r->job_keys[j]);
    return 0;
}

/* The key of a job: the description's, or its unit's and the cells of its job_keys row. */
static int job_key(exp_run *r, const exp_job *j, exp_row *row)
{
    if (r->def->key) return r->def->key(r, j, row);
    EXP_ASSERT(r->job_keys);
    exp_key_unit(r, j, row);
    for (int c = 3; c < r->def->tables[0].keys; c++) {
        if (!isnan(r->job_keys[j->job].v[c])) row->v[c] = r->job_keys[j->job].v[c];
        if (r->job_keys[j->job].s[c]) row->s[c] = r->job_keys[j->job].s[c];
    }
    return 0;
}

int exp_find(exp_run *r, int i, const exp_row *row)
{
    const exp_table_def *td = &r->def->tables[i];
    char b[EXP_MAX_COLS][48];
    const char *cells[EXP_MAX_COLS];
    format_row(td, row, td->keys, b, cells);
    return rtable_find(r->tabs[i], td->keys, cells);
}

/* Opens the partial file of a resumable table at its first row. */
static int stream(exp_run *r, int i)
{
    char path[4200];
    tsv_path(r, i, ".partial", path, sizeof path);
    if (rtable_stream_open(r->tabs[i], path)) return exp_fail(r, EXP_DATA, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* A worker's row goes to rank 0 as "table\0cell\0cell...\0". */
static int send_row(exp_run *r, int i, const char *const *cells)
{
    const int n = r->def->tables[i].ncols;
    size_t len = 16;
    for (int c = 0; c < n; c++) len += strlen(cells[c]) + 1;
    char *buf = malloc(len);
    if (!buf) return exp_fail(r, EXP_DATA, "out of memory");
    size_t k = (size_t)snprintf(buf, 16, "%d", i) + 1;
    for (int c = 0; c < n; c++) {
        size_t l = strlen(cells[c]) + 1;
        memcpy(buf + k, cells[c], l);
        k += l;
    }
    send_or_die(0, TAG_ROW, buf, k);
    free(buf);
    return 0;
}

/* A row as text: kept as it was when its key is finished; otherwise added,
 * and written to the partial file (by a worker: sent to rank 0). */
static int put_cells(exp_run *r, int i, const char *const *cells)
{
    const exp_table_def *td = &r->def->tables[i];
    rtable *t = r->tabs[i];
    if (td->keys && rtable_find(t, td->keys, cells) >= 0) return 0; /* finished: kept as it was */
    if (td->keys && r->role != EXP_WORKER && !rtable_stream_is_open(t)) EXP_TRY(stream(r, i));
    if (rtable_add_cells(t, cells) < 0) return exp_fail(r, EXP_DATA, "out of memory");
    if (td->keys && r->role == EXP_WORKER) return send_row(r, i, cells);
    if (td->keys && rtable_stream_row(t)) return exp_fail(r, EXP_DATA, "cannot write the rows of %s.tsv: %s", td->name, strerror(errno));
    return 0;
}

int exp_put(exp_run *r, int i, exp_row *row)
{
    const exp_table_def *td = &r->def->tables[i];
    char b[EXP_MAX_COLS][48];
    const char *cells[EXP_MAX_COLS];
    format_row(td, row, td->ncols, b, cells);
    for (int c = 0; c < td->ncols; c++)
        if (!row->s[c]) row->v[c] = strtod(cells[c], NULL);
    return put_cells(r, i, cells);
}

double exp_num(const exp_run *r, int i, int row, const char *col)
{
    return rtable_num(r->tabs[i], row, rtable_col(r->tabs[i], col));
}

const char *exp_str(const exp_run *r, int i, int row, const char *col)
{
    return rtable_cell(r->tabs[i], row, rtable_col(r->tabs[i], col));
}

int exp_rows(const exp_run *r, int i) { return r->tabs[i] ? rtable_rows(r->tabs[i]) : 0; }

/* Writes every open table under its final name, whole and atomically
 * (the rows in the table's order, which order_rows made the plan's; the
 * partial file, in the order rows finished, is removed after); the timing
 * lines go to the description's timing table. */
static int close_tables(exp_run *r)
{
    char path[4200], part[4200];
    for (int i = 0; i < r->def->ntables; i++) {
        rtable *t = r->tabs[i];
        if (!t) continue;
        tsv_path(r, i, "", path, sizeof path);
        tsv_path(r, i, ".partial", part, sizeof part);
        const int timing = r->def->tables[i].keys && i == r->def->timing_table;
        if (timing) {
            int merged = r->role == EXP_MERGE;
            EXP_TRY(exp_meta(r, i, "exact_attention_seconds", "%.3f", merged ? r->merge_exact : r->exact_seconds));
            EXP_TRY(exp_meta(r, i, "wall_seconds", "%.3f", merged ? r->merge_wall : cli_now() - r->t0));
        }
        if (rtable_stream_is_open(t) && rtable_stream_close(t, NULL))
            return exp_fail(r, EXP_DATA, "cannot write %s: %s", part, strerror(errno));
        if (rtable_save_tsv(t, path)) return exp_fail(r, EXP_DATA, "cannot write %s: %s", path, strerror(errno));
        if (r->def->tables[i].keys) unlink(part);
    }
    r->finished = 1;
    return 0;
}

/* ---------------------------------------------------------------- sweep */

static exp_job job_of(const exp_run *r, int g, int j)
{
    return (exp_job){g, j, &r->units[r->members[r->groups[g].first]]};
}

/* 1 when job j of group g has no finished row (or needed says it must run). */
static int job_open(exp_run *r, int g, int j, int *rc)
{
    const exp_def *d = r->def;
    const exp_job job = job_of(r, g, j);
    exp_row rw;
    exp_row_init(&rw);
    if ((*rc = job_key(r, &job, &rw))) return 0;
    return exp_find(r, 0, &rw) < 0 || (d->needed && d->needed(r, &job));
}

/* "capture a.h5 step 3 layer 0" (and how many more units the group has). */
static const char *group_name(const exp_run *r, int g, char *buf, size_t n)
{
    const exp_group *gr = &r->groups[g];
    const exp_unit *u = &r->units[r->members[gr->first]];
    int w = snprintf(buf, n, "capture %s step %d layer %d", r->c.captures[u->source], u->id.step, u->id.layer);
    if (gr->count > 1 && w > 0 && (size_t)w < n) snprintf(buf + w, n - (size_t)w, " (and %d more units of its group)", gr->count - 1);
    return buf;
}

/* 1 when group g is one of this run's shard (all of them when not sharded). */
static int in_shard(const exp_run *r, int g) { return r->c.nshards <= 1 || g % r->c.nshards == r->c.shard - 1; }

static void progress(const exp_run *r, int64_t total)
{
    if (r->def->progress && r->role != EXP_WORKER) cli_progress(r->def->progress, exp_rows(r, 0), total);
}

static int lead_drain(exp_run *r);

/* The open jobs of group g into its table. */
static int run_group(exp_run *r, int g, int64_t total)
{
    const exp_def *d = r->def;
    for (int j = 0; j < r->njobs; j++) {
        const exp_job job = job_of(r, g, j);
        exp_row rw;
        exp_row_init(&rw);
        EXP_TRY(job_key(r, &job, &rw));
        if (exp_find(r, 0, &rw) >= 0 && !(d->needed && d->needed(r, &job))) continue;
        EXP_TRY(d->row(r, &job, &rw));
        EXP_TRY(exp_put(r, 0, &rw));
        if (r->role == EXP_LEAD) EXP_TRY(lead_drain(r));
        progress(r, total);
    }
    if (!r->groups[g].kept) unload(&r->groups[g]);
    return 0;
}

/* ------------------------------------------------- rank 0 of an MPI run */

/* A message received while rank 0's main thread computes. */
typedef struct lead_msg {
    struct lead_msg *next;
    size_t len;
    char *data;
} lead_msg;

/* Rank 0's sweep: a thread answers the workers (the only caller of MPI
 * until it is joined: MPI_THREAD_SERIALIZED), the main thread computes
 * groups from the same list and writes the rows the thread queued. */
typedef struct exp_lead {
    exp_run *r;
    pthread_mutex_t mu;
    const int *todo;
    int ntodo, next, workers_left, nfail;
    int *current; /* per rank: the group it was given last */
    int *given;   /* per rank: groups it was given */
    lead_msg *head, **tail;
    double exact;
    char fails[2048];
} exp_lead;

/* The next group to compute, or -1. */
static int lead_take(exp_lead *L)
{
    pthread_mutex_lock(&L->mu);
    int g = L->next < L->ntodo ? L->todo[L->next++] : -1;
    pthread_mutex_unlock(&L->mu);
    return g;
}

static void lead_failed(exp_lead *L, int rank, int g, const char *msg)
{
    char unit[600];
    size_t n = strlen(L->fails);
    snprintf(L->fails + n, sizeof L->fails - n, "%srank %d, %s: %s", L->nfail ? "; " : "", rank,
             g >= 0 ? group_name(L->r, g, unit, sizeof unit) : "before its first unit", msg);
    L->nfail++;
}

static void *lead_serve(void *arg)
{
    exp_lead *L = arg;
    for (;;) {
        pthread_mutex_lock(&L->mu);
        int left = L->workers_left;
        pthread_mutex_unlock(&L->mu);
        if (!left) return NULL;
        char *buf;
        size_t len;
        int src, tag;
        if (dist_recv(-1, -1, 1, &src, &tag, &buf, &len) != 1) transport_broken("receive");
        if (tag == TAG_REQ) {
            int g = lead_take(L);
            char a[32];
            pthread_mutex_lock(&L->mu);
            L->current[src] = g;
            L->given[src] += g >= 0;
            pthread_mutex_unlock(&L->mu);
            int n = snprintf(a, sizeof a, "%d", g);
            send_or_die(src, TAG_ASSIGN, a, (size_t)n + 1);
            free(buf);
        } else if (tag == TAG_ROW) {
            lead_msg *m = malloc(sizeof *m);
            if (!m) transport_broken("out of memory");
            *m = (lead_msg){NULL, len, buf};
            pthread_mutex_lock(&L->mu);
            *L->tail = m, L->tail = &m->next;
            pthread_mutex_unlock(&L->mu);
        } else if (tag == TAG_DONE) { /* "rc exact_seconds\nmessage" */
            int rc = atoi(buf);
            const char *sp = strchr(buf, ' '), *nl = strchr(buf, '\n');
            pthread_mutex_lock(&L->mu);
            L->exact += sp ? strtod(sp + 1, NULL) : 0;
            if (rc) lead_failed(L, src, L->current[src], nl ? nl + 1 : "failed");
            L->workers_left--;
            pthread_mutex_unlock(&L->mu);
            free(buf);
        } else {
            transport_broken("unexpected message");
        }
    }
}

/* Writes the rows the workers sent so far (main thread). */
static int lead_drain(exp_run *r)
{
    exp_lead *L = r->lead;
    pthread_mutex_lock(&L->mu);
    lead_msg *m = L->head;
    L->head = NULL, L->tail = &L->head;
    pthread_mutex_unlock(&L->mu);
    int rc = 0;
    while (m) {
        lead_msg *next = m->next;
        const char *cells[EXP_MAX_COLS + 1];
        int n = 0;
        for (size_t i = 0; i < m->len && n <= EXP_MAX_COLS; i += strlen(m->data + i) + 1) cells[n++] = m->data + i;
        int t = n ? atoi(cells[0]) : -1;
        if (t < 0 || t >= r->def->ntables || !r->tabs[t] || n != r->def->tables[t].ncols + 1) transport_broken("malformed row");
        if (!rc) rc = put_cells(r, t, cells + 1);
        free(m->data);
        free(m);
        m = next;
    }
    return rc;
}

static int lead_sweep(exp_run *r, const int *todo, int ntodo, int64_t total)
{
    exp_lead L = {.r = r, .todo = todo, .ntodo = ntodo, .workers_left = dist_size() - 1};
    L.tail = &L.head;
    L.current = exp_alloc(r, (size_t)dist_size(), sizeof *L.current);
    L.given = exp_alloc(r, (size_t)dist_size(), sizeof *L.given);
    if (!L.current || !L.given) return EXP_DATA;
    pthread_mutex_init(&L.mu, NULL);
    r->lead = &L;
    pthread_t th;
    if (pthread_create(&th, NULL, lead_serve, &L)) transport_broken("cannot start a thread");
    int rc = 0, g;
    while ((g = lead_take(&L)) >= 0) {
        L.given[0]++; /* only this thread writes given[0] */
        if (!(rc = run_group(r, g, total))) continue;
        pthread_mutex_lock(&L.mu);
        lead_failed(&L, 0, g, r->msg);
        pthread_mutex_unlock(&L.mu);
        break;
    }
    /* the workers finish their groups; rank 0 keeps writing their rows */
    for (int shown = -1;;) {
        int drc = lead_drain(r);
        if (!rc) rc = drc;
        if (exp_rows(r, 0) != shown) progress(r, total), shown = exp_rows(r, 0);
        pthread_mutex_lock(&L.mu);
        int left = L.workers_left;
        if (rc) L.next = L.ntodo; /* rank 0 cannot write: no more groups */
        pthread_mutex_unlock(&L.mu);
        if (!left) break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    pthread_join(th, NULL);
    int drc = lead_drain(r);
    if (!rc) rc = drc;
    r->lead = NULL;
    pthread_mutex_destroy(&L.mu);
    r->exact_seconds += L.exact;
    if (r->def->progress) cli_progress_done();
    size_t nn = (size_t)snprintf(r->note, sizeof r->note, "; groups computed by ranks 0..%d:", dist_size() - 1);
    for (int k = 0; k < dist_size() && nn + 16 < sizeof r->note; k++)
        nn += (size_t)snprintf(r->note + nn, sizeof r->note - nn, " %d", L.given[k]);
    if (L.nfail) {
        char part[4200];
        tsv_path(r, 0, ".partial", part, sizeof part);
        return exp_fail(r, EXP_DATA, "%d unit(s) failed: %s. The other units' rows are kept in %s: rerun the same command "
                        "to compute the failed unit(s) once the cause is fixed (finished rows are taken back), or "
                        "leave them out with --steps/--layers", L.nfail, L.fails, part);
    }
    return rc;
}

/* ------------------------------------------------ a worker of an MPI run */

/* Groups as rank 0 gives them, each row sent to it; at the end the status. */
static int worker_sweep(exp_run *r)
{
    int rc = 0;
    for (;;) {
        send_or_die(0, TAG_REQ, "", 1);
        char *a = recv_or_die(0, TAG_ASSIGN, NULL, NULL);
        int g = atoi(a);
        free(a);
        if (g < 0 || g >= r->ngroups) break;
        if ((rc = run_group(r, g, 0))) break;
    }
    char buf[1400];
    int n = snprintf(buf, sizeof buf, "%d %.17g\n%s", rc, r->exact_seconds, rc ? r->msg : "");
    send_or_die(0, TAG_DONE, buf, (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1) + 1);
    return rc;
}

/* --------------------------------------------------------- the whole */

/* The description's jobs over every group (of the shard), into its first
 * table; a merge only checks that the shards gave every row. */
static int sweep(exp_run *r)
{
    if (r->role == EXP_WORKER) return worker_sweep(r);
    int *todo = exp_alloc(r, (size_t)r->ngroups + 1, sizeof *todo), ntodo = 0, rc = 0;
    if (!todo) return EXP_DATA;
    r->in_shard = 0;
    for (int g = 0; g < r->ngroups; g++) {
        if (!in_shard(r, g)) continue;
        r->in_shard++;
        for (int j = 0; j < r->njobs; j++) {
            if (!job_open(r, g, j, &rc)) {
                if (rc) return rc;
                continue;
            }
            if (r->role == EXP_MERGE) {
                char unit[600], cmd[4200];
                const int k = g % r->merge_n;
                snprintf(cmd, sizeof cmd, "%s/%s.tsv", r->merge_dirs[k], r->def->tables[0].name);
                return exp_fail(r, EXP_DATA, "shard %d/%d (%s) has no row for %s, job %d: the shard is incomplete or of "
                                "another run; rerun its command (its `# shard_command:` line)",
                                k + 1, r->merge_n, cmd, group_name(r, g, unit, sizeof unit), j);
            }
            todo[ntodo++] = g;
            break;
        }
    }
    const int64_t total = (int64_t)r->in_shard * r->njobs;
    if (r->role == EXP_MERGE) return 0;
    if (r->role == EXP_LEAD) return lead_sweep(r, todo, ntodo, total);
    for (int k = 0; k < ntodo; k++) EXP_TRY(run_group(r, todo[k], total));
    if (r->def->progress) cli_progress_done();
    return 0;
}

int exp_job_row(exp_run *r, int i, int g, int j, int *at)
{
    const exp_job job = job_of(r, g, j);
    exp_row rw;
    exp_row_init(&rw);
    EXP_TRY(job_key(r, &job, &rw));
    *at = exp_find(r, i, &rw);
    return 0;
}

/* The rows of the first table in the order of the plan (group, job); rows
 * of an earlier run that no job has (aggregates) after them as they were. */
static int order_rows(exp_run *r)
{
    rtable *t = r->tabs[0];
    if (!t || !r->def->tables[0].keys) return 0;
    const int n = rtable_rows(t);
    int *order = exp_alloc(r, (size_t)n + 1, sizeof *order), k = 0;
    char *used = exp_alloc(r, (size_t)n + 1, 1);
    if (!order || !used) return EXP_DATA;
    for (int g = 0; g < r->ngroups; g++)
        for (int j = 0; j < r->njobs; j++) {
            int at;
            EXP_TRY(exp_job_row(r, 0, g, j, &at));
            if (at >= 0 && !used[at]) used[at] = 1, order[k++] = at;
        }
    return rtable_reorder(t, order, k) ? exp_fail(r, EXP_DATA, "out of memory") : 0;
}

/* ----------------------------------------------------------- aggregates */

void exp_mean_add(exp_mean *m, const exp_run *r, int table, int row)
{
    m->rows++;
    for (int c = 0; c < r->def->tables[table].ncols; c++) {
        double v = rtable_num(r->tabs[table], row, c);
        if (!isnan(v)) m->sum[c] += v, m->n[c]++;
    }
}

double exp_mean_of(const exp_mean *m, const exp_run *r, int table, const char *col)
{
    int c = rtable_col(r->tabs[table], col);
    EXP_ASSERT(c >= 0);
    return m->n[c] ? m->sum[c] / m->n[c] : NAN;
}

double exp_col_mean(const exp_run *r, int i, const char *col) { return exp_rows_mean(r, i, col, NULL); }

int exp_job_means(exp_run *r, int i, int n, int (*bucket)(const exp_run *r, const exp_job *j), exp_mean **means)
{
    if (!(*means = exp_alloc(r, (size_t)n, sizeof **means))) return EXP_DATA;
    for (int g = 0; g < r->ngroups; g++)
        for (int j = 0; j < r->njobs; j++) {
            const exp_job job = job_of(r, g, j);
            int at, b = bucket ? bucket(r, &job) : j;
            EXP_TRY(exp_job_row(r, i, g, j, &at));
            EXP_ASSERT(at >= 0 && b >= 0 && b < n); /* the sweep wrote every job's row */
            exp_mean_add(&(*means)[b], r, i, at);
        }
    return 0;
}

/* ---------------------------------------------------------------- plots */

void exp_printf(exp_text *t, const char *fmt, ...)
{
    for (int pass = 0; pass < 2 && !t->failed; pass++) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (w < 0) t->failed = 1;
        else if (t->buf && t->len + (size_t)w < t->cap) {
            t->len += (size_t)w;
            return;
        } else {
            size_t cap = 2 * (t->cap + (size_t)w) + 256;
            char *b = realloc(t->buf, cap);
            if (!b) t->failed = 1;
            else t->buf = b, t->cap = cap;
        }
    }
}

const char *exp_gp_string(char *dst, size_t n, const char *s)
{
    size_t k = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[2] = {(char)c, 0};
        size_t len = 1;
        if (c == '\\' || c == '"') esc[0] = '\\', esc[1] = (char)c, len = 2;
        else if (c == '\n') esc[0] = '\\', esc[1] = 'n', len = 2; /* a line break of a title */
        else if (c < 0x20 || c == 0x7f) esc[0] = ' ';
        if (k + len >= n) break;
        memcpy(dst + k, esc, len);
        k += len;
    }
    if (n) dst[k] = '\0';
    return dst;
}

/* Full path of the executable prog found in $PATH into buf; 0 if none
 * (the search of execvp, done here so that no shell is needed). */
static int find_in_path(const char *prog, char *buf, size_t n)
{
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        int w = len ? snprintf(buf, n, "%.*s/%s", (int)len, p, prog) : snprintf(buf, n, "./%s", prog);
        struct stat st;
        if (w > 0 && (size_t)w < n && stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
            return 1;
        if (!colon) return 0;
        p = colon + 1;
    }
}

/* Runs argv[0] (a full path) with argv in dir, stdin /dev/null, stdout and
 * stderr into out[n] (the rest discarded). Returns the wait status, or -1
 * (errno set) when it could not be started. No shell is involved. */
static int run_in_dir(const char *dir, char *const argv[], char *out, size_t n)
{
    int fd[2];
    if (pipe(fd)) return -1;
    fflush(NULL); /* nothing buffered may be written twice by the child */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fd[0]);
        close(fd[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        /* child: async-signal-safe calls only, then exec */
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* no gnuplot outlives its driver */
#endif
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) dup2(null, STDIN_FILENO);
        dup2(fd[1], STDOUT_FILENO);
        dup2(fd[1], STDERR_FILENO);
        close(fd[0]);
        if (chdir(dir) == 0) execv(argv[0], argv);
        static const char msg[] = "cannot start gnuplot in the --out folder\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    close(fd[1]);
    size_t got = 0;
    char sink[512];
    for (;;) {
        char *at = got + 1 < n ? out + got : sink;
        size_t room = got + 1 < n ? n - 1 - got : sizeof sink;
        ssize_t r = read(fd[0], at, room);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (at != sink) got += (size_t)r;
    }
    if (n) out[got] = '\0';
    close(fd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return st;
}

/* The line of gnuplot's output that says what went wrong: the last one
 * naming a script line ("steps.gp" line 23: ...), else the last line with
 * text that is not the caret under an echoed command. */
static void gnuplot_reason(const char *out, char *buf, size_t n)
{
    const char *best = NULL, *last = NULL;
    size_t best_len = 0, last_len = 0;
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        size_t text = strspn(p, " \t^");
        if (text < len) {
            last = p, last_len = len;
            const char *mark = strstr(p, ".gp\" line ");
            if (mark && mark < p + len) best = p, best_len = len;
        }
        p += len + (nl != NULL);
    }
    if (!best) best = last, best_len = last_len;
    size_t k = 0;
    for (size_t i = 0; best && i < best_len && k + 1 < n; i++) {
        unsigned char c = (unsigned char)best[i];
        buf[k++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    if (n) buf[k] = '\0';
}

/* 1 when path is a complete image of format fmt; else 0 with why[n]. */
static int image_complete(const char *path, const char *fmt, char *why, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, n, "gnuplot wrote no file");
        return 0;
    }
    unsigned char head[8] = {0}, tail[1024];
    size_t nh = fread(head, 1, sizeof head, f);
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    long from = size > (long)sizeof tail ? size - (long)sizeof tail : 0;
    size_t nt = size > 0 && fseek(f, from, SEEK_SET) == 0 ? fread(tail, 1, sizeof tail, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (bad || size < 0) {
        snprintf(why, n, "cannot read the rendered file back");
        return 0;
    }
    if (size == 0) {
        snprintf(why, n, "gnuplot wrote an empty file");
        return 0;
    }
    if (!strcmp(fmt, "png")) {
        static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
        if (nh < 8 || memcmp(head, sig, 8)) {
            snprintf(why, n, "the file is not a PNG");
            return 0;
        }
        if (nt < 12 || memcmp(tail + nt - 12, iend, 12)) {
            snprintf(why, n, "the PNG is cut short (no final IEND chunk; disk full?)");
            return 0;
        }
        return 1;
    }
    /* text trailers: the last non-blank characters */
    while (nt > 0 && (tail[nt - 1] == '\n' || tail[nt - 1] == '\r' || tail[nt - 1] == ' ')) nt--;
    if (!strcmp(fmt, "svg")) {
        if (nt < 6 || memcmp(tail + nt - 6, "</svg>", 6)) {
            snprintf(why, n, "the SVG is cut short (no closing </svg>; disk full?)");
            return 0;
        }
        return 1;
    }
    if (nh < 5 || memcmp(head, "%PDF-", 5)) {
        snprintf(why, n, "the file is not a PDF");
        return 0;
    }
    if (nt < 5 || memcmp(tail + nt - 5, "%%EOF", 5)) {
        snprintf(why, n, "the PDF is cut short (no %%%%EOF trailer; disk full?)");
        return 0;
    }
    return 1;
}

/* Renders DIR/NAME.FMT through NAME.FMT.tmp; 0 or -1 (one line printed). */
static int render(const exp_run *r, const char *gnuplot, const char *name, const char *fmt)
{
    char rel_tmp[256], expr[512], script[256], tmp[4400], final[4400], out[16384], why[512] = "";
    snprintf(rel_tmp, sizeof rel_tmp, "%s.%s.tmp", name, fmt);
    snprintf(expr, sizeof expr, "fmt=\"%s\"; out=\"%s\"", fmt, rel_tmp);
    snprintf(script, sizeof script, "%s.gp", name);
    snprintf(tmp, sizeof tmp, "%s/%s", r->c.out_dir, rel_tmp);
    snprintf(final, sizeof final, "%s/%s.%s", r->c.out_dir, name, fmt);
    unlink(tmp); /* a leftover of a killed run */
    char *argv[] = {(char *)gnuplot, "-e", expr, script, NULL};
    int st = run_in_dir(r->c.out_dir, argv, out, sizeof out);
    if (st == -1) {
        snprintf(why, sizeof why, "cannot run gnuplot: %s", strerror(errno));
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char reason[400];
        gnuplot_reason(out, reason, sizeof reason);
        if (WIFSIGNALED(st))
            snprintf(why, sizeof why, "gnuplot was killed by signal %d", WTERMSIG(st));
        else if (reason[0])
            snprintf(why, sizeof why, "gnuplot: %s", reason);
        else
            snprintf(why, sizeof why, "gnuplot exited %d", WEXITSTATUS(st));
    } else if (image_complete(tmp, fmt, why, sizeof why)) {
        if (rename(tmp, final) == 0) {
            if (out[0]) { /* drawn, with warnings: pass the gist on */
                char reason[400];
                gnuplot_reason(out, reason, sizeof reason);
                fprintf(stderr, "ripple %s: note: gnuplot on %s (%s): %s\n", r->def->name, script, fmt, reason);
            }
            return 0;
        }
        snprintf(why, sizeof why, "cannot rename %s: %s", rel_tmp, strerror(errno));
    }
    unlink(tmp);
    int stale = unlink(final) == 0;
    fprintf(stderr, "ripple %s: figure %s not drawn: %s%s (the table and %s are written)\n", r->def->name, final, why,
            stale ? "; the figure of an earlier run is removed" : "", script);
    return -1;
}

/* Writes DIR/NAME.gp and renders it in every requested format: 0 when
 * every figure was drawn, 1 when gnuplot is missing (a note says how to
 * install it and render by hand: the table and script are the results),
 * -1 when a figure failed (one line says why; the run's status becomes a
 * data error after everything else is written), or EXP_DATA when the
 * script cannot be written. NAME must be a plain name ([A-Za-z0-9_-]). */
static int plot(exp_run *r, const exp_plot_def *p)
{
    const char *name = p->name;
    EXP_ASSERT(strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == strlen(name));
    exp_text body = {0};
    int width = p->width, height = p->height;
    if (p->size) p->size(r, &width, &height);
    int rc = p->body(r, &body);
    if (!rc && body.failed) rc = exp_fail(r, EXP_DATA, "out of memory for the script %s.gp", name);
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/%s.gp", r->c.out_dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = rc ? NULL : fopen(tmp, "w");
    if (!rc && !f) rc = exp_fail(r, EXP_DATA, "cannot write %s: %s", tmp, strerror(errno));
    if (f) {
        fprintf(f,
                "# Figure of %s.tsv; written by ripple (%s). Render: gnuplot %s.gp\n"
                "# (set fmt to \"svg\" or \"pdf\" with: gnuplot -e 'fmt=\"svg\"' %s.gp)\n"
                "if (!exists(\"fmt\")) fmt = \"png\"\n"
                "if (!exists(\"out\")) out = \"%s.\".fmt\n"
                "if (fmt eq \"png\") set terminal pngcairo size %d,%d font \"DejaVu Sans,11\" noenhanced\n"
                "if (fmt eq \"svg\") set terminal svg size %d,%d font \"DejaVu Sans,11\" noenhanced\n"
                "if (fmt eq \"pdf\") set terminal pdfcairo size %.2fin,%.2fin font \"DejaVu Sans,9\" noenhanced\n"
                "set output out\n"
                "set datafile separator \"\\t\"\n"
                "set datafile commentschars \"#\"\n"
                "set key outside right top box\n"
                "set grid lc rgb \"#dddddd\"\n"
                "set border lw 1.2\n\n%s\n",
                name, RIPPLE_GIT_DESCRIBE, name, name, name, width, height, width, height, width / 96.0,
                height / 96.0, body.buf);
        if ((fclose(f) || rename(tmp, path)) && !rc) {
            rc = exp_fail(r, EXP_DATA, "cannot write %s: %s", path, strerror(errno));
            unlink(tmp);
        }
    }
    free(body.buf);
    if (rc) return rc;
    char gnuplot[4200];
    if (!find_in_path("gnuplot", gnuplot, sizeof gnuplot)) {
        char dir[8400];
        fprintf(stderr,
                "ripple %s: gnuplot not found: %s.tsv and %s.gp are written; to draw the figure,\n"
                "  apt-get install gnuplot-nox && (cd %s && gnuplot %s.gp)\n",
                r->def->name, name, name, cli_shell_word(dir, sizeof dir, r->c.out_dir), name);
        return 1;
    }
    const char *fmts[3] = {"png", r->c.svg ? "svg" : NULL, r->c.pdf ? "pdf" : NULL};
    for (int i = 0; i < 3; i++)
        if (fmts[i] && render(r, gnuplot, name, fmts[i])) r->plot_failed = 1;
    return 0;
}

/* ------------------------------------------------------------- pipeline */

/* --shard not given: the shard of a Slurm array task, or of a rank that
 * mpirun started in a build without MPI (with MPI the ranks share the run
 * instead). Then the shard's folder DIR/shard-I-of-N. */
static int shard_setup(exp_run *r)
{
    static const char *const env[][2] = {{"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"},
                                         {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
                                         {"PMI_RANK", "PMI_SIZE"}};
    static const char *const from[] = {"SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT",
                                       "OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE", "PMI_RANK/PMI_SIZE"};
    exp_common *c = &r->c;
    for (int k = 0; k < 3 && !c->shard_from; k++) {
        const char *id = getenv(env[k][0]), *count = getenv(env[k][1]);
        if (!id || !count || (k > 0 && dist_size() > 1)) continue;
        char *e1, *e2;
        long i = strtol(id, &e1, 10), n = strtol(count, &e2, 10);
        if (*e1 || *e2 || !*id || !*count)
            return exp_fail(r, EXP_USAGE, "%s=%s, %s=%s are not whole numbers; give --shard I/N", env[k][0], id, env[k][1], count);
        if (k == 0) { /* array indices: MIN, MIN+STEP, ... (--array=1-8, 0-15:2) */
            const char *mn = getenv("SLURM_ARRAY_TASK_MIN"), *st = getenv("SLURM_ARRAY_TASK_STEP");
            long lo = mn ? strtol(mn, NULL, 10) : 0, step = st ? strtol(st, NULL, 10) : 1;
            if (step < 1 || (i - lo) % step) i = -1;
            else i = (i - lo) / step;
        }
        if (n <= 1) break;
        if (i < 0 || i >= n)
            return exp_fail(r, EXP_USAGE, "%s=%s is not a task of %s=%s (an array of indices MIN, MIN+STEP, ...); give --shard I/N",
                            env[k][0], id, env[k][1], count);
        c->shard = (int)i + 1, c->nshards = (int)n, c->shard_from = from[k];
    }
    if (c->nshards <= 1) return 0;
    if (r->def->run)
        return exp_fail(r, EXP_USAGE, "%s asks for shard %d/%d, but %s cannot be sharded: each experiment takes its "
                        "thresholds from the complete results of the one before; run it under mpirun (a build with "
                        "-Dmpi), or shard the experiments one by one and merge each; --shard 1/1 runs it whole",
                        c->shard_from, c->shard, c->nshards, r->def->name);
    size_t n = strlen(c->out_dir) + 64;
    char *dir = exp_alloc(r, n, 1);
    if (!dir) return EXP_DATA;
    snprintf(dir, n, "%s/shard-%d-of-%d", c->out_dir, c->shard, c->nshards);
    r->out_parent = c->out_dir;
    c->out_dir = dir;
    return 0;
}

/* Rank 0: the run's command, as words, to every worker. */
static void lead_send_job(exp_run *r)
{
    const char *w[4 * EXP_MAX_OWN + 64];
    char heads[64], names[EXP_MAX_OWN][72];
    int n = 0;
    w[n++] = r->def->name;
    EXP_ASSERT(r->c.ncaptures < 2 * EXP_MAX_OWN);
    for (int c = 0; c < r->c.ncaptures; c++) w[n++] = r->c.captures[c];
    w[n++] = "--out", w[n++] = r->c.out_dir;
    if (r->c.steps) w[n++] = "--steps", w[n++] = r->c.steps;
    if (r->c.layers) w[n++] = "--layers", w[n++] = r->c.layers;
    if (r->c.head_hi >= 0) snprintf(heads, sizeof heads, "%lld:%lld", (long long)r->c.head_lo, (long long)r->c.head_hi);
    else snprintf(heads, sizeof heads, "%lld:", (long long)r->c.head_lo);
    w[n++] = "--heads", w[n++] = heads;
    w[n++] = "--backend", w[n++] = ripple_backend_name(r->c.backend);
    if (r->c.fresh) w[n++] = "--fresh";
    for (int k = 0; k < r->nown_words; k += 2) {
        snprintf(names[k / 2], sizeof names[k / 2], "--%s", r->own_words[k]);
        w[n++] = names[k / 2];
        if (r->own_words[k + 1]) w[n++] = r->own_words[k + 1];
    }
    size_t len = 0;
    for (int k = 0; k < n; k++) len += strlen(w[k]) + 1;
    char *buf = malloc(len), *p = buf;
    if (!buf) transport_broken("out of memory");
    for (int k = 0; k < n; k++) p = memcpy(p, w[k], strlen(w[k]) + 1), p += strlen(w[k]) + 1;
    for (int k = 1; k < dist_size(); k++) send_or_die(k, TAG_JOB, buf, len);
    free(buf);
}

/* What a rank planned: the same on every rank, or they would not compute
 * the same rows. */
static void plan_signature(const exp_run *r, char *buf, size_t n)
{
    const char *opt = r->tabs[0] ? rtable_meta_get(r->tabs[0], "options") : NULL;
    snprintf(buf, n, "%d units, %d groups of %d jobs; options %s", r->nunits, r->ngroups, r->njobs, opt ? opt : "-");
}

/* After planning (status rc): workers say what they planned, rank 0
 * compares it with its own and tells every worker whether to go on. */
static int plan_sync(exp_run *r, int rc)
{
    char sig[1400], msg[1400];
    if (!rc) plan_signature(r, sig, sizeof sig);
    r->synced = 1;
    if (r->role == EXP_WORKER) {
        int n = snprintf(msg, sizeof msg, "%d\n%s", rc, rc ? r->msg : sig);
        send_or_die(0, TAG_PLAN, msg, (size_t)(n < (int)sizeof msg ? n : (int)sizeof msg - 1) + 1);
        char *go = recv_or_die(0, TAG_GO, NULL, NULL);
        int ok = go[0] == '1';
        free(go);
        if (ok) return rc;
        r->msg[0] = '\0'; /* rank 0 says why */
        return rc ? rc : EXP_DATA;
    }
    char why[2000] = "";
    for (int k = 1; k < dist_size(); k++) {
        char *b = recv_or_die(k, TAG_PLAN, NULL, NULL), *nl = strchr(b, '\n');
        int wrc = atoi(b);
        const char *text = nl ? nl + 1 : b + strlen(b);
        if (!why[0] && wrc) snprintf(why, sizeof why, "rank %d: %s", k, text);
        else if (!why[0] && !rc && strcmp(text, sig))
            snprintf(why, sizeof why, "rank %d planned other units than rank 0 (%s; rank 0: %s): every rank must read the "
                     "same captures and files", k, text, sig);
        free(b);
    }
    const char *go = !rc && !why[0] ? "1" : "0";
    for (int k = 1; k < dist_size(); k++) send_or_die(k, TAG_GO, go, 2);
    if (rc) return rc;
    return why[0] ? exp_fail(r, EXP_DATA, "%s", why) : 0;
}

/* Units and the description's plan; a worker's messages about it (the
 * thresholds it chose...) would repeat rank 0's, so they are not shown. */
static int plan(exp_run *r)
{
    int saved = -1;
    if (r->role == EXP_WORKER) {
        fflush(stderr);
        int null = open("/dev/null", O_WRONLY);
        saved = dup(STDERR_FILENO);
        if (null >= 0) dup2(null, STDERR_FILENO), close(null);
    }
    r->planning = 1;
    int rc = r->def->units ? r->def->units(r) : plan_units(r); /* units: a description's own (a live model) */
    if (!rc) rc = r->def->plan(r);
    r->planning = 0;
    if (saved >= 0) fflush(stderr), dup2(saved, STDERR_FILENO), close(saved);
    return rc;
}

/* A shard's tables (its rows only: aggregates and figures come with the merge). */
static int shard_done(exp_run *r)
{
    EXP_TRY(close_tables(r));
    char dir[4200];
    printf("ripple %s: shard %d/%d: wrote %s/%s.tsv (%d of %d groups of units; %d rows taken back from an earlier run)%s; "
           "when every shard is done: ripple merge %s\n",
           r->def->name, r->c.shard, r->c.nshards, r->c.out_dir, r->def->tables[0].name, r->in_shard, r->ngroups,
           r->reused_rows[0], r->note, cli_shell_word(dir, sizeof dir, r->out_parent));
    return 0;
}

int exp_execute(exp_run *r)
{
    const exp_def *d = r->def;
    EXP_TRY(check_required(r));
    if (d->check) EXP_TRY(d->check(r));
    if (d->units && r->c.ncaptures > 0)
        return exp_fail(r, EXP_USAGE, "unexpected argument '%s': %s runs the model and reads no capture",
                        r->c.captures[0], d->name);
    if (!d->units && r->c.ncaptures < 1)
        return exp_fail(r, EXP_USAGE, "missing CAPTURE (one or more HDF5 capture files; `ripple synth` makes one)");
    if (!r->c.out_dir) return exp_fail(r, EXP_USAGE, "--out DIR is required (where the table and figure go)");
    if (r->role == EXP_SOLO || r->role == EXP_LEAD) EXP_TRY(shard_setup(r));
    if (r->c.backend == RIPPLE_BACKEND_CUDA && !ripple_backend_available(RIPPLE_BACKEND_CUDA))
        return exp_fail(r, EXP_DATA, "--backend cuda: no usable CUDA device, or ripple was built without CUDA");
    if (r->role != EXP_WORKER) {
        EXP_TRY(mkdir_p(r, r->c.out_dir));
        EXP_TRY(lock_out_dir(r));
    }
    if (d->run) {
        EXP_TRY(open_sources(r));
        return d->run(r);
    }
    if (r->role == EXP_LEAD) lead_send_job(r);
    int rc = plan(r);
    if (r->role == EXP_LEAD || r->role == EXP_WORKER) rc = plan_sync(r, rc);
    if (!rc && r->role == EXP_MERGE) rc = merge_check(r);
    if (rc) return rc;
    EXP_TRY(sweep(r));
    if (r->role == EXP_WORKER) return 0;
    EXP_TRY(order_rows(r));
    if (r->c.nshards > 1) return shard_done(r);
    EXP_TRY(exp_job_means(r, 0, r->njobs, NULL, &r->means));
    if (d->finish) EXP_TRY(d->finish(r));
    EXP_TRY(close_tables(r));
    int missing = 0;
    for (int i = 0; i < d->nplots; i++) {
        int rc = plot(r, &d->plots[i]);
        if (rc > 1) return rc;
        missing |= rc;
    }
    /* what was written, in one line */
    char line[4096];
    size_t n = (size_t)snprintf(line, sizeof line, "ripple %s: wrote", d->name);
    for (int i = 0; i < d->ntables && n < sizeof line; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, "%s %s/%s.tsv", i ? "," : "", r->c.out_dir, d->tables[i].name);
    for (int i = 0; i < d->nplots && n < sizeof line; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, "%s %s.gp", i ? "," : " and", d->plots[i].name);
    for (int i = 0; i < d->nplots && !missing && !r->plot_failed && n < sizeof line; i++)
        n += (size_t)snprintf(line + n, sizeof line - n, "%s %s.png", i ? "," : "; figures", d->plots[i].name);
    printf("%s%s%s\n", line, missing ? " (no figure: gnuplot missing)" : r->plot_failed ? " (figures not drawn)" : "", r->note);
    if (!r->plot_failed) return 0;
    r->msg[0] = '\0'; /* each failed figure said why */
    return EXP_DATA;
}

/* ------------------------------------------------ paper's index, verdicts */

void exp_verdict(FILE *md, const char *claim, const char *result, const char *criterion)
{
    fprintf(md, "**Paper:** %s  \n**These captures:** %s  \n*Criterion:* %s\n\n", claim, result, criterion);
}

void exp_verdictf(FILE *md, const char *claim, const char *criterion, const char *fmt, ...)
{
    char result[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(result, sizeof result, fmt, ap);
    va_end(ap);
    exp_verdict(md, claim, result, criterion);
}

exp_run *exp_sub_new(const exp_run *parent, exp_sub *x, const exp_def *def)
{
    exp_run *s = exp_new(def);
    if (!s) return NULL;
    x->parent = parent->def->name;
    snprintf(x->dir, sizeof x->dir, "%s/%s", parent->c.out_dir, def->name);
    s->c = parent->c;
    s->c.out_dir = x->dir;
    if (def->units) { /* runs the model: no captures, no selection of captured units */
        s->c.captures = NULL, s->c.ncaptures = 0;
        s->c.steps = s->c.layers = NULL, s->c.heads_given = 0, s->c.head_lo = 0, s->c.head_hi = -1;
    }
    return x->run = s;
}

void exp_sub_run(exp_sub *x)
{
    const exp_def *d = x->run->def;
    exp_cmdline(x->run, x->cmdline, sizeof x->cmdline);
    printf("\n== %s (%s): %s\n", d->name, d->paper, x->cmdline);
    fflush(stdout);
    double t0 = cli_now();
    x->run->t0 = t0; /* created with the others before the first ran: its clock starts here */
    x->rc = exp_execute(x->run);
    exp_report(x->run, x->rc);
    x->ran = 1;
    x->wall = cli_now() - t0;
    printf("== %s: %s in %.2f s\n", d->name, x->rc == 0 ? "done" : "FAILED", x->wall);
}

/* An experiment that cannot run because an earlier one gave nothing to run
 * it with: counted as failed, with the reason. */
void exp_sub_skip(exp_sub *x, const char *why)
{
    snprintf(x->why, sizeof x->why, "%s", why);
    x->rc = EXP_DATA;
    printf("\n== %s (%s): not run: %s\n", x->run->def->name, x->run->def->paper, why);
    fflush(stdout);
    fprintf(stderr, "ripple %s: %s not run: %s\n", x->parent, x->run->def->name, why);
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The figures of the run's folder as images, its tables and ramp as links. */
static void index_files(const exp_run *r, FILE *md)
{
    const char *name = r->def->name;
    DIR *d = opendir(r->c.out_dir);
    if (!d) return;
    char *names[32];
    int n = 0, figs = 0, files = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 32) {
        size_t len = strlen(e->d_name);
        if ((len > 4 && (!strcmp(e->d_name + len - 4, ".png") || !strcmp(e->d_name + len - 4, ".tsv"))) ||
            !strcmp(e->d_name, "ramp.txt"))
            if ((names[n] = strdup(e->d_name))) n++;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_name);
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i] + strlen(names[i]) - 4, ".png")) fprintf(md, "![%s](%s/%s)\n\n", names[i], name, names[i]), figs++;
    if (figs == 0) fprintf(md, "*(no figure: gnuplot missing or the driver failed; see its .gp script)*\n\n");
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i] + strlen(names[i]) - 4, ".png"))
            fprintf(md, "%s[%s](%s/%s)", files++ ? ", " : "Files: ", names[i], name, names[i]);
        free(names[i]);
    }
    if (files) fprintf(md, "\n\n");
}

void exp_sub_section(FILE *md, const exp_sub *x)
{
    const exp_def *d = x->run->def;
    fprintf(md, "## %s — %s\n\nCommand: `%s`  \n", d->paper, d->title, x->ran ? x->cmdline : "");
    if (!x->ran) fprintf(md, "Status: **not run**%s%s\n\n", x->why[0] ? ": " : "", x->why);
    else if (x->rc)
        fprintf(md, "Status: **FAILED** (exit %d after %.1f s; its messages are on the terminal; the files below "
                    "are what it left)\n\n", x->rc, x->wall);
    else fprintf(md, "Status: done in %.1f s, of which exact attention %.2f s\n\n", x->wall, x->run->exact_seconds);
    if (x->run->finished && exp_rows(x->run, 0)) {
        index_files(x->run, md);
        d->index(x->run, md);
        return;
    }
    fprintf(md, "No usable %s.tsv.\n\n", d->tables[0].name);
    exp_verdict(md, d->claim, "cannot tell (no table)", "-");
}

/* ------------------------------------------- figures and tables, declared */

const char *const exp_palette[EXP_PALETTE] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                              "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

/* A curve's where, split into its conditions "col=text". */
typedef struct where_list {
    char buf[512], *col[4], *is[4];
    int n;
} where_list;

static void where_split(const char *where, where_list *w)
{
    w->n = 0;
    snprintf(w->buf, sizeof w->buf, "%s", where ? where : "");
    for (char *save = NULL, *t = strtok_r(w->buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(t, '=');
        EXP_ASSERT(eq && w->n < 4);
        *eq = '\0';
        w->col[w->n] = t, w->is[w->n++] = eq + 1;
    }
}

static int where_holds(const exp_run *r, int table, int row, const where_list *w)
{
    for (int k = 0; k < w->n; k++)
        if (strcmp(exp_str(r, table, row, w->col[k]), w->is[k])) return 0;
    return 1;
}

double exp_rows_mean(const exp_run *r, int i, const char *col, const char *where)
{
    exp_mean m = {0};
    where_list w;
    where_split(where, &w);
    for (int row = 0; row < exp_rows(r, i); row++)
        if (where_holds(r, i, row, &w)) exp_mean_add(&m, r, i, row);
    return exp_mean_of(&m, r, i, col);
}

/* The condition in gnuplot ("1" when there is none). */
static void where_gp(exp_text *gp, const where_list *w)
{
    char s[300];
    for (int k = 0; k < w->n; k++)
        exp_printf(gp, "%sstrcol(\"%s\") eq \"%s\"", k ? " && " : "", w->col[k], exp_gp_string(s, sizeof s, w->is[k]));
    if (!w->n) exp_printf(gp, "1");
}

/* The values of an axis (y, or y2) of a panel: the least > 0, the largest,
 * whether some are <= 0; a level within two decades below them counts. */
typedef struct axis_scan {
    double lo, hi, data_lo;
    int log, zeros, used;
} axis_scan;

static void scan_axis(const exp_run *r, const exp_panel *p, int y2, int log, axis_scan *a)
{
    *a = (axis_scan){INFINITY, 0, INFINITY, 0, 0, 0};
    for (int c = 0; c < p->ncurves; c++) {
        const exp_curve *cv = &p->curves[c];
        if (cv->y2 != y2) continue;
        a->used = 1;
        where_list w;
        where_split(cv->where, &w);
        for (int i = 0; cv->y && i < exp_rows(r, cv->table); i++) {
            double v = exp_num(r, cv->table, i, cv->y);
            if (isnan(v) || !where_holds(r, cv->table, i, &w)) continue;
            if (v > 0) a->lo = fmin(a->lo, v), a->hi = fmax(a->hi, v);
            else a->zeros = 1;
        }
    }
    double ys = 1;
    for (int c = 0; c < p->ncurves; c++)
        if (p->curves[c].y2 == y2 && p->curves[c].y && p->curves[c].ys) ys = p->curves[c].ys;
    a->lo *= ys, a->hi *= ys; /* the curves of one axis share a scale */
    a->log = log && a->hi > 0 && a->hi >= 10 * a->lo;
    a->data_lo = a->lo;
    for (int c = 0; c < p->ncurves && a->log; c++)
        if (!p->curves[c].y && p->curves[c].y2 == y2 && p->curves[c].level >= a->lo / 100)
            a->lo = fmin(a->lo, p->curves[c].level);
}

/* A level far below the data (a floor at 1e-13 under data at 1e-8) would squeeze the curves into a strip. */
static int level_drawn(const exp_curve *cv, const axis_scan *a)
{
    return cv->level > 0 && (isinf(a->data_lo) || cv->level >= a->data_lo / 100);
}

static void axis_gp(exp_text *gp, const char *ax, const char *label, const char *fmt, const char *range,
                    const char *none, int log, const axis_scan *a)
{
    exp_printf(gp, "unset logscale %s\nset autoscale %s\nset format %s \"%s\"\nset %slabel \"%s%s\"\n", ax, ax, ax,
               fmt ? fmt : "%g", ax, label ? label : "", a->log ? " (log)" : "");
    if (a->log) /* fitted to the data, a factor 3 each side */
        exp_printf(gp, "set logscale %s\nset format %s \"%%.0e\"\nset %srange [%.6g:%.6g]\n", ax, ax, ax, a->lo / 3,
                   a->hi * 3);
    else if (log && !(a->hi > 0))
        exp_printf(gp, "set %srange [0:1]\nset label 1 \"%s\" at graph 0.5, graph 0.6 center\n", ax,
                   none ? none : "every value is 0");
    else if (range) exp_printf(gp, "set %srange %s\n", ax, range);
}

/* column("col") times scale (0: 1), into buf[128] */
static const char *scaled(char *buf, double scale, const char *col)
{
    if (scale && scale != 1) snprintf(buf, 128, "%g*column(\"%s\")", scale, col);
    else snprintf(buf, 128, "column(\"%s\")", col);
    return buf;
}

/* A curve's using: x and y of its rows (or of its means' table $Mn); zero:
 * its values <= 0, drawn at bottom. */
static void curve_using(const exp_run *r, exp_text *gp, const exp_curve *cv, int n, int log, int zero, double bottom)
{
    char y[128];
    where_list w;
    where_split(cv->where, &w);
    char dx[48] = ""; /* the curve's shift along x (bars side by side) */
    if (cv->dx) snprintf(dx, sizeof dx, " %+g", cv->dx);
    if (cv->mean) {
        exp_printf(gp, "$M%d using ($1 < 1e29 ? $1%s : NaN):", n, dx);
        snprintf(y, sizeof y, "$2");
    } else {
        exp_printf(gp, "\"%s.tsv\" using (", r->def->tables[cv->table].name);
        if (w.n) where_gp(gp, &w), exp_printf(gp, " ? ");
        exp_printf(gp, "%s%s%s):", scaled(y, cv->xs, cv->x), dx, w.n ? " : NaN" : "");
        scaled(y, cv->ys, cv->y);
    }
    if (zero) exp_printf(gp, "(%s <= 0 ? %.6g : NaN)", y, bottom);
    else if (log) exp_printf(gp, "(%s > 0 ? %s : NaN)", y, y);
    else exp_printf(gp, "(%s)", y);
}

int exp_figure_gp(const exp_run *r, exp_text *gp, const exp_figure *f)
{
    char s[1024];
    exp_printf(gp, "set datafile columnheaders\nset datafile missing \"nan\"  # nan cells: skipped, lines go on\n");
    /* the means first, a table per curve: x is 1e30 (y 1) in the rows the curve does not take (gnuplot's
     * smooth unique averages only within a run of valid points: blanking those rows would split the means) */
    int nmean = 0, ndata = 0;
    for (int p = 0; p < f->npanels; p++)
        for (int c = 0; c < f->panels[p].ncurves; c++) {
            const exp_curve *cv = &f->panels[p].curves[c];
            if (!cv->y) continue;
            if (!cv->mean) {
                ndata++;
                continue;
            }
            where_list w;
            where_split(cv->where, &w);
            exp_printf(gp, "set table $M%d\nplot \"%s.tsv\" using (", nmean++, r->def->tables[cv->table].name);
            where_gp(gp, &w);
            exp_printf(gp, " ? %s : 1e30):(", scaled(s, cv->xs, cv->x));
            where_gp(gp, &w);
            exp_printf(gp, " ? %s : 1) smooth unique\n", scaled(s, cv->ys, cv->y)); /* 1: no empty y range */
        }
    EXP_ASSERT(!nmean || !ndata); /* the means' tables are read with other settings than the TSVs */
    if (nmean)
        exp_printf(gp, "unset table\n# the means' tables: x, mean, no header, spaces between\n"
                       "set datafile nocolumnheaders\nset datafile separator whitespace\n");
    if (f->xlo < f->xhi) exp_printf(gp, "set xrange [%g:%g]\n", f->xlo, f->xhi);
    if (f->bmargin) exp_printf(gp, "set bmargin %d\n", f->bmargin);
    if (f->npanels > 1)
        exp_printf(gp, "set multiplot layout %d,1 title \"%s\"\nset lmargin 12\nset rmargin %d\n", f->npanels,
                   exp_gp_string(s, sizeof s, f->title ? f->title : ""), f->rmargin);
    nmean = 0;
    for (int p = 0; p < f->npanels; p++) {
        const exp_panel *pa = &f->panels[p];
        axis_scan ax[2];
        scan_axis(r, pa, 0, pa->log, &ax[0]);
        scan_axis(r, pa, 1, pa->log2, &ax[1]);
        exp_printf(gp, "\nset title \"%s", exp_gp_string(s, sizeof s, f->npanels > 1 ? pa->title : f->title));
        int titled = 0;
        for (int c = 0; c < pa->ncurves; c++) {
            const exp_curve *cv = &pa->curves[c];
            titled |= cv->title && (cv->y || level_drawn(cv, &ax[cv->y2]));
            if (!cv->y && cv->level > 0 && !level_drawn(cv, &ax[cv->y2]))
                exp_printf(gp, "\\n%s: %.2g, far below the data: not drawn", exp_gp_string(s, sizeof s, cv->title),
                           cv->level);
        }
        exp_gp_string(s, sizeof s, pa->xlabel ? pa->xlabel : "");
        exp_printf(gp, "\"\nunset label 1\nset xlabel \"%s\"\n", s);
        if (pa->xtics) exp_printf(gp, "set xtics (%s)\n", pa->xtics);
        if (pa->set) exp_printf(gp, "%s\n", pa->set);
        axis_gp(gp, "y", pa->ylabel, pa->yfmt, pa->yrange, pa->none, pa->log, &ax[0]);
        if (ax[1].used) {
            axis_gp(gp, "y2", pa->y2label, NULL, NULL, pa->none, pa->log2, &ax[1]);
            exp_printf(gp, "set y2tics\nset ytics nomirror\n");
        }
        if (titled) exp_printf(gp, "set key %s\n", f->key);
        else exp_printf(gp, "unset key\n");
        int first = 1;
        for (int c = 0; c < pa->ncurves; c++) {
            const exp_curve *cv = &pa->curves[c];
            const axis_scan *a = &ax[cv->y2];
            const char *color = cv->color ? cv->color : exp_palette[c % EXP_PALETTE], *axes = cv->y2 ? "x1y2" : "x1y1";
            char title[1100] = "notitle";
            if (cv->title) snprintf(title, sizeof title, "title \"%s\"", exp_gp_string(s, sizeof s, cv->title));
            if (!cv->y) {
                if (level_drawn(cv, a))
                    exp_printf(gp, "%s(%.6g) axes %s with lines dt 2 lw 2 lc rgb \"%s\" %s",
                               first ? "plot " : ", \\\n     ", cv->level, axes, color, title), first = 0;
                continue;
            }
            exp_printf(gp, "%s", first ? "plot " : ", \\\n     ");
            first = 0;
            curve_using(r, gp, cv, nmean, a->log, 0, 0);
            exp_printf(gp, " axes %s with %s lc rgb \"%s\" %s", axes, cv->with, color, title);
            if (a->log && a->zeros) { /* values <= 0: triangles on the bottom edge of a log axis */
                exp_printf(gp, ", \\\n     ");
                curve_using(r, gp, cv, nmean, 0, 1, a->lo / 3);
                exp_printf(gp, " axes %s with points pt 11 ps 1.2 lc rgb \"%s\" notitle", axes, color);
            }
            nmean += cv->mean;
        }
        exp_printf(gp, "%s\n", first ? "plot NaN notitle" : "");
    }
    if (f->npanels > 1) exp_printf(gp, "unset multiplot\n");
    return 0;
}

/* The columns of a table's spec. */
typedef struct tab_col {
    char head[256], col[256], fmt[256];
    int width, left, text;
    double scale;
} tab_col;

static int tab_parse(const char *spec, tab_col *c, int max)
{
    int n = 0;
    for (const char *p = spec; *p && n < max; n++) {
        size_t len = strcspn(p, "|");
        char item[256];
        snprintf(item, sizeof item, "%.*s", (int)len, p);
        p += len + (p[len] == '|');
        char *fmt = strrchr(item, ':'), *at = strchr(item, '@');
        EXP_ASSERT(fmt && (!at || at < fmt));
        *fmt++ = '\0';
        if (at) *at++ = '\0';
        snprintf(c[n].head, sizeof c[n].head, "%s", item);
        snprintf(c[n].col, sizeof c[n].col, "%s", at ? at : item);
        snprintf(c[n].fmt, sizeof c[n].fmt, "%s", fmt);
        size_t fl = strlen(fmt);
        c[n].text = fmt[fl - 1] != '%' && strchr(fmt, 's') != NULL;
        c[n].scale = fl >= 2 && !strcmp(fmt + fl - 2, "%%") ? 100 : 1;
        c[n].left = fmt[1] == '-';
        c[n].width = abs(atoi(fmt + 1)) + (c[n].scale == 100);
    }
    return n;
}

void exp_tab_head(FILE *f, int md, const char *spec)
{
    tab_col c[EXP_MAX_COLS];
    int n = tab_parse(spec, c, EXP_MAX_COLS);
    for (int i = 0; i < n; i++)
        if (md) fprintf(f, "%s %s |", i ? "" : "|", c[i].head);
        else fprintf(f, c[i].left ? "%s%-*s" : "%s%*s", i ? " " : "", c[i].width, c[i].head);
    if (md) {
        fputs("\n|", f);
        for (int i = 0; i < n; i++) fputs(c[i].left ? "---|" : "---:|", f);
    }
    fputs("\n", f);
}

void exp_tab_row(FILE *f, int md, const char *spec, const char *const *text, const double *v)
{
    tab_col c[EXP_MAX_COLS];
    int n = tab_parse(spec, c, EXP_MAX_COLS);
    if (md) fputs("|", f);
    for (int i = 0; i < n; i++) {
        fputs(md || i ? " " : "", f);
        if (c[i].text) fprintf(f, c[i].fmt, text[i]);
        else if (md && isnan(v[i])) fputs("-", f);
        else fprintf(f, c[i].fmt, c[i].scale * v[i]);
        if (md) fputs(" |", f);
    }
    fputs("\n", f);
}

void exp_tab_rows(FILE *f, int md, const char *spec, const exp_run *r, int table, const char *where)
{
    tab_col c[EXP_MAX_COLS];
    int n = tab_parse(spec, c, EXP_MAX_COLS);
    where_list w;
    where_split(where, &w);
    exp_tab_head(f, md, spec);
    for (int i = 0; i < exp_rows(r, table); i++) {
        double v[EXP_MAX_COLS];
        const char *text[EXP_MAX_COLS];
        for (int k = 0; k < n; k++)
            if (c[k].text) text[k] = exp_str(r, table, i, c[k].col);
            else v[k] = exp_num(r, table, i, c[k].col);
        if (where_holds(r, table, i, &w)) exp_tab_row(f, md, spec, text, v);
    }
}

void exp_tab_means(FILE *f, int md, const char *spec, const exp_run *r, int table, const exp_mean *m, int n)
{
    tab_col c[EXP_MAX_COLS];
    int nc = tab_parse(spec, c, EXP_MAX_COLS);
    exp_tab_head(f, md, spec);
    for (int i = 0; i < n; i++) {
        double v[EXP_MAX_COLS];
        for (int k = 0; k < nc; k++) v[k] = exp_mean_of(&m[i], r, table, c[k].col);
        exp_tab_row(f, md, spec, NULL, v); /* no text column (means are numbers) */
    }
}
