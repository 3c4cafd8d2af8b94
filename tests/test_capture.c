/* Capture files: writer/reader round trips (float32, float16), info and
 * entries, head ranges, every rejection of capture-format.md (malformed files
 * are made by editing a valid one with the HDF5 C API), the writer's
 * temporary file, and files written by h5py (skipped without h5py). */
#define _GNU_SOURCE /* unshare, for the full-filesystem test */
#include <criterion/criterion.h>

#include <hdf5.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

/* Small capture: 3 heads, 5 text tokens + 2x3x4 video tokens + 3 more,
 * head_dim 16 with groups t:4 h:6 w:6. */
#define NH 3
#define SEQ 32
#define DIM 16
#define NEL ((size_t)NH * SEQ * DIM)

static ripple_capture_info small_info(void)
{
    ripple_capture_info in;
    memset(&in, 0, sizeof in);
    ripple_layout *l = &in.layout;
    l->grid[0] = 2;
    l->grid[1] = 3;
    l->grid[2] = 4;
    l->video_offset = 5;
    l->seq_len = SEQ;
    l->head_dim = DIM;
    l->num_groups = 3;
    l->group_axis[0] = RIPPLE_AXIS_T;
    l->group_axis[1] = RIPPLE_AXIS_H;
    l->group_axis[2] = RIPPLE_AXIS_W;
    l->group_len[0] = 4;
    l->group_len[1] = 6;
    l->group_len[2] = 6;
    in.num_heads = NH;
    in.num_layers = 4;
    in.num_steps = 30;
    snprintf(in.model, sizeof in.model, "tiny-vdit");
    snprintf(in.prompt, sizeof in.prompt, "a red ball rolls");
    snprintf(in.source, sizeof in.source, "test_capture");
    snprintf(in.guidance, sizeof in.guidance, "cond");
    in.has_seed = 1;
    in.seed = 42;
    return in;
}

/* Values k/64 with |k| <= 1000: exact in float16 (10-bit k, power-of-two scale). */
static void fill_exact(float *x, size_t n, int salt)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((long)((i * 37 + (size_t)salt * 101) % 2001) - 1000) / 64.0f;
}

/* Entries written out of order; (10, 1) has o. */
static const int put_order[][2] = {{20, 0}, {0, 1}, {10, 1}, {0, 0}, {10, 0}};
#define NPUT 5

static float *tensor_of(int step, int layer, int t, int exact, uint64_t seed)
{
    float *x = malloc(NEL * sizeof *x);
    cr_assert(x);
    if (exact) {
        fill_exact(x, NEL, step * 16 + layer * 4 + t);
    } else {
        tu_rng r = {seed + (uint64_t)(step * 16 + layer * 4 + t)};
        tu_fill_normal(&r, x, NEL, 3.0);
        x[0] = 1e-6f;     /* subnormal in half */
        x[1] = -3e-8f;    /* rounds to -0 or the smallest subnormal */
        x[2] = 65504.0f;  /* largest half */
    }
    return x;
}

/* Writes the small capture with elem_bytes (2 or 4). */
static void write_small(const char *path, int eb, int exact, uint64_t seed)
{
    ripple_capture_info in = small_info();
    ripple_capture_writer *w = NULL;
    cr_assert_eq(ripple_capture_writer_open(path, &in, eb, &w), RIPPLE_OK, "%s", ripple_last_error());
    for (int i = 0; i < NPUT; i++) {
        int s = put_order[i][0], l = put_order[i][1];
        float *q = tensor_of(s, l, 0, exact, seed), *k = tensor_of(s, l, 1, exact, seed),
              *v = tensor_of(s, l, 2, exact, seed);
        float *o = s == 10 && l == 1 ? tensor_of(s, l, 3, exact, seed) : NULL;
        cr_assert_eq(ripple_capture_writer_put(w, s, l, 1000.0 - s * 10, q, k, v, o), RIPPLE_OK, "%s",
                     ripple_last_error());
        free(q), free(k), free(v), free(o);
    }
    cr_assert_eq(ripple_capture_writer_commit(w), RIPPLE_OK, "%s", ripple_last_error());
}

/* Every hid_t the library opened was closed again (files and everything in them). */
static void assert_no_open_ids(void)
{
    ssize_t n = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
    cr_assert_eq(n, 0, "%zd HDF5 objects left open", n);
}

static char *tmp_path(const char *name)
{
    char *p = strdup(tu_tmp_path(name));
    cr_assert(p);
    return p;
}

/* float16 rounding (round to nearest): |err| <= 2^-11 |x| for |x| >= 2^-14
 * (half an ulp of an 11-bit significand), and <= 2^-25 (half the spacing of
 * subnormals, 2^-24) below. Both bounds together cover every finite x. */
static double half_tol(double x) { return ldexp(fabs(x), -11) + ldexp(1.0, -25); }

static void check_roundtrip(int eb, int exact)
{
    char *path = tmp_path(eb == 2 ? (exact ? "rt16x.h5" : "rt16.h5") : "rt32.h5");
    const uint64_t seed = 1234;
    cr_log_info("seed %llu", (unsigned long long)seed);
    write_small(path, eb, exact, seed);
    ripple_capture *cap = NULL;
    cr_assert_eq(ripple_capture_open(path, &cap), RIPPLE_OK, "%s", ripple_last_error());
    cr_assert_str_eq(ripple_capture_path(cap), path);
    cr_assert_eq(ripple_capture_num_entries(cap), NPUT);
    float *got = malloc(NEL * sizeof *got);
    for (int i = 0; i < NPUT; i++) {
        const ripple_capture_entry *e = ripple_capture_get_entry(cap, i);
        for (int t = 0; t < 4; t++) {
            if (t == 3 && !e->has_o) {
                cr_assert_eq(ripple_capture_read(cap, e->step, e->layer, RIPPLE_TENSOR_O, 0, NH, got),
                             RIPPLE_ERR_NOT_FOUND);
                continue;
            }
            cr_assert_eq(ripple_capture_read(cap, e->step, e->layer, (ripple_tensor)t, 0, NH, got),
                         RIPPLE_OK, "%s", ripple_last_error());
            float *want = tensor_of(e->step, e->layer, t, exact, seed);
            for (size_t j = 0; j < NEL; j++) {
                if (eb == 4 || exact)
                    cr_assert_eq(got[j], want[j], "step %d layer %d t %d [%zu]: %g != %g", e->step,
                                 e->layer, t, j, got[j], want[j]);
                else
                    cr_assert_leq(fabs((double)got[j] - want[j]), half_tol(want[j]),
                                  "[%zu]: %.9g vs %.9g", j, got[j], want[j]);
            }
            free(want);
        }
    }
    free(got);
    ripple_capture_close(cap);
    assert_no_open_ids();
    free(path);
}

Test(capture, roundtrip_float32) { check_roundtrip(4, 0); }
Test(capture, roundtrip_float16_exact) { check_roundtrip(2, 1); }
Test(capture, roundtrip_float16_rounded) { check_roundtrip(2, 0); }

Test(capture, info_entries_find_bytes)
{
    char *path = tmp_path("info.h5");
    write_small(path, 2, 1, 0);
    ripple_capture *cap = NULL;
    cr_assert_eq(ripple_capture_open(path, &cap), RIPPLE_OK, "%s", ripple_last_error());
    const ripple_capture_info *in = ripple_capture_get_info(cap);
    ripple_capture_info want = small_info();
    cr_assert_eq(memcmp(in->layout.grid, want.layout.grid, sizeof want.layout.grid), 0);
    cr_assert_eq(in->layout.seq_len, SEQ);
    cr_assert_eq(in->layout.video_offset, 5);
    cr_assert_eq(in->layout.head_dim, DIM);
    cr_assert_eq(in->layout.num_groups, 3);
    for (int g = 0; g < 3; g++) {
        cr_assert_eq(in->layout.group_axis[g], want.layout.group_axis[g]);
        cr_assert_eq(in->layout.group_len[g], want.layout.group_len[g]);
    }
    cr_assert_str_eq(in->rope_axes, "thw");
    cr_assert_str_eq(in->model, "tiny-vdit");
    cr_assert_str_eq(in->prompt, "a red ball rolls");
    cr_assert_str_eq(in->source, "test_capture");
    cr_assert_str_eq(in->guidance, "cond");
    cr_assert(in->has_seed);
    cr_assert_eq(in->seed, 42);
    cr_assert_eq(in->num_heads, NH);
    cr_assert_eq(in->num_layers, 4);
    cr_assert_eq(in->num_steps, 30);
    cr_assert_float_eq(in->scale, 0.25, 1e-15); /* default 1/sqrt(16) */

    const int sorted[][2] = {{0, 0}, {0, 1}, {10, 0}, {10, 1}, {20, 0}};
    cr_assert_eq(ripple_capture_num_entries(cap), 5);
    for (size_t i = 0; i < 5; i++) {
        const ripple_capture_entry *e = ripple_capture_get_entry(cap, i);
        cr_assert_eq(e->step, sorted[i][0]);
        cr_assert_eq(e->layer, sorted[i][1]);
        cr_assert_eq(e->timestep, 1000.0 - e->step * 10);
        cr_assert_eq(e->has_o, e->step == 10 && e->layer == 1);
        cr_assert_eq(e->elem_bytes, 2);
        cr_assert_eq(ripple_capture_find(cap, e->step, e->layer), e);
    }
    cr_assert_null(ripple_capture_get_entry(cap, 5));
    cr_assert_null(ripple_capture_find(cap, 20, 1));
    cr_assert_null(ripple_capture_find(cap, 5, 0));
    /* 5 entries x (q, k, v) + one o, each NEL halves */
    cr_assert_eq(ripple_capture_data_bytes(cap), (int64_t)(16 * NEL * 2));
    ripple_capture_close(cap);
    free(path);
}

Test(capture, head_range_and_not_found)
{
    char *path = tmp_path("heads.h5");
    write_small(path, 4, 0, 7);
    ripple_capture *cap = NULL;
    cr_assert_eq(ripple_capture_open(path, &cap), RIPPLE_OK, "%s", ripple_last_error());
    float *all = malloc(NEL * sizeof *all), *part = malloc(NEL * sizeof *part);
    cr_assert_eq(ripple_capture_read(cap, 10, 1, RIPPLE_TENSOR_K, 0, NH, all), RIPPLE_OK);
    cr_assert_eq(ripple_capture_read(cap, 10, 1, RIPPLE_TENSOR_K, 1, 2, part), RIPPLE_OK);
    cr_assert_eq(memcmp(part, all + SEQ * DIM, 2 * SEQ * DIM * sizeof(float)), 0);
    cr_assert_eq(ripple_capture_read(cap, 10, 1, RIPPLE_TENSOR_K, 2, 1, part), RIPPLE_OK);
    cr_assert_eq(memcmp(part, all + 2 * SEQ * DIM, SEQ * DIM * sizeof(float)), 0);

    cr_assert_eq(ripple_capture_read(cap, 10, 1, RIPPLE_TENSOR_K, 2, 2, part), RIPPLE_ERR_NOT_FOUND);
    cr_assert(strstr(ripple_last_error(), "heads [2, 4)"), "%s", ripple_last_error());
    cr_assert_eq(ripple_capture_read(cap, 10, 1, RIPPLE_TENSOR_K, -1, 1, part), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_capture_read(cap, 5, 0, RIPPLE_TENSOR_Q, 0, 1, part), RIPPLE_ERR_NOT_FOUND);
    cr_assert(strstr(ripple_last_error(), "step 5 layer 0"), "%s", ripple_last_error());
    cr_assert(strstr(ripple_last_error(), "steps present: 0, 10, 20"), "%s", ripple_last_error());
    cr_assert(strstr(ripple_last_error(), path), "%s", ripple_last_error());
    cr_assert_eq(ripple_capture_read(cap, 20, 3, RIPPLE_TENSOR_Q, 0, 1, part), RIPPLE_ERR_NOT_FOUND);
    cr_assert(strstr(ripple_last_error(), "layers present at step 20: 0"), "%s", ripple_last_error());
    cr_assert_eq(ripple_capture_read(cap, 0, 0, RIPPLE_TENSOR_O, 0, 1, part), RIPPLE_ERR_NOT_FOUND);
    cr_assert(strstr(ripple_last_error(), "/steps/000/layers/000/o"), "%s", ripple_last_error());
    free(all);
    free(part);
    ripple_capture_close(cap);
    free(path);
}

/* ------------------------------------------------------- writer behaviour */

/* Number of directory entries of path's folder whose name starts with path's base name. */
static int count_like(const char *path)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    cr_assert(slash);
    *slash = '\0';
    const char *base = slash + 1;
    int n = 0;
    DIR *d = opendir(dir);
    cr_assert(d);
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, base, strlen(base)) == 0) n++;
    closedir(d);
    return n;
}

Test(capture, writer_abort_leaves_nothing)
{
    char *path = tmp_path("aborted.h5");
    ripple_capture_info in = small_info();
    ripple_capture_writer *w = NULL;
    float *q = tensor_of(0, 0, 0, 1, 0);
    cr_assert_eq(ripple_capture_writer_open(path, &in, 2, &w), RIPPLE_OK, "%s", ripple_last_error());
    cr_assert_eq(ripple_capture_writer_put(w, 0, 0, 1.0, q, q, q, NULL), RIPPLE_OK);
    cr_assert_eq(count_like(path), 1, "the temporary file exists while writing");
    ripple_capture_writer_abort(w);
    cr_assert_eq(count_like(path), 0, "abort must remove the temporary file");
    assert_no_open_ids();
    FILE *f = fopen(path, "rb");
    cr_assert_null(f);
    ripple_capture_writer_abort(NULL);
    free(q);
    free(path);
}

Test(capture, writer_refuses_bad_input)
{
    char *path = tmp_path("refuse.h5");
    ripple_capture_info in = small_info();
    ripple_capture_writer *w = NULL;
    float *q = tensor_of(0, 0, 0, 1, 0), *k = tensor_of(0, 0, 1, 1, 0);
    cr_assert_eq(ripple_capture_writer_open(path, &in, 2, &w), RIPPLE_OK, "%s", ripple_last_error());
    k[1 * SEQ * DIM + 3 * DIM + 2] = 70000.0f;
    cr_assert_eq(ripple_capture_writer_put(w, 0, 0, 1.0, q, k, q, NULL), RIPPLE_ERR_INVALID);
    cr_assert(strstr(ripple_last_error(), " k:"), "%s", ripple_last_error());
    cr_assert(strstr(ripple_last_error(), "[1, 3, 2]"), "%s", ripple_last_error());
    k[1 * SEQ * DIM + 3 * DIM + 2] = 65504.0f; /* the largest half is fine */
    q[5] = NAN;
    cr_assert_eq(ripple_capture_writer_put(w, 0, 0, 1.0, q, k, q, NULL), RIPPLE_ERR_NONFINITE);
    cr_assert(strstr(ripple_last_error(), " q:"), "%s", ripple_last_error());
    q[5] = INFINITY;
    cr_assert_eq(ripple_capture_writer_put(w, 0, 0, 1.0, k, k, k, q), RIPPLE_ERR_NONFINITE);
    cr_assert(strstr(ripple_last_error(), " o:"), "%s", ripple_last_error());
    q[5] = 0;
    cr_assert_eq(ripple_capture_writer_put(w, 0, 0, NAN, q, k, q, NULL), RIPPLE_ERR_NONFINITE);
    cr_assert_eq(ripple_capture_writer_put(w, 30, 0, 1.0, q, k, q, NULL), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_capture_writer_put(w, 0, 4, 1.0, q, k, q, NULL), RIPPLE_ERR_INVALID);
    cr_assert_eq(ripple_capture_writer_put(w, 0, 0, 1.0, q, NULL, q, NULL), RIPPLE_ERR_INVALID);
    /* refused input writes nothing: the writer goes on */
    cr_assert_eq(ripple_capture_writer_put(w, 0, 0, 1.0, q, k, q, NULL), RIPPLE_OK, "%s", ripple_last_error());
    cr_assert_eq(ripple_capture_writer_put(w, 0, 0, 1.0, q, k, q, NULL), RIPPLE_ERR_INVALID);
    cr_assert(strstr(ripple_last_error(), "already written"), "%s", ripple_last_error());
    cr_assert_eq(ripple_capture_writer_put(w, 0, 1, 2.0, q, k, q, NULL), RIPPLE_ERR_INVALID,
                 "a second timestep for one step");
    cr_assert_eq(ripple_capture_writer_commit(w), RIPPLE_OK, "%s", ripple_last_error());
    ripple_capture *cap = NULL;
    cr_assert_eq(ripple_capture_open(path, &cap), RIPPLE_OK, "%s", ripple_last_error());
    cr_assert_eq(ripple_capture_num_entries(cap), 1);
    ripple_capture_close(cap);
    assert_no_open_ids();

    /* writer_open rejects a bad layout and elem_bytes */
    in.layout.seq_len = 10;
    cr_assert_eq(ripple_capture_writer_open(path, &in, 2, &w), RIPPLE_ERR_INVALID);
    in = small_info();
    cr_assert_eq(ripple_capture_writer_open(path, &in, 8, &w), RIPPLE_ERR_INVALID);
    snprintf(in.rope_axes, sizeof in.rope_axes, "hwt");
    cr_assert_eq(ripple_capture_writer_open(path, &in, 4, &w), RIPPLE_ERR_INVALID);
    free(q);
    free(k);
    free(path);
}

/* A FIFO, a folder, a link to a FIFO and (as root) a character device like
 * /dev/full at the final path are refused: committing would rename over
 * them (run as root, synth once replaced a device node with its file). */
Test(capture, writer_refuses_non_regular_target)
{
    ripple_capture_info in = small_info();
    ripple_capture_writer *w = (ripple_capture_writer *)&w;
    char *fifo = tmp_path("target.fifo"), *dir = tmp_path("target.dir"), *link = tmp_path("target.link"),
         *dev = tmp_path("target.dev");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(mkdir(dir, 0700), 0);
    cr_assert_eq(symlink(fifo, link), 0);
    struct {
        const char *path, *kind;
    } cases[] = {{fifo, "is a FIFO"}, {dir, "is a folder"}, {link, "is a FIFO"}, {dev, "is a character device"}};
    int have_dev = mknod(dev, S_IFCHR | 0600, makedev(1, 7)) == 0; /* the numbers of /dev/full */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].path == dev && !have_dev) {
            cr_log_warn("mknod needs root: the device case is not run");
            continue;
        }
        cr_assert_eq(ripple_capture_writer_open(cases[i].path, &in, 4, &w), RIPPLE_ERR_IO, "%s", cases[i].path);
        cr_assert_null(w);
        cr_assert(strstr(ripple_last_error(), cases[i].kind) && strstr(ripple_last_error(), "not a regular file"),
                  "%s", ripple_last_error());
        cr_assert_eq(count_like(cases[i].path), 1, "a temporary file was left beside %s", cases[i].path);
    }
    struct stat st;
    cr_assert(stat(fifo, &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO was replaced");
    cr_assert(lstat(link, &st) == 0 && S_ISLNK(st.st_mode), "the link was replaced");
    if (have_dev) cr_assert(stat(dev, &st) == 0 && S_ISCHR(st.st_mode), "the device node was replaced");

    /* a FIFO that appears while writing is refused at commit */
    char *late = tmp_path("late.h5");
    float *q = tensor_of(0, 0, 0, 1, 0);
    cr_assert_eq(ripple_capture_writer_open(late, &in, 4, &w), RIPPLE_OK, "%s", ripple_last_error());
    cr_assert_eq(ripple_capture_writer_put(w, 0, 0, 1.0, q, q, q, NULL), RIPPLE_OK, "%s", ripple_last_error());
    cr_assert_eq(mkfifo(late, 0600), 0);
    cr_assert_eq(ripple_capture_writer_commit(w), RIPPLE_ERR_IO);
    cr_assert(strstr(ripple_last_error(), "is a FIFO"), "%s", ripple_last_error());
    cr_assert(stat(late, &st) == 0 && S_ISFIFO(st.st_mode));
    cr_assert_eq(count_like(late), 1, "the temporary file was left");
    /* a regular file is replaced, as before */
    unlink(late);
    FILE *f = fopen(late, "w");
    fputs("old", f);
    fclose(f);
    cr_assert_eq(ripple_capture_writer_open(late, &in, 4, &w), RIPPLE_OK, "%s", ripple_last_error());
    cr_assert_eq(ripple_capture_writer_put(w, 0, 0, 1.0, q, q, q, NULL), RIPPLE_OK, "%s", ripple_last_error());
    cr_assert_eq(ripple_capture_writer_commit(w), RIPPLE_OK, "%s", ripple_last_error());
    ripple_capture *cap = NULL;
    cr_assert_eq(ripple_capture_open(late, &cap), RIPPLE_OK, "%s", ripple_last_error());
    ripple_capture_close(cap);
    assert_no_open_ids();
    free(q);
    free(fifo), free(dir), free(link), free(dev), free(late);
}

/* ------------------------------------------------- a full filesystem */

/* In a child process with a private mount namespace (as root, or through a
 * user namespace where the kernel allows one), mounts a tmpfs of `size` at
 * dir and runs fn(dir); the child then shuts HDF5 down as its exit handler
 * would (H5close): a dangling HDF5 id would crash it there. Returns fn's result, 77 when
 * no tmpfs can be mounted here, or 128 + the signal that killed the child. */
static int on_small_fs(const char *dir, const char *size, int (*fn)(const char *dir))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) { /* no cr_ calls in the child: Criterion would hear from a stranger */
        int ok = unshare(CLONE_NEWNS) == 0;
        if (!ok) { /* unprivileged: root of a new user namespace */
            uid_t uid = getuid();
            gid_t gid = getgid();
            ok = unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0;
            char map[64];
            FILE *f;
            if (ok && (f = fopen("/proc/self/setgroups", "w"))) fputs("deny", f), fclose(f);
            snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
            if (ok && (f = fopen("/proc/self/uid_map", "w"))) fputs(map, f), ok = fclose(f) == 0;
            snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
            if (ok && (f = fopen("/proc/self/gid_map", "w"))) fputs(map, f), ok = fclose(f) == 0;
        }
        char opts[64];
        snprintf(opts, sizeof opts, "size=%s", size);
        if (!ok || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 || (mkdir(dir, 0700) != 0 && errno != EEXIST) ||
            mount("tmpfs", dir, "tmpfs", 0, opts) != 0)
            _exit(77);
        int rc = fn(dir);
        H5close(); /* what HDF5's exit handler does: a dangling id crashes here */
        fflush(NULL);
        _exit(rc); /* not exit(): Criterion's own exit handlers belong to the parent */
    }
    cr_assert_gt(pid, 0, "fork failed");
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* Files in dir (. and .. not counted). */
static int entries_in(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d) closedir(d);
    return n;
}

#define FS_CHECK(cond, ...)                                                                      \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "on_small_fs: %s:%d: ", __FILE__, __LINE__);                         \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fputc('\n', stderr);                                                                 \
            return 1;                                                                            \
        }                                                                                        \
    } while (0)

/* Puts until the filesystem is full: the failing put says so, nothing is
 * left behind, and every later call fails cleanly. */
static int fill_up(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/full.h5", dir);
    ripple_capture_info in = small_info();
    ripple_capture_writer *w = NULL;
    FS_CHECK(ripple_capture_writer_open(path, &in, 4, &w) == RIPPLE_OK, "%s", ripple_last_error());
    float *x = malloc(NEL * sizeof *x);
    FS_CHECK(x, "out of memory");
    fill_exact(x, NEL, 1);
    int s = 0, puts = 0;
    ripple_status st = RIPPLE_OK;
    for (; s < 30 && (st = ripple_capture_writer_put(w, s, 0, (double)s, x, x, x, x)) == RIPPLE_OK; s++) puts++;
    free(x);
    FS_CHECK(st == RIPPLE_ERR_IO, "put %d: status %d (%s)", s, st, ripple_last_error());
    FS_CHECK(strstr(ripple_last_error(), "No space left on device"), "%s", ripple_last_error());
    FS_CHECK(entries_in(dir) == 0, "%d files left after the failed put", entries_in(dir));
    float *y = calloc(NEL, sizeof *y);
    FS_CHECK(y && ripple_capture_writer_put(w, 29, 1, 1.0, y, y, y, NULL) == RIPPLE_ERR_IO, "a put after the failure");
    free(y);
    FS_CHECK(ripple_capture_writer_commit(w) == RIPPLE_ERR_IO, "commit after the failure");
    FS_CHECK(entries_in(dir) == 0, "files left after commit");
    fprintf(stderr, "on_small_fs: %d puts fitted\n", puts);
    return 0;
}

/* A capture that fits is written whole, and no reserved space stays
 * allocated past its end. */
static int fits(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/fits.h5", dir);
    ripple_capture_info in = small_info();
    ripple_capture_writer *w = NULL;
    float *x = malloc(NEL * sizeof *x);
    FS_CHECK(x, "out of memory");
    fill_exact(x, NEL, 2);
    FS_CHECK(ripple_capture_writer_open(path, &in, 2, &w) == RIPPLE_OK, "%s", ripple_last_error());
    for (int i = 0; i < NPUT; i++)
        FS_CHECK(ripple_capture_writer_put(w, put_order[i][0], put_order[i][1], 1.0 - put_order[i][0] / 100.0, x, x,
                                           x, i ? NULL : x) == RIPPLE_OK,
                 "%s", ripple_last_error());
    free(x);
    FS_CHECK(ripple_capture_writer_commit(w) == RIPPLE_OK, "%s", ripple_last_error());
    ripple_capture *cap = NULL;
    FS_CHECK(ripple_capture_open(path, &cap) == RIPPLE_OK, "%s", ripple_last_error());
    ripple_capture_close(cap);
    struct stat st;
    FS_CHECK(stat(path, &st) == 0, "stat");
    FS_CHECK((long long)st.st_blocks * 512 <= (long long)st.st_size + 8192, "%lld bytes allocated for %lld",
             (long long)st.st_blocks * 512, (long long)st.st_size);
    FS_CHECK(entries_in(dir) == 1, "%d files", entries_in(dir));
    return 0;
}

/* ripple synth on a full filesystem: exit 1 with the reason, never a signal
 * (it segfaulted in HDF5's exit handler), and nothing left behind. */
static int synth_full(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' synth '%s/s.h5' --grid 4,8,8 --heads 2 --steps 3 --layers 2 2>'%s/../synth_err.txt'",
             RIPPLE_EXE, dir, dir);
    int st = system(cmd);
    FS_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1, "synth: status %d", st);
    FS_CHECK(entries_in(dir) == 0, "synth left %d files", entries_in(dir));
    return 0;
}

Test(capture, writer_on_full_filesystem)
{
    char *dir = tmp_path("smallfs");
    int rc = on_small_fs(dir, "160k", fill_up);
    if (rc == 77) cr_skip("cannot mount a small tmpfs here (needs root or user namespaces)");
    cr_assert_eq(rc, 0, "filling a 160 KiB filesystem: %d", rc);
    cr_assert_eq(on_small_fs(dir, "48k", fill_up), 0, "filling a 48 KiB filesystem");
    cr_assert_eq(on_small_fs(dir, "1m", fits), 0, "a capture that fits");
    cr_assert_eq(on_small_fs(dir, "64k", synth_full), 0, "ripple synth on 64 KiB");
    const char *err = tu_slurp(tu_tmp_path("synth_err.txt"));
    cr_assert(strstr(err, "No space left on device") && tu_count_lines(err) == 1, "synth said: %s", err);
    rmdir(dir);
    free(dir);
}

/* ------------------------------------------- malformed files (HDF5 C API) */

typedef void (*edit_fn)(hid_t file);

static void set_i64(hid_t obj, const char *name, int n, const int64_t *v, hid_t ftype)
{
    if (H5Aexists(obj, name) > 0) cr_assert_geq(H5Adelete(obj, name), 0);
    hsize_t d = (hsize_t)n;
    hid_t sp = n ? H5Screate_simple(1, &d, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(a, 0);
    cr_assert_geq(H5Awrite(a, H5T_NATIVE_INT64, v), 0);
    H5Aclose(a);
    H5Sclose(sp);
}

static void set_int(hid_t obj, const char *name, int64_t v) { set_i64(obj, name, 0, &v, H5T_STD_I64LE); }

/* Fixed-length string attribute (numpy 'S'), padded as asked. */
static void set_fixed_str(hid_t obj, const char *name, const char *v, size_t size, H5T_str_t pad)
{
    if (H5Aexists(obj, name) > 0) cr_assert_geq(H5Adelete(obj, name), 0);
    char buf[64];
    memset(buf, pad == H5T_STR_SPACEPAD ? ' ' : 0, sizeof buf);
    memcpy(buf, v, strlen(v));
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, size);
    H5Tset_strpad(t, pad);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(a, 0);
    cr_assert_geq(H5Awrite(a, t, buf), 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
}

/* Replaces dataset dpath by a contiguous one of type ftype and shape dims,
 * filled from data (memory type mtype), or zeros when data is NULL. */
static void replace_dataset(hid_t file, const char *dpath, hid_t ftype, const hsize_t dims[3],
                            hid_t mtype, const void *data)
{
    if (H5Lexists(file, dpath, H5P_DEFAULT) > 0) cr_assert_geq(H5Ldelete(file, dpath, H5P_DEFAULT), 0);
    hid_t sp = H5Screate_simple(3, dims, NULL);
    hid_t ds = H5Dcreate2(file, dpath, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(ds, 0, "create %s", dpath);
    if (data) cr_assert_geq(H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
    H5Dclose(ds);
    H5Sclose(sp);
}

/* A fresh valid float32 capture at `name`, edited by fn. */
static char *edited(const char *name, edit_fn fn)
{
    char *path = tmp_path(name);
    write_small(path, 4, 1, 0);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    fn(f);
    cr_assert_geq(H5Fclose(f), 0);
    return path;
}

/* Opens path, expects status want and every non-NULL needle in the message. */
static void expect_reject(const char *path, ripple_status want, const char *n1, const char *n2)
{
    ripple_capture *cap = (ripple_capture *)&cap;
    ripple_status s = ripple_capture_open(path, &cap);
    const char *msg = ripple_last_error();
    cr_log_info("%s", msg);
    cr_assert_eq(s, want, "status %d (%s), want %d: %s", s, ripple_status_str(s), want, msg);
    cr_assert_null(cap);
    cr_assert(strstr(msg, path), "message does not name the file: %s", msg);
    if (n1) cr_assert(strstr(msg, n1), "'%s' not in: %s", n1, msg);
    if (n2) cr_assert(strstr(msg, n2), "'%s' not in: %s", n2, msg);
}

static void ed_no_head_dim(hid_t f) { H5Adelete(f, "head_dim"); }
static void ed_no_format(hid_t f) { H5Adelete(f, "format"); }
static void ed_format(hid_t f) { set_fixed_str(f, "format", "other-format", 12, H5T_STR_NULLPAD); }
static void ed_version(hid_t f) { set_int(f, "format_version", 2); }
static void ed_seq_short(hid_t f) { set_int(f, "seq_len", 28); } /* 5 + 24 = 29 needed */
static void ed_split(hid_t f)
{
    int64_t v[3] = {4, 6, 7};
    set_i64(f, "rope_split", 3, v, H5T_STD_I32LE);
}
static void ed_zero_heads(hid_t f) { set_int(f, "num_heads", 0); }
static void ed_neg_grid(hid_t f)
{
    int64_t v[3] = {2, -3, 4};
    set_i64(f, "grid", 3, v, H5T_STD_I64LE);
}
static void ed_huge(hid_t f)
{
    set_int(f, "num_heads", INT64_C(1) << 40);
    set_int(f, "seq_len", INT64_C(1) << 40);
}
static void ed_huge_grid(hid_t f)
{
    int64_t v[3] = {INT64_C(1) << 40, INT64_C(1) << 40, INT64_C(1) << 40};
    set_i64(f, "grid", 3, v, H5T_STD_I64LE);
}
static void ed_bad_axes(hid_t f) { set_fixed_str(f, "rope_axes", "thx", 3, H5T_STR_NULLPAD); }
/* The group lengths wrap around to 8 when summed in int64: once accepted
 * (8 <= head_dim 16), then eval ran past its buffers. */
static void ed_split_overflow(hid_t f)
{
    int64_t v[3] = {INT64_MAX, INT64_MAX, 10};
    set_i64(f, "rope_split", 3, v, H5T_STD_I64LE);
}
static void ed_split_wrap2(hid_t f)
{
    int64_t v[3] = {INT64_MAX, 2, 3};
    set_i64(f, "rope_split", 3, v, H5T_STD_I64LE);
}
static void ed_split_negative(hid_t f)
{
    int64_t v[3] = {-4, 10, 6};
    set_i64(f, "rope_split", 3, v, H5T_STD_I64LE);
}
static void ed_split_min(hid_t f)
{
    int64_t v[3] = {INT64_MIN, 6, 6};
    set_i64(f, "rope_split", 3, v, H5T_STD_I64LE);
}
static void ed_split_u64(hid_t f)
{
    uint64_t v[3] = {UINT64_MAX, 6, 6};
    if (H5Aexists(f, "rope_split") > 0) H5Adelete(f, "rope_split");
    hsize_t d = 3;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    hid_t a = H5Acreate2(f, "rope_split", H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(H5Awrite(a, H5T_NATIVE_UINT64, v), 0);
    H5Aclose(a);
    H5Sclose(sp);
}
/* T*H*W = 2^63: each factor allowed, the product past int64 */
static void ed_grid_product(hid_t f)
{
    int64_t v[3] = {INT64_C(1) << 31, INT64_C(1) << 31, 2};
    set_i64(f, "grid", 3, v, H5T_STD_I64LE);
}
/* T*H*W = 2^60 fits but not in seq_len */
static void ed_grid_big(hid_t f)
{
    int64_t v[3] = {INT64_C(1) << 30, INT64_C(1) << 29, 2};
    set_i64(f, "grid", 3, v, H5T_STD_I64LE);
}
static void ed_offset_max(hid_t f) { set_int(f, "video_offset", INT64_MAX); }
static void ed_head_dim_huge(hid_t f) { set_int(f, "head_dim", INT64_MAX); }
static void ed_heads_product(hid_t f) { set_int(f, "num_heads", INT64_C(1) << 58); } /* x 32 x 16 = 2^67 */
static void ed_neg_offset(hid_t f) { set_int(f, "video_offset", -1); }
static void ed_neg_steps(hid_t f) { set_int(f, "num_steps", -30); }
static void ed_shape(hid_t f)
{
    hsize_t d[3] = {NH, SEQ - 1, DIM};
    replace_dataset(f, "/steps/000/layers/001/q", H5T_IEEE_F32LE, d, 0, NULL);
}
static void ed_f64(hid_t f)
{
    hsize_t d[3] = {NH, SEQ, DIM};
    replace_dataset(f, "/steps/010/layers/000/k", H5T_IEEE_F64LE, d, 0, NULL);
}
static void ed_i32(hid_t f)
{
    hsize_t d[3] = {NH, SEQ, DIM};
    replace_dataset(f, "/steps/010/layers/001/o", H5T_STD_I32LE, d, 0, NULL);
}
static void ed_rank(hid_t f)
{
    hsize_t d[1] = {NEL};
    H5Ldelete(f, "/steps/000/layers/000/v", H5P_DEFAULT);
    hid_t sp = H5Screate_simple(1, d, NULL);
    H5Dclose(H5Dcreate2(f, "/steps/000/layers/000/v", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                        H5P_DEFAULT));
    H5Sclose(sp);
}
static void ed_no_v(hid_t f) { H5Ldelete(f, "/steps/020/layers/000/v", H5P_DEFAULT); }
static void ed_no_timestep(hid_t f)
{
    hid_t g = H5Gopen2(f, "/steps/010", H5P_DEFAULT);
    H5Adelete(g, "timestep");
    H5Gclose(g);
}
static void ed_bad_name(hid_t f)
{
    H5Lmove(f, "/steps/020", f, "/steps/x20", H5P_DEFAULT, H5P_DEFAULT);
}
static void ed_step_range(hid_t f)
{
    H5Lmove(f, "/steps/020", f, "/steps/030", H5P_DEFAULT, H5P_DEFAULT);
}
/* seq_len that fits the grid but not the stored tensors */
static void ed_seq_mismatch(hid_t f) { set_int(f, "seq_len", SEQ + 1); }
static void ed_duplicate(hid_t f)
{
    H5Lcreate_hard(f, "/steps/020", f, "/steps/20", H5P_DEFAULT, H5P_DEFAULT);
}

/* ------------------------------------------------ attribute values (item 3) */

static void ed_axes_ttt(hid_t f) { set_fixed_str(f, "rope_axes", "ttt", 3, H5T_STR_NULLPAD); }
static void ed_axes_hth(hid_t f) { set_fixed_str(f, "rope_axes", "hth", 3, H5T_STR_NULLPAD); }
static void ed_axes_ww(hid_t f)
{
    int64_t split[2] = {4, 6};
    set_fixed_str(f, "rope_axes", "ww", 2, H5T_STR_NULLPAD);
    set_i64(f, "rope_split", 2, split, H5T_STD_I64LE);
}
static void set_timestep(hid_t f, double v)
{
    hid_t g = H5Gopen2(f, "/steps/010", H5P_DEFAULT);
    H5Adelete(g, "timestep");
    hid_t sp = H5Screate(H5S_SCALAR), a = H5Acreate2(g, "timestep", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(H5Awrite(a, H5T_NATIVE_DOUBLE, &v), 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Gclose(g);
}
static void ed_timestep_nan(hid_t f) { set_timestep(f, NAN); }
static void ed_timestep_inf(hid_t f) { set_timestep(f, INFINITY); }
static void ed_timestep_ninf(hid_t f) { set_timestep(f, -INFINITY); }
/* float32 NaN, converted by HDF5 on read */
static void ed_timestep_f32_nan(hid_t f)
{
    hid_t g = H5Gopen2(f, "/steps/020", H5P_DEFAULT);
    H5Adelete(g, "timestep");
    float v = NAN;
    hid_t sp = H5Screate(H5S_SCALAR), a = H5Acreate2(g, "timestep", H5T_IEEE_F32BE, sp, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(H5Awrite(a, H5T_NATIVE_FLOAT, &v), 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Gclose(g);
}
/* Terminal escape sequences and bytes that are not text, in what messages quote. */
static void ed_format_binary(hid_t f) { set_fixed_str(f, "format", "\x1b[2J\xff\x01ok", 8, H5T_STR_NULLPAD); }
static void ed_axes_tt_binary(hid_t f) { set_fixed_str(f, "rope_axes", "tt\x1b", 3, H5T_STR_NULLPAD); }
static void ed_axes_binary(hid_t f) { set_fixed_str(f, "rope_axes", "t\x07w", 3, H5T_STR_NULLPAD); }
static void ed_axes_long_binary(hid_t f) { set_fixed_str(f, "rope_axes", "\x1b]0;pwn\x07", 8, H5T_STR_NULLPAD); }
static void ed_group_binary(hid_t f)
{
    cr_assert_geq(H5Lmove(f, "/steps/020", f, "/steps/\x1b[31m\x7f", H5P_DEFAULT, H5P_DEFAULT), 0);
}
static void ed_layer_binary(hid_t f)
{
    cr_assert_geq(H5Lmove(f, "/steps/010/layers/001", f, "/steps/010/layers/1\x0a" "2", H5P_DEFAULT, H5P_DEFAULT),
                  0);
}

/* No byte of msg is a control character or outside ASCII. */
static void assert_printable(const char *msg)
{
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        cr_assert(*p >= 0x20 && *p < 0x7f, "raw byte 0x%02x in: %s", *p, msg);
}

Test(capture, rejects_attribute_values)
{
    struct {
        const char *name;
        edit_fn fn;
        const char *n1, *n2;
    } cases[] = {
        {"axes_ttt.h5", ed_axes_ttt, "'rope_axes' = 'ttt': letter 't' appears twice", NULL},
        {"axes_hth.h5", ed_axes_hth, "'rope_axes' = 'hth': letter 'h' appears twice", NULL},
        {"axes_ww.h5", ed_axes_ww, "'rope_axes' = 'ww': letter 'w' appears twice", NULL},
        {"axes_tt_bin.h5", ed_axes_tt_binary, "'rope_axes' = 'tt\\x1b': letter 't' appears twice", NULL},
        {"ts_nan.h5", ed_timestep_nan, "/steps/010: attribute 'timestep' = nan must be finite", NULL},
        {"ts_inf.h5", ed_timestep_inf, "/steps/010: attribute 'timestep' = inf must be finite", NULL},
        {"ts_ninf.h5", ed_timestep_ninf, "/steps/010: attribute 'timestep' = -inf must be finite", NULL},
        {"ts_f32nan.h5", ed_timestep_f32_nan, "/steps/020: attribute 'timestep'", "must be finite"},
        {"format_bin.h5", ed_format_binary, "format is '\\x1b[2J\\xff\\x01ok'", NULL},
        {"axes_bin.h5", ed_axes_binary, "'rope_axes' = 't\\x07w': letter '\\x07' is not t, h or w", NULL},
        {"axes_long_bin.h5", ed_axes_long_binary, "'rope_axes' = '\\x1b]0;pwn\\x07' has more than 3 letters", NULL},
        {"group_bin.h5", ed_group_binary, "/steps/\\x1b[31m\\x7f: group name is not a decimal step index", NULL},
        {"layer_bin.h5", ed_layer_binary, "/steps/010/layers/1\\x0a2: group name is not a decimal layer index",
         NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = edited(cases[i].name, cases[i].fn);
        expect_reject(path, RIPPLE_ERR_FORMAT, cases[i].n1, cases[i].n2);
        assert_printable(ripple_last_error());
        assert_no_open_ids();
        free(path);
    }
}

/* Free text keeps UTF-8 but shows control bytes escaped, so no consumer
 * prints a raw newline or escape sequence from a file. */
static void ed_text_controls(hid_t f)
{
    set_fixed_str(f, "model", "two\nlines\x1b[0m", 15, H5T_STR_NULLPAD);
    set_fixed_str(f, "prompt", "caf\xc3\xa9\ttab", 9, H5T_STR_NULLPAD);
}

Test(capture, text_attributes_escape_controls)
{
    char *path = edited("text_controls.h5", ed_text_controls);
    ripple_capture *cap = NULL;
    cr_assert_eq(ripple_capture_open(path, &cap), RIPPLE_OK, "%s", ripple_last_error());
    cr_assert_str_eq(ripple_capture_get_info(cap)->model, "two\\x0alines\\x1b[0m");
    cr_assert_str_eq(ripple_capture_get_info(cap)->prompt, "caf\xc3\xa9\\x09tab");
    ripple_capture_close(cap);
    free(path);
}

Test(capture, writer_refuses_repeated_axes)
{
    char *path = tmp_path("repeated_axes.h5");
    ripple_capture_info in = small_info();
    in.layout.group_axis[2] = RIPPLE_AXIS_T;
    ripple_capture_writer *w = (ripple_capture_writer *)&w;
    cr_assert_eq(ripple_capture_writer_open(path, &in, 4, &w), RIPPLE_ERR_INVALID);
    cr_assert_null(w);
    cr_assert(strstr(ripple_last_error(), "groups 0 and 2 are both along axis t"), "%s", ripple_last_error());
    free(path);
}

/* ------------------------------------------- storage (where values come from) */

static const hsize_t full_dims[3] = {NH, SEQ, DIM};

/* Replaces dpath by a float32 dataset made with dcpl (H5P_DEFAULT for none),
 * writing heads [0, heads) of exact values. */
static void replace_with(hid_t f, const char *dpath, hid_t dcpl, int heads)
{
    if (H5Lexists(f, dpath, H5P_DEFAULT) > 0) cr_assert_geq(H5Ldelete(f, dpath, H5P_DEFAULT), 0);
    hid_t sp = H5Screate_simple(3, full_dims, NULL);
    hid_t ds = H5Dcreate2(f, dpath, H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    cr_assert_geq(ds, 0, "create %s", dpath);
    float *x = malloc(NEL * sizeof *x);
    fill_exact(x, NEL, 0);
    hsize_t count[3] = {1, SEQ, DIM};
    hid_t msp = H5Screate_simple(3, count, NULL);
    for (int h = 0; h < heads; h++) {
        hsize_t start[3] = {(hsize_t)h, 0, 0};
        cr_assert_geq(H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL), 0);
        cr_assert_geq(H5Dwrite(ds, H5T_NATIVE_FLOAT, msp, sp, H5P_DEFAULT, x + (size_t)h * SEQ * DIM), 0);
    }
    free(x);
    H5Sclose(msp);
    H5Dclose(ds);
    H5Sclose(sp);
}

static hid_t chunked_dcpl(void)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk[3] = {1, SEQ, DIM};
    cr_assert_geq(H5Pset_chunk(dcpl, 3, chunk), 0);
    return dcpl;
}

static void ed_unwritten(hid_t f) { replace_with(f, "/steps/000/layers/000/q", H5P_DEFAULT, 0); }
static void ed_unwritten_chunked(hid_t f)
{
    hid_t dcpl = chunked_dcpl();
    replace_with(f, "/steps/010/layers/001/o", dcpl, 0);
    H5Pclose(dcpl);
}
static void ed_partial_chunks(hid_t f)
{
    hid_t dcpl = chunked_dcpl();
    replace_with(f, "/steps/010/layers/000/k", dcpl, 1);
    H5Pclose(dcpl);
}
/* Raw data in another file (here a text file): HDF5 reads it as floats. */
static void ed_external(hid_t f)
{
    const char *txt = tu_tmp_path("external.txt");
    FILE *t = fopen(txt, "w");
    for (size_t i = 0; i < NEL; i++) fputs("root", t);
    fclose(t);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    cr_assert_geq(H5Pset_external(dcpl, txt, 0, NEL * 4), 0);
    hid_t sp = H5Screate_simple(3, full_dims, NULL);
    H5Ldelete(f, "/steps/000/layers/001/v", H5P_DEFAULT);
    hid_t ds = H5Dcreate2(f, "/steps/000/layers/001/v", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    cr_assert_geq(ds, 0);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Pclose(dcpl);
}
/* A virtual dataset mapping another file's tensor. */
static void ed_virtual(hid_t f)
{
    char *src = tmp_path("vds_source.h5");
    write_small(src, 4, 1, 0);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t vsp = H5Screate_simple(3, full_dims, NULL), ssp = H5Screate_simple(3, full_dims, NULL);
    cr_assert_geq(H5Pset_virtual(dcpl, vsp, src, "/steps/000/layers/000/q", ssp), 0);
    H5Ldelete(f, "/steps/000/layers/000/q", H5P_DEFAULT);
    hid_t ds = H5Dcreate2(f, "/steps/000/layers/000/q", H5T_IEEE_F32LE, vsp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    cr_assert_geq(ds, 0);
    H5Dclose(ds);
    H5Sclose(vsp);
    H5Sclose(ssp);
    H5Pclose(dcpl);
    free(src);
}
static void ed_elink(hid_t f)
{
    H5Ldelete(f, "/steps/020/layers/000/k", H5P_DEFAULT);
    cr_assert_geq(H5Lcreate_external("/tmp/elsewhere.h5", "/secret", f, "/steps/020/layers/000/k", H5P_DEFAULT,
                                     H5P_DEFAULT), 0);
}
static void ed_elink_step(hid_t f)
{
    H5Ldelete(f, "/steps/010", H5P_DEFAULT);
    cr_assert_geq(H5Lcreate_external("other.h5", "/steps/010", f, "/steps/010", H5P_DEFAULT, H5P_DEFAULT), 0);
}
static void ed_soft(hid_t f)
{
    H5Ldelete(f, "/steps/000/layers/000/q", H5P_DEFAULT);
    cr_assert_geq(H5Lcreate_soft("/steps/000/layers/000/k", f, "/steps/000/layers/000/q", H5P_DEFAULT,
                                 H5P_DEFAULT), 0);
}
static void ed_soft_root(hid_t f)
{
    cr_assert_geq(H5Lmove(f, "/steps", f, "/real_steps", H5P_DEFAULT, H5P_DEFAULT), 0);
    cr_assert_geq(H5Lcreate_soft("/real_steps", f, "/steps", H5P_DEFAULT, H5P_DEFAULT), 0);
}
static void ed_soft_layers(hid_t f)
{
    cr_assert_geq(H5Lmove(f, "/steps/020/layers", f, "/steps/020/l", H5P_DEFAULT, H5P_DEFAULT), 0);
    cr_assert_geq(H5Lcreate_soft("/steps/020/l", f, "/steps/020/layers", H5P_DEFAULT, H5P_DEFAULT), 0);
}
/* lzf (h5py's filter, not in libhdf5), optional so HDF5 lets us write
 * without it: the pipeline still names it, and a reader must have it. */
static void ed_lzf(hid_t f)
{
    hid_t dcpl = chunked_dcpl();
    cr_assert_geq(H5Pset_filter(dcpl, 32000, H5Z_FLAG_OPTIONAL, 0, NULL), 0);
    replace_with(f, "/steps/000/layers/001/q", dcpl, NH);
    H5Pclose(dcpl);
}
static void ed_unknown_filter(hid_t f)
{
    hid_t dcpl = chunked_dcpl();
    cr_assert_geq(H5Pset_filter(dcpl, 40001, H5Z_FLAG_OPTIONAL, 0, NULL), 0);
    replace_with(f, "/steps/000/layers/001/k", dcpl, NH);
    H5Pclose(dcpl);
}

Test(capture, rejects_storage)
{
    struct {
        const char *name;
        edit_fn fn;
        const char *n1, *n2;
    } cases[] = {
        {"unwritten.h5", ed_unwritten, "/steps/000/layers/000/q", "was never written"},
        {"unwritten_chunked.h5", ed_unwritten_chunked, "/steps/010/layers/001/o", "was never written"},
        {"partial_chunks.h5", ed_partial_chunks, "/steps/010/layers/000/k", "only 1 of its 3 chunks"},
        {"external.h5", ed_external, "/steps/000/layers/001/v", "external raw storage"},
        {"virtual.h5", ed_virtual, "/steps/000/layers/000/q", "virtual dataset"},
        {"elink.h5", ed_elink, "/steps/020/layers/000/k: is an external link to '/secret' in file '/tmp/elsewhere.h5'",
         NULL},
        {"elink_step.h5", ed_elink_step, "/steps/010: is an external link", NULL},
        {"soft.h5", ed_soft, "/steps/000/layers/000/q: is a soft link to '/steps/000/layers/000/k'", NULL},
        {"soft_root.h5", ed_soft_root, "/steps: is a soft link to '/real_steps'", NULL},
        {"soft_layers.h5", ed_soft_layers, "/steps/020/layers: is a soft link", NULL},
        {"lzf.h5", ed_lzf,
         "dataset /steps/000/layers/001/q uses filter lzf (id 32000), which this libhdf5 does not have", NULL},
        {"unknown_filter.h5", ed_unknown_filter, "/steps/000/layers/001/k uses filter (unnamed) (id 40001)", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = edited(cases[i].name, cases[i].fn);
        expect_reject(path, RIPPLE_ERR_FORMAT, cases[i].n1, cases[i].n2);
        assert_no_open_ids();
        free(path);
    }
}

/* Storage that is fine: contiguous, compact, chunked without filters, and
 * chunks that overhang the shape; all read back exactly. */
static void ed_layouts(hid_t f)
{
    replace_with(f, "/steps/000/layers/000/q", H5P_DEFAULT, NH);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    cr_assert_geq(H5Pset_layout(dcpl, H5D_COMPACT), 0);
    replace_with(f, "/steps/000/layers/000/k", dcpl, NH);
    H5Pclose(dcpl);
    dcpl = chunked_dcpl();
    replace_with(f, "/steps/000/layers/000/v", dcpl, NH);
    H5Pclose(dcpl);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t odd[3] = {2, 7, 5}; /* 2 x 5 x 4 chunks, the last ones partly outside */
    cr_assert_geq(H5Pset_chunk(dcpl, 3, odd), 0);
    replace_with(f, "/steps/010/layers/001/o", dcpl, NH);
    H5Pclose(dcpl);
}

Test(capture, accepts_storage_layouts)
{
    char *path = edited("layouts.h5", ed_layouts);
    ripple_capture *cap = NULL;
    cr_assert_eq(ripple_capture_open(path, &cap), RIPPLE_OK, "%s", ripple_last_error());
    float *got = malloc(NEL * sizeof *got), *want = malloc(NEL * sizeof *want);
    fill_exact(want, NEL, 0);
    const int at[4][3] = {{0, 0, 0}, {0, 0, 1}, {0, 0, 2}, {10, 1, 3}};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(ripple_capture_read(cap, at[i][0], at[i][1], (ripple_tensor)at[i][2], 0, NH, got), RIPPLE_OK,
                     "%s", ripple_last_error());
        cr_assert_eq(memcmp(got, want, NEL * sizeof *got), 0, "tensor %d differs", i);
    }
    free(got), free(want);
    ripple_capture_close(cap);
    assert_no_open_ids();
    free(path);
}

Test(capture, rejects_root_attributes)
{
    struct {
        const char *name;
        edit_fn fn;
        const char *n1, *n2;
    } cases[] = {
        {"no_head_dim.h5", ed_no_head_dim, "missing attribute 'head_dim'", NULL},
        {"no_format.h5", ed_no_format, "missing attribute 'format'", NULL},
        {"format.h5", ed_format, "unknown format", "other-format"},
        {"version.h5", ed_version, "unknown format/version", "format_version is 2"},
        {"seq_short.h5", ed_seq_short, "seq_len 28 < video_offset 5 + T*H*W 24", NULL},
        {"split.h5", ed_split, "rope_split sums to 17 > head_dim 16", NULL},
        {"zero_heads.h5", ed_zero_heads, "num_heads", "must be positive"},
        {"neg_grid.h5", ed_neg_grid, "grid", "H must be positive"},
        {"huge.h5", ed_huge, "overflows", NULL},
        {"huge_grid.h5", ed_huge_grid, "overflows", NULL},
        {"bad_axes.h5", ed_bad_axes, "rope_axes", "'x'"},
        {"split_overflow.h5", ed_split_overflow, "attribute 'rope_split' = [9223372036854775807, 9223372036854775807, 10]",
         "overflows"},
        {"split_wrap2.h5", ed_split_wrap2, "'rope_split'", "overflows"},
        {"split_negative.h5", ed_split_negative, "'rope_split'[0] = -4", "must be positive"},
        {"split_min.h5", ed_split_min, "'rope_split'[0]", "must be positive"},
        {"split_u64.h5", ed_split_u64, "'rope_split'", "too large"},
        {"grid_product.h5", ed_grid_product, "grid [2147483648, 2147483648, 2]", "overflows"},
        {"grid_big.h5", ed_grid_big, "seq_len 32 < video_offset 5 + T*H*W 1152921504606846976", NULL},
        {"offset_max.h5", ed_offset_max, "video_offset 9223372036854775807", "seq_len 32"},
        {"head_dim_huge.h5", ed_head_dim_huge, "head_dim 9223372036854775807", "overflows"},
        {"heads_product.h5", ed_heads_product, "num_heads 288230376151711744 x seq_len 32 x head_dim 16",
         "overflows"},
        {"neg_offset.h5", ed_neg_offset, "'video_offset' = -1", "non-negative"},
        {"neg_steps.h5", ed_neg_steps, "'num_steps' = -30", "positive"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = edited(cases[i].name, cases[i].fn);
        expect_reject(path, RIPPLE_ERR_FORMAT, cases[i].n1, cases[i].n2);
        assert_no_open_ids();
        free(path);
    }
}

Test(capture, rejects_datasets)
{
    struct {
        const char *name;
        edit_fn fn;
        const char *n1, *n2;
    } cases[] = {
        {"shape.h5", ed_shape,
         "/steps/000/layers/001/q: shape [3,31,16] differs from [num_heads, seq_len, head_dim] = [3,32,16]", NULL},
        {"f64.h5", ed_f64, "/steps/010/layers/000/k", "float64"},
        {"i32.h5", ed_i32, "/steps/010/layers/001/o", "int32"},
        {"rank.h5", ed_rank, "/steps/000/layers/000/v", "rank 1"},
        {"no_v.h5", ed_no_v, "/steps/020/layers/000/v", "missing dataset"},
        {"no_timestep.h5", ed_no_timestep, "/steps/010", "missing attribute 'timestep'"},
        {"bad_name.h5", ed_bad_name, "/steps/x20", "not a decimal step index"},
        {"step_range.h5", ed_step_range, "/steps/030", "num_steps 30"},
        {"duplicate.h5", ed_duplicate, "both hold step 20 layer 0", NULL},
        {"seq_mismatch.h5", ed_seq_mismatch, "shape [3,32,16] differs from [num_heads, seq_len, head_dim] = [3,33,16]",
         NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = edited(cases[i].name, cases[i].fn);
        expect_reject(path, RIPPLE_ERR_FORMAT, cases[i].n1, cases[i].n2);
        assert_no_open_ids();
        free(path);
    }
}

/* Accepted variants: integer attributes of other widths/signs, fixed-length
 * strings (NUL- and space-padded), rope_split as long as rope_axes, scale. */
static void ed_variants(hid_t f)
{
    int64_t g[3] = {2, 3, 4}, split[2] = {4, 6};
    set_i64(f, "grid", 3, g, H5T_STD_U8LE);
    set_i64(f, "num_heads", 0, (int64_t[]){NH}, H5T_STD_U16BE);
    set_i64(f, "seq_len", 0, (int64_t[]){SEQ}, H5T_STD_I32LE);
    set_fixed_str(f, "rope_axes", "th", 2, H5T_STR_NULLPAD);
    set_i64(f, "rope_split", 2, split, H5T_STD_I16LE);
    set_fixed_str(f, "model", "spacey", 12, H5T_STR_SPACEPAD);
    set_fixed_str(f, "prompt", "nul", 8, H5T_STR_NULLTERM);
    double sc = 0.5;
    hid_t sp = H5Screate(H5S_SCALAR);
    H5Adelete(f, "scale");
    hid_t a = H5Acreate2(f, "scale", H5T_IEEE_F32BE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_DOUBLE, &sc);
    H5Aclose(a);
    H5Sclose(sp);
    H5Adelete(f, "seed");
}

Test(capture, accepts_attribute_variants)
{
    char *path = edited("variants.h5", ed_variants);
    ripple_capture *cap = NULL;
    cr_assert_eq(ripple_capture_open(path, &cap), RIPPLE_OK, "%s", ripple_last_error());
    const ripple_capture_info *in = ripple_capture_get_info(cap);
    cr_assert_eq(in->layout.grid[2], 4);
    cr_assert_eq(in->num_heads, NH);
    cr_assert_eq(in->layout.num_groups, 2);
    cr_assert_eq(in->layout.group_axis[1], RIPPLE_AXIS_H);
    cr_assert_eq(in->layout.group_len[1], 6);
    cr_assert_str_eq(in->rope_axes, "th");
    cr_assert_str_eq(in->model, "spacey");
    cr_assert_str_eq(in->prompt, "nul");
    cr_assert_eq(in->scale, 0.5);
    cr_assert_eq(in->has_seed, 0);
    ripple_capture_close(cap);
    free(path);
}

/* Non-finite values are found on read, naming the first position. */
static void ed_nan(hid_t f)
{
    float *x = calloc(NEL, sizeof *x);
    x[(size_t)1 * SEQ * DIM + 7 * DIM + 5] = NAN;
    x[(size_t)2 * SEQ * DIM] = INFINITY;
    hsize_t d[3] = {NH, SEQ, DIM};
    replace_dataset(f, "/steps/010/layers/000/q", H5T_IEEE_F32LE, d, H5T_NATIVE_FLOAT, x);
    free(x);
}

Test(capture, nonfinite_on_read)
{
    char *path = edited("nan.h5", ed_nan);
    ripple_capture *cap = NULL;
    cr_assert_eq(ripple_capture_open(path, &cap), RIPPLE_OK, "%s", ripple_last_error());
    float *x = malloc(NEL * sizeof *x);
    cr_assert_eq(ripple_capture_read(cap, 10, 0, RIPPLE_TENSOR_Q, 0, NH, x), RIPPLE_ERR_NONFINITE);
    const char *msg = ripple_last_error();
    cr_assert(strstr(msg, path) && strstr(msg, "/steps/010/layers/000/q"), "%s", msg);
    cr_assert(strstr(msg, "[head, token, channel] = [1, 7, 5]"), "%s", msg);
    cr_assert_eq(ripple_capture_read(cap, 10, 0, RIPPLE_TENSOR_Q, 2, 1, x), RIPPLE_ERR_NONFINITE);
    cr_assert(strstr(ripple_last_error(), "= [2, 0, 0]"), "%s", ripple_last_error());
    cr_assert_eq(ripple_capture_read(cap, 10, 0, RIPPLE_TENSOR_Q, 0, 1, x), RIPPLE_OK);
    cr_assert_eq(ripple_capture_read(cap, 10, 0, RIPPLE_TENSOR_K, 0, NH, x), RIPPLE_OK);
    free(x);
    ripple_capture_close(cap);
    assert_no_open_ids();
    free(path);
}

static hid_t half_type(void)
{
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    return t;
}

/* Every finite half bit pattern (2^16 minus the 2048 with exponent 31): the
 * reader's widening must equal HDF5's own half -> float conversion bit for
 * bit; then inf and NaN halves are reported as non-finite. */
Test(capture, float16_all_values_and_nonfinite)
{
    char *path = tmp_path("allhalf.h5");
    ripple_capture_info in = small_info();
    in.num_heads = 1;
    in.layout.grid[0] = 31;
    in.layout.grid[1] = 128;
    in.layout.grid[2] = 1;
    in.layout.video_offset = 0;
    in.layout.seq_len = 3968; /* 3968 * 16 = 63488 finite halves */
    const size_t n = 3968 * DIM;
    float *zero = calloc(n, sizeof *zero), *got = malloc(n * sizeof *got), *ref = malloc(n * sizeof *ref);
    uint16_t *h = malloc(n * sizeof *h);
    ripple_capture_writer *w = NULL;
    cr_assert_eq(ripple_capture_writer_open(path, &in, 2, &w), RIPPLE_OK, "%s", ripple_last_error());
    cr_assert_eq(ripple_capture_writer_put(w, 0, 0, 0.0, zero, zero, zero, NULL), RIPPLE_OK);
    cr_assert_eq(ripple_capture_writer_commit(w), RIPPLE_OK);
    size_t j = 0;
    for (uint32_t b = 0; b < 65536; b++)
        if (((b >> 10) & 0x1f) != 0x1f) h[j++] = (uint16_t)b;
    cr_assert_eq(j, n);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), ht = half_type();
    hsize_t d[3] = {1, 3968, DIM};
    replace_dataset(f, "/steps/000/layers/000/q", ht, d, ht, h);
    uint16_t bad[3] = {0x7c00, 0xfc00, 0x7e00};
    for (int i = 0; i < 3; i++) {
        memset(h, 0, n * sizeof *h);
        h[100 + i] = bad[i];
        replace_dataset(f, i == 0 ? "/steps/000/layers/000/k" : i == 1 ? "/steps/000/layers/000/v"
                                                                         : "/steps/000/layers/000/o",
                        ht, d, ht, h);
    }
    hid_t ds = H5Dopen2(f, "/steps/000/layers/000/q", H5P_DEFAULT);
    cr_assert_geq(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ref), 0);
    H5Dclose(ds);
    H5Tclose(ht);
    H5Fclose(f);

    ripple_capture *cap = NULL;
    cr_assert_eq(ripple_capture_open(path, &cap), RIPPLE_OK, "%s", ripple_last_error());
    cr_assert_eq(ripple_capture_read(cap, 0, 0, RIPPLE_TENSOR_Q, 0, 1, got), RIPPLE_OK, "%s",
                 ripple_last_error());
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(memcmp(&got[i], &ref[i], sizeof(float)), 0, "half 0x%04x: %a vs HDF5 %a",
                     (unsigned)h[i], got[i], ref[i]);
    for (int t = 1; t < 4; t++) {
        cr_assert_eq(ripple_capture_read(cap, 0, 0, (ripple_tensor)t, 0, 1, got), RIPPLE_ERR_NONFINITE);
        char want[64];
        snprintf(want, sizeof want, "= [0, 6, %d]", 4 + (t - 1)); /* 100 + i = 6*16 + 4 + i */
        cr_assert(strstr(ripple_last_error(), want), "%s", ripple_last_error());
    }
    ripple_capture_close(cap);
    free(zero), free(got), free(ref), free(h);
    free(path);
}

Test(capture, rejects_non_hdf5_truncated_missing)
{
    char *txt = tmp_path("not_hdf5.h5");
    FILE *f = fopen(txt, "w");
    fputs("this is not an HDF5 file\n", f);
    fclose(f);
    expect_reject(txt, RIPPLE_ERR_FORMAT, "not an HDF5 file", NULL);

    char *full = tmp_path("full.h5");
    write_small(full, 4, 0, 3);
    f = fopen(full, "rb");
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    char *cut = tmp_path("truncated.h5");
    f = fopen(cut, "wb");
    fwrite(buf, 1, (size_t)len / 2, f);
    fclose(f);
    ripple_capture *cap = NULL;
    ripple_status s = ripple_capture_open(cut, &cap);
    cr_log_info("%s", ripple_last_error());
    cr_assert(s == RIPPLE_ERR_FORMAT || s == RIPPLE_ERR_IO, "status %d: %s", s, ripple_last_error());
    cr_assert_null(cap);
    cr_assert(strstr(ripple_last_error(), cut), "%s", ripple_last_error());

    char *missing = tmp_path("does_not_exist.h5");
    expect_reject(missing, RIPPLE_ERR_IO, "cannot open", NULL);
    assert_no_open_ids();
    free(buf), free(txt), free(full), free(cut), free(missing);
}

/* ------------------------------------------------------------------ h5py */

static int have_h5py(void)
{
    return tu_system("python3 -c 'import h5py, numpy' >/dev/null 2>&1") == 0;
}

/* h5py's defaults: variable-length UTF-8 str attributes, float16 data, int
 * attributes of several widths; layers named without zero padding. */
static const char *h5py_writer =
    "import sys, h5py, numpy as np\n"
    "f = h5py.File(sys.argv[1], 'w')\n"
    "a = f.attrs\n"
    "a['format'] = 'ripple-capture'; a['format_version'] = 1; a['model'] = np.bytes_('py-model')\n"
    "a['grid'] = np.array([2, 3, 4], dtype=np.int32); a['rope_axes'] = 'thw'\n"
    "a['rope_split'] = [4, 6, 6]; a['num_heads'] = np.uint16(3); a['head_dim'] = 16\n"
    "a['num_layers'] = 4; a['num_steps'] = 30; a['seq_len'] = 32; a['video_offset'] = 5\n"
    "a['prompt'] = 'caf\\u00e9'; a['heads'] = np.array([0, 5, 7]); a['seed'] = np.uint32(7)\n"
    "n = 3 * 32 * 16; i = np.arange(n)\n"
    "x = (((i * 37) % 2001) - 1000) / 64.0\n"
    "g = f.create_group('steps/005'); g.attrs['timestep'] = np.float32(0.5)\n"
    "l = g.create_group('layers/2')\n"
    "l.create_dataset('q', data=x.reshape(3, 32, 16).astype(np.float16), chunks=(1, 32, 16), shuffle=True, compression='gzip')\n"
    "l.create_dataset('k', data=(x * 2.0 ** -20).reshape(3, 32, 16).astype(np.float16))\n"
    "l.create_dataset('v', data=x.reshape(3, 32, 16).astype(np.float32))\n"
    "f.close()\n";

static const char *h5py_reader =
    "import sys, h5py, numpy as np\n"
    "f = h5py.File(sys.argv[1], 'r')\n"
    "a = f.attrs\n"
    "for k in ('format', 'model', 'rope_axes', 'prompt', 'source', 'guidance'):\n"
    "    assert isinstance(a[k], str), (k, type(a[k]))\n"
    "assert a['format'] == 'ripple-capture' and a['format_version'] == 1\n"
    "assert list(a['grid']) == [2, 3, 4] and list(a['rope_split']) == [4, 6, 6]\n"
    "assert a['rope_axes'] == 'thw' and a['model'] == 'tiny-vdit' and a['seed'] == 42\n"
    "q = f['steps/010/layers/001/q']\n"
    "assert q.dtype == np.float16 and q.shape == (3, 32, 16), (q.dtype, q.shape)\n"
    "assert q.chunks == (1, 32, 16) and q.compression == 'gzip' and q.shuffle\n"
    "i = np.arange(3 * 32 * 16)\n"
    "x = ((((i * 37 + (10 * 16 + 4) * 101) % 2001) - 1000) / 64.0).reshape(3, 32, 16)\n"
    "assert np.array_equal(q[...].astype(np.float64), x)\n"
    "assert f['steps/010'].attrs['timestep'] == 900.0\n"
    "assert 'o' in f['steps/010/layers/001'] and 'o' not in f['steps/010/layers/000']\n";

static int run_python(const char *script, const char *arg)
{
    char *sp = tmp_path("script.py");
    FILE *f = fopen(sp, "w");
    cr_assert(f);
    fputs(script, f);
    fclose(f);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "python3 '%s' '%s'", sp, arg);
    int rc = tu_system(cmd);
    free(sp);
    return rc;
}

Test(capture, h5py_written_file_opens)
{
    if (!have_h5py()) cr_skip("python3 with h5py and numpy is not available");
    char *path = tmp_path("h5py.h5");
    cr_assert_eq(run_python(h5py_writer, path), 0, "the h5py writer script failed");
    ripple_capture *cap = NULL;
    cr_assert_eq(ripple_capture_open(path, &cap), RIPPLE_OK, "%s", ripple_last_error());
    const ripple_capture_info *in = ripple_capture_get_info(cap);
    cr_assert_str_eq(in->model, "py-model");
    cr_assert_str_eq(in->prompt, "caf\xc3\xa9");
    cr_assert_eq(in->num_heads, 3);
    cr_assert_eq(in->seed, 7);
    cr_assert_float_eq(in->scale, 0.25, 1e-15);
    cr_assert_eq(ripple_capture_num_entries(cap), 1);
    const ripple_capture_entry *e = ripple_capture_find(cap, 5, 2);
    cr_assert_not_null(e);
    cr_assert_eq(e->timestep, 0.5);
    cr_assert_eq(e->elem_bytes, 2);
    cr_assert_eq(e->has_o, 0);
    cr_assert_eq(ripple_capture_data_bytes(cap), (int64_t)(NEL * (2 + 2 + 4)));
    float *got = malloc(NEL * sizeof *got), *want = malloc(NEL * sizeof *want);
    fill_exact(want, NEL, 0);
    cr_assert_eq(ripple_capture_read(cap, 5, 2, RIPPLE_TENSOR_Q, 0, NH, got), RIPPLE_OK, "%s",
                 ripple_last_error());
    cr_assert_eq(memcmp(got, want, NEL * sizeof *got), 0);
    /* k = x * 2^-20: mostly float16 subnormals (spacing 2^-24), rounded by numpy */
    cr_assert_eq(ripple_capture_read(cap, 5, 2, RIPPLE_TENSOR_K, 0, NH, got), RIPPLE_OK);
    for (size_t i = 0; i < NEL; i++) {
        double x = ldexp(want[i], -20);
        cr_assert_leq(fabs(got[i] - x), half_tol(x), "[%zu] %g vs %g", i, got[i], x);
    }
    cr_assert_eq(ripple_capture_read(cap, 5, 2, RIPPLE_TENSOR_V, 0, NH, got), RIPPLE_OK);
    cr_assert_eq(memcmp(got, want, NEL * sizeof *got), 0);
    free(got), free(want);
    ripple_capture_close(cap);
    free(path);
}

Test(capture, h5py_reads_our_file)
{
    if (!have_h5py()) cr_skip("python3 with h5py and numpy is not available");
    char *path = tmp_path("for_h5py.h5");
    write_small(path, 2, 1, 0);
    cr_assert_eq(run_python(h5py_reader, path), 0, "h5py could not read the capture as expected");
    free(path);
}
