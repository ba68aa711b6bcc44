/* The context: thread count, CPU level and log sink. No global state besides OpenMP's own. */
#include "bc_internal.h"

#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <cblas.h>

bc_cpu bc_cpu_detect(void) {
    bc_cpu best = BC_CPU_SCALAR;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = BC_CPU_AVX2;
    if (best == BC_CPU_AVX2 && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vpopcntdq"))
        best = BC_CPU_AVX512;
#endif
    const char *cap = getenv("BC_CPU");
    if (cap && *cap) {
        bc_cpu want = best;
        if (!strcmp(cap, "scalar")) want = BC_CPU_SCALAR;
        else if (!strcmp(cap, "avx2")) want = BC_CPU_AVX2;
        else if (!strcmp(cap, "avx512")) want = BC_CPU_AVX512;
        if (want < best) best = want;
    }
    return best;
}

const char *bc_cpu_name(bc_cpu c) {
    switch (c) {
    case BC_CPU_SCALAR: return "scalar";
    case BC_CPU_AVX2: return "avx2";
    case BC_CPU_AVX512: return "avx512";
    case BC_CPU_COUNT: break;
    }
    return "?";
}

bc_status bc_ctx_new(bc_ctx **out) {
    *out = NULL;
    bc_ctx *c = calloc(1, sizeof *c);
    if (!c) return bc__fail(BC_ERR_NOMEM, "context");
    c->cpu = bc_cpu_detect();
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int32_t threads = cores > 0 ? (int32_t)cores : 1;
    const char *env = getenv("BC_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end || v < 1 || v > 1024) {
            free(c);
            return bc__fail(BC_ERR_PARAM, "BC_THREADS='%s': expected an integer in [1, 1024]", env);
        }
        threads = (int32_t)v;
    }
    bc_status st = bc_ctx_set_threads(c, threads);
    if (st) { free(c); return st; }
    *out = c;
    return BC_OK;
}

void bc_ctx_free(bc_ctx *ctx) { free(ctx); }

bc_status bc_ctx_set_threads(bc_ctx *ctx, int32_t n) {
    if (n < 1 || n > 1024) return bc__fail(BC_ERR_PARAM, "threads = %d: expected 1..1024", (int)n);
    ctx->threads = n;
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    /* OpenBLAS stays single-threaded: bc__sgemm splits work over OpenMP itself. */
    openblas_set_num_threads(1);
    return BC_OK;
}

int32_t bc_ctx_threads(const bc_ctx *ctx) { return ctx->threads; }
bc_cpu bc_ctx_cpu(const bc_ctx *ctx) { return ctx->cpu; }
void bc_ctx_set_log(bc_ctx *ctx, bc_log_fn fn, void *user) {
    ctx->log = fn;
    ctx->log_user = user;
}
