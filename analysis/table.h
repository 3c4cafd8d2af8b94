/* Result tables of the drivers: named columns, rows of cells, written as TSV
 * (a header line, tab-separated plain numbers, `#` metadata lines first) or
 * as an aligned table for the terminal. Cells are stored as text so a table
 * can also be read back from a TSV (resumable sweeps). */
#ifndef RIPPLE_TABLE_H
#define RIPPLE_TABLE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

typedef struct rtable rtable;

/* columns: ncols names (copied). Returns NULL when out of memory. */
rtable *rtable_new(int ncols, const char *const *columns);
void rtable_free(rtable *t);

/* Formats the metadata line "# key: value" into line (value printf-style,
 * kept on one line: tabs and newlines become spaces). */
void rtable_format_meta(char *line, size_t size, const char *key, const char *fmt, va_list ap);
/* Adds a metadata line "# key: value" (printf-style value). */
int rtable_meta(rtable *t, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Starts a new row with every cell empty; returns its index or -1. */
int rtable_add_row(rtable *t);
/* Sets a cell of the last row; col is a column name, which must exist. */
int rtable_set_str(rtable *t, const char *col, const char *value);
/* The number format of every table: %.6g; non-finite as inf, -inf, nan. */
const char *rtable_format_num(char *buf, size_t size, double value);
/* v as it reads back from a cell written with rtable_format_num. */
double rtable_round(double v);
/* Numbers are written with rtable_format_num. */
int rtable_set_num(rtable *t, const char *col, double value);
int rtable_set_int(rtable *t, const char *col, long long value);

int rtable_rows(const rtable *t);
int rtable_cols(const rtable *t);
const char *rtable_col_name(const rtable *t, int col);
/* Cell text, "" when unset. */
const char *rtable_get(const rtable *t, int row, const char *col);

/* TSV: metadata lines, header, rows. Returns 0 or -1 on a write error. */
int rtable_write_tsv(const rtable *t, FILE *f);
/* Aligned columns for people; numbers right-aligned. */
int rtable_write_pretty(const rtable *t, FILE *f);
/* The same for a subset of columns, in the order given (unknown names skipped). */
int rtable_write_pretty_cols(const rtable *t, FILE *f, int n, const char *const *names);
/* Writes the TSV to path atomically (temporary file + rename).
 * Returns 0, or -1 with errno set. */
int rtable_save_tsv(const rtable *t, const char *path);

#endif
