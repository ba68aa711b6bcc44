/* AVX-512 VNNI u8 x s8 GEMM: one vpdpbusd multiplies 4 k of 16 columns and adds them into
 * int32 lanes. Conventions in i8gemm.h; results match bc__i8_gemm_ref bit for bit.
 *
 * Register block: RA rows x NV vectors of 16 columns (24 accumulators). Per quad of k, the NV
 * B vectors are loaded once and each row's 4 input bytes are broadcast once, so every load
 * feeds RA or NV multiply-adds. Columns run in blocks of 64 (one packed panel) outer, rows
 * inner: the panel (ceil(k/4) x 256 contiguous bytes, 8 KiB at k = 128) stays in L1 while
 * the rows stream by. */
#if defined(__x86_64__)
#include "kernels/i8gemm.h"

#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#define BC__I5_NV 4 /* zmm column vectors per block (the macros below name 4) */
#define BC__I5_RA 6 /* rows per register block (the macros below name 6) */

/* Accumulators are named variables, not arrays: GCC 12 keeps an unrolled array of vpdpbusd
 * accumulators in registers only with extra copies every step (half the speed). The guards
 * on ra and nv fold away once both are constants. */
#define BC__I5_ZERO(r) __m512i c##r##0 = _mm512_setzero_si512(), c##r##1 = c##r##0, c##r##2 = c##r##0, c##r##3 = c##r##0
#define BC__I5_ROW(r)                                                                            \
    if (ra > r) {                                                                                \
        int32_t w;                                                                               \
        memcpy(&w, a + r * lda + 4 * q, sizeof w);                                               \
        const __m512i av = _mm512_set1_epi32(w);                                                 \
        c##r##0 = _mm512_dpbusd_epi32(c##r##0, av, b0);                                          \
        if (nv > 1) c##r##1 = _mm512_dpbusd_epi32(c##r##1, av, b1);                              \
        if (nv > 2) c##r##2 = _mm512_dpbusd_epi32(c##r##2, av, b2);                              \
        if (nv > 3) c##r##3 = _mm512_dpbusd_epi32(c##r##3, av, b3);                              \
    }
#define BC__I5_STORE(r)                                                                          \
    if (ra > r) {                                                                                \
        int32_t *o = c + r * ldc;                                                                \
        BC__I5_PUT(o, nv == 1, c##r##0);                                                         \
        if (nv > 1) BC__I5_PUT(o + 16, nv == 2, c##r##1);                                        \
        if (nv > 2) BC__I5_PUT(o + 32, nv == 3, c##r##2);                                        \
        if (nv > 3) BC__I5_PUT(o + 48, true, c##r##3);                                           \
    }
/* No masked store: GCC 12 copies every accumulator once per k step when the loop's results
 * feed a variable-mask store, so a short last vector goes out through a stack buffer. */
#define BC__I5_PUT(o, is_last, v)                                                                \
    do {                                                                                         \
        if (!(is_last) || tail == 16) {                                                          \
            _mm512_storeu_si512(o, v);                                                           \
        } else {                                                                                 \
            int32_t buf[16];                                                                     \
            _mm512_storeu_si512(buf, v);                                                         \
            memcpy(o, buf, (size_t)tail * sizeof buf[0]);                                        \
        }                                                                                        \
    } while (0)

/* ra rows x nv vectors (constants after inlining); the last vector stores `tail` (1..16) lanes. */
static inline __attribute__((always_inline)) void
bc__i5_block(int32_t *restrict c, int64_t ldc, const uint8_t *restrict a, int64_t lda, const int8_t *restrict bp,
             int64_t kq, const int ra, const int nv, int64_t tail) {
    BC__I5_ZERO(0); BC__I5_ZERO(1); BC__I5_ZERO(2); BC__I5_ZERO(3); BC__I5_ZERO(4); BC__I5_ZERO(5);
    for (int64_t q = 0; q < kq; q++) {
        const int8_t *bq = bp + q * 64 * nv;
        const __m512i b0 = _mm512_loadu_si512(bq);
        const __m512i b1 = nv > 1 ? _mm512_loadu_si512(bq + 64) : b0;
        const __m512i b2 = nv > 2 ? _mm512_loadu_si512(bq + 128) : b0;
        const __m512i b3 = nv > 3 ? _mm512_loadu_si512(bq + 192) : b0;
        BC__I5_ROW(0) BC__I5_ROW(1) BC__I5_ROW(2) BC__I5_ROW(3) BC__I5_ROW(4) BC__I5_ROW(5)
    }
    BC__I5_STORE(0) BC__I5_STORE(1) BC__I5_STORE(2) BC__I5_STORE(3) BC__I5_STORE(4) BC__I5_STORE(5)
}

/* One small function per (ra, nv), picked from a table: each gets its own register
 * allocation (24 accumulators + 4 B vectors + 1 broadcast of 32 zmm). */
typedef void (*bc__i5_fn)(int32_t *restrict c, int64_t ldc, const uint8_t *restrict a, int64_t lda,
                          const int8_t *restrict bp, int64_t kq, int64_t tail);
#define BC__I5_FN(ra, nv)                                                                        \
    static void bc__i5_block_##ra##x##nv(int32_t *restrict c, int64_t ldc, const uint8_t *restrict a, \
                                         int64_t lda, const int8_t *restrict bp, int64_t kq,      \
                                         int64_t tail) {                           \
        bc__i5_block(c, ldc, a, lda, bp, kq, ra, nv, tail);                                  \
    }
#define BC__I5_FNS(ra) BC__I5_FN(ra, 1) BC__I5_FN(ra, 2) BC__I5_FN(ra, 3) BC__I5_FN(ra, 4)
BC__I5_FNS(1) BC__I5_FNS(2) BC__I5_FNS(3) BC__I5_FNS(4) BC__I5_FNS(5) BC__I5_FNS(6)
#define BC__I5_ROWFNS(ra) {bc__i5_block_##ra##x1, bc__i5_block_##ra##x2, bc__i5_block_##ra##x3, bc__i5_block_##ra##x4}
static const bc__i5_fn bc__i5_blocks[BC__I5_RA][BC__I5_NV] = {BC__I5_ROWFNS(1), BC__I5_ROWFNS(2), BC__I5_ROWFNS(3),
                                                              BC__I5_ROWFNS(4), BC__I5_ROWFNS(5), BC__I5_ROWFNS(6)};

static void bc__i8_gemm_avx512vnni(int32_t *restrict c, int64_t ldc, const uint8_t *restrict a, int64_t lda,
                                   const int8_t *restrict bp, int64_t m, int64_t n, int64_t k) {
    _Static_assert(16 * BC__I5_NV == BC__I8_PANEL, "a column block is one packed panel");
    const int64_t kq = bc__i8_quads(k);
    for (int64_t j0 = 0; j0 < n; j0 += 16 * BC__I5_NV) {
        const int64_t rem = n - j0, nv = rem >= 16 * BC__I5_NV ? BC__I5_NV : (rem + 15) / 16;
        const int64_t left = rem - 16 * (nv - 1), tail = left < 16 ? left : 16; /* columns in the last vector */
        int32_t *cj = c + j0;
        const int8_t *bj = bp + bc__i8_b_offset(k, n, 0, j0); /* this block's panel */
        const bc__i5_fn full = bc__i5_blocks[BC__I5_RA - 1][nv - 1];
        int64_t i = 0;
        for (; i + BC__I5_RA <= m; i += BC__I5_RA) full(cj + i * ldc, ldc, a + i * lda, lda, bj, kq, tail);
        if (i < m) bc__i5_blocks[m - i - 1][nv - 1](cj + i * ldc, ldc, a + i * lda, lda, bj, kq, tail);
    }
}

const bc__i8_kernels bc__i8_kernels_avx512vnni = {.name = "avx512vnni", .gemm = bc__i8_gemm_avx512vnni};
#endif
