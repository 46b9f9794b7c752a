/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: POST /v1/callbacks bodies (gw_request_parse). Properties: a refusal is a 400
 * with a detail (or -ENOMEM / -EIO, never anything else); an accepted body yields a
 * contact-me payload that cm_payload_parse accepts with the same request id, and its
 * normalised JSON is a fixed point: parsing it again gives the same normalised JSON and the
 * same payload, which is what makes the stored record independent of the client's spelling.
 */
#include <errno.h>
#include <string.h>

#include "cm/err.h"
#include "gw_request.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gw_request r, again;
	struct cm_payload p;
	char detail[GW_DETAIL_MAX];
	const char *why;
	int rc;

	rc = gw_request_parse((const char *)data, size, &r, detail, sizeof(detail));
	if (rc < 0) {
		FUZZ_CHECK(rc == CM_E_BAD_REQUEST || rc == -ENOMEM || rc == -EIO);
		FUZZ_CHECK(rc != CM_E_BAD_REQUEST || detail[0] != '\0');
		FUZZ_CHECK(memchr(detail, '\0', sizeof(detail)) != NULL);
		FUZZ_CHECK(r.body == NULL);
		return 0;
	}
	FUZZ_CHECK(r.body != NULL && strlen(r.body) == r.body_len);
	FUZZ_CHECK(r.payload_len > 0 && r.payload_len <= CM_PAYLOAD_MAX);
	FUZZ_CHECK(r.n_alt_servers <= CM_PAYLOAD_ALT_MAX);
	FUZZ_CHECK(cm_payload_parse(r.payload, r.payload_len, &p, &why) == 0);
	FUZZ_CHECK(p.request_id.len == strlen(r.request_id) &&
		   memcmp(p.request_id.p, r.request_id, p.request_id.len) == 0);
	FUZZ_CHECK(p.n_alt_server == r.n_alt_servers);

	rc = gw_request_parse(r.body, r.body_len, &again, detail, sizeof(detail));
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(again.body_len == r.body_len && memcmp(again.body, r.body, r.body_len) == 0);
	FUZZ_CHECK(again.payload_len == r.payload_len &&
		   memcmp(again.payload, r.payload, r.payload_len) == 0);
	FUZZ_CHECK(again.device.kind == r.device.kind &&
		   strcmp(again.device.value, r.device.value) == 0);
	FUZZ_CHECK(!again.generated_id);
	gw_request_free(&again);
	gw_request_free(&r);
	return 0;
}
