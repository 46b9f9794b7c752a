/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Graceful shutdown of an api-gateway (SIGTERM/SIGINT). main.c marks the API draining
 * (/readyz 503, new API requests 503 "shutting down": gw_drain_refuse), stops the outbox
 * consumer (entries it read but did not acknowledge are taken over by another gateway's
 * XAUTOCLAIM) and the liveness key, then waits here until the requests in flight have had
 * their Redis round trips: each in-flight request is a short chain of commands (API key
 * lookup, script load, create) on the one command connection, whose replies come in order,
 * so a few PINGs in a row, each sent after the previous one's reply, outlast every chain that
 * began before draining. Bounded by drain-timeout.
 */
#ifndef GW_DRAIN_H
#define GW_DRAIN_H

#include <uv.h>

#include "cm/http.h"
#include "cm/redis.h"

typedef void gw_drain_done_fn(void *data);

/* Waits as described, then calls done(data) once, on the loop (never from inside this
 * call). redis is borrowed (NULL or down: done comes on the next loop turn). Returns 0 or
 * -ENOMEM (then done is never called). */
int gw_drain_start(uv_loop_t *loop, struct cm_redis *redis, long timeout_s, gw_drain_done_fn *done,
		   void *data);

/* Answers req with 503 application/problem+json whose title says the gateway is shutting
 * down, and Retry-After: 1. */
void gw_drain_refuse(struct cm_http_req *req);

#endif
