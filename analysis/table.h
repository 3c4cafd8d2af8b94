/* Result tables: named columns, rows of cells, written as TSV (a header
 * line, tab-separated plain numbers, `#` metadata lines first) or as an
 * aligned table for the terminal. Cells are stored as text so a table reads
 * back from its TSV exactly (resumable sweeps). This is the one TSV writer
 * (whole, atomically, or row by row to a file renamed at the end) and the
 * one reader of the project. */
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
/* The largest value at or below v (v >= 0) that a cell holds exactly. */
double rtable_round_down(double v);
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

/* ---------------------------------------------------------- reading back */

/* Reads a TSV (the one reader): `#` lines anywhere are metadata, the first
 * other line the header, the rest rows. A last line without its newline (a
 * row cut short by a crash) and rows with another number of cells than the
 * header are dropped. NULL when the file cannot be read or has no header
 * (errno set), or out of memory. */
rtable *rtable_load_tsv(const char *path);
/* Value of the last metadata line "# key: value", or NULL. */
const char *rtable_meta_get(const rtable *t, const char *key);
/* Metadata line k as written ("# key: value"), or NULL past the last. */
const char *rtable_meta_at(const rtable *t, int k);
/* Column index by name, or -1. */
int rtable_col(const rtable *t, const char *name);
/* Cell parsed as a number (inf, nan spelled out); nan when empty or text. */
double rtable_num(const rtable *t, int row, int col);
const char *rtable_cell(const rtable *t, int row, int col);
/* First row whose first nkeys cells equal key[0..nkeys), or -1. */
int rtable_find(const rtable *t, int nkeys, const char *const *key);
/* Appends a row of ncols cells (copied). Returns its index or -1. */
int rtable_add_cells(rtable *t, const char *const *cells);
/* Puts rows order[0..n) (distinct row indices) first, in that order, and
 * the other rows after them in the order they had. 0, or -1 when out of
 * memory (the table unchanged). A stream's file is not rewritten. */
int rtable_reorder(rtable *t, const int *order, int n);

/* -------------------------------------------------------------- streaming */

/* From rtable_stream_open on, the table lives in path: metadata, header and
 * the rows so far are written now, and each rtable_stream_row writes the
 * last row and flushes, so a killed run leaves whole rows only. Close with
 * rtable_stream_close, which renames path to final (NULL: leaves it).
 * Each returns 0, or -1 with errno set. */
int rtable_stream_open(rtable *t, const char *path);
int rtable_stream_row(rtable *t);
int rtable_stream_close(rtable *t, const char *final);
int rtable_stream_is_open(const rtable *t);

#endif
