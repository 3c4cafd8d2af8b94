/* Command-line behaviour of `ripple` and `ripple eval`: help, misuse (exit 2),
 * data errors (exit 1) with one-line messages, TSV columns, ramps. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *capture(void)
{
    return tu_synth("cli.h5", "--grid 3,4,5 --heads 2 --head-dim 32 --rope-split 8,12,12 --steps 2 --layers 1 "
                              "--text 3 --seed 7");
}

Test(cli, top_level_usage)
{
    cr_expect_eq(tu_ripple(NULL, ""), 2);
    cr_expect_eq(tu_ripple(NULL, "frobnicate"), 2);
    cr_expect(strstr(tu_err(), "unknown command 'frobnicate'"));
    cr_expect_eq(tu_ripple(NULL, "--help"), 0);
    cr_expect(strstr(tu_out(), "eval"));
}

/* The longest line of s (without its newline) that could be wrapped: a
 * line that is one word after its indent (a path, which depends on where
 * the tree is) is not counted. */
static size_t longest_line(const char *s)
{
    size_t best = 0;
    for (const char *p = s; *p;) {
        const size_t n = strcspn(p, "\n"), lead = strspn(p, " ");
        const int one_word = lead < n && memchr(p + lead, ' ', n - lead) == NULL;
        if (n > best && !one_word) best = n;
        p += n + (p[n] == '\n');
    }
    return best;
}

/* Every command's help, and the top level's, fits an 80-column terminal. */
Test(cli, every_command_has_help)
{
    const char *cmds[] = {"info", "eval", "synth", "bench", "compare", "steps", "fit", "window", "groups",
                          "paper", "generate", "quality", "frames", "merge"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char a[64];
        snprintf(a, sizeof a, "%s --help", cmds[i]);
        cr_expect_eq(tu_ripple(NULL, a), 0, "%s --help failed", cmds[i]);
        cr_expect(strstr(tu_out(), "usage: ripple"), "%s --help prints no usage", cmds[i]);
        cr_expect_leq(longest_line(tu_out()), 80, "%s --help has a line of %zu columns", cmds[i], longest_line(tu_out()));
    }
    cr_expect_eq(tu_ripple(NULL, "--help"), 0);
    cr_expect_leq(longest_line(tu_out()), 80, "ripple --help has a line of %zu columns", longest_line(tu_out()));
}

Test(cli, eval_misuse_exits_2)
{
    char a[2048];
    const char *c = capture();
    snprintf(a, sizeof a, "eval '%s'", c);
    tu_expect_misuse(a, 2, "--step and --layer are required");
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --bogus", c);
    tu_expect_misuse(a, 2, "unknown option '--bogus'");
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --theta -1", c);
    tu_expect_misuse(a, 2, "--theta");
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --theta abc", c);
    tu_expect_misuse(a, 2, "not a number");
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --theta 0.1 --alpha 1", c);
    tu_expect_misuse(a, 2, "exclude each other");
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --window 1", c);
    tu_expect_misuse(a, 2, "--window");
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --axes tx", c);
    tu_expect_misuse(a, 2, "not an axis");
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --method reuse,best", c);
    tu_expect_misuse(a, 2, "unknown method 'best'");
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --heads 1:9", c);
    tu_expect_misuse(a, 2, "heads");
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --format xml", c);
    tu_expect_misuse(a, 2, "--format");
    snprintf(a, sizeof a, "eval '%s' '%s' --step 0 --layer 0", c, c);
    tu_expect_misuse(a, 2, "unexpected argument");
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer", c);
    tu_expect_misuse(a, 2, "needs a value");
}

Test(cli, eval_data_errors_exit_1)
{
    char a[2048];
    const char *c = capture();
    tu_expect_misuse("eval /nonexistent/x.h5 --step 0 --layer 0", 1, "/nonexistent/x.h5");
    FILE *f = fopen(tu_tmp_path("junk.h5"), "w");
    fputs("this is not HDF5\n", f);
    fclose(f);
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0", tu_tmp_path("junk.h5"));
    tu_expect_misuse(a, 1, "junk.h5");
    snprintf(a, sizeof a, "eval '%s' --step 999 --layer 0", c);
    tu_expect_misuse(a, 1, "step 999 is not captured");
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 7", c);
    tu_expect_misuse(a, 1, "layer 7 is not captured");
}

/* Splits TSV text into the header's column index of name and the value of
 * that column in the row whose first cell is method. */
static double tsv_value(const char *text, const char *method, const char *col)
{
    char buf[1 << 16];
    snprintf(buf, sizeof buf, "%s", text);
    int want = -1;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char *cells[64];
        int n = 0;
        char *s2 = NULL;
        for (char *c = strtok_r(line, "\t", &s2); c && n < 64; c = strtok_r(NULL, "\t", &s2)) cells[n++] = c;
        if (want < 0) {
            for (int i = 0; i < n; i++)
                if (!strcmp(cells[i], col)) want = i;
            cr_assert_geq(want, 0, "no column %s", col);
            continue;
        }
        if (!strcmp(cells[0], method) && want < n) return strtod(cells[want], NULL);
    }
    cr_assert_fail("no row %s", method);
    return NAN;
}

Test(cli, eval_tsv_columns_and_limits)
{
    char a[2048];
    const char *c = capture();
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --theta 0 --format tsv", c);
    cr_assert_eq(tu_ripple(NULL, a), 0, "%s", tu_err());
    const char *out = tu_out();
    const char *required[] = {"method", "theta", "window", "axes", "s_score", "s_attn", "rows_reused",
                              "mse", "rel_l2", "cosine", "psnr"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "\n%s\t", required[i]);
        cr_expect(strstr(out, required[i]), "column %s missing", required[i]);
    }
    /* theta 0 reuses nothing: no savings and exactly the exact output */
    cr_expect_eq(tsv_value(out, "reuse", "s_score"), 0.0);
    cr_expect_eq(tsv_value(out, "reuse", "mse"), 0.0);
    /* the noise floor of float32 against float64 is small but present */
    cr_expect_lt(tsv_value(out, "exact", "rel_l2"), 1e-5);

    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --theta inf --window 3 --format tsv", c);
    cr_assert_eq(tu_ripple(NULL, a), 0, "%s", tu_err());
    out = tu_out();
    double s = tsv_value(out, "reuse", "s_score");
    cr_expect_gt(s, 0.3);
    cr_expect_leq(s, 1.0);
    cr_expect_eq(tsv_value(out, "reuse", "s_attn"), tsv_value(out, "mask-skip", "s_attn"));
    cr_expect_float_eq(tsv_value(out, "reuse", "s_attn"), s / 2, 1e-5);
    cr_expect_gt(tsv_value(out, "reuse", "mse"), 0.0);
}

Test(cli, eval_ramp_gives_theta_of_the_step)
{
    char a[2048];
    const char *c = capture();
    const char *ramp = tu_tmp_path("ramp.txt");
    FILE *f = fopen(ramp, "w");
    /* 50-step schedule; synth's 2 captured steps are spread over it */
    fputs("# test ramp\nmode absolute\ntheta_start 0.2\ntheta_end 0.6\ni_min 0\ni_max 40\nnum_steps 50\n", f);
    fclose(f);
    cr_assert_eq(tu_ripple(NULL, "info --help"), 0);
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --ramp '%s' --method reuse --format tsv", c, ramp);
    cr_assert_eq(tu_ripple(NULL, a), 0, "%s", tu_err());
    cr_expect_float_eq(tsv_value(tu_out(), "reuse", "theta"), 0.2, 1e-9);
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --ramp '%s' --theta 1", c, ramp);
    tu_expect_misuse(a, 2, "--ramp");
    f = fopen(ramp, "w");
    fputs("theta_start 0.2\n", f);
    fclose(f);
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --ramp '%s'", c, ramp);
    tu_expect_misuse(a, 1, "needs theta_start, theta_end");
}

/* Every option that takes a list (or a name) refuses '' and empty items
 * as a usage error, before any work: no table on stdout, no --out folder. */
Test(cli, empty_lists_and_values_exit_2)
{
    const char *c = capture();
    const char *out = tu_tmp("empty_out");
    static const struct {
        const char *cmd, *args, *needle;
    } cases[] = {
        {"eval", "--step 0 --layer 0 --method ''", "--method: empty list"},
        {"eval", "--step 0 --layer 0 --method reuse,,mask-skip", "empty item"},
        {"eval", "--step 0 --layer 0 --method reuse,", "empty item"},
        {"eval", "--step 0 --layer 0 --axes ''", "--axes"},
        {"eval", "--step 0 --layer 0 --groups ''", "--groups"},
        {"eval", "--step 0 --layer 0 --heads ''", "--heads"},
        {"eval", "--step 0 --layer 0 --ramp ''", "--ramp: empty"},
        {"steps", "--theta 0.1 --steps ''", "--steps: empty list"},
        {"steps", "--theta 0.1 --steps 0,,1", "empty item"},
        {"steps", "--theta 0.1 --steps ,0", "empty item"},
        {"steps", "--theta 0.1 --layers ''", "--layers: empty list"},
        {"steps", "--theta 0.1 --heads ''", "--heads"},
        {"steps", "--theta 0.1 --axes ''", "--axes"},
        {"steps", "--theta 0.1 --groups ''", "--groups"},
        {"compare", "--thetas ''", "--thetas: empty list"},
        {"compare", "--thetas 0.1,,0.2", "empty item"},
        {"compare", "--methods ''", "--methods: empty list"},
        {"compare", "--table4 --alphas ''", "--alphas: empty list"},
        {"compare", "--ramp ''", "--ramp: empty"},
        {"window", "--windows ''", "--windows: empty list"},
        {"window", "--windows 2,", "empty item"},
        {"fit", "--target 1e-3 --model ''", "--model: empty"},
        {"fit", "--target 1e-3 --layers ''", "--layers: empty list"},
        {"groups", "--steps ''", "--steps: empty list"},
        {"paper", "--steps ''", "--steps: empty list"},
        {"paper", "--layers ''", "--layers: empty list"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char a[2048];
        int eval = !strcmp(cases[i].cmd, "eval");
        snprintf(a, sizeof a, "%s '%s' %s%s%s%s", cases[i].cmd, c, eval ? "" : "--out '", eval ? "" : out,
                 eval ? "" : "' ", cases[i].args);
        tu_expect_misuse(a, 2, cases[i].needle);
        cr_expect(!tu_exists(out), "`ripple %s` created its --out folder", a);
    }
    char a[2048];
    snprintf(a, sizeof a, "steps '%s' --theta 0.1 --out ''", c);
    tu_expect_misuse(a, 2, "--out: empty");
    tu_expect_misuse("synth x.h5 --grid ''", 2, "--grid");
    tu_expect_misuse("synth x.h5 --rope-split ''", 2, "--rope-split");
    tu_expect_misuse("bench --seq ''", 2, "--seq");
    snprintf(a, sizeof a, "info '%s' --heads ''", c);
    tu_expect_misuse(a, 2, "--heads");
}

/* `ripple ARGS > /dev/full`: a failed write to standard output is a data
 * error (exit 1) with one line naming it, never a silent exit 0. */
static void expect_stdout_error(const char *args)
{
    char cmd[4096], err[512];
    snprintf(err, sizeof err, "%s", tu_tmp_path("full_err.txt"));
    snprintf(cmd, sizeof cmd, "'%s' %s >/dev/full 2>'%s'", RIPPLE_EXE, args, err);
    int rc = tu_system(cmd);
    const char *e = tu_slurp(err);
    cr_expect_eq(rc, 1, "`ripple %s > /dev/full` exited %d (stderr: %s)", args, rc, e);
    cr_expect(strstr(e, "standard output"), "`ripple %s > /dev/full`: stderr does not say so: %s", args, e);
    cr_expect_eq(tu_count_lines(e), 1, "`ripple %s > /dev/full`: not one line: %s", args, e);
}

Test(cli, stdout_write_errors_exit_1)
{
    if (!tu_exists("/dev/full")) cr_skip_test("no /dev/full");
    const char *c = capture();
    char a[2048];
    snprintf(a, sizeof a, "info '%s'", c);
    expect_stdout_error(a);
    snprintf(a, sizeof a, "info '%s' --no-deltas --format tsv", c);
    expect_stdout_error(a);
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --method reuse --no-floor", c);
    expect_stdout_error(a);
    /* a tiny shape: this checks the output path, it times nothing that matters */
    expect_stdout_error("bench --seq 32 --dim 8 --heads 1 --reps 1");
    expect_stdout_error("bench --seq 32 --dim 8 --heads 1 --reps 1 --format tsv");
    expect_stdout_error("--help");
    expect_stdout_error("--version");
    expect_stdout_error("info --help");
    snprintf(a, sizeof a, "steps '%s' --out '%s' --theta 0.1 --no-floor", c, tu_tmp("full_steps"));
    expect_stdout_error(a);
    /* paper runs its experiments in its own process: a failed write to stdout
     * is reported (by the experiment that saw it, or at exit) and fails it */
    {
        char cmd[4096], err[512];
        snprintf(err, sizeof err, "%s", tu_tmp_path("full_err.txt"));
        snprintf(cmd, sizeof cmd, "'%s' paper '%s' --out '%s' --quick >/dev/full 2>'%s'", RIPPLE_EXE, c,
                 tu_tmp("full_paper"), err);
        cr_expect_eq(tu_system(cmd), 1, "paper > /dev/full: %s", tu_slurp(err));
        cr_expect(strstr(tu_slurp(err), "cannot write to standard output"),
                  "paper did not report it: %s", tu_slurp(err));
    }
    /* the same commands to a working stdout still exit 0 */
    snprintf(a, sizeof a, "info '%s' --no-deltas", c);
    cr_expect_eq(tu_ripple(NULL, a), 0, "%s", tu_err());
}

/* ripple bench --reuse: --steps picks captured steps (rows of those steps
 * only; the table appears under its name when the sweep is done); a step
 * the capture lacks is a data error that writes nothing; --steps without
 * --reuse is misuse. The synthetic capture has steps 0 and 49. */
Test(cli, bench_reuse_steps)
{
    char args[2048], path[1200];
    const char *cap = capture(), *dir = tu_tmp("bench-reuse");
    snprintf(args, sizeof args, "bench --reuse '%s' --out '%s' --steps 49 --theta 0.1 --reps 1 --threads 1", cap, dir);
    int rc = tu_ripple(NULL, args);
    cr_assert_eq(rc, 0, "ripple %s: exit %d: %s", args, rc, tu_err());
    snprintf(path, sizeof path, "%s/bench_reuse.tsv", dir);
    char *tsv = tu_read_file(path);
    cr_assert(tsv, "no %s", path);
    int rows = 0;
    for (char *l = tsv; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (*l == '#' || !strncmp(l, "step\t", 5)) continue;
        cr_expect(!strncmp(l, "49\t", 3), "a row of another step: %.40s", l);
        rows++;
    }
    cr_expect_eq(rows, 1, "rows of step 49 at one theta (one layer): %d", rows);
    free(tsv);
    snprintf(path, sizeof path, "%s/bench_reuse.tsv.partial", dir);
    cr_expect(!tu_exists(path), "%s left behind", path);

    const char *none = tu_tmp("bench-reuse-none");
    snprintf(args, sizeof args, "bench --reuse '%s' --out '%s' --steps 5 --reps 1", cap, none);
    rc = tu_ripple(NULL, args);
    cr_expect_eq(rc, 1, "a step the capture lacks: exit %d", rc);
    cr_expect(strstr(tu_err(), "--steps"), "message: %s", tu_err());
    cr_expect(!tu_exists(none), "%s written", none);
    tu_expect_misuse("bench --steps 1", 2, "--reuse");
}
