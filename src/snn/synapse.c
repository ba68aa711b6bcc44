/* POPPINS synapse arithmetic, METHODS.md §5.3: the decay shift of a time constant and one decay
 * step of a post-synaptic current accumulator (the inline step in iqif.h). */
#include "snn/iqif.h"

int32_t bc_syn_shift(int32_t tau) {
    BC_ASSERT(tau >= 0);
    if (tau == 0) return -1;
    int32_t k = 0;
    while ((tau >> (k + 1)) != 0) k++; /* tau >= 1: shifts of a positive number only */
    return k;
}

int32_t bc_syn_decay(int32_t i, int32_t shift) {
    BC_ASSERT(shift >= 0 && shift <= 31);
    return bc__syn_decay(i, shift);
}
