/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hashing strings to lower-case hex, the one way beckon does it: SIP digest HA1/HA2/response
 * values (sip-edge and contact-agent), binding ids and dialog tags (sip-edge). OpenSSL's EVP
 * does the hashing; this only joins the parts and formats the result.
 */
#ifndef CM_DIGEST_H
#define CM_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

/* Longest digest user name or realm beckon accepts. */
#define CM_DIGEST_NAME_MAX 128

enum cm_digest_alg {
	CM_DIGEST_MD5,	  /* 16 bytes, 32 hex digits */
	CM_DIGEST_SHA256, /* 32 bytes, 64 hex digits */
};

/*
 * Writes the first `digits` lower-case hex digits of the hash of parts[0..n) joined by sep
 * (parts are NUL-terminated strings; sep '\0' joins them with nothing) to out, NUL-terminated:
 * out must hold digits + 1 bytes. digits must be even and at most the digest's length in hex.
 * Returns 0, -EINVAL for a bad digits, -ENOMEM or -EIO when OpenSSL fails.
 */
int cm_digest_hex(enum cm_digest_alg alg, const char *const *parts, size_t n, char sep, char *out,
		  size_t digits);

/*
 * Whether s (NULL: no) can be a digest user name or realm: 1 to CM_DIGEST_NAME_MAX printable
 * ASCII characters without space, '"', '\' or ':', so it sits unquoted-safe in a quoted
 * Authorization/WWW-Authenticate parameter, in "user:realm:password" and in the credential key
 * beckon:cred:<realm>:<user> (proto/redis.md).
 */
bool cm_digest_name_ok(const char *s);

#endif
