/* SPDX-License-Identifier: Apache-2.0 */
/*
 * API keys of api-gateway (proto/rest.md "Authentication"). A client sends
 * `Authorization: Bearer <key>`; the gateway hashes the key (SHA-256, lower-case hex) and reads
 * the hash beckon:apikey:<hex> from Redis: client, role, packages, devices, rate, created,
 * revoked. Only the hash is stored, so a Redis dump does not hand out keys.
 *
 * A client may instead present a client certificate (tls-client-ca) and no Authorization
 * header: its subject CN names the hash beckon:apicert:<CN>, with the same fields.
 *
 * Lookups are cached in the process for GW_AUTH_CACHE_MS, so a busy client costs no Redis
 * round trip per request; a revocation (revoked set, or the hash deleted) therefore takes
 * effect within that time on every gateway. Unknown keys are never cached.
 *
 * The rate limit is a token bucket per key held in this process (capacity = rate, refilled at
 * rate per second): with N gateways behind a load balancer a client may get up to N times its
 * rate. The bucket lives in the cache slot and survives cache refreshes of the same key.
 */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cm/http.h"
#include "cm/redis.h"
#include "gw_request.h"

#define GW_AUTH_CACHE_MS 5000
#define GW_AUTH_CACHE_SLOTS 1024 /* direct-mapped by hash; a collision only costs a lookup */
#define GW_AUTH_TOKEN_MAX 256	 /* longer Authorization values are refused unhashed */
#define GW_AUTH_SCOPE_MAX 1024	 /* packages and devices lists */
#define GW_AUTH_RATE_DEFAULT 100 /* requests/s when a key has no rate field */
#define GW_AUTH_RATE_MAX 1000000
#define GW_AUTH_KEY_PREFIX "beckon:apikey:"
#define GW_AUTH_CERT_PREFIX "beckon:apicert:" /* + client certificate subject CN */
#define GW_AUTH_CHALLENGE "Bearer realm=\"beckon\""

enum gw_role { GW_ROLE_APP_SERVER, GW_ROLE_CONTACT_TRIGGERING };

/* What a key may do: a copy, owned by whoever holds it. */
struct gw_key {
	char client[GW_CLIENT_MAX + 1];
	enum gw_role role;
	char packages[GW_AUTH_SCOPE_MAX + 1]; /* comma list or "*" */
	char devices[GW_AUTH_SCOPE_MAX + 1];  /* comma list of "<kind>:<value prefix>" or "*" */
	long rate;
};

struct gw_auth;

/* The verdict: key is valid (borrowed, for the callback only) when err is 0; otherwise err is
 * CM_E_UNAUTHORIZED, CM_E_TOO_MANY (retry_after > 0) or CM_E_UNAVAILABLE, with a detail. */
typedef void gw_auth_cb(const struct gw_key *key, int err, const char *detail, long retry_after,
			void *data);

/* Creates the key checker on loop, reading keys through redis (borrowed). 0 or -ENOMEM. */
int gw_auth_create(uv_loop_t *loop, struct cm_redis *redis, struct gw_auth **out);
/* Frees it. Only after the Redis client is closed (no lookup pending). Safe on NULL. */
void gw_auth_free(struct gw_auth *a);

/*
 * Authenticates req's Authorization header (or, without one, its client certificate). Returns 0
 * when cb has already run (a cached key, or a refusal), 1 when cb will run later from a Redis reply
 * (the caller suspends req).
 */
int gw_auth_check(struct gw_auth *a, struct cm_http_req *req, gw_auth_cb *cb, void *data);

/*
 * Whether key may make request r: its package and device are in the key's scope, and its
 * role fits (a contact-triggering key must set on_behalf_of, an application-server key must
 * not). Returns 0 or CM_E_FORBIDDEN with a detail. Pure (unit-tested).
 */
int gw_auth_allows(const struct gw_key *key, const struct gw_request *r, char *detail, size_t size);

/* Parses an HGETALL reply's fields into key; false if a field is missing or malformed (the
 * key is then treated as unknown) or revoked is set (*revoked true). Pure. */
bool gw_auth_key_from_fields(const char *const *fields, size_t n, struct gw_key *key,
			     bool *revoked);

/* Lower-case hex SHA-256 of token. 0 or -EIO. */
int gw_auth_hash(const char *token, size_t len, char out[65]);

#endif
