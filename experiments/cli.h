/* Shared command-line helpers of the ripple drivers.
 *
 * Exit codes of every subcommand: 0 success, 1 data error (bad file,
 * non-finite values, a step that is not captured), 2 usage error (unknown
 * option, bad value). Errors are one line on stderr: "ripple CMD: what is
 * wrong" followed, where it helps, by a hint line. */
#ifndef RIPPLE_CLI_H
#define RIPPLE_CLI_H

#include "ripple/ripple.h"

#include <stdint.h>
#include <stdio.h>

enum { CLI_EXIT_OK = 0, CLI_EXIT_DATA = 1, CLI_EXIT_USAGE = 2 };

/* Name of the running subcommand, for messages ("eval"). */
extern const char *cli_cmd;

/* Makes a failed write to standard output a data error: at exit, stdout is
 * flushed and closed, and if that fails or an earlier write failed
 * (`ripple info X > /dev/full`), "ripple CMD: cannot write to standard
 * output: REASON" goes to stderr and the exit status becomes 1. Call once,
 * first thing in main. */
void cli_check_stdout_at_exit(void);
/* The same check now, for a process that ends with _exit (a forked child):
 * flushes stdout; returns CLI_EXIT_OK, or prints the message and returns
 * CLI_EXIT_DATA. */
int cli_flush_stdout(void);

/* Prints "ripple CMD: msg" and exits 2 (usage) or 1 (data). */
_Noreturn void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void cli_data_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Exits with the library's last error: code 2 for RIPPLE_ERR_INVALID, else 1. */
_Noreturn void cli_lib_error(ripple_status s, const char *what);

/* Strict parsing that returns: 0, or CLI_EXIT_USAGE with a one-line message
 * naming the option in err[CLI_ERR]. The cli_* forms below exit instead. */
#define CLI_ERR 512
int cli_parse_int(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out, char *err);
int cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out, char *err);
int cli_parse_range(const char *opt, const char *s, int64_t *lo, int64_t *hi, char *err);
int cli_parse_list(const char *opt, const char *s, char *buf, size_t size, char **items, int max, int *n,
                   char *err);
int cli_parse_axes(const char *opt, const char *s, unsigned *out, char *err);
/* A comma list of the registry's methods (evaluate.h) as bits EVAL_BIT(m). */
int cli_parse_methods(const char *opt, const char *s, unsigned *bits, char *err);

/* Strict number parsing: the whole string must be a number in range, or the
 * program exits with a usage error naming the option. */
int64_t cli_int(const char *opt, const char *s, int64_t lo, int64_t hi);
double cli_double(const char *opt, const char *s, double lo, double hi);
/* "a:b" (half-open), "a" (one) or "a:" (to the end) into [*lo, *hi); hi = -1 for "to the end". */
void cli_range(const char *opt, const char *s, int64_t *lo, int64_t *hi);
/* Splits the comma list s into at most max items, copied into buf[size]
 * (items point into it). Exits with a usage error naming opt when s is
 * empty, an item is empty ("1,,2", ",1", "1,"), there are more than max
 * items or s does not fit buf. Returns the number of items (>= 1). */
int cli_list(const char *opt, const char *s, char *buf, size_t size, char **items, int max);
/* Exits with a usage error naming opt when the value s is empty (--out ''). */
const char *cli_nonempty(const char *opt, const char *s);
/* "T,H,W" style list of exactly n positive integers. */
void cli_int_list(const char *opt, const char *s, int n, int64_t *out);
/* Axis letters "thw" (any subset, no repeats) into a RIPPLE_AXIS_BIT set. */
unsigned cli_axes(const char *opt, const char *s);
/* The axis letters of a set ("thw"; "" for none), a constant string. */
const char *cli_axes_str(unsigned axes);
/* "absolute" or "channel". */
const char *cli_mode_str(ripple_threshold_mode mode);
/* x[0..count-1] in %.*g with digits, comma separated, into buf[n] (cut at its end). */
const char *cli_join_doubles(char *buf, size_t n, const double *x, int count, int digits);
/* x[0..count-1], comma separated, into buf[n] (cut at its end). */
const char *cli_join_ints(char *buf, size_t n, const int *x, int count);
/* Appends the formatted text to the string in buf[n] (cut at its end). */
const char *cli_appendf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The options of the commands that read one unit of one capture (eval,
 * info): --step, --layer, --heads, --format table|tsv (CLI_UNIT_LONGOPTS),
 * and --backend cpu|cuda (a command that has it adds its entry). Their
 * getopt_long codes: */
enum { CLI_O_STEP = 0x4000, CLI_O_LAYER, CLI_O_HEADS, CLI_O_FORMAT, CLI_O_BACKEND };
#define CLI_UNIT_LONGOPTS                                                                                        \
    {"step", required_argument, 0, CLI_O_STEP}, {"layer", required_argument, 0, CLI_O_LAYER},                  \
        {"heads", required_argument, 0, CLI_O_HEADS}, {"format", required_argument, 0, CLI_O_FORMAT}
typedef struct cli_unit_opts {
    int step, layer;          /* -1: not given */
    int64_t head_lo, head_hi; /* hi = -1: to the last stored head */
    int tsv;                  /* --format tsv (default: when stdout is not a terminal) */
    ripple_backend backend;
} cli_unit_opts;
/* Defaults of the above. */
cli_unit_opts cli_unit_defaults(void);
/* Handles getopt_long's code c when it is a CLI_O_* code (exits with a usage
 * error on a bad value) and returns 1; otherwise reports the getopt error
 * c stands for (':' a missing value, else an unknown option) and exits 2. */
int cli_unit_option(int c, const char *arg, char **argv, cli_unit_opts *u);
/* The one CAPTURE operand after the options, or a usage error. */
const char *cli_one_capture(int argc, char **argv);

/* The options of the ripple transform, as eval and generate take them:
 * --theta, --theta-t/h/w, --alpha, --axes, --window, --groups
 * (CLI_REUSE_LONGOPTS). cli_reuse_option fills rp and the flags as given;
 * cli_reuse_finish then sets rp's mode and per-axis thresholds (an axis's
 * own --theta-X over --theta, or --alpha in channel mode). */
enum { CLI_O_THETA = 0x4100, CLI_O_THETA_T, CLI_O_THETA_H, CLI_O_THETA_W, CLI_O_ALPHA, CLI_O_AXES, CLI_O_WINDOW,
       CLI_O_GROUPS };
#define CLI_REUSE_LONGOPTS                                                                                       \
    {"theta", required_argument, 0, CLI_O_THETA}, {"theta-t", required_argument, 0, CLI_O_THETA_T},            \
        {"theta-h", required_argument, 0, CLI_O_THETA_H}, {"theta-w", required_argument, 0, CLI_O_THETA_W},    \
        {"alpha", required_argument, 0, CLI_O_ALPHA}, {"axes", required_argument, 0, CLI_O_AXES},              \
        {"window", required_argument, 0, CLI_O_WINDOW}, {"groups", required_argument, 0, CLI_O_GROUPS}
typedef struct cli_reuse_opts {
    ripple_reuse_params rp;
    double theta_all, theta_axis[3];
    int have_theta, have_alpha, have_other; /* other: --axes, --window or --groups */
} cli_reuse_opts;
/* Defaults: every axis, window 2, theta 0. */
cli_reuse_opts cli_reuse_defaults(void);
/* 1 when getopt's code c is a CLI_O_* transform option (exits 2 on a bad
 * value), else 0. */
int cli_reuse_option(int c, const char *arg, cli_reuse_opts *r);
/* Usage error when --theta and --alpha are both given; then rp's mode and thresholds. */
void cli_reuse_finish(cli_reuse_opts *r);

/* Opens a capture for a command, or exits (1, or 2 for a usage error) with
 * "ripple CMD: what: reason". libhdf5 1.10 can crash or hang on corrupted
 * metadata, so the file's metadata is first read in a child process
 * (ripple_capture_open there, tensors not read), which has
 * RIPPLE_CHECK_TIMEOUT seconds (default 30 + 1 per GiB of file; 0 skips
 * the check): a child that dies by a signal or does not answer makes this
 * exit 1 with "FILE: the file is corrupted (libhdf5 failed reading its
 * metadata: ...)"; a data error found there is printed as it would be here. */
ripple_capture *cli_capture_open(const char *path, const char *what);
/* The check of cli_capture_open without exiting: CLI_EXIT_OK when the
 * file's metadata reads in the child (or RIPPLE_CHECK_TIMEOUT is 0), else
 * CLI_EXIT_DATA or CLI_EXIT_USAGE with "what: reason" (or the corrupted
 * file's message) in msg[n]. */
int cli_capture_check(const char *path, const char *what, char *msg, size_t n);
/* s as one word for a POSIX shell, for commands printed to be copied: as it
 * is when made of [A-Za-z0-9_./:=,+@%-] only, else in single quotes (a
 * quote inside as '\''). Cut to dst[n]. Returns dst. */
const char *cli_shell_word(char *dst, size_t n, const char *s);

/* Layout of a capture for the library. */
const ripple_layout *cli_layout(const ripple_capture *cap);

/* Exits with a data error listing what is captured when (step, layer) is not. */
void cli_require_entry(const ripple_capture *cap, int step, int layer);

/* Allocation that exits with a data error naming what did not fit. */
void *cli_alloc(size_t count, size_t size, const char *what);

/* Progress on stderr, only when stderr is a terminal: "label done/total
 * rate, eta". cli_progress_done ends the line. */
void cli_progress(const char *label, int64_t done, int64_t total);
void cli_progress_done(void);

/* Monotonic seconds. */
double cli_now(void);

/* An 8-bit greyscale PNG of img [h, w] (row-major) at path, through libpng:
 * 0, or -1 (the file may be left partly written: write a temporary name). */
int cli_write_png_gray(const char *path, const unsigned char *img, int w, int h);

#endif
