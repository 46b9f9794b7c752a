/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A beckon:req hash turned into the JSON a client reads back. The hash is written by our own
 * scripts and by sip-edge, but it is still parsed defensively: a field that does not parse
 * renders as null rather than failing the whole answer.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_record.h"

#define TARGET_PREFIX "target:"
#define OPTIN_PREFIX "optin:"
#define FALLBACK_PREFIX "fallback:"

/* Per-binding side fields (optin:<bid>, fallback:<bid>) found in the hash. */
struct side {
	struct cm_str bid, v;
};

/* If k is "<prefix><bid>", appends (bid, v) to s (at most GW_RECORD_TARGETS_MAX). */
static bool side_field(struct cm_str k, struct cm_str v, const char *prefix, struct side *s,
		       size_t *n)
{
	size_t pl = strlen(prefix);

	if (k.len <= pl || memcmp(k.p, prefix, pl) != 0)
		return false;
	if (*n < GW_RECORD_TARGETS_MAX)
		s[(*n)++] = (struct side){{k.p + pl, k.len - pl}, v};
	return true;
}

static struct cm_str side_find(const struct side *s, size_t n, const char *bid)
{
	for (size_t i = 0; i < n; i++)
		if (s[i].bid.len == strlen(bid) && memcmp(s[i].bid.p, bid, s[i].bid.len) == 0)
			return s[i].v;
	return CM_STR_NULL;
}

/* Parses a decimal integer view. Returns 0 or -EINVAL. */
static int parse_int(struct cm_str s, int64_t *out)
{
	int64_t v = 0;

	if (s.len == 0 || s.len > 18)
		return -EINVAL;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -EINVAL;
		v = v * 10 + (s.p[i] - '0');
	}
	*out = v;
	return 0;
}

int gw_record_time(int64_t ms, char *buf, size_t size)
{
	time_t secs;
	struct tm tm;
	int n;

	if (ms < 0)
		return -EINVAL;
	secs = (time_t)(ms / 1000);
	if (!gmtime_r(&secs, &tm))
		return -EINVAL;
	n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}

static json_t *str_or_null(struct cm_str s)
{
	json_t *j;

	if (!s.p)
		return json_null();
	j = json_stringn(s.p, s.len);
	return j ? j : json_null(); /* not UTF-8: show nothing rather than fail */
}

static json_t *time_or_null(struct cm_str s)
{
	char buf[40];
	int64_t ms;

	if (!s.p || parse_int(s, &ms) < 0 || gw_record_time(ms, buf, sizeof(buf)) < 0)
		return json_null();
	return json_string(buf);
}

static json_t *int_or_null(struct cm_str s)
{
	int64_t v;

	if (!s.p || parse_int(s, &v) < 0 || v == 0)
		return json_null();
	return json_integer(v);
}

/* "queued", "sent", "delivered:<code>", "failed:<code>:<reason>" */
static json_t *render_target(struct cm_str bid, struct cm_str v)
{
	struct cm_str status = v, code = CM_STR_NULL, reason = CM_STR_NULL;
	const char *c1 = memchr(v.p, ':', v.len);

	if (c1) {
		const char *end = v.p + v.len, *c2;

		status.len = (size_t)(c1 - v.p);
		code = (struct cm_str){c1 + 1, (size_t)(end - c1 - 1)};
		c2 = memchr(code.p, ':', code.len);
		if (c2) {
			code.len = (size_t)(c2 - code.p);
			reason = (struct cm_str){c2 + 1, (size_t)(end - c2 - 1)};
		}
	}
	return json_pack("{sosososo}", "binding", str_or_null(bid), "status", str_or_null(status),
			 "sip_status", int_or_null(code), "reason", str_or_null(reason));
}

static int cmp_target(const void *a, const void *b)
{
	const json_t *x = json_object_get(*(json_t *const *)a, "binding");
	const json_t *y = json_object_get(*(json_t *const *)b, "binding");
	const char *sx = json_string_value(x), *sy = json_string_value(y);

	return strcmp(sx ? sx : "", sy ? sy : "");
}

/* How one hash field is rendered; the table order is the order of the JSON object. */
enum kind { STR, TIME, INT, COUNT, BODY };

static const struct {
	const char *field, *name;
	enum kind kind;
} fields[] = {
    {"request_id", "request_id", STR},	   {"device", "device", STR},
    {"package", "package", STR},	   {"status", "status", STR},
    {"sip_status", "sip_status", INT},	   {"reason", "reason", STR},
    {"client", "requested_by", STR},	   {"on_behalf_of", "on_behalf_of", STR},
    {"collapse_key", "collapse_key", STR}, {"status_url", "status_url", STR},
    {"created", "created_at", TIME},	   {"sent", "sent_at", TIME},
    {"delivered", "delivered_at", TIME},   {"completed", "completed_at", TIME},
    {"failed", "failed_at", TIME},	   {"expired", "expired_at", TIME},
    {"cancelled", "cancelled_at", TIME},   {"deadline", "deadline", TIME},
    {"attempts", "attempts", COUNT},	   {"body", "request", BODY},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static json_t *count_of(struct cm_str s)
{
	int64_t v;

	if (!s.p || parse_int(s, &v) < 0)
		return json_integer(0);
	return json_integer(v);
}

json_t *gw_record_render(const struct cm_str *kv, size_t n)
{
	struct cm_str f[NFIELDS] = {{0}};
	json_t *targets[GW_RECORD_TARGETS_MAX];
	struct side optin[GW_RECORD_TARGETS_MAX], fallback[GW_RECORD_TARGETS_MAX];
	size_t nt = 0, no = 0, nf = 0;
	json_t *out, *arr;

	for (size_t i = 0; i < n; i++) {
		struct cm_str k = kv[2 * i], v = kv[2 * i + 1];

		if (k.len > strlen(TARGET_PREFIX) &&
		    memcmp(k.p, TARGET_PREFIX, strlen(TARGET_PREFIX)) == 0) {
			struct cm_str bid = {k.p + strlen(TARGET_PREFIX),
					     k.len - strlen(TARGET_PREFIX)};
			json_t *t;

			if (nt == GW_RECORD_TARGETS_MAX)
				continue;
			t = render_target(bid, v);
			if (!t)
				goto nomem;
			targets[nt++] = t;
			continue;
		}
		if (side_field(k, v, OPTIN_PREFIX, optin, &no) ||
		    side_field(k, v, FALLBACK_PREFIX, fallback, &nf))
			continue;
		for (size_t j = 0; j < NFIELDS; j++)
			if (k.len == strlen(fields[j].field) &&
			    memcmp(k.p, fields[j].field, k.len) == 0)
				f[j] = v;
	}
	for (size_t i = 0; i < nt; i++) {
		/* How the endpoint opted in (none: reached by the fallback, proto/rest.md). */
		const char *bid = json_string_value(json_object_get(targets[i], "binding"));
		struct cm_str o = side_find(optin, no, bid ? bid : ""),
			      fb = side_find(fallback, nf, bid ? bid : "");

		if (json_object_set_new(targets[i], "opt_in", str_or_null(o)) < 0 ||
		    json_object_set_new(targets[i], "fallback", str_or_null(fb)) < 0)
			goto nomem;
	}
	qsort(targets, nt, sizeof(targets[0]), cmp_target);
	out = json_object();
	if (!out)
		goto nomem;
	for (size_t j = 0; j < NFIELDS; j++) {
		json_t *v = NULL;

		switch (fields[j].kind) {
		case STR:
			/* An empty optional field (on_behalf_of ...) reads as absent. */
			v = f[j].len ? str_or_null(f[j]) : json_null();
			break;
		case TIME:
			v = time_or_null(f[j]);
			break;
		case INT:
			v = int_or_null(f[j]);
			break;
		case COUNT:
			v = count_of(f[j]);
			break;
		case BODY:
			v = f[j].p ? json_loadb(f[j].p, f[j].len, 0, NULL) : NULL;
			if (!v)
				v = json_null();
			break;
		}
		if (json_object_set_new(out, fields[j].name, v) < 0) {
			json_decref(out);
			goto nomem;
		}
	}
	arr = json_array();
	if (!arr || json_object_set_new(out, "targets", arr) < 0) {
		json_decref(out);
		goto nomem;
	}
	for (size_t i = 0; i < nt; i++) {
		/* append_new releases the target even when it fails. */
		if (json_array_append_new(arr, targets[i]) < 0) {
			for (size_t j = i + 1; j < nt; j++)
				json_decref(targets[j]);
			json_decref(out);
			return NULL;
		}
	}
	return out;
nomem:
	for (size_t i = 0; i < nt; i++)
		json_decref(targets[i]);
	return NULL;
}
