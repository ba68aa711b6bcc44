/* The integer quadratic integrate-and-fire (IQIF) neuron of POPPINS, METHODS.md §5.2: the
 * public single-neuron entry points around the inline step in iqif.h. */
#include "snn/iqif.h"

int32_t bc_floor_shr(int32_t x, int32_t k) {
    BC_ASSERT(k >= 0 && k <= 31);
    return (int32_t)bc__floor_shr64(x, k);
}

int32_t bc_iqif_fmin(const bc_iqif_params *p) {
    BC_ASSERT(p->a + p->b >= 1);
    return (p->a * p->rest + p->b * p->threshold) / (p->a + p->b); /* truncates, as the reference */
}

bc_status bc_iqif_check(const bc_iqif_params *p) {
    if (p->rest < 0 || p->rest > BC_IQIF_VMAX) return bc__fail(BC_ERR_PARAM, "rest %d: expected an integer in [0, 255]", (int)p->rest);
    if (p->threshold < 0 || p->threshold > BC_IQIF_VMAX) return bc__fail(BC_ERR_PARAM, "threshold %d: expected an integer in [0, 255]", (int)p->threshold);
    if (p->reset < 0 || p->reset > BC_IQIF_VMAX) return bc__fail(BC_ERR_PARAM, "reset %d: expected an integer in [0, 255]", (int)p->reset);
    if (p->a < 0 || p->a > 255) return bc__fail(BC_ERR_PARAM, "a %d: expected an integer in [0, 255]", (int)p->a);
    if (p->b < 0 || p->b > 255) return bc__fail(BC_ERR_PARAM, "b %d: expected an integer in [0, 255]", (int)p->b);
    if (p->a + p->b < 1) return bc__fail(BC_ERR_PARAM, "a = b = 0: f_min = (a*rest + b*threshold) / (a + b) divides by zero");
    if (p->noise < 0 || p->noise > 255) return bc__fail(BC_ERR_PARAM, "noise %d: expected an integer in [0, 255]", (int)p->noise);
    return BC_OK;
}

int bc_iqif_step(const bc_iqif_params *p, int32_t f_min, int32_t *x, int64_t input) {
    BC_ASSERT(*x >= BC_IQIF_VMIN && *x <= BC_IQIF_VMAX);
    return bc__iqif_step(x, input, p->rest, p->threshold, p->reset, p->a, p->b, f_min);
}

int32_t bc_iqif_noise(bc_rng_key key, uint64_t index, int32_t strength) {
    uint32_t n = strength > 1 ? (uint32_t)strength : 1u; /* the reference's N = 0 -> 1 */
    return (int32_t)(bc_rng_u32(key, index) % n) - (int32_t)(n / 2);
}
