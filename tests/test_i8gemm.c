/* The u8 x s8 GEMM of the CIM integer path: packing + scalar reference against a naive
 * product of the unpacked matrices; every available SIMD variant against the reference bit
 * for bit on shapes that cross every register block and tail (rows, k, columns), with
 * garbage in the input bytes past k and sentinels in the output columns past n; the extreme
 * sums (all inputs 2, all weights +-127); dispatch names. */
#include "bc_internal.h"
#include "bc_test.h"
#include "kernels/i8gemm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SENTINEL_I ((int32_t)0x5a5a5a5a)

/* a (m, lda) in {0, 1, 2} for t < k, 0xff past k (must meet zero weights). */
static uint8_t *rand_a(bc_rng_key key, int64_t m, int64_t lda, int64_t k) {
    uint8_t *a = malloc((size_t)(m * lda + 1));
    for (int64_t i = 0; i < m; i++)
        for (int64_t t = 0; t < lda; t++) a[i * lda + t] = t < k ? (uint8_t)(bc_rng_u32(key, (uint64_t)(i * lda + t)) % 3) : 0xff;
    return a;
}

/* bt (n, ldb) in [-127, 127]. */
static int8_t *rand_bt(bc_rng_key key, int64_t n, int64_t ldb) {
    int8_t *b = malloc((size_t)(n * ldb + 1));
    for (int64_t i = 0; i < n * ldb; i++) b[i] = (int8_t)((int32_t)(bc_rng_u32(key, (uint64_t)i) % 255) - 127);
    return b;
}

static int8_t *packed(const int8_t *bt, int64_t ldb, int64_t k, int64_t n) {
    int8_t *bp = malloc((size_t)bc__i8_packed_bytes(k, n) + 1);
    bc__i8_pack_b(bp, bt, ldb, k, n);
    return bp;
}

static void test_ref_vs_naive(void) {
    static const int64_t ks[] = {1, 3, 4, 5, 17, 128, 129};
    bc_rng_key key = {.seed = 21, .purpose = BC_RNG_TEST, .layer = 1};
    for (size_t s = 0; s < sizeof ks / sizeof ks[0]; s++) {
        const int64_t k = ks[s], m = 5, n = 83, lda = k + 7, ldb = k + 2; /* 2 panels, the last 32 wide */
        key.chip = (uint32_t)s;
        uint8_t *a = rand_a(key, m, lda, k);
        key.chip += 100;
        int8_t *bt = rand_bt(key, n, ldb), *bp = packed(bt, ldb, k, n);
        int32_t *c = malloc((size_t)(m * n) * sizeof *c);
        bc__i8_gemm_ref(c, n, a, lda, bp, m, n, k);
        int bad = 0;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                int64_t dot = 0;
                for (int64_t t = 0; t < k; t++) dot += a[i * lda + t] * bt[j * ldb + t];
                bad += c[i * n + j] != dot;
            }
        BC_CHECK_MSG(bad == 0, "k=%lld: %d of %lld sums wrong", (long long)k, bad, (long long)(m * n));
        /* Padding of the packed layout is zero. */
        const int64_t np = bc__i8_cols(n), kq = bc__i8_quads(k);
        int bad_pad = 0;
        for (int64_t q = 0; q < kq; q++)
            for (int64_t j = 0; j < np; j++)
                for (int64_t t = 0; t < 4; t++)
                    if (j >= n || 4 * q + t >= k) bad_pad += bp[bc__i8_b_offset(k, n, q, j) + t] != 0;
        BC_CHECK_MSG(bad_pad == 0, "k=%lld: %d padding bytes not zero", (long long)k, bad_pad);
        free(a), free(bt), free(bp), free(c);
    }
}

/* One shape: variant vs reference with non-minimal leading dimensions. */
static void check_gemm(const bc__i8_kernels *kern, int64_t m, int64_t n, int64_t k, uint64_t seed) {
    const int64_t lda = bc__i8_quads(k) * 4 + (int64_t)(seed % 5), ldb = k + 1, ldc = n + (int64_t)(seed % 3);
    bc_rng_key key = {.seed = seed, .purpose = BC_RNG_TEST, .layer = 2};
    uint8_t *a = rand_a(key, m, lda, k);
    key.chip = 1;
    int8_t *bt = rand_bt(key, n, ldb), *bp = packed(bt, ldb, k, n);
    int32_t *want = malloc((size_t)(m * ldc + 1) * sizeof *want), *got = malloc((size_t)(m * ldc + 1) * sizeof *got);
    for (int64_t i = 0; i < m * ldc; i++) want[i] = got[i] = SENTINEL_I;
    bc__i8_gemm_ref(want, ldc, a, lda, bp, m, n, k);
    kern->gemm(got, ldc, a, lda, bp, m, n, k);
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < m * ldc; i++)
        if (want[i] != got[i]) bad++, first = first < 0 ? i : first;
    BC_CHECK_MSG(bad == 0, "%s m=%lld n=%lld k=%lld: %lld wrong, first at (%lld, %lld): %d vs %d", kern->name,
                 (long long)m, (long long)n, (long long)k, (long long)bad, (long long)(first / ldc),
                 (long long)(first % ldc), bad ? got[first] : 0, bad ? want[first] : 0);
    free(a), free(bt), free(bp), free(want), free(got);
}

static void test_gemm(const bc__i8_kernels *kern) {
    static const int64_t ks[] = {1, 2, 3, 4, 5, 7, 31, 64, 127, 128, 129, 576};
    static const int64_t ns[] = {1, 7, 15, 16, 17, 33, 48, 63, 64, 65, 100, 130};
    uint64_t seed = 300;
    for (size_t s = 0; s < sizeof ks / sizeof ks[0]; s++)
        for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++)
            for (int64_t m = 1; m <= 13; m += 4) check_gemm(kern, m, ns[t], ks[s], seed++);
    /* The executor's shapes: 128-row blocks, 128-row groups, 64..512 columns. */
    check_gemm(kern, 128, 512, 128, seed++);
    check_gemm(kern, 131, 70, 180, seed++);
    check_gemm(kern, 257, 256, 64, seed++);
    /* Degenerate: no rows, k = 0 (sums 0). */
    check_gemm(kern, 0, 5, 64, seed++);
    check_gemm(kern, 3, 4, 0, seed++);
}

/* The largest sums: inputs all 2 against weights +127 / -127 (no int16 saturation on the way). */
static void test_extremes(const bc__i8_kernels *kern) {
    const int64_t m = 7, n = 37, k = 1031, lda = k + 1;
    uint8_t *a = malloc((size_t)(m * lda));
    int8_t *bt = malloc((size_t)(n * k));
    memset(a, 2, (size_t)(m * lda));
    for (int64_t j = 0; j < n; j++) memset(bt + j * k, j % 2 ? -127 : 127, (size_t)k);
    int8_t *bp = packed(bt, k, k, n);
    int32_t *c = malloc((size_t)(m * n) * sizeof *c);
    kern->gemm(c, n, a, lda, bp, m, n, k);
    int bad = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) bad += c[i * n + j] != (j % 2 ? -254 : 254) * (int32_t)k;
    BC_CHECK_MSG(bad == 0, "%s: %d extreme sums wrong", kern->name, bad);
    free(a), free(bt), free(bp), free(c);
}

static void test_dispatch(void) {
    BC_CHECK(strcmp(bc__i8_kernels_for(BC_CPU_SCALAR)->name, "scalar") == 0);
    const bc_cpu best = bc_cpu_detect();
    if (best >= BC_CPU_AVX2) BC_CHECK(strcmp(bc__i8_kernels_for(BC_CPU_AVX2)->name, "avx2") == 0);
    if (best >= BC_CPU_AVX512) {
        const char *nm = bc__i8_kernels_for(BC_CPU_AVX512)->name;
        BC_CHECK(!strcmp(nm, "avx512vnni") || !strcmp(nm, "avx2"));
    }
}

int main(void) {
    test_ref_vs_naive();
    test_dispatch();
    for (int c = 0; c <= (int)bc_cpu_detect(); c++) {
        const bc__i8_kernels *kern = bc__i8_kernels_for((bc_cpu)c);
        printf("variant %s\n", kern->name);
        test_gemm(kern);
        test_extremes(kern);
    }
    return bc_t_report();
}
