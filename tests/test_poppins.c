/* POPPINS: the IQIF neuron and synapse arithmetic against hand-derived traces and against an
 * independent, deliberately plain re-implementation of METHODS.md §5.2/§5.3 written here
 * (dense loops, floor() on doubles); firing patterns of the repo parameter sets; the overflow
 * boundary; floor shifts of negative values; decay to zero; processor files that must fail
 * with "file:line"; the avoidance loop's determinism and a small-episode threshold. */
#include "bitcell_poppins.h"
#include "bc_test.h"
#include "snn/poppins_internal.h"
#include "snn/world.h"

#define BC_T_PI 3.14159265358979323846

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- the independent reference */

/* floor(x / 2^k) through double division: exact for |x| < 2^53. */
static int64_t ref_floor_div(int64_t x, int k) { return (int64_t)floor((double)x / ldexp(1.0, k)); }

typedef struct {
    int n;
    int rest[16], thr[16], reset[16], a[16], b[16], noise[16], tau[16], bias[16];
    int w[16][16]; /* w[i][j]: from i to j */
    int x[16];
    long long cur[16];
    int spk[16];
    long long sops;
    uint64_t seed;
    uint32_t stream;
    long long t;
} ref_net;

static void ref_init(ref_net *r) {
    for (int i = 0; i < r->n; i++) {
        r->x[i] = r->rest[i];
        r->cur[i] = 0;
        r->spk[i] = 0;
    }
    r->t = 0;
    r->sops = 0;
}

/* One step, read straight off METHODS.md §5.3 steps 1-4 and §5.2. */
static void ref_step(ref_net *r) {
    int prev[16];
    memcpy(prev, r->spk, sizeof prev);
    for (int i = 0; i < r->n; i++)
        for (int j = 0; j < r->n; j++)
            if (prev[i] && r->w[i][j] != 0) { r->cur[j] += r->w[i][j]; r->sops++; }
    for (int j = 0; j < r->n; j++) {
        if (r->tau[j] != 0) {
            int k = (int)floor(log2((double)r->tau[j]) + 1e-9);
            long long d = ref_floor_div(r->cur[j], k);
            if (d != 0) r->cur[j] -= d;
            else if (r->cur[j] > 0) r->cur[j] -= 1;
            else if (r->cur[j] < 0) r->cur[j] += 1;
        }
        int fmin = (r->a[j] * r->rest[j] + r->b[j] * r->thr[j]) / (r->a[j] + r->b[j]);
        long long f = r->x[j] < fmin ? (long long)r->a[j] * (r->rest[j] - r->x[j]) : (long long)r->b[j] * (r->x[j] - r->thr[j]);
        int N = r->noise[j] == 0 ? 1 : r->noise[j];
        bc_rng_key key = {.seed = r->seed, .purpose = BC_RNG_POPPINS_NOISE, .chip = r->stream};
        long long noise = (long long)(bc_rng_u32(key, (uint64_t)(r->t * r->n + j)) % (uint32_t)N) - N / 2;
        long long x = r->x[j] + ref_floor_div(f, 3) + r->cur[j] + r->bias[j] + noise;
        r->spk[j] = 0;
        if (x > 255) { r->spk[j] = 1; x = r->reset[j]; }
        else if (x < 0) x = 0;
        r->x[j] = (int)x;
        if (r->tau[j] == 0) r->cur[j] = 0;
    }
    r->t++;
}

/* The reference network as a processor file (one population), through the real parser. */
static bc_poppins *ref_to_poppins(const ref_net *r) {
    char *text = malloc(65536), *o = text;
    size_t left = 65536;
#define EMIT(...) do { int k_ = snprintf(o, left, __VA_ARGS__); o += k_; left -= (size_t)k_; } while (0)
    EMIT("[chip]\nweight_bits = 16\n[population]\nname = net\nneurons = %d\n", r->n);
    const char *keys[] = {"rest", "threshold", "reset", "a", "b", "noise", "tau", "bias"};
    const int *vals[] = {r->rest, r->thr, r->reset, r->a, r->b, r->noise, r->tau, r->bias};
    for (int k = 0; k < 8; k++) {
        EMIT("%s =", keys[k]);
        for (int i = 0; i < r->n; i++) EMIT(" %d", vals[k][i]);
        EMIT("\n");
    }
    for (int i = 0; i < r->n; i++) {
        EMIT("weights =");
        for (int j = 0; j < r->n; j++) EMIT(" %d", r->w[i][j]);
        EMIT("\n");
    }
#undef EMIT
    bc_poppins *p = NULL;
    bc_status st = bc_poppins_parse_text(text, "ref.ini", NULL, &p);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    free(text);
    return p;
}

/* ---------------------------------------------------------------- arithmetic */

static void test_floor_shr(void) {
    /* hand values: floor, not truncation, for negatives */
    BC_CHECK(bc_floor_shr(-1, 3) == -1);
    BC_CHECK(bc_floor_shr(-7, 3) == -1);
    BC_CHECK(bc_floor_shr(-8, 3) == -1);
    BC_CHECK(bc_floor_shr(-9, 3) == -2);
    BC_CHECK(bc_floor_shr(-10, 3) == -2);
    BC_CHECK(bc_floor_shr(7, 3) == 0);
    BC_CHECK(bc_floor_shr(8, 3) == 1);
    BC_CHECK(bc_floor_shr(0, 3) == 0);
    BC_CHECK(bc_floor_shr(-5, 0) == -5);
    BC_CHECK(bc_floor_shr(INT32_MIN, 31) == -1);
    BC_CHECK(bc_floor_shr(INT32_MIN, 1) == INT32_MIN / 2);
    BC_CHECK(bc_floor_shr(INT32_MAX, 31) == 0);
    BC_CHECK(bc_floor_shr(INT32_MIN + 1, 31) == -1);
    /* against floor(x / 2^k) on doubles over a sweep and random values */
    int bad = 0;
    for (int k = 0; k <= 31; k++) {
        for (int64_t x = -2000; x <= 2000; x++) bad += bc_floor_shr((int32_t)x, k) != ref_floor_div(x, k);
        for (uint64_t i = 0; i < 2000; i++) {
            int32_t x = (int32_t)bc_rng_u32((bc_rng_key){.seed = 1, .purpose = BC_RNG_TEST}, i * 32 + (uint64_t)k);
            bad += bc_floor_shr(x, k) != ref_floor_div(x, k);
        }
    }
    BC_CHECK_MSG(bad == 0, "%d mismatches", bad);
}

static void test_fmin(void) {
    /* C truncating division, as the reference */
    BC_CHECK(bc_iqif_fmin(&(bc_iqif_params){.rest = 128, .threshold = 200, .a = 1, .b = 1}) == 164);
    BC_CHECK(bc_iqif_fmin(&(bc_iqif_params){.rest = 62, .threshold = 75, .a = 4, .b = 1}) == 64);  /* 323 / 5 */
    BC_CHECK(bc_iqif_fmin(&(bc_iqif_params){.rest = 50, .threshold = 70, .a = 0, .b = 1}) == 70);
    BC_CHECK(bc_iqif_fmin(&(bc_iqif_params){.rest = 100, .threshold = 120, .a = 1, .b = 2}) == 113); /* 340 / 3 */
    BC_CHECK(bc_iqif_check(&(bc_iqif_params){.rest = 1, .threshold = 2, .reset = 3, .a = 0, .b = 0}) == BC_ERR_PARAM);
    BC_CHECK(bc_iqif_check(&(bc_iqif_params){.rest = 256, .threshold = 2, .reset = 3, .a = 1, .b = 1}) == BC_ERR_PARAM);
    BC_CHECK(bc_iqif_check(&(bc_iqif_params){.rest = 62, .threshold = 130, .reset = 145, .a = 1, .b = 1}) == BC_OK);
}

/* Tonic set (128, 200, 128, 1, 1) driven by bias 10 (the repo tutorial), derived by hand:
 * f_min = 164; below it f = 128 - x, above f = x - 200, x += floor(f / 8) + 10. Step 2 is
 * 138 + floor(-10 / 8) + 10 = 146 (truncation would give 147); step 11 is
 * 198 + floor(-2 / 8) + 10 = 207 (truncation: 208); step 15 overflows at 257. */
static void test_tonic_hand_trace(void) {
    static const int want[15] = {138, 146, 153, 159, 165, 170, 176, 183, 190, 198, 207, 217, 229, 242, 128};
    bc_iqif_params p = {.rest = 128, .threshold = 200, .reset = 128, .a = 1, .b = 1};
    int32_t fmin = bc_iqif_fmin(&p), x = p.rest;
    for (int round = 0; round < 3; round++) { /* reset = rest: the same 15 steps repeat */
        for (int t = 0; t < 15; t++) {
            int s = bc_iqif_step(&p, fmin, &x, 10);
            BC_CHECK_MSG(x == want[t], "round %d step %d: x = %d, want %d", round, t + 1, (int)x, want[t]);
            BC_CHECK_MSG(s == (t == 14), "round %d step %d: spike %d", round, t + 1, s);
        }
    }
}

/* 255 is a legal membrane value; 256 overflows the 8-bit register into a spike. With a = 0,
 * b = 1, rest 0 and threshold 255, f = 0 everywhere below 255 and at 255. */
static void test_overflow_boundary(void) {
    bc_iqif_params p = {.rest = 0, .threshold = 255, .reset = 7, .a = 0, .b = 1};
    int32_t fmin = bc_iqif_fmin(&p), x = 0;
    BC_CHECK(fmin == 255);
    BC_CHECK(bc_iqif_step(&p, fmin, &x, 255) == 0 && x == 255);
    BC_CHECK(bc_iqif_step(&p, fmin, &x, 0) == 0 && x == 255);
    BC_CHECK(bc_iqif_step(&p, fmin, &x, 1) == 1 && x == 7);
    x = 200;
    BC_CHECK(bc_iqif_step(&p, fmin, &x, 56) == 1 && x == 7); /* 256 */
    x = 200;
    BC_CHECK(bc_iqif_step(&p, fmin, &x, 55) == 0 && x == 255);
    /* clamp at 0 (the register is unsigned), and huge inputs neither wrap nor clamp wrongly */
    x = 3;
    BC_CHECK(bc_iqif_step(&p, fmin, &x, -5) == 0 && x == 0);
    x = 3;
    BC_CHECK(bc_iqif_step(&p, fmin, &x, INT64_C(-5000000000)) == 0 && x == 0);
    x = 3;
    BC_CHECK(bc_iqif_step(&p, fmin, &x, INT64_C(5000000000)) == 1 && x == 7);
    /* the neuron's own term alone can overflow: above threshold b (x - thr) / 8 pushes it */
    bc_iqif_params q = {.rest = 10, .threshold = 100, .reset = 20, .a = 1, .b = 8};
    int32_t fq = bc_iqif_fmin(&q);
    x = 178; /* f = 8 * 78 = 624, floor(624 / 8) = 78: 178 + 78 = 256 */
    BC_CHECK(bc_iqif_step(&q, fq, &x, 0) == 1 && x == 20);
    x = 177; /* 177 + 77 = 254 */
    BC_CHECK(bc_iqif_step(&q, fq, &x, 0) == 0 && x == 254);
}

static void test_decay(void) {
    BC_CHECK(bc_syn_shift(0) == -1);
    BC_CHECK(bc_syn_shift(1) == 0);
    BC_CHECK(bc_syn_shift(2) == 1);
    BC_CHECK(bc_syn_shift(8) == 3);
    BC_CHECK(bc_syn_shift(10) == 3); /* floor(log2 tau) */
    BC_CHECK(bc_syn_shift(1 << 30) == 30);
    /* hand-derived: tau = 8 (shift 3) from +100 and -100 */
    static const int32_t up[8] = {88, 77, 68, 60, 53, 47, 42, 37};
    static const int32_t down[4] = {-87, -76, -66, -57}; /* floor(-100/8) = -13, ... */
    int32_t i = 100;
    for (int t = 0; t < 8; t++) { i = bc_syn_decay(i, 3); BC_CHECK_MSG(i == up[t], "step %d: %d", t, (int)i); }
    i = -100;
    for (int t = 0; t < 4; t++) { i = bc_syn_decay(i, 3); BC_CHECK_MSG(i == down[t], "step %d: %d", t, (int)i); }
    /* small values: +7 -> 6 (d = 0, minus one); -7 -> -6 (d = floor(-7/8) = -1) */
    BC_CHECK(bc_syn_decay(7, 3) == 6);
    BC_CHECK(bc_syn_decay(-7, 3) == -6);
    BC_CHECK(bc_syn_decay(1, 3) == 0 && bc_syn_decay(-1, 3) == 0 && bc_syn_decay(0, 3) == 0);
    BC_CHECK(bc_syn_decay(12345, 0) == 0 && bc_syn_decay(-12345, 0) == 0); /* tau = 1 */
    /* decay reaches exactly 0, stays there, never changes sign; step counts match the
     * reference written with double floor */
    for (int sh = 0; sh <= 12; sh++) {
        for (int32_t start = -3000; start <= 3000; start += 37) {
            int32_t v = start;
            long long rv = start;
            int steps = 0;
            while (v != 0 && steps < 100000) {
                int32_t nv = bc_syn_decay(v, sh);
                long long d = ref_floor_div(rv, sh);
                rv = d != 0 ? rv - d : rv > 0 ? rv - 1 : rv + 1;
                BC_CHECK_MSG(nv == rv, "shift %d from %d: %d vs %lld", sh, (int)start, (int)nv, rv);
                BC_CHECK(start > 0 ? nv >= 0 && nv < v : nv <= 0 && nv > v);
                if (nv != rv) break;
                v = nv;
                steps++;
            }
            BC_CHECK(v == 0 && bc_syn_decay(0, sh) == 0);
        }
    }
    BC_CHECK(bc_syn_decay(INT32_MIN, 0) == 0);
    BC_CHECK(bc_syn_decay(INT32_MAX, 31) == INT32_MAX - 0 - 1 || bc_syn_decay(INT32_MAX, 31) == INT32_MAX - 1);
}

static void test_noise(void) {
    bc_rng_key k = {.seed = 9, .purpose = BC_RNG_POPPINS_NOISE};
    int lo = 0, hi = 0;
    for (uint64_t i = 0; i < 5000; i++) {
        BC_CHECK(bc_iqif_noise(k, i, 0) == 0 && bc_iqif_noise(k, i, 1) == 0);
        int v = bc_iqif_noise(k, i, 5); /* rand() % 5 - 2: [-2, 2] */
        lo += v == -2;
        hi += v == 2;
        BC_CHECK(v >= -2 && v <= 2);
        int w = bc_iqif_noise(k, i, 4); /* [-2, 1] */
        BC_CHECK(w >= -2 && w <= 1);
    }
    BC_CHECK(lo > 700 && hi > 700);
}

/* ---------------------------------------------------------------- firing patterns */

/* Runs one neuron of set (rest, thr, reset, a, b) with a stimulus per step; spike steps out. */
static int run_single(int rest, int thr, int reset, int a, int b, const int *stim, int steps, int *spk_steps,
                      int max_spk, int *trace) {
    bc_iqif_params p = {.rest = rest, .threshold = thr, .reset = reset, .a = a, .b = b};
    int32_t fmin = bc_iqif_fmin(&p), x = rest;
    int ns = 0;
    for (int t = 0; t < steps; t++) {
        if (bc_iqif_step(&p, fmin, &x, stim[t])) {
            if (ns < max_spk) spk_steps[ns] = t;
            ns++;
        }
        if (trace) trace[t] = x;
    }
    return ns;
}

static int *const_stim(int steps, int v) {
    int *s = malloc((size_t)steps * sizeof *s);
    for (int t = 0; t < steps; t++) s[t] = v;
    return s;
}

static void test_patterns(void) {
    enum { T = 2000 };
    int spk[T], *s;
    /* tonic (62, 130, 145, 1, 1): regular firing, constant inter-spike interval */
    s = const_stim(T, 10);
    int n = run_single(62, 130, 145, 1, 1, s, T, spk, T, NULL);
    BC_CHECK(n > 20);
    bool regular = true;
    for (int i = 2; i < n && i < T; i++) regular &= spk[i] - spk[i - 1] == spk[2] - spk[1];
    BC_CHECK_MSG(regular, "tonic: irregular intervals");
    /* below rheobase it stays silent at a fixed point */
    free(s);
    s = const_stim(T, 3);
    BC_CHECK(run_single(62, 130, 145, 1, 1, s, T, spk, T, NULL) == 0);
    free(s);

    /* class-1 (62, 75, 68, 4, 1): the f-I curve starts at zero rate and rises gradually:
     * a silent current, then low rates, and rates that never fall with more current */
    int prev = -1, first_rate = -1, silent = 0;
    for (int i = 0; i <= 40; i++) {
        s = const_stim(T, i);
        int r = run_single(62, 75, 68, 4, 1, s, T, spk, T, NULL);
        free(s);
        BC_CHECK_MSG(r >= prev, "class-1: rate fell from %d to %d at I = %d", prev, r, i);
        if (r == 0) silent++;
        if (r > 0 && first_rate < 0) first_rate = r;
        prev = r;
    }
    BC_CHECK(silent >= 1);
    BC_CHECK_MSG(first_rate > 0 && first_rate < prev / 3, "class-1: onset rate %d vs max %d", first_rate, prev);

    /* bistable (50, 75, 90, 1, 1): reset 90 is above threshold 75, so a brief pulse switches
     * the neuron from rest to firing that goes on without input */
    s = const_stim(T, 0);
    for (int t = 100; t < 105; t++) s[t] = 20;
    n = run_single(50, 75, 90, 1, 1, s, T, spk, T, NULL);
    BC_CHECK(n > 10 && spk[0] >= 100 && spk[0] < 150);
    BC_CHECK(spk[n - 1] > T - 200); /* still firing at the end */
    s[101] = s[102] = s[103] = s[104] = 0; /* a 1-step pulse is too weak: stays at rest */
    BC_CHECK(run_single(50, 75, 90, 1, 1, s, T, spk, T, NULL) == 0);
    free(s);

    /* integrator (50, 75, 50, 1, 1): two sub-threshold pulses fire only when close together.
     * By hand: 50 + 19 = 69, then 68, 67 (drift floor((69-75)/8) = -1 ...), and the second
     * pulse lifts 67 + floor(-8/8) + 19 = 85 to where floor((x-75)/8) >= 1: run-away, spike at
     * step 131. (At 82 the drift floor(7/8) is 0: x would sit there; 18 is not enough.)
     * Alone, 69 sinks back to rest 50. */
    int tr[T];
    s = const_stim(T, 0);
    s[100] = 19;
    s[103] = 19;
    int close = run_single(50, 75, 50, 1, 1, s, T, spk, T, tr);
    BC_CHECK(close >= 1 && spk[0] == 131 && tr[103] == 85 && tr[104] == 86 && tr[130] == 237);
    free(s);
    s = const_stim(T, 0);
    s[100] = 19;
    s[160] = 19;
    int far = run_single(50, 75, 50, 1, 1, s, T, spk, T, NULL);
    free(s);
    s = const_stim(T, 0);
    s[100] = 19;
    int single = run_single(50, 75, 50, 1, 1, s, T, spk, T, NULL);
    free(s);
    BC_CHECK_MSG(close == 1 && far == 0 && single == 0, "integrator: close %d far %d single %d", close, far, single);
    BC_CHECK(tr[T - 1] == 50); /* back to rest after the spike (reset = rest) */
}

/* Burst pair: a fast neuron A (100, 120, 100, 1, 2) driven by a constant stimulus excites a
 * slow perfect integrator B (50, 70, 50, 0, 1; a = 0: no leak below f_min) that inhibits A
 * through a slow synapse: A fires in bursts separated by silences. Checked bit for bit against
 * the reference and for its shape: intervals fall into short (in-burst) and long (between
 * bursts) ones. */
static void test_burst_pair(void) {
    ref_net r = {.n = 2};
    int par[2][5] = {{100, 120, 100, 1, 2}, {50, 70, 50, 0, 1}};
    for (int i = 0; i < 2; i++) {
        r.rest[i] = par[i][0]; r.thr[i] = par[i][1]; r.reset[i] = par[i][2]; r.a[i] = par[i][3]; r.b[i] = par[i][4];
    }
    r.bias[0] = 12;
    r.tau[0] = 64;   /* A's input: B's inhibition, slow */
    r.tau[1] = 0;    /* B's input: A's spikes, delta */
    r.w[0][1] = 6;   /* A -> B */
    r.w[1][0] = -40; /* B -> A */
    bc_poppins *p = ref_to_poppins(&r);
    if (!p) return;
    ref_init(&r);
    enum { T = 3000 };
    int spk[T], ns = 0, mism = 0;
    bc_poppins_stats st = {0};
    for (int t = 0; t < T; t++) {
        ref_step(&r);
        bc_poppins_step(p, &st);
        for (int i = 0; i < 2; i++) mism += r.x[i] != bc_poppins_potentials(p)[i] || r.spk[i] != bc_poppins_spikes(p)[i];
        if (r.spk[0]) spk[ns++] = t;
    }
    BC_CHECK_MSG(mism == 0, "burst pair: %d mismatches with the reference", mism);
    BC_CHECK((long long)st.sops == r.sops);
    int short_isi = 0, long_isi = 0, other = 0;
    for (int i = 1; i < ns; i++) {
        int d = spk[i] - spk[i - 1];
        if (d <= 8) short_isi++;
        else if (d >= 40) long_isi++;
        else other++;
    }
    BC_CHECK_MSG(long_isi >= 5 && short_isi >= 2 * long_isi && other <= long_isi,
                 "burst pair: %d spikes, short %d long %d other %d", ns, short_isi, long_isi, other);
    bc_poppins_free(p);
}

/* ---------------------------------------------------------------- processor */

/* Random networks (noise off and on) against the reference, bit for bit, with SOP counts. */
static void test_random_networks(void) {
    bc_rng_key k = {.seed = 77, .purpose = BC_RNG_TEST};
    uint64_t c = 0;
#define R(n) ((int)(bc_rng_u32(k, c++) % (uint32_t)(n)))
    static const int taus[] = {0, 1, 2, 4, 8, 16, 64};
    int total_mism = 0;
    for (int net = 0; net < 24; net++) {
        ref_net r = {.n = 2 + R(15), .seed = (uint64_t)net, .stream = (uint32_t)(net * 3)};
        for (int i = 0; i < r.n; i++) {
            r.rest[i] = R(120);
            r.thr[i] = r.rest[i] + 1 + R(100);
            r.reset[i] = R(256);
            r.a[i] = R(5);
            r.b[i] = 1 + R(4);
            r.noise[i] = net % 2 ? R(9) : 0;
            r.tau[i] = taus[R(7)];
            r.bias[i] = R(30) - 5;
            for (int j = 0; j < r.n; j++) r.w[i][j] = R(3) == 0 ? 0 : R(200) - 100;
        }
        bc_poppins *p = ref_to_poppins(&r);
        if (!p) return;
        bc_poppins_set_noise(p, r.seed, r.stream);
        ref_init(&r);
        bc_poppins_stats st = {0};
        long long spikes = 0;
        int mism = 0;
        for (int t = 0; t < 1500; t++) {
            if (t == 700) { /* stimulus injection mid-run */
                r.bias[0] = 40;
                BC_CHECK(bc_poppins_set_stimulus(p, 0, 0, 40) == BC_OK);
            }
            ref_step(&r);
            bc_poppins_step(p, &st);
            for (int i = 0; i < r.n; i++) {
                mism += r.x[i] != bc_poppins_potentials(p)[i] || r.spk[i] != bc_poppins_spikes(p)[i] ||
                        r.cur[i] != bc_poppins_currents(p)[i];
                spikes += r.spk[i];
            }
        }
        total_mism += mism;
        BC_CHECK_MSG(mism == 0, "network %d (n = %d): %d mismatches", net, r.n, mism);
        BC_CHECK_MSG((long long)st.sops == r.sops, "network %d: sops %llu vs %lld", net, (unsigned long long)st.sops, r.sops);
        BC_CHECK((long long)st.spikes == spikes && st.steps == 1500 && st.acc_saturations == 0);
        bc_poppins_free(p);
    }
    BC_CHECK(total_mism == 0);
#undef R
}

/* Two-level networks of up to 70 + 70 neurons (vector tails, whole 64-neuron blocks), through
 * each vector step (AVX-512 and AVX2, each where the CPU has it; BC_CPU caps the choice) and
 * through the scalar step (BC_CPU=scalar): the same membranes, accumulators, spikes, spike
 * lists and counters at every step. Rows range from empty to dense (the sparse rows go by
 * index, the dense ones through the vector step), and some networks fire every neuron in
 * every step (the step's row lists full). Also with an accumulator narrow enough to saturate
 * and a stimulus too large for the 32-bit vector path. */
static void test_scalar_vs_vector(void) {
    bc_rng_key k = {.seed = 5, .purpose = BC_RNG_TEST};
    uint64_t c = 0;
#define R(m) ((int)(bc_rng_u32(k, c++) % (uint32_t)(m)))
    static const int taus[] = {0, 1, 2, 4, 8, 16, 64};
    static const char *isa_env[] = {"avx512", "avx2"};
    const bc_cpu cpu = bc_cpu_detect();
    for (int net = 0; net < 12; net++) {
        int n1 = 1 + R(70), n2 = 1 + R(70);
        if (net == 8) n1 = 64, n2 = 64;  /* whole blocks, no tail */
        if (net == 9) n1 = 70, n2 = 70;  /* two blocks and a tail */
        int acc_bits = net == 6 ? 10 : 32, big = net == 7 ? 1500000000 : 0;
        bool all_fire = net == 10 || net == 11; /* every neuron fires in every step */
        size_t cap = 1u << 20;
        char *text = malloc(cap), *o = text;
#define EMIT(...) o += snprintf(o, cap - (size_t)(o - text), __VA_ARGS__)
        EMIT("[chip]\naccumulator_bits = %d\n", acc_bits);
        for (int pop = 0; pop < 2; pop++) {
            int m = pop ? n2 : n1;
            EMIT("[population]\nname = p%d\nneurons = %d\n", pop, m);
            const char *keys[] = {"rest", "threshold", "reset", "a", "b", "tau", "bias"};
            for (int kk = 0; kk < 7; kk++) {
                for (int i = 0; i < m; i++) { /* continued lines of 20 values */
                    if (i % 20 == 0) EMIT("%s%s =", i ? "\n" : "", keys[kk]);
                    int v = kk == 0 ? 40 + R(60) : kk == 1 ? 110 + R(60) : kk == 2 ? R(256) : kk <= 4 ? R(4) + (kk == 4)
                          : kk == 5 ? taus[R(7)] : all_fire ? 400 + R(50) : R(24) - 4;
                    EMIT(" %d", v);
                }
                EMIT("\n");
            }
            char wp[64];
            snprintf(wp, sizeof wp, "/tmp/bc_poppins_v%d_%d_%d.txt", (int)getpid(), net, pop);
            FILE *wf = fopen(wp, "w");
            BC_CHECK(wf != NULL);
            if (!wf) { free(text); return; }
            for (int i = 0; i < m; i++) {
                /* per row: half the synapses, or one in 40, or none; excitatory only where all fire */
                int dens = i % 5 == 0 ? 0 : i % 3 == 0 ? 40 : 2;
                for (int j = 0; j < m; j++) fprintf(wf, " %d", dens && R(dens) == 0 ? R(120) - (all_fire ? 0 : 60) : 0);
                fprintf(wf, "\n");
            }
            fclose(wf);
            EMIT("weights_file = %s\n", wp);
        }
        char pp[64];
        snprintf(pp, sizeof pp, "/tmp/bc_poppins_v%d_%d_proj.txt", (int)getpid(), net);
        FILE *pf = fopen(pp, "w");
        BC_CHECK(pf != NULL);
        if (!pf) { free(text); return; }
        for (int i = 0; i < n1; i++) {
            for (int j = 0; j < n2; j++) fprintf(pf, " %d", R(3) ? R(100) - (all_fire ? 0 : 30) : 0);
            fprintf(pf, "\n");
        }
        fclose(pf);
        EMIT("[projection]\nfrom = p0\nto = p1\nweights_file = %s\n", pp);
#undef EMIT
        bc_poppins *ref = NULL, *vec[2] = {NULL, NULL};
        setenv("BC_CPU", "scalar", 1);
        BC_CHECK_MSG(bc_poppins_parse_text(text, "v.ini", NULL, &ref) == BC_OK, "%s", bc_last_error());
        for (int v = 0; v < 2; v++) {
            setenv("BC_CPU", isa_env[v], 1);
            BC_CHECK_MSG(bc_poppins_parse_text(text, "v.ini", NULL, &vec[v]) == BC_OK, "%s", bc_last_error());
            /* the variant asked for is the one that runs, where the CPU has it */
            bc_cpu want = v == 0 ? BC_CPU_AVX512 : BC_CPU_AVX2;
            if (vec[v] && cpu >= want) BC_CHECK_MSG(vec[v]->isa == want, "network %d: %s not selected", net, isa_env[v]);
        }
        unsetenv("BC_CPU");
        free(text);
        for (int pop = 0; pop < 2; pop++) {
            char wp[64];
            snprintf(wp, sizeof wp, "/tmp/bc_poppins_v%d_%d_%d.txt", (int)getpid(), net, pop);
            unlink(wp);
        }
        unlink(pp);
        if (!ref || !vec[0] || !vec[1]) {
            bc_poppins_free(ref);
            bc_poppins_free(vec[0]);
            bc_poppins_free(vec[1]);
            return;
        }
        BC_CHECK(ref->isa == BC_CPU_SCALAR);
        for (int v = 0; v < 2; v++) {
            bc_poppins *fast = vec[v];
            bc_poppins_reset(ref);
            if (big) {
                BC_CHECK(bc_poppins_set_stimulus(fast, 1, 0, big) == BC_OK && bc_poppins_set_stimulus(ref, 1, 0, big) == BC_OK);
            }
            int n = bc_poppins_neurons(fast), mism = 0, acc_mism = 0;
            bc_poppins_stats sf = {0}, sr = {0};
            int64_t *want = malloc((size_t)n * sizeof *want);
            if (!want) return;
            for (int t = 0; t < 600; t++) {
                /* the currents the step must leave, straight from weights and §5.3: the steps
                 * share their row lists, so they are also checked against this */
                int32_t nfp;
                const int32_t *fp = bc_poppins_fired(ref, &nfp);
                for (int j = 0; j < n; j++) {
                    int32_t tau;
                    bc_poppins_neuron(ref, j, &tau);
                    want[j] = bc_poppins_currents(ref)[j];
                    for (int f = 0; f < nfp; f++) want[j] += bc_poppins_weight(ref, fp[f], j);
                    want[j] = tau ? bc_syn_decay((int32_t)want[j], bc_syn_shift(tau)) : 0;
                }
                bc_poppins_step(fast, &sf);
                bc_poppins_step(ref, &sr);
                for (int j = 0; j < n && acc_bits == 32; j++) acc_mism += want[j] != bc_poppins_currents(ref)[j];
                mism += memcmp(bc_poppins_potentials(fast), bc_poppins_potentials(ref), (size_t)n * sizeof(int32_t)) != 0 ||
                        memcmp(bc_poppins_currents(fast), bc_poppins_currents(ref), (size_t)n * sizeof(int32_t)) != 0 ||
                        memcmp(bc_poppins_spikes(fast), bc_poppins_spikes(ref), (size_t)n) != 0;
                int32_t nf1, nf2;
                const int32_t *f1 = bc_poppins_fired(fast, &nf1), *f2 = bc_poppins_fired(ref, &nf2);
                mism += nf1 != nf2 || memcmp(f1, f2, (size_t)nf1 * sizeof(int32_t)) != 0;
                if (all_fire) mism += nf1 != n;
            }
            free(want);
            BC_CHECK_MSG(mism == 0, "network %d (%d + %d), %s: %d steps differ", net, n1, n2, isa_env[v], mism);
            BC_CHECK_MSG(acc_mism == 0, "network %d: %d currents differ from the weights' sums", net, acc_mism);
            BC_CHECK(sf.spikes == sr.spikes && sf.sops == sr.sops && sf.acc_saturations == sr.acc_saturations);
            BC_CHECK(sf.spikes > 0);
            if (acc_bits == 10) BC_CHECK_MSG(sr.acc_saturations > 0, "network %d: no saturation", net);
        }
        bc_poppins_free(vec[0]);
        bc_poppins_free(vec[1]);
        bc_poppins_free(ref);
    }
#undef R
}

/* The one-step delay and delta synapses, derived by hand on a two-level processor. */
static void test_delay_and_hierarchy(void) {
    const char *ini =
        "[chip]\nweight_bits = 8\naccumulator_bits = 12\n"
        "[population]\nname = in\nneurons = 1\nrest = 0\nthreshold = 255\nreset = 0\na = 0\nb = 1\n"
        "weights = 0\n"
        "[population]\nname = out\nneurons = 2\nrest = 0\nthreshold = 255\nreset = 0\na = 0\nb = 1\ntau = 0 4\n"
        "weights = 0 0\nweights = 0 0\n"
        "[projection]\nfrom = in\nto = out\nweights = 100 100\n";
    bc_poppins *p = NULL;
    bc_status st = bc_poppins_parse_text(ini, "h.ini", NULL, &p);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    if (!p) return;
    BC_CHECK(bc_poppins_pop_count(p) == 2 && bc_poppins_neurons(p) == 3 && bc_poppins_pop_offset(p, 1) == 1);
    BC_CHECK(bc_poppins_weight(p, 0, 1) == 100 && bc_poppins_weight(p, 0, 2) == 100 && bc_poppins_weight(p, 1, 0) == 0);
    BC_CHECK(bc_poppins_set_stimulus(p, 0, 0, 256) == BC_OK); /* 'in' spikes at step 0 */
    bc_poppins_stats s = {0};
    bc_poppins_step(p, &s); /* t0: in spikes */
    BC_CHECK(bc_poppins_spikes(p)[0] == 1 && bc_poppins_potentials(p)[1] == 0 && bc_poppins_potentials(p)[2] == 0);
    BC_CHECK(bc_poppins_set_stimulus(p, 0, 0, 0) == BC_OK);
    bc_poppins_step(p, &s); /* t1: the spike arrives: delta +100; tau 4 (shift 2): 100 - 25 = 75 */
    BC_CHECK(s.sops == 2);
    BC_CHECK_MSG(bc_poppins_potentials(p)[1] == 100, "%d", (int)bc_poppins_potentials(p)[1]);
    BC_CHECK_MSG(bc_poppins_potentials(p)[2] == 75, "%d", (int)bc_poppins_potentials(p)[2]);
    BC_CHECK(bc_poppins_currents(p)[1] == 0 && bc_poppins_currents(p)[2] == 75);
    bc_poppins_step(p, &s); /* t2: the delta synapse adds nothing; 75 - 18 = 57, x = 75 + 57 */
    BC_CHECK(bc_poppins_potentials(p)[1] == 100 && bc_poppins_potentials(p)[2] == 132);
    BC_CHECK(bc_poppins_currents(p)[2] == 57 && s.sops == 2);
    /* accumulator_bits = 12 saturates at 2047 and counts it */
    BC_CHECK(bc_poppins_set_stimulus(p, 0, 0, 4096) == BC_ERR_PARAM);
    bc_poppins_reset(p);
    BC_CHECK(bc_poppins_time(p) == 0 && bc_poppins_potentials(p)[2] == 0);
    bc_poppins_free(p);

    const char *sat =
        "[chip]\naccumulator_bits = 8\n[population]\nneurons = 1\nrest = 0\nthreshold = 255\nreset = 0\na = 0\nb = 1\n"
        "tau = 1024\nbias = 127\nweights = 100\n";
    st = bc_poppins_parse_text(sat, "sat.ini", NULL, &p);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    if (!p) return;
    bc_poppins_stats s2 = {0};
    for (int t = 0; t < 20; t++) bc_poppins_step(p, &s2);
    BC_CHECK(s2.acc_saturations > 0 && bc_poppins_currents(p)[0] <= 127);
    bc_poppins_free(p);
}

/* Clones run the same; reset restores the start. */
static void test_clone_reset(void) {
    bc_poppins *p = NULL, *q = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/hw/poppins-avoid.ini", BC_SOURCE_DIR);
    bc_status st = bc_poppins_load(path, &p);
    BC_CHECK_MSG(st == BC_OK, "%s", bc_last_error());
    if (!p) return;
    BC_CHECK(bc_poppins_clone(p, &q) == BC_OK);
    for (int i = 0; i < bc_poppins_pop_size(p, 0); i++) {
        bc_poppins_set_stimulus(p, 0, i, 30 + i);
        bc_poppins_set_stimulus(q, 0, i, 30 + i);
    }
    int32_t n = bc_poppins_neurons(p), mism = 0;
    int32_t first[64];
    for (int t = 0; t < 300; t++) {
        bc_poppins_step(p, NULL);
        bc_poppins_step(q, NULL);
        if (t == 0) memcpy(first, bc_poppins_potentials(p), (size_t)n * sizeof(int32_t));
        mism += memcmp(bc_poppins_potentials(p), bc_poppins_potentials(q), (size_t)n * sizeof(int32_t)) != 0;
    }
    BC_CHECK(mism == 0);
    bc_poppins_reset(p);
    for (int i = 0; i < bc_poppins_pop_size(p, 0); i++) bc_poppins_set_stimulus(p, 0, i, 30 + i);
    bc_poppins_step(p, NULL);
    BC_CHECK(memcmp(first, bc_poppins_potentials(p), (size_t)n * sizeof(int32_t)) == 0);
    bc_poppins_free(p);
    bc_poppins_free(q);
}

/* ---------------------------------------------------------------- malformed files */

static void expect_bad(const char *text, const char *origin, const char *needle) {
    bc_poppins *p = NULL;
    bc_status st = bc_poppins_parse_text(text, origin, "/tmp", &p);
    BC_CHECK_MSG(st == BC_ERR_FORMAT || st == BC_ERR_IO, "accepted: %s", needle);
    BC_CHECK(p == NULL);
    BC_CHECK_MSG(strstr(bc_last_error(), needle) != NULL, "message '%s' lacks '%s'", bc_last_error(), needle);
    bc_poppins_free(p);
}

static void test_bad_files(void) {
    const char *pop = "[population]\nneurons = 2\n";
    char buf[4096];
    expect_bad("neurons = 2\n", "a.ini", "a.ini:1: key 'neurons' before the first section");
    expect_bad("[populaton]\nneurons = 2\n", "a.ini", "a.ini:1: unknown section [populaton]");
    expect_bad("[population]\nneurons = 2\nfitlers = 3\n", "a.ini", "a.ini:3: unknown key 'fitlers'");
    expect_bad("[population]\nneurons = 2\nneurons = 3\n", "a.ini", "a.ini:3: 'neurons' given twice");
    expect_bad("[population]\nrest = 3\n", "a.ini", "a.ini:1: [population] needs neurons");
    expect_bad("[population]\nneurons = two\n", "a.ini", "a.ini:2: neurons 'two'");
    expect_bad("[population]\nneurons = 0\n", "a.ini", "a.ini:2: neurons '0'");
    expect_bad("[chip]\nmax_neurons = 4\n[population]\nneurons = 5\n", "a.ini", "a.ini:4: neurons = 5 exceeds the chip's max_neurons = 4");
    expect_bad("[population]\nneurons = 2\nrest = 300\n", "a.ini", "a.ini:3: rest: value 1 is not an integer in [0, 255]");
    expect_bad("[population]\nneurons = 3\nrest = 1 2\n", "a.ini", "a.ini:3: rest: 2 values; expected 1 (all neurons) or 3");
    expect_bad("[population]\nneurons = 3\nrest = 1 2\nrest = 3 4\n", "a.ini", "a.ini:4: rest: 4 values; expected 1 (all neurons) or 3");
    expect_bad("[population]\nneurons = 3\nrest =\n", "a.ini", "a.ini:3: rest: no values");
    expect_bad("[population]\nneurons = 2\na = 0\nb = 0\n", "a.ini", "a.ini:3: neuron 0 of 'pop0' has a = b = 0");
    expect_bad("[population]\nneurons = 2\ntau = 10\n", "a.ini", "a.ini:3: tau = 10 is not 0 or a power of two");
    expect_bad("[population]\nneurons = 2\ntau = -4\n", "a.ini", "a.ini:3: tau: value 1");
    expect_bad("[population]\nneurons = 2\nweights = 1 2\nweights = 3\n", "a.ini", "a.ini:4: weights row 2 has 1 values, expected 2");
    expect_bad("[population]\nneurons = 2\nweights = 1 2\n", "a.ini", "a.ini:3: 1 weight rows, expected 2");
    expect_bad("[population]\nneurons = 2\nweights = 1 2 | 3 4 | 5 6\n", "a.ini", "a.ini:3: more than 2 weight rows");
    expect_bad("[population]\nneurons = 2\nweights = 1 2 | 3 x\n", "a.ini", "a.ini:3: weights row 2, column 2: not an integer");
    expect_bad("[population]\nneurons = 2\nweights = 1 128 | 3 4\n", "a.ini", "a.ini:3: weight 128 (row 1, column 2) does not fit weight_bits = 8 ([-128, 127])");
    expect_bad("[chip]\nweight_bits = 4\n[population]\nneurons = 2\nweights = 1 2 | 3 -9\n", "a.ini", "a.ini:5: weight -9 (row 2, column 2) does not fit weight_bits = 4 ([-8, 7])");
    expect_bad("[chip]\nweight_bits = 17\n", "a.ini", "a.ini:2: weight_bits '17'");
    expect_bad("[chip]\nweight_bits = 12\naccumulator_bits = 8\n[population]\nneurons = 1\n", "a.ini", "accumulator_bits = 8 is narrower than weight_bits = 12");
    expect_bad("[chip]\naccumulator_bits = 8\n[population]\nneurons = 1\nbias = 200\n", "a.ini", "a.ini:5: bias: value 1 is not an integer in [-128, 127]");
    expect_bad("[chip]\nenergy_pj_per_sop = -1\n", "a.ini", "a.ini:2: energy_pj_per_sop '-1'");
    expect_bad("[chip]\n[chip]\n", "a.ini", "a.ini:2: a second [chip] section");
    snprintf(buf, sizeof buf, "%s%s%s", pop, pop, pop);
    expect_bad(buf, "a.ini", "a.ini:5: a third [population]: the processor has two hierarchy levels");
    snprintf(buf, sizeof buf, "%s[projection]\nfrom = pop0\nto = pop1\n", pop);
    expect_bad(buf, "a.ini", "a.ini:3: [projection] needs two populations");
    snprintf(buf, sizeof buf, "%s%s[projection]\nfrom = pop1\nto = pop0\n", pop, pop);
    expect_bad(buf, "a.ini", "a.ini:6: from = 'pop1': a projection goes from the first population");
    snprintf(buf, sizeof buf, "%s%s[projection]\nfrom = pop0\nto = pop1\nweights = 1 2\n", pop, pop);
    expect_bad(buf, "a.ini", "a.ini:8: 1 weight rows, expected 2");
    snprintf(buf, sizeof buf, "[population]\nname = x\nneurons = 1\n[population]\nname = x\nneurons = 1\n");
    expect_bad(buf, "a.ini", "a.ini:4: population name 'x' used twice");
    expect_bad("[population]\nneurons = 2\nweights_file = no-such-file.txt\n", "a.ini", "a.ini:3: weights_file: /tmp/no-such-file.txt: cannot open");
    expect_bad("[population]\nneurons = 2\nweights = 1 2 | 3 4\nweights_file = w.txt\n", "a.ini", "a.ini:4: [population] has both weights and weights_file");
    expect_bad("[population\nneurons = 2\n", "a.ini", "a.ini:1: malformed section header");
    expect_bad("[population]\nneurons 2\n", "a.ini", "a.ini:2: syntax error");
    memset(buf, 0, sizeof buf);
    strcpy(buf, "[population]\nneurons = 2\nweights = ");
    for (size_t i = strlen(buf); i < 400; i++) buf[i] = '1';
    expect_bad(buf, "a.ini", "a.ini:3: line longer than");
    expect_bad("", "a.ini", "a.ini: no [population] section");
    expect_bad("[population]\nneurons = 1\nname = bad name\n", "a.ini", "a.ini:3: name 'bad name'");

    /* a weights file with a bad row is named with its own line number */
    char dir[] = "/tmp/bc_poppins_XXXXXX";
    if (!mkdtemp(dir)) { BC_CHECK(0); return; }
    char wpath[256], ipath[256];
    snprintf(wpath, sizeof wpath, "%s/w.txt", dir);
    snprintf(ipath, sizeof ipath, "%s/net.ini", dir);
    const char *w = "# weights\n1 2 3\n\n4 5 999\n7 8 9\n";
    bc_t_write_raw(wpath, w, strlen(w));
    const char *ini = "[population]\nneurons = 3\nweights_file = w.txt\n";
    bc_t_write_raw(ipath, ini, strlen(ini));
    bc_poppins *p = NULL;
    BC_CHECK(bc_poppins_load(ipath, &p) == BC_ERR_FORMAT && p == NULL);
    char want[600];
    snprintf(want, sizeof want, "%s:4: weight 999 (row 2, column 3) does not fit weight_bits = 8", wpath);
    BC_CHECK_MSG(strstr(bc_last_error(), want) != NULL, "%s", bc_last_error());
    w = "1 2 3\n4 5 6 # a comment\n7 8 9\n";
    bc_t_write_raw(wpath, w, strlen(w));
    BC_CHECK_MSG(bc_poppins_load(ipath, &p) == BC_OK, "%s", bc_last_error());
    if (p) BC_CHECK(bc_poppins_weight(p, 1, 2) == 6 && bc_poppins_weight(p, 2, 0) == 7);
    bc_poppins_free(p);
    p = NULL;
    w = "1 2 3\n4 5 6\n";
    bc_t_write_raw(wpath, w, strlen(w));
    BC_CHECK(bc_poppins_load(ipath, &p) == BC_ERR_FORMAT && strstr(bc_last_error(), "w.txt:2: 2 weight rows, expected 3"));
    BC_CHECK(bc_poppins_load("/nonexistent/x.ini", &p) == BC_ERR_IO && strstr(bc_last_error(), "/nonexistent/x.ini"));

    /* stimulus schedules */
    const char *good = "[population]\nname = s\nneurons = 2\n[population]\nname = d\nneurons = 3\n";
    BC_CHECK(bc_poppins_parse_text(good, "g.ini", NULL, &p) == BC_OK);
    char spath[256];
    snprintf(spath, sizeof spath, "%s/stim.csv", dir);
    const char *csv = "step,population,neuron,current\n0,s,1,40\n# comment\n5, d, 2, -7\n5,1,0,3\n";
    bc_t_write_raw(spath, csv, strlen(csv));
    bc_poppins_stim_event *ev = NULL;
    int64_t ne = 0;
    BC_CHECK_MSG(bc_poppins_stimulus_load(p, spath, &ev, &ne) == BC_OK, "%s", bc_last_error());
    BC_CHECK(ne == 3 && ev && ev[0].neuron == 1 && ev[0].current == 40 && ev[1].step == 5 && ev[1].neuron == 4 &&
             ev[1].current == -7 && ev[2].neuron == 2);
    free(ev);
    static const struct { const char *csv, *msg; } bad[] = {
        {"0,s,2,40\n", "stim.csv:1: neuron '2': expected an integer in [0, 1]"},
        {"0,x,0,40\n", "stim.csv:1: population 'x'"},
        {"3,s,0,1\n2,s,0,1\n", "stim.csv:2: step 2 comes after step 3"},
        {"0,s,0\n", "stim.csv:1: 3 fields"},
        {"-1,s,0,1\n", "stim.csv:1: step '-1'"},
        {"0,s,0,9999999999\n", "stim.csv:1: current '9999999999'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bc_t_write_raw(spath, bad[i].csv, strlen(bad[i].csv));
        ev = NULL;
        BC_CHECK(bc_poppins_stimulus_load(p, spath, &ev, &ne) == BC_ERR_FORMAT && ev == NULL);
        BC_CHECK_MSG(strstr(bc_last_error(), bad[i].msg) != NULL, "'%s' lacks '%s'", bc_last_error(), bad[i].msg);
    }
    bc_poppins_free(p);
    unlink(wpath);
    unlink(ipath);
    unlink(spath);
    rmdir(dir);
}

/* ---------------------------------------------------------------- avoidance */

static void test_world(void) {
    bc_avoid_params ap = bc_avoid_params_default();
    bc__world w = {.side = 10, .n_obst = 1, .ox = {6}, .oy = {5}, .orad = {0.25}, .x = 5, .y = 5, .heading = 0};
    /* dead ahead at 0.75 m: the straight-ahead ray belongs to both fans */
    BC_CHECK_NEAR(bc__world_sense(&w, &ap, +1), 0.5, 1e-9);
    BC_CHECK_NEAR(bc__world_sense(&w, &ap, -1), 0.5, 1e-9);
    /* 60 degrees to the left, 1 m away: the left fan's outer ray hits at 0.75 m */
    w.ox[0] = 5 + cos(BC_T_PI / 3);
    w.oy[0] = 5 + sin(BC_T_PI / 3);
    BC_CHECK_NEAR(bc__world_sense(&w, &ap, +1), 0.5, 1e-9);
    BC_CHECK(bc__world_sense(&w, &ap, -1) == 0.0);
    /* behind: nothing; a wall 1 m ahead: 1 - 1/1.5 */
    w.ox[0] = 3;
    w.oy[0] = 5;
    w.x = 9;
    BC_CHECK_NEAR(bc__world_sense(&w, &ap, +1), 1.0 / 3.0, 1e-9);
    w.x = 5;
    BC_CHECK(bc__world_sense(&w, &ap, +1) == 0.0 && bc__world_sense(&w, &ap, -1) == 0.0);
    /* collisions: the agent's disc (0.15 m) against the obstacle and the walls */
    w.x = 3.41; /* 0.41 m from the centre: 0.01 m clear */
    BC_CHECK(!bc__world_collides(&w, &ap));
    w.x = 3.39;
    BC_CHECK(bc__world_collides(&w, &ap));
    w.x = 0.14;
    w.y = 5;
    BC_CHECK(bc__world_collides(&w, &ap));
    /* motion: a quarter turn left at 120 deg/s takes 0.75 s */
    w = (bc__world){.side = 10, .x = 5, .y = 5, .heading = 0};
    for (int i = 0; i < 750; i++) bc__world_move(&w, &ap, +1, 1e-3);
    BC_CHECK_NEAR(w.heading, BC_T_PI / 2, 1e-9);
    /* arenas are keyed by (seed, episode) */
    bc__world a, b;
    BC_CHECK(bc__world_make(&a, &ap, 5, 17) == BC_OK && bc__world_make(&b, &ap, 5, 17) == BC_OK);
    BC_CHECK(a.x == b.x && a.ox[3] == b.ox[3]);
    BC_CHECK(bc__world_make(&b, &ap, 5, 18) == BC_OK && a.ox[3] != b.ox[3]);
    BC_CHECK(!bc__world_collides(&a, &ap));
}

static void test_avoid(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/hw/poppins-avoid.ini", BC_SOURCE_DIR);
    bc_poppins *p = NULL;
    bc_ctx *ctx = NULL;
    BC_CHECK_MSG(bc_poppins_load(path, &p) == BC_OK, "%s", bc_last_error());
    BC_CHECK(bc_ctx_new(&ctx) == BC_OK);
    if (!p || !ctx) return;
    bc_avoid_params ap = bc_avoid_params_default();
    /* the threshold on a small sample (the 1 000-episode check is in docs/REPRODUCTION.md):
     * at least 95 % collision-free, decisions within the window */
    enum { N = 48 };
    bc_avoid_episode e1[N], e2[N];
    bc_avoid_summary s1, s2;
    ap.episode_s = 12;
    BC_CHECK(bc_ctx_set_threads(ctx, 2) == BC_OK);
    BC_CHECK_MSG(bc_avoid_run(ctx, p, &ap, 3, 0, N, e2, &s2) == BC_OK, "%s", bc_last_error());
    BC_CHECK_MSG(s2.collision_free * 100 >= 95 * N, "collision-free %lld of %d", (long long)s2.collision_free, N);
    BC_CHECK(s2.decisions > 0 && s2.latency_max >= 1 && s2.latency_max <= ap.window_steps);
    BC_CHECK(s2.stats.sops > 0 && s2.stats.acc_saturations == 0);
    /* the same bits with one thread */
    BC_CHECK(bc_ctx_set_threads(ctx, 1) == BC_OK);
    BC_CHECK(bc_avoid_run(ctx, p, &ap, 3, 0, N, e1, &s1) == BC_OK);
    int diff = 0;
    for (int i = 0; i < N; i++)
        diff += e1[i].collided != e2[i].collided || e1[i].steps != e2[i].steps || e1[i].decisions != e2[i].decisions ||
                e1[i].latency_sum != e2[i].latency_sum || e1[i].stats.sops != e2[i].stats.sops ||
                e1[i].stats.spikes != e2[i].stats.spikes;
    BC_CHECK_MSG(diff == 0, "%d episodes differ between 1 and 2 threads", diff);
    BC_CHECK(s1.collision_free == s2.collision_free && s1.stats.sops == s2.stats.sops);
    /* an episode alone (with a trace) is the same as inside a run */
    double tx[1000], ty[1000];
    bc_avoid_trace tr = {.stride = 20, .cap = 1000, .x = tx, .y = ty};
    bc_avoid_episode one;
    BC_CHECK(bc_avoid_episode_run(p, &ap, 3, 5, &one, &tr) == BC_OK);
    BC_CHECK(one.steps == e1[5].steps && one.stats.sops == e1[5].stats.sops && tr.n > 10 && tr.n_obst == ap.obstacles);
    /* a different seed gives different arenas */
    BC_CHECK(bc_avoid_run(ctx, p, &ap, 4, 0, N, e2, &s2) == BC_OK && s2.stats.sops != s1.stats.sops);

    /* the same agent with the sensor-to-decision projection cut drives blind: it must crash
     * (so the world does detect collisions and the network is what avoids them) */
    const char *blind =
        "[population]\nname = s\nneurons = 2\nrest = 62\nthreshold = 130\nreset = 50\na = 2\nb = 2\n"
        "[population]\nname = d\nneurons = 2\nrest = 62\nthreshold = 130\nreset = 50\na = 2\nb = 2\n";
    bc_poppins *q = NULL;
    BC_CHECK(bc_poppins_parse_text(blind, "blind.ini", NULL, &q) == BC_OK);
    ap.episode_s = 40;
    if (q) {
        BC_CHECK(bc_avoid_run(ctx, q, &ap, 3, 0, 16, NULL, &s1) == BC_OK);
        BC_CHECK_MSG(s1.collision_free <= 1, "blind agent: %lld of 16 collision-free", (long long)s1.collision_free);
        BC_CHECK(s1.decisions == 0);
    }
    bc_poppins_free(q);
    /* bad setups */
    const char *one_pop = "[population]\nneurons = 2\n";
    BC_CHECK(bc_poppins_parse_text(one_pop, "one.ini", NULL, &q) == BC_OK);
    if (q) BC_CHECK(bc_avoid_run(ctx, q, &ap, 3, 0, 1, NULL, &s1) == BC_ERR_PARAM && strstr(bc_last_error(), "two populations"));
    bc_poppins_free(q);
    ap = bc_avoid_params_default();
    ap.obstacles = 64;
    ap.obstacle_r_min_m = ap.obstacle_r_max_m = 2.0;
    BC_CHECK(bc_avoid_run(ctx, p, &ap, 3, 0, 1, NULL, &s1) == BC_ERR_PARAM && strstr(bc_last_error(), "too crowded"));
    bc_poppins_free(p);
    bc_ctx_free(ctx);
}

int main(void) {
    test_floor_shr();
    test_fmin();
    test_tonic_hand_trace();
    test_overflow_boundary();
    test_decay();
    test_noise();
    test_patterns();
    test_burst_pair();
    test_random_networks();
    test_scalar_vs_vector();
    test_delay_and_hierarchy();
    test_clone_reset();
    test_bad_files();
    test_world();
    test_avoid();
    return bc_t_report();
}
