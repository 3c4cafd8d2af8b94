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

static const char *capture(void)
{
    return tu_synth("grp.h5", "--grid 4,8,8 --heads 2 --steps 2 --layers 1 --seed 3");
}

static void expect_close(double a, double b, const char *what)
{
    cr_expect(fabs(a - b) <= 1e-5 * fabs(b) + 1e-12, "%s: groups %.9g vs eval %.9g", what, a, b);
}

Test(groups, files_table_heat_and_agreement_with_eval)
{
    const char *c = capture();
    const char *out = tu_tmp("g_out");
    char a[2048], p[1024];
    snprintf(a, sizeof a, "groups '%s' --out '%s'", c, out);
    cr_assert_eq(tu_ripple(NULL, a), 0, "groups failed: %s", tu_err());
    char *so = strdup(tu_out());
    cr_expect(strstr(so, "t-channels") && strstr(so, "along w"), "no 3x3 table on stdout: %s", so);
    snprintf(p, sizeof p, "%s/groups.tsv", out);
    char *tsv = strdup(tu_slurp(p));
    cr_expect(strstr(tsv, "# options: ") && strstr(tsv, "# ripple: ") && strstr(tsv, "# backend: cpu"),
              "metadata missing");
    cr_expect(strstr(tsv, "# exact_attention_seconds: "), "no exact attention time");
    /* 2 steps x 1 layer x 3 groups x 3 axes */
    cr_expect_eq(tu_tsv_cell(tsv, 0, NULL, NULL, NULL, NULL), 18);
    const char *files[] = {"groups.gp", "groups_heat.tsv", "groups_heat.gp", "groups_summary.tsv"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", out, files[i]);
        cr_expect(tu_exists(p), "%s missing", files[i]);
    }
    if (tu_system("command -v gnuplot >/dev/null 2>&1") == 0) {
        snprintf(p, sizeof p, "%s/groups.png", out);
        cr_expect(tu_exists(p), "no groups.png");
        snprintf(p, sizeof p, "%s/groups_heat.png", out);
        cr_expect(tu_exists(p), "no groups_heat.png");
    }
    /* the heat map: 9 cells x H x W of frame T/2 = 2; cell 8 = w-channels along w */
    snprintf(p, sizeof p, "%s/groups_heat.tsv", out);
    char *heat = strdup(tu_slurp(p));
    cr_expect_eq(tu_tsv_cell(heat, 0, NULL, NULL, NULL, NULL), 9 * 8 * 8);
    cr_expect(strstr(heat, "frame 2 of 4"), "heat map is not of the middle frame");
    {
        const char *keys[] = {"cell", "h", "w"};
        const char *vals[] = {"8", "7", "7"};
        char e[64], g[64], ax[64];
        tu_tsv_cell(heat, 3, keys, vals, "err", e);
        tu_tsv_cell(heat, 3, keys, vals, "group", g);
        tu_tsv_cell(heat, 3, keys, vals, "axis", ax);
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
        tu_tsv_cell(tsv, 3, keys, vals, "s_score", s_score);
        tu_tsv_cell(tsv, 3, keys, vals, "mse", mse);
        tu_tsv_cell(tsv, 3, keys, vals, "cosine", cos);
        snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --theta inf --axes %s --groups %s --method reuse "
                 "--no-floor --format tsv", c, cells[i][1], cells[i][0]);
        cr_assert_eq(tu_ripple(NULL, a), 0, "eval failed: %s", tu_err());
        char *ev = strdup(tu_out());
        expect_close(strtod(s_score, NULL), tu_eval_value(ev, "reuse", "s_score"), "s_score");
        expect_close(strtod(mse, NULL), tu_eval_value(ev, "reuse", "mse"), "mse");
        expect_close(strtod(cos, NULL), tu_eval_value(ev, "reuse", "cosine"), "cosine");
        cr_expect_gt(strtod(mse, NULL), 0.0, "forced reuse left the output exact");
        free(ev);
    }
    free(heat);
    free(tsv);
    free(so);
}

Test(groups, heat_map_of_a_chosen_unit_and_frame)
{
    const char *c = capture();
    const char *out = tu_tmp("g_heat");
    char a[2048], p[1024];
    snprintf(a, sizeof a, "groups '%s' --out '%s' --steps 49 --step 49 --layer 0 --frame 0 --no-floor", c, out);
    cr_assert_eq(tu_ripple(NULL, a), 0, "groups failed: %s", tu_err());
    snprintf(p, sizeof p, "%s/groups_heat.tsv", out);
    const char *heat = tu_slurp(p);
    cr_expect(strstr(heat, "step 49 layer 0 frame 0 of 4"), "wrong unit or frame: %.400s", heat);
    snprintf(p, sizeof p, "%s/groups.tsv", out);
    cr_expect_eq(tu_tsv_cell(tu_slurp(p), 0, NULL, NULL, NULL, NULL), 9);
}

Test(groups, rerun_reuses_finished_rows)
{
    const char *c = capture();
    const char *out = tu_tmp("g_resume");
    char a[2048], p[1024];
    snprintf(a, sizeof a, "groups '%s' --out '%s' --steps 0 --no-floor", c, out);
    cr_assert_eq(tu_ripple(NULL, a), 0, "groups failed: %s", tu_err());
    snprintf(p, sizeof p, "%s/groups.tsv", out);
    /* mark the mse of the first row, drop the others: the rerun keeps the
     * marked row and computes the rest */
    char *text = strdup(tu_slurp(p));
    cr_assert(text);
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
    cr_assert_eq(tu_ripple(NULL, a), 0, "rerun failed: %s", tu_err());
    cr_expect(strstr(tu_out(), "reused"), "rerun does not say it reused rows");
    const char *tsv = tu_slurp(p);
    cr_expect(strstr(tsv, "\t12345\t"), "the finished row was recomputed");
    cr_expect_eq(tu_tsv_cell(tsv, 0, NULL, NULL, NULL, NULL), 9);
}

static void misuse(const char *extra, int code, const char *needle)
{
    const char *c = capture();
    char out[512], a[2048], b[2600];
    snprintf(out, sizeof out, "%s", tu_tmp_path("g_misuse"));
    snprintf(a, sizeof a, "groups '%s' %s", c, extra);
    snprintf(b, sizeof b, a, out);
    int rc = tu_ripple(NULL, b);
    cr_expect_eq(rc, code, "`%s` exited %d (stderr %s)", b, rc, tu_err());
    cr_expect(strstr(tu_err(), needle), "`%s`: stderr lacks '%s': %s", b, needle, tu_err());
    char p[1024];
    snprintf(p, sizeof p, "%s/groups.tsv", out);
    cr_expect(!tu_exists(p), "`%s` wrote %s", b, p);
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
    cr_expect_eq(tu_ripple(NULL, "groups --help"), 0);
    cr_expect(strstr(tu_out(), "usage: ripple groups"));
}

Test(groups, gnuplot_missing_still_writes_tables_and_scripts)
{
    const char *c = capture();
    const char *out = tu_tmp("g_nognuplot");
    char a[2048], p[1024];
    snprintf(a, sizeof a, "groups '%s' --out '%s' --steps 0 --no-floor", c, out);
    cr_assert_eq(tu_ripple("PATH=/nonexistent", a), 0, "groups failed: %s", tu_err());
    cr_expect(strstr(tu_err(), "gnuplot not found"), "no hint: %s", tu_err());
    const char *files[] = {"groups.tsv", "groups.gp", "groups_heat.tsv", "groups_heat.gp"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", out, files[i]);
        cr_expect(tu_exists(p), "%s missing", files[i]);
    }
    snprintf(p, sizeof p, "%s/groups.png", out);
    cr_expect(!tu_exists(p));
}
