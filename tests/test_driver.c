/* The shared machinery of the drivers (driver.c) seen from the command
 * line: figures are complete or absent (never a truncated or empty file
 * under the final name), gnuplot runs without a shell so any --out path
 * works, and ramp files are parsed strictly. A fake gnuplot (a shell
 * script first in PATH) stands in for a full disk or a failing gnuplot. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *capture(void)
{
    return tu_synth("drv.h5", "--grid 3,4,4 --heads 1 --head-dim 16 --rope-split 4,6,6 --steps 2 --layers 1 "
                              "--text 0 --seed 11");
}

static int have_gnuplot(void) { return tu_system("command -v gnuplot >/dev/null 2>&1") == 0; }

/* 1 when path is a PNG with its signature and a final IEND chunk. */
static int complete_png(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char head[8], tail[12];
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    int ok = fread(head, 1, 8, f) == 8 && !memcmp(head, sig, 8) && fseek(f, -12, SEEK_END) == 0 &&
             fread(tail, 1, 12, f) == 12 && !memcmp(tail, iend, 12);
    fclose(f);
    return ok;
}

/* A folder holding a fake `gnuplot` whose body is the shell text given; it
 * finds the output name in its -e argument (out="NAME.png.tmp"). Returns
 * the PATH prefix to use it. */
static const char *fake_gnuplot(const char *tag, const char *body)
{
    static char env[1024];
    const char *dir = tu_tmp(tag);
    mkdir(dir, 0755);
    char path[600];
    snprintf(path, sizeof path, "%s/gnuplot", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "#!/bin/sh\nout=$(printf '%%s\\n' \"$2\" | sed -n 's/.*out=\"\\([^\"]*\\)\".*/\\1/p')\n%s\n", body);
    fclose(f);
    chmod(path, 0755);
    snprintf(env, sizeof env, "PATH='%s':\"$PATH\"", dir);
    return env;
}

static void steps_args(char *a, size_t n, const char *out, const char *theta)
{
    snprintf(a, n, "steps '%s' --out '%s' --theta %s --no-floor", capture(), out, theta);
}

/* --theta 0 reuses nothing: every mse is 0, which a log axis cannot show.
 * The figure is drawn on a linear axis instead of leaving a 0-byte PNG. */
Test(driver, steps_theta_0_draws_a_complete_figure)
{
    if (!have_gnuplot()) cr_skip_test("gnuplot not installed");
    const char *out = tu_tmp("d_theta0");
    char a[2048], p[1024];
    steps_args(a, sizeof a, out, "0");
    cr_assert_eq(tu_ripple(NULL, a), 0, "steps --theta 0 failed: %s", tu_err());
    snprintf(p, sizeof p, "%s/steps.png", out);
    cr_expect(complete_png(p), "steps.png is not a complete PNG");
    snprintf(p, sizeof p, "%s/steps.png.tmp", out);
    cr_expect(!tu_exists(p), "temporary figure left behind");
    cr_expect(!strstr(tu_err(), "not drawn"), "figure reported failed: %s", tu_err());
    /* window and compare at a zero threshold draw too */
    snprintf(a, sizeof a, "window '%s' --out '%s' --theta 0 --windows 2,3 --no-floor", capture(), out);
    cr_assert_eq(tu_ripple(NULL, a), 0, "window --theta 0 failed: %s", tu_err());
    snprintf(p, sizeof p, "%s/window.png", out);
    cr_expect(complete_png(p), "window.png is not a complete PNG");
}

/* gnuplot exits 0 but leaves a PNG cut short (what a full disk does): the
 * driver exits 1 with one line, and neither the truncated file nor the
 * figure of an earlier run stays under the final name. */
Test(driver, truncated_figure_is_refused_and_stale_one_removed)
{
    if (!have_gnuplot()) cr_skip_test("gnuplot not installed");
    const char *out = tu_tmp("d_trunc");
    char a[2048], p[1024];
    steps_args(a, sizeof a, out, "0.1");
    cr_assert_eq(tu_ripple(NULL, a), 0, "steps failed: %s", tu_err());
    snprintf(p, sizeof p, "%s/steps.png", out);
    cr_assert(complete_png(p), "the real gnuplot drew no figure");

    const char *env = fake_gnuplot("fake_trunc", "printf '\\211PNG\\r\\n\\032\\nIHDR' > \"$out\"; exit 0");
    int rc = tu_ripple(env, a);
    const char *err = tu_err();
    cr_expect_eq(rc, 1, "a truncated figure exited %d: %s", rc, err);
    cr_expect(strstr(err, "steps.png not drawn") && strstr(err, "cut short"), "no clear message: %s", err);
    cr_expect_eq(tu_count_lines(err), 1, "not one line: %s", err);
    cr_expect(!tu_exists(p), "steps.png is still there (truncated or stale)");
    snprintf(p, sizeof p, "%s/steps.png.tmp", out);
    cr_expect(!tu_exists(p), "temporary figure left behind");
    snprintf(p, sizeof p, "%s/steps.tsv", out);
    cr_expect(tu_exists(p), "the table is gone");
    cr_expect(!strstr(tu_out(), "figure:"), "stdout announces a figure: %s", tu_out());
}

Test(driver, empty_or_failed_gnuplot_output_is_a_data_error)
{
    const char *out = tu_tmp("d_fail");
    char a[2048], p[1024];
    steps_args(a, sizeof a, out, "0.1");
    const char *env = fake_gnuplot("fake_empty", ": > \"$out\"; exit 0");
    cr_expect_eq(tu_ripple(env, a), 1, "an empty figure: %s", tu_err());
    cr_expect(strstr(tu_err(), "empty file"), "%s", tu_err());
    snprintf(p, sizeof p, "%s/steps.png", out);
    cr_expect(!tu_exists(p), "an empty steps.png");

    env = fake_gnuplot("fake_fail", "echo; echo 'plot x'; echo '     ^'; echo '\"steps.gp\" line 9: boom' >&2; exit 1");
    cr_expect_eq(tu_ripple(env, a), 1, "gnuplot failing: %s", tu_err());
    cr_expect(strstr(tu_err(), "\"steps.gp\" line 9: boom"), "gnuplot's reason is not given: %s", tu_err());
    cr_expect_eq(tu_count_lines(tu_err()), 1, "not one line: %s", tu_err());
    cr_expect(!tu_exists(p), "a steps.png after a failed gnuplot");

    /* a missing gnuplot stays a note: the table and script are the results */
    cr_expect_eq(tu_ripple("PATH=/nonexistent", a), 0, "%s", tu_err());
    cr_expect(strstr(tu_err(), "gnuplot not found"), "%s", tu_err());
}

/* --out with quotes, spaces, $ and backslashes: gnuplot runs without a
 * shell in that folder, so nothing in the name is interpreted, and every
 * format is drawn and checked. */
Test(driver, out_paths_with_shell_characters_work)
{
    if (!have_gnuplot()) cr_skip_test("gnuplot not installed");
    const char *base = tu_tmp("d_quote");
    mkdir(base, 0755);
    char dir[1024], marker[1024];
    snprintf(marker, sizeof marker, "%s/PWNED", base);
    /* would run `touch PWNED` in base if the path reached a shell unquoted */
    snprintf(dir, sizeof dir, "%s/it's a \"dir\" $HOME \\n ';touch PWNED;'", base);
    /* the shell text of tu_ripple needs the single quotes of dir escaped */
    char quoted[2048];
    size_t k = 0;
    for (const char *s = dir; *s && k + 5 < sizeof quoted; s++) {
        if (*s == '\'') {
            memcpy(quoted + k, "'\\''", 4);
            k += 4;
        } else {
            quoted[k++] = *s;
        }
    }
    quoted[k] = '\0';
    char a[4096], p[2048];
    snprintf(a, sizeof a, "steps '%s' --out '%s' --theta 0.1 --no-floor --svg --pdf", capture(), quoted);
    char cwd[1024];
    cr_assert(getcwd(cwd, sizeof cwd));
    cr_assert_eq(chdir(base), 0);
    int rc = tu_ripple(NULL, a);
    cr_assert_eq(chdir(cwd), 0);
    cr_assert_eq(rc, 0, "steps with a quoted --out failed: %s", tu_err());
    cr_expect(!tu_exists(marker), "a shell ran a command taken from --out");
    snprintf(p, sizeof p, "%s/steps.png", dir);
    cr_expect(complete_png(p), "no complete steps.png in the quoted folder");
    const char *more[] = {"steps.svg", "steps.pdf", "steps.tsv", "steps.gp"};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, more[i]);
        cr_expect(tu_exists(p), "%s missing in the quoted folder", more[i]);
    }
    /* the script names its files relative to the folder, never the path */
    snprintf(p, sizeof p, "%s/steps.gp", dir);
    cr_expect(!strstr(tu_slurp(p), "PWNED"), "the script embeds the --out path");

    /* without gnuplot, the printed command renders the figure when pasted
     * into a shell: the folder is quoted for it */
    snprintf(p, sizeof p, "%s/steps.png", dir);
    cr_assert_eq(unlink(p), 0);
    cr_assert_eq(chdir(base), 0);
    rc = tu_ripple("PATH=/nonexistent", a);
    cr_assert_eq(chdir(cwd), 0);
    cr_assert_eq(rc, 0, "%s", tu_err());
    const char *hint = strstr(tu_err(), "(cd ");
    cr_assert(hint, "no render command in: %s", tu_err());
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%.*s >/dev/null 2>&1", (int)strcspn(hint, "\n"), hint);
    cr_assert_eq(chdir(base), 0);
    rc = tu_system(cmd);
    cr_assert_eq(chdir(cwd), 0);
    cr_expect_eq(rc, 0, "the printed command failed: %s", cmd);
    cr_expect(complete_png(p), "the printed command drew no figure: %s", cmd);
    cr_expect(!tu_exists(marker), "the printed command ran text of the path");
}

/* ------------------------------------------------------------ ramp files */

/* Writes n bytes of text as a ramp file and runs `eval --ramp` on it. */
static int eval_ramp(const char *text, size_t n)
{
    const char *path = tu_tmp("d_ramp.txt");
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(text, 1, n, f), n);
    fclose(f);
    char a[2048];
    snprintf(a, sizeof a, "eval '%s' --step 0 --layer 0 --ramp '%s' --method reuse --no-floor --format tsv",
             capture(), path);
    return tu_ripple(NULL, a);
}

#define RAMP_HEAD "mode absolute\ntheta_start 0.2\ntheta_end 0.6\n"

static void expect_bad_ramp(const char *text, size_t n, const char *needle)
{
    int rc = eval_ramp(text, n);
    const char *err = tu_err();
    cr_expect_eq(rc, 1, "ramp %.*s: exit %d, wanted 1 (%s)", (int)n, text, rc, err);
    cr_expect(strstr(err, needle), "ramp %.*s: stderr lacks '%s': %s", (int)n, text, needle, err);
    cr_expect_eq(tu_count_lines(err), 1, "ramp %.*s: not one line: %s", (int)n, text, err);
    for (const char *p = err; *p; p++)
        cr_expect(*p == '\n' || (*p >= 0x20 && *p < 0x7f), "raw byte 0x%02x in the message: %s",
                  (unsigned char)*p, err);
    cr_expect_str_eq(tu_out(), "", "a table was printed for a bad ramp");
}

#define BAD(text, needle) expect_bad_ramp(text, sizeof text - 1, needle)

Test(driver, ramp_files_are_parsed_strictly)
{
    /* a good one, with blank lines, comments (also after a value) and CRLF */
    static const char good[] = "# ramp\n\n  \t\nmode absolute\r\ntheta_start 0.2 # start\ntheta_end 0.6\n"
                               "i_min 0\ni_max 40\nnum_steps 50\n";
    cr_assert_eq(eval_ramp(good, sizeof good - 1), 0, "a good ramp was refused: %s", tu_err());
    cr_expect(strstr(tu_out(), "\t0.2\t"), "theta of step 0 is not theta_start: %s", tu_out());

    /* numbers cast to int only after a range check (UB before) */
    BAD(RAMP_HEAD "i_min 99999999999\ni_max 40\nnum_steps 50\n", ":4: bad value '99999999999' for i_min");
    BAD(RAMP_HEAD "i_min 0\ni_max 1e300\nnum_steps 50\n", ":5: bad value '1e300' for i_max");
    BAD(RAMP_HEAD "i_min 0\ni_max 40\nnum_steps -3\n", ":6: bad value '-3' for num_steps");
    BAD(RAMP_HEAD "i_min -1\ni_max 40\nnum_steps 50\n", ":4: bad value '-1' for i_min");
    /* steps are whole numbers */
    BAD(RAMP_HEAD "i_min 0.5\ni_max 40\nnum_steps 50\n", ":4: bad value '0.5' for i_min (must be a whole");
    BAD(RAMP_HEAD "i_min 2.0\ni_max 40\nnum_steps 50\n", ":4: bad value '2.0' for i_min");
    /* unknown and repeated keys, missing values, extra text */
    BAD(RAMP_HEAD "i_min 0\ni_max 40\nnum_steps 50\ntheta_middle 3\n", ":7: unknown key 'theta_middle'");
    BAD(RAMP_HEAD "i_min 0\ni_min 1\ni_max 40\nnum_steps 50\n", ":5: i_min given twice");
    BAD(RAMP_HEAD "i_min\ni_max 40\nnum_steps 50\n", ":4: 'i_min' has no value");
    BAD(RAMP_HEAD "i_min 0 1\ni_max 40\nnum_steps 50\n", ":4: unexpected text '1'");
    BAD("theta_start nan\n", ":1: bad value 'nan' for theta_start");
    BAD("mode sideways\n", ":1: bad value 'sideways' for mode");
    BAD(RAMP_HEAD "i_min 0\ni_max 50\nnum_steps 50\n", "i_max < num_steps");
    BAD(RAMP_HEAD "i_min 5\ni_max 4\nnum_steps 50\n", "i_min <= i_max");
    BAD("theta_start 0.2\n", "a ramp needs theta_start");
    /* binary bytes are shown escaped, never echoed */
    BAD(RAMP_HEAD "th\x01\x1b[2J\xff 1\n", "unknown key 'th\\x01\\x1b[2J\\xff'");
    BAD(RAMP_HEAD "i_min \x7f\x80\n", "bad value '\\x7f\\x80' for i_min");
    BAD("theta_start 0\0\x01\n", ":1: a NUL byte");
}
