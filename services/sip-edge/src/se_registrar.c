/* SPDX-License-Identifier: Apache-2.0 */
/*
 * REGISTER handling, statelessly (FIELD-NOTES: a stateful nta server transaction is kept for
 * timer J at ~10 kB each). The message callback owns the msg_t; it keeps it in a struct
 * se_reg while the Lua script runs and answers from the Redis callback. A retransmission is
 * simply handled again, which the script makes idempotent (equal CSeq is accepted).
 *
 * The reply goes out with NTATAG_TPORT: once we are outside the callback nta no longer knows
 * which transport delivered the request (tport_delivered_by only matches the message being
 * delivered right now), and over TCP the answer must use the same connection.
 */
#include "se_registrar.h"
#include "se_stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_tagarg.h>
#include <sofia-sip/tport.h>

#include "cm/hostport.h"
#include "cm/log.h"
#include "cm/str.h"
#include "se_auth.h"
#include "se_edge.h"
#include "se_notify.h"
#include "se_register.h"
#include "se_subscription.h"
#include "se_sanity.h"
#include "se_wake.h"

#define SOURCE_MAX 64
/* REGISTERs per register-script call. The REGISTERs of one loop turn share one call, which
 * saves Redis the per-call part of its cost (about an eighth of a refresh's script CPU,
 * docs/performance.md "REGISTER batching"); 32 keeps one call's run time (a few ms at worst,
 * all new bindings) from stalling Redis for other clients. */
#define BATCH_MAX 32

/* The REGISTERs parsed in this loop turn, sent as one script call when the turn ends (the
 * check handle) or when BATCH_MAX are waiting. The idle handle only keeps the loop from
 * blocking in poll while a batch waits (a REGISTER handled from the prepare phase). */
struct se_reg_batch {
	uv_check_t check;
	uv_idle_t idle;
	struct se_edge *e;
	unsigned n;
	struct se_reg *r[BATCH_MAX];
	int open_handles;
};

/* A batch on the wire: its REGISTERs, answered in order from the reply's elements. */
struct se_reg_sent {
	unsigned n;
	struct se_reg *r[BATCH_MAX];
};

struct se_reg {
	struct se_edge *e;
	msg_t *msg;  /* owned until replied */
	tport_t *tp; /* reference from nta_incoming_transport */
	bool has_flow;
	uint64_t flow;
	int64_t now_ms;
	char source[SOURCE_MAX];
	char transport[8];
	char flow_s[24];
	char accepted[SE_PACKAGES_MAX * (SE_PACKAGE_MAX + 1) + 1];
	struct se_reg_req req;
	struct se_reg_args args;
};

static void reg_free(struct se_reg *r)
{
	if (r->has_flow)
		se_flows_put(r->e->flows, r->flow);
	if (r->msg)
		msg_destroy(r->msg);
	if (r->tp)
		tport_unref(r->tp);
	free(r);
}

/* sofia's ta_end() expands to a comma expression GCC flags as unused. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-value"
/* Replies to r's request (taking the message) and frees r. */
static void reg_reply(struct se_reg *r, int status, const char *phrase, tag_type_t tag,
		      tag_value_t value, ...)
{
	ta_list ta;

	se_stats_register(status, r->transport[0] ? r->transport : "udp");
	ta_start(ta, tag, value);
	nta_msg_treply(r->e->agent, r->msg, status, phrase, TAG_IF(r->tp, NTATAG_TPORT(r->tp)),
		       SIPTAG_ALLOW_EVENTS_STR(r->e->cfg->allow_events), ta_tags(ta));
	ta_end(ta);
	r->msg = NULL;
	reg_free(r);
}
#pragma GCC diagnostic pop

static const char *call_id_of(const struct se_reg *r)
{
	const sip_t *sip = sip_object(r->msg);
	return sip && sip->sip_call_id ? sip->sip_call_id->i_id : "-";
}

static void reg_unavailable(struct se_reg *r, const char *why)
{
	cm_log_warn("register failed status=503 reason=%s call-id=%s source=%s", why, call_id_of(r),
		    r->source);
	reg_reply(r, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("5"), TAG_END());
}

/* Overload: 503 without a log line per REGISTER (that would add to the overload); one summary
 * line a second at most. */
static void reg_shed(struct se_reg *r)
{
	struct se_edge *e = r->e;
	int64_t now = se_now_ms();

	e->reg_shed++;
	if (now - e->reg_shed_log_ms >= 1000) {
		cm_log_warn("register overload: 503 to %u REGISTERs (waiting=%u last-wait-ms=%lld)",
			    e->reg_shed, e->reg_pending, (long long)e->reg_wait_ms);
		e->reg_shed = 0;
		e->reg_shed_log_ms = now;
	}
	reg_reply(r, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("2"), TAG_END());
}

int se_registrar_source(msg_t *msg, char *buf, size_t size)
{
	su_addrinfo_t *ai = msg_addrinfo(msg);
	char ip[INET6_ADDRSTRLEN];
	const void *addr;
	int port;

	if (!ai || !ai->ai_addr)
		return -EINVAL;
	if (ai->ai_addr->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ai->ai_addr;
		addr = &sin->sin_addr;
		port = ntohs(sin->sin_port);
	} else if (ai->ai_addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ai->ai_addr;
		addr = &sin6->sin6_addr;
		port = ntohs(sin6->sin6_port);
	} else {
		return -EAFNOSUPPORT;
	}
	if (!inet_ntop(ai->ai_addr->sa_family, addr, ip, sizeof(ip)))
		return -EINVAL;
	return cm_hostport_format(buf, size, ip, strlen(ip), port);
}

/* Appends "<contact>;expires=N" entries from the script's list into a Contact value. */
static char *contacts_value(su_home_t *home, const redisReply *list)
{
	size_t cap = 1, len = 0;
	char *buf;

	for (size_t i = 0; i + 1 < list->elements; i += 2)
		cap += list->element[i]->len + list->element[i + 1]->len + 16;
	buf = su_alloc(home, cap);
	if (!buf)
		return NULL;
	buf[0] = '\0';
	for (size_t i = 0; i + 1 < list->elements; i += 2) {
		int n = cm_snprintf(buf + len, cap - len, "%s%s;expires=%s", len ? ", " : "",
				    list->element[i]->str, list->element[i + 1]->str);
		if (n < 0)
			return NULL;
		len += (size_t)n;
	}
	return buf;
}

static bool reply_is_strings(const redisReply *list)
{
	if (list->type != REDIS_REPLY_ARRAY)
		return false;
	for (size_t i = 0; i < list->elements; i++) {
		if (list->element[i]->type != REDIS_REPLY_STRING)
			return false;
	}
	return true;
}

/* The script's info for binding bid: its `subscribed` and packages. */
static void binding_info(const redisReply *infos, const char *bid, const char **sub,
			 const char **pkgs)
{
	*sub = "0";
	*pkgs = "";
	for (size_t i = 0; infos && i + 2 < infos->elements; i += 3) {
		if (strcmp(infos->element[i]->str, bid) == 0) {
			*sub = infos->element[i + 1]->str;
			*pkgs = infos->element[i + 2]->str;
			return;
		}
	}
}

/* Answers r from its element of the batch reply (or the whole reply: NULL when Redis went
 * away, an error reply when the script call failed). */
static void reg_done(struct se_reg *r, const redisReply *reply)
{
	struct se_edge *e = r->e;
	const redisReply *gone, *list, *claims, *infos;
	const char *contacts;

	e->pending--;
	e->reg_pending--;
	e->reg_wait_ms = se_now_ms() - r->now_ms;
	if (e->closing) {
		reg_free(r);
		return;
	}
	if (!reply) {
		reg_unavailable(r, "redis-disconnected");
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements < 2 || reply->element[0]->type != REDIS_REPLY_STRING) {
		cm_log_error("register script failed aor=%s call-id=%s: %s", r->req.aor,
			     call_id_of(r),
			     reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
		reg_reply(r, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		return;
	}
	if (strcmp(reply->element[0]->str, "err") == 0) {
		const char *why =
		    reply->element[1]->type == REDIS_REPLY_STRING ? reply->element[1]->str : "?";
		cm_log_warn("register refused aor=%s call-id=%s cseq=%lu reason=%s source=%s",
			    r->req.aor, r->req.call_id, (unsigned long)r->req.cseq, why, r->source);
		if (strcmp(why, "too-many") == 0)
			reg_reply(r, 403, "Too Many Bindings", TAG_END());
		else
			reg_reply(r, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		return;
	}
	list = reply->element[1];
	gone = reply->elements > 2 ? reply->element[2] : NULL;
	claims = reply->elements > 3 ? reply->element[3] : NULL;
	infos = reply->elements > 4 ? reply->element[4] : NULL;
	if (!reply_is_strings(list) || (gone && !reply_is_strings(gone)) ||
	    (claims && !reply_is_strings(claims)) || (infos && !reply_is_strings(infos))) {
		cm_log_error("register script returned a malformed reply aor=%s", r->req.aor);
		reg_reply(r, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		return;
	}

	/* Flow bookkeeping first: bindings that left one of our flows, then the new ones. */
	for (size_t i = 0; gone && i + 2 < gone->elements; i += 3) {
		const char *bid = gone->element[i]->str, *edge = gone->element[i + 1]->str;
		const char *flow = gone->element[i + 2]->str;
		se_stats_binding(bid, 0);
		if (strcmp(edge, e->cfg->edge_id) == 0 && *flow)
			se_flows_unbind(e->flows, strtoull(flow, NULL, 10), bid);
	}
	for (size_t i = 0; i < r->req.n; i++) {
		const struct se_contact *c = &r->req.c[i];
		const char *sub, *pkgs;
		size_t queued = 0;

		se_stats_binding(c->binding_id,
				 c->expires ? r->now_ms + (int64_t)c->expires * 1000 : 0);
		if (c->expires == 0) {
			cm_log_info("unregistered aor=%s binding=%s source=%s transport=%s",
				    r->req.aor, c->binding_id, r->source, r->transport);
			continue;
		}
		if (r->has_flow) {
			int rc = se_flows_bind(e->flows, r->flow, c->binding_id,
					       r->now_ms + (int64_t)c->expires * 1000);
			if (rc < 0)
				cm_log_warn("flow %s cannot hold binding=%s: %s", r->flow_s,
					    c->binding_id, strerror(-rc));
		}
		binding_info(infos, c->binding_id, &sub, &pkgs);
		for (size_t k = 0; claims && k + 1 < claims->elements; k += 2)
			queued += strcmp(claims->element[k]->str, c->binding_id) == 0;
		cm_log_kv(CM_LOG_INFO,
			  CM_KV("device", r->req.aor, "binding", c->binding_id, "call_id",
				r->req.call_id),
			  "registered aor=%s binding=%s subscribed=%s source=%s transport=%s "
			  "packages=%s queued=%zu",
			  r->req.aor, c->binding_id, sub, r->source, r->transport,
			  *pkgs ? pkgs : "-", queued);
	}
	if (r->req.wildcard)
		cm_log_info("unregistered aor=%s binding=* source=%s transport=%s", r->req.aor,
			    r->source, r->transport);

	contacts = contacts_value(msg_home(r->msg), list);
	if (!contacts) {
		reg_reply(r, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		return;
	}
	if (r->req.query)
		cm_log_info("register query aor=%s contacts=%zu source=%s transport=%s", r->req.aor,
			    list->elements / 2, r->source, r->transport);
	{
		/* RFC 5626 6: Require: outbound for an outbound registration, Flow-Timer when we
		 * are its first hop; RFC 3327 5.3: the Path headers echoed when the UA supports
		 * path (stored either way, as Kamailio's "lazy" path mode does). */
		char ft[40];
		const struct se_reg_req *q = &r->req;
		cm_snprintf(ft, sizeof(ft), "Flow-Timer: %ld", e->cfg->flow_timer);
		reg_reply(r, SIP_200_OK, TAG_IF(*contacts, SIPTAG_CONTACT_STR(contacts)),
			  TAG_IF(q->outbound, SIPTAG_REQUIRE_STR("outbound")),
			  TAG_IF(q->outbound && q->first_hop, SIPTAG_HEADER_STR(ft)),
			  TAG_IF(q->path[0] && q->path_supported, SIPTAG_PATH_STR(q->path)),
			  TAG_END());
	}
	/* Queued delivery: after the 200, so the endpoint knows it is registered. */
	for (size_t k = 0; claims && k + 1 < claims->elements; k += 2) {
		const char *ref = claims->element[k + 1]->str;
		if (se_ref_valid(ref, strlen(ref)))
			se_notify_ref(e, ref, claims->element[k]->str);
	}
}

static void batch_done(struct cm_redis *redis, redisReply *reply, void *data)
{
	struct se_reg_sent *s = data;
	redisReply bad = {.type = REDIS_REPLY_ERROR, .str = "batch reply of the wrong size"};
	const bool each =
	    reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == (size_t)s->n;

	bad.len = strlen(bad.str);
	for (unsigned i = 0; i < s->n; i++) {
		if (each)
			reg_done(s->r[i], reply->element[i]);
		else
			reg_done(s->r[i],
				 !reply || reply->type == REDIS_REPLY_ERROR ? reply : &bad);
	}
	free(s);
}

/* Sends the waiting REGISTERs as one script call: ARGV is their count, then each one's
 * argument count and arguments (se_register_script). cm_redis_eval copies the arguments. */
static void batch_flush(struct se_reg_batch *b)
{
	struct se_edge *e = b->e;
	struct se_reg_sent *s;
	char counts[BATCH_MAX + 1][12];
	const char **argv = NULL;
	size_t *argvlen = NULL;
	int argc = 0, total = 1, rc = -ENOMEM;

	uv_check_stop(&b->check);
	uv_idle_stop(&b->idle);
	if (b->n == 0)
		return;
	s = malloc(sizeof(*s));
	for (unsigned i = 0; i < b->n; i++)
		total += 1 + b->r[i]->args.argc;
	argv = malloc((size_t)total * sizeof(*argv));
	argvlen = malloc((size_t)total * sizeof(*argvlen));
	if (s && argv && argvlen) {
		s->n = b->n;
		cm_snprintf(counts[0], sizeof(counts[0]), "%u", b->n);
		argv[argc] = counts[0];
		argvlen[argc++] = strlen(counts[0]);
		for (unsigned i = 0; i < b->n; i++) {
			const struct se_reg_args *a = &b->r[i]->args;
			s->r[i] = b->r[i];
			cm_snprintf(counts[i + 1], sizeof(counts[i + 1]), "%d", a->argc);
			argv[argc] = counts[i + 1];
			argvlen[argc++] = strlen(counts[i + 1]);
			memcpy(argv + argc, a->argv, (size_t)a->argc * sizeof(*argv));
			memcpy(argvlen + argc, a->argvlen, (size_t)a->argc * sizeof(*argvlen));
			argc += a->argc;
		}
		rc = cm_redis_eval(e->redis, &se_register_script, batch_done, s, 0, argc, argv,
				   argvlen);
	}
	free(argv);
	free(argvlen);
	if (rc < 0) {
		free(s);
		for (unsigned i = 0; i < b->n; i++) {
			e->pending--;
			e->reg_pending--;
			reg_unavailable(b->r[i],
					rc == -ENOMEM ? "out-of-memory" : "redis-unavailable");
		}
	}
	b->n = 0;
}

static void on_batch_check(uv_check_t *h)
{
	batch_flush(h->data);
}

static void on_batch_idle(uv_idle_t *h)
{
	/* Nothing: an active idle handle makes the loop poll without blocking. */
}

/* Queues r (counted as pending from now on) for the next script call. */
static int batch_add(struct se_edge *e, struct se_reg *r)
{
	struct se_reg_batch *b = e->reg_batch;

	if (e->closing)
		return -ESHUTDOWN; /* se_registrar_stop has run or is about to */
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return -ENOMEM;
		b->e = e;
		uv_check_init(e->loop, &b->check);
		uv_idle_init(e->loop, &b->idle);
		b->check.data = b->idle.data = b;
		b->open_handles = 2;
		e->reg_batch = b;
	}
	b->r[b->n++] = r;
	e->pending++;
	e->reg_pending++;
	if (b->n == BATCH_MAX) {
		batch_flush(b);
	} else if (b->n == 1) {
		uv_check_start(&b->check, on_batch_check);
		uv_idle_start(&b->idle, on_batch_idle);
	}
	return 0;
}

static void on_batch_closed(uv_handle_t *h)
{
	struct se_reg_batch *b = h->data;

	if (--b->open_handles == 0)
		free(b);
}

void se_registrar_stop(struct se_edge *e)
{
	struct se_reg_batch *b = e->reg_batch;

	if (!b)
		return;
	e->reg_batch = NULL;
	/* Shutdown answers nothing more (as reg_done does while closing). */
	for (unsigned i = 0; i < b->n; i++) {
		e->pending--;
		e->reg_pending--;
		reg_free(b->r[i]);
	}
	b->n = 0;
	uv_close((uv_handle_t *)&b->check, on_batch_closed);
	uv_close((uv_handle_t *)&b->idle, on_batch_closed);
}

static void handle_register(struct se_edge *e, msg_t *msg, sip_t *sip)
{
	const struct se_reg_limits lim = {e->cfg->min_expires, e->cfg->max_expires,
					  e->cfg->default_expires};
	struct se_reg_origin o;
	struct se_reg *r;
	const char *phrase = NULL;
	int status = 0, rc;

	/* Only the head is cleared: req and args (~32 kB together) are filled by
	 * se_register_parse and se_register_args, and clearing them per REGISTER showed in the
	 * profile (memset). */
	r = malloc(sizeof(*r));
	if (!r) {
		nta_msg_treply(e->agent, msg, SIP_503_SERVICE_UNAVAILABLE,
			       SIPTAG_RETRY_AFTER_STR("5"), TAG_END());
		return;
	}
	memset(r, 0, offsetof(struct se_reg, req));
	r->e = e;
	r->msg = msg;
	r->now_ms = se_now_ms();
	r->tp = se_auth_transport(e, msg);
	if (se_registrar_source(msg, r->source, sizeof(r->source)) < 0)
		cm_snprintf(r->source, sizeof(r->source), "-");
	cm_snprintf(r->transport, sizeof(r->transport), "%s",
		    r->tp && tport_name(r->tp) ? tport_name(r->tp)->tpn_proto : "udp");
	for (char *p = r->transport; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);

	if (se_register_parse(msg_home(msg), sip, &lim, &r->req, &status, &phrase) < 0) {
		cm_log_info("register refused status=%d reason=%s call-id=%s source=%s", status,
			    phrase, call_id_of(r), r->source);
		if (status == 423) {
			char min[24];
			cm_snprintf(min, sizeof(min), "%ld", e->cfg->min_expires);
			reg_reply(r, status, phrase, SIPTAG_MIN_EXPIRES_STR(min), TAG_END());
		} else {
			reg_reply(r, status, phrase, TAG_END());
		}
		return;
	}
	if (e->pending >= SE_PENDING_MAX) {
		reg_unavailable(r, "too-many-pending");
		return;
	}
	if (e->reg_pending >= SE_REG_PENDING_MAX ||
	    (e->reg_pending >= SE_REG_SHED_MIN && e->reg_wait_ms > SE_REG_LATE_MS)) {
		reg_shed(r);
		return;
	}
	if (!r->tp) {
		reg_unavailable(r, "no-transport");
		return;
	}
	if (tport_is_reliable(r->tp)) {
		rc = se_flows_get(e->flows, r->tp, &r->flow);
		if (rc < 0) {
			reg_unavailable(r, "too-many-flows");
			return;
		}
		r->has_flow = true;
		cm_snprintf(r->flow_s, sizeof(r->flow_s), "%llu", (unsigned long long)r->flow);
	}

	{
		size_t len = 0;
		for (size_t i = 0; i < e->cfg->n_pkg; i++) {
			const struct se_package *p = &e->cfg->pkg[i];
			int k;
			if (!se_sip_accepts(sip, p->media))
				continue;
			k = cm_snprintf(r->accepted + len, sizeof(r->accepted) - len, "%s\n",
					p->name);
			if (k > 0)
				len += (size_t)k;
		}
	}
	o = (struct se_reg_origin){.edge = e->cfg->edge_id,
				   .source = r->source,
				   .transport = r->transport,
				   .flow = r->flow_s,
				   .now_ms = r->now_ms,
				   .accepted = r->accepted,
				   .packages = e->pkg_list,
				   .default_pkg = SE_DEFAULT_PACKAGE,
				   .notices = e->notices,
				   .gateway_url = e->cfg->gateway_url ? e->cfg->gateway_url : "",
				   .claim_limit = SE_CLAIM_MAX,
				   .edge_token = se_wake_token(e)};
	se_register_args(&r->req, &o, &r->args);
	rc = batch_add(e, r);
	if (rc < 0)
		reg_unavailable(r, rc == -ENOMEM ? "out-of-memory" : "shutting-down");
}

int se_registrar_message(nta_agent_magic_t *magic, nta_agent_t *agent, msg_t *msg, sip_t *sip)
{
	struct se_edge *e = (struct se_edge *)magic;

	if (!sip || !sip->sip_request || e->closing) {
		/* Stray responses (none of our transactions) and anything during shutdown. */
		msg_destroy(msg);
		return 0;
	}
	if (se_sanity_reject(agent, msg, sip))
		return 0;
	switch (sip->sip_request->rq_method) {
	case sip_method_register:
		if (e->auth)
			se_auth_request(e, msg, sip, handle_register);
		else
			handle_register(e, msg, sip);
		break;
	case sip_method_subscribe:
		if (e->auth)
			se_auth_request(e, msg, sip, se_subscription_handle);
		else
			se_subscription_handle(e, msg, sip);
		break;
	case sip_method_ack:
		msg_destroy(msg);
		break;
	case sip_method_options:
		nta_msg_treply(agent, msg, SIP_200_OK, SIPTAG_ALLOW_STR(SE_ALLOW),
			       SIPTAG_ALLOW_EVENTS_STR(e->cfg->allow_events), TAG_END());
		break;
	default:
		nta_msg_treply(agent, msg, SIP_405_METHOD_NOT_ALLOWED, SIPTAG_ALLOW_STR(SE_ALLOW),
			       SIPTAG_ALLOW_EVENTS_STR(e->cfg->allow_events), TAG_END());
		break;
	}
	return 0;
}
