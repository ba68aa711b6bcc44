/* Gradient checks: central finite differences of the batch loss against bc_model_loss_grad for
 * every differentiable layer (dense with and without bias, bn in training mode through the
 * batch statistics, relu, hardtanh, dropout with a fixed mask, softmax-CE) and combinations,
 * with respect to every parameter and the input; explicit checks of the straight-through
 * estimators (sign activation, binary dense weights) whose finite differences are zero;
 * latent-weight clipping after a training step; and the bf16 backward GEMMs of binary layers
 * on ±1 input (every kernel this machine runs): the hand gradient with dY rounded to bf16,
 * closeness to the fp32 gradients on convs whose shapes cross the kernels' tiles, float
 * layers untouched, 1 vs 2 threads, and the auto / fp32 / bf16 switch. */
#include "nn/model.h"
#include "bc_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const bc_shape k_in = {1, 2, 3}; /* 6 features */
#define NF 6
#define NC 3

static bc_ctx *g_ctx;

static bc_model *make_model(const char *ini, bc_shape in, uint64_t seed) {
    return bc_t_model(g_ctx, "grad", ini, in, seed);
}

/* x: n x f values N(0,1) * scale, keyed by tag; y: r % classes (shuffled a little). */
static void make_batch(float *x, int32_t *y, int64_t n, int64_t f, float scale, uint32_t tag) {
    bc_rng_key k = {.seed = 99, .purpose = BC_RNG_TEST, .layer = tag};
    for (int64_t i = 0; i < n * f; i++) x[i] = scale * bc_rng_normal(k, (uint64_t)i);
    for (int64_t r = 0; r < n; r++) y[r] = (int32_t)((r * 2 + tag) % NC);
}

static float loss_of(bc_model *m, const float *x, const int32_t *y, int64_t n, uint64_t step) {
    float l = NAN;
    bc_status st = bc_model_loss_grad(m, x, y, n, step, &l, NULL, NULL);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    return l;
}

static bool close_enough(double a, double num, double rtol, double atol) {
    return fabs(a - num) <= rtol * fmax(fabs(a), fabs(num)) + atol;
}

/* Checks the analytic gradient of every parameter and every input element against central
 * differences. Also requires every trainable tensor's analytic gradient to be non-zero. */
static void grad_check_in(const char *what, const char *ini, bc_shape in, int64_t n, float xscale, uint64_t step) {
    const double eps = 2e-3, rtol = 1e-2, atol = 1e-3;
    const int64_t NF_ = (int64_t)in.c * in.h * in.w;
    bc_model *m = make_model(ini, in, 7);
    if (!m) return;
    const int64_t np = bc_model_param_count(m);
    float *x = malloc((size_t)(n * NF_) * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    float *grad = malloc((size_t)(np + 1) * sizeof *grad);
    float *p = malloc((size_t)(np + 1) * sizeof *p);
    float *ig = malloc((size_t)(n * NF_) * sizeof *ig);
    make_batch(x, y, n, NF_, xscale, 1);

    float loss = NAN;
    bc_status st = bc_model_loss_grad(m, x, y, n, step, &loss, grad, ig);
    BC_CHECK_MSG(st == BC_OK, "%s: %s", what, bc_last_error());
    BC_CHECK_MSG(isfinite(loss) && loss > 0, "%s: loss %g", what, (double)loss);
    /* The call is a pure function of (params, x, y, step). */
    BC_CHECK_MSG(loss_of(m, x, y, n, step) == loss, "%s: loss not reproducible", what);

    /* Non-zero guards: the whole gradient, every trainable tensor, and the input gradient. */
    for (int32_t t = 0; t < m->n_tensors; t++) {
        const bc__tensor *tt = &m->tensors[t];
        if (!tt->trainable) continue;
        double s = 0;
        for (int64_t i = 0; i < tt->count; i++) s += (double)grad[tt->offset + i] * grad[tt->offset + i];
        BC_CHECK_MSG(s > 0, "%s: gradient of %s is all zero", what, tt->name);
    }
    double ign = 0;
    for (int64_t i = 0; i < n * NF_; i++) ign += (double)ig[i] * ig[i];
    BC_CHECK_MSG(ign > 0, "%s: input gradient is all zero", what);

    /* Parameters. */
    bc_model_get_params(m, p);
    int bad = 0;
    double worst = 0, gsum = 0;
    for (int64_t i = 0; i < np; i++) {
        float keep = p[i];
        p[i] = (float)(keep + eps);
        bc_model_set_params(m, p);
        double lp = loss_of(m, x, y, n, step);
        p[i] = (float)(keep - eps);
        bc_model_set_params(m, p);
        double lm = loss_of(m, x, y, n, step);
        double h = (double)(float)(keep + eps) - (double)(float)(keep - eps);
        p[i] = keep;
        double num = (lp - lm) / h;
        double err = fabs(num - grad[i]) / (rtol * fmax(fabs(grad[i]), fabs(num)) + atol);
        if (err > worst) worst = err;
        gsum += (double)grad[i] * grad[i];
        if (!close_enough(grad[i], num, rtol, atol)) {
            if (bad++ < 5) fprintf(stderr, "%s: param %lld: analytic %g numeric %g\n", what, (long long)i, (double)grad[i], num);
        }
    }
    bc_model_set_params(m, p);
    BC_CHECK_MSG(bad == 0, "%s: %d of %lld parameter gradients differ", what, bad, (long long)np);

    /* Inputs. */
    int bad_in = 0;
    for (int64_t i = 0; i < n * NF_; i++) {
        float keep = x[i];
        x[i] = (float)(keep + eps);
        double lp = loss_of(m, x, y, n, step);
        x[i] = (float)(keep - eps);
        double lm = loss_of(m, x, y, n, step);
        double h = (double)(float)(keep + eps) - (double)(float)(keep - eps);
        x[i] = keep;
        double num = (lp - lm) / h;
        if (!close_enough(ig[i], num, rtol, atol)) {
            if (bad_in++ < 5) fprintf(stderr, "%s: input %lld: analytic %g numeric %g\n", what, (long long)i, (double)ig[i], num);
        }
    }
    BC_CHECK_MSG(bad_in == 0, "%s: %d of %lld input gradients differ", what, bad_in, (long long)(n * NF_));
    /* Parameters were restored exactly: the loss is the same as at the start. */
    BC_CHECK_MSG(loss_of(m, x, y, n, step) == loss, "%s: state changed by the check", what);
    if (getenv("BC_TEST_VERBOSE")) printf("%-20s np=%3lld grad rms %.2e worst err/tol %.3f\n", what, (long long)np,
                                             sqrt(gsum / (double)(np ? np : 1)), worst);

    free(x);
    free(y);
    free(grad);
    free(p);
    free(ig);
    bc_model_free(m);
}

static void grad_check(const char *what, const char *ini, int64_t n, float xscale, uint64_t step) {
    grad_check_in(what, ini, k_in, n, xscale, step);
}

static void test_finite_differences(void) {
    grad_check("dense+bias", "[dense]\nunits = 3\n[softmax]\n", 5, 1.0f, 0);
    grad_check("dense no bias", "[dense]\nunits = 3\nbias = 0\n[softmax]\n", 5, 1.0f, 0);
    grad_check("dense-dense", "[dense]\nunits = 5\n[dense]\nunits = 3\nbias = 0\n[softmax]\n", 4, 1.0f, 0);
    grad_check("bn (batch stats)", "[dense]\nunits = 5\nbias = 0\n[bn]\n[dense]\nunits = 3\n[softmax]\n", 6, 1.0f, 0);
    grad_check("bn first", "[bn]\n[dense]\nunits = 3\n[softmax]\n", 5, 1.0f, 0);
    grad_check("bn before softmax", "[dense]\nunits = 3\n[bn]\n[softmax]\n", 6, 1.0f, 0);
    grad_check("relu", "[dense]\nunits = 6\n[relu]\n[dense]\nunits = 3\n[softmax]\n", 5, 1.0f, 0);
    grad_check("hardtanh", "[dense]\nunits = 6\n[hardtanh]\n[dense]\nunits = 3\n[softmax]\n", 5, 2.5f, 0);
    grad_check("dropout step 3", "[dense]\nunits = 6\n[dropout]\nrate = 0.3\n[dense]\nunits = 3\n[softmax]\n", 5, 1.0f, 3);
    grad_check("dropout step 11", "[dense]\nunits = 6\n[dropout]\nrate = 0.3\n[dense]\nunits = 3\n[softmax]\n", 5, 1.0f, 11);
    grad_check("combo", "[dense]\nunits = 7\nbias = 0\n[bn]\n[relu]\n[dropout]\nrate = 0.3\n"
                        "[dense]\nunits = 6\n[bn]\nmomentum = 0.5\n[hardtanh]\n[dense]\nunits = 3\n[softmax]\n",
               6, 1.0f, 5);
    /* Convolutional layers on a 2x5x5 input (channels-last). Networks avoid ReLU kinks where
     * batch statistics move every activation at once. */
    const bc_shape img = {2, 5, 5};
    grad_check_in("conv pad 1 + bias", "[conv]\nfilters = 3\n[flatten]\n[dense]\nunits = 3\n[softmax]\n", img, 3, 1.0f, 0);
    grad_check_in("conv stride 2 pad 0", "[conv]\nfilters = 2\nstride = 2\npad = 0\nbias = 0\n[dense]\nunits = 3\n[softmax]\n", img, 3, 1.0f, 0);
    grad_check_in("conv 1x1", "[conv]\nfilters = 3\nsize = 1\n[gap]\n[dense]\nunits = 3\n[softmax]\n", img, 3, 1.0f, 0);
    grad_check_in("conv 5x5 pad 2 stride 2", "[conv]\nfilters = 2\nsize = 5\npad = 2\nstride = 2\n[dense]\nunits = 3\n[softmax]\n", img, 2, 1.0f, 0);
    grad_check_in("conv bn (channels)", "[conv]\nfilters = 3\nbias = 0\n[bn]\n[dense]\nunits = 3\n[softmax]\n", img, 3, 1.0f, 0);
    grad_check_in("maxpool 2", "[conv]\nfilters = 3\n[maxpool]\n[dense]\nunits = 3\n[softmax]\n", img, 3, 1.0f, 0);
    grad_check_in("maxpool 3 stride 1", "[maxpool]\nsize = 3\nstride = 1\n[dense]\nunits = 3\n[softmax]\n", img, 3, 1.0f, 0);
    grad_check_in("avgpool", "[conv]\nfilters = 3\n[avgpool]\n[flatten]\n[dense]\nunits = 3\n[softmax]\n", img, 3, 1.0f, 0);
    grad_check_in("gap", "[conv]\nfilters = 4\n[gap]\n[dense]\nunits = 3\n[softmax]\n", img, 3, 1.0f, 0);
    grad_check_in("shortcut identity", "[conv]\nfilters = 3\n[bn]\n[avgpool]\nsize = 1\n[conv]\nfilters = 3\n[shortcut]\nfrom = -4\n"
                  "[gap]\n[dense]\nunits = 3\n[softmax]\n", img, 3, 1.0f, 0);
    grad_check_in("shortcut projection", "[conv]\nfilters = 2\n[relu]\n[conv]\nfilters = 4\nstride = 2\n[bn]\n"
                  "[shortcut]\nfrom = -3\n[flatten]\n[dense]\nunits = 3\n[softmax]\n", (bc_shape){2, 4, 4}, 4, 1.0f, 0);
    grad_check_in("two shortcuts, one source", "[conv]\nfilters = 2\n[relu]\n[conv]\nfilters = 2\n[shortcut]\nfrom = -3\n"
                  "[conv]\nfilters = 2\n[shortcut]\nfrom = -5\n[gap]\n[dense]\nunits = 3\n[softmax]\n", img, 3, 1.0f, 0);
}

/* The analytic gradient does not depend on the thread count (bit for bit). */
static void test_threads(void) {
    const char *ini = "[dense]\nunits = 300\nbias = 0\n[bn]\n[relu]\n[dropout]\nrate = 0.3\n[dense]\nunits = 70\n"
                      "binary = 1\n[bn]\n[sign]\n[dense]\nunits = 40\n[hardtanh]\n[dense]\nunits = 3\n[softmax]\n";
    enum { N = 130 };
    float g_x[N * NF];
    int32_t y[N];
    make_batch(g_x, y, N, NF, 1.0f, 8);
    float *g[2] = {NULL, NULL}, *ig[2] = {NULL, NULL}, loss[2] = {0, 0};
    int64_t np = 0;
    for (int t = 0; t < 2; t++) {
        bc_ctx_set_threads(g_ctx, t + 1);
        bc_model *m = make_model(ini, k_in, 2);
        if (!m) break;
        np = bc_model_param_count(m);
        g[t] = malloc((size_t)np * sizeof(float));
        ig[t] = malloc(sizeof g_x);
        BC_CHECK(bc_model_loss_grad(m, g_x, y, N, 4, &loss[t], g[t], ig[t]) == BC_OK);
        bc_model_free(m);
    }
    bc_ctx_set_threads(g_ctx, 1);
    BC_CHECK(g[0] && g[1] && np > 300 * NF);
    if (g[0] && g[1]) {
        BC_CHECK(loss[0] == loss[1]);
        BC_CHECK(!memcmp(g[0], g[1], (size_t)np * sizeof(float)));
        BC_CHECK(!memcmp(ig[0], ig[1], sizeof g_x));
    }
    for (int t = 0; t < 2; t++) { free(g[t]); free(ig[t]); }
}

/* softmax alone: the input gradient is (p - onehot) / n. */
static void test_softmax_ce(void) {
    bc_model *m = make_model("[softmax]\n", (bc_shape){1, 1, NC}, 1);
    if (!m) return;
    enum { N = 4 };
    float x[N * NC], ig[N * NC], g[1];
    int32_t y[N];
    make_batch(x, y, N, NC, 2.0f, 3);
    float loss;
    BC_CHECK(bc_model_param_count(m) == 0);
    BC_CHECK(bc_model_loss_grad(m, x, y, N, 0, &loss, g, ig) == BC_OK);
    double want_loss = 0;
    for (int r = 0; r < N; r++) {
        double mx = x[r * NC], s = 0;
        for (int j = 1; j < NC; j++) mx = fmax(mx, x[r * NC + j]);
        for (int j = 0; j < NC; j++) s += exp(x[r * NC + j] - mx);
        for (int j = 0; j < NC; j++) {
            double pj = exp(x[r * NC + j] - mx) / s;
            BC_CHECK_NEAR(ig[r * NC + j], (pj - (j == y[r])) / N, 1e-6);
        }
        want_loss -= (x[r * NC + y[r]] - mx) - log(s);
    }
    BC_CHECK_NEAR(loss, want_loss / N, 1e-5);
    /* A training step needs no input gradient: the softmax layer must not write one (this
     * crashed with a NULL dx before layers.c checked it). Nothing to update, nothing changes. */
    float loss2 = NAN;
    int64_t correct = -1;
    BC_CHECK(bc_model_train_step(m, x, y, N, 0.1f, &loss2, &correct) == BC_OK);
    BC_CHECK(loss2 == loss && correct >= 0 && correct <= N);
    bc_model_free(m);
}

static float sgnf(float v) { return v >= 0.0f ? 1.0f : -1.0f; }

static bc_view tensor(bc_model *m, int32_t i, const char *want) {
    const char *name = NULL;
    bc_view v;
    memset(&v, 0, sizeof v);
    BC_CHECK(bc_model_tensor(m, i, &name, &v) == BC_OK);
    BC_CHECK_MSG(name && !strcmp(name, want), "tensor %d is %s, expected %s", (int)i, name ? name : "?", want);
    return v;
}

/* logits[r][j] = sum_i s(x[r][i]) W[j][i] + b[j], with s = sign or identity. */
static void hand_logits(const float *x, int n, const float *w, const float *b, bool sign_x, bool sign_w, double *z) {
    for (int r = 0; r < n; r++)
        for (int j = 0; j < NC; j++) {
            double s = b ? b[j] : 0.0;
            for (int i = 0; i < NF; i++) {
                float xv = sign_x ? sgnf(x[r * NF + i]) : x[r * NF + i];
                float wv = sign_w ? sgnf(w[j * NF + i]) : w[j * NF + i];
                s += (double)xv * wv;
            }
            z[r * NC + j] = s;
        }
}

/* dL/dz = (softmax(z) - onehot(y)) / n */
static void hand_dz(const double *z, const int32_t *y, int n, double *dz) {
    for (int r = 0; r < n; r++) {
        double mx = z[r * NC], s = 0;
        for (int j = 1; j < NC; j++) mx = fmax(mx, z[r * NC + j]);
        for (int j = 0; j < NC; j++) s += exp(z[r * NC + j] - mx);
        for (int j = 0; j < NC; j++) dz[r * NC + j] = (exp(z[r * NC + j] - mx) / s - (j == y[r])) / n;
    }
}

/* [sign] STE: input_grad = (dL/dsign) * 1{|x| <= 1}; sign(0) = +1 in the forward. */
static void test_sign_ste(void) {
    bc_model *m = make_model("[sign]\n[dense]\nunits = 3\n[softmax]\n", k_in, 3);
    if (!m) return;
    enum { N = 4 };
    const float x[N * NF] = {
        0.5f, -0.3f, 1.5f, -2.0f, 0.9f, 1.0f,
        0.0f, -1.0f, -1.01f, 3.0f, -0.2f, 0.7f,
        -0.6f, 0.25f, 1.2f, -0.05f, 0.8f, -4.0f,
        0.1f, 0.999f, -0.999f, 1.001f, 0.0f, -0.4f,
    };
    const int32_t y[N] = {0, 2, 1, 2};
    const float *w = tensor(m, 0, "L1.dense.weight").data;
    const float *b = tensor(m, 1, "L1.dense.bias").data;
    double z[N * NC], dz[N * NC];
    hand_logits(x, N, w, b, true, false, z);
    hand_dz(z, y, N, dz);

    float logits[N * NC];
    BC_CHECK(bc_model_predict(m, x, N, logits) == BC_OK);
    for (int i = 0; i < N * NC; i++) BC_CHECK_NEAR(logits[i], z[i], 1e-5);

    float ig[N * NF], grad[NC * NF + NC], loss;
    BC_CHECK(bc_model_loss_grad(m, x, y, N, 0, &loss, grad, ig) == BC_OK);
    int passed = 0, blocked = 0;
    double norm = 0;
    for (int r = 0; r < N; r++)
        for (int i = 0; i < NF; i++) {
            double ds = 0;
            for (int j = 0; j < NC; j++) ds += dz[r * NC + j] * w[j * NF + i];
            double want = fabsf(x[r * NF + i]) <= 1.0f ? ds : 0.0;
            if (want != 0.0) passed++;
            else blocked++;
            norm += want * want;
            BC_CHECK_MSG(fabs(ig[r * NF + i] - want) <= 1e-6, "x[%d][%d] = %g: input grad %g, expected %g", r, i,
                         (double)x[r * NF + i], (double)ig[r * NF + i], want);
        }
    BC_CHECK(norm > 0 && passed > 0 && blocked > 0);
    /* The dense weight gradient sees sign(x): dW = dz^T sign(x). */
    for (int j = 0; j < NC; j++)
        for (int i = 0; i < NF; i++) {
            double s = 0;
            for (int r = 0; r < N; r++) s += dz[r * NC + j] * sgnf(x[r * NF + i]);
            BC_CHECK_NEAR(grad[j * NF + i], s, 1e-6);
        }
    bc_model_free(m);
}

/* Binary dense: the forward uses sign(W) with sign(0) = +1; the latent gradient equals the
 * gradient of a float dense layer whose weights are sign(W), zeroed where |W| > 1. */
static void test_binary_dense_ste(void) {
    bc_model *mb = make_model("[dense]\nunits = 3\nbinary = 1\n[softmax]\n", k_in, 5);
    bc_model *mf = make_model("[dense]\nunits = 3\nbias = 0\n[softmax]\n", k_in, 6);
    if (!mb || !mf) { bc_model_free(mb); bc_model_free(mf); return; }
    BC_CHECK(bc_model_tensor_count(mb) == 1); /* binary => no bias by default */
    BC_CHECK(bc_model_param_count(mb) == NC * NF);
    float *w = tensor(mb, 0, "L0.dense.weight").data;
    w[2] = 1.5f;   /* outside [-1, 1]: gradient blocked */
    w[7] = 0.0f;   /* sign(0) = +1 */
    w[9] = -1.0f;  /* on the boundary: gradient passes */
    w[13] = -2.0f; /* outside */
    float *wf = tensor(mf, 0, "L0.dense.weight").data;
    for (int i = 0; i < NC * NF; i++) wf[i] = sgnf(w[i]);

    enum { N = 5 };
    float x[N * NF];
    int32_t y[N];
    make_batch(x, y, N, NF, 1.0f, 4);
    double z[N * NC];
    hand_logits(x, N, w, NULL, false, true, z);
    float logits[N * NC];
    BC_CHECK(bc_model_predict(mb, x, N, logits) == BC_OK);
    for (int i = 0; i < N * NC; i++) BC_CHECK_NEAR(logits[i], z[i], 1e-5);
    /* sign(0) = +1 matters: with -1 in its place the logits of unit 1 differ. */
    double z_neg[N * NC];
    w[7] = -1e-30f;
    hand_logits(x, N, w, NULL, false, true, z_neg);
    w[7] = 0.0f;
    double diff = 0;
    for (int i = 0; i < N * NC; i++) diff += fabs(z_neg[i] - z[i]);
    BC_CHECK(diff > 0.1);

    float gb[NC * NF], gf[NC * NF], igb[N * NF], igf[N * NF], lb, lf;
    BC_CHECK(bc_model_loss_grad(mb, x, y, N, 0, &lb, gb, igb) == BC_OK);
    BC_CHECK(bc_model_loss_grad(mf, x, y, N, 0, &lf, gf, igf) == BC_OK);
    BC_CHECK(lb == lf);
    double norm = 0;
    for (int i = 0; i < NC * NF; i++) {
        float want = fabsf(w[i]) > 1.0f ? 0.0f : gf[i];
        BC_CHECK_MSG(fabsf(gb[i] - want) <= 1e-6f, "w[%d] = %g: grad %g, expected %g", i, (double)w[i], (double)gb[i], (double)want);
        norm += (double)gb[i] * gb[i];
    }
    BC_CHECK(gb[2] == 0.0f && gb[13] == 0.0f && gf[2] != 0.0f && gf[13] != 0.0f);
    BC_CHECK(gb[9] != 0.0f && gb[7] != 0.0f);
    BC_CHECK(norm > 0);
    /* The input gradient goes through sign(W), exactly like the float layer. */
    for (int i = 0; i < N * NF; i++) BC_CHECK_NEAR(igb[i], igf[i], 1e-6);
    /* And the float layer's gradient is the hand one: dW = dz^T x. */
    double dz[N * NC];
    hand_dz(z, y, N, dz);
    for (int j = 0; j < NC; j++)
        for (int i = 0; i < NF; i++) {
            double s = 0;
            for (int r = 0; r < N; r++) s += dz[r * NC + j] * x[r * NF + i];
            BC_CHECK_NEAR(gf[j * NF + i], s, 1e-6);
        }
    bc_model_free(mb);
    bc_model_free(mf);
}

/* In a BNN, everything after the last sign is differentiable: finite differences must match
 * there, and the STE gradients before it must be non-zero. */
static void test_bnn_tail(void) {
    bc_model *m = make_model("[dense]\nunits = 8\nbias = 0\n[bn]\n[sign]\n[dense]\nunits = 5\nbinary = 1\n"
                             "[bn]\n[dense]\nunits = 3\n[softmax]\n", k_in, 11);
    if (!m) return;
    enum { N = 6 };
    float x[N * NF];
    int32_t y[N];
    make_batch(x, y, N, NF, 1.0f, 5);
    const int64_t np = bc_model_param_count(m);
    float *g = malloc((size_t)np * sizeof *g), *p = malloc((size_t)np * sizeof *p);
    float loss;
    BC_CHECK(bc_model_loss_grad(m, x, y, N, 0, &loss, g, NULL) == BC_OK);
    bc_model_get_params(m, p);
    int checked = 0;
    for (int32_t t = 0; t < m->n_tensors; t++) {
        const bc__tensor *tt = &m->tensors[t];
        if (!tt->trainable) continue;
        double s = 0;
        for (int64_t i = 0; i < tt->count; i++) s += (double)g[tt->offset + i] * g[tt->offset + i];
        BC_CHECK_MSG(s > 0, "BNN: gradient of %s is all zero", tt->name);
        /* L3 (binary latent weights) sits before the last sign's output only through the STE;
         * L4 (bn) and L5 (dense) are after the last sign and differentiable. */
        if (strncmp(tt->name, "L4.", 3) && strncmp(tt->name, "L5.", 3)) continue;
        for (int64_t i = 0; i < tt->count; i++) {
            int64_t k = tt->offset + i;
            float keep = p[k];
            const double eps = 2e-3;
            p[k] = (float)(keep + eps);
            bc_model_set_params(m, p);
            double lp = loss_of(m, x, y, N, 0);
            p[k] = (float)(keep - eps);
            bc_model_set_params(m, p);
            double lm = loss_of(m, x, y, N, 0);
            p[k] = keep;
            double num = (lp - lm) / ((double)(float)(keep + eps) - (double)(float)(keep - eps));
            BC_CHECK_MSG(close_enough(g[k], num, 1e-2, 1e-3), "BNN %s[%lld]: analytic %g numeric %g", tt->name,
                         (long long)i, (double)g[k], num);
            checked++;
        }
    }
    bc_model_set_params(m, p);
    BC_CHECK(checked == 5 + 5 + 3 * 5 + 3);
    free(g);
    free(p);
    bc_model_free(m);
}

/* A huge step pushes latent binary weights out of [-1, 1]; clipping brings them back. Float
 * weights are not clipped. */
static void test_clipping(void) {
    bc_model *m = make_model("[net]\noptimizer = sgd\nmomentum = 0\n[dense]\nunits = 16\n[bn]\n[sign]\n"
                             "[dense]\nunits = 16\nbinary = 1\n[bn]\n[sign]\n[dense]\nunits = 3\n[softmax]\n",
                             k_in, 13);
    if (!m) return;
    enum { N = 6 };
    float x[N * NF];
    int32_t y[N];
    make_batch(x, y, N, NF, 1.0f, 6);
    for (int s = 0; s < 3; s++) {
        float loss;
        BC_CHECK(bc_model_train_step(m, x, y, N, 500.0f, &loss, NULL) == BC_OK);
    }
    int at_bound = 0, float_big = 0;
    for (int32_t t = 0; t < m->n_tensors; t++) {
        const bc__tensor *tt = &m->tensors[t];
        const float *w = m->params + tt->offset;
        if (!tt->trainable) continue;
        for (int64_t i = 0; i < tt->count; i++) {
            if (tt->clip_unit) {
                BC_CHECK_MSG(w[i] >= -1.0f && w[i] <= 1.0f, "%s[%lld] = %g", tt->name, (long long)i, (double)w[i]);
                at_bound += fabsf(w[i]) == 1.0f;
            } else if (!strcmp(tt->name, "L0.dense.weight") || !strcmp(tt->name, "L6.dense.weight")) {
                float_big += fabsf(w[i]) > 1.0f;
            }
        }
        BC_CHECK(tt->clip_unit == !strcmp(tt->name, "L3.dense.weight"));
    }
    BC_CHECK_MSG(at_bound > 0, "no latent weight reached the clip bound");
    BC_CHECK_MSG(float_big > 0, "float weights never left [-1, 1]: the test step was too small");
    bc_model_free(m);
}

static float bf16r(double v) { return bc__bf16_to_f32(bc__bf16_of((float)v)); }

/* The bf16 specification by hand on [sign][binary dense][softmax]: dW = bf16(dz)^T sign(x),
 * input gradient = (bf16(dz) sign(W)) where |x| <= 1; sums of a few exact products. */
static void test_bf16_hand(const bc__bf16_kernels *kern) {
    bc_model *m = make_model("[sign]\n[dense]\nunits = 3\nbinary = 1\n[softmax]\n", k_in, 17);
    if (!m) return;
    m->bf16 = kern;
    enum { N = 7 };
    float x[N * NF];
    int32_t y[N];
    make_batch(x, y, N, NF, 1.3f, 9);
    const float *w = tensor(m, 0, "L1.dense.weight").data;
    double z[N * NC], dz[N * NC];
    hand_logits(x, N, w, NULL, true, true, z);
    hand_dz(z, y, N, dz);
    float g[NC * NF], ig[N * NF], loss;
    BC_CHECK(bc_model_loss_grad(m, x, y, N, 0, &loss, g, ig) == BC_OK);
    int rounded = 0; /* dW entries where rounding dz to bf16 moved the exact sum */
    for (int j = 0; j < NC; j++)
        for (int i = 0; i < NF; i++) {
            double s = 0, s32 = 0;
            for (int r = 0; r < N; r++) {
                s += (double)bf16r(dz[r * NC + j]) * sgnf(x[r * NF + i]);
                s32 += dz[r * NC + j] * sgnf(x[r * NF + i]);
            }
            BC_CHECK_MSG(fabs(g[j * NF + i] - s) <= 1e-6 * (1 + fabs(s)), "%s: dW[%d][%d] %g, bf16 hand %g", kern->name,
                         j, i, (double)g[j * NF + i], s);
            rounded += fabs(s - s32) > 1e-6;
        }
    BC_CHECK_MSG(rounded > 0, "%s: dz rounded to bf16 changed no weight gradient (test too weak)", kern->name);
    for (int r = 0; r < N; r++)
        for (int i = 0; i < NF; i++) {
            double s = 0;
            for (int j = 0; j < NC; j++) s += (double)bf16r(dz[r * NC + j]) * sgnf(w[j * NF + i]);
            const double want = fabsf(x[r * NF + i]) <= 1.0f ? s : 0.0;
            BC_CHECK_MSG(fabs(ig[r * NF + i] - want) <= 1e-6 * (1 + fabs(want)), "%s: input grad [%d][%d] %g, bf16 hand %g",
                         kern->name, r, i, (double)ig[r * NF + i], want);
        }
    bc_model_free(m);
}

/* Gradients of m with the fp32 and the kern GEMMs. */
static void grads_both(bc_model *m, const bc__bf16_kernels *kern, const float *x, const int32_t *y, int64_t n,
                       float *g32, float *g16, float *ig32, float *ig16) {
    float l32 = NAN, l16 = NAN;
    m->bf16 = NULL;
    BC_CHECK(bc_model_loss_grad(m, x, y, n, 0, &l32, g32, ig32) == BC_OK);
    m->bf16 = kern;
    BC_CHECK(bc_model_loss_grad(m, x, y, n, 0, &l16, g16, ig16) == BC_OK);
    BC_CHECK(l32 == l16); /* the forward does not change */
}

/* Binary convs (first one on the first sign's output) with channel counts and pixel counts
 * that are not multiples of the tiles: every tensor's bf16 gradient stays within a few bf16
 * roundings (relative to the tensor's largest entry) of the fp32 one, and the binary
 * layers' gradients do change (the bf16 path ran). Float-only layers before the first sign
 * get the same bits. */
static void test_bf16_vs_fp32(const bc__bf16_kernels *kern) {
    const char *ini = "[conv]\nfilters = 5\nbias = 0\n[bn]\n[sign]\n"
                      "[conv]\nfilters = 37\nbinary = 1\n[maxpool]\n[bn]\n[sign]\n"
                      "[conv]\nfilters = 20\nbinary = 1\nstride = 2\n[bn]\n[sign]\n"
                      "[flatten]\n[dense]\nunits = 19\nbinary = 1\n[bn]\n[sign]\n[dense]\nunits = 3\n[softmax]\n";
    const bc_shape in = {3, 9, 11};
    const int64_t n = 13, nf = (int64_t)in.c * in.h * in.w;
    bc_model *m = make_model(ini, in, 23);
    if (!m) return;
    const int64_t np = bc_model_param_count(m);
    float *x = malloc((size_t)(n * nf) * sizeof *x), *g32 = malloc((size_t)np * sizeof *g32);
    float *g16 = malloc((size_t)np * sizeof *g16), *ig32 = malloc((size_t)(n * nf) * sizeof *ig32);
    float *ig16 = malloc((size_t)(n * nf) * sizeof *ig16);
    int32_t y[13];
    make_batch(x, y, n, nf, 1.0f, 12);
    grads_both(m, kern, x, y, n, g32, g16, ig32, ig16);
    int changed = 0;
    for (int32_t t = 0; t < m->n_tensors; t++) {
        const bc__tensor *tt = &m->tensors[t];
        if (!tt->trainable) continue;
        double mx = 0, err = 0;
        int diff = 0;
        for (int64_t i = 0; i < tt->count; i++) {
            mx = fmax(mx, fabs(g32[tt->offset + i]));
            err = fmax(err, fabs((double)g16[tt->offset + i] - g32[tt->offset + i]));
            diff += g16[tt->offset + i] != g32[tt->offset + i];
        }
        BC_CHECK_MSG(mx > 0, "%s: %s gradient all zero", kern->name, tt->name);
        BC_CHECK_MSG(err <= 0x1p-6 * mx, "%s: %s bf16 gradient off by %g (largest entry %g)", kern->name, tt->name,
                     err, mx);
        if (tt->clip_unit) changed += diff > 0;
    }
    BC_CHECK_MSG(changed == 3, "%s: %d of 3 binary layers' gradients changed with bf16", kern->name, changed);
    double mx = 0, err = 0;
    for (int64_t i = 0; i < n * nf; i++) {
        mx = fmax(mx, fabs(ig32[i]));
        err = fmax(err, fabs((double)ig16[i] - ig32[i]));
    }
    BC_CHECK_MSG(mx > 0 && err <= 0x1p-6 * mx, "%s: input gradient off by %g (largest %g)", kern->name, err, mx);
    bc_model_free(m);
    /* No binary layer on ±1 input: bf16 changes nothing (the binary dense here reads floats). */
    bc_model *mf = make_model("[conv]\nfilters = 4\n[bn]\n[relu]\n[flatten]\n[dense]\nunits = 6\nbinary = 1\n"
                              "[dense]\nunits = 3\n[softmax]\n", in, 29);
    if (mf) {
        const int64_t npf = bc_model_param_count(mf);
        float *a = malloc((size_t)npf * sizeof *a), *b = malloc((size_t)npf * sizeof *b);
        grads_both(mf, kern, x, y, n, a, b, ig32, ig16);
        BC_CHECK_MSG(!memcmp(a, b, (size_t)npf * sizeof *a) && !memcmp(ig32, ig16, (size_t)(n * nf) * sizeof *ig32),
                     "%s: bf16 changed a network without binary layers on ±1 input", kern->name);
        free(a), free(b);
        bc_model_free(mf);
    }
    free(x), free(g32), free(g16), free(ig32), free(ig16);
}

/* bf16 gradients are the same bits for 1 and 2 threads (fixed blocks in the driver). */
static void test_bf16_threads(const bc__bf16_kernels *kern) {
    const char *ini = "[conv]\nfilters = 8\nbias = 0\n[bn]\n[sign]\n[conv]\nfilters = 40\nbinary = 1\n[bn]\n[sign]\n"
                      "[flatten]\n[dense]\nunits = 300\nbinary = 1\n[bn]\n[sign]\n[dense]\nunits = 3\n[softmax]\n";
    const bc_shape in = {1, 12, 12};
    enum { N = 40 };
    float *x = malloc(N * 144 * sizeof *x), *g[2] = {NULL, NULL};
    int32_t y[N];
    make_batch(x, y, N, 144, 1.0f, 14);
    int64_t np = 0;
    for (int t = 0; t < 2; t++) {
        bc_ctx_set_threads(g_ctx, t + 1);
        bc_model *m = make_model(ini, in, 31);
        if (!m) break;
        m->bf16 = kern;
        np = bc_model_param_count(m);
        g[t] = malloc((size_t)np * sizeof(float));
        float loss;
        BC_CHECK(bc_model_loss_grad(m, x, y, N, 0, &loss, g[t], NULL) == BC_OK);
        bc_model_free(m);
    }
    bc_ctx_set_threads(g_ctx, 1);
    BC_CHECK_MSG(g[0] && g[1] && !memcmp(g[0], g[1], (size_t)np * sizeof(float)), "%s: 1 and 2 threads differ", kern->name);
    free(g[0]), free(g[1]), free(x);
}

/* A batch big enough that each of the conv's 8 weight-gradient groups sums two im2col chunks
 * (vgg-small-bnn's second conv on 40 samples): bf16 stays close to fp32. SIMD kernels only
 * (the scalar one would take seconds). */
static void test_bf16_chunks(const bc__bf16_kernels *kern) {
    const bc_shape in = {64, 28, 28};
    const int64_t n = 40, nf = (int64_t)in.c * in.h * in.w;
    bc_model *m = make_model("[sign]\n[conv]\nfilters = 64\nbinary = 1\n[maxpool]\nsize = 4\n[flatten]\n"
                             "[dense]\nunits = 3\n[softmax]\n", in, 37);
    if (!m) return;
    BC_CHECK(bc__conv_chunks(&m->layers[1], n) == 2 * BC__WSLOTS);
    const int64_t np = bc_model_param_count(m);
    float *x = malloc((size_t)(n * nf) * sizeof *x), *g32 = malloc((size_t)np * sizeof *g32);
    float *g16 = malloc((size_t)np * sizeof *g16), *ig32 = malloc((size_t)(n * nf) * sizeof *ig32);
    float *ig16 = malloc((size_t)(n * nf) * sizeof *ig16);
    int32_t y[40];
    make_batch(x, y, n, nf, 1.0f, 15);
    grads_both(m, kern, x, y, n, g32, g16, ig32, ig16);
    const bc__tensor *tw = &m->tensors[0]; /* L1.conv.weight */
    double mx = 0, err = 0;
    for (int64_t i = 0; i < tw->count; i++) {
        mx = fmax(mx, fabs(g32[tw->offset + i]));
        err = fmax(err, fabs((double)g16[tw->offset + i] - g32[tw->offset + i]));
    }
    BC_CHECK_MSG(mx > 0 && err <= 0x1p-6 * mx, "%s: %s over 2 chunks per group off by %g (largest %g)", kern->name,
                 tw->name, err, mx);
    mx = err = 0;
    for (int64_t i = 0; i < n * nf; i++) {
        mx = fmax(mx, fabs(ig32[i]));
        err = fmax(err, fabs((double)ig16[i] - ig32[i]));
    }
    BC_CHECK_MSG(mx > 0 && err <= 0x1p-6 * mx, "%s: input gradient off by %g (largest %g)", kern->name, err, mx);
    free(x), free(g32), free(g16), free(ig32), free(ig16);
    bc_model_free(m);
}

/* The switch: fp32 is sgemm; bf16 is the best table, else scalar; auto is bf16 with AMX only. */
static void test_gemm_switch(void) {
    bc_model *m = make_model("[sign]\n[dense]\nunits = 3\nbinary = 1\n[softmax]\n", k_in, 3);
    if (!m) return;
    const bc__bf16_kernels *best = bc__bf16_kernels_for(bc_ctx_cpu(g_ctx));
    const char *kn = NULL;
    BC_CHECK(bc_model_set_gemm(m, BC_GEMM_FP32) == BC_OK);
    BC_CHECK(bc_model_gemm(m, &kn) == BC_GEMM_FP32 && !strcmp(kn, "sgemm"));
    BC_CHECK(bc_model_set_gemm(m, BC_GEMM_BF16) == BC_OK);
    BC_CHECK(bc_model_gemm(m, &kn) == BC_GEMM_BF16 && !strcmp(kn, best ? best->name : "scalar"));
    BC_CHECK(bc_model_set_gemm(m, BC_GEMM_AUTO) == BC_OK);
    const bool amx = best && !strcmp(best->name, "amx");
    BC_CHECK(bc_model_gemm(m, &kn) == (amx ? BC_GEMM_BF16 : BC_GEMM_FP32) && !strcmp(kn, amx ? "amx" : "sgemm"));
    BC_CHECK(bc_model_set_gemm(m, BC_GEMM_COUNT) == BC_ERR_PARAM && bc_model_set_gemm(m, (bc_gemm)-1) == BC_ERR_PARAM);
    BC_CHECK(!strcmp(bc_gemm_name(BC_GEMM_AUTO), "auto") && !strcmp(bc_gemm_name(BC_GEMM_BF16), "bf16"));
    bc_model_free(m);
}

static void test_bf16(void) {
    test_gemm_switch();
    static const char *names[] = {"scalar", "avx512bf16", "amx"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const bc__bf16_kernels *kern = bc__bf16_kernels_named(names[i]);
        if (!kern) continue;
        test_bf16_hand(kern);
        test_bf16_vs_fp32(kern);
        test_bf16_threads(kern);
        if (kern != &bc__bf16_kernels_scalar) test_bf16_chunks(kern);
    }
}

int main(void) {
    if (bc_ctx_new(&g_ctx) != BC_OK) {
        fprintf(stderr, "bc_ctx_new: %s\n", bc_last_error());
        return 1;
    }
    /* Finite differences run thousands of tiny forward passes: one thread (threads only add
     * OpenMP barriers here); test_threads checks that 2 threads give the same gradients. */
    bc_ctx_set_threads(g_ctx, 1);
    test_threads();
    test_finite_differences();
    test_softmax_ce();
    test_sign_ste();
    test_binary_dense_ste();
    test_bnn_tail();
    test_clipping();
    test_bf16();
    bc_ctx_free(g_ctx);
    return bc_t_report();
}
