/* bitcell POPPINS — a bit-exact simulator of the population-based IQIF neuromorphic processor
 * (METHODS.md §5) and a closed-loop obstacle-avoidance agent.
 *
 * This header extends bitcell.h (it includes it): statuses, bc_last_error(), keyed RNG.
 *
 *     bc_poppins *p; bc_poppins_load("hw/poppins-avoid.ini", &p);
 *     bc_poppins_set_stimulus(p, 0, 0, 40);          // population 0, neuron 0: 40 per step
 *     bc_poppins_stats st = {0};
 *     for (int t = 0; t < 1000; t++) bc_poppins_step(p, &st);
 *     const uint8_t *spk = bc_poppins_spikes(p);      // who fired in the last step
 *     bc_poppins_free(p);
 *
 * Arithmetic (binding, METHODS.md §5.2/§5.3; bit-matched to the co-author's POPPINS-compatible
 * reference model, multiplier form, hard reset):
 *   neuron   f = x < f_min ? a (rest - x) : b (x - threshold),  f_min = (a rest + b thr) / (a + b)
 *            x += floor(f / 8) + I + stimulus + noise; x > 255: spike, x = reset; x < 0: x = 0
 *   synapse  one signed accumulator I per post-synaptic neuron; spikes of step t-1 add their
 *            weights at step t, then I decays by floor(I / 2^floor(log2 tau)) (or by 1 towards 0
 *            when that is 0), the neuron integrates, and tau = 0 (delta synapse) clears I.
 * Every shift of a negative value is a floor division written without `>>` on negative numbers.
 * Noise is a keyed draw (bc_rng_u32(key, step * n_neurons + neuron) % N - N/2), so runs are
 * reproducible from a seed and independent of thread count.
 */
#ifndef BITCELL_POPPINS_H
#define BITCELL_POPPINS_H

#include "bitcell.h"

#ifdef __cplusplus
extern "C" {
#endif

/* RNG purposes of this module (bc_rng_key.purpose), apart from bitcell.h's enum. */
#define BC_RNG_POPPINS_NOISE 0x504e0001u /* neuron noise: chip = stream, index = step*n + neuron */
#define BC_RNG_POPPINS_WORLD 0x504e0002u /* avoidance arenas and start poses: chip = episode */

/* ---------------------------------------------------------------- integer IQIF neuron */

#define BC_IQIF_VMAX 255 /* the 8-bit register; x > VMAX is the overflow bit: a spike */
#define BC_IQIF_VMIN 0

typedef struct {
    int32_t rest, threshold, reset; /* [0, 255] */
    int32_t a, b;                   /* slopes below / above f_min, [0, 255], a + b >= 1 */
    int32_t noise;                  /* strength N in [0, 255]: a draw in [-N/2, N-1-N/2]; 0 = off */
} bc_iqif_params;

/* floor(x / 2^k) for any x, 0 <= k <= 31, without shifting a negative number. */
int32_t bc_floor_shr(int32_t x, int32_t k);
/* f_min = (a*rest + b*threshold) / (a + b) with C's truncating division. a + b must be >= 1. */
int32_t bc_iqif_fmin(const bc_iqif_params *p);
/* BC_ERR_PARAM with the offending field when a parameter is out of range. */
bc_status bc_iqif_check(const bc_iqif_params *p);
/* One step: *x (the membrane, [0, 255]) integrates `input` (synaptic current + stimulus +
 * noise). Returns 1 and sets *x = reset on overflow (> 255), else 0 (clamping at 0). */
int bc_iqif_step(const bc_iqif_params *p, int32_t f_min, int32_t *x, int64_t input);
/* The noise draw of (key, index): u32 % N - N/2 (N = 0 is treated as 1, giving 0). */
int32_t bc_iqif_noise(bc_rng_key key, uint64_t index, int32_t strength);

/* ---------------------------------------------------------------- synapse */

/* Decay shift of time constant tau: floor(log2 tau) for tau >= 1, -1 for tau = 0 (delta). */
int32_t bc_syn_shift(int32_t tau);
/* One decay step of accumulator i with `shift` >= 0: i - floor(i / 2^shift), or one step
 * towards 0 when floor(i / 2^shift) is 0. */
int32_t bc_syn_decay(int32_t i, int32_t shift);

/* ---------------------------------------------------------------- processor */

#define BC_POPPINS_MAX_POPS 2 /* two hierarchy levels: population 0 feeds population 1 */

/* The chip's limits and cost constants, from a processor file's [chip] section. */
typedef struct {
    char name[BC_NAME_MAX];
    int32_t weight_bits;      /* signed weights in [-2^(b-1), 2^(b-1) - 1]; [2, 16], default 8 */
    int32_t max_neurons;      /* neurons per population; [1, 4096], default 256 */
    int32_t accumulator_bits; /* signed synaptic accumulator; [weight_bits, 32], default 32;
                               * sums beyond it saturate and are counted */
    double energy_pj_per_sop; /* default 13.2 (the paper's normalised figure) */
    double step_ms;           /* simulated time of one step, default 1 */
} bc_poppins_chip;

typedef struct bc_poppins bc_poppins;

/* Counters added up by bc_poppins_step (caller-owned; start from {0}). */
typedef struct {
    uint64_t steps;
    uint64_t spikes;          /* all neurons */
    uint64_t sops;            /* synaptic operations: one non-zero weight added to one
                               * accumulator because its pre-synaptic neuron spiked */
    uint64_t acc_saturations; /* accumulator sums clipped to accumulator_bits */
} bc_poppins_stats;

/* Parses a processor description (INI; docs/FORMATS.md "Processor files"). Weights are inline
 * or in a file named relative to the description. Errors read "FILE:LINE: message" and give
 * BC_ERR_FORMAT (syntax, unknown keys, a limit of the chip exceeded) or BC_ERR_IO. */
bc_status bc_poppins_load(const char *path, bc_poppins **out);
/* The same from text; `origin` names it in messages, `base_dir` resolves weights_file (NULL: "."). */
bc_status bc_poppins_parse_text(const char *text, const char *origin, const char *base_dir,
                                bc_poppins **out);
/* An independent copy with the same network and state (for one processor per thread). */
bc_status bc_poppins_clone(const bc_poppins *p, bc_poppins **out);
void bc_poppins_free(bc_poppins *p);

bc_poppins_chip bc_poppins_chip_info(const bc_poppins *p);
/* The description with weights files resolved inline (what a run directory records). */
const char *bc_poppins_text(const bc_poppins *p);
int32_t bc_poppins_pop_count(const bc_poppins *p);
const char *bc_poppins_pop_name(const bc_poppins *p, int32_t pop);
int32_t bc_poppins_pop_size(const bc_poppins *p, int32_t pop);
/* Index of the population's first neuron in the global numbering (population 0 first). */
int32_t bc_poppins_pop_offset(const bc_poppins *p, int32_t pop);
int32_t bc_poppins_neurons(const bc_poppins *p); /* all populations */
/* Population by name, or -1. */
int32_t bc_poppins_find_pop(const bc_poppins *p, const char *name);
/* Parameters and synaptic time constant of a global neuron. */
bc_iqif_params bc_poppins_neuron(const bc_poppins *p, int32_t neuron, int32_t *tau);
/* Synaptic weight from global neuron i to global neuron j (0 = no synapse). */
int32_t bc_poppins_weight(const bc_poppins *p, int32_t i, int32_t j);

/* Membranes back to rest, accumulators and last spikes to 0, stimulus back to the file's
 * bias values, step counter to 0. The noise key is kept. */
void bc_poppins_reset(bc_poppins *p);
/* Noise key: bc_rng_key {seed, BC_RNG_POPPINS_NOISE, stream, 0}. Default seed 0, stream 0. */
void bc_poppins_set_noise(bc_poppins *p, uint64_t seed, uint32_t stream);
/* External stimulus (a constant current added every step until changed) of neuron `neuron`
 * of population `pop`. BC_ERR_PARAM for an index out of range or a value that does not fit
 * the accumulator width. */
bc_status bc_poppins_set_stimulus(bc_poppins *p, int32_t pop, int32_t neuron, int32_t current);

/* One step of the whole processor (both populations); adds to *stats (may be NULL). */
void bc_poppins_step(bc_poppins *p, bc_poppins_stats *stats);
/* State after the last step, global numbering; valid until the next step. */
const uint8_t *bc_poppins_spikes(const bc_poppins *p);     /* 1 = fired in the last step */
const int32_t *bc_poppins_potentials(const bc_poppins *p); /* membranes, [0, 255] */
const int32_t *bc_poppins_currents(const bc_poppins *p);   /* synaptic accumulators */
int64_t bc_poppins_time(const bc_poppins *p);               /* steps since reset */

/* A stimulus schedule: from step `step` on, neuron `neuron` (global) gets `current`. */
typedef struct {
    int64_t step;
    int32_t neuron;
    int32_t current;
} bc_poppins_stim_event;
/* Reads a CSV schedule "step,population,neuron,current" (population by name or index; a
 * header line and '#' comments allowed; steps non-decreasing). *events is malloc'd.
 * Errors read "FILE:LINE: message" (BC_ERR_FORMAT) or name the file (BC_ERR_IO). */
bc_status bc_poppins_stimulus_load(const bc_poppins *p, const char *path,
                                   bc_poppins_stim_event **events, int64_t *n);

#ifdef __cplusplus
}
#endif
#endif /* BITCELL_POPPINS_H */
