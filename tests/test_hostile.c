/* The `ripple` command on hostile capture files: crafted with the HDF5 C
 * API from a small synthetic capture, every one must end in exit 1 with a
 * one-line message naming the problem, never a signal, a hang or exit 0. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <hdf5.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ------------------------------------------------------ storage (item 2) */

/* Replaces dpath of the base capture by a float32 dataset of shape dims,
 * contiguous; written with x when x is not NULL. */
static void put_contiguous(hid_t f, const char *dpath, const hsize_t dims[3], const float *x)
{
    if (H5Lexists(f, dpath, H5P_DEFAULT) > 0) cr_assert_geq(H5Ldelete(f, dpath, H5P_DEFAULT), 0);
    hid_t sp = H5Screate_simple(3, dims, NULL);
    hid_t ds = H5Dcreate2(f, dpath, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(ds, 0);
    if (x) cr_assert_geq(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x), 0);
    H5Dclose(ds);
    H5Sclose(sp);
}

/* A small file whose attributes and datasets claim 1 GiB per tensor
 * (seq_len 2^24, head_dim 16, float32), never written: it used to read as
 * zeros, allocating gigabytes and giving a "perfect" result. */
static void ed_claims_gib(hid_t f)
{
    int64_t seq = INT64_C(1) << 24;
    set_i64s(f, "seq_len", 0, &seq);
    hsize_t d[3] = {1, (hsize_t)seq, 16};
    put_contiguous(f, "/steps/000/layers/000/q", d, NULL);
    put_contiguous(f, "/steps/000/layers/000/k", d, NULL);
    put_contiguous(f, "/steps/000/layers/000/v", d, NULL);
}

/* The base capture with its q contiguous (26 x 16 float32 = 1664 bytes),
 * then the layout message's address or size patched in the file's bytes:
 * HDF5 1.10 opens such a dataset without complaint. */
static const char *patched_contiguous(const char *name, int field, uint64_t value)
{
    const char *path = tu_tmp(name);
    copy_file(base_capture(), path);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    hsize_t d[3] = {1, 26, 16};
    float x[26 * 16];
    for (int i = 0; i < 26 * 16; i++) x[i] = (float)i / 64.0f;
    put_contiguous(f, "/steps/000/layers/000/q", d, x);
    hid_t ds = H5Dopen2(f, "/steps/000/layers/000/q", H5P_DEFAULT);
    uint64_t field_vals[2] = {(uint64_t)H5Dget_offset(ds), (uint64_t)H5Dget_storage_size(ds)};
    cr_assert_eq(field_vals[1], sizeof x);
    H5Dclose(ds);
    cr_assert_geq(H5Fclose(f), 0);
    /* the layout message (version 3, contiguous) holds address then size, little-endian */
    FILE *fp = fopen(path, "r+b");
    cr_assert(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    unsigned char *b = malloc((size_t)len);
    fseek(fp, 0, SEEK_SET);
    cr_assert_eq(fread(b, 1, (size_t)len, fp), (size_t)len);
    unsigned char pat[16];
    for (int i = 0; i < 16; i++) pat[i] = (unsigned char)(field_vals[i / 8] >> (8 * (i % 8)));
    long at = -1;
    for (long i = 0; i + 16 <= len && at < 0; i++)
        if (!memcmp(b + i, pat, 16)) at = i;
    cr_assert_geq(at, 0, "layout message not found");
    for (int i = 0; i < 8; i++) b[at + 8 * field + i] = (unsigned char)(value >> (8 * i));
    fseek(fp, 0, SEEK_SET);
    cr_assert_eq(fwrite(b, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    free(b);
    return path;
}

/* External raw storage on a system text file: once read as float16 data, exit 0. */
static void ed_external_passwd(hid_t f)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    cr_assert_geq(H5Pset_external(dcpl, "/etc/passwd", 0, 26 * 16 * 4), 0);
    hsize_t d[3] = {1, 26, 16};
    hid_t sp = H5Screate_simple(3, d, NULL);
    H5Ldelete(f, "/steps/000/layers/000/k", H5P_DEFAULT);
    hid_t ds = H5Dcreate2(f, "/steps/000/layers/000/k", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    cr_assert_geq(ds, 0);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Pclose(dcpl);
}

static void ed_external_link(hid_t f)
{
    H5Ldelete(f, "/steps/000/layers/000/v", H5P_DEFAULT);
    cr_assert_geq(H5Lcreate_external("/etc/other.h5", "/x", f, "/steps/000/layers/000/v", H5P_DEFAULT, H5P_DEFAULT),
                  0);
}

static void ed_lzf(hid_t f)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk[3] = {1, 26, 16}, d[3] = {1, 26, 16};
    H5Pset_chunk(dcpl, 3, chunk);
    cr_assert_geq(H5Pset_filter(dcpl, 32000, H5Z_FLAG_OPTIONAL, 0, NULL), 0);
    float x[26 * 16] = {0};
    hid_t sp = H5Screate_simple(3, d, NULL);
    H5Ldelete(f, "/steps/000/layers/000/q", H5P_DEFAULT);
    hid_t ds = H5Dcreate2(f, "/steps/000/layers/000/q", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    cr_assert_geq(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x), 0);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Pclose(dcpl);
}

Test(hostile, storage_refused_at_open)
{
    const char *gib = crafted("claims_gib.h5", ed_claims_gib);
    /* refused from the metadata: fast, and long before 3 GiB could be read */
    double t0 = 0;
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    }
    expect_refused(gib, "/steps/000/layers/000/q", "was never written");
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    cr_expect_lt((double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec - t0, 20.0, "refusing took too long");
    expect_refused(patched_contiguous("contig_gib.h5", 1, UINT64_C(1) << 30), "/steps/000/layers/000/q",
                   "stores 1073741824 bytes, but its shape needs 1664 bytes");
    expect_refused(patched_contiguous("contig_far.h5", 0, UINT64_C(1) << 40), "/steps/000/layers/000/q",
                   "past the end of the");
    expect_refused(crafted("external_passwd.h5", ed_external_passwd), "/steps/000/layers/000/k",
                   "external raw storage");
    expect_refused(crafted("external_link.h5", ed_external_link), "/steps/000/layers/000/v: is an external link",
                   "'/etc/other.h5'");
    expect_refused(crafted("lzf.h5", ed_lzf), "uses filter lzf (id 32000), which this libhdf5 does not have", NULL);
}

/* The patching itself is sound: with the true size the file is accepted. */
Test(hostile, patched_contiguous_control)
{
    const char *ok = patched_contiguous("contig_ok.h5", 1, 1664);
    char args[1024];
    snprintf(args, sizeof args, "eval '%s' --step 0 --layer 0 --format tsv --no-floor", ok);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
}

/* ------------------------------------------------- attribute values (item 3) */

static void set_str(hid_t obj, const char *name, const char *v)
{
    if (H5Aexists(obj, name) > 0) cr_assert_geq(H5Adelete(obj, name), 0);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v));
    hid_t sp = H5Screate(H5S_SCALAR), a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(H5Awrite(a, t, v), 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
}
static void ed_axes_ttt(hid_t f) { set_str(f, "rope_axes", "ttt"); }
static void ed_timestep_nan(hid_t f)
{
    hid_t g = H5Gopen2(f, "/steps/000", H5P_DEFAULT);
    double v = NAN;
    H5Adelete(g, "timestep");
    hid_t sp = H5Screate(H5S_SCALAR), a = H5Acreate2(g, "timestep", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(H5Awrite(a, H5T_NATIVE_DOUBLE, &v), 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Gclose(g);
}
static void ed_format_escape(hid_t f) { set_str(f, "format", "\x1b]2;owned\x07\x1b[2J\xfe"); }
static void ed_model_escape(hid_t f) { set_str(f, "model", "evil\x1b[2J\nmodel\rx"); }

/* Nothing but printable ASCII, newlines and tabs. */
static void expect_clean(const char *what, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        cr_expect(*p == '\n' || *p == '\t' || (*p >= 0x20 && *p < 0x7f), "%s: raw byte 0x%02x", what, *p);
}

Test(hostile, attribute_values)
{
    expect_refused(crafted("axes_ttt.h5", ed_axes_ttt), "'rope_axes' = 'ttt': letter 't' appears twice", NULL);
    expect_refused(crafted("timestep_nan.h5", ed_timestep_nan), "/steps/000: attribute 'timestep' = nan", NULL);
    const char *fe = crafted("format_escape.h5", ed_format_escape);
    expect_refused(fe, "format is '\\x1b]2;owned\\x07\\x1b[2J\\xfe'", NULL);
    expect_clean("stderr", tu_err());
    /* free text is shown with its control bytes escaped */
    char args[1024];
    snprintf(args, sizeof args, "info '%s'", crafted("model_escape.h5", ed_model_escape));
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    cr_expect(strstr(tu_out(), "evil\\x1b[2J\\x0amodel\\x0dx"), "%s", tu_out());
    expect_clean("stdout", tu_out());
}

/* ------------------------------------- libhdf5 crashing or hanging (item 5) */

/* The base capture with one byte of its global heap collection (where the
 * variable-length string attributes live) replaced: at offset 8 of "GCOL"
 * the collection size (libhdf5 1.10 hangs), at 25 the first object's size
 * (it reads far past its buffer and crashes). */
static const char *heap_patched(const char *name, long at, unsigned char value)
{
    const char *path = tu_tmp(name);
    copy_file(base_capture(), path);
    FILE *f = fopen(path, "r+b");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    unsigned char *b = malloc((size_t)len);
    fseek(f, 0, SEEK_SET);
    cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    long g = -1;
    for (long i = 0; i + 4 <= len && g < 0; i++)
        if (!memcmp(b + i, "GCOL", 4)) g = i;
    cr_assert_geq(g, 0, "no global heap in %s", path);
    b[g + at] = value;
    fseek(f, 0, SEEK_SET);
    cr_assert_eq(fwrite(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    free(b);
    return path;
}

/* How `ripple info` ends on path with the metadata check off (bounded by
 * timeout): 124 for a hang, 128+N for signal N, else the exit code. */
static int in_process(const char *path)
{
    char args[1024];
    snprintf(args, sizeof args, "info '%s'", path);
    int rc = tu_ripple("RIPPLE_CHECK_TIMEOUT=0 timeout -s KILL 10", args);
    return rc == 137 ? 124 : rc;
}

Test(hostile, libhdf5_crash_is_reported)
{
    if (getenv("RIPPLE_SANITIZER_RUN"))
        cr_skip_test("crashes libhdf5 on purpose: under ASan that is libhdf5's report, not ripple's");
    const char *p = heap_patched("heap_crash.h5", 25, 0xff);
    int inproc = in_process(p);
    cr_log_info("in-process (no check): %d", inproc);
    const char *cmds[] = {"info '%s'", "eval '%s' --step 0 --layer 0"};
    for (int i = 0; i < 2; i++) {
        char args[1024];
        snprintf(args, sizeof args, cmds[i], p);
        int rc = tu_ripple(NULL, args);
        cr_expect_eq(rc, 1, "`ripple %s` exited %d: %s", args, rc, tu_err());
        cr_expect_eq(tu_count_lines(tu_err()), 1, "%s", tu_err());
        if (inproc > 128) /* libhdf5 dies on it in-process: the check must say so */
            cr_expect(strstr(tu_err(), "the file is corrupted (libhdf5 failed reading its metadata: signal"),
                      "%s", tu_err());
        cr_expect(strstr(tu_err(), p), "%s", tu_err());
    }
}

Test(hostile, libhdf5_hang_is_reported)
{
    if (getenv("RIPPLE_SANITIZER_RUN"))
        cr_skip_test("crashes libhdf5 on purpose: under ASan that is libhdf5's report, not ripple's");
    const char *p = heap_patched("heap_hang.h5", 8, 0xff);
    int inproc = in_process(p);
    cr_log_info("in-process (no check): %d", inproc);
    char args[1024];
    snprintf(args, sizeof args, "eval '%s' --step 0 --layer 0", p);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = tu_ripple("RIPPLE_CHECK_TIMEOUT=2", args);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    cr_expect_eq(rc, 1, "exited %d: %s", rc, tu_err());
    cr_expect_eq(tu_count_lines(tu_err()), 1, "%s", tu_err());
    if (inproc == 124)
        cr_expect(strstr(tu_err(), "the file is corrupted (libhdf5 failed reading its metadata: no answer after 2 s)"),
                  "%s", tu_err());
    cr_expect_lt(took, 8.0, "took %.1f s with a 2 s limit", took);
}

Test(hostile, check_timeout_option)
{
    char args[1024];
    snprintf(args, sizeof args, "info '%s'", base_capture());
    cr_expect_eq(tu_ripple("RIPPLE_CHECK_TIMEOUT=0", args), 0, "%s", tu_err());
    cr_expect_eq(tu_ripple("RIPPLE_CHECK_TIMEOUT=0.5", args), 0, "%s", tu_err());
    cr_expect_eq(tu_ripple("RIPPLE_CHECK_TIMEOUT=soon", args), 2);
    cr_expect(strstr(tu_err(), "RIPPLE_CHECK_TIMEOUT='soon'"), "%s", tu_err());
    cr_expect_eq(tu_ripple("RIPPLE_CHECK_TIMEOUT=-1", args), 2);
    /* a data error found by the child is reported as the reader words it */
    expect_refused(crafted("split_overflow2.h5", ed_split_overflow), "cannot use capture: ", "'rope_split'");
}
