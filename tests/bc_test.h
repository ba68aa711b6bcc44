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
static inline int bc_t_report(void) {
    printf("%d passed, %d failed\n", bc_t_n - bc_t_fail, bc_t_fail);
    return bc_t_fail ? 1 : 0;
}
#endif
