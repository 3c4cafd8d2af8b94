#include "driver.h"

#include "ripple_version.h"
#include "table.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
        ripple_status s = ripple_capture_open(o->captures[c], &u->caps[c]);
        if (s) cli_lib_error(s, "cannot use capture");
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

static int have_gnuplot(void)
{
    return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

int drv_plot(const drv_opts *o, const char *name, const char *body, int width, int height)
{
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
            "if (fmt eq \"png\") set terminal pngcairo size %d,%d font \"DejaVu Sans,11\" noenhanced\n"
            "if (fmt eq \"svg\") set terminal svg size %d,%d font \"DejaVu Sans,11\" noenhanced\n"
            "if (fmt eq \"pdf\") set terminal pdfcairo size %.2fin,%.2fin font \"DejaVu Sans,9\" noenhanced\n"
            "set output \"%s.\".fmt\n"
            "set datafile separator \"\\t\"\n"
            "set datafile commentschars \"#\"\n"
            "set key outside right top box\n"
            "set grid lc rgb \"#dddddd\"\n"
            "set border lw 1.2\n\n%s\n",
            name, RIPPLE_GIT_DESCRIBE, name, name, width, height, width, height, width / 96.0,
            height / 96.0, name, body);
    if (fclose(f) || rename(tmp, path)) cli_data_error("cannot write %s: %s", path, strerror(errno));
    if (!have_gnuplot()) {
        fprintf(stderr,
                "ripple %s: gnuplot not found: %s.tsv and %s.gp are written; to draw the figure,\n"
                "  apt-get install gnuplot-nox && (cd %s && gnuplot %s.gp)\n",
                cli_cmd, name, name, o->out_dir, name);
        return -1;
    }
    const char *fmts[3] = {"png", o->svg ? "svg" : NULL, o->pdf ? "pdf" : NULL};
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        if (!fmts[i]) continue;
        char cmd[9000];
        snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot -e 'fmt=\"%s\"' '%s.gp' 2>&1", o->out_dir, fmts[i], name);
        FILE *p = popen(cmd, "r");
        if (!p) return -1;
        char line[512];
        int printed = 0;
        while (fgets(line, sizeof line, p))
            if (printed++ < 5) fprintf(stderr, "gnuplot: %s", line);
        int st = pclose(p);
        if (st != 0 || printed) {
            fprintf(stderr, "ripple %s: gnuplot failed on %s/%s.gp (%s)\n", cli_cmd, o->out_dir, name, fmts[i]);
            rc = -1;
        }
    }
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

int drv_ramp_load(const char *path, drv_ramp *r, char err[256])
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, 256, "cannot open ramp %s: %s", path, strerror(errno));
        return -1;
    }
    memset(r, 0, sizeof *r);
    int seen = 0;
    char line[512];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char key[64], val[128];
        if (line[0] == '#' || line[0] == '\n') continue;
        if (sscanf(line, "%63s %127s", key, val) != 2) {
            snprintf(err, 256, "%s:%d: expected 'key value'", path, lineno);
            fclose(f);
            return -1;
        }
        char *end;
        double v = strtod(val, &end);
        int numeric = *end == '\0' && isfinite(v);
        if (!strcmp(key, "mode")) {
            if (!strcmp(val, "absolute")) r->mode = RIPPLE_THRESHOLD_ABSOLUTE;
            else if (!strcmp(val, "channel")) r->mode = RIPPLE_THRESHOLD_CHANNEL;
            else goto bad;
            seen |= 1;
            continue;
        }
        if (!numeric) goto bad;
        if (!strcmp(key, "theta_start")) r->theta_start = v, seen |= 2;
        else if (!strcmp(key, "theta_end")) r->theta_end = v, seen |= 4;
        else if (!strcmp(key, "i_min")) r->i_min = (int)v, seen |= 8;
        else if (!strcmp(key, "i_max")) r->i_max = (int)v, seen |= 16;
        else if (!strcmp(key, "num_steps")) r->num_steps = (int)v, seen |= 32;
        continue;
    bad:
        snprintf(err, 256, "%s:%d: bad value '%s' for %s", path, lineno, val, key);
        fclose(f);
        return -1;
    }
    fclose(f);
    if ((seen & 62) != 62) {
        snprintf(err, 256, "%s: a ramp needs theta_start, theta_end, i_min, i_max and num_steps", path);
        return -1;
    }
    if (r->theta_start < 0 || r->theta_end < 0 || r->i_min < 0 || r->i_max < r->i_min || r->num_steps < 1) {
        snprintf(err, 256, "%s: need theta >= 0, 0 <= i_min <= i_max, num_steps >= 1", path);
        return -1;
    }
    return 0;
}

int drv_ramp_save(const char *path, const drv_ramp *r, const char *comment)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    fprintf(f, "# ripple threshold ramp (method.md section 5; zero-based steps)\n");
    if (comment && *comment) fprintf(f, "# %s\n", comment);
    fprintf(f, "mode %s\ntheta_start %.9g\ntheta_end %.9g\ni_min %d\ni_max %d\nnum_steps %d\n",
            r->mode == RIPPLE_THRESHOLD_CHANNEL ? "channel" : "absolute", r->theta_start, r->theta_end,
            r->i_min, r->i_max, r->num_steps);
    if (fclose(f) || rename(tmp, path)) {
        unlink(tmp);
        return -1;
    }
    return 0;
}
