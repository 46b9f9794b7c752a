/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of gw_request: every body in proto/examples/rest/valid must be accepted (and its
 * payload must parse back with the codec, and its normalised body must normalise to itself);
 * every file in proto/examples/rest/invalid must get its expected status and a detail holding
 * the expected substring. Plus cases a JSON example file cannot hold (bad UTF-8, bodies that
 * are not NUL-terminated) and the exact output for one complete request. Runs from the
 * project root (meson's workdir).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "examples.h"
#include "cm/err.h"
#include "cm/payload.h"
#include "gw_request.h"

#define VALID_DIR "proto/examples/rest/valid"
#define INVALID_DIR "proto/examples/rest/invalid"

static bool is_uuid4(const char *s)
{
	if (strlen(s) != GW_UUID_LEN || s[14] != '4' || !strchr("89ab", s[19]))
		return false;
	for (int i = 0; i < GW_UUID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
			return false;
	}
	return true;
}

static void check_valid(const char *path)
{
	struct gw_request r, again;
	struct cm_payload p;
	char detail[GW_DETAIL_MAX];
	const char *why = NULL;
	size_t len = 0;
	char *text = examples_read(path, &len);
	int rc;

	CHECK(text != NULL, "%s: cannot read", path);
	if (!text)
		return;
	rc = gw_request_parse(text, len, &r, detail, sizeof(detail));
	CHECK(rc == 0, "%s: refused (%d): %s", path, rc, detail);
	if (rc == 0) {
		CHECK(cm_payload_parse(r.payload, r.payload_len, &p, &why) == 0,
		      "%s: payload does not parse back: %s", path, why ? why : "?");
		CHECK(p.request_id.len == strlen(r.request_id) &&
			  memcmp(p.request_id.p, r.request_id, p.request_id.len) == 0,
		      "%s: payload request-id differs", path);
		CHECK(p.n_alt_server == r.n_alt_servers, "%s: alt-server count", path);
		if (!strstr(text, "\"request_id\""))
			CHECK(r.generated_id && is_uuid4(r.request_id),
			      "%s: generated id '%s' is not a UUID v4", path, r.request_id);
		/* The stored body must itself be a valid request with the same meaning. */
		rc = gw_request_parse(r.body, r.body_len, &again, detail, sizeof(detail));
		CHECK(rc == 0, "%s: normalised body refused: %s", path, detail);
		if (rc == 0) {
			CHECK(strcmp(again.body, r.body) == 0, "%s: not idempotent:\n%s\n%s", path,
			      r.body, again.body);
			CHECK(strcmp(again.payload, r.payload) == 0, "%s: payload differs", path);
			CHECK(!again.generated_id, "%s: id regenerated", path);
			gw_request_free(&again);
		}
		gw_request_free(&r);
	}
	free(text);
}

static void check_invalid(const char *path)
{
	json_error_t jerr;
	json_t *f = json_load_file(path, 0, &jerr), *body, *raw;
	struct gw_request r;
	char detail[GW_DETAIL_MAX];
	const char *want;
	char *text = NULL;
	size_t len;
	int status, rc;

	CHECK(f != NULL, "%s: %s", path, f ? "" : jerr.text);
	if (!f)
		return;
	status = (int)json_integer_value(json_object_get(json_object_get(f, "expect"), "status"));
	want = json_string_value(json_object_get(json_object_get(f, "expect"), "detail"));
	body = json_object_get(f, "body");
	raw = json_object_get(f, "body_raw");
	CHECK(want && (body || raw) && status >= 400, "%s: not {expect, body|body_raw}", path);
	if (!want || !(body || raw) || status != 400) {
		/* 404/409/413/415/503 depend on HTTP or Redis: the integration tests' job. */
		json_decref(f);
		return;
	}
	if (raw) {
		len = json_string_length(raw);
		text = malloc(len + 1);
		if (text)
			memcpy(text, json_string_value(raw), len + 1);
	} else {
		text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		len = text ? strlen(text) : 0;
	}
	CHECK(text != NULL, "%s: out of memory", path);
	if (text) {
		rc = gw_request_parse(text, len, &r, detail, sizeof(detail));
		CHECK(rc < 0 && cm_err_http_status(rc) == status, "%s: got %d (%d), want %d", path,
		      rc, rc < 0 ? cm_err_http_status(rc) : 0, status);
		if (rc == 0)
			gw_request_free(&r);
		else
			CHECK(strstr(detail, want) != NULL, "%s: detail '%s' lacks '%s'", path,
			      detail, want);
	}
	free(text);
	json_decref(f);
}

static void check_full_output(void)
{
	static const char body[] =
	    "{ \"package\": \"application-server-contact-me\", \"alt_servers\": [{\"port\": 8443, "
	    "\"host\": \"192.0.2.10\"}, {\"host\": \"2001:db8::10\", \"port\": 443}], "
	    "\"time_slot\": \"2026-11-26T10:00:00Z/2099-11-26T10:30:00Z\", \"component\": "
	    "\"voicemail\", \"path\": \"/contact/42\", \"protocol\": \"https\", \"server\": "
	    "{\"host\": \"app.example.com\", \"port\": 443}, \"request_id\": \"app-42\", "
	    "\"device\": \"7546658000\" }";
	static const char payload[] = "request-id=app-42\r\n"
				      "server=app.example.com:443\r\n"
				      "protocol=https\r\n"
				      "path=/contact/42\r\n"
				      "component=voicemail\r\n"
				      "alt-server=192.0.2.10:8443\r\n"
				      "alt-server=[2001:db8::10]:443\r\n"
				      "time-slot=2026-11-26T10:00:00Z/2099-11-26T10:30:00Z\r\n";
	static const char norm[] =
	    "{\"device\":\"7546658000\",\"request_id\":\"app-42\",\"server\":{\"host\":"
	    "\"app.example.com\",\"port\":443},\"protocol\":\"https\",\"path\":\"/contact/42\","
	    "\"component\":\"voicemail\",\"alt_servers\":[{\"host\":\"192.0.2.10\",\"port\":8443},"
	    "{\"host\":\"2001:db8::10\",\"port\":443}],\"time_slot\":\"2026-11-26T10:00:00Z/"
	    "2099-11-26T10:30:00Z\",\"package\":\"application-server-contact-me\",\"ttl_s\":300}";
	struct gw_request r;
	char detail[GW_DETAIL_MAX];
	int rc = gw_request_parse(body, sizeof(body) - 1, &r, detail, sizeof(detail));

	CHECK(rc == 0, "full request refused: %s", detail);
	if (rc)
		return;
	CHECK(strcmp(r.payload, payload) == 0, "payload:\n%s", r.payload);
	CHECK(r.payload_len == sizeof(payload) - 1, "payload length %zu", r.payload_len);
	CHECK(strcmp(r.body, norm) == 0, "normalised body:\n%s", r.body);
	CHECK(strcmp(r.request_id, "app-42") == 0 && !r.generated_id, "request id");
	CHECK(strcmp(r.device_id, "7546658000") == 0 && r.device.kind == CM_DEV_NUM, "device");
	CHECK(r.n_alt_servers == 2, "alt servers");
	CHECK(r.ttl_s == GW_TTL_DEFAULT && strcmp(r.client, GW_CLIENT_DEFAULT) == 0, "defaults");
	CHECK(r.slot_end_ms == 4099372200000LL, "slot end %lld", (long long)r.slot_end_ms);
	gw_request_free(&r);
	gw_request_free(&r); /* twice is harmless */
}

/* The issue-3 fields: ttl_s, deadline, collapse_key, status_url, on_behalf_of, packages, the
 * client header. */
static void check_lifecycle_fields(void)
{
	static const char body[] =
	    "{\"device\":\"1\",\"ttl_s\":60,\"collapse_key\":\"k.1\",\"on_behalf_of\":\"as:7\","
	    "\"status_url\":\"http://127.0.0.1:9/r\",\"time_slot\":"
	    "\"2026-11-26T08:00:00Z/2026-11-26T10:00:30+01:00\"}";
	struct gw_request r;
	char detail[GW_DETAIL_MAX], client[GW_CLIENT_MAX + 1];
	int64_t dl = 0, end = 1795683630000LL; /* 09:00:30Z */
	int rc = gw_request_parse(body, sizeof(body) - 1, &r, detail, sizeof(detail));

	CHECK(rc == 0, "lifecycle fields refused: %s", detail);
	if (rc)
		return;
	CHECK(r.ttl_s == 60 && strcmp(r.collapse_key, "k.1") == 0 &&
		  strcmp(r.on_behalf_of, "as:7") == 0 && r.status_url &&
		  strcmp(r.status_url, "http://127.0.0.1:9/r") == 0,
	      "fields");
	CHECK(r.slot_end_ms == end, "slot end %lld", (long long)r.slot_end_ms);
	/* deadline = min(now + ttl, slot end); a slot already over is refused */
	CHECK(gw_request_deadline(&r, end - 100000, &dl, detail, sizeof(detail)) == 0 &&
		  dl == end - 40000,
	      "ttl deadline %lld", (long long)dl);
	CHECK(gw_request_deadline(&r, end - 10000, &dl, detail, sizeof(detail)) == 0 && dl == end,
	      "slot deadline %lld", (long long)dl);
	CHECK(gw_request_deadline(&r, end, &dl, detail, sizeof(detail)) == CM_E_BAD_REQUEST &&
		  strstr(detail, "time_slot has already ended"),
	      "slot over: %s", detail);
	r.ttl_s = 0;
	r.slot_end_ms = 0;
	CHECK(gw_request_deadline(&r, 1000, &dl, detail, sizeof(detail)) == 0 &&
		  dl == 1000 + GW_TTL_ZERO_GRACE_MS,
	      "ttl 0 deadline %lld", (long long)dl);
	gw_request_free(&r);

	/* packages: the first is the default; others must be listed */
	rc = gw_request_parse_with("{\"device\":\"1\"}", 14, "a.b,c-d", &r, detail, sizeof(detail));
	CHECK(rc == 0 && strcmp(r.package, "a.b") == 0, "default package %s", r.package);
	gw_request_free(&r);
	rc = gw_request_parse_with("{\"device\":\"1\",\"package\":\"c-d\"}", 30, "a.b,c-d", &r,
				   detail, sizeof(detail));
	CHECK(rc == 0 && strcmp(r.package, "c-d") == 0, "second package: %s", detail);
	gw_request_free(&r);
	rc = gw_request_parse_with("{\"device\":\"1\",\"package\":\"x\"}", 28, "a.b,c-d", &r,
				   detail, sizeof(detail));
	CHECK(rc == CM_E_BAD_REQUEST && strstr(detail, "must be one of 'a.b,c-d'"), "%s", detail);

	CHECK(gw_request_client(NULL, client, detail, sizeof(detail)) == 0 &&
		  strcmp(client, "default") == 0,
	      "default client");
	CHECK(gw_request_client("app-1.eu_2", client, detail, sizeof(detail)) == 0 &&
		  strcmp(client, "app-1.eu_2") == 0,
	      "client");
	CHECK(gw_request_client("a:b", client, detail, sizeof(detail)) == CM_E_BAD_REQUEST &&
		  strstr(detail, "X-Beckon-Client"),
	      "bad client");
	CHECK(gw_request_client("", client, detail, sizeof(detail)) == CM_E_BAD_REQUEST,
	      "empty client");
}

static void check_refused(const char *body, size_t len, const char *want)
{
	struct gw_request r;
	char detail[GW_DETAIL_MAX];
	int rc = gw_request_parse(body, len, &r, detail, sizeof(detail));

	CHECK(rc == CM_E_BAD_REQUEST && strstr(detail, want), "'%.*s': %d '%s', want '%s'",
	      (int)len, body, rc, detail, want);
	if (rc == 0)
		gw_request_free(&r);
}

static void check_edge_cases(void)
{
	/* A view that is not NUL-terminated: the byte after it must not be read as JSON. */
	char buf[] = "{\"device\":\"7546658000\"}garbage";
	struct gw_request r;
	char detail[GW_DETAIL_MAX], a[GW_UUID_LEN + 1], b[GW_UUID_LEN + 1];
	char longkey[400];
	int rc;

	rc = gw_request_parse(buf, 23, &r, detail, sizeof(detail));
	CHECK(rc == 0, "bounded view refused: %s", detail);
	if (rc == 0) {
		CHECK(r.device.kind == CM_DEV_NUM && strcmp(r.device.value, "7546658000") == 0,
		      "device %s", r.device.value);
		gw_request_free(&r);
	}
	check_refused("{\"device\":\"\xff\xfe\"}", 16, "malformed JSON");
	check_refused("{\"device\":\"1\",\"alt_servers\":[[[[[[[[[[]]]]]]]]]]}", 48,
		      "nested deeper");
	/* A string with brackets is not nesting. */
	rc = gw_request_parse("{\"device\":\"1\",\"path\":\"/[[[[[[[[[[[[[[[\"}", 40, &r, detail,
			      sizeof(detail));
	CHECK(rc == CM_E_BAD_REQUEST && strstr(detail, "field 'path'"), "brackets: %s", detail);
	/* A long unknown key is echoed cut short, on a UTF-8 character boundary. */
	memcpy(longkey, "{\"device\":\"1\",\"", 15);
	for (int i = 0; i < 100; i++)
		memcpy(longkey + 15 + 2 * i, "\xc3\xa9", 2); /* é */
	memcpy(longkey + 215, "\":1}", 5);
	rc = gw_request_parse(longkey, strlen(longkey), &r, detail, sizeof(detail));
	CHECK(rc == CM_E_BAD_REQUEST && strstr(detail, "unknown field '") &&
		  strstr(detail, "...'") && strlen(detail) < 100,
	      "long key: %s", detail);
	{
		json_t *j = json_string(detail);

		CHECK(j != NULL, "detail is not valid UTF-8: %s", detail);
		json_decref(j);
	}
	/* Detail buffers are bounded. */
	rc = gw_request_parse("{\"sever\":1}", 11, &r, detail, 8);
	CHECK(rc == CM_E_BAD_REQUEST && strlen(detail) == 7, "short detail '%s'", detail);

	CHECK(gw_request_uuid(a) == 0 && gw_request_uuid(b) == 0, "uuid");
	CHECK(is_uuid4(a) && is_uuid4(b) && strcmp(a, b) != 0, "uuids %s %s", a, b);
}

/* The longest request every field limit allows still leaves room for the valid-until line, and
 * gw_request_valid_until writes the deadline (to the millisecond) as the last line. */
static void check_valid_until(void)
{
	static const char host[] =
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."
	    "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc."
	    "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
	char *body = malloc(16384), id[129], path[1025], comp[65], detail[GW_DETAIL_MAX];
	struct gw_request r;
	struct cm_payload p;
	const char *why = NULL;
	size_t pos;
	int64_t dl;
	int rc;

	CHECK(strlen(host) == 253); /* CM_HOST_MAX */
	if (!body)
		return;
	memset(id, 'i', 128);
	id[128] = '\0';
	path[0] = '/';
	memset(path + 1, 'p', 1023);
	path[1024] = '\0';
	memset(comp, 'c', 64);
	comp[64] = '\0';
	pos = (size_t)snprintf(
	    body, 16384,
	    "{\"device\":\"1\",\"request_id\":\"%s\",\"server\":{\"host\":\"%s\","
	    "\"port\":65535},\"protocol\":\"https\",\"path\":\"%s\","
	    "\"component\":\"%s\",\"time_slot\":\"2026-11-26T10:00:00.123456789+01:00/"
	    "2026-11-26T10:30:00.123456789+01:00\",\"alt_servers\":[",
	    id, host, path, comp);
	for (int i = 0; i < CM_PAYLOAD_ALT_MAX; i++)
		pos += (size_t)snprintf(body + pos, 16384 - pos,
					"%s{\"host\":\"%s\",\"port\":65535}", i ? "," : "", host);
	pos += (size_t)snprintf(body + pos, 16384 - pos, "]}");
	rc = gw_request_parse(body, pos, &r, detail, sizeof(detail));
	CHECK(rc == 0, "maximal request refused: %s", detail);
	if (rc == 0) {
		size_t before = r.payload_len;

		CHECK(before + CM_PAYLOAD_VALID_UNTIL_LINE <= CM_PAYLOAD_MAX,
		      "maximal payload %zu octets leaves no room for valid-until", before);
		CHECK(gw_request_valid_until(&r, 1795687232999LL) == 0);
		CHECK(r.payload_len == before + CM_PAYLOAD_VALID_UNTIL_LINE &&
			  strcmp(r.payload + before, "valid-until=2026-11-26T10:00:32.999Z\r\n") ==
			      0,
		      "got '%s'", r.payload + before);
		CHECK(cm_payload_parse(r.payload, r.payload_len, &p, &why) == 0 && p.valid_until.p,
		      "%s", why ? why : "");
		printf("longest request: payload %zu octets with valid-until (limit %d)\n",
		       r.payload_len, CM_PAYLOAD_MAX);
		/* full: refused, payload untouched */
		r.payload_len = CM_PAYLOAD_MAX - CM_PAYLOAD_VALID_UNTIL_LINE + 1;
		CHECK(gw_request_valid_until(&r, 1795687232999LL) == -ENOSPC);
		CHECK(gw_request_valid_until(&r, -1) == -EINVAL);
		gw_request_free(&r);
	}
	/* ttl_s 0: valid-until is created + 32 s, the deadline the create script stores. */
	{
		static const char ttl0[] = "{\"device\":\"1\",\"request_id\":\"v\",\"ttl_s\":0}";

		rc = gw_request_parse(ttl0, sizeof(ttl0) - 1, &r, detail, sizeof(detail));
	}
	CHECK(rc == 0, "%s", detail);
	if (rc == 0) {
		CHECK(gw_request_deadline(&r, 1795687200500LL, &dl, detail, sizeof(detail)) == 0 &&
		      dl == 1795687232500LL);
		CHECK(gw_request_valid_until(&r, dl) == 0 &&
			  strstr(r.payload, "\r\nvalid-until=2026-11-26T10:00:32.500Z\r\n"),
		      "%s", r.payload);
		gw_request_free(&r);
	}
	free(body);
}

int main(void)
{
	int nv = examples_for_each(VALID_DIR, ".json", check_valid);
	int ni = examples_for_each(INVALID_DIR, ".json", check_invalid);

	CHECK(nv >= 10, "only %d valid examples in " VALID_DIR, nv);
	CHECK(ni >= 40, "only %d invalid examples in " INVALID_DIR, ni);
	printf("%d valid and %d invalid examples\n", nv, ni);
	check_full_output();
	check_lifecycle_fields();
	check_edge_cases();
	check_valid_until();
	return check_done();
}
