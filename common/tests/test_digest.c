/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of cm_digest: hex digests against known vectors (RFC 1321's MD5 of "abc", FIPS
 * 180-2's SHA-256 of "abc", RFC 2617's HA1 example) including joining and truncation, bad
 * arguments, and the digest user/realm name check.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "cm/digest.h"

int main(void)
{
	char out[65], name[CM_DIGEST_NAME_MAX + 2];
	const char *abc[] = {"abc"}, *split[] = {"a", "b", "c"};
	const char *ha1[] = {"Mufasa", "testrealm@host.com", "Circle Of Life"};

	CHECK(cm_digest_hex(CM_DIGEST_MD5, abc, 1, '\0', out, 32) == 0 &&
	      strcmp(out, "900150983cd24fb0d6963f7d28e17f72") == 0);
	CHECK(cm_digest_hex(CM_DIGEST_MD5, split, 3, '\0', out, 32) == 0 &&
		  strcmp(out, "900150983cd24fb0d6963f7d28e17f72") == 0,
	      "parts joined with nothing");
	CHECK(cm_digest_hex(CM_DIGEST_SHA256, abc, 1, '\0', out, 64) == 0 &&
	      strcmp(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
	/* RFC 2617 section 3.5: HA1 = MD5("Mufasa:testrealm@host.com:Circle Of Life"). */
	CHECK(cm_digest_hex(CM_DIGEST_MD5, ha1, 3, ':', out, 32) == 0 &&
		  strcmp(out, "939e7578ed9e3c518a452acee763bce9") == 0,
	      "%s", out);
	CHECK(cm_digest_hex(CM_DIGEST_SHA256, abc, 1, '\0', out, 32) == 0 &&
		  strcmp(out, "ba7816bf8f01cfea414140de5dae2223") == 0,
	      "first 32 digits");
	CHECK(cm_digest_hex(CM_DIGEST_MD5, abc, 1, '\0', out, 33) == -EINVAL, "odd digit count");
	CHECK(cm_digest_hex(CM_DIGEST_MD5, abc, 1, '\0', out, 34) == -EINVAL, "longer than MD5");

	CHECK(cm_digest_name_ok("7546658000"));
	CHECK(cm_digest_name_ok("beckon.example.com"));
	CHECK(!cm_digest_name_ok(NULL));
	CHECK(!cm_digest_name_ok(""));
	CHECK(!cm_digest_name_ok("a b"), "space");
	CHECK(!cm_digest_name_ok("a:b"), "colon: would split user:realm:password");
	CHECK(!cm_digest_name_ok("a\"b") && !cm_digest_name_ok("a\\b"), "quote, backslash");
	CHECK(!cm_digest_name_ok("caf\xc3\xa9"), "non-ASCII");
	CHECK(!cm_digest_name_ok("a\x7f"), "DEL");
	memset(name, 'u', CM_DIGEST_NAME_MAX);
	name[CM_DIGEST_NAME_MAX] = '\0';
	CHECK(cm_digest_name_ok(name), "the longest");
	name[CM_DIGEST_NAME_MAX] = 'u';
	name[CM_DIGEST_NAME_MAX + 1] = '\0';
	CHECK(!cm_digest_name_ok(name), "one too long");
	return check_done();
}
