/* The packed engine against the float engine: identical logits (hence predictions) on whole
 * networks after some training (so batch-norm statistics and thresholds are non-trivial),
 * across conv geometries with zero padding, odd channel counts (not multiples of 64), stride 2,
 * integer and bit max pooling, dense layers on pixel-padded bits, shortcuts and biases. Also
 * the float engine's two MAC paths for binary layers (float GEMM on ±1, XNOR-popcount) give
 * the same bits, and both engines are the same at 1 and 2 threads. */
#include "nn/model.h"
#include "bc_test.h"

#include <stdlib.h>
#include <string.h>

static bc_ctx *g_ctx;

static void batch(float *x, int32_t *y, int64_t n, int64_t f, int32_t classes, uint32_t tag) {
    bc_rng_key k = {.seed = 5, .purpose = BC_RNG_TEST, .layer = tag};
    for (int64_t r = 0; r < n; r++) {
        y[r] = (int32_t)(bc_rng_u32(k, (uint64_t)r) % (uint32_t)classes);
        /* A class-dependent offset makes the task learnable, so training moves the weights. */
        for (int64_t i = 0; i < f; i++)
            x[r * f + i] = bc_rng_normal(k, 1000 + (uint64_t)(r * f + i)) + (float)((y[r] * 7 + i) % 5) * 0.3f * (float)y[r];
    }
}

static void logits(bc_model *m, bc_engine e, const float *x, int64_t n, float *z) {
    BC_CHECK(bc_model_set_engine(m, e) == BC_OK);
    bc_status st = bc_model_predict(m, x, n, z);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
}

static void check_net(const char *what, const char *ini, bc_shape in) {
    bc_model *m = bc_t_model(g_ctx, what, ini, in, 3);
    if (!m) return;
    const int64_t f = (int64_t)in.c * in.h * in.w, n = 37;
    const int32_t c = bc_model_outputs(m);
    float *x = malloc((size_t)(n * f) * sizeof *x), *z[4];
    int32_t *y = malloc((size_t)n * sizeof *y);
    for (int i = 0; i < 4; i++) z[i] = malloc((size_t)(n * c) * sizeof(float));
    for (int step = 0; step < 6; step++) {
        batch(x, y, n, f, c, (uint32_t)step);
        BC_CHECK(bc_model_train_step(m, x, y, n, 1e-2f, NULL, NULL) == BC_OK);
    }
    batch(x, y, n, f, c, 99);
    logits(m, BC_ENGINE_FLOAT, x, n, z[0]);
    logits(m, BC_ENGINE_PACKED, x, n, z[1]);
    m->mac = BC__MAC_FLOAT;
    logits(m, BC_ENGINE_FLOAT, x, n, z[2]);
    m->mac = BC__MAC_XNOR;
    bc_ctx_set_threads(g_ctx, 1);
    logits(m, BC_ENGINE_PACKED, x, n, z[3]);
    bc_ctx_set_threads(g_ctx, 2);
    BC_CHECK_MSG(!memcmp(z[0], z[1], (size_t)(n * c) * sizeof(float)), "%s: packed logits differ from float", what);
    BC_CHECK_MSG(!memcmp(z[0], z[2], (size_t)(n * c) * sizeof(float)), "%s: XNOR MAC differs from float GEMM", what);
    BC_CHECK_MSG(!memcmp(z[1], z[3], (size_t)(n * c) * sizeof(float)), "%s: packed differs at 1 thread", what);
    /* Not a trivially constant network: the logits vary across samples. */
    bool varies = false;
    for (int64_t r = 1; r < n; r++) varies |= z[0][r * c] != z[0][0];
    BC_CHECK_MSG(varies, "%s: constant logits", what);
    for (int i = 0; i < 4; i++) free(z[i]);
    free(x);
    free(y);
    bc_model_free(m);
}

int main(void) {
    BC_CHECK(bc_ctx_new(&g_ctx) == BC_OK);
    bc_ctx_set_threads(g_ctx, 2);
    /* vgg-small pattern: conv -> maxpool -> bn -> sign, flatten, binary dense, float head. */
    check_net("vgg pattern",
              "[conv]\nfilters = 64\nbias = 0\n[bn]\n[sign]\n"
              "[conv]\nfilters = 64\nbinary = 1\n[maxpool]\n[bn]\n[sign]\n"
              "[conv]\nfilters = 128\nbinary = 1\n[maxpool]\n[bn]\n[sign]\n"
              "[flatten]\n[dense]\nunits = 70\nbinary = 1\n[bn]\n[sign]\n[dense]\nunits = 10\n[softmax]\n",
              (bc_shape){1, 9, 9});
    /* Odd channels (3, 65, 130): channel padding inside words; stride 2, 5x5 windows, pad 2. */
    check_net("odd channels",
              "[conv]\nfilters = 65\nbias = 0\n[bn]\n[sign]\n"
              "[conv]\nfilters = 130\nbinary = 1\nstride = 2\n[bn]\n[sign]\n"
              "[conv]\nfilters = 3\nbinary = 1\nsize = 5\npad = 2\n[bn]\n[sign]\n"
              "[conv]\nfilters = 33\nbinary = 1\nsize = 1\n[bn]\n[sign]\n"
              "[flatten]\n[dense]\nunits = 67\nbinary = 1\n[bn]\n[sign]\n[dense]\nunits = 4\n[softmax]\n",
              (bc_shape){2, 7, 6});
    /* Pooling after the sign (OR of bits), binary layers with biases, dense on 2x2x5 bits. */
    check_net("bit pooling and biases",
              "[conv]\nfilters = 5\n[bn]\n[sign]\n[maxpool]\n"
              "[conv]\nfilters = 5\nbinary = 1\nbias = 1\npad = 0\n[bn]\n[sign]\n"
              "[dense]\nunits = 9\nbinary = 1\nbias = 1\n[bn]\n[sign]\n[dense]\nunits = 3\n[softmax]\n",
              (bc_shape){1, 8, 8});
    /* Bi-Real residual units with a projection: shortcuts read float activations. */
    check_net("residual",
              "[conv]\nfilters = 16\nbias = 0\n[bn]\n"
              "[sign]\n[conv]\nfilters = 16\nbinary = 1\n[bn]\n[shortcut]\nfrom = -4\n"
              "[sign]\n[conv]\nfilters = 32\nbinary = 1\nstride = 2\n[bn]\n[shortcut]\nfrom = -4\n"
              "[gap]\n[dense]\nunits = 3\n[softmax]\n",
              (bc_shape){3, 8, 8});
    /* mlp-bnn pattern. */
    check_net("mlp", "[dense]\nunits = 100\nbias = 0\n[bn]\n[sign]\n[dense]\nunits = 77\nbinary = 1\n[bn]\n[sign]\n"
              "[dense]\nunits = 10\n[softmax]\n", (bc_shape){1, 5, 5});
    /* Layers that do not fit their input are shape errors naming the layer's line. */
    const char *misfits[] = {"[conv]\nfilters = 2\nsize = 9\npad = 0\n[softmax]\n",
                             "[maxpool]\nsize = 6\n[softmax]\n",
                             "[relu]\n[conv]\nfilters = 3\nstride = 2\n[shortcut]\nfrom = -2\n[softmax]\n" /* 5x5 onto 3x3 */};
    for (int i = 0; i < 3; i++) {
        bc_netspec *spec = NULL;
        bc_model *m = NULL;
        BC_CHECK(bc_netspec_parse_text(misfits[i], "misfit", &spec) == BC_OK);
        bc_status st = spec ? bc_model_new(g_ctx, spec, (bc_shape){1, 5, 5}, 1, &m) : BC_ERR_PARAM;
        BC_CHECK_MSG(st == BC_ERR_SHAPE && m == NULL && strstr(bc_last_error(), "net:"), "misfit %d: %s", i, bc_last_error());
        bc_netspec_free(spec);
    }
    bc_ctx_free(g_ctx);
    return bc_t_report();
}
