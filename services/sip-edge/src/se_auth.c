/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Digest authentication of REGISTER/SUBSCRIBE and answers to NOTIFY challenges (se_auth.h).
 *
 * Order of checks for a request with credentials, chosen so that nothing reveals whether a
 * user exists: blocked source (403) → Authorization for our realm present and well-formed
 * (else a fresh challenge) → username equals the request's user (403) → HMGET of the HA1 →
 * response compared against the stored HA1, or against a dummy HA1 for an unknown user,
 * computed for every request so both cost the same → only then the nonce (a correct response
 * with an expired or foreign nonce gets stale=true, RFC 7616 3.3) and nonce-count replay (401
 * with a fresh nonce). A wrong response counts as a failure of
 * the source; fail-max of them within block-time block it for block-time (403).
 */
#include "se_auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <sofia-sip/auth_digest.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su_tagarg.h>
#include <sofia-sip/tport.h>

#include "cm/device.h"
#include "cm/digest.h"
#include "cm/hostport.h"
#include "cm/log.h"
#include "cm/str.h"
#include "se_digest.h"
#include "se_edge.h"
#include "se_register.h"
#include "se_registrar.h"

#define CRED_PREFIX "beckon:cred:"
#define NAME_MAX_ CM_DIGEST_NAME_MAX /* user and realm */
#define KEY_MAX (sizeof(CRED_PREFIX) + 2 * NAME_MAX_ + 2)
#define CHALLENGE_MAX (NAME_MAX_ + SE_DIGEST_NONCE_LEN + 96)
#define AUTH_HDR_MAX 1024

struct se_auth {
	struct se_edge *e;
	struct se_digest *d;
	char realm[NAME_MAX_ + 1];
	/* The request being handed to its handler right now, and its transport. */
	msg_t *handoff_msg;
	tport_t *handoff_tp;
	unsigned waiting;    /* credential lookups in flight */
	unsigned shed;	     /* 503s since the last overload log line */
	int64_t shed_log_ms; /* time of that line */
};

/* A request waiting for its HA1. */
struct pending {
	struct se_edge *e;
	msg_t *msg;
	tport_t *tp;
	se_auth_ok_cb *ok;
	enum se_digest_alg alg;
	bool stale;
	uint32_t nc;
	char source[64];
	char user[NAME_MAX_ + 1];
	char nonce[256]; /* ours are SE_DIGEST_NONCE_LEN; a foreign one may be longer */
	char nc_s[9];
	char cnonce[NAME_MAX_ + 1];
	char uri[1024];
	char response[SE_DIGEST_HEX_MAX + 1];
};

static int64_t now_s(void)
{
	return se_now_ms() / 1000;
}

int se_auth_create(struct se_edge *e, struct se_auth **out)
{
	const struct se_config *cfg = e->cfg;
	struct se_auth *a = calloc(1, sizeof(*a));
	int rc;

	*out = NULL;
	if (!a)
		return -ENOMEM;
	a->e = e;
	if (cm_snprintf(a->realm, sizeof(a->realm), "%s", cfg->realm ? cfg->realm : "") < 0) {
		free(a);
		return -EINVAL;
	}
	rc = se_digest_create(cfg->edge_id, cfg->auth_nonce_ttl, cfg->auth_fail_max,
			      cfg->auth_block_time, &a->d);
	if (rc < 0) {
		free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void se_auth_destroy(struct se_auth *a)
{
	if (!a)
		return;
	se_digest_destroy(a->d);
	free(a);
}

/* A name we accept in a key and a challenge: printable, no quote, backslash or colon. */
static const char *call_id_of(msg_t *msg)
{
	const sip_t *sip = sip_object(msg);
	return sip && sip->sip_call_id ? sip->sip_call_id->i_id : "-";
}

/* sofia's ta_end() expands to a comma expression GCC flags as unused. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-value"
/* Answers msg (taken) on tp (released). */
static void respond(struct se_edge *e, msg_t *msg, tport_t *tp, int status, const char *phrase,
		    tag_type_t tag, tag_value_t value, ...)
{
	ta_list ta;

	ta_start(ta, tag, value);
	nta_msg_treply(e->agent, msg, status, phrase, TAG_IF(tp, NTATAG_TPORT(tp)), ta_tags(ta));
	ta_end(ta);
	if (tp)
		tport_unref(tp);
}
#pragma GCC diagnostic pop

/* Sends the 401 with a fresh nonce: MD5, or with auth-sha256 one challenge per algorithm,
 * SHA-256 first (RFC 7616 3.7: in the server's order of preference). Not by default: the
 * nua client of sofia-sip 1.12.11 (contact-agent) gives up on any 401 carrying a SHA-256
 * challenge ("904 No matching challenge" or no restart at all). A SHA-256 response is
 * accepted either way. */
static void challenge(struct se_edge *e, msg_t *msg, tport_t *tp, bool stale)
{
	struct se_auth *a = e->auth;
	char nonce[SE_DIGEST_NONCE_LEN + 1], sha[CHALLENGE_MAX], md5[CHALLENGE_MAX];
	const char *st = stale ? ", stale=true" : "";

	if (se_digest_nonce(a->d, now_s(), nonce) < 0) {
		respond(e, msg, tp, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		return;
	}
	cm_snprintf(sha, sizeof(sha),
		    "Digest realm=\"%s\", nonce=\"%s\", algorithm=SHA-256, qop=\"auth\"%s",
		    a->realm, nonce, st);
	cm_snprintf(md5, sizeof(md5),
		    "Digest realm=\"%s\", nonce=\"%s\", algorithm=MD5, qop=\"auth\"%s", a->realm,
		    nonce, st);
	respond(e, msg, tp, SIP_401_UNAUTHORIZED,
		SIPTAG_WWW_AUTHENTICATE_STR(e->cfg->auth_sha256 ? sha : md5),
		TAG_IF(e->cfg->auth_sha256, SIPTAG_WWW_AUTHENTICATE_STR(md5)), TAG_END());
}

/* Counts a failure of the request's source; answers 403 once it is blocked, else 401. */
static void failed(struct se_edge *e, msg_t *msg, tport_t *tp, const char *source, const char *user,
		   const char *why)
{
	su_addrinfo_t *ai = msg_addrinfo(msg);
	bool blocked = ai && se_digest_failed(e->auth->d, ai->ai_addr, now_s());

	cm_log_warn("auth failed user=%s source=%s reason=%s call-id=%s%s", user, source, why,
		    call_id_of(msg), blocked ? " (source blocked)" : "");
	if (blocked)
		respond(e, msg, tp, SIP_403_FORBIDDEN, TAG_END());
	else
		challenge(e, msg, tp, false);
}

/* The Digest Authorization for our realm, or NULL. */
static const sip_authorization_t *our_credentials(const struct se_auth *a, const sip_t *sip)
{
	for (const sip_authorization_t *au = sip->sip_authorization; au; au = au->au_next) {
		const char *r;
		if (!au->au_scheme || strcasecmp(au->au_scheme, "Digest") != 0)
			continue;
		r = msg_params_find(au->au_params, "realm=");
		if (!r)
			continue;
		/* sofia keeps the quotes of the raw parameter. */
		if (*r == '"') {
			size_t n = strlen(r);
			if (n >= 2 && n - 2 == strlen(a->realm) &&
			    strncmp(r + 1, a->realm, n - 2) == 0)
				return au;
		} else if (strcmp(r, a->realm) == 0) {
			return au;
		}
	}
	return NULL;
}

static void pending_free(struct pending *p)
{
	if (p->msg)
		msg_destroy(p->msg);
	if (p->tp)
		tport_unref(p->tp);
	free(p);
}

static const char *rstr(const redisReply *r, size_t i)
{
	return r && r->type == REDIS_REPLY_ARRAY && i < r->elements &&
		       r->element[i]->type == REDIS_REPLY_STRING
		   ? r->element[i]->str
		   : NULL;
}

/* True if s is a lower- or upper-case hex digest of alg. */
static bool ha1_ok(const char *s, enum se_digest_alg alg)
{
	if (!s || strlen(s) != se_digest_hex_len(alg))
		return false;
	for (const char *c = s; *c; c++) {
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') ||
		      (*c >= 'A' && *c <= 'F')))
			return false;
	}
	return true;
}

static void cred_done(struct cm_redis *redis, redisReply *reply, void *data)
{
	struct pending *p = data;
	struct se_edge *e = p->e;
	struct se_auth *a = e->auth;
	const sip_t *sip;
	const char *stored;
	char dummy[SE_DIGEST_HEX_MAX + 1], want[SE_DIGEST_HEX_MAX + 1];
	const char *ha1;
	bool known, good;
	msg_t *msg;
	tport_t *tp;
	int rc;

	(void)redis;
	e->pending--;
	if (e->closing) {
		pending_free(p);
		return;
	}
	a->waiting--;
	msg = p->msg;
	tp = p->tp;
	sip = sip_object(msg);
	p->msg = NULL;
	p->tp = NULL;
	if (!reply || reply->type != REDIS_REPLY_ARRAY) {
		cm_log_warn("auth lookup failed user=%s source=%s: %s", p->user, p->source,
			    !reply			       ? "redis disconnected"
			    : reply->type == REDIS_REPLY_ERROR ? reply->str
							       : "unexpected reply");
		respond(e, msg, tp, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("5"),
			TAG_END());
		pending_free(p);
		return;
	}
	stored = rstr(reply, p->alg == SE_DIGEST_SHA256 ? 1 : 0);
	known = ha1_ok(stored, p->alg);
	/* The dummy is computed for everyone, so known and unknown users cost the same. */
	rc = se_digest_dummy_ha1(a->d, p->alg, p->user, a->realm, dummy);
	ha1 = known ? stored : dummy;
	if (rc == 0)
		rc = se_digest_response(p->alg, ha1, p->nonce, p->nc_s, p->cnonce, "auth",
					sip->sip_request->rq_method_name, p->uri, want);
	if (rc < 0) {
		respond(e, msg, tp, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		pending_free(p);
		return;
	}
	good = se_digest_equal(want, p->response) && known;
	if (!good) {
		failed(e, msg, tp, p->source, p->user, "bad-response");
		pending_free(p);
		return;
	}
	if (p->stale) {
		cm_log_info("auth stale nonce user=%s source=%s call-id=%s", p->user, p->source,
			    call_id_of(msg));
		challenge(e, msg, tp, true);
		pending_free(p);
		return;
	}
	rc = se_digest_nc_use(a->d, p->nonce, p->nc, now_s());
	if (rc == -EALREADY) {
		cm_log_warn("auth replay refused user=%s source=%s nc=%s call-id=%s", p->user,
			    p->source, p->nc_s, call_id_of(msg));
		challenge(e, msg, tp, false);
		pending_free(p);
		return;
	}
	if (rc < 0) {
		cm_log_info("auth nonce state lost user=%s source=%s: stale", p->user, p->source);
		challenge(e, msg, tp, true);
		pending_free(p);
		return;
	}
	cm_log_debug("auth ok user=%s source=%s alg=%s", p->user, p->source,
		     p->alg == SE_DIGEST_SHA256 ? "SHA-256" : "MD5");
	{
		se_auth_ok_cb *ok = p->ok;
		pending_free(p);
		/* The handler takes its own reference through se_auth_transport. */
		a->handoff_msg = msg;
		a->handoff_tp = tp;
		ok(e, msg, (sip_t *)sip);
		a->handoff_msg = NULL;
		a->handoff_tp = NULL;
		if (tp)
			tport_unref(tp);
	}
}

tport_t *se_auth_transport(struct se_edge *e, msg_t *msg)
{
	struct se_auth *a = e->auth;

	if (a && a->handoff_msg && a->handoff_msg == msg)
		return a->handoff_tp ? tport_ref(a->handoff_tp) : NULL;
	return nta_incoming_transport(e->agent, NULL, msg);
}

void se_auth_request(struct se_edge *e, msg_t *msg, sip_t *sip, se_auth_ok_cb *ok)
{
	struct se_auth *a = e->auth;
	su_addrinfo_t *ai = msg_addrinfo(msg);
	tport_t *tp = nta_incoming_transport(e->agent, NULL, msg);
	const sip_authorization_t *au;
	auth_response_t ar = {.ar_size = sizeof(ar)};
	const url_t *id;
	struct pending *p;
	char source[64];
	const char *argv[4];
	char key[KEY_MAX];
	size_t argvlen[4];
	int alg, rc;

	if (se_registrar_source(msg, source, sizeof(source)) < 0)
		cm_snprintf(source, sizeof(source), "-");
	if (ai && se_digest_blocked(a->d, ai->ai_addr, now_s())) {
		/* debug: a blocked source may be flooding */
		cm_log_debug("auth refused source=%s call-id=%s: blocked", source, call_id_of(msg));
		respond(e, msg, tp, SIP_403_FORBIDDEN, TAG_END());
		return;
	}
	au = our_credentials(a, sip);
	if (!au) {
		challenge(e, msg, tp, false);
		return;
	}
	/* The registrar's load shedding (se_registrar.c) comes after the credential lookup:
	 * without the same bound here an overloaded edge queued up to SE_PENDING_MAX lookups.
	 * Checked before the Authorization is parsed so that a shed request costs about what
	 * a shed REGISTER costs without auth (docs/performance.md). */
	if (a->waiting >= SE_REG_PENDING_MAX ||
	    (e->reg_pending >= SE_REG_SHED_MIN && e->reg_wait_ms > SE_REG_LATE_MS)) {
		int64_t now = se_now_ms();
		a->shed++;
		if (now - a->shed_log_ms >= 1000) {
			cm_log_warn("auth overload: 503 to %u requests (lookups waiting=%u)",
				    a->shed, a->waiting);
			a->shed = 0;
			a->shed_log_ms = now;
		}
		respond(e, msg, tp, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("2"),
			TAG_END());
		return;
	}
	if (auth_digest_response_get(msg_home(msg), &ar, au->au_params) < 0 ||
	    !cm_digest_name_ok(ar.ar_username) || !ar.ar_nonce || !ar.ar_uri || !ar.ar_response ||
	    !ar.ar_cnonce || !ar.ar_nc || !ar.ar_qop || strcasecmp(ar.ar_qop, "auth") != 0 ||
	    (alg = se_digest_alg_parse(ar.ar_algorithm)) < 0) {
		cm_log_info("auth refused source=%s call-id=%s: unusable credentials", source,
			    call_id_of(msg));
		challenge(e, msg, tp, false);
		return;
	}
	/* A nonce that is not ours (an edge restarted, or the client moved to another edge) is
	 * handled like an expired one: a correct response gets stale=true, so phones behind one
	 * NAT do not all count as failures of that address after a restart. */
	rc = se_digest_nonce_check(a->d, ar.ar_nonce, now_s());
	id = sip->sip_request->rq_method == sip_method_register
		 ? (sip->sip_to ? sip->sip_to->a_url : NULL)
		 : (sip->sip_from ? sip->sip_from->a_url : NULL);
	if (!id || !id->url_user || strcmp(id->url_user, ar.ar_username) != 0) {
		cm_log_warn("auth refused user=%s source=%s call-id=%s: not the request's user",
			    ar.ar_username, source, call_id_of(msg));
		respond(e, msg, tp, SIP_403_FORBIDDEN, TAG_END());
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p || se_digest_nc_parse(ar.ar_nc, &p->nc) < 0 ||
	    cm_snprintf(p->uri, sizeof(p->uri), "%s", ar.ar_uri) < 0 ||
	    cm_snprintf(p->nonce, sizeof(p->nonce), "%s", ar.ar_nonce) < 0 ||
	    cm_snprintf(p->cnonce, sizeof(p->cnonce), "%s", ar.ar_cnonce) < 0 ||
	    cm_snprintf(p->response, sizeof(p->response), "%s", ar.ar_response) < 0) {
		free(p);
		challenge(e, msg, tp, false);
		return;
	}
	p->e = e;
	p->msg = msg;
	p->tp = tp;
	p->ok = ok;
	p->alg = (enum se_digest_alg)alg;
	p->stale = rc < 0;
	cm_snprintf(p->source, sizeof(p->source), "%s", source);
	cm_snprintf(p->user, sizeof(p->user), "%s", ar.ar_username);
	cm_snprintf(p->nc_s, sizeof(p->nc_s), "%s", ar.ar_nc);
	if (e->pending >= SE_PENDING_MAX) {
		p->msg = NULL;
		p->tp = NULL;
		pending_free(p);
		respond(e, msg, tp, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("5"),
			TAG_END());
		return;
	}
	cm_snprintf(key, sizeof(key), "%s%s:%s", CRED_PREFIX, a->realm, p->user);
	argv[0] = "HMGET", argv[1] = key, argv[2] = "ha1_md5", argv[3] = "ha1_sha256";
	for (int i = 0; i < 4; i++)
		argvlen[i] = strlen(argv[i]);
	rc = cm_redis_command_argv(e->redis, cred_done, p, 4, argv, argvlen);
	if (rc < 0) {
		p->msg = NULL;
		p->tp = NULL;
		pending_free(p);
		cm_log_warn("auth lookup not sent source=%s: %s", source, strerror(-rc));
		respond(e, msg, tp, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR("5"),
			TAG_END());
		return;
	}
	e->pending++;
	a->waiting++;
}

/* A NOTIFY challenge being answered. */
struct answer {
	struct se_edge *e;
	msg_t *msg; /* the copy to send again */
	tport_t *tp;
	se_auth_resend_cb *cb;
	void *arg;
	bool proxy; /* 407: Proxy-Authorization */
	bool qop;   /* the challenge offered qop=auth */
	enum se_digest_alg alg;
	/* In a SUBSCRIBE dialog: the resend takes the dialog's next CSeq (Redis) */
	bool dialog;
	long long dialog_cseq; /* from the lookup; 0: the dialog is gone */
	char route[128];
	char user[NAME_MAX_ + 1];
	char realm[NAME_MAX_ + 1];
	char nonce[256];
	char opaque[256];
};

static void answer_free(struct answer *an)
{
	if (an->msg)
		msg_destroy(an->msg);
	if (an->tp)
		tport_unref(an->tp);
	free(an);
}

/* ip:port of sa, IPv6 bracketed. */
static int format_addr(const struct sockaddr *sa, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		if (!inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip)))
			return -EINVAL;
		return cm_hostport_format(buf, size, ip, strlen(ip), ntohs(sin->sin_port));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		if (!inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip)))
			return -EINVAL;
		return cm_hostport_format(buf, size, ip, strlen(ip), ntohs(sin6->sin6_port));
	}
	return -EAFNOSUPPORT;
}

/* Picks the first Digest challenge of list with an algorithm we can compute. */
static int pick_challenge(su_home_t *home, const msg_auth_t *list, struct answer *an)
{
	for (const msg_auth_t *au = list; au; au = au->au_next) {
		auth_challenge_t ac = {.ac_size = sizeof(ac)};
		int alg;

		if (!au->au_scheme || strcasecmp(au->au_scheme, "Digest") != 0 ||
		    auth_digest_challenge_get(home, &ac, au->au_params) < 0)
			continue;
		alg = se_digest_alg_parse(ac.ac_algorithm);
		if (alg < 0 || !cm_digest_name_ok(ac.ac_realm) || !ac.ac_nonce ||
		    (ac.ac_qop && !ac.ac_auth))
			continue;
		if (cm_snprintf(an->nonce, sizeof(an->nonce), "%s", ac.ac_nonce) < 0 ||
		    cm_snprintf(an->opaque, sizeof(an->opaque), "%s",
				ac.ac_opaque ? ac.ac_opaque : "") < 0)
			continue;
		cm_snprintf(an->realm, sizeof(an->realm), "%s", ac.ac_realm);
		an->alg = (enum se_digest_alg)alg;
		an->qop = ac.ac_qop != NULL;
		return 0;
	}
	return -ENOENT;
}

static void answer_done(struct cm_redis *redis, redisReply *reply, void *data)
{
	struct answer *an = data;
	struct se_edge *e = an->e;
	sip_t *sip = sip_object(an->msg);
	su_home_t *home = msg_home(an->msg);
	const char *ha1 = rstr(reply, an->alg == SE_DIGEST_SHA256 ? 1 : 0);
	char resp[SE_DIGEST_HEX_MAX + 1], cnonce[17], hdr[AUTH_HDR_MAX];
	unsigned char rnd[8];
	const char *uri, *why = NULL;
	sip_cseq_t *cs;
	msg_t *msg;
	tport_t *tp;

	(void)redis;
	e->pending--;
	if (e->closing) {
		an->cb(an->arg, NULL, NULL, NULL, "shutdown");
		answer_free(an);
		return;
	}
	if (!reply || reply->type != REDIS_REPLY_ARRAY) {
		why = "credential-lookup-failed";
		goto fail;
	}
	if (!ha1_ok(ha1, an->alg)) {
		why = "no-credentials";
		goto fail;
	}
	if (an->dialog) {
		const redisReply *cs_r = reply->elements > 2 ? reply->element[2] : NULL;
		an->dialog_cseq = cs_r && cs_r->type == REDIS_REPLY_INTEGER ? cs_r->integer : 0;
		if (an->dialog_cseq <= 0 || an->dialog_cseq > 0x7fffffffLL) {
			why = "dialog-gone";
			goto fail;
		}
	}
	uri = url_as_string(home, sip->sip_request->rq_url);
	if (!uri || RAND_bytes(rnd, sizeof(rnd)) != 1) {
		why = "internal";
		goto fail;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		cm_snprintf(cnonce + 2 * i, 3, "%02x", rnd[i]);
	if (se_digest_response(an->alg, ha1, an->nonce, "00000001", cnonce, an->qop ? "auth" : NULL,
			       sip->sip_request->rq_method_name, uri, resp) < 0 ||
	    cm_snprintf(hdr, sizeof(hdr),
			"Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
			"response=\"%s\", algorithm=%s%s%s%s%s%s%s",
			an->user, an->realm, an->nonce, uri, resp,
			an->alg == SE_DIGEST_SHA256 ? "SHA-256" : "MD5",
			an->qop ? ", qop=auth, nc=00000001, cnonce=\"" : "", an->qop ? cnonce : "",
			an->qop ? "\"" : "", an->opaque[0] ? ", opaque=\"" : "", an->opaque,
			an->opaque[0] ? "\"" : "") < 0) {
		why = "internal";
		goto fail;
	}
	/* A new transaction: our Via goes (nta adds its own), the CSeq goes up; in a dialog to
	 * the dialog's next one, which later NOTIFYs there will not take again. */
	while (sip->sip_via)
		sip_via_remove(an->msg, sip);
	cs = sip_cseq_create(home,
			     an->dialog ? (uint32_t)an->dialog_cseq : sip->sip_cseq->cs_seq + 1,
			     sip->sip_cseq->cs_method, sip->sip_cseq->cs_method_name);
	if (!cs ||
	    msg_header_replace(an->msg, (msg_pub_t *)sip, (msg_header_t *)sip->sip_cseq,
			       (msg_header_t *)cs) < 0 ||
	    sip_add_tl(an->msg, sip, TAG_IF(an->proxy, SIPTAG_PROXY_AUTHORIZATION_STR(hdr)),
		       TAG_IF(!an->proxy, SIPTAG_AUTHORIZATION_STR(hdr)), TAG_END()) < 0) {
		why = "internal";
		goto fail;
	}
	cm_log_info("notify challenge answered user=%s realm=%s call-id=%s", an->user, an->realm,
		    sip->sip_call_id ? sip->sip_call_id->i_id : "-");
	msg = an->msg;
	tp = an->tp;
	an->msg = NULL;
	an->tp = NULL;
	an->cb(an->arg, msg, tp, an->route[0] ? an->route : NULL, NULL);
	answer_free(an);
	return;
fail:
	cm_log_warn("notify challenge not answered user=%s realm=%s: %s", an->user, an->realm, why);
	an->cb(an->arg, NULL, NULL, NULL, why);
	answer_free(an);
}

/*
 * KEYS[1] beckon:cred:<realm>:<user>, KEYS[2] the binding. ARGV: package, the dialog's
 * Call-ID. Returns {ha1_md5, ha1_sha256, cseq}: the HA1s ('' when absent) and the dialog's
 * next CSeq, or 0 when the binding no longer holds that dialog (nothing is written then).
 */
static struct cm_redis_script dialog_cred_script = {
    .source = "local h = redis.call('HMGET', KEYS[1], 'ha1_md5', 'ha1_sha256')\n"
	      "local pre = 'sub:' .. ARGV[1] .. ':'\n"
	      "local cs = 0\n"
	      "if redis.call('HGET', KEYS[2], pre .. 'call_id') == ARGV[2] then\n"
	      "  cs = redis.call('HINCRBY', KEYS[2], pre .. 'cseq', 1)\n"
	      "end\n"
	      "return {h[1] or '', h[2] or '', cs}\n",
};

/* se_auth_notify and se_auth_notify_dialog: bid and pkg non-NULL for the dialog case. */
static int answer_start(struct se_edge *e, nta_outgoing_t *orq, const sip_t *resp, const char *bid,
			const char *pkg, se_auth_resend_cb *cb, void *arg)
{
	msg_t *req = nta_outgoing_getrequest(orq);
	const sip_t *rsip = req ? sip_object(req) : NULL;
	struct answer *an = NULL;
	su_addrinfo_t *ai;
	char key[KEY_MAX], bkey[sizeof(CM_KEY_BINDING) + SE_BINDING_ID_LEN + 1];
	const char *argv[4];
	size_t argvlen[4];
	int rc = -EINVAL;

	if (!rsip || !rsip->sip_request || !rsip->sip_to || !rsip->sip_cseq ||
	    !cm_digest_name_ok(rsip->sip_to->a_url->url_user))
		goto out;
	an = calloc(1, sizeof(*an));
	if (!an) {
		rc = -ENOMEM;
		goto out;
	}
	an->e = e;
	an->cb = cb;
	an->arg = arg;
	an->proxy = resp->sip_status && resp->sip_status->st_status == 407;
	cm_snprintf(an->user, sizeof(an->user), "%s", rsip->sip_to->a_url->url_user);
	an->msg = msg_dup(req);
	if (!an->msg) {
		rc = -ENOMEM;
		goto out;
	}
	if (pick_challenge(msg_home(an->msg),
			   an->proxy ? resp->sip_proxy_authenticate : resp->sip_www_authenticate,
			   an) < 0) {
		rc = -ENOENT;
		goto out;
	}
	an->tp = nta_outgoing_transport(orq);
	if (!an->tp || !tport_is_reliable(an->tp)) {
		/* Over UDP the NOTIFY went to the address nta recorded in the request. */
		char hp[64];
		ai = msg_addrinfo(req);
		if (!ai || format_addr(ai->ai_addr, hp, sizeof(hp)) < 0 ||
		    cm_snprintf(an->route, sizeof(an->route), "sip:%s;transport=udp", hp) < 0)
			goto out;
	}
	if (e->pending >= SE_PENDING_MAX) {
		rc = -EBUSY;
		goto out;
	}
	cm_snprintf(key, sizeof(key), "%s%s:%s", CRED_PREFIX, an->realm, an->user);
	if (bid) {
		if (!rsip->sip_call_id || !rsip->sip_call_id->i_id ||
		    cm_snprintf(bkey, sizeof(bkey), "%s%s", CM_KEY_BINDING, bid) < 0) {
			rc = -EINVAL;
			goto out;
		}
		an->dialog = true;
		argv[0] = key, argv[1] = bkey, argv[2] = pkg, argv[3] = rsip->sip_call_id->i_id;
		for (int i = 0; i < 4; i++)
			argvlen[i] = strlen(argv[i]);
		rc = cm_redis_eval(e->redis, &dialog_cred_script, answer_done, an, 2, 4, argv,
				   argvlen);
	} else {
		argv[0] = "HMGET", argv[1] = key, argv[2] = "ha1_md5", argv[3] = "ha1_sha256";
		for (int i = 0; i < 4; i++)
			argvlen[i] = strlen(argv[i]);
		rc = cm_redis_command_argv(e->redis, answer_done, an, 4, argv, argvlen);
	}
	if (rc < 0)
		goto out;
	e->pending++;
	an = NULL;
	rc = 0;
out:
	if (an)
		answer_free(an);
	if (req)
		msg_destroy(req);
	return rc;
}

int se_auth_notify(struct se_edge *e, nta_outgoing_t *orq, const sip_t *resp, se_auth_resend_cb *cb,
		   void *arg)
{
	return answer_start(e, orq, resp, NULL, NULL, cb, arg);
}

int se_auth_notify_dialog(struct se_edge *e, nta_outgoing_t *orq, const sip_t *resp,
			  const char *bid, const char *pkg, se_auth_resend_cb *cb, void *arg)
{
	if (!bid || !pkg || !*pkg || strlen(bid) > SE_BINDING_ID_LEN)
		return -EINVAL;
	return answer_start(e, orq, resp, bid, pkg, cb, arg);
}
