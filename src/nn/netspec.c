/* Network description files: strict INI (src/io/ini_lines.c), one section per layer, errors as
 * "file:line: msg". */
#include "bc_internal.h"
#include "nn/netspec.h"
#include "io/ini_lines.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#define BC__MAX_LAYERS 256
#define BC__MAX_TEXT (1u << 20)

typedef enum { SEC_NONE, SEC_NET, SEC_GROUP, SEC_LAYER } bc__sec_kind;

typedef struct {
    bc__ini ini;        /* origin, current line, first error */
    bc__sec_kind sec;   /* kind of the section being filled */
    int32_t sec_line;
    bc_netspec *spec;
    bool saw_net;
} bc__parse;

static const char *const bc__layer_names[BC_LAYER_COUNT] = {
    [BC_LAYER_DENSE] = "dense",   [BC_LAYER_BN] = "bn",           [BC_LAYER_SIGN] = "sign",
    [BC_LAYER_RELU] = "relu",     [BC_LAYER_HARDTANH] = "hardtanh", [BC_LAYER_DROPOUT] = "dropout",
    [BC_LAYER_SOFTMAX] = "softmax", [BC_LAYER_CONV] = "conv",     [BC_LAYER_MAXPOOL] = "maxpool",
    [BC_LAYER_AVGPOOL] = "avgpool", [BC_LAYER_GAP] = "gap",       [BC_LAYER_FLATTEN] = "flatten",
    [BC_LAYER_SHORTCUT] = "shortcut",
};

const char *bc_layer_kind_name(bc_layer_kind k) {
    return (k >= 0 && k < BC_LAYER_COUNT) ? bc__layer_names[k] : "?";
}

bc_train_spec bc_train_spec_default(void) {
    return (bc_train_spec){.optimizer = BC_OPT_ADAM, .lr = 3e-3f, .momentum = 0.9f,
                           .beta1 = 0.9f, .beta2 = 0.999f, .adam_eps = 1e-8f,
                           .weight_decay = 0.0f, .schedule = BC_SCHED_COSINE,
                           .step_epochs = 10, .step_gamma = 0.1f, .epochs = 10, .batch = 100};
}

static bc_layer_spec bc__layer_default(bc_layer_kind k, int32_t line) {
    bc_layer_spec l = {.kind = k, .line = line, .momentum = 0.1f, .eps = 1e-5f, .rate = 0.5f};
    l.bias = true;
    bool pool = k == BC_LAYER_MAXPOOL || k == BC_LAYER_AVGPOOL;
    l.size = pool ? 2 : 3;
    l.stride = pool ? 0 : 1; /* pools: 0 = the window size */
    l.pad = k == BC_LAYER_CONV ? -1 : 0;
    return l;
}

/* ---- value parsers: the whole string must be consumed and in range */

#define BAD(...) (p->ini.st = bc__fail(BC_ERR_FORMAT, __VA_ARGS__), 0)

static int bc__net_key(bc__parse *p, const char *k, const char *v) {
    bc_train_spec *t = &p->spec->train;
    const char *o = p->ini.origin;
    int32_t ln = p->ini.line;
    if (!strcmp(k, "name")) {
        if (!bc__ini_name(v, p->spec->name, BC_NAME_MAX)) return BAD("%s:%d: name '%s': use 1-31 letters, digits, '_', '-', '.'", o, ln, v);
    } else if (!strcmp(k, "input")) {
        int c, h, w, used = 0;
        if (sscanf(v, "%dx%dx%d%n", &c, &h, &w, &used) != 3 || v[used] || c < 1 || h < 1 || w < 1 ||
            c > 4 || h > 4096 || w > 4096)
            return BAD("%s:%d: input '%s': expected CxHxW such as 1x28x28 (C <= 4)", o, ln, v);
        p->spec->input = (bc_shape){c, h, w};
        p->spec->has_input = true;
    } else if (!strcmp(k, "batch")) {
        if (!bc__ini_int(v, 1, 65536, &t->batch)) return BAD("%s:%d: batch '%s': expected an integer in [1, 65536]", o, ln, v);
    } else if (!strcmp(k, "epochs")) {
        if (!bc__ini_int(v, 1, 100000, &t->epochs)) return BAD("%s:%d: epochs '%s': expected an integer in [1, 100000]", o, ln, v);
    } else if (!strcmp(k, "optimizer")) {
        if (!strcmp(v, "adam")) t->optimizer = BC_OPT_ADAM;
        else if (!strcmp(v, "sgd")) t->optimizer = BC_OPT_SGD;
        else return BAD("%s:%d: optimizer '%s': expected adam or sgd", o, ln, v);
    } else if (!strcmp(k, "lr")) {
        if (!bc__ini_float(v, 1e-9, 10.0, &t->lr)) return BAD("%s:%d: lr '%s': expected a number in [1e-9, 10]", o, ln, v);
    } else if (!strcmp(k, "momentum")) {
        if (!bc__ini_float(v, 0.0, 0.999999, &t->momentum)) return BAD("%s:%d: momentum '%s': expected a number in [0, 1)", o, ln, v);
    } else if (!strcmp(k, "beta1")) {
        if (!bc__ini_float(v, 0.0, 0.999999, &t->beta1)) return BAD("%s:%d: beta1 '%s': expected a number in [0, 1)", o, ln, v);
    } else if (!strcmp(k, "beta2")) {
        if (!bc__ini_float(v, 0.0, 0.999999, &t->beta2)) return BAD("%s:%d: beta2 '%s': expected a number in [0, 1)", o, ln, v);
    } else if (!strcmp(k, "weight_decay")) {
        if (!bc__ini_float(v, 0.0, 1.0, &t->weight_decay)) return BAD("%s:%d: weight_decay '%s': expected a number in [0, 1]", o, ln, v);
    } else if (!strcmp(k, "schedule")) {
        if (!strcmp(v, "cosine")) t->schedule = BC_SCHED_COSINE;
        else if (!strcmp(v, "step")) t->schedule = BC_SCHED_STEP;
        else if (!strcmp(v, "const")) t->schedule = BC_SCHED_CONST;
        else return BAD("%s:%d: schedule '%s': expected cosine, step or const", o, ln, v);
    } else if (!strcmp(k, "step_epochs")) {
        if (!bc__ini_int(v, 1, 100000, &t->step_epochs)) return BAD("%s:%d: step_epochs '%s': expected an integer >= 1", o, ln, v);
    } else if (!strcmp(k, "step_gamma")) {
        if (!bc__ini_float(v, 1e-6, 1.0, &t->step_gamma)) return BAD("%s:%d: step_gamma '%s': expected a number in (0, 1]", o, ln, v);
    } else if (!strcmp(k, "crop_pad")) {
        if (!bc__ini_int(v, 0, 64, &t->crop_pad)) return BAD("%s:%d: crop_pad '%s': expected an integer in [0, 64]", o, ln, v);
    } else if (!strcmp(k, "flip")) {
        if (!bc__ini_bool(v, &t->flip)) return BAD("%s:%d: flip '%s': expected 0 or 1", o, ln, v);
    } else if (!strcmp(k, "binary_ends")) {
        if (!bc__ini_bool(v, &t->binary_ends)) return BAD("%s:%d: binary_ends '%s': expected 0 or 1", o, ln, v);
    } else {
        return BAD("%s:%d: unknown key '%s' in [net]", o, ln, k);
    }
    return 1;
}

static int bc__group_key(bc__parse *p, const char *k, const char *v) {
    bc_group_spec *g = &p->spec->groups[p->spec->n_groups - 1];
    if (!strcmp(k, "name")) {
        if (!bc__ini_name(v, g->name, BC_NAME_MAX)) return BAD("%s:%d: group name '%s': use 1-31 letters, digits, '_', '-', '.'", p->ini.origin, p->ini.line, v);
        for (int32_t i = 0; i < p->spec->n_groups - 1; i++)
            if (!strcmp(p->spec->groups[i].name, g->name)) return BAD("%s:%d: group '%s' defined twice", p->ini.origin, p->ini.line, v);
    } else if (!strcmp(k, "lr_scale")) {
        if (!bc__ini_float(v, 0.0, 1000.0, &g->lr_scale)) return BAD("%s:%d: lr_scale '%s': expected a number in [0, 1000]", p->ini.origin, p->ini.line, v);
    } else if (!strcmp(k, "weight_decay")) {
        if (!bc__ini_float(v, 0.0, 1.0, &g->weight_decay)) return BAD("%s:%d: weight_decay '%s': expected a number in [0, 1]", p->ini.origin, p->ini.line, v);
    } else {
        return BAD("%s:%d: unknown key '%s' in [group]", p->ini.origin, p->ini.line, k);
    }
    return 1;
}

static int bc__layer_key(bc__parse *p, const char *k, const char *v) {
    bc_layer_spec *l = &p->spec->layers[p->spec->n_layers - 1];
    const char *o = p->ini.origin, *sec = bc_layer_kind_name(l->kind);
    int32_t ln = p->ini.line;
    bool is_dense = l->kind == BC_LAYER_DENSE, is_bn = l->kind == BC_LAYER_BN;
    bool is_conv = l->kind == BC_LAYER_CONV, is_short = l->kind == BC_LAYER_SHORTCUT;
    bool is_pool = l->kind == BC_LAYER_MAXPOOL || l->kind == BC_LAYER_AVGPOOL;
    bool weighted = is_dense || is_conv || is_short;
    if (!strcmp(k, "group") && (weighted || is_bn)) {
        if (!bc__ini_name(v, l->group, BC_NAME_MAX)) return BAD("%s:%d: group '%s': use 1-31 letters, digits, '_', '-', '.'", o, ln, v);
    } else if (is_dense && !strcmp(k, "units")) {
        if (!bc__ini_int(v, 1, 1 << 20, &l->units)) return BAD("%s:%d: units '%s': expected an integer in [1, 1048576]", o, ln, v);
    } else if (is_conv && !strcmp(k, "filters")) {
        if (!bc__ini_int(v, 1, 1 << 16, &l->units)) return BAD("%s:%d: filters '%s': expected an integer in [1, 65536]", o, ln, v);
    } else if ((is_conv || is_pool) && !strcmp(k, "size")) {
        if (!bc__ini_int(v, 1, 64, &l->size)) return BAD("%s:%d: size '%s': expected an integer in [1, 64]", o, ln, v);
    } else if ((is_conv || is_pool) && !strcmp(k, "stride")) {
        if (!bc__ini_int(v, 1, 64, &l->stride)) return BAD("%s:%d: stride '%s': expected an integer in [1, 64]", o, ln, v);
    } else if (is_conv && !strcmp(k, "pad")) {
        if (!bc__ini_int(v, 0, 32, &l->pad)) return BAD("%s:%d: pad '%s': expected an integer in [0, 32]", o, ln, v);
    } else if (is_short && !strcmp(k, "from")) {
        if (!bc__ini_int(v, -BC__MAX_LAYERS, -1, &l->from)) return BAD("%s:%d: from '%s': expected a negative layer offset such as -3", o, ln, v);
    } else if (weighted && !strcmp(k, "binary")) {
        if (!bc__ini_bool(v, &l->binary)) return BAD("%s:%d: binary '%s': expected 0 or 1", o, ln, v);
        if (!l->bias_set) l->bias = !l->binary;
    } else if ((is_dense || is_conv) && !strcmp(k, "bias")) {
        if (!bc__ini_bool(v, &l->bias)) return BAD("%s:%d: bias '%s': expected 0 or 1", o, ln, v);
        l->bias_set = true;
    } else if (is_bn && !strcmp(k, "momentum")) {
        if (!bc__ini_float(v, 0.0, 1.0, &l->momentum)) return BAD("%s:%d: momentum '%s': expected a number in [0, 1]", o, ln, v);
    } else if (is_bn && !strcmp(k, "eps")) {
        if (!bc__ini_float(v, 1e-12, 1.0, &l->eps)) return BAD("%s:%d: eps '%s': expected a number in [1e-12, 1]", o, ln, v);
    } else if (l->kind == BC_LAYER_DROPOUT && !strcmp(k, "rate")) {
        if (!bc__ini_float(v, 0.0, 0.99, &l->rate)) return BAD("%s:%d: rate '%s': expected a number in [0, 0.99]", o, ln, v);
    } else {
        return BAD("%s:%d: unknown key '%s' in [%s]", o, ln, k, sec);
    }
    return 1;
}

static int bc__handler(bc__ini *ini, const char *key, const char *value) {
    bc__parse *p = ini->user;
    switch (p->sec) {
    case SEC_NET: return bc__net_key(p, key, value);
    case SEC_GROUP: return bc__group_key(p, key, value);
    case SEC_LAYER: return bc__layer_key(p, key, value);
    case SEC_NONE: break;
    }
    return BAD("%s:%d: key '%s' before the first section", p->ini.origin, p->ini.line, key);
}

/* A [group] must be named by the time its section ends. */
static bool bc__group_done(bc__parse *p) {
    if (p->sec == SEC_GROUP && !p->spec->groups[p->spec->n_groups - 1].name[0]) {
        p->ini.st = bc__fail(BC_ERR_FORMAT, "%s:%d: [group] has no name", p->ini.origin, p->sec_line);
        return false;
    }
    return true;
}

/* Opens a new section at a header line. */
static void bc__section(bc__ini *ini, const char *name) {
    bc__parse *p = ini->user;
    if (!bc__group_done(p)) return;
    p->sec_line = p->ini.line;
    bc_netspec *s = p->spec;
    if (!strcmp(name, "net")) {
        if (p->saw_net) { p->ini.st = bc__fail(BC_ERR_FORMAT, "%s:%d: a second [net] section", p->ini.origin, p->ini.line); return; }
        if (s->n_layers) { p->ini.st = bc__fail(BC_ERR_FORMAT, "%s:%d: [net] must come before the layers", p->ini.origin, p->ini.line); return; }
        p->saw_net = true;
        p->sec = SEC_NET;
        return;
    }
    if (!strcmp(name, "group")) {
        if (s->n_groups >= BC_MAX_GROUPS) { p->ini.st = bc__fail(BC_ERR_FORMAT, "%s:%d: more than %d groups", p->ini.origin, p->ini.line, BC_MAX_GROUPS); return; }
        s->groups[s->n_groups++] = (bc_group_spec){.lr_scale = 1.0f, .weight_decay = -1.0f};
        p->sec = SEC_GROUP;
        return;
    }
    for (int k = 0; k < BC_LAYER_COUNT; k++) {
        if (strcmp(name, bc__layer_names[k])) continue;
        if (s->n_layers >= BC__MAX_LAYERS) { p->ini.st = bc__fail(BC_ERR_FORMAT, "%s:%d: more than %d layers", p->ini.origin, p->ini.line, BC__MAX_LAYERS); return; }
        s->layers[s->n_layers++] = bc__layer_default((bc_layer_kind)k, p->ini.line);
        p->sec = SEC_LAYER;
        return;
    }
    p->ini.st = bc__fail(BC_ERR_FORMAT, "%s:%d: unknown section [%s] (layers: dense, conv, bn, sign, relu, hardtanh, maxpool, avgpool, gap, flatten, shortcut, dropout, softmax; also [net], [group])", p->ini.origin, p->ini.line, name);
}

static bc_status bc__validate(bc__parse *p) {
    bc_netspec *s = p->spec;
    const char *o = p->ini.origin;
    if (s->n_layers == 0) return bc__fail(BC_ERR_FORMAT, "%s: no layers", o);
    for (int32_t i = 0; i < s->n_groups; i++) {
        if (!s->groups[i].name[0]) return bc__fail(BC_ERR_FORMAT, "%s: [group] number %d has no name", o, i + 1);
        for (int32_t j = 0; j < i; j++)
            if (!strcmp(s->groups[i].name, s->groups[j].name))
                return bc__fail(BC_ERR_FORMAT, "%s: group '%s' defined twice", o, s->groups[i].name);
    }
    for (int32_t i = 0; i < s->n_layers; i++) {
        const bc_layer_spec *l = &s->layers[i];
        if (l->kind == BC_LAYER_DENSE && l->units == 0)
            return bc__fail(BC_ERR_FORMAT, "%s:%d: [dense] needs units", o, l->line);
        if (l->kind == BC_LAYER_CONV && l->units == 0)
            return bc__fail(BC_ERR_FORMAT, "%s:%d: [conv] needs filters", o, l->line);
        if (l->kind == BC_LAYER_SHORTCUT && l->from == 0)
            return bc__fail(BC_ERR_FORMAT, "%s:%d: [shortcut] needs from (a negative layer offset)", o, l->line);
        if (l->kind == BC_LAYER_SHORTCUT && i + l->from < 0)
            return bc__fail(BC_ERR_FORMAT, "%s:%d: [shortcut] from = %d reaches before the first layer", o, l->line, (int)l->from);
        if (l->kind == BC_LAYER_SOFTMAX && i != s->n_layers - 1)
            return bc__fail(BC_ERR_FORMAT, "%s:%d: [softmax] must be the last layer", o, l->line);
        if (l->group[0]) {
            bool found = false;
            for (int32_t g = 0; g < s->n_groups; g++) found |= !strcmp(s->groups[g].name, l->group);
            if (!found) return bc__fail(BC_ERR_FORMAT, "%s:%d: group '%s' is not defined by a [group] section", o, l->line, l->group);
        }
    }
    if (s->layers[s->n_layers - 1].kind != BC_LAYER_SOFTMAX)
        return bc__fail(BC_ERR_FORMAT, "%s: the last layer must be [softmax] (the loss)", o);
    return BC_OK;
}

bc_status bc_netspec_parse_text(const char *text, const char *origin, bc_netspec **out) {
    *out = NULL;
    if (!text) return bc__fail(BC_ERR_PARAM, "network text is NULL");
    if (!origin) origin = "<network>";
    size_t tlen = strlen(text);
    if (tlen > BC__MAX_TEXT) return bc__fail(BC_ERR_FORMAT, "%s: larger than %u bytes", origin, BC__MAX_TEXT);
    bc_netspec *s = calloc(1, sizeof *s);
    char *copy = malloc(tlen + 1);
    bc_layer_spec *layers = calloc(BC__MAX_LAYERS, sizeof *layers);
    if (!s || !copy || !layers) {
        free(s); free(copy); free(layers);
        return bc__fail(BC_ERR_NOMEM, "%s: network description", origin);
    }
    memcpy(copy, text, tlen + 1);
    s->text = copy;
    s->layers = layers;
    s->train = bc_train_spec_default();
    snprintf(s->name, sizeof s->name, "net");
    bc__parse p = {.ini = {.origin = origin, .section = bc__section, .key = bc__handler}, .spec = s};
    p.ini.user = &p;
    bc_status st = bc__ini_parse(&p.ini, text);
    if (!st && !bc__group_done(&p)) st = p.ini.st;
    if (!st) st = bc__validate(&p);
    if (st) { bc_netspec_free(s); return st; }
    *out = s;
    return BC_OK;
}

bc_status bc_netspec_parse_file(const char *path, bc_netspec **out) {
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    bc_status st = bc__read_file(path, BC__MAX_TEXT, &text, &len);
    if (st) return st;
    if (memchr(text, '\0', len) != NULL) st = bc__fail(BC_ERR_FORMAT, "%s: binary data", path);
    if (!st) st = bc_netspec_parse_text(text, path, out);
    free(text);
    return st;
}

bc_status bc_netspec_copy(const bc_netspec *s, bc_netspec **out) {
    return bc_netspec_parse_text(s->text, s->name, out);
}

void bc_netspec_free(bc_netspec *s) {
    if (!s) return;
    free(s->text);
    free(s->layers);
    free(s);
}

const char *bc_netspec_name(const bc_netspec *s) { return s->name; }
const char *bc_netspec_text(const bc_netspec *s) { return s->text; }
int32_t bc_netspec_layers(const bc_netspec *s) { return s->n_layers; }
const bc_layer_spec *bc_netspec_layer(const bc_netspec *s, int32_t i) {
    return (i >= 0 && i < s->n_layers) ? &s->layers[i] : NULL;
}
int32_t bc_netspec_groups(const bc_netspec *s) { return s->n_groups; }
const bc_group_spec *bc_netspec_group(const bc_netspec *s, int32_t i) {
    return (i >= 0 && i < s->n_groups) ? &s->groups[i] : NULL;
}
bc_train_spec bc_netspec_train(const bc_netspec *s) { return s->train; }
