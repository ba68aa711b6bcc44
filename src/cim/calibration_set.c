/* Sets of calibrated chips (bitcell calibrate, mc --calibration), saved as safetensors: per
 * chip a tensor "chip.<index>" with the model buffers as calibrated on it and "trim.<index>"
 * with its reference trims (absent in files from before the trim: no trim). Metadata name the
 * network, hardware and seed, which must match when the file is applied. */
#include "cim/cim.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct bc_cim_calibration {
    char origin[512]; /* the file it was loaded from, for messages */
    char *network, *hw;
    uint64_t seed;
    int64_t n_buffers;
    int64_t n_trim;   /* trims per chip; -1 until the first chip says */
    int32_t n, cap;
    uint32_t *index;
    float *data;      /* (n, n_buffers) */
    float *trim;      /* (n, n_trim) */
};

static bc_status bc__cal_alloc(bc_cim_calibration **out, const char *network, const char *hw, uint64_t seed,
                               int64_t n_buffers, int64_t n_trim) {
    bc_cim_calibration *c = calloc(1, sizeof *c);
    if (!c) return bc__fail(BC_ERR_NOMEM, "calibration");
    c->network = strdup(network);
    c->hw = strdup(hw);
    c->seed = seed;
    c->n_buffers = n_buffers;
    c->n_trim = n_trim;
    snprintf(c->origin, sizeof c->origin, "calibration");
    if (!c->network || !c->hw) {
        bc_cim_calibration_free(c);
        return bc__fail(BC_ERR_NOMEM, "calibration");
    }
    *out = c;
    return BC_OK;
}

bc_status bc_cim_calibration_new(const bc_model *m, const bc_cim_hw *hw, uint64_t seed, bc_cim_calibration **out) {
    *out = NULL;
    char *text = bc_cim_hw_format(hw);
    if (!text) return bc__fail(BC_ERR_NOMEM, "calibration");
    bc_status st = bc__cal_alloc(out, bc_netspec_text(m->spec), text, seed, m->n_buffers, -1);
    free(text);
    return st;
}

void bc_cim_calibration_free(bc_cim_calibration *c) {
    if (!c) return;
    free(c->network);
    free(c->hw);
    free(c->index);
    free(c->data);
    free(c->trim);
    free(c);
}

int32_t bc_cim_calibration_count(const bc_cim_calibration *c) { return c ? c->n : 0; }

static int32_t bc__cal_find(const bc_cim_calibration *c, uint32_t index) {
    for (int32_t i = 0; i < c->n; i++)
        if (c->index[i] == index) return i;
    return -1;
}

/* Stores (or replaces) chip `index`'s buffers and trims (NULL: none). */
static bc_status bc__cal_put(bc_cim_calibration *c, uint32_t index, const float *buffers, const float *trim) {
    const size_t nt = c->n_trim > 0 ? (size_t)c->n_trim : 0;
    int32_t i = bc__cal_find(c, index);
    if (i < 0) {
        if (c->n == c->cap) {
            int32_t cap = c->cap ? 2 * c->cap : 16;
            uint32_t *ix = realloc(c->index, (size_t)cap * sizeof *ix);
            if (!ix) return bc__fail(BC_ERR_NOMEM, "calibration");
            c->index = ix;
            float *d = realloc(c->data, (size_t)cap * (size_t)c->n_buffers * sizeof *d);
            if (!d) return bc__fail(BC_ERR_NOMEM, "calibration");
            c->data = d;
            float *t = realloc(c->trim, (size_t)cap * (nt ? nt : 1) * sizeof *t);
            if (!t) return bc__fail(BC_ERR_NOMEM, "calibration");
            c->trim = t;
            c->cap = cap;
        }
        i = c->n++;
        c->index[i] = index;
    }
    memcpy(c->data + (size_t)i * (size_t)c->n_buffers, buffers, (size_t)c->n_buffers * sizeof(float));
    float *t = c->trim + (size_t)i * nt;
    if (trim) memcpy(t, trim, nt * sizeof *t);
    else memset(t, 0, nt * sizeof *t);
    return BC_OK;
}

bc_status bc_cim_calibration_add(bc_cim_calibration *c, const bc_cim_chip *chip) {
    if (!bc_cim_chip_calibrated(chip)) return bc__fail(BC_ERR_PARAM, "chip %u is not calibrated", chip->index);
    const int64_t nt = bc__cim_trim_count(chip);
    if (chip->model->n_buffers != c->n_buffers || chip->seed != c->seed || (c->n_trim >= 0 && c->n_trim != nt))
        return bc__fail(BC_ERR_PARAM, "chip %u belongs to another model, mapping or seed than this calibration", chip->index);
    float *trim = malloc((size_t)(nt ? nt : 1) * sizeof *trim);
    if (!trim) return bc__fail(BC_ERR_NOMEM, "calibration");
    bc__cim_trim_get(chip, trim);
    if (c->n_trim < 0) c->n_trim = nt;
    /* A chip calibrated by trim alone keeps the model's statistics. */
    bc_status st = bc__cal_put(c, chip->index, chip->calibrated ? chip->buffers : chip->model->buffers, trim);
    free(trim);
    return st;
}

bc_status bc_cim_calibration_apply(const bc_cim_calibration *c, bc_cim_chip *chip) {
    char *hw = bc_cim_hw_format(&chip->hw);
    if (!hw) return bc__fail(BC_ERR_NOMEM, "calibration");
    bool same_hw = !strcmp(hw, c->hw);
    free(hw);
    if (strcmp(bc_netspec_text(chip->model->spec), c->network) || chip->model->n_buffers != c->n_buffers)
        return bc__fail(BC_ERR_PARAM, "%s: was made for another network", c->origin);
    if (!same_hw) return bc__fail(BC_ERR_PARAM, "%s: was made for other hardware settings (see its metadata 'hw')", c->origin);
    if (chip->seed != c->seed)
        return bc__fail(BC_ERR_PARAM, "%s: was made for chips of seed %" PRIu64 ", not %" PRIu64, c->origin, c->seed, chip->seed);
    if (c->n_trim > 0 && c->n_trim != bc__cim_trim_count(chip))
        return bc__fail(BC_ERR_PARAM, "%s: holds %lld trims per chip but the chip has %lld array columns", c->origin,
                        (long long)c->n_trim, (long long)bc__cim_trim_count(chip));
    int32_t i = bc__cal_find(c, chip->index);
    if (i < 0) return bc__fail(BC_ERR_PARAM, "%s: has no chip %u", c->origin, chip->index);
    memcpy(chip->buffers, c->data + (size_t)i * (size_t)c->n_buffers, (size_t)c->n_buffers * sizeof(float));
    chip->calibrated = true;
    bc__cim_trim_set(chip, c->n_trim > 0 ? c->trim + (size_t)i * (size_t)c->n_trim : NULL);
    return BC_OK;
}

#define BC__CAL_FORMAT "bitcell-cim-calibration-1"

bc_status bc_cim_calibration_save(const bc_cim_calibration *c, const char *path) {
    const int32_t per = c->n_trim > 0 ? 2 : 1, nt = c->n * per;
    bc_st_tensor_in *t = calloc((size_t)(nt ? nt : 1), sizeof *t);
    char (*names)[32] = calloc((size_t)(nt ? nt : 1), sizeof *names);
    if (!t || !names) {
        free(t);
        free(names);
        return bc__fail(BC_ERR_NOMEM, "calibration");
    }
    for (int32_t i = 0; i < c->n; i++) {
        snprintf(names[per * i], sizeof names[0], "chip.%u", c->index[i]);
        t[per * i] = (bc_st_tensor_in){.name = names[per * i], .ndim = 1, .shape = {c->n_buffers},
                                       .data = c->data + (size_t)i * (size_t)c->n_buffers};
        if (per == 2) {
            snprintf(names[2 * i + 1], sizeof names[0], "trim.%u", c->index[i]);
            t[2 * i + 1] = (bc_st_tensor_in){.name = names[2 * i + 1], .ndim = 1, .shape = {c->n_trim},
                                             .data = c->trim + (size_t)i * (size_t)c->n_trim};
        }
    }
    char seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, c->seed);
    const bc_st_meta_in meta[] = {{"format", BC__CAL_FORMAT}, {"network", c->network}, {"hw", c->hw}, {"seed", seed}};
    bc_status st = bc_st_write(path, t, nt, meta, 4);
    free(t);
    free(names);
    return st;
}

/* Tensor i of f as one chip's entry: kind 'c' (chip.<index>, buffers) or 't' (trim.<index>). */
static bc_status bc__cal_entry(bc_st_file *f, const char *path, int32_t i, char *kind, unsigned *index,
                               int64_t *len, const float **data) {
    const char *name, *dtype;
    int32_t ndim;
    int64_t shape[8];
    const void *d;
    size_t bytes;
    bc_status st = bc_st_tensor(f, i, &name, &dtype, &ndim, shape, &d, &bytes);
    if (st) return st;
    int used = 0;
    if (sscanf(name, "chip.%u%n", index, &used) == 1 && !name[used]) *kind = 'c';
    else if ((used = 0, sscanf(name, "trim.%u%n", index, &used) == 1) && !name[used]) *kind = 't';
    else *kind = 0;
    if (!*kind || strcmp(dtype, "F32") || ndim != 1)
        return bc__fail(BC_ERR_FORMAT, "%s: tensor '%s' is not a chip's calibration (chip.<index> or trim.<index>, F32, 1-D)",
                        path, name);
    *len = shape[0];
    *data = d;
    return BC_OK;
}

bc_status bc_cim_calibration_load(const char *path, bc_cim_calibration **out) {
    *out = NULL;
    bc_st_file *f = NULL;
    bc_status st = bc_st_open(path, &f);
    if (st) return st;
    const char *fmt = bc_st_meta(f, "format"), *net = bc_st_meta(f, "network"), *hw = bc_st_meta(f, "hw"),
               *seed_s = bc_st_meta(f, "seed");
    char *end = NULL;
    uint64_t seed = seed_s ? strtoull(seed_s, &end, 10) : 0;
    if (!fmt || strcmp(fmt, BC__CAL_FORMAT) || !net || !hw || !seed_s || !*seed_s || *end) {
        bc_st_close(f);
        return bc__fail(BC_ERR_FORMAT, "%s: not a bitcell CIM calibration file (metadata format, network, hw, seed)", path);
    }
    /* Pass 0: names and lengths; pass 1: the chips' buffers; pass 2: their trims. */
    bc_cim_calibration *c = NULL;
    int64_t nb = -1, ntrim = -1;
    int32_t chips = 0, trims = 0;
    for (int pass = 0; !st && pass < 3; pass++) {
        for (int32_t i = 0; !st && i < bc_st_count(f); i++) {
            char kind = 0;
            unsigned idx = 0;
            int64_t len = 0;
            const float *data = NULL;
            if ((st = bc__cal_entry(f, path, i, &kind, &idx, &len, &data))) break;
            int64_t *want = kind == 'c' ? &nb : &ntrim;
            if (pass == 0) {
                if (*want >= 0 && len != *want) st = bc__fail(BC_ERR_FORMAT, "%s: chips of different lengths ('%s' tensors)", path, kind == 'c' ? "chip" : "trim");
                *want = len;
                if (kind == 'c') chips++;
                else trims++;
            } else if (pass == 1 && kind == 'c') {
                if (bc__cal_find(c, idx) >= 0) st = bc__fail(BC_ERR_FORMAT, "%s: chip %u appears twice", path, idx);
                else st = bc__cal_put(c, idx, data, NULL);
            } else if (pass == 2 && kind == 't') {
                int32_t k = bc__cal_find(c, idx);
                if (k < 0) st = bc__fail(BC_ERR_FORMAT, "%s: trims of chip %u, which has no 'chip.%u'", path, idx, idx);
                else memcpy(c->trim + (size_t)k * (size_t)ntrim, data, (size_t)ntrim * sizeof(float));
            }
        }
        if (!st && pass == 0) {
            if (!chips) st = bc__fail(BC_ERR_FORMAT, "%s: holds no calibrated chip", path);
            else if (trims && trims != chips) st = bc__fail(BC_ERR_FORMAT, "%s: %d chips but %d trim tensors", path, chips, trims);
            else st = bc__cal_alloc(&c, net, hw, seed, nb, trims ? ntrim : 0);
        }
    }
    if (!st) snprintf(c->origin, sizeof c->origin, "%s", path);
    bc_st_close(f);
    if (st) {
        bc_cim_calibration_free(c);
        return st;
    }
    *out = c;
    return BC_OK;
}
