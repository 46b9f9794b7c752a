/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: device ids (cm_device_parse) and AOR normalisation (cm_aor_normalize). The
 * property that matters is that normalisation is idempotent: sip-edge normalises what it
 * registers, api-gateway what it is asked for, and both must land on the same Redis key.
 * The first input byte picks the output buffer size for cm_aor_normalize, so the -ENOSPC
 * path is exercised with buffers of every size.
 */
#include <errno.h>
#include <string.h>

#include "cm/device.h"
#include "fuzz.h"

static void check_device(const uint8_t *data, size_t size)
{
	struct cm_device d, again;
	char key[CM_DEVICE_MAX + 64];
	char urn[CM_DEVICE_MAX + 16];
	const char *why = NULL;
	size_t vlen;

	if (cm_device_parse((const char *)data, size, &d, &why) < 0) {
		FUZZ_CHECK(why != NULL);
		return;
	}
	vlen = strlen(d.value);
	FUZZ_CHECK(vlen > 0 && vlen <= CM_DEVICE_MAX);
	FUZZ_CHECK(cm_device_key(&d, key, sizeof(key)) > 0);
	if (d.kind == CM_DEV_MAC) {
		/* Twelve decimal digits alone read as a number: re-parse the explicit form. */
		FUZZ_CHECK(vlen == 12);
		memcpy(urn, "urn:dev:mac:", 12);
		memcpy(urn + 12, d.value, 13);
		FUZZ_CHECK(cm_device_parse(urn, 24, &again, &why) == 0);
	} else {
		FUZZ_CHECK(cm_device_parse(d.value, vlen, &again, &why) == 0);
	}
	FUZZ_CHECK(again.kind == d.kind && strcmp(again.value, d.value) == 0);
}

static void check_aor(const uint8_t *data, size_t size)
{
	char out[CM_DEVICE_MAX * 2], again[CM_DEVICE_MAX * 2];
	size_t outsize;
	int rc;

	if (size < 1)
		return;
	outsize = data[0] == 0xff ? sizeof(out) : data[0] % sizeof(out);
	rc = cm_aor_normalize((const char *)data + 1, size - 1, out, outsize);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOSPC);
	if (rc < 0)
		return;
	FUZZ_CHECK(strlen(out) < outsize && strlen(out) <= size - 1);
	FUZZ_CHECK(cm_aor_normalize(out, strlen(out), again, sizeof(again)) == 0);
	FUZZ_CHECK(strcmp(out, again) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_device(data, size);
	check_aor(data, size);
	return 0;
}
