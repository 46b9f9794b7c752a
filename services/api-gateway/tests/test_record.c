/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of gw_record: a beckon:req hash (as HGETALL returns it) rendered as the JSON of
 * GET /v1/callbacks/{id}, and RFC 3339 timestamps.
 */
#include <string.h>

#include "check.h"
#include "gw_record.h"

#define KV(k, v) CM_STR_LIT(k), CM_STR_LIT(v)

static void check_time(void)
{
	char buf[40];

	CHECK(gw_record_time(0, buf, sizeof(buf)) == 24 &&
		  strcmp(buf, "1970-01-01T00:00:00.000Z") == 0,
	      "%s", buf);
	CHECK(gw_record_time(1795680000123LL, buf, sizeof(buf)) > 0 &&
		  strcmp(buf, "2026-11-26T08:00:00.123Z") == 0,
	      "%s", buf);
	CHECK(gw_record_time(-1, buf, sizeof(buf)) < 0, "negative");
	CHECK(gw_record_time(0, buf, 10) < 0, "small buffer");
}

static void check_delivered(void)
{
	const struct cm_str kv[] = {
	    KV("request_id", "app-42"),
	    KV("device", "7546658000"),
	    KV("package", "application-server-contact-me"),
	    KV("body", "{\"device\":\"7546658000\",\"request_id\":\"app-42\"}"),
	    KV("payload", "request-id=app-42\r\n"),
	    KV("status", "delivered"),
	    KV("created", "1795680000000"),
	    KV("sent", "1795680000005"),
	    KV("delivered", "1795680000042"),
	    KV("sip_status", "200"),
	    KV("targets", "3"),
	    KV("failed_targets", "1"),
	    KV("target:bbbb", "delivered:200"),
	    KV("target:aaaa", "failed:0:edge-unreachable"),
	    KV("target:cccc", "sent"),
	};
	json_t *j = gw_record_render(kv, sizeof(kv) / sizeof(kv[0]) / 2), *t;
	char *text;

	CHECK(j != NULL, "render");
	if (!j)
		return;
	text = json_dumps(j, JSON_COMPACT);
	CHECK(strcmp(json_string_value(json_object_get(j, "status")), "delivered") == 0, "%s",
	      text);
	CHECK(json_integer_value(json_object_get(j, "sip_status")) == 200, "%s", text);
	CHECK(json_is_null(json_object_get(j, "reason")), "%s", text);
	CHECK(json_is_null(json_object_get(j, "failed_at")), "%s", text);
	CHECK(strcmp(json_string_value(json_object_get(j, "created_at")),
		     "2026-11-26T08:00:00.000Z") == 0,
	      "%s", text);
	CHECK(strcmp(json_string_value(json_object_get(j, "delivered_at")),
		     "2026-11-26T08:00:00.042Z") == 0,
	      "%s", text);
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(j, "request"), "device")),
		     "7546658000") == 0,
	      "%s", text);
	CHECK(!json_object_get(j, "payload"), "payload is internal");
	t = json_object_get(j, "targets");
	CHECK(json_array_size(t) == 3, "%s", text);
	if (json_array_size(t) == 3) {
		json_t *a = json_array_get(t, 0), *b = json_array_get(t, 1),
		       *c = json_array_get(t, 2);

		CHECK(strcmp(json_string_value(json_object_get(a, "binding")), "aaaa") == 0 &&
			  strcmp(json_string_value(json_object_get(a, "status")), "failed") == 0 &&
			  json_is_null(json_object_get(a, "sip_status")) &&
			  strcmp(json_string_value(json_object_get(a, "reason")),
				 "edge-unreachable") == 0,
		      "%s", text);
		CHECK(strcmp(json_string_value(json_object_get(b, "status")), "delivered") == 0 &&
			  json_integer_value(json_object_get(b, "sip_status")) == 200,
		      "%s", text);
		CHECK(strcmp(json_string_value(json_object_get(c, "status")), "sent") == 0 &&
			  json_is_null(json_object_get(c, "sip_status")),
		      "%s", text);
	}
	free(text);
	json_decref(j);
}

static void check_damaged(void)
{
	/* Whatever another writer left, the answer still renders. */
	const struct cm_str kv[] = {
	    KV("status", "failed"),
	    KV("created", "not-a-number"),
	    KV("sip_status", "x"),
	    KV("body", "{broken"),
	    KV("target:", "queued"),
	    KV("target:zz", "failed:408"),
	    {NULL, 0},
	    {NULL, 0},
	};
	json_t *j = gw_record_render(kv, sizeof(kv) / sizeof(kv[0]) / 2);

	CHECK(j != NULL, "render");
	if (!j)
		return;
	CHECK(json_is_null(json_object_get(j, "created_at")), "created_at");
	CHECK(json_is_null(json_object_get(j, "sip_status")), "sip_status");
	CHECK(json_is_null(json_object_get(j, "request")), "request");
	CHECK(json_is_null(json_object_get(j, "request_id")), "request_id");
	CHECK(json_array_size(json_object_get(j, "targets")) == 1, "targets");
	CHECK(json_integer_value(json_object_get(json_array_get(json_object_get(j, "targets"), 0),
						 "sip_status")) == 408,
	      "target sip_status");
	json_decref(j);
	j = gw_record_render(NULL, 0);
	CHECK(j && json_array_size(json_object_get(j, "targets")) == 0, "empty");
	json_decref(j);
}

int main(void)
{
	check_time();
	check_delivered();
	check_damaged();
	return check_done();
}
