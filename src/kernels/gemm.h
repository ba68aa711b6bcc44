/* Float GEMM: one wrapper around cblas and a naive reference (the test oracle). */
#ifndef BC_KERNELS_GEMM_H
#define BC_KERNELS_GEMM_H
#include <stdbool.h>
#include <stdint.h>

/* Row-major C(m,n) = alpha * op(A)(m,k) * op(B)(k,n) + beta * C. */
void bc__sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
               const float *a, int64_t lda, const float *b, int64_t ldb,
               float beta, float *c, int64_t ldc);
/* The same on the calling thread only (for callers that parallelise over their own chunks). */
void bc__sgemm_serial(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb,
                      float beta, float *c, int64_t ldc);
void bc__sgemm_ref(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb,
                   float beta, float *c, int64_t ldc);
#endif
