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
}
