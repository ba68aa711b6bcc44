/* Training: 1 vs N threads give the same bits; tiny runs converge on the synthetic data; Adam and
 * SGD-momentum steps match PyTorch's update rules (weight decay on dense weights only, group
 * lr_scale); learning-rate schedules; checkpoint round trip and corrupt checkpoints; the float
 * GEMM against its reference. */
#include "nn/model.h"
#include "kernels/gemm.h"
#include "bc_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bc_ctx *g_ctx;
static bc_dataset *g_train, *g_test;
static bc_norm g_norm;
static char g_dir[64];
static bool g_verbose;
static double g_t0;

static const char *tpath(const char *name) { return bc_t_path(g_dir, name); }

static bc_model *make_model(const char *ini, bc_shape in, uint64_t seed) {
    return bc_t_model(g_ctx, "train", ini, in, seed);
}

/* All tensors (parameters and running statistics) concatenated. */
static float *snapshot(bc_model *m, int64_t *count) {
    int64_t total = 0;
    for (int32_t i = 0; i < bc_model_tensor_count(m); i++) {
        bc_view v;
        bc_model_tensor(m, i, NULL, &v);
        total += bc_view_numel(&v);
    }
    float *out = malloc((size_t)total * sizeof *out), *p = out;
    for (int32_t i = 0; i < bc_model_tensor_count(m); i++) {
        bc_view v;
        bc_model_tensor(m, i, NULL, &v);
        memcpy(p, v.data, (size_t)bc_view_numel(&v) * sizeof *p);
        p += bc_view_numel(&v);
    }
    *count = total;
    return out;
}

/* ---------------------------------------------------------------- (a) determinism */

static float *train_with_threads(const bc_dataset *train, const char *ini, int32_t threads, int32_t epochs,
                                 int64_t *count, double *acc) {
    BC_CHECK(bc_ctx_set_threads(g_ctx, threads) == BC_OK);
    bc_model *m = make_model(ini, bc_dataset_shape(train), 21);
    if (!m) return NULL;
    bc_train_opts o = bc_train_opts_default(bc_model_spec(m));
    o.spec.epochs = epochs;
    o.seed = 5;
    o.norm = g_norm;
    bc_train_result r;
    bc_status st = bc_train(m, train, g_test, &o, &r);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    *acc = r.facts.test_accuracy;
    float *snap = snapshot(m, count);
    bc_model_free(m);
    return snap;
}

static void check_same_bits(const char *what, const char *ini) {
    /* A smaller training set than the shared one keeps this quick; 2 epochs of 10 batches. */
    bc_dataset *train = NULL;
    BC_CHECK(bc_dataset_synthetic(1000, 77, &train) == BC_OK);
    if (!train) return;
    int64_t n1 = 0, n2 = 0;
    double a1 = 0, a2 = 0;
    float *p1 = train_with_threads(train, ini, 1, 2, &n1, &a1);
    float *p2 = train_with_threads(train, ini, 2, 2, &n2, &a2);
    BC_CHECK(p1 && p2 && n1 == n2 && n1 > 0);
    if (p1 && p2 && n1 == n2) {
        int64_t diff = 0;
        for (int64_t i = 0; i < n1; i++) diff += memcmp(&p1[i], &p2[i], sizeof *p1) != 0;
        BC_CHECK_MSG(diff == 0, "%s: %lld of %lld values differ between 1 and 2 threads", what, (long long)diff, (long long)n1);
    }
    BC_CHECK_MSG(a1 == a2, "%s: test accuracy %g vs %g", what, a1, a2);
    BC_CHECK_MSG(a1 > 0.3, "%s: two epochs reached only %g", what, a1); /* it trained at all */
    bc_dataset_free(train);
    if (g_verbose) printf("[%.1fs] determinism %-10s %lld values, acc %.3f\n", bc__now() - g_t0, what, (long long)n1, a1);
    free(p1);
    free(p2);
    bc_ctx_set_threads(g_ctx, 1);
}

static void test_determinism(void) {
    /* 100 x 64 x 512 and 512 x 64 x 100 GEMMs take the blocked path (m*n*k >= 2^18). */
    check_same_bits("bnn", "[dense]\nunits = 512\nbias = 0\n[bn]\n[sign]\n[dense]\nunits = 64\nbinary = 1\n"
                           "[bn]\n[sign]\n[dense]\nunits = 10\n[softmax]\n");
    check_same_bits("fp-dropout", "[net]\noptimizer = sgd\nlr = 0.05\nmomentum = 0.9\nweight_decay = 1e-4\n"
                                  "[dense]\nunits = 600\n[relu]\n[dropout]\nrate = 0.3\n[dense]\nunits = 64\n"
                                  "[hardtanh]\n[dense]\nunits = 10\n[softmax]\n");
}

/* ---------------------------------------------------------------- (b) convergence */

typedef struct {
    const bc_train_spec *spec;
    int32_t epochs_seen;
    bool lr_ok;
    double last_train_loss, first_train_loss;
} epoch_log;

static void on_epoch(void *user, const bc_epoch_stats *st) {
    epoch_log *l = user;
    if (st->epoch != l->epochs_seen + 1) l->lr_ok = false;
    if (st->lr != bc_train_lr(l->spec, st->epoch - 1)) l->lr_ok = false;
    if (st->epoch == 1) l->first_train_loss = st->train_loss;
    l->last_train_loss = st->train_loss;
    l->epochs_seen = st->epoch;
    if (g_verbose) printf("  epoch %d lr %.5f train loss %.4f acc %.3f test acc %.3f\n", (int)st->epoch, (double)st->lr,
                          st->train_loss, st->train_accuracy, st->test_accuracy);
}

static void converge(const char *what, const char *ini, int32_t epochs, double want) {
    bc_model *m = make_model(ini, bc_dataset_shape(g_train), 3);
    if (!m) return;
    bc_eval_result e0;
    BC_CHECK(bc_evaluate(m, g_test, &g_norm, 0, &e0) == BC_OK);
    BC_CHECK_MSG(e0.accuracy < 0.3, "%s: untrained accuracy %g", what, e0.accuracy);
    BC_CHECK(e0.n == bc_dataset_count(g_test));
    bc_train_opts o = bc_train_opts_default(bc_model_spec(m));
    o.spec.epochs = epochs;
    o.norm = g_norm;
    epoch_log log = {.spec = &o.spec, .lr_ok = true};
    o.on_epoch = on_epoch;
    o.user = &log;
    bc_train_result r;
    bc_status st = bc_train(m, g_train, g_test, &o, &r);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    BC_CHECK_MSG(r.facts.test_accuracy >= want, "%s: test accuracy %.3f < %.2f after %d epochs", what,
                 r.facts.test_accuracy, want, (int)epochs);
    BC_CHECK(r.facts.epochs == epochs && log.epochs_seen == epochs && log.lr_ok);
    BC_CHECK(log.last_train_loss < log.first_train_loss);
    BC_CHECK(r.final_train_loss == log.last_train_loss);
    /* The evaluator agrees with the last epoch's number. */
    bc_eval_result e1;
    BC_CHECK(bc_evaluate(m, g_test, &g_norm, 37, &e1) == BC_OK);
    BC_CHECK_NEAR(e1.accuracy, r.facts.test_accuracy, 1e-12);
    if (g_verbose)
        printf("[%.1fs] converge %-4s untrained %.3f -> %.3f after %d epochs (loss %.3f -> %.3f)\n", bc__now() - g_t0, what, e0.accuracy,
               r.facts.test_accuracy, (int)epochs, log.first_train_loss, log.last_train_loss);
    bc_model_free(m);
}

/* Untrained nets score ~0.10; after 3 epochs these reach ~0.96 (BNN) and ~0.975 (float) on this
 * data (a nearest-prototype classifier gets ~0.97), so the thresholds leave a margin of 6 and 4.5
 * points while still requiring real learning. */
static void test_convergence(void) {
    converge("bnn", "[net]\nbatch = 50\n[dense]\nunits = 256\nbias = 0\n[bn]\n[sign]\n[dense]\nunits = 256\nbinary = 1\n"
                    "[bn]\n[sign]\n[dense]\nunits = 10\n[softmax]\n",
             3, 0.90);
    converge("fp", "[net]\nbatch = 50\n[dense]\nunits = 128\n[relu]\n[dense]\nunits = 10\n[softmax]\n", 3, 0.93);
}

/* ---------------------------------------------------------------- (c) optimizers */

enum { ON = 5, OF = 6 };

static void make_batch(float *x, int32_t *y, int64_t n, uint32_t tag) {
    bc_rng_key k = {.seed = 17, .purpose = BC_RNG_TEST, .layer = tag};
    for (int64_t i = 0; i < n * OF; i++) x[i] = bc_rng_normal(k, (uint64_t)i);
    for (int64_t r = 0; r < n; r++) y[r] = (int32_t)(bc_rng_u32(k, 1000 + (uint64_t)r) % 3);
}

/* Per-parameter weight decay and lr scale, read from tensor names (not the model's flags):
 * layer 0 is in group "slow", layer 2 in "frozen"; only "*.dense.weight" decays. */
static void param_rules(bc_model *m, float wd_default, float wd_slow, float *wd, float *scale) {
    int64_t off = 0;
    for (int32_t i = 0; i < bc_model_tensor_count(m); i++) {
        const char *name;
        bc_view v;
        bc_model_tensor(m, i, &name, &v);
        if (strstr(name, "running_")) continue;
        bool dense_w = strstr(name, ".dense.weight") != NULL;
        float s = 1.0f, d = wd_default;
        if (!strncmp(name, "L0.", 3)) { s = 0.5f; d = wd_slow; }
        if (!strncmp(name, "L2.", 3)) s = 0.0f;
        for (int64_t j = 0; j < bc_view_numel(&v); j++) {
            wd[off + j] = dense_w ? d : 0.0f;
            scale[off + j] = s;
        }
        off += bc_view_numel(&v);
    }
    BC_CHECK(off == bc_model_param_count(m));
}

static void check_optimizer(bool adam) {
    const char *ini = adam ?
        "[net]\noptimizer = adam\nbeta1 = 0.8\nbeta2 = 0.95\nweight_decay = 0.05\n"
        "[group]\nname = slow\nlr_scale = 0.5\nweight_decay = 0.2\n[group]\nname = frozen\nlr_scale = 0\n"
        "[dense]\nunits = 5\ngroup = slow\n[relu]\n[dense]\nunits = 4\ngroup = frozen\n[hardtanh]\n"
        "[dense]\nunits = 5\nbias = 0\n[bn]\n[dense]\nunits = 3\n[softmax]\n" :
        "[net]\noptimizer = sgd\nmomentum = 0.7\nweight_decay = 0.05\n"
        "[group]\nname = slow\nlr_scale = 0.5\nweight_decay = 0.2\n[group]\nname = frozen\nlr_scale = 0\n"
        "[dense]\nunits = 5\ngroup = slow\n[relu]\n[dense]\nunits = 4\ngroup = frozen\n[hardtanh]\n"
        "[dense]\nunits = 5\nbias = 0\n[bn]\n[dense]\nunits = 3\n[softmax]\n";
    const char *what = adam ? "adam" : "sgd";
    bc_model *m = make_model(ini, (bc_shape){1, 2, 3}, 9);
    if (!m) return;
    const int64_t np = bc_model_param_count(m);
    float *p0 = malloc((size_t)np * sizeof(float)), *g = malloc((size_t)np * sizeof(float));
    float *wd = malloc((size_t)np * sizeof(float)), *sc = malloc((size_t)np * sizeof(float));
    float *got = malloc((size_t)np * sizeof(float));
    double *w = malloc((size_t)np * sizeof(double)), *mo = calloc((size_t)np, sizeof(double)), *v = calloc((size_t)np, sizeof(double));
    param_rules(m, 0.05f, 0.2f, wd, sc);
    bc_model_get_params(m, p0);
    for (int64_t i = 0; i < np; i++) w[i] = p0[i];
    const double lr = 0.01, b1 = 0.8, b2 = 0.95, eps = 1e-8, mu = 0.7;
    float x[ON * OF];
    int32_t y[ON];
    int64_t frozen_off = -1, frozen_n = 0, nonzero_decay_diff = 0;
    for (int32_t step = 1; step <= 3; step++) {
        make_batch(x, y, ON, (uint32_t)step);
        float loss_g, loss_t;
        BC_CHECK(bc_model_loss_grad(m, x, y, ON, 0, &loss_g, g, NULL) == BC_OK);
        double gn = 0;
        for (int64_t i = 0; i < np; i++) gn += (double)g[i] * g[i];
        BC_CHECK(gn > 0);
        BC_CHECK(bc_model_train_step(m, x, y, ON, (float)lr, &loss_t, NULL) == BC_OK);
        BC_CHECK(loss_g == loss_t);
        /* PyTorch: g += wd * w; Adam: m, v moments with bias correction; SGD: buf = mu*buf + g. */
        for (int64_t i = 0; i < np; i++) {
            double gi = (double)g[i] + wd[i] * w[i], glr = lr * sc[i];
            if (adam) {
                mo[i] = b1 * mo[i] + (1 - b1) * gi;
                v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                double mh = mo[i] / (1 - pow(b1, step)), vh = v[i] / (1 - pow(b2, step));
                w[i] -= glr * mh / (sqrt(vh) + eps);
            } else {
                mo[i] = mu * mo[i] + gi;
                w[i] -= glr * mo[i];
            }
        }
        bc_model_get_params(m, got);
        int bad = 0;
        for (int64_t i = 0; i < np; i++) {
            double tol = 2e-4 * lr * step + 2e-7;
            if (fabs(got[i] - w[i]) > tol && bad++ < 5)
                fprintf(stderr, "%s step %d param %lld: got %.9g want %.9g (wd %g, scale %g)\n", what, (int)step,
                        (long long)i, (double)got[i], w[i], (double)wd[i], (double)sc[i]);
        }
        BC_CHECK_MSG(bad == 0, "%s step %d: %d parameters differ from the hand update", what, (int)step, bad);
    }
    /* Decay made a visible difference (the test is sensitive to it). */
    for (int64_t i = 0; i < np; i++) nonzero_decay_diff += wd[i] > 0 && sc[i] > 0;
    BC_CHECK(nonzero_decay_diff > 0);
    /* The frozen group (layer 2) is bit-for-bit unchanged. */
    int64_t off = 0;
    for (int32_t i = 0; i < bc_model_tensor_count(m); i++) {
        const char *name;
        bc_view tv;
        bc_model_tensor(m, i, &name, &tv);
        if (strstr(name, "running_")) continue;
        if (!strncmp(name, "L2.", 3)) {
            if (frozen_off < 0) frozen_off = off;
            frozen_n += bc_view_numel(&tv);
        }
        off += bc_view_numel(&tv);
    }
    BC_CHECK(frozen_off >= 0 && frozen_n == 4 * 5 + 4);
    if (frozen_off >= 0) BC_CHECK(!memcmp(got + frozen_off, p0 + frozen_off, (size_t)frozen_n * sizeof(float)));
    /* Everything else moved. */
    int64_t moved = 0;
    for (int64_t i = 0; i < np; i++) moved += got[i] != p0[i];
    BC_CHECK_MSG(moved >= np - frozen_n - 3, "%s: only %lld of %lld parameters moved", what, (long long)moved, (long long)np);
    free(p0); free(g); free(wd); free(sc); free(got); free(w); free(mo); free(v);
    bc_model_free(m);
}

/* One plain SGD step with a large decay: only the dense weight decays, not the dense bias and
 * not bn's weight (gamma, 1 at init, where a wrong decay would show at once). */
static void check_decay_sensitivity(void) {
    bc_model *m = make_model("[net]\noptimizer = sgd\nmomentum = 0\nweight_decay = 0.5\n[dense]\nunits = 3\n[bn]\n[softmax]\n",
                             (bc_shape){1, 2, 3}, 4);
    if (!m) return;
    const int64_t np = bc_model_param_count(m); /* weight 18, bias 3, gamma 3, beta 3 */
    BC_CHECK(np == 27);
    float p0[27], g[27], p1[27], x[ON * OF];
    int32_t y[ON];
    make_batch(x, y, ON, 9);
    bc_model_get_params(m, p0);
    BC_CHECK(bc_model_loss_grad(m, x, y, ON, 0, NULL, g, NULL) == BC_OK);
    BC_CHECK(bc_model_train_step(m, x, y, ON, 0.1f, NULL, NULL) == BC_OK);
    bc_model_get_params(m, p1);
    for (int i = 0; i < 27; i++) {
        double wdi = i < 18 ? 0.5 : 0.0; /* dense weight only; not the bias, not bn gamma (= 1) */
        BC_CHECK_NEAR(p1[i], p0[i] - 0.1 * (g[i] + wdi * p0[i]), 1e-6);
    }
    bc_model_free(m);
}

/* ---------------------------------------------------------------- (d) schedules */

static void test_schedules(void) {
    bc_netspec *s = NULL;
    BC_CHECK(bc_netspec_parse_text("[net]\nlr = 0.2\nepochs = 12\nstep_epochs = 5\nstep_gamma = 0.3\n"
                                   "[dense]\nunits = 2\n[softmax]\n", "sched", &s) == BC_OK);
    if (!s) return;
    bc_train_spec t = bc_netspec_train(s);
    BC_CHECK(t.schedule == BC_SCHED_COSINE);
    for (int32_t e = 0; e < 12; e++) {
        t.schedule = BC_SCHED_CONST;
        BC_CHECK(bc_train_lr(&t, e) == 0.2f);
        t.schedule = BC_SCHED_STEP;
        BC_CHECK_NEAR(bc_train_lr(&t, e), 0.2 * pow(0.3, e / 5), 1e-7);
        t.schedule = BC_SCHED_COSINE;
        BC_CHECK_NEAR(bc_train_lr(&t, e), 0.2 * 0.5 * (1 + cos(3.14159265358979323846 * e / 12.0)), 1e-6);
    }
    t.schedule = BC_SCHED_COSINE;
    BC_CHECK(bc_train_lr(&t, 0) == 0.2f);
    BC_CHECK_NEAR(bc_train_lr(&t, 6), 0.1, 1e-7);
    BC_CHECK(bc_train_lr(&t, 11) > 0.0f && bc_train_lr(&t, 11) < 0.01f);
    t.schedule = BC_SCHED_STEP;
    BC_CHECK(bc_train_lr(&t, 4) == 0.2f && bc_train_lr(&t, 5) < 0.2f);
    BC_CHECK_NEAR(bc_train_lr(&t, 10), 0.2 * 0.09, 1e-7);
    bc_netspec_free(s);
}

/* ---------------------------------------------------------------- (e) checkpoints */

/* Loading path must fail with BC_ERR_FORMAT, a NULL model, and a message naming the path. */
static void load_fails(const char *path, const char *what, const char *needle) {
    bc_model *m = (bc_model *)&m;
    bc_status st = bc_model_load(g_ctx, path, &m, NULL);
    const char *msg = bc_last_error();
    BC_CHECK_MSG(st == BC_ERR_FORMAT && m == NULL, "%s: status %d, '%s'", what, (int)st, msg);
    BC_CHECK_MSG(strstr(msg, path) != NULL, "%s: message '%s' does not name the file", what, msg);
    if (needle) BC_CHECK_MSG(strstr(msg, needle) != NULL, "%s: message '%s' lacks '%s'", what, msg, needle);
    if (st == BC_OK) bc_model_free(m);
}

/* Writes a checkpoint of m's tensors through bc_st_write, with tensor `alter` reshaped to
 * shape/ndim (or renamed when rename), and the given network text. */
static void write_altered(const char *path, bc_model *m, int32_t alter, int32_t ndim, const int64_t *shape,
                          const char *rename, const char *network, const char *norm_std) {
    int32_t nt = bc_model_tensor_count(m);
    bc_st_tensor_in *t = calloc((size_t)nt, sizeof *t);
    float *spare = calloc(4096, sizeof *spare);
    for (int32_t i = 0; i < nt; i++) {
        bc_view v;
        bc_model_tensor(m, i, &t[i].name, &v);
        t[i].ndim = v.ndim;
        for (int32_t d = 0; d < v.ndim; d++) t[i].shape[d] = v.ne[d];
        t[i].data = v.data;
        if (i == alter) {
            if (shape) {
                t[i].ndim = ndim;
                for (int32_t d = 0; d < ndim; d++) t[i].shape[d] = shape[d];
                t[i].data = spare;
            }
            if (rename) t[i].name = rename;
        }
    }
    char input[32];
    bc_shape in = bc_model_input(m);
    snprintf(input, sizeof input, "%dx%dx%d", in.c, in.h, in.w);
    const bc_st_meta_in meta[] = {
        {"format", "bitcell-1"}, {"network", network}, {"input", input},
        {"norm_mean", "0.5"}, {"norm_std", norm_std},
    };
    BC_CHECK_MSG(bc_st_write(path, t, nt, meta, 5) == BC_OK, "%s", bc_last_error());
    free(t);
    free(spare);
}

static void test_checkpoint(void) {
    const char *ini = "[net]\nname = ckpt\nbatch = 64\n[dense]\nunits = 16\nbias = 0\n[bn]\n[sign]\n"
                      "[dense]\nunits = 12\nbinary = 1\n[bn]\n[sign]\n[dense]\nunits = 10\n[softmax]\n";
    bc_model *m = make_model(ini, bc_dataset_shape(g_train), 8);
    if (!m) return;
    bc_train_opts o = bc_train_opts_default(bc_model_spec(m));
    o.spec.epochs = 1;
    o.seed = 123456789012345ull;
    o.norm = g_norm;
    bc_train_result r;
    BC_CHECK(bc_train(m, g_train, g_test, &o, &r) == BC_OK);
    snprintf(r.facts.dataset, sizeof r.facts.dataset, "synthetic");
    const char *path = tpath("model.safetensors");
    BC_CHECK_MSG(bc_model_save(m, path, &r.facts) == BC_OK, "%s", bc_last_error());

    bc_model *l = NULL;
    bc_train_facts f;
    memset(&f, 0xab, sizeof f);
    BC_CHECK_MSG(bc_model_load(g_ctx, path, &l, &f) == BC_OK, "%s", bc_last_error());
    if (!l) { bc_model_free(m); return; }
    BC_CHECK(!strcmp(bc_netspec_name(bc_model_spec(l)), "ckpt"));
    BC_CHECK(!strcmp(bc_netspec_text(bc_model_spec(l)), ini));
    BC_CHECK(bc_model_param_count(l) == bc_model_param_count(m));
    BC_CHECK(bc_model_tensor_count(l) == bc_model_tensor_count(m) && bc_model_tensor_count(m) == 12);
    for (int32_t i = 0; i < bc_model_tensor_count(m) && i < bc_model_tensor_count(l); i++) {
        const char *na, *nb;
        bc_view va, vb;
        bc_model_tensor(m, i, &na, &va);
        bc_model_tensor(l, i, &nb, &vb);
        BC_CHECK(!strcmp(na, nb) && va.ndim == vb.ndim && bc_view_numel(&va) == bc_view_numel(&vb));
        for (int32_t d = 0; d < va.ndim; d++) BC_CHECK(va.ne[d] == vb.ne[d]);
        BC_CHECK_MSG(!memcmp(va.data, vb.data, (size_t)bc_view_numel(&va) * sizeof(float)), "tensor %s differs", na);
    }
    /* Running statistics moved away from (0, 1) during training, so the round trip means something. */
    {
        bc_view v;
        const char *n;
        bc_model_tensor(l, 4, &n, &v);
        BC_CHECK(!strcmp(n, "L1.bn.running_var") && ((float *)v.data)[0] != 1.0f);
    }
    BC_CHECK(!strcmp(f.dataset, "synthetic") && f.epochs == 1 && f.seed == 123456789012345ull);
    BC_CHECK_NEAR(f.test_accuracy, r.facts.test_accuracy, 1e-6);
    BC_CHECK(f.norm.c == 1 && f.norm.mean[0] == g_norm.mean[0] && f.norm.std[0] == g_norm.std[0]);

    enum { NP = 70 };
    float *x = malloc(NP * 64 * sizeof(float)), za[NP * 10], zb[NP * 10];
    int32_t y[NP];
    int64_t idx[NP];
    for (int i = 0; i < NP; i++) idx[i] = i * 7;
    bc_dataset_batch(g_test, idx, NP, &g_norm, x, y);
    BC_CHECK(bc_model_predict(m, x, NP, za) == BC_OK);
    BC_CHECK(bc_model_predict(l, x, NP, zb) == BC_OK);
    BC_CHECK(!memcmp(za, zb, sizeof za));
    bc_eval_result ea, eb;
    BC_CHECK(bc_evaluate(m, g_test, &g_norm, 0, &ea) == BC_OK && bc_evaluate(l, g_test, &g_norm, 0, &eb) == BC_OK);
    BC_CHECK(ea.accuracy == eb.accuracy && ea.loss == eb.loss);
    /* A loaded model keeps training. */
    BC_CHECK(bc_model_train_step(l, x, y, NP, 1e-3f, NULL, NULL) == BC_OK);
    free(x);
    bc_model_free(l);

    /* Saving without facts gives neutral ones. */
    const char *p2 = tpath("nofacts.safetensors");
    BC_CHECK(bc_model_save(m, p2, NULL) == BC_OK);
    BC_CHECK(bc_model_load(g_ctx, p2, &l, &f) == BC_OK);
    BC_CHECK(f.epochs == 0 && f.dataset[0] == '\0' && f.norm.c == 1 && f.norm.std[0] == 1.0f && f.norm.mean[0] == 0.0f);
    bc_model_free(l);

    /* Truncated copies. */
    char *raw = NULL;
    size_t n = 0;
    BC_CHECK(bc__read_file(path, 1 << 26, &raw, &n) == BC_OK);
    if (raw && n > 64) {
        uint64_t hlen = 0;
        for (int k = 0; k < 8; k++) hlen |= (uint64_t)(unsigned char)raw[k] << (8 * k);
        BC_CHECK(hlen > 0 && 8 + hlen < n);
        const size_t cuts[] = {0, 1, 7, 8, 9, 8 + (size_t)hlen / 2, 8 + (size_t)hlen - 1, 8 + (size_t)hlen,
                               8 + (size_t)hlen + 1, 8 + (size_t)hlen + 4, n / 2 + 1, n - 4, n - 1};
        const char *pt = tpath("trunc.safetensors");
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
            bc_t_write_raw(pt, raw, cuts[c]);
            char what[64];
            snprintf(what, sizeof what, "truncated at %zu of %zu", cuts[c], n);
            load_fails(pt, what, NULL);
        }
        /* Trailing garbage is not a checkpoint either. */
        char *longer = malloc(n + 16);
        memcpy(longer, raw, n);
        memset(longer + n, 0x5a, 16);
        bc_t_write_raw(pt, longer, n + 16);
        load_fails(pt, "16 extra bytes", NULL);
        free(longer);
        unlink(pt);
    }
    free(raw);

    /* Metadata network that is not valid INI: the message names the file. */
    const char *pb = tpath("bad.safetensors");
    const char *net = bc_netspec_text(bc_model_spec(m));
    write_altered(pb, m, -1, 0, NULL, NULL, "[dense\nunits = 16\n", "1");
    load_fails(pb, "network not INI", "[network]");
    write_altered(pb, m, -1, 0, NULL, NULL, "[dense]\nunitz = 16\n[softmax]\n", "1");
    load_fails(pb, "network with unknown key", "unitz");
    /* Valid INI but a different network: tensor count or shapes do not match. */
    write_altered(pb, m, -1, 0, NULL, NULL, "[dense]\nunits = 10\n[softmax]\n", "1");
    load_fails(pb, "other network", NULL);
    write_altered(pb, m, -1, 0, NULL, NULL,
                  "[dense]\nunits = 17\nbias = 0\n[bn]\n[sign]\n[dense]\nunits = 12\nbinary = 1\n[bn]\n[sign]\n"
                  "[dense]\nunits = 10\n[softmax]\n", "1");
    load_fails(pb, "wider network", "L0.dense.weight");
    /* The model's own text writes a loadable file (the control). */
    write_altered(pb, m, -1, 0, NULL, NULL, net, "1");
    BC_CHECK_MSG(bc_model_load(g_ctx, pb, &l, NULL) == BC_OK, "%s", bc_last_error());
    bc_model_free(l);
    /* A tensor of the wrong shape: transposed (same size), smaller, wrong rank. */
    const int64_t tr[2] = {64, 16}, small[2] = {15, 64}, flat[1] = {16 * 64}, bnbig[1] = {17};
    write_altered(pb, m, 0, 2, tr, NULL, net, "1");
    load_fails(pb, "transposed weight", "L0.dense.weight");
    write_altered(pb, m, 0, 2, small, NULL, net, "1");
    load_fails(pb, "smaller weight", "L0.dense.weight");
    write_altered(pb, m, 0, 1, flat, NULL, net, "1");
    load_fails(pb, "flat weight", "L0.dense.weight");
    write_altered(pb, m, 4, 1, bnbig, NULL, net, "1");
    load_fails(pb, "running_var of 17", "L1.bn.running_var");
    write_altered(pb, m, 2, 0, NULL, "L1.bn.gamma", net, "1");
    load_fails(pb, "renamed tensor", "L1.bn.bias");
    write_altered(pb, m, -1, 0, NULL, NULL, net, "0");
    load_fails(pb, "norm_std 0", "norm_std");
    write_altered(pb, m, -1, 0, NULL, NULL, net, "1,2");
    load_fails(pb, "two norm_std for one channel", "norm_std");
    unlink(pb);
    unlink(p2);
    unlink(path);

    /* A plain safetensors file without bitcell metadata. */
    const float one = 1.0f;
    const bc_st_tensor_in t1 = {.name = "w", .ndim = 1, .shape = {1}, .data = &one};
    BC_CHECK(bc_st_write(pb, &t1, 1, NULL, 0) == BC_OK);
    load_fails(pb, "no metadata", "format");
    unlink(pb);
    bc_model_free(m);
}

/* ---------------------------------------------------------------- (f) GEMM */

static void fill(float *a, int64_t n, uint32_t tag) {
    bc_rng_key k = {.seed = 3, .purpose = BC_RNG_TEST, .layer = tag};
    for (int64_t i = 0; i < n; i++) a[i] = 2.0f * bc_rng_uniform(k, (uint64_t)i) - 1.0f;
}

static void check_gemm(int64_t m, int64_t n, int64_t k, bool ta, bool tb, float alpha, float beta) {
    const int64_t pad = 3;
    const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
    const int64_t ra = ta ? k : m, rb = tb ? n : k;
    float *a = malloc((size_t)(ra * lda) * sizeof *a), *b = malloc((size_t)(rb * ldb) * sizeof *b);
    float *c = malloc((size_t)(m * ldc) * sizeof *c), *r = malloc((size_t)(m * ldc) * sizeof *r);
    float *c2 = malloc((size_t)(m * ldc) * sizeof *c2);
    fill(a, ra * lda, 1);
    fill(b, rb * ldb, 2);
    fill(c, m * ldc, 3);
    if (beta == 0.0f) /* C is write-only when beta = 0: NaN inputs must not leak */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] = NAN;
    memcpy(r, c, (size_t)(m * ldc) * sizeof *r);
    memcpy(c2, c, (size_t)(m * ldc) * sizeof *r);
    bc__sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    bc__sgemm_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, r, ldc);
    double maxref = 0, maxerr = 0;
    bool pad_ok = true, finite = true;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            maxref = fmax(maxref, fabs(r[i * ldc + j]));
            maxerr = fmax(maxerr, fabs((double)c[i * ldc + j] - r[i * ldc + j]));
            finite &= isfinite(c[i * ldc + j]);
        }
        for (int64_t j = n; j < ldc; j++) pad_ok &= !memcmp(&c[i * ldc + j], &r[i * ldc + j], sizeof *c);
    }
    BC_CHECK_MSG(finite && maxerr <= 1e-4 * fmax(maxref, 1e-3), "sgemm %c%c %lldx%lldx%lld a=%g b=%g: max err %g, max |ref| %g",
                 ta ? 'T' : 'N', tb ? 'T' : 'N', (long long)m, (long long)n, (long long)k, (double)alpha, (double)beta,
                 maxerr, maxref);
    BC_CHECK_MSG(pad_ok, "sgemm wrote outside the m x n block (ldc padding)");
    /* Thread count does not change a bit. */
    bc_ctx_set_threads(g_ctx, 2);
    bc__sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c2, ldc);
    bc_ctx_set_threads(g_ctx, 1);
    BC_CHECK_MSG(!memcmp(c, c2, (size_t)(m * ldc) * sizeof *c), "sgemm %lldx%lldx%lld: 2 vs 1 threads differ",
                 (long long)m, (long long)n, (long long)k);
    free(a); free(b); free(c); free(r); free(c2);
}

static void test_gemm(void) {
    static const int64_t shapes[][3] = {
        {3, 5, 7}, {1, 1, 1}, {1, 513, 600}, {129, 257, 65}, {300, 700, 33}, {700, 300, 33}, {257, 256, 5}, {4, 3, 0},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++) {
            check_gemm(shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t & 2, 1.0f, 0.0f);
            if (s < 6) check_gemm(shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t & 2, -0.75f, 0.5f);
        }
}

int main(void) {
    g_verbose = getenv("BC_TEST_VERBOSE") != NULL;
    g_t0 = bc__now();
    snprintf(g_dir, sizeof g_dir, "/tmp/bc_train_XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    if (bc_ctx_new(&g_ctx) != BC_OK || bc_dataset_load("synthetic", NULL, BC_SPLIT_TRAIN, &g_train) != BC_OK ||
        bc_dataset_load("synthetic", NULL, BC_SPLIT_TEST, &g_test) != BC_OK) {
        fprintf(stderr, "setup: %s\n", bc_last_error());
        return 1;
    }
    BC_CHECK(bc_dataset_count(g_train) == 2000 && bc_dataset_count(g_test) == 500);
    g_norm = bc_dataset_norm_stats(g_train);
    /* One thread except where thread counts are compared: results do not depend on it (that is
     * checked below), and tiny layers only pay OpenMP barriers with more threads. */
    bc_ctx_set_threads(g_ctx, 1);
    test_gemm();
    if (g_verbose) printf("[%.1fs] gemm\n", bc__now() - g_t0);
    test_schedules();
    if (g_verbose) printf("[%.1fs] test_schedules\n", bc__now() - g_t0);
    check_optimizer(true);
    if (g_verbose) printf("[%.1fs] check_optimizer\n", bc__now() - g_t0);
    check_optimizer(false);
    check_decay_sensitivity();
    if (g_verbose) printf("[%.1fs] check_decay_sensitivity\n", bc__now() - g_t0);
    test_checkpoint();
    if (g_verbose) printf("[%.1fs] test_checkpoint\n", bc__now() - g_t0);
    test_determinism();
    test_convergence();
    bc_dataset_free(g_train);
    bc_dataset_free(g_test);
    bc_ctx_free(g_ctx);
    rmdir(g_dir);
    return bc_t_report();
}
