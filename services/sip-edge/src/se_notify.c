/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NOTIFY sending. A struct se_notify lives from the wake-up until the last of its Redis
 * calls and its client transaction are done (a small reference count: one for the
 * transaction, one per Redis call in flight), so a status update issued from the response
 * callback never outlives it.
 *
 * Over UDP the NOTIFY goes to the REGISTER's source address (route_url, no Route header
 * added) with the Contact as Request-URI; over TCP it goes on the held connection
 * (NTATAG_TPORT). Failures that never reach the wire get SIP-like codes: 430 Flow Failed
 * (RFC 5626) for flow-closed, 480 for binding-gone / binding-moved / not-subscribed, 503 when
 * nta refuses to create the transaction.
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
#include "cm/log.h"
#include "cm/payload.h"
#include "cm/str.h"
#include "se_edge.h"

struct se_notify {
	struct se_edge *e;
	struct se_notify *next, **prevp; /* in e->notifies while orq is set */
	unsigned refs;
	nta_outgoing_t *orq;
	char reqid[SE_REQUEST_ID_MAX + 1];
	char bid[SE_BINDING_ID_LEN + 1];
	char call_id[64];
};

struct cm_redis_script se_status_script = {
    .source =
	"local key, bid, ev, now = KEYS[1], ARGV[1], ARGV[2], ARGV[3]\n"
	"local code, reason = ARGV[4], ARGV[5]\n"
	"if redis.call('EXISTS', key) == 0 then return nil end\n"
	"local f = 'target:' .. bid\n"
	"local cur = redis.call('HGET', key, f)\n"
	"local final = cur and (string.sub(cur, 1, 9) == 'delivered' or\n"
	"                       string.sub(cur, 1, 6) == 'failed')\n"
	"local st = redis.call('HGET', key, 'status')\n"
	/* Target states only move forward: queued -> sent -> delivered/failed. */
	"if final then return st end\n"
	"if ev == 'sent' then\n"
	"  if cur == 'sent' then return st end\n"
	"  redis.call('HSET', key, f, 'sent')\n"
	"  if st == 'queued' or not st then\n"
	"    redis.call('HSET', key, 'status', 'sent', 'sent', now)\n"
	"    st = 'sent'\n"
	"  end\n"
	"elseif ev == 'delivered' then\n"
	"  redis.call('HSET', key, f, 'delivered:' .. code)\n"
	"  if st ~= 'delivered' then\n"
	"    if not redis.call('HGET', key, 'sent') then redis.call('HSET', key, 'sent', now) end\n"
	"    redis.call('HSET', key, 'status', 'delivered', 'delivered', now,\n"
	"      'sip_status', code, 'reason', reason)\n"
	"    st = 'delivered'\n"
	"  end\n"
	"else\n"
	"  redis.call('HSET', key, f, 'failed:' .. code .. ':' .. reason)\n"
	"  local nf = redis.call('HINCRBY', key, 'failed_targets', 1)\n"
	"  local nt = tonumber(redis.call('HGET', key, 'targets')) or 1\n"
	/* failed only when every target failed and none delivered */
	"  if nf >= nt and st ~= 'delivered' and st ~= 'failed' then\n"
	"    redis.call('HSET', key, 'status', 'failed', 'failed', now,\n"
	"      'sip_status', code, 'reason', reason)\n"
	"    st = 'failed'\n"
	"  end\n"
	"end\n"
	"return st\n",
};

static struct cm_redis_script fetch_script = {
    .source = "return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}\n",
};

int se_notify_parse_wakeup(const char *msg, size_t len, char reqid[SE_REQUEST_ID_MAX + 1],
			   char bid[SE_BINDING_ID_LEN + 1])
{
	const char *sp = memchr(msg, ' ', len), *why = NULL;
	size_t rlen, blen;

	if (!sp)
		return -EINVAL;
	rlen = (size_t)(sp - msg);
	blen = len - rlen - 1;
	if (rlen == 0 || rlen > SE_REQUEST_ID_MAX || blen != SE_BINDING_ID_LEN)
		return -EINVAL;
	if (cm_payload_check(CM_PL_REQUEST_ID, msg, rlen, &why) < 0)
		return -EINVAL;
	for (size_t i = 0; i < blen; i++) {
		char c = sp[1 + i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -EINVAL;
	}
	memcpy(reqid, msg, rlen);
	reqid[rlen] = '\0';
	memcpy(bid, sp + 1, blen);
	bid[blen] = '\0';
	return 0;
}

static void notify_unref(struct se_notify *n)
{
	if (--n->refs == 0)
		free(n);
}

static void status_done(struct cm_redis *r, redisReply *reply, void *data)
{
	struct se_notify *n = data;

	n->e->pending--;
	if (reply && reply->type == REDIS_REPLY_ERROR)
		cm_log_error("status update failed request-id=%s binding=%s: %s", n->reqid, n->bid,
			     reply->str);
	else if (!reply && !n->e->closing)
		cm_log_warn("status update lost request-id=%s binding=%s: redis disconnected",
			    n->reqid, n->bid);
	notify_unref(n);
}

/* Records ev for n's target. Failures are logged: the request then keeps its old status. */
static void status_update(struct se_notify *n, const char *ev, int code, const char *reason)
{
	char key[sizeof(CM_KEY_REQUEST) + SE_REQUEST_ID_MAX], now[24], codes[8];
	const char *argv[6];
	size_t argvlen[6];
	int rc;

	if (n->e->closing)
		return;
	cm_snprintf(key, sizeof(key), "%s%s", CM_KEY_REQUEST, n->reqid);
	cm_snprintf(now, sizeof(now), "%lld", (long long)se_now_ms());
	cm_snprintf(codes, sizeof(codes), "%d", code);
	argv[0] = key, argv[1] = n->bid, argv[2] = ev, argv[3] = now, argv[4] = codes;
	argv[5] = reason ? reason : "";
	for (int i = 0; i < 6; i++)
		argvlen[i] = strlen(argv[i]);
	rc = cm_redis_eval(n->e->redis, &se_status_script, status_done, n, 1, 6, argv, argvlen);
	if (rc < 0) {
		cm_log_warn("status update not sent request-id=%s binding=%s status=%s: %s",
			    n->reqid, n->bid, ev, strerror(-rc));
		return;
	}
	n->refs++;
	n->e->pending++;
}

static void notify_fail(struct se_notify *n, int code, const char *reason)
{
	cm_log_warn("notify failed request-id=%s binding=%s status=%d reason=%s", n->reqid, n->bid,
		    code, reason);
	status_update(n, "failed", code, reason);
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

static int notify_answered(nta_outgoing_magic_t *magic, nta_outgoing_t *orq, sip_t const *sip)
{
	struct se_notify *n = (struct se_notify *)magic;
	int status = sip && sip->sip_status ? sip->sip_status->st_status : nta_outgoing_status(orq);
	char phrase[64];

	if (status < 200)
		return 0;
	/* Copied: the response (and its phrase) goes away with the transaction below. */
	cm_snprintf(phrase, sizeof(phrase), "%s",
		    sip && sip->sip_status && sip->sip_status->st_phrase
			? sip->sip_status->st_phrase
			: (sip_status_phrase(status) ? sip_status_phrase(status) : ""));
	for (char *p = phrase; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == ':')
			*p = ' '; /* target:<bid> is "failed:<code>:<reason>" */
	}
	cm_log_info("notify answered request-id=%s binding=%s call-id=%s status=%d", n->reqid,
		    n->bid, n->call_id, status);
	nta_outgoing_destroy(orq);
	n->orq = NULL;
	untrack(n);
	if (status < 300)
		status_update(n, "delivered", status, phrase);
	else
		status_update(n, "failed", status, phrase);
	notify_unref(n);
	return 0;
}

/* Looks up field name in a flat HGETALL reply; NULL if absent. */
static const char *field(const redisReply *h, const char *name)
{
	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		if (h->element[i]->type == REDIS_REPLY_STRING &&
		    h->element[i + 1]->type == REDIS_REPLY_STRING &&
		    strcmp(h->element[i]->str, name) == 0)
			return h->element[i + 1]->str;
	}
	return NULL;
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

static void notify_send(struct se_notify *n, const redisReply *req, const redisReply *b)
{
	struct se_edge *e = n->e;
	const char *edge = field(b, "edge"), *uri = field(b, "uri"), *aor = field(b, "aor");
	const char *tpname = field(b, "transport"), *source = field(b, "source");
	const char *flow = field(b, "flow"), *exp = field(b, "expires");
	const char *sub = field(b, "subscribed"), *payload = field(req, "payload");
	char route[128], ss[48], to[CM_DEVICE_MAX + 3];
	tport_t *tp = NULL;
	bool udp;
	long long left;

	if (!edge || !uri || !aor || !tpname || !source || !exp) {
		notify_fail(n, 480, "binding-gone");
		return;
	}
	if (strcmp(edge, e->cfg->edge_id) != 0) {
		notify_fail(n, 480, "binding-moved");
		return;
	}
	if (!sub || strcmp(sub, "1") != 0) {
		notify_fail(n, 480, "not-subscribed");
		return;
	}
	if (!payload) {
		notify_fail(n, 500, "no-payload");
		return;
	}
	left = (strtoll(exp, NULL, 10) - se_now_ms()) / 1000;
	if (left <= 0) {
		notify_fail(n, 480, "binding-gone");
		return;
	}
	udp = strcmp(tpname, "udp") == 0;
	if (udp) {
		if (cm_snprintf(route, sizeof(route), "sip:%s;transport=udp", source) < 0) {
			notify_fail(n, 480, "binding-gone");
			return;
		}
	} else {
		tp = flow && *flow ? se_flows_tport(e->flows, strtoull(flow, NULL, 10)) : NULL;
		if (!tp) {
			notify_fail(n, 430, "flow-closed");
			return;
		}
	}
	cm_snprintf(ss, sizeof(ss), "active;expires=%lld", left);
	cm_snprintf(to, sizeof(to), "<%s>", aor);
	new_call_id(n);

	track(n);
	n->orq = nta_outgoing_tcreate(
	    e->leg, notify_answered, (nta_outgoing_magic_t *)n, udp ? (url_string_t *)route : NULL,
	    SIP_METHOD_NOTIFY, (url_string_t *)uri, TAG_IF(tp, NTATAG_TPORT(tp)),
	    SIPTAG_FROM_STR(e->from), SIPTAG_TO_STR(to), SIPTAG_CALL_ID_STR(n->call_id),
	    SIPTAG_CSEQ_STR("1 NOTIFY"), SIPTAG_EVENT_STR(CM_PAYLOAD_EVENT),
	    SIPTAG_SUBSCRIPTION_STATE_STR(ss), SIPTAG_CONTENT_TYPE_STR(CM_PAYLOAD_MEDIA_TYPE),
	    SIPTAG_PAYLOAD_STR(payload), TAG_END());
	if (!n->orq) {
		untrack(n);
		n->refs--; /* the transaction's reference; the caller still holds one */
		notify_fail(n, 503, "send-failed");
		return;
	}
	cm_log_info("notify sent request-id=%s binding=%s call-id=%s transport=%s source=%s",
		    n->reqid, n->bid, n->call_id, tpname, source);
	status_update(n, "sent", 0, "");
}

static void fetch_done(struct cm_redis *r, redisReply *reply, void *data)
{
	struct se_notify *n = data;
	const redisReply *req, *b;

	n->e->pending--;
	if (n->e->closing)
		goto out;
	if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_ARRAY ||
	    reply->element[1]->type != REDIS_REPLY_ARRAY) {
		cm_log_warn("notify dropped request-id=%s binding=%s: cannot read request (%s)",
			    n->reqid, n->bid,
			    !reply			       ? "redis disconnected"
			    : reply->type == REDIS_REPLY_ERROR ? reply->str
							       : "unexpected reply");
		goto out;
	}
	req = reply->element[0];
	b = reply->element[1];
	if (req->elements == 0) {
		cm_log_warn("notify dropped request-id=%s binding=%s: no such request", n->reqid,
			    n->bid);
		goto out;
	}
	if (b->elements == 0) {
		notify_fail(n, 480, "binding-gone");
		goto out;
	}
	notify_send(n, req, b);
out:
	notify_unref(n);
}

static void on_wakeup(struct cm_redis *r, const char *channel, const char *msg, size_t len,
		      void *data)
{
	struct se_edge *e = data;
	struct se_notify *n;
	char keys[2][sizeof(CM_KEY_BINDING) + SE_REQUEST_ID_MAX + 8];
	const char *argv[2];
	size_t argvlen[2];
	int rc;

	if (e->closing)
		return;
	n = calloc(1, sizeof(*n));
	if (!n) {
		cm_log_error("notify dropped: out of memory");
		return;
	}
	n->e = e;
	n->refs = 1;
	if (se_notify_parse_wakeup(msg, len, n->reqid, n->bid) < 0) {
		cm_log_warn("ignoring malformed wake-up on %s: '%.*s'", channel,
			    (int)(len > 200 ? 200 : len), msg);
		free(n);
		return;
	}
	if (e->pending >= SE_PENDING_MAX) {
		notify_fail(n, 503, "overload");
		notify_unref(n);
		return;
	}
	cm_snprintf(keys[0], sizeof(keys[0]), "%s%s", CM_KEY_REQUEST, n->reqid);
	cm_snprintf(keys[1], sizeof(keys[1]), "%s%s", CM_KEY_BINDING, n->bid);
	for (int i = 0; i < 2; i++) {
		argv[i] = keys[i];
		argvlen[i] = strlen(keys[i]);
	}
	rc = cm_redis_eval(e->redis, &fetch_script, fetch_done, n, 2, 2, argv, argvlen);
	if (rc < 0) {
		cm_log_warn("notify dropped request-id=%s binding=%s: %s", n->reqid, n->bid,
			    strerror(-rc));
		free(n);
		return;
	}
	e->pending++;
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
}
