/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the body of a contact-me NOTIFY as contact-agent handles it (ca_agent.c
 * on_notify / handle_request): the records are walked with cm_payload_next, and each one
 * goes through the duplicate filter (ca_dedup_seen), its time-slot (ca_slot_parse,
 * ca_slot_decide) and the callback plan against a fixed trust list (ca_plan_build), with and
 * without a default-server, once the whole body passed the agent's record check.
 * Properties: the record walk always moves forward and ends; a
 * request just recorded is seen again; a time-slot the payload parser accepted is one the
 * agent can read (same instants), and the decision agrees with the window; a plan only
 * holds http(s) URLs, never more targets than the payload names, and a JSON object body.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "ca_dedup.h"
#include "ca_plan.h"
#include "ca_slot.h"
#include "ca_trust.h"
#include "ca_valid.h"
#include "cm/payload.h"
#include "fuzz.h"

#define NOW_MS 1767225600000 /* 2026-01-01T00:00:00Z */

static const char trusted[] = "as.example.com:443, [2001:db8::1]:8443, 192.0.2.7:80, "
			      "127.0.0.1:9000";

static void check_plan(const struct cm_payload *p, const struct ca_trust *trust,
		       const char *default_server)
{
	static struct ca_plan plan;
	json_t *body;
	int rc;

	rc = ca_plan_build(p, trust, "urn:dev:mac:001122334455", "sip:7546658000@example.com",
			   default_server, &plan);
	if (rc < 0) {
		FUZZ_CHECK(rc == -ENOENT || rc == -EINVAL || rc == -ENOMEM);
		FUZZ_CHECK(rc != -ENOENT || (!p->server.p && !default_server));
		FUZZ_CHECK(plan.body == NULL);
		ca_plan_free(&plan);
		return;
	}
	FUZZ_CHECK(plan.n_target + plan.n_refused <= 1 + p->n_alt_server);
	for (size_t i = 0; i < plan.n_target; i++) {
		const char *u = plan.target[i].url;

		FUZZ_CHECK(memchr(u, '\0', sizeof(plan.target[i].url)) != NULL);
		FUZZ_CHECK(strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0);
		FUZZ_CHECK(memchr(plan.target[i].hostport, '\0', CA_HOSTPORT_MAX) != NULL);
	}
	for (size_t i = 0; i < plan.n_refused; i++)
		FUZZ_CHECK(memchr(plan.refused[i], '\0', CA_HOSTPORT_MAX) != NULL);
	FUZZ_CHECK(plan.body != NULL);
	body = json_loads(plan.body, JSON_REJECT_DUPLICATES, NULL);
	FUZZ_CHECK(json_is_object(body));
	json_decref(body);
	ca_plan_free(&plan);
}

static void check_slot(const struct cm_payload *p)
{
	int64_t s1, e1, s2, e2;
	uint64_t delay = 0;

	if (!p->time_slot.p)
		return;
	/* The payload parser accepted the value, so the agent must be able to read it. */
	FUZZ_CHECK(cm_payload_time_slot(p->time_slot.p, p->time_slot.len, &s1, &e1) == 0);
	FUZZ_CHECK(ca_slot_parse(p->time_slot.p, p->time_slot.len, &s2, &e2) == 0);
	FUZZ_CHECK(s1 == s2 && e1 == e2 && s2 <= e2);
	switch (ca_slot_decide(s2, e2, NOW_MS, &delay)) {
	case CA_SLOT_NOW:
		FUZZ_CHECK(s2 <= NOW_MS && NOW_MS < e2);
		break;
	case CA_SLOT_LATER:
		FUZZ_CHECK(s2 > NOW_MS && delay == (uint64_t)(s2 - NOW_MS));
		break;
	case CA_SLOT_OVER:
		FUZZ_CHECK(e2 <= NOW_MS);
		break;
	}
}

/* valid-until the parser accepted is readable by the agent, and the decision matches it. */
static void check_valid(const struct cm_payload *p)
{
	int64_t until;

	switch (ca_valid_decide(p->valid_until.p, p->valid_until.len, NOW_MS, 30, &until)) {
	case CA_VALID_OK:
		FUZZ_CHECK(!p->valid_until.p || until + 30000 > NOW_MS);
		break;
	case CA_VALID_EXPIRED:
		FUZZ_CHECK(p->valid_until.p && until + 30000 <= NOW_MS);
		break;
	case CA_VALID_UNREADABLE:
		FUZZ_CHECK(0);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ca_trust trust;
	static struct ca_dedup dedup;
	static bool ready;
	const char *body = (const char *)data, *why = NULL;
	struct cm_payload p;
	uint64_t now = 1;
	size_t pos = 0, last;
	int rc, n = 0;
	char err[128];

	if (!ready) {
		FUZZ_CHECK(ca_trust_parse(trusted, &trust, err, sizeof(err)) == 4);
		ready = true;
	}
	/* Pass 1, check_records: the body is refused whole (400) if any record is bad or there
	 * are more than CM_PAYLOAD_RECORDS_MAX (the agent counts; cm_payload_next cannot). */
	for (;;) {
		last = pos;
		rc = cm_payload_next(body, size, &pos, &p, &why);
		if (rc <= 0)
			break;
		FUZZ_CHECK(pos > last && pos <= size);
		FUZZ_CHECK(p.request_id.p != NULL && p.request_id.len > 0);
		if (++n > CM_PAYLOAD_RECORDS_MAX)
			return 0;
	}
	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	FUZZ_CHECK(rc == 0 || why != NULL);
	if (rc < 0 || n == 0)
		return 0;
	/* Pass 2, handle_records: each request as handle_request treats it. */
	memset(&dedup, 0, sizeof(dedup));
	pos = 0;
	n = 0;
	while (cm_payload_next(body, size, &pos, &p, &why) == 1) {
		n++;
		if (!ca_dedup_seen(&dedup, p.request_id.p, p.request_id.len, p.server.p,
				   p.server.len, now) &&
		    p.request_id.len <= CA_REQUEST_ID_MAX)
			FUZZ_CHECK(ca_dedup_seen(&dedup, p.request_id.p, p.request_id.len,
						 p.server.p, p.server.len, now + 1));
		now += 1000;
		check_slot(&p);
		check_valid(&p);
		check_plan(&p, &trust, (n % 2) ? NULL : "192.0.2.7:80");
	}
	return 0;
}
