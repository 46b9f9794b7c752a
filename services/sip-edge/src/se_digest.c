/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Digest arithmetic, nonces, the nonce-count replay window and the per-source failure table
 * (see se_digest.h). Hashes and the HMAC come from OpenSSL; nothing here allocates after
 * se_digest_create.
 *
 * Nonce: hex(issue-time 8 bytes BE | salt 8 bytes | first 16 bytes of
 * HMAC-SHA256(secret, time | salt | edge-id))). The secret is random per process, so a
 * restart makes every outstanding nonce stale (clients retry transparently), and the edge id
 * in the MAC keeps a nonce from being accepted by another edge, whose replay table has never
 * seen it.
 */
#include "se_digest.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "cm/digest.h"
#include "cm/str.h"

#define SECRET_LEN 32
#define MAC_LEN 16
#define RAW_LEN (8 + 8 + MAC_LEN)

struct nonce_slot {
	uint8_t mac[MAC_LEN]; /* identifies the nonce; all zero when free */
	int64_t issued;	      /* issue time, s */
	uint32_t top;	      /* highest nc accepted */
	uint64_t seen;	      /* bit i: nc top - i accepted */
};

struct nonce_bucket {
	int64_t floor; /* nonces issued at or before this lost their state here */
	struct nonce_slot way[SE_DIGEST_WAYS];
};

struct source_slot {
	uint8_t addr[16];
	uint8_t family; /* 0: free */
	uint32_t fails;
	int64_t since;	 /* start of the counting period */
	int64_t blocked; /* blocked until this time, s */
};

struct se_digest {
	uint8_t secret[SECRET_LEN];
	char secret_hex[2 * SECRET_LEN + 1];
	char edge_id[128];
	long ttl, fail_max, block_s;
	struct nonce_bucket nonces[SE_DIGEST_NONCE_BUCKETS];
	struct source_slot sources[SE_DIGEST_SOURCE_BUCKETS][SE_DIGEST_WAYS];
};

static const char hexd[] = "0123456789abcdef";

static void to_hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexd[b[i] >> 4];
		out[2 * i + 1] = hexd[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int from_hex(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
		if (h < 0 || l < 0)
			return -EINVAL;
		out[i] = (uint8_t)(h << 4 | l);
	}
	return 0;
}

size_t se_digest_hex_len(enum se_digest_alg alg)
{
	return alg == SE_DIGEST_SHA256 ? 64 : 32;
}

int se_digest_alg_parse(const char *s)
{
	if (!s || !*s || strcasecmp(s, "MD5") == 0)
		return SE_DIGEST_MD5;
	if (strcasecmp(s, "SHA-256") == 0)
		return SE_DIGEST_SHA256;
	return -EINVAL;
}

int se_digest_hash(enum se_digest_alg alg, const char *const *parts, size_t n, char *out)
{
	enum cm_digest_alg a = alg == SE_DIGEST_SHA256 ? CM_DIGEST_SHA256 : CM_DIGEST_MD5;

	return cm_digest_hex(a, parts, n, ':', out, se_digest_hex_len(alg)) < 0 ? -EIO : 0;
}

int se_digest_ha1(enum se_digest_alg alg, const char *user, const char *realm, const char *password,
		  char *out)
{
	const char *p[] = {user, realm, password};
	return se_digest_hash(alg, p, 3, out);
}

int se_digest_response(enum se_digest_alg alg, const char *ha1, const char *nonce, const char *nc,
		       const char *cnonce, const char *qop, const char *method, const char *uri,
		       char *out)
{
	char ha2[SE_DIGEST_HEX_MAX + 1];
	const char *a2[] = {method, uri};
	int rc = se_digest_hash(alg, a2, 2, ha2);

	if (rc < 0)
		return rc;
	if (!qop) {
		const char *p[] = {ha1, nonce, ha2};
		return se_digest_hash(alg, p, 3, out);
	}
	{
		const char *p[] = {ha1, nonce, nc, cnonce, qop, ha2};
		return se_digest_hash(alg, p, 6, out);
	}
}

bool se_digest_equal(const char *a, const char *b)
{
	size_t n = strlen(a);
	unsigned char diff = 0;

	if (n != strlen(b) || n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)((a[i] | 0x20) ^ (b[i] | 0x20));
	return diff == 0;
}

int se_digest_nc_parse(const char *s, uint32_t *nc)
{
	uint32_t v = 0;

	if (!s || strlen(s) != 8)
		return -EINVAL;
	for (int i = 0; i < 8; i++) {
		int h = hexval(s[i]);
		if (h < 0)
			return -EINVAL;
		v = v << 4 | (uint32_t)h;
	}
	if (v == 0)
		return -EINVAL;
	*nc = v;
	return 0;
}

int se_digest_create(const char *edge_id, long nonce_ttl_s, long fail_max, long block_s,
		     struct se_digest **out)
{
	struct se_digest *d = calloc(1, sizeof(*d));

	*out = NULL;
	if (!d)
		return -ENOMEM;
	if (RAND_bytes(d->secret, sizeof(d->secret)) != 1) {
		free(d);
		return -EIO;
	}
	to_hex(d->secret, sizeof(d->secret), d->secret_hex);
	cm_snprintf(d->edge_id, sizeof(d->edge_id), "%s", edge_id ? edge_id : "");
	d->ttl = nonce_ttl_s;
	d->fail_max = fail_max;
	d->block_s = block_s;
	*out = d;
	return 0;
}

void se_digest_destroy(struct se_digest *d)
{
	if (!d)
		return;
	OPENSSL_cleanse(d->secret, sizeof(d->secret));
	OPENSSL_cleanse(d->secret_hex, sizeof(d->secret_hex));
	free(d);
}

static int nonce_mac(const struct se_digest *d, const uint8_t *ts_salt, uint8_t *mac)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint8_t buf[16 + sizeof(d->edge_id)];
	size_t idlen = strlen(d->edge_id);

	memcpy(buf, ts_salt, 16);
	memcpy(buf + 16, d->edge_id, idlen);
	if (!HMAC(EVP_sha256(), d->secret, sizeof(d->secret), buf, 16 + idlen, md, &mdlen) ||
	    mdlen < MAC_LEN)
		return -EIO;
	memcpy(mac, md, MAC_LEN);
	return 0;
}

int se_digest_nonce(struct se_digest *d, int64_t now_s, char *out)
{
	uint8_t raw[RAW_LEN];
	uint64_t t = (uint64_t)now_s;

	for (int i = 7; i >= 0; i--, t >>= 8)
		raw[i] = (uint8_t)(t & 0xff);
	if (RAND_bytes(raw + 8, 8) != 1 || nonce_mac(d, raw, raw + 16) < 0)
		return -EIO;
	to_hex(raw, RAW_LEN, out);
	return 0;
}

/* Decodes and authenticates a nonce; fills the MAC and issue time. */
static int nonce_open(const struct se_digest *d, const char *nonce, uint8_t *mac, int64_t *issued)
{
	uint8_t raw[RAW_LEN], want[MAC_LEN];
	uint64_t t = 0;

	if (!nonce || strlen(nonce) != SE_DIGEST_NONCE_LEN || from_hex(nonce, RAW_LEN, raw) < 0)
		return -EINVAL;
	if (nonce_mac(d, raw, want) < 0 || CRYPTO_memcmp(want, raw + 16, MAC_LEN) != 0)
		return -EINVAL;
	for (int i = 0; i < 8; i++)
		t = t << 8 | raw[i];
	memcpy(mac, raw + 16, MAC_LEN);
	*issued = (int64_t)t;
	return 0;
}

int se_digest_nonce_check(struct se_digest *d, const char *nonce, int64_t now_s)
{
	uint8_t mac[MAC_LEN];
	int64_t issued;

	if (nonce_open(d, nonce, mac, &issued) < 0)
		return -EINVAL;
	if (issued > now_s + 1 || now_s - issued > d->ttl)
		return -ESTALE;
	return 0;
}

static uint32_t mac_hash(const uint8_t *mac)
{
	/* The MAC is already uniformly distributed. */
	return (uint32_t)mac[0] | (uint32_t)mac[1] << 8 | (uint32_t)mac[2] << 16 |
	       (uint32_t)mac[3] << 24;
}

int se_digest_nc_use(struct se_digest *d, const char *nonce, uint32_t nc, int64_t now_s)
{
	uint8_t mac[MAC_LEN];
	int64_t issued;
	struct nonce_bucket *b;
	struct nonce_slot *s = NULL, *victim = NULL;

	if (nonce_open(d, nonce, mac, &issued) < 0)
		return -EINVAL;
	b = &d->nonces[mac_hash(mac) % SE_DIGEST_NONCE_BUCKETS];
	for (int i = 0; i < SE_DIGEST_WAYS; i++) {
		if (memcmp(b->way[i].mac, mac, MAC_LEN) == 0) {
			s = &b->way[i];
			break;
		}
	}
	if (s) {
		if (nc > s->top) {
			uint32_t shift = nc - s->top;
			s->seen = shift >= 64 ? 0 : s->seen << shift;
			s->seen |= 1;
			s->top = nc;
			return 0;
		}
		if (s->top - nc >= SE_DIGEST_NC_WINDOW || (s->seen >> (s->top - nc)) & 1)
			return -EALREADY;
		s->seen |= (uint64_t)1 << (s->top - nc);
		return 0;
	}
	/* First use of this nonce here: unless its state could have been evicted already. */
	if (issued <= b->floor)
		return -ESTALE;
	for (int i = 0; i < SE_DIGEST_WAYS; i++) {
		struct nonce_slot *w = &b->way[i];
		if (w->issued + d->ttl < now_s) {
			/* Free, or an expired nonce: its state is no longer needed. */
			victim = w;
			break;
		}
		if (!victim || w->issued < victim->issued)
			victim = w;
	}
	if (victim->issued + d->ttl >= now_s && victim->issued > b->floor)
		b->floor = victim->issued; /* evicting live state */
	if (issued <= b->floor)
		return -ESTALE;
	memcpy(victim->mac, mac, MAC_LEN);
	victim->issued = issued;
	victim->top = nc;
	victim->seen = 1;
	return 0;
}

/* Fills a 16-byte key and family of sa; returns false for other families. */
static bool source_key(const struct sockaddr *sa, uint8_t key[16], uint8_t *family)
{
	memset(key, 0, 16);
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		*family = 4;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		*family = 6;
		return true;
	}
	return false;
}

static uint32_t key_hash(const struct se_digest *d, const uint8_t key[16])
{
	/* FNV-1a seeded with the secret, so an attacker cannot aim at one bucket. */
	uint32_t h = 2166136261u ^ (uint32_t)d->secret[0] ^ (uint32_t)d->secret[1] << 8;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

static struct source_slot *source_find(struct se_digest *d, const struct sockaddr *sa, bool create,
				       int64_t now_s)
{
	uint8_t key[16], fam = 0;
	struct source_slot *row, *victim = NULL;

	if (!source_key(sa, key, &fam))
		return NULL;
	row = d->sources[key_hash(d, key) % SE_DIGEST_SOURCE_BUCKETS];
	for (int i = 0; i < SE_DIGEST_WAYS; i++) {
		if (row[i].family == fam && memcmp(row[i].addr, key, 16) == 0)
			return &row[i];
	}
	if (!create)
		return NULL;
	/* Prefer a free or finished slot, else the one whose period started longest ago. */
	for (int i = 0; i < SE_DIGEST_WAYS; i++) {
		struct source_slot *s = &row[i];
		if (!s->family || (s->blocked < now_s && s->since + d->block_s < now_s)) {
			victim = s;
			break;
		}
		if (!victim || s->since < victim->since)
			victim = s;
	}
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->addr, key, 16);
	victim->family = fam;
	victim->since = now_s;
	return victim;
}

bool se_digest_blocked(struct se_digest *d, const struct sockaddr *sa, int64_t now_s)
{
	struct source_slot *s = source_find(d, sa, false, now_s);
	return s && s->blocked >= now_s;
}

bool se_digest_failed(struct se_digest *d, const struct sockaddr *sa, int64_t now_s)
{
	struct source_slot *s = source_find(d, sa, true, now_s);

	if (!s)
		return false;
	if (s->since + d->block_s < now_s) {
		/* A new counting period. */
		s->since = now_s;
		s->fails = 0;
	}
	if (s->fails < UINT32_MAX)
		s->fails++;
	if (s->fails >= (uint32_t)d->fail_max) {
		s->blocked = now_s + d->block_s;
		s->since = now_s;
		s->fails = 0;
		return true;
	}
	return false;
}

int se_digest_dummy_ha1(struct se_digest *d, enum se_digest_alg alg, const char *user,
			const char *realm, char *out)
{
	return se_digest_ha1(alg, user, realm, d->secret_hex, out);
}
