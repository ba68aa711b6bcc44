/* Private layout of a CIM chip instance and the executor that runs mapped layers on it. */
#ifndef BC_CIM_CIM_H
#define BC_CIM_CIM_H
#include "bitcell_cim.h"
#include "kernels/i8gemm.h"
#include "nn/model.h"

/* Streams of the keyed RNG that make up a chip. */
enum { BC__RNG_CIM_CELL = 16, BC__RNG_CIM_OFFSET = 17, BC__RNG_CIM_READ = 18 };

/* One binary layer on its arrays. Rows i (K of them, im2col order) and columns j (N outputs)
 * index the weight matrix as stored, (N, K) row-major. */
typedef struct {
    const bc__layer *l;
    int64_t K, N;
    int32_t G, A;        /* row groups; array row tiles */
    int32_t *g_k0;       /* (G + 1) first row of each group; g_k0[G] = K */
    int32_t *g_array;    /* (G) array row tile each group lies in */
    int32_t taps;        /* conv with padding: size * size (per-tap sums below); else 0 */
    float *cell;         /* (N, K) relative current of each cell, c = 1 + delta */
    float *beff;         /* (N, K) sign(w) * c, remade when the weights change */
    float *gsum;         /* (G, N) sum of c over each group's cells */
    float *tsum;         /* (taps, G, N) the same restricted to one tap's rows */
    int32_t *tcount;     /* (taps, G) rows of a tap inside a group */
    float *vref;         /* (G) SA reference of each group, volts */
    float *offset;       /* (A, N) SA / ADC input-referred offset of each array column, volts */
    float *trim;         /* (A, N) reference trim per array column set by calibration, volts */
    float *readoff;      /* (A, N) offset - trim: what the readout adds to each bitline */
    /* While the chip is observed for its trim (src/cim/trim.c; NULL otherwise): per array
     * column, SA histograms of the bitline's margin to the reference, split by the digital
     * sign; ADC sums of the bitline's error against the ideal one, in 1/256 cell steps. */
    uint32_t *obs_hist;  /* (A, N, 2, BC__TRIM_BINS) */
    int64_t *obs_err;    /* (A, N) */
    int64_t *obs_n;      /* (A, N) reads per column; [A * N]: row blocks unobserved (no memory) */
    /* The integer path (src/cim/quant.c): beff in steps of 1/qscale as int8. */
    int32_t qscale;      /* S: 64 or 32 (a power of two); 0 when beff needs a coarser step */
    int8_t *q;           /* (N, K) round(beff * S) */
    int8_t *qpack;       /* each group's rows of q as a packed B (kernels/i8gemm.h) */
    int64_t *qoff;       /* (G + 1) byte offset of each group's panels in qpack */
    int32_t *qsum;       /* (G, N) sum of q over each group's rows */
    uint64_t wversion;   /* param_version beff (and q) were made from (0: never) */
    uint64_t reads;      /* forward calls so far: keys the per-read noise */
} bc__cim_layer;

#define BC__TRIM_BINS 256        /* SA trim histogram bins, BC__TRIM_BINS_PER_CELL per cell */
#define BC__TRIM_BINS_PER_CELL 4

#define BC__CELL_TABLE 65536 /* cell-current quantile table intervals (src/cim/chip.c) */

struct bc_cim_chip {
    bc_cim_hw hw;
    const bc_model *model;
    uint64_t seed;
    uint32_t index;
    int32_t n_mapped;
    bc__cim_layer *mapped;
    bc__cim_layer **by_layer; /* (model layers) NULL where the layer stays digital */
    const bc__i8_kernels *i8; /* integer-path kernels for the model's CPU level */
    bool int8;                /* integer path where qscale allows (tests turn it off to compare) */
    bool wide_readout;        /* AVX2 readout loops (the CPU has AVX2; tests compare with SSE2) */
    float *ctab;              /* (BC__CELL_TABLE + 1) quantiles of the cell current; NULL: c = 1 */
    /* Per-chip calibration (src/cim/calibrate.c), reset by every re-draw. */
    bool calibrated;          /* buffers holds this chip's batch-norm statistics */
    float *buffers;           /* (model n_buffers) the model's buffers as calibrated on this chip */
    bool trimmed;             /* the layers' trim came from a calibration */
    bool observing;           /* forwards run digitally and fill the layers' obs_* (trim.c) */
};

/* Reference trims of all mapped layers, concatenated (A * N per layer, in mapping order). */
int64_t bc__cim_trim_count(const bc_cim_chip *c);
void bc__cim_trim_get(const bc_cim_chip *c, float *dst);
/* Sets the trims (NULL: none) and the readout offsets that follow from them. */
void bc__cim_trim_set(bc_cim_chip *c, const float *src);
/* Trim calibration: start observing (allocates the statistics), then, after forwards over the
 * calibration images, turn the statistics into trims. */
bc_status bc__cim_trim_begin(bc_cim_chip *c);
bc_status bc__cim_trim_end(bc_cim_chip *c, bool apply);

/* Bitline voltage after a group discharged: twice_s = 2 * (summed relative current of the
 * discharging cells). Shared by the readout and the SA reference so that a partial sum of
 * exactly zero meets the reference exactly (sign(0) = +1, as in the digital layer). */
static inline float bc__cim_bitline(float vdd, float half_dv, float v_floor, float twice_s) {
    float v = vdd - half_dv * twice_s;
    return v < v_floor ? v_floor : v;
}

/* Relative current c of a cell whose threshold moved by dvth_mV (src/cim/hw.c). */
double bc__cim_cell_current(const bc_cim_hw *hw, double dvth_mV);
/* The mapped record of model layer `index`, or NULL when it runs digitally. */
static inline bc__cim_layer *bc__cim_layer_of(const bc_cim_chip *c, int32_t index) {
    return c ? c->by_layer[index] : NULL;
}
/* Cell-current resolution of the integer path: beff is held in steps of 1/S, S a power of two
 * (so the ideal chip's ±1 cells and their sums stay exact), S = 64 when every |beff| < 127/64,
 * else the largest power of two with max |beff| * S <= 127. Below BC__CIM_QSCALE_MIN the layer
 * keeps the float GEMM: a step of 1/32 of the nominal current (rounding error at most 1/64,
 * sd 0.009 per cell) is far below the variation the model studies (sd 5-30 %). */
#define BC__CIM_QSCALE_MIN 32
/* Remakes q, qpack and qsum from beff and sets qscale (0: float path). */
void bc__cim_quantise(bc__cim_layer *cl);
/* Bytes per row of the integer path's u8 inputs: K plus the 3 a kernel may read past a group
 * ending on the last row (the weights there are 0), rounded to 16. */
static inline int64_t bc__cim_u8_ld(int64_t K) { return (K + 3 + 15) / 16 * 16; }

/* Forward of a mapped layer through the chip: x (n, in) ±1 -> l->act (n, out), no bias. */
void bc__cim_forward(const bc_cim_chip *chip, bc__cim_layer *cl, const float *x, const bc__exec *e);
/* Scratch floats per thread bc__cim_forward needs beyond the layer's im2col. */
int64_t bc__cim_scratch(const bc__layer *l, int64_t rows);
#endif
