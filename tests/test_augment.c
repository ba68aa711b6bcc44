/* Augmentation: random crop with fill padding and horizontal flip on NHWC batches, against a
 * plain per-pixel reference; identity, batch-position and thread-count independence, draw
 * statistics, exact fill borders, the black-pixel fill, and parameter checks. */
#include "bc_test.h"
#include "bitcell.h"
#include "io/augment.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* The draws of sample `id` as documented in augment.h. */
typedef struct {
    int32_t dy, dx;
    bool flip;
} draw;

static draw ref_draw(bc_rng_key k, int64_t id, const bc__augment *a) {
    uint64_t b = (uint64_t)id * 4;
    uint64_t span = (uint64_t)(2 * a->pad + 1);
    draw d = {0, 0, false};
    if (a->pad > 0) {
        d.dy = (int32_t)(((uint64_t)bc_rng_u32(k, b + 0) * span) >> 32) - a->pad;
        d.dx = (int32_t)(((uint64_t)bc_rng_u32(k, b + 1) * span) >> 32) - a->pad;
    }
    d.flip = a->flip && (bc_rng_u32(k, b + 2) >> 31);
    return d;
}

/* out (h, w, c) from in (h, w, c): out(y, x) = in(y + dy, xs + dx), xs = flip ? w-1-x : x. */
static void ref_one(float *out, const float *in, bc_shape s, draw d, const float *fill) {
    for (int32_t y = 0; y < s.h; y++)
        for (int32_t x = 0; x < s.w; x++) {
            int32_t sy = y + d.dy, sx = (d.flip ? s.w - 1 - x : x) + d.dx;
            bool inside = sy >= 0 && sy < s.h && sx >= 0 && sx < s.w;
            for (int32_t ch = 0; ch < s.c; ch++)
                out[((int64_t)y * s.w + x) * s.c + ch] =
                    inside ? in[((int64_t)sy * s.w + sx) * s.c + ch] : fill[ch];
        }
}

/* Image of sample id: distinct positive values, (h, w, c). */
static void make_image(float *img, bc_shape s, int64_t id) {
    int64_t per = (int64_t)s.h * s.w * s.c;
    for (int64_t j = 0; j < per; j++) img[j] = (float)(id * 1000 + j + 1) * 0.5f;
}

/* A fully hand-worked 3x3 case: the first ids whose draws are (dy 1, dx -1) without and with
 * flip, checked against literal arrays. */
static void test_hand(void) {
    const bc_shape s = {1, 3, 3};
    bc__augment a = {.pad = 1, .flip = true, .fill = {-7.0f}};
    bc_rng_key k = bc__augment_key(99, 3);
    const float F = -7.0f;
    const float want[2][9] = {{F, 4, 5, F, 7, 8, F, F, F}, {5, 4, F, 8, 7, F, F, F, F}};
    for (int f = 0; f < 2; f++) {
        int64_t id = 0;
        for (;; id++) {
            draw d = ref_draw(k, id, &a);
            if (d.dy == 1 && d.dx == -1 && d.flip == (f == 1)) break;
        }
        float img[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        bc__augment_batch(img, 1, s, &a, k, &id);
        BC_CHECK_MSG(memcmp(img, want[f], sizeof img) == 0, "flip %d, id %lld", f, (long long)id);
    }
}

/* Random batches of 1- and 3-channel tiny images (square and not) vs the reference. */
static void test_vs_reference(void) {
    const bc_shape shapes[] = {{1, 5, 5}, {3, 4, 6}, {3, 7, 3}, {1, 1, 8}, {2, 9, 9}};
    const int32_t pads[] = {2, 3, 2, 0, 8};
    for (int t = 0; t < 5; t++) {
        bc_shape s = shapes[t];
        for (int fl = 0; fl < 2; fl++) {
            bc__augment a = {.pad = pads[t], .flip = fl, .fill = {-1.25f, -2.5f, 3.75f, 0.0f}};
            BC_CHECK_MSG(bc__augment_check(&a, s) == BC_OK, "%s", bc_last_error());
            enum { N = 64 };
            int64_t per = (int64_t)s.h * s.w * s.c, ids[N];
            float *x = malloc(sizeof(float) * N * per), *in = malloc(sizeof(float) * per),
                  *want = malloc(sizeof(float) * per);
            bc_rng_key k = bc__augment_key(7 + (uint64_t)t, fl);
            for (int r = 0; r < N; r++) {
                ids[r] = 1000 + 37 * r;
                make_image(x + r * per, s, ids[r]);
            }
            bc__augment_batch(x, N, s, &a, k, ids);
            int bad = 0;
            for (int r = 0; r < N; r++) {
                make_image(in, s, ids[r]);
                ref_one(want, in, s, ref_draw(k, ids[r], &a), a.fill);
                bad += memcmp(want, x + r * per, sizeof(float) * per) != 0;
            }
            BC_CHECK_MSG(bad == 0, "shape %d flip %d: %d of %d samples differ", t, fl, bad, N);
            free(x);
            free(in);
            free(want);
        }
    }
}

/* pad 0 and no flip leaves the batch bit-identical, for any key; n = 0 is allowed. */
static void test_identity(void) {
    const bc_shape s = {3, 8, 8};
    enum { N = 10, PER = 3 * 8 * 8 };
    float x[N * PER], orig[N * PER];
    int64_t ids[N];
    for (int r = 0; r < N; r++) {
        ids[r] = r * 5;
        make_image(x + r * PER, s, r);
    }
    x[3] = -0.0f; /* signed zero and NaN survive untouched */
    x[4] = NAN;
    memcpy(orig, x, sizeof x);
    bc__augment a = bc__augment_default();
    a.fill[0] = 9.0f;
    for (uint64_t seed = 0; seed < 3; seed++)
        bc__augment_batch(x, N, s, &a, bc__augment_key(seed, 1), ids);
    BC_CHECK(memcmp(x, orig, sizeof x) == 0);
    bc__augment zero;
    memset(&zero, 0, sizeof zero);
    bc__augment_batch(x, N, s, &zero, bc__augment_key(1, 1), ids);
    BC_CHECK(memcmp(x, orig, sizeof x) == 0);
    bc__augment on = {.pad = 2, .flip = true};
    bc__augment_batch(NULL, 0, s, &on, bc__augment_key(1, 1), NULL);
    BC_CHECK(bc__augment_check(&zero, s) == BC_OK);
}

/* The result depends on (key, id) only: the same id at different batch positions, among
 * different neighbours and with 1 or 4 threads gives the same bits; other epochs differ. */
static void test_position_and_threads(void) {
    const bc_shape s = {3, 32, 32};
    enum { N = 96, PER = 3 * 32 * 32 };
    bc__augment a = {.pad = 4, .flip = true, .fill = {-1.9f, -1.95f, -1.7f}};
    bc_rng_key k = bc__augment_key(42, 5);
    float *x1 = malloc(sizeof(float) * N * PER), *x2 = malloc(sizeof(float) * N * PER);
    int64_t ids1[N], ids2[N];
    for (int r = 0; r < N; r++) {
        ids1[r] = 50000 + r;
        ids2[r] = 50000 + (N - 1 - r); /* reversed order */
        make_image(x1 + r * PER, s, ids1[r]);
        make_image(x2 + r * PER, s, ids2[r]);
    }
    bc__augment_batch(x1, N, s, &a, k, ids1);
    bc__augment_batch(x2, N, s, &a, k, ids2);
    int bad = 0;
    for (int r = 0; r < N; r++)
        bad += memcmp(x1 + r * PER, x2 + (N - 1 - r) * PER, sizeof(float) * PER) != 0;
    BC_CHECK_MSG(bad == 0, "%d samples depend on their batch position", bad);

    /* One sample alone (batch of 1) equals its copy inside the big batch. */
    float one[PER];
    make_image(one, s, ids1[17]);
    bc__augment_batch(one, 1, s, &a, k, &ids1[17]);
    BC_CHECK(memcmp(one, x1 + 17 * PER, sizeof one) == 0);

#ifdef _OPENMP
    int old = omp_get_max_threads();
    for (int th = 1; th <= 4; th += 3) {
        omp_set_num_threads(th);
        for (int r = 0; r < N; r++) make_image(x2 + r * PER, s, ids1[r]);
        bc__augment_batch(x2, N, s, &a, k, ids1);
        BC_CHECK_MSG(memcmp(x1, x2, sizeof(float) * N * PER) == 0, "%d threads", th);
    }
    omp_set_num_threads(old);
#endif

    /* Another epoch (or seed) re-draws: most samples change. */
    int same = 0;
    for (int r = 0; r < N; r++) make_image(x2 + r * PER, s, ids1[r]);
    bc__augment_batch(x2, N, s, &a, bc__augment_key(42, 6), ids1);
    for (int r = 0; r < N; r++)
        same += memcmp(x1 + r * PER, x2 + r * PER, sizeof(float) * PER) == 0;
    BC_CHECK_MSG(same < N / 4, "%d of %d samples unchanged across epochs", same, N);
    free(x1);
    free(x2);
}

/* Decodes dy, dx, flip from an augmented image whose pixel (y, x) was y*w + x + 1 (1 channel,
 * fill -1). Every row that is covered has >= 2 source pixels since pad < w - 1. */
static bool decode(const float *img, int32_t h, int32_t w, draw *d) {
    for (int32_t y = 0; y < h; y++) {
        const float *r = img + (int64_t)y * w;
        int32_t x = 0;
        while (x < w && r[x] < 0) x++;
        if (x + 1 >= w || r[x + 1] < 0) continue;
        int32_t v = (int32_t)r[x] - 1;
        d->flip = r[x + 1] < r[x];
        d->dy = v / w - y;
        d->dx = v % w - (d->flip ? w - 1 - x : x);
        return true;
    }
    return false;
}

/* Many samples: flips near 1/2, every offset in [-pad, pad] occurs with frequency near
 * 1/(2pad+1), and fill occupies exactly the uncovered border, read back from the outputs. */
static void test_statistics(void) {
    const bc_shape s = {1, 11, 11};
    const int32_t pad = 4, K = 2 * pad + 1;
    enum { N = 20000, PER = 121 };
    bc__augment a = {.pad = pad, .flip = true, .fill = {-1.0f}};
    float *x = malloc(sizeof(float) * N * PER);
    int64_t *ids = malloc(sizeof(int64_t) * N);
    for (int r = 0; r < N; r++) {
        ids[r] = r;
        for (int j = 0; j < PER; j++) x[r * PER + j] = (float)(j + 1);
    }
    bc_rng_key k = bc__augment_key(2024, 0);
    bc__augment_batch(x, N, s, &a, k, ids);
    int64_t flips = 0, cdy[9] = {0}, cdx[9] = {0}, undecoded = 0, mismatch = 0, badfill = 0;
    for (int r = 0; r < N; r++) {
        const float *img = x + (int64_t)r * PER;
        draw d;
        if (!decode(img, s.h, s.w, &d)) {
            undecoded++;
            continue;
        }
        draw w = ref_draw(k, ids[r], &a);
        mismatch += d.dy != w.dy || d.dx != w.dx || d.flip != w.flip;
        if (d.dy < -pad || d.dy > pad || d.dx < -pad || d.dx > pad) continue;
        flips += d.flip;
        cdy[d.dy + pad]++;
        cdx[d.dx + pad]++;
        /* Fill exactly outside rows [max(0,-dy), h-max(0,dy)) x unflipped columns likewise. */
        int64_t nfill = 0;
        for (int32_t y = 0; y < s.h; y++)
            for (int32_t xx = 0; xx < s.w; xx++) {
                int32_t xs = d.flip ? s.w - 1 - xx : xx;
                bool covered = y + d.dy >= 0 && y + d.dy < s.h && xs + d.dx >= 0 && xs + d.dx < s.w;
                bool is_fill = img[y * s.w + xx] == -1.0f;
                badfill += covered == is_fill;
                nfill += is_fill;
            }
        badfill += nfill != PER - (int64_t)(s.h - abs(d.dy)) * (s.w - abs(d.dx));
    }
    BC_CHECK(undecoded == 0);
    BC_CHECK_MSG(mismatch == 0, "%lld samples not as the documented draws", (long long)mismatch);
    BC_CHECK_MSG(badfill == 0, "%lld fill pixels misplaced", (long long)badfill);
    /* Binomial sd of the flip rate is 0.0035; allow ~6 sd. */
    BC_CHECK_NEAR((double)flips / N, 0.5, 0.02);
    for (int i = 0; i < K; i++) {
        BC_CHECK_MSG(cdy[i] > 0 && cdx[i] > 0, "offset %d never drawn", i - pad);
        BC_CHECK_NEAR((double)cdy[i] / N, 1.0 / K, 0.015);
        BC_CHECK_NEAR((double)cdx[i] / N, 1.0 / K, 0.015);
    }
    free(x);
    free(ids);
}

/* fill_black gives exactly what bc_dataset_batch makes of a black pixel. */
static void test_fill_black(void) {
    const uint8_t px[2 * 3] = {0, 0, 0, 200, 100, 50}, y[2] = {0, 1}; /* (n, c, 1, 1) */
    bc_dataset *ds = NULL;
    BC_CHECK(bc_dataset_from_memory(px, y, 2, (bc_shape){3, 1, 1}, 2, &ds) == BC_OK);
    if (!ds) return;
    bc_norm nm = bc_dataset_norm_stats(ds);
    float black[3];
    int64_t idx = 0;
    bc_dataset_batch(ds, &idx, 1, &nm, black, NULL);
    bc__augment a;
    memset(&a, 0x7f, sizeof a);
    bc__augment_fill_black(&a, &nm);
    BC_CHECK(memcmp(a.fill, black, sizeof black) == 0);
    BC_CHECK(a.fill[0] < 0.0f && a.fill[3] == 0.0f);
    bc__augment_fill_black(&a, NULL);
    for (int ch = 0; ch < 4; ch++) BC_CHECK(a.fill[ch] == 0.0f);
    bc_dataset_free(ds);
}

static void test_check(void) {
    bc__augment a = {.pad = 4, .flip = true};
    BC_CHECK(bc__augment_check(&a, (bc_shape){3, 32, 32}) == BC_OK);
    BC_CHECK(bc__augment_check(&a, (bc_shape){1, 5, 6}) == BC_OK);
    BC_CHECK(bc__augment_check(&a, (bc_shape){1, 4, 32}) == BC_ERR_PARAM);
    BC_CHECK_MSG(strstr(bc_last_error(), "pad 4 out of range [0, 3]"), "%s", bc_last_error());
    a.pad = -1;
    BC_CHECK(bc__augment_check(&a, (bc_shape){3, 32, 32}) == BC_ERR_PARAM);
    a.pad = 1;
    BC_CHECK(bc__augment_check(&a, (bc_shape){1, 1, 1}) == BC_ERR_PARAM); /* dense-only data */
    a.pad = 0;
    BC_CHECK(bc__augment_check(&a, (bc_shape){1, 1, 1}) == BC_OK);
    BC_CHECK(bc__augment_check(&a, (bc_shape){5, 8, 8}) == BC_ERR_PARAM);
    BC_CHECK(strstr(bc_last_error(), "channels") != NULL);
    BC_CHECK(bc__augment_check(&a, (bc_shape){0, 8, 8}) == BC_ERR_PARAM);
    a.fill[2] = NAN;
    BC_CHECK(bc__augment_check(&a, (bc_shape){2, 8, 8}) == BC_OK); /* channel 2 unused */
    BC_CHECK(bc__augment_check(&a, (bc_shape){3, 8, 8}) == BC_ERR_PARAM);
    BC_CHECK(strstr(bc_last_error(), "fill[2]") != NULL);
    BC_CHECK(bc__augment_check(NULL, (bc_shape){3, 8, 8}) == BC_ERR_PARAM);
    bc_rng_key k = bc__augment_key(5, 7);
    BC_CHECK(k.seed == 5 && k.purpose == BC_RNG_DATA && k.chip == BC__AUGMENT_CHIP && k.layer == 7);
}

int main(void) {
    test_hand();
    test_vs_reference();
    test_identity();
    test_position_and_threads();
    test_statistics();
    test_fill_black();
    test_check();
    return bc_t_report();
}
