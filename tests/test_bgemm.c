/* The bf16 GEMM of training's binary layers: rounding to bf16 (ties to even, NaN, overflow);
 * the SIMD packers against the scalar ones bit for bit (and subnormals flushed); the im2col
 * packers against bc__im2col + the scalar packer, and the im2col driver against the
 * reference on the im2col matrix; every kernel this machine runs
 * (scalar, avx512bf16, amx) through the driver against the double-sum reference on shapes
 * that are not multiples of the tiles or blocks, all four transpose cases, alpha and beta,
 * a pre-packed B, non-minimal leading dimensions with sentinels past n; exact integers on
 * ±1 (and zero) operands; the threaded driver gives the serial bits; dispatch. */
#include "nn/model.h"
#include "bc_test.h"
#include "kernels/bgemm.h"
#include "kernels/im2col.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SENTINEL 12345.0f

static float f32_of_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static void test_round(void) {
    BC_CHECK(bc__bf16_of(1.0f) == 0x3f80);
    BC_CHECK(bc__bf16_of(-2.0f) == 0xc000);
    BC_CHECK(bc__bf16_of(0.0f) == 0 && bc__bf16_of(-0.0f) == 0x8000);
    BC_CHECK(bc__bf16_of(f32_of_bits(0x3f808000u)) == 0x3f80); /* tie, even below */
    BC_CHECK(bc__bf16_of(f32_of_bits(0x3f818000u)) == 0x3f82); /* tie, even above */
    BC_CHECK(bc__bf16_of(f32_of_bits(0x3f808001u)) == 0x3f81); /* above the tie */
    BC_CHECK(bc__bf16_of(f32_of_bits(0x3f807fffu)) == 0x3f80); /* below the tie */
    BC_CHECK(bc__bf16_of(INFINITY) == 0x7f80 && bc__bf16_of(-INFINITY) == 0xff80);
    BC_CHECK(bc__bf16_of(f32_of_bits(0x7f7fffffu)) == 0x7f80); /* FLT_MAX rounds to inf */
    const uint16_t qn = bc__bf16_of(NAN), sn = bc__bf16_of(f32_of_bits(0x7f800001u));
    BC_CHECK(isnan(bc__bf16_to_f32(qn)) && isnan(bc__bf16_to_f32(sn)) && (sn & 0x40));
    for (int v = -256; v <= 256; v++) BC_CHECK(bc__bf16_to_f32(bc__bf16_of((float)v)) == (float)v);
}

/* Values N(0,1) * 10^(-3..3) so rounding and exponents vary; keyed by tag. */
static float *rand_f(int64_t count, uint32_t tag) {
    float *x = malloc((size_t)(count + 1) * sizeof *x);
    bc_rng_key k = {.seed = 5, .purpose = BC_RNG_TEST, .layer = tag};
    for (int64_t i = 0; i < count; i++)
        x[i] = bc_rng_normal(k, (uint64_t)i) * powf(10.0f, (float)(bc_rng_u32(k, (uint64_t)(i + count)) % 7) - 3.0f);
    return x;
}

/* ±1 with a zero now and then (zero-padded im2col taps). */
static float *rand_pm1(int64_t count, uint32_t tag) {
    float *x = malloc((size_t)(count + 1) * sizeof *x);
    bc_rng_key k = {.seed = 6, .purpose = BC_RNG_TEST, .layer = tag};
    for (int64_t i = 0; i < count; i++) {
        uint32_t r = bc_rng_u32(k, (uint64_t)i) % 16;
        x[i] = r == 0 ? 0.0f : r & 1 ? 1.0f : -1.0f;
    }
    return x;
}

static void test_pack(const bc__bf16_kernels *kern) {
    static const int64_t shapes[][2] = {{1, 1}, {16, 32}, {17, 33}, {5, 70}, {40, 7}, {33, 100}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int tr = 0; tr < 2; tr++) {
            const int64_t r = shapes[s][0], k = shapes[s][1];
            const int64_t ld = (tr ? r : k) + 3, rows = tr ? k : r;
            float *x = rand_f(rows * ld, (uint32_t)(10 + s));
            x[0] = NAN;
            const int64_t sz = bc__bgemm_packed(r, k);
            uint16_t *want = malloc((size_t)sz * 2), *got = malloc((size_t)sz * 2);
            bc__bgemm_pack_a_ref(want, tr, x, ld, r, k);
            memset(got, 0xa5, (size_t)sz * 2);
            kern->pack_a(got, tr, x, ld, r, k);
            BC_CHECK_MSG(!memcmp(want, got, (size_t)sz * 2), "%s pack_a r=%lld k=%lld ta=%d", kern->name,
                         (long long)r, (long long)k, tr);
            /* B (k, n = r): tb reads b[j*ldb + t], else b[t*ldb + j]. */
            const int64_t ldb = (tr ? k : r) + 3, brow = tr ? r : k;
            float *y = rand_f(brow * ldb, (uint32_t)(20 + s));
            bc__bgemm_pack_b_ref(want, tr, y, ldb, k, r);
            memset(got, 0xa5, (size_t)sz * 2);
            kern->pack_b(got, tr, y, ldb, k, r);
            BC_CHECK_MSG(!memcmp(want, got, (size_t)sz * 2), "%s pack_b k=%lld n=%lld tb=%d", kern->name,
                         (long long)k, (long long)r, tr);
            free(x), free(y), free(want), free(got);
        }
}

/* SIMD packers flush subnormal inputs (the scalar ones keep them). */
static void test_subnormal(const bc__bf16_kernels *kern) {
    float a[32] = {0};
    a[0] = f32_of_bits(0x00400000u); /* subnormal, bf16 0x0040 when kept */
    a[1] = 1.0f;
    uint16_t p[512];
    kern->pack_a(p, false, a, 32, 1, 2);
    BC_CHECK(p[1] == 0x3f80);
    BC_CHECK(p[0] == (kern == &bc__bf16_kernels_scalar ? 0x0040 : 0));
}

/* B = im2col(x) packed straight from x, against bc__im2col then the scalar packer. */
static void test_pack_im2col(const bc__bf16_kernels *kern) {
    typedef struct { int32_t h, w, c, k, stride, pad; } geo;
    static const geo geos[] = {{5, 6, 16, 3, 1, 1}, {7, 5, 32, 3, 2, 0}, {4, 4, 48, 1, 1, 0},
                               {6, 7, 16, 5, 2, 2}, {5, 5, 3, 3, 1, 1}, {4, 6, 5, 2, 1, 0}};
    const bool simd = kern != &bc__bf16_kernels_scalar;
    for (size_t i = 0; i < sizeof geos / sizeof geos[0]; i++) {
        bc__conv_geom g = {.h = geos[i].h, .w = geos[i].w, .c = geos[i].c, .k = geos[i].k, .stride = geos[i].stride,
                           .pad = geos[i].pad};
        if (simd && g.c % 16) continue;
        g.oh = (g.h + 2 * g.pad - g.k) / g.stride + 1;
        g.ow = (g.w + 2 * g.pad - g.k) / g.stride + 1;
        const int64_t ns = 20, rows = ns * g.oh * g.ow, K = (int64_t)g.k * g.k * g.c; /* rows > KC for some */
        float *x = rand_f(ns * g.h * g.w * g.c, (uint32_t)(40 + i)), *col = malloc((size_t)(rows * K) * sizeof *col);
        bc__im2col(col, x, ns, &g);
        /* a block of rows from the middle (across samples, not a multiple of 32) and of columns */
        const int64_t r0 = 7, kr = rows - 9 < BC__BGEMM_KC ? rows - 9 : BC__BGEMM_KC, j0 = K > 32 ? 16 : 0;
        const int64_t nn = K - j0 > 32 ? 32 : K - j0, sz = bc__bgemm_packed(nn, kr);
        uint16_t *want = malloc((size_t)sz * 2), *got = malloc((size_t)sz * 2);
        bc__bgemm_pack_b_ref(want, false, col + r0 * K + j0, K, kr, nn);
        memset(got, 0xa5, (size_t)sz * 2);
        kern->pack_b_im2col(got, x, &g, r0, kr, j0, nn);
        BC_CHECK_MSG(!memcmp(want, got, (size_t)sz * 2), "%s pack_b_im2col geometry %zu", kern->name, i);
        /* The driver over all rows (several k blocks when rows > KC) against the reference. */
        const int64_t m = 21;
        float *a = rand_f(rows * m, (uint32_t)(50 + i)), *c1 = calloc((size_t)(m * K), sizeof *c1);
        float *c2 = calloc((size_t)(m * K), sizeof *c2);
        void *work = bc__alloc(BC__BGEMM_WORK_BYTES);
        for (int64_t t = 0; t < rows * K; t++) col[t] = col[t] >= 0.0f ? 1.0f : -1.0f; /* exact ±1 */
        for (int64_t t = 0; t < ns * g.h * g.w * g.c; t++) x[t] = x[t] >= 0.0f ? 1.0f : -1.0f;
        bc__im2col(col, x, ns, &g); /* zero padding again */
        bc__bgemm_ref(true, false, m, K, rows, 1.0f, a, m, col, K, 0.0f, c1, K);
        bc__bgemm_im2col(kern, true, m, K, rows, 1.0f, a, m, x, &g, 0.0f, c2, K, work);
        int64_t bad = 0;
        for (int64_t t = 0; t < m * K; t++) {
            double s = 0;
            const int64_t ii = t / K, jj = t % K;
            for (int64_t r = 0; r < rows; r++) s += fabs((double)bc__bf16_to_f32(bc__bf16_of(a[r * m + ii])) * col[r * K + jj]);
            bad += fabs((double)c1[t] - c2[t]) > s * (double)(rows + 2) * 0x1p-24 + 1e-30;
        }
        BC_CHECK_MSG(bad == 0, "%s bc__bgemm_im2col geometry %zu: %lld wrong", kern->name, i, (long long)bad);
        free(x), free(col), free(want), free(got), free(a), free(c1), free(c2), free(work);
    }
}

typedef struct {
    int64_t m, n, k;
} shape;

/* One GEMM through kern's driver against the reference; pm1: ±1 operands, exact. */
static void check_gemm(const bc__bf16_kernels *kern, shape sh, bool ta, bool tb, float alpha, float beta, bool pm1,
                       bool prepack, void *work) {
    const int64_t m = sh.m, n = sh.n, k = sh.k;
    const int64_t lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1, ldc = n + 3;
    const int64_t arows = ta ? k : m, brows = tb ? n : k;
    const uint32_t tag = (uint32_t)(m * 7 + n * 13 + k * 17 + ta * 2 + tb);
    float *a = pm1 ? rand_pm1(arows * lda, tag) : rand_f(arows * lda, tag);
    float *b = pm1 ? rand_pm1(brows * ldb, tag + 1) : rand_f(brows * ldb, tag + 1);
    float *want = pm1 ? rand_pm1(m * ldc, tag + 2) : rand_f(m * ldc, tag + 2), *got = malloc((size_t)(m * ldc) * sizeof *got);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = n; j < ldc; j++) want[i * ldc + j] = SENTINEL;
    memcpy(got, want, (size_t)(m * ldc) * sizeof *got);
    uint16_t *bp = NULL;
    if (prepack) {
        bp = malloc((size_t)bc__bgemm_packed(n, k) * 2 + 2);
        bc__bgemm_pack_b_whole(kern, bp, tb, b, ldb, k, n);
    }
    bc__bgemm_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc);
    bc__bgemm_serial(kern, ta, tb, m, n, k, alpha, a, lda, prepack ? NULL : b, ldb, bp, beta, got, ldc, work);
    int64_t bad = 0, first = -1;
    double worst = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldc; j++) {
            const float w = want[i * ldc + j], g = got[i * ldc + j];
            bool ok;
            if (j >= n || pm1) {
                ok = w == g; /* sentinels untouched; ±1 sums are exact integers */
            } else {
                /* fp32 accumulation of exact products: error <= k u sum |a b| (plus the
                 * alpha and beta roundings); subnormal bf16 flushed by SIMD kernels. */
                double s = 0;
                for (int64_t t = 0; t < k; t++) {
                    const float av = ta ? a[t * lda + i] : a[i * lda + t], bv = tb ? b[j * ldb + t] : b[t * ldb + j];
                    s += fabs((double)bc__bf16_to_f32(bc__bf16_of(av)) * bc__bf16_to_f32(bc__bf16_of(bv)));
                }
                const double tol = fabs((double)alpha) * s * (double)(k + 2) * 0x1p-24 + 4e-6 * fabs((double)w) + 1e-30;
                const double e = fabs((double)w - g);
                ok = e <= tol;
                if (e / tol > worst) worst = e / tol;
            }
            if (!ok && bad++ == 0) first = i * ldc + j;
        }
    BC_CHECK_MSG(bad == 0, "%s m=%lld n=%lld k=%lld ta=%d tb=%d alpha=%g beta=%g pm1=%d prepack=%d: %lld wrong, first (%lld, %lld) %.9g vs %.9g",
                 kern->name, (long long)m, (long long)n, (long long)k, ta, tb, (double)alpha, (double)beta, pm1,
                 prepack, (long long)bad, (long long)(first < 0 ? -1 : first / ldc),
                 (long long)(first < 0 ? -1 : first % ldc), first < 0 ? 0.0 : (double)got[first],
                 first < 0 ? 0.0 : (double)want[first]);
    if (getenv("BC_TEST_VERBOSE"))
        printf("%-10s %4lld %4lld %4lld ta=%d tb=%d worst err/tol %.3f\n", kern->name, (long long)m, (long long)n,
               (long long)k, ta, tb, worst);
    free(a), free(b), free(want), free(got), free(bp);
}

static const shape k_shapes[] = {
    {1, 1, 1}, {16, 16, 32}, {17, 33, 31}, {5, 47, 65}, {33, 17, 129}, {31, 50, 600}, /* crosses KC */
    {300, 20, 40},                                                                    /* crosses MC */
    {20, 300, 45},                                                                    /* crosses NC */
    {64, 576, 97},  /* a conv's dW shape (out, K, rows), short */
    {97, 576, 64},  /* its dX block (rows, K, out) */
};

static void test_kernel(const bc__bf16_kernels *kern, void *work) {
    test_pack(kern);
    test_subnormal(kern);
    test_pack_im2col(kern);
    for (size_t s = 0; s < sizeof k_shapes / sizeof k_shapes[0]; s++)
        for (int tr = 0; tr < 4; tr++) {
            const bool ta = tr & 1, tb = tr & 2;
            check_gemm(kern, k_shapes[s], ta, tb, 1.0f, 0.0f, false, false, work);
            check_gemm(kern, k_shapes[s], ta, tb, 1.0f, 0.0f, true, false, work);
        }
    /* alpha, beta, a pre-packed B: the ways training calls it and the general case. */
    const shape sh = {45, 70, 530};
    check_gemm(kern, sh, true, false, 1.0f, 1.0f, false, false, work);
    check_gemm(kern, sh, true, false, 1.0f, 1.0f, true, false, work);
    check_gemm(kern, sh, false, false, -2.0f, 0.5f, false, false, work);
    check_gemm(kern, sh, false, false, 1.0f, 0.0f, false, true, work);
    check_gemm(kern, sh, false, true, 1.0f, 1.0f, true, true, work);
    check_gemm(kern, (shape){300, 300, 700}, false, false, 1.0f, 0.0f, false, true, work); /* all blocks, packed B */
    /* Exact on the biggest conv reduction of vgg-small-bnn (K = 2304) and k = 0. */
    check_gemm(kern, (shape){19, 35, 2304}, false, false, 1.0f, 0.0f, true, false, work);
    check_gemm(kern, (shape){7, 9, 0}, false, false, 1.0f, 0.5f, false, false, work);
}

/* bc__bgemm over threads in fixed blocks: the same bits as one serial call, by columns
 * (n >= m), by rows (tb), and with a pre-packed B. */
static void test_threads(const bc__bf16_kernels *kern) {
    const int64_t m = 300, n = 530, k = 200;
    void *work = bc__alloc(BC__BGEMM_WORK_BYTES * (size_t)bc__thread_count());
    float *a = rand_f(n * k, 70), *b = rand_f(k * n, 71);
    float *c1 = calloc((size_t)(m * n), sizeof *c1), *c2 = calloc((size_t)(m * n), sizeof *c2);
    uint16_t *bp = malloc((size_t)bc__bgemm_packed(n, k) * 2);
    bc__bgemm_pack_b_whole(kern, bp, false, b, n, k, n);
    for (int v = 0; v < 3; v++) {
        const int64_t mm = v == 1 ? n : m, nn = v == 1 ? m : n; /* v 1: A (n, k), B^T (m, k) */
        const bool tb = v == 1;
        const float *bb = v == 2 ? NULL : b;
        const uint16_t *bpp = v == 2 ? bp : NULL;
        bc__bgemm_serial(kern, false, tb, mm, nn, k, 1.0f, a, k, bb, tb ? k : n, bpp, 0.0f, c1, nn, work);
        bc__bgemm(kern, false, tb, mm, nn, k, 1.0f, a, k, bb, tb ? k : n, bpp, 0.0f, c2, nn, work);
        BC_CHECK_MSG(!memcmp(c1, c2, (size_t)(m * n) * sizeof *c1), "%s threaded, case %d", kern->name, v);
    }
    free(work), free(a), free(b), free(c1), free(c2), free(bp);
}

static void test_dispatch(void) {
    BC_CHECK(bc__bf16_kernels_for(BC_CPU_SCALAR) == NULL);
    BC_CHECK(bc__bf16_kernels_for(BC_CPU_AVX2) == NULL);
    BC_CHECK(bc__bf16_kernels_named("scalar") == &bc__bf16_kernels_scalar);
    BC_CHECK(bc__bf16_kernels_named("nonsense") == NULL);
    const bc__bf16_kernels *best = bc__bf16_kernels_for(bc_cpu_detect());
    const bool hw = bc_cpu_detect() >= BC_CPU_AVX512 && bc__cpu_has_avx512bf16();
    BC_CHECK(hw == (best != NULL));
    if (best) BC_CHECK(best == bc__bf16_kernels_named(bc__cpu_amx_bf16_ready() ? "amx" : "avx512bf16"));
    printf("bf16 kernels: best %s (avx512bf16 %s, amx %s)\n", best ? best->name : "none",
           bc__bf16_kernels_named("avx512bf16") ? "yes" : "no", bc__bf16_kernels_named("amx") ? "yes" : "no");
}

int main(void) {
    test_round();
    test_dispatch();
    void *work = bc__alloc(BC__BGEMM_WORK_BYTES);
    static const char *names[] = {"scalar", "avx512bf16", "amx"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const bc__bf16_kernels *kern = bc__bf16_kernels_named(names[i]);
        if (!kern) {
            printf("bf16 kernel %s: not on this machine, skipped\n", names[i]);
            continue;
        }
        test_kernel(kern, work);
        test_threads(kern);
    }
    free(work);
    return bc_t_report();
}
