/* Capture files (shared/spec/capture-format.md (beside the repository), version 1): the reader
 * (open validates every root attribute and every dataset's shape and element
 * type; read checks values) and the writer (temporary file, renamed on
 * commit).
 *
 * HDF5 notes
 * - HDF5's automatic error printing is switched off at every entry point and
 *   its error stack is translated into the message of a ripple error.
 * - HDF5 1.10 has no predefined IEEE half type; half_type() builds it the way
 *   h5py does. Halves are read raw (memory type = the same half type in
 *   native order, so HDF5 only swaps bytes when needed) and widened here,
 *   bit-exactly, including subnormals, infinities and NaN. The soft
 *   conversion HDF5 would otherwise use is exact too, but an order of
 *   magnitude slower; test_capture.c checks both agree on all 65536 halves.
 * - Every function has one exit (`done:`) that closes every hid_t it opened.
 * - The writer keeps HDF5 from ever failing a write it cannot recover from.
 *   HDF5 1.10 frees the object of an H5Dclose/H5Fclose that fails but keeps
 *   its id, and crashes closing it again at exit (synth on a full disk did);
 *   and after one failed flush of its metadata cache, no later flush or
 *   close of that file can succeed. So: disk blocks are reserved before
 *   every put and before the final flush (writer_reserve: a full disk is
 *   found there, before HDF5 writes anything); datasets are written without
 *   a chunk cache (a failing raw write fails in H5Dwrite, leaving nothing
 *   for H5Dclose to write); and once the file is given up, HDF5's file
 *   descriptor is pointed at an in-memory file before anything is closed
 *   (writer_discard), so what HDF5 still writes while closing cannot fail. */
#define _GNU_SOURCE /* memfd_create */
#include "h5util.h"
#include "internal.h"

#include <hdf5.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FP16_MAX 65504.0f
#define NAME_MAX_LEN 24 /* step/layer group names, NUL included */
#define ATTR_STR_MAX (1 << 20) /* longest fixed-length string attribute read */

static const char *const tensor_name[4] = {"q", "k", "v", "o"};
static const char axis_letter[] = "thw"; /* indexed by ripple_axis */

/* ------------------------------------------------------------ HDF5 glue */

/* HDF5's automatic error printing goes off once per thread, at that thread's
 * first capture call (ripple.h documents it; Debian's libhdf5 is built
 * thread-safe, where the setting is per thread); our messages come from the
 * error stack instead (h5_msg). Every entry point calls h5_quiet. */
static void h5_quiet(void)
{
    static _Thread_local int done;
    if (!done) H5Eset_auto2(H5E_DEFAULT, NULL, NULL), done = 1;
}

static void close_id(hid_t *id, herr_t (*fn)(hid_t))
{
    if (*id >= 0) fn(*id);
    *id = H5I_INVALID_HID;
}

static herr_t h5_walk_cb(unsigned n, const H5E_error2_t *err, void *data)
{
    (void)n;
    char *buf = data;
    if (!buf[0] && err->desc && err->desc[0]) snprintf(buf, 256, "%s", err->desc);
    return 0;
}

static const char *esc(const char *src, char *dst, size_t cap);

/* The innermost description of HDF5's current error stack (then cleared),
 * escaped: HDF5's descriptions may quote names read from the file. */
static const char *h5_msg(char buf[256])
{
    char raw[256];
    raw[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_walk_cb, raw);
    H5Eclear2(H5E_DEFAULT);
    if (!raw[0]) snprintf(raw, sizeof raw, "unknown HDF5 error");
    /* the file drivers' "file write failed: time = ..., error message =
     * 'No space left on device', ..." becomes "file write failed: No space
     * left on device" */
    const char *colon = strchr(raw, ':'), *em = strstr(raw, "error message = '");
    if (colon && em) {
        char shortened[256];
        const char *m = em + strlen("error message = '"), *q = strchr(m, '\'');
        snprintf(shortened, sizeof shortened, "%.*s: %.*s", (int)(colon - raw), raw,
                 (int)(q ? q - m : (ptrdiff_t)strlen(m)), m);
        memcpy(raw, shortened, sizeof raw);
    }
    return esc(raw, buf, 256);
}

/* IEEE binary16 in the given byte order (h5py builds the same type). */
static hid_t half_type(H5T_order_t order)
{
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) return t;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 ||
        H5Tset_precision(t, 16) < 0 || H5Tset_ebias(t, 15) < 0 || H5Tset_order(t, order) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* 2 or 4 for an IEEE float16 / float32 type of either byte order, else 0. */
static int ieee_float_bytes(hid_t t)
{
    if (H5Tget_class(t) != H5T_FLOAT) return 0;
    size_t size = H5Tget_size(t), spos, epos, esize, mpos, msize;
    if (H5Tget_fields(t, &spos, &epos, &esize, &mpos, &msize) < 0) return 0;
    size_t ebias = H5Tget_ebias(t), prec = H5Tget_precision(t);
    int off = H5Tget_offset(t);
    H5T_order_t order = H5Tget_order(t);
    if (off != 0 || prec != 8 * size || (order != H5T_ORDER_LE && order != H5T_ORDER_BE)) return 0;
    if (size == 2 && spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10 && ebias == 15)
        return 2;
    if (size == 4 && spos == 31 && epos == 23 && esize == 8 && mpos == 0 && msize == 23 && ebias == 127)
        return 4;
    return 0;
}

/* "float64", "32-bit integer", ... for messages. */
static void describe_type(hid_t t, char *buf, size_t n)
{
    size_t bits = 8 * H5Tget_size(t);
    switch (H5Tget_class(t)) {
    case H5T_FLOAT:
        if (bits == 64) snprintf(buf, n, "float64");
        else snprintf(buf, n, "a %zu-bit float that is not IEEE float16/float32", bits);
        break;
    case H5T_INTEGER: snprintf(buf, n, "%s%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "uint" : "int", bits); break;
    case H5T_STRING: snprintf(buf, n, "string"); break;
    default: snprintf(buf, n, "non-numeric (HDF5 type class %d)", (int)H5Tget_class(t)); break;
    }
}

/* Bytes from a file, made safe for a one-line message: printable ASCII is
 * kept, every other byte becomes \xNN (as esc_controls writes them, so a
 * string escaped by both reads the same);
 * dst is always terminated (cut short rather than overflowing). */
static const char *esc(const char *src, char *dst, size_t cap)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p && o + 5 < cap; p++) {
        if (*p >= 0x20 && *p < 0x7f) {
            dst[o++] = (char)*p;
        } else {
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", *p);
        }
    }
    dst[o] = '\0';
    return dst;
}

/* Free text from a file (model, prompt, ...) as kept in ripple_capture_info:
 * control bytes (below 0x20, and 0x7f) become \xNN so that no consumer
 * prints a newline into a TSV header or an escape sequence to a terminal;
 * everything else (UTF-8 included) is kept. */
static void esc_controls(const char *src, char *dst, size_t cap)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p && o + 5 < cap; p++) {
        if (*p < 0x20 || *p == 0x7f) o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", *p);
        else dst[o++] = (char)*p;
    }
    dst[o] = '\0';
}

/* Name of a registered HDF5 filter id (the names the plugins register). */
static const char *filter_known_name(H5Z_filter_t id)
{
    switch (id) {
    case H5Z_FILTER_DEFLATE: return "deflate";
    case H5Z_FILTER_SHUFFLE: return "shuffle";
    case H5Z_FILTER_FLETCHER32: return "fletcher32";
    case H5Z_FILTER_SZIP: return "szip";
    case H5Z_FILTER_NBIT: return "nbit";
    case H5Z_FILTER_SCALEOFFSET: return "scaleoffset";
    case 307: return "bzip2";
    case 32000: return "lzf";
    case 32001: return "blosc";
    case 32004: return "lz4";
    case 32008: return "bitshuffle";
    case 32013: return "zfp";
    case 32015: return "zstd";
    case 32017: return "sz";
    case 32026: return "blosc2";
    default: return NULL;
    }
}

/* --------------------------------------------------------- float16 bits */

static float half_to_float(uint16_t h)
{
    uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, f;
    if (e == 0) {
        if (m == 0) {
            f = s;
        } else { /* subnormal: m * 2^-24, normalised */
            e = 113;
            while (!(m & 0x400u)) {
                m <<= 1;
                e--;
            }
            f = s | (e << 23) | ((m & 0x3ffu) << 13);
        }
    } else if (e == 31) {
        f = s | 0x7f800000u | (m << 13); /* inf, or NaN keeping its payload */
    } else {
        f = s | ((e + 112) << 23) | (m << 13);
    }
    float x;
    memcpy(&x, &f, sizeof x);
    return x;
}

/* Round to nearest, ties to even. Callers reject |x| > 65504 beforehand. */
static uint16_t float_to_half(float x)
{
    uint32_t f;
    memcpy(&f, &x, sizeof f);
    uint32_t s = (f >> 16) & 0x8000u, a = f & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(s | 0x7e00u);  /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(s | 0x7c00u); /* >= 65520 rounds to inf */
    if (a < 0x38800000u) {                                 /* below 2^-14: subnormal half */
        if (a < 0x33000000u) return (uint16_t)s;          /* <= 2^-25 rounds to 0 */
        uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u, shift = 126 - e;
        uint32_t q = m >> shift, r = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (r > half || (r == half && (q & 1u))) q++;
        return (uint16_t)(s | q);
    }
    uint32_t c = (((a >> 23) - 112) << 10) | ((a >> 13) & 0x3ffu), r = a & 0x1fffu;
    if (r > 0x1000u || (r == 0x1000u && (c & 1u))) c++;
    return (uint16_t)(s | c);
}

/* ----------------------------------------------------------- attributes */

/* Opens attribute `name` of obj; *attr = -1 when absent and not required. */
static ripple_status attr_open(const char *file, hid_t obj, const char *objpath, const char *name,
                               int required, hid_t *attr)
{
    *attr = H5I_INVALID_HID;
    htri_t ex = H5Aexists(obj, name);
    char hb[256];
    if (ex < 0)
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: cannot look up attribute '%s': %s", file,
                           objpath, name, h5_msg(hb));
    if (ex == 0) {
        if (!required) return RIPPLE_OK;
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: missing attribute '%s'", file, objpath, name);
    }
    *attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (*attr < 0)
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: cannot open attribute '%s': %s", file, objpath,
                           name, h5_msg(hb));
    return RIPPLE_OK;
}

/* Integer attribute with min_n..max_n elements (a scalar counts as 1), any
 * integer width and signedness. *present = 0 when optional and absent. */
static ripple_status attr_ints(const char *file, hid_t obj, const char *objpath, const char *name,
                               int required, int min_n, int max_n, int64_t *vals, int *n_out,
                               int *present)
{
    ripple_status s = RIPPLE_OK;
    hid_t attr = H5I_INVALID_HID, type = H5I_INVALID_HID;
    char hb[256];
    uint64_t u[8];
    if (present) *present = 0;
    RIPPLE_ASSERT(max_n <= 8);
    if ((s = attr_open(file, obj, objpath, name, required, &attr)) || attr < 0) goto done;
    type = H5Aget_type(attr);
    if (type < 0 || H5Tget_class(type) != H5T_INTEGER) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: attribute '%s' must be an integer", file,
                        objpath, name);
        goto done;
    }
    int64_t n = h5u_attr_count(attr);
    if (n < min_n || n > max_n) {
        if (min_n == max_n)
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: attribute '%s' must hold %d integer%s, not %lld",
                            file, objpath, name, min_n, min_n == 1 ? "" : "s", (long long)n);
        else
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: attribute '%s' must hold %d to %d integers, not %lld",
                            file, objpath, name, min_n, max_n, (long long)n);
        goto done;
    }
    int is_unsigned = H5Tget_sign(type) == H5T_SGN_NONE;
    herr_t rc = H5Aread(attr, is_unsigned ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64,
                        is_unsigned ? (void *)u : (void *)vals);
    if (rc < 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: cannot read attribute '%s': %s", file, objpath,
                        name, h5_msg(hb));
        goto done;
    }
    for (int64_t i = 0; is_unsigned && i < n; i++) {
        if (u[i] > (uint64_t)INT64_MAX) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: attribute '%s' = %llu is too large", file,
                            objpath, name, (unsigned long long)u[i]);
            goto done;
        }
        vals[i] = (int64_t)u[i];
    }
    if (n_out) *n_out = (int)n;
    if (present) *present = 1;
done:
    close_id(&type, H5Tclose);
    close_id(&attr, H5Aclose);
    return s;
}

static ripple_status attr_int(const char *file, hid_t obj, const char *name, int64_t *v)
{
    return attr_ints(file, obj, "/", name, 1, 1, 1, v, NULL, NULL);
}

/* Float (or integer) scalar attribute as double. */
static ripple_status attr_double(const char *file, hid_t obj, const char *objpath, const char *name,
                                 int required, double *v, int *present)
{
    ripple_status s = RIPPLE_OK;
    hid_t attr = H5I_INVALID_HID, type = H5I_INVALID_HID;
    char hb[256];
    if (present) *present = 0;
    if ((s = attr_open(file, obj, objpath, name, required, &attr)) || attr < 0) goto done;
    type = H5Aget_type(attr);
    H5T_class_t cls = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
    if ((cls != H5T_FLOAT && cls != H5T_INTEGER) || h5u_attr_count(attr) != 1) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: attribute '%s' must be one number", file,
                        objpath, name);
        goto done;
    }
    if (H5Aread(attr, H5T_NATIVE_DOUBLE, v) < 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: cannot read attribute '%s': %s", file, objpath,
                        name, h5_msg(hb));
        goto done;
    }
    if (present) *present = 1;
done:
    close_id(&type, H5Tclose);
    close_id(&attr, H5Aclose);
    return s;
}

/* String attribute, fixed or variable length, ASCII or UTF-8, scalar or one
 * element; copied into dst (truncated to cap - 1 bytes). text: free text,
 * kept with its control bytes escaped (esc_controls); otherwise the raw
 * bytes, for a value the caller validates (and escapes in messages). */
static ripple_status attr_str(const char *file, hid_t obj, const char *name, int required, int text,
                              char *dst, size_t cap)
{
    ripple_status s = RIPPLE_OK;
    hid_t attr = H5I_INVALID_HID, type = H5I_INVALID_HID, mem = H5I_INVALID_HID;
    char hb[256], *fixed = NULL, *vstr = NULL;
    dst[0] = '\0';
    if ((s = attr_open(file, obj, "/", name, required, &attr)) || attr < 0) goto done;
    type = H5Aget_type(attr);
    if (type < 0 || H5Tget_class(type) != H5T_STRING || h5u_attr_count(attr) != 1) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /: attribute '%s' must be one string", file, name);
        goto done;
    }
    const char *src;
    if (H5Tis_variable_str(type) > 0) {
        mem = H5Tcopy(H5T_C_S1);
        if (mem < 0 || H5Tset_size(mem, H5T_VARIABLE) < 0 ||
            H5Tset_cset(mem, H5Tget_cset(type)) < 0 || H5Aread(attr, mem, &vstr) < 0) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /: cannot read attribute '%s': %s", file, name,
                            h5_msg(hb));
            goto done;
        }
        src = vstr ? vstr : "";
    } else {
        size_t len = H5Tget_size(type);
        if (len == 0 || len > ATTR_STR_MAX) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /: attribute '%s' is a %zu-byte string (at most %d)", file,
                            name, len, ATTR_STR_MAX);
            goto done;
        }
        fixed = calloc(len + 1, 1);
        if (!fixed) {
            s = ripple_fail(RIPPLE_ERR_NOMEM, "%s: /: attribute '%s': out of memory", file, name);
            goto done;
        }
        if (H5Aread(attr, type, fixed) < 0) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /: cannot read attribute '%s': %s", file, name,
                            h5_msg(hb));
            goto done;
        }
        if (H5Tget_strpad(type) == H5T_STR_SPACEPAD)
            for (size_t i = len; i > 0 && fixed[i - 1] == ' '; i--) fixed[i - 1] = '\0';
        src = fixed;
    }
    if (text) esc_controls(src, dst, cap);
    else snprintf(dst, cap, "%s", src);
done:
    if (vstr) H5free_memory(vstr);
    free(fixed);
    close_id(&mem, H5Tclose);
    close_id(&type, H5Tclose);
    close_id(&attr, H5Aclose);
    return s;
}

/* ---------------------------------------------------------------- reader */

typedef struct cap_entry {
    ripple_capture_entry pub;      /* first: get_entry returns &e->pub */
    char sname[NAME_MAX_LEN];      /* group names as stored ("003") */
    char lname[NAME_MAX_LEN];
    int elem_bytes[4];             /* per tensor q, k, v, o; 0 = absent */
} cap_entry;

struct ripple_capture {
    char *path;
    hid_t file;
    ripple_capture_info info;
    cap_entry *e;
    size_t n, cap;
    int64_t data_bytes;
    int64_t file_bytes; /* size of the file on disk, bounds every dataset's storage */
};

/* Decimal index 0..INT_MAX, or -1. */
static int parse_index(const char *name)
{
    if (!name[0] || strlen(name) >= NAME_MAX_LEN) return -1;
    long long v = 0;
    for (const char *p = name; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
        if (v > INT_MAX) return -1;
    }
    return (int)v;
}

/* Link `name` of parent (shown as path), which must be a hard link when it
 * exists: soft, external and user-defined links are refused, since a
 * capture holds its own groups and datasets (an external link would open
 * another file, a soft one lead anywhere in this one). *present = 0 when
 * there is no such link. */
static ripple_status hard_link(const char *file, hid_t parent, const char *name, const char *path,
                               int *present)
{
    char hb[256], val[256], eb[400];
    H5L_info_t li;
    *present = 0;
    htri_t ex = H5Lexists(parent, name, H5P_DEFAULT);
    if (ex < 0 || (ex > 0 && H5Lget_info(parent, name, &li, H5P_DEFAULT) < 0))
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: cannot look up the link: %s", file, path, h5_msg(hb));
    if (ex == 0) return RIPPLE_OK;
    if (li.type == H5L_TYPE_HARD) {
        *present = 1;
        return RIPPLE_OK;
    }
    eb[0] = '\0';
    if ((li.type == H5L_TYPE_SOFT || li.type == H5L_TYPE_EXTERNAL) &&
        H5Lget_val(parent, name, val, sizeof val, H5P_DEFAULT) >= 0) {
        val[sizeof val - 1] = '\0';
        const char *efile = NULL, *eobj = NULL;
        if (li.type == H5L_TYPE_SOFT) {
            snprintf(eb, sizeof eb, " to '%s'", esc(val, hb, sizeof hb));
        } else if (li.u.val_size <= sizeof val &&
                   H5Lunpack_elink_val(val, li.u.val_size, NULL, &efile, &eobj) >= 0 && efile && eobj) {
            char b2[128];
            snprintf(eb, sizeof eb, " to '%s' in file '%s'", esc(eobj, hb, sizeof hb), esc(efile, b2, sizeof b2));
        }
    }
    H5Eclear2(H5E_DEFAULT);
    return ripple_fail(RIPPLE_ERR_FORMAT,
                       "%s: %s: is %s%s; a capture must hold its groups and datasets itself (hard links only)",
                       file, path,
                       li.type == H5L_TYPE_SOFT ? "a soft link"
                       : li.type == H5L_TYPE_EXTERNAL ? "an external link" : "a user-defined link",
                       eb);
}

/* Names of the links in group g, in name order. */
static ripple_status list_names(const char *file, hid_t g, const char *gpath, char ***names_out,
                                size_t *n_out)
{
    ripple_status s = RIPPLE_OK;
    H5G_info_t gi;
    char hb[256], **names = NULL;
    size_t n = 0;
    if (H5Gget_info(g, &gi) < 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: cannot list group: %s", file, gpath, h5_msg(hb));
        goto done;
    }
    names = calloc(gi.nlinks ? gi.nlinks : 1, sizeof *names);
    if (!names) {
        s = ripple_fail(RIPPLE_ERR_NOMEM, "%s: %s: out of memory", file, gpath);
        goto done;
    }
    for (hsize_t i = 0; i < gi.nlinks; i++) {
        ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT);
        if (len < 0 || !(names[n] = malloc((size_t)len + 1))) {
            s = len < 0 ? ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: cannot list group: %s", file, gpath,
                                      h5_msg(hb))
                        : ripple_fail(RIPPLE_ERR_NOMEM, "%s: %s: out of memory", file, gpath);
            goto done;
        }
        n++;
        H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, names[n - 1], (size_t)len + 1,
                           H5P_DEFAULT);
    }
done:
    if (s) {
        for (size_t i = 0; i < n; i++) free(names[i]);
        free(names);
        names = NULL;
        n = 0;
    }
    *names_out = names;
    *n_out = n;
    return s;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++) free(names[i]);
    free(names);
}

static ripple_status read_root(ripple_capture *cap)
{
    ripple_status s = RIPPLE_OK;
    const char *f = cap->path;
    hid_t root = cap->file;
    ripple_capture_info *in = &cap->info;
    ripple_layout *lay = &in->layout;
    char buf[64], eb[280];
    int64_t v, grid[3], split[3] = {0, 0, 0};
    int nsplit = 0, present = 0;

    if ((s = attr_str(f, root, "format", 1, 0, buf, sizeof buf))) goto done;
    if (strcmp(buf, RIPPLE_CAPTURE_FORMAT) != 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /: unknown format/version: format is '%s', expected '%s'",
                        f, esc(buf, eb, sizeof eb), RIPPLE_CAPTURE_FORMAT);
        goto done;
    }
    if ((s = attr_int(f, root, "format_version", &v))) goto done;
    if (v != RIPPLE_CAPTURE_VERSION) {
        s = ripple_fail(RIPPLE_ERR_FORMAT,
                        "%s: /: unknown format/version: format_version is %lld, this reader knows %d",
                        f, (long long)v, RIPPLE_CAPTURE_VERSION);
        goto done;
    }
    if ((s = attr_str(f, root, "model", 1, 1, in->model, sizeof in->model))) goto done;
    if ((s = attr_ints(f, root, "/", "grid", 1, 3, 3, grid, NULL, NULL))) goto done;
    /* one letter per channel group, each of t, h, w at most once ("thw", "wht",
     * "th"; not "ttt"): a group's axis decides what it may be reused along */
    if ((s = attr_str(f, root, "rope_axes", 1, 0, buf, sizeof buf))) goto done;
    size_t naxes = strlen(buf);
    if (naxes > 3) {
        s = ripple_fail(RIPPLE_ERR_FORMAT,
                        "%s: /: attribute 'rope_axes' = '%s' has more than 3 letters (one per channel group, e.g. 'thw')",
                        f, esc(buf, eb, sizeof eb));
        goto done;
    }
    unsigned seen = 0;
    for (size_t g = 0; g < naxes; g++) {
        const char *p = strchr(axis_letter, buf[g]);
        if (!buf[g] || !p) {
            char lb[8], one[2] = {buf[g], '\0'};
            s = ripple_fail(RIPPLE_ERR_FORMAT,
                            "%s: /: attribute 'rope_axes' = '%s': letter '%s' is not t, h or w", f,
                            esc(buf, eb, sizeof eb), esc(one, lb, sizeof lb));
            goto done;
        }
        lay->group_axis[g] = (int)(p - axis_letter);
        if (seen & RIPPLE_AXIS_BIT(lay->group_axis[g])) {
            s = ripple_fail(RIPPLE_ERR_FORMAT,
                            "%s: /: attribute 'rope_axes' = '%s': letter '%c' appears twice; each of t, h, w "
                            "names at most one channel group (e.g. 'thw')", f, esc(buf, eb, sizeof eb), buf[g]);
            goto done;
        }
        seen |= RIPPLE_AXIS_BIT(lay->group_axis[g]);
    }
    memcpy(in->rope_axes, buf, naxes);
    in->rope_axes[naxes] = '\0';
    lay->num_groups = (int)naxes;
    if ((s = attr_ints(f, root, "/", "rope_split", 1, 1, 3, split, &nsplit, NULL))) goto done;
    if ((size_t)nsplit != naxes && nsplit != 3) {
        s = ripple_fail(RIPPLE_ERR_FORMAT,
                        "%s: /: attribute 'rope_split' has %d entries but rope_axes '%s' names %zu groups",
                        f, nsplit, in->rope_axes, naxes);
        goto done;
    }
    for (int g = 0; g < nsplit; g++) {
        int in_group = (size_t)g < naxes;
        if (in_group ? split[g] <= 0 : split[g] != 0) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /: attribute 'rope_split'[%d] = %lld must be %s", f,
                            g, (long long)split[g], in_group ? "positive" : "0 (no such group)");
            goto done;
        }
        if (in_group) lay->group_len[g] = split[g];
    }

    struct { const char *name; int64_t *dst; int64_t min; } ints[] = {
        {"num_heads", &in->num_heads, 1},   {"head_dim", &lay->head_dim, 1},
        {"num_layers", &in->num_layers, 1}, {"num_steps", &in->num_steps, 1},
        {"seq_len", &lay->seq_len, 1},      {"video_offset", &lay->video_offset, 0},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if ((s = attr_int(f, root, ints[i].name, ints[i].dst))) goto done;
        if (*ints[i].dst < ints[i].min) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /: attribute '%s' = %lld must be %s", f,
                            ints[i].name, (long long)*ints[i].dst,
                            ints[i].min ? "positive" : "non-negative");
            goto done;
        }
    }
    for (int a = 0; a < 3; a++) {
        if (grid[a] <= 0) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /: attribute 'grid' = [%lld, %lld, %lld]: %c must be positive",
                            f, (long long)grid[0], (long long)grid[1], (long long)grid[2], "THW"[a]);
            goto done;
        }
        lay->grid[a] = grid[a];
    }
    if (in->num_layers > INT_MAX || in->num_steps > INT_MAX) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /: num_layers %lld or num_steps %lld exceeds %d", f,
                        (long long)in->num_layers, (long long)in->num_steps, INT_MAX);
        goto done;
    }
    size_t thw = ripple_mul3(grid[0], grid[1], grid[2]);
    if (!thw || grid[0] > (INT64_C(1) << 31) || grid[1] > (INT64_C(1) << 31) ||
        grid[2] > (INT64_C(1) << 31)) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /: grid [%lld, %lld, %lld]: T*H*W overflows", f,
                        (long long)grid[0], (long long)grid[1], (long long)grid[2]);
        goto done;
    }
    if (!ripple_mul3(in->num_heads, lay->seq_len, lay->head_dim)) {
        s = ripple_fail(RIPPLE_ERR_FORMAT,
                        "%s: /: num_heads %lld x seq_len %lld x head_dim %lld overflows", f,
                        (long long)in->num_heads, (long long)lay->seq_len, (long long)lay->head_dim);
        goto done;
    }
    if (lay->video_offset > lay->seq_len || lay->seq_len - lay->video_offset < (int64_t)thw) {
        s = ripple_fail(RIPPLE_ERR_FORMAT,
                        "%s: /: seq_len %lld < video_offset %lld + T*H*W %lld (grid [%lld, %lld, %lld])",
                        f, (long long)lay->seq_len, (long long)lay->video_offset, (long long)thw,
                        (long long)grid[0], (long long)grid[1], (long long)grid[2]);
        goto done;
    }
    int64_t sum;
    if (ripple_add_ovf(split[0], split[1], &sum) || ripple_add_ovf(sum, split[2], &sum)) {
        s = ripple_fail(RIPPLE_ERR_FORMAT,
                        "%s: /: attribute 'rope_split' = [%lld, %lld, %lld] overflows when summed; "
                        "its sum must be at most head_dim %lld",
                        f, (long long)split[0], (long long)split[1], (long long)split[2],
                        (long long)lay->head_dim);
        goto done;
    }
    if (sum > lay->head_dim) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /: rope_split sums to %lld > head_dim %lld", f,
                        (long long)sum, (long long)lay->head_dim);
        goto done;
    }
    if (ripple_layout_check(lay)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ripple_last_error());
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /: %s", f, msg);
        goto done;
    }

    if ((s = attr_double(f, root, "/", "scale", 0, &in->scale, &present))) goto done;
    if (!present) in->scale = 1.0 / sqrt((double)lay->head_dim);
    if (!isfinite(in->scale) || in->scale <= 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /: attribute 'scale' = %g must be positive and finite",
                        f, in->scale);
        goto done;
    }
    if ((s = attr_str(f, root, "prompt", 0, 1, in->prompt, sizeof in->prompt))) goto done;
    if ((s = attr_str(f, root, "source", 0, 1, in->source, sizeof in->source))) goto done;
    if ((s = attr_str(f, root, "guidance", 0, 1, in->guidance, sizeof in->guidance))) goto done;
    /* seed: any integer; unsigned 64-bit seeds above INT64_MAX are rejected */
    if ((s = attr_ints(f, root, "/", "seed", 0, 1, 1, &in->seed, NULL, &in->has_seed))) goto done;
done:
    return s;
}

/* Where a dataset's values come from, checked before anything is read:
 * - no virtual layout and no external raw storage (either would read other
 *   files: a capture once read a system text file as float16 data);
 * - every filter of the pipeline available for decoding, named when not;
 * - storage written: a dataset never written reads as its fill value
 *   (zeros), which once gave a "perfect" result with exit 0; chunked data
 *   must have every chunk;
 * - unfiltered data takes exactly elements x element size bytes, inside
 *   the file (an 11 KB file claiming a 1 GiB tensor is refused here, not
 *   after allocating for it). Filtered data must fit in the file too.
 * space, dims: its dataspace and shape, already checked against the attributes. */
static ripple_status check_storage(ripple_capture *cap, hid_t ds, hid_t space, const char *dpath,
                                   const hsize_t dims[3], int bytes)
{
    ripple_status s = RIPPLE_OK;
    hid_t dcpl = H5I_INVALID_HID;
    char hb[256], nb[96], eb[400];
    const char *f = cap->path;
    dcpl = H5Dget_create_plist(ds);
    H5D_layout_t layout = dcpl < 0 ? H5D_LAYOUT_ERROR : H5Pget_layout(dcpl);
    if (layout == H5D_LAYOUT_ERROR) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: cannot read the storage layout: %s", f, dpath, h5_msg(hb));
        goto done;
    }
    if (layout == H5D_VIRTUAL) {
        s = ripple_fail(RIPPLE_ERR_FORMAT,
                        "%s: %s: is a virtual dataset (its values live in other datasets or files); "
                        "store the data in the capture itself (h5repack -l CONTI IN OUT)", f, dpath);
        goto done;
    }
    if (layout != H5D_CONTIGUOUS && layout != H5D_CHUNKED && layout != H5D_COMPACT) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: unknown storage layout %d", f, dpath, (int)layout);
        goto done;
    }
    int next = H5Pget_external_count(dcpl);
    if (next != 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT,
                        "%s: %s: keeps its values in %d external file%s (external raw storage); "
                        "a capture must hold its data itself", f, dpath, next < 0 ? 1 : next,
                        next == 1 || next < 0 ? "" : "s");
        goto done;
    }
    int nf = H5Pget_nfilters(dcpl);
    if (nf < 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: cannot read the filter pipeline: %s", f, dpath, h5_msg(hb));
        goto done;
    }
    for (int i = 0; i < nf; i++) {
        unsigned flags = 0, config = 0, cd[16];
        size_t ncd = sizeof cd / sizeof cd[0];
        char fname[80] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof fname, fname, &config);
        if (id < 0) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: cannot read filter %d of the pipeline: %s", f, dpath, i,
                            h5_msg(hb));
            goto done;
        }
        fname[sizeof fname - 1] = '\0';
        const char *known = filter_known_name(id);
        const char *name = known ? known : fname[0] ? esc(fname, nb, sizeof nb) : "(unnamed)";
        htri_t avail = H5Zfilter_avail(id);
        unsigned info = 0;
        if (avail > 0 && (H5Zget_filter_info(id, &info) < 0 || !(info & H5Z_FILTER_CONFIG_DECODE_ENABLED)))
            avail = 0;
        H5Eclear2(H5E_DEFAULT);
        if (avail <= 0) {
            s = ripple_fail(RIPPLE_ERR_FORMAT,
                            "%s: dataset %s uses filter %s (id %d), which this libhdf5 does not have; "
                            "decompress the file where the filter is installed (h5repack -f NONE IN OUT) "
                            "or install the filter's HDF5 plugin",
                            f, dpath, name, (int)id);
            goto done;
        }
    }
    /* bytes the shape needs; dims passed the attribute checks (<= SIZE_MAX / 8 elements) */
    const uint64_t raw = (uint64_t)dims[0] * dims[1] * dims[2] * (uint64_t)bytes;
    H5D_space_status_t st;
    if (H5Dget_space_status(ds, &st) < 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: cannot query its storage: %s", f, dpath, h5_msg(hb));
        goto done;
    }
    if (st == H5D_SPACE_STATUS_NOT_ALLOCATED) {
        s = ripple_fail(RIPPLE_ERR_FORMAT,
                        "%s: %s: was never written (no storage allocated; it would read as fill values)",
                        f, dpath);
        goto done;
    }
    hsize_t stored = H5Dget_storage_size(ds);
    snprintf(eb, sizeof eb, "%llu bytes", (unsigned long long)raw);
    if (layout == H5D_CHUNKED) {
        hsize_t chunk[3], nchunks = 0;
        if (H5Pget_chunk(dcpl, 3, chunk) != 3 || !chunk[0] || !chunk[1] || !chunk[2]) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: chunked, but its chunk shape is not of rank 3", f, dpath);
            goto done;
        }
        uint64_t want = 1, chunk_bytes = (uint64_t)bytes;
        for (int a = 0; a < 3; a++) {
            want *= (dims[a] + chunk[a] - 1) / chunk[a]; /* <= the element count: no overflow */
            if (__builtin_mul_overflow(chunk_bytes, (uint64_t)chunk[a], &chunk_bytes)) chunk_bytes = UINT64_MAX;
        }
        if (H5Dget_num_chunks(ds, space, &nchunks) < 0) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: cannot count its chunks: %s", f, dpath, h5_msg(hb));
            goto done;
        }
        if (nchunks != want) {
            s = ripple_fail(RIPPLE_ERR_FORMAT,
                            "%s: %s: only %llu of its %llu chunks were written (the rest would read as fill values)",
                            f, dpath, (unsigned long long)nchunks, (unsigned long long)want);
            goto done;
        }
        uint64_t need;
        if (__builtin_mul_overflow(want, chunk_bytes, &need)) need = UINT64_MAX;
        if (nf == 0 && stored != need) {
            s = ripple_fail(RIPPLE_ERR_FORMAT,
                            "%s: %s: stores %llu bytes, but %llu unfiltered chunks of %llu bytes need %llu (corrupt?)",
                            f, dpath, (unsigned long long)stored, (unsigned long long)want,
                            (unsigned long long)chunk_bytes, (unsigned long long)need);
            goto done;
        }
    } else if (stored != raw) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: stores %llu bytes, but its shape needs %s (corrupt?)", f,
                        dpath, (unsigned long long)stored, eb);
        goto done;
    }
    uint64_t end = stored;
    if (layout == H5D_CONTIGUOUS) {
        haddr_t off = H5Dget_offset(ds);
        H5Eclear2(H5E_DEFAULT);
        if (off == HADDR_UNDEF) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: was never written (no data address)", f, dpath);
            goto done;
        }
        if (__builtin_add_overflow((uint64_t)off, stored, &end)) end = UINT64_MAX;
    }
    if (end > (uint64_t)cap->file_bytes) {
        s = ripple_fail(RIPPLE_ERR_FORMAT,
                        "%s: %s: its %llu bytes of data reach byte %llu, past the end of the %lld-byte file "
                        "(truncated or corrupt)",
                        f, dpath, (unsigned long long)stored, (unsigned long long)end, (long long)cap->file_bytes);
        goto done;
    }
done:
    close_id(&dcpl, H5Pclose);
    return s;
}

/* Checks one dataset's shape and element type; *bytes = 2 or 4. */
static ripple_status check_dataset(ripple_capture *cap, hid_t lg, const char *dpath, const char *name,
                                   int *bytes)
{
    ripple_status s = RIPPLE_OK;
    hid_t ds = H5I_INVALID_HID, sp = H5I_INVALID_HID, ty = H5I_INVALID_HID;
    char hb[256], tb[96];
    const char *f = cap->path;
    const int64_t want[3] = {cap->info.num_heads, cap->info.layout.seq_len, cap->info.layout.head_dim};
    ds = H5Dopen2(lg, name, H5P_DEFAULT);
    if (ds < 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: not a readable dataset: %s", f, dpath, h5_msg(hb));
        goto done;
    }
    sp = H5Dget_space(ds);
    int rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (rank != 3) {
        s = ripple_fail(RIPPLE_ERR_FORMAT,
                        "%s: %s: rank %d, expected 3 ([num_heads, seq_len, head_dim] = [%lld,%lld,%lld])",
                        f, dpath, rank, (long long)want[0], (long long)want[1], (long long)want[2]);
        goto done;
    }
    hsize_t d[3];
    H5Sget_simple_extent_dims(sp, d, NULL);
    if (d[0] != (hsize_t)want[0] || d[1] != (hsize_t)want[1] || d[2] != (hsize_t)want[2]) {
        s = ripple_fail(RIPPLE_ERR_FORMAT,
                        "%s: %s: shape [%llu,%llu,%llu] differs from [num_heads, seq_len, head_dim] = [%lld,%lld,%lld]",
                        f, dpath, (unsigned long long)d[0], (unsigned long long)d[1],
                        (unsigned long long)d[2], (long long)want[0], (long long)want[1],
                        (long long)want[2]);
        goto done;
    }
    ty = H5Dget_type(ds);
    *bytes = ty < 0 ? 0 : ieee_float_bytes(ty);
    if (!*bytes) {
        if (ty >= 0) describe_type(ty, tb, sizeof tb);
        else snprintf(tb, sizeof tb, "unreadable");
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: element type is %s, expected IEEE float16 or float32",
                        f, dpath, tb);
        goto done;
    }
    s = check_storage(cap, ds, sp, dpath, d, *bytes);
done:
    close_id(&ty, H5Tclose);
    close_id(&sp, H5Sclose);
    close_id(&ds, H5Dclose);
    return s;
}

static ripple_status add_entry(ripple_capture *cap, const cap_entry *e)
{
    if (cap->n == cap->cap) {
        size_t nc = cap->cap ? 2 * cap->cap : 16;
        cap_entry *ne = realloc(cap->e, nc * sizeof *ne);
        if (!ne) return ripple_fail(RIPPLE_ERR_NOMEM, "%s: out of memory listing entries", cap->path);
        cap->e = ne;
        cap->cap = nc;
    }
    cap->e[cap->n++] = *e;
    return RIPPLE_OK;
}

/* One /steps/<sname> group: its timestep and its layers. */
static ripple_status read_step(ripple_capture *cap, hid_t steps, const char *sname)
{
    ripple_status s = RIPPLE_OK;
    hid_t sg = H5I_INVALID_HID, layers = H5I_INVALID_HID, lg = H5I_INVALID_HID;
    char **lnames = NULL, spath[120], lpath[240], dpath[256], hb[256];
    size_t nl = 0;
    const char *f = cap->path;
    cap_entry e;
    memset(&e, 0, sizeof e);
    char nb[NAME_MAX_LEN * 4 + 8]; /* names from the file, escaped for messages */
    snprintf(spath, sizeof spath, "/steps/%s", esc(sname, nb, sizeof nb));
    e.pub.step = parse_index(sname);
    if (e.pub.step < 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: group name is not a decimal step index", f, spath);
        goto done;
    }
    if (e.pub.step >= cap->info.num_steps) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: step %d is not below num_steps %lld", f, spath,
                        e.pub.step, (long long)cap->info.num_steps);
        goto done;
    }
    snprintf(e.sname, sizeof e.sname, "%s", sname);
    int present = 0;
    if ((s = hard_link(f, steps, sname, spath, &present))) goto done;
    sg = present ? H5Gopen2(steps, sname, H5P_DEFAULT) : H5I_INVALID_HID;
    if (sg < 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: not a group: %s", f, spath, h5_msg(hb));
        goto done;
    }
    if ((s = attr_double(f, sg, spath, "timestep", 1, &e.pub.timestep, NULL))) goto done;
    if (!isfinite(e.pub.timestep)) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: attribute 'timestep' = %g must be finite", f, spath,
                        e.pub.timestep);
        goto done;
    }
    snprintf(lpath, sizeof lpath, "%s/layers", spath);
    if ((s = hard_link(f, sg, "layers", lpath, &present))) goto done;
    if (!present || (layers = H5Gopen2(sg, "layers", H5P_DEFAULT)) < 0) {
        H5Eclear2(H5E_DEFAULT);
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: missing group", f, lpath);
        goto done;
    }
    if ((s = list_names(f, layers, lpath, &lnames, &nl))) goto done;
    for (size_t i = 0; i < nl; i++) {
        snprintf(lpath, sizeof lpath, "%s/layers/%s", spath, esc(lnames[i], nb, sizeof nb));
        e.pub.layer = parse_index(lnames[i]);
        if (e.pub.layer < 0) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: group name is not a decimal layer index", f, lpath);
            goto done;
        }
        if (e.pub.layer >= cap->info.num_layers) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: layer %d is not below num_layers %lld", f,
                            lpath, e.pub.layer, (long long)cap->info.num_layers);
            goto done;
        }
        snprintf(e.lname, sizeof e.lname, "%s", lnames[i]);
        if ((s = hard_link(f, layers, lnames[i], lpath, &present))) goto done;
        lg = present ? H5Gopen2(layers, lnames[i], H5P_DEFAULT) : H5I_INVALID_HID;
        if (lg < 0) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: not a group: %s", f, lpath, h5_msg(hb));
            goto done;
        }
        for (int t = 0; t < 4; t++) {
            snprintf(dpath, sizeof dpath, "%s/%s", lpath, tensor_name[t]);
            e.elem_bytes[t] = 0;
            if ((s = hard_link(f, lg, tensor_name[t], dpath, &present))) goto done;
            if (!present) {
                if (t == RIPPLE_TENSOR_O) continue;
                s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: %s: missing dataset", f, dpath);
                goto done;
            }
            if ((s = check_dataset(cap, lg, dpath, tensor_name[t], &e.elem_bytes[t]))) goto done;
        }
        e.pub.has_o = e.elem_bytes[RIPPLE_TENSOR_O] != 0;
        e.pub.elem_bytes = e.elem_bytes[RIPPLE_TENSOR_Q];
        if ((s = add_entry(cap, &e))) goto done;
        close_id(&lg, H5Gclose);
    }
done:
    free_names(lnames, nl);
    close_id(&lg, H5Gclose);
    close_id(&layers, H5Gclose);
    close_id(&sg, H5Gclose);
    return s;
}

static int entry_cmp(const void *a, const void *b)
{
    const ripple_capture_entry *x = a, *y = b;
    if (x->step != y->step) return x->step < y->step ? -1 : 1;
    return (x->layer > y->layer) - (x->layer < y->layer);
}

static ripple_status read_entries(ripple_capture *cap)
{
    ripple_status s = RIPPLE_OK;
    hid_t steps = H5I_INVALID_HID;
    char **names = NULL;
    size_t ns = 0;
    const char *f = cap->path;
    int present = 0;
    if ((s = hard_link(f, cap->file, "steps", "/steps", &present))) goto done;
    if (!present || (steps = H5Gopen2(cap->file, "steps", H5P_DEFAULT)) < 0) {
        H5Eclear2(H5E_DEFAULT);
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /steps: missing group (the file holds no captured tensors)", f);
        goto done;
    }
    if ((s = list_names(f, steps, "/steps", &names, &ns))) goto done;
    for (size_t i = 0; i < ns; i++)
        if ((s = read_step(cap, steps, names[i]))) goto done;
    if (cap->n) qsort(cap->e, cap->n, sizeof *cap->e, entry_cmp);
    cap->data_bytes = 0;
    int64_t per = (int64_t)ripple_mul3(cap->info.num_heads, cap->info.layout.seq_len,
                                       cap->info.layout.head_dim);
    for (size_t i = 0; i < cap->n; i++) {
        const cap_entry *a = &cap->e[i];
        if (i > 0 && entry_cmp(&cap->e[i - 1], a) == 0) {
            s = ripple_fail(RIPPLE_ERR_FORMAT,
                            "%s: /steps/%s/layers/%s and /steps/%s/layers/%s both hold step %d layer %d",
                            f, cap->e[i - 1].sname, cap->e[i - 1].lname, a->sname, a->lname,
                            a->pub.step, a->pub.layer);
            goto done;
        }
        for (int t = 0; t < 4; t++) {
            int64_t add, sum;
            if (ripple_mul_ovf(per, a->elem_bytes[t], &add) || ripple_add_ovf(cap->data_bytes, add, &sum))
                sum = INT64_MAX; /* saturates: only reported, never allocated */
            cap->data_bytes = sum;
        }
    }
done:
    free_names(names, ns);
    close_id(&steps, H5Gclose);
    return s;
}

ripple_status ripple_capture_open(const char *path, ripple_capture **out)
{
    ripple_status s = RIPPLE_OK;
    ripple_capture *cap = NULL;
    char hb[256];
    if (!out) return ripple_fail(RIPPLE_ERR_INVALID, "ripple_capture_open: out is NULL");
    *out = NULL;
    if (!path) return ripple_fail(RIPPLE_ERR_INVALID, "ripple_capture_open: path is NULL");
    h5_quiet();
    FILE *fp = fopen(path, "rb");
    if (!fp) return ripple_fail(RIPPLE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    int regular = fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode);
    fclose(fp);
    if (!regular)
        return ripple_fail(RIPPLE_ERR_IO, "%s: not a regular file", path);
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: not an HDF5 file (no HDF5 signature found)", path);
    }
    cap = calloc(1, sizeof *cap);
    if (!cap) return ripple_fail(RIPPLE_ERR_NOMEM, "%s: out of memory", path);
    cap->file = H5I_INVALID_HID;
    cap->file_bytes = (int64_t)sb.st_size;
    if (!(cap->path = strdup(path))) {
        s = ripple_fail(RIPPLE_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    cap->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (cap->file < 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: HDF5 cannot open the file (truncated or corrupt?): %s",
                        path, h5_msg(hb));
        goto done;
    }
    if ((s = read_root(cap))) goto done;
    if ((s = read_entries(cap))) goto done;
done:
    if (s) {
        ripple_capture_close(cap);
        cap = NULL;
    } else {
        ripple_clear_error();
    }
    *out = cap;
    return s;
}

void ripple_capture_close(ripple_capture *cap)
{
    if (!cap) return;
    if (cap->file >= 0) H5Fclose(cap->file);
    free(cap->e);
    free(cap->path);
    free(cap);
}

const ripple_capture_info *ripple_capture_get_info(const ripple_capture *cap)
{
    return cap ? &cap->info : NULL;
}

const char *ripple_capture_path(const ripple_capture *cap) { return cap ? cap->path : NULL; }

size_t ripple_capture_num_entries(const ripple_capture *cap) { return cap ? cap->n : 0; }

const ripple_capture_entry *ripple_capture_get_entry(const ripple_capture *cap, size_t i)
{
    return cap && i < cap->n ? &cap->e[i].pub : NULL;
}

static const cap_entry *find_entry(const ripple_capture *cap, int step, int layer)
{
    ripple_capture_entry key = {.step = step, .layer = layer};
    if (!cap || !cap->n) return NULL;
    return bsearch(&key, cap->e, cap->n, sizeof *cap->e, entry_cmp);
}

const ripple_capture_entry *ripple_capture_find(const ripple_capture *cap, int step, int layer)
{
    const cap_entry *e = find_entry(cap, step, layer);
    return e ? &e->pub : NULL;
}

int64_t ripple_capture_data_bytes(const ripple_capture *cap) { return cap ? cap->data_bytes : 0; }

/* "0, 10, 20" of the steps present (or of the layers present at step). */
static void list_present(const ripple_capture *cap, int step, char *buf, size_t n)
{
    size_t used = 0;
    int last = -1, count = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < cap->n && used + 16 < n; i++) {
        const ripple_capture_entry *e = &cap->e[i].pub;
        int v = step < 0 ? e->step : e->layer;
        if (step >= 0 && e->step != step) continue;
        if (step < 0 && count && v == last) continue;
        used += (size_t)snprintf(buf + used, n - used, "%s%d", count ? ", " : "", v);
        last = v;
        count++;
    }
    if (!count) snprintf(buf, n, "none");
    else if (used + 16 >= n) snprintf(buf + used, n - used, ", ...");
}

ripple_status ripple_capture_read(ripple_capture *cap, int step, int layer, ripple_tensor which,
                                  int64_t head0, int64_t nheads, float *out)
{
    ripple_status s = RIPPLE_OK;
    hid_t ds = H5I_INVALID_HID, fsp = H5I_INVALID_HID, msp = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
    char dpath[128], hb[256], list[512];
    if (!cap || (!out && nheads > 0) || (int)which < 0 || (int)which > 3 || head0 < 0 || nheads < 0)
        return ripple_fail(RIPPLE_ERR_INVALID,
                           "ripple_capture_read: bad argument (capture, out, tensor %d, heads %lld+%lld)",
                           (int)which, (long long)head0, (long long)nheads);
    h5_quiet();
    const char *f = cap->path;
    const cap_entry *e = find_entry(cap, step, layer);
    if (!e) {
        int have_step = 0;
        for (size_t i = 0; i < cap->n; i++) have_step |= cap->e[i].pub.step == step;
        list_present(cap, have_step ? step : -1, list, sizeof list);
        if (have_step)
            s = ripple_fail(RIPPLE_ERR_NOT_FOUND, "%s: step %d layer %d is not captured (layers present at step %d: %s)",
                            f, step, layer, step, list);
        else
            s = ripple_fail(RIPPLE_ERR_NOT_FOUND, "%s: step %d layer %d is not captured (steps present: %s)",
                            f, step, layer, list);
        goto done;
    }
    snprintf(dpath, sizeof dpath, "/steps/%s/layers/%s/%s", e->sname, e->lname, tensor_name[which]);
    const int64_t nh = cap->info.num_heads, seq = cap->info.layout.seq_len,
                  dim = cap->info.layout.head_dim;
    if (head0 > nh || nheads > nh - head0) {
        s = ripple_fail(RIPPLE_ERR_NOT_FOUND, "%s: %s: heads [%lld, %lld) are outside the %lld stored heads",
                        f, dpath, (long long)head0, (long long)(head0 + nheads), (long long)nh);
        goto done;
    }
    int eb = e->elem_bytes[which];
    if (!eb) {
        s = ripple_fail(RIPPLE_ERR_NOT_FOUND, "%s: %s: not captured (this layer has no model output o)",
                        f, dpath);
        goto done;
    }
    if (nheads == 0) goto done;
    const size_t per_head = (size_t)seq * (size_t)dim; /* checked at open */
    ds = H5Dopen2(cap->file, dpath, H5P_DEFAULT);
    fsp = ds < 0 ? H5I_INVALID_HID : H5Dget_space(ds);
    hsize_t count[3] = {1, (hsize_t)seq, (hsize_t)dim};
    msp = H5Screate_simple(3, count, NULL);
    mtype = eb == 4 ? H5Tcopy(H5T_NATIVE_FLOAT) : half_type(H5Tget_order(H5T_NATIVE_FLOAT));
    if (ds < 0 || fsp < 0 || msp < 0 || mtype < 0) {
        s = ripple_fail(RIPPLE_ERR_IO, "%s: %s: cannot open dataset: %s", f, dpath, h5_msg(hb));
        goto done;
    }
    for (int64_t h = 0; h < nheads; h++) {
        float *dst = out + (size_t)h * per_head;
        hsize_t start[3] = {(hsize_t)(head0 + h), 0, 0};
        if (H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dread(ds, mtype, msp, fsp, H5P_DEFAULT, dst) < 0) {
            s = ripple_fail(RIPPLE_ERR_IO, "%s: %s: cannot read head %lld: %s", f, dpath,
                            (long long)(head0 + h), h5_msg(hb));
            goto done;
        }
        if (eb == 2) { /* halves fill the first half of dst: widen from the back */
            const uint16_t *src = (const uint16_t *)(void *)dst;
            for (size_t i = per_head; i-- > 0;) {
                uint16_t bits = src[i];
                dst[i] = half_to_float(bits);
            }
        }
        for (size_t i = 0; i < per_head; i++) {
            if (!isfinite(dst[i])) {
                s = ripple_fail(RIPPLE_ERR_NONFINITE,
                                "%s: %s: non-finite value %g at [head, token, channel] = [%lld, %lld, %lld]",
                                f, dpath, (double)dst[i], (long long)(head0 + h),
                                (long long)(i / (size_t)dim), (long long)(i % (size_t)dim));
                goto done;
            }
        }
    }
done:
    close_id(&mtype, H5Tclose);
    close_id(&msp, H5Sclose);
    close_id(&fsp, H5Sclose);
    close_id(&ds, H5Dclose);
    return s;
}

/* ---------------------------------------------------------------- writer */

typedef struct step_time {
    int step;
    double timestep;
} step_time;

struct ripple_capture_writer {
    char *path, *tmp;
    hid_t file, steps, ftype, mtype;
    int elem_bytes;
    ripple_capture_info info;
    int64_t per_head; /* seq_len * head_dim */
    int (*done)[2];   /* (step, layer) pairs written */
    size_t ndone, capdone;
    step_time *st;
    size_t nst, capst;
    uint16_t *hbuf;   /* one head of halves */
    uint64_t reserved; /* end of the disk blocks writer_reserve reserved */
    int failed;
};

static ripple_status write_attr(hid_t obj, const char *name, hid_t ftype, hid_t mtype, int n,
                                const void *val)
{
    ripple_status s = RIPPLE_OK;
    hsize_t d = (hsize_t)n;
    hid_t sp = n ? H5Screate_simple(1, &d, NULL) : H5Screate(H5S_SCALAR), a = H5I_INVALID_HID;
    char hb[256];
    if (sp < 0 || (a = H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(a, mtype, val) < 0)
        s = ripple_fail(RIPPLE_ERR_IO, "cannot write attribute '%s': %s", name, h5_msg(hb));
    close_id(&a, H5Aclose);
    close_id(&sp, H5Sclose);
    return s;
}

static ripple_status write_i64(hid_t obj, const char *name, int n, const int64_t *v)
{
    return write_attr(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, n, v);
}

/* Variable-length UTF-8 string: what h5py writes for a str, read back as str. */
static ripple_status write_str(hid_t obj, const char *name, const char *v)
{
    ripple_status s = RIPPLE_OK;
    hid_t t = H5Tcopy(H5T_C_S1);
    char hb[256];
    if (t < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)
        s = ripple_fail(RIPPLE_ERR_IO, "cannot make a string type: %s", h5_msg(hb));
    else
        s = write_attr(obj, name, t, t, 0, &v);
    close_id(&t, H5Tclose);
    return s;
}

/* A file descriptor that takes any write or truncate without a disk: an
 * anonymous in-memory file (or, without memfd, an unlinked one in /dev/shm). */
static int sink_fd(void)
{
    int fd = -1;
#ifdef MFD_CLOEXEC
    fd = memfd_create("ripple-discard", MFD_CLOEXEC);
#endif
    if (fd < 0) {
        char t[] = "/dev/shm/ripple-discard-XXXXXX";
        fd = mkstemp(t);
        if (fd >= 0) unlink(t);
    }
    return fd;
}

/* The file descriptor HDF5 writes w's file through, or -1. */
static int writer_fd(ripple_capture_writer *w)
{
    void *h = NULL;
    if (w->file < 0 || H5Fget_vfd_handle(w->file, H5P_DEFAULT, &h) < 0 || !h) {
        H5Eclear2(H5E_DEFAULT);
        return -1;
    }
    return *(int *)h;
}

/* Reserves disk blocks for bytes [0, current size + more) of w's file
 * without changing its size (fallocate, FALLOC_FL_KEEP_SIZE), so that HDF5's
 * writes up to there cannot fail for lack of space on filesystems that
 * overwrite in place (ext4, xfs, tmpfs; not copy-on-write ones). 0, or -1
 * with errno (ENOSPC). Filesystems without fallocate are left to HDF5. */
static int writer_reserve(ripple_capture_writer *w, uint64_t more)
{
#ifdef FALLOC_FL_KEEP_SIZE
    hsize_t size = 0;
    int fd = writer_fd(w);
    if (fd < 0 || H5Fget_filesize(w->file, &size) < 0) {
        H5Eclear2(H5E_DEFAULT);
        errno = EIO;
        return -1;
    }
    uint64_t end;
    if (__builtin_add_overflow((uint64_t)size, more, &end) || end > (uint64_t)INT64_MAX) {
        errno = EFBIG;
        return -1;
    }
    if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)end) == 0) {
        if (end > w->reserved) w->reserved = end;
        return 0;
    }
    if (errno == EOPNOTSUPP || errno == ENOSYS) return 0;
    return -1;
#else
    (void)w;
    (void)more;
    return 0;
#endif
}

/* Points HDF5's descriptor of w's file at a sink, so that what HDF5 still
 * writes while closing goes nowhere and cannot fail: for a file given up.
 * 0 on success. */
static int writer_discard(ripple_capture_writer *w)
{
    if (w->file < 0) return 0;
    int fd = writer_fd(w);
    if (fd < 0) return -1;
    int sink = sink_fd();
    if (sink < 0) return -1;
    int rc = dup2(sink, fd);
    close(sink);
    return rc < 0 ? -1 : 0;
}

/* After the close: gives back the blocks reserved past the end of the
 * file, then fsyncs it (the close rewrote its superblock). 0, or -1 with
 * errno when the fsync failed. */
static int writer_finish_file(const ripple_capture_writer *w)
{
    int fd = open(w->tmp, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
#if defined(FALLOC_FL_PUNCH_HOLE) && defined(FALLOC_FL_KEEP_SIZE)
    /* punching works on tmpfs, a truncate to the same size on ext4; if
     * both fail, only disk space is lost */
    if (fstat(fd, &st) == 0 && st.st_size >= 0 && w->reserved > (uint64_t)st.st_size) {
        (void)fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, st.st_size,
                        (off_t)(w->reserved - (uint64_t)st.st_size));
        (void)ftruncate(fd, st.st_size);
    }
#else
    (void)st;
#endif
    int rc = fsync(fd), err = errno;
    if (close(fd) != 0 && rc == 0) rc = -1, err = errno;
    errno = err;
    return rc;
}

/* Closes w's file after writer_discard; its id is gone either way. 0 when
 * HDF5 reports success. */
static int writer_close_file(ripple_capture_writer *w)
{
    herr_t rc = 0;
    close_id(&w->steps, H5Gclose);
    if (w->file >= 0) rc = H5Fclose(w->file);
    w->file = H5I_INVALID_HID; /* never closed again, even when rc < 0 */
    H5Eclear2(H5E_DEFAULT);
    return rc < 0 ? -1 : 0;
}

/* An HDF5 failure while writing: the temporary file goes at once. */
static void writer_fail(ripple_capture_writer *w)
{
    writer_discard(w);
    writer_close_file(w);
    if (w->tmp) remove(w->tmp);
    w->failed = 1;
}

static void writer_free(ripple_capture_writer *w)
{
    if (!w) return;
    if (w->file >= 0) writer_discard(w); /* only after a failure: commit and abort close it */
    writer_close_file(w);
    close_id(&w->ftype, H5Tclose);
    close_id(&w->mtype, H5Tclose);
    free(w->path);
    free(w->tmp);
    free(w->done);
    free(w->st);
    free(w->hbuf);
    free(w);
}

static ripple_status writer_root(ripple_capture_writer *w)
{
    ripple_status s = RIPPLE_OK;
    const ripple_capture_info *in = &w->info;
    const ripple_layout *lay = &in->layout;
    int64_t one = RIPPLE_CAPTURE_VERSION, split[3] = {0, 0, 0};
    for (int g = 0; g < lay->num_groups; g++) split[g] = lay->group_len[g];
    hid_t r = w->file;
    if ((s = write_str(r, "format", RIPPLE_CAPTURE_FORMAT)) || (s = write_i64(r, "format_version", 0, &one)) ||
        (s = write_str(r, "model", in->model)) || (s = write_i64(r, "grid", 3, lay->grid)) ||
        (s = write_str(r, "rope_axes", in->rope_axes)) ||
        (s = write_i64(r, "rope_split", lay->num_groups ? lay->num_groups : 3, split)) ||
        (s = write_i64(r, "num_heads", 0, &in->num_heads)) ||
        (s = write_i64(r, "head_dim", 0, &lay->head_dim)) ||
        (s = write_i64(r, "num_layers", 0, &in->num_layers)) ||
        (s = write_i64(r, "num_steps", 0, &in->num_steps)) ||
        (s = write_i64(r, "seq_len", 0, &lay->seq_len)) ||
        (s = write_i64(r, "video_offset", 0, &lay->video_offset)) ||
        (s = write_attr(r, "scale", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, &in->scale)))
        goto done;
    if (in->prompt[0] && (s = write_str(r, "prompt", in->prompt))) goto done;
    if (in->source[0] && (s = write_str(r, "source", in->source))) goto done;
    if (in->guidance[0] && (s = write_str(r, "guidance", in->guidance))) goto done;
    if (in->has_seed && (s = write_i64(r, "seed", 0, &in->seed))) goto done;
done:
    return s;
}

/* The final path may be absent or a regular file (replaced on commit);
 * anything else that exists there (a device node, a folder, a FIFO, or a
 * link to one) is refused: renaming over it would replace it. */
static ripple_status check_target(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return RIPPLE_OK;
        return ripple_fail(RIPPLE_ERR_IO, "%s: cannot check the output path: %s", path, strerror(errno));
    }
    if (S_ISREG(st.st_mode)) return RIPPLE_OK;
    const char *kind = S_ISDIR(st.st_mode)   ? "a folder"
                       : S_ISCHR(st.st_mode) ? "a character device"
                       : S_ISBLK(st.st_mode) ? "a block device"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                               : "not a regular file";
    return ripple_fail(RIPPLE_ERR_IO, "%s: exists and is %s, not a regular file; write the capture to another path",
                       path, kind);
}

ripple_status ripple_capture_writer_open(const char *path, const ripple_capture_info *info,
                                         int elem_bytes, ripple_capture_writer **out)
{
    ripple_status s = RIPPLE_OK;
    ripple_capture_writer *w = NULL;
    hid_t fapl = H5I_INVALID_HID;
    char hb[256], msg[512];
    if (!out) return ripple_fail(RIPPLE_ERR_INVALID, "ripple_capture_writer_open: out is NULL");
    *out = NULL;
    if (!path || !info) return ripple_fail(RIPPLE_ERR_INVALID, "ripple_capture_writer_open: path or info is NULL");
    if (elem_bytes != 2 && elem_bytes != 4)
        return ripple_fail(RIPPLE_ERR_INVALID, "%s: elem_bytes %d must be 2 (float16) or 4 (float32)",
                           path, elem_bytes);
    h5_quiet();
    const ripple_layout *lay = &info->layout;
    if (ripple_layout_check(lay)) {
        snprintf(msg, sizeof msg, "%s", ripple_last_error());
        return ripple_fail(RIPPLE_ERR_INVALID, "%s: %s", path, msg);
    }
    if (info->num_heads <= 0 || info->num_layers <= 0 || info->num_steps <= 0 ||
        info->num_layers > INT_MAX || info->num_steps > INT_MAX)
        return ripple_fail(RIPPLE_ERR_INVALID, "%s: num_heads %lld, num_layers %lld and num_steps %lld must be positive (layers and steps at most %d)",
                           path, (long long)info->num_heads, (long long)info->num_layers,
                           (long long)info->num_steps, INT_MAX);
    if (!ripple_mul3(info->num_heads, lay->seq_len, lay->head_dim))
        return ripple_fail(RIPPLE_ERR_INVALID, "%s: num_heads x seq_len x head_dim overflows", path);
    if (info->scale != 0 && (!isfinite(info->scale) || info->scale < 0))
        return ripple_fail(RIPPLE_ERR_INVALID, "%s: scale %g must be positive and finite (0 = default)",
                           path, info->scale);
    char axes[4] = {0};
    for (int g = 0; g < lay->num_groups; g++) {
        if (lay->group_len[g] <= 0)
            return ripple_fail(RIPPLE_ERR_INVALID, "%s: channel group %d has no channels", path, g);
        axes[g] = axis_letter[lay->group_axis[g]];
        if (strchr(axes, axes[g]) != axes + g)
            return ripple_fail(RIPPLE_ERR_INVALID, "%s: channel groups %d and %d are both along axis %c; "
                               "a capture names each axis at most once", path,
                               (int)(strchr(axes, axes[g]) - axes), g, axes[g]);
    }
    if (info->rope_axes[0] && strncmp(info->rope_axes, axes, sizeof axes) != 0)
        return ripple_fail(RIPPLE_ERR_INVALID, "%s: rope_axes '%.3s' disagrees with the layout's groups '%s'",
                           path, info->rope_axes, axes);

    if ((s = check_target(path))) return s;

    w = calloc(1, sizeof *w);
    if (!w) return ripple_fail(RIPPLE_ERR_NOMEM, "%s: out of memory", path);
    w->file = w->steps = w->ftype = w->mtype = H5I_INVALID_HID;
    w->info = *info;
    memcpy(w->info.rope_axes, axes, sizeof axes);
    if (w->info.scale == 0) w->info.scale = 1.0 / sqrt((double)lay->head_dim);
    w->elem_bytes = elem_bytes;
    w->per_head = lay->seq_len * lay->head_dim;
    size_t tlen = strlen(path) + 32;
    w->path = strdup(path);
    w->tmp = malloc(tlen);
    if (elem_bytes == 2) w->hbuf = malloc((size_t)w->per_head * sizeof *w->hbuf);
    if (!w->path || !w->tmp || (elem_bytes == 2 && !w->hbuf)) {
        s = ripple_fail(RIPPLE_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    snprintf(w->tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    if (elem_bytes == 2) {
        w->ftype = half_type(H5T_ORDER_LE);
        w->mtype = half_type(H5Tget_order(H5T_NATIVE_FLOAT));
    } else {
        w->ftype = H5Tcopy(H5T_IEEE_F32LE);
        w->mtype = H5Tcopy(H5T_NATIVE_FLOAT);
    }
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* sec2: writer_discard relies on its handle being the file descriptor */
    if (w->ftype < 0 || w->mtype < 0 || fapl < 0 || H5Pset_fapl_sec2(fapl) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        s = ripple_fail(RIPPLE_ERR_IO, "%s: HDF5 setup failed: %s", path, h5_msg(hb));
        goto done;
    }
    /* EXCL: never write through whatever already has the temporary name */
    w->file = H5Fcreate(w->tmp, H5F_ACC_EXCL, H5P_DEFAULT, fapl);
    if (w->file < 0) {
        s = ripple_fail(RIPPLE_ERR_IO, "%s: cannot create: %s", w->tmp, h5_msg(hb));
        goto done;
    }
    if ((s = writer_root(w))) {
        snprintf(msg, sizeof msg, "%s", ripple_last_error());
        s = ripple_fail(s, "%s: /: %s", w->tmp, msg);
        goto done;
    }
    w->steps = H5Gcreate2(w->file, "steps", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (w->steps < 0) {
        s = ripple_fail(RIPPLE_ERR_IO, "%s: /steps: cannot create: %s", w->tmp, h5_msg(hb));
        goto done;
    }
done:
    close_id(&fapl, H5Pclose);
    if (s) {
        if (w && w->file >= 0) writer_fail(w);
        writer_free(w);
        w = NULL;
    }
    *out = w;
    return s;
}

/* Finite, and within float16's range when writing halves. */
static ripple_status check_input(const ripple_capture_writer *w, int step, int layer, int t,
                                 const float *x)
{
    const size_t n = ripple_mul3(w->info.num_heads, w->per_head, 1);
    const int64_t dim = w->info.layout.head_dim;
    for (size_t i = 0; i < n; i++) {
        int bad = !isfinite(x[i]), big = !bad && w->elem_bytes == 2 && fabsf(x[i]) > FP16_MAX;
        if (bad || big) {
            size_t h = i / (size_t)w->per_head, r = i % (size_t)w->per_head;
            return ripple_fail(bad ? RIPPLE_ERR_NONFINITE : RIPPLE_ERR_INVALID,
                               "%s: step %d layer %d %s: %s %g at [head, token, channel] = [%zu, %lld, %lld]%s",
                               w->path, step, layer, tensor_name[t],
                               bad ? "non-finite value" : "value", (double)x[i], h,
                               (long long)(r / (size_t)dim),
                               (long long)(r % (size_t)dim),
                               bad ? "" : " overflows float16 (|x| > 65504): write float32");
        }
    }
    return RIPPLE_OK;
}

static ripple_status write_tensor(ripple_capture_writer *w, hid_t lg, const char *dpath, const char *name,
                                  const float *x)
{
    ripple_status s = RIPPLE_OK;
    const ripple_layout *lay = &w->info.layout;
    hsize_t dims[3] = {(hsize_t)w->info.num_heads, (hsize_t)lay->seq_len, (hsize_t)lay->head_dim};
    hsize_t count[3] = {1, dims[1], dims[2]};
    /* chunk [1, min(seq, 8192), dim], kept under HDF5's 4 GiB chunk limit */
    hsize_t chunk[3] = {1, dims[1] < 8192 ? dims[1] : 8192, dims[2]};
    while (chunk[1] > 1 && chunk[1] * chunk[2] * (hsize_t)w->elem_bytes >= (hsize_t)1 << 31) chunk[1] /= 2;
    hid_t fsp = H5Screate_simple(3, dims, NULL), msp = H5Screate_simple(3, count, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), dapl = H5Pcreate(H5P_DATASET_ACCESS), ds = H5I_INVALID_HID;
    char hb[256];
    if (fsp < 0 || msp < 0 || dcpl < 0 || dapl < 0 || H5Pset_chunk(dcpl, 3, chunk) < 0) goto fail;
    if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0 &&
        (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, 4) < 0))
        goto fail;
    /* no chunk cache: every chunk is written (and a failure reported) by
     * H5Dwrite itself; whole chunks are written, so nothing is re-read */
    if (H5Pset_chunk_cache(dapl, 0, 0, H5D_CHUNK_CACHE_W0_DEFAULT) < 0) goto fail;
    ds = H5Dcreate2(lg, name, w->ftype, fsp, H5P_DEFAULT, dcpl, dapl);
    if (ds < 0) goto fail;
    for (hsize_t h = 0; h < dims[0]; h++) {
        const float *src = x + (size_t)h * (size_t)w->per_head;
        const void *buf = src;
        if (w->elem_bytes == 2) {
            for (int64_t i = 0; i < w->per_head; i++) w->hbuf[i] = float_to_half(src[i]);
            buf = w->hbuf;
        }
        hsize_t start[3] = {h, 0, 0};
        if (H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dwrite(ds, w->mtype, msp, fsp, H5P_DEFAULT, buf) < 0)
            goto fail;
    }
    herr_t rc = H5Dclose(ds); /* no chunk cache: nothing left to write */
    ds = H5I_INVALID_HID; /* gone even when the close failed: never closed twice */
    if (rc < 0) goto fail;
    goto done;
fail:
    s = ripple_fail(RIPPLE_ERR_IO, "%s: %s: cannot write: %s", w->tmp, dpath, h5_msg(hb));
    writer_discard(w); /* the file is given up: closing ds below cannot fail */
done:
    close_id(&ds, H5Dclose);
    close_id(&dapl, H5Pclose);
    close_id(&dcpl, H5Pclose);
    close_id(&msp, H5Sclose);
    close_id(&fsp, H5Sclose);
    return s;
}

/* The group at `name` under parent, created when absent. */
static hid_t require_group(hid_t parent, const char *name, int *created)
{
    *created = 0;
    if (H5Lexists(parent, name, H5P_DEFAULT) > 0) return H5Gopen2(parent, name, H5P_DEFAULT);
    *created = 1;
    return H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
}

ripple_status ripple_capture_writer_put(ripple_capture_writer *w, int step, int layer,
                                        double timestep, const float *q, const float *k,
                                        const float *v, const float *o)
{
    ripple_status s = RIPPLE_OK;
    hid_t sg = H5I_INVALID_HID, layers = H5I_INVALID_HID, lg = H5I_INVALID_HID;
    char sname[16], lname[16], path[96], hb[256];
    const float *x[4] = {q, k, v, o};
    if (!w || !q || !k || !v)
        return ripple_fail(RIPPLE_ERR_INVALID, "ripple_capture_writer_put: writer, q, k or v is NULL");
    if (w->failed)
        return ripple_fail(RIPPLE_ERR_IO, "%s: the writer failed earlier; abort it", w->path);
    h5_quiet();
    if (step < 0 || step >= w->info.num_steps || layer < 0 || layer >= w->info.num_layers)
        return ripple_fail(RIPPLE_ERR_INVALID, "%s: step %d layer %d outside num_steps %lld, num_layers %lld",
                           w->path, step, layer, (long long)w->info.num_steps,
                           (long long)w->info.num_layers);
    if (!isfinite(timestep))
        return ripple_fail(RIPPLE_ERR_NONFINITE, "%s: step %d: timestep %g is not finite", w->path,
                           step, timestep);
    for (size_t i = 0; i < w->ndone; i++)
        if (w->done[i][0] == step && w->done[i][1] == layer)
            return ripple_fail(RIPPLE_ERR_INVALID, "%s: step %d layer %d was already written", w->path,
                               step, layer);
    size_t si = 0;
    while (si < w->nst && w->st[si].step != step) si++;
    if (si < w->nst && w->st[si].timestep != timestep)
        return ripple_fail(RIPPLE_ERR_INVALID, "%s: step %d has timestep %g, not %g", w->path, step,
                           w->st[si].timestep, timestep);
    for (int t = 0; t < 4; t++)
        if (x[t] && (s = check_input(w, step, layer, t, x[t]))) return s;
    /* room for the bookkeeping before anything is written */
    if (w->ndone == w->capdone) {
        size_t nc = w->capdone ? 2 * w->capdone : 64;
        int(*nd)[2] = realloc(w->done, nc * sizeof *nd);
        if (!nd) return ripple_fail(RIPPLE_ERR_NOMEM, "%s: out of memory", w->path);
        w->done = nd;
        w->capdone = nc;
    }
    if (w->nst == w->capst) {
        size_t nc = w->capst ? 2 * w->capst : 64;
        step_time *ns = realloc(w->st, nc * sizeof *ns);
        if (!ns) return ripple_fail(RIPPLE_ERR_NOMEM, "%s: out of memory", w->path);
        w->st = ns;
        w->capst = nc;
    }

    /* disk blocks for everything this put may write: the tensors (deflate
     * may add a little), their chunk index and object headers */
    uint64_t put_bytes = 0;
    for (int t = 0; t < 4; t++)
        if (x[t]) put_bytes += (uint64_t)ripple_mul3(w->info.num_heads, w->per_head, 1) * (uint64_t)w->elem_bytes;
    if (writer_reserve(w, put_bytes + put_bytes / 64 + (UINT64_C(64) << 10)) != 0) {
        s = ripple_fail(RIPPLE_ERR_IO, "%s: step %d layer %d: cannot write %llu bytes: %s", w->tmp, step, layer,
                        (unsigned long long)put_bytes, strerror(errno));
        writer_fail(w);
        goto done;
    }

    snprintf(sname, sizeof sname, "%03d", step);
    snprintf(lname, sizeof lname, "%03d", layer);
    int created = 0;
    snprintf(path, sizeof path, "/steps/%s", sname);
    sg = require_group(w->steps, sname, &created);
    if (sg < 0) goto fail;
    if (created && (s = write_attr(sg, "timestep", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, &timestep)))
        goto fail_msg;
    layers = require_group(sg, "layers", &created);
    if (layers < 0) goto fail;
    snprintf(path, sizeof path, "/steps/%s/layers/%s", sname, lname);
    lg = H5Gcreate2(layers, lname, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (lg < 0) goto fail;
    for (int t = 0; t < 4; t++) {
        if (!x[t]) continue;
        snprintf(path, sizeof path, "/steps/%s/layers/%s/%s", sname, lname, tensor_name[t]);
        if ((s = write_tensor(w, lg, path, tensor_name[t], x[t]))) goto failed;
    }
    w->done[w->ndone][0] = step;
    w->done[w->ndone][1] = layer;
    w->ndone++;
    if (si == w->nst) w->st[w->nst++] = (step_time){step, timestep};
    goto done;
fail:
    s = ripple_fail(RIPPLE_ERR_IO, "%s: %s: cannot create: %s", w->tmp, path, h5_msg(hb));
    goto failed;
fail_msg: {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", ripple_last_error());
    s = ripple_fail(s, "%s: %s: %s", w->tmp, path, msg);
}
failed:
    writer_discard(w); /* before any close: nothing HDF5 writes now can fail */
    close_id(&lg, H5Gclose);
    close_id(&layers, H5Gclose);
    close_id(&sg, H5Gclose);
    writer_fail(w);
done:
    close_id(&lg, H5Gclose);
    close_id(&layers, H5Gclose);
    close_id(&sg, H5Gclose);
    return s;
}

ripple_status ripple_capture_writer_commit(ripple_capture_writer *w)
{
    ripple_status s = RIPPLE_OK;
    char hb[256], msg[768];
    ripple_capture *check = NULL;
    if (!w) return ripple_fail(RIPPLE_ERR_INVALID, "ripple_capture_writer_commit: writer is NULL");
    h5_quiet();
    if (w->failed) {
        s = ripple_fail(RIPPLE_ERR_IO, "%s: not committed: the writer failed earlier", w->path);
        goto done;
    }
    close_id(&w->steps, H5Gclose);
    /* room for the last metadata first (see the notes at the top), then
     * everything on disk, then the close, which only rewrites the superblock */
    int fd = writer_fd(w);
    if (writer_reserve(w, UINT64_C(64) << 10) != 0) {
        s = ripple_fail(RIPPLE_ERR_IO, "%s: cannot write: %s", w->tmp, strerror(errno));
        writer_fail(w);
        goto done;
    }
    if (H5Fflush(w->file, H5F_SCOPE_LOCAL) < 0) {
        s = ripple_fail(RIPPLE_ERR_IO, "%s: cannot write: %s", w->tmp, h5_msg(hb));
        writer_fail(w);
        goto done;
    }
    if (fd < 0 || fsync(fd) != 0) {
        s = ripple_fail(RIPPLE_ERR_IO, "%s: cannot write: fsync: %s", w->tmp, fd < 0 ? "no file descriptor" : strerror(errno));
        writer_fail(w);
        goto done;
    }
    if (writer_close_file(w) != 0) {
        s = ripple_fail(RIPPLE_ERR_IO, "%s: cannot close: %s", w->tmp, h5_msg(hb));
        remove(w->tmp);
        goto done;
    }
    if (writer_finish_file(w) != 0) {
        s = ripple_fail(RIPPLE_ERR_IO, "%s: cannot write: fsync: %s", w->tmp, strerror(errno));
        remove(w->tmp);
        goto done;
    }
    /* what goes under the final name must read back */
    if (ripple_capture_open(w->tmp, &check) != RIPPLE_OK) {
        snprintf(msg, sizeof msg, "%s", ripple_last_error());
        s = ripple_fail(RIPPLE_ERR_IO, "%s: not committed: the written file does not read back: %s", w->path, msg);
        remove(w->tmp);
        goto done;
    }
    ripple_capture_close(check);
    if ((s = check_target(w->path))) { /* again: it may have appeared meanwhile */
        remove(w->tmp);
        goto done;
    }
    if (rename(w->tmp, w->path) != 0) {
        s = ripple_fail(RIPPLE_ERR_IO, "%s: cannot rename %s to it: %s", w->path, w->tmp,
                        strerror(errno));
        remove(w->tmp);
        goto done;
    }
done:
    writer_free(w);
    return s;
}

void ripple_capture_writer_abort(ripple_capture_writer *w)
{
    if (!w) return;
    h5_quiet();
    if (!w->failed) writer_fail(w);
    writer_free(w);
}
