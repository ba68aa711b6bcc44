/* Stimulus schedules for `bitcell poppins run --stimulus`: CSV rows "step,population,neuron,
 * current", each setting one neuron's external stimulus from that step on. */
#include "snn/poppins_internal.h"

#include <errno.h>
#include <string.h>

#define BC__STIM_MAX_TEXT (256u << 20)

/* Splits a CSV line into exactly 4 trimmed fields (in place). */
static int bc__stim_fields(char *line, char **f) {
    int n = 0;
    char *c = line;
    for (;;) {
        while (*c == ' ' || *c == '\t') c++;
        if (n == 4) return 5;
        f[n++] = c;
        char *comma = strchr(c, ',');
        char *end = comma ? comma : c + strlen(c);
        while (end > c && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) end--;
        char *next = comma ? comma + 1 : NULL;
        *end = '\0';
        if (!next) return n;
        c = next;
    }
}

static bool bc__stim_int(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bc_status bc_poppins_stimulus_load(const bc_poppins *p, const char *path, bc_poppins_stim_event **events,
                                   int64_t *n) {
    *events = NULL;
    *n = 0;
    char *text = NULL;
    size_t len = 0;
    bc_poppins_stim_event *ev = NULL;
    int64_t ne = 0, cap = 0;
    bc_status st = bc__read_file(path, BC__STIM_MAX_TEXT, &text, &len);
    if (st) return st;
    if (memchr(text, '\0', len)) { st = bc__fail(BC_ERR_FORMAT, "%s: binary data", path); goto out; }
    int32_t ln = 0;
    long long last_step = -1;
    for (char *c = text; *c;) {
        char *nl = strchr(c, '\n');
        if (nl) *nl = '\0';
        ln++;
        char *line = c;
        c = nl ? nl + 1 : c + strlen(c);
        while (*line == ' ' || *line == '\t') line++;
        if (!*line || *line == '#' || *line == '\r') continue;
        if (ne == 0 && last_step < 0 && !strncmp(line, "step", 4)) { last_step = 0; continue; } /* header */
        char *f[5];
        int nf = bc__stim_fields(line, f);
        if (nf != 4) { st = bc__fail(BC_ERR_FORMAT, "%s:%d: %d fields; expected step,population,neuron,current", path, (int)ln, nf); goto out; }
        long long step, neuron, cur, pop = -1;
        if (!bc__stim_int(f[0], 0, INT64_MAX / 2, &step)) { st = bc__fail(BC_ERR_FORMAT, "%s:%d: step '%s': expected an integer >= 0", path, (int)ln, f[0]); goto out; }
        if (step < last_step) { st = bc__fail(BC_ERR_FORMAT, "%s:%d: step %lld comes after step %lld (steps must not decrease)", path, (int)ln, step, last_step); goto out; }
        int32_t named = bc_poppins_find_pop(p, f[1]);
        if (named >= 0) pop = named;
        else if (!bc__stim_int(f[1], 0, p->n_pops - 1, &pop)) { st = bc__fail(BC_ERR_FORMAT, "%s:%d: population '%s': no such name or index", path, (int)ln, f[1]); goto out; }
        if (!bc__stim_int(f[2], 0, p->pop_n[pop] - 1, &neuron)) { st = bc__fail(BC_ERR_FORMAT, "%s:%d: neuron '%s': expected an integer in [0, %d] for population '%s'", path, (int)ln, f[2], (int)p->pop_n[pop] - 1, p->pop_name[pop]); goto out; }
        if (!bc__stim_int(f[3], p->acc_lo, p->acc_hi, &cur)) { st = bc__fail(BC_ERR_FORMAT, "%s:%d: current '%s': expected an integer that fits accumulator_bits = %d", path, (int)ln, f[3], (int)p->chip.accumulator_bits); goto out; }
        if (ne == cap) {
            int64_t nc = cap ? 2 * cap : 64;
            bc_poppins_stim_event *e = realloc(ev, (size_t)nc * sizeof *e);
            if (!e) { st = bc__fail(BC_ERR_NOMEM, "%s: stimulus events", path); goto out; }
            ev = e;
            cap = nc;
        }
        ev[ne++] = (bc_poppins_stim_event){.step = step, .neuron = p->pop_off[pop] + (int32_t)neuron, .current = (int32_t)cur};
        last_step = step;
    }
    *events = ev;
    *n = ne;
    ev = NULL;
out:
    free(ev);
    free(text);
    return st;
}
