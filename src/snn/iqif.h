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

#endif
