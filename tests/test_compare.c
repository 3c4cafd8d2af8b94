/* `ripple compare` end to end on a small synthetic capture: the files it
 * writes, the TSV's shape and numbers, agreement with `ripple eval`,
 * resumption, misuse (exit 2, nothing written) and a missing gnuplot. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char cmd[16384];

/* stdout of the last run without its timing lines */
static const char *out_table(void) { return tu_slurp_table(tu_tmp_path("out.txt")); }

static const char *capture(void)
{
    return tu_synth("cmp.h5", "--grid 4,8,8 --heads 2 --head-dim 64 --steps 2 --layers 1 --seed 3");
}

/* A parsed TSV: header cells and rows of cells (comment lines skipped). */
typedef struct {
    char *text;
    char *head[64];
    int ncols;
    char *cells[512][64];
    int nrows;
} tsv;

static int split(char *line, char **out, int max)
{
    int n = 0;
    for (char *p = line;;) {
        char *tab = strchr(p, '\t');
        if (n < max) out[n] = p;
        n++;
        if (!tab) break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

static void tsv_read(tsv *t, const char *path)
{
    memset(t, 0, sizeof *t);
    t->text = tu_read_table(path);
    cr_assert(t->text, "cannot read %s", path);
    int header = 0;
    for (char *line = strtok(t->text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        if (!header) {
            t->ncols = split(line, t->head, 64);
            header = 1;
            continue;
        }
        cr_assert_lt(t->nrows, 512);
        int n = split(line, t->cells[t->nrows], 64);
        cr_expect_eq(n, t->ncols, "%s: row %d has %d cells, header %d", path, t->nrows, n, t->ncols);
        t->nrows++;
    }
    cr_assert(header, "%s: no header", path);
}

static int col(const tsv *t, const char *name)
{
    for (int c = 0; c < t->ncols; c++)
        if (!strcmp(t->head[c], name)) return c;
    cr_assert_fail("no column %s", name);
    return -1;
}

/* Row whose key cells match (NULL = any). */
static int find_row(const tsv *t, const char *method, const char *step, const char *threshold)
{
    int cm = col(t, "method"), cs = step ? col(t, "step") : -1, ct = threshold ? col(t, "threshold") : -1;
    for (int r = 0; r < t->nrows; r++)
        if (!strcmp(t->cells[r][cm], method) && (!step || !strcmp(t->cells[r][cs], step)) &&
            (!threshold || !strcmp(t->cells[r][ct], threshold)))
            return r;
    return -1;
}

static double num(const tsv *t, int r, const char *name) { return strtod(t->cells[r][col(t, name)], NULL); }

static const char *out_dir(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s", tu_tmp_path(name));
    return p;
}

#define THETAS "0.01,0.05,0.2"

Test(compare, writes_files_and_a_consistent_table)
{
    const char *dir = out_dir("run1");
    char args[2048];
    snprintf(args, sizeof args, "compare '%s' --out '%s' --thetas " THETAS, capture(), dir);
    cr_assert_eq(tu_ripple(NULL, args), 0, "compare failed: %s", tu_err());
    cr_expect(strstr(out_table(), "oracle-topk"), "no summary table on stdout");
    char path[1024];
    const char *files[] = {"compare.tsv", "compare_summary.tsv", "compare.gp"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        cr_expect(tu_exists(path), "%s missing", path);
    }
    snprintf(path, sizeof path, "%s/compare.png", dir);
    if (tu_system("command -v gnuplot >/dev/null 2>&1") == 0)
        cr_expect(tu_exists(path), "no png though gnuplot exists");
    snprintf(path, sizeof path, "%s/compare.tsv.partial", dir);
    cr_expect(!tu_exists(path), "partial file left behind");

    /* the table: 2 steps x 6 methods x 3 thetas, finite numbers */
    tsv t;
    snprintf(path, sizeof path, "%s/compare.tsv", dir);
    tsv_read(&t, path);
    cr_expect_eq(t.ncols, 21);
    cr_expect_eq(t.nrows, 2 * 6 * 3);
    const char *finite_cols[] = {"s_score", "s_attn", "mse", "rel_l2", "cosine", "max_abs", "mse_floor"};
    for (int r = 0; r < t.nrows; r++)
        for (size_t c = 0; c < sizeof finite_cols / sizeof finite_cols[0]; c++) {
            double v = num(&t, r, finite_cols[c]);
            cr_expect(isfinite(v), "row %d %s = %s", r, finite_cols[c], t.cells[r][col(&t, finite_cols[c])]);
        }
    char *meta = tu_read_table(path);
    cr_expect(strstr(meta, "# options: "));
    cr_expect(strstr(meta, "# ripple: "));
    cr_expect(strstr(meta, "# capture: "));
    cr_expect(strstr(meta, "# backend: cpu"));
    free(meta);

    /* attention-map rows sit at the savings of reuse: density_target =
     * 1 - s_attn(reuse), achieved density >= target (within %.6g printing),
     * and their s_attn = 1 - density */
    const char *maps[] = {"svg", "window", "oracle-topk"};
    for (int s = 0; s < 2; s++) {
        char step[8];
        snprintf(step, sizeof step, "%d", s == 0 ? 0 : 49);
        for (const char *th = THETAS; *th;) {
            char one[32];
            size_t len = strcspn(th, ",");
            snprintf(one, sizeof one, "%.*s", (int)len, th);
            th += len + (th[len] == ',');
            int rr = find_row(&t, "reuse", step, one);
            cr_assert_geq(rr, 0, "no reuse row for step %s theta %s", step, one);
            for (size_t m = 0; m < 3; m++) {
                int r = find_row(&t, maps[m], step, one);
                cr_assert_geq(r, 0, "no %s row", maps[m]);
                double target = num(&t, r, "density_target"), d = num(&t, r, "density");
                cr_expect_float_eq(target, 1 - num(&t, rr, "s_attn"), 2e-6, "%s step %s theta %s", maps[m], step, one);
                cr_expect_geq(d, target - 2e-6, "%s: density %g below target %g", maps[m], d, target);
                cr_expect_float_eq(num(&t, r, "s_attn"), 1 - d, 2e-6);
            }
        }
    }

    /* the summary: 6 methods x 3 thetas, with units = 2 */
    tsv s;
    snprintf(path, sizeof path, "%s/compare_summary.tsv", dir);
    tsv_read(&s, path);
    cr_expect_eq(s.nrows, 6 * 3);
    for (int r = 0; r < s.nrows; r++) cr_expect_eq(num(&s, r, "units"), 2.0);
    char *gp = tu_read_table(tu_tmp_path("run1/compare.gp"));
    cr_assert(gp);
    cr_expect(strstr(gp, "compare_summary.tsv"), "the script does not read the summary");
    cr_expect(strstr(gp, "set logscale y"));
    free(gp);
    free(t.text);
    free(s.text);
}

/* compare's rows of methods[] (the methods given as one list) at theta
 * 0.05, step 49, equal `ripple eval --method` of the same: same code path and
 * inputs, so equal up to the 6 digits printed. */
static void expect_rows_of_eval(const char *name, const char *list, const char *const *methods, int n)
{
    const char *dir = out_dir(name);
    char args[2048];
    snprintf(args, sizeof args, "compare '%s' --out '%s' --thetas 0.05 --methods %s --steps 49", capture(), dir, list);
    cr_assert_eq(tu_ripple(NULL, args), 0, "compare failed: %s", tu_err());
    tsv t, e;
    char path[1024];
    snprintf(path, sizeof path, "%s/compare.tsv", dir);
    tsv_read(&t, path);
    cr_assert_eq(t.nrows, n);
    snprintf(args, sizeof args, "eval '%s' --step 49 --layer 0 --theta 0.05 --method %s --format tsv", capture(), list);
    cr_assert_eq(tu_ripple(NULL, args), 0, "eval failed: %s", tu_err());
    tsv_read(&e, tu_tmp_path("out.txt"));
    const char *cols[] = {"s_score", "s_attn", "rows_reused", "mse", "rel_l2", "cosine", "max_abs"};
    for (int m = 0; m < n; m++) {
        int rc = find_row(&t, methods[m], NULL, NULL), re = find_row(&e, methods[m], NULL, NULL);
        cr_assert(rc >= 0 && re >= 0, "%s missing", methods[m]);
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
            double a = num(&t, rc, cols[c]), b = num(&e, re, cols[c]);
            cr_expect((isnan(a) && isnan(b)) || fabs(a - b) <= 1e-5 * fabs(b) + 1e-300,
                      "%s %s: compare %.9g, eval %.9g", methods[m], cols[c], a, b);
        }
    }
    free(t.text);
    free(e.text);
}

/* The reuse rows equal `ripple eval` at the same step and theta. */
Test(compare, reuse_rows_agree_with_eval)
{
    const char *methods[] = {"reuse", "mask-skip", "mask-magnitude"};
    expect_rows_of_eval("run_eval", "reuse,mask-skip,mask-magnitude", methods, 3);
}

/* The attention-map masks run from the registry by `ripple eval --method`
 * as compare runs them: the same density target (1 - s_attn of reuse as
 * printed), so the same rows. */
Test(compare, attention_map_rows_agree_with_eval)
{
    const char *methods[] = {"svg", "window", "oracle-topk"};
    expect_rows_of_eval("run_eval_maps", "svg,window,oracle-topk", methods, 3);
}

Test(compare, rerun_reuses_finished_rows)
{
    const char *dir = out_dir("run_resume");
    char args[2048];
    snprintf(args, sizeof args, "compare '%s' --out '%s' --thetas 0.02,0.1 --methods reuse,window", capture(), dir);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    cr_expect(!strstr(tu_err(), "reused"), "first run claims reuse: %s", tu_err());
    char path[1024];
    snprintf(path, sizeof path, "%s/compare.tsv", dir);
    char *first = tu_read_table(path);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    cr_expect(strstr(tu_err(), "reused 8 of 8 rows"), "rerun: %s", tu_err());
    char *second = tu_read_table(path);
    cr_expect_str_eq(second, first, "the rerun changed the table");
    /* --fresh recomputes */
    char fresh[2100];
    snprintf(fresh, sizeof fresh, "%s --fresh", args);
    cr_assert_eq(tu_ripple(NULL, fresh), 0, "%s", tu_err());
    cr_expect(!strstr(tu_err(), "reused"), "--fresh reused rows: %s", tu_err());
    /* a cut run: keep the header and 3 rows as the partial file; the rerun
     * computes only the rest and ends with the same table */
    snprintf(cmd, sizeof cmd, "cd '%s' && grep '^#' compare.tsv > compare.tsv.partial && grep -v '^#' compare.tsv "
             "| head -4 >> compare.tsv.partial && rm compare.tsv", dir);
    cr_assert_eq(tu_system(cmd), 0);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    cr_expect(strstr(tu_err(), "reused 3 of 8 rows"), "resume: %s", tu_err());
    tsv t;
    tsv_read(&t, path);
    cr_expect_eq(t.nrows, 8);
    free(t.text);
    free(first);
    free(second);
}

/* Misuse: exit 2, one message, nothing written (not even the folder). */
Test(compare, bad_options_exit_2_and_write_nothing)
{
    const char *bad[] = {"--thetas 0.1,x", "--thetas -1", "--methods reuse,nope", "--axes q", "--window 1",
                         "--frobnicate", "--methods reuse-ramp", "--alphas 0.5", "--steps x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *dir = out_dir("never");
        char args[2048];
        snprintf(args, sizeof args, "compare '%s' --out '%s' %s", capture(), dir, bad[i]);
        int rc = tu_ripple(NULL, args);
        cr_expect_eq(rc, 2, "`%s` exited %d: %s", bad[i], rc, tu_err());
        cr_expect(strstr(tu_err(), "ripple compare: "), "`%s`: %s", bad[i], tu_err());
        /* a bad selection is found once the captures are open, after --out exists */
        if (strncmp(bad[i], "--steps", 7)) cr_expect(!tu_exists(dir), "`%s` created %s", bad[i], dir);
        char probe[1024];
        snprintf(probe, sizeof probe, "%s/compare.tsv", dir);
        cr_expect(!tu_exists(probe), "`%s` wrote %s", bad[i], probe);
        snprintf(probe, sizeof probe, "%s/compare.tsv.partial", dir);
        cr_expect(!tu_exists(probe), "`%s` wrote %s", bad[i], probe);
        rmdir(dir);
    }
    char args[1024];
    snprintf(args, sizeof args, "compare '%s'", capture());
    cr_expect_eq(tu_ripple(NULL, args), 2, "missing --out");
    cr_expect_eq(tu_ripple(NULL, "compare --out x"), 2, "missing capture");
    cr_expect_eq(tu_ripple(NULL, "compare --help"), 0);
    cr_expect(strstr(out_table(), "usage: ripple compare"));
}

/* Without gnuplot on PATH: TSV and script are written, and the message says
 * how to render. */
Test(compare, gnuplot_missing)
{
    const char *dir = out_dir("run_nognuplot");
    const char *bin = tu_tmp_path("emptybin");
    mkdir(bin, 0700);
    /* PATH holds only an empty folder: ripple is run by absolute path and
     * system() finds /bin/sh by its absolute path, gnuplot is not found */
    char env[1024];
    snprintf(env, sizeof env, "PATH='%s'", bin);
    char args[2048];
    snprintf(args, sizeof args, "compare '%s' --out '%s' --thetas 0.05 --methods reuse,oracle-topk", capture(), dir);
    int rc = tu_ripple(env, args);
    cr_expect_eq(rc, 0, "exit %d: %s", rc, tu_err());
    cr_expect(strstr(tu_err(), "gnuplot"), "no word about gnuplot: %s", tu_err());
    char path[1024];
    snprintf(path, sizeof path, "%s/compare.tsv", dir);
    cr_expect(tu_exists(path));
    snprintf(path, sizeof path, "%s/compare.gp", dir);
    cr_expect(tu_exists(path));
    snprintf(path, sizeof path, "%s/compare.png", dir);
    cr_expect(!tu_exists(path));
}
