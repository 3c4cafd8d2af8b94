/* The project's Python capture writer (data/ripple_capture.py, used by the
 * capture script of our model and by any PyTorch model) against the C
 * reader, and files written by ripple against its Python checker. Values are
 * chosen exactly representable in float16, so the round trip must be exact.
 * Skipped when python3 cannot import h5py and numpy. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int have_h5py(void) { return tu_system("python3 -c 'import h5py, numpy' >/dev/null 2>&1") == 0; }

/* Writes a capture with the Python writer: grid 2x3x4, 3 text tokens, 2
 * heads, head_dim 8 split 2,3,3 over t,h,w, steps 0 and 5 of 10, layer 1
 * of 2; element (h, n, c) of tensor j (q0 k1 v2 o3) at step s is
 * ((h*31 + n*7 + c*3 + j*5 + s) % 64 - 32) / 16, exact in float16. */
static const char *py_writer =
    "import sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "import numpy as np\n"
    "from ripple_capture import CaptureWriter\n"
    "H, N, D = 2, 3 + 24, 8\n"
    "def val(j, s):\n"
    "    h, n, c = np.meshgrid(np.arange(H), np.arange(N), np.arange(D), indexing='ij')\n"
    "    return (((h*31 + n*7 + c*3 + j*5 + s) % 64) - 32).astype(np.float32) / 16\n"
    "with CaptureWriter(sys.argv[2], model='py-test', grid=(2, 3, 4), num_heads=H, head_dim=D,\n"
    "                   num_layers=2, num_steps=10, seq_len=N, video_offset=3, rope_split=(2, 3, 3),\n"
    "                   prompt='a test', seed=11, source='test_pywriter') as w:\n"
    "    for s in (0, 5):\n"
    "        w.add(s, 1, val(0, s), val(1, s), val(2, s), val(3, s), timestep=1 - s / 10)\n";

static float expected(int j, int s, int h, int n, int c)
{
    return (float)(((h * 31 + n * 7 + c * 3 + j * 5 + s) % 64) - 32) / 16.0f;
}

Test(pywriter, python_writer_is_read_exactly_by_ripple)
{
    if (!have_h5py()) cr_skip_test("python3 cannot import h5py and numpy");
    char script[512], cap[512];
    snprintf(script, sizeof script, "%s", tu_tmp_path("writer.py"));
    snprintf(cap, sizeof cap, "%s", tu_tmp_path("py.h5"));
    FILE *f = fopen(script, "w");
    cr_assert_not_null(f);
    fputs(py_writer, f);
    fclose(f);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "python3 '%s' '%s/data' '%s'", script, RIPPLE_SOURCE_ROOT, cap);
    cr_assert_eq(tu_system(cmd), 0, "the Python writer failed: %s", cmd);

    ripple_capture *c = NULL;
    cr_assert_eq(ripple_capture_open(cap, &c), RIPPLE_OK, "%s", ripple_last_error());
    const ripple_capture_info *info = ripple_capture_get_info(c);
    cr_expect_str_eq(info->model, "py-test");
    cr_expect_str_eq(info->prompt, "a test");
    cr_expect_eq(info->seed, 11);
    cr_expect_eq(info->layout.video_offset, 3);
    cr_expect_eq(info->layout.num_groups, 3);
    cr_expect_eq(info->layout.group_len[1], 3);
    cr_assert_eq(ripple_capture_num_entries(c), 2);
    const ripple_capture_entry *e = ripple_capture_find(c, 5, 1);
    cr_assert_not_null(e);
    cr_expect_float_eq(e->timestep, 0.5, 1e-12);
    cr_expect(e->has_o);
    cr_expect_eq(e->elem_bytes, 2, "values within float16 range are stored as float16");

    float buf[2 * 27 * 8];
    static const ripple_tensor which[4] = {RIPPLE_TENSOR_Q, RIPPLE_TENSOR_K, RIPPLE_TENSOR_V, RIPPLE_TENSOR_O};
    int bad = 0;
    for (int s = 0; s <= 5; s += 5)
        for (int j = 0; j < 4; j++) {
            cr_assert_eq(ripple_capture_read(c, s, 1, which[j], 0, 2, buf), RIPPLE_OK, "%s", ripple_last_error());
            for (int h = 0; h < 2; h++)
                for (int n = 0; n < 27; n++)
                    for (int ch = 0; ch < 8; ch++)
                        bad += buf[(h * 27 + n) * 8 + ch] != expected(j, s, h, n, ch);
        }
    cr_expect_eq(bad, 0, "%d values differ after the float16 round trip (all are exact in float16)", bad);
    ripple_capture_close(c);

    /* and the command line reads it too */
    char args[1024];
    snprintf(args, sizeof args, "eval '%s' --step 5 --layer 1 --theta 0.2 --format tsv", cap);
    cr_expect_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
}

Test(pywriter, ripple_files_pass_the_python_checker)
{
    if (!have_h5py()) cr_skip_test("python3 cannot import h5py and numpy");
    const char *cap = tu_synth("forpy.h5", "--grid 2,3,4 --heads 2 --head-dim 16 --rope-split 4,6,6 --steps 2 --layers 1");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import ripple_capture as r; "
             "r.check_capture(sys.argv[2])' '%s/data' '%s'",
             RIPPLE_SOURCE_ROOT, cap);
    cr_expect_eq(tu_system(cmd), 0, "data/ripple_capture.py check_capture rejects a file written by ripple");
}
