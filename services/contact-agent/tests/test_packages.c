/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the event package list (setting packages): parsing, Accept and Allow-Events
 * values, Event lookup and the media type check. */
#include <stdio.h>
#include <string.h>

#include "ca_packages.h"

#include "../../../common/tests/check.h"

int main(void)
{
	struct ca_packages p;
	char err[256];

	CHECK(ca_packages_parse("application-server-contact-me", &p, err, sizeof(err)) == 0);
	CHECK(p.n == 1);
	CHECK(strcmp(p.accept, "application/application-server-contact-me") == 0);
	CHECK(strcmp(p.allow_events, "application-server-contact-me") == 0);
	CHECK(ca_packages_find(&p, "application-server-contact-me") == 0);
	CHECK(ca_packages_find(&p, "presence") < 0);
	CHECK(ca_packages_find(&p, "Application-Server-Contact-Me") < 0); /* exact */
	CHECK(ca_packages_find(&p, NULL) < 0);
	CHECK(ca_packages_media_ok(&p, 0, "application/application-server-contact-me"));
	CHECK(ca_packages_media_ok(&p, 0, "Application/Application-Server-Contact-Me"));
	CHECK(!ca_packages_media_ok(&p, 0, "text/plain"));
	CHECK(!ca_packages_media_ok(&p, 0, "application/"));
	CHECK(!ca_packages_media_ok(&p, 1, "application/application-server-contact-me"));
	CHECK(!ca_packages_media_ok(&p, 0, NULL));

	/* Several, with spaces, an empty item and a duplicate. */
	CHECK(ca_packages_parse(" app-a , app.b+x,,app-a ", &p, err, sizeof(err)) == 0);
	CHECK(p.n == 2);
	CHECK(strcmp(p.name[0], "app-a") == 0 && strcmp(p.name[1], "app.b+x") == 0);
	CHECK(strcmp(p.accept, "application/app-a, application/app.b+x") == 0);
	CHECK(strcmp(p.allow_events, "app-a, app.b+x") == 0);
	CHECK(ca_packages_find(&p, "app.b+x") == 1);
	CHECK(ca_packages_media_ok(&p, 1, "application/app.b+x"));
	CHECK(!ca_packages_media_ok(&p, 1, "application/app-a"));

	CHECK(ca_packages_parse("", &p, err, sizeof(err)) < 0 && strstr(err, "packages"));
	CHECK(ca_packages_parse(" , ", &p, err, sizeof(err)) < 0);
	CHECK(ca_packages_parse(NULL, &p, err, sizeof(err)) < 0);
	CHECK(ca_packages_parse("a b", &p, err, sizeof(err)) < 0 && strstr(err, "'a b'"));
	CHECK(ca_packages_parse("a;b", &p, err, sizeof(err)) < 0);
	CHECK(ca_packages_parse("a,b,c,d,e,f,g,h", &p, err, sizeof(err)) == 0 && p.n == 8);
	CHECK(ca_packages_parse("a,b,c,d,e,f,g,h,i", &p, err, sizeof(err)) < 0 &&
	      strstr(err, "more than"));
	{
		char big[CA_PACKAGE_NAME_MAX + 2];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		CHECK(ca_packages_parse(big, &p, err, sizeof(err)) < 0);
		big[sizeof(big) - 2] = '\0';
		CHECK(ca_packages_parse(big, &p, err, sizeof(err)) == 0);
	}

	return check_done();
}
