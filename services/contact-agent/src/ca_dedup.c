/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ring of recent requests. A linear scan: an agent sees a few requests a minute and
 * 512 short compares cost well under a microsecond each time.
 */
#include <string.h>

#include "ca_dedup.h"

static uint64_t fnv1a(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	if (!s)
		return 0;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h ? h : 1;
}

bool ca_dedup_seen(struct ca_dedup *d, const char *id, size_t id_len, const char *server,
		   size_t server_len, uint64_t now_ms)
{
	uint64_t sh = fnv1a(server, server_len);
	struct ca_dedup_entry *e;

	if (id_len == 0 || id_len > CA_REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < CA_DEDUP_SLOTS; i++) {
		e = &d->e[i];
		if (e->at && e->len == id_len && e->server == sh &&
		    memcmp(e->id, id, id_len) == 0 && now_ms - e->at < CA_DEDUP_WINDOW_MS)
			return true;
	}
	e = &d->e[d->next];
	d->next = (d->next + 1) % CA_DEDUP_SLOTS;
	e->at = now_ms;
	e->server = sh;
	e->len = (unsigned char)id_len;
	memcpy(e->id, id, id_len);
	return false;
}
