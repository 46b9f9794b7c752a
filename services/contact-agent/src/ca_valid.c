/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The valid-until decision (ca_valid.h). Kept apart from the time-slot window: a time-slot is
 * the app server's wish about when to be called, valid-until is beckon's deadline, and the
 * two fail differently (a missing valid-until is an older beckon, not an error).
 */
#include "ca_valid.h"

#include "cm/payload.h"

enum ca_valid_when ca_valid_decide(const char *v, size_t len, int64_t now_ms, long skew_s,
				   int64_t *until_ms)
{
	int64_t t;

	*until_ms = 0;
	if (!v)
		return CA_VALID_OK;
	if (cm_payload_date_time(v, len, &t) < 0)
		return CA_VALID_UNREADABLE;
	*until_ms = t;
	/* At valid-until itself the API already reports expired (deadline <= now). */
	return t + (int64_t)skew_s * 1000 <= now_ms ? CA_VALID_EXPIRED : CA_VALID_OK;
}
