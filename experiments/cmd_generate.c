/* ripple generate: one clip of tiny-vdit from C, with an attention method
 * inside the denoising loop; writes the clip (PNG strip, HDF5, a GIF when
 * ffmpeg is installed), a TSV of per-step savings, time and FLOPs, and on
 * request a capture of the run. `--bench` times one forward pass beside
 * OpenBLAS sgemm instead. */
#include "cli.h"
#include "internal.h"
#include "commands.h"
#include "rampfit.h"
#include "ripple/quality.h"
#include "ripple/method.h"
#include "ripple/model.h"
#include "ripple_version.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef RIPPLE_DEFAULT_WEIGHTS
#define RIPPLE_DEFAULT_WEIGHTS "data/models/tiny-vdit.h5"
#endif

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ripple generate --class C --seed S [options]\n"
        "       ripple generate --bench [--reps N] [--weights FILE]\n\n"
        "Generates one clip of tiny-vdit (data/models/tiny-vdit.h5) on the CPU: the\n"
        "50-step Euler sampler of the rectified flow, t_i = 1 - i/50, with an\n"
        "attention method inside the loop at every (step, layer).\n\n"
        "prompt and noise:\n"
        "  --class C          class 0..9 (Fashion-MNIST order; 7 = Sneaker)\n"
        "  --seed S           seed of our noise generator (ripple_noise_normal:\n"
        "                     splitmix64 + Box-Muller, the same on every machine)\n"
        "  --noise FILE       start from the noise in FILE instead (HDF5 dataset\n"
        "                     /noise, [1,1,8,32,32]; data/tinyvdit/export_noise.py\n"
        "                     exports PyTorch's); --seed is then only recorded\n"
        "  --cfg G            classifier-free guidance scale (default 1: none, one\n"
        "                     branch; G > 0)\n"
        "  --steps N          sampler steps (default 50; fewer only for quick looks)\n"
        "  --weights FILE     model weights (default, in this build's source tree:\n"
        "                     %s)\n\n",
        RIPPLE_DEFAULT_WEIGHTS);
    fprintf(f, /* two strings: one would pass the 4095 characters C99 promises */
        "attention method (default exact):\n"
        "  --method M         exact, reuse, mask-skip, mask-magnitude, svg, window,\n"
        "                     oracle-topk, reuse+svg\n"
        "  --theta X          reuse threshold on every axis (absolute; default 0)\n"
        "  --theta-t X, --theta-h X, --theta-w X   per-axis thresholds\n"
        "  --alpha X          channel-wise thresholds theta_a(c) = X * mean window\n"
        "                     delta of channel c (paper Table 4)\n"
        "  --ramp FILE        thresholds per step from a ramp file (`ripple fit`):\n"
        "                     theta_i of method.md section 5, its mode\n"
        "  --axes SET         axes to reuse along, letters of thw (default thw)\n"
        "  --window W         window size >= 2 (default 2)\n"
        "  --groups SET       channel groups (axis letters) that may be reused\n"
        "  --density D        svg, window, oracle-topk, reuse+svg: target fraction\n"
        "                     of the score entries kept, in (0, 1] (required there)\n\n"
        "output:\n"
        "  --out DIR          folder of the outputs (default .; made if missing)\n"
        "  --name STEM        file stem (default c<C>s<S>-<method>)\n"
        "                     DIR/STEM.png   the clip, frames left to right (x3)\n"
        "                     DIR/STEM.h5    the clip, float32 /clip [1,1,8,32,32]\n"
        "                     DIR/STEM.gif   animated, when ffmpeg is in PATH\n"
        "                     DIR/STEM.tsv   per step: savings, seconds, FLOPs\n"
        "  --no-gif           do not look for ffmpeg\n"
        "  --capture FILE     also write a capture of the run (project format,\n"
        "                     float16; conditional branch; q, k after RoPE, v, and\n"
        "                     the attention output o of the method)\n"
        "  --capture-steps L, --capture-layers L, --capture-heads L\n"
        "                     comma lists or `all` (the default: 50 x 6 x 4 is\n"
        "                     about 1.3 GB before compression)\n"
        "  --capture-no-o     leave o out of the capture\n\n"
        "  --kernel K         dense (default: reuse computes exact attention on the\n"
        "                     rippled q, k) or reuse (the fused CPU reuse kernel,\n"
        "                     ripple_attn_reuse); with reuse the dense clip of the\n"
        "                     same noise is generated first, in the same process,\n"
        "                     and its wall time, the speedup and the clip's PSNR and\n"
        "                     SSIM against it are printed and written to the TSV\n\n"
        "benchmark:\n"
        "  --bench            time one forward pass (median of --reps, default 5)\n"
        "                     and OpenBLAS sgemm 2048^3 on the same threads, in\n"
        "                     turn; GFLOP/s from counted FLOPs\n\n"
        "Threads: RIPPLE_NUM_THREADS (default: online CPUs); the clip does not depend\n"
        "on it. Progress goes to stderr on a terminal only. Savings in the TSV are\n"
        "means over the step's attention calls (layers and branches) of the\n"
        "per-head savings: s_score = score savings, s_attn = attention savings (the\n"
        "share of QK^T + PV work spared), rows_reused = query rows with every channel\n"
        "reused. attn_gflop is the dense attention work run (reuse runs exact\n"
        "attention on the rippled q, k: it is not faster), attn_gflop_needed = that\n"
        "times 1 - s_attn, the work the method needs. Exit status: 0 ok, 1 data\n"
        "error, 2 usage error; no output file is left half-written.\n");
}

/* ------------------------------------------------------------- options */

typedef struct gen_opts {
    int cls, have_cls;
    int64_t seed;
    int have_seed;
    double cfg;
    int steps;
    const char *weights, *noise, *out, *name, *ramp, *capture;
    const char *cap_steps, *cap_layers, *cap_heads;
    int cap_o, gif, bench, reps, fused;
    ripple_method_params mp;
    int have_theta, have_alpha, have_density, have_reuse_opt;
} gen_opts;

static void parse(int argc, char **argv, gen_opts *o)
{
    enum { O_CLASS = 256, O_SEED, O_CFG, O_STEPS, O_WEIGHTS, O_NOISE, O_OUT, O_NAME, O_METHOD, O_RAMP, O_DENSITY, O_CAPTURE, O_CSTEPS, O_CLAYERS,
           O_CHEADS, O_CNOO, O_NOGIF, O_BENCH, O_REPS, O_KERNEL };
    static const struct option longopts[] = {
        {"class", required_argument, 0, O_CLASS},     {"seed", required_argument, 0, O_SEED},
        {"cfg", required_argument, 0, O_CFG},         {"steps", required_argument, 0, O_STEPS},
        {"weights", required_argument, 0, O_WEIGHTS}, {"noise", required_argument, 0, O_NOISE},
        {"out", required_argument, 0, O_OUT},         {"name", required_argument, 0, O_NAME},
        {"method", required_argument, 0, O_METHOD},   {"ramp", required_argument, 0, O_RAMP}, CLI_REUSE_LONGOPTS,
        {"density", required_argument, 0, O_DENSITY}, {"capture", required_argument, 0, O_CAPTURE},
        {"capture-steps", required_argument, 0, O_CSTEPS}, {"capture-layers", required_argument, 0, O_CLAYERS},
        {"capture-heads", required_argument, 0, O_CHEADS}, {"capture-no-o", no_argument, 0, O_CNOO},
        {"no-gif", no_argument, 0, O_NOGIF},          {"bench", no_argument, 0, O_BENCH},
        {"reps", required_argument, 0, O_REPS},       {"kernel", required_argument, 0, O_KERNEL},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->cfg = 1.0;
    o->steps = RIPPLE_SAMPLER_STEPS;
    o->weights = RIPPLE_DEFAULT_WEIGHTS;
    o->out = ".";
    o->cap_o = 1;
    o->gif = 1;
    o->reps = 5;
    cli_reuse_opts ro = cli_reuse_defaults();
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); exit(CLI_EXIT_OK);
        case O_CLASS: o->cls = (int)cli_int("--class", optarg, 0, 1 << 20); o->have_cls = 1; break;
        case O_SEED: o->seed = cli_int("--seed", optarg, 0, INT64_MAX); o->have_seed = 1; break;
        case O_CFG: o->cfg = cli_double("--cfg", optarg, 1e-9, 1e6); break;
        case O_STEPS: o->steps = (int)cli_int("--steps", optarg, 1, 10000); break;
        case O_WEIGHTS: o->weights = cli_nonempty("--weights", optarg); break;
        case O_NOISE: o->noise = cli_nonempty("--noise", optarg); break;
        case O_OUT: o->out = cli_nonempty("--out", optarg); break;
        case O_NAME:
            o->name = cli_nonempty("--name", optarg);
            if (strchr(o->name, '/')) cli_usage_error("--name '%s': a file stem, without '/' (use --out)", o->name);
            break;
        case O_METHOD: {
            int k = ripple_method_parse(optarg);
            if (k < 0)
                cli_usage_error("--method: unknown method '%s' (exact, reuse, mask-skip, mask-magnitude, svg, "
                                "window, oracle-topk, reuse+svg)", optarg);
            o->mp.kind = (ripple_method_kind)k;
            break;
        }
        case O_RAMP: o->ramp = cli_nonempty("--ramp", optarg); break;
        case O_DENSITY: o->mp.density = cli_double("--density", optarg, 1e-9, 1); o->have_density = 1; break;
        case O_CAPTURE: o->capture = cli_nonempty("--capture", optarg); break;
        case O_CSTEPS: o->cap_steps = cli_nonempty("--capture-steps", optarg); break;
        case O_CLAYERS: o->cap_layers = cli_nonempty("--capture-layers", optarg); break;
        case O_CHEADS: o->cap_heads = cli_nonempty("--capture-heads", optarg); break;
        case O_CNOO: o->cap_o = 0; break;
        case O_NOGIF: o->gif = 0; break;
        case O_BENCH: o->bench = 1; break;
        case O_REPS: o->reps = (int)cli_int("--reps", optarg, 1, 1000); break;
        case O_KERNEL:
            if (!strcmp(optarg, "reuse")) o->fused = 1;
            else if (!strcmp(optarg, "dense")) o->fused = 0;
            else cli_usage_error("--kernel: '%s' is not dense or reuse", optarg);
            break;
        case ':': cli_usage_error("option %s needs a value", argv[optind - 1]);
        default:
            if (!cli_reuse_option(c, optarg, &ro)) cli_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    cli_reuse_finish(&ro);
    o->mp.reuse = ro.rp, o->have_theta = ro.have_theta, o->have_alpha = ro.have_alpha, o->have_reuse_opt = ro.have_other;
    if (optind < argc) cli_usage_error("unexpected argument '%s'", argv[optind]);
    if (o->bench) return;
    if (!o->have_cls || !o->have_seed) cli_usage_error("--class and --seed are required");
    const ripple_method_kind k = o->mp.kind;
    const char *kn = ripple_method_name(k);
    if ((o->have_theta || o->have_alpha || o->ramp || o->have_reuse_opt) && !ripple_method_uses_reuse(k))
        cli_usage_error("--theta/--alpha/--ramp/--axes/--window/--groups apply to reuse, mask-skip, mask-magnitude "
                        "and reuse+svg, not to --method %s", kn);
    if (o->have_density && !ripple_method_uses_density(k))
        cli_usage_error("--density applies to svg, window, oracle-topk and reuse+svg, not to --method %s", kn);
    if (o->fused && k != RIPPLE_METHOD_REUSE)
        cli_usage_error("--kernel reuse runs --method reuse with the fused reuse kernel, not --method %s", kn);
    o->mp.fused = o->fused;
    if (!o->have_density && ripple_method_uses_density(k))
        cli_usage_error("--method %s needs --density D (fraction of score entries kept, in (0, 1])", kn);
    if (o->ramp && (o->have_theta || o->have_alpha))
        cli_usage_error("--ramp gives the thresholds: leave out --theta/--alpha");
    if (!o->capture && (o->cap_steps || o->cap_layers || o->cap_heads || !o->cap_o))
        cli_usage_error("--capture-steps/-layers/-heads/-no-o need --capture FILE");
}

/* "all" or a comma list of integers in [0, n): flags[n]. */
static void parse_select(const char *opt, const char *s, int n, unsigned char *flags)
{
    memset(flags, s ? 0 : 1, (size_t)n);
    if (!s) return;
    if (!strcmp(s, "all")) {
        memset(flags, 1, (size_t)n);
        return;
    }
    char buf[4096], *items[1024];
    int k = cli_list(opt, s, buf, sizeof buf, items, 1024);
    for (int i = 0; i < k; i++) flags[cli_int(opt, items[i], 0, n - 1)] = 1;
}

/* -------------------------------------------------- the pending outputs */

/* Temporary files and the open capture writer, removed at any exit before
 * they are committed (cli_*_error exits from anywhere). */
static struct {
    char tmp[8][4200];
    int ntmp;
    ripple_capture_writer *cap;
} pending;

static void cleanup_at_exit(void)
{
    if (pending.cap) ripple_capture_writer_abort(pending.cap);
    pending.cap = NULL;
    for (int i = 0; i < pending.ntmp; i++)
        if (pending.tmp[i][0]) unlink(pending.tmp[i]);
}

static int tmp_slot(const char *final)
{
    if (pending.ntmp >= 8) cli_data_error("internal: too many pending files");
    int i = pending.ntmp++;
    if (snprintf(pending.tmp[i], sizeof pending.tmp[i], "%s.tmp.%ld", final, (long)getpid()) >=
        (int)sizeof pending.tmp[i])
        cli_usage_error("path too long: %s", final);
    return i;
}

static void commit_tmp(int slot, const char *final)
{
    if (rename(pending.tmp[slot], final) != 0)
        cli_data_error("cannot rename %s to %s: %s", pending.tmp[slot], final, strerror(errno));
    pending.tmp[slot][0] = '\0';
}

/* ----------------------------------------------------------- the run */

typedef struct step_rec {
    double t, seconds, attn_seconds;
    double s_score, s_attn, rows_reused, theta, density, needed;
    int calls;
} step_rec;

typedef struct run_ctx {
    ripple_model *model;
    const ripple_model_config *cfg;
    ripple_method *method;
    step_rec *rec;
    int steps;
    double t_step0, t_start;
    double attn_flops_call; /* dense attention FLOPs of one call */
    /* capture */
    ripple_capture_writer *cap;
    unsigned char *cap_step, *cap_layer, *cap_head;
    int64_t cap_nh;
    int cap_o;
    float *cq, *ck, *cv, *co;
    ripple_status fail;
} run_ctx;

static double now(void) { return cli_now(); }

static ripple_status on_step(void *ctx, int step, int num_steps, double t, const float *x)
{
    (void)x;
    run_ctx *r = ctx;
    double tn = now();
    if (step > 0) r->rec[step - 1].seconds = tn - r->t_step0;
    if (step < num_steps) r->rec[step].t = t;
    r->t_step0 = tn;
    cli_progress("step", step, num_steps);
    return RIPPLE_OK;
}

static void gather_heads(const run_ctx *r, const float *src, float *dst)
{
    const size_t per = (size_t)(r->cfg->seq_len * r->cfg->head_dim);
    int64_t j = 0;
    for (int64_t h = 0; h < r->cfg->num_heads; h++)
        if (r->cap_head[h]) memcpy(dst + (size_t)j++ * per, src + (size_t)h * per, per * sizeof(float));
}

static ripple_status on_attn(void *ctx, const ripple_attn_call *c)
{
    run_ctx *r = ctx;
    double t0 = now();
    ripple_method_result res;
    ripple_status s = ripple_method_attend(r->method, c, &res);
    if (s) return s;
    step_rec *sr = &r->rec[c->step];
    sr->attn_seconds += now() - t0;
    sr->s_score += res.savings.s_score;
    sr->s_attn += res.savings.s_attn;
    sr->rows_reused += res.savings.rows_reused;
    sr->theta = res.theta;
    sr->density += res.density;
    sr->needed += r->attn_flops_call * (1.0 - res.savings.s_attn);
    sr->calls++;
    if (r->cap && c->branch == 0 && r->cap_step[c->step] && r->cap_layer[c->layer]) {
        gather_heads(r, c->q, r->cq);
        gather_heads(r, c->k, r->ck);
        gather_heads(r, c->v, r->cv);
        if (r->cap_o) gather_heads(r, c->o, r->co);
        s = ripple_capture_writer_put(r->cap, c->step, c->layer, c->timestep, r->cq, r->ck, r->cv,
                                      r->cap_o ? r->co : NULL);
    }
    return s;
}

/* ---------------------------------------------------------- clip files */

/* The clip b against the reference a, frame by frame, on the pixels the
 * strip shows ((x + 1) / 2 clipped to [0, 1]): PSNR from the mean pixel MSE
 * and mean SSIM, as `ripple quality` computes them (ripple/quality.h). */
static void clip_quality(const ripple_model_config *c, const float *a, const float *b, double *psnr, double *ssim)
{
    const int64_t n = c->video_elems;
    float *pa = cli_alloc((size_t)n, sizeof(float), "pixels"), *pb = cli_alloc((size_t)n, sizeof(float), "pixels");
    ripple_quality_result q;
    ripple_status s = ripple_quality_pixels(n, a, pa);
    if (!s) s = ripple_quality_pixels(n, b, pb);
    if (!s) s = ripple_quality_clip(c->frames * c->in_channels, c->height, c->width, pb, pa, 1.0, &q);
    free(pa), free(pb);
    if (s) cli_lib_error(s, "clip quality");
    *psnr = q.psnr, *ssim = q.ssim;
}

/* The clip as sample.py's strip: frames left to right, x3, 2-px grey gaps,
 * pixel = round(255 clip((x + 1) / 2, 0, 1)). img: [h, w]. */
enum { UP = 3, GAP = 2 };

static unsigned char *strip_image(const ripple_model_config *c, const float *x, int *w, int *h)
{
    const int F = (int)c->frames, H = (int)c->height, W = (int)c->width;
    *h = H * UP + 2 * GAP;
    *w = F * (W * UP + GAP) + GAP;
    unsigned char *img = cli_alloc((size_t)*w * (size_t)*h, 1, "the PNG strip");
    memset(img, 128, (size_t)*w * (size_t)*h);
    for (int f = 0; f < F; f++)
        for (int y = 0; y < H * UP; y++)
            for (int xx = 0; xx < W * UP; xx++) {
                double v = ((double)x[((size_t)f * H + (size_t)(y / UP)) * W + (size_t)(xx / UP)] + 1.0) / 2.0;
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                img[(size_t)(GAP + y) * (size_t)*w + (size_t)(GAP + f * (W * UP + GAP) + xx)] =
                    (unsigned char)(v * 255.0 + 0.5);
            }
    return img;
}

/* ffmpeg in PATH, or NULL. */
static const char *find_ffmpeg(char *buf, size_t n)
{
    const char *path = getenv("PATH");
    if (!path) return NULL;
    while (*path) {
        size_t len = strcspn(path, ":");
        if (len && (size_t)snprintf(buf, n, "%.*s/ffmpeg", (int)len, path) < n && access(buf, X_OK) == 0)
            return buf;
        path += len + (path[len] == ':');
    }
    return NULL;
}

/* The frames (x3) through ffmpeg into an animated GIF at tmp: 0, or -1
 * with why[]. ffmpeg runs by fork/exec, no shell; frames on its stdin. */
static int write_gif(const char *ffmpeg, const char *tmp, const ripple_model_config *c, const float *x, char *why,
                     size_t n)
{
    const int F = (int)c->frames, H = (int)c->height * UP, W = (int)c->width * UP;
    char size[32];
    snprintf(size, sizeof size, "%dx%d", W, H);
    char *const args[] = {(char *)ffmpeg, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray",
                          "-s", size, "-framerate", "4", "-i", "-", "-f", "gif", "-loop", "0", (char *)tmp, NULL};
    int fd[2];
    if (pipe(fd) != 0) return snprintf(why, n, "pipe: %s", strerror(errno)), -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]), close(fd[1]);
        return snprintf(why, n, "fork: %s", strerror(errno)), -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(fd[0], STDIN_FILENO);
        if (null >= 0) dup2(null, STDOUT_FILENO), dup2(null, STDERR_FILENO);
        close(fd[0]), close(fd[1]);
        execv(ffmpeg, args);
        _exit(127);
    }
    close(fd[0]);
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    unsigned char *frame = malloc((size_t)W * (size_t)H);
    int ok = frame != NULL;
    for (int f = 0; ok && f < F; f++) {
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                double v = ((double)x[((size_t)f * c->height + (size_t)(y / UP)) * c->width + (size_t)(xx / UP)] + 1) / 2;
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                frame[(size_t)y * W + xx] = (unsigned char)(v * 255.0 + 0.5);
            }
        size_t off = 0, len = (size_t)W * (size_t)H;
        while (ok && off < len) {
            ssize_t w = write(fd[1], frame + off, len - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) ok = 0;
            else off += (size_t)w;
        }
    }
    free(frame);
    close(fd[1]);
    signal(SIGPIPE, old);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !ok)
        return snprintf(why, n, "ffmpeg %s %d", WIFEXITED(st) ? "exited with status" : "died by signal",
                        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st)), -1;
    return 0;
}

/* ----------------------------------------------------------- benchmark */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct bench_attn {
    double seconds;
} bench_attn;

static ripple_status bench_hook(void *ctx, const ripple_attn_call *c)
{
    bench_attn *b = ctx;
    double t0 = now();
    ripple_status s = ripple_attn_exact(RIPPLE_BACKEND_CPU, c->heads, c->layout->seq_len, c->layout->head_dim,
                                        c->scale, c->q, c->k, c->v, c->o);
    b->seconds += now() - t0;
    return s;
}

static int run_bench(const gen_opts *o)
{
    ripple_model *m = NULL;
    ripple_status s;
    if ((s = ripple_model_load(o->weights, &m))) cli_lib_error(s, "cannot load the model");
    const ripple_model_config *c = ripple_model_get_config(m);
    float *x = cli_alloc((size_t)c->video_elems, sizeof(float), "the input");
    float *v = cli_alloc((size_t)c->video_elems, sizeof(float), "the output");
    ripple_noise_normal(0, c->video_elems, x);
    double fa, fr;
    ripple_model_flops(m, &fa, &fr);
    const int threads = ripple_parallel_threads(INT64_MAX);
    enum { NG = 2048 };
    float *A = cli_alloc((size_t)NG * NG, sizeof(float), "sgemm"), *B = cli_alloc((size_t)NG * NG, sizeof(float), "sgemm"),
          *C = cli_alloc((size_t)NG * NG, sizeof(float), "sgemm");
    for (size_t i = 0; i < (size_t)NG * NG; i++) A[i] = (float)((i * 7) % 13) / 13.0f, B[i] = (float)((i * 5) % 11) / 11.0f;
    double *tf = cli_alloc((size_t)o->reps, sizeof(double), "times"), *tg = cli_alloc((size_t)o->reps, sizeof(double), "times");
    double *ta = cli_alloc((size_t)o->reps, sizeof(double), "times");
    /* warm-up of both, then interleaved repetitions */
    bench_attn ba = {0};
    if ((s = ripple_model_forward(m, x, 0.5, 7, bench_hook, &ba, -1, 0, 0, v))) cli_lib_error(s, "forward pass");
    for (int r = -1; r < o->reps; r++) {
        openblas_set_num_threads(threads);
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, NG, NG, NG, 1.0f, A, NG, B, NG, 0.0f, C, NG);
        double t1 = now();
        openblas_set_num_threads(1); /* ripple's workers run sgemm side by side */
        if (r < 0) continue;
        tg[r] = t1 - t0;
        ba.seconds = 0;
        t0 = now();
        if ((s = ripple_model_forward(m, x, 0.5, 7, bench_hook, &ba, -1, 0, 0, v))) cli_lib_error(s, "forward pass");
        tf[r] = now() - t0;
        ta[r] = ba.seconds;
    }
    qsort(tf, (size_t)o->reps, sizeof(double), cmp_double);
    qsort(tg, (size_t)o->reps, sizeof(double), cmp_double);
    qsort(ta, (size_t)o->reps, sizeof(double), cmp_double);
    const int mid = o->reps / 2;
    const double gf = (fa + fr) / tf[mid] * 1e-9, gg = 2.0 * NG * NG * (double)NG / tg[mid] * 1e-9;
    printf("# ripple generate --bench (%s), %d threads, %d repetitions (median [min, max])\n", RIPPLE_GIT_DESCRIBE,
           threads, o->reps);
    printf("forward pass: %.3f s [%.3f, %.3f], %.1f GFLOP counted (attention %.1f, rest %.1f)\n", tf[mid], tf[0],
           tf[o->reps - 1], (fa + fr) * 1e-9, fa * 1e-9, fr * 1e-9);
    printf("forward pass: %.1f GFLOP/s; attention %.3f s = %.0f%% of the time, %.1f GFLOP/s; rest %.1f GFLOP/s\n", gf,
           ta[mid], 100 * ta[mid] / tf[mid], fa / ta[mid] * 1e-9, fr / (tf[mid] - ta[mid]) * 1e-9);
    printf("OpenBLAS sgemm %dx%dx%d: %.3f s [%.3f, %.3f], %.1f GFLOP/s\n", NG, NG, NG, tg[mid], tg[0],
           tg[o->reps - 1], gg);
    printf("forward / sgemm: %.2f (target >= 0.5); a 50-step clip without guidance: about %.0f s\n", gf / gg,
           50 * tf[mid]);
    free(A), free(B), free(C), free(tf), free(tg), free(ta), free(x), free(v);
    ripple_model_free(m);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------- command */

static void make_dir(const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) cli_data_error("--out %s: exists and is not a folder", dir);
        return;
    }
    if (mkdir(dir, 0777) != 0) cli_data_error("--out %s: cannot make the folder: %s", dir, strerror(errno));
}

int cmd_generate(int argc, char **argv)
{
    gen_opts o;
    parse(argc, argv, &o);
    if (o.bench) return run_bench(&o);

    ripple_model *model = NULL;
    ripple_status s;
    if ((s = ripple_model_load(o.weights, &model))) {
        if (s == RIPPLE_ERR_INVALID) s = RIPPLE_ERR_FORMAT; /* a bad file is a data error */
        cli_lib_error(s, "cannot load the model");
    }
    const ripple_model_config *cfg = ripple_model_get_config(model);
    if (o.cls >= cfg->num_classes)
        cli_usage_error("--class %d: the model has classes 0..%lld", o.cls, (long long)cfg->num_classes - 1);
    ripple_layout lay;
    ripple_model_layout(model, &lay);

    /* method, with the ramp's per-step thresholds */
    double *step_theta = NULL;
    char ramp_desc[256] = "";
    if (o.ramp) {
        rampfit_ramp r;
        char err[RAMPFIT_ERR];
        if (rampfit_load(o.ramp, &r, err)) cli_data_error("%s", err); /* the one ramp reader */
        ripple_threshold_mode mode = r.mode;
        if (r.num_steps != o.steps)
            cli_data_error("%s: a ramp of %d steps, the run has %d", o.ramp, r.num_steps, o.steps);
        step_theta = cli_alloc((size_t)o.steps, sizeof(double), "the ramp");
        for (int i = 0; i < o.steps; i++) step_theta[i] = rampfit_theta(&r, i);
        o.mp.reuse.mode = mode;
        o.mp.step_theta = step_theta;
        o.mp.num_step_theta = o.steps;
        snprintf(ramp_desc, sizeof ramp_desc, "%s: %s theta_start %g theta_end %g i_min %d i_max %d", o.ramp,
                 cli_mode_str(mode), r.theta_start, r.theta_end, r.i_min,
                 r.i_max);
    }
    run_ctx rc = {.model = model, .cfg = cfg, .steps = o.steps};
    if ((s = ripple_method_create(&o.mp, &lay, cfg->num_heads, &rc.method))) cli_lib_error(s, "--method");

    /* noise */
    float *x = cli_alloc((size_t)cfg->video_elems, sizeof(float), "the clip");
    if (o.noise) {
        if ((s = ripple_video_read(o.noise, "noise", cfg, x))) {
            if (s == RIPPLE_ERR_INVALID) s = RIPPLE_ERR_FORMAT;
            cli_lib_error(s, "--noise");
        }
    } else {
        ripple_noise_normal((uint64_t)o.seed, cfg->video_elems, x);
    }

    /* output names (every check before the long run) */
    make_dir(o.out);
    char stem[256], path_png[4096], path_h5[4096], path_gif[4096], path_tsv[4096];
    if (o.name) snprintf(stem, sizeof stem, "%s", o.name);
    else snprintf(stem, sizeof stem, "c%ds%lld-%s", o.cls, (long long)o.seed, ripple_method_name(o.mp.kind));
    snprintf(path_png, sizeof path_png, "%s/%s.png", o.out, stem);
    snprintf(path_h5, sizeof path_h5, "%s/%s.h5", o.out, stem);
    snprintf(path_gif, sizeof path_gif, "%s/%s.gif", o.out, stem);
    snprintf(path_tsv, sizeof path_tsv, "%s/%s.tsv", o.out, stem);
    atexit(cleanup_at_exit);
    int slot_png = tmp_slot(path_png), slot_tsv = tmp_slot(path_tsv), slot_gif = tmp_slot(path_gif);
    FILE *probe = fopen(pending.tmp[slot_tsv], "w");
    if (!probe) cli_data_error("cannot write in --out %s: %s", o.out, strerror(errno));
    fclose(probe);

    /* capture */
    char source[1024];
    {
        size_t n = (size_t)snprintf(source, sizeof source, "ripple generate");
        for (int i = 1; i < argc && n < sizeof source - 2; i++)
            n += (size_t)snprintf(source + n, sizeof source - n, " %s", argv[i]);
    }
    if (o.capture) {
        rc.cap_step = cli_alloc((size_t)o.steps, 1, "steps");
        rc.cap_layer = cli_alloc((size_t)cfg->depth, 1, "layers");
        rc.cap_head = cli_alloc((size_t)cfg->num_heads, 1, "heads");
        parse_select("--capture-steps", o.cap_steps, o.steps, rc.cap_step);
        parse_select("--capture-layers", o.cap_layers, (int)cfg->depth, rc.cap_layer);
        parse_select("--capture-heads", o.cap_heads, (int)cfg->num_heads, rc.cap_head);
        for (int64_t h = 0; h < cfg->num_heads; h++) rc.cap_nh += rc.cap_head[h];
        ripple_capture_info info;
        memset(&info, 0, sizeof info);
        info.layout = lay;
        snprintf(info.model, sizeof info.model, "tiny-vdit");
        snprintf(info.rope_axes, sizeof info.rope_axes, "thw");
        info.num_heads = rc.cap_nh;
        info.num_layers = cfg->depth;
        info.num_steps = o.steps;
        info.scale = 1.0 / sqrt((double)cfg->head_dim);
        static const char *const names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
        snprintf(info.prompt, sizeof info.prompt, "class %d (%s)", o.cls,
                 cfg->num_classes == 10 ? names[o.cls] : "?");
        snprintf(info.source, sizeof info.source, "%.127s", source);
        snprintf(info.guidance, sizeof info.guidance, "cond");
        info.has_seed = 1;
        info.seed = o.seed;
        if ((s = ripple_capture_writer_open(o.capture, &info, 2, &pending.cap)))
            cli_lib_error(s == RIPPLE_ERR_INVALID ? RIPPLE_ERR_IO : s, "--capture");
        rc.cap = pending.cap;
        rc.cap_o = o.cap_o;
        const size_t per = (size_t)rc.cap_nh * (size_t)(cfg->seq_len * cfg->head_dim);
        rc.cq = cli_alloc(per, sizeof(float), "capture");
        rc.ck = cli_alloc(per, sizeof(float), "capture");
        rc.cv = cli_alloc(per, sizeof(float), "capture");
        rc.co = cli_alloc(per, sizeof(float), "capture");
    }

    /* the run */
    double fa, fr;
    ripple_model_flops(model, &fa, &fr);
    rc.attn_flops_call = fa / (double)cfg->depth;
    rc.rec = cli_alloc((size_t)o.steps, sizeof(step_rec), "the step records");
    memset(rc.rec, 0, (size_t)o.steps * sizeof(step_rec));
    ripple_sampler_params sp = {.class_label = o.cls, .cfg = o.cfg, .num_steps = o.steps, .attn = on_attn,
                                .attn_ctx = &rc, .step = on_step, .step_ctx = &rc};
    const int branches = (o.cfg != 1.0) ? 2 : 1;
    /* --kernel reuse: the dense clip of the same noise first, timed the same way */
    float *xd = NULL;
    double dense_total = NAN;
    if (o.fused) {
        xd = cli_alloc((size_t)cfg->video_elems, sizeof(float), "the dense clip");
        memcpy(xd, x, (size_t)cfg->video_elems * sizeof(float));
        run_ctx dc = {.model = model, .cfg = cfg, .steps = o.steps, .attn_flops_call = rc.attn_flops_call};
        ripple_method_params dp = {.kind = RIPPLE_METHOD_EXACT, .backend = o.mp.backend};
        if ((s = ripple_method_create(&dp, &lay, cfg->num_heads, &dc.method))) cli_lib_error(s, "dense method");
        dc.rec = cli_alloc((size_t)o.steps, sizeof(step_rec), "the step records");
        memset(dc.rec, 0, (size_t)o.steps * sizeof(step_rec));
        ripple_sampler_params dsp = sp;
        dsp.attn_ctx = dsp.step_ctx = &dc;
        dc.t_start = now();
        s = ripple_model_sample(model, &dsp, xd);
        cli_progress_done();
        dense_total = now() - dc.t_start;
        if (s) cli_lib_error(s, "dense generation failed");
        ripple_method_free(dc.method);
        free(dc.rec);
    }
    rc.t_start = now();
    s = ripple_model_sample(model, &sp, x);
    cli_progress_done();
    const double total = now() - rc.t_start;
    if (s) cli_lib_error(s, "generation failed");

    /* capture first (the long write), then the clip files */
    if (pending.cap) {
        ripple_capture_writer *w = pending.cap;
        pending.cap = NULL;
        if ((s = ripple_capture_writer_commit(w))) cli_lib_error(s, "--capture");
    }
    int iw, ih;
    unsigned char *img = strip_image(cfg, x, &iw, &ih);
    if (cli_write_png_gray(pending.tmp[slot_png], img, iw, ih)) cli_data_error("cannot write %s", pending.tmp[slot_png]);
    free(img);
    commit_tmp(slot_png, path_png);
    if ((s = ripple_video_write(path_h5, "clip", cfg, x, "tiny-vdit-clip", o.cls, o.seed, source)))
        cli_lib_error(s, "clip file");

    /* the table */
    FILE *t = fopen(pending.tmp[slot_tsv], "w");
    if (!t) cli_data_error("cannot write %s: %s", pending.tmp[slot_tsv], strerror(errno));
    double sum_attn = 0, sum_needed = 0, s_attn_mean = 0, s_score_mean = 0;
    for (int i = 0; i < o.steps; i++) {
        sum_attn += rc.rec[i].attn_seconds, sum_needed += rc.rec[i].needed;
        s_attn_mean += rc.rec[i].s_attn / (rc.rec[i].calls ? rc.rec[i].calls : 1) / o.steps;
        s_score_mean += rc.rec[i].s_score / (rc.rec[i].calls ? rc.rec[i].calls : 1) / o.steps;
    }
    const double gflop_total = (fa + fr) * branches * o.steps * 1e-9;
    fprintf(t, "# command: %s\n", source);
    fprintf(t, "# ripple: %s\n", RIPPLE_GIT_DESCRIBE);
    fprintf(t, "# weights: %s (%lld parameters)\n", o.weights, (long long)cfg->num_params);
    fprintf(t, "# prompt: class %d, seed %lld, noise %s, cfg %g (%d branch%s), %d steps\n", o.cls, (long long)o.seed,
            o.noise ? o.noise : "ripple_noise_normal(seed)", o.cfg, branches, branches > 1 ? "es" : "", o.steps);
    fprintf(t, "# method: %s", ripple_method_name(o.mp.kind));
    if (ripple_method_uses_reuse(o.mp.kind)) {
        fprintf(t, "; %s thresholds%s theta_t %g theta_h %g theta_w %g; axes %s; window %d; groups %s",
                o.mp.reuse.mode == RIPPLE_THRESHOLD_CHANNEL ? "channel (alpha)" : "absolute", o.ramp ? " from the ramp" : "",
                o.mp.reuse.theta[0], o.mp.reuse.theta[1], o.mp.reuse.theta[2], cli_axes_str(o.mp.reuse.axes),
                o.mp.reuse.window, o.mp.reuse.groups ? cli_axes_str(o.mp.reuse.groups) : "thw");
        if (o.ramp) fprintf(t, "; ramp %s", ramp_desc);
    }
    if (ripple_method_uses_density(o.mp.kind)) fprintf(t, "; target density %g", o.mp.density);
    fprintf(t, "\n# threads: %d (RIPPLE_NUM_THREADS)\n", ripple_parallel_threads(INT64_MAX));
    fprintf(t, "# savings: per call, mean over heads; per step, mean over its %lld calls (layers x branches); "
               "s_score = score savings, s_attn = attention savings\n", (long long)(cfg->depth * branches));
    fprintf(t, "# flops: counted (ripple_model_flops); attn = QK^T + PV dense, attn_needed = attn x (1 - s_attn); "
               "rest = matrix products; elementwise work not counted\n");
    fprintf(t, "# wall_seconds: %.3f\n# attention_share: %.4f\n# gflop_per_second: %.2f\n", total,
            sum_attn / total, gflop_total / total);
    double psnr = NAN, ssim = NAN;
    if (o.fused) {
        clip_quality(cfg, xd, x, &psnr, &ssim);
        fprintf(t, "# kernel: reuse (ripple_attn_reuse, the fused CPU reuse kernel)\n");
        fprintf(t, "# dense_wall_seconds: %.3f (exact attention, the same noise, the same process, run first)\n",
                dense_total);
        fprintf(t, "# speedup: %.4f\n# psnr_vs_dense_db: %.4f\n# ssim_vs_dense: %.6f\n", dense_total / total, psnr,
                ssim);
    }
    fprintf(t, "step\tt\ts_score\ts_attn\trows_reused\ttheta\tdensity\tseconds\tattn_seconds\tattn_gflop\t"
               "attn_gflop_needed\trest_gflop\n");
    for (int i = 0; i < o.steps; i++) {
        const step_rec *r = &rc.rec[i];
        const double n = r->calls ? r->calls : 1;
        fprintf(t, "%d\t%.9g\t%.6f\t%.6f\t%.6f\t%.6g\t%.6f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\n", i, r->t, r->s_score / n,
                r->s_attn / n, r->rows_reused / n, r->theta, r->density / n, r->seconds, r->attn_seconds,
                fa * branches * 1e-9, r->needed * 1e-9, fr * branches * 1e-9);
    }
    if (fclose(t) != 0) cli_data_error("cannot write %s", pending.tmp[slot_tsv]);
    commit_tmp(slot_tsv, path_tsv);

    /* GIF through ffmpeg, when there is one */
    char ffbuf[4096], why[256], note[512] = "";
    const char *ff = o.gif ? find_ffmpeg(ffbuf, sizeof ffbuf) : NULL;
    if (ff) {
        if (write_gif(ff, pending.tmp[slot_gif], cfg, x, why, sizeof why) == 0) commit_tmp(slot_gif, path_gif);
        else snprintf(note, sizeof note, "note: no GIF (%s)", why);
    } else if (o.gif) {
        snprintf(note, sizeof note, "note: ffmpeg is not installed: no GIF (the PNG strip has every frame)");
    }
    printf("wrote %s, %s, %s%s%s%s%s\n", path_png, path_h5, path_tsv, ff && !note[0] ? ", " : "",
           ff && !note[0] ? path_gif : "", o.capture ? ", " : "", o.capture ? o.capture : "");
    printf("%d steps in %.1f s (%.2f s/step, %.1f GFLOP/s counted), attention %.0f%% of the time; "
           "mean s_attn %.4f, s_score %.4f (%s)\n",
           o.steps, total, total / o.steps, gflop_total / total, 100 * sum_attn / total, s_attn_mean, s_score_mean,
           ripple_method_name(o.mp.kind));
    if (o.fused)
        printf("kernel reuse: %.1f s against %.1f s dense (the same noise, this process): %.3fx; clip against the "
               "dense clip: PSNR %.2f dB, SSIM %.5f\n", total, dense_total, dense_total / total, psnr, ssim);
    if (note[0]) printf("%s\n", note);
    ripple_method_free(rc.method);
    ripple_model_free(model);
    free(x), free(xd), free(rc.rec), free(step_theta), free(rc.cq), free(rc.ck), free(rc.cv), free(rc.co);
    free(rc.cap_step), free(rc.cap_layer), free(rc.cap_head);
    return CLI_EXIT_OK;
}
