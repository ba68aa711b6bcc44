/* The integer path's weights: a mapped layer's effective cells beff = sign(w) * c as int8
 * steps of 1/S (resolution and the choice of S in cim.h), each row group packed for the u8 x
 * s8 GEMM, and the per-group column sums that turn its {0, 1, 2} inputs back into ±1:
 *     sum_i x_i q_ij = sum_i (x_i + 1) q_ij - sum_i q_ij. */
#include "cim/cim.h"

#include <math.h>

void bc__cim_quantise(bc__cim_layer *cl) {
    const int64_t K = cl->K, N = cl->N, KN = K * N;
    float mx = 0.0f;
    #pragma omp parallel for schedule(static) reduction(max : mx) if (KN > 16384)
    for (int64_t i = 0; i < KN; i++) mx = fmaxf(mx, fabsf(cl->beff[i]));
    int32_t S = 64;
    while (S >= BC__CIM_QSCALE_MIN && mx * (float)S > 127.0f) S /= 2;
    cl->qscale = S >= BC__CIM_QSCALE_MIN ? S : 0;
    if (!cl->qscale) return;
    #pragma omp parallel for schedule(static) if (KN > 16384)
    for (int64_t j = 0; j < N; j++) {
        const float *b = cl->beff + j * K;
        int8_t *q = cl->q + j * K;
        for (int64_t i = 0; i < K; i++) q[i] = (int8_t)roundf(b[i] * (float)S); /* exact scaling: S = 2^e */
        for (int32_t g = 0; g < cl->G; g++) {
            int32_t s = 0;
            for (int64_t i = cl->g_k0[g]; i < cl->g_k0[g + 1]; i++) s += q[i];
            cl->qsum[g * N + j] = s;
        }
    }
    #pragma omp parallel for schedule(static)
    for (int32_t g = 0; g < cl->G; g++)
        bc__i8_pack_b(cl->qpack + cl->qoff[g], cl->q + cl->g_k0[g], K, cl->g_k0[g + 1] - cl->g_k0[g], N);
}
