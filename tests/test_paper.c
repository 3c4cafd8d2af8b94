/* `ripple paper`: runs every experiment on a tiny synthetic capture with
 * --quick and writes DIR/index.md whose every link points at a file that
 * exists; every verdict is tested on numbers built to agree and to
 * disagree, and the index's verdicts are those of its tables; misuse exits
 * 2; one run per folder; a stopped run leaves its folders free to resume. */
#include "testutil.h"
#include "verdict.h"

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
    cr_assert_eq(rc, 0, "paper exited %d: %s", rc, tu_err());
    cr_expect(strstr(so, "wall time") && strstr(so, "exact attention"), "no timing line: %s", so);
    /* each experiment's "exact attention: E s of T s" counts from its own
     * start: T at most the "== NAME: done in W s" that follows it (W is
     * printed to 0.01 s; the experiments are created together before the
     * first runs, and groups once counted window's time too) */
    int timed = 0;
    for (const char *q = strstr(so, "exact attention: "); q; q = strstr(q + 1, "exact attention: ")) {
        const char *of = strstr(q, " s of "), *done = strstr(q, ": done in ");
        if (!of || !done) continue; /* paper's own total, after the last experiment */
        double t = atof(of + 6), w = atof(done + 10);
        cr_expect_leq(t, w + 0.006, "an experiment timed %.3f s of its run but took %.3f s: %.80s", t, w, q);
        timed++;
    }
    cr_expect_geq(timed, 2, "%d experiments with a timing line (window, groups)", timed);
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
    /* five verdicts, each one of the four words */
    int verdicts = 0;
    static const char tag[] = "**These captures:** ";
    for (const char *q = strstr(md, tag); q; q = strstr(q + 1, tag), verdicts++) {
        q += strlen(tag);
        cr_expect(!strncmp(q, "**agree**", 9) || !strncmp(q, "**partly**", 10) || !strncmp(q, "**disagree**", 12) ||
                      !strncmp(q, "cannot tell", 11),
                  "a verdict that is none of agree, partly, disagree, cannot tell: %.60s", q);
    }
    /* window 2 (shape, matched savings), groups, steps 2 (trend, prompts), fit, compare */
    cr_expect_eq(verdicts, 7, "%d verdicts in the index", verdicts);
    free(md);
    free(so);
}

/* The verdicts of the section of index.md that starts with heading (up to
 * the next section): each must be exactly one of the engine's verdict
 * words followed by the " — " that ends it (so "**agree**" cannot pass as
 * part of "**disagree**", nor "cannot tell (no table)" as a judged one).
 * Returns their number. */
static int section_verdicts(const char *md, const char *heading)
{
    const char *s = strstr(md, heading);
    cr_assert(s, "no section %s", heading);
    const char *next = strstr(s + 1, "\n## ");
    static const char tag[] = "**These captures:** ";
    static const verdict_kind kinds[] = {VERDICT_AGREE, VERDICT_PARTLY, VERDICT_DISAGREE, VERDICT_CANNOT_TELL};
    int n = 0;
    for (const char *q = strstr(s, tag); q && (!next || q < next); q = strstr(q + 1, tag), n++) {
        q += strlen(tag);
        int ok = 0;
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
            char word[64];
            snprintf(word, sizeof word, "%s — ", verdict_word(kinds[i]));
            ok |= !strncmp(q, word, strlen(word));
        }
        cr_expect(ok, "%s: a verdict that is not one of agree, partly, disagree, cannot tell: %.60s", heading, q);
    }
    return n;
}

/* The nth (0-based) verdict of a section of index.md: the word after "These captures:". */
static const char *index_verdict_n(const char *md, const char *section, int nth)
{
    const char *s = strstr(md, section);
    cr_assert(s, "no section %s", section);
    const char *q = s, *next = strstr(s + 1, "\n## ");
    for (int i = 0; i <= nth; i++) {
        q = strstr(i ? q + 1 : q, "**These captures:** ");
        cr_assert(q && (!next || q < next), "no verdict %d in %s", nth, section);
    }
    q += strlen("**These captures:** ");
    static const verdict_kind kinds[] = {VERDICT_AGREE, VERDICT_PARTLY, VERDICT_DISAGREE, VERDICT_CANNOT_TELL};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strncmp(q, verdict_word(kinds[i]), strlen(verdict_word(kinds[i])))) return verdict_word(kinds[i]);
    cr_assert_fail("verdict of %s: %.40s", section, q);
    return NULL;
}

static const char *index_verdict(const char *md, const char *section) { return index_verdict_n(md, section, 0); }

/* Sum of column col over the rows of TSV text whose key columns hold val
 * (key and val: tab-separated lists of as many names and values); *n: the
 * number of such rows. */
static double sum_where(const char *text, const char *key, const char *val, const char *col, int *n)
{
    char *t = strdup(text), *save = NULL, *cells[64], *keys = strdup(key), *vals = strdup(val), *kn[8], *kv[8];
    int ck[8], nk = 0, cc = -1, header = 0;
    for (char *q = keys, *r = vals; q && r && nk < 8; nk++) {
        kn[nk] = q, kv[nk] = r, ck[nk] = -1;
        if ((q = strchr(q, '\t'))) *q++ = '\0';
        if ((r = strchr(r, '\t'))) *r++ = '\0';
    }
    double sum = 0;
    *n = 0;
    for (char *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        int nc = 0;
        for (char *q = line; nc < 64; q++) {
            cells[nc++] = q;
            if (!(q = strchr(q, '\t'))) break;
            *q = '\0';
        }
        if (!header++) {
            for (int c = 0; c < nc; c++) {
                for (int k = 0; k < nk; k++)
                    if (!strcmp(cells[c], kn[k])) ck[k] = c;
                if (!strcmp(cells[c], col)) cc = c;
            }
            for (int k = 0; k < nk; k++) cr_assert(ck[k] >= 0, "no column %s", kn[k]);
            cr_assert(cc >= 0, "no column %s", col);
            continue;
        }
        int match = 1;
        for (int k = 0; k < nk; k++) match &= ck[k] < nc && !strcmp(cells[ck[k]], kv[k]);
        if (match) sum += strtod(cells[cc], NULL), ++*n;
    }
    free(t), free(keys), free(vals);
    return sum;
}

static int count_where(const char *text, const char *key, const char *val)
{
    int n;
    char first[64];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(key, "\t"), key);
    sum_where(text, key, val, first, &n);
    return n;
}

/* Mean of column col over the rows of TSV text whose key columns hold val. */
static double mean_where(const char *text, const char *key, const char *val, const char *col)
{
    int n;
    double sum = sum_where(text, key, val, col, &n);
    cr_assert_gt(n, 0, "no row with %s = %s", key, val);
    return sum / n;
}

/* index.md (malloc'd) of `ripple paper CAPTURE --out out opts`, which must exit 0. */
static char *paper_index(const char *out, const char *opts)
{
    char a[2048], p[1024];
    snprintf(a, sizeof a, "paper '%s' --out '%s' %s", capture(), out, opts);
    cr_assert_eq(tu_ripple(NULL, a), 0, "`%s` exited non-zero: %s", a, tu_err());
    snprintf(p, sizeof p, "%s/index.md", out);
    return strdup(tu_slurp(p));
}

/* The verdicts of the index are the verdict functions applied to the
 * numbers of the tables the experiments wrote. */
Test(paper, index_verdicts_are_those_of_the_tables)
{
    const char *out = tu_tmp("p_verdicts");
    char p[1024];
    char *md = paper_index(out, "--quick");
    /* window: mean s_score and mse over the units per threshold and window size 2, 4, 8 */
    snprintf(p, sizeof p, "%s/window/window.tsv", out);
    char *w = tu_read_table(p);
    cr_assert(w);
    const char *thetas[VERDICT_MAX_SWEEP];
    int nt = 0;
    {
        /* the distinct thresholds, in the order of the rows (column 4) */
        static char cells[VERDICT_MAX_SWEEP][48];
        for (const char *line = strchr(w, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
            if (line[1] == '#' || !strncmp(line + 1, "capture\t", 8)) continue;
            const char *c = line + 1;
            for (int col = 0; col < 3; col++) c = strchr(c, '\t') + 1;
            char v[48];
            snprintf(v, sizeof v, "%.*s", (int)strcspn(c, "\t"), c);
            int k;
            for (k = 0; k < nt && strcmp(cells[k], v); k++) {}
            if (k == nt && nt < VERDICT_MAX_SWEEP) snprintf(cells[nt], 48, "%s", v), thetas[nt] = cells[nt], nt++;
        }
    }
    cr_assert_geq(nt, 2, "paper --quick sweeps the thresholds of window (%d)", nt);
    double wss[3][VERDICT_MAX_SWEEP], wms[3][VERDICT_MAX_SWEEP], outm[3][VERDICT_MAX_SWEEP];
    for (int k = 0; k < nt; k++)
        for (int a = 0; a < 3; a++) {
            char sel[128];
            snprintf(sel, sizeof sel, "%s\t%d", thetas[k], a == 0 ? 2 : a == 1 ? 4 : 8);
            wss[a][k] = mean_where(w, "theta\twindow", sel, "s_score");
            wms[a][k] = mean_where(w, "theta\twindow", sel, "mse");
        }
    int agree, judged;
    cr_expect_str_eq(index_verdict_n(md, "## Fig. 11 —", 1),
                     verdict_word(verdict_window_matched(3, nt, (const double(*)[VERDICT_MAX_SWEEP])wss,
                                                         (const double(*)[VERDICT_MAX_SWEEP])wms, outm, &agree, &judged)));
    /* fit: the ramp file */
    snprintf(p, sizeof p, "%s/fit/ramp.txt", out);
    rampfit_ramp ramp;
    char err[RAMPFIT_ERR];
    cr_assert_eq(rampfit_load(p, &ramp, err), 0, "%s", err);
    /* fit: the ramp's mse over the target at the captured steps where it reuses */
    snprintf(p, sizeof p, "%s/fit/fit.tsv", out);
    char *ft = tu_read_table(p);
    cr_assert(ft);
    double ratio[64], lo, hi;
    int nr = 0;
    for (int step = 0; step < ramp.num_steps && nr < 64; step++) {
        char sel[32];
        snprintf(sel, sizeof sel, "%d\t1", step);
        if (!count_where(ft, "step\tcaptured", sel)) continue;
        if (!(mean_where(ft, "step\tcaptured", sel, "theta_ramp") > 0)) continue;
        ratio[nr++] = mean_where(ft, "step\tcaptured", sel, "mse_at_ramp") / mean_where(ft, "step\tcaptured", sel, "target");
    }
    cr_expect_str_eq(index_verdict(md, "## Table 1, Eq. 4 —"), verdict_word(verdict_fit(nr, ratio, 2, &lo, &hi)));
    free(ft);
    /* steps: the mse of the mean rows, in step order (column 11 of steps.tsv) */
    snprintf(p, sizeof p, "%s/steps/steps.tsv", out);
    char *st = tu_read_table(p);
    cr_assert(st);
    cr_assert(strstr(st, "\tfloor_mse\n") && strstr(st, "kind\tcapture\tstep\tlayer\tlabel\ttimestep\ttheta\t"
                                                     "s_score\ts_attn\trows_reused\tmse\t"), "steps.tsv columns");
    double ms[8];
    int n = 0;
    for (const char *line = strstr(st, "\nmean\t"); line && n < 8; line = strstr(line + 1, "\nmean\t")) {
        const char *cell = line + 1;
        for (int col = 0; col < 10; col++) cell = strchr(cell, '\t') + 1;
        ms[n++] = strtod(cell, NULL);
    }
    double early, late;
    cr_expect_eq(n, 3, "three captured steps");
    cr_expect_str_eq(index_verdict(md, "## Fig. 8, 9 —"), verdict_word(verdict_steps(n, ms, &early, &late)));
    free(st);
    free(w);
    free(md);
}

/* Each verdict on numbers built to agree, to agree in part and to disagree. */
Test(paper, window_verdict)
{
    /* the paper's shape at one threshold: w=4 reuses and errs more than w=2, w=8 saves less than w=4 */
    const int w[] = {2, 4, 8};
    const double s_paper[] = {0.959, 0.970, 0.925}, m_paper[] = {1e-4, 3e-4, 5e-4};
    const double s_less[] = {0.851, 0.720, 0.550}, m_less[] = {2e-4, 1e-4, 5e-5}; /* our median-delta regime */
    const double s_more[] = {0.5, 0.6, 0.7}, m_more[] = {1e-5, 2e-5, 3e-5};     /* w=4 as the paper, w=8 not */
    int more, less;
    cr_expect_eq(verdict_window_shape(3, w, s_paper, m_paper, &more, &less), VERDICT_AGREE);
    cr_expect(more == 1 && less == 1);
    cr_expect_eq(verdict_window_shape(3, w, s_less, m_less, &more, &less), VERDICT_PARTLY);
    cr_expect(more == 0 && less == 1, "sizes above 4 do save less here, but w=4 does not reuse more");
    const double s_none[] = {0.5, 0.4, 0.6};
    cr_expect_eq(verdict_window_shape(3, w, s_none, m_paper, &more, &less), VERDICT_DISAGREE);
    cr_expect_eq(verdict_window_shape(3, w, s_more, m_more, &more, &less), VERDICT_PARTLY);
    cr_expect_eq(verdict_window_shape(2, w, s_paper, m_paper, &more, &less), VERDICT_AGREE, "no size above 4");
    cr_expect_eq(less, -1);
    cr_expect_eq(verdict_window_shape(1, w, s_paper, m_paper, &more, &less), VERDICT_CANNOT_TELL, "no w=4");

    /* matched savings: window 2 (first) against 4 and 8 over a sweep of 3 thresholds */
    const double ss[3][VERDICT_MAX_SWEEP] = {{0.6, 0.8, 0.9}, {0.5, 0.7, 0.95}, {0.4, 0.85, 0.99}};
    const double best2[3][VERDICT_MAX_SWEEP] = {{1e-5, 1e-4, 1e-3}, {1e-4, 1e-3, 1e-2}, {1e-4, 1e-2, 1e-1}};
    const double worst2[3][VERDICT_MAX_SWEEP] = {{1e-2, 1e-1, 1}, {1e-4, 1e-3, 1e-2}, {1e-4, 1e-2, 1e-1}};
    double out[3][VERDICT_MAX_SWEEP];
    int agree, judged;
    cr_expect_eq(verdict_window_matched(3, 3, ss, best2, out, &agree, &judged), VERDICT_AGREE);
    cr_expect(agree == 6 && judged == 6, "%d of %d", agree, judged);
    /* w=4 at s_score 0.8: between (0.7, 1e-3) and (0.95, 1e-2), log-linear */
    cr_expect_float_eq(out[1][1], pow(10, -3 + 0.1 / 0.25), 1e-12 * out[1][1]);
    cr_expect_eq(verdict_window_matched(3, 3, ss, worst2, out, &agree, &judged), VERDICT_DISAGREE);
    const double ss_short[3][VERDICT_MAX_SWEEP] = {{0.6, 0.8, 0.9}, {0.1, 0.2, 0.3}, {0.4, 0.85, 0.99}};
    cr_expect_eq(verdict_window_matched(3, 3, ss_short, best2, out, &agree, &judged), VERDICT_AGREE,
                 "a size whose sweep does not reach a saving is not judged there");
    cr_expect(judged == 3 && isnan(out[1][0]), "%d", judged);
    const double mixed[3][VERDICT_MAX_SWEEP] = {{1e-3, 1e-4, 1e-3}, {1e-4, 1e-3, 1e-2}, {1e-4, 1e-2, 1e-1}};
    cr_expect_eq(verdict_window_matched(3, 3, ss, mixed, out, &agree, &judged), VERDICT_PARTLY);
    cr_expect_eq(verdict_window_matched(1, 3, ss, best2, out, &agree, &judged), VERDICT_CANNOT_TELL);

    cr_expect_str_eq(verdict_word(VERDICT_AGREE), "**agree**");
    cr_expect_str_eq(verdict_word(VERDICT_DISAGREE), "**disagree**");
    cr_expect(!strstr(verdict_word(VERDICT_DISAGREE), verdict_word(VERDICT_AGREE)),
              "the words must not contain each other");
}

Test(paper, count_verdict)
{
    cr_expect_eq(verdict_count(3, 3), VERDICT_AGREE);
    cr_expect_eq(verdict_count(1, 3), VERDICT_PARTLY);
    cr_expect_eq(verdict_count(0, 3), VERDICT_DISAGREE);
    cr_expect_eq(verdict_count(0, 0), VERDICT_CANNOT_TELL, "nothing judged says nothing");
}

Test(paper, groups_verdict)
{
    const int own[3] = {0, 1, 2};
    const double diagonal[3][3] = {{9, 1, 1}, {1, 9, 1}, {1, 1, 9}};
    const double one_off[3][3] = {{9, 1, 1}, {1, 9, 1}, {9, 1, 1}};
    const double none[3][3] = {{1, 9, 1}, {1, 1, 9}, {9, 1, 1}};
    const double missing[3][3] = {{NAN, NAN, NAN}, {NAN, NAN, NAN}, {NAN, NAN, NAN}};
    int worst[3], agree, judged;
    cr_expect_eq(verdict_groups(3, own, diagonal, worst, &agree, &judged), VERDICT_AGREE);
    cr_expect(agree == 3 && judged == 3 && worst[0] == 0 && worst[1] == 1 && worst[2] == 2);
    cr_expect_eq(verdict_groups(3, own, one_off, worst, &agree, &judged), VERDICT_PARTLY);
    cr_expect(agree == 2 && judged == 3 && worst[2] == 0);
    cr_expect_eq(verdict_groups(3, own, none, worst, &agree, &judged), VERDICT_DISAGREE);
    cr_expect_eq(agree, 0);
    cr_expect_eq(verdict_groups(3, own, missing, worst, &agree, &judged), VERDICT_DISAGREE, "nothing judged");
    cr_expect(judged == 0 && worst[0] == -1);
}

Test(paper, steps_verdict)
{
    const double falling[] = {4e-4, 3e-4, 1e-4, 5e-5}, rising[] = {5e-5, 1e-4, 3e-4, 4e-4};
    double early, late;
    cr_expect_eq(verdict_steps(4, falling, &early, &late), VERDICT_AGREE, "early steps more sensitive");
    cr_expect_float_eq(early, 3.5e-4, 1e-12);
    cr_expect_float_eq(late, 7.5e-5, 1e-12);
    cr_expect_eq(verdict_steps(4, rising, &early, &late), VERDICT_DISAGREE);
    cr_expect_eq(verdict_steps(3, (const double[]){2, 9, 1}, &early, &late), VERDICT_AGREE, "odd n: halves of 1");
    cr_expect_eq(verdict_steps(1, falling, &early, &late), VERDICT_CANNOT_TELL);
}

Test(paper, fit_verdict)
{
    const double equal[] = {0.9, 1.1, 1.6, 0.6}, spread[] = {0.38, 1.0, 1.68}, none[] = {NAN};
    double lo, hi;
    cr_expect_eq(verdict_fit(4, equal, 2, &lo, &hi), VERDICT_AGREE);
    cr_expect(lo == 0.6 && hi == 1.6);
    cr_expect_eq(verdict_fit(3, spread, 2, &lo, &hi), VERDICT_PARTLY, "0.38x is outside [0.5, 2]");
    const double off3[] = {3, 0.1, 2.5};
    cr_expect_eq(verdict_fit(3, off3, 2, &lo, &hi), VERDICT_DISAGREE);
    cr_expect_eq(verdict_fit(1, none, 2, &lo, &hi), VERDICT_CANNOT_TELL);
    cr_expect_eq(verdict_fit(2, equal, 2, &lo, &hi), VERDICT_CANNOT_TELL, "two steps are fitted exactly");
    cr_expect_eq(verdict_fit(0, equal, 2, &lo, &hi), VERDICT_CANNOT_TELL);
}

Test(paper, prompts_verdict)
{
    /* two prompts of 4 steps: both falling, alike; both falling, opposite wiggles; one rising */
    const double alike[] = {4e-4, 3e-4, 1e-4, 5e-5, 8e-4, 5e-4, 2e-4, 1e-4};
    const double wiggle[] = {4e-4, 1e-4, 3e-4, 5e-5, 4e-4, 5e-4, 1e-4, 2e-4};
    const double one_up[] = {4e-4, 3e-4, 1e-4, 5e-5, 5e-5, 1e-4, 3e-4, 4e-4};
    double c;
    int common;
    cr_expect_eq(verdict_prompts(2, 4, alike, 0.5, &c, &common), VERDICT_AGREE);
    cr_expect_eq(common, 4);
    cr_expect_gt(c, 0.9);
    cr_expect_eq(verdict_prompts(2, 4, wiggle, 0.5, &c, &common), VERDICT_PARTLY, "trend in both, correlation %g", c);
    cr_expect_eq(verdict_prompts(2, 4, one_up, 0.5, &c, &common), VERDICT_DISAGREE);
    cr_expect_eq(verdict_prompts(1, 4, alike, 0.5, &c, &common), VERDICT_CANNOT_TELL, "one prompt shows nothing about prompts");
    cr_expect_eq(verdict_prompts(2, 2, alike, 0.5, &c, &common), VERDICT_CANNOT_TELL, "two steps");
    /* five steps, one missing in each prompt: judged on the three both hold */
    const double gaps[] = {4e-4, NAN, 3e-4, 1e-4, 5e-5, 8e-4, 6e-4, 5e-4, 2e-4, NAN};
    cr_expect_eq(verdict_prompts(2, 5, gaps, 0.5, &c, &common), VERDICT_AGREE, "correlation %g", c);
    cr_expect_eq(common, 3);
    const double gaps_up[] = {4e-4, NAN, 3e-4, 1e-4, 5e-5, 1e-4, 6e-4, 2e-4, 5e-4, NAN};
    cr_expect_eq(verdict_prompts(2, 5, gaps_up, 0.5, &c, &common), VERDICT_DISAGREE,
                 "the second prompt rises on the common steps");
    const double one_gap[] = {4e-4, NAN, NAN, 1e-4, 8e-4, 5e-4, 2e-4, 1e-4};
    cr_expect_eq(verdict_prompts(2, 4, one_gap, 0.5, &c, &common), VERDICT_CANNOT_TELL, "two common steps");
    cr_expect_eq(common, 2);
}

Test(paper, compare_verdict)
{
    const double reuse[] = {1e-5, 2e-5, 5e-5}, skip[] = {1e-3, 2e-3, 3e-3}, mag[] = {1e-4, 1e-4, 1e-4};
    const double mag_low[] = {1e-4, 1e-5, 1e-5}, nan3[] = {NAN, NAN, NAN};
    int agree, judged;
    cr_expect_eq(verdict_compare(3, reuse, skip, mag, &agree, &judged), VERDICT_AGREE);
    cr_expect(agree == 3 && judged == 3);
    cr_expect_eq(verdict_compare(3, reuse, skip, mag_low, &agree, &judged), VERDICT_PARTLY,
                 "magnitude masking beats reuse at two levels");
    cr_expect_eq(agree, 1);
    cr_expect_eq(verdict_compare(3, skip, reuse, mag, &agree, &judged), VERDICT_DISAGREE);
    cr_expect_eq(verdict_compare(3, reuse, skip, nan3, &agree, &judged), VERDICT_AGREE, "no magnitude column");
    cr_expect_eq(verdict_compare(3, reuse, nan3, mag, &agree, &judged), VERDICT_DISAGREE, "nothing judged");
    cr_expect_eq(judged, 0);
}

/* ripple quality (Tables 2-4): interpolation at a matched s_attn, and the
 * matched comparison on PSNR and SSIM together. */
Test(paper, quality_interp)
{
    /* points out of order, one non-finite (PSNR +inf at s_attn 0), one exactly at a level */
    const double x[] = {0.3, 0.1, 0.0, 0.2}, y[] = {30, 40, INFINITY, 36};
    cr_expect(fabs(verdict_interp_linear(4, x, y, 0.15) - 38) < 1e-12, "between 0.1 and 0.2");
    cr_expect(fabs(verdict_interp_linear(4, x, y, 0.25) - 33) < 1e-12, "between 0.2 and 0.3");
    cr_expect_eq(verdict_interp_linear(4, x, y, 0.2), 36, "a point at the level");
    cr_expect(isnan(verdict_interp_linear(4, x, y, 0.35)), "past the last setting");
    cr_expect(isnan(verdict_interp_linear(4, x, y, 0.05)), "before the first finite point (the +inf one is left out)");
    cr_expect(isnan(verdict_interp_linear(0, x, y, 0.2)), "no points");
}

Test(paper, quality_matched_verdict)
{
    const double pa[] = {40, 35, 30, NAN}, sa[] = {0.99, 0.97, 0.95, 0.9};
    const double pb[] = {30, 36, 25, 20}, sb[] = {0.90, 0.95, 0.96, 0.8};
    const double pc[] = {45, 40, 35, 30}, sc[] = {0.999, 0.99, 0.98, 0.97};
    int agree, judged;
    /* level 1: a's PSNR below b's; level 2: a's SSIM below b's; level 3 not judged (a nan) */
    cr_expect_eq(verdict_quality_matched(4, pa, sa, pb, sb, &agree, &judged), VERDICT_PARTLY);
    cr_expect(agree == 1 && judged == 3, "agree %d judged %d", agree, judged);
    cr_expect_eq(verdict_quality_matched(4, pc, sc, pa, sa, &agree, &judged), VERDICT_AGREE);
    cr_expect_eq(judged, 3);
    cr_expect_eq(verdict_quality_matched(4, pa, sa, pc, sc, &agree, &judged), VERDICT_DISAGREE);
    const double inf1[] = {INFINITY}, one[] = {1}, p1[] = {50}, s1[] = {0.999};
    cr_expect_eq(verdict_quality_matched(1, inf1, one, p1, s1, &agree, &judged), VERDICT_AGREE, "+inf PSNR is higher");
    const double nan1[] = {NAN};
    cr_expect_eq(verdict_quality_matched(1, nan1, one, p1, s1, &agree, &judged), VERDICT_CANNOT_TELL);
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

/* --generate runs frames and quality in this process. --num-steps 1 and one
 * class make it a smoke run of the model (about 26 one-step clips; a
 * 1-step clip is not the paper's setting, and Table 3's ramp, none at a
 * run's last step, reuses nothing in one step: its verdicts may be "cannot
 * tell"); the test is that the options reach both experiments, that both
 * finish and write their sections and verdicts. */
Test(paper, generate_runs_frames_and_quality)
{
    if (getenv("RIPPLE_SANITIZER_RUN")) cr_skip_test("model clips under the sanitizers outlast CI's budget");
    const char *out = tu_tmp("p_generate");
    char p[1024];
    char *md = paper_index(out, "--generate --quick --num-steps 1 --classes 7");
    /* the summary table, and each section's status and steps */
    cr_expect(strstr(md, "| frames | Fig. 5 (frames) | ok |"), "frames is not ok in the summary table");
    cr_expect(strstr(md, "| quality | Tables 2-4 | ok |"), "quality is not ok in the summary table");
    static const char *const heads[] = {"## Fig. 5 (frames) —", "## Tables 2-4 —"};
    static const char *const cmds[] = {"Command: `ripple frames --out ", "Command: `ripple quality --out "};
    for (int i = 0; i < 2; i++) {
        const char *s = strstr(md, heads[i]);
        cr_assert(s, "no section %s", heads[i]);
        const char *next = strstr(s + 1, "\n## ");
        size_t len = next ? (size_t)(next - s) : strlen(s);
        char *sec = strndup(s, len);
        cr_expect(strstr(sec, cmds[i]) && strstr(sec, " --num-steps 1 --classes 7"), "%s: not run with the options: %.300s",
                  heads[i], sec);
        cr_expect(strstr(sec, "\nStatus: done in "), "%s: not done", heads[i]);
        cr_expect(strstr(sec, "1 sampler step (not the paper's 50"), "%s does not say its clips' steps", heads[i]);
        free(sec);
    }
    /* frames: one verdict (groups against axes); quality: Table 2 against
     * svg (--quick's only other method), Table 3's two, Table 4's one */
    cr_expect_eq(section_verdicts(md, heads[0]), 1, "verdicts of frames");
    cr_expect_eq(section_verdicts(md, heads[1]), 4, "verdicts of quality");
    /* the rows: frames, per prompt, the dense clip and 3 channel groups x 3
     * axes; quality, per prompt, the dense clip and 3 settings of each of
     * reuse (--quick's thetas), reuse-ramp and reuse-ramp-t (3 plateaus:
     * fit's ramp x 3 --ramp-scales), reuse-channel (--quick's alphas) and
     * svg (--quick's densities). */
    const int prompts = 1; /* --classes 7 x the default seed 0 */
    snprintf(p, sizeof p, "%s/frames/frames.tsv", out);
    char *f = tu_read_table(p);
    cr_assert(f, "no %s", p);
    cr_expect(strstr(f, " steps=1 ") && strstr(f, " prompts=c7s0\n"), "frames.tsv options: not 1 step of c7s0");
    cr_expect_eq(tu_tsv_cell(f, 0, NULL, NULL, NULL, NULL), prompts * (1 + 3 * 3), "rows of frames.tsv");
    cr_expect_eq(count_where(f, "class\tseed", "7\t0"), 1 + 3 * 3, "frames.tsv rows of class 7, seed 0");
    snprintf(p, sizeof p, "%s/quality/quality.tsv", out);
    char *q = tu_read_table(p);
    cr_assert(q, "no %s", p);
    cr_expect(strstr(q, " steps=1 ") && strstr(q, " prompts=c7s0\n"), "quality.tsv options: not 1 step of c7s0");
    static const char *const methods[] = {"exact", "reuse", "reuse-ramp", "reuse-ramp-t", "reuse-channel", "svg"};
    static const int settings[] = {1, 3, 3, 3, 3, 3};
    int total = 0;
    for (int i = 0; i < 6; i++) {
        char key[64];
        snprintf(key, sizeof key, "7\t0\t%s", methods[i]);
        cr_expect_eq(count_where(q, "class\tseed\tmethod", key), settings[i], "quality.tsv rows of %s", methods[i]);
        total += settings[i];
    }
    cr_expect_eq(tu_tsv_cell(q, 0, NULL, NULL, NULL, NULL), prompts * total, "rows of quality.tsv");
    free(q);
    free(f);
    free(md);
}

/* paper's options for frames and quality are refused before anything runs. */
Test(paper, generate_options_misuse)
{
    const char *c = capture();
    char out[512], a[2048];
    snprintf(out, sizeof out, "%s", tu_tmp_path("p_genmisuse"));
    static const char *const bad[][2] = {{"--generate --num-steps 0", "--num-steps"},
                                         {"--generate --num-steps x", "--num-steps"},
                                         {"--generate --classes 12", "class 12"},
                                         {"--generate --classes 7,x", "--classes"},
                                         {"--num-steps 2", "add --generate"},
                                         {"--classes 7", "add --generate"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(a, sizeof a, "paper '%s' --out '%s' --quick %s", c, out, bad[i][0]);
        tu_expect_misuse(a, 2, bad[i][1]);
        cr_expect(!tu_exists(out), "`%s` created its --out folder", a);
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

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* State letter of process pid from /proc (0 when it is gone). */
static char proc_state(pid_t pid)
{
    char p[64], buf[512];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close = strrchr(buf, ')');
    return close && close[1] == ' ' ? close[2] : 0;
}

static int gone(pid_t pid)
{
    char s = proc_state(pid);
    return s == 0 || s == 'Z' || s == 'X';
}

/* Waits up to 30 s for path to exist while pid runs; 1 when it does. */
static int wait_for(pid_t pid, const char *path)
{
    for (double t0 = now(); now() - t0 < 30; usleep(10000)) {
        if (tu_exists(path)) return 1;
        if (gone(pid)) return 0;
    }
    return 0;
}

/* Starts `ripple paper CAPTURE --out dir` in the background. */
static pid_t start_paper(const char *capture_path, const char *dir)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* no Criterion call here: the child is not a test process */
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        execl(RIPPLE_EXE, "ripple", "paper", capture_path, "--out", dir, "--quick", (char *)NULL);
        _exit(127);
    }
    cr_assert_gt(pid, 0, "fork failed");
    return pid;
}

/* A capture on which the first experiment (window) runs for seconds, so
 * that paper is seen running when it is stopped. */
static const char *slow_capture(void)
{
    return tu_synth("paper_slow.h5", "--grid 8,24,24 --heads 2 --steps 3 --layers 1 --seed 9");
}

/* The folders of a run are free: their locks can be taken at once. */
static void expect_unlocked(const char *dir)
{
    const char *locks[] = {"", "/window"};
    for (size_t i = 0; i < 2; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s%s/.ripple.lock", dir, locks[i]);
        int fd = open(p, O_RDWR);
        cr_assert_geq(fd, 0, "no lock file %s", p);
        cr_expect_eq(flock(fd, LOCK_EX | LOCK_NB), 0, "%s is still locked after paper ended", p);
        close(fd);
    }
}

/* The experiments run in paper's process: a signal to paper stops them
 * with it (the status says the signal), a second run on the same folder is
 * refused while the first runs, and nothing holds the folders after. */
Test(paper, a_signal_stops_paper_and_a_second_run_is_refused)
{
    if (!tu_exists("/proc/self/task")) cr_skip_test("no /proc");
    const char *c = slow_capture();
    const char *dir = tu_tmp("p_signal");
    char lock[1024];
    snprintf(lock, sizeof lock, "%s/window/.ripple.lock", dir);
    pid_t paper = start_paper(c, dir);
    cr_assert(wait_for(paper, lock), "paper did not start window");

    char a[2048];
    snprintf(a, sizeof a, "paper '%s' --out '%s' --quick", c, dir);
    int rc = tu_ripple(NULL, a);
    cr_expect_eq(rc, 1, "a concurrent run exited %d: %s", rc, tu_err());
    cr_expect(strstr(tu_err(), "another ripple run is writing"), "no clear message: %s", tu_err());

    cr_assert_eq(kill(paper, SIGTERM), 0);
    int st;
    cr_assert_eq(waitpid(paper, &st, 0), paper);
    cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "paper did not end by SIGTERM (status %d)", st);
    expect_unlocked(dir);
}

/* paper killed outright (SIGKILL): the folders are free at once, so the
 * same command can resume (resumed_run_equals_uninterrupted_run shows it
 * gives the tables of an uninterrupted run). */
Test(paper, a_killed_paper_leaves_the_folders_free)
{
    if (!tu_exists("/proc/self/task")) cr_skip_test("no /proc");
    const char *c = slow_capture();
    const char *dir = tu_tmp("p_kill");
    char lock[1024];
    snprintf(lock, sizeof lock, "%s/window/.ripple.lock", dir);
    pid_t paper = start_paper(c, dir);
    cr_assert(wait_for(paper, lock), "paper did not start window");
    cr_assert_eq(kill(paper, SIGKILL), 0);
    int st;
    cr_assert_eq(waitpid(paper, &st, 0), paper);
    cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %d", st);
    expect_unlocked(dir);
}

/* A folder that cannot be written: one data error naming it, before any
 * driver runs (not a usage error from a driver started without the
 * threshold its failed predecessor should have given). */
Test(paper, unwritable_folder_is_one_data_error)
{
    const char *c = capture();
    char a[2048];
    /* a path below a regular file: mkdir fails for root too */
    const char *file = tu_tmp("p_file");
    FILE *f = fopen(file, "w");
    cr_assert(f);
    fclose(f);
    snprintf(a, sizeof a, "paper '%s' --out '%s/sub' --quick", c, file);
    tu_expect_misuse(a, 1, "Not a directory");
    /* an existing folder without write permission: chmod for a user, a
     * read-only file system (/sys) for root, where chmod stops nothing */
    const char *ro = "/sys";
    if (geteuid() != 0) {
        ro = tu_tmp("p_readonly");
        mkdir(ro, 0755);
        chmod(ro, 0555);
    }
    if (access(ro, W_OK) == 0 && geteuid() != 0) cr_skip_test("%s is writable", ro);
    snprintf(a, sizeof a, "paper '%s' --out '%s' --quick", c, ro);
    char want[600];
    snprintf(want, sizeof want, "cannot write %s:", ro);
    tu_expect_misuse(a, 1, want);
    cr_expect(!strstr(tu_err(), "--theta") && !strstr(tu_err(), "--target"), "misleading: %s", tu_err());
    snprintf(a, sizeof a, "steps '%s' --out '%s' --theta 0.1", c, ro);
    tu_expect_misuse(a, 1, want);
}
