/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Graceful shutdown of a sip-edge (SIGTERM; proto/redis.md "Liveness"). The liveness key goes
 * at once (gateways stop routing here) and wake-ups are no longer read; NOTIFY transactions in
 * flight may finish until shortly before drain-timeout; then every target the edge still holds
 * (retry scheduled, not yet sent, or still unanswered) goes back to its request as
 * waiting:0:edge-shutdown, to be sent when the device registers again on any edge. Its
 * unacknowledged stream entries stay. When Redis has answered those updates (or the time is
 * up) the loop is stopped; main.c then calls se_edge_stop.
 */
#ifndef SE_DRAIN_H
#define SE_DRAIN_H

struct se_edge;

/* Starts draining e, bounded by timeout_s seconds (>= 1). Returns 0, or -ENOMEM (then the
 * caller stops at once). Calls uv_stop(e->loop) when done; nothing else is called back. */
int se_drain_start(struct se_edge *e, long timeout_s);

#endif
