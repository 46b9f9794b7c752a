/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: a beckon:req hash read back from Redis (gw_record_render). The input is
 * split at '\n' into field, value, field, value, ... (so seeds stay readable). Each view is
 * copied into its own allocation of exactly its length, so a read past the end of any one
 * field or value is caught, as it would be in a hiredis reply. Property: the result is NULL
 * only for ENOMEM, and otherwise an object that serialises.
 */
#include <string.h>

#include <jansson.h>

#include "gw_record.h"
#include "fuzz.h"

/* HGETALL of a request hash has about a dozen fields plus one per target. */
#define FIELDS_MAX 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cm_str kv[2 * FIELDS_MAX];
	size_t nv = 0, start = 0;
	json_t *out;
	char *text;

	for (size_t i = 0; i <= size && nv < 2 * FIELDS_MAX; i++) {
		char *copy;
		size_t len;

		if (i < size && data[i] != '\n')
			continue;
		len = i - start;
		/* glibc and ASan give a distinct pointer for 0 bytes, which ASan guards. */
		copy = malloc(len);
		if (!copy)
			break;
		if (len)
			memcpy(copy, data + start, len);
		kv[nv++] = (struct cm_str){copy, len};
		start = i + 1;
	}
	/* An odd trailing field has no value: HGETALL never returns one. */
	if (nv % 2) {
		nv--;
		free((char *)kv[nv].p);
	}
	out = gw_record_render(kv, nv / 2);
	FUZZ_CHECK(out != NULL && json_is_object(out));
	FUZZ_CHECK(json_is_array(json_object_get(out, "targets")));
	FUZZ_CHECK(json_array_size(json_object_get(out, "targets")) <= GW_RECORD_TARGETS_MAX);
	text = json_dumps(out, JSON_COMPACT);
	FUZZ_CHECK(text != NULL);
	free(text);
	json_decref(out);
	for (size_t i = 0; i < nv; i++)
		free((char *)kv[i].p);
	return 0;
}
