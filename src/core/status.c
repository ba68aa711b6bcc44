/* Status codes and the thread-local error message: the library reports, the caller decides. */
#include "bc_internal.h"

#include <stdarg.h>
#include <string.h>

static _Thread_local char bc__err[1024];

const char *bc_status_str(bc_status s) {
    switch (s) {
    case BC_OK: return "ok";
    case BC_ERR_NOMEM: return "out of memory";
    case BC_ERR_IO: return "i/o error";
    case BC_ERR_FORMAT: return "format error";
    case BC_ERR_SHAPE: return "shape error";
    case BC_ERR_PARAM: return "invalid parameter";
    case BC_ERR_UNSUPPORTED: return "unsupported";
    case BC_ERR_NOT_FOUND: return "not found";
    }
    return "unknown status";
}

const char *bc_last_error(void) { return bc__err; }
void bc_clear_error(void) { bc__err[0] = '\0'; }

bc_status bc__fail(bc_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(bc__err, sizeof bc__err, fmt, ap);
    va_end(ap);
    return s;
}

void bc__assert_fail(const char *file, int line, const char *expr) {
    fprintf(stderr, "bitcell: internal error at %s:%d: assertion '%s' failed\n", file, line, expr);
    abort();
}
