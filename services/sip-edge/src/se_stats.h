/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The edge's metrics (cm/metrics.h, served at GET /metrics) and its liveness record for the
 * status page: every SE_STATS_PUBLISH_MS the edge writes `beckon:edge-stats:<edge-id>` (a
 * hash of its binding, flow, registration and NOTIFY counts, expiring after three periods)
 * and scores itself in `beckon:edges`, so api-gateway lists edges without a SCAN.
 *
 * The binding count is this edge's own view: bindings registered through it, until they
 * expire or are removed through it (a binding that moved to another edge is counted by
 * both until it expires here). At most SE_STATS_BINDINGS_MAX are tracked; beyond, the
 * count is a lower bound. One edge per process: the state is module-global.
 */
#ifndef SE_STATS_H
#define SE_STATS_H

#include <stdint.h>

#define SE_STATS_PUBLISH_MS 2000
#define SE_STATS_BINDINGS_MAX 16384

struct se_edge;

/* Registers the metrics and starts the publish timer. Returns 0 or a negative errno. */
int se_stats_start(struct se_edge *e);
/* Stops the timer (its handle is closed on the loop). Safe if never started. */
void se_stats_stop(struct se_edge *e);

/* A REGISTER answered with status over transport ("udp", "tcp", "tls"). */
void se_stats_register(int status, const char *transport);
/* Binding bid now lives until expires_ms (0: removed). */
void se_stats_binding(const char *bid, int64_t expires_ms);
/* A SUBSCRIBE answered with status. */
void se_stats_subscribe(int status);
/* A NOTIFY transaction started for a request created at created_ms (0: unknown, e.g. a
 * state NOTIFY). */
void se_stats_notify_sent(int64_t created_ms);
/* A NOTIFY transaction ended with status, rtt_s after it was sent. */
void se_stats_notify_answered(int status, double rtt_s, int64_t created_ms);

#endif
