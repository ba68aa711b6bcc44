/* vgg9-bnn and resnet18-bnn (models/) on small CIFAR-10-format files made here, since
 * CIFAR-10 itself is not available: the models build with the expected parameter counts,
 * every trainable tensor gets a finite non-zero gradient, the classifier's gradient matches
 * finite differences (the loss is smooth in the last layer of a sign network), a few steps
 * lower the loss, gradients are bit-identical at 1 and 2 threads, and bc_train runs an epoch
 * with crop and flip augmentation. */
#include "nn/model.h"
#include "bc_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N = 8, REC = 1 + 3 * 32 * 32 }; /* records per file */
static bc_ctx *g_ctx;

/* Records: label byte + 3072 pixels (c, h, w); classes differ by their colour and a stripe. */
static void write_cifar(const char *path) {
    uint8_t *buf = malloc((size_t)N * REC);
    bc_rng_key k = {.seed = 11, .purpose = BC_RNG_TEST};
    for (int r = 0; r < N; r++) {
        uint8_t *rec = buf + (size_t)r * REC;
        int label = r % 10;
        rec[0] = (uint8_t)label;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 1024; i++) {
                int v = (int)(bc_rng_u32(k, (uint64_t)(r * 3072 + c * 1024 + i)) % 64);
                if (c == label % 3) v += 96;
                if ((i / 32) % 10 == label) v += 90;
                rec[1 + c * 1024 + i] = (uint8_t)v;
            }
    }
    bc_t_write_raw(path, buf, (size_t)N * REC);
    free(buf);
}

static bc_model *load_model(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/models/%s.cfg", BC_SOURCE_DIR, name);
    bc_netspec *spec = NULL;
    bc_model *m = NULL;
    bc_status st = bc_netspec_parse_file(path, &spec);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    if (st) return NULL;
    st = bc_model_new(g_ctx, spec, (bc_shape){3, 32, 32}, 1, &m);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    bc_netspec_free(spec);
    return m;
}

static void check_model(const char *name, int64_t want_params, const bc_dataset *ds, const bc_norm *norm) {
    bc_model *m = load_model(name);
    if (!m) return;
    BC_CHECK_MSG(bc_model_param_count(m) == want_params, "%s: %lld parameters, want %lld", name,
                 (long long)bc_model_param_count(m), (long long)want_params);
    BC_CHECK(bc_model_outputs(m) == 10);
    const int64_t n = 4, f = 3 * 32 * 32, np = bc_model_param_count(m);
    int64_t idx[4];
    for (int i = 0; i < 4; i++) idx[i] = i;
    float *x = malloc((size_t)(n * f) * sizeof *x), *g = malloc((size_t)np * sizeof *g), *g1 = malloc((size_t)np * sizeof *g1);
    float *p = malloc((size_t)np * sizeof *p);
    int32_t y[4];
    bc_dataset_batch(ds, idx, n, norm, x, y);

    /* Gradients: finite, non-zero in every trainable tensor, the same at 1 and 2 threads. */
    float loss0 = NAN, loss1 = NAN;
    BC_CHECK(bc_model_loss_grad(m, x, y, n, 0, &loss0, g, NULL) == BC_OK);
    bc_ctx_set_threads(g_ctx, 1);
    BC_CHECK(bc_model_loss_grad(m, x, y, n, 0, &loss1, g1, NULL) == BC_OK);
    bc_ctx_set_threads(g_ctx, 2);
    BC_CHECK_MSG(loss0 == loss1 && !memcmp(g, g1, (size_t)np * sizeof *g), "%s: gradients depend on the thread count", name);
    for (int32_t t = 0; t < m->n_tensors; t++) {
        const bc__tensor *tt = &m->tensors[t];
        if (!tt->trainable) continue;
        double s = 0;
        bool finite = true;
        for (int64_t i = 0; i < tt->count; i++) {
            s += (double)g[tt->offset + i] * g[tt->offset + i];
            finite &= isfinite(g[tt->offset + i]);
        }
        BC_CHECK_MSG(finite && s > 0, "%s: gradient of %s is %s", name, tt->name, finite ? "zero" : "not finite");
    }
    /* Finite differences on the classifier (the last dense layer: 10 biases, some weights). */
    const bc__layer *last = &m->layers[m->n_layers - 2];
    BC_CHECK(last->spec.kind == BC_LAYER_DENSE && last->b >= 0);
    bc_model_get_params(m, p);
    int bad = 0;
    for (int64_t j = 0; j < 10; j++) {
        int64_t i = j < 4 ? last->b + j * 3 : last->w + (j * 7919) % (last->wrows * last->wk);
        float keep = p[i];
        double lp, lm;
        p[i] = keep + 1e-2f;
        bc_model_set_params(m, p);
        bc_model_loss_grad(m, x, y, n, 0, &loss1, NULL, NULL);
        lp = loss1;
        p[i] = keep - 1e-2f;
        bc_model_set_params(m, p);
        bc_model_loss_grad(m, x, y, n, 0, &loss1, NULL, NULL);
        lm = loss1;
        p[i] = keep;
        double num = (lp - lm) / (double)(2e-2f);
        if (fabs(num - g[i]) > 2e-2 * fmax(fabs(num), fabs(g[i])) + 2e-3) {
            if (bad++ < 3) fprintf(stderr, "%s: param %lld: analytic %g numeric %g\n", name, (long long)i, (double)g[i], num);
        }
    }
    bc_model_set_params(m, p);
    BC_CHECK_MSG(bad == 0, "%s: %d classifier gradients differ from finite differences", name, bad);

    /* A few steps on one batch lower its loss. */
    float first = NAN, l = NAN;
    for (int s = 0; s < 5; s++) {
        BC_CHECK(bc_model_train_step(m, x, y, n, 1e-3f, &l, NULL) == BC_OK);
        if (s == 0) first = l;
    }
    bc_model_loss_grad(m, x, y, n, 0, &l, NULL, NULL);
    BC_CHECK_MSG(l < first * 0.8f, "%s: loss %g after 5 steps, first %g", name, (double)l, (double)first);
    free(x);
    free(g);
    free(g1);
    free(p);
    bc_model_free(m);
}

int main(void) {
    BC_CHECK(bc_ctx_new(&g_ctx) == BC_OK);
    bc_ctx_set_threads(g_ctx, 2);
    char dir[] = "/tmp/bc_cifar_XXXXXX";
    BC_CHECK(mkdtemp(dir) != NULL);
    char name[32];
    for (int b = 1; b <= 5; b++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", b);
        write_cifar(bc_t_path(dir, name));
    }
    write_cifar(bc_t_path(dir, "test_batch.bin"));
    bc_dataset *tr = NULL, *te = NULL;
    BC_CHECK(bc_dataset_load("cifar10", dir, BC_SPLIT_TRAIN, &tr) == BC_OK);
    BC_CHECK(bc_dataset_load("cifar10", dir, BC_SPLIT_TEST, &te) == BC_OK);
    if (!tr || !te) return bc_t_report();
    bc_norm norm = bc_dataset_norm_stats(tr);

    /* conv weights k*k*cin*cout; batch norms 2 per channel; classifier with bias. */
    const int64_t vgg9 = 3 * 9 * 128 + 128 * 9 * 128 + 128 * 9 * 256 + 256 * 9 * 256 + 256 * 9 * 512 + 512 * 9 * 512 +
                         8192 * 1024 + 1024 * 1024 + 1024 * 10 + 10 + 2 * (128 * 2 + 256 * 2 + 512 * 2 + 1024 * 2);
    int64_t resnet = 3 * 9 * 64 + 2 * 64 + 10 * 512 + 10;
    const int64_t ch[4] = {64, 128, 256, 512};
    for (int s = 0; s < 4; s++) {
        int64_t cin = s ? ch[s - 1] : 64;
        resnet += cin * 9 * ch[s] + 3 * ch[s] * 9 * ch[s] + 4 * 2 * ch[s]; /* 4 convs + their bns */
        if (s) resnet += cin * ch[s] + 2 * ch[s];                          /* projection + its bn */
    }
    check_model("vgg9-bnn", vgg9, tr, &norm);
    check_model("resnet18-bnn", resnet, tr, &norm);

    /* One epoch of bc_train with the models' crop + flip augmentation. */
    bc_model *m = load_model("vgg9-bnn");
    if (m) {
        bc_train_opts o = bc_train_opts_default(bc_model_spec(m));
        BC_CHECK(o.spec.crop_pad == 4 && o.spec.flip);
        o.spec.epochs = 1;
        o.spec.batch = 10;
        o.norm = norm;
        bc_train_result r;
        bc_status st = bc_train(m, tr, te, &o, &r);
        BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
        BC_CHECK(isfinite(r.final_train_loss) && r.facts.test_accuracy >= 0.0);
        bc_model_free(m);
    }
    bc_dataset_free(tr);
    bc_dataset_free(te);
    for (int b = 1; b <= 5; b++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", b);
        unlink(bc_t_path(dir, name));
    }
    unlink(bc_t_path(dir, "test_batch.bin"));
    rmdir(dir);
    bc_ctx_free(g_ctx);
    return bc_t_report();
}
