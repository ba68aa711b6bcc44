/* bf16 GEMM: scalar packers and kernel (the fallback), the blocked driver that every variant
 * shares, the naive reference, and the run-time choice of table. Conventions in bgemm.h. */
#include "bc_internal.h"
#include "kernels/bgemm.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static inline int bc__tid(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Offsets in the packed layout: element (row or column r, k t) of a panel set kp long. */
static inline int64_t bc__pa_at(int64_t kp, int64_t i, int64_t t) {
    return i / 16 * kp * 16 + t / 32 * 512 + i % 16 * 32 + t % 32;
}
static inline int64_t bc__pb_at(int64_t kp, int64_t t, int64_t j) {
    return j / 16 * kp * 16 + t / 32 * 512 + t % 32 / 2 * 32 + j % 16 * 2 + t % 2;
}

void bc__bgemm_pack_a_ref(uint16_t *restrict ap, bool ta, const float *restrict a, int64_t lda, int64_t m, int64_t k) {
    const int64_t kp = bc__bgemm_pad32(k), mp = bc__bgemm_pad16(m);
    for (int64_t i = 0; i < mp; i++)
        for (int64_t t = 0; t < kp; t++) {
            const float v = i < m && t < k ? (ta ? a[t * lda + i] : a[i * lda + t]) : 0.0f;
            ap[bc__pa_at(kp, i, t)] = bc__bf16_of(v);
        }
}

void bc__bgemm_pack_b_ref(uint16_t *restrict bp, bool tb, const float *restrict b, int64_t ldb, int64_t k, int64_t n) {
    const int64_t kp = bc__bgemm_pad32(k), np = bc__bgemm_pad16(n);
    for (int64_t t = 0; t < kp; t++)
        for (int64_t j = 0; j < np; j++) {
            const float v = j < n && t < k ? (tb ? b[j * ldb + t] : b[t * ldb + j]) : 0.0f;
            bp[bc__pb_at(kp, t, j)] = bc__bf16_of(v);
        }
}

void bc__bgemm_pack_b_im2col_ref(uint16_t *restrict bp, const float *restrict x, const bc__conv_geom *g, int64_t r0,
                                 int64_t k, int64_t j0, int64_t n) {
    const int64_t kp = bc__bgemm_pad32(k), np = bc__bgemm_pad16(n), c = g->c, p = (int64_t)g->oh * g->ow;
    for (int64_t t = 0; t < kp; t++)
        for (int64_t j = 0; j < np; j++) {
            float v = 0.0f;
            if (t < k && j < n) {
                const int64_t r = r0 + t, s = r / p, col = j0 + j, tap = col / c;
                const int32_t oy = (int32_t)(r % p / g->ow), ox = (int32_t)(r % p % g->ow);
                const int32_t iy = oy * g->stride - g->pad + (int32_t)(tap / g->k);
                const int32_t ix = ox * g->stride - g->pad + (int32_t)(tap % g->k);
                if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w)
                    v = x[((s * g->h + iy) * g->w + ix) * c + col % c];
            }
            bp[bc__pb_at(kp, t, j)] = bc__bf16_of(v);
        }
}

/* Pair by pair in fp32, the order the instructions' pseudocode gives (k 2p, then 2p+1). */
void bc__bgemm_kernel_ref(float *restrict c, int64_t ldc, const uint16_t *restrict ap, int64_t ap_stride,
                          const uint16_t *restrict bp, int64_t bp_stride, int64_t m, int64_t n, int64_t kt,
                          float alpha, float beta) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            const uint16_t *ar = ap + i / 16 * ap_stride + i % 16 * 32;
            const uint16_t *bc = bp + j / 16 * bp_stride + j % 16 * 2;
            float acc = 0.0f;
            for (int64_t t = 0; t < kt; t++)
                for (int64_t p = 0; p < 16; p++) {
                    const uint16_t *a2 = ar + t * 512 + 2 * p, *b2 = bc + t * 512 + 32 * p;
                    acc += bc__bf16_to_f32(a2[0]) * bc__bf16_to_f32(b2[0]);
                    acc += bc__bf16_to_f32(a2[1]) * bc__bf16_to_f32(b2[1]);
                }
            float *cij = c + i * ldc + j;
            *cij = beta == 0.0f ? alpha * acc : alpha * acc + beta * *cij;
        }
}

const bc__bf16_kernels bc__bf16_kernels_scalar = {.name = "scalar", .pack_a = bc__bgemm_pack_a_ref,
                                                  .pack_b = bc__bgemm_pack_b_ref,
                                                  .pack_b_im2col = bc__bgemm_pack_b_im2col_ref,
                                                  .kernel = bc__bgemm_kernel_ref};

static inline int64_t bc__min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Where the driver's B blocks come from: a float matrix (b, ldb, tb), a whole packed B (bp),
 * or the im2col of an image (x, g). */
typedef struct {
    bool tb;
    const float *b;
    int64_t ldb;
    const uint16_t *bp;
    const float *x;
    const bc__conv_geom *g;
} bc__bsrc;

/* The blocked loops every variant shares: A blocks of MC x KC, B blocks of KC x NC. */
static void bc__bgemm_core(const bc__bf16_kernels *kt, bool ta, int64_t m, int64_t n, int64_t k, float alpha,
                           const float *a, int64_t lda, const bc__bsrc *bs, float beta, float *c, int64_t ldc,
                           void *work) {
    BC_ASSERT(m >= 0 && n >= 0 && k >= 0);
    if (m == 0 || n == 0) return;
    if (k == 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    uint16_t *wa = work, *wb = wa + BC__BGEMM_MC * BC__BGEMM_KC; /* packed A block, packed B block */
    const int64_t kpw = bc__bgemm_pad32(k);                          /* a whole packed B's panel length */
    for (int64_t i0 = 0; i0 < m; i0 += BC__BGEMM_MC) {
        const int64_t mc = bc__min64(BC__BGEMM_MC, m - i0);
        for (int64_t k0 = 0; k0 < k; k0 += BC__BGEMM_KC) {
            const int64_t kc = bc__min64(BC__BGEMM_KC, k - k0), kp = bc__bgemm_pad32(kc);
            kt->pack_a(wa, ta, ta ? a + k0 * lda + i0 : a + i0 * lda + k0, lda, mc, kc);
            const float bet = k0 == 0 ? beta : 1.0f; /* later k blocks add to the first's result */
            for (int64_t j0 = 0; j0 < n; j0 += BC__BGEMM_NC) {
                const int64_t nc = bc__min64(BC__BGEMM_NC, n - j0);
                const uint16_t *bb = wb;
                int64_t bstride = kp * 16;
                if (bs->bp) {
                    bb = bs->bp + j0 / 16 * kpw * 16 + k0 * 16;
                    bstride = kpw * 16;
                } else if (bs->x) {
                    kt->pack_b_im2col(wb, bs->x, bs->g, k0, kc, j0, nc);
                } else {
                    kt->pack_b(wb, bs->tb, bs->tb ? bs->b + j0 * bs->ldb + k0 : bs->b + k0 * bs->ldb + j0, bs->ldb, kc, nc);
                }
                kt->kernel(c + i0 * ldc + j0, ldc, wa, kp * 16, bb, bstride, mc, nc, kp / 32, alpha, bet);
            }
        }
    }
}

void bc__bgemm_serial(const bc__bf16_kernels *kt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, const uint16_t *bp, float beta,
                      float *c, int64_t ldc, void *work) {
    const bc__bsrc bs = {.tb = tb, .b = b, .ldb = ldb, .bp = bp};
    bc__bgemm_core(kt, ta, m, n, k, alpha, a, lda, &bs, beta, c, ldc, work);
}

void bc__bgemm_im2col(const bc__bf16_kernels *kt, bool ta, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *x, const bc__conv_geom *g, float beta, float *c,
                      int64_t ldc, void *work) {
    BC_ASSERT(n == (int64_t)g->k * g->k * g->c);
    const bc__bsrc bs = {.x = x, .g = g};
    bc__bgemm_core(kt, ta, m, n, k, alpha, a, lda, &bs, beta, c, ldc, work);
}

#define BC__BGEMM_BLOCK 256            /* rows or columns per task (a multiple of 16) */
#define BC__BGEMM_SERIAL_WORK (1 << 18) /* m*n*k below which one call is cheaper */

void bc__bgemm(const bc__bf16_kernels *kt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb, const uint16_t *bp, float beta,
               float *c, int64_t ldc, void *work) {
    if (m == 0 || n == 0) return;
    if (m * n * k < BC__BGEMM_SERIAL_WORK) {
        bc__bgemm_serial(kt, ta, tb, m, n, k, alpha, a, lda, b, ldb, bp, beta, c, ldc, work);
        return;
    }
    const int64_t kpw = bc__bgemm_pad32(k);
    if (n >= m) { /* blocks of columns */
        const int64_t nblk = (n + BC__BGEMM_BLOCK - 1) / BC__BGEMM_BLOCK;
        #pragma omp parallel for schedule(static)
        for (int64_t bi = 0; bi < nblk; bi++) {
            const int64_t j0 = bi * BC__BGEMM_BLOCK, nj = bc__min64(BC__BGEMM_BLOCK, n - j0);
            void *w = (char *)work + (size_t)bc__tid() * BC__BGEMM_WORK_BYTES;
            bc__bgemm_serial(kt, ta, tb, m, nj, k, alpha, a, lda, bp ? NULL : tb ? b + j0 * ldb : b + j0, ldb,
                             bp ? bp + j0 / 16 * kpw * 16 : NULL, beta, c + j0, ldc, w);
        }
    } else { /* blocks of rows */
        const int64_t nblk = (m + BC__BGEMM_BLOCK - 1) / BC__BGEMM_BLOCK;
        #pragma omp parallel for schedule(static)
        for (int64_t bi = 0; bi < nblk; bi++) {
            const int64_t i0 = bi * BC__BGEMM_BLOCK, ni = bc__min64(BC__BGEMM_BLOCK, m - i0);
            void *w = (char *)work + (size_t)bc__tid() * BC__BGEMM_WORK_BYTES;
            bc__bgemm_serial(kt, ta, tb, ni, n, k, alpha, ta ? a + i0 : a + i0 * lda, lda, b, ldb, bp, beta,
                             c + i0 * ldc, ldc, w);
        }
    }
}

void bc__bgemm_pack_b_whole(const bc__bf16_kernels *kt, uint16_t *restrict bp, bool tb, const float *restrict b,
                            int64_t ldb, int64_t k, int64_t n) {
    kt->pack_b(bp, tb, b, ldb, k, n);
}

void bc__bgemm_ref(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t t = 0; t < k; t++) {
                const float av = bc__bf16_to_f32(bc__bf16_of(ta ? a[t * lda + i] : a[i * lda + t]));
                const float bv = bc__bf16_to_f32(bc__bf16_of(tb ? b[j * ldb + t] : b[t * ldb + j]));
                acc += (double)av * bv;
            }
            float *cij = c + i * ldc + j;
            *cij = beta == 0.0f ? alpha * (float)acc : alpha * (float)acc + beta * *cij;
        }
}

const bc__bf16_kernels *bc__bf16_kernels_for(bc_cpu cpu) {
#if defined(__x86_64__)
    if (cpu < BC_CPU_AVX512 || !bc__cpu_has_avx512bf16()) return NULL;
    return bc__cpu_amx_bf16_ready() ? &bc__bf16_kernels_amx : &bc__bf16_kernels_avx512bf16;
#else
    (void)cpu;
    return NULL;
#endif
}

const bc__bf16_kernels *bc__bf16_kernels_named(const char *name) {
    if (!strcmp(name, "scalar")) return &bc__bf16_kernels_scalar;
#if defined(__x86_64__)
    const bool avx512 = bc_cpu_detect() >= BC_CPU_AVX512 && bc__cpu_has_avx512bf16();
    if (!strcmp(name, "avx512bf16") && avx512) return &bc__bf16_kernels_avx512bf16;
    if (!strcmp(name, "amx") && avx512 && bc__cpu_amx_bf16_ready()) return &bc__bf16_kernels_amx;
#endif
    return NULL;
}
