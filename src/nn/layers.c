/* Forward and backward of every layer kind, dispatched through bc__ops[].
 * Loops over the batch are parallel over rows or over feature chunks, never reducing across
 * threads, so the result does not depend on the thread count. */
#include "nn/model.h"
#include "kernels/gemm.h"

#include <math.h>
#include <string.h>

/* Below this many elements a loop runs on one thread: fork/join would cost more. */
#define BC__OMP_MIN_WORK 16384

/* ---- dense: y = x W^T + b; binary: W -> sign(W) in the forward, straight-through backward */

static void bc__dense_forward(bc__layer *l, const float *x, const bc__exec *e) {
    const float *w = e->params + l->w;
    if (l->spec.binary && l->wbin_version != e->param_version) {
        /* sign(0) = +1, the convention of the packed kernels and the PyTorch peer. */
        l->wbin_version = e->param_version;
        int64_t nw = l->in * l->out;
        #pragma omp parallel for schedule(static) if (nw > BC__OMP_MIN_WORK)
        for (int64_t i = 0; i < nw; i++) l->wbin[i] = w[i] >= 0.0f ? 1.0f : -1.0f;
    }
    if (l->spec.binary) w = l->wbin;
    bc__sgemm(false, true, e->n, l->out, l->in, 1.0f, x, l->in, w, l->in, 0.0f, l->act, l->out);
    if (l->b >= 0) {
        const float *b = e->params + l->b;
        #pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < e->n; r++)
            for (int64_t j = 0; j < l->out; j++) l->act[r * l->out + j] += b[j];
    }
}

static void bc__dense_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e) {
    float *dw = e->grads + l->w;
    bc__sgemm(true, false, l->out, l->in, e->n, 1.0f, dy, l->out, x, l->in, 0.0f, dw, l->in);
    if (l->spec.binary) {
        /* Straight-through estimator of sign(): pass the gradient where |w| <= 1. */
        const float *w = e->params + l->w;
        int64_t nw = l->in * l->out;
        #pragma omp parallel for schedule(static) if (nw > BC__OMP_MIN_WORK)
        for (int64_t i = 0; i < nw; i++)
            if (fabsf(w[i]) > 1.0f) dw[i] = 0.0f;
    }
    if (l->b >= 0) {
        float *db = e->grads + l->b;
        #pragma omp parallel for schedule(static)
        for (int64_t j = 0; j < l->out; j++) {
            float s = 0.0f;
            for (int64_t r = 0; r < e->n; r++) s += dy[r * l->out + j];
            db[j] = s;
        }
    }
    if (dx) {
        const float *w = l->spec.binary ? l->wbin : e->params + l->w;
        bc__sgemm(false, false, e->n, l->in, l->out, 1.0f, dy, l->out, w, l->in, 0.0f, dx, l->in);
    }
}

/* ---- batch norm over features: y = gamma * (x - mean) / sqrt(var + eps) + beta */

#define BC__BN_CHUNK 64 /* features per task: rows are read contiguously within a chunk */

/* Evaluation: one scale and shift per feature from the running statistics, applied row by
 * row (contiguous, vectorisable); x_hat is not kept since no backward follows. */
static void bc__bn_forward_eval(bc__layer *l, const float *x, const bc__exec *e) {
    const int64_t n = e->n, f = l->out;
    const float *gamma = e->params + l->w, *beta = e->params + l->b;
    const float *rmean = e->buffers + l->run_mean, *rvar = e->buffers + l->run_var;
    float *scale = l->stat, *shift = l->stat + f;
    for (int64_t j = 0; j < f; j++) {
        scale[j] = gamma[j] / sqrtf(rvar[j] + l->spec.eps);
        shift[j] = beta[j] - rmean[j] * scale[j];
    }
    #pragma omp parallel for schedule(static) if (n * f > BC__OMP_MIN_WORK)
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * f;
        float *yr = l->act + r * f;
        for (int64_t j = 0; j < f; j++) yr[j] = xr[j] * scale[j] + shift[j];
    }
}

static void bc__bn_forward(bc__layer *l, const float *x, const bc__exec *e) {
    if (e->mode != BC__MODE_TRAIN) {
        bc__bn_forward_eval(l, x, e);
        return;
    }
    const int64_t n = e->n, f = l->out;
    const float *gamma = e->params + l->w, *beta = e->params + l->b;
    float *rmean = e->buffers + l->run_mean, *rvar = e->buffers + l->run_var;
    float *mean = l->stat, *istd = l->stat + f;
    const int64_t chunks = (f + BC__BN_CHUNK - 1) / BC__BN_CHUNK;
    #pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t j0 = c * BC__BN_CHUNK, j1 = j0 + BC__BN_CHUNK < f ? j0 + BC__BN_CHUNK : f;
        double s[BC__BN_CHUNK] = {0}, q[BC__BN_CHUNK] = {0};
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = j0; j < j1; j++) s[j - j0] += x[r * f + j];
        for (int64_t j = j0; j < j1; j++) s[j - j0] /= (double)n;
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = j0; j < j1; j++) {
                double d = x[r * f + j] - s[j - j0];
                q[j - j0] += d * d;
            }
        for (int64_t j = j0; j < j1; j++) {
            double var = q[j - j0] / (double)n;
            mean[j] = (float)s[j - j0];
            istd[j] = (float)(1.0 / sqrt(var + l->spec.eps));
            /* Running statistics as PyTorch keeps them: unbiased variance. */
            double unbiased = n > 1 ? q[j - j0] / (double)(n - 1) : var;
            float mo = l->spec.momentum;
            rmean[j] = (1.0f - mo) * rmean[j] + mo * (float)s[j - j0];
            rvar[j] = (1.0f - mo) * rvar[j] + mo * (float)unbiased;
        }
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = j0; j < j1; j++) {
                float xh = (x[r * f + j] - mean[j]) * istd[j];
                l->aux[r * f + j] = xh;
                l->act[r * f + j] = gamma[j] * xh + beta[j];
            }
    }
}

static void bc__bn_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e) {
    (void)x;
    const int64_t n = e->n, f = l->out;
    const float *gamma = e->params + l->w;
    float *dgamma = e->grads + l->w, *dbeta = e->grads + l->b;
    const float *istd = l->stat + f;
    const int64_t chunks = (f + BC__BN_CHUNK - 1) / BC__BN_CHUNK;
    #pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t j0 = c * BC__BN_CHUNK, j1 = j0 + BC__BN_CHUNK < f ? j0 + BC__BN_CHUNK : f;
        float sg[BC__BN_CHUNK] = {0}, sb[BC__BN_CHUNK] = {0};
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = j0; j < j1; j++) {
                float g = dy[r * f + j];
                sb[j - j0] += g;
                sg[j - j0] += g * l->aux[r * f + j];
            }
        for (int64_t j = j0; j < j1; j++) {
            dgamma[j] = sg[j - j0];
            dbeta[j] = sb[j - j0];
        }
        if (!dx) continue;
        const float inv_n = 1.0f / (float)n;
        for (int64_t r = 0; r < n; r++)
            for (int64_t j = j0; j < j1; j++) {
                float k = gamma[j] * istd[j] * inv_n;
                dx[r * f + j] = k * ((float)n * dy[r * f + j] - sb[j - j0] - l->aux[r * f + j] * sg[j - j0]);
            }
    }
}

/* ---- elementwise activations */

static void bc__sign_forward(bc__layer *l, const float *x, const bc__exec *e) {
    int64_t total = e->n * l->out;
    #pragma omp parallel for schedule(static) if (total > BC__OMP_MIN_WORK)
    for (int64_t i = 0; i < total; i++) l->act[i] = x[i] >= 0.0f ? 1.0f : -1.0f;
}

/* Straight-through estimator with hardtanh's gradient: pass where |x| <= 1. */
static void bc__sign_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e) {
    if (!dx) return;
    int64_t total = e->n * l->out;
    #pragma omp parallel for schedule(static) if (total > BC__OMP_MIN_WORK)
    for (int64_t i = 0; i < total; i++) dx[i] = fabsf(x[i]) <= 1.0f ? dy[i] : 0.0f;
}

static void bc__relu_forward(bc__layer *l, const float *x, const bc__exec *e) {
    int64_t total = e->n * l->out;
    #pragma omp parallel for schedule(static) if (total > BC__OMP_MIN_WORK)
    for (int64_t i = 0; i < total; i++) l->act[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void bc__relu_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e) {
    if (!dx) return;
    int64_t total = e->n * l->out;
    #pragma omp parallel for schedule(static) if (total > BC__OMP_MIN_WORK)
    for (int64_t i = 0; i < total; i++) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

static void bc__hardtanh_forward(bc__layer *l, const float *x, const bc__exec *e) {
    int64_t total = e->n * l->out;
    #pragma omp parallel for schedule(static) if (total > BC__OMP_MIN_WORK)
    for (int64_t i = 0; i < total; i++) l->act[i] = x[i] < -1.0f ? -1.0f : (x[i] > 1.0f ? 1.0f : x[i]);
}

static void bc__hardtanh_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e) {
    if (!dx) return;
    int64_t total = e->n * l->out;
    #pragma omp parallel for schedule(static) if (total > BC__OMP_MIN_WORK)
    for (int64_t i = 0; i < total; i++) dx[i] = (x[i] >= -1.0f && x[i] <= 1.0f) ? dy[i] : 0.0f;
}

/* Inverted dropout; the mask is a pure function of (seed, step, layer, element). */
static void bc__dropout_forward(bc__layer *l, const float *x, const bc__exec *e) {
    int64_t total = e->n * l->out;
    if (e->mode != BC__MODE_TRAIN || l->spec.rate <= 0.0f) {
        memcpy(l->act, x, (size_t)total * sizeof *x);
        for (int64_t i = 0; i < total; i++) l->aux[i] = 1.0f;
        return;
    }
    const float keep = 1.0f - l->spec.rate, scale = 1.0f / keep;
    bc_rng_key k = {.seed = e->seed, .purpose = BC_RNG_DROPOUT, .chip = (uint32_t)e->step, .layer = (uint32_t)l->index};
    #pragma omp parallel for schedule(static) if (total > BC__OMP_MIN_WORK)
    for (int64_t i = 0; i < total; i++) {
        float s = bc_rng_uniform(k, (uint64_t)i) < keep ? scale : 0.0f;
        l->aux[i] = s;
        l->act[i] = x[i] * s;
    }
}

static void bc__dropout_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e) {
    (void)x;
    if (!dx) return;
    int64_t total = e->n * l->out;
    #pragma omp parallel for schedule(static) if (total > BC__OMP_MIN_WORK)
    for (int64_t i = 0; i < total; i++) dx[i] = dy[i] * l->aux[i];
}

/* ---- softmax + cross-entropy: act = logits (unchanged), aux = probabilities */

static void bc__softmax_forward(bc__layer *l, const float *x, const bc__exec *e) {
    const int64_t c = l->out;
    memcpy(l->act, x, (size_t)(e->n * c) * sizeof *x);
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < e->n; r++) {
        const float *z = x + r * c;
        float *p = l->aux + r * c;
        float mx = z[0];
        for (int64_t j = 1; j < c; j++) mx = z[j] > mx ? z[j] : mx;
        double s = 0;
        for (int64_t j = 0; j < c; j++) s += (p[j] = expf(z[j] - mx));
        for (int64_t j = 0; j < c; j++) p[j] = (float)(p[j] / s);
    }
}

/* d(mean CE)/dz = (p - onehot(y)) / n. */
static void bc__softmax_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e) {
    (void)x;
    (void)dy;
    if (!dx) return; /* a network of [softmax] alone, trained without an input gradient */
    const int64_t c = l->out;
    const float inv_n = 1.0f / (float)e->n;
    for (int64_t r = 0; r < e->n; r++)
        for (int64_t j = 0; j < c; j++)
            dx[r * c + j] = (l->aux[r * c + j] - (j == e->labels[r] ? 1.0f : 0.0f)) * inv_n;
}

const bc__op_desc bc__ops[BC_LAYER_COUNT] = {
    [BC_LAYER_DENSE] = {"dense", bc__dense_forward, bc__dense_backward},
    [BC_LAYER_BN] = {"bn", bc__bn_forward, bc__bn_backward},
    [BC_LAYER_SIGN] = {"sign", bc__sign_forward, bc__sign_backward},
    [BC_LAYER_RELU] = {"relu", bc__relu_forward, bc__relu_backward},
    [BC_LAYER_HARDTANH] = {"hardtanh", bc__hardtanh_forward, bc__hardtanh_backward},
    [BC_LAYER_DROPOUT] = {"dropout", bc__dropout_forward, bc__dropout_backward},
    [BC_LAYER_SOFTMAX] = {"softmax", bc__softmax_forward, bc__softmax_backward},
};
