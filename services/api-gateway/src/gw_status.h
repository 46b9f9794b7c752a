/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The live status page: GET /status (an HTML page with a little JavaScript, embedded in the
 * binary) and GET /status.json, which the page polls every second. The JSON combines what
 * Redis knows (pending requests from beckon:deadlines, each live edge's
 * beckon:edge-stats:<edge-id> record listed from beckon:edges, the last failures from
 * beckon:recent-failures; one read-only script, no SCAN) with this gateway's own request
 * rate and latency, sampled from its metrics once a second into a ring.
 *
 * Ownership: the gw_status owns its timer; gw_status_stop closes it and frees the rest in
 * the close callback. The Redis client is borrowed.
 */
#ifndef GW_STATUS_H
#define GW_STATUS_H

#include <stdbool.h>

#include <uv.h>

#include "cm/http.h"
#include "cm/redis.h"

#define GW_STATUS_SAMPLES 120 /* seconds of request rate and latency kept for the chart */

struct gw_status;

/* Starts sampling. redis is borrowed and may be NULL'd later with gw_status_detach().
 * Returns 0 or -ENOMEM. */
int gw_status_start(uv_loop_t *loop, struct cm_redis *redis, struct gw_status **out);
/* Forgets the Redis client (before it is closed); /status.json then reports it down. */
void gw_status_detach(struct gw_status *s);
/* Stops the timer and frees s once it is closed. Safe on NULL. */
void gw_status_stop(struct gw_status *s);

/* Answers GET /status and /status.json (returns true), or returns false for other URLs. */
bool gw_status_handle(struct gw_status *s, struct cm_http_req *req);

#endif
