/* Sweeps split over processes (engine.h: shards, MPI): three shards merged
 * give the rows, summary and figure script of one unsharded run; a shard
 * killed midway resumes; merge refuses shards of other options or
 * captures and names missing ones; a Slurm array picks its shard; under
 * mpirun two ranks write the rows of one process, name a unit that fails,
 * and run `ripple paper`. The MPI tests skip without MPI or mpirun.
 *
 * Equality here is exact (byte for byte of the rows): every row is
 * computed by the same code on the same unit whichever process computes
 * it, and written as text (%.6g) once; the engine writes rows in the order
 * of the plan whoever finished them first. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char cmd[16384];

/* 6 units (3 steps x 2 layers): shard I of 3 gets 2 of them */
static const char *capture(void)
{
    return tu_synth("shard.h5", "--grid 4,8,8 --heads 2 --head-dim 64 --steps 3 --layers 2 --seed 3");
}

/* The file's lines that are not metadata (header and rows), or its
 * metadata lines without those that differ between runs (timing, the merge
 * note, the shard lines). malloc'd; NULL when unreadable. */
static char *lines_of(const char *path, int meta)
{
    char *text = tu_read_file(path);
    if (!text) return NULL;
    static const char *const skip[] = {"# exact_attention_seconds:", "# wall_seconds:", "# merged:", "# shard:",
                                       "# shard_command:"};
    char *w = text;
    for (char *r = text; *r;) {
        char *nl = strchr(r, '\n');
        size_t len = nl ? (size_t)(nl - r) + 1 : strlen(r);
        int keep = (r[0] == '#') == meta;
        for (size_t i = 0; keep && i < sizeof skip / sizeof skip[0]; i++) keep = strncmp(r, skip[i], strlen(skip[i])) != 0;
        if (keep) memmove(w, r, len), w += len;
        r += len;
    }
    *w = '\0';
    return text;
}

/* a/name and b/name have the same rows and the same metadata (but the
 * lines that differ between runs) */
static void expect_same_table(const char *a, const char *b, const char *name)
{
    char pa[1024], pb[1024];
    snprintf(pa, sizeof pa, "%s/%s", a, name);
    snprintf(pb, sizeof pb, "%s/%s", b, name);
    for (int meta = 0; meta < 2; meta++) {
        char *x = lines_of(pa, meta), *y = lines_of(pb, meta);
        cr_assert(x && y, "cannot read %s or %s", pa, pb);
        cr_expect(x[0], "%s has no %s", pa, meta ? "metadata" : "rows");
        cr_expect_str_eq(x, y, "%s of %s and %s differ", meta ? "metadata" : "rows", pa, pb);
        free(x);
        free(y);
    }
}

static void expect_same_file(const char *a, const char *b, const char *name)
{
    char pa[1024], pb[1024];
    snprintf(pa, sizeof pa, "%s/%s", a, name);
    snprintf(pb, sizeof pb, "%s/%s", b, name);
    char *x = tu_read_file(pa), *y = tu_read_file(pb);
    cr_assert(x && y, "cannot read %s or %s", pa, pb);
    cr_expect_str_eq(x, y, "%s and %s differ", pa, pb);
    free(x);
    free(y);
}

static int ripple_ok(const char *env, const char *args)
{
    int rc = tu_ripple(env, args);
    cr_assert_eq(rc, 0, "ripple %s: exit %d: %s", args, rc, tu_err());
    return rc;
}

typedef struct {
    const char *name, *opts;
    const char *files[4]; /* tables and scripts an unsharded run writes */
} driver;

static const driver drivers[] = {
    {"compare", "--thetas 0.05,0.2 --methods reuse,mask-skip,window", {"compare.tsv", "compare_summary.tsv", "compare.gp"}},
    {"steps", "--theta 0.1", {"steps.tsv", "steps.gp"}},
    {"groups", "", {"groups.tsv", "groups_heat.tsv", "groups_summary.tsv", "groups.gp"}},
};

Test(shard, three_shards_merge_into_the_unsharded_run)
{
    const char *cap = capture();
    for (size_t d = 0; d < sizeof drivers / sizeof drivers[0]; d++) {
        const driver *dv = &drivers[d];
        char solo[600], sh[700];
        snprintf(solo, sizeof solo, "%s", tu_tmp_path(dv->name));
        snprintf(sh, sizeof sh, "%s-sharded", solo);
        snprintf(cmd, sizeof cmd, "%s '%s' --out '%s' %s", dv->name, cap, solo, dv->opts);
        ripple_ok(NULL, cmd);
        for (int i = 1; i <= 3; i++) {
            snprintf(cmd, sizeof cmd, "%s '%s' --out '%s' %s --shard %d/3", dv->name, cap, sh, dv->opts, i);
            ripple_ok(NULL, cmd);
            cr_expect(strstr(tu_out(), "2 of 6 groups"), "shard %d/3 of %s: %s", i, dv->name, tu_out());
        }
        /* a shard writes its rows only: no summary, no figure */
        char p[1200];
        snprintf(p, sizeof p, "%s/shard-2-of-3/%s.gp", sh, dv->name);
        cr_expect(!tu_exists(p), "a shard wrote %s", p);
        snprintf(cmd, sizeof cmd, "merge '%s'", sh);
        ripple_ok(NULL, cmd);
        for (int f = 0; f < 4 && dv->files[f]; f++) {
            const char *name = dv->files[f];
            if (strstr(name, ".tsv")) expect_same_table(solo, sh, name);
            else expect_same_file(solo, sh, name);
        }
    }
}

/* The first `cols` fields of every row (and of the header) of path: the
 * model experiments end their rows with wall-time columns, which differ
 * between any two runs. malloc'd; NULL when unreadable. */
static char *leading_fields(const char *path, int cols)
{
    char *text = lines_of(path, 0);
    if (!text) return NULL;
    char *w = text;
    for (char *r = text; *r;) {
        char *nl = strchr(r, '\n');
        size_t len = nl ? (size_t)(nl - r) + 1 : strlen(r), keep = 0;
        for (int tabs = 0; keep < len && r[keep] != '\n'; keep++)
            if (r[keep] == '\t' && ++tabs == cols) break;
        memmove(w, r, keep), w += keep, *w++ = '\n';
        r += len;
    }
    *w = '\0';
    return text;
}

/* ripple quality's unit is a prompt: 2 prompts of 1 sampler step, as
 * shards 1/2 and 2/2 merged, give the rows of one run (but the timing
 * columns), its means and its matched table. */
Test(shard, quality_shards_merge_into_the_unsharded_run)
{
    if (getenv("RIPPLE_SANITIZER_RUN")) cr_skip_test("model clips under the sanitizers outlast CI's budget");
    static const char opts[] = "--classes 7,1 --num-steps 1 --methods svg --thetas 0.05 --densities 0.8";
    static const struct {
        const char *name;
        int cols; /* before the timing columns */
    } tabs[] = {{"quality.tsv", 13}, {"quality-means.tsv", 10}, {"quality-matched.tsv", 4}};
    char solo[600], sh[700];
    snprintf(solo, sizeof solo, "%s", tu_tmp_path("quality"));
    snprintf(sh, sizeof sh, "%s-sharded", solo);
    snprintf(cmd, sizeof cmd, "quality --out '%s' %s", solo, opts);
    ripple_ok("RIPPLE_NUM_THREADS=1", cmd);
    for (int i = 1; i <= 2; i++) {
        snprintf(cmd, sizeof cmd, "quality --out '%s' %s --shard %d/2", sh, opts, i);
        ripple_ok(i == 1 ? "RIPPLE_NUM_THREADS=1" : "RIPPLE_NUM_THREADS=2", cmd); /* threads may differ */
    }
    snprintf(cmd, sizeof cmd, "merge '%s'", sh);
    ripple_ok(NULL, cmd);
    for (size_t t = 0; t < sizeof tabs / sizeof tabs[0]; t++) {
        char pa[1200], pb[1200];
        snprintf(pa, sizeof pa, "%s/%s", solo, tabs[t].name);
        snprintf(pb, sizeof pb, "%s/%s", sh, tabs[t].name);
        char *x = leading_fields(pa, tabs[t].cols), *y = leading_fields(pb, tabs[t].cols);
        cr_assert(x && y, "cannot read %s or %s", pa, pb);
        cr_expect(strchr(x, '\n') && strchr(x, '\n')[1], "%s has no rows", pa);
        cr_expect_str_eq(x, y, "rows of %s and %s differ", pa, pb);
        free(x);
        free(y);
    }
}

/* Keeps the metadata, header and the first `rows` rows of path in
 * path.partial plus half of the next row (a row cut short by the kill),
 * and removes path: what a shard killed midway leaves. */
static void leave_as_killed(const char *path, int rows)
{
    char *text = tu_read_file(path);
    cr_assert(text, "cannot read %s", path);
    char part[1100];
    snprintf(part, sizeof part, "%s.partial", path);
    FILE *f = fopen(part, "w");
    cr_assert(f);
    int header = 0, kept = 0;
    for (char *r = text; *r;) {
        char *nl = strchr(r, '\n');
        size_t len = nl ? (size_t)(nl - r) + 1 : strlen(r);
        if (r[0] == '#' || !header) {
            if (r[0] != '#') header = 1;
            if (strncmp(r, "# exact_attention", 17) && strncmp(r, "# wall_seconds", 14)) fwrite(r, 1, len, f);
        } else if (kept < rows) {
            fwrite(r, 1, len, f), kept++;
        } else {
            fwrite(r, 1, len / 2, f); /* no newline: dropped when read back */
            break;
        }
        r += len;
    }
    cr_assert_eq(kept, rows, "%s has fewer than %d rows", path, rows + 1);
    fclose(f);
    free(text);
    cr_assert_eq(unlink(path), 0);
}

Test(shard, killed_shard_resumes)
{
    const char *cap = capture(), *dir = tu_tmp("resume");
    char tsv[1024];
    snprintf(tsv, sizeof tsv, "%s/shard-2-of-3/compare.tsv", dir);
    snprintf(cmd, sizeof cmd, "compare '%s' --out '%s' --thetas 0.05,0.2 --methods reuse,mask-skip --shard 2/3", cap, dir);
    ripple_ok(NULL, cmd);
    char *whole = lines_of(tsv, 0);
    cr_assert(whole);
    cr_assert_eq(tu_count_lines(whole), 1 + 2 * 4, "shard 2/3: 2 units x 4 jobs and a header");
    leave_as_killed(tsv, 3);
    ripple_ok(NULL, cmd);
    cr_expect(strstr(tu_out(), "3 rows taken back"), "the finished rows were not taken back: %s", tu_out());
    char *again = lines_of(tsv, 0);
    cr_expect_str_eq(again, whole, "the resumed shard's rows differ from an uninterrupted shard's");
    snprintf(tsv, sizeof tsv, "%s/shard-2-of-3/compare.tsv.partial", dir);
    cr_expect(!tu_exists(tsv), "the partial file is left after the shard finished");
    free(whole);
    free(again);
}

/* exit 1, one line on stderr containing needle, nothing under OUT's final names */
static void expect_refused(const char *args, const char *needle, const char *out_tsv)
{
    int rc = tu_ripple(NULL, args);
    cr_expect_eq(rc, 1, "ripple %s: exit %d (want 1): %s", args, rc, tu_err());
    cr_expect(strstr(tu_err(), needle), "ripple %s: no '%s' in: %s", args, needle, tu_err());
    cr_expect_eq(tu_count_lines(tu_err()), 1, "not one line: %s", tu_err());
    if (out_tsv) cr_expect(!tu_exists(out_tsv), "%s was written", out_tsv);
}

Test(shard, merge_refuses_mismatched_or_missing_shards)
{
    const char *cap = capture(), *dir = tu_tmp("mismatch");
    char out_tsv[1024], sh[1024];
    snprintf(out_tsv, sizeof out_tsv, "%s/compare.tsv", dir);
    const char *opts = "--thetas 0.05,0.2 --methods reuse,mask-skip";
    for (int i = 1; i <= 3; i += 2) {
        snprintf(cmd, sizeof cmd, "compare '%s' --out '%s' %s --shard %d/3", cap, dir, opts, i);
        ripple_ok(NULL, cmd);
    }
    /* shard 2/3 missing: named, with the command that makes it */
    snprintf(cmd, sizeof cmd, "merge '%s'", dir);
    expect_refused(cmd, "missing shard 2/3", out_tsv);
    cr_expect(strstr(tu_err(), "--shard 2/3"), "no command for the missing shard: %s", tu_err());
    /* shard 2/3 of other options */
    snprintf(cmd, sizeof cmd, "compare '%s' --out '%s' --thetas 0.05,0.3 --methods reuse,mask-skip --shard 2/3", cap, dir);
    ripple_ok(NULL, cmd);
    snprintf(cmd, sizeof cmd, "merge '%s'", dir);
    expect_refused(cmd, "other options", out_tsv);
    cr_expect(strstr(tu_err(), "shard 2/3"), "the shard is not named: %s", tu_err());
    /* with the right options it merges */
    snprintf(cmd, sizeof cmd, "compare '%s' --out '%s' %s --shard 2/3", cap, dir, opts);
    ripple_ok(NULL, cmd);
    snprintf(cmd, sizeof cmd, "merge '%s'", dir);
    ripple_ok(NULL, cmd);

    /* the same path holding another capture (another seed) for shard 3/3 */
    const char *dir2 = tu_tmp("othercap"), *moving = tu_tmp("moving.h5");
    snprintf(out_tsv, sizeof out_tsv, "%s/compare.tsv", dir2);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", cap, moving);
    cr_assert_eq(tu_system(cmd), 0);
    for (int i = 1; i <= 2; i++) {
        snprintf(cmd, sizeof cmd, "compare '%s' --out '%s' %s --shard %d/3", moving, dir2, opts, i);
        ripple_ok(NULL, cmd);
    }
    snprintf(cmd, sizeof cmd, "synth '%s.new' --grid 4,8,8 --heads 2 --head-dim 64 --steps 3 --layers 2 --seed 4", moving);
    ripple_ok(NULL, cmd);
    snprintf(cmd, sizeof cmd, "mv '%s.new' '%s'", moving, moving);
    cr_assert_eq(tu_system(cmd), 0);
    snprintf(cmd, sizeof cmd, "compare '%s' --out '%s' %s --shard 3/3", moving, dir2, opts);
    ripple_ok(NULL, cmd);
    snprintf(cmd, sizeof cmd, "merge '%s'", dir2);
    expect_refused(cmd, "does not come from these captures", out_tsv);

    /* not shards; a shard given twice; shards of two experiments */
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tu_tmp("no-shards"));
    cr_assert_eq(tu_system(cmd), 0);
    snprintf(cmd, sizeof cmd, "merge '%s'", tu_tmp("no-shards"));
    expect_refused(cmd, "holds no shard", NULL);
    snprintf(sh, sizeof sh, "%s/shard-1-of-3", dir);
    snprintf(cmd, sizeof cmd, "merge '%s' '%s' --out '%s'", sh, sh, tu_tmp("twice"));
    expect_refused(cmd, "given twice", NULL);
}

Test(shard, bad_shard_options_are_usage_errors)
{
    const char *cap = capture();
    static const char *const bad[] = {"0/3", "4/3", "x", "1/", "/3", "2/0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "compare '%s' --out '%s' --shard %s", cap, tu_tmp("bad"), bad[i]);
        tu_expect_misuse(cmd, 2, "--shard");
    }
    snprintf(cmd, sizeof cmd, "paper '%s' --out '%s' --shard 1/2", cap, tu_tmp("paper-shard"));
    tu_expect_misuse(cmd, 2, "cannot be sharded");
    tu_expect_misuse("merge", 2, "missing DIR");
    tu_expect_misuse("merge --bogus x", 2, "unknown option");
}

Test(shard, slurm_array_picks_the_shard)
{
    const char *cap = capture(), *dir = tu_tmp("slurm");
    /* --array=4-6: the task with id 5 is the second of three */
    const char *env = "SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=4 SLURM_ARRAY_TASK_STEP=1";
    snprintf(cmd, sizeof cmd, "compare '%s' --out '%s' --thetas 0.1 --methods reuse", cap, dir);
    ripple_ok(env, cmd);
    char p[1024];
    snprintf(p, sizeof p, "%s/shard-2-of-3/compare.tsv", dir);
    cr_expect(strstr(tu_slurp(p), "# shard: 2/3\n"), "no shard 2/3 in %s", p);
    cr_expect(strstr(tu_slurp(p), "--shard 2/3"), "the shard's command does not name its shard");
    /* --shard 1/1 runs it whole whatever the environment says */
    snprintf(cmd, sizeof cmd, "compare '%s' --out '%s' --thetas 0.1 --methods reuse --shard 1/1", cap, dir);
    ripple_ok(env, cmd);
    snprintf(p, sizeof p, "%s/compare.tsv", dir);
    cr_expect(tu_exists(p) && !strstr(tu_slurp(p), "# shard:"), "--shard 1/1 did not run the whole sweep");
    /* a task id outside the array */
    snprintf(cmd, sizeof cmd, "compare '%s' --out '%s'", cap, dir);
    cr_expect_eq(tu_ripple("SLURM_ARRAY_TASK_ID=9 SLURM_ARRAY_TASK_COUNT=3", cmd), 2, "%s", tu_err());
    cr_expect(strstr(tu_err(), "give --shard I/N"), "%s", tu_err());
}

/* ------------------------------------------------------------------ MPI */

static void need_mpi(void)
{
    if (!RIPPLE_HAVE_MPI || !RIPPLE_MPIRUN[0]) cr_skip_test("ripple is built without MPI, or mpirun is missing");
    /* Open MPI's components are dlopen()ed and closed again before exit, so
     * LeakSanitizer reports their own allocations against "<unknown
     * module>", where no suppression can name them. The MPI path is run by
     * the normal build; the sanitizer build checks the engine's sharding
     * through the tests above. */
    if (getenv("RIPPLE_SANITIZER_RUN")) cr_skip_test("Open MPI's unloaded components leak under LeakSanitizer");
}

/* `mpirun -np ranks ripple ARGS`, one thread per rank, stdout and stderr to
 * the files of tu_out()/tu_err(); running as root is allowed (containers). */
static int mpi_ripple(int ranks, const char *args)
{
    static char line[20000];
    snprintf(line, sizeof line,
             "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 "
             "RIPPLE_NUM_THREADS=1 '%s' --oversubscribe -np %d '%s' %s >'%s' 2>'%s'",
             RIPPLE_MPIRUN, ranks, RIPPLE_EXE, args, tu_tmp_path("out.txt"), tu_tmp_path("err.txt"));
    return tu_system(line);
}

Test(shard_mpi, two_ranks_write_the_rows_of_one_process)
{
    need_mpi();
    const char *cap = capture(), *one = tu_tmp("mpi-one"), *two = tu_tmp("mpi-two");
    const char *opts = "--thetas 0.05,0.2 --methods reuse,mask-skip,window";
    snprintf(cmd, sizeof cmd, "compare '%s' --out '%s' %s", cap, one, opts);
    ripple_ok("RIPPLE_NUM_THREADS=1", cmd);
    snprintf(cmd, sizeof cmd, "compare '%s' --out '%s' %s", cap, two, opts);
    int rc = mpi_ripple(2, cmd);
    cr_assert_eq(rc, 0, "mpirun: exit %d: %s", rc, tu_err());
    expect_same_table(one, two, "compare.tsv");
    expect_same_table(one, two, "compare_summary.tsv");
    expect_same_file(one, two, "compare.gp");
    /* both ranks computed: rank 1 asks for a group as soon as the plan is
     * agreed, and each of the 6 groups takes rank 0 far longer than an
     * answer takes, so rank 0 cannot have taken all 6 first */
    int g0 = -1, g1 = -1;
    const char *at = strstr(tu_out(), "groups computed by ranks 0..1:");
    cr_assert(at, "no groups per rank in: %s", tu_out());
    cr_assert_eq(sscanf(at, "groups computed by ranks 0..1: %d %d", &g0, &g1), 2);
    cr_expect_eq(g0 + g1, 6, "groups 0: %d, 1: %d", g0, g1);
    cr_expect_geq(g1, 1, "rank 1 computed nothing");
}

/* Overwrites the middle of the one gzip chunk of head 0 of v at step 49,
 * layer 1: the capture opens, that unit cannot be read. */
static void break_unit(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    hid_t d = H5Dopen2(f, "/steps/049/layers/001/v", H5P_DEFAULT);
    cr_assert_geq(d, 0);
    hsize_t off[3] = {0, 0, 0}, size = 0;
    haddr_t addr = 0;
    unsigned mask = 0;
    cr_assert_geq(H5Dget_chunk_info_by_coord(d, off, &mask, &addr, &size), 0);
    H5Dclose(d);
    H5Fclose(f);
    cr_assert_gt(size, 64);
    FILE *fp = fopen(path, "r+b");
    cr_assert(fp);
    static const char zeros[64];
    cr_assert_eq(fseek(fp, (long)(addr + size / 2), SEEK_SET), 0);
    cr_assert_eq(fwrite(zeros, 1, sizeof zeros, fp), sizeof zeros);
    fclose(fp);
}

Test(shard_mpi, a_failing_unit_is_named_and_the_rest_kept)
{
    need_mpi();
    const char *bad = tu_tmp("broken.h5"), *dir = tu_tmp("mpi-broken");
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", capture(), bad);
    cr_assert_eq(tu_system(cmd), 0);
    break_unit(bad);
    snprintf(cmd, sizeof cmd, "compare '%s' --out '%s' --thetas 0.1 --methods reuse", bad, dir);
    int rc = mpi_ripple(2, cmd);
    cr_expect_neq(rc, 0, "a broken unit and exit 0");
    cr_expect(strstr(tu_err(), "1 unit(s) failed: rank "), "%s", tu_err());
    cr_expect(strstr(tu_err(), "step 49 layer 1"), "the failed unit is not named: %s", tu_err());
    cr_expect(strstr(tu_err(), "rerun the same command"), "%s", tu_err());
    char p[1024];
    snprintf(p, sizeof p, "%s/compare.tsv", dir);
    cr_expect(!tu_exists(p), "the table was written under its final name");
    snprintf(p, sizeof p, "%s/compare.tsv.partial", dir);
    char *rows = lines_of(p, 0);
    cr_assert(rows, "no partial file");
    cr_expect_eq(tu_count_lines(rows), 1 + 5, "the 5 other units' rows are not kept: %s", rows);
    free(rows);
}

Test(shard_mpi, paper_under_mpirun)
{
    need_mpi();
    const char *cap = capture(), *one = tu_tmp("paper-one"), *two = tu_tmp("paper-two");
    snprintf(cmd, sizeof cmd, "paper '%s' --out '%s' --quick", cap, one);
    ripple_ok("RIPPLE_NUM_THREADS=1", cmd);
    snprintf(cmd, sizeof cmd, "paper '%s' --out '%s' --quick", cap, two);
    int rc = mpi_ripple(2, cmd);
    cr_assert_eq(rc, 0, "mpirun paper: exit %d: %s", rc, tu_err());
    static const char *const tables[] = {"window/window.tsv", "groups/groups.tsv", "groups/groups_heat.tsv",
        "steps/steps.tsv", "fit/fit_steps.tsv", "fit/fit.tsv", "compare/compare.tsv", "compare/compare_summary.tsv"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/%s", one, tables[i]);
        snprintf(b, sizeof b, "%s/%s", two, tables[i]);
        char *x = lines_of(a, 0), *y = lines_of(b, 0);
        cr_assert(x && y, "cannot read %s or %s", a, b);
        cr_expect_str_eq(x, y, "rows of %s differ", tables[i]);
        free(x);
        free(y);
    }
    snprintf(cmd, sizeof cmd, "%s/index.md", two);
    cr_expect(tu_exists(cmd), "no index");
}
