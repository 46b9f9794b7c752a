/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rendering of a stored callback request (the beckon:req:<id> hash of proto/redis.md) as the
 * JSON of GET /v1/callbacks/{id} (proto/rest.md). Pure: takes the field/value pairs that
 * HGETALL returned, so it is unit-tested without Redis.
 */
#ifndef GW_RECORD_H
#define GW_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cm/str.h"

/* At most this many target:<binding-id> fields are rendered (the script stores fewer). */
#define GW_RECORD_TARGETS_MAX 64

/*
 * kv holds n field/value pairs as 2*n borrowed views (field, value, field, value, ...).
 * Returns a new JSON object (caller decrefs) or NULL on ENOMEM. Unknown fields are left
 * out; absent times and statuses become null.
 */
json_t *gw_record_render(const struct cm_str *kv, size_t n);

/* Formats epoch milliseconds as RFC 3339 UTC with milliseconds ("2026-11-26T08:00:00.000Z").
 * Returns the length, or -EINVAL / -ENOSPC. */
int gw_record_time(int64_t ms, char *buf, size_t size);

#endif
