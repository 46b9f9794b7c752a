/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hostport (RFC 3261 section 25.1) and listen specs. Addresses are checked with
 * inet_pton; host names with the RFC's domainlabel/toplabel rules.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cm/hostport.h"

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

/* hostname = *( domainlabel "." ) toplabel [ "." ] */
static bool is_hostname(const char *s, size_t len)
{
	size_t start = 0;

	if (len == 0 || len > CM_HOST_MAX)
		return false;
	if (s[len - 1] == '.')
		len--;
	if (len == 0)
		return false;
	for (size_t i = 0; i <= len; i++) {
		size_t l;

		if (i < len && s[i] != '.') {
			if (!is_alnum(s[i]) && s[i] != '-')
				return false;
			continue;
		}
		l = i - start;
		if (l == 0 || l > 63 || !is_alnum(s[start]) || !is_alnum(s[i - 1]))
			return false;
		if (i == len && !is_alpha(s[start]))
			return false; /* toplabel starts with ALPHA */
		start = i + 1;
	}
	return true;
}

int cm_host_check(const char *s, size_t len)
{
	char buf[64];
	unsigned char addr[16];

	if (len > 0 && len < sizeof(buf) && !memchr(s, '\0', len)) {
		memcpy(buf, s, len);
		buf[len] = '\0';
		if (inet_pton(AF_INET, buf, addr) == 1)
			return CM_HOST_IPV4;
		if (inet_pton(AF_INET6, buf, addr) == 1)
			return CM_HOST_IPV6;
	}
	return is_hostname(s, len) ? CM_HOST_NAME : -EINVAL;
}

int cm_hostport_parse(const char *s, size_t len, struct cm_hostport *out)
{
	const char *host = s, *port = NULL;
	size_t hostlen;
	int kind;

	if (len == 0)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close)
			return -EINVAL;
		host = s + 1;
		hostlen = (size_t)(close - host);
		if (close + 1 < s + len) {
			if (close[1] != ':')
				return -EINVAL;
			port = close + 2;
		}
		if (cm_host_check(host, hostlen) != CM_HOST_IPV6)
			return -EINVAL;
		kind = CM_HOST_IPV6;
	} else {
		const char *colon = memchr(s, ':', len);

		hostlen = colon ? (size_t)(colon - s) : len;
		if (colon)
			port = colon + 1;
		kind = cm_host_check(host, hostlen);
		if (kind < 0 || kind == CM_HOST_IPV6)
			return -EINVAL;
	}
	out->host = (struct cm_str){host, hostlen};
	out->kind = (enum cm_host_kind)kind;
	out->port = -1;
	if (port) {
		size_t plen = (size_t)(s + len - port);
		long v = 0;

		if (plen == 0 || plen > 5)
			return -EINVAL;
		for (size_t i = 0; i < plen; i++) {
			if (port[i] < '0' || port[i] > '9')
				return -EINVAL;
			v = v * 10 + (port[i] - '0');
		}
		if (v > 65535)
			return -EINVAL;
		out->port = (int)v;
	}
	return 0;
}

int cm_hostport_format(char *buf, size_t size, const char *host, size_t hostlen, int port)
{
	bool v6 = memchr(host, ':', hostlen) != NULL;
	int n;

	if (port >= 0)
		n = snprintf(buf, size, "%s%.*s%s:%d", v6 ? "[" : "", (int)hostlen, host,
			     v6 ? "]" : "", port);
	else
		n = snprintf(buf, size, "%s%.*s%s", v6 ? "[" : "", (int)hostlen, host,
			     v6 ? "]" : "");
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}

const char *cm_transport_name(enum cm_transport tp)
{
	switch (tp) {
	case CM_TP_UDP:
		return "udp";
	case CM_TP_TCP:
		return "tcp";
	case CM_TP_TLS:
		return "tls";
	}
	return "?";
}

int cm_listen_parse(const char *spec, struct cm_listen *out, size_t max, char *err, size_t errlen)
{
	size_t count = 0;
	const char *p = spec;

	if (!spec || !*spec) {
		snprintf(err, errlen, "empty listen list");
		return -EINVAL;
	}
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		struct cm_hostport hp;
		struct cm_listen *l;
		size_t plen;

		if (count == max) {
			snprintf(err, errlen, "more than %zu listen addresses", max);
			return -EINVAL;
		}
		l = &out[count];
		if (len > 4 && strncmp(p, "udp:", 4) == 0)
			l->tp = CM_TP_UDP;
		else if (len > 4 && strncmp(p, "tcp:", 4) == 0)
			l->tp = CM_TP_TCP;
		else if (len > 4 && strncmp(p, "tls:", 4) == 0)
			l->tp = CM_TP_TLS;
		else {
			snprintf(err, errlen, "'%.*s': expected udp:, tcp: or tls: then host:port",
				 (int)len, p);
			return -EINVAL;
		}
		plen = len - 4;
		if (cm_hostport_parse(p + 4, plen, &hp) < 0 || hp.port < 0) {
			snprintf(err, errlen, "'%.*s': expected host:port after the transport",
				 (int)len, p);
			return -EINVAL;
		}
		memcpy(l->host, hp.host.p, hp.host.len);
		l->host[hp.host.len] = '\0';
		l->port = hp.port;
		count++;
		if (!end)
			break;
		p = end + 1;
	}
	return (int)count;
}
