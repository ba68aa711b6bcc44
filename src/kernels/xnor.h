/* Bit-packed binary kernels: sign packing and the XNOR-popcount GEMM, with a scalar
 * reference (xnor_ref.c) and AVX2 / AVX-512 VPOPCNTDQ versions picked at run time. The same
 * table carries the two float kernels of a binary network's first layer (direct_ref.c):
 * a direct convolution for inputs with few channels and batch norm + sign packing.
 *
 * Packed layout (b1 rows). A packed +-1 row of k elements is ceil(k/64) uint64 words:
 * element i is bit (i % 64) of word i / 64 (little-endian bit order inside a word).
 * Bit 1 means +1 (the float was >= 0.0f, so sign(0) = sign(-0.0) = +1); bit 0 means -1,
 * and NaN packs as -1 (the ordered compare x >= 0.0f is false). Bits at positions >= k in
 * the last word are always 0: the pack kernels guarantee it and the GEMM kernels rely on
 * it. Rows are read and written as exactly ceil(k/64) words; words past that in a longer
 * leading dimension are never touched.
 *
 * Dot product. For packed rows a, b of length k,
 *     dot = sum_i a_i * b_i = k - 2 * popcount(a XOR b),
 * since equal signs contribute +1 and different signs -1; the zero padding XORs to 0.
 *
 * All kernels are single-threaded pure functions on raw pointers (no allocation, no globals,
 * no logging; the SIMD GEMMs use a stack buffer of at most 16 KiB); callers parallelise over
 * rows of a. The SIMD GEMMs repack b per call (and per 256-512 rows of a), so give them at least
 * ~64 rows of a per call (>= 90% of peak; 1 row runs at ~15%). Pointers need no particular
 * alignment. Integer results match the reference bit for bit. */
#ifndef BC_KERNELS_XNOR_H
#define BC_KERNELS_XNOR_H
#include "bitcell.h"

#include <stdint.h>

/* Words in a packed row of k elements. */
static inline int64_t bc__b1_words(int64_t k) { return (k + 63) / 64; }

typedef struct {
    const char *name; /* "scalar", "avx2", "avx512" */
    /* out[i*ldo + j] = dot(a row i, b row j) for i < n, j < m.
     * out: (n, ldo) int32; a: (n, lda) words; b: (m, ldb) words; k elements per row,
     * lda, ldb >= ceil(k/64), ldo >= m. k = 0 gives 0. */
    void (*xnor_gemm)(int32_t *restrict out, int64_t ldo, const uint64_t *restrict a, int64_t lda,
                      const uint64_t *restrict b, int64_t ldb, int64_t n, int64_t m, int64_t k);
    /* out row r (ldo words) = signs of x[r*ldx + 0..k), padding bits 0.
     * out: (rows, ldo) words, ldo >= ceil(k/64); x: (rows, ldx) floats, ldx >= k. */
    void (*pack_signs)(uint64_t *restrict out, int64_t ldo, const float *restrict x, int64_t ldx,
                       int64_t rows, int64_t k);
    /* Threshold packing: out row r bit j = (mul[j] * x[r*ldx + j] >= thr[j]), j < k; mul is
     * +1 or -1 per column (a comparison x <= t is -x >= -t). Padding bits 0.
     * out: (rows, ldo) words; x: (rows, ldx) int32, |x| < 2^31 - 1. */
    void (*threshold_pack)(uint64_t *restrict out, int64_t ldo, const int32_t *restrict x, int64_t ldx,
                           const int32_t *restrict mul, const int32_t *restrict thr, int64_t rows, int64_t k);
    /* Batch norm + sign packing: out row r bit j = (x[r*ldx + j] * scale[j] + shift[j] >= 0),
     * multiply and add rounded separately (bc__bn_apply), ordered (NaN gives 0). Padding bits 0.
     * out: (rows, ldo) words; x: (rows, ldx) floats. */
    void (*affine_pack)(uint64_t *restrict out, int64_t ldo, const float *restrict x, int64_t ldx,
                        const float *restrict scale, const float *restrict shift, int64_t rows, int64_t k);
    /* Direct float convolution of `rows` output rows of one image (for few input channels,
     * where im2col + GEMM has a poor shape). xp: the zero-padded input from the first row's
     * window, (.., wp, c) floats: output row r reads input rows r*stride .. r*stride+k-1.
     * wt: (k*k*c, m) weights transposed to tap-major; bias: (m) or NULL.
     * out[(r*ow + ox)*ldo + j] = sum over ky, kx, ci (in that order, from 0.0f, each product
     * and sum rounded: no FMA) of xp[((r*stride + ky)*wp + ox*stride + kx)*c + ci] *
     * wt[((ky*k + kx)*c + ci)*m + j], then + bias[j]. Every variant gives the same bits. */
    void (*conv_direct)(float *restrict out, int64_t ldo, const float *restrict xp, int64_t wp, int64_t c,
                        int32_t k, int32_t stride, int32_t ow, int32_t rows, const float *restrict wt,
                        const float *restrict bias, int64_t m);
} bc__bin_kernels;

/* The best table not above cpu (scalar always exists). cpu must not exceed what the
 * machine supports: pass bc_ctx_cpu(ctx) or bc_cpu_detect(). */
const bc__bin_kernels *bc__bin_kernels_for(bc_cpu cpu);

/* Scalar references: the specification and test oracle (also the scalar table). */
void bc__xnor_gemm_ref(int32_t *restrict out, int64_t ldo, const uint64_t *restrict a, int64_t lda,
                       const uint64_t *restrict b, int64_t ldb, int64_t n, int64_t m, int64_t k);
void bc__pack_signs_ref(uint64_t *restrict out, int64_t ldo, const float *restrict x, int64_t ldx,
                        int64_t rows, int64_t k);

void bc__threshold_pack_ref(uint64_t *restrict out, int64_t ldo, const int32_t *restrict x, int64_t ldx,
                            const int32_t *restrict mul, const int32_t *restrict thr, int64_t rows, int64_t k);
void bc__affine_pack_ref(uint64_t *restrict out, int64_t ldo, const float *restrict x, int64_t ldx,
                         const float *restrict scale, const float *restrict shift, int64_t rows, int64_t k);
void bc__conv_direct_ref(float *restrict out, int64_t ldo, const float *restrict xp, int64_t wp, int64_t c,
                         int32_t k, int32_t stride, int32_t ow, int32_t rows, const float *restrict wt,
                         const float *restrict bias, int64_t m);

#if defined(__x86_64__)
/* Per-ISA tables, defined in avx2_xnor.c / avx512_xnor.c (built with their ISA flags). */
extern const bc__bin_kernels bc__bin_kernels_avx2;
extern const bc__bin_kernels bc__bin_kernels_avx512;
/* In avx512_direct.c. */
void bc__affine_pack_avx512(uint64_t *restrict out, int64_t ldo, const float *restrict x, int64_t ldx,
                            const float *restrict scale, const float *restrict shift, int64_t rows, int64_t k);
void bc__conv_direct_avx512(float *restrict out, int64_t ldo, const float *restrict xp, int64_t wp, int64_t c,
                            int32_t k, int32_t stride, int32_t ow, int32_t rows, const float *restrict wt,
                            const float *restrict bias, int64_t m);
#endif

#endif
