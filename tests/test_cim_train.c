/* Variation-aware training and per-chip calibration (PR-CIM part 2):
 *  - a mapped layer's readout is the same in the trainer's forward and in evaluation (one
 *    executor), and hardware-in-the-loop training on the ideal chip is ordinary training bit
 *    for bit, while a real chip changes what is learnt;
 *  - calibration reads only the images it is given: it is a function of them alone, leaves the
 *    model's own statistics alone, and is dropped by a re-draw;
 *  - calibrations survive a save and load, and refuse another network, hardware or seed, and
 *    malformed files;
 *  - the reference trim cancels SA / ADC offsets exactly where nothing else differs (cells all
 *    alike): the trimmed chip then reads as the offset-free one. */
#include "cim/cim.h"
#include "bc_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bc_ctx *g_ctx;

static const char *conv_net =
    "[net]\ninput = 3x8x8\nbatch = 16\nepochs = 2\nlr = 1e-2\n"
    "[conv]\nfilters = 12\nbias = 0\n[bn]\n[sign]\n"
    "[conv]\nfilters = 20\nbinary = 1\n[maxpool]\n[bn]\n[sign]\n"
    "[flatten]\n[dense]\nunits = 24\nbinary = 1\n[bn]\n[sign]\n"
    "[dense]\nunits = 4\n[softmax]\n";

static const char *const sa_sets[] = {"rows_on=32", "kind=sa", "model=alpha_power", "sigma_vth_mV=40",
                                      "sigma_offset_mV=8", NULL};

/* n images whose class is the brightest of four quadrants of channel 0 (learnable). */
static bc_dataset *quadrant_data(int64_t n, uint32_t seed) {
    const bc_shape s = {3, 8, 8};
    uint8_t *px = malloc((size_t)(n * 192)), *lab = malloc((size_t)n);
    uint32_t r = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        lab[i] = (uint8_t)(i % 4);
        for (int64_t p = 0; p < 192; p++) {
            r = r * 1664525u + 1013904223u;
            int64_t c = p / 64, y = (p % 64) / 8, x = p % 8, q = (y >= 4) * 2 + (x >= 4);
            px[i * 192 + p] = (uint8_t)((r >> 24) / 2 + (c == 0 && q == lab[i] ? 120 : 0));
        }
    }
    bc_dataset *ds = NULL;
    BC_CHECK(bc_dataset_from_memory(px, lab, n, s, 4, &ds) == BC_OK);
    free(px);
    free(lab);
    return ds;
}

static bc_model *new_net(uint64_t seed) {
    return bc_t_model(g_ctx, "conv", conv_net, (bc_shape){3, 8, 8}, seed);
}

/* ---- one executor for the trainer and for evaluation */

static void test_same_readout(void) {
    bc_model *m = new_net(3);
    if (!m) return;
    bc_cim_hw hw = bc_t_hw(sa_sets);
    bc_cim_chip *chip = NULL;
    BC_CHECK(bc_cim_chip_new(&hw, m, 7, 2, &chip) == BC_OK);
    if (!chip) { bc_model_free(m); return; }
    BC_CHECK(bc_model_set_chip(m, chip) == BC_OK);
    const int64_t n = 5;
    for (int32_t k = 0; k < bc_cim_chip_layers(chip); k++) {
        bc__layer *l = &m->layers[bc_cim_chip_layer(chip, k).layer];
        float *x = malloc((size_t)(n * l->in) * sizeof *x), *train_out = malloc((size_t)(n * l->out) * sizeof *x);
        uint32_t r = 99u + (uint32_t)k;
        for (int64_t i = 0; i < n * l->in; i++) {
            r = r * 1664525u + 1013904223u;
            x[i] = (r >> 31) ? 1.0f : -1.0f;
        }
        BC_CHECK(bc__model_reserve(m, n, BC__MODE_TRAIN) == BC_OK);
        bc__exec e = bc__exec_of(m, n, BC__MODE_TRAIN, NULL);
        bc__ops[l->spec.kind].forward(l, x, &e);
        memcpy(train_out, l->act, (size_t)(n * l->out) * sizeof *x);
        BC_CHECK(bc__model_reserve(m, n, BC__MODE_EVAL) == BC_OK);
        e = bc__exec_of(m, n, BC__MODE_EVAL, NULL);
        bc__ops[l->spec.kind].forward(l, x, &e);
        BC_CHECK_MSG(!memcmp(train_out, l->act, (size_t)(n * l->out) * sizeof *x),
                     "layer %d: the trainer's readout differs from evaluation's", l->index);
        /* ... and it is not the digital layer's (the check can fail). */
        m->chip = NULL;
        e = bc__exec_of(m, n, BC__MODE_EVAL, NULL);
        bc__ops[l->spec.kind].forward(l, x, &e);
        BC_CHECK_MSG(memcmp(train_out, l->act, (size_t)(n * l->out) * sizeof *x) != 0,
                     "layer %d: the chip's readout equals the digital one", l->index);
        m->chip = chip;
        free(x);
        free(train_out);
    }
    bc_model_set_chip(m, NULL);
    bc_cim_chip_free(chip);
    bc_model_free(m);
}

static float *train_params(const bc_cim_hw *hw, const bc_dataset *tr, int32_t redraw) {
    bc_model *m = new_net(5);
    if (!m) return NULL;
    bc_train_opts o = bc_train_opts_default(bc_model_spec(m));
    o.norm = bc_dataset_norm_stats(tr);
    o.cim_hw = hw;
    o.cim_redraw = redraw;
    bc_train_result res;
    bc_status st = bc_train(m, tr, NULL, &o, &res);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    float *p = malloc((size_t)bc_model_param_count(m) * sizeof *p);
    bc_model_get_params(m, p);
    BC_CHECK_MSG(m->chip == NULL, "training left a chip attached");
    bc_model_free(m);
    return p;
}

static void test_hil_training(void) {
    bc_dataset *tr = quadrant_data(64, 1);
    bc_model *probe = new_net(5);
    if (!tr || !probe) return;
    const size_t bytes = (size_t)bc_model_param_count(probe) * sizeof(float);
    bc_model_free(probe);
    float *plain = train_params(NULL, tr, 1);
    bc_cim_hw ideal = bc_cim_hw_default();
    float *on_ideal = train_params(&ideal, tr, 1);
    bc_cim_hw sa = bc_t_hw(sa_sets);
    float *on_sa = train_params(&sa, tr, 1), *on_sa_k = train_params(&sa, tr, 3);
    if (plain && on_ideal && on_sa && on_sa_k) {
        BC_CHECK_MSG(!memcmp(plain, on_ideal, bytes), "training on the ideal chip differs from ordinary training");
        BC_CHECK_MSG(memcmp(plain, on_sa, bytes) != 0, "training on SA chips learnt exactly the ordinary weights");
        BC_CHECK_MSG(memcmp(on_sa, on_sa_k, bytes) != 0, "re-drawing every 3 batches changed nothing");
    }
    bc_train_opts o = bc_train_opts_default(NULL);
    o.cim_hw = &sa;
    o.cim_redraw = 0;
    bc_model *m = new_net(5);
    bc_train_result res;
    o.norm = bc_dataset_norm_stats(tr);
    BC_CHECK(bc_train(m, tr, NULL, &o, &res) == BC_ERR_PARAM);
    bc_model_free(m);
    /* The noise-only ablation keeps the cells, drops the readout and offsets. */
    bc_cim_hw nz = bc_cim_hw_noise_only(&sa);
    BC_CHECK(nz.readout == BC_CIM_READ_IDEAL && nz.rows_on == nz.rows && nz.sigma_offset_mV == 0.0 &&
             nz.sigma_vth_mV == sa.sigma_vth_mV && nz.variation == sa.variation);
    free(plain);
    free(on_ideal);
    free(on_sa);
    free(on_sa_k);
    bc_dataset_free(tr);
}

/* ---- calibration */

static void predict_on(bc_model *m, bc_cim_chip *chip, const bc_dataset *ds, const bc_norm *norm, float *z) {
    const int64_t n = bc_dataset_count(ds);
    float *x = malloc((size_t)(n * m->n_in) * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    bc_dataset_batch(ds, idx, n, norm, x, y);
    BC_CHECK(bc_model_set_chip(m, chip) == BC_OK);
    BC_CHECK(bc_model_predict(m, x, n, z) == BC_OK);
    bc_model_set_chip(m, NULL);
    free(x);
    free(y);
    free(idx);
}

static void test_calibration(void) {
    bc_dataset *tr = quadrant_data(96, 2), *calib = quadrant_data(40, 3), *calib2 = quadrant_data(40, 4),
               *te = quadrant_data(30, 5);
    bc_model *m = new_net(9);
    if (!tr || !calib || !te || !m) return;
    bc_train_opts o = bc_train_opts_default(bc_model_spec(m));
    o.norm = bc_dataset_norm_stats(tr);
    bc_train_result res;
    BC_CHECK(bc_train(m, tr, NULL, &o, &res) == BC_OK);
    const size_t nb = (size_t)m->n_buffers * sizeof(float), nz = (size_t)(30 * 4) * sizeof(float);
    float *before = malloc(nb), *cal1 = malloc(nb), *plain = malloc(nz), *calz = malloc(nz), *z = malloc(nz);
    memcpy(before, m->buffers, nb);
    bc_cim_hw hw = bc_t_hw(sa_sets);
    bc_cim_chip *chip = NULL;
    BC_CHECK(bc_cim_chip_new(&hw, m, 4, 6, &chip) == BC_OK);
    if (!chip) return;
    predict_on(m, chip, te, &o.norm, plain);
    BC_CHECK(!bc_cim_chip_calibrated(chip));
    BC_CHECK_MSG(bc_cim_calibrate(m, chip, calib, &o.norm, 16, BC_CIM_CALIB_BN) == BC_OK, "%s", bc_last_error());
    BC_CHECK(bc_cim_chip_calibrated(chip) && !chip->trimmed);
    BC_CHECK_MSG(!memcmp(before, m->buffers, nb), "calibration changed the model's own statistics");
    BC_CHECK_MSG(memcmp(before, chip->buffers, nb) != 0, "calibration changed nothing");
    memcpy(cal1, chip->buffers, nb);
    predict_on(m, chip, te, &o.norm, calz);
    BC_CHECK_MSG(memcmp(plain, calz, nz) != 0, "a calibrated chip predicts as the uncalibrated one");
    /* A function of the calibration images alone: again the same, other images differ. */
    BC_CHECK(bc_cim_calibrate(m, chip, calib, &o.norm, 16, BC_CIM_CALIB_BN) == BC_OK);
    BC_CHECK(!memcmp(cal1, chip->buffers, nb));
    BC_CHECK(bc_cim_calibrate(m, chip, calib2, &o.norm, 16, BC_CIM_CALIB_BN) == BC_OK);
    BC_CHECK(memcmp(cal1, chip->buffers, nb) != 0);
    /* Trim and statistics (what mc --calibrate does): both survive the save and load below. */
    BC_CHECK(bc_cim_calibrate(m, chip, calib, &o.norm, 16, BC_CIM_CALIB_ALL) == BC_OK);
    BC_CHECK(chip->trimmed && chip->calibrated);
    float trim_sum = 0.0f;
    for (int32_t k = 0; k < chip->n_mapped; k++)
        for (int64_t i = 0; i < (int64_t)chip->mapped[k].A * chip->mapped[k].N; i++) trim_sum += fabsf(chip->mapped[k].trim[i]);
    BC_CHECK_MSG(trim_sum > 0.0f, "the trim moved no reference");
    predict_on(m, chip, te, &o.norm, calz);

    /* Save, load, apply to a fresh chip of the same index: the same predictions. */
    char dir[] = "/tmp/bc_cimcal_XXXXXX";
    BC_CHECK(mkdtemp(dir) != NULL);
    const char *path = bc_t_path(dir, "cal.safetensors");
    bc_cim_calibration *set = NULL, *back = NULL;
    BC_CHECK(bc_cim_calibration_new(m, &hw, 4, &set) == BC_OK);
    BC_CHECK(bc_cim_calibration_add(set, chip) == BC_OK);
    BC_CHECK(bc_cim_calibration_save(set, path) == BC_OK);
    BC_CHECK_MSG(bc_cim_calibration_load(path, &back) == BC_OK, "%s", bc_last_error());
    BC_CHECK(bc_cim_calibration_count(back) == 1);
    bc_cim_chip *fresh = NULL;
    BC_CHECK(bc_cim_chip_new(&hw, m, 4, 6, &fresh) == BC_OK);
    BC_CHECK(bc_cim_calibration_apply(back, fresh) == BC_OK);
    predict_on(m, fresh, te, &o.norm, z);
    BC_CHECK_MSG(!memcmp(z, calz, nz), "a re-loaded calibration predicts differently");
    BC_CHECK(fresh->trimmed);
    /* A re-draw drops the calibration; an index the set lacks is refused. */
    bc_cim_chip_redraw(fresh, 7);
    BC_CHECK(!bc_cim_chip_calibrated(fresh));
    BC_CHECK(bc_cim_calibration_apply(back, fresh) == BC_ERR_PARAM);
    bc_cim_chip_free(fresh);
    /* Other seed, other hardware, other network. */
    BC_CHECK(bc_cim_chip_new(&hw, m, 5, 6, &fresh) == BC_OK);
    BC_CHECK(bc_cim_calibration_apply(back, fresh) == BC_ERR_PARAM);
    bc_cim_chip_free(fresh);
    bc_cim_hw hw2 = hw;
    hw2.sigma_vth_mV = 30;
    BC_CHECK(bc_cim_chip_new(&hw2, m, 4, 6, &fresh) == BC_OK);
    BC_CHECK(bc_cim_calibration_apply(back, fresh) == BC_ERR_PARAM);
    bc_cim_chip_free(fresh);
    bc_model *other = bc_t_model(g_ctx, "other", "[net]\ninput = 3x8x8\n[conv]\nfilters = 12\nbias = 0\n[bn]\n[sign]\n"
                                 "[conv]\nfilters = 20\nbinary = 1\n[maxpool]\n[bn]\n[sign]\n[flatten]\n[dense]\nunits = 4\n[softmax]\n",
                                 (bc_shape){3, 8, 8}, 1);
    BC_CHECK(other && bc_cim_chip_new(&hw, other, 4, 6, &fresh) == BC_OK);
    if (fresh) BC_CHECK(bc_cim_calibration_apply(back, fresh) == BC_ERR_PARAM);
    bc_cim_chip_free(fresh);
    bc_model_free(other);
    /* Malformed files: truncated, and a model checkpoint instead of a calibration. */
    FILE *f = fopen(path, "rb");
    char buf[4096];
    size_t got = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    const char *cut = bc_t_path(dir, "cut.safetensors"), *model = bc_t_path(dir, "model.safetensors");
    bc_t_write_raw(cut, buf, got / 2);
    bc_cim_calibration *bad = NULL;
    BC_CHECK(bc_cim_calibration_load(cut, &bad) == BC_ERR_FORMAT && !bad);
    BC_CHECK(bc_model_save(m, model, NULL) == BC_OK);
    BC_CHECK(bc_cim_calibration_load(model, &bad) == BC_ERR_FORMAT && !bad);
    BC_CHECK_MSG(strstr(bc_last_error(), "model.safetensors") != NULL, "error does not name the file: %s", bc_last_error());
    unlink(path);
    unlink(cut);
    unlink(model);
    rmdir(dir);
    bc_cim_calibration_free(set);
    bc_cim_calibration_free(back);
    bc_cim_chip_free(chip);
    bc_model_free(m);
    free(before);
    free(cal1);
    free(plain);
    free(calz);
    free(z);
    bc_dataset_free(tr);
    bc_dataset_free(calib);
    bc_dataset_free(calib2);
    bc_dataset_free(te);
}

/* ---- reference trim */

/* Dense only: no image borders, where the SA's fixed mid-group reference already differs from
 * the digital sign, so that with identical cells the offsets are the chip's only error. */
static const char *mlp_net =
    "[net]\ninput = 3x8x8\nbatch = 16\n[flatten]\n[dense]\nunits = 64\nbias = 0\n[bn]\n[sign]\n"
    "[dense]\nunits = 48\nbinary = 1\n[bn]\n[sign]\n[dense]\nunits = 40\nbinary = 1\n[bn]\n[sign]\n"
    "[dense]\nunits = 4\n[softmax]\n";

static void test_trim_cancels_offsets(const char *kind) {
    bc_dataset *calib = quadrant_data(40, 3), *te = quadrant_data(30, 5);
    bc_model *m = bc_t_model(g_ctx, "mlp", mlp_net, (bc_shape){3, 8, 8}, 5);
    if (!calib || !te || !m) return;
    const bc_norm norm = bc_dataset_norm_stats(calib);
    /* Offsets of sd 3 cells' bitline step: many reads change. */
    bc_cim_hw hw = bc_t_hw((const char *const[]){"rows_on=32", kind, "adc_bits=8", "model=none", NULL});
    char off[64];
    snprintf(off, sizeof off, "sigma_offset_mV=%g", 3e3 * bc_cim_hw_dv_cell_V(&hw));
    BC_CHECK(bc_cim_hw_set(&hw, off) == BC_OK);
    bc_cim_hw clean = hw;
    BC_CHECK(bc_cim_hw_set(&clean, "sigma_offset_mV=0") == BC_OK);
    bc_cim_chip *chip = NULL, *ref = NULL;
    BC_CHECK(bc_cim_chip_new(&hw, m, 3, 1, &chip) == BC_OK && bc_cim_chip_new(&clean, m, 3, 1, &ref) == BC_OK);
    if (!chip || !ref) return;
    const size_t nz = (size_t)(30 * 4) * sizeof(float);
    float *want = malloc(nz), *raw = malloc(nz), *got = malloc(nz);
    predict_on(m, ref, te, &norm, want);
    predict_on(m, chip, te, &norm, raw);
    BC_CHECK_MSG(memcmp(want, raw, nz) != 0, "%s: the offsets change nothing: the test cannot fail", kind);
    BC_CHECK_MSG(bc_cim_calibrate(m, chip, calib, &norm, 16, BC_CIM_CALIB_TRIM) == BC_OK, "%s", bc_last_error());
    BC_CHECK(chip->trimmed && !chip->calibrated);
    predict_on(m, chip, te, &norm, got);
    BC_CHECK_MSG(!memcmp(want, got, nz), "%s: the trimmed chip does not read as the offset-free one", kind);
    if (!strcmp(kind, "kind=adc")) {
        /* The ADC's trim is the mean bitline error: here the offset itself. */
        const double tol = bc_cim_hw_dv_cell_V(&hw) / 256.0;
        double worst = 0.0;
        for (int32_t k = 0; k < chip->n_mapped; k++)
            for (int64_t i = 0; i < (int64_t)chip->mapped[k].A * chip->mapped[k].N; i++)
                worst = fmax(worst, fabs(chip->mapped[k].trim[i] - chip->mapped[k].offset[i]));
        BC_CHECK_MSG(worst <= tol, "ADC trim off its offset by %g V (tolerance %g)", worst, tol);
    }
    free(want);
    free(raw);
    free(got);
    bc_cim_chip_free(chip);
    bc_cim_chip_free(ref);
    bc_model_free(m);
    bc_dataset_free(calib);
    bc_dataset_free(te);
}

int main(void) {
    BC_CHECK(bc_ctx_new(&g_ctx) == BC_OK);
    bc_ctx_set_threads(g_ctx, 2);
    test_same_readout();
    test_hil_training();
    test_calibration();
    test_trim_cancels_offsets("kind=sa");
    test_trim_cancels_offsets("kind=adc");
    bc_ctx_free(g_ctx);
    return bc_t_report();
}
