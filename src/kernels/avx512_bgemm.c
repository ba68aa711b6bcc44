/* AVX-512F/BW packers of the bf16 GEMM (layout in bgemm.h). Rounding is done on the integer
 * bits, the same arithmetic as bc__bf16_of, so the packed bits equal the scalar packers'
 * (vcvtne2ps2bf16 would flush subnormals). Rows (columns) are read 16 at a time with masked
 * loads, so nothing past m, n or k is touched. */
#if defined(__x86_64__)
#include "kernels/bgemm.h"

#include <immintrin.h>

/* 16 floats -> 32-bit lanes whose upper halves are the bf16 (lower halves are garbage). */
static inline __m512i bc__bf16_hi(__m512 x) {
    const __m512i u = _mm512_castps_si512(x), one = _mm512_set1_epi32(1);
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(_mm512_srli_epi32(u, 16), one)));
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    return _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x00400000)));
}
/* Pairs: lane j = bf16(lo[j]) | bf16(hi[j]) << 16. */
static inline __m512i bc__bf16_pair(__m512 lo, __m512 hi) {
    return _mm512_or_si512(_mm512_srli_epi32(bc__bf16_hi(lo), 16),
                           _mm512_and_si512(bc__bf16_hi(hi), _mm512_set1_epi32((int)0xffff0000u)));
}
/* 32 consecutive floats x[0..31] -> lane p = bf16(x[2p]) | bf16(x[2p+1]) << 16. */
static inline __m512i bc__bf16_run(__m512 x0, __m512 x1) {
    const __m512i odd = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29, 27,
                                         25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    return _mm512_permutex2var_epi16(bc__bf16_hi(x0), odd, bc__bf16_hi(x1));
}
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
    /* r[4q + s] now holds, in 128-bit lane L, rows 4L..4L+3 of ... column 4*(.)+s: combine lanes. */
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

/* One tile (16 rows or columns x 32 k) where the source runs along the 16: 16 pairs of source
 * rows (k = 2p, 2p+1; row r = x + k*ld, nr of its 16 elements valid, k < kk valid) become 16
 * pair vectors; `transpose` turns them into 16 runs of 32 k (an A tile) instead of a B tile. */
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
 * kk of its k valid) become 16 runs; `transpose` turns them into a B tile instead. */
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

void bc__bgemm_pack_a_avx512(uint16_t *restrict ap, bool ta, const float *restrict a, int64_t lda, int64_t m, int64_t k) {
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

void bc__bgemm_pack_b_avx512(uint16_t *restrict bp, bool tb, const float *restrict b, int64_t ldb, int64_t k, int64_t n) {
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
#endif
