/* AVX-512 variant of the neuron phase of a POPPINS step (decay, integrate, overflow, delta
 * clear) for 16 neurons per vector; the scalar loop in poppins.c is its reference and the
 * tests compare the two bit for bit. The shifts here are the ISA's arithmetic shifts
 * (VPSRAVD / VPSRAD: sign-filling, i.e. floor division by 2^k, defined by the instruction set,
 * not C's implementation-defined `>>`). Used only when every sum fits in 32 bits (the caller
 * checks a bound) and no neuron has noise. */
#include "snn/iqif.h"

#include <immintrin.h>

int32_t bc__iqif_update_avx512(int32_t n, int32_t *restrict x, int32_t *restrict acc, uint8_t *restrict spk,
                               int32_t *restrict fired, int64_t *bound, const int32_t *restrict stim,
                               const int32_t *restrict shift, const int32_t *restrict rest,
                               const int32_t *restrict thr, const int32_t *restrict reset,
                               const int32_t *restrict a, const int32_t *restrict b,
                               const int32_t *restrict fmin) {
    const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1), vmax = _mm512_set1_epi32(BC_IQIF_VMAX);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m128i byte1 = _mm_set1_epi8(1);
    __m512i vb = zero;
    int32_t nf = 0;
    for (int32_t j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1u);
        __m512i I = _mm512_maskz_loadu_epi32(m, acc + j), sh = _mm512_maskz_loadu_epi32(m, shift + j);
        /* 2. decay where tau > 0: d = floor(I / 2^sh); I -= d, or one step towards 0 if d = 0 */
        __mmask16 decays = _mm512_cmpge_epi32_mask(sh, zero);
        __m512i d = _mm512_srav_epi32(I, _mm512_max_epi32(sh, zero));
        __m512i sgn = _mm512_sub_epi32(_mm512_maskz_mov_epi32(_mm512_cmpgt_epi32_mask(I, zero), one),
                                       _mm512_maskz_mov_epi32(_mm512_cmplt_epi32_mask(I, zero), one));
        d = _mm512_mask_mov_epi32(d, _mm512_cmpeq_epi32_mask(d, zero), sgn);
        I = _mm512_mask_sub_epi32(I, decays, I, d);
        /* 3. integrate I + stimulus */
        __m512i v = _mm512_maskz_loadu_epi32(m, x + j);
        __m512i below = _mm512_mullo_epi32(_mm512_maskz_loadu_epi32(m, a + j), _mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, rest + j), v));
        __m512i above = _mm512_mullo_epi32(_mm512_maskz_loadu_epi32(m, b + j), _mm512_sub_epi32(v, _mm512_maskz_loadu_epi32(m, thr + j)));
        __m512i f = _mm512_mask_mov_epi32(above, _mm512_cmplt_epi32_mask(v, _mm512_maskz_loadu_epi32(m, fmin + j)), below);
        __m512i nx = _mm512_add_epi32(_mm512_add_epi32(v, _mm512_srai_epi32(f, 3)),
                                      _mm512_add_epi32(I, _mm512_maskz_loadu_epi32(m, stim + j)));
        __mmask16 s = _mm512_mask_cmpgt_epi32_mask(m, nx, vmax);
        nx = _mm512_mask_mov_epi32(_mm512_max_epi32(nx, zero), s, _mm512_maskz_loadu_epi32(m, reset + j));
        _mm512_mask_storeu_epi32(x + j, m, nx);
        _mm_mask_storeu_epi8(spk + j, m, _mm_maskz_mov_epi8(s, byte1));
        _mm512_mask_compressstoreu_epi32(fired + nf, s, _mm512_add_epi32(lane, _mm512_set1_epi32(j)));
        nf += __builtin_popcount((unsigned)s);
        /* 4. delta synapses clear */
        I = _mm512_maskz_mov_epi32(decays, I);
        _mm512_mask_storeu_epi32(acc + j, m, I);
        vb = _mm512_max_epi32(vb, _mm512_abs_epi32(I));
    }
    *bound = _mm512_reduce_max_epi32(vb);
    return nf;
}

void bc__add_row_avx512(int32_t *restrict acc, const int32_t *restrict w, int32_t n) {
    for (int32_t j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1u);
        __m512i s = _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, acc + j), _mm512_maskz_loadu_epi32(m, w + j));
        _mm512_mask_storeu_epi32(acc + j, m, s);
    }
}
