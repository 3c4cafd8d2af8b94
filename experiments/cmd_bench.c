/* ripple bench: speed of exact attention against OpenBLAS sgemm measured in
 * the same run. Validates first (backend vs the float64 reference on the
 * first min(seq, 512) tokens of head 0), warms up, then times with the
 * monotonic clock: median, min and max over the repetitions. */
#include "cli.h"
#include "commands.h"

#include "ripple/ripple.h"
#include "ripple_version.h"

#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* rel_l2 of the float32 backends against float64 on random inputs is ~1e-7;
 * 1e-5 leaves room and still catches any real bug. */
#define BENCH_VALID_REL_L2 1e-5
#define BENCH_VALID_SEQ 512
#define BENCH_SGEMM_N 2048
/* attention must reach this fraction of the same run's sgemm GFLOP/s */
#define BENCH_TARGET 0.5

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ripple bench [--seq N] [--dim D] [--heads H] [--reps R] [--threads N]\n"
            "                    [--backend cpu|cuda] [--format table|tsv]\n"
            "Times exact attention o = softmax(q k^T / sqrt(D)) v on random inputs against\n"
            "OpenBLAS sgemm %d^3 in the same run; 4 N^2 D flops per head.\n"
            "  --seq N        tokens per head (default 4096)\n"
            "  --dim D        channels per head (default 64)\n"
            "  --heads H      heads (default 4)\n"
            "  --reps R       timed repetitions after one warm-up (default 5)\n"
            "  --threads N    CPU threads for attention and sgemm (default: online CPUs)\n"
            "  --backend B    cpu (default) or cuda (host clock around the synchronous\n"
            "                 call, transfers included)\n"
            "  --format F     table (default) or tsv\n",
            BENCH_SGEMM_N);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct timing {
    double med, min, max; /* seconds */
} timing;

static timing summarise(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    timing r = {n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]), t[0], t[n - 1]};
    return r;
}

static void fill(float *x, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 40) * 0x1.0p-24 * 2.0 - 1.0); /* uniform [-1, 1) */
    }
}

static void validate(ripple_backend b, int64_t seq, int64_t dim, double scale, const float *q,
                     const float *k, const float *v)
{
    int64_t n = seq < BENCH_VALID_SEQ ? seq : BENCH_VALID_SEQ;
    float *o = cli_alloc((size_t)(n * dim), sizeof(float), "validation output");
    double *ref = cli_alloc((size_t)(n * dim), sizeof(double), "validation reference");
    ripple_status st = ripple_attn_exact(b, 1, n, dim, scale, q, k, v, o);
    if (st != RIPPLE_OK) cli_lib_error(st, "validation run");
    st = ripple_attn_exact_f64(1, n, dim, scale, q, k, v, ref);
    if (st != RIPPLE_OK) cli_lib_error(st, "validation reference");
    ripple_metrics m;
    st = ripple_metrics_compute_f64(n, dim, o, ref, &m);
    if (st != RIPPLE_OK) cli_lib_error(st, "validation metrics");
    printf("# validation: %s vs float64, head 0, %lld tokens: rel_l2 %.3g, max_abs %.3g (limit rel_l2 %g)\n",
           ripple_backend_name(b), (long long)n, m.rel_l2, m.max_abs, BENCH_VALID_REL_L2);
    if (!(m.rel_l2 <= BENCH_VALID_REL_L2))
        cli_data_error("validation failed: %s attention differs from the float64 reference "
                       "(rel_l2 %.3g > %g); not timing a wrong kernel",
                       ripple_backend_name(b), m.rel_l2, BENCH_VALID_REL_L2);
    free(o);
    free(ref);
}

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"seq", required_argument, NULL, 's'},     {"dim", required_argument, NULL, 'd'},
        {"heads", required_argument, NULL, 'H'},   {"reps", required_argument, NULL, 'r'},
        {"threads", required_argument, NULL, 't'}, {"backend", required_argument, NULL, 'b'},
        {"format", required_argument, NULL, 'f'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int64_t seq = 4096, dim = 64, heads = 4, reps = 5, threads = 0;
    ripple_backend backend = RIPPLE_BACKEND_CPU;
    int tsv = 0;
    cli_cmd = "bench";
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
        switch (c) {
        case 's': seq = cli_int("--seq", optarg, 1, 1 << 20); break;
        case 'd': dim = cli_int("--dim", optarg, 1, 4096); break;
        case 'H': heads = cli_int("--heads", optarg, 1, 4096); break;
        case 'r': reps = cli_int("--reps", optarg, 1, 1000); break;
        case 't': threads = cli_int("--threads", optarg, 1, 64); break;
        case 'b':
            if (!strcmp(optarg, "cpu")) backend = RIPPLE_BACKEND_CPU;
            else if (!strcmp(optarg, "cuda")) backend = RIPPLE_BACKEND_CUDA;
            else cli_usage_error("--backend: expected cpu or cuda, got '%s'", optarg);
            break;
        case 'f':
            if (!strcmp(optarg, "table")) tsv = 0;
            else if (!strcmp(optarg, "tsv")) tsv = 1;
            else cli_usage_error("--format: expected table or tsv, got '%s'", optarg);
            break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: usage(stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!ripple_backend_available(backend))
        cli_data_error("backend %s is not available here (no device, or built without it: "
                       "meson setup build -Dcuda=enabled)", ripple_backend_name(backend));
    if (threads == 0) threads = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
    char tbuf[32];
    snprintf(tbuf, sizeof tbuf, "%lld", (long long)threads);
    setenv("RIPPLE_NUM_THREADS", tbuf, 1); /* read by the CPU backend at each call */
    openblas_set_num_threads((int)threads);

    size_t n = (size_t)(heads * seq * dim);
    if (n / (size_t)heads / (size_t)seq != (size_t)dim) cli_usage_error("heads*seq*dim overflows");
    float *q = cli_alloc(n, sizeof(float), "q"), *k = cli_alloc(n, sizeof(float), "k");
    float *v = cli_alloc(n, sizeof(float), "v"), *o = cli_alloc(n, sizeof(float), "o");
    fill(q, n, 1), fill(k, n, 2), fill(v, n, 3);
    double scale = 1.0 / sqrt((double)dim);

    printf("# ripple bench %s\n", RIPPLE_GIT_DESCRIBE);
#ifdef __OPTIMIZE__
    printf("# build: optimised%s\n", "");
#else
    printf("# build: not optimised (debug)\n");
#endif
    printf("# backend: %s%s\n", ripple_backend_name(backend),
           backend == RIPPLE_BACKEND_CUDA ? " (host clock around the synchronous call, "
                                            "host<->device copies included)" : "");
    printf("# threads: %lld (attention workers and OpenBLAS sgemm)\n", (long long)threads);
    printf("# openblas: %s\n", openblas_get_config());
    printf("# shape: heads %lld, seq %lld, dim %lld; reps %lld after 1 warm-up\n", (long long)heads,
           (long long)seq, (long long)dim, (long long)reps);
    validate(backend, seq, dim, scale, q, k, v);
    fflush(stdout);

    double *t = cli_alloc((size_t)reps, sizeof(double), "timings");
    for (int64_t r = -1; r < reps; r++) {
        double t0 = cli_now();
        ripple_status st = ripple_attn_exact(backend, heads, seq, dim, scale, q, k, v, o);
        double t1 = cli_now();
        if (st != RIPPLE_OK) cli_lib_error(st, "attention");
        if (r >= 0) t[r] = t1 - t0;
    }
    timing ta = summarise(t, (int)reps);
    double attn_flop = 4.0 * (double)seq * (double)seq * (double)dim * (double)heads;

    const int sn = BENCH_SGEMM_N;
    size_t sn2 = (size_t)sn * (size_t)sn;
    float *a = cli_alloc(sn2, sizeof(float), "sgemm A"), *b = cli_alloc(sn2, sizeof(float), "sgemm B");
    float *c = cli_alloc(sn2, sizeof(float), "sgemm C");
    fill(a, sn2, 4), fill(b, sn2, 5);
    for (int64_t r = -1; r < reps; r++) {
        double t0 = cli_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, sn, sn, sn, 1.0f, a, sn, b, sn, 0.0f, c, sn);
        double t1 = cli_now();
        if (r >= 0) t[r] = t1 - t0;
    }
    timing ts = summarise(t, (int)reps);
    double sgemm_flop = 2.0 * (double)sn * (double)sn * (double)sn;

    double ga = attn_flop / ta.med * 1e-9, gs = sgemm_flop / ts.med * 1e-9, ratio = ga / gs;
    if (tsv) {
        printf("op\tmedian_ms\tmin_ms\tmax_ms\tgflops\n");
        printf("attn_%s\t%.3f\t%.3f\t%.3f\t%.2f\n", ripple_backend_name(backend), ta.med * 1e3,
               ta.min * 1e3, ta.max * 1e3, ga);
        printf("sgemm_%d\t%.3f\t%.3f\t%.3f\t%.2f\n", sn, ts.med * 1e3, ts.min * 1e3, ts.max * 1e3, gs);
        printf("# ratio attention/sgemm %.3f (target %.2f: %s)\n", ratio, BENCH_TARGET,
               ratio >= BENCH_TARGET ? "met" : "NOT met");
    } else {
        printf("%-22s %10s %10s %10s %10s\n", "op", "median ms", "min ms", "max ms", "GFLOP/s");
        printf("%-22s %10.2f %10.2f %10.2f %10.1f\n", backend == RIPPLE_BACKEND_CPU ? "attention cpu" : "attention cuda",
               ta.med * 1e3, ta.min * 1e3, ta.max * 1e3, ga);
        char name[32];
        snprintf(name, sizeof name, "sgemm %d^3", sn);
        printf("%-22s %10.2f %10.2f %10.2f %10.1f\n", name, ts.med * 1e3, ts.min * 1e3, ts.max * 1e3, gs);
        printf("attention / sgemm: %.2f (target >= %.2f: %s)\n", ratio, BENCH_TARGET,
               ratio >= BENCH_TARGET ? "met" : "NOT met");
    }
    free(q), free(k), free(v), free(o), free(a), free(b), free(c), free(t);
    return CLI_EXIT_OK;
}
