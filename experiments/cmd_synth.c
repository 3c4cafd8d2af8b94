/* ripple synth: writes a synthetic capture (ripple_synth_layer) with planted
 * spatio-temporal correlation, for tests, demos and fitting checks. */
#include "cli.h"
#include "commands.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Largest capture synth writes: q, k and v of every captured (step, layer),
 * as stored. Bigger requests are almost always a typo in --grid or --heads. */
static const double synth_max_bytes = 4.0 * 1024 * 1024 * 1024;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ripple synth OUT.h5 [options]\n\n"
        "Writes a capture of synthetic q, k, v shaped like a video DiT's post-RoPE\n"
        "attention inputs: every channel is a smooth random field over the (t, h, w)\n"
        "token grid (correlation length --smooth tokens, varied per head and axis),\n"
        "q and k are rotated by a 3D RoPE (channel groups t, h, w of --rope-split,\n"
        "pair (2i, 2i+1) of a group of L channels turned by pos * 10000^(-2i/L)),\n"
        "and white noise is added whose level falls with the step:\n"
        "  sigma(step) = noise * (1 - 0.9 * step / (num_steps - 1)).\n"
        "Text tokens (the first --text tokens) get i.i.d. N(0, 1) values.\n\n"
        "options:\n"
        "  --grid T,H,W       video token grid (default 8,16,16)\n"
        "  --heads N          heads per layer (default 2)\n"
        "  --head-dim D       channels per head (default 64)\n"
        "  --rope-split a,b,c channels of the t, h and w groups, sum <= D\n"
        "                     (default 16,24,24 for D = 64; D/4, 3D/8, 3D/8 in general)\n"
        "  --num-steps N      denoising steps of the simulated run (default 50)\n"
        "  --steps S          captured steps, spread evenly over the run, first and\n"
        "                     last included: round(i (N-1)/(S-1)), i = 0..S-1 (default 4)\n"
        "  --layers L         layers of the model, all captured (default 2)\n"
        "  --text N           text tokens before the video tokens (default 4)\n"
        "  --seed N           seed; same options and seed give the same file (default 0)\n"
        "  --dtype T          f16 or f32 element type (default f16)\n"
        "  --smooth X         correlation length in tokens, > 0 (default 3)\n"
        "  --noise X          white-noise level at step 0, > 0 (default 0.3)\n"
        "  -h, --help         this text\n\n"
        "Each step's timestep attribute is 1 - step/num_steps (rectified flow: 1 is\n"
        "pure noise). The file says model \"synthetic\", source \"synthetic\",\n"
        "rope_axes \"thw\" and the seed. At most %.0f GiB of tensor data.\n",
        synth_max_bytes / (1024.0 * 1024 * 1024));
}

typedef struct {
    const char *path;
    int64_t grid[3];
    int64_t heads, head_dim, split[3];
    int have_split;
    int64_t num_steps, steps, layers, text;
    uint64_t seed;
    int elem_bytes;
    double smooth, noise;
} synth_opts;

static void parse(int argc, char **argv, synth_opts *o)
{
    enum { O_GRID = 256, O_HEADS, O_HEAD_DIM, O_SPLIT, O_NUM_STEPS, O_STEPS, O_LAYERS, O_TEXT,
           O_SEED, O_DTYPE, O_SMOOTH, O_NOISE };
    static const struct option longopts[] = {
        {"grid", required_argument, 0, O_GRID},           {"heads", required_argument, 0, O_HEADS},
        {"head-dim", required_argument, 0, O_HEAD_DIM},   {"rope-split", required_argument, 0, O_SPLIT},
        {"num-steps", required_argument, 0, O_NUM_STEPS}, {"steps", required_argument, 0, O_STEPS},
        {"layers", required_argument, 0, O_LAYERS},       {"text", required_argument, 0, O_TEXT},
        {"seed", required_argument, 0, O_SEED},           {"dtype", required_argument, 0, O_DTYPE},
        {"smooth", required_argument, 0, O_SMOOTH},       {"noise", required_argument, 0, O_NOISE},
        {"help", no_argument, 0, 'h'},                    {0, 0, 0, 0}};
    *o = (synth_opts){.grid = {8, 16, 16}, .heads = 2, .head_dim = 64, .num_steps = 50,
                      .steps = 4, .layers = 2, .text = 4, .elem_bytes = 2, .smooth = 3,
                      .noise = 0.3};
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); exit(CLI_EXIT_OK);
        case O_GRID: cli_int_list("--grid", optarg, 3, o->grid); break;
        case O_HEADS: o->heads = cli_int("--heads", optarg, 1, 1 << 16); break;
        case O_HEAD_DIM: o->head_dim = cli_int("--head-dim", optarg, 1, 1 << 16); break;
        case O_SPLIT: cli_int_list("--rope-split", optarg, 3, o->split); o->have_split = 1; break;
        case O_NUM_STEPS: o->num_steps = cli_int("--num-steps", optarg, 1, 100000); break;
        case O_STEPS: o->steps = cli_int("--steps", optarg, 1, 100000); break;
        case O_LAYERS: o->layers = cli_int("--layers", optarg, 1, 100000); break;
        case O_TEXT: o->text = cli_int("--text", optarg, 0, INT32_MAX); break;
        case O_SEED: o->seed = (uint64_t)cli_int("--seed", optarg, 0, INT64_MAX); break;
        case O_DTYPE:
            if (!strcmp(optarg, "f16")) o->elem_bytes = 2;
            else if (!strcmp(optarg, "f32")) o->elem_bytes = 4;
            else cli_usage_error("--dtype: '%s' is not f16 or f32", optarg);
            break;
        case O_SMOOTH: o->smooth = cli_double("--smooth", optarg, 1e-3, 1e6); break;
        case O_NOISE: o->noise = cli_double("--noise", optarg, 1e-6, 100); break;
        case ':': cli_usage_error("option %s needs a value", argv[optind - 1]);
        default: cli_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) cli_usage_error("missing OUT.h5 (the capture file to write)");
    if (optind + 1 < argc) cli_usage_error("unexpected argument '%s'", argv[optind + 1]);
    o->path = argv[optind];
    if (!o->have_split) {
        /* t gets a quarter, h and w three eighths each, all even */
        o->split[0] = o->head_dim / 4 / 2 * 2;
        o->split[1] = (o->head_dim - o->split[0]) / 2 / 2 * 2;
        o->split[2] = o->split[1];
        if (o->split[0] < 1 || o->split[1] < 1)
            cli_usage_error("--head-dim %lld is too small for the default split: give --rope-split",
                            (long long)o->head_dim);
    }
    int64_t sum = o->split[0] + o->split[1] + o->split[2];
    if (sum > o->head_dim)
        cli_usage_error("--rope-split %lld,%lld,%lld sums to %lld > --head-dim %lld",
                        (long long)o->split[0], (long long)o->split[1], (long long)o->split[2],
                        (long long)sum, (long long)o->head_dim);
    if (o->steps > o->num_steps)
        cli_usage_error("--steps %lld exceeds --num-steps %lld", (long long)o->steps,
                        (long long)o->num_steps);
    /* sizes in double first: no integer product can overflow unnoticed */
    double tokens = (double)o->grid[0] * (double)o->grid[1] * (double)o->grid[2] + (double)o->text;
    double bytes = tokens * (double)o->heads * (double)o->head_dim * 3.0 * (double)o->steps *
                   (double)o->layers * (double)o->elem_bytes;
    if (tokens > (double)INT32_MAX)
        cli_usage_error("--grid %lldx%lldx%lld plus --text: %.3g tokens is too many",
                        (long long)o->grid[0], (long long)o->grid[1], (long long)o->grid[2], tokens);
    if (bytes > synth_max_bytes)
        cli_usage_error("the capture would hold %.3g GiB of tensor data (limit %.0f GiB): "
                        "reduce --grid, --heads, --head-dim, --steps or --layers",
                        bytes / (1024.0 * 1024 * 1024), synth_max_bytes / (1024.0 * 1024 * 1024));
}

/* Captured step i of n over a run of num_steps: first and last included. */
static int captured_step(int64_t i, int64_t n, int64_t num_steps)
{
    if (n <= 1) return 0;
    return (int)llround((double)i * (double)(num_steps - 1) / (double)(n - 1));
}

int cmd_synth(int argc, char **argv)
{
    synth_opts o;
    parse(argc, argv, &o);

    ripple_capture_info info;
    memset(&info, 0, sizeof info);
    ripple_layout *lay = &info.layout;
    for (int a = 0; a < 3; a++) {
        lay->grid[a] = o.grid[a];
        lay->group_axis[a] = a;
        lay->group_len[a] = o.split[a];
    }
    lay->num_groups = 3;
    lay->video_offset = o.text;
    lay->seq_len = o.grid[0] * o.grid[1] * o.grid[2] + o.text;
    lay->head_dim = o.head_dim;
    ripple_status st = ripple_layout_check(lay);
    if (st) cli_lib_error(st, "layout");
    snprintf(info.model, sizeof info.model, "synthetic");
    snprintf(info.rope_axes, sizeof info.rope_axes, "thw");
    snprintf(info.source, sizeof info.source, "synthetic");
    info.num_heads = o.heads;
    info.num_layers = o.layers;
    info.num_steps = o.num_steps;
    info.scale = 1.0 / sqrt((double)o.head_dim);
    info.has_seed = 1;
    info.seed = (int64_t)o.seed;

    /* bounded by the size check of parse() */
    size_t n = (size_t)o.heads * (size_t)lay->seq_len * (size_t)lay->head_dim;
    float *q = cli_alloc(n, sizeof(float), "q");
    float *k = cli_alloc(n, sizeof(float), "k");
    float *v = cli_alloc(n, sizeof(float), "v");

    ripple_capture_writer *w = NULL;
    if ((st = ripple_capture_writer_open(o.path, &info, o.elem_bytes, &w))) {
        free(q), free(k), free(v);
        cli_lib_error(st, o.path);
    }
    const ripple_synth_params p = {.seed = o.seed, .smooth = o.smooth, .noise = o.noise};
    const int64_t total = o.steps * o.layers;
    int64_t done = 0;
    const char *what = NULL; /* the file once writing fails; NULL while generating */
    for (int64_t i = 0; i < o.steps && !st; i++) {
        const int step = captured_step(i, o.steps, o.num_steps);
        const double timestep = 1.0 - (double)step / (double)o.num_steps;
        for (int layer = 0; layer < o.layers && !st; layer++) {
            st = ripple_synth_layer(lay, &p, step, (int)o.num_steps, layer, o.heads, q, k, v);
            if (st) break;
            st = ripple_capture_writer_put(w, step, layer, timestep, q, k, v, NULL);
            if (st) what = o.path;
            cli_progress("synth", ++done, total);
        }
    }
    cli_progress_done();
    free(q), free(k), free(v);
    if (st) {
        /* keep the message: abort may run library code */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ripple_last_error());
        ripple_capture_writer_abort(w);
        if (what) fprintf(stderr, "ripple %s: %s: %s\n", cli_cmd, what, msg);
        else fprintf(stderr, "ripple %s: %s\n", cli_cmd, msg);
        return st == RIPPLE_ERR_INVALID ? CLI_EXIT_USAGE : CLI_EXIT_DATA;
    }
    if ((st = ripple_capture_writer_commit(w))) cli_lib_error(st, o.path);
    printf("wrote %s: grid %lldx%lldx%lld + %lld text tokens, %lld heads x %lld channels "
           "(t,h,w groups %lld,%lld,%lld), %lld of %lld steps x %lld layers, %s, seed %llu\n",
           o.path, (long long)o.grid[0], (long long)o.grid[1], (long long)o.grid[2],
           (long long)o.text, (long long)o.heads, (long long)o.head_dim, (long long)o.split[0],
           (long long)o.split[1], (long long)o.split[2], (long long)o.steps,
           (long long)o.num_steps, (long long)o.layers, o.elem_bytes == 2 ? "float16" : "float32",
           (unsigned long long)o.seed);
    return CLI_EXIT_OK;
}
