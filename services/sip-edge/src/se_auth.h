/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Digest authentication at the edge, both ways. Incoming REGISTER and SUBSCRIBE are
 * challenged (401, MD5 or with auth-sha256 also SHA-256, qop=auth) and their
 * Authorization is checked against the HA1 stored in Redis under
 * beckon:cred:<realm>:<user> (proto/redis.md), with the arithmetic, nonces, replay window and
 * source blocking of se_digest.c. Outgoing NOTIFYs that the endpoint challenges (401/407) are
 * answered once with the device's own HA1 for the endpoint's realm.
 *
 * Ownership: struct se_auth belongs to the edge (e->auth, NULL when the `auth` setting is
 * off). Requests being checked hold their msg_t and a transport reference until answered or
 * handed to the continuation; they are counted in e->pending like every Redis call.
 */
#ifndef SE_AUTH_H
#define SE_AUTH_H

#include <stdbool.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/tport.h>

struct se_edge;
struct se_auth;

/* Creates the authenticator from e->cfg (realm, nonce ttl, failure limits). Returns 0 or a
 * negative errno. */
int se_auth_create(struct se_edge *e, struct se_auth **out);
void se_auth_destroy(struct se_auth *a);

/*
 * The transport that delivered msg, as a new reference (or NULL): nta only knows it while
 * the message is being delivered, so for a request handed over after the Redis lookup the
 * authenticator supplies the one it kept. Use instead of nta_incoming_transport(agent, NULL,
 * msg) in handlers that may run as an se_auth_ok_cb.
 */
tport_t *se_auth_transport(struct se_edge *e, msg_t *msg);

/* Called with an authenticated request; takes msg, as the registrar's handlers do. */
typedef void se_auth_ok_cb(struct se_edge *e, msg_t *msg, sip_t *sip);

/*
 * Authenticates the REGISTER or SUBSCRIBE msg (taken): answers it (401 challenge, 403 for a
 * blocked source or a user that does not match the request, 503 without Redis) or calls ok,
 * possibly later from a Redis callback. Never calls ok after se_edge_stop began.
 */
void se_auth_request(struct se_edge *e, msg_t *msg, sip_t *sip, se_auth_ok_cb *ok);

/*
 * Answer to a NOTIFY challenge: msg is the NOTIFY to send again (with Authorization, CSeq
 * raised, Via removed; the callee owns it), tp the transport to send it on (a reference the
 * callee releases, may be NULL) and route the UDP destination (NULL over TCP); or msg NULL and
 * why says what went wrong ("shutdown" once se_edge_stop began: only release then).
 */
typedef void se_auth_resend_cb(void *arg, msg_t *msg, tport_t *tp, const char *route,
			       const char *why);

/*
 * Starts answering the 401/407 resp to the NOTIFY transaction orq (still alive: the request
 * is copied now). Looks up the HA1 of the NOTIFY's To user for the challenge's realm, then
 * calls cb once. Returns 0, or a negative errno (no usable challenge, no memory, Redis down)
 * and then cb is never called.
 */
int se_auth_notify(struct se_edge *e, nta_outgoing_t *orq, const sip_t *resp, se_auth_resend_cb *cb,
		   void *arg);

/*
 * The same for a NOTIFY in the SUBSCRIBE dialog of package pkg stored in binding bid: the
 * resend takes the dialog's next CSeq (HINCRBY on the binding's sub:<pkg>:cseq, in the same
 * script as the HA1 lookup), so later NOTIFYs in the dialog stay above it. If the binding no
 * longer holds that dialog (other Call-ID), cb gets why = "dialog-gone".
 */
int se_auth_notify_dialog(struct se_edge *e, nta_outgoing_t *orq, const sip_t *resp,
			  const char *bid, const char *pkg, se_auth_resend_cb *cb, void *arg);

#endif
