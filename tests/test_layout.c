/* ripple_layout_check, ripple_layout_group_of, ripple_layout_video_tokens. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"

/* 2 text tokens + 2x3x4 video tokens; channels t:4, h:6, w:6 of 20. */
static ripple_layout base(void)
{
    ripple_layout l;
    memset(&l, 0, sizeof l);
    l.grid[0] = 2;
    l.grid[1] = 3;
    l.grid[2] = 4;
    l.video_offset = 2;
    l.seq_len = 2 + 24;
    l.head_dim = 20;
    l.num_groups = 3;
    l.group_axis[0] = RIPPLE_AXIS_T;
    l.group_axis[1] = RIPPLE_AXIS_H;
    l.group_axis[2] = RIPPLE_AXIS_W;
    l.group_len[0] = 4;
    l.group_len[1] = 6;
    l.group_len[2] = 6;
    return l;
}

Test(layout, accepts_valid)
{
    ripple_layout l = base();
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_OK, "%s", ripple_last_error());
    cr_assert_eq(ripple_layout_video_tokens(&l), 24);
    /* extra tokens after the video tokens, no groups, groups filling head_dim */
    l.seq_len = 100;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_OK);
    l.num_groups = 0;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_OK);
    l = base();
    l.group_len[2] = 10;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_OK);
    /* one token, one channel */
    ripple_layout one = {.grid = {1, 1, 1}, .seq_len = 1, .head_dim = 1, .num_groups = 1,
                         .group_axis = {RIPPLE_AXIS_W}, .group_len = {1}};
    cr_assert_eq(ripple_layout_check(&one), RIPPLE_OK, "%s", ripple_last_error());
}

Test(layout, rejects)
{
    cr_assert_eq(ripple_layout_check(NULL), RIPPLE_ERR_INVALID);
    ripple_layout l;

    l = base(); l.grid[1] = 0;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_INVALID, "zero grid");
    cr_assert(strstr(ripple_last_error(), "grid[1]"), "%s", ripple_last_error());
    l = base(); l.grid[0] = -2;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_INVALID, "negative grid");
    l = base(); l.grid[2] = (INT64_C(1) << 31) + 1;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_INVALID, "grid over 2^31");
    l = base(); l.seq_len = 0;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_INVALID, "zero seq_len");
    l = base(); l.head_dim = -1;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_INVALID, "negative head_dim");
    l = base(); l.video_offset = -1;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_INVALID, "negative video_offset");
    l = base(); l.seq_len = 25; /* 2 + 24 = 26 needed */
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_INVALID, "video tokens do not fit");
    cr_assert(strstr(ripple_last_error(), "seq_len 25"), "%s", ripple_last_error());
    l = base(); l.grid[0] = l.grid[1] = l.grid[2] = INT64_C(1) << 31; /* 2^93 tokens */
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_NOMEM, "T*H*W overflow");
    l = base(); l.seq_len = INT64_C(1) << 40; l.head_dim = INT64_C(1) << 40;
    l.num_groups = 0;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_NOMEM, "seq_len*head_dim overflow");
    l = base(); l.num_groups = 4;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_INVALID, "4 groups");
    l = base(); l.num_groups = -1;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_INVALID, "negative groups");
    l = base(); l.group_len[1] = -1;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_INVALID, "negative group length");
    l = base(); l.group_axis[2] = 3;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_INVALID, "bad axis");
    l = base(); l.group_len[2] = 11; /* 4 + 6 + 11 = 21 > 20 */
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_INVALID, "groups past head_dim");
    cr_assert(strstr(ripple_last_error(), "21"), "%s", ripple_last_error());
    /* sums that wrap around in int64 (to 8 and to 4 here) must not pass */
    l = base(); l.group_len[0] = INT64_MAX; l.group_len[1] = INT64_MAX; l.group_len[2] = 10;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_INVALID, "wrapped group sum");
    cr_assert(strstr(ripple_last_error(), "overflow"), "%s", ripple_last_error());
    l = base(); l.group_len[0] = INT64_MAX; l.group_len[1] = 2; l.group_len[2] = 3;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_INVALID, "wrapped group sum");
    l = base(); l.group_len[0] = INT64_MAX; l.num_groups = 1;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_INVALID, "one huge group");
    /* video_offset + T*H*W past int64 */
    l = base(); l.video_offset = INT64_MAX - 10;
    cr_assert_eq(ripple_layout_check(&l), RIPPLE_ERR_INVALID, "wrapped video end");
    cr_assert(strstr(ripple_last_error(), "do not fit"), "%s", ripple_last_error());
}

/* Library functions that take a layout refuse a wrapped one instead of
 * running past their buffers (ripple eval crashed in savings this way). */
Test(layout, users_refuse_wrapped_groups)
{
    ripple_layout l = base();
    l.group_len[0] = INT64_MAX;
    l.group_len[1] = INT64_MAX;
    l.group_len[2] = 10;
    const size_t n = (size_t)l.seq_len * (size_t)l.head_dim;
    ripple_mask_t *m = calloc(n, 1);
    float *x = calloc(n, sizeof *x);
    ripple_savings sv;
    cr_assert_eq(ripple_savings_compute(&l, m, m, &sv), RIPPLE_ERR_INVALID);
    ripple_reuse_params p = {.theta = {1, 1, 1}};
    cr_assert_eq(ripple_reuse_apply(&l, &p, x, x, m), RIPPLE_ERR_INVALID);
    double dm[20];
    cr_assert_eq(ripple_window_delta_mean(&l, RIPPLE_AXIS_T, 2, x, dm), RIPPLE_ERR_INVALID);
    free(m);
    free(x);
}

Test(layout, group_of)
{
    ripple_layout l = base();
    for (int64_t c = 0; c < 4; c++) cr_assert_eq(ripple_layout_group_of(&l, c), 0, "c=%lld", (long long)c);
    for (int64_t c = 4; c < 10; c++) cr_assert_eq(ripple_layout_group_of(&l, c), 1, "c=%lld", (long long)c);
    for (int64_t c = 10; c < 16; c++) cr_assert_eq(ripple_layout_group_of(&l, c), 2, "c=%lld", (long long)c);
    /* channels past the sum of the groups belong to none; so do out-of-range ones */
    for (int64_t c = 16; c < 20; c++) cr_assert_eq(ripple_layout_group_of(&l, c), -1, "c=%lld", (long long)c);
    cr_assert_eq(ripple_layout_group_of(&l, -1), -1);
    cr_assert_eq(ripple_layout_group_of(&l, 1000), -1);
    /* a zero-length group owns no channel */
    l.group_len[1] = 0;
    cr_assert_eq(ripple_layout_group_of(&l, 3), 0);
    cr_assert_eq(ripple_layout_group_of(&l, 4), 2);
    l.num_groups = 0;
    cr_assert_eq(ripple_layout_group_of(&l, 0), -1);
}
