/* CLI helpers: errors and exit codes, strict option parsing, progress, memory use. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int cli_fail(bc_status st, const char *what) {
    const char *msg = bc_last_error();
    if (what) fprintf(stderr, "bitcell: %s: %s\n", what, *msg ? msg : bc_status_str(st));
    else fprintf(stderr, "bitcell: %s\n", *msg ? msg : bc_status_str(st));
    return st == BC_ERR_PARAM ? BC_EXIT_USAGE : BC_EXIT_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "bitcell %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see bitcell %s --help)\n", cmd);
    return BC_EXIT_USAGE;
}

bool cli_int(const char *opt, const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "bitcell: %s '%s': expected an integer in [%ld, %ld]\n", opt, v, lo, hi);
        return false;
    }
    *out = x;
    return true;
}

bool cli_float(const char *opt, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi) {
        fprintf(stderr, "bitcell: %s '%s': expected a number in [%g, %g]\n", opt, v, lo, hi);
        return false;
    }
    *out = x;
    return true;
}

bool cli_u64(const char *opt, const char *v, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-') {
        fprintf(stderr, "bitcell: %s '%s': expected a non-negative integer\n", opt, v);
        return false;
    }
    *out = x;
    return true;
}

int cli_ctx(long threads, bc_ctx **out) {
    bc_status st = bc_ctx_new(out);
    if (st) return cli_fail(st, NULL);
    if (threads > 0 && (st = bc_ctx_set_threads(*out, (int32_t)threads))) {
        bc_ctx_free(*out);
        return cli_fail(st, NULL);
    }
    return BC_EXIT_OK;
}

static double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_progress_init(cli_progress *p, const char *label, bool quiet) {
    p->tty = isatty(STDERR_FILENO);
    p->quiet = quiet;
    p->start = p->last_draw = cli_now();
    p->label = label;
}

static void cli_fmt_time(char *buf, size_t n, double s) {
    if (!isfinite(s) || s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

void cli_progress_update(cli_progress *p, double done, double total, const char *unit, double rate, const char *extra) {
    if (p->quiet) return;
    double now = cli_now();
    bool last = done >= total;
    /* Redraw at most 10 times a second on a terminal; elsewhere a line every 10 s. */
    if (!last && now - p->last_draw < (p->tty ? 0.1 : 10.0)) return;
    p->last_draw = now;
    double frac = total > 0 ? done / total : 1;
    char eta[32], el[32];
    cli_fmt_time(eta, sizeof eta, rate > 0 ? (total - done) / rate : 0);
    cli_fmt_time(el, sizeof el, now - p->start);
    if (p->tty) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r%s [%s] %5.1f%% %.0f %s/s elapsed %s eta %s %s\033[K", p->label, bar, 100 * frac, rate, unit, el, eta, extra ? extra : "");
    } else if (!last) {
        fprintf(stderr, "%s %5.1f%% %.0f %s/s elapsed %s eta %s %s\n", p->label, 100 * frac, rate, unit, el, eta, extra ? extra : "");
    }
    fflush(stderr);
}

double cli_progress_elapsed(const cli_progress *p) { return cli_now() - p->start; }

void cli_progress_end(cli_progress *p) {
    if (!p->quiet && p->tty) fprintf(stderr, "\r\033[K");
}

double cli_peak_rss_mib(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return 0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}
