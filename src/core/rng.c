/* Counter-based randomness: Philox4x32-10 from Random123, keyed by (seed, purpose, chip, layer).
 * A draw is a pure function of its key and index, so results never depend on thread count
 * or call order. */
#include "bc_internal.h"

#include <math.h>
#include <Random123/philox.h>

static philox4x32_ctr_t bc__philox(bc_rng_key k, uint64_t block) {
    philox4x32_key_t key = {{(uint32_t)k.seed ^ (k.purpose * 0x9E3779B9u),
                             (uint32_t)(k.seed >> 32) ^ (k.layer * 0x85EBCA6Bu)}};
    philox4x32_ctr_t ctr = {{(uint32_t)block, (uint32_t)(block >> 32), k.chip, k.purpose}};
    return philox4x32(ctr, key);
}

uint32_t bc_rng_u32(bc_rng_key k, uint64_t index) {
    philox4x32_ctr_t r = bc__philox(k, index >> 2);
    return r.v[index & 3];
}

void bc__rng_block(bc_rng_key k, uint64_t block, uint32_t out[4]) {
    philox4x32_ctr_t r = bc__philox(k, block);
    for (int i = 0; i < 4; i++) out[i] = r.v[i];
}

float bc_rng_uniform(bc_rng_key k, uint64_t index) {
    return (float)(bc_rng_u32(k, index) >> 8) * (1.0f / 16777216.0f);
}

float bc_rng_normal(bc_rng_key k, uint64_t index) {
    /* Box-Muller on one Philox block: two uniforms from words 0 and 1 of block `index`. */
    philox4x32_ctr_t r = bc__philox(k, index);
    double u1 = ((double)(r.v[0] >> 8) + 1.0) / 16777217.0; /* (0, 1]: log is finite */
    double u2 = (double)(r.v[1] >> 8) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void bc_rng_permutation(bc_rng_key k, int64_t *perm, int64_t n) {
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        /* A 64-bit draw reduced modulo i+1: bias below 2^-32 for any n < 2^32. */
        uint64_t r = ((uint64_t)bc_rng_u32(k, 2 * (uint64_t)i) << 32) | bc_rng_u32(k, 2 * (uint64_t)i + 1);
        int64_t j = (int64_t)(r % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
