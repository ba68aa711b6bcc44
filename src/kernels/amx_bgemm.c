/* AMX-BF16 kernel of the bf16 GEMM (layout in bgemm.h): one tdpbf16ps multiplies a 16 x 32 A
 * tile by a 32 x 16 B tile into a 16 x 16 fp32 tile. Blocks of 2 x 2 C tiles (32 x 32) use all
 * eight tile registers: C in 0-3, two A tiles in 4-5, two B tiles in 6-7; per 32 k, four
 * loads feed four multiplies. Columns run in pairs of B panels outer (2 KiB per 32 k, kept
 * in L1 while the rows go by), rows inner.
 * Full tiles with alpha = 1 and beta in {0, 1} are loaded from and stored to C directly;
 * partial tiles and other alpha, beta go through a 16 x 16 buffer. The caller must hold the
 * tile-data permission (bc__cpu_amx_bf16_ready); the tiles are released before returning. */
#if defined(__x86_64__)
#include "kernels/bgemm.h"

#include <immintrin.h>

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} bc__tilecfg;
_Static_assert(sizeof(bc__tilecfg) == 64, "AMX tile configuration is 64 bytes");

/* out(rows, cols) = alpha * buf + beta * out (beta == 0: out not read). */
static void bc__amx_merge(float *restrict c, int64_t ldc, const float *restrict buf, int64_t rows, int64_t cols,
                          float alpha, float beta) {
    const __mmask16 mk = (__mmask16)(cols >= 16 ? 0xffff : (1u << cols) - 1);
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int64_t r = 0; r < rows; r++) {
        __m512 v = _mm512_mul_ps(va, _mm512_loadu_ps(buf + 16 * r));
        if (beta != 0.0f) v = _mm512_add_ps(v, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(mk, c + r * ldc)));
        _mm512_mask_storeu_ps(c + r * ldc, mk, v);
    }
}

/* Tile numbers must be constants: one macro per C tile T at row offset R, column offset S. */
#define BC__AMX_FULL(R, S) (direct && m - (R) >= 16 && n - (S) >= 16)
#define BC__AMX_INIT(T, R, S)                                                                    \
    do {                                                                                         \
        if (BC__AMX_FULL(R, S) && beta == 1.0f) _tile_loadd(T, c + (R) * ldc + (S), ldc * 4);   \
        else _tile_zero(T);                                                                      \
    } while (0)
#define BC__AMX_STORE(T, R, S)                                                                   \
    do {                                                                                         \
        if (BC__AMX_FULL(R, S)) {                                                                \
            _tile_stored(T, c + (R) * ldc + (S), ldc * 4);                                       \
        } else {                                                                                 \
            _tile_stored(T, buf, 64);                                                            \
            bc__amx_merge(c + (R) * ldc + (S), ldc, buf, m - (R) < 16 ? m - (R) : 16,            \
                          n - (S) < 16 ? n - (S) : 16, alpha, beta);                             \
        }                                                                                        \
    } while (0)

/* A block of (m2 ? 2 : 1) x (n2 ? 2 : 1) tiles; m, n: rows and columns of C left from here. */
static inline __attribute__((always_inline)) void
bc__amx_block(float *restrict c, int64_t ldc, const uint16_t *a0, const uint16_t *a1, const uint16_t *b0,
              const uint16_t *b1, int64_t m, int64_t n, int64_t kt, float alpha, float beta, const bool m2,
              const bool n2) {
    float buf[256];
    const bool direct = alpha == 1.0f && (beta == 0.0f || beta == 1.0f);
    BC__AMX_INIT(0, 0, 0);
    if (n2) BC__AMX_INIT(1, 0, 16);
    if (m2) BC__AMX_INIT(2, 16, 0);
    if (m2 && n2) BC__AMX_INIT(3, 16, 16);
    for (int64_t t = 0; t < kt; t++) {
        _tile_loadd(4, a0 + t * 512, 64);
        _tile_loadd(6, b0 + t * 512, 64);
        if (n2) _tile_loadd(7, b1 + t * 512, 64);
        if (m2) _tile_loadd(5, a1 + t * 512, 64);
        _tile_dpbf16ps(0, 4, 6);
        if (n2) _tile_dpbf16ps(1, 4, 7);
        if (m2) _tile_dpbf16ps(2, 5, 6);
        if (m2 && n2) _tile_dpbf16ps(3, 5, 7);
    }
    BC__AMX_STORE(0, 0, 0);
    if (n2) BC__AMX_STORE(1, 0, 16);
    if (m2) BC__AMX_STORE(2, 16, 0);
    if (m2 && n2) BC__AMX_STORE(3, 16, 16);
}

static void bc__bgemm_kernel_amx(float *restrict c, int64_t ldc, const uint16_t *restrict ap, int64_t ap_stride,
                                 const uint16_t *restrict bp, int64_t bp_stride, int64_t m, int64_t n, int64_t kt,
                                 float alpha, float beta) {
    bc__tilecfg cfg = {.palette = 1};
    for (int i = 0; i < 8; i++) {
        cfg.colsb[i] = 64;
        cfg.rows[i] = 16;
    }
    _tile_loadconfig(&cfg);
    for (int64_t j0 = 0; j0 < n; j0 += 32) {
        const uint16_t *b0 = bp + j0 / 16 * bp_stride, *b1 = b0 + bp_stride;
        const bool n2 = n - j0 > 16;
        for (int64_t i0 = 0; i0 < m; i0 += 32) {
            const uint16_t *a0 = ap + i0 / 16 * ap_stride, *a1 = a0 + ap_stride;
            float *cb = c + i0 * ldc + j0;
            if (m - i0 > 16) {
                if (n2) bc__amx_block(cb, ldc, a0, a1, b0, b1, m - i0, n - j0, kt, alpha, beta, true, true);
                else bc__amx_block(cb, ldc, a0, a1, b0, b1, m - i0, n - j0, kt, alpha, beta, true, false);
            } else {
                if (n2) bc__amx_block(cb, ldc, a0, a1, b0, b1, m - i0, n - j0, kt, alpha, beta, false, true);
                else bc__amx_block(cb, ldc, a0, a1, b0, b1, m - i0, n - j0, kt, alpha, beta, false, false);
            }
        }
    }
    _tile_release();
}

const bc__bf16_kernels bc__bf16_kernels_amx = {
    .name = "amx", .pack_a = bc__bgemm_pack_a_avx512bf16, .pack_b = bc__bgemm_pack_b_avx512bf16,
    .pack_b_im2col = bc__bgemm_pack_b_im2col_avx512bf16, .kernel = bc__bgemm_kernel_amx};
#endif
