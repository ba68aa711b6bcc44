/* im2col for (h, w, c) activations, float and bit-packed.
 * A column row is one output pixel's receptive field in (kh, kw, c) order, the order of a conv
 * weight row (out, kh, kw, c). Padding is zero: a float column holds 0 there; a packed column
 * holds bit 0 (-1) and the caller adds back the padded taps' weight sums (see conv.c). */
#ifndef BC_KERNELS_IM2COL_H
#define BC_KERNELS_IM2COL_H
#include <stdint.h>

typedef struct {
    int32_t h, w, c;        /* input */
    int32_t k, stride, pad; /* square window */
    int32_t oh, ow;         /* output */
} bc__conv_geom;

/* col (n*oh*ow, k*k*c) from x (n, h, w, c). */
void bc__im2col(float *restrict col, const float *restrict x, int64_t n, const bc__conv_geom *g);
/* dx (n, h, w, c) += col2im(col): the adjoint of bc__im2col. */
void bc__col2im_add(float *restrict dx, const float *restrict col, int64_t n, const bc__conv_geom *g);
/* The same for column rows [q0, q0 + nq) only (q = sample * oh*ow + pixel, from dx's first
 * sample); col holds just those rows. Calls over increasing ranges add in the same order as
 * one bc__col2im_add, so the bits are the same. */
void bc__col2im_add_rows(float *restrict dx, const float *restrict col, int64_t q0, int64_t nq,
                         const bc__conv_geom *g);
/* Packed: x (n*h*w pixels, cw words each) -> col (n*oh*ow, k*k*cw words); padded taps are 0. */
void bc__im2col_bits(uint64_t *restrict col, const uint64_t *restrict x, int64_t n, int64_t cw,
                     const bc__conv_geom *g);
/* u8 codes x + 1 of ±1 activations: d[i] = 0 for x < 0, 2 for x > 0, 1 for x = 0. */
void bc__u8_codes(uint8_t *restrict d, const float *restrict x, int64_t n);
/* Rows r0 .. r0 + rows - 1 of the im2col of codes xc (n, h, w, c) bytes: col (rows, ldc)
 * gets code 1 (x = 0: a wordline that stays off) on padded taps, and 0 in bytes k*k*c ..
 * ldc - 1 of a row. Row r is output pixel r % (oh*ow) of sample r / (oh*ow). */
void bc__im2col_u8(uint8_t *restrict col, int64_t ldc, const uint8_t *restrict xc, int64_t r0, int64_t rows,
                   const bc__conv_geom *g);
/* True when output pixel (oy, ox) has at least one tap in the padding. */
static inline int bc__conv_border(const bc__conv_geom *g, int32_t oy, int32_t ox) {
    int32_t y0 = oy * g->stride - g->pad, x0 = ox * g->stride - g->pad;
    return y0 < 0 || x0 < 0 || y0 + g->k > g->h || x0 + g->k > g->w;
}
#endif
