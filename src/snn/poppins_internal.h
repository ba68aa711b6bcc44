/* The POPPINS processor object, shared by its builder (procfile.c) and its step (poppins.c). */
#ifndef BC_SNN_POPPINS_INTERNAL_H
#define BC_SNN_POPPINS_INTERNAL_H

#include "snn/iqif.h"

/* All arrays live in one 64-byte aligned block (`block`, `block_bytes`), so a clone is one
 * memcpy and a pointer rebase. n = neurons over all populations, nnz = non-zero synapses. */
struct bc_poppins {
    bc_poppins_chip chip;
    int32_t n_pops;
    char pop_name[BC_POPPINS_MAX_POPS][BC_NAME_MAX];
    int32_t pop_n[BC_POPPINS_MAX_POPS], pop_off[BC_POPPINS_MAX_POPS];
    int32_t n;
    int64_t nnz;
    int32_t acc_lo, acc_hi; /* accumulator range from accumulator_bits */
    bool any_noise;
    bc_rng_key noise_key;
    int64_t t; /* steps since reset */
    int32_t n_fired;

    /* per neuron (n): parameters */
    int32_t *rest, *thr, *reset, *a, *b, *fmin, *noise, *tau, *shift, *bias;
    /* weights: w (n, n), w[i*n + j] from neuron i to neuron j; and the same non-zeros as rows:
     * row (n + 1) offsets into col, val (nnz) */
    int32_t *w, *row, *col, *val;
    /* per pre-synaptic neuron (n): non-zero weights of its row, their largest magnitude, and
     * the row's offset i * n into w if step 1 adds it whole (dense_nnz non-zeros or more),
     * else -1 (added by index) */
    int32_t *row_nnz, *row_maxabs, *row_off;
    int64_t acc_bound; /* >= max |acc| after the last step: below acc_hi, sums cannot saturate */
    int64_t stim_bound; /* >= max |stim| */
    bc_cpu isa;         /* the vector step's variant (CPU and BC_CPU allow it), or scalar */
    int32_t dense_nnz;
    /* state (n): membranes, accumulators, stimulus, spikes of the last step; fired (n) lists
     * the neurons that spiked in the last step, n_fired of them; scratch of a step (n each):
     * the fired neurons' rows that step 1 adds whole (dense, offsets into w) and by index
     * (sparse, neuron numbers) */
    int32_t *x, *acc, *stim, *fired, *dense, *sparse;
    uint8_t *spk;

    void *block;
    size_t block_bytes;
    char *text; /* the description, weights files inlined */
};

/* Allocates the block for n neurons and nnz synapses and points the arrays into it. */
bc_status bc__poppins_alloc(bc_poppins *p, int32_t n, int64_t nnz);
/* Builds row/col/val from w (after w is filled), then resets the state. */
void bc__poppins_finish(bc_poppins *p);

#endif
