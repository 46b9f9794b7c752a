/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Broken-flow detection (RFC 5626 "flow failed", issue 5): once a second the flow table is
 * asked for TCP/TLS connections that closed (sofia has no close callback; tport_is_closed
 * tells), and every live binding that lived on one is marked in Redis with
 * `flow_state` = `broken:<ms>` (proto/redis.md "Bindings"). The gateway's create script then
 * does not target it (the target waits as `waiting:0:flow-broken`), a NOTIFY attempt hands it
 * to waiting, and the endpoint's next REGISTER clears the mark and delivers what waited.
 */
#ifndef SE_FLOWMARK_H
#define SE_FLOWMARK_H

struct se_edge;

#define SE_FLOWMARK_MS 1000 /* how often closed connections are looked for */

/* Starts the check on e->loop; e->flowmark holds it. Returns 0 or -ENOMEM. */
int se_flowmark_start(struct se_edge *e);
/* Stops it (safe when not started); Redis calls in flight finish on their own. */
void se_flowmark_stop(struct se_edge *e);

#endif
