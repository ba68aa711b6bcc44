/* Residual shortcut: y = x + s(a), where a is the output of an earlier layer (`from`).
 * s is the identity when shapes agree; otherwise a projection, the usual ResNet "option B":
 * a 1x1 convolution with stride (a's size / x's size), float weights (or binary with
 * binary = 1), followed by its own batch norm. The gradient for a is added to that layer's
 * pending-gradient buffer, which the backward pass adds in when it reaches it. */
#include "nn/model.h"
#include "kernels/gemm.h"

#include <string.h>

/* The projection's batch norm uses PyTorch's BatchNorm2d defaults. */
#define BC__PROJ_MOMENTUM 0.1f
#define BC__PROJ_EPS 1e-5f

/* sub (n * oh * ow, cs) = a sampled at every stride-th pixel. */
static void bc__gather(float *sub, const float *a, int64_t n, bc_shape src, bc_shape dst, int32_t stride) {
    #pragma omp parallel for schedule(static)
    for (int64_t s = 0; s < n; s++)
        for (int32_t oy = 0; oy < dst.h; oy++)
            for (int32_t ox = 0; ox < dst.w; ox++) {
                const float *from = a + ((s * src.h + (int64_t)oy * stride) * src.w + (int64_t)ox * stride) * src.c;
                memcpy(sub + ((s * dst.h + oy) * dst.w + ox) * src.c, from, (size_t)src.c * sizeof *sub);
            }
}

static void bc__scatter_add(float *a, const float *sub, int64_t n, bc_shape src, bc_shape dst, int32_t stride) {
    #pragma omp parallel for schedule(static)
    for (int64_t s = 0; s < n; s++)
        for (int32_t oy = 0; oy < dst.h; oy++)
            for (int32_t ox = 0; ox < dst.w; ox++) {
                float *to = a + ((s * src.h + (int64_t)oy * stride) * src.w + (int64_t)ox * stride) * src.c;
                const float *from = sub + ((s * dst.h + oy) * dst.w + ox) * src.c;
                for (int32_t j = 0; j < src.c; j++) to[j] += from[j];
            }
}

void bc__shortcut_forward(bc__layer *l, const float *x, const bc__exec *e) {
    const bc__layer *srcl = &e->model->layers[l->src];
    const int64_t total = e->n * l->out;
    if (l->g < 0) {
        #pragma omp parallel for schedule(static) if (total > 16384)
        for (int64_t i = 0; i < total; i++) l->act[i] = x[i] + srcl->act[i];
        return;
    }
    const bc_shape S = srcl->oshape, D = l->oshape;
    const int32_t stride = S.h / D.h;
    const int64_t rows = e->n * (int64_t)D.h * D.w;
    bc__binarize_weights(l, e);
    const float *w = l->spec.binary ? l->wbin : e->params + l->w;
    bc__gather(l->sub, srcl->act, e->n, S, D, stride);
    bc__sgemm(false, true, rows, D.c, S.c, 1.0f, l->sub, S.c, w, S.c, 0.0f, l->act, D.c);
    const float *gamma = e->params + l->g, *beta = e->params + l->beta;
    float *rm = e->buffers + l->run_mean, *rv = e->buffers + l->run_var;
    if (e->mode == BC__MODE_TRAIN)
        bc__bn_train_rows(l->act, rows, D.c, gamma, beta, rm, rv, BC__PROJ_MOMENTUM, BC__PROJ_EPS, l->aux, l->act, l->stat, e->red);
    else
        bc__bn_eval_rows(l->act, rows, D.c, gamma, beta, rm, rv, BC__PROJ_EPS, l->act, l->stat);
    #pragma omp parallel for schedule(static) if (total > 16384)
    for (int64_t i = 0; i < total; i++) l->act[i] += x[i];
}

void bc__shortcut_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e) {
    (void)x;
    bc__layer *srcl = &e->model->layers[l->src];
    const int64_t total = e->n * l->out;
    if (dx) memcpy(dx, dy, (size_t)total * sizeof *dy);
    if (l->g < 0) {
        #pragma omp parallel for schedule(static) if (total > 16384)
        for (int64_t i = 0; i < total; i++) srcl->gpend[i] += dy[i];
        return;
    }
    const bc_shape S = srcl->oshape, D = l->oshape;
    const int32_t stride = S.h / D.h;
    const int64_t rows = e->n * (int64_t)D.h * D.w;
    bc__bn_backward_rows(dy, l->aux, rows, D.c, e->params + l->g, l->stat + D.c, e->grads + l->g,
                         e->grads + l->beta, l->dz, e->red);
    float *dw = e->grads + l->w;
    bc__sgemm(true, false, D.c, S.c, rows, 1.0f, l->dz, D.c, l->sub, S.c, 0.0f, dw, S.c);
    if (l->spec.binary) {
        const float *lw = e->params + l->w;
        for (int64_t i = 0; i < D.c * (int64_t)S.c; i++)
            if (lw[i] > 1.0f || lw[i] < -1.0f) dw[i] = 0.0f;
    }
    const float *w = l->spec.binary ? l->wbin : e->params + l->w;
    bc__sgemm(false, false, rows, S.c, D.c, 1.0f, l->dz, D.c, w, S.c, 0.0f, l->sub, S.c);
    bc__scatter_add(srcl->gpend, l->sub, e->n, S, D, stride);
}
