/* u8 x s8 -> s32 GEMM for the CIM executor's integer path (src/cim/exec.c), with a scalar
 * reference (i8gemm_ref.c) and AVX2 / AVX-512 VNNI versions picked at run time.
 *
 * Packed B layout. A (k, n) int8 matrix B is padded to n_pad = ceil(n/16) * 16 columns and
 * cut into panels of 64 columns (the last one n_pad - 64p wide); each panel holds ceil(k/4)
 * quads of its columns x 4 bytes: B[4q + t][j] is at bc__i8_b_offset(k, n, q, j) + t, and the
 * padding (4q + t >= k or j >= n) is 0. Four consecutive k per 32-bit lane is what vpdpbusd
 * (and vpmaddubsw + vpmaddwd) multiply and add in one step; contiguous panels keep a kernel's
 * column block in L1 (a row of all columns is a multiple of 1 KiB wide at N = 256, 512, and
 * such strides fall into a few L1 sets); the zero padding lets the kernels run whole quads
 * and whole 16-column vectors.
 *
 * Range. |a| <= 2 and |B| <= 127 (the CIM executor's {0, 1, 2} inputs and int8 cells): the
 * AVX2 kernel's int16 pair sums (at most 2 * 2 * 127) then never saturate. Sums are exact
 * int32 for k < 2^22. Integer results match the reference bit for bit. */
#ifndef BC_KERNELS_I8GEMM_H
#define BC_KERNELS_I8GEMM_H
#include "bitcell.h"

#include <stdint.h>

static inline int64_t bc__i8_quads(int64_t k) { return (k + 3) / 4; }
static inline int64_t bc__i8_cols(int64_t n) { return (n + 15) / 16 * 16; }
#define BC__I8_PANEL 64 /* columns per panel */

/* Byte offset of quad q, column j (j < n_pad) in a packed (k, n) B. */
static inline int64_t bc__i8_b_offset(int64_t k, int64_t n, int64_t q, int64_t j) {
    const int64_t j0 = j / BC__I8_PANEL * BC__I8_PANEL, np = bc__i8_cols(n);
    const int64_t w = np - j0 < BC__I8_PANEL ? np - j0 : BC__I8_PANEL;
    return (j0 * bc__i8_quads(k) + q * w + (j - j0)) * 4;
}
/* Bytes of a packed (k, n) B. */
static inline int64_t bc__i8_packed_bytes(int64_t k, int64_t n) { return bc__i8_quads(k) * bc__i8_cols(n) * 4; }

/* Packs B from its transpose: bt (n, ldb) int8, row j = column j of B, k elements used. */
void bc__i8_pack_b(int8_t *restrict bp, const int8_t *restrict bt, int64_t ldb, int64_t k, int64_t n);

typedef struct {
    const char *name; /* "scalar", "avx2", "avx512vnni" */
    /* c[i*ldc + j] = sum_{t<k} a[i*lda + t] * B[t][j] for i < m, j < n; bp packed as above.
     * Rows of a are read up to 4 * ceil(k/4) bytes: bytes past k meet zero weights, so their
     * values do not matter but they must be readable. Columns j >= n of c are not written. */
    void (*gemm)(int32_t *restrict c, int64_t ldc, const uint8_t *restrict a, int64_t lda,
                 const int8_t *restrict bp, int64_t m, int64_t n, int64_t k);
} bc__i8_kernels;

/* The best table not above cpu that this machine runs (VNNI is checked separately, it is
 * not part of BC_CPU_AVX512). cpu must not exceed bc_cpu_detect(). */
const bc__i8_kernels *bc__i8_kernels_for(bc_cpu cpu);

/* Scalar reference: the specification and test oracle (also the scalar table). */
void bc__i8_gemm_ref(int32_t *restrict c, int64_t ldc, const uint8_t *restrict a, int64_t lda,
                     const int8_t *restrict bp, int64_t m, int64_t n, int64_t k);

#if defined(__x86_64__)
extern const bc__i8_kernels bc__i8_kernels_avx2;
extern const bc__i8_kernels bc__i8_kernels_avx512vnni;
#endif
#endif
