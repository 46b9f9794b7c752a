/* SPDX-License-Identifier: Apache-2.0 */
/*
 * valid-until (proto/contact-me.md): the request's deadline, written by beckon into the
 * payload. A NOTIFY can reach the endpoint after it (sip-edge retransmitting into a network
 * partition that heals late); by then the API already says "expired", so calling back would
 * contradict it. The decision is pure (the clock is a parameter) and unit-tested; the
 * tolerance clock-skew covers an endpoint clock that is behind or ahead of beckon's.
 */
#ifndef CA_VALID_H
#define CA_VALID_H

#include <stddef.h>
#include <stdint.h>

enum ca_valid_when {
	CA_VALID_OK,	     /* no valid-until (an older beckon), or not yet past: call back */
	CA_VALID_EXPIRED,    /* valid_until + skew_s <= now: answer 200 but do not call back */
	CA_VALID_UNREADABLE, /* does not parse (the payload parser already refuses this) */
};

/*
 * Decides for the valid-until value v[0..len) (v NULL: absent) at wall-clock time now_ms,
 * with skew_s seconds of tolerance. *until_ms gets the parsed value (0 when absent).
 */
enum ca_valid_when ca_valid_decide(const char *v, size_t len, int64_t now_ms, long skew_s,
				   int64_t *until_ms);

#endif
