/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the valid-until decision with a fixed clock: absent, before, at and after
 * the deadline, the clock-skew tolerance at its bounds, and unreadable values. */
#include <string.h>

#include "ca_valid.h"

#include "../../../common/tests/check.h"

/* 2026-11-26T10:00:00Z */
#define T0 1795687200000LL

static enum ca_valid_when at(const char *v, int64_t now, long skew, int64_t *until)
{
	return ca_valid_decide(v, v ? strlen(v) : 0, now, skew, until);
}

int main(void)
{
	int64_t u;

	CHECK(at(NULL, T0 + 86400000LL, 30, &u) == CA_VALID_OK && u == 0,
	      "no valid-until (older beckon): call back as before");
	CHECK(at("2026-11-26T10:00:00Z", T0 - 1, 0, &u) == CA_VALID_OK && u == T0);
	CHECK(at("2026-11-26T10:00:00Z", T0, 0, &u) == CA_VALID_EXPIRED,
	      "at the deadline the API already says expired");
	CHECK(at("2026-11-26T10:00:00Z", T0 + 29999, 30, &u) == CA_VALID_OK, "within the skew");
	CHECK(at("2026-11-26T10:00:00Z", T0 + 30000, 30, &u) == CA_VALID_EXPIRED);
	CHECK(at("2026-11-26T10:00:00Z", T0 + 3599999LL, 3600, &u) == CA_VALID_OK);
	CHECK(at("2026-11-26T10:00:00Z", T0 + 3600000LL, 3600, &u) == CA_VALID_EXPIRED);
	CHECK(at("2026-11-26T12:00:00+02:00", T0 + 1, 0, &u) == CA_VALID_EXPIRED && u == T0,
	      "an offset is honoured");
	CHECK(at("2026-11-26T10:00:00.5Z", T0 + 499, 0, &u) == CA_VALID_OK && u == T0 + 500);
	CHECK(at("2026-11-26 10:00:00Z", T0, 30, &u) == CA_VALID_UNREADABLE);
	CHECK(at("2026-13-26T10:00:00Z", T0, 30, &u) == CA_VALID_UNREADABLE);
	CHECK(at("", T0, 30, &u) == CA_VALID_UNREADABLE);
	CHECK(at("2026-11-26T10:00:00", T0, 30, &u) == CA_VALID_UNREADABLE, "no zone");
	return check_done();
}
