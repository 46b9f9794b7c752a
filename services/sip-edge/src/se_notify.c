/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NOTIFY sending. A struct se_notify lives from the wake-up (or claim, or SUBSCRIBE) until
 * the last of its Redis calls, its client transaction and its retry timer are done: a small
 * reference count, one for the transaction, one per Redis call in flight, one for a
 * scheduled retry. It is freed only after its timer handle is closed.
 *
 * Over UDP the NOTIFY goes to the REGISTER's source address (route_url, no Route header
 * added) with the Contact (or the SUBSCRIBE's remote target) as Request-URI; over TCP it goes
 * on the held connection (NTATAG_TPORT). A binding registered through an RFC 3327 Path gets
 * the path as Route header, and over UDP goes to the first Path hop instead of the source.
 * Failures that never reach the wire get SIP-like codes: 0 flow-broken when the binding's
 * connection closed (the target waits for the next REGISTER; se_flowmark.h), 430 Flow Failed
 * (RFC 5626) for a state NOTIFY on a closed flow, 480 for binding-gone / not-subscribed, 503
 * when nta refuses to create the transaction or the edge is overloaded.
 *
 * Retries (proto/redis.md "Retries"): a timeout, 408, 5xx, 481, 404, 430 or 503 schedules
 * another attempt after 1, 2, 4 ... 30 s while the request's deadline allows. Every attempt
 * starts by re-reading the request and the binding in one script, so a binding that went
 * away or moved to another edge ends the retries: the target is then `waiting` (the request
 * stays in its pending set for the next registration) or handed to the new edge.
 * Out-of-dialog retries keep their Call-ID and raise the CSeq; in-dialog ones take the next
 * dialog CSeq. A 481 to an in-dialog NOTIFY drops the stored dialog first.
 */
#include "se_notify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/tport.h>

#include "cm/device.h"
#include "cm/lifecycle.h"
#include "cm/log.h"
#include "cm/payload.h"
#include "cm/str.h"
#include "se_auth.h"
#include "se_edge.h"
#include "se_fallback.h"
#include "se_lua.h"
#include "se_outbound.h"
#include "se_stats.h"
#include "se_wake.h"

#define REASON_MAX 64
#define DEADLINE_UNKNOWN INT64_MAX /* re-read from the request at the next attempt */

struct se_notify {
	struct se_edge *e;
	struct se_notify *next, **prevp;   /* in e->notifies while orq is set */
	struct se_notify *rnext, **rprevp; /* in e->retries while a retry is scheduled */
	unsigned refs;
	nta_outgoing_t *orq;
	uv_timer_t timer;
	bool timer_init;
	bool in_dialog; /* the last NOTIFY went in a SUBSCRIBE dialog */
	bool state;	/* a SUBSCRIBE's state NOTIFY listing ref[0..n_refs) */
	/* a 401/407 was answered once already (se_auth_notify) */
	bool auth_tried;
	unsigned tries; /* NOTIFYs sent by this object */
	int64_t deadline;
	int64_t created_ms; /* the request's, for the end-to-end histograms (0: unknown) */
	uint64_t sent_ns;   /* the last NOTIFY's, for its round-trip histogram */
	int last_code;
	char last_reason[REASON_MAX];
	char bid[SE_BINDING_ID_LEN + 1];
	char call_id[128];
	char pkg[SE_PACKAGE_MAX + 1];
	/* The Event of a resync NOTIFY (se_fallback.h), or "". */
	char fallback[SE_FALLBACK_EVENT_MAX + 1];
	char reqid[SE_REQUEST_ID_MAX + 1]; /* for logs; the ref until the request is read */
	/* The stream entry that woke this NOTIFY, acknowledged once the fetch handled it. */
	char entry[48];
	/* This object's claim id, "<instance token>#<n>" (se_wake.h): its own retries pass the
	 * fetch script's claim check, other objects' wake-ups for the same target do not. */
	char claim[SE_WAKE_TOKEN_MAX + 24];
	bool fetched; /* a fetch of n was sent (and may have claimed the target) */
	size_t n_refs;
	char ref[][SE_REF_MAX + 1];
};

/*
 * KEYS[1] beckon:req:<ref>. ARGV: binding id, event (sent, delivered, failed, moved), now,
 * SIP status, reason, wait ('1': a failure that may wait for the next registration), the
 * edge now owning the binding (moved), the edge channel prefix, the NOTIFY's claim id
 * (recorded with `sent`; a hand-over drops only our own claim), this edge's id when a waiting
 * target should also get an entry in its stream (shutdown hand-back), else "", and '1' when
 * this is a retry of a write whose outcome was unknown (struct se_status_write), else "".
 * Returns the request's status after the update, or nil if the request no longer exists.
 *
 * Safe to run again with the same arguments (a retry after a lost reply, a timeout or a short
 * WAIT, when the first run may have landed): a target that is delivered:/failed: already ends
 * the script before any write, so nothing is counted, stamped or published twice
 * (failed_targets, the outbox receipt of transition()), and transition() never moves a
 * request backwards. A retried failed/moved event is also dropped when the target's claim is
 * no longer this NOTIFY's: the first run landed (moved drops the claim) or another NOTIFY has
 * taken the target since, and either way an old failure must not overwrite it. A retried
 * delivered always applies: the device has the NOTIFY, whoever holds the claim.
 */
struct cm_redis_script se_status_script = {
    .source = CM_LUA_LIFECYCLE
    "local rk, bid, ev, now = KEYS[1], ARGV[1], ARGV[2], ARGV[3]\n"
    "local code, reason = ARGV[4], ARGV[5]\n"
    "local f = 'target:' .. bid\n"
    /* Every request hash has a status: none means the request is gone. */
    "local h = redis.call('HMGET', rk, 'status', f, 'pending', 'status_url', 'claim:' .. bid)\n"
    "local st, cur = h[1], h[2]\n"
    "if not st then return false end\n"
    /* Target states only move forward: queued -> sent -> delivered/failed. */
    "if cur and (string.sub(cur, 1, 10) == 'delivered:' or string.sub(cur, 1, 7) == 'failed:')\n"
    "  then return st end\n"
    "if ARGV[11] == '1' and ev ~= 'delivered' and h[5] ~= ARGV[9] then return st end\n"
    "local function fail(wait)\n"
    "  local dl = tonumber(redis.call('HGET', rk, 'deadline'))\n"
    "  if wait and dl and dl > tonumber(now) then\n"
    "    redis.call('HSET', rk, f, 'waiting:' .. code .. ':' .. reason)\n"
    /* Handed back at shutdown: also a new entry in our own stream, for this edge id back
     * with the same flows (restart in place), so it goes out without waiting for the
     * device's next REGISTER (which would re-target it too: edge_token, se_register.c). */
    "    if ARGV[10] ~= '' then\n"
    "      redis.call('XADD', '" SE_KEY_WAKE "' .. ARGV[10], 'MAXLEN', '~', " SE_WAKE_MAXLEN ",\n"
    "        '*', 'ref', ref_of(rk), 'bid', bid)\n"
    "    end\n"
    "    return st\n"
    "  end\n"
    "  redis.call('HSET', rk, f, 'failed:' .. code .. ':' .. reason)\n"
    "  local nf = redis.call('HINCRBY', rk, 'failed_targets', 1)\n"
    "  local nt = tonumber(redis.call('HGET', rk, 'targets')) or 1\n"
    /* failed only when every target failed; transition() keeps a delivered one. */
    "  if nf >= nt then\n"
    "    return (transition(rk, 'failed', now, {sip_status = code, reason = reason}))\n"
    "  end\n"
    "  return st\n"
    "end\n"
    "if ev == 'sent' then\n"
    "  redis.call('HSET', rk, f, 'sent', 'claim:' .. bid, ARGV[9])\n"
    "  redis.call('HINCRBY', rk, 'attempts', 1)\n"
    "  return (transition(rk, 'sent', now))\n"
    /* The target and the move in one HSET, from the fields read above (cm/lifecycle.h). */
    "elseif ev == 'delivered' then\n"
    "  return (transition_pre(rk, 'delivered', now, {sip_status = code, reason = reason},\n"
    "    st, h[3], h[4], {f, 'delivered:' .. code}))\n"
    "elseif ev == 'moved' then\n"
    /* Handed over only to a live edge (its stream entry survives a reconnect); a dead
     * edge's binding waits for the device's next registration. */
    "  local ne = ARGV[7]\n"
    "  if ne ~= '' and redis.call('EXISTS', '" SE_KEY_ALIVE_EDGE "' .. ne) == 1 then\n"
    "    local id = redis.call('XADD', '" SE_KEY_WAKE "' .. ne, 'MAXLEN', '~',\n"
    "      " SE_WAKE_MAXLEN ", '*', 'ref', ref_of(rk), 'bid', bid)\n"
    "    redis.call('PUBLISH', ARGV[8] .. ne, ref_of(rk) .. ' ' .. bid .. ' ' .. id)\n"
    "    redis.call('HSET', rk, f, 'queued')\n"
    "    if redis.call('HGET', rk, 'claim:' .. bid) == ARGV[9] then\n"
    "      redis.call('HDEL', rk, 'claim:' .. bid)\n"
    "    end\n"
    "    return st\n"
    "  end\n"
    "  return fail(true)\n"
    "end\n"
    "return fail(ARGV[6] == '1')\n",
};

/*
 * KEYS[1] beckon:req:<ref>, KEYS[2] beckon:binding:<bid>, KEYS[3] this edge's wake-up
 * stream. ARGV: now, this edge, default package, binding id, the NOTIFY's claim id, this
 * process's instance token, the stream entry that woke the NOTIFY (or ""), '1' for a retry.
 * An attempt claims a queued or sent target (`claim:<bid>` = claim id) unless another NOTIFY
 * of this process, or of another live edge, holds it ({'done', 'claimed'}), so a doorbell, a
 * stream entry and a re-read entry for one target send one NOTIFY; a claim of a dead process
 * (its liveness key gone or holding another token) does not count.
 * An 'ok' answer also records the attempt as `sent` (target, claim, attempts, transition()),
 * as the status script's 'sent' event did after the NOTIFY went out: the caller creates the
 * transaction right after, and a creation failure moves the target on through the status
 * script as before. Not for a retry past the deadline, which the caller fails instead.
 * The entry is acknowledged and deleted (XACK, XDEL: a doorbell that named it may have led
 * here before any stream read took it) when the answer needs no further write ('ok', 'final',
 * 'done', 'no-request'); for the others the caller does that after its status write.
 * Returns {'ok', request_id, payload, deadline, package, uri, aor, transport, source, flow,
 * expires, path, created [, dialog call_id, target, route, local, remote, event, expires,
 * cseq | fallback Event]} or {'no-request'}, {'final', status}, {'done', target}, {'gone'},
 * {'moved', edge}, {'broken', flow_state}, {'unsubscribed'}.
 */
static struct cm_redis_script fetch_script = {
    .source = CM_LUA_LIFECYCLE SE_LUA_HELPERS
    "local now, bk = tonumber(ARGV[1]), KEYS[2]\n"
    "local function ack()\n"
    "  if ARGV[7] ~= '' then\n"
    "    redis.call('XACK', KEYS[3], '" SE_WAKE_GROUP "', ARGV[7])\n"
    "    redis.call('XDEL', KEYS[3], ARGV[7])\n"
    "  end\n"
    "end\n"
    "local rq = redis.call('HMGET', KEYS[1], 'status', 'package', 'payload', 'request_id',\n"
    "  'deadline', 'target:' .. ARGV[4], 'created', 'claim:' .. ARGV[4], 'attempts',\n"
    "  'pending', 'status_url')\n"
    /* One HSET for the claim, the opt-in and (unless a retry past its deadline) `sent`,
     * with the move itself (transition_pre() on the fields read above, cm/lifecycle.h). */
    "local function sent(r, optin)\n"
    "  ack()\n"
    "  local f = {'claim:' .. ARGV[4], ARGV[5], 'optin:' .. ARGV[4], optin}\n"
    "  if ARGV[8] ~= '1' or (tonumber(rq[5]) and tonumber(rq[5]) > now) then\n"
    "    f[5], f[6] = 'target:' .. ARGV[4], 'sent'\n"
    "    f[7], f[8] = 'attempts', tostring((tonumber(rq[9]) or 0) + 1)\n"
    "    transition_pre(KEYS[1], 'sent', ARGV[1], nil, rq[1], rq[10], rq[11], f)\n"
    "  else\n"
    "    redis.call('HSET', KEYS[1], unpack(f))\n"
    "  end\n"
    "  return r\n"
    "end\n"
    "if not rq[1] then ack() return {'no-request'} end\n"
    "if rq[1] ~= 'queued' and rq[1] ~= 'sent' and rq[1] ~= 'delivered' then\n"
    "  ack() return {'final', rq[1]}\n"
    "end\n"
    "local t = rq[6]\n"
    "if t and (string.sub(t, 1, 10) == 'delivered:' or string.sub(t, 1, 7) == 'failed:') then\n"
    "  ack() return {'done', t}\n"
    "end\n"
    "local c = rq[8]\n"
    "if c and c ~= ARGV[5] and (t == 'queued' or t == 'sent') then\n"
    "  local tok = string.match(c, '^(.*)#') or c\n"
    "  if tok == ARGV[6] then ack() return {'done', 'claimed'} end\n"
    "  local ce = string.match(tok, '^([^/]+)/')\n"
    "  if ce and redis.call('GET', '" SE_KEY_ALIVE_EDGE "' .. ce) == tok then\n"
    "    ack() return {'done', 'claimed'}\n"
    "  end\n"
    "end\n"
    "local p = rq[2]\n"
    "if not p or p == '' then p = ARGV[3] end\n"
    /* Also what se_pkg() reads, so it only runs (one more HMGET) for an expired dialog. */
    "local b = redis.call('HMGET', bk, 'edge', 'uri', 'aor', 'transport', 'source', 'flow',\n"
    "  'expires', 'subscribed', 'flow_state', 'path', 'pkg:' .. p, 'sub:' .. p .. ':expires')\n"
    "if not b[1] or not (tonumber(b[7]) and tonumber(b[7]) > now) then return {'gone'} end\n"
    "if b[1] ~= ARGV[2] then return {'moved', b[1]} end\n"
    /* Its connection closed (se_flowmark.h): {'broken'}, wait for the next REGISTER. The
     * 'ok' reply carries the binding's RFC 3327 path after `expires`. */
    "if b[9] then return {'broken', b[9]} end\n"
    "local mode = b[11] or false\n"
    "if mode == 'subscribe' and not (tonumber(b[12]) and tonumber(b[12]) > now) then\n"
    "  mode = se_pkg(bk, p, now)\n"
    "end\n"
    "if not mode and p == ARGV[3] and b[8] == '1' then mode = 'accept' end\n"
    /* Not opted in: a resync NOTIFY if the request's fallback policy chose one (se_fallback.h). */
    "if not mode then\n"
    "  local fb = redis.call('HGET', KEYS[1], 'fallback:' .. ARGV[4])\n"
    "  if not fb then return {'unsubscribed'} end\n"
    "  return sent({'ok', rq[4] or '', '', rq[5] or '', p, b[2], b[3], b[4], b[5], b[6] or '',\n"
    "    b[7], b[10] or '', rq[7] or '', fb}, 'none')\n"
    "end\n"
    "local r = {'ok', rq[4] or '', rq[3] or '', rq[5] or '', p, b[2], b[3], b[4], b[5],\n"
    "  b[6] or '', b[7], b[10] or '', rq[7] or ''}\n"
    "if mode == 'subscribe' then\n"
    "  local pre = 'sub:' .. p .. ':'\n"
    "  local d = redis.call('HMGET', bk, pre .. 'call_id', pre .. 'target', pre .. 'route',\n"
    "    pre .. 'local', pre .. 'remote', pre .. 'event', pre .. 'expires')\n"
    "  for i = 1, 7 do r[#r+1] = d[i] or '' end\n"
    "  r[#r+1] = tostring(redis.call('HINCRBY', bk, pre .. 'cseq', 1))\n"
    "end\n"
    "return sent(r, mode)\n",
};

/* KEYS[1] binding. ARGV: package, dialog Call-ID, default package. Drops that dialog (a 481
 * said the endpoint no longer knows it); the implicit subscription, if any, remains. */
static struct cm_redis_script drop_dialog_script = {
    .source = SE_LUA_HELPERS
    "local bk, p = KEYS[1], ARGV[1]\n"
    "if redis.call('HGET', bk, 'sub:' .. p .. ':call_id') ~= ARGV[2] then return 0 end\n"
    "redis.call('HSET', bk, 'sub:' .. p .. ':expires', '0')\n"
    "se_pkg(bk, p, 1)\n"
    "se_set_subscribed(bk, ARGV[3])\n"
    "return 1\n",
};

bool se_ref_valid(const char *ref, size_t len)
{
	if (len == 0 || len > SE_REF_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)ref[i] <= 0x20 || (unsigned char)ref[i] >= 0x7f)
			return false;
	}
	return true;
}

int se_notify_parse_doorbell(const char *msg, size_t len, char ref[SE_REF_MAX + 1],
			     char bid[SE_BINDING_ID_LEN + 1], char entry[SE_ENTRY_ID_MAX + 1])
{
	size_t i = len, dash = 0;

	entry[0] = '\0';
	/* A trailing " <ms>-<seq>" (digits, one dash) is the stream entry; without it, the
	 * message is the older "<ref> <bid>", which only rings. */
	while (i > 0 && msg[i - 1] != ' ') {
		char c = msg[i - 1];
		if (c == '-' && !dash)
			dash = i - 1;
		else if (c < '0' || c > '9')
			return se_notify_parse_wakeup(msg, len, ref, bid);
		i--;
	}
	if (i == 0 || !dash || dash == i || dash == len - 1 || len - i > SE_ENTRY_ID_MAX)
		return se_notify_parse_wakeup(msg, len, ref, bid);
	if (se_notify_parse_wakeup(msg, i - 1, ref, bid) < 0)
		return -EINVAL;
	memcpy(entry, msg + i, len - i);
	entry[len - i] = '\0';
	return 0;
}

int se_notify_parse_wakeup(const char *msg, size_t len, char ref[SE_REF_MAX + 1],
			   char bid[SE_BINDING_ID_LEN + 1])
{
	size_t rlen;

	if (len < SE_BINDING_ID_LEN + 2 || msg[len - SE_BINDING_ID_LEN - 1] != ' ')
		return -EINVAL;
	rlen = len - SE_BINDING_ID_LEN - 1;
	if (!se_ref_valid(msg, rlen))
		return -EINVAL;
	for (size_t i = 0; i < SE_BINDING_ID_LEN; i++) {
		char c = msg[rlen + 1 + i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -EINVAL;
	}
	memcpy(ref, msg, rlen);
	ref[rlen] = '\0';
	memcpy(bid, msg + rlen + 1, SE_BINDING_ID_LEN);
	bid[SE_BINDING_ID_LEN] = '\0';
	return 0;
}

static struct se_notify *notify_new(struct se_edge *e, const char *bid, size_t n_refs)
{
	/* At least one (empty) ref, so logs may always name ref[0]. */
	struct se_notify *n = calloc(1, sizeof(*n) + (n_refs ? n_refs : 1) * sizeof(n->ref[0]));

	if (!n)
		return NULL;
	n->e = e;
	n->refs = 1;
	n->n_refs = n_refs;
	n->deadline = DEADLINE_UNKNOWN;
	cm_snprintf(n->bid, sizeof(n->bid), "%s", bid);
	{
		static unsigned long long seq;
		cm_snprintf(n->claim, sizeof(n->claim), "%s#%llu", se_wake_token(e), ++seq);
	}
	return n;
}

static void on_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

static void notify_unref(struct se_notify *n)
{
	if (--n->refs > 0)
		return;
	if (n->timer_init) {
		n->timer.data = n;
		uv_close((uv_handle_t *)&n->timer, on_timer_closed);
	} else {
		free(n);
	}
}

/*
 * One status write (se_status_script) with its own copy of the arguments, so it can be sent
 * again after its NOTIFY object is gone. When its outcome is unknown (no reply: disconnect or
 * redis-timeout-ms; a NOREPLICAS answer from cm_redis's WAIT; a READONLY, LOADING, BUSY or
 * MASTERDOWN refusal, after which the script did not write; or Redis unreachable when it
 * was due) it is sent again after 250 ms, doubling up to 2 s, until it lands, until the
 * request's deadline or SE_STATUS_RETRY_FOR_MS after the first attempt (at least one retry),
 * or until shutdown.
 * An error reply that says the script ran and refused is final. The script makes a second
 * run harmless (see se_status_script). Only `sent` is never retried: the answer's own write
 * (delivered or failed) follows it and moves the target on from queued as well.
 * In e->status_retries (counted by e->n_status_retries, at most SE_STATUS_RETRIES_MAX) from
 * its first retry until it ends; freed only after its timer handle is closed.
 */
struct se_status_write {
	struct se_edge *e;
	struct se_status_write *next, **prevp; /* in e->status_retries while retrying */
	uv_timer_t timer;
	bool timer_init;
	bool inflight;	/* its script call's callback is still to come */
	unsigned tries; /* retries sent */
	int64_t first_ms, give_up_ms;
	char key[sizeof(CM_KEY_REQUEST) + SE_REF_MAX];
	char bid[SE_BINDING_ID_LEN + 1];
	char ev[12];
	char code[12];
	char reason[REASON_MAX];
	char wait[2];
	char new_edge[SE_EDGE_ID_MAX + 1];
	char claim[SE_WAKE_TOKEN_MAX + 24];
	char home[SE_EDGE_ID_MAX + 1]; /* ARGV[10]: this edge's id for a shutdown hand-back */
	char reqid[SE_REQUEST_ID_MAX + 1];
};

static void sw_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

static void sw_free(struct se_status_write *w)
{
	if (w->prevp) {
		*w->prevp = w->next;
		if (w->next)
			w->next->prevp = w->prevp;
		w->prevp = NULL;
		w->e->n_status_retries--;
	}
	if (w->timer_init) {
		uv_timer_stop(&w->timer);
		uv_close((uv_handle_t *)&w->timer, sw_timer_closed);
	} else {
		free(w);
	}
}

static int sw_send(struct se_status_write *w);
static void sw_unknown(struct se_status_write *w, const char *why);

static void sw_on_timer(uv_timer_t *t)
{
	struct se_status_write *w = t->data;
	int rc;

	w->tries++;
	rc = sw_send(w);
	if (rc < 0)
		sw_unknown(w, strerror(-rc)); /* Redis still away (-ENOTCONN): as a lost reply */
}

/* The outcome of w is unknown: schedules its next attempt, or gives up (and frees w). */
static void sw_unknown(struct se_status_write *w, const char *why)
{
	struct se_edge *e = w->e;
	int64_t now = se_now_ms();
	uint64_t delay = SE_STATUS_RETRY_FIRST_MS;

	if (e->closing) {
		cm_log_error("status update abandoned request-id=%s binding=%s status=%s: "
			     "shutting down (%s)",
			     w->reqid, w->bid, w->ev, why);
		sw_free(w);
		return;
	}
	if (w->tries > 0 && now >= w->give_up_ms) {
		cm_log_error("status update given up request-id=%s binding=%s status=%s after %u "
			     "retries over %lld ms: %s",
			     w->reqid, w->bid, w->ev, w->tries, (long long)(now - w->first_ms),
			     why);
		sw_free(w);
		return;
	}
	if (!w->prevp) {
		if (e->n_status_retries >= SE_STATUS_RETRIES_MAX) {
			cm_log_error("status update lost request-id=%s binding=%s status=%s: %s; "
				     "retry limit (%d) reached, not retried",
				     w->reqid, w->bid, w->ev, why, SE_STATUS_RETRIES_MAX);
			sw_free(w);
			return;
		}
		uv_timer_init(e->loop, &w->timer);
		w->timer.data = w;
		w->timer_init = true;
		w->next = e->status_retries;
		if (w->next)
			w->next->prevp = &w->next;
		w->prevp = &e->status_retries;
		e->status_retries = w;
		e->n_status_retries++;
	}
	for (unsigned i = 0; i < w->tries && delay < SE_STATUS_RETRY_CAP_MS; i++)
		delay *= 2;
	if (delay > SE_STATUS_RETRY_CAP_MS)
		delay = SE_STATUS_RETRY_CAP_MS;
	/* Draining: retried at once, within the drain's NOTIFY budget (se_drain.c). */
	if (e->draining && w->tries == 0)
		delay = 0;
	/* The first loss is a warning; later ones of the same write are not news. */
	cm_log(w->tries == 0 ? CM_LOG_WARN : CM_LOG_DEBUG,
	       "status update lost request-id=%s binding=%s status=%s: %s; retrying in %llu ms",
	       w->reqid, w->bid, w->ev, why, (unsigned long long)delay);
	uv_timer_start(&w->timer, sw_on_timer, delay, 0);
}

/* True for an error reply after which the script did not write or may not have taken
 * effect durably: worth sending again (status writes, fetch). Anything else is the script's
 * own refusal. */
static bool redis_outcome_unknown(const redisReply *reply)
{
	static const char *const codes[] = {"NOREPLICAS", "READONLY", "LOADING", "BUSY ",
					    "MASTERDOWN"};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		if (strncmp(reply->str, codes[i], strlen(codes[i])) == 0)
			return true;
	}
	return false;
}

static void status_done(struct cm_redis *r, redisReply *reply, void *data)
{
	struct se_status_write *w = data;
	bool retry = strcmp(w->ev, "sent") != 0;

	w->e->pending--;
	w->inflight = false;
	if (!reply && w->e->closing && !w->prevp) {
		sw_free(w); /* shutdown: not awaited, as before */
		return;
	}
	if (retry && !reply) {
		sw_unknown(w, "no reply (redis disconnected or timed out)");
		return;
	}
	if (retry && reply->type == REDIS_REPLY_ERROR && redis_outcome_unknown(reply)) {
		sw_unknown(w, reply->str);
		return;
	}
	if (reply && reply->type == REDIS_REPLY_ERROR)
		cm_log_error("status update failed request-id=%s binding=%s status=%s: %s",
			     w->reqid, w->bid, w->ev, reply->str);
	else if (!reply)
		cm_log_warn("status update lost request-id=%s binding=%s status=%s: redis "
			    "disconnected",
			    w->reqid, w->bid, w->ev);
	else if (w->tries > 0)
		cm_log_info("status update landed request-id=%s binding=%s status=%s after %u "
			    "retries (%lld ms)",
			    w->reqid, w->bid, w->ev, w->tries,
			    (long long)(se_now_ms() - w->first_ms));
	sw_free(w);
}

static int sw_send(struct se_status_write *w)
{
	char now[24];
	const char *argv[12];
	size_t argvlen[12];
	int rc;

	cm_snprintf(now, sizeof(now), "%lld", (long long)se_now_ms());
	argv[0] = w->key, argv[1] = w->bid, argv[2] = w->ev, argv[3] = now, argv[4] = w->code;
	argv[5] = w->reason, argv[6] = w->wait, argv[7] = w->new_edge;
	argv[8] = CM_KEY_EDGE_CHANNEL, argv[9] = w->claim, argv[10] = w->home;
	argv[11] = w->tries > 0 ? "1" : "";
	for (int k = 0; k < 12; k++)
		argvlen[k] = strlen(argv[k]);
	rc = cm_redis_eval(w->e->redis, &se_status_script, status_done, w, 1, 12, argv, argvlen);
	if (rc < 0)
		return rc;
	w->inflight = true;
	w->e->pending++;
	return 0;
}

/* Records ev for target n->bid of request n->ref[i]; a write whose outcome is unknown is
 * sent again (struct se_status_write). Failures are logged. */
static void status_update(struct se_notify *n, size_t i, const char *ev, int code,
			  const char *reason, bool wait, const char *new_edge)
{
	struct se_status_write *w;
	int rc;

	if (n->e->closing)
		return;
	w = calloc(1, sizeof(*w));
	if (!w) {
		cm_log_error("status update not sent request-id=%s binding=%s status=%s: out of "
			     "memory",
			     n->reqid, n->bid, ev);
		return;
	}
	w->e = n->e;
	w->first_ms = se_now_ms();
	w->give_up_ms = w->first_ms + SE_STATUS_RETRY_FOR_MS;
	/* A request past its deadline is expired by the sweeper, which delivered cannot undo. */
	if (n->deadline != DEADLINE_UNKNOWN && n->deadline > 0 && n->deadline < w->give_up_ms)
		w->give_up_ms = n->deadline;
	if (cm_snprintf(w->key, sizeof(w->key), "%s%s", CM_KEY_REQUEST, n->ref[i]) < 0 ||
	    cm_snprintf(w->new_edge, sizeof(w->new_edge), "%s", new_edge ? new_edge : "") < 0) {
		cm_log_error("status update not sent request-id=%s binding=%s status=%s: argument "
			     "too long",
			     n->reqid, n->bid, ev);
		free(w);
		return;
	}
	cm_snprintf(w->bid, sizeof(w->bid), "%s", n->bid);
	cm_snprintf(w->ev, sizeof(w->ev), "%s", ev);
	cm_snprintf(w->code, sizeof(w->code), "%d", code);
	cm_snprintf(w->reason, sizeof(w->reason), "%s", reason ? reason : "");
	cm_snprintf(w->wait, sizeof(w->wait), "%s", wait ? "1" : "0");
	cm_snprintf(w->claim, sizeof(w->claim), "%s", n->claim);
	cm_snprintf(w->home, sizeof(w->home), "%s",
		    n->e->draining && reason && strcmp(reason, "edge-shutdown") == 0
			? n->e->cfg->edge_id
			: "");
	cm_snprintf(w->reqid, sizeof(w->reqid), "%s", n->reqid);
	rc = sw_send(w);
	if (rc < 0 && strcmp(ev, "sent") != 0) {
		sw_unknown(w, strerror(-rc)); /* Redis away now: it may be back soon */
		return;
	}
	if (rc < 0) {
		cm_log_warn("status update not sent request-id=%s binding=%s status=%s: %s",
			    n->reqid, n->bid, ev, strerror(-rc));
		free(w);
	}
}

/* A failure before or instead of the wire that may wait for the binding's next registration. */
static void notify_wait(struct se_notify *n, int code, const char *reason)
{
	cm_log_warn("notify not sent request-id=%s ref=%s binding=%s status=%d reason=%s", n->reqid,
		    n->ref[0], n->bid, code, reason);
	for (size_t i = 0; i < n->n_refs; i++)
		status_update(n, i, "failed", code, reason, true, NULL);
}

/* Shutdown (se_drain.c): the target goes back to its pending set as waiting:0:edge-shutdown,
 * to be sent when the device registers again (on any edge). */
static void notify_handback(struct se_notify *n)
{
	cm_log_info("notify handed back request-id=%s ref=%s binding=%s: edge shutting down",
		    n->reqid, n->ref[0], n->bid);
	for (size_t i = 0; i < n->n_refs; i++)
		status_update(n, i, "failed", 0, "edge-shutdown", true, NULL);
}

static void notify_fail(struct se_notify *n, int code, const char *reason)
{
	cm_log_warn("notify failed request-id=%s ref=%s binding=%s status=%d reason=%s", n->reqid,
		    n->ref[0], n->bid, code, reason);
	for (size_t i = 0; i < n->n_refs; i++)
		status_update(n, i, "failed", code, reason, false, NULL);
}

static void track(struct se_notify *n)
{
	struct se_edge *e = n->e;

	n->next = e->notifies;
	if (n->next)
		n->next->prevp = &n->next;
	n->prevp = &e->notifies;
	e->notifies = n;
	n->refs++;
	e->pending++;
}

static void untrack(struct se_notify *n)
{
	*n->prevp = n->next;
	if (n->next)
		n->next->prevp = n->prevp;
	n->next = NULL;
	n->prevp = NULL;
	n->e->pending--;
}

static bool retryable(int status)
{
	return status == 404 || status == 408 || status == 430 || status == 481 ||
	       (status >= 500 && status < 600);
}

static unsigned backoff_s(unsigned tries)
{
	unsigned d = 1;

	for (unsigned i = 1; i < tries && d < SE_RETRY_CAP_S; i++)
		d *= 2;
	return d < SE_RETRY_CAP_S ? d : SE_RETRY_CAP_S;
}

static void fetch(struct se_notify *n);

/* Takes n off its edge's list of scheduled retries (the timer's reference stays with n). */
static void retry_unlink(struct se_notify *n)
{
	*n->rprevp = n->rnext;
	if (n->rnext)
		n->rnext->rprevp = n->rprevp;
	n->rnext = NULL;
	n->rprevp = NULL;
	n->e->n_retries--;
}

static void on_retry(uv_timer_t *t)
{
	struct se_notify *n = t->data;

	retry_unlink(n);
	if (!n->e->closing)
		fetch(n);
	notify_unref(n); /* the timer's reference */
}

/* Schedules another attempt of single-ref NOTIFY n after a retryable failure, or fails its
 * target when the deadline or the retry cap does not allow one. */
static void schedule_retry(struct se_notify *n, int code, const char *reason)
{
	struct se_edge *e = n->e;
	unsigned delay = backoff_s(n->tries);

	n->last_code = code;
	cm_snprintf(n->last_reason, sizeof(n->last_reason), "%s", reason);
	if (e->closing)
		return;
	if (e->draining) {
		notify_handback(n);
		return;
	}
	if (n->deadline != DEADLINE_UNKNOWN &&
	    (n->deadline <= 0 || se_now_ms() + (int64_t)delay * 1000 >= n->deadline)) {
		notify_fail(n, code, reason);
		return;
	}
	if (e->n_retries >= SE_RETRIES_MAX) {
		cm_log_warn("retry limit (%d) reached: not retrying request-id=%s binding=%s",
			    SE_RETRIES_MAX, n->reqid, n->bid);
		notify_fail(n, code, reason);
		return;
	}
	if (!n->timer_init) {
		uv_timer_init(e->loop, &n->timer);
		n->timer.data = n;
		n->timer_init = true;
	}
	uv_timer_start(&n->timer, on_retry, (uint64_t)delay * 1000, 0);
	n->rnext = e->retries;
	if (n->rnext)
		n->rnext->rprevp = &n->rnext;
	n->rprevp = &e->retries;
	e->retries = n;
	e->n_retries++;
	n->refs++;
	cm_log_info("notify retry request-id=%s ref=%s binding=%s status=%d in=%us attempt=%u",
		    n->reqid, n->ref[0], n->bid, code, delay, n->tries + 1);
}

/* The state NOTIFY of a SUBSCRIBE failed: each listed request goes on by itself. */
static void state_failed(struct se_notify *n, int code, const char *reason)
{
	for (size_t i = 0; i < n->n_refs; i++) {
		struct se_notify *r;

		if (!retryable(code)) {
			status_update(n, i, "failed", code, reason, false, NULL);
			continue;
		}
		r = notify_new(n->e, n->bid, 1);
		if (!r) {
			status_update(n, i, "failed", code, reason, false, NULL);
			continue;
		}
		memcpy(r->ref[0], n->ref[i], sizeof(r->ref[0]));
		cm_snprintf(r->reqid, sizeof(r->reqid), "%s", n->ref[i]);
		/* The state NOTIFY's `sent` recorded its claim: the retry carries it on. */
		memcpy(r->claim, n->claim, sizeof(r->claim));
		r->tries = 1;
		schedule_retry(r, code, reason);
		notify_unref(r);
	}
}

static void drop_done(struct cm_redis *r, redisReply *reply, void *data)
{
	struct se_edge *e = data;

	e->pending--;
	if (reply && reply->type == REDIS_REPLY_ERROR)
		cm_log_error("dropping a dialog failed: %s", reply->str);
}

static void drop_dialog(struct se_notify *n)
{
	char key[sizeof(CM_KEY_BINDING) + SE_BINDING_ID_LEN];
	const char *argv[4];
	size_t argvlen[4];

	cm_snprintf(key, sizeof(key), "%s%s", CM_KEY_BINDING, n->bid);
	argv[0] = key, argv[1] = n->pkg, argv[2] = n->call_id, argv[3] = SE_DEFAULT_PACKAGE;
	for (int i = 0; i < 4; i++)
		argvlen[i] = strlen(argv[i]);
	/* Fire and forget: the next attempt re-reads the binding either way. */
	if (cm_redis_eval(n->e->redis, &drop_dialog_script, drop_done, n->e, 1, 4, argv, argvlen) <
	    0) {
		cm_log_warn("cannot drop the dialog of binding=%s package=%s", n->bid, n->pkg);
		return;
	}
	n->e->pending++;
	cm_log_info("subscription dropped binding=%s package=%s call-id=%s: 481", n->bid, n->pkg,
		    n->call_id);
}

static int notify_answered(nta_outgoing_magic_t *magic, nta_outgoing_t *orq, sip_t const *sip);

/* se_auth_notify's answer: send the NOTIFY again with credentials, or record the challenge
 * as the final answer. Drops the lookup's reference. */
static void notify_reauth(void *arg, msg_t *msg, tport_t *tp, const char *route, const char *why)
{
	struct se_notify *n = arg;

	if (n->e->closing || !msg) {
		if (!n->e->closing)
			for (size_t i = 0; i < n->n_refs; i++)
				status_update(n, i, "failed", n->last_code, n->last_reason, false,
					      NULL);
		if (tp)
			tport_unref(tp);
		notify_unref(n);
		return;
	}
	track(n);
	n->orq = nta_outgoing_mcreate(n->e->agent, notify_answered, (nta_outgoing_magic_t *)n,
				      (const url_string_t *)route, msg,
				      TAG_IF(tp, NTATAG_TPORT(tp)), TAG_END());
	if (tp)
		tport_unref(tp);
	if (!n->orq) {
		msg_destroy(msg);
		untrack(n);
		n->refs--;
		for (size_t i = 0; i < n->n_refs; i++)
			status_update(n, i, "failed", 503, why ? why : "send-failed", false, NULL);
		notify_unref(n);
		return;
	}
	n->sent_ns = uv_hrtime();
	notify_unref(n);
}

static int notify_answered(nta_outgoing_magic_t *magic, nta_outgoing_t *orq, sip_t const *sip)
{
	struct se_notify *n = (struct se_notify *)magic;
	int status = sip && sip->sip_status ? sip->sip_status->st_status : nta_outgoing_status(orq);
	char phrase[REASON_MAX];
	bool bogus = status < 100 || status > 699;

	/* sofia's status parser takes any number ("SIP/2.0 020 OK" is 20): a status outside
	 * 100..699 is a broken answer, final, recorded as 500. */
	if (bogus)
		status = 500;
	if (status < 200)
		return 0;
	/* Copied: the response (and its phrase) goes away with the transaction below. */
	cm_snprintf(phrase, sizeof(phrase), "%s",
		    bogus ? "Invalid Status"
		    : sip && sip->sip_status && sip->sip_status->st_phrase
			? sip->sip_status->st_phrase
			: (sip_status_phrase(status) ? sip_status_phrase(status) : ""));
	for (char *p = phrase; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == ':')
			*p = ' '; /* target:<bid> is "failed:<code>:<reason>" */
	}
	cm_log_kv(CM_LOG_INFO,
		  CM_KV("request_id", n->reqid, "ref", n->ref[0], "binding", n->bid, "call_id",
			n->call_id),
		  "notify answered request-id=%s ref=%s binding=%s call-id=%s status=%d", n->reqid,
		  n->ref[0], n->bid, n->call_id, status);
	se_stats_notify_answered(status, (double)(uv_hrtime() - n->sent_ns) / 1e9, n->created_ms);
	/* In a SUBSCRIBE dialog (state NOTIFYs too) the resend takes the dialog's next CSeq
	 * from Redis, so the dialog's later NOTIFYs do not reuse it. */
	if ((status == 401 || status == 407) && !n->auth_tried &&
	    (n->in_dialog ? se_auth_notify_dialog(n->e, orq, sip, n->bid, n->pkg, notify_reauth, n)
			  : se_auth_notify(n->e, orq, sip, notify_reauth, n)) == 0) {
		/* Answered once with the device's credentials; the lookup holds a reference. */
		n->auth_tried = true;
		n->last_code = status;
		cm_snprintf(n->last_reason, sizeof(n->last_reason), "%s", phrase);
		n->refs++;
		nta_outgoing_destroy(orq);
		n->orq = NULL;
		untrack(n);
		notify_unref(n);
		return 0;
	}
	nta_outgoing_destroy(orq);
	n->orq = NULL;
	untrack(n);
	if (status == 481 && n->in_dialog)
		drop_dialog(n);
	if (status < 300) {
		for (size_t i = 0; i < n->n_refs; i++)
			status_update(n, i, "delivered", status, phrase, false, NULL);
	} else if (n->state) {
		state_failed(n, status, phrase);
	} else if (n->fallback[0] ? se_fallback_retryable(status) : retryable(status)) {
		schedule_retry(n, status, phrase);
	} else {
		for (size_t i = 0; i < n->n_refs; i++)
			status_update(n, i, "failed", status, phrase, false, NULL);
	}
	notify_unref(n);
	return 0;
}

static void new_call_id(struct se_notify *n)
{
	unsigned char rnd[12];
	static const char hex[] = "0123456789abcdef";
	char h[25];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		/* Uniqueness, not secrecy, is what a Call-ID needs. */
		static unsigned long seq;
		cm_snprintf(n->call_id, sizeof(n->call_id), "%lld-%lu@%s", (long long)se_now_ms(),
			    ++seq, n->e->cfg->edge_id);
		return;
	}
	for (size_t i = 0; i < sizeof(rnd); i++) {
		h[2 * i] = hex[rnd[i] >> 4];
		h[2 * i + 1] = hex[rnd[i] & 15];
	}
	h[24] = '\0';
	cm_snprintf(n->call_id, sizeof(n->call_id), "%s@%s", h, n->e->cfg->edge_id);
}

/*
 * Our Contact for a NOTIFY (RFC 6665 4.2.2 requires one; twinkle answers 400 "Contact header
 * missing" without it): the listening address of the connection's primary transport for a
 * flow, else the agent's own Contact. Leaves out empty when neither names a usable address.
 */
static void notify_contact(const struct se_edge *e, tport_t *tp, char *out, size_t size)
{
	const tp_name_t *tn = tp && tport_parent(tp) ? tport_name(tport_parent(tp)) : NULL;
	const sip_contact_t *m = nta_agent_contact(e->agent);
	const char *host = NULL, *port = NULL, *proto = NULL;

	out[0] = '\0';
	if (tn && tn->tpn_host && tn->tpn_port && strcmp(tn->tpn_host, "0.0.0.0") != 0 &&
	    strcmp(tn->tpn_host, "::") != 0) {
		host = tn->tpn_host;
		port = tn->tpn_port;
		proto = tn->tpn_proto;
	} else if (m && m->m_url->url_host) {
		host = m->m_url->url_host;
		port = m->m_url->url_port;
	}
	if (!host)
		return;
	bool bare6 = strchr(host, ':') && host[0] != '[';
	bool tls = proto && strcmp(proto, "tls") == 0;
	cm_snprintf(out, size, "<%s:beckon@%s%s%s%s%s%s%s>", tls ? "sips" : "sip", bare6 ? "[" : "",
		    host, bare6 ? "]" : "", port ? ":" : "", port ? port : "",
		    proto && !tls ? ";transport=" : "", proto && !tls ? proto : "");
}

/*
 * Creates the client transaction of n for d. Returns 0, -ENOTCONN when the binding's
 * connection is gone, -EINVAL for an unusable source, -EIO when nta refused.
 */
static int send_notify(struct se_notify *n, const struct se_notify_dest *d,
		       const char *content_type, const char *body)
{
	struct se_edge *e = n->e;
	char route[SE_PATH_MAX], cseq[24], contact[CM_HOST_MAX + 64];
	tport_t *tp = NULL;
	bool udp = strcmp(d->transport, "udp") == 0;

	if (udp && d->next_hop) {
		if (cm_snprintf(route, sizeof(route), "%s", d->next_hop) < 0)
			return -EINVAL;
	} else if (udp) {
		if (cm_snprintf(route, sizeof(route), "sip:%s;transport=udp", d->source) < 0)
			return -EINVAL;
	} else {
		tp = d->flow && *d->flow ? se_flows_tport(e->flows, strtoull(d->flow, NULL, 10))
					 : NULL;
		if (!tp)
			return -ENOTCONN;
	}
	cm_snprintf(cseq, sizeof(cseq), "%lu NOTIFY", (unsigned long)d->cseq);
	notify_contact(e, tp, contact, sizeof(contact));
	track(n);
	n->orq = nta_outgoing_tcreate(
	    e->leg, notify_answered, (nta_outgoing_magic_t *)n, udp ? (url_string_t *)route : NULL,
	    SIP_METHOD_NOTIFY, (url_string_t *)d->uri, TAG_IF(tp, NTATAG_TPORT(tp)),
	    SIPTAG_FROM_STR(d->from), SIPTAG_TO_STR(d->to), SIPTAG_CALL_ID_STR(d->call_id),
	    SIPTAG_CSEQ_STR(cseq), TAG_IF(d->route && *d->route, SIPTAG_ROUTE_STR(d->route)),
	    TAG_IF(contact[0], SIPTAG_CONTACT_STR(contact)), SIPTAG_EVENT_STR(d->event),
	    SIPTAG_SUBSCRIPTION_STATE_STR(d->state),
	    TAG_IF(content_type, SIPTAG_CONTENT_TYPE_STR(content_type)),
	    TAG_IF(content_type, SIPTAG_PAYLOAD_STR(body ? body : "")), TAG_END());
	if (!n->orq) {
		untrack(n);
		n->refs--; /* the transaction's reference; the caller still holds one */
		return -EIO;
	}
	n->tries++;
	n->sent_ns = uv_hrtime();
	se_stats_notify_sent(n->created_ms);
	return 0;
}

/* Strings of a fetch reply, by position. */
static const char *rstr(const redisReply *r, size_t i)
{
	return i < r->elements && r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str
									    : NULL;
}

static void send_single(struct se_notify *n, const redisReply *r)
{
	struct se_edge *e = n->e;
	const char *payload = rstr(r, 2), *deadline = rstr(r, 3), *pkg = rstr(r, 4);
	const char *uri = rstr(r, 5), *aor = rstr(r, 6), *exp = rstr(r, 10), *path = rstr(r, 11);
	char hop[SE_PATH_MAX];
	char ss[48], to[CM_DEVICE_MAX + 3], event[SE_PACKAGE_MAX + 80], ctype[SE_PACKAGE_MAX + 16];
	struct se_notify_dest d = {
	    .transport = rstr(r, 7), .source = rstr(r, 8), .flow = rstr(r, 9)};
	long long left;
	int rc;

	if (rstr(r, 1) && *rstr(r, 1))
		cm_snprintf(n->reqid, sizeof(n->reqid), "%s", rstr(r, 1));
	if (!n->created_ms && rstr(r, 12) && *rstr(r, 12))
		n->created_ms = strtoll(rstr(r, 12), NULL, 10);
	if (deadline && *deadline)
		n->deadline = strtoll(deadline, NULL, 10);
	else
		n->deadline = 0; /* a request without deadline is never retried */
	if (!payload || !pkg || !uri || !aor || !exp || !path || !d.transport || !d.source ||
	    !d.flow) {
		notify_fail(n, 500, "no-payload");
		return;
	}
	if (n->tries > 0 && n->deadline <= se_now_ms()) {
		/* A retry that outlived the request's deadline: give up with the last answer. */
		notify_fail(n, n->last_code ? n->last_code : 408,
			    n->last_reason[0] ? n->last_reason : "retries exhausted");
		return;
	}
	cm_snprintf(n->pkg, sizeof(n->pkg), "%s", pkg);
	cm_snprintf(ctype, sizeof(ctype), "application/%s", pkg);
	n->in_dialog = r->elements >= 21;
	n->fallback[0] = '\0';
	if (r->elements == 14) {
		if (!se_fallback_event_valid(rstr(r, 13))) {
			notify_fail(n, 500, "bad-fallback");
			return;
		}
		cm_snprintf(n->fallback, sizeof(n->fallback), "%s", rstr(r, 13));
	}
	if (n->in_dialog) {
		/* In the SUBSCRIBE dialog: its Call-ID, tags, CSeq, target, route set. */
		const char *sexp = rstr(r, 19);
		left = sexp ? (strtoll(sexp, NULL, 10) - se_now_ms()) / 1000 : 0;
		cm_snprintf(n->call_id, sizeof(n->call_id), "%s", rstr(r, 13) ? rstr(r, 13) : "");
		d.uri = rstr(r, 14);
		d.route = rstr(r, 15);
		d.from = rstr(r, 16);
		d.to = rstr(r, 17);
		d.event = rstr(r, 18);
		d.cseq = (uint32_t)strtoul(rstr(r, 20) ? rstr(r, 20) : "1", NULL, 10);
		if (!d.uri || !*d.uri || !d.from || !d.to || !d.event || !*n->call_id) {
			notify_fail(n, 500, "bad-dialog");
			return;
		}
	} else {
		left = (strtoll(exp, NULL, 10) - se_now_ms()) / 1000;
		if (n->tries == 0 || !n->call_id[0])
			new_call_id(n);
		cm_snprintf(to, sizeof(to), "<%s>", aor);
		cm_snprintf(event, sizeof(event), "%s", n->fallback[0] ? n->fallback : pkg);
		d.uri = uri;
		d.from = e->from;
		d.to = to;
		d.event = event;
		d.route = "";
		d.cseq = n->tries + 1;
		/* RFC 3327: through the recorded path, loose routing to its first hop. */
		if (*path) {
			if (se_path_first_hop(path, hop, sizeof(hop)) < 0) {
				notify_fail(n, 500, "bad-path");
				return;
			}
			d.route = path;
			d.next_hop = hop;
		}
	}
	if (left <= 0)
		left = 1;
	cm_snprintf(ss, sizeof(ss), "active;expires=%lld", left);
	d.state = ss;
	d.call_id = n->call_id;

	/* A resync NOTIFY has no body (and so no Content-Type). */
	rc = send_notify(n, &d, n->fallback[0] ? NULL : ctype, payload);
	if (rc == -ENOTCONN) {
		/* The connection closed and se_flowmark has not marked it yet: the same as a
		 * broken binding, the target waits for the endpoint's next REGISTER. */
		notify_wait(n, 0, "flow-broken");
		return;
	}
	if (rc < 0) {
		schedule_retry(n, 503, "send-failed");
		return;
	}
	cm_log_kv(CM_LOG_INFO,
		  CM_KV("request_id", n->reqid, "ref", n->ref[0], "binding", n->bid, "call_id",
			n->call_id),
		  "notify sent request-id=%s ref=%s binding=%s call-id=%s transport=%s source=%s "
		  "dialog=%d attempt=%u%s%s",
		  n->reqid, n->ref[0], n->bid, n->call_id, d.transport, d.source,
		  n->in_dialog ? 1 : 0, n->tries, n->fallback[0] ? " fallback=" : "", n->fallback);
	/* `sent` was recorded by the fetch script that answered 'ok'. */
}

static void ack_done(struct cm_redis *r, redisReply *reply, void *data)
{
	struct se_edge *e = data;

	e->pending--;
	if (reply && reply->type == REDIS_REPLY_ERROR)
		cm_log_warn("wake-up acknowledgement failed: %s", reply->str);
}

static void fetch_done(struct cm_redis *redis, redisReply *reply, void *data)
{
	struct se_notify *n = data;
	const char *verdict;

	n->e->pending--;
	if (n->e->closing)
		goto out;
	if ((!reply || (reply->type == REDIS_REPLY_ERROR && redis_outcome_unknown(reply))) &&
	    !n->e->draining) {
		/* The script may have run (and claimed the target for n) before the connection
		 * went, or ran without a replica confirming it (NOREPLICAS, redis-wait-replicas):
		 * only n itself may send it now, so n tries again later. */
		schedule_retry(n, 503, "redis-lost");
		goto out;
	}
	if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
	    !(verdict = rstr(reply, 0))) {
		cm_log_warn("notify dropped request-id=%s binding=%s: cannot read request (%s)",
			    n->reqid, n->bid,
			    !reply			       ? "redis disconnected"
			    : reply->type == REDIS_REPLY_ERROR ? reply->str
							       : "unexpected reply");
		goto out;
	}
	/* The fetch script acknowledged the entry for these (no status write follows). */
	if (strcmp(verdict, "ok") == 0 || strcmp(verdict, "no-request") == 0 ||
	    strcmp(verdict, "final") == 0 || strcmp(verdict, "done") == 0)
		n->entry[0] = '\0';
	if (strcmp(verdict, "ok") == 0) {
		if (n->e->draining)
			notify_handback(n);
		else
			send_single(n, reply);
	} else if (strcmp(verdict, "no-request") == 0) {
		cm_log_warn("notify dropped ref=%s binding=%s: no such request", n->ref[0], n->bid);
	} else if (strcmp(verdict, "final") == 0 || strcmp(verdict, "done") == 0) {
		cm_log_info("notify skipped ref=%s binding=%s: %s %s", n->ref[0], n->bid, verdict,
			    rstr(reply, 1) ? rstr(reply, 1) : "");
	} else if (strcmp(verdict, "moved") == 0) {
		const char *edge = rstr(reply, 1);
		cm_log_info("notify handed over ref=%s binding=%s to edge=%s", n->ref[0], n->bid,
			    edge ? edge : "-");
		status_update(n, 0, "moved", 480, "binding-moved", true, edge);
	} else if (strcmp(verdict, "broken") == 0) {
		notify_wait(n, 0, "flow-broken");
	} else if (strcmp(verdict, "unsubscribed") == 0) {
		notify_wait(n, 480, "not-subscribed");
	} else {
		notify_wait(n, 480, "binding-gone");
	}
	if (n->entry[0]) {
		/* Handled (claimed, skipped or handed on): the stream entry is done with. */
		char key[sizeof(SE_KEY_WAKE) + SE_EDGE_ID_MAX + 1];

		cm_snprintf(key, sizeof(key), "%s%s", SE_KEY_WAKE, n->e->cfg->edge_id);
		if (cm_redis_command(n->e->redis, ack_done, n->e, "XACK %s %s %s", key,
				     SE_WAKE_GROUP, n->entry) == 0)
			n->e->pending++;
		/* Also gone from the stream: a doorbell may have brought it before any read. */
		if (cm_redis_command(n->e->redis, ack_done, n->e, "XDEL %s %s", key, n->entry) == 0)
			n->e->pending++;
		n->entry[0] = '\0';
	}
out:
	notify_unref(n);
}

/* Reads request and binding, claims the target and records `sent`, then sends (fetch_done).
 * Takes a reference while Redis works. */
static void fetch(struct se_notify *n)
{
	struct se_edge *e = n->e;
	char keys[3][sizeof(CM_KEY_BINDING) + SE_REF_MAX + 8], now[24];
	const char *argv[11];
	size_t argvlen[11];
	int rc;

	if (e->pending >= SE_PENDING_MAX) {
		schedule_retry(n, 503, "overload");
		return;
	}
	cm_snprintf(keys[0], sizeof(keys[0]), "%s%s", CM_KEY_REQUEST, n->ref[0]);
	cm_snprintf(keys[1], sizeof(keys[1]), "%s%s", CM_KEY_BINDING, n->bid);
	cm_snprintf(keys[2], sizeof(keys[2]), "%s%s", SE_KEY_WAKE, e->cfg->edge_id);
	cm_snprintf(now, sizeof(now), "%lld", (long long)se_now_ms());
	argv[0] = keys[0], argv[1] = keys[1], argv[2] = keys[2], argv[3] = now;
	argv[4] = e->cfg->edge_id, argv[5] = SE_DEFAULT_PACKAGE, argv[6] = n->bid;
	argv[7] = n->claim, argv[8] = se_wake_token(e), argv[9] = n->entry;
	argv[10] = n->tries > 0 ? "1" : "0";
	for (int i = 0; i < 11; i++)
		argvlen[i] = strlen(argv[i]);
	rc = cm_redis_eval(e->redis, &fetch_script, fetch_done, n, 3, 11, argv, argvlen);
	if (rc < 0 && n->fetched) {
		/* An earlier fetch of n may hold the claim: keep trying until Redis is back. */
		schedule_retry(n, 503, "redis-down");
		return;
	}
	if (rc < 0) {
		cm_log_warn("notify dropped ref=%s binding=%s: %s", n->ref[0], n->bid,
			    strerror(-rc));
		return;
	}
	n->fetched = true;
	n->refs++;
	e->pending++;
}

void se_notify_ref(struct se_edge *e, const char *ref, const char *bid)
{
	se_notify_entry(e, ref, bid, NULL);
}

void se_notify_entry(struct se_edge *e, const char *ref, const char *bid, const char *entry)
{
	struct se_notify *n;

	if (e->closing)
		return;
	n = notify_new(e, bid, 1);
	if (!n) {
		cm_log_error("notify dropped ref=%s: out of memory", ref);
		return;
	}
	cm_snprintf(n->ref[0], sizeof(n->ref[0]), "%s", ref);
	cm_snprintf(n->reqid, sizeof(n->reqid), "%s", ref);
	if (entry)
		cm_snprintf(n->entry, sizeof(n->entry), "%s", entry);
	fetch(n);
	notify_unref(n);
}

int se_notify_state(struct se_edge *e, const char *bid, const struct se_notify_dest *d,
		    const char *content_type, const char *body, size_t len, char *const *refs,
		    size_t nrefs)
{
	struct se_notify *n = notify_new(e, bid, nrefs);
	int rc;

	(void)len;
	if (!n)
		return -ENOMEM;
	n->state = true;
	n->in_dialog = true;
	for (size_t i = 0; i < nrefs; i++)
		cm_snprintf(n->ref[i], sizeof(n->ref[i]), "%s", refs[i]);
	cm_snprintf(n->reqid, sizeof(n->reqid), "%s", nrefs ? refs[0] : "-");
	cm_snprintf(n->call_id, sizeof(n->call_id), "%s", d->call_id);
	cm_snprintf(n->pkg, sizeof(n->pkg), "%s", d->event);
	{
		/* The package is the Event type without its parameters. */
		char *semi = strchr(n->pkg, ';');
		if (semi)
			*semi = '\0';
	}
	rc = send_notify(n, d, content_type, body);
	if (rc < 0) {
		state_failed(n, rc == -ENOTCONN ? 430 : 503,
			     rc == -ENOTCONN ? "flow-closed" : "send-failed");
		notify_unref(n);
		return rc;
	}
	cm_log_info("state notify sent binding=%s call-id=%s records=%zu state=%s", bid, d->call_id,
		    nrefs, d->state);
	for (size_t i = 0; i < nrefs; i++)
		status_update(n, i, "sent", 0, "", false, NULL);
	notify_unref(n);
	return 0;
}

static void on_wakeup(struct cm_redis *r, const char *channel, const char *msg, size_t len,
		      void *data)
{
	struct se_edge *e = data;
	char ref[SE_REF_MAX + 1], bid[SE_BINDING_ID_LEN + 1], entry[SE_ENTRY_ID_MAX + 1];

	if (e->closing || e->draining)
		return;
	if (se_notify_parse_doorbell(msg, len, ref, bid, entry) < 0) {
		cm_log_warn("ignoring malformed wake-up on %s: '%.*s'", channel,
			    (int)(len > 200 ? 200 : len), msg);
		return;
	}
	/* The doorbell names its stream entry: fetch it at once (the fetch script claims the
	 * target and acknowledges and deletes the entry), which saves the stream read's round
	 * trip. A lost or refused doorbell leaves the entry for the next read (se_wake.h). */
	if (entry[0] && e->pending < SE_PENDING_MAX / 2) {
		se_notify_entry(e, ref, bid, entry);
		return;
	}
	se_wake_kick(e);
}

int se_notify_start(struct se_edge *e)
{
	return cm_redis_subscribe(e->redis, e->channel, on_wakeup, e);
}

void se_notify_shutdown(struct se_edge *e)
{
	while (e->notifies) {
		struct se_notify *n = e->notifies;
		nta_outgoing_destroy(n->orq);
		n->orq = NULL;
		untrack(n);
		notify_unref(n);
	}
	while (e->retries) {
		struct se_notify *n = e->retries;
		uv_timer_stop(&n->timer);
		retry_unlink(n);
		notify_unref(n);
	}
	/* Status writes waiting for their next attempt end here; one in flight ends when
	 * cm_redis_close answers it with no reply (sw_unknown() while closing). */
	for (struct se_status_write *w = e->status_retries, *next; w; w = next) {
		next = w->next;
		if (w->inflight)
			continue;
		cm_log_error("status update abandoned request-id=%s binding=%s status=%s: "
			     "shutting down before it landed",
			     w->reqid, w->bid, w->ev);
		sw_free(w);
	}
}

void se_notify_drain(struct se_edge *e)
{
	/* Status writes waiting to be retried get their chance now, within the drain budget. */
	for (struct se_status_write *w = e->status_retries; w; w = w->next) {
		if (!w->inflight)
			uv_timer_start(&w->timer, sw_on_timer, 0, 0);
	}
	while (e->retries) {
		struct se_notify *n = e->retries;
		uv_timer_stop(&n->timer);
		retry_unlink(n);
		notify_handback(n);
		notify_unref(n);
	}
}

void se_notify_handback(struct se_edge *e)
{
	se_notify_drain(e);
	while (e->notifies) {
		struct se_notify *n = e->notifies;
		nta_outgoing_destroy(n->orq);
		n->orq = NULL;
		untrack(n);
		notify_handback(n);
		notify_unref(n);
	}
}

unsigned se_notify_status_retries(const struct se_edge *e)
{
	return e->n_status_retries;
}

unsigned se_notify_in_flight(const struct se_edge *e)
{
	unsigned k = 0;

	for (const struct se_notify *n = e->notifies; n; n = n->next)
		k++;
	return k;
}
