/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the hello: its JSON body (device ids, MAC, packages) and the backoff. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ca_hello.h"

#include "../../../common/tests/check.h"

static const char *str(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(o, path1);

	if (path2)
		v = json_object_get(v, path2);
	return json_string_value(v);
}

int main(void)
{
	struct ca_packages pk;
	char err[128], *body;
	json_t *o;

	CHECK(ca_packages_parse("application-server-contact-me,app-b", &pk, err, sizeof(err)) == 0);
	body = ca_hello_body("sip:7546658000@example.com", "urn:dev:mac:001122AABBCC",
			     "sip:127.0.0.1:5060", &pk, "contact-agent/1.2.3");
	CHECK(body != NULL);
	o = json_loads(body ? body : "", 0, NULL);
	CHECK(o != NULL);
	CHECK(str(o, "device", "aor") &&
	      strcmp(str(o, "device", "aor"), "sip:7546658000@example.com") == 0);
	CHECK(str(o, "device", "instance") &&
	      strcmp(str(o, "device", "instance"), "urn:dev:mac:001122AABBCC") == 0);
	CHECK(str(o, "device", "mac") && strcmp(str(o, "device", "mac"), "001122aabbcc") == 0);
	CHECK(str(o, "registrar", NULL) &&
	      strcmp(str(o, "registrar", NULL), "sip:127.0.0.1:5060") == 0);
	CHECK(str(o, "agent", NULL) && strcmp(str(o, "agent", NULL), "contact-agent/1.2.3") == 0);
	CHECK(json_array_size(json_object_get(o, "packages")) == 2);
	CHECK(strcmp(json_string_value(json_array_get(json_object_get(o, "packages"), 1)),
		     "app-b") == 0);
	json_decref(o);
	free(body);

	/* A uuid instance: no mac. No instance: neither. */
	body = ca_hello_body("sip:1@example.com", "urn:uuid:3f5c0a5e-0000-4000-8000-000000000001",
			     "sip:r", &pk, "x");
	o = json_loads(body ? body : "", 0, NULL);
	CHECK(o && str(o, "device", "instance") &&
	      !json_object_get(json_object_get(o, "device"), "mac"));
	json_decref(o);
	free(body);
	body = ca_hello_body("sip:1@example.com", NULL, "sip:r", &pk, "x");
	o = json_loads(body ? body : "", 0, NULL);
	CHECK(o && json_object_size(json_object_get(o, "device")) == 1);
	json_decref(o);
	free(body);
	/* A malformed MAC URN is still sent as the instance, without a mac. */
	body = ca_hello_body("sip:1@example.com", "urn:dev:mac:0011", "sip:r", &pk, "x");
	o = json_loads(body ? body : "", 0, NULL);
	CHECK(o && str(o, "device", "instance") &&
	      !json_object_get(json_object_get(o, "device"), "mac"));
	json_decref(o);
	free(body);

	CHECK(ca_hello_backoff_ms(1) == 1000);
	CHECK(ca_hello_backoff_ms(2) == 2000);
	CHECK(ca_hello_backoff_ms(4) == 8000);
	CHECK(ca_hello_backoff_ms(6) == 30000);
	CHECK(ca_hello_backoff_ms(100) == 30000);

	/* Closing a hello that never started is safe (twice, too). */
	{
		struct ca_hello h;

		memset(&h, 0, sizeof(h));
		ca_hello_close(&h);
		ca_hello_close(&h);
	}

	return check_done();
}
