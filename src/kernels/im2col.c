/* im2col / col2im on channels-last activations: each tap copies a run of c contiguous values. */
#include "kernels/im2col.h"

#include <stdbool.h>
#include <string.h>

/* Runs of c floats: a call to memcpy/memset costs more than the copy for small c. */
static inline void bc__copy(float *restrict d, const float *restrict s, int64_t c) {
    if (c >= 16) memcpy(d, s, (size_t)c * sizeof *d);
    else for (int64_t j = 0; j < c; j++) d[j] = s[j];
}
static inline void bc__zero(float *d, int64_t c) {
    if (c >= 16) memset(d, 0, (size_t)c * sizeof *d);
    else for (int64_t j = 0; j < c; j++) d[j] = 0.0f;
}

void bc__im2col(float *restrict col, const float *restrict x, int64_t n, const bc__conv_geom *g) {
    const int64_t c = g->c, row = (int64_t)g->k * g->k * c;
    for (int64_t s = 0; s < n; s++) {
        const float *xs = x + s * (int64_t)g->h * g->w * c;
        for (int32_t oy = 0; oy < g->oh; oy++)
            for (int32_t ox = 0; ox < g->ow; ox++) {
                float *dst = col + ((s * g->oh + oy) * g->ow + ox) * row;
                for (int32_t ky = 0; ky < g->k; ky++) {
                    int32_t iy = oy * g->stride - g->pad + ky;
                    for (int32_t kx = 0; kx < g->k; kx++, dst += c) {
                        int32_t ix = ox * g->stride - g->pad + kx;
                        if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) bc__zero(dst, c);
                        else bc__copy(dst, xs + ((int64_t)iy * g->w + ix) * c, c);
                    }
                }
            }
    }
}

void bc__col2im_add_rows(float *restrict dx, const float *restrict col, int64_t q0, int64_t nq,
                         const bc__conv_geom *g) {
    const int64_t c = g->c, row = (int64_t)g->k * g->k * c, p = (int64_t)g->oh * g->ow;
    for (int64_t q = q0; q < q0 + nq; q++) {
        const int64_t s = q / p;
        const int32_t oy = (int32_t)(q % p / g->ow), ox = (int32_t)(q % p % g->ow);
        float *xs = dx + s * (int64_t)g->h * g->w * c;
        const float *src = col + (q - q0) * row;
        for (int32_t ky = 0; ky < g->k; ky++) {
            int32_t iy = oy * g->stride - g->pad + ky;
            for (int32_t kx = 0; kx < g->k; kx++, src += c) {
                int32_t ix = ox * g->stride - g->pad + kx;
                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
                float *d = xs + ((int64_t)iy * g->w + ix) * c;
                for (int64_t j = 0; j < c; j++) d[j] += src[j];
            }
        }
    }
}

void bc__col2im_add(float *restrict dx, const float *restrict col, int64_t n, const bc__conv_geom *g) {
    bc__col2im_add_rows(dx, col, 0, n * g->oh * g->ow, g);
}

void bc__im2col_bits(uint64_t *restrict col, const uint64_t *restrict x, int64_t n, int64_t cw,
                     const bc__conv_geom *g) {
    const int64_t row = (int64_t)g->k * g->k * cw, run = (int64_t)g->k * cw;
    for (int64_t s = 0; s < n; s++) {
        const uint64_t *xs = x + s * (int64_t)g->h * g->w * cw;
        for (int32_t oy = 0; oy < g->oh; oy++)
            for (int32_t ox = 0; ox < g->ow; ox++) {
                uint64_t *dst = col + ((s * g->oh + oy) * g->ow + ox) * row;
                const int32_t x0 = ox * g->stride - g->pad;
                const bool inside = x0 >= 0 && x0 + g->k <= g->w;
                for (int32_t ky = 0; ky < g->k; ky++, dst += run) {
                    int32_t iy = oy * g->stride - g->pad + ky;
                    if (iy < 0 || iy >= g->h) {
                        for (int64_t j = 0; j < run; j++) dst[j] = 0;
                        continue;
                    }
                    const uint64_t *xrow = xs + (int64_t)iy * g->w * cw;
                    if (inside) { /* the window's row is one run of k pixels */
                        for (int64_t j = 0; j < run; j++) dst[j] = xrow[x0 * cw + j];
                        continue;
                    }
                    for (int32_t kx = 0; kx < g->k; kx++) {
                        const int32_t ix = x0 + kx;
                        const bool pad = ix < 0 || ix >= g->w;
                        for (int64_t j = 0; j < cw; j++) dst[kx * cw + j] = pad ? 0 : xrow[ix * cw + j];
                    }
                }
            }
    }
}

/* Branch-free, so that it vectorises. */
void bc__u8_codes(uint8_t *restrict d, const float *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; i++) d[i] = (uint8_t)((x[i] >= 0.0f) + (x[i] > 0.0f));
}

void bc__im2col_u8(uint8_t *restrict col, int64_t ldc, const uint8_t *restrict xc, int64_t r0, int64_t rows,
                   const bc__conv_geom *g) {
    const int64_t c = g->c, p = (int64_t)g->oh * g->ow, row = (int64_t)g->k * g->k * c;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t s = (r0 + r) / p, pix = (r0 + r) % p;
        const int32_t oy = (int32_t)(pix / g->ow), ox = (int32_t)(pix % g->ow);
        const uint8_t *xs = xc + s * (int64_t)g->h * g->w * c;
        uint8_t *dst = col + r * ldc;
        for (int32_t ky = 0; ky < g->k; ky++) {
            int32_t iy = oy * g->stride - g->pad + ky;
            for (int32_t kx = 0; kx < g->k; kx++, dst += c) {
                int32_t ix = ox * g->stride - g->pad + kx;
                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) memset(dst, 1, (size_t)c);
                else memcpy(dst, xs + ((int64_t)iy * g->w + ix) * c, (size_t)c);
            }
        }
        memset(dst, 0, (size_t)(ldc - row));
    }
}
