/* The POPPINS processor: populations of IQIF neurons with recurrent and feed-forward integer
 * synapses (METHODS.md §5.3, §5.4), stepped bit-exactly, with SOP counting. */
#include "snn/poppins_internal.h"

#include <string.h>

/* The arrays of the block, in order: 10 parameter arrays, 6 state and scratch arrays and 3
 * row summaries of n int32, w (n*n), row (n+1), col and val (nnz), spk (n bytes). */
#define BC__N_VEC 19

static bool bc__poppins_layout(int32_t n, int64_t nnz, size_t *bytes) {
    size_t nn, vec, s = 0, t;
    if (!bc__mul_size((size_t)n, (size_t)n, &nn)) return false;
    if (!bc__mul_size((size_t)n, BC__N_VEC, &vec)) return false;
    size_t ints[] = {vec, nn, (size_t)n + 1, (size_t)nnz, (size_t)nnz};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (!bc__mul_size(ints[i], sizeof(int32_t), &t) || !bc__add_size(s, t, &s)) return false;
    }
    return bc__add_size(s, (size_t)n, bytes);
}

static void bc__poppins_point(bc_poppins *p) {
    int32_t *q = p->block;
    int32_t **vec[BC__N_VEC] = {&p->rest, &p->thr, &p->reset, &p->a, &p->b, &p->fmin, &p->noise,
                                &p->tau, &p->shift, &p->bias, &p->x, &p->acc, &p->stim, &p->fired,
                                &p->dense, &p->sparse, &p->row_nnz, &p->row_maxabs, &p->row_off};
    for (int i = 0; i < BC__N_VEC; i++, q += p->n) *vec[i] = q;
    p->w = q;
    q += (size_t)p->n * (size_t)p->n;
    p->row = q;
    q += p->n + 1;
    p->col = q;
    q += p->nnz;
    p->val = q;
    q += p->nnz;
    p->spk = (uint8_t *)q;
}

bc_status bc__poppins_alloc(bc_poppins *p, int32_t n, int64_t nnz) {
    size_t bytes;
    if (n < 1 || nnz < 0 || !bc__poppins_layout(n, nnz, &bytes))
        return bc__fail(BC_ERR_NOMEM, "processor of %d neurons: size overflows", (int)n);
    free(p->block);
    if (!(p->block = bc__alloc(bytes))) return BC_ERR_NOMEM;
    p->block_bytes = bytes;
    p->n = n;
    p->nnz = nnz;
    bc__poppins_point(p);
    return BC_OK;
}

void bc__poppins_finish(bc_poppins *p) {
    int32_t n = p->n;
    int64_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        p->row[i] = (int32_t)k;
        p->row_maxabs[i] = 0;
        for (int32_t j = 0; j < n; j++) {
            int32_t w = p->w[(size_t)i * (size_t)n + (size_t)j];
            if (!w) continue;
            p->col[k] = j;
            p->val[k] = w;
            if ((w < 0 ? -w : w) > p->row_maxabs[i]) p->row_maxabs[i] = w < 0 ? -w : w;
            k++;
        }
        p->row_nnz[i] = (int32_t)(k - p->row[i]);
    }
    p->row[n] = (int32_t)k;
    BC_ASSERT(k == p->nnz);
    p->any_noise = false;
    for (int32_t i = 0; i < n; i++) {
        p->fmin[i] = bc_iqif_fmin(&(bc_iqif_params){.rest = p->rest[i], .threshold = p->thr[i],
                                                     .a = p->a[i], .b = p->b[i]});
        p->shift[i] = bc_syn_shift(p->tau[i]);
        p->any_noise |= p->noise[i] > 1; /* strength 0 and 1 both draw 0 */
    }
    int32_t bits = p->chip.accumulator_bits;
    p->acc_hi = bits >= 32 ? INT32_MAX : (int32_t)((1u << (bits - 1)) - 1u);
    p->acc_lo = -p->acc_hi - 1;
    p->noise_key = (bc_rng_key){.seed = 0, .purpose = BC_RNG_POPPINS_NOISE};
    p->isa = bc_cpu_detect();
#if defined(__x86_64__) && defined(__GNUC__)
    if (p->isa == BC_CPU_AVX512 && !__builtin_cpu_supports("avx512vl")) p->isa = BC_CPU_AVX2; /* the byte stores */
#endif
    /* A row is added whole from n/16 non-zeros when the vector step adds it (n/16 vector
     * additions against a read-modify-write per synapse by index), from n/4 otherwise. */
    p->dense_nnz = p->isa != BC_CPU_SCALAR && !p->any_noise ? (n + 15) / 16 : (n + 3) / 4;
    for (int32_t i = 0; i < n; i++) p->row_off[i] = p->row_nnz[i] >= p->dense_nnz ? i * n : -1; /* < 8192^2 */
    bc_poppins_reset(p);
}

bc_status bc_poppins_clone(const bc_poppins *p, bc_poppins **out) {
    *out = NULL;
    bc_poppins *c = malloc(sizeof *c);
    if (!c) return bc__fail(BC_ERR_NOMEM, "processor copy");
    *c = *p;
    c->block = NULL;
    c->text = NULL;
    if (!(c->block = bc__alloc(p->block_bytes)) || !(c->text = malloc(strlen(p->text) + 1))) {
        bc_poppins_free(c);
        return bc__fail(BC_ERR_NOMEM, "processor copy");
    }
    memcpy(c->block, p->block, p->block_bytes);
    memcpy(c->text, p->text, strlen(p->text) + 1);
    bc__poppins_point(c);
    *out = c;
    return BC_OK;
}

void bc_poppins_free(bc_poppins *p) {
    if (!p) return;
    free(p->block);
    free(p->text);
    free(p);
}

void bc_poppins_reset(bc_poppins *p) {
    for (int32_t i = 0; i < p->n; i++) {
        p->x[i] = p->rest[i];
        p->acc[i] = 0;
        p->stim[i] = p->bias[i];
        p->spk[i] = 0;
    }
    p->n_fired = 0;
    p->t = 0;
    p->acc_bound = 0;
    p->stim_bound = 0;
    for (int32_t i = 0; i < p->n; i++) {
        int64_t m = p->bias[i] < 0 ? -(int64_t)p->bias[i] : p->bias[i];
        if (m > p->stim_bound) p->stim_bound = m;
    }
}

void bc_poppins_set_noise(bc_poppins *p, uint64_t seed, uint32_t stream) {
    p->noise_key = (bc_rng_key){.seed = seed, .purpose = BC_RNG_POPPINS_NOISE, .chip = stream};
}

bc_status bc_poppins_set_stimulus(bc_poppins *p, int32_t pop, int32_t neuron, int32_t current) {
    if (pop < 0 || pop >= p->n_pops)
        return bc__fail(BC_ERR_PARAM, "stimulus: population %d out of range [0, %d)", (int)pop, (int)p->n_pops);
    if (neuron < 0 || neuron >= p->pop_n[pop])
        return bc__fail(BC_ERR_PARAM, "stimulus: neuron %d out of range for population '%s' of %d", (int)neuron,
                        p->pop_name[pop], (int)p->pop_n[pop]);
    if (current < p->acc_lo || current > p->acc_hi)
        return bc__fail(BC_ERR_PARAM, "stimulus %d does not fit accumulator_bits = %d", (int)current,
                        (int)p->chip.accumulator_bits);
    p->stim[p->pop_off[pop] + neuron] = current;
    int64_t m = current < 0 ? -(int64_t)current : current;
    if (m > p->stim_bound) p->stim_bound = m;
    return BC_OK;
}

/* Step 1, first pass over the neurons that fired: their SOPs, in *reach a bound on |acc| after
 * their rows are added (acc_bound plus each row's largest weight), and their rows listed as
 * dense (p->dense, offsets into w) or sparse (p->sparse, neuron numbers). Branch-free: both
 * lists are written, one advances. Returns the number of dense rows. */
static int32_t bc__rows_split(bc_poppins *p, int64_t *reach, uint64_t *sops, int32_t *n_sparse) {
    const int32_t nf = p->n_fired;
    const int32_t *restrict fired = p->fired, *restrict row_off = p->row_off, *restrict row_nnz = p->row_nnz;
    const int32_t *restrict maxabs = p->row_maxabs;
    int32_t *restrict dense = p->dense, *restrict sparse = p->sparse;
    int64_t r = p->acc_bound, so = 0;
    int32_t nd = 0, ns = 0;
    for (int32_t f = 0; f < nf; f++) {
        int32_t i = fired[f], off = row_off[i], d = off >= 0;
        r += maxabs[i];
        so += row_nnz[i];
        dense[nd] = off;
        sparse[ns] = i;
        nd += d;
        ns += 1 - d;
    }
    *reach = r;
    *sops = (uint64_t)so;
    *n_sparse = ns;
    return nd;
}

/* Step 1 with saturation at the accumulator width, one synapse at a time. */
static void bc__accumulate_checked(bc_poppins *p, uint64_t *sat) {
    int32_t *restrict acc = p->acc;
    for (int32_t f = 0; f < p->n_fired; f++) {
        int32_t i = p->fired[f];
        for (int32_t k = p->row[i]; k < p->row[i + 1]; k++) {
            int32_t j = p->col[k];
            int64_t s = (int64_t)acc[j] + p->val[k];
            if (s > p->acc_hi) { s = p->acc_hi; (*sat)++; }
            if (s < p->acc_lo) { s = p->acc_lo; (*sat)++; }
            acc[j] = (int32_t)s;
        }
    }
}

/* Step 1 when no sum can reach the accumulator's limits (then any order gives the checked
 * path's result): the ns sparse rows by index, and the nd dense ones as whole rows unless
 * the vector step adds them. */
static void bc__accumulate_fast(bc_poppins *p, int32_t nd, int32_t ns, bool dense) {
    const int32_t n = p->n;
    int32_t *restrict acc = p->acc;
    const int32_t *restrict rows = p->dense, *restrict sparse = p->sparse;
    const int32_t *restrict row = p->row, *restrict col = p->col, *restrict val = p->val;
    for (int32_t s = 0; s < ns; s++) {
        int32_t i = sparse[s];
        for (int32_t k = row[i], e = row[i + 1]; k < e; k++) acc[col[k]] += val[k];
    }
    for (int32_t r = 0; dense && r < nd; r++) {
        const int32_t *restrict wr = p->w + rows[r];
        for (int32_t j = 0; j < n; j++) acc[j] += wr[j];
    }
}

/* The end of a step, whichever path ran it: the spike count and accumulator bound the next
 * step reads, the clock, the statistics. */
static void bc__step_done(bc_poppins *p, int32_t nf, int64_t bound, uint64_t sops, uint64_t sat,
                          bc_poppins_stats *stats) {
    p->n_fired = nf;
    p->acc_bound = bound;
    p->t++;
    if (stats) {
        stats->steps++;
        stats->spikes += (uint64_t)nf;
        stats->sops += sops;
        stats->acc_saturations += sat;
    }
}

void bc_poppins_step(bc_poppins *p, bc_poppins_stats *stats) {
    const int32_t n = p->n;
    int32_t *restrict acc = p->acc, *restrict x = p->x, *restrict fired = p->fired;
    uint64_t sops, sat = 0;
    int64_t reach;
    int32_t ns, nr = bc__rows_split(p, &reach, &sops, &ns);
    /* 2.-4. on 8 or 16 neurons per vector, fused with the dense rows of step 1, when no neuron
     * is noisy and every sum fits 32 bits: |I| + |stimulus| + 255 + |f / 8| (at most
     * 255 * 255 / 8) */
    bool vec = p->isa != BC_CPU_SCALAR && !p->any_noise &&
               (reach < p->acc_hi ? reach : p->acc_hi) + p->stim_bound < ((int64_t)1 << 30);
    /* 1. spikes of the previous step reach their targets (one-step delay) */
    if (reach <= p->acc_hi) {
        bc__accumulate_fast(p, nr, ns, !vec);
    } else {
        bc__accumulate_checked(p, &sat);
        nr = 0;
    }
    if (vec) {
        bc__iqif_arrays s = {.x = x, .acc = acc, .fired = fired, .spk = p->spk, .stim = p->stim, .shift = p->shift,
                             .rest = p->rest, .thr = p->thr, .reset = p->reset, .a = p->a, .b = p->b,
                             .fmin = p->fmin, .w = p->w};
        int64_t bound;
        int32_t nf = p->isa == BC_CPU_AVX512 ? bc__iqif_vstep_avx512(&s, n, p->dense, nr, &bound)
                                             : bc__iqif_vstep_avx2(&s, n, p->dense, nr, &bound);
        bc__step_done(p, nf, bound, sops, sat, stats);
        return;
    }
    /* 2.-4. decay, integrate, delta synapses clear; branch-free where it can be */
    int32_t nf = 0;
    int64_t bound = 0;
    uint64_t nblock = UINT64_MAX; /* noise draws come four per Philox block; this one is in draw */
    uint32_t draw[4];
    const bool noisy = p->any_noise;
    for (int32_t j = 0; j < n; j++) {
        int32_t sh = p->shift[j], a = acc[j];
        if (sh >= 0) a = bc__syn_decay(a, sh);
        int64_t in = (int64_t)a + p->stim[j];
        if (noisy && p->noise[j] > 1) {
            /* bc_iqif_noise(key, t*n + j, N), one block at a time */
            uint64_t idx = (uint64_t)p->t * (uint64_t)n + (uint64_t)j;
            if (idx >> 2 != nblock) bc__rng_block(p->noise_key, nblock = idx >> 2, draw);
            uint32_t nn = (uint32_t)p->noise[j];
            in += (int32_t)(draw[idx & 3] % nn) - (int32_t)(nn / 2);
        }
        int s = bc__iqif_step(&x[j], in, p->rest[j], p->thr[j], p->reset[j], p->a[j], p->b[j], p->fmin[j]);
        p->spk[j] = (uint8_t)s;
        fired[nf] = j;
        nf += s;
        a = sh < 0 ? 0 : a;
        acc[j] = a;
        int64_t m = a < 0 ? -(int64_t)a : a;
        bound = m > bound ? m : bound;
    }
    bc__step_done(p, nf, bound, sops, sat, stats);
}

const int32_t *bc_poppins_fired(const bc_poppins *p, int32_t *n) {
    *n = p->n_fired;
    return p->fired;
}

bc_poppins_chip bc_poppins_chip_info(const bc_poppins *p) { return p->chip; }
const char *bc_poppins_text(const bc_poppins *p) { return p->text; }
int32_t bc_poppins_pop_count(const bc_poppins *p) { return p->n_pops; }
const char *bc_poppins_pop_name(const bc_poppins *p, int32_t pop) {
    return pop >= 0 && pop < p->n_pops ? p->pop_name[pop] : NULL;
}
int32_t bc_poppins_pop_size(const bc_poppins *p, int32_t pop) {
    return pop >= 0 && pop < p->n_pops ? p->pop_n[pop] : 0;
}
int32_t bc_poppins_pop_offset(const bc_poppins *p, int32_t pop) {
    return pop >= 0 && pop < p->n_pops ? p->pop_off[pop] : 0;
}
int32_t bc_poppins_neurons(const bc_poppins *p) { return p->n; }
int32_t bc_poppins_find_pop(const bc_poppins *p, const char *name) {
    for (int32_t i = 0; i < p->n_pops; i++)
        if (!strcmp(p->pop_name[i], name)) return i;
    return -1;
}
bc_iqif_params bc_poppins_neuron(const bc_poppins *p, int32_t i, int32_t *tau) {
    BC_ASSERT(i >= 0 && i < p->n);
    if (tau) *tau = p->tau[i];
    return (bc_iqif_params){.rest = p->rest[i], .threshold = p->thr[i], .reset = p->reset[i],
                            .a = p->a[i], .b = p->b[i], .noise = p->noise[i]};
}
int32_t bc_poppins_weight(const bc_poppins *p, int32_t i, int32_t j) {
    BC_ASSERT(i >= 0 && i < p->n && j >= 0 && j < p->n);
    return p->w[(size_t)i * (size_t)p->n + (size_t)j];
}
const uint8_t *bc_poppins_spikes(const bc_poppins *p) { return p->spk; }
const int32_t *bc_poppins_potentials(const bc_poppins *p) { return p->x; }
const int32_t *bc_poppins_currents(const bc_poppins *p) { return p->acc; }
int64_t bc_poppins_time(const bc_poppins *p) { return p->t; }
