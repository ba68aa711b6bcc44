/* Model checkpoints: every tensor of a model plus the network text and training facts,
 * in a safetensors file. Loading rebuilds the model from the embedded description. */
#include "nn/model.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#define BC__FORMAT "bitcell-1"

bc_status bc_model_save(const bc_model *m, const char *path, const bc_train_facts *facts) {
    bc_train_facts f = facts ? *facts : (bc_train_facts){0};
    if (f.norm.c == 0) {
        f.norm.c = m->in_shape.c;
        for (int32_t c = 0; c < 4; c++) f.norm.std[c] = 1.0f;
    }
    bc_st_tensor_in *t = calloc((size_t)m->n_tensors, sizeof *t);
    if (!t) return bc__fail(BC_ERR_NOMEM, "%s: tensor list", path);
    for (int32_t i = 0; i < m->n_tensors; i++) {
        const bc__tensor *s = &m->tensors[i];
        t[i] = (bc_st_tensor_in){.name = s->name, .ndim = s->ndim,
                                 .data = (s->trainable ? m->params : m->buffers) + s->offset};
        memcpy(t[i].shape, s->shape, sizeof s->shape);
    }
    char input[64], epochs[32], seed[32], acc[32], mean[128] = "", sd[128] = "";
    snprintf(input, sizeof input, "%dx%dx%d", m->in_shape.c, m->in_shape.h, m->in_shape.w);
    snprintf(epochs, sizeof epochs, "%d", (int)f.epochs);
    snprintf(seed, sizeof seed, "%" PRIu64, f.seed);
    snprintf(acc, sizeof acc, "%.6f", f.test_accuracy);
    for (int32_t c = 0; c < f.norm.c && c < 4; c++) {
        size_t a = strlen(mean), b = strlen(sd);
        snprintf(mean + a, sizeof mean - a, "%s%.9g", c ? "," : "", (double)f.norm.mean[c]);
        snprintf(sd + b, sizeof sd - b, "%s%.9g", c ? "," : "", (double)f.norm.std[c]);
    }
    const bc_st_meta_in meta[] = {
        {"format", BC__FORMAT}, {"bitcell_version", BC_VERSION}, {"network", m->spec->text},
        {"network_name", m->spec->name}, {"input", input}, {"dataset", f.dataset},
        {"epochs", epochs}, {"seed", seed}, {"test_accuracy", acc}, {"norm_mean", mean}, {"norm_std", sd},
    };
    bc_status st = bc_st_write(path, t, m->n_tensors, meta, (int32_t)(sizeof meta / sizeof meta[0]));
    free(t);
    return st;
}

static bc_status bc__parse_floats(const char *path, const char *key, const char *v, float *out, int32_t want) {
    int32_t got = 0;
    const char *p = v;
    while (*p && got < 4) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || !isfinite(x)) break;
        out[got++] = (float)x;
        p = end;
        if (*p == ',') p++;
        else break;
    }
    if (*p || got != want) return bc__fail(BC_ERR_FORMAT, "%s: metadata %s='%s' is not %d numbers", path, key, v, (int)want);
    return BC_OK;
}

bc_status bc_model_load(bc_ctx *ctx, const char *path, bc_model **out, bc_train_facts *facts) {
    *out = NULL;
    bc_st_file *f = NULL;
    bc_netspec *spec = NULL;
    bc_model *m = NULL;
    bc_train_facts tf = {0};
    bc_status st = bc_st_open(path, &f);
    if (st) return st;
    const char *fmt = bc_st_meta(f, "format"), *net = bc_st_meta(f, "network"), *input = bc_st_meta(f, "input");
    if (!fmt || strcmp(fmt, BC__FORMAT)) { st = bc__fail(BC_ERR_FORMAT, "%s: not a bitcell checkpoint (metadata format='%s', expected '%s')", path, fmt ? fmt : "", BC__FORMAT); goto out; }
    if (!net || !input) { st = bc__fail(BC_ERR_FORMAT, "%s: metadata lacks %s", path, net ? "input" : "network"); goto out; }
    int c, h, w, used = 0;
    if (sscanf(input, "%dx%dx%d%n", &c, &h, &w, &used) != 3 || input[used] || c < 1 || c > 4 || h < 1 || w < 1) {
        st = bc__fail(BC_ERR_FORMAT, "%s: metadata input='%s' is not CxHxW", path, input);
        goto out;
    }
    char origin[512];
    snprintf(origin, sizeof origin, "%s[network]", path);
    if ((st = bc_netspec_parse_text(net, origin, &spec))) goto out;
    const char *name = bc_st_meta(f, "network_name");
    if (name) snprintf(spec->name, sizeof spec->name, "%s", name);
    if ((st = bc_model_new(ctx, spec, (bc_shape){c, h, w}, 0, &m))) goto out;
    if (bc_st_count(f) != m->n_tensors) {
        st = bc__fail(BC_ERR_FORMAT, "%s: has %d tensors, the network needs %d", path, (int)bc_st_count(f), (int)m->n_tensors);
        goto out;
    }
    for (int32_t i = 0; i < m->n_tensors; i++) {
        const bc__tensor *t = &m->tensors[i];
        int32_t j = 0, ndim = 0;
        const char *tn = NULL, *dtype = NULL;
        int64_t shape[8];
        const void *data = NULL;
        size_t bytes = 0;
        for (; j < bc_st_count(f); j++) {
            if ((st = bc_st_tensor(f, j, &tn, &dtype, &ndim, shape, &data, &bytes))) goto out;
            if (!strcmp(tn, t->name)) break;
        }
        if (j == bc_st_count(f)) { st = bc__fail(BC_ERR_FORMAT, "%s: tensor '%s' is missing", path, t->name); goto out; }
        bool same = !strcmp(dtype, "F32") && ndim == t->ndim;
        for (int32_t d = 0; same && d < ndim; d++) same = shape[d] == t->shape[d];
        if (!same || bytes != (size_t)t->count * sizeof(float)) {
            st = bc__fail(BC_ERR_FORMAT, "%s: tensor '%s' has dtype %s and a shape that does not match the network", path, t->name, dtype);
            goto out;
        }
        memcpy((t->trainable ? m->params : m->buffers) + t->offset, data, bytes);
    }
    m->param_version++;
    const char *v;
    if ((v = bc_st_meta(f, "dataset"))) snprintf(tf.dataset, sizeof tf.dataset, "%s", v);
    if ((v = bc_st_meta(f, "epochs"))) tf.epochs = (int32_t)strtol(v, NULL, 10);
    if ((v = bc_st_meta(f, "seed"))) tf.seed = strtoull(v, NULL, 10);
    if ((v = bc_st_meta(f, "test_accuracy"))) tf.test_accuracy = strtod(v, NULL);
    tf.norm.c = c;
    const char *mean = bc_st_meta(f, "norm_mean"), *sd = bc_st_meta(f, "norm_std");
    if (!mean || !sd) { st = bc__fail(BC_ERR_FORMAT, "%s: metadata lacks norm_mean / norm_std", path); goto out; }
    if ((st = bc__parse_floats(path, "norm_mean", mean, tf.norm.mean, c))) goto out;
    if ((st = bc__parse_floats(path, "norm_std", sd, tf.norm.std, c))) goto out;
    for (int32_t k = 0; k < c; k++)
        if (!(tf.norm.std[k] > 0)) { st = bc__fail(BC_ERR_FORMAT, "%s: norm_std must be positive", path); goto out; }
    *out = m;
    m = NULL;
    if (facts) *facts = tf;
out:
    bc_model_free(m);
    bc_netspec_free(spec);
    bc_st_close(f);
    return st;
}
