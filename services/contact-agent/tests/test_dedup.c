/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the recent-request ring: duplicates within the window, the window's end,
 * servers kept apart, and the bound. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca_dedup.h"

#include "../../../common/tests/check.h"

static bool seen(struct ca_dedup *d, const char *id, const char *server, uint64_t now)
{
	return ca_dedup_seen(d, id, strlen(id), server, server ? strlen(server) : 0, now);
}

int main(void)
{
	struct ca_dedup *d = calloc(1, sizeof(*d));
	char id[32];

	if (!d)
		return 1;
	CHECK(!seen(d, "r1", "127.0.0.1:9000", 1000));
	CHECK(seen(d, "r1", "127.0.0.1:9000", 2000));
	CHECK(seen(d, "r1", "127.0.0.1:9000", 1000 + CA_DEDUP_WINDOW_MS - 1));
	/* The window runs from the first sighting, so it ends. */
	CHECK(!seen(d, "r1", "127.0.0.1:9000", 1000 + CA_DEDUP_WINDOW_MS));
	CHECK(seen(d, "r1", "127.0.0.1:9000", 1000 + CA_DEDUP_WINDOW_MS + 5));

	/* Same id, another server or none: another request. */
	CHECK(!seen(d, "r2", "a.example:443", 5000));
	CHECK(!seen(d, "r2", "b.example:443", 5000));
	CHECK(!seen(d, "r2", NULL, 5000));
	CHECK(seen(d, "r2", NULL, 5001));
	CHECK(seen(d, "r2", "b.example:443", 5001));
	/* Ids differ by prefix or case. */
	CHECK(!seen(d, "r", NULL, 5002));
	CHECK(!seen(d, "R2", NULL, 5002));

	/* Empty and oversized ids are never recorded. */
	CHECK(!ca_dedup_seen(d, "", 0, NULL, 0, 6000));
	CHECK(!ca_dedup_seen(d, "", 0, NULL, 0, 6001));
	{
		char big[CA_REQUEST_ID_MAX + 1];

		memset(big, 'x', sizeof(big));
		CHECK(!ca_dedup_seen(d, big, sizeof(big), NULL, 0, 6000));
		CHECK(!ca_dedup_seen(d, big, sizeof(big), NULL, 0, 6001));
		CHECK(!ca_dedup_seen(d, big, CA_REQUEST_ID_MAX, NULL, 0, 6000));
		CHECK(ca_dedup_seen(d, big, CA_REQUEST_ID_MAX, NULL, 0, 6001));
	}

	/* Bounded: after CA_DEDUP_SLOTS newer requests the oldest is forgotten. */
	memset(d, 0, sizeof(*d));
	CHECK(!seen(d, "first", NULL, 10));
	for (int i = 0; i < CA_DEDUP_SLOTS - 1; i++) {
		snprintf(id, sizeof(id), "fill-%d", i);
		CHECK(!seen(d, id, NULL, 20));
	}
	CHECK(seen(d, "first", NULL, 30));
	CHECK(!seen(d, "one-more", NULL, 40)); /* overwrites "first" */
	CHECK(!seen(d, "first", NULL, 50));
	CHECK(seen(d, "fill-100", NULL, 60));

	free(d);
	return check_done();
}
