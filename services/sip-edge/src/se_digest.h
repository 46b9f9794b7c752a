/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure part of SIP digest authentication (RFC 3261 22, RFC 7616 with qop=auth): the
 * MD5 / SHA-256 arithmetic, server nonces that carry their issue time and an HMAC-SHA256
 * under a per-process secret and the edge id (so they expire and only this edge accepts
 * them), the nonce-count replay window, and the per-source failure table that blocks a
 * source for a while after repeated failures. No network and no Redis: the unit tests drive
 * it directly; se_auth.c wires it to the registrar.
 *
 * Memory: struct se_digest is one allocation with fixed-size, set-associative tables, so an
 * attacker can never grow it. Losing replay state to eviction never lets a request through:
 * a bucket remembers the newest issue time it ever evicted, and nonces issued up to then are
 * answered as stale.
 */
#ifndef SE_DIGEST_H
#define SE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#define SE_DIGEST_HEX_MAX 64	      /* hex digits of a SHA-256 hash */
#define SE_DIGEST_NONCE_LEN 64	      /* hex digits of a nonce */
#define SE_DIGEST_NONCE_BUCKETS 32768 /* x SE_DIGEST_WAYS nonces with replay state */
#define SE_DIGEST_SOURCE_BUCKETS 1024 /* x SE_DIGEST_WAYS sources with failure counts */
#define SE_DIGEST_WAYS 4
#define SE_DIGEST_NC_WINDOW 64 /* nonce-counts below the highest seen that are still accepted */

enum se_digest_alg { SE_DIGEST_MD5, SE_DIGEST_SHA256 };

/* Hex digits of a hash of alg: 32 or 64. */
size_t se_digest_hex_len(enum se_digest_alg alg);

/* The algorithm named s ("MD5", "SHA-256", case-insensitive; NULL or "" is MD5), or -EINVAL
 * for any other (MD5-sess and SHA-256-sess are not offered, so never accepted). */
int se_digest_alg_parse(const char *s);

/*
 * Writes the lower-case hex hash of parts[0..n) joined by ':' into out (at least
 * SE_DIGEST_HEX_MAX + 1 bytes, NUL-terminated). Returns 0 or -EIO.
 */
int se_digest_hash(enum se_digest_alg alg, const char *const *parts, size_t n, char *out);

/* HA1 = H(user:realm:password); for provisioning and tests. Returns 0 or -EIO. */
int se_digest_ha1(enum se_digest_alg alg, const char *user, const char *realm, const char *password,
		  char *out);

/*
 * The request-digest of RFC 7616 3.4.1 with qop=auth:
 * H(HA1:nonce:nc:cnonce:qop:H(method:uri)); without qop (RFC 2069) H(HA1:nonce:H(A2)) when
 * qop is NULL. Returns 0 or -EIO.
 */
int se_digest_response(enum se_digest_alg alg, const char *ha1, const char *nonce, const char *nc,
		       const char *cnonce, const char *qop, const char *method, const char *uri,
		       char *out);

/* True if a and b are the same hex digest (case-insensitive), compared in constant time for
 * equal lengths. */
bool se_digest_equal(const char *a, const char *b);

/* Parses an 8-digit hex nonce-count. Returns 0 and sets *nc, or -EINVAL. */
int se_digest_nc_parse(const char *s, uint32_t *nc);

struct se_digest;

/*
 * Creates the tables and a random secret; edge_id (copied) goes into every nonce MAC;
 * nonce_ttl_s is a nonce's lifetime, fail_max the failures from one source that block it,
 * block_s how long a block (and a failure count) lasts. Returns 0 or -ENOMEM / -EIO.
 */
int se_digest_create(const char *edge_id, long nonce_ttl_s, long fail_max, long block_s,
		     struct se_digest **out);
void se_digest_destroy(struct se_digest *d);

/* Writes a fresh nonce for time now_s into out (SE_DIGEST_NONCE_LEN + 1 bytes).
 * Returns 0 or -EIO. */
int se_digest_nonce(struct se_digest *d, int64_t now_s, char *out);

/* Checks a nonce we may have issued: 0 when genuine and fresh, -ESTALE when genuine but
 * older than the ttl, -EINVAL when malformed or not ours. */
int se_digest_nonce_check(struct se_digest *d, const char *nonce, int64_t now_s);

/*
 * Accepts nonce-count nc of a genuine nonce once: 0 when nc was never accepted before,
 * -EALREADY for a replay (or an nc too far below the highest one seen), -ESTALE when the
 * nonce's replay state was evicted (answer stale=true: the client gets a new nonce).
 */
int se_digest_nc_use(struct se_digest *d, const char *nonce, uint32_t nc, int64_t now_s);

/* True if sa (an AF_INET or AF_INET6 address; the port is ignored) is blocked at now_s. */
bool se_digest_blocked(struct se_digest *d, const struct sockaddr *sa, int64_t now_s);

/* Counts a failure from sa. Returns true if the source is now blocked. */
bool se_digest_failed(struct se_digest *d, const struct sockaddr *sa, int64_t now_s);

/* Writes the dummy HA1 of user for alg, used for unknown users so they cost and answer the
 * same as known ones. Returns 0 or -EIO. */
int se_digest_dummy_ha1(struct se_digest *d, enum se_digest_alg alg, const char *user,
			const char *realm, char *out);

#endif
