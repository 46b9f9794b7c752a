/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The expiry sweeper of the request lifecycle (proto/redis.md "Waiting for a device"): once a
 * second, one Lua script (the CM_LUA_LIFECYCLE prelude, so expiry follows the same rules and
 * sends the same receipts as every other status change) moves up to CM_SWEEPER_BATCH requests
 * whose deadline has passed to `expired`, and drops refs from beckon:deadlines whose request
 * hash is gone. Every api-gateway and sip-edge runs one; the script is atomic, so several
 * sweepers never expire a request twice. A full batch runs the next one at once.
 *
 * Ownership: the sweeper borrows loop and redis. cm_sweeper_stop() may be called before or
 * after the Redis client is closed; the sweeper frees itself once its timer is closed and no
 * script is in flight.
 */
#ifndef CM_SWEEPER_H
#define CM_SWEEPER_H

#include <uv.h>

struct cm_redis;
struct cm_sweeper;

#define CM_SWEEPER_INTERVAL_MS 1000
#define CM_SWEEPER_BATCH 100

/* Starts sweeping on loop with redis (borrowed). Returns 0 or -ENOMEM; *out is set on 0. */
int cm_sweeper_start(uv_loop_t *loop, struct cm_redis *redis, struct cm_sweeper **out);

/* Stops sweeping; frees s once nothing of it is pending. Safe on NULL. Do not use s after. */
void cm_sweeper_stop(struct cm_sweeper *s);

#endif
