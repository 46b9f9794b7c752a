/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Trusted-server list: parsed once at start-up into fixed storage (at most CA_TRUST_MAX
 * entries), matched for every host a NOTIFY names.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ca_trust.h"

/* Normalises host into e: lower-case name without trailing dot, or a binary address. */
static int entry_set(struct ca_trust_entry *e, const char *host, size_t len, enum cm_host_kind kind,
		     int port)
{
	if (kind == CM_HOST_NAME && len > 1 && host[len - 1] == '.')
		len--;
	if (len == 0 || len > CM_HOST_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		e->host[i] = (char)tolower((unsigned char)host[i]);
	e->host[len] = '\0';
	e->kind = kind;
	e->port = port;
	memset(e->addr, 0, sizeof(e->addr));
	if (kind == CM_HOST_IPV4 && inet_pton(AF_INET, e->host, e->addr) != 1)
		return -EINVAL;
	if (kind == CM_HOST_IPV6 && inet_pton(AF_INET6, e->host, e->addr) != 1)
		return -EINVAL;
	return 0;
}

int ca_trust_parse(const char *spec, struct ca_trust *out, char *err, size_t errlen)
{
	const char *p = spec;

	out->n = 0;
	if (!spec)
		return 0;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		struct cm_hostport hp;

		while (len > 0 && isspace((unsigned char)*p))
			p++, len--;
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		if (len > 0) {
			if (out->n == CA_TRUST_MAX) {
				snprintf(err, errlen, "trusted-servers: more than %d entries",
					 CA_TRUST_MAX);
				return -EINVAL;
			}
			if (cm_hostport_parse(p, len, &hp) < 0 || hp.port <= 0 ||
			    entry_set(&out->e[out->n], hp.host.p, hp.host.len, hp.kind, hp.port) <
				0) {
				snprintf(
				    err, errlen,
				    "trusted-servers: '%.*s' is not host:port (IPv6 in brackets)",
				    (int)len, p);
				return -EINVAL;
			}
			out->n++;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return (int)out->n;
}

bool ca_trust_match(const struct ca_trust *t, const char *host, size_t hostlen,
		    enum cm_host_kind kind, int port)
{
	struct ca_trust_entry probe;

	if (entry_set(&probe, host, hostlen, kind, port) < 0)
		return false;
	for (size_t i = 0; i < t->n; i++) {
		const struct ca_trust_entry *e = &t->e[i];

		if (e->port != port || e->kind != kind)
			continue;
		if (kind == CM_HOST_NAME ? strcmp(e->host, probe.host) == 0
					 : memcmp(e->addr, probe.addr, sizeof(e->addr)) == 0)
			return true;
	}
	return false;
}
