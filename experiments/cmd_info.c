/* ripple info: what a capture holds (geometry, channel groups, steps and
 * layers) and how smooth its q and k are: the mean window delta per channel
 * group and axis of one (step, layer), the scale thresholds are set on. */
#include "cli.h"
#include "commands.h"

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const int info_window = 2; /* window of the delta table */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: ripple info CAPTURE [options]\n\n"
        "Describes a capture: model, source, prompt and seed, token grid, sequence\n"
        "length and text tokens, channel groups, heads, element type and size, the\n"
        "captured steps (with timesteps) and layers. Then the mean window delta\n"
        "(window 2: |x0 - x1| / 2 of adjacent tokens) of q and of k per channel\n"
        "group and axis, averaged over the group's channels and the selected heads\n"
        "of one (step, layer): a threshold theta reuses roughly the entries whose\n"
        "window delta is below theta.\n\n"
        "options:\n"
        "  --step S           step of the delta table (default: the first captured)\n"
        "  --layer L          layer of the delta table (default: the first captured\n"
        "                     at that step)\n"
        "  --heads a:b        heads a..b-1 of those stored (default: all)\n"
        "  --no-deltas        skip the delta table (reads no tensor data)\n"
        "  --format F         table (default) or tsv: key<TAB>value lines, then the\n"
        "                     delta table with a header line\n"
        "  -h, --help         this text\n\n"
        "TSV keys: capture, model, source, prompt, seed, guidance, grid, seq_len,\n"
        "video_offset, video_tokens, text_tokens, head_dim, rope_axes, rope_split,\n"
        "group (axis, first channel, channels), num_heads, scale, num_layers,\n"
        "num_steps, dtype, data_bytes, o_entries, entries, first_entry (step/layer),\n"
        "step (step, timestep, layers), delta_entry, delta_heads, delta_window.\n");
}

typedef struct {
    const char *path;
    cli_unit_opts u;
    int deltas;
} info_opts;

static void parse(int argc, char **argv, info_opts *o)
{
    enum { O_NODELTAS = 256 };
    static const struct option longopts[] = {
        CLI_UNIT_LONGOPTS, {"no-deltas", no_argument, 0, O_NODELTAS}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    *o = (info_opts){.u = cli_unit_defaults(), .deltas = 1};
    o->u.tsv = 0; /* info's default is the table, terminal or not */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == 'h') usage(stdout), exit(CLI_EXIT_OK);
        else if (c == O_NODELTAS) o->deltas = 0;
        else cli_unit_option(c, optarg, argv, &o->u);
    }
    o->path = cli_one_capture(argc, argv);
}

/* ------------------------------------------------------------- helpers */

/* Appends to buf (size cap, used *n) without overflowing; marks truncation. */
static void app(char *buf, size_t cap, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void app(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
    if (*n + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *n, cap - *n, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k >= cap - *n) {
        *n = cap - 1;
        if (cap > 4) memcpy(buf + cap - 4, "...", 4);
    } else {
        *n += (size_t)k;
    }
}

/* Sorted ints as ranges: "0-3,7,9-11". */
static void ranges(const int *v, size_t count, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count;) {
        size_t j = i;
        while (j + 1 < count && v[j + 1] == v[j] + 1) j++;
        if (j == i) app(buf, cap, &n, "%s%d", i ? "," : "", v[i]);
        else app(buf, cap, &n, "%s%d-%d", i ? "," : "", v[i], v[j]);
        i = j + 1;
    }
}

/* A string attribute made safe for one TSV cell. */
static const char *tsv_cell(const char *s)
{
    static char buf[512];
    size_t i = 0;
    for (; s[i] && i + 1 < sizeof buf; i++) buf[i] = (s[i] == '\t' || s[i] == '\n' || s[i] == '\r') ? ' ' : s[i];
    buf[i] = '\0';
    return buf;
}

static const char *human_bytes(int64_t b, char buf[32])
{
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double x = (double)b;
    int u = 0;
    while (x >= 1024 && u < 4) x /= 1024, u++;
    snprintf(buf, 32, u ? "%.1f %s" : "%.0f %s", x, unit[u]);
    return buf;
}

/* Steps of a capture: distinct steps in order, each with its timestep and layer list. */
typedef struct {
    int step;
    double timestep;
    char layers[256];
} step_row;

static step_row *collect_steps(const ripple_capture *cap, size_t *nsteps)
{
    size_t ne = ripple_capture_num_entries(cap);
    step_row *rows = cli_alloc(ne ? ne : 1, sizeof *rows, "step list");
    int *layers = cli_alloc(ne ? ne : 1, sizeof *layers, "layer list");
    size_t ns = 0;
    for (size_t i = 0; i < ne;) {
        const ripple_capture_entry *e = ripple_capture_get_entry(cap, i);
        size_t nl = 0, j = i;
        for (; j < ne && ripple_capture_get_entry(cap, j)->step == e->step; j++)
            layers[nl++] = ripple_capture_get_entry(cap, j)->layer;
        rows[ns].step = e->step;
        rows[ns].timestep = e->timestep;
        ranges(layers, nl, rows[ns].layers, sizeof rows[ns].layers);
        ns++;
        i = j;
    }
    free(layers);
    *nsteps = ns;
    return rows;
}

/* ---------------------------------------------------------- delta table */

/* delta[tensor][row][axis]: rows are the channel groups, then (if any
 * channel is outside every group) one row of those. NAN where the axis has
 * fewer than two positions. */
typedef struct {
    int nrows;
    int first[4], count[4]; /* channel range of each row */
    char name[4][8];
    double delta[2][4][3];
} delta_table;

static void compute_deltas(ripple_capture *cap, int step, int layer,
                           int64_t h0, int64_t h1, delta_table *dt)
{
    const ripple_layout *lay = cli_layout(cap);
    const int64_t d = lay->head_dim;
    memset(dt, 0, sizeof *dt);
    int64_t start = 0;
    for (int g = 0; g < lay->num_groups; g++) {
        dt->first[dt->nrows] = (int)start;
        dt->count[dt->nrows] = (int)lay->group_len[g];
        snprintf(dt->name[dt->nrows], sizeof dt->name[0], "%c", "thw"[lay->group_axis[g]]);
        dt->nrows++;
        start += lay->group_len[g];
    }
    if (start < d) {
        dt->first[dt->nrows] = (int)start;
        dt->count[dt->nrows] = (int)(d - start);
        snprintf(dt->name[dt->nrows], sizeof dt->name[0], "none");
        dt->nrows++;
    }
    size_t n = (size_t)lay->seq_len * (size_t)d; /* checked by ripple_capture_open */
    float *x = cli_alloc(n, sizeof *x, "one head of q or k");
    double *dm = cli_alloc((size_t)d, sizeof *dm, "window deltas");
    for (int t = 0; t < 2; t++) {
        const ripple_tensor which = t ? RIPPLE_TENSOR_K : RIPPLE_TENSOR_Q;
        for (int64_t h = h0; h < h1; h++) {
            ripple_status st = ripple_capture_read(cap, step, layer, which, h, 1, x);
            if (st) cli_lib_error(st, "cannot read capture");
            for (int a = 0; a < 3; a++) {
                if (lay->grid[a] < 2) continue;
                st = ripple_window_delta_mean(lay, (ripple_axis)a, info_window, x, dm);
                if (st) cli_lib_error(st, "window delta");
                for (int r = 0; r < dt->nrows; r++) {
                    double s = 0;
                    for (int c = dt->first[r]; c < dt->first[r] + dt->count[r]; c++) s += dm[c];
                    dt->delta[t][r][a] += dt->count[r] ? s / dt->count[r] : 0;
                }
            }
        }
        for (int r = 0; r < dt->nrows; r++)
            for (int a = 0; a < 3; a++)
                dt->delta[t][r][a] = lay->grid[a] < 2 ? NAN : dt->delta[t][r][a] / (double)(h1 - h0);
    }
    free(x);
    free(dm);
}

static void print_deltas(const delta_table *dt, int tsv, int step, int layer, int64_t h0, int64_t h1)
{
    if (tsv) {
        printf("delta_entry\t%d/%d\ndelta_heads\t%lld:%lld\ndelta_window\t%d\n", step, layer,
               (long long)h0, (long long)h1, info_window);
        printf("tensor\tgroup\tfirst_channel\tchannels\tdelta_t\tdelta_h\tdelta_w\n");
        for (int t = 0; t < 2; t++)
            for (int r = 0; r < dt->nrows; r++) {
                printf("%s\t%s\t%d\t%d", t ? "k" : "q", dt->name[r], dt->first[r], dt->count[r]);
                for (int a = 0; a < 3; a++) {
                    double v = dt->delta[t][r][a];
                    if (isnan(v)) printf("\tnan");
                    else printf("\t%.6g", v);
                }
                printf("\n");
            }
        return;
    }
    printf("\nmean window delta (window %d) at step %d, layer %d, heads %lld:%lld,\n"
           "averaged over the heads and the channels of each group:\n\n",
           info_window, step, layer, (long long)h0, (long long)h1);
    printf("%-6s %-9s %10s %10s %10s   %10s %10s %10s\n", "group", "channels", "q along t", "q along h",
           "q along w", "k along t", "k along h", "k along w");
    double lo = INFINITY, hi = -INFINITY;
    for (int r = 0; r < dt->nrows; r++) {
        char range[32];
        if (dt->count[r] > 0)
            snprintf(range, sizeof range, "%d-%d", dt->first[r], dt->first[r] + dt->count[r] - 1);
        else
            snprintf(range, sizeof range, "(empty)");
        printf("%-6s %-9s", dt->name[r], range);
        for (int t = 0; t < 2; t++) {
            if (t) printf("  ");
            for (int a = 0; a < 3; a++) {
                double v = dt->delta[t][r][a];
                if (isnan(v) || dt->count[r] == 0) {
                    printf(" %10s", "-");
                    continue;
                }
                printf(" %10.4f", v);
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
        }
        printf("\n");
    }
    if (lo <= hi)
        printf("\nA threshold theta reuses roughly the entries whose window delta is below theta;"
               " typical deltas here are %.2g to %.2g.\n", lo, hi);
    else
        printf("\nNo axis has two positions: nothing can be reused.\n");
}

/* ------------------------------------------------------------ command */

int cmd_info(int argc, char **argv)
{
    info_opts o;
    parse(argc, argv, &o);

    ripple_capture *cap = cli_capture_open(o.path, "cannot use capture");
    const ripple_capture_info *info = ripple_capture_get_info(cap);
    const ripple_layout *lay = &info->layout;
    const size_t ne = ripple_capture_num_entries(cap);

    /* the (step, layer) and heads of the delta table, checked before printing */
    int dstep = -1, dlayer = -1;
    int64_t h0 = o.u.head_lo, h1 = o.u.head_hi < 0 ? info->num_heads : o.u.head_hi;
    if (h0 >= info->num_heads || h1 > info->num_heads)
        cli_usage_error("--heads: %s stores heads 0:%lld", o.path, (long long)info->num_heads);
    if (ne > 0) {
        if (o.u.step >= 0 && o.u.layer >= 0) {
            cli_require_entry(cap, o.u.step, o.u.layer);
            dstep = o.u.step, dlayer = o.u.layer;
        } else {
            for (size_t i = 0; i < ne && dstep < 0; i++) {
                const ripple_capture_entry *e = ripple_capture_get_entry(cap, i);
                if ((o.u.step < 0 || e->step == o.u.step) && (o.u.layer < 0 || e->layer == o.u.layer))
                    dstep = e->step, dlayer = e->layer;
            }
            if (dstep < 0 && o.u.step >= 0) cli_require_entry(cap, o.u.step, 0);
            if (dstep < 0)
                cli_data_error("%s: layer %d is not captured at any step", o.path, o.u.layer);
        }
    } else if (o.u.step >= 0 || o.u.layer >= 0) {
        cli_data_error("%s: no step or layer is captured", o.path);
    }

    /* summaries over the entries */
    size_t n_o = 0, n_f16 = 0;
    for (size_t i = 0; i < ne; i++) {
        const ripple_capture_entry *e = ripple_capture_get_entry(cap, i);
        n_o += e->has_o != 0;
        n_f16 += e->elem_bytes == 2;
    }
    const char *dtype = ne == 0 ? "none" : n_f16 == ne ? "float16" : n_f16 == 0 ? "float32"
                                                                               : "float16/float32 (mixed)";
    size_t nsteps = 0;
    step_row *steps = collect_steps(cap, &nsteps);
    int same_layers = 1;
    for (size_t i = 1; i < nsteps; i++)
        if (strcmp(steps[i].layers, steps[0].layers)) same_layers = 0;
    const int64_t nv = ripple_layout_video_tokens(lay);
    const int64_t ntext = lay->seq_len - nv;
    const int64_t data_bytes = ripple_capture_data_bytes(cap);

    /* channel groups, "t 0-15, h 16-39, w 40-63" */
    char groups[256];
    size_t gn = 0;
    groups[0] = '\0';
    int64_t start = 0;
    for (int g = 0; g < lay->num_groups; g++) {
        char letter = "thw"[lay->group_axis[g]];
        if (lay->group_len[g] > 0)
            app(groups, sizeof groups, &gn, "%s%c %lld-%lld", g ? ", " : "", letter, (long long)start,
                (long long)(start + lay->group_len[g] - 1));
        else
            app(groups, sizeof groups, &gn, "%s%c (none)", g ? ", " : "", letter);
        start += lay->group_len[g];
    }
    if (start < lay->head_dim)
        app(groups, sizeof groups, &gn, "%sno group %lld-%lld", lay->num_groups ? ", " : "",
            (long long)start, (long long)lay->head_dim - 1);

    if (o.u.tsv) {
        printf("capture\t%s\n", tsv_cell(o.path));
        printf("model\t%s\n", tsv_cell(info->model));
        if (info->source[0]) printf("source\t%s\n", tsv_cell(info->source));
        if (info->prompt[0]) printf("prompt\t%s\n", tsv_cell(info->prompt));
        if (info->has_seed) printf("seed\t%lld\n", (long long)info->seed);
        if (info->guidance[0]) printf("guidance\t%s\n", tsv_cell(info->guidance));
        printf("grid\t%lld,%lld,%lld\n", (long long)lay->grid[0], (long long)lay->grid[1],
               (long long)lay->grid[2]);
        printf("seq_len\t%lld\nvideo_offset\t%lld\nvideo_tokens\t%lld\ntext_tokens\t%lld\n",
               (long long)lay->seq_len, (long long)lay->video_offset, (long long)nv, (long long)ntext);
        printf("head_dim\t%lld\nrope_axes\t%s\nrope_split\t", (long long)lay->head_dim,
               tsv_cell(info->rope_axes));
        for (int g = 0; g < lay->num_groups; g++)
            printf("%s%lld", g ? "," : "", (long long)lay->group_len[g]);
        printf("\n");
        start = 0;
        for (int g = 0; g < lay->num_groups; g++) {
            printf("group\t%c\t%lld\t%lld\n", "thw"[lay->group_axis[g]], (long long)start,
                   (long long)lay->group_len[g]);
            start += lay->group_len[g];
        }
        printf("num_heads\t%lld\nscale\t%.9g\nnum_layers\t%lld\nnum_steps\t%lld\n",
               (long long)info->num_heads, info->scale, (long long)info->num_layers,
               (long long)info->num_steps);
        printf("dtype\t%s\ndata_bytes\t%lld\no_entries\t%zu\nentries\t%zu\n", dtype,
               (long long)data_bytes, n_o, ne);
        if (ne) {
            const ripple_capture_entry *e = ripple_capture_get_entry(cap, 0);
            printf("first_entry\t%d/%d\n", e->step, e->layer);
        }
        for (size_t i = 0; i < nsteps; i++)
            printf("step\t%d\t%.9g\t%s\n", steps[i].step, steps[i].timestep, steps[i].layers);
    } else {
        char hb[32];
        printf("%-13s %s\n", "capture", o.path);
        printf("%-13s %s\n", "model", info->model);
        if (info->source[0]) printf("%-13s %s\n", "source", info->source);
        if (info->prompt[0]) printf("%-13s %s\n", "prompt", info->prompt);
        if (info->has_seed) printf("%-13s %lld\n", "seed", (long long)info->seed);
        if (info->guidance[0]) printf("%-13s %s\n", "guidance", info->guidance);
        printf("%-13s %lld x %lld x %lld (T x H x W) = %lld video tokens\n", "grid",
               (long long)lay->grid[0], (long long)lay->grid[1], (long long)lay->grid[2], (long long)nv);
        printf("%-13s %lld: video tokens from %lld, %lld text tokens\n", "seq_len",
               (long long)lay->seq_len, (long long)lay->video_offset, (long long)ntext);
        printf("%-13s head_dim %lld: %s (rope_axes \"%s\")\n", "channels", (long long)lay->head_dim,
               groups[0] ? groups : "no groups", info->rope_axes);
        printf("%-13s %lld, softmax scale %.6g\n", "heads", (long long)info->num_heads, info->scale);
        printf("%-13s %lld layers, %lld denoising steps\n", "model size", (long long)info->num_layers,
               (long long)info->num_steps);
        printf("%-13s %s, %s (%lld bytes)\n", "data", dtype, human_bytes(data_bytes, hb),
               (long long)data_bytes);
        if (ne == 0) printf("%-13s absent\n", "o");
        else if (n_o == ne) printf("%-13s present in every entry\n", "o");
        else if (n_o == 0) printf("%-13s absent\n", "o");
        else printf("%-13s present in %zu of %zu entries\n", "o", n_o, ne);
        printf("%-13s %zu (step, layer) entries at %zu steps\n", "captured", ne, nsteps);
        /* steps with timesteps, wrapped */
        int col = printf("%-13s ", "steps");
        for (size_t i = 0; i < nsteps; i++) {
            char item[64];
            int len = snprintf(item, sizeof item, "%d (t=%.4g)%s", steps[i].step, steps[i].timestep,
                               i + 1 < nsteps ? "," : "");
            if (col + len > 78 && i) col = printf("\n%-13s ", "");
            col += printf("%s%s", item, i + 1 < nsteps ? " " : "");
        }
        printf("%s\n", nsteps ? "" : "none");
        if (nsteps && same_layers) {
            printf("%-13s %s at every captured step\n", "layers", steps[0].layers);
        } else {
            for (size_t i = 0; i < nsteps; i++)
                printf("%-13s step %d: %s\n", i ? "" : "layers", steps[i].step, steps[i].layers);
        }
    }
    free(steps);
    fflush(stdout);

    if (o.deltas && ne > 0) {
        delta_table dt;
        compute_deltas(cap, dstep, dlayer, h0, h1, &dt);
        print_deltas(&dt, o.u.tsv, dstep, dlayer, h0, h1);
    }
    ripple_capture_close(cap);
    return CLI_EXIT_OK;
}
