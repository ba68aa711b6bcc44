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
    free(m->pmask);
    m->pthr = bc__alloc((size_t)(4 * ch) * sizeof(float));
    m->pmask = bc__alloc((size_t)bc__b1_words(ch) * sizeof(uint64_t));
    m->prows = 0;
    if (!m->pbits[0] || !m->pbits[1] || !m->pint[0] || !m->pint[1] || !m->pthr || !m->pmask) return BC_ERR_NOMEM;
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

/* Per-channel thresholds of batch norm bn + sign on the integer outputs of binary layer src:
 * bit = mul[j] * x >= thr[j]. In m->pthr: scale, shift, thr, mul (c each). */
static void bc__thresholds(bc__pk *s, const bc__layer *bn, const bc__layer *src, const int32_t **mul_out,
                           const int32_t **thr_out) {
    const int64_t c = bn->ishape.c;
    float *scale = s->m->pthr, *shift = scale + c;
    int32_t *thr = (int32_t *)(shift + c), *mul = thr + c; /* bit = mul * x >= thr */
    bc__bn_eval_coeffs(s->e.params + bn->w, s->e.params + bn->b, s->e.buffers + bn->run_mean,
                       s->e.buffers + bn->run_var, bn->spec.eps, c, scale, shift);
    const float *bias = src->b >= 0 ? s->e.params + src->b : NULL;
    const int64_t lim = src->wk + 1; /* |dot| <= wk */
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
    /* Channels whose bit is non-decreasing in x (mul = +1): max pooling before the threshold
     * is an OR of the bits after it; for the others (x <= T) it is an AND. */
    for (int64_t w = 0; w < bc__b1_words(c); w++) {
        uint64_t pos = 0;
        for (int64_t j = w * 64; j < c && j < w * 64 + 64; j++) pos |= (uint64_t)(mul[j] > 0) << (j % 64);
        s->m->pmask[w] = pos;
    }
    *mul_out = mul;
    *thr_out = thr;
}

/* Batch norm + sign on integers -> packed bits, through per-channel thresholds. */
static void bc__bn_sign_bits(bc__pk *s, const bc__layer *bn) {
    const int64_t c = bn->ishape.c, px = (int64_t)s->shape.h * s->shape.w, cw = bc__b1_words(c);
    const int32_t *mul, *thr;
    bc__thresholds(s, bn, s->src, &mul, &thr);
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

/* Max pooling (no padding) of ns samples' threshold bits (h, w, cw words per pixel) in x to
 * y: per channel the OR (pmask bit 1) or the AND (0) of the window, which is the threshold
 * of the pooled integers. */
static void bc__pool_bits(uint64_t *restrict y, const uint64_t *restrict x, const uint64_t *restrict pmask,
                          int64_t ns, const bc__layer *pool, int64_t cw) {
    const bc_shape a = pool->ishape, o = pool->oshape;
    const int32_t k = pool->spec.size, st = pool->spec.stride;
    for (int64_t n = 0; n < ns; n++)
        for (int32_t oy = 0; oy < o.h; oy++)
            for (int32_t ox = 0; ox < o.w; ox++) {
                uint64_t *yo = y + ((n * o.h + oy) * o.w + ox) * cw;
                for (int64_t w = 0; w < cw; w++) {
                    uint64_t any = 0, all = ~(uint64_t)0;
                    for (int32_t ky = 0; ky < k; ky++)
                        for (int32_t kx = 0; kx < k; kx++) {
                            const uint64_t v = x[((n * a.h + (int64_t)oy * st + ky) * a.w + (int64_t)ox * st + kx) * cw + w];
                            any |= v;
                            all &= v;
                        }
                    yo[w] = (any & pmask[w]) | (all & ~pmask[w]);
                }
            }
}

/* Binary layer l -> [max pool] -> batch norm -> sign, block by block of samples: each block's
 * integers are thresholded (and pooled) while in cache, and only bits reach memory. */
static void bc__fused_binary(bc__pk *s, bc__layer *l, const bc__layer *pool, const bc__layer *bn, float *spare) {
    bc__binarize_weights(l, &s->e);
    const bool dense = l->spec.kind == BC_LAYER_DENSE;
    if (s->st == ST_BITS && dense && s->shape.h * s->shape.w > 1 && s->shape.c % 64)
        bc__materialise(s, spare); /* dense wants one contiguous bit row */
    if (s->st == ST_FLOAT) {
        int64_t rows = dense ? s->n : s->n * (int64_t)s->shape.h * s->shape.w, k = dense ? l->in : s->shape.c;
        bc__pack_rows(&s->e, s->m->pbits[0], s->fx, rows, k);
        s->cur = 0;
    }
    const int32_t *mul, *thr;
    bc__thresholds(s, bn, l, &mul, &thr);
    const uint64_t *xbits = s->m->pbits[s->cur], *pmask = s->m->pmask;
    uint64_t *ybits = s->m->pbits[s->cur ^ 1];
    const int64_t c = l->wrows, cw = bc__b1_words(c), p = (int64_t)l->oshape.h * l->oshape.w;
    const int64_t po = pool ? (int64_t)pool->oshape.h * pool->oshape.w : p;
    const int64_t bs = bc__conv_block_samples(l, s->n), blocks = (s->n + bs - 1) / bs;
    const int64_t ww = dense ? 0 : (int64_t)l->spec.size * l->spec.size * bc__b1_words(l->ishape.c);
    const bc__exec *e = &s->e;
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t s0 = b * bs, ns = s->n - s0 < bs ? s->n - s0 : bs, rows = ns * p;
        uint64_t *col = (uint64_t *)(e->scratch + bc__thread_id() * e->scratch_per_thread);
        int32_t *dots = (int32_t *)(col + bs * p * ww);
        uint64_t *bits = (uint64_t *)(dots + bs * p * c + (bs * p * c) % 2); /* 8-byte aligned */
        bc__conv_xnor_samples(l, e, xbits, s0, ns, col, dots);
        if (!pool) {
            e->bin->threshold_pack(ybits + s0 * p * cw, cw, dots, c, mul, thr, rows, c);
            continue;
        }
        e->bin->threshold_pack(bits, cw, dots, c, mul, thr, rows, c);
        bc__pool_bits(ybits + s0 * po * cw, bits, pmask, ns, pool, cw);
    }
    s->st = ST_BITS;
    s->cur ^= 1;
    s->cw = cw;
    s->shape = bn->oshape;
}

/* Float first layer (direct conv) -> batch norm -> sign, a few output rows at a time: the
 * conv's floats stay in L1, and only bits reach memory. */
static void bc__fused_first(bc__pk *s, bc__layer *l, const bc__layer *bn) {
    const int64_t c = l->wrows, cw = bc__b1_words(c), ow = l->oshape.w, oh = l->oshape.h;
    float *scale = s->m->pthr, *shift = scale + c;
    bc__bn_eval_coeffs(s->e.params + bn->w, s->e.params + bn->b, s->e.buffers + bn->run_mean,
                       s->e.buffers + bn->run_var, bn->spec.eps, c, scale, shift);
    const float *x = s->fx;
    uint64_t *ybits = s->m->pbits[0];
    const bc__exec *e = &s->e;
    const int64_t n = s->n, blocks = (n + 7) / 8;
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        float *scr = e->scratch + bc__thread_id() * e->scratch_per_thread;
        const float *xp;
        const float *wt = bc__direct_prepare(l, e, scr, &xp);
        float *rows = (float *)wt + l->wk * c; /* (BC__DIRECT_ROWS * ow, c) */
        for (int64_t smp = b * 8; smp < n && smp < b * 8 + 8; smp++)
            for (int32_t oy = 0; oy < oh; oy += BC__DIRECT_ROWS) {
                const int32_t nr = oh - oy < BC__DIRECT_ROWS ? (int32_t)(oh - oy) : BC__DIRECT_ROWS;
                bc__direct_rows(l, e, x + smp * l->in, wt, scr, oy, nr, rows, oy == 0);
                e->bin->affine_pack(ybits + (smp * oh + oy) * ow * cw, cw, rows, c, scale, shift, nr * ow, c);
            }
    }
    s->st = ST_BITS;
    s->cur = 0;
    s->cw = cw;
    s->shape = bn->oshape;
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
        /* Fused runs: layer [-> max pool] -> batch norm -> sign, nothing read in between. */
        int32_t j = i + 1;
        const bc__layer *pool = NULL;
        if (l->wpack && j < m->n_layers && m->layers[j].spec.kind == BC_LAYER_MAXPOOL && !m->layers[j].has_reader)
            pool = &m->layers[j++];
        bool fusable = !l->has_reader && j + 1 < m->n_layers && m->layers[j].spec.kind == BC_LAYER_BN &&
                       !m->layers[j].has_reader && m->layers[j + 1].spec.kind == BC_LAYER_SIGN &&
                       !m->layers[j + 1].has_reader;
        if (fusable && l->wpack) {
            bc__fused_binary(&s, l, pool, &m->layers[j], spare ? spare : l->act);
            i = j + 1; /* the batch norm and sign are part of the thresholds */
            continue;
        }
        if (fusable && s.st == ST_FLOAT && bc__conv_direct_ok(l)) {
            bc__fused_first(&s, l, &m->layers[j]);
            i = j + 1;
            continue;
        }
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
