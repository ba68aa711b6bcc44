/* Chip instances: which layers go on arrays, how their rows split into groups, and one draw of
 * the static variation. Every draw is keyed by (seed, chip index, layer, cell), so a chip is
 * re-created bit for bit from its index whatever the thread count. */
#include "cim/cim.h"

#include <gsl/gsl_cdf.h>
#include <math.h>
#include <string.h>

/* A binary layer with ±1 input can sit on the arrays; the first and last weighted layers only
 * when the hardware file asks for it. */
static bool bc__on_cim(const bc_model *m, const bc_cim_hw *hw, int32_t i) {
    const bc__layer *l = &m->layers[i];
    bool weighted = l->spec.kind == BC_LAYER_DENSE || l->spec.kind == BC_LAYER_CONV;
    if (!weighted || !l->spec.binary || !l->pm1_in) return false;
    int32_t first = -1, last = -1;
    for (int32_t j = 0; j < m->n_layers; j++)
        if (m->layers[j].spec.kind == BC_LAYER_DENSE || m->layers[j].spec.kind == BC_LAYER_CONV) {
            if (first < 0) first = j;
            last = j;
        }
    if (i == first && !hw->first_on_cim) return false;
    if (i == last && !hw->last_on_cim) return false;
    return true;
}

/* Row groups: rows [a*R, (a+1)*R) of K lie on array row tile a; each array reads rows_on of
 * its rows at a time. Returns the group count; fills k0/array when not NULL. */
static int32_t bc__groups(const bc_cim_hw *hw, int64_t K, int32_t *k0, int32_t *array) {
    int32_t G = 0;
    for (int64_t a0 = 0; a0 < K; a0 += hw->rows) {
        int64_t a1 = a0 + hw->rows < K ? a0 + hw->rows : K;
        for (int64_t r = a0; r < a1; r += hw->rows_on) {
            if (k0) k0[G] = (int32_t)r;
            if (array) array[G] = (int32_t)(a0 / hw->rows);
            G++;
        }
    }
    if (k0) k0[G] = (int32_t)K;
    return G;
}

static bc_status bc__map_layer(bc__cim_layer *cl, const bc__layer *l, const bc_cim_hw *hw) {
    cl->l = l;
    cl->K = l->wk;
    cl->N = l->wrows;
    cl->G = bc__groups(hw, cl->K, NULL, NULL);
    cl->A = (int32_t)((cl->K + hw->rows - 1) / hw->rows);
    cl->taps = l->spec.kind == BC_LAYER_CONV && l->spec.pad > 0 ? l->spec.size * l->spec.size : 0;
    const size_t G = (size_t)cl->G, N = (size_t)cl->N, KN = (size_t)cl->K * N, T = (size_t)cl->taps;
    cl->g_k0 = bc__alloc((G + 1) * sizeof(int32_t));
    cl->g_array = bc__alloc(G * sizeof(int32_t));
    cl->cell = bc__alloc(KN * sizeof(float));
    cl->beff = bc__alloc(KN * sizeof(float));
    cl->gsum = bc__alloc(G * N * sizeof(float));
    cl->tsum = T ? bc__alloc(T * G * N * sizeof(float)) : NULL;
    cl->tcount = T ? bc__alloc(T * G * sizeof(int32_t)) : NULL;
    cl->vref = bc__alloc(G * sizeof(float));
    cl->offset = bc__alloc((size_t)cl->A * N * sizeof(float));
    cl->trim = bc__alloc((size_t)cl->A * N * sizeof(float));
    cl->readoff = bc__alloc((size_t)cl->A * N * sizeof(float));
    cl->q = bc__alloc(KN);
    cl->qoff = bc__alloc((G + 1) * sizeof(int64_t));
    cl->qsum = bc__alloc(G * N * sizeof(int32_t));
    if (!cl->g_k0 || !cl->g_array || !cl->cell || !cl->beff || !cl->gsum || (T && (!cl->tsum || !cl->tcount)) ||
        !cl->vref || !cl->offset || !cl->trim || !cl->readoff || !cl->q || !cl->qoff || !cl->qsum)
        return bc__fail(BC_ERR_NOMEM, "CIM chip: layer %d (%lld x %lld cells)", l->index, (long long)cl->K, (long long)cl->N);
    bc__groups(hw, cl->K, cl->g_k0, cl->g_array);
    cl->qoff[0] = 0;
    for (int32_t g = 0; g < cl->G; g++)
        cl->qoff[g + 1] = cl->qoff[g] + bc__i8_packed_bytes(cl->g_k0[g + 1] - cl->g_k0[g], cl->N);
    if (!(cl->qpack = bc__alloc((size_t)cl->qoff[cl->G])))
        return bc__fail(BC_ERR_NOMEM, "CIM chip: layer %d packed cells", l->index);
    const float half_dv = (float)(0.5 * bc_cim_hw_dv_cell_V(hw));
    for (int32_t g = 0; g < cl->G; g++) {
        /* "mid": the bitline when half the group's rows discharge (2S = rows). */
        float rows_g = (float)(cl->g_k0[g + 1] - cl->g_k0[g]);
        cl->vref[g] = isnan(hw->sa_vref_V) ? bc__cim_bitline((float)hw->vdd_V, half_dv, (float)hw->v_floor_V, rows_g)
                                           : (float)hw->sa_vref_V;
    }
    if (T) {
        const int64_t c = l->ishape.c;
        for (size_t t = 0; t < T; t++)
            for (int32_t g = 0; g < cl->G; g++) {
                int64_t lo = (int64_t)t * c > cl->g_k0[g] ? (int64_t)t * c : cl->g_k0[g];
                int64_t hi = (int64_t)(t + 1) * c < cl->g_k0[g + 1] ? (int64_t)(t + 1) * c : cl->g_k0[g + 1];
                cl->tcount[t * G + (size_t)g] = hi > lo ? (int32_t)(hi - lo) : 0;
            }
    }
    return BC_OK;
}

/* The quantile function of the relative cell current c, tabulated: tab[i] = c(sigma * z_i)
 * at the normal quantiles z_i = Phi^-1((i + 1/2) / (BC__CELL_TABLE + 1)). A cell's uniform
 * 32-bit draw u then maps to c by linear interpolation at u / 2^16: one table read instead of
 * Box-Muller plus pow/exp per cell, which dominated a small network's chip. The dVth it
 * represents is N(0, sigma) truncated at +-4.3 sigma (the outermost quantiles). */
static void bc__cell_table(const bc_cim_hw *hw, float *tab) {
    for (int32_t i = 0; i <= BC__CELL_TABLE; i++) {
        double z = gsl_cdf_ugaussian_Pinv((i + 0.5) / (BC__CELL_TABLE + 1.0));
        tab[i] = (float)bc__cim_cell_current(hw, hw->sigma_vth_mV * z);
    }
}

static inline float bc__cell_of(const float *tab, uint32_t u) {
    const uint32_t i = u >> 16;
    const float f = (float)(u & 0xFFFFu) * (1.0f / 65536.0f);
    return tab[i] + f * (tab[i + 1] - tab[i]);
}

/* Draws the layer's cells and offsets for chip `index`, and the sums the executor needs.
 * Cell n = j * K + i takes word n % 4 of Philox block n / 4 of its key. */
static void bc__draw_layer(bc__cim_layer *cl, const bc_cim_hw *hw, const float *tab, uint64_t seed, uint32_t index) {
    const int64_t K = cl->K, N = cl->N, G = cl->G;
    const uint32_t layer = (uint32_t)cl->l->index;
    const bc_rng_key kc = {.seed = seed, .purpose = BC__RNG_CIM_CELL, .chip = index, .layer = layer};
    const bc_rng_key ko = {.seed = seed, .purpose = BC__RNG_CIM_OFFSET, .chip = index, .layer = layer};
    const int64_t c_in = cl->taps ? cl->l->ishape.c : 1;
    #pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < N; j++) {
        float *c = cl->cell + j * K;
        if (tab) {
            uint32_t w[4];
            const uint64_t n0 = (uint64_t)(j * K);
            bc__rng_block(kc, n0 >> 2, w);
            for (int64_t i = 0; i < K; i++) {
                const uint64_t n = n0 + (uint64_t)i;
                if ((n & 3) == 0 && i) bc__rng_block(kc, n >> 2, w);
                c[i] = bc__cell_of(tab, w[n & 3]);
            }
        } else {
            for (int64_t i = 0; i < K; i++) c[i] = 1.0f;
        }
        for (int64_t g = 0; g < G; g++) {
            float s = 0.0f;
            for (int64_t i = cl->g_k0[g]; i < cl->g_k0[g + 1]; i++) s += c[i];
            cl->gsum[g * N + j] = s;
        }
        for (int64_t t = 0; t < cl->taps; t++)
            for (int64_t g = 0; g < G; g++) {
                float s = 0.0f;
                for (int64_t i = t * c_in; i < (t + 1) * c_in; i++)
                    if (i >= cl->g_k0[g] && i < cl->g_k0[g + 1]) s += c[i];
                cl->tsum[(t * G + g) * N + j] = s;
            }
        for (int64_t a = 0; a < cl->A; a++) {
            cl->offset[a * N + j] = (float)(hw->sigma_offset_mV * 1e-3) * bc_rng_normal(ko, (uint64_t)(a * N + j));
            cl->trim[a * N + j] = 0.0f;
            cl->readoff[a * N + j] = cl->offset[a * N + j];
        }
    }
    cl->wversion = 0; /* beff is remade from the new cells on the next forward */
    cl->reads = 0;
}

void bc_cim_chip_redraw(bc_cim_chip *c, uint32_t index) {
    c->index = index;
    c->calibrated = false;
    c->trimmed = false;
    for (int32_t i = 0; i < c->n_mapped; i++) bc__draw_layer(&c->mapped[i], &c->hw, c->ctab, c->seed, index);
}

bc_status bc_cim_chip_new(const bc_cim_hw *hw, const bc_model *m, uint64_t seed, uint32_t index, bc_cim_chip **out) {
    *out = NULL;
    if (!hw || !m) return bc__fail(BC_ERR_PARAM, "bc_cim_chip_new: NULL argument");
    bc_cim_chip *c = calloc(1, sizeof *c);
    if (!c) return bc__fail(BC_ERR_NOMEM, "CIM chip");
    c->hw = *hw;
    c->model = m;
    c->seed = seed;
    c->i8 = bc__i8_kernels_for(m->ctx->cpu);
    c->int8 = true;
    c->wide_readout = m->ctx->cpu >= BC_CPU_AVX2;
    c->by_layer = calloc((size_t)m->n_layers, sizeof *c->by_layer);
    c->mapped = calloc((size_t)m->n_layers, sizeof *c->mapped);
    c->buffers = malloc((size_t)(m->n_buffers > 0 ? m->n_buffers : 1) * sizeof *c->buffers);
    if (!c->by_layer || !c->mapped || !c->buffers) {
        bc_cim_chip_free(c);
        return bc__fail(BC_ERR_NOMEM, "CIM chip");
    }
    if (hw->variation != BC_CIM_VAR_NONE && hw->sigma_vth_mV > 0.0) {
        if (!(c->ctab = malloc((BC__CELL_TABLE + 1) * sizeof *c->ctab))) {
            bc_cim_chip_free(c);
            return bc__fail(BC_ERR_NOMEM, "CIM chip");
        }
        bc__cell_table(hw, c->ctab);
    }
    for (int32_t i = 0; i < m->n_layers; i++) {
        if (!bc__on_cim(m, hw, i)) continue;
        bc__cim_layer *cl = &c->mapped[c->n_mapped++];
        bc_status st = bc__map_layer(cl, &m->layers[i], hw);
        if (st) {
            bc_cim_chip_free(c);
            return st;
        }
        c->by_layer[i] = cl;
    }
    bc_cim_chip_redraw(c, index);
    *out = c;
    return BC_OK;
}

void bc_cim_chip_free(bc_cim_chip *c) {
    if (!c) return;
    for (int32_t i = 0; i < c->n_mapped; i++) {
        bc__cim_layer *cl = &c->mapped[i];
        free(cl->g_k0); free(cl->g_array); free(cl->cell); free(cl->beff); free(cl->gsum);
        free(cl->tsum); free(cl->tcount); free(cl->vref); free(cl->offset);
        free(cl->trim); free(cl->readoff); free(cl->obs_hist); free(cl->obs_err); free(cl->obs_n);
        free(cl->q); free(cl->qpack); free(cl->qoff); free(cl->qsum);
    }
    free(c->mapped);
    free(c->by_layer);
    free(c->ctab);
    free(c->buffers);
    free(c);
}

const bc_cim_hw *bc_cim_chip_hw(const bc_cim_chip *c) { return &c->hw; }
int32_t bc_cim_chip_layers(const bc_cim_chip *c) { return c->n_mapped; }

bc_cim_layer_info bc_cim_chip_layer(const bc_cim_chip *c, int32_t i) {
    bc_cim_layer_info r = {0};
    if (i < 0 || i >= c->n_mapped) return r;
    const bc__cim_layer *cl = &c->mapped[i];
    r.layer = cl->l->index;
    r.rows = cl->K;
    r.cols = cl->N;
    r.groups = cl->G;
    r.array_rows = cl->A;
    r.array_cols = (int32_t)((cl->N + c->hw.cols - 1) / c->hw.cols);
    r.reads_per_sample = (int64_t)cl->G * cl->N * cl->l->oshape.h * cl->l->oshape.w;
    return r;
}
