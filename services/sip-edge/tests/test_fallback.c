/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the third way to opt in (the RFC 3840 `+sip.events` Contact feature tag,
 * se_feature_events and se_register_parse) and of the resync NOTIFY checks (se_fallback).
 */
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_parser.h>

#include "../../../common/tests/check.h"
#include "se_fallback.h"
#include "se_register.h"

static const char *ev(const char *v)
{
	static char out[SE_FTAGS_MAX];

	se_feature_events(v, out, sizeof(out));
	return out;
}

static void test_feature_events(void)
{
	char small[12];

	CHECK(strcmp(ev("\"application-server-contact-me\""), "application-server-contact-me\n") ==
	      0);
	CHECK(strcmp(ev("\"Application-Server-Contact-Me\""), "application-server-contact-me\n") ==
	      0);
	CHECK(strcmp(ev("\"presence, dialog,x-Pkg\""), "presence\ndialog\nx-pkg\n") == 0, "%s",
	      ev("\"presence, dialog,x-Pkg\""));
	CHECK(strcmp(ev("presence"), "presence\n") == 0);
	CHECK(strcmp(ev("\"!presence,dialog\""), "dialog\n") == 0);
	CHECK(strcmp(ev("\"bad pkg,<x>,ok\""), "ok\n") == 0, "%s", ev("\"bad pkg,<x>,ok\""));
	CHECK(strcmp(ev("\"\""), "") == 0);
	CHECK(strcmp(ev(""), "") == 0);
	CHECK(se_feature_events("\"abcdefgh,ab\"", small, sizeof(small)) == 1 &&
	      strcmp(small, "abcdefgh\n") == 0);
}

#define HDRS                                                                                       \
	"REGISTER sip:example.com SIP/2.0\r\n"                                                     \
	"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"                                       \
	"From: <sip:7546658000@example.com>;tag=1\r\n"                                             \
	"To: <sip:7546658000@example.com>\r\n"                                                     \
	"Call-ID: abc@10.0.0.1\r\n"                                                                \
	"CSeq: 7 REGISTER\r\n"

static void test_register_tag(void)
{
	static const char text[] =
	    HDRS "Contact: <sip:7546658000@10.0.0.1:5060>;+sip.events=\"application-server-"
		 "contact-me\";expires=600\r\n"
		 "Contact: <sip:7546658000@10.0.0.2:5060>\r\n"
		 "Content-Length: 0\r\n\r\n";
	static const struct se_reg_limits lim = {60, 3600, 1800};
	msg_t *m = msg_make(sip_default_mclass(), 0, text, (isize_t)strlen(text));
	struct se_reg_req *req = calloc(1, sizeof(*req));
	struct se_reg_origin o = {
	    .edge = "e", .source = "10.0.0.1:5060", .transport = "udp", .flow = "", .now_ms = 1000};
	struct se_reg_args *a = calloc(1, sizeof(*a));
	const char *ph = NULL;
	int st = 0;

	CHECK(m && req && a);
	if (!m || !req || !a)
		goto out;
	CHECK(se_register_parse(msg_home(m), sip_object(m), &lim, req, &st, &ph) == 0, "%d %s", st,
	      ph ? ph : "");
	CHECK(req->n == 2);
	CHECK(!req->subscribed);
	CHECK(strcmp(req->c[0].ftags, "application-server-contact-me\n") == 0, "%s",
	      req->c[0].ftags);
	CHECK(strcmp(req->c[1].ftags, "") == 0);
	/* The tag stays in the stored Contact (it is what the endpoint registered). */
	CHECK(strstr(req->c[0].contact, "+sip.events=") != NULL, "%s", req->c[0].contact);
	se_register_args(req, &o, a);
	CHECK(a->argc == SE_REG_ARGS_FIXED + 2 * SE_REG_ARGS_PER_CONTACT + SE_REG_ARGS_TRAIL);
	CHECK(strcmp(a->argv[SE_REG_ARGS_FIXED + SE_REG_ARGS_PER_CONTACT - 1],
		     "application-server-contact-me\n") == 0);
	CHECK(strcmp(a->argv[SE_REG_ARGS_FIXED + 2 * SE_REG_ARGS_PER_CONTACT - 1], "") == 0);
out:
	free(a);
	free(req);
	if (m)
		msg_destroy(m);
}

static void test_fallback(void)
{
	CHECK(se_fallback_event_valid("check-sync"));
	CHECK(se_fallback_event_valid("check-sync;reboot=false"));
	CHECK(se_fallback_event_valid("resync"));
	CHECK(!se_fallback_event_valid(""));
	CHECK(!se_fallback_event_valid(NULL));
	CHECK(!se_fallback_event_valid("check-sync;"));
	CHECK(!se_fallback_event_valid("check sync"));
	CHECK(!se_fallback_event_valid("check-sync\r\nX: y"));
	CHECK(!se_fallback_event_valid(
	    "a12345678901234567890123456789012345678901234567890123456789012345"));
	CHECK(se_fallback_retryable(408));
	CHECK(se_fallback_retryable(430));
	CHECK(se_fallback_retryable(503));
	CHECK(!se_fallback_retryable(400));
	CHECK(!se_fallback_retryable(404));
	CHECK(!se_fallback_retryable(481));
	CHECK(!se_fallback_retryable(489));
}

int main(void)
{
	test_feature_events();
	test_register_tag();
	test_fallback();
	return check_done();
}
