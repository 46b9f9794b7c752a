/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's hello (issue 3, "the first message"): once registered, the agent POSTs its
 * device ids, the registrar and its event packages to the application server named by the
 * setting hello-url, so that server learns the device exists and where it is registered:
 *
 *   {"device": {"aor": ..., "instance": ..., "mac": ...}, "registrar": ..., "packages": [...],
 *    "agent": "contact-agent/<version>"}
 *
 * instance only when configured; mac (12 lower-case hex digits) only when the instance is
 * urn:dev:mac:... Sent after the first successful REGISTER and again after a REGISTER that
 * succeeds following a failure. Each attempt is one POST in libuv's thread pool
 * (ca_callback_post); a connection error, 408, 429 or 5xx is retried after 1, 2, 4, 8 s, at
 * most CA_HELLO_ATTEMPTS attempts in all. Logs "hello sent url=... status=N" for an answer.
 *
 * Ownership: struct ca_hello is the caller's and must stay valid until the loop has no more
 * work (a POST in the pool finishes on its own after ca_hello_close).
 */
#ifndef CA_HELLO_H
#define CA_HELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "ca_packages.h"

#define CA_HELLO_ATTEMPTS 5

struct ca_hello_job;

struct ca_hello {
	uv_loop_t *loop;
	uv_timer_t timer; /* backoff between attempts */
	bool timer_init;
	char *url;  /* owned */
	char *body; /* owned, JSON */
	long timeout_ms;
	unsigned attempt; /* attempts made in this round */
	bool busy;	  /* a POST is in the pool */
	bool again;	  /* asked to send while busy: one more round afterwards */
	bool closing;
};

/*
 * Builds the hello body (heap string, free() it) or returns NULL on ENOMEM. instance may be
 * NULL. Pure.
 */
char *ca_hello_body(const char *aor, const char *instance, const char *registrar,
		    const struct ca_packages *packages, const char *agent);

/* Delay before attempt n+1 after n failed attempts (n >= 1): 1 s, 2 s, 4 s, ... capped. */
uint64_t ca_hello_backoff_ms(unsigned n);

/* Takes body; copies url. Returns 0 or a negative errno (body freed). */
int ca_hello_init(struct ca_hello *h, uv_loop_t *loop, const char *url, char *body, long timeout_s);

/* Starts a round of attempts (when one is running, another follows it). Never calls back. */
void ca_hello_send(struct ca_hello *h);

/* Stops retrying and closes the timer. Safe on a zeroed struct and twice. */
void ca_hello_close(struct ca_hello *h);

#endif
