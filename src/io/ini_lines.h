/* Strict INI text with line numbers, shared by every description file (networks, CIM macros).
 * inih does the key/value parsing; this reader hands it one left-trimmed line at a time (so
 * indentation is never read as a multi-line continuation), counts lines and reports section
 * headers, because the Debian build of inih reports neither empty sections nor line numbers. */
#ifndef BC_IO_INI_LINES_H
#define BC_IO_INI_LINES_H
#include "bc_internal.h"

typedef struct bc__ini bc__ini;
struct bc__ini {
    const char *origin; /* file name for messages */
    int32_t line;       /* line being handled */
    bc_status st;       /* first error; callbacks set it with bc__fail and parsing stops */
    void *user;
    /* A "[name]" header line; name is the text between the brackets. */
    void (*section)(bc__ini *ini, const char *name);
    /* A key = value line; returns 0 after setting st on error, else 1. */
    int (*key)(bc__ini *ini, const char *key, const char *value);
    const char *cursor; /* private: reader position */
};

/* Parses text; returns ini->st, or a syntax error "origin:line: ...". */
bc_status bc__ini_parse(bc__ini *ini, const char *text);

/* Value parsers: the whole string must be consumed and lie in [lo, hi]. */
bool bc__ini_int(const char *v, int64_t lo, int64_t hi, int32_t *out);
bool bc__ini_float(const char *v, double lo, double hi, float *out);
bool bc__ini_double(const char *v, double lo, double hi, double *out);
bool bc__ini_bool(const char *v, bool *out);
/* A name: 1 to cap-1 letters, digits, '_', '-' or '.', copied to out. */
bool bc__ini_name(const char *v, char *out, size_t cap);
#endif
