/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of RFC 5626 outbound and RFC 3327 Path parsing (se_outbound.h) and of what
 * se_register_parse makes of them: reg-id values, flow binding ids, the 400s, the stored
 * path and its first hop.
 */
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_parser.h>

#include "../../../common/tests/check.h"
#include "se_outbound.h"
#include "se_register.h"

#define INST "urn:uuid:00000000-0000-4000-8000-000000000001"
#define START                                                                                      \
	"REGISTER sip:example.com SIP/2.0\r\n"                                                     \
	"Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
#define REST                                                                                       \
	"From: <sip:7546658000@example.com>;tag=1\r\n"                                             \
	"To: <sip:7546658000@example.com>\r\n"                                                     \
	"Call-ID: abc@10.0.0.1\r\n"                                                                \
	"CSeq: 7 REGISTER\r\n"                                                                     \
	"Max-Forwards: 70\r\n"
#define END "Content-Length: 0\r\n\r\n"

static const struct se_reg_limits lim = {60, 3600, 1800};
static struct se_reg_req req;
static int st;
static const char *ph;

static int run(const char *text)
{
	msg_t *m = msg_make(sip_default_mclass(), 0, text, (isize_t)strlen(text));
	int rc;

	CHECK(m != NULL);
	if (!m)
		return -999;
	st = 0;
	ph = NULL;
	rc = se_register_parse(msg_home(m), sip_object(m), &lim, &req, &st, &ph);
	msg_destroy(m);
	return rc;
}

static void test_regid_value(void)
{
	CHECK(se_regid_value("1") == 1);
	CHECK(se_regid_value("2147483647") == 2147483647UL);
	CHECK(se_regid_value("2147483648") == 0);
	CHECK(se_regid_value("99999999999999999999999") == 0);
	CHECK(se_regid_value("0") == 0);
	CHECK(se_regid_value("") == 0);
	CHECK(se_regid_value(NULL) == 0);
	CHECK(se_regid_value("1a") == 0);
	CHECK(se_regid_value("-1") == 0);
	CHECK(se_regid_value("\"1\"") == 0);
}

static void test_outbound(void)
{
	char one[SE_BINDING_ID_LEN + 1], two[SE_BINDING_ID_LEN + 1], plain[SE_BINDING_ID_LEN + 1];

	/* two flows of one instance: two bindings, Require/Flow-Timer wanted (first hop) */
	CHECK(run(START REST "Supported: outbound, path\r\n"
			     "Contact: <sip:a@10.0.0.1;transport=tcp>;+sip.instance=\"<" INST
			     ">\";reg-id=1\r\n" END) == 0,
	      "%d %s", st, ph);
	CHECK(req.outbound && req.first_hop && req.c[0].reg_id == 1);
	memcpy(one, req.c[0].binding_id, sizeof(one));
	CHECK(run(START REST "Supported: outbound\r\n"
			     "Contact: <sip:a@10.0.0.1;transport=tcp>;+sip.instance=\"<" INST
			     ">\";reg-id=2\r\n" END) == 0);
	CHECK(req.c[0].reg_id == 2);
	memcpy(two, req.c[0].binding_id, sizeof(two));
	CHECK(strcmp(one, two) != 0);
	/* the id is SHA-256(aor LF instance LF "reg-id=1") */
	{
		char want[SE_BINDING_ID_LEN + 1];
		CHECK(se_binding_id("sip:7546658000@example.com", INST "\nreg-id=1", want) == 0);
		CHECK(strcmp(want, one) == 0);
	}
	/* without Supported: outbound the reg-id is ignored: the instance's binding */
	CHECK(run(START REST "Contact: <sip:a@10.0.0.1;transport=tcp>;+sip.instance=\"<" INST
			     ">\";reg-id=1\r\n" END) == 0);
	CHECK(!req.outbound && req.c[0].reg_id == 0);
	memcpy(plain, req.c[0].binding_id, sizeof(plain));
	CHECK(strcmp(plain, one) != 0);
	/* directly over UDP: no STUN keep-alives, so no flow (the reg-id is ignored) */
	CHECK(run("REGISTER sip:example.com SIP/2.0\r\n"
		  "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n" REST
		  "Supported: outbound\r\n"
		  "Contact: <sip:a@10.0.0.1>;+sip.instance=\"<" INST ">\";reg-id=1\r\n" END) == 0);
	CHECK(!req.outbound && req.c[0].reg_id == 0 && strcmp(req.c[0].binding_id, plain) == 0);
	/* reg-id without +sip.instance is ignored (no flow); bad reg-ids: 400 */
	CHECK(run(START REST "Supported: outbound\r\n"
			     "Contact: <sip:a@10.0.0.1;transport=tcp>;reg-id=1\r\n" END) == 0);
	CHECK(!req.outbound && req.c[0].reg_id == 0);
	CHECK(run(START REST "Supported: outbound\r\n"
			     "Contact: <sip:a@10.0.0.1;transport=tcp>;+sip.instance=\"<" INST
			     ">\";reg-id=0\r\n" END) < 0 &&
	      st == 400);
	CHECK(run(START REST "Supported: outbound\r\n"
			     "Contact: <sip:a@10.0.0.1;transport=tcp>;+sip.instance=\"<" INST
			     ">\";reg-id=x\r\n" END) < 0 &&
	      st == 400);
	/* behind a proxy: outbound only if its Path URI says ob; never Flow-Timer */
	CHECK(run(START "Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK2\r\n" REST
			"Supported: outbound, path\r\nPath: <sip:10.0.0.9;lr;ob>\r\n"
			"Contact: <sip:a@10.0.0.1>;+sip.instance=\"<" INST
			">\";reg-id=1\r\n" END) == 0);
	CHECK(req.outbound && !req.first_hop && req.c[0].reg_id == 1);
	CHECK(run(START "Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK2\r\n" REST
			"Supported: outbound, path\r\nPath: <sip:10.0.0.9;lr>\r\n"
			"Contact: <sip:a@10.0.0.1>;+sip.instance=\"<" INST
			">\";reg-id=1\r\n" END) == 0);
	CHECK(!req.outbound && req.c[0].reg_id == 0);
}

static void test_path(void)
{
	char hop[SE_PATH_MAX];

	CHECK(run(START REST
		  "Supported: path\r\n"
		  "Path: <sip:p1.example.net;lr>\r\n"
		  "Path: <sip:10.1.1.1:5070;lr;transport=udp>, <sips:p3.example.net;lr>\r\n"
		  "Contact: <sip:a@10.0.0.1>\r\n" END) == 0,
	      "%d %s", st, ph);
	CHECK(req.path_supported && !req.first_hop);
	CHECK(strcmp(req.path, "<sip:p1.example.net;lr>, <sip:10.1.1.1:5070;lr;transport=udp>, "
			       "<sips:p3.example.net;lr>") == 0,
	      "%s", req.path);
	CHECK(se_path_first_hop(req.path, hop, sizeof(hop)) == 0);
	CHECK(strcmp(hop, "sip:p1.example.net;lr") == 0, "%s", hop);
	CHECK(se_path_first_hop("<sip:10.1.1.1:5070;lr>", hop, sizeof(hop)) == 0);
	CHECK(strcmp(hop, "sip:10.1.1.1:5070;lr") == 0, "%s", hop);
	CHECK(se_path_first_hop("<sip:10.1.1.1:5070;lr>", hop, 8) == -E2BIG);
	CHECK(se_path_first_hop("<tel:+1234>", hop, sizeof(hop)) == -EINVAL);
	CHECK(se_path_first_hop("", hop, sizeof(hop)) == -EINVAL);
	/* stored without Supported: path (Kamailio's lazy mode), not echoed */
	CHECK(run(START REST
		  "Path: <sip:p1.example.net;lr>\r\nContact: <sip:a@10.0.0.1>\r\n" END) == 0);
	CHECK(!req.path_supported && strcmp(req.path, "<sip:p1.example.net;lr>") == 0);
	/* no Path */
	CHECK(run(START REST "Contact: <sip:a@10.0.0.1>\r\n" END) == 0);
	CHECK(req.path[0] == '\0' && req.first_hop);
	/* malformed Path: 400 */
	CHECK(run(START REST "Path: <tel:+12345>\r\nContact: <sip:a@10.0.0.1>\r\n" END) < 0);
	CHECK(st == 400 && strcmp(ph, "Bad Path") == 0, "%d %s", st, ph);
	CHECK(run(START REST "Path: <sip:p1.example.net;lr\r\nContact: <sip:a@10.0.0.1>\r\n" END) <
	      0);
	CHECK(st == 400, "%d", st);
	CHECK(run(START REST "Path: garbage<<>>\r\nContact: <sip:a@10.0.0.1>\r\n" END) < 0);
	CHECK(st == 400, "%d", st);
	/* too many hops */
	CHECK(run(START REST "Path: <sip:a;lr>, <sip:b;lr>, <sip:c;lr>, <sip:d;lr>, <sip:e;lr>, "
			     "<sip:f;lr>, <sip:g;lr>, <sip:h;lr>, <sip:i;lr>\r\n"
			     "Contact: <sip:a@10.0.0.1>\r\n" END) < 0);
	CHECK(st == 400 && strcmp(ph, "Path Too Long") == 0, "%d %s", st, ph);
	/* a query may carry Path too */
	CHECK(run(START REST END) == 0 && req.query && req.n == 0);
}

int main(void)
{
	test_regid_value();
	test_outbound();
	test_path();
	return check_done();
}
