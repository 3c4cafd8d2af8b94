/* ripple bench: speed of exact attention against OpenBLAS sgemm measured in
 * the same run. Validates first (backend vs the float64 reference on the
 * first min(seq, 512) tokens of head 0), warms up, then times with the
 * monotonic clock: median, min and max over the repetitions. */
#include "bench_reuse.h"
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
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

/* rel_l2 of the float32 backends against float64 on random inputs is ~1e-7;
 * 1e-5 leaves room and still catches any real bug. */
#define BENCH_VALID_REL_L2 1e-5
#define BENCH_VALID_SEQ 512
#define BENCH_SGEMM_N 2048
#define BENCH_REUSE_THETAS "0.03,0.05,0.07,0.1,0.2,0.5"
/* attention must reach this fraction of the same run's sgemm GFLOP/s (issue 7) */
#define BENCH_TARGET 0.7

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ripple bench [--seq N] [--dim D] [--heads H] [--reps R] [--threads N]\n"
            "                    [--backend cpu|cuda] [--path NAME|all] [--torch]\n"
            "                    [--format table|tsv]\n"
            "       ripple bench --reuse CAPTURE --out DIR [--theta LIST] [--steps LIST]\n"
            "                    [--reps R] [--threads N]\n"
            "Times exact attention o = softmax(q k^T / sqrt(D)) v on random inputs against\n"
            "OpenBLAS sgemm %d^3 in the same run (repetitions interleaved); 4 N^2 D flops\n"
            "per head. Every path is first checked against the float64 reference.\n"
            "  --seq N        tokens per head (default 4096)\n"
            "  --dim D        channels per head (default 64)\n"
            "  --heads H      heads (default 4)\n"
            "  --reps R       timed repetitions after one warm-up (default 5)\n"
            "  --threads N    CPU threads for attention and sgemm (default: online CPUs)\n"
            "  --backend B    cpu (default) or cuda (host clock around the synchronous\n"
            "                 call, transfers included)\n"
            "  --path NAME    CPU path(s) to time: blas, avx2, avx512, or all (default: all\n"
            "                 this CPU can run); the targets are judged on the default path\n"
            "                 (RIPPLE_CPU_PATH) or on the one named\n"
            "  --torch        also time PyTorch's CPU scaled_dot_product_attention on the\n"
            "                 same shape and threads (python3 with torch; a note if absent)\n"
            "  --format F     table (default) or tsv\n"
            "With --reuse: the fused reuse kernel (ripple_attn_reuse) against the dense CPU\n"
            "path on the same rippled q, k (every captured step and layer, or the steps of\n"
            "--steps LIST, all heads, each threshold of --theta, default\n"
            "%s) in the same run, repetitions alternating; writes\n"
            "DIR/bench_reuse.tsv (.partial until the sweep is done), .gp and .png (speedup\n"
            "against s_score, the work bound beside it) and prints the issue-11 targets.\n",
            BENCH_SGEMM_N, BENCH_REUSE_THETAS);
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

/* The processor from /proc/cpuinfo: name, family/model, and the vector
 * extensions the paths use; "unknown" without it. */
static const char *cpu_model(void)
{
    static char out[320] = "unknown";
    char model[160] = "", fam[16] = "?", mod[16] = "?", line[4096];
    int avx2 = 0, fma = 0, avx512 = 0, got = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f) && got < 4) {
        char *val = strchr(line, ':');
        if (!val) continue;
        val += val[1] == ' ' ? 2 : 1;
        val[strcspn(val, "\n")] = 0;
        if (!strncmp(line, "model name", 10)) snprintf(model, sizeof model, "%s", val), got++;
        else if (!strncmp(line, "cpu family", 10)) snprintf(fam, sizeof fam, "%.15s", val), got++;
        else if (!strncmp(line, "model\t", 6)) snprintf(mod, sizeof mod, "%.15s", val), got++;
        else if (!strncmp(line, "flags", 5)) {
            avx2 = strstr(val, " avx2") != NULL, fma = strstr(val, " fma") != NULL;
            avx512 = strstr(val, " avx512f") != NULL;
            got++;
        }
    }
    if (f) fclose(f);
    if (model[0])
        snprintf(out, sizeof out, "%s (family %s, model %s; avx2 %s, fma %s, avx512f %s)", model, fam, mod,
                 avx2 ? "yes" : "no", fma ? "yes" : "no", avx512 ? "yes" : "no");
    return out;
}

/* One thing timed: an attention path, sgemm, or torch. */
typedef struct bench_op {
    char name[32];
    int path;          /* CPU path index, -1 for a backend call, -2 for sgemm */
    double flop;
    double *t;         /* [reps] seconds */
    timing tm;
} bench_op;

/* Runs op's attention once; exits with the library's error. */
static void run_attn(const bench_op *op, ripple_backend b, int64_t heads, int64_t seq, int64_t dim,
                     double scale, const float *q, const float *k, const float *v, float *o)
{
    ripple_status st = op->path >= 0
        ? ripple_attn_exact_cpu_path(op->path, heads, seq, dim, scale, q, k, v, o)
        : ripple_attn_exact(b, heads, seq, dim, scale, q, k, v, o);
    if (st != RIPPLE_OK) cli_lib_error(st, op->name);
}

static void validate(const bench_op *op, ripple_backend b, int64_t seq, int64_t dim, double scale,
                     const float *q, const float *k, const float *v, const double *ref)
{
    int64_t n = seq < BENCH_VALID_SEQ ? seq : BENCH_VALID_SEQ;
    float *o = cli_alloc((size_t)(n * dim), sizeof(float), "validation output");
    run_attn(op, b, 1, n, dim, scale, q, k, v, o);
    ripple_metrics m;
    ripple_status st = ripple_metrics_compute_f64(n, dim, o, ref, &m);
    if (st != RIPPLE_OK) cli_lib_error(st, "validation metrics");
    printf("# validation: %s vs float64, head 0, %lld tokens: rel_l2 %.3g, max_abs %.3g (limit rel_l2 %g)\n",
           op->name, (long long)n, m.rel_l2, m.max_abs, BENCH_VALID_REL_L2);
    if (!(m.rel_l2 <= BENCH_VALID_REL_L2))
        cli_data_error("validation failed: %s differs from the float64 reference "
                       "(rel_l2 %.3g > %g); not timing a wrong kernel",
                       op->name, m.rel_l2, BENCH_VALID_REL_L2);
    free(o);
}

/* PyTorch's CPU scaled_dot_product_attention on the same shape and thread
 * count, in a child python3 (torch is optional: its absence is a note). The
 * child prints "ready VERSION", then times one call per line it reads and
 * prints the seconds, so its repetitions interleave with ours. */
static const char torch_script[] =
    "import sys, time\n"
    "try:\n"
    "    import torch\n"
    "except Exception as e:\n"
    "    print('missing', e, flush=True); sys.exit(3)\n"
    "h, n, d, th = map(int, sys.argv[1:5])\n"
    "torch.set_num_threads(th)\n"
    "g = torch.Generator().manual_seed(0)\n"
    "q, k, v = (torch.rand(1, h, n, d, generator=g) * 2 - 1 for _ in range(3))\n"
    "F = torch.nn.functional\n"
    "with torch.no_grad():\n"
    "    F.scaled_dot_product_attention(q, k, v)\n"
    "    import os\n"
    "    isa = torch.backends.cpu.get_cpu_capability()\n"
    "    mkl = os.environ.get('MKL_ENABLE_INSTRUCTIONS')\n"
    "    print('ready', torch.__version__ + ', CPU capability ' + isa + (', MKL_ENABLE_INSTRUCTIONS=' + mkl if mkl else ''), flush=True)\n"
    "    for line in sys.stdin:\n"
    "        t0 = time.perf_counter(); F.scaled_dot_product_attention(q, k, v); t1 = time.perf_counter()\n"
    "        print(t1 - t0, flush=True)\n";

typedef struct torch_child {
    pid_t pid;
    FILE *to, *from;
} torch_child;

/* Starts the child without a shell; 0 when it said ready, else -1 and why. */
static int torch_start(torch_child *tc, int64_t heads, int64_t seq, int64_t dim, int64_t threads,
                       char *why, size_t nwhy, char *version, size_t nversion)
{
    int in[2], out[2];
    memset(tc, 0, sizeof *tc);
    if (pipe(in) || pipe(out)) return snprintf(why, nwhy, "pipe: %s", strerror(errno)), -1;
    char a[4][24];
    snprintf(a[0], sizeof a[0], "%lld", (long long)heads);
    snprintf(a[1], sizeof a[1], "%lld", (long long)seq);
    snprintf(a[2], sizeof a[2], "%lld", (long long)dim);
    snprintf(a[3], sizeof a[3], "%lld", (long long)threads);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return snprintf(why, nwhy, "fork: %s", strerror(errno)), -1;
    if (pid == 0) {
        dup2(in[0], 0), dup2(out[1], 1), dup2(out[1], 2);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        char *argv[] = {"python3", "-c", (char *)torch_script, a[0], a[1], a[2], a[3], NULL};
        execvp("python3", argv);
        printf("missing python3\n");
        _exit(127);
    }
    close(in[0]), close(out[1]);
    tc->pid = pid;
    tc->to = fdopen(in[1], "w");
    tc->from = fdopen(out[0], "r");
    char line[512];
    while (tc->from && fgets(line, sizeof line, tc->from)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "ready ", 6)) {
            snprintf(version, nversion, "%.100s", line + 6);
            return 0;
        }
        if (!strncmp(line, "missing", 7)) {
            snprintf(why, nwhy, "%.100s", !strcmp(line, "missing python3") ? "no python3" : "python3 has no torch");
            return -1;
        }
    }
    snprintf(why, nwhy, "the python3 torch child failed before timing");
    return -1;
}

/* One timed call in the child; seconds, or -1. */
static double torch_rep(torch_child *tc)
{
    char line[128];
    if (fputs("go\n", tc->to) == EOF || fflush(tc->to) || !fgets(line, sizeof line, tc->from)) return -1;
    char *end;
    double t = strtod(line, &end);
    return end != line && t > 0 ? t : -1;
}

static void torch_stop(torch_child *tc)
{
    if (tc->to) fclose(tc->to);
    if (tc->from) fclose(tc->from);
    if (tc->pid > 0) waitpid(tc->pid, NULL, 0);
    memset(tc, 0, sizeof *tc);
}

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"seq", required_argument, NULL, 's'},     {"dim", required_argument, NULL, 'd'},
        {"heads", required_argument, NULL, 'H'},   {"reps", required_argument, NULL, 'r'},
        {"threads", required_argument, NULL, 't'}, {"backend", required_argument, NULL, 'b'},
        {"format", required_argument, NULL, 'f'},  {"path", required_argument, NULL, 'p'},
        {"torch", no_argument, NULL, 'T'},         {"help", no_argument, NULL, 'h'},
        {"reuse", required_argument, NULL, 'R'},   {"theta", required_argument, NULL, 'e'},
        {"out", required_argument, NULL, 'o'},     {"steps", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    int64_t seq = 4096, dim = 64, heads = 4, reps = 5, threads = 0;
    ripple_backend backend = RIPPLE_BACKEND_CPU;
    int tsv = 0, want_torch = 0;
    const char *path_arg = NULL, *reuse_capture = NULL, *out_dir = NULL, *theta_arg = NULL, *steps_arg = NULL;
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
        case 'p': path_arg = optarg; break;
        case 'T': want_torch = 1; break;
        case 'R': reuse_capture = optarg; break;
        case 'e': theta_arg = optarg; break;
        case 'S': steps_arg = optarg; break;
        case 'o': out_dir = optarg; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: usage(stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (!ripple_backend_available(backend))
        cli_data_error("backend %s is not available here (no device, or built without it: "
                       "meson setup build -Dcuda=enabled)", ripple_backend_name(backend));
    if (path_arg && backend != RIPPLE_BACKEND_CPU) cli_usage_error("--path applies to --backend cpu only");
    if ((theta_arg || out_dir || steps_arg) && !reuse_capture)
        cli_usage_error("--theta, --steps and --out go with --reuse CAPTURE");
    if (reuse_capture && (!out_dir || backend != RIPPLE_BACKEND_CPU || want_torch || path_arg))
        cli_usage_error("--reuse needs --out DIR, and takes no --backend cuda, --torch or --path");
    if (threads == 0) threads = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
    char tbuf[32];
    snprintf(tbuf, sizeof tbuf, "%lld", (long long)threads);
    setenv("RIPPLE_NUM_THREADS", tbuf, 1); /* read by the CPU backend at each call */
    openblas_set_num_threads((int)threads);
    if (reuse_capture) {
        char buf[512], *items[32];
        int nt = cli_list("--theta", theta_arg ? theta_arg : BENCH_REUSE_THETAS, buf, sizeof buf, items, 32);
        double thetas[32];
        for (int i = 0; i < nt; i++) thetas[i] = cli_double("--theta", items[i], 0.0, INFINITY);
        int64_t steps[64];
        int ns = 0;
        if (steps_arg) {
            char sbuf[512], *sitems[64];
            ns = cli_list("--steps", steps_arg, sbuf, sizeof sbuf, sitems, 64);
            for (int i = 0; i < ns; i++) steps[i] = cli_int("--steps", sitems[i], 0, INT32_MAX);
        }
        return bench_reuse(reuse_capture, out_dir, thetas, nt, steps, ns, reps, threads, cpu_model());
    }

    /* what to time: the attention paths, then sgemm, then torch */
    bench_op ops[16];
    int nops = 0, selected = -1;
    double attn_flop = 4.0 * (double)seq * (double)seq * (double)dim * (double)heads;
    if (backend == RIPPLE_BACKEND_CPU) {
        selected = ripple_cpu_path_selected();
        if (selected < 0) {
            ripple_status st = ripple_attn_exact(backend, 1, 1, 1, 1.0, &(float){0}, &(float){0},
                                                 &(float){0}, &(float){0});
            cli_lib_error(st, "CPU attention");
        }
        int any = 0;
        for (int i = 0; i < ripple_cpu_path_count(); i++) {
            const char *name = ripple_cpu_path_name(i);
            int wanted = !path_arg || !strcmp(path_arg, "all") || !strcmp(path_arg, name);
            if (path_arg && !strcmp(path_arg, name)) any = 1;
            if (!wanted) continue;
            if (!ripple_cpu_path_available(i)) {
                if (path_arg && strcmp(path_arg, "all"))
                    cli_data_error("--path %s: this CPU cannot run it", name);
                printf("# path %s: not run (this CPU lacks its instructions)\n", name);
                continue;
            }
            bench_op *op = &ops[nops++];
            snprintf(op->name, sizeof op->name, "attn cpu/%s", name);
            op->path = i, op->flop = attn_flop;
        }
        if (path_arg && strcmp(path_arg, "all") && !any) {
            char names[128] = "";
            for (int i = 0; i < ripple_cpu_path_count(); i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                         ripple_cpu_path_name(i));
            cli_usage_error("--path: unknown path '%s' (paths: %s, all)", path_arg, names);
        }
    } else {
        bench_op *op = &ops[nops++];
        snprintf(op->name, sizeof op->name, "attn %s", ripple_backend_name(backend));
        op->path = -1, op->flop = attn_flop;
    }
    const int sn = BENCH_SGEMM_N;
    bench_op *sg = &ops[nops++];
    snprintf(sg->name, sizeof sg->name, "sgemm %d^3", sn);
    sg->path = -2, sg->flop = 2.0 * (double)sn * (double)sn * (double)sn;
    for (int i = 0; i < nops; i++) ops[i].t = cli_alloc((size_t)reps, sizeof(double), "timings");

    size_t n = (size_t)(heads * seq * dim);
    if (n / (size_t)heads / (size_t)seq != (size_t)dim) cli_usage_error("heads*seq*dim overflows");
    float *q = cli_alloc(n, sizeof(float), "q"), *k = cli_alloc(n, sizeof(float), "k");
    float *v = cli_alloc(n, sizeof(float), "v"), *o = cli_alloc(n, sizeof(float), "o");
    fill(q, n, 1), fill(k, n, 2), fill(v, n, 3);
    double scale = 1.0 / sqrt((double)dim);
    size_t sn2 = (size_t)sn * (size_t)sn;
    float *a = cli_alloc(sn2, sizeof(float), "sgemm A"), *b = cli_alloc(sn2, sizeof(float), "sgemm B");
    float *c = cli_alloc(sn2, sizeof(float), "sgemm C");
    fill(a, sn2, 4), fill(b, sn2, 5);

    printf("# ripple bench %s\n", RIPPLE_GIT_DESCRIBE);
#ifdef __OPTIMIZE__
    printf("# build: optimised%s\n", "");
#else
    printf("# build: not optimised (debug)\n");
#endif
    printf("# backend: %s%s\n", ripple_backend_name(backend),
           backend == RIPPLE_BACKEND_CUDA ? " (host clock around the synchronous call, "
                                            "host<->device copies included)" : "");
    if (backend == RIPPLE_BACKEND_CPU)
        printf("# cpu path used by default here: %s\n", ripple_cpu_path_name(selected));
    printf("# threads: %lld (attention workers, OpenBLAS sgemm, torch)\n", (long long)threads);
    printf("# cpu: %s\n", cpu_model());
    printf("# openblas: %s\n", openblas_get_config());
    printf("# shape: heads %lld, seq %lld, dim %lld; reps %lld after 1 warm-up, interleaved\n",
           (long long)heads, (long long)seq, (long long)dim, (long long)reps);
    {
        int64_t nv = seq < BENCH_VALID_SEQ ? seq : BENCH_VALID_SEQ;
        double *ref = cli_alloc((size_t)(nv * dim), sizeof(double), "validation reference");
        ripple_status st = ripple_attn_exact_f64(1, nv, dim, scale, q, k, v, ref);
        if (st != RIPPLE_OK) cli_lib_error(st, "validation reference");
        for (int i = 0; i < nops; i++)
            if (ops[i].path != -2) validate(&ops[i], backend, seq, dim, scale, q, k, v, ref);
        free(ref);
    }
    fflush(stdout);

    torch_child tc = {0};
    bench_op *top = NULL;
    if (want_torch) {
        char why[128] = "", tver[128] = "";
        if (torch_start(&tc, heads, seq, dim, threads, why, sizeof why, tver, sizeof tver) == 0) {
            top = &ops[nops++];
            snprintf(top->name, sizeof top->name, "torch sdpa cpu");
            top->path = -3, top->flop = attn_flop;
            top->t = cli_alloc((size_t)reps, sizeof(double), "timings");
            printf("# torch: %s, scaled_dot_product_attention fp32 on the CPU, %lld threads, "
                   "same shape (its own random inputs in [-1, 1))\n", tver, (long long)threads);
        } else {
            torch_stop(&tc);
            printf("# torch: not run (%s)\n", why);
        }
    }
    fflush(stdout);

    /* Round-robin: rep r of every op before rep r+1 of any, so a change of
     * the machine's load during the run hits all ops alike. */
    for (int64_t r = -1; r < reps; r++)
        for (int i = 0; i < nops; i++) {
            double t0 = cli_now(), dt;
            if (ops[i].path == -3) {
                dt = torch_rep(&tc);
                if (dt < 0) cli_data_error("the python3 torch child stopped answering");
            } else {
                if (ops[i].path == -2) {
                    /* ripple's CPU paths keep OpenBLAS at one thread (ripple.h) */
                    openblas_set_num_threads((int)threads);
                    t0 = cli_now();
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, sn, sn, sn, 1.0f, a, sn, b,
                                sn, 0.0f, c, sn);
                    dt = cli_now() - t0;
                    openblas_set_num_threads(1);
                    if (r >= 0) ops[i].t[r] = dt;
                    continue;
                }
                    run_attn(&ops[i], backend, heads, seq, dim, scale, q, k, v, o);
                dt = cli_now() - t0;
            }
            if (r >= 0) ops[i].t[r] = dt;
        }
    if (top) torch_stop(&tc);
    for (int i = 0; i < nops; i++) ops[i].tm = summarise(ops[i].t, (int)reps);

    /* the op the targets are about: the default path (or the one asked for) */
    const bench_op *main_op = &ops[0], *sgemm_op = sg, *torch_op = NULL;
    for (int i = 0; i < nops; i++) {
        if (ops[i].path == selected && (!path_arg || !strcmp(path_arg, "all"))) main_op = &ops[i];
        if (ops[i].path == -3) torch_op = &ops[i];
    }
    if (tsv) printf("op\tmedian_ms\tmin_ms\tmax_ms\tgflops\n");
    else printf("%-22s %10s %10s %10s %10s\n", "op", "median ms", "min ms", "max ms", "GFLOP/s");
    for (int i = 0; i < nops; i++) {
        const bench_op *op = &ops[i];
        double g = op->flop / op->tm.med * 1e-9;
        if (tsv) {
            char name[32];
            memcpy(name, op->name, sizeof name);
            for (char *p = name; *p; p++) if (*p == ' ' || *p == '/' || *p == '^') *p = '_';
            printf("%s\t%.3f\t%.3f\t%.3f\t%.2f\n", name, op->tm.med * 1e3, op->tm.min * 1e3,
                   op->tm.max * 1e3, g);
        } else {
            printf("%-22s %10.2f %10.2f %10.2f %10.1f\n", op->name, op->tm.med * 1e3,
                   op->tm.min * 1e3, op->tm.max * 1e3, g);
        }
    }
    double gm = main_op->flop / main_op->tm.med * 1e-9;
    double ratio = gm / (sgemm_op->flop / sgemm_op->tm.med * 1e-9);
    printf("%s%s / sgemm: %.2f (target >= %.2f: %s)\n", tsv ? "# " : "", main_op->name, ratio,
           BENCH_TARGET, ratio >= BENCH_TARGET ? "met" : "NOT met");
    if (torch_op) {
        double rt = gm / (torch_op->flop / torch_op->tm.med * 1e-9);
        printf("%s%s / torch sdpa: %.2f (target >= 1.00: %s)\n", tsv ? "# " : "", main_op->name, rt,
               rt >= 1.0 ? "met" : "NOT met");
    }
    for (int i = 0; i < nops; i++) free(ops[i].t);
    free(q), free(k), free(v), free(o), free(a), free(b), free(c);
    return CLI_EXIT_OK;
}
