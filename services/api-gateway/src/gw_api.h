/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP side of api-gateway on top of cm_http: the REST routes of proto/rest.md and the
 * SOAP endpoint POST /soap (proto/soap/). Each route turns its input into a gw_request or a
 * request id (gw_request / gw_soap), runs the one gw_store operation, and renders the result
 * as JSON or as a SOAP response or Fault.
 *
 * Ownership: the gw_api borrows the cm_redis in its store; the caller closes the Redis client
 * before stopping the HTTP server, so every request waiting on Redis is answered (503) while
 * its connection still exists.
 */
#ifndef GW_API_H
#define GW_API_H

#include <stdbool.h>
#include <stddef.h>

#include "cm/http.h"
#include "gw_store.h"

/* cm_http is given this many times max-body as its hard limit, so that a body a little over
 * max-body still reaches the handler and is refused in the caller's dialect (a SOAP Fault on
 * /soap); only far larger bodies are refused by cm_http itself before they are read. */
#define GW_API_HARD_BODY_FACTOR 4

struct gw_auth;

struct gw_api {
	struct gw_store store;
	struct gw_auth *auth;	  /* API keys (borrowed) */
	size_t max_body;	  /* 413 (or a Fault) beyond */
	struct gw_status *status; /* GET /status and /status.json (borrowed; NULL: none) */
	bool draining;		  /* shutting down: not ready, new requests 503 (gw_drain.h) */
};

/* cm_http handler; data is the struct gw_api. */
void gw_api_handle(struct cm_http_req *req, void *data);

/* cm_http handler of the metrics-listen port (no API key): GET /status and /status.json;
 * cm_http itself answers /metrics and the health endpoints there. data is the struct gw_api. */
void gw_api_handle_internal(struct cm_http_req *req, void *data);

/* cm_http readiness for /readyz: Redis command connection up. data is the struct gw_api. */
bool gw_api_ready(void *data);

#endif
