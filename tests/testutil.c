#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

uint64_t tu_next(tu_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double tu_uniform(tu_rng *r) { return (double)(tu_next(r) >> 11) * 0x1.0p-53; }

double tu_normal(tu_rng *r)
{
    double u1 = tu_uniform(r), u2 = tu_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void tu_fill_normal(tu_rng *r, float *x, size_t n, double sigma)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(sigma * tu_normal(r));
}

const char *tu_tmp_path(const char *name)
{
    static char dir[256];
    static char paths[4][512]; /* rotating: several may be in use in one call */
    static int next;
    char *path = paths[next++ % 4];
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/ripple-test-%ld", base && *base ? base : "/tmp", (long)getpid());
        mkdir(dir, 0700);
    }
    snprintf(path, sizeof paths[0], "%s/%s", dir, name);
    return path;
}

int64_t tu_first_mismatch_f64(const float *a, const double *ref, size_t n, double atol, double rtol)
{
    for (size_t i = 0; i < n; i++) {
        int fa = isfinite(a[i]), fr = isfinite(ref[i]);
        if (fa != fr) return (int64_t)i;
        if (!fa) continue;
        if (fabs((double)a[i] - ref[i]) > atol + rtol * fabs(ref[i])) return (int64_t)i;
    }
    return -1;
}

double tu_nmse_f64(const float *a, const double *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    return den > 0 ? num / den : num;
}

int tu_system(const char *cmd)
{
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

char *tu_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    size_t got = n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
    buf[got] = '\0';
    fclose(f);
    return buf;
}

char *tu_read_table(const char *path)
{
    char *text = tu_read_file(path);
    if (!text) return NULL;
    static const char *const timing[] = {"# exact_attention_seconds:", "# wall_seconds:"};
    char *w = text;
    for (char *r = text; *r;) {
        char *nl = strchr(r, '\n');
        size_t len = nl ? (size_t)(nl - r) + 1 : strlen(r);
        int drop = 0;
        for (size_t i = 0; i < 2; i++) drop |= !strncmp(r, timing[i], strlen(timing[i]));
        if (!drop) {
            memmove(w, r, len);
            w += len;
        }
        r += len;
    }
    *w = '\0';
    return text;
}
