/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway's liveness key (proto/redis.md "Liveness"): beckon:alive:gw:<gateway-id>, set
 * with PX 3000 every second while the process runs, deleted when it starts draining.
 * <gateway-id> is <hostname>-<pid>; the value is "<pid>/<start-ms>".
 */
#ifndef GW_ALIVE_H
#define GW_ALIVE_H

#include <uv.h>

#include "cm/redis.h"

#define GW_KEY_ALIVE_GW "beckon:alive:gw:"

struct gw_alive;

/* Starts the timer on loop; redis is borrowed and must outlive gw_alive_stop. Returns 0 or
 * -ENOMEM. */
int gw_alive_start(uv_loop_t *loop, struct cm_redis *redis, struct gw_alive **out);
/* Deletes the key (fire and forget) and closes the timer; frees a once closed. Safe on NULL. */
void gw_alive_stop(struct gw_alive *a);

#endif
