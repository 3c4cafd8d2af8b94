/* ripple bench --reuse CAPTURE: the fused reuse kernel (ripple_attn_reuse's
 * CPU variant) against the dense CPU path (ripple_attn_exact's default CPU
 * path) on the same rippled inputs in the same run, for a sweep of
 * thresholds over every captured (step, layer) and all heads.
 *
 * For each (step, layer, theta): the ripple transform of every head's q and
 * k (absolute threshold theta on all axes, window 2); both kernels checked
 * against the float64 reference (rel_l2); then `reps` repetitions after a
 * warm-up, dense and reuse alternating, monotonic clock; median and min.
 * Written to DIR: bench_reuse.tsv (`#` metadata lines, header, one row per
 * (step, layer, theta)), bench_reuse.gp (reads only the TSV) and, with
 * gnuplot, bench_reuse.png: speedup against s_score, the work bound beside
 * it. The targets (issue 11) are printed from the rows with s_score >= 0.8. */
#include "bench_reuse.h"

#include "backend.h"
#include "cli.h"
#include "ripple/ripple.h"
#include "ripple_version.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Both float32 kernels sit near 1e-6 of float64 on the captures; a bug
 * shows as 1e-3 or more. */
#define REUSE_VALID_REL_L2 1e-4
#define TARGET_SPEEDUP 1.3
#define TARGET_OF_BOUND 0.75
#define TARGET_S_SCORE 0.8

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static double rel_l2(const float *o, const double *ref, size_t n)
{
    double e = 0, r = 0;
    for (size_t i = 0; i < n; i++) e += (o[i] - ref[i]) * (o[i] - ref[i]), r += ref[i] * ref[i];
    return r > 0 ? sqrt(e / r) : sqrt(e);
}

/* Rows of x (one head) equal on every channel to an earlier token of their
 * 2x2x2 cube: the query rows whose output could be copied. */
static int64_t dup_rows(const ripple_layout *lay, const float *x)
{
    const int64_t T = lay->grid[0], H = lay->grid[1], W = lay->grid[2], vo = lay->video_offset, d = lay->head_dim;
    int64_t n = 0;
    for (int64_t v = 0; v < T * H * W; v++) {
        const int64_t t = v / (H * W), h = v / W % H, w = v % W;
        int dup = 0;
        for (unsigned a = 1; a < 8 && !dup; a++) {
            int64_t s = ((a & 1u ? t - t % 2 : t) * H + (a & 2u ? h - h % 2 : h)) * W + (a & 4u ? w - w % 2 : w);
            if (s != v) dup = !memcmp(x + (size_t)(vo + v) * d, x + (size_t)(vo + s) * d, (size_t)d * sizeof *x);
        }
        n += dup;
    }
    return n;
}

/* Is the step one of steps[0..n) (n 0: every step)? */
static int step_wanted(int64_t step, const int64_t *steps, int n)
{
    for (int k = 0; k < n; k++)
        if (steps[k] == step) return 1;
    return n == 0;
}

static void write_plot(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_reuse.gp", dir);
    FILE *f = fopen(path, "w");
    if (!f) cli_data_error("cannot write %s", path);
    fprintf(f,
            "# ripple bench --reuse: reads only bench_reuse.tsv\n"
            "set terminal pngcairo size 900,600 noenhanced\n"
            "set output 'bench_reuse.png'\n"
            "set datafile separator '\\t'\n"
            "set datafile commentschars '#'\n"
            "set key top left\n"
            "set grid\n"
            "set xlabel 's_score (score savings, method.md section 2)'\n"
            "set ylabel 'speedup over the dense CPU path (same run)'\n"
            "set title 'Fused reuse kernel vs dense attention, real captures'\n"
            "set arrow from graph 0, first %g to graph 1, first %g nohead dt 3\n"
            "plot 'bench_reuse.tsv' using (column('s_score')):(column('speedup')) with points pt 7 "
            "title 'measured speedup (median ratio)', \\\n"
            "     '' using (column('s_score')):(column('bound')) with points pt 6 "
            "title 'work bound 1/(1 - s_attn - rows_reused/2)', \\\n"
            "     '' using (column('s_score')):(column('kernel_bound')) with points pt 4 "
            "title 'this kernel''s counted work 1/work', \\\n"
            "     '' using (column('s_score')):(%g * column('bound')) with points pt 1 "
            "title '%g x work bound'\n",
            TARGET_SPEEDUP, TARGET_SPEEDUP, TARGET_OF_BOUND, TARGET_OF_BOUND);
    if (fclose(f)) cli_data_error("cannot write %s", path);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(127);
        execlp("gnuplot", "gnuplot", "bench_reuse.gp", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        printf("# figure: not drawn (gnuplot missing or failed); run: cd %s && gnuplot bench_reuse.gp\n", dir);
    else printf("# figure: %s/bench_reuse.png\n", dir);
}

int bench_reuse(const char *capture, const char *out_dir, const double *thetas, int ntheta, const int64_t *steps,
                int nsteps, int64_t reps, int64_t threads, const char *cpu)
{
    ripple_capture *cap = cli_capture_open(capture, "capture");
    const ripple_capture_info *info = ripple_capture_get_info(cap);
    const ripple_layout *lay = &info->layout;
    const int64_t H = info->num_heads, N = lay->seq_len, d = lay->head_dim;
    const size_t n = (size_t)(H * N * d);
    float *x[3], *xr[2], *od = cli_alloc(n, sizeof(float), "dense output"), *orr = cli_alloc(n, sizeof(float), "reuse output");
    double *ref = cli_alloc(n, sizeof(double), "float64 reference");
    ripple_mask_t *mq = cli_alloc(n, 1, "q mask"), *mk = cli_alloc(n, 1, "k mask");
    for (int t = 0; t < 3; t++) x[t] = cli_alloc(n, sizeof(float), "q, k, v");
    xr[0] = cli_alloc(n, sizeof(float), "q~"), xr[1] = cli_alloc(n, sizeof(float), "k~");
    double *td = cli_alloc((size_t)reps, sizeof(double), "timings"), *tr = cli_alloc((size_t)reps, sizeof(double), "timings");

    size_t nentries = 0;
    for (size_t ei = 0; ei < ripple_capture_num_entries(cap); ei++)
        nentries += step_wanted(ripple_capture_get_entry(cap, ei)->step, steps, nsteps);
    if (nentries == 0) cli_data_error("%s holds none of the steps of --steps (ripple info %s lists them)", capture, capture);
    const ripple_variant *rv = ripple_variant_select(RIPPLE_OP_ATTN_REUSE, RIPPLE_BACKEND_CPU);
    const int dense_path = ripple_cpu_path_selected();
    if (!rv || dense_path < 0) cli_lib_error(RIPPLE_ERR_UNSUPPORTED, "CPU attention");
    if (mkdir(out_dir, 0777) != 0 && access(out_dir, W_OK) != 0) cli_data_error("cannot create --out %s", out_dir);
    char path[4096], part[4200];
    snprintf(path, sizeof path, "%s/bench_reuse.tsv", out_dir);
    snprintf(part, sizeof part, "%s.partial", path); /* renamed when the sweep is done */
    FILE *f = fopen(part, "w");
    if (!f) cli_data_error("cannot write %s", part);

    char meta[2048];
    snprintf(meta, sizeof meta,
             "# ripple bench --reuse %s\n# ripple: %s\n# build: %s\n# cpu: %s\n# threads: %lld\n"
             "# dense: ripple_attn_exact CPU path %s; reuse: ripple_attn_reuse variant %s\n"
             "# reuse: absolute theta on all axes (t, h, w), window 2, all channel groups\n"
             "# reps: %lld after 1 warm-up, dense and reuse alternating; times in ms (median, min)\n"
             "# speedup = dense median / reuse median; bound = 1/(1 - s_attn - rows_reused/2) (s_attn = "
             "s_score/2, the spared QK^T; rows_reused/2 the PV of fully reused rows, method.md section 2);\n"
             "# kernel_bound = 1/work, work = this kernel's counted QK^T and PV flops / dense's; dup_rows = "
             "query rows equal to a cube neighbour on every channel (the rows that could really be copied)\n",
             capture, RIPPLE_GIT_DESCRIBE,
#ifdef __OPTIMIZE__
             "optimised",
#else
             "not optimised (debug)",
#endif
             cpu, (long long)threads, ripple_cpu_path_name(dense_path), rv->name, (long long)reps);
    fputs(meta, f);
    fputs(meta, stdout);
    const char *hdr = "step\tlayer\theads\ttheta\ts_score\ts_attn\trows_reused\tdup_rows\twork\tdense_ms\treuse_ms\t"
                      "dense_min_ms\treuse_min_ms\tspeedup\tbound\tof_bound\tkernel_bound\trel_l2_dense\trel_l2_reuse\n";
    fputs(hdr, f);
    fputs(hdr, stdout);
    fflush(stdout);

    int nmet = 0, nrows80 = 0, nof = 0;
    double best80 = 0, worst80 = INFINITY;
    for (size_t ei = 0; ei < ripple_capture_num_entries(cap); ei++) {
        const ripple_capture_entry *e = ripple_capture_get_entry(cap, ei);
        if (!step_wanted(e->step, steps, nsteps)) continue;
        for (int t = 0; t < 3; t++) {
            ripple_status st = ripple_capture_read(cap, e->step, e->layer, (ripple_tensor)t, 0, H, x[t]);
            if (st != RIPPLE_OK) cli_lib_error(st, "reading the capture");
        }
        for (int ti = 0; ti < ntheta; ti++) {
            ripple_reuse_params p;
            memset(&p, 0, sizeof p);
            p.theta[0] = p.theta[1] = p.theta[2] = thetas[ti];
            ripple_savings sum, one;
            memset(&sum, 0, sizeof sum);
            int64_t dups = 0;
            for (int64_t h = 0; h < H; h++) {
                const size_t off = (size_t)(h * N * d);
                ripple_status st = ripple_reuse_apply(lay, &p, x[0] + off, xr[0] + off, mq + off);
                if (st == RIPPLE_OK) st = ripple_reuse_apply(lay, &p, x[1] + off, xr[1] + off, mk + off);
                if (st == RIPPLE_OK) st = ripple_savings_compute(lay, mq + off, mk + off, &one);
                if (st != RIPPLE_OK) cli_lib_error(st, "ripple transform");
                ripple_savings_add(&sum, &one);
                dups += dup_rows(lay, xr[0] + off);
            }
            ripple_savings_scale(&sum, 1.0 / (double)H);
            ripple_attn_reuse_work wk;
            ripple_status st = ripple_attn_exact_f64(H, N, d, info->scale, xr[0], xr[1], x[2], ref);
            if (st == RIPPLE_OK) st = ripple_attn_exact_cpu_path(dense_path, H, N, d, info->scale, xr[0], xr[1], x[2], od);
            if (st == RIPPLE_OK) st = rv->fn.attn_reuse(lay, 2, H, info->scale, xr[0], xr[1], x[2], orr, &wk);
            if (st != RIPPLE_OK) cli_lib_error(st, "attention");
            const double e_dense = rel_l2(od, ref, n), e_reuse = rel_l2(orr, ref, n);
            if (!(e_dense <= REUSE_VALID_REL_L2) || !(e_reuse <= REUSE_VALID_REL_L2))
                cli_data_error("validation failed at step %d layer %d theta %g: rel_l2 dense %.3g, reuse %.3g "
                               "(limit %g)", e->step, e->layer, thetas[ti], e_dense, e_reuse, REUSE_VALID_REL_L2);
            for (int64_t r = -1; r < reps; r++) {
                double t0 = cli_now();
                st = ripple_attn_exact_cpu_path(dense_path, H, N, d, info->scale, xr[0], xr[1], x[2], od);
                double t1 = cli_now();
                if (st == RIPPLE_OK) st = rv->fn.attn_reuse(lay, 2, H, info->scale, xr[0], xr[1], x[2], orr, NULL);
                double t2 = cli_now();
                if (st != RIPPLE_OK) cli_lib_error(st, "attention");
                if (r >= 0) td[r] = t1 - t0, tr[r] = t2 - t1;
            }
            const double md = median(td, (int)reps), mr = median(tr, (int)reps);
            const double speed = md / mr;
            const double bound = 1.0 / (1.0 - sum.s_attn - sum.rows_reused / 2.0);
            const double work = ripple_attn_reuse_work_frac(&wk, d);
            char line[1024];
            snprintf(line, sizeof line,
                     "%d\t%d\t%lld\t%g\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t"
                     "%.3g\t%.3g\n",
                     e->step, e->layer, (long long)H, thetas[ti], sum.s_score, sum.s_attn, sum.rows_reused,
                     (double)dups / (double)(H * N), work, md * 1e3, mr * 1e3, td[0] * 1e3, tr[0] * 1e3, speed, bound,
                     speed / bound, 1.0 / work, e_dense, e_reuse);
            fputs(line, f);
            fputs(line, stdout);
            fflush(stdout);
            if (sum.s_score >= TARGET_S_SCORE) {
                nrows80++;
                nmet += speed >= TARGET_SPEEDUP;
                nof += speed >= TARGET_OF_BOUND * bound;
                best80 = fmax(best80, speed), worst80 = fmin(worst80, speed);
            }
        }
    }
    if (fclose(f)) cli_data_error("cannot write %s", part);
    if (rename(part, path) != 0) cli_data_error("cannot rename %s to %s", part, path);
    if (nrows80)
        printf("# rows with s_score >= %.1f: %d; speedup %.2f..%.2f; >= %.1fx in %d (target: all), "
               ">= %.2f x bound in %d (target: all)\n",
               TARGET_S_SCORE, nrows80, worst80, best80, TARGET_SPEEDUP, nmet, TARGET_OF_BOUND, nof);
    else printf("# no row reached s_score >= %.1f: raise --theta\n", TARGET_S_SCORE);
    printf("# table: %s\n", path);
    write_plot(out_dir);
    ripple_capture_close(cap);
    for (int t = 0; t < 3; t++) free(x[t]);
    free(xr[0]), free(xr[1]), free(od), free(orr), free(ref), free(mq), free(mk), free(td), free(tr);
    return CLI_EXIT_OK;
}
