/* The CIM macro model and chip instances:
 *  - a 6-input binary layer read by hand-computed macros (ideal, SA with its sign(0) tie,
 *    ADC codes, bitline clamp, mismatch-discharging cells);
 *  - the ideal configuration reproduces the digital network bit for bit (conv with padding,
 *    stride, odd channels; rows_on below the array height), and a real readout does not;
 *  - sampled cell currents and offsets have the configured spread (fixed seed);
 *  - a chip is re-created exactly from its index; 1 and 2 threads agree;
 *  - the integer path is taken at the presets' variation, stays within its rounding of the
 *    float path, and gives way to the float path for coarse cells;
 *  - malformed or absurd hardware descriptions fail with file:line messages. */
#include "cim/cim.h"
#include "bc_test.h"

#include <stdlib.h>
#include <string.h>

static bc_ctx *g_ctx;

/* Logits of m on x with hw (NULL: digital). */
static void run_chip(bc_model *m, const bc_cim_hw *hw, uint32_t index, const float *x, int64_t n, float *z) {
    bc_cim_chip *chip = NULL;
    if (hw) BC_CHECK(bc_cim_chip_new(hw, m, 11, index, &chip) == BC_OK);
    BC_CHECK(bc_model_set_chip(m, chip) == BC_OK);
    bc_status st = bc_model_predict(m, x, n, z);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    bc_model_set_chip(m, NULL);
    bc_cim_chip_free(chip);
}

/* ---- hand-computed macros on one binary dense layer: 6 rows, 2 columns */

static void hand_case(bc_model *m, const char *const *sets, float want0, float want1, const char *what) {
    const float x[6] = {1, 1, -1, 1, -1, -1};
    bc_cim_hw hw = bc_t_hw(sets);
    float z[2] = {0, 0};
    run_chip(m, &hw, 0, x, 1, z);
    BC_CHECK_MSG(z[0] == want0 && z[1] == want1, "%s: got (%g, %g), want (%g, %g)", what, z[0], z[1], want0, want1);
}

static void test_hand_macros(void) {
    bc_model *m = bc_t_model(g_ctx, "hand", "[net]\ninput = 1x1x6\n[sign]\n[dense]\nunits = 2\nbinary = 1\n[softmax]\n",
                             (bc_shape){1, 1, 6}, 1);
    if (!m) return;
    /* Column 0 matches x on rows 0, 2, 3, 5 (m = 4, P = 2): per pair of rows 1, 2, 1 matches.
     * Column 1 matches nowhere (P = -6). */
    const float w[12] = {1, -1, -1, 1, 1, -1, /**/ -1, -1, 1, -1, 1, 1};
    const char *name;
    bc_view v;
    BC_CHECK(bc_model_tensor(m, 0, &name, &v) == BC_OK && !strcmp(name, "L1.dense.weight"));
    memcpy(v.data, w, sizeof w);
    const char *both_cim[] = {"first_layer=cim", "last_layer=cim", NULL};
    hand_case(m, both_cim, 2, -6, "ideal");
    /* Groups of 2 rows, 1-bit SA referenced at one matching cell: column 0 reads (0, +2, 0)
     * -> sign(0) = +1 three times; column 1 reads -2 three times. */
    const char *sa[] = {"first_layer=cim", "last_layer=cim", "rows_on=2", "kind=sa", NULL};
    hand_case(m, sa, 3, -3, "sa, 2 rows on");
    /* The same with mismatches discharging the bitline: the same signs. */
    const char *sa_mis[] = {"first_layer=cim", "last_layer=cim", "rows_on=2", "kind=sa", "cell=xnor_mismatch", NULL};
    hand_case(m, sa_mis, 3, -3, "sa, mismatch cells");
    /* 1-bit ADC over a full scale of 2 cells: one level at 1 cell (a count on the level trips
     * it) -> codes 0/1 stand for 0/2 matches: column 0 (1, 2, 1 matches) reads 2 + 2 + 2,
     * column 1 reads -2 three times. */
    const char *adc1[] = {"first_layer=cim", "last_layer=cim", "rows_on=2", "kind=adc", "adc_bits=1", NULL};
    hand_case(m, adc1, 6, -6, "adc 1 bit");
    /* 2 bits (3 levels) resolve every count of 2 rows: exact. */
    const char *adc2[] = {"first_layer=cim", "last_layer=cim", "rows_on=2", "kind=adc", "adc_bits=2", NULL};
    hand_case(m, adc2, 2, -6, "adc 2 bits");
    /* Clamp: 0.1 V per cell (1 uA, 1 ns, 10 fF) from 1.2 V, floor 1.0 V: every count >= 2 reads
     * as 2. All 6 rows at once, 3-bit ADC over 6 cells: column 0 (4 matches) reads 2 ->
     * 2*2 - 6 = -2. */
    const char *clamp[] = {"first_layer=cim", "last_layer=cim", "rows_on=6", "c_bl_fF=10", "v_floor_V=1.0", "kind=adc", "adc_bits=3", NULL};
    hand_case(m, clamp, -2, -6, "adc with clamp");
    /* The SA reference "mid" (3 cells, 0.9 V) is clamped to 1.0 V as well: column 0 (1.0 V)
     * meets it -> +1; column 1 stays at 1.2 V -> -1. */
    const char *sa_clamp[] = {"first_layer=cim", "last_layer=cim", "c_bl_fF=10", "v_floor_V=1.0", "kind=sa", NULL};
    hand_case(m, sa_clamp, 1, -1, "sa with clamp");
    /* An explicit reference between 2 and 3 matches (0.95 V at 0.1 V per cell, no clamp). */
    const char *sa_ref[] = {"first_layer=cim", "last_layer=cim", "c_bl_fF=10", "v_floor_V=0", "kind=sa", "sa_vref_V=0.95", NULL};
    hand_case(m, sa_ref, 1, -1, "sa with a fixed reference");
    /* Digital by default: the only weighted layer is first and last. */
    bc_cim_hw def = bc_cim_hw_default();
    bc_cim_chip *chip = NULL;
    BC_CHECK(bc_cim_chip_new(&def, m, 1, 0, &chip) == BC_OK);
    BC_CHECK(chip && bc_cim_chip_layers(chip) == 0);
    bc_cim_chip_free(chip);
    bc_model_free(m);
}

/* ---- the ideal configuration is the digital network */

static const char *conv_net =
    "[net]\ninput = 3x9x9\n"
    "[conv]\nfilters = 20\n[bn]\n[sign]\n"
    "[conv]\nfilters = 70\nbinary = 1\n[bn]\n[sign]\n"           /* padded 3x3, odd channels */
    "[conv]\nfilters = 33\nbinary = 1\nstride = 2\n[bn]\n[sign]\n" /* stride 2 */
    "[maxpool]\n[flatten]\n"
    "[dense]\nunits = 40\nbinary = 1\n[bn]\n[sign]\n"
    "[dense]\nunits = 5\n[softmax]\n";

static void fill(float *x, int64_t n, uint32_t tag) {
    bc_rng_key k = {.seed = 3, .purpose = BC_RNG_TEST, .layer = tag};
    for (int64_t i = 0; i < n; i++) x[i] = bc_rng_normal(k, (uint64_t)i);
}

static bc_model *trained_conv_net(float **x, int64_t n) {
    bc_model *m = bc_t_model(g_ctx, "conv", conv_net, (bc_shape){3, 9, 9}, 5);
    if (!m) return NULL;
    const int64_t f = 3 * 9 * 9;
    *x = malloc((size_t)(n * f) * sizeof **x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    for (int step = 0; step < 4; step++) {
        fill(*x, n * f, (uint32_t)step);
        for (int64_t i = 0; i < n; i++) y[i] = (int32_t)(i % 5);
        BC_CHECK(bc_model_train_step(m, *x, y, n, 1e-2f, NULL, NULL) == BC_OK);
    }
    fill(*x, n * f, 77);
    free(y);
    return m;
}

static void test_ideal_is_digital(void) {
    const int64_t n = 19;
    float *x = NULL;
    bc_model *m = trained_conv_net(&x, n);
    if (!m) return;
    const int32_t c = bc_model_outputs(m);
    const size_t bytes = (size_t)(n * c) * sizeof(float);
    float *dig = malloc(bytes), *z = malloc(bytes);
    run_chip(m, NULL, 0, x, n, dig);

    bc_cim_hw ideal = bc_cim_hw_default();
    bc_cim_chip *chip = NULL;
    BC_CHECK(bc_cim_chip_new(&ideal, m, 1, 0, &chip) == BC_OK);
    BC_CHECK_MSG(chip && bc_cim_chip_layers(chip) == 3, "mapped %d layers, want the 3 binary ones", chip ? bc_cim_chip_layers(chip) : -1);
    if (chip) {
        bc_cim_layer_info li = bc_cim_chip_layer(chip, 0);
        /* 70 filters over 3x3x20 inputs: 180 rows -> 2 arrays of 128 rows, one group each. */
        BC_CHECK(li.layer == 3 && li.rows == 180 && li.cols == 70 && li.groups == 2 && li.array_rows == 2 && li.array_cols == 1);
        BC_CHECK(li.reads_per_sample == 2 * 70 * 81);
    }
    bc_cim_chip_free(chip);

    run_chip(m, &ideal, 0, x, n, z);
    BC_CHECK_MSG(!memcmp(dig, z, bytes), "ideal chip differs from the digital network");
    const char *small[] = {"rows_on=16", NULL};
    bc_cim_hw h16 = bc_t_hw(small);
    run_chip(m, &h16, 0, x, n, z);
    BC_CHECK_MSG(!memcmp(dig, z, bytes), "ideal readout with 16 rows on differs from digital");
    /* An ADC with a level per cell and no clamp is exact too. */
    const char *adc[] = {"kind=adc", "adc_bits=8", "v_floor_V=0", NULL};
    bc_cim_hw hadc = bc_t_hw(adc);
    run_chip(m, &hadc, 0, x, n, z);
    BC_CHECK_MSG(!memcmp(dig, z, bytes), "exact ADC differs from digital");
    /* A 1-bit SA per 16 rows is not: the test above can fail. */
    const char *sa[] = {"rows_on=16", "kind=sa", NULL};
    bc_cim_hw hsa = bc_t_hw(sa);
    run_chip(m, &hsa, 0, x, n, z);
    BC_CHECK_MSG(memcmp(dig, z, bytes) != 0, "an SA readout should change the logits");
    /* With a chip attached the packed engine gives way to the float engine. */
    BC_CHECK(bc_model_set_engine(m, BC_ENGINE_PACKED) == BC_OK);
    run_chip(m, &ideal, 0, x, n, z);
    BC_CHECK_MSG(!memcmp(dig, z, bytes), "ideal chip under the packed engine setting differs");
    BC_CHECK(bc_model_set_engine(m, BC_ENGINE_FLOAT) == BC_OK);
    free(dig);
    free(z);
    free(x);
    bc_model_free(m);
}

/* ---- variation statistics, re-creation, threads */

static void moments(const float *v, int64_t n, double *mean, double *sd, bool logs) {
    double s = 0.0, s2 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double a = logs ? log(v[i]) : v[i];
        s += a;
        s2 += a * a;
    }
    *mean = s / (double)n;
    *sd = sqrt(s2 / (double)n - *mean * *mean);
}

static void test_variation_stats(void) {
    bc_model *m = bc_t_model(g_ctx, "wide", "[net]\ninput = 1x1x256\n[sign]\n[dense]\nunits = 512\nbinary = 1\n"
                                           "[bn]\n[sign]\n[dense]\nunits = 10\n[softmax]\n", (bc_shape){1, 1, 256}, 1);
    if (!m) return;
    const char *lin[] = {"first_layer=cim", "model=alpha_linear", "sigma_vth_mV=30", "alpha=1.3", "overdrive_V=0.4",
                         "sigma_offset_mV=12", NULL};
    bc_cim_hw hw = bc_t_hw(lin);
    bc_cim_chip *chip = NULL;
    BC_CHECK(bc_cim_chip_new(&hw, m, 42, 0, &chip) == BC_OK);
    if (!chip) { bc_model_free(m); return; }
    BC_CHECK(bc_cim_chip_layers(chip) == 1);
    const bc__cim_layer *cl = &chip->mapped[0];
    double mean, sd, want = 1.3 * 0.030 / 0.4; /* the linear law scales sigma_vth exactly */
    moments(cl->cell, cl->K * cl->N, &mean, &sd, false);
    BC_CHECK_MSG(fabs(mean - 1.0) < 0.002 && fabs(sd / want - 1.0) < 0.02, "alpha_linear: mean %g sd %g, want 1, %g", mean, sd, want);
    BC_CHECK_NEAR(bc_cim_hw_sigma_current(&hw), want, 1e-4);
    /* Offsets: 2 arrays x 512 columns. */
    moments(cl->offset, (int64_t)cl->A * cl->N, &mean, &sd, false);
    BC_CHECK_MSG(cl->A == 2 && fabs(mean) < 0.0015 && fabs(sd / 0.012 - 1.0) < 0.08, "offsets: mean %g sd %g", mean, sd);
    /* Sub-threshold: ln c ~ N(0, sigma / (n vt)). */
    const char *sub[] = {"model=subthreshold", "sigma_vth_mV=20", "n_slope=1.5", "vt_mV=25", NULL};
    for (int i = 0; sub[i]; i++) BC_CHECK(bc_cim_hw_set(&hw, sub[i]) == BC_OK);
    bc_cim_chip *c2 = NULL;
    BC_CHECK(bc_cim_chip_new(&hw, m, 42, 0, &c2) == BC_OK);
    if (c2) {
        moments(c2->mapped[0].cell, cl->K * cl->N, &mean, &sd, true);
        BC_CHECK_MSG(fabs(mean) < 0.003 && fabs(sd / (20.0 / 37.5) - 1.0) < 0.02, "subthreshold: ln c mean %g sd %g", mean, sd);
    }
    /* Chip 5 made directly, or as chip 3 re-drawn as 5: the same bits; chip 3 differs. */
    bc_cim_chip *c5 = NULL;
    BC_CHECK(bc_cim_chip_new(&hw, m, 42, 5, &c5) == BC_OK);
    bc_cim_chip *c3 = NULL;
    BC_CHECK(bc_cim_chip_new(&hw, m, 42, 3, &c3) == BC_OK);
    if (c5 && c3) {
        const size_t cells = (size_t)(cl->K * cl->N) * sizeof(float), offs = (size_t)(cl->A * cl->N) * sizeof(float);
        BC_CHECK(memcmp(c5->mapped[0].cell, c3->mapped[0].cell, cells) != 0);
        bc_cim_chip_redraw(c3, 5);
        BC_CHECK(!memcmp(c5->mapped[0].cell, c3->mapped[0].cell, cells));
        BC_CHECK(!memcmp(c5->mapped[0].offset, c3->mapped[0].offset, offs));
    }
    bc_cim_chip_free(c5);
    bc_cim_chip_free(c3);
    bc_cim_chip_free(c2);
    bc_cim_chip_free(chip);
    bc_model_free(m);
}

static void test_threads(void) {
    const int64_t n = 23;
    float *x = NULL;
    bc_model *m = trained_conv_net(&x, n);
    if (!m) return;
    const int32_t c = bc_model_outputs(m);
    const size_t bytes = (size_t)(n * c) * sizeof(float);
    float *z1 = malloc(bytes), *z2 = malloc(bytes), *z3 = malloc(bytes);
    const char *noisy[] = {"rows_on=32", "kind=sa", "model=alpha_power", "sigma_vth_mV=40", "sigma_offset_mV=5",
                           "sigma_read_mV=3", NULL};
    bc_cim_hw hw = bc_t_hw(noisy);
    bc_ctx_set_threads(g_ctx, 1);
    run_chip(m, &hw, 9, x, n, z1);
    bc_ctx_set_threads(g_ctx, 2);
    run_chip(m, &hw, 9, x, n, z2);
    run_chip(m, &hw, 8, x, n, z3);
    BC_CHECK_MSG(!memcmp(z1, z2, bytes), "1 and 2 threads differ on a noisy chip");
    BC_CHECK_MSG(memcmp(z1, z3, bytes) != 0, "chips 8 and 9 should differ");
    free(z1); free(z2); free(z3); free(x);
    bc_model_free(m);
}

/* ---- the integer path */

/* Largest and rms difference of two float arrays; count of differing entries. */
static void diff_stats(const float *a, const float *b, int64_t n, double *mx, double *rms, int64_t *ndiff) {
    double s2 = 0.0;
    *mx = 0.0;
    *ndiff = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        *mx = d > *mx ? d : *mx;
        s2 += d * d;
        *ndiff += d != 0.0;
    }
    *rms = sqrt(s2 / (double)n);
}

/* One binary dense layer on the arrays (first and last), read ideally: the logits are the
 * summed partial sums themselves. */
static void test_int8_path(void) {
    bc_model *m = bc_t_model(g_ctx, "dense8", "[net]\ninput = 1x1x256\n[sign]\n[dense]\nunits = 512\nbinary = 1\n[softmax]\n",
                             (bc_shape){1, 1, 256}, 1);
    if (!m) return;
    const int64_t n = 37, K = 256, N = 512;
    const size_t bytes = (size_t)(n * N) * sizeof(float);
    float *x = malloc((size_t)(n * K) * sizeof *x), *z8 = malloc(bytes), *zf = malloc(bytes), *z = malloc(bytes);
    fill(x, n * K, 5);
    /* The sram65 preset's cells: sigma(I)/I ~ 13 %. */
    const char *var[] = {"first_layer=cim", "last_layer=cim", "model=alpha_power", "sigma_vth_mV=40", "alpha=1.3",
                         "overdrive_V=0.4", NULL};
    bc_cim_hw hw = bc_t_hw(var);
    bc_cim_chip *chip = NULL;
    BC_CHECK(bc_cim_chip_new(&hw, m, 4, 0, &chip) == BC_OK);
    if (chip) {
        BC_CHECK(bc_model_set_chip(m, chip) == BC_OK);
        BC_CHECK(bc_model_predict(m, x, n, z8) == BC_OK);
        BC_CHECK_MSG(chip->mapped[0].qscale == 64, "qscale %d, want 64 (the integer path)", chip->mapped[0].qscale);
        chip->int8 = false;
        BC_CHECK(bc_model_predict(m, x, n, zf) == BC_OK);
        /* Each cell rounds by at most 1/(2S): |dY| <= K / 128 = 2; independent roundings give
         * an rms of about sqrt(K / 12) / 64 = 0.072. */
        double mx, rms;
        int64_t nd;
        diff_stats(z8, zf, n * N, &mx, &rms, &nd);
        BC_CHECK_MSG(mx <= 0.5 && rms <= 0.1 && nd > 0, "integer vs float path: max %g, rms %g, %lld differ", mx, rms, (long long)nd);
        /* Integer sums: the thread count cannot matter. */
        chip->int8 = true;
        bc_ctx_set_threads(g_ctx, 1);
        BC_CHECK(bc_model_predict(m, x, n, z) == BC_OK);
        BC_CHECK_MSG(!memcmp(z8, z, bytes), "integer path: 1 and 2 threads differ");
        bc_ctx_set_threads(g_ctx, 2);
        bc_model_set_chip(m, NULL);
    }
    bc_cim_chip_free(chip);
    /* Without variation the cells are exactly +-S. */
    const char *none[] = {"first_layer=cim", "last_layer=cim", NULL};
    hw = bc_t_hw(none);
    BC_CHECK(bc_cim_chip_new(&hw, m, 4, 0, &chip) == BC_OK);
    if (chip) {
        BC_CHECK(bc_model_set_chip(m, chip) == BC_OK);
        BC_CHECK(bc_model_predict(m, x, n, z) == BC_OK);
        const bc__cim_layer *cl = &chip->mapped[0];
        BC_CHECK(cl->qscale == 64 && cl->q[0] == (cl->beff[0] > 0 ? 64 : -64));
        bc_model_set_chip(m, NULL);
    }
    bc_cim_chip_free(chip);
    /* Sub-threshold cells spread over decades: too coarse in int8, the float GEMM stays. */
    const char *sub[] = {"first_layer=cim", "last_layer=cim", "model=subthreshold", "sigma_vth_mV=40", NULL};
    hw = bc_t_hw(sub);
    BC_CHECK(bc_cim_chip_new(&hw, m, 4, 0, &chip) == BC_OK);
    if (chip) {
        BC_CHECK(bc_model_set_chip(m, chip) == BC_OK);
        BC_CHECK(bc_model_predict(m, x, n, z) == BC_OK);
        BC_CHECK_MSG(chip->mapped[0].qscale == 0, "qscale %d, want 0 (float path)", chip->mapped[0].qscale);
        bc_model_set_chip(m, NULL);
    }
    bc_cim_chip_free(chip);
    free(x), free(z8), free(zf), free(z);
    bc_model_free(m);
}

/* A padded binary conv after a float one (K = 180 rows in groups of 32, padded taps at the borders) as the
 * logits: ideally read, within the rounding of the float path; read by SAs with read noise,
 * few flipped group signs and 1 and 2 threads identical. */
static void test_int8_conv(void) {
    bc_model *m = bc_t_model(g_ctx, "conv8", "[net]\ninput = 3x9x9\n[conv]\nfilters = 20\n[sign]\n[conv]\nfilters = 70\nbinary = 1\n"
                             "[flatten]\n[softmax]\n", (bc_shape){3, 9, 9}, 2);
    if (!m) return;
    const int64_t n = 11, in = 3 * 9 * 9, out = bc_model_outputs(m);
    const size_t bytes = (size_t)(n * out) * sizeof(float);
    float *x = malloc((size_t)(n * in) * sizeof *x), *z8 = malloc(bytes), *zf = malloc(bytes), *z = malloc(bytes);
    fill(x, n * in, 6);
    const char *ideal[] = {"last_layer=cim", "rows_on=32", "model=alpha_power", "sigma_vth_mV=40", NULL};
    const char *sa[] = {"last_layer=cim", "rows_on=32", "model=alpha_power", "sigma_vth_mV=40",
                        "kind=sa", "sigma_offset_mV=5", "sigma_read_mV=3", NULL};
    for (int t = 0; t < 2; t++) {
        bc_cim_hw hw = bc_t_hw(t ? sa : ideal);
        bc_cim_chip *chip = NULL;
        BC_CHECK(bc_cim_chip_new(&hw, m, 11, 3, &chip) == BC_OK);
        if (!chip) continue;
        BC_CHECK(bc_model_set_chip(m, chip) == BC_OK);
        BC_CHECK(bc_model_predict(m, x, n, z8) == BC_OK);
        BC_CHECK_MSG(chip->mapped[0].qscale == 64, "qscale %d", chip->mapped[0].qscale);
        chip->int8 = false;
        chip->mapped[0].reads = 0; /* the same read noise again */
        BC_CHECK(bc_model_predict(m, x, n, zf) == BC_OK);
        double mx, rms;
        int64_t nd;
        diff_stats(z8, zf, n * out, &mx, &rms, &nd);
        if (!t) {
            BC_CHECK_MSG(mx <= 0.5 && rms <= 0.1 && nd > 0, "conv, ideal: max %g, rms %g, %lld differ", mx, rms, (long long)nd);
        } else {
            /* A flip moves a column's sum by 2: about 0.7 % of the outputs see one here. */
            BC_CHECK_MSG(nd <= n * out / 50, "conv, sa: %lld of %lld outputs differ (max %g)", (long long)nd, (long long)(n * out), mx);
            chip->int8 = true;
            chip->mapped[0].reads = 0;
            bc_ctx_set_threads(g_ctx, 1);
            BC_CHECK(bc_model_predict(m, x, n, z) == BC_OK);
            bc_ctx_set_threads(g_ctx, 2);
            BC_CHECK_MSG(!memcmp(z8, z, bytes), "conv, sa: 1 and 2 threads differ");
        }
        bc_model_set_chip(m, NULL);
        bc_cim_chip_free(chip);
    }
    free(x), free(z8), free(zf), free(z);
    bc_model_free(m);
}

/* The AVX2 build of the readout loops gives the SSE2 build's bits, for every readout kind, with
 * read noise, on a conv with padding (border reads) and with cells far enough apart for the
 * float path. */
static void test_wide_readout(void) {
    if (bc_ctx_cpu(g_ctx) < BC_CPU_AVX2) return; /* nothing to compare with */
    bc_model *m = bc_t_model(g_ctx, "convw", "[net]\ninput = 3x9x9\n[conv]\nfilters = 20\n[sign]\n[conv]\nfilters = 70\nbinary = 1\n"
                             "[flatten]\n[softmax]\n", (bc_shape){3, 9, 9}, 3);
    if (!m) return;
    const int64_t n = 9, in = 3 * 9 * 9, out = bc_model_outputs(m);
    const size_t bytes = (size_t)(n * out) * sizeof(float);
    float *x = malloc((size_t)(n * in) * sizeof *x), *zw = malloc(bytes), *zn = malloc(bytes);
    fill(x, n * in, 8);
    const char *kinds[][8] = {
        {"last_layer=cim", "rows_on=32", "kind=ideal", "model=alpha_power", "sigma_vth_mV=40", NULL},
        {"last_layer=cim", "rows_on=32", "kind=sa", "model=alpha_power", "sigma_vth_mV=40", "sigma_offset_mV=5", "sigma_read_mV=3", NULL},
        {"last_layer=cim", "rows_on=32", "kind=adc", "adc_bits=4", "sigma_offset_mV=5", "sigma_read_mV=3", NULL},
        {"last_layer=cim", "kind=adc", "adc_bits=8", "model=subthreshold", "sigma_vth_mV=25", "sigma_offset_mV=5", NULL},
    };
    for (size_t t = 0; t < sizeof kinds / sizeof kinds[0]; t++) {
        bc_cim_hw hw = bc_t_hw(kinds[t]);
        bc_cim_chip *chip = NULL;
        BC_CHECK(bc_cim_chip_new(&hw, m, 5, 2, &chip) == BC_OK);
        if (!chip) continue;
        BC_CHECK(chip->wide_readout);
        BC_CHECK(bc_model_set_chip(m, chip) == BC_OK);
        BC_CHECK(bc_model_predict(m, x, n, zw) == BC_OK);
        chip->wide_readout = false;
        chip->mapped[0].reads = 0; /* the same read noise again */
        BC_CHECK(bc_model_predict(m, x, n, zn) == BC_OK);
        BC_CHECK_MSG(!memcmp(zw, zn, bytes), "readout %zu: the AVX2 and SSE2 loops differ", t);
        bc_model_set_chip(m, NULL);
        bc_cim_chip_free(chip);
    }
    free(x), free(zw), free(zn);
    bc_model_free(m);
}

/* ---- description files */

static void bad_hw(const char *text, const char *want) {
    bc_cim_hw hw;
    bc_status st = bc_cim_hw_parse(text, "bad.ini", &hw);
    BC_CHECK_MSG(st == BC_ERR_FORMAT && strstr(bc_last_error(), want), "want '%s', got '%s'", want, bc_last_error());
}

static void test_files(void) {
    bad_hw("[macro]\nrows = -4\n", "bad.ini:2: rows '-4': expected an integer in [1, 4096]");
    bad_hw("[macro]\nrows = 64\n\nrows_on = 128\n", "bad.ini:4: rows_on = 128 is more than the array's rows = 64");
    bad_hw("[macro]\nrows = 64\ncols=0\n", "bad.ini:3: cols '0'");
    bad_hw("[macro]\nbanks = 4\n", "bad.ini:2: unknown key 'banks' in [macro]");
    bad_hw("[array]\nrows = 4\n", "bad.ini:1: unknown section [array]");
    bad_hw("rows = 4\n", "bad.ini:1: key 'rows' before the first section");
    bad_hw("[readout]\nkind = flash\n", "bad.ini:2: kind 'flash': expected ideal, sa or adc");
    bad_hw("[bitline]\nvdd_V = 0.8\nv_floor_V = 0.9\n", "bad.ini:3: v_floor_V = 0.9 must be below vdd_V = 0.8");
    bad_hw("[bitline]\nc_bl_fF = nan\n", "bad.ini:2: c_bl_fF 'nan'");
    bad_hw("[variation]\nsigma_vth_mV = 1e9\n", "bad.ini:2: sigma_vth_mV '1e9'");
    bad_hw("[readout]\nsa_vref_V = 2\n", "bad.ini:2: sa_vref_V = 2 lies outside");
    bad_hw("[macro\n", "bad.ini:1: malformed section header");

    bc_cim_hw hw = bc_cim_hw_default();
    BC_CHECK(bc_cim_hw_set(&hw, "rows_on=200") == BC_ERR_PARAM && strstr(bc_last_error(), "--set rows_on=200: rows_on = 200"));
    BC_CHECK(hw.rows_on == 128);
    BC_CHECK(bc_cim_hw_set(&hw, "nonsense=1") == BC_ERR_PARAM && strstr(bc_last_error(), "unknown hardware key 'nonsense'"));
    BC_CHECK(bc_cim_hw_set(&hw, "rows_on") == BC_ERR_PARAM);
    BC_CHECK(bc_cim_hw_set(&hw, "macro.rows_on=64") == BC_OK && hw.rows_on == 64);
    BC_CHECK(bc_cim_hw_set(&hw, "readout.rows_on=64") == BC_ERR_PARAM);
    double v = 0;
    BC_CHECK(bc_cim_hw_get(&hw, "rows_on", &v) == BC_OK && v == 64);
    BC_CHECK(bc_cim_hw_get(&hw, "kind", &v) == BC_ERR_PARAM);
    /* rows_on follows rows unless set. */
    BC_CHECK(bc_cim_hw_parse("[macro]\nrows = 64\n", "ok.ini", &hw) == BC_OK && hw.rows_on == 64);

    /* The shipped presets load, and format -> parse is the identity. */
    const char *presets[] = {BC_SOURCE_DIR "/hw/ideal-128.ini", BC_SOURCE_DIR "/hw/sram65-128.ini",
                             BC_SOURCE_DIR "/hw/fdsoi28-128.ini"};
    for (int i = 0; i < 3; i++) {
        bc_status st = bc_cim_hw_load(presets[i], &hw);
        BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
        char *text = bc_cim_hw_format(&hw);
        bc_cim_hw back;
        BC_CHECK(text && bc_cim_hw_parse(text, "formatted", &back) == BC_OK);
        char *again = bc_cim_hw_format(&back);
        BC_CHECK(text && again && !strcmp(text, again));
        free(text);
        free(again);
    }
}

int main(void) {
    BC_CHECK(bc_ctx_new(&g_ctx) == BC_OK);
    bc_ctx_set_threads(g_ctx, 2);
    test_files();
    test_hand_macros();
    test_ideal_is_digital();
    test_variation_stats();
    test_threads();
    test_int8_path();
    test_wide_readout();
    test_int8_conv();
    bc_ctx_free(g_ctx);
    return bc_t_report();
}
