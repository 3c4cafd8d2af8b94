/* `ripple groups` (paper Fig. 5): files, the table and the heat-map TSV,
 * agreement with `ripple eval --theta inf --axes A --groups G`, resumption,
 * misuse, and a missing gnuplot. Runs the built executable on a small
 * synthetic capture (grid 4x8x8, channel groups t, h, w). */
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char cmd[16384];

/* Runs `ripple ARGS` (with an optional environment prefix), stdout to
 * out.txt and stderr to err.txt; returns the exit code. */
/* A temporary path of our own (tu_tmp_path returns a static buffer). */
static const char *tmp(const char *name)
{
    char *p = strdup(tu_tmp_path(name));
    cr_assert(p);
    return p;
}

static int ripple_env(const char *env, const char *args)
{
    char out[512], err[512];
    snprintf(out, sizeof out, "%s", tu_tmp_path("out.txt"));
    snprintf(err, sizeof err, "%s", tu_tmp_path("err.txt"));
    snprintf(cmd, sizeof cmd, "%s '%s' %s >'%s' 2>'%s'", env ? env : "", RIPPLE_EXE, args, out, err);
    return tu_system(cmd);
}

static int ripple(const char *args) { return ripple_env(NULL, args); }

static const char *slurp_path(const char *path)
{
    static char buf[1 << 20];
    FILE *f = fopen(path, "r");
    if (!f) return "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static const char *slurp(const char *name) { return slurp_path(tu_tmp_path(name)); }

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static const char *capture(void)
{
    static char path[512];
    if (!path[0]) {
        snprintf(path, sizeof path, "%s", tu_tmp_path("grp.h5"));
        char a[1024];
        snprintf(a, sizeof a, "synth '%s' --grid 4,8,8 --heads 2 --steps 2 --layers 1 --seed 3", path);
        cr_assert_eq(ripple(a), 0, "synth failed: %s", slurp("err.txt"));
    }
    return path;
}

/* TSV text: value of column col in the first row whose key columns match
 * (names keys[i] = vals[i]); copies the cell into out[64]. Returns the number
 * of data rows when col is NULL. */
static int tsv_cell(const char *text, int nkey, const char *const *keys, const char *const *vals, const char *col,
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

/* The value of a column of `ripple eval --format tsv` for one method. */
static double eval_value(const char *text, const char *method, const char *col)
{
    const char *keys[] = {"method"};
    const char *vals[] = {method};
    char c[64];
    tsv_cell(text, 1, keys, vals, col, c);
    return strtod(c, NULL);
}

static void expect_close(double a, double b, const char *what)
{
    cr_expect(fabs(a - b) <= 1e-5 * fabs(b) + 1e-12, "%s: groups %.9g vs eval %.9g", what, a, b);
}


Test(groups, files_table_heat_and_agreement_with_eval)
{
    const char *c = capture();
    const char *out = tmp("g_out");
    char a[2048], p[1024];
    snprintf(a, sizeof a, "groups '%s' --out '%s'", c, out);
    cr_assert_eq(ripple(a), 0, "groups failed: %s", slurp("err.txt"));
    const char *so = strdup(slurp("out.txt"));
    cr_expect(strstr(so, "t-channels") && strstr(so, "along w"), "no 3x3 table on stdout: %s", so);
    snprintf(p, sizeof p, "%s/groups.tsv", out);
    const char *tsv = strdup(slurp_path(p));
    cr_expect(strstr(tsv, "# options: ") && strstr(tsv, "# ripple: ") && strstr(tsv, "# backend: cpu"),
              "metadata missing");
    cr_expect(strstr(tsv, "# exact_attention_seconds: "), "no exact attention time");
    /* 2 steps x 1 layer x 3 groups x 3 axes */
    cr_expect_eq(tsv_cell(tsv, 0, NULL, NULL, NULL, NULL), 18);
    const char *files[] = {"groups.gp", "groups_heat.tsv", "groups_heat.gp", "groups_summary.tsv"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", out, files[i]);
        cr_expect(exists(p), "%s missing", files[i]);
    }
    if (tu_system("command -v gnuplot >/dev/null 2>&1") == 0) {
        snprintf(p, sizeof p, "%s/groups.png", out);
        cr_expect(exists(p), "no groups.png");
        snprintf(p, sizeof p, "%s/groups_heat.png", out);
        cr_expect(exists(p), "no groups_heat.png");
    }
    /* the heat map: 9 cells x H x W of frame T/2 = 2; cell 8 = w-channels along w */
    snprintf(p, sizeof p, "%s/groups_heat.tsv", out);
    const char *heat = strdup(slurp_path(p));
    cr_expect_eq(tsv_cell(heat, 0, NULL, NULL, NULL, NULL), 9 * 8 * 8);
    cr_expect(strstr(heat, "frame 2 of 4"), "heat map is not of the middle frame");
    {
        const char *keys[] = {"cell", "h", "w"};
        const char *vals[] = {"8", "7", "7"};
        char e[64], g[64], ax[64];
        tsv_cell(heat, 3, keys, vals, "err", e);
        tsv_cell(heat, 3, keys, vals, "group", g);
        tsv_cell(heat, 3, keys, vals, "axis", ax);
        cr_expect_geq(strtod(e, NULL), 0.0);
        cr_expect_str_eq(g, "w");
        cr_expect_str_eq(ax, "w");
    }

    /* rows agree with `ripple eval --theta inf --axes A --groups G` */
    const char *cells[][2] = {{"t", "t"}, {"h", "w"}, {"w", "t"}};
    for (size_t i = 0; i < 3; i++) {
        const char *keys[] = {"step", "group", "axis"};
        const char *vals[] = {"0", cells[i][0], cells[i][1]};
        char s_score[64], mse[64], cos[64];
        tsv_cell(tsv, 3, keys, vals, "s_score", s_score);
        tsv_cell(tsv, 3, keys, vals, "mse", mse);
        tsv_cell(tsv, 3, keys, vals, "cosine", cos);
        snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --theta inf --axes %s --groups %s --method reuse "
                 "--no-floor --format tsv", c, cells[i][1], cells[i][0]);
        cr_assert_eq(ripple(a), 0, "eval failed: %s", slurp("err.txt"));
        const char *ev = strdup(slurp("out.txt"));
        expect_close(strtod(s_score, NULL), eval_value(ev, "reuse", "s_score"), "s_score");
        expect_close(strtod(mse, NULL), eval_value(ev, "reuse", "mse"), "mse");
        expect_close(strtod(cos, NULL), eval_value(ev, "reuse", "cosine"), "cosine");
        cr_expect_gt(strtod(mse, NULL), 0.0, "forced reuse left the output exact");
    }
}

Test(groups, heat_map_of_a_chosen_unit_and_frame)
{
    const char *c = capture();
    const char *out = tmp("g_heat");
    char a[2048], p[1024];
    snprintf(a, sizeof a, "groups '%s' --out '%s' --steps 49 --step 49 --layer 0 --frame 0 --no-floor", c, out);
    cr_assert_eq(ripple(a), 0, "groups failed: %s", slurp("err.txt"));
    snprintf(p, sizeof p, "%s/groups_heat.tsv", out);
    const char *heat = slurp_path(p);
    cr_expect(strstr(heat, "step 49 layer 0 frame 0 of 4"), "wrong unit or frame: %.400s", heat);
    snprintf(p, sizeof p, "%s/groups.tsv", out);
    cr_expect_eq(tsv_cell(slurp_path(p), 0, NULL, NULL, NULL, NULL), 9);
}

Test(groups, rerun_reuses_finished_rows)
{
    const char *c = capture();
    const char *out = tmp("g_resume");
    char a[2048], p[1024];
    snprintf(a, sizeof a, "groups '%s' --out '%s' --steps 0 --no-floor", c, out);
    cr_assert_eq(ripple(a), 0, "groups failed: %s", slurp("err.txt"));
    snprintf(p, sizeof p, "%s/groups.tsv", out);
    /* mark the mse of the first row, drop the others: the rerun keeps the
     * marked row and computes the rest */
    char *text = strdup(slurp_path(p));
    FILE *f = fopen(p, "w");
    cr_assert(f);
    int header = 0, data = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || !header) {
            if (line[0] != '#') header = 1;
            fprintf(f, "%s\n", line);
            continue;
        }
        if (data++ > 0) continue;
        char *cells[32];
        int n = 0;
        for (char *q = line;; n++) {
            cells[n] = q;
            char *tab = strchr(q, '\t');
            if (!tab) break;
            *tab = '\0';
            q = tab + 1;
        }
        n++;
        for (int i = 0; i < n; i++) fprintf(f, "%s%s", i == 12 ? "12345" : cells[i], i + 1 < n ? "\t" : "\n");
    }
    fclose(f);
    free(text);
    cr_assert_eq(ripple(a), 0, "rerun failed: %s", slurp("err.txt"));
    cr_expect(strstr(slurp("out.txt"), "reused"), "rerun does not say it reused rows");
    const char *tsv = slurp_path(p);
    cr_expect(strstr(tsv, "\t12345\t"), "the finished row was recomputed");
    cr_expect_eq(tsv_cell(tsv, 0, NULL, NULL, NULL, NULL), 9);
}

static void misuse(const char *extra, int code, const char *needle)
{
    const char *c = capture();
    char out[512], a[2048], b[2600];
    snprintf(out, sizeof out, "%s", tu_tmp_path("g_misuse"));
    snprintf(a, sizeof a, "groups '%s' %s", c, extra);
    snprintf(b, sizeof b, a, out);
    int rc = ripple(b);
    cr_expect_eq(rc, code, "`%s` exited %d (stderr %s)", b, rc, slurp("err.txt"));
    cr_expect(strstr(slurp("err.txt"), needle), "`%s`: stderr lacks '%s': %s", b, needle, slurp("err.txt"));
    char p[1024];
    snprintf(p, sizeof p, "%s/groups.tsv", out);
    cr_expect(!exists(p), "`%s` wrote %s", b, p);
}

Test(groups, bad_options_exit_2_and_write_nothing)
{
    misuse("--out '%s' --frame x", 2, "--frame");
    misuse("--out '%s' --step 0", 2, "go together");
    misuse("--out '%s' --window 1", 2, "--window");
    misuse("--out '%s' --bogus", 2, "unknown option");
    misuse("--frame 1", 2, "--out");
    /* values that only the capture can check: still no table */
    misuse("--out '%s' --frame 4", 2, "frames 0..3");
    misuse("--out '%s' --step 7 --layer 0", 2, "not among the selected");
}

Test(groups, help)
{
    cr_expect_eq(ripple("groups --help"), 0);
    cr_expect(strstr(slurp("out.txt"), "usage: ripple groups"));
}

Test(groups, gnuplot_missing_still_writes_tables_and_scripts)
{
    const char *c = capture();
    const char *out = tmp("g_nognuplot");
    char a[2048], p[1024];
    snprintf(a, sizeof a, "groups '%s' --out '%s' --steps 0 --no-floor", c, out);
    cr_assert_eq(ripple_env("PATH=/nonexistent", a), 0, "groups failed: %s", slurp("err.txt"));
    cr_expect(strstr(slurp("err.txt"), "gnuplot not found"), "no hint: %s", slurp("err.txt"));
    const char *files[] = {"groups.tsv", "groups.gp", "groups_heat.tsv", "groups_heat.gp"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", out, files[i]);
        cr_expect(exists(p), "%s missing", files[i]);
    }
    snprintf(p, sizeof p, "%s/groups.png", out);
    cr_expect(!exists(p));
}
