#include "table.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rtable {
    int ncols;
    char **cols;
    int nrows, cap_rows;
    char ***cells; /* [row][col], NULL = empty */
    int nmeta;
    char **meta;
    FILE *stream;  /* rtable_stream_open: the file rows go to */
    char *stream_path;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

rtable *rtable_new(int ncols, const char *const *columns)
{
    rtable *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cols = calloc((size_t)ncols, sizeof *t->cols);
    if (!t->cols) {
        free(t);
        return NULL;
    }
    t->ncols = ncols;
    for (int c = 0; c < ncols; c++) {
        t->cols[c] = dup_str(columns[c]);
        if (!t->cols[c]) {
            rtable_free(t);
            return NULL;
        }
    }
    return t;
}

void rtable_free(rtable *t)
{
    if (!t) return;
    if (t->stream) fclose(t->stream);
    free(t->stream_path);
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) free(t->cells[r][c]);
        free(t->cells[r]);
    }
    free(t->cells);
    for (int c = 0; c < t->ncols; c++) free(t->cols[c]);
    free(t->cols);
    for (int i = 0; i < t->nmeta; i++) free(t->meta[i]);
    free(t->meta);
    free(t);
}

void rtable_format_meta(char *line, size_t size, const char *key, const char *fmt, va_list ap)
{
    char value[1024];
    vsnprintf(value, sizeof value, fmt, ap);
    /* metadata stays on one line whatever the value holds */
    for (char *p = value; *p; p++)
        if (*p == '\n' || *p == '\t') *p = ' ';
    snprintf(line, size, "# %s: %s", key, value);
}

int rtable_meta(rtable *t, const char *key, const char *fmt, ...)
{
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    rtable_format_meta(line, sizeof line, key, fmt, ap);
    va_end(ap);
    char **m = realloc(t->meta, (size_t)(t->nmeta + 1) * sizeof *m);
    if (!m) return -1;
    t->meta = m;
    if (!(m[t->nmeta] = dup_str(line))) return -1;
    t->nmeta++;
    return 0;
}

int rtable_add_row(rtable *t)
{
    if (t->nrows == t->cap_rows) {
        int cap = t->cap_rows ? 2 * t->cap_rows : 16;
        char ***c = realloc(t->cells, (size_t)cap * sizeof *c);
        if (!c) return -1;
        t->cells = c;
        t->cap_rows = cap;
    }
    t->cells[t->nrows] = calloc((size_t)t->ncols, sizeof(char *));
    if (!t->cells[t->nrows]) return -1;
    return t->nrows++;
}

static int col_index(const rtable *t, const char *col)
{
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->cols[c], col)) return c;
    return -1;
}

int rtable_set_str(rtable *t, const char *col, const char *value)
{
    int c = col_index(t, col);
    if (c < 0 || t->nrows == 0) {
        fprintf(stderr, "ripple: internal error: table has no column '%s' or no row\n", col);
        abort();
    }
    char *v = dup_str(value);
    if (!v) return -1;
    free(t->cells[t->nrows - 1][c]);
    t->cells[t->nrows - 1][c] = v;
    return 0;
}

const char *rtable_format_num(char *buf, size_t size, double value)
{
    if (isnan(value))
        snprintf(buf, size, "nan");
    else if (isinf(value))
        snprintf(buf, size, value > 0 ? "inf" : "-inf");
    else
        snprintf(buf, size, "%.6g", value);
    return buf;
}

double rtable_round(double v)
{
    char buf[64];
    return strtod(rtable_format_num(buf, sizeof buf, v), NULL);
}

double rtable_round_down(double v)
{
    double r = rtable_round(v);
    while (r > v && r > 0) r = rtable_round(r - pow(10.0, floor(log10(r)) - 5));
    return r;
}

int rtable_set_num(rtable *t, const char *col, double value)
{
    char buf[64];
    return rtable_set_str(t, col, rtable_format_num(buf, sizeof buf, value));
}

int rtable_set_int(rtable *t, const char *col, long long value)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", value);
    return rtable_set_str(t, col, buf);
}

int rtable_rows(const rtable *t) { return t->nrows; }
int rtable_cols(const rtable *t) { return t->ncols; }
const char *rtable_col_name(const rtable *t, int col) { return t->cols[col]; }

const char *rtable_get(const rtable *t, int row, const char *col)
{
    int c = col_index(t, col);
    if (c < 0 || row < 0 || row >= t->nrows) return "";
    return t->cells[row][c] ? t->cells[row][c] : "";
}

static void write_row(const rtable *t, FILE *f, int r)
{
    for (int c = 0; c < t->ncols; c++)
        fprintf(f, "%s%c", t->cells[r][c] ? t->cells[r][c] : "", c + 1 < t->ncols ? '\t' : '\n');
}

int rtable_write_tsv(const rtable *t, FILE *f)
{
    for (int i = 0; i < t->nmeta; i++) fprintf(f, "%s\n", t->meta[i]);
    for (int c = 0; c < t->ncols; c++) fprintf(f, "%s%c", t->cols[c], c + 1 < t->ncols ? '\t' : '\n');
    for (int r = 0; r < t->nrows; r++) write_row(t, f, r);
    return ferror(f) ? -1 : 0;
}

static int is_number(const char *s)
{
    if (!*s) return 0;
    char *end;
    (void)strtod(s, &end);
    return *end == '\0';
}

static int write_pretty_sel(const rtable *t, FILE *f, int ns, const int *sel);

int rtable_write_pretty(const rtable *t, FILE *f)
{
    return rtable_write_pretty_cols(t, f, t->ncols, (const char *const *)t->cols);
}

int rtable_write_pretty_cols(const rtable *t, FILE *f, int n, const char *const *names)
{
    int *sel = calloc((size_t)(n > 0 ? n : 1), sizeof *sel);
    if (!sel) return -1;
    int ns = 0;
    for (int i = 0; i < n; i++) {
        int c = col_index(t, names[i]);
        if (c >= 0) sel[ns++] = c;
    }
    int rc = write_pretty_sel(t, f, ns, sel);
    free(sel);
    return rc;
}

static int write_pretty_sel(const rtable *t, FILE *f, int ns, const int *sel)
{
    size_t *w = calloc((size_t)t->ncols, sizeof *w);
    if (!w) return -1;
    for (int k = 0; k < ns; k++) {
        int c = sel[k];
        w[c] = strlen(t->cols[c]);
        for (int r = 0; r < t->nrows; r++) {
            size_t n = t->cells[r][c] ? strlen(t->cells[r][c]) : 0;
            if (n > w[c]) w[c] = n;
        }
    }
    for (int k = 0; k < ns; k++)
        fprintf(f, "%*s%s", (int)w[sel[k]], t->cols[sel[k]], k + 1 < ns ? "  " : "\n");
    for (int r = 0; r < t->nrows; r++)
        for (int k = 0; k < ns; k++) {
            int c = sel[k];
            const char *s = t->cells[r][c] ? t->cells[r][c] : "";
            fprintf(f, is_number(s) ? "%*s%s" : "%-*s%s", (int)w[c], s, k + 1 < ns ? "  " : "\n");
        }
    free(w);
    return ferror(f) ? -1 : 0;
}

int rtable_save_tsv(const rtable *t, const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    int rc = rtable_write_tsv(t, f);
    if (fclose(f) != 0) rc = -1;
    if (rc == 0 && rename(tmp, path) != 0) rc = -1;
    if (rc != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
    }
    return rc;
}

/* ---------------------------------------------------------- reading back */

/* Splits line at tabs into cells (as many as there are). */
static void split_tabs(char *line, char **cells)
{
    for (char *p = line;; p++) {
        *cells++ = p;
        if (!(p = strchr(p, '\t'))) return;
        *p = '\0';
    }
}

/* Appends a metadata line as it is ("# key: value"). */
static int push_meta(char ***meta, int *n, const char *line)
{
    char **m = realloc(*meta, (size_t)(*n + 1) * sizeof *m);
    if (!m) return -1;
    *meta = m;
    if (!(m[*n] = dup_str(line))) return -1;
    (*n)++;
    return 0;
}

rtable *rtable_load_tsv(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    rtable *t = NULL;
    char *line = NULL, **cells = NULL, **meta = NULL;
    int nmeta = 0, bad = 0;
    size_t cap = 0;
    ssize_t len;
    while (!bad && (len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n') break; /* cut short */
        line[--len] = '\0';
        if (line[0] == '#') {
            bad = t ? push_meta(&t->meta, &t->nmeta, line) : push_meta(&meta, &nmeta, line);
            continue;
        }
        int n = 1;
        for (const char *p = line; (p = strchr(p, '\t')); p++) n++;
        char **c = realloc(cells, (size_t)n * sizeof *c);
        if (!c) {
            bad = 1;
            break;
        }
        split_tabs(line, cells = c);
        if (t) {
            if (n == t->ncols && rtable_add_cells(t, (const char *const *)cells) < 0) bad = 1;
            continue;
        }
        if (!(t = rtable_new(n, (const char *const *)cells))) {
            bad = 1;
            break;
        }
        t->meta = meta, t->nmeta = nmeta;
        meta = NULL, nmeta = 0;
    }
    int e = ferror(f) ? EIO : bad ? ENOMEM : t ? 0 : ENODATA;
    for (int i = 0; i < nmeta; i++) free(meta[i]);
    free(meta);
    free(line);
    free(cells);
    fclose(f);
    if (e) {
        rtable_free(t);
        errno = e;
        return NULL;
    }
    return t;
}

const char *rtable_meta_get(const rtable *t, const char *key)
{
    const char *v = NULL;
    size_t n = strlen(key);
    for (int i = 0; i < t->nmeta; i++) {
        const char *m = t->meta[i] + 1 + (t->meta[i][1] == ' ');
        if (!strncmp(m, key, n) && m[n] == ':') v = m + n + 1 + (m[n + 1] == ' ');
    }
    return v;
}

const char *rtable_meta_at(const rtable *t, int k) { return k >= 0 && k < t->nmeta ? t->meta[k] : NULL; }

int rtable_col(const rtable *t, const char *name) { return col_index(t, name); }

const char *rtable_cell(const rtable *t, int row, int col)
{
    if (row < 0 || row >= t->nrows || col < 0 || col >= t->ncols || !t->cells[row][col]) return "";
    return t->cells[row][col];
}

double rtable_num(const rtable *t, int row, int col)
{
    const char *s = rtable_cell(t, row, col);
    char *end;
    double v = strtod(s, &end);
    return end == s || *end ? NAN : v;
}

int rtable_find(const rtable *t, int nkeys, const char *const *key)
{
    for (int r = 0; r < t->nrows; r++) {
        int c = 0;
        while (c < nkeys && !strcmp(rtable_cell(t, r, c), key[c])) c++;
        if (c == nkeys) return r;
    }
    return -1;
}

int rtable_add_cells(rtable *t, const char *const *cells)
{
    int r = rtable_add_row(t);
    if (r < 0) return -1;
    for (int c = 0; c < t->ncols; c++)
        if (!(t->cells[r][c] = dup_str(cells[c]))) return -1;
    return r;
}

int rtable_reorder(rtable *t, const int *order, int n)
{
    char ***cells = malloc((size_t)(t->nrows ? t->nrows : 1) * sizeof *cells);
    char *moved = calloc((size_t)(t->nrows ? t->nrows : 1), 1);
    if (!cells || !moved) {
        free(cells);
        free(moved);
        return -1;
    }
    int k = 0;
    for (int i = 0; i < n; i++) cells[k++] = t->cells[order[i]], moved[order[i]] = 1;
    for (int r = 0; r < t->nrows; r++)
        if (!moved[r]) cells[k++] = t->cells[r];
    memcpy(t->cells, cells, (size_t)t->nrows * sizeof *cells);
    free(cells);
    free(moved);
    return 0;
}

/* -------------------------------------------------------------- streaming */

int rtable_stream_open(rtable *t, const char *path)
{
    if (!(t->stream_path = dup_str(path)) || !(t->stream = fopen(path, "w"))) return -1;
    if (rtable_write_tsv(t, t->stream) || fflush(t->stream)) return -1;
    return 0;
}

int rtable_stream_row(rtable *t)
{
    write_row(t, t->stream, t->nrows - 1);
    return fflush(t->stream) || ferror(t->stream) ? -1 : 0;
}

int rtable_stream_close(rtable *t, const char *final)
{
    int rc = fclose(t->stream);
    t->stream = NULL;
    if (rc == 0 && final && rename(t->stream_path, final) != 0) rc = -1;
    return rc ? -1 : 0;
}

int rtable_stream_is_open(const rtable *t) { return t->stream != NULL; }
