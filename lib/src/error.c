#include "internal.h"

#include <stdarg.h>
#include <stdint.h>

static _Thread_local char last_error[1024];

const char *ripple_last_error(void) { return last_error; }

void ripple_clear_error(void) { last_error[0] = '\0'; }

ripple_status ripple_fail(ripple_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

const char *ripple_status_str(ripple_status s)
{
    switch (s) {
    case RIPPLE_OK: return "ok";
    case RIPPLE_ERR_INVALID: return "invalid argument";
    case RIPPLE_ERR_IO: return "i/o error";
    case RIPPLE_ERR_FORMAT: return "format error";
    case RIPPLE_ERR_NOMEM: return "out of memory";
    case RIPPLE_ERR_NONFINITE: return "non-finite value";
    case RIPPLE_ERR_NOT_FOUND: return "not found";
    case RIPPLE_ERR_UNSUPPORTED: return "unsupported";
    case RIPPLE_ERR_BACKEND: return "backend error";
    }
    return "unknown status";
}

size_t ripple_mul3(int64_t a, int64_t b, int64_t c)
{
    if (a <= 0 || b <= 0 || c <= 0) return 0;
    uint64_t ab, abc;
    if (__builtin_mul_overflow((uint64_t)a, (uint64_t)b, &ab)) return 0;
    if (__builtin_mul_overflow(ab, (uint64_t)c, &abc)) return 0;
    if (abc > SIZE_MAX / sizeof(double)) return 0;
    return (size_t)abc;
}
