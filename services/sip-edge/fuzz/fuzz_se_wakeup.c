/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: a wake-up read back from Redis pub/sub, "<ref> <binding-id> [<entry-id>]" on
 * beckon:edge:<edge-id> (se_notify_parse_doorbell, se_notify_parse_wakeup, se_ref_valid). This is
 * the only part of the edge's read-back side that is a pure function: the binding and request
 * hashes are read field by field from hiredis replies inside se_notify.c. Properties: an accepted
 * message is exactly ref, one space, binding id; the ref is valid on its own; the binding id is 32
 * lower-case hex digits.
 */
#include <string.h>

#include "fuzz.h"
#include "se_notify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char ref[SE_REF_MAX + 1], bid[SE_BINDING_ID_LEN + 1];
	const char *msg = (const char *)data;
	size_t rlen;

	char entry[SE_ENTRY_ID_MAX + 1];

	/* The doorbell form: an accepted entry id is digits, one dash, digits, after a space. */
	if (se_notify_parse_doorbell(msg, size, ref, bid, entry) == 0 && entry[0]) {
		size_t elen = strlen(entry);
		FUZZ_CHECK(elen <= SE_ENTRY_ID_MAX && elen + 1 < size);
		FUZZ_CHECK(msg[size - elen - 1] == ' ' &&
			   memcmp(msg + size - elen, entry, elen) == 0);
		FUZZ_CHECK(strchr(entry, '-') && strchr(entry, '-') == strrchr(entry, '-'));
		FUZZ_CHECK(se_ref_valid(ref, strlen(ref)) && strlen(bid) == SE_BINDING_ID_LEN);
	}
	if (se_notify_parse_wakeup(msg, size, ref, bid) < 0)
		return 0;
	rlen = strlen(ref);
	FUZZ_CHECK(rlen >= 1 && rlen <= SE_REF_MAX);
	FUZZ_CHECK(se_ref_valid(ref, rlen));
	FUZZ_CHECK(strlen(bid) == SE_BINDING_ID_LEN);
	for (size_t i = 0; i < SE_BINDING_ID_LEN; i++)
		FUZZ_CHECK((bid[i] >= '0' && bid[i] <= '9') || (bid[i] >= 'a' && bid[i] <= 'f'));
	FUZZ_CHECK(size == rlen + 1 + SE_BINDING_ID_LEN);
	FUZZ_CHECK(memcmp(msg, ref, rlen) == 0 && msg[rlen] == ' ');
	FUZZ_CHECK(memcmp(msg + rlen + 1, bid, SE_BINDING_ID_LEN) == 0);
	return 0;
}
