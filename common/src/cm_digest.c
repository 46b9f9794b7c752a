/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cm_digest_hex (cm/digest.h): EVP over the joined parts, then hex. No intermediate buffer for
 * the joined string: each part and separator is fed to the digest in turn.
 */
#include "cm/digest.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

int cm_digest_hex(enum cm_digest_alg alg, const char *const *parts, size_t n, char sep, char *out,
		  size_t digits)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	int ok;

	if (digits % 2 != 0)
		return -EINVAL;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, alg == CM_DIGEST_SHA256 ? EVP_sha256() : EVP_md5(), NULL);
	for (size_t i = 0; ok && i < n; i++) {
		if (i > 0 && sep)
			ok = EVP_DigestUpdate(ctx, &sep, 1);
		if (ok)
			ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]));
	}
	if (ok)
		ok = EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -EIO;
	if (digits > 2 * (size_t)mdlen)
		return -EINVAL;
	for (size_t i = 0; i < digits / 2; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[digits] = '\0';
	return 0;
}

bool cm_digest_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > CM_DIGEST_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == ':')
			return false;
	}
	return true;
}
