/* AVX-512 first-layer float kernels: the direct convolution and batch norm + sign packing.
 * Same bits as direct_ref.c: separate multiply and add (no FMA), in the reference's order.
 *
 * Convolution scheme: 16 output channels per zmm; a block of np pixels of one output row
 * shares each tap's weight vector, and each pixel's input value is a broadcast. */
#if defined(__x86_64__)
#include "kernels/xnor.h"

#include <immintrin.h>

/* Bits (x * scale + shift >= 0) of 16 lanes under mask mk. */
static inline __mmask16 bc__d5_affine16(const float *x, const float *scale, const float *shift, __mmask16 mk) {
    const __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, x), _mm512_maskz_loadu_ps(mk, scale)),
                                   _mm512_maskz_loadu_ps(mk, shift));
    return _mm512_mask_cmp_ps_mask(mk, v, _mm512_setzero_ps(), _CMP_GE_OQ);
}

void bc__affine_pack_avx512(uint64_t *restrict out, int64_t ldo, const float *restrict x, int64_t ldx,
                            const float *restrict scale, const float *restrict shift, int64_t rows, int64_t k) {
    const int64_t words = bc__b1_words(k);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        for (int64_t w = 0; w < words; w++) {
            uint64_t word = 0;
            for (int q = 0; q < 4; q++) {
                const int64_t j = w * 64 + q * 16;
                if (j >= k) break;
                const __mmask16 mk = k - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - j)) - 1);
                word |= (uint64_t)bc__d5_affine16(xr + j, scale + j, shift + j, mk) << (q * 16);
            }
            out[r * ldo + w] = word;
        }
    }
}

/* np (constant after inlining) pixels x 16 channels from j; xs: pixel step in floats. */
static inline __attribute__((always_inline)) void
bc__d5_block(float *restrict out, int64_t ldo, const float *restrict xp, int64_t wp, int64_t c, int32_t k,
             int64_t xs, const float *restrict wt, const float *restrict bias, int64_t m, int64_t j,
             __mmask16 mk, const int np) {
    __m512 acc[8];
#pragma GCC unroll 8
    for (int p = 0; p < np; p++) acc[p] = _mm512_setzero_ps();
    for (int32_t ky = 0; ky < k; ky++)
        for (int32_t kx = 0; kx < k; kx++) {
            const float *xi = xp + ((int64_t)ky * wp + kx) * c;
            const float *wi = wt + ((int64_t)ky * k + kx) * c * m + j;
            for (int64_t ci = 0; ci < c; ci++) {
                const __m512 wv = _mm512_maskz_loadu_ps(mk, wi + ci * m);
#pragma GCC unroll 8
                for (int p = 0; p < np; p++)
                    acc[p] = _mm512_add_ps(acc[p], _mm512_mul_ps(_mm512_set1_ps(xi[p * xs + ci]), wv));
            }
        }
    const __m512 bv = bias ? _mm512_maskz_loadu_ps(mk, bias + j) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int p = 0; p < np; p++) {
        if (bias) acc[p] = _mm512_add_ps(acc[p], bv);
        _mm512_mask_storeu_ps(out + p * ldo + j, mk, acc[p]);
    }
}

void bc__conv_direct_avx512(float *restrict out, int64_t ldo, const float *restrict xp, int64_t wp, int64_t c,
                            int32_t k, int32_t stride, int32_t ow, int32_t rows, const float *restrict wt,
                            const float *restrict bias, int64_t m) {
    const int64_t xs = (int64_t)stride * c;
    for (int32_t r = 0; r < rows; r++) {
        const float *xr = xp + (int64_t)r * stride * wp * c;
        float *orow = out + (int64_t)r * ow * ldo;
        for (int64_t j = 0; j < m; j += 16) {
            const __mmask16 mk = m - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (m - j)) - 1);
            int32_t ox = 0;
            for (; ox + 8 <= ow; ox += 8)
                bc__d5_block(orow + ox * ldo, ldo, xr + ox * xs, wp, c, k, xs, wt, bias, m, j, mk, 8);
            if (ox + 4 <= ow) {
                bc__d5_block(orow + ox * ldo, ldo, xr + ox * xs, wp, c, k, xs, wt, bias, m, j, mk, 4);
                ox += 4;
            }
            for (; ox < ow; ox++)
                bc__d5_block(orow + ox * ldo, ldo, xr + ox * xs, wp, c, k, xs, wt, bias, m, j, mk, 1);
        }
    }
}
#endif
