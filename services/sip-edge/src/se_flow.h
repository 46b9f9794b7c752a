/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The edge's live flows: TCP/TLS connections that REGISTERs arrived on, each with an
 * edge-local id (the `flow` field of a binding in Redis) and a transport reference that keeps
 * the connection open and lets a NOTIFY go out on it. A tport_t only means something inside
 * this process, so this table never leaves it.
 *
 * Ownership: the table holds one reference per flow (taken with ref() when the flow is
 * created, dropped with unref() when its last binding goes and no REGISTER is in flight on
 * it, when the connection is seen closed, or in se_flows_destroy). The transport operations
 * are passed in so the unit tests can run without sofia.
 */
#ifndef SE_FLOW_H
#define SE_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SE_FLOWS_MAX 65536	 /* connections held at once */
#define SE_FLOW_BINDINGS_MAX 256 /* bindings on one connection */

struct se_flows;

struct se_flow_ops {
	void *(*ref)(void *tp);
	void (*unref)(void *tp);
	bool (*is_closed)(void *tp);
};

int se_flows_create(const struct se_flow_ops *ops, struct se_flows **out);
/* Drops every reference. Safe on NULL. */
void se_flows_destroy(struct se_flows *f);

/*
 * Finds or creates the flow of tp (borrowed) and marks one REGISTER in flight on it; the
 * caller must call se_flows_put() once that REGISTER is answered. Returns 0 with the id in
 * *id, or -ENOSPC at SE_FLOWS_MAX, -ENOMEM.
 */
int se_flows_get(struct se_flows *f, void *tp, uint64_t *id);
/* Ends the in-flight mark of se_flows_get; releases the flow if nothing is left on it. */
void se_flows_put(struct se_flows *f, uint64_t id);

/* Records (or refreshes) binding bid as living on flow id until expires_ms. Returns 0,
 * -ENOENT for an unknown flow, -ENOSPC at SE_FLOW_BINDINGS_MAX. */
int se_flows_bind(struct se_flows *f, uint64_t id, const char *bid, int64_t expires_ms);
/* Forgets binding bid on flow id (no-op if absent); releases an emptied flow. */
void se_flows_unbind(struct se_flows *f, uint64_t id, const char *bid);

/* The transport of flow id (borrowed), or NULL if unknown or closed (a closed flow stays
 * until se_flows_reap). */
void *se_flows_tport(struct se_flows *f, uint64_t id);

/* Drops bindings that expired before now_ms and flows left empty. Returns the number of
 * flows released. */
size_t se_flows_sweep(struct se_flows *f, int64_t now_ms);

/* Called by se_flows_reap once per live binding of a closed flow. */
typedef void se_flows_reap_f(void *ctx, uint64_t id, const char *bid);
/*
 * Broken-flow detection: for every flow whose connection is closed and that has no REGISTER
 * in flight, calls cb for each of its bindings that expire after now_ms, then releases the
 * flow. Returns the number of flows released.
 */
size_t se_flows_reap(struct se_flows *f, int64_t now_ms, se_flows_reap_f *cb, void *ctx);

size_t se_flows_count(const struct se_flows *f);

#endif
