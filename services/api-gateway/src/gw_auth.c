/* SPDX-License-Identifier: Apache-2.0 */
/*
 * API key authentication and the per-key rate limit (see gw_auth.h for the model). The cache
 * is a fixed array indexed by the key's hash, so its memory is bounded whatever clients send;
 * an entry holds a copy of the key's fields, when it was read, and the key's token bucket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "cm/err.h"
#include "cm/log.h"
#include "gw_auth.h"

struct slot {
	bool used, revoked;
	char hash[65];
	uint64_t read_ms; /* when Redis was asked; stale after GW_AUTH_CACHE_MS */
	struct gw_key key;
	double tokens;
	uint64_t refill_ms;
};

struct gw_auth {
	uv_loop_t *loop;
	struct cm_redis *redis;
	struct slot slots[GW_AUTH_CACHE_SLOTS];
};

/* One lookup waiting for Redis. */
struct lookup {
	struct gw_auth *a;
	char hash[65];
	uint64_t asked_ms;
	const char *unknown; /* the detail when Redis has no record */
	gw_auth_cb *cb;
	void *data;
};

int gw_auth_create(uv_loop_t *loop, struct cm_redis *redis, struct gw_auth **out)
{
	struct gw_auth *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->loop = loop;
	a->redis = redis;
	*out = a;
	return 0;
}

void gw_auth_free(struct gw_auth *a)
{
	free(a);
}

int gw_auth_hash(const char *token, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned n = 0;

	if (!EVP_Digest(token, len, md, &n, EVP_sha256(), NULL) || n != sizeof(md))
		return -EIO;
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static struct slot *slot_of(struct gw_auth *a, const char *hash)
{
	unsigned long h = strtoul(
	    (char[9]){hash[0], hash[1], hash[2], hash[3], hash[4], hash[5], hash[6], hash[7], '\0'},
	    NULL, 16);

	return &a->slots[h % GW_AUTH_CACHE_SLOTS];
}

static bool copy_field(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n >= cap)
		return false;
	memcpy(dst, v, n + 1);
	return true;
}

bool gw_auth_key_from_fields(const char *const *f, size_t n, struct gw_key *key, bool *revoked)
{
	bool client = false, role = false;

	memset(key, 0, sizeof(*key));
	*revoked = false;
	key->rate = GW_AUTH_RATE_DEFAULT;
	snprintf(key->packages, sizeof(key->packages), "*");
	snprintf(key->devices, sizeof(key->devices), "*");
	for (size_t i = 0; i + 1 < n; i += 2) {
		const char *name = f[i], *v = f[i + 1];

		if (strcmp(name, "client") == 0) {
			if (!gw_request_token(v, strlen(v), GW_CLIENT_MAX, "._-"))
				return false;
			client = copy_field(key->client, sizeof(key->client), v);
		} else if (strcmp(name, "role") == 0) {
			role = true;
			if (strcmp(v, "app-server") == 0)
				key->role = GW_ROLE_APP_SERVER;
			else if (strcmp(v, "contact-triggering") == 0)
				key->role = GW_ROLE_CONTACT_TRIGGERING;
			else
				return false;
		} else if (strcmp(name, "packages") == 0) {
			if (!copy_field(key->packages, sizeof(key->packages), v))
				return false;
		} else if (strcmp(name, "devices") == 0) {
			if (!copy_field(key->devices, sizeof(key->devices), v))
				return false;
		} else if (strcmp(name, "rate") == 0) {
			char *end;
			long r = strtol(v, &end, 10);

			if (end == v || *end || r < 1 || r > GW_AUTH_RATE_MAX)
				return false;
			key->rate = r;
		} else if (strcmp(name, "revoked") == 0) {
			/* Any value but empty or "0" (the admin tool writes the epoch second). */
			*revoked = *v && strcmp(v, "0") != 0;
		}
	}
	/* A key without a client or role is broken, not all-powerful. */
	return client && role && !*revoked;
}

/* Whether item (len bytes) matches an entry of the comma list: equal, or with prefix true, a
 * prefix of it. "*" matches everything. */
static bool in_list(const char *list, const char *item, bool prefix)
{
	size_t ilen = strlen(item);
	const char *p = list;

	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		while (n && (*p == ' ' || *p == '\t'))
			p++, n--;
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if ((n == 1 && *p == '*') || (n && n == ilen && memcmp(p, item, n) == 0) ||
		    (prefix && n && n <= ilen && strncasecmp(p, item, n) == 0))
			return true;
		if (!end)
			return false;
		p = end + 1;
	}
}

int gw_auth_allows(const struct gw_key *key, const struct gw_request *r, char *detail, size_t size)
{
	char dev[CM_DEVICE_MAX + 16];

	if (key->role == GW_ROLE_CONTACT_TRIGGERING && !r->on_behalf_of[0]) {
		snprintf(detail, size, "a contact-triggering key must set on_behalf_of");
		return CM_E_FORBIDDEN;
	}
	if (key->role == GW_ROLE_APP_SERVER && r->on_behalf_of[0]) {
		snprintf(detail, size, "only a contact-triggering key may set on_behalf_of");
		return CM_E_FORBIDDEN;
	}
	if (!in_list(key->packages, r->package, false)) {
		snprintf(detail, size, "this API key may not use package '%s'", r->package);
		return CM_E_FORBIDDEN;
	}
	snprintf(dev, sizeof(dev), "%s:%s", cm_device_kind_name(r->device.kind), r->device.value);
	if (!in_list(key->devices, dev, true)) {
		snprintf(detail, size, "this API key may not address device '%s'", r->device_id);
		return CM_E_FORBIDDEN;
	}
	return 0;
}

/* Takes one token from the slot's bucket, or says how long until one is there. */
static long take(struct gw_auth *a, struct slot *s)
{
	uint64_t now = uv_now(a->loop);
	double rate = (double)s->key.rate;

	s->tokens += rate * (double)(now - s->refill_ms) / 1000.0;
	if (s->tokens > rate)
		s->tokens = rate;
	s->refill_ms = now;
	if (s->tokens >= 1.0) {
		s->tokens -= 1.0;
		return 0;
	}
	/* Whole seconds for Retry-After, at least 1. */
	return (long)((1.0 - s->tokens) / rate) + 1;
}

static void verdict(struct gw_auth *a, struct slot *s, gw_auth_cb *cb, void *data)
{
	long wait;

	if (s->revoked) {
		cb(NULL, CM_E_UNAUTHORIZED, "API key revoked", 0, data);
		return;
	}
	wait = take(a, s);
	if (wait > 0) {
		cb(NULL, CM_E_TOO_MANY, "API key over its rate limit", wait, data);
		return;
	}
	cb(&s->key, 0, NULL, 0, data);
}

static void on_reply(struct cm_redis *r, redisReply *reply, void *data)
{
	struct lookup *l = data;
	struct gw_auth *a = l->a;
	const char *f[32];
	struct gw_key key;
	struct slot *s;
	bool revoked = false, ok;
	size_t n = 0;

	if (!reply || reply->type != REDIS_REPLY_ARRAY) {
		if (reply && reply->type == REDIS_REPLY_ERROR)
			cm_log_warn("api key lookup failed: %s", reply->str);
		l->cb(NULL, CM_E_UNAVAILABLE, "cannot check the API key now", 0, l->data);
		free(l);
		return;
	}
	for (size_t i = 0; i < reply->elements && n < 32; i++)
		if (reply->element[i]->type == REDIS_REPLY_STRING)
			f[n++] = reply->element[i]->str;
	if (n == 0) {
		l->cb(NULL, CM_E_UNAUTHORIZED, l->unknown, 0, l->data);
		free(l);
		return;
	}
	ok = gw_auth_key_from_fields(f, n, &key, &revoked);
	if (!ok && !revoked) {
		cm_log_warn("api key %.12s... has a missing or malformed field", l->hash);
		l->cb(NULL, CM_E_UNAUTHORIZED, l->unknown, 0, l->data);
		free(l);
		return;
	}
	s = slot_of(a, l->hash);
	if (!s->used || strcmp(s->hash, l->hash) != 0 || s->key.rate != key.rate) {
		s->used = true;
		memcpy(s->hash, l->hash, sizeof(s->hash));
		s->tokens = (double)key.rate;
		s->refill_ms = uv_now(a->loop);
	}
	s->key = key;
	s->revoked = revoked;
	s->read_ms = l->asked_ms;
	verdict(a, s, l->cb, l->data);
	free(l);
}

/* The cached verdict for hash, or a Redis lookup of rkey. Returns as gw_auth_check. */
static int lookup(struct gw_auth *a, const char *hash, const char *rkey, const char *unknown,
		  gw_auth_cb *cb, void *data)
{
	struct slot *s = slot_of(a, hash);
	struct lookup *l;

	if (s->used && strcmp(s->hash, hash) == 0 &&
	    uv_now(a->loop) - s->read_ms < GW_AUTH_CACHE_MS) {
		verdict(a, s, cb, data);
		return 0;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		cb(NULL, -ENOMEM, "out of memory", 0, data);
		return 0;
	}
	l->a = a;
	memcpy(l->hash, hash, sizeof(l->hash));
	l->asked_ms = uv_now(a->loop);
	l->unknown = unknown;
	l->cb = cb;
	l->data = data;
	if (cm_redis_command(a->redis, on_reply, l, "HGETALL %s", rkey) < 0) {
		free(l);
		cb(NULL, CM_E_UNAVAILABLE, "cannot check the API key now", 0, data);
		return 0;
	}
	return 1;
}

/* No Authorization header: a verified client certificate whose subject CN has a record
 * beckon:apicert:<CN> identifies the client instead of a key. */
static int by_certificate(struct gw_auth *a, struct cm_http_req *req, gw_auth_cb *cb, void *data)
{
	char cn[GW_CLIENT_MAX + 1], tagged[GW_CLIENT_MAX + 8], hash[65];
	char rkey[sizeof(GW_AUTH_CERT_PREFIX) + GW_CLIENT_MAX];
	size_t n;

	if (cm_http_req_peer_cn(req, cn, sizeof(cn)) < 0 ||
	    !gw_request_token(cn, strlen(cn), GW_CLIENT_MAX, "._-")) {
		cb(NULL, CM_E_UNAUTHORIZED, "an API key is required (Authorization: Bearer)", 0,
		   data);
		return 0;
	}
	/* Cached under the hash of "cert" NUL <CN>: no bearer token can hash the same, since a
	 * header value cannot hold a NUL byte. */
	n = (size_t)snprintf(tagged, sizeof(tagged), "cert%c%s", '\0', cn);
	if (gw_auth_hash(tagged, n, hash) < 0) {
		cb(NULL, CM_E_UNAUTHORIZED, "unknown client certificate", 0, data);
		return 0;
	}
	snprintf(rkey, sizeof(rkey), GW_AUTH_CERT_PREFIX "%s", cn);
	return lookup(a, hash, rkey, "unknown client certificate", cb, data);
}

int gw_auth_check(struct gw_auth *a, struct cm_http_req *req, gw_auth_cb *cb, void *data)
{
	const char *h = cm_http_req_header(req, "Authorization");
	char hash[65], rkey[sizeof(GW_AUTH_KEY_PREFIX) + 64];
	size_t n;

	if (!h)
		return by_certificate(a, req, cb, data);
	if (strncasecmp(h, "Bearer ", 7) != 0) {
		cb(NULL, CM_E_UNAUTHORIZED, "Authorization must be Bearer <API key>", 0, data);
		return 0;
	}
	h += 7;
	while (*h == ' ')
		h++;
	n = strlen(h);
	while (n && h[n - 1] == ' ')
		n--;
	if (n == 0 || n > GW_AUTH_TOKEN_MAX || gw_auth_hash(h, n, hash) < 0) {
		cb(NULL, CM_E_UNAUTHORIZED, "unknown API key", 0, data);
		return 0;
	}
	snprintf(rkey, sizeof(rkey), GW_AUTH_KEY_PREFIX "%s", hash);
	return lookup(a, hash, rkey, "unknown API key", cb, data);
}
