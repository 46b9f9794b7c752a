/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The list of application servers the agent is willing to call back (--trusted-servers).
 * A NOTIFY can name any host; only an exact host:port match against this list is ever
 * contacted, so a forged or replayed NOTIFY cannot turn the device into a request cannon.
 */
#ifndef CA_TRUST_H
#define CA_TRUST_H

#include <stdbool.h>
#include <stddef.h>

#include "cm/hostport.h"

#define CA_TRUST_MAX 32

struct ca_trust_entry {
	char host[CM_HOST_MAX + 1]; /* without brackets; names lower-cased, no trailing dot */
	enum cm_host_kind kind;
	unsigned char addr[16]; /* binary address for CM_HOST_IPV4 / CM_HOST_IPV6 */
	int port;
};

struct ca_trust {
	struct ca_trust_entry e[CA_TRUST_MAX];
	size_t n;
};

/*
 * Parses a comma list of host:port (IPv6 bracketed; spaces around entries allowed; the port
 * is mandatory). An empty or NULL spec gives an empty list, which trusts nothing. Returns
 * the number of entries or -EINVAL with the offending entry named in err.
 */
int ca_trust_parse(const char *spec, struct ca_trust *out, char *err, size_t errlen);

/*
 * True when host:port is on the list. Names compare case-insensitively (a trailing dot is
 * ignored), addresses compare as binary addresses, so [::1] matches [0:0::1].
 */
bool ca_trust_match(const struct ca_trust *t, const char *host, size_t hostlen,
		    enum cm_host_kind kind, int port);

#endif
