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

/* A child of pid (a driver forked by paper), waiting up to 30 s; 0 if none. */
static pid_t child_of(pid_t pid)
{
    for (double t0 = now(); now() - t0 < 30; usleep(10000)) {
        char p[64];
        snprintf(p, sizeof p, "/proc/%d/task/%d/children", (int)pid, (int)pid);
        FILE *f = fopen(p, "r");
        int child = 0;
        if (f) {
            if (fscanf(f, "%d", &child) != 1) child = 0;
            fclose(f);
        }
        if (child > 0) return (pid_t)child;
        if (gone(pid)) return 0;
    }
    return 0;
}

/* 1 when the kernel lists a process's children in /proc (child_of needs it). */
static int have_proc_children(void)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
    return tu_exists(p);
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

/* A capture on which the first driver (window, all windows) runs for
 * seconds, so that a child outliving paper would be seen alive. */
static const char *slow_capture(void)
{
    return tu_synth("paper_slow.h5", "--grid 8,24,24 --heads 2 --steps 3 --layers 1 --seed 9");
}

Test(paper, signals_reach_the_children_and_a_second_run_is_refused)
{
    if (!have_proc_children()) cr_skip_test("no /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN)");
    const char *c = slow_capture();
    const char *dir = tu_tmp("p_signal");
    pid_t paper = start_paper(c, dir);
    pid_t child = child_of(paper);
    cr_assert_gt(child, 0, "paper started no driver");

    /* a second run on the same folder is refused while the first runs */
    char a[2048];
    snprintf(a, sizeof a, "paper '%s' --out '%s' --quick", c, dir);
    int rc = tu_ripple(NULL, a);
    cr_expect_eq(rc, 1, "a concurrent run exited %d: %s", rc, tu_err());
    cr_expect(strstr(tu_err(), "another ripple run is writing"), "no clear message: %s", tu_err());

    /* SIGTERM to paper alone: passed on, and paper ends only after its child */
    cr_assert_eq(kill(paper, SIGTERM), 0);
    int st;
    cr_assert_eq(waitpid(paper, &st, 0), paper);
    cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "paper did not end by SIGTERM (status %d)", st);
    cr_expect(gone(child), "the driver outlived paper after SIGTERM");

    /* nothing is left holding the folders: a rerun can start at once */
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

Test(paper, children_die_when_paper_is_killed)
{
    if (!have_proc_children()) cr_skip_test("no /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN)");
    const char *c = slow_capture();
    const char *dir = tu_tmp("p_kill");
    pid_t paper = start_paper(c, dir);
    pid_t child = child_of(paper);
    cr_assert_gt(child, 0, "paper started no driver");
    cr_assert_eq(kill(paper, SIGKILL), 0);
    int st;
    cr_assert_eq(waitpid(paper, &st, 0), paper);
    /* the driver would run for seconds more on its own */
    double t0 = now();
    while (!gone(child) && now() - t0 < 2) usleep(10000);
    cr_expect(gone(child), "the driver is still running %.1f s after paper was killed", now() - t0);
    /* the lock of the folder is free again */
    char p[1024];
    snprintf(p, sizeof p, "%s/.ripple.lock", dir);
    int fd = open(p, O_RDWR);
    cr_assert_geq(fd, 0, "no lock file %s", p);
    int locked = -1;
    for (t0 = now(); locked != 0 && now() - t0 < 2; usleep(10000)) locked = flock(fd, LOCK_EX | LOCK_NB);
    cr_expect_eq(locked, 0, "the folder is still locked after paper was killed");
    close(fd);
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
