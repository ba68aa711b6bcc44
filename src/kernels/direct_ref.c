/* Scalar references of a binary network's first-layer float kernels (see xnor.h): the direct
 * convolution and batch norm + sign packing. Built with -ffp-contract=off like the rest, so
 * each product and sum is rounded on its own, as in the SIMD versions. */
#include "kernels/xnor.h"

void bc__affine_pack_ref(uint64_t *restrict out, int64_t ldo, const float *restrict x, int64_t ldx,
                         const float *restrict scale, const float *restrict shift, int64_t rows, int64_t k) {
    const int64_t words = bc__b1_words(k);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t w = 0; w < words; w++) {
            uint64_t word = 0;
            for (int64_t j = w * 64; j < k && j < w * 64 + 64; j++)
                word |= (uint64_t)(x[r * ldx + j] * scale[j] + shift[j] >= 0.0f) << (j % 64);
            out[r * ldo + w] = word;
        }
}

void bc__conv_direct_ref(float *restrict out, int64_t ldo, const float *restrict xp, int64_t wp, int64_t c,
                         int32_t k, int32_t stride, int32_t ow, int32_t rows, const float *restrict wt,
                         const float *restrict bias, int64_t m) {
    for (int32_t r = 0; r < rows; r++)
        for (int32_t ox = 0; ox < ow; ox++)
            for (int64_t j = 0; j < m; j++) {
                float acc = 0.0f;
                for (int32_t ky = 0; ky < k; ky++)
                    for (int32_t kx = 0; kx < k; kx++) {
                        const float *xi = xp + (((int64_t)r * stride + ky) * wp + (int64_t)ox * stride + kx) * c;
                        const float *wi = wt + ((int64_t)ky * k + kx) * c * m + j;
                        for (int64_t ci = 0; ci < c; ci++) acc = acc + xi[ci] * wi[ci * m];
                    }
                if (bias) acc = acc + bias[j];
                out[((int64_t)r * ow + ox) * ldo + j] = acc;
            }
}
