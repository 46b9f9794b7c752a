/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the trusted-server list: parsing (--trusted-servers) and matching. */
#include <stdio.h>
#include <string.h>

#include "ca_trust.h"

#include "../../../common/tests/check.h"

static bool match(const struct ca_trust *t, const char *hostport)
{
	struct cm_hostport hp;

	if (cm_hostport_parse(hostport, strlen(hostport), &hp) < 0)
		return false;
	return ca_trust_match(t, hp.host.p, hp.host.len, hp.kind, hp.port);
}

int main(void)
{
	struct ca_trust t;
	char err[256];

	/* The command line of the issue. */
	CHECK(ca_trust_parse("127.0.0.1:9000,app.example.com:443", &t, err, sizeof(err)) == 2);
	CHECK(match(&t, "127.0.0.1:9000"));
	CHECK(match(&t, "app.example.com:443"));
	CHECK(match(&t, "APP.Example.COM:443"));  /* host case-insensitive */
	CHECK(match(&t, "app.example.com.:443")); /* trailing dot */
	CHECK(!match(&t, "127.0.0.1:9001"));	  /* port is exact */
	CHECK(!match(&t, "127.0.0.2:9000"));
	CHECK(!match(&t, "app.example.com:80"));
	CHECK(!match(&t, "evil.example.com:443"));
	CHECK(!match(&t, "app.example.com.evil.org:443"));
	CHECK(!match(&t, "[::1]:9000"));

	/* IPv6: bracketed, compared as addresses. */
	CHECK(ca_trust_parse(" [::1]:8443 , [2001:DB8::10]:443", &t, err, sizeof(err)) == 2);
	CHECK(match(&t, "[::1]:8443"));
	CHECK(match(&t, "[0:0:0:0:0:0:0:1]:8443"));
	CHECK(match(&t, "[2001:db8::10]:443"));
	CHECK(!match(&t, "[::1]:443"));
	CHECK(!match(&t, "127.0.0.1:8443"));

	/* Empty list trusts nothing. */
	CHECK(ca_trust_parse("", &t, err, sizeof(err)) == 0);
	CHECK(!match(&t, "127.0.0.1:9000"));
	CHECK(ca_trust_parse(NULL, &t, err, sizeof(err)) == 0);
	CHECK(ca_trust_parse(" , ", &t, err, sizeof(err)) == 0);

	/* Bad entries are named. */
	CHECK(ca_trust_parse("127.0.0.1", &t, err, sizeof(err)) < 0); /* port mandatory */
	CHECK(strstr(err, "'127.0.0.1'") != NULL);
	CHECK(ca_trust_parse("::1:443", &t, err, sizeof(err)) < 0); /* IPv6 needs brackets */
	CHECK(ca_trust_parse("a.example:0", &t, err, sizeof(err)) < 0);
	CHECK(ca_trust_parse("a.example:65536", &t, err, sizeof(err)) < 0);
	CHECK(ca_trust_parse("a_b.example:80", &t, err, sizeof(err)) < 0);
	CHECK(ca_trust_parse("ok.example:80,bad host:80", &t, err, sizeof(err)) < 0);

	/* Limit. */
	{
		char spec[64 * 20] = "";

		for (int i = 0; i < CA_TRUST_MAX + 1; i++)
			snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec),
				 "h%d.example:80,", i);
		CHECK(ca_trust_parse(spec, &t, err, sizeof(err)) < 0);
		CHECK(strstr(err, "more than") != NULL);
	}

	return check_done();
}
