/* A source of work units: the (step, layer) units of q, k and v that the
 * experiments read. Today a capture file (src_open_capture); a live model
 * run is the second kind (it denoises and hands over each (step, layer) it
 * is asked for): a source is anything that implements src_ops, so every
 * experiment runs on either without knowing which.
 *
 * Order: next() gives the units step-major (every layer of a step, in
 * increasing order, before the next step), the order a model run produces
 * them. read() of a random-access source (a capture) serves any unit next()
 * has given; a sequential one (a live run) only the unit next() gave last,
 * so an experiment that reads a unit twice keeps it in memory instead. */
#ifndef RIPPLE_SOURCE_H
#define RIPPLE_SOURCE_H

#include "ripple/ripple.h"

typedef struct src_unit {
    int step, layer;
    double timestep; /* the model's timestep of the step */
} src_unit;

typedef struct src_ops {
    const char *kind; /* "capture" */
    /* The next unit: 1 with *u filled, 0 at the end. */
    int (*next)(void *self, src_unit *u);
    /* Tensor t of unit u, heads [head_lo, head_lo + nh) of those stored:
     * dst [nh, seq_len, head_dim], float32. */
    ripple_status (*read)(void *self, const src_unit *u, ripple_tensor t, int64_t head_lo, int64_t nh, float *dst);
    void (*close)(void *self);
} src_ops;

typedef struct src {
    const src_ops *ops;
    void *self;
    const char *name;                /* what tables call it: a capture's path */
    const ripple_capture_info *info; /* the model and its run: layout, heads, steps, scale, prompt, seed */
    int random_access;               /* read() serves every unit given so far (else only the last) */
} src;

/* Opens a capture file as a source (ripple_capture_open: a bad file is an
 * error with the library's message). */
ripple_status src_open_capture(const char *path, src *out);
/* A source over a capture the caller opened; the source closes it. */
ripple_status src_from_capture(ripple_capture *cap, src *out);
/* Closes the source (a zeroed src is ignored). */
void src_close(src *s);
/* A label of the source for legends: its prompt (the first 40 bytes) and
 * seed, else the file part of its name and the seed. Tabs, newlines and
 * quotes are replaced by spaces, so the label is safe in a TSV cell and a
 * gnuplot string. */
void src_label(const src *s, char *buf, size_t n);

static inline int src_next(src *s, src_unit *u) { return s->ops->next(s->self, u); }
static inline ripple_status src_read(src *s, const src_unit *u, ripple_tensor t, int64_t head_lo, int64_t nh,
                                     float *dst)
{
    return s->ops->read(s->self, u, t, head_lo, nh, dst);
}

#endif
