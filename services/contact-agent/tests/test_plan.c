/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the callback plan: URL building (defaults, IPv6), trust filtering, body. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ca_plan.h"

#include "../../../common/tests/check.h"

static int parse(const char *body, struct cm_payload *p)
{
	const char *why = NULL;
	int rc = cm_payload_parse(body, strlen(body), p, &why);

	if (rc < 0)
		fprintf(stderr, "payload did not parse: %s\n", why ? why : "?");
	return rc;
}

static void test_url(void)
{
	struct cm_hostport hp;
	char buf[CA_URL_MAX];

	CHECK(cm_hostport_parse("127.0.0.1:9000", 14, &hp) == 0);
	CHECK(ca_plan_url(buf, sizeof(buf), CM_STR_NULL, &hp, CM_STR_NULL) > 0);
	CHECK(strcmp(buf, "https://127.0.0.1:9000/") == 0);
	CHECK(ca_plan_url(buf, sizeof(buf), CM_STR_LIT("http"), &hp, CM_STR_LIT("/cb/42?x=1")) > 0);
	CHECK(strcmp(buf, "http://127.0.0.1:9000/cb/42?x=1") == 0);

	CHECK(cm_hostport_parse("[2001:db8::1]:8443", 18, &hp) == 0);
	CHECK(ca_plan_url(buf, sizeof(buf), CM_STR_LIT("https"), &hp, CM_STR_LIT("/a")) > 0);
	CHECK(strcmp(buf, "https://[2001:db8::1]:8443/a") == 0);

	CHECK(cm_hostport_parse("app.example.com", 15, &hp) == 0);
	CHECK(ca_plan_url(buf, sizeof(buf), CM_STR_NULL, &hp, CM_STR_NULL) > 0);
	CHECK(strcmp(buf, "https://app.example.com/") == 0);
	CHECK(ca_plan_url(buf, 10, CM_STR_NULL, &hp, CM_STR_NULL) == -ENOSPC);

	CHECK(ca_plan_default_port(CM_STR_LIT("http")) == 80);
	CHECK(ca_plan_default_port(CM_STR_LIT("https")) == 443);
	CHECK(ca_plan_default_port(CM_STR_NULL) == 443);
}

static void test_plan(void)
{
	struct ca_trust t;
	struct cm_payload p;
	struct ca_plan plan;
	char err[128];
	json_t *j;

	CHECK(ca_trust_parse("127.0.0.1:9000,app.example.com:443,[::1]:8080", &t, err,
			     sizeof(err)) == 3);

	/* Main server trusted, alternates: one untrusted, one trusted IPv6. */
	CHECK(parse("request-id=app-42\r\nserver=127.0.0.1:9000\r\nprotocol=http\r\n"
		    "path=/contact/42\r\ncomponent=voicemail\r\nalt-server=evil.example:80\r\n"
		    "alt-server=[::1]:8080\r\n",
		    &p) == 0);
	CHECK(ca_plan_build(&p, &t, "urn:uuid:1", "sip:1@example.com", NULL, &plan) == 0);
	CHECK(strcmp(plan.request_id, "app-42") == 0);
	CHECK(plan.n_target == 2);
	CHECK(strcmp(plan.target[0].url, "http://127.0.0.1:9000/contact/42") == 0);
	CHECK(strcmp(plan.target[0].hostport, "127.0.0.1:9000") == 0);
	CHECK(strcmp(plan.target[1].url, "http://[::1]:8080/contact/42") == 0);
	CHECK(plan.n_refused == 1);
	CHECK(strcmp(plan.refused[0], "evil.example:80") == 0);
	j = json_loads(plan.body, 0, NULL);
	CHECK(j != NULL);
	CHECK(strcmp(json_string_value(json_object_get(j, "request_id")), "app-42") == 0);
	CHECK(strcmp(json_string_value(json_object_get(j, "device")), "urn:uuid:1") == 0);
	CHECK(strcmp(json_string_value(json_object_get(j, "aor")), "sip:1@example.com") == 0);
	CHECK(strcmp(json_string_value(json_object_get(j, "component")), "voicemail") == 0);
	json_decref(j);
	ca_plan_free(&plan);
	ca_plan_free(&plan); /* idempotent */

	/* Port absent: the protocol's default port is what must be trusted. */
	CHECK(parse("request-id=r1\r\nserver=app.example.com\r\n", &p) == 0);
	CHECK(ca_plan_build(&p, &t, "d", "sip:1@example.com", NULL, &plan) == 0);
	CHECK(plan.n_target == 1 && plan.n_refused == 0);
	CHECK(strcmp(plan.target[0].url, "https://app.example.com/") == 0);
	j = json_loads(plan.body, 0, NULL);
	CHECK(j && json_object_get(j, "component") == NULL);
	json_decref(j);
	ca_plan_free(&plan);
	CHECK(parse("request-id=r1\r\nserver=app.example.com\r\nprotocol=http\r\n", &p) == 0);
	CHECK(ca_plan_build(&p, &t, "d", "sip:1@example.com", NULL, &plan) == 0);
	CHECK(plan.n_target == 0 && plan.n_refused == 1); /* :80 is not on the list */
	ca_plan_free(&plan);

	/* Untrusted main server: nothing to call. */
	CHECK(parse("request-id=r2\r\nserver=10.0.0.1:9000\r\n", &p) == 0);
	CHECK(ca_plan_build(&p, &t, "d", "sip:1@example.com", NULL, &plan) == 0);
	CHECK(plan.n_target == 0 && plan.n_refused == 1);
	CHECK(strcmp(plan.refused[0], "10.0.0.1:9000") == 0);
	ca_plan_free(&plan);

	/* No server: -ENOENT, unless a default-server is configured (trusted by config). */
	CHECK(parse("request-id=r3\r\npath=/x\r\n", &p) == 0);
	CHECK(ca_plan_build(&p, &t, "d", "sip:1@example.com", NULL, &plan) == -ENOENT);
	ca_plan_free(&plan);
	CHECK(ca_plan_build(&p, &t, "d", "sip:1@example.com", "10.9.9.9:7000", &plan) == 0);
	CHECK(plan.n_target == 1 && plan.from_default == 1);
	CHECK(strcmp(plan.target[0].url, "https://10.9.9.9:7000/x") == 0);
	ca_plan_free(&plan);

	/* Empty trust list refuses everything. */
	CHECK(ca_trust_parse("", &t, err, sizeof(err)) == 0);
	CHECK(parse("request-id=r4\r\nserver=127.0.0.1:9000\r\n", &p) == 0);
	CHECK(ca_plan_build(&p, &t, "d", "sip:1@example.com", NULL, &plan) == 0);
	CHECK(plan.n_target == 0 && plan.n_refused == 1);
	ca_plan_free(&plan);
}

/* The protection option: trusted servers and https only, decided before the answer. */
static void test_protect(void)
{
	struct ca_trust t;
	struct cm_payload p;
	const char *why = NULL;
	char err[128];

	CHECK(ca_trust_parse("127.0.0.1:9443,app.example.com:443", &t, err, sizeof(err)) == 2);
	CHECK(parse("request-id=a\r\nserver=127.0.0.1:9443\r\nprotocol=https\r\n", &p) == 0);
	CHECK(ca_plan_protect(&p, &t, &why) == 0);
	CHECK(parse("request-id=a\r\nserver=app.example.com\r\n", &p) == 0); /* https:443 */
	CHECK(ca_plan_protect(&p, &t, &why) == 0);
	CHECK(parse("request-id=a\r\n", &p) == 0); /* default-server */
	CHECK(ca_plan_protect(&p, &t, &why) == 0);

	CHECK(parse("request-id=a\r\nserver=127.0.0.1:9443\r\nprotocol=http\r\n", &p) == 0);
	CHECK(ca_plan_protect(&p, &t, &why) == -EACCES && strcmp(why, "HTTPS Required") == 0);
	CHECK(parse("request-id=a\r\nserver=127.0.0.1:9444\r\n", &p) == 0);
	CHECK(ca_plan_protect(&p, &t, &why) == -EACCES && strcmp(why, "Untrusted Server") == 0);
	/* One untrusted alternate is enough to refuse the whole request. */
	CHECK(parse("request-id=a\r\nserver=127.0.0.1:9443\r\nalt-server=10.0.0.1:9443\r\n", &p) ==
	      0);
	CHECK(ca_plan_protect(&p, &t, &why) == -EACCES && strcmp(why, "Untrusted Server") == 0);
}

int main(void)
{
	test_url();
	test_plan();
	test_protect();
	return check_done();
}
