/* AVX2 binary kernels: XNOR-popcount GEMM and sign packing. Conventions in xnor.h; results
 * match bc__xnor_gemm_ref / bc__pack_signs_ref bit for bit.
 *
 * GEMM scheme: as in avx512_xnor.c, b rows are transposed into panels (here of 4 rows, one
 * u64 lane each), and a broadcast word of an a row XORs against a whole panel. AVX2 has no
 * vector popcount, so bytes are counted with the vpshufb nibble table into byte
 * accumulators, which vpsadbw folds into u64 lanes every 31 words (8 * 31 < 256). */
#if defined(__x86_64__)
#include "kernels/xnor.h"

#include <immintrin.h>
#include <stdbool.h>

#define BC__X2_PW 4                          /* b rows per panel: u64 lanes in a ymm */
#define BC__X2_RP 2                          /* panels per block */
#define BC__X2_JB (BC__X2_PW * BC__X2_RP)    /* b rows per block */
#define BC__X2_RA 3                          /* a rows per register block (RA*RP <= 6 fits 16 ymm) */
#define BC__X2_KC 64                         /* words per k chunk */
#define BC__X2_IB 256                        /* a rows per i block */
#define BC__X2_SUB 31                        /* words per byte-accumulator run */

static void bc__x2_pack_panel(uint64_t *restrict panel, const uint64_t *restrict b, int64_t ldb,
                              int64_t nj, int64_t w0, int64_t kc) {
    for (int64_t jj = 0; jj < BC__X2_JB; jj++) {
        if (jj < nj) {
            const uint64_t *bj = b + jj * ldb + w0;
            for (int64_t w = 0; w < kc; w++) panel[w * BC__X2_JB + jj] = bj[w];
        } else {
            for (int64_t w = 0; w < kc; w++) panel[w * BC__X2_JB + jj] = 0;
        }
    }
}

static inline __attribute__((always_inline)) void
bc__x2_block(int32_t *restrict out, int64_t ldo, const uint64_t *restrict a, int64_t lda,
             const uint64_t *restrict panel, int64_t kc, const int ra, int64_t nj, int64_t k,
             bool first) {
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i m4 = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    __m256i acc[BC__X2_RA][BC__X2_RP]; /* u64 lanes: differing bits per (a row, b row) */
#pragma GCC unroll 8
    for (int r = 0; r < ra; r++)
#pragma GCC unroll 8
        for (int q = 0; q < BC__X2_RP; q++) acc[r][q] = zero;
    for (int64_t ws = 0; ws < kc; ws += BC__X2_SUB) {
        const int64_t we = kc - ws < BC__X2_SUB ? kc : ws + BC__X2_SUB;
        __m256i c8[BC__X2_RA][BC__X2_RP]; /* byte counts, at most 8 per word */
#pragma GCC unroll 8
        for (int r = 0; r < ra; r++)
#pragma GCC unroll 8
            for (int q = 0; q < BC__X2_RP; q++) c8[r][q] = zero;
        for (int64_t w = ws; w < we; w++) {
            __m256i p[BC__X2_RP];
#pragma GCC unroll 8
            for (int q = 0; q < BC__X2_RP; q++)
                p[q] = _mm256_loadu_si256((const __m256i *)(panel + w * BC__X2_JB + q * BC__X2_PW));
#pragma GCC unroll 8
            for (int r = 0; r < ra; r++) {
                const __m256i av = _mm256_set1_epi64x((long long)a[r * lda + w]);
#pragma GCC unroll 8
                for (int q = 0; q < BC__X2_RP; q++) {
                    const __m256i x = _mm256_xor_si256(av, p[q]);
                    const __m256i lo = _mm256_and_si256(x, m4);
                    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);
                    c8[r][q] = _mm256_add_epi8(c8[r][q], _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo),
                                                                         _mm256_shuffle_epi8(lut, hi)));
                }
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < ra; r++)
#pragma GCC unroll 8
            for (int q = 0; q < BC__X2_RP; q++) acc[r][q] = _mm256_add_epi64(acc[r][q], _mm256_sad_epu8(c8[r][q], zero));
    }
#pragma GCC unroll 8
    for (int r = 0; r < ra; r++)
#pragma GCC unroll 8
        for (int q = 0; q < BC__X2_RP; q++) {
            const int64_t j0 = q * BC__X2_PW;
            if (j0 >= nj) break;
            /* u64 lane -> int32: take the low dword of each lane (counts fit easily). */
            const __m256i lo32 = _mm256_permutevar8x32_epi32(_mm256_slli_epi64(acc[r][q], 1),
                                                             _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
            int32_t d2[BC__X2_PW];
            _mm_storeu_si128((__m128i *)d2, _mm256_castsi256_si128(lo32));
            int32_t *o = out + r * ldo + j0;
            const int64_t nv = nj - j0 < BC__X2_PW ? nj - j0 : BC__X2_PW;
            for (int64_t l = 0; l < nv; l++) o[l] = first ? (int32_t)(k - d2[l]) : o[l] - d2[l];
        }
}

static void bc__xnor_gemm_avx2(int32_t *restrict out, int64_t ldo, const uint64_t *restrict a, int64_t lda,
                               const uint64_t *restrict b, int64_t ldb, int64_t n, int64_t m, int64_t k) {
    const int64_t kw = bc__b1_words(k);
    if (kw == 0) { /* empty rows: every dot is 0 */
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < m; j++) out[i * ldo + j] = 0;
        return;
    }
    uint64_t panel[BC__X2_KC * BC__X2_JB];
    for (int64_t w0 = 0; w0 < kw; w0 += BC__X2_KC) {
        const int64_t kc = kw - w0 < BC__X2_KC ? kw - w0 : BC__X2_KC;
        const bool first = w0 == 0;
        for (int64_t i0 = 0; i0 < n; i0 += BC__X2_IB) {
            const int64_t i1 = n - i0 < BC__X2_IB ? n : i0 + BC__X2_IB;
            for (int64_t j0 = 0; j0 < m; j0 += BC__X2_JB) {
                const int64_t nj = m - j0 < BC__X2_JB ? m - j0 : BC__X2_JB;
                bc__x2_pack_panel(panel, b + j0 * ldb, ldb, nj, w0, kc);
                int64_t i = i0;
                for (; i + BC__X2_RA <= i1; i += BC__X2_RA)
                    bc__x2_block(out + i * ldo + j0, ldo, a + i * lda + w0, lda, panel, kc, BC__X2_RA, nj, k, first);
                switch (i1 - i) { /* constant ra per call, so each tail gets its own unrolled body */
                case 2: bc__x2_block(out + i * ldo + j0, ldo, a + i * lda + w0, lda, panel, kc, 2, nj, k, first); break;
                case 1: bc__x2_block(out + i * ldo + j0, ldo, a + i * lda + w0, lda, panel, kc, 1, nj, k, first); break;
                default: break;
                }
            }
        }
    }
}

static void bc__pack_signs_avx2(uint64_t *restrict out, int64_t ldo, const float *restrict x, int64_t ldx,
                                int64_t rows, int64_t k) {
    const int64_t kw = bc__b1_words(k);
    const __m256 zero = _mm256_setzero_ps();
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        for (int64_t w = 0; w < kw; w++) {
            const float *xw = xr + w * 64;
            const int64_t ne = k - w * 64 < 64 ? k - w * 64 : 64;
            uint64_t bits = 0;
            int64_t e = 0;
            for (; e + 8 <= ne; e += 8) /* ordered >= : -0.0 gives 1, NaN gives 0 */
                bits |= (uint64_t)(uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(xw + e), zero, _CMP_GE_OQ)) << e;
            for (; e < ne; e++) bits |= (uint64_t)(xw[e] >= 0.0f) << e; /* tail of the last word */
            out[r * ldo + w] = bits;
        }
    }
}

const bc__bin_kernels bc__bin_kernels_avx2 = {
    .name = "avx2", .xnor_gemm = bc__xnor_gemm_avx2, .pack_signs = bc__pack_signs_avx2,
    .threshold_pack = bc__threshold_pack_ref, .affine_pack = bc__affine_pack_ref, .conv_direct = bc__conv_direct_ref};
#endif
