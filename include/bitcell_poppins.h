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
/* The neurons (global numbers, ascending) that fired in the last step; *n of them. */
const int32_t *bc_poppins_fired(const bc_poppins *p, int32_t *n);

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

/* ---------------------------------------------------------------- avoidance world */

/* A square arena with walls and random circular obstacles; an agent with a left and a right
 * proximity sensor (each a fan of rays) in closed loop with the processor:
 *   every decision window: sensor readings -> stimulus of population 0 (first half: left
 *   sensor neurons, second half: right) -> population 1 (first half: turn-left group, second
 *   half: turn-right group); the first group whose spike count in the window reaches
 *   decision_spikes sets the action (turn left / turn right) from that step on; a window
 *   without a winner sets "go straight". The agent moves every step. */
typedef struct {
    double arena_m;             /* side of the square arena [10] */
    int32_t obstacles;          /* circular obstacles per arena [12] */
    double obstacle_r_min_m, obstacle_r_max_m; /* radius range [0.25, 0.6] */
    double agent_radius_m;      /* [0.15] */
    double speed_m_s;           /* forward speed [0.5] */
    double turn_deg_s;          /* turning rate while turning [120] */
    double sensor_range_m;      /* [1.5] */
    double sensor_fov_deg;      /* each sensor's fan: from straight ahead to this angle [60] */
    int32_t sensor_rays;        /* rays per sensor fan [5] */
    int32_t stim_max;           /* stimulus current at proximity 1 (contact) [60] */
    int32_t stim_min;           /* stimulus at the edge of the range (proximity -> 0+) [12] */
    int32_t window_steps;       /* decision window (steps of the processor) [20] */
    int32_t decision_spikes;    /* spikes of one group that make a decision [3] */
    double episode_s;           /* simulated length of one episode [30] */
    double start_clearance_m;   /* free space around the start pose [1.0] */
} bc_avoid_params;
bc_avoid_params bc_avoid_params_default(void);
bc_status bc_avoid_check(const bc_avoid_params *ap, const bc_poppins *p);

/* One episode's outcome. Latencies are in processor steps from the start of a window. */
typedef struct {
    bool collided;
    int64_t steps;            /* steps run (until collision or the end) */
    int64_t windows;          /* decision windows */
    int64_t decisions;        /* windows with a winner (a turn) */
    int64_t latency_sum;      /* sum of decision latencies (steps) */
    int32_t latency_max;
    int64_t latency_hist[33]; /* decisions per latency 1..32 (index = latency) */
    int64_t onset_windows;    /* windows where an obstacle came into sensor range */
    int64_t onset_decided;    /* ... and a winner came within that same window */
    bc_poppins_stats stats;   /* processor counters */
    double sim_seconds;       /* wall time inside bc_poppins_step */
} bc_avoid_episode;

/* Optional trajectory of an episode (x, y per step, every `stride`-th step), and the arena. */
typedef struct {
    int32_t stride;
    int64_t n, cap;   /* points stored / room in x, y */
    double *x, *y;    /* caller-allocated, cap entries each */
    int32_t n_obst;   /* obstacles written (up to 64) */
    double ox[64], oy[64], orad[64];
} bc_avoid_trace;

/* Runs episode `episode` of seed `seed` (arena and start pose from BC_RNG_POPPINS_WORLD,
 * neuron noise from stream `episode`). The processor is reset first; it must have two
 * populations of even size. trace may be NULL. */
bc_status bc_avoid_episode_run(bc_poppins *p, const bc_avoid_params *ap, uint64_t seed,
                               int64_t episode, bc_avoid_episode *res, bc_avoid_trace *trace);

/* Totals over episodes [first, first + n), OpenMP over episodes with one processor per thread;
 * per-episode results (may be NULL) in episode order, the same for any thread count. */
typedef struct {
    int64_t episodes, collision_free;
    int64_t decisions, windows, onset_windows, onset_decided;
    int64_t latency_sum;
    int32_t latency_max;
    int64_t latency_hist[33];
    bc_poppins_stats stats;
    double sim_seconds;  /* summed over threads: processor stepping time */
    double wall_seconds; /* whole run */
} bc_avoid_summary;
bc_status bc_avoid_run(bc_ctx *ctx, const bc_poppins *p, const bc_avoid_params *ap,
                       uint64_t seed, int64_t first, int64_t n, bc_avoid_episode *per_episode,
                       bc_avoid_summary *sum);

#ifdef __cplusplus
}
#endif
#endif /* BITCELL_POPPINS_H */
