#include "cli.h"
#include "evaluate.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *cli_cmd = "ripple";

/* Set once an error message has been printed: the exit status already says
 * it failed, and the stdout check at exit adds no second message. */
static int error_reported;

static void vmsg(const char *fmt, va_list ap)
{
    error_reported = 1;
    fprintf(stderr, "ripple %s: ", cli_cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static void check_stdout(void)
{
    /* fflush reports the error of the last write; ferror one of an earlier
     * write that fflush may not repeat; fclose one of the close itself */
    errno = 0;
    int bad = fflush(stdout) != 0;
    int err = bad ? errno : 0;
    bad |= ferror(stdout) != 0;
    if (fclose(stdout) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    if (!bad || error_reported) return;
    fprintf(stderr, "ripple%s%s: cannot write to standard output: %s\n", strcmp(cli_cmd, "ripple") ? " " : "",
            strcmp(cli_cmd, "ripple") ? cli_cmd : "", err ? strerror(err) : "a write failed");
    _exit(CLI_EXIT_DATA);
}

int cli_flush_stdout(void)
{
    errno = 0;
    int bad = fflush(stdout) != 0;
    int err = bad ? errno : 0;
    if (!bad && !ferror(stdout)) return CLI_EXIT_OK;
    if (!error_reported)
        fprintf(stderr, "ripple %s: cannot write to standard output: %s\n", cli_cmd,
                err ? strerror(err) : "a write failed");
    return CLI_EXIT_DATA;
}

void cli_check_stdout_at_exit(void)
{
    if (atexit(check_stdout)) {
        fprintf(stderr, "ripple: cannot register the check of standard output\n");
        exit(CLI_EXIT_DATA);
    }
}

void cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try 'ripple %s --help'.\n", cli_cmd);
    exit(CLI_EXIT_USAGE);
}

void cli_data_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    exit(CLI_EXIT_DATA);
}

void cli_lib_error(ripple_status s, const char *what)
{
    error_reported = 1;
    fprintf(stderr, "ripple %s: %s: %s\n", cli_cmd, what, ripple_last_error());
    exit(s == RIPPLE_ERR_INVALID ? CLI_EXIT_USAGE : CLI_EXIT_DATA);
}

/* The parsers return 0, or CLI_EXIT_USAGE with the message in err; the
 * cli_* forms below them exit with it. */
#define FAIL(...) return snprintf(err, CLI_ERR, __VA_ARGS__), CLI_EXIT_USAGE

int cli_parse_int(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out, char *err)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno) FAIL("%s: '%s' is not an integer", opt, s);
    if (v < lo || v > hi) FAIL("%s: %lld is out of range %lld..%lld", opt, v, (long long)lo, (long long)hi);
    *out = v;
    return 0;
}

int cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out, char *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno == ERANGE) FAIL("%s: '%s' is not a number", opt, s);
    if (!(v >= lo && v <= hi)) FAIL("%s: %g is out of range %g..%g", opt, v, lo, hi);
    *out = v;
    return 0;
}

int cli_parse_range(const char *opt, const char *s, int64_t *lo, int64_t *hi, char *err)
{
    const char *colon = strchr(s, ':');
    if (!colon) {
        int rc = cli_parse_int(opt, s, 0, INT32_MAX, lo, err);
        *hi = *lo + 1;
        return rc;
    }
    char first[32];
    size_t n = (size_t)(colon - s);
    if (n == 0 || n >= sizeof first) FAIL("%s: '%s' is not a range a:b", opt, s);
    memcpy(first, s, n);
    first[n] = '\0';
    if (cli_parse_int(opt, first, 0, INT32_MAX, lo, err)) return CLI_EXIT_USAGE;
    *hi = -1;
    if (!colon[1]) return 0;
    if (cli_parse_int(opt, colon + 1, 0, INT32_MAX, hi, err)) return CLI_EXIT_USAGE;
    if (*hi <= *lo) FAIL("%s: empty range '%s' (need a < b)", opt, s);
    return 0;
}

int cli_parse_list(const char *opt, const char *s, char *buf, size_t size, char **items, int max, int *count,
                   char *err)
{
    if (!*s) FAIL("%s: empty list (give one or more values separated by commas)", opt);
    if (strlen(s) >= size) FAIL("%s: list too long (at most %zu characters)", opt, size - 1);
    strcpy(buf, s);
    int n = 0;
    for (char *p = buf;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        if (!*p) FAIL("%s: '%s' has an empty item (values are separated by single commas)", opt, s);
        if (n == max) FAIL("%s: at most %d values", opt, max);
        items[n++] = p;
        if (!comma) break;
        p = comma + 1;
    }
    *count = n;
    return 0;
}

int cli_parse_methods(const char *opt, const char *s, unsigned *bits, char *err)
{
    char buf[256], *items[64], all[256];
    int n;
    if (cli_parse_list(opt, s, buf, sizeof buf, items, 64, &n, err)) return CLI_EXIT_USAGE;
    *bits = 0;
    for (int i = 0; i < n; i++) {
        int m = eval_method_parse(items[i]);
        if (m < 0)
            FAIL("%s: unknown method '%s' (%s)", opt, items[i],
                 eval_method_list(EVAL_METHODS_ALL, ", ", all, sizeof all));
        *bits |= EVAL_BIT(m);
    }
    return 0;
}

int cli_parse_axes(const char *opt, const char *s, unsigned *out, char *err)
{
    unsigned set = 0;
    if (!*s) FAIL("%s: empty axis set (use letters t, h, w)", opt);
    for (const char *p = s; *p; p++) {
        const char *at = strchr("thw", *p);
        if (!at) FAIL("%s: '%c' is not an axis (use letters t, h, w)", opt, *p);
        unsigned bit = RIPPLE_AXIS_BIT(at - "thw");
        if (set & bit) FAIL("%s: axis '%c' given twice", opt, *p);
        set |= bit;
    }
    *out = set;
    return 0;
}
#undef FAIL

int64_t cli_int(const char *opt, const char *s, int64_t lo, int64_t hi)
{
    char err[CLI_ERR];
    int64_t v;
    if (cli_parse_int(opt, s, lo, hi, &v, err)) cli_usage_error("%s", err);
    return v;
}

double cli_double(const char *opt, const char *s, double lo, double hi)
{
    char err[CLI_ERR];
    double v;
    if (cli_parse_double(opt, s, lo, hi, &v, err)) cli_usage_error("%s", err);
    return v;
}

void cli_range(const char *opt, const char *s, int64_t *lo, int64_t *hi)
{
    char err[CLI_ERR];
    if (cli_parse_range(opt, s, lo, hi, err)) cli_usage_error("%s", err);
}

int cli_list(const char *opt, const char *s, char *buf, size_t size, char **items, int max)
{
    char err[CLI_ERR];
    int n;
    if (cli_parse_list(opt, s, buf, size, items, max, &n, err)) cli_usage_error("%s", err);
    return n;
}

const char *cli_nonempty(const char *opt, const char *s)
{
    if (!*s) cli_usage_error("%s: empty value", opt);
    return s;
}

void cli_int_list(const char *opt, const char *s, int n, int64_t *out)
{
    const char *p = s;
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v <= 0 || v > INT32_MAX)
            cli_usage_error("%s: '%s' must be %d positive integers separated by commas", opt, s, n);
        out[i] = v;
        if (i < n - 1) {
            if (*end != ',')
                cli_usage_error("%s: '%s' must be %d positive integers separated by commas", opt, s, n);
            p = end + 1;
        } else if (*end) {
            cli_usage_error("%s: '%s' must be %d positive integers separated by commas", opt, s, n);
        }
    }
}

unsigned cli_axes(const char *opt, const char *s)
{
    char err[CLI_ERR];
    unsigned set;
    if (cli_parse_axes(opt, s, &set, err)) cli_usage_error("%s", err);
    return set;
}

const char *cli_axes_str(unsigned axes)
{
    static const char *const names[8] = {"", "t", "h", "th", "w", "tw", "hw", "thw"};
    return names[axes & 7];
}

const char *cli_mode_str(ripple_threshold_mode mode)
{
    return mode == RIPPLE_THRESHOLD_CHANNEL ? "channel" : "absolute";
}

const char *cli_join_doubles(char *buf, size_t n, const double *x, int count, int digits)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < count && len < n; i++) len += (size_t)snprintf(buf + len, n - len, "%s%.*g", i ? "," : "", digits, x[i]);
    return buf;
}

const char *cli_join_ints(char *buf, size_t n, const int *x, int count)
{
    buf[0] = '\0';
    for (int i = 0; i < count; i++) cli_appendf(buf, n, "%s%d", i ? "," : "", x[i]);
    return buf;
}

const char *cli_appendf(char *buf, size_t n, const char *fmt, ...)
{
    size_t len = strnlen(buf, n);
    if (len + 1 < n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf + len, n - len, fmt, ap);
        va_end(ap);
    }
    return buf;
}

const ripple_layout *cli_layout(const ripple_capture *cap)
{
    return &ripple_capture_get_info(cap)->layout;
}

void *cli_alloc(size_t count, size_t size, const char *what)
{
    if (count && size > SIZE_MAX / count)
        cli_data_error("%s: %zu x %zu bytes overflows", what, count, size);
    size_t bytes = count * size;
    void *p = malloc(bytes ? bytes : 1);
    if (!p) cli_data_error("out of memory allocating %s (%zu bytes)", what, count * size);
    return p;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double progress_t0;
static int progress_active;

void cli_progress(const char *label, int64_t done, int64_t total)
{
    if (!isatty(STDERR_FILENO)) return;
    double now = cli_now();
    if (!progress_active) {
        progress_t0 = now;
        progress_active = 1;
    }
    double el = now - progress_t0;
    double rate = el > 0 ? (double)done / el : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : NAN;
    fprintf(stderr, "\r%s %lld/%lld  %.2f/s  eta %s%.0fs   ", label, (long long)done,
            (long long)total, rate, isnan(eta) ? "?" : "", isnan(eta) ? 0.0 : eta);
    fflush(stderr);
}

void cli_progress_done(void)
{
    if (progress_active && isatty(STDERR_FILENO)) fputc('\n', stderr);
    progress_active = 0;
}

void cli_require_entry(const ripple_capture *cap, int step, int layer)
{
    if (ripple_capture_find(cap, step, layer)) return;
    char steps[512] = "", layers[512] = "";
    size_t ns = 0, nl = 0;
    int last_step = -1;
    for (size_t i = 0; i < ripple_capture_num_entries(cap); i++) {
        const ripple_capture_entry *e = ripple_capture_get_entry(cap, i);
        if (e->step != last_step && ns + 16 < sizeof steps)
            ns += (size_t)snprintf(steps + ns, sizeof steps - ns, "%s%d", ns ? "," : "", e->step);
        if (e->step == step && nl + 16 < sizeof layers)
            nl += (size_t)snprintf(layers + nl, sizeof layers - nl, "%s%d", nl ? "," : "", e->layer);
        last_step = e->step;
    }
    if (nl)
        cli_data_error("%s: layer %d is not captured at step %d (layers there: %s)",
                       ripple_capture_path(cap), layer, step, layers);
    cli_data_error("%s: step %d is not captured (steps present: %s; see `ripple info`)",
                   ripple_capture_path(cap), step, steps[0] ? steps : "none");
}

/* ------------------------------------------------ opening untrusted files */

/* Seconds the metadata check of path may take: RIPPLE_CHECK_TIMEOUT, else
 * 30 plus 1 per GiB of file (metadata grows with the number of chunks);
 * -1 when RIPPLE_CHECK_TIMEOUT is not a number of seconds. */
static double check_limit(const char *path)
{
    const char *env = getenv("RIPPLE_CHECK_TIMEOUT");
    if (env && *env) {
        char *end;
        errno = 0;
        double v = strtod(env, &end);
        if (*end || errno || !(v >= 0) || v > 1e6) return -1;
        return v;
    }
    struct stat st;
    return 30.0 + (stat(path, &st) == 0 ? (double)st.st_size / (double)(1u << 30) : 0.0);
}

/* The child's address space: what it has now plus 2 GiB for reading
 * metadata, so a corrupted size makes an allocation fail instead of the
 * machine swap. Not under AddressSanitizer, which reserves terabytes. */
static void limit_child_memory(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return;
#endif
#endif
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long pages = 0;
    if (!f) return;
    int ok = fscanf(f, "%llu", &pages) == 1;
    fclose(f);
    long psz = sysconf(_SC_PAGESIZE);
    if (!ok || psz <= 0) return;
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = (rlim_t)(pages * (unsigned long long)psz + (2ull << 30));
    setrlimit(RLIMIT_AS, &rl);
}

/* The child of cli_capture_open: one status digit (0 ok, 1 data error,
 * 2 usage error) then the message, on fd; then _exit (no exit handlers:
 * libhdf5's could crash on what the file did to it). Its own stdout and
 * stderr go to /dev/null. */
static _Noreturn void check_child(const char *path, int fd)
{
    /* what a dying libhdf5 or libc prints would make the one-line error two */
    int nul = open("/dev/null", O_WRONLY);
    if (nul >= 0) {
        dup2(nul, STDOUT_FILENO);
        dup2(nul, STDERR_FILENO);
        close(nul);
    }
    /* no inherited descriptor but fd: a lock the parent holds (flock is
     * shared across fork) must end with the parent, not with this check */
    long maxfd = sysconf(_SC_OPEN_MAX);
    for (int i = 3; i < (maxfd > 0 && maxfd < 65536 ? maxfd : 65536); i++)
        if (i != fd) close(i);
    limit_child_memory();
    ripple_capture *cap = NULL;
    ripple_status s = ripple_capture_open(path, &cap);
    char msg[1100];
    snprintf(msg, sizeof msg, "%c%s", s == RIPPLE_OK ? '0' : s == RIPPLE_ERR_INVALID ? '2' : '1',
             s == RIPPLE_OK ? "" : ripple_last_error());
    if (s == RIPPLE_OK) ripple_capture_close(cap);
    size_t n = strlen(msg), off = 0;
    while (off < n) {
        ssize_t w = write(fd, msg + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    _exit(0);
}

/* The message of a file that killed or hung the check. */
static int corrupted(char *msg, size_t n, const char *path, const char *why)
{
    snprintf(msg, n, "%s: the file is corrupted (libhdf5 failed reading its metadata: %s)", path, why);
    return CLI_EXIT_DATA;
}

int cli_capture_check(const char *path, const char *what, char *msg, size_t n)
{
    const double limit = check_limit(path);
    if (limit < 0) {
        snprintf(msg, n, "RIPPLE_CHECK_TIMEOUT='%s' must be seconds in 0..1e6 (0 skips the metadata check)",
                 getenv("RIPPLE_CHECK_TIMEOUT"));
        return CLI_EXIT_USAGE;
    }
    if (limit == 0) return CLI_EXIT_OK;
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(msg, n, "%s: cannot check the file: pipe: %s", path, strerror(errno));
        return CLI_EXIT_DATA;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(msg, n, "%s: cannot check the file: fork: %s", path, strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return CLI_EXIT_DATA;
    }
    if (pid == 0) {
        close(fds[0]);
        check_child(path, fds[1]);
    }
    close(fds[1]);
    char buf[1200];
    size_t got = 0;
    int timed_out = 0;
    const double deadline = cli_now() + limit;
    for (;;) {
        double left = deadline - cli_now();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd pf = {.fd = fds[0], .events = POLLIN};
        int pr = poll(&pf, 1, left > 1e6 ? 1000000000 : (int)(left * 1000.0) + 1);
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) break;
        if (pr == 0) continue; /* the loop's clock decides */
        ssize_t r = read(fds[0], buf + got, sizeof buf - 1 - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break; /* EOF: the child is gone */
        got += (size_t)r;
        if (got == sizeof buf - 1) break;
    }
    close(fds[0]);
    buf[got] = '\0';
    int st = 0;
    if (timed_out) kill(pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    char why[96];
    if (timed_out) {
        snprintf(why, sizeof why, "no answer after %.0f s", limit);
        return corrupted(msg, n, path, why);
    }
    if (WIFSIGNALED(st)) {
        snprintf(why, sizeof why, "signal %d, %s", WTERMSIG(st), strsignal(WTERMSIG(st)));
        return corrupted(msg, n, path, why);
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || got == 0 || !strchr("012", buf[0])) {
        /* e.g. a sanitizer's exit code, or an abort that ended as an exit */
        snprintf(why, sizeof why, "the check process exited with code %d without an answer",
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        return corrupted(msg, n, path, why);
    }
    if (buf[0] == '0') return CLI_EXIT_OK;
    snprintf(msg, n, "%s: %s", what, buf + 1);
    return buf[0] == '2' ? CLI_EXIT_USAGE : CLI_EXIT_DATA;
}

ripple_capture *cli_capture_open(const char *path, const char *what)
{
    char msg[1400];
    int rc = cli_capture_check(path, what, msg, sizeof msg);
    if (rc == CLI_EXIT_USAGE) cli_usage_error("%s", msg);
    if (rc) cli_data_error("%s", msg);
    ripple_capture *cap = NULL;
    ripple_status s = ripple_capture_open(path, &cap);
    if (s) cli_lib_error(s, what);
    return cap;
}

const char *cli_shell_word(char *dst, size_t n, const char *s)
{
    if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=,+@%-") == strlen(s)) {
        snprintf(dst, n, "%s", s);
        return dst;
    }
    size_t k = 0;
    if (k + 1 < n) dst[k++] = '\'';
    for (; *s; s++) {
        const char *piece = *s == '\'' ? "'\\''" : NULL;
        size_t len = piece ? 4 : 1;
        if (k + len + 1 >= n) break;
        if (piece) memcpy(dst + k, piece, 4);
        else dst[k] = *s;
        k += len;
    }
    if (k + 1 < n) dst[k++] = '\'';
    if (n) dst[k < n ? k : n - 1] = '\0';
    return dst;
}

cli_unit_opts cli_unit_defaults(void)
{
    return (cli_unit_opts){.step = -1, .layer = -1, .head_lo = 0, .head_hi = -1, .tsv = !isatty(STDOUT_FILENO),
                           .backend = RIPPLE_BACKEND_CPU};
}

int cli_unit_option(int c, const char *arg, char **argv, cli_unit_opts *u)
{
    switch (c) {
    case CLI_O_STEP: u->step = (int)cli_int("--step", arg, 0, 1000000); return 1;
    case CLI_O_LAYER: u->layer = (int)cli_int("--layer", arg, 0, 1000000); return 1;
    case CLI_O_HEADS: cli_range("--heads", arg, &u->head_lo, &u->head_hi); return 1;
    case CLI_O_FORMAT:
        if (!strcmp(arg, "tsv")) u->tsv = 1;
        else if (!strcmp(arg, "table")) u->tsv = 0;
        else cli_usage_error("--format: '%s' is not table or tsv", arg);
        return 1;
    case CLI_O_BACKEND:
        if (!strcmp(arg, "cpu")) u->backend = RIPPLE_BACKEND_CPU;
        else if (!strcmp(arg, "cuda")) u->backend = RIPPLE_BACKEND_CUDA;
        else cli_usage_error("--backend: '%s' is not cpu or cuda", arg);
        return 1;
    case ':': cli_usage_error("option %s needs a value", argv[optind - 1]);
    default: cli_usage_error("unknown option '%s'", argv[optind - 1]);
    }
}

const char *cli_one_capture(int argc, char **argv)
{
    if (optind >= argc) cli_usage_error("missing CAPTURE (an HDF5 capture file)");
    if (optind + 1 < argc) cli_usage_error("unexpected argument '%s'", argv[optind + 1]);
    return argv[optind];
}

cli_reuse_opts cli_reuse_defaults(void)
{
    return (cli_reuse_opts){.rp = {.axes = RIPPLE_AXES_ALL, .window = 2}, .theta_axis = {NAN, NAN, NAN}};
}

int cli_reuse_option(int c, const char *arg, cli_reuse_opts *r)
{
    switch (c) {
    case CLI_O_THETA: r->theta_all = cli_double("--theta", arg, 0, INFINITY), r->have_theta = 1; return 1;
    case CLI_O_THETA_T: r->theta_axis[0] = cli_double("--theta-t", arg, 0, INFINITY), r->have_theta = 1; return 1;
    case CLI_O_THETA_H: r->theta_axis[1] = cli_double("--theta-h", arg, 0, INFINITY), r->have_theta = 1; return 1;
    case CLI_O_THETA_W: r->theta_axis[2] = cli_double("--theta-w", arg, 0, INFINITY), r->have_theta = 1; return 1;
    case CLI_O_ALPHA: r->theta_all = cli_double("--alpha", arg, 0, INFINITY), r->have_alpha = 1; return 1;
    case CLI_O_AXES: r->rp.axes = cli_axes("--axes", arg), r->have_other = 1; return 1;
    case CLI_O_WINDOW: r->rp.window = (int)cli_int("--window", arg, 2, 1 << 20), r->have_other = 1; return 1;
    case CLI_O_GROUPS: r->rp.groups = cli_axes("--groups", arg), r->have_other = 1; return 1;
    default: return 0;
    }
}

void cli_reuse_finish(cli_reuse_opts *r)
{
    if (r->have_theta && r->have_alpha)
        cli_usage_error("--theta and --alpha exclude each other (absolute vs channel thresholds)");
    r->rp.mode = r->have_alpha ? RIPPLE_THRESHOLD_CHANNEL : RIPPLE_THRESHOLD_ABSOLUTE;
    for (int a = 0; a < 3; a++) r->rp.theta[a] = isnan(r->theta_axis[a]) ? r->theta_all : r->theta_axis[a];
}

int cli_write_png_gray(const char *path, const unsigned char *img, int w, int h)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, img + (size_t)y * (size_t)w);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f) == 0 ? 0 : -1;
}
