/* ripple quality (paper Tables 2, 3, 4 and Sec. 4.2 "Performance") and
 * ripple frames (Fig. 5 in generated frames): experiments that run our
 * model (ripple/model.h) with an attention method inside the denoising loop
 * and compare each clip, frame by frame, with the dense clip from the same
 * noise (PSNR and SSIM of ripple/quality.h, pixels in [0, 1]).
 *
 * A unit is a prompt (class, seed); a job is a method setting, job 0 the
 * dense clip (kept in DIR/clips/ so that a resumed run compares against the
 * same clip without recomputing it). Rows are resumable like every engine
 * experiment's.
 *
 * quality, in --out DIR:
 *   quality.tsv          one row per prompt and method setting
 *   quality-means.tsv    means over prompts per method setting
 *   quality-matched.tsv  PSNR, SSIM and theoretical speedup of each method at
 *                        the same attention savings s_attn (interpolated)
 *   quality.gp/.png      PSNR and SSIM against s_attn, one curve per method
 * frames, in --out DIR:
 *   frames.tsv           one row per prompt and (channel group, reuse axis)
 *   frames-cCsS.png      the 3 x 3 grid of generated frames beside the dense
 *                        clip, per prompt (libpng, drawn from DIR/clips/) */
#include "experiments.h"

#include "internal.h" /* ripple_parallel_threads */
#include "ripple/method.h"
#include "ripple/model.h"
#include "ripple/quality.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef RIPPLE_DEFAULT_WEIGHTS
#define RIPPLE_DEFAULT_WEIGHTS "data/models/tiny-vdit.h5"
#endif

#define Q_LIST 16   /* settings per list option */
#define Q_PROMPTS 64 /* classes, seeds per list */

/* ------------------------------------------------- prompts and clips */

/* The options of both experiments that choose the prompts and the run. */
typedef struct gen_opts {
    int classes[Q_PROMPTS], nclasses, have_classes;
    int seeds[Q_PROMPTS], nseeds, have_seeds;
    int num_steps, have_num_steps;
    double cfg;
    const char *weights;
    int quick;
} gen_opts;

/* The model and the prompts: the first member of both states. */
typedef struct gen_state {
    ripple_model *model;
    const ripple_model_config *cfg;
    ripple_layout lay;
    int nprompts, *cls, *seed;
    float *x, *pix, *ref; /* a clip, its pixels, the dense clip's pixels */
    int ref_prompt;       /* prompt whose dense pixels ref holds, or -1 */
    int64_t elems;        /* values of one clip */
} gen_state;

#define GEN_OPTS(T)                                                                                            \
    EXP_OPTV(T, "classes", EXP_INTS, g.classes, .given = EXP_GIVEN(T, g.have_classes),                       \
             .count = offsetof(T, g.nclasses), .max = Q_PROMPTS, .lo = 0, .hi = 1 << 20),                      \
    EXP_OPTV(T, "seeds", EXP_INTS, g.seeds, .given = EXP_GIVEN(T, g.have_seeds), .count = offsetof(T, g.nseeds), \
             .max = Q_PROMPTS, .lo = 0, .hi = INT32_MAX),                                                        \
    EXP_OPTV(T, "num-steps", EXP_INT, g.num_steps, .given = EXP_GIVEN(T, g.have_num_steps), .lo = 1,          \
             .hi = 10000),                                                                                       \
    EXP_OPTV(T, "cfg", EXP_DOUBLE, g.cfg, .lo = 1e-9, .hi = 1e6), EXP_OPT(T, "weights", EXP_TEXT, g.weights),  \
    EXP_OPT(T, "quick", EXP_FLAG, g.quick)

#define GEN_HELP                                                                                             \
    "prompts and run:\n"                                                                                     \
    "  --classes LIST     classes, comma separated (default: every class of the\n"                         \
    "                     model)\n"                                                                         \
    "  --seeds LIST       seeds of our noise generator (default 0); prompts =\n"                           \
    "                     classes x seeds\n"                                                                \
    "  --num-steps N      sampler steps (default 50, t_i = 1 - i/N)\n"                                      \
    "  --cfg G            classifier-free guidance scale (default 1: none)\n"                               \
    "  --weights FILE     model weights (default data/models/tiny-vdit.h5)\n"

/* The defaults of gen_opts, with the classes {cls} (none: 0, 0). */
#define GEN_DEFAULTS(cls, ncls)                                                                                   \
    {.classes = {cls}, .nclasses = ncls, .seeds = {0}, .nseeds = 1, .num_steps = RIPPLE_SAMPLER_STEPS, .cfg = 1, \
     .weights = RIPPLE_DEFAULT_WEIGHTS}

/* The common options that select captured units make no sense here. */
static int gen_check(exp_run *r)
{
    if (r->c.steps || r->c.layers || r->c.heads_given)
        return exp_fail(r, EXP_USAGE, "--steps/--layers/--heads select captured units; %s runs the model "
                                      "(--num-steps N sets the sampler steps)", r->def->name);
    if (r->c.backend != RIPPLE_BACKEND_CPU)
        return exp_fail(r, EXP_USAGE, "--backend: %s runs the model on the CPU", r->def->name);
    return 0;
}

static void gen_cleanup(exp_run *r)
{
    gen_state *g = r->state;
    if (g) ripple_model_free(g->model), g->model = NULL;
}

/* The classes given are the model's. */
static int gen_check_classes(exp_run *r, const gen_opts *o, const ripple_model_config *cfg)
{
    for (int c = 0; c < o->nclasses; c++)
        if (o->classes[c] >= cfg->num_classes)
            return exp_fail(r, EXP_USAGE, "--classes: class %d; the model has classes 0..%lld", o->classes[c],
                            (long long)cfg->num_classes - 1);
    return 0;
}

int exp_gen_check(exp_run *r, const char *num_steps, const char *classes)
{
    exp_run *t = exp_new(&exp_frames);
    if (!t) return exp_fail(r, EXP_DATA, "out of memory");
    const gen_opts *o = t->opts;
    ripple_model *m = NULL;
    int rc = num_steps ? exp_set(t, "num-steps", num_steps) : 0;
    if (!rc && classes) rc = exp_set(t, "classes", classes);
    if (!rc && classes && ripple_model_load(o->weights, &m) == RIPPLE_OK)
        rc = gen_check_classes(t, o, ripple_model_get_config(m));
    ripple_model_free(m);
    if (rc) exp_fail(r, rc, "%s", t->msg);
    exp_free(t);
    return rc;
}

/* Loads the model, checks the classes, lists the prompts as units. */
static int gen_units(exp_run *r, gen_opts *o)
{
    gen_state *g = r->state;
    ripple_status s = ripple_model_load(o->weights, &g->model);
    if (s) return exp_fail(r, EXP_DATA, "cannot load the model: %s", ripple_last_error());
    g->cfg = ripple_model_get_config(g->model);
    ripple_model_layout(g->model, &g->lay);
    if (!o->nclasses) {
        o->nclasses = (int)(g->cfg->num_classes < Q_PROMPTS ? g->cfg->num_classes : Q_PROMPTS);
        for (int c = 0; c < o->nclasses; c++) o->classes[c] = c;
    }
    EXP_TRY(gen_check_classes(r, o, g->cfg));
    if (g->cfg->height < 2 * RIPPLE_SSIM_RADIUS + 1 || g->cfg->width < 2 * RIPPLE_SSIM_RADIUS + 1)
        return exp_fail(r, EXP_DATA, "frames of %lldx%lld pixels: SSIM needs 11x11", (long long)g->cfg->height,
                        (long long)g->cfg->width);
    g->nprompts = o->nclasses * o->nseeds;
    g->elems = g->cfg->video_elems;
    g->ref_prompt = -1;
    g->cls = exp_alloc(r, (size_t)g->nprompts, sizeof(int));
    g->seed = exp_alloc(r, (size_t)g->nprompts, sizeof(int));
    g->x = exp_alloc(r, (size_t)g->elems, sizeof(float));
    g->pix = exp_alloc(r, (size_t)g->elems, sizeof(float));
    g->ref = exp_alloc(r, (size_t)g->elems, sizeof(float));
    r->units = exp_alloc(r, (size_t)g->nprompts, sizeof *r->units);
    int *one = exp_alloc(r, (size_t)g->nprompts, sizeof(int)), *members = exp_alloc(r, (size_t)g->nprompts, sizeof(int));
    if (!g->cls || !g->seed || !g->x || !g->pix || !g->ref || !r->units || !one || !members) return EXP_DATA;
    for (int c = 0, p = 0; c < o->nclasses; c++)
        for (int s2 = 0; s2 < o->nseeds; s2++, p++) {
            g->cls[p] = o->classes[c], g->seed[p] = o->seeds[s2];
            r->units[p] = (exp_unit){.source = p, .num_steps = o->num_steps};
            one[p] = 1, members[p] = p;
        }
    r->nunits = g->nprompts;
    char dir[4200];
    if (mkdir(exp_path(r, "clips", dir, sizeof dir), 0777) && errno != EEXIST)
        return exp_fail(r, EXP_DATA, "cannot create %s: %s", dir, strerror(errno));
    return exp_set_groups(r, g->nprompts, members, one);
}

/* What one clip's attention calls did. */
typedef struct clip_run {
    ripple_method *method;
    double attn_seconds, s_score, s_attn, rows_reused, density;
    int64_t calls;
} clip_run;

static ripple_status clip_attn(void *ctx, const ripple_attn_call *c)
{
    clip_run *cr = ctx;
    ripple_method_result res;
    const double t0 = cli_now();
    ripple_status s = ripple_method_attend(cr->method, c, &res);
    cr->attn_seconds += cli_now() - t0;
    cr->s_score += res.savings.s_score, cr->s_attn += res.savings.s_attn;
    cr->rows_reused += res.savings.rows_reused, cr->density += res.density;
    cr->calls++;
    return s;
}

typedef struct clip_stats {
    double wall, attn_seconds, s_score, s_attn, rows_reused, density; /* savings: means over every call */
} clip_stats;

/* Generates prompt p's clip into g->x with method mp (the same calls as
 * ripple generate: ripple_model_sample with ripple_method_attend as the
 * attention hook), and its pixels into g->pix. */
static int gen_clip(exp_run *r, const gen_opts *o, int p, const ripple_method_params *mp, clip_stats *st)
{
    gen_state *g = r->state;
    clip_run cr = {0};
    ripple_status s = ripple_method_create(mp, &g->lay, g->cfg->num_heads, &cr.method);
    if (s) return exp_lib(r, s, "method");
    ripple_noise_normal((uint64_t)g->seed[p], g->elems, g->x);
    ripple_sampler_params sp = {.class_label = g->cls[p], .cfg = o->cfg, .num_steps = o->num_steps,
                                .attn = clip_attn, .attn_ctx = &cr};
    const double t0 = cli_now();
    s = ripple_model_sample(g->model, &sp, g->x);
    const double wall = cli_now() - t0;
    ripple_method_free(cr.method);
    if (s) return exp_lib(r, s, "generation");
    const double n = cr.calls ? (double)cr.calls : 1;
    *st = (clip_stats){wall, cr.attn_seconds, cr.s_score / n, cr.s_attn / n, cr.rows_reused / n, cr.density / n};
    if ((s = ripple_quality_pixels(g->elems, g->x, g->pix))) return exp_lib(r, s, "pixels");
    return 0;
}

static const char *clip_path(const exp_run *r, const gen_state *g, int p, const char *what, char *buf, size_t n)
{
    char name[256];
    snprintf(name, sizeof name, "clips/c%ds%d-%s.h5", g->cls[p], g->seed[p], what);
    return exp_path(r, name, buf, n);
}

static int save_clip(exp_run *r, const gen_state *g, int p, const char *what)
{
    char path[4400], src[128];
    snprintf(src, sizeof src, "ripple %s: %s", r->def->name, what);
    ripple_status s = ripple_video_write(clip_path(r, g, p, what, path, sizeof path), "clip", g->cfg, g->x,
                                         "tiny-vdit-clip", g->cls[p], g->seed[p], src);
    return s ? exp_lib(r, s, "clip file") : 0;
}

/* Pixels of a saved clip into dst: 0, or EXP_DATA (missing: with a hint). */
static int load_clip(exp_run *r, gen_state *g, int p, const char *what, float *dst)
{
    char path[4400];
    clip_path(r, g, p, what, path, sizeof path);
    if (access(path, R_OK))
        return exp_fail(r, EXP_DATA, "%s is missing (removed after the run that wrote its row?): rerun with --fresh",
                        path);
    ripple_status s = ripple_video_read(path, "clip", g->cfg, dst);
    if (!s) s = ripple_quality_pixels(g->elems, dst, dst);
    return s ? exp_lib(r, s, "clip file") : 0;
}

static int clip_exists(const exp_run *r, const gen_state *g, int p, const char *what)
{
    char path[4400];
    return access(clip_path(r, g, p, what, path, sizeof path), R_OK) == 0;
}

/* PSNR/SSIM of g->pix against g->ref: every channel of every frame is one image. */
static int compare_clip(exp_run *r, const gen_state *g, ripple_quality_result *q)
{
    const ripple_model_config *c = g->cfg;
    ripple_status s = ripple_quality_clip(c->in_channels * c->frames, c->height, c->width, g->pix, g->ref, 1.0, q);
    return s ? exp_lib(r, s, "quality") : 0;
}

static void prompt_list(const gen_state *g, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int p = 0; p < g->nprompts && k < n; p++)
        k += (size_t)snprintf(buf + k, n - k, "%sc%ds%d", p ? "," : "", g->cls[p], g->seed[p]);
}

/* "N sampler steps" for an index, saying that a clip of other than the
 * schedule's 50 steps (the paper's setting) is a smoke-scale result. */
static const char *steps_text(int num_steps, char *buf, size_t n)
{
    snprintf(buf, n, "%d sampler step%s%s", num_steps, num_steps == 1 ? "" : "s",
             num_steps == RIPPLE_SAMPLER_STEPS ? "" : " (not the paper's 50: a smoke-scale result)");
    return buf;
}

/* ================================================================ quality */

typedef struct quality_opts {
    gen_opts g; /* first */
    double thetas[Q_LIST], densities[Q_LIST], alphas[Q_LIST], levels[Q_LIST], ramp_scales[Q_LIST];
    int nthetas, ndensities, nalphas, nlevels, nramp_scales;
    int have_thetas, have_densities, have_alphas, have_levels, have_methods, have_ramp_scales;
    double combo_density;
    const char *methods, *ramp;
    int table3, table4, keep_clips;
} quality_opts;

enum { Q_MAX_SETTINGS = 1 + 10 * Q_LIST, Q_MAX_METHODS = 12 };

typedef struct q_setting {
    const char *method; /* as the tables name it */
    double setting;     /* theta (ramp: its plateau), alpha, or density */
    double density;     /* target density (maps, reuse+svg); nan otherwise */
    ripple_method_params mp;
} q_setting;

typedef struct quality_state {
    gen_state g; /* first */
    q_setting set[Q_MAX_SETTINGS];
    int nset;
    const char *names[Q_MAX_METHODS]; /* the methods run, exact first, in table order */
    int nnames;
    char ramp_desc[512];
    /* at the matched levels, per method (index into names) */
    double psnr[Q_MAX_METHODS][Q_LIST], ssim[Q_MAX_METHODS][Q_LIST], speedup[Q_MAX_METHODS][Q_LIST];
    double dense_attn_share; /* mean over prompts of attention seconds / wall seconds of the dense clip */
} quality_state;

static const char quality_usage[] =
    "Paper Tables 2, 3, 4 on our model: for every prompt (class x seed) the dense\n"
    "clip, then each method and setting inside the denoising loop from the same\n"
    "noise, compared frame by frame with the dense clip: PSNR (pixels in [0, 1])\n"
    "and SSIM (Gaussian window 11, sigma 1.5; as scikit-image's\n"
    "structural_similarity(gaussian_weights=True, sigma=1.5,\n"
    "use_sample_covariance=False, data_range=1)), the mean savings over every\n"
    "attention call (s_score = score savings, the paper's computation savings;\n"
    "s_attn = attention savings, the share of QK^T + PV work spared), the\n"
    "theoretical speedup the paper's way (Sec. 4.2: the dense run's attention time\n"
    "reduced in proportion to s_attn: T / (T - A s_attn)), and the measured wall\n"
    "time (reuse runs exact attention on the rippled q, k: it is not faster).\n"
    "Methods are compared at matched attention savings s_attn (quality-matched.tsv,\n"
    "interpolated linearly in s_attn between each method's settings).\n\n"
    GEN_HELP
    "methods and settings:\n"
    "  --methods LIST     besides reuse (fixed threshold, all axes): any of svg,\n"
    "                     window, oracle-topk, reuse+svg, mask-skip, mask-magnitude\n"
    "                     (default svg,reuse+svg; `reuse` alone: no other method)\n"
    "  --thetas LIST      absolute thresholds of reuse, mask-*, reuse+svg and the\n"
    "                     ramp's plateau (default 0.005,0.013,0.037,0.1)\n"
    "  --densities LIST   target densities of svg, window, oracle-topk\n"
    "                     (default 0.9,0.75,0.6,0.5)\n"
    "  --combo-density D  the svg density of reuse+svg (default 0.7, SVG 70%%)\n"
    "  --levels LIST      the s_attn levels of the matched table\n"
    "                     (default 0.1,0.2,0.3,0.4)\n"
    "  --table3           also the ramp (Table 3): reuse-ramp (all axes) and\n"
    "                     reuse-ramp-t (temporal axis only), with the thresholds of\n"
    "                     the ramp below\n"
    "  --ramp FILE        the ramp's shape from a ramp file (`ripple fit`), times\n"
    "                     each --ramp-scales value (default 0.5,1,2); without it the\n"
    "                     paper's HunyuanVideo shape (Table 1: theta from 0.4 x the\n"
    "                     plateau at step 9 to the plateau at step 19 of 50, zero-\n"
    "                     based; none before and at the last step) with each --thetas\n"
    "                     value as the plateau; steps scaled to --num-steps\n"
    "  --table4           also channel-wise thresholds (Table 4): reuse-channel at\n"
    "                     each --alphas value (default 0.25,0.5,1,2)\n"
    "  --keep-clips       keep every clip in DIR/clips/ (the dense ones always are)\n"
    "  --quick            2 prompts (classes 7, 1), 10 steps, thetas 0.005,0.02,0.08,\n"
    "                     densities 0.85,0.7,0.55, alphas 0.25,0.5,2, methods svg\n"
    "                     (each unless given)\n"
    "%s\n"
    "Files: DIR/quality.tsv (rows per prompt and setting), DIR/quality-means.tsv,\n"
    "DIR/quality-matched.tsv, DIR/quality.gp, DIR/quality.png, DIR/clips/.\n"
    "Time: about (settings + 1) x prompts clips of num-steps forward passes each\n"
    "(one pass of our model is about 1.5 s on 2 cores).\n";

#define O(...) EXP_OPT(quality_opts, __VA_ARGS__)
#define OV(...) EXP_OPTV(quality_opts, __VA_ARGS__)
static const exp_opt quality_options[] = {
    GEN_OPTS(quality_opts),
    OV("methods", EXP_TEXT, methods, .given = EXP_GIVEN(quality_opts, have_methods)),
    OV("thetas", EXP_DOUBLES, thetas, .given = EXP_GIVEN(quality_opts, have_thetas),
       .count = offsetof(quality_opts, nthetas), .max = Q_LIST, .lo = 0, .hi = INFINITY),
    OV("densities", EXP_DOUBLES, densities, .given = EXP_GIVEN(quality_opts, have_densities),
       .count = offsetof(quality_opts, ndensities), .max = Q_LIST, .lo = 1e-9, .hi = 1),
    OV("alphas", EXP_DOUBLES, alphas, .given = EXP_GIVEN(quality_opts, have_alphas),
       .count = offsetof(quality_opts, nalphas), .max = Q_LIST, .lo = 0, .hi = INFINITY),
    OV("levels", EXP_DOUBLES, levels, .given = EXP_GIVEN(quality_opts, have_levels),
       .count = offsetof(quality_opts, nlevels), .max = Q_LIST, .lo = 0, .hi = 1),
    OV("ramp-scales", EXP_DOUBLES, ramp_scales, .given = EXP_GIVEN(quality_opts, have_ramp_scales),
       .count = offsetof(quality_opts, nramp_scales), .max = Q_LIST, .lo = 0, .hi = 1e6),
    OV("combo-density", EXP_DOUBLE, combo_density, .lo = 1e-9, .hi = 1),
    O("ramp", EXP_TEXT, ramp),
    O("table3", EXP_FLAG, table3),
    O("table4", EXP_FLAG, table4),
    O("keep-clips", EXP_FLAG, keep_clips),
    {0}};
#undef O
#undef OV

static const quality_opts quality_defaults = {
    .g = GEN_DEFAULTS(0, 0), .thetas = {0.005, 0.013, 0.037, 0.1}, .nthetas = 4, .densities = {0.9, 0.75, 0.6, 0.5},
    .ndensities = 4, .alphas = {0.25, 0.5, 1, 2}, .nalphas = 4, .levels = {0.1, 0.2, 0.3, 0.4}, .nlevels = 4,
    .ramp_scales = {0.5, 1, 2}, .nramp_scales = 3, .combo_density = 0.7, .methods = "svg,reuse+svg"};

static const char *const extra_methods[] = {"svg", "window", "oracle-topk", "reuse+svg", "mask-skip", "mask-magnitude"};
enum { N_EXTRA = 6 };

static int quality_check(exp_run *r)
{
    quality_opts *o = r->opts;
    EXP_TRY(gen_check(r));
    if (o->ramp && !o->table3) return exp_fail(r, EXP_USAGE, "--ramp gives the shape of Table 3's ramp: add --table3");
    if (o->have_ramp_scales && !o->ramp) return exp_fail(r, EXP_USAGE, "--ramp-scales scales a --ramp FILE");
    if (o->g.quick) { /* the quick pass, for what was not given */
        if (!o->g.have_classes) o->g.classes[0] = 7, o->g.classes[1] = 1, o->g.nclasses = 2;
        if (!o->g.have_num_steps) o->g.num_steps = 10;
        static const double th[] = {0.005, 0.02, 0.08}, de[] = {0.85, 0.7, 0.55}, al[] = {0.25, 0.5, 2};
        if (!o->have_thetas) memcpy(o->thetas, th, sizeof th), o->nthetas = 3;
        if (!o->have_densities) memcpy(o->densities, de, sizeof de), o->ndensities = 3;
        if (!o->have_alphas) memcpy(o->alphas, al, sizeof al), o->nalphas = 3;
        if (!o->have_methods) o->methods = "svg";
    }
    /* the method list: known names, none twice */
    char buf[256], *items[16], err[CLI_ERR];
    int n;
    if (cli_parse_list("--methods", o->methods, buf, sizeof buf, items, 16, &n, err))
        return exp_fail(r, EXP_USAGE, "%s", err);
    for (int i = 0; i < n; i++) {
        int k = 0;
        if (!strcmp(items[i], "reuse")) continue; /* it always runs: `--methods reuse` = reuse alone */
        while (k < N_EXTRA && strcmp(items[i], extra_methods[k])) k++;
        if (k == N_EXTRA)
            return exp_fail(r, EXP_USAGE, "--methods: '%s' is not one of svg, window, oracle-topk, reuse+svg, "
                                          "mask-skip, mask-magnitude (reuse always runs)", items[i]);
        for (int j = 0; j < i; j++)
            if (!strcmp(items[i], items[j])) return exp_fail(r, EXP_USAGE, "--methods: %s given twice", items[i]);
    }
    return 0;
}

static int quality_units(exp_run *r) { return gen_units(r, r->opts); }

static int add_name(quality_state *st, const char *name)
{
    for (int i = 0; i < st->nnames; i++)
        if (!strcmp(st->names[i], name)) return i;
    EXP_ASSERT(st->nnames < Q_MAX_METHODS);
    st->names[st->nnames] = name;
    return st->nnames++;
}

static q_setting *add_setting(quality_state *st, const char *method, double setting, double density,
                              ripple_method_kind kind)
{
    EXP_ASSERT(st->nset < Q_MAX_SETTINGS);
    q_setting *s = &st->set[st->nset++];
    add_name(st, method);
    *s = (q_setting){.method = method, .setting = setting, .density = density};
    s->mp.kind = kind;
    s->mp.reuse = (ripple_reuse_params){.axes = RIPPLE_AXES_ALL, .window = 2, .mode = RIPPLE_THRESHOLD_ABSOLUTE,
                                        .theta = {setting, setting, setting}};
    if (ripple_method_uses_density(kind)) s->mp.density = density;
    return s;
}

/* The ramp's thresholds at plateau theta for the run's steps, in run memory. */
static int ramp_setting(exp_run *r, q_setting *s, const rampfit_ramp *shape, double plateau, unsigned axes)
{
    const quality_opts *o = r->opts;
    double *th = exp_alloc(r, (size_t)o->g.num_steps, sizeof(double));
    if (!th) return EXP_DATA;
    for (int i = 0; i < o->g.num_steps; i++) th[i] = plateau * rampfit_theta(shape, i);
    s->mp.step_theta = th, s->mp.num_step_theta = o->g.num_steps;
    s->mp.reuse.axes = axes;
    return 0;
}

static const exp_col quality_cols[] = {
    {"class", 'i'}, {"seed", 'i'}, {"method", 's'}, {"setting", 'n'}, {"density", 'n'}, {"s_score", 'n'},
    {"s_attn", 'n'}, {"rows_reused", 'n'}, {"psnr", 'n'}, {"ssim", 'n'}, {"psnr_min", 'n'}, {"ssim_min", 'n'},
    {"mse", 'n'}, {"wall_seconds", 'n'}, {"attn_seconds", 'n'}, {"speedup_theory", 'n'}, {"speedup_measured", 'n'}};
enum { QC_DENSITY = 4, QC_S_SCORE };
static const exp_col means_cols[] = {
    {"method", 's'}, {"setting", 'n'}, {"density", 'n'}, {"prompts", 'i'}, {"s_score", 'n'}, {"s_attn", 'n'},
    {"rows_reused", 'n'}, {"psnr", 'n'}, {"ssim", 'n'}, {"ssim_min", 'n'}, {"speedup_theory", 'n'},
    {"speedup_measured", 'n'}, {"wall_seconds", 'n'}};
static const exp_col matched_cols[] = {{"method", 's'}, {"s_attn", 'n'}, {"psnr", 'n'}, {"ssim", 'n'},
                                       {"speedup_theory", 'n'}};
static const exp_table_def quality_tables[] = {EXP_TABLE("quality", quality_cols, 4, NULL),
                                               EXP_TABLE("quality-means", means_cols, 0, NULL),
                                               EXP_TABLE("quality-matched", matched_cols, 0, NULL)};

static int quality_plan(exp_run *r)
{
    const quality_opts *o = r->opts;
    quality_state *st = r->state;
    const int S = o->g.num_steps;
    add_setting(st, "exact", 0, NAN, RIPPLE_METHOD_EXACT);
    for (int k = 0; k < o->nthetas; k++) add_setting(st, "reuse", o->thetas[k], NAN, RIPPLE_METHOD_REUSE);
    if (o->table3) {
        rampfit_ramp shape = {.theta_start = 0.4, .theta_end = 1, .num_steps = S, .mode = RIPPLE_THRESHOLD_ABSOLUTE};
        double scale_of[Q_LIST];
        rampfit_ramp file = {0};
        int nplateau = o->nthetas;
        shape.i_min = (int)lround(9.0 * S / 50), shape.i_max = (int)lround(19.0 * S / 50);
        for (int k = 0; k < o->nthetas; k++) scale_of[k] = o->thetas[k];
        if (o->ramp) {
            rampfit_ramp f;
            char err[RAMPFIT_ERR];
            if (rampfit_load(o->ramp, &f, err)) return exp_fail(r, EXP_DATA, "%s", err);
            if (f.mode != RIPPLE_THRESHOLD_ABSOLUTE)
                return exp_fail(r, EXP_DATA, "--ramp %s: a channel-mode ramp; Table 3's ramp variants are absolute",
                                o->ramp);
            if (!(f.theta_end > 0)) return exp_fail(r, EXP_DATA, "--ramp %s: theta_end is 0 (no reuse)", o->ramp);
            shape.theta_start = f.theta_start / f.theta_end;
            shape.i_min = (int)lround((double)f.i_min * S / f.num_steps);
            shape.i_max = (int)lround((double)f.i_max * S / f.num_steps);
            nplateau = o->nramp_scales;
            for (int k = 0; k < nplateau; k++) scale_of[k] = o->ramp_scales[k] * f.theta_end;
            file = f;
        }
        if (shape.i_max > S - 2) shape.i_max = S - 2 < 0 ? 0 : S - 2;
        if (shape.i_min > shape.i_max) shape.i_min = shape.i_max;
        if (o->ramp)
            snprintf(st->ramp_desc, sizeof st->ramp_desc, "%s: theta_start %.6g, theta_end %.6g, i_min %d, i_max %d "
                     "of %d steps%s; run at plateau = theta_end x each --ramp-scales value", o->ramp, file.theta_start,
                     file.theta_end, shape.i_min, shape.i_max, S,
                     file.num_steps != S ? " (steps scaled to the run, i_max at most S-2)" : "");
        else
            snprintf(st->ramp_desc, sizeof st->ramp_desc, "the paper's HunyuanVideo shape (Table 1: 0.2 -> 0.5 over "
                     "steps 10..20 of 50, one-based): theta_start = 0.4 x plateau at step %d, the plateau from step %d, "
                     "zero-based, of %d; plateau = each --thetas value", shape.i_min, shape.i_max, S);
        for (int k = 0; k < nplateau; k++)
            EXP_TRY(ramp_setting(r, add_setting(st, "reuse-ramp", scale_of[k], NAN, RIPPLE_METHOD_REUSE), &shape,
                                 scale_of[k], RIPPLE_AXES_ALL));
        for (int k = 0; k < nplateau; k++)
            EXP_TRY(ramp_setting(r, add_setting(st, "reuse-ramp-t", scale_of[k], NAN, RIPPLE_METHOD_REUSE), &shape,
                                 scale_of[k], RIPPLE_AXIS_BIT(RIPPLE_AXIS_T)));
    }
    if (o->table4)
        for (int k = 0; k < o->nalphas; k++)
            add_setting(st, "reuse-channel", o->alphas[k], NAN, RIPPLE_METHOD_REUSE)->mp.reuse.mode =
                RIPPLE_THRESHOLD_CHANNEL;
    char buf[256], *items[16], err[CLI_ERR];
    int n;
    EXP_ASSERT(!cli_parse_list("--methods", o->methods, buf, sizeof buf, items, 16, &n, err));
    for (int i = 0; i < N_EXTRA; i++) { /* in a fixed order */
        int want = 0;
        for (int j = 0; j < n; j++) want |= !strcmp(items[j], extra_methods[i]);
        if (!want) continue;
        const ripple_method_kind kind = (ripple_method_kind)ripple_method_parse(extra_methods[i]);
        if (kind == RIPPLE_METHOD_REUSE_SVG)
            for (int k = 0; k < o->nthetas; k++) add_setting(st, extra_methods[i], o->thetas[k], o->combo_density, kind);
        else if (ripple_method_uses_density(kind))
            for (int k = 0; k < o->ndensities; k++) add_setting(st, extra_methods[i], o->densities[k], o->densities[k], kind);
        else
            for (int k = 0; k < o->nthetas; k++) add_setting(st, extra_methods[i], o->thetas[k], NAN, kind);
    }
    /* the options line: everything that changes the rows */
    char th[512], de[512], al[512], rs[512], pr[4096], line[6000];
    cli_join_doubles(th, sizeof th, o->thetas, o->nthetas, 9);
    cli_join_doubles(de, sizeof de, o->densities, o->ndensities, 9);
    cli_join_doubles(al, sizeof al, o->alphas, o->nalphas, 9);
    cli_join_doubles(rs, sizeof rs, o->ramp_scales, o->nramp_scales, 9);
    prompt_list(&st->g, pr, sizeof pr);
    snprintf(line, sizeof line, "quality weights=%s steps=%d cfg=%.9g thetas=%s densities=%s combo=%.9g methods=%s "
             "table3=%d ramp=%s ramp_scales=%s table4=%d alphas=%s prompts=%s", o->g.weights, S, o->g.cfg, th, de,
             o->combo_density, o->methods, o->table3, o->ramp ? o->ramp : "paper-shape", rs, o->table4, al, pr);
    EXP_TRY(exp_open(r, 0, line));
    EXP_TRY(exp_meta(r, 0, "model", "%s (%lld parameters), %lld steps, cfg %g, noise ripple_noise_normal(seed)",
                     o->g.weights, (long long)st->g.cfg->num_params, (long long)S, o->g.cfg));
    EXP_TRY(exp_meta(r, 0, "prompts", "%s (c<class>s<seed>)", pr));
    EXP_TRY(exp_meta(r, 0, "methods", "exact (the dense clip); reuse = fixed absolute theta on every axis (setting = "
                                      "theta); svg/window/oracle-topk: setting = target density; reuse+svg: setting = "
                                      "theta, density %g; mask-*: setting = theta%s%s", o->combo_density,
                     o->table3 ? "; reuse-ramp / reuse-ramp-t (t axis only): setting = the ramp's plateau" : "",
                     o->table4 ? "; reuse-channel: setting = alpha (channel-wise thresholds)" : ""));
    if (o->table3) EXP_TRY(exp_meta(r, 0, "ramp", "%s", st->ramp_desc));
    EXP_TRY(exp_meta(r, 0, "savings", "means over every attention call (steps x layers x branches) of the per-head "
                                      "savings; s_score = score savings (the paper's computation savings), s_attn = "
                                      "attention savings (share of QK^T + PV work spared)"));
    EXP_TRY(exp_meta(r, 0, "quality", "frame by frame against the dense clip of the same prompt, pixels = clamp((x+1)/2, "
                                      "0, 1): psnr = 10 log10(1 / mean frame MSE); ssim = mean frame SSIM (Gaussian "
                                      "11x11, sigma 1.5, skimage's defaults with use_sample_covariance=False); _min: "
                                      "the worst frame"));
    EXP_TRY(exp_meta(r, 0, "speedup", "speedup_theory = T / (T - A s_attn), T and A the wall and attention seconds of "
                                      "the dense clip (paper Sec. 4.2: attention latency reduced in proportion to the "
                                      "work saved); speedup_measured = T / this clip's wall seconds (2 shared cores: "
                                      "noisy)"));
    if (r->role == EXP_MERGE) EXP_TRY(exp_meta(r, 0, "threads", "each shard's own (its # threads: line)"));
    else EXP_TRY(exp_meta(r, 0, "threads", "%d", ripple_parallel_threads(INT64_MAX)));
    r->njobs = st->nset;
    return 0;
}

static int quality_key(exp_run *r, const exp_job *j, exp_row *row)
{
    const quality_state *st = r->state;
    const int p = j->unit->source;
    row->v[0] = st->g.cls[p], row->v[1] = st->g.seed[p];
    row->s[2] = st->set[j->job].method, row->v[3] = st->set[j->job].setting;
    return 0;
}

static const char *setting_name(const q_setting *s, char *buf, size_t n)
{
    snprintf(buf, n, "%s-%.6g", s->method, s->setting);
    return buf;
}

/* The dense clip's row of prompt p, or -1. */
static int dense_row(exp_run *r, int p)
{
    const quality_state *st = r->state;
    exp_row rw;
    exp_row_init(&rw);
    rw.v[0] = st->g.cls[p], rw.v[1] = st->g.seed[p], rw.s[2] = "exact", rw.v[3] = 0;
    return exp_find(r, 0, &rw);
}

/* The dense clip must run again when its file is gone and a setting of
 * the prompt is still to run. */
static int quality_needed(exp_run *r, const exp_job *j)
{
    const quality_state *st = r->state;
    if (j->job != 0 || clip_exists(r, &st->g, j->unit->source, "dense")) return 0;
    for (int k = 1; k < r->njobs; k++) {
        exp_row rw;
        exp_row_init(&rw);
        exp_job jk = *j;
        jk.job = k;
        quality_key(r, &jk, &rw);
        if (exp_find(r, 0, &rw) < 0) return 1;
    }
    return 0;
}

static int quality_row(exp_run *r, const exp_job *j, exp_row *row)
{
    const quality_opts *o = r->opts;
    quality_state *st = r->state;
    gen_state *g = &st->g;
    const int p = j->unit->source;
    const q_setting *s = &st->set[j->job];
    clip_stats cs;
    EXP_TRY(gen_clip(r, &o->g, p, &s->mp, &cs));
    if (j->job == 0) {
        EXP_TRY(save_clip(r, g, p, "dense"));
        memcpy(g->ref, g->pix, (size_t)g->elems * sizeof(float));
        g->ref_prompt = p;
        r->exact_seconds += cs.attn_seconds;
    } else if (g->ref_prompt != p) {
        EXP_TRY(load_clip(r, g, p, "dense", g->ref));
        g->ref_prompt = p;
    }
    if (o->keep_clips && j->job) {
        char nm[128];
        EXP_TRY(save_clip(r, g, p, setting_name(s, nm, sizeof nm)));
    }
    ripple_quality_result q;
    EXP_TRY(compare_clip(r, g, &q));
    double T = cs.wall, A = cs.attn_seconds;
    if (j->job) {
        int d = dense_row(r, p);
        EXP_ASSERT(d >= 0); /* job 0 of the unit ran or was finished before */
        T = exp_num(r, 0, d, "wall_seconds"), A = exp_num(r, 0, d, "attn_seconds");
    }
    const double v[] = {s->density, cs.s_score, cs.s_attn, cs.rows_reused, q.psnr, q.ssim, q.psnr_min, q.ssim_min,
                        q.mse, cs.wall, cs.attn_seconds, T / (T - A * cs.s_attn), T / cs.wall};
    memcpy(row->v + QC_DENSITY, v, sizeof v);
    return 0;
}

static int quality_finish(exp_run *r)
{
    const quality_opts *o = r->opts;
    quality_state *st = r->state;
    char tb[48], line[1200];
    snprintf(line, sizeof line, "quality-means");
    EXP_TRY(exp_open(r, 1, line));
    EXP_TRY(exp_meta(r, 1, "means", "over the prompts of quality.tsv; psnr: mean of the prompts' PSNR in dB"));
    EXP_TRY(exp_open(r, 2, line));
    EXP_TRY(exp_meta(r, 2, "matched", "each method at the same attention savings s_attn: psnr, ssim and speedup_theory "
                                      "interpolated linearly in s_attn between the means of its two settings on either "
                                      "side (nan: its settings do not reach that s_attn)"));
    /* means per setting */
    double ms_attn[Q_MAX_SETTINGS], mpsnr[Q_MAX_SETTINGS], mssim[Q_MAX_SETTINGS], mspeed[Q_MAX_SETTINGS];
    printf("ripple quality: %d prompt(s), %d steps%s\n", st->g.nprompts, o->g.num_steps,
           r->reused_rows[0] ? " (finished rows of an earlier run reused)" : "");
    printf("%-14s %9s %8s %8s %8s %8s %8s %9s %9s\n", "method", "setting", "s_score", "s_attn", "psnr", "ssim",
           "ssim_min", "theory_x", "measured_x");
    for (int k = 0; k < st->nset; k++) {
        const q_setting *s = &st->set[k];
        exp_mean m = {0};
        rtable_format_num(tb, sizeof tb, s->setting);
        for (int row = 0; row < exp_rows(r, 0); row++)
            if (!strcmp(exp_str(r, 0, row, "method"), s->method) && !strcmp(exp_str(r, 0, row, "setting"), tb))
                exp_mean_add(&m, r, 0, row);
        ms_attn[k] = exp_mean_of(&m, r, 0, "s_attn"), mpsnr[k] = exp_mean_of(&m, r, 0, "psnr");
        mssim[k] = exp_mean_of(&m, r, 0, "ssim"), mspeed[k] = exp_mean_of(&m, r, 0, "speedup_theory");
        exp_row rw;
        exp_row_init(&rw);
        rw.s[0] = s->method;
        const double v[] = {s->setting, s->density, m.rows, exp_mean_of(&m, r, 0, "s_score"), ms_attn[k],
                            exp_mean_of(&m, r, 0, "rows_reused"), mpsnr[k], mssim[k], exp_mean_of(&m, r, 0, "ssim_min"),
                            mspeed[k], exp_mean_of(&m, r, 0, "speedup_measured"), exp_mean_of(&m, r, 0, "wall_seconds")};
        memcpy(rw.v + 1, v, sizeof v);
        EXP_TRY(exp_put(r, 1, &rw));
        printf("%-14s %9.4g %7.2f%% %7.2f%% %8.2f %8.4f %8.4f %9.3f %9.3f\n", s->method, s->setting,
               100 * rw.v[4], 100 * ms_attn[k], mpsnr[k], mssim[k], rw.v[9], mspeed[k], rw.v[11]);
    }
    double T = 0, A = 0;
    int nd = 0;
    for (int row = 0; row < exp_rows(r, 0); row++)
        if (!strcmp(exp_str(r, 0, row, "method"), "exact"))
            T += exp_num(r, 0, row, "wall_seconds"), A += exp_num(r, 0, row, "attn_seconds"), nd++;
    st->dense_attn_share = nd && T > 0 ? A / T : NAN;
    /* matched at each level */
    printf("at matched attention savings s_attn (interpolated between settings; psnr dB / ssim):\n%-14s", "method");
    for (int l = 0; l < o->nlevels; l++) printf("   s_attn %4.0f%%  ", 100 * o->levels[l]);
    printf("\n");
    for (int i = 1; i < st->nnames; i++) {
        double x[Q_MAX_SETTINGS], yp[Q_MAX_SETTINGS], ys[Q_MAX_SETTINGS], yx[Q_MAX_SETTINGS];
        int n = 0;
        for (int k = 0; k < st->nset; k++)
            if (!strcmp(st->set[k].method, st->names[i])) x[n] = ms_attn[k], yp[n] = mpsnr[k], ys[n] = mssim[k], yx[n++] = mspeed[k];
        printf("%-14s", st->names[i]);
        for (int l = 0; l < o->nlevels; l++) {
            const double L = rtable_round(o->levels[l]);
            st->psnr[i][l] = verdict_interp_linear(n, x, yp, L), st->ssim[i][l] = verdict_interp_linear(n, x, ys, L);
            st->speedup[i][l] = verdict_interp_linear(n, x, yx, L);
            exp_row rw;
            exp_row_init(&rw);
            rw.s[0] = st->names[i];
            rw.v[1] = L, rw.v[2] = st->psnr[i][l], rw.v[3] = st->ssim[i][l], rw.v[4] = st->speedup[i][l];
            EXP_TRY(exp_put(r, 2, &rw));
            if (isnan(st->psnr[i][l])) printf("   %13s  ", "-");
            else printf("   %6.2f / %.4f", st->psnr[i][l], st->ssim[i][l]);
        }
        printf("\n");
    }
    printf("dense clips: attention %.0f%% of the wall time (the ceiling of the theoretical speedup: s_attn 50%% gives "
           "%.3fx)\n", 100 * st->dense_attn_share, 1 / (1 - 0.5 * st->dense_attn_share));
    return 0;
}

static const char *const colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                                      "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#aec7e8"};

/* PSNR (top) and SSIM (bottom) against s_attn, one curve per method
 * (points: the means over prompts of each setting). */
static int quality_plot(exp_run *r, exp_text *gp)
{
    const quality_opts *o = r->opts;
    const quality_state *st = r->state;
    exp_printf(gp, "set datafile columnheaders\n"
                   "set multiplot layout 2,1 title \"End-to-end quality against the dense clip (paper Tables 2-4), "
                   "tiny-vdit, %d prompt(s), %d steps\\nmeans over prompts per setting\"\n"
                   "set xlabel \"attention savings s_attn (%%)\"\nset xrange [0:*]\n"
                   "set key outside right top vertical\nset lmargin 10\nset rmargin 22\n",
               st->g.nprompts, o->g.num_steps);
    for (int pass = 0; pass < 2; pass++) {
        exp_printf(gp, pass == 0 ? "set ylabel \"PSNR (dB)\"\nplot " : "unset key\nset ylabel \"SSIM\"\nplot ");
        for (int i = 1; i < st->nnames; i++)
            exp_printf(gp, "%s\"quality-means.tsv\" using (strcol(\"method\") eq \"%s\" && column(\"psnr\") < 1e300 ? "
                           "100*column(\"s_attn\") : NaN):(column(\"%s\")) smooth unique with linespoints lw 2 pt 7 "
                           "lc rgb \"%s\" title \"%s\"",
                       i > 1 ? ", \\\n  " : "", st->names[i], pass ? "ssim" : "psnr", colours[(i - 1) % 12], st->names[i]);
        exp_printf(gp, "\n");
    }
    exp_printf(gp, "unset multiplot\n");
    return 0;
}

static int name_index(const quality_state *st, const char *name)
{
    for (int i = 0; i < st->nnames; i++)
        if (!strcmp(st->names[i], name)) return i;
    return -1;
}

/* One verdict: a better than b at the matched levels. */
static void matched_verdict(exp_run *r, FILE *md, const char *a, const char *b, const char *claim)
{
    const quality_opts *o = r->opts;
    const quality_state *st = r->state;
    const int ia = name_index(st, a), ib = name_index(st, b);
    char res[1024], crit[1024];
    int agree = 0, judged = 0;
    verdict_kind v = VERDICT_CANNOT_TELL;
    if (ia > 0 && ib > 0)
        v = verdict_quality_matched(o->nlevels, st->psnr[ia], st->ssim[ia], st->psnr[ib], st->ssim[ib], &agree, &judged);
    if (ia < 0 || ib < 0)
        snprintf(res, sizeof res, "cannot tell — %s was not run", ia < 0 ? a : b);
    else
        snprintf(res, sizeof res, "%s — %s has the higher PSNR and SSIM at %d of %d matched s_attn level(s)%s.",
                 verdict_word(v), a, agree, judged, judged ? "" : " (neither sweep reaches a level the other does)");
    snprintf(crit, sizeof crit, "at each s_attn level of quality-matched.tsv that both %s and %s reach, %s's mean PSNR "
             "and mean SSIM over the prompts are both above %s's; agree when that holds at every judged level, partly "
             "at some, disagree at none.", a, b, a, b);
    exp_verdict(md, claim, res, crit);
}

static void quality_index(exp_run *r, FILE *md)
{
    const quality_opts *o = r->opts;
    const quality_state *st = r->state;
    char steps[96];
    fprintf(md, "Prompts: %d (classes x seeds), %s, cfg %g. Every clip is compared with the dense "
                "clip from the same noise, frame by frame (pixels in [0, 1]). Mean over prompts at matched **attention "
                "savings** s_attn (interpolated between each method's settings; `-`: not reached):\n\n| method |",
            st->g.nprompts, steps_text(o->g.num_steps, steps, sizeof steps), o->g.cfg);
    for (int l = 0; l < o->nlevels; l++) fprintf(md, " s_attn %.0f%%: PSNR / SSIM |", 100 * o->levels[l]);
    fprintf(md, "\n|---|");
    for (int l = 0; l < o->nlevels; l++) fprintf(md, "---:|");
    fprintf(md, "\n");
    for (int i = 1; i < st->nnames; i++) {
        fprintf(md, "| %s |", st->names[i]);
        for (int l = 0; l < o->nlevels; l++)
            if (isnan(st->psnr[i][l])) fprintf(md, " - |");
            else fprintf(md, " %.2f dB / %.4f |", st->psnr[i][l], st->ssim[i][l]);
        fprintf(md, "\n");
    }
    fprintf(md, "\nTheoretical speedup at those levels (Sec. 4.2's estimate: the dense clip's attention time reduced in "
                "proportion to s_attn; attention is %.0f%% of a dense clip's time here, so s_attn alone sets it): ",
            100 * st->dense_attn_share);
    for (int l = 0; l < o->nlevels; l++) fprintf(md, "%s%.0f%%: %.3fx", l ? ", " : "", 100 * o->levels[l],
                                                 1 / (1 - o->levels[l] * st->dense_attn_share));
    fprintf(md, ". Measured wall time per setting is in quality-means.tsv (`speedup_measured`): reuse runs exact "
                "attention on the rippled q, k, so it is not faster here.\n\n");
    for (int i = 1; i < st->nnames; i++) {
        const char *m = st->names[i];
        if (strcmp(m, "svg") && strcmp(m, "window") && strcmp(m, "oracle-topk")) continue;
        char claim[512];
        snprintf(claim, sizeof claim, "TIMERIPPLE gives the best PSNR and SSIM against the original model's video, "
                 "above attention-map methods such as SVG and MInference (Table 2, Sec. 4.2 \"Image Quality\"); here "
                 "against %s at the same s_attn.", m);
        matched_verdict(r, md, "reuse", m, claim);
    }
    if (o->table3) {
        fprintf(md, "Table 3's ramp: %s.\n\n", st->ramp_desc);
        matched_verdict(r, md, "reuse-ramp", "reuse",
                        "the adaptive threshold (the ramp over steps) gives better quality than one fixed threshold at "
                        "the same savings (Table 3: 35.06 vs 34.56 dB, Sec. 4.3).");
        matched_verdict(r, md, "reuse-ramp", "reuse-ramp-t",
                        "reuse along every axis gives better quality than along the temporal axis only at the same "
                        "savings (Table 3: 35.06 vs 32.44 dB, Sec. 4.3).");
    }
    if (o->table4)
        matched_verdict(r, md, "reuse", "reuse-channel",
                        "one threshold for every channel gives better quality than channel-wise thresholds tau = "
                        "alpha x mean |delta| (Table 4: 31.28 vs 28.27 dB, Sec. 4.4); compared here with fixed "
                        "thresholds on every axis.");
}

static const exp_plot_def quality_plots[] = {{"quality", 800, 640, quality_plot, NULL}};

const exp_def exp_quality = {
    .name = "quality", .paper = "Tables 2-4", .title = "end-to-end quality of generated clips at matched s_attn",
    .usage = quality_usage, .opts_size = sizeof(quality_opts), .defaults = &quality_defaults, .opts = quality_options,
    .check = quality_check, .state_size = sizeof(quality_state), .tables = quality_tables, .ntables = 3,
    .plan = quality_plan, .key = quality_key, .needed = quality_needed, .row = quality_row, .finish = quality_finish,
    .progress = "quality", .plots = quality_plots, .nplots = 1, .index = quality_index,
    .claim = "at the same savings, reuse keeps PSNR and SSIM above attention-map methods; the ramp beats a fixed "
             "threshold; all axes beat the temporal one; one threshold beats channel-wise ones.",
    .units = quality_units, .cleanup = gen_cleanup,
};

/* ================================================================= frames */

typedef struct frames_opts {
    gen_opts g; /* first */
    int window;
} frames_opts;

typedef struct frames_state {
    gen_state g; /* first */
    double mse[3][3];  /* mean pixel MSE over prompts per (channel group, reuse axis) */
    double psnr[3][3]; /* mean PSNR */
} frames_state;

static const char frames_usage[] =
    "Paper Fig. 5 in generated frames: forced reuse (threshold infinite, so every\n"
    "window is reused) of one channel group (the q, k channels RoPE rotates by t,\n"
    "h or w) along one axis (t, h or w), at every step and layer, for each of the\n"
    "3 x 3 (group, axis) cells; each clip beside the dense one, so the stripes the\n"
    "paper describes (or their absence) can be seen, with PSNR and SSIM against\n"
    "the dense clip.\n\n"
    GEN_HELP
    "  --window W         window size of the forced reuse (default 2)\n"
    "  --quick            10 sampler steps (unless --num-steps is given)\n"
    "Default prompt: class 7, seed 0 (--classes, --seeds for others).\n"
    "%s\n"
    "Files: DIR/frames.tsv; DIR/frames-c<C>s<S>.png per prompt: rows = the reused\n"
    "channel group (t, h, w), columns = the dense clip, then the reuse axis t, h, w;\n"
    "each cell the first four frames (x3); DIR/clips/ the clips.\n";

static const exp_opt frames_options[] = {
    GEN_OPTS(frames_opts), EXP_OPTV(frames_opts, "window", EXP_INT, window, .lo = 2, .hi = 4096), {0}};

static const frames_opts frames_defaults = {.g = GEN_DEFAULTS(7, 1), .window = 2};

static int frames_check(exp_run *r)
{
    frames_opts *o = r->opts;
    EXP_TRY(gen_check(r));
    if (o->g.quick && !o->g.have_num_steps) o->g.num_steps = 10;
    return 0;
}

static int frames_units(exp_run *r) { return gen_units(r, r->opts); }

static const exp_col frames_cols[] = {{"class", 'i'}, {"seed", 'i'},   {"group", 's'}, {"axis", 's'},
                                      {"s_score", 'n'}, {"s_attn", 'n'}, {"psnr", 'n'},  {"ssim", 'n'},
                                      {"mse", 'n'},     {"wall_seconds", 'n'}};
static const exp_table_def frames_tables[] = {EXP_TABLE("frames", frames_cols, 4, NULL)};
static const char *const axis_name[4] = {"t", "h", "w", "dense"};

static int frames_plan(exp_run *r)
{
    const frames_opts *o = r->opts;
    frames_state *st = r->state;
    char pr[4096], line[4400];
    prompt_list(&st->g, pr, sizeof pr);
    snprintf(line, sizeof line, "frames weights=%s steps=%d cfg=%.9g window=%d prompts=%s", o->g.weights,
             o->g.num_steps, o->g.cfg, o->window, pr);
    EXP_TRY(exp_open(r, 0, line));
    EXP_TRY(exp_meta(r, 0, "model", "%s, %d steps, cfg %g, noise ripple_noise_normal(seed)", o->g.weights,
                     o->g.num_steps, o->g.cfg));
    EXP_TRY(exp_meta(r, 0, "cells", "group = the channel group whose q, k channels are reused (the others are "
                                    "computed), axis = the reuse axis; theta = infinity (every window of %d), at every "
                                    "step and layer; group = axis = dense: the dense clip", o->window));
    EXP_TRY(exp_meta(r, 0, "quality", "against the dense clip, frame by frame, pixels clamp((x+1)/2, 0, 1)"));
    r->njobs = 10;
    return 0;
}

static int frames_key(exp_run *r, const exp_job *j, exp_row *row)
{
    const frames_state *st = r->state;
    const int p = j->unit->source;
    row->v[0] = st->g.cls[p], row->v[1] = st->g.seed[p];
    row->s[2] = axis_name[j->job ? (j->job - 1) / 3 : 3], row->s[3] = axis_name[j->job ? (j->job - 1) % 3 : 3];
    return 0;
}

static void cell_name(int job, char buf[16])
{
    if (!job) snprintf(buf, 16, "dense");
    else snprintf(buf, 16, "g%s-a%s", axis_name[(job - 1) / 3], axis_name[(job - 1) % 3]);
}

/* Every clip is kept for the grid: a row whose clip is gone runs again. */
static int frames_needed(exp_run *r, const exp_job *j)
{
    const frames_state *st = r->state;
    char nm[16];
    cell_name(j->job, nm);
    return !clip_exists(r, &st->g, j->unit->source, nm);
}

static int frames_row(exp_run *r, const exp_job *j, exp_row *row)
{
    const frames_opts *o = r->opts;
    frames_state *st = r->state;
    gen_state *g = &st->g;
    const int p = j->unit->source;
    ripple_method_params mp = {0};
    if (j->job) {
        const int grp = (j->job - 1) / 3, ax = (j->job - 1) % 3;
        mp.kind = RIPPLE_METHOD_REUSE;
        mp.reuse = (ripple_reuse_params){.axes = RIPPLE_AXIS_BIT(ax), .window = o->window,
                                         .mode = RIPPLE_THRESHOLD_ABSOLUTE, .theta = {INFINITY, INFINITY, INFINITY},
                                         .groups = RIPPLE_AXIS_BIT(grp)};
    }
    clip_stats cs;
    char nm[16];
    cell_name(j->job, nm);
    EXP_TRY(gen_clip(r, &o->g, p, &mp, &cs));
    EXP_TRY(save_clip(r, g, p, nm));
    if (j->job == 0) {
        memcpy(g->ref, g->pix, (size_t)g->elems * sizeof(float)), g->ref_prompt = p;
        r->exact_seconds += cs.attn_seconds;
    } else if (g->ref_prompt != p) {
        EXP_TRY(load_clip(r, g, p, "dense", g->ref));
        g->ref_prompt = p;
    }
    ripple_quality_result q;
    EXP_TRY(compare_clip(r, g, &q));
    const double v[] = {cs.s_score, cs.s_attn, q.psnr, q.ssim, q.mse, cs.wall};
    memcpy(row->v + 4, v, sizeof v);
    return 0;
}

/* ---- the frame grid: a 5x7 font for its labels, frames at x3 */

static const struct {
    char c;
    unsigned char rows[7];
} font[] = {
    {'a', {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}}, {'d', {0x01, 0x01, 0x0F, 0x11, 0x11, 0x11, 0x0F}},
    {'e', {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}}, {'g', {0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E}},
    {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}}, {'i', {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}},
    {'n', {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}}, {'o', {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}},
    {'p', {0x00, 0x16, 0x19, 0x11, 0x1E, 0x10, 0x10}}, {'r', {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}},
    {'s', {0x00, 0x00, 0x0F, 0x10, 0x0E, 0x01, 0x1E}}, {'t', {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}},
    {'u', {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}}, {'w', {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}},
    {'x', {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}},
};
enum { FONT_SCALE = 2, UP = 3, GAP = 2, CELL_FRAMES = 4, SEP = 10, LABEL_W = 100, LABEL_H = 26 };

static void draw_text(unsigned char *img, int iw, int x0, int y0, const char *s)
{
    for (; *s; s++, x0 += 6 * FONT_SCALE) {
        const unsigned char *rows = NULL;
        for (size_t k = 0; k < sizeof font / sizeof font[0]; k++)
            if (font[k].c == *s) rows = font[k].rows;
        if (!rows) continue; /* a space */
        for (int y = 0; y < 7 * FONT_SCALE; y++)
            for (int x = 0; x < 5 * FONT_SCALE; x++)
                if (rows[y / FONT_SCALE] & (0x10 >> (x / FONT_SCALE))) img[(size_t)(y0 + y) * (size_t)iw + (size_t)(x0 + x)] = 0;
    }
}

/* Frames 0..CELL_FRAMES-1 of pixels pix (channel 0) at (x0, y0), grey gaps. */
static void draw_cell(unsigned char *img, int iw, int x0, int y0, const ripple_model_config *c, const float *pix)
{
    const int H = (int)c->height, W = (int)c->width;
    const int nf = c->frames < CELL_FRAMES ? (int)c->frames : CELL_FRAMES;
    for (int y = 0; y < H * UP + 2 * GAP; y++)
        for (int x = 0; x < nf * (W * UP + GAP) + GAP; x++) img[(size_t)(y0 + y) * (size_t)iw + (size_t)(x0 + x)] = 128;
    for (int f = 0; f < nf; f++)
        for (int y = 0; y < H * UP; y++)
            for (int x = 0; x < W * UP; x++)
                img[(size_t)(y0 + GAP + y) * (size_t)iw + (size_t)(x0 + GAP + f * (W * UP + GAP) + x)] =
                    (unsigned char)(pix[((size_t)f * H + (size_t)(y / UP)) * W + (size_t)(x / UP)] * 255.0f + 0.5f);
}

static int frames_grid(exp_run *r, int p)
{
    frames_state *st = r->state;
    gen_state *g = &st->g;
    const ripple_model_config *c = g->cfg;
    const int nf = c->frames < CELL_FRAMES ? (int)c->frames : CELL_FRAMES;
    const int cw = nf * ((int)c->width * UP + GAP) + GAP, ch = (int)c->height * UP + 2 * GAP;
    const int iw = LABEL_W + 4 * (cw + SEP), ih = LABEL_H + 3 * (ch + SEP);
    unsigned char *img = exp_alloc(r, (size_t)iw * (size_t)ih, 1);
    if (!img) return EXP_DATA;
    memset(img, 255, (size_t)iw * (size_t)ih);
    static const char *const heads[4] = {"dense", "axis t", "axis h", "axis w"};
    static const char *const rows[3] = {"group t", "group h", "group w"};
    for (int col = 0; col < 4; col++) draw_text(img, iw, LABEL_W + col * (cw + SEP) + 4, 6, heads[col]);
    EXP_TRY(load_clip(r, g, p, "dense", g->ref));
    g->ref_prompt = p;
    for (int grp = 0; grp < 3; grp++) {
        const int y0 = LABEL_H + grp * (ch + SEP);
        draw_text(img, iw, 4, y0 + ch / 2 - 7, rows[grp]);
        draw_cell(img, iw, LABEL_W, y0, c, g->ref);
        for (int ax = 0; ax < 3; ax++) {
            char nm[16];
            cell_name(1 + 3 * grp + ax, nm);
            EXP_TRY(load_clip(r, g, p, nm, g->pix));
            draw_cell(img, iw, LABEL_W + (1 + ax) * (cw + SEP), y0, c, g->pix);
        }
    }
    char name[64], path[4400], tmp[4500];
    snprintf(name, sizeof name, "frames-c%ds%d.png", g->cls[p], g->seed[p]);
    exp_path(r, name, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (cli_write_png_gray(tmp, img, iw, ih) || rename(tmp, path)) {
        unlink(tmp);
        return exp_fail(r, EXP_DATA, "cannot write %s", path);
    }
    return 0;
}

static int frames_finish(exp_run *r)
{
    frames_state *st = r->state;
    exp_mean m[3][3];
    memset(m, 0, sizeof m);
    for (int row = 0; row < exp_rows(r, 0); row++) {
        const char *gs = exp_str(r, 0, row, "group"), *as = exp_str(r, 0, row, "axis");
        for (int grp = 0; grp < 3; grp++)
            for (int ax = 0; ax < 3; ax++)
                if (!strcmp(gs, axis_name[grp]) && !strcmp(as, axis_name[ax])) exp_mean_add(&m[grp][ax], r, 0, row);
    }
    printf("ripple frames: %d prompt(s); mean PSNR (dB) / SSIM against the dense clip, theta = infinity\n"
           "%-10s %16s %16s %16s\n", st->g.nprompts, "group", "along t", "along h", "along w");
    for (int grp = 0; grp < 3; grp++) {
        printf("%-10s", axis_name[grp]);
        for (int ax = 0; ax < 3; ax++) {
            st->mse[grp][ax] = exp_mean_of(&m[grp][ax], r, 0, "mse"), st->psnr[grp][ax] = exp_mean_of(&m[grp][ax], r, 0, "psnr");
            printf(" %7.2f / %.4f", st->psnr[grp][ax], exp_mean_of(&m[grp][ax], r, 0, "ssim"));
        }
        printf("\n");
    }
    for (int p = 0; p < st->g.nprompts; p++) EXP_TRY(frames_grid(r, p));
    printf("frame grids: %s/frames-c<C>s<S>.png (rows: group t, h, w; columns: dense, axis t, h, w)\n", r->c.out_dir);
    return 0;
}

static void frames_index(exp_run *r, FILE *md)
{
    const frames_opts *o = r->opts;
    const frames_state *st = r->state;
    char steps[96];
    fprintf(md, "Clips of %s, cfg %g. Rows of each grid: the reused channel group; columns: the dense "
                "clip, then the reuse axis t, h, w; each cell the first four frames. Mean over %d prompt(s) of PSNR "
                "against the dense clip (dB; pixel MSE in brackets):\n\n| channel group | along t | along h | along w "
                "|\n|---|---:|---:|---:|\n",
            steps_text(o->g.num_steps, steps, sizeof steps), o->g.cfg, st->g.nprompts);
    for (int grp = 0; grp < 3; grp++)
        fprintf(md, "| %s-channels | %.2f (%.3g) | %.2f (%.3g) | %.2f (%.3g) |\n", axis_name[grp], st->psnr[grp][0],
                st->mse[grp][0], st->psnr[grp][1], st->mse[grp][1], st->psnr[grp][2], st->mse[grp][2]);
    const int own[3] = {0, 1, 2};
    int worst[3], agree, judged;
    verdict_kind v = verdict_groups(3, own, st->mse, worst, &agree, &judged);
    char detail[256] = "", res[512];
    for (int g = 0; g < 3; g++)
        if (worst[g] >= 0)
            cli_appendf(detail, sizeof detail, "%s%s-channels damage the clip most along %s", detail[0] ? "; " : "",
                        axis_name[g], axis_name[worst[g]]);
    snprintf(res, sizeof res, "%s — %d of %d groups: %s.", verdict_word(v), agree, judged, detail);
    fprintf(md, "\n");
    exp_verdict(md, "forced reuse of the time channels distorts the video in time, of the x- or y-channels gives "
                      "stripes along that axis (Fig. 5, Sec. 3.2); read here as: each channel group damages the "
                      "generated clip most when reused along its own RoPE axis.", res,
                  "per channel group (row), the reuse axis with the largest mean pixel MSE against the dense clip is the "
                  "group's own axis (the stripes themselves are for the eye: see the grid).");
}

const exp_def exp_frames = {
    .name = "frames", .paper = "Fig. 5 (frames)", .title = "forced reuse per channel group and axis, in generated frames",
    .usage = frames_usage, .opts_size = sizeof(frames_opts), .defaults = &frames_defaults, .opts = frames_options,
    .check = frames_check, .state_size = sizeof(frames_state), .tables = frames_tables, .ntables = 1,
    .plan = frames_plan, .key = frames_key, .needed = frames_needed, .row = frames_row, .finish = frames_finish,
    .progress = "frames", .index = frames_index,
    .claim = "each channel group damages the generated clip most when reused along its own axis.",
    .units = frames_units, .cleanup = gen_cleanup,
};
