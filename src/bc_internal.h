/* Private declarations shared by the library's source files (never installed). */
#ifndef BC_INTERNAL_H
#define BC_INTERNAL_H

#include "bitcell.h"

#include <stdio.h>
#include <stdlib.h>

#if defined(__GNUC__)
#define BC__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define BC__PRINTF(a, b)
#endif

/* Sets the thread-local message and returns s, so callers write `return bc__fail(...)`. */
bc_status bc__fail(bc_status s, const char *fmt, ...) BC__PRINTF(2, 3);

/* Programmer errors (broken invariants of bitcell itself), never bad input. */
#define BC_ASSERT(c)                                                                           \
    do {                                                                                       \
        if (!(c)) bc__assert_fail(__FILE__, __LINE__, #c);                                     \
    } while (0)
_Noreturn void bc__assert_fail(const char *file, int line, const char *expr);

/* Overflow-checked size arithmetic: false when a*b (or a+b) does not fit. */
static inline bool bc__mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}
static inline bool bc__add_size(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return false;
    *out = a + b;
    return true;
}

/* Reads exactly n bytes or fails with "<what>: truncated (...)". */
bc_status bc__read_exact(FILE *f, void *buf, size_t n, const char *what);
/* Reads a whole file (up to max_bytes) into a malloc'd, NUL-terminated buffer. */
bc_status bc__read_file(const char *path, size_t max_bytes, char **out, size_t *len);

/* 64-byte aligned allocation, zeroed; free with free(). NULL + message on failure. */
void *bc__alloc(size_t bytes);

/* Context internals: the CLI and library share one definition. */
struct bc_ctx {
    int32_t threads;
    bc_cpu cpu;
    bc_log_fn log;
    void *log_user;
};
/* Instruction sets outside the bc_cpu levels (both false off x86-64): AVX512-BF16 with
 * AVX-512F/BW; AMX-BF16 tiles with the OS's support and this process's permission to use
 * tile data (asked for on the first call, on Linux). */
bool bc__cpu_has_avx512bf16(void);
bool bc__cpu_amx_bf16_ready(void);
void bc__log(const bc_ctx *ctx, const char *fmt, ...) BC__PRINTF(2, 3);

/* Four draws at once: out[w] == bc_rng_u32(k, 4 * block + w) (one Philox call for four). */
void bc__rng_block(bc_rng_key k, uint64_t block, uint32_t out[4]);

/* Monotonic wall time in seconds. */
double bc__now(void);

/* Streaming atomic write (src/io/fileutil.c): opens a temp file "path.tmp.XXXXXX" in the same
 * directory; the caller writes to *f, then always calls bc__atomic_commit, which takes
 * ownership of f and tmp_path (frees tmp_path). With ok, it flushes, fsyncs, closes and renames
 * over path (BC_ERR_IO "path: cannot write: ..." on failure, temp removed); without ok it
 * closes and removes the temp file and returns BC_OK, leaving the caller's message alone. */
bc_status bc__atomic_open(const char *path, FILE **f, char **tmp_path);
bc_status bc__atomic_commit(FILE *f, char *tmp_path, const char *path, bool ok);

#endif
