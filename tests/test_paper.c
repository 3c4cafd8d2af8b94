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

/* ------------------------------------------- interruption and resumption */

/* The TSVs of a paper run, by folder. */
static const char *const tables[][2] = {
    {"window", "window.tsv"},   {"groups", "groups.tsv"},       {"groups", "groups_heat.tsv"},
    {"groups", "groups_summary.tsv"}, {"steps", "steps.tsv"},   {"fit", "fit_steps.tsv"},
    {"fit", "fit.tsv"},         {"fit", "ramp.txt"},            {"compare", "compare.tsv"},
    {"compare", "compare_summary.tsv"}};

/* Cuts DIR/sub/name to its metadata, header and the first half of its rows,
 * left as name.partial: what a run killed half-way leaves. */
static void interrupt_table(const char *dir, const char *sub, const char *name)
{
    char p[1024], q[1100];
    snprintf(p, sizeof p, "%s/%s/%s", dir, sub, name);
    char *text = tu_read_table(p);
    cr_assert(text, "no %s", p);
    int rows = tu_tsv_cell(text, 0, NULL, NULL, NULL, NULL);
    snprintf(q, sizeof q, "%s.partial", p);
    FILE *f = fopen(q, "w");
    cr_assert(f);
    int header = 0, data = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        int keep = line[0] == '#' || !header || data < rows / 2;
        if (line[0] != '#') {
            if (header) data++;
            header = 1;
        }
        if (keep) fprintf(f, "%s\n", line);
    }
    fclose(f);
    free(text);
    cr_assert_eq(unlink(p), 0);
}

/* Table text of path without timing lines, with the run's folder dir
 * written as DIR (fit.tsv names its ramp file). */
static char *table_text(const char *path, const char *dir)
{
    char *t = tu_read_table(path);
    cr_assert(t, "%s missing", path);
    size_t n = strlen(dir);
    for (char *p = strstr(t, dir); p; p = strstr(p + 3, dir)) {
        memcpy(p, "DIR", 3);
        memmove(p + 3, p + n, strlen(p + n) + 1);
    }
    return t;
}

/* A run interrupted half-way through every table and resumed gives the same
 * tables, summaries included, byte for byte (timing lines aside) as an
 * uninterrupted run: reused rows and fresh rows are averaged from the same
 * printed cells. */
Test(paper, resumed_run_equals_uninterrupted_run)
{
    const char *c = capture();
    const char *whole = tu_tmp("p_whole"), *resumed = tu_tmp("p_resumed");
    char a[2048];
    snprintf(a, sizeof a, "paper '%s' --out '%s' --quick", c, whole);
    cr_assert_eq(tu_ripple(NULL, a), 0, "paper failed: %s", tu_err());
    snprintf(a, sizeof a, "paper '%s' --out '%s' --quick", c, resumed);
    cr_assert_eq(tu_ripple(NULL, a), 0, "paper failed: %s", tu_err());
    static const char *const cut[][2] = {{"window", "window.tsv"}, {"groups", "groups.tsv"},
                                         {"steps", "steps.tsv"},   {"fit", "fit_steps.tsv"},
                                         {"fit", "fit.tsv"},       {"compare", "compare.tsv"}};
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) interrupt_table(resumed, cut[i][0], cut[i][1]);
    char p[1024];
    snprintf(p, sizeof p, "%s/compare/compare_summary.tsv", resumed);
    unlink(p);
    cr_assert_eq(tu_ripple(NULL, a), 0, "resumed paper failed: %s", tu_err());
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char pw[1024], pr[1024];
        snprintf(pw, sizeof pw, "%s/%s/%s", whole, tables[i][0], tables[i][1]);
        snprintf(pr, sizeof pr, "%s/%s/%s", resumed, tables[i][0], tables[i][1]);
        char *w = table_text(pw, whole), *r = table_text(pr, resumed);
        cr_expect_str_eq(r, w, "%s/%s differs between the resumed and the uninterrupted run", tables[i][0],
                         tables[i][1]);
        free(w);
        free(r);
    }
}
