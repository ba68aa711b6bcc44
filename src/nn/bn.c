/* Batch norm: y = gamma * (x - mean) / sqrt(var + eps) + beta over rows of f features.
 * A dense layer's output is n rows of `out` features; a conv output is n*h*w rows of c
 * channels, so one set of kernels serves both. Per-feature sums are taken over fixed blocks
 * of BC__BN_ROWS rows in parallel and the block partials are added in block order, so the
 * bits do not depend on the thread count. */
#include "nn/model.h"

#include <math.h>
#include <string.h>

#define BC__BN_ROWS 256

int64_t bc__bn_red_size(int64_t n, int64_t f) { return 2 * ((n + BC__BN_ROWS - 1) / BC__BN_ROWS) * f; }

/* red[b*f + j] = sum over block b of fn(row, j): first pass of every statistic. */
static void bc__bn_colsum(const float *x, int64_t n, int64_t f, const float *center, double *red, double *out) {
    const int64_t nb = (n + BC__BN_ROWS - 1) / BC__BN_ROWS;
    #pragma omp parallel for schedule(static) if (n * f > 16384)
    for (int64_t b = 0; b < nb; b++) {
        double *acc = red + b * f;
        memset(acc, 0, (size_t)f * sizeof *acc);
        int64_t r1 = (b + 1) * BC__BN_ROWS < n ? (b + 1) * BC__BN_ROWS : n;
        for (int64_t r = b * BC__BN_ROWS; r < r1; r++) {
            const float *xr = x + r * f;
            if (center)
                for (int64_t j = 0; j < f; j++) {
                    double d = (double)xr[j] - center[j];
                    acc[j] += d * d;
                }
            else
                for (int64_t j = 0; j < f; j++) acc[j] += xr[j];
        }
    }
    for (int64_t j = 0; j < f; j++) out[j] = 0;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t j = 0; j < f; j++) out[j] += red[b * f + j];
}

/* y (or, when sgn is given, only sign(y) into sgn) of the training forward. */
static void bc__bn_train_impl(const float *x, int64_t n, int64_t f, const float *gamma, const float *beta,
                              float *rmean, float *rvar, float momentum, float eps, float *xhat,
                              float *y, float *sgn, float *stat, double *red) {
    float *mean = stat, *istd = stat + f;
    double *sum = red + bc__bn_red_size(n, f) / 2; /* second half holds the totals */
    bc__bn_colsum(x, n, f, NULL, red, sum);
    for (int64_t j = 0; j < f; j++) mean[j] = (float)(sum[j] / (double)n);
    bc__bn_colsum(x, n, f, mean, red, sum);
    for (int64_t j = 0; j < f; j++) {
        double var = sum[j] / (double)n;
        istd[j] = (float)(1.0 / sqrt(var + eps));
        /* Running statistics as PyTorch keeps them: unbiased variance. */
        double unbiased = n > 1 ? sum[j] / (double)(n - 1) : var;
        rmean[j] = (1.0f - momentum) * rmean[j] + momentum * mean[j];
        rvar[j] = (1.0f - momentum) * rvar[j] + momentum * (float)unbiased;
    }
    #pragma omp parallel for schedule(static) if (n * f > 16384)
    for (int64_t r = 0; r < n; r++) { /* restrict rows: no aliasing, so the loops vectorise */
        const float *restrict xr = x + r * f;
        float *restrict xh = xhat + r * f, *restrict out = (sgn ? sgn : y) + r * f;
        for (int64_t j = 0; j < f; j++) xh[j] = (xr[j] - mean[j]) * istd[j];
        if (sgn) /* as the [sign] layer */
            for (int64_t j = 0; j < f; j++) out[j] = gamma[j] * xh[j] + beta[j] >= 0.0f ? 1.0f : -1.0f;
        else
            for (int64_t j = 0; j < f; j++) out[j] = gamma[j] * xh[j] + beta[j];
    }
}

void bc__bn_train_rows(const float *x, int64_t n, int64_t f, const float *gamma, const float *beta,
                       float *rmean, float *rvar, float momentum, float eps, float *xhat,
                       float *y, float *stat, double *red) {
    bc__bn_train_impl(x, n, f, gamma, beta, rmean, rvar, momentum, eps, xhat, y, NULL, stat, red);
}

void bc__bn_eval_coeffs(const float *gamma, const float *beta, const float *rmean, const float *rvar,
                        float eps, int64_t f, float *scale, float *shift) {
    for (int64_t j = 0; j < f; j++) {
        scale[j] = gamma[j] / sqrtf(rvar[j] + eps);
        shift[j] = beta[j] - rmean[j] * scale[j];
    }
}

void bc__bn_eval_rows(const float *x, int64_t n, int64_t f, const float *gamma, const float *beta,
                      const float *rmean, const float *rvar, float eps, float *y, float *stat) {
    float *scale = stat, *shift = stat + f;
    bc__bn_eval_coeffs(gamma, beta, rmean, rvar, eps, f, scale, shift);
    #pragma omp parallel for schedule(static) if (n * f > 16384)
    for (int64_t r = 0; r < n; r++)
        for (int64_t j = 0; j < f; j++) y[r * f + j] = bc__bn_apply(x[r * f + j], scale[j], shift[j]);
}

/* dy where |y| <= 1, else +0.0f: the [sign] layer's straight-through gradient. Written with
 * a bit mask because GCC 12 will not if-convert the select when the sum is in double. */
static inline float bc__ste(float dy, float y) {
    uint32_t m = -(uint32_t)(fabsf(y) <= 1.0f), b;
    float g;
    memcpy(&b, &dy, sizeof b);
    b &= m;
    memcpy(&g, &b, sizeof g);
    return g;
}

/* ste_beta: a [sign] follows, and the gradient reaching the batch norm's output is the
 * straight-through estimator's: dy where |y| <= 1, y recomputed from x_hat exactly as the
 * forward computed it (so y need not be stored). Else dy itself. */
static void bc__bn_backward_impl(const float *dy, const float *xhat, int64_t n, int64_t f,
                                 const float *gamma, const float *ste_beta, const float *istd, float *dgamma,
                                 float *dbeta, float *dx, double *red) {
    const int64_t nb = (n + BC__BN_ROWS - 1) / BC__BN_ROWS;
    /* red: per block, f sums of the gradient g then f sums of g * x_hat. */
    #pragma omp parallel for schedule(static) if (n * f > 16384)
    for (int64_t b = 0; b < nb; b++) {
        double *restrict sb = red + b * 2 * f, *restrict sg = sb + f;
        memset(sb, 0, (size_t)(2 * f) * sizeof *sb);
        int64_t r1 = (b + 1) * BC__BN_ROWS < n ? (b + 1) * BC__BN_ROWS : n;
        for (int64_t r = b * BC__BN_ROWS; r < r1; r++) {
            const float *restrict d = dy + r * f, *restrict xh = xhat + r * f;
            if (ste_beta)
                for (int64_t j = 0; j < f; j++) {
                    float g = bc__ste(d[j], gamma[j] * xh[j] + ste_beta[j]);
                    sb[j] += g;
                    sg[j] += g * xh[j];
                }
            else
                for (int64_t j = 0; j < f; j++) {
                    sb[j] += d[j];
                    sg[j] += d[j] * xh[j];
                }
        }
    }
    for (int64_t j = 0; j < f; j++) {
        double sb = 0, sg = 0;
        for (int64_t b = 0; b < nb; b++) {
            sb += red[b * 2 * f + j];
            sg += red[b * 2 * f + f + j];
        }
        dbeta[j] = (float)sb;
        dgamma[j] = (float)sg;
    }
    if (!dx) return;
    const float inv_n = 1.0f / (float)n;
    #pragma omp parallel for schedule(static) if (n * f > 16384)
    for (int64_t r = 0; r < n; r++) {
        const float *restrict d = dy + r * f, *restrict xh = xhat + r * f;
        float *restrict o = dx + r * f;
        for (int64_t j = 0; j < f; j++) {
            float k = gamma[j] * istd[j] * inv_n;
            float g = ste_beta ? bc__ste(d[j], gamma[j] * xh[j] + ste_beta[j]) : d[j];
            o[j] = k * ((float)n * g - dbeta[j] - xh[j] * dgamma[j]);
        }
    }
}

void bc__bn_backward_rows(const float *dy, const float *xhat, int64_t n, int64_t f,
                          const float *gamma, const float *istd, float *dgamma, float *dbeta,
                          float *dx, double *red) {
    bc__bn_backward_impl(dy, xhat, n, f, gamma, NULL, istd, dgamma, dbeta, dx, red);
}

/* ---- the [bn] layer: features are the channels; a conv output has h*w rows per sample */

/* A calibration pass replaces the layer's momentum by its cumulative-average one. */
static float bc__bn_momentum(const bc__layer *l, const bc__exec *e) {
    return e->calib_momentum > 0.0f ? e->calib_momentum : l->spec.momentum;
}

static void bc__bn_rows_of(const bc__layer *l, const bc__exec *e, int64_t *n, int64_t *f) {
    *f = l->ishape.c;
    *n = e->n * (int64_t)l->ishape.h * l->ishape.w;
}

void bc__bn_forward(bc__layer *l, const float *x, const bc__exec *e) {
    int64_t n, f;
    bc__bn_rows_of(l, e, &n, &f);
    const float *gamma = e->params + l->w, *beta = e->params + l->b;
    float *rmean = e->buffers + l->run_mean, *rvar = e->buffers + l->run_var;
    if (e->mode == BC__MODE_TRAIN)
        bc__bn_train_rows(x, n, f, gamma, beta, rmean, rvar, bc__bn_momentum(l, e), l->spec.eps, l->aux, l->act, l->stat, e->red);
    else
        bc__bn_eval_rows(x, n, f, gamma, beta, rmean, rvar, l->spec.eps, l->act, l->stat);
}

void bc__bn_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e) {
    (void)x;
    int64_t n, f;
    bc__bn_rows_of(l, e, &n, &f);
    bc__bn_backward_rows(dy, l->aux, n, f, e->params + l->w, l->stat + f, e->grads + l->w, e->grads + l->b, dx, e->red);
}

/* ---- [bn] then [sign] in training, as one op: the sign is taken where y is made, and its
 * straight-through gradient where the batch norm's backward reads dy (y is not stored). */

bool bc__bn_sign_fusable(const bc_model *m, int32_t i) {
    return i >= 0 && i + 1 < m->n_layers && m->layers[i].spec.kind == BC_LAYER_BN &&
           m->layers[i + 1].spec.kind == BC_LAYER_SIGN && !m->layers[i].has_reader;
}

void bc__bn_sign_forward(bc__layer *bn, bc__layer *sign, const float *x, const bc__exec *e) {
    int64_t n, f;
    bc__bn_rows_of(bn, e, &n, &f);
    bc__bn_train_impl(x, n, f, e->params + bn->w, e->params + bn->b, e->buffers + bn->run_mean,
                      e->buffers + bn->run_var, bc__bn_momentum(bn, e), bn->spec.eps, bn->aux, NULL, sign->act,
                      bn->stat, e->red);
}

void bc__bn_sign_backward(bc__layer *bn, const float *dy, float *dx, const bc__exec *e) {
    int64_t n, f;
    bc__bn_rows_of(bn, e, &n, &f);
    bc__bn_backward_impl(dy, bn->aux, n, f, e->params + bn->w, e->params + bn->b, bn->stat + f, e->grads + bn->w,
                         e->grads + bn->b, dx, e->red);
}
