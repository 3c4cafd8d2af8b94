/* The threshold scale: the typical size of the window deltas (method.md
 * section 1) that a threshold theta is compared with, as a median. It sets
 * the automatic thresholds of the experiments: compare's sweep (a range of
 * multiples of it), the bracket start of fit's bisection, and window's
 * default threshold (which steps and fit then use under `ripple paper`).
 *
 * One statistic, with its choices named in a scale_spec. The presets below
 * are the choices each experiment records in its TSV (`# thetas:`,
 * `# theta:`); they differ in what is sampled:
 *   SCALE_CHANNEL_MEANS  per head, enabled axis and channel, the mean window
 *                        delta of the channel (ripple_window_delta_mean at
 *                        the run's window); channels whose mean is 0 (never
 *                        varying) are left out
 *   SCALE_PAIRS          every window-2 delta |x0 - x1| / 2 of the windows
 *                        (positions 2j, 2j+1) along the enabled axes, zeros
 *                        included: the threshold of window 2 itself */
#ifndef RIPPLE_SCALE_H
#define RIPPLE_SCALE_H

#include "ripple/ripple.h"

typedef enum { SCALE_CHANNEL_MEANS, SCALE_PAIRS } scale_sample;

typedef struct scale_spec {
    scale_sample sample;
    int with_k;       /* sample k as well as q */
    int all_channels; /* also channels outside every group (else grouped channels only) */
    int upper_median; /* element n/2 of the sorted sample (else, for even n, the mean of the middle two) */
} scale_spec;

/* compare's sweep: q of the first unit, grouped channels, channel means */
#define SCALE_SWEEP ((scale_spec){SCALE_CHANNEL_MEANS, 0, 0, 0})
/* fit's bracket start: q and k of every unit of the step, all channels */
#define SCALE_BRACKET ((scale_spec){SCALE_CHANNEL_MEANS, 1, 1, 1})
/* window's default threshold: window-2 deltas of q, grouped channels */
#define SCALE_WINDOW2 ((scale_spec){SCALE_PAIRS, 0, 0, 0})

/* The median over n tensors q[i] (and k[i] with with_k), each [nh, seq_len,
 * head_dim] in layout lay, of the sample of spec along the axes set (window:
 * the reuse window of SCALE_CHANNEL_MEANS). 0 when the sample is empty.
 * Returns 0, or a library error (out of memory, bad layout). */
ripple_status scale_median(const ripple_layout *lay, const scale_spec *spec, unsigned axes, int window, int n,
                           int64_t nh, const float *const *q, const float *const *k, double *out);

/* Half the value range of q and k (n tensors each, nh heads): no window
 * delta (a population standard deviation) exceeds it. 0 when constant. */
double scale_half_range(const ripple_layout *lay, int n, int64_t nh, const float *const *q, const float *const *k);

#endif
