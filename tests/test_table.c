/* Result tables: TSV layout, number formatting, atomic save. */
#include "table.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

Test(table, tsv_has_metadata_header_and_plain_numbers)
{
    const char *cols[] = {"method", "mse", "n"};
    rtable *t = rtable_new(3, cols);
    cr_assert_not_null(t);
    rtable_meta(t, "capture", "a\tb\nc"); /* tabs and newlines must not break the line */
    rtable_add_row(t);
    rtable_set_str(t, "method", "reuse");
    rtable_set_num(t, "mse", 1.5e-7);
    rtable_set_int(t, "n", 42);
    rtable_add_row(t);
    rtable_set_str(t, "method", "exact");
    rtable_set_num(t, "mse", INFINITY);
    const char *path = tu_tmp_path("t.tsv");
    cr_assert_eq(rtable_save_tsv(t, path), 0);
    cr_assert_str_eq(slurp(path), "# capture: a b c\nmethod\tmse\tn\nreuse\t1.5e-07\t42\nexact\tinf\t\n");
    cr_assert_str_eq(rtable_get(t, 0, "n"), "42");
    cr_assert_str_eq(rtable_get(t, 1, "n"), "");
    cr_assert_str_eq(rtable_get(t, 5, "n"), "");
    rtable_free(t);
}

/* fit prints its thresholds rounded down, so that the printed value is within the target too */
Test(table, round_down_stays_at_or_below)
{
    cr_expect_eq(rtable_round_down(0.123456789), 0.123456);
    cr_expect_eq(rtable_round(0.123456789), 0.123457, "plain rounding goes up here");
    cr_expect_eq(rtable_round_down(1.9999999), 1.99999);
    cr_expect_eq(rtable_round_down(0.25), 0.25, "a value a cell holds is kept");
    cr_expect_eq(rtable_round_down(0), 0);
    const double x[] = {3.14159265e-5, 987654.5, 1e-300, 7.0000001};
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) {
        double r = rtable_round_down(x[i]);
        cr_expect(r <= x[i] && r == rtable_round(r), "%.17g -> %.17g", x[i], r);
        cr_expect(x[i] - r <= 1e-5 * x[i], "%.17g -> %.17g: one step of the 6th digit at most", x[i], r);
    }
}

Test(table, save_to_missing_folder_fails_and_leaves_nothing)
{
    const char *cols[] = {"a"};
    rtable *t = rtable_new(1, cols);
    cr_assert_neq(rtable_save_tsv(t, "/nonexistent-dir/x.tsv"), 0);
    struct stat st;
    cr_assert_neq(stat("/nonexistent-dir/x.tsv", &st), 0);
    rtable_free(t);
}
