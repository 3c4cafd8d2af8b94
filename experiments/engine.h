/* The experiment engine: runs an experiment described by a table (exp_def).
 *
 * A description gives the experiment's options (exp_opt), the tables it
 * writes (exp_table_def: columns, and the key columns that identify a row),
 * how to plan its work (plan: the jobs of each group of units), how to
 * compute one row (key and row, as doubles), its aggregates (finish), its
 * figures (exp_plot_def: gnuplot scripts that name columns) and its section
 * of `ripple paper`'s index with the verdict against the paper (index). The
 * engine does the rest, the same way for every experiment:
 *
 *   options   the common ones (captures, --out, --steps/--layers/--heads
 *             selections, --backend, --svg/--pdf, --fresh) and the
 *             description's, parsed strictly; usage errors name the option
 *   folder    --out DIR is created and locked: one run per folder at a time
 *             (DIR/.ripple.lock, flock; a second run is a data error)
 *   units     every selected (capture, step, layer), read from a source
 *             (source.h), loaded with its exact attention once per group
 *   rows      DIR/NAME.tsv: `# options:` (everything that changes the rows;
 *             a rerun reuses finished rows only when it is identical),
 *             `# ripple:` (git describe), the description's metadata, the
 *             header, rows; written row by row to NAME.tsv.partial and
 *             renamed at the end, so a killed run leaves whole rows and
 *             the same command resumes (--fresh recomputes). Numbers are
 *             %.6g; what the experiment then uses is the number as printed,
 *             so a resumed run gives the same aggregates as a whole one.
 *   figures   DIR/NAME.gp (reads only the TSVs, named relative to DIR) and
 *             NAME.png (.svg, .pdf), drawn by gnuplot without a shell;
 *             a figure that fails is removed and makes the exit status 1
 *   errors    every call returns a status (EXP_OK, or EXP_DATA / EXP_USAGE
 *             with a message in the run); only exp_main prints it and turns
 *             it into the command's exit code.
 * `ripple paper` runs the experiments in one process (exp_new, set the
 * options struct, exp_execute) and reads their tables and state as structs.
 *
 * How to add an experiment: README.md, "How to add an experiment". */
#ifndef RIPPLE_ENGINE_H
#define RIPPLE_ENGINE_H

#include "cli.h"
#include "evaluate.h"
#include "source.h"
#include "table.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

enum { EXP_OK = 0, EXP_DATA = CLI_EXIT_DATA, EXP_USAGE = CLI_EXIT_USAGE, EXP_HELP = -1 };

/* A violated internal invariant: a bug, not a data error. */
#define EXP_ASSERT(cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "ripple: internal error at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* Returns from the calling function with the status of call when it failed. */
#define EXP_TRY(call)                \
    do {                             \
        int exp_rc_ = (call);        \
        if (exp_rc_) return exp_rc_; \
    } while (0)

typedef struct exp_run exp_run;
typedef struct exp_def exp_def;

/* -------------------------------------------------------------- options */

typedef enum exp_opt_kind {
    EXP_FLAG,    /* int set to 1 */
    EXP_UNSET,   /* int set to 0 (--no-floor) */
    EXP_INT,     /* int in [lo, hi] */
    EXP_DOUBLE,  /* double in [lo, hi] */
    EXP_TEXT,    /* const char *, not empty */
    EXP_AXES,    /* unsigned set of RIPPLE_AXIS_BIT, letters of t, h, w */
    EXP_MODE,    /* ripple_threshold_mode: absolute or channel */
    EXP_DOUBLES, /* double[max] and its count: a comma list of values in [lo, hi] */
    EXP_INTS,    /* int[max] and its count: a comma list in [lo, hi], no value twice */
    EXP_CUSTOM,  /* parse(r, opts, arg) */
} exp_opt_kind;

typedef struct exp_opt {
    const char *name; /* without the dashes */
    exp_opt_kind kind;
    size_t off;       /* the field in the experiment's options struct */
    size_t given;     /* EXP_GIVEN(T, field): an int set to 1 when the option is given */
    double lo, hi;    /* numbers: the range */
    int max;          /* lists: capacity of the array */
    size_t count;     /* lists: offsetof the int that counts the items */
    int (*parse)(exp_run *r, void *opts, const char *arg);
    /* EXP_CUSTOM: the value as a command line gives it (for paper's index) */
    void (*show)(const void *opts, char *buf, size_t n);
} exp_opt;

#define EXP_GIVEN(T, field) (offsetof(T, field) + 1)
#define EXP_OPT(T, nm, k, field) {.name = nm, .kind = k, .off = offsetof(T, field)}
#define EXP_OPTV(T, nm, k, field, ...) {.name = nm, .kind = k, .off = offsetof(T, field), __VA_ARGS__}

/* The options every experiment has. */
typedef struct exp_common {
    char **captures; /* capture paths */
    int ncaptures;
    const char *steps, *layers; /* selections: NULL = all captured, "0,10,20", "0:20" */
    int64_t head_lo, head_hi;   /* hi = -1: to the last stored head */
    int heads_given;
    const char *out_dir;
    int svg, pdf; /* extra figure formats */
    int fresh;    /* ignore finished rows of an earlier run */
    ripple_backend backend;
} exp_common;

/* Help text of the common options, for a description's usage (its %s). */
extern const char exp_common_help[];

/* --------------------------------------------------------------- tables */

/* A column: type 'n' a number (%.6g; inf, nan spelled out), 'i' a whole
 * number (%lld; nan when not finite), 's' text. */
typedef struct exp_col {
    const char *name;
    char type;
} exp_col;

typedef struct exp_table_def {
    const char *name; /* DIR/name.tsv */
    const exp_col *cols;
    int ncols;
    int keys; /* the first keys columns identify a row (resumable); 0: written whole at the end */
} exp_table_def;

#define EXP_MAX_COLS 32
/* One row: v holds numbers, s text (an 's' column, or text such as "all" in
 * a numeric column). exp_row_init: every v nan, every s NULL. */
typedef struct exp_row {
    double v[EXP_MAX_COLS];
    const char *s[EXP_MAX_COLS];
} exp_row;

void exp_row_init(exp_row *row);

/* ---------------------------------------------------------------- plots */

/* Growable text. exp_printf appends (printf-style); out of memory leaves
 * failed set and is reported by the engine. */
typedef struct exp_text {
    char *buf;
    size_t len, cap;
    int failed;
} exp_text;
void exp_printf(exp_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A figure: DIR/name.gp (a preamble: terminal, output name.FMT, separator
 * tab, `#` comments, key and grid; then body's text, which names the TSV
 * files it reads and their columns by name) and name.png. */
typedef struct exp_plot_def {
    const char *name;
    int width, height; /* pixels of the PNG */
    int (*body)(exp_run *r, exp_text *gp);
    void (*size)(const exp_run *r, int *width, int *height); /* optional: a size that depends on the run */
} exp_plot_def;

/* ------------------------------------------------------------ the units */

/* A planned unit: a selected (capture, step, layer). */
typedef struct exp_unit {
    int source; /* index into r->srcs and r->c.captures */
    src_unit id;
    int num_steps;
} exp_unit;

/* A job of the sweep: job j of group g (the units loaded together). */
typedef struct exp_job {
    int group, job;
    const exp_unit *unit; /* the group's first unit */
} exp_job;

/* ---------------------------------------------------------- description */

struct exp_def {
    const char *name;    /* the command, its folder under paper, its first table */
    const char *paper;   /* "Fig. 11" */
    const char *title;   /* section title in paper's index */
    const char *usage;   /* help text; its %s is exp_common_help */
    size_t opts_size;    /* the experiment's options struct */
    void (*defaults)(void *opts);
    const exp_opt *opts; /* {0}-terminated */
    /* first thing of exp_execute, before any file: usage errors between options */
    int (*check)(exp_run *r);
    size_t state_size;   /* the experiment's working state (r->state), zeroed */
    const exp_table_def *tables;
    int ntables;
    int timing_table;    /* the table that gets `# exact_attention_seconds:` and `# wall_seconds:` */
    /* the sweep: plan sets r->njobs (and groups, tables, metadata); each job
     * gives its key, and its row when that is not finished (or needed says
     * it must run anyway); then finish: aggregates, summary tables, the
     * terminal. plan, key and row are required unless run is given. */
    int (*plan)(exp_run *r);
    int (*key)(exp_run *r, const exp_job *j, exp_row *row);
    int (*needed)(exp_run *r, const exp_job *j);
    int (*row)(exp_run *r, const exp_job *j, exp_row *row);
    int (*finish)(exp_run *r);
    const char *progress; /* label of the sweep's progress line */
    const exp_plot_def *plots;
    int nplots;
    /* paper's index: the section's tables and the verdict (paper writes the
     * heading, command and status before it) */
    int (*index)(exp_run *r, FILE *md);
    /* instead of units, sweep and figures (ripple paper) */
    int (*run)(exp_run *r);
};

/* ------------------------------------------------------------------ run */

typedef struct exp_group {
    int first, count; /* units r->members[first .. first + count) */
    eval_unit *eu;    /* loaded, or NULL */
    int kept;         /* exp_keep: not freed when the sweep moves on */
    double floor;     /* exp_floor, nan until computed */
} exp_group;

struct exp_run {
    const exp_def *def;
    exp_common c;
    void *opts;  /* the description's options struct */
    void *state; /* its working state */
    /* units (exp_execute): sources, the selected units sorted by capture,
     * step, layer; groups of them (default: one per unit) */
    src *srcs;
    exp_unit *units;
    int nunits;
    exp_group *groups;
    int ngroups, *members;
    int njobs; /* per group, set by plan */
    /* tables, figures, status */
    rtable **tabs;
    int *reused_rows;  /* per table: finished rows of an earlier run */
    int plot_failed;
    int finished;      /* every table is written whole */
    double t0, exact_seconds;
    int lock_fd;
    char msg[1024];
    /* allocations freed with the run */
    struct exp_block *blocks;
};

/* ---------------------------------------------------------- the engine */

/* A run of def with its defaults; NULL when out of memory. */
exp_run *exp_new(const exp_def *def);
void exp_free(exp_run *r);
/* Options from a command line (argv[0] the command name). EXP_HELP when
 * --help printed the usage. */
int exp_parse(exp_run *r, int argc, char **argv);
/* Runs the experiment on r->c and r->opts. */
int exp_execute(exp_run *r);
/* The command: new, parse, execute, free; prints the error, returns the
 * exit code. */
int exp_main(const exp_def *def, int argc, char **argv);
/* Prints "ripple NAME: message" (and the --help hint for usage errors). */
void exp_report(const exp_run *r, int status);
/* The command line that gives r's options ("ripple NAME CAPTURE... --out
 * DIR ..."), options at their defaults left out, into buf[n]. */
const char *exp_cmdline(const exp_run *r, char *buf, size_t n);

/* Errors: sets the message, returns code (EXP_DATA, EXP_USAGE). */
int exp_fail(exp_run *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A library error: "what: ripple_last_error()", EXP_USAGE for bad arguments. */
int exp_lib(exp_run *r, ripple_status s, const char *what);
/* Zeroed memory freed with the run; NULL (message set) when out of memory. */
void *exp_alloc(exp_run *r, size_t count, size_t size);

/* Options: one line describing the common selection ("steps=all layers=all
 * heads=0: backend=cpu"), and the capture paths joined by commas (buf[n]). */
const char *exp_selection(const exp_run *r, char *buf, size_t n);
const char *exp_capture_list(const exp_run *r, char *buf, size_t n);

/* Groups of units loaded together: group g is the count[g] units listed in
 * order in members (default: one group per unit). */
int exp_set_groups(exp_run *r, int ngroups, const int *members, const int *count);
/* The units of group g with q, k, v and exact attention (loaded once; the
 * previous group's are freed unless kept). */
int exp_load(exp_run *r, int g, eval_unit **units);
void exp_keep(exp_run *r, int g);
/* Noise floor of group g: mean over its units of the MSE of float32 exact
 * attention against float64, computed once. */
int exp_floor(exp_run *r, int g, double *mse);
/* Heads of the selection in source s: [*lo, *lo + *nh). */
void exp_heads(const exp_run *r, int s, int64_t *lo, int64_t *nh);

/* Tables: exp_open starts table i with its options line (resumable tables:
 * the rows of an earlier run with the same options are taken back unless
 * --fresh; NULL for a table written whole), then metadata, then rows. */
int exp_open(exp_run *r, int i, const char *options);
int exp_meta(exp_run *r, int i, const char *key, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Index of the finished row with row's key cells, or -1. */
int exp_find(exp_run *r, int i, const exp_row *row);
/* Writes a row (a resumable table: at once, flushed; a row whose key is
 * finished is kept as it was). row->v then holds the numbers as printed. */
int exp_put(exp_run *r, int i, exp_row *row);
/* Cell of a row as a number (as printed), or its text. */
double exp_num(const exp_run *r, int i, int row, const char *col);
const char *exp_str(const exp_run *r, int i, int row, const char *col);
int exp_rows(const exp_run *r, int i);
/* DIR/NAME of file name in the run's folder, into buf[n]. */
const char *exp_path(const exp_run *r, const char *name, char *buf, size_t n);

/* The sweep of the description (plan's jobs over every group); fit runs
 * its second pass with another key/row through the same call. */
int exp_sweep(exp_run *r, int table, int (*key)(exp_run *, const exp_job *, exp_row *),
              int (*needed)(exp_run *, const exp_job *), int (*row)(exp_run *, const exp_job *, exp_row *),
              const char *progress);

/* -------------------------------------------------------- aggregates */

/* Mean of numeric columns over a set of rows, nan cells left out of
 * their column's mean (a column with none is nan). */
typedef struct exp_mean {
    int rows;
    double sum[EXP_MAX_COLS];
    int n[EXP_MAX_COLS];
} exp_mean;
void exp_mean_add(exp_mean *m, const exp_run *r, int table, int row);
double exp_mean_of(const exp_mean *m, const exp_run *r, int table, const char *col);

/* --------------------------------------------------------- terminal */

/* One column of a terminal table: header printed with hfmt, the value of
 * col (times scale) with vfmt. */
typedef struct exp_show {
    const char *head, *hfmt, *vfmt;
    double scale;
} exp_show;
/* Prints the header line, then one line per row of values v[row*n + k]. */
void exp_show_table(FILE *f, int n, const exp_show *cols, int nrows, const double *v);

/* Copies s into dst[n] as the inside of a gnuplot double-quoted string. */
const char *exp_gp_string(char *dst, size_t n, const char *s);
/* v formatted as a table cell (%.6g), into buf[48]. */
const char *exp_cell(char buf[48], double v);

#endif
