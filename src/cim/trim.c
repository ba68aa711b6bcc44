/* Per-chip reference trim (PR-CIM-R, ../shared/METHODS.md §1.4 item 3): each array column's
 * SA reference or ADC ladder shifted so that the chip reads its partial sums as the digital
 * network would. The chip is observed while the network runs digitally over the calibration
 * images (src/cim/exec.c, bc__observe_row), so every layer sees the inputs the digital network
 * gives it and one pass trims all layers. Per array column (the SA / ADC and its offset):
 *   - SA: the reference shift that makes the fewest decisions differ from the digital sign of
 *     the partial sum, over all reads of the column (histograms in 1/4-cell steps, +-32 cells);
 *     ties go to the smallest shift. It cancels the offset and the bias that cell variation
 *     puts on the bitline near the decision point.
 *   - ADC: the ladder shifted by the mean error of the bitline against the variation-free,
 *     offset-free one: offset plus the mean bias of the cell currents at the column's usual
 *     operating point (a gain error remains; the batch-norm calibration follows it).
 * A trim t enters the readout as offset - t. The observation runs the float path (it needs the
 * digital partial sums beside the chip's), whose cells are not rounded to the integer path's
 * 1/64 steps: a difference far below the 1/4-cell histogram step. */
#include "cim/cim.h"

#include <stdlib.h>
#include <string.h>

int64_t bc__cim_trim_count(const bc_cim_chip *c) {
    int64_t n = 0;
    for (int32_t i = 0; i < c->n_mapped; i++) n += (int64_t)c->mapped[i].A * c->mapped[i].N;
    return n;
}

void bc__cim_trim_get(const bc_cim_chip *c, float *dst) {
    for (int32_t i = 0; i < c->n_mapped; i++) {
        const bc__cim_layer *cl = &c->mapped[i];
        const int64_t an = (int64_t)cl->A * cl->N;
        memcpy(dst, cl->trim, (size_t)an * sizeof *dst);
        dst += an;
    }
}

void bc__cim_trim_set(bc_cim_chip *c, const float *src) {
    for (int32_t i = 0; i < c->n_mapped; i++) {
        bc__cim_layer *cl = &c->mapped[i];
        const int64_t an = (int64_t)cl->A * cl->N;
        for (int64_t k = 0; k < an; k++) {
            cl->trim[k] = src ? src[k] : 0.0f;
            cl->readoff[k] = cl->offset[k] - cl->trim[k];
        }
        if (src) src += an;
    }
    c->trimmed = src != NULL;
}

static void bc__obs_free(bc__cim_layer *cl) {
    free(cl->obs_hist);
    free(cl->obs_err);
    free(cl->obs_n);
    cl->obs_hist = NULL;
    cl->obs_err = cl->obs_n = NULL;
}

bc_status bc__cim_trim_begin(bc_cim_chip *c) {
    bc__cim_trim_set(c, NULL);
    for (int32_t i = 0; i < c->n_mapped; i++) {
        bc__cim_layer *cl = &c->mapped[i];
        const size_t an = (size_t)cl->A * (size_t)cl->N;
        cl->obs_hist = c->hw.readout == BC_CIM_READ_SA ? calloc(an * 2 * BC__TRIM_BINS, sizeof *cl->obs_hist) : NULL;
        cl->obs_err = calloc(an, sizeof *cl->obs_err);
        cl->obs_n = calloc(an + 1, sizeof *cl->obs_n);
        if ((c->hw.readout == BC_CIM_READ_SA && !cl->obs_hist) || !cl->obs_err || !cl->obs_n) {
            for (int32_t k = 0; k <= i; k++) bc__obs_free(&c->mapped[k]);
            return bc__fail(BC_ERR_NOMEM, "trim calibration: statistics of layer %d", cl->l->index);
        }
    }
    c->observing = true;
    return BC_OK;
}

/* The SA threshold, in histogram edges, that the fewest reads of one column fall on the wrong
 * side of: edge b says +1 for bins >= b; b = BC__TRIM_BINS / 2 is the untrimmed SA (z >= 0). */
static int32_t bc__best_edge(const uint32_t *neg, const uint32_t *pos) {
    int64_t err = 0, best_err;
    for (int32_t b = 0; b < BC__TRIM_BINS; b++) err += neg[b];
    int32_t best = 0;
    best_err = err;
    for (int32_t b = 0; b < BC__TRIM_BINS; b++) {
        err += (int64_t)pos[b] - (int64_t)neg[b]; /* now the errors of edge b + 1 */
        const int32_t e = b + 1, mid = BC__TRIM_BINS / 2;
        if (err < best_err || (err == best_err && abs(e - mid) < abs(best - mid))) {
            best_err = err;
            best = e;
        }
    }
    return best;
}

bc_status bc__cim_trim_end(bc_cim_chip *c, bool apply) {
    c->observing = false;
    bc_status st = BC_OK;
    const double dv = bc_cim_hw_dv_cell_V(&c->hw);
    const float sgn = c->hw.cell == BC_CIM_CELL_XNOR_MATCH ? 1.0f : -1.0f;
    for (int32_t i = 0; i < c->n_mapped; i++) {
        bc__cim_layer *cl = &c->mapped[i];
        const int64_t an = (int64_t)cl->A * cl->N;
        if (!st && cl->obs_n[an]) st = bc__fail(BC_ERR_NOMEM, "trim calibration: layer %d, partial sums", cl->l->index);
        for (int64_t k = 0; apply && !st && k < an; k++) {
            double t = 0.0;
            if (c->hw.readout == BC_CIM_READ_SA) {
                const uint32_t *h = cl->obs_hist + k * 2 * BC__TRIM_BINS;
                const int32_t b = bc__best_edge(h, h + BC__TRIM_BINS);
                /* +1 when z >= theta (cells); the SA compares v + offset - trim with vref. */
                const double theta = (double)(b - BC__TRIM_BINS / 2) / BC__TRIM_BINS_PER_CELL;
                t = -sgn * theta * dv;
            } else if (c->hw.readout == BC_CIM_READ_ADC && cl->obs_n[k]) {
                t = (double)cl->obs_err[k] / (256.0 * (double)cl->obs_n[k]) * dv;
            }
            cl->trim[k] = (float)t;
            cl->readoff[k] = cl->offset[k] - cl->trim[k];
        }
        bc__obs_free(cl);
    }
    if (apply && !st) c->trimmed = true;
    else bc__cim_trim_set(c, NULL);
    return st;
}
