/* AVX-512 variant of the POPPINS step (iqif.h, bc__iqif_vstep_avx512): in one pass over the
 * neurons, 64 per block as four vectors of 16 held in registers, the fired neurons' weight
 * rows are added to the accumulators and the neuron phase (decay, integrate, overflow, delta
 * clear) runs on the sums, so acc is loaded and stored once per step. The scalar loop in
 * poppins.c is its reference and the tests compare the two bit for bit. The shifts here are
 * the ISA's arithmetic shifts (VPSRAVD / VPSRAD: sign-filling, i.e. floor division by 2^k,
 * defined by the instruction set, not C's implementation-defined `>>`). */
#include "snn/iqif.h"

#include <immintrin.h>

/* The neuron phase for neurons j..j+15 (lanes in m) whose synaptic sums are I; appends the
 * spikes to fired at *nf and keeps the running max |acc| in *vb. */
static inline void bc__neurons16(const bc__iqif_arrays *s, int32_t j, __mmask16 m, __m512i I, int32_t *nf,
                                 __m512i *vb) {
    const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i sh = _mm512_maskz_loadu_epi32(m, s->shift + j);
    /* 2. decay where tau > 0: d = floor(I / 2^sh); I -= d, or I -= 1 if d = 0 and I > 0
     * (d = 0 only for 0 <= I < 2^sh: a negative I always gives d <= -1) */
    __mmask16 decays = _mm512_cmpge_epi32_mask(sh, zero);
    __m512i d = _mm512_srav_epi32(I, _mm512_max_epi32(sh, zero));
    d = _mm512_mask_mov_epi32(d, _mm512_mask_cmpgt_epi32_mask(_mm512_cmpeq_epi32_mask(d, zero), I, zero), one);
    I = _mm512_mask_sub_epi32(I, decays, I, d);
    /* 3. integrate: f = v < f_min ? a (rest - v) : b (v - thr), one multiply on the chosen pair */
    __m512i v = _mm512_maskz_loadu_epi32(m, s->x + j);
    __mmask16 lo = _mm512_cmplt_epi32_mask(v, _mm512_maskz_loadu_epi32(m, s->fmin + j));
    __m512i coef = _mm512_mask_mov_epi32(_mm512_maskz_loadu_epi32(m, s->b + j), lo, _mm512_maskz_loadu_epi32(m, s->a + j));
    __m512i diff = _mm512_mask_sub_epi32(_mm512_sub_epi32(v, _mm512_maskz_loadu_epi32(m, s->thr + j)), lo,
                                         _mm512_maskz_loadu_epi32(m, s->rest + j), v);
    __m512i f = _mm512_mullo_epi32(coef, diff);
    __m512i nx = _mm512_add_epi32(_mm512_add_epi32(v, _mm512_srai_epi32(f, 3)),
                                  _mm512_add_epi32(I, _mm512_maskz_loadu_epi32(m, s->stim + j)));
    __mmask16 sp = _mm512_mask_cmpgt_epi32_mask(m, nx, _mm512_set1_epi32(BC_IQIF_VMAX));
    nx = _mm512_mask_mov_epi32(_mm512_max_epi32(nx, zero), sp, _mm512_maskz_loadu_epi32(m, s->reset + j));
    _mm512_mask_storeu_epi32(s->x + j, m, nx);
    _mm_mask_storeu_epi8(s->spk + j, m, _mm_maskz_mov_epi8(sp, _mm_set1_epi8(1)));
    /* the spike list: compressed in a register, stored under a mask (never past fired + n) */
    int32_t k = __builtin_popcount((unsigned)sp);
    _mm512_mask_storeu_epi32(s->fired + *nf, (__mmask16)((1u << k) - 1u),
                             _mm512_maskz_compress_epi32(sp, _mm512_add_epi32(lane, _mm512_set1_epi32(j))));
    *nf += k;
    /* 4. delta synapses clear */
    I = _mm512_maskz_mov_epi32(decays, I);
    _mm512_mask_storeu_epi32(s->acc + j, m, I);
    *vb = _mm512_max_epi32(*vb, _mm512_abs_epi32(I));
}

int32_t bc__iqif_vstep_avx512(const bc__iqif_arrays *arrays, int32_t n, const int32_t *restrict rows, int32_t n_rows,
                              int64_t *bound) {
    /* a local copy: the byte stores of the spike flags may alias any memory, so through the
     * caller's struct every pointer would be reloaded after each of them */
    const bc__iqif_arrays ls = *arrays, *s = &ls;
    const int32_t *restrict w = s->w;
    __m512i vb = _mm512_setzero_si512();
    int32_t nf = 0, j = 0;
    for (; j + 64 <= n; j += 64) {
        __m512i I0 = _mm512_loadu_si512(s->acc + j), I1 = _mm512_loadu_si512(s->acc + j + 16);
        __m512i I2 = _mm512_loadu_si512(s->acc + j + 32), I3 = _mm512_loadu_si512(s->acc + j + 48);
        for (int32_t r = 0; r < n_rows; r++) {
            const int32_t *wr = w + rows[r] + j;
            I0 = _mm512_add_epi32(I0, _mm512_loadu_si512(wr));
            I1 = _mm512_add_epi32(I1, _mm512_loadu_si512(wr + 16));
            I2 = _mm512_add_epi32(I2, _mm512_loadu_si512(wr + 32));
            I3 = _mm512_add_epi32(I3, _mm512_loadu_si512(wr + 48));
        }
        bc__neurons16(s, j, 0xFFFF, I0, &nf, &vb);
        bc__neurons16(s, j + 16, 0xFFFF, I1, &nf, &vb);
        bc__neurons16(s, j + 32, 0xFFFF, I2, &nf, &vb);
        bc__neurons16(s, j + 48, 0xFFFF, I3, &nf, &vb);
    }
    for (; j < n; j += 16) { /* the last n % 64 neurons, masked */
        __mmask16 m = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1u);
        __m512i I = _mm512_maskz_loadu_epi32(m, s->acc + j);
        for (int32_t r = 0; r < n_rows; r++)
            I = _mm512_add_epi32(I, _mm512_maskz_loadu_epi32(m, w + rows[r] + j));
        bc__neurons16(s, j, m, I, &nf, &vb);
    }
    *bound = _mm512_reduce_max_epi32(vb);
    return nf;
}
