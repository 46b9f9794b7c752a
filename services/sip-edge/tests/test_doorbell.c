/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the doorbell parser (se_notify_parse_doorbell): "<ref> <bid> <entry-id>", the
 * older "<ref> <bid>" without an entry, and malformed entry ids. */
#include <string.h>

#include "../../../common/tests/check.h"
#include "se_notify.h"

#define BID "0123456789abcdef0123456789abcdef"

static int parse(const char *msg, char *ref, char *bid, char *entry)
{
	return se_notify_parse_doorbell(msg, strlen(msg), ref, bid, entry);
}

int main(void)
{
	char ref[SE_REF_MAX + 1], bid[SE_BINDING_ID_LEN + 1], entry[SE_ENTRY_ID_MAX + 1];

	CHECK(parse("default:app-1 " BID " 1795689600000-0", ref, bid, entry) == 0);
	CHECK(strcmp(ref, "default:app-1") == 0, "ref %s", ref);
	CHECK(strcmp(bid, BID) == 0);
	CHECK(strcmp(entry, "1795689600000-0") == 0, "entry %s", entry);

	/* The older form: no entry, the caller only rings. */
	CHECK(parse("default:app-1 " BID, ref, bid, entry) == 0);
	CHECK(strcmp(ref, "default:app-1") == 0 && entry[0] == '\0');
	/* An all-digit binding id is not an entry id (no dash). */
	CHECK(parse("a:b 01234567890123456789012345678901", ref, bid, entry) == 0);
	CHECK(strcmp(ref, "a:b") == 0 && entry[0] == '\0');

	/* Malformed entry ids or binding ids. */
	CHECK(parse("default:app-1 " BID " 17-", ref, bid, entry) < 0);
	CHECK(parse("default:app-1 " BID " -17", ref, bid, entry) < 0);
	CHECK(parse("default:app-1 " BID " 1-2-3", ref, bid, entry) < 0);
	CHECK(parse("default:app-1 " BID " 1x-2", ref, bid, entry) < 0);
	CHECK(parse("default:app-1 " BID " ", ref, bid, entry) < 0);
	CHECK(parse("default:app-1 0123 17-0", ref, bid, entry) < 0);
	CHECK(parse(BID " 17-0", ref, bid, entry) < 0);
	CHECK(parse("17-0", ref, bid, entry) < 0);
	CHECK(parse("", ref, bid, entry) < 0);
	CHECK(parse("default:app-1 " BID " 123456789012345678901-123456789012345678901", ref, bid,
		    entry) < 0);
	CHECK(parse("default:app-1 " BID " 12345678901234567890-12345678901234567890", ref, bid,
		    entry) == 0);
	CHECK(strlen(entry) == SE_ENTRY_ID_MAX);
	return check_done();
}
