/* Layout checks. Every size here may come from a file, so every sum and
 * product is computed with overflow checks (ripple_add_ovf/ripple_mul_ovf):
 * a wrapped sum of channel groups once passed the head_dim check and let
 * the savings and reuse loops run past their buffers. */
#include "internal.h"

int64_t ripple_layout_video_tokens(const ripple_layout *lay)
{
    int64_t hw, thw;
    if (ripple_mul_ovf(lay->grid[1], lay->grid[2], &hw) || ripple_mul_ovf(lay->grid[0], hw, &thw))
        return -1;
    return thw;
}

ripple_status ripple_layout_check(const ripple_layout *lay)
{
    if (!lay) return ripple_fail(RIPPLE_ERR_INVALID, "layout is NULL");
    static const int64_t max_dim = INT64_C(1) << 31;
    for (int a = 0; a < 3; a++)
        if (lay->grid[a] <= 0 || lay->grid[a] > max_dim)
            return ripple_fail(RIPPLE_ERR_INVALID, "grid[%d] = %lld must be in 1..2^31", a,
                               (long long)lay->grid[a]);
    if (lay->seq_len <= 0 || lay->head_dim <= 0)
        return ripple_fail(RIPPLE_ERR_INVALID, "seq_len (%lld) and head_dim (%lld) must be positive",
                           (long long)lay->seq_len, (long long)lay->head_dim);
    if (lay->video_offset < 0)
        return ripple_fail(RIPPLE_ERR_INVALID, "video_offset %lld is negative",
                           (long long)lay->video_offset);
    if (!ripple_mul3(lay->grid[0], lay->grid[1], lay->grid[2]) ||
        !ripple_mul3(lay->seq_len, lay->head_dim, 1))
        return ripple_fail(RIPPLE_ERR_NOMEM, "grid or seq_len x head_dim overflows");
    int64_t vt = ripple_layout_video_tokens(lay), end;
    if (vt < 0 || ripple_add_ovf(lay->video_offset, vt, &end) || lay->seq_len < end)
        return ripple_fail(RIPPLE_ERR_INVALID,
                           "seq_len %lld < video_offset %lld + T*H*W %lld: video tokens do not fit",
                           (long long)lay->seq_len, (long long)lay->video_offset, (long long)vt);
    if (lay->num_groups < 0 || lay->num_groups > 3)
        return ripple_fail(RIPPLE_ERR_INVALID, "num_groups %d must be 0..3", lay->num_groups);
    int64_t sum = 0;
    int ovf = 0;
    for (int g = 0; g < lay->num_groups; g++) {
        if (lay->group_len[g] < 0)
            return ripple_fail(RIPPLE_ERR_INVALID, "channel group %d has negative length", g);
        if (lay->group_axis[g] < 0 || lay->group_axis[g] >= RIPPLE_AXIS_COUNT)
            return ripple_fail(RIPPLE_ERR_INVALID, "channel group %d has no axis t, h or w", g);
        ovf |= ripple_add_ovf(sum, lay->group_len[g], &sum);
    }
    if (ovf)
        return ripple_fail(RIPPLE_ERR_INVALID,
                           "channel groups of %lld, %lld and %lld channels overflow when summed (head_dim is %lld)",
                           (long long)lay->group_len[0], (long long)(lay->num_groups > 1 ? lay->group_len[1] : 0),
                           (long long)(lay->num_groups > 2 ? lay->group_len[2] : 0), (long long)lay->head_dim);
    if (sum > lay->head_dim)
        return ripple_fail(RIPPLE_ERR_INVALID, "channel groups sum to %lld > head_dim %lld",
                           (long long)sum, (long long)lay->head_dim);
    return RIPPLE_OK;
}

/* Valid only for a layout that passed ripple_layout_check (no overflow then:
 * the running start stays <= head_dim). */
int ripple_layout_group_of(const ripple_layout *lay, int64_t c)
{
    int64_t start = 0;
    for (int g = 0; g < lay->num_groups; g++) {
        if (c >= start && c - start < lay->group_len[g]) return g;
        start += lay->group_len[g];
    }
    return -1;
}
