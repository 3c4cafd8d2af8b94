/* The `ripple` command on hostile capture files: crafted with the HDF5 C
 * API from a small synthetic capture, every one must end in exit 1 with a
 * one-line message naming the problem, never a signal, a hang or exit 0. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <hdf5.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 head, 2 text tokens + 2x3x4 video tokens, head_dim 16 (t 4, h 6, w 6),
 * one step, one layer. */
static const char *base_capture(void)
{
    return tu_synth("base.h5", "--grid 2,3,4 --heads 1 --head-dim 16 --steps 1 --layers 1 "
                               "--num-steps 2 --text 2 --dtype f32");
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    cr_assert(in && out, "cannot copy %s to %s", from, to);
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) cr_assert_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    cr_assert_eq(fclose(out), 0);
}

typedef void (*edit_fn)(hid_t file);

/* A copy of the base capture at tu_tmp(name), edited by fn. */
static const char *crafted(const char *name, edit_fn fn)
{
    const char *path = tu_tmp(name);
    copy_file(base_capture(), path);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(f, 0, "cannot open %s", path);
    fn(f);
    cr_assert_geq(H5Fclose(f), 0);
    return path;
}

static void set_i64s(hid_t obj, const char *name, int n, const int64_t *v)
{
    if (H5Aexists(obj, name) > 0) cr_assert_geq(H5Adelete(obj, name), 0);
    hsize_t d = (hsize_t)n;
    hid_t sp = n ? H5Screate_simple(1, &d, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(a, 0);
    cr_assert_geq(H5Awrite(a, H5T_NATIVE_INT64, v), 0);
    H5Aclose(a);
    H5Sclose(sp);
}

/* `ripple info FILE` and `ripple eval FILE --step 0 --layer 0` both exit 1
 * with one line on stderr holding every non-NULL needle. */
static void expect_refused(const char *path, const char *n1, const char *n2)
{
    const char *cmds[] = {"info", "eval"};
    for (int i = 0; i < 2; i++) {
        char args[1024];
        snprintf(args, sizeof args, "%s '%s'%s", cmds[i], path, i ? " --step 0 --layer 0 --format tsv" : "");
        int rc = tu_ripple(NULL, args);
        const char *err = tu_err();
        cr_expect_eq(rc, 1, "`ripple %s` exited %d, wanted 1 (stderr: %s)", args, rc, err);
        cr_expect_eq(tu_count_lines(err), 1, "`ripple %s`: not one line: %s", args, err);
        cr_expect(strstr(err, path), "`ripple %s`: the message does not name the file: %s", args, err);
        if (n1) cr_expect(strstr(err, n1), "`ripple %s`: '%s' not in: %s", args, n1, err);
        if (n2) cr_expect(strstr(err, n2), "`ripple %s`: '%s' not in: %s", args, n2, err);
        cr_expect_str_eq(tu_out(), "", "`ripple %s` wrote to stdout", args);
    }
}

Test(hostile, base_capture_is_accepted)
{
    char args[1024];
    snprintf(args, sizeof args, "eval '%s' --step 0 --layer 0 --theta 0.1 --format tsv", base_capture());
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
}

/* ---------------------------------------------------------- sizes (item 1) */

static void ed_split_overflow(hid_t f)
{
    int64_t v[3] = {INT64_MAX, INT64_MAX, 10}; /* wraps to 8 <= head_dim 16 */
    set_i64s(f, "rope_split", 3, v);
}
static void ed_grid_overflow(hid_t f)
{
    int64_t v[3] = {INT64_C(1) << 31, INT64_C(1) << 31, 2};
    set_i64s(f, "grid", 3, v);
}
static void ed_offset_huge(hid_t f)
{
    int64_t v = INT64_MAX - 10;
    set_i64s(f, "video_offset", 0, &v);
}

Test(hostile, sizes_that_overflow)
{
    expect_refused(crafted("split_overflow.h5", ed_split_overflow), "'rope_split'", "overflows");
    expect_refused(crafted("grid_overflow.h5", ed_grid_overflow), "grid", "overflows");
    expect_refused(crafted("offset_huge.h5", ed_offset_huge), "video_offset 9223372036854775797", NULL);
}
