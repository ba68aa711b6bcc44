/* Binary kernels: the scalar reference against a naive float dot of the unpacked +-1 values;
 * sign packing per element (zero, -0.0, NaN, tails, padding bits); every available SIMD
 * variant against the reference bit for bit, on shapes that cross every block and tail.
 * The first-layer float kernels (direct convolution, batch norm + sign packing): the
 * reference against a naive double convolution, every variant against it bit for bit. */
#include "bc_internal.h"
#include "bc_test.h"
#include "kernels/xnor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SENTINEL_W 0xdeadbeefcafef00dull
#define SENTINEL_I ((int32_t)0x5a5a5a5a)

static uint64_t rand_word(bc_rng_key key, uint64_t i) {
    return (uint64_t)bc_rng_u32(key, 2 * i) | (uint64_t)bc_rng_u32(key, 2 * i + 1) << 32;
}

/* rows x k random packed bits, leading dimension ld; padding bits 0, words past the row
 * hold a sentinel that the kernels must not read into the result. */
static uint64_t *rand_packed(bc_rng_key key, int64_t rows, int64_t ld, int64_t k) {
    const int64_t kw = bc__b1_words(k);
    uint64_t *p = malloc((size_t)(rows * ld + 1) * sizeof *p);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t w = 0; w < ld; w++) p[r * ld + w] = w < kw ? rand_word(key, (uint64_t)(r * ld + w)) : SENTINEL_W;
        if (k % 64) p[r * ld + kw - 1] &= (1ull << (k % 64)) - 1;
    }
    return p;
}

/* Floats in [-1, 1) with exact zeros, -0.0 and a NaN sprinkled in. */
static float *rand_floats(bc_rng_key key, int64_t rows, int64_t ld) {
    float *x = malloc((size_t)(rows * ld + 1) * sizeof *x);
    for (int64_t i = 0; i < rows * ld; i++) {
        const uint32_t u = bc_rng_u32(key, (uint64_t)i);
        switch (u % 23) {
        case 0: x[i] = 0.0f; break;
        case 1: x[i] = -0.0f; break;
        case 2: x[i] = NAN; break;
        default: x[i] = 2.0f * bc_rng_uniform(key, (uint64_t)i + (1ull << 40)) - 1.0f; break;
        }
    }
    return x;
}

static const int64_t ks[] = {1, 2, 63, 64, 65, 127, 128, 129, 576, 1000, 1152, 2304, 4096, 4097, 8300};

/* The reference equals sum_i sign(a_i) * sign(b_i) on float data packed by the reference. */
static void test_ref_vs_naive(void) {
    bc_rng_key key = {.seed = 11, .purpose = BC_RNG_TEST, .layer = 1};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        const int64_t k = ks[t], kw = bc__b1_words(k), n = 5, m = 7, ldx = k + 3, lda = kw + 1;
        key.chip = (uint32_t)t;
        float *xa = rand_floats(key, n, ldx);
        key.chip += 1000;
        float *xb = rand_floats(key, m, ldx);
        uint64_t *pa = calloc((size_t)(n * lda), sizeof *pa), *pb = calloc((size_t)(m * lda), sizeof *pb);
        int32_t *out = malloc((size_t)(n * m) * sizeof *out);
        bc__pack_signs_ref(pa, lda, xa, ldx, n, k);
        bc__pack_signs_ref(pb, lda, xb, ldx, m, k);
        bc__xnor_gemm_ref(out, m, pa, lda, pb, lda, n, m, k);
        int bad = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < m; j++) {
                double dot = 0;
                for (int64_t e = 0; e < k; e++) {
                    const float sa = xa[i * ldx + e] >= 0.0f ? 1.0f : -1.0f;
                    const float sb = xb[j * ldx + e] >= 0.0f ? 1.0f : -1.0f;
                    dot += sa * sb;
                }
                bad += out[i * m + j] != (int32_t)dot;
            }
        BC_CHECK_MSG(bad == 0, "k=%lld: %d of %lld dots wrong", (long long)k, bad, (long long)(n * m));
        free(xa), free(xb), free(pa), free(pb), free(out);
    }
    /* Extremes: identical rows give k, complementary rows -k. */
    const int64_t k = 1000, kw = bc__b1_words(k);
    uint64_t *ones = calloc((size_t)kw, sizeof *ones), *zeros = calloc((size_t)kw, sizeof *zeros);
    for (int64_t e = 0; e < k; e++) ones[e / 64] |= 1ull << (e % 64);
    int32_t d[2];
    bc__xnor_gemm_ref(d, 2, ones, kw, ones, kw, 1, 1, k);
    bc__xnor_gemm_ref(d + 1, 2, ones, kw, zeros, kw, 1, 1, k);
    BC_CHECK(d[0] == 1000 && d[1] == -1000);
    free(ones), free(zeros);
}

/* Each variant's pack: bit e of a row = (x[e] >= 0), padding bits 0, words past the row and
 * floats past k untouched / unread. */
static void test_pack(const bc__bin_kernels *kern) {
    bc_rng_key key = {.seed = 12, .purpose = BC_RNG_TEST, .layer = 2};
    static const int64_t pk[] = {1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 127, 128, 129, 200, 576, 1000};
    for (size_t t = 0; t < sizeof pk / sizeof pk[0]; t++) {
        const int64_t k = pk[t], kw = bc__b1_words(k), rows = 9, ldx = k + 5, ldo = kw + 2;
        key.chip = (uint32_t)t;
        float *x = rand_floats(key, rows, ldx);
        /* Floats past k are positive: a kernel reading them would set padding bits. */
        for (int64_t r = 0; r < rows; r++)
            for (int64_t e = k; e < ldx; e++) x[r * ldx + e] = 1.0f;
        if (k >= 3) x[0] = -0.0f, x[1] = 0.0f, x[2] = NAN;
        uint64_t *out = malloc((size_t)(rows * ldo) * sizeof *out);
        for (int64_t i = 0; i < rows * ldo; i++) out[i] = SENTINEL_W;
        kern->pack_signs(out, ldo, x, ldx, rows, k);
        int bad_bit = 0, bad_pad = 0, bad_keep = 0;
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t e = 0; e < kw * 64; e++) {
                const int bit = (int)(out[r * ldo + e / 64] >> (e % 64) & 1);
                if (e < k) bad_bit += bit != (x[r * ldx + e] >= 0.0f);
                else bad_pad += bit != 0;
            }
            for (int64_t w = kw; w < ldo; w++) bad_keep += out[r * ldo + w] != SENTINEL_W;
        }
        BC_CHECK_MSG(bad_bit == 0 && bad_pad == 0 && bad_keep == 0, "%s k=%lld: %d bits, %d padding, %d untouched words wrong",
                     kern->name, (long long)k, bad_bit, bad_pad, bad_keep);
        if (k >= 3) BC_CHECK((out[0] & 7) == 3); /* -0.0 -> +1, 0.0 -> +1, NaN -> -1 */
        free(x), free(out);
    }
}

/* One shape: variant vs reference, with non-minimal leading dimensions and a sentinel in
 * out's padding columns. */
static void check_gemm(const bc__bin_kernels *kern, int64_t n, int64_t m, int64_t k, uint64_t seed) {
    const int64_t kw = bc__b1_words(k), lda = kw + (int64_t)(seed % 3), ldb = kw + (int64_t)(seed % 2) * 5;
    const int64_t ldo = m + (int64_t)(seed % 4);
    bc_rng_key key = {.seed = seed, .purpose = BC_RNG_TEST, .layer = 3};
    uint64_t *a = rand_packed(key, n, lda, k);
    key.chip = 1;
    uint64_t *b = rand_packed(key, m, ldb, k);
    int32_t *want = malloc((size_t)(n * ldo + 1) * sizeof *want), *got = malloc((size_t)(n * ldo + 1) * sizeof *got);
    for (int64_t i = 0; i < n * ldo; i++) want[i] = got[i] = SENTINEL_I;
    bc__xnor_gemm_ref(want, ldo, a, lda, b, ldb, n, m, k);
    kern->xnor_gemm(got, ldo, a, lda, b, ldb, n, m, k);
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n * ldo; i++)
        if (want[i] != got[i]) bad++, first = first < 0 ? i : first;
    BC_CHECK_MSG(bad == 0, "%s n=%lld m=%lld k=%lld: %lld wrong, first at (%lld, %lld): %d vs %d", kern->name,
                 (long long)n, (long long)m, (long long)k, (long long)bad, (long long)(first / ldo),
                 (long long)(first % ldo), bad ? got[first] : 0, bad ? want[first] : 0);
    free(a), free(b), free(want), free(got);
}

static void test_gemm(const bc__bin_kernels *kern) {
    uint64_t seed = 100;
    /* Small odd shapes at every k: register-block and panel tails. */
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++)
        for (int64_t n = 1; n <= 17; n += 4)
            for (int64_t m = 1; m <= 17; m += 3) check_gemm(kern, n, m, ks[t], seed++);
    /* Larger: crossing the i block (256 rows), several b blocks, k chunks of 4096 bits. */
    check_gemm(kern, 300, 70, 576, seed++);
    check_gemm(kern, 261, 41, 1000, seed++);
    check_gemm(kern, 100, 512, 2304, seed++);
    check_gemm(kern, 37, 96, 8300, seed++);
    check_gemm(kern, 513, 33, 65, seed++);
    /* Degenerate: no rows, no columns, k = 0. */
    check_gemm(kern, 0, 5, 64, seed++);
    check_gemm(kern, 5, 0, 64, seed++);
    check_gemm(kern, 3, 4, 0, seed++);
}

/* Extremes that random bits never reach: every bit differs (dot -k) or none does (dot k),
 * at k long enough to overflow any narrow accumulator that is not flushed in time. */
static void test_gemm_extremes(const bc__bin_kernels *kern) {
    static const int64_t ek[] = {64 * 31, 64 * 32 + 1, 64 * 64, 64 * 200 - 3};
    for (size_t t = 0; t < sizeof ek / sizeof ek[0]; t++) {
        const int64_t k = ek[t], kw = bc__b1_words(k), n = 5, m = 11;
        uint64_t *a = calloc((size_t)(n * kw), sizeof *a), *b = calloc((size_t)(m * kw), sizeof *b);
        for (int64_t i = 0; i < n; i++)
            for (int64_t e = 0; e < k; e++) a[i * kw + e / 64] |= 1ull << (e % 64);
        for (int64_t j = 0; j < m; j += 2) memcpy(b + j * kw, a, (size_t)kw * sizeof *b); /* even rows = a */
        int32_t *out = malloc((size_t)(n * m) * sizeof *out);
        kern->xnor_gemm(out, m, a, kw, b, kw, n, m, k);
        int bad = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < m; j++) bad += out[i * m + j] != (j % 2 ? -k : k);
        BC_CHECK_MSG(bad == 0, "%s k=%lld: %d extreme dots wrong", kern->name, (long long)k, bad);
        free(a), free(b), free(out);
    }
}

static void test_dispatch(void) {
    BC_CHECK(strcmp(bc__bin_kernels_for(BC_CPU_SCALAR)->name, "scalar") == 0);
    for (int c = 0; c <= (int)bc_cpu_detect(); c++)
        BC_CHECK(strcmp(bc__bin_kernels_for((bc_cpu)c)->name, bc_cpu_name((bc_cpu)c)) == 0);
}

/* Threshold packing: each variant vs a per-element rule, odd widths, both comparison signs. */
static void test_threshold_pack(const bc__bin_kernels *kern) {
    enum { ROWS = 7, MAXK = 200 };
    static int32_t x[ROWS * MAXK], mul[MAXK], thr[MAXK];
    static uint64_t out[ROWS * 5];
    bc_rng_key key = {.seed = 77, .purpose = BC_RNG_TEST, .layer = 9};
    const int64_t widths[] = {1, 15, 16, 17, 63, 64, 65, 130, 200};
    for (size_t t = 0; t < sizeof widths / sizeof widths[0]; t++) {
        int64_t k = widths[t], words = bc__b1_words(k);
        for (int64_t i = 0; i < ROWS * k; i++) x[i] = (int32_t)(bc_rng_u32(key, (uint64_t)(t * 100000 + i)) % 41) - 20;
        for (int64_t j = 0; j < k; j++) {
            mul[j] = bc_rng_u32(key, (uint64_t)(t * 100000 + 50000 + j)) & 1 ? 1 : -1;
            thr[j] = (int32_t)(bc_rng_u32(key, (uint64_t)(t * 100000 + 60000 + j)) % 21) - 10;
        }
        memset(out, 0xAB, sizeof out);
        kern->threshold_pack(out, 5, x, k, mul, thr, ROWS, k);
        int bad = 0;
        for (int64_t r = 0; r < ROWS; r++) {
            for (int64_t j = 0; j < words * 64; j++) {
                int want = j < k ? mul[j] * x[r * k + j] >= thr[j] : 0;
                bad += (int)((out[r * 5 + j / 64] >> (j % 64)) & 1) != want;
            }
            for (int64_t w = words; w < 5; w++) bad += out[r * 5 + w] != 0xABABABABABABABABull; /* untouched */
        }
        BC_CHECK_MSG(bad == 0, "%s: threshold_pack k=%lld: %d wrong bits", kern->name, (long long)k, bad);
    }
}

/* Batch norm + sign packing: each variant vs the per-element rule (x*scale + shift >= 0,
 * rounded as bc__bn_apply), with -0.0, NaN and values on the boundary; words past the row untouched. */
static void test_affine_pack(const bc__bin_kernels *kern) {
    enum { ROWS = 5, MAXK = 200, LDO = 6 };
    static float x[ROWS * MAXK], scale[MAXK], shift[MAXK];
    static uint64_t out[ROWS * LDO];
    bc_rng_key key = {.seed = 78, .purpose = BC_RNG_TEST, .layer = 10};
    const int64_t widths[] = {1, 15, 16, 17, 63, 64, 65, 130, 200};
    for (size_t t = 0; t < sizeof widths / sizeof widths[0]; t++) {
        const int64_t k = widths[t], words = bc__b1_words(k);
        float *r = rand_floats(key, ROWS, k);
        memcpy(x, r, (size_t)(ROWS * k) * sizeof *x);
        free(r);
        for (int64_t j = 0; j < k; j++) {
            scale[j] = (bc_rng_u32(key, (uint64_t)(t * 1000 + j)) & 1 ? 1.0f : -1.0f) * (0.25f + (float)(j % 7));
            shift[j] = 0.5f * (float)((int)(j % 5) - 2);
        }
        if (k >= 2) x[0] = 0.5f, scale[0] = 1.0f, shift[0] = -0.5f; /* exactly 0: fires */
        key.chip++;
        memset(out, 0xAB, sizeof out);
        kern->affine_pack(out, LDO, x, k, scale, shift, ROWS, k);
        int bad = 0;
        for (int64_t i = 0; i < ROWS; i++) {
            for (int64_t j = 0; j < words * 64; j++) {
                volatile float v = x[i * k + j % k] * scale[j % k]; /* rounded like bc__bn_apply */
                int want = j < k ? (float)(v + shift[j]) >= 0.0f : 0;
                bad += (int)((out[i * LDO + j / 64] >> (j % 64)) & 1) != want;
            }
            for (int64_t w = words; w < LDO; w++) bad += out[i * LDO + w] != 0xABABABABABABABABull;
        }
        BC_CHECK_MSG(bad == 0, "%s: affine_pack k=%lld: %d wrong bits", kern->name, (long long)k, bad);
        if (k >= 2) BC_CHECK(out[0] & 1);
    }
}

/* Direct convolution on one shape: the reference against a naive double sum (tolerance), each
 * variant against the reference (bits), sentinels in out's padding columns untouched. */
static void check_conv_direct(const bc__bin_kernels *kern, int64_t c, int32_t k, int32_t stride, int32_t ow,
                              int32_t rows, int64_t m, bool bias, uint64_t seed) {
    const int64_t wp = (int64_t)(ow - 1) * stride + k + 1, hp = (int64_t)(rows - 1) * stride + k, ldo = m + 3;
    const int64_t kk = (int64_t)k * k * c, nout = (int64_t)rows * ow * ldo;
    bc_rng_key key = {.seed = seed, .purpose = BC_RNG_TEST, .layer = 11};
    float *xp = rand_floats(key, hp * wp, c);
    for (int64_t i = 0; i < hp * wp * c; i++)
        if (xp[i] != xp[i]) xp[i] = 0.0f; /* NaN would hide every other mismatch */
    key.chip = 1;
    float *wt = rand_floats(key, kk, m), *b = bias ? rand_floats((bc_rng_key){.seed = seed + 1}, 1, m) : NULL;
    for (int64_t i = 0; i < kk * m; i++)
        if (wt[i] != wt[i]) wt[i] = -0.0f;
    if (b)
        for (int64_t j = 0; j < m; j++)
            if (b[j] != b[j]) b[j] = 0.25f;
    float *want = malloc((size_t)nout * sizeof *want), *got = malloc((size_t)nout * sizeof *got);
    for (int64_t i = 0; i < nout; i++) want[i] = got[i] = 1234.5f;
    bc__conv_direct_ref(want, ldo, xp, wp, c, k, stride, ow, rows, wt, b, m);
    kern->conv_direct(got, ldo, xp, wp, c, k, stride, ow, rows, wt, b, m);
    int64_t bad_naive = 0, bad = 0;
    for (int32_t r = 0; r < rows; r++)
        for (int32_t ox = 0; ox < ow; ox++) {
            for (int64_t j = 0; j < m; j++) {
                double s = b ? b[j] : 0.0;
                for (int32_t ky = 0; ky < k; ky++)
                    for (int32_t kx = 0; kx < k; kx++)
                        for (int64_t ci = 0; ci < c; ci++)
                            s += (double)xp[(((int64_t)r * stride + ky) * wp + (int64_t)ox * stride + kx) * c + ci] *
                                 wt[(((int64_t)ky * k + kx) * c + ci) * m + j];
                bad_naive += fabs(s - want[((int64_t)r * ow + ox) * ldo + j]) > 1e-4 * (double)(kk + 1);
            }
        }
    for (int64_t i = 0; i < nout; i++) bad += memcmp(&want[i], &got[i], sizeof *got) != 0;
    BC_CHECK_MSG(bad_naive == 0 && bad == 0, "%s conv_direct c=%lld k=%d s=%d ow=%d rows=%d m=%lld: %lld vs naive, %lld vs ref",
                 kern->name, (long long)c, k, stride, ow, rows, (long long)m, (long long)bad_naive, (long long)bad);
    free(xp), free(wt), free(b), free(want), free(got);
}

static void test_conv_direct(const bc__bin_kernels *kern) {
    uint64_t seed = 500;
    static const int32_t ows[] = {1, 3, 4, 5, 8, 9, 13, 28};
    static const int64_t ms[] = {1, 15, 16, 17, 64, 70};
    for (size_t a = 0; a < sizeof ows / sizeof ows[0]; a++)
        for (size_t b = 0; b < sizeof ms / sizeof ms[0]; b++)
            check_conv_direct(kern, 1, 3, 1, ows[a], 2, ms[b], (a + b) % 2, seed++);
    check_conv_direct(kern, 3, 3, 2, 7, 3, 33, true, seed++);
    check_conv_direct(kern, 2, 5, 1, 6, 2, 65, false, seed++);
    check_conv_direct(kern, 4, 1, 1, 9, 1, 8, true, seed++);
}

int main(void) {
    test_ref_vs_naive();
    test_dispatch();
    for (int c = 0; c <= (int)bc_cpu_detect(); c++) {
        const bc__bin_kernels *kern = bc__bin_kernels_for((bc_cpu)c);
        printf("variant %s\n", kern->name);
        test_pack(kern);
        test_gemm(kern);
        test_gemm_extremes(kern);
        test_threshold_pack(kern);
        test_affine_pack(kern);
        test_conv_direct(kern);
    }
    return bc_t_report();
}
