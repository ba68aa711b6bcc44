/* Shared helpers of the bitcell CLI: option parsing, errors, progress, run directories. */
#ifndef BC_CLI_H
#define BC_CLI_H
#include "bitcell.h"

#include <stdio.h>

/* Exit codes: 0 ok, 1 runtime failure, 2 usage error. */
enum { BC_EXIT_OK = 0, BC_EXIT_FAIL = 1, BC_EXIT_USAGE = 2 };

typedef int (*bc_cmd_fn)(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_mc(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_poppins(int argc, char **argv);

/* "bitcell: <msg>" on stderr; returns the exit code for the status. */
int cli_fail(bc_status st, const char *what);
int cli_usage(const char *cmd, const char *fmt, ...);
/* Strict number parsing for options; false (with a usage message) when out of range. */
bool cli_int(const char *opt, const char *v, long lo, long hi, long *out);
bool cli_float(const char *opt, const char *v, double lo, double hi, double *out);
bool cli_u64(const char *opt, const char *v, uint64_t *out);

/* A context with --threads applied (0 = BC_THREADS or all cores). */
int cli_ctx(long threads, bc_ctx **out);

/* Progress on stderr: a redrawn bar on a terminal, a plain line every few seconds otherwise. */
typedef struct {
    bool tty, quiet;
    double start, last_draw;
    const char *label;
} cli_progress;
void cli_progress_init(cli_progress *p, const char *label, bool quiet);
void cli_progress_update(cli_progress *p, double done, double total, const char *unit, double rate, const char *extra);
void cli_progress_end(cli_progress *p);
double cli_progress_elapsed(const cli_progress *p);

/* Peak resident memory of this process in MiB. */
double cli_peak_rss_mib(void);
#endif
