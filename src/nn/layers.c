/* Elementwise activations, dropout, softmax + loss, and the op table bc__ops[] (dense and
 * conv live in conv.c, batch norm in bn.c, pools in pool.c, shortcut in shortcut.c).
 * Loops over the batch are parallel over rows, never reducing across threads, so results do
 * not depend on the thread count. */
#include "nn/model.h"

#include <math.h>
#include <string.h>

/* Below this many elements a loop runs on one thread: fork/join would cost more. */
#define BC__OMP_MIN_WORK 16384

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
    if (e->mode != BC__MODE_TRAIN || l->spec.rate <= 0.0f || e->calib_momentum > 0.0f) {
        memcpy(l->act, x, (size_t)total * sizeof *x);
        if (l->aux) /* training with rate 0: the backward reads the mask */
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
    [BC_LAYER_DENSE] = {"dense", bc__conv_forward, bc__conv_backward},
    [BC_LAYER_BN] = {"bn", bc__bn_forward, bc__bn_backward},
    [BC_LAYER_CONV] = {"conv", bc__conv_forward, bc__conv_backward},
    [BC_LAYER_MAXPOOL] = {"maxpool", bc__maxpool_forward, bc__maxpool_backward},
    [BC_LAYER_AVGPOOL] = {"avgpool", bc__avgpool_forward, bc__avgpool_backward},
    [BC_LAYER_GAP] = {"gap", bc__avgpool_forward, bc__avgpool_backward},
    [BC_LAYER_FLATTEN] = {"flatten", bc__flatten_forward, bc__flatten_backward},
    [BC_LAYER_SHORTCUT] = {"shortcut", bc__shortcut_forward, bc__shortcut_backward},
    [BC_LAYER_SIGN] = {"sign", bc__sign_forward, bc__sign_backward},
    [BC_LAYER_RELU] = {"relu", bc__relu_forward, bc__relu_backward},
    [BC_LAYER_HARDTANH] = {"hardtanh", bc__hardtanh_forward, bc__hardtanh_backward},
    [BC_LAYER_DROPOUT] = {"dropout", bc__dropout_forward, bc__dropout_backward},
    [BC_LAYER_SOFTMAX] = {"softmax", bc__softmax_forward, bc__softmax_backward},
};
