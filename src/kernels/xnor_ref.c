/* Scalar reference binary kernels (portable C, no ISA flags) and the run-time choice of
 * table. Layout and sign conventions are in xnor.h. */
#include "kernels/xnor.h"

/* Portable popcount: GCC lowers __builtin_popcountll to a libgcc call without -mpopcnt,
 * which is slower than this SWAR sum. */
static inline int64_t bc__popcount64(uint64_t x) {
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (int64_t)((x * 0x0101010101010101ull) >> 56);
}

void bc__xnor_gemm_ref(int32_t *restrict out, int64_t ldo, const uint64_t *restrict a, int64_t lda,
                       const uint64_t *restrict b, int64_t ldb, int64_t n, int64_t m, int64_t k) {
    const int64_t kw = bc__b1_words(k);
    for (int64_t i = 0; i < n; i++) {
        const uint64_t *ai = a + i * lda;
        for (int64_t j = 0; j < m; j++) {
            const uint64_t *bj = b + j * ldb;
            int64_t diff = 0; /* elements whose signs differ */
            for (int64_t w = 0; w < kw; w++) diff += bc__popcount64(ai[w] ^ bj[w]);
            out[i * ldo + j] = (int32_t)(k - 2 * diff);
        }
    }
}

void bc__pack_signs_ref(uint64_t *restrict out, int64_t ldo, const float *restrict x, int64_t ldx,
                        int64_t rows, int64_t k) {
    const int64_t kw = bc__b1_words(k);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        for (int64_t w = 0; w < kw; w++) {
            const int64_t e0 = w * 64, ne = k - e0 < 64 ? k - e0 : 64;
            uint64_t bits = 0; /* bits past k stay 0 */
            for (int64_t e = 0; e < ne; e++) bits |= (uint64_t)(xr[e0 + e] >= 0.0f) << e;
            out[r * ldo + w] = bits;
        }
    }
}

void bc__threshold_pack_ref(uint64_t *restrict out, int64_t ldo, const int32_t *restrict x, int64_t ldx,
                            const int32_t *restrict mul, const int32_t *restrict thr, int64_t rows, int64_t k) {
    const int64_t words = bc__b1_words(k);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t w = 0; w < words; w++) {
            uint64_t word = 0;
            for (int64_t j = w * 64; j < k && j < w * 64 + 64; j++)
                word |= (uint64_t)(mul[j] * x[r * ldx + j] >= thr[j]) << (j % 64);
            out[r * ldo + w] = word;
        }
}

static const bc__bin_kernels bc__bin_kernels_scalar = {
    .name = "scalar", .xnor_gemm = bc__xnor_gemm_ref, .pack_signs = bc__pack_signs_ref,
    .threshold_pack = bc__threshold_pack_ref, .affine_pack = bc__affine_pack_ref, .conv_direct = bc__conv_direct_ref};

const bc__bin_kernels *bc__bin_kernels_for(bc_cpu cpu) {
#if defined(__x86_64__)
    if (cpu >= BC_CPU_AVX512) return &bc__bin_kernels_avx512;
    if (cpu >= BC_CPU_AVX2) return &bc__bin_kernels_avx2;
#endif
    (void)cpu;
    return &bc__bin_kernels_scalar;
}
