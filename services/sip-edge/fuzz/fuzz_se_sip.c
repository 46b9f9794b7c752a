/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: one SIP message as sip-edge receives it. sofia-sip parses the input the way
 * nta does for a datagram (msg_make: msg_recv_iovec + msg_extract, with sip-edge's parser
 * flags MSG_DO_CANONIC | MSG_DO_EXTRACT_COPY), then the message goes through nta's own gate
 * (fatal parse errors, error headers under nta's default masks, sip_sanity_check) and, if
 * it passes, through what sip-edge runs on it: se_sanity_check for requests, then
 * se_register_parse + se_register_args for REGISTER or se_subscribe_parse +
 * se_subscribe_args for SUBSCRIBE; for responses (answers to our NOTIFYs) the status line
 * fields notify_answered reads. Properties: refusals carry a status and phrase from the
 * documented set; an accepted REGISTER has at most SE_REG_CONTACTS_MAX contacts with 32-hex
 * binding ids and expiries within the limits, and every script argument is a C string of
 * exactly its stated length (Redis gets argvlen bytes).
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_parser.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su.h>

#include "cm/config.h"
#include "cm/str.h"
#include "fuzz.h"
#include "se_config.h"
#include "se_register.h"
#include "se_sanity.h"
#include "se_subscribe.h"

/* nta_agent_create's defaults (nta.c): header errors that make nta answer 400 itself. */
#define NTA_BAD_REQ_MASK                                                                           \
	(~(unsigned)(sip_mask_response | sip_mask_proxy | sip_mask_registrar | sip_mask_pref |     \
		     sip_mask_privacy))
#define NTA_BAD_RESP_MASK                                                                          \
	(~(unsigned)(sip_mask_request | sip_mask_proxy | sip_mask_registrar | sip_mask_pref |      \
		     sip_mask_privacy))

/* Two packages, so both the default and a named one are matched. */
static const char config_text[] = "edge-id = fuzz-edge\n"
				  "packages = application-server-contact-me, presence\n"
				  "gateway-url = http://gw.example.com:8080\n";

static struct se_config cfg;

static void setup(void)
{
	static bool done;
	char err[256];

	if (done)
		return;
	done = true;
	su_init();
	FUZZ_CHECK(cm_config_load_text(se_config_opts, se_config_n_opts, &cfg, config_text,
				       sizeof(config_text) - 1, err, sizeof(err)) == 0);
	FUZZ_CHECK(se_config_check(&cfg, err, sizeof(err)) == 0);
}

static bool is_hex32(const char *s)
{
	if (strlen(s) != SE_BINDING_ID_LEN)
		return false;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p) && !(*p >= 'a' && *p <= 'f'))
			return false;
	}
	return true;
}

static void check_args(int argc, const char *const *argv, const size_t *argvlen, int max)
{
	FUZZ_CHECK(argc > 0 && argc <= max);
	for (int i = 0; i < argc; i++)
		FUZZ_CHECK(argv[i] != NULL && strlen(argv[i]) == argvlen[i]);
}

static void run_register(msg_t *m, const sip_t *sip)
{
	static struct se_reg_req req;
	static struct se_reg_args args;
	const struct se_reg_limits lim = {cfg.min_expires, cfg.max_expires, cfg.default_expires};
	char accepted[SE_PACKAGES_MAX * (SE_PACKAGE_MAX + 1) + 1] = "";
	size_t alen = 0;
	const char *phrase = NULL;
	int status = 0, rc;

	rc = se_register_parse(msg_home(m), sip, &lim, &req, &status, &phrase);
	if (rc < 0) {
		FUZZ_CHECK(status == 400 || status == 423 || status == 500 || status == 503);
		FUZZ_CHECK(phrase != NULL && phrase[0] != '\0');
		return;
	}
	FUZZ_CHECK(req.n <= SE_REG_CONTACTS_MAX);
	FUZZ_CHECK(memchr(req.aor, '\0', sizeof(req.aor)) != NULL);
	FUZZ_CHECK(req.call_id != NULL);
	for (size_t i = 0; i < req.n; i++) {
		const struct se_contact *c = &req.c[i];

		FUZZ_CHECK(is_hex32(c->binding_id));
		FUZZ_CHECK(c->contact != NULL && c->uri != NULL);
		FUZZ_CHECK(strlen(c->contact) <= SE_CONTACT_MAX);
		FUZZ_CHECK(c->expires >= 0 && c->expires <= lim.max_expires);
		FUZZ_CHECK(c->expires == 0 || c->expires >= lim.min_expires);
	}
	/* As se_registrar.c builds it: the packages this REGISTER's Accept lists. */
	for (size_t i = 0; i < cfg.n_pkg; i++) {
		int k;

		if (!se_sip_accepts(sip, cfg.pkg[i].media))
			continue;
		k = cm_snprintf(accepted + alen, sizeof(accepted) - alen, "%s\n", cfg.pkg[i].name);
		FUZZ_CHECK(k > 0);
		alen += (size_t)k;
	}
	(void)se_sip_accepts_contact_me(sip);
	se_register_args(
	    &req,
	    &(struct se_reg_origin){.edge = cfg.edge_id,
				    .source = "[2001:db8::1]:5060",
				    .transport = "udp",
				    .flow = "",
				    .now_ms = 1700000000000,
				    .accepted = accepted,
				    .packages = "application-server-contact-me\npresence\n",
				    .default_pkg = SE_DEFAULT_PACKAGE,
				    .notices = "",
				    .gateway_url = cfg.gateway_url,
				    .claim_limit = 16},
	    &args);
	check_args(args.argc, args.argv, args.argvlen, SE_REG_ARGS_MAX);
}

static void run_subscribe(msg_t *m, const sip_t *sip)
{
	static struct se_sub_req req;
	static struct se_sub_args args;
	const char *phrase = NULL;
	int status = 0, rc;

	rc = se_subscribe_parse(msg_home(m), sip, &cfg, &req, &status, &phrase);
	if (rc < 0) {
		FUZZ_CHECK(status == 400 || status == 406 || status == 423 || status == 481 ||
			   status == 489 || status == 500);
		FUZZ_CHECK(phrase != NULL && phrase[0] != '\0');
		return;
	}
	FUZZ_CHECK(req.pkg != NULL && req.uri != NULL && req.call_id != NULL);
	/* Our tag: the To-tag of an in-dialog SUBSCRIBE (at most SE_TAG_LEN), else derived. */
	FUZZ_CHECK(req.to_tag != NULL && strlen(req.local_tag) >= 1 &&
		   strlen(req.local_tag) <= SE_TAG_LEN);
	FUZZ_CHECK(req.to_tag[0] ? strcmp(req.local_tag, req.to_tag) == 0
				 : strlen(req.local_tag) == SE_TAG_LEN);
	FUZZ_CHECK(req.route != NULL && strlen(req.route) <= SE_ROUTE_MAX);
	FUZZ_CHECK(req.local && req.remote && req.event && req.to);
	FUZZ_CHECK(req.expires >= 0 && req.expires <= cfg.max_expires);
	se_subscribe_args(&req, cfg.edge_id, cfg.gateway_url, 1700000000000, &args);
	check_args(SE_SUB_ARGS, args.argv, args.argvlen, SE_SUB_ARGS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct se_sanity_verdict v;
	msg_t *m;
	sip_t *sip;
	int rc;

	setup();
	/* msg_make treats 0 as "no message" (and -1 as strlen). */
	if (size == 0)
		return 0;
	m = msg_make(sip_default_mclass(), MSG_DO_CANONIC | MSG_DO_EXTRACT_COPY, data,
		     (ssize_t)size);
	if (!m)
		return 0;
	sip = sip_object(m);
	if (!sip || (sip->sip_flags & (MSG_FLG_ERROR | MSG_FLG_TOOLARGE)))
		goto done;
	if (sip->sip_request) {
		if ((msg_extract_errors(m) & NTA_BAD_REQ_MASK) || sip_sanity_check(sip) < 0)
			goto done; /* nta answers 400 itself */
		memset(&v, 0, sizeof(v));
		rc = se_sanity_check(sip, &v);
		if (rc != 0) {
			FUZZ_CHECK(rc == v.status);
			/* 400, 416, 420 today: any final error status, never 2xx/3xx. */
			FUZZ_CHECK(rc >= 400 && rc <= 699);
			FUZZ_CHECK(v.phrase != NULL && v.phrase[0] != '\0');
			FUZZ_CHECK(memchr(v.unsupported, '\0', sizeof(v.unsupported)) != NULL);
			FUZZ_CHECK(rc != 420 || v.unsupported[0] != '\0');
			FUZZ_CHECK(sip->sip_request->rq_method != sip_method_ack);
			goto done;
		}
		switch (sip->sip_request->rq_method) {
		case sip_method_register:
			run_register(m, sip);
			break;
		case sip_method_subscribe:
			run_subscribe(m, sip);
			break;
		default:
			break;
		}
	} else if (sip->sip_status) {
		if ((msg_extract_errors(m) & NTA_BAD_RESP_MASK) || sip_sanity_check(sip) < 0)
			goto done; /* nta drops it */
		/*
		 * notify_answered reads st_status raw. sofia's status-line parser takes any
		 * decimal below INT_MAX ("SIP/2. 0020 OK" is status 20, "99999" is 99999) and
		 * nta only clamps codes below 100 for its own state, so the edge must expect
		 * anything here: no range is asserted, only what it dereferences.
		 */
		FUZZ_CHECK(sip->sip_status->st_status >= 0);
		FUZZ_CHECK(sip->sip_status->st_phrase != NULL);
	}
done:
	msg_destroy(m);
	return 0;
}
