/* The context: thread count, CPU level and log sink. No global state besides OpenMP's own
 * (and the process's AMX tile-data permission, asked for once; see bc__cpu_amx_bf16_ready). */
#define _DEFAULT_SOURCE /* syscall() */
#include "bc_internal.h"

#include <string.h>
#include <unistd.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif
#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#endif
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

#if defined(__x86_64__) && defined(__GNUC__)
/* CPUID leaf 7 sub-leaf sub: the register reg (0 eax, 1 ebx, 2 ecx, 3 edx) has bit set. */
static bool bc__cpuid7(unsigned sub, int reg, int bit) {
    unsigned r[4] = {0, 0, 0, 0};
    if (__get_cpuid_max(0, NULL) < 7) return false;
    __cpuid_count(7, sub, r[0], r[1], r[2], r[3]);
    return (r[reg] >> bit) & 1u;
}
/* Extended control register 0: the state components the OS saves (0 without OSXSAVE). */
static uint64_t bc__xcr0(void) {
    unsigned a, b, c, d, lo, hi;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1u)) return 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}
#endif

bool bc__cpu_has_avx512bf16(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && bc__cpuid7(1, 0, 5);
#else
    return false;
#endif
}

bool bc__cpu_amx_bf16_ready(void) {
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
    /* 1 = ready, 0 = not, -1 = not asked yet. The request is idempotent, so two threads
     * racing to make it do no harm. */
    static int ready = -1;
    int r = __atomic_load_n(&ready, __ATOMIC_ACQUIRE);
    if (r >= 0) return r == 1;
    /* AMX-TILE (edx 24) and AMX-BF16 (edx 22); the OS enables tile config and data (XCR0
     * bits 17, 18); Linux then wants each process to ask for tile data before first use
     * (ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18), and refuses under some
     * sandboxes and old kernels: then there is no AMX. */
    r = bc__cpuid7(0, 3, 24) && bc__cpuid7(0, 3, 22) &&
        (bc__xcr0() & (3ull << 17)) == (3ull << 17) && syscall(SYS_arch_prctl, 0x1023, 18) == 0;
    __atomic_store_n(&ready, r, __ATOMIC_RELEASE);
    return r == 1;
#else
    return false;
#endif
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
