/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of contact-agent's NOTIFY challenges: HA1 from the password or the ha1 setting,
 * a first NOTIFY challenged, the right answer accepted once (single-use nonce), a wrong or
 * replayed one challenged again. Messages are parsed by sofia as nua would deliver them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#include "ca_auth.h"
#include "cm/str.h"

#include "../../../common/tests/check.h"

static msg_t *notify(const char *authorization)
{
	char raw[2048];
	int n = cm_snprintf(raw, sizeof(raw),
			    "NOTIFY sip:1006@127.0.0.1:5999 SIP/2.0\r\n"
			    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
			    "From: <sip:beckon@127.0.0.1>;tag=a\r\nTo: <sip:1006@example.com>\r\n"
			    "Call-ID: c1\r\nCSeq: 2 NOTIFY\r\n"
			    "Event: application-server-contact-me\r\n%s%s%s"
			    "Content-Length: 0\r\n\r\n",
			    authorization ? "Authorization: " : "",
			    authorization ? authorization : "", authorization ? "\r\n" : "");

	CHECK(n > 0);
	return msg_make(sip_default_mclass(), 0, raw, (size_t)n);
}

/* The Authorization a server holding ha1 would send for the nonce in chal. */
static void answer(const char *chal, const char *ha1, const char *nc, char *out, size_t size)
{
	char nonce[64] = "", ha2[33], resp[33];
	const char *p = strstr(chal, "nonce=\"");

	CHECK(p != NULL);
	if (p)
		sscanf(p + 7, "%63[^\"]", nonce);
	{
		const char *a2[] = {"NOTIFY", "sip:1006@127.0.0.1:5999"};
		const char *r[] = {ha1, nonce, nc, "cn0", "auth", ha2};
		CHECK(ca_auth_md5(a2, 2, ha2) == 0 && ca_auth_md5(r, 6, resp) == 0);
	}
	cm_snprintf(out, size,
		    "Digest username=\"1006\", realm=\"beckon\", nonce=\"%s\", "
		    "uri=\"sip:1006@127.0.0.1:5999\", response=\"%s\", algorithm=MD5, "
		    "cnonce=\"cn0\", qop=auth, nc=%s",
		    nonce, resp, nc);
}

int main(void)
{
	struct ca_settings set = {
	    .auth_user = "", .password = "pw", .ha1 = "", .realm = "beckon", .notify_auth = true};
	struct ca_auth a;
	char err[128], chal[256], chal2[256], auth[512], ha1[33];
	const char *why = NULL;
	msg_t *m;

	{
		const char *p[] = {"1006", "beckon", "pw"};
		CHECK(ca_auth_md5(p, 3, ha1) == 0);
	}
	CHECK(ca_auth_init(&a, &set, "1006", err, sizeof(err)) == 0, "%s", err);
	CHECK(strcmp(a.ha1, ha1) == 0 && strcmp(a.user, "1006") == 0);

	/* RFC 2617 3.5's HA1, as a check of the hash itself. */
	{
		const char *p[] = {"Mufasa", "testrealm@host.com", "Circle Of Life"};
		char h[33];
		CHECK(ca_auth_md5(p, 3, h) == 0 &&
		      strcmp(h, "939e7578ed9e3c518a452acee763bce9") == 0);
	}

	m = notify(NULL);
	CHECK(ca_auth_check_notify(&a, sip_object(m), 100, chal, sizeof(chal), &why) == -EACCES);
	CHECK(strcmp(why, "no credentials") == 0 && strstr(chal, "realm=\"beckon\""));
	msg_destroy(m);

	answer(chal, "00000000000000000000000000000000", "00000001", auth, sizeof(auth));
	m = notify(auth);
	CHECK(ca_auth_check_notify(&a, sip_object(m), 101, chal2, sizeof(chal2), &why) == -EACCES);
	CHECK(strcmp(why, "bad credentials") == 0);
	msg_destroy(m);

	answer(chal, ha1, "00000001", auth, sizeof(auth));
	m = notify(auth);
	CHECK(ca_auth_check_notify(&a, sip_object(m), 102, chal2, sizeof(chal2), &why) == 0);
	/* The same answer again: the nonce is used up. */
	CHECK(ca_auth_check_notify(&a, sip_object(m), 102, chal2, sizeof(chal2), &why) == -EACCES);
	CHECK(strcmp(why, "stale nonce") == 0);
	msg_destroy(m);

	/* A nonce older than its lifetime. */
	answer(chal2, ha1, "00000001", auth, sizeof(auth));
	m = notify(auth);
	CHECK(ca_auth_check_notify(&a, sip_object(m), 102 + CA_AUTH_NONCE_TTL_S + 1, chal,
				   sizeof(chal), &why) == -EACCES);
	msg_destroy(m);

	/* ha1 setting instead of a password; a malformed one is refused. */
	set.password = "";
	set.ha1 = "0123456789ABCDEF0123456789abcdef";
	CHECK(ca_auth_init(&a, &set, "1006", err, sizeof(err)) == 0);
	CHECK(strcmp(a.ha1, "0123456789abcdef0123456789abcdef") == 0);
	set.ha1 = "xyz";
	CHECK(ca_auth_init(&a, &set, "1006", err, sizeof(err)) == -EINVAL);
	set.ha1 = "";
	CHECK(ca_auth_init(&a, &set, "1006", err, sizeof(err)) == -EINVAL);
	return check_done();
}
