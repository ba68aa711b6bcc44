/* Line-numbered strict INI reading around inih (see ini_lines.h). */
#include "io/ini_lines.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <string.h>

/* Opens a section when inih is about to see a header line. */
static void bc__ini_header(bc__ini *ini, const char *line) {
    const char *close = strchr(line, ']');
    char name[64] = "";
    size_t n = close ? (size_t)(close - line - 1) : 0;
    if (!close || n == 0 || n >= sizeof name) {
        ini->st = bc__fail(BC_ERR_FORMAT, "%s:%d: malformed section header", ini->origin, ini->line);
        return;
    }
    memcpy(name, line + 1, n);
    name[n] = '\0';
    ini->section(ini, name);
}

static char *bc__ini_reader(char *str, int num, void *stream) {
    bc__ini *ini = stream;
    if (!*ini->cursor || ini->st) return NULL;
    const char *nl = strchr(ini->cursor, '\n');
    size_t len = nl ? (size_t)(nl - ini->cursor + 1) : strlen(ini->cursor);
    const char *start = ini->cursor;
    ini->cursor += len;
    ini->line++;
    while (len && (*start == ' ' || *start == '\t')) { start++; len--; }
    if (len && start[len - 1] == '\n') len--; /* the limit is on the text, not its line end */
    if (len && start[len - 1] == '\r') len--;
    if (len >= (size_t)num) {
        ini->st = bc__fail(BC_ERR_FORMAT, "%s:%d: line longer than %d characters", ini->origin, ini->line, num - 1);
        return NULL;
    }
    memcpy(str, start, len);
    str[len] = '\0';
    if (str[0] == '[') bc__ini_header(ini, str);
    return str;
}

static int bc__ini_handler(void *user, const char *section, const char *key, const char *value) {
    bc__ini *ini = user;
    (void)section; /* the reader already told the caller about the current section */
    if (ini->st) return 0;
    return ini->key(ini, key, value);
}

bc_status bc__ini_parse(bc__ini *ini, const char *text) {
    ini->cursor = text;
    ini->line = 0;
    int r = ini_parse_stream(bc__ini_reader, ini, bc__ini_handler, ini);
    if (ini->st) return ini->st;
    if (r > 0) return ini->st = bc__fail(BC_ERR_FORMAT, "%s:%d: syntax error (expected [section] or key = value)", ini->origin, r);
    if (r < 0) return ini->st = bc__fail(BC_ERR_NOMEM, "%s: parser failed", ini->origin);
    return BC_OK;
}

bool bc__ini_int(const char *v, int64_t lo, int64_t hi, int32_t *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return false;
    *out = (int32_t)x;
    return true;
}

bool bc__ini_double(const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi) return false;
    *out = x;
    return true;
}

bool bc__ini_float(const char *v, double lo, double hi, float *out) {
    double x;
    if (!bc__ini_double(v, lo, hi, &x)) return false;
    *out = (float)x;
    return true;
}

bool bc__ini_bool(const char *v, bool *out) {
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) { *out = true; return true; }
    if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no")) { *out = false; return true; }
    return false;
}

bool bc__ini_name(const char *v, char *out, size_t cap) {
    size_t n = strlen(v);
    if (n == 0 || n >= cap) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]) && v[i] != '_' && v[i] != '-' && v[i] != '.') return false;
    memcpy(out, v, n + 1);
    return true;
}
