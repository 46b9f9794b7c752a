/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NOTIFY sender: listens on beckon:edge:<edge-id>, and for each wake-up
 * "<ref> <binding-id> <entry-id>" (and each stream entry and request claimed by queued
 * delivery) reads the request and the binding in one script that also claims the target,
 * sends the NOTIFY over the binding's flow (in the SUBSCRIBE dialog when the binding
 * subscribed explicitly), records the outcome in the request (proto/redis.md) and retries
 * failed NOTIFYs with backoff until the request's deadline. Also sends the state NOTIFY that
 * follows a SUBSCRIBE.
 */
#ifndef SE_NOTIFY_H
#define SE_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm/redis.h"
#include "se_register.h"

#define SE_REQUEST_ID_MAX 128
#define SE_REF_MAX (64 + 1 + SE_REQUEST_ID_MAX) /* <client>:<request_id> */
#define SE_RETRIES_MAX 10000			/* retries scheduled at once */
#define SE_RETRY_CAP_S 30			/* longest backoff */
/* Status writes whose outcome was unknown, sent again (se_notify.c struct se_status_write). */
#define SE_STATUS_RETRIES_MAX 10000  /* waiting for their next attempt at once */
#define SE_STATUS_RETRY_FIRST_MS 250 /* first backoff, doubling... */
#define SE_STATUS_RETRY_CAP_MS 2000  /* ...up to this */
#define SE_STATUS_RETRY_FOR_MS 60000 /* given up after this (or the request's deadline) */

struct se_edge;

/* Subscribes to the edge's channel. Returns 0 or a negative errno. */
int se_notify_start(struct se_edge *e);

/* Destroys every NOTIFY transaction still in flight and every scheduled retry (their outcome
 * is not recorded); status writes still being retried are logged as abandoned. */
void se_notify_shutdown(struct se_edge *e);

/*
 * Splits a wake-up message "<ref> <binding-id>" at its last space into the ref (opaque to the
 * edge: 1..SE_REF_MAX printable non-space characters) and the binding id (32 lower-case hex
 * digits). Returns 0 or -EINVAL.
 */
int se_notify_parse_wakeup(const char *msg, size_t len, char ref[SE_REF_MAX + 1],
			   char bid[SE_BINDING_ID_LEN + 1]);

/* Longest stream entry id a doorbell may name ("<ms>-<seq>", two 64-bit numbers). */
#define SE_ENTRY_ID_MAX 41

/*
 * Splits a doorbell "<ref> <binding-id> <entry-id>" (proto/redis.md "Channels"): entry gets
 * the stream entry id ("<digits>-<digits>", at most SE_ENTRY_ID_MAX). The older form without
 * the entry id is accepted too (entry is then ""). Returns 0 or -EINVAL.
 */
int se_notify_parse_doorbell(const char *msg, size_t len, char ref[SE_REF_MAX + 1],
			     char bid[SE_BINDING_ID_LEN + 1], char entry[SE_ENTRY_ID_MAX + 1]);

/* True if ref[0..len) is a well-formed ref (see se_notify_parse_wakeup). */
bool se_ref_valid(const char *ref, size_t len);

/*
 * Sends request ref (NUL-terminated, copied) to binding bid as a wake-up would. Outcomes are
 * logged and recorded in Redis; nothing is returned or called back.
 */
void se_notify_ref(struct se_edge *e, const char *ref, const char *bid);
/* The same for a wake-up entry of the edge's stream (read from it, or named by a doorbell):
 * entry (the stream entry id, copied) is acknowledged and deleted (XACK, XDEL) once the target
 * has been claimed, skipped or handed on. */
void se_notify_entry(struct se_edge *e, const char *ref, const char *bid, const char *entry);

/* Shutdown, first step: every scheduled retry is handed back now (target
 * waiting:0:edge-shutdown); so are later failures and fetches (e->draining). NOTIFY
 * transactions in flight go on; status writes being retried are sent again at once. */
void se_notify_drain(struct se_edge *e);
/* Shutdown, last step: also destroys the NOTIFY transactions still in flight and hands their
 * targets back the same way. Their Redis updates are sent, not awaited. */
void se_notify_handback(struct se_edge *e);
/* NOTIFY transactions in flight. */
unsigned se_notify_in_flight(const struct se_edge *e);
/* Status writes whose outcome was unknown, still to land (a drain waits for them). */
unsigned se_notify_status_retries(const struct se_edge *e);

/* Where and how a NOTIFY goes. All strings are borrowed for the duration of the call. */
struct se_notify_dest {
	const char *uri;       /* Request-URI */
	const char *transport; /* of the binding: udp / tcp / tls */
	const char *source;    /* ip:port of the binding (UDP next hop) */
	const char *flow;      /* flow id (TCP/TLS) */
	const char *from, *to; /* header values */
	const char *call_id;
	uint32_t cseq;
	const char *route; /* Route header value, "" for none */
	/* over UDP: where the NOTIFY goes instead of `source` (the first RFC 3327 Path hop of
	 * the binding), or NULL */
	const char *next_hop;
	const char *event; /* Event header value */
	const char *state; /* Subscription-State header value */
};

/*
 * Sends the state NOTIFY of a SUBSCRIBE dialog to binding bid: body (records, may be empty)
 * with content_type, or no body when content_type is NULL (final NOTIFY). refs[0..n) are the
 * requests the body lists; each is recorded sent, then delivered or failed (retried
 * one by one) by the answer. Returns 0, or a negative errno when the NOTIFY could not be
 * created (the refs are then scheduled for retry or failed, and that is logged).
 */
int se_notify_state(struct se_edge *e, const char *bid, const struct se_notify_dest *d,
		    const char *content_type, const char *body, size_t len, char *const *refs,
		    size_t n);

/* The status script (proto/redis.md "Lifecycle"); exposed for the unit tests. */
extern struct cm_redis_script se_status_script;

#endif
