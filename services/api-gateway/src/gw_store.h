/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The callback operations behind both front ends (REST in gw_api.c, SOAP in gw_soap.c):
 * create, read, cancel and complete a request, each one Lua script or command against Redis
 * (proto/redis.md "Callback requests"). A front end turns its input into a struct gw_request
 * or a request id, calls one of these, and renders the struct gw_result it gets back; so status
 * codes, details and stored data cannot differ between REST and SOAP.
 *
 * Callback contract: every gw_store_* function calls cb exactly once, either before it
 * returns (refusals that need no Redis: validation, Redis down, too many in flight) or later
 * from a Redis reply callback on the loop. The result and everything it points to are
 * borrowed for the duration of cb.
 */
#ifndef GW_STORE_H
#define GW_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "cm/err.h"
#include "cm/redis.h"
#include "gw_fallback.h"
#include "gw_request.h"

/* Requests waiting on Redis at once; beyond this the answer is 503 at once. */
#define GW_STORE_INFLIGHT_MAX 4096
/* Bindings one request may address; a device with more gets the first ones by expiry. */
#define GW_STORE_TARGETS_MAX 64

/* 429 is not (yet) in cm/err.h's table: the gateway's one extra domain error. */

struct gw_store {
	struct cm_redis *redis; /* borrowed; NULL once closed */
	long retention_s;	/* EXPIRE of beckon:req:<ref>, at least the deadline + 60 s */
	long max_per_device;	/* pending requests per device (429 beyond) */
	long max_per_client;	/* pending requests per client (429 beyond) */
	const char *packages;	/* comma-separated; the first is the default package */
	char fallback[GW_FALLBACK_MAX]; /* gw_fallback_compile's rules; "" = off */
	unsigned inflight;
};

enum gw_op { GW_OP_CREATE, GW_OP_GET, GW_OP_CANCEL, GW_OP_COMPLETE };

struct gw_result {
	enum gw_op op;
	int err;		/* 0 or a CM_E_* code */
	unsigned status;	/* HTTP status of the REST answer (200, 202 or the error's) */
	const char *request_id; /* as asked; may be NULL for a refused body */
	char detail[GW_DETAIL_MAX + CM_DEVICE_MAX]; /* for an error */
	long retry_after;			    /* seconds, for CM_E_TOO_MANY */
	/* On success: for create {"request_id", "status"}; for the others the request as GET
	 * renders it (gw_record_render). */
	json_t *body;
};

typedef void gw_store_cb(const struct gw_result *res, void *data);

/*
 * Stores r (validated; r->client set) and wakes the owning edges. Takes r: the store frees
 * it (gw_request_free + free) when done, so r must be heap-allocated. Results: 202 (new,
 * status queued or failed), 200 (same request_id and body as an existing request: its
 * status), 400 (time_slot over), 404 (no subscribed binding and ttl_s 0), 409 (same
 * request_id, other body), 429, 500, 503.
 */
void gw_store_create(struct gw_store *s, struct gw_request *r, gw_store_cb *cb, void *data);

/*
 * GET, CANCEL or COMPLETE the request (client, id): id is checked against the request-id
 * grammar here (400). Results: 200 with the record, 404, 409 (cancel/complete not possible
 * from the current status, which the detail names), 503.
 */
void gw_store_op(struct gw_store *s, enum gw_op op, const char *client, const char *id,
		 gw_store_cb *cb, void *data);

#endif
