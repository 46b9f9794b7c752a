/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reliable wake-ups and liveness of one sip-edge (proto/redis.md "Channels", "Liveness").
 * The edge keeps beckon:alive:edge:<edge-id> alive (SET PX 3000 every second) so gateways
 * know whether it can take work, and reads its stream beckon:wake:<edge-id> through the
 * consumer group `sip-edge` (consumer = edge id): at start and after every Redis reconnect
 * its own unacknowledged entries first (ID 0), then new ones (`>`). A doorbell on
 * beckon:edge:<edge-id> names its entry, which se_notify fetches at once without a stream read
 * (the fetch script deletes it); a doorbell without one makes it read at once; a 1 s poll is the
 * safety net. Never BLOCKs: the command connection is shared.
 */
#ifndef SE_WAKE_H
#define SE_WAKE_H

#include <stdbool.h>

#define SE_KEY_WAKE "beckon:wake:"	       /* + edge id: stream of wake-ups */
#define SE_KEY_ALIVE_EDGE "beckon:alive:edge:" /* + edge id: liveness key, value = token */
#define SE_WAKE_GROUP "sip-edge"
#define SE_WAKE_MAXLEN "100000"
#define SE_WAKE_TOKEN_MAX 128 /* "<edge-id>/<pid>/<start-ms>" */

struct se_edge;
struct se_wake;

/* Creates the reader of e (timers on e->loop, nothing sent yet) into e->wake. Returns 0 or
 * -ENOMEM. */
int se_wake_start(struct se_edge *e);
/* Redis (re)connected: refreshes the liveness key, creates the group if needed and reads
 * the edge's pending entries again from ID 0. */
void se_wake_connected(struct se_edge *e);
/* A doorbell rang (or anything else that may have added entries): reads now. */
void se_wake_kick(struct se_edge *e);
/* Shutdown began: deletes the liveness key and stops reading. */
void se_wake_drain(struct se_edge *e);
/* Closes the timers; the struct is freed by their close callbacks. Safe on NULL e->wake. */
void se_wake_stop(struct se_edge *e);
/* This process's instance token (borrowed, lives as long as e). */
const char *se_wake_token(const struct se_edge *e);

#endif
