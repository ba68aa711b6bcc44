/* Core: keyed RNG (purity, distribution, stream separation), permutations, arena, views,
 * status messages, context threads, CPU detection. */
#include "bc_internal.h"
#include "bc_test.h"

#include <stdlib.h>
#include <string.h>

static void test_rng_pure_and_separated(void) {
    bc_rng_key k = {.seed = 7, .purpose = BC_RNG_TEST, .chip = 3, .layer = 1};
    BC_CHECK(bc_rng_u32(k, 12345) == bc_rng_u32(k, 12345));
    /* Any change of a key field or of the index gives a different stream. */
    bc_rng_key k2 = k;
    k2.chip = 4;
    bc_rng_key k3 = k;
    k3.layer = 2;
    bc_rng_key k4 = k;
    k4.seed = 8;
    bc_rng_key k5 = k;
    k5.purpose = BC_RNG_INIT;
    int same[5] = {0};
    for (uint64_t i = 0; i < 1000; i++) {
        uint32_t a = bc_rng_u32(k, i);
        same[0] += a == bc_rng_u32(k2, i);
        same[1] += a == bc_rng_u32(k3, i);
        same[2] += a == bc_rng_u32(k4, i);
        same[3] += a == bc_rng_u32(k5, i);
        same[4] += a == bc_rng_u32(k, i + 1);
    }
    for (int j = 0; j < 5; j++) BC_CHECK_MSG(same[j] < 3, "stream %d collides %d times", j, same[j]);
}

static void test_rng_distributions(void) {
    bc_rng_key k = {.seed = 1, .purpose = BC_RNG_TEST};
    const int n = 200000;
    double su = 0, su2 = 0, sn = 0, sn2 = 0, sn4 = 0;
    float umin = 1, umax = 0;
    for (int i = 0; i < n; i++) {
        float u = bc_rng_uniform(k, (uint64_t)i);
        umin = u < umin ? u : umin;
        umax = u > umax ? u : umax;
        su += u;
        su2 += (double)u * u;
        double z = bc_rng_normal(k, (uint64_t)i);
        sn += z;
        sn2 += z * z;
        sn4 += z * z * z * z;
    }
    BC_CHECK(umin >= 0.0f && umax < 1.0f);
    /* Standard errors: uniform mean 1/sqrt(12n) ~ 6.5e-4; normal mean 1/sqrt(n) ~ 2.2e-3. */
    BC_CHECK_NEAR(su / n, 0.5, 4e-3);
    BC_CHECK_NEAR(su2 / n - (su / n) * (su / n), 1.0 / 12.0, 2e-3);
    BC_CHECK_NEAR(sn / n, 0.0, 1e-2);
    BC_CHECK_NEAR(sn2 / n, 1.0, 1.5e-2);
    BC_CHECK_NEAR(sn4 / n, 3.0, 0.1); /* kurtosis of a Gaussian */
}

static void test_permutation(void) {
    const int64_t n = 1001;
    int64_t *p = malloc(n * sizeof *p), *q = malloc(n * sizeof *q);
    char *seen = calloc(n, 1);
    bc_rng_key k = {.seed = 3, .purpose = BC_RNG_SHUFFLE};
    bc_rng_permutation(k, p, n);
    bc_rng_permutation(k, q, n);
    BC_CHECK(memcmp(p, q, n * sizeof *p) == 0);
    int ok = 1, fixed = 0;
    for (int64_t i = 0; i < n; i++) {
        if (p[i] < 0 || p[i] >= n || seen[p[i]]) ok = 0;
        else seen[p[i]] = 1;
        fixed += p[i] == i;
    }
    BC_CHECK(ok);
    BC_CHECK(fixed < 10); /* expected 1 fixed point */
    k.layer = 1;
    bc_rng_permutation(k, q, n);
    BC_CHECK(memcmp(p, q, n * sizeof *p) != 0);
    /* Position of element 0 over many permutations of 4 is roughly uniform. */
    int count[4] = {0};
    int64_t small[4];
    for (uint32_t s = 0; s < 4000; s++) {
        bc_rng_key ks = {.seed = s, .purpose = BC_RNG_SHUFFLE};
        bc_rng_permutation(ks, small, 4);
        for (int i = 0; i < 4; i++) count[i] += small[i] == 0;
    }
    for (int i = 0; i < 4; i++) BC_CHECK_MSG(count[i] > 850 && count[i] < 1150, "position %d: %d", i, count[i]);
    free(p);
    free(q);
    free(seen);
}

static void test_arena_and_views(void) {
    bc_arena *a;
    BC_CHECK(bc_arena_new(1000, &a) == BC_OK);
    void *p1 = bc_arena_alloc(a, 10), *p2 = bc_arena_alloc(a, 100);
    BC_CHECK(p1 && p2 && ((uintptr_t)p1 % 64) == 0 && ((uintptr_t)p2 % 64) == 0 && (char *)p2 >= (char *)p1 + 10);
    BC_CHECK(bc_arena_alloc(a, 2000) == NULL);
    BC_CHECK(strstr(bc_last_error(), "arena full") != NULL);
    BC_CHECK(bc_arena_alloc(a, SIZE_MAX) == NULL);
    bc_arena_reset(a);
    BC_CHECK(bc_arena_used(a) == 0 && bc_arena_alloc(a, 900) != NULL);
    bc_arena_free(a);
    float buf[24];
    int64_t ne[3] = {2, 3, 4};
    bc_view v = bc_view_contig(BC_F32, buf, 3, ne);
    BC_CHECK(bc_view_numel(&v) == 24 && v.nb[2] == 4 && v.nb[1] == 16 && v.nb[0] == 48);
}

static void test_status_and_ctx(void) {
    BC_CHECK(strcmp(bc_status_str(BC_ERR_FORMAT), "format error") == 0);
    BC_CHECK(bc__fail(BC_ERR_IO, "x.bin: %s", "boom") == BC_ERR_IO);
    BC_CHECK(strcmp(bc_last_error(), "x.bin: boom") == 0);
    bc_clear_error();
    BC_CHECK(bc_last_error()[0] == '\0');
    bc_ctx *ctx;
    BC_CHECK(bc_ctx_new(&ctx) == BC_OK);
    BC_CHECK(bc_ctx_set_threads(ctx, 0) == BC_ERR_PARAM);
    BC_CHECK(bc_ctx_set_threads(ctx, 1) == BC_OK && bc_ctx_threads(ctx) == 1);
    BC_CHECK(bc_ctx_cpu(ctx) >= BC_CPU_SCALAR && bc_ctx_cpu(ctx) < BC_CPU_COUNT);
    bc_ctx_free(ctx);
    setenv("BC_THREADS", "0", 1);
    BC_CHECK(bc_ctx_new(&ctx) == BC_ERR_PARAM);
    setenv("BC_THREADS", "3", 1);
    BC_CHECK(bc_ctx_new(&ctx) == BC_OK && bc_ctx_threads(ctx) == 3);
    bc_ctx_free(ctx);
    setenv("BC_CPU", "scalar", 1);
    BC_CHECK(bc_cpu_detect() == BC_CPU_SCALAR);
    unsetenv("BC_CPU");
}

int main(void) {
    test_rng_pure_and_separated();
    test_rng_distributions();
    test_permutation();
    test_arena_and_views();
    test_status_and_ctx();
    return bc_t_report();
}
