/* `ripple window` (paper Fig. 11): files, TSV contents, agreement with
 * `ripple eval` at the same settings, resumption, misuse, and a missing
 * gnuplot. Runs the built executable on a small synthetic capture. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *capture(void)
{
    return tu_synth("win.h5", "--grid 4,8,8 --heads 2 --steps 2 --layers 1 --seed 3");
}

static void expect_close(double a, double b, const char *what)
{
    cr_expect(fabs(a - b) <= 1e-5 * fabs(b) + 1e-12, "%s: window %.9g vs eval %.9g", what, a, b);
}

Test(window, files_rows_and_agreement_with_eval)
{
    const char *c = capture();
    const char *out = tu_tmp("w_out");
    char a[2048];
    snprintf(a, sizeof a, "window '%s' --out '%s' --theta 0.2", c, out);
    cr_assert_eq(tu_ripple(NULL, a), 0, "window failed: %s", tu_err());
    cr_expect(strstr(tu_out(), "s_score"), "no summary table on stdout");
    char p[1024];
    snprintf(p, sizeof p, "%s/window.tsv", out);
    char *tsv = strdup(tu_slurp(p));
    cr_assert(tsv);
    cr_assert(strstr(tsv, "# options: "), "no options line");
    cr_expect(strstr(tsv, "# ripple: "), "no git describe line");
    cr_expect(strstr(tsv, "# backend: cpu"), "no backend line");
    cr_expect(strstr(tsv, "# capture: "), "no capture line");
    cr_expect(strstr(tsv, "# exact_attention_seconds: "), "no exact attention time");
    /* 2 steps x 1 layer x 5 windows */
    cr_expect_eq(tu_tsv_cell(tsv, 0, NULL, NULL, NULL, NULL), 10);
    snprintf(p, sizeof p, "%s/window.gp", out);
    cr_expect(tu_exists(p), "no gnuplot script");
    cr_expect(strstr(tu_slurp(p), "\"window.tsv\""), "script does not read window.tsv");
    if (tu_system("command -v gnuplot >/dev/null 2>&1") == 0) {
        snprintf(p, sizeof p, "%s/window.png", out);
        cr_expect(tu_exists(p), "gnuplot present but no window.png");
    }
    snprintf(p, sizeof p, "%s/window.tsv.partial", out);
    cr_expect(!tu_exists(p), "partial file left behind");

    /* a row agrees with `ripple eval` at the same settings (step 49 = the last) */
    char step[64];
    {
        const char *keys[] = {"window"};
        const char *vals[] = {"4"};
        tu_tsv_cell(tsv, 1, keys, vals, "step", step);
    }
    const char *keys[] = {"step", "window"};
    const char *vals[] = {step, "4"};
    char s_score[64], mse[64], rel[64];
    tu_tsv_cell(tsv, 2, keys, vals, "s_score", s_score);
    tu_tsv_cell(tsv, 2, keys, vals, "mse", mse);
    tu_tsv_cell(tsv, 2, keys, vals, "rel_l2", rel);
    snprintf(a, sizeof a, "eval '%s' --step %s --layer 0 --theta 0.2 --window 4 --method reuse --no-floor --format tsv",
             c, step);
    cr_assert_eq(tu_ripple(NULL, a), 0, "eval failed: %s", tu_err());
    char *ev = strdup(tu_out());
    expect_close(strtod(s_score, NULL), tu_eval_value(ev, "reuse", "s_score"), "s_score");
    expect_close(strtod(mse, NULL), tu_eval_value(ev, "reuse", "mse"), "mse");
    expect_close(strtod(rel, NULL), tu_eval_value(ev, "reuse", "rel_l2"), "rel_l2");
    free(ev);
    free(tsv);
}

Test(window, default_threshold_is_recorded)
{
    const char *c = capture();
    const char *out = tu_tmp("w_default");
    char a[2048];
    snprintf(a, sizeof a, "window '%s' --out '%s' --windows 2,3 --axes t --no-floor", c, out);
    cr_assert_eq(tu_ripple(NULL, a), 0, "window failed: %s", tu_err());
    char p[1024];
    snprintf(p, sizeof p, "%s/window.tsv", out);
    const char *tsv = tu_slurp(p);
    cr_expect(strstr(tsv, "median window-2 delta"), "the default rule is not recorded");
    /* 2 window sizes at the 5 default thresholds (multiples of the median delta) per unit */
    int rows = tu_tsv_cell(tsv, 0, NULL, NULL, NULL, NULL);
    cr_expect(rows > 0 && rows % 10 == 0, "%d rows", rows);
    const char *keys[] = {"window", "theta_scale"};
    const char *vals[] = {"2", "1"};
    char theta[64];
    tu_tsv_cell(tsv, 2, keys, vals, "theta", theta);
    cr_expect_gt(strtod(theta, NULL), 0.0, "default theta %s is not positive", theta);
}

Test(window, rerun_reuses_finished_rows)
{
    const char *c = capture();
    const char *out = tu_tmp("w_resume");
    char a[2048], p[1024];
    snprintf(a, sizeof a, "window '%s' --out '%s' --theta 0.15 --windows 2,4 --no-floor", c, out);
    cr_assert_eq(tu_ripple(NULL, a), 0, "window failed: %s", tu_err());
    snprintf(p, sizeof p, "%s/window.tsv", out);
    /* Keep the header and the first data row only, with a marked mse: a
     * rerun must keep that row as it is and compute the others. */
    char *text = strdup(tu_slurp(p));
    cr_assert(text);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    int data = 0, header = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') {
            if (!strncmp(line, "# exact_attention_seconds", 25) || !strncmp(line, "# wall_seconds", 14)) continue;
            fprintf(f, "%s\n", line);
            continue;
        }
        if (!header) {
            header = 1;
            fprintf(f, "%s\n", line);
            continue;
        }
        if (data++ > 0) continue;
        /* replace the mse cell (column 11) by 12345 */
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
        for (int i = 0; i < n; i++) fprintf(f, "%s%s", i == 10 ? "12345" : cells[i], i + 1 < n ? "\t" : "\n");
    }
    fclose(f);
    free(text);
    cr_assert_eq(tu_ripple(NULL, a), 0, "rerun failed: %s", tu_err());
    cr_expect(strstr(tu_out(), "reused"), "rerun does not say it reused rows: %s", tu_out());
    const char *tsv = tu_slurp(p);
    cr_expect(strstr(tsv, "\t12345\t"), "the finished row was recomputed");
    cr_expect_eq(tu_tsv_cell(tsv, 0, NULL, NULL, NULL, NULL), 4, "rows missing after the rerun");

    /* different options: nothing is reused */
    snprintf(a, sizeof a, "window '%s' --out '%s' --theta 0.16 --windows 2,4 --no-floor", c, out);
    cr_assert_eq(tu_ripple(NULL, a), 0, "window failed: %s", tu_err());
    cr_expect(!strstr(tu_slurp(p), "\t12345\t"), "a row of other options was reused");
}

static void misuse(const char *extra, const char *needle)
{
    const char *c = capture();
    char out[512], a[2048];
    snprintf(out, sizeof out, "%s", tu_tmp_path("w_misuse"));
    snprintf(a, sizeof a, "window '%s' %s", c, extra);
    char b[2600];
    snprintf(b, sizeof b, a, out);
    int rc = tu_ripple(NULL, b);
    cr_expect_eq(rc, 2, "`%s` exited %d (stderr %s)", b, rc, tu_err());
    cr_expect(strstr(tu_err(), needle), "`%s`: stderr lacks '%s': %s", b, needle, tu_err());
    cr_expect(!tu_exists(out), "`%s` created %s", b, out);
}

Test(window, bad_options_exit_2_and_write_nothing)
{
    misuse("--out '%s' --windows 1", "--windows");
    misuse("--out '%s' --windows 2,2", "twice");
    misuse("--out '%s' --windows 2,x", "--windows");
    misuse("--out '%s' --theta -1", "--theta");
    misuse("--out '%s' --theta 1 --alpha 1", "exclude");
    misuse("--out '%s' --axes q", "--axes");
    misuse("--out '%s' --bogus", "unknown option");
    misuse("--theta 1", "--out");
}

Test(window, help)
{
    cr_expect_eq(tu_ripple(NULL, "window --help"), 0);
    cr_expect(strstr(tu_out(), "usage: ripple window"));
}

Test(window, gnuplot_missing_still_writes_table_and_script)
{
    const char *c = capture();
    const char *out = tu_tmp("w_nognuplot");
    char a[2048], p[1024];
    snprintf(a, sizeof a, "window '%s' --out '%s' --theta 0.2 --windows 2 --no-floor", c, out);
    cr_assert_eq(tu_ripple("PATH=/nonexistent", a), 0, "window failed: %s", tu_err());
    cr_expect(strstr(tu_err(), "gnuplot not found"), "no hint: %s", tu_err());
    cr_expect(strstr(tu_err(), "gnuplot window.gp"), "hint lacks the command: %s", tu_err());
    snprintf(p, sizeof p, "%s/window.tsv", out);
    cr_expect(tu_exists(p));
    snprintf(p, sizeof p, "%s/window.gp", out);
    cr_expect(tu_exists(p));
    snprintf(p, sizeof p, "%s/window.png", out);
    cr_expect(!tu_exists(p));
}

/* The float64 noise floor lands in its own column (it once went one cell
 * past the table's last column, so floor_mse stayed nan). */
Test(window, noise_floor_fills_its_column)
{
    const char *c = capture();
    const char *out = tu_tmp("w_floor");
    char a[2048], p[1024];
    snprintf(a, sizeof a, "window '%s' --out '%s' --theta 0.2 --windows 2", c, out);
    cr_assert_eq(tu_ripple(NULL, a), 0, "window failed: %s", tu_err());
    snprintf(p, sizeof p, "%s/window.tsv", out);
    char cell[64] = "";
    cr_assert_geq(tu_tsv_cell(tu_slurp(p), 0, NULL, NULL, "floor_mse", cell), 1, "no rows");
    const double floor = strtod(cell, NULL);
    /* float32 against float64 exact attention: rounding only, far below 1e-6 */
    cr_expect(isfinite(floor) && floor > 0 && floor < 1e-6, "floor_mse %s", cell);
    cr_expect(!strstr(tu_out(), "mse nan"), "summary: %s", tu_out());
}
