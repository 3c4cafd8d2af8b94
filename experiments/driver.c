#include "driver.h"

#include "ripple_version.h"
#include "table.h"

#include <errno.h>
#include <fcntl.h>
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

const char drv_common_help[] =
    "common options:\n"
    "  --out DIR          folder for the TSV, the gnuplot script and the figure (required)\n"
    "  --steps SEL        steps to use: all (default), a list 0,10,20 or a range a:b\n"
    "  --layers SEL       layers to use, likewise\n"
    "  --heads a:b        heads a..b-1 of those stored (default: all)\n"
    "  --backend B        cpu (default) or cuda, for exact attention\n"
    "  --svg, --pdf       also render the figure as SVG / PDF\n"
    "  --fresh            recompute rows finished by an earlier run with the same options\n"
    "  -h, --help         this text\n";

static double exact_seconds_total, t_start;

double drv_exact_seconds(void) { return exact_seconds_total; }

void drv_append_timing(const char *tsv_path)
{
    FILE *f = fopen(tsv_path, "a");
    if (!f) cli_data_error("cannot append to %s: %s", tsv_path, strerror(errno));
    fprintf(f, "# exact_attention_seconds: %.3f\n", exact_seconds_total);
    fprintf(f, "# wall_seconds: %.3f\n", cli_now() - t_start);
    if (fclose(f)) cli_data_error("cannot write %s", tsv_path);
}

void drv_opts_init(drv_opts *o)
{
    t_start = cli_now();
    memset(o, 0, sizeof *o);
    o->head_hi = -1;
    o->backend = RIPPLE_BACKEND_CPU;
}

/* Items of a --steps/--layers list selection; MAX_SEL_LEN characters at most. */
enum { MAX_SEL_LEN = 1024, MAX_SEL_ITEMS = MAX_SEL_LEN / 2 + 1 };

/* 1 if value is selected by sel (NULL/"all" = everything; "a,b,c"; "a:b" half-open; "a:").
 * A malformed selection is a usage error naming opt. */
static int selected(const char *opt, const char *sel, int value)
{
    if (!sel || !strcmp(sel, "all")) return 1;
    if (strchr(sel, ':')) {
        int64_t lo, hi;
        cli_range(opt, sel, &lo, &hi);
        return value >= lo && (hi < 0 || value < hi);
    }
    char buf[MAX_SEL_LEN];
    char *items[MAX_SEL_ITEMS];
    int n = cli_list(opt, sel, buf, sizeof buf, items, MAX_SEL_ITEMS);
    int hit = 0;
    for (int i = 0; i < n; i++) hit |= cli_int(opt, items[i], 0, INT32_MAX) == value;
    return hit;
}

int drv_common_option(drv_opts *o, int c, const char *arg)
{
    switch (c) {
    /* a selection is checked when given, so a bad one is a usage error before any work */
    case DRV_O_STEPS: selected("--steps", arg, 0); o->steps = arg; return 1;
    case DRV_O_LAYERS: selected("--layers", arg, 0); o->layers = arg; return 1;
    case DRV_O_HEADS: cli_range("--heads", arg, &o->head_lo, &o->head_hi); return 1;
    case DRV_O_OUT: o->out_dir = cli_nonempty("--out", arg); return 1;
    case DRV_O_SVG: o->svg = 1; return 1;
    case DRV_O_PDF: o->pdf = 1; return 1;
    case DRV_O_FRESH: o->fresh = 1; return 1;
    case DRV_O_BACKEND:
        if (!strcmp(arg, "cpu")) o->backend = RIPPLE_BACKEND_CPU;
        else if (!strcmp(arg, "cuda")) o->backend = RIPPLE_BACKEND_CUDA;
        else cli_usage_error("--backend: '%s' is not cpu or cuda", arg);
        return 1;
    default: return 0;
    }
}

static void mkdir_p(const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) cli_usage_error("--out: path too long");
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) && errno != EEXIST) cli_data_error("cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST) cli_data_error("cannot create %s: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) || !S_ISDIR(st.st_mode)) cli_data_error("--out %s is not a folder", dir);
}

/* Takes DIR/.ripple.lock (flock, held until the process and the children
 * it forks exit), which is also the check that DIR is writable. */
static void lock_out_dir(const char *dir)
{
    char path[4200];
    if (snprintf(path, sizeof path, "%s/.ripple.lock", dir) >= (int)sizeof path)
        cli_usage_error("--out: path too long");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) cli_data_error("cannot write %s: %s", dir, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        if (errno == EWOULDBLOCK)
            cli_data_error("another ripple run is writing %s (it holds %s): wait for it to end or stop it",
                           dir, path);
        cli_data_error("cannot lock %s: %s", path, strerror(errno));
    }
    /* fd stays open: the lock goes with the process */
}

void drv_finish_options(drv_opts *o, int argc, char **argv, int min_captures)
{
    o->captures = argv + optind;
    o->ncaptures = argc - optind;
    if (o->ncaptures < min_captures)
        cli_usage_error("missing CAPTURE (one or more HDF5 capture files; `ripple synth` makes one)");
    if (!o->out_dir) cli_usage_error("--out DIR is required (where the table and figure go)");
    if (o->backend == RIPPLE_BACKEND_CUDA && !ripple_backend_available(RIPPLE_BACKEND_CUDA))
        cli_data_error("--backend cuda: no usable CUDA device, or ripple was built without CUDA");
    mkdir_p(o->out_dir);
    lock_out_dir(o->out_dir);
}

const char *drv_selection_str(const drv_opts *o)
{
    static char buf[256];
    char heads[64];
    if (o->head_hi < 0) snprintf(heads, sizeof heads, "%lld:", (long long)o->head_lo);
    else snprintf(heads, sizeof heads, "%lld:%lld", (long long)o->head_lo, (long long)o->head_hi);
    snprintf(buf, sizeof buf, "steps=%s layers=%s heads=%s backend=%s", o->steps ? o->steps : "all",
             o->layers ? o->layers : "all", heads, ripple_backend_name(o->backend));
    return buf;
}

void drv_units_open(drv_units *u, const drv_opts *o)
{
    memset(u, 0, sizeof *u);
    u->ncaptures = o->ncaptures;
    u->caps = cli_alloc((size_t)o->ncaptures, sizeof *u->caps, "captures");
    size_t cap_ids = 0;
    for (int c = 0; c < o->ncaptures; c++) {
        u->caps[c] = cli_capture_open(o->captures[c], "cannot use capture"); /* metadata checked in a child first */
        const ripple_capture_info *info = ripple_capture_get_info(u->caps[c]);
        if (o->head_lo >= info->num_heads || o->head_hi > info->num_heads)
            cli_usage_error("--heads: %s stores heads 0:%lld", o->captures[c], (long long)info->num_heads);
        size_t ne = ripple_capture_num_entries(u->caps[c]);
        for (size_t i = 0; i < ne; i++) {
            const ripple_capture_entry *e = ripple_capture_get_entry(u->caps[c], i);
            if (!selected("--steps", o->steps, e->step) || !selected("--layers", o->layers, e->layer)) continue;
            if ((size_t)u->n == cap_ids) {
                cap_ids = cap_ids ? 2 * cap_ids : 64;
                drv_unit_id *p = realloc(u->ids, cap_ids * sizeof *p);
                if (!p) cli_data_error("out of memory");
                u->ids = p;
            }
            u->ids[u->n++] = (drv_unit_id){c, e->step, e->layer, e->timestep, (int)info->num_steps};
        }
    }
    if (u->n == 0)
        cli_data_error("the selection (%s) matches no captured step and layer; `ripple info` lists them",
                       drv_selection_str(o));
}

void drv_units_close(drv_units *u)
{
    for (int c = 0; c < u->ncaptures; c++) ripple_capture_close(u->caps[c]);
    free(u->caps);
    free(u->ids);
    memset(u, 0, sizeof *u);
}

void drv_unit_load(const drv_units *u, const drv_opts *o, int i, eval_unit *out)
{
    const drv_unit_id *id = &u->ids[i];
    ripple_capture *cap = u->caps[id->capture];
    int64_t hi = o->head_hi < 0 ? ripple_capture_get_info(cap)->num_heads : o->head_hi;
    ripple_status s = eval_unit_load(out, cap, id->step, id->layer, o->head_lo, hi - o->head_lo, o->backend);
    if (s) cli_lib_error(s, "cannot evaluate");
    exact_seconds_total += out->exact_seconds;
}

/* ------------------------------------------------------------------ TSV */

typedef struct {
    char **cells;
} tsv_row;

struct drv_tsv {
    char final_path[4096], partial_path[4200];
    int ncols, key_cols;
    char **cols;
    char options[1024];
    tsv_row *old; /* finished rows of an earlier run */
    int nold, reused;
    char **meta;
    int nmeta;
    FILE *f; /* partial file, opened at the first row */
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) cli_data_error("out of memory");
    return d;
}

/* Splits a line at tabs into exactly n cells; returns 0 if the count differs. */
static int split_tabs(char *line, int n, char **cells)
{
    int k = 0;
    char *p = line;
    for (;;) {
        char *tab = strchr(p, '\t');
        if (k == n) return 0;
        cells[k++] = p;
        if (!tab) break;
        *tab = '\0';
        p = tab + 1;
    }
    return k == n;
}

/* Reads rows of an earlier run from path when its options line and header
 * match; returns the number read (rows with a wrong cell count are dropped:
 * a row cut by a crash). */
static void load_old(drv_tsv *t, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int options_ok = 0, header_ok = 0;
    char want_opts[1100];
    snprintf(want_opts, sizeof want_opts, "# options: %s", t->options);
    while ((len = getline(&line, &cap, f)) > 0) {
        int complete = line[len - 1] == '\n';
        if (complete) line[--len] = '\0';
        if (line[0] == '#') {
            if (!strcmp(line, want_opts)) options_ok = 1;
            continue;
        }
        if (!header_ok) {
            char **cells = cli_alloc((size_t)t->ncols, sizeof *cells, "tsv");
            header_ok = split_tabs(line, t->ncols, cells);
            for (int c = 0; header_ok && c < t->ncols; c++) header_ok = !strcmp(cells[c], t->cols[c]);
            free(cells);
            if (!header_ok || !options_ok) break;
            continue;
        }
        if (!complete) break; /* a row cut short */
        char **cells = cli_alloc((size_t)t->ncols, sizeof *cells, "tsv");
        char *copy = xstrdup(line);
        if (!split_tabs(copy, t->ncols, cells)) {
            free(cells);
            free(copy);
            continue;
        }
        tsv_row *p = realloc(t->old, (size_t)(t->nold + 1) * sizeof *p);
        if (!p) cli_data_error("out of memory");
        t->old = p;
        t->old[t->nold++].cells = cells; /* cells point into copy, owned by cells[0] */
    }
    free(line);
    fclose(f);
}

drv_tsv *drv_tsv_open(const drv_opts *o, const char *name, int ncols, const char *const *cols,
                      int key_cols, const char *options)
{
    drv_tsv *t = calloc(1, sizeof *t);
    if (!t) cli_data_error("out of memory");
    snprintf(t->final_path, sizeof t->final_path, "%s/%s.tsv", o->out_dir, name);
    snprintf(t->partial_path, sizeof t->partial_path, "%s.partial", t->final_path);
    t->ncols = ncols;
    t->key_cols = key_cols;
    t->cols = cli_alloc((size_t)ncols, sizeof *t->cols, "tsv");
    for (int c = 0; c < ncols; c++) t->cols[c] = xstrdup(cols[c]);
    snprintf(t->options, sizeof t->options, "%s", options);
    for (char *p = t->options; *p; p++)
        if (*p == '\n' || *p == '\t') *p = ' ';
    if (!o->fresh) {
        load_old(t, t->final_path);
        if (t->nold == 0) load_old(t, t->partial_path);
    }
    t->reused = t->nold;
    return t;
}

void drv_tsv_meta(drv_tsv *t, const char *key, const char *fmt, ...)
{
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    rtable_format_meta(line, sizeof line, key, fmt, ap);
    va_end(ap);
    char **m = realloc(t->meta, (size_t)(t->nmeta + 1) * sizeof *m);
    if (!m) cli_data_error("out of memory");
    t->meta = m;
    t->meta[t->nmeta++] = xstrdup(line);
}

static int find_old(const drv_tsv *t, const char *const *key)
{
    for (int r = 0; r < t->nold; r++) {
        int eq = 1;
        for (int c = 0; eq && c < t->key_cols; c++) eq = !strcmp(t->old[r].cells[c], key[c]);
        if (eq) return r;
    }
    return -1;
}

int drv_tsv_has(const drv_tsv *t, const char *const *key) { return find_old(t, key) >= 0; }

const char *drv_tsv_get(const drv_tsv *t, const char *const *key, const char *col)
{
    int r = find_old(t, key);
    if (r < 0) return NULL;
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->cols[c], col)) return t->old[r].cells[c];
    return NULL;
}

static void write_line(drv_tsv *t, const char *const *cells)
{
    for (int c = 0; c < t->ncols; c++) fprintf(t->f, "%s%c", cells[c], c + 1 < t->ncols ? '\t' : '\n');
}

static void open_partial(drv_tsv *t)
{
    if (t->f) return;
    t->f = fopen(t->partial_path, "w");
    if (!t->f) cli_data_error("cannot write %s: %s", t->partial_path, strerror(errno));
    fprintf(t->f, "# options: %s\n", t->options);
    fprintf(t->f, "# ripple: %s\n", RIPPLE_GIT_DESCRIBE);
    for (int i = 0; i < t->nmeta; i++) fprintf(t->f, "%s\n", t->meta[i]);
    write_line(t, (const char *const *)t->cols);
    /* rows of the earlier run come first, as they were */
    for (int r = 0; r < t->nold; r++) write_line(t, (const char *const *)t->old[r].cells);
    fflush(t->f);
}

void drv_tsv_row(drv_tsv *t, const char *const *cells)
{
    open_partial(t);
    if (find_old(t, cells) >= 0) return; /* already there */
    write_line(t, cells);
    if (fflush(t->f)) cli_data_error("cannot write %s: %s", t->partial_path, strerror(errno));
}

int drv_tsv_reused(const drv_tsv *t) { return t->reused; }

void drv_tsv_foreach(const char *path, int ncols, void (*fn)(char **cells, void *ctx), void *ctx)
{
    FILE *f = fopen(path, "r");
    if (!f) cli_data_error("cannot read %s: %s", path, strerror(errno));
    char **cells = cli_alloc((size_t)ncols, sizeof *cells, "tsv row");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int header = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n') line[--len] = '\0';
        if (line[0] == '#') continue;
        if (!header) {
            header = 1;
            continue;
        }
        if (split_tabs(line, ncols, cells)) fn(cells, ctx);
    }
    int bad = ferror(f);
    free(line);
    free(cells);
    fclose(f);
    if (bad) cli_data_error("cannot read %s", path);
}

const char *drv_tsv_close(drv_tsv *t)
{
    static char path[4096];
    open_partial(t);
    if (fclose(t->f) != 0) cli_data_error("cannot write %s: %s", t->partial_path, strerror(errno));
    if (rename(t->partial_path, t->final_path))
        cli_data_error("cannot rename %s: %s", t->partial_path, strerror(errno));
    snprintf(path, sizeof path, "%s", t->final_path);
    for (int r = 0; r < t->nold; r++) {
        free(t->old[r].cells[0]);
        free(t->old[r].cells);
    }
    free(t->old);
    for (int c = 0; c < t->ncols; c++) free(t->cols[c]);
    free(t->cols);
    for (int i = 0; i < t->nmeta; i++) free(t->meta[i]);
    free(t->meta);
    free(t);
    return path;
}

const char *drv_num(char buf[DRV_CELL], double v) { return rtable_format_num(buf, DRV_CELL, v); }

const char *drv_int(char buf[DRV_CELL], long long v)
{
    snprintf(buf, DRV_CELL, "%lld", v);
    return buf;
}

/* ---------------------------------------------------------------- plots */

const char *drv_gp_string(char *dst, size_t n, const char *s)
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

const char *drv_shell_word(char *dst, size_t n, const char *s)
{
    if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=,+@%-") == strlen(s)) {
        snprintf(dst, n, "%s", s);
        return dst;
    }
    size_t k = 0;
    if (k + 1 < n) dst[k++] = '\'';
    for (; *s; s++) {
        const char *piece = *s == '\'' ? "'\\''" : NULL;
        size_t len = piece ? 4 : 1;
        if (k + len + 1 >= n) break;
        if (piece) memcpy(dst + k, piece, 4);
        else dst[k] = *s;
        k += len;
    }
    if (k + 1 < n) dst[k++] = '\'';
    if (n) dst[k < n ? k : n - 1] = '\0';
    return dst;
}

int drv_exit_status(int plot_rc) { return plot_rc < 0 ? CLI_EXIT_DATA : CLI_EXIT_OK; }

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
static int render(const drv_opts *o, const char *gnuplot, const char *name, const char *fmt)
{
    char rel_tmp[256], expr[512], script[256], tmp[4400], final[4400], out[16384], why[512] = "";
    snprintf(rel_tmp, sizeof rel_tmp, "%s.%s.tmp", name, fmt);
    snprintf(expr, sizeof expr, "fmt=\"%s\"; out=\"%s\"", fmt, rel_tmp);
    snprintf(script, sizeof script, "%s.gp", name);
    snprintf(tmp, sizeof tmp, "%s/%s", o->out_dir, rel_tmp);
    snprintf(final, sizeof final, "%s/%s.%s", o->out_dir, name, fmt);
    unlink(tmp); /* a leftover of a killed run */
    char *argv[] = {(char *)gnuplot, "-e", expr, script, NULL};
    int st = run_in_dir(o->out_dir, argv, out, sizeof out);
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
                fprintf(stderr, "ripple %s: note: gnuplot on %s (%s): %s\n", cli_cmd, script, fmt, reason);
            }
            return 0;
        }
        snprintf(why, sizeof why, "cannot rename %s: %s", rel_tmp, strerror(errno));
    }
    unlink(tmp);
    int stale = unlink(final) == 0;
    fprintf(stderr, "ripple %s: figure %s not drawn: %s%s (the table and %s are written)\n", cli_cmd, final, why,
            stale ? "; the figure of an earlier run is removed" : "", script);
    return -1;
}

int drv_plot(const drv_opts *o, const char *name, const char *body, int width, int height)
{
    for (const char *p = name; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", *p)) abort();
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.gp", o->out_dir, name);
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) cli_data_error("cannot write %s: %s", tmp, strerror(errno));
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
            height / 96.0, body);
    if (fclose(f) || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        cli_data_error("cannot write %s: %s", path, strerror(e));
    }
    char gnuplot[4200];
    if (!find_in_path("gnuplot", gnuplot, sizeof gnuplot)) {
        char dir[8400];
        fprintf(stderr,
                "ripple %s: gnuplot not found: %s.tsv and %s.gp are written; to draw the figure,\n"
                "  apt-get install gnuplot-nox && (cd %s && gnuplot %s.gp)\n",
                cli_cmd, name, name, drv_shell_word(dir, sizeof dir, o->out_dir), name);
        return 1;
    }
    const char *fmts[3] = {"png", o->svg ? "svg" : NULL, o->pdf ? "pdf" : NULL};
    int rc = 0;
    for (int i = 0; i < 3; i++)
        if (fmts[i] && render(o, gnuplot, name, fmts[i])) rc = -1;
    return rc;
}

/* ---------------------------------------------------------------- ramps */

double drv_ramp_theta(const drv_ramp *r, int step)
{
    if (step < r->i_min || step >= r->num_steps - 1) return 0.0;
    if (step > r->i_max) return r->theta_end;
    if (r->i_max == r->i_min) return r->theta_start;
    return r->theta_start + (double)(step - r->i_min) * (r->theta_end - r->theta_start) /
                                (double)(r->i_max - r->i_min);
}

/* Copies s (n bytes) into dst[size] with bytes outside printable ASCII as
 * \xNN, cut to fit: text from a file is never echoed raw. */
static const char *printable(char *dst, size_t size, const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char one[5] = {(char)c, 0};
        if (c < 0x20 || c >= 0x7f || c == '\\') snprintf(one, sizeof one, "\\x%02x", c);
        size_t len = strlen(one);
        if (k + len + 4 >= size) {
            if (k + 4 <= size) memcpy(dst + k, "...", 3), k += 3;
            break;
        }
        memcpy(dst + k, one, len);
        k += len;
    }
    if (size) dst[k] = '\0';
    return dst;
}

/* Reads one whole integer in [lo, hi] from s; 0 on success. */
static int ramp_int(const char *s, long long lo, long long hi, int *out)
{
    if (!*s || strspn(s, "+-0123456789") != strlen(s)) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

int drv_ramp_load(const char *path, drv_ramp *r, char err[DRV_RAMP_ERR])
{
    static const char *const keys[] = {"mode", "theta_start", "theta_end", "i_min", "i_max", "num_steps"};
    enum { K_MODE, K_START, K_END, K_IMIN, K_IMAX, K_STEPS, K_COUNT };
    static const char hint[] = "keys: mode, theta_start, theta_end, i_min, i_max, num_steps; `ripple fit` writes ramps";
    char shown[200];
    printable(shown, sizeof shown, path, strlen(path));
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, DRV_RAMP_ERR, "cannot open ramp %s: %s", shown, strerror(errno));
        return -1;
    }
    memset(r, 0, sizeof *r);
    int seen[K_COUNT] = {0}, lineno = 0, rc = -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)len)) {
            snprintf(err, DRV_RAMP_ERR, "%s:%d: a NUL byte: not a ramp text file (%s)", shown, lineno, hint);
            goto done;
        }
        if (len && line[len - 1] == '\n') line[--len] = '\0';
        if (len && line[len - 1] == '\r') line[--len] = '\0';
        /* tokens: key, value, then only an optional # comment */
        char *p = line + strspn(line, " \t");
        if (!*p || *p == '#') continue;
        char *key = p;
        p += strcspn(p, " \t");
        char *val = p + strspn(p, " \t");
        if (*p) *p = '\0';
        char *vend = val + strcspn(val, " \t");
        char *rest = vend + strspn(vend, " \t");
        char ks[64], vs[64];
        printable(ks, sizeof ks, key, strlen(key));
        if (!*val || *val == '#') {
            snprintf(err, DRV_RAMP_ERR, "%s:%d: '%s' has no value (expected 'key value')", shown, lineno, ks);
            goto done;
        }
        if (*rest && *rest != '#') {
            printable(vs, sizeof vs, rest, strlen(rest));
            snprintf(err, DRV_RAMP_ERR, "%s:%d: unexpected text '%s' after the value of %s", shown, lineno, vs, ks);
            goto done;
        }
        *vend = '\0';
        printable(vs, sizeof vs, val, strlen(val));
        int k = 0;
        while (k < K_COUNT && strcmp(key, keys[k])) k++;
        if (k == K_COUNT) {
            snprintf(err, DRV_RAMP_ERR, "%s:%d: unknown key '%s' (%s)", shown, lineno, ks, hint);
            goto done;
        }
        if (seen[k]) {
            snprintf(err, DRV_RAMP_ERR, "%s:%d: %s given twice", shown, lineno, ks);
            goto done;
        }
        seen[k] = 1;
        const char *bad = NULL;
        if (k == K_MODE) {
            if (!strcmp(val, "absolute")) r->mode = RIPPLE_THRESHOLD_ABSOLUTE;
            else if (!strcmp(val, "channel")) r->mode = RIPPLE_THRESHOLD_CHANNEL;
            else bad = "absolute or channel";
        } else if (k == K_START || k == K_END) {
            char *end;
            double v = strtod(val, &end);
            if (*end || !isfinite(v) || v < 0) bad = "a finite number >= 0";
            else *(k == K_START ? &r->theta_start : &r->theta_end) = v;
        } else if (k == K_STEPS) {
            if (ramp_int(val, 1, INT32_MAX, &r->num_steps)) bad = "a whole number of steps >= 1";
        } else if (ramp_int(val, 0, INT32_MAX, k == K_IMIN ? &r->i_min : &r->i_max)) {
            bad = "a whole zero-based step >= 0";
        }
        if (bad) {
            snprintf(err, DRV_RAMP_ERR, "%s:%d: bad value '%s' for %s (must be %s)", shown, lineno, vs, ks, bad);
            goto done;
        }
    }
    if (ferror(f)) {
        snprintf(err, DRV_RAMP_ERR, "cannot read ramp %s: %s", shown, strerror(errno));
        goto done;
    }
    if (!seen[K_START] || !seen[K_END] || !seen[K_IMIN] || !seen[K_IMAX] || !seen[K_STEPS]) {
        snprintf(err, DRV_RAMP_ERR, "%s: a ramp needs theta_start, theta_end, i_min, i_max and num_steps", shown);
        goto done;
    }
    if (r->i_max < r->i_min || r->i_max >= r->num_steps) {
        snprintf(err, DRV_RAMP_ERR, "%s: need 0 <= i_min <= i_max < num_steps (got i_min %d, i_max %d, num_steps %d)",
                 shown, r->i_min, r->i_max, r->num_steps);
        goto done;
    }
    rc = 0;
done:
    free(line);
    fclose(f);
    return rc;
}

int drv_ramp_save(const char *path, const drv_ramp *r, const char *comment)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    fprintf(f, "# ripple threshold ramp (method.md section 5; zero-based steps)\n");
    if (comment && *comment) { /* one comment line, whatever the text holds */
        fputs("# ", f);
        for (const char *p = comment; *p; p++) fputc(*p == '\n' || *p == '\r' ? ' ' : *p, f);
        fputc('\n', f);
    }
    fprintf(f, "mode %s\ntheta_start %.9g\ntheta_end %.9g\ni_min %d\ni_max %d\nnum_steps %d\n",
            r->mode == RIPPLE_THRESHOLD_CHANNEL ? "channel" : "absolute", r->theta_start, r->theta_end,
            r->i_min, r->i_max, r->num_steps);
    if (fclose(f) || rename(tmp, path)) {
        unlink(tmp);
        return -1;
    }
    return 0;
}
