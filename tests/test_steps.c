/* `ripple steps`: agreement with `ripple eval`, resumption of an interrupted
 * run, misuse, and a missing gnuplot. */
#include "source.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* stdout of the last run without its timing lines */
static const char *out_table(void) { return tu_slurp_table(tu_tmp_path("out.txt")); }

/* A synthetic capture: 3 of 10 steps, 2 layers, 2 heads. */
static const char *capture(const char *name, int seed)
{
    char opts[256];
    snprintf(opts, sizeof opts, "--grid 3,4,4 --heads 2 --head-dim 16 --num-steps 10 --steps 3 --layers 2 --text 2 "
             "--seed %d", seed);
    return tu_synth(name, opts);
}

static int count_data_rows(const char *text)
{
    int n = -1; /* the header */
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        if (*p != '#') n++;
        if (!nl) break;
        p = nl + 1;
    }
    return n;
}

Test(steps, numbers_agree_with_eval)
{
    const char *cap = capture("agree.h5", 3);
    char args[2048];
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tu_tmp_path("agree"));
    snprintf(args, sizeof args, "steps '%s' --out '%s' --theta 0.12 --axes th --window 2", cap, dir);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    char path[1024];
    snprintf(path, sizeof path, "%s/steps.tsv", dir);
    char *tsv = tu_read_table(path);
    cr_assert(tsv);
    const char *steps[3] = {"0", "5", "9"}; /* round(i * 9 / 2) */
    for (int s = 0; s < 3; s++)
        for (int l = 0; l < 2; l++) {
            snprintf(args, sizeof args, "eval '%s' --step %s --layer %d --theta 0.12 --axes th --window 2 "
                     "--method reuse --format tsv --no-floor", cap, steps[s], l);
            cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
            const char *ev = out_table();
            char lay[8];
            snprintf(lay, sizeof lay, "%d", l);
            const char *key[4] = {"layer", "0", steps[s], lay};
            const char *ekey[1] = {"reuse"};
            static const char *const cols[] = {"mse", "rel_l2", "cosine", "psnr", "s_score", "s_attn",
                                               "rows_reused"};
            for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
                char a[64], b[64];
                cr_assert(tu_tsv_row_cell(tsv, 4, key, cols[c], a, sizeof a), "steps row %s/%d", steps[s], l);
                cr_assert(tu_tsv_row_cell(ev, 1, ekey, cols[c], b, sizeof b), "eval row: %s", ev);
                cr_expect_str_eq(a, b, "step %s layer %d column %s: steps %s, eval %s", steps[s], l, cols[c], a, b);
            }
        }
    /* the capture row is the mean over layers, the mean row the mean over captures */
    const char *k0[4] = {"layer", "0", "5", "0"}, *k1[4] = {"layer", "0", "5", "1"};
    const char *kc[4] = {"capture", "0", "5", "all"}, *km[4] = {"mean", "all", "5", "all"};
    char a[64], b[64], m[64], mm[64];
    cr_assert(tu_tsv_row_cell(tsv, 4, k0, "mse", a, sizeof a) && tu_tsv_row_cell(tsv, 4, k1, "mse", b, sizeof b));
    cr_assert(tu_tsv_row_cell(tsv, 4, kc, "mse", m, sizeof m) && tu_tsv_row_cell(tsv, 4, km, "mse", mm, sizeof mm));
    cr_expect_float_eq(strtod(m, NULL), 0.5 * (strtod(a, NULL) + strtod(b, NULL)), 1e-6 * strtod(m, NULL));
    cr_expect_str_eq(m, mm, "one capture: its mean is the mean");
    cr_expect(strstr(tsv, "# options: "));
    cr_expect(strstr(tsv, "# ripple: "));
    cr_expect(strstr(tsv, "\ntrend\tall\t"));
    free(tsv);
}

Test(steps, two_captures_give_curves_mean_trend_and_figure)
{
    const char *a = capture("c1.h5", 1);
    char a_path[512];
    snprintf(a_path, sizeof a_path, "%s", a);
    const char *b = capture("c2.h5", 2);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tu_tmp_path("two"));
    char args[2048];
    snprintf(args, sizeof args, "steps '%s' '%s' --out '%s' --theta 0.1", a_path, b, dir);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    cr_expect(strstr(out_table(), "trend: log10(mse) ="), "%s", out_table());
    char path[1024];
    snprintf(path, sizeof path, "%s/steps.tsv", dir);
    char *tsv = tu_read_table(path);
    cr_assert(tsv);
    /* 2 captures x 3 steps x 2 layers, 6 capture rows, 3 mean, 3 trend */
    cr_expect_eq(count_data_rows(tsv), 12 + 6 + 3 + 3);
    const char *k0[4] = {"capture", "0", "9", "all"}, *k1[4] = {"capture", "1", "9", "all"},
               *km[4] = {"mean", "all", "9", "all"};
    char x[64], y[64], m[64];
    cr_assert(tu_tsv_row_cell(tsv, 4, k0, "mse", x, sizeof x) && tu_tsv_row_cell(tsv, 4, k1, "mse", y, sizeof y) &&
              tu_tsv_row_cell(tsv, 4, km, "mse", m, sizeof m));
    cr_expect_float_eq(strtod(m, NULL), 0.5 * (strtod(x, NULL) + strtod(y, NULL)), 1e-6 * strtod(m, NULL));
    free(tsv);
    snprintf(path, sizeof path, "%s/steps.gp", dir);
    cr_expect_eq(access(path, R_OK), 0);
    if (tu_system("command -v gnuplot >/dev/null 2>&1") == 0) {
        snprintf(path, sizeof path, "%s/steps.png", dir);
        cr_expect_eq(access(path, R_OK), 0, "figure drawn");
    }
}

Test(steps, resumption_reuses_finished_rows_only)
{
    const char *cap = capture("resume.h5", 5);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tu_tmp_path("resume"));
    char args[2048], path[1024], partial[1100];
    snprintf(args, sizeof args, "steps '%s' --out '%s' --theta 0.1 --no-floor", cap, dir);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    cr_expect(strstr(out_table(), "(0 rows reused"), "%s", out_table());
    snprintf(path, sizeof path, "%s/steps.tsv", dir);
    char *full = tu_read_table(path);
    cr_assert(full);

    /* a rerun with the same options recomputes nothing */
    cr_assert_eq(tu_ripple(NULL, args), 0);
    cr_expect(strstr(out_table(), "(15 rows reused"), "%s", out_table());

    /* an interrupted run: the partial file holds 2 complete rows and one cut short */
    const char *p = full; /* keep the `#` lines, the header and two rows */
    for (int data = 0; *p && data < 3;) {
        if (*p != '#') data++;
        p = strchr(p, '\n') + 1;
    }
    snprintf(partial, sizeof partial, "%s.partial", path);
    FILE *f = fopen(partial, "w");
    cr_assert(f);
    fwrite(full, 1, (size_t)(p - full), f);
    fputs("layer\t0\t5\t1\tcut", f); /* no newline: Ctrl-C mid-row */
    fclose(f);
    unlink(path);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    cr_expect(strstr(out_table(), "(2 rows reused"), "%s", out_table());
    char *again = tu_read_table(path);
    cr_assert(again);
    cr_expect_str_eq(again, full, "the resumed table equals the uninterrupted one");
    cr_expect_neq(access(partial, F_OK), 0, "the partial file is renamed");
    free(again);

    /* other options: nothing reused */
    snprintf(args, sizeof args, "steps '%s' --out '%s' --theta 0.2 --no-floor", cap, dir);
    cr_assert_eq(tu_ripple(NULL, args), 0);
    cr_expect(strstr(out_table(), "(0 rows reused"), "%s", out_table());
    free(full);
}

Test(steps, bad_options_fail_cleanly)
{
    const char *cap = capture("bad.h5", 9);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tu_tmp_path("bad"));
    char args[2048];
    struct { const char *fmt; int rc; const char *msg; } cases[] = {
        {"steps '%s' --out '%s'", 2, "--theta X"},
        {"steps '%s' --out '%s' --theta 0.1 --alpha 0.5", 2, "exclude"},
        {"steps '%s' --theta 0.1 %.0s", 2, "--out DIR is required"},
        {"steps '%s' --out '%s' --theta abc", 2, "not a number"},
        {"steps '%s' --out '%s' --theta -1", 2, "out of range"},
        {"steps '%s' --out '%s' --theta 0.1 --window 1", 2, "out of range"},
        {"steps '%s' --out '%s' --theta 0.1 --axes xyz", 2, "not an axis"},
        {"steps '%s' --out '%s' --theta 0.1 --frobnicate", 2, "unknown option"},
        {"steps '%s' --out '%s' --theta 0.1 --steps 4", 1, "matches no captured"},
        {"steps '%s.missing' --out '%s' --theta 0.1", 1, "cannot"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, cases[i].fmt, cap, dir);
        int rc = tu_ripple(NULL, args);
        const char *err = tu_err();
        cr_expect_eq(rc, cases[i].rc, "case %zu (%s): exit %d: %s", i, args, rc, err);
        cr_expect(strstr(err, cases[i].msg), "case %zu: message '%s'", i, err);
        cr_expect(strstr(err, "ripple steps: "), "case %zu: one-line error naming the command", i);
    }
    cr_expect_eq(tu_ripple(NULL, "steps --help"), 0);
    cr_expect(strstr(out_table(), "usage: ripple steps"));
    cr_expect_eq(tu_ripple(NULL, "steps"), 2);
}

Test(steps, without_gnuplot_the_table_and_script_are_written)
{
    const char *cap = capture("nognu.h5", 4);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tu_tmp_path("nognu"));
    char args[2048], path[1024];
    /* a PATH without gnuplot (the shell is found by absolute path) */
    char empty[512];
    snprintf(empty, sizeof empty, "%s", tu_tmp_path("emptybin"));
    snprintf(args, sizeof args, "mkdir -p '%s'", empty);
    cr_assert_eq(tu_system(args), 0);
    char env[1024];
    snprintf(env, sizeof env, "PATH='%s'", empty);
    snprintf(args, sizeof args, "steps '%s' --out '%s' --theta 0.1 --no-floor", cap, dir);
    cr_assert_eq(tu_ripple(env, args), 0, "%s", tu_err());
    const char *err = tu_err();
    cr_expect(strstr(err, "gnuplot not found"), "%s", err);
    cr_expect(strstr(err, "gnuplot steps.gp"), "says how to render: %s", err);
    snprintf(path, sizeof path, "%s/steps.tsv", dir);
    cr_expect_eq(access(path, R_OK), 0);
    snprintf(path, sizeof path, "%s/steps.gp", dir);
    cr_expect_eq(access(path, R_OK), 0);
    snprintf(path, sizeof path, "%s/steps.png", dir);
    cr_expect_neq(access(path, F_OK), 0, "no figure without gnuplot");
    if (tu_system("command -v gnuplot >/dev/null 2>&1") == 0) { /* the script renders as told */
        snprintf(args, sizeof args, "cd '%s' && gnuplot steps.gp 2>&1", dir);
        cr_expect_eq(tu_system(args), 0);
        cr_expect_eq(access(path, R_OK), 0);
    }
}

/* The legend label of a capture (src_label): prompt and seed, else the file
 * name, with the characters a TSV cell or a gnuplot string cannot hold
 * replaced. */
Test(steps, capture_labels)
{
    ripple_capture_info info;
    memset(&info, 0, sizeof info);
    src s = {.name = "dir/run\"7.h5", .info = &info};
    char buf[128];
    src_label(&s, buf, sizeof buf);
    cr_expect_str_eq(buf, "run 7.h5");
    info.has_seed = 1, info.seed = 42;
    snprintf(info.prompt, sizeof info.prompt, "a cat\tin 'snow'");
    src_label(&s, buf, sizeof buf);
    cr_expect_str_eq(buf, "a cat in  snow  seed 42");
    snprintf(info.prompt, sizeof info.prompt, "%s", "0123456789012345678901234567890123456789 and more");
    src_label(&s, buf, sizeof buf);
    cr_expect_str_eq(buf, "0123456789012345678901234567890123456789... seed 42", "long prompts are cut at 40 bytes");
}
