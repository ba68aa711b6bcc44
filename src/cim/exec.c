/* The CIM executor: a mapped binary layer's multiply-accumulates as the arrays do them.
 *
 * For a group g of rows and a column j, the matching cells' summed relative current is
 *     S = sum_i valid_i * c_ij * (1 + x_i w_ij) / 2 = (D + Y) / 2,
 *     D = sum_{valid i in g} c_ij,   Y = sum_{i in g} x_i * (w_ij c_ij)
 * with x = 0 on padded taps (their wordlines stay off). Y is one float GEMM per group with the
 * chip's effective weights w*c; D is a per-chip constant, less the padded taps' sums at image
 * borders. For mismatch-discharging cells S = (D - Y) / 2. Without variation c = 1 and every
 * quantity is a small integer held exactly in float, so the ideal readout reproduces the
 * digital layer bit for bit.
 *
 * The integer path computes Y with int8 cells q = beff * S (src/cim/quant.c) and u8 inputs
 * x + 1 in blocks of BC__CIM_ROWS rows: Y = (sum (x + 1) q - sum q) / S, exact in float, so it
 * keeps that property (q = ±S without variation) and only rounds c to steps of 1/S. */
#include "cim/cim.h"
#include "kernels/gemm.h"
#include "kernels/im2col.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BC__CIM_ROWS 128 /* rows per task in the direct (dense) and integer paths */

/* Float path: rows x N GEMM outputs and 3N of readout work. Integer path: the same for
 * BC__CIM_ROWS rows, their u8 inputs, and for a conv the codes of a chunk's input samples. */
int64_t bc__cim_scratch(const bc__layer *l, int64_t rows) {
    const bc__conv_geom g = bc__conv_geom_of(l);
    const int64_t r = rows > BC__CIM_ROWS ? rows : BC__CIM_ROWS;
    const int64_t codes = bc__conv_direct(&g) ? 0 : (rows / ((int64_t)g.oh * g.ow) + 1) * l->in;
    return r * l->wrows + 3 * l->wrows + (BC__CIM_ROWS * bc__cim_u8_ld(l->wk) + codes + 3) / 4;
}

/* Per-layer constants of the readout, in the units the inner loop wants. */
typedef struct {
    bc_cim_readout kind;
    float sgn;         /* +1: matches discharge; -1: mismatches do */
    float vdd, floor_v, half_dv; /* V_BL = max(floor, vdd - half_dv * (D +- Y)) */
    float inv_step_v;  /* ADC: 1 / (volts per code) */
    float step;        /* ADC: cells per code */
    float max_code;
    float sigma_read;  /* volts */
    bool wide;         /* the AVX2 build of the readout loops */
} bc__readout;

static bc__readout bc__readout_of(const bc_cim_hw *hw, bool wide) {
    const double dv = bc_cim_hw_dv_cell_V(hw);
    const int32_t fs = hw->adc_full_scale_rows ? hw->adc_full_scale_rows : hw->rows_on;
    const double levels = ldexp(1.0, hw->adc_bits) - 1.0;
    /* An ADC with at least one level per cell resolves every count; otherwise its ladder
     * spreads the levels uniformly over the full scale. */
    const double step = levels >= fs ? 1.0 : fs / levels;
    return (bc__readout){.kind = hw->readout, .sgn = hw->cell == BC_CIM_CELL_XNOR_MATCH ? 1.0f : -1.0f,
                         .vdd = (float)hw->vdd_V, .floor_v = (float)hw->v_floor_V, .half_dv = (float)(0.5 * dv),
                         .inv_step_v = (float)(1.0 / (dv * step)), .step = (float)step,
                         .max_code = (float)(levels >= fs ? fs : levels), .sigma_read = (float)(hw->sigma_read_mV * 1e-3), .wide = wide};
}

/* ADC level k (1-based): the bitline voltage of (k - 1/2) * step discharging cells, by the
 * bitline's own expression but unclamped (the ladder does not stop at the bitline's floor). */
static inline float bc__adc_level(const bc__readout *ro, float k) {
    return ro->vdd - ro->half_dv * ((2.0f * k - 1.0f) * ro->step);
}

/* The code: how many levels the input is at or below. Level k is met when
 * (vdd - v) * inv_step_v >= k - 1/2, so the closed form is floor of that plus 1/2; it is off by
 * at most one where rounding puts v within an ulp of a level, and the two exact comparisons
 * settle those the way the comparators do. Branch-free (truncation of a non-negative value for
 * floor) so that the readout loop vectorises. */
static inline float bc__adc_code(const bc__readout *ro, float v) {
    const bc__readout r = *ro; /* by value: loads through ro would keep the loop scalar */
    float x = (r.vdd - v) * r.inv_step_v + 0.5f;
    x = x < 0.0f ? 0.0f : x;
    x = x > r.max_code ? r.max_code : x;
    int32_t code = (int32_t)x;
    /* Integer masks, not && or ?: chains: those leave control flow that stops the vectoriser. */
    code += (v <= bc__adc_level(&r, (float)code + 1.0f)) & ((float)code < r.max_code);
    code -= (v > bc__adc_level(&r, (float)code)) & (code > 0);
    return (float)code;
}

/* Adds the readouts of one row of one group to o (N columns): y from the GEMM, d the row's sum
 * of cell currents over its driven rows, nvalid their count, off the columns' offsets, noise
 * the row's read noise (NULL: none). One loop per readout kind, so each vectorises; noinline
 * because GCC 12 leaves the ADC loops scalar once this is inlined into its caller. Built twice
 * (baseline SSE2 and AVX2: the same operations in the same order, no FMA, so the same bits);
 * at SSE2 width the readout was a fifth of a vgg chip's time. */
#define BC__READ_ROW_NAME bc__read_row_base
#define BC__READ_ROW_ATTR __attribute__((noinline))
#include "cim/read_row.inc"
#undef BC__READ_ROW_NAME
#undef BC__READ_ROW_ATTR
#define BC__READ_ROW_NAME bc__read_row_avx2
#define BC__READ_ROW_ATTR __attribute__((noinline, target("avx2")))
#include "cim/read_row.inc"
#undef BC__READ_ROW_NAME
#undef BC__READ_ROW_ATTR

static inline void bc__read_row(const bc__readout *ro, int64_t N, const float *y, const float *d, float nvalid, float vref,
                                const float *off, const float *noise, float *o) {
    if (ro->wide) bc__read_row_avx2(ro, N, y, d, nvalid, vref, off, noise, o);
    else bc__read_row_base(ro, N, y, d, nvalid, vref, off, noise, o);
}

/* Observation for the trim (src/cim/trim.c): instead of its readout, adds the digital partial
 * sum y0 to o, so the network runs digitally, and records how this chip would read the group:
 * for an SA the margin to the reference in cells, z = sgn * (vref - v) / dV (the SA says +1
 * when z >= 0), by the digital sign; for an ADC the bitline's error against the variation-free,
 * offset-free one. Raw offsets (no trim), no read noise. */
static void bc__observe_row(const bc__cim_layer *cl, const bc__readout *ro, int32_t g, int64_t N, const float *y,
                            const float *y0, const float *d, float nvalid, float *o) {
    const int64_t a = cl->g_array[g];
    const float *off = cl->offset + a * N, inv_dv = 0.5f / ro->half_dv;
    for (int64_t j = 0; j < N; j++) {
        o[j] += y0[j];
        const float v = bc__cim_bitline(ro->vdd, ro->half_dv, ro->floor_v, d[j] + ro->sgn * y[j]) + off[j];
        if (ro->kind == BC_CIM_READ_SA) {
            float b = floorf(ro->sgn * (cl->vref[g] - v) * inv_dv * BC__TRIM_BINS_PER_CELL) + BC__TRIM_BINS / 2;
            b = b < 0.0f ? 0.0f : b > BC__TRIM_BINS - 1 ? BC__TRIM_BINS - 1 : b;
            const int64_t h = ((a * N + j) * 2 + (y0[j] >= 0.0f)) * BC__TRIM_BINS + (int64_t)b;
            __atomic_fetch_add(&cl->obs_hist[h], 1u, __ATOMIC_RELAXED);
        } else if (ro->kind == BC_CIM_READ_ADC) {
            const float vi = bc__cim_bitline(ro->vdd, ro->half_dv, ro->floor_v, nvalid + ro->sgn * y0[j]);
            __atomic_fetch_add(&cl->obs_err[a * N + j], (int64_t)lrintf((v - vi) * inv_dv * 256.0f), __ATOMIC_RELAXED);
            __atomic_fetch_add(&cl->obs_n[a * N + j], (int64_t)1, __ATOMIC_RELAXED);
        }
    }
}

/* A group's GEMM output (rows, N): float Y, or (y NULL) the integer path's sums c, turned
 * into Y = (c - qsum) * inv_s one row at a time as the readout reaches it (in L1). */
typedef struct {
    const float *y;
    const int32_t *c, *qsum;
    float inv_s;
} bc__group_out;

/* Reads group g of `rows` rows: y (rows, N) from the GEMM; adds each readout to out (rows, N).
 * row0 is the first row's index in the batch (pixel position, noise key). work: 3N floats.
 * y0 (rows, N): the digital partial sums, given only while the chip is observed. */
static void bc__read_group(const bc_cim_chip *chip, const bc__cim_layer *cl, const bc__readout *ro,
                           const bc__conv_geom *geo, int32_t g, const bc__group_out *y, const float *y0, int64_t rows,
                           int64_t row0, int64_t batch_rows, float *work, float *out) {
    const int64_t N = cl->N, G = cl->G, p = (int64_t)geo->oh * geo->ow;
    const float *gsum = cl->gsum + g * N, *off = cl->readoff + (int64_t)cl->g_array[g] * N;
    const float rows_g = (float)(cl->g_k0[g + 1] - cl->g_k0[g]);
    float *dvec = work, *noise = !y0 && ro->sigma_read > 0.0f && ro->kind != BC_CIM_READ_IDEAL ? work + N : NULL;
    const bc_rng_key kr = {.seed = chip->seed, .purpose = BC__RNG_CIM_READ, .chip = chip->index, .layer = (uint32_t)cl->l->index};
    for (int64_t r = 0; r < rows; r++) {
        const float *d = gsum;
        float nvalid = rows_g;
        int64_t pix = (row0 + r) % p;
        int32_t oy = (int32_t)(pix / geo->ow), ox = (int32_t)(pix % geo->ow);
        if (cl->taps && bc__conv_border(geo, oy, ox)) {
            /* Padded taps drive no wordline: their cells neither count nor conduct. */
            memcpy(dvec, gsum, (size_t)N * sizeof *dvec);
            for (int32_t ky = 0; ky < geo->k; ky++)
                for (int32_t kx = 0; kx < geo->k; kx++) {
                    int32_t iy = oy * geo->stride - geo->pad + ky, ix = ox * geo->stride - geo->pad + kx;
                    if (iy >= 0 && iy < geo->h && ix >= 0 && ix < geo->w) continue;
                    int64_t t = ky * geo->k + kx;
                    if (!cl->tcount[t * G + g]) continue;
                    nvalid -= (float)cl->tcount[t * G + g];
                    const float *ts = cl->tsum + (t * G + g) * N;
                    for (int64_t j = 0; j < N; j++) dvec[j] -= ts[j];
                }
            d = dvec;
        }
        if (noise) {
            const uint64_t key0 = ((cl->reads * (uint64_t)batch_rows + (uint64_t)(row0 + r)) * (uint64_t)G + (uint64_t)g) * (uint64_t)N;
            for (int64_t j = 0; j < N; j++) noise[j] = ro->sigma_read * bc_rng_normal(kr, key0 + (uint64_t)j);
        }
        const float *yr = y->y ? y->y + r * N : work + 2 * N;
        if (y0) {
            bc__observe_row(cl, ro, g, N, yr, y0 + r * N, d, nvalid, out + r * N);
            continue;
        }
        if (!y->y) /* exact: integers below 2^24 times a power of two */
            for (int64_t j = 0; j < N; j++) work[2 * N + j] = (float)(y->c[r * N + j] - y->qsum[j]) * y->inv_s;
        bc__read_row(ro, N, yr, d, nvalid, cl->vref[g], off, noise, out + r * N);
    }
}

/* All groups of `rows` rows of im2col (or dense) input col (ld K) into out (rows, N). While
 * the chip is observed, each group's digital partial sums too (calibration only, so a malloc
 * per call costs nothing that matters; its failure is counted for bc__cim_trim_end). */
static void bc__run_rows(const bc_cim_chip *chip, const bc__cim_layer *cl, const bc__readout *ro,
                         const bc__conv_geom *geo, const float *col, int64_t rows, int64_t row0,
                         int64_t batch_rows, float *tmp, float *out) {
    const int64_t K = cl->K, N = cl->N;
    float *work = tmp + rows * N;
    float *y0 = chip->observing ? malloc((size_t)(rows * N) * sizeof *y0) : NULL;
    if (chip->observing && !y0) __atomic_fetch_add(&cl->obs_n[cl->A * N], (int64_t)1, __ATOMIC_RELAXED);
    memset(out, 0, (size_t)(rows * N) * sizeof *out);
    for (int32_t g = 0; g < cl->G; g++) {
        const int64_t k0 = cl->g_k0[g], kg = cl->g_k0[g + 1] - k0;
        bc__sgemm_serial(false, true, rows, N, kg, 1.0f, col + k0, K, cl->beff + k0, K, 0.0f, tmp, N);
        if (y0) bc__sgemm_serial(false, true, rows, N, kg, 1.0f, col + k0, K, cl->l->wbin + k0, K, 0.0f, y0, N);
        const bc__group_out y = {.y = tmp};
        bc__read_group(chip, cl, ro, geo, g, &y, y0, rows, row0, batch_rows, work, out);
    }
    free(y0);
}

/* The integer path for `rows` rows of u8 inputs u (ld ldu) into out (rows, N): per group the
 * u8 x s8 GEMM into acc, then the readout of Y = (C - qsum) / S. */
static void bc__run_rows_i8(const bc_cim_chip *chip, const bc__cim_layer *cl, const bc__readout *ro,
                            const bc__conv_geom *geo, const uint8_t *u, int64_t ldu, int64_t rows, int64_t row0,
                            int64_t batch_rows, int32_t *acc, float *work, float *out) {
    const int64_t N = cl->N;
    const float inv_s = 1.0f / (float)cl->qscale; /* a power of two: the scaling is exact */
    memset(out, 0, (size_t)(rows * N) * sizeof *out);
    for (int32_t g = 0; g < cl->G; g++) {
        const int64_t k0 = cl->g_k0[g], kg = cl->g_k0[g + 1] - k0;
        chip->i8->gemm(acc, N, u + k0, ldu, cl->qpack + cl->qoff[g], rows, N, kg);
        const bc__group_out y = {.c = acc, .qsum = cl->qsum + g * N, .inv_s = inv_s};
        bc__read_group(chip, cl, ro, geo, g, &y, NULL, rows, row0, batch_rows, work, out);
    }
}

/* Dense (and 1x1) layers: blocks of BC__CIM_ROWS rows, coded straight from x. A conv: the
 * float path's sample chunks, each coded once (a pixel feeds up to k*k im2col rows), then
 * im2col'd and run BC__CIM_ROWS rows at a time so that the GEMM output stays in cache. */
static void bc__cim_forward_i8(const bc_cim_chip *chip, const bc__cim_layer *cl, const bc__readout *ro,
                               const bc__conv_geom *geo, const float *x, const bc__exec *e) {
    const bc__layer *l = cl->l;
    const int64_t K = cl->K, N = cl->N, ldu = bc__cim_u8_ld(K), p = (int64_t)geo->oh * geo->ow, batch_rows = e->n * p;
    if (bc__conv_direct(geo)) {
        const int64_t blocks = (batch_rows + BC__CIM_ROWS - 1) / BC__CIM_ROWS;
        #pragma omp parallel for schedule(static)
        for (int64_t b = 0; b < blocks; b++) {
            int64_t r0 = b * BC__CIM_ROWS, nr = batch_rows - r0 < BC__CIM_ROWS ? batch_rows - r0 : BC__CIM_ROWS;
            float *work = e->scratch + bc__thread_id() * e->scratch_per_thread;
            int32_t *acc = (int32_t *)(work + 3 * N);
            uint8_t *u = (uint8_t *)(acc + BC__CIM_ROWS * N);
            for (int64_t r = 0; r < nr; r++) {
                bc__u8_codes(u + r * ldu, x + (r0 + r) * K, K);
                memset(u + r * ldu + K, 0, (size_t)(ldu - K));
            }
            bc__run_rows_i8(chip, cl, ro, geo, u, ldu, nr, r0, batch_rows, acc, work, l->act + r0 * N);
        }
        return;
    }
    const int64_t chunks = bc__conv_chunks(l, e->n);
    #pragma omp parallel for schedule(static)
    for (int64_t ch = 0; ch < chunks; ch++) {
        int64_t s0, ns;
        bc__conv_chunk(e->n, chunks, ch, &s0, &ns);
        float *work = e->scratch + bc__thread_id() * e->scratch_per_thread;
        int32_t *acc = (int32_t *)(work + 3 * N);
        uint8_t *u = (uint8_t *)(acc + BC__CIM_ROWS * N), *codes = u + BC__CIM_ROWS * ldu;
        bc__u8_codes(codes, x + s0 * l->in, ns * l->in);
        for (int64_t r = 0; r < ns * p; r += BC__CIM_ROWS) {
            const int64_t nr = ns * p - r < BC__CIM_ROWS ? ns * p - r : BC__CIM_ROWS;
            bc__im2col_u8(u, ldu, codes, r, nr, geo);
            bc__run_rows_i8(chip, cl, ro, geo, u, ldu, nr, s0 * p + r, batch_rows, acc, work, l->act + (s0 * p + r) * N);
        }
    }
}

void bc__cim_forward(const bc_cim_chip *chip, bc__cim_layer *cl, const float *x, const bc__exec *e) {
    const bc__layer *l = cl->l;
    const int64_t n = e->n, K = cl->K, N = cl->N, KN = K * N;
    if (cl->wversion != e->param_version) {
        #pragma omp parallel for schedule(static) if (KN > 16384)
        for (int64_t i = 0; i < KN; i++) cl->beff[i] = l->wbin[i] * cl->cell[i];
        bc__cim_quantise(cl);
        cl->wversion = e->param_version;
    }
    const bc__readout ro = bc__readout_of(&chip->hw, chip->wide_readout);
    const bc__conv_geom geo = bc__conv_geom_of(l);
    if (chip->int8 && cl->qscale && !chip->observing) {
        bc__cim_forward_i8(chip, cl, &ro, &geo, x, e);
        cl->reads++;
        return;
    }
    const int64_t p = (int64_t)geo.oh * geo.ow, batch_rows = n * p;
    if (bc__conv_direct(&geo)) {
        const int64_t blocks = (batch_rows + BC__CIM_ROWS - 1) / BC__CIM_ROWS;
        #pragma omp parallel for schedule(static)
        for (int64_t b = 0; b < blocks; b++) {
            int64_t r0 = b * BC__CIM_ROWS, nr = batch_rows - r0 < BC__CIM_ROWS ? batch_rows - r0 : BC__CIM_ROWS;
            float *tmp = e->scratch + bc__thread_id() * e->scratch_per_thread;
            bc__run_rows(chip, cl, &ro, &geo, x + r0 * K, nr, r0, batch_rows, tmp, l->act + r0 * N);
        }
    } else {
        const int64_t chunks = bc__conv_chunks(l, n);
        #pragma omp parallel for schedule(static)
        for (int64_t ch = 0; ch < chunks; ch++) {
            int64_t s0, ns;
            bc__conv_chunk(n, chunks, ch, &s0, &ns);
            float *col = e->scratch + bc__thread_id() * e->scratch_per_thread, *tmp = col + ns * p * K;
            bc__im2col(col, x + s0 * l->in, ns, &geo);
            bc__run_rows(chip, cl, &ro, &geo, col, ns * p, s0 * p, batch_rows, tmp, l->act + s0 * p * N);
        }
    }
    cl->reads++;
}
