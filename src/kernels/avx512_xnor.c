/* AVX-512 binary kernels (F + BW + VPOPCNTDQ): XNOR-popcount GEMM and sign packing.
 * Conventions in xnor.h; results match bc__xnor_gemm_ref / bc__pack_signs_ref bit for bit.
 *
 * GEMM scheme: b rows are transposed into panels of 8 rows (one u64 lane per row), so one
 * word of an a row, broadcast, XORs against 8 b rows at once. Every zmm op then does 512
 * useful bit-MACs whatever k is: no horizontal sums and no wasted lanes on a short k (9
 * words for a 3x3x64 conv), which a layout vectorised along k would have. */
#if defined(__x86_64__)
#include "kernels/xnor.h"

#include <immintrin.h>
#include <stdbool.h>

#define BC__X5_PW 8                          /* b rows per panel: u64 lanes in a zmm */
#define BC__X5_RP 4                          /* panels per block */
#define BC__X5_JB (BC__X5_PW * BC__X5_RP)    /* b rows per block */
#define BC__X5_RA 4                          /* a rows per register block: RA*RP accumulators */
#define BC__X5_KC 64                         /* words per k chunk: 16 KiB panel, in L1 */
#define BC__X5_IB 512                        /* a rows per i block: <= 256 KiB, stays in L2 */

/* panel[w*JB + jj] = b row jj, word w0+w, for w < kc; rows jj >= nj are zero. */
static void bc__x5_pack_panel(uint64_t *restrict panel, const uint64_t *restrict b, int64_t ldb,
                              int64_t nj, int64_t w0, int64_t kc) {
    for (int64_t jj = 0; jj < BC__X5_JB; jj++) {
        if (jj < nj) {
            const uint64_t *bj = b + jj * ldb + w0;
            for (int64_t w = 0; w < kc; w++) panel[w * BC__X5_JB + jj] = bj[w];
        } else {
            for (int64_t w = 0; w < kc; w++) panel[w * BC__X5_JB + jj] = 0;
        }
    }
}

/* ra (constant after inlining) a rows x JB b rows over one k chunk. The first chunk stores
 * k - 2*diff; later chunks subtract their 2*diff from what is there. */
static inline __attribute__((always_inline)) void
bc__x5_block(int32_t *restrict out, int64_t ldo, const uint64_t *restrict a, int64_t lda,
             const uint64_t *restrict panel, int64_t kc, const int ra, int64_t nj, int64_t k,
             bool first) {
    __m512i acc[BC__X5_RA][BC__X5_RP];
#pragma GCC unroll 8
    for (int r = 0; r < ra; r++)
#pragma GCC unroll 8
        for (int q = 0; q < BC__X5_RP; q++) acc[r][q] = _mm512_setzero_si512();
    for (int64_t w = 0; w < kc; w++) {
        __m512i p[BC__X5_RP];
#pragma GCC unroll 8
        for (int q = 0; q < BC__X5_RP; q++) p[q] = _mm512_loadu_si512(panel + w * BC__X5_JB + q * BC__X5_PW);
#pragma GCC unroll 8
        for (int r = 0; r < ra; r++) {
            const __m512i av = _mm512_set1_epi64((long long)a[r * lda + w]);
#pragma GCC unroll 8
            for (int q = 0; q < BC__X5_RP; q++)
                acc[r][q] = _mm512_add_epi64(acc[r][q], _mm512_popcnt_epi64(_mm512_xor_si512(av, p[q])));
        }
    }
    const __m512i kv = _mm512_set1_epi64(k);
#pragma GCC unroll 8
    for (int r = 0; r < ra; r++)
#pragma GCC unroll 8
        for (int q = 0; q < BC__X5_RP; q++) {
            const int64_t valid = nj - q * BC__X5_PW;
            if (valid <= 0) break;
            const __mmask8 mk = valid >= 8 ? 0xff : (__mmask8)((1u << valid) - 1);
            int32_t *o = out + r * ldo + q * BC__X5_PW;
            const __m512i d2 = _mm512_slli_epi64(acc[r][q], 1);
            __m512i v;
            if (first) {
                v = _mm512_sub_epi64(kv, d2);
            } else { /* F-only masked load: the low 8 of 16 int32 lanes */
                const __m512i old = _mm512_maskz_loadu_epi32((__mmask16)mk, o);
                v = _mm512_sub_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(old)), d2);
            }
            _mm512_mask_cvtepi64_storeu_epi32(o, mk, v);
        }
}

static void bc__xnor_gemm_avx512(int32_t *restrict out, int64_t ldo, const uint64_t *restrict a, int64_t lda,
                                 const uint64_t *restrict b, int64_t ldb, int64_t n, int64_t m, int64_t k) {
    const int64_t kw = bc__b1_words(k);
    if (kw == 0) { /* empty rows: every dot is 0 */
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < m; j++) out[i * ldo + j] = 0;
        return;
    }
    uint64_t panel[BC__X5_KC * BC__X5_JB];
    for (int64_t w0 = 0; w0 < kw; w0 += BC__X5_KC) {
        const int64_t kc = kw - w0 < BC__X5_KC ? kw - w0 : BC__X5_KC;
        const bool first = w0 == 0;
        for (int64_t i0 = 0; i0 < n; i0 += BC__X5_IB) {
            const int64_t i1 = n - i0 < BC__X5_IB ? n : i0 + BC__X5_IB;
            for (int64_t j0 = 0; j0 < m; j0 += BC__X5_JB) {
                const int64_t nj = m - j0 < BC__X5_JB ? m - j0 : BC__X5_JB;
                bc__x5_pack_panel(panel, b + j0 * ldb, ldb, nj, w0, kc);
                int64_t i = i0;
                for (; i + BC__X5_RA <= i1; i += BC__X5_RA)
                    bc__x5_block(out + i * ldo + j0, ldo, a + i * lda + w0, lda, panel, kc, BC__X5_RA, nj, k, first);
                switch (i1 - i) { /* constant ra per call, so each tail gets its own unrolled body */
                case 3: bc__x5_block(out + i * ldo + j0, ldo, a + i * lda + w0, lda, panel, kc, 3, nj, k, first); break;
                case 2: bc__x5_block(out + i * ldo + j0, ldo, a + i * lda + w0, lda, panel, kc, 2, nj, k, first); break;
                case 1: bc__x5_block(out + i * ldo + j0, ldo, a + i * lda + w0, lda, panel, kc, 1, nj, k, first); break;
                default: break;
                }
            }
        }
    }
}

static void bc__pack_signs_avx512(uint64_t *restrict out, int64_t ldo, const float *restrict x, int64_t ldx,
                                  int64_t rows, int64_t k) {
    const int64_t kw = bc__b1_words(k);
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        for (int64_t w = 0; w < kw; w++) {
            const float *xw = xr + w * 64;
            const int64_t ne = k - w * 64;
            uint64_t bits = 0;
            if (ne >= 64) {
                for (int s = 0; s < 4; s++) /* ordered >= : -0.0 gives 1, NaN gives 0 */
                    bits |= (uint64_t)_mm512_cmp_ps_mask(_mm512_loadu_ps(xw + 16 * s), zero, _CMP_GE_OQ) << (16 * s);
            } else { /* last word: masked-off lanes neither load nor set bits */
                for (int s = 0; s * 16 < ne; s++) {
                    const int64_t c = ne - 16 * s < 16 ? ne - 16 * s : 16;
                    const __mmask16 mk = (__mmask16)((1u << c) - 1);
                    const __m512 v = _mm512_maskz_loadu_ps(mk, xw + 16 * s);
                    bits |= (uint64_t)_mm512_mask_cmp_ps_mask(mk, v, zero, _CMP_GE_OQ) << (16 * s);
                }
            }
            out[r * ldo + w] = bits;
        }
    }
}

/* 16 comparisons per instruction; four masks make one word. */
static void bc__threshold_pack_avx512(uint64_t *restrict out, int64_t ldo, const int32_t *restrict x, int64_t ldx,
                                      const int32_t *restrict mul, const int32_t *restrict thr, int64_t rows, int64_t k) {
    const int64_t words = bc__b1_words(k);
    for (int64_t r = 0; r < rows; r++) {
        const int32_t *xr = x + r * ldx;
        for (int64_t w = 0; w < words; w++) {
            uint64_t word = 0;
            for (int q = 0; q < 4; q++) {
                int64_t j = w * 64 + q * 16;
                if (j >= k) break;
                __mmask16 valid = k - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - j)) - 1);
                __m512i v = _mm512_maskz_loadu_epi32(valid, xr + j);
                __m512i m = _mm512_maskz_loadu_epi32(valid, mul + j);
                __m512i t = _mm512_maskz_loadu_epi32(valid, thr + j);
                __mmask16 ge = _mm512_mask_cmpge_epi32_mask(valid, _mm512_mullo_epi32(v, m), t);
                word |= (uint64_t)ge << (q * 16);
            }
            out[r * ldo + w] = word;
        }
    }
}

const bc__bin_kernels bc__bin_kernels_avx512 = {
    .name = "avx512", .xnor_gemm = bc__xnor_gemm_avx512, .pack_signs = bc__pack_signs_avx512,
    .threshold_pack = bc__threshold_pack_avx512, .affine_pack = bc__affine_pack_avx512,
    .conv_direct = bc__conv_direct_avx512};
#endif
