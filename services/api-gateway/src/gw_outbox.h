/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The outbox worker (proto/redis.md "Outbox"): reads the beckon:outbox stream through the
 * consumer group `gateways` and POSTs each entry's JSON body to its URL (receipts written by
 * transition(), registration notices written by sip-edge), with libcurl's multi interface on
 * the libuv loop. Failures are retried with backoff (1, 2, 4, 8 s; GW_OUTBOX_ATTEMPTS in
 * all), then the entry is acknowledged either way. Entries another gateway took and never
 * acknowledged (it died) are claimed after GW_OUTBOX_CLAIM_IDLE_MS.
 *
 * The stream is polled (XREADGROUP without BLOCK, every GW_OUTBOX_POLL_MS and at once after a
 * full batch), because the command connection is shared with the API and must never block.
 *
 * Ownership: borrows loop and redis. gw_outbox_stop() before cm_redis_close(); the worker
 * frees itself once its handles are closed and its Redis callbacks have run.
 */
#ifndef GW_OUTBOX_H
#define GW_OUTBOX_H

#include <uv.h>

#include "cm/redis.h"

#define GW_OUTBOX_GROUP "gateways"
#define GW_OUTBOX_POLL_MS 200
#define GW_OUTBOX_BATCH 32
#define GW_OUTBOX_JOBS_MAX 64 /* POSTs in flight or waiting for a retry */
#define GW_OUTBOX_ATTEMPTS 5
#define GW_OUTBOX_TIMEOUT_MS 5000
#define GW_OUTBOX_CLAIM_IDLE_MS 60000
#define GW_OUTBOX_BODY_MAX 65536

struct gw_outbox;

/* Starts the worker. Returns 0, -ENOMEM or -EIO (libcurl would not initialise). */
int gw_outbox_start(uv_loop_t *loop, struct cm_redis *redis, struct gw_outbox **out);

/* Stops it: POSTs in flight are abandoned unacknowledged (another gateway, or this one after a
 * restart, claims them later). Safe on NULL. */
void gw_outbox_stop(struct gw_outbox *o);

#endif
