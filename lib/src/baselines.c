/* Baselines at the same savings (method.md section 3): mask-skip and
 * mask-magnitude. Both are alias-safe (x_out may equal x): every output
 * element depends only on the input element at the same index, once the
 * selection is known.
 *
 * mask-magnitude selects the `count` entries of lowest |x| (ties: lower index
 * first) with a radix select on the 31-bit key |x| (the float's bits with the
 * sign cleared, which order like the magnitudes; NaN keys sort above
 * infinity, so NaN is zeroed last): three histogram passes of 11, 11 and 10
 * bits find the count-th smallest key K and how many entries equal to K are
 * taken, then one pass zeroes every key < K and the first of those equal to
 * K. O(n) time, O(1) extra memory, so n = 1e8 is four streaming reads. */
#include "internal.h"

#include <string.h>

ripple_status ripple_mask_skip(int64_t n, const float *x, const ripple_mask_t *mask, float *x_out)
{
    if (n < 0) return ripple_fail(RIPPLE_ERR_INVALID, "n = %lld is negative", (long long)n);
    if (n > 0 && (!x || !mask || !x_out))
        return ripple_fail(RIPPLE_ERR_INVALID, "x, mask or x_out is NULL");
    for (int64_t i = 0; i < n; i++) x_out[i] = mask[i] ? 0.0f : x[i];
    return RIPPLE_OK;
}

static uint32_t mag_key(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return u & 0x7fffffffu;
}

ripple_status ripple_mask_magnitude(int64_t n, const float *x, int64_t count, float *x_out)
{
    if (n < 0) return ripple_fail(RIPPLE_ERR_INVALID, "n = %lld is negative", (long long)n);
    if (count < 0 || count > n)
        return ripple_fail(RIPPLE_ERR_INVALID, "count %lld must be in 0..n (n = %lld)",
                           (long long)count, (long long)n);
    if (n > 0 && (!x || !x_out)) return ripple_fail(RIPPLE_ERR_INVALID, "x or x_out is NULL");
    if (count == 0) {
        if (x_out != x) memmove(x_out, x, (size_t)n * sizeof(float));
        return RIPPLE_OK;
    }

    /* Radix select: key = prefix of the digits chosen so far. */
    static const int shift[3] = {21, 10, 0};
    static const int bits[3] = {11, 11, 10};
    int64_t hist[2048];
    uint32_t prefix = 0, pmask = 0; /* bits of the key fixed so far */
    int64_t k = count;              /* rank still sought among keys matching prefix */
    for (int pass = 0; pass < 3; pass++) {
        const uint32_t nb = 1u << bits[pass];
        memset(hist, 0, nb * sizeof hist[0]);
        for (int64_t i = 0; i < n; i++) {
            const uint32_t key = mag_key(x[i]);
            if ((key & pmask) == prefix) hist[(key >> shift[pass]) & (nb - 1)]++;
        }
        uint32_t b = 0;
        while (k > hist[b]) {
            k -= hist[b];
            b++;
            RIPPLE_ASSERT(b < nb);
        }
        prefix |= b << shift[pass];
        pmask |= (nb - 1) << shift[pass];
    }
    /* K = prefix: zero all keys < K and the first k keys == K. */
    const uint32_t K = prefix;
    int64_t taken = 0;
    for (int64_t i = 0; i < n; i++) {
        const uint32_t key = mag_key(x[i]);
        int zero = key < K;
        if (key == K && taken < k) {
            zero = 1;
            taken++;
        }
        x_out[i] = zero ? 0.0f : x[i];
    }
    RIPPLE_ASSERT(taken == k);
    return RIPPLE_OK;
}
