/* Small shared helpers: checked reads, aligned allocation, clock, logging. */
#include "bc_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

bc_status bc__read_exact(FILE *f, void *buf, size_t n, const char *what) {
    size_t got = fread(buf, 1, n, f);
    if (got != n)
        return bc__fail(BC_ERR_FORMAT, "%s: truncated (wanted %zu bytes, got %zu)", what, n, got);
    return BC_OK;
}

bc_status bc__read_file(const char *path, size_t max_bytes, char **out, size_t *len) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return bc__fail(BC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    bc_status st = BC_OK;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            if (ncap > max_bytes + 1) ncap = max_bytes + 1;
            if (ncap <= n) { st = bc__fail(BC_ERR_FORMAT, "%s: larger than %zu bytes", path, max_bytes); goto out; }
            char *nb = realloc(buf, ncap + 1);
            if (!nb) { st = bc__fail(BC_ERR_NOMEM, "%s: %zu bytes", path, ncap); goto out; }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) { st = bc__fail(BC_ERR_IO, "%s: read error", path); goto out; }
    buf[n] = '\0';
    *out = buf;
    buf = NULL;
    if (len) *len = n;
out:
    free(buf);
    fclose(f);
    return st;
}

void *bc__alloc(size_t bytes) {
    size_t rounded;
    if (!bc__add_size(bytes, 63, &rounded)) { bc__fail(BC_ERR_NOMEM, "allocation of %zu bytes overflows", bytes); return NULL; }
    rounded &= ~(size_t)63;
    if (rounded == 0) rounded = 64;
    void *p = aligned_alloc(64, rounded);
    if (!p) { bc__fail(BC_ERR_NOMEM, "cannot allocate %zu bytes", bytes); return NULL; }
    memset(p, 0, rounded);
    return p;
}

double bc__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void bc__log(const bc_ctx *ctx, const char *fmt, ...) {
    if (!ctx || !ctx->log) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ctx->log(buf, ctx->log_user);
}
