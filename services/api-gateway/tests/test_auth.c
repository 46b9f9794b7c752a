/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of gw_auth's pure parts: the key hash, reading a key's Redis fields (missing,
 * malformed, revoked) and the scope check (role, packages, device prefixes).
 */
#include <string.h>

#include "check.h"
#include "cm/err.h"
#include "gw_auth.h"

static int allows(const char *fields_packages, const char *fields_devices, const char *role,
		  const char *body, char *detail, size_t size)
{
	const char *f[] = {"client",	    "c1",      "role",	      role, "packages",
			   fields_packages, "devices", fields_devices};
	struct gw_key key;
	struct gw_request r;
	bool revoked;
	int rc;

	if (!gw_auth_key_from_fields(f, 8, &key, &revoked))
		return -1000;
	if (gw_request_parse(body, strlen(body), &r, detail, size) != 0)
		return -1001;
	rc = gw_auth_allows(&key, &r, detail, size);
	gw_request_free(&r);
	return rc;
}

#define BODY(dev, extra)                                                                           \
	"{\"device\":\"" dev "\",\"server\":{\"host\":\"app.example.com\",\"port\":443}" extra "}"

int main(void)
{
	char hex[65], d[256] = "";
	struct gw_key key;
	bool revoked;

	CHECK(gw_auth_hash("abc", 3, hex) == 0 &&
		  strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") ==
		      0,
	      "sha256(abc) = %s", hex);

	{
		const char *f[] = {"client", "app-1", "role", "app-server", "rate", "5"};
		CHECK(gw_auth_key_from_fields(f, 6, &key, &revoked) && key.rate == 5 &&
			  strcmp(key.client, "app-1") == 0 && strcmp(key.packages, "*") == 0,
		      "minimal key");
	}
	{
		const char *f[] = {"role", "app-server"};
		CHECK(!gw_auth_key_from_fields(f, 2, &key, &revoked) && !revoked, "no client");
	}
	{
		const char *f[] = {"client", "a b", "role", "app-server"};
		CHECK(!gw_auth_key_from_fields(f, 4, &key, &revoked), "bad client");
	}
	{
		const char *f[] = {"client", "a", "role", "admin"};
		CHECK(!gw_auth_key_from_fields(f, 4, &key, &revoked), "bad role");
	}
	{
		const char *f[] = {"client", "a", "role", "app-server", "rate", "0"};
		CHECK(!gw_auth_key_from_fields(f, 6, &key, &revoked), "rate 0");
	}
	{
		const char *f[] = {"client", "a", "role", "app-server", "revoked", "1764150000"};
		CHECK(!gw_auth_key_from_fields(f, 6, &key, &revoked) && revoked, "revoked");
	}
	{
		const char *f[] = {"client", "a", "role", "app-server", "revoked", "0"};
		CHECK(gw_auth_key_from_fields(f, 6, &key, &revoked) && !revoked, "revoked 0");
	}

	CHECK(allows("*", "*", "app-server", BODY("7546658000", ""), d, sizeof(d)) == 0, "%s", d);
	CHECK(allows("*", "num:7546", "app-server", BODY("7546658000", ""), d, sizeof(d)) == 0,
	      "prefix: %s", d);
	CHECK(allows("*", "num:7547, num:7546", "app-server", BODY("7546658000", ""), d,
		     sizeof(d)) == 0,
	      "second entry: %s", d);
	CHECK(allows("*", "num:7547", "app-server", BODY("7546658000", ""), d, sizeof(d)) ==
		      CM_E_FORBIDDEN &&
		  strstr(d, "device '7546658000'"),
	      "outside: %s", d);
	CHECK(allows("*", "aor:sip:alice@example.com", "app-server",
		     BODY("sip:alice@example.com", ""), d, sizeof(d)) == 0,
	      "aor: %s", d);
	CHECK(allows("*", "aor:sip:alice@example.com", "app-server",
		     BODY("sip:bob@example.com", ""), d, sizeof(d)) == CM_E_FORBIDDEN,
	      "other aor");
	CHECK(allows("other-package", "*", "app-server", BODY("7546658000", ""), d, sizeof(d)) ==
		      CM_E_FORBIDDEN &&
		  strstr(d, "package"),
	      "package: %s", d);
	CHECK(allows("x,application-server-contact-me", "*", "app-server", BODY("7546658000", ""),
		     d, sizeof(d)) == 0,
	      "package list: %s", d);
	CHECK(allows("*", "*", "contact-triggering", BODY("7546658000", ""), d, sizeof(d)) ==
		      CM_E_FORBIDDEN &&
		  strstr(d, "on_behalf_of"),
	      "ct without on_behalf_of: %s", d);
	CHECK(allows("*", "*", "contact-triggering",
		     BODY("7546658000", ",\"on_behalf_of\":\"a-7\""), d, sizeof(d)) == 0,
	      "ct: %s", d);
	CHECK(allows("*", "*", "app-server", BODY("7546658000", ",\"on_behalf_of\":\"a-7\""), d,
		     sizeof(d)) == CM_E_FORBIDDEN,
	      "app-server with on_behalf_of");
	return check_done();
}
