/* checkasm (dav1d's idea): every variant of every op in the backend table
 * (lib/src/backend.h) that can run on this machine, against the reference,
 * on awkward shapes, with output buffers poisoned (NaN) so that an element
 * left unwritten shows; then, with --bench, the same variants timed side by
 * side on one shape.
 *
 *   build/tests/checkasm [--seed N] [--no-captures] [--bench] [--seq N --dim D --heads H --reps R]
 *
 * Prints one line per (op, variant, shape), then "checkasm: N passed, N
 * failed, N skipped"; exits 1 on any failure. Variants this machine cannot
 * run (no AVX-512, no GPU) are counted as skipped and named. References:
 * attn_exact and attn_masked against float64 (attn_ref.c) with the
 * tolerance numcheck.c derives (attn_masked: a host-only hash rule on the
 * CPU variants, and on every variant the mask-spec rules box, all and
 * top-k of NC_MASK_CASES); attn_f64's CUDA variant against the reference
 * "c" within twice the float64 bound; the transform has one variant ("c"), which
 * is itself the reference of its brute-force test (test_reuse.c); the fused
 * reuse op (attn_reuse) against float64 exact attention on the rippled
 * Q~, K~, with the tolerance of delta chains of depth 3 (numcheck.c), on
 * awkward layouts with planted reuse (REUSE_CASES) and on the real captures
 * in data/captures/ (all heads of one step and layer, two thresholds). */
#include "backend.h"
#include "numcheck.h"

#include "ripple/ripple.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Fewest keys in a key chunk of a fused variant (attn_flash_body.h asserts
 * KC >= 128; the CUDA kernels of attn_flash_cuda.cu use tiles of 32). */
#define FUSED_MIN_CHUNK 128
#define FUSED_MIN_CHUNK_CUDA 32

static int passed, failed, skipped;

/* Longest delta chain of the fused reuse kernels: each step moves at least
 * one of t, h, w to its window's first position (attn_reuse_body.h). */
#define REUSE_MAX_DEPTH 3

typedef struct shape {
    int64_t heads, seq, dim;
    double sigma; /* std of q and k */
} shape;

/* 1 token; below a register tile; past a query block and a key chunk, no
 * multiple of either; dims that no vector width divides, and 64 / 128. */
static const shape SHAPES[] = {
    {1, 1, 64, 1.0}, {2, 7, 3, 1.0},  {3, 129, 17, 1.0}, {1, 300, 64, 5.0},
    {2, 257, 128, 1.0}, {1, 1000, 80, 2.0},
};

/* A positional mask rule: each key kept with probability 1/2 from a hash of
 * (head, row, key), and the diagonal always, so every row keeps a key. */
static void rule_hash(const void *ctx, int64_t h, int64_t row, const float *srow, float *scratch,
                      uint8_t *keep)
{
    (void)srow, (void)scratch;
    const int64_t seq = *(const int64_t *)ctx;
    for (int64_t j = 0; j < seq; j++) {
        uint64_t z = (uint64_t)(h * 1000003 + row) * 0x9E3779B97F4A7C15ull ^ (uint64_t)j * 0xBF58476D1CE4E5B9ull;
        z ^= z >> 31;
        keep[j] = (uint8_t)((z * 0x94D049BB133111EBull) >> 63) | (j == row % seq);
    }
}

typedef struct data {
    shape s;
    size_t n;
    float *q, *k, *v, *o;
    double *ref;
} data;

static int data_make(data *d, shape s, uint64_t seed)
{
    d->s = s;
    d->n = (size_t)(s.heads * s.seq * s.dim);
    d->q = malloc(d->n * sizeof(float)), d->k = malloc(d->n * sizeof(float));
    d->v = malloc(d->n * sizeof(float)), d->o = malloc(d->n * sizeof(float));
    d->ref = malloc(d->n * sizeof(double));
    if (!d->q || !d->k || !d->v || !d->o || !d->ref) return -1;
    tu_rng r = {seed};
    tu_fill_normal(&r, d->q, d->n, s.sigma);
    tu_fill_normal(&r, d->k, d->n, s.sigma);
    tu_fill_normal(&r, d->v, d->n, 1.0);
    return 0;
}

static void data_free(data *d) { free(d->q), free(d->k), free(d->v), free(d->o), free(d->ref); }

static void report(const char *op, const ripple_variant *var, const shape *s, int ok, const char *why)
{
    printf("%-12s %-8s h%lld n%-5lld d%-4lld %s%s%s\n", op, var->name, (long long)s->heads,
           (long long)s->seq, (long long)s->dim, ok ? "ok" : "FAILED: ", ok ? "" : why, "");
    ok ? passed++ : failed++;
}

/* Runs one variant of attn_exact or attn_masked on d and checks it. */
static void check_attn(ripple_op op, const ripple_variant *var, data *d)
{
    const shape *s = &d->s;
    const double scale = 1.0 / sqrt((double)s->dim);
    const ripple_row_rule rule = {rule_hash, &s->seq, NULL};
    for (size_t i = 0; i < d->n; i++) d->o[i] = NAN;
    ripple_status st = op == RIPPLE_OP_ATTN_EXACT
        ? var->fn.attn_exact(s->heads, s->seq, s->dim, scale, d->q, d->k, d->v, d->o)
        : var->fn.attn_masked(s->heads, s->seq, s->dim, scale, d->q, d->k, d->v, &rule, d->o);
    if (st != RIPPLE_OK) {
        report(ripple_op_name(op), var, s, 0, ripple_last_error());
        return;
    }
    st = op == RIPPLE_OP_ATTN_EXACT
        ? ripple_attn_exact_f64(s->heads, s->seq, s->dim, scale, d->q, d->k, d->v, d->ref)
        : ripple_attn_masked_f64(s->heads, s->seq, s->dim, scale, d->q, d->k, d->v, &rule, d->ref);
    if (st != RIPPLE_OK) {
        report(ripple_op_name(op), var, s, 0, ripple_last_error());
        return;
    }
    nc_attn_result r;
    nc_check_attn(s->heads, s->seq, s->dim, scale, d->q, d->k, d->v,
                  op == RIPPLE_OP_ATTN_MASKED ? &rule : NULL, d->o, d->ref,
                  var->backend == RIPPLE_BACKEND_CUDA ? FUSED_MIN_CHUNK_CUDA : FUSED_MIN_CHUNK, &r);
    report(ripple_op_name(op), var, s, r.ok, r.why);
}

/* attn_f64's CUDA variant against the reference, float64 both. */
static void check_f64(const ripple_variant *var, const shape *s, uint64_t seed)
{
    data d;
    double *o = NULL;
    if (data_make(&d, *s, seed) != 0 || !(o = malloc(d.n * sizeof *o))) {
        report("attn_f64", var, s, 0, "no memory");
        data_free(&d);
        free(o);
        return;
    }
    for (size_t i = 0; i < d.n; i++) o[i] = NAN;
    const double scale = 1.0 / sqrt((double)s->dim);
    ripple_status st = var->fn.attn_f64(s->heads, s->seq, s->dim, scale, d.q, d.k, d.v, o);
    if (st == RIPPLE_OK) st = ripple_attn_exact_f64(s->heads, s->seq, s->dim, scale, d.q, d.k, d.v, d.ref);
    if (st != RIPPLE_OK) {
        report("attn_f64", var, s, 0, ripple_last_error());
    } else {
        nc_attn_result r;
        nc_check_f64(s->heads, s->seq, s->dim, scale, d.q, d.k, d.v, o, d.ref, &r);
        report("attn_f64", var, s, r.ok, r.why);
    }
    data_free(&d);
    free(o);
}

/* Layouts for attn_reuse: one token; dims below a vector; windows 3 whose
 * cubes are cut at the grid's edges; text tokens before and after the video;
 * sequences that are no multiple of the item (96) or the key chunk. */
typedef struct reuse_case {
    int64_t heads, T, H, W, text_before, text_after, dim;
    int window;
    double theta;
} reuse_case;

static const reuse_case REUSE_CASES[] = {
    {1, 1, 1, 1, 0, 0, 64, 2, 0.5},  {2, 3, 1, 5, 2, 0, 3, 2, 0.5},  {1, 5, 7, 3, 4, 1, 17, 3, 0.3},
    {2, 4, 6, 6, 0, 0, 128, 2, 0.3}, {1, 2, 16, 16, 4, 0, 80, 2, 0.2}, {1, 3, 9, 11, 1, 2, 64, 2, 1e9},
};

static void report_reuse(const ripple_variant *var, const char *what, int ok, const char *why)
{
    printf("%-12s %-8s %s %s%s\n", "attn_reuse", var->name, what, ok ? "ok" : "FAILED: ", ok ? "" : why);
    ok ? passed++ : failed++;
}

/* Runs one attn_reuse variant on q~, k~, v of lay (poisoned output) and
 * checks it against float64 exact attention on q~, k~. */
static void check_reuse_on(const ripple_variant *var, const ripple_layout *lay, int window, int64_t heads,
                           double scale, const float *qr, const float *kr, const float *v, const char *what)
{
    const int64_t seq = lay->seq_len, dim = lay->head_dim;
    const size_t n = (size_t)(heads * seq * dim);
    float *o = malloc(n * sizeof *o);
    double *ref = malloc(n * sizeof *ref);
    if (!o || !ref) {
        report_reuse(var, what, 0, "no memory");
        free(o), free(ref);
        return;
    }
    for (size_t i = 0; i < n; i++) o[i] = NAN;
    ripple_attn_reuse_work wk;
    ripple_status st = var->fn.attn_reuse(lay, window, heads, scale, qr, kr, v, o, &wk);
    if (st == RIPPLE_OK) st = ripple_attn_exact_f64(heads, seq, dim, scale, qr, kr, v, ref);
    if (st != RIPPLE_OK) {
        report_reuse(var, what, 0, ripple_last_error());
    } else if (wk.rows != heads * seq || wk.dense_rows + wk.delta_rows != wk.rows) {
        report_reuse(var, what, 0, "work counts do not add up to the rows");
    } else {
        nc_attn_result r;
        const int64_t chunk = var->backend == RIPPLE_BACKEND_CUDA ? FUSED_MIN_CHUNK_CUDA : FUSED_MIN_CHUNK;
        nc_check_attn_delta(heads, seq, dim, scale, qr, kr, v, NULL, o, ref, chunk, REUSE_MAX_DEPTH, &r);
        char buf[160];
        snprintf(buf, sizeof buf, "%s (delta rows %.2f, work %.2f)", what,
                 (double)wk.delta_rows / (double)wk.rows, ripple_attn_reuse_work_frac(&wk, dim));
        report_reuse(var, buf, r.ok, r.why);
    }
    free(o), free(ref);
}

/* Smooth fields over (t, h, w) plus a little noise, so that the transform
 * at c->theta reuses many entries; text tokens i.i.d. N(0, 1). */
static void reuse_case_run(const ripple_variant *var, const reuse_case *c, uint64_t seed)
{
    ripple_layout lay = nc_layout(c->T, c->H, c->W, c->text_before, c->text_after, c->dim);
    lay.num_groups = c->dim >= 3 ? 3 : 1;
    for (int g = 0; g < lay.num_groups; g++) {
        lay.group_axis[g] = g;
        lay.group_len[g] = c->dim / lay.num_groups + (g < c->dim % lay.num_groups);
    }
    const int64_t seq = lay.seq_len, dim = c->dim;
    const size_t n = (size_t)(c->heads * seq * dim);
    float *x[3], *xr[2];
    tu_rng r = {seed};
    for (int t = 0; t < 3; t++) x[t] = malloc(n * sizeof(float));
    xr[0] = malloc(n * sizeof(float)), xr[1] = malloc(n * sizeof(float));
    for (int t = 0; t < 3; t++) {
        tu_fill_normal(&r, x[t], n, t == 2 ? 1.0 : 0.05);
        if (t == 2) continue;
        for (int64_t h = 0; h < c->heads; h++)
            for (int64_t ch = 0; ch < dim; ch++) {
                double f[3], ph = 6.283 * tu_uniform(&r);
                for (int a = 0; a < 3; a++) f[a] = 0.5 * tu_uniform(&r);
                for (int64_t tok = 0; tok < c->T * c->H * c->W; tok++) {
                    int64_t tt = tok / (c->H * c->W), hh = tok / c->W % c->H, ww = tok % c->W;
                    x[t][(size_t)((h * seq + c->text_before + tok) * dim + ch)] +=
                        (float)(2.0 * sin(ph + f[0] * (double)tt + f[1] * (double)hh + f[2] * (double)ww));
                }
            }
    }
    ripple_reuse_params p;
    memset(&p, 0, sizeof p);
    p.window = c->window;
    p.theta[0] = p.theta[1] = p.theta[2] = c->theta;
    ripple_status st = RIPPLE_OK;
    for (int t = 0; t < 2 && st == RIPPLE_OK; t++)
        for (int64_t h = 0; h < c->heads && st == RIPPLE_OK; h++) {
            size_t off = (size_t)(h * seq * dim);
            st = ripple_reuse_apply(&lay, &p, x[t] + off, xr[t] + off, NULL);
        }
    char what[96];
    snprintf(what, sizeof what, "h%lld %lldx%lldx%lld+%lld d%lld w%d th%g", (long long)c->heads, (long long)c->T,
             (long long)c->H, (long long)c->W, (long long)(c->text_before + c->text_after), (long long)dim,
             c->window, c->theta);
    if (st != RIPPLE_OK) report_reuse(var, what, 0, ripple_last_error());
    else check_reuse_on(var, &lay, c->window, c->heads, 1.0 / sqrt((double)dim), xr[0], xr[1], x[2], what);
    for (int t = 0; t < 3; t++) free(x[t]);
    free(xr[0]), free(xr[1]);
}

/* All heads of the first captured (step, layer) of a real capture, at two
 * thresholds (one at s_score ~0.8, one high). Skipped when absent. */
static void reuse_capture_run(const ripple_variant *var, const char *path)
{
    ripple_capture *cap = NULL;
    if (ripple_capture_open(path, &cap) != RIPPLE_OK) {
        printf("%-12s %-8s %s skipped: %s\n", "attn_reuse", var->name, path, ripple_last_error());
        skipped++;
        return;
    }
    const ripple_capture_info *info = ripple_capture_get_info(cap);
    const ripple_layout *lay = &info->layout;
    const ripple_capture_entry *e = ripple_capture_get_entry(cap, 0);
    const int64_t H = info->num_heads, seq = lay->seq_len, dim = lay->head_dim;
    const size_t n = (size_t)(H * seq * dim);
    float *x[3], *xr[2];
    for (int t = 0; t < 3; t++) x[t] = malloc(n * sizeof(float));
    xr[0] = malloc(n * sizeof(float)), xr[1] = malloc(n * sizeof(float));
    ripple_status st = RIPPLE_OK;
    for (int t = 0; t < 3 && st == RIPPLE_OK; t++) st = ripple_capture_read(cap, e->step, e->layer, (ripple_tensor)t, 0, H, x[t]);
    const double thetas[2] = {0.05, 0.5};
    for (int ti = 0; ti < 2 && st == RIPPLE_OK; ti++) {
        ripple_reuse_params p;
        memset(&p, 0, sizeof p);
        p.theta[0] = p.theta[1] = p.theta[2] = thetas[ti];
        for (int t = 0; t < 2 && st == RIPPLE_OK; t++)
            for (int64_t h = 0; h < H && st == RIPPLE_OK; h++)
                st = ripple_reuse_apply(lay, &p, x[t] + (size_t)(h * seq * dim), xr[t] + (size_t)(h * seq * dim), NULL);
        char what[200];
        const char *base = strrchr(path, '/');
        snprintf(what, sizeof what, "%s step %d layer %d h%lld n%lld th%g", base ? base + 1 : path, e->step,
                 e->layer, (long long)H, (long long)seq, thetas[ti]);
        if (st == RIPPLE_OK) check_reuse_on(var, lay, 2, H, info->scale, xr[0], xr[1], x[2], what);
    }
    if (st != RIPPLE_OK) report_reuse(var, path, 0, ripple_last_error());
    for (int t = 0; t < 3; t++) free(x[t]);
    free(xr[0]), free(xr[1]);
    ripple_capture_close(cap);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Times every runnable variant of the attention ops on one shape,
 * repetitions interleaved; GFLOP/s from 4 N^2 d per head. */
static void bench(shape s, int reps)
{
    data d;
    if (data_make(&d, s, 99) != 0) {
        fprintf(stderr, "checkasm: no memory for the bench shape\n");
        failed++;
        return;
    }
    const double scale = 1.0 / sqrt((double)s.dim);
    const ripple_row_rule rule = {rule_hash, &s.seq, NULL};
    const ripple_variant *vars[16];
    ripple_op ops_of[16];
    int nv = 0;
    for (int op = RIPPLE_OP_ATTN_EXACT; op <= RIPPLE_OP_ATTN_MASKED; op++)
        for (int i = 0; i < ripple_variant_count(op) && nv < 16; i++) {
            const ripple_variant *var = ripple_variant_get(op, i);
            /* the hash rule has no mask spec: the CUDA variant takes none */
            if (var->available() && !(op == RIPPLE_OP_ATTN_MASKED && var->backend == RIPPLE_BACKEND_CUDA))
                vars[nv] = var, ops_of[nv++] = op;
        }
    double *t = calloc((size_t)(nv * reps), sizeof *t);
    for (int r = -1; r < reps; r++)
        for (int i = 0; i < nv; i++) {
            double t0 = now();
            ripple_status st = ops_of[i] == RIPPLE_OP_ATTN_EXACT
                ? vars[i]->fn.attn_exact(s.heads, s.seq, s.dim, scale, d.q, d.k, d.v, d.o)
                : vars[i]->fn.attn_masked(s.heads, s.seq, s.dim, scale, d.q, d.k, d.v, &rule, d.o);
            double dt = now() - t0;
            if (st != RIPPLE_OK) {
                fprintf(stderr, "checkasm: bench %s: %s\n", vars[i]->name, ripple_last_error());
                failed++;
                goto done;
            }
            if (r >= 0) t[i * reps + r] = dt;
        }
    printf("\nbench: heads %lld, seq %lld, dim %lld, %d reps interleaved (median, GFLOP/s at 4 N^2 d per head)\n",
           (long long)s.heads, (long long)s.seq, (long long)s.dim, reps);
    for (int i = 0; i < nv; i++) {
        qsort(t + i * reps, (size_t)reps, sizeof *t, cmp_double);
        double med = t[i * reps + reps / 2];
        printf("  %-12s %-8s %10.2f ms %8.1f GFLOP/s\n", ripple_op_name(ops_of[i]), vars[i]->name, med * 1e3,
               4.0 * (double)s.seq * (double)s.seq * (double)s.dim * (double)s.heads / med * 1e-9);
    }
done:
    free(t);
    data_free(&d);
}

int main(int argc, char **argv)
{
    uint64_t seed = 1;
    int do_bench = 0, reps = 5, do_captures = 1;
    shape bs = {4, 4096, 64, 1.0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--bench")) do_bench = 1;
        else if (!strcmp(a, "--seed") && val) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--no-captures")) do_captures = 0;
        else if (!strcmp(a, "--seq") && val) bs.seq = atoll(argv[++i]);
        else if (!strcmp(a, "--dim") && val) bs.dim = atoll(argv[++i]);
        else if (!strcmp(a, "--heads") && val) bs.heads = atoll(argv[++i]);
        else if (!strcmp(a, "--reps") && val) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: checkasm [--seed N] [--no-captures] [--bench] [--seq N --dim D --heads H --reps R]\n");
            return 2;
        }
    }
    if (bs.seq < 1 || bs.dim < 1 || bs.heads < 1 || reps < 1) {
        fprintf(stderr, "checkasm: --seq, --dim, --heads and --reps must be positive\n");
        return 2;
    }
    printf("checkasm: seed %llu\n", (unsigned long long)seed);
    for (int op = 0; op < RIPPLE_OP_COUNT; op++) {
        if (ripple_variant_count(op) == 0) {
            printf("%-12s (slot: no variant yet)\n", ripple_op_name(op));
            continue;
        }
        for (int i = 0; i < ripple_variant_count(op); i++) {
            const ripple_variant *var = ripple_variant_get(op, i);
            if (!var->available()) {
                printf("%-12s %-8s skipped: this machine cannot run it\n", ripple_op_name(op), var->name);
                skipped++;
                continue;
            }
            if (op == RIPPLE_OP_TRANSFORM && var->backend == RIPPLE_BACKEND_CUDA) {
                printf("%-12s %-8s is checked against c, bit for bit, in test_cuda\n", ripple_op_name(op),
                       var->name);
                continue;
            }
            if (op == RIPPLE_OP_ATTN_REUSE) {
                for (size_t ci = 0; ci < sizeof REUSE_CASES / sizeof REUSE_CASES[0]; ci++)
                    reuse_case_run(var, &REUSE_CASES[ci], seed + 100 + ci);
                if (do_captures) reuse_capture_run(var, RIPPLE_SOURCE_ROOT "/data/captures/tiny-vdit-mini.h5");
                continue;
            }
            if (op == RIPPLE_OP_TRANSFORM) {
                printf("%-12s %-8s is the reference (brute-force checked in test_reuse)\n", ripple_op_name(op),
                       var->name);
                continue;
            }
            if (op == RIPPLE_OP_ATTN_F64) {
                if (var->backend == RIPPLE_BACKEND_CPU) {
                    printf("%-12s %-8s is the reference (attn_ref.c)\n", ripple_op_name(op), var->name);
                    continue;
                }
                for (size_t si = 0; si < sizeof SHAPES / sizeof SHAPES[0]; si++) check_f64(var, &SHAPES[si], seed + si);
                continue;
            }
            if (op == RIPPLE_OP_ATTN_MASKED) {
                /* rules with a mask spec (box, all, top-k): every variant */
                for (int ci = 0; ci < NC_MASK_CASE_COUNT; ci++) {
                    const nc_mask_case *c = &NC_MASK_CASES[ci];
                    char line[640];
                    int ok = nc_mask_case_run(c, seed + 200 + (uint64_t)ci, var->fn.attn_masked, 0, line, sizeof line);
                    printf("%-12s %-8s spec %s h%lld %lldx%lldx%lld+%lld d%lld %s\n", ripple_op_name(op), var->name,
                           c->kind == RIPPLE_MASK_BOX ? "box " : c->kind == RIPPLE_MASK_TOPK ? "topk" : "all ",
                           (long long)c->heads, (long long)c->T, (long long)c->H, (long long)c->W,
                           (long long)(c->text_before + c->text_after), (long long)c->dim, line);
                    ok ? passed++ : failed++;
                }
                /* the host-only hash rule: CPU variants (the dispatcher
                 * sends such rules to the CPU) */
                if (var->backend == RIPPLE_BACKEND_CUDA) continue;
            }
            for (size_t si = 0; si < sizeof SHAPES / sizeof SHAPES[0]; si++) {
                data d;
                if (data_make(&d, SHAPES[si], seed + si) != 0) {
                    fprintf(stderr, "checkasm: no memory\n");
                    return 1;
                }
                check_attn(op, var, &d);
                data_free(&d);
            }
        }
    }
    if (do_bench) bench(bs, reps);
    printf("checkasm: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
