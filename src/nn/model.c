/* Model construction from a network description, parameter layout, forward and backward. */
#include "nn/model.h"

#include <math.h>
#include <string.h>

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

/* Infers every layer's width and lays out the parameter and buffer blocks. */
static bc_status bc__layout(bc_model *m) {
    int64_t width = m->n_in;
    m->max_width = width;
    for (int32_t i = 0; i < m->n_layers; i++) {
        bc__layer *l = &m->layers[i];
        l->index = i;
        l->spec = m->spec->layers[i];
        l->in = width;
        l->w = l->b = l->run_mean = l->run_var = -1;
        bc_status st = BC_OK;
        if (l->spec.kind == BC_LAYER_DENSE) {
            l->out = l->spec.units;
            int64_t ws[2] = {l->out, l->in}, bs[1] = {l->out};
            st = bc__add_tensor(m, l, "weight", true, 2, ws, &l->w);
            if (!st) {
                bc__tensor *t = &m->tensors[m->n_tensors - 1];
                t->clip_unit = l->spec.binary;
                t->decay = true;
            }
            if (!st && l->spec.bias) st = bc__add_tensor(m, l, "bias", true, 1, bs, &l->b);
        } else if (l->spec.kind == BC_LAYER_BN) {
            l->out = l->in;
            int64_t s[1] = {l->out};
            st = bc__add_tensor(m, l, "weight", true, 1, s, &l->w);
            if (!st) st = bc__add_tensor(m, l, "bias", true, 1, s, &l->b);
            if (!st) st = bc__add_tensor(m, l, "running_mean", false, 1, s, &l->run_mean);
            if (!st) st = bc__add_tensor(m, l, "running_var", false, 1, s, &l->run_var);
        } else {
            l->out = l->in;
        }
        if (st) return st;
        width = l->out;
        if (width > m->max_width) m->max_width = width;
    }
    m->n_classes = (int32_t)width;
    if (width < 2)
        return bc__fail(BC_ERR_SHAPE, "%s: the network ends in %lld output(s); a classifier needs >= 2", m->spec->name, (long long)width);
    return BC_OK;
}

static void bc__init_params(bc_model *m) {
    for (int32_t i = 0; i < m->n_layers; i++) {
        bc__layer *l = &m->layers[i];
        bc_rng_key k = {.seed = m->seed, .purpose = BC_RNG_INIT, .layer = (uint32_t)i};
        if (l->spec.kind == BC_LAYER_DENSE) {
            /* PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias. */
            float bound = 1.0f / sqrtf((float)l->in);
            int64_t nw = l->in * l->out;
            for (int64_t j = 0; j < nw; j++) m->params[l->w + j] = (2.0f * bc_rng_uniform(k, (uint64_t)j) - 1.0f) * bound;
            if (l->b >= 0)
                for (int64_t j = 0; j < l->out; j++)
                    m->params[l->b + j] = (2.0f * bc_rng_uniform(k, (uint64_t)(nw + j)) - 1.0f) * bound;
        } else if (l->spec.kind == BC_LAYER_BN) {
            for (int64_t j = 0; j < l->out; j++) {
                m->params[l->w + j] = 1.0f;
                m->params[l->b + j] = 0.0f;
                m->buffers[l->run_mean + j] = 0.0f;
                m->buffers[l->run_var + j] = 1.0f;
            }
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
    m->tensors = calloc((size_t)m->n_layers * 4 + 1, sizeof *m->tensors);
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
        if (l->spec.kind == BC_LAYER_DENSE && l->spec.binary) {
            if (!(l->wbin = bc__alloc((size_t)(l->in * l->out) * sizeof(float)))) { st = BC_ERR_NOMEM; goto fail; }
        }
        if (l->spec.kind == BC_LAYER_BN) {
            if (!(l->stat = bc__alloc((size_t)(2 * l->out) * sizeof(float)))) { st = BC_ERR_NOMEM; goto fail; }
        }
    }
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
    bc_netspec_free(m->spec);
    free(m);
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

bc_status bc__model_reserve(bc_model *m, int64_t n) {
    if (n <= m->ws_rows) return BC_OK;
    /* Per layer: act (and aux where the layer keeps one); plus two gradient buffers. */
    size_t per_row = 0;
    for (int32_t i = 0; i < m->n_layers; i++) {
        bc_layer_kind k = m->layers[i].spec.kind;
        bool aux = k == BC_LAYER_BN || k == BC_LAYER_DROPOUT || k == BC_LAYER_SOFTMAX;
        per_row += (size_t)m->layers[i].out * (aux ? 2 : 1);
    }
    per_row += 2 * (size_t)m->max_width;
    size_t floats, bytes;
    if (!bc__mul_size(per_row, (size_t)n, &floats) || !bc__mul_size(floats, sizeof(float), &bytes))
        return bc__fail(BC_ERR_NOMEM, "workspace for %lld rows overflows", (long long)n);
    float *ws = bc__alloc(bytes);
    if (!ws) return BC_ERR_NOMEM;
    free(m->ws);
    m->ws = ws;
    m->ws_rows = n;
    float *p = ws;
    for (int32_t i = 0; i < m->n_layers; i++) {
        bc__layer *l = &m->layers[i];
        bc_layer_kind k = l->spec.kind;
        l->act = p;
        p += n * l->out;
        l->aux = NULL;
        if (k == BC_LAYER_BN || k == BC_LAYER_DROPOUT || k == BC_LAYER_SOFTMAX) {
            l->aux = p;
            p += n * l->out;
        }
    }
    m->dbuf[0] = p;
    m->dbuf[1] = p + n * m->max_width;
    return BC_OK;
}

static bc__exec bc__exec_of(bc_model *m, int64_t n, bc__mode mode, const int32_t *y) {
    return (bc__exec){.mode = mode, .n = n, .params = m->params, .grads = m->grads,
                      .buffers = m->buffers, .seed = m->seed, .step = m->step, .labels = y,
                      .param_version = m->param_version};
}

const float *bc__model_forward(bc_model *m, const float *x, int64_t n, bc__mode mode) {
    bc__exec e = bc__exec_of(m, n, mode, NULL);
    const float *in = x;
    for (int32_t i = 0; i < m->n_layers; i++) {
        bc__layer *l = &m->layers[i];
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
    float *dy = NULL;
    int cur = 0;
    for (int32_t i = m->n_layers - 1; i >= 0; i--) {
        bc__layer *l = &m->layers[i];
        const float *in = i > 0 ? m->layers[i - 1].act : x;
        float *dx = i > 0 ? m->dbuf[cur] : input_grad;
        bc__ops[l->spec.kind].backward(l, in, dy, dx, &e);
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
    if (!st) st = bc__model_reserve(m, n);
    if (st) return st;
    const float *z = bc__model_forward(m, x, n, BC__MODE_EVAL);
    memcpy(logits, z, (size_t)(n * m->n_classes) * sizeof(float));
    return BC_OK;
}

static int64_t bc__count_correct(const float *z, const int32_t *y, int64_t n, int32_t c) {
    int64_t ok = 0;
    for (int64_t r = 0; r < n; r++) {
        int32_t best = 0;
        for (int32_t j = 1; j < c; j++)
            if (z[r * c + j] > z[r * c + best]) best = j;
        ok += best == y[r];
    }
    return ok;
}

bc_status bc_model_train_step(bc_model *m, const float *x, const int32_t *y, int64_t n, float lr,
                              float *loss, int64_t *correct) {
    bc_status st = bc__check_batch(m, x, y, n);
    if (!st && !y) st = bc__fail(BC_ERR_PARAM, "training needs labels");
    if (!st) st = bc__model_reserve(m, n);
    if (st) return st;
    const float *z = bc__model_forward(m, x, n, BC__MODE_TRAIN);
    if (correct) *correct = bc__count_correct(z, y, n, m->n_classes);
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
    if (!st) st = bc__model_reserve(m, n);
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
                               double *loss_sum, int64_t *correct) {
    bc_status st = bc__check_batch(m, x, y, n);
    if (!st) st = bc__model_reserve(m, n);
    if (st) return st;
    const float *z = bc__model_forward(m, x, n, BC__MODE_EVAL);
    const bc__layer *last = &m->layers[m->n_layers - 1];
    double l = 0;
    for (int64_t r = 0; r < n; r++) l -= log((double)fmaxf(last->aux[r * last->out + y[r]], 1e-30f));
    *loss_sum += l;
    *correct += bc__count_correct(z, y, n, m->n_classes);
    return BC_OK;
}
