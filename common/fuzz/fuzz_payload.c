/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the contact-me payload parser (cm_payload_parse), with a round-trip property:
 * whatever parses must re-encode with cm_payload_format (into a body no longer than the
 * input, since only unknown labels are dropped) and parse again to exactly the same fields.
 */
#include <string.h>

#include "cm/payload.h"
#include "fuzz.h"

static void same_fields(const struct cm_payload *a, const struct cm_payload *b)
{
	FUZZ_CHECK(cm_str_eq(a->request_id, b->request_id));
	FUZZ_CHECK(cm_str_eq(a->server, b->server) && !a->server.p == !b->server.p);
	FUZZ_CHECK(cm_str_eq(a->protocol, b->protocol) && !a->protocol.p == !b->protocol.p);
	FUZZ_CHECK(cm_str_eq(a->path, b->path) && !a->path.p == !b->path.p);
	FUZZ_CHECK(cm_str_eq(a->component, b->component) && !a->component.p == !b->component.p);
	FUZZ_CHECK(cm_str_eq(a->time_slot, b->time_slot) && !a->time_slot.p == !b->time_slot.p);
	FUZZ_CHECK(a->n_alt_server == b->n_alt_server);
	for (size_t i = 0; i < a->n_alt_server; i++)
		FUZZ_CHECK(cm_str_eq(a->alt_server[i], b->alt_server[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cm_payload p, q;
	char buf[CM_PAYLOAD_MAX + 1];
	const char *why = "unset";
	int n;

	if (cm_payload_parse((const char *)data, size, &p, &why) < 0) {
		FUZZ_CHECK(why != NULL); /* every refusal carries a reason */
		return 0;
	}
	FUZZ_CHECK(why == NULL);
	FUZZ_CHECK(p.request_id.p != NULL && p.n_alt_server <= CM_PAYLOAD_ALT_MAX);
	n = cm_payload_format(&p, buf, sizeof(buf), &why);
	FUZZ_CHECK(n >= 0);
	FUZZ_CHECK((size_t)n <= size && buf[n] == '\0');
	FUZZ_CHECK(cm_payload_parse(buf, (size_t)n, &q, &why) == 0);
	same_fields(&p, &q);
	return 0;
}
