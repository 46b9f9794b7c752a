/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request sanity checks in front of the registrar: a per-address rate limit, then what nta
 * and sofia's parser let through (RFC 4475 and RFC 5118 torture cases; docs/robustness.md
 * lists them): a request line with extra whitespace, a Request-URI with headers or a port
 * above 65535, an unknown Request-URI scheme (416), a Require of any option tag (420 with
 * Unsupported), Max-Forwards above 255, a header sofia could not parse that nta let through
 * (a Date not in GMT), whitespace inside a name-addr's angle brackets, a CSeq method that is
 * not the request's, a REGISTER Contact URI carrying headers. nta itself already answers
 * missing headers, bad Content-Length, headers it cannot parse (400) and other SIP versions
 * (505).
 */
#ifndef SE_SANITY_H
#define SE_SANITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/sip.h>

#define SE_SANITY_UNSUPPORTED_MAX 256 /* bytes of the Unsupported value of a 420 */

/*
 * Requests one source address may send by default: a token bucket per address, SE_SANITY_RATE
 * per second with bursts of SE_SANITY_BURST (se_sanity_set_rate changes them). Generous for
 * endpoints (a UA re-registers every few minutes; a thousand phones behind one NAT booting together
 * fit in the burst) and cheap to enforce, so one flooding address cannot take sip-edge's time from
 * every other: beyond it requests are dropped right after nta parsed them, before any Redis work or
 * logging.
 */
#define SE_SANITY_RATE 500
#define SE_SANITY_BURST 1000
#define SE_SANITY_SOURCES 4096 /* addresses tracked at once (2-way hashed slots) */

struct se_rate_slot {
	uint8_t addr[16]; /* IPv6, or IPv4-mapped */
	bool used, limited;
	int64_t tokens;	 /* thousandths of a request */
	int64_t last_ms; /* last refill */
	uint64_t dropped;
};

struct se_rate_table {
	unsigned rate, burst; /* rate 0: no limit */
	struct se_rate_slot slot[SE_SANITY_SOURCES];
};

enum { SE_RATE_OK, SE_RATE_LIFTED, SE_RATE_LIMITED, SE_RATE_DROP };

struct se_sanity_verdict {
	int status;				     /* 0: the request may go on */
	const char *phrase;			     /* static string */
	char unsupported[SE_SANITY_UNSUPPORTED_MAX]; /* for 420: option tags, comma-separated */
};

/*
 * Checks one parsed request (sip borrowed; ACKs are never refused). Returns 0 when it may go
 * on, or the status to answer (400, 416, 420) with v filled. Pure: no I/O, no logging.
 */
int se_sanity_check(const sip_t *sip, struct se_sanity_verdict *v);

/*
 * Sets the per-address limit of se_sanity_reject (default SE_SANITY_RATE, SE_SANITY_BURST)
 * and forgets every address; rate 0 turns it off (load tests from one address). Call before
 * the agent delivers requests.
 */
void se_sanity_set_rate(unsigned rate, unsigned burst);

/*
 * Charges one request from addr (16 bytes) at now_ms (monotonic) to table t (slots zeroed
 * before first use, rate and burst set). Returns SE_RATE_OK, SE_RATE_LIFTED (allowed, and the
 * address was limited until now), SE_RATE_LIMITED (dropped, first of an episode) or SE_RATE_DROP
 * (dropped).
 */
int se_sanity_rate(struct se_rate_table *t, const uint8_t addr[16], int64_t now_ms);

/* Requests dropped from addr in its current or last episode (0 if not tracked). */
uint64_t se_sanity_rate_dropped(const struct se_rate_table *t, const uint8_t addr[16]);

/*
 * Makes the agent's parser keep each header's original bytes (MSG_DO_EXTRACT_COPY in
 * NTATAG_SIPFLAGS), which the request-line and name-addr checks read. Call it right after
 * nta_agent_create; se_sanity_reject also calls it once per agent as a fallback, so without
 * that call only the first request delivered is checked on parsed values alone.
 * Returns 0 or -EINVAL.
 */
int se_sanity_agent_init(nta_agent_t *agent);

/*
 * The message callback's guard: drops requests over the source's rate (taking msg), then runs
 * se_sanity_check and, if the request is refused, logs it, answers it statelessly (taking
 * msg) and returns 1. Returns 0, msg untouched, when the
 * request may go on. Must be called inside nta's message callback (the reply uses the
 * transport the request is being delivered on).
 */
int se_sanity_reject(nta_agent_t *agent, msg_t *msg, sip_t *sip);

#endif
