/* The avoidance agent's 2-D world (world.c): a walled square arena with circular obstacles,
 * ray-fan proximity sensors, unicycle motion, collision tests. Plain geometry in doubles. */
#ifndef BC_SNN_WORLD_H
#define BC_SNN_WORLD_H

#include "bc_internal.h"
#include "bitcell_poppins.h"

#define BC__WORLD_MAX_OBST 64

typedef struct {
    double side;                   /* arena [0, side]^2 */
    int32_t n_obst;
    double ox[BC__WORLD_MAX_OBST], oy[BC__WORLD_MAX_OBST], orad[BC__WORLD_MAX_OBST];
    double x, y, heading;          /* agent pose: metres, radians */
} bc__world;

/* Obstacles and a start pose with start_clearance_m of free space, from the keyed RNG of
 * (seed, episode). BC_ERR_PARAM when no free start is found (arena too crowded). */
bc_status bc__world_make(bc__world *w, const bc_avoid_params *ap, uint64_t seed, int64_t episode);
/* Proximity in [0, 1] seen by the left (side = +1) or right (side = -1) sensor fan:
 * 1 - distance / range of the nearest hit over its rays, 0 when nothing is in range. */
double bc__world_sense(const bc__world *w, const bc_avoid_params *ap, int side);
/* Moves the agent for dt seconds turning at turn (+1 left, -1 right, 0 straight). */
void bc__world_move(bc__world *w, const bc_avoid_params *ap, int turn, double dt);
/* True when the agent's disc touches a wall or an obstacle. */
bool bc__world_collides(const bc__world *w, const bc_avoid_params *ap);

#endif
