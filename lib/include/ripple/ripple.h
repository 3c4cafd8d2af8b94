/* ripple: attention reuse between spatio-temporally adjacent tokens of video
 * diffusion transformers (TIMERIPPLE, arXiv 2511.12035).
 *
 * Conventions of the whole API
 * - Every function returns a ripple_status (RIPPLE_OK = 0, errors < 0) and
 *   keeps a one-line message for the last error of the calling thread,
 *   retrievable with ripple_last_error(). The library never prints or exits.
 * - Tensors are float32, row-major. One head is [seq_len, head_dim]; a layer
 *   is [heads, seq_len, head_dim]. Layout is written beside each pointer.
 * - Parameter structs are plain; a zeroed struct means "the defaults".
 */
#ifndef RIPPLE_RIPPLE_H
#define RIPPLE_RIPPLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Symbols of the shared library: only what these headers declare is
 * exported (the library is built with -fvisibility=hidden). */
#if defined(__GNUC__)
#define RIPPLE_API __attribute__((visibility("default")))
#else
#define RIPPLE_API
#endif

/* ----------------------------------------------------------------- version */

/* The library's version, "MAJOR.MINOR.PATCH" (from meson.build), and the git
 * description of the tree it was built from ("8beb573", "v0.2.0-3-gabc123",
 * "...-dirty"). */
RIPPLE_API const char *ripple_version(void);
RIPPLE_API const char *ripple_build_describe(void);

/* ------------------------------------------------------------------ errors */

typedef enum ripple_status {
    RIPPLE_OK = 0,
    RIPPLE_ERR_INVALID = -1,     /* bad argument (caller's mistake or bad option) */
    RIPPLE_ERR_IO = -2,          /* a file could not be opened, read or written */
    RIPPLE_ERR_FORMAT = -3,      /* a file breaks the capture format */
    RIPPLE_ERR_NOMEM = -4,       /* allocation failed or size overflows */
    RIPPLE_ERR_NONFINITE = -5,   /* NaN or Inf in an input tensor */
    RIPPLE_ERR_NOT_FOUND = -6,   /* a step, layer or head that is not there */
    RIPPLE_ERR_UNSUPPORTED = -7, /* backend or feature not built in */
    RIPPLE_ERR_BACKEND = -8      /* BLAS / CUDA failure */
} ripple_status;

/* Message of the calling thread's last error ("" if none). */
RIPPLE_API const char *ripple_last_error(void);
/* Short name of a status code, e.g. "format error". */
RIPPLE_API const char *ripple_status_str(ripple_status s);

/* -------------------------------------------------------------- geometry */

typedef enum ripple_axis {
    RIPPLE_AXIS_T = 0, /* frames */
    RIPPLE_AXIS_H = 1, /* rows */
    RIPPLE_AXIS_W = 2, /* columns */
    RIPPLE_AXIS_COUNT = 3
} ripple_axis;

/* Bit of an axis in an axis set (axes, groups, mask entries). */
#define RIPPLE_AXIS_BIT(a) (1u << (unsigned)(a))
#define RIPPLE_AXES_ALL 0x7u

/* Token and channel geometry of one attention call.
 * Video token (t, h, w) sits at video_offset + (t*H + h)*W + w.
 * Channel groups: group g covers group_len[g] consecutive channels starting
 * after the previous groups and belongs to axis group_axis[g]. Channels past
 * the sum of group_len belong to no group and are never reused. */
typedef struct ripple_layout {
    int64_t grid[3];      /* T, H, W */
    int64_t seq_len;      /* tokens per call, text tokens included */
    int64_t video_offset; /* first video token */
    int64_t head_dim;     /* channels per head */
    int num_groups;       /* 0..3 */
    int group_axis[3];    /* ripple_axis of each group, channel order */
    int64_t group_len[3]; /* channels of each group */
} ripple_layout;

/* Checks a layout: positive sizes, video tokens inside seq_len, groups within
 * head_dim, no overflow of seq_len*head_dim. */
RIPPLE_API ripple_status ripple_layout_check(const ripple_layout *lay);
/* Channel group of channel c, or -1 when c belongs to none. */
RIPPLE_API int ripple_layout_group_of(const ripple_layout *lay, int64_t c);
/* Number of video tokens T*H*W. */
RIPPLE_API int64_t ripple_layout_video_tokens(const ripple_layout *lay);

/* --------------------------------------------------------------- capture */

#define RIPPLE_CAPTURE_FORMAT "ripple-capture"
#define RIPPLE_CAPTURE_VERSION 1

typedef enum ripple_tensor {
    RIPPLE_TENSOR_Q = 0,
    RIPPLE_TENSOR_K = 1,
    RIPPLE_TENSOR_V = 2,
    RIPPLE_TENSOR_O = 3
} ripple_tensor;

/* Root attributes of a capture file (capture-format.md, version 1). Free
 * text read from a file (model, prompt, source, guidance) keeps UTF-8 but
 * holds control bytes (below 0x20, 0x7f) escaped as "\xNN". */
typedef struct ripple_capture_info {
    ripple_layout layout;
    char model[128];
    char rope_axes[4];     /* e.g. "thw" */
    int64_t num_heads;     /* heads stored per layer */
    int64_t num_layers;    /* blocks of the model */
    int64_t num_steps;     /* denoising steps of the run */
    double scale;          /* softmax scale */
    /* optional attributes; empty string / has_seed = 0 when absent */
    char prompt[256];
    char source[128];
    char guidance[16];
    int has_seed;
    int64_t seed;
} ripple_capture_info;

/* One captured (step, layer). */
typedef struct ripple_capture_entry {
    int step;
    int layer;
    double timestep; /* the step group's `timestep` attribute */
    int has_o;       /* the optional model output o is present */
    int elem_bytes;  /* 2 = float16, 4 = float32 (of q) */
} ripple_capture_entry;

typedef struct ripple_capture ripple_capture; /* opaque reader */

/* Opens and validates a capture: root attributes, then every step/layer
 * group's dataset shapes, element types and storage (written, complete,
 * inside the file, filters available, no external or virtual storage, hard
 * links only). Data values are checked for finiteness when read.
 * libhdf5 itself may crash or hang on corrupted metadata: on untrusted
 * files, open in a child process first (README, "Untrusted files"). */
RIPPLE_API ripple_status ripple_capture_open(const char *path, ripple_capture **out);
RIPPLE_API void ripple_capture_close(ripple_capture *cap);
RIPPLE_API const ripple_capture_info *ripple_capture_get_info(const ripple_capture *cap);
RIPPLE_API const char *ripple_capture_path(const ripple_capture *cap);
/* Captured (step, layer) pairs, sorted by step then layer. */
RIPPLE_API size_t ripple_capture_num_entries(const ripple_capture *cap);
RIPPLE_API const ripple_capture_entry *ripple_capture_get_entry(const ripple_capture *cap, size_t i);
/* Entry of (step, layer), or NULL when not captured. */
RIPPLE_API const ripple_capture_entry *ripple_capture_find(const ripple_capture *cap, int step, int layer);
/* Total bytes of tensor data in the file (as stored, before compression). */
RIPPLE_API int64_t ripple_capture_data_bytes(const ripple_capture *cap);

/* Reads heads [head0, head0 + nheads) of one tensor of (step, layer) as
 * float32 into out: [nheads, seq_len, head_dim]. Rejects non-finite values
 * naming the first bad position. */
RIPPLE_API ripple_status ripple_capture_read(ripple_capture *cap, int step, int layer, ripple_tensor which,
                                  int64_t head0, int64_t nheads, float *out);

typedef struct ripple_capture_writer ripple_capture_writer; /* opaque writer */

/* Creates a capture at path. Data goes to a temporary file beside it which
 * ripple_capture_writer_commit flushes, fsyncs, reads back and renames to
 * path; ripple_capture_writer_abort (or any failure) removes it, so no
 * half-written file ever has the final name. A path that exists and is not
 * a regular file (a device node, folder, FIFO) is refused, at open and
 * again at commit. Disk space for each put is reserved before it is
 * written (so a full disk is an error of that put, not of HDF5 later);
 * after a failed put only abort or commit (which then fails) are useful.
 * elem_bytes: 2 (float16) or 4 (float32). */
RIPPLE_API ripple_status ripple_capture_writer_open(const char *path, const ripple_capture_info *info,
                                         int elem_bytes, ripple_capture_writer **out);
/* Writes one (step, layer); q, k, v: [num_heads, seq_len, head_dim]; o may
 * be NULL. float16 values that would overflow make this fail. */
RIPPLE_API ripple_status ripple_capture_writer_put(ripple_capture_writer *w, int step, int layer,
                                        double timestep, const float *q, const float *k,
                                        const float *v, const float *o);
RIPPLE_API ripple_status ripple_capture_writer_commit(ripple_capture_writer *w); /* frees w */
RIPPLE_API void ripple_capture_writer_abort(ripple_capture_writer *w);         /* frees w */

/* ----------------------------------------------------------- synthetic */

/* Parameters of ripple_synth_layer. Every channel is a smooth random field
 * over (t, h, w) (correlation length `smooth`, varied per head and axis),
 * plus white noise N(0, sigma^2) with
 *     sigma(step) = noise * (1 - 0.9 * step / (num_steps - 1))
 * (noise when num_steps = 1), then a real 3D RoPE on q and k: pair
 * (2i, 2i+1) of group g is turned by pos * rope_base^(-2i / group_len[g]).
 * Text tokens are i.i.d. N(0, 1). A zero field means its default. */
typedef struct ripple_synth_params {
    uint64_t seed;
    double smooth;    /* correlation length in tokens; 0 = 3 */
    double noise;     /* white-noise amplitude at step 0; 0 = 0.3 */
    double rope_base; /* 0 = 10000 */
} ripple_synth_params;

/* Fills q, k, v: [nheads, seq_len, head_dim] for (step of num_steps, layer)
 * with planted spatio-temporal correlation. Deterministic in (seed, step,
 * layer, head). */
RIPPLE_API ripple_status ripple_synth_layer(const ripple_layout *lay, const ripple_synth_params *p,
                                 int step, int num_steps, int layer, int64_t nheads, float *q,
                                 float *k, float *v);

/* ------------------------------------------------------- exact attention */

typedef enum ripple_backend {
    RIPPLE_BACKEND_CPU = 0,
    RIPPLE_BACKEND_CUDA = 1
} ripple_backend;

/* 1 if the backend is compiled in and usable on this machine. */
RIPPLE_API int ripple_backend_available(ripple_backend b);
RIPPLE_API const char *ripple_backend_name(ripple_backend b);

/* o = softmax(scale * q k^T) v for each head, row-wise softmax.
 * q, k, v, o: [heads, seq, dim]. Memory O(block * seq), never seq^2. */
RIPPLE_API ripple_status ripple_attn_exact(ripple_backend b, int64_t heads, int64_t seq, int64_t dim,
                                double scale, const float *q, const float *k, const float *v,
                                float *o);
/* Threads of the CPU backend: RIPPLE_NUM_THREADS workers (default: the
 * online CPUs), read at each call. Process-wide settings the library makes,
 * each once and never again: the first CPU call sets OpenBLAS to one thread
 * (openblas_set_num_threads(1); ripple's workers run sgemm side by side),
 * and a thread's first capture call turns off HDF5's automatic error
 * printing for that thread (H5Eset_auto2 on H5E_DEFAULT; ripple reports HDF5
 * errors through ripple_last_error). A
 * program that wants OpenBLAS threads for its own sgemm sets them after
 * ripple's first call and back to 1 before ripple's next.
 *
 * Paths of the CPU backend, each a complete exact-attention implementation:
 *   "blas"    OpenBLAS sgemm for Q K^T and P V, softmax between them in
 *             portable C; any CPU
 *   "avx2"    fused (flash-style) kernel, AVX2 + FMA intrinsics
 *   "avx512"  the same kernel with AVX-512F intrinsics
 * The CPU backend uses the last available one, unless the environment
 * variable RIPPLE_CPU_PATH names another (read once, at the first call; an
 * unknown or unavailable name makes CPU attention fail with a message saying
 * so). Index i in [0, ripple_cpu_path_count()). */
RIPPLE_API int ripple_cpu_path_count(void);
RIPPLE_API const char *ripple_cpu_path_name(int i);
/* 1 if this CPU (and OS) can run path i. */
RIPPLE_API int ripple_cpu_path_available(int i);
/* Index of the path ripple_attn_exact(RIPPLE_BACKEND_CPU, ...) uses, or -1 if
 * RIPPLE_CPU_PATH names none that can run here. */
RIPPLE_API int ripple_cpu_path_selected(void);
/* Exact attention on one named path (arguments as ripple_attn_exact). */
RIPPLE_API ripple_status ripple_attn_exact_cpu_path(int path, int64_t heads, int64_t seq, int64_t dim,
                                         double scale, const float *q, const float *k,
                                         const float *v, float *o);

/* Reference: the same with every product and sum in float64 (slow).
 * o: [heads, seq, dim] float64. */
RIPPLE_API ripple_status ripple_attn_exact_f64(int64_t heads, int64_t seq, int64_t dim, double scale,
                                    const float *q, const float *k, const float *v, double *o);

/* ----------------------------------------------------------------- reuse */

typedef enum ripple_threshold_mode {
    RIPPLE_THRESHOLD_ABSOLUTE = 0, /* theta in units of q and k */
    RIPPLE_THRESHOLD_CHANNEL = 1   /* theta_a(c) = alpha * mean window delta(c) */
} ripple_threshold_mode;

/* The ripple transform (method.md section 1). Zeroed = all axes, window 2,
 * absolute threshold 0 (no reuse), all channel groups. */
typedef struct ripple_reuse_params {
    unsigned axes;   /* set of RIPPLE_AXIS_BIT(); 0 = all three */
    int window;      /* window size >= 2; 0 = 2 */
    ripple_threshold_mode mode;
    double theta[3]; /* per axis (t, h, w): threshold, or alpha in channel mode */
    unsigned groups; /* axis letters of the channel groups allowed; 0 = all */
} ripple_reuse_params;

/* Mask entries: 0 = computed; otherwise the bits RIPPLE_AXIS_BIT(a) of the
 * axes that marked the entry reusable (any bit set = reused). */
typedef uint8_t ripple_mask_t;

/* Applies the ripple transform to one head. x, x_out: [seq_len, head_dim]
 * (x_out may equal x), mask: [seq_len, head_dim] (may be NULL). */
RIPPLE_API ripple_status ripple_reuse_apply(const ripple_layout *lay, const ripple_reuse_params *p,
                                 const float *x, float *x_out, ripple_mask_t *mask);

/* Mean over windows of the window delta (population std. dev.) per channel
 * along one axis. x: [seq_len, head_dim]; delta_mean: [head_dim]; channels
 * with no window along the axis get 0. */
RIPPLE_API ripple_status ripple_window_delta_mean(const ripple_layout *lay, ripple_axis axis, int window,
                                       const float *x, double *delta_mean);

/* Reuse attention by the fused reuse kernel: o = softmax(scale Q~ K~^T) V,
 * where q_rippled, k_rippled are Q~, K~ (ripple_reuse_apply's x_out for each
 * head of q and k, with the same layout and window). The result is that
 * function for any input, within float32 rounding (README, "Reuse
 * kernel"); what reuse left in Q~ (rows equal to a neighbour's on most
 * channels) only makes it faster: a query row whose entries mostly equal
 * those of its window's first position along t, h or w costs the channels
 * where they differ instead of all d. window: the transform's window (0 = 2).
 * q_rippled, k_rippled, v, o: [heads, seq_len, head_dim] of lay. Memory: the
 * size of k and v twice, plus O(block * seq) per thread. The CPU backend
 * runs the last variant this CPU can run (avx512, avx2, else "exact":
 * ripple_attn_exact on Q~, K~), or the one RIPPLE_CPU_PATH names ("blas"
 * gives "exact"); CUDA runs the CPU one (host arrays). Hook for generation
 * (`ripple generate --kernel reuse`): where a step applies
 * ripple_reuse_apply to each head of q and k and then calls
 * ripple_attn_exact on the results, call this instead with the same
 * rippled q, k and the transform's window. */
RIPPLE_API ripple_status ripple_attn_reuse(ripple_backend b, const ripple_layout *lay, int window, int64_t heads,
                                double scale, const float *q_rippled, const float *k_rippled,
                                const float *v, float *o);

/* ---------------------------------------------------------------- savings */

/* Savings of one head (method.md section 2). Fractions in [0, 1]. */
typedef struct ripple_savings {
    double s_score;        /* 1 - sum_c nq(c) nk(c) / (N N d) */
    double s_attn;         /* s_score / 2: only QK^T work is spared */
    double rows_reused;    /* fraction of query rows with every channel reused */
    double q_reused;       /* fraction of q entries reused */
    double k_reused;
    double q_group[3];     /* per channel group: reused fraction of its entries */
    double k_group[3];
    double q_axis[3];      /* fraction of q entries marked by each axis */
    double k_axis[3];
} ripple_savings;

/* mq, mk: [seq_len, head_dim] masks from ripple_reuse_apply. */
RIPPLE_API ripple_status ripple_savings_compute(const ripple_layout *lay, const ripple_mask_t *mq,
                                     const ripple_mask_t *mk, ripple_savings *out);
/* Running mean over heads (all heads of a capture have equal N and d). */
RIPPLE_API void ripple_savings_add(ripple_savings *sum, const ripple_savings *one);
RIPPLE_API void ripple_savings_scale(ripple_savings *s, double factor);

/* -------------------------------------------------------------- baselines */

/* mask-skip: x_out = x where mask == 0, else 0. x, x_out: [n] (x_out may equal x). */
RIPPLE_API ripple_status ripple_mask_skip(int64_t n, const float *x, const ripple_mask_t *mask, float *x_out);
/* mask-magnitude: zeroes the `count` entries of lowest |x| (ties: lower
 * index first). x, x_out: [n] (x_out may equal x). */
RIPPLE_API ripple_status ripple_mask_magnitude(int64_t n, const float *x, int64_t count, float *x_out);

/* ---------------------------------------------------------------- metrics */

/* Error of an attention output against a reference (method.md section 4). */
typedef struct ripple_metrics {
    double mse;     /* mean over all elements of (out - ref)^2 */
    double rel_l2;  /* ||out - ref|| / ||ref|| */
    double cosine;  /* mean over rows of cos(out_row, ref_row) */
    double psnr;    /* 10 log10(max|ref|^2 / mse); +inf when mse = 0 */
    double max_abs; /* max |out - ref| */
} ripple_metrics;

/* out, ref: [rows, dim]. */
RIPPLE_API ripple_status ripple_metrics_compute(int64_t rows, int64_t dim, const float *out,
                                     const float *ref, ripple_metrics *m);
/* The same against a float64 reference (noise floor). */
RIPPLE_API ripple_status ripple_metrics_compute_f64(int64_t rows, int64_t dim, const float *out,
                                         const double *ref, ripple_metrics *m);

#ifdef __cplusplus
}
#endif

#endif /* RIPPLE_RIPPLE_H */
