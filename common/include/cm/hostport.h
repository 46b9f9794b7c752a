/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hostport as RFC 3261 defines it: hostname / IPv4address / "[" IPv6address "]", then an
 * optional ":" port. Also the listen specs the services take ("udp:127.0.0.1:5060,tcp:...").
 */
#ifndef CM_HOSTPORT_H
#define CM_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm/str.h"

enum cm_host_kind { CM_HOST_NAME, CM_HOST_IPV4, CM_HOST_IPV6 };

struct cm_hostport {
	struct cm_str host; /* view into the input, without brackets for IPv6 */
	enum cm_host_kind kind;
	int port; /* -1 when absent */
};

#define CM_HOST_MAX 253

/* Parses s (not NUL-terminated) as hostport. Returns 0 or -EINVAL. */
int cm_hostport_parse(const char *s, size_t len, struct cm_hostport *out);

/* Checks a bare host (no port, no brackets). Returns its kind, or -EINVAL. */
int cm_host_check(const char *s, size_t len);

/* Formats host and port as hostport (IPv6 bracketed). Returns the length or -ENOSPC. */
int cm_hostport_format(char *buf, size_t size, const char *host, size_t hostlen, int port);

enum cm_transport { CM_TP_UDP, CM_TP_TCP, CM_TP_TLS };

struct cm_listen {
	enum cm_transport tp;
	char host[CM_HOST_MAX + 1];
	int port;
};

#define CM_LISTEN_MAX 8

/* Parses "udp:127.0.0.1:5060,tcp:[::1]:5060" into out[]. Returns the count or -EINVAL with a
 * reason in err. Port 0 means "any free port". */
int cm_listen_parse(const char *spec, struct cm_listen *out, size_t max, char *err, size_t errlen);

const char *cm_transport_name(enum cm_transport tp);

#endif
