/* Random crop with constant padding and random horizontal flip, in place on NHWC batches.
 * Each sample is independent and keyed by its id, so OpenMP over samples cannot change bits. */
#include "io/augment.h"
#include "bc_internal.h"

#include <math.h>
#include <string.h>

/* Below this many floats in the batch one thread does it: fork/join would cost more. */
#define BC__AUG_OMP_MIN 16384

bc__augment bc__augment_default(void) { return (bc__augment){0}; }

void bc__augment_fill_black(bc__augment *a, const bc_norm *norm) {
    BC_ASSERT(a);
    for (int32_t ch = 0; ch < 4; ch++) {
        if (norm && ch >= norm->c) {
            a->fill[ch] = 0.0f;
            continue;
        }
        double m = norm ? norm->mean[ch] : 0.0, sd = norm ? norm->std[ch] : 1.0;
        a->fill[ch] = (float)((0 / 255.0 - m) / sd); /* the expression of bc_dataset_batch */
    }
}

bc_status bc__augment_check(const bc__augment *a, bc_shape s) {
    if (!a) return bc__fail(BC_ERR_PARAM, "augment: NULL options");
    if (s.c < 1 || s.c > 4 || s.h < 1 || s.w < 1)
        return bc__fail(BC_ERR_PARAM, "augment: images of %dx%dx%d (c x h x w); need 1 to 4 "
                        "channels", s.c, s.h, s.w);
    int32_t side = s.h < s.w ? s.h : s.w;
    if (a->pad < 0 || a->pad >= side)
        return bc__fail(BC_ERR_PARAM, "augment: pad %d out of range [0, %d] for %dx%d images",
                        a->pad, side - 1, s.h, s.w);
    for (int32_t ch = 0; ch < s.c; ch++)
        if (!isfinite(a->fill[ch]))
            return bc__fail(BC_ERR_PARAM, "augment: fill[%d] is not finite", ch);
    return BC_OK;
}

bc_rng_key bc__augment_key(uint64_t seed, int32_t epoch) {
    return (bc_rng_key){.seed = seed, .purpose = BC_RNG_DATA, .chip = BC__AUGMENT_CHIP,
                        .layer = (uint32_t)epoch};
}

/* An integer uniform in [-pad, pad] from one 32-bit draw by multiply-high (bias below
 * (2pad+1) / 2^32). */
static int32_t bc__aug_offset(uint32_t u, int32_t pad) {
    return (int32_t)(((uint64_t)u * (uint64_t)(2 * pad + 1)) >> 32) - pad;
}

static void bc__aug_fill(float *dst, int64_t pixels, int32_t c, const float *fill) {
    for (int64_t p = 0; p < pixels; p++)
        for (int32_t ch = 0; ch < c; ch++) dst[p * c + ch] = fill[ch];
}

/* img: (h, w, c). Output row y reads source row y + dy, so rows go upward when dy > 0 and
 * downward otherwise: a source row is always read before it is overwritten. Within a row,
 * memmove handles the overlap when dy = 0. */
static void bc__aug_crop(float *img, int32_t h, int32_t w, int32_t c, int32_t dy, int32_t dx,
                         const float *fill) {
    const int64_t row = (int64_t)w * c;
    int32_t x0 = dx < 0 ? -dx : 0, x1 = dx > 0 ? w - dx : w; /* valid output columns [x0, x1) */
    if (x1 < x0) x1 = x0;
    for (int32_t k = 0; k < h; k++) {
        int32_t y = dy > 0 ? k : h - 1 - k, sy = y + dy;
        float *dst = img + y * row;
        if (sy < 0 || sy >= h) {
            bc__aug_fill(dst, w, c, fill);
            continue;
        }
        if (x1 > x0)
            memmove(dst + (int64_t)x0 * c, img + sy * row + (int64_t)(x0 + dx) * c,
                    (size_t)(x1 - x0) * (size_t)c * sizeof(float));
        bc__aug_fill(dst, x0, c, fill);
        bc__aug_fill(dst + (int64_t)x1 * c, w - x1, c, fill);
    }
}

static void bc__aug_flip(float *img, int32_t h, int32_t w, int32_t c) {
    for (int32_t y = 0; y < h; y++) {
        float *r = img + (int64_t)y * w * c;
        for (int32_t a = 0, b = w - 1; a < b; a++, b--)
            for (int32_t ch = 0; ch < c; ch++) {
                float t = r[a * c + ch];
                r[a * c + ch] = r[b * c + ch];
                r[b * c + ch] = t;
            }
    }
}

void bc__augment_batch(float *x, int64_t n, bc_shape s, const bc__augment *a, bc_rng_key key,
                       const int64_t *sample_id) {
    BC_ASSERT(a && a->pad >= 0 && a->pad < s.h && a->pad < s.w && s.c >= 1 && s.c <= 4);
    if (n <= 0 || (a->pad == 0 && !a->flip)) return;
    BC_ASSERT(x && sample_id);
    const int64_t per = (int64_t)s.h * s.w * s.c;
    #pragma omp parallel for schedule(static) if (n * per > BC__AUG_OMP_MIN)
    for (int64_t r = 0; r < n; r++) {
        BC_ASSERT(sample_id[r] >= 0);
        uint64_t base = (uint64_t)sample_id[r] * 4; /* one Philox block per sample */
        float *img = x + r * per;
        if (a->pad > 0) {
            int32_t dy = bc__aug_offset(bc_rng_u32(key, base + 0), a->pad);
            int32_t dx = bc__aug_offset(bc_rng_u32(key, base + 1), a->pad);
            if (dy != 0 || dx != 0) bc__aug_crop(img, s.h, s.w, s.c, dy, dx, a->fill);
        }
        if (a->flip && (bc_rng_u32(key, base + 2) >> 31)) bc__aug_flip(img, s.h, s.w, s.c);
    }
}
