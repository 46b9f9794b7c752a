/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One sip-edge instance: the sofia nta agent on the libuv loop (cm_su_uv), the Redis client,
 * the health server and the flow table, wired together. main.c creates it, runs the loop and
 * stops it on a signal; se_registrar.c and se_notify.c do the work.
 */
#ifndef SE_EDGE_H
#define SE_EDGE_H

#include <stdbool.h>
#include <stdint.h>

#include <sofia-sip/nta.h>
#include <uv.h>

#include "cm/http.h"
#include "cm/redis.h"
#include "cm/su_uv.h"
#include "se_config.h"
#include "se_flow.h"

#define SE_PENDING_MAX 20000 /* REGISTERs and NOTIFYs waiting on Redis or the network */
#define SE_CLAIM_MAX 100     /* pending requests sent to new bindings per REGISTER */
/* REGISTER load shedding (docs/performance.md): a REGISTER answered after T1 is useless (the UAC
 * has retransmitted) and each waiting one holds its msg_t (~47 kB over TCP). Past either bound
 * new REGISTERs get 503 + Retry-After at once instead of queueing. */
#define SE_REG_PENDING_MAX 1024 /* REGISTERs waiting on Redis */
#define SE_REG_LATE_MS 100	/* shed when the last answered one waited longer than this... */
#define SE_REG_SHED_MIN 64	/* ...and at least this many still wait */

struct se_notify;
struct se_status_write;
struct se_auth;
struct se_wake;
struct se_reg_batch;

struct se_edge {
	uv_loop_t *loop;
	const struct se_config *cfg; /* borrowed */
	su_root_t *root;
	struct cm_su_uv *su;
	nta_agent_t *agent;
	nta_leg_t *leg; /* never matches; only for nta_outgoing_tcreate */
	struct cm_redis *redis;
	struct cm_http *http;
	struct cm_sweeper *sweeper; /* expires requests past their deadline (cm/sweeper.h) */
	struct se_flows *flows;
	struct se_flowmark *flowmark; /* broken-flow detection (se_flowmark.h) */
	uv_timer_t sweep;
	bool sweep_init;
	char from[300];		    /* NOTIFY From URI, sip:beckon@<listen host> */
	char channel[128];	    /* beckon:edge:<edge-id> */
	unsigned pending;	    /* Redis calls and NOTIFY transactions outstanding */
	unsigned reg_pending;	    /* REGISTERs waiting on Redis (also counted in pending) */
	int64_t reg_wait_ms;	    /* how long the last answered REGISTER waited on Redis */
	unsigned reg_shed;	    /* REGISTERs refused by load shedding since the last log */
	int64_t reg_shed_log_ms;    /* when that was last logged */
	struct se_notify *notifies; /* NOTIFYs in flight, for shutdown */
	struct se_notify *retries;  /* NOTIFYs waiting for their next attempt */
	unsigned n_retries;
	/* status writes being retried after a lost reply (se_notify.c) */
	struct se_status_write *status_retries;
	unsigned n_status_retries;
	/* REGISTERs of this loop turn, sent as one script call (se_registrar.c) */
	struct se_reg_batch *reg_batch;
	struct se_auth *auth; /* digest authentication; NULL when the auth setting is off */
	/* register script arguments derived from the settings (LF-separated lists) */
	char pkg_list[SE_PACKAGES_MAX * (SE_PACKAGE_MAX + 1) + 1];
	char notices[SE_PACKAGES_MAX * (SE_PACKAGE_MAX + SE_URL_MAX + 2) + 1];
	struct se_wake *wake; /* stream reader and liveness key (se_wake.h) */
	bool draining;	      /* SIGTERM: handing work back (se_drain.h) */
	bool closing;
};

/*
 * Creates the edge on loop with cfg (borrowed; must outlive the edge): opens every SIP
 * transport, the health server and the Redis client, subscribes to the edge's channel.
 * Returns 0 or a negative errno after logging what failed; on failure *out is NULL and
 * everything created is torn down (the loop must still be run to close handles).
 */
int se_edge_start(uv_loop_t *loop, const struct se_config *cfg, struct se_edge **out);

/* Stops accepting work, lets outstanding Redis callbacks finish, releases every flow and
 * destroys the agent. Runs the loop itself while draining. Safe on NULL. */
void se_edge_stop(struct se_edge *e);

int64_t se_now_ms(void);

#endif
