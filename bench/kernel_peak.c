/* Kernel peaks: OpenBLAS sgemm GFLOP/s, the bf16 GEMM's GFLOP/s (best kernel, packing of its
 * fp32 operands included), XNOR-popcount GEMM binary GMAC/s (best kernel and scalar) and the
 * CIM executor's u8 x s8 GEMM GMAC/s, on 1 thread and on N threads each running its own
 * independent problem.
 * Prints one key=value line per measurement for bench scripts to grep.
 *
 *   bc_kernel_peak [--threads N] [--seconds S] [--shapes]
 *
 * --shapes adds single-thread GMAC/s of every available variant on the conv (im2col) and
 * dense shapes the networks use, of every u8 x s8 variant on the CIM executor's group
 * shapes, and GFLOP/s of sgemm and every bf16 variant on vgg-small-bnn's backward GEMMs. A
 * binary MAC is one +-1 multiply-add (one bit of a row). */
#include "bc_internal.h"
#include "kernels/bgemm.h"
#include "kernels/gemm.h"
#include "kernels/i8gemm.h"
#include "kernels/xnor.h"

#include <cblas.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define SGEMM_N 1024
#define PEAK_N 256
#define PEAK_M 256
#define PEAK_K 4096

static double now_s(void) {
#ifdef _OPENMP
    return omp_get_wtime();
#else
    return bc__now();
#endif
}

/* One thread's problem: repeated until `seconds` pass; returns operations per second. */
typedef double (*bench_fn)(const void *arg, double seconds);

static double bench_sgemm(const void *arg, double seconds) {
    (void)arg;
    const int n = SGEMM_N;
    float *a = bc__alloc((size_t)n * n * sizeof *a), *b = bc__alloc((size_t)n * n * sizeof *b);
    float *c = bc__alloc((size_t)n * n * sizeof *c);
    if (!a || !b || !c) { free(a), free(b), free(c); return 0; }
    for (int64_t i = 0; i < (int64_t)n * n; i++) a[i] = (float)(i % 7) - 3.0f, b[i] = (float)(i % 5) - 2.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up */
    int64_t reps = 0;
    const double t0 = now_s();
    double t;
    do {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        reps++;
    } while ((t = now_s() - t0) < seconds);
    free(a), free(b), free(c);
    return 2.0 * n * n * (double)n * (double)reps / t;
}

/* C (m, n) = op(A) B on fp32 operands: sgemm (kern NULL) or the bf16 GEMM, whose time
 * includes packing A and B (pre-packed B with `pre`, as sign(W) in dX = dY sign(W)). */
typedef struct {
    const bc__bf16_kernels *kern;
    bool ta, pre;
    int64_t m, n, k;
} bgemm_arg;

static double bench_bgemm(const void *arg, double seconds) {
    const bgemm_arg *x = arg;
    float *a = bc__alloc((size_t)(x->m * x->k) * sizeof *a), *b = bc__alloc((size_t)(x->k * x->n) * sizeof *b);
    float *c = bc__alloc((size_t)(x->m * x->n) * sizeof *c);
    uint16_t *bp = x->kern ? bc__alloc((size_t)bc__bgemm_packed(x->n, x->k) * sizeof *bp) : NULL;
    void *work = bc__alloc(BC__BGEMM_WORK_BYTES);
    if (!a || !b || !c || !work || (x->kern && !bp)) { free(a), free(b), free(c), free(bp), free(work); return 0; }
    for (int64_t i = 0; i < x->m * x->k; i++) a[i] = (float)(i % 7) - 3.0f;
    for (int64_t i = 0; i < x->k * x->n; i++) b[i] = i % 3 ? 1.0f : -1.0f;
    if (x->kern) bc__bgemm_pack_b_whole(x->kern, bp, false, b, x->n, x->k, x->n);
    const int64_t lda = x->ta ? x->m : x->k;
    int64_t reps = 0;
    const double t0 = now_s();
    double t;
    do {
        if (x->kern)
            bc__bgemm_serial(x->kern, x->ta, false, x->m, x->n, x->k, 1.0f, a, lda, x->pre ? NULL : b, x->n,
                             x->pre ? bp : NULL, 0.0f, c, x->n, work);
        else
            bc__sgemm_serial(x->ta, false, x->m, x->n, x->k, 1.0f, a, lda, b, x->n, 0.0f, c, x->n);
        reps++;
    } while ((t = now_s() - t0) < seconds);
    free(a), free(b), free(c), free(bp), free(work);
    return 2.0 * (double)x->m * (double)x->n * (double)x->k * (double)reps / t;
}

typedef struct {
    const bc__bin_kernels *kern;
    int64_t n, m, k;
} xnor_arg;

static double bench_xnor(const void *arg, double seconds) {
    const xnor_arg *x = arg;
    const int64_t kw = bc__b1_words(x->k);
    uint64_t *a = bc__alloc((size_t)(x->n * kw) * sizeof *a), *b = bc__alloc((size_t)(x->m * kw) * sizeof *b);
    int32_t *out = bc__alloc((size_t)(x->n * x->m) * sizeof *out);
    if (!a || !b || !out) { free(a), free(b), free(out); return 0; }
    bc_rng_key key = {.seed = 1, .purpose = BC_RNG_TEST};
    for (int64_t i = 0; i < x->n * kw; i++) a[i] = (uint64_t)bc_rng_u32(key, 2 * i) << 32 | bc_rng_u32(key, 2 * i + 1);
    key.chip = 1;
    for (int64_t i = 0; i < x->m * kw; i++) b[i] = (uint64_t)bc_rng_u32(key, 2 * i) << 32 | bc_rng_u32(key, 2 * i + 1);
    if (x->k % 64) { /* keep the padding-bits-zero invariant */
        const uint64_t keep = (1ull << (x->k % 64)) - 1;
        for (int64_t i = 0; i < x->n; i++) a[i * kw + kw - 1] &= keep;
        for (int64_t j = 0; j < x->m; j++) b[j * kw + kw - 1] &= keep;
    }
    x->kern->xnor_gemm(out, x->m, a, kw, b, kw, x->n, x->m, x->k); /* warm-up */
    int64_t reps = 0;
    const double t0 = now_s();
    double t;
    do {
        x->kern->xnor_gemm(out, x->m, a, kw, b, kw, x->n, x->m, x->k);
        reps++;
    } while ((t = now_s() - t0) < seconds);
    free(a), free(b), free(out);
    return (double)x->n * (double)x->m * (double)x->k * (double)reps / t;
}

typedef struct {
    const bc__i8_kernels *kern;
    int64_t m, n, k;
} i8_arg;

/* m rows of {0, 1, 2} inputs x a packed (k, n) int8 B: one CIM row group's MACs. */
static double bench_i8(const void *arg, double seconds) {
    const i8_arg *x = arg;
    const int64_t lda = bc__i8_quads(x->k) * 4;
    uint8_t *a = bc__alloc((size_t)(x->m * lda));
    int8_t *bt = bc__alloc((size_t)(x->n * x->k) + 1), *bp = bc__alloc((size_t)bc__i8_packed_bytes(x->k, x->n));
    int32_t *c = bc__alloc((size_t)(x->m * x->n) * sizeof *c);
    if (!a || !bt || !bp || !c) { free(a), free(bt), free(bp), free(c); return 0; }
    for (int64_t i = 0; i < x->m * lda; i++) a[i] = (uint8_t)(i % 3);
    for (int64_t i = 0; i < x->n * x->k; i++) bt[i] = (int8_t)(i % 129 - 64);
    bc__i8_pack_b(bp, bt, x->k, x->k, x->n);
    x->kern->gemm(c, x->n, a, lda, bp, x->m, x->n, x->k); /* warm-up */
    int64_t reps = 0;
    const double t0 = now_s();
    double t;
    do {
        x->kern->gemm(c, x->n, a, lda, bp, x->m, x->n, x->k);
        reps++;
    } while ((t = now_s() - t0) < seconds);
    free(a), free(bt), free(bp), free(c);
    return (double)x->m * (double)x->n * (double)x->k * (double)reps / t;
}

/* Total rate of `threads` threads, each running fn on its own data at the same time. */
static double run_threads(bench_fn fn, const void *arg, int threads, double seconds) {
    double total = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : total)
    total += fn(arg, seconds);
#else
    (void)threads;
    total = fn(arg, seconds);
#endif
    return total;
}

static void usage(FILE *f) {
    fprintf(f, "usage: bc_kernel_peak [--threads N] [--seconds S] [--shapes]\n"
               "  --threads N   threads for the multi-thread numbers [2]\n"
               "  --seconds S   time per measurement [0.5]\n"
               "  --shapes      also time every variant on the typical conv / dense shapes\n");
}

int main(int argc, char **argv) {
    int threads = 2;
    double seconds = 0.5;
    bool shapes = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--shapes")) {
            shapes = true;
        } else {
            usage(strcmp(argv[i], "--help") ? stderr : stdout);
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (threads < 1 || threads > 1024 || !(seconds > 0)) {
        usage(stderr);
        return 2;
    }
    openblas_set_num_threads(1); /* parallelism comes from independent problems per thread */
    const bc_cpu cpu = bc_cpu_detect();
    const bc__bin_kernels *best = bc__bin_kernels_for(cpu), *scalar = bc__bin_kernels_for(BC_CPU_SCALAR);
    const xnor_arg xb = {best, PEAK_N, PEAK_M, PEAK_K}, xs = {scalar, PEAK_N, PEAK_M, PEAK_K};

    printf("threads=%d\n", threads);
    printf("cpu=%s\n", bc_cpu_name(cpu));
    printf("xnor_kernel=%s\n", best->name);
    printf("xnor_shape=%dx%dx%d\n", PEAK_N, PEAK_M, PEAK_K);
    printf("sgemm_gflops_1t=%.1f\n", run_threads(bench_sgemm, NULL, 1, seconds) * 1e-9);
    printf("sgemm_gflops=%.1f\n", run_threads(bench_sgemm, NULL, threads, seconds) * 1e-9);
    const bc__bf16_kernels *bf = bc__bf16_kernels_for(cpu);
    printf("bf16_kernel=%s\n", bf ? bf->name : "none");
    if (bf) {
        const bgemm_arg bg = {bf, false, false, SGEMM_N, SGEMM_N, SGEMM_N};
        printf("bgemm_gflops_1t=%.1f\n", run_threads(bench_bgemm, &bg, 1, seconds) * 1e-9);
        printf("bgemm_gflops=%.1f\n", run_threads(bench_bgemm, &bg, threads, seconds) * 1e-9);
    }
    printf("xnor_gmacs_1t=%.1f\n", run_threads(bench_xnor, &xb, 1, seconds) * 1e-9);
    printf("xnor_gmacs=%.1f\n", run_threads(bench_xnor, &xb, threads, seconds) * 1e-9);
    printf("xnor_scalar_gmacs_1t=%.1f\n", run_threads(bench_xnor, &xs, 1, seconds) * 1e-9);
    printf("xnor_scalar_gmacs=%.1f\n", run_threads(bench_xnor, &xs, threads, seconds) * 1e-9);
    const i8_arg ib = {bc__i8_kernels_for(cpu), 128, 512, 128};
    printf("i8_kernel=%s\n", ib.kern->name);
    printf("i8_gmacs_1t_128x512x128=%.1f\n", run_threads(bench_i8, &ib, 1, seconds) * 1e-9);
    fflush(stdout);

    if (shapes) {
        /* (n, m, k): conv im2col rows x output channels x 9*C_in, then dense layers. */
        static const int64_t sh[][3] = {{6272, 64, 576},  {3136, 128, 1152}, {1960, 256, 2304},
                                        {1960, 512, 2304}, {500, 1024, 784},  {500, 1024, 1024},
                                        {100, 1024, 1024}, {500, 512, 2304}};
        for (int c = 0; c <= (int)cpu; c++) {
            const bc__bin_kernels *kern = bc__bin_kernels_for((bc_cpu)c);
            for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
                const xnor_arg x = {kern, sh[s][0], sh[s][1], sh[s][2]};
                const double secs = c == 0 ? seconds * 0.5 : seconds;
                printf("xnor_gmacs_1t_%s_%lldx%lldx%lld=%.1f\n", kern->name, (long long)x.n, (long long)x.m,
                       (long long)x.k, run_threads(bench_xnor, &x, 1, secs) * 1e-9);
                fflush(stdout);
            }
        }
        /* vgg-small-bnn's backward GEMMs per im2col chunk (batch 100): dW = dY^T X (out, K, rows)
         * and a dX block dY sign(W) (256 rows, K, out) with sign(W) pre-packed. */
        static const struct { const char *name; bool ta, pre; int64_t m, n, k; } bsh[] = {
            {"conv2_dw", true, false, 64, 576, 3136},   {"conv2_dx", false, true, 256, 576, 64},
            {"conv4_dw", true, false, 128, 1152, 1225}, {"conv4_dx", false, true, 256, 1152, 128},
            {"conv6_dw", true, false, 256, 2304, 612},  {"conv6_dx", false, true, 256, 2304, 256}};
        static const char *bnames[] = {"sgemm", "scalar", "avx512bf16", "amx"};
        for (size_t v = 0; v < sizeof bnames / sizeof bnames[0]; v++) {
            const bc__bf16_kernels *kern = v ? bc__bf16_kernels_named(bnames[v]) : NULL;
            if (v && !kern) continue;
            for (size_t s = 0; s < sizeof bsh / sizeof bsh[0]; s++) {
                const bgemm_arg x = {kern, bsh[s].ta, bsh[s].pre, bsh[s].m, bsh[s].n, bsh[s].k};
                printf("gemm_gflops_1t_%s_%s=%.1f\n", bnames[v], bsh[s].name,
                       run_threads(bench_bgemm, &x, 1, v == 1 ? seconds * 0.5 : seconds) * 1e-9);
                fflush(stdout);
            }
        }
        /* (m, n, k): 128 rows per task, a layer's columns, one 128-row group (and rows_on = 32). */
        static const int64_t ish[][3] = {{128, 64, 128}, {128, 128, 128}, {128, 256, 128}, {128, 512, 128},
                                         {1024, 128, 128}, {128, 256, 32}};
        for (int c = 0; c <= (int)cpu; c++) {
            const bc__i8_kernels *kern = bc__i8_kernels_for((bc_cpu)c);
            for (size_t s = 0; s < sizeof ish / sizeof ish[0]; s++) {
                const i8_arg x = {kern, ish[s][0], ish[s][1], ish[s][2]};
                printf("i8_gmacs_1t_%s_%lldx%lldx%lld=%.1f\n", kern->name, (long long)x.m, (long long)x.n,
                       (long long)x.k, run_threads(bench_i8, &x, 1, c == 0 ? seconds * 0.5 : seconds) * 1e-9);
                fflush(stdout);
            }
        }
    }
    return 0;
}
