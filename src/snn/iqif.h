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

/* The neuron phase of a step for n neurons (src/snn/avx512_iqif.c): returns the number of
 * spikes, listed in fired; *bound = max |acc| afterwards. Only for noise-free processors whose
 * sums provably fit 32 bits. */
int32_t bc__iqif_update_avx512(int32_t n, int32_t *restrict x, int32_t *restrict acc, uint8_t *restrict spk,
                               int32_t *restrict fired, int64_t *bound, const int32_t *restrict stim,
                               const int32_t *restrict shift, const int32_t *restrict rest,
                               const int32_t *restrict thr, const int32_t *restrict reset,
                               const int32_t *restrict a, const int32_t *restrict b,
                               const int32_t *restrict fmin);
/* acc[j] += w[j] for j < n (wrapping is the caller's concern: it proves there is none). */
void bc__add_row_avx512(int32_t *restrict acc, const int32_t *restrict w, int32_t n);

#endif
