#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tu_tmp_path(const char *name)
{
    static char dir[256];
    static char paths[4][512]; /* rotating: several may be in use in one call */
    static int next;
    char *path = paths[next++ % 4];
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/ripple-test-%ld", base && *base ? base : "/tmp", (long)getpid());
        mkdir(dir, 0700);
    }
    snprintf(path, sizeof paths[0], "%s/%s", dir, name);
    return path;
}

int tu_system(const char *cmd)
{
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

char *tu_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    size_t got = n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
    buf[got] = '\0';
    fclose(f);
    return buf;
}

char *tu_read_table(const char *path)
{
    char *text = tu_read_file(path);
    if (!text) return NULL;
    static const char *const timing[] = {"# exact_attention_seconds:", "# wall_seconds:"};
    char *w = text;
    for (char *r = text; *r;) {
        char *nl = strchr(r, '\n');
        size_t len = nl ? (size_t)(nl - r) + 1 : strlen(r);
        int drop = 0;
        for (size_t i = 0; i < 2; i++) drop |= !strncmp(r, timing[i], strlen(timing[i]));
        if (!drop) {
            memmove(w, r, len);
            w += len;
        }
        r += len;
    }
    *w = '\0';
    return text;
}

const char *tu_tmp(const char *name)
{
    static struct { char *name, *path; } made[256];
    static int n;
    for (int i = 0; i < n; i++)
        if (!strcmp(made[i].name, name)) return made[i].path;
    char *copy = strdup(name), *path = strdup(tu_tmp_path(name));
    cr_assert(copy && path);
    if (n == (int)(sizeof made / sizeof made[0])) return path; /* full: a copy of our own */
    made[n].name = copy;
    made[n].path = path;
    return made[n++].path;
}

int tu_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int tu_count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Keeps text (malloc'd, or NULL) in the ring of tu_slurp; "" for NULL. */
static const char *slurp_keep(char *text)
{
    static char *ring[8];
    static int next;
    next = (next + 1) % 8;
    free(ring[next]);
    ring[next] = text;
    return text ? text : "";
}

const char *tu_slurp(const char *path) { return slurp_keep(tu_read_file(path)); }

const char *tu_slurp_table(const char *path) { return slurp_keep(tu_read_table(path)); }

int tu_ripple(const char *env, const char *args)
{
    static char cmd[16384];
    char out[512], err[512]; /* tu_tmp_path's buffers rotate */
    snprintf(out, sizeof out, "%s", tu_tmp_path("out.txt"));
    snprintf(err, sizeof err, "%s", tu_tmp_path("err.txt"));
    snprintf(cmd, sizeof cmd, "%s '%s' %s >'%s' 2>'%s'", env ? env : "", RIPPLE_EXE, args, out, err);
    return tu_system(cmd);
}

const char *tu_out(void) { return tu_slurp(tu_tmp_path("out.txt")); }

const char *tu_err(void) { return tu_slurp(tu_tmp_path("err.txt")); }

void tu_expect_misuse(const char *args, int code, const char *needle)
{
    int rc = tu_ripple(NULL, args);
    const char *err = tu_err();
    cr_expect_eq(rc, code, "`ripple %s` exited %d, wanted %d (stderr: %s)", args, rc, code, err);
    cr_expect(strstr(err, needle), "`ripple %s`: stderr lacks '%s': %s", args, needle, err);
    cr_expect_leq(tu_count_lines(err), 2, "`ripple %s`: long error: %s", args, err);
    cr_expect_str_eq(tu_out(), "", "`ripple %s` wrote to stdout", args);
}

const char *tu_synth(const char *name, const char *opts)
{
    static const char *built[64];
    static int n;
    const char *path = tu_tmp(name);
    for (int i = 0; i < n; i++)
        if (built[i] == path) return path;
    char args[2048];
    snprintf(args, sizeof args, "synth '%s' %s", path, opts);
    cr_assert_eq(tu_ripple(NULL, args), 0, "synth failed: %s", tu_err());
    if (n < 64) built[n++] = path;
    return path;
}

int tu_tsv_row_cell(const char *text, int nkey, const char *const *key, const char *col, char *out, size_t n)
{
    char *copy = strdup(text), *save = NULL;
    int colidx = -1, found = 0;
    for (char *line = strtok_r(copy, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char *cells[64];
        int nc = 0;
        for (char *p = line; nc < 64;) {
            cells[nc++] = p;
            char *tab = strchr(p, '\t');
            if (!tab) break;
            *tab = '\0';
            p = tab + 1;
        }
        if (colidx < 0) {
            for (int c = 0; c < nc; c++)
                if (!strcmp(cells[c], col)) colidx = c;
            if (colidx < 0) break;
            continue;
        }
        int eq = nc > colidx;
        for (int k = 0; eq && k < nkey; k++) eq = !strcmp(cells[k], key[k]);
        if (eq) {
            snprintf(out, n, "%s", cells[colidx]);
            found = 1;
        }
    }
    free(copy);
    return found;
}

int tu_tsv_cell(const char *text, int nkey, const char *const *keys, const char *const *vals, const char *col,
                char out[64])
{
    char *buf = strdup(text);
    cr_assert(buf);
    char *names[64];
    int ncols = 0, rows = 0, found = 0;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char *cells[64];
        int n = 0;
        for (char *p = line;; n++) {
            cells[n] = p;
            char *tab = strchr(p, '\t');
            if (!tab || n == 63) break;
            *tab = '\0';
            p = tab + 1;
        }
        n++;
        if (!ncols) {
            for (int i = 0; i < n; i++) names[i] = cells[i];
            ncols = n;
            continue;
        }
        cr_assert_eq(n, ncols, "row %d has %d cells, header %d", rows, n, ncols);
        rows++;
        if (!col || found) continue;
        int match = 1;
        for (int k = 0; k < nkey && match; k++)
            for (int i = 0; i < ncols; i++)
                if (!strcmp(names[i], keys[k])) match = !strcmp(cells[i], vals[k]);
        if (!match) continue;
        for (int i = 0; i < ncols; i++)
            if (!strcmp(names[i], col)) {
                snprintf(out, 64, "%s", cells[i]);
                found = 1;
            }
    }
    free(buf);
    if (col) cr_assert(found, "no cell %s in the matching row", col);
    return rows;
}

double tu_eval_value(const char *text, const char *method, const char *col)
{
    const char *keys[] = {"method"};
    const char *vals[] = {method};
    char c[64];
    tu_tsv_cell(text, 1, keys, vals, col, c);
    return strtod(c, NULL);
}
