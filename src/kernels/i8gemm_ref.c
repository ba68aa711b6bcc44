/* Scalar reference of the u8 x s8 GEMM, B packing, and the run-time choice of table.
 * Layout and ranges are in i8gemm.h. */
#include "kernels/i8gemm.h"

void bc__i8_pack_b(int8_t *restrict bp, const int8_t *restrict bt, int64_t ldb, int64_t k, int64_t n) {
    const int64_t kq = bc__i8_quads(k), np = bc__i8_cols(n);
    for (int64_t q = 0; q < kq; q++)
        for (int64_t j = 0; j < np; j++)
            for (int64_t t = 0; t < 4; t++) {
                const int64_t kk = 4 * q + t;
                bp[bc__i8_b_offset(k, n, q, j) + t] = j < n && kk < k ? bt[j * ldb + kk] : 0;
            }
}

/* Quad by quad, sweeping a panel's contiguous row: the order keeps this usable as the
 * fallback (BC_CPU=scalar) at a few GMAC/s; integer sums do not depend on it. */
void bc__i8_gemm_ref(int32_t *restrict c, int64_t ldc, const uint8_t *restrict a, int64_t lda,
                     const int8_t *restrict bp, int64_t m, int64_t n, int64_t k) {
    const int64_t kq = bc__i8_quads(k);
    for (int64_t i = 0; i < m; i++) {
        int32_t *ci = c + i * ldc;
        for (int64_t j = 0; j < n; j++) ci[j] = 0;
        for (int64_t j0 = 0; j0 < n; j0 += BC__I8_PANEL) {
            const int64_t nj = n - j0 < BC__I8_PANEL ? n - j0 : BC__I8_PANEL;
            for (int64_t q = 0; q < kq; q++) {
                const uint8_t *a4 = a + i * lda + 4 * q;
                const int8_t *bq = bp + bc__i8_b_offset(k, n, q, j0);
                const int64_t nt = k - 4 * q < 4 ? k - 4 * q : 4; /* bytes of a past k are not read */
                int32_t *cj = ci + j0;
                if (nt == 4) {
                    const int32_t a0 = a4[0], a1 = a4[1], a2 = a4[2], a3 = a4[3];
                    for (int64_t j = 0; j < nj; j++)
                        cj[j] += a0 * bq[4 * j] + a1 * bq[4 * j + 1] + a2 * bq[4 * j + 2] + a3 * bq[4 * j + 3];
                } else {
                    for (int64_t j = 0; j < nj; j++)
                        for (int64_t t = 0; t < nt; t++) cj[j] += (int32_t)a4[t] * bq[4 * j + t];
                }
            }
        }
    }
}

static const bc__i8_kernels bc__i8_kernels_scalar = {.name = "scalar", .gemm = bc__i8_gemm_ref};

const bc__i8_kernels *bc__i8_kernels_for(bc_cpu cpu) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (cpu >= BC_CPU_AVX512 && __builtin_cpu_supports("avx512vnni")) return &bc__i8_kernels_avx512vnni;
    if (cpu >= BC_CPU_AVX2) return &bc__i8_kernels_avx2;
#endif
    (void)cpu;
    return &bc__i8_kernels_scalar;
}
