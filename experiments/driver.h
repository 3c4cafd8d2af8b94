/* Shared machinery of the experiment drivers (compare, steps, fit, window,
 * groups, paper): selection of captures/steps/layers/heads, the units of
 * work with their exact attention computed once, resumable TSV output,
 * gnuplot figures, and threshold ramps.
 *
 * Output files of a driver NAME in --out DIR:
 *   DIR/NAME.tsv  the table: `#` metadata lines, a header, one row per line.
 *                 While the driver runs, rows go to DIR/NAME.tsv.partial
 *                 (each row written whole and flushed, so Ctrl-C leaves
 *                 complete rows only); at the end it is renamed NAME.tsv.
 *                 A rerun with the same options reuses finished rows.
 *   DIR/NAME.gp   a gnuplot script that reads only NAME.tsv
 *   DIR/NAME.png  the figure (and .svg / .pdf on request)
 *   DIR/.ripple.lock  held (flock) while a run writes DIR */
#ifndef RIPPLE_DRIVER_H
#define RIPPLE_DRIVER_H

#include "cli.h"
#include "evaluate.h"

#include <getopt.h>
#include <stdio.h>

/* ------------------------------------------------------------- options */

typedef struct drv_opts {
    char **captures;          /* capture paths (argv) */
    int ncaptures;
    const char *steps;        /* selection: NULL = all captured, "0,10,20", "0:20" */
    const char *layers;       /* likewise */
    int64_t head_lo, head_hi; /* hi = -1: to the last stored head */
    const char *out_dir;      /* required */
    int svg, pdf;             /* extra figure formats */
    ripple_backend backend;
    int fresh;                /* --fresh: ignore finished rows of an earlier run */
} drv_opts;

/* getopt_long entries of the common options; end a driver's table with
 * DRV_COMMON_LONGOPTS then its own entries, then {0}. Values >= 1000. */
enum { DRV_O_STEPS = 1000, DRV_O_LAYERS, DRV_O_HEADS, DRV_O_OUT, DRV_O_SVG, DRV_O_PDF,
       DRV_O_BACKEND, DRV_O_FRESH };
#define DRV_COMMON_LONGOPTS                                                        \
    {"steps", required_argument, 0, DRV_O_STEPS},                                  \
    {"layers", required_argument, 0, DRV_O_LAYERS},                                \
    {"heads", required_argument, 0, DRV_O_HEADS},                                  \
    {"out", required_argument, 0, DRV_O_OUT}, {"svg", no_argument, 0, DRV_O_SVG},  \
    {"pdf", no_argument, 0, DRV_O_PDF},                                            \
    {"backend", required_argument, 0, DRV_O_BACKEND},                              \
    {"fresh", no_argument, 0, DRV_O_FRESH}, {"help", no_argument, 0, 'h'}

/* Help text of the common options, for a driver's usage(). */
extern const char drv_common_help[];

void drv_opts_init(drv_opts *o);
/* Handles a common option; returns 1 if c was one, 0 otherwise. */
int drv_common_option(drv_opts *o, int c, const char *arg);
/* After the getopt loop: takes the capture paths from argv[optind..],
 * checks --out was given, creates it (mkdir -p) and locks it: one run per
 * folder at a time (DIR/.ripple.lock, flock; a second run exits 1 saying
 * another one is writing DIR). A folder that cannot be written is a data
 * error "cannot write DIR: REASON". */
void drv_finish_options(drv_opts *o, int argc, char **argv, int min_captures);
/* One line describing the selection, for `#` metadata. */
const char *drv_selection_str(const drv_opts *o);

/* ---------------------------------------------------------------- units */

/* One (capture, step, layer) selected by the options. */
typedef struct drv_unit_id {
    int capture; /* index into o->captures */
    int step, layer;
    double timestep;
    int num_steps;
} drv_unit_id;

typedef struct drv_units {
    ripple_capture **caps; /* open captures, [ncaptures] */
    int ncaptures;
    drv_unit_id *ids;
    int n;
} drv_units;

/* Opens every capture and lists the selected units, sorted by capture,
 * step, layer. Exits with a clear error when a selection matches nothing. */
void drv_units_open(drv_units *u, const drv_opts *o);
void drv_units_close(drv_units *u);
/* Loads one unit (q, k, v, exact attention) for the selected heads. The
 * time of its exact attention is added to drv_exact_seconds(). */
void drv_unit_load(const drv_units *u, const drv_opts *o, int i, eval_unit *out);
/* Seconds spent in exact attention by drv_unit_load in this process. */
double drv_exact_seconds(void);
/* Appends `# exact_attention_seconds:` (drv_exact_seconds) and
 * `# wall_seconds:` (since drv_opts_init) to a finished TSV, for `ripple
 * paper` and the reader. Call once per driver, on its main TSV. */
void drv_append_timing(const char *tsv_path);

/* -------------------------------------------------------- resumable TSV */

typedef struct drv_tsv drv_tsv;

/* Opens DIR/NAME.tsv for a run whose options are described by `options`
 * (one line; a rerun reuses rows only when it is identical). key_cols: the
 * first key_cols columns identify a row. Metadata lines are added with
 * drv_tsv_meta before the first row is written. */
drv_tsv *drv_tsv_open(const drv_opts *o, const char *name, int ncols, const char *const *cols,
                      int key_cols, const char *options);
void drv_tsv_meta(drv_tsv *t, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* 1 if a finished row with these key cells (strings, key_cols of them) exists. */
int drv_tsv_has(const drv_tsv *t, const char *const *key);
/* Finished row by key: its cell of column col, or NULL. */
const char *drv_tsv_get(const drv_tsv *t, const char *const *key, const char *col);
/* Writes one row (ncols cells as strings), flushed at once. */
void drv_tsv_row(drv_tsv *t, const char *const *cells);
/* Renames the partial file to NAME.tsv and frees t; returns the final path
 * (static storage, valid until the next call). */
const char *drv_tsv_close(drv_tsv *t);
/* Calls fn for every data row of a finished TSV that has exactly ncols
 * cells (cells are valid during the call only). Exits on a read error. */
void drv_tsv_foreach(const char *path, int ncols, void (*fn)(char **cells, void *ctx), void *ctx);
/* Number of rows that were reused from an earlier run. */
int drv_tsv_reused(const drv_tsv *t);

/* Cell formatting: %.6g with inf/nan spelled out; buffers of DRV_CELL. */
#define DRV_CELL 48
const char *drv_num(char buf[DRV_CELL], double v);
const char *drv_int(char buf[DRV_CELL], long long v);

/* ---------------------------------------------------------------- plots */

/* Writes DIR/NAME.gp: a preamble (terminal png 800x500 by default, output
 * NAME.png; font and grid), then body, which reads "NAME.tsv" (scripts name
 * files relative to DIR and never contain the --out path). Runs gnuplot
 * once per requested format (png, and svg/pdf on request) without a shell:
 * fork, chdir DIR, exec with an argument vector. Each figure is rendered to
 * NAME.FMT.tmp and renamed to NAME.FMT only when gnuplot exited 0 and the
 * file is a complete image (PNG: signature and final IEND chunk; SVG: ends
 * with </svg>; PDF: %PDF- header and %%EOF trailer). Otherwise the
 * temporary file and any NAME.FMT of an earlier run are removed (a figure
 * never disagrees with its table) and one line says why.
 * Returns 0 when every figure was drawn; 1 when gnuplot is missing (a note
 * says how to install it and render by hand: not an error, the table and
 * script are the results); -1 when a figure failed, which the driver turns
 * into exit status 1 (a data error) after writing everything else. NAME
 * must be a plain name ([A-Za-z0-9_-]). */
int drv_plot(const drv_opts *o, const char *name, const char *body, int width, int height);
/* Exit status of a driver after its figures: CLI_EXIT_DATA when a
 * drv_plot call failed (returned -1), else CLI_EXIT_OK. */
int drv_exit_status(int plot_rc);
/* s as one word for a POSIX shell, for commands printed to be copied: as it
 * is when made of [A-Za-z0-9_./:=,+@%-] only, else in single quotes (a
 * quote inside as '\''). Cut to dst[n]. Returns dst. */
const char *drv_shell_word(char *dst, size_t n, const char *s);
/* Copies s into dst[n] as the inside of a gnuplot double-quoted string:
 * backslash and double quote escaped, control characters as spaces, cut at
 * a character boundary of the escaped text. Returns dst. */
const char *drv_gp_string(char *dst, size_t n, const char *s);

/* ---------------------------------------------------------------- ramps */

/* Threshold ramp over denoising steps (method.md section 5): theta_i = 0
 * for i < i_min and i = num_steps-1; linear from theta_start at i_min to
 * theta_end at i_max; theta_end after i_max. Steps are zero-based. */
typedef struct drv_ramp {
    double theta_start, theta_end;
    int i_min, i_max, num_steps;
    ripple_threshold_mode mode;
} drv_ramp;

double drv_ramp_theta(const drv_ramp *r, int step);
/* Text file of "key value" lines: mode (absolute or channel, default
 * absolute), theta_start, theta_end (finite, >= 0), i_min, i_max,
 * num_steps (whole numbers, 0 <= i_min <= i_max < num_steps); blank lines
 * and # comments (also after a value) allowed. Unknown or repeated keys,
 * missing values, extra text, fractional or out-of-range step numbers and
 * NUL bytes are refused. Returns 0, or -1 with a one-line message naming
 * the file and line in err[DRV_RAMP_ERR] (bytes of the file that are not
 * printable ASCII are shown as \xNN). */
#define DRV_RAMP_ERR 512
int drv_ramp_load(const char *path, drv_ramp *r, char err[DRV_RAMP_ERR]);
int drv_ramp_save(const char *path, const drv_ramp *r, const char *comment);

#endif
