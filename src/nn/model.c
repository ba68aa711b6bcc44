/* Model construction from a network description, parameter layout, forward and backward. */
#include "nn/model.h"
#include "cim/cim.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static bc_status bc__add_tensor(bc_model *m, bc__layer *l, const char *what, bool trainable,
                                int32_t ndim, const int64_t *shape, int64_t *offset) {
    bc__tensor *t = &m->tensors[m->n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "L%d.%s.%s", (int)l->index, bc_layer_kind_name(l->spec.kind), what);
    t->trainable = trainable;
    t->ndim = ndim;
    t->count = 1;
    for (int32_t i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->count *= shape[i];
    }
    int64_t *total = trainable ? &m->n_params : &m->n_buffers;
    t->offset = *total;
    *total += t->count;
    if (*total > ((int64_t)1 << 31)) return bc__fail(BC_ERR_NOMEM, "%s: more than 2^31 parameters", m->spec->name);
    *offset = t->offset;
    if (l->spec.group[0])
        for (int32_t g = 0; g < m->spec->n_groups; g++)
            if (!strcmp(m->spec->groups[g].name, l->spec.group)) t->group = g + 1;
    return BC_OK;
}

static bool bc__same_shape(bc_shape a, bc_shape b) { return a.c == b.c && a.h == b.h && a.w == b.w; }

static bc_status bc__shape_err(const bc_model *m, const bc__layer *l, const char *what) {
    return bc__fail(BC_ERR_SHAPE, "%s:%d: [%s] %s (its input is %dx%dx%d)", m->spec->name, (int)l->spec.line,
                    bc_layer_kind_name(l->spec.kind), what, l->ishape.c, l->ishape.h, l->ishape.w);
}

/* Output shape of layer l from its input shape; weight geometry; shape errors. */
static bc_status bc__layer_shape(bc_model *m, bc__layer *l) {
    const bc_shape x = l->ishape;
    bc_layer_spec *s = &l->spec;
    l->oshape = x;
    switch (s->kind) {
    case BC_LAYER_DENSE:
        l->oshape = (bc_shape){s->units, 1, 1};
        l->wrows = s->units;
        l->wk = (int64_t)x.c * x.h * x.w;
        break;
    case BC_LAYER_CONV: {
        if (s->pad < 0) s->pad = s->size / 2;
        int32_t oh = (x.h + 2 * s->pad - s->size) / s->stride + 1, ow = (x.w + 2 * s->pad - s->size) / s->stride + 1;
        if (x.h + 2 * s->pad < s->size || x.w + 2 * s->pad < s->size) return bc__shape_err(m, l, "window larger than the padded input");
        l->oshape = (bc_shape){s->units, oh, ow};
        l->wrows = s->units;
        l->wk = (int64_t)s->size * s->size * x.c;
        break;
    }
    case BC_LAYER_MAXPOOL:
    case BC_LAYER_AVGPOOL:
        if (s->stride == 0) s->stride = s->size;
        if (x.h < s->size || x.w < s->size) return bc__shape_err(m, l, "window larger than the input");
        l->oshape = (bc_shape){x.c, (x.h - s->size) / s->stride + 1, (x.w - s->size) / s->stride + 1};
        break;
    case BC_LAYER_GAP: l->oshape = (bc_shape){x.c, 1, 1}; break;
    case BC_LAYER_FLATTEN: l->oshape = (bc_shape){x.c * x.h * x.w, 1, 1}; break;
    case BC_LAYER_SHORTCUT: {
        l->src = l->index + s->from;
        bc_shape a = m->layers[l->src].oshape;
        if (bc__same_shape(a, x)) break;
        if (a.h % x.h || a.w % x.w || a.h / x.h != a.w / x.w)
            return bc__fail(BC_ERR_SHAPE, "%s:%d: [shortcut] cannot project layer %d's %dx%dx%d output onto %dx%dx%d "
                            "(sizes must shrink by one integer stride)", m->spec->name, (int)s->line, (int)l->src,
                            a.c, a.h, a.w, x.c, x.h, x.w);
        l->wrows = x.c;
        l->wk = a.c;
        break;
    }
    default: break;
    }
    l->in = (int64_t)x.c * x.h * x.w;
    l->out = (int64_t)l->oshape.c * l->oshape.h * l->oshape.w;
    return BC_OK;
}

/* Parameters and buffers of layer l. */
static bc_status bc__layer_tensors(bc_model *m, bc__layer *l) {
    bc_status st = BC_OK;
    const bc_layer_spec *s = &l->spec;
    if (s->kind == BC_LAYER_DENSE || s->kind == BC_LAYER_CONV ||
        (s->kind == BC_LAYER_SHORTCUT && l->wrows > 0)) {
        int64_t dense[2] = {l->wrows, l->wk}, conv[4] = {l->wrows, s->size, s->size, l->ishape.c};
        bool is_conv = s->kind == BC_LAYER_CONV;
        st = bc__add_tensor(m, l, "weight", true, is_conv ? 4 : 2, is_conv ? conv : dense, &l->w);
        if (!st) {
            bc__tensor *t = &m->tensors[m->n_tensors - 1];
            t->clip_unit = s->binary;
            t->decay = true;
        }
        int64_t bs[1] = {l->wrows};
        if (!st && s->bias && s->kind != BC_LAYER_SHORTCUT) st = bc__add_tensor(m, l, "bias", true, 1, bs, &l->b);
        if (!st && s->kind == BC_LAYER_SHORTCUT) {
            st = bc__add_tensor(m, l, "bn_weight", true, 1, bs, &l->g);
            if (!st) st = bc__add_tensor(m, l, "bn_bias", true, 1, bs, &l->beta);
            if (!st) st = bc__add_tensor(m, l, "running_mean", false, 1, bs, &l->run_mean);
            if (!st) st = bc__add_tensor(m, l, "running_var", false, 1, bs, &l->run_var);
        }
    } else if (s->kind == BC_LAYER_BN) {
        int64_t c[1] = {l->ishape.c};
        st = bc__add_tensor(m, l, "weight", true, 1, c, &l->w);
        if (!st) st = bc__add_tensor(m, l, "bias", true, 1, c, &l->b);
        if (!st) st = bc__add_tensor(m, l, "running_mean", false, 1, c, &l->run_mean);
        if (!st) st = bc__add_tensor(m, l, "running_var", false, 1, c, &l->run_var);
    }
    return st;
}

/* Infers every layer's shape and lays out the parameter and buffer blocks. */
static bc_status bc__layout(bc_model *m) {
    bc_shape shape = m->in_shape;
    bool pm1 = false; /* the current activation holds only ±1 */
    int32_t first_w = -1, last_w = -1;
    for (int32_t i = 0; i < m->n_layers; i++) {
        bc_layer_kind k = m->spec->layers[i].kind;
        if (k == BC_LAYER_DENSE || k == BC_LAYER_CONV) {
            if (first_w < 0) first_w = i;
            last_w = i;
        }
    }
    m->max_width = m->n_in;
    for (int32_t i = 0; i < m->n_layers; i++) {
        bc__layer *l = &m->layers[i];
        l->index = i;
        l->spec = m->spec->layers[i];
        if (m->spec->train.binary_ends && (i == first_w || i == last_w)) l->spec.binary = true;
        l->ishape = shape;
        l->w = l->b = l->g = l->beta = l->run_mean = l->run_var = -1;
        l->pm1_in = pm1;
        bc_status st = bc__layer_shape(m, l);
        if (!st) st = bc__layer_tensors(m, l);
        if (st) return st;
        shape = l->oshape;
        bc_layer_kind k = l->spec.kind;
        pm1 = k == BC_LAYER_SIGN || (pm1 && (k == BC_LAYER_MAXPOOL || k == BC_LAYER_FLATTEN));
        if (l->out > m->max_width) m->max_width = l->out;
        if (l->in > m->max_width) m->max_width = l->in;
    }
    m->n_classes = (int32_t)m->layers[m->n_layers - 1].out;
    if (m->n_classes < 2)
        return bc__fail(BC_ERR_SHAPE, "%s: the network ends in %d output(s); a classifier needs >= 2", m->spec->name, (int)m->n_classes);
    return BC_OK;
}

static void bc__init_params(bc_model *m) {
    for (int32_t i = 0; i < m->n_layers; i++) {
        bc__layer *l = &m->layers[i];
        bc_rng_key k = {.seed = m->seed, .purpose = BC_RNG_INIT, .layer = (uint32_t)i};
        if (l->w >= 0 && l->spec.kind != BC_LAYER_BN) {
            /* PyTorch's default for Linear and Conv2d: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
            float bound = 1.0f / sqrtf((float)l->wk);
            int64_t nw = l->wrows * l->wk;
            for (int64_t j = 0; j < nw; j++) m->params[l->w + j] = (2.0f * bc_rng_uniform(k, (uint64_t)j) - 1.0f) * bound;
            if (l->b >= 0)
                for (int64_t j = 0; j < l->wrows; j++)
                    m->params[l->b + j] = (2.0f * bc_rng_uniform(k, (uint64_t)(nw + j)) - 1.0f) * bound;
        }
        int64_t g = l->spec.kind == BC_LAYER_BN ? l->w : l->g, beta = l->spec.kind == BC_LAYER_BN ? l->b : l->beta;
        int64_t c = l->spec.kind == BC_LAYER_BN ? l->ishape.c : l->wrows;
        if (g < 0) continue;
        for (int64_t j = 0; j < c; j++) {
            m->params[g + j] = 1.0f;
            m->params[beta + j] = 0.0f;
            m->buffers[l->run_mean + j] = 0.0f;
            m->buffers[l->run_var + j] = 1.0f;
        }
    }
}

bc_status bc_model_new(bc_ctx *ctx, const bc_netspec *spec, bc_shape in, uint64_t seed, bc_model **out) {
    *out = NULL;
    if (!ctx || !spec) return bc__fail(BC_ERR_PARAM, "bc_model_new: NULL argument");
    if (in.c < 1 || in.h < 1 || in.w < 1) return bc__fail(BC_ERR_SHAPE, "input shape %dx%dx%d is empty", in.c, in.h, in.w);
    if (spec->has_input && (spec->input.c != in.c || spec->input.h != in.h || spec->input.w != in.w))
        return bc__fail(BC_ERR_SHAPE, "%s: expects input %dx%dx%d but the data is %dx%dx%d", spec->name,
                        spec->input.c, spec->input.h, spec->input.w, in.c, in.h, in.w);
    bc_model *m = calloc(1, sizeof *m);
    if (!m) return bc__fail(BC_ERR_NOMEM, "model");
    bc_status st = bc_netspec_copy(spec, &m->spec);
    if (st) { free(m); return st; }
    snprintf(m->spec->name, sizeof m->spec->name, "%s", spec->name);
    m->ctx = ctx;
    m->in_shape = in;
    m->n_in = (int64_t)in.c * in.h * in.w;
    m->seed = seed;
    m->n_layers = spec->n_layers;
    m->layers = calloc((size_t)m->n_layers, sizeof *m->layers);
    m->tensors = calloc((size_t)m->n_layers * 6 + 1, sizeof *m->tensors);
    if (!m->layers || !m->tensors) { st = bc__fail(BC_ERR_NOMEM, "model layers"); goto fail; }
    if ((st = bc__layout(m))) goto fail;
    size_t pbytes = (size_t)(m->n_params ? m->n_params : 1) * sizeof(float);
    m->params = bc__alloc(pbytes);
    m->grads = bc__alloc(pbytes);
    m->opt_m = bc__alloc(pbytes);
    m->opt_v = bc__alloc(pbytes);
    m->buffers = bc__alloc((size_t)(m->n_buffers ? m->n_buffers : 1) * sizeof(float));
    if (!m->params || !m->grads || !m->opt_m || !m->opt_v || !m->buffers) { st = BC_ERR_NOMEM; goto fail; }
    for (int32_t i = 0; i < m->n_layers; i++) {
        bc__layer *l = &m->layers[i];
        bc_layer_kind k = l->spec.kind;
        if (l->wrows > 0 && l->spec.binary) {
            if (!(l->wbin = bc__alloc((size_t)(l->wrows * l->wk) * sizeof(float)))) { st = BC_ERR_NOMEM; goto fail; }
            if (l->pm1_in && (k == BC_LAYER_DENSE || k == BC_LAYER_CONV)) {
                int64_t taps = k == BC_LAYER_CONV ? (int64_t)l->spec.size * l->spec.size : 1;
                int64_t c = k == BC_LAYER_CONV ? l->ishape.c : l->wk;
                l->wpack_words = taps * bc__b1_words(c);
                l->wpack = bc__alloc((size_t)(l->wrows * l->wpack_words) * sizeof(uint64_t));
                l->wbf16 = bc__alloc((size_t)bc__bgemm_packed(l->wk, l->wrows) * sizeof(uint16_t));
                if (!l->wpack || !l->wbf16) { st = BC_ERR_NOMEM; goto fail; }
                if (k == BC_LAYER_CONV && !(l->tapsum = bc__alloc((size_t)(l->wrows * taps) * sizeof(int32_t)))) { st = BC_ERR_NOMEM; goto fail; }
            }
        }
        int64_t nstat = k == BC_LAYER_BN ? l->ishape.c : (l->g >= 0 ? l->wrows : 0);
        if (nstat && !(l->stat = bc__alloc((size_t)(2 * nstat) * sizeof(float)))) { st = BC_ERR_NOMEM; goto fail; }
        if (k == BC_LAYER_SHORTCUT) m->layers[l->src].has_reader = true;
    }
    m->mac = BC__MAC_XNOR;
    bc_model_set_gemm(m, BC_GEMM_AUTO);
    bc__init_params(m);
    m->param_version = 1;
    *out = m;
    return BC_OK;
fail:
    bc_model_free(m);
    return st;
}

void bc_model_free(bc_model *m) {
    if (!m) return;
    for (int32_t i = 0; m->layers && i < m->n_layers; i++) {
        free(m->layers[i].wbin);
        free(m->layers[i].wpack);
        free(m->layers[i].wbf16);
        free(m->layers[i].tapsum);
        free(m->layers[i].stat);
    }
    free(m->layers);
    free(m->tensors);
    free(m->params);
    free(m->grads);
    free(m->opt_m);
    free(m->opt_v);
    free(m->buffers);
    free(m->ws);
    free(m->ews);
    for (int i = 0; i < 2; i++) { free(m->pbits[i]); free(m->pint[i]); }
    free(m->pthr);
    free(m->pmask);
    free(m->scratch);
    free(m->wslots);
    free(m->pk);
    free(m->red);
    free(m->bwork);
    bc_netspec_free(m->spec);
    free(m);
}

void bc_model_macs(const bc_model *m, int64_t *float_macs, int64_t *binary_macs) {
    int64_t f = 0, b = 0;
    for (int32_t i = 0; i < m->n_layers; i++) {
        const bc__layer *l = &m->layers[i];
        if (l->wrows <= 0) continue;
        int64_t macs = l->wrows * l->wk * l->oshape.h * l->oshape.w;
        if (l->spec.binary) b += macs; else f += macs;
    }
    if (float_macs) *float_macs = f;
    if (binary_macs) *binary_macs = b;
}

bc_status bc_model_set_engine(bc_model *m, bc_engine e) {
    if (e < 0 || e >= BC_ENGINE_COUNT) return bc__fail(BC_ERR_PARAM, "unknown engine %d", (int)e);
    m->engine = e;
    return BC_OK;
}

bc_status bc_model_set_gemm(bc_model *m, bc_gemm g) {
    if (g < 0 || g >= BC_GEMM_COUNT) return bc__fail(BC_ERR_PARAM, "unknown gemm precision %d", (int)g);
    m->gemm = g;
    /* The AVX512-BF16 kernel is no faster than OpenBLAS sgemm on a CPU that also has AMX
     * (vdpbf16ps issues once per cycle there), so auto takes bf16 only with AMX. */
    const bc__bf16_kernels *k = bc__bf16_kernels_for(m->ctx->cpu);
    if (g == BC_GEMM_BF16) m->bf16 = k ? k : &bc__bf16_kernels_scalar;
    else if (g == BC_GEMM_AUTO) m->bf16 = k && !strcmp(k->name, "amx") ? k : NULL;
    else m->bf16 = NULL;
    return BC_OK;
}

bc_gemm bc_model_gemm(const bc_model *m, const char **kernel) {
    if (kernel) *kernel = m->bf16 ? m->bf16->name : "sgemm";
    return m->bf16 ? BC_GEMM_BF16 : BC_GEMM_FP32;
}

const char *bc_gemm_name(bc_gemm g) {
    return g == BC_GEMM_AUTO ? "auto" : g == BC_GEMM_FP32 ? "fp32" : g == BC_GEMM_BF16 ? "bf16" : "?";
}

bc_status bc_model_set_chip(bc_model *m, bc_cim_chip *chip) {
    if (chip && chip->model != m) return bc__fail(BC_ERR_PARAM, "bc_model_set_chip: the chip was made for another model");
    m->chip = chip;
    return BC_OK;
}

const char *bc_engine_name(bc_engine e) {
    return e == BC_ENGINE_FLOAT ? "float" : e == BC_ENGINE_PACKED ? "packed" : "?";
}

const bc_netspec *bc_model_spec(const bc_model *m) { return m->spec; }
bc_shape bc_model_input(const bc_model *m) { return m->in_shape; }
int32_t bc_model_outputs(const bc_model *m) { return m->n_classes; }
int64_t bc_model_param_count(const bc_model *m) { return m->n_params; }
int32_t bc_model_tensor_count(const bc_model *m) { return m->n_tensors; }

bc_status bc_model_tensor(bc_model *m, int32_t i, const char **name, bc_view *view) {
    if (i < 0 || i >= m->n_tensors) return bc__fail(BC_ERR_PARAM, "tensor index %d out of range", (int)i);
    const bc__tensor *t = &m->tensors[i];
    if (name) *name = t->name;
    m->param_version++; /* the view is writable: derived copies must be remade */
    if (view) *view = bc_view_contig(BC_F32, (t->trainable ? m->params : m->buffers) + t->offset, t->ndim, t->shape);
    return BC_OK;
}

void bc_model_get_params(const bc_model *m, float *out) { memcpy(out, m->params, (size_t)m->n_params * sizeof(float)); }
void bc_model_set_params(bc_model *m, const float *in) {
    memcpy(m->params, in, (size_t)m->n_params * sizeof(float));
    m->param_version++;
}

int bc__thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

int bc__thread_count(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Floats of workspace one sample needs in layer l beyond its output. */
static size_t bc__layer_extra(const bc__layer *l) {
    bc_layer_kind k = l->spec.kind;
    size_t e = 0;
    if (k == BC_LAYER_BN || k == BC_LAYER_DROPOUT || k == BC_LAYER_SOFTMAX || l->g >= 0) e += (size_t)l->out; /* aux */
    if (l->has_reader) e += (size_t)l->out;                                  /* gpend */
    if (l->g >= 0) e += (size_t)(l->oshape.h * l->oshape.w) * (size_t)l->wk + (size_t)l->out; /* sub, dz */
    return e;
}

/* Scratch outside the per-row workspace: per-thread im2col, packed inputs, reductions. */
static bc_status bc__reserve_scratch(bc_model *m, int64_t n) {
    int64_t per_thread = 1, pk_words = 1, red = 1, wmax = 1;
    bool bf16 = false; /* some layer may run its backward GEMMs in bf16 */
    for (int32_t i = 0; i < m->n_layers; i++) {
        const bc__layer *l = &m->layers[i];
        if (l->spec.kind == BC_LAYER_CONV || l->spec.kind == BC_LAYER_DENSE) {
            int64_t s = bc__conv_scratch(l, n);
            if (s > per_thread) per_thread = s;
            bf16 |= l->wbf16 != NULL;
            if (l->wpack) {
                int64_t c = l->spec.kind == BC_LAYER_CONV ? l->ishape.c : l->wk;
                int64_t px = l->spec.kind == BC_LAYER_CONV ? (int64_t)l->ishape.h * l->ishape.w : 1;
                if (n * px * bc__b1_words(c) > pk_words) pk_words = n * px * bc__b1_words(c);
            }
            if (l->spec.kind == BC_LAYER_CONV && l->wrows * l->wk > wmax) wmax = l->wrows * l->wk;
        }
        int64_t rows = n * (int64_t)l->oshape.h * l->oshape.w;
        if (l->spec.kind == BC_LAYER_BN) rows = n * (int64_t)l->ishape.h * l->ishape.w;
        if (l->spec.kind == BC_LAYER_BN || l->g >= 0) {
            int64_t r = bc__bn_red_size(rows, l->spec.kind == BC_LAYER_BN ? l->ishape.c : l->wrows);
            if (r > red) red = r;
        }
    }
    per_thread = (per_thread + 15) / 16 * 16; /* 64-byte blocks: each thread's uint64 views stay aligned */
    int32_t threads = bc__thread_count();
    free(m->scratch);
    free(m->pk);
    free(m->red);
    free(m->wslots);
    free(m->bwork);
    m->bwork = bf16 ? bc__alloc(BC__BGEMM_WORK_BYTES * (size_t)threads) : NULL;
    m->scratch = bc__alloc((size_t)per_thread * (size_t)threads * sizeof(float));
    m->pk = bc__alloc((size_t)pk_words * sizeof(uint64_t));
    m->red = bc__alloc((size_t)red * sizeof(double));
    m->wslots = bc__alloc((size_t)wmax * BC__WSLOTS * sizeof(float));
    m->scratch_per_thread = per_thread;
    m->scratch_threads = threads;
    if (!m->scratch || !m->pk || !m->red || !m->wslots || (bf16 && !m->bwork)) return BC_ERR_NOMEM;
    return BC_OK;
}

/* Replaces *buf with a zeroed block of n rows of per_row floats when it holds fewer rows. */
static bc_status bc__grow(float **buf, int64_t *rows, int64_t n, size_t per_row) {
    if (n <= *rows) return BC_OK;
    size_t floats, bytes;
    if (!bc__mul_size(per_row, (size_t)n, &floats) || !bc__mul_size(floats, sizeof(float), &bytes))
        return bc__fail(BC_ERR_NOMEM, "workspace for %lld rows overflows", (long long)n);
    float *ws = bc__alloc(bytes);
    if (!ws) return BC_ERR_NOMEM;
    free(*buf);
    *buf = ws;
    *rows = n;
    return BC_OK;
}

/* Training layout: every layer keeps its output (and aux, pending gradient, projection
 * buffers) for the backward pass, plus two gradient buffers. */
static bc_status bc__reserve_train(bc_model *m, int64_t n) {
    size_t per_row = 2 * (size_t)m->max_width;
    for (int32_t i = 0; i < m->n_layers; i++) per_row += (size_t)m->layers[i].out + bc__layer_extra(&m->layers[i]);
    bc_status st = bc__grow(&m->ws, &m->ws_rows, n, per_row);
    if (st) return st;
    n = m->ws_rows;
    float *p = m->ws;
    for (int32_t i = 0; i < m->n_layers; i++) {
        bc__layer *l = &m->layers[i];
        bc_layer_kind k = l->spec.kind;
        l->act = p;
        p += n * l->out;
        l->aux = l->gpend = l->sub = l->dz = NULL;
        if (k == BC_LAYER_BN || k == BC_LAYER_DROPOUT || k == BC_LAYER_SOFTMAX || l->g >= 0) {
            l->aux = p;
            p += n * l->out;
        }
        if (l->has_reader) {
            l->gpend = p;
            p += n * l->out;
        }
        if (l->g >= 0) {
            l->sub = p;
            p += n * (int64_t)l->oshape.h * l->oshape.w * l->wk;
            l->dz = p;
            p += n * l->out;
        }
    }
    m->dbuf[0] = p;
    m->dbuf[1] = p + n * m->max_width;
    return BC_OK;
}

/* Evaluation layout: outputs alternate between two buffers; only layers a shortcut reads,
 * the loss's probabilities and projection taps get their own. A fraction of the training
 * layout, so evaluation can use large batches. */
static bc_status bc__reserve_eval(bc_model *m, int64_t n) {
    size_t per_row = 2 * (size_t)m->max_width;
    for (int32_t i = 0; i < m->n_layers; i++) {
        const bc__layer *l = &m->layers[i];
        if (l->has_reader) per_row += (size_t)l->out;
        if (l->spec.kind == BC_LAYER_SOFTMAX) per_row += (size_t)l->out;
        if (l->g >= 0) per_row += (size_t)(l->oshape.h * l->oshape.w) * (size_t)l->wk;
    }
    bc_status st = bc__grow(&m->ews, &m->ews_rows, n, per_row);
    if (st) return st;
    n = m->ews_rows;
    float *ping[2] = {m->ews, m->ews + n * m->max_width}, *p = m->ews + 2 * n * m->max_width;
    const float *prev = NULL;
    for (int32_t i = 0; i < m->n_layers; i++) {
        bc__layer *l = &m->layers[i];
        l->aux = l->gpend = l->sub = l->dz = NULL;
        if (l->has_reader) {
            l->act = p;
            p += n * l->out;
        } else {
            l->act = prev == ping[0] ? ping[1] : ping[0];
        }
        if (l->spec.kind == BC_LAYER_SOFTMAX) {
            l->aux = p;
            p += n * l->out;
        }
        if (l->g >= 0) {
            l->sub = p;
            p += n * (int64_t)l->oshape.h * l->oshape.w * l->wk;
        }
        prev = l->act;
    }
    return BC_OK;
}

bc_status bc__model_reserve(bc_model *m, int64_t n, bc__mode mode) {
    bc_status st = mode == BC__MODE_TRAIN ? bc__reserve_train(m, n) : bc__reserve_eval(m, n);
    if (st) return st;
    int64_t rows = m->ws_rows > m->ews_rows ? m->ws_rows : m->ews_rows;
    if (rows > m->scratch_rows || m->scratch_threads != bc__thread_count()) {
        if ((st = bc__reserve_scratch(m, rows))) return st;
        m->scratch_rows = rows;
    }
    return BC_OK;
}

bc__exec bc__exec_of(bc_model *m, int64_t n, bc__mode mode, const int32_t *y) {
    /* A calibrated chip carries its own batch-norm statistics. */
    float *buffers = m->chip && m->chip->calibrated ? m->chip->buffers : m->buffers;
    return (bc__exec){.mode = mode, .n = n, .params = m->params, .grads = m->grads,
                      .buffers = buffers, .calib_momentum = m->calib_momentum, .seed = m->seed, .step = m->step, .labels = y,
                      .param_version = m->param_version, .mac = m->mac,
                      .bin = bc__bin_kernels_for(m->ctx->cpu), .bf16 = m->bf16, .bwork = m->bwork,
                      .scratch = m->scratch,
                      .scratch_per_thread = m->scratch_per_thread, .wslots = m->wslots,
                      .pk = m->pk, .red = m->red, .model = m, .chip = m->chip};
}

const float *bc__model_forward(bc_model *m, const float *x, int64_t n, bc__mode mode) {
    bc__exec e = bc__exec_of(m, n, mode, NULL);
    const float *in = x;
    for (int32_t i = 0; i < m->n_layers; i++) {
        bc__layer *l = &m->layers[i];
        if (mode == BC__MODE_TRAIN && bc__bn_sign_fusable(m, i)) {
            bc__bn_sign_forward(l, &m->layers[i + 1], in, &e);
            in = m->layers[++i].act;
            continue;
        }
        bc__ops[l->spec.kind].forward(l, in, &e);
        in = l->act;
    }
    return in;
}

double bc__model_backward(bc_model *m, const float *x, const int32_t *y, int64_t n, float *input_grad) {
    bc__exec e = bc__exec_of(m, n, BC__MODE_TRAIN, y);
    const bc__layer *last = &m->layers[m->n_layers - 1];
    double loss = 0;
    for (int64_t r = 0; r < n; r++) loss -= log((double)fmaxf(last->aux[r * last->out + y[r]], 1e-30f));
    loss /= (double)n;
    for (int32_t i = 0; i < m->n_layers; i++)
        if (m->layers[i].gpend) memset(m->layers[i].gpend, 0, (size_t)(n * m->layers[i].out) * sizeof(float));
    float *dy = NULL;
    int cur = 0;
    for (int32_t i = m->n_layers - 1; i >= 0; i--) {
        bc__layer *l = &m->layers[i];
        const bool fused = bc__bn_sign_fusable(m, i - 1); /* l is the sign of a fused pair */
        if (fused) l = &m->layers[--i];
        const float *in = i > 0 ? m->layers[i - 1].act : x;
        float *dx = i > 0 ? m->dbuf[cur] : input_grad;
        if (fused) bc__bn_sign_backward(l, dy, dx, &e);
        else bc__ops[l->spec.kind].backward(l, in, dy, dx, &e);
        /* The input's gradient also collects what shortcuts further on sent to it. */
        const float *pend = i > 0 ? m->layers[i - 1].gpend : NULL;
        if (pend && dx) {
            int64_t total = n * m->layers[i - 1].out;
            #pragma omp parallel for schedule(static) if (total > 16384)
            for (int64_t j = 0; j < total; j++) dx[j] += pend[j];
        }
        dy = dx;
        cur ^= 1;
    }
    return loss;
}

static bc_status bc__check_batch(const bc_model *m, const float *x, const int32_t *y, int64_t n) {
    if (!x || n < 1) return bc__fail(BC_ERR_PARAM, "empty batch");
    if (y)
        for (int64_t r = 0; r < n; r++)
            if (y[r] < 0 || y[r] >= m->n_classes)
                return bc__fail(BC_ERR_PARAM, "label %d of sample %lld outside [0, %d)", (int)y[r], (long long)r, (int)m->n_classes);
    return BC_OK;
}

bc_status bc_model_predict(bc_model *m, const float *x, int64_t n, float *logits) {
    bc_status st = bc__check_batch(m, x, NULL, n);
    if (!st) st = bc__model_reserve(m, n, BC__MODE_EVAL);
    if (st) return st;
    const float *z = m->engine == BC_ENGINE_PACKED && !m->chip ? bc__packed_forward(m, x, n) : bc__model_forward(m, x, n, BC__MODE_EVAL);
    if (!z) return BC_ERR_NOMEM;
    memcpy(logits, z, (size_t)(n * m->n_classes) * sizeof(float));
    return BC_OK;
}

/* Correct predictions (first maximum wins ties); pred (may be NULL) gets the classes. */
static int64_t bc__count_correct(const float *z, const int32_t *y, int64_t n, int32_t c, int32_t *pred) {
    int64_t ok = 0;
    for (int64_t r = 0; r < n; r++) {
        int32_t best = 0;
        for (int32_t j = 1; j < c; j++)
            if (z[r * c + j] > z[r * c + best]) best = j;
        if (pred) pred[r] = best;
        ok += best == y[r];
    }
    return ok;
}

bc_status bc_model_train_step(bc_model *m, const float *x, const int32_t *y, int64_t n, float lr,
                              float *loss, int64_t *correct) {
    bc_status st = bc__check_batch(m, x, y, n);
    if (!st && !y) st = bc__fail(BC_ERR_PARAM, "training needs labels");
    if (!st) st = bc__model_reserve(m, n, BC__MODE_TRAIN);
    if (st) return st;
    const float *z = bc__model_forward(m, x, n, BC__MODE_TRAIN);
    if (correct) *correct = bc__count_correct(z, y, n, m->n_classes, NULL);
    double l = bc__model_backward(m, x, y, n, NULL);
    if (loss) *loss = (float)l;
    bc__optim_step(m, lr);
    m->step++;
    return BC_OK;
}

bc_status bc_model_loss_grad(bc_model *m, const float *x, const int32_t *y, int64_t n, uint64_t step,
                             float *loss, float *grad, float *input_grad) {
    bc_status st = bc__check_batch(m, x, y, n);
    if (!st && !y) st = bc__fail(BC_ERR_PARAM, "gradients need labels");
    if (!st) st = bc__model_reserve(m, n, BC__MODE_TRAIN);
    if (st) return st;
    uint64_t saved = m->step;
    m->step = step;
    /* Running statistics are state, not a function of the parameters: keep them unchanged. */
    float *keep = NULL;
    if (m->n_buffers) {
        keep = malloc((size_t)m->n_buffers * sizeof(float));
        if (!keep) return bc__fail(BC_ERR_NOMEM, "buffers");
        memcpy(keep, m->buffers, (size_t)m->n_buffers * sizeof(float));
    }
    bc__model_forward(m, x, n, BC__MODE_TRAIN);
    double l = bc__model_backward(m, x, y, n, input_grad);
    if (keep) {
        memcpy(m->buffers, keep, (size_t)m->n_buffers * sizeof(float));
        free(keep);
    }
    m->step = saved;
    if (loss) *loss = (float)l;
    if (grad) memcpy(grad, m->grads, (size_t)m->n_params * sizeof(float));
    return BC_OK;
}

/* Used by the evaluator: forward in eval mode into the workspace, count correct and loss. */
bc_status bc__model_eval_batch(bc_model *m, const float *x, const int32_t *y, int64_t n,
                               double *loss_sum, int64_t *correct, int32_t *pred) {
    bc_status st = bc__check_batch(m, x, y, n);
    if (!st) st = bc__model_reserve(m, n, BC__MODE_EVAL);
    if (st) return st;
    const float *z = m->engine == BC_ENGINE_PACKED && !m->chip ? bc__packed_forward(m, x, n) : bc__model_forward(m, x, n, BC__MODE_EVAL);
    if (!z) return BC_ERR_NOMEM;
    const bc__layer *last = &m->layers[m->n_layers - 1];
    double l = 0;
    for (int64_t r = 0; r < n; r++) l -= log((double)fmaxf(last->aux[r * last->out + y[r]], 1e-30f));
    *loss_sum += l;
    *correct += bc__count_correct(z, y, n, m->n_classes, pred);
    return BC_OK;
}
