#include "source.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The capture source: its entries are sorted by step, then layer. */
typedef struct {
    ripple_capture *cap;
    size_t next;
} capture_src;

static int capture_next(void *self, src_unit *u)
{
    capture_src *c = self;
    if (c->next >= ripple_capture_num_entries(c->cap)) return 0;
    const ripple_capture_entry *e = ripple_capture_get_entry(c->cap, c->next++);
    *u = (src_unit){e->step, e->layer, e->timestep};
    return 1;
}

static ripple_status capture_read(void *self, const src_unit *u, ripple_tensor t, int64_t head_lo, int64_t nh,
                                  float *dst)
{
    capture_src *c = self;
    return ripple_capture_read(c->cap, u->step, u->layer, t, head_lo, nh, dst);
}

static void capture_close(void *self)
{
    capture_src *c = self;
    ripple_capture_close(c->cap);
    free(c);
}

static const src_ops capture_ops = {"capture", capture_next, capture_read, capture_close};

ripple_status src_from_capture(ripple_capture *cap, src *out)
{
    memset(out, 0, sizeof *out);
    capture_src *c = calloc(1, sizeof *c);
    if (!c) {
        ripple_capture_close(cap);
        return ripple_fail(RIPPLE_ERR_NOMEM, "out of memory");
    }
    c->cap = cap;
    *out = (src){&capture_ops, c, ripple_capture_path(cap), ripple_capture_get_info(cap), 1};
    return RIPPLE_OK;
}

ripple_status src_open_capture(const char *path, src *out)
{
    memset(out, 0, sizeof *out);
    ripple_capture *cap;
    ripple_status s = ripple_capture_open(path, &cap);
    return s ? s : src_from_capture(cap, out);
}

void src_close(src *s)
{
    if (s->ops) s->ops->close(s->self);
    memset(s, 0, sizeof *s);
}

void src_label(const src *s, char *buf, size_t n)
{
    const ripple_capture_info *info = s->info;
    const char *base = strrchr(s->name, '/');
    base = base ? base + 1 : s->name;
    char seed[48] = "";
    if (info->has_seed) snprintf(seed, sizeof seed, " seed %lld", (long long)info->seed);
    if (info->prompt[0]) snprintf(buf, n, "%.40s%s%s", info->prompt, strlen(info->prompt) > 40 ? "..." : "", seed);
    else snprintf(buf, n, "%s%s", base, seed);
    for (char *p = buf; *p; p++)
        if (*p == '\t' || *p == '\n' || *p == '\r' || *p == '"' || *p == '\'' || *p == '\\') *p = ' ';
}
