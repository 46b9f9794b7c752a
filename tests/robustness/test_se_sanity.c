/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of sip-edge's request sanity checks (se_sanity.c) on messages parsed by sofia
 * the way nta parses them once se_sanity_agent_init has run (MSG_DO_EXTRACT_COPY), one per
 * rule and a valid one for each, and of the per-address rate limit's token bucket. The
 * wire-level cases (the RFC 4475 files themselves) are in tests/conformance/.
 */
#include <stdio.h>
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_parser.h>

#include "../../common/tests/check.h"
#include "se_sanity.h"

#define VIA "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
#define TAIL                                                                                       \
	"To: <sip:a@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\nCall-ID: c1\r\n"            \
	"Max-Forwards: 70\r\nContent-Length: 0\r\n"

/* Parses text as nta would and returns se_sanity_check's verdict (-1 if it did not parse). */
static int verdict(const char *text, struct se_sanity_verdict *v)
{
	msg_t *m = msg_make(sip_default_mclass(), MSG_DO_EXTRACT_COPY, text, (isize_t)strlen(text));
	sip_t *sip = m ? sip_object(m) : NULL;
	int rc = -1;

	if (sip && sip->sip_request)
		rc = se_sanity_check(sip, v);
	msg_destroy(m);
	return rc;
}

static int status(const char *text)
{
	struct se_sanity_verdict v;

	return verdict(text, &v);
}

static void test_valid(void)
{
	CHECK(status("REGISTER sip:example.com SIP/2.0\r\n" VIA "CSeq: 1 REGISTER\r\n" TAIL
		     "Contact: \"A b\" <sip:a@192.0.2.1>;expires=60\r\n\r\n") == 0);
	CHECK(status("OPTIONS sip:example.com SIP/2.0\r\n" VIA "CSeq: 1 OPTIONS\r\n" TAIL
		     "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n\r\n") == 0);
	/* Methods the registrar does not serve: no 416/420, their 405 comes first. */
	CHECK(status("INVITE tel:+1234 SIP/2.0\r\n" VIA "CSeq: 1 INVITE\r\nRequire: foo\r\n" TAIL
		     "\r\n") == 0);
	/* ACK is never refused. */
	CHECK(status("ACK sip:example.com  SIP/2.0\r\n" VIA "CSeq: 1 ACK\r\n" TAIL "\r\n") == 0);
}

static void test_refused(void)
{
	struct se_sanity_verdict v;

	CHECK(status("OPTIONS  sip:example.com SIP/2.0\r\n" VIA "CSeq: 1 OPTIONS\r\n" TAIL
		     "\r\n") == 400);
	CHECK(status("OPTIONS sip:example.com SIP/2.0 \r\n" VIA "CSeq: 1 OPTIONS\r\n" TAIL
		     "\r\n") == 400);
	CHECK(status("OPTIONS sip:a@example.com?Route=%3Csip:x%3E SIP/2.0\r\n" VIA
		     "CSeq: 1 OPTIONS\r\n" TAIL "\r\n") == 400);
	/* sofia itself refuses a port that is not digits (the request never reaches us). */
	CHECK(status("OPTIONS sip:example.com:50x0 SIP/2.0\r\n" VIA "CSeq: 1 OPTIONS\r\n" TAIL
		     "\r\n") == -1);
	CHECK(status("OPTIONS sip:example.com:65536 SIP/2.0\r\n" VIA "CSeq: 1 OPTIONS\r\n" TAIL
		     "\r\n") == 400);
	CHECK(status("OPTIONS sip:example.com SIP/2.0\r\n" VIA "CSeq: 1 OPTIONS\r\n"
		     "Max-Forwards: 256\r\nTo: <sip:a@example.com>\r\nFrom: <sip:a@example.com>;"
		     "tag=1\r\nCall-ID: c1\r\nContent-Length: 0\r\n\r\n") == 400);
	CHECK(status("OPTIONS sip:example.com SIP/2.0\r\n" VIA "CSeq: 1 OPTIONS\r\n" TAIL
		     "Date: Fri, 01 Jan 2010 16:00:00 EST\r\n\r\n") == 400);
	CHECK(status("OPTIONS sip:example.com SIP/2.0\r\n" VIA "CSeq: 1 OPTIONS\r\n"
		     "To: \"W, T\" < sip:a@example.com >\r\nFrom: <sip:a@example.com>;tag=1\r\n"
		     "Call-ID: c1\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n") == 400);
	/* A '<' inside a quoted display name is not an angle bracket. */
	CHECK(status("OPTIONS sip:example.com SIP/2.0\r\n" VIA "CSeq: 1 OPTIONS\r\n"
		     "To: \"x < y\" <sip:a@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\n"
		     "Call-ID: c1\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n") == 0);
	CHECK(status("REGISTER sip:example.com SIP/2.0\r\n" VIA "CSeq: 1 REGISTER\r\n" TAIL
		     "Contact: <sip:a@example.com?Route=%3Csip:x%3E>\r\n\r\n") == 400);
	CHECK(status("NEWMETHOD sip:example.com SIP/2.0\r\n" VIA "CSeq: 1 OTHERMETHOD\r\n" TAIL
		     "\r\n") == 400);
	CHECK(status("OPTIONS nobody:opaque SIP/2.0\r\n" VIA "CSeq: 1 OPTIONS\r\n" TAIL "\r\n") ==
	      416);
	CHECK(status("REGISTER tel:+1234 SIP/2.0\r\n" VIA "CSeq: 1 REGISTER\r\n" TAIL "\r\n") ==
	      416);
	CHECK(verdict("OPTIONS sip:example.com SIP/2.0\r\n" VIA "CSeq: 1 OPTIONS\r\n"
		      "Require: foo, bar\r\nRequire: baz\r\n" TAIL "\r\n",
		      &v) == 420);
	CHECK(strcmp(v.unsupported, "foo, bar, baz") == 0, "unsupported '%s'", v.unsupported);
}

static void test_rate(void)
{
	static struct se_rate_table t;
	uint8_t a[16] = {0}, b[16] = {0};
	int ok = 0, first_drop = 0, drops = 0;

	t.rate = 10;
	t.burst = 20;
	a[15] = 1;
	b[15] = 2;
	/* A burst of 20 passes, the 21st starts an episode, later ones are plain drops. */
	for (int i = 0; i < 100; i++) {
		int rc = se_sanity_rate(&t, a, 1000);
		ok += rc == SE_RATE_OK;
		first_drop += rc == SE_RATE_LIMITED;
		drops += rc == SE_RATE_DROP;
	}
	CHECK(ok == 20 && first_drop == 1 && drops == 79, "ok %d first %d drops %d", ok, first_drop,
	      drops);
	CHECK(se_sanity_rate_dropped(&t, a) == 80);
	/* Another address is not affected. */
	CHECK(se_sanity_rate(&t, b, 1000) == SE_RATE_OK);
	/* 100 ms later one token is back: allowed, but the episode goes on (no "lifted"). */
	CHECK(se_sanity_rate(&t, a, 1100) == SE_RATE_OK);
	CHECK(se_sanity_rate(&t, a, 1100) == SE_RATE_DROP);
	/* Quiet until the bucket is full again: the next request ends the episode. */
	CHECK(se_sanity_rate(&t, a, 5000) == SE_RATE_LIFTED);
	CHECK(se_sanity_rate(&t, a, 5000) == SE_RATE_OK);
	/* Rate 0: no limit at all. */
	t.rate = 0;
	for (int i = 0; i < 1000; i++)
		CHECK(se_sanity_rate(&t, a, 5000) == SE_RATE_OK);
}

static void test_rate_many_sources(void)
{
	static struct se_rate_table t;
	uint8_t a[16] = {0};
	int limited = 0;

	t.rate = 10;
	t.burst = 2;
	/* More addresses than slots: eviction never refuses a new address's first request. */
	for (uint32_t i = 0; i < 3 * SE_SANITY_SOURCES; i++) {
		memcpy(a + 12, &i, 4);
		limited += se_sanity_rate(&t, a, 1000) != SE_RATE_OK;
	}
	CHECK(limited == 0, "%d first requests refused", limited);
}

int main(void)
{
	test_valid();
	test_refused();
	test_rate();
	test_rate_many_sources();
	return check_done();
}
