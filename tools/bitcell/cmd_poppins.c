/* bitcell poppins: run a POPPINS processor description (spikes, traces, SOPs, energy, speed)
 * and the closed-loop obstacle-avoidance agent. */
#include "bitcell_poppins.h"
#include "cli.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#define DEFAULT_PRESET "hw/poppins-avoid.ini"
#ifndef BC_HW_DIR
#define BC_HW_DIR "hw"
#endif

/* The default preset: hw/ of the working directory, else the source tree's. */
static const char *default_preset(void) {
    if (access(DEFAULT_PRESET, R_OK) == 0) return DEFAULT_PRESET;
    return BC_HW_DIR "/poppins-avoid.ini";
}

static void help(FILE *f) {
    fprintf(f,
            "usage: bitcell poppins run CONFIG.ini --steps N [options]\n"
            "       bitcell poppins avoid [CONFIG.ini] --episodes N [--seed S] [options]\n\n"
            "A bit-exact simulator of POPPINS, the population-based digital SNN processor with\n"
            "integer quadratic integrate-and-fire (IQIF) neurons: 8-bit membranes that spike on\n"
            "overflow above 255, signed synaptic accumulators with shift decay, two hierarchy levels\n"
            "(population 1 feeds population 2). The processor file (INI) holds the chip's limits,\n"
            "the neuron parameters and the weights; see docs/FORMATS.md and %s.\n\n"
            "run: simulates N steps (1 step = step_ms of the file, 1 ms by default) and writes a run\n"
            "directory: spikes.csv (step,neuron,population,index), trace.csv (membrane of every\n"
            "neuron per step), raster.svg, trace.svg, metrics.json, processor.ini; prints one line of\n"
            "key=value results: spikes, SOPs (synaptic operations), energy = SOPs x pJ/SOP, and\n"
            "the real-time factor (simulated time / wall time of the simulation loop).\n"
            "  --steps N          steps to simulate (required)\n"
            "  --stimulus FILE    CSV schedule step,population,neuron,current: from that step on the\n"
            "                     neuron gets that constant current (population by name or index)\n"
            "  --seed S           seed of the neuron noise (neurons with noise > 1 only) [0]\n"
            "  --pj-per-sop X     energy per SOP [the file's energy_pj_per_sop, default 13.2]\n"
            "  --plot-steps N     steps drawn in the figures [min(steps, 500)]\n"
            "  --trace-neurons LIST  neurons (global numbers) drawn in trace.svg, e.g. 0,4,5 [first 8]\n"
            "  --no-trace         do not write trace.csv (long runs)\n"
            "  --out DIR          run directory [runs/poppins]\n\n"
            "avoid: an agent with a left and a right proximity sensor drives through an arena\n"
            "with random obstacles, in closed loop with the processor: readings -> stimulus of\n"
            "population 1 (left half: left sensor) -> population 2 (left half votes turn left,\n"
            "right half turn right); the first group to reach --decision-spikes spikes within a\n"
            "window of --window steps decides; no winner: go straight. Reports the collision-free\n"
            "rate, decision latency (steps), SOPs and energy per decision and the real-time factor;\n"
            "writes episodes.csv, metrics.json and trajectory_<k>.svg to the run directory.\n"
            "  CONFIG.ini         processor [%s, from the working directory or the source tree]\n"
            "  --episodes N       episodes (each its own random arena) [100]\n"
            "  --first K          number of the first episode [0]\n"
            "  --seed S           seed of the arenas, start poses and neuron noise [1]\n"
            "  --episode-s X      simulated seconds per episode [30]\n"
            "  --obstacles N      obstacles per arena [12]\n"
            "  --arena-m X        side of the square arena in metres [10]\n"
            "  --window N         decision window in steps [20]\n"
            "  --decision-spikes N  spikes of one group that make a decision [3]\n"
            "  --pj-per-sop X     energy per SOP [the file's, default 13.2]\n"
            "  --plot N           draw the first N episodes' trajectories [4]\n"
            "  --threads N        threads over episodes (results do not depend on it) [BC_THREADS or all cores]\n"
            "  --out DIR          run directory [runs/poppins-avoid]\n"
            "  --quiet            no progress line\n\n"
            "examples:\n"
            "  bitcell poppins run hw/poppins-avoid.ini --steps 1000 --stimulus stim.csv --out runs/p\n"
            "  bitcell poppins avoid --episodes 1000 --seed 1 --threads 2\n",
            DEFAULT_PRESET, DEFAULT_PRESET);
}

#if defined(__GNUC__)
#define POPPINS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define POPPINS_PRINTF(a, b)
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the calling thread: what it ran, not the time other processes took the core */
static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The spikes of a run as one uint32 stream: for each step with spikes, the step number with the
 * top bit set (steps <= 1e9 < 2^31), then the neurons that fired in it (bc_poppins_fired's
 * list), so that recording a step is one copy. Grows by doubling. */
typedef struct {
    uint32_t *v;
    int64_t n, cap;
} spike_rec;

#define SPIKE_REC_STEP 0x80000000u

static bool spike_rec_add(spike_rec *r, int64_t t, const int32_t *fired, int32_t nf) {
    if (r->n + nf + 1 > r->cap) {
        int64_t cap = r->cap ? 2 * r->cap : 65536;
        while (cap < r->n + nf + 1) cap *= 2;
        uint32_t *v = realloc(r->v, (size_t)cap * sizeof *v);
        if (!v) return false;
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n] = (uint32_t)t | SPIKE_REC_STEP;
    memcpy(r->v + r->n + 1, fired, (size_t)nf * sizeof *fired); /* neurons >= 0: same bits as uint32 */
    r->n += nf + 1;
    return true;
}

/* dir + "/" + name */
static const char *out_path(char *buf, size_t n, const char *dir, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

/* A growing text buffer for CSV files written at the end (atomically). */
typedef struct {
    char *s;
    size_t n, cap;
    bool oom;
} text_buf;

static void tb_printf(text_buf *t, const char *fmt, ...) POPPINS_PRINTF(2, 3);
static void tb_printf(text_buf *t, const char *fmt, ...) {
    if (t->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) { t->oom = true; return; }
        if (t->s && t->n + (size_t)k < t->cap) { t->n += (size_t)k; return; }
        size_t cap = (t->cap + (size_t)k + 1) * 2;
        char *s = realloc(t->s, cap);
        if (!s) { t->oom = true; return; }
        t->s = s;
        t->cap = cap;
    }
}

static bc_status tb_write(text_buf *t, const char *path) {
    if (t->oom) return BC_ERR_NOMEM;
    return bc_write_file_atomic(path, t->s ? t->s : "", t->n);
}

static bc_status write_json(cJSON *j, const char *path) {
    char *text = cJSON_Print(j);
    if (!text) return BC_ERR_NOMEM;
    bc_status st = bc_write_file_atomic(path, text, strlen(text));
    free(text);
    return st;
}

/* ---------------------------------------------------------------- run */

/* Spike raster: one series per population, a point per spike (single points between gaps). */
static bc_status plot_raster(const char *path, const bc_poppins *p, const int64_t *spk_t, const int32_t *spk_n,
                             int64_t n_spk, int64_t plot_steps) {
    bc_series s[BC_POPPINS_MAX_POPS];
    double *buf[2 * BC_POPPINS_MAX_POPS] = {NULL};
    int32_t np = bc_poppins_pop_count(p), ns = 0;
    int64_t count[BC_POPPINS_MAX_POPS] = {0};
    for (int64_t i = 0; i < n_spk && spk_t[i] < plot_steps; i++)
        count[bc_poppins_pop_offset(p, 1) <= spk_n[i] && np > 1 ? 1 : 0]++;
    bc_status st = BC_OK;
    char labels[BC_POPPINS_MAX_POPS][64];
    for (int32_t k = 0; k < np; k++) {
        int64_t m = count[k] ? 2 * count[k] : 1;
        if (m > INT32_MAX) m = INT32_MAX;
        buf[2 * k] = malloc((size_t)m * sizeof(double));
        buf[2 * k + 1] = malloc((size_t)m * sizeof(double));
        if (!buf[2 * k] || !buf[2 * k + 1]) { st = BC_ERR_NOMEM; goto out; }
        int64_t q = 0;
        for (int64_t i = 0; i < n_spk && spk_t[i] < plot_steps && q + 1 < m; i++) {
            int32_t pop = np > 1 && spk_n[i] >= bc_poppins_pop_offset(p, 1) ? 1 : 0;
            if (pop != k) continue;
            buf[2 * k][q] = (double)spk_t[i];
            buf[2 * k + 1][q] = spk_n[i];
            q++;
            buf[2 * k][q] = NAN;
            buf[2 * k + 1][q] = NAN;
            q++;
        }
        if (q == 0) { /* an empty population still gets a legend entry, drawn off the data */
            buf[2 * k][0] = 0;
            buf[2 * k + 1][0] = NAN;
            q = 1;
        }
        snprintf(labels[k], sizeof labels[k], "%s (%d neurons)", bc_poppins_pop_name(p, k), (int)bc_poppins_pop_size(p, k));
        s[ns++] = (bc_series){.label = labels[k], .x = buf[2 * k], .y = buf[2 * k + 1], .n = (int32_t)q};
    }
    if (n_spk == 0 || spk_t[0] >= plot_steps) {
        /* nothing to draw: an axis with the neurons' range so the figure still exists */
        static double ex[2], ey[2];
        ex[0] = 0;
        ex[1] = (double)plot_steps;
        ey[0] = 0;
        ey[1] = bc_poppins_neurons(p) - 1;
        s[0] = (bc_series){.label = "no spikes", .x = ex, .y = ey, .n = 2};
        ns = 1;
    }
    st = bc_plot_lines(path, "POPPINS spike raster", "step", "neuron (global number)", s, ns);
out:
    for (int i = 0; i < 2 * BC_POPPINS_MAX_POPS; i++) free(buf[i]);
    return st;
}

static int poppins_run(int argc, char **argv) {
    static const struct option opts[] = {
        {"steps", required_argument, 0, 's'}, {"stimulus", required_argument, 0, 'S'},
        {"seed", required_argument, 0, 'r'}, {"pj-per-sop", required_argument, 0, 'e'},
        {"plot-steps", required_argument, 0, 'p'}, {"trace-neurons", required_argument, 0, 'n'},
        {"no-trace", no_argument, 0, 'T'}, {"out", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    long steps = -1, plot_steps = -1;
    uint64_t seed = 0;
    double pj = -1;
    const char *stim_path = NULL, *out = "runs/poppins", *trace_list = NULL;
    bool no_trace = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': if (!cli_int("--steps", optarg, 1, 1000000000L, &steps)) return BC_EXIT_USAGE; break;
        case 'S': stim_path = optarg; break;
        case 'r': if (!cli_u64("--seed", optarg, &seed)) return BC_EXIT_USAGE; break;
        case 'e': if (!cli_float("--pj-per-sop", optarg, 0, 1e9, &pj)) return BC_EXIT_USAGE; break;
        case 'p': if (!cli_int("--plot-steps", optarg, 1, 100000, &plot_steps)) return BC_EXIT_USAGE; break;
        case 'n': trace_list = optarg; break;
        case 'T': no_trace = true; break;
        case 'o': out = optarg; break;
        case 'h': help(stdout); return BC_EXIT_OK;
        default: return cli_usage("poppins run", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage("poppins run", "expected one processor file, got %d arguments", argc - optind);
    if (steps < 0) return cli_usage("poppins run", "--steps N is required");
    const char *cfg = argv[optind];
    bc_poppins *p = NULL;
    bc_poppins_stim_event *ev = NULL;
    int64_t n_ev = 0;
    uint8_t *trace = NULL;
    int64_t *spk_t = NULL;
    int32_t *spk_n = NULL;
    int64_t n_spk = 0;
    spike_rec rec = {0};
    text_buf tb = {0};
    cJSON *j = NULL;
    double *tx = NULL, *ty = NULL;
    int rc = BC_EXIT_OK;
    bc_status st = bc_poppins_load(cfg, &p);
    if (st) return cli_fail(st, NULL);
    int32_t n = bc_poppins_neurons(p);
    bc_poppins_chip chip = bc_poppins_chip_info(p);
    if (pj < 0) pj = chip.energy_pj_per_sop;
    if (plot_steps < 0) plot_steps = steps < 500 ? steps : 500;
    if (plot_steps > steps) plot_steps = steps;
    int32_t tn[8], n_tn = 0;
    if (trace_list) {
        const char *q = trace_list;
        while (*q) {
            char *end;
            long v = strtol(q, &end, 10);
            if (end == q || v < 0 || v >= n || n_tn == 8 || (*end && *end != ',')) {
                rc = cli_usage("poppins run", "--trace-neurons '%s': expected up to 8 comma-separated neuron numbers in [0, %d]", trace_list, (int)n - 1);
                goto out;
            }
            tn[n_tn++] = (int32_t)v;
            q = *end ? end + 1 : end;
        }
    } else {
        for (int32_t i = 0; i < n && i < 8; i++) tn[n_tn++] = i;
    }
    if (stim_path && (st = bc_poppins_stimulus_load(p, stim_path, &ev, &n_ev))) { rc = cli_fail(st, NULL); goto out; }
    if ((st = bc_mkdirs(out))) { rc = cli_fail(st, NULL); goto out; }
    /* trace: (steps, n) membranes as bytes (they are 8-bit registers) */
    size_t tbytes = 0;
    if (!no_trace) tbytes = (size_t)steps * (size_t)n; /* steps <= 1e9, n <= 8192: no overflow */
    if (!no_trace && (tbytes > ((size_t)1 << 32) || !(trace = malloc(tbytes)))) {
        fprintf(stderr, "bitcell: poppins run: a trace of %ld steps x %d neurons does not fit in memory; use --no-trace or fewer --steps\n", steps, (int)n);
        rc = BC_EXIT_FAIL;
        goto out;
    }
    bc_poppins_set_noise(p, seed, 0);
    bc_poppins_stats stats = {0};
    int64_t e = 0;
    double t0 = now_s(), c0 = thread_cpu_s();
    for (int64_t t = 0; t < steps; t++) {
        for (; e < n_ev && ev[e].step == t; e++) {
            int32_t pop = bc_poppins_pop_count(p) > 1 && ev[e].neuron >= bc_poppins_pop_offset(p, 1) ? 1 : 0;
            bc_poppins_set_stimulus(p, pop, ev[e].neuron - bc_poppins_pop_offset(p, pop), ev[e].current);
        }
        bc_poppins_step(p, &stats);
        if (trace) {
            const int32_t *x = bc_poppins_potentials(p);
            uint8_t *row = trace + (size_t)t * (size_t)n;
            for (int32_t i = 0; i < n; i++) row[i] = (uint8_t)x[i];
        }
        int32_t nf;
        const int32_t *fired = bc_poppins_fired(p, &nf);
        if (nf && !spike_rec_add(&rec, t, fired, nf)) { rc = cli_fail(BC_ERR_NOMEM, "spike list"); goto out; }
    }
    double wall = now_s() - t0, cpu = thread_cpu_s() - c0;
    /* the record as (step, neuron) pairs for the CSV file and the raster */
    n_spk = (int64_t)stats.spikes;
    spk_t = malloc((size_t)(n_spk ? n_spk : 1) * sizeof *spk_t);
    spk_n = malloc((size_t)(n_spk ? n_spk : 1) * sizeof *spk_n);
    if (!spk_t || !spk_n) { rc = cli_fail(BC_ERR_NOMEM, "spike list"); goto out; }
    for (int64_t k = 0, i = 0, t = 0; k < rec.n; k++) {
        if (rec.v[k] & SPIKE_REC_STEP) { t = rec.v[k] & ~SPIKE_REC_STEP; continue; }
        spk_t[i] = t;
        spk_n[i++] = (int32_t)rec.v[k];
    }
    free(rec.v);
    rec.v = NULL;
    double sim_s = (double)steps * chip.step_ms * 1e-3;
    double rtf = wall > 0 ? sim_s / wall : INFINITY;
    char path[4200];

    /* spikes.csv */
    tb_printf(&tb, "step,neuron,population,index\n");
    for (int64_t i = 0; i < n_spk; i++) {
        int32_t pop = bc_poppins_pop_count(p) > 1 && spk_n[i] >= bc_poppins_pop_offset(p, 1) ? 1 : 0;
        tb_printf(&tb, "%" PRId64 ",%d,%s,%d\n", spk_t[i], (int)spk_n[i], bc_poppins_pop_name(p, pop),
                  (int)(spk_n[i] - bc_poppins_pop_offset(p, pop)));
    }
    if ((st = tb_write(&tb, out_path(path, sizeof path, out, "spikes.csv")))) { rc = cli_fail(st, path); goto out; }
    /* trace.csv */
    if (trace) {
        tb.n = 0;
        tb_printf(&tb, "step");
        for (int32_t k = 0; k < bc_poppins_pop_count(p); k++)
            for (int32_t i = 0; i < bc_poppins_pop_size(p, k); i++) tb_printf(&tb, ",%s_%d", bc_poppins_pop_name(p, k), (int)i);
        tb_printf(&tb, "\n");
        for (int64_t t = 0; t < steps && !tb.oom; t++) {
            tb_printf(&tb, "%" PRId64, t);
            const uint8_t *row = trace + (size_t)t * (size_t)n;
            for (int32_t i = 0; i < n; i++) tb_printf(&tb, ",%d", row[i]);
            tb_printf(&tb, "\n");
        }
        if ((st = tb_write(&tb, out_path(path, sizeof path, out, "trace.csv")))) { rc = cli_fail(st, path); goto out; }
    }
    /* processor.ini: the description as run */
    const char *text = bc_poppins_text(p);
    if ((st = bc_write_file_atomic(out_path(path, sizeof path, out, "processor.ini"), text, strlen(text)))) { rc = cli_fail(st, NULL); goto out; }
    /* figures */
    if ((st = plot_raster(out_path(path, sizeof path, out, "raster.svg"), p, spk_t, spk_n, n_spk, plot_steps))) { rc = cli_fail(st, NULL); goto out; }
    if (trace) {
        bc_series s[8];
        char labels[8][48];
        tx = malloc((size_t)plot_steps * sizeof *tx);
        ty = malloc((size_t)plot_steps * 8 * sizeof *ty);
        if (!tx || !ty) { rc = cli_fail(BC_ERR_NOMEM, "trace figure"); goto out; }
        for (int64_t t = 0; t < plot_steps; t++) tx[t] = (double)t;
        for (int32_t k = 0; k < n_tn; k++) {
            int32_t i = tn[k], pop = bc_poppins_pop_count(p) > 1 && i >= bc_poppins_pop_offset(p, 1) ? 1 : 0;
            for (int64_t t = 0; t < plot_steps; t++) ty[k * plot_steps + t] = trace[(size_t)t * (size_t)n + (size_t)i];
            snprintf(labels[k], sizeof labels[k], "%s %d", bc_poppins_pop_name(p, pop), (int)(i - bc_poppins_pop_offset(p, pop)));
            s[k] = (bc_series){.label = labels[k], .x = tx, .y = ty + k * plot_steps, .n = (int32_t)plot_steps};
        }
        if ((st = bc_plot_lines(out_path(path, sizeof path, out, "trace.svg"), "IQIF membrane potentials (8-bit)", "step",
                                "membrane potential", s, n_tn))) { rc = cli_fail(st, NULL); goto out; }
    }
    /* metrics.json */
    j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "bitcell_version", BC_VERSION);
    cJSON_AddStringToObject(j, "processor", cfg);
    cJSON_AddStringToObject(j, "chip", chip.name);
    cJSON_AddNumberToObject(j, "neurons", n);
    cJSON_AddNumberToObject(j, "steps", (double)steps);
    cJSON_AddNumberToObject(j, "step_ms", chip.step_ms);
    cJSON_AddNumberToObject(j, "spikes", (double)stats.spikes);
    cJSON_AddNumberToObject(j, "sops", (double)stats.sops);
    cJSON_AddNumberToObject(j, "accumulator_saturations", (double)stats.acc_saturations);
    cJSON_AddNumberToObject(j, "pj_per_sop", pj);
    cJSON_AddNumberToObject(j, "energy_pJ", (double)stats.sops * pj);
    cJSON_AddNumberToObject(j, "sim_seconds", sim_s);
    cJSON_AddNumberToObject(j, "wall_seconds", wall);
    cJSON_AddNumberToObject(j, "cpu_seconds", cpu);
    cJSON_AddNumberToObject(j, "realtime_factor", rtf);
    cJSON_AddNumberToObject(j, "seed", (double)seed);
    cJSON_AddStringToObject(j, "stimulus", stim_path ? stim_path : "");
    if ((st = write_json(j, out_path(path, sizeof path, out, "metrics.json")))) { rc = cli_fail(st, path); goto out; }
    printf("processor=%s neurons=%d steps=%ld spikes=%" PRIu64 " sops=%" PRIu64 " energy_pJ=%.1f pj_per_sop=%g "
           "acc_saturations=%" PRIu64 " wall_s=%.4f cpu_s=%.4f realtime_factor=%.0f seed=%" PRIu64 " out=%s\n",
           cfg, (int)n, steps, stats.spikes, stats.sops, (double)stats.sops * pj, pj, stats.acc_saturations, wall, cpu,
           rtf, seed, out);
out:
    cJSON_Delete(j);
    free(tx);
    free(ty);
    free(tb.s);
    free(trace);
    free(spk_t);
    free(spk_n);
    free(rec.v);
    free(ev);
    bc_poppins_free(p);
    return rc;
}

/* ---------------------------------------------------------------- avoid */

/* The arena, its obstacles and one trajectory as line series. */
static bc_status plot_trajectory(const char *path, const bc_avoid_trace *tr, double side, bool collided, int64_t episode) {
    enum { SEG = 48 };
    bc_status st = BC_OK;
    int32_t no = tr->n_obst;
    double *ox = malloc((size_t)(no * (SEG + 2) + 1) * sizeof *ox), *oy = malloc((size_t)(no * (SEG + 2) + 1) * sizeof *oy);
    if (!ox || !oy) { st = BC_ERR_NOMEM; goto out; }
    int32_t k = 0;
    for (int32_t i = 0; i < no; i++) {
        for (int32_t s = 0; s <= SEG; s++) {
            double a = 2 * 3.14159265358979323846 * s / SEG;
            ox[k] = tr->ox[i] + tr->orad[i] * cos(a);
            oy[k++] = tr->oy[i] + tr->orad[i] * sin(a);
        }
        ox[k] = NAN;
        oy[k++] = NAN;
    }
    double wx[5] = {0, side, side, 0, 0}, wy[5] = {0, 0, side, side, 0};
    double sx[1] = {tr->x[0]}, sy[1] = {tr->y[0]}, ex[1] = {tr->x[tr->n - 1]}, ey[1] = {tr->y[tr->n - 1]};
    bc_series s[5] = {
        {.label = "walls", .x = wx, .y = wy, .n = 5},
        {.label = "obstacles", .x = ox, .y = oy, .n = k > 0 ? k : 1},
        {.label = "trajectory", .x = tr->x, .y = tr->y, .n = (int32_t)tr->n},
        {.label = "start", .x = sx, .y = sy, .n = 1},
        {.label = collided ? "collision" : "end", .x = ex, .y = ey, .n = 1},
    };
    if (k == 0) { ox[0] = NAN; oy[0] = NAN; }
    char title[96];
    snprintf(title, sizeof title, "episode %lld: %s", (long long)episode, collided ? "collision" : "collision-free");
    st = bc_plot_lines(path, title, "x (m)", "y (m)", s, 5);
out:
    free(ox);
    free(oy);
    return st;
}

static int poppins_avoid(int argc, char **argv) {
    static const struct option opts[] = {
        {"episodes", required_argument, 0, 'n'}, {"first", required_argument, 0, 'f'},
        {"seed", required_argument, 0, 'r'}, {"episode-s", required_argument, 0, 'E'},
        {"obstacles", required_argument, 0, 'O'}, {"arena-m", required_argument, 0, 'A'},
        {"window", required_argument, 0, 'w'}, {"decision-spikes", required_argument, 0, 'k'},
        {"pj-per-sop", required_argument, 0, 'e'}, {"plot", required_argument, 0, 'p'},
        {"threads", required_argument, 0, 't'}, {"out", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    long episodes = 100, first = 0, threads = 0, plot = 4, v;
    uint64_t seed = 1;
    double pj = -1, x;
    const char *out = "runs/poppins-avoid";
    bool quiet = false;
    bc_avoid_params ap = bc_avoid_params_default();
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': if (!cli_int("--episodes", optarg, 1, 100000000L, &episodes)) return BC_EXIT_USAGE; break;
        case 'f': if (!cli_int("--first", optarg, 0, 1000000000L, &first)) return BC_EXIT_USAGE; break;
        case 'r': if (!cli_u64("--seed", optarg, &seed)) return BC_EXIT_USAGE; break;
        case 'E': if (!cli_float("--episode-s", optarg, 0.001, 1e5, &ap.episode_s)) return BC_EXIT_USAGE; break;
        case 'O': if (!cli_int("--obstacles", optarg, 0, 64, &v)) return BC_EXIT_USAGE; ap.obstacles = (int32_t)v; break;
        case 'A': if (!cli_float("--arena-m", optarg, 1, 1000, &ap.arena_m)) return BC_EXIT_USAGE; break;
        case 'w': if (!cli_int("--window", optarg, 1, 32, &v)) return BC_EXIT_USAGE; ap.window_steps = (int32_t)v; break;
        case 'k': if (!cli_int("--decision-spikes", optarg, 1, 1000, &v)) return BC_EXIT_USAGE; ap.decision_spikes = (int32_t)v; break;
        case 'e': if (!cli_float("--pj-per-sop", optarg, 0, 1e9, &x)) return BC_EXIT_USAGE; pj = x; break;
        case 'p': if (!cli_int("--plot", optarg, 0, 64, &plot)) return BC_EXIT_USAGE; break;
        case 't': if (!cli_int("--threads", optarg, 1, 1024, &threads)) return BC_EXIT_USAGE; break;
        case 'o': out = optarg; break;
        case 'q': quiet = true; break;
        case 'h': help(stdout); return BC_EXIT_OK;
        default: return cli_usage("poppins avoid", "unknown option");
        }
    }
    if (optind < argc - 1) return cli_usage("poppins avoid", "expected at most one processor file, got %d arguments", argc - optind);
    const char *cfg = optind == argc - 1 ? argv[optind] : default_preset();
    bc_ctx *ctx = NULL;
    bc_poppins *p = NULL;
    bc_avoid_episode *ep = NULL;
    text_buf tb = {0};
    cJSON *j = NULL;
    bc_avoid_trace tr = {0};
    int rc = cli_ctx(threads, &ctx);
    if (rc) return rc;
    bc_status st = bc_poppins_load(cfg, &p);
    if (st) { rc = cli_fail(st, NULL); goto out; }
    if ((st = bc_avoid_check(&ap, p))) { /* the options are range-checked: the processor does not fit */
        fprintf(stderr, "bitcell: %s: %s\n", cfg, bc_last_error());
        rc = BC_EXIT_FAIL;
        goto out;
    }
    bc_poppins_chip chip = bc_poppins_chip_info(p);
    if (pj < 0) pj = chip.energy_pj_per_sop;
    if ((st = bc_mkdirs(out))) { rc = cli_fail(st, NULL); goto out; }
    if (!(ep = calloc((size_t)episodes, sizeof *ep))) { rc = cli_fail(BC_ERR_NOMEM, "episodes"); goto out; }
    /* chunks of episodes, so that a progress line can be shown between them */
    bc_avoid_summary sum = {0};
    cli_progress prog;
    cli_progress_init(&prog, "avoid", quiet);
    int64_t chunk = 50 * (int64_t)bc_ctx_threads(ctx);
    for (int64_t e0 = 0; e0 < episodes; e0 += chunk) {
        int64_t m = episodes - e0 < chunk ? episodes - e0 : chunk;
        bc_avoid_summary part;
        if ((st = bc_avoid_run(ctx, p, &ap, seed, first + e0, m, ep + e0, &part))) { rc = cli_fail(st, cfg); goto out; }
        sum.episodes += part.episodes;
        sum.collision_free += part.collision_free;
        sum.decisions += part.decisions;
        sum.windows += part.windows;
        sum.onset_windows += part.onset_windows;
        sum.onset_decided += part.onset_decided;
        sum.latency_sum += part.latency_sum;
        if (part.latency_max > sum.latency_max) sum.latency_max = part.latency_max;
        for (int i = 0; i < 33; i++) sum.latency_hist[i] += part.latency_hist[i];
        sum.stats.steps += part.stats.steps;
        sum.stats.spikes += part.stats.spikes;
        sum.stats.sops += part.stats.sops;
        sum.stats.acc_saturations += part.stats.acc_saturations;
        sum.sim_seconds += part.sim_seconds;
        sum.wall_seconds += part.wall_seconds;
        char extra[64];
        snprintf(extra, sizeof extra, "collision-free %.1f%%", 100.0 * (double)sum.collision_free / (double)sum.episodes);
        double el = cli_progress_elapsed(&prog);
        cli_progress_update(&prog, (double)(e0 + m), (double)episodes, "episodes", el > 0 ? (double)(e0 + m) / el : 0, extra);
    }
    cli_progress_end(&prog);
    /* latency percentiles from the histogram */
    int32_t p50 = 0, p95 = 0;
    int64_t acc = 0;
    for (int i = 0; i < 33; i++) {
        acc += sum.latency_hist[i];
        if (!p50 && acc * 2 >= sum.decisions && sum.decisions) p50 = i;
        if (!p95 && acc * 100 >= sum.decisions * 95 && sum.decisions) p95 = i;
    }
    double rate = (double)sum.collision_free / (double)sum.episodes;
    double lat_mean = sum.decisions ? (double)sum.latency_sum / (double)sum.decisions : 0;
    double sops_per_dec = sum.decisions ? (double)sum.stats.sops / (double)sum.decisions : 0;
    double sops_per_win = sum.windows ? (double)sum.stats.sops / (double)sum.windows : 0;
    double sim_s = (double)sum.stats.steps * chip.step_ms * 1e-3;
    double rtf_net = sum.sim_seconds > 0 ? sim_s / sum.sim_seconds : INFINITY;
    double rtf_loop = sum.wall_seconds > 0 ? sim_s / (sum.wall_seconds * bc_ctx_threads(ctx)) : INFINITY;
    char path[4200];
    tb_printf(&tb, "episode,collided,steps,windows,decisions,latency_mean,latency_max,onset_windows,onset_decided,sops,spikes\n");
    for (int64_t e = 0; e < episodes; e++) {
        const bc_avoid_episode *r = &ep[e];
        tb_printf(&tb, "%" PRId64 ",%d,%" PRId64 ",%" PRId64 ",%" PRId64 ",%.3f,%d,%" PRId64 ",%" PRId64 ",%" PRIu64 ",%" PRIu64 "\n",
                  first + e, (int)r->collided, r->steps, r->windows, r->decisions,
                  r->decisions ? (double)r->latency_sum / (double)r->decisions : 0.0, (int)r->latency_max, r->onset_windows,
                  r->onset_decided, r->stats.sops, r->stats.spikes);
    }
    if ((st = tb_write(&tb, out_path(path, sizeof path, out, "episodes.csv")))) { rc = cli_fail(st, path); goto out; }
    /* trajectories of the first episodes, re-run alone with a trace (same results: keyed) */
    if (plot > episodes) plot = episodes;
    tr.stride = 20;
    tr.cap = (int64_t)(ap.episode_s / (chip.step_ms * 1e-3)) / tr.stride + 2;
    tr.x = malloc((size_t)tr.cap * sizeof(double));
    tr.y = malloc((size_t)tr.cap * sizeof(double));
    if (!tr.x || !tr.y) { rc = cli_fail(BC_ERR_NOMEM, "trajectory"); goto out; }
    for (long k = 0; k < plot; k++) {
        bc_avoid_episode one;
        if ((st = bc_avoid_episode_run(p, &ap, seed, first + k, &one, &tr))) { rc = cli_fail(st, cfg); goto out; }
        if (one.collided != ep[k].collided || one.steps != ep[k].steps || one.stats.sops != ep[k].stats.sops) {
            fprintf(stderr, "bitcell: internal error: episode %lld differs when re-run\n", (long long)(first + k));
            rc = BC_EXIT_FAIL;
            goto out;
        }
        char name[64];
        snprintf(name, sizeof name, "trajectory_%lld.svg", (long long)(first + k));
        if ((st = plot_trajectory(out_path(path, sizeof path, out, name), &tr, ap.arena_m, one.collided, first + k))) { rc = cli_fail(st, NULL); goto out; }
    }
    j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "bitcell_version", BC_VERSION);
    cJSON_AddStringToObject(j, "processor", cfg);
    cJSON_AddNumberToObject(j, "seed", (double)seed);
    cJSON_AddNumberToObject(j, "first_episode", (double)first);
    cJSON_AddNumberToObject(j, "episodes", (double)sum.episodes);
    cJSON_AddNumberToObject(j, "collision_free", (double)sum.collision_free);
    cJSON_AddNumberToObject(j, "collision_free_rate", rate);
    cJSON_AddNumberToObject(j, "windows", (double)sum.windows);
    cJSON_AddNumberToObject(j, "decisions", (double)sum.decisions);
    cJSON_AddNumberToObject(j, "latency_mean_steps", lat_mean);
    cJSON_AddNumberToObject(j, "latency_p50_steps", p50);
    cJSON_AddNumberToObject(j, "latency_p95_steps", p95);
    cJSON_AddNumberToObject(j, "latency_max_steps", sum.latency_max);
    cJSON_AddNumberToObject(j, "onset_windows", (double)sum.onset_windows);
    cJSON_AddNumberToObject(j, "onset_decided_in_window", (double)sum.onset_decided);
    cJSON_AddNumberToObject(j, "steps", (double)sum.stats.steps);
    cJSON_AddNumberToObject(j, "spikes", (double)sum.stats.spikes);
    cJSON_AddNumberToObject(j, "sops", (double)sum.stats.sops);
    cJSON_AddNumberToObject(j, "sops_per_decision", sops_per_dec);
    cJSON_AddNumberToObject(j, "sops_per_window", sops_per_win);
    cJSON_AddNumberToObject(j, "pj_per_sop", pj);
    cJSON_AddNumberToObject(j, "energy_pJ_per_decision", sops_per_dec * pj);
    cJSON_AddNumberToObject(j, "accumulator_saturations", (double)sum.stats.acc_saturations);
    cJSON_AddNumberToObject(j, "sim_seconds", sim_s);
    cJSON_AddNumberToObject(j, "network_seconds", sum.sim_seconds);
    cJSON_AddNumberToObject(j, "wall_seconds", sum.wall_seconds);
    cJSON_AddNumberToObject(j, "realtime_factor_network", rtf_net);
    cJSON_AddNumberToObject(j, "realtime_factor_closed_loop_per_thread", rtf_loop);
    cJSON_AddNumberToObject(j, "threads", bc_ctx_threads(ctx));
    cJSON *pa = cJSON_AddObjectToObject(j, "arena");
    cJSON_AddNumberToObject(pa, "arena_m", ap.arena_m);
    cJSON_AddNumberToObject(pa, "obstacles", ap.obstacles);
    cJSON_AddNumberToObject(pa, "obstacle_r_min_m", ap.obstacle_r_min_m);
    cJSON_AddNumberToObject(pa, "obstacle_r_max_m", ap.obstacle_r_max_m);
    cJSON_AddNumberToObject(pa, "speed_m_s", ap.speed_m_s);
    cJSON_AddNumberToObject(pa, "turn_deg_s", ap.turn_deg_s);
    cJSON_AddNumberToObject(pa, "sensor_range_m", ap.sensor_range_m);
    cJSON_AddNumberToObject(pa, "episode_s", ap.episode_s);
    cJSON_AddNumberToObject(pa, "window_steps", ap.window_steps);
    cJSON_AddNumberToObject(pa, "decision_spikes", ap.decision_spikes);
    if ((st = write_json(j, out_path(path, sizeof path, out, "metrics.json")))) { rc = cli_fail(st, path); goto out; }
    printf("processor=%s episodes=%" PRId64 " seed=%" PRIu64 " collision_free=%" PRId64 " collision_free_rate=%.4f "
           "decisions=%" PRId64 " latency_mean_steps=%.2f latency_p95_steps=%d latency_max_steps=%d "
           "onset_decided=%" PRId64 "/%" PRId64 " sops_per_decision=%.1f energy_pJ_per_decision=%.1f "
           "realtime_factor_network=%.0f realtime_factor_closed_loop=%.0f threads=%d wall_s=%.2f out=%s\n",
           cfg, sum.episodes, seed, sum.collision_free, rate, sum.decisions, lat_mean, (int)p95, (int)sum.latency_max,
           sum.onset_decided, sum.onset_windows, sops_per_dec, sops_per_dec * pj, rtf_net, rtf_loop,
           (int)bc_ctx_threads(ctx), sum.wall_seconds, out);
out:
    cJSON_Delete(j);
    free(tr.x);
    free(tr.y);
    free(tb.s);
    free(ep);
    bc_poppins_free(p);
    bc_ctx_free(ctx);
    return rc;
}

int cmd_poppins(int argc, char **argv) {
    if (argc < 2) return cli_usage("poppins", "expected run or avoid");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) { help(stdout); return BC_EXIT_OK; }
    if (!strcmp(argv[1], "run")) return poppins_run(argc - 1, argv + 1);
    if (!strcmp(argv[1], "avoid")) return poppins_avoid(argc - 1, argv + 1);
    return cli_usage("poppins", "unknown subcommand '%s' (expected run or avoid)", argv[1]);
}
