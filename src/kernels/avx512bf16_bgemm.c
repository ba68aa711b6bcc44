/* AVX512-BF16 kernel of the bf16 GEMM (layout in bgemm.h): one vdpbf16ps adds the products of
 * a k pair for 16 columns into 16 fp32 lanes. A B tile row is exactly such a vector (16
 * columns x 1 pair), and an A tile row's 32-bit word p is the pair to broadcast.
 * Register block: 8 rows x 2 column vectors (16 accumulators); per k pair the two B vectors
 * are loaded once and each row's pair is broadcast once. */
#if defined(__x86_64__)
#include "kernels/bgemm.h"

#include <immintrin.h>

/* Accumulators are named variables (see avx512vnni_i8gemm.c: GCC 12 copies arrays of them). */
#define BC__B5_ZERO(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = c##r##0
#define BC__B5_ROW(r)                                                                            \
    {                                                                                            \
        uint32_t w;                                                                              \
        memcpy(&w, at + 32 * (r) + 2 * p, sizeof w);                                             \
        const __m512bh av = (__m512bh)_mm512_set1_epi32((int)w);                                 \
        c##r##0 = _mm512_dpbf16_ps(c##r##0, av, b0);                                             \
        if (n2) c##r##1 = _mm512_dpbf16_ps(c##r##1, av, b1);                                     \
    }
#define BC__B5_STORE(r)                                                                          \
    if ((r) < rows) {                                                                            \
        float *o = c + (r) * ldc;                                                                \
        bc__b5_put(o, m0, c##r##0, alpha, beta);                                                 \
        if (n2) bc__b5_put(o + 16, m1, c##r##1, alpha, beta);                                    \
    }

static inline void bc__b5_put(float *o, __mmask16 mk, __m512 v, float alpha, float beta) {
    v = _mm512_mul_ps(_mm512_set1_ps(alpha), v);
    if (beta != 0.0f) v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(mk, o)));
    _mm512_mask_storeu_ps(o, mk, v);
}

/* 8 rows (at: their first A tile row, rows of the panel beyond m are zero) x 16 or 32 columns. */
static inline __attribute__((always_inline)) void
bc__b5_block(float *restrict c, int64_t ldc, const uint16_t *a8, const uint16_t *b0p, const uint16_t *b1p,
             int64_t rows, int64_t cols, int64_t kt, float alpha, float beta, const bool n2) {
    BC__B5_ZERO(0); BC__B5_ZERO(1); BC__B5_ZERO(2); BC__B5_ZERO(3);
    BC__B5_ZERO(4); BC__B5_ZERO(5); BC__B5_ZERO(6); BC__B5_ZERO(7);
    for (int64_t t = 0; t < kt; t++) {
        const uint16_t *at = a8 + t * 512, *bt0 = b0p + t * 512, *bt1 = b1p + t * 512;
        for (int p = 0; p < 16; p++) {
            const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bt0 + 32 * p);
            const __m512bh b1 = n2 ? (__m512bh)_mm512_loadu_si512(bt1 + 32 * p) : b0;
            BC__B5_ROW(0) BC__B5_ROW(1) BC__B5_ROW(2) BC__B5_ROW(3)
            BC__B5_ROW(4) BC__B5_ROW(5) BC__B5_ROW(6) BC__B5_ROW(7)
        }
    }
    const __mmask16 m0 = (__mmask16)(cols >= 16 ? 0xffff : (1u << cols) - 1);
    const __mmask16 m1 = (__mmask16)(cols >= 32 ? 0xffff : cols <= 16 ? 0 : (1u << (cols - 16)) - 1);
    BC__B5_STORE(0) BC__B5_STORE(1) BC__B5_STORE(2) BC__B5_STORE(3)
    BC__B5_STORE(4) BC__B5_STORE(5) BC__B5_STORE(6) BC__B5_STORE(7)
}

static void bc__bgemm_kernel_avx512bf16(float *restrict c, int64_t ldc, const uint16_t *restrict ap,
                                        int64_t ap_stride, const uint16_t *restrict bp, int64_t bp_stride,
                                        int64_t m, int64_t n, int64_t kt, float alpha, float beta) {
    for (int64_t j0 = 0; j0 < n; j0 += 32) {
        const uint16_t *b0 = bp + j0 / 16 * bp_stride, *b1 = b0 + bp_stride;
        const int64_t cols = n - j0 < 32 ? n - j0 : 32;
        for (int64_t i0 = 0; i0 < m; i0 += 8) {
            const uint16_t *a8 = ap + i0 / 16 * ap_stride + i0 % 16 * 32;
            const int64_t rows = m - i0 < 8 ? m - i0 : 8;
            if (cols > 16) bc__b5_block(c + i0 * ldc + j0, ldc, a8, b0, b1, rows, cols, kt, alpha, beta, true);
            else bc__b5_block(c + i0 * ldc + j0, ldc, a8, b0, b1, rows, cols, kt, alpha, beta, false);
        }
    }
}

const bc__bf16_kernels bc__bf16_kernels_avx512bf16 = {
    .name = "avx512bf16", .pack_a = bc__bgemm_pack_a_avx512bf16, .pack_b = bc__bgemm_pack_b_avx512bf16,
    .pack_b_im2col = bc__bgemm_pack_b_im2col_avx512bf16,
    .kernel = bc__bgemm_kernel_avx512bf16};
#endif
