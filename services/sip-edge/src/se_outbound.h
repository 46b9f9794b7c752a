/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure parts of RFC 5626 (outbound) and RFC 3327 (Path) on the registrar side: reading a
 * Contact's reg-id, the REGISTER's Path headers into the `path` field of a binding (the value
 * a NOTIFY's Route header is made of), deciding whether a REGISTER is an outbound
 * registration and whether this edge is its first hop, and the binding-id key of a flow.
 * Nothing here touches the network or Redis, so the unit tests drive it with messages parsed
 * by sofia (services/sip-edge/tests/test_outbound.c).
 */
#ifndef SE_OUTBOUND_H
#define SE_OUTBOUND_H

#include <stdbool.h>
#include <stddef.h>

#include <sofia-sip/sip.h>
#include <sofia-sip/su_alloc.h>

#define SE_PATH_MAX 1024   /* the stored path: every Path value, comma-separated */
#define SE_PATH_HOPS_MAX 8 /* Path entries in one REGISTER */
#define SE_REGID_MAX 2147483647UL

/*
 * Parses a reg-id Contact parameter value (RFC 5626 4.2: 1*DIGIT, 1 to 2^31-1). Returns the
 * value, or 0 for a missing, empty, zero, non-numeric or oversized one.
 */
unsigned long se_regid_value(const char *v);

/*
 * Joins the Path headers of sip, in order, into out ("<uri>;params, <uri>..."), size bytes.
 * Every entry must be a sip: or sips: URI with a host. Returns the length (0: no Path),
 * -EINVAL for a malformed entry (also one sofia could not parse), -E2BIG when there are more
 * than SE_PATH_HOPS_MAX entries or the value does not fit.
 */
int se_path_join(const sip_t *sip, char *out, size_t size);

/* True if the REGISTER's Supported lists option tag `tag` (e.g. "outbound", "path"). */
bool se_supports(const sip_t *sip, const char *tag);

/*
 * True if this edge is the REGISTER's first hop (RFC 5626 5): a single Via and no Path.
 * Only then is it the edge proxy that answers keep-alives, so only then is Flow-Timer sent.
 */
bool se_first_hop(const sip_t *sip);

/*
 * True if the REGISTER may be an outbound registration: it lists `outbound` in Supported and
 * either reaches us directly over TCP/TLS (se_first_hop; over UDP it would need STUN
 * keep-alives, which are not supported) or its first Path URI carries `ob` (the edge proxy in
 * front supports outbound, RFC 5626 5.1). Otherwise reg-id is ignored.
 */
bool se_outbound_usable(const sip_t *sip);

/*
 * The first hop of a stored path (a se_path_join value): its URI into out (size bytes), the
 * next hop of a NOTIFY over UDP. Returns 0, -EINVAL for an unparsable path, -E2BIG.
 */
int se_path_first_hop(const char *path, char *out, size_t size);

/*
 * The key hashed into the binding id of a flow (proto/redis.md "Bindings"): "<instance> LF
 * reg-id=<n>" into out. Returns 0 or -E2BIG.
 */
int se_flow_key(const char *instance, unsigned long reg_id, char *out, size_t size);

#endif
