/* AVX512-BF16 packers of the bf16 GEMM (layout in bgemm.h). vcvtne2ps2bf16 rounds 32 floats
 * to nearest even in one instruction; unlike bc__bf16_of it flushes subnormal inputs to zero,
 * which the SIMD kernels would do to a subnormal bf16 anyway. Rows (columns) are read 16 at a
 * time with masked loads, so nothing past m, n or k is touched. */
#if defined(__x86_64__)
#include "kernels/bgemm.h"

#include <immintrin.h>

/* Pairs: lane j = bf16(lo[j]) | bf16(hi[j]) << 16 (one B tile row from two k rows). */
static inline __m512i bc__bf16_pair(__m512 lo, __m512 hi) {
    const __m512i zip = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(zip, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}
/* 32 consecutive floats x0, x1 -> 32 consecutive bf16 (one A tile row). */
static inline __m512i bc__bf16_run(__m512 x0, __m512 x1) { return (__m512i)_mm512_cvtne2ps_pbh(x1, x0); }
static inline __mmask16 bc__mask16(int64_t n) { return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* In-register transpose of 16 x 16 32-bit lanes: r[i] lane j <- r[j] lane i. */
static inline void bc__tr16(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    /* Each 128-bit lane now holds a 4 x 4 block in place; move the blocks. */
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
    }
}

/* One tile where the source runs along the 16: 16 pairs of source rows (k = 2p, 2p+1; row r
 * = x + k*ld, nr of its 16 elements valid, k < kk valid) become 16 pair vectors (a B tile);
 * `transpose` turns them into 16 runs of 32 k (an A tile). */
static inline void bc__tile_across(uint16_t *restrict out, const float *restrict x, int64_t ld, int64_t nr,
                                   int64_t kk, bool transpose) {
    const __mmask16 mk = bc__mask16(nr);
    __m512i v[16];
    for (int p = 0; p < 16; p++) {
        const __m512 lo = 2 * p < kk ? _mm512_maskz_loadu_ps(mk, x + 2 * p * ld) : _mm512_setzero_ps();
        const __m512 hi = 2 * p + 1 < kk ? _mm512_maskz_loadu_ps(mk, x + (2 * p + 1) * ld) : _mm512_setzero_ps();
        v[p] = bc__bf16_pair(lo, hi);
    }
    if (transpose) bc__tr16(v);
    for (int p = 0; p < 16; p++) _mm512_storeu_si512(out + 32 * p, v[p]);
}

/* One tile where the source runs along k: 16 rows of 32 k (row r = x + r*ld, r < nr valid,
 * kk of its k valid) become 16 runs (an A tile); `transpose` turns them into a B tile. */
static inline void bc__tile_along(uint16_t *restrict out, const float *restrict x, int64_t ld, int64_t nr,
                                  int64_t kk, bool transpose) {
    const __mmask16 m0 = bc__mask16(kk), m1 = bc__mask16(kk - 16);
    __m512i v[16];
    for (int r = 0; r < 16; r++) {
        if (r < nr) {
            const float *xr = x + r * ld;
            v[r] = bc__bf16_run(_mm512_maskz_loadu_ps(m0, xr), _mm512_maskz_loadu_ps(m1, xr + 16));
        } else {
            v[r] = _mm512_setzero_si512();
        }
    }
    if (transpose) bc__tr16(v);
    for (int r = 0; r < 16; r++) _mm512_storeu_si512(out + 32 * r, v[r]);
}

void bc__bgemm_pack_a_avx512bf16(uint16_t *restrict ap, bool ta, const float *restrict a, int64_t lda, int64_t m,
                                 int64_t k) {
    const int64_t kp = bc__bgemm_pad32(k);
    for (int64_t i0 = 0; i0 < m; i0 += 16)
        for (int64_t t0 = 0; t0 < kp; t0 += 32) {
            uint16_t *out = ap + i0 * kp + t0 * 16;
            if (ta) /* A(i, t) = a[t*lda + i]: pairs of k rows across 16 i, transposed */
                bc__tile_across(out, a + t0 * lda + i0, lda, m - i0, k - t0, true);
            else
                bc__tile_along(out, a + i0 * lda + t0, lda, m - i0, k - t0, false);
        }
}

void bc__bgemm_pack_b_avx512bf16(uint16_t *restrict bp, bool tb, const float *restrict b, int64_t ldb, int64_t k,
                                 int64_t n) {
    const int64_t kp = bc__bgemm_pad32(k);
    for (int64_t j0 = 0; j0 < n; j0 += 16)
        for (int64_t t0 = 0; t0 < kp; t0 += 32) {
            uint16_t *out = bp + j0 * kp + t0 * 16;
            if (tb) /* B(t, j) = b[j*ldb + t]: runs of k per column, transposed */
                bc__tile_along(out, b + j0 * ldb + t0, ldb, n - j0, k - t0, true);
            else
                bc__tile_across(out, b + t0 * ldb + j0, ldb, n - j0, k - t0, false);
        }
}

/* im2col rows straight into B tiles: each pair of rows reads 16 channels of one tap from two
 * windows (zeros in the padding). Needs g->c, j0 and n multiples of 16 (one tap per panel). */
void bc__bgemm_pack_b_im2col_avx512bf16(uint16_t *restrict bp, const float *restrict x, const bc__conv_geom *g,
                                        int64_t r0, int64_t k, int64_t j0, int64_t n) {
    const int64_t kp = bc__bgemm_pad32(k), c = g->c, p = (int64_t)g->oh * g->ow, img = (int64_t)g->h * g->w * c;
    int32_t y0[BC__BGEMM_KC + 32], x0[BC__BGEMM_KC + 32]; /* window corners of the block's rows */
    const float *xs[BC__BGEMM_KC + 32];                   /* their images */
    int64_t s = r0 / p, q = r0 % p;
    int32_t oy = (int32_t)(q / g->ow), ox = (int32_t)(q % g->ow);
    for (int64_t t = 0; t < kp; t++) {
        if (t >= k) { /* padding rows of the last tile: a window wholly outside */
            y0[t] = -g->k;
            x0[t] = 0;
            xs[t] = x;
            continue;
        }
        y0[t] = oy * g->stride - g->pad;
        x0[t] = ox * g->stride - g->pad;
        xs[t] = x + s * img;
        if (++ox == g->ow) {
            ox = 0;
            if (++oy == g->oh) oy = 0, s++;
        }
    }
    for (int64_t j = j0; j < j0 + n; j += 16) {
        const int32_t tap = (int32_t)(j / c), ky = tap / g->k, kx = tap % g->k;
        const int64_t ch = j % c;
        uint16_t *out = bp + (j - j0) * kp;
        for (int64_t t = 0; t < kp; t += 2) {
            const int32_t iy0 = y0[t] + ky, ix0 = x0[t] + kx, iy1 = y0[t + 1] + ky, ix1 = x0[t + 1] + kx;
            const __m512 lo = iy0 >= 0 && iy0 < g->h && ix0 >= 0 && ix0 < g->w
                                  ? _mm512_loadu_ps(xs[t] + ((int64_t)iy0 * g->w + ix0) * c + ch)
                                  : _mm512_setzero_ps();
            const __m512 hi = iy1 >= 0 && iy1 < g->h && ix1 >= 0 && ix1 < g->w
                                  ? _mm512_loadu_ps(xs[t + 1] + ((int64_t)iy1 * g->w + ix1) * c + ch)
                                  : _mm512_setzero_ps();
            _mm512_storeu_si512(out + 16 * t, bc__bf16_pair(lo, hi));
        }
    }
}
#endif
