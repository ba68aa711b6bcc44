/* Monte-Carlo over chips: one chip object, re-drawn for every index, evaluated in turn. */
#include "cim/cim.h"

#include <math.h>
#include <string.h>

bc_status bc_cim_monte_carlo(bc_model *m, const bc_cim_hw *hw, const bc_dataset *ds, const bc_norm *norm,
                             int64_t batch, uint64_t seed, uint32_t first_chip, int32_t n,
                             const bc_cim_mc_calib *cal, double *acc, double *loss,
                             bc_cim_progress_fn progress, void *user) {
    if (!m || !hw || !norm || (ds && !acc) || (!ds && !(cal && cal->images)) || n < 0)
        return bc__fail(BC_ERR_PARAM, "bc_cim_monte_carlo: bad argument");
    bc_cim_chip *chip = NULL, *before = m->chip;
    bc_status st = bc_cim_chip_new(hw, m, seed, first_chip, &chip);
    for (int32_t i = 0; !st && i < n; i++) {
        if (i) bc_cim_chip_redraw(chip, first_chip + (uint32_t)i);
        if (cal && cal->images) {
            if ((st = bc_cim_calibrate(m, chip, cal->images, norm, cal->batch, cal->what))) break;
            if (cal->record && (st = bc_cim_calibration_add(cal->record, chip))) break;
        } else if (cal && cal->saved) {
            if ((st = bc_cim_calibration_apply(cal->saved, chip))) break;
        }
        double a = NAN;
        if (ds) {
            bc_eval_result r;
            if ((st = bc_model_set_chip(m, chip))) break;
            if ((st = bc_evaluate(m, ds, norm, batch, &r))) break;
            acc[i] = a = r.accuracy;
            if (loss) loss[i] = r.loss;
        }
        if (progress) progress(user, i + 1, n, a);
    }
    m->chip = before;
    bc_cim_chip_free(chip);
    return st;
}

static int bc__cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile q of sorted s[0..n): linear between the order statistics around q * (n - 1). */
static double bc__quantile(const double *s, int32_t n, double q) {
    double pos = q * (n - 1);
    int32_t i = (int32_t)floor(pos);
    if (i >= n - 1) return s[n - 1];
    return s[i] + (pos - i) * (s[i + 1] - s[i]);
}

bc_cim_summary bc_cim_summarize(const double *v, int32_t n) {
    bc_cim_summary r = {NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    if (n <= 0) return r;
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) return r;
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, bc__cmp_double);
    double sum = 0.0, sq = 0.0;
    for (int32_t i = 0; i < n; i++) sum += s[i];
    r.mean = sum / n;
    for (int32_t i = 0; i < n; i++) sq += (s[i] - r.mean) * (s[i] - r.mean);
    r.std = sqrt(sq / n);
    r.min = s[0];
    r.max = s[n - 1];
    r.p5 = bc__quantile(s, n, 0.05);
    r.median = bc__quantile(s, n, 0.5);
    r.p95 = bc__quantile(s, n, 0.95);
    free(s);
    return r;
}
