/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Recently seen callback requests, so that one request reaching the agent twice (a retried
 * NOTIFY, or a state NOTIFY after a SUBSCRIBE listing a request that was already NOTIFYed)
 * is called back once. A fixed ring of the last CA_DEDUP_SLOTS requests, each remembered for
 * CA_DEDUP_WINDOW_MS; when more arrive in that window the oldest are forgotten early. A
 * request is (request-id, server): request ids are unique per API client only, so the same
 * id from two application servers is two requests. Pure; unit-tested.
 */
#ifndef CA_DEDUP_H
#define CA_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ca_plan.h"

#define CA_DEDUP_SLOTS 512
#define CA_DEDUP_WINDOW_MS (10 * 60 * 1000)

struct ca_dedup_entry {
	uint64_t at;	   /* when it was recorded (ms, caller's clock); 0 = empty */
	uint64_t server;   /* hash of the server label (FNV-1a), 0 when absent */
	unsigned char len; /* of id */
	char id[CA_REQUEST_ID_MAX];
};

/* Zero-initialise (= {0} or memset) before use; no destructor. */
struct ca_dedup {
	struct ca_dedup_entry e[CA_DEDUP_SLOTS];
	size_t next; /* slot to overwrite */
};

/*
 * Returns true when (id, server) was recorded within the window before now_ms (nothing is
 * changed then, so the window runs from the first sighting); otherwise records it and
 * returns false. id longer than CA_REQUEST_ID_MAX is never recorded (false). now_ms must be
 * > 0 and never go backwards (a monotonic clock).
 */
bool ca_dedup_seen(struct ca_dedup *d, const char *id, size_t id_len, const char *server,
		   size_t server_len, uint64_t now_ms);

#endif
