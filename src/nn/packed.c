/* The packed inference engine: exact integer inference of binary networks.
 *
 * A binary dense/conv layer whose input is ±1 reads bit-packed activations and produces
 * integer dot products (XNOR-popcount). While the activations are integers, max pooling works
 * on the integers, and batch norm followed by sign becomes one threshold per channel:
 *     bit = bn(x + bias) >= 0   <=>   x >= T  (scale > 0)   or   x <= T  (scale < 0),
 * where T is found by binary search over the possible integers using exactly the float
 * expression the float engine evaluates (bc__bn_apply), so both engines agree to the bit.
 * Max pooling on packed ±1 values is an OR. Anything else (float layers, shortcuts, the
 * classifier) runs through the float engine's ops on unpacked or converted values; a layer a
 * shortcut reads is always materialised as floats. */
#include "nn/model.h"
#include "kernels/im2col.h"

#include <string.h>

typedef enum { ST_FLOAT, ST_BITS, ST_INT } bc__state;

typedef struct {
    bc_model *m;
    bc__exec e;
    int64_t n;
    bc__state st;
    const float *fx;      /* ST_FLOAT: current activation */
    int cur;              /* ST_BITS / ST_INT: which ping-pong buffer holds it */
    bc_shape shape;       /* current per-sample shape */
    int64_t cw;           /* ST_BITS: words per pixel */
    const bc__layer *src; /* ST_INT: the binary layer that produced the integers (bias) */
} bc__pk;

static bc_status bc__packed_reserve(bc_model *m, int64_t n) {
    if (n <= m->prows) return BC_OK;
    int64_t words = 1, ints = 1, ch = 1;
    for (int32_t i = 0; i < m->n_layers; i++) {
        const bc__layer *l = &m->layers[i];
        int64_t px = (int64_t)l->oshape.h * l->oshape.w, w = px * bc__b1_words(l->oshape.c);
        int64_t wi = (int64_t)l->ishape.h * l->ishape.w * bc__b1_words(l->ishape.c);
        if (w > words) words = w;
        if (wi > words) words = wi;
        if (bc__b1_words(l->out) > words) words = bc__b1_words(l->out);
        if (l->out > ints) ints = l->out;
        if (l->oshape.c > ch) ch = l->oshape.c;
    }
    for (int i = 0; i < 2; i++) {
        free(m->pbits[i]);
        free(m->pint[i]);
        m->pbits[i] = bc__alloc((size_t)(n * words) * sizeof(uint64_t));
        m->pint[i] = bc__alloc((size_t)(n * ints) * sizeof(int32_t));
    }
    free(m->pthr);
    m->pthr = bc__alloc((size_t)(4 * ch) * sizeof(float));
    m->prows = 0;
    if (!m->pbits[0] || !m->pbits[1] || !m->pint[0] || !m->pint[1] || !m->pthr) return BC_ERR_NOMEM;
    m->prows = n;
    return BC_OK;
}

/* Turns the current state into floats, written to `dst`. */
static void bc__materialise(bc__pk *s, float *dst) {
    const int64_t n = s->n, c = s->shape.c, px = (int64_t)s->shape.h * s->shape.w;
    if (s->st == ST_INT) {
        const int32_t *v = s->m->pint[s->cur];
        const float *b = s->src->b >= 0 ? s->e.params + s->src->b : NULL;
        #pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < n * px; r++)
            for (int64_t j = 0; j < c; j++) dst[r * c + j] = b ? (float)v[r * c + j] + b[j] : (float)v[r * c + j];
    } else if (s->st == ST_BITS) {
        const uint64_t *v = s->m->pbits[s->cur];
        #pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < n * px; r++)
            for (int64_t j = 0; j < c; j++)
                dst[r * c + j] = (v[r * s->cw + j / 64] >> (j % 64)) & 1 ? 1.0f : -1.0f;
    }
    if (s->st != ST_FLOAT) {
        s->st = ST_FLOAT;
        s->fx = dst;
    }
}

/* Integer max pooling (no padding), ping-pong. */
static void bc__int_maxpool(bc__pk *s, const bc__layer *l) {
    const int32_t *restrict x = s->m->pint[s->cur];
    int32_t *restrict y = s->m->pint[s->cur ^ 1];
    const bc_shape a = l->ishape, o = l->oshape;
    const int32_t k = l->spec.size, st = l->spec.stride;
    #pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < s->n; n++)
        for (int32_t oy = 0; oy < o.h; oy++)
            for (int32_t ox = 0; ox < o.w; ox++) {
                int32_t *yo = y + ((n * o.h + oy) * o.w + ox) * o.c;
                for (int32_t j = 0; j < o.c; j++) yo[j] = INT32_MIN;
                for (int32_t ky = 0; ky < k; ky++)
                    for (int32_t kx = 0; kx < k; kx++) {
                        const int32_t *xi = x + ((n * a.h + (int64_t)oy * st + ky) * a.w + (int64_t)ox * st + kx) * a.c;
                        for (int32_t j = 0; j < o.c; j++) yo[j] = xi[j] > yo[j] ? xi[j] : yo[j];
                    }
            }
    s->cur ^= 1;
    s->shape = o;
}

/* Max pooling of packed ±1 values: +1 if any in the window is +1. */
static void bc__bits_maxpool(bc__pk *s, const bc__layer *l) {
    const uint64_t *x = s->m->pbits[s->cur];
    uint64_t *y = s->m->pbits[s->cur ^ 1];
    const bc_shape a = l->ishape, o = l->oshape;
    const int32_t k = l->spec.size, st = l->spec.stride;
    const int64_t cw = s->cw;
    #pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < s->n; n++)
        for (int32_t oy = 0; oy < o.h; oy++)
            for (int32_t ox = 0; ox < o.w; ox++) {
                uint64_t *yo = y + ((n * o.h + oy) * o.w + ox) * cw;
                memset(yo, 0, (size_t)cw * sizeof *yo);
                for (int32_t ky = 0; ky < k; ky++)
                    for (int32_t kx = 0; kx < k; kx++) {
                        const uint64_t *xi = x + ((n * a.h + (int64_t)oy * st + ky) * a.w + (int64_t)ox * st + kx) * cw;
                        for (int64_t j = 0; j < cw; j++) yo[j] |= xi[j];
                    }
            }
    s->cur ^= 1;
    s->shape = o;
}

/* bc__bn_apply(x (+ bias), scale, shift) >= 0: the float engine's decision for integer x. */
static bool bc__fires(int64_t x, const float *bias, float scale, float shift) {
    float v = (float)x;
    if (bias) v = v + *bias;
    return bc__bn_apply(v, scale, shift) >= 0.0f;
}

/* Batch norm + sign on integers -> packed bits, through per-channel thresholds. */
static void bc__bn_sign_bits(bc__pk *s, const bc__layer *bn) {
    const int64_t c = bn->ishape.c, px = (int64_t)s->shape.h * s->shape.w, cw = bc__b1_words(c);
    float *scale = s->m->pthr, *shift = scale + c;
    int32_t *thr = (int32_t *)(shift + c), *mul = thr + c; /* bit = mul * x >= thr */
    bc__bn_eval_coeffs(s->e.params + bn->w, s->e.params + bn->b, s->e.buffers + bn->run_mean,
                       s->e.buffers + bn->run_var, bn->spec.eps, c, scale, shift);
    const float *bias = s->src->b >= 0 ? s->e.params + s->src->b : NULL;
    const int64_t lim = s->src->wk + 1; /* |dot| <= wk */
    for (int64_t j = 0; j < c; j++) {
        const float *bj = bias ? bias + j : NULL;
        bool neg = scale[j] < 0.0f;
        mul[j] = neg ? -1 : 1;
        /* Monotone in x (non-decreasing for scale >= 0): binary search for the boundary. */
        int64_t lo = -lim, hi = lim + 1; /* non-decreasing: first x in [lo, hi) that fires */
        if (!neg) {
            while (lo < hi) {
                int64_t mid = lo + (hi - lo) / 2;
                if (bc__fires(mid, bj, scale[j], shift[j])) hi = mid; else lo = mid + 1;
            }
            thr[j] = (int32_t)lo;            /* fires iff x >= thr */
        } else {
            lo = -lim - 1, hi = lim;         /* last x that fires */
            while (lo < hi) {
                int64_t mid = lo + (hi - lo + 1) / 2;
                if (bc__fires(mid, bj, scale[j], shift[j])) lo = mid; else hi = mid - 1;
            }
            thr[j] = (int32_t)-lo;           /* fires iff x <= lo, i.e. -x >= -lo */
        }
    }
    const int32_t *x = s->m->pint[s->cur];
    uint64_t *y = s->m->pbits[0];
    const int64_t rows = s->n * px;
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < (rows + 63) / 64; b++) {
        int64_t r0 = b * 64, nr = rows - r0 < 64 ? rows - r0 : 64;
        s->e.bin->threshold_pack(y + r0 * cw, cw, x + r0 * c, c, mul, thr, nr, c);
    }
    s->st = ST_BITS;
    s->cur = 0;
    s->cw = cw;
}

/* A binary layer on packed input: integer outputs. */
static void bc__binary_layer(bc__pk *s, bc__layer *l, float *spare) {
    bc__binarize_weights(l, &s->e);
    const bool dense = l->spec.kind == BC_LAYER_DENSE;
    bool pixel_padded = s->st == ST_BITS && dense && s->shape.h * s->shape.w > 1 && s->shape.c % 64;
    if (pixel_padded) bc__materialise(s, spare); /* dense wants one contiguous bit row */
    if (s->st == ST_FLOAT) {
        int64_t rows = dense ? s->n : s->n * (int64_t)s->shape.h * s->shape.w, k = dense ? l->in : s->shape.c;
        bc__pack_rows(&s->e, s->m->pbits[0], s->fx, rows, k);
        s->cur = 0;
    }
    bc__conv_xnor(l, &s->e, s->m->pbits[s->cur], s->n, s->m->pint[0], NULL);
    s->st = ST_INT;
    s->cur = 0;
    s->src = l;
    s->shape = l->oshape;
}

const float *bc__packed_forward(bc_model *m, const float *x, int64_t n) {
    if (bc__packed_reserve(m, n)) return NULL;
    bc__pk s = {.m = m, .e = bc__exec_of(m, n, BC__MODE_EVAL, NULL), .n = n, .st = ST_FLOAT, .fx = x,
                .shape = m->in_shape};
    for (int32_t i = 0; i < m->n_layers; i++) {
        bc__layer *l = &m->layers[i];
        const bc_layer_kind k = l->spec.kind;
        const bc__layer *next = i + 1 < m->n_layers ? &m->layers[i + 1] : NULL;
        /* Where a layer's input goes when it must be floats: the slot of the layer before. */
        float *spare = i > 0 ? m->layers[i - 1].act : NULL;
        if (l->wpack && !l->has_reader) {
            bc__binary_layer(&s, l, spare ? spare : l->act);
            continue;
        }
        if (s.st == ST_INT && k == BC_LAYER_MAXPOOL && !l->has_reader) {
            bc__int_maxpool(&s, l);
            continue;
        }
        if (s.st == ST_INT && k == BC_LAYER_BN && next && next->spec.kind == BC_LAYER_SIGN && !l->has_reader &&
            !next->has_reader) {
            bc__bn_sign_bits(&s, l);
            i++; /* the sign is part of the threshold */
            continue;
        }
        if (s.st == ST_BITS && k == BC_LAYER_MAXPOOL && !l->has_reader) {
            bc__bits_maxpool(&s, l);
            continue;
        }
        if (s.st == ST_BITS && k == BC_LAYER_FLATTEN && !l->has_reader &&
            (s.shape.c % 64 == 0 || s.shape.h * s.shape.w == 1)) {
            s.shape = l->oshape;
            s.cw = bc__b1_words(l->out);
            continue;
        }
        if (s.st != ST_FLOAT) {
            BC_ASSERT(spare != NULL);
            bc__materialise(&s, spare);
        }
        bc__ops[k].forward(l, s.fx, &s.e);
        s.fx = l->act;
        s.shape = l->oshape;
    }
    BC_ASSERT(s.st == ST_FLOAT); /* the last layer is the softmax, a float op */
    return s.fx;
}
