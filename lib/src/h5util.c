/* HDF5 readers of the weights and clip files (h5util.h). */
#include "h5util.h"

#include <limits.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void h5u_quiet(void)
{
    static _Thread_local int done;
    if (!done) H5Eset_auto2(H5E_DEFAULT, NULL, NULL), done = 1;
}

static herr_t walk_cb(unsigned n, const H5E_error2_t *err, void *data)
{
    (void)n;
    char *buf = data;
    if (!buf[0] && err->desc && err->desc[0]) snprintf(buf, 256, "%s", err->desc);
    return 0;
}

const char *h5u_msg(char buf[256])
{
    char raw[256] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, raw);
    H5Eclear2(H5E_DEFAULT);
    if (!raw[0]) snprintf(raw, sizeof raw, "unknown HDF5 error");
    size_t j = 0;
    for (size_t i = 0; raw[i] && j + 5 < 256; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c < 0x20 || c == 0x7f) j += (size_t)snprintf(buf + j, 256 - j, "\\x%02x", c);
        else buf[j++] = (char)c;
    }
    buf[j] = '\0';
    return buf;
}

static void close_id(hid_t *id, herr_t (*fn)(hid_t))
{
    if (*id >= 0) fn(*id);
    *id = H5I_INVALID_HID;
}

ripple_status h5u_open(const char *path, h5u_file *f)
{
    char hb[256];
    f->id = H5I_INVALID_HID;
    f->path = path;
    f->bytes = 0;
    h5u_quiet();
    FILE *fp = fopen(path, "rb");
    if (!fp) return ripple_fail(RIPPLE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    int regular = fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode);
    fclose(fp);
    if (!regular) return ripple_fail(RIPPLE_ERR_IO, "%s: not a regular file", path);
    f->bytes = (int64_t)sb.st_size;
    if (H5Fis_hdf5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: not an HDF5 file (no HDF5 signature found)", path);
    }
    f->id = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f->id < 0)
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: HDF5 cannot open the file (truncated or corrupt?): %s", path,
                           h5u_msg(hb));
    return RIPPLE_OK;
}

void h5u_close(h5u_file *f)
{
    if (f && f->id >= 0) H5Fclose(f->id);
    if (f) f->id = H5I_INVALID_HID;
}

static ripple_status attr_open(const h5u_file *f, const char *name, int required, hid_t *attr, int *present)
{
    char hb[256];
    *attr = H5I_INVALID_HID;
    if (present) *present = 0;
    htri_t ex = H5Aexists(f->id, name);
    if (ex < 0)
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: cannot look up attribute '%s': %s", f->path, name, h5u_msg(hb));
    if (ex == 0)
        return required ? ripple_fail(RIPPLE_ERR_FORMAT, "%s: missing root attribute '%s'", f->path, name)
                        : RIPPLE_OK;
    *attr = H5Aopen(f->id, name, H5P_DEFAULT);
    if (*attr < 0)
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: cannot open attribute '%s': %s", f->path, name, h5u_msg(hb));
    if (present) *present = 1;
    return RIPPLE_OK;
}

/* Elements of a scalar or 1-D attribute, else -1 (h5util.h). */
int64_t h5u_attr_count(hid_t attr)
{
    hid_t sp = H5Aget_space(attr);
    int64_t n = -1;
    if (sp < 0) return -1;
    H5S_class_t cls = H5Sget_simple_extent_type(sp);
    if (cls == H5S_SCALAR) {
        n = 1;
    } else if (cls == H5S_SIMPLE && H5Sget_simple_extent_ndims(sp) == 1) {
        hsize_t d;
        H5Sget_simple_extent_dims(sp, &d, NULL);
        n = d > INT_MAX ? -1 : (int64_t)d;
    }
    H5Sclose(sp);
    return n;
}

ripple_status h5u_attr_ints(const h5u_file *f, const char *name, int required, int n, int64_t *out, int *present)
{
    ripple_status s = RIPPLE_OK;
    hid_t attr = H5I_INVALID_HID, type = H5I_INVALID_HID;
    char hb[256];
    int pres = 0;
    if ((s = attr_open(f, name, required, &attr, &pres)) || !pres) goto done;
    type = H5Aget_type(attr);
    if (type < 0 || H5Tget_class(type) != H5T_INTEGER || h5u_attr_count(attr) != n) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: root attribute '%s' must be %d integer%s", f->path, name, n,
                        n == 1 ? "" : "s");
        goto done;
    }
    long long v[8];
    if (n > 8 || H5Aread(attr, H5T_NATIVE_LLONG, v) < 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: cannot read attribute '%s': %s", f->path, name, h5u_msg(hb));
        goto done;
    }
    for (int i = 0; i < n; i++) out[i] = (int64_t)v[i];
done:
    if (present) *present = pres && !s;
    close_id(&type, H5Tclose);
    close_id(&attr, H5Aclose);
    return s;
}

ripple_status h5u_attr_double(const h5u_file *f, const char *name, int required, double *out, int *present)
{
    ripple_status s = RIPPLE_OK;
    hid_t attr = H5I_INVALID_HID, type = H5I_INVALID_HID;
    char hb[256];
    int pres = 0;
    if ((s = attr_open(f, name, required, &attr, &pres)) || !pres) goto done;
    type = H5Aget_type(attr);
    H5T_class_t cls = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
    if ((cls != H5T_FLOAT && cls != H5T_INTEGER) || h5u_attr_count(attr) != 1) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: root attribute '%s' must be one number", f->path, name);
        goto done;
    }
    if (H5Aread(attr, H5T_NATIVE_DOUBLE, out) < 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: cannot read attribute '%s': %s", f->path, name, h5u_msg(hb));
        goto done;
    }
done:
    if (present) *present = pres && !s;
    close_id(&type, H5Tclose);
    close_id(&attr, H5Aclose);
    return s;
}

ripple_status h5u_attr_str(const h5u_file *f, const char *name, int required, char *dst, size_t cap, int *present)
{
    ripple_status s = RIPPLE_OK;
    hid_t attr = H5I_INVALID_HID, type = H5I_INVALID_HID, mem = H5I_INVALID_HID;
    char hb[256], *fixed = NULL, *vstr = NULL;
    int pres = 0;
    dst[0] = '\0';
    if ((s = attr_open(f, name, required, &attr, &pres)) || !pres) goto done;
    type = H5Aget_type(attr);
    if (type < 0 || H5Tget_class(type) != H5T_STRING || h5u_attr_count(attr) != 1) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: root attribute '%s' must be one string", f->path, name);
        goto done;
    }
    const char *src;
    if (H5Tis_variable_str(type) > 0) {
        mem = H5Tcopy(H5T_C_S1);
        if (mem < 0 || H5Tset_size(mem, H5T_VARIABLE) < 0 || H5Tset_cset(mem, H5Tget_cset(type)) < 0 ||
            H5Aread(attr, mem, &vstr) < 0) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: cannot read attribute '%s': %s", f->path, name, h5u_msg(hb));
            goto done;
        }
        src = vstr ? vstr : "";
    } else {
        size_t len = H5Tget_size(type);
        if (len == 0 || len > (1u << 20)) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: attribute '%s' is a %zu-byte string", f->path, name, len);
            goto done;
        }
        if (!(fixed = calloc(len + 1, 1))) {
            s = ripple_fail(RIPPLE_ERR_NOMEM, "%s: attribute '%s': out of memory", f->path, name);
            goto done;
        }
        if (H5Aread(attr, type, fixed) < 0) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: cannot read attribute '%s': %s", f->path, name, h5u_msg(hb));
            goto done;
        }
        src = fixed;
    }
    snprintf(dst, cap, "%s", src);
done:
    if (present) *present = pres && !s;
    if (vstr) H5free_memory(vstr);
    free(fixed);
    close_id(&mem, H5Tclose);
    close_id(&type, H5Tclose);
    close_id(&attr, H5Aclose);
    return s;
}

/* The dataset `name` at the root, as a hard link; *ds = -1 when absent. */
static ripple_status open_dataset(const h5u_file *f, const char *name, hid_t *ds)
{
    char hb[256];
    H5L_info_t li;
    *ds = H5I_INVALID_HID;
    if (!name[0] || strchr(name, '/'))
        return ripple_fail(RIPPLE_ERR_INVALID, "%s: dataset name '%s' must be a root name", f->path, name);
    htri_t ex = H5Lexists(f->id, name, H5P_DEFAULT);
    if (ex < 0 || (ex > 0 && H5Lget_info(f->id, name, &li, H5P_DEFAULT) < 0))
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: cannot look up the link: %s", f->path, name, h5u_msg(hb));
    if (ex == 0) return RIPPLE_OK;
    if (li.type != H5L_TYPE_HARD)
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: is a %s link; the file must hold its datasets itself",
                           f->path, name, li.type == H5L_TYPE_SOFT ? "soft" : "external or user-defined");
    H5O_info_t oi;
    if (H5Oget_info_by_name(f->id, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET) {
        H5Eclear2(H5E_DEFAULT);
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: is not a dataset", f->path, name);
    }
    *ds = H5Dopen2(f->id, name, H5P_DEFAULT);
    if (*ds < 0)
        return ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: cannot open: %s", f->path, name, h5u_msg(hb));
    return RIPPLE_OK;
}

/* Storage of ds inside the file and complete (capture.c check_storage's rules). */
static ripple_status check_storage(const h5u_file *f, const char *name, hid_t ds, uint64_t raw_bytes)
{
    ripple_status s = RIPPLE_OK;
    hid_t dcpl = H5Dget_create_plist(ds);
    char hb[256];
    H5D_layout_t layout = dcpl < 0 ? H5D_LAYOUT_ERROR : H5Pget_layout(dcpl);
    if (layout == H5D_LAYOUT_ERROR) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: cannot read the storage layout: %s", f->path, name, h5u_msg(hb));
        goto done;
    }
    if (layout == H5D_VIRTUAL || H5Pget_external_count(dcpl) != 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: keeps its values outside the file (%s storage)", f->path, name,
                        layout == H5D_VIRTUAL ? "virtual" : "external");
        goto done;
    }
    int nf = H5Pget_nfilters(dcpl);
    for (int i = 0; i < nf; i++) {
        unsigned flags = 0, config = 0, cd[16];
        size_t ncd = 16;
        char fname[80] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof fname, fname, &config);
        if (id < 0 || H5Zfilter_avail(id) <= 0) {
            H5Eclear2(H5E_DEFAULT);
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: uses a filter (id %d) this libhdf5 does not have", f->path,
                            name, (int)id);
            goto done;
        }
    }
    H5D_space_status_t st;
    if (H5Dget_space_status(ds, &st) < 0 || st == H5D_SPACE_STATUS_NOT_ALLOCATED) {
        H5Eclear2(H5E_DEFAULT);
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: was never written (no storage allocated)", f->path, name);
        goto done;
    }
    hsize_t stored = H5Dget_storage_size(ds);
    if (layout == H5D_CHUNKED) {
        hid_t space = H5Dget_space(ds);
        int rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
        hsize_t dims[8], chunk[8], nchunks = 0, want = 1;
        if (rank < 1 || rank > 8 || H5Sget_simple_extent_dims(space, dims, NULL) < 0 ||
            H5Pget_chunk(dcpl, rank, chunk) != rank || H5Dget_num_chunks(ds, space, &nchunks) < 0) {
            if (space >= 0) H5Sclose(space);
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: cannot read its chunks: %s", f->path, name, h5u_msg(hb));
            goto done;
        }
        H5Sclose(space);
        for (int a = 0; a < rank; a++) want *= chunk[a] ? (dims[a] + chunk[a] - 1) / chunk[a] : 0;
        if (nchunks != want) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: only %llu of its %llu chunks were written", f->path, name,
                            (unsigned long long)nchunks, (unsigned long long)want);
            goto done;
        }
        if (stored > (uint64_t)f->bytes) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: stores more bytes than the file has (truncated?)", f->path,
                            name);
            goto done;
        }
    } else {
        if (stored != raw_bytes) {
            s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: stores %llu bytes, its shape needs %llu (corrupt?)", f->path,
                            name, (unsigned long long)stored, (unsigned long long)raw_bytes);
            goto done;
        }
        if (layout == H5D_CONTIGUOUS) {
            haddr_t off = H5Dget_offset(ds);
            H5Eclear2(H5E_DEFAULT);
            uint64_t end;
            if (off == HADDR_UNDEF || __builtin_add_overflow((uint64_t)off, (uint64_t)stored, &end) ||
                end > (uint64_t)f->bytes) {
                s = ripple_fail(RIPPLE_ERR_FORMAT,
                                "%s: /%s: its data reach past the end of the %lld-byte file (truncated or corrupt)",
                                f->path, name, (long long)f->bytes);
                goto done;
            }
        }
    }
done:
    close_id(&dcpl, H5Pclose);
    return s;
}

ripple_status h5u_dataset_dims(const h5u_file *f, const char *name, int *rank, int64_t dims[8])
{
    ripple_status s;
    hid_t ds = H5I_INVALID_HID, space = H5I_INVALID_HID;
    hsize_t d[8];
    if ((s = open_dataset(f, name, &ds))) goto done;
    if (ds < 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: has no dataset /%s", f->path, name);
        goto done;
    }
    space = H5Dget_space(ds);
    int r = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    if (r < 0 || r > 8 || H5Sget_simple_extent_dims(space, d, NULL) < 0) {
        H5Eclear2(H5E_DEFAULT);
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: not a simple dataset of rank <= 8", f->path, name);
        goto done;
    }
    *rank = r;
    for (int i = 0; i < r; i++) dims[i] = d[i] > (hsize_t)INT64_MAX ? -1 : (int64_t)d[i];
done:
    close_id(&space, H5Sclose);
    close_id(&ds, H5Dclose);
    return s;
}

ripple_status h5u_read_floats(const h5u_file *f, const char *name, int required, int rank, int64_t *dims,
                              float *out, size_t cap, int *present)
{
    ripple_status s = RIPPLE_OK;
    hid_t ds = H5I_INVALID_HID, space = H5I_INVALID_HID, type = H5I_INVALID_HID;
    char hb[256], want[160], got[160];
    if (present) *present = 0;
    if ((s = open_dataset(f, name, &ds))) goto done;
    if (ds < 0) {
        if (required) s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: missing dataset /%s", f->path, name);
        goto done;
    }
    space = H5Dget_space(ds);
    type = H5Dget_type(ds);
    int r = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    hsize_t d[8];
    if (r < 0 || r > 8 || H5Sget_simple_extent_dims(space, d, NULL) < 0 || type < 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: cannot read its shape: %s", f->path, name, h5u_msg(hb));
        goto done;
    }
    int ok = r == rank;
    for (int i = 0; ok && i < r; i++) ok = dims[i] < 0 || d[i] == (hsize_t)dims[i];
    if (!ok) {
        size_t a = 0, b = 0;
        for (int i = 0; i < rank; i++)
            a += (size_t)snprintf(want + a, sizeof want - a, "%s%lld", i ? "," : "", (long long)dims[i]);
        for (int i = 0; i < r && b < sizeof got - 24; i++)
            b += (size_t)snprintf(got + b, sizeof got - b, "%s%llu", i ? "," : "", (unsigned long long)d[i]);
        if (!rank) snprintf(want, sizeof want, "scalar");
        if (!r) snprintf(got, sizeof got, "scalar");
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s has shape [%s], the config wants [%s]", f->path, name, got, want);
        goto done;
    }
    uint64_t n = 1;
    for (int i = 0; i < r; i++)
        if (__builtin_mul_overflow(n, (uint64_t)d[i], &n)) n = UINT64_MAX;
    size_t esz = H5Tget_size(type);
    if (H5Tget_class(type) != H5T_FLOAT || (esz != 2 && esz != 4 && esz != 8)) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: element type is not float16/32/64", f->path, name);
        goto done;
    }
    if (n > cap) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: %llu values, room for %zu", f->path, name,
                        (unsigned long long)n, cap);
        goto done;
    }
    uint64_t raw;
    if (__builtin_mul_overflow(n, (uint64_t)esz, &raw)) raw = UINT64_MAX;
    if ((s = check_storage(f, name, ds, raw))) goto done;
    if (n && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
        s = ripple_fail(RIPPLE_ERR_FORMAT, "%s: /%s: cannot read: %s", f->path, name, h5u_msg(hb));
        goto done;
    }
    for (uint64_t i = 0; i < n; i++)
        if (!isfinite(out[i])) {
            s = ripple_fail(RIPPLE_ERR_NONFINITE, "%s: /%s: element %llu is not finite", f->path, name,
                            (unsigned long long)i);
            goto done;
        }
    for (int i = 0; i < r; i++) dims[i] = (int64_t)d[i];
    if (present) *present = 1;
done:
    close_id(&type, H5Tclose);
    close_id(&space, H5Sclose);
    close_id(&ds, H5Dclose);
    return s;
}
