/* Float GEMM through OpenBLAS's cblas, with the argument checks done once here.
 * OpenBLAS runs single-threaded; the output is cut into fixed blocks of rows or columns
 * that OpenMP threads take. A block's bits do not depend on which thread computes it, so
 * results are the same for any thread count (OpenBLAS's own threading is not), and no
 * OpenBLAS thread pool spins against the OpenMP one. */
#include "bc_internal.h"
#include "kernels/gemm.h"

#include <cblas.h>
#include <limits.h>

#define BC__GEMM_BLOCK 256                  /* rows or columns per task */
#define BC__GEMM_SERIAL_WORK (1 << 18)      /* m*n*k below which one call is cheaper */

void bc__sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb,
               float beta, float *c, int64_t ldc) {
    /* cblas takes int: every dimension and leading dimension must fit. */
    BC_ASSERT(m >= 0 && n >= 0 && k >= 0 && m <= INT_MAX && n <= INT_MAX && k <= INT_MAX);
    BC_ASSERT(lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX);
    if (m == 0 || n == 0) return;
    const CBLAS_TRANSPOSE ota = ta ? CblasTrans : CblasNoTrans, otb = tb ? CblasTrans : CblasNoTrans;
    if (m * n * k < BC__GEMM_SERIAL_WORK) {
        cblas_sgemm(CblasRowMajor, ota, otb, (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
        return;
    }
    if (n >= m) { /* blocks of columns: B's columns and C's columns */
        const int64_t nblk = (n + BC__GEMM_BLOCK - 1) / BC__GEMM_BLOCK;
        #pragma omp parallel for schedule(static)
        for (int64_t bi = 0; bi < nblk; bi++) {
            int64_t j0 = bi * BC__GEMM_BLOCK, nj = n - j0 < BC__GEMM_BLOCK ? n - j0 : BC__GEMM_BLOCK;
            const float *bb = tb ? b + j0 * ldb : b + j0;
            cblas_sgemm(CblasRowMajor, ota, otb, (int)m, (int)nj, (int)k, alpha, a, (int)lda, bb, (int)ldb, beta, c + j0, (int)ldc);
        }
    } else { /* blocks of rows: A's rows and C's rows */
        const int64_t nblk = (m + BC__GEMM_BLOCK - 1) / BC__GEMM_BLOCK;
        #pragma omp parallel for schedule(static)
        for (int64_t bi = 0; bi < nblk; bi++) {
            int64_t i0 = bi * BC__GEMM_BLOCK, ni = m - i0 < BC__GEMM_BLOCK ? m - i0 : BC__GEMM_BLOCK;
            const float *ab = ta ? a + i0 : a + i0 * lda;
            cblas_sgemm(CblasRowMajor, ota, otb, (int)ni, (int)n, (int)k, alpha, ab, (int)lda, b, (int)ldb, beta, c + i0 * ldc, (int)ldc);
        }
    }
}

void bc__sgemm_serial(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb,
                      float beta, float *c, int64_t ldc) {
    BC_ASSERT(m >= 0 && n >= 0 && k >= 0 && m <= INT_MAX && n <= INT_MAX && k <= INT_MAX);
    BC_ASSERT(lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX);
    if (m == 0 || n == 0) return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n,
                (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

void bc__sgemm_ref(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb,
                   float beta, float *c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t p = 0; p < k; p++) {
                float av = ta ? a[p * lda + i] : a[i * lda + p];
                float bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                acc += (double)av * bv;
            }
            float prev = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
            c[i * ldc + j] = alpha * (float)acc + prev;
        }
}
