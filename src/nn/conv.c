/* Dense and 2-D convolution layers, float or binary, forward and backward.
 * A dense layer is a 1x1 convolution on a 1x1 image, so both share this file. Two ways:
 *  - direct (dense, 1x1 stride-1 conv): one GEMM over the whole batch;
 *  - im2col: the batch is cut into chunks of samples (a multiple of BC__WSLOTS of them, so
 *    threads get equal work); each chunk is unrolled into a thread's scratch and multiplied
 *    there. Weight gradients are summed per group of chunks into BC__WSLOTS partial buffers,
 *    then added in group order. Chunks depend on the batch size and geometry only, so the
 *    bits do not depend on the thread count.
 * Binary layers (sign of latent weights) whose input is known to be ±1 multiply with the
 * XNOR-popcount kernels when e->mac says so: the integers are exactly what a float GEMM on ±1
 * values gives. Padding is zero in both paths: a packed padded tap reads as -1, and the sum of
 * that tap's weight signs is added back (tapsum).
 * The backward GEMMs of binary layers on ±1 input may run in bf16 (e->bf16, kernels/bgemm.h):
 * dY is rounded to bf16, sign(W) and the ±1 im2col are exact, sums stay fp32; sign(W) is
 * packed once per parameter version (l->wbf16).
 * A float conv on few input channels (a first layer: K = 9 for 3x3 on grey images) is a poor
 * GEMM shape; in evaluation it runs as a direct convolution (e->bin->conv_direct), which the
 * packed engine also uses, fused with batch norm + sign, so both engines agree to the bit. */
#include "nn/model.h"
#include "kernels/gemm.h"
#include "kernels/im2col.h"
#include "cim/cim.h"

#include <math.h>
#include <string.h>

#define BC__CONV_COL_CAP (1 << 21) /* floats of im2col per chunk, roughly (8 MiB) */
#define BC__XNOR_ROWS 128          /* rows per XNOR task in the direct path */
#define BC__DIRECT_MAX_K 32        /* float convs with at most this many taps x channels run direct */
#define BC__DX_ROWS 256            /* rows per input-gradient GEMM block in the conv backward */
#define BC__FUSE_ROWS 256          /* output rows per block of the packed engine's fused layers */

bc__conv_geom bc__conv_geom_of(const bc__layer *l) {
    if (l->spec.kind != BC_LAYER_CONV)
        return (bc__conv_geom){.h = 1, .w = 1, .c = (int32_t)l->in, .k = 1, .stride = 1, .pad = 0, .oh = 1, .ow = 1};
    return (bc__conv_geom){.h = l->ishape.h, .w = l->ishape.w, .c = l->ishape.c, .k = l->spec.size,
                           .stride = l->spec.stride, .pad = l->spec.pad, .oh = l->oshape.h, .ow = l->oshape.w};
}

bool bc__conv_direct(const bc__conv_geom *g) { return g->k == 1 && g->stride == 1 && g->pad == 0; }

int64_t bc__conv_chunks(const bc__layer *l, int64_t n) {
    bc__conv_geom g = bc__conv_geom_of(l);
    int64_t total = n * g.oh * g.ow * l->wk, per = (int64_t)BC__WSLOTS * BC__CONV_COL_CAP;
    int64_t nc = BC__WSLOTS * ((total + per - 1) / per);
    return nc < n ? nc : n;
}

void bc__conv_chunk(int64_t n, int64_t nc, int64_t i, int64_t *s0, int64_t *ns) {
    *s0 = i * n / nc;
    *ns = (i + 1) * n / nc - *s0;
}

bool bc__conv_direct_ok(const bc__layer *l) {
    return l->spec.kind == BC_LAYER_CONV && !l->spec.binary && l->wk <= BC__DIRECT_MAX_K;
}

/* Direct conv: padded image (hp, wp, c), transposed weights (wk, out), then the packed
 * engine's float rows (BC__DIRECT_ROWS, ow, out). */
static int64_t bc__direct_scratch(const bc__layer *l) {
    const bc__conv_geom g = bc__conv_geom_of(l);
    return (int64_t)(g.h + 2 * g.pad) * (g.w + 2 * g.pad) * g.c + l->wk * l->wrows +
           (int64_t)BC__DIRECT_ROWS * g.ow * l->wrows;
}

int64_t bc__conv_block_samples(const bc__layer *l, int64_t n) {
    const bc__conv_geom g = bc__conv_geom_of(l);
    const int64_t p = (int64_t)g.oh * g.ow, per = BC__FUSE_ROWS / p > 1 ? BC__FUSE_ROWS / p : 1;
    const int64_t spread = n / 8 > 1 ? n / 8 : 1; /* at least 8 blocks for the threads */
    return per < spread ? per : spread;
}

/* The fused packed layer's block: packed im2col, int32 dots, threshold bits (before pooling). */
static int64_t bc__fuse_scratch(const bc__layer *l) {
    const bc__conv_geom g = bc__conv_geom_of(l);
    const int64_t p = (int64_t)g.oh * g.ow, rows = bc__conv_block_samples(l, INT64_MAX / 2) * p;
    const int64_t ww = bc__conv_direct(&g) ? 0 : (int64_t)g.k * g.k * bc__b1_words(g.c);
    return 2 * rows * ww + rows * l->wrows + 1 + 2 * rows * bc__b1_words(l->wrows); /* +1: alignment */
}

int64_t bc__conv_scratch(const bc__layer *l, int64_t n) {
    bc__conv_geom g = bc__conv_geom_of(l);
    int64_t p = (int64_t)g.oh * g.ow, taps = (int64_t)g.k * g.k;
    int64_t extra = 0; /* evaluation-only paths */
    if (bc__conv_direct_ok(l)) extra = bc__direct_scratch(l);
    if (l->pm1_in && l->spec.binary) extra = bc__fuse_scratch(l);
    if (bc__conv_direct(&g)) {
        /* Binary layers may also run on a CIM chip: its group outputs follow the XNOR rows. */
        int64_t d = l->pm1_in && l->spec.binary ? BC__XNOR_ROWS * l->wrows + bc__cim_scratch(l, BC__XNOR_ROWS) : 0;
        return d > extra ? d : extra;
    }
    int64_t nc = bc__conv_chunks(l, n), rows = (n + nc - 1) / nc * p;
    int64_t fl = rows * l->wk + (l->spec.binary ? bc__cim_scratch(l, rows) : 0); /* float im2col */
    int64_t pk = rows * taps * bc__b1_words(g.c) * 2 + rows * l->wrows; /* bits + int32 dots */
    int64_t most = fl > pk ? fl : pk;
    return most > extra ? most : extra;
}

float *bc__direct_prepare(const bc__layer *l, const bc__exec *e, float *scr, const float **xp) {
    const bc__conv_geom g = bc__conv_geom_of(l);
    const int64_t wp = g.w + 2 * g.pad, hp = g.h + 2 * g.pad, m = l->wrows, kc = l->wk;
    float *pad = scr, *wt = pad + hp * wp * g.c;
    const float *w = e->params + l->w; /* (m, k, k, c): row j is filter j */
    for (int64_t t = 0; t < kc; t++)
        for (int64_t j = 0; j < m; j++) wt[t * m + j] = w[j * kc + t];
    memset(pad, 0, (size_t)(hp * wp * g.c) * sizeof *pad); /* the border stays zero */
    *xp = pad;
    return wt;
}

void bc__direct_rows(const bc__layer *l, const bc__exec *e, const float *xs, const float *wt, float *scr,
                     int32_t oy0, int32_t nr, float *out, bool pad_now) {
    const bc__conv_geom g = bc__conv_geom_of(l);
    const int64_t wp = g.w + 2 * g.pad;
    if (pad_now) /* copy the image into the padded buffer's interior */
        for (int32_t y = 0; y < g.h; y++)
            memcpy(scr + ((int64_t)(y + g.pad) * wp + g.pad) * g.c, xs + (int64_t)y * g.w * g.c,
                   (size_t)g.w * (size_t)g.c * sizeof *scr);
    e->bin->conv_direct(out, l->wrows, scr + (int64_t)oy0 * g.stride * wp * g.c, wp, g.c, g.k, g.stride, g.ow, nr,
                        wt, l->b >= 0 ? e->params + l->b : NULL, l->wrows);
}

/* Evaluation forward of a float conv on few channels: direct, sample by sample. */
static void bc__conv_forward_direct(bc__layer *l, const float *x, const bc__exec *e) {
    const int64_t n = e->n, blocks = (n + 7) / 8;
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        float *scr = e->scratch + bc__thread_id() * e->scratch_per_thread;
        const float *xp;
        const float *wt = bc__direct_prepare(l, e, scr, &xp);
        for (int64_t s = b * 8; s < n && s < b * 8 + 8; s++)
            bc__direct_rows(l, e, x + s * l->in, wt, scr, 0, l->oshape.h, l->act + s * l->out, true);
    }
}

void bc__binarize_weights(bc__layer *l, const bc__exec *e) {
    if (!l->spec.binary || l->wbin_version == e->param_version) return;
    l->wbin_version = e->param_version;
    const float *w = e->params + l->w;
    const int64_t nw = l->wrows * l->wk;
    #pragma omp parallel for schedule(static) if (nw > 16384)
    for (int64_t i = 0; i < nw; i++) l->wbin[i] = w[i] >= 0.0f ? 1.0f : -1.0f; /* sign(0) = +1 */
    if (!l->wpack) return;
    bc__conv_geom g = bc__conv_geom_of(l);
    const int64_t taps = (int64_t)g.k * g.k, cw = bc__b1_words(g.c);
    for (int64_t o = 0; o < l->wrows; o++) {
        const float *wr = l->wbin + o * l->wk;
        e->bin->pack_signs(l->wpack + o * l->wpack_words, cw, wr, g.c, taps, g.c);
        if (l->tapsum)
            for (int64_t t = 0; t < taps; t++) {
                int32_t s = 0;
                for (int64_t j = 0; j < g.c; j++) s += wr[t * g.c + j] > 0.0f ? 1 : -1;
                l->tapsum[t * l->wrows + o] = s;
            }
    }
}

static void bc__add_bias(float *y, int64_t rows, int64_t out, const float *b) {
    #pragma omp parallel for schedule(static) if (rows * out > 16384)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < out; j++) y[r * out + j] += b[j];
}

/* Corrected XNOR dots of `rows` packed column rows: to ints (yi) or floats (yf). */
static void bc__xnor_rows(const bc__layer *l, const bc__exec *e, const bc__conv_geom *g, const uint64_t *col,
                          int64_t rows, int64_t first_row, int32_t *dots, int32_t *yi, float *yf) {
    const int64_t taps = (int64_t)g->k * g->k, cw = bc__b1_words(g->c), ww = taps * cw;
    const int64_t kbits = ww * 64, p = (int64_t)g->oh * g->ow, out = l->wrows;
    const int32_t pad_bits = (int32_t)(kbits - l->wk);
    if (yi) dots = yi; /* integers wanted: correct them in place */
    e->bin->xnor_gemm(dots, out, col, ww, l->wpack, l->wpack_words, rows, out, kbits);
    int32_t oy = (int32_t)(first_row % p / g->ow), ox = (int32_t)(first_row % p % g->ow);
    for (int64_t r = 0; r < rows; r++) {
        int32_t *d = dots + r * out;
        /* Channel padding bits match (0 XOR 0) and count +1 each: take them out. */
        if (pad_bits)
            for (int64_t j = 0; j < out; j++) d[j] -= pad_bits;
        if (l->tapsum && bc__conv_border(g, oy, ox))
            for (int32_t ky = 0; ky < g->k; ky++)
                for (int32_t kx = 0; kx < g->k; kx++) {
                    int32_t iy = oy * g->stride - g->pad + ky, ix = ox * g->stride - g->pad + kx;
                    if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w) continue;
                    /* A padded tap read as -1 added -tapsum; zero padding adds nothing. */
                    const int32_t *ts = l->tapsum + (ky * g->k + kx) * out;
                    for (int64_t j = 0; j < out; j++) d[j] += ts[j];
                }
        if (!yi)
            for (int64_t j = 0; j < out; j++) yf[r * out + j] = (float)d[j];
        if (++ox == g->ow) { /* next output pixel, without a division per row */
            ox = 0;
            if (++oy == g->oh) oy = 0;
        }
    }
}

void bc__conv_xnor_samples(const bc__layer *l, const bc__exec *e, const uint64_t *xbits, int64_t s0, int64_t ns,
                           uint64_t *col, int32_t *dots) {
    const bc__conv_geom g = bc__conv_geom_of(l);
    const int64_t p = (int64_t)g.oh * g.ow, cw = bc__b1_words(g.c);
    if (bc__conv_direct(&g)) { /* no taps to gather, no padding to correct */
        bc__xnor_rows(l, e, &g, xbits + s0 * p * cw, ns * p, 0, dots, dots, NULL);
        return;
    }
    bc__im2col_bits(col, xbits + s0 * (int64_t)g.h * g.w * cw, ns, cw, &g);
    bc__xnor_rows(l, e, &g, col, ns * p, 0, dots, dots, NULL);
}

void bc__conv_xnor(const bc__layer *l, const bc__exec *e, const uint64_t *xbits, int64_t n, int32_t *yi, float *yf) {
    const bc__conv_geom g = bc__conv_geom_of(l);
    const int64_t p = (int64_t)g.oh * g.ow, out = l->wrows, cw = bc__b1_words(g.c);
    if (bc__conv_direct(&g)) {
        const int64_t rows = n * p, blocks = (rows + BC__XNOR_ROWS - 1) / BC__XNOR_ROWS;
        #pragma omp parallel for schedule(static)
        for (int64_t b = 0; b < blocks; b++) {
            int64_t r0 = b * BC__XNOR_ROWS, nr = rows - r0 < BC__XNOR_ROWS ? rows - r0 : BC__XNOR_ROWS;
            int32_t *dots = (int32_t *)(e->scratch + bc__thread_id() * e->scratch_per_thread);
            bc__xnor_rows(l, e, &g, xbits + r0 * cw, nr, r0, dots, yi ? yi + r0 * out : NULL, yf ? yf + r0 * out : NULL);
        }
        return;
    }
    const int64_t chunks = bc__conv_chunks(l, n), ww = (int64_t)g.k * g.k * cw;
    #pragma omp parallel for schedule(static)
    for (int64_t ch = 0; ch < chunks; ch++) {
        int64_t s0, ns;
        bc__conv_chunk(n, chunks, ch, &s0, &ns);
        const int64_t rows = ns * p;
        uint64_t *col = (uint64_t *)(e->scratch + bc__thread_id() * e->scratch_per_thread);
        int32_t *dots = (int32_t *)(col + rows * ww);
        bc__im2col_bits(col, xbits + s0 * (int64_t)g.h * g.w * cw, ns, cw, &g);
        bc__xnor_rows(l, e, &g, col, rows, 0, dots, yi ? yi + s0 * p * out : NULL, yf ? yf + s0 * p * out : NULL);
    }
}

void bc__conv_forward(bc__layer *l, const float *x, const bc__exec *e) {
    const bc__conv_geom g = bc__conv_geom_of(l);
    const int64_t n = e->n, p = (int64_t)g.oh * g.ow, out = l->wrows, K = l->wk;
    bc__binarize_weights(l, e);
    if (e->mode == BC__MODE_EVAL && bc__conv_direct_ok(l)) {
        bc__conv_forward_direct(l, x, e); /* adds the bias itself */
        return;
    }
    bc__cim_layer *cl = bc__cim_layer_of(e->chip, l->index);
    if (cl) {
        bc__cim_forward(e->chip, cl, x, e);
    } else if (l->spec.binary && l->pm1_in && e->mac == BC__MAC_XNOR) {
        bc__pack_rows(e, e->pk, x, n * (int64_t)g.h * g.w, g.c);
        bc__conv_xnor(l, e, e->pk, n, NULL, l->act);
    } else if (bc__conv_direct(&g)) {
        const float *w = l->spec.binary ? l->wbin : e->params + l->w;
        bc__sgemm(false, true, n * p, out, K, 1.0f, x, K, w, K, 0.0f, l->act, out);
    } else {
        const float *w = l->spec.binary ? l->wbin : e->params + l->w;
        const int64_t chunks = bc__conv_chunks(l, n);
        #pragma omp parallel for schedule(static)
        for (int64_t ch = 0; ch < chunks; ch++) {
            int64_t s0, ns;
            bc__conv_chunk(n, chunks, ch, &s0, &ns);
            float *scr = e->scratch + bc__thread_id() * e->scratch_per_thread;
            bc__im2col(scr, x + s0 * l->in, ns, &g);
            bc__sgemm_serial(false, true, ns * p, out, K, 1.0f, scr, K, w, K, 0.0f, l->act + s0 * p * out, out);
        }
    }
    if (l->b >= 0) bc__add_bias(l->act, n * p, out, e->params + l->b);
}

void bc__pack_rows(const bc__exec *e, uint64_t *bits, const float *x, int64_t rows, int64_t k) {
    const int64_t w = bc__b1_words(k);
    #pragma omp parallel for schedule(static) if (rows * k > 16384)
    for (int64_t b = 0; b < (rows + 255) / 256; b++) {
        int64_t r0 = b * 256, nr = rows - r0 < 256 ? rows - r0 : 256;
        e->bin->pack_signs(bits + r0 * w, w, x + r0 * k, k, nr, k);
    }
}

/* The bf16 kernels for this layer's backward, or NULL for fp32: only binary layers whose
 * input is ±1, so that both GEMMs multiply dY by exact ±1 (or zero-padding) operands. */
static const bc__bf16_kernels *bc__conv_bf16(bc__layer *l, const bc__exec *e) {
    if (!e->bf16 || !l->wbf16 || !l->spec.binary || !l->pm1_in) return NULL;
    if (l->wbf16_version != e->param_version) { /* sign(W) as the B of dX = dY * sign(W) */
        bc__bgemm_pack_b_whole(e->bf16, l->wbf16, false, l->wbin, l->wk, l->wrows, l->wk);
        l->wbf16_version = e->param_version;
    }
    return e->bf16;
}

void bc__conv_backward(bc__layer *l, const float *x, const float *dy, float *dx, const bc__exec *e) {
    const bc__conv_geom g = bc__conv_geom_of(l);
    const int64_t n = e->n, p = (int64_t)g.oh * g.ow, out = l->wrows, K = l->wk, nw = out * K;
    float *dw = e->grads + l->w;
    const float *w = l->spec.binary ? l->wbin : e->params + l->w;
    const bc__bf16_kernels *bk = bc__conv_bf16(l, e);
    if (bc__conv_direct(&g) && bk) {
        bc__bgemm(bk, true, false, out, K, n * p, 1.0f, dy, out, x, K, NULL, 0.0f, dw, K, e->bwork);
        if (dx) bc__bgemm(bk, false, false, n * p, K, out, 1.0f, dy, out, NULL, 0, l->wbf16, 0.0f, dx, K, e->bwork);
    } else if (bc__conv_direct(&g)) {
        bc__sgemm(true, false, out, K, n * p, 1.0f, dy, out, x, K, 0.0f, dw, K);
        if (dx) bc__sgemm(false, false, n * p, K, out, 1.0f, dy, out, w, K, 0.0f, dx, K);
    } else {
        const int64_t chunks = bc__conv_chunks(l, n);
        const int64_t groups = chunks < BC__WSLOTS ? chunks : BC__WSLOTS;
        #pragma omp parallel for schedule(static)
        for (int64_t gi = 0; gi < groups; gi++) {
            float *slot = e->wslots + gi * nw;
            float *col = e->scratch + bc__thread_id() * e->scratch_per_thread;
            void *bw = bk ? (char *)e->bwork + (size_t)bc__thread_id() * BC__BGEMM_WORK_BYTES : NULL;
            for (int64_t ch = gi * chunks / groups; ch < (gi + 1) * chunks / groups; ch++) {
                int64_t s0, ns;
                bc__conv_chunk(n, chunks, ch, &s0, &ns);
                const int64_t rows = ns * p;
                const float *dyc = dy + s0 * p * out;
                const float beta = ch == gi * chunks / groups ? 0.0f : 1.0f;
                if (bk && g.c % 16 == 0) { /* the bf16 B straight from x: no float im2col */
                    bc__bgemm_im2col(bk, true, out, K, rows, 1.0f, dyc, out, x + s0 * l->in, &g, beta, slot, K, bw);
                } else {
                    bc__im2col(col, x + s0 * l->in, ns, &g);
                    if (bk) bc__bgemm_serial(bk, true, false, out, K, rows, 1.0f, dyc, out, col, K, NULL, beta, slot, K, bw);
                    else bc__sgemm_serial(true, false, out, K, rows, 1.0f, dyc, out, col, K, beta, slot, K);
                }
                if (!dx) continue;
                /* dX in blocks of rows whose columns stay in L2 until col2im adds them: each
                 * row's dot products do not depend on the blocking, so neither do the bits. */
                memset(dx + s0 * l->in, 0, (size_t)(ns * l->in) * sizeof *dx);
                for (int64_t r0 = 0; r0 < rows; r0 += BC__DX_ROWS) {
                    const int64_t nr = rows - r0 < BC__DX_ROWS ? rows - r0 : BC__DX_ROWS;
                    if (bk)
                        bc__bgemm_serial(bk, false, false, nr, K, out, 1.0f, dyc + r0 * out, out, NULL, 0, l->wbf16, 0.0f,
                                         col, K, bw);
                    else
                        bc__sgemm_serial(false, false, nr, K, out, 1.0f, dyc + r0 * out, out, w, K, 0.0f, col, K);
                    bc__col2im_add_rows(dx + s0 * l->in, col, r0, nr, &g);
                }
            }
        }
        #pragma omp parallel for schedule(static) if (nw > 16384)
        for (int64_t i = 0; i < nw; i++) {
            float s = 0.0f;
            for (int64_t gi = 0; gi < groups; gi++) s += e->wslots[gi * nw + i];
            dw[i] = s;
        }
    }
    if (l->spec.binary) {
        /* Straight-through estimator of sign(): pass the gradient where |w| <= 1. */
        const float *lw = e->params + l->w;
        #pragma omp parallel for schedule(static) if (nw > 16384)
        for (int64_t i = 0; i < nw; i++)
            if (fabsf(lw[i]) > 1.0f) dw[i] = 0.0f;
    }
    if (l->b >= 0) {
        float *db = e->grads + l->b;
        const int64_t rows = n * p;
        #pragma omp parallel for schedule(static) if (rows * out > 16384)
        for (int64_t j = 0; j < out; j++) {
            float s = 0.0f;
            for (int64_t r = 0; r < rows; r++) s += dy[r * out + j];
            db[j] = s;
        }
    }
}
