/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Validation and normalisation of callback requests (proto/rest.md), whichever front end they
 * came through. Fields are checked in a fixed order so the same bad request always gets the
 * same detail; every detail names the field. The normalised body is rebuilt from the
 * validated fields only, in that same order, so what Redis stores never depends on the
 * client's key order, spacing or protocol.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "cm/err.h"
#include "cm/hostport.h"
#include "gw_request.h"

/* hostport of the longest host name or IPv6 address plus brackets and port. */
#define HOSTPORT_MAX (CM_HOST_MAX + 8)
/* Longest field name echoed in a detail: client-chosen keys must not fill the message. */
#define KEY_ECHO_MAX 64

static const char *const known_fields[] = {
    "device",	    "request_id",  "server",	   "protocol", "path",
    "component",    "alt_servers", "time_slot",	   "package",  "ttl_s",
    "collapse_key", "status_url",  "on_behalf_of",
};

struct ctx {
	const char *packages;
	char *detail;
	size_t size;
	json_t *norm; /* the normalised body being built */
	char server[HOSTPORT_MAX + 1];
	char alt[CM_PAYLOAD_ALT_MAX][HOSTPORT_MAX + 1];
	struct cm_payload pl;
};

static int bad(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->detail, c->size, fmt, ap);
	va_end(ap);
	return CM_E_BAD_REQUEST;
}

/* Copies at most KEY_ECHO_MAX bytes of a (valid UTF-8) key, cut on a character boundary so
 * the detail stays valid UTF-8 for the JSON problem body. */
static const char *echo_key(const char *key, char buf[KEY_ECHO_MAX + 4])
{
	size_t len = strlen(key);

	if (len <= KEY_ECHO_MAX)
		return key;
	len = KEY_ECHO_MAX;
	while (len > 0 && ((unsigned char)key[len] & 0xC0) == 0x80)
		len--;
	memcpy(buf, key, len);
	memcpy(buf + len, "...", 4);
	return buf;
}

/* Counts bracket nesting outside strings. Malformed input is left to jansson. */
static bool too_deep(const char *s, size_t len)
{
	bool in_str = false;
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == '{' || ch == '[') {
			if (++depth > GW_JSON_DEPTH_MAX)
				return true;
		} else if (ch == '}' || ch == ']') {
			depth--;
		}
	}
	return false;
}

/* The string value of field name, or NULL with the detail set. */
static const char *need_string(struct ctx *c, json_t *v, const char *name, size_t *len, int *rc)
{
	if (!json_is_string(v)) {
		*rc = bad(c, "field '%s' must be a string", name);
		return NULL;
	}
	*len = json_string_length(v);
	return json_string_value(v);
}

/* A payload-grammar string field: checked with cm_payload_check, copied into the
 * normalised body, and viewed from the payload (the view borrows the parsed JSON). */
static int payload_field(struct ctx *c, json_t *root, const char *name, enum cm_payload_label label,
			 struct cm_str *dst)
{
	json_t *v = json_object_get(root, name);
	const char *s, *why;
	size_t len;
	int rc = 0;

	if (!v)
		return 0;
	s = need_string(c, v, name, &len, &rc);
	if (!s)
		return rc;
	if (cm_payload_check(label, s, len, &why) < 0)
		return bad(c, "field '%s' %s", name, why);
	*dst = (struct cm_str){s, len};
	return json_object_set(c->norm, name, v) < 0 ? -ENOMEM : 0;
}

/* A server object {"host", "port"}: formats it as hostport into out and returns a new
 * normalised object in *norm. name is how the detail calls it ("alt_servers[2]"). */
static int server_object(struct ctx *c, json_t *v, const char *name, char *out, size_t size,
			 json_t **norm)
{
	char kbuf[KEY_ECHO_MAX + 4];
	const char *key, *host, *why;
	json_t *hv, *pv, *val;
	json_int_t port;
	size_t hostlen;
	int rc = 0;

	if (!json_is_object(v))
		return bad(c, "field '%s' must be an object with 'host' and 'port'", name);
	json_object_foreach(v, key, val)
	{
		if (strcmp(key, "host") != 0 && strcmp(key, "port") != 0)
			return bad(c, "unknown field '%s.%s'", name, echo_key(key, kbuf));
	}
	hv = json_object_get(v, "host");
	pv = json_object_get(v, "port");
	if (!hv)
		return bad(c, "field '%s.host' is required", name);
	if (!json_is_string(hv))
		return bad(c, "field '%s.host' must be a string", name);
	host = json_string_value(hv);
	hostlen = json_string_length(hv);
	if (cm_host_check(host, hostlen) < 0)
		return bad(c,
			   "field '%s.host' must be a host name, an IPv4 address or an IPv6 "
			   "address without brackets",
			   name);
	if (!pv)
		return bad(c, "field '%s.port' is required", name);
	if (!json_is_integer(pv) || (port = json_integer_value(pv)) < 1 || port > 65535)
		return bad(c, "field '%s.port' must be an integer in 1..65535", name);
	rc = cm_hostport_format(out, size, host, hostlen, (int)port);
	if (rc < 0)
		return bad(c, "field '%s.host' is too long", name);
	/* Same grammar as the payload codec applies to server= and alt-server= lines. */
	if (cm_payload_check(CM_PL_SERVER, out, (size_t)rc, &why) < 0)
		return bad(c, "field '%s' %s", name, why);
	*norm = json_pack("{sOsI}", "host", hv, "port", port);
	return *norm ? 0 : -ENOMEM;
}

static int check_device(struct ctx *c, json_t *root, struct gw_request *out)
{
	json_t *v = json_object_get(root, "device");
	const char *s, *why = "is invalid";
	size_t len;
	int rc = 0;

	if (!v)
		return bad(c, "field 'device' is required");
	s = need_string(c, v, "device", &len, &rc);
	if (!s)
		return rc;
	if (cm_device_parse(s, len, &out->device, &why) < 0)
		return bad(c, "field 'device' %s", why);
	memcpy(out->device_id, s, len); /* len <= CM_DEVICE_MAX, checked by cm_device_parse */
	out->device_id[len] = '\0';
	return json_object_set(c->norm, "device", v) < 0 ? -ENOMEM : 0;
}

static int check_request_id(struct ctx *c, json_t *root, struct gw_request *out)
{
	int rc = payload_field(c, root, "request_id", CM_PL_REQUEST_ID, &c->pl.request_id);

	if (rc < 0)
		return rc;
	if (!c->pl.request_id.p) {
		rc = gw_request_uuid(out->request_id);
		if (rc < 0)
			return rc;
		out->generated_id = true;
		if (json_object_set_new(c->norm, "request_id", json_string(out->request_id)) < 0)
			return -ENOMEM;
	} else {
		memcpy(out->request_id, c->pl.request_id.p, c->pl.request_id.len);
		out->request_id[c->pl.request_id.len] = '\0';
	}
	c->pl.request_id = cm_str_c(out->request_id);
	return 0;
}

static int check_server(struct ctx *c, json_t *root)
{
	json_t *v = json_object_get(root, "server"), *norm = NULL;
	int rc;

	if (!v)
		return 0;
	rc = server_object(c, v, "server", c->server, sizeof(c->server), &norm);
	if (rc < 0)
		return rc;
	c->pl.server = cm_str_c(c->server);
	return json_object_set_new(c->norm, "server", norm) < 0 ? -ENOMEM : 0;
}

static int check_alt_servers(struct ctx *c, json_t *root, struct gw_request *out)
{
	json_t *v = json_object_get(root, "alt_servers"), *arr, *item;
	size_t i;

	if (!v)
		return 0;
	if (!json_is_array(v) || json_array_size(v) > CM_PAYLOAD_ALT_MAX)
		return bad(c, "field 'alt_servers' must be an array of at most %d servers",
			   CM_PAYLOAD_ALT_MAX);
	arr = json_array();
	if (!arr || json_object_set_new(c->norm, "alt_servers", arr) < 0)
		return -ENOMEM;
	json_array_foreach(v, i, item)
	{
		char name[48];
		json_t *norm = NULL;
		int rc;

		snprintf(name, sizeof(name), "alt_servers[%zu]", i);
		rc = server_object(c, item, name, c->alt[i], sizeof(c->alt[i]), &norm);
		if (rc < 0)
			return rc;
		if (json_array_append_new(arr, norm) < 0)
			return -ENOMEM;
		c->pl.alt_server[i] = cm_str_c(c->alt[i]);
	}
	c->pl.n_alt_server = i;
	out->n_alt_servers = i;
	return 0;
}

/* Is s[0..len) one of the comma-separated names in list? */
static bool in_list(const char *list, const char *s, size_t len)
{
	while (*list) {
		const char *end = strchr(list, ',');
		size_t n = end ? (size_t)(end - list) : strlen(list);

		if (n == len && memcmp(list, s, len) == 0)
			return true;
		if (!end)
			break;
		list = end + 1;
	}
	return false;
}

static int check_package(struct ctx *c, json_t *root, struct gw_request *out)
{
	json_t *v = json_object_get(root, "package");
	const char *s, *list = c->packages;
	size_t len;
	int rc = 0;

	if (v) {
		s = need_string(c, v, "package", &len, &rc);
		if (!s)
			return rc;
		if (len > GW_PACKAGE_MAX || !in_list(list, s, len)) {
			if (strchr(list, ','))
				return bad(c, "field 'package' must be one of '%s'", list);
			return bad(c, "field 'package' must be '%s'", list);
		}
	} else {
		const char *end = strchr(list, ',');

		s = list;
		len = end ? (size_t)(end - list) : strlen(list);
		if (len > GW_PACKAGE_MAX)
			return bad(c, "the default package name is too long");
	}
	memcpy(out->package, s, len);
	out->package[len] = '\0';
	return json_object_set_new(c->norm, "package", json_string(out->package)) < 0 ? -ENOMEM : 0;
}

static int check_ttl(struct ctx *c, json_t *root, struct gw_request *out)
{
	json_t *v = json_object_get(root, "ttl_s");
	json_int_t ttl = GW_TTL_DEFAULT;

	if (v) {
		if (!json_is_integer(v) || (ttl = json_integer_value(v)) < 0 || ttl > GW_TTL_MAX)
			return bad(c, "field 'ttl_s' must be an integer in 0..%d", GW_TTL_MAX);
	}
	out->ttl_s = (long)ttl;
	return json_object_set_new(c->norm, "ttl_s", json_integer(ttl)) < 0 ? -ENOMEM : 0;
}

bool gw_request_token(const char *s, size_t len, size_t max, const char *extra)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || (ch != '\0' && strchr(extra, ch))))
			return false;
	}
	return true;
}

/* An optional token field copied into out (size max + 1); "" when absent. */
static int token_field(struct ctx *c, json_t *root, const char *name, size_t max, const char *extra,
		       const char *rule, char *out)
{
	json_t *v = json_object_get(root, name);
	const char *s;
	size_t len;
	int rc = 0;

	if (!v)
		return 0;
	s = need_string(c, v, name, &len, &rc);
	if (!s)
		return rc;
	if (!gw_request_token(s, len, max, extra))
		return bad(c, "field '%s' must be %s", name, rule);
	memcpy(out, s, len);
	out[len] = '\0';
	return json_object_set(c->norm, name, v) < 0 ? -ENOMEM : 0;
}

/* status_url: an absolute http or https URL, checked with libcurl's own URL parser (the one
 * that will POST the receipts), printable ASCII only. */
static int check_status_url(struct ctx *c, json_t *root, struct gw_request *out)
{
	json_t *v = json_object_get(root, "status_url");
	const char *s, *rule = "must be an absolute http or https URL";
	char *scheme = NULL, *host = NULL;
	CURLU *u;
	size_t len;
	int rc = 0;

	if (!v)
		return 0;
	s = need_string(c, v, "status_url", &len, &rc);
	if (!s)
		return rc;
	if (len == 0 || len > GW_STATUS_URL_MAX)
		return bad(c, "field 'status_url' must be 1 to %d octets", GW_STATUS_URL_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7F)
			return bad(c, "field 'status_url' %s (printable ASCII, no spaces)", rule);
	u = curl_url();
	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, s, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0] ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		rc = bad(c, "field 'status_url' %s", rule);
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	if (rc < 0)
		return rc;
	out->status_url = strdup(s);
	if (!out->status_url || json_object_set(c->norm, "status_url", v) < 0)
		return -ENOMEM;
	return 0;
}

/* The end of a time_slot that cm_payload_check accepted. */
static int64_t slot_end_ms(const char *slot, size_t len)
{
	int64_t start, end;

	return cm_payload_time_slot(slot, len, &start, &end) < 0 ? 0 : end;
}

static int validate(struct ctx *c, json_t *root, struct gw_request *out)
{
	char kbuf[KEY_ECHO_MAX + 4];
	const char *key;
	json_t *val;
	int rc;

	if (!json_is_object(root))
		return bad(c, "the body must be a JSON object");
	/* valid-until is beckon's statement of the deadline to the endpoint; an app server that
	 * could set it could make an endpoint call back after the API says expired. */
	if (json_object_get(root, "valid_until") || json_object_get(root, "valid-until"))
		return bad(c,
			   "field '%s' is set by beckon from the request's deadline (ttl_s, "
			   "time_slot) and must not be sent",
			   json_object_get(root, "valid_until") ? "valid_until" : "valid-until");
	json_object_foreach(root, key, val)
	{
		size_t i;

		for (i = 0; i < sizeof(known_fields) / sizeof(known_fields[0]); i++)
			if (strcmp(key, known_fields[i]) == 0)
				break;
		if (i == sizeof(known_fields) / sizeof(known_fields[0]))
			return bad(c, "unknown field '%s'", echo_key(key, kbuf));
	}
	/* The order here is the order of the normalised body and of the checks. */
	if ((rc = check_device(c, root, out)) < 0 || (rc = check_request_id(c, root, out)) < 0 ||
	    (rc = check_server(c, root)) < 0 ||
	    (rc = payload_field(c, root, "protocol", CM_PL_PROTOCOL, &c->pl.protocol)) < 0 ||
	    (rc = payload_field(c, root, "path", CM_PL_PATH, &c->pl.path)) < 0 ||
	    (rc = payload_field(c, root, "component", CM_PL_COMPONENT, &c->pl.component)) < 0 ||
	    (rc = check_alt_servers(c, root, out)) < 0 ||
	    (rc = payload_field(c, root, "time_slot", CM_PL_TIME_SLOT, &c->pl.time_slot)) < 0 ||
	    (rc = check_package(c, root, out)) < 0 || (rc = check_ttl(c, root, out)) < 0 ||
	    (rc = token_field(c, root, "collapse_key", GW_COLLAPSE_KEY_MAX, "._-",
			      "1 to 64 of A-Z a-z 0-9 . _ -", out->collapse_key)) < 0 ||
	    (rc = check_status_url(c, root, out)) < 0 ||
	    (rc = token_field(c, root, "on_behalf_of", GW_ON_BEHALF_OF_MAX, "._:-",
			      "1 to 128 of A-Z a-z 0-9 . _ : -", out->on_behalf_of)) < 0)
		return rc;
	if (c->pl.time_slot.p)
		out->slot_end_ms = slot_end_ms(c->pl.time_slot.p, c->pl.time_slot.len);
	return 0;
}

int gw_request_from_json(json_t *root, const char *packages, struct gw_request *out, char *detail,
			 size_t size)
{
	struct ctx *c;
	const char *why = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	memcpy(out->client, GW_CLIENT_DEFAULT, sizeof(GW_CLIENT_DEFAULT));
	if (size)
		detail[0] = '\0';
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->packages = packages && packages[0] ? packages : GW_PACKAGE;
	c->detail = detail;
	c->size = size;
	c->norm = json_object();
	if (!c->norm) {
		rc = -ENOMEM;
		goto out;
	}
	rc = validate(c, root, out);
	if (rc < 0)
		goto out;
	/* Room is kept for the valid-until line gw_request_valid_until adds at create time. (The
	 * field limits make the longest request's payload about 3.8 kB, so this does not refuse
	 * any valid request today; it keeps that true if a limit grows.) */
	rc = cm_payload_format(&c->pl, out->payload,
			       sizeof(out->payload) - CM_PAYLOAD_VALID_UNTIL_LINE, &why);
	if (rc == -ENOSPC || (rc == -EINVAL && why && strstr(why, "4096"))) {
		rc = bad(c,
			 "the request makes a contact-me payload longer than %d octets (%d with "
			 "the valid-until line beckon adds)",
			 (int)(CM_PAYLOAD_MAX - CM_PAYLOAD_VALID_UNTIL_LINE), CM_PAYLOAD_MAX);
		goto out;
	}
	if (rc < 0) {
		rc = bad(c, "the request does not make a valid contact-me payload: %s",
			 why ? why : "unknown reason");
		goto out;
	}
	out->payload_len = (size_t)rc;
	out->body = json_dumps(c->norm, JSON_COMPACT);
	if (!out->body) {
		rc = -ENOMEM;
		goto out;
	}
	out->body_len = strlen(out->body);
	rc = 0;
out:
	if (rc < 0)
		gw_request_free(out);
	json_decref(c->norm);
	free(c);
	return rc;
}

int gw_request_parse_with(const char *body, size_t len, const char *packages,
			  struct gw_request *out, char *detail, size_t size)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	if (size)
		detail[0] = '\0';
	if (too_deep(body, len)) {
		snprintf(detail, size, "malformed JSON: nested deeper than %d levels",
			 GW_JSON_DEPTH_MAX);
		return CM_E_BAD_REQUEST;
	}
	/* Duplicate keys are refused: which of the two a client meant is a guess. Any JSON
	 * value is decoded so that a non-object gets its own detail. */
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root) {
		snprintf(detail, size, "malformed JSON: %s (line %d, column %d)", jerr.text,
			 jerr.line, jerr.column);
		return CM_E_BAD_REQUEST;
	}
	rc = gw_request_from_json(root, packages, out, detail, size);
	json_decref(root);
	return rc;
}

int gw_request_parse(const char *body, size_t len, struct gw_request *out, char *detail,
		     size_t size)
{
	return gw_request_parse_with(body, len, NULL, out, detail, size);
}

int gw_request_client(const char *hdr, char out[GW_CLIENT_MAX + 1], char *detail, size_t size)
{
	size_t len;

	if (!hdr) {
		memcpy(out, GW_CLIENT_DEFAULT, sizeof(GW_CLIENT_DEFAULT));
		return 0;
	}
	len = strlen(hdr);
	if (!gw_request_token(hdr, len, GW_CLIENT_MAX, "._-")) {
		snprintf(detail, size,
			 "header 'X-Beckon-Client' must be 1 to 64 of A-Z a-z 0-9 . _ -");
		return CM_E_BAD_REQUEST;
	}
	memcpy(out, hdr, len + 1);
	return 0;
}

int gw_request_deadline(const struct gw_request *r, int64_t now_ms, int64_t *deadline, char *detail,
			size_t size)
{
	int64_t d = now_ms + (r->ttl_s > 0 ? r->ttl_s * 1000 : GW_TTL_ZERO_GRACE_MS);

	if (r->slot_end_ms) {
		if (r->slot_end_ms <= now_ms) {
			snprintf(detail, size, "time_slot has already ended");
			return CM_E_BAD_REQUEST;
		}
		if (r->slot_end_ms < d)
			d = r->slot_end_ms;
	}
	*deadline = d;
	return 0;
}

int gw_request_valid_until(struct gw_request *r, int64_t deadline_ms)
{
	char line[CM_PAYLOAD_VALID_UNTIL_LINE + 1];
	time_t secs = (time_t)(deadline_ms / 1000);
	struct tm tm;
	size_t n;

	if (deadline_ms < 0 || !gmtime_r(&secs, &tm))
		return -EINVAL;
	n = strftime(line, sizeof(line), "valid-until=%Y-%m-%dT%H:%M:%S", &tm);
	/* Milliseconds: the endpoint's cut-off is then the stored deadline exactly, not a
	 * second early (a 200 then, with no callback, would read as delivered). */
	if (n != CM_PAYLOAD_VALID_UNTIL_LINE - 7 ||
	    cm_snprintf(line + n, sizeof(line) - n, ".%03dZ\r\n", (int)(deadline_ms % 1000)) < 0 ||
	    cm_payload_check(CM_PL_VALID_UNTIL, line + 12, CM_PAYLOAD_VALID_UNTIL_LINE - 14, NULL) <
		0)
		return -EINVAL; /* a year past 9999 */
	n = CM_PAYLOAD_VALID_UNTIL_LINE;
	if (r->payload_len + n > CM_PAYLOAD_MAX)
		return -ENOSPC;
	memcpy(r->payload + r->payload_len, line, n + 1);
	r->payload_len += n;
	return 0;
}

void gw_request_free(struct gw_request *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
	free(r->status_url);
	r->status_url = NULL;
}

int gw_request_uuid(char out[GW_UUID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t pos = 0;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	b[6] = (unsigned char)((b[6] & 0x0F) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
	for (size_t i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[pos++] = '-';
		out[pos++] = hex[b[i] >> 4];
		out[pos++] = hex[b[i] & 0x0F];
	}
	out[pos] = '\0';
	return 0;
}
