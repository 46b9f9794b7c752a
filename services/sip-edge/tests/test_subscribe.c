/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of explicit SUBSCRIBE's pure part: the derived To-tag, SUBSCRIBE extraction
 * (package, subscriber, dialog, expiry rules, errors) from messages parsed by sofia, and the
 * script's argument vector.
 */
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_parser.h>
#include <sofia-sip/su.h>

#include "../../../common/tests/check.h"
#include "se_subscribe.h"

#define HDRS                                                                                       \
	"SUBSCRIBE sip:7546658000@example.com SIP/2.0\r\n"                                         \
	"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"                                       \
	"From: <sip:7546658000@EXAMPLE.com>;tag=ft1\r\n"                                           \
	"Call-ID: sub1@10.0.0.1\r\n"                                                               \
	"CSeq: 3 SUBSCRIBE\r\n"                                                                    \
	"Max-Forwards: 70\r\n"                                                                     \
	"Contact: <sip:7546658000@10.0.0.1:5060>;+sip.instance=\"<urn:uuid:abc>\"\r\n"

static struct se_config cfg;

static int run(const char *text, struct se_sub_req *req, int *st, const char **ph, msg_t **keep)
{
	msg_t *m = msg_make(sip_default_mclass(), 0, text, (isize_t)strlen(text));

	*st = 0;
	*ph = NULL;
	*keep = m;
	if (!m)
		return -999;
	return se_subscribe_parse(msg_home(m), sip_object(m), &cfg, req, st, ph);
}

static void test_tag(void)
{
	char a[SE_TAG_LEN + 1], b[SE_TAG_LEN + 1];

	CHECK(se_subscribe_tag("c1", "t1", a) == 0 && strlen(a) == SE_TAG_LEN);
	CHECK(se_subscribe_tag("c1", "t1", b) == 0 && strcmp(a, b) == 0);
	CHECK(se_subscribe_tag("c1", "t2", b) == 0 && strcmp(a, b) != 0);
}

static void test_parse(void)
{
	struct se_sub_req req;
	struct se_sub_args args;
	const char *ph;
	msg_t *m;
	int st;

	CHECK(run(HDRS "To: <sip:7546658000@example.com>\r\n"
		       "Event: application-server-contact-me\r\n"
		       "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
		       "Expires: 600\r\nContent-Length: 0\r\n\r\n",
		  &req, &st, &ph, &m) == 0,
	      "%d %s", st, ph);
	CHECK(strcmp(req.pkg->name, "application-server-contact-me") == 0);
	CHECK(strcmp(req.aor, "sip:7546658000@example.com") == 0, "%s", req.aor);
	CHECK(strcmp(req.instance, "urn:uuid:abc") == 0);
	CHECK(strcmp(req.uri, "sip:7546658000@10.0.0.1:5060") == 0, "%s", req.uri);
	CHECK(req.expires == 600 && req.cseq == 3);
	CHECK(req.to_tag[0] == '\0' && strlen(req.local_tag) == SE_TAG_LEN);
	CHECK(strcmp(req.route, "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>") == 0, "%s",
	      req.route);
	CHECK(strstr(req.local, req.local_tag) != NULL, "%s", req.local);
	CHECK(strcmp(req.remote, "<sip:7546658000@EXAMPLE.com>;tag=ft1") == 0, "%s", req.remote);
	CHECK(req.to && req.to->a_tag && strcmp(req.to->a_tag, req.local_tag) == 0);
	se_subscribe_args(&req, "edge-a", "", 1000, &args);
	CHECK(strcmp(args.argv[1], "beckon:dev:aor:sip:7546658000@example.com") == 0, "%s",
	      args.argv[1]);
	CHECK(strcmp(args.argv[5], "application-server-contact-me") == 0);
	for (int i = 0; i < SE_SUB_ARGS; i++)
		CHECK(args.argvlen[i] == strlen(args.argv[i]));
	msg_destroy(m);

	/* A refresh names our tag; expiry clamped; event id kept for our NOTIFYs. */
	CHECK(run(HDRS "To: <sip:7546658000@example.com>;tag=0123456789abcdef\r\n"
		       "Event: application-server-contact-me;id=7\r\n"
		       "Expires: 99999\r\nContent-Length: 0\r\n\r\n",
		  &req, &st, &ph, &m) == 0);
	CHECK(strcmp(req.local_tag, "0123456789abcdef") == 0);
	CHECK(req.expires == 3600);
	CHECK(strcmp(req.event, "application-server-contact-me;id=7") == 0, "%s", req.event);
	CHECK(req.route[0] == '\0');
	msg_destroy(m);

	CHECK(run(HDRS "To: <sip:x@example.com>\r\nEvent: application-server-contact-me\r\n"
		       "Expires: 0\r\nContent-Length: 0\r\n\r\n",
		  &req, &st, &ph, &m) == 0);
	CHECK(req.expires == 0);
	msg_destroy(m);

	CHECK(run(HDRS "To: <sip:x@example.com>\r\nEvent: presence\r\nContent-Length: 0\r\n\r\n",
		  &req, &st, &ph, &m) < 0);
	CHECK(st == 489, "%d", st);
	msg_destroy(m);
	CHECK(run(HDRS "To: <sip:x@example.com>\r\nContent-Length: 0\r\n\r\n", &req, &st, &ph, &m) <
	      0);
	CHECK(st == 489, "%d", st);
	msg_destroy(m);
	CHECK(run(HDRS "To: <sip:x@example.com>\r\nEvent: application-server-contact-me\r\n"
		       "Expires: 10\r\nContent-Length: 0\r\n\r\n",
		  &req, &st, &ph, &m) < 0);
	CHECK(st == 423, "%d", st);
	msg_destroy(m);
	CHECK(run(HDRS "To: <sip:x@example.com>\r\nEvent: application-server-contact-me\r\n"
		       "Accept: application/pidf+xml\r\nContent-Length: 0\r\n\r\n",
		  &req, &st, &ph, &m) < 0);
	CHECK(st == 406, "%d", st);
	msg_destroy(m);
}

int main(void)
{
	char err[256];

	su_init();
	memset(&cfg, 0, sizeof(cfg));
	CHECK(cm_config_load_text(se_config_opts, se_config_n_opts, &cfg, "edge-id = e\n", 12, err,
				  sizeof(err)) == 0);
	CHECK(se_config_check(&cfg, err, sizeof(err)) == 0, "%s", err);
	test_tag();
	test_parse();
	cm_config_free(se_config_opts, se_config_n_opts, &cfg);
	su_deinit();
	return check_done();
}
