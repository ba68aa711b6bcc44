/* The IQIF neuron and the synapse decay as inline functions: the one implementation that
 * bc_iqif_step / bc_syn_decay (iqif.c, synapse.c) and the processor's step loop share. */
#ifndef BC_SNN_IQIF_H
#define BC_SNN_IQIF_H

#include "bc_internal.h"
#include "bitcell_poppins.h"

/* floor(x / 2^k), 0 <= k <= 62. `>>` on a negative number is implementation-defined in C, so
 * negative x goes through -(x + 1) >= 0: floor(x / 2^k) = -(floor((-x - 1) / 2^k)) - 1. */
static inline int64_t bc__floor_shr64(int64_t x, int32_t k) {
    return x >= 0 ? x >> k : -((-(x + 1)) >> k) - 1;
}

/* One IQIF step (METHODS.md §5.2). x in [vmin, 255]; in = synaptic current + stimulus + noise,
 * summed in 64 bits so that no input can wrap. Returns 1 on a spike (overflow above 255). */
static inline int bc__iqif_step(int32_t *x, int64_t in, int32_t rest, int32_t thr, int32_t reset,
                                int32_t a, int32_t b, int32_t f_min) {
    int32_t v = *x;
    int32_t f = v < f_min ? a * (rest - v) : b * (v - thr);
    int64_t nx = (int64_t)v + bc__floor_shr64(f, 3) + in;
    if (nx > BC_IQIF_VMAX) {
        *x = reset;
        return 1;
    }
    *x = nx < BC_IQIF_VMIN ? BC_IQIF_VMIN : (int32_t)nx;
    return 0;
}

/* One decay step of accumulator i (METHODS.md §5.3), shift >= 0. */
static inline int32_t bc__syn_decay(int32_t i, int32_t shift) {
    int32_t d = (int32_t)bc__floor_shr64(i, shift);
    if (d != 0) return i - d; /* |d| <= |i| and d has i's sign: no overflow */
    return i > 0 ? i - 1 : i < 0 ? i + 1 : 0;
}

/* The arrays of a processor that its vector step reads and writes: per neuron (n) except w,
 * the (n, n) weights, w[i*n + j] from neuron i to neuron j. */
typedef struct {
    int32_t *x, *acc, *fired;
    uint8_t *spk;
    const int32_t *stim, *shift, *rest, *thr, *reset, *a, *b, *fmin, *w;
} bc__iqif_arrays;

/* One noise-free step of n neurons, fused in one pass over the neurons: acc += the weight
 * rows at w + rows[r] (r < n_rows: offsets i * n of the dense rows of the neurons that fired
 * in the last step), then decay, integrate, overflow and delta clear exactly as the scalar loop in
 * poppins.c (the reference the tests compare with, bit for bit). Writes x, acc, spk and the
 * new spike list (fired, ascending); *bound = max |acc| afterwards; returns the number of
 * spikes. Only when every sum provably fits 32 bits (the caller checks a bound). fired and
 * rows must not overlap. src/snn/avx512_iqif.c (16 neurons per vector, needs AVX-512 F, BW
 * and VL) and src/snn/avx2_iqif.c (8 per vector). */
int32_t bc__iqif_vstep_avx512(const bc__iqif_arrays *arrays, int32_t n, const int32_t *restrict rows, int32_t n_rows,
                              int64_t *bound);
int32_t bc__iqif_vstep_avx2(const bc__iqif_arrays *arrays, int32_t n, const int32_t *restrict rows, int32_t n_rows,
                            int64_t *bound);

#endif
