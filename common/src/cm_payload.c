/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Codec of the contact-me payload (proto/contact-me.md). The grammar of each value lives in
 * cm_payload_check(), which the parser, the encoder and api-gateway's validation all call.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cm/hostport.h"
#include "cm/payload.h"

static const char *const label_names[] = {
#define NAME_(name, text) text,
    CM_PAYLOAD_LABELS(NAME_)
#undef NAME_
};

const char *cm_payload_label_name(enum cm_payload_label label)
{
	return label < CM_PL_COUNT_ ? label_names[label] : "?";
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool all_of(const char *v, size_t len, const char *extra)
{
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(v[i]) && (v[i] == '\0' || !strchr(extra, v[i])))
			return false;
	return true;
}

/* RFC 3986 path-absolute with an optional query: pchar / "/" / "?" with pct-encoding. */
static bool is_path(const char *v, size_t len)
{
	static const char ok[] = "-._~!$&'()*+,;=:@/?";

	if (len == 0 || v[0] != '/')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (v[i] == '%') {
			if (i + 2 >= len || !is_hex(v[i + 1]) || !is_hex(v[i + 2]))
				return false;
			i += 2;
		} else if (!is_alnum(v[i]) && (v[i] == '\0' || !strchr(ok, v[i]))) {
			return false;
		}
	}
	return true;
}

static int digits(const char *s, size_t n, int lo, int hi)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v >= lo && v <= hi ? v : -1;
}

/* RFC 3339 date-time; stores milliseconds since the epoch (UTC). Returns 0 or -EINVAL. */
static int parse_date_time(const char *s, size_t len, int64_t *out)
{
	struct tm tm = {0};
	size_t i = 19;
	int64_t off = 0, ms = 0;
	int y, mo, d, h, mi, se;

	if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return -EINVAL;
	y = digits(s, 4, 0, 9999);
	mo = digits(s + 5, 2, 1, 12);
	d = digits(s + 8, 2, 1, 31);
	h = digits(s + 11, 2, 0, 23);
	mi = digits(s + 14, 2, 0, 59);
	se = digits(s + 17, 2, 0, 60);
	if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || se < 0)
		return -EINVAL;
	if (s[i] == '.') {
		size_t start = ++i;
		int64_t scale = 100;

		while (i < len && s[i] >= '0' && s[i] <= '9') {
			ms += (s[i] - '0') * scale;
			scale /= 10;
			i++;
		}
		if (i == start || i - start > 9)
			return -EINVAL;
	}
	if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
		off = 0;
	} else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
		int oh = digits(s + i + 1, 2, 0, 23), om = digits(s + i + 4, 2, 0, 59);

		if (oh < 0 || om < 0)
			return -EINVAL;
		off = (s[i] == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
	} else {
		return -EINVAL;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*out = ((int64_t)timegm(&tm) - off) * 1000 + ms;
	return 0;
}

int cm_payload_time_slot(const char *v, size_t len, int64_t *start_ms, int64_t *end_ms)
{
	const char *slash = v ? memchr(v, '/', len) : NULL;

	if (!slash || parse_date_time(v, (size_t)(slash - v), start_ms) < 0 ||
	    parse_date_time(slash + 1, len - (size_t)(slash - v) - 1, end_ms) < 0)
		return -EINVAL;
	return 0;
}

int cm_payload_date_time(const char *v, size_t len, int64_t *ms)
{
	return v ? parse_date_time(v, len, ms) : -EINVAL;
}

int cm_payload_check(enum cm_payload_label label, const char *v, size_t len, const char **why)
{
	const char *reason = NULL;
	struct cm_hostport hp;

	if (len > CM_PAYLOAD_VALUE_MAX) {
		reason = "is longer than 1024 octets";
		goto out;
	}
	switch (label) {
	case CM_PL_REQUEST_ID:
		if (len == 0 || len > 128 || !all_of(v, len, "-_.:@+~"))
			reason = "must be 1 to 128 of A-Z a-z 0-9 - _ . : @ + ~";
		break;
	case CM_PL_SERVER:
	case CM_PL_ALT_SERVER:
		if (cm_hostport_parse(v, len, &hp) < 0)
			reason = "must be host[:port] (host name, IPv4, or [IPv6]; port 0..65535)";
		else if (hp.port == 0)
			reason = "must not have port 0";
		break;
	case CM_PL_PROTOCOL:
		if (!((len == 4 && memcmp(v, "http", 4) == 0) ||
		      (len == 5 && memcmp(v, "https", 5) == 0)))
			reason = "must be http or https";
		break;
	case CM_PL_PATH:
		if (!is_path(v, len))
			reason = "must be an absolute path starting with / (RFC 3986 characters, "
				 "%-encoded otherwise)";
		break;
	case CM_PL_COMPONENT:
		if (len == 0 || len > 64 || !all_of(v, len, "-_."))
			reason = "must be 1 to 64 of A-Z a-z 0-9 - _ .";
		break;
	case CM_PL_TIME_SLOT: {
		int64_t from, to;

		if (cm_payload_time_slot(v, len, &from, &to) < 0)
			reason = "must be <RFC 3339 date-time>/<RFC 3339 date-time>";
		else if (to < from)
			reason = "must not end before it starts";
		break;
	}
	case CM_PL_VALID_UNTIL: {
		int64_t t;

		if (parse_date_time(v, len, &t) < 0)
			reason = "must be an RFC 3339 date-time";
		break;
	}
	default:
		reason = "is not a known label";
	}
out:
	if (why)
		*why = reason;
	return reason ? -EINVAL : 0;
}

static int label_of(const char *s, size_t len)
{
	for (int i = 0; i < CM_PL_COUNT_; i++)
		if (strlen(label_names[i]) == len && memcmp(label_names[i], s, len) == 0)
			return i;
	return -1;
}

static struct cm_str *field(struct cm_payload *p, enum cm_payload_label l)
{
	switch (l) {
	case CM_PL_REQUEST_ID:
		return &p->request_id;
	case CM_PL_SERVER:
		return &p->server;
	case CM_PL_PROTOCOL:
		return &p->protocol;
	case CM_PL_PATH:
		return &p->path;
	case CM_PL_COMPONENT:
		return &p->component;
	case CM_PL_TIME_SLOT:
		return &p->time_slot;
	case CM_PL_VALID_UNTIL:
		return &p->valid_until;
	default:
		return NULL;
	}
}

int cm_payload_parse(const char *body, size_t len, struct cm_payload *out, const char **why)
{
	const char *reason = NULL;
	size_t pos = 0, lines = 0;

	memset(out, 0, sizeof(*out));
	if (len == 0) {
		reason = "empty body";
		goto fail;
	}
	if (len > CM_PAYLOAD_MAX) {
		reason = "body longer than 4096 octets";
		goto fail;
	}
	while (pos < len) {
		const char *line = body + pos, *eq, *val, *cr = NULL;
		size_t l = 0, vlen;
		int label;

		/* A line ends at the first CR, which must be followed by LF. */
		while (pos + l < len && body[pos + l] != '\r' && body[pos + l] != '\n')
			l++;
		if (pos + l + 1 >= len || body[pos + l] != '\r' || body[pos + l + 1] != '\n') {
			reason = "every line must end with CRLF";
			goto fail;
		}
		cr = body + pos + l;
		pos += l + 2;
		if (++lines > CM_PAYLOAD_LINES_MAX) {
			reason = "more than 64 lines";
			goto fail;
		}
		eq = memchr(line, '=', l);
		if (!eq || eq == line) {
			reason = "line without label=value";
			goto fail;
		}
		for (const char *c = line; c < eq; c++) {
			if (!(is_alnum(*c) || *c == '-')) {
				reason = "label with a character other than A-Z a-z 0-9 -";
				goto fail;
			}
		}
		val = eq + 1;
		vlen = (size_t)(cr - val);
		for (size_t i = 0; i < vlen; i++) {
			unsigned char c = (unsigned char)val[i];

			if (c < 0x20 || c == 0x7f) {
				reason = "control character in a value";
				goto fail;
			}
		}
		label = label_of(line, (size_t)(eq - line));
		if (label < 0)
			continue; /* unknown labels are ignored, so the format can grow */
		if (cm_payload_check((enum cm_payload_label)label, val, vlen, &reason) < 0)
			goto fail;
		if (label == CM_PL_ALT_SERVER) {
			if (out->n_alt_server == CM_PAYLOAD_ALT_MAX) {
				reason = "more than 8 alt-server lines";
				goto fail;
			}
			out->alt_server[out->n_alt_server++] = (struct cm_str){val, vlen};
		} else {
			struct cm_str *f = field(out, (enum cm_payload_label)label);

			if (f->p) {
				reason = "a label other than alt-server appears twice";
				goto fail;
			}
			f->p = val;
			f->len = vlen;
		}
	}
	if (!out->request_id.p) {
		reason = "request-id is missing";
		goto fail;
	}
	if (why)
		*why = NULL;
	return 0;
fail:
	if (why)
		*why = reason;
	return -EINVAL;
}

static int put_line(char *buf, size_t size, size_t *pos, enum cm_payload_label l, struct cm_str v,
		    const char **why)
{
	const char *name = label_names[l];
	size_t nlen = strlen(name);

	if (cm_payload_check(l, v.p, v.len, why) < 0)
		return -EINVAL;
	if (*pos + nlen + 1 + v.len + 2 >= size)
		return -ENOSPC;
	memcpy(buf + *pos, name, nlen);
	buf[*pos + nlen] = '=';
	memcpy(buf + *pos + nlen + 1, v.p, v.len);
	memcpy(buf + *pos + nlen + 1 + v.len, "\r\n", 2);
	*pos += nlen + 1 + v.len + 2;
	return 0;
}

int cm_payload_format(const struct cm_payload *p, char *buf, size_t size, const char **why)
{
	struct cm_payload copy = *p;
	size_t pos = 0;
	int rc;

	if (why)
		*why = NULL;
	if (!p->request_id.p) {
		if (why)
			*why = "request-id is missing";
		return -EINVAL;
	}
	if (p->n_alt_server > CM_PAYLOAD_ALT_MAX) {
		if (why)
			*why = "more than 8 alt-server lines";
		return -EINVAL;
	}
	for (int l = 0; l < CM_PL_COUNT_; l++) {
		if (l == CM_PL_ALT_SERVER) {
			for (size_t i = 0; i < p->n_alt_server; i++) {
				rc = put_line(buf, size, &pos, CM_PL_ALT_SERVER, p->alt_server[i],
					      why);
				if (rc < 0)
					return rc;
			}
			continue;
		}
		struct cm_str *f = field(&copy, (enum cm_payload_label)l);

		if (!f->p)
			continue;
		rc = put_line(buf, size, &pos, (enum cm_payload_label)l, *f, why);
		if (rc < 0)
			return rc;
	}
	if (pos > CM_PAYLOAD_MAX) {
		if (why)
			*why = "body longer than 4096 octets";
		return -EINVAL;
	}
	buf[pos] = '\0';
	return (int)pos;
}

int cm_payload_next(const char *body, size_t len, size_t *pos, struct cm_payload *out,
		    const char **why)
{
	size_t start = *pos, end;

	if (len > CM_PAYLOAD_LIST_MAX) {
		if (why)
			*why = "body longer than 65536 octets";
		return -EINVAL;
	}
	if (start >= len)
		return 0;
	/* A record ends at the first empty line, i.e. CRLF right after a CRLF. */
	end = start;
	while (end + 1 < len &&
	       !(body[end] == '\r' && body[end + 1] == '\n' &&
		 (end == start || (end >= 2 && body[end - 2] == '\r' && body[end - 1] == '\n'))))
		end++;
	if (end + 1 < len) {
		/* body[end..end+1] is the separator */
		*pos = end + 2;
		if (end == start) {
			if (why)
				*why = "empty record";
			return -EINVAL;
		}
		if (*pos == len) {
			if (why)
				*why = "separator after the last record";
			return -EINVAL;
		}
	} else {
		end = len;
		*pos = len;
	}
	return cm_payload_parse(body + start, end - start, out, why) < 0 ? -EINVAL : 1;
}
