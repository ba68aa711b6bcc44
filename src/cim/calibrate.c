/* Per-chip calibration (PR-CIM-R, ../shared/METHODS.md §1.4 item 3): the batch norms'
 * statistics re-estimated on the chip itself from a few calibration images, so that the
 * thresholds after each CIM layer follow that chip's systematic errors. The statistics are a
 * cumulative average over the calibration batches (momentum 1 / (k + 1) for batch k), each
 * batch normalised by its own statistics on the way, as in AdaBN. Only the chip's copy of the
 * model buffers changes; the model keeps its own. */
#include "cim/cim.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

bc_status bc_cim_calibrate(bc_model *m, bc_cim_chip *chip, const bc_dataset *images, const bc_norm *norm,
                           int64_t batch) {
    if (!m || !chip || !images || !norm) return bc__fail(BC_ERR_PARAM, "bc_cim_calibrate: NULL argument");
    if (chip->model != m) return bc__fail(BC_ERR_PARAM, "bc_cim_calibrate: the chip was made for another model");
    const int64_t n = bc_dataset_count(images);
    if (batch < 2) batch = 100;
    if (n < 2) return bc__fail(BC_ERR_PARAM, "calibration needs at least 2 images (got %lld)", (long long)n);
    bc_shape s = bc_dataset_shape(images), ms = bc_model_input(m);
    if (s.c != ms.c || s.h != ms.h || s.w != ms.w)
        return bc__fail(BC_ERR_SHAPE, "calibration images are %dx%dx%d but the model expects %dx%dx%d", s.c, s.h, s.w, ms.c, ms.h, ms.w);
    /* Room for batch + 1: a last batch of one image cannot be batch-normalised and joins the
     * one before. */
    float *x = bc__alloc((size_t)((batch + 1) * m->n_in) * sizeof(float));
    int32_t *y = bc__alloc((size_t)(batch + 1) * sizeof(int32_t));
    int64_t *idx = bc__alloc((size_t)(batch + 1) * sizeof(int64_t));
    bc_status st = x && y && idx ? BC_OK : bc__fail(BC_ERR_NOMEM, "calibration batch");
    bc_cim_chip *before = m->chip;
    memcpy(chip->buffers, m->buffers, (size_t)m->n_buffers * sizeof(float));
    chip->calibrated = true; /* forwards now update the chip's copy */
    m->chip = chip;
    int64_t k = 0;
    for (int64_t b0 = 0; !st && b0 < n; k++) {
        int64_t nb = n - b0 < batch ? n - b0 : batch;
        if (n - (b0 + nb) == 1) nb++;
        for (int64_t i = 0; i < nb; i++) idx[i] = b0 + i;
        bc_dataset_batch(images, idx, nb, norm, x, y);
        if ((st = bc__model_reserve(m, nb, BC__MODE_TRAIN))) break;
        m->calib_momentum = 1.0f / (float)(k + 1);
        bc__model_forward(m, x, nb, BC__MODE_TRAIN);
        m->calib_momentum = 0.0f;
        b0 += nb;
    }
    m->chip = before;
    if (st) chip->calibrated = false;
    free(x);
    free(y);
    free(idx);
    return st;
}

bool bc_cim_chip_calibrated(const bc_cim_chip *c) { return c && c->calibrated; }

/* ---- sets of calibrated chips, saved as safetensors: one tensor "chip.<index>" per chip with
 * the model buffers as calibrated on it; metadata name the network, hardware and seed, which
 * must match when the file is applied. */

struct bc_cim_calibration {
    char origin[512]; /* the file it was loaded from, for messages */
    char *network, *hw;
    uint64_t seed;
    int64_t n_buffers;
    int32_t n, cap;
    uint32_t *index;
    float *data; /* (n, n_buffers) */
};

static bc_status bc__cal_alloc(bc_cim_calibration **out, const char *network, const char *hw, uint64_t seed,
                               int64_t n_buffers) {
    bc_cim_calibration *c = calloc(1, sizeof *c);
    if (!c) return bc__fail(BC_ERR_NOMEM, "calibration");
    c->network = strdup(network);
    c->hw = strdup(hw);
    c->seed = seed;
    c->n_buffers = n_buffers;
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
    bc_status st = bc__cal_alloc(out, bc_netspec_text(m->spec), text, seed, m->n_buffers);
    free(text);
    return st;
}

void bc_cim_calibration_free(bc_cim_calibration *c) {
    if (!c) return;
    free(c->network);
    free(c->hw);
    free(c->index);
    free(c->data);
    free(c);
}

int32_t bc_cim_calibration_count(const bc_cim_calibration *c) { return c ? c->n : 0; }

static int32_t bc__cal_find(const bc_cim_calibration *c, uint32_t index) {
    for (int32_t i = 0; i < c->n; i++)
        if (c->index[i] == index) return i;
    return -1;
}

/* Stores (or replaces) chip `index`'s buffers. */
static bc_status bc__cal_put(bc_cim_calibration *c, uint32_t index, const float *buffers) {
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
            c->cap = cap;
        }
        i = c->n++;
        c->index[i] = index;
    }
    memcpy(c->data + (size_t)i * (size_t)c->n_buffers, buffers, (size_t)c->n_buffers * sizeof(float));
    return BC_OK;
}

bc_status bc_cim_calibration_add(bc_cim_calibration *c, const bc_cim_chip *chip) {
    if (!chip->calibrated) return bc__fail(BC_ERR_PARAM, "chip %u is not calibrated", chip->index);
    if (chip->model->n_buffers != c->n_buffers || chip->seed != c->seed)
        return bc__fail(BC_ERR_PARAM, "chip %u belongs to another model or seed than this calibration", chip->index);
    return bc__cal_put(c, chip->index, chip->buffers);
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
    int32_t i = bc__cal_find(c, chip->index);
    if (i < 0) return bc__fail(BC_ERR_PARAM, "%s: has no chip %u", c->origin, chip->index);
    memcpy(chip->buffers, c->data + (size_t)i * (size_t)c->n_buffers, (size_t)c->n_buffers * sizeof(float));
    chip->calibrated = true;
    return BC_OK;
}

#define BC__CAL_FORMAT "bitcell-cim-calibration-1"

bc_status bc_cim_calibration_save(const bc_cim_calibration *c, const char *path) {
    bc_st_tensor_in *t = calloc((size_t)(c->n ? c->n : 1), sizeof *t);
    char (*names)[32] = calloc((size_t)(c->n ? c->n : 1), sizeof *names);
    if (!t || !names) {
        free(t);
        free(names);
        return bc__fail(BC_ERR_NOMEM, "calibration");
    }
    for (int32_t i = 0; i < c->n; i++) {
        snprintf(names[i], sizeof names[i], "chip.%u", c->index[i]);
        t[i] = (bc_st_tensor_in){.name = names[i], .ndim = 1, .shape = {c->n_buffers}, .data = c->data + (size_t)i * (size_t)c->n_buffers};
    }
    char seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, c->seed);
    const bc_st_meta_in meta[] = {{"format", BC__CAL_FORMAT}, {"network", c->network}, {"hw", c->hw}, {"seed", seed}};
    bc_status st = bc_st_write(path, t, c->n, meta, 4);
    free(t);
    free(names);
    return st;
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
    bc_cim_calibration *c = NULL;
    int64_t nb = -1;
    for (int32_t i = 0; !st && i < bc_st_count(f); i++) {
        const char *name, *dtype;
        int32_t ndim;
        int64_t shape[8];
        const void *data;
        size_t bytes;
        if ((st = bc_st_tensor(f, i, &name, &dtype, &ndim, shape, &data, &bytes))) break;
        unsigned idx;
        int used = 0;
        if (sscanf(name, "chip.%u%n", &idx, &used) != 1 || name[used] || strcmp(dtype, "F32") || ndim != 1 ||
            (nb >= 0 && shape[0] != nb)) {
            st = bc__fail(BC_ERR_FORMAT, "%s: tensor '%s' is not a chip's calibration (chip.<index>, F32, one length)", path, name);
            break;
        }
        if (!c && (st = bc__cal_alloc(&c, net, hw, seed, nb = shape[0]))) break;
        if (bc__cal_find(c, idx) >= 0) {
            st = bc__fail(BC_ERR_FORMAT, "%s: chip %u appears twice", path, idx);
            break;
        }
        st = bc__cal_put(c, idx, data);
    }
    if (!st && !c) st = bc__fail(BC_ERR_FORMAT, "%s: holds no calibrated chip", path);
    if (!st) snprintf(c->origin, sizeof c->origin, "%s", path);
    bc_st_close(f);
    if (st) {
        bc_cim_calibration_free(c);
        return st;
    }
    *out = c;
    return BC_OK;
}
