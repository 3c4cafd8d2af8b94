/* Clips of the model: our noise generator, and clip files (HDF5) read and
 * written (ripple/model.h). */
#include "ripple/model.h"

#include "h5util.h"
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t word(uint64_t seed, uint64_t w) { return mix64(seed + (w + 1) * 0x9e3779b97f4a7c15ull); }

ripple_status ripple_noise_normal(uint64_t seed, int64_t n, float *out)
{
    if (n < 0 || (n > 0 && !out)) return ripple_fail(RIPPLE_ERR_INVALID, "ripple_noise_normal: bad arguments");
    const double two_pi = 6.283185307179586476925286766559;
    for (int64_t j = 0; 2 * j < n; j++) {
        double u1 = (double)((word(seed, 2 * (uint64_t)j) >> 11) + 1) * 0x1p-53;
        double u2 = (double)(word(seed, 2 * (uint64_t)j + 1) >> 11) * 0x1p-53;
        double r = sqrt(-2.0 * log(u1));
        out[2 * j] = (float)(r * cos(two_pi * u2));
        if (2 * j + 1 < n) out[2 * j + 1] = (float)(r * sin(two_pi * u2));
    }
    return RIPPLE_OK;
}

ripple_status ripple_video_read(const char *path, const char *name, const ripple_model_config *cfg, float *out)
{
    if (!path || !name || !cfg || !out) return ripple_fail(RIPPLE_ERR_INVALID, "ripple_video_read: NULL argument");
    h5u_file f;
    ripple_status s = h5u_open(path, &f);
    if (s) return s;
    int rank;
    int64_t dims[8];
    if ((s = h5u_dataset_dims(&f, name, &rank, dims))) goto done;
    int64_t want[5] = {1, cfg->in_channels, cfg->frames, cfg->height, cfg->width};
    int64_t *w = rank == 4 ? want + 1 : want;
    if (rank != 4 && rank != 5) rank = 5; /* let the reader name the shape */
    s = h5u_read_floats(&f, name, 1, rank, w, out, (size_t)cfg->video_elems, NULL);
done:
    h5u_close(&f);
    if (!s) ripple_clear_error();
    return s;
}

static ripple_status w_attr(hid_t obj, const char *name, hid_t type, const void *v)
{
    char hb[256];
    hid_t sp = H5Screate(H5S_SCALAR), a = H5I_INVALID_HID;
    herr_t e = -1;
    if (sp >= 0 && (a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT)) >= 0) e = H5Awrite(a, type, v);
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    return e < 0 ? ripple_fail(RIPPLE_ERR_IO, "cannot write attribute '%s': %s", name, h5u_msg(hb)) : RIPPLE_OK;
}

static ripple_status w_str(hid_t obj, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return ripple_fail(RIPPLE_ERR_IO, "cannot make a string type");
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    ripple_status s = w_attr(obj, name, t, &v);
    H5Tclose(t);
    return s;
}

ripple_status ripple_video_write(const char *path, const char *name, const ripple_model_config *cfg, const float *x,
                                 const char *format, int64_t class_label, int64_t seed, const char *source)
{
    if (!path || !name || !cfg || !x || !name[0] || strchr(name, '/'))
        return ripple_fail(RIPPLE_ERR_INVALID, "ripple_video_write: bad argument");
    h5u_quiet();
    char tmp[4096], hb[256];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return ripple_fail(RIPPLE_ERR_INVALID, "%s: path too long", path);
    ripple_status s = RIPPLE_OK;
    hid_t f = H5I_INVALID_HID, sp = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    f = H5Fcreate(tmp, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        s = ripple_fail(RIPPLE_ERR_IO, "%s: cannot create %s: %s", path, tmp, h5u_msg(hb));
        goto done;
    }
    hsize_t dims[5] = {1, (hsize_t)cfg->in_channels, (hsize_t)cfg->frames, (hsize_t)cfg->height, (hsize_t)cfg->width};
    if ((sp = H5Screate_simple(5, dims, NULL)) < 0 ||
        (ds = H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) < 0) {
        s = ripple_fail(RIPPLE_ERR_IO, "%s: cannot write /%s: %s", path, name, h5u_msg(hb));
        goto done;
    }
    long long cl = class_label, sd = seed;
    if ((format && (s = w_str(f, "format", format))) || (s = w_attr(f, "class_label", H5T_NATIVE_LLONG, &cl)) ||
        (s = w_attr(f, "seed", H5T_NATIVE_LLONG, &sd)) || (source && (s = w_str(f, "source", source))))
        goto done;
done:
    if (ds >= 0) H5Dclose(ds);
    if (sp >= 0) H5Sclose(sp);
    if (f >= 0 && H5Fclose(f) < 0 && !s) s = ripple_fail(RIPPLE_ERR_IO, "%s: cannot close %s: %s", path, tmp, h5u_msg(hb));
    if (!s && rename(tmp, path) != 0)
        s = ripple_fail(RIPPLE_ERR_IO, "%s: cannot rename %s to it: %s", path, tmp, strerror(errno));
    if (s) unlink(tmp);
    return s;
}
