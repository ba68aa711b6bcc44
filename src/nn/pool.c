/* Pooling and flatten on (h, w, c) activations. Max pool keeps no argmax: the backward finds
 * the first position in each window equal to the output (the same choice PyTorch makes for
 * ties within a window scanned row by row). Windows have no padding; sizes floor. */
#include "nn/model.h"

#include <string.h>

typedef struct {
    int32_t h, w, c, kh, kw, stride, oh, ow;
} bc__pool_geom;

static bc__pool_geom bc__pgeom(const bc__layer *l) {
    bc__pool_geom g = {l->ishape.h, l->ishape.w, l->ishape.c, l->spec.size, l->spec.size, l->spec.stride,
                       l->oshape.h, l->oshape.w};
    if (l->spec.kind == BC_LAYER_GAP) { g.kh = g.h; g.kw = g.w; g.stride = 1; }
    return g;
}

void bc__maxpool_forward(bc__layer *l, const float *x, const bc__exec *e) {
    const bc__pool_geom g = bc__pgeom(l);
    #pragma omp parallel for schedule(static)
    for (int64_t s = 0; s < e->n; s++) {
        const float *xs = x + s * l->in;
        float *ys = l->act + s * l->out;
        for (int32_t oy = 0; oy < g.oh; oy++)
            for (int32_t ox = 0; ox < g.ow; ox++) {
                float *yo = ys + ((int64_t)oy * g.ow + ox) * g.c;
                const float *x0 = xs + ((int64_t)oy * g.stride * g.w + (int64_t)ox * g.stride) * g.c;
                memcpy(yo, x0, (size_t)g.c * sizeof *yo);
                for (int32_t ky = 0; ky < g.kh; ky++)
                    for (int32_t kx = 0; kx < g.kw; kx++) {
                        const float *xi = x0 + ((int64_t)ky * g.w + kx) * g.c;
                        for (int32_t j = 0; j < g.c; j++) yo[j] = xi[j] > yo[j] ? xi[j] : yo[j];
                    }
            }
    }
}

void bc__maxpool_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e) {
    if (!dx) return;
    const bc__pool_geom g = bc__pgeom(l);
    #pragma omp parallel for schedule(static)
    for (int64_t s = 0; s < e->n; s++) {
        const float *xs = x + s * l->in, *ys = l->act + s * l->out, *dys = dy + s * l->out;
        float *dxs = dx + s * l->in;
        memset(dxs, 0, (size_t)l->in * sizeof *dxs);
        /* Channels innermost, in runs of 64 with a "found" mask each, and the add selected by
         * bit masks, so GCC vectorises the loop; the result is the early-exit scan's bit for
         * bit: only the first match gets dy added, every other dx keeps its bits. */
        for (int32_t oy = 0; oy < g.oh; oy++)
            for (int32_t ox = 0; ox < g.ow; ox++) {
                const int64_t o0 = ((int64_t)oy * g.ow + ox) * g.c;
                const int64_t b0 = ((int64_t)oy * g.stride * g.w + (int64_t)ox * g.stride) * g.c;
                for (int32_t j0 = 0; j0 < g.c; j0 += 64) {
                    const int32_t nj = g.c - j0 < 64 ? g.c - j0 : 64;
                    uint32_t found[64] = {0};
                    for (int32_t ky = 0; ky < g.kh; ky++)
                        for (int32_t kx = 0; kx < g.kw; kx++) {
                            const int64_t i0 = b0 + ((int64_t)ky * g.w + kx) * g.c + j0;
                            float *restrict d = dxs + i0;
                            const float *restrict xi = xs + i0, *restrict yo = ys + o0 + j0, *restrict dv = dys + o0 + j0;
                            for (int32_t j = 0; j < nj; j++) {
                                const uint32_t hit = -(uint32_t)(xi[j] == yo[j]) & ~found[j];
                                const float sum = d[j] + dv[j];
                                uint32_t sb, db;
                                memcpy(&sb, &sum, sizeof sb);
                                memcpy(&db, &d[j], sizeof db);
                                db = (sb & hit) | (db & ~hit);
                                memcpy(&d[j], &db, sizeof db);
                                found[j] |= hit;
                            }
                        }
                }
            }
    }
}

void bc__avgpool_forward(bc__layer *l, const float *x, const bc__exec *e) {
    const bc__pool_geom g = bc__pgeom(l);
    const float inv = 1.0f / (float)(g.kh * g.kw);
    #pragma omp parallel for schedule(static)
    for (int64_t s = 0; s < e->n; s++) {
        const float *xs = x + s * l->in;
        float *ys = l->act + s * l->out;
        for (int32_t oy = 0; oy < g.oh; oy++)
            for (int32_t ox = 0; ox < g.ow; ox++) {
                float *yo = ys + ((int64_t)oy * g.ow + ox) * g.c;
                const float *x0 = xs + ((int64_t)oy * g.stride * g.w + (int64_t)ox * g.stride) * g.c;
                memset(yo, 0, (size_t)g.c * sizeof *yo);
                for (int32_t ky = 0; ky < g.kh; ky++)
                    for (int32_t kx = 0; kx < g.kw; kx++) {
                        const float *xi = x0 + ((int64_t)ky * g.w + kx) * g.c;
                        for (int32_t j = 0; j < g.c; j++) yo[j] += xi[j];
                    }
                for (int32_t j = 0; j < g.c; j++) yo[j] *= inv;
            }
    }
}

void bc__avgpool_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e) {
    (void)x;
    if (!dx) return;
    const bc__pool_geom g = bc__pgeom(l);
    const float inv = 1.0f / (float)(g.kh * g.kw);
    #pragma omp parallel for schedule(static)
    for (int64_t s = 0; s < e->n; s++) {
        const float *dys = dy + s * l->out;
        float *dxs = dx + s * l->in;
        memset(dxs, 0, (size_t)l->in * sizeof *dxs);
        for (int32_t oy = 0; oy < g.oh; oy++)
            for (int32_t ox = 0; ox < g.ow; ox++) {
                const float *d = dys + ((int64_t)oy * g.ow + ox) * g.c;
                float *x0 = dxs + ((int64_t)oy * g.stride * g.w + (int64_t)ox * g.stride) * g.c;
                for (int32_t ky = 0; ky < g.kh; ky++)
                    for (int32_t kx = 0; kx < g.kw; kx++) {
                        float *xi = x0 + ((int64_t)ky * g.w + kx) * g.c;
                        for (int32_t j = 0; j < g.c; j++) xi[j] += d[j] * inv;
                    }
            }
    }
}

/* Flatten: the (h, w, c) bytes already are the flat vector; only the shape changes. */
void bc__flatten_forward(bc__layer *l, const float *x, const bc__exec *e) {
    memcpy(l->act, x, (size_t)(e->n * l->out) * sizeof *x);
}

void bc__flatten_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e) {
    (void)x;
    if (dx) memcpy(dx, dy, (size_t)(e->n * l->out) * sizeof *dy);
}
