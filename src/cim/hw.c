/* CIM macro descriptions: one table of keys drives parsing, --set overrides, sweeps (get) and
 * the resolved text written next to every result. */
#include "bc_internal.h"
#include "bitcell_cim.h"
#include "io/ini_lines.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define BC__HW_MAX_TEXT (1u << 16)

typedef enum { K_INT, K_REAL, K_ENUM, K_BOOL, K_NAME, K_VREF } bc__kind;

typedef struct {
    const char *section, *key;
    bc__kind kind;
    size_t off;
    double lo, hi;
    const char *const *names; /* K_ENUM: value i is names[i]; K_BOOL: {false, true} words */
} bc__key;

static const char *const bc__cells[] = {"xnor_match", "xnor_mismatch", NULL};
static const char *const bc__readouts[] = {"ideal", "sa", "adc", NULL};
static const char *const bc__variations[] = {"none", "alpha_power", "alpha_linear", "subthreshold", NULL};
static const char *const bc__placement[] = {"digital", "cim", NULL};

#define F(x) offsetof(bc_cim_hw, x)
static const bc__key bc__keys[] = {
    {"macro", "name", K_NAME, F(name), 0, 0, NULL},
    {"macro", "rows", K_INT, F(rows), 1, 4096, NULL},
    {"macro", "cols", K_INT, F(cols), 1, 4096, NULL},
    {"macro", "rows_on", K_INT, F(rows_on), 1, 4096, NULL},
    {"macro", "cell", K_ENUM, F(cell), 0, 0, bc__cells},
    {"bitline", "vdd_V", K_REAL, F(vdd_V), 0.05, 5.0, NULL},
    {"bitline", "v_floor_V", K_REAL, F(v_floor_V), 0.0, 5.0, NULL},
    {"bitline", "i_cell_uA", K_REAL, F(i_cell_uA), 1e-6, 1e4, NULL},
    {"bitline", "t_eval_ns", K_REAL, F(t_eval_ns), 1e-6, 1e4, NULL},
    {"bitline", "c_bl_fF", K_REAL, F(c_bl_fF), 1e-3, 1e7, NULL},
    {"readout", "kind", K_ENUM, F(readout), 0, 0, bc__readouts},
    {"readout", "adc_bits", K_INT, F(adc_bits), 1, 16, NULL},
    {"readout", "adc_full_scale_rows", K_INT, F(adc_full_scale_rows), 0, 4096, NULL},
    {"readout", "sa_vref_V", K_VREF, F(sa_vref_V), 0.0, 5.0, NULL},
    {"variation", "model", K_ENUM, F(variation), 0, 0, bc__variations},
    {"variation", "sigma_vth_mV", K_REAL, F(sigma_vth_mV), 0.0, 1000.0, NULL},
    {"variation", "alpha", K_REAL, F(alpha), 0.5, 3.0, NULL},
    {"variation", "overdrive_V", K_REAL, F(overdrive_V), 0.001, 5.0, NULL},
    {"variation", "n_slope", K_REAL, F(n_slope), 0.5, 5.0, NULL},
    {"variation", "vt_mV", K_REAL, F(vt_mV), 1.0, 100.0, NULL},
    {"variation", "sigma_offset_mV", K_REAL, F(sigma_offset_mV), 0.0, 1000.0, NULL},
    {"variation", "sigma_read_mV", K_REAL, F(sigma_read_mV), 0.0, 1000.0, NULL},
    {"mapping", "first_layer", K_BOOL, F(first_on_cim), 0, 0, bc__placement},
    {"mapping", "last_layer", K_BOOL, F(last_on_cim), 0, 0, bc__placement},
};
#undef F
#define BC__NKEYS ((int)(sizeof bc__keys / sizeof bc__keys[0]))

bc_cim_hw bc_cim_hw_default(void) {
    return (bc_cim_hw){.name = "ideal-128", .rows = 128, .cols = 128, .rows_on = 128,
                       .cell = BC_CIM_CELL_XNOR_MATCH, .vdd_V = 1.2, .v_floor_V = 0.2,
                       .i_cell_uA = 1.0, .t_eval_ns = 1.0, .c_bl_fF = 100.0,
                       .readout = BC_CIM_READ_IDEAL, .adc_bits = 8, .adc_full_scale_rows = 0,
                       .sa_vref_V = NAN, .variation = BC_CIM_VAR_NONE, .sigma_vth_mV = 0.0,
                       .alpha = 1.3, .overdrive_V = 0.4, .n_slope = 1.3, .vt_mV = 25.85};
}

double bc_cim_hw_dv_cell_V(const bc_cim_hw *hw) {
    return hw->t_eval_ns * 1e-9 * hw->i_cell_uA * 1e-6 / (hw->c_bl_fF * 1e-15);
}

static void *bc__field(bc_cim_hw *hw, const bc__key *k) { return (char *)hw + k->off; }
static const void *bc__cfield(const bc_cim_hw *hw, const bc__key *k) { return (const char *)hw + k->off; }

/* Parses value v into key k of hw; on failure writes the expectation into why. */
static bool bc__assign(bc_cim_hw *hw, const bc__key *k, const char *v, char *why, size_t nwhy) {
    void *f = bc__field(hw, k);
    switch (k->kind) {
    case K_INT:
        if (bc__ini_int(v, (int64_t)k->lo, (int64_t)k->hi, f)) return true;
        snprintf(why, nwhy, "expected an integer in [%g, %g]", k->lo, k->hi);
        return false;
    case K_REAL:
        if (bc__ini_double(v, k->lo, k->hi, f)) return true;
        snprintf(why, nwhy, "expected a number in [%g, %g]", k->lo, k->hi);
        return false;
    case K_VREF:
        if (!strcmp(v, "mid")) { *(double *)f = NAN; return true; }
        if (bc__ini_double(v, k->lo, k->hi, f)) return true;
        snprintf(why, nwhy, "expected mid or a voltage in [%g, %g]", k->lo, k->hi);
        return false;
    case K_ENUM:
    case K_BOOL: {
        int n = 0;
        size_t used = 0;
        used += (size_t)snprintf(why, nwhy, "expected");
        for (; k->names[n]; n++) {
            if (!strcmp(v, k->names[n])) {
                if (k->kind == K_BOOL) *(bool *)f = n == 1;
                else *(int *)f = n;
                return true;
            }
            if (used < nwhy) used += (size_t)snprintf(why + used, nwhy - used, "%s %s", n ? (k->names[n + 1] ? "," : " or") : "", k->names[n]);
        }
        return false;
    }
    case K_NAME:
        if (bc__ini_name(v, hw->name, sizeof hw->name)) return true;
        snprintf(why, nwhy, "use 1-31 letters, digits, '_', '-', '.'");
        return false;
    }
    return false;
}

static int bc__key_index(const char *key) {
    for (int i = 0; i < BC__NKEYS; i++)
        if (!strcmp(bc__keys[i].key, key)) return i;
    BC_ASSERT(0);
    return 0;
}

/* Fails with "origin[:line]: msg", the line being where `key` was set (when known). */
static bc_status bc__bad(const char *origin, const int32_t *lines, const char *key, const char *msg) {
    int32_t li = lines ? lines[bc__key_index(key)] : 0;
    if (li) return bc__fail(BC_ERR_FORMAT, "%s:%d: %s", origin, li, msg);
    return bc__fail(BC_ERR_FORMAT, "%s: %s", origin, msg);
}

/* Cross-key checks; lines (may be NULL) holds where each key was set. */
static bc_status bc__check(const bc_cim_hw *hw, const char *origin, const int32_t *lines) {
    char msg[256];
    if (hw->rows_on > hw->rows) {
        snprintf(msg, sizeof msg, "rows_on = %d is more than the array's rows = %d", hw->rows_on, hw->rows);
        return bc__bad(origin, lines, "rows_on", msg);
    }
    if (hw->v_floor_V >= hw->vdd_V) {
        snprintf(msg, sizeof msg, "v_floor_V = %g must be below vdd_V = %g", hw->v_floor_V, hw->vdd_V);
        return bc__bad(origin, lines, "v_floor_V", msg);
    }
    if (hw->adc_full_scale_rows > hw->rows) {
        snprintf(msg, sizeof msg, "adc_full_scale_rows = %d is more than the array's rows = %d", hw->adc_full_scale_rows, hw->rows);
        return bc__bad(origin, lines, "adc_full_scale_rows", msg);
    }
    if (!isnan(hw->sa_vref_V) && (hw->sa_vref_V < hw->v_floor_V || hw->sa_vref_V > hw->vdd_V)) {
        snprintf(msg, sizeof msg, "sa_vref_V = %g lies outside the bitline's range [v_floor_V, vdd_V] = [%g, %g]",
                 hw->sa_vref_V, hw->v_floor_V, hw->vdd_V);
        return bc__bad(origin, lines, "sa_vref_V", msg);
    }
    return BC_OK;
}

typedef struct {
    bc_cim_hw hw;
    char section[32];
    int32_t lines[BC__NKEYS]; /* line each key was set on (0: default) */
} bc__hw_parse;

static const char *const bc__sections[] = {"macro", "bitline", "readout", "variation", "mapping", NULL};

static void bc__hw_section(bc__ini *ini, const char *name) {
    bc__hw_parse *p = ini->user;
    for (int i = 0; bc__sections[i]; i++)
        if (!strcmp(name, bc__sections[i])) {
            snprintf(p->section, sizeof p->section, "%s", name);
            return;
        }
    ini->st = bc__fail(BC_ERR_FORMAT, "%s:%d: unknown section [%s] (sections: macro, bitline, readout, variation, mapping)", ini->origin, ini->line, name);
}

static int bc__hw_key(bc__ini *ini, const char *key, const char *value) {
    bc__hw_parse *p = ini->user;
    if (!p->section[0]) {
        ini->st = bc__fail(BC_ERR_FORMAT, "%s:%d: key '%s' before the first section", ini->origin, ini->line, key);
        return 0;
    }
    for (int i = 0; i < BC__NKEYS; i++) {
        const bc__key *k = &bc__keys[i];
        if (strcmp(k->section, p->section) || strcmp(k->key, key)) continue;
        char why[160];
        if (!bc__assign(&p->hw, k, value, why, sizeof why)) {
            ini->st = bc__fail(BC_ERR_FORMAT, "%s:%d: %s '%s': %s", ini->origin, ini->line, key, value, why);
            return 0;
        }
        p->lines[i] = ini->line;
        return 1;
    }
    ini->st = bc__fail(BC_ERR_FORMAT, "%s:%d: unknown key '%s' in [%s]", ini->origin, ini->line, key, p->section);
    return 0;
}

bc_status bc_cim_hw_parse(const char *text, const char *origin, bc_cim_hw *out) {
    if (!text || !out) return bc__fail(BC_ERR_PARAM, "bc_cim_hw_parse: NULL argument");
    if (!origin) origin = "<hardware>";
    if (strlen(text) > BC__HW_MAX_TEXT) return bc__fail(BC_ERR_FORMAT, "%s: larger than %u bytes", origin, BC__HW_MAX_TEXT);
    bc__hw_parse p = {.hw = bc_cim_hw_default()};
    bc__ini ini = {.origin = origin, .user = &p, .section = bc__hw_section, .key = bc__hw_key};
    bc_status st = bc__ini_parse(&ini, text);
    if (st) return st;
    /* rows_on follows rows unless the file sets it. */
    if (!p.lines[bc__key_index("rows_on")]) p.hw.rows_on = p.hw.rows;
    if ((st = bc__check(&p.hw, origin, p.lines))) return st;
    *out = p.hw;
    return BC_OK;
}

bc_status bc_cim_hw_load(const char *path, bc_cim_hw *out) {
    char *text = NULL;
    size_t len = 0;
    bc_status st = bc__read_file(path, BC__HW_MAX_TEXT, &text, &len);
    if (st) return st;
    if (memchr(text, '\0', len)) st = bc__fail(BC_ERR_FORMAT, "%s: binary data", path);
    if (!st) st = bc_cim_hw_parse(text, path, out);
    free(text);
    return st;
}

/* Finds "key" (unique across sections) or "section.key". */
static const bc__key *bc__find(const char *name, char *err, size_t nerr) {
    const char *dot = strchr(name, '.');
    const bc__key *hit = NULL;
    int hits = 0;
    for (int i = 0; i < BC__NKEYS; i++) {
        const bc__key *k = &bc__keys[i];
        bool match = dot ? (strlen(k->section) == (size_t)(dot - name) && !strncmp(k->section, name, (size_t)(dot - name)) && !strcmp(k->key, dot + 1))
                         : !strcmp(k->key, name);
        if (match) { hit = k; hits++; }
    }
    if (hits == 1) return hit;
    snprintf(err, nerr, hits ? "key '%s' is ambiguous: write section.key" : "unknown hardware key '%s' (see bitcell mc --help)", name);
    return NULL;
}

bc_status bc_cim_hw_set(bc_cim_hw *hw, const char *assignment) {
    if (!hw || !assignment) return bc__fail(BC_ERR_PARAM, "bc_cim_hw_set: NULL argument");
    const char *eq = strchr(assignment, '=');
    char name[64], err[160];
    size_t n = eq ? (size_t)(eq - assignment) : 0;
    if (!eq || n == 0 || n >= sizeof name) return bc__fail(BC_ERR_PARAM, "--set '%s': expected key=value", assignment);
    memcpy(name, assignment, n);
    name[n] = '\0';
    const bc__key *k = bc__find(name, err, sizeof err);
    if (!k) return bc__fail(BC_ERR_PARAM, "--set '%s': %s", assignment, err);
    bc_cim_hw t = *hw;
    if (!bc__assign(&t, k, eq + 1, err, sizeof err)) return bc__fail(BC_ERR_PARAM, "--set %s: %s", assignment, err);
    char origin[96];
    snprintf(origin, sizeof origin, "--set %s", assignment);
    if (bc__check(&t, origin, NULL)) {
        /* A command-line value, not a file: report it as a bad parameter. */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", bc_last_error());
        return bc__fail(BC_ERR_PARAM, "%s", msg);
    }
    *hw = t;
    return BC_OK;
}

bc_status bc_cim_hw_get(const bc_cim_hw *hw, const char *key, double *value) {
    char err[160];
    const bc__key *k = bc__find(key, err, sizeof err);
    if (!k) return bc__fail(BC_ERR_PARAM, "%s", err);
    const void *f = bc__cfield(hw, k);
    switch (k->kind) {
    case K_INT: *value = *(const int32_t *)f; return BC_OK;
    case K_REAL: case K_VREF: *value = *(const double *)f; return BC_OK;
    default: return bc__fail(BC_ERR_PARAM, "hardware key '%s' is not numeric", key);
    }
}

char *bc_cim_hw_format(const bc_cim_hw *hw) {
    size_t cap = 4096, used = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    const char *sec = "";
    for (int i = 0; i < BC__NKEYS; i++) {
        const bc__key *k = &bc__keys[i];
        const void *f = bc__cfield(hw, k);
        char v[64];
        switch (k->kind) {
        case K_INT: snprintf(v, sizeof v, "%d", *(const int32_t *)f); break;
        case K_REAL: snprintf(v, sizeof v, "%.9g", *(const double *)f); break;
        case K_VREF: if (isnan(*(const double *)f)) snprintf(v, sizeof v, "mid"); else snprintf(v, sizeof v, "%.9g", *(const double *)f); break;
        case K_ENUM: snprintf(v, sizeof v, "%s", k->names[*(const int *)f]); break;
        case K_BOOL: snprintf(v, sizeof v, "%s", k->names[*(const bool *)f ? 1 : 0]); break;
        case K_NAME: snprintf(v, sizeof v, "%s", hw->name); break;
        }
        if (strcmp(sec, k->section))
            used += (size_t)snprintf(s + used, cap - used, "%s[%s]\n", used ? "\n" : "", k->section);
        sec = k->section;
        used += (size_t)snprintf(s + used, cap - used, "%s = %s\n", k->key, v);
    }
    return s;
}

/* c(dVth) of one cell under the variation model (the expression chip.c draws with). */
bc_cim_hw bc_cim_hw_noise_only(const bc_cim_hw *hw) {
    bc_cim_hw h = *hw;
    h.readout = BC_CIM_READ_IDEAL;
    h.rows_on = h.rows;
    h.sigma_offset_mV = 0.0;
    h.sigma_read_mV = 0.0;
    return h;
}

double bc__cim_cell_current(const bc_cim_hw *hw, double dvth_mV) {
    switch (hw->variation) {
    case BC_CIM_VAR_NONE: return 1.0;
    case BC_CIM_VAR_ALPHA: {
        double u = 1.0 - dvth_mV * 1e-3 / hw->overdrive_V;
        return u > 0.0 ? pow(u, hw->alpha) : 0.0;
    }
    case BC_CIM_VAR_ALPHA_LINEAR: {
        double u = 1.0 - hw->alpha * dvth_mV * 1e-3 / hw->overdrive_V;
        return u > 0.0 ? u : 0.0;
    }
    case BC_CIM_VAR_SUBTHRESHOLD: return exp(-dvth_mV / (hw->n_slope * hw->vt_mV));
    }
    return 1.0;
}

double bc_cim_hw_sigma_current(const bc_cim_hw *hw) {
    /* E[c] and E[c^2] over dVth ~ N(0, sigma) by the trapezoid rule on +-8 sigma. */
    const int n = 4000;
    const double s = hw->sigma_vth_mV;
    if (s == 0.0 || hw->variation == BC_CIM_VAR_NONE) return 0.0;
    double m1 = 0.0, m2 = 0.0, wsum = 0.0;
    for (int i = 0; i <= n; i++) {
        double z = -8.0 + 16.0 * i / n, w = exp(-0.5 * z * z) * (i == 0 || i == n ? 0.5 : 1.0);
        double c = bc__cim_cell_current(hw, z * s);
        m1 += w * c;
        m2 += w * c * c;
        wsum += w;
    }
    m1 /= wsum;
    m2 /= wsum;
    return sqrt(fmax(0.0, m2 - m1 * m1));
}
