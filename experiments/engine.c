#include "engine.h"

#include "ripple_version.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
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
#include <unistd.h>

const char exp_common_help[] =
    "common options:\n"
    "  --out DIR          folder for the TSV, the gnuplot script and the figure (required)\n"
    "  --steps SEL        steps to use: all (default), a list 0,10,20 or a range a:b\n"
    "  --layers SEL       layers to use, likewise\n"
    "  --heads a:b        heads a..b-1 of those stored (default: all)\n"
    "  --backend B        cpu (default) or cuda, for exact attention\n"
    "  --svg, --pdf       also render the figure as SVG / PDF\n"
    "  --fresh            recompute rows finished by an earlier run with the same options\n"
    "  -h, --help         this text\n";

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
    r->opts = exp_alloc(r, 1, def->opts_size ? def->opts_size : 1);
    r->state = exp_alloc(r, 1, def->state_size ? def->state_size : 1);
    r->tabs = exp_alloc(r, (size_t)def->ntables + 1, sizeof *r->tabs);
    r->reused_rows = exp_alloc(r, (size_t)def->ntables + 1, sizeof *r->reused_rows);
    if (!r->opts || !r->state || !r->tabs || !r->reused_rows) {
        exp_free(r);
        return NULL;
    }
    if (def->defaults) def->defaults(r->opts);
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

enum { O_STEPS = 1, O_LAYERS, O_HEADS, O_OUT, O_SVG, O_PDF, O_BACKEND, O_FRESH, O_HELP, O_OWN = 1000 };
static const struct option common_longopts[] = {
    {"steps", required_argument, 0, O_STEPS},     {"layers", required_argument, 0, O_LAYERS},
    {"heads", required_argument, 0, O_HEADS},     {"out", required_argument, 0, O_OUT},
    {"svg", no_argument, 0, O_SVG},               {"pdf", no_argument, 0, O_PDF},
    {"backend", required_argument, 0, O_BACKEND}, {"fresh", no_argument, 0, O_FRESH},
    {"help", no_argument, 0, O_HELP}};
enum { NCOMMON = (int)(sizeof common_longopts / sizeof common_longopts[0]) };

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
    case O_BACKEND:
        if (!strcmp(arg, "cpu")) o->backend = RIPPLE_BACKEND_CPU;
        else if (!strcmp(arg, "cuda")) o->backend = RIPPLE_BACKEND_CUDA;
        else return exp_fail(r, EXP_USAGE, "--backend: '%s' is not cpu or cuda", arg);
        return 0;
    default: abort(); /* not a common option: a bug */
    }
}

/* Option o of the description with its value arg. */
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
    switch (o->kind) {
    case EXP_FLAG: *(int *)field = 1; break;
    case EXP_UNSET: *(int *)field = 0; break;
    case EXP_INT:
        rc = cli_parse_int(name, arg, (int64_t)o->lo, (int64_t)o->hi, &iv, err);
        *(int *)field = (int)iv;
        break;
    case EXP_DOUBLE: rc = cli_parse_double(name, arg, o->lo, o->hi, (double *)field, err); break;
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
        if (c == 'h' || c == O_HELP) {
            printf(r->def->usage, exp_common_help);
            return EXP_HELP;
        }
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
    ADD(" --out %s", r->c.out_dir ? cli_shell_word(w, sizeof w, r->c.out_dir) : "?");
    if (r->c.steps) ADD(" --steps %s", cli_shell_word(w, sizeof w, r->c.steps));
    if (r->c.layers) ADD(" --layers %s", cli_shell_word(w, sizeof w, r->c.layers));
    if (r->c.head_hi >= 0) ADD(" --heads %lld:%lld", (long long)r->c.head_lo, (long long)r->c.head_hi);
    else if (r->c.head_lo) ADD(" --heads %lld:", (long long)r->c.head_lo);
    if (r->c.backend != RIPPLE_BACKEND_CPU) ADD(" --backend %s", ripple_backend_name(r->c.backend));
    if (r->c.svg) ADD(" --svg");
    if (r->c.pdf) ADD(" --pdf");
    if (r->c.fresh) ADD(" --fresh");
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

int exp_main(const exp_def *def, int argc, char **argv)
{
    exp_run *r = exp_new(def);
    if (!r) {
        fprintf(stderr, "ripple %s: out of memory\n", def->name);
        return CLI_EXIT_DATA;
    }
    int rc = exp_parse(r, argc, argv);
    if (rc == 0) rc = exp_execute(r);
    exp_report(r, rc);
    exp_free(r);
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
static int plan_units(exp_run *r)
{
    int cap = 0;
    if (!(r->srcs = exp_alloc(r, (size_t)r->c.ncaptures, sizeof *r->srcs))) return EXP_DATA;
    for (int c = 0; c < r->c.ncaptures; c++) {
        /* libhdf5 may crash or hang on corrupted metadata: read it in a child first */
        int chk = cli_capture_check(r->c.captures[c], "cannot use capture", r->msg, sizeof r->msg);
        if (chk) return chk == CLI_EXIT_USAGE ? EXP_USAGE : EXP_DATA;
        ripple_status s = src_open_capture(r->c.captures[c], &r->srcs[c]);
        if (s) return exp_lib(r, s, "cannot use capture");
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

void exp_heads(const exp_run *r, int s, int64_t *lo, int64_t *nh)
{
    int64_t hi = r->c.head_hi < 0 ? r->srcs[s].info->num_heads : r->c.head_hi;
    *lo = r->c.head_lo;
    *nh = hi - r->c.head_lo;
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
    for (int c = 0; c < r->c.ncaptures; c++) {
        const ripple_capture_info *f = r->srcs[c].info;
        EXP_TRY(exp_meta(r, i, "capture", "%d %s model=%s num_steps=%lld rope_axes=%s seed=%lld prompt=%s", c,
                         r->c.captures[c], f->model, (long long)f->num_steps, f->rope_axes,
                         f->has_seed ? (long long)f->seed : -1LL, f->prompt[0] ? f->prompt : "(none)"));
    }
    if (!r->def->units) EXP_TRY(exp_meta(r, i, "selection", "%s", exp_selection(r, line, sizeof line)));
    EXP_TRY(exp_meta(r, i, "backend", "%s", ripple_backend_name(r->c.backend)));
    snprintf(line, sizeof line, "# options: %s", rtable_meta_get(r->tabs[i], "options"));
    if (!r->c.fresh) {
        tsv_path(r, i, "", path, sizeof path);
        EXP_TRY(take_old(r, i, path, line));
        tsv_path(r, i, ".partial", path, sizeof path);
        if (rtable_rows(r->tabs[i]) == 0) EXP_TRY(take_old(r, i, path, line));
    }
    r->reused_rows[i] = rtable_rows(r->tabs[i]);
    return 0;
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

int exp_put(exp_run *r, int i, exp_row *row)
{
    const exp_table_def *td = &r->def->tables[i];
    rtable *t = r->tabs[i];
    char b[EXP_MAX_COLS][48];
    const char *cells[EXP_MAX_COLS];
    format_row(td, row, td->ncols, b, cells);
    for (int c = 0; c < td->ncols; c++)
        if (!row->s[c]) row->v[c] = strtod(cells[c], NULL);
    if (td->keys && !rtable_stream_is_open(t)) EXP_TRY(stream(r, i));
    if (td->keys && rtable_find(t, td->keys, cells) >= 0) return 0; /* finished: kept as it was */
    if (rtable_add_cells(t, cells) < 0) return exp_fail(r, EXP_DATA, "out of memory");
    if (td->keys && rtable_stream_row(t)) return exp_fail(r, EXP_DATA, "cannot write the rows of %s.tsv: %s", td->name, strerror(errno));
    return 0;
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

/* Writes every open table under its final name; the timing lines go to the
 * description's timing table. */
static int close_tables(exp_run *r)
{
    char path[4200], part[4200];
    for (int i = 0; i < r->def->ntables; i++) {
        rtable *t = r->tabs[i];
        if (!t) continue;
        tsv_path(r, i, "", path, sizeof path);
        if (!r->def->tables[i].keys) {
            if (rtable_save_tsv(t, path)) return exp_fail(r, EXP_DATA, "cannot write %s: %s", path, strerror(errno));
            continue;
        }
        if (!rtable_stream_is_open(t)) EXP_TRY(stream(r, i));
        tsv_path(r, i, ".partial", part, sizeof part);
        if (rtable_stream_close(t, path)) return exp_fail(r, EXP_DATA, "cannot write %s: %s", path, strerror(errno));
        if (i != r->def->timing_table) continue;
        FILE *f = fopen(path, "a");
        if (!f) return exp_fail(r, EXP_DATA, "cannot append to %s: %s", path, strerror(errno));
        fprintf(f, "# exact_attention_seconds: %.3f\n# wall_seconds: %.3f\n", r->exact_seconds, cli_now() - r->t0);
        if (fclose(f)) return exp_fail(r, EXP_DATA, "cannot write %s", path);
    }
    r->finished = 1;
    return 0;
}

/* ---------------------------------------------------------------- sweep */

/* The description's jobs over every group, into its first table. */
static int sweep(exp_run *r)
{
    const exp_def *d = r->def;
    const int64_t total = (int64_t)r->ngroups * r->njobs;
    int64_t done = 0;
    for (int g = 0; g < r->ngroups; g++) {
        for (int j = 0; j < r->njobs; j++, done++) {
            const exp_job job = {g, j, &r->units[r->members[r->groups[g].first]]};
            exp_row rw;
            exp_row_init(&rw);
            EXP_TRY(d->key(r, &job, &rw));
            if (exp_find(r, 0, &rw) >= 0 && !(d->needed && d->needed(r, &job))) continue;
            EXP_TRY(d->row(r, &job, &rw));
            EXP_TRY(exp_put(r, 0, &rw));
            if (d->progress) cli_progress(d->progress, done + 1, total);
        }
        if (!r->groups[g].kept) unload(&r->groups[g]);
    }
    if (d->progress) cli_progress_done();
    return 0;
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

int exp_execute(exp_run *r)
{
    const exp_def *d = r->def;
    if (d->check) EXP_TRY(d->check(r));
    if (d->units && r->c.ncaptures > 0)
        return exp_fail(r, EXP_USAGE, "unexpected argument '%s': %s runs the model and reads no capture",
                        r->c.captures[0], d->name);
    if (!d->units && r->c.ncaptures < 1)
        return exp_fail(r, EXP_USAGE, "missing CAPTURE (one or more HDF5 capture files; `ripple synth` makes one)");
    if (!r->c.out_dir) return exp_fail(r, EXP_USAGE, "--out DIR is required (where the table and figure go)");
    if (r->c.backend == RIPPLE_BACKEND_CUDA && !ripple_backend_available(RIPPLE_BACKEND_CUDA))
        return exp_fail(r, EXP_DATA, "--backend cuda: no usable CUDA device, or ripple was built without CUDA");
    EXP_TRY(mkdir_p(r, r->c.out_dir));
    EXP_TRY(lock_out_dir(r));
    if (d->run) return d->run(r);
    EXP_TRY(d->units ? d->units(r) : plan_units(r));
    EXP_TRY(d->plan(r));
    EXP_TRY(sweep(r));
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
    printf("%s%s\n", line, missing ? " (no figure: gnuplot missing)" : r->plot_failed ? " (figures not drawn)" : "");
    if (!r->plot_failed) return 0;
    r->msg[0] = '\0'; /* each failed figure said why */
    return EXP_DATA;
}
