/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request sanity checks in front of the registrar. sofia's parser is lenient by design: it
 * accepts a request line with runs of spaces, "< sip:... >", any Date zone, a Request-URI
 * carrying ?headers, and nta passes every Require through to the application. The RFC 4475
 * torture messages that exercise those (lwsstart, trws, badaspec, baddate, escruri, unkscm,
 * novelsc, bext01, regescrt) must be refused, so they are checked here, on the parsed message plus,
 * where only the original bytes tell, each header's raw fragment (h_data). sofia keeps that
 * fragment only when the parser runs with MSG_DO_EXTRACT_COPY (se_sanity_agent_init); without
 * it the raw checks are skipped, never guessed.
 *
 * Order follows RFC 3261 8.2: malformed requests get 400 whatever their method; the
 * Request-URI scheme (416) and Require (420) are only inspected for the methods the
 * registrar serves, since any other method gets 405 first (8.2.1).
 *
 * Before all that, the per-address token bucket (se_sanity.h): a flood from one address is
 * dropped here, right after nta parsed it, so it costs no Redis work and no log line each.
 */
#include "se_sanity.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_tagarg.h>

#include "cm/log.h"

/* RFC 3261 20.22: Max-Forwards is an integer in the range 0-255. */
#define MAX_FORWARDS_MAX 255

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The raw bytes sofia parsed a header from, without the trailing CRLF; false if none. */
static bool raw_of(const msg_common_t *h, const char **s, size_t *n)
{
	if (!h || !h->h_data || !h->h_len)
		return false;
	*s = h->h_data;
	*n = h->h_len;
	while (*n && ((*s)[*n - 1] == '\n' || (*s)[*n - 1] == '\r'))
		(*n)--;
	return true;
}

/* Request-Line = Method SP Request-URI SP SIP-Version CRLF: exactly two single spaces. */
static bool request_line_ok(const sip_request_t *rq)
{
	const char *s;
	size_t n, spaces = 0;

	if (!raw_of(rq->rq_common, &s, &n))
		return true; /* not from the wire: nothing to judge */
	for (size_t i = 0; i < n; i++) {
		if (s[i] == ' ') {
			if (i == 0 || i + 1 == n || s[i - 1] == ' ')
				return false;
			spaces++;
		} else if (is_ws(s[i])) {
			return false;
		}
	}
	return spaces == 2;
}

/* A port, when present, is 1-5 digits up to 65535: sofia refuses non-digits itself but takes
 * any number ("sip:a@example.com:99999"). */
static bool port_ok(const char *port)
{
	unsigned long v = 0;
	size_t i;

	if (!port)
		return true;
	for (i = 0; port[i]; i++) {
		if (port[i] < '0' || port[i] > '9' || i >= 5)
			return false;
		v = v * 10 + (unsigned long)(port[i] - '0');
	}
	return i > 0 && v <= 65535;
}

/* No whitespace just inside the angle brackets of a name-addr (RAQUOT/LAQUOT carry it
 * outside only); quoted display names are skipped. */
static bool angles_ok(const msg_common_t *h)
{
	const char *s;
	size_t n;
	bool quoted = false;

	if (!raw_of(h, &s, &n))
		return true;
	for (size_t i = 0; i < n; i++) {
		if (quoted) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				quoted = false;
		} else if (s[i] == '"') {
			quoted = true;
		} else if (s[i] == '<' && i + 1 < n && is_ws(s[i + 1])) {
			return false;
		} else if (s[i] == '>' && i > 0 && is_ws(s[i - 1])) {
			return false;
		}
	}
	return true;
}

static bool contacts_ok(const sip_contact_t *m)
{
	for (; m; m = m->m_next) {
		if (!angles_ok(m->m_common))
			return false;
	}
	return true;
}

static bool contacts_plain(const sip_contact_t *m)
{
	for (; m; m = m->m_next) {
		if (m->m_url->url_headers)
			return false;
	}
	return true;
}

/* Lists every Require option tag into v->unsupported; none is supported yet. Tags that do
 * not fit are left out (the 420 is still right, the list just shorter). */
static void unsupported_of(const sip_require_t *rq, struct se_sanity_verdict *v)
{
	size_t len = 0;

	v->unsupported[0] = '\0';
	for (; rq; rq = rq->k_next) {
		for (size_t i = 0; rq->k_items && rq->k_items[i]; i++) {
			size_t n = strlen(rq->k_items[i]);
			if (len + n + 3 > sizeof(v->unsupported))
				return;
			if (len) {
				memcpy(v->unsupported + len, ", ", 2);
				len += 2;
			}
			memcpy(v->unsupported + len, rq->k_items[i], n);
			len += n;
			v->unsupported[len] = '\0';
		}
	}
}

static int verdict(struct se_sanity_verdict *v, int status, const char *phrase)
{
	v->status = status;
	v->phrase = phrase;
	return status;
}

int se_sanity_check(const sip_t *sip, struct se_sanity_verdict *v)
{
	const sip_request_t *rq = sip->sip_request;
	const url_t *ru;
	bool served;

	v->status = 0;
	v->phrase = NULL;
	v->unsupported[0] = '\0';
	if (!rq || rq->rq_method == sip_method_ack)
		return 0;
	ru = rq->rq_url;
	if (!request_line_ok(rq))
		return verdict(v, 400, "Bad Request-Line");
	if (!ru || !port_ok(ru->url_port))
		return verdict(v, 400, "Bad Request-URI");
	/* RFC 3261 19.1.5: headers are not allowed in a Request-URI. */
	if (ru->url_headers)
		return verdict(v, 400, "Bad Request-URI Headers");
	if (sip->sip_cseq && (sip->sip_cseq->cs_method != rq->rq_method ||
			      (rq->rq_method == sip_method_unknown &&
			       (!sip->sip_cseq->cs_method_name || !rq->rq_method_name ||
				strcmp(sip->sip_cseq->cs_method_name, rq->rq_method_name) != 0))))
		return verdict(v, 400, "CSeq Method Mismatch");
	if (sip->sip_max_forwards && sip->sip_max_forwards->mf_count > MAX_FORWARDS_MAX)
		return verdict(v, 400, "Bad Max-Forwards");
	/* Headers sofia could not parse that nta lets through (its bad-request mask leaves out
	 * Date and others): a Date not in GMT (baddate) lands here. */
	if (sip->sip_error)
		return verdict(v, 400, "Bad Header");
	if ((sip->sip_to && !angles_ok(sip->sip_to->a_common)) ||
	    (sip->sip_from && !angles_ok(sip->sip_from->a_common)) ||
	    !contacts_ok(sip->sip_contact))
		return verdict(v, 400, "Bad Address");

	/* A binding's URI becomes a NOTIFY's Request-URI: escaped headers in it (regescrt,
	 * "?Route=...") would turn into headers of our requests, so they are not stored. */
	if (rq->rq_method == sip_method_register && !contacts_plain(sip->sip_contact))
		return verdict(v, 400, "Bad Contact URI Headers");
	served = rq->rq_method == sip_method_register || rq->rq_method == sip_method_subscribe ||
		 rq->rq_method == sip_method_options;
	if (!served)
		return 0;
	if (ru->url_type != url_sip && ru->url_type != url_sips)
		return verdict(v, 416, "Unsupported URI Scheme");
	if (sip->sip_require && rq->rq_method != sip_method_cancel) {
		unsupported_of(sip->sip_require, v);
		/* 420 must list what is unsupported: an empty Require (or one tag too long to
		 * list) is a malformed request instead. */
		if (!v->unsupported[0])
			return verdict(v, 400, "Bad Require");
		return verdict(v, 420, "Bad Extension");
	}
	return 0;
}

int se_sanity_agent_init(nta_agent_t *agent)
{
	unsigned flags = 0;

	if (nta_agent_get_params(agent, NTATAG_SIPFLAGS_REF(flags), TAG_END()) < 1)
		return -EINVAL;
	if (flags & MSG_DO_EXTRACT_COPY)
		return 0;
	if (nta_agent_set_params(agent, NTATAG_SIPFLAGS(flags | MSG_DO_EXTRACT_COPY), TAG_END()) <
	    1)
		return -EINVAL;
	return 0;
}

/* FNV-1a over the 16 address bytes. */
static uint32_t addr_hash(const uint8_t a[16])
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 16; i++)
		h = (h ^ a[i]) * 16777619u;
	return h;
}

static void refill(const struct se_rate_table *t, struct se_rate_slot *s, int64_t now_ms)
{
	int64_t full = (int64_t)t->burst * 1000;

	if (now_ms > s->last_ms) {
		int64_t v = s->tokens + (now_ms - s->last_ms) * (int64_t)t->rate;
		s->tokens = v > full ? full : v;
		s->last_ms = now_ms;
	}
}

int se_sanity_rate(struct se_rate_table *t, const uint8_t addr[16], int64_t now_ms)
{
	uint32_t h = addr_hash(addr);
	struct se_rate_slot *a = &t->slot[h % SE_SANITY_SOURCES];
	struct se_rate_slot *b = &t->slot[(h >> 16 ^ h * 31) % SE_SANITY_SOURCES];
	struct se_rate_slot *s;
	int ret;

	if (!t->rate)
		return SE_RATE_OK;
	if (a->used && memcmp(a->addr, addr, 16) == 0) {
		s = a;
	} else if (b->used && memcmp(b->addr, addr, 16) == 0) {
		s = b;
	} else {
		/* A new address takes a free slot, else the less busy of its two: evicting an
		 * active address resets its bucket, which only happens with more than about
		 * SE_SANITY_SOURCES addresses active at once. */
		if (a->used)
			refill(t, a, now_ms);
		if (b->used)
			refill(t, b, now_ms);
		s = !a->used ? a : !b->used ? b : a->tokens >= b->tokens ? a : b;
		memcpy(s->addr, addr, 16);
		s->used = true;
		s->limited = false;
		s->dropped = 0;
		s->tokens = (int64_t)t->burst * 1000;
		s->last_ms = now_ms;
	}
	refill(t, s, now_ms);
	if (s->tokens >= 1000) {
		/* An episode ends only once the bucket has filled up again (the address went
		 * quiet), so a steady flood is one episode, not one per refilled token. */
		ret = SE_RATE_OK;
		if (s->limited && s->tokens == (int64_t)t->burst * 1000) {
			s->limited = false;
			ret = SE_RATE_LIFTED;
		}
		s->tokens -= 1000;
		return ret;
	}
	if (!s->limited)
		s->dropped = 0;
	s->dropped++;
	ret = s->limited ? SE_RATE_DROP : SE_RATE_LIMITED;
	s->limited = true;
	return ret;
}

uint64_t se_sanity_rate_dropped(const struct se_rate_table *t, const uint8_t addr[16])
{
	uint32_t h = addr_hash(addr);
	const struct se_rate_slot *a = &t->slot[h % SE_SANITY_SOURCES];
	const struct se_rate_slot *b = &t->slot[(h >> 16 ^ h * 31) % SE_SANITY_SOURCES];

	if (a->used && memcmp(a->addr, addr, 16) == 0)
		return a->dropped;
	if (b->used && memcmp(b->addr, addr, 16) == 0)
		return b->dropped;
	return 0;
}

/* The source address as 16 bytes (IPv4 mapped into IPv6) and as text. */
static void source_of(msg_t *msg, uint8_t addr[16], char *ip, size_t size)
{
	su_addrinfo_t *ai = msg_addrinfo(msg);

	memset(addr, 0, 16);
	if (ai && ai->ai_addr && ai->ai_addr->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ai->ai_addr;
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, &sin->sin_addr, 4);
		inet_ntop(AF_INET, &sin->sin_addr, ip, size);
	} else if (ai && ai->ai_addr && ai->ai_addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ai->ai_addr;
		memcpy(addr, &sin6->sin6_addr, 16);
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, size);
	}
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One agent per process, so the per-process state lives here: whether the agent keeps raw
 * fragments (see se_sanity_agent_init for why that is only a fallback) and the per-address
 * buckets. */
static struct se_rate_table rates = {.rate = SE_SANITY_RATE, .burst = SE_SANITY_BURST};

void se_sanity_set_rate(unsigned rate, unsigned burst)
{
	memset(&rates, 0, sizeof(rates));
	rates.rate = rate;
	rates.burst = burst ? burst : 1;
}

int se_sanity_reject(nta_agent_t *agent, msg_t *msg, sip_t *sip)
{
	static nta_agent_t *copying;
	struct se_sanity_verdict v;
	uint8_t addr[16];
	char ip[INET6_ADDRSTRLEN] = "-";
	int rc;

	if (copying != agent && se_sanity_agent_init(agent) == 0)
		copying = agent;
	source_of(msg, addr, ip, sizeof(ip));
	rc = se_sanity_rate(&rates, addr, mono_ms());
	if (rc == SE_RATE_LIMITED || rc == SE_RATE_DROP) {
		/* Dropped unanswered: an answer would cost as much as the request and could be
		 * reflected at a spoofed source. Logged once per episode. */
		if (rc == SE_RATE_LIMITED)
			cm_log_warn("rate limit source=%s: over %u requests/s (burst %u), dropping",
				    ip, rates.rate, rates.burst);
		msg_destroy(msg);
		return 1;
	}
	if (rc == SE_RATE_LIFTED)
		cm_log_info("rate limit lifted source=%s dropped=%llu", ip,
			    (unsigned long long)se_sanity_rate_dropped(&rates, addr));
	if (se_sanity_check(sip, &v) == 0)
		return 0;
	cm_log_info("request refused status=%d reason=%s method=%s call-id=%s source=%s", v.status,
		    v.phrase, sip->sip_request->rq_method_name,
		    sip->sip_call_id ? sip->sip_call_id->i_id : "-", ip);
	nta_msg_treply(
	    agent, msg, v.status, v.phrase,
	    TAG_IF(v.status == 420 && v.unsupported[0], SIPTAG_UNSUPPORTED_STR(v.unsupported)),
	    TAG_END());
	return 1;
}
