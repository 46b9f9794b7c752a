/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The REST API of proto/rest.md on top of cm_http and cm_redis: routing, POST
 * /v1/callbacks (validate with gw_request, then one atomic Lua script that resolves the
 * device, stores the request and wakes the owning sip-edges) and GET /v1/callbacks/{id}.
 *
 * Ownership: the gw_api borrows the cm_redis it is given; the caller closes the Redis
 * client before stopping the HTTP server, so every request waiting on Redis is answered
 * (503) while its connection still exists.
 */
#ifndef GW_API_H
#define GW_API_H

#include <stdbool.h>

#include "cm/http.h"
#include "cm/redis.h"

/* Requests waiting on Redis at once; beyond this the API answers 503 at once. */
#define GW_API_INFLIGHT_MAX 4096

struct gw_api {
	struct cm_redis *redis; /* borrowed */
	long retention_s;	/* EXPIRE of beckon:req:<id> */
	unsigned inflight;
};

/* cm_http handler; data is the struct gw_api. */
void gw_api_handle(struct cm_http_req *req, void *data);

/* cm_http readiness for /readyz: Redis command connection up. data is the struct gw_api. */
bool gw_api_ready(void *data);

#endif
