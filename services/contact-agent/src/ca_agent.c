/* SPDX-License-Identifier: Apache-2.0 */
/*
 * contact-agent's user agent on sofia-sip nua 1.12.11.
 *
 * What makes an out-of-dialog NOTIFY reach the application in this version: NOTIFY must be
 * in the Allow list (nta_check_method answers 405 otherwise; nua allows it by default, we
 * set the list explicitly to "OPTIONS, NOTIFY") and NUTAG_APPL_METHOD("NOTIFY"): without it
 * nua_notify_server_preprocess answers "481 Subscription Does Not Exist" for a NOTIFY that
 * matches no SUBSCRIBE. With it nua creates a handle, reports nua_i_notify and waits for
 * nua_respond(). The NOTIFY must carry no To tag (nua answers 481 to an initial request
 * with one). NUTAG_ALLOW_EVENTS only adds Allow-Events to our messages; nua does not filter
 * NOTIFYs by it, so the Event check is ours.
 *
 * +sip.instance: NUTAG_INSTANCE only reaches the Contact when the "outbound" option (RFC
 * 5626 reg-id) is on, which we do not want against a registrar that lacks it; the feature is
 * therefore set with NUTAG_M_FEATURES.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NUA_MAGIC_T struct ca_agent
#define SU_ROOT_MAGIC_T struct ca_agent

#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_tag.h>
#include <sofia-sip/tport_tag.h>

#include "ca_agent.h"
#include "ca_plan.h"
#include "cm/hostport.h"
#include "cm/log.h"
#include "cm/payload.h"
#include "cm/su_uv.h"

#define CA_USER_AGENT "beckon-contact-agent/0.1"
#define CA_SHUTDOWN_GUARD_MS 5000

static void timer_closed(uv_handle_t *h);

static int do_register(struct ca_agent *a)
{
	nua_register(a->reg, NUTAG_REGISTRAR(a->set->registrar), NUTAG_PROXY(a->set->registrar),
		     SIPTAG_ACCEPT_STR(CM_PAYLOAD_MEDIA_TYPE), SIPTAG_EXPIRES_STR(a->expires),
		     TAG_END());
	return 0;
}

static void retry_cb(uv_timer_t *t)
{
	struct ca_agent *a = t->data;

	if (!a->stopping && a->reg)
		do_register(a);
}

/* A delta-seconds parameter, or dflt when it is not a number. */
static long seconds_or(const char *v, long dflt)
{
	char *end;
	long n;

	if (!v)
		return dflt;
	errno = 0;
	n = strtol(v, &end, 10);
	return errno || end == v || n < 0 ? dflt : n;
}

/* Expiry the registrar granted to our binding: our contact's expires parameter (found by
 * instance id when we have one), else the Expires header, else what we asked for. */
static long granted_expires(const struct ca_agent *a, sip_t const *sip)
{
	const sip_contact_t *m, *pick = NULL;

	if (!sip)
		return a->set->expires;
	for (m = sip->sip_contact; m; m = m->m_next) {
		const char *inst = msg_header_find_param(m->m_common, "+sip.instance=");

		if (a->set->instance_id && *a->set->instance_id) {
			if (inst && strstr(inst, a->set->instance_id)) {
				pick = m;
				break;
			}
		} else if (!pick) {
			pick = m;
		}
	}
	if (pick && pick->m_expires)
		return seconds_or(pick->m_expires, a->set->expires);
	if (sip->sip_expires)
		return (long)sip->sip_expires->ex_delta;
	return a->set->expires;
}

static void on_register(struct ca_agent *a, int status, char const *phrase, sip_t const *sip)
{
	if (status < 200)
		return;
	if (status < 300) {
		cm_log_info("registered aor=%s expires=%ld", a->set->aor, granted_expires(a, sip));
		return;
	}
	cm_log_warn("register failed status=%d phrase=%s aor=%s registrar=%s retry-in=%lds", status,
		    phrase ? phrase : "", a->set->aor, a->set->registrar, a->set->register_retry);
	if (!a->stopping)
		uv_timer_start(&a->timer, retry_cb, (uint64_t)a->set->register_retry * 1000, 0);
}

/* Checks the NOTIFY, answers it, and starts the callback. Runs inside nua's callback, where
 * NUTAG_WITH_THIS refers to this request. */
static void on_notify(struct ca_agent *a, nua_handle_t *nh, sip_t const *sip)
{
	nua_t *nua = a->nua;
	const char *call_id = sip && sip->sip_call_id ? sip->sip_call_id->i_id : "-";
	const char *why = NULL;
	struct cm_payload p;
	struct ca_plan *plan;
	int rc;

	if (!sip || !sip->sip_event || strcmp(sip->sip_event->o_type, CM_PAYLOAD_EVENT) != 0) {
		cm_log_info("notify refused status=489 call-id=%s event=%s", call_id,
			    sip && sip->sip_event ? sip->sip_event->o_type : "-");
		nua_respond(nh, SIP_489_BAD_EVENT, NUTAG_WITH_THIS(nua),
			    SIPTAG_ALLOW_EVENTS_STR(CM_PAYLOAD_EVENT), TAG_END());
		return;
	}
	if (!sip->sip_content_type || !sip->sip_content_type->c_type ||
	    strcasecmp(sip->sip_content_type->c_type, CM_PAYLOAD_MEDIA_TYPE) != 0) {
		cm_log_info("notify refused status=415 call-id=%s content-type=%s", call_id,
			    sip->sip_content_type && sip->sip_content_type->c_type
				? sip->sip_content_type->c_type
				: "-");
		nua_respond(nh, SIP_415_UNSUPPORTED_MEDIA, NUTAG_WITH_THIS(nua),
			    SIPTAG_ACCEPT_STR(CM_PAYLOAD_MEDIA_TYPE), TAG_END());
		return;
	}
	if (!sip->sip_payload ||
	    cm_payload_parse(sip->sip_payload->pl_data, sip->sip_payload->pl_len, &p, &why) < 0) {
		why = sip->sip_payload ? (why ? why : "malformed body") : "empty body";
		cm_log_info("notify refused status=400 call-id=%s reason=%s", call_id, why);
		nua_respond(nh, 400, why, NUTAG_WITH_THIS(nua), TAG_END());
		return;
	}
	nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua), TAG_END());
	cm_log_info("notify received request-id=%.*s server=%.*s call-id=%s", (int)p.request_id.len,
		    p.request_id.p, p.server.p ? (int)p.server.len : 1,
		    p.server.p ? p.server.p : "-", call_id);

	plan = malloc(sizeof(*plan));
	if (!plan) {
		cm_log_error("callback not started request-id=%.*s: out of memory",
			     (int)p.request_id.len, p.request_id.p);
		return;
	}
	rc = ca_plan_build(&p, &a->trust, a->device, a->set->aor, a->set->default_server, plan);
	if (rc == -ENOENT) {
		cm_log_info("no server in request-id=%.*s and no default-server: skipped",
			    (int)p.request_id.len, p.request_id.p);
		goto drop;
	}
	if (rc < 0) {
		cm_log_warn("callback not started request-id=%.*s: %s", (int)p.request_id.len,
			    p.request_id.p, strerror(-rc));
		goto drop;
	}
	for (size_t i = 0; i < plan->n_refused; i++)
		cm_log_warn("untrusted server %s refused request-id=%s", plan->refused[i],
			    plan->request_id);
	if (plan->n_target == 0)
		goto drop;
	rc = ca_callback_start(&a->callbacks, plan);
	if (rc < 0) {
		cm_log_warn("callback not started request-id=%s: %s (%u in flight)",
			    plan->request_id, rc == -EBUSY ? "too many callbacks" : uv_strerror(rc),
			    a->callbacks.inflight);
		goto drop;
	}
	return;
drop:
	ca_plan_free(plan);
	free(plan);
}

static void finish_cb(uv_timer_t *t)
{
	struct ca_agent *a = t->data;

	if (a->nua)
		nua_destroy(a->nua);
	a->nua = NULL;
	cm_su_uv_destroy(a->su);
	a->su = NULL;
	a->root = NULL;
	uv_close((uv_handle_t *)&a->timer, timer_closed);
}

static void guard_cb(uv_timer_t *t)
{
	struct ca_agent *a = t->data;

	/* nua_destroy before nua_r_shutdown's final answer is not allowed: leak instead, the
	 * process is exiting. */
	cm_log_warn("sip shutdown did not finish in %d ms", CA_SHUTDOWN_GUARD_MS);
	a->leaked = true;
	uv_close((uv_handle_t *)&a->timer, timer_closed);
}

static void timer_closed(uv_handle_t *h)
{
	struct ca_agent *a = h->data;

	a->timer_init = false;
	if (a->done)
		a->done(a, !a->leaked);
}

static void nua_cb(nua_event_t event, int status, char const *phrase, nua_t *nua,
		   struct ca_agent *a, nua_handle_t *nh, nua_hmagic_t *hmagic, sip_t const *sip,
		   tagi_t tags[])
{
	(void)nua;
	(void)hmagic;
	(void)tags;
	switch (event) {
	case nua_r_register:
		if (!a->stopping)
			on_register(a, status, phrase, sip);
		break;
	case nua_r_unregister:
		if (status >= 200)
			cm_log_info("unregistered aor=%s status=%d", a->set->aor, status);
		break;
	case nua_i_notify:
		on_notify(a, nh, sip);
		if (nh != a->reg)
			nua_handle_destroy(nh);
		break;
	case nua_i_options:
		if (nh != a->reg)
			nua_handle_destroy(nh);
		break;
	case nua_i_outbound:
		cm_log_warn("keepalive status=%d phrase=%s registrar=%s", status,
			    phrase ? phrase : "", a->set->registrar);
		break;
	case nua_i_error:
		cm_log_warn("sip error status=%d phrase=%s", status, phrase ? phrase : "");
		break;
	case nua_r_shutdown:
		if (status >= 200) {
			/* nua_destroy may not run inside nua's own callback. */
			uv_timer_stop(&a->timer);
			uv_timer_start(&a->timer, finish_cb, 0, 0);
		}
		break;
	default:
		cm_log_debug("sip event %s status=%d", nua_event_name(event), status);
		break;
	}
}

/* NUTAG_URL for the listen spec. The transport follows the registrar: over TCP the NOTIFY
 * comes back on the registration's connection, so a `udp:` listen spec against a
 * ;transport=tcp registrar binds TCP on that address (and the Contact says transport=tcp). */
static int listen_url(const struct ca_agent *a, char *buf, size_t size, char *err, size_t errlen)
{
	struct cm_listen l;
	char hp[CM_HOST_MAX + 10];
	const char *want = ca_settings_uri_transport(a->set->registrar);
	int n;

	if (cm_listen_parse(a->set->sip_listen, &l, 1, err, errlen) < 0)
		return -EINVAL;
	if (l.tp == CM_TP_TLS) {
		snprintf(err, errlen, "sip-listen: tls is not supported by contact-agent");
		return -EINVAL;
	}
	if (cm_hostport_format(hp, sizeof(hp), l.host, strlen(l.host), l.port) < 0)
		return -ENOSPC;
	if (strcmp(want, cm_transport_name(l.tp)) != 0)
		cm_log_info("sip-listen %s: using %s, the registrar's transport",
			    a->set->sip_listen, want);
	n = snprintf(buf, size, "sip:%s;transport=%s", hp, want);
	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

/* The user part of the AOR for the Contact, so the registrar sees sip:user@ip:port. */
static int aor_user(const char *aor, char *buf, size_t size)
{
	const char *u = strchr(aor, ':'), *at = strchr(aor, '@');
	size_t len;

	if (!u || !at || at <= u + 1)
		return -EINVAL;
	u++;
	len = strcspn(u, ";:@");
	if (len >= size)
		return -ENOSPC;
	memcpy(buf, u, len);
	buf[len] = '\0';
	return 0;
}

int ca_agent_start(struct ca_agent *a, uv_loop_t *loop, const struct ca_settings *set, char *err,
		   size_t errlen)
{
	char url[CM_HOST_MAX + 64], user[256], features[300] = "";
	bool tcp = strcmp(ca_settings_uri_transport(set->registrar), "tcp") == 0;
	unsigned ka_ms = (unsigned)set->keepalive * 1000;
	int rc;

	memset(a, 0, sizeof(*a));
	a->loop = loop;
	a->set = set;
	a->device = set->instance_id && *set->instance_id ? set->instance_id : set->aor;
	snprintf(a->expires, sizeof(a->expires), "%ld", set->expires);
	ca_callback_init(&a->callbacks, loop, set->callback_timeout, (unsigned)set->max_callbacks);

	if (ca_trust_parse(set->trusted_servers, &a->trust, err, errlen) < 0)
		return -EINVAL;
	if (set->default_server && *set->default_server) {
		struct cm_hostport hp;

		if (cm_hostport_parse(set->default_server, strlen(set->default_server), &hp) < 0) {
			snprintf(err, errlen, "default-server: '%s' is not host:port",
				 set->default_server);
			return -EINVAL;
		}
	}
	rc = listen_url(a, url, sizeof(url), err, errlen);
	if (rc < 0)
		return rc;
	if (aor_user(set->aor, user, sizeof(user)) < 0) {
		snprintf(err, errlen, "aor: no user part in '%s'", set->aor);
		return -EINVAL;
	}
	if (a->device == set->instance_id)
		snprintf(features, sizeof(features), "+sip.instance=\"<%s>\"", set->instance_id);

	rc = uv_timer_init(loop, &a->timer);
	if (rc < 0) {
		snprintf(err, errlen, "uv_timer_init: %s", uv_strerror(rc));
		return rc;
	}
	a->timer.data = a;
	a->timer_init = true;

	rc = cm_su_uv_create(loop, a, (su_root_t **)&a->root, &a->su);
	if (rc < 0) {
		snprintf(err, errlen, "sofia root on the loop: %s", strerror(-rc));
		return rc;
	}
	cm_su_uv_redirect_logs();

	a->nua =
	    nua_create((su_root_t *)a->root, nua_cb, a, NUTAG_URL(url), SIPTAG_FROM_STR(set->aor),
		       NUTAG_M_USERNAME(user), TAG_IF(features[0], NUTAG_M_FEATURES(features)),
		       SIPTAG_ALLOW_STR("OPTIONS, NOTIFY"), NUTAG_APPL_METHOD("NOTIFY"),
		       NUTAG_ALLOW_EVENTS(CM_PAYLOAD_EVENT),
		       /* OPTIONS keepalive to the registrar over UDP; no NAT rewriting of the
			* Contact and no registration probe: sip-edge uses the source address
			* and does not route OPTIONS back to us. */
		       NUTAG_OUTBOUND(ka_ms && !tcp ? "no-natify no-validate options-keepalive"
						    : "no-natify no-validate no-options-keepalive"),
		       NUTAG_KEEPALIVE(ka_ms),
		       /* CRLF pings on the registration's TCP connection. */
		       TAG_IF(tcp && ka_ms, TPTAG_KEEPALIVE(ka_ms)),
		       SIPTAG_USER_AGENT_STR(CA_USER_AGENT), TAG_END());
	if (!a->nua) {
		snprintf(err, errlen, "cannot create the SIP stack on %s", url);
		return -EADDRNOTAVAIL;
	}
	/* The keepalive OPTIONS is addressed to the AOR (nua copies the REGISTER's To): without
	 * a proxy on this handle nta would resolve the AOR's domain and send it there. With
	 * NUTAG_PROXY it goes to the registrar, over the flow it must keep open. */
	a->reg = nua_handle(a->nua, NULL, SIPTAG_TO_STR(set->aor), TAG_END());
	if (!a->reg) {
		snprintf(err, errlen, "cannot create the registration handle");
		return -ENOMEM;
	}
	cm_log_info("agent started aor=%s device=%s registrar=%s listen=%s trusted=%zu", set->aor,
		    a->device, set->registrar, url, a->trust.n);
	return do_register(a);
}

void ca_agent_stop(struct ca_agent *a, ca_agent_done_cb *done)
{
	a->done = done;
	a->stopping = true;
	if (!a->timer_init) {
		/* Nothing on the loop yet; still never call done from inside this call. */
		uv_timer_init(a->loop, &a->timer);
		a->timer.data = a;
		a->timer_init = true;
	}
	uv_timer_stop(&a->timer);
	if (a->nua) {
		/* Unregisters, then reports nua_r_shutdown; finish_cb runs after that. */
		nua_shutdown(a->nua);
		uv_timer_start(&a->timer, guard_cb, CA_SHUTDOWN_GUARD_MS, 0);
	} else {
		uv_timer_start(&a->timer, finish_cb, 0, 0);
	}
}
