/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the registrar's pure logic: Accept matching, binding ids, REGISTER
 * extraction from messages parsed by sofia, and the script's argument vector.
 */
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_parser.h>
#include <sofia-sip/su.h>

#include "../../../common/tests/check.h"
#include "se_notify.h"
#include "se_register.h"

static bool acc(const char *s)
{
	return se_accept_contact_me(s, strlen(s));
}

static void test_accept(void)
{
	CHECK(acc("application/application-server-contact-me"));
	CHECK(acc("APPLICATION/Application-Server-Contact-Me"));
	CHECK(acc("application/application-server-contact-me;q=0.5"));
	CHECK(acc("application/sdp, application/application-server-contact-me ; q=0.1"));
	CHECK(acc("application/sdp;x=\"a,b\",application/application-server-contact-me"));
	CHECK(acc("  application/application-server-contact-me  "));
	CHECK(!acc(""));
	CHECK(!acc("application/sdp"));
	CHECK(!acc("application/*"));
	CHECK(!acc("*/*"));
	CHECK(!acc("application/application-server-contact-me-not"));
	CHECK(!acc("application/sdp;x=\"application/application-server-contact-me\""));
	CHECK(!acc("text/application-server-contact-me"));
}

static void test_binding_id(void)
{
	char id[SE_BINDING_ID_LEN + 1], id2[SE_BINDING_ID_LEN + 1];

	/* printf 'sip:7546658000@example.com\nurn:uuid:1' | sha256sum | cut -c1-32 */
	CHECK(se_binding_id("sip:7546658000@example.com", "urn:uuid:1", id) == 0);
	CHECK(strcmp(id, "3675cfd70c4596822edc86e560dde4d3") == 0, "%s", id);
	CHECK(se_binding_id("sip:7546658000@example.com", "urn:uuid:1", id2) == 0);
	CHECK(strcmp(id, id2) == 0);
	CHECK(se_binding_id("sip:7546658000@example.com", "urn:uuid:2", id2) == 0);
	CHECK(strcmp(id, id2) != 0);
	for (int i = 0; i < 32; i++)
		CHECK((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'));
}

static msg_t *parse(const char *text)
{
	msg_t *m = msg_make(sip_default_mclass(), 0, text, (isize_t)strlen(text));
	return m;
}

#define HDRS                                                                                       \
	"REGISTER sip:example.com SIP/2.0\r\n"                                                     \
	"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"                                       \
	"From: <sip:7546658000@example.com>;tag=1\r\n"                                             \
	"To: <sip:7546658000@EXAMPLE.com;user=phone>\r\n"                                          \
	"Call-ID: abc@10.0.0.1\r\n"                                                                \
	"CSeq: 7 REGISTER\r\n"                                                                     \
	"Max-Forwards: 70\r\n"

static const struct se_reg_limits lim = {60, 3600, 1800};

static int run(const char *text, struct se_reg_req *req, int *st, const char **ph, msg_t **keep)
{
	msg_t *m = parse(text);
	int rc;

	*st = 0;
	*ph = NULL;
	if (!m)
		return -999;
	rc = se_register_parse(msg_home(m), sip_object(m), &lim, req, st, ph);
	*keep = m;
	return rc;
}

static void test_parse(void)
{
	struct se_reg_req *req = calloc(1, sizeof(*req));
	const char *ph;
	msg_t *m;
	int st, rc;

	rc = run(HDRS "Contact: <sip:7546658000@10.0.0.1:5060>;+sip.instance=\"<urn:uuid:"
		      "AbC-1>\"\r\n"
		      "Accept: application/sdp\r\n"
		      "Accept: application/Application-Server-Contact-Me;q=0.2\r\n"
		      "Content-Length: 0\r\n\r\n",
		 req, &st, &ph, &m);
	CHECK(rc == 0, "rc=%d %d %s", rc, st, ph);
	CHECK(strcmp(req->aor, "sip:7546658000@example.com") == 0, "%s", req->aor);
	CHECK(strcmp(req->idx_aor, "beckon:dev:aor:sip:7546658000@example.com") == 0, "%s",
	      req->idx_aor);
	CHECK(strcmp(req->idx_num, "beckon:dev:num:7546658000") == 0, "%s", req->idx_num);
	CHECK(req->subscribed);
	CHECK(!req->wildcard);
	CHECK(req->n == 1);
	CHECK(req->cseq == 7);
	CHECK(strcmp(req->call_id, "abc@10.0.0.1") == 0);
	CHECK(req->c[0].expires == 1800, "%ld", req->c[0].expires);
	CHECK(strcmp(req->c[0].instance, "urn:uuid:AbC-1") == 0, "%s", req->c[0].instance);
	CHECK(strncmp(req->c[0].idx_inst, "beckon:dev:inst:urn:uuid:", 25) == 0, "%s",
	      req->c[0].idx_inst);
	CHECK(req->c[0].idx_mac[0] == '\0');
	CHECK(strcmp(req->c[0].uri, "sip:7546658000@10.0.0.1:5060") == 0, "%s", req->c[0].uri);
	CHECK(strstr(req->c[0].contact, "+sip.instance") != NULL, "%s", req->c[0].contact);
	{
		char id[SE_BINDING_ID_LEN + 1];
		se_binding_id(req->aor, "urn:uuid:AbC-1", id);
		CHECK(strcmp(id, req->c[0].binding_id) == 0);
	}
	msg_destroy(m);

	/* No Accept entry, MAC instance, expires param wins, clamped to max. */
	rc = run(HDRS "Contact: <sip:7546658000@10.0.0.1:5060>;expires=99999;"
		      "+sip.instance=\"<urn:dev:mac:0011.22AA.bbcc>\"\r\n"
		      "Expires: 100\r\n"
		      "Content-Length: 0\r\n\r\n",
		 req, &st, &ph, &m);
	CHECK(rc == 0, "%d %s", st, ph);
	CHECK(!req->subscribed);
	CHECK(req->c[0].expires == 3600);
	CHECK(strstr(req->c[0].contact, "expires") == NULL, "%s", req->c[0].contact);
	msg_destroy(m);
	rc = run(HDRS "Contact: <sip:7546658000@10.0.0.1:5060>;"
		      "+sip.instance=\"<urn:dev:mac:001122aabbcc>\"\r\n"
		      "Expires: 100\r\nContent-Length: 0\r\n\r\n",
		 req, &st, &ph, &m);
	CHECK(rc == 0);
	CHECK(req->c[0].expires == 100);
	CHECK(strcmp(req->c[0].idx_mac, "beckon:dev:mac:001122aabbcc") == 0, "%s",
	      req->c[0].idx_mac);
	CHECK(strcmp(req->c[0].idx_inst, "beckon:dev:inst:urn:dev:mac:001122aabbcc") == 0, "%s",
	      req->c[0].idx_inst);
	msg_destroy(m);

	/* 423 */
	rc = run(HDRS "Contact: <sip:a@10.0.0.1>\r\nExpires: 10\r\nContent-Length: 0\r\n\r\n", req,
		 &st, &ph, &m);
	CHECK(rc < 0 && st == 423);
	msg_destroy(m);
	/* Expires 0 removes */
	rc = run(HDRS "Contact: <sip:a@10.0.0.1>;expires=0\r\nContent-Length: 0\r\n\r\n", req, &st,
		 &ph, &m);
	CHECK(rc == 0 && req->c[0].expires == 0);
	msg_destroy(m);
	/* Wildcard */
	rc = run(HDRS "Contact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n", req, &st, &ph, &m);
	CHECK(rc == 0 && req->wildcard);
	msg_destroy(m);
	rc = run(HDRS "Contact: *\r\nContent-Length: 0\r\n\r\n", req, &st, &ph, &m);
	CHECK(rc < 0 && st == 400);
	msg_destroy(m);
	/* No Contact: a query (RFC 3261 10.2.3) */
	rc = run(HDRS "Content-Length: 0\r\n\r\n", req, &st, &ph, &m);
	CHECK(rc == 0 && req->query && req->n == 0 && !req->wildcard);
	msg_destroy(m);
	/* Two contacts */
	rc = run(HDRS "Contact: <sip:a@10.0.0.1>, <sip:b@10.0.0.2>;expires=120\r\n"
		      "Content-Length: 0\r\n\r\n",
		 req, &st, &ph, &m);
	CHECK(rc == 0 && req->n == 2 && req->c[1].expires == 120);
	CHECK(strcmp(req->c[0].binding_id, req->c[1].binding_id) != 0);
	msg_destroy(m);
	free(req);
}

static void test_args(void)
{
	struct se_reg_req *req = calloc(1, sizeof(*req));
	struct se_reg_args *a = calloc(1, sizeof(*a));
	struct se_reg_origin o = {"edge-a", "127.0.0.1:5070", "tcp", "7", 1000000};
	const char *ph;
	msg_t *m;
	int st;

	CHECK(run(HDRS "Contact: <sip:a@10.0.0.1>;+sip.instance=\"<urn:dev:mac:001122aabbcc>\"\r\n"
		       "Content-Length: 0\r\n\r\n",
		  req, &st, &ph, &m) == 0);
	o.edge_token = "edge-a/42/1000";
	se_register_args(req, &o, a);
	CHECK(a->argc == SE_REG_ARGS_FIXED + SE_REG_ARGS_PER_CONTACT + SE_REG_ARGS_TRAIL);
	CHECK(strcmp(a->argv[a->argc - 7], "application-server-contact-me") == 0, "%s",
	      a->argv[a->argc - 7]);
	CHECK(strcmp(a->argv[a->argc - 4], "0") == 0);		    /* claim limit */
	CHECK(strcmp(a->argv[a->argc - 3], "") == 0);		    /* path */
	CHECK(strcmp(a->argv[a->argc - 2], "0") == 0);		    /* reg-ids */
	CHECK(strcmp(a->argv[a->argc - 1], "edge-a/42/1000") == 0); /* instance token */
	CHECK(strcmp(a->argv[0], "beckon:binding:") == 0);
	CHECK(strcmp(a->argv[1], "1000000") == 0);
	CHECK(strcmp(a->argv[6], "edge-a") == 0);
	CHECK(strcmp(a->argv[9], "7") == 0);
	CHECK(strcmp(a->argv[10], "0") == 0);
	CHECK(strcmp(a->argv[15], "1") == 0);
	CHECK(strcmp(a->argv[16], req->c[0].binding_id) == 0);
	CHECK(strcmp(a->argv[20], "2800000") == 0, "%s", a->argv[20]);
	CHECK(strcmp(a->argv[21], "beckon:dev:inst:urn:dev:mac:001122aabbcc\n"
				  "beckon:dev:mac:001122aabbcc") == 0,
	      "%s", a->argv[21]);
	for (int i = 0; i < a->argc; i++)
		CHECK(a->argvlen[i] == strlen(a->argv[i]));
	msg_destroy(m);
	free(req);
	free(a);
}

static void test_wakeup(void)
{
	char rid[SE_REF_MAX + 1], bid[SE_BINDING_ID_LEN + 1];
	const char *ok = "default:app-42 0123456789abcdef0123456789abcdef";
	const char *colons = "c:a:b:c 0123456789abcdef0123456789abcdef";

	CHECK(se_notify_parse_wakeup(ok, strlen(ok), rid, bid) == 0);
	CHECK(strcmp(rid, "default:app-42") == 0 &&
	      strcmp(bid, "0123456789abcdef0123456789abcdef") == 0);
	/* The ref is opaque: request ids may hold colons too. */
	CHECK(se_notify_parse_wakeup(colons, strlen(colons), rid, bid) == 0);
	CHECK(strcmp(rid, "c:a:b:c") == 0);
	CHECK(se_notify_parse_wakeup("a b 0123456789abcdef0123456789abcdef", 36, rid, bid) < 0);
	CHECK(se_notify_parse_wakeup("a\x01b 0123456789abcdef0123456789abcdef", 37, rid, bid) < 0);
	CHECK(se_notify_parse_wakeup(ok, 10, rid, bid) < 0);
	CHECK(se_notify_parse_wakeup("app 0123", 8, rid, bid) < 0);
	CHECK(se_notify_parse_wakeup(" 0123456789abcdef0123456789abcdef", 33, rid, bid) < 0);
	CHECK(se_notify_parse_wakeup("a b 0123456789abcdef0123456789abcde", 35, rid, bid) < 0);
	CHECK(se_notify_parse_wakeup("app 0123456789ABCDEF0123456789abcdef", 36, rid, bid) < 0);
}

int main(void)
{
	su_init();
	test_accept();
	test_binding_id();
	test_parse();
	test_args();
	test_wakeup();
	su_deinit();
	return check_done();
}
