/* POPPINS processor descriptions: strict INI ([chip], up to two [population], one [projection]),
 * errors as "file:line: message". inih splits keys and values; a line reader around it tracks
 * line numbers and section headers (as in src/nn/netspec.c). Keys are collected per section
 * first and checked once the whole file is read, because a section's sizes may come after the
 * values they govern and the chip's limits may come last. */
#include "snn/poppins_internal.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include "io/ini_lines.h"
#include <string.h>

#define BC__PF_MAX_TEXT (4u << 20)
#define BC__PF_MAX_SECS 4 /* [chip], two [population], [projection] */

typedef enum { PF_CHIP, PF_POP, PF_PROJ, PF_KIND_COUNT } bc__pf_kind;
static const char *const bc__pf_names[PF_KIND_COUNT] = {"chip", "population", "projection"};

/* Keys each section accepts; `weights` may repeat (one row per line). */
static const char *const bc__pf_keys[PF_KIND_COUNT][16] = {
    [PF_CHIP] = {"name", "weight_bits", "max_neurons", "accumulator_bits", "energy_pj_per_sop", "step_ms", NULL},
    [PF_POP] = {"name", "neurons", "rest", "threshold", "reset", "a", "b", "noise", "tau", "bias", "weights",
                "weights_file", NULL},
    [PF_PROJ] = {"from", "to", "weights", "weights_file", NULL},
};

typedef struct {
    char key[24];
    char *val;
    int32_t line;
} bc__pf_kv;

typedef struct {
    bc__pf_kind kind;
    int32_t line;
    bc__pf_kv *kv;
    int32_t nkv, cap;
} bc__pf_sec;

typedef struct {
    const char *origin, *base_dir;
    const char *cursor;
    int32_t line;
    bc__pf_sec sec[BC__PF_MAX_SECS];
    int32_t nsec;
    bc_status st;
} bc__pf;

#define BAD(...) (p->st = bc__fail(BC_ERR_FORMAT, __VA_ARGS__), 0)

/* ---- collecting */

static int bc__pf_handler(void *user, const char *section, const char *key, const char *value) {
    bc__pf *p = user;
    (void)section; /* the reader already opened the section */
    if (p->st) return 0;
    if (p->nsec == 0) return BAD("%s:%d: key '%s' before the first section ([chip], [population] or [projection])", p->origin, p->line, key);
    bc__pf_sec *s = &p->sec[p->nsec - 1];
    bool known = false;
    for (int i = 0; bc__pf_keys[s->kind][i]; i++) known |= !strcmp(key, bc__pf_keys[s->kind][i]);
    if (!known) return BAD("%s:%d: unknown key '%s' in [%s]", p->origin, p->line, key, bc__pf_names[s->kind]);
    /* per-neuron lists and weight rows may continue over several lines; other keys not */
    static const char *const lists[] = {"rest", "threshold", "reset", "a", "b", "noise", "tau", "bias", "weights"};
    bool list = false;
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) list |= !strcmp(key, lists[i]);
    if (!list)
        for (int32_t i = 0; i < s->nkv; i++)
            if (!strcmp(s->kv[i].key, key))
                return BAD("%s:%d: '%s' given twice in [%s] (first on line %d)", p->origin, p->line, key, bc__pf_names[s->kind], (int)s->kv[i].line);
    if (s->nkv == s->cap) {
        int32_t cap = s->cap ? 2 * s->cap : 16;
        bc__pf_kv *kv = realloc(s->kv, (size_t)cap * sizeof *kv);
        if (!kv) return (p->st = bc__fail(BC_ERR_NOMEM, "%s: parser", p->origin), 0);
        s->kv = kv;
        s->cap = cap;
    }
    bc__pf_kv *kv = &s->kv[s->nkv];
    size_t n = strlen(value);
    if (!(kv->val = malloc(n + 1))) return (p->st = bc__fail(BC_ERR_NOMEM, "%s: parser", p->origin), 0);
    memcpy(kv->val, value, n + 1);
    snprintf(kv->key, sizeof kv->key, "%s", key);
    kv->line = p->line;
    s->nkv++;
    return 1;
}

static void bc__pf_section(bc__pf *p, const char *line) {
    const char *close = strchr(line, ']');
    char name[32] = "";
    size_t n = close ? (size_t)(close - line - 1) : 0;
    if (!close || n == 0 || n >= sizeof name) {
        p->st = bc__fail(BC_ERR_FORMAT, "%s:%d: malformed section header", p->origin, p->line);
        return;
    }
    memcpy(name, line + 1, n);
    name[n] = '\0';
    int kind = -1;
    for (int k = 0; k < PF_KIND_COUNT; k++)
        if (!strcmp(name, bc__pf_names[k])) kind = k;
    if (kind < 0) {
        p->st = bc__fail(BC_ERR_FORMAT, "%s:%d: unknown section [%s] (expected [chip], [population] or [projection])", p->origin, p->line, name);
        return;
    }
    int32_t count = 0, limit = kind == PF_POP ? BC_POPPINS_MAX_POPS : 1;
    for (int32_t i = 0; i < p->nsec; i++) count += p->sec[i].kind == (bc__pf_kind)kind;
    if (count >= limit) {
        p->st = kind == PF_POP
                    ? bc__fail(BC_ERR_FORMAT, "%s:%d: a third [population]: the processor has two hierarchy levels", p->origin, p->line)
                    : bc__fail(BC_ERR_FORMAT, "%s:%d: a second [%s] section", p->origin, p->line, name);
        return;
    }
    p->sec[p->nsec++] = (bc__pf_sec){.kind = (bc__pf_kind)kind, .line = p->line};
}

/* inih line reader: one left-trimmed line at a time (never read as a continuation line). */
static char *bc__pf_reader(char *str, int num, void *stream) {
    bc__pf *p = stream;
    if (!*p->cursor || p->st) return NULL;
    const char *nl = strchr(p->cursor, '\n');
    size_t len = nl ? (size_t)(nl - p->cursor + 1) : strlen(p->cursor);
    const char *start = p->cursor;
    p->cursor += len;
    p->line++;
    while (len && (*start == ' ' || *start == '\t')) { start++; len--; }
    if (len && start[len - 1] == '\n') len--;
    if (len && start[len - 1] == '\r') len--;
    if (len + 3 > (size_t)num) { /* inih needs room for the line end and the terminator */
        p->st = bc__fail(BC_ERR_FORMAT, "%s:%d: line longer than %d characters (give long weight rows in a weights_file)", p->origin, p->line, num - 3);
        return NULL;
    }
    memcpy(str, start, len);
    str[len] = '\0';
    if (str[0] == '[') bc__pf_section(p, str);
    return str;
}

/* ---- values */

static const bc__pf_kv *bc__pf_get(const bc__pf_sec *s, const char *key) {
    for (int32_t i = 0; i < s->nkv; i++)
        if (!strcmp(s->kv[i].key, key)) return &s->kv[i];
    return NULL;
}

/* Next integer token of *sp (separators: blanks and commas); false at the end. A token that is
 * not a whole integer in [lo, hi] sets *bad. */
static bool bc__pf_next_int(const char **sp, int64_t lo, int64_t hi, int64_t *out, bool *bad) {
    const char *s = *sp;
    while (*s == ' ' || *s == '\t' || *s == ',') s++;
    if (!*s) { *sp = s; return false; }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    bool term = *end == '\0' || *end == ' ' || *end == '\t' || *end == ',';
    *bad = errno || end == s || !term || v < lo || v > hi;
    if (end == s) while (*end && *end != ' ' && *end != '\t' && *end != ',') end++;
    *sp = end;
    *out = v;
    return true;
}

static bool bc__pf_int(const char *v, int64_t lo, int64_t hi, int32_t *out) {
    int64_t x;
    bool bad = false;
    const char *s = v;
    if (!bc__pf_next_int(&s, lo, hi, &x, &bad) || bad) return false;
    int64_t extra;
    if (bc__pf_next_int(&s, lo, hi, &extra, &bad)) return false;
    *out = (int32_t)x;
    return true;
}

/* A per-neuron key: one value for all n neurons or n values, on one line or continued over
 * several lines with the same key. dst: (n). */
static bc_status bc__pf_per_neuron(const bc__pf *p, const bc__pf_sec *s, const char *key, int64_t lo,
                                   int64_t hi, int32_t def, int32_t n, int32_t *dst) {
    for (int32_t i = 0; i < n; i++) dst[i] = def;
    int32_t k = 0, last = 0;
    for (int32_t q = 0; q < s->nkv; q++) {
        const bc__pf_kv *kv = &s->kv[q];
        if (strcmp(kv->key, key)) continue;
        const char *c = kv->val;
        int64_t v;
        bool bad = false;
        last = kv->line;
        while (bc__pf_next_int(&c, lo, hi, &v, &bad)) {
            if (bad) return bc__fail(BC_ERR_FORMAT, "%s:%d: %s: value %d is not an integer in [%lld, %lld]", p->origin, (int)kv->line, key, (int)k + 1, (long long)lo, (long long)hi);
            if (k < n) dst[k] = (int32_t)v;
            k++;
        }
    }
    if (k == 0 && last) return bc__fail(BC_ERR_FORMAT, "%s:%d: %s: no values", p->origin, (int)last, key);
    if (k == 1) {
        for (int32_t i = 1; i < n; i++) dst[i] = dst[0];
    } else if (k > 1 && k != n) {
        return bc__fail(BC_ERR_FORMAT, "%s:%d: %s: %d values; expected 1 (all neurons) or %d (one per neuron)", p->origin, (int)last, key, (int)k, (int)n);
    }
    return BC_OK;
}

/* One weight row from `text` (values separated by blanks or commas) into dst (cols). */
static bc_status bc__pf_row(const char *text, const char *file, int32_t line, int32_t r, int32_t cols, int32_t wlo,
                            int32_t whi, int32_t wbits, int32_t *dst) {
    const char *c = text;
    int64_t v;
    bool bad = false;
    int32_t k = 0;
    while (bc__pf_next_int(&c, INT32_MIN, INT32_MAX, &v, &bad)) {
        if (bad) return bc__fail(BC_ERR_FORMAT, "%s:%d: weights row %d, column %d: not an integer", file, (int)line, (int)r + 1, (int)k + 1);
        if (v < wlo || v > whi)
            return bc__fail(BC_ERR_FORMAT, "%s:%d: weight %lld (row %d, column %d) does not fit weight_bits = %d ([%d, %d])", file, (int)line, (long long)v, (int)r + 1, (int)k + 1, (int)wbits, (int)wlo, (int)whi);
        if (k < cols) dst[k] = (int32_t)v;
        k++;
    }
    if (k != cols)
        return bc__fail(BC_ERR_FORMAT, "%s:%d: weights row %d has %d values, expected %d (one per post-synaptic neuron)", file, (int)line, (int)r + 1, (int)k, (int)cols);
    return BC_OK;
}

/* Weights of a section: rows x cols into w with row stride `ld`, from `weights` lines (one row
 * per line, or rows separated by '|') or from weights_file (one row per line, '#'/';'
 * comments). Neither given: all zero. */
static bc_status bc__pf_weights(const bc__pf *p, const bc__pf_sec *s, int32_t rows, int32_t cols, int32_t *w,
                                size_t ld, const bc_poppins_chip *chip) {
    int32_t whi = (int32_t)((1u << (chip->weight_bits - 1)) - 1u), wlo = -whi - 1;
    const bc__pf_kv *file = bc__pf_get(s, "weights_file"), *inl = bc__pf_get(s, "weights");
    const char *sec = bc__pf_names[s->kind];
    bc_status st = BC_OK;
    char *text = NULL, *path = NULL, *row = NULL;
    if (file && inl) return bc__fail(BC_ERR_FORMAT, "%s:%d: [%s] has both weights and weights_file", p->origin, (int)file->line, sec);
    if (!file && !inl) return BC_OK;
    int32_t r = 0, last_line = s->line;
    const char *fname = p->origin;
    if (inl) {
        for (int32_t i = 0; i < s->nkv && !st; i++) {
            if (strcmp(s->kv[i].key, "weights")) continue;
            last_line = s->kv[i].line;
            const char *c = s->kv[i].val;
            for (;;) {
                const char *bar = strchr(c, '|');
                size_t len = bar ? (size_t)(bar - c) : strlen(c);
                free(row);
                if (!(row = malloc(len + 1))) { st = bc__fail(BC_ERR_NOMEM, "%s: weights", p->origin); break; }
                memcpy(row, c, len);
                row[len] = '\0';
                if (r >= rows) { st = bc__fail(BC_ERR_FORMAT, "%s:%d: more than %d weight rows (one per pre-synaptic neuron)", fname, (int)last_line, (int)rows); break; }
                if ((st = bc__pf_row(row, fname, last_line, r, cols, wlo, whi, chip->weight_bits, w + (size_t)r * ld))) break;
                r++;
                if (!bar) break;
                c = bar + 1;
            }
        }
    } else {
        const char *v = file->val;
        size_t nb = strlen(p->base_dir), nv = strlen(v);
        if (!nv) { st = bc__fail(BC_ERR_FORMAT, "%s:%d: weights_file is empty", p->origin, (int)file->line); goto out; }
        if (!(path = malloc(nb + nv + 2))) { st = bc__fail(BC_ERR_NOMEM, "%s: weights", p->origin); goto out; }
        if (v[0] == '/') snprintf(path, nb + nv + 2, "%s", v);
        else snprintf(path, nb + nv + 2, "%s/%s", p->base_dir, v);
        size_t len = 0;
        if ((st = bc__read_file(path, BC__PF_MAX_TEXT, &text, &len))) {
            char why[512]; /* bc__fail formats into the buffer bc_last_error() returns */
            snprintf(why, sizeof why, "%s", bc_last_error());
            st = bc__fail(st, "%s:%d: weights_file: %s", p->origin, (int)file->line, why);
            goto out;
        }
        if (memchr(text, '\0', len)) { st = bc__fail(BC_ERR_FORMAT, "%s: binary data", path); goto out; }
        fname = path;
        int32_t ln = 0;
        for (char *c = text; *c && !st;) {
            char *nl = strchr(c, '\n');
            if (nl) *nl = '\0';
            ln++;
            char *hash = strpbrk(c, "#;");
            if (hash) *hash = '\0';
            char *q = c;
            while (*q == ' ' || *q == '\t' || *q == '\r') q++;
            for (char *e = q + strlen(q); e > q && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t');) *--e = '\0';
            if (*q) {
                last_line = ln;
                if (r >= rows) st = bc__fail(BC_ERR_FORMAT, "%s:%d: more than %d weight rows (one per pre-synaptic neuron)", path, (int)ln, (int)rows);
                else if (!(st = bc__pf_row(q, path, ln, r, cols, wlo, whi, chip->weight_bits, w + (size_t)r * ld))) r++;
            }
            if (!nl) break;
            c = nl + 1;
        }
    }
    if (!st && r != rows)
        st = bc__fail(BC_ERR_FORMAT, "%s:%d: %d weight rows, expected %d (one per pre-synaptic neuron)", fname, (int)last_line, (int)r, (int)rows);
out:
    free(text);
    free(path);
    free(row);
    return st;
}

/* ---- building */

static bc_status bc__pf_chip(const bc__pf *p, const bc__pf_sec *s, bc_poppins_chip *c) {
    const char *o = p->origin;
    for (int32_t i = 0; s && i < s->nkv; i++) {
        const bc__pf_kv *kv = &s->kv[i];
        const char *k = kv->key, *v = kv->val;
        int ln = (int)kv->line;
        if (!strcmp(k, "name")) {
            if (!bc__ini_name(v, c->name, BC_NAME_MAX)) return bc__fail(BC_ERR_FORMAT, "%s:%d: name '%s': use 1-31 letters, digits, '_', '-', '.'", o, ln, v);
        } else if (!strcmp(k, "weight_bits")) {
            if (!bc__pf_int(v, 2, 16, &c->weight_bits)) return bc__fail(BC_ERR_FORMAT, "%s:%d: weight_bits '%s': expected an integer in [2, 16]", o, ln, v);
        } else if (!strcmp(k, "max_neurons")) {
            if (!bc__pf_int(v, 1, 4096, &c->max_neurons)) return bc__fail(BC_ERR_FORMAT, "%s:%d: max_neurons '%s': expected an integer in [1, 4096]", o, ln, v);
        } else if (!strcmp(k, "accumulator_bits")) {
            if (!bc__pf_int(v, 2, 32, &c->accumulator_bits)) return bc__fail(BC_ERR_FORMAT, "%s:%d: accumulator_bits '%s': expected an integer in [2, 32]", o, ln, v);
        } else if (!strcmp(k, "energy_pj_per_sop")) {
            if (!bc__ini_double(v, 0.0, 1e9, &c->energy_pj_per_sop)) return bc__fail(BC_ERR_FORMAT, "%s:%d: energy_pj_per_sop '%s': expected a number >= 0", o, ln, v);
        } else if (!strcmp(k, "step_ms")) {
            if (!bc__ini_double(v, 1e-6, 1e6, &c->step_ms)) return bc__fail(BC_ERR_FORMAT, "%s:%d: step_ms '%s': expected a number > 0", o, ln, v);
        }
    }
    if (c->accumulator_bits < c->weight_bits)
        return bc__fail(BC_ERR_FORMAT, "%s:%d: accumulator_bits = %d is narrower than weight_bits = %d", o, s ? (int)s->line : 0,
                        (int)c->accumulator_bits, (int)c->weight_bits);
    return BC_OK;
}

/* Sizes and names of the populations (first pass: the total size is needed to allocate). */
static bc_status bc__pf_pop_shape(const bc__pf *p, const bc__pf_sec *s, int32_t idx, const bc_poppins_chip *c,
                                  char *name, int32_t *n) {
    const char *o = p->origin;
    const bc__pf_kv *kn = bc__pf_get(s, "name"), *kv = bc__pf_get(s, "neurons");
    snprintf(name, BC_NAME_MAX, "pop%d", (int)idx);
    if (kn && !bc__ini_name(kn->val, name, BC_NAME_MAX))
        return bc__fail(BC_ERR_FORMAT, "%s:%d: name '%s': use 1-31 letters, digits, '_', '-', '.'", o, (int)kn->line, kn->val);
    if (!kv) return bc__fail(BC_ERR_FORMAT, "%s:%d: [population] needs neurons", o, (int)s->line);
    if (!bc__pf_int(kv->val, 1, 1 << 20, n))
        return bc__fail(BC_ERR_FORMAT, "%s:%d: neurons '%s': expected a positive integer", o, (int)kv->line, kv->val);
    if (*n > c->max_neurons)
        return bc__fail(BC_ERR_FORMAT, "%s:%d: neurons = %d exceeds the chip's max_neurons = %d", o, (int)kv->line, (int)*n, (int)c->max_neurons);
    return BC_OK;
}

static bc_status bc__pf_pop_fill(const bc__pf *p, const bc__pf_sec *s, bc_poppins *pp, int32_t pop) {
    int32_t off = pp->pop_off[pop], n = pp->pop_n[pop];
    bc_status st;
    int64_t acc_hi = pp->chip.accumulator_bits >= 32 ? INT32_MAX : ((int64_t)1 << (pp->chip.accumulator_bits - 1)) - 1;
    if ((st = bc__pf_per_neuron(p, s, "rest", 0, 255, 62, n, pp->rest + off))) return st;
    if ((st = bc__pf_per_neuron(p, s, "threshold", 0, 255, 130, n, pp->thr + off))) return st;
    if ((st = bc__pf_per_neuron(p, s, "reset", 0, 255, 145, n, pp->reset + off))) return st;
    if ((st = bc__pf_per_neuron(p, s, "a", 0, 255, 1, n, pp->a + off))) return st;
    if ((st = bc__pf_per_neuron(p, s, "b", 0, 255, 1, n, pp->b + off))) return st;
    if ((st = bc__pf_per_neuron(p, s, "noise", 0, 255, 0, n, pp->noise + off))) return st;
    if ((st = bc__pf_per_neuron(p, s, "tau", 0, 1 << 30, 0, n, pp->tau + off))) return st;
    /* the stimulus enters the accumulator's adder: it must fit accumulator_bits */
    if ((st = bc__pf_per_neuron(p, s, "bias", -acc_hi - 1, acc_hi, 0, n, pp->bias + off))) return st;
    for (int32_t i = off; i < off + n; i++) {
        if (pp->a[i] + pp->b[i] < 1) {
            const bc__pf_kv *kv = bc__pf_get(s, "a");
            return bc__fail(BC_ERR_FORMAT, "%s:%d: neuron %d of '%s' has a = b = 0 (f_min divides by a + b)", p->origin, kv ? (int)kv->line : (int)s->line, (int)(i - off), pp->pop_name[pop]);
        }
        int32_t t = pp->tau[i];
        if (t & (t - 1)) {
            const bc__pf_kv *kv = bc__pf_get(s, "tau");
            return bc__fail(BC_ERR_FORMAT, "%s:%d: tau = %d is not 0 or a power of two (the decay shifts by log2 tau)", p->origin, kv ? (int)kv->line : (int)s->line, (int)t);
        }
    }
    return bc__pf_weights(p, s, n, n, pp->w + (size_t)off * (size_t)pp->n + (size_t)off, (size_t)pp->n, &pp->chip);
}

static bc_status bc__pf_proj(const bc__pf *p, const bc__pf_sec *s, bc_poppins *pp) {
    const bc__pf_kv *from = bc__pf_get(s, "from"), *to = bc__pf_get(s, "to");
    const char *o = p->origin;
    if (pp->n_pops < 2) return bc__fail(BC_ERR_FORMAT, "%s:%d: [projection] needs two populations", o, (int)s->line);
    if (!from || !to) return bc__fail(BC_ERR_FORMAT, "%s:%d: [projection] needs from and to", o, (int)s->line);
    if (strcmp(from->val, pp->pop_name[0]))
        return bc__fail(BC_ERR_FORMAT, "%s:%d: from = '%s': a projection goes from the first population ('%s', level 1)", o, (int)from->line, from->val, pp->pop_name[0]);
    if (strcmp(to->val, pp->pop_name[1]))
        return bc__fail(BC_ERR_FORMAT, "%s:%d: to = '%s': a projection goes to the second population ('%s', level 2)", o, (int)to->line, to->val, pp->pop_name[1]);
    return bc__pf_weights(p, s, pp->pop_n[0], pp->pop_n[1], pp->w + pp->pop_off[1], (size_t)pp->n, &pp->chip);
}

static bc_status bc__pf_build(bc__pf *p, const char *text, bc_poppins **out) {
    bc_status st = BC_OK;
    bc_poppins *pp = calloc(1, sizeof *pp);
    if (!pp) return bc__fail(BC_ERR_NOMEM, "%s: processor", p->origin);
    pp->chip = (bc_poppins_chip){.weight_bits = 8, .max_neurons = 256, .accumulator_bits = 32,
                                 .energy_pj_per_sop = 13.2, .step_ms = 1.0};
    snprintf(pp->chip.name, sizeof pp->chip.name, "poppins");
    const bc__pf_sec *chip = NULL, *pops[BC_POPPINS_MAX_POPS] = {NULL}, *proj = NULL;
    for (int32_t i = 0; i < p->nsec; i++) {
        const bc__pf_sec *s = &p->sec[i];
        if (s->kind == PF_CHIP) chip = s;
        else if (s->kind == PF_PROJ) proj = s;
        else pops[pp->n_pops++] = s;
    }
    if ((st = bc__pf_chip(p, chip, &pp->chip))) goto out;
    if (pp->n_pops == 0) { st = bc__fail(BC_ERR_FORMAT, "%s: no [population] section", p->origin); goto out; }
    int32_t total = 0;
    for (int32_t k = 0; k < pp->n_pops; k++) {
        if ((st = bc__pf_pop_shape(p, pops[k], k, &pp->chip, pp->pop_name[k], &pp->pop_n[k]))) goto out;
        pp->pop_off[k] = total;
        total += pp->pop_n[k];
    }
    if (pp->n_pops == 2 && !strcmp(pp->pop_name[0], pp->pop_name[1])) {
        st = bc__fail(BC_ERR_FORMAT, "%s:%d: population name '%s' used twice", p->origin, (int)pops[1]->line, pp->pop_name[1]);
        goto out;
    }
    if ((st = bc__poppins_alloc(pp, total, 0))) goto out;
    for (int32_t k = 0; k < pp->n_pops; k++)
        if ((st = bc__pf_pop_fill(p, pops[k], pp, k))) goto out;
    if (proj && (st = bc__pf_proj(p, proj, pp))) goto out;
    /* Re-lay the block with room for the non-zero synapses, keeping what was filled. */
    int64_t nnz = 0;
    for (size_t i = 0; i < (size_t)total * (size_t)total; i++) nnz += pp->w[i] != 0;
    bc_poppins tmp = *pp;
    tmp.block = NULL;
    if ((st = bc__poppins_alloc(&tmp, total, nnz))) goto out;
    memcpy(tmp.rest, pp->rest, (size_t)total * 10 * sizeof(int32_t)); /* the 10 parameter arrays */
    memcpy(tmp.w, pp->w, (size_t)total * (size_t)total * sizeof(int32_t));
    free(pp->block);
    *pp = tmp;
    size_t tl = strlen(text);
    if (!(pp->text = malloc(tl + 1))) { st = bc__fail(BC_ERR_NOMEM, "%s: processor", p->origin); goto out; }
    memcpy(pp->text, text, tl + 1);
    bc__poppins_finish(pp);
out:
    if (st) bc_poppins_free(pp);
    else *out = pp;
    return st;
}

bc_status bc_poppins_parse_text(const char *text, const char *origin, const char *base_dir, bc_poppins **out) {
    *out = NULL;
    if (!text) return bc__fail(BC_ERR_PARAM, "processor text is NULL");
    if (!origin) origin = "<processor>";
    if (!base_dir || !*base_dir) base_dir = ".";
    if (strlen(text) > BC__PF_MAX_TEXT) return bc__fail(BC_ERR_FORMAT, "%s: larger than %u bytes", origin, BC__PF_MAX_TEXT);
    bc__pf p = {.origin = origin, .base_dir = base_dir, .cursor = text};
    int r = ini_parse_stream(bc__pf_reader, &p, bc__pf_handler, &p);
    bc_status st = p.st;
    if (!st && r > 0) st = bc__fail(BC_ERR_FORMAT, "%s:%d: syntax error (expected [section] or key = value)", origin, r);
    if (!st && r < 0) st = bc__fail(BC_ERR_NOMEM, "%s: parser failed", origin);
    if (!st) st = bc__pf_build(&p, text, out);
    for (int32_t i = 0; i < p.nsec; i++) {
        for (int32_t k = 0; k < p.sec[i].nkv; k++) free(p.sec[i].kv[k].val);
        free(p.sec[i].kv);
    }
    return st;
}

bc_status bc_poppins_load(const char *path, bc_poppins **out) {
    *out = NULL;
    char *text = NULL, *dir = NULL;
    size_t len = 0;
    bc_status st = bc__read_file(path, BC__PF_MAX_TEXT, &text, &len);
    if (st) return st;
    if (memchr(text, '\0', len)) { st = bc__fail(BC_ERR_FORMAT, "%s: binary data", path); goto out; }
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) : 1;
    if (!(dir = malloc(dl + 2))) { st = bc__fail(BC_ERR_NOMEM, "%s", path); goto out; }
    if (slash) memcpy(dir, path, dl);
    else dir[0] = '.';
    if (slash && dl == 0) dir[dl++] = '/';
    dir[dl] = '\0';
    st = bc_poppins_parse_text(text, path, dir, out);
out:
    free(text);
    free(dir);
    return st;
}
