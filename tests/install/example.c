/* A user's program against the installed library (tests/install/run.sh
 * builds it through pkg-config): exact attention on random data against the
 * float64 reference. */
#include <ripple/ripple.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    enum { H = 2, N = 100, D = 16 };
    static float q[H * N * D], k[H * N * D], v[H * N * D], o[H * N * D];
    static double ref[H * N * D];
    srand(1);
    for (int i = 0; i < H * N * D; i++)
        q[i] = rand() / (float)RAND_MAX - 0.5f, k[i] = rand() / (float)RAND_MAX - 0.5f, v[i] = rand() / (float)RAND_MAX;
    if (ripple_attn_exact(RIPPLE_BACKEND_CPU, H, N, D, 0.25, q, k, v, o) != RIPPLE_OK ||
        ripple_attn_exact_f64(H, N, D, 0.25, q, k, v, ref) != RIPPLE_OK)
        return fprintf(stderr, "example: %s\n", ripple_last_error()), 1;
    double err = 0;
    for (int i = 0; i < H * N * D; i++) err = fmax(err, fabs(o[i] - ref[i]));
    printf("ripple %s (%s): max |o - ref| = %.2e\n", ripple_version(), ripple_build_describe(), err);
    return err < 1e-5 ? 0 : 1; /* float32 attention over 100 keys: ~1e-7 */
}
