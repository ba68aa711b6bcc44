/* AVX2 variant of the POPPINS step (iqif.h, bc__iqif_vstep_avx2), for CPUs without AVX-512:
 * the same fused pass as avx512_iqif.c with 8 neurons per vector, 32 per block held in
 * registers; the last n % 8 neurons go through masked loads and stores. The scalar loop in
 * poppins.c is its reference and the tests compare the two bit for bit. VPSRAVD / VPSRAD are
 * the ISA's arithmetic shifts (floor division by 2^k), not C's implementation-defined `>>`. */
#include "snn/iqif.h"

#include <immintrin.h>

/* For a 4-lane spike mask, the numbers of its spiking lanes in ascending order, one per byte
 * from the lowest (mask 0b1101 -> lanes 0, 2, 3 -> 0x030200). */
static const uint32_t bc__nibble_lanes[16] = {
    0,      0x00,     0x01,     0x0100,   /* 0000 0001 0010 0011 */
    0x02,   0x0200,   0x0201,   0x020100, /* 0100 0101 0110 0111 */
    0x03,   0x0300,   0x0301,   0x030100, /* 1000 1001 1010 1011 */
    0x0302, 0x030200, 0x030201, 0x03020100,
};

/* Loads lanes below `live` (a mask vector), zeros elsewhere. */
static inline __m256i bc__load8(const int32_t *p, __m256i live, bool full) {
    return full ? _mm256_loadu_si256((const __m256i *)p) : _mm256_maskload_epi32(p, live);
}

/* The neuron phase for neurons j..j+7 (lanes in live; full: all 8) whose synaptic sums are I;
 * appends the spikes to fired at *nf and keeps the running max |acc| in *vb. */
static inline void bc__neurons8(const bc__iqif_arrays *s, int32_t j, __m256i live, bool full, __m256i I, int32_t *nf,
                                __m256i *vb) {
    const __m256i zero = _mm256_setzero_si256();
    __m256i sh = bc__load8(s->shift + j, live, full);
    /* 2. decay where tau > 0: d = floor(I / 2^sh); I -= d, or I -= 1 if d = 0 and I > 0
     * (d = 0 only for 0 <= I < 2^sh: a negative I always gives d <= -1) */
    __m256i decays = _mm256_cmpgt_epi32(sh, _mm256_set1_epi32(-1));
    __m256i d = _mm256_srav_epi32(I, _mm256_max_epi32(sh, zero));
    d = _mm256_sub_epi32(d, _mm256_and_si256(_mm256_cmpeq_epi32(d, zero), _mm256_cmpgt_epi32(I, zero))); /* -(-1) */
    I = _mm256_sub_epi32(I, _mm256_and_si256(d, decays));
    /* 3. integrate: f = v < f_min ? a (rest - v) : b (v - thr), one multiply on the chosen pair */
    __m256i v = bc__load8(s->x + j, live, full);
    __m256i lo = _mm256_cmpgt_epi32(bc__load8(s->fmin + j, live, full), v);
    __m256i coef = _mm256_blendv_epi8(bc__load8(s->b + j, live, full), bc__load8(s->a + j, live, full), lo);
    __m256i diff = _mm256_blendv_epi8(_mm256_sub_epi32(v, bc__load8(s->thr + j, live, full)),
                                      _mm256_sub_epi32(bc__load8(s->rest + j, live, full), v), lo);
    __m256i f = _mm256_mullo_epi32(coef, diff);
    __m256i nx = _mm256_add_epi32(_mm256_add_epi32(v, _mm256_srai_epi32(f, 3)),
                                  _mm256_add_epi32(I, bc__load8(s->stim + j, live, full)));
    __m256i sp = _mm256_and_si256(_mm256_cmpgt_epi32(nx, _mm256_set1_epi32(BC_IQIF_VMAX)), live);
    nx = _mm256_blendv_epi8(_mm256_max_epi32(nx, zero), bc__load8(s->reset + j, live, full), sp);
    /* 4. delta synapses clear */
    I = _mm256_and_si256(I, decays);
    *vb = _mm256_max_epi32(*vb, _mm256_abs_epi32(I));
    unsigned bits = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(sp));
    if (full) {
        _mm256_storeu_si256((__m256i *)(s->x + j), nx);
        _mm256_storeu_si256((__m256i *)(s->acc + j), I);
        /* spike flags: the eight 0 / -1 lanes narrowed to bytes, then 0 / 1 */
        __m128i h = _mm_packs_epi32(_mm256_castsi256_si128(sp), _mm256_extracti128_si256(sp, 1));
        _mm_storel_epi64((__m128i *)(s->spk + j), _mm_and_si128(_mm_packs_epi16(h, h), _mm_set1_epi8(1)));
    } else {
        _mm256_maskstore_epi32(s->x + j, live, nx);
        _mm256_maskstore_epi32(s->acc + j, live, I);
        int32_t nl = __builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(live)));
        for (int32_t l = 0; l < nl; l++) s->spk[j + l] = (uint8_t)((bits >> l) & 1u);
    }
    /* the spike list, four lanes at a time: their spiking lanes' numbers from the table,
     * stored under a mask of as many lanes (never past fired + n). Branch-free: a loop over
     * the set bits mispredicts about once per vector. */
    int32_t k = *nf;
    for (int32_t h = 0; h < 8; h += 4) {
        unsigned m4 = (bits >> h) & 15u;
        int32_t c = __builtin_popcount(m4);
        __m128i pos = _mm_cvtepu8_epi32(_mm_cvtsi32_si128((int)bc__nibble_lanes[m4]));
        _mm_maskstore_epi32(s->fired + k, _mm_cmpgt_epi32(_mm_set1_epi32(c), _mm_setr_epi32(0, 1, 2, 3)),
                            _mm_add_epi32(pos, _mm_set1_epi32(j + h)));
        k += c;
    }
    *nf = k;
}

int32_t bc__iqif_vstep_avx2(const bc__iqif_arrays *arrays, int32_t n, const int32_t *restrict rows, int32_t n_rows,
                            int64_t *bound) {
    /* a local copy: the byte stores of the spike flags may alias any memory, so through the
     * caller's struct every pointer would be reloaded after each of them */
    const bc__iqif_arrays ls = *arrays, *s = &ls;
    const int32_t *restrict w = s->w;
    const __m256i all = _mm256_set1_epi32(-1);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i vb = _mm256_setzero_si256();
    int32_t nf = 0, j = 0;
    for (; j + 32 <= n; j += 32) {
        __m256i I0 = _mm256_loadu_si256((const __m256i *)(s->acc + j));
        __m256i I1 = _mm256_loadu_si256((const __m256i *)(s->acc + j + 8));
        __m256i I2 = _mm256_loadu_si256((const __m256i *)(s->acc + j + 16));
        __m256i I3 = _mm256_loadu_si256((const __m256i *)(s->acc + j + 24));
        for (int32_t r = 0; r < n_rows; r++) {
            const int32_t *wr = w + rows[r] + j;
            I0 = _mm256_add_epi32(I0, _mm256_loadu_si256((const __m256i *)wr));
            I1 = _mm256_add_epi32(I1, _mm256_loadu_si256((const __m256i *)(wr + 8)));
            I2 = _mm256_add_epi32(I2, _mm256_loadu_si256((const __m256i *)(wr + 16)));
            I3 = _mm256_add_epi32(I3, _mm256_loadu_si256((const __m256i *)(wr + 24)));
        }
        bc__neurons8(s, j, all, true, I0, &nf, &vb);
        bc__neurons8(s, j + 8, all, true, I1, &nf, &vb);
        bc__neurons8(s, j + 16, all, true, I2, &nf, &vb);
        bc__neurons8(s, j + 24, all, true, I3, &nf, &vb);
    }
    for (; j < n; j += 8) { /* the last n % 32 neurons; the final partial vector masked */
        bool full = n - j >= 8;
        __m256i live = full ? all : _mm256_cmpgt_epi32(_mm256_set1_epi32(n - j), lane);
        __m256i I = bc__load8(s->acc + j, live, full);
        for (int32_t r = 0; r < n_rows; r++) I = _mm256_add_epi32(I, bc__load8(w + rows[r] + j, live, full));
        bc__neurons8(s, j, live, full, I, &nf, &vb);
    }
    __m128i m = _mm_max_epi32(_mm256_castsi256_si128(vb), _mm256_extracti128_si256(vb, 1));
    m = _mm_max_epi32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2)));
    m = _mm_max_epi32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1)));
    *bound = _mm_cvtsi128_si32(m);
    return nf;
}
