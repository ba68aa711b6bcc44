/* Per-chip calibration (PR-CIM-R, ../shared/METHODS.md §1.4 item 3) from a few calibration
 * images, in two steps that can be asked for separately:
 *   1. the reference trim of every array column (src/cim/trim.c), from one pass of the
 *      network run digitally while the chip is observed;
 *   2. the batch norms' statistics re-estimated on the (trimmed) chip, so that the thresholds
 *      after each CIM layer follow that chip's systematic errors: a cumulative average over
 *      the calibration batches (momentum 1 / (k + 1) for batch k), each batch normalised by
 *      its own statistics on the way, as in AdaBN.
 * Only the chip's copy of the model buffers changes; the model keeps its own. */
#include "cim/cim.h"

#include <string.h>

/* One pass over the images in batches of `batch` (a last batch of one image joins the one
 * before: it cannot be batch-normalised). bn: train-mode forwards that average the batch
 * statistics into the chip's buffers; else eval-mode forwards (the trim's observation). */
static bc_status bc__calib_pass(bc_model *m, const bc_dataset *images, const bc_norm *norm, int64_t batch, bool bn) {
    const int64_t n = bc_dataset_count(images);
    float *x = bc__alloc((size_t)((batch + 1) * m->n_in) * sizeof(float));
    int32_t *y = bc__alloc((size_t)(batch + 1) * sizeof(int32_t));
    int64_t *idx = bc__alloc((size_t)(batch + 1) * sizeof(int64_t));
    bc_status st = x && y && idx ? BC_OK : bc__fail(BC_ERR_NOMEM, "calibration batch");
    const bc__mode mode = bn ? BC__MODE_TRAIN : BC__MODE_EVAL;
    int64_t k = 0;
    for (int64_t b0 = 0; !st && b0 < n; k++) {
        int64_t nb = n - b0 < batch ? n - b0 : batch;
        if (n - (b0 + nb) == 1) nb++;
        for (int64_t i = 0; i < nb; i++) idx[i] = b0 + i;
        bc_dataset_batch(images, idx, nb, norm, x, y);
        if ((st = bc__model_reserve(m, nb, mode))) break;
        m->calib_momentum = bn ? 1.0f / (float)(k + 1) : 0.0f;
        bc__model_forward(m, x, nb, mode);
        m->calib_momentum = 0.0f;
        b0 += nb;
    }
    free(x);
    free(y);
    free(idx);
    return st;
}

bc_status bc_cim_calibrate(bc_model *m, bc_cim_chip *chip, const bc_dataset *images, const bc_norm *norm,
                           int64_t batch, unsigned what) {
    if (!m || !chip || !images || !norm) return bc__fail(BC_ERR_PARAM, "bc_cim_calibrate: NULL argument");
    if (chip->model != m) return bc__fail(BC_ERR_PARAM, "bc_cim_calibrate: the chip was made for another model");
    if (!what) what = BC_CIM_CALIB_BN;
    if (what & ~(unsigned)BC_CIM_CALIB_ALL) return bc__fail(BC_ERR_PARAM, "bc_cim_calibrate: unknown calibration steps %#x", what);
    const int64_t n = bc_dataset_count(images);
    if (batch < 2) batch = 100;
    if (n < 2) return bc__fail(BC_ERR_PARAM, "calibration needs at least 2 images (got %lld)", (long long)n);
    bc_shape s = bc_dataset_shape(images), ms = bc_model_input(m);
    if (s.c != ms.c || s.h != ms.h || s.w != ms.w)
        return bc__fail(BC_ERR_SHAPE, "calibration images are %dx%dx%d but the model expects %dx%dx%d", s.c, s.h, s.w, ms.c, ms.h, ms.w);
    bc_cim_chip *before = m->chip;
    m->chip = chip;
    bc_status st = BC_OK;
    if (what & BC_CIM_CALIB_TRIM) {
        /* Observed with the model's own statistics: the network runs digitally. */
        chip->calibrated = false;
        if (!(st = bc__cim_trim_begin(chip))) {
            st = bc__calib_pass(m, images, norm, batch, false);
            bc_status se = bc__cim_trim_end(chip, !st);
            if (!st) st = se;
        }
    }
    if (!st && (what & BC_CIM_CALIB_BN)) {
        memcpy(chip->buffers, m->buffers, (size_t)m->n_buffers * sizeof(float));
        chip->calibrated = true; /* forwards now update the chip's copy */
        if ((st = bc__calib_pass(m, images, norm, batch, true))) chip->calibrated = false;
    }
    m->chip = before;
    return st;
}

bool bc_cim_chip_calibrated(const bc_cim_chip *c) { return c && (c->calibrated || c->trimmed); }
