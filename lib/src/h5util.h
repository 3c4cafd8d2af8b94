/* Small HDF5 readers for the weights and clip files (model.c, video.c),
 * with the safety habits of capture.c: HDF5's printing off, its errors
 * translated into one-line ripple errors naming file and object, hard links
 * only, storage inside the file (no external or virtual data, every chunk
 * written, contiguous data within the file's size), finite values.
 * Every function has one exit that closes what it opened. */
#ifndef RIPPLE_H5UTIL_H
#define RIPPLE_H5UTIL_H

#include "internal.h"

#include <hdf5.h>

/* Turns HDF5's automatic error printing off for the calling thread (once). */
void h5u_quiet(void);
/* The innermost message of HDF5's error stack (then cleared), printable. */
const char *h5u_msg(char buf[256]);

/* An open file: id, path for messages, size on disk. */
typedef struct h5u_file {
    hid_t id;
    const char *path;
    int64_t bytes;
} h5u_file;

/* Opens a regular HDF5 file read-only. RIPPLE_ERR_IO when it cannot be
 * opened, RIPPLE_ERR_FORMAT when it is not HDF5 or HDF5 refuses it. */
ripple_status h5u_open(const char *path, h5u_file *f);
void h5u_close(h5u_file *f);

/* Root attribute readers. *present = 0 when absent (and then not an error
 * unless required). Integers: any integer type, scalar or 1-D of exactly n
 * elements. Doubles: any float or integer type, scalar. Strings: fixed or
 * variable length, one string, cut to cap (control bytes kept). */
ripple_status h5u_attr_ints(const h5u_file *f, const char *name, int required, int n, int64_t *out, int *present);
ripple_status h5u_attr_double(const h5u_file *f, const char *name, int required, double *out, int *present);
ripple_status h5u_attr_str(const h5u_file *f, const char *name, int required, char *dst, size_t cap, int *present);

/* Reads dataset `name` (a hard link from the root) of exactly `rank` dims
 * equal to dims[] (a dims[i] < 0 matches any extent and receives it),
 * float class of 2, 4 or 8 bytes or... float class only, converted to
 * float32 into out (capacity `cap` floats, checked). Storage and finiteness
 * checked. *present = 0 (and OK) when absent and not required. */
ripple_status h5u_read_floats(const h5u_file *f, const char *name, int required, int rank, int64_t *dims,
                              float *out, size_t cap, int *present);

/* Rank and extents (up to 8) of dataset `name`; RIPPLE_ERR_FORMAT when it
 * is absent or not a simple dataset. */
/* Elements of a scalar (1) or 1-D attribute (its length, up to INT_MAX),
 * else -1: shared by the capture reader and these readers. */
int64_t h5u_attr_count(hid_t attr);

ripple_status h5u_dataset_dims(const h5u_file *f, const char *name, int *rank, int64_t dims[8]);

#endif
