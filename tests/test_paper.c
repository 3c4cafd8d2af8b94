/* `ripple paper`: runs every driver on a tiny synthetic capture with
 * --quick and writes DIR/index.md whose every link points at a file that
 * exists; a failing driver is reported, not fatal; misuse exits 2. */
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
    return tu_synth("paper.h5", "--grid 4,8,8 --heads 2 --steps 3 --layers 1 --seed 5");
}


Test(paper, quick_run_writes_an_index_with_working_links)
{
    const char *c = capture();
    const char *out = tu_tmp("p_out");
    char a[2048];
    snprintf(a, sizeof a, "paper '%s' --out '%s' --quick", c, out);
    int rc = tu_ripple(NULL, a);
    char *so = strdup(tu_out());
    cr_assert(rc == 0 || rc == 1, "paper exited %d: %s", rc, tu_err());
    cr_expect(strstr(so, "wall time") && strstr(so, "exact attention"), "no timing line: %s", so);
    char p[1024];
    snprintf(p, sizeof p, "%s/index.md", out);
    cr_assert(tu_exists(p), "no index.md");
    char *md = strdup(tu_slurp(p));
    const char *names[] = {"window", "groups", "steps", "fit", "compare", "Fig. 11", "Fig. 5", "Fig. 7",
                           "Wall time", "**Paper:**", "*Criterion:*"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        cr_expect(strstr(md, names[i]), "index lacks '%s'", names[i]);
    /* status and exit code agree */
    cr_expect_eq(rc != 0, strstr(md, "FAILED") != NULL, "exit %d but index %s FAILED", rc,
                 strstr(md, "FAILED") ? "says" : "does not say");
    /* window and groups are ours and must work: their figures are linked */
    cr_expect(strstr(md, "](window/window.tsv)") || strstr(md, "](window/window.png)"), "window not linked");
    cr_expect(strstr(md, "](groups/groups_heat.png)") || tu_system("command -v gnuplot >/dev/null") != 0,
              "heat map not linked");
    /* every relative link (figures and tables) exists */
    int links = 0;
    for (const char *q = strstr(md, "]("); q; q = strstr(q + 2, "](")) {
        const char *end = strchr(q + 2, ')');
        cr_assert(end);
        char rel[512];
        snprintf(rel, sizeof rel, "%.*s", (int)(end - q - 2), q + 2);
        if (strstr(rel, "://")) continue;
        snprintf(p, sizeof p, "%s/%s", out, rel);
        cr_expect(tu_exists(p), "index links %s, which does not exist", rel);
        links++;
    }
    cr_expect_geq(links, 2, "too few links in the index");
    /* the verdicts come from the tables: window's names its numbers */
    cr_expect(strstr(md, "agree") || strstr(md, "cannot tell"), "no verdicts");
    free(md);
    free(so);
}

Test(paper, bad_options_exit_2_and_write_nothing)
{
    const char *c = capture();
    char out[512], a[2048], p[1024];
    snprintf(out, sizeof out, "%s", tu_tmp_path("p_misuse"));
    const char *bad[] = {"--out '%s' --bogus", "--out '%s' --target -1", "--out '%s' --theta x", "--quick"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char fmt[1024];
        snprintf(fmt, sizeof fmt, "paper '%s' %s", c, bad[i]);
        snprintf(a, sizeof a, fmt, out);
        cr_expect_eq(tu_ripple(NULL, a), 2, "`%s`: %s", a, tu_err());
        snprintf(p, sizeof p, "%s/index.md", out);
        cr_expect(!tu_exists(p), "`%s` wrote an index", a);
    }
}

Test(paper, help)
{
    cr_expect_eq(tu_ripple(NULL, "paper --help"), 0);
    cr_expect(strstr(tu_out(), "usage: ripple paper"));
}
