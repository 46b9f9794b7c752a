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
 *
 * Explicit subscriptions (setting subscribe): one nua handle per package, nua_subscribe
 * with Event, Accept and Expires; nua refreshes it before it expires and nua_shutdown sends
 * the un-SUBSCRIBE. A NOTIFY inside that dialog is answered 200 by nua itself
 * (nua_notify_server_preprocess: "solicited") before nua_i_notify reaches us, so a bad body
 * there can only be logged, not refused. Its body lists zero or more requests
 * (cm_payload_next); each is handled like the request of an out-of-dialog NOTIFY.
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
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_tag.h>
#include <sofia-sip/tport_tag.h>

#include "ca_agent.h"
#include "ca_metrics.h"
#include "ca_plan.h"
#include "ca_valid.h"
#include "cm/tlsdir.h"
#include "cm/hostport.h"
#include "cm/log.h"
#include "cm/payload.h"
#include "cm/su_uv.h"

#define CA_USER_AGENT "beckon-contact-agent/" CA_VERSION
#define CA_HELLO_AGENT "contact-agent/" CA_VERSION
#define CA_SHUTDOWN_GUARD_MS 5000
#define CA_UNSUBSCRIBE_WAIT_MS 2000

static void shutdown_sip(struct ca_agent *a);

static void timer_closed(uv_handle_t *h);

static int do_register(struct ca_agent *a)
{
	nua_register(a->reg, NUTAG_REGISTRAR(a->registrar), NUTAG_PROXY(a->registrar),
		     TAG_IF(a->set->register_accept, SIPTAG_ACCEPT_STR(a->packages.accept)),
		     SIPTAG_EXPIRES_STR(a->expires), TAG_END());
	return 0;
}

/* Sends a SUBSCRIBE for each package that has no subscription. */
static void subscribe_missing(struct ca_agent *a)
{
	char accept[sizeof(CA_MEDIA_PREFIX) + CA_PACKAGE_NAME_MAX];

	for (size_t i = 0; i < a->packages.n; i++) {
		const char *pkg = a->packages.name[i];

		if (a->sub[i])
			continue;
		/* To and Request-URI are the AOR (the resource whose events we want); like the
		 * REGISTER it is routed to the registrar, whatever the AOR's domain resolves
		 * to. */
		a->sub[i] = nua_handle(a->nua, NULL, SIPTAG_TO_STR(a->set->aor), TAG_END());
		if (!a->sub[i]) {
			cm_log_error("subscribe not sent package=%s: out of memory", pkg);
			continue;
		}
		snprintf(accept, sizeof(accept), "%s%s", CA_MEDIA_PREFIX, pkg);
		nua_subscribe(a->sub[i], NUTAG_PROXY(a->registrar),
			      TAG_IF(a->sub_contact[0], SIPTAG_CONTACT_STR(a->sub_contact)),
			      SIPTAG_EVENT_STR(pkg), SIPTAG_ACCEPT_STR(accept),
			      SIPTAG_EXPIRES_STR(a->sub_expires), TAG_END());
		cm_log_debug("subscribe sent package=%s expires=%s", pkg, a->sub_expires);
	}
}

static void resubscribe_cb(uv_timer_t *t)
{
	struct ca_agent *a = t->data;

	if (!a->stopping && a->registered_once)
		subscribe_missing(a);
}

/* Forgets the subscription of package i and tries again after register-retry. */
static void drop_subscription(struct ca_agent *a, size_t i, bool retry)
{
	if (a->stopping)
		return; /* nua_shutdown is ending it; nua_destroy frees the handle */
	nua_handle_destroy(a->sub[i]);
	a->sub[i] = NULL;
	if (retry && !a->stopping && a->sub_timer_init &&
	    !uv_is_active((uv_handle_t *)&a->sub_timer))
		uv_timer_start(&a->sub_timer, resubscribe_cb,
			       (uint64_t)a->set->register_retry * 1000, 0);
}

/* The package index of a subscription handle, or -1. */
static int sub_index(const struct ca_agent *a, const nua_handle_t *nh)
{
	for (size_t i = 0; i < a->packages.n; i++)
		if (a->sub[i] && a->sub[i] == nh)
			return (int)i;
	return -1;
}

/* With a backup-registrar, moves to the other registrar (failover, and back when the
 * backup fails in turn). Returns true when it switched. */
static bool switch_registrar(struct ca_agent *a, const char *why, int status)
{
	const char *b = a->set->backup_registrar;

	if (!b || !*b)
		return false;
	a->registrar = a->registrar == a->set->registrar ? b : a->set->registrar;
	cm_log_warn("registrar switched to=%s after=%s status=%d aor=%s", a->registrar, why, status,
		    a->set->aor);
	ca_metrics_switch(why);
	ca_metrics_registered(false); /* until the other one answers 200 */
	return true;
}

/* The answer to a registrar probe. 408 (no answer, sip-timeout) and 5xx (sofia's own 503
 * for a refused or reset transport, or an overloaded registrar) mean "gone": register with
 * the other registrar now instead of at the next refresh, up to expires/2 away. */
static void on_probe(struct ca_agent *a, int status)
{
	a->probing = false;
	if (a->stopping || (status != 408 && status < 500))
		return;
	cm_log_warn("registrar probe failed status=%d registrar=%s", status, a->registrar);
	if (uv_is_active((uv_handle_t *)&a->timer))
		return; /* a failed REGISTER is being retried: that switches already */
	if (switch_registrar(a, "probe-failed", status))
		do_register(a);
}

static void probe_cb(uv_timer_t *t)
{
	struct ca_agent *a = t->data;

	if (a->stopping || !a->registered_once || a->probing || !a->nua)
		return;
	if (!a->probe)
		a->probe = nua_handle(a->nua, NULL, SIPTAG_TO_STR(a->set->aor), TAG_END());
	if (!a->probe)
		return; /* out of memory: try again at the next tick */
	nua_options(a->probe, NUTAG_PROXY(a->registrar), TAG_END());
	a->probing = true;
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

/* Our binding among the Contacts of a REGISTER answer: found by instance id when we have
 * one, else the first. NULL when there is none. */
static const sip_contact_t *our_contact(const struct ca_agent *a, sip_t const *sip)
{
	const sip_contact_t *m, *pick = NULL;

	for (m = sip ? sip->sip_contact : NULL; m; m = m->m_next) {
		const char *inst = msg_header_find_param(m->m_common, "+sip.instance=");

		if (a->set->instance_id && *a->set->instance_id) {
			if (inst && strstr(inst, a->set->instance_id))
				return m;
		} else if (!pick) {
			pick = m;
		}
	}
	return pick;
}

/* Expiry the registrar granted to our binding: our contact's expires parameter, else the
 * Expires header, else what we asked for. */
static long granted_expires(const struct ca_agent *a, sip_t const *sip)
{
	const sip_contact_t *pick = our_contact(a, sip);

	if (!sip)
		return a->set->expires;
	if (pick && pick->m_expires)
		return seconds_or(pick->m_expires, a->set->expires);
	if (sip->sip_expires)
		return (long)sip->sip_expires->ex_delta;
	return a->set->expires;
}

/* Remembers the Contact our SUBSCRIBEs carry: the registered Contact URI plus
 * +sip.instance, so the notifier finds the binding exactly as the REGISTER made it (nua's
 * own Contact for a SUBSCRIBE drops the feature parameters). */
static void remember_contact(struct ca_agent *a, sip_t const *sip)
{
	const sip_contact_t *m = our_contact(a, sip);
	su_home_t home[1] = {SU_HOME_INIT(home)};
	char *uri;

	if (!m || !a->set->instance_id || !*a->set->instance_id)
		return;
	uri = url_as_string(home, m->m_url);
	if (uri && snprintf(a->sub_contact, sizeof(a->sub_contact), "<%s>;+sip.instance=\"<%s>\"",
			    uri, a->set->instance_id) >= (int)sizeof(a->sub_contact))
		a->sub_contact[0] = '\0';
	su_home_deinit(home);
}

static void on_register(struct ca_agent *a, int status, char const *phrase, sip_t const *sip)
{
	if (status < 200)
		return;
	ca_metrics_register(status, false);
	ca_metrics_registered(status < 300);
	if (status < 300) {
		cm_log_info("registered aor=%s expires=%ld", a->set->aor, granted_expires(a, sip));
		remember_contact(a, sip);
		/* The application server learns where the device is after the first
		 * registration, and again after an outage, when it may have been forgotten. */
		if (!a->registered_once || a->reg_failed)
			ca_hello_send(&a->hello);
		a->registered_once = true;
		a->reg_failed = false;
		if (a->set->subscribe)
			subscribe_missing(a);
		return;
	}
	a->reg_failed = true;
	/* sofia 1.12.11 drops a connection whose handshake or certificate check failed without
	 * failing the request on it: the REGISTER only times out. */
	if (status == 408 && strcmp(ca_settings_uri_transport(a->set->registrar), "tls") == 0)
		cm_log_warn("register over tls timed out: no TLS connection, or the registrar's "
			    "certificate does not verify against tls-ca=%s for its host",
			    a->set->tls_ca);
	cm_log_warn("register failed status=%d phrase=%s aor=%s registrar=%s retry-in=%lds", status,
		    phrase ? phrase : "", a->set->aor, a->registrar, a->set->register_retry);
	switch_registrar(a, "register-failed", status);
	if (!a->stopping)
		uv_timer_start(&a->timer, retry_cb, (uint64_t)a->set->register_retry * 1000, 0);
}

/* Handles one request of a NOTIFY (already answered): de-duplication, valid-until, time-slot,
 * trust, then the callback now or when its window opens. */
static void handle_request(struct ca_agent *a, const struct cm_payload *p, const char *call_id)
{
	int64_t start_ms = 0, end_ms = 0, until_ms;
	enum ca_slot_when when = CA_SLOT_NOW;
	uint64_t delay = 0;
	struct ca_plan *plan;
	int rc;

	cm_log_info("notify received request-id=%.*s server=%.*s call-id=%s",
		    (int)p->request_id.len, p->request_id.p, p->server.p ? (int)p->server.len : 1,
		    p->server.p ? p->server.p : "-", call_id);
	if (ca_dedup_seen(&a->dedup, p->request_id.p, p->request_id.len, p->server.p, p->server.len,
			  uv_now(a->loop) + 1)) {
		cm_log_info("duplicate request-id=%.*s ignored: already handled",
			    (int)p->request_id.len, p->request_id.p);
		ca_metrics_request("duplicate");
		return;
	}
	/* valid-until passed: the API already says expired, so a late NOTIFY (one that waited
	 * out a partition) must not call back. The NOTIFY was answered 200 all the same: it was
	 * well-formed, and a refusal would only make beckon retry it. */
	if (ca_valid_decide(p->valid_until.p, p->valid_until.len, ca_slot_now_ms(),
			    a->set->clock_skew, &until_ms) == CA_VALID_EXPIRED) {
		cm_log_info("callback expired request_id=%.*s valid_until=%.*s clock_skew=%lds",
			    (int)p->request_id.len, p->request_id.p, (int)p->valid_until.len,
			    p->valid_until.p, a->set->clock_skew);
		ca_metrics_request("expired");
		return;
	}
	if (p->time_slot.p) {
		if (ca_slot_parse(p->time_slot.p, p->time_slot.len, &start_ms, &end_ms) == 0)
			when = ca_slot_decide(start_ms, end_ms, ca_slot_now_ms(), &delay);
		else
			cm_log_warn("time-slot unreadable request-id=%.*s: calling back now",
				    (int)p->request_id.len, p->request_id.p);
		if (when == CA_SLOT_OVER) {
			cm_log_info("time-slot over request-id=%.*s time-slot=%.*s: skipped",
				    (int)p->request_id.len, p->request_id.p, (int)p->time_slot.len,
				    p->time_slot.p);
			ca_metrics_request("slot-over");
			return;
		}
	}

	plan = malloc(sizeof(*plan));
	if (!plan) {
		cm_log_error("callback not started request-id=%.*s: out of memory",
			     (int)p->request_id.len, p->request_id.p);
		ca_metrics_request("error");
		return;
	}
	rc = ca_plan_build(p, &a->trust, a->device, a->set->aor, a->set->default_server, plan);
	if (rc == -ENOENT) {
		cm_log_info("no server in request-id=%.*s and no default-server: skipped",
			    (int)p->request_id.len, p->request_id.p);
		ca_metrics_request("no-server");
		goto drop;
	}
	if (rc < 0) {
		cm_log_warn("callback not started request-id=%.*s: %s", (int)p->request_id.len,
			    p->request_id.p, strerror(-rc));
		ca_metrics_request("error");
		goto drop;
	}
	for (size_t i = 0; i < plan->n_refused; i++)
		cm_log_warn("untrusted server %s refused request-id=%s", plan->refused[i],
			    plan->request_id);
	if (plan->n_target == 0) {
		ca_metrics_request("untrusted"); /* every server named was refused */
		goto drop;
	}
	if (when == CA_SLOT_LATER) {
		rc = ca_slot_queue_add(&a->slots, plan, delay);
		if (rc < 0) {
			cm_log_warn("callback not scheduled request-id=%s: %s (%u waiting)",
				    plan->request_id,
				    rc == -EBUSY ? "too many scheduled" : uv_strerror(rc),
				    a->slots.n);
			ca_metrics_request(rc == -EBUSY ? "busy" : "error");
			goto drop;
		}
		cm_log_info("callback scheduled request-id=%s in=%llums", plan->request_id,
			    (unsigned long long)delay);
		ca_metrics_request("scheduled");
		return;
	}
	rc = ca_callback_start(&a->callbacks, plan);
	if (rc < 0) {
		cm_log_warn("callback not started request-id=%s: %s (%u in flight)",
			    plan->request_id, rc == -EBUSY ? "too many callbacks" : uv_strerror(rc),
			    a->callbacks.inflight);
		ca_metrics_request(rc == -EBUSY ? "busy" : "error");
		goto drop;
	}
	ca_metrics_request("started");
	return;
drop:
	ca_plan_free(plan);
	free(plan);
}

/*
 * Checks every record of body; returns their number (0 for an empty body), or -EINVAL with
 * the reason in *why. Nothing is acted on until the whole body is known to be good, so a
 * NOTIFY refused with 400 has had no effect.
 */
static int check_records(const char *body, size_t len, const char **why)
{
	struct cm_payload p;
	size_t pos = 0;
	int n = 0, rc;

	while ((rc = cm_payload_next(body, len, &pos, &p, why)) == 1) {
		if (++n > CM_PAYLOAD_RECORDS_MAX) {
			*why = "more than 64 records";
			return -EINVAL;
		}
	}
	return rc < 0 ? -EINVAL : n;
}

static void handle_records(struct ca_agent *a, const char *body, size_t len, const char *call_id)
{
	struct cm_payload p;
	const char *why;
	size_t pos = 0;

	while (cm_payload_next(body, len, &pos, &p, &why) == 1)
		handle_request(a, &p, call_id);
}

/* The protection option: every request of body must name only trusted servers and https
 * (ca_plan_protect), or the whole NOTIFY is refused, so that beckon records the refusal.
 * Returns 0 or -EACCES / -EINVAL with the reason phrase in *why. */
static int protect_check(const struct ca_agent *a, const char *body, size_t len, const char **why)
{
	struct cm_payload p;
	size_t pos = 0;
	int rc;

	while (cm_payload_next(body, len, &pos, &p, why) == 1) {
		rc = ca_plan_protect(&p, &a->trust, why);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Checks an out-of-dialog NOTIFY, answers it, and handles its request(s). Runs inside nua's
 * callback, where NUTAG_WITH_THIS refers to this request. */
static void on_notify(struct ca_agent *a, nua_handle_t *nh, sip_t const *sip)
{
	nua_t *nua = a->nua;
	const char *call_id = sip && sip->sip_call_id ? sip->sip_call_id->i_id : "-";
	const char *why = NULL;
	int pkg, n;

	pkg = sip && sip->sip_event ? ca_packages_find(&a->packages, sip->sip_event->o_type)
				    : -ENOENT;
	if (pkg < 0) {
		cm_log_info("notify refused status=489 call-id=%s event=%s", call_id,
			    sip && sip->sip_event ? sip->sip_event->o_type : "-");
		ca_metrics_notify("bad-event");
		nua_respond(nh, SIP_489_BAD_EVENT, NUTAG_WITH_THIS(nua),
			    SIPTAG_ALLOW_EVENTS_STR(a->packages.allow_events), TAG_END());
		return;
	}
	if (a->set->notify_auth) {
		char chal[256];
		if (ca_auth_check_notify(&a->auth, sip, (int64_t)(uv_now(a->loop) / 1000) + 1, chal,
					 sizeof(chal), &why) < 0) {
			cm_log_info("notify challenged status=401 call-id=%s reason=%s", call_id,
				    why);
			ca_metrics_notify("challenged");
			nua_respond(nh, SIP_401_UNAUTHORIZED, NUTAG_WITH_THIS(nua),
				    SIPTAG_WWW_AUTHENTICATE_STR(chal), TAG_END());
			return;
		}
		cm_log_info("notify authenticated call-id=%s user=%s", call_id, a->auth.user);
	}
	if (!sip->sip_content_type ||
	    !ca_packages_media_ok(&a->packages, pkg, sip->sip_content_type->c_type)) {
		cm_log_info("notify refused status=415 call-id=%s content-type=%s", call_id,
			    sip->sip_content_type && sip->sip_content_type->c_type
				? sip->sip_content_type->c_type
				: "-");
		ca_metrics_notify("bad-media");
		nua_respond(nh, SIP_415_UNSUPPORTED_MEDIA, NUTAG_WITH_THIS(nua),
			    SIPTAG_ACCEPT_STR(a->packages.accept), TAG_END());
		return;
	}
	n = sip->sip_payload
		? check_records(sip->sip_payload->pl_data, sip->sip_payload->pl_len, &why)
		: 0;
	if (n <= 0) {
		why = n == 0 ? "empty body" : (why ? why : "malformed body");
		cm_log_info("notify refused status=400 call-id=%s reason=%s", call_id, why);
		ca_metrics_notify("bad-body");
		nua_respond(nh, 400, why, NUTAG_WITH_THIS(nua), TAG_END());
		return;
	}
	if (a->set->protect &&
	    protect_check(a, sip->sip_payload->pl_data, sip->sip_payload->pl_len, &why) < 0) {
		cm_log_warn("notify refused status=403 call-id=%s reason=%s", call_id, why);
		ca_metrics_notify("refused-protect");
		nua_respond(nh, 403, why, NUTAG_WITH_THIS(nua), TAG_END());
		return;
	}
	nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(nua), TAG_END());
	ca_metrics_notify("accepted");
	handle_records(a, sip->sip_payload->pl_data, sip->sip_payload->pl_len, call_id);
}

/* A NOTIFY in the dialog of our subscription to package i (nua has answered it 200), or
 * nua's own report that the subscription ended (sip NULL). */
static void on_sub_notify(struct ca_agent *a, size_t i, int status, char const *phrase,
			  sip_t const *sip, tagi_t tags[])
{
	const char *pkg = a->packages.name[i];
	const char *call_id = sip && sip->sip_call_id ? sip->sip_call_id->i_id : "-";
	const sip_subscription_state_t *ss = sip ? sip->sip_subscription_state : NULL;
	int substate = nua_substate_active;
	const char *reason, *why = NULL;

	tl_gets(tags, NUTAG_SUBSTATE_REF(substate), TAG_END());
	if (sip && sip->sip_payload && sip->sip_payload->pl_len > 0) {
		if (!sip->sip_content_type ||
		    !ca_packages_media_ok(&a->packages, (int)i, sip->sip_content_type->c_type))
			cm_log_warn("state notify ignored package=%s call-id=%s: content-type %s",
				    pkg, call_id,
				    sip->sip_content_type && sip->sip_content_type->c_type
					? sip->sip_content_type->c_type
					: "-");
		else if (check_records(sip->sip_payload->pl_data, sip->sip_payload->pl_len, &why) <
			 0)
			cm_log_warn("state notify ignored package=%s call-id=%s: %s", pkg, call_id,
				    why ? why : "malformed body");
		else
			handle_records(a, sip->sip_payload->pl_data, sip->sip_payload->pl_len,
				       call_id);
	} else if (sip) {
		cm_log_info("state notify package=%s call-id=%s substate=%s: no requests", pkg,
			    call_id, ss && ss->ss_substate ? ss->ss_substate : "-");
	}
	if (substate != nua_substate_terminated)
		return;
	reason = ss && ss->ss_reason ? ss->ss_reason : (sip ? "-" : phrase ? phrase : "-");
	cm_log_info("subscription terminated reason=%s package=%s status=%d", reason, pkg, status);
	/* RFC 6665 4.1.3: after rejected, noresource or invariant, do not try again. */
	drop_subscription(a, i,
			  !(ss && ss->ss_reason &&
			    (strcasecmp(ss->ss_reason, "rejected") == 0 ||
			     strcasecmp(ss->ss_reason, "noresource") == 0 ||
			     strcasecmp(ss->ss_reason, "invariant") == 0)));
}

static void on_subscribe(struct ca_agent *a, size_t i, int status, char const *phrase,
			 sip_t const *sip)
{
	if (status < 200)
		return;
	if (status < 300) {
		cm_log_info("subscribed expires=%lu package=%s status=%d",
			    sip && sip->sip_expires ? sip->sip_expires->ex_delta
						    : (unsigned long)a->set->subscribe_expires,
			    a->packages.name[i], status);
		return;
	}
	cm_log_warn("subscribe failed status=%d phrase=%s package=%s retry-in=%lds", status,
		    phrase ? phrase : "", a->packages.name[i], a->set->register_retry);
	drop_subscription(a, i, true);
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
	switch (event) {
	case nua_r_register:
		if ((status == 401 || status == 407) && ca_auth_answer(&a->auth, nh, status, sip)) {
			ca_metrics_register(status, true);
			break;
		}
		if (status >= 200)
			ca_auth_done(&a->auth, nh);
		if (!a->stopping)
			on_register(a, status, phrase, sip);
		break;
	case nua_r_unregister:
		if ((status == 401 || status == 407) && ca_auth_answer(&a->auth, nh, status, sip))
			break;
		if (status >= 200)
			ca_auth_done(&a->auth, nh);
		if (status >= 200)
			cm_log_info("unregistered aor=%s status=%d", a->set->aor, status);
		break;
	case nua_r_subscribe:
		if ((status == 401 || status == 407) && ca_auth_answer(&a->auth, nh, status, sip))
			break;
		if (status >= 200)
			ca_auth_done(&a->auth, nh);
		if (sub_index(a, nh) >= 0)
			on_subscribe(a, (size_t)sub_index(a, nh), status, phrase, sip);
		break;
	case nua_r_unsubscribe:
		if (status < 200)
			break;
		cm_log_info("unsubscribed status=%d event=%s", status,
			    sip && sip->sip_event ? sip->sip_event->o_type : "-");
		if (a->stopping && a->unsubscribing && sub_index(a, nh) >= 0 &&
		    --a->unsubscribing == 0)
			shutdown_sip(a); /* nua_shutdown may be called from nua's callback */
		break;
	case nua_i_notify:
		if (sub_index(a, nh) >= 0) {
			on_sub_notify(a, (size_t)sub_index(a, nh), status, phrase, sip, tags);
			break;
		}
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
			    phrase ? phrase : "", a->registrar);
		break;
	case nua_r_options:
		if (nh == a->probe && status >= 200)
			on_probe(a, status);
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
	if (l.tp == CM_TP_TLS && strcmp(want, "tls") != 0) {
		snprintf(err, errlen,
			 "sip-listen: tls: needs a sips: (or transport=tls) registrar");
		return -EINVAL;
	}
	if (cm_hostport_format(hp, sizeof(hp), l.host, strlen(l.host), l.port) < 0)
		return -ENOSPC;
	if (strcmp(want, cm_transport_name(l.tp)) != 0)
		cm_log_info("sip-listen %s: using %s, the registrar's transport",
			    a->set->sip_listen, want);
	/* nta binds tls only for a sips: URL (sip: offers udp, tcp and sctp). */
	if (strcmp(want, "tls") == 0)
		n = snprintf(buf, size, "sips:%s", hp);
	else
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
	bool tcp = strcmp(ca_settings_uri_transport(set->registrar), "udp") != 0; /* or tls */
	bool tls = strcmp(ca_settings_uri_transport(set->registrar), "tls") == 0;
	char tls_dir[CM_TLSDIR_MAX] = "";
	unsigned ka_ms = (unsigned)set->keepalive * 1000;
	int rc;

	memset(a, 0, sizeof(*a));
	a->loop = loop;
	a->set = set;
	a->registrar = set->registrar;
	a->device = set->instance_id && *set->instance_id ? set->instance_id : set->aor;
	snprintf(a->expires, sizeof(a->expires), "%ld", set->expires);
	snprintf(a->sub_expires, sizeof(a->sub_expires), "%ld", set->subscribe_expires);
	ca_callback_init(&a->callbacks, loop, set->callback_timeout, (unsigned)set->max_callbacks);
	ca_callback_secure(&a->callbacks, set->protect, set->callback_ca);
	ca_slot_queue_init(&a->slots, loop, &a->callbacks, (unsigned)set->max_scheduled);

	if (ca_trust_parse(set->trusted_servers, &a->trust, err, errlen) < 0)
		return -EINVAL;
	if (ca_packages_parse(set->packages, &a->packages, err, errlen) < 0)
		return -EINVAL;
	if (set->hello_url && *set->hello_url) {
		char *body = ca_hello_body(set->aor, set->instance_id, set->registrar, &a->packages,
					   CA_HELLO_AGENT);

		rc = ca_hello_init(&a->hello, loop, set->hello_url, body, set->callback_timeout);
		if (rc < 0) {
			snprintf(err, errlen, "hello: %s", strerror(-rc));
			return rc;
		}
	}
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
	if (ca_auth_init(&a->auth, set, user, err, errlen) < 0)
		return -EINVAL;
	if (a->device == set->instance_id)
		snprintf(features, sizeof(features), "+sip.instance=\"<%s>\"", set->instance_id);

	rc = uv_timer_init(loop, &a->timer);
	if (rc < 0) {
		snprintf(err, errlen, "uv_timer_init: %s", uv_strerror(rc));
		return rc;
	}
	a->timer.data = a;
	a->timer_init = true;
	rc = uv_timer_init(loop, &a->sub_timer);
	if (rc < 0) {
		snprintf(err, errlen, "uv_timer_init: %s", uv_strerror(rc));
		return rc;
	}
	a->sub_timer.data = a;
	a->sub_timer_init = true;
	if (set->backup_registrar && *set->backup_registrar && set->keepalive > 0) {
		rc = uv_timer_init(loop, &a->probe_timer);
		if (rc < 0) {
			snprintf(err, errlen, "uv_timer_init: %s", uv_strerror(rc));
			return rc;
		}
		a->probe_timer.data = a;
		a->probe_timer_init = true;
		uv_timer_start(&a->probe_timer, probe_cb, (uint64_t)set->keepalive * 1000,
			       (uint64_t)set->keepalive * 1000);
	}

	rc = cm_su_uv_create(loop, a, (su_root_t **)&a->root, &a->su);
	if (rc < 0) {
		snprintf(err, errlen, "sofia root on the loop: %s", strerror(-rc));
		return rc;
	}
	cm_su_uv_redirect_logs();

	if (tls) {
		char why[CM_TLSDIR_MAX + 64];

		rc = cm_tlsdir_create(set->tls_cert, set->tls_key, set->tls_ca, tls_dir,
				      sizeof(tls_dir), why, sizeof(why));
		if (rc < 0) {
			snprintf(err, errlen, "tls: %s", why);
			return rc;
		}
	}
	a->nua = nua_create(
	    (su_root_t *)a->root, nua_cb, a, NUTAG_URL(url), SIPTAG_FROM_STR(set->aor),
	    /* The registrar's certificate must chain to tls-ca and name its host;
	     * sofia reads the directory now, so it is removed right after. */
	    TAG_IF(tls, TPTAG_CERTIFICATE(tls_dir)),
	    /* The registrar's certificate must chain to cafile.pem and name the host we connect to
	     * (CN or DNS subjectAltName: sofia 1.12.11 compares IP subjectAltNames as raw bytes,
	     * so an IP literal must also be the CN). */
	    TAG_IF(tls, TPTAG_TLS_VERIFY_POLICY(TPTLS_VERIFY_SUBJECTS_OUT)),
	    TAG_IF(tls, TPTAG_TLS_VERIFY_DATE(1)),
	    NTATAG_SIP_T1X64((unsigned)set->sip_timeout * 1000), NUTAG_M_USERNAME(user),
	    TAG_IF(features[0], NUTAG_M_FEATURES(features)), SIPTAG_ALLOW_STR("OPTIONS, NOTIFY"),
	    NUTAG_APPL_METHOD("NOTIFY"), NUTAG_ALLOW_EVENTS(a->packages.allow_events),
	    /* OPTIONS keepalive to the registrar over UDP; no NAT rewriting of the
	     * Contact and no registration probe: sip-edge uses the source address
	     * and does not route OPTIONS back to us. */
	    NUTAG_OUTBOUND(ka_ms && !tcp ? "no-natify no-validate options-keepalive"
					 : "no-natify no-validate no-options-keepalive"),
	    NUTAG_KEEPALIVE(ka_ms),
	    /* CRLF pings on the registration's TCP connection. */
	    TAG_IF(tcp && ka_ms, TPTAG_KEEPALIVE(ka_ms)), SIPTAG_USER_AGENT_STR(CA_USER_AGENT),
	    TAG_END());
	cm_tlsdir_remove(tls_dir);
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
	cm_log_info("agent started aor=%s device=%s registrar=%s listen=%s trusted=%zu "
		    "packages=%s subscribe=%d register-accept=%d hello=%s protect=%d",
		    set->aor, a->device, a->registrar, url, a->trust.n, a->packages.allow_events,
		    set->subscribe, set->register_accept, a->hello.url ? a->hello.url : "-",
		    set->protect);
	return do_register(a);
}

/* Unregisters (and ends what is left), then nua reports nua_r_shutdown; finish_cb runs
 * after that. */
static void shutdown_sip(struct ca_agent *a)
{
	uv_timer_stop(&a->timer);
	nua_shutdown(a->nua);
	uv_timer_start(&a->timer, guard_cb, CA_SHUTDOWN_GUARD_MS, 0);
}

static void unsubscribe_guard_cb(uv_timer_t *t)
{
	struct ca_agent *a = t->data;

	cm_log_warn("un-SUBSCRIBE unanswered after %d ms: %u left", CA_UNSUBSCRIBE_WAIT_MS,
		    a->unsubscribing);
	a->unsubscribing = 0;
	shutdown_sip(a);
}

void ca_agent_stop(struct ca_agent *a, ca_agent_done_cb *done)
{
	a->done = done;
	a->stopping = true;
	ca_metrics_registered(false); /* /readyz: 503 while unregistering */
	ca_hello_close(&a->hello);
	if (a->loop)
		ca_slot_queue_close(&a->slots);
	if (a->sub_timer_init) {
		uv_timer_stop(&a->sub_timer);
		uv_close((uv_handle_t *)&a->sub_timer, NULL);
		a->sub_timer_init = false;
	}
	if (a->probe_timer_init) {
		uv_timer_stop(&a->probe_timer);
		uv_close((uv_handle_t *)&a->probe_timer, NULL);
		a->probe_timer_init = false;
	}
	if (!a->timer_init) {
		/* Nothing on the loop yet; still never call done from inside this call. */
		uv_timer_init(a->loop, &a->timer);
		a->timer.data = a;
		a->timer_init = true;
	}
	uv_timer_stop(&a->timer);
	if (!a->nua) {
		uv_timer_start(&a->timer, finish_cb, 0, 0);
		return;
	}
	/* Un-SUBSCRIBE before the un-REGISTER: nua_shutdown would send the REGISTER first,
	 * and a notifier that ties subscriptions to bindings then refuses the un-SUBSCRIBE. */
	for (size_t i = 0; i < a->packages.n; i++) {
		if (a->sub[i]) {
			nua_unsubscribe(a->sub[i], TAG_END());
			a->unsubscribing++;
		}
	}
	if (a->unsubscribing)
		uv_timer_start(&a->timer, unsubscribe_guard_cb, CA_UNSUBSCRIBE_WAIT_MS, 0);
	else
		shutdown_sip(a);
}
