/* Minimal test harness: CHECK counts and reports; main returns bc_t_report() (1 on failure). */
#ifndef BC_TEST_H
#define BC_TEST_H
#include <math.h>
#include <stdio.h>

static int bc_t_n, bc_t_fail;
#define BC_CHECK(c)                                                                            \
    do {                                                                                       \
        bc_t_n++;                                                                              \
        if (!(c)) {                                                                            \
            bc_t_fail++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c);              \
        }                                                                                      \
    } while (0)
#define BC_CHECK_MSG(c, ...)                                                                   \
    do {                                                                                       \
        bc_t_n++;                                                                              \
        if (!(c)) {                                                                            \
            bc_t_fail++;                                                                       \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #c);              \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
        }                                                                                      \
    } while (0)
#define BC_CHECK_NEAR(a, b, tol) BC_CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%g vs %g", (double)(a), (double)(b))
/* Writes n bytes to path p (a failed check when it cannot). */
static inline void bc_t_write_raw(const char *p, const void *data, size_t n) {
    FILE *f = fopen(p, "wb");
    BC_CHECK(f != NULL);
    if (!f) return;
    if (n) BC_CHECK(fwrite(data, 1, n, f) == n);
    fclose(f);
}

/* dir + "/" + name in one of 8 rotating static buffers (keeps call sites short). */
static inline const char *bc_t_path(const char *dir, const char *name) {
    static char buf[8][512];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

#ifdef BITCELL_H
/* A model from network text; NULL (with a failed check) when it does not parse or build. */
static inline bc_model *bc_t_model(bc_ctx *ctx, const char *origin, const char *ini, bc_shape in, uint64_t seed) {
    bc_netspec *spec = NULL;
    bc_model *m = NULL;
    bc_status st = bc_netspec_parse_text(ini, origin, &spec);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    if (st) return NULL;
    st = bc_model_new(ctx, spec, in, seed, &m);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    bc_netspec_free(spec);
    return m;
}
#endif

#ifdef BITCELL_CIM_H
/* A macro description: the built-in defaults plus "key=value" assignments (NULL-terminated). */
static inline bc_cim_hw bc_t_hw(const char *const *sets) {
    bc_cim_hw hw = bc_cim_hw_default();
    for (int i = 0; sets && sets[i]; i++) {
        bc_status st = bc_cim_hw_set(&hw, sets[i]);
        BC_CHECK_MSG(st == BC_OK, "%s: %s", sets[i], bc_last_error());
    }
    return hw;
}
#endif

static inline int bc_t_report(void) {
    printf("%d passed, %d failed\n", bc_t_n - bc_t_fail, bc_t_fail);
    return bc_t_fail ? 1 : 0;
}
#endif
