/* The avoidance agent's world: a walled square arena with random circular obstacles, two
 * proximity sensors made of ray fans, unicycle kinematics. Every random draw is keyed by
 * (seed, BC_RNG_POPPINS_WORLD, episode), so episode k is the same arena for any thread count. */
#include "snn/world.h"

#include <math.h>

#define BC__PI 3.14159265358979323846

static double bc__world_u(bc_rng_key k, uint64_t *ctr) { return (double)bc_rng_uniform(k, (*ctr)++); }

/* Free distance from the agent's centre at (x, y) to the nearest wall or obstacle surface. */
static double bc__world_clearance(const bc__world *w, double x, double y) {
    double c = fmin(fmin(x, w->side - x), fmin(y, w->side - y));
    for (int32_t i = 0; i < w->n_obst; i++) c = fmin(c, hypot(x - w->ox[i], y - w->oy[i]) - w->orad[i]);
    return c;
}

bc_status bc__world_make(bc__world *w, const bc_avoid_params *ap, uint64_t seed, int64_t episode) {
    bc_rng_key k = {.seed = seed, .purpose = BC_RNG_POPPINS_WORLD, .chip = (uint32_t)episode,
                    .layer = (uint32_t)((uint64_t)episode >> 32)};
    uint64_t ctr = 0;
    w->side = ap->arena_m;
    w->n_obst = ap->obstacles;
    for (int32_t i = 0; i < w->n_obst; i++) {
        double r = ap->obstacle_r_min_m + (ap->obstacle_r_max_m - ap->obstacle_r_min_m) * bc__world_u(k, &ctr);
        w->orad[i] = r;
        w->ox[i] = r + (w->side - 2 * r) * bc__world_u(k, &ctr);
        w->oy[i] = r + (w->side - 2 * r) * bc__world_u(k, &ctr);
    }
    for (int tries = 0; tries < 10000; tries++) {
        double x = w->side * bc__world_u(k, &ctr), y = w->side * bc__world_u(k, &ctr);
        double h = 2 * BC__PI * bc__world_u(k, &ctr);
        if (bc__world_clearance(w, x, y) >= ap->agent_radius_m + ap->start_clearance_m) {
            w->x = x;
            w->y = y;
            w->heading = h;
            return BC_OK;
        }
    }
    return bc__fail(BC_ERR_PARAM, "avoid: episode %lld: no start pose with %.2f m clearance (arena too crowded)",
                    (long long)episode, ap->start_clearance_m);
}

/* Distance along the unit ray (dx, dy) from the agent to the nearest surface, capped at range. */
static double bc__world_ray(const bc__world *w, double dx, double dy, double range) {
    double t = range;
    /* walls: x = 0, x = side, y = 0, y = side */
    if (dx > 1e-12) t = fmin(t, (w->side - w->x) / dx);
    if (dx < -1e-12) t = fmin(t, -w->x / dx);
    if (dy > 1e-12) t = fmin(t, (w->side - w->y) / dy);
    if (dy < -1e-12) t = fmin(t, -w->y / dy);
    for (int32_t i = 0; i < w->n_obst; i++) {
        /* |p + s d - c|^2 = r^2 with |d| = 1: s^2 + 2 b s + cc = 0 */
        double px = w->x - w->ox[i], py = w->y - w->oy[i];
        double b = px * dx + py * dy, cc = px * px + py * py - w->orad[i] * w->orad[i];
        if (cc > 0 && b > 0) continue; /* outside and pointing away */
        double disc = b * b - cc;
        if (disc < 0) continue;
        double s = -b - sqrt(disc);
        if (s < 0) s = 0; /* inside the obstacle: touching */
        t = fmin(t, s);
    }
    return t < 0 ? 0 : t;
}

double bc__world_sense(const bc__world *w, const bc_avoid_params *ap, int side) {
    double best = ap->sensor_range_m, fov = ap->sensor_fov_deg * BC__PI / 180.0;
    for (int32_t r = 0; r < ap->sensor_rays; r++) {
        double a = w->heading + side * fov * (ap->sensor_rays > 1 ? (double)r / (ap->sensor_rays - 1) : 0.5);
        best = fmin(best, bc__world_ray(w, cos(a), sin(a), ap->sensor_range_m));
    }
    return best >= ap->sensor_range_m ? 0.0 : 1.0 - best / ap->sensor_range_m;
}

void bc__world_move(bc__world *w, const bc_avoid_params *ap, int turn, double dt) {
    w->heading += turn * ap->turn_deg_s * (BC__PI / 180.0) * dt;
    w->x += ap->speed_m_s * dt * cos(w->heading);
    w->y += ap->speed_m_s * dt * sin(w->heading);
}

bool bc__world_collides(const bc__world *w, const bc_avoid_params *ap) {
    return bc__world_clearance(w, w->x, w->y) < ap->agent_radius_m;
}
