/* The experiment engine: runs an experiment described by a table (exp_def):
 * its options, its tables (columns, and the key columns that identify a
 * row), how to plan its jobs, how to compute one row (as doubles), its
 * aggregates, its figures (gnuplot scripts that name columns) and its
 * section of `ripple paper`'s index with the verdict. The engine does the
 * rest the same way for every experiment:
 *   options  the common ones (captures, --out, --steps/--layers/--heads,
 *            --backend, --svg/--pdf, --fresh) and the description's
 *   folder   --out DIR is created and locked (DIR/.ripple.lock): one run per
 *            folder at a time
 *   units    the selected (capture, step, layer), read from a source
 *            (source.h), loaded with their exact attention once per group
 *   rows     DIR/NAME.tsv: `# options:` (all that changes the rows: a rerun
 *            reuses finished rows only when it is the same), `# ripple:`,
 *            `# command:`, `# capture:`, `# selection:`, the description's
 *            metadata, header, rows. Rows go to NAME.tsv.partial as they
 *            finish, renamed at the end: a killed run leaves whole rows and
 *            the same command resumes (--fresh recomputes). What the
 *            experiment uses of a row is its numbers as printed (%.6g), so
 *            a resumed run gives the aggregates of an uninterrupted one.
 *   figures  DIR/NAME.gp reads only the TSVs; NAME.png (.svg, .pdf) is drawn
 *            by gnuplot without a shell, and removed when it fails
 *   errors   returned as a status (EXP_DATA, EXP_USAGE: the exit codes) with
 *            a message in the run; only exp_main prints it and exits.
 *   shards   --shard I/N (or the environment of a Slurm array or of mpirun
 *            in a build without MPI) runs the groups g with g mod N = I-1
 *            into DIR/shard-I-of-N/: the rows table with `# shard:` and
 *            `# shard_command:` lines, resumable as any run, no aggregates
 *            or figures. `ripple merge` (cmd_merge.c) runs the experiment
 *            again with role EXP_MERGE: the rows come from the shards'
 *            tables (same options and capture lines, or it refuses), a row
 *            no shard has is an error naming the shard, and the rest
 *            (aggregates, figures) is that of an unsharded run.
 *   MPI      under mpirun (a build with -Dmpi, dist.h) rank 0 leads
 *            (EXP_LEAD): it plans, gives groups to the ranks as they ask
 *            (dynamic: units differ in cost), computes groups itself, and
 *            writes every row the workers (EXP_WORKER) send; only rank 0
 *            writes files. Workers plan the same run from the command rank
 *            0 sends them and check that they planned the same units.
 *   order    whoever computed them, the rows table is written in the
 *            order of the plan (group, job), so a resumed, sharded-and-
 *            merged or MPI run writes the rows of an uninterrupted one.
 * `ripple paper` runs experiments in one process (exp_new, set the options
 * struct, exp_execute) and reads their tables and state as structs.
 * README.md, "How to add an experiment", shows a description. */
#ifndef RIPPLE_ENGINE_H
#define RIPPLE_ENGINE_H

#include "cli.h"
#include "evaluate.h"
#include "source.h"
#include "table.h"
#include "verdict.h"

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

/* Returns the status of call from the calling function when it failed
 * (memory and files belong to the run, so nothing leaks). */
#define EXP_TRY(call)                \
    do {                             \
        int exp_rc_ = (call);        \
        if (exp_rc_) return exp_rc_; \
    } while (0)

typedef struct exp_run exp_run;

/* -------------------------------------------------------------- options */

typedef enum exp_opt_kind {
    EXP_FLAG,    /* int = 1 */
    EXP_UNSET,   /* int = 0 (--no-floor) */
    EXP_INT,     /* int in [lo, hi] */
    EXP_DOUBLE,  /* double in [lo, hi] */
    EXP_TEXT,    /* const char *, not empty */
    EXP_AXES,    /* unsigned set of RIPPLE_AXIS_BIT: letters of t, h, w */
    EXP_MODE,    /* ripple_threshold_mode: absolute or channel */
    EXP_DOUBLES, /* double[max], count: a comma list of values in [lo, hi] */
    EXP_INTS,    /* int[max], count: a comma list in [lo, hi], none twice */
    EXP_CUSTOM,  /* parse(r, opts, arg) */
} exp_opt_kind;

typedef struct exp_opt {
    const char *name; /* without the dashes */
    exp_opt_kind kind;
    size_t off;       /* the field in the options struct */
    size_t given;     /* EXP_GIVEN(T, field): an int set to 1 when given */
    double lo, hi;
    int max;
    size_t count; /* lists: offsetof the int that counts the items */
    int (*parse)(exp_run *r, void *opts, const char *arg);
    int open;     /* EXP_DOUBLE: lo itself, and an infinite value, refused ("positive and finite") */
    int excl;     /* nonzero: options of the same excl exclude each other */
    int required; /* it (with excl: one of its group) must be given */
    /* --help lists the option as "--name ARG" (arg NULL: a flag), then help
     * from column 21, wrapped at 80 columns (its own \n kept); help NULL:
     * not listed */
    const char *arg, *help;
} exp_opt;

#define EXP_GIVEN(T, field) (offsetof(T, field) + 1)
#define EXP_OPT(T, nm, k, field) {.name = nm, .kind = k, .off = offsetof(T, field)}
#define EXP_OPTV(T, nm, k, field, ...) {.name = nm, .kind = k, .off = offsetof(T, field), __VA_ARGS__}
/* Options that several experiments have, with the same meaning and help. */
#define EXP_OPT_AXES(T, field) \
    EXP_OPTV(T, "axes", EXP_AXES, field, .arg = "SET", .help = "axes to reuse along, letters of t,h,w (default thw)")
#define EXP_OPT_WINDOW(T, field) \
    EXP_OPTV(T, "window", EXP_INT, field, .lo = 2, .hi = 1 << 20, .arg = "W", .help = "reuse window size >= 2 (default 2)")
#define EXP_OPT_GROUPS(T, field)                                                                           \
    EXP_OPTV(T, "groups", EXP_AXES, field, .arg = "SET",                                                    \
             .help = "channel groups (by axis letter) allowed to be reused\n(default all)")
/* col: the table column that then holds nan */
#define EXP_OPT_NO_FLOOR(T, field, col)                                                                    \
    EXP_OPTV(T, "no-floor", EXP_UNSET, field,                                                               \
             .help = "skip the float64 noise floor (slow on long sequences;\n" col " column = nan)")

typedef struct exp_common {
    char **captures;
    int ncaptures;
    const char *steps, *layers; /* selections: NULL = all, "0,10,20", "0:20" */
    int64_t head_lo, head_hi;   /* hi = -1: to the last stored head */
    int heads_given;
    const char *out_dir;
    int svg, pdf, fresh;
    ripple_backend backend;
    int shard, nshards;     /* shard of nshards (1-based); nshards 0: not sharded */
    const char *shard_from; /* "--shard" or the environment variables it came from */
} exp_common;

/* The %s of a description's usage gets the options of its table that have
 * help ("options:" and a line each), then these (and its files). */
extern const char exp_common_help[];

/* --------------------------------------------------- tables, rows, plots */

/* type 'n': a number (%.6g; inf, nan spelled out), 'i' whole (nan when not
 * finite), 's' text. */
typedef struct exp_col {
    const char *name;
    char type;
} exp_col;

/* The key columns exp_key_unit fills, and the columns exp_reuse_row fills
 * (in a table's column list: {EXP_UNIT_COLS, ..., EXP_REUSE_COLS}). */
#define EXP_UNIT_COLS {"capture", 's'}, {"step", 'i'}, {"layer", 'i'}
#define EXP_REUSE_COLS                                                                                       \
    {"s_score", 'n'}, {"s_attn", 'n'}, {"rows_reused", 'n'}, {"q_reused", 'n'}, {"k_reused", 'n'}, {"mse", 'n'}, \
        {"rel_l2", 'n'}, {"cosine", 'n'}, {"psnr", 'n'}, {"floor_mse", 'n'}

#define EXP_TABLE(name, cols, keys, about) {name, cols, (int)(sizeof cols / sizeof cols[0]), keys, about}
typedef struct exp_table_def {
    const char *name; /* DIR/name.tsv */
    const exp_col *cols;
    int ncols;
    int keys;          /* the first keys columns identify a row (resumable); 0: written whole */
    const char *about; /* --help: what a row is (NULL: "a row per" the keys) */
} exp_table_def;

#define EXP_MAX_COLS 32
/* v: numbers; s: text (an 's' column, or "all" in a numeric one).
 * exp_row_init: every v nan, every s NULL. */
typedef struct exp_row {
    double v[EXP_MAX_COLS];
    const char *s[EXP_MAX_COLS];
} exp_row;
void exp_row_init(exp_row *row);

/* Growable text; out of memory sets failed (the engine reports it). */
typedef struct exp_text {
    char *buf;
    size_t len, cap;
    int failed;
} exp_text;
void exp_printf(exp_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* DIR/name.gp: a preamble (terminal, output, tab separator, key, grid),
 * then the body's text, which names the TSVs it reads and their columns. */
typedef struct exp_plot_def {
    const char *name;
    int width, height;
    int (*body)(exp_run *r, exp_text *gp);
    void (*size)(const exp_run *r, int *width, int *height); /* optional */
} exp_plot_def;

/* A planned unit, and a job of the sweep: job of group (units loaded together). */
typedef struct exp_unit {
    int source; /* index into r->srcs and r->c.captures */
    src_unit id;
    int num_steps;
} exp_unit;
typedef struct exp_job {
    int group, job;
    const exp_unit *unit; /* the group's first */
} exp_job;

/* ---------------------------------------------------------- description */

typedef struct exp_def {
    const char *name, *paper, *title; /* command; "Fig. 11"; its title in paper's index */
    /* --help: "usage: ripple NAME CAPTURE... --out DIR ARGS [options]" (no
     * CAPTURE... with units), a blank line, then usage, whose %s gets the
     * options (own and exp_common_help) and, with help_files, the files of
     * its tables and figures and, when a table has s_score, the savings */
    const char *args, *usage;
    int help_files;
    size_t opts_size;
    const void *defaults; /* the options before parsing (opts_size bytes); NULL: zeroed */
    const exp_opt *opts;        /* {0}-terminated */
    int (*check)(exp_run *r);   /* usage errors between options, before any file */
    size_t state_size;          /* r->state, zeroed */
    const exp_table_def *tables;
    int ntables, timing_table;  /* timing_table gets `# exact_attention_seconds:`, `# wall_seconds:` */
    /* plan sets r->njobs (and groups, tables, metadata); each job of each
     * group gives its key, and its row when that is not finished (or needed
     * says it must run anyway); then finish: aggregates, terminal. key NULL:
     * the unit's capture, step, layer (exp_key_unit), then the cells plan
     * set in the job's row of exp_job_keys */
    int (*plan)(exp_run *r);
    int (*key)(exp_run *r, const exp_job *j, exp_row *row);
    int (*needed)(exp_run *r, const exp_job *j);
    int (*row)(exp_run *r, const exp_job *j, exp_row *row);
    int (*finish)(exp_run *r);
    const char *progress;
    const exp_plot_def *plots;
    int nplots;
    /* paper's section after its heading, status and files; when the tables
     * were not finished paper says "cannot tell" about claim instead */
    void (*index)(exp_run *r, FILE *md);
    const char *claim;
    int (*run)(exp_run *r); /* instead of units, sweep and figures (paper); the captures are open (r->srcs) */
    /* Units of an experiment that runs the model instead of reading
     * captures (a unit is then a prompt, r->units[i].source its index):
     * sets r->units, r->nunits and the groups (exp_set_groups); the engine
     * refuses CAPTURE arguments and writes no `# capture:` or
     * `# selection:` lines for it. NULL: the units of the captures. */
    int (*units)(exp_run *r);
    /* Releases what the description holds outside the run's memory (a
     * loaded model), on every path: exp_free calls it. Optional. */
    void (*cleanup)(exp_run *r);
} exp_def;

/* ------------------------------------------------------------------ run */

typedef struct exp_group {
    int first, count; /* its units: r->members[first .. first + count) */
    eval_unit *eu;    /* loaded, or NULL */
    int kept;
    double floor;
} exp_group;

/* What this process does with a run: all of it (one process), lead or work
 * in an MPI run, or merge shards (cmd_merge.c). */
typedef enum exp_role { EXP_SOLO, EXP_LEAD, EXP_WORKER, EXP_MERGE } exp_role;

#define EXP_MAX_OWN 128 /* options of the description given to one run */

struct exp_run {
    const exp_def *def;
    exp_role role;
    exp_common c;
    void *opts, *state;
    src *srcs;         /* [c.ncaptures] */
    exp_unit *units;   /* selected, by capture, step, layer */
    int nunits, ngroups, *members, njobs;
    exp_group *groups; /* default: one per unit */
    exp_row *job_keys;      /* exp_job_keys */
    struct exp_mean *means; /* after the sweep (not in a shard): per job, the mean of its rows of table 0 */
    rtable **tabs;
    int *reused_rows;  /* per table: rows of an earlier run taken back */
    int plot_failed, finished, lock_fd;
    double t0, exact_seconds;
    char msg[1024], given[2048]; /* the description's options as given (" --name value...") */
    struct exp_block *blocks;
    /* the description's options as given, as words: sent to MPI workers */
    const char *own_words[2 * EXP_MAX_OWN];
    int nown_words;
    int planning, synced, in_shard; /* in_shard: groups of this shard */
    /* EXP_MERGE: the shards' folders by shard (merge_dirs[I-1]), their
     * tables as read (merge_tabs[table * nshards + I-1]), their timing */
    char **merge_dirs;
    rtable **merge_tabs;
    int merge_n;
    double merge_exact, merge_wall;
    const char *out_parent;  /* sharded: --out as given (out_dir is its shard-I-of-N) */
    struct exp_lead *lead;   /* EXP_LEAD during the sweep (engine.c) */
    char note[256];          /* EXP_LEAD: groups per rank, after the "wrote" line */
};

exp_run *exp_new(const exp_def *def); /* NULL when out of memory */
void exp_free(exp_run *r);
int exp_parse(exp_run *r, int argc, char **argv); /* EXP_HELP: --help printed the usage */
int exp_execute(exp_run *r);
/* The command: its exit code. Under mpirun (a build with MPI) every rank
 * calls it; ranks > 0 then work for rank 0 until it is done. */
int exp_main(const exp_def *def, int argc, char **argv);
/* Every experiment with units, by name (cmd_merge.c); NULL-terminated. */
extern const exp_def *const exp_registry[];
const exp_def *exp_lookup(const char *name);
void exp_report(const exp_run *r, int status);         /* "ripple NAME: message" */
/* Sets an option of the description as a command line would (value NULL
 * for a flag; kept, not copied): paper sets its experiments' options so. */
int exp_set(exp_run *r, const char *name, const char *value);
/* "ripple NAME CAPTURE... --out DIR ..." with the options given */
const char *exp_cmdline(const exp_run *r, char *buf, size_t n);

int exp_fail(exp_run *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int exp_lib(exp_run *r, ripple_status s, const char *what); /* "what: ripple_last_error()" */
void *exp_alloc(exp_run *r, size_t count, size_t size);     /* zeroed, freed with the run */
/* "steps=all layers=all heads=0: backend=cpu"; the captures joined by commas */
const char *exp_selection(const exp_run *r, char *buf, size_t n);
const char *exp_capture_list(const exp_run *r, char *buf, size_t n);
const char *exp_path(const exp_run *r, const char *name, char *buf, size_t n); /* DIR/name */

/* Units: group g is the count[g] units listed next in members; exp_load
 * gives them with q, k, v and exact attention, loaded once (the other
 * groups' are freed unless kept); exp_floor: mean MSE of float32 exact
 * attention against float64 over them, computed once. */
int exp_set_groups(exp_run *r, int ngroups, const int *members, const int *count);
/* exp_set_groups with one group per value of key(unit), in increasing
 * order of the key, each group's units in their order (fit: per step). */
int exp_group_by(exp_run *r, int (*key)(const exp_unit *u));
int exp_load(exp_run *r, int g, eval_unit **units);
void exp_keep(exp_run *r, int g);
int exp_floor(exp_run *r, int g, double *mse);
void exp_heads(const exp_run *r, int s, int64_t *lo, int64_t *nh);
/* The parameters of the ripple transform: theta on every axis. */
ripple_reuse_params exp_params(unsigned axes, int window, unsigned groups, ripple_threshold_mode mode, double theta);
/* Runs the ripple transform with p on the job's unit (exp_load) and puts
 * into row the results that table i has columns for: s_score, s_attn,
 * rows_reused, q_reused, k_reused, mse, rel_l2, cosine, psnr, and with
 * floor the unit's floor_mse. what names a failure; *u (when not NULL): the unit. */
int exp_reuse_row(exp_run *r, const exp_job *j, int i, const ripple_reuse_params *p, int floor, const char *what,
                  exp_row *row, eval_unit **u);
/* The threshold scale spec (scale.h) of the window deltas of q of the first
 * unit, its selected heads, over axes with window size window; reads only q. */
struct scale_spec;
int exp_q_scale(exp_run *r, const struct scale_spec *spec, unsigned axes, int window, double *med);

/* Tables: exp_open with the options line (resumable tables take back the
 * rows of an earlier run with the same line unless --fresh), then
 * metadata, then rows. exp_put writes a row (a finished key is kept as it
 * was) and leaves in row->v its numbers as printed. */
int exp_open(exp_run *r, int i, const char *options);
/* exp_open with the options fmt... followed by the selection and, with captures, " captures=LIST". */
int exp_openf(exp_run *r, int i, int captures, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int exp_meta(exp_run *r, int i, const char *key, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
const char *exp_meta_value(const exp_run *r, int i, const char *key); /* the value of a metadata line, or "?" */
int exp_find(exp_run *r, int i, const exp_row *row); /* the row with row's keys, or -1 */
/* *at: the row of table i with the key of job j of group g, or -1. */
int exp_job_row(exp_run *r, int i, int g, int j, int *at);
/* The first key cells of most row tables: capture, step, layer of the job's unit. */
void exp_key_unit(const exp_run *r, const exp_job *j, exp_row *row);
/* r->job_keys: a row per job (r->njobs, set first) for plan to fill with the
 * job's own key cells, for a description without key. */
int exp_job_keys(exp_run *r);
int exp_put(exp_run *r, int i, exp_row *row);
double exp_num(const exp_run *r, int i, int row, const char *col);
const char *exp_str(const exp_run *r, int i, int row, const char *col);
int exp_rows(const exp_run *r, int i);

/* Mean per column over rows, nan cells left out (a column without any: nan). */
typedef struct exp_mean {
    int rows, n[EXP_MAX_COLS];
    double sum[EXP_MAX_COLS];
} exp_mean;
void exp_mean_add(exp_mean *m, const exp_run *r, int table, int row);
double exp_mean_of(const exp_mean *m, const exp_run *r, int table, const char *col);
/* The mean of column col over every row of table i (nan cells left out);
 * exp_rows_mean: over the rows whose cells hold where's texts (as exp_curve's). */
double exp_col_mean(const exp_run *r, int i, const char *col);
double exp_rows_mean(const exp_run *r, int i, const char *col, const char *where);
/* Means of the jobs' rows of table i (the sweep wrote every one), over the
 * units, into *means[n] (freed with the run) by bucket(r, job): NULL is
 * the job's index (n = r->njobs, a mean per job over the units; the engine
 * keeps those of table 0 in r->means for finish and index). */
int exp_job_means(exp_run *r, int i, int n, int (*bucket)(const exp_run *r, const exp_job *j), exp_mean **means);

/* ------------------------------------------------ paper's index, verdicts */

/* One verdict paragraph of paper's index: what the paper claims, what these
 * captures show (exp_verdictf: formatted) and the numeric criterion. */
void exp_verdict(FILE *md, const char *claim, const char *result, const char *criterion);
void exp_verdictf(FILE *md, const char *claim, const char *criterion, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* An experiment run by another command in its process (ripple paper).
 * exp_sub_new: the run of def into PARENT_DIR/<name>, with the parent's
 * common options (an experiment that runs the model gets no captures and
 * no selection); set its own options with exp_set. exp_sub_run runs it
 * between a "== name (paper): command" line and a "== name: done in S s"
 * line; exp_sub_skip: it cannot run (counted as failed, with why).
 * exp_sub_section writes its section of an index: heading, command,
 * status, its figures and files, then the description's index (or "cannot
 * tell" about its claim when its table was not finished). */
typedef struct exp_sub {
    exp_run *run;
    const char *parent; /* the command that runs it */
    int ran, rc, skipped; /* skipped: not asked for, no section in the index */
    double wall;
    char cmdline[2048], why[256], dir[4200]; /* why: not run */
} exp_sub;
exp_run *exp_sub_new(const exp_run *parent, exp_sub *x, const exp_def *def); /* NULL: out of memory */
void exp_sub_run(exp_sub *x);
void exp_sub_skip(exp_sub *x, const char *why);
void exp_sub_section(FILE *md, const exp_sub *x);

/* s as the inside of a gnuplot double-quoted string, into dst[n] (a newline: a line break). */
const char *exp_gp_string(char *dst, size_t n, const char *s);

/* ------------------------------------------- figures and tables, declared */

/* A figure as panels one above the other, each a list of curves naming the
 * columns of the run's tables; exp_figure_gp writes its gnuplot text (a plot
 * body calls it). A curve: the rows of table `table` whose cells hold the
 * texts of `where` ("col=text col=text", as printed; NULL: every row), x and
 * y by column, scaled by xs, ys (0: 1; 100: percent); mean: one point per x,
 * the mean over those rows; y NULL: a dashed line at `level` (not drawn when
 * it is not > 0, or more than two decades below the data: then the panel's
 * title gives its value). A figure of one panel has the figure's title. with: the gnuplot style ("linespoints lw 2 pt 7"); color NULL: the
 * palette's colour of the curve's place in the panel; title NULL: none in
 * the key; dx: a shift along x (bars side by side). */
#define EXP_PALETTE 10
enum { EXP_LOG = 1 };
extern const char *const exp_palette[EXP_PALETTE];
typedef struct exp_curve {
    int table;
    const char *x, *y, *where, *with, *color, *title;
    double xs, ys, level, dx;
    int y2, mean;
} exp_curve;

/* log (for y, log2 for y2): a log axis when the values > 0 span a decade or
 * more, fitted to them, values <= 0 as triangles on its bottom edge; else
 * linear (yrange, or automatic), and when every value is 0 the text none.
 * set: gnuplot lines of the panel's own (a style of boxes). */
typedef struct exp_panel {
    const char *title, *xlabel, *ylabel, *y2label, *xtics, *yfmt, *yrange, *none, *set;
    int log, log2; /* EXP_LOG or 0 */
    const exp_curve *curves;
    int ncurves;
} exp_panel;

/* Several panels share the x range, margins (rmargin: room for the key at
 * the right, bmargin: below, in characters; 0: gnuplot's) and title; key:
 * gnuplot's `set key` words. */
typedef struct exp_figure {
    const char *title, *key;
    double xlo, xhi; /* xlo < xhi: the x range */
    int rmargin, bmargin;
    const exp_panel *panels;
    int npanels;
} exp_figure;
int exp_figure_gp(const exp_run *r, exp_text *gp, const exp_figure *f);

/* A table printed on the terminal (md 0: each heading right-aligned in the
 * width of its cells, one space between columns) or in markdown (md 1: a
 * nan is "-"). A FMT with the flag - aligns left. spec: columns parted by |,
 * each HEAD[@COL]:FMT (COL: the table column, default HEAD), e.g.
 * "theta:%10.4g|score savings@s_score:%.1f%%"; a FMT of %s shows a text
 * (text[i]), one that ends in %% a fraction as percent (times 100). */
void exp_tab_head(FILE *f, int md, const char *spec);
void exp_tab_row(FILE *f, int md, const char *spec, const char *const *text, const double *v); /* [i]: column i */
/* The heading, then a row per row of table whose cells hold where's texts (as exp_curve's). */
void exp_tab_rows(FILE *f, int md, const char *spec, const exp_run *r, int table, const char *where);
/* The heading, then a row per mean m[0..n) of table's columns. */
void exp_tab_means(FILE *f, int md, const char *spec, const exp_run *r, int table, const exp_mean *m, int n);

#endif
