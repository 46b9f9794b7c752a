/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SUBSCRIBE handling. Stateless rather than an nta server transaction: the SUBSCRIBE rate is
 * low, but a stateful transaction would keep ~10 kB for timer J (32 s over UDP) per request
 * for nothing, since everything the dialog needs is stored in Redis anyway and a
 * retransmission is idempotent (derived To-tag, equal CSeq accepted). The cost is that a
 * retransmitted initial SUBSCRIBE also gets a second state NOTIFY, which RFC 6665 allows.
 *
 * Order on the wire: the 2xx first, then the NOTIFY (RFC 6665 4.2.1.2 lets the NOTIFY
 * overtake it, but an endpoint sees fewer surprises this way).
 */
#include "se_subscription.h"
#include "se_stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_tagarg.h>
#include <sofia-sip/tport.h>

#include "cm/log.h"
#include "cm/str.h"
#include "se_auth.h"
#include "se_edge.h"
#include "se_notify.h"
#include "se_registrar.h"
#include "se_subscribe.h"

struct se_sub {
	struct se_edge *e;
	msg_t *msg;  /* owned until replied */
	tport_t *tp; /* reference from nta_incoming_transport */
	char source[64];
	struct se_sub_req req;
	struct se_sub_args args;
};

static void sub_free(struct se_sub *s)
{
	if (s->msg)
		msg_destroy(s->msg);
	if (s->tp)
		tport_unref(s->tp);
	free(s);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-value"
/* Replies to s's request; the message is consumed, s stays (the caller frees it). */
static void sub_reply(struct se_sub *s, int status, const char *phrase, tag_type_t tag,
		      tag_value_t value, ...)
{
	ta_list ta;

	se_stats_subscribe(status);
	ta_start(ta, tag, value);
	nta_msg_treply(s->e->agent, s->msg, status, phrase, TAG_IF(s->tp, NTATAG_TPORT(s->tp)),
		       SIPTAG_ALLOW_EVENTS_STR(s->e->cfg->allow_events), ta_tags(ta));
	ta_end(ta);
	s->msg = NULL;
}
#pragma GCC diagnostic pop

static const char *call_id_of(msg_t *msg)
{
	const sip_t *sip = sip_object(msg);
	return sip && sip->sip_call_id ? sip->sip_call_id->i_id : "-";
}

static const char *rstr(const redisReply *r, size_t i)
{
	return i < r->elements && r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str
									    : "";
}

static const redisReply *rlist(const redisReply *r, size_t i)
{
	if (i >= r->elements || r->element[i]->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t k = 0; k < r->element[i]->elements; k++) {
		if (r->element[i]->element[k]->type != REDIS_REPLY_STRING)
			return NULL;
	}
	return r->element[i];
}

/* Sends the state NOTIFY described by the script's reply (after the 200 went out). */
static void send_state(struct se_sub *s, const redisReply *reply, const char *phrase_state)
{
	const redisReply *refs = rlist(reply, 8), *bodies = rlist(reply, 9),
			 *extra = rlist(reply, 11);
	const char *bid = rstr(reply, 2);
	bool active = strcmp(rstr(reply, 1), "active") == 0;
	char ctype[SE_PACKAGE_MAX + 16], state[64];
	char *body = NULL, **rv = NULL;
	size_t n = refs ? refs->elements : 0, len = 0, cap = 1;
	struct se_notify_dest d = {
	    .uri = s->req.uri,
	    .transport = rstr(reply, 5),
	    .source = rstr(reply, 6),
	    .flow = rstr(reply, 7),
	    .from = s->req.local,
	    .to = s->req.remote,
	    .call_id = s->req.call_id,
	    .cseq = (uint32_t)strtoul(rstr(reply, 4), NULL, 10),
	    .route = s->req.route,
	    .event = s->req.event,
	    .state = state,
	};

	if (!bodies || bodies->elements != n)
		n = 0;
	cm_snprintf(ctype, sizeof(ctype), "%s", s->req.pkg->media);
	cm_snprintf(state, sizeof(state), "%s", phrase_state);
	for (size_t i = 0; i < n; i++)
		cap += bodies->element[i]->len + 2;
	body = malloc(cap);
	rv = calloc(n ? n : 1, sizeof(*rv));
	if (!body || !rv) {
		cm_log_error("state notify dropped binding=%s: out of memory", bid);
		goto out;
	}
	body[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		/* Records are separated by one empty line (cm_payload_next). */
		if (i) {
			memcpy(body + len, "\r\n", 2);
			len += 2;
		}
		memcpy(body + len, bodies->element[i]->str, bodies->element[i]->len);
		len += bodies->element[i]->len;
		body[len] = '\0';
		rv[i] = refs->element[i]->str;
	}
	/* A failure is logged and handled (retries) inside. */
	(void)se_notify_state(s->e, bid, &d, active ? ctype : NULL, active ? body : NULL, len, rv,
			      n);
	for (size_t i = 0; extra && i < extra->elements; i++) {
		const char *ref = extra->element[i]->str;
		if (se_ref_valid(ref, strlen(ref)))
			se_notify_ref(s->e, ref, bid);
	}
out:
	free(body);
	free(rv);
}

static void sub_done(struct cm_redis *redis, redisReply *reply, void *data)
{
	struct se_sub *s = data;
	struct se_edge *e = s->e;
	const char *verdict, *bid, *granted;
	char state[64];
	msg_t *keep;

	e->pending--;
	if (e->closing)
		goto out;
	if (!reply) {
		cm_log_warn("subscribe failed status=503 reason=redis-disconnected call-id=%s",
			    call_id_of(s->msg));
		sub_reply(s, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("5"), TAG_END());
		goto out;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING) {
		cm_log_error("subscribe script failed aor=%s call-id=%s: %s", s->req.aor,
			     s->req.call_id,
			     reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
		sub_reply(s, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		goto out;
	}
	verdict = rstr(reply, 0);
	if (strcmp(verdict, "err") == 0) {
		const char *why = rstr(reply, 1);
		cm_log_info("subscribe refused aor=%s package=%s call-id=%s reason=%s source=%s",
			    s->req.aor, s->req.pkg->name, s->req.call_id, why, s->source);
		if (strcmp(why, "register-first") == 0)
			sub_reply(s, 403, "Register First", TAG_END());
		else if (strcmp(why, "no-dialog") == 0)
			sub_reply(s, 481, "Subscription Does Not Exist", TAG_END());
		else
			sub_reply(s, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		goto out;
	}
	if (reply->elements < 12) {
		sub_reply(s, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		goto out;
	}
	bid = rstr(reply, 2);
	granted = rstr(reply, 3);
	if (strcmp(rstr(reply, 1), "active") == 0) {
		cm_snprintf(state, sizeof(state), "active;expires=%s", granted);
		cm_log_info("subscribed aor=%s binding=%s package=%s expires=%s records=%zu "
			    "call-id=%s source=%s",
			    s->req.aor, bid, s->req.pkg->name, granted,
			    rlist(reply, 8) ? rlist(reply, 8)->elements : (size_t)0, s->req.call_id,
			    s->source);
	} else {
		cm_snprintf(state, sizeof(state), "terminated;reason=timeout");
		cm_log_info("unsubscribed aor=%s binding=%s package=%s call-id=%s source=%s",
			    s->req.aor, bid, s->req.pkg->name, s->req.call_id, s->source);
	}
	/* The NOTIFY below borrows strings from the request's home: keep it past the reply. */
	keep = msg_ref_create(s->msg);
	sub_reply(s, SIP_200_OK, SIPTAG_TO(s->req.to), SIPTAG_EXPIRES_STR(granted),
		  SIPTAG_CONTACT(nta_agent_contact(e->agent)), TAG_END());
	send_state(s, reply, state);
	msg_destroy(keep);
out:
	sub_free(s);
}

void se_subscription_handle(struct se_edge *e, msg_t *msg, sip_t *sip)
{
	struct se_sub *s = calloc(1, sizeof(*s));
	const char *phrase = NULL;
	int status = 0, rc;

	if (!s) {
		nta_msg_treply(e->agent, msg, SIP_503_SERVICE_UNAVAILABLE,
			       SIPTAG_RETRY_AFTER_STR("5"), TAG_END());
		return;
	}
	s->e = e;
	s->msg = msg;
	s->tp = se_auth_transport(e, msg);
	if (se_registrar_source(msg, s->source, sizeof(s->source)) < 0)
		cm_snprintf(s->source, sizeof(s->source), "-");

	if (se_subscribe_parse(msg_home(msg), sip, e->cfg, &s->req, &status, &phrase) < 0) {
		cm_log_info("subscribe refused status=%d reason=%s event=%s call-id=%s source=%s",
			    status, phrase,
			    sip->sip_event && sip->sip_event->o_type ? sip->sip_event->o_type : "-",
			    call_id_of(msg), s->source);
		if (status == 423) {
			char min[24];
			cm_snprintf(min, sizeof(min), "%ld", e->cfg->min_expires);
			sub_reply(s, status, phrase, SIPTAG_MIN_EXPIRES_STR(min), TAG_END());
		} else {
			sub_reply(s, status, phrase, TAG_END());
		}
		sub_free(s);
		return;
	}
	if (e->pending >= SE_PENDING_MAX || !s->tp) {
		cm_log_warn("subscribe failed status=503 reason=%s call-id=%s source=%s",
			    s->tp ? "too-many-pending" : "no-transport", s->req.call_id, s->source);
		sub_reply(s, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("5"), TAG_END());
		sub_free(s);
		return;
	}
	se_subscribe_args(&s->req, e->cfg->edge_id, e->cfg->gateway_url, se_now_ms(), &s->args);
	rc = cm_redis_eval(e->redis, &se_subscribe_script, sub_done, s, 0, SE_SUB_ARGS,
			   s->args.argv, s->args.argvlen);
	if (rc < 0) {
		cm_log_warn("subscribe failed status=503 reason=redis-unavailable call-id=%s",
			    s->req.call_id);
		sub_reply(s, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("5"), TAG_END());
		sub_free(s);
		return;
	}
	e->pending++;
}
