/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Turns a parsed contact-me payload into a callback plan: the URLs to POST to, in order
 * (server, then each alt-server), only for trusted servers; the servers refused as untrusted;
 * and the JSON body. Pure (no I/O), so the rules are unit-tested without a network.
 */
#ifndef CA_PLAN_H
#define CA_PLAN_H

#include <stddef.h>

#include "ca_trust.h"
#include "cm/payload.h"
#include "cm/str.h"

#define CA_HOSTPORT_MAX (CM_HOST_MAX + 9) /* brackets, colon, 5 digits, NUL */
#define CA_URL_MAX (sizeof("https://") + CA_HOSTPORT_MAX + CM_PAYLOAD_VALUE_MAX)
#define CA_PLAN_TARGETS (1 + CM_PAYLOAD_ALT_MAX)
#define CA_REQUEST_ID_MAX 128

struct ca_plan_target {
	char url[CA_URL_MAX];
	char hostport[CA_HOSTPORT_MAX]; /* as written in the payload, for logs */
};

/* One plan per accepted NOTIFY. Allocated by the caller; ca_plan_free releases body. */
struct ca_plan {
	char request_id[CA_REQUEST_ID_MAX + 1];
	struct ca_plan_target target[CA_PLAN_TARGETS];
	size_t n_target;
	char refused[CA_PLAN_TARGETS][CA_HOSTPORT_MAX]; /* untrusted, never contacted */
	size_t n_refused;
	int from_default; /* 1 when the server came from default-server */
	char *body;	  /* JSON, NUL-terminated, heap (free()) */
};

/* Default port of a protocol view ("http" → 80, anything else → 443). */
int ca_plan_default_port(struct cm_str protocol);

/*
 * Formats <protocol>://<host>[:port]<path> into buf: protocol defaults to https, path to "/",
 * an IPv6 host is bracketed, port -1 is left out. Returns the length or -ENOSPC.
 */
int ca_plan_url(char *buf, size_t size, struct cm_str protocol, const struct cm_hostport *hp,
		struct cm_str path);

/*
 * Builds the plan for p. device and aor are borrowed; default_server (host:port, may be
 * NULL) stands in when p has no server and is trusted because the operator configured it.
 * Returns 0 (n_target may be 0 when every server was refused), -ENOENT when there is no
 * server at all, -EINVAL when a server does not parse, -ENOMEM. On failure out->body is
 * NULL and ca_plan_free is still safe.
 */
int ca_plan_build(const struct cm_payload *p, const struct ca_trust *trust, const char *device,
		  const char *aor, const char *default_server, struct ca_plan *out);

/*
 * The protection option's check of one request, made before the NOTIFY is answered: every
 * server and alt-server must be trusted and the protocol https (absent means https). A request
 * without server (default-server) passes the trust part. Returns 0, or -EACCES / -EINVAL with
 * *why set to a static reason phrase for the SIP answer.
 */
int ca_plan_protect(const struct cm_payload *p, const struct ca_trust *trust, const char **why);

/* Frees the body. Safe on a zeroed or failed plan. */
void ca_plan_free(struct ca_plan *plan);

#endif
