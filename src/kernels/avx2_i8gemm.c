/* AVX2 u8 x s8 GEMM: vpmaddubsw multiplies 4 k of 8 columns into int16 pair sums (at most
 * 2 * 2 * 127: no saturation in the executor's range, see i8gemm.h), vpmaddwd against ones
 * adds the pairs into int32. Conventions in i8gemm.h; results match bc__i8_gemm_ref bit for
 * bit. Register block: RA rows x NV vectors of 8 columns, in 16 ymm registers. */
#if defined(__x86_64__)
#include "kernels/i8gemm.h"

#include <immintrin.h>
#include <string.h>

#define BC__I2_NV 2 /* ymm column vectors per block: 16 columns, the packing's column unit */
#define BC__I2_RA 4 /* rows per register block */

/* ra rows (constant after inlining) x 16 columns; only `valid` (1..16) columns are stored.
 * bp: the first column's quad 0 in its panel; pw: bytes per quad row of the panel. */
static inline __attribute__((always_inline)) void
bc__i2_block(int32_t *restrict c, int64_t ldc, const uint8_t *restrict a, int64_t lda, const int8_t *restrict bp,
             int64_t pw, int64_t kq, const int ra, int64_t valid) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[BC__I2_RA][BC__I2_NV];
#pragma GCC unroll 4
    for (int r = 0; r < ra; r++)
        for (int v = 0; v < BC__I2_NV; v++) acc[r][v] = _mm256_setzero_si256();
    for (int64_t q = 0; q < kq; q++) {
        __m256i b[BC__I2_NV];
        for (int v = 0; v < BC__I2_NV; v++) b[v] = _mm256_loadu_si256((const __m256i *)(bp + q * pw + 32 * v));
#pragma GCC unroll 4
        for (int r = 0; r < ra; r++) {
            int32_t w;
            memcpy(&w, a + r * lda + 4 * q, sizeof w);
            const __m256i av = _mm256_set1_epi32(w);
            for (int v = 0; v < BC__I2_NV; v++)
                acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b[v]), ones));
        }
    }
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
#pragma GCC unroll 4
    for (int r = 0; r < ra; r++)
        for (int v = 0; v < BC__I2_NV; v++) {
            const int64_t cnt = valid - 8 * v;
            int32_t *o = c + r * ldc + 8 * v;
            if (cnt >= 8) _mm256_storeu_si256((__m256i *)o, acc[r][v]);
            else if (cnt > 0) _mm256_maskstore_epi32(o, _mm256_cmpgt_epi32(_mm256_set1_epi32((int)cnt), iota), acc[r][v]);
        }
}

static void bc__i8_gemm_avx2(int32_t *restrict c, int64_t ldc, const uint8_t *restrict a, int64_t lda,
                             const int8_t *restrict bp, int64_t m, int64_t n, int64_t k) {
    const int64_t np = bc__i8_cols(n), kq = bc__i8_quads(k);
    for (int64_t j0 = 0; j0 < n; j0 += 8 * BC__I2_NV) {
        const int64_t valid = n - j0 < 8 * BC__I2_NV ? n - j0 : 8 * BC__I2_NV;
        const int64_t p0 = j0 / BC__I8_PANEL * BC__I8_PANEL, pw = 4 * (np - p0 < BC__I8_PANEL ? np - p0 : BC__I8_PANEL);
        int32_t *cj = c + j0;
        const int8_t *bj = bp + bc__i8_b_offset(k, n, 0, j0);
        int64_t i = 0;
        for (; i + BC__I2_RA <= m; i += BC__I2_RA) bc__i2_block(cj + i * ldc, ldc, a + i * lda, lda, bj, pw, kq, BC__I2_RA, valid);
        switch (m - i) {
        case 3: bc__i2_block(cj + i * ldc, ldc, a + i * lda, lda, bj, pw, kq, 3, valid); break;
        case 2: bc__i2_block(cj + i * ldc, ldc, a + i * lda, lda, bj, pw, kq, 2, valid); break;
        case 1: bc__i2_block(cj + i * ldc, ldc, a + i * lda, lda, bj, pw, kq, 1, valid); break;
        default: break;
        }
    }
}

const bc__i8_kernels bc__i8_kernels_avx2 = {.name = "avx2", .gemm = bc__i8_gemm_avx2};
#endif
