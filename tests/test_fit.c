/* `ripple fit`: recovery of a ramp planted in a capture, the direction of
 * the per-step law of `ripple synth`, agreement with `ripple eval` (also
 * through --ramp), resumption, misuse, and a missing gnuplot. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* stdout of the last run without its timing lines */
static const char *out_table(void) { return tu_slurp_table(tu_tmp_path("out.txt")); }

/* Numeric cell of column col in the row whose first cell is key; nan if none. */
static double tsv_num(const char *text, const char *key, const char *col)
{
    char cell[512];
    return tu_tsv_row_cell(text, 1, &key, col, cell, sizeof cell) ? strtod(cell, NULL) : NAN;
}

static double file_num(const char *dir, const char *file, int step, const char *col)
{
    char path[1024], key[32];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    snprintf(key, sizeof key, "%d", step);
    char *t = tu_read_table(path);
    cr_assert(t, "missing %s", path);
    double v = tsv_num(t, key, col);
    free(t);
    return v;
}

/* ramp.txt value of key */
static double ramp_value(const char *dir, const char *key)
{
    char path[1024], line[256], k[64];
    double v = NAN, x;
    snprintf(path, sizeof path, "%s/ramp.txt", dir);
    FILE *f = fopen(path, "r");
    cr_assert(f, "missing %s", path);
    while (fgets(line, sizeof line, f))
        if (line[0] != '#' && sscanf(line, "%63s %lf", k, &x) == 2 && !strcmp(k, key)) v = x;
    fclose(f);
    return v;
}

/* ------------------------------------------------------- planted ramp */

/* A capture whose per-step threshold is known exactly: grid 2 x 4 x 4, one
 * head, every step captured. Frame 1 of q and k is frame 0 plus +-2 D_i per
 * entry, so every window along t (w = 2) has delta exactly D_i: reuse along
 * t changes nothing for theta <= D_i (delta < theta is strict) and moves
 * every frame-1 entry by 2 D_i for theta > D_i. The largest theta with error
 * <= a tiny target is therefore D_i. D_i follows the planted ramp (and a
 * tiny 1e-3 where the ramp is 0, since some error must exist there). */
#define PLANT_S 12
static const double plant_start = 0.2, plant_end = 0.5;
static const int plant_imin = 3, plant_imax = 8;

static double planted_theta(int i)
{
    if (i < plant_imin || i == PLANT_S - 1) return 0;
    if (i > plant_imax) return plant_end;
    return plant_start + (i - plant_imin) * (plant_end - plant_start) / (plant_imax - plant_imin);
}

static void write_planted(const char *path)
{
    ripple_capture_info info;
    memset(&info, 0, sizeof info);
    ripple_layout *lay = &info.layout;
    lay->grid[0] = 2, lay->grid[1] = 4, lay->grid[2] = 4;
    lay->seq_len = 32;
    lay->video_offset = 0;
    lay->head_dim = 8;
    lay->num_groups = 3;
    lay->group_axis[0] = RIPPLE_AXIS_T, lay->group_axis[1] = RIPPLE_AXIS_H, lay->group_axis[2] = RIPPLE_AXIS_W;
    lay->group_len[0] = 2, lay->group_len[1] = 4, lay->group_len[2] = 2;
    snprintf(info.model, sizeof info.model, "planted");
    snprintf(info.rope_axes, sizeof info.rope_axes, "thw");
    info.num_heads = 1;
    info.num_layers = 1;
    info.num_steps = PLANT_S;
    info.scale = 1.0 / sqrt(8.0);
    ripple_capture_writer *w;
    cr_assert_eq(ripple_capture_writer_open(path, &info, 4, &w), RIPPLE_OK, "%s", ripple_last_error());
    float q[32 * 8], k[32 * 8], v[32 * 8];
    tu_rng rng = {424242};
    for (int s = 0; s < PLANT_S; s++) {
        double d = planted_theta(s) > 0 ? planted_theta(s) : 1e-3;
        if (s == PLANT_S - 1) d = 0.3; /* the last step: measured, not fitted */
        for (int tok = 0; tok < 16; tok++)
            for (int c = 0; c < 8; c++) {
                int i0 = tok * 8 + c, i1 = (16 + tok) * 8 + c;
                q[i0] = (float)tu_normal(&rng);
                k[i0] = (float)tu_normal(&rng);
                /* exact in float: multiples of 2^-20 stay exact after the +-2D step */
                q[i0] = ldexpf(rintf(ldexpf(q[i0], 20)), -20);
                k[i0] = ldexpf(rintf(ldexpf(k[i0], 20)), -20);
                q[i1] = q[i0] + (float)((tu_uniform(&rng) < 0.5 ? 2 : -2) * d);
                k[i1] = k[i0] + (float)((tu_uniform(&rng) < 0.5 ? 2 : -2) * d);
            }
        for (int i = 0; i < 32 * 8; i++) v[i] = (float)tu_normal(&rng);
        cr_assert_eq(ripple_capture_writer_put(w, s, 0, 1.0 - (double)s / PLANT_S, q, k, v, NULL), RIPPLE_OK,
                     "%s", ripple_last_error());
    }
    cr_assert_eq(ripple_capture_writer_commit(w), RIPPLE_OK, "%s", ripple_last_error());
}

Test(fit, recovers_a_ramp_planted_in_a_capture)
{
    char cap[512], dir[512], args[2048];
    snprintf(cap, sizeof cap, "%s", tu_tmp_path("planted.h5"));
    snprintf(dir, sizeof dir, "%s", tu_tmp_path("planted"));
    write_planted(cap);
    snprintf(args, sizeof args, "fit '%s' --out '%s' --target 1e-12 --axes t --tol 1e-7 --no-floor", cap, dir);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    /* per-step thresholds: D_i from below, to the bisection tolerance and the 6 printed digits */
    for (int s = 0; s < PLANT_S; s++) {
        double d = planted_theta(s) > 0 ? planted_theta(s) : 1e-3;
        if (s == PLANT_S - 1) d = 0.3;
        double th = file_num(dir, "fit_steps.tsv", s, "theta");
        cr_expect_leq(th, d * (1 + 1e-6), "step %d: theta %g, planted %g", s, th, d);
        cr_expect_geq(th, d * (1 - 2e-5), "step %d: theta %g, planted %g", s, th, d);
        cr_expect_leq(file_num(dir, "fit_steps.tsv", s, "mse"), 1e-12, "step %d", s);
    }
    /* the ramp */
    cr_expect_eq(ramp_value(dir, "i_min"), plant_imin);
    cr_expect_eq(ramp_value(dir, "i_max"), plant_imax);
    cr_expect_eq(ramp_value(dir, "num_steps"), PLANT_S);
    cr_expect_float_eq(ramp_value(dir, "theta_start"), plant_start, 1e-4);
    cr_expect_float_eq(ramp_value(dir, "theta_end"), plant_end, 1e-4);
    const char *out = out_table();
    cr_expect(strstr(out, "1-based (the paper's Table 1 form)"), "%s", out);
    cr_expect(strstr(out, "drops theta_start"), "states the Eq. 4 / Table 1 discrepancy");
    cr_expect(strstr(out, "HunyuanVideo"));
    /* fit.tsv: one row per step of the schedule, the ramp's theta at each */
    for (int s = 0; s < PLANT_S; s++)
        cr_expect_float_eq(file_num(dir, "fit.tsv", s, "theta_ramp"), planted_theta(s), 1e-4, "step %d", s);
}

/* --------------------------------------------- the law of ripple synth */

/* ripple synth adds white noise of sigma(step) = noise (1 - 0.9 step/(S-1)),
 * falling with the step, on smooth fields. Window deltas shrink with sigma,
 * so at a fixed theta more entries are reused at later steps (reused entries
 * move by less than theta whatever sigma is): the error at fixed theta grows
 * with the step, and the threshold meeting a fixed error falls with it.
 * For small theta, the reused fraction ~ theta / sigma_delta and each reused
 * entry's squared change ~ theta^2, so mse ~ theta^3 / sigma_delta and
 * theta_i ~ sigma_delta(i)^(1/3): a smooth, monotone, nearly linear fall. */
Test(fit, synth_thresholds_follow_the_per_step_law)
{
    char cap[512], dir[512], args[2048];
    snprintf(cap, sizeof cap, "%s", tu_tmp_path("law.h5"));
    snprintf(dir, sizeof dir, "%s", tu_tmp_path("law"));
    snprintf(args, sizeof args, "synth '%s' --grid 4,8,8 --heads 2 --head-dim 32 --num-steps 20 --steps 6 "
             "--layers 2 --seed 11", cap);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    snprintf(args, sizeof args, "fit '%s' --out '%s' --target 1e-4 --no-floor", cap, dir);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    static const int steps[6] = {0, 4, 8, 11, 15, 19};
    double prev = INFINITY, mean = 0;
    for (int j = 0; j < 6; j++) {
        double th = file_num(dir, "fit_steps.tsv", steps[j], "theta");
        cr_expect_lt(th, prev, "theta falls with the step: step %d theta %g after %g", steps[j], th, prev);
        cr_expect_eq(file_num(dir, "fit_steps.tsv", steps[j], "saturated"), 0);
        cr_expect_leq(file_num(dir, "fit_steps.tsv", steps[j], "mse"), 1e-4);
        prev = th;
        mean += th / 6;
    }
    /* a ramp describes it: the fit residual is small against the thresholds */
    double rms = 0;
    for (int j = 0; j < 5; j++) {
        double r = file_num(dir, "fit.tsv", steps[j], "theta_ramp") - file_num(dir, "fit.tsv", steps[j],
                                                                                  "theta_measured");
        rms += r * r / 5;
    }
    cr_expect_lt(sqrt(rms), 0.02 * mean, "ramp residual rms %g, mean theta %g", sqrt(rms), mean);
    cr_expect_gt(ramp_value(dir, "theta_start"), ramp_value(dir, "theta_end"));
}

/* ---------------------------------------------- agreement with eval */

static double eval_mse(const char *cap, const char *how, int step, int layer, const char *col)
{
    char args[2048];
    snprintf(args, sizeof args, "eval '%s' --step %d --layer %d %s --method reuse --format tsv --no-floor", cap,
             step, layer, how);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    return tsv_num(out_table(), "reuse", col);
}

Test(fit, numbers_agree_with_eval_and_the_ramp_file)
{
    char cap[512], dir[512], args[2048], how[1200];
    snprintf(cap, sizeof cap, "%s", tu_tmp_path("agree.h5"));
    snprintf(dir, sizeof dir, "%s", tu_tmp_path("agree"));
    snprintf(args, sizeof args, "synth '%s' --grid 3,4,4 --heads 2 --head-dim 16 --num-steps 10 --steps 3 "
             "--layers 2 --seed 3", cap);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    snprintf(args, sizeof args, "fit '%s' --out '%s' --target 2e-4 --axes th --no-floor", cap, dir);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    static const int steps[3] = {0, 5, 9};
    for (int j = 0; j < 3; j++) {
        int s = steps[j];
        /* the threshold as printed reproduces the printed error (mean of the layers) */
        snprintf(how, sizeof how, "--theta %.6g --axes th", file_num(dir, "fit_steps.tsv", s, "theta"));
        double m = 0.5 * (eval_mse(cap, how, s, 0, "mse") + eval_mse(cap, how, s, 1, "mse"));
        double want = file_num(dir, "fit_steps.tsv", s, "mse");
        cr_expect_float_eq(m, want, 1e-5 * want, "step %d: eval %g, fit %g", s, m, want);
        double sc = 0.5 * (eval_mse(cap, how, s, 0, "s_score") + eval_mse(cap, how, s, 1, "s_score"));
        cr_expect_float_eq(sc, file_num(dir, "fit_steps.tsv", s, "s_score"), 1e-5, "step %d", s);
        /* eval --ramp gives the ramp's error */
        snprintf(how, sizeof how, "--ramp '%s/ramp.txt' --axes th", dir);
        m = 0.5 * (eval_mse(cap, how, s, 0, "mse") + eval_mse(cap, how, s, 1, "mse"));
        want = file_num(dir, "fit.tsv", s, "mse_at_ramp");
        cr_expect_float_eq(m, want, 1e-5 * want + 1e-30, "step %d: eval --ramp %g, fit %g", s, m, want);
        cr_expect_float_eq(eval_mse(cap, how, s, 0, "theta"), file_num(dir, "fit.tsv", s, "theta_ramp"),
                           1e-5, "step %d", s);
    }
    cr_expect_eq(file_num(dir, "fit.tsv", 9, "theta_ramp"), 0.0, "the last step never reuses");
    cr_expect_eq(file_num(dir, "fit.tsv", 3, "captured"), 0.0);
    cr_expect(isnan(file_num(dir, "fit.tsv", 3, "theta_measured")));
}

/* ---------------------------------------------------------- resumption */

Test(fit, resumption_skips_finished_steps)
{
    char cap[512], dir[512], args[2048], path[1024], partial[1100];
    snprintf(cap, sizeof cap, "%s", tu_tmp_path("resume.h5"));
    snprintf(dir, sizeof dir, "%s", tu_tmp_path("resume"));
    snprintf(args, sizeof args, "synth '%s' --grid 3,4,4 --heads 1 --head-dim 16 --num-steps 10 --steps 4 "
             "--layers 1 --seed 8", cap);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    snprintf(args, sizeof args, "fit '%s' --out '%s' --target 1e-4 --no-floor", cap, dir);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    cr_expect(strstr(out_table(), "(0 steps reused)"), "%s", out_table());
    snprintf(path, sizeof path, "%s/fit_steps.tsv", dir);
    char *full = tu_read_table(path);
    snprintf(path, sizeof path, "%s/fit.tsv", dir);
    char *fullfit = tu_read_table(path);
    cr_assert(full && fullfit);

    cr_assert_eq(tu_ripple(NULL, args), 0);
    cr_expect(strstr(out_table(), "(4 steps reused)"), "%s", out_table());
    cr_expect(strstr(out_table(), "(10 rows reused)"), "%s", out_table());

    /* interrupted after two steps: the rest is computed, the result is the same */
    const char *p = full;
    for (int data = 0; *p && data < 3;) {
        if (*p != '#') data++;
        p = strchr(p, '\n') + 1;
    }
    snprintf(path, sizeof path, "%s/fit_steps.tsv", dir);
    snprintf(partial, sizeof partial, "%s.partial", path);
    FILE *f = fopen(partial, "w");
    cr_assert(f);
    fwrite(full, 1, (size_t)(p - full), f);
    fputs("6\t0.3", f); /* cut short */
    fclose(f);
    unlink(path);
    snprintf(path, sizeof path, "%s/fit.tsv", dir);
    unlink(path);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    cr_expect(strstr(out_table(), "(2 steps reused)"), "%s", out_table());
    snprintf(path, sizeof path, "%s/fit_steps.tsv", dir);
    char *again = tu_read_table(path);
    snprintf(path, sizeof path, "%s/fit.tsv", dir);
    char *againfit = tu_read_table(path);
    cr_assert(again && againfit);
    cr_expect_str_eq(again, full);
    cr_expect_str_eq(againfit, fullfit);
    free(full);
    free(fullfit);
    free(again);
    free(againfit);
}

/* -------------------------------------------------------------- misuse */

Test(fit, bad_options_fail_cleanly)
{
    char cap[512], cap2[512], dir[512], args[2048];
    snprintf(cap, sizeof cap, "%s", tu_tmp_path("bad.h5"));
    snprintf(cap2, sizeof cap2, "%s", tu_tmp_path("bad2.h5"));
    snprintf(dir, sizeof dir, "%s", tu_tmp_path("bad"));
    snprintf(args, sizeof args, "synth '%s' --grid 2,4,4 --heads 1 --head-dim 16 --num-steps 10 --steps 2 "
             "--layers 1", cap);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    snprintf(args, sizeof args, "synth '%s' --grid 2,4,4 --heads 1 --head-dim 16 --num-steps 12 --steps 2 "
             "--layers 1", cap2);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    struct { const char *fmt; int rc; const char *msg; } cases[] = {
        {"fit '%s' --out '%s'", 2, "--target MSE is required"},
        {"fit '%s' --out '%s' --target 0", 2, "positive"},
        {"fit '%s' --out '%s' --target -1", 2, "out of range"},
        {"fit '%s' --out '%s' --target x", 2, "not a number"},
        {"fit '%s' --out '%s' --target 1e-4 --mode relative", 2, "not absolute or channel"},
        {"fit '%s' --out '%s' --target 1e-4 --tol 2", 2, "out of range"},
        {"fit '%s' --out '%s' --target 1e-4 --theta-max 0", 2, "> 0"},
        {"fit '%s' --target 1e-4 %.0s", 2, "--out DIR is required"},
        {"fit '%s' --out '%s' --target 1e-4 --bogus", 2, "unknown option"},
        {"fit '%s' --out '%s' --target 1e-4 --steps 9", 1, "nothing to fit"},
        {"fit '%s' --out '%s' --target 1e-4 --steps 4", 1, "matches no captured"},
        {"fit '%s.missing' --out '%s' --target 1e-4", 1, "cannot"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, cases[i].fmt, cap, dir);
        int rc = tu_ripple(NULL, args);
        const char *err = tu_err();
        cr_expect_eq(rc, cases[i].rc, "case %zu (%s): exit %d: %s", i, args, rc, err);
        cr_expect(strstr(err, cases[i].msg), "case %zu: message '%s'", i, err);
        cr_expect(strstr(err, "ripple fit: "), "case %zu: names the command: %s", i, err);
    }
    snprintf(args, sizeof args, "fit '%s' '%s' --out '%s' --target 1e-4", cap, cap2, dir);
    cr_expect_eq(tu_ripple(NULL, args), 1);
    cr_expect(strstr(tu_err(), "one schedule"), "%s", tu_err());
    cr_expect_eq(tu_ripple(NULL, "fit --help"), 0);
    cr_expect(strstr(out_table(), "usage: ripple fit"));
}

Test(fit, without_gnuplot_the_tables_script_and_ramp_are_written)
{
    char cap[512], dir[512], empty[512], args[2048], path[1100], env[600];
    snprintf(cap, sizeof cap, "%s", tu_tmp_path("nognu.h5"));
    snprintf(dir, sizeof dir, "%s", tu_tmp_path("nognu"));
    snprintf(empty, sizeof empty, "%s", tu_tmp_path("emptybin"));
    snprintf(args, sizeof args, "synth '%s' --grid 2,4,4 --heads 1 --head-dim 16 --num-steps 10 --steps 3 "
             "--layers 1", cap);
    cr_assert_eq(tu_ripple(NULL, args), 0, "%s", tu_err());
    snprintf(args, sizeof args, "mkdir -p '%s'", empty);
    cr_assert_eq(tu_system(args), 0);
    snprintf(env, sizeof env, "PATH='%s'", empty);
    snprintf(args, sizeof args, "fit '%s' --out '%s' --target 1e-4 --no-floor", cap, dir);
    cr_assert_eq(tu_ripple(env, args), 0, "%s", tu_err());
    cr_expect(strstr(tu_err(), "gnuplot not found"), "%s", tu_err());
    cr_expect(strstr(tu_err(), "gnuplot fit.gp"), "%s", tu_err());
    static const char *const files[] = {"fit.tsv", "fit_steps.tsv", "fit.gp", "ramp.txt"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        cr_expect_eq(access(path, R_OK), 0, "%s", files[i]);
    }
    snprintf(path, sizeof path, "%s/fit.png", dir);
    cr_expect_neq(access(path, F_OK), 0);
    if (tu_system("command -v gnuplot >/dev/null 2>&1") == 0) {
        snprintf(args, sizeof args, "cd '%s' && gnuplot fit.gp 2>&1", dir);
        cr_expect_eq(tu_system(args), 0);
        cr_expect_eq(access(path, R_OK), 0);
    }
}
