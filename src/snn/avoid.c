/* The closed loop of the avoidance agent: every decision window the two proximity readings
 * become the stimulus of population 0, the processor runs the window, and the first decision
 * group of population 1 to reach decision_spikes spikes sets the turn. Episodes run in
 * parallel over OpenMP, one processor copy per thread; results are stored per episode and
 * summed in episode order, so they do not depend on the thread count. */
#include "snn/poppins_internal.h"
#include "snn/world.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

bc_avoid_params bc_avoid_params_default(void) {
    return (bc_avoid_params){.arena_m = 10.0, .obstacles = 12, .obstacle_r_min_m = 0.25,
                             .obstacle_r_max_m = 0.6, .agent_radius_m = 0.15, .speed_m_s = 0.5,
                             .turn_deg_s = 120.0, .sensor_range_m = 1.5, .sensor_fov_deg = 60.0,
                             .sensor_rays = 5, .stim_max = 60, .stim_min = 12, .window_steps = 20,
                             .decision_spikes = 3, .episode_s = 30.0, .start_clearance_m = 1.0};
}

bc_status bc_avoid_check(const bc_avoid_params *ap, const bc_poppins *p) {
#define NEED(c, ...) do { if (!(c)) return bc__fail(BC_ERR_PARAM, __VA_ARGS__); } while (0)
    NEED(ap->arena_m >= 1 && ap->arena_m <= 1000, "avoid: arena_m %g: expected [1, 1000]", ap->arena_m);
    NEED(ap->obstacles >= 0 && ap->obstacles <= 64, "avoid: obstacles %d: expected [0, 64]", (int)ap->obstacles);
    NEED(ap->obstacle_r_min_m > 0 && ap->obstacle_r_max_m >= ap->obstacle_r_min_m && 2 * ap->obstacle_r_max_m < ap->arena_m,
         "avoid: obstacle radius range [%g, %g] m does not fit the arena", ap->obstacle_r_min_m, ap->obstacle_r_max_m);
    NEED(ap->agent_radius_m > 0 && ap->speed_m_s > 0 && ap->turn_deg_s >= 0, "avoid: agent radius, speed and turn rate must be positive");
    NEED(ap->sensor_range_m > 0 && ap->sensor_fov_deg >= 0 && ap->sensor_fov_deg <= 180, "avoid: sensor range > 0 and field of view in [0, 180] degrees");
    NEED(ap->sensor_rays >= 1 && ap->sensor_rays <= 64, "avoid: sensor_rays %d: expected [1, 64]", (int)ap->sensor_rays);
    NEED(ap->window_steps >= 1 && ap->window_steps <= 32, "avoid: window_steps %d: expected [1, 32]", (int)ap->window_steps);
    NEED(ap->decision_spikes >= 1, "avoid: decision_spikes must be >= 1");
    NEED(ap->episode_s > 0 && ap->episode_s <= 1e5, "avoid: episode_s %g: expected (0, 1e5]", ap->episode_s);
    NEED(ap->start_clearance_m >= 0, "avoid: start_clearance_m must be >= 0");
    NEED(p->n_pops == 2, "avoid: the processor needs two populations (sensors, decision), it has %d", (int)p->n_pops);
    NEED(p->pop_n[0] % 2 == 0 && p->pop_n[1] % 2 == 0,
         "avoid: populations '%s' (%d) and '%s' (%d) must have even sizes: left half, right half",
         p->pop_name[0], (int)p->pop_n[0], p->pop_name[1], (int)p->pop_n[1]);
    NEED(ap->stim_min >= 0 && ap->stim_max >= ap->stim_min && ap->stim_max <= p->acc_hi,
         "avoid: stimulus range [%d, %d] must be non-negative and fit the accumulator", (int)ap->stim_min, (int)ap->stim_max);
#undef NEED
    return BC_OK;
}

static int32_t bc__avoid_stim(const bc_avoid_params *ap, double prox) {
    if (prox <= 0) return 0;
    return ap->stim_min + (int32_t)lround((ap->stim_max - ap->stim_min) * prox);
}

bc_status bc_avoid_episode_run(bc_poppins *p, const bc_avoid_params *ap, uint64_t seed, int64_t episode,
                               bc_avoid_episode *res, bc_avoid_trace *trace) {
    bc_status st = bc_avoid_check(ap, p);
    if (st) return st;
    memset(res, 0, sizeof *res);
    bc__world w;
    if ((st = bc__world_make(&w, ap, seed, episode))) return st;
    if (trace) {
        trace->n = 0;
        trace->n_obst = w.n_obst;
        for (int32_t i = 0; i < w.n_obst; i++) {
            trace->ox[i] = w.ox[i];
            trace->oy[i] = w.oy[i];
            trace->orad[i] = w.orad[i];
        }
    }
    bc_poppins_reset(p);
    bc_poppins_set_noise(p, seed, (uint32_t)episode);
    const int32_t ns = p->pop_n[0], nd = p->pop_n[1], d0 = p->pop_off[1];
    const double dt = p->chip.step_ms * 1e-3;
    const int64_t total = (int64_t)ceil(ap->episode_s / dt);
    int turn = 0;
    double prev_prox = 0;
    while (res->steps < total && !res->collided) {
        /* sense (sampled once per window) -> stimulus of the sensor population */
        double pl = bc__world_sense(&w, ap, +1), pr = bc__world_sense(&w, ap, -1);
        int32_t il = bc__avoid_stim(ap, pl), ir = bc__avoid_stim(ap, pr);
        for (int32_t i = 0; i < ns; i++) p->stim[i] = i < ns / 2 ? il : ir;
        if (ap->stim_max > p->stim_bound) p->stim_bound = ap->stim_max; /* what the vector step checks */
        bool onset = prev_prox <= 0 && fmax(pl, pr) > 0;
        prev_prox = fmax(pl, pr);
        /* the processor's window: the stimulus is fixed, so it runs ahead of the world */
        int32_t cl = 0, cr = 0, decided_at = 0, winner = 0;
        double t0 = bc__now();
        for (int32_t s = 1; s <= ap->window_steps; s++) {
            bc_poppins_step(p, &res->stats);
            if (decided_at) continue;
            for (int32_t f = 0; f < p->n_fired; f++) {
                int32_t j = p->fired[f] - d0;
                if (j < 0) continue;
                if (j < nd / 2) cl++;
                else cr++;
            }
            if (cl >= ap->decision_spikes || cr >= ap->decision_spikes) {
                decided_at = s;
                /* +1 turn left, -1 turn right; a tie goes to the side with more spikes, then
                 * away from the nearer obstacle, then left */
                winner = cl != cr ? (cl > cr ? +1 : -1) : (pl > pr ? -1 : +1);
            }
        }
        res->sim_seconds += bc__now() - t0;
        res->windows++;
        if (decided_at) {
            res->decisions++;
            res->latency_sum += decided_at;
            if (decided_at > res->latency_max) res->latency_max = decided_at;
            res->latency_hist[decided_at < 32 ? decided_at : 32]++;
        }
        if (onset) {
            res->onset_windows++;
            res->onset_decided += decided_at > 0;
        }
        /* the world over the same window: the new turn takes effect when it was decided */
        for (int32_t s = 1; s <= ap->window_steps && res->steps < total; s++) {
            if (decided_at && s == decided_at) turn = winner;
            bc__world_move(&w, ap, turn, dt);
            res->steps++;
            if (trace && trace->stride > 0 && res->steps % trace->stride == 0 && trace->n < trace->cap) {
                trace->x[trace->n] = w.x;
                trace->y[trace->n] = w.y;
                trace->n++;
            }
            if (bc__world_collides(&w, ap)) {
                res->collided = true;
                break;
            }
        }
        if (!decided_at) turn = 0; /* no winner in the window: go straight */
    }
    if (trace && trace->n < trace->cap) { /* the last pose (the collision point, if any) */
        trace->x[trace->n] = w.x;
        trace->y[trace->n] = w.y;
        trace->n++;
    }
    return BC_OK;
}

bc_status bc_avoid_run(bc_ctx *ctx, const bc_poppins *p, const bc_avoid_params *ap, uint64_t seed, int64_t first,
                       int64_t n, bc_avoid_episode *per_episode, bc_avoid_summary *sum) {
    bc_status st = bc_avoid_check(ap, p);
    if (st) return st;
    if (n < 1 || first < 0) return bc__fail(BC_ERR_PARAM, "avoid: %lld episodes from %lld", (long long)n, (long long)first);
    size_t bytes;
    if (!bc__mul_size((size_t)n, sizeof(bc_avoid_episode), &bytes)) return bc__fail(BC_ERR_NOMEM, "avoid: %lld episodes", (long long)n);
    bc_avoid_episode *ep = per_episode ? per_episode : malloc(bytes);
    bc_status *sts = calloc((size_t)n, sizeof *sts);
    char (*msgs)[256] = calloc((size_t)n, sizeof *msgs);
    if (!ep || !sts || !msgs) {
        if (!per_episode) free(ep);
        free(sts);
        free(msgs);
        return bc__fail(BC_ERR_NOMEM, "avoid: %lld episodes", (long long)n);
    }
    int32_t threads = ctx ? bc_ctx_threads(ctx) : 1;
    double t0 = bc__now();
#pragma omp parallel num_threads(threads)
    {
        bc_poppins *mine = NULL;
        bc_status cst = bc_poppins_clone(p, &mine);
#pragma omp for schedule(dynamic, 1)
        for (int64_t e = 0; e < n; e++) {
            sts[e] = cst ? cst : bc_avoid_episode_run(mine, ap, seed, first + e, &ep[e], NULL);
            if (sts[e]) snprintf(msgs[e], sizeof msgs[e], "%s", bc_last_error());
        }
        bc_poppins_free(mine);
    }
    memset(sum, 0, sizeof *sum);
    sum->wall_seconds = bc__now() - t0;
    for (int64_t e = 0; e < n && !st; e++) {
        if (sts[e]) {
            st = bc__fail(sts[e], "%s", msgs[e]);
            break;
        }
        const bc_avoid_episode *r = &ep[e];
        sum->episodes++;
        sum->collision_free += !r->collided;
        sum->decisions += r->decisions;
        sum->windows += r->windows;
        sum->onset_windows += r->onset_windows;
        sum->onset_decided += r->onset_decided;
        sum->latency_sum += r->latency_sum;
        if (r->latency_max > sum->latency_max) sum->latency_max = r->latency_max;
        for (int i = 0; i < 33; i++) sum->latency_hist[i] += r->latency_hist[i];
        sum->stats.steps += r->stats.steps;
        sum->stats.spikes += r->stats.spikes;
        sum->stats.sops += r->stats.sops;
        sum->stats.acc_saturations += r->stats.acc_saturations;
        sum->sim_seconds += r->sim_seconds;
    }
    if (!per_episode) free(ep);
    free(sts);
    free(msgs);
    return st;
}
