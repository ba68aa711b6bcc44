/* bf16 GEMM with fp32 accumulation for training's binary-layer GEMMs, with a scalar reference
 * (bgemm_ref.c) and AVX512-BF16 (vdpbf16ps) and AMX-BF16 (tdpbf16ps) kernels picked at run time.
 *
 *   C(m, n) = alpha * bf16(op(A))(m, k) * bf16(op(B))(k, n) + beta * C     (row-major, fp32)
 *
 * bf16(x) rounds an fp32 to bfloat16 (its upper 16 bits) to nearest, ties to even; NaN stays
 * a quiet NaN; values past the largest bf16 become infinities. A product of two bf16 is
 * exact in fp32 and the sums are fp32. ±1 (and any integer up to 256 in magnitude) is exact
 * in bf16, so a GEMM of ±1 by ±1 gives the exact integers while |sums| < 2^24. The SIMD
 * packers and kernels treat subnormals as zero (the instructions do); the scalar ones do
 * not. Otherwise the packers agree bit for bit, and the kernels' results differ by the order
 * of the fp32 additions only.
 *
 * Packed layout. op(A) is cut into panels of 16 rows and op(B) into panels of 16 columns;
 * k is padded with zeros to a multiple of 32, and so are rows (columns) past m (n). A panel
 * is kp = ceil(k/32)*32 long and holds kp/32 tiles of 512 bf16 (1 KiB), one per 32 k:
 *   A tile: 16 rows x 32 k, row-major (row i at 32*i);
 *   B tile: 16 k pairs x 16 columns x 2 ("VNNI"): B[2p+t][j] at 32*p + 2*j + t.
 * Tile t of panel q is at (q * kp + 32 * t) * 16 elements. A tile row is what AMX loads as a
 * tile row (64 bytes) and what vdpbf16ps reads as one pair per 32-bit lane.
 *
 * The driver (bc__bgemm_serial) packs blocks of BC__BGEMM_KC k by BC__BGEMM_MC rows of A and
 * BC__BGEMM_NC columns of B into a caller's workspace and runs the kernel on them; the
 * blocking depends on the shapes only, so the bits do not depend on the thread count. */
#ifndef BC_KERNELS_BGEMM_H
#define BC_KERNELS_BGEMM_H
#include "bitcell.h"
#include "kernels/im2col.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define BC__BGEMM_KC 512 /* k per packed block (a multiple of 32) */
#define BC__BGEMM_MC 256 /* rows of A per packed block (a multiple of 32) */
#define BC__BGEMM_NC 256 /* columns of B per packed block (a multiple of 32) */

/* Round to nearest even; NaN stays NaN (quiet). */
static inline uint16_t bc__bf16_of(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u | 0x00400000u) >> 16);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
static inline float bc__bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Padded sizes: rows (columns) to 16, k to 32. */
static inline int64_t bc__bgemm_pad16(int64_t m) { return (m + 15) / 16 * 16; }
static inline int64_t bc__bgemm_pad32(int64_t k) { return (k + 31) / 32 * 32; }
/* bf16 elements of a packed op(A) (m, k) or op(B) (k, n): bc__bgemm_packed(m, k). */
static inline int64_t bc__bgemm_packed(int64_t mn, int64_t k) { return bc__bgemm_pad16(mn) * bc__bgemm_pad32(k); }
/* Bytes of the driver's per-call workspace (one packed block of A and one of B). */
#define BC__BGEMM_WORK_BYTES ((size_t)(BC__BGEMM_MC + BC__BGEMM_NC) * BC__BGEMM_KC * 2)

typedef struct {
    const char *name; /* "scalar", "avx512bf16", "amx" */
    /* Packs rows [0, m) and k [0, k) of op(A) (ta: A(i, t) = a[t*lda + i], else a[i*lda + t])
     * into ap, padded as above (pad16(m) * pad32(k) elements). */
    void (*pack_a)(uint16_t *restrict ap, bool ta, const float *restrict a, int64_t lda, int64_t m, int64_t k);
    /* Packs op(B) (k, n) (tb: B(t, j) = b[j*ldb + t], else b[t*ldb + j]) into bp. */
    void (*pack_b)(uint16_t *restrict bp, bool tb, const float *restrict b, int64_t ldb, int64_t k, int64_t n);
    /* Packs rows [r0, r0 + k) and columns [j0, j0 + n) of the im2col of x (bc__im2col: row =
     * output pixel, column = (ky, kx, c)) as a B, without the float im2col; k <= BC__BGEMM_KC.
     * The SIMD versions need g->c, j0 and n to be multiples of 16. */
    void (*pack_b_im2col)(uint16_t *restrict bp, const float *restrict x, const bc__conv_geom *g, int64_t r0,
                          int64_t k, int64_t j0, int64_t n);
    /* C(m, n) = alpha * A * B + beta * C on packed panels: ap's panels are as (m, 32*kt), each
     * ap_stride elements apart; bp's as (32*kt, n), bp_stride apart. beta == 0 does not read
     * C. Columns past n and rows past m of C are not touched. */
    void (*kernel)(float *restrict c, int64_t ldc, const uint16_t *restrict ap, int64_t ap_stride,
                   const uint16_t *restrict bp, int64_t bp_stride, int64_t m, int64_t n, int64_t kt,
                   float alpha, float beta);
} bc__bf16_kernels;

/* The best table not above cpu that this machine runs, or NULL when it has neither AMX-BF16
 * (with the kernel's permission for tile data) nor AVX512-BF16, or cpu < BC_CPU_AVX512. The
 * scalar table always exists: bc__bf16_kernels_scalar. */
const bc__bf16_kernels *bc__bf16_kernels_for(bc_cpu cpu);
/* A table by name ("scalar", "avx512bf16", "amx"), NULL when this machine cannot run it. */
const bc__bf16_kernels *bc__bf16_kernels_named(const char *name);
extern const bc__bf16_kernels bc__bf16_kernels_scalar;

/* C = alpha * op(A) op(B) + beta * C on the calling thread; work: BC__BGEMM_WORK_BYTES,
 * 64-byte aligned. bp, when not NULL, is op(B) already packed whole (bc__bgemm_pack_b_whole)
 * and b, ldb, tb are ignored. */
void bc__bgemm_serial(const bc__bf16_kernels *kt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, const uint16_t *bp, float beta,
                      float *c, int64_t ldc, void *work);
/* The same over OpenMP threads in fixed blocks of rows or columns (as bc__sgemm): work holds
 * BC__BGEMM_WORK_BYTES per thread, thread t's at work + t * BC__BGEMM_WORK_BYTES. */
void bc__bgemm(const bc__bf16_kernels *kt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, const uint16_t *bp, float beta,
               float *c, int64_t ldc, void *work);
/* C = alpha * op(A) * im2col(x) + beta * C on the calling thread: B (k, n) is rows [0, k) of
 * the im2col of x (k output pixels, n = g->k^2 * g->c), packed block by block straight from
 * x. With the SIMD tables g->c must be a multiple of 16. */
void bc__bgemm_im2col(const bc__bf16_kernels *kt, bool ta, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *x, const bc__conv_geom *g, float beta, float *c,
                      int64_t ldc, void *work);
/* Packs all of op(B) for bc__bgemm_serial's bp (bc__bgemm_packed(n, k) elements). */
void bc__bgemm_pack_b_whole(const bc__bf16_kernels *kt, uint16_t *restrict bp, bool tb, const float *restrict b,
                            int64_t ldb, int64_t k, int64_t n);

/* The specification and test oracle: each operand rounded to bf16, products summed in double,
 * then alpha * sum + beta * C in fp32 (beta == 0 does not read C). */
void bc__bgemm_ref(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* Scalar packers and kernel (the scalar table's entries). */
void bc__bgemm_pack_a_ref(uint16_t *restrict ap, bool ta, const float *restrict a, int64_t lda, int64_t m, int64_t k);
void bc__bgemm_pack_b_ref(uint16_t *restrict bp, bool tb, const float *restrict b, int64_t ldb, int64_t k, int64_t n);
void bc__bgemm_pack_b_im2col_ref(uint16_t *restrict bp, const float *restrict x, const bc__conv_geom *g, int64_t r0,
                                 int64_t k, int64_t j0, int64_t n);
void bc__bgemm_kernel_ref(float *restrict c, int64_t ldc, const uint16_t *restrict ap, int64_t ap_stride,
                          const uint16_t *restrict bp, int64_t bp_stride, int64_t m, int64_t n, int64_t kt,
                          float alpha, float beta);

#if defined(__x86_64__)
/* avx512bf16_pack.c: packers with vcvtne2ps2bf16 (shared by the AVX512-BF16 and AMX tables). */
void bc__bgemm_pack_a_avx512bf16(uint16_t *restrict ap, bool ta, const float *restrict a, int64_t lda, int64_t m,
                                 int64_t k);
void bc__bgemm_pack_b_avx512bf16(uint16_t *restrict bp, bool tb, const float *restrict b, int64_t ldb, int64_t k,
                                 int64_t n);
void bc__bgemm_pack_b_im2col_avx512bf16(uint16_t *restrict bp, const float *restrict x, const bc__conv_geom *g,
                                        int64_t r0, int64_t k, int64_t j0, int64_t n);
extern const bc__bf16_kernels bc__bf16_kernels_avx512bf16; /* avx512bf16_bgemm.c */
extern const bc__bf16_kernels bc__bf16_kernels_amx;        /* amx_bgemm.c */
#endif
#endif
