/* The fuzzing regression corpus (tests/fuzz/corpus/: inputs that crash,
 * hang or exhaust libhdf5 1.10, and those of bugs fixed in ripple): `ripple
 * info` and `ripple eval` must end every one with exit 1 and a one-line
 * message naming the file, never by a signal, never with 0, never past the
 * time bound. The metadata check gets 5 s (RIPPLE_CHECK_TIMEOUT) so that
 * the hangs cost little; each run is killed after 60 s. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORPUS RIPPLE_SOURCE_ROOT "/tests/fuzz/corpus"

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

Test(fuzzcorpus, every_file_exits_1)
{
    DIR *d = opendir(CORPUS);
    cr_assert(d, "no folder %s", CORPUS);
    char *names[512];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 512;)
        if (e->d_name[0] != '.' && strcmp(e->d_name, "README.md")) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    cr_assert_geq(n, 1, "the corpus is empty");
    int bad = 0;
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", CORPUS, names[i]);
        const char *cmds[] = {"info '%s'", "eval '%s' --step 0 --layer 0 --format tsv"};
        for (int c = 0; c < 2; c++) {
            char args[1200];
            snprintf(args, sizeof args, cmds[c], path);
            int rc = tu_ripple("RIPPLE_CHECK_TIMEOUT=5 timeout -s KILL 60", args);
            const char *err = tu_err();
            int ok = rc == 1 && tu_count_lines(err) == 1 && strstr(err, path);
            if (!ok) bad++;
            cr_expect(ok, "`ripple %s`: exit %d (137: killed after 60 s), stderr: %s", args, rc, err);
            cr_log_info("%s %s: %d %.*s", c ? "eval" : "info", names[i], rc, 160, err);
        }
        free(names[i]);
    }
    cr_log_info("%d files, %d failures", n, bad);
}

/* The experiment drivers open captures through the same child check: on the
 * corpus files that crash libhdf5, each driver (and paper) exits 1 saying
 * the file is corrupted, instead of dying by the signal. */
Test(fuzzcorpus, drivers_survive_libhdf5_crashes)
{
    DIR *d = opendir(CORPUS);
    cr_assert(d, "no folder %s", CORPUS);
    char path[1024] = "";
    for (struct dirent *e; (e = readdir(d));)
        if (!strncmp(e->d_name, "crash-H5HG_read", 15)) {
            snprintf(path, sizeof path, "%s/%s", CORPUS, e->d_name);
            break;
        }
    closedir(d);
    cr_assert(path[0], "the corpus has no crash-H5HG_read-* file");
    const char *drivers[] = {"window", "groups", "steps --theta 0.1", "fit --target 1e-4", "compare", "paper"};
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++) {
        char args[1400];
        char out[32];
        snprintf(out, sizeof out, "drv%zu", i);
        snprintf(args, sizeof args, "%s '%s' --out '%s'", drivers[i], path, tu_tmp(out));
        int rc = tu_ripple("RIPPLE_CHECK_TIMEOUT=5 timeout -s KILL 60", args);
        cr_expect_eq(rc, 1, "`ripple %s`: exit %d, stderr: %s", args, rc, tu_err());
        cr_expect(strstr(tu_err(), "corrupted"), "`ripple %s`: %s", args, tu_err());
    }
}
