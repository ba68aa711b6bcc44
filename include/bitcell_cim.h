/* bitcell CIM: SRAM compute-in-memory macros, chip instances under process variation, and
 * Monte-Carlo evaluation of binary networks on them (PR-CIM, ../shared/METHODS.md §1.3).
 *
 *     bc_cim_hw hw;                  bc_cim_hw_load("hw/sram65.ini", &hw);
 *     bc_cim_chip *chip;             bc_cim_chip_new(&hw, model, seed, chip_index, &chip);
 *     bc_model_set_chip(model, chip); bc_evaluate(model, test, &norm, 500, &r);
 *
 * A binary dense or conv layer whose input is ±1 is tiled onto rows x cols arrays (conv through
 * its im2col view: K = size*size*c_in rows, one column per filter). Every group of rows_on rows
 * is read at once: the matching cells' currents discharge the bitline, a sense amplifier (SA)
 * or ADC reads it, and the digital periphery adds the group readouts. All other layers (and by
 * default the first and last weighted layers) stay digital. With variation = none, rows_on =
 * rows and readout = ideal, a chip gives exactly the digital network's outputs. */
#ifndef BITCELL_CIM_H
#define BITCELL_CIM_H
#include "bitcell.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which cells discharge the read bitline. */
typedef enum {
    BC_CIM_CELL_XNOR_MATCH = 0,    /* XNOR cell (8T/10T style): a cell whose weight equals the
                                    * input sinks current, so V_BL falls as matches grow */
    BC_CIM_CELL_XNOR_MISMATCH = 1, /* the complement: mismatching cells sink current */
} bc_cim_cell;

typedef enum {
    BC_CIM_READ_IDEAL = 0, /* reads the summed cell current exactly (no bitline, no quantisation) */
    BC_CIM_READ_SA = 1,    /* 1-bit sense amplifier per column: each partial sum becomes ±1 */
    BC_CIM_READ_ADC = 2,   /* B-bit ADC per column on a uniform reference ladder */
} bc_cim_readout;

/* How a cell's threshold-voltage shift dVth ~ N(0, sigma_vth) changes its current I0 * c. */
typedef enum {
    BC_CIM_VAR_NONE = 0,         /* c = 1 */
    BC_CIM_VAR_ALPHA = 1,        /* alpha-power law: c = max(0, 1 - dVth / overdrive)^alpha */
    BC_CIM_VAR_ALPHA_LINEAR = 2, /* its linearisation: c = max(0, 1 - alpha * dVth / overdrive) */
    BC_CIM_VAR_SUBTHRESHOLD = 3, /* sub-threshold read: c = exp(-dVth / (n_slope * vt)) */
} bc_cim_variation;

/* A macro description (an INI file in hw/). Units are in the names. */
typedef struct bc_cim_hw {
    char name[32];
    /* [macro] */
    int32_t rows, cols;      /* array size */
    int32_t rows_on;         /* rows read at once, 1..rows */
    bc_cim_cell cell;
    /* [bitline] V_BL = max(v_floor, vdd - (t_eval / c_bl) * i_cell * sum of matching cells' c) */
    double vdd_V, v_floor_V, i_cell_uA, t_eval_ns, c_bl_fF;
    /* [readout] */
    bc_cim_readout readout;
    int32_t adc_bits;            /* ADC: 2^bits - 1 reference levels */
    int32_t adc_full_scale_rows; /* ADC: matching cells at full scale; 0 = rows_on */
    double sa_vref_V;            /* SA reference; NAN ("mid") = V_BL at half the group's rows */
    /* [variation] */
    bc_cim_variation variation;
    double sigma_vth_mV, alpha, overdrive_V, n_slope, vt_mV;
    double sigma_offset_mV; /* SA / ADC input offset, one per array column (static) */
    double sigma_read_mV;   /* noise on every bitline read (dynamic); 0 = none */
    /* [mapping] */
    bool first_on_cim, last_on_cim; /* the first / last weighted layer on CIM (default digital) */
} bc_cim_hw;

/* The built-in defaults (a 128 x 128 ideal macro: no variation, ideal readout). */
bc_cim_hw bc_cim_hw_default(void);
/* Parses a macro file over the defaults; BC_ERR_FORMAT "file:line: ..." for unknown sections
 * or keys, malformed or out-of-range values and inconsistent settings (rows_on > rows, ...). */
bc_status bc_cim_hw_load(const char *path, bc_cim_hw *out);
bc_status bc_cim_hw_parse(const char *text, const char *origin, bc_cim_hw *out);
/* Applies one "key=value" (key alone when unique, or "section.key") and re-checks the whole
 * description. On error hw is unchanged. */
bc_status bc_cim_hw_set(bc_cim_hw *hw, const char *assignment);
/* The noise-injection ablation of variation-aware training: the same cells and variation, read
 * ideally, all rows at once, without SA / ADC offsets or read noise. */
bc_cim_hw bc_cim_hw_noise_only(const bc_cim_hw *hw);
/* The numeric value of a key (for sweeps and reports); BC_ERR_PARAM for unknown or text keys. */
bc_status bc_cim_hw_get(const bc_cim_hw *hw, const char *key, double *value);
/* The full description as INI text (every key, resolved), into a malloc'd string. */
char *bc_cim_hw_format(const bc_cim_hw *hw);
/* Bitline voltage drop per matching cell of nominal current: t_eval * i_cell / c_bl, volts. */
double bc_cim_hw_dv_cell_V(const bc_cim_hw *hw);
/* Standard deviation of the relative cell current c - 1 under the variation model, by
 * numerical integration (a figure for reports). */
double bc_cim_hw_sigma_current(const bc_cim_hw *hw);

/* One chip: a model's binary layers mapped onto arrays of `hw`, with one draw of all static
 * variation (cell currents, SA / ADC offsets) re-created exactly from (seed, index) whatever
 * the thread count. The chip keeps pointers into the model: free it before the model. */
typedef struct bc_cim_chip bc_cim_chip;
bc_status bc_cim_chip_new(const bc_cim_hw *hw, const bc_model *m, uint64_t seed, uint32_t index,
                          bc_cim_chip **out);
/* Re-draws the chip as chip `index` of the same seed (reusing its memory). */
void bc_cim_chip_redraw(bc_cim_chip *c, uint32_t index);
void bc_cim_chip_free(bc_cim_chip *c);
const bc_cim_hw *bc_cim_chip_hw(const bc_cim_chip *c);

/* How one mapped layer sits on the arrays. */
typedef struct {
    int32_t layer;          /* model layer index */
    int64_t rows, cols;     /* K (inputs per output) and N (outputs) */
    int32_t groups;         /* row groups read one after another per output */
    int32_t array_rows, array_cols; /* arrays the weight matrix is tiled onto */
    int64_t reads_per_sample; /* readouts (groups x columns x output pixels) per sample */
} bc_cim_layer_info;
int32_t bc_cim_chip_layers(const bc_cim_chip *c);
bc_cim_layer_info bc_cim_chip_layer(const bc_cim_chip *c, int32_t i);

/* Runs the model's mapped layers on `chip` in bc_model_predict / bc_evaluate (float engine);
 * NULL goes back to digital. BC_ERR_PARAM when the chip was made for another model. */
bc_status bc_model_set_chip(bc_model *m, bc_cim_chip *chip);

/* ---- per-chip calibration (PR-CIM-R, METHODS.md §1.4 item 3) */

/* What bc_cim_calibrate does (flags; 0 means BC_CIM_CALIB_BN, the default: on SA chips the trim
 * costs accuracy once the batch norms are calibrated, docs/REPRODUCTION.md). */
enum {
    BC_CIM_CALIB_BN = 1,   /* re-estimate the batch norms' statistics on the chip */
    BC_CIM_CALIB_TRIM = 2, /* trim each array column's SA reference / ADC ladder */
    BC_CIM_CALIB_ALL = 3,
};

/* Calibrates `chip` from all of `images` (calibration images: never the test set) in batches
 * of `batch` (< 2: 100). Trim first (the network runs digitally while each array column's
 * reads are compared with the digital partial sums; the SA reference is shifted to disagree
 * least with their signs, the ADC ladder by the bitline's mean error), then the batch norms'
 * running statistics re-estimated with the binary layers on the trimmed chip. The result
 * lives in the chip (the model's own statistics are untouched) and is used whenever the chip
 * is attached; a re-draw drops it. A trim drops an earlier batch-norm calibration (made for
 * the untrimmed chip). */
bc_status bc_cim_calibrate(bc_model *m, bc_cim_chip *chip, const bc_dataset *images, const bc_norm *norm,
                           int64_t batch, unsigned what);
/* True once the chip holds a calibration (statistics, trims or both). */
bool bc_cim_chip_calibrated(const bc_cim_chip *c);

/* Calibrations of many chips of one model, hardware and seed, saved to and loaded from a
 * safetensors file (per chip "chip.<index>", its statistics, and "trim.<index>", its trims;
 * written atomically). */
typedef struct bc_cim_calibration bc_cim_calibration;
/* An empty set for chips of model m on hw with variation seed `seed`. */
bc_status bc_cim_calibration_new(const bc_model *m, const bc_cim_hw *hw, uint64_t seed, bc_cim_calibration **out);
/* Copies a calibrated chip's calibration in (replacing an earlier one of the same index). */
bc_status bc_cim_calibration_add(bc_cim_calibration *c, const bc_cim_chip *chip);
/* Calibrates `chip` from the set: BC_ERR_PARAM when the set was made for another network,
 * other hardware settings or seed, or lacks the chip's index. */
bc_status bc_cim_calibration_apply(const bc_cim_calibration *c, bc_cim_chip *chip);
int32_t bc_cim_calibration_count(const bc_cim_calibration *c);
bc_status bc_cim_calibration_save(const bc_cim_calibration *c, const char *path);
/* BC_ERR_FORMAT "path: ..." for a file that is not a calibration set. */
bc_status bc_cim_calibration_load(const char *path, bc_cim_calibration **out);
void bc_cim_calibration_free(bc_cim_calibration *c);

/* ---- Monte-Carlo over chips */

/* Called after every chip: done of total chips, that chip's accuracy. */
typedef void (*bc_cim_progress_fn)(void *user, int32_t done, int32_t total, double accuracy);

/* How each chip of a Monte-Carlo run is calibrated before it is evaluated (all NULL: not). */
typedef struct {
    const bc_dataset *images;         /* calibrate on these (bc_cim_calibrate) ... */
    int64_t batch;
    const bc_cim_calibration *saved;  /* ... or apply these saved calibrations */
    unsigned what;                    /* BC_CIM_CALIB_* flags for images (0: BN only) */
    bc_cim_calibration *record;       /* not NULL: each freshly calibrated chip is added here */
} bc_cim_mc_calib;

/* Evaluates chips first_chip .. first_chip + n - 1 of `seed` on ds: acc[i] and loss[i] (loss
 * may be NULL), each calibrated first as `cal` says (NULL: none). With ds NULL only the
 * calibration runs (acc and loss unused). The model's chip setting is restored on return. */
bc_status bc_cim_monte_carlo(bc_model *m, const bc_cim_hw *hw, const bc_dataset *ds, const bc_norm *norm,
                             int64_t batch, uint64_t seed, uint32_t first_chip, int32_t n,
                             const bc_cim_mc_calib *cal, double *acc, double *loss,
                             bc_cim_progress_fn progress, void *user);

/* Order statistics of n values; quantiles interpolate linearly between order statistics
 * (numpy's default), std is the population standard deviation. */
typedef struct {
    double mean, std, min, p5, median, p95, max;
} bc_cim_summary;
bc_cim_summary bc_cim_summarize(const double *v, int32_t n);

#ifdef __cplusplus
}
#endif
#endif /* BITCELL_CIM_H */
