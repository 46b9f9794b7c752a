/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device id classification and normalisation (proto/contact-me.md "Device ids"). sip-edge
 * runs the same functions on what it registers and api-gateway on what it is asked for, so
 * the Redis index keys of both sides always agree.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cm/device.h"
#include "cm/hostport.h"

static const char *const kind_names[] = {"num", "aor", "inst", "mac"};

const char *cm_device_kind_name(enum cm_device_kind kind)
{
	return kind <= CM_DEV_MAC ? kind_names[kind] : "?";
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int cm_aor_normalize(const char *s, size_t len, char *out, size_t size)
{
	size_t scheme, pos = 0, hostlen;
	const char *rest, *at, *end;
	struct cm_hostport hp;

	if (len >= 4 && strncasecmp(s, "sip:", 4) == 0)
		scheme = 4;
	else if (len >= 5 && strncasecmp(s, "sips:", 5) == 0)
		scheme = 5;
	else
		return -EINVAL;
	rest = s + scheme;
	end = s + len;
	at = memchr(rest, '@', (size_t)(end - rest));
	/* URI parameters and headers follow the hostport. */
	{
		const char *h = at ? at + 1 : rest, *p = h;

		while (p < end && *p != ';' && *p != '?')
			p++;
		hostlen = (size_t)(p - h);
		if (cm_hostport_parse(h, hostlen, &hp) < 0)
			return -EINVAL;
		if (size < scheme + (size_t)(h - rest) + hostlen + 1)
			return -ENOSPC;
		for (size_t i = 0; i < scheme; i++)
			out[pos++] = lower(s[i]);
		if (at) {
			if (at == rest)
				return -EINVAL;
			for (const char *c = rest; c < at; c++) {
				if ((unsigned char)*c <= 0x20 || *c == 0x7f)
					return -EINVAL;
				out[pos++] = *c;
			}
			out[pos++] = '@';
		}
		for (size_t i = 0; i < hostlen; i++)
			out[pos++] = lower(h[i]);
	}
	out[pos] = '\0';
	return 0;
}

/* Reads a MAC in one of the accepted forms into 12 lower-case hex digits. */
static bool parse_mac(const char *s, size_t len, char out[13])
{
	size_t n = 0;
	bool letter = false;

	if (len == 12 + 12 && strncasecmp(s, "urn:dev:mac:", 12) == 0) {
		s += 12;
		len -= 12;
		letter = true; /* explicit form: all-digit MACs are fine */
	}
	if (len == 17 && (s[2] == ':' || s[2] == '-')) {
		char sep = s[2];

		for (size_t i = 0; i < 17; i++) {
			if (i % 3 == 2) {
				if (s[i] != sep)
					return false;
			} else if (!is_hex(s[i])) {
				return false;
			} else {
				out[n++] = lower(s[i]);
			}
		}
		letter = true;
	} else if (len == 14 && s[4] == '.' && s[9] == '.') {
		for (size_t i = 0; i < 14; i++) {
			if (i == 4 || i == 9)
				continue;
			if (!is_hex(s[i]))
				return false;
			out[n++] = lower(s[i]);
		}
		letter = true;
	} else if (len == 12) {
		for (size_t i = 0; i < 12; i++) {
			if (!is_hex(s[i]))
				return false;
			if (!(s[i] >= '0' && s[i] <= '9'))
				letter = true;
			out[n++] = lower(s[i]);
		}
	} else {
		return false;
	}
	out[12] = '\0';
	/* Twelve bare decimal digits are a directory number, not a MAC. */
	return n == 12 && letter;
}

int cm_device_parse(const char *s, size_t len, struct cm_device *out, const char **why)
{
	const char *reason = NULL;
	char mac[13];

	if (len == 0 || len > CM_DEVICE_MAX) {
		reason = "must be 1 to 256 octets";
		goto fail;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f) {
			reason = "must not contain spaces or control characters";
			goto fail;
		}
	}
	if ((len >= 4 && strncasecmp(s, "sip:", 4) == 0) ||
	    (len >= 5 && strncasecmp(s, "sips:", 5) == 0)) {
		out->kind = CM_DEV_AOR;
		if (cm_aor_normalize(s, len, out->value, sizeof(out->value)) < 0) {
			reason = "is not a valid sip: or sips: AOR (sip:user@host)";
			goto fail;
		}
		return 0;
	}
	if (parse_mac(s, len, mac)) {
		out->kind = CM_DEV_MAC;
		memcpy(out->value, mac, 13);
		return 0;
	}
	if (len > 4 && strncasecmp(s, "urn:", 4) == 0) {
		out->kind = CM_DEV_INST;
		memcpy(out->value, "urn:", 4);
		memcpy(out->value + 4, s + 4, len - 4);
		out->value[len] = '\0';
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '@' || s[i] == ':' || s[i] == '<' || s[i] == '>' || s[i] == '"') {
			reason = "is not a number, sip: AOR, urn: instance id or MAC address";
			goto fail;
		}
	}
	out->kind = CM_DEV_NUM;
	memcpy(out->value, s, len);
	out->value[len] = '\0';
	return 0;
fail:
	if (why)
		*why = reason;
	return -EINVAL;
}

int cm_device_key(const struct cm_device *d, char *buf, size_t size)
{
	int n = snprintf(buf, size, CM_KEY_DEVICE "%s:%s", cm_device_kind_name(d->kind), d->value);

	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}
