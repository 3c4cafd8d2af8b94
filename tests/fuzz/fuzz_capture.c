/* libFuzzer harness for the capture reader: every input is written to a
 * file on /dev/shm (the reader takes a path), opened with
 * ripple_capture_open, and every tensor of every entry is read (up to a
 * cap, so one input cannot ask for gigabytes of decompressed data). What
 * it looks for: crashes, hangs, leaks, undefined behaviour and memory
 * errors in ripple's own code; those inside libhdf5 are triaged into the
 * regression corpus (tests/fuzz/README.md). Build: meson setup with
 * -Dfuzz=true and clang (see the README). */
#include "ripple/ripple.h"

#include <hdf5.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Most float32 data one input may make the harness read. */
#define READ_CAP ((size_t)64 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reader closed every HDF5 id it opened (a leak of ours would also
 * show as memory libhdf5 allocated; this tells the two apart). */
static void check_no_open_ids(void)
{
    if (H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/dev/shm/ripple-fuzz-%ld.h5", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    if (size && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return 0;
    }
    if (fclose(f) != 0) return 0;

    ripple_capture *cap = NULL;
    ripple_status st = ripple_capture_open(path, &cap);
    unlink(path); /* HDF5 keeps it open; a crash leaves one file, not one per input */
    if (st != RIPPLE_OK) {
        /* every refusal has a one-line message that names the file and
         * echoes no raw byte from it */
        const char *msg = ripple_last_error();
        if (!strstr(msg, path)) abort();
        for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
            if (*p < 0x20 || *p >= 0x7f) abort();
        check_no_open_ids();
        return 0;
    }
    const ripple_capture_info *in = ripple_capture_get_info(cap);
    if (ripple_layout_check(&in->layout) != RIPPLE_OK) abort(); /* open promised a valid layout */
    const size_t per_head = (size_t)in->layout.seq_len * (size_t)in->layout.head_dim;
    float *buf = NULL;
    size_t budget = READ_CAP / sizeof(float);
    for (size_t i = 0; i < ripple_capture_num_entries(cap); i++) {
        const ripple_capture_entry *e = ripple_capture_get_entry(cap, i);
        if (ripple_capture_find(cap, e->step, e->layer) != e) abort();
        for (int t = 0; t < 4; t++) {
            if (t == RIPPLE_TENSOR_O && !e->has_o) continue;
            for (int64_t h = 0; h < in->num_heads; h++) {
                if (per_head > budget) goto done;
                budget -= per_head;
                if (!buf && !(buf = malloc(per_head * sizeof *buf))) goto done;
                ripple_status s = ripple_capture_read(cap, e->step, e->layer, (ripple_tensor)t, h, 1, buf);
                if (s != RIPPLE_OK && s != RIPPLE_ERR_NONFINITE && s != RIPPLE_ERR_IO) abort();
            }
        }
    }
done:
    free(buf);
    ripple_capture_close(cap);
    check_no_open_ids();
    return 0;
}
