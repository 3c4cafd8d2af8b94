/* Helpers shared by the Criterion suites: seeded random data, temporary
 * paths, the three-way comparison of STYLE.md (non-finite places, per
 * element atol + rtol*|ref|, normalised MSE), and running the built `ripple`
 * (RIPPLE_EXE, defined for every test executable, testutil.c included). */
#ifndef RIPPLE_TESTUTIL_H
#define RIPPLE_TESTUTIL_H

#include "ripple/ripple.h"

#include <stddef.h>
#include <stdint.h>

/* Seeded random data and the numeric comparisons live in numcheck.h (no
 * Criterion there, so that tests/checkasm.c can use them too). */
#include "numcheck.h"

/* A path under a per-process temporary folder ("name" is a suffix). The
 * result lives in one of 4 rotating buffers: copy it to keep it longer. */
const char *tu_tmp_path(const char *name);


/* Whole file as a malloc'd string, or NULL. */
char *tu_read_file(const char *path);
/* The same without the run-dependent timing lines of a driver's TSV
 * (`# exact_attention_seconds:`, `# wall_seconds:`), for comparing runs. */
char *tu_read_table(const char *path);

/* Runs a shell command, returns its exit status (-1 if it did not exit). */
int tu_system(const char *cmd);

/* A stable copy of tu_tmp_path(name): the same pointer for the same name for
 * the life of the process (a test may hold several at once). */
const char *tu_tmp(const char *name);

/* 1 when path exists (stat succeeds), else 0. */
int tu_exists(const char *path);

/* Number of '\n' in s. */
int tu_count_lines(const char *s);

/* Whole file as text, or "" when it cannot be read. Not to be freed: the
 * result lives in a ring of 8 buffers shared with tu_slurp_table, tu_out and
 * tu_err, so it stays valid for the next 7 of those calls (strdup it to keep
 * it longer). */
const char *tu_slurp(const char *path);
/* The same through tu_read_table (no run-dependent timing lines). */
const char *tu_slurp_table(const char *path);

/* Runs `ENV 'RIPPLE_EXE' ARGS` through the shell, stdout to the per-process
 * file tu_tmp_path("out.txt") and stderr to tu_tmp_path("err.txt"). env is an
 * environment prefix ("PATH=/nonexistent") or NULL / "" for none; args is
 * shell text (quote paths). Returns the exit code (-1 if it did not exit). */
int tu_ripple(const char *env, const char *args);
/* What the last tu_ripple wrote to stdout / stderr, as tu_slurp gives it. */
const char *tu_out(void);
const char *tu_err(void);

/* One misuse of `ripple ARGS`: expects exit code code, needle in stderr, at
 * most 2 lines of stderr (the problem + the help hint) and nothing on stdout. */
void tu_expect_misuse(const char *args, int code, const char *needle);

/* A small synthetic capture at tu_tmp(name), made by `ripple synth PATH OPTS`
 * the first time this process asks for name (the test fails, with synth's
 * stderr, if that fails). Returns the path. */
const char *tu_synth(const char *name, const char *opts);

/* Cell of column col of TSV text (lines starting with '#' skipped, the first
 * other line the header, cells split on tabs, at most 64) in the first data
 * row whose first nkey cells equal key[0..nkey). Copies it into out[n] and
 * returns 1; returns 0 (out untouched) when there is no such column or row. */
int tu_tsv_row_cell(const char *text, int nkey, const char *const *key, const char *col, char *out, size_t n);

/* Cell of column col of TSV text (as above) in the first data row whose
 * columns named keys[k] hold vals[k] (k < nkey); copies it into out[64].
 * Every data row must have as many cells as the header, and with col given
 * the cell must exist (the test fails otherwise). Returns the number of data
 * rows (col NULL: only counts them). */
int tu_tsv_cell(const char *text, int nkey, const char *const *keys, const char *const *vals, const char *col,
                char out[64]);
/* The number in column col of the row of `ripple eval --format tsv` text
 * whose method column is method (through tu_tsv_cell). */
double tu_eval_value(const char *text, const char *method, const char *col);

#endif
